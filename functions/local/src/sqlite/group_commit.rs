//! Group commit: every append goes through one queue to one writer thread,
//! which takes all the appends waiting (up to [`MAX_BATCH`]), decides and
//! inserts each in order (`event_store::append_in`, under a savepoint of its
//! own, so a refused append writes nothing and leaves the others), commits
//! them in one durable transaction, moves the change feed once, and only
//! then answers each caller. One `fdatasync` thus covers a whole batch.
//!
//! A commit that fails fails every append of its batch: none of them was
//! acknowledged. The thread ends when the store's last handle is dropped,
//! and the drop waits for it, so the database is closed by then.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use chrono::{DateTime, Utc};
use domain::{AppendCommand, AppendError, RecordedEvent, StoreError};
use rusqlite::{DropBehavior, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use super::Inner;
use super::codec::db_error;
use super::event_store::append_in;

/// The most appends one transaction takes.
pub(super) const MAX_BATCH: usize = 256;

/// Appends that may wait for the writer; a caller past them waits to
/// enqueue (back-pressure) rather than grow the queue.
const QUEUE: usize = 4 * MAX_BATCH;

/// One caller's append, and where its answer goes.
struct Job {
    command: AppendCommand,
    recorded_at: DateTime<Utc>,
    reply: oneshot::Sender<Result<RecordedEvent, AppendError>>,
}

/// What the writer has done so far: batches committed (or failed) and the
/// appends they held.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppendStats {
    pub batches: u64,
    pub appends: u64,
    pub largest_batch: u64,
}

#[derive(Default)]
struct Counters {
    batches: AtomicU64,
    appends: AtomicU64,
    largest_batch: AtomicU64,
}

/// The queue's sending end and the writer thread; dropping it stops the
/// thread and waits for it.
pub(super) struct GroupCommit {
    queue: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
}

impl GroupCommit {
    pub(super) fn start(inner: Arc<Inner>) -> Result<Self, StoreError> {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let counters = Arc::new(Counters::default());
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn({
                let counters = Arc::clone(&counters);
                move || write_batches(&inner, jobs, &counters)
            })
            .map_err(|err| {
                StoreError::Unavailable(format!("cannot start the SQLite writer: {err}"))
            })?;
        Ok(GroupCommit {
            queue: Some(queue),
            thread: Some(thread),
            counters,
        })
    }

