//! `cargo xtask test`: its steps' times as the last run recorded them,
//! or a run from nothing and a warm run.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::bail;

use super::report::Report;
use crate::test::TestTimes;

/// `cargo xtask test` as CI runs it: from nothing, then again with nothing
/// changed; or, without `run`, the times the last run recorded.
pub(super) fn measure(report: &mut Report, root: &Path, run: bool) -> anyhow::Result<()> {
    if !run {
        let recorded = TestTimes::path(root)
            .ok()
            .and_then(|path| std::fs::read(path).ok())
            .and_then(|json| serde_json::from_slice::<TestTimes>(&json).ok());
        match recorded {
            Some(times) => add_test_times(report, "last recorded run", &times),
            None => report.missing(
                "test suite",
                "cargo xtask test",
                "no recorded run; run cargo xtask test, or pass --test-suite",
            ),
        }
        report.missing(
            "test suite",
            "cargo xtask test from nothing, then warm",
            "pass --test-suite (about 40 minutes on 2 cores)",
        );
        return Ok(());
    }
    let scratch = std::env::temp_dir().join(format!("evs-bench-test-{}", std::process::id()));
    let target = scratch.join("target");
    let venv = scratch.join("venv");
    let time_suite = |report: &mut Report, label: &str| -> anyhow::Result<()> {
        let started = Instant::now();
        let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(["xtask", "test"])
            .current_dir(root)
            .env("CARGO_TARGET_DIR", &target)
            .env(testkit::venv::VENV_ENV, &venv)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        if !status.success() {
            bail!("cargo xtask test failed ({status}) {label}; run it alone to see why");
        }
        let wall = started.elapsed().as_secs_f64();
        let times: TestTimes =
            serde_json::from_slice(&std::fs::read(target.join(TestTimes::FILE))?)?;
        report.add(
            "test suite",
            format!("cargo xtask test, {label}"),
            wall,
            "s",
            "whole command, the xtask build included; one run",
        );
        add_test_times(report, label, &times);
        Ok(())
    };
    let outcome =
        time_suite(report, "from nothing").and_then(|()| time_suite(report, "nothing changed"));
    let _ = std::fs::remove_dir_all(&scratch);
    outcome
}

fn add_test_times(report: &mut Report, label: &str, times: &TestTimes) {
    report.add(
        "test suite",
        format!("{label}: total"),
        times.total_seconds,
        "s",
        format!(
            "{}{}",
            times.command,
            if times.ok { "" } else { "; failed" }
        ),
    );
    for step in &times.steps {
        report.add(
            "test suite",
            format!("{label}: {}", step.step),
            step.seconds,
            "s",
            if step.ok { "" } else { "failed" },
        );
    }
}
