//! A stand-in for the Lambda Runtime API (what a `provided.*` runtime's
//! `bootstrap` talks to), on 127.0.0.1, so function binaries run as they
//! would on Lambda: the test queues an invocation, the function long-polls
//! `GET .../invocation/next`, answers with `POST .../{id}/response` (or
//! `/error`), and the test gets the answer back.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{Notify, mpsc, oneshot};

/// The ARN the stub hands to every invocation.
pub const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:under-test";
/// How long an invocation may run, as its deadline header tells it: the
/// longest Lambda allows (the replay function's timeout), so a handler that
/// plans by its deadline sees what it would see deployed.
const INVOCATION_DEADLINE: Duration = Duration::from_secs(900);

/// What the function answered.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// `POST .../response`: the handler's result (JSON, or a string if the
    /// body was not JSON).
    Response(Value),
    /// `POST .../error`: the handler failed.
    Error { error_type: String, body: String },
}

struct Pending {
    request_id: String,
    event: Vec<u8>,
    reply: oneshot::Sender<Outcome>,
}

struct Shared {
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Pending>>,
    in_flight: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    first_next: OnceLock<Instant>,
    init_error: OnceLock<String>,
    changed: Notify,
}

/// A running stub; stops when dropped.
pub struct RuntimeApi {
    address: SocketAddr,
    shared: Arc<Shared>,
    sender: mpsc::UnboundedSender<Pending>,
    server: tokio::task::JoinHandle<()>,
    next_id: u64,
}

impl RuntimeApi {
    /// Listens on a free 127.0.0.1 port (needs a tokio runtime).
    pub async fn start() -> anyhow::Result<RuntimeApi> {
        let (sender, receiver) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            queue: tokio::sync::Mutex::new(receiver),
            in_flight: Mutex::new(HashMap::new()),
            first_next: OnceLock::new(),
            init_error: OnceLock::new(),
            changed: Notify::new(),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .context("cannot bind the Runtime API stub")?;
        let address = listener.local_addr().context("no local address")?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(RuntimeApi {
            address,
            shared,
            sender,
            server,
            next_id: 0,
        })
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.address.to_string()
    }

    /// When the function first asked for an invocation: its init is over.
    pub fn first_next(&self) -> Option<Instant> {
        self.shared.first_next.get().copied()
    }

    /// What the function reported to `/init/error`, if it did.
    pub fn init_error(&self) -> Option<&str> {
        self.shared.init_error.get().map(String::as_str)
    }

    /// Waits until the function asks for its first invocation or reports an
    /// init error (then `Err`), at most `timeout`.
    pub async fn wait_ready(&self, timeout: Duration) -> anyhow::Result<Instant> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.shared.changed.notified();
            if let Some(error) = self.init_error() {
                anyhow::bail!("the function reported an init error: {error}");
            }
            if let Some(at) = self.first_next() {
                return Ok(at);
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                anyhow::bail!("the function did not call invocation/next within {timeout:?}");
            }
        }
    }

    /// Queues `event` for the function; the receiver resolves with its answer.
    pub fn invoke(&mut self, event: &Value) -> (String, oneshot::Receiver<Outcome>) {
        self.next_id += 1;
        let request_id = format!("00000000-0000-4000-8000-{:012x}", self.next_id);
        let (reply, receiver) = oneshot::channel();
        // The receiver half lives in `shared` as long as `self`: no error.
        let _ = self.sender.send(Pending {
            request_id: request_id.clone(),
            event: event.to_string().into_bytes(),
            reply,
        });
        (request_id, receiver)
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    let _ = shared.first_next.set(Instant::now());
    shared.changed.notify_waiters();
    // Long poll, as the real API does: answer when there is an invocation.
    let pending = {
        let mut queue = shared.queue.lock().await;
        queue.recv().await
    };
    let Some(pending) = pending else {
        return StatusCode::GONE.into_response();
    };
    let deadline = SystemTime::now() + INVOCATION_DEADLINE;
    let deadline_ms = deadline
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set("lambda-runtime-aws-request-id", pending.request_id.clone());
    set("lambda-runtime-deadline-ms", deadline_ms.to_string());
    set("lambda-runtime-invoked-function-arn", FUNCTION_ARN.into());
    set(
        "lambda-runtime-trace-id",
        format!(
            "Root=1-00000000-{:024x};Parent=0000000000000001;Sampled=0",
            deadline_ms
        ),
    );
    set("content-type", "application/json".into());
    if let Ok(mut in_flight) = shared.in_flight.lock() {
        in_flight.insert(pending.request_id, pending.reply);
    }
    (StatusCode::OK, headers, pending.event).into_response()
}

