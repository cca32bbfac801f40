//! The `ReplayJobs` port: one row per stream's lane in `replay_lanes`
//! (with the revision a commit must find), one row per job in
//! `replay_jobs` (with when it may be forgotten); both keep the value's
//! JSON, which only this port reads. Expired job rows are purged in
//! bounded batches ([`SqliteStore::purge_expired_replay_jobs`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{ReplayJob, ReplayJobs, ReplayLane, ReplayRequest, StoreError, StoredLane, StreamId};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::codec::db_error;
use super::{Inner, SqliteStore};

const PURGE: &str = "DELETE FROM replay_jobs WHERE replay_id IN (
     SELECT replay_id FROM replay_jobs INDEXED BY replay_jobs_expiry
     WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2)";

fn encode<T: serde::Serialize>(value: &T, what: &str) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|err| StoreError::Unavailable(format!("cannot encode {what}: {err}")))
}

fn decode<T: serde::de::DeserializeOwned>(body: &str, what: &str) -> Result<T, StoreError> {
    serde_json::from_str(body).map_err(|err| StoreError::Corrupt(format!("{what}: {err}")))
}

fn revision_from(raw: i64, stream: &str) -> Result<u64, StoreError> {
    u64::try_from(raw)
        .map_err(|_| StoreError::Corrupt(format!("the replay lane of {stream} has revision {raw}")))
}

fn revision_param(revision: u64) -> Result<i64, StoreError> {
    i64::try_from(revision).map_err(|_| {
        StoreError::Unavailable(format!("lane revision {revision} does not fit SQLite"))
    })
}

