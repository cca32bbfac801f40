//! The storage ports. Each has two adapters (DynamoDB, embedded SQLite) and
//! one conformance suite (the `testkit` crate) that both must pass.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::event::{Amount, ItemState, RecordedEvent};
use crate::ids::{EventId, ItemId, StreamId};
use crate::paging::{Cursor, ListQuery};
use crate::projection::ItemChange;
use crate::reading::{EventsPage, EventsQuery};
use crate::rules::{AppendCommand, Rejection};

/// A storage failure that is not the caller's fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The backend failed or could not be reached; trying again may work.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Too many concurrent writers on one stream; trying again may work.
    #[error("too much contention: {0}")]
    Contention(String),
    /// Stored data does not decode: a bug or a hand-edited table.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// Why an append did not happen.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    #[error(transparent)]
    Rejected(#[from] Rejection),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The event log: append-only streams with optimistic concurrency.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Appends the event of `command` as the stream's next one, after
    /// [`crate::decide`] accepted it against the stream's state, atomically:
    /// ids are contiguous and unique whatever the concurrency, and an event
    /// that is returned is durable.
    ///
    /// With an idempotency key, the key is looked up in the same atomic
    /// read and goes through [`crate::recall`] first: a repeat of the key's
    /// request returns its event again and stores nothing. Otherwise the key
    /// is stored with the event, in the same atomic write, so concurrent
    /// requests with one key append one event. A refused append stores
    /// nothing, its key included. `recorded_at` is also the time the key's
    /// expiry is judged at.
    async fn append(
        &self,
        command: &AppendCommand,
        recorded_at: DateTime<Utc>,
    ) -> Result<RecordedEvent, AppendError>;

    /// Up to `limit` events of `stream_id` from `from` on, in order.
    async fn read_stream(
        &self,
        stream_id: &StreamId,
        from: EventId,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// A page of `query.stream_id`'s events, forward or backward, cut by
    /// [`EventsPage::cut`] from a read of the ids of [`EventsQuery::ids`];
    /// `None` when the stream has no event. Costs in proportion to the
    /// events read.
    async fn read_events(&self, query: &EventsQuery) -> Result<Option<EventsPage>, StoreError>;

    /// Up to `limit` streams after `after`, in stream-id order (UTF-8
    /// bytes), each with its version and when its last event was written;
    /// `more` when another may follow. Costs in proportion to the streams
    /// listed, never to the events or items stored.
    async fn list_streams(
        &self,
        after: Option<&StreamId>,
        limit: usize,
    ) -> Result<StreamPage, StoreError>;

    /// The id of each item's latest event in `stream_id`, `None` for an
    /// item no event names: one answer per item, in order. What a replay
    /// checks so that it writes each item's final state only.
    async fn latest_event_ids(
        &self,
        stream_id: &StreamId,
        items: &[ItemId],
    ) -> Result<Vec<Option<EventId>>, StoreError>;
}

/// A stream as `GET /listStreams` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamSummary {
    pub stream_id: StreamId,
    /// The id of its last event.
    pub version: EventId,
    /// When its last event was written (milliseconds, as stored).
    pub updated_at: DateTime<Utc>,
}

/// One page of streams.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamPage {
    pub streams: Vec<StreamSummary>,
    /// Whether a stream may sort after the last one here.
    pub more: bool,
}

impl StreamPage {
    /// Where the next page starts, when there is one.
    pub fn next_cursor(&self) -> Option<Cursor<StreamId>> {
        match self.streams.last() {
            Some(last) if self.more => Some(Cursor::after(last.stream_id.clone())),
            _ => None,
        }
    }
}

/// How a read-model write treats a stored row of the same version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplyMode {
    /// Live projection: only a newer event lands (repeats are no-ops).
    Projection,
    /// Replay: the same version lands again, so a replay re-materialises
    /// what the log says even over a row that claims to be up to date.
    Replay,
}

/// What became of one change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplyOutcome {
    Written,
    /// The stored row was newer (or as new, for a projection): left alone.
    Superseded,
}

