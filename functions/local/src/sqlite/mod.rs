//! The embedded SQLite adapter of the storage ports, for local mode.
//!
//! One file holds the event log, the read model, the follower checkpoints and
//! the parked (poisoned) feed records. Writes go through one connection behind
//! a mutex, so appends are serialised and `decide` runs inside the same
//! `BEGIN IMMEDIATE` transaction as the insert: SQLite never sees a conflict.
//! Reads use a small pool of extra connections, which WAL mode lets run
//! alongside the writer. Every call to SQLite blocks, so it runs on tokio's
//! blocking pool.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::event::{format_timestamp, parse_timestamp};
use domain::{
    AppendCommand, AppendError, ApplyMode, ApplyOutcome, Checkpoints, DecisionState, DomainEvent,
    EventId, EventStore, EventType, ItemChange, ItemId, ItemState, ItemView, ReadModel,
    RecordedEvent, StoreError, StreamId, Version, decide,
};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, TransactionBehavior, params};
use tokio::sync::watch;

/// How long a connection waits for a lock held by another connection (another
/// process on the same file, or the WAL checkpointer) before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Idle reader connections kept open; more are opened on demand under load
/// and closed when returned to a full pool.
const MAX_IDLE_READERS: usize = 4;

/// The schema version this code writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
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
";

/// The columns every event query selects, in the order [`decode_event`] reads.
const EVENT_COLUMNS: &str = "seq, stream_id, event_id, item_id, type, data, recorded_at";

/// A read-model write that lands only over an older row (live projection).
const UPSERT_PROJECTION: &str = "
INSERT INTO read_model (stream_id, item_id, amount, version, deleted)
VALUES (?1, ?2, ?3, ?4, ?5)
ON CONFLICT (stream_id, item_id) DO UPDATE
SET amount = excluded.amount, version = excluded.version, deleted = excluded.deleted
WHERE read_model.version < excluded.version";

/// A read-model write that also lands over a row of the same version (replay).
const UPSERT_REPLAY: &str = "
INSERT INTO read_model (stream_id, item_id, amount, version, deleted)
VALUES (?1, ?2, ?3, ?4, ?5)
ON CONFLICT (stream_id, item_id) DO UPDATE
SET amount = excluded.amount, version = excluded.version, deleted = excluded.deleted
WHERE read_model.version <= excluded.version";

/// One row of the change feed: its position and the event, decoded on its
/// own so that one corrupt row can be parked without blocking the others.
#[derive(Debug)]
pub struct FeedEntry {
    pub seq: i64,
    pub event: Result<RecordedEvent, StoreError>,
}

/// The SQLite store. Cloning is cheap and shares the connections.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// Where the database lives, for messages; `None` in memory.
    path: Option<PathBuf>,
    writer: Mutex<Connection>,
    /// Reader connections of a file database; `None` in memory, where a
    /// private database is visible to a single connection, so reads share the
    /// writer (shared-cache mode would add table locks that ignore
    /// `busy_timeout`).
    readers: Option<Mutex<Vec<Connection>>>,
    /// The seq of the last committed event; 0 while the log is empty.
    feed: watch::Sender<i64>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (or creates, with its parent directories) the database at `path`
    /// and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|err| {
                StoreError::Unavailable(format!("cannot create {}: {err}", parent.display()))
            })?;
        }
        let writer = Connection::open(path).map_err(|err| open_error(path, err))?;
        writer
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|err| open_error(path, err))?;
        // WAL lets readers run beside the writer; FULL syncs the WAL on every
        // commit, so an acknowledged append survives a crash or power loss.
        let mode: String = writer
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(|err| open_error(path, err))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Unavailable(format!(
                "{} cannot use WAL journaling (got `{mode}`)",
                path.display()
            )));
        }
        writer
            .pragma_update(None, "synchronous", "FULL")
            .map_err(|err| open_error(path, err))?;
        Self::finish_open(Some(path.to_path_buf()), writer, true)
    }

    /// A private, empty in-memory store (for tests); behaves like a file one.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let writer = Connection::open_in_memory().map_err(db_error)?;
        Self::finish_open(None, writer, false)
    }

    fn finish_open(
        path: Option<PathBuf>,
        mut writer: Connection,
        with_readers: bool,
    ) -> Result<Self, StoreError> {
        migrate(&mut writer)?;
        let last_seq: i64 = writer
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |row| {
                row.get(0)
            })
            .map_err(db_error)?;
        let (feed, _) = watch::channel(last_seq);
        tracing::debug!(path = ?path, last_seq, "opened the SQLite store");
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(writer),
                readers: with_readers.then(|| Mutex::new(Vec::new())),
                feed,
            }),
        })
    }

    /// The database file, or `None` for an in-memory store.
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

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

    /// Runs blocking SQLite work on tokio's blocking pool.
    async fn blocking<T, E>(
        &self,
        work: impl FnOnce(&Inner) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        match tokio::task::spawn_blocking(move || work(&inner)).await {
            Ok(result) => result,
            // A panic or a runtime shutdown: report it instead of spreading it.
            Err(err) => Err(StoreError::Unavailable(format!("SQLite task failed: {err}")).into()),
        }
    }
}

