//! Replays always finish, whatever happens to their runs: each case makes
//! a run fail in one way (a lane commit that fails, a continuation that is
//! never delivered, a run killed mid-step, a delivery after the end) and
//! shows the replay still ends done, the replay queued behind it runs, and
//! the read model equals the fold. A rebuild of every stream likewise.
//!
//! The rebuild cases walk every stream of the store: they need a store of
//! their own, which every adapter's `Stores` is (fresh tables per case).

use std::sync::Arc;
use std::time::Duration;

use domain::jobs::{self, LEASE};
use domain::{
    LaneKey, ReadModel, ReplayJob, ReplayJobs, ReplayRequest, ReplayScope, ReplayState,
    StreamCounts,
};
use service::replay_runs::{ReplayInvocation, ReplayRun, handle_invocation, run_replay, sweep};

use super::support::*;
use crate::faults::{FailingCommit, RecordingDispatcher, StallingRead};

/// The log every case replays: 25 events over ten items, and a read
/// model that knows none of it.
async fn seeded(stores: &Stores, label: &str) -> (StreamId, Vec<RecordedEvent>) {
    let stream = unique_stream(label);
    let log = crate::seed_amount_changes(stores.events.as_ref(), &stream, 25).await;
    (stream, log)
}

/// A trigger of a replay from 0 of `stream`; the run to start, if any.
async fn trigger(
    stores: &Stores,
    stream: &StreamId,
    label: &str,
) -> (String, Option<ReplayRequest>) {
    let scope = ReplayScope::Stream(ReplayTarget {
        stream_id: stream.clone(),
        from_event_id: EventId::FIRST,
    });
    let id = unique_name(label);
    let admission = jobs::admit(stores.replay_jobs.as_ref(), &id, &scope, Utc::now())
        .await
        .expect("admit");
    assert_eq!(admission.covered_by, id);
    (id, admission.start)
}

/// Runs `request` to its end on the stores, no time limit.
async fn run(
    stores: &Stores,
    dispatcher: &RecordingDispatcher,
    request: &ReplayRequest,
) -> ReplayRun {
    tokio::time::timeout(
        Duration::from_secs(60),
        run_replay(
            stores.events.as_ref(),
            stores.read_model.as_ref(),
            stores.replay_jobs.as_ref(),
            dispatcher,
            request,
            &|| false,
        ),
    )
    .await
    .expect("a run ends within 60 s")
    .expect("the run's store works")
}

async fn job(stores: &Stores, id: &str) -> ReplayJob {
    stores
        .replay_jobs
        .job(id)
        .await
        .expect("read the job")
        .unwrap_or_else(|| panic!("job {id} is recorded"))
}

/// The replay `id` ended done having applied `events`, its lane is free,
/// and the read model of `stream` is the fold of `log`.
async fn done_with_the_fold(stores: &Stores, id: &str, stream: &StreamId, log: &[RecordedEvent]) {
    let done = job(stores, id).await;
    assert_eq!(
        (done.state, done.events_applied),
        (ReplayState::Done, log.len() as u64),
        "{done:?}"
    );
    assert_eq!(
        crate::listed(stores.read_model.as_ref(), stream).await,
        StreamFold::of(log).items()
    );
}

/// What a sweep that runs a lease from now finds: the runs it started.
async fn sweep_later(stores: &Stores, dispatcher: &RecordingDispatcher) -> Vec<ReplayRequest> {
    let later = Utc::now() + LEASE + chrono::Duration::seconds(1);
    sweep(stores.replay_jobs.as_ref(), dispatcher, later)
        .await
        .expect("the sweep");
    dispatcher.take()
}

