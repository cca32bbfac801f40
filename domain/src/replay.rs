//! Replay: re-applies a stream's events from an id to the end.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::{EventId, ItemId, StreamId};
use crate::ports::{ApplyMode, ApplyOutcome, EventStore, ReadModel, StoreError};
use crate::projection::ItemChange;

/// Events read, and changes written, per round trip.
pub const PAGE_SIZE: usize = 1000;

/// A validated `POST /triggerReplay` body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayTarget {
    pub stream_id: StreamId,
    pub from_event_id: EventId,
}

/// The message that starts a replay job (the replay function's input).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayRequest {
    pub replay_id: String,
    pub stream_id: String,
    pub from_event_id: u64,
}

/// What a replay did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayReport {
    pub events_read: u64,
    pub items_written: u64,
    pub items_superseded: u64,
}

/// Re-applies `target`'s events to the read model. From 0 the stream's read
/// model is cleared first and rebuilt; from `k` every item touched since `k`
/// is set again to what its latest event says.
///
/// Safe while the live projection runs: replay writes use
/// [`ApplyMode::Replay`], so they never overwrite a row that the projection
/// has moved past, and the clear happens before the log is read, so every
/// event is either read by the replay or projected after the clear.
pub async fn run<E, R>(
    events: &E,
    read_model: &R,
    target: &ReplayTarget,
) -> Result<ReplayReport, StoreError>
where
    E: EventStore + ?Sized,
    R: ReadModel + ?Sized,
{
    if target.from_event_id == EventId::FIRST {
        read_model.clear(&target.stream_id).await?;
    }
    let mut report = ReplayReport::default();
    let mut latest: BTreeMap<ItemId, ItemChange> = BTreeMap::new();
    let mut next = target.from_event_id;
    loop {
        let page = events
            .read_stream(&target.stream_id, next, PAGE_SIZE)
            .await?;
        let full = page.len() == PAGE_SIZE;
        for event in &page {
            let change = ItemChange::from_event(event);
            latest.insert(change.item_id.clone(), change);
            next = event.event_id.next();
        }
        report.events_read += page.len() as u64;
        if !full {
            break;
        }
    }
    let changes: Vec<ItemChange> = latest.into_values().collect();
    for chunk in changes.chunks(PAGE_SIZE) {
        for outcome in read_model.apply(chunk, ApplyMode::Replay).await {
            match outcome? {
                ApplyOutcome::Written => report.items_written += 1,
                ApplyOutcome::Superseded => report.items_superseded += 1,
            }
        }
    }
    Ok(report)
}
