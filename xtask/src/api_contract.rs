//! `cargo xtask test`'s API contract step: `cargo xtask local` on a free
//! 127.0.0.1 port over a fresh data folder, and schemathesis generating
//! requests from `openapi.yaml` against it. A 5xx, or a status, content
//! type, header or body the document does not describe, fails the step.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::deadline;

/// The document, at the project root.
pub const DOCUMENT: &str = "openapi.yaml";
/// What schemathesis checks of every answer.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance";
/// Test cases per operation and phase: a run of 10 to 20 s.
const MAX_EXAMPLES: u32 = 100;
/// How long local mode may take to say it serves.
const START_LIMIT: Duration = Duration::from_secs(30);
/// How long the whole schemathesis run may take.
const RUN_LIMIT: Duration = Duration::from_secs(120);
/// How long local mode may take to stop after SIGINT.
const STOP_LIMIT: Duration = Duration::from_secs(10);
/// Proxy settings schemathesis (python requests) would otherwise follow.
const PROXY_VARIABLES: [&str; 6] = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
];

/// Runs the check with `xtask` (the binary that starts local mode).
pub fn run(root: &Path, xtask: &Path) -> anyhow::Result<()> {
    eprintln!("==> API contract: schemathesis from {DOCUMENT} against local mode");
    let schemathesis = testkit::venv::schemathesis(root)?;
    let scratch = std::env::temp_dir().join(format!(
        "evs-api-contract-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&scratch)
        .with_context(|| format!("cannot create {}", scratch.display()))?;
    let outcome = check(root, xtask, &schemathesis, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    outcome
}

fn check(root: &Path, xtask: &Path, schemathesis: &Path, scratch: &Path) -> anyhow::Result<()> {
    let api_key = format!("contract-{}", uuid::Uuid::new_v4().simple());
    let server = LocalMode::start(xtask, scratch, &api_key)?;
    eprintln!("    local mode is at {} (pid {})", server.url, server.pid());
    let seed = u64::from_le_bytes(uuid::Uuid::new_v4().as_bytes()[..8].try_into()?);
    let document = root.join(DOCUMENT);
    let mut command = Command::new(schemathesis);
    command
        .arg("run")
        .arg(&document)
        .args(["--url", &server.url])
        .args(["--header", &format!("x-api-key: {api_key}")])
        .args(["--checks", CHECKS])
        .args(["--max-examples", &MAX_EXAMPLES.to_string()])
        .args(["--seed", &seed.to_string()])
        .args(["--request-timeout", "15"])
        .args(["--generation-database", "none"])
        .arg("--no-color")
        // Its caches land in the scratch folder, not the checkout.
        .current_dir(scratch)
        .env("NO_PROXY", "127.0.0.1")
        .stdin(Stdio::null());
    for variable in PROXY_VARIABLES {
        command.env_remove(variable);
    }
    let started = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot run {}", schemathesis.display()))?;
    let status = deadline::exit_within(&mut child, started, RUN_LIMIT, "schemathesis");
    let failed = match status {
        Ok(status) if status.success() => None,
        Ok(status) => Some(format!(
            "schemathesis found answers {DOCUMENT} does not describe ({status})"
        )),
        Err(err) => Some(format!("{err:#}")),
    };
    let Some(failed) = failed else {
        return Ok(());
    };
    let log = server.log.clone();
    drop(server);
    show_tail(&log);
    bail!(
        "{failed}. To run it again, start local mode and point schemathesis at it:\n  \
         API_KEY=test-key-0123456789abcdefghij cargo xtask local --port 3000 --data-dir /tmp/evs-contract\n  \
         {venv}/bin/schemathesis run {document} --url http://127.0.0.1:3000 \
         --header 'x-api-key: test-key-0123456789abcdefghij' --checks {CHECKS} \
         --max-examples {MAX_EXAMPLES} --seed {seed}",
        venv = testkit::venv::venv_dir(root).display(),
        document = document.display(),
    )
}

/// The last lines of local mode's log, after a failure.
fn show_tail(log: &Path) {
    let Ok(text) = std::fs::read_to_string(log) else {
        return;
    };
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(30)..];
    if !tail.is_empty() {
        eprintln!("--- the last lines of local mode's log ({})", log.display());
        for line in tail {
            eprintln!("{line}");
        }
    }
}

/// `cargo xtask local` as a child process; stopped by its pid when
/// dropped, whatever happened meanwhile.
struct LocalMode {
    child: Child,
    url: String,
    log: PathBuf,
}

impl LocalMode {
    fn start(xtask: &Path, scratch: &Path, api_key: &str) -> anyhow::Result<LocalMode> {
        let data = scratch.join("data");
        let log = scratch.join("local.log");
        let stderr = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let mut child = Command::new(xtask)
            .args(["local", "--port", "0", "--data-dir"])
            .arg(&data)
            // No settings file: the key comes from the environment.
            .arg("--env-file")
            .arg(scratch.join("no.env"))
            .env("API_KEY", api_key)
            .env_remove("TEST_STREAM_ID")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .context("cannot start cargo xtask local")?;
        let stdout = child.stdout.take().context("local mode's stdout")?;
        let (tx, rx) = mpsc::channel();
        // Reads until local mode exits, so its output never fills the pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("Serving on ") {
                    let url = rest.split_whitespace().next().unwrap_or_default();
                    let _ = tx.send(url.to_owned());
                }
            }
        });
        let mut server = LocalMode {
            child,
            url: String::new(),
            log,
        };
        match rx.recv_timeout(START_LIMIT) {
            Ok(url) if url.starts_with("http://127.0.0.1:") => {
                server.url = url;
                Ok(server)
            }
            Ok(url) => bail!("local mode serves on {url}, not on 127.0.0.1"),
            Err(err) => {
                let log = server.log.clone();
                drop(server);
                show_tail(&log);
                match err {
                    mpsc::RecvTimeoutError::Timeout => bail!(
                        "cargo xtask local did not say where it serves within {} s",
                        START_LIMIT.as_secs()
                    ),
                    mpsc::RecvTimeoutError::Disconnected => {
                        bail!("cargo xtask local stopped before it served")
                    }
                }
            }
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for LocalMode {
    /// SIGINT (local mode's Ctrl-C: it stops cleanly), then SIGKILL if it
    /// is still there after [`STOP_LIMIT`].
    fn drop(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill takes only numbers; `pid` is our child, not yet
        // reaped, so it cannot be another process's.
        unsafe {
            libc::kill(pid, libc::SIGINT);
        }
        let stopped = Instant::now();
        if let Err(err) = deadline::exit_within(&mut self.child, stopped, STOP_LIMIT, "local mode")
        {
            eprintln!("    {err:#}");
        }
    }
}