fn settle(shared: &Shared, id: &str, outcome: Outcome) -> Response {
    let reply = shared
        .in_flight
        .lock()
        .ok()
        .and_then(|mut in_flight| in_flight.remove(id));
    match reply {
        Some(reply) => {
            let _ = reply.send(outcome);
            (StatusCode::ACCEPTED, r#"{"status":"OK"}"#).into_response()
        }
        None => (
            StatusCode::BAD_REQUEST,
            r#"{"errorMessage":"unknown request id","errorType":"InvalidRequestID"}"#,
        )
            .into_response(),
    }
}

async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    settle(&shared, &id, Outcome::Response(value))
}

async fn error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let error_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("Unhandled")
        .to_owned();
    let body = String::from_utf8_lossy(&body).into_owned();
    settle(&shared, &id, Outcome::Error { error_type, body })
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let _ = shared
        .init_error
        .set(String::from_utf8_lossy(&body).into_owned());
    shared.changed.notify_waiters();
    (StatusCode::ACCEPTED, r#"{"status":"OK"}"#).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain HTTP/1.1 request over TCP, as the runtime client makes them.
    async fn request(address: &str, head: &str, body: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect");
        let request = format!(
            "{head} HTTP/1.1\r\nhost: {address}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("read");
        answer
    }

    #[tokio::test]
    async fn an_invocation_goes_out_on_next_and_comes_back_on_response() {
        let mut api = RuntimeApi::start().await.expect("stub");
        assert!(api.first_next().is_none());
        let (id, answer) = api.invoke(&serde_json::json!({"hello": "world"}));
        let next = request(
            &api.address(),
            "GET /2018-06-01/runtime/invocation/next",
            "",
        )
        .await;
        assert!(next.starts_with("HTTP/1.1 200"), "{next}");
        let lower = next.to_lowercase();
        for header in [
            "lambda-runtime-aws-request-id",
            "lambda-runtime-deadline-ms",
            "lambda-runtime-invoked-function-arn",
            "lambda-runtime-trace-id",
        ] {
            assert!(lower.contains(header), "{header} missing: {next}");
        }
        assert!(next.contains(&id) && next.ends_with(r#"{"hello":"world"}"#));
        assert!(api.first_next().is_some());

        let posted = request(
            &api.address(),
            &format!("POST /2018-06-01/runtime/invocation/{id}/response"),
            r#"{"ok":true}"#,
        )
        .await;
        assert!(posted.starts_with("HTTP/1.1 202"), "{posted}");
        assert_eq!(
            answer.await.expect("answer"),
            Outcome::Response(serde_json::json!({"ok": true}))
        );

        let (id, answer) = api.invoke(&serde_json::json!({}));
        request(
            &api.address(),
            "GET /2018-06-01/runtime/invocation/next",
            "",
        )
        .await;
        let errored = request(
            &api.address(),
            &format!("POST /2018-06-01/runtime/invocation/{id}/error"),
            r#"{"errorType":"Boom","errorMessage":"no"}"#,
        )
        .await;
        assert!(errored.starts_with("HTTP/1.1 202"), "{errored}");
        assert!(
            matches!(answer.await.expect("answer"), Outcome::Error { body, .. } if body.contains("Boom"))
        );

        let unknown = request(
            &api.address(),
            "POST /2018-06-01/runtime/invocation/nope/response",
            "{}",
        )
        .await;
        assert!(unknown.starts_with("HTTP/1.1 400"), "{unknown}");
    }

    #[tokio::test]
    async fn an_init_error_ends_the_wait_for_readiness() {
        let api = RuntimeApi::start().await.expect("stub");
        let posted = request(
            &api.address(),
            "POST /2018-06-01/runtime/init/error",
            r#"{"errorType":"Init","errorMessage":"bad config"}"#,
        )
        .await;
        assert!(posted.starts_with("HTTP/1.1 202"), "{posted}");
        let err = api
            .wait_ready(Duration::from_secs(5))
            .await
            .expect_err("init failed");
        assert!(err.to_string().contains("bad config"), "{err}");
    }
}
