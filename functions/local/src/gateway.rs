//! An API Gateway stand-in on 127.0.0.1: the same routes, the same API-key
//! check and the same 403 answers, turning each HTTP request into a real
//! `ApiGatewayProxyRequest` for the very handlers Lambda runs.

use std::net::SocketAddr;
use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayProxyResponse;
use aws_lambda_events::encodings::Body as LambdaBody;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use service::api::{Api, Route};
use service::deadline;
use service::proxy::proxy_request;
use service::settings::ApiKey;

/// The stage name the handlers see in local mode.
const LOCAL_STAGE: &str = "local";
/// API Gateway's own payload limit; the handlers enforce the API's 256 KiB.
const GATEWAY_MAX_BODY: usize = 10 * 1024 * 1024;

pub struct Gateway {
    pub api: Api,
    pub api_key: ApiKey,
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

fn key_matches(given: Option<&HeaderValue>, expected: &ApiKey) -> bool {
    given.is_some_and(|given| expected.matches(given.as_bytes()))
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
    let event = proxy_request(route, &parts, &bytes, LOCAL_STAGE);
    // The time the route's Lambda function would have.
    let started = tokio::time::Instant::now();
    let deadline = started + route.function().timeout();
    let response = deadline::within(deadline, gateway.api.handle(route, &event)).await;
    tracing::info!(
        method = %parts.method,
        path = parts.uri.path(),
        status = response.status_code,
        millis = started.elapsed().as_millis() as u64,
        correlation_id = correlation_id(&bytes).as_deref(),
        "request"
    );
    into_http(response)
}

/// The `metadata.correlationId` of a request body, if it has one: what
/// ties this request's line to the client's own logs.
fn correlation_id(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Body {
        metadata: Option<Metadata>,
    }
    #[derive(serde::Deserialize)]
    struct Metadata {
        #[serde(rename = "correlationId")]
        correlation_id: Option<String>,
    }
    if body.is_empty() {
        return None;
    }
    serde_json::from_slice::<Body>(body)
        .ok()?
        .metadata?
        .correlation_id
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
