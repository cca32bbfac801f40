//! The local replay runner's cases: lanes that never overlap, a stopping
//! server that pauses its replays for the next start to resume, the
//! pending list of earlier versions, a broken runner.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::time::{Duration, Instant};

use domain::replay::PAGE_SIZE;
use domain::{
    AppendCommand, ApplyMode, ApplyOutcome, EventId, ItemChange, ItemId, ItemPage, ListQuery,
    RecordedEvent, ReplayState, StoredItem, StreamFold, StreamId,
};
use domain::{ReplayJobs as _, ReplayScope, ReplayTarget};

use super::*;
use crate::sqlite::SqliteStore;

fn stream(name: &str) -> StreamId {
    StreamId::parse(name, "streamId").unwrap()
}

fn from_zero(stream_id: &StreamId) -> ReplayScope {
    ReplayScope::Stream(ReplayTarget {
        stream_id: stream_id.clone(),
        from_event_id: EventId::FIRST,
    })
}

/// What `POST /triggerReplay` does: admit `id`, and start if the lane
/// was free. The replay that covers the trigger.
async fn trigger(replays: &Arc<LocalReplays>, id: &str, stream_id: &StreamId) -> String {
    let jobs = replays.jobs.as_ref();
    let admission = jobs::admit(jobs, id, &from_zero(stream_id), Utc::now())
        .await
        .unwrap();
    if let Some(start) = admission.start {
        let dispatcher = LocalDispatcher(replays.clone());
        service::replay_runs::start(jobs, &dispatcher, start)
            .await
            .unwrap();
    }
    admission.covered_by
}

async fn held(store: &SqliteStore) -> Vec<domain::LaneKey> {
    store.held_lanes(None, 100).await.unwrap()
}

async fn job_state(store: &SqliteStore, replay_id: &str) -> Option<ReplayState> {
    store.job(replay_id).await.unwrap().map(|job| job.state)
}

/// A read model that counts the replays inside it at once, per
/// stream and overall.
struct Watched {
    inner: SqliteStore,
    per_stream: Mutex<HashMap<StreamId, usize>>,
    most_per_stream: AtomicUsize,
    most_overall: AtomicUsize,
}

impl Watched {
    /// Marks a replay step of `stream` as running for a while.
    async fn busy(&self, stream: &StreamId) {
        let (here, overall) = {
            let mut map = self.per_stream.lock().unwrap();
            *map.entry(stream.clone()).or_default() += 1;
            (map[stream], map.values().sum::<usize>())
        };
        self.most_per_stream.fetch_max(here, Ordering::SeqCst);
        self.most_overall.fetch_max(overall, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(30)).await;
        *self.per_stream.lock().unwrap().get_mut(stream).unwrap() -= 1;
    }
}

