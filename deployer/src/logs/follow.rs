//! Following: polls for new lines until the caller stops it, each line
//! shown once ([`Seen`]) though polls overlap for lines that reach
//! CloudWatch late, and a poll that fails reported and retried up to a
//! limit.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use service::functions::Function;

use super::fetch::fetch_all;
use super::groups::LogGroup;
use super::options::{LogsLimits, LogsOptions};
use super::output::{LogEvent, Output};
use crate::deploy::Aws;

/// What following has shown: the newest time and the event IDs of the
/// lines from the overlap before it, so each line is shown once.
pub(super) struct Seen {
    /// Where the first fetch started; polls never look before it.
    start: i64,
    overlap: i64,
    newest: Option<i64>,
    ids: HashMap<(Function, String), i64>,
}

impl Seen {
    pub(super) fn new(start: i64, overlap: Duration) -> Seen {
        Seen {
            start,
            overlap: i64::try_from(overlap.as_millis()).unwrap_or(i64::MAX),
            newest: None,
            ids: HashMap::new(),
        }
    }

    /// Where the next poll starts.
    pub(super) fn next_start(&self) -> i64 {
        self.newest
            .map_or(self.start, |newest| newest.saturating_sub(self.overlap))
            .max(self.start)
    }

    /// The events not seen before, in their order; remembers them and
    /// forgets the IDs no poll can return again.
    pub(super) fn new_events(&mut self, events: Vec<LogEvent>) -> Vec<LogEvent> {
        let fresh: Vec<LogEvent> = events
            .into_iter()
            .filter(|event| {
                self.ids
                    .insert((event.function, event.event_id.clone()), event.timestamp)
                    .is_none()
            })
            .collect();
        if let Some(newest) = fresh.iter().map(|e| e.timestamp).max() {
            self.newest = Some(self.newest.map_or(newest, |n| n.max(newest)));
        }
        let horizon = self.next_start();
        self.ids.retain(|_, timestamp| *timestamp >= horizon);
        fresh
    }
}

pub(super) fn print(events: Vec<LogEvent>, output: &mut dyn Output) -> anyhow::Result<()> {
    for event in &events {
        output.event(event).context("cannot write the log lines")?;
    }
    Ok(())
}

/// Polls for new lines until the caller stops it (see the module
/// documentation).
pub(super) async fn follow(
    aws: &Aws,
    groups: &[LogGroup],
    options: &LogsOptions,
    limits: &LogsLimits,
    seen: &mut Seen,
    output: &mut dyn Output,
) -> anyhow::Result<()> {
    let mut ticks = tokio::time::interval(limits.poll);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is at once: the first fetch was just made.
    ticks.tick().await;
    let mut failures = 0;
    loop {
        ticks.tick().await;
        match fetch_all(aws, groups, seen.next_start(), options, limits, output).await {
            Ok(events) => {
                failures = 0;
                print(seen.new_events(events), output)?;
            }
            Err(err) => {
                failures += 1;
                if failures >= limits.failed_polls {
                    return Err(err.context(format!(
                        "stopped following the logs after {failures} failed polls in a row"
                    )));
                }
                output.notice(&format!(
                    "cannot read the new log lines (failed poll {failures} of at most {} in a row): {err:#}; trying again in {} s",
                    limits.failed_polls,
                    limits.poll.as_secs_f64()
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::output::tests::{event, ids};

    #[test]
    fn polls_show_each_line_once_and_forget_ids_behind_the_overlap() {
        let mut seen = Seen::new(1_000, Duration::from_millis(100));
        assert_eq!(seen.next_start(), 1_000);
        let first = seen.new_events(vec![
            event(Function::AddEvent, 1_500, "1"),
            event(Function::Replay, 2_000, "2"),
        ]);
        assert_eq!(ids(&first), ["1", "2"]);
        assert_eq!(seen.next_start(), 1_900);
        assert_eq!(seen.ids.len(), 1, "1 is behind the overlap");

        // A poll sees 2 again, and a line that arrived late.
        let second = seen.new_events(vec![
            event(Function::AddEvent, 1_950, "3"),
            event(Function::Replay, 2_000, "2"),
            event(Function::Replay, 2_300, "4"),
        ]);
        assert_eq!(ids(&second), ["3", "4"]);
        assert_eq!(seen.next_start(), 2_200);
        assert_eq!(seen.ids.len(), 1);

        // The same ID in another group is another line.
        let third = seen.new_events(vec![event(Function::AddEvent, 2_300, "4")]);
        assert_eq!(ids(&third), ["4"]);
        assert!(seen.new_events(Vec::new()).is_empty());
        assert_eq!(seen.next_start(), 2_200);
    }
}
