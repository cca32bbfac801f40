//! Replay: dispatched by `POST /triggerReplay`, run by the replay function
//! (or a local background job) against the event table, never the 24-hour
//! change stream.

use async_trait::async_trait;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use chrono::Utc;
use domain::jobs;
use domain::replay::{self, ReplayProgress, ReplayTarget};
use domain::{Claim, EventStore, ReadModel, ReplayJob, ReplayJobs, ReplayRequest, StoreError};

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

/// How a run of a replay job ended.
#[derive(Debug)]
pub enum ReplayRun {
    /// Done, or failed; recorded either way. `next` is the queued replay
    /// that now holds the stream's lane: start it.
    Ended {
        job: ReplayJob,
        next: Option<ReplayRequest>,
    },
    /// Stopped before its time ran out; this request continues it.
    Paused(ReplayRequest),
    /// The stream's lane moved on without this run (another replay took
    /// over after it stopped reporting, or another delivery of the same
    /// run is ahead of it); it stopped.
    Superseded,
}

/// The replay function's handler: steps through the replay from the
/// request's saved progress (or its start), reporting each step to
/// `jobs` (which keeps the stream's lane), until it is done, fails, or
/// `time_is_short` says to stop and hand over. An `Err` is a failure of
/// `jobs` itself: the run can be retried as it was.
pub async fn run_replay(
    events: &dyn EventStore,
    read_model: &dyn ReadModel,
    jobs: &dyn ReplayJobs,
    request: &ReplayRequest,
    time_is_short: &(dyn Fn() -> bool + Send + Sync),
) -> Result<ReplayRun, StoreError> {
    let target = request.target();
    let started = std::time::Instant::now();
    let mut progress = request
        .progress
        .clone()
        .unwrap_or_else(|| ReplayProgress::start(&target));
    let starting = request.continued_from(progress.clone());
    let claimed = jobs::claim(jobs, &starting, request.progress.as_ref(), Utc::now()).await?;
    if claimed != Claim::Held {
        return stopped(jobs, request, claimed).await;
    }
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
        let previous = progress.clone();
        progress = match step_with_retries(events, read_model, &target, &previous).await {
            Ok(progress) => progress,
            Err(err) => {
                tracing::error!(replay_id = %request.replay_id, stream_id = %target.stream_id, error = %err, "replay failed");
                let outcome = Err(err.to_string());
                let next = jobs::finish(jobs, request, outcome, Utc::now()).await?;
                return ended(jobs, request, next).await;
            }
        };
        let report = request.continued_from(progress.clone());
        let claimed = jobs::claim(jobs, &report, Some(&previous), Utc::now()).await?;
        if claimed != Claim::Held {
            return stopped(jobs, request, claimed).await;
        }
    }
    tracing::info!(
        replay_id = %request.replay_id,
        stream_id = %target.stream_id,
        from_event_id = request.from_event_id.get(),
        events_applied = progress.events_applied,
        items_written = progress.items_written,
        items_superseded = progress.items_superseded,
        rows_removed = progress.rows_removed,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "replay finished"
    );
    let next = jobs::finish(jobs, request, Ok(&progress), Utc::now()).await?;
    ended(jobs, request, next).await
}

/// How often a step that failed for a reason that may pass is tried.
const STEP_ATTEMPTS: u32 = 3;

