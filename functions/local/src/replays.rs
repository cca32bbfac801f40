//! Replays as background jobs of the local server.
//!
//! Pending jobs are recorded durably (through the `Checkpoints` port) before
//! they start, with their progress after every step, and forgotten only when
//! they finish; the server resumes any left over from a crash when it
//! starts, from the saved progress, and waits for running ones when it stops.
//! Jobs of one stream take turns (in the order they were triggered), so at
//! most one replay per stream runs at a time; other streams run alongside.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use domain::{Checkpoints, EventStore, ReadModel, ReplayRequest, StoreError};
use service::replay::{ReplayDispatcher, ReplayRun, SaveProgress, run_replay};
use tokio::task::JoinSet;

const PENDING: &str = "replays-pending";

pub struct LocalReplays {
    events: Arc<dyn EventStore>,
    read_model: Arc<dyn ReadModel>,
    checkpoints: Arc<dyn Checkpoints>,
    /// Serialises read-modify-write of the pending list.
    pending_lock: tokio::sync::Mutex<()>,
    running: Mutex<JoinSet<()>>,
    /// Per stream, the turn its jobs wait for (tokio's mutex is fair: first
    /// come, first served).
    lanes: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Set when the server stops: running jobs pause at their next step.
    stopping: AtomicBool,
}

impl LocalReplays {
    pub fn new(
        events: Arc<dyn EventStore>,
        read_model: Arc<dyn ReadModel>,
        checkpoints: Arc<dyn Checkpoints>,
    ) -> Arc<Self> {
        Arc::new(LocalReplays {
            events,
            read_model,
            checkpoints,
            pending_lock: tokio::sync::Mutex::new(()),
            running: Mutex::new(JoinSet::new()),
            lanes: Mutex::new(HashMap::new()),
            stopping: AtomicBool::new(false),
        })
    }

    /// The replays recorded and not finished yet, each with the progress it
    /// last saved: what [`LocalReplays::resume`] starts again.
    pub async fn pending(&self) -> Result<Vec<ReplayRequest>, StoreError> {
        match self.checkpoints.load(PENDING).await? {
            None => Ok(Vec::new()),
            Some(text) => serde_json::from_str(&text)
                .map_err(|err| StoreError::Corrupt(format!("the pending replay list: {err}"))),
        }
    }

    async fn update_pending(
        &self,
        change: impl FnOnce(&mut Vec<ReplayRequest>),
    ) -> Result<(), StoreError> {
        let _guard = self.pending_lock.lock().await;
        let mut pending = self.pending().await?;
        change(&mut pending);
        let text = serde_json::to_string(&pending)
            .map_err(|err| StoreError::Unavailable(format!("cannot encode replays: {err}")))?;
        self.checkpoints.save(PENDING, &text).await
    }

    /// Starts again every replay a crash interrupted.
    pub async fn resume(self: &Arc<Self>) -> Result<usize, StoreError> {
        let pending = self.pending().await?;
        for request in &pending {
            tracing::warn!(replay_id = %request.replay_id, stream_id = %request.stream_id, "resuming an interrupted replay");
            self.spawn(request.clone())?;
        }
        Ok(pending.len())
    }

    /// The lane of `stream_id`'s jobs; lanes nobody waits on are dropped.
    fn lane(&self, stream_id: &str) -> Result<Arc<tokio::sync::Mutex<()>>, StoreError> {
        let mut lanes = self
            .lanes
            .lock()
            .map_err(|_| StoreError::Unavailable("the replay lanes are broken".into()))?;
        lanes.retain(|_, lane| Arc::strong_count(lane) > 1);
        Ok(lanes.entry(stream_id.to_owned()).or_default().clone())
    }

    fn spawn(self: &Arc<Self>, request: ReplayRequest) -> Result<(), StoreError> {
        let this = self.clone();
        // Taken now, in trigger order, so turns follow that order.
        let lane = self.lane(&request.stream_id)?;
        let mut running = self
            .running
            .lock()
            .map_err(|_| StoreError::Unavailable("the replay runner is broken".into()))?;
        // Reap finished jobs so the set does not grow without bound.
        while running.try_join_next().is_some() {}
        running.spawn(async move {
            let _turn = lane.lock().await;
            // run_replay logs its outcome. A failed job stays pending and is
            // retried at the next start, as Lambda retries a failed async
            // invocation.
            // Local jobs have no time limit; they pause only when the
            // server stops, and stay pending with their saved progress.
            let stopping = || this.stopping.load(Ordering::SeqCst);
            let run = run_replay(
                this.events.as_ref(),
                this.read_model.as_ref(),
                &request,
                this.as_ref(),
                &stopping,
            )
            .await;
            if let Ok(ReplayRun::Finished(_)) = run {
                let done = request.replay_id.clone();
                if let Err(err) = this
                    .update_pending(|pending| pending.retain(|r| r.replay_id != done))
                    .await
                {
                    tracing::error!(replay_id = %request.replay_id, error = %err, "cannot mark a replay done");
                }
            }
        });
        Ok(())
    }

