//! The cases every `ReplayJobs` must pass, with the lane rules of
//! `domain::jobs` run over it.

use domain::jobs::{self, LEASE, LaneEntry};
use domain::replay::ReplayProgress;
use domain::{Claim, ReplayJob, ReplayLane, ReplayRequest, ReplayState};

use super::support::*;

fn request(stream: &StreamId, label: &str, from: u64) -> ReplayRequest {
    ReplayRequest {
        replay_id: unique_name(label),
        stream_id: stream.clone(),
        from_event_id: EventId::new(from),
        progress: None,
    }
}

fn entry(request: &ReplayRequest) -> LaneEntry {
    LaneEntry {
        replay_id: request.replay_id.clone(),
        from_event_id: request.from_event_id,
        progress: None,
    }
}

async fn job(stores: &Stores, request: &ReplayRequest) -> ReplayJob {
    stores
        .replay_jobs
        .job(&request.replay_id)
        .await
        .expect("read the job")
        .unwrap_or_else(|| panic!("job {} is recorded", request.replay_id))
}

/// A lane is written only over the revision its writer read; a commit
/// that lost writes neither the lane nor its jobs.
pub async fn a_lane_commits_only_at_the_revision_read(stores: Stores) {
    let stream = unique_stream("lane-revision");
    let jobs = &stores.replay_jobs;
    assert_eq!(jobs.lane(&stream).await, Ok(None));
    let first = request(&stream, "first", 0);
    let lane = ReplayLane {
        running: Some(entry(&first)),
        lease_until: Some(at(0)),
        queued: None,
    };
    let queued = ReplayJob {
        replay_id: first.replay_id.clone(),
        stream_id: stream.clone(),
        from_event_id: EventId::new(0),
        state: ReplayState::Queued,
        events_applied: 0,
        error: None,
        updated_at: at(0),
        progress: None,
    };
    assert_eq!(jobs.commit(&stream, Some(0), &lane, &[]).await, Ok(false));
    assert_eq!(
        jobs.commit(&stream, None, &lane, std::slice::from_ref(&queued))
            .await,
        Ok(true)
    );
    let stored = jobs.lane(&stream).await.unwrap().expect("the lane");
    assert_eq!((stored.lane, stored.revision), (lane.clone(), 0));

    // A second writer that read "no lane", or revision 0 after it moved on,
    // loses and writes nothing.
    let second = request(&stream, "second", 5);
    let other = ReplayLane {
        queued: Some(entry(&second)),
        ..lane.clone()
    };
    let second_job = ReplayJob {
        replay_id: second.replay_id.clone(),
        ..queued.clone()
    };
    assert_eq!(
        jobs.commit(&stream, None, &other, std::slice::from_ref(&second_job))
            .await,
        Ok(false)
    );
    assert_eq!(jobs.commit(&stream, Some(0), &other, &[]).await, Ok(true));
    assert_eq!(
        jobs.commit(&stream, Some(0), &lane, std::slice::from_ref(&second_job))
            .await,
        Ok(false)
    );
    assert_eq!(
        jobs.job(&second.replay_id).await,
        Ok(None),
        "nothing half-written"
    );
    let stored = jobs.lane(&stream).await.unwrap().expect("the lane");
    assert_eq!((stored.lane, stored.revision), (other, 1));
    assert_eq!(jobs.lane(&unique_stream("no-lane")).await, Ok(None));
}

/// A job reads back exactly as written, progress and error included.
pub async fn a_job_is_unknown_until_written_then_reads_back_intact(stores: Stores) {
    let stream = unique_stream("job-round-trip");
    let jobs = &stores.replay_jobs;
    let asked = request(&stream, "job", 7);
    assert_eq!(jobs.job(&asked.replay_id).await, Ok(None));
    let progress = ReplayProgress::start(&asked.target());
    let job = ReplayJob {
        replay_id: asked.replay_id.clone(),
        stream_id: stream.clone(),
        from_event_id: asked.from_event_id,
        state: ReplayState::Failed,
        events_applied: 1234,
        error: Some("stored data is corrupt: ünïcode \"quoted\"".into()),
        updated_at: at(3),
        progress: Some(progress),
    };
    let lane = ReplayLane::default();
    assert_eq!(
        jobs.commit(&stream, None, &lane, std::slice::from_ref(&job))
            .await,
        Ok(true)
    );
    assert_eq!(jobs.job(&asked.replay_id).await, Ok(Some(job)));
}

