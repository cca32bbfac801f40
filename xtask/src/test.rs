//! `cargo xtask test`: rustfmt, clippy, every test through cargo-nextest
//! (each with a time limit, `.config/nextest.toml`) against one AWS
//! emulator, the API contract (schemathesis from `openapi.yaml` against
//! local mode), then the arm64 artifacts and the deploy commands. Ends with a
//! table of its steps and their times, also written as JSON for the bench.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::{api_contract, arm64, cargo, deploy_check, run};

/// The cargo-nextest `.ci/run` and this command install when it is
/// missing; stress runs (`--repeat`) need 0.9.103 or later.
pub const NEXTEST_VERSION: &str = "0.9.143";

/// What `cargo xtask test` runs.
pub struct TestConfig {
    /// rustfmt and clippy.
    pub lint: bool,
    /// Build the arm64 artifacts and run them under qemu.
    pub arm64: bool,
    /// Run the tests this many times in a row (nextest's stress mode),
    /// and nothing else: no lint, no arm64 step.
    pub repeat: Option<u32>,
    /// Run the API contract check and nothing else.
    pub contract_only: bool,
    /// Passed on to `cargo nextest run`.
    pub nextest_args: Vec<String>,
}

/// The step that checks the answers of local mode against `openapi.yaml`.
const CONTRACT_STEP: &str = "API contract (schemathesis)";

/// One step's name, time and outcome.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StepTime {
    pub step: String,
    pub seconds: f64,
    pub ok: bool,
}

/// What `cargo xtask test` writes after each run, for `cargo xtask bench`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TestTimes {
    /// The command line, e.g. `cargo xtask test --repeat 20`.
    #[serde(default)]
    pub command: String,
    pub steps: Vec<StepTime>,
    pub total_seconds: f64,
    pub ok: bool,
}

impl TestTimes {
    /// The record's file name, in the Cargo target directory.
    pub const FILE: &str = "xtask-test-times.json";

    pub fn path(root: &Path) -> anyhow::Result<std::path::PathBuf> {
        Ok(deployer::bundle::target_dir(root)?.join(Self::FILE))
    }
}

/// Times steps and prints the table at the end, whatever happened.
struct Steps {
    started: Instant,
    done: Vec<StepTime>,
}

impl Steps {
    fn new() -> Steps {
        Steps {
            started: Instant::now(),
            done: Vec::new(),
        }
    }

    fn time<T>(
        &mut self,
        step: &str,
        work: impl FnOnce() -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let started = Instant::now();
        let outcome = work();
        self.done.push(StepTime {
            step: step.to_owned(),
            seconds: started.elapsed().as_secs_f64(),
            ok: outcome.is_ok(),
        });
        outcome
    }

    fn finish(self, root: &Path, ok: bool) {
        let total = self.started.elapsed();
        eprintln!("==> steps");
        for step in &self.done {
            eprintln!(
                "    {:<40} {:>8} {}",
                step.step,
                seconds(Duration::from_secs_f64(step.seconds)),
                if step.ok { "ok" } else { "FAILED" }
            );
        }
        eprintln!("    {:<40} {:>8}", "total", seconds(total));
        let arguments: Vec<String> = std::env::args().skip(1).collect();
        let times = TestTimes {
            command: format!("cargo xtask {}", arguments.join(" ")),
            steps: self.done,
            total_seconds: total.as_secs_f64(),
            ok,
        };
        // Best effort: the record is for the bench, not part of the verdict.
        if let Ok(path) = TestTimes::path(root)
            && let Ok(json) = serde_json::to_vec_pretty(&times)
        {
            let _ = std::fs::create_dir_all(path.parent().unwrap_or(root));
            let _ = std::fs::write(path, json);
        }
    }
}

fn seconds(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}

pub fn test(config: TestConfig, root: &Path) -> anyhow::Result<()> {
    let mut steps = Steps::new();
    let outcome = all_steps(&config, root, &mut steps);
    steps.finish(root, outcome.is_ok());
    outcome
}

