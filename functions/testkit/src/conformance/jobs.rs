//! The cases every `ReplayJobs` must pass, with the lane rules of
//! `domain::jobs` run over it.

use domain::jobs;
use domain::replay::ReplayProgress;
use domain::{
    Claim, Finished, LaneEntry, LaneKey, ReplayJob, ReplayLane, ReplayRequest, ReplayScope,
    ReplayState, RunProgress, StreamCounts,
};

use super::support::*;

pub(super) fn scope(stream: &StreamId, from: u64) -> ReplayScope {
    ReplayScope::Stream(ReplayTarget {
        stream_id: stream.clone(),
        from_event_id: EventId::new(from),
    })
}

pub(super) fn lane_of(stream: &StreamId) -> LaneKey {
    LaneKey::Stream(stream.clone())
}

pub(super) fn run_of(stream: &StreamId, replay_id: &str) -> ReplayRequest {
    ReplayRequest {
        replay_id: replay_id.to_owned(),
        lane: lane_of(stream),
    }
}

pub(super) fn entry(replay_id: &str, from: u64) -> LaneEntry {
    LaneEntry {
        replay_id: replay_id.to_owned(),
        from_event_id: EventId::new(from),
        progress: None,
        rebuild: None,
        run: None,
        parent: None,
        stalls: 0,
    }
}

pub(super) async fn job(stores: &Stores, replay_id: &str) -> ReplayJob {
    stores
        .replay_jobs
        .job(replay_id)
        .await
        .expect("read the job")
        .unwrap_or_else(|| panic!("job {replay_id} is recorded"))
}

/// Admits a trigger of `scope` as a new replay; its admission.
pub(super) async fn trigger(
    stores: &Stores,
    label: &str,
    scope: &ReplayScope,
    n: i64,
) -> jobs::Admission {
    let replay_id = unique_name(label);
    jobs::admit(stores.replay_jobs.as_ref(), &replay_id, scope, at(n))
        .await
        .expect("admit")
}

/// A step of progress: `events` applied.
pub(super) fn stepped(stream: &StreamId, events: u64) -> ReplayProgress {
    let mut progress = ReplayProgress::start(&ReplayTarget {
        stream_id: stream.clone(),
        from_event_id: EventId::FIRST,
    });
    progress.events_applied = events;
    progress
}

/// A lane is written only over the revision its writer read; a commit
/// that lost writes neither the lane nor its jobs. The all-streams lane
/// is a lane like the others.
pub async fn a_lane_commits_only_at_the_revision_read(stores: Stores) {
    let stream = unique_stream("lane-revision");
    let jobs = &stores.replay_jobs;
    for key in [lane_of(&stream), LaneKey::AllStreams] {
        assert_eq!(jobs.lane(&key).await, Ok(None));
        let first = unique_name("first");
        let lane = ReplayLane {
            running: Some(entry(&first, 0)),
            lease_until: Some(at(0)),
            queued: None,
        };
        let queued = ReplayJob::of(&key, &entry(&first, 0), ReplayState::Queued, at(0));
        assert_eq!(jobs.commit(&key, Some(0), &lane, &[]).await, Ok(false));
        assert_eq!(
            jobs.commit(&key, None, &lane, std::slice::from_ref(&queued))
                .await,
            Ok(true)
        );
        let stored = jobs.lane(&key).await.unwrap().expect("the lane");
        assert_eq!((stored.lane, stored.revision), (lane.clone(), 0));

        // A second writer that read "no lane", or revision 0 after it moved
        // on, loses and writes nothing.
        let second = unique_name("second");
        let other = ReplayLane {
            queued: Some(entry(&second, 5)),
            ..lane.clone()
        };
        let second_job = ReplayJob {
            replay_id: second.clone(),
            ..queued.clone()
        };
        assert_eq!(
            jobs.commit(&key, None, &other, std::slice::from_ref(&second_job))
                .await,
            Ok(false)
        );
        assert_eq!(jobs.commit(&key, Some(0), &other, &[]).await, Ok(true));
        assert_eq!(
            jobs.commit(&key, Some(0), &lane, std::slice::from_ref(&second_job))
                .await,
            Ok(false)
        );
        assert_eq!(jobs.job(&second).await, Ok(None), "nothing half-written");
        let stored = jobs.lane(&key).await.unwrap().expect("the lane");
        assert_eq!((stored.lane, stored.revision), (other, 1));
    }
    assert_eq!(
        jobs.lane(&lane_of(&unique_stream("no-lane"))).await,
        Ok(None)
    );
}

