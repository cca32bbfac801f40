//! The `ReadModel` port: one row per (stream, item) with the version that
//! set it; a batch of changes is one transaction of conditional upserts,
//! deletes leave tombstones.

use async_trait::async_trait;
use domain::{
    ApplyMode, ApplyOutcome, EventId, ItemChange, ItemId, ItemPage, ItemView, ListQuery, ReadModel,
    StoreError, StoredItem, StreamId,
};
use rusqlite::{Connection, TransactionBehavior, params};

use super::codec::{ITEM_COLUMNS, db_error, decode_item, event_id_param, item_state_columns};
use super::{Inner, SqliteStore};

/// A read-model write that replaces a stored row only when `$wins` holds;
/// the two modes differ in that condition alone.
macro_rules! upsert_where {
    ($wins:literal) => {
        concat!(
            "
INSERT INTO read_model (stream_id, item_id, amount, version, deleted)
VALUES (?1, ?2, ?3, ?4, ?5)
ON CONFLICT (stream_id, item_id) DO UPDATE
SET amount = excluded.amount, version = excluded.version, deleted = excluded.deleted
WHERE ",
            $wins
        )
    };
}

/// A read-model write that lands only over an older row (live projection).
const UPSERT_PROJECTION: &str = upsert_where!("read_model.version < excluded.version");

/// A read-model write that also lands over a row of the same version (replay).
const UPSERT_REPLAY: &str = upsert_where!("read_model.version <= excluded.version");

fn apply_blocking(
    inner: &Inner,
    changes: &[ItemChange],
    mode: ApplyMode,
) -> Result<Vec<ApplyOutcome>, StoreError> {
    let mut conn = inner.writer()?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_error)?;
    let mut outcomes = Vec::with_capacity(changes.len());
    {
        let mut upsert = tx
            .prepare_cached(match mode {
                ApplyMode::Projection => UPSERT_PROJECTION,
                ApplyMode::Replay => UPSERT_REPLAY,
            })
            .map_err(db_error)?;
        for change in changes {
            let (amount, deleted) = item_state_columns(&change.state)?;
            // The upsert's WHERE skips a newer stored row, and then reports 0
            // rows changed.
            let written = upsert
                .execute(params![
                    change.stream_id.as_str(),
                    change.item_id.as_str(),
                    amount,
                    event_id_param(change.version)?,
                    deleted
                ])
                .map_err(db_error)?;
            outcomes.push(if written > 0 {
                ApplyOutcome::Written
            } else {
                ApplyOutcome::Superseded
            });
        }
    }
    tx.commit().map_err(db_error)?;
    Ok(outcomes)
}

fn list_blocking(conn: &Connection, stream: &str) -> Result<Vec<ItemView>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            // BINARY collation: UTF-8 byte order, the order of Rust strings.
            "SELECT {ITEM_COLUMNS} FROM read_model
             WHERE stream_id = ?1 AND deleted = 0 ORDER BY item_id"
        ))
        .map_err(db_error)?;
    let mut rows = stmt.query([stream]).map_err(db_error)?;
    let mut items = Vec::new();
    while let Some(row) = rows.next().map_err(db_error)? {
        items.push(decode_item(row, stream)?);
    }
    Ok(items)
}

#[async_trait]
impl ReadModel for SqliteStore {
    async fn apply(
        &self,
        changes: &[ItemChange],
        mode: ApplyMode,
    ) -> Vec<Result<ApplyOutcome, StoreError>> {
        if changes.is_empty() {
            return Vec::new();
        }
        let owned = changes.to_vec();
        match self
            .blocking(move |inner| apply_blocking(inner, &owned, mode))
            .await
        {
            Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
            // One transaction: if it failed, no change landed.
            Err(err) => changes.iter().map(|_| Err(err.clone())).collect(),
        }
    }

    async fn list(&self, _query: &ListQuery) -> Result<ItemPage, StoreError> {
        unimplemented!("paged listing on SQLite")
    }

    async fn rows(
        &self,
        _stream_id: &StreamId,
        _after: Option<&ItemId>,
        _limit: usize,
    ) -> Result<Vec<StoredItem>, StoreError> {
        unimplemented!("rows on SQLite")
    }

    async fn remove(
        &self,
        _stream_id: &StreamId,
        _item_id: &ItemId,
        _version: EventId,
    ) -> Result<bool, StoreError> {
        unimplemented!("remove on SQLite")
    }
}