fn lane_blocking(conn: &Connection, stream: &str) -> Result<Option<StoredLane>, StoreError> {
    let row: Option<(i64, String)> = conn
        .prepare_cached("SELECT revision, body FROM replay_lanes WHERE stream_id = ?1")
        .and_then(|mut stmt| {
            stmt.query_row([stream], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
        })
        .map_err(db_error)?;
    row.map(|(revision, body)| {
        Ok(StoredLane {
            lane: decode(&body, &format!("the replay lane of {stream}"))?,
            revision: revision_from(revision, stream)?,
        })
    })
    .transpose()
}

fn job_blocking(conn: &Connection, replay_id: &str) -> Result<Option<ReplayJob>, StoreError> {
    let body: Option<String> = conn
        .prepare_cached("SELECT body FROM replay_jobs WHERE replay_id = ?1")
        .and_then(|mut stmt| stmt.query_row([replay_id], |row| row.get(0)).optional())
        .map_err(db_error)?;
    body.map(|body| decode(&body, &format!("replay job {replay_id}")))
        .transpose()
}

fn commit_blocking(
    inner: &Inner,
    stream: &str,
    expected: Option<u64>,
    lane: &str,
    jobs: &[(String, String, i64)],
) -> Result<bool, StoreError> {
    let mut conn = inner.writer()?;
    // IMMEDIATE: the revision read and the writes are one step for any
    // other process on the file too.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_error)?;
    let stored: Option<i64> = tx
        .query_row(
            "SELECT revision FROM replay_lanes WHERE stream_id = ?1",
            [stream],
            |row| row.get(0),
        )
        .optional()
        .map_err(db_error)?;
    let stored = stored.map(|raw| revision_from(raw, stream)).transpose()?;
    if stored != expected {
        // Dropping the transaction rolls back: nothing was written.
        return Ok(false);
    }
    let revision = revision_param(expected.map_or(0, |revision| revision + 1))?;
    tx.execute(
        "INSERT INTO replay_lanes (stream_id, revision, body) VALUES (?1, ?2, ?3)
         ON CONFLICT (stream_id) DO UPDATE SET revision = excluded.revision, body = excluded.body",
        params![stream, revision, lane],
    )
    .map_err(db_error)?;
    {
        let mut upsert = tx
            .prepare_cached(
                "INSERT INTO replay_jobs (replay_id, body, expires_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (replay_id) DO UPDATE
                 SET body = excluded.body, expires_at = excluded.expires_at",
            )
            .map_err(db_error)?;
        for (replay_id, body, expires_at) in jobs {
            upsert
                .execute(params![replay_id, body, expires_at])
                .map_err(db_error)?;
        }
    }
    tx.commit().map_err(db_error)?;
    Ok(true)
}

/// Every lane with a running replay, and that replay's job row if kept.
fn held_blocking(conn: &Connection) -> Result<Vec<ReplayRequest>, StoreError> {
    let mut stmt = conn
        .prepare("SELECT stream_id, body FROM replay_lanes ORDER BY stream_id")
        .map_err(db_error)?;
    let lanes: Vec<(String, String)> = stmt
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .and_then(|rows| rows.collect())
        .map_err(db_error)?;
    let mut held = Vec::new();
    for (stream, body) in lanes {
        let lane: ReplayLane = decode(&body, &format!("the replay lane of {stream}"))?;
        let Some(running) = lane.running else {
            continue;
        };
        // The lane holds the progress its run last reported: the job row
        // (which may have expired) is not needed to resume.
        let request = ReplayRequest {
            replay_id: running.replay_id,
            stream_id: StreamId::parse(stream.as_str(), "streamId").map_err(|err| {
                StoreError::Corrupt(format!("the replay lane of {stream}: {err}"))
            })?,
            from_event_id: running.from_event_id,
            progress: running.progress,
        };
        held.push(request);
    }
    Ok(held)
}

impl SqliteStore {
    /// The replays holding their stream's lane, each as the request that
    /// resumes it from its last reported progress: after a stop or a
    /// crash, what nothing runs any more until the server starts them.
    pub async fn held_replays(&self) -> Result<Vec<ReplayRequest>, StoreError> {
        self.blocking(|inner| inner.read(held_blocking)).await
    }

    /// Deletes every replay job row expired at `now` (see
    /// [`ReplayJob::expires_at`]), [`PURGE_BATCH`](super::PURGE_BATCH) per transaction; returns
    /// how many it deleted.
    pub async fn purge_expired_replay_jobs(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        self.purge_in_batches(PURGE, now).await
    }
}

#[async_trait]
impl ReplayJobs for SqliteStore {
    async fn lane(&self, stream_id: &StreamId) -> Result<Option<StoredLane>, StoreError> {
        let stream = stream_id.as_str().to_owned();
        self.blocking(move |inner| inner.read(|conn| lane_blocking(conn, &stream)))
            .await
    }

    async fn commit(
        &self,
        stream_id: &StreamId,
        expected: Option<u64>,
        lane: &ReplayLane,
        jobs: &[ReplayJob],
    ) -> Result<bool, StoreError> {
        let stream = stream_id.as_str().to_owned();
        let lane = encode(lane, "a replay lane")?;
        let jobs = jobs
            .iter()
            .map(|job| {
                let body = encode(job, "a replay job")?;
                Ok((job.replay_id.clone(), body, job.expires_at().timestamp()))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.blocking(move |inner| commit_blocking(inner, &stream, expected, &lane, &jobs))
            .await
    }

    async fn job(&self, replay_id: &str) -> Result<Option<ReplayJob>, StoreError> {
        let replay_id = replay_id.to_owned();
        self.blocking(move |inner| inner.read(|conn| job_blocking(conn, &replay_id)))
            .await
    }
}

#[cfg(test)]
mod tests {
    use crate::sqlite::PURGE_BATCH;
    use chrono::TimeDelta;
    use domain::jobs;
    use domain::limits::REPLAY_STATUS_RETENTION_SECS;
    use domain::replay::ReplayProgress;
    use domain::{EventId, ReplayState};

    use super::*;

    fn stream(name: &str) -> StreamId {
        StreamId::parse(name, "streamId").unwrap()
    }

    fn request(id: &str, stream_id: &StreamId, from: u64) -> ReplayRequest {
        ReplayRequest {
            replay_id: id.into(),
            stream_id: stream_id.clone(),
            from_event_id: EventId::new(from),
            progress: None,
        }
    }

    fn job_at(id: &str, updated_at: DateTime<Utc>) -> ReplayJob {
        ReplayJob {
            replay_id: id.into(),
            stream_id: stream("s"),
            from_event_id: EventId::FIRST,
            state: ReplayState::Done,
            events_applied: 3,
            error: None,
            updated_at,
            progress: None,
        }
    }

    fn long_ago() -> DateTime<Utc> {
        Utc::now() - TimeDelta::seconds(REPLAY_STATUS_RETENTION_SECS + 60)
    }

    #[tokio::test]
    async fn held_replays_are_the_running_ones_with_their_saved_progress() {
        let store = SqliteStore::open_in_memory().unwrap();
        let (a, b, c) = (stream("a"), stream("b"), stream("c"));
        let now = Utc::now();
        // a: running with a reported step, and one queued behind it.
        let running = request("ra", &a, 2);
        assert!(jobs::admit(&store, &running, now).await.unwrap().start);
        assert!(
            !jobs::admit(&store, &request("qa", &a, 0), now)
                .await
                .unwrap()
                .start
        );
        let mut progress = ReplayProgress::start(&running.target());
        progress.events_applied = 7;
        let at_step = running.continued_from(progress.clone());
        assert_eq!(
            jobs::claim(&store, &at_step, None, now).await,
            Ok(domain::Claim::Held)
        );
        // b: admitted, its run never reported.
        let unstarted = request("rb", &b, 0);
        assert!(jobs::admit(&store, &unstarted, now).await.unwrap().start);
        // c: finished, so its lane is free.
        let done = request("rc", &c, 0);
        assert!(jobs::admit(&store, &done, now).await.unwrap().start);
        let finished = jobs::finish(&store, &done, Ok(&progress), now).await;
        assert_eq!(finished, Ok(None));

        assert_eq!(store.held_replays().await, Ok(vec![at_step, unstarted]));
    }

    #[tokio::test]
    async fn a_held_replay_whose_job_row_expired_resumes_from_its_lane() {
        let store = SqliteStore::open_in_memory().unwrap();
        let s = stream("s");
        let old = request("old", &s, 4);
        assert!(jobs::admit(&store, &old, long_ago()).await.unwrap().start);
        let mut progress = ReplayProgress::start(&old.target());
        progress.events_applied = 3;
        let at_step = old.continued_from(progress);
        assert_eq!(
            jobs::claim(&store, &at_step, None, long_ago()).await,
            Ok(domain::Claim::Held)
        );
        assert_eq!(store.purge_expired_replay_jobs(Utc::now()).await, Ok(1));
        assert_eq!(store.job("old").await, Ok(None));
        assert_eq!(store.held_replays().await, Ok(vec![at_step]));
    }

    #[tokio::test]
    async fn expired_jobs_are_purged_in_batches_and_fresh_ones_kept() {
        let store = SqliteStore::open_in_memory().unwrap();
        let s = stream("s");
        let expired: Vec<ReplayJob> = (0..2 * PURGE_BATCH + 3)
            .map(|n| job_at(&format!("old-{n}"), long_ago()))
            .collect();
        let fresh = job_at("fresh", Utc::now());
        let lane = ReplayLane::default();
        assert_eq!(store.commit(&s, None, &lane, &expired).await, Ok(true));
        let kept = std::slice::from_ref(&fresh);
        assert_eq!(store.commit(&s, Some(0), &lane, kept).await, Ok(true));

        assert_eq!(
            store.purge_expired_replay_jobs(Utc::now()).await,
            Ok(expired.len())
        );
        assert_eq!(store.job("old-0").await, Ok(None));
        assert_eq!(store.job("fresh").await, Ok(Some(fresh)));
        assert_eq!(store.purge_expired_replay_jobs(Utc::now()).await, Ok(0));
        // Its lane is not a job: purging leaves it.
        assert_eq!(store.lane(&s).await.unwrap().map(|l| l.revision), Some(1));
        let later = Utc::now() + TimeDelta::seconds(REPLAY_STATUS_RETENTION_SECS + 1);
        assert_eq!(store.purge_expired_replay_jobs(later).await, Ok(1));
    }

    /// The purge finds expired rows through their index.
    #[test]
    fn the_purge_reads_the_expiry_index() {
        let store = SqliteStore::open_in_memory().unwrap();
        let conn = store.inner.writer().unwrap();
        let plan: String = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {PURGE}"))
            .unwrap()
            .query_map(params![0, 10], |row| row.get::<_, String>(3))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
            .join("; ");
        assert!(plan.contains("replay_jobs_expiry (expires_at<?)"), "{plan}");
        assert!(!plan.contains("SCAN replay_jobs"), "{plan}");
    }
}