/// A job reads back exactly as written: a stream replay with its error, a
/// rebuild with its counts, a rebuild's child with its parent.
pub async fn a_job_is_unknown_until_written_then_reads_back_intact(stores: Stores) {
    let stream = unique_stream("job-round-trip");
    let jobs = &stores.replay_jobs;
    let replay_id = unique_name("job");
    assert_eq!(jobs.job(&replay_id).await, Ok(None));
    let failed = ReplayJob {
        replay_id: replay_id.clone(),
        scope: scope(&stream, 7),
        state: ReplayState::Failed,
        events_applied: 1234,
        streams: None,
        error: Some("stored data is corrupt: ünïcode \"quoted\"".into()),
        updated_at: at(3),
        parent: None,
    };
    let rebuild = ReplayJob {
        replay_id: unique_name("rebuild"),
        scope: ReplayScope::AllStreams,
        state: ReplayState::Running,
        events_applied: 99,
        streams: Some(StreamCounts {
            streams_replayed: 3,
            streams_queued: 1,
            streams_failed: 2,
        }),
        error: None,
        updated_at: at(4),
        parent: None,
    };
    let child = ReplayJob {
        replay_id: format!("{}.0", rebuild.replay_id),
        parent: Some(rebuild.replay_id.clone()),
        ..failed.clone()
    };
    let written = [failed.clone(), rebuild.clone(), child.clone()];
    let lane = ReplayLane::default();
    assert_eq!(
        jobs.commit(&lane_of(&stream), None, &lane, &written).await,
        Ok(true)
    );
    for expected in written {
        assert_eq!(jobs.job(&expected.replay_id).await, Ok(Some(expected)));
    }
}

/// The first trigger starts; a second queues behind it; a third joins the
/// queued one, which then starts from the lower of their starts.
pub async fn triggers_start_on_a_free_lane_then_share_one_queued_replay(stores: Stores) {
    let stream = unique_stream("admit");
    let jobs = stores.replay_jobs.as_ref();
    let first = trigger(&stores, "first", &scope(&stream, 4), 0).await;
    assert_eq!(first.start, Some(run_of(&stream, &first.covered_by)));
    assert_eq!(first.scope, scope(&stream, 4));
    assert_eq!(
        job(&stores, &first.covered_by).await.state,
        ReplayState::Queued
    );
    let claimed = jobs::claim(jobs, &lane_of(&stream), &first.covered_by, "run-1", at(1)).await;
    assert!(matches!(claimed, Ok(Claim::Held(_))), "{claimed:?}");
    assert_eq!(
        job(&stores, &first.covered_by).await.state,
        ReplayState::Running
    );

    let second = trigger(&stores, "second", &scope(&stream, 9), 2).await;
    assert_eq!(second.start, None, "one replay per stream runs at a time");
    assert_eq!(
        job(&stores, &second.covered_by).await.state,
        ReplayState::Queued
    );

    let third_id = unique_name("third");
    let third = jobs::admit(jobs, &third_id, &scope(&stream, 2), at(3))
        .await
        .unwrap();
    assert_eq!(third.start, None);
    assert_eq!(
        third.covered_by, second.covered_by,
        "a trigger joins the queued replay"
    );
    assert_eq!(third.scope, scope(&stream, 2), "which covers both ranges");
    assert_eq!(
        job(&stores, &second.covered_by).await.scope,
        scope(&stream, 2)
    );
    assert_eq!(jobs.job(&third_id).await, Ok(None));
    // Other streams, and rebuilds of every stream, are not held up.
    let elsewhere = trigger(
        &stores,
        "elsewhere",
        &scope(&unique_stream("admit-other"), 0),
        3,
    )
    .await;
    assert!(elsewhere.start.is_some());
    let rebuild = trigger(&stores, "rebuild", &ReplayScope::AllStreams, 3).await;
    assert_eq!(
        rebuild.start,
        Some(ReplayRequest {
            replay_id: rebuild.covered_by.clone(),
            lane: LaneKey::AllStreams,
        })
    );
}

