//! The change feed local mode's projector follows: the events of every
//! stream in commit order (`seq`), the position of the last commit, and the
//! entries parked because they cannot be projected.

use chrono::Utc;
use domain::event::format_timestamp;
use domain::{RecordedEvent, StoreError};
use rusqlite::params;
use tokio::sync::watch;

use super::SqliteStore;
use super::codec::{EVENT_COLUMNS, db_error, decode_event, sql_limit};

/// One row of the change feed: its position and the event, decoded on its
/// own so that one corrupt row can be parked without blocking the others.
#[derive(Debug)]
pub struct FeedEntry {
    pub seq: i64,
    pub event: Result<RecordedEvent, StoreError>,
}

impl SqliteStore {
    /// Up to `limit` events of every stream committed after `after_seq`, in
    /// commit order.
    pub async fn read_feed(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<FeedEntry>, StoreError> {
        self.blocking(move |inner| {
            inner.read(|conn| {
                let mut stmt = conn
                    .prepare_cached(&format!(
                        "SELECT {EVENT_COLUMNS} FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2"
                    ))
                    .map_err(db_error)?;
                let mut rows = stmt
                    .query(params![after_seq, sql_limit(limit)])
                    .map_err(db_error)?;
                let mut entries = Vec::new();
                while let Some(row) = rows.next().map_err(db_error)? {
                    let seq: i64 = row.get(0).map_err(db_error)?;
                    entries.push(FeedEntry {
                        seq,
                        event: decode_event(row),
                    });
                }
                Ok(entries)
            })
        })
        .await
    }

    /// The seq of the last committed event (0 for an empty log), updated
    /// after every successful append so a follower can wait for new events.
    pub fn feed_position(&self) -> watch::Receiver<i64> {
        self.inner.feed.subscribe()
    }

    /// Records that the feed entry at `seq` cannot be projected, and why, so
    /// the follower can move past it and the problem stays visible. Parking
    /// the same seq again keeps its first time and updates the reason.
    pub async fn park_poisoned(&self, seq: i64, reason: &str) -> Result<(), StoreError> {
        let reason = reason.to_owned();
        let parked_at = format_timestamp(Utc::now());
        self.blocking(move |inner| {
            let conn = inner.writer()?;
            conn.execute(
                "INSERT INTO poisoned (seq, reason, parked_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (seq) DO UPDATE SET reason = excluded.reason",
                params![seq, reason, parked_at],
            )
            .map_err(db_error)?;
            Ok(())
        })
        .await
    }

    /// The parked feed entries, by seq.
    pub async fn poisoned(&self) -> Result<Vec<(i64, String)>, StoreError> {
        self.blocking(|inner| {
            inner.read(|conn| {
                let mut stmt = conn
                    .prepare_cached("SELECT seq, reason FROM poisoned ORDER BY seq")
                    .map_err(db_error)?;
                let rows = stmt
                    .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                    .map_err(db_error)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(db_error)
            })
        })
        .await
    }
}