    /// Makes every running replay stop after its current step, its
    /// progress saved; the next start resumes it. Jobs not started yet stay
    /// pending too.
    pub fn pause(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Waits for every replay started so far (to finish, or to pause).
    pub async fn drain(&self) {
        let mut running = match self.running.lock() {
            Ok(mut guard) => std::mem::take(&mut *guard),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        while running.join_next().await.is_some() {}
    }
}

#[async_trait]
impl SaveProgress for LocalReplays {
    async fn save(&self, request: &ReplayRequest) -> Result<(), StoreError> {
        let saved = request.clone();
        self.update_pending(|pending| {
            for job in pending.iter_mut() {
                if job.replay_id == saved.replay_id {
                    *job = saved.clone();
                }
            }
        })
        .await
    }
}

/// The dispatcher handed to the API: records the job, then starts it.
pub struct LocalDispatcher(pub Arc<LocalReplays>);

#[async_trait]
impl ReplayDispatcher for LocalDispatcher {
    async fn dispatch(&self, request: &ReplayRequest) -> Result<(), StoreError> {
        let recorded = request.clone();
        self.0
            .update_pending(|pending| pending.push(recorded))
            .await?;
        self.0.spawn(request.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use domain::{
        ApplyMode, ApplyOutcome, EventId, ItemChange, ItemId, ItemPage, ListQuery, StoredItem,
        StreamId,
    };
    use testkit::memory::MemoryStore;

    use super::*;

    /// A read model that counts the replays inside it at once, per
    /// stream and overall.
    struct Watched {
        inner: MemoryStore,
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

    /// Replays over a watched read model; the log and the pending list in
    /// memory.
    fn watched_replays() -> (Arc<MemoryStore>, Arc<Watched>, Arc<LocalReplays>) {
        let store = Arc::new(MemoryStore::new());
        let watched = Arc::new(Watched {
            inner: MemoryStore::new(),
            per_stream: Mutex::new(HashMap::new()),
            most_per_stream: AtomicUsize::new(0),
            most_overall: AtomicUsize::new(0),
        });
        let replays = LocalReplays::new(store.clone(), watched.clone(), store.clone());
        (store, watched, replays)
    }

    fn request(n: usize, stream: &str) -> ReplayRequest {
        ReplayRequest {
            replay_id: format!("r{n}"),
            stream_id: stream.to_owned(),
            from_event_id: 0,
            progress: None,
        }
    }

    #[tokio::test]
    async fn replays_of_one_stream_take_turns_and_other_streams_run_alongside() {
        let (_, watched, replays) = watched_replays();
        let dispatcher = LocalDispatcher(replays.clone());
        for (n, stream) in ["a", "a", "a", "b"].into_iter().enumerate() {
            dispatcher.dispatch(&request(n, stream)).await.unwrap();
        }
        replays.drain().await;
        assert_eq!(watched.most_per_stream.load(Ordering::SeqCst), 1);
        assert_eq!(watched.most_overall.load(Ordering::SeqCst), 2);
        assert!(replays.pending().await.unwrap().is_empty(), "all four done");
    }

    #[tokio::test]
    async fn a_stopping_server_pauses_replays_and_the_next_start_finishes_them() {
        let (store, watched, replays) = watched_replays();
        let dispatcher = LocalDispatcher(replays.clone());
        for (n, stream) in ["a", "a"].into_iter().enumerate() {
            dispatcher.dispatch(&request(n, stream)).await.unwrap();
        }
        // The first job is inside its first step (30 ms); the second waits.
        tokio::time::sleep(Duration::from_millis(10)).await;
        replays.pause();
        replays.drain().await;
        let pending = replays.pending().await.unwrap();
        assert_eq!(pending.len(), 2, "both stay pending: {pending:?}");
        assert!(pending[0].progress.is_some(), "the first saved its step");

        // The next start, on the same durable list, finishes both.
        let next = LocalReplays::new(store.clone(), watched.clone(), store.clone());
        assert_eq!(next.resume().await.unwrap(), 2);
        next.drain().await;
        assert!(next.pending().await.unwrap().is_empty());
    }
}
