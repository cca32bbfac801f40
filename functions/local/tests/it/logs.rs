//! What the logs hold: never the API key, even at the most verbose
//! level; a line per request, with the correlation id its client sent.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::StreamId;
use local::{LocalConfig, LocalServer, Storage};
use serde_json::{Value, json};

const API_KEY: &str = "secret-key-that-must-never-be-logged";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .expect("the log buffer")
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every log line of this test process, as JSON, at TRACE. Nextest runs
/// each test in a process of its own, so the global subscriber sees only
/// its test, on every thread.
fn capture_logs() -> Captured {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
    captured
}

async fn start(data: &tempfile::TempDir) -> LocalServer {
    LocalServer::start(LocalConfig {
        port: 0,
        storage: Storage::Embedded {
            data_dir: data.path().to_path_buf(),
        },
        api_key: service::settings::ApiKey::new(API_KEY),
        default_stream: StreamId::parse("logs", "streamId").unwrap(),
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_line_carries_the_correlation_id_its_client_sent() {
    let captured = capture_logs();
    let data = tempfile::tempdir().unwrap();
    let server = start(&data).await;
    let created = reqwest::Client::new()
        .post(format!("{}/addEvent", server.url()))
        .header("x-api-key", API_KEY)
        .body(
            json!({"streamId": "logs", "type": "ITEM_CREATED", "data": {"itemId": "1", "amount": 1},
                   "metadata": {"correlationId": "corr-7f3a", "causationId": "cmd-1"}})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    server.stop().await.unwrap();
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let message = |line: &Value, text: &str| line["fields"]["message"] == text;
    let request = lines
        .iter()
        .find(|line| message(line, "request"))
        .unwrap_or_else(|| panic!("no request line:\n{logs}"));
    assert_eq!(
        request["fields"]["correlation_id"], "corr-7f3a",
        "{request}"
    );
    assert_eq!(request["fields"]["path"], "/addEvent", "{request}");
    assert_eq!(request["fields"]["status"], 201, "{request}");
    let appended = lines
        .iter()
        .find(|line| message(line, "event appended"))
        .unwrap_or_else(|| panic!("no append line:\n{logs}"));
    assert_eq!(
        appended["fields"]["correlation_id"], "corr-7f3a",
        "{appended}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_never_reaches_the_logs() {
    let captured = capture_logs();
    let data = tempfile::tempdir().unwrap();
    let server = start(&data).await;
    let http = reqwest::Client::new();
    let base = server.url();
    let created = http
        .post(format!("{base}/addEvent"))
        .header("x-api-key", API_KEY)
        .body(json!({"streamId": "logs", "type": "ITEM_CREATED", "data": {"itemId": "1", "amount": 1}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let refused = http
        .post(format!("{base}/addEvent"))
        .header("x-api-key", API_KEY)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let replay = http
        .post(format!("{base}/triggerReplay"))
        .header("x-api-key", API_KEY)
        .body(json!({"streamId": "logs", "fromEventId": 0}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 202);
    let started = Instant::now();
    loop {
        let listed: Value = http
            .get(format!("{base}/listTestItems"))
            .header("x-api-key", API_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if listed["items"] == json!([{"itemId": "1", "amount": 1}]) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "not projected: {listed}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Stopping pauses a running replay: let this one finish first.
    while !String::from_utf8_lossy(&captured.0.lock().unwrap()).contains("replay finished") {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the replay did not finish"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await.unwrap();

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("event appended"),
        "the logs say what happened:\n{logs}"
    );
    assert!(
        logs.contains("replay finished"),
        "the logs say what happened:\n{logs}"
    );
    assert!(!logs.contains(API_KEY), "the API key leaked into the logs");
}
