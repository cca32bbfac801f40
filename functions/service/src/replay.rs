//! Replay: dispatched by `POST /triggerReplay`, run by the replay function
//! (or a local background job) against the event table, never the 24-hour
//! change stream.

use async_trait::async_trait;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use domain::replay::{self, ReplayProgress, ReplayTarget};
use domain::{EventId, EventStore, ReadModel, ReplayRequest, StoreError, StreamId};

/// Starts a replay job without waiting for it.
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

/// Why a replay job failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("invalid replay request: {0}")]
    Invalid(#[from] domain::Invalid),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Keeps a running replay's progress where its next run will find it.
#[async_trait]
pub trait SaveProgress: Send + Sync {
    /// `request` carries the progress after the step just done.
    async fn save(&self, request: &ReplayRequest) -> Result<(), StoreError>;
}

/// For a runner that passes the progress on itself (Lambda hands it to the
/// next invocation in its payload).
pub struct ProgressTravelsWithTheRequest;

#[async_trait]
impl SaveProgress for ProgressTravelsWithTheRequest {
    async fn save(&self, _: &ReplayRequest) -> Result<(), StoreError> {
        Ok(())
    }
}

/// How a run of a replay job ended.
#[derive(Debug)]
pub enum ReplayRun {
    Finished(ReplayProgress),
    /// Stopped before its time ran out; this request continues it.
    Paused(ReplayRequest),
}

/// The replay function's handler: steps through the replay from the
/// request's saved progress (or its start), saving after each step, until
/// it is done or `time_is_short` says to stop and hand over.
pub async fn run_replay(
    events: &dyn EventStore,
    read_model: &dyn ReadModel,
    request: &ReplayRequest,
    saver: &dyn SaveProgress,
    time_is_short: &(dyn Fn() -> bool + Send + Sync),
) -> Result<ReplayRun, ReplayError> {
    let target = ReplayTarget {
        stream_id: StreamId::parse(request.stream_id.as_str(), "streamId")?,
        from_event_id: EventId::new(request.from_event_id),
    };
    let started = std::time::Instant::now();
    let mut progress = request
        .progress
        .clone()
        .unwrap_or_else(|| ReplayProgress::start(&target));
    while !progress.is_done() {
        if time_is_short() {
            let next = ReplayRequest {
                progress: Some(progress.clone()),
                ..request.clone()
            };
            tracing::info!(
                replay_id = %request.replay_id,
                stream_id = %target.stream_id,
                events_applied = progress.events_applied,
                "replay paused; a new run continues it"
            );
            return Ok(ReplayRun::Paused(next));
        }
        progress = match replay::step(events, read_model, &target, &progress, replay::PAGE_SIZE)
            .await
        {
            Ok(progress) => progress,
            Err(err) => {
                tracing::error!(replay_id = %request.replay_id, stream_id = %target.stream_id, error = %err, "replay failed");
                return Err(err.into());
            }
        };
        saver
            .save(&ReplayRequest {
                progress: Some(progress.clone()),
                ..request.clone()
            })
            .await?;
    }
    tracing::info!(
        replay_id = %request.replay_id,
        stream_id = %target.stream_id,
        from_event_id = request.from_event_id,
        events_applied = progress.events_applied,
        items_written = progress.items_written,
        items_superseded = progress.items_superseded,
        rows_removed = progress.rows_removed,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "replay finished"
    );
    Ok(ReplayRun::Finished(progress))
}
