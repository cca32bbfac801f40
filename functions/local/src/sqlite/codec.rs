//! Rows in and out of SQLite: event and read-model rows decoded into domain
//! values (a bad row is `Corrupt` and named), numbers bound as SQLite's
//! i64, and how `rusqlite` errors become `StoreError`s.

use std::fmt;
use std::path::Path;

use domain::event::parse_timestamp;
use domain::{
    DomainEvent, EventId, EventMetadata, ItemId, ItemState, ItemView, RecordedEvent, StoreError,
    StoredItem, StreamId,
};
use rusqlite::Row;

/// The columns every event query selects, in the order [`decode_event`] reads.
pub(super) const EVENT_COLUMNS: &str =
    "seq, stream_id, event_id, item_id, type, data, recorded_at, metadata";

/// The columns a read-model listing selects, in the order [`decode_item`] reads.
pub(super) const ITEM_COLUMNS: &str = "item_id, amount";

/// The columns a read-model row query selects, in the order [`decode_row`] reads.
pub(super) const ROW_COLUMNS: &str = "item_id, version, deleted, amount";

pub(super) fn open_error(path: &Path, err: rusqlite::Error) -> StoreError {
    match db_error(err) {
        StoreError::Unavailable(msg) => {
            StoreError::Unavailable(format!("cannot open {}: {msg}", path.display()))
        }
        other => other,
    }
}

pub(super) fn db_error(err: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode as Code;
    match err.sqlite_error_code() {
        Some(Code::DatabaseCorrupt | Code::NotADatabase) => {
            StoreError::Corrupt(format!("SQLite: {err}"))
        }
        // Only another process (or the checkpointer) can hold the lock past
        // the busy timeout: our own writes are serialised by the mutex.
        Some(Code::DatabaseBusy | Code::DatabaseLocked) => {
            StoreError::Contention(format!("SQLite is busy: {err}"))
        }
        _ => StoreError::Unavailable(format!("SQLite: {err}")),
    }
}

/// SQLite's LIMIT is an i64; anything larger means "no limit".
pub(super) fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

pub(super) fn event_id_param(id: EventId) -> Result<i64, StoreError> {
    i64::try_from(id.get())
        .map_err(|_| StoreError::Unavailable(format!("event id {id} does not fit SQLite")))
}

/// Decodes a row selected with [`EVENT_COLUMNS`]; any failure is `Corrupt`
/// and names the row.
pub(super) fn decode_event(row: &Row<'_>) -> Result<RecordedEvent, StoreError> {
    let mut recorded = decode_event_before_metadata(row)?;
    let bad = |what: String| {
        corrupt_row(
            recorded.stream_id.as_str(),
            &recorded.event_id.to_string(),
            what,
        )
    };
    let metadata = match row.get::<_, Option<String>>(7) {
        Err(err) => return Err(bad(err.to_string())),
        Ok(None) => EventMetadata::default(),
        Ok(Some(text)) => {
            let value: serde_json::Value = serde_json::from_str(&text)
                .map_err(|err| bad(format!("metadata is not JSON: {err}")))?;
            EventMetadata::from_json(&value, "metadata").map_err(|err| bad(err.to_string()))?
        }
    };
    recorded.metadata = metadata;
    Ok(recorded)
}

/// Decodes the columns of [`EVENT_COLUMNS`] up to `recorded_at`, as the
/// events table had them before version 8 (what migration 7 reads).
pub(super) fn decode_event_before_metadata(row: &Row<'_>) -> Result<RecordedEvent, StoreError> {
    let seq: i64 = row.get(0).map_err(|err| corrupt_row("?", "?", err))?;
    let stream: String = row.get(1).map_err(|err| corrupt_seq(seq, err))?;
    let raw_id: i64 = row.get(2).map_err(|err| corrupt_seq(seq, err))?;
    let bad = |what: String| corrupt_row(&stream, &raw_id.to_string(), what);
    let item: String = row.get(3).map_err(|err| bad(err.to_string()))?;
    let type_name: String = row.get(4).map_err(|err| bad(err.to_string()))?;
    let data: String = row.get(5).map_err(|err| bad(err.to_string()))?;
    let recorded_at: String = row.get(6).map_err(|err| bad(err.to_string()))?;

    let stream_id =
        StreamId::parse(stream.as_str(), "streamId").map_err(|err| bad(err.to_string()))?;
    let event_id = u64::try_from(raw_id)
        .map(EventId::new)
        .map_err(|_| bad("negative event id".into()))?;
    let data: serde_json::Value =
        serde_json::from_str(&data).map_err(|err| bad(format!("data is not JSON: {err}")))?;
    let event = DomainEvent::from_wire(&type_name, &data).map_err(|err| bad(err.to_string()))?;
    // The item column drives the stream rules; it must agree with the data.
    if event.item_id().as_str() != item {
        return Err(bad(format!(
            "item_id column `{item}` disagrees with data.itemId `{}`",
            event.item_id()
        )));
    }
    let recorded_at = parse_timestamp(&recorded_at)
        .ok_or_else(|| bad(format!("recorded_at `{recorded_at}` is not RFC 3339")))?;
    Ok(RecordedEvent {
        stream_id,
        event_id,
        recorded_at,
        event,
        metadata: EventMetadata::default(),
    })
}