/// One step, tried again after a pause when the store says trying again
/// may work; corrupt data fails at once.
async fn step_with_retries(
    events: &dyn EventStore,
    read_model: &dyn ReadModel,
    target: &ReplayTarget,
    progress: &ReplayProgress,
) -> Result<ReplayProgress, StoreError> {
    let mut attempt = 1;
    loop {
        match replay::step(events, read_model, target, progress, replay::PAGE_SIZE).await {
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

async fn ended(
    jobs: &dyn ReplayJobs,
    request: &ReplayRequest,
    next: Option<ReplayRequest>,
) -> Result<ReplayRun, StoreError> {
    let job = jobs.job(&request.replay_id).await?.ok_or_else(|| {
        StoreError::Unavailable(format!(
            "replay {} was recorded but cannot be read back",
            request.replay_id
        ))
    })?;
    Ok(ReplayRun::Ended { job, next })
}

/// Ends a run that lost its lane: a run taken over records its replay's
/// end; a second delivery leaves everything to the run that moved on.
async fn stopped(
    jobs: &dyn ReplayJobs,
    request: &ReplayRequest,
    claim: Claim,
) -> Result<ReplayRun, StoreError> {
    if claim == Claim::TakenOver {
        tracing::warn!(replay_id = %request.replay_id, stream_id = %request.stream_id, "replay stopped: another replay of the stream took over after this one stopped reporting");
        let outcome = Err(
            "stopped: another replay of the stream took over after this one stopped reporting progress"
                .to_owned(),
        );
        jobs::finish(jobs, request, outcome, Utc::now()).await?;
    } else {
        tracing::warn!(replay_id = %request.replay_id, stream_id = %request.stream_id, "replay run stopped: another run of this replay has moved past where this one started");
    }
    Ok(ReplayRun::Superseded)
}

/// What `start` keeps of its request's time to record a failed dispatch.
const RECORD_FAILURE_RESERVE: std::time::Duration = std::time::Duration::from_secs(2);

/// Starts `request`, which holds its stream's lane. When it cannot be
/// started, it is recorded as failed and the replay queued behind it (if
/// any) is started in its place; the error is returned.
pub async fn start(
    jobs: &dyn ReplayJobs,
    dispatcher: &dyn ReplayDispatcher,
    request: ReplayRequest,
) -> Result<(), StoreError> {
    let mut request = request;
    let mut first_error = None;
    loop {
        // Time kept to record a replay that could not start, so it does not
        // hold its stream's lane until the lease runs out.
        let dispatched =
            crate::deadline::leaving(RECORD_FAILURE_RESERVE, dispatcher.dispatch(&request));
        let Err(err) = dispatched.await else {
            return first_error.map_or(Ok(()), Err);
        };
        tracing::error!(replay_id = %request.replay_id, stream_id = %request.stream_id, error = %err, "cannot start a replay");
        let outcome = Err(format!("could not be started: {err}"));
        let next = jobs::finish(jobs, &request, outcome, Utc::now()).await?;
        first_error.get_or_insert(err);
        match next {
            Some(next) => request = next,
            None => return first_error.map_or(Ok(()), Err),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use domain::{EventId, ItemId, ListQuery, ReplayState, StreamFold, StreamId};
    use testkit::memory::MemoryStore;

    fn request(id: &str, stream: &StreamId) -> ReplayRequest {
        ReplayRequest {
            replay_id: id.into(),
            stream_id: stream.clone(),
            from_event_id: EventId::FIRST,
            progress: None,
        }
    }

    /// Admits `request` as a trigger does; says whether it is to start.
    async fn trigger(store: &MemoryStore, request: &ReplayRequest) -> bool {
        jobs::admit(store, request, Utc::now()).await.unwrap().start
    }

    #[tokio::test]
    async fn a_replay_short_of_time_pauses_and_a_new_run_finishes_it_from_its_progress() {
        let store = MemoryStore::new();
        let stream = StreamId::parse("paused", "streamId").unwrap();
        // More than two pages of events over 10 items.
        let log =
            testkit::seed_amount_changes(&store, &stream, 2 * replay::PAGE_SIZE as u64 + 500).await;
        let request = request("r", &stream);
        assert!(trigger(&store, &request).await);
        // Time runs short after two steps (the sweep and one page).
        let checks = AtomicUsize::new(0);
        let short_after_two = || checks.fetch_add(1, Ordering::SeqCst) >= 2;
        let ReplayRun::Paused(next) =
            run_replay(&store, &store, &store, &request, &short_after_two)
                .await
                .unwrap()
        else {
            panic!("the replay should pause");
        };
        let paused_at = next.progress.clone().expect("the progress travels on");
        assert_eq!(paused_at.events_applied, replay::PAGE_SIZE as u64);
        let saved = store.job("r").await.unwrap().unwrap();
        assert_eq!(saved.state, ReplayState::Running);
        assert_eq!(
            saved.progress,
            Some(paused_at),
            "the progress is recorded too"
        );

        let ReplayRun::Ended { job, next: None } =
            run_replay(&store, &store, &store, &next, &|| false)
                .await
                .unwrap()
        else {
            panic!("the second run should end, with nothing queued");
        };
        assert_eq!(job.state, ReplayState::Done);
        assert_eq!(job.events_applied, log.len() as u64, "no event twice");
        assert_eq!(
            testkit::listed(&store, &stream).await,
            StreamFold::of(&log).items()
        );
    }

    /// A read model whose every read fails as corrupt data does.
    struct Corrupt(MemoryStore);

    #[async_trait]
    impl ReadModel for Corrupt {
        async fn apply(
            &self,
            changes: &[domain::ItemChange],
            mode: domain::ApplyMode,
        ) -> Vec<Result<domain::ApplyOutcome, StoreError>> {
            self.0.apply(changes, mode).await
        }
        async fn list(&self, _: &ListQuery) -> Result<domain::ItemPage, StoreError> {
            Err(StoreError::Corrupt("a row does not decode".into()))
        }
        async fn rows(
            &self,
            _: &StreamId,
            _: Option<&ItemId>,
            _: usize,
        ) -> Result<Vec<domain::StoredItem>, StoreError> {
            Err(StoreError::Corrupt("a row does not decode".into()))
        }
        async fn remove(&self, _: &StreamId, _: &ItemId, _: EventId) -> Result<bool, StoreError> {
            Err(StoreError::Corrupt("a row does not decode".into()))
        }
    }

    #[tokio::test]
    async fn a_failing_replay_is_recorded_failed_and_hands_its_lane_to_the_queued_one() {
        let store = MemoryStore::new();
        let stream = StreamId::parse("failing", "streamId").unwrap();
        let (first, second) = (request("first", &stream), request("second", &stream));
        assert!(trigger(&store, &first).await);
        assert!(!trigger(&store, &second).await);
        let read_model = Corrupt(MemoryStore::new());
        let ReplayRun::Ended { job, next } =
            run_replay(&store, &read_model, &store, &first, &|| false)
                .await
                .unwrap()
        else {
            panic!("the run should end");
        };
        assert_eq!(job.state, ReplayState::Failed);
        assert!(
            job.error
                .as_deref()
                .unwrap_or("")
                .contains("does not decode"),
            "{job:?}"
        );
        assert_eq!(next, Some(second));
    }

    /// Fails to start the replays named, starts the others.
    #[derive(Default)]
    struct Dispatcher {
        failing: Vec<String>,
        started: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl ReplayDispatcher for Dispatcher {
        async fn dispatch(&self, request: &ReplayRequest) -> Result<(), StoreError> {
            if self.failing.contains(&request.replay_id) {
                return Err(StoreError::Unavailable("invoke refused".into()));
            }
            self.started.lock().unwrap().push(request.replay_id.clone());
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_replay_that_cannot_start_is_failed_and_the_queued_one_starts_instead() {
        let store = MemoryStore::new();
        let stream = StreamId::parse("unstartable", "streamId").unwrap();
        let (first, second) = (request("first", &stream), request("second", &stream));
        assert!(trigger(&store, &first).await);
        assert!(!trigger(&store, &second).await);
        let dispatcher = Dispatcher {
            failing: vec!["first".into()],
            ..Dispatcher::default()
        };
        let err = start(&store, &dispatcher, first).await.unwrap_err();
        assert!(err.to_string().contains("invoke refused"), "{err}");
        let failed = store.job("first").await.unwrap().unwrap();
        assert_eq!(failed.state, ReplayState::Failed);
        assert!(failed.error.unwrap().contains("could not be started"));
        assert_eq!(*dispatcher.started.lock().unwrap(), ["second"]);
    }

    #[tokio::test]
    async fn a_run_whose_lane_was_taken_over_stops_without_a_step() {
        let store = MemoryStore::new();
        let stream = StreamId::parse("taken", "streamId").unwrap();
        let stale = request("stale", &stream);
        let long_ago = Utc::now() - jobs::LEASE * 2;
        assert!(jobs::admit(&store, &stale, long_ago).await.unwrap().start);
        assert!(trigger(&store, &request("fresh", &stream)).await);
        let run = run_replay(&store, &store, &store, &stale, &|| false)
            .await
            .unwrap();
        assert!(matches!(run, ReplayRun::Superseded), "{run:?}");
        let job = store.job("stale").await.unwrap().unwrap();
        assert_eq!(job.state, ReplayState::Failed);
        assert_eq!(job.events_applied, 0);
    }
}