fn all_steps(config: &TestConfig, root: &Path, steps: &mut Steps) -> anyhow::Result<()> {
    if config.contract_only {
        let xtask = deploy_check::PinnedXtask::pin(root)?;
        return steps.time(CONTRACT_STEP, || api_contract::run(root, xtask.path()));
    }
    let lint = config.lint && config.repeat.is_none();
    let arm64 = config.arm64 && config.repeat.is_none();
    // Started first and at the lowest priority: it compiles on the CPU the
    // other steps leave idle (most of the test run waits on the emulator).
    let arm64_build = if arm64 {
        Some(steps.time("arm64 build started", || arm64::start_build(root))?)
    } else {
        None
    };
    // Local mode for the API contract and the deploy commands run through
    // this binary: held now, before the test build can replace the file.
    let contract = config.repeat.is_none();
    let xtask = if arm64 || contract {
        Some(deploy_check::PinnedXtask::pin(root)?)
    } else {
        None
    };
    if lint {
        steps.time("rustfmt", || {
            let mut fmt = cargo();
            fmt.args(["fmt", "--all", "--check"]);
            run("cargo fmt --check", fmt)
        })?;
        steps.time("clippy", || {
            let mut clippy = cargo();
            clippy.args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]);
            run("cargo clippy -D warnings", clippy)
        })?;
    }
    steps.time("cargo-nextest present", ensure_nextest)?;
    let moto = steps.time("AWS emulator (moto) started", || {
        eprintln!("==> starting the AWS emulator (moto) on 127.0.0.1");
        let moto = testkit::moto::Moto::start(root)
            .context("the AWS emulator is needed by the DynamoDB and deploy tests")?;
        eprintln!("    moto is at {} (pid {})", moto.endpoint(), moto.pid());
        Ok(moto)
    })?;
    // Built first and timed apart: the build is most of a cold run.
    steps.time("tests built", || {
        let mut build = nextest(moto.endpoint());
        build.args(["--no-run"]);
        run("cargo nextest run --no-run (build the tests)", build)
    })?;
    let label = match config.repeat {
        Some(n) => format!("tests run ({n} times)"),
        None => "tests run".to_owned(),
    };
    steps.time(&label, || {
        let mut tests = nextest(moto.endpoint());
        if let Some(n) = config.repeat {
            tests.args(["--stress-count", &n.to_string()]);
        }
        tests.args(&config.nextest_args);
        run("cargo nextest run --workspace", tests)
    })?;
    if contract && let Some(xtask) = &xtask {
        steps.time(CONTRACT_STEP, || api_contract::run(root, xtask.path()))?;
    }
    let (Some(arm64_build), Some(xtask)) = (arm64_build, xtask) else {
        if !config.arm64 {
            eprintln!("==> arm64 artifacts: skipped (--no-arm64)");
        }
        return Ok(());
    };
    let manifest = steps.time("arm64 build finished (after the tests)", || {
        arm64_build.finish(root)
    })?;
    steps.time("arm64 artifacts run under qemu", || {
        arm64::run(&manifest, moto.endpoint())
    })?;
    steps.time("deploy commands", || {
        deploy_check::run(root, moto.endpoint(), &xtask)
    })
}

/// `cargo nextest run --workspace` against the emulator at `endpoint`.
fn nextest(endpoint: &str) -> Command {
    let mut command = cargo();
    command
        .args(["nextest", "run", "--workspace"])
        .env(testkit::moto::ENDPOINT_ENV, endpoint);
    command
}

/// Installs cargo-nextest (pinned, from crates.io) when `cargo nextest`
/// does not answer.
fn ensure_nextest() -> anyhow::Result<()> {
    let answers = || {
        cargo()
            .args(["nextest", "--version"])
            .output()
            .is_ok_and(|output| output.status.success())
    };
    if answers() {
        return Ok(());
    }
    eprintln!("==> installing cargo-nextest {NEXTEST_VERSION} (cargo install; a few minutes)");
    let mut install = cargo();
    install.args([
        "install",
        "--locked",
        "cargo-nextest",
        "--version",
        NEXTEST_VERSION,
    ]);
    run("cargo install cargo-nextest", install).context(
        "cargo-nextest runs the tests with time limits; install it by hand with: cargo install --locked cargo-nextest",
    )?;
    if !answers() {
        bail!(
            "cargo-nextest was installed but `cargo nextest` does not answer; is ~/.cargo/bin on the PATH?"
        );
    }
    Ok(())
}
