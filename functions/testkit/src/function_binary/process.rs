//! The process harness: a function binary started as Lambda starts it
//! (the environment Lambda sets, nothing of the test's), talking to its
//! own Runtime API stub, invoked and measured; killed on drop.

use std::ffi::OsString;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use super::REGION;
use crate::runtime_api::{Outcome, RuntimeApi};

/// How to start a function binary.
#[derive(Clone, Debug)]
pub struct Launch {
    program: PathBuf,
    args: Vec<OsString>,
    /// How long init and each invocation may take.
    timeout: Duration,
}

impl Launch {
    /// The binary itself, on this machine.
    pub fn native(binary: impl Into<PathBuf>) -> Launch {
        Launch {
            program: binary.into(),
            args: Vec::new(),
            timeout: Duration::from_secs(30),
        }
    }

    /// A binary for another architecture under qemu user-mode emulation;
    /// `sysroot` holds its dynamic loader and libc (`-L`).
    pub fn qemu(qemu: &Path, sysroot: &Path, binary: &Path) -> Launch {
        Launch {
            program: qemu.to_path_buf(),
            args: vec!["-L".into(), sysroot.into(), binary.into()],
            // Emulation is ~10x slower than native.
            timeout: Duration::from_secs(120),
        }
    }
}

/// What a check measured.
#[derive(Clone, Debug)]
pub struct Report {
    pub function: String,
    /// Process start to its first `GET .../invocation/next`.
    pub init: Duration,
    pub invocations: usize,
    /// The process's peak resident memory (Linux `VmHWM`) after its
    /// invocations, in KiB.
    pub peak_rss_kib: Option<u64>,
}

/// A function process with its own Runtime API stub; killed on drop.
pub struct RunningFunction {
    name: String,
    api: RuntimeApi,
    child: Child,
    spawned: Instant,
    log: PathBuf,
    timeout: Duration,
    invocations: usize,
}

impl RunningFunction {
    /// Starts `launch` with Lambda's environment plus `env`, and waits
    /// until it asks for its first invocation.
    pub async fn start(
        launch: &Launch,
        name: &str,
        endpoint: &str,
        env: &[(&str, String)],
    ) -> anyhow::Result<RunningFunction> {
        let api = RuntimeApi::start().await?;
        let log =
            std::env::temp_dir().join(format!("evs-fn-{name}-{}.log", crate::unique_name("log")));
        let stdout =
            File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let stderr = stdout.try_clone().context("cannot clone the log handle")?;
        let mut command = Command::new(&launch.program);
        command
            .args(&launch.args)
            // Only what Lambda would set: nothing of the test's environment
            // (profiles, a developer's AWS_* variables) leaks in.
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/01/01/[$LATEST]0123456789abcdef",
            )
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("_HANDLER", "bootstrap")
            .env("AWS_REGION", REGION)
            .env("AWS_DEFAULT_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_SESSION_TOKEN", "test")
            .env("AWS_ENDPOINT_URL", endpoint)
            .envs(env.iter().map(|(key, value)| (*key, value.as_str())))
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let spawned = Instant::now();
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", launch.program.display()))?;
        let mut function = RunningFunction {
            name: name.to_owned(),
            api,
            child,
            spawned,
            log,
            timeout: launch.timeout,
            invocations: 0,
        };
        let ready = function.api.wait_ready(launch.timeout);
        let outcome = until_exit(&mut function.child, ready).await;
        match outcome {
            Ok(_) => Ok(function),
            Err(err) => Err(err.context(format!("{name} did not start:\n{}", function.log_text()))),
        }
    }

    /// Process start to the first `GET .../invocation/next`.
    pub fn init_time(&self) -> Duration {
        self.api
            .first_next()
            .map_or(Duration::ZERO, |at| at.duration_since(self.spawned))
    }

    /// Invokes the function with `event` and returns its answer.
    pub async fn invoke(&mut self, event: &Value) -> anyhow::Result<Outcome> {
        self.invocations += 1;
        let (request_id, answer) = self.api.invoke(event);
        let timeout = self.timeout;
        let waited = until_exit(&mut self.child, async move {
            match tokio::time::timeout(timeout, answer).await {
                Ok(Ok(outcome)) => Ok(outcome),
                Ok(Err(_)) => bail!("the stub dropped invocation {request_id}"),
                Err(_) => bail!("no answer to invocation {request_id} within {timeout:?}"),
            }
        })
        .await;
        waited.map_err(|err| err.context(format!("{}:\n{}", self.name, self.log_text())))
    }

    /// Invokes and expects a handler response (not an error).
    pub async fn respond(&mut self, event: &Value) -> anyhow::Result<Value> {
        match self.invoke(event).await? {
            Outcome::Response(value) => Ok(value),
            Outcome::Error { error_type, body } => bail!(
                "{} answered an error ({error_type}): {body}\n{}",
                self.name,
                self.log_text()
            ),
        }
    }

    /// Invokes an API function with a proxy event; returns status and body.
    pub async fn http(&mut self, event: &Value) -> anyhow::Result<(u16, Value)> {
        let response = self.respond(event).await?;
        let status = response["statusCode"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .with_context(|| format!("no statusCode in {response}"))?;
        let body = match response["body"].as_str() {
            Some(text) => serde_json::from_str(text)
                .with_context(|| format!("the body is not JSON: {text}"))?,
            None => Value::Null,
        };
        Ok((status, body))
    }

    pub fn report(&self) -> Report {
        Report {
            function: self.name.clone(),
            init: self.init_time(),
            invocations: self.invocations,
            peak_rss_kib: peak_rss_kib(self.child.id()),
        }
    }

    /// Everything the process wrote so far, stdout and stderr.
    pub fn output(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(super) fn log_text(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- its output (last 40 lines of {}):\n{}",
            self.log.display(),
            lines[lines.len().saturating_sub(40)..].join("\n")
        )
    }
}

/// Runs `work` unless `child` exits first (then says so).
async fn until_exit<T>(
    child: &mut Child,
    work: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let mut work = std::pin::pin!(work);
    loop {
        tokio::select! {
            result = &mut work => return result,
            _ = tokio::time::sleep(Duration::from_millis(20)) => {
                if let Some(status) = child.try_wait().context("cannot poll the process")? {
                    bail!("the process exited ({status})");
                }
            }
        }
    }
}

impl Drop for RunningFunction {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_file(&self.log);
    }
}

/// `VmHWM` of a live process, in KiB (Linux only; `None` elsewhere).
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
}