/// Runs `start` until its `stall_at`-th read of the log, which never
/// returns, then kills it there, as a crash would.
async fn kill_at_read(stores: &Stores, start: &ReplayRequest, stall_at: usize) {
    let stalling = Arc::new(StallingRead::new(stores.events.clone(), stall_at));
    let signal = stalling.stalled.clone();
    let stalled = signal.notified();
    let (read_model, jobs, start) = (
        stores.read_model.clone(),
        stores.replay_jobs.clone(),
        start.clone(),
    );
    let killed = tokio::spawn(async move {
        let dispatcher = RecordingDispatcher::default();
        let _ = run_replay(
            stalling.as_ref(),
            read_model.as_ref(),
            jobs.as_ref(),
            &dispatcher,
            &start,
            &|| false,
        )
        .await;
    });
    tokio::time::timeout(Duration::from_secs(30), stalled)
        .await
        .expect("the run reaches its stalling read");
    killed.abort();
    let _ = killed.await;
}

/// A lane commit fails after a step was applied: the run stops with the
/// error and leaves the replay, which the invocation's retry then runs to
/// the end from its last report; the queued replay runs after it.
pub async fn a_replay_survives_a_lane_commit_that_fails(stores: Stores) {
    let (stream, log) = seeded(&stores, "failed-commit").await;
    let (first, start) = trigger(&stores, &stream, "first").await;
    let (second, _) = trigger(&stores, &stream, "second").await;
    let start = start.expect("the lane was free");
    let dispatcher = RecordingDispatcher::default();
    // Commits: the claim, the sweep's report, then the apply's: it fails.
    let failing: Arc<dyn ReplayJobs> = Arc::new(FailingCommit::new(stores.replay_jobs.clone(), 3));
    let failed = run_replay(
        stores.events.as_ref(),
        stores.read_model.as_ref(),
        failing.as_ref(),
        &dispatcher,
        &start,
        &|| false,
    )
    .await;
    assert!(
        matches!(failed, Err(StoreError::Unavailable(_))),
        "{failed:?}"
    );
    assert_eq!(job(&stores, &first).await.state, ReplayState::Running);

    // The invocation is retried as it was: the replay is free to take.
    let retried = run(&stores, &dispatcher, &start).await;
    assert!(matches!(retried, ReplayRun::Ended(_)), "{retried:?}");
    done_with_the_fold(&stores, &first, &stream, &log).await;
    let next = dispatcher.take();
    assert_eq!(
        next.iter().map(|r| &r.replay_id).collect::<Vec<_>>(),
        [&second]
    );
    run(&stores, &dispatcher, &next[0]).await;
    done_with_the_fold(&stores, &second, &stream, &log).await;
}

/// A run short of time hands over, but the Invoke of its continuation
/// fails: the replay waits, released, and the sweep resumes it after its
/// lease; it ends done and starts the queued one.
pub async fn a_replay_whose_continuation_was_lost_is_resumed_by_the_sweep(stores: Stores) {
    let (stream, log) = seeded(&stores, "lost-continuation").await;
    let (first, start) = trigger(&stores, &stream, "first").await;
    let (second, _) = trigger(&stores, &stream, "second").await;
    let start = start.expect("the lane was free");
    let dispatcher = RecordingDispatcher::default();
    dispatcher
        .refusing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    // Time is short after the first step.
    let checks = std::sync::atomic::AtomicUsize::new(0);
    let short = || checks.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= 1;
    let invocation = ReplayInvocation::Run(start.clone());
    let answered = handle_invocation(
        stores.events.as_ref(),
        stores.read_model.as_ref(),
        stores.replay_jobs.as_ref(),
        &dispatcher,
        &invocation,
        &short,
    )
    .await
    .expect("the run hands over");
    assert_eq!(answered.map(|job| job.state), Some(ReplayState::Running));
    dispatcher
        .refusing
        .store(false, std::sync::atomic::Ordering::SeqCst);
    assert!(dispatcher.take().is_empty(), "the continuation was lost");

    let resumed = sweep_later(&stores, &dispatcher).await;
    assert_eq!(
        resumed,
        std::slice::from_ref(&start),
        "the sweep resumes it"
    );
    run(&stores, &dispatcher, &start).await;
    done_with_the_fold(&stores, &first, &stream, &log).await;
    let next = dispatcher.take();
    assert_eq!(
        next.iter().map(|r| &r.replay_id).collect::<Vec<_>>(),
        [&second]
    );
}