/// A run that ends records its outcome and hands the lane to the queued
/// replay; the last one leaves the lane free.
pub async fn a_finished_run_hands_the_lane_to_the_queued_replay(stores: Stores) {
    let stream = unique_stream("finish");
    let (key, jobs) = (lane_of(&stream), stores.replay_jobs.as_ref());
    let first = trigger(&stores, "first", &scope(&stream, 0), 0)
        .await
        .covered_by;
    let second = trigger(&stores, "second", &scope(&stream, 3), 1)
        .await
        .covered_by;
    let claimed = jobs::claim(jobs, &key, &first, "run-a", at(2))
        .await
        .unwrap();
    assert_eq!(
        claimed,
        Claim::Held(Box::new(LaneEntry {
            run: Some("run-a".into()),
            ..entry(&first, 0)
        }))
    );
    let progress = stepped(&stream, 42);
    let reported = jobs::report(
        jobs,
        &key,
        &first,
        "run-a",
        RunProgress::Stream(progress.clone()),
        at(2),
    );
    assert_eq!(reported.await, Ok(true));
    let running = job(&stores, &first).await;
    assert_eq!(
        (running.state, running.events_applied),
        (ReplayState::Running, 42)
    );

    let ended = jobs::finish(
        jobs,
        &key,
        &first,
        Some("run-a"),
        Ok(RunProgress::Stream(progress.clone())),
        at(3),
    );
    assert_eq!(
        ended.await,
        Ok(Finished::Ended {
            next: Some(run_of(&stream, &second))
        }),
        "the queued replay is next"
    );
    let done = job(&stores, &first).await;
    assert_eq!((done.state, done.events_applied), (ReplayState::Done, 42));
    // The lane is the second's now: a new trigger queues.
    let third = trigger(&stores, "third", &scope(&stream, 0), 4).await;
    assert_eq!(third.start, None);

    assert!(matches!(
        jobs::claim(jobs, &key, &second, "run-b", at(5)).await,
        Ok(Claim::Held(_))
    ));
    let failed = jobs::finish(
        jobs,
        &key,
        &second,
        Some("run-b"),
        Err("it broke".into()),
        at(6),
    );
    assert_eq!(
        failed.await,
        Ok(Finished::Ended {
            next: Some(run_of(&stream, &third.covered_by))
        })
    );
    let failed = job(&stores, &second).await;
    assert_eq!(failed.state, ReplayState::Failed);
    assert_eq!(failed.error.as_deref(), Some("it broke"));

    // A replay whose run never started ends with no run.
    let ended = jobs::finish(
        jobs,
        &key,
        &third.covered_by,
        None,
        Err("not started".into()),
        at(7),
    );
    assert_eq!(ended.await, Ok(Finished::Ended { next: None }));
    let fourth = trigger(&stores, "fourth", &scope(&stream, 0), 8).await;
    assert!(fourth.start.is_some(), "the lane is free again");
}

/// Triggers racing on one stream: exactly one starts, and every other is
/// covered by the one queued replay.
pub async fn concurrent_triggers_of_one_stream_start_exactly_one_replay(stores: Stores) {
    let stream = unique_stream("admit-race");
    let admissions = futures::future::join_all((0..8u64).map(|n| {
        let stores = stores.clone();
        let scope = scope(&stream, n);
        async move { trigger(&stores, &format!("racer-{n}"), &scope, 0).await }
    }))
    .await;
    let started: Vec<_> = admissions.iter().filter(|a| a.start.is_some()).collect();
    assert_eq!(started.len(), 1, "{admissions:?}");
    let queued: std::collections::BTreeSet<_> = admissions
        .iter()
        .filter(|a| a.start.is_none())
        .map(|a| a.covered_by.clone())
        .collect();
    assert_eq!(queued.len(), 1, "one queued replay covers the rest");
    let lane = stores
        .replay_jobs
        .lane(&lane_of(&stream))
        .await
        .unwrap()
        .expect("the lane")
        .lane;
    let queued_entry = lane.queued.expect("a queued replay");
    let lowest_queued = admissions
        .iter()
        .filter(|a| a.start.is_none())
        .map(|a| a.scope.from_event_id())
        .min();
    assert_eq!(Some(queued_entry.from_event_id), lowest_queued);
}
