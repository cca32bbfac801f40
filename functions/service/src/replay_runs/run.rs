//! One run of a replay: it claims the replay in its lane, steps through it
//! from the lane's progress, reporting every step, until the replay is
//! done, fails, or the run must stop (its time is short) and hands over. A
//! rebuild of every stream runs each stream's replay inside its own run.

use chrono::Utc;
use domain::jobs::{self, Lent};
use domain::replay::{self, ReplayProgress, ReplayTarget};
use domain::{
    Claim, EventStore, Finished, LaneEntry, LaneKey, ReadModel, RebuildProgress, ReplayJob,
    ReplayJobs, ReplayRequest, ReplayState, RunProgress, StoreError,
};

use super::{ReplayDispatcher, resume};

/// How a run ended.
#[derive(Debug)]
pub enum ReplayRun {
    /// The replay is done, or failed; recorded either way (and the replay
    /// queued behind it started).
    Ended(Option<ReplayJob>),
    /// The run stopped before the replay was done, because its time was
    /// short: this request continues it, from the lane's progress.
    Paused(ReplayRequest),
    /// The run had nothing to do: the replay ended already, is still
    /// queued, or another run works on it (an invocation delivered twice).
    Stopped,
}

/// What the run needs: the stores, a way to start other runs, and when to
/// stop.
struct Run<'a> {
    events: &'a dyn EventStore,
    read_model: &'a dyn ReadModel,
    jobs: &'a dyn ReplayJobs,
    dispatcher: &'a dyn ReplayDispatcher,
    time_is_short: &'a (dyn Fn() -> bool + Send + Sync),
    /// This run's token: the lane takes no report from another run.
    token: String,
}

/// The replay function's handler (and local mode's background job): runs
/// `request` until it ends or `time_is_short`. Starts the replay queued
/// behind one that ends. An `Err` is a failure of `jobs` itself: the
/// replay keeps its lane, and a sweep resumes it.
pub async fn run_replay(
    events: &dyn EventStore,
    read_model: &dyn ReadModel,
    jobs: &dyn ReplayJobs,
    dispatcher: &dyn ReplayDispatcher,
    request: &ReplayRequest,
    time_is_short: &(dyn Fn() -> bool + Send + Sync),
) -> Result<ReplayRun, StoreError> {
    let run = Run {
        events,
        read_model,
        jobs,
        dispatcher,
        time_is_short,
        token: uuid::Uuid::new_v4().to_string(),
    };
    let (key, id) = (&request.lane, request.replay_id.as_str());
    let entry = match jobs::claim(jobs, key, id, &run.token, Utc::now()).await? {
        Claim::Held(entry) => *entry,
        Claim::NotRunning => {
            tracing::info!(replay_id = id, lane = %key, "replay run stopped: the replay is not running (it ended, or waits in the queue)");
            return Ok(ReplayRun::Stopped);
        }
        Claim::HeldElsewhere => {
            tracing::warn!(replay_id = id, lane = %key, "replay run stopped: another run works on this replay");
            return Ok(ReplayRun::Stopped);
        }
    };
    let outcome = match key {
        LaneKey::Stream(_) => run.stream(key, id, entry, None).await,
        LaneKey::AllStreams => run.rebuild(id, entry).await,
    };
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(err) => {
            // The store failed under the run: leave the replay to the next
            // run at once (the invocation's retry, say) rather than after
            // the lease. If this fails too, a sweep resumes it later.
            let _ = jobs::release(jobs, key, id, &run.token, Utc::now()).await;
            return Err(err);
        }
    };
    Ok(match outcome {
        Outcome::Ended(next) => {
            if let Some(next) = next {
                resume(dispatcher, &next).await;
            }
            ReplayRun::Ended(jobs.job(id).await?)
        }
        Outcome::Paused => ReplayRun::Paused(request.clone()),
        Outcome::Lost => {
            tracing::warn!(replay_id = id, lane = %key, "replay run stopped: another run took the replay over");
            ReplayRun::Stopped
        }
    })
}

/// How one replay's part of a run ended.
enum Outcome {
    /// Recorded; the replay queued behind it, to start.
    Ended(Option<ReplayRequest>),
    /// Released for a next run.
    Paused,
    /// Another run holds it now.
    Lost,
}

