//! Each migration on a database of the version before it, and what a
//! migrated database holds.

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
    use domain::{Amount, AppendCommand, AppendError, DomainEvent, EventStore, ItemId, Rejection};

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
        let command = AppendCommand::new(StreamId::parse(stream, "streamId").unwrap(), event, None);
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
