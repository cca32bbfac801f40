//! The event API Gateway's Lambda proxy integration makes of an HTTP
//! request: one builder, for local mode's gateway and for the tests that
//! drive the function binaries.

use std::collections::HashMap;

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use aws_lambda_events::http::request::Parts;
use aws_lambda_events::query_map::QueryMap;
use base64::Engine;

use crate::api::Route;

/// The proxy event for a request to `route` with these `parts` and `body`,
/// served from `stage`. A body that is not UTF-8 is sent base64-encoded,
/// as API Gateway does.
pub fn proxy_request(
    route: Route,
    parts: &Parts,
    body: &[u8],
    stage: &str,
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
    event.request_context.stage = Some(stage.to_owned());
    event.request_context.request_id = Some(uuid::Uuid::new_v4().to_string());
    event.request_context.resource_path = event.resource.clone();
    event.request_context.http_method = parts.method.clone();
    // API Gateway hands a keyed route the key it matched here too.
    event.request_context.identity.api_key = parts
        .headers
        .get("x-api-key")
        .and_then(|key| key.to_str().ok())
        .map(str::to_owned);
    if !body.is_empty() {
        match std::str::from_utf8(body) {
            Ok(text) => event.body = Some(text.to_owned()),
            Err(_) => {
                event.body = Some(base64::engine::general_purpose::STANDARD.encode(body));
                event.is_base64_encoded = true;
            }
        }
    }
    event
}
