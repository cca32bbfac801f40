//! A no-op deploy: the whole `cargo xtask deploy` command against moto
//! when nothing changed.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::bail;

use super::report::{Report, median};
use super::{BENCH_KEY, tempfile_dir};

pub(super) fn measure(report: &mut Report, root: &Path, moto: &str) -> anyhow::Result<()> {
    let stack = format!("evs-bench-{}", std::process::id());
    let scratch = tempfile_dir("deploy")?;
    let env_file = scratch.join(".env");
    std::fs::write(
        &env_file,
        format!("API_KEY={BENCH_KEY}\nSTACK_NAME={stack}\n"),
    )?;
    let exe = std::env::current_exe()?;
    let run = |args: &[&str]| -> anyhow::Result<(bool, String, f64)> {
        let mut command = Command::new(&exe);
        command
            .args(args)
            .arg("--env-file")
            .arg(&env_file)
            .current_dir(root)
            .env("AWS_ENDPOINT_URL", moto)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "bench")
            .env("AWS_SECRET_ACCESS_KEY", "bench")
            .stdin(Stdio::null());
        for name in ["API_KEY", "STACK_NAME", "TRACING", "TEST_STREAM_ID"] {
            command.env_remove(name);
        }
        let started = Instant::now();
        let output = command.output()?;
        let seconds = started.elapsed().as_secs_f64();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok((output.status.success(), text, seconds))
    };
    let (ok, text, _) = run(&["deploy", "--linker", "zig"])?;
    if !ok {
        report.missing(
            "deploy",
            "no-op deploy",
            format!(
                "the first deploy failed: {}",
                text.lines().last().unwrap_or_default()
            ),
        );
        return Ok(());
    }
    let mut times = Vec::new();
    for _ in 0..3 {
        let (ok, text, seconds) = run(&["deploy", "--linker", "zig"])?;
        if !ok || !text.contains("no changes") {
            bail!("an unchanged deploy did not report no changes:\n{text}");
        }
        times.push(seconds);
    }
    report.add(
        "deploy",
        "no-op deploy, whole command (moto)",
        median(times),
        "s",
        "3 runs after a warm build; target < 5 s",
    );
    let _ = run(&["destroy", "--yes"]);
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}
