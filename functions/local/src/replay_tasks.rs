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
use service::replay_runs::{ReplayDispatcher, ReplayRun, run_replay};
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
        let swept =
            service::replay_runs::sweep(self.jobs.as_ref(), &dispatcher, as_if_later).await?;
        Ok(swept.resumed)
    }

    /// Sweeps now: resumes the replays whose run died.
    pub async fn sweep(self: &Arc<Self>) -> Result<usize, StoreError> {
        let dispatcher = LocalDispatcher(self.clone());
        let swept =
            service::replay_runs::sweep(self.jobs.as_ref(), &dispatcher, Utc::now()).await?;
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
                service::replay_runs::start(self.jobs.as_ref(), &dispatcher, start).await?;
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
mod tests;
