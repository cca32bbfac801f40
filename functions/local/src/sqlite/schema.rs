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

use super::codec::{db_error, decode_event};

/// The schema version this code writes (`PRAGMA user_version`).
pub(super) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// What takes a database from version `i` to `i + 1`.
type Migration = fn(&Transaction<'_>) -> Result<(), rusqlite::Error>;

const MIGRATIONS: [Migration; 7] = [
    v1_tables,
    v2_tombstone_expiry,
    v3_replay_jobs,
    v4_idempotency_keys,
    v5_parked_records,
    v6_streams_and_held_lanes,
    v7_stream_items,
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
        let Ok(recorded) = decode_event(row) else {
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
mod tests {
    use domain::{EventId, ItemState, ListQuery, ReadModel, StoredItem, StreamId};

    use super::*;
    use crate::sqlite::SqliteStore;

    /// Opens the database at `path`, which must come out at this build's
    /// schema version.
    fn open_migrated(path: &std::path::Path) -> SqliteStore {
        let store = SqliteStore::open(path).unwrap();
        let version: i64 = store
            .inner
            .writer()
            .unwrap()
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        store
    }

    /// The schema of version 1 as released, kept verbatim so that this test
    /// does not follow later edits of the migrations.
    const RELEASED_V1: &str = "
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
PRAGMA user_version = 1;
";

    #[tokio::test]
    async fn a_version_1_database_migrates_keeping_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(RELEASED_V1).unwrap();
            conn.execute_batch(
                "INSERT INTO events (stream_id, event_id, item_id, type, data, recorded_at)
                 VALUES ('s', 0, 'a', 'ITEM_CREATED', '{\"itemId\":\"a\",\"amount\":1}',
                         '2026-01-01T00:00:00.000Z');
                 INSERT INTO read_model VALUES ('s', 'a', 1, 0, 0), ('s', 'b', NULL, 4, 1),
                                               ('s', 'c', 3, 2, 0);
                 INSERT INTO checkpoints VALUES ('projector', '1');",
            )
            .unwrap();
        }
        let before = Utc::now().timestamp();
        let store = open_migrated(&path);
        let after = Utc::now().timestamp();
        {
            let conn = store.inner.writer().unwrap();
            // The tombstone got the whole retention from the migration on;
            // live rows have no expiry.
            let expiries: Vec<(String, Option<i64>)> = conn
                .prepare("SELECT item_id, expires_at FROM read_model ORDER BY item_id")
                .unwrap()
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let b = expiries[1].1.expect("the tombstone expires");
            assert!(
                (before + TOMBSTONE_RETENTION_SECS..=after + TOMBSTONE_RETENTION_SECS).contains(&b)
            );
            assert_eq!((expiries[0].1, expiries[2].1), (None, None));
            let indexes: Vec<String> = conn
                .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'read_model' ORDER BY name")
                .unwrap()
                .query_map([], |row| row.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert!(
                indexes.contains(&"read_model_expiry".to_owned())
                    && indexes.contains(&"read_model_live".to_owned()),
                "{indexes:?}"
            );
        }
        // Everything reads as before, through the new queries.
        let s = StreamId::parse("s", "streamId").unwrap();
        let page = store.list(&ListQuery::first_page(s.clone())).await.unwrap();
        let listed: Vec<(&str, u64)> = page
            .items
            .iter()
            .map(|view| (view.item_id.as_str(), view.amount.get()))
            .collect();
        assert_eq!(listed, [("a", 1), ("c", 3)]);
        let rows = store.rows(&s, None, 10).await.unwrap();
        assert_eq!(
            rows[1],
            StoredItem {
                item_id: domain::ItemId::parse("b", "itemId").unwrap(),
                version: EventId::new(4),
                state: ItemState::Deleted,
            }
        );
        use domain::{Checkpoints, EventStore};
        assert_eq!(store.load("projector").await, Ok(Some("1".to_owned())));
        assert_eq!(
            store
                .read_stream(&s, EventId::FIRST, 10)
                .await
                .unwrap()
                .len(),
            1
        );
        // Not yet expired: nothing to purge.
        assert_eq!(store.purge_expired_tombstones(Utc::now()).await, Ok(0));
        drop(store);
        // Opening again migrates nothing more.
        SqliteStore::open(&path).unwrap();
    }

    /// What version 2 added to version 1, as released.
    const RELEASED_V2: &str = "
ALTER TABLE read_model ADD COLUMN expires_at INTEGER NULL;
CREATE INDEX read_model_live ON read_model (stream_id, item_id, amount) WHERE deleted = 0;
CREATE INDEX read_model_expiry ON read_model (expires_at) WHERE deleted = 1;
PRAGMA user_version = 2;
";

    #[tokio::test]
    async fn a_version_2_database_migrates_keeping_its_data() {
        use domain::jobs;
        use domain::{
            Checkpoints, EventStore, LaneKey, ReplayJobs, ReplayScope, ReplayState, ReplayTarget,
        };

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v2.db");
        let expiry = Utc::now().timestamp() + 3600;
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(RELEASED_V1).unwrap();
            conn.execute_batch(RELEASED_V2).unwrap();
            conn.execute(
                "INSERT INTO events (stream_id, event_id, item_id, type, data, recorded_at)
                 VALUES ('s', 0, 'a', 'ITEM_CREATED', '{\"itemId\":\"a\",\"amount\":1}',
                         '2026-01-01T00:00:00.000Z')",
                [],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO read_model VALUES ('s', 'a', 1, 0, 0, NULL), ('s', 'b', NULL, 4, 1, ?1)",
                [expiry],
            )
            .unwrap();
            conn.execute_batch(
                "INSERT INTO checkpoints VALUES ('projector', '1'),
                     ('replays-pending', '[{\"replayId\":\"r\",\"streamId\":\"s\",\"fromEventId\":0}]');",
            )
            .unwrap();
        }
        let store = open_migrated(&path);
        {
            let conn = store.inner.writer().unwrap();
            let expiries: Vec<Option<i64>> = conn
                .prepare("SELECT expires_at FROM read_model ORDER BY item_id")
                .unwrap()
                .query_map([], |row| row.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(expiries, [None, Some(expiry)], "expiries are untouched");
        }
        let s = StreamId::parse("s", "streamId").unwrap();
        let page = store.list(&ListQuery::first_page(s.clone())).await.unwrap();
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.items[0].item_id.as_str(), "a");
        assert_eq!(store.rows(&s, None, 10).await.unwrap().len(), 2);
        assert_eq!(store.load("projector").await, Ok(Some("1".to_owned())));
        assert!(
            store
                .load("replays-pending")
                .await
                .unwrap()
                .is_some_and(|list| list.contains("\"r\"")),
            "the old pending list is left for local mode to take over"
        );
        assert_eq!(
            store
                .read_stream(&s, EventId::FIRST, 10)
                .await
                .unwrap()
                .len(),
            1
        );
        // The stream is listed, from its log.
        let listed = store.list_streams(None, 10).await.unwrap();
        assert_eq!(listed.streams.len(), 1);
        assert_eq!(
            (
                listed.streams[0].version,
                listed.streams[0].updated_at.to_rfc3339()
            ),
            (EventId::FIRST, "2026-01-01T00:00:00+00:00".to_owned())
        );
        // The new tables are there, empty, and take jobs.
        assert_eq!(store.held_lanes(None, 10).await, Ok(Vec::new()));
        let scope = ReplayScope::Stream(ReplayTarget {
            stream_id: s.clone(),
            from_event_id: EventId::FIRST,
        });
        assert!(
            jobs::admit(&store, "r", &scope, Utc::now())
                .await
                .unwrap()
                .start
                .is_some()
        );
        let job = store.job("r").await.unwrap().expect("the job");
        assert_eq!(job.state, ReplayState::Queued);
        assert_eq!(
            store.held_lanes(None, 10).await,
            Ok(vec![LaneKey::Stream(s.clone())])
        );
        drop(store);
        // Opening again migrates nothing more, and keeps the job.
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.job("r").await, Ok(Some(job)));
    }

    /// A database as version `version` left it: the migrations before it,
    /// which are never edited once released.
    fn database_at(path: &std::path::Path, version: usize) -> Connection {
        let mut conn = Connection::open(path).unwrap();
        let tx = conn.transaction().unwrap();
        for migration in &MIGRATIONS[..version] {
            migration(&tx).unwrap();
        }
        tx.pragma_update(None, "user_version", version as i64)
            .unwrap();
        tx.commit().unwrap();
        conn
    }

    #[tokio::test]
    async fn a_version_6_database_migrates_with_each_items_live_flag_from_its_log() {
        use domain::{
            Amount, AppendCommand, AppendError, DomainEvent, EventStore, ItemId, Rejection,
        };

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v6.db");
        {
            let conn = database_at(&path, 6);
            let mut insert = conn
                .prepare(
                    "INSERT INTO events (stream_id, event_id, item_id, type, data, recorded_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, '2026-01-01T00:00:00.000Z')",
                )
                .unwrap();
            for (stream, id, item, type_name, data) in [
                ("s", 0, "a", "ITEM_CREATED", r#"{"itemId":"a","amount":1}"#),
                ("s", 1, "b", "ITEM_CREATED", r#"{"itemId":"b","amount":2}"#),
                ("s", 2, "a", "ITEM_DELETED", r#"{"itemId":"a"}"#),
                (
                    "s",
                    3,
                    "b",
                    "ITEM_AMOUNT_CHANGED",
                    r#"{"itemId":"b","amount":3}"#,
                ),
                ("s", 4, "c", "ITEM_CREATED", r#"{"itemId":"c","amount":4}"#),
                // Rows that do not decode count for nothing, as the
                // projector parked them: c stays as event 4 left it, and
                // d has no flag.
                ("s", 5, "c", "ITEM_DELETED", "not json"),
                ("s", 6, "d", "ITEM_CREATED", "not json"),
                ("t", 0, "a", "ITEM_CREATED", r#"{"itemId":"a","amount":5}"#),
            ] {
                insert
                    .execute(rusqlite::params![stream, id, item, type_name, data])
                    .unwrap();
            }
        }
        let store = open_migrated(&path);
        {
            let conn = store.inner.writer().unwrap();
            let flags: Vec<(String, String, bool)> = conn
                .prepare("SELECT stream_id, item_id, live FROM stream_items ORDER BY 1, 2")
                .unwrap()
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let flags: Vec<(&str, &str, bool)> = flags
                .iter()
                .map(|(s, i, live)| (s.as_str(), i.as_str(), *live))
                .collect();
            assert_eq!(
                flags,
                [
                    ("s", "a", false),
                    ("s", "b", true),
                    ("s", "c", true),
                    ("t", "a", true)
                ]
            );
        }
        // Appends decide on the flags.
        let append = |stream: &str, event: DomainEvent| {
            let command =
                AppendCommand::new(StreamId::parse(stream, "streamId").unwrap(), event, None);
            let store = &store;
            async move { store.append(&command, Utc::now()).await }
        };
        let item = |id: &str| ItemId::parse(id, "itemId").unwrap();
        let amount = Amount::new(9).unwrap();
        let created = |id: &str| DomainEvent::ItemCreated {
            item_id: item(id),
            amount,
        };
        assert_eq!(
            append("s", created("a")).await.map(|e| e.event_id),
            Ok(EventId::new(7))
        );
        assert!(matches!(
            append("s", created("b")).await,
            Err(AppendError::Rejected(Rejection::ItemAlreadyExists { .. }))
        ));
        assert!(matches!(
            append("s", DomainEvent::ItemDeleted { item_id: item("d") }).await,
            Err(AppendError::Rejected(Rejection::ItemNotFound { .. }))
        ));
        assert!(matches!(
            append("t", created("a")).await,
            Err(AppendError::Rejected(Rejection::ItemAlreadyExists { .. }))
        ));
        drop(store);
        // Opening again migrates nothing more.
        SqliteStore::open(&path).unwrap();
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
        let store = Connection::open(&path).unwrap();
        store.pragma_update(None, "user_version", -1).unwrap();
        drop(store);
        assert!(matches!(
            SqliteStore::open(&path),
            Err(StoreError::Corrupt(_))
        ));
    }
}
