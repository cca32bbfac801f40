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

/// A fresh clone serves after `cargo xtask local` alone: it makes a key,
/// keeps it in a new `.env` that only its owner reads, never prints it, and
/// a second start uses the same file as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_checkout_serves_after_one_command_and_keeps_its_generated_key() {
    let checkout = fresh_checkout();
    let env_file = checkout.path().join(".env");
    let http = reqwest::Client::new();

    let first = start_collecting(local_in(checkout.path())).await;
    let written = std::fs::read(&env_file).expect("local mode wrote .env");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&env_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "only its owner may read .env");
    }
    let settings = service::envfile::parse(std::str::from_utf8(&written).unwrap()).unwrap();
    let settings = service::settings::RawSettings::from_map(settings.into_iter().collect());
    let key = settings.api_key().expect("a valid key").expose().to_owned();
    assert!(key.len() >= 32, "a long key, not {} characters", key.len());
    let example = std::fs::read_to_string(checkout.path().join(".env.example")).unwrap();
    assert_eq!(
        written.iter().filter(|b| **b == b'\n').count(),
        example.lines().count(),
        "the .env is the example with its key filled in"
    );

    assert_eq!(
        append(&http, &first.base, &key, "a").await,
        StatusCode::CREATED
    );
    assert_eq!(
        append(&http, &first.base, "not-the-key-0123456789", "b").await,
        StatusCode::FORBIDDEN
    );
    let printed = first.stop().await;
    assert!(printed.contains("Generated an API key"), "{printed}");
    assert!(
        printed.contains(".env"),
        "it says where the key is:\n{printed}"
    );
    assert!(!printed.contains(&key), "the key was printed:\n{printed}");

    // A second start reuses the file, byte for byte, and says nothing new.
    let second = start_collecting(local_in(checkout.path())).await;
    assert_eq!(
        append(&http, &second.base, &key, "c").await,
        StatusCode::CREATED
    );
    let printed = second.stop().await;
    assert!(!printed.contains("Generated an API key"), "{printed}");
    assert!(!printed.contains(&key), "the key was printed:\n{printed}");
    assert_eq!(std::fs::read(&env_file).unwrap(), written);
}

/// A `.env` the user wrote is never edited: with a key it serves as it is;
/// without one, local mode stops naming the setting and makes no key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_settings_file_is_left_as_it_was() {
    let checkout = fresh_checkout();
    let env_file = checkout.path().join(".env");
    let key = "my-own-key-for-local-mode-42";
    let mine = format!("# mine\nexport API_KEY='{key}'   # quoted\n\nTRACING=false\n");
    std::fs::write(&env_file, &mine).unwrap();
    let started = start_collecting(local_in(checkout.path())).await;
    let http = reqwest::Client::new();
    assert_eq!(
        append(&http, &started.base, key, "a").await,
        StatusCode::CREATED
    );
    let printed = started.stop().await;
    assert!(!printed.contains("Generated an API key"), "{printed}");
    assert_eq!(std::fs::read_to_string(&env_file).unwrap(), mine);

    let keyless = "# no key here\nTRACING=false\n";
    std::fs::write(&env_file, keyless).unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(30), local_in(checkout.path()).output())
        .await
        .expect("local mode stops in time")
        .expect("local mode runs");
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("API_KEY"),
        "the error names the setting: {said}"
    );
    assert_eq!(std::fs::read_to_string(&env_file).unwrap(), keyless);
}

impl Started {
    /// Kills the server; everything it printed.
    async fn stop(mut self) -> String {
        self.child.kill().await.expect("SIGKILL");
        // What was written before the kill is read to its end.
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.output.lock().unwrap().clone()
    }
}

/// Appends an `ITEM_CREATED` of `item` to a stream of this test with `key`.
async fn append(http: &reqwest::Client, base: &str, key: &str, item: &str) -> StatusCode {
    http.post(format!("{base}/addEvent"))
        .header("x-api-key", key)
        .body(
            json!({
                "streamId": format!("fresh-{item}-{}", uuid::Uuid::new_v4().simple()),
                "type": "ITEM_CREATED",
                "data": {"itemId": item, "amount": 1},
            })
            .to_string(),
        )
        .send()
        .await
        .expect("the server answers")
        .status()
}