pub(super) fn corrupt_row(stream: &str, event_id: &str, what: impl fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("stream `{stream}` event {event_id}: {what}"))
}

fn corrupt_seq(seq: i64, what: impl fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("event at seq {seq}: {what}"))
}

/// An item's state as the read model's `amount` and `deleted` columns.
pub(super) fn item_state_columns(state: &ItemState) -> Result<(Option<i64>, bool), StoreError> {
    let (amount, deleted) = match state {
        ItemState::Live { amount } => (Some(amount.get()), false),
        ItemState::Deleted => (None, true),
    };
    let amount = amount
        .map(i64::try_from)
        .transpose()
        .map_err(|_| StoreError::Unavailable("an amount does not fit SQLite".into()))?;
    Ok((amount, deleted))
}

/// Decodes a live read-model row of `stream` selected with [`ITEM_COLUMNS`];
/// any failure is `Corrupt` and names the stream.
pub(super) fn decode_item(row: &Row<'_>, stream: &str) -> Result<ItemView, StoreError> {
    let bad = |what: String| StoreError::Corrupt(format!("read model of `{stream}`: {what}"));
    let item: String = row.get(0).map_err(|err| bad(err.to_string()))?;
    let amount: Option<i64> = row.get(1).map_err(|err| bad(err.to_string()))?;
    let item_id = ItemId::parse(item.as_str(), "itemId").map_err(|err| bad(err.to_string()))?;
    let amount = amount
        .and_then(|raw| u64::try_from(raw).ok())
        .and_then(domain::Amount::new)
        .ok_or_else(|| bad(format!("item `{item}` has amount {amount:?}")))?;
    Ok(ItemView { item_id, amount })
}

/// Decodes a stored read-model row of `stream` selected with
/// [`ROW_COLUMNS`], tombstone or live; any failure is `Corrupt` and names
/// the stream.
pub(super) fn decode_row(row: &Row<'_>, stream: &str) -> Result<StoredItem, StoreError> {
    let bad = |what: String| StoreError::Corrupt(format!("read model of `{stream}`: {what}"));
    let item: String = row.get(0).map_err(|err| bad(err.to_string()))?;
    let version: i64 = row.get(1).map_err(|err| bad(err.to_string()))?;
    let deleted: bool = row.get(2).map_err(|err| bad(err.to_string()))?;
    let item_id = ItemId::parse(item.as_str(), "itemId").map_err(|err| bad(err.to_string()))?;
    let version = u64::try_from(version)
        .map(EventId::new)
        .map_err(|_| bad(format!("item `{item}` has version {version}")))?;
    let state = if deleted {
        ItemState::Deleted
    } else {
        let amount: Option<i64> = row.get(3).map_err(|err| bad(err.to_string()))?;
        let amount = amount
            .and_then(|raw| u64::try_from(raw).ok())
            .and_then(domain::Amount::new)
            .ok_or_else(|| bad(format!("item `{item}` has amount {amount:?}")))?;
        ItemState::Live { amount }
    };
    Ok(StoredItem {
        item_id,
        version,
        state,
    })
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;

    fn decode_item_of(item: &str, amount: Option<i64>) -> Result<ItemView, StoreError> {
        let conn = Connection::open_in_memory().unwrap();
        conn.query_row("SELECT ?1, ?2", rusqlite::params![item, amount], |row| {
            Ok(decode_item(row, "s"))
        })
        .unwrap()
    }

    #[test]
    fn an_item_row_decodes_and_a_bad_one_is_corrupt_and_named() {
        let view = decode_item_of("a", Some(7)).unwrap();
        assert_eq!((view.item_id.as_str(), view.amount.get()), ("a", 7));
        for (item, amount) in [("a", Some(-1)), ("a", None), ("", Some(1))] {
            match decode_item_of(item, amount) {
                Err(StoreError::Corrupt(message)) => {
                    assert!(message.starts_with("read model of `s`: "), "{message}")
                }
                other => panic!("expected Corrupt for ({item:?}, {amount:?}), got {other:?}"),
            }
        }
    }

    #[test]
    fn an_item_state_is_an_amount_or_a_tombstone() {
        let amount = domain::Amount::new(5).unwrap();
        assert_eq!(
            item_state_columns(&ItemState::Live { amount }),
            Ok((Some(5), false))
        );
        assert_eq!(item_state_columns(&ItemState::Deleted), Ok((None, true)));
    }
}
