//! Replay jobs: what `GET /replayStatus` reports, and the lanes that let
//! one replay of a stream (and one rebuild of every stream) run at a time.
//!
//! A [`ReplayLane`] holds the replay running on it and at most one queued
//! behind it; a trigger while one runs joins the queued one, lowering its
//! start to cover both ranges. The running replay's progress lives in its
//! lane, not in the message that runs it: a run [`claim`]s the replay
//! under a token of its own, reports each step ([`report`]) and renews its
//! lease with it. A run that dies (a crash, a timeout, a lost or failed
//! invocation) is resumed from the lane's progress by whoever finds its
//! lease run out ([`resume_stalled`]: the next trigger, a status read, the
//! periodic sweep), so a lane is never left held; a replay resumed
//! [`MAX_STALLS`] times with no step in between is failed, and the queued
//! one starts. Two runs of one replay (an invocation delivered twice)
//! never both work: the claim of the second finds the lane held. A job
//! that ended never changes again: [`finish`] writes only for the run
//! that holds the replay.
//!
//! A rebuild of every stream runs in the all-streams lane and takes each
//! stream's lane in turn for a child replay ([`lend`]); a lent lane is
//! resumed by resuming the rebuild.
//!
//! Each rule reads the lane, decides, and commits the new lane with the job
//! rows it changes in one conditional write ([`ReplayJobs::commit`]); a
//! commit that lost a race is decided again from what won.

use chrono::{DateTime, Utc};

use crate::ids::{EventId, StreamId};
pub use crate::lanes::{
    LEASE, LaneEntry, LaneKey, MAX_STALLS, ReplayJob, ReplayJobs, ReplayLane, ReplayRequest,
    ReplayState, RunProgress, StoredLane, StreamCounts,
};
use crate::ports::StoreError;
use crate::replay::ReplayScope;

/// How many times a rule decides again after losing a race to commit.
const COMMIT_ATTEMPTS: usize = 50;

/// What a rule decided: the new lane and the job rows to write with it,
/// or nothing to write.
type Decision<T> = (Option<(ReplayLane, Vec<ReplayJob>)>, T);

/// Decides `decide(lane)` and commits it, deciding again after a lost race.
async fn commit_with<J, T>(
    jobs: &J,
    key: &LaneKey,
    mut decide: impl FnMut(ReplayLane) -> Decision<T>,
) -> Result<T, StoreError>
where
    J: ReplayJobs + ?Sized,
{
    for _ in 0..COMMIT_ATTEMPTS {
        let stored = jobs.lane(key).await?;
        let expected = stored.as_ref().map(|stored| stored.revision);
        let lane = stored.map(|stored| stored.lane).unwrap_or_default();
        let (write, answer) = decide(lane);
        let Some((lane, written)) = write else {
            return Ok(answer);
        };
        if jobs.commit(key, expected, &lane, &written).await? {
            return Ok(answer);
        }
    }
    Err(StoreError::Contention(format!(
        "the replay lane of {key} kept changing"
    )))
}

/// What became of a trigger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admission {
    /// The replay that covers the trigger: its own, or the queued one it
    /// joined (which then starts no later than the trigger asked).
    pub covered_by: String,
    pub scope: ReplayScope,
    /// The run to start now: the trigger's replay on a free lane, or the
    /// running replay resumed when its run was found dead.
    pub start: Option<ReplayRequest>,
}

/// Records a trigger of `scope` as the replay `replay_id`: it starts at
/// once if its lane is free; if a replay runs, it is queued behind it, or
/// joins the one already queued. A running replay whose lease ran out is
/// resumed (or failed, see [`MAX_STALLS`]) on the way.
pub async fn admit<J>(
    jobs: &J,
    replay_id: &str,
    scope: &ReplayScope,
    now: DateTime<Utc>,
) -> Result<Admission, StoreError>
where
    J: ReplayJobs + ?Sized,
{
    let key = LaneKey::of(scope);
    let asked = LaneEntry::new(replay_id, scope.from_event_id());
    commit_with(jobs, &key, |mut lane| {
        let joined = match lane.queued.take() {
            Some(mut queued) => {
                queued.from_event_id = queued.from_event_id.min(asked.from_event_id);
                queued
            }
            None => asked.clone(),
        };
        let mut written = vec![ReplayJob::of(&key, &joined, ReplayState::Queued, now)];
        let start = if lane.running.is_none() {
            lane.running = Some(joined.clone());
            lane.lease_until = Some(now + LEASE);
            Some(joined.resumed_by(&key))
        } else {
            lane.queued = Some(joined.clone());
            if lane.stalled_at(now) {
                let (failed, start) = lane.on_stall(&key, now);
                written.extend(failed);
                start
            } else {
                None
            }
        };
        let admission = Admission {
            covered_by: joined.replay_id.clone(),
            scope: key.scope(joined.from_event_id),
            start,
        };
        (Some((lane, written)), admission)
    })
    .await
}

