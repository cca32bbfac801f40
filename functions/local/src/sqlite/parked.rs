//! The `ParkedRecords` port: feed entries (or stream records) the
//! projector can never project, by source.

use async_trait::async_trait;
use domain::event::{format_timestamp, parse_timestamp};
use domain::{ParkedRecord, ParkedRecords, StoreError};
use rusqlite::params;

use super::SqliteStore;
use super::codec::{db_error, sql_limit};

/// The source of the feed entry at `seq`: sorts as the feed does.
pub fn feed_source(seq: i64) -> String {
    format!("feed:{seq:020}")
}

#[async_trait]
impl ParkedRecords for SqliteStore {
    async fn park(&self, record: &ParkedRecord) -> Result<(), StoreError> {
        let record = record.clone();
        self.blocking(move |inner| {
            inner
                .writer()?
                .prepare_cached(
                    "INSERT INTO parked_records (source, reason, record, parked_at)
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (source) DO NOTHING",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        record.source,
                        record.reason,
                        record.record,
                        format_timestamp(record.parked_at)
                    ])
                })
                .map_err(db_error)?;
            Ok(())
        })
        .await
    }

    async fn parked(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ParkedRecord>, StoreError> {
        let after = after.map(str::to_owned);
        self.blocking(move |inner| {
            inner.read(|conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT source, reason, record, parked_at FROM parked_records
                         WHERE ?1 IS NULL OR source > ?1 ORDER BY source LIMIT ?2",
                    )
                    .map_err(db_error)?;
                let rows = stmt
                    .query_map(params![after, sql_limit(limit)], |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, String>(2)?,
                            row.get::<_, String>(3)?,
                        ))
                    })
                    .map_err(db_error)?;
                let mut parked = Vec::new();
                for row in rows {
                    let (source, reason, record, parked_at) = row.map_err(db_error)?;
                    let parked_at = parse_timestamp(&parked_at).ok_or_else(|| {
                        StoreError::Corrupt(format!(
                            "parked record {source:?}: parked_at {parked_at:?} is not RFC 3339"
                        ))
                    })?;
                    parked.push(ParkedRecord {
                        source,
                        reason,
                        record,
                        parked_at,
                    });
                }
                Ok(parked)
            })
        })
        .await
    }
}