impl Inner {
    fn writer(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        // A poisoned lock means a task panicked mid-use; refuse rather than
        // guess what state the connection was left in.
        self.writer
            .lock()
            .map_err(|_| StoreError::Unavailable("the SQLite writer lock is poisoned".into()))
    }

    /// Runs `work` on a reader connection (the writer, in memory).
    fn read<T>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let (Some(pool), Some(path)) = (&self.readers, &self.path) else {
            return work(&*self.writer()?);
        };
        let idle = pool
            .lock()
            .map_err(|_| StoreError::Unavailable("the SQLite reader pool lock is poisoned".into()))?
            .pop();
        let conn = match idle {
            Some(conn) => conn,
            None => open_reader(path)?,
        };
        let result = work(&conn);
        // Keep the connection unless it was left inside a transaction.
        if conn.is_autocommit()
            && let Ok(mut idle) = pool.lock()
            && idle.len() < MAX_IDLE_READERS
        {
            idle.push(conn);
        }
        result
    }
}

fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    // No CREATE flag: a database that vanished must fail, not reappear empty.
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|err| open_error(path, err))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db_error)?;
    // Guards the single-writer design: reads must never write.
    conn.pragma_update(None, "query_only", true)
        .map_err(db_error)?;
    Ok(conn)
}

/// Creates the schema if needed; refuses a database from a newer version.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_error)?;
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(db_error)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Corrupt(format!(
            "the database has schema version {version}; this build knows up to {SCHEMA_VERSION}"
        )));
    }
    tx.execute_batch(SCHEMA).map_err(db_error)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(db_error)?;
    tx.commit().map_err(db_error)
}

fn open_error(path: &Path, err: rusqlite::Error) -> StoreError {
    match db_error(err) {
        StoreError::Unavailable(msg) => {
            StoreError::Unavailable(format!("cannot open {}: {msg}", path.display()))
        }
        other => other,
    }
}

fn db_error(err: rusqlite::Error) -> StoreError {
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
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn event_id_param(id: EventId) -> Result<i64, StoreError> {
    i64::try_from(id.get())
        .map_err(|_| StoreError::Unavailable(format!("event id {id} does not fit SQLite")))
}

/// Decodes a row selected with [`EVENT_COLUMNS`]; any failure is `Corrupt`
/// and names the row.
fn decode_event(row: &Row<'_>) -> Result<RecordedEvent, StoreError> {
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

fn corrupt_row(stream: &str, event_id: &str, what: impl fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("stream `{stream}` event {event_id}: {what}"))
}

fn corrupt_seq(seq: i64, what: impl fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("event at seq {seq}: {what}"))
}

