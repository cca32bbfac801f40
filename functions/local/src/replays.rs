//! Replays as background jobs of the local server.
//!
//! Pending jobs are recorded durably (through the `Checkpoints` port) before
//! they start, with their progress after every step, and forgotten only when
//! they finish; the server resumes any left over from a crash when it
//! starts, from the saved progress, and waits for running ones when it stops.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use domain::{Checkpoints, EventStore, ReadModel, ReplayRequest, StoreError};
use service::replay::{ReplayDispatcher, SaveProgress, run_replay};
use tokio::task::JoinSet;

const PENDING: &str = "replays-pending";

pub struct LocalReplays {
    events: Arc<dyn EventStore>,
    read_model: Arc<dyn ReadModel>,
    checkpoints: Arc<dyn Checkpoints>,
    /// Serialises read-modify-write of the pending list.
    pending_lock: tokio::sync::Mutex<()>,
    running: Mutex<JoinSet<()>>,
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

    fn spawn(self: &Arc<Self>, request: ReplayRequest) -> Result<(), StoreError> {
        let this = self.clone();
        let mut running = self
            .running
            .lock()
            .map_err(|_| StoreError::Unavailable("the replay runner is broken".into()))?;
        // Reap finished jobs so the set does not grow without bound.
        while running.try_join_next().is_some() {}
        running.spawn(async move {
            // run_replay logs its outcome. A failed job stays pending and is
            // retried at the next start, as Lambda retries a failed async
            // invocation.
            // Local jobs have no time limit: they never pause.
            if run_replay(
                this.events.as_ref(),
                this.read_model.as_ref(),
                &request,
                this.as_ref(),
                &|| false,
            )
            .await
            .is_ok()
            {
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

    /// Waits for every replay started so far.
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
