//! The change feed local mode's projector follows: the events of every
//! stream in commit order (`seq`) and the position of the last commit.
//! Entries that cannot be projected are parked (`parked`).

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
}
