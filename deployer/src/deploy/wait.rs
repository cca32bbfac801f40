//! Bounded waits. Every poll loop of the deployer goes through [`Wait`]:
//! it has a deadline for the whole wait and a limit on how long nothing
//! may change, and when either trips it stops with an error that says
//! what it waited for, the last status it saw and what the user can do.

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

/// How long one kind of wait may last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The whole wait.
    pub deadline: Duration,
    /// How long the status may stay the same with nothing else moving.
    pub no_progress: Duration,
}

/// The limits of each wait a deploy, diff or destroy makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waits {
    /// How often the service is asked for news.
    pub poll: Duration,
    /// A stack being created, updated or deleted. CloudFormation's own
    /// operations on this app's resources take minutes; an hour without an
    /// end, or twenty minutes without a new event, is not a slow operation.
    pub stack_operation: Limits,
    /// CloudFormation working out a change set (usually seconds).
    pub change_set: Limits,
    /// Lambda applying new code to a function (usually seconds).
    pub function_update: Limits,
    /// DynamoDB finishing an update of a table (usually seconds).
    pub table_update: Limits,
    /// CloudFormation detecting a stack's drift (seconds to minutes; its
    /// status stays `DETECTION_IN_PROGRESS` throughout, so only the
    /// deadline counts).
    pub drift_detection: Limits,
    /// How long a stack may still show `REVIEW_IN_PROGRESS` after its
    /// change set was executed before the change set counts as not run.
    pub execution_start: Duration,
    /// Emptying a bucket: rounds in a row that delete nothing.
    pub bucket_rounds_without_progress: u32,
}

impl Default for Waits {
    fn default() -> Self {
        Waits {
            poll: Duration::from_secs(2),
            stack_operation: Limits {
                deadline: Duration::from_secs(60 * 60),
                no_progress: Duration::from_secs(20 * 60),
            },
            change_set: Limits {
                deadline: Duration::from_secs(10 * 60),
                no_progress: Duration::from_secs(5 * 60),
            },
            function_update: Limits {
                deadline: Duration::from_secs(10 * 60),
                no_progress: Duration::from_secs(5 * 60),
            },
            table_update: Limits {
                deadline: Duration::from_secs(10 * 60),
                no_progress: Duration::from_secs(5 * 60),
            },
            drift_detection: Limits {
                deadline: Duration::from_secs(10 * 60),
                no_progress: Duration::from_secs(10 * 60),
            },
            execution_start: Duration::from_secs(60),
            bucket_rounds_without_progress: 3,
        }
    }
}

impl Waits {
    /// For an emulator that answers at once: fast polls, and limits that
    /// turn a hang into an error within a minute.
    pub fn for_emulator() -> Waits {
        let limits = Limits {
            deadline: Duration::from_secs(60),
            no_progress: Duration::from_secs(30),
        };
        Waits {
            poll: Duration::from_millis(50),
            stack_operation: limits,
            change_set: limits,
            function_update: limits,
            table_update: limits,
            drift_detection: limits,
            execution_start: Duration::from_secs(5),
            bucket_rounds_without_progress: 3,
        }
    }
}

/// Which limit tripped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    Deadline,
    NoProgress,
    /// A status that must end soon did not (see [`Wait::brief`]).
    Brief,
}

/// A wait that ran out, with what the user needs to act on it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct WaitExpired {
    pub what: String,
    pub expiry: Expiry,
    pub waited: Duration,
    pub last_seen: Option<String>,
    pub hint: String,
    /// For [`Expiry::Brief`]: what the lasting status means.
    pub condition: Option<String>,
}

impl fmt::Display for WaitExpired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let waited = self.waited.as_secs_f64();
        match (&self.expiry, &self.condition) {
            (Expiry::Brief, Some(condition)) => write!(
                f,
                "stopped waiting for {} after {waited:.0} s: {condition}",
                self.what
            )?,
            (Expiry::NoProgress, _) => write!(
                f,
                "stopped waiting for {} after {waited:.0} s: nothing changed for too long",
                self.what
            )?,
            _ => write!(
                f,
                "stopped waiting for {} after {waited:.0} s: the deadline passed",
                self.what
            )?,
        }
        match &self.last_seen {
            Some(last) => write!(f, "; last status seen: {last}")?,
            None => write!(f, "; no status was seen")?,
        }
        if !self.hint.is_empty() {
            write!(f, ". {}", self.hint)?;
        }
        Ok(())
    }
}

/// One bounded wait; see the module documentation.
#[derive(Debug)]
pub struct Wait {
    what: String,
    hint: String,
    limits: Limits,
    poll: Duration,
    started: Instant,
    /// When the status last changed.
    status_since: Instant,
    /// When the status or anything else last moved.
    last_progress: Instant,
    last_seen: Option<String>,
}

impl Wait {
    /// A wait for `what` ("the update of the stack demo"); `hint` tells the
    /// user what to do if it runs out.
    pub fn new(
        what: impl Into<String>,
        limits: Limits,
        poll: Duration,
        hint: impl Into<String>,
    ) -> Wait {
        let now = Instant::now();
        Wait {
            what: what.into(),
            hint: hint.into(),
            limits,
            poll,
            started: now,
            status_since: now,
            last_progress: now,
            last_seen: None,
        }
    }

    /// Records the status a poll saw; a new one counts as progress.
    pub fn saw(&mut self, status: &str) {
        if self.last_seen.as_deref() != Some(status) {
            self.last_seen = Some(status.to_owned());
            self.status_since = Instant::now();
            self.last_progress = self.status_since;
        }
    }

