//! The storage ports. Each has two adapters (DynamoDB, embedded SQLite) and
//! one conformance suite (the `testkit` crate) that both must pass.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::event::{Amount, RecordedEvent};
use crate::ids::{EventId, ItemId, StreamId};
use crate::projection::ItemChange;
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

    /// The live items of a stream, sorted by item id.
    async fn list(&self, stream_id: &StreamId) -> Result<Vec<ItemView>, StoreError>;

    /// Forgets everything about a stream (before a replay from 0).
    async fn clear(&self, stream_id: &StreamId) -> Result<(), StoreError>;
}

/// Durable positions of change-feed followers (local mode's projector).
#[async_trait]
pub trait Checkpoints: Send + Sync {
    async fn load(&self, name: &str) -> Result<Option<String>, StoreError>;
    async fn save(&self, name: &str, position: &str) -> Result<(), StoreError>;
}
