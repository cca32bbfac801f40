//! Faults to inject around any adapter of the ports: a lane commit that
//! fails, a read of the log that never returns (a run killed mid-step),
//! and a dispatcher that records what it was asked to start and can refuse
//! (an Invoke that fails).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{
    AppendCommand, AppendError, EventId, EventStore, EventsPage, EventsQuery, ItemId, LaneKey,
    RecordedEvent, ReplayJob, ReplayJobs, ReplayLane, ReplayRequest, StoreError, StoredLane,
    StreamId, StreamPage,
};
use service::replay_runs::ReplayDispatcher;
use tokio::sync::Notify;

/// Replay jobs whose `fail_at`-th commit (1-based) fails as an
/// unreachable store would, writing nothing; the others go through.
pub struct FailingCommit {
    inner: Arc<dyn ReplayJobs>,
    fail_at: usize,
    commits: AtomicUsize,
}

impl FailingCommit {
    pub fn new(inner: Arc<dyn ReplayJobs>, fail_at: usize) -> Self {
        FailingCommit {
            inner,
            fail_at,
            commits: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl ReplayJobs for FailingCommit {
    async fn lane(&self, key: &LaneKey) -> Result<Option<StoredLane>, StoreError> {
        self.inner.lane(key).await
    }

    async fn commit(
        &self,
        key: &LaneKey,
        expected: Option<u64>,
        lane: &ReplayLane,
        jobs: &[ReplayJob],
    ) -> Result<bool, StoreError> {
        if self.commits.fetch_add(1, Ordering::SeqCst) + 1 == self.fail_at {
            return Err(StoreError::Unavailable(
                "injected: the commit failed".into(),
            ));
        }
        self.inner.commit(key, expected, lane, jobs).await
    }

    async fn job(&self, replay_id: &str) -> Result<Option<ReplayJob>, StoreError> {
        self.inner.job(replay_id).await
    }

    async fn held_lanes(
        &self,
        after: Option<&LaneKey>,
        limit: usize,
    ) -> Result<Vec<LaneKey>, StoreError> {
        self.inner.held_lanes(after, limit).await
    }
}

/// An event store whose `stall_at`-th read of a stream (1-based) never
/// returns, as a run killed in the middle of a step; `stalled` is notified
/// when it starts hanging.
pub struct StallingRead {
    inner: Arc<dyn EventStore>,
    stall_at: usize,
    reads: AtomicUsize,
    pub stalled: Arc<Notify>,
}

impl StallingRead {
    pub fn new(inner: Arc<dyn EventStore>, stall_at: usize) -> Self {
        StallingRead {
            inner,
            stall_at,
            reads: AtomicUsize::new(0),
            stalled: Arc::new(Notify::new()),
        }
    }
}

#[async_trait]
impl EventStore for StallingRead {
    async fn append(
        &self,
        command: &AppendCommand,
        recorded_at: DateTime<Utc>,
    ) -> Result<RecordedEvent, AppendError> {
        self.inner.append(command, recorded_at).await
    }

    async fn read_stream(
        &self,
        stream_id: &StreamId,
        from: EventId,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if self.reads.fetch_add(1, Ordering::SeqCst) + 1 == self.stall_at {
            self.stalled.notify_one();
            std::future::pending::<()>().await;
        }
        self.inner.read_stream(stream_id, from, limit).await
    }

    async fn read_events(&self, query: &EventsQuery) -> Result<Option<EventsPage>, StoreError> {
        self.inner.read_events(query).await
    }

    async fn list_streams(
        &self,
        after: Option<&StreamId>,
        limit: usize,
    ) -> Result<StreamPage, StoreError> {
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

/// Starts nothing: records each request it is asked to start, and refuses
/// (as a failed Invoke) while `refusing` is set.
#[derive(Default)]
pub struct RecordingDispatcher {
    pub refusing: std::sync::atomic::AtomicBool,
    started: Mutex<Vec<ReplayRequest>>,
}

impl RecordingDispatcher {
    /// What it started, oldest first, and forgets it.
    pub fn take(&self) -> Vec<ReplayRequest> {
        std::mem::take(&mut *self.started.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[async_trait]
impl ReplayDispatcher for RecordingDispatcher {
    async fn dispatch(&self, request: &ReplayRequest) -> Result<(), StoreError> {
        if self.refusing.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable(
                "injected: the Invoke failed".into(),
            ));
        }
        self.started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(request.clone());
        Ok(())
    }
}