fn append_blocking(
    inner: &Inner,
    command: &AppendCommand,
    recorded_at: DateTime<Utc>,
) -> Result<RecordedEvent, AppendError> {
    let stream = command.stream_id.as_str();
    let item = command.event.item_id().as_str();
    let mut conn = inner.writer()?;
    // IMMEDIATE takes the write lock up front, so the state read below cannot
    // change before the insert commits.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_error)?;
    let last: Option<i64> = tx
        .query_row(
            "SELECT MAX(event_id) FROM events WHERE stream_id = ?1",
            [stream],
            |row| row.get(0),
        )
        .map_err(db_error)?;
    let version = match last {
        None => Version::EMPTY,
        Some(last) => Version::new(last)
            .ok_or_else(|| corrupt_row(stream, &last.to_string(), "negative event id"))?,
    };
    let latest_type: Option<String> = tx
        .query_row(
            "SELECT type FROM events WHERE stream_id = ?1 AND item_id = ?2
             ORDER BY event_id DESC LIMIT 1",
            [stream, item],
            |row| row.get(0),
        )
        .optional()
        .map_err(db_error)?;
    let item_live = latest_type.is_some_and(|t| t != EventType::ItemDeleted.as_str());
    // A rejection returns here: the transaction rolls back on drop, unwritten.
    let event_id = decide(&DecisionState { version, item_live }, command)?;

    let timestamp = format_timestamp(recorded_at);
    let data = serde_json::to_string(&command.event.data())
        .map_err(|err| StoreError::Unavailable(format!("cannot encode the event: {err}")))?;
    tx.execute(
        "INSERT INTO events (stream_id, event_id, item_id, type, data, recorded_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            stream,
            event_id_param(event_id)?,
            item,
            command.event.event_type().as_str(),
            data,
            timestamp
        ],
    )
    .map_err(db_error)?;
    let seq = tx.last_insert_rowid();
    tx.commit().map_err(db_error)?;
    // Still under the writer lock, so followers see positions only grow.
    inner.feed.send_replace(seq);
    Ok(RecordedEvent {
        stream_id: command.stream_id.clone(),
        event_id,
        // What a read returns: the stored form keeps milliseconds.
        recorded_at: parse_timestamp(&timestamp).unwrap_or(recorded_at),
        event: command.event.clone(),
    })
}

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
            let (amount, deleted) = match change.state {
                ItemState::Live { amount } => (Some(amount.get()), false),
                ItemState::Deleted => (None, true),
            };
            let amount = amount
                .map(i64::try_from)
                .transpose()
                .map_err(|_| StoreError::Unavailable("an amount does not fit SQLite".into()))?;
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
        .prepare_cached(
            // BINARY collation: UTF-8 byte order, the order of Rust strings.
            "SELECT item_id, amount FROM read_model
             WHERE stream_id = ?1 AND deleted = 0 ORDER BY item_id",
        )
        .map_err(db_error)?;
    let mut rows = stmt.query([stream]).map_err(db_error)?;
    let mut items = Vec::new();
    while let Some(row) = rows.next().map_err(db_error)? {
        let bad = |what: String| StoreError::Corrupt(format!("read model of `{stream}`: {what}"));
        let item: String = row.get(0).map_err(|err| bad(err.to_string()))?;
        let amount: Option<i64> = row.get(1).map_err(|err| bad(err.to_string()))?;
        let item_id = ItemId::parse(item.as_str(), "itemId").map_err(|err| bad(err.to_string()))?;
        let amount = amount
            .and_then(|raw| u64::try_from(raw).ok())
            .and_then(domain::Amount::new)
            .ok_or_else(|| bad(format!("item `{item}` has amount {amount:?}")))?;
        items.push(ItemView { item_id, amount });
    }
    Ok(items)
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn append(
        &self,
        command: &AppendCommand,
        recorded_at: DateTime<Utc>,
    ) -> Result<RecordedEvent, AppendError> {
        let command = command.clone();
        self.blocking(move |inner| append_blocking(inner, &command, recorded_at))
            .await
    }

    async fn read_stream(
        &self,
        stream_id: &StreamId,
        from: EventId,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let stream = stream_id.as_str().to_owned();
        let from = event_id_param(from)?;
        self.blocking(move |inner| {
            inner.read(|conn| {
                let mut stmt = conn
                    .prepare_cached(&format!(
                        "SELECT {EVENT_COLUMNS} FROM events
                         WHERE stream_id = ?1 AND event_id >= ?2 ORDER BY event_id LIMIT ?3"
                    ))
                    .map_err(db_error)?;
                let mut rows = stmt
                    .query(params![stream, from, sql_limit(limit)])
                    .map_err(db_error)?;
                let mut events = Vec::new();
                while let Some(row) = rows.next().map_err(db_error)? {
                    events.push(decode_event(row)?);
                }
                Ok(events)
            })
        })
        .await
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

    async fn list(&self, stream_id: &StreamId) -> Result<Vec<ItemView>, StoreError> {
        let stream = stream_id.as_str().to_owned();
        self.blocking(move |inner| inner.read(|conn| list_blocking(conn, &stream)))
            .await
    }

    async fn clear(&self, stream_id: &StreamId) -> Result<(), StoreError> {
        let stream = stream_id.as_str().to_owned();
        self.blocking(move |inner| {
            inner
                .writer()?
                .execute("DELETE FROM read_model WHERE stream_id = ?1", [stream])
                .map_err(db_error)?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl Checkpoints for SqliteStore {
    async fn load(&self, name: &str) -> Result<Option<String>, StoreError> {
        let name = name.to_owned();
        self.blocking(move |inner| {
            inner.read(|conn| {
                conn.query_row(
                    "SELECT position FROM checkpoints WHERE name = ?1",
                    [name],
                    |row| row.get(0),
                )
                .optional()
                .map_err(db_error)
            })
        })
        .await
    }

    async fn save(&self, name: &str, position: &str) -> Result<(), StoreError> {
        let (name, position) = (name.to_owned(), position.to_owned());
        self.blocking(move |inner| {
            inner
                .writer()?
                .execute(
                    "INSERT INTO checkpoints (name, position) VALUES (?1, ?2)
                     ON CONFLICT (name) DO UPDATE SET position = excluded.position",
                    [name, position],
                )
                .map_err(db_error)?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created(stream: &str, item: &str) -> AppendCommand {
        AppendCommand {
            stream_id: StreamId::parse(stream, "streamId").unwrap(),
            event: DomainEvent::ItemCreated {
                item_id: ItemId::parse(item, "itemId").unwrap(),
                amount: domain::Amount::new(1).unwrap(),
            },
            expected_version: None,
        }
    }

    #[test]
    fn a_file_store_is_durable_by_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("nested/dir/store.db")).unwrap();
        let writer = store.inner.writer().unwrap();
        let mode: String = writer
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .unwrap();
        let sync: i64 = writer
            .query_row("PRAGMA synchronous", [], |row| row.get(0))
            .unwrap();
        let version: i64 = writer
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap();
        assert_eq!((mode.as_str(), sync, version), ("wal", 2, SCHEMA_VERSION));
    }

    #[test]
    fn opening_twice_keeps_the_schema_and_refuses_a_newer_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        drop(SqliteStore::open(&path).unwrap());
        let store = SqliteStore::open(&path).unwrap();
        store
            .inner
            .writer()
            .unwrap()
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(store);
        assert!(matches!(
            SqliteStore::open(&path),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[tokio::test]
    async fn a_poisoned_writer_lock_is_an_error_not_a_panic() {
        let store = SqliteStore::open_in_memory().unwrap();
        let inner = Arc::clone(&store.inner);
        let _ = std::thread::spawn(move || {
            let _guard = inner.writer.lock();
            panic!("poison the writer lock on purpose");
        })
        .join();
        let err = store
            .append(&created("s", "a"), Utc::now())
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            AppendError::Store(StoreError::Unavailable(_))
        ));
        assert!(matches!(
            store.list(&StreamId::parse("s", "s").unwrap()).await,
            Err(StoreError::Unavailable(_))
        ));
    }
}
