//! Replay: re-applies a stream's events from an id to the end, one page at a
//! time, so memory stays bounded and the work can stop and resume from its
//! saved [`ReplayProgress`].
//!
//! A replay never blanks the read model. From 0 it first sweeps the rows no
//! event accounts for (an item the log never names, or a row claiming a
//! version past its item's latest event), each removal guarded by the
//! version it read. Then it reads the log in pages and writes, per item,
//! only the state of the item's latest event (asking the event store which
//! that is), in [`ApplyMode::Replay`]: a reader never sees an intermediate
//! state, and an item whose row is already right is rewritten with the
//! same values. The live projection may run all along: its writes and the
//! replay's are both guarded by version, so neither undoes the other.

use serde::{Deserialize, Serialize};

use crate::ids::{EventId, ItemId, StreamId};
use crate::ports::{ApplyMode, ApplyOutcome, EventStore, ReadModel, StoreError};
use crate::projection::coalesce;

/// Events read, and rows checked, per step.
pub const PAGE_SIZE: usize = 1000;

/// A validated `POST /triggerReplay` body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayTarget {
    pub stream_id: StreamId,
    pub from_event_id: EventId,
}

/// The message that starts (or continues) a replay job: the replay
/// function's input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayRequest {
    pub replay_id: String,
    pub stream_id: StreamId,
    pub from_event_id: EventId,
    /// Where an earlier run stopped; absent when the job starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<ReplayProgress>,
}

impl ReplayRequest {
    /// What the job replays.
    pub fn target(&self) -> ReplayTarget {
        ReplayTarget {
            stream_id: self.stream_id.clone(),
            from_event_id: self.from_event_id,
        }
    }

    /// The same job, to carry on from `progress`.
    pub fn continued_from(&self, progress: ReplayProgress) -> ReplayRequest {
        ReplayRequest {
            progress: Some(progress),
            ..self.clone()
        }
    }
}

/// What a replay does next.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "camelCase")]
pub enum ReplayPhase {
    /// From 0 only: checking the stored rows after `after` against the log.
    #[serde(rename_all = "camelCase")]
    Sweep {
        after: Option<ItemId>,
    },
    /// Applying the log from `next` on.
    #[serde(rename_all = "camelCase")]
    Apply {
        next: EventId,
    },
    Done,
}

/// A replay's saved state: its phase and what it did so far.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayProgress {
    #[serde(flatten)]
    pub phase: ReplayPhase,
    pub events_applied: u64,
    pub items_written: u64,
    pub items_superseded: u64,
    pub rows_removed: u64,
}

impl ReplayProgress {
    /// Where a replay of `target` starts.
    pub fn start(target: &ReplayTarget) -> Self {
        let phase = if target.from_event_id == EventId::FIRST {
            ReplayPhase::Sweep { after: None }
        } else {
            ReplayPhase::Apply {
                next: target.from_event_id,
            }
        };
        ReplayProgress {
            phase,
            events_applied: 0,
            items_written: 0,
            items_superseded: 0,
            rows_removed: 0,
        }
    }

    pub fn is_done(&self) -> bool {
        self.phase == ReplayPhase::Done
    }
}

/// Does one page of work (up to `page_size` events or rows) from
/// `progress` and returns the progress after it. Safe to repeat: a step cut
/// short and run again from the same progress leaves the same read model.
pub async fn step<E, R>(
    events: &E,
    read_model: &R,
    target: &ReplayTarget,
    progress: &ReplayProgress,
    page_size: usize,
) -> Result<ReplayProgress, StoreError>
where
    E: EventStore + ?Sized,
    R: ReadModel + ?Sized,
{
    let stream = &target.stream_id;
    let mut next = progress.clone();
    match &progress.phase {
        ReplayPhase::Done => {}
        ReplayPhase::Sweep { after } => {
            let rows = read_model.rows(stream, after.as_ref(), page_size).await?;
            let ids: Vec<ItemId> = rows.iter().map(|row| row.item_id.clone()).collect();
            let latest = events.latest_event_ids(stream, &ids).await?;
            for (row, latest) in rows.iter().zip(latest) {
                // A row is accounted for when its item has events and it
                // claims no version past the latest: the apply phase then
                // brings it to the latest state.
                let accounted_for = latest.is_some_and(|latest| row.version <= latest);
                if !accounted_for && read_model.remove(stream, &row.item_id, row.version).await? {
                    next.rows_removed += 1;
                }
            }
            next.phase = match rows.last() {
                Some(last) if rows.len() == page_size => ReplayPhase::Sweep {
                    after: Some(last.item_id.clone()),
                },
                _ => ReplayPhase::Apply {
                    next: target.from_event_id,
                },
            };
        }
        ReplayPhase::Apply { next: from } => {
            let page = events.read_stream(stream, *from, page_size).await?;
            let changes = coalesce(&page);
            let ids: Vec<ItemId> = changes.iter().map(|c| c.item_id.clone()).collect();
            let latest = events.latest_event_ids(stream, &ids).await?;
            // Only final states: an item's earlier states would show a
            // reader something the fold no longer says.
            let finals: Vec<_> = changes
                .into_iter()
                .zip(latest)
                .filter(|(change, latest)| latest.is_none_or(|latest| latest <= change.version))
                .map(|(change, _)| change)
                .collect();
            for outcome in read_model.apply(&finals, ApplyMode::Replay).await {
                match outcome? {
                    ApplyOutcome::Written => next.items_written += 1,
                    ApplyOutcome::Superseded => next.items_superseded += 1,
                }
            }
            next.events_applied += page.len() as u64;
            next.phase = match page.last() {
                Some(last) if page.len() == page_size => ReplayPhase::Apply {
                    next: last.event_id.next(),
                },
                _ => ReplayPhase::Done,
            };
        }
    }
    Ok(next)
}

/// Runs a whole replay of `target` in this call, from its start, in pages
/// of [`PAGE_SIZE`].
pub async fn run<E, R>(
    events: &E,
    read_model: &R,
    target: &ReplayTarget,
) -> Result<ReplayProgress, StoreError>
where
    E: EventStore + ?Sized,
    R: ReadModel + ?Sized,
{
    let mut progress = ReplayProgress::start(target);
    while !progress.is_done() {
        progress = step(events, read_model, target, &progress, PAGE_SIZE).await?;
    }
    Ok(progress)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_survives_a_round_trip_through_json() {
        let progress = ReplayProgress {
            phase: ReplayPhase::Sweep {
                after: Some(ItemId::parse("ж", "itemId").unwrap()),
            },
            events_applied: 3,
            items_written: 2,
            items_superseded: 1,
            rows_removed: 4,
        };
        let text = serde_json::to_string(&progress).unwrap();
        assert!(text.contains(r#""phase":"sweep""#), "{text}");
        assert_eq!(
            serde_json::from_str::<ReplayProgress>(&text).unwrap(),
            progress
        );
        let apply = r#"{"phase":"apply","next":7,"eventsApplied":0,"itemsWritten":0,"itemsSuperseded":0,"rowsRemoved":0}"#;
        assert_eq!(
            serde_json::from_str::<ReplayProgress>(apply).unwrap().phase,
            ReplayPhase::Apply {
                next: EventId::new(7)
            }
        );
        // A saved item id is checked like any other.
        let bad = r#"{"phase":"sweep","after":"","eventsApplied":0,"itemsWritten":0,"itemsSuperseded":0,"rowsRemoved":0}"#;
        assert!(serde_json::from_str::<ReplayProgress>(bad).is_err());
    }
}
