//! Replays as background jobs of the local server.
//!
//! `POST /triggerReplay` admits a replay into its stream's lane
//! (`domain::jobs`: one replay per stream runs, one more waits); a replay
//! that got the lane is run here as a task ([`LocalDispatcher`]), which
//! reports every step to the lane's store, so the job row holds its
//! progress. When a run ends, the replay queued behind it starts. When the
//! server stops, running replays pause after their current step and keep
//! their lanes; the next start resumes them from the saved progress
//! ([`LocalReplays::resume`]). Other streams run alongside.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::Utc;
use domain::{Checkpoints, EventStore, ReadModel, ReplayJobs, ReplayRequest, StoreError, jobs};
use service::replay::{ReplayDispatcher, ReplayRun, run_replay};
use tokio::task::JoinSet;

/// Where earlier versions kept the replays not finished yet.
const LEGACY_PENDING: &str = "replays-pending";

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

    /// Starts again the replays that hold their lane with no run left
    /// (`held`, each with its saved progress: see
    /// [`SqliteStore::held_replays`](crate::sqlite::SqliteStore::held_replays)).
    pub fn resume(self: &Arc<Self>, held: Vec<ReplayRequest>) -> Result<usize, StoreError> {
        for request in &held {
            tracing::warn!(replay_id = %request.replay_id, stream_id = %request.stream_id, "resuming an interrupted replay");
            self.spawn(request.clone())?;
        }
        Ok(held.len())
    }

    /// Takes over the pending list earlier versions kept in `checkpoints`:
    /// each replay on it is admitted as a trigger would be (started when
    /// its lane is free), then the list is emptied.
    pub async fn adopt_legacy_pending(
        self: &Arc<Self>,
        checkpoints: &dyn Checkpoints,
    ) -> Result<usize, StoreError> {
        let Some(text) = checkpoints.load(LEGACY_PENDING).await? else {
            return Ok(0);
        };
        let pending: Vec<ReplayRequest> = serde_json::from_str(&text)
            .map_err(|err| StoreError::Corrupt(format!("the pending replay list: {err}")))?;
        if pending.is_empty() {
            return Ok(0);
        }
        let dispatcher = LocalDispatcher(self.clone());
        for old in &pending {
            let asked = ReplayRequest {
                progress: None,
                ..old.clone()
            };
            let admission = jobs::admit(self.jobs.as_ref(), &asked, Utc::now()).await?;
            // From its start: the old progress is not the lane's, and a
            // replay run again leaves the same read model.
            if admission.start {
                service::replay::start(self.jobs.as_ref(), &dispatcher, admission.covered_by)
                    .await?;
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
        let run = run_replay(
            self.events.as_ref(),
            self.read_model.as_ref(),
            self.jobs.as_ref(),
            &request,
            &stopping,
        )
        .await;
        match run {
            Ok(ReplayRun::Ended {
                next: Some(next), ..
            }) => {
                // `start` records a replay it cannot start as failed.
                let dispatcher = LocalDispatcher(self.clone());
                if let Err(err) =
                    service::replay::start(self.jobs.as_ref(), &dispatcher, next).await
                {
                    tracing::error!(error = %err, "cannot start the queued replay");
                }
            }
            // The job row holds the outcome (run_replay logged it).
            Ok(ReplayRun::Ended { next: None, .. } | ReplayRun::Superseded) => {}
            // The job keeps its lane and its saved progress: the next start
            // resumes it.
            Ok(ReplayRun::Paused(_)) => {}
            Err(err) => {
                tracing::error!(replay_id = %request.replay_id, error = %err, "replay stopped: its job could not be recorded; it keeps its lane and the next start resumes it");
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
/// stream's lane.
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

    use super::*;
    use crate::sqlite::SqliteStore;

    fn stream(name: &str) -> StreamId {
        StreamId::parse(name, "streamId").unwrap()
    }

    fn request(id: &str, stream_id: &StreamId) -> ReplayRequest {
        ReplayRequest {
            replay_id: id.into(),
            stream_id: stream_id.clone(),
            from_event_id: EventId::FIRST,
            progress: None,
        }
    }

    /// What `POST /triggerReplay` does: admit, and start if the lane was
    /// free. The replay that covers the trigger.
    async fn trigger(replays: &Arc<LocalReplays>, asked: &ReplayRequest) -> ReplayRequest {
        let jobs = replays.jobs.as_ref();
        let admission = jobs::admit(jobs, asked, Utc::now()).await.unwrap();
        if admission.start {
            let dispatcher = LocalDispatcher(replays.clone());
            service::replay::start(jobs, &dispatcher, admission.covered_by.clone())
                .await
                .unwrap();
        }
        admission.covered_by
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
            covering.push(trigger(&replays, &request(&format!("r{n}"), s)).await);
        }
        let ids: Vec<&str> = covering.iter().map(|r| r.replay_id.as_str()).collect();
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
        assert_eq!(store.held_replays().await, Ok(Vec::new()));
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
        let first = trigger(&replays, &request("first", &s)).await;
        let queued = trigger(&replays, &request("second", &s)).await;
        assert_eq!(queued.replay_id, "second");

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

        let held = store.held_replays().await.unwrap();
        assert_eq!(held.len(), 1, "{held:?}");
        let saved = held[0].progress.clone().expect("the saved progress");
        assert_eq!(held[0].replay_id, first.replay_id);
        assert!(
            saved.events_applied > 0 && saved.events_applied < total,
            "paused mid-way: {saved:?}"
        );
        let paused = store.job("first").await.unwrap().unwrap();
        assert_eq!(paused.state, ReplayState::Running);
        assert_eq!(paused.progress.as_ref(), Some(&saved));
        assert_eq!(job_state(&store, "second").await, Some(ReplayState::Queued));

        // The next start resumes the first where it stopped, then the
        // queued one runs in full.
        let (slow, next) = slow_replays(&store);
        assert_eq!(next.resume(held).unwrap(), 1);
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
            (total - saved.events_applied) + total,
            "the first read only what it had left, the second the whole log"
        );
        assert_eq!(store.held_replays().await, Ok(Vec::new()));
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
        let asked = request("r", &s);
        let admission = jobs::admit(&store, &asked, Utc::now()).await.unwrap();
        let dispatcher = LocalDispatcher(replays.clone());
        let err = service::replay::start(&store, &dispatcher, admission.covered_by)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("runner is broken"), "{err}");
        let job = store.job("r").await.unwrap().unwrap();
        assert_eq!(job.state, ReplayState::Failed);
        assert_eq!(
            store.held_replays().await,
            Ok(Vec::new()),
            "the lane is free"
        );
    }
}
