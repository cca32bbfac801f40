//! Replay jobs: what `GET /replayStatus` reports, and the per-stream lane
//! that lets one replay of a stream run at a time.
//!
//! A stream's [`ReplayLane`] holds the replay running on it (with a lease
//! its run renews after every step) and at most one queued behind it. A
//! trigger while one runs joins the queued replay, lowering its start to
//! cover both ranges, so the queue never grows. A run that stops renewing
//! its lease (its process died) loses the lane to the next trigger.
//!
//! The rules here ([`admit`], [`claim`], [`finish`]) read the lane, decide,
//! and commit the new lane with the job rows it changes in one conditional
//! write ([`ReplayJobs::commit`]); a commit that lost a race is decided
//! again from what won.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{EventId, StreamId};
use crate::limits::REPLAY_STATUS_RETENTION_SECS;
use crate::ports::StoreError;
use crate::replay::{ReplayProgress, ReplayRequest};

/// How long a running replay keeps its stream's lane without a step:
/// longer than a Lambda run (at most 15 minutes) takes to hand over.
pub const LEASE: Duration = Duration::minutes(20);

/// How many times a rule decides again after losing a race to commit.
const COMMIT_ATTEMPTS: usize = 50;

/// Where a replay job stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplayState {
    Queued,
    Running,
    Done,
    Failed,
}

/// One replay job as stored and as `GET /replayStatus` reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayJob {
    pub replay_id: String,
    pub stream_id: StreamId,
    pub from_event_id: EventId,
    pub state: ReplayState,
    pub events_applied: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub updated_at: DateTime<Utc>,
    /// Where the run stands, for a run that resumes from storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<ReplayProgress>,
}

impl ReplayJob {
    fn of(request: &ReplayRequest, state: ReplayState, now: DateTime<Utc>) -> ReplayJob {
        ReplayJob {
            replay_id: request.replay_id.clone(),
            stream_id: request.stream_id.clone(),
            from_event_id: request.from_event_id,
            state,
            events_applied: request
                .progress
                .as_ref()
                .map_or(0, |progress| progress.events_applied),
            error: None,
            updated_at: now,
            progress: request.progress.clone(),
        }
    }

    /// The request that runs (or resumes) this job.
    pub fn request(&self) -> ReplayRequest {
        ReplayRequest {
            replay_id: self.replay_id.clone(),
            stream_id: self.stream_id.clone(),
            from_event_id: self.from_event_id,
            progress: self.progress.clone(),
        }
    }

    /// When storage may forget the job.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.updated_at + Duration::seconds(REPLAY_STATUS_RETENTION_SECS)
    }

    /// The job as a reader at `now` should see it: a running job whose run
    /// has not reported for longer than the [`LEASE`] has failed.
    pub fn seen_at(mut self, now: DateTime<Utc>) -> ReplayJob {
        if self.state == ReplayState::Running && now - self.updated_at > LEASE {
            self.state = ReplayState::Failed;
            self.error = Some(format!(
                "the replay stopped reporting progress at {}; trigger it again",
                self.updated_at.to_rfc3339()
            ));
        }
        self
    }
}

/// A replay in a lane: enough to start it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LaneEntry {
    pub replay_id: String,
    pub from_event_id: EventId,
    /// The running replay's progress as its run last reported it: a run
    /// must report from there, so a second delivery of the same run (an
    /// asynchronous invocation can arrive twice) stops at its first report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<ReplayProgress>,
}

/// A stream's replays: the one running, and the one queued behind it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayLane {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<LaneEntry>,
    /// Until when the running replay holds the lane without a step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued: Option<LaneEntry>,
}

impl ReplayLane {
    fn running_at(&self, now: DateTime<Utc>) -> Option<&LaneEntry> {
        let held = self.lease_until.is_some_and(|until| now <= until);
        self.running.as_ref().filter(|_| held)
    }

    fn runs(&self, replay_id: &str) -> bool {
        self.running
            .as_ref()
            .is_some_and(|entry| entry.replay_id == replay_id)
    }
}

/// A lane as stored, with the revision a commit must find to replace it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredLane {
    pub lane: ReplayLane,
    pub revision: u64,
}

/// Where replay jobs and lanes are kept.
#[async_trait]
pub trait ReplayJobs: Send + Sync {
    /// The lane of `stream_id`, if it ever had one.
    async fn lane(&self, stream_id: &StreamId) -> Result<Option<StoredLane>, StoreError>;

    /// Stores `lane` (at revision `expected + 1`, or 0 when `expected` is
    /// `None`) and writes every job of `jobs`, all or nothing, if the
    /// stored lane is still at `expected` (`None`: no lane). `Ok(false)`,
    /// with nothing written, when it is not.
    async fn commit(
        &self,
        stream_id: &StreamId,
        expected: Option<u64>,
        lane: &ReplayLane,
        jobs: &[ReplayJob],
    ) -> Result<bool, StoreError>;

    /// The job `replay_id`, as last written; `None` if unknown or expired.
    async fn job(&self, replay_id: &str) -> Result<Option<ReplayJob>, StoreError>;
}

/// What became of a trigger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admission {
    /// The replay that covers the trigger's range: the trigger's own, or
    /// the queued one it joined.
    pub covered_by: ReplayRequest,
    /// Whether `covered_by` is to be started now (the lane was free).
    pub start: bool,
}