#[async_trait]
impl ReadModel for Watched {
    async fn apply(
        &self,
        changes: &[ItemChange],
        mode: ApplyMode,
    ) -> Vec<Result<ApplyOutcome, StoreError>> {
        self.inner.apply(changes, mode).await
    }
    async fn list(&self, query: &ListQuery) -> Result<ItemPage, StoreError> {
        self.inner.list(query).await
    }
    async fn rows(
        &self,
        stream_id: &StreamId,
        after: Option<&ItemId>,
        limit: usize,
    ) -> Result<Vec<StoredItem>, StoreError> {
        // Every replay from 0 starts with a sweep, which reads rows.
        self.busy(stream_id).await;
        self.inner.rows(stream_id, after, limit).await
    }
    async fn remove(
        &self,
        stream_id: &StreamId,
        item_id: &ItemId,
        version: EventId,
    ) -> Result<bool, StoreError> {
        self.inner.remove(stream_id, item_id, version).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replays_of_one_stream_never_overlap_and_other_streams_run_alongside() {
    let store = SqliteStore::open_in_memory().unwrap();
    let watched = Arc::new(Watched {
        inner: store.clone(),
        per_stream: Mutex::new(HashMap::new()),
        most_per_stream: AtomicUsize::new(0),
        most_overall: AtomicUsize::new(0),
    });
    let jobs = Arc::new(store.clone());
    let replays = LocalReplays::new(Arc::new(store.clone()), watched.clone(), jobs);
    let (a, b) = (stream("a"), stream("b"));
    let mut covering = Vec::new();
    for (n, s) in [&a, &a, &a, &b].into_iter().enumerate() {
        covering.push(trigger(&replays, &format!("r{n}"), s).await);
    }
    let ids: Vec<&str> = covering.iter().map(String::as_str).collect();
    assert_eq!(
        ids,
        ["r0", "r1", "r1", "r3"],
        "the third joins the queued one"
    );

    tokio::time::timeout(Duration::from_secs(30), replays.drain())
        .await
        .expect("every replay ends within 30 s");
    assert_eq!(watched.most_per_stream.load(Ordering::SeqCst), 1);
    assert_eq!(watched.most_overall.load(Ordering::SeqCst), 2);
    for id in ["r0", "r1", "r3"] {
        assert_eq!(job_state(&store, id).await, Some(ReplayState::Done), "{id}");
    }
    assert_eq!(job_state(&store, "r2").await, None, "r2 ran as r1");
    assert_eq!(held(&store).await, []);
}

/// The event store, slowed down, counting the events it reads.
struct Slow {
    inner: SqliteStore,
    events_read: AtomicU64,
}

#[async_trait]
impl EventStore for Slow {
    async fn append(
        &self,
        command: &AppendCommand,
        recorded_at: chrono::DateTime<Utc>,
    ) -> Result<RecordedEvent, domain::AppendError> {
        self.inner.append(command, recorded_at).await
    }
    async fn read_stream(
        &self,
        stream_id: &StreamId,
        from: EventId,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let events = self.inner.read_stream(stream_id, from, limit).await?;
        self.events_read
            .fetch_add(events.len() as u64, Ordering::SeqCst);
        Ok(events)
    }
    async fn read_events(
        &self,
        query: &domain::EventsQuery,
    ) -> Result<Option<domain::EventsPage>, StoreError> {
        self.inner.read_events(query).await
    }
    async fn list_streams(
        &self,
        after: Option<&StreamId>,
        limit: usize,
    ) -> Result<domain::StreamPage, StoreError> {
        self.inner.list_streams(after, limit).await
    }
    async fn latest_event_ids(
        &self,
        stream_id: &StreamId,
        items: &[ItemId],
    ) -> Result<Vec<Option<EventId>>, StoreError> {
        self.inner.latest_event_ids(stream_id, items).await
    }
}

async fn seed(store: &SqliteStore, s: &StreamId, events: u64) -> Vec<RecordedEvent> {
    testkit::seed_amount_changes(store, s, events).await
}

fn slow_replays(store: &SqliteStore) -> (Arc<Slow>, Arc<LocalReplays>) {
    let slow = Arc::new(Slow {
        inner: store.clone(),
        events_read: AtomicU64::new(0),
    });
    let replays = LocalReplays::new(
        slow.clone(),
        Arc::new(store.clone()),
        Arc::new(store.clone()),
    );
    (slow, replays)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopping_server_pauses_replays_and_the_next_start_resumes_them_from_saved_progress() {
    let store = SqliteStore::open_in_memory().unwrap();
    let s = stream("paused");
    let total = 5 * PAGE_SIZE as u64 + 17;
    let log = seed(&store, &s, total).await;
    let (_, replays) = slow_replays(&store);
    trigger(&replays, "first", &s).await;
    assert_eq!(trigger(&replays, "second", &s).await, "second");

    // Stop once the first has reported a page of the log.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let job = store.job("first").await.unwrap().expect("the first job");
        if job.events_applied > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first replay reported no applied event within 20 s: {job:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    replays.pause();
    tokio::time::timeout(Duration::from_secs(10), replays.drain())
        .await
        .expect("the paused replay stops within 10 s");

    assert_eq!(held(&store).await, [domain::LaneKey::Stream(s.clone())]);
    let paused = store.job("first").await.unwrap().unwrap();
    assert_eq!(paused.state, ReplayState::Running);
    let saved = paused.events_applied;
    assert!(saved > 0 && saved < total, "paused mid-way: {paused:?}");
    assert_eq!(job_state(&store, "second").await, Some(ReplayState::Queued));

    // The next start resumes the first where it stopped, then the
    // queued one runs in full.
    let (slow, next) = slow_replays(&store);
    assert_eq!(next.resume_all().await, Ok(1));
    tokio::time::timeout(Duration::from_secs(30), next.drain())
        .await
        .expect("both replays end within 30 s");
    let done = store.job("first").await.unwrap().unwrap();
    assert_eq!(
        (done.state, done.events_applied),
        (ReplayState::Done, total)
    );
    let second = store.job("second").await.unwrap().unwrap();
    assert_eq!(
        (second.state, second.events_applied),
        (ReplayState::Done, total)
    );
    assert_eq!(
        slow.events_read.load(Ordering::SeqCst),
        (total - saved) + total,
        "the first read only what it had left, the second the whole log"
    );
    assert_eq!(held(&store).await, []);
    assert_eq!(
        testkit::listed(&store, &s).await,
        StreamFold::of(&log).items()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_pending_list_of_earlier_versions_is_admitted_once_then_emptied() {
    let store = SqliteStore::open_in_memory().unwrap();
    let (a, b) = (stream("a"), stream("b"));
    seed(&store, &a, 30).await;
    seed(&store, &b, 20).await;
    // As earlier versions wrote it: plain ids, progress when saved.
    let old = r#"[{"replayId":"old-a1","streamId":"a","fromEventId":0},
                  {"replayId":"old-a2","streamId":"a","fromEventId":5},
                  {"replayId":"old-b","streamId":"b","fromEventId":0}]"#;
    store.save(LEGACY_PENDING, old).await.unwrap();
    let (_, replays) = slow_replays(&store);
    assert_eq!(replays.adopt_legacy_pending(&store).await, Ok(3));
    tokio::time::timeout(Duration::from_secs(30), replays.drain())
        .await
        .expect("the adopted replays end within 30 s");
    for (id, events) in [("old-a1", 30), ("old-a2", 25), ("old-b", 20)] {
        let job = store.job(id).await.unwrap().expect(id);
        assert_eq!(
            (job.state, job.events_applied),
            (ReplayState::Done, events),
            "{id}"
        );
    }
    assert_eq!(store.load(LEGACY_PENDING).await, Ok(Some("[]".to_owned())));
    assert_eq!(replays.adopt_legacy_pending(&store).await, Ok(0), "once");
}

#[tokio::test]
async fn a_replay_dispatched_while_the_runner_is_broken_is_refused_and_recorded_failed() {
    let store = SqliteStore::open_in_memory().unwrap();
    let (_, replays) = slow_replays(&store);
    let broken = replays.clone();
    let _ = std::thread::spawn(move || {
        let _guard = broken.running.lock();
        panic!("poison the runner lock on purpose");
    })
    .join();
    let s = stream("broken");
    let admission = jobs::admit(&store, "r", &from_zero(&s), Utc::now())
        .await
        .unwrap();
    let dispatcher = LocalDispatcher(replays.clone());
    let start = admission.start.expect("a free lane");
    let err = service::replay_runs::start(&store, &dispatcher, start)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("runner is broken"), "{err}");
    let job = store.job("r").await.unwrap().unwrap();
    assert_eq!(job.state, ReplayState::Failed);
    assert_eq!(held(&store).await, [], "the lane is free");
}
