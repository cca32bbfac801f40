//! The cases of the sweep's list of held lanes and of a rebuild taking
//! streams' lanes for its children.

use domain::jobs::{self, LEASE};
use domain::{
    Claim, Finished, LaneKey, Lent, RebuildProgress, ReplayRequest, ReplayScope, ReplayState,
    RunProgress,
};

use super::jobs::{job, lane_of, run_of, scope, stepped, trigger};
use super::support::*;

/// The sweep's list: the lanes with a running replay, in key order, paged.
pub async fn held_lanes_list_the_lanes_with_a_running_replay(stores: Stores) {
    let prefix = unique_stream("held").as_str().to_owned();
    let named = |suffix: &str| StreamId::parse(format!("{prefix}-{suffix}"), "streamId").unwrap();
    let (a, b, c, free) = (named("a"), named("b"), named("c"), named("free"));
    let jobs = stores.replay_jobs.as_ref();
    for stream in [&c, &a, &b, &free] {
        trigger(&stores, "held", &scope(stream, 0), 0).await;
    }
    let freed = stores
        .replay_jobs
        .lane(&lane_of(&free))
        .await
        .unwrap()
        .unwrap();
    let replay = freed.lane.running.unwrap().replay_id;
    let free_lane = lane_of(&free);
    let ended = jobs::finish(jobs, &free_lane, &replay, None, Err("no".into()), at(1));
    assert_eq!(ended.await, Ok(Finished::Ended { next: None }));

    let start = LaneKey::Stream(StreamId::parse(prefix.as_str(), "streamId").unwrap());
    let mut after = Some(start);
    let mut listed = Vec::new();
    'pages: loop {
        let page = jobs
            .held_lanes(after.as_ref(), 2)
            .await
            .expect("held lanes");
        assert!(page.len() <= 2);
        for key in &page {
            if !key.as_key().starts_with(&prefix) {
                break 'pages;
            }
            listed.push(key.clone());
        }
        match page.last() {
            Some(last) => after = Some(last.clone()),
            None => break,
        }
    }
    assert_eq!(listed, [lane_of(&a), lane_of(&b), lane_of(&c)]);
}

/// A rebuild takes a free stream's lane for its child (and takes it again
/// after its run dies); a stream held by another replay gets a replay from
/// 0 queued behind it instead. A lent lane found stalled resumes the
/// rebuild.
pub async fn a_rebuild_borrows_free_streams_and_queues_behind_busy_ones(stores: Stores) {
    let (free, busy) = (unique_stream("lend-free"), unique_stream("lend-busy"));
    let jobs = stores.replay_jobs.as_ref();
    let rebuild = trigger(&stores, "rebuild", &ReplayScope::AllStreams, 0)
        .await
        .covered_by;
    assert!(matches!(
        jobs::claim(jobs, &LaneKey::AllStreams, &rebuild, "rebuild-run", at(0)).await,
        Ok(Claim::Held(_))
    ));
    let mut progress = RebuildProgress::default();
    let child = progress.take_up(&rebuild, free.clone());
    let lent = jobs::lend(
        jobs,
        &free,
        &child.replay_id,
        &rebuild,
        "rebuild-run",
        at(1),
    )
    .await
    .unwrap();
    let Lent::Held(held) = lent else {
        panic!("a free lane is lent: {lent:?}");
    };
    assert_eq!(held.parent.as_deref(), Some(rebuild.as_str()));
    let child_job = job(&stores, &child.replay_id).await;
    assert_eq!(
        (child_job.state, child_job.parent.as_deref()),
        (ReplayState::Running, Some(rebuild.as_str()))
    );
    // A trigger of the stream waits for the child.
    assert_eq!(
        trigger(&stores, "waits", &scope(&free, 0), 1).await.start,
        None
    );
    // Once both leases ran out, the stalled child resumes the rebuild,
    // whose next run takes the child over.
    let later = at(1) + LEASE + chrono::Duration::seconds(1);
    let resumed = jobs::resume_stalled(jobs, &lane_of(&free), later).await;
    assert_eq!(
        resumed,
        Ok(Some(ReplayRequest {
            replay_id: rebuild.clone(),
            lane: LaneKey::AllStreams,
        }))
    );
    assert!(matches!(
        jobs::lend(jobs, &free, &child.replay_id, &rebuild, "next-run", later).await,
        Ok(Lent::Held(_))
    ));
    let free_lane = lane_of(&free);
    let woke = jobs::report(
        jobs,
        &free_lane,
        &child.replay_id,
        "rebuild-run",
        RunProgress::Stream(stepped(&free, 1)),
        later,
    );
    assert_eq!(
        woke.await,
        Ok(false),
        "the earlier run stops at its next report"
    );

    let holder = trigger(&stores, "holder", &scope(&busy, 0), 0)
        .await
        .covered_by;
    let mut later_progress = progress.clone();
    later_progress.child_ended(Ok(0));
    let second = later_progress.take_up(&rebuild, busy.clone());
    let lent = jobs::lend(jobs, &busy, &second.replay_id, &rebuild, "next-run", later).await;
    let Ok(Lent::Queued { covered_by, start }) = lent else {
        panic!("a held lane queues: {lent:?}");
    };
    assert_eq!(
        start,
        Some(run_of(&busy, &holder)),
        "its holder never ran: it is resumed on the way"
    );
    let queued = job(&stores, &covered_by).await;
    assert_eq!(
        (queued.state, queued.scope.clone()),
        (ReplayState::Queued, scope(&busy, 0))
    );
}