/// The first trigger starts; a second queues behind it; a third joins the
/// queued one, which then starts from the lower of their starts.
pub async fn triggers_start_on_a_free_lane_then_share_one_queued_replay(stores: Stores) {
    let stream = unique_stream("admit");
    let jobs = stores.replay_jobs.as_ref();
    let first = request(&stream, "first", 4);
    let admitted = jobs::admit(jobs, &first, at(0)).await.expect("admit");
    assert!(admitted.start);
    assert_eq!(admitted.covered_by, first);
    assert_eq!(job(&stores, &first).await.state, ReplayState::Queued);
    assert_eq!(
        jobs::claim(jobs, &first, None, at(1)).await,
        Ok(Claim::Held),
        "the started replay holds the lane"
    );
    assert_eq!(job(&stores, &first).await.state, ReplayState::Running);

    let second = request(&stream, "second", 9);
    let admitted = jobs::admit(jobs, &second, at(2)).await.expect("admit");
    assert!(!admitted.start, "one replay per stream runs at a time");
    assert_eq!(admitted.covered_by, second);
    assert_eq!(job(&stores, &second).await.state, ReplayState::Queued);

    let third = request(&stream, "third", 2);
    let admitted = jobs::admit(jobs, &third, at(3)).await.expect("admit");
    assert!(!admitted.start);
    assert_eq!(
        admitted.covered_by.replay_id, second.replay_id,
        "a trigger joins the queued replay"
    );
    assert_eq!(
        admitted.covered_by.from_event_id,
        EventId::new(2),
        "the queued replay covers both ranges"
    );
    assert_eq!(job(&stores, &second).await.from_event_id, EventId::new(2));
    assert_eq!(jobs.job(&third.replay_id).await, Ok(None));
    // Other streams are not held up.
    let elsewhere = request(&unique_stream("admit-other"), "elsewhere", 0);
    assert!(jobs::admit(jobs, &elsewhere, at(3)).await.unwrap().start);
}

/// A run that ends records its outcome and hands the lane to the queued
/// replay; the last one leaves the lane free.
pub async fn a_finished_run_hands_the_lane_to_the_queued_replay(stores: Stores) {
    let stream = unique_stream("finish");
    let jobs = stores.replay_jobs.as_ref();
    let first = request(&stream, "first", 0);
    let second = request(&stream, "second", 3);
    assert!(jobs::admit(jobs, &first, at(0)).await.unwrap().start);
    assert!(!jobs::admit(jobs, &second, at(1)).await.unwrap().start);
    let mut progress = ReplayProgress::start(&first.target());
    progress.events_applied = 42;
    assert_eq!(
        jobs::claim(jobs, &first.continued_from(progress.clone()), None, at(2)).await,
        Ok(Claim::Held)
    );
    let running = job(&stores, &first).await;
    assert_eq!(
        (running.state, running.events_applied),
        (ReplayState::Running, 42)
    );
    assert_eq!(running.progress.as_ref(), Some(&progress));

    let next = jobs::finish(jobs, &first, Ok(&progress), at(3))
        .await
        .unwrap();
    assert_eq!(next, Some(second.clone()), "the queued replay is next");
    let done = job(&stores, &first).await;
    assert_eq!((done.state, done.events_applied), (ReplayState::Done, 42));
    // The lane is the second's now: a new trigger queues.
    let third = request(&stream, "third", 0);
    assert!(!jobs::admit(jobs, &third, at(4)).await.unwrap().start);

    assert_eq!(
        jobs::claim(jobs, &second, None, at(5)).await,
        Ok(Claim::Held)
    );
    let next = jobs::finish(jobs, &second, Err("it broke".into()), at(6))
        .await
        .unwrap();
    assert_eq!(
        next.map(|next| next.replay_id),
        Some(third.replay_id.clone())
    );
    let failed = job(&stores, &second).await;
    assert_eq!(failed.state, ReplayState::Failed);
    assert_eq!(failed.error.as_deref(), Some("it broke"));

    assert_eq!(
        jobs::finish(jobs, &third, Ok(&progress), at(7)).await,
        Ok(None)
    );
    let fourth = request(&stream, "fourth", 0);
    assert!(
        jobs::admit(jobs, &fourth, at(8)).await.unwrap().start,
        "the lane is free again"
    );
}

