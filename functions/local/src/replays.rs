//! Replays as background jobs of the local server.
//!
//! `POST /triggerReplay` admits a replay into its lane (`domain::jobs`:
//! one replay per stream, and one rebuild of every stream, runs; one more
//! waits); a replay that got its lane is run here as a task
//! ([`LocalDispatcher`]), which reports every step to the lane, and starts
//! the replay queued behind it when it ends. When the server stops,
//! running replays pause after their current step; the next start resumes
//! every replay holding a lane from the lane's progress
//! ([`LocalReplays::resume_all`]), and a sweep every
//! [`LOCAL_SWEEP_EVERY`] resumes any whose run died meanwhile. Other
//! streams run alongside.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::Utc;
use domain::jobs::LEASE;
use domain::{
    Checkpoints, EventStore, ReadModel, ReplayJobs, ReplayRequest, ReplayScope, ReplayTarget,
    StoreError, jobs,
};
use service::replay::{ReplayDispatcher, ReplayRun, run_replay};
use tokio::task::JoinSet;

/// Where earlier versions kept the replays not finished yet.
const LEGACY_PENDING: &str = "replays-pending";

/// How often local mode looks for replays whose run died: in one process,
/// only a failing store stops a run, so this is a backstop.
pub const LOCAL_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

pub struct LocalReplays {
    events: Arc<dyn EventStore>,
    read_model: Arc<dyn ReadModel>,
    jobs: Arc<dyn ReplayJobs>,
    running: Mutex<JoinSet<()>>,
    /// Set when the server stops: running replays pause at their next step.
    stopping: AtomicBool,
}

impl LocalReplays {
    pub fn new(
        events: Arc<dyn EventStore>,
        read_model: Arc<dyn ReadModel>,
        jobs: Arc<dyn ReplayJobs>,
    ) -> Arc<Self> {
        Arc::new(LocalReplays {
            events,
            read_model,
            jobs,
            running: Mutex::new(JoinSet::new()),
            stopping: AtomicBool::new(false),
        })
    }

    /// At start: resumes every replay that holds a lane from its lane's
    /// progress. No run of this store is alive (this process has just
    /// started, and no other runs replays on it), so each lease is taken
    /// as run out. Returns how many it resumed.
    pub async fn resume_all(self: &Arc<Self>) -> Result<usize, StoreError> {
        let as_if_later = Utc::now() + LEASE + chrono::Duration::seconds(1);
        let dispatcher = LocalDispatcher(self.clone());
        let swept = service::replay::sweep(self.jobs.as_ref(), &dispatcher, as_if_later).await?;
        Ok(swept.resumed)
    }

    /// Sweeps now: resumes the replays whose run died.
    pub async fn sweep(self: &Arc<Self>) -> Result<usize, StoreError> {
        let dispatcher = LocalDispatcher(self.clone());
        let swept = service::replay::sweep(self.jobs.as_ref(), &dispatcher, Utc::now()).await?;
        Ok(swept.resumed)
    }

    /// Takes over the pending list earlier versions kept in `checkpoints`:
    /// each replay on it is admitted as a trigger would be (started when
    /// its lane is free), then the list is emptied.
    pub async fn adopt_legacy_pending(
        self: &Arc<Self>,
        checkpoints: &dyn Checkpoints,
    ) -> Result<usize, StoreError> {
        /// A replay as earlier versions listed it.
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Pending {
            replay_id: String,
            stream_id: domain::StreamId,
            from_event_id: domain::EventId,
        }
        let Some(text) = checkpoints.load(LEGACY_PENDING).await? else {
            return Ok(0);
        };
        let pending: Vec<Pending> = serde_json::from_str(&text)
            .map_err(|err| StoreError::Corrupt(format!("the pending replay list: {err}")))?;
        if pending.is_empty() {
            return Ok(0);
        }
        let dispatcher = LocalDispatcher(self.clone());
        for old in &pending {
            // From its start: a replay run again leaves the same read model.
            let scope = ReplayScope::Stream(ReplayTarget {
                stream_id: old.stream_id.clone(),
                from_event_id: old.from_event_id,
            });
            let admission =
                jobs::admit(self.jobs.as_ref(), &old.replay_id, &scope, Utc::now()).await?;
            if let Some(start) = admission.start {
                service::replay::start(self.jobs.as_ref(), &dispatcher, start).await?;
            }
        }
        checkpoints.save(LEGACY_PENDING, "[]").await?;
        Ok(pending.len())
    }

    fn spawn(self: &Arc<Self>, request: ReplayRequest) -> Result<(), StoreError> {
        let mut running = self
            .running
            .lock()
            .map_err(|_| StoreError::Unavailable("the replay runner is broken".into()))?;
        // Reap finished runs so the set does not grow without bound.
        while running.try_join_next().is_some() {}
        running.spawn(self.clone().run(request));
        Ok(())
    }

    async fn run(self: Arc<Self>, request: ReplayRequest) {
        // Local runs have no time limit: they pause only when the server
        // stops.
        let stopping = || self.stopping.load(Ordering::SeqCst);
        let dispatcher = LocalDispatcher(self.clone());
        let run = run_replay(
            self.events.as_ref(),
            self.read_model.as_ref(),
            self.jobs.as_ref(),
            &dispatcher,
            &request,
            &stopping,
        )
        .await;
        match run {
            // The job row holds the outcome, and the queued replay started.
            Ok(ReplayRun::Ended(_) | ReplayRun::Stopped) => {}
            // The replay keeps its lane and its progress: the next start
            // resumes it.
            Ok(ReplayRun::Paused(_)) => {}
            Err(err) => {
                tracing::error!(replay_id = %request.replay_id, lane = %request.lane, error = %err, "replay stopped: its job could not be recorded; it keeps its lane and a sweep resumes it");
            }
        }
    }

    /// Makes every running replay stop after its current step, its
    /// progress saved; the next start resumes it. Queued replays stay
    /// queued.
    pub fn pause(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Waits for every replay started so far, and those they start in
    /// turn (to finish, or to pause).
    pub async fn drain(&self) {
        loop {
            let mut running = match self.running.lock() {
                Ok(mut guard) => std::mem::take(&mut *guard),
                Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
            };
            if running.is_empty() {
                return;
            }
            while running.join_next().await.is_some() {}
        }
    }
}

/// The dispatcher handed to the API: runs a replay that was given its
/// lane.
pub struct LocalDispatcher(pub Arc<LocalReplays>);

#[async_trait]
impl ReplayDispatcher for LocalDispatcher {
    async fn dispatch(&self, request: &ReplayRequest) -> Result<(), StoreError> {
        self.0.spawn(request.clone())
    }
}

#[cfg(test)]
mod tests {
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
            service::replay::start(jobs, &dispatcher, start)
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
    async fn a_stopping_server_pauses_replays_and_the_next_start_resumes_them_from_saved_progress()
    {
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
        let err = service::replay::start(&store, &dispatcher, start)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("runner is broken"), "{err}");
        let job = store.job("r").await.unwrap().unwrap();
        assert_eq!(job.state, ReplayState::Failed);
        assert_eq!(held(&store).await, [], "the lane is free");
    }
}
