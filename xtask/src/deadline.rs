//! Waiting for a child process with a deadline, so no child of `cargo
//! xtask test` (the background build, the deploy commands) can hang it.

use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How often the child is polled: short next to anything waited for here.
const POLL: Duration = Duration::from_millis(50);

/// Waits until `child` exits, or kills it once `limit` has passed since
/// `started` and fails, naming `what` and the limit.
pub fn exit_within(
    child: &mut Child,
    started: Instant,
    limit: Duration,
    what: &str,
) -> anyhow::Result<ExitStatus> {
    loop {
        if let Some(status) = child
            .try_wait()
            .with_context(|| format!("cannot poll {what}"))?
        {
            return Ok(status);
        }
        if started.elapsed() >= limit {
            kill(child);
            bail!(
                "{what} did not finish within {} and was killed",
                minutes_or_seconds(limit)
            );
        }
        std::thread::sleep(POLL);
    }
}

/// SIGKILL to the child, or to its whole process group when it leads one
/// (a build started that way: cargo and rustc below it stop too); then
/// reaps it.
pub fn kill(child: &mut Child) {
    let pid = child.id() as libc::pid_t;
    // SAFETY: getpgid and kill take only numbers; `pid` is our child, not
    // yet reaped, so neither it nor its group can be another process's.
    unsafe {
        if libc::getpgid(pid) == pid {
            libc::kill(-pid, libc::SIGKILL);
        } else {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    let _ = child.wait();
}

fn minutes_or_seconds(limit: Duration) -> String {
    let seconds = limit.as_secs();
    if seconds >= 120 && seconds.is_multiple_of(60) {
        format!("{} min", seconds / 60)
    } else {
        format!("{seconds} s")
    }
}

#[cfg(test)]
mod tests {
    //! Real child processes: `true`, and a shell with a grandchild.

    use std::os::unix::process::CommandExt;
    use std::process::Command;

    use super::*;

    #[test]
    fn a_child_that_exits_in_time_gives_its_status() {
        let mut child = Command::new("true").spawn().expect("true starts");
        let status = exit_within(&mut child, Instant::now(), Duration::from_secs(10), "true")
            .expect("true exits in time");
        assert!(status.success());
    }

    #[test]
    fn a_child_past_its_deadline_is_killed_with_its_group_and_named() {
        use std::io::BufRead;
        // A shell leading its own group, with a grandchild: both must go.
        let mut child = Command::new("sh")
            .args(["-c", "sleep 60 & echo $!; wait"])
            .stdout(std::process::Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("sh starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("sh prints the sleeper's pid");
        let grandchild = line.trim().to_owned();
        let started = Instant::now();
        let err = exit_within(&mut child, started, Duration::from_secs(1), "the sleeper")
            .expect_err("the sleeper outlives its limit");
        assert_eq!(
            err.to_string(),
            "the sleeper did not finish within 1 s and was killed"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        // Gone, or a zombie waiting for whoever adopted it.
        let running = || {
            std::fs::read_to_string(format!("/proc/{grandchild}/stat")).is_ok_and(|stat| {
                stat.rsplit(") ")
                    .next()
                    .is_some_and(|rest| !rest.starts_with('Z'))
            })
        };
        let killed = Instant::now();
        while running() && killed.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!running(), "the grandchild outlived the kill");
    }
}
