//! The SQLite schema: the four tables and the migration that creates them,
//! versioned with `PRAGMA user_version`.

use domain::StoreError;
use rusqlite::{Connection, TransactionBehavior};

use super::codec::db_error;

/// The schema version this code writes (`PRAGMA user_version`).
pub(super) const SCHEMA_VERSION: i64 = 1;

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

/// Creates the schema if needed; refuses a database from a newer version.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::SqliteStore;

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
}
