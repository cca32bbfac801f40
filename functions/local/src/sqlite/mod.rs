//! The embedded SQLite adapter of the storage ports, for local mode.
//!
//! One file holds the event log, the read model, the follower checkpoints,
//! the parked records and the replay jobs. Writes go through one connection behind
//! a mutex, so appends are serialised and `decide` runs inside the same
//! `BEGIN IMMEDIATE` transaction as the insert: SQLite never sees a conflict.
//! Appends are group-committed (`group_commit`): one writer thread takes
//! every append waiting and commits them in one transaction, one sync.
//! Reads use a small pool of extra connections, which WAL mode lets run
//! alongside the writer. Every other call to SQLite blocks, so it runs on
//! tokio's blocking pool.
//!
//! The tables are in `schema`; each port has its module (`event_store`,
//! with its group commit in `group_commit` and the keys of idempotent
//! appends in `idempotency_keys`,
//! `read_model`, `checkpoints`, `replay_jobs`, `parked`), the follower's change feed
//! is in `feed`, and `codec` decodes rows and maps SQLite's errors.

mod checkpoints;
mod codec;
mod event_store;
mod feed;
mod group_commit;
mod idempotency_keys;
mod parked;
mod read_model;
mod replay_jobs;
mod schema;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use domain::StoreError;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::watch;

use codec::{db_error, open_error};

/// A purge deletes at most this many expired rows per transaction, so an
/// append never waits long behind it.
pub(super) const PURGE_BATCH: usize = 1000;
pub use feed::FeedEntry;
pub use group_commit::AppendStats;
use group_commit::GroupCommit;
pub use parked::feed_source;

/// How long a connection waits for a lock held by another connection (another
/// process on the same file, or the WAL checkpointer) before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Idle reader connections kept open; more are opened on demand under load
/// and closed when returned to a full pool.
const MAX_IDLE_READERS: usize = 4;

/// The SQLite store. Cloning is cheap and shares the connections; dropping
/// the last clone stops the append writer and closes the database.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
    /// Dropped after `inner`: its drop waits for the writer thread, which
    /// holds the last other reference to `inner`.
    appends: Arc<GroupCommit>,
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
    /// Writes other than appends waiting for the writer lock. The append
    /// writer lets them go first between its batches: a mutex favours the
    /// thread that just released it, which would starve the projector.
    others_waiting: AtomicUsize,
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
        schema::migrate(&mut writer)?;
        let last_seq: i64 = writer
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |row| {
                row.get(0)
            })
            .map_err(db_error)?;
        let (feed, _) = watch::channel(last_seq);
        tracing::debug!(path = ?path, last_seq, "opened the SQLite store");
        let inner = Arc::new(Inner {
            path,
            writer: Mutex::new(writer),
            readers: with_readers.then(|| Mutex::new(Vec::new())),
            feed,
            others_waiting: AtomicUsize::new(0),
        });
        let appends = Arc::new(GroupCommit::start(Arc::clone(&inner))?);
        Ok(SqliteStore { inner, appends })
    }

    /// How the appends so far were grouped into transactions.
    pub fn append_stats(&self) -> AppendStats {
        self.appends.stats()
    }

    /// The database file, or `None` for an in-memory store.
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// Runs blocking SQLite work on tokio's blocking pool.
    /// Runs `delete` (a DELETE of at most `?2` rows expired at `?1`, epoch
    /// seconds) in batches of [`PURGE_BATCH`] until one comes back short;
    /// returns how many rows went.
    async fn purge_in_batches(
        &self,
        delete: &'static str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<usize, StoreError> {
        let now = now.timestamp();
        let mut total = 0;
        loop {
            let purged = self
                .blocking(move |inner| {
                    // A single statement is its own transaction.
                    inner
                        .writer()?
                        .prepare_cached(delete)
                        .and_then(|mut stmt| {
                            stmt.execute(rusqlite::params![now, codec::sql_limit(PURGE_BATCH)])
                        })
                        .map_err(db_error)
                })
                .await?;
            total += purged;
            if purged < PURGE_BATCH {
                return Ok(total);
            }
            // Let the writes waiting on the writer go first.
            tokio::task::yield_now().await;
        }
    }

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

/// The longest the append writer defers to other writes between two of
/// its batches.
const MAX_DEFERRAL: Duration = Duration::from_millis(5);

impl Inner {
    fn writer(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.others_waiting.fetch_add(1, Ordering::SeqCst);
        let locked = self.lock_writer();
        self.others_waiting.fetch_sub(1, Ordering::SeqCst);
        locked
    }

    /// The writer lock for the append writer's next batch, after the other
    /// writes waiting for it (for at most [`MAX_DEFERRAL`]).
    fn writer_after_others(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        let deadline = Instant::now() + MAX_DEFERRAL;
        while self.others_waiting.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::yield_now();
        }
        self.lock_writer()
    }

    fn lock_writer(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
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

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use domain::{
        AppendCommand, AppendError, DomainEvent, EventStore, ItemId, ReadModel, StreamId,
    };

    use super::schema::SCHEMA_VERSION;
    use super::*;

    fn created(stream: &str, item: &str) -> AppendCommand {
        AppendCommand {
            stream_id: StreamId::parse(stream, "streamId").unwrap(),
            event: DomainEvent::ItemCreated {
                item_id: ItemId::parse(item, "itemId").unwrap(),
                amount: domain::Amount::new(1).unwrap(),
            },
            expected_version: None,
            idempotency: None,
            metadata: Default::default(),
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
            store
                .list(&domain::ListQuery::first_page(
                    StreamId::parse("s", "s").unwrap()
                ))
                .await,
            Err(StoreError::Unavailable(_))
        ));
    }
}