/// A run killed in the middle of a step (its read of the log never
/// returns, then it is dropped): the sweep resumes the replay from its
/// last report, and it ends with each event counted once.
pub async fn a_replay_killed_mid_step_is_resumed_from_its_last_report(stores: Stores) {
    let (stream, log) = seeded(&stores, "killed").await;
    let (first, start) = trigger(&stores, &stream, "first").await;
    let start = start.expect("the lane was free");
    let dispatcher = RecordingDispatcher::default();
    // The sweep step reads no events; the first apply step hangs.
    kill_at_read(&stores, &start, 1).await;
    assert_eq!(job(&stores, &first).await.state, ReplayState::Running);

    assert_eq!(
        jobs::resume_stalled(stores.replay_jobs.as_ref(), &start.lane, Utc::now()).await,
        Ok(None),
        "within its lease the run is taken as alive"
    );
    let resumed = sweep_later(&stores, &dispatcher).await;
    assert_eq!(resumed, std::slice::from_ref(&start));
    run(&stores, &dispatcher, &start).await;
    done_with_the_fold(&stores, &first, &stream, &log).await;
}

/// An invocation delivered again after its replay ended changes nothing:
/// the job stays as recorded, and the queued replay is not started twice.
pub async fn a_delivery_after_the_end_changes_nothing(stores: Stores) {
    let (stream, log) = seeded(&stores, "after-the-end").await;
    let (first, start) = trigger(&stores, &stream, "first").await;
    let (second, _) = trigger(&stores, &stream, "second").await;
    let start = start.expect("the lane was free");
    let dispatcher = RecordingDispatcher::default();
    run(&stores, &dispatcher, &start).await;
    done_with_the_fold(&stores, &first, &stream, &log).await;
    let recorded = job(&stores, &first).await;
    assert_eq!(dispatcher.take().len(), 1, "the queued one started");

    let again = run(&stores, &dispatcher, &start).await;
    assert!(matches!(again, ReplayRun::Stopped), "{again:?}");
    assert_eq!(
        job(&stores, &first).await,
        recorded,
        "an ended job never changes"
    );
    assert!(dispatcher.take().is_empty(), "nothing started twice");
    assert_eq!(job(&stores, &second).await.state, ReplayState::Queued);
}

/// Rows no event accounts for, in `stream`'s read model: what a rebuild
/// must remove.
async fn ghost_row(read_model: &dyn ReadModel, stream: &StreamId) {
    let ghost = ItemChange {
        stream_id: stream.clone(),
        item_id: item("ghost"),
        version: EventId::new(0),
        state: ItemState::Live { amount: amount(1) },
        recorded_at: Utc::now(),
    };
    for outcome in read_model.apply(&[ghost], ApplyMode::Projection).await {
        outcome.expect("the ghost row is written");
    }
}

