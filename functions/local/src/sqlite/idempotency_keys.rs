//! The keys of idempotent appends: read and written inside the append's
//! transaction (`event_store`), and purged in bounded batches once
//! expired ([`SqliteStore::purge_expired_idempotency_keys`]).

use chrono::{DateTime, Utc};
use domain::event::{format_timestamp, parse_timestamp};
use domain::{EventId, Fingerprint, IdempotencyKey, RememberedAppend, StoreError, StreamId};
use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteStore;
use super::codec::{db_error, event_id_param};

const PURGE: &str = "DELETE FROM idempotency_keys WHERE key IN (
     SELECT key FROM idempotency_keys INDEXED BY idempotency_keys_expiry
     WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2)";

/// What `tx` holds under `key`, expired or not.
pub(super) fn remembered(
    tx: &Connection,
    key: &IdempotencyKey,
) -> Result<Option<RememberedAppend>, StoreError> {
    let row: Option<(String, String, i64, String, i64)> = tx
        .prepare_cached(
            "SELECT fingerprint, stream_id, event_id, recorded_at, expires_at
             FROM idempotency_keys WHERE key = ?1",
        )
        .and_then(|mut stmt| {
            stmt.query_row([key.as_str()], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                ))
            })
            .optional()
        })
        .map_err(db_error)?;
    let Some((fingerprint, stream_id, event_id, recorded_at, expires_at)) = row else {
        return Ok(None);
    };
    let corrupt =
        |problem: String| StoreError::Corrupt(format!("the idempotency key {key:?}: {problem}"));
    Ok(Some(RememberedAppend {
        fingerprint: Fingerprint::from_hex(&fingerprint)
            .ok_or_else(|| corrupt(format!("fingerprint {fingerprint:?} is not SHA-256 hex")))?,
        stream_id: StreamId::parse(stream_id, "stream_id").map_err(|err| corrupt(err.message))?,
        event_id: u64::try_from(event_id)
            .map(EventId::new)
            .map_err(|_| corrupt(format!("negative event id {event_id}")))?,
        recorded_at: parse_timestamp(&recorded_at)
            .ok_or_else(|| corrupt(format!("recorded_at {recorded_at:?} is not RFC 3339")))?,
        expires_at: DateTime::from_timestamp(expires_at, 0)
            .ok_or_else(|| corrupt(format!("expires_at {expires_at} is out of range")))?,
    }))
}

/// Keeps `remembered` under `key`, over an expired row if there is one.
pub(super) fn remember(
    tx: &Connection,
    key: &IdempotencyKey,
    remembered: &RememberedAppend,
) -> Result<(), StoreError> {
    let event_id = event_id_param(remembered.event_id)?;
    tx.prepare_cached(
        "INSERT OR REPLACE INTO idempotency_keys
             (key, fingerprint, stream_id, event_id, recorded_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            key.as_str(),
            remembered.fingerprint.to_hex(),
            remembered.stream_id.as_str(),
            event_id,
            format_timestamp(remembered.recorded_at),
            remembered.expires_at.timestamp(),
        ])
    })
    .map_err(db_error)?;
    Ok(())
}

impl SqliteStore {
    /// Deletes the keys expired at `now`, in bounded batches; returns how
    /// many went. A key is read as absent once expired anyway, so this only
    /// reclaims space.
    pub async fn purge_expired_idempotency_keys(
        &self,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        self.purge_in_batches(PURGE, now).await
    }
}

#[cfg(test)]
mod tests {
    use domain::{Amount, AppendCommand, DomainEvent, EventStore, ItemId};

    use super::*;

    fn keyed_create(stream: &str, key: &str) -> AppendCommand {
        AppendCommand::new(
            StreamId::parse(stream, "streamId").unwrap(),
            DomainEvent::ItemCreated {
                item_id: ItemId::parse("a", "itemId").unwrap(),
                amount: Amount::new(1).unwrap(),
            },
            None,
        )
        .with_idempotency_key(IdempotencyKey::parse(key).unwrap())
    }

    fn keys(store: &SqliteStore) -> Vec<String> {
        let conn = store.inner.writer().unwrap();
        let mut stmt = conn
            .prepare("SELECT key FROM idempotency_keys ORDER BY key")
            .unwrap();
        stmt.query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[tokio::test]
    async fn the_purge_takes_expired_keys_only() {
        let store = SqliteStore::open_in_memory().unwrap();
        let now = Utc::now();
        let two_days_ago = now - chrono::Duration::days(2);
        store
            .append(&keyed_create("old", "old-key"), two_days_ago)
            .await
            .unwrap();
        store
            .append(&keyed_create("new", "new-key"), now)
            .await
            .unwrap();
        assert_eq!(keys(&store), ["new-key", "old-key"]);
        assert_eq!(store.purge_expired_idempotency_keys(now).await, Ok(1));
        assert_eq!(keys(&store), ["new-key"]);
        assert_eq!(store.purge_expired_idempotency_keys(now).await, Ok(0));
    }
}
