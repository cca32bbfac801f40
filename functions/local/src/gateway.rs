//! An API Gateway stand-in on 127.0.0.1: the same routes, the same API-key
//! check and the same 403 answers, turning each HTTP request into a real
//! `ApiGatewayProxyRequest` for the very handlers Lambda runs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_lambda_events::encodings::Body as LambdaBody;
use aws_lambda_events::query_map::QueryMap;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;
use service::api::{Api, Route};
use subtle::ConstantTimeEq;

/// API Gateway's own payload limit; the handlers enforce the API's 256 KiB.
const GATEWAY_MAX_BODY: usize = 10 * 1024 * 1024;

pub struct Gateway {
    pub api: Api,
    pub api_key: String,
}

pub fn router(gateway: Arc<Gateway>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(gateway)
}

fn gateway_message(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "message": message }).to_string(),
    )
        .into_response()
}

fn key_matches(given: Option<&HeaderValue>, expected: &str) -> bool {
    given.is_some_and(|given| bool::from(given.as_bytes().ct_eq(expected.as_bytes())))
}

async fn handle(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    // API Gateway resolves the route before it checks the key, and answers
    // an unknown route with this 403.
    let Some(route) = Route::matching(&parts.method, parts.uri.path()) else {
        return gateway_message(StatusCode::FORBIDDEN, "Missing Authentication Token");
    };
    if !key_matches(parts.headers.get("x-api-key"), &gateway.api_key) {
        return gateway_message(StatusCode::FORBIDDEN, "Forbidden");
    }
    let bytes = match axum::body::to_bytes(body, GATEWAY_MAX_BODY).await {
        Ok(bytes) => bytes,
        Err(_) => return gateway_message(StatusCode::PAYLOAD_TOO_LARGE, "Request Too Long"),
    };
    let event = proxy_event(route, &parts, bytes);
    let response = gateway.api.handle(route, &event).await;
    into_http(response)
}

/// The event API Gateway's Lambda proxy integration would send.
pub fn proxy_event(
    route: Route,
    parts: &axum::http::request::Parts,
    body: Bytes,
) -> ApiGatewayProxyRequest {
    let mut event = ApiGatewayProxyRequest::default();
    event.resource = Some(format!("/{}", route.path_part()));
    event.path = Some(parts.uri.path().to_owned());
    event.http_method = parts.method.clone();
    event.headers = parts.headers.clone();
    event.multi_value_headers = parts.headers.clone();
    let mut last: HashMap<String, String> = HashMap::new();
    let mut all: HashMap<String, Vec<String>> = HashMap::new();
    for (key, value) in form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes()) {
        last.insert(key.to_string(), value.to_string());
        all.entry(key.into_owned())
            .or_default()
            .push(value.into_owned());
    }
    event.query_string_parameters = QueryMap::from(last);
    event.multi_value_query_string_parameters = QueryMap::from(all);
    event.request_context.stage = Some("local".into());
    event.request_context.request_id = Some(uuid::Uuid::new_v4().to_string());
    event.request_context.resource_path = event.resource.clone();
    event.request_context.http_method = parts.method.clone();
    if !body.is_empty() {
        match std::str::from_utf8(&body) {
            Ok(text) => event.body = Some(text.to_owned()),
            Err(_) => {
                event.body = Some(base64::engine::general_purpose::STANDARD.encode(&body));
                event.is_base64_encoded = true;
            }
        }
    }
    event
}

/// The HTTP answer API Gateway makes of a proxy integration's response.
pub fn into_http(response: ApiGatewayProxyResponse) -> Response {
    let status = u16::try_from(response.status_code)
        .ok()
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or(StatusCode::BAD_GATEWAY);
    let body = match response.body {
        Some(LambdaBody::Text(text)) => Body::from(text),
        Some(LambdaBody::Binary(bytes)) => Body::from(bytes),
        _ => Body::empty(),
    };
    let mut http = Response::new(body);
    *http.status_mut() = status;
    http.headers_mut().extend(response.headers);
    http
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    gateway: Arc<Gateway>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(gateway).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