/// A rebuild replays every stream from 0 as children of its own, counts
/// streams and events as it goes, and leaves a stream held by another
/// replay to a replay queued behind it; in the end every stream's read
/// model is its fold.
pub async fn a_rebuild_replays_every_stream_and_queues_behind_busy_ones(stores: Stores) {
    let mut logs = Vec::new();
    for label in ["rebuild-a", "rebuild-b", "rebuild-c"] {
        let (stream, log) = seeded(&stores, label).await;
        ghost_row(stores.read_model.as_ref(), &stream).await;
        logs.push((stream, log));
    }
    // The second stream is held by a replay of its own, not yet run.
    let (holder, holder_start) = trigger(&stores, &logs[1].0, "holder").await;
    let holder_start = holder_start.expect("the lane was free");
    let rebuild_id = unique_name("rebuild");
    let admitted = jobs::admit(
        stores.replay_jobs.as_ref(),
        &rebuild_id,
        &ReplayScope::AllStreams,
        Utc::now(),
    )
    .await
    .expect("admit");
    let start = admitted.start.expect("no rebuild runs");
    assert_eq!(start.lane, LaneKey::AllStreams);
    let dispatcher = RecordingDispatcher::default();
    run(&stores, &dispatcher, &start).await;
    let rebuilt = job(&stores, &rebuild_id).await;
    let events = (logs[0].1.len() + logs[2].1.len()) as u64;
    assert_eq!(
        (
            rebuilt.state,
            rebuilt.events_applied,
            rebuilt.streams.clone()
        ),
        (
            ReplayState::Done,
            events,
            Some(StreamCounts {
                streams_replayed: 2,
                streams_queued: 1,
                streams_failed: 0,
            })
        ),
        "{rebuilt:?}"
    );
    for (stream, log) in [&logs[0], &logs[2]] {
        assert_eq!(
            crate::listed(stores.read_model.as_ref(), stream).await,
            StreamFold::of(log).items()
        );
    }
    assert!(
        dispatcher.take().is_empty(),
        "the holder is alive: nothing resumed"
    );

    // The holder runs, then the replay from 0 queued behind it.
    run(&stores, &dispatcher, &holder_start).await;
    done_with_the_fold(&stores, &holder, &logs[1].0, &logs[1].1).await;
    let queued = dispatcher.take();
    assert_eq!(queued.len(), 1, "{queued:?}");
    run(&stores, &dispatcher, &queued[0]).await;
    let (stream, log) = &logs[1];
    done_with_the_fold(&stores, &queued[0].replay_id, stream, log).await;
}

/// A rebuild killed while it replays a stream: the sweep resumes the
/// rebuild (through the stream's lane or its own), which finishes the
/// stream from its last report and counts every stream once.
pub async fn a_rebuild_killed_mid_stream_resumes_and_counts_each_stream_once(stores: Stores) {
    let mut logs = Vec::new();
    for label in ["killed-rebuild-a", "killed-rebuild-b"] {
        logs.push(seeded(&stores, label).await);
    }
    let rebuild_id = unique_name("rebuild");
    let jobs = stores.replay_jobs.as_ref();
    let admitted = jobs::admit(jobs, &rebuild_id, &ReplayScope::AllStreams, Utc::now())
        .await
        .expect("admit");
    let start = admitted.start.expect("no rebuild runs");
    // The first stream's apply reads once, the second's hangs.
    kill_at_read(&stores, &start, 2).await;
    let halfway = job(&stores, &rebuild_id).await;
    assert_eq!(
        (halfway.state, halfway.streams.map(|s| s.streams_replayed)),
        (ReplayState::Running, Some(1))
    );

    let dispatcher = RecordingDispatcher::default();
    let resumed = sweep_later(&stores, &dispatcher).await;
    assert!(!resumed.is_empty(), "the sweep resumes the rebuild");
    assert!(
        resumed.iter().all(|request| *request == start),
        "{resumed:?}"
    );
    run(&stores, &dispatcher, &start).await;
    let rebuilt = job(&stores, &rebuild_id).await;
    let events: u64 = logs.iter().map(|(_, log)| log.len() as u64).sum();
    assert_eq!(
        (
            rebuilt.state,
            rebuilt.events_applied,
            rebuilt.streams.as_ref().map(|s| s.streams_replayed)
        ),
        (ReplayState::Done, events, Some(2)),
        "{rebuilt:?}"
    );
    for (stream, log) in &logs {
        assert_eq!(
            crate::listed(stores.read_model.as_ref(), stream).await,
            StreamFold::of(log).items()
        );
    }
    assert_eq!(
        jobs.held_lanes(None, 10).await,
        Ok(vec![]),
        "every lane is free"
    );
}