/// Resumes the replay running in the lane `key` if its lease ran out (or
/// fails it, see [`MAX_STALLS`]); the run to start. A lane lent to a
/// rebuild is resumed by resuming the rebuild. Nothing is written when
/// the running replay is alive or none runs.
pub async fn resume_stalled<J>(
    jobs: &J,
    key: &LaneKey,
    now: DateTime<Utc>,
) -> Result<Option<ReplayRequest>, StoreError>
where
    J: ReplayJobs + ?Sized,
{
    /// What the lane itself said.
    enum Found {
        Alive,
        LentToARebuild,
        Resumed(Option<ReplayRequest>),
    }
    let found = commit_with(jobs, key, |mut lane| {
        if !lane.stalled_at(now) {
            return (None, Found::Alive);
        }
        if lane.running.as_ref().is_some_and(|r| r.parent.is_some()) {
            return (None, Found::LentToARebuild);
        }
        let (written, start) = lane.on_stall(key, now);
        (Some((lane, written)), Found::Resumed(start))
    })
    .await?;
    match found {
        Found::Alive => Ok(None),
        Found::Resumed(start) => Ok(start),
        Found::LentToARebuild if *key != LaneKey::AllStreams => {
            Box::pin(resume_stalled(jobs, &LaneKey::AllStreams, now)).await
        }
        Found::LentToARebuild => Ok(None),
    }
}

/// What a run learns when it claims its replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The replay is the run's now: go on from this entry's progress.
    Held(Box<LaneEntry>),
    /// The replay does not hold its lane: it ended, or is still queued.
    /// Do nothing.
    NotRunning,
    /// Another run works on it and is alive. Do nothing.
    HeldElsewhere,
}

/// Takes the replay `replay_id` of the lane `key` for the run `run`, if
/// it holds the lane and no other live run works on it; renews its lease
/// and records the job as running.
pub async fn claim<J>(
    jobs: &J,
    key: &LaneKey,
    replay_id: &str,
    run: &str,
    now: DateTime<Utc>,
) -> Result<Claim, StoreError>
where
    J: ReplayJobs + ?Sized,
{
    commit_with(jobs, key, |mut lane| {
        let alive = !lane.stalled_at(now);
        let Some(entry) = lane.running_replay(replay_id) else {
            return (None, Claim::NotRunning);
        };
        if entry.run.as_deref().is_some_and(|other| other != run) && alive {
            return (None, Claim::HeldElsewhere);
        }
        entry.run = Some(run.to_owned());
        let claimed = entry.clone();
        lane.lease_until = Some(now + LEASE);
        let job = ReplayJob::of(key, &claimed, ReplayState::Running, now);
        (Some((lane, vec![job])), Claim::Held(Box::new(claimed)))
    })
    .await
}

/// Records the step of the run `run` and renews its lease. `false`, with
/// nothing written, when the run no longer holds the replay: stop.
pub async fn report<J>(
    jobs: &J,
    key: &LaneKey,
    replay_id: &str,
    run: &str,
    progress: RunProgress,
    now: DateTime<Utc>,
) -> Result<bool, StoreError>
where
    J: ReplayJobs + ?Sized,
{
    commit_with(jobs, key, |mut lane| {
        let Some(entry) = lane.held_by(replay_id, Some(run)) else {
            return (None, false);
        };
        if progress.clone().set(entry) {
            entry.stalls = 0;
        }
        let job = ReplayJob::of(key, entry, ReplayState::Running, now);
        lane.lease_until = Some(now + LEASE);
        (Some((lane, vec![job])), true)
    })
    .await
}