/// A live item as the read model lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemView {
    pub item_id: ItemId,
    pub amount: Amount,
}

/// One page of a stream's live items.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ItemPage {
    /// Sorted by item id (UTF-8 byte order).
    pub items: Vec<ItemView>,
    /// Whether a live item sorts after the last one here.
    pub more: bool,
}

impl ItemPage {
    /// Where the next page starts, when there is one.
    pub fn next_cursor(&self) -> Option<Cursor> {
        match self.items.last() {
            Some(last) if self.more => Some(Cursor::after(last.item_id.clone())),
            _ => None,
        }
    }
}

/// A read-model row as stored, tombstones included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredItem {
    pub item_id: ItemId,
    /// The id of the event that set the row.
    pub version: EventId,
    pub state: ItemState,
}

/// The read model: per item, the state set by the latest event applied.
#[async_trait]
pub trait ReadModel: Send + Sync {
    /// Applies each change unless the stored row is newer; one result per
    /// change, in order. Writes of distinct items are independent.
    async fn apply(
        &self,
        changes: &[ItemChange],
        mode: ApplyMode,
    ) -> Vec<Result<ApplyOutcome, StoreError>>;

    /// A page of the stream's live items, sorted by item id, after
    /// `query.after`. Tombstones never appear, and expired ones cost
    /// nothing to skip.
    async fn list(&self, query: &ListQuery) -> Result<ItemPage, StoreError>;

    /// Up to `limit` stored rows of the stream, tombstones included, sorted
    /// by item id, after `after`: what a replay checks against the log.
    async fn rows(
        &self,
        stream_id: &StreamId,
        after: Option<&ItemId>,
        limit: usize,
    ) -> Result<Vec<StoredItem>, StoreError>;

    /// Removes the row of `item_id` if `version` is still the version that
    /// set it; says whether it did. A concurrent newer write is kept.
    async fn remove(
        &self,
        stream_id: &StreamId,
        item_id: &ItemId,
        version: EventId,
    ) -> Result<bool, StoreError>;
}

/// Durable positions of change-feed followers (local mode's projector).
#[async_trait]
pub trait Checkpoints: Send + Sync {
    async fn load(&self, name: &str) -> Result<Option<String>, StoreError>;
    async fn save(&self, name: &str, position: &str) -> Result<(), StoreError>;
}

/// A change-feed record the projector can never project (it does not
/// decode), kept where an operator sees it so that it blocks nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParkedRecord {
    /// Where the record came from, unique per record: its stream and
    /// sequence number, or its feed position.
    pub source: String,
    /// Why it cannot be projected.
    pub reason: String,
    /// The record as received (JSON), cut at [`PARKED_RECORD_MAX_BYTES`].
    pub record: String,
    /// Milliseconds, as the stores keep it.
    pub parked_at: DateTime<Utc>,
}

/// The most of a parked record's text a store keeps: a DynamoDB item
/// holds 400 KB, and the source is enough to find the whole record.
pub const PARKED_RECORD_MAX_BYTES: usize = 64 * 1024;

impl ParkedRecord {
    /// `record` cut to [`PARKED_RECORD_MAX_BYTES`] at a character boundary.
    pub fn new(
        source: impl Into<String>,
        reason: impl Into<String>,
        record: &str,
        parked_at: DateTime<Utc>,
    ) -> Self {
        let mut end = record.len().min(PARKED_RECORD_MAX_BYTES);
        while !record.is_char_boundary(end) {
            end -= 1;
        }
        ParkedRecord {
            source: source.into(),
            reason: reason.into(),
            record: record[..end].to_owned(),
            parked_at,
        }
    }
}

/// Records parked by the projector.
#[async_trait]
pub trait ParkedRecords: Send + Sync {
    /// Keeps `record`. Parking a source again (a redelivered batch) keeps
    /// the first record of it.
    async fn park(&self, record: &ParkedRecord) -> Result<(), StoreError>;

    /// Up to `limit` parked records whose source sorts after `after`, in
    /// source order.
    async fn parked(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ParkedRecord>, StoreError>;
}