    /// Something moved although the status did not (e.g. a new event).
    pub fn progressed(&mut self) {
        self.last_progress = Instant::now();
    }

    /// An error once the current status has lasted `limit`: for a status
    /// that is acceptable only briefly. `condition` says what it means.
    pub fn brief(
        &self,
        limit: Duration,
        condition: impl FnOnce() -> String,
    ) -> Result<(), WaitExpired> {
        if self.status_since.elapsed() >= limit {
            return Err(self.expired(Expiry::Brief, Some(condition())));
        }
        Ok(())
    }

    /// Checks both limits, then sleeps one poll interval.
    pub async fn pause(&self) -> Result<(), WaitExpired> {
        self.check()?;
        tokio::time::sleep(self.poll).await;
        Ok(())
    }

    /// The error for a limit that has passed, if one has.
    pub fn check(&self) -> Result<(), WaitExpired> {
        if self.started.elapsed() >= self.limits.deadline {
            return Err(self.expired(Expiry::Deadline, None));
        }
        if self.last_progress.elapsed() >= self.limits.no_progress {
            return Err(self.expired(Expiry::NoProgress, None));
        }
        Ok(())
    }

    fn expired(&self, expiry: Expiry, condition: Option<String>) -> WaitExpired {
        WaitExpired {
            what: self.what.clone(),
            expiry,
            waited: self.started.elapsed(),
            last_seen: self.last_seen.clone(),
            hint: self.hint.clone(),
            condition,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(deadline_ms: u64, no_progress_ms: u64) -> Limits {
        Limits {
            deadline: Duration::from_millis(deadline_ms),
            no_progress: Duration::from_millis(no_progress_ms),
        }
    }

    const POLL: Duration = Duration::from_millis(1);

    /// Polls `status(n)` until the wait gives up; how many polls it took.
    async fn poll_until_expired(
        wait: &mut Wait,
        status: impl Fn(usize) -> String,
    ) -> (usize, WaitExpired) {
        let mut polls = 0;
        loop {
            wait.saw(&status(polls));
            match wait.pause().await {
                Ok(()) => polls += 1,
                Err(err) => return (polls, err),
            }
        }
    }

    #[tokio::test]
    async fn a_status_that_never_changes_trips_the_no_progress_limit() {
        let mut wait = Wait::new(
            "the update of the stack demo",
            limits(60_000, 40),
            POLL,
            "see its events in the console",
        );
        let (polls, err) = poll_until_expired(&mut wait, |_| "UPDATE_IN_PROGRESS".to_owned()).await;
        assert!(polls > 1, "gave up after {polls} polls");
        assert_eq!(err.expiry, Expiry::NoProgress);
        assert!(err.waited >= Duration::from_millis(40), "{err:?}");
        let message = err.to_string();
        for part in [
            "the update of the stack demo",
            "nothing changed",
            "last status seen: UPDATE_IN_PROGRESS",
            "see its events in the console",
        ] {
            assert!(message.contains(part), "{part:?} missing from {message}");
        }
    }

    #[tokio::test]
    async fn progress_defers_the_no_progress_limit_but_not_the_deadline() {
        let mut wait = Wait::new("x", limits(80, 20), POLL, "");
        let (_, err) = poll_until_expired(&mut wait, |n| format!("step {n}")).await;
        assert_eq!(err.expiry, Expiry::Deadline);
        assert!(err.waited >= Duration::from_millis(80), "{err:?}");
        assert!(err.to_string().contains("the deadline passed"), "{err}");
        assert!(err.to_string().contains("last status seen: step "), "{err}");
    }

    #[tokio::test]
    async fn events_count_as_progress_while_the_status_stays() {
        let mut wait = Wait::new("x", limits(60_000, 30), POLL, "");
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(120) {
            wait.saw("UPDATE_IN_PROGRESS");
            wait.progressed();
            wait.pause().await.expect("progress keeps the wait alive");
        }
    }

    #[tokio::test]
    async fn a_brief_status_held_too_long_is_an_error_naming_it() {
        let mut wait = Wait::new("the stack demo", limits(60_000, 60_000), POLL, "");
        wait.saw("REVIEW_IN_PROGRESS");
        let limit = Duration::from_millis(30);
        assert!(wait.brief(limit, String::new).is_ok());
        let started = Instant::now();
        while started.elapsed() < limit {
            wait.saw("REVIEW_IN_PROGRESS");
            wait.progressed();
            wait.pause().await.expect("within the limits");
        }
        let err = wait
            .brief(limit, || "the change set did not start".to_owned())
            .expect_err("past the bound");
        assert_eq!(err.expiry, Expiry::Brief);
        assert!(
            err.to_string()
                .contains("the change set did not start; last status seen: REVIEW_IN_PROGRESS"),
            "{err}"
        );
    }

    /// A new poll loop that sleeps on its own would escape both limits.
    #[test]
    fn the_deployer_sleeps_only_through_a_bounded_wait() {
        fn sources(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).expect("a source directory") {
                let path = entry.expect("an entry").path();
                if path.is_dir() {
                    sources(&path, found);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    found.push(path);
                }
            }
        }
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&src, &mut files);
        assert!(files.len() > 10, "found only {files:?}");
        let this = src.join("deploy").join("wait.rs");
        let sleepers: Vec<_> = files
            .iter()
            .filter(|path| **path != this)
            .filter(|path| {
                std::fs::read_to_string(path)
                    .expect("readable")
                    .contains("sleep(")
            })
            .collect();
        assert!(
            sleepers.is_empty(),
            "these sleep outside deploy::wait: {sleepers:?}"
        );
    }
}
