//! The cases of the lane rules about runs: a dead run's replay is
//! resumed, a second run of one replay does nothing, a run hands over, a
//! replay that never steps is failed.

use domain::jobs::{self, LEASE, MAX_STALLS};
use domain::{Claim, Finished, ReplayState, RunProgress};

use super::jobs::{job, lane_of, run_of, scope, stepped, trigger};
use super::support::*;

/// A run that dies keeps its replay for the lease; after it, the next
/// trigger (or a sweep, or a status read) resumes the same replay from the
/// progress its lane holds, and the dead run, should it wake, is stopped
/// at its next report.
pub async fn a_run_that_stopped_reporting_is_resumed_from_its_lanes_progress(stores: Stores) {
    let stream = unique_stream("lease");
    let (key, jobs) = (lane_of(&stream), stores.replay_jobs.as_ref());
    let stale = trigger(&stores, "stale", &scope(&stream, 0), 0)
        .await
        .covered_by;
    assert!(matches!(
        jobs::claim(jobs, &key, &stale, "dead-run", at(0)).await,
        Ok(Claim::Held(_))
    ));
    let progress = stepped(&stream, 1000);
    let reported = jobs::report(
        jobs,
        &key,
        &stale,
        "dead-run",
        RunProgress::Stream(progress.clone()),
        at(1),
    );
    assert_eq!(reported.await, Ok(true));

    let within = at(1) + LEASE;
    assert_eq!(
        jobs::resume_stalled(jobs, &key, within).await,
        Ok(None),
        "alive"
    );
    let queued = trigger(&stores, "queued", &scope(&stream, 6), 1).await;
    assert_eq!(queued.start, None);
    let after = within + chrono::Duration::seconds(1);
    let late_id = unique_name("late");
    let late = jobs::admit(jobs, &late_id, &scope(&stream, 2), after)
        .await
        .unwrap();
    assert_eq!(
        late.start,
        Some(run_of(&stream, &stale)),
        "the dead run's replay resumes"
    );
    assert_eq!(
        late.covered_by, queued.covered_by,
        "the trigger joins the queue"
    );
    assert_eq!(late.scope.from_event_id(), EventId::new(2));
    assert_eq!(
        jobs::resume_stalled(jobs, &key, after).await,
        Ok(None),
        "resumed once: its lease runs again"
    );

    let resumed = jobs::claim(jobs, &key, &stale, "new-run", after)
        .await
        .unwrap();
    let Claim::Held(resumed) = resumed else {
        panic!("the new run takes the replay: {resumed:?}");
    };
    assert_eq!(
        resumed.progress,
        Some(progress.clone()),
        "from the lane's progress"
    );
    let woke = jobs::report(
        jobs,
        &key,
        &stale,
        "dead-run",
        RunProgress::Stream(stepped(&stream, 2000)),
        after,
    );
    assert_eq!(woke.await, Ok(false), "the dead run, woken, stops");
    assert_eq!(job(&stores, &stale).await.events_applied, 1000);
    // Once a run is dead, a sweep resumes it without a trigger.
    let much_later = after + LEASE * 2;
    assert_eq!(
        jobs::resume_stalled(jobs, &key, much_later).await,
        Ok(Some(run_of(&stream, &stale)))
    );
}

