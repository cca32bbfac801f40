//! The SQLite schema: the tables and the migrations that create and
//! evolve them, versioned with `PRAGMA user_version`.
//!
//! Each migration takes a database from its index's version to the next, in
//! one transaction with the version bump, so a crash mid-way leaves the old
//! version whole. A migration, once released, is never edited: a new
//! schema is a new entry at the end.

use chrono::Utc;
use domain::limits::TOMBSTONE_RETENTION_SECS;
use domain::{RecordedEvent, StoreError};
use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::codec::{db_error, decode_event_before_metadata};

/// The schema version this code writes (`PRAGMA user_version`).
pub(super) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// What takes a database from version `i` to `i + 1`.
type Migration = fn(&Transaction<'_>) -> Result<(), rusqlite::Error>;

const MIGRATIONS: [Migration; 8] = [
    v1_tables,
    v2_tombstone_expiry,
    v3_replay_jobs,
    v4_idempotency_keys,
    v5_parked_records,
    v6_streams_and_held_lanes,
    v7_stream_items,
    v8_event_metadata,
];

/// Version 1: the event log, the read model, checkpoints, parked records.
fn v1_tables(tx: &Transaction<'_>) -> Result<(), rusqlite::Error> {
    tx.execute_batch(
        "
CREATE TABLE IF NOT EXISTS events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    stream_id   TEXT NOT NULL,
    event_id    INTEGER NOT NULL,
    item_id     TEXT NOT NULL,
    type        TEXT NOT NULL,
    data        TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    UNIQUE (stream_id, event_id)
);
CREATE INDEX IF NOT EXISTS events_by_item ON events (stream_id, item_id, event_id);
CREATE TABLE IF NOT EXISTS read_model (
    stream_id TEXT NOT NULL,
    item_id   TEXT NOT NULL,
    amount    INTEGER NULL,
    version   INTEGER NOT NULL,
    deleted   INTEGER NOT NULL,
    PRIMARY KEY (stream_id, item_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
    name     TEXT PRIMARY KEY,
    position TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS poisoned (
    seq       INTEGER PRIMARY KEY,
    reason    TEXT NOT NULL,
    parked_at TEXT NOT NULL
);
",
    )
}

/// Version 2: tombstones expire, and listing never walks them.
///
/// - `expires_at` (epoch seconds; NULL on a live row): when a tombstone may
///   be purged. Tombstones from version 1 never knew their event's time, so
///   they get the whole retention from now: never earlier than their due.
/// - `read_model_live`: the live rows of a stream in item order, with their
///   amount, so a page is one range scan of this index alone, however many
///   tombstones the stream holds.
/// - `read_model_expiry`: the tombstones by expiry, for the purge.
fn v2_tombstone_expiry(tx: &Transaction<'_>) -> Result<(), rusqlite::Error> {
    tx.execute_batch(
        "
ALTER TABLE read_model ADD COLUMN expires_at INTEGER NULL;
CREATE INDEX read_model_live ON read_model (stream_id, item_id, amount) WHERE deleted = 0;
CREATE INDEX read_model_expiry ON read_model (expires_at) WHERE deleted = 1;
",
    )?;
    tx.execute(
        "UPDATE read_model SET expires_at = ?1 WHERE deleted = 1",
        [Utc::now().timestamp() + TOMBSTONE_RETENTION_SECS],
    )?;
    Ok(())
}

/// Version 3: replay jobs and the per-stream lanes that order them.
///
/// - `replay_lanes`: a stream's lane as JSON, with the revision a
///   conditional commit must find.
/// - `replay_jobs`: a job as JSON; `expires_at` (epoch seconds) is when
///   the purge may drop it, found through `replay_jobs_expiry`.
fn v3_replay_jobs(tx: &Transaction<'_>) -> Result<(), rusqlite::Error> {
    tx.execute_batch(
        "
CREATE TABLE replay_lanes (
    stream_id TEXT PRIMARY KEY,
    revision  INTEGER NOT NULL,
    body      TEXT NOT NULL
);
CREATE TABLE replay_jobs (
    replay_id  TEXT PRIMARY KEY,
    body       TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX replay_jobs_expiry ON replay_jobs (expires_at);
",
    )
}

/// Version 4: the keys of idempotent appends.
///
/// - `idempotency_keys`: per key, the fingerprint of the request it named
///   (SHA-256 hex) and the event that request appended; `expires_at`
///   (epoch seconds) is when the key is forgotten, found for the purge
///   through `idempotency_keys_expiry`.
fn v4_idempotency_keys(tx: &Transaction<'_>) -> Result<(), rusqlite::Error> {
    tx.execute_batch(
        "
CREATE TABLE idempotency_keys (
    key         TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    stream_id   TEXT NOT NULL,
    event_id    INTEGER NOT NULL,
    recorded_at TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
",
    )
}

/// Version 5: parked records keyed by their source, with their text, in
/// place of `poisoned` (keyed by feed seq). A feed entry's source is
/// `feed:` and its seq zero-padded to 20 digits, so sources sort as the
/// feed does; its text is the events row, still at that seq.
fn v5_parked_records(tx: &Transaction<'_>) -> Result<(), rusqlite::Error> {
    tx.execute_batch(
        "
CREATE TABLE parked_records (
    source    TEXT PRIMARY KEY,
    reason    TEXT NOT NULL,
    record    TEXT NOT NULL,
    parked_at TEXT NOT NULL
);
INSERT INTO parked_records (source, reason, record, parked_at)
    SELECT 'feed:' || printf('%020d', seq), reason, '', parked_at FROM poisoned;
DROP TABLE poisoned;
",
    )
}

/// Version 6: the list of streams (each with its version and last write,
/// filled from the log), which appends keep from now on; and which replay
/// lanes hold a running replay, for the sweep.
fn v6_streams_and_held_lanes(tx: &Transaction<'_>) -> Result<(), rusqlite::Error> {
    tx.execute_batch(
        "
CREATE TABLE streams (
    stream_id  TEXT PRIMARY KEY,
    version    INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);
INSERT INTO streams (stream_id, version, updated_at)
    SELECT events.stream_id, events.event_id, events.recorded_at
    FROM events
    JOIN (SELECT stream_id, MAX(event_id) AS last FROM events GROUP BY stream_id) AS heads
      ON events.stream_id = heads.stream_id AND events.event_id = heads.last;
ALTER TABLE replay_lanes ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
UPDATE replay_lanes SET held = (json_extract(body, '$.running') IS NOT NULL);
CREATE INDEX replay_lanes_held ON replay_lanes (stream_id) WHERE held = 1;
",
    )
}

/// Version 7: whether each item of a stream is live (`stream_items`, as
/// DynamoDB's stream index keeps it in its item rows), which appends write
/// with each event and decide on from now on. Filled from the log, each
/// item's flag from its latest event by `DomainEvent::item_state_after`,
/// in Rust, as an append sets it. An event that does not decode counts for
/// nothing: the projector parked it, so the read model never showed it.
fn v7_stream_items(tx: &Transaction<'_>) -> Result<(), rusqlite::Error> {
    tx.execute_batch(
        "
CREATE TABLE stream_items (
    stream_id TEXT NOT NULL,
    item_id   TEXT NOT NULL,
    live      INTEGER NOT NULL,
    PRIMARY KEY (stream_id, item_id)
) WITHOUT ROWID;
",
    )?;
    let mut insert =
        tx.prepare("INSERT INTO stream_items (stream_id, item_id, live) VALUES (?1, ?2, ?3)")?;
    // In item order (the `events_by_item` index), so each item's latest
    // event is the last of its run.
    let mut select = tx.prepare(
        "SELECT seq, stream_id, event_id, item_id, type, data, recorded_at FROM events
         ORDER BY stream_id, item_id, event_id",
    )?;
    let mut rows = select.query([])?;
    let mut latest: Option<RecordedEvent> = None;
    while let Some(row) = rows.next()? {
        let Ok(recorded) = decode_event_before_metadata(row) else {
            continue;
        };
        if let Some(done) = latest.take_if(|kept| !same_item(kept, &recorded)) {
            insert_item(&mut insert, &done)?;
        }
        latest = Some(recorded);
    }
    if let Some(done) = latest {
        insert_item(&mut insert, &done)?;
    }
    Ok(())
}

/// Version 8: each event's metadata, as its compact JSON; NULL for an
/// event with none (every event before this version).
fn v8_event_metadata(tx: &Transaction<'_>) -> Result<(), rusqlite::Error> {
    tx.execute_batch("ALTER TABLE events ADD COLUMN metadata TEXT NULL;")
}

fn same_item(one: &RecordedEvent, other: &RecordedEvent) -> bool {
    one.stream_id == other.stream_id && one.event.item_id() == other.event.item_id()
}

fn insert_item(
    insert: &mut rusqlite::Statement<'_>,
    latest: &RecordedEvent,
) -> Result<(), rusqlite::Error> {
    insert.execute(rusqlite::params![
        latest.stream_id.as_str(),
        latest.event.item_id().as_str(),
        latest.event.item_state_after().is_live(),
    ])?;
    Ok(())
}

/// Brings the schema up to date; refuses a database from a newer version.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    loop {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_error)?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(db_error)?;
        if !(0..=SCHEMA_VERSION).contains(&version) {
            return Err(StoreError::Corrupt(format!(
                "the database has schema version {version}; this build knows 0 to {SCHEMA_VERSION}"
            )));
        }
        let Some(migration) = usize::try_from(version)
            .ok()
            .and_then(|index| MIGRATIONS.get(index))
        else {
            return Ok(());
        };
        migration(&tx).map_err(|err| match db_error(err) {
            StoreError::Unavailable(msg) => StoreError::Unavailable(format!(
                "cannot migrate the schema from version {version}: {msg}"
            )),
            other => other,
        })?;
        tx.pragma_update(None, "user_version", version + 1)
            .map_err(db_error)?;
        tx.commit().map_err(db_error)?;
        tracing::debug!(version = version + 1, "migrated the SQLite schema");
    }
}

#[cfg(test)]
mod tests;
