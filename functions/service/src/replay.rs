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
            let next = request.continued_from(progress.clone());
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
            .save(&request.continued_from(progress.clone()))
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use chrono::Utc;
    use domain::{Amount, AppendCommand, DomainEvent, ItemId, ListQuery, StreamFold};
    use testkit::memory::MemoryStore;

    /// Remembers every progress saved.
    #[derive(Default)]
    struct Saved(Mutex<Vec<ReplayRequest>>);

    #[async_trait]
    impl SaveProgress for Saved {
        async fn save(&self, request: &ReplayRequest) -> Result<(), StoreError> {
            self.0.lock().unwrap().push(request.clone());
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_replay_short_of_time_pauses_and_a_new_run_finishes_it_from_its_progress() {
        let store = MemoryStore::new();
        let stream = StreamId::parse("paused", "streamId").unwrap();
        let mut log = Vec::new();
        // More than two pages of events over 10 items.
        for n in 0..(2 * replay::PAGE_SIZE as u64 + 500) {
            let item_id = ItemId::parse(format!("i{}", n % 10), "itemId").unwrap();
            let amount = Amount::new(n).unwrap();
            let event = if n < 10 {
                DomainEvent::ItemCreated { item_id, amount }
            } else {
                DomainEvent::ItemAmountChanged { item_id, amount }
            };
            let command = AppendCommand {
                stream_id: stream.clone(),
                event,
                expected_version: None,
            };
            log.push(store.append(&command, Utc::now()).await.unwrap());
        }
        let request = ReplayRequest {
            replay_id: "r".into(),
            stream_id: stream.to_string(),
            from_event_id: 0,
            progress: None,
        };
        let saved = Saved::default();
        // Time runs short after two steps (the sweep and one page).
        let checks = AtomicUsize::new(0);
        let short_after_two = || checks.fetch_add(1, Ordering::SeqCst) >= 2;
        let ReplayRun::Paused(next) =
            run_replay(&store, &store, &request, &saved, &short_after_two)
                .await
                .unwrap()
        else {
            panic!("the replay should pause");
        };
        let paused_at = next.progress.clone().expect("the progress travels on");
        assert_eq!(paused_at.events_applied, replay::PAGE_SIZE as u64);
        assert_eq!(saved.0.lock().unwrap().last(), Some(&next));

        let ReplayRun::Finished(done) = run_replay(&store, &store, &next, &saved, &|| false)
            .await
            .unwrap()
        else {
            panic!("the second run should finish");
        };
        assert_eq!(done.events_applied, log.len() as u64, "no event twice");
        let listed: Vec<(ItemId, Amount)> = store
            .list(&ListQuery::first_page(stream))
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|view| (view.item_id, view.amount))
            .collect();
        assert_eq!(listed, StreamFold::of(&log).items());
    }

    #[tokio::test]
    async fn a_request_with_a_bad_stream_id_fails_without_touching_the_store() {
        let store = MemoryStore::new();
        let request = ReplayRequest {
            replay_id: "r".into(),
            stream_id: String::new(),
            from_event_id: 0,
            progress: None,
        };
        let saved = Saved::default();
        let err = run_replay(&store, &store, &request, &saved, &|| false)
            .await
            .unwrap_err();
        assert!(matches!(err, ReplayError::Invalid(_)), "{err}");
        assert!(saved.0.lock().unwrap().is_empty());
    }
}