/// How often a step that failed for a reason that may pass is tried.
const STEP_ATTEMPTS: u32 = 3;

impl Run<'_> {
    /// Steps through the stream replay `id` of the lane `key` from
    /// `entry`'s progress, reporting each step; as the child of a rebuild
    /// (`parent`: its id and progress), the rebuild's too, so its lease
    /// runs with the child's and its count goes up.
    async fn stream(
        &self,
        key: &LaneKey,
        id: &str,
        entry: LaneEntry,
        mut parent: Option<(&str, &mut RebuildProgress)>,
    ) -> Result<Outcome, StoreError> {
        let LaneKey::Stream(stream_id) = key else {
            return Err(StoreError::Corrupt(format!(
                "replay {id} of {key} stepped as a stream replay"
            )));
        };
        let target = ReplayTarget {
            stream_id: stream_id.clone(),
            from_event_id: entry.from_event_id,
        };
        let started = std::time::Instant::now();
        let mut progress = entry
            .progress
            .clone()
            .unwrap_or_else(|| ReplayProgress::start(&target));
        loop {
            if progress.is_done() {
                tracing::info!(
                    replay_id = id,
                    stream_id = %stream_id,
                    from_event_id = target.from_event_id.get(),
                    events_applied = progress.events_applied,
                    items_written = progress.items_written,
                    items_superseded = progress.items_superseded,
                    rows_removed = progress.rows_removed,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "replay finished"
                );
                return self
                    .finish(key, id, Ok(RunProgress::Stream(progress)))
                    .await;
            }
            if (self.time_is_short)() {
                return self.pause(key, id, progress.events_applied).await;
            }
            progress = match self.step(&target, &progress).await {
                Ok(progress) => progress,
                Err(err) => {
                    tracing::error!(replay_id = id, stream_id = %stream_id, error = %err, "replay failed");
                    return self.finish(key, id, Err(err.to_string())).await;
                }
            };
            let reported = RunProgress::Stream(progress.clone());
            if !jobs::report(self.jobs, key, id, &self.token, reported, Utc::now()).await? {
                return Ok(Outcome::Lost);
            }
            if let Some((parent_id, rebuild)) = parent.as_mut() {
                if let Some(current) = rebuild.current.as_mut() {
                    current.events_applied = progress.events_applied;
                }
                if !self.report_rebuild(parent_id, rebuild).await? {
                    return Ok(Outcome::Lost);
                }
            }
        }
    }

    /// One step, tried again after a pause when the store says trying again
    /// may work; corrupt data fails at once.
    async fn step(
        &self,
        target: &ReplayTarget,
        progress: &ReplayProgress,
    ) -> Result<ReplayProgress, StoreError> {
        let mut attempt = 1;
        loop {
            let stepped = replay::step(
                self.events,
                self.read_model,
                target,
                progress,
                replay::PAGE_SIZE,
            )
            .await;
            match stepped {
                Err(StoreError::Unavailable(_) | StoreError::Contention(_))
                    if attempt < STEP_ATTEMPTS =>
                {
                    tokio::time::sleep(std::time::Duration::from_secs(u64::from(attempt))).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn finish(
        &self,
        key: &LaneKey,
        id: &str,
        outcome: Result<RunProgress, String>,
    ) -> Result<Outcome, StoreError> {
        let finished =
            jobs::finish(self.jobs, key, id, Some(&self.token), outcome, Utc::now()).await?;
        Ok(match finished {
            Finished::Ended { next } => Outcome::Ended(next),
            Finished::NotHeld => Outcome::Lost,
        })
    }

    async fn pause(
        &self,
        key: &LaneKey,
        id: &str,
        events_applied: u64,
    ) -> Result<Outcome, StoreError> {
        tracing::info!(replay_id = id, lane = %key, events_applied, "replay paused; a new run continues it");
        if jobs::release(self.jobs, key, id, &self.token, Utc::now()).await? {
            Ok(Outcome::Paused)
        } else {
            Ok(Outcome::Lost)
        }
    }

    /// The rebuild `id` of every stream, from `entry`'s progress: each
    /// stream in turn, replayed from 0 in its own lane as a child of the
    /// rebuild, or left to a replay queued behind the one that holds it.
    async fn rebuild(&self, id: &str, entry: LaneEntry) -> Result<Outcome, StoreError> {
        let all = LaneKey::AllStreams;
        let mut rebuild = entry.rebuild.unwrap_or_default();
        loop {
            if (self.time_is_short)() {
                return self.pause(&all, id, rebuild.events_applied_so_far()).await;
            }
            let Some(child) = rebuild.current.clone() else {
                let page = self.events.list_streams(rebuild.after.as_ref(), 1).await?;
                let Some(next) = page.streams.into_iter().next() else {
                    rebuild.done = true;
                    tracing::info!(
                        replay_id = id,
                        streams_replayed = rebuild.streams_replayed,
                        streams_queued = rebuild.streams_queued,
                        streams_failed = rebuild.streams_failed,
                        events_applied = rebuild.events_applied,
                        "rebuild of every stream finished"
                    );
                    return self
                        .finish(&all, id, Ok(RunProgress::Rebuild(rebuild)))
                        .await;
                };
                rebuild.take_up(id, next.stream_id);
                if !self.report_rebuild(id, &rebuild).await? {
                    return Ok(Outcome::Lost);
                }
                continue;
            };
            // A child that ended before the rebuild recorded it (its run
            // died in between) is counted from its job.
            if let Some(job) = self.jobs.job(&child.replay_id).await?
                && job.state.ended()
                && job.parent.as_deref() == Some(id)
            {
                rebuild.child_ended(match job.state {
                    ReplayState::Done => Ok(job.events_applied),
                    _ => Err(job.error.unwrap_or_else(|| "failed".into())),
                });
                if !self.report_rebuild(id, &rebuild).await? {
                    return Ok(Outcome::Lost);
                }
                continue;
            }
            let lent = jobs::lend(
                self.jobs,
                &child.stream_id,
                &child.replay_id,
                id,
                &self.token,
                Utc::now(),
            )
            .await?;
            let held = match lent {
                Lent::Queued { covered_by, start } => {
                    tracing::info!(replay_id = id, stream_id = %child.stream_id, covered_by, "rebuild: the stream is held by another replay; a replay from 0 is queued behind it");
                    if let Some(start) = start {
                        resume(self.dispatcher, &start).await;
                    }
                    rebuild.child_queued();
                    if !self.report_rebuild(id, &rebuild).await? {
                        return Ok(Outcome::Lost);
                    }
                    continue;
                }
                Lent::Held(held) => *held,
            };
            let key = LaneKey::Stream(child.stream_id.clone());
            let outcome = self
                .stream(&key, &child.replay_id, held, Some((id, &mut rebuild)))
                .await;
            let outcome = match outcome {
                Ok(outcome) => outcome,
                Err(err) => {
                    let _ =
                        jobs::release(self.jobs, &key, &child.replay_id, &self.token, Utc::now())
                            .await;
                    return Err(err);
                }
            };
            match outcome {
                Outcome::Ended(next) => {
                    if let Some(next) = next {
                        resume(self.dispatcher, &next).await;
                    }
                    let job = self.jobs.job(&child.replay_id).await?;
                    rebuild.child_ended(match job {
                        Some(job) if job.state == ReplayState::Done => Ok(job.events_applied),
                        Some(job) => Err(job.error.unwrap_or_else(|| "failed".into())),
                        None => Err("its job row is gone".into()),
                    });
                    if !self.report_rebuild(id, &rebuild).await? {
                        return Ok(Outcome::Lost);
                    }
                }
                Outcome::Paused => {
                    let events = rebuild.events_applied_so_far();
                    return self.pause(&all, id, events).await;
                }
                Outcome::Lost => return Ok(Outcome::Lost),
            }
        }
    }

    async fn report_rebuild(
        &self,
        id: &str,
        rebuild: &RebuildProgress,
    ) -> Result<bool, StoreError> {
        let progress = RunProgress::Rebuild(rebuild.clone());
        jobs::report(
            self.jobs,
            &LaneKey::AllStreams,
            id,
            &self.token,
            progress,
            Utc::now(),
        )
        .await
    }
}
