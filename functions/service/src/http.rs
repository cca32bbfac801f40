//! API Gateway (REST, proxy integration) request and response helpers.

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::HeaderValue;
use aws_lambda_events::http::header::CONTENT_TYPE;
use base64::Engine;
use domain::{ErrorCode, Invalid, Rejection, StoreError};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// A JSON answer with `status`.
pub fn json_response(status: u16, body: &impl Serialize) -> ApiGatewayProxyResponse {
    // Serialising our own response types cannot fail; fall back to a valid
    // body rather than panic if it ever did.
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned());
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = i64::from(status);
    response
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.body = Some(Body::Text(text));
    response
}

/// The error envelope: `{"error":{"code","message","field"?, ...extra}}`.
pub fn error_response(
    status: u16,
    code: &str,
    message: &str,
    field: Option<&str>,
    extra: Map<String, Value>,
) -> ApiGatewayProxyResponse {
    let mut error = Map::new();
    error.insert("code".into(), json!(code));
    error.insert("message".into(), json!(message));
    if let Some(field) = field {
        error.insert("field".into(), json!(field));
    }
    error.extend(extra);
    json_response(status, &json!({ "error": error }))
}

/// 400 (413 when too large) for input the caller must fix.
pub fn invalid(err: &Invalid) -> ApiGatewayProxyResponse {
    let status = match err.code {
        ErrorCode::PayloadTooLarge => 413,
        _ => 400,
    };
    error_response(
        status,
        err.code.as_str(),
        &err.message,
        err.field.as_deref(),
        Map::new(),
    )
}

/// 409 for an event the stream's state refuses; 422 for an idempotency
/// key sent with another request.
pub fn rejected(rejection: &Rejection) -> ApiGatewayProxyResponse {
    let mut extra = Map::new();
    if let Rejection::VersionConflict { current, .. } = rejection {
        extra.insert("currentVersion".into(), json!(current));
    }
    let status = match rejection {
        Rejection::IdempotencyKeyReused { .. } => 422,
        Rejection::ItemAlreadyExists { .. }
        | Rejection::ItemNotFound { .. }
        | Rejection::VersionConflict { .. } => 409,
    };
    error_response(
        status,
        rejection.code(),
        &rejection.to_string(),
        Some(rejection.field()),
        extra,
    )
}

/// 503 (or 500 for corrupt data) for a failure that is not the caller's.
pub fn store_failure(err: &StoreError) -> ApiGatewayProxyResponse {
    tracing::error!(error = %err, "storage failure");
    let (status, code, message) = match err {
        StoreError::Unavailable(_) => (
            503,
            "STORE_UNAVAILABLE",
            "storage is unavailable; retry shortly",
        ),
        StoreError::Contention(_) => (
            503,
            "CONTENTION",
            "too many concurrent writes to this stream; retry shortly",
        ),
        StoreError::Corrupt(_) => (
            500,
            "INTERNAL",
            "stored data could not be read; see the service logs",
        ),
    };
    let mut response = error_response(status, code, message, None, Map::new());
    if status == 503 {
        response
            .headers
            .insert("retry-after", HeaderValue::from_static("1"));
    }
    response
}

/// The request body as bytes, decoding API Gateway's base64 form.
pub fn body_bytes(request: &ApiGatewayProxyRequest) -> Result<Vec<u8>, Invalid> {
    let Some(body) = request.body.as_deref() else {
        return Ok(Vec::new());
    };
    if request.is_base64_encoded {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|err| {
                Invalid::new(
                    ErrorCode::MalformedJson,
                    None,
                    format!("the body is marked base64 but does not decode: {err}"),
                )
            })
    } else {
        Ok(body.as_bytes().to_vec())
    }
}

/// Every value of the header `name`: API Gateway puts them all in
/// `multiValueHeaders`, and only the last in `headers`.
pub fn header_values<'a>(request: &'a ApiGatewayProxyRequest, name: &str) -> Vec<&'a [u8]> {
    let all: Vec<&[u8]> = request
        .multi_value_headers
        .get_all(name)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();
    if !all.is_empty() {
        return all;
    }
    request
        .headers
        .get_all(name)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect()
}

/// A query-string parameter (API Gateway passes the last value given).
pub fn query_param<'a>(request: &'a ApiGatewayProxyRequest, name: &str) -> Option<&'a str> {
    request.query_string_parameters.first(name)
}
