//! The `ReadModel` port: one row per (stream, item) with the version that
//! set it; a batch of changes is one transaction of conditional upserts,
//! deletes leave tombstones that expire (`expires_at`) and are purged in
//! bounded batches ([`SqliteStore::purge_expired_tombstones`]).
//!
//! Listing reads the partial index `read_model_live` (live rows only, with
//! their amount), so a page costs its own rows whatever number of
//! tombstones surrounds them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{
    ApplyMode, ApplyOutcome, EventId, ItemChange, ItemId, ItemPage, ItemView, ListQuery, ReadModel,
    StoreError, StoredItem, StreamId,
};
use rusqlite::{Connection, TransactionBehavior, params};

use super::codec::{
    ITEM_COLUMNS, ROW_COLUMNS, db_error, decode_item, decode_row, event_id_param,
    item_state_columns, sql_limit,
};
use super::{Inner, SqliteStore};

/// A read-model write that replaces a stored row only when `$wins` holds;
/// the two modes differ in that condition alone.
macro_rules! upsert_where {
    ($wins:literal) => {
        concat!(
            "
INSERT INTO read_model (stream_id, item_id, amount, version, deleted, expires_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)
ON CONFLICT (stream_id, item_id) DO UPDATE
SET amount = excluded.amount, version = excluded.version, deleted = excluded.deleted,
    expires_at = excluded.expires_at
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
            let expires_at = change.tombstone_expires_at().map(|at| at.timestamp());
            // The upsert's WHERE skips a newer stored row, and then reports 0
            // rows changed.
            let written = upsert
                .execute(params![
                    change.stream_id.as_str(),
                    change.item_id.as_str(),
                    amount,
                    event_id_param(change.version)?,
                    deleted,
                    expires_at
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

/// One page of a stream's live items: `?1` the stream, `?2` the id to
/// start after, `?3` how many. `INDEXED BY` makes the plan a range scan of
/// the partial index of live rows (or an error), never a walk through
/// tombstones; `deleted = 0` must stay in the WHERE clause for SQLite to
/// accept that index. BINARY collation: UTF-8 byte order, the order of Rust
/// strings.
fn list_sql() -> String {
    format!(
        "SELECT {ITEM_COLUMNS} FROM read_model INDEXED BY read_model_live
         WHERE stream_id = ?1 AND deleted = 0 AND item_id > ?2
         ORDER BY item_id LIMIT ?3"
    )
}

/// Deletes up to `?2` tombstones expired at `?1` (epoch seconds), oldest
/// first, found through the partial index of tombstones by expiry.
const PURGE: &str = "DELETE FROM read_model WHERE (stream_id, item_id) IN (
     SELECT stream_id, item_id FROM read_model INDEXED BY read_model_expiry
     WHERE deleted = 1 AND expires_at <= ?1 ORDER BY expires_at LIMIT ?2)";

fn list_blocking(conn: &Connection, query: &ListQuery) -> Result<ItemPage, StoreError> {
    let stream = query.stream_id.as_str();
    let limit = query.limit.get();
    let mut stmt = conn.prepare_cached(&list_sql()).map_err(db_error)?;
    // No cursor: after the empty string, which sorts before every item id
    // (ids are never empty).
    let after = query.after.as_ref().map_or("", ItemId::as_str);
    // One more than the page: whether it exists is `more`, exactly.
    let mut rows = stmt
        .query(params![stream, after, sql_limit(limit.saturating_add(1))])
        .map_err(db_error)?;
    let mut items: Vec<ItemView> = Vec::with_capacity(limit.min(64));
    let mut more = false;
    while let Some(row) = rows.next().map_err(db_error)? {
        if items.len() == limit {
            more = true;
            break;
        }
        items.push(decode_item(row, stream)?);
    }
    Ok(ItemPage { items, more })
}

fn rows_blocking(
    conn: &Connection,
    stream: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<StoredItem>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {ROW_COLUMNS} FROM read_model
             WHERE stream_id = ?1 AND item_id > ?2 ORDER BY item_id LIMIT ?3"
        ))
        .map_err(db_error)?;
    let mut rows = stmt
        .query(params![stream, after.unwrap_or(""), sql_limit(limit)])
        .map_err(db_error)?;
    let mut stored = Vec::new();
    while let Some(row) = rows.next().map_err(db_error)? {
        stored.push(decode_row(row, stream)?);
    }
    Ok(stored)
}

/// Deletes up to `limit` tombstones expired at `now`; how many it took.
impl SqliteStore {
    /// Deletes every tombstone expired at `now` (see
    /// [`ItemChange::tombstone_expires_at`]), [`PURGE_BATCH`](super::PURGE_BATCH) per
    /// transaction; returns how many it deleted. Readers never see the
    /// difference (listing skips tombstones anyway): this only gives the
    /// space back, and frees the item for an event of any version.
    pub async fn purge_expired_tombstones(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        self.purge_in_batches(PURGE, now).await
    }
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

    async fn list(&self, query: &ListQuery) -> Result<ItemPage, StoreError> {
        let query = query.clone();
        self.blocking(move |inner| inner.read(|conn| list_blocking(conn, &query)))
            .await
    }

    async fn rows(
        &self,
        stream_id: &StreamId,
        after: Option<&ItemId>,
        limit: usize,
    ) -> Result<Vec<StoredItem>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let stream = stream_id.as_str().to_owned();
        let after = after.map(|id| id.as_str().to_owned());
        self.blocking(move |inner| {
            inner.read(|conn| rows_blocking(conn, &stream, after.as_deref(), limit))
        })
        .await
    }

    async fn remove(
        &self,
        stream_id: &StreamId,
        item_id: &ItemId,
        version: EventId,
    ) -> Result<bool, StoreError> {
        let (stream, item) = (stream_id.as_str().to_owned(), item_id.as_str().to_owned());
        let version = event_id_param(version)?;
        self.blocking(move |inner| {
            // One statement, so the version check and the delete are atomic.
            let removed = inner
                .writer()?
                .prepare_cached(
                    "DELETE FROM read_model
                     WHERE stream_id = ?1 AND item_id = ?2 AND version = ?3",
                )
                .and_then(|mut stmt| stmt.execute(params![stream, item, version]))
                .map_err(db_error)?;
            Ok(removed > 0)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use crate::sqlite::PURGE_BATCH;
    use chrono::TimeDelta;
    use domain::limits::TOMBSTONE_RETENTION_SECS;
    use domain::{Amount, ItemState};

    use super::*;

    fn stream() -> StreamId {
        StreamId::parse("s", "streamId").unwrap()
    }

    fn change(item: &str, version: u64, amount: Option<u64>, at: DateTime<Utc>) -> ItemChange {
        ItemChange {
            stream_id: stream(),
            item_id: ItemId::parse(item, "itemId").unwrap(),
            version: EventId::new(version),
            state: match amount {
                Some(n) => ItemState::Live {
                    amount: Amount::new(n).unwrap(),
                },
                None => ItemState::Deleted,
            },
            recorded_at: at,
        }
    }

    async fn apply_one(store: &SqliteStore, change: ItemChange) -> ApplyOutcome {
        store.apply(&[change], ApplyMode::Projection).await[0]
            .clone()
            .unwrap()
    }

    fn long_ago() -> DateTime<Utc> {
        Utc::now() - TimeDelta::seconds(TOMBSTONE_RETENTION_SECS + 60)
    }

    #[tokio::test]
    async fn a_tombstone_expires_a_retention_after_its_event_not_its_write() {
        let store = SqliteStore::open_in_memory().unwrap();
        let deleted_at = long_ago();
        apply_one(&store, change("a", 3, None, deleted_at)).await;
        apply_one(&store, change("b", 1, Some(5), Utc::now())).await;
        let conn = store.inner.writer().unwrap();
        let expiries: Vec<Option<i64>> = conn
            .prepare("SELECT expires_at FROM read_model ORDER BY item_id")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            expiries,
            [
                Some(deleted_at.timestamp() + TOMBSTONE_RETENTION_SECS),
                None
            ]
        );
    }

    #[tokio::test]
    async fn an_expired_tombstone_is_purged_and_a_fresh_one_still_blocks_older_writes() {
        let store = SqliteStore::open_in_memory().unwrap();
        apply_one(&store, change("old", 7, None, long_ago())).await;
        apply_one(&store, change("new", 7, None, Utc::now())).await;
        apply_one(&store, change("live", 2, Some(1), long_ago())).await;
        // Before the purge, both tombstones stop an older event.
        assert_eq!(
            apply_one(&store, change("old", 1, Some(1), Utc::now())).await,
            ApplyOutcome::Superseded
        );
        assert_eq!(store.purge_expired_tombstones(Utc::now()).await, Ok(1));
        assert_eq!(store.purge_expired_tombstones(Utc::now()).await, Ok(0));
        let rows = store.rows(&stream(), None, 10).await.unwrap();
        let ids: Vec<&str> = rows.iter().map(|row| row.item_id.as_str()).collect();
        assert_eq!(ids, ["live", "new"], "an old live row is never purged");
        // The expired one is gone: a live write of any version lands.
        assert_eq!(
            apply_one(&store, change("old", 0, Some(4), Utc::now())).await,
            ApplyOutcome::Written
        );
        // The fresh one still stops an older event, and then lists nothing.
        assert_eq!(
            apply_one(&store, change("new", 6, Some(4), Utc::now())).await,
            ApplyOutcome::Superseded
        );
        let page = store.list(&ListQuery::first_page(stream())).await.unwrap();
        let listed: Vec<&str> = page.items.iter().map(|v| v.item_id.as_str()).collect();
        assert_eq!(listed, ["live", "old"]);
        // A purge at a later instant takes the fresh one too.
        let later = Utc::now() + TimeDelta::seconds(TOMBSTONE_RETENTION_SECS + 1);
        assert_eq!(store.purge_expired_tombstones(later).await, Ok(1));
    }

    #[tokio::test]
    async fn the_purge_works_in_bounded_batches_until_none_is_left() {
        let store = SqliteStore::open_in_memory().unwrap();
        let count = 2 * PURGE_BATCH + 7;
        let changes: Vec<ItemChange> = (0..count)
            .map(|i| change(&format!("d{i}"), i as u64, None, long_ago()))
            .collect();
        store.apply(&changes, ApplyMode::Projection).await;
        assert_eq!(store.purge_expired_tombstones(Utc::now()).await, Ok(count));
        assert!(store.rows(&stream(), None, 10).await.unwrap().is_empty());
    }

    /// The query plans: a page is a range scan of the live rows' covering
    /// index, never a walk through tombstones; the purge finds expired
    /// tombstones through their own index and deletes each by its key.
    #[test]
    fn listing_reads_only_the_live_index_and_the_purge_only_tombstones() {
        let store = SqliteStore::open_in_memory().unwrap();
        let conn = store.inner.writer().unwrap();
        let plan = |sql: &str, params: &[&dyn rusqlite::ToSql]| -> String {
            conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map(params, |row| row.get::<_, String>(3))
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap()
                .join("; ")
        };
        let list = plan(&list_sql(), &[&"s", &"a", &10]);
        assert!(
            list.contains("USING COVERING INDEX read_model_live (stream_id=? AND item_id>?)"),
            "{list}"
        );
        assert!(!list.contains("TEMP B-TREE"), "no sort: {list}");
        let purge = plan(PURGE, &[&0, &10]);
        assert!(
            purge.contains("read_model_expiry (expires_at<?)"),
            "{purge}"
        );
        assert!(purge.contains("USING PRIMARY KEY"), "{purge}");
        assert!(!purge.contains("SCAN read_model"), "{purge}");
    }
}
