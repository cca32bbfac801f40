//! The `ReplayJobs` port: one row per lane in `replay_lanes` (keyed by
//! `LaneKey::as_key`, with the revision a commit must find and whether a
//! replay runs in it), one row per job in `replay_jobs` (with when it may
//! be forgotten); both keep the value's JSON, which only this port reads.
//! Expired job rows are purged in bounded batches
//! ([`SqliteStore::purge_expired_replay_jobs`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{LaneKey, ReplayJob, ReplayJobs, ReplayLane, StoreError, StoredLane};
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
    (lane, held): (&str, bool),
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
        "INSERT INTO replay_lanes (stream_id, revision, body, held) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (stream_id) DO UPDATE
         SET revision = excluded.revision, body = excluded.body, held = excluded.held",
        params![stream, revision, lane, held],
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

/// Up to `limit` lanes with a running replay after `after`, in key order.
fn held_blocking(
    conn: &Connection,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<LaneKey>, StoreError> {
    // The all-streams lane's key is "", before every stream's.
    let (condition, after) = match after {
        Some(after) => ("stream_id > ?1", after),
        None => ("stream_id >= ?1", ""),
    };
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT stream_id FROM replay_lanes INDEXED BY replay_lanes_held
             WHERE held = 1 AND {condition} ORDER BY stream_id LIMIT ?2"
        ))
        .map_err(db_error)?;
    let keys: Vec<String> = stmt
        .query_map(params![after, limit], |row| row.get(0))
        .and_then(|rows| rows.collect())
        .map_err(db_error)?;
    keys.iter().map(|key| LaneKey::from_key(key)).collect()
}

impl SqliteStore {
    /// Deletes every replay job row expired at `now` (see
    /// [`ReplayJob::expires_at`]), [`PURGE_BATCH`](super::PURGE_BATCH) per transaction; returns
    /// how many it deleted.
    pub async fn purge_expired_replay_jobs(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        self.purge_in_batches(PURGE, now).await
    }
}

#[async_trait]
impl ReplayJobs for SqliteStore {
    async fn lane(&self, key: &LaneKey) -> Result<Option<StoredLane>, StoreError> {
        let key = key.as_key().to_owned();
        self.blocking(move |inner| inner.read(|conn| lane_blocking(conn, &key)))
            .await
    }

    async fn commit(
        &self,
        key: &LaneKey,
        expected: Option<u64>,
        lane: &ReplayLane,
        jobs: &[ReplayJob],
    ) -> Result<bool, StoreError> {
        let key = key.as_key().to_owned();
        let held = lane.running.is_some();
        let lane = encode(lane, "a replay lane")?;
        let jobs = jobs
            .iter()
            .map(|job| {
                let body = encode(job, "a replay job")?;
                Ok((job.replay_id.clone(), body, job.expires_at().timestamp()))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.blocking(move |inner| commit_blocking(inner, &key, expected, (&lane, held), &jobs))
            .await
    }

    async fn job(&self, replay_id: &str) -> Result<Option<ReplayJob>, StoreError> {
        let replay_id = replay_id.to_owned();
        self.blocking(move |inner| inner.read(|conn| job_blocking(conn, &replay_id)))
            .await
    }

    async fn held_lanes(
        &self,
        after: Option<&LaneKey>,
        limit: usize,
    ) -> Result<Vec<LaneKey>, StoreError> {
        let after = after.map(|after| after.as_key().to_owned());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.blocking(move |inner| inner.read(|conn| held_blocking(conn, after.as_deref(), limit)))
            .await
    }
}

#[cfg(test)]
mod tests {
    use crate::sqlite::PURGE_BATCH;
    use chrono::TimeDelta;
    use domain::limits::REPLAY_STATUS_RETENTION_SECS;
    use domain::{EventId, ReplayScope, ReplayState, ReplayTarget, StreamId};

    use super::*;

    fn stream(name: &str) -> StreamId {
        StreamId::parse(name, "streamId").unwrap()
    }

    fn job_at(id: &str, updated_at: DateTime<Utc>) -> ReplayJob {
        ReplayJob {
            replay_id: id.into(),
            scope: ReplayScope::Stream(ReplayTarget {
                stream_id: stream("s"),
                from_event_id: EventId::FIRST,
            }),
            state: ReplayState::Done,
            events_applied: 3,
            streams: None,
            error: None,
            updated_at,
            parent: None,
        }
    }

    fn long_ago() -> DateTime<Utc> {
        Utc::now() - TimeDelta::seconds(REPLAY_STATUS_RETENTION_SECS + 60)
    }

    #[tokio::test]
    async fn expired_jobs_are_purged_in_batches_and_fresh_ones_kept() {
        let store = SqliteStore::open_in_memory().unwrap();
        let s = stream("s");
        let expired: Vec<ReplayJob> = (0..2 * PURGE_BATCH + 3)
            .map(|n| job_at(&format!("old-{n}"), long_ago()))
            .collect();
        let fresh = job_at("fresh", Utc::now());
        let (s, lane) = (LaneKey::Stream(s), ReplayLane::default());
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
