//! Rows in and out of SQLite: event rows decoded into domain values (a bad
//! row is `Corrupt` and named), numbers bound as SQLite's i64, and how
//! `rusqlite` errors become `StoreError`s.

use std::fmt;
use std::path::Path;

use domain::event::parse_timestamp;
use domain::{DomainEvent, EventId, RecordedEvent, StoreError, StreamId};
use rusqlite::Row;

/// The columns every event query selects, in the order [`decode_event`] reads.
pub(super) const EVENT_COLUMNS: &str = "seq, stream_id, event_id, item_id, type, data, recorded_at";

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
    })
}

pub(super) fn corrupt_row(stream: &str, event_id: &str, what: impl fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("stream `{stream}` event {event_id}: {what}"))
}

fn corrupt_seq(seq: i64, what: impl fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("event at seq {seq}: {what}"))
}
