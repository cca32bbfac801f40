//! The smoke steps against local mode (every step passes), with a wrong
//! key (the first step fails, named), against a server that answers 500
//! to everything, and behind a proxy that drops replays (the replay step
//! fails, named, with what it saw).

use std::time::Duration;

use domain::StreamId;
use local::{LocalConfig, LocalServer, Storage};
use service::api::DEFAULT_TEST_STREAM_ID;
use service::settings::ApiKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::steps::{Step, StepFailed};
use super::*;

const KEY: &str = "smoke-test-key-0123456789abcdef";

/// Local mode on a free port, on a fresh embedded store.
async fn local_mode() -> (LocalServer, tempfile::TempDir) {
    let data = tempfile::tempdir().expect("a temporary folder");
    let server = LocalServer::start(LocalConfig {
        port: 0,
        storage: Storage::Embedded {
            data_dir: data.path().to_path_buf(),
        },
        api_key: ApiKey::new(KEY),
        default_stream: StreamId::parse(DEFAULT_TEST_STREAM_ID, "streamId").expect("an id"),
    })
    .await
    .expect("local mode starts");
    (server, data)
}

fn limits() -> SmokeLimits {
    SmokeLimits {
        projection: Duration::from_secs(20),
        replay: Duration::from_secs(20),
        poll: Duration::from_millis(20),
    }
}

/// The steps against `url` with `key`: those that passed, and the end.
async fn run(url: &str, key: &str) -> (Vec<String>, Result<Vec<Step>, StepFailed>) {
    let api = Api::new(url, key).expect("a client");
    let mut lines = Vec::new();
    let result = smoke(&api, &stream_name(), &limits(), &mut |step| {
        lines.push(step.name.clone());
    })
    .await;
    (lines, result)
}

#[tokio::test]
async fn every_smoke_step_passes_against_local_mode() {
    let (server, _data) = local_mode().await;
    let (lines, result) = run(&server.url(), KEY).await;
    let steps = result.unwrap_or_else(|failed| panic!("{failed}; passed: {lines:#?}"));
    let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "create item 1 (ITEM_CREATED, amount 225)",
            "list shows item 1 at 225",
            "change item 1's amount to 500",
            "list shows item 1 at 500",
            "delete item 1 (ITEM_DELETED)",
            "list no longer shows item 1",
            "idempotent retry (one Idempotency-Key twice)",
            "create item 4 (ITEM_CREATED, amount 75)",
            "paged list (limit 2, following nextCursor)",
            "replay to done",
            "ITEM_DELETED for every item created",
            "list shows no item left",
        ]
    );
    assert_eq!(lines, names, "each step told as it passed");
    let paged = &steps[8];
    assert_eq!(paged.detail, "3 items over 2 pages");
    assert!(steps[9].detail.contains("done"), "{:?}", steps[9]);
    assert_eq!(steps[10].detail, "items 2, 3, 4 deleted");
    server.stop().await.expect("a clean stop");
}

#[tokio::test]
async fn a_wrong_key_fails_the_first_step_by_name() {
    let (server, _data) = local_mode().await;
    let (lines, result) = run(&server.url(), "not-the-key-0123456789abcdef").await;
    let failed = result.expect_err("a wrong key");
    assert!(lines.is_empty(), "{lines:?}");
    assert_eq!(failed.step, "create item 1 (ITEM_CREATED, amount 225)");
    assert!(failed.saw.contains("403"), "{failed}");
    assert!(
        failed.to_string().starts_with("smoke step \"create item 1"),
        "{failed}"
    );
    server.stop().await.expect("a clean stop");
}

#[tokio::test]
async fn a_service_that_answers_500_fails_naming_the_step() {
    let url = misbehaving(None).await;
    let (_, result) = run(&url, KEY).await;
    let failed = result.expect_err("every answer is a 500");
    assert_eq!(failed.step, "create item 1 (ITEM_CREATED, amount 225)");
    assert!(failed.saw.contains("answered 500"), "{failed}");
}

#[tokio::test]
async fn a_replay_that_is_dropped_fails_the_replay_step_saying_what_it_saw() {
    let (server, _data) = local_mode().await;
    let url = misbehaving(Some(server.url())).await;
    let (lines, result) = run(&url, KEY).await;
    let failed = result.expect_err("the replay was dropped");
    assert_eq!(failed.step, "replay to done");
    assert!(
        failed.saw.contains("replay dropped-by-the-proxy") && failed.saw.contains("404"),
        "{failed}"
    );
    assert_eq!(lines.len(), 9, "every step before it passed: {lines:#?}");
    server.stop().await.expect("a clean stop");
}

/// A server on 127.0.0.1: without `upstream`, a 500 to every request;
/// with it, a proxy to it that answers every `POST /triggerReplay` itself
/// with a replay that never exists. Its URL.
async fn misbehaving(upstream: Option<String>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        while let Ok((connection, _)) = listener.accept().await {
            let http = http.clone();
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let _ = answer(connection, upstream.as_deref(), &http).await;
            });
        }
    });
    url
}

/// Reads one request from `connection` and answers it (see [`misbehaving`]).
async fn answer(
    mut connection: TcpStream,
    upstream: Option<&str>,
    http: &reqwest::Client,
) -> std::io::Result<()> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 8192];
    let head_end = loop {
        let read = connection.read(&mut buffer).await?;
        if read == 0 {
            return Ok(());
        }
        received.extend_from_slice(&buffer[..read]);
        if let Some(at) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&received[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    while received.len() < head_end + length {
        let read = connection.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        received.extend_from_slice(&buffer[..read]);
    }
    let body = received[head_end..].to_vec();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default();
    let path = parts.next().unwrap_or_default();
    let (status, text) = match upstream {
        None => (500, r#"{"message":"Internal server error"}"#.to_owned()),
        Some(_) if path.starts_with("/triggerReplay") => (
            202,
            r#"{"replayId":"dropped-by-the-proxy","streamId":"s","fromEventId":0}"#.to_owned(),
        ),
        Some(upstream) => {
            let method =
                reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
            let mut request = http.request(method, format!("{upstream}{path}")).body(body);
            for (name, value) in &headers {
                if ["x-api-key", "content-type", "idempotency-key"].contains(&name.as_str()) {
                    request = request.header(name, value);
                }
            }
            match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    (status, response.text().await.unwrap_or_default())
                }
                Err(err) => (502, format!("{{\"message\":\"{err}\"}}")),
            }
        }
    };
    let response = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    );
    connection.write_all(response.as_bytes()).await?;
    connection.shutdown().await
}
