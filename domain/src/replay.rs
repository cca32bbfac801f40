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

/// What a replay of one stream re-applies: its events from an id on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayTarget {
    pub stream_id: StreamId,
    pub from_event_id: EventId,
}

/// What a replay covers: one stream from an event on, or every stream from
/// its start (a rebuild of the whole read model). A validated
/// `POST /triggerReplay` body; stored in a job as its fields
/// (`streamId` and `fromEventId`, or `allStreams` and `fromEventId` 0).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ScopeFields", into = "ScopeFields")]
pub enum ReplayScope {
    Stream(ReplayTarget),
    AllStreams,
}

impl ReplayScope {
    /// The first event a replay applies, in every stream it covers.
    pub fn from_event_id(&self) -> EventId {
        match self {
            ReplayScope::Stream(target) => target.from_event_id,
            ReplayScope::AllStreams => EventId::FIRST,
        }
    }
}

/// [`ReplayScope`] as a job and an answer carry it.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScopeFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stream_id: Option<StreamId>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    all_streams: bool,
    from_event_id: EventId,
}

impl TryFrom<ScopeFields> for ReplayScope {
    type Error = String;

    fn try_from(fields: ScopeFields) -> Result<Self, String> {
        match (fields.stream_id, fields.all_streams) {
            (Some(stream_id), false) => Ok(ReplayScope::Stream(ReplayTarget {
                stream_id,
                from_event_id: fields.from_event_id,
            })),
            (None, true) => Ok(ReplayScope::AllStreams),
            _ => Err("a replay covers either a streamId or allStreams".to_owned()),
        }
    }
}

impl From<ReplayScope> for ScopeFields {
    fn from(scope: ReplayScope) -> Self {
        let from_event_id = scope.from_event_id();
        match scope {
            ReplayScope::Stream(target) => ScopeFields {
                stream_id: Some(target.stream_id),
                all_streams: false,
                from_event_id,
            },
            ReplayScope::AllStreams => ScopeFields {
                stream_id: None,
                all_streams: true,
                from_event_id,
            },
        }
    }
}

/// Where a rebuild of every stream stands. It takes the streams one at a
/// time in stream-id order, each replayed from 0 as a replay of its own
/// (a child, run inside the rebuild's run while it holds the stream's
/// lane), or, when another replay holds the stream, left to a replay from
/// 0 queued behind it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RebuildProgress {
    /// The last stream dealt with; the next comes after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<StreamId>,
    /// The stream being replayed now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<RebuildChild>,
    /// Streams taken up so far: numbers the children.
    pub streams_seen: u64,
    /// Streams this rebuild replayed to the end.
    pub streams_replayed: u64,
    /// Streams left to a replay from 0 queued behind another one.
    pub streams_queued: u64,
    /// Streams whose replay failed; the rebuild goes on with the others.
    pub streams_failed: u64,
    /// Events applied by the children that ended.
    pub events_applied: u64,
    /// The first failure, with its stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    /// Whether every stream was dealt with.
    #[serde(default)]
    pub done: bool,
}

impl RebuildProgress {
    /// Events applied so far, the running child's included.
    pub fn events_applied_so_far(&self) -> u64 {
        self.events_applied
            + self
                .current
                .as_ref()
                .map_or(0, |child| child.events_applied)
    }

    /// Takes up `stream` as the next child of the rebuild `rebuild_id`.
    pub fn take_up(&mut self, rebuild_id: &str, stream_id: StreamId) -> RebuildChild {
        let child = RebuildChild {
            replay_id: format!("{rebuild_id}.{}", self.streams_seen),
            stream_id,
            events_applied: 0,
        };
        self.streams_seen += 1;
        self.current = Some(child.clone());
        child
    }

    /// The current child ended: `Ok` with the events it applied, or why
    /// it failed; the rebuild moves past its stream.
    pub fn child_ended(&mut self, outcome: Result<u64, String>) {
        let Some(child) = self.current.take() else {
            return;
        };
        match outcome {
            Ok(events) => {
                self.streams_replayed += 1;
                self.events_applied += events;
            }
            Err(error) => {
                self.streams_failed += 1;
                self.first_error
                    .get_or_insert_with(|| format!("stream {}: {error}", child.stream_id));
            }
        }
        self.after = Some(child.stream_id);
    }

    /// The current child's stream is left to a replay queued behind
    /// another one.
    pub fn child_queued(&mut self) {
        if let Some(child) = self.current.take() {
            self.streams_queued += 1;
            self.after = Some(child.stream_id);
        }
    }
}

/// The stream a rebuild is replaying now, as a replay of its own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RebuildChild {
    pub replay_id: String,
    pub stream_id: StreamId,
    /// As its last step reported.
    pub events_applied: u64,
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
