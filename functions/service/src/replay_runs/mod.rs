//! Replays: dispatched by `POST /triggerReplay`, run by the replay function
//! (or a local background job) against the event table, never the 24-hour
//! change stream.
//!
//! Every run is started by a [`ReplayRequest`] (the replay and its lane);
//! where it starts from is in the lane (`domain::jobs`). A run that stops
//! early hands over to a new run of the same request; one that dies is
//! resumed by [`sweep`] (every [`SWEEP_EVERY`]), by the next trigger of
//! its lane, or by a status read.

mod run;

use async_trait::async_trait;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use chrono::{DateTime, Utc};
use domain::jobs;
use domain::{Finished, LaneKey, ReplayJobs, ReplayRequest, StoreError};
use serde::Deserialize;

pub use run::{ReplayRun, run_replay};

/// How often the sweep looks for replays whose run died: on Lambda a
/// schedule invokes the replay function this often; local mode runs it
/// in process.
pub const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// The schedule expression of [`SWEEP_EVERY`], as EventBridge reads it.
pub const SWEEP_SCHEDULE: &str = "rate(5 minutes)";

/// What the replay function is invoked with: a run, or the periodic sweep
/// (`{"sweep": true}`, the schedule's constant input).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ReplayInvocation {
    Sweep { sweep: bool },
    Run(ReplayRequest),
}

/// The schedule's input that makes the replay function sweep.
pub const SWEEP_INPUT: &str = r#"{"sweep":true}"#;

/// Starts a replay run without waiting for it.
#[async_trait]
pub trait ReplayDispatcher: Send + Sync {
    async fn dispatch(&self, request: &ReplayRequest) -> Result<(), StoreError>;
}

/// Invokes the replay function asynchronously (InvocationType Event).
pub struct LambdaReplayDispatcher {
    client: aws_sdk_lambda::Client,
    function_name: String,
}

impl LambdaReplayDispatcher {
    pub fn new(client: aws_sdk_lambda::Client, function_name: String) -> Self {
        LambdaReplayDispatcher {
            client,
            function_name,
        }
    }
}

#[async_trait]
impl ReplayDispatcher for LambdaReplayDispatcher {
    async fn dispatch(&self, request: &ReplayRequest) -> Result<(), StoreError> {
        let payload = serde_json::to_vec(request).map_err(|err| {
            StoreError::Unavailable(format!("cannot encode the replay request: {err}"))
        })?;
        self.client
            .invoke()
            .function_name(&self.function_name)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload))
            .send()
            .await
            .map_err(|err| {
                StoreError::Unavailable(format!(
                    "cannot invoke {}: {}",
                    self.function_name,
                    aws_sdk_lambda::error::DisplayErrorContext(err)
                ))
            })?;
        Ok(())
    }
}

/// What `start` keeps of its request's time to record a failed dispatch.
const RECORD_FAILURE_RESERVE: std::time::Duration = std::time::Duration::from_secs(2);

/// Starts `request`, a replay that was just given its lane and has no run
/// yet. When it cannot be started, it is recorded as failed and the replay
/// queued behind it (if any) is started in its place; the error is
/// returned.
pub async fn start(
    jobs: &dyn ReplayJobs,
    dispatcher: &dyn ReplayDispatcher,
    request: ReplayRequest,
) -> Result<(), StoreError> {
    let mut request = request;
    let mut first_error = None;
    loop {
        // Time kept to record a replay that could not start, so it does not
        // hold its lane until a sweep finds it.
        let dispatched =
            crate::deadline::leaving(RECORD_FAILURE_RESERVE, dispatcher.dispatch(&request));
        let Err(err) = dispatched.await else {
            return first_error.map_or(Ok(()), Err);
        };
        tracing::error!(replay_id = %request.replay_id, lane = %request.lane, error = %err, "cannot start a replay");
        let outcome = Err(format!("could not be started: {err}"));
        let finished = jobs::finish(
            jobs,
            &request.lane,
            &request.replay_id,
            None,
            outcome,
            Utc::now(),
        )
        .await?;
        first_error.get_or_insert(err);
        match finished {
            Finished::Ended { next: Some(next) } => request = next,
            Finished::Ended { next: None } | Finished::NotHeld => {
                return first_error.map_or(Ok(()), Err);
            }
        }
    }
}