/// The run `run` stops before its replay is done (its time is short, or
/// its process stops) and leaves it for the run it starts next, which may
/// claim it at once. Its lease is renewed, so a sweep leaves it alone
/// meanwhile. `false` when the run did not hold it.
pub async fn release<J>(
    jobs: &J,
    key: &LaneKey,
    replay_id: &str,
    run: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError>
where
    J: ReplayJobs + ?Sized,
{
    commit_with(jobs, key, |mut lane| {
        let Some(entry) = lane.held_by(replay_id, Some(run)) else {
            return (None, false);
        };
        entry.run = None;
        lane.lease_until = Some(now + LEASE);
        (Some((lane, Vec::new())), true)
    })
    .await
}

/// How [`finish`] went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finished {
    /// Recorded; the replay queued behind it now holds the lane: start it.
    Ended { next: Option<ReplayRequest> },
    /// The run did not hold the replay (it ended already, or another run
    /// took it over): nothing was written.
    NotHeld,
}

/// Records how the replay `replay_id` ended, `Ok` with its final progress
/// or the error that stopped it, and hands its lane to the queued replay;
/// only for the run that holds it (`run`: `None` for a replay whose run
/// never started). A job that ended never changes again.
pub async fn finish<J>(
    jobs: &J,
    key: &LaneKey,
    replay_id: &str,
    run: Option<&str>,
    outcome: Result<RunProgress, String>,
    now: DateTime<Utc>,
) -> Result<Finished, StoreError>
where
    J: ReplayJobs + ?Sized,
{
    commit_with(jobs, key, |mut lane| {
        let Some(entry) = lane.held_by(replay_id, run) else {
            return (None, Finished::NotHeld);
        };
        let job = match outcome.clone() {
            Ok(progress) => {
                progress.set(entry);
                ReplayJob::of(key, entry, ReplayState::Done, now)
            }
            Err(error) => ReplayJob {
                error: Some(error),
                ..ReplayJob::of(key, entry, ReplayState::Failed, now)
            },
        };
        let next = lane.hand_over(key, now);
        (Some((lane, vec![job])), Finished::Ended { next })
    })
    .await
}

/// What a rebuild learns when it takes a stream for its child replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lent {
    /// The stream's lane runs the child for the rebuild's run now: go on
    /// from this entry's progress.
    Held(Box<LaneEntry>),
    /// Another replay holds the stream: a replay from 0 is queued behind
    /// it (`covered_by`, which may be one queued already). `start` is the
    /// run to start, when the holder was found dead.
    Queued {
        covered_by: String,
        start: Option<ReplayRequest>,
    },
}

/// Takes `stream`'s lane for `child`, a replay from 0 that the rebuild
/// `parent` runs under its run `run`: at once when the lane is free or
/// runs `child` for `parent` already (an earlier run of the rebuild, now
/// superseded by `run`, which holds the rebuild: that one stops at its
/// next report), else by queueing a replay from 0 behind the one that
/// holds it.
pub async fn lend<J>(
    jobs: &J,
    stream: &StreamId,
    child: &str,
    parent: &str,
    run: &str,
    now: DateTime<Utc>,
) -> Result<Lent, StoreError>
where
    J: ReplayJobs + ?Sized,
{
    let key = LaneKey::Stream(stream.clone());
    commit_with(jobs, &key, |mut lane| {
        if lane.running.is_none() {
            lane.running = Some(LaneEntry {
                parent: Some(parent.to_owned()),
                ..LaneEntry::new(child, EventId::FIRST)
            });
        }
        if let Some(entry) = lane.running_replay(child) {
            if entry.parent.as_deref() != Some(parent) {
                // Queued behind another replay earlier, the child runs on
                // its own now: it covers the stream.
                let covered_by = entry.replay_id.clone();
                let lent = Lent::Queued {
                    covered_by,
                    start: None,
                };
                return (None, lent);
            }
            entry.run = Some(run.to_owned());
            let held = entry.clone();
            lane.lease_until = Some(now + LEASE);
            let job = ReplayJob::of(&key, &held, ReplayState::Running, now);
            return (Some((lane, vec![job])), Lent::Held(Box::new(held)));
        }
        let joined = match lane.queued.take() {
            Some(mut queued) => {
                queued.from_event_id = EventId::FIRST;
                queued
            }
            None => LaneEntry::new(child, EventId::FIRST),
        };
        let mut written = vec![ReplayJob::of(&key, &joined, ReplayState::Queued, now)];
        lane.queued = Some(joined.clone());
        let start = if lane.stalled_at(now) {
            let (failed, start) = lane.on_stall(&key, now);
            written.extend(failed);
            start
        } else {
            None
        };
        let lent = Lent::Queued {
            covered_by: joined.replay_id,
            start,
        };
        (Some((lane, written)), lent)
    })
    .await
}