/// `cargo xtask replay --url` drives local mode's replays: a rebuild of
/// every stream followed to its end, a stream's replay, a status, and the
/// refusals, each named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cargo_xtask_replay_rebuilds_and_replays_through_local_mode() {
    let data = tempfile::tempdir().expect("a temporary folder");
    let (_child, base) = spawn_local(data.path()).await;
    let http = reqwest::Client::new();
    for stream in ["replay-a", "replay-b"] {
        for item in ["x", "y"] {
            let response = http
                .post(format!("{base}/addEvent"))
                .header("x-api-key", API_KEY)
                .body(
                    json!({"streamId": stream, "type": "ITEM_CREATED",
                           "data": {"itemId": item, "amount": 1}})
                    .to_string(),
                )
                .send()
                .await
                .expect("the server answers");
            assert_eq!(response.status(), StatusCode::CREATED);
        }
    }
    let replay = |args: &[&str]| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_xtask"));
        command
            .arg("replay")
            .args(args)
            .args(["--url", &base, "--env-file", "/nonexistent/.env"])
            .env("API_KEY", API_KEY);
        async move {
            let output = tokio::time::timeout(Duration::from_secs(60), command.output())
                .await
                .expect("cargo xtask replay ends within 60 s")
                .expect("cargo xtask replay runs");
            let said = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            (output.status.success(), said)
        }
    };
    let (ok, said) = replay(&["--all", "--wait"]).await;
    assert!(ok, "{said}");
    assert!(
        said.contains("of every stream: done, 4 events applied, 2 streams replayed"),
        "{said}"
    );
    let (ok, said) = replay(&["--stream", "replay-a", "--from", "1", "--wait"]).await;
    assert!(ok, "{said}");
    assert!(
        said.contains("of stream replay-a from event 1: done, 1 events applied"),
        "{said}"
    );
    let replay_id = said
        .split_whitespace()
        .nth(1)
        .expect("the replay's id")
        .to_owned();
    let (ok, said) = replay(&["--status", &replay_id]).await;
    assert!(ok && said.contains(": done"), "{said}");
    let (ok, said) = replay(&["--status", "no-such-replay"]).await;
    assert!(
        !ok && said.contains("no replay has the id no-such-replay"),
        "{said}"
    );
    let (ok, said) = replay(&["--stream", ""]).await;
    assert!(!ok && said.contains("--stream"), "{said}");
}

/// A copy of this checkout's tracked files, as a fresh clone has them: no
/// `.env`, no `.local`, no `target`.
fn fresh_checkout() -> tempfile::TempDir {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace");
    let listed = std::process::Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(root)
        .output()
        .expect("git lists the tracked files");
    assert!(listed.status.success(), "git ls-files failed");
    let copy = tempfile::tempdir().expect("a temporary folder");
    for file in listed
        .stdout
        .split(|byte| *byte == 0)
        .filter(|f| !f.is_empty())
    {
        let relative = Path::new(std::str::from_utf8(file).expect("a UTF-8 path"));
        let to = copy.path().join(relative);
        std::fs::create_dir_all(to.parent().expect("a folder")).expect("the folder is made");
        // A file deleted but not yet committed is not in a fresh clone either.
        if root.join(relative).exists() {
            std::fs::copy(root.join(relative), &to).expect("the file copies");
        }
    }
    assert!(!copy.path().join(".env").exists());
    copy
}

/// `cargo xtask local` run in `checkout` as `cargo xtask` would run it
/// there (`cargo run` names the crate's folder in `CARGO_MANIFEST_DIR`),
/// with no `API_KEY` in its environment and logs at debug.
fn local_in(checkout: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_xtask"));
    command
        .args(["local", "--port", "0"])
        .current_dir(checkout)
        .env("CARGO_MANIFEST_DIR", checkout.join("xtask"))
        .env_remove("API_KEY")
        .env("RUST_LOG", "debug")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    command
}

/// A started local server: its URL, and everything it printed so far.
struct Started {
    child: tokio::process::Child,
    base: String,
    output: std::sync::Arc<std::sync::Mutex<String>>,
}

/// Starts `command`, collects both of its outputs, and waits until it
/// says it serves.
async fn start_collecting(mut command: tokio::process::Command) -> Started {
    let mut child = command.spawn().expect("cargo xtask local starts");
    let output = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    pump(
        child.stdout.take().expect("stdout"),
        tx.clone(),
        output.clone(),
    );
    pump(child.stderr.take().expect("stderr"), tx, output.clone());
    let base = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = rx.recv().await {
            if let Some(rest) = line.strip_prefix("Serving on ") {
                return rest.split_whitespace().next().map(str::to_owned);
            }
        }
        None
    })
    .await;
    let printed = output.lock().unwrap().clone();
    let base = base
        .unwrap_or_else(|_| panic!("the server did not announce itself in 30 s:\n{printed}"))
        .unwrap_or_else(|| panic!("the server stopped before serving:\n{printed}"));
    Started {
        child,
        base,
        output,
    }
}

/// Copies each line of `reader` into `output` and `lines`, until it ends.
fn pump(
    reader: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    lines: tokio::sync::mpsc::UnboundedSender<String>,
    output: std::sync::Arc<std::sync::Mutex<String>>,
) {
    use tokio::io::AsyncBufReadExt;
    tokio::spawn(async move {
        let mut reader = tokio::io::BufReader::new(reader).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            output.lock().unwrap().push_str(&line);
            output.lock().unwrap().push('\n');
            let _ = lines.send(line);
        }
    });
}