/// An invocation delivered twice, or late: while one run works on a
/// replay, a second finds it held and stops; once the replay ended, a late
/// run finds it not running and changes nothing.
pub async fn a_second_or_late_delivery_of_a_run_changes_nothing(stores: Stores) {
    let stream = unique_stream("duplicate");
    let (key, jobs) = (lane_of(&stream), stores.replay_jobs.as_ref());
    let replay = trigger(&stores, "twice", &scope(&stream, 0), 0)
        .await
        .covered_by;
    assert!(matches!(
        jobs::claim(jobs, &key, &replay, "first", at(1)).await,
        Ok(Claim::Held(_))
    ));
    assert_eq!(
        jobs::claim(jobs, &key, &replay, "second", at(1)).await,
        Ok(Claim::HeldElsewhere)
    );
    let progress = stepped(&stream, 10);
    let done = jobs::finish(
        jobs,
        &key,
        &replay,
        Some("first"),
        Ok(RunProgress::Stream(progress)),
        at(2),
    );
    assert_eq!(done.await, Ok(Finished::Ended { next: None }));
    let recorded = job(&stores, &replay).await;
    assert_eq!(
        (recorded.state, recorded.events_applied),
        (ReplayState::Done, 10)
    );

    for late in ["second", "third"] {
        assert_eq!(
            jobs::claim(jobs, &key, &replay, late, at(3)).await,
            Ok(Claim::NotRunning)
        );
        let failed = jobs::finish(
            jobs,
            &key,
            &replay,
            Some(late),
            Err("stopped".into()),
            at(3),
        );
        assert_eq!(failed.await, Ok(Finished::NotHeld));
        let report = jobs::report(
            jobs,
            &key,
            &replay,
            late,
            RunProgress::Stream(stepped(&stream, 0)),
            at(3),
        );
        assert_eq!(report.await, Ok(false));
    }
    assert_eq!(
        job(&stores, &replay).await,
        recorded,
        "an ended job never changes"
    );
}

/// A run that hands over (its time is short) leaves the replay for the
/// run it starts, which claims it at once; a sweep meanwhile leaves it be.
pub async fn a_released_replay_is_claimed_at_once_by_the_next_run(stores: Stores) {
    let stream = unique_stream("release");
    let (key, jobs) = (lane_of(&stream), stores.replay_jobs.as_ref());
    let replay = trigger(&stores, "handed", &scope(&stream, 0), 0)
        .await
        .covered_by;
    assert!(matches!(
        jobs::claim(jobs, &key, &replay, "first", at(0)).await,
        Ok(Claim::Held(_))
    ));
    let report = jobs::report(
        jobs,
        &key,
        &replay,
        "first",
        RunProgress::Stream(stepped(&stream, 5)),
        at(1),
    );
    assert_eq!(report.await, Ok(true));
    assert_eq!(
        jobs::release(jobs, &key, &replay, "other", at(2)).await,
        Ok(false)
    );
    assert_eq!(
        jobs::release(jobs, &key, &replay, "first", at(2)).await,
        Ok(true)
    );
    assert_eq!(jobs::resume_stalled(jobs, &key, at(3)).await, Ok(None));
    let next = jobs::claim(jobs, &key, &replay, "continuation", at(3))
        .await
        .unwrap();
    let Claim::Held(next) = next else {
        panic!("the continuation takes the replay: {next:?}");
    };
    assert_eq!(next.progress, Some(stepped(&stream, 5)));
    assert_eq!(job(&stores, &replay).await.state, ReplayState::Running);
}

/// A replay resumed again and again without a step is failed after
/// `MAX_STALLS` resumes, and the replay queued behind it starts.
pub async fn a_replay_that_never_steps_fails_and_the_queued_one_starts(stores: Stores) {
    let stream = unique_stream("stalls");
    let (key, jobs) = (lane_of(&stream), stores.replay_jobs.as_ref());
    let stuck = trigger(&stores, "stuck", &scope(&stream, 0), 0)
        .await
        .covered_by;
    let queued = trigger(&stores, "queued", &scope(&stream, 0), 0)
        .await
        .covered_by;
    let mut now = at(0);
    for resume in 1..=MAX_STALLS {
        now += LEASE + chrono::Duration::seconds(1);
        let run = format!("run-{resume}");
        assert_eq!(
            jobs::resume_stalled(jobs, &key, now).await,
            Ok(Some(run_of(&stream, &stuck))),
            "resume {resume}"
        );
        // Each resumed run claims it and dies before its first step.
        assert!(matches!(
            jobs::claim(jobs, &key, &stuck, &run, now).await,
            Ok(Claim::Held(_))
        ));
    }
    now += LEASE + chrono::Duration::seconds(1);
    assert_eq!(
        jobs::resume_stalled(jobs, &key, now).await,
        Ok(Some(run_of(&stream, &queued))),
        "the queued replay starts in its place"
    );
    let failed = job(&stores, &stuck).await;
    assert_eq!(failed.state, ReplayState::Failed);
    assert!(
        failed
            .error
            .as_deref()
            .unwrap_or("")
            .contains("stopped making progress"),
        "{failed:?}"
    );
}