/// Starts a run that may find its replay already running (a resume, a
/// continuation, the replay after one that ended): if it cannot be
/// started, the replay keeps its lane and a later sweep resumes it.
pub async fn resume(dispatcher: &dyn ReplayDispatcher, request: &ReplayRequest) {
    if let Err(err) = dispatcher.dispatch(request).await {
        tracing::warn!(replay_id = %request.replay_id, lane = %request.lane, error = %err, "cannot start a replay run now; the sweep starts it later");
    }
}

/// Resumes the replay of the lane `key` if its run died; what a trigger
/// and a status read do on the way.
pub async fn resume_stalled(
    jobs: &dyn ReplayJobs,
    dispatcher: &dyn ReplayDispatcher,
    key: &LaneKey,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if let Some(request) = jobs::resume_stalled(jobs, key, now).await? {
        tracing::warn!(replay_id = %request.replay_id, lane = %request.lane, "resuming a replay whose run stopped reporting");
        resume(dispatcher, &request).await;
    }
    Ok(())
}

/// What a sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Lanes with a running replay.
    pub held: usize,
    /// Runs started for replays whose run died.
    pub resumed: usize,
}

/// The replay function's handler: a run of the replay asked for (with a
/// new run to continue it when its time runs short), or the sweep.
/// Returns the job as it stands after the run, if there is one.
pub async fn handle_invocation(
    events: &dyn domain::EventStore,
    read_model: &dyn domain::ReadModel,
    jobs: &dyn ReplayJobs,
    dispatcher: &dyn ReplayDispatcher,
    invocation: &ReplayInvocation,
    time_is_short: &(dyn Fn() -> bool + Send + Sync),
) -> Result<Option<domain::ReplayJob>, StoreError> {
    let request = match invocation {
        ReplayInvocation::Sweep { .. } => {
            let swept = sweep(jobs, dispatcher, Utc::now()).await?;
            tracing::info!(held = swept.held, resumed = swept.resumed, "replay sweep");
            return Ok(None);
        }
        ReplayInvocation::Run(request) => request,
    };
    let run = run_replay(events, read_model, jobs, dispatcher, request, time_is_short).await?;
    if let ReplayRun::Paused(next) = &run {
        resume(dispatcher, next).await;
    }
    match run {
        ReplayRun::Ended(job) => Ok(job),
        ReplayRun::Paused(_) | ReplayRun::Stopped => jobs.job(&request.replay_id).await,
    }
}

/// Lanes the sweep reads per request.
const SWEEP_PAGE: usize = 100;

/// Looks at every lane with a running replay and resumes those whose run
/// died (or fails them, see `domain::jobs::MAX_STALLS`, starting the one
/// queued behind).
pub async fn sweep(
    jobs: &dyn ReplayJobs,
    dispatcher: &dyn ReplayDispatcher,
    now: DateTime<Utc>,
) -> Result<Swept, StoreError> {
    let mut swept = Swept::default();
    let mut after = None;
    loop {
        let held = jobs.held_lanes(after.as_ref(), SWEEP_PAGE).await?;
        swept.held += held.len();
        for key in &held {
            if let Some(request) = jobs::resume_stalled(jobs, key, now).await? {
                tracing::warn!(replay_id = %request.replay_id, lane = %request.lane, "resuming a replay whose run stopped reporting");
                resume(dispatcher, &request).await;
                swept.resumed += 1;
            }
        }
        if held.len() < SWEEP_PAGE {
            return Ok(swept);
        }
        after = held.last().cloned();
    }
}

#[cfg(test)]
mod tests;