/// Decides `decide(lane)` and commits it, deciding again after a lost race.
async fn commit_with<J, T>(
    jobs: &J,
    stream_id: &StreamId,
    mut decide: impl FnMut(ReplayLane) -> (ReplayLane, Vec<ReplayJob>, T),
) -> Result<T, StoreError>
where
    J: ReplayJobs + ?Sized,
{
    for _ in 0..COMMIT_ATTEMPTS {
        let stored = jobs.lane(stream_id).await?;
        let expected = stored.as_ref().map(|stored| stored.revision);
        let lane = stored.map(|stored| stored.lane).unwrap_or_default();
        let (lane, written, answer) = decide(lane);
        if jobs.commit(stream_id, expected, &lane, &written).await? {
            return Ok(answer);
        }
    }
    Err(StoreError::Contention(format!(
        "the replay lane of stream {stream_id} kept changing"
    )))
}

/// Records a triggered replay (`request`, with no progress): it starts at
/// once if the stream's lane is free; if a replay runs, it is queued behind
/// it, or joins the one already queued (which then starts no later than
/// either asked).
pub async fn admit<J>(
    jobs: &J,
    request: &ReplayRequest,
    now: DateTime<Utc>,
) -> Result<Admission, StoreError>
where
    J: ReplayJobs + ?Sized,
{
    let entry = LaneEntry {
        replay_id: request.replay_id.clone(),
        from_event_id: request.from_event_id,
        progress: None,
    };
    commit_with(jobs, &request.stream_id, |mut lane| {
        let joined = match lane.queued.take() {
            Some(mut queued) => {
                queued.from_event_id = queued.from_event_id.min(entry.from_event_id);
                queued
            }
            None => entry.clone(),
        };
        // Free, or held by a run that stopped renewing its lease (its
        // process died): the replay it would queue takes the lane now.
        let start = lane.running_at(now).is_none();
        if start {
            lane.running = Some(joined.clone());
            lane.lease_until = Some(now + LEASE);
        } else {
            lane.queued = Some(joined.clone());
        }
        let covered_by = ReplayRequest {
            replay_id: joined.replay_id,
            stream_id: request.stream_id.clone(),
            from_event_id: joined.from_event_id,
            progress: None,
        };
        let job = ReplayJob::of(&covered_by, ReplayState::Queued, now);
        (lane, vec![job], Admission { covered_by, start })
    })
    .await
}

/// What a run learns when it reports a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The lane is still the run's: go on.
    Held,
    /// Another replay took the lane over after this run's lease ran out:
    /// stop, and record this replay's end.
    TakenOver,
    /// The replay holds the lane, but its progress has moved past where
    /// this run started: another delivery of the run goes on with it.
    /// Stop without writing anything.
    ContinuedElsewhere,
}

/// Reports that `request`'s run went from `previous` (where it started,
/// or its last report) to `request.progress`: renews the lease and records
/// the job as running.
pub async fn claim<J>(
    jobs: &J,
    request: &ReplayRequest,
    previous: Option<&ReplayProgress>,
    now: DateTime<Utc>,
) -> Result<Claim, StoreError>
where
    J: ReplayJobs + ?Sized,
{
    let job = ReplayJob::of(request, ReplayState::Running, now);
    commit_with(jobs, &request.stream_id, |mut lane| {
        let Some(running) = lane
            .running
            .as_mut()
            .filter(|running| running.replay_id == request.replay_id)
        else {
            return (lane, Vec::new(), Claim::TakenOver);
        };
        if running.progress.as_ref() != previous {
            return (lane, Vec::new(), Claim::ContinuedElsewhere);
        }
        running.progress = request.progress.clone();
        lane.lease_until = Some(now + LEASE);
        (lane, vec![job.clone()], Claim::Held)
    })
    .await
}

/// Records how `request`'s run ended (`Ok` with its final progress, or the
/// error that stopped it) and frees the lane; returns the queued replay
/// that now holds the lane, to be started.
pub async fn finish<J>(
    jobs: &J,
    request: &ReplayRequest,
    outcome: Result<&ReplayProgress, String>,
    now: DateTime<Utc>,
) -> Result<Option<ReplayRequest>, StoreError>
where
    J: ReplayJobs + ?Sized,
{
    let mut job = ReplayJob::of(request, ReplayState::Done, now);
    match outcome {
        Ok(progress) => {
            job.events_applied = progress.events_applied;
            job.progress = Some(progress.clone());
        }
        Err(error) => {
            job.state = ReplayState::Failed;
            job.error = Some(error);
        }
    }
    commit_with(jobs, &request.stream_id, |mut lane| {
        if !lane.runs(&request.replay_id) {
            // The lane was taken over: only this job's own record changes.
            return (lane, vec![job.clone()], None);
        }
        let next = lane.queued.take().map(|queued| ReplayRequest {
            replay_id: queued.replay_id,
            stream_id: request.stream_id.clone(),
            from_event_id: queued.from_event_id,
            progress: None,
        });
        lane.running = next.as_ref().map(|next| LaneEntry {
            replay_id: next.replay_id.clone(),
            from_event_id: next.from_event_id,
            progress: None,
        });
        lane.lease_until = next.as_ref().map(|_| now + LEASE);
        (lane, vec![job.clone()], next)
    })
    .await
}