/// Triggers racing on one stream: exactly one starts, and every other is
/// covered by the one queued replay.
pub async fn concurrent_triggers_of_one_stream_start_exactly_one_replay(stores: Stores) {
    let stream = unique_stream("admit-race");
    let triggers: Vec<ReplayRequest> = (0..8)
        .map(|n| request(&stream, &format!("racer-{n}"), n))
        .collect();
    let admissions = futures::future::join_all(triggers.iter().map(|trigger| {
        let jobs = stores.replay_jobs.clone();
        let trigger = trigger.clone();
        async move { jobs::admit(jobs.as_ref(), &trigger, at(0)).await }
    }))
    .await;
    let admissions: Vec<_> = admissions
        .into_iter()
        .map(|admission| admission.expect("admit"))
        .collect();
    let started: Vec<_> = admissions.iter().filter(|a| a.start).collect();
    assert_eq!(started.len(), 1, "{admissions:?}");
    let queued: std::collections::BTreeSet<_> = admissions
        .iter()
        .filter(|a| !a.start)
        .map(|a| a.covered_by.replay_id.clone())
        .collect();
    assert_eq!(queued.len(), 1, "one queued replay covers the rest");
    let lane = stores
        .replay_jobs
        .lane(&stream)
        .await
        .unwrap()
        .expect("the lane")
        .lane;
    let queued_entry = lane.queued.expect("a queued replay");
    let lowest_queued = triggers
        .iter()
        .filter(|t| t.replay_id != started[0].covered_by.replay_id)
        .map(|t| t.from_event_id)
        .min();
    assert_eq!(Some(queued_entry.from_event_id), lowest_queued);
}

/// A running replay that stops reporting keeps its lane for the lease;
/// after it, the next trigger takes the lane, the stale run learns it lost
/// it, and a reader sees the stale job as failed.
pub async fn a_run_that_stopped_reporting_loses_its_lane_to_the_next_trigger(stores: Stores) {
    let stream = unique_stream("lease");
    let jobs = stores.replay_jobs.as_ref();
    let stale = request(&stream, "stale", 0);
    let start = at(0);
    assert!(jobs::admit(jobs, &stale, start).await.unwrap().start);
    assert_eq!(
        jobs::claim(jobs, &stale, None, start).await,
        Ok(Claim::Held)
    );

    let within = request(&stream, "within", 0);
    assert!(
        !jobs::admit(jobs, &within, start + LEASE)
            .await
            .unwrap()
            .start
    );
    let after = start + LEASE + chrono::Duration::seconds(1);
    let late = request(&stream, "late", 6);
    let admitted = jobs::admit(jobs, &late, after).await.unwrap();
    assert!(admitted.start, "the lease ran out");
    assert_eq!(
        admitted.covered_by.replay_id, within.replay_id,
        "the queued replay takes the lane, covering the late trigger too"
    );
    assert_eq!(admitted.covered_by.from_event_id, EventId::new(0));

    assert_eq!(
        jobs::claim(jobs, &stale, None, after).await,
        Ok(Claim::TakenOver)
    );
    let seen = job(&stores, &stale).await.seen_at(after);
    assert_eq!(seen.state, ReplayState::Failed);
    assert!(
        seen.error
            .as_deref()
            .unwrap_or("")
            .contains("stopped reporting"),
        "{seen:?}"
    );
    // The stale run ending records its own outcome and leaves the new
    // holder's lane alone.
    let progress = ReplayProgress::start(&stale.target());
    assert_eq!(
        jobs::finish(jobs, &stale, Ok(&progress), after).await,
        Ok(None)
    );
    assert_eq!(job(&stores, &stale).await.state, ReplayState::Done);
    assert_eq!(
        jobs::claim(jobs, &within, None, after).await,
        Ok(Claim::Held)
    );
}

/// An asynchronous invocation may arrive twice: both deliveries of a run
/// start from the same progress, the first to report a step goes on, and
/// the other stops at its first report, leaving the lane to the first.
pub async fn a_second_delivery_of_a_run_stops_at_its_first_report(stores: Stores) {
    let stream = unique_stream("duplicate");
    let jobs = stores.replay_jobs.as_ref();
    let replay = request(&stream, "twice", 0);
    assert!(jobs::admit(jobs, &replay, at(0)).await.unwrap().start);
    let start = ReplayProgress::start(&replay.target());
    let starting = replay.continued_from(start.clone());
    for delivery in ["first", "second"] {
        assert_eq!(
            jobs::claim(jobs, &starting, None, at(1)).await,
            Ok(if delivery == "first" {
                Claim::Held
            } else {
                Claim::ContinuedElsewhere
            }),
            "{delivery} delivery starting"
        );
    }
    let mut stepped = start.clone();
    stepped.events_applied = 10;
    let report = replay.continued_from(stepped.clone());
    assert_eq!(
        jobs::claim(jobs, &report, Some(&start), at(2)).await,
        Ok(Claim::Held),
        "the run reports its step"
    );
    assert_eq!(
        jobs::claim(jobs, &report, Some(&start), at(2)).await,
        Ok(Claim::ContinuedElsewhere),
        "a delivery reporting the same step again stops"
    );
    // A run handed over continues from the progress last reported.
    assert_eq!(
        jobs::claim(jobs, &report, Some(&stepped), at(3)).await,
        Ok(Claim::Held)
    );
    assert_eq!(job(&stores, &replay).await.events_applied, 10);
}
