//! End to end: `cargo xtask local` as a real process, killed with SIGKILL
//! and started again on the same data. Through the xtask binary, because
//! that is the one command line that starts local mode.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

const API_KEY: &str = "e2e-test-key-0123456789abcdef";

/// `cargo xtask local`, killed with SIGKILL right after its 201s, keeps
/// every acknowledged event and projects them after it starts again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_loses_no_acknowledged_event() {
    let data = tempfile::tempdir().expect("a temporary folder");
    let stream = format!("kill-{}", uuid::Uuid::new_v4().simple());
    let http = reqwest::Client::new();
    let mut accepted = Vec::new();
    for round in 0..2 {
        let (mut child, base) = spawn_local(data.path()).await;
        if round == 1 {
            // Everything acknowledged before the kill is there and projected.
            let expected: Vec<Value> = accepted
                .iter()
                .map(|i: &u64| json!({"itemId": format!("k{i:03}"), "amount": i}))
                .collect();
            let mut expected = expected;
            expected.sort_by(|a, b| a["itemId"].as_str().cmp(&b["itemId"].as_str()));
            wait_for_items(&http, &base, &stream, &Value::Array(expected)).await;
        }
        for i in 0..40u64 {
            let id = accepted.len() as u64;
            let event = json!({
                "streamId": stream,
                "type": "ITEM_CREATED",
                "data": {"itemId": format!("k{id:03}"), "amount": id},
            });
            let response = http
                .post(format!("{base}/addEvent"))
                .header("x-api-key", API_KEY)
                .body(event.to_string())
                .send()
                .await
                .expect("the server answers");
            assert_eq!(response.status(), StatusCode::CREATED, "append {i}");
            let body: Value = response.json().await.expect("json");
            assert_eq!(body["eventId"], id);
            accepted.push(id);
        }
        child.kill().await.expect("SIGKILL");
    }
}

/// `cargo xtask local` on a free port over `data_dir`; its URL, once it
/// says it serves.
async fn spawn_local(data_dir: &Path) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args([
            "local",
            "--port",
            "0",
            "--env-file",
            "/nonexistent/.env",
            "--data-dir",
        ])
        .arg(data_dir)
        .env("API_KEY", API_KEY)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("cargo xtask local starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let base = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.expect("stdout is readable") {
            if let Some(rest) = line.strip_prefix("Serving on ") {
                return rest.split_whitespace().next().map(str::to_owned);
            }
        }
        None
    })
    .await
    .expect("the server announces itself in time")
    .expect("the server prints its URL");
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, base)
}

async fn wait_for_items(http: &reqwest::Client, base: &str, stream: &str, expected: &Value) {
    let started = Instant::now();
    loop {
        let body: Value = http
            .get(format!("{base}/listTestItems"))
            .query(&[("streamId", stream)])
            .header("x-api-key", API_KEY)
            .send()
            .await
            .expect("the server answers")
            .json()
            .await
            .expect("json");
        if body["items"] == *expected {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "still {body}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
