//! Replay: dispatched by `POST /triggerReplay`, run by the replay function
//! (or a local background job) against the event table, never the 24-hour
//! change stream.

use async_trait::async_trait;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use domain::replay::ReplayTarget;
use domain::{EventId, EventStore, ReadModel, ReplayReport, ReplayRequest, StoreError, StreamId};

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

/// The replay function's handler.
pub async fn run_replay(
    events: &dyn EventStore,
    read_model: &dyn ReadModel,
    request: &ReplayRequest,
) -> Result<ReplayReport, ReplayError> {
    let target = ReplayTarget {
        stream_id: StreamId::parse(request.stream_id.as_str(), "streamId")?,
        from_event_id: EventId::new(request.from_event_id),
    };
    let started = std::time::Instant::now();
    match domain::replay::run(events, read_model, &target).await {
        Ok(report) => {
            tracing::info!(
                replay_id = %request.replay_id,
                stream_id = %target.stream_id,
                from_event_id = request.from_event_id,
                events_read = report.events_read,
                items_written = report.items_written,
                items_superseded = report.items_superseded,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "replay finished"
            );
            Ok(report)
        }
        Err(err) => {
            tracing::error!(replay_id = %request.replay_id, stream_id = %target.stream_id, error = %err, "replay failed");
            Err(err.into())
        }
    }
}
