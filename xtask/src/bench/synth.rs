//! Synthesis time, in process and as a whole `cargo xtask synth`
//! process with its peak memory, against `cdk synth`.

use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::bail;
use deployer::{Format, StackOptions, app_stack};

use super::report::{Report, median, ms};

pub(super) fn measure(report: &mut Report) -> anyhow::Result<()> {
    let options = StackOptions::default();
    for (format, name) in [(Format::Yaml, "YAML"), (Format::Json, "JSON")] {
        let mut samples = Vec::new();
        for _ in 0..200 {
            let started = Instant::now();
            let text = deployer::render(&app_stack(&options), format)?;
            samples.push(started.elapsed().as_secs_f64() * 1e6);
            std::hint::black_box(text);
        }
        report.add(
            "synth",
            format!("in process: build + render {name}"),
            median(samples),
            "µs",
            "200 runs; dev profile, as cargo xtask builds it",
        );
    }
    let exe = std::env::current_exe()?;
    let out = std::env::temp_dir().join(format!("evs-bench-synth-{}.yaml", std::process::id()));
    let mut times = Vec::new();
    let mut peak = 0;
    for _ in 0..10 {
        let started = Instant::now();
        let child = Command::new(&exe)
            .args(["synth", "--env-file", "/nonexistent/.env", "--out"])
            .arg(&out)
            .stdout(Stdio::null())
            .spawn()?;
        let (ok, rss) = wait_with_rusage(child.id())?;
        times.push(ms(started.elapsed()));
        if !ok {
            bail!("the synth command failed");
        }
        peak = peak.max(rss);
    }
    let _ = std::fs::remove_file(&out);
    let process = median(times);
    report.add(
        "synth",
        "whole process (prebuilt xtask synth)",
        process,
        "ms",
        format!(
            "10 runs, dev profile; cdk synth: 6100 ms, {:.0}x faster",
            6100.0 / process
        ),
    );
    report.add(
        "synth",
        "whole process peak RSS",
        peak as f64 / 1024.0,
        "MiB",
        "cdk synth: 278 MB",
    );
    Ok(())
}

/// Waits for the child `pid`; its success and peak RSS in KiB.
fn wait_with_rusage(pid: u32) -> anyhow::Result<(bool, u64)> {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 only writes to it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own child, not yet waited for; both pointers are
    // valid for the call.
    let waited = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    if waited < 0 {
        bail!("wait4 failed: {}", std::io::Error::last_os_error());
    }
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    Ok((ok, usage.ru_maxrss as u64))
}