    /// Queues `command` and waits for its batch to be durable.
    pub(super) async fn append(
        &self,
        command: AppendCommand,
        recorded_at: DateTime<Utc>,
    ) -> Result<RecordedEvent, AppendError> {
        let stopped = || StoreError::Unavailable("the SQLite writer has stopped".into());
        let queue = self.queue.as_ref().ok_or_else(stopped)?;
        let (reply, answer) = oneshot::channel();
        queue
            .send(Job {
                command,
                recorded_at,
                reply,
            })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    pub(super) fn stats(&self) -> AppendStats {
        AppendStats {
            batches: self.counters.batches.load(Ordering::Relaxed),
            appends: self.counters.appends.load(Ordering::Relaxed),
            largest_batch: self.counters.largest_batch.load(Ordering::Relaxed),
        }
    }

    /// Appends waiting in the queue, not yet taken by the writer.
    #[cfg(test)]
    pub(super) fn queued(&self) -> usize {
        self.queue
            .as_ref()
            .map_or(0, |queue| queue.max_capacity() - queue.capacity())
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        // Closing the queue ends the thread once it has answered what it took.
        drop(self.queue.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the SQLite writer thread panicked");
        }
    }
}

fn write_batches(inner: &Inner, mut jobs: mpsc::Receiver<Job>, counters: &Counters) {
    while let Some(first) = jobs.blocking_recv() {
        let mut conn = match inner.writer_after_others() {
            Ok(conn) => conn,
            Err(err) => {
                let _ = first.reply.send(Err(err.into()));
                continue;
            }
        };
        // Taken under the writer lock: what queued while it was busy (with
        // the previous batch, or with another write) joins this batch.
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // A caller that stopped waiting (its deadline passed) gets no event.
        batch.retain(|job| !job.reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        let answers = commit_batch(&mut conn, inner, &batch);
        drop(conn);
        let size = batch.len() as u64;
        counters.batches.fetch_add(1, Ordering::Relaxed);
        counters.appends.fetch_add(size, Ordering::Relaxed);
        counters.largest_batch.fetch_max(size, Ordering::Relaxed);
        for (job, answer) in batch.into_iter().zip(answers) {
            let _ = job.reply.send(answer);
        }
    }
}

/// Writes `batch` in one transaction; the answer of each, in order. Called
/// under the writer lock, which it keeps until the feed has moved, so
/// followers see positions only grow.
fn commit_batch(
    conn: &mut rusqlite::Connection,
    inner: &Inner,
    batch: &[Job],
) -> Vec<Result<RecordedEvent, AppendError>> {
    let fail_all = |err: StoreError| vec![Err(AppendError::Store(err)); batch.len()];
    let mut tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(err) => return fail_all(db_error(err)),
    };
    let mut answers = Vec::with_capacity(batch.len());
    let mut last_seq = None;
    for job in batch {
        let mut savepoint = match tx.savepoint() {
            Ok(savepoint) => savepoint,
            Err(err) => return fail_all(db_error(err)),
        };
        match append_in(&savepoint, &job.command, job.recorded_at) {
            Ok((recorded, seq)) => {
                if let Err(err) = savepoint.commit() {
                    return fail_all(db_error(err));
                }
                last_seq = seq.or(last_seq);
                answers.push(Ok(recorded));
            }
            Err(err) => {
                // Undoes what this append wrote, if anything, and only that.
                savepoint.set_drop_behavior(DropBehavior::Rollback);
                if let Err(rollback) = savepoint.finish() {
                    return fail_all(db_error(rollback));
                }
                // A storage error may have ended the whole transaction
                // (SQLite rolls back on some, such as a full disk): then
                // nothing of the batch stands.
                if tx.is_autocommit() {
                    return fail_all(match err {
                        AppendError::Store(err) => err,
                        AppendError::Rejected(_) => StoreError::Unavailable(
                            "the append transaction ended unexpectedly".into(),
                        ),
                    });
                }
                answers.push(Err(err));
            }
        }
    }
    if let Err(err) = tx.commit() {
        return fail_all(db_error(err));
    }
    if let Some(seq) = last_seq {
        inner.feed.send_replace(seq);
    }
    answers
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use domain::{Amount, DomainEvent, EventId, EventStore, ItemId, Rejection, StreamId, Version};

    use super::*;
    use crate::sqlite::SqliteStore;

    fn stream() -> StreamId {
        StreamId::parse("s", "streamId").unwrap()
    }

    fn create(item: &str) -> AppendCommand {
        AppendCommand {
            stream_id: stream(),
            event: DomainEvent::ItemCreated {
                item_id: ItemId::parse(item, "itemId").unwrap(),
                amount: Amount::new(1).unwrap(),
            },
            expected_version: None,
            idempotency: None,
            metadata: Default::default(),
        }
    }

    /// Waits until `n` appends wait in the queue.
    async fn wait_queued(store: &SqliteStore, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while store.appends.queued() < n {
            assert!(Instant::now() < deadline, "appends never reached the queue");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// The writer is held while the appends queue, so they form one batch:
    /// the refused ones in it write nothing and leave the others stored.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_append_leaves_the_others_of_its_batch_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("store.db")).unwrap();
        let seed = store.append(&create("seed"), Utc::now()).await.unwrap();
        assert_eq!(seed.event_id, EventId::FIRST);

        // Holds the writer lock until told to let go.
        let (held_tx, held) = std::sync::mpsc::channel();
        let (release, release_rx) = std::sync::mpsc::channel::<()>();
        let inner = Arc::clone(&store.inner);
        let holder = std::thread::spawn(move || {
            let _writer = inner.writer().unwrap();
            held_tx.send(()).unwrap();
            let _ = release_rx.recv();
        });
        held.recv().unwrap();

        let stale = AppendCommand {
            expected_version: Some(Version::EMPTY),
            ..create("stale")
        };
        let commands = [create("a"), create("seed"), stale, create("b")];
        let mut answers = Vec::new();
        for (i, command) in commands.into_iter().enumerate() {
            let appender = store.clone();
            answers.push(tokio::spawn(async move {
                appender.append(&command, Utc::now()).await
            }));
            // In order: the first is taken by the writer (which then waits
            // for the lock), the others wait in the queue behind it.
            wait_queued(&store, i).await;
        }
        // Let the writer take the whole queue before it gets the lock.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let before = store.append_stats();
        release.send(()).unwrap();
        holder.join().unwrap();

        let mut results = Vec::new();
        for answer in answers {
            results.push(answer.await.unwrap());
        }
        let after = store.append_stats();
        assert_eq!(after.batches - before.batches, 1, "one batch: {after:?}");
        assert_eq!(after.appends - before.appends, 4);

        let a = results[0].as_ref().unwrap();
        assert_eq!(a.event_id.get(), 1);
        assert!(matches!(
            results[1],
            Err(AppendError::Rejected(Rejection::ItemAlreadyExists { .. }))
        ));
        assert!(matches!(
            results[2],
            Err(AppendError::Rejected(Rejection::VersionConflict { .. }))
        ));
        let b = results[3].as_ref().unwrap();
        assert_eq!(b.event_id.get(), 2);
        let log = store
            .read_stream(&stream(), EventId::FIRST, 10)
            .await
            .unwrap();
        assert_eq!(log, [seed, a.clone(), b.clone()]);
        assert_eq!(*store.feed_position().borrow(), 3, "the feed moved once");
    }

    /// A commit that fails answers every append of its batch with the
    /// storage error, and stores none of them.
    #[tokio::test]
    async fn a_failed_commit_fails_its_whole_batch() {
        let store = SqliteStore::open_in_memory().unwrap();
        // A trigger that refuses the commit: deferred foreign keys fail at
        // COMMIT, after each insert succeeded.
        store
            .inner
            .writer()
            .unwrap()
            .execute_batch(
                "PRAGMA foreign_keys = ON;
                 CREATE TABLE must_exist (id INTEGER PRIMARY KEY);
                 CREATE TABLE breaks_commit (
                     ref INTEGER REFERENCES must_exist (id) DEFERRABLE INITIALLY DEFERRED);
                 CREATE TRIGGER break_commit AFTER INSERT ON events
                 BEGIN INSERT INTO breaks_commit VALUES (42); END;",
            )
            .unwrap();
        let err = store.append(&create("a"), Utc::now()).await.unwrap_err();
        assert!(matches!(err, AppendError::Store(_)), "{err:?}");
        store
            .inner
            .writer()
            .unwrap()
            .execute_batch("DROP TRIGGER break_commit;")
            .unwrap();
        let log = store
            .read_stream(&stream(), EventId::FIRST, 10)
            .await
            .unwrap();
        assert_eq!(log, []);
        assert_eq!(*store.feed_position().borrow(), 0);
        let first = store.append(&create("a"), Utc::now()).await.unwrap();
        assert_eq!(first.event_id, EventId::FIRST);
    }

    /// Dropping the store stops the writer thread and closes the file, so
    /// it opens again at once with everything acknowledged.
    #[tokio::test]
    async fn dropping_the_store_stops_its_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let store = SqliteStore::open(&path).unwrap();
        let first = store.append(&create("a"), Utc::now()).await.unwrap();
        let writer = Arc::downgrade(&store.inner);
        drop(store);
        assert!(writer.upgrade().is_none(), "nothing holds the connections");
        let store = SqliteStore::open(&path).unwrap();
        let log = store
            .read_stream(&stream(), EventId::FIRST, 10)
            .await
            .unwrap();
        assert_eq!(log, [first]);
    }
}
