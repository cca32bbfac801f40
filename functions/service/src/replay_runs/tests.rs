//! The runs of replays over the in-memory store: pausing and continuing,
//! failing, starting.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use domain::jobs::{self, LEASE};
use domain::replay::{self, ReplayTarget};
use domain::{EventId, ReplayScope, ReplayState, StreamFold, StreamId};
use testkit::memory::MemoryStore;

use super::*;

/// Starts nothing; remembers what it was asked to start, and fails the
/// replays named.
#[derive(Default)]
struct Dispatcher {
    failing: Vec<String>,
    started: Mutex<Vec<ReplayRequest>>,
}

#[async_trait]
impl ReplayDispatcher for Dispatcher {
    async fn dispatch(&self, request: &ReplayRequest) -> Result<(), StoreError> {
        if self.failing.contains(&request.replay_id) {
            return Err(StoreError::Unavailable("invoke refused".into()));
        }
        self.started.lock().unwrap().push(request.clone());
        Ok(())
    }
}

impl Dispatcher {
    fn started_ids(&self) -> Vec<String> {
        self.started
            .lock()
            .unwrap()
            .iter()
            .map(|request| request.replay_id.clone())
            .collect()
    }
}

fn from_zero(stream: &StreamId) -> ReplayScope {
    ReplayScope::Stream(ReplayTarget {
        stream_id: stream.clone(),
        from_event_id: EventId::FIRST,
    })
}

/// Admits a trigger as `replay_id`; the run to start, if any.
async fn trigger(
    store: &MemoryStore,
    replay_id: &str,
    scope: &ReplayScope,
) -> Option<ReplayRequest> {
    jobs::admit(store, replay_id, scope, Utc::now())
        .await
        .unwrap()
        .start
}

#[tokio::test]
async fn a_replay_short_of_time_pauses_and_a_new_run_finishes_it_from_the_lanes_progress() {
    let store = MemoryStore::new();
    let stream = StreamId::parse("paused", "streamId").unwrap();
    // More than two pages of events over 10 items.
    let log =
        testkit::seed_amount_changes(&store, &stream, 2 * replay::PAGE_SIZE as u64 + 500).await;
    let request = trigger(&store, "r", &from_zero(&stream))
        .await
        .expect("starts");
    let dispatcher = Dispatcher::default();
    // Time runs short after two steps (the sweep and one page).
    let checks = AtomicUsize::new(0);
    let short_after_two = || checks.fetch_add(1, Ordering::SeqCst) >= 2;
    let run = run_replay(
        &store,
        &store,
        &store,
        &dispatcher,
        &request,
        &short_after_two,
    )
    .await
    .unwrap();
    let ReplayRun::Paused(next) = run else {
        panic!("the replay should pause: {run:?}");
    };
    assert_eq!(next, request, "the same request continues it");
    let saved = store.job("r").await.unwrap().unwrap();
    assert_eq!(
        (saved.state, saved.events_applied),
        (ReplayState::Running, replay::PAGE_SIZE as u64)
    );

    let run = run_replay(&store, &store, &store, &dispatcher, &next, &|| false)
        .await
        .unwrap();
    let ReplayRun::Ended(Some(job)) = run else {
        panic!("the second run should end: {run:?}");
    };
    assert_eq!(job.state, ReplayState::Done);
    assert_eq!(job.events_applied, log.len() as u64, "no event twice");
    assert_eq!(
        testkit::listed(&store, &stream).await,
        StreamFold::of(&log).items()
    );
    assert!(dispatcher.started_ids().is_empty(), "nothing was queued");
}

/// A read model whose every read fails as corrupt data does.
struct Corrupt(MemoryStore);

#[async_trait]
impl domain::ReadModel for Corrupt {
    async fn apply(
        &self,
        changes: &[domain::ItemChange],
        mode: domain::ApplyMode,
    ) -> Vec<Result<domain::ApplyOutcome, StoreError>> {
        self.0.apply(changes, mode).await
    }
    async fn list(&self, _: &domain::ListQuery) -> Result<domain::ItemPage, StoreError> {
        Err(StoreError::Corrupt("a row does not decode".into()))
    }
    async fn rows(
        &self,
        _: &StreamId,
        _: Option<&domain::ItemId>,
        _: usize,
    ) -> Result<Vec<domain::StoredItem>, StoreError> {
        Err(StoreError::Corrupt("a row does not decode".into()))
    }
    async fn remove(
        &self,
        _: &StreamId,
        _: &domain::ItemId,
        _: EventId,
    ) -> Result<bool, StoreError> {
        Err(StoreError::Corrupt("a row does not decode".into()))
    }
}

#[tokio::test]
async fn a_failing_replay_is_recorded_failed_and_starts_the_queued_one() {
    let store = MemoryStore::new();
    let stream = StreamId::parse("failing", "streamId").unwrap();
    let first = trigger(&store, "first", &from_zero(&stream))
        .await
        .expect("starts");
    assert_eq!(trigger(&store, "second", &from_zero(&stream)).await, None);
    let read_model = Corrupt(MemoryStore::new());
    let dispatcher = Dispatcher::default();
    let run = run_replay(&store, &read_model, &store, &dispatcher, &first, &|| false)
        .await
        .unwrap();
    let ReplayRun::Ended(Some(job)) = run else {
        panic!("the run should end: {run:?}");
    };
    assert_eq!(job.state, ReplayState::Failed);
    assert!(
        job.error
            .as_deref()
            .unwrap_or("")
            .contains("does not decode"),
        "{job:?}"
    );
    assert_eq!(
        dispatcher.started_ids(),
        ["second"],
        "the queued one starts"
    );
}

#[tokio::test]
async fn a_replay_that_cannot_start_is_failed_and_the_queued_one_starts_instead() {
    let store = MemoryStore::new();
    let stream = StreamId::parse("unstartable", "streamId").unwrap();
    let first = trigger(&store, "first", &from_zero(&stream))
        .await
        .expect("starts");
    assert_eq!(trigger(&store, "second", &from_zero(&stream)).await, None);
    let dispatcher = Dispatcher {
        failing: vec!["first".into()],
        ..Dispatcher::default()
    };
    let err = start(&store, &dispatcher, first).await.unwrap_err();
    assert!(err.to_string().contains("invoke refused"), "{err}");
    let failed = store.job("first").await.unwrap().unwrap();
    assert_eq!(failed.state, ReplayState::Failed);
    assert!(failed.error.unwrap().contains("could not be started"));
    assert_eq!(dispatcher.started_ids(), ["second"]);
}

#[tokio::test]
async fn the_sweep_resumes_only_the_replays_whose_run_died() {
    let store = MemoryStore::new();
    let (alive, dead) = (
        StreamId::parse("alive", "streamId").unwrap(),
        StreamId::parse("dead", "streamId").unwrap(),
    );
    let now = Utc::now();
    trigger(&store, "alive", &from_zero(&alive))
        .await
        .expect("starts");
    // Admitted a lease ago, never run: its run died before it began.
    jobs::admit(&store, "dead", &from_zero(&dead), now - LEASE * 2)
        .await
        .unwrap();
    let dispatcher = Dispatcher::default();
    let swept = sweep(&store, &dispatcher, now).await.unwrap();
    assert_eq!(
        swept,
        Swept {
            held: 2,
            resumed: 1
        }
    );
    assert_eq!(dispatcher.started_ids(), ["dead"]);
    let invocation: ReplayInvocation = serde_json::from_str(SWEEP_INPUT).unwrap();
    assert_eq!(invocation, ReplayInvocation::Sweep { sweep: true });
}
