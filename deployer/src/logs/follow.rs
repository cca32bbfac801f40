//! Following: polls for new lines until the caller stops it, each line
//! shown once ([`Seen`]) though polls overlap for lines that reach
//! CloudWatch late; a group that cannot be read is named once while the
//! others go on, and a poll that reads no group at all is reported and
//! retried up to a limit.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use anyhow::Context;
use service::functions::Function;

use super::fetch::{Read, fetch_all};
use super::groups::LogGroup;
use super::options::{LogsLimits, LogsOptions};
use super::output::{LogEvent, Output};
use super::unread::Unread;
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
/// documentation). Every group found unreadable is added to `unread`.
pub(super) async fn follow(
    aws: &Aws,
    groups: &[LogGroup],
    options: &LogsOptions,
    limits: &LogsLimits,
    seen: &mut Seen,
    unread: &mut Unread,
    output: &mut dyn Output,
) -> anyhow::Result<()> {
    let mut ticks = tokio::time::interval(limits.poll);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is at once: the first fetch was just made.
    ticks.tick().await;
    let mut failures = 0;
    // The groups the last poll could not read, warned about once each.
    let mut failing: BTreeSet<String> = unread.names().cloned().collect();
    loop {
        ticks.tick().await;
        let Read {
            events,
            unread: now_unread,
        } = fetch_all(aws, groups, seen.next_start(), options, limits, output).await;
        if !groups.is_empty() && now_unread.len() == groups.len() {
            failures += 1;
            let err = Unread::combined(&now_unread);
            unread.add(&now_unread);
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
            continue;
        }
        failures = 0;
        let now: BTreeSet<String> = now_unread.iter().map(|(g, _)| g.name.clone()).collect();
        for (group, err) in &now_unread {
            if !failing.contains(&group.name) {
                output.notice(&Unread::warning(group, err));
            }
        }
        for name in failing.difference(&now) {
            output.notice(&format!("the log group {name} can be read again"));
        }
        unread.add(&now_unread);
        failing = now;
        print(seen.new_events(events), output)?;
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
