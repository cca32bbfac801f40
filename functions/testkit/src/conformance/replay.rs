//! The cases a replay must pass over any pair of adapters: it ends equal to
//! the fold, never shows a reader a missing or intermediate item, resumes
//! from saved progress, and does not undo the live projection.

use domain::replay::{ReplayPhase, ReplayProgress, step};

use super::support::*;

fn target(s: &StreamId, from: u64) -> ReplayTarget {
    ReplayTarget {
        stream_id: s.clone(),
        from_event_id: EventId::new(from),
    }
}

async fn run(stores: &Stores, target: &ReplayTarget) -> ReplayProgress {
    replay::run(&*stores.events, &*stores.read_model, target)
        .await
        .expect("replay")
}

/// Replay from 0 rebuilds the read model from nothing, whatever it held.
pub async fn replay_from_zero_over_a_corrupted_read_model_equals_the_fold(stores: Stores) {
    let s = unique_stream("replay-zero");
    let log = append_mixed_log(&stores, &s).await;
    let wrong = [
        live(&s, "a", 100, 1),  // a wrong amount claiming a future version
        gone(&s, "b", 100),     // a live item deleted
        live(&s, "c", 100, 3),  // a deleted item live
        live(&s, "zz", 100, 9), // an item the log never had
        live(&s, "e", 0, 50),   // an older version than the item's first
    ];
    apply(&stores, &wrong, ApplyMode::Projection).await;
    let report = run(&stores, &target(&s, 0)).await;
    assert!(report.is_done());
    assert_eq!(report.events_applied, log.len() as u64);
    assert_eq!(report.rows_removed, 4, "every row claiming version 100");
    assert_eq!(listed(&stores, &s).await, StreamFold::of(&log).items());
    // Replaying again changes nothing.
    let again = run(&stores, &target(&s, 0)).await;
    assert_eq!(again.rows_removed, 0);
    assert_eq!(listed(&stores, &s).await, StreamFold::of(&log).items());
}

/// Replay from k sets every item touched since k to its latest event's state,
/// even over rows claiming that version, and leaves older items alone.
pub async fn replay_from_k_repairs_the_items_touched_since_k(stores: Stores) {
    let s = unique_stream("replay-k");
    let log = append_mixed_log(&stores, &s).await;
    // The projection lost the events of "e"; "f" is only touched before k.
    let projected: Vec<ItemChange> = coalesce(&log)
        .into_iter()
        .filter(|change| change.item_id != item("e"))
        .collect();
    apply(&stores, &projected, ApplyMode::Projection).await;
    let k = 8; // events 8.. touch b, d, a, e, c
    assert!(
        log[k as usize..]
            .iter()
            .all(|e| e.event.item_id() != &item("f"))
    );
    let latest = |id: &str| {
        log.iter()
            .rev()
            .find(|e| e.event.item_id().as_str() == id)
            .map(|e| e.event_id.get())
            .expect("the item is in the log")
    };
    let wrong = [
        live(&s, "a", latest("a"), 1), // right version, wrong amount
        gone(&s, "b", latest("b")),    // right version, wrongly deleted
        live(&s, "c", latest("c"), 3), // right version, wrongly live
    ];
    apply(&stores, &wrong, ApplyMode::Replay).await;
    assert_ne!(listed(&stores, &s).await, StreamFold::of(&log).items());
    let report = run(&stores, &target(&s, k)).await;
    assert_eq!(report.events_applied, log.len() as u64 - k);
    assert_eq!(report.rows_removed, 0, "only a replay from 0 sweeps");
    assert_eq!(listed(&stores, &s).await, StreamFold::of(&log).items());
}

/// After every step of a replay, a reader sees every item whose state the
/// replay is not changing, with its right amount, and no state the fold
/// does not hold: the read model is never blanked, never partial.
pub async fn a_replay_never_shows_a_reader_a_missing_or_intermediate_item(stores: Stores) {
    let s = unique_stream("replay-visible");
    let log = append_mixed_log(&stores, &s).await;
    let fold = StreamFold::of(&log).items();
    apply(&stores, &coalesce(&log), ApplyMode::Projection).await;
    // One row the log never had: the only thing the replay may change.
    apply(&stores, &[live(&s, "zz", 3, 9)], ApplyMode::Projection).await;
    for from in [0, 5] {
        let target = target(&s, from);
        let mut progress = ReplayProgress::start(&target);
        let mut steps = 0;
        while !progress.is_done() {
            progress = step(&*stores.events, &*stores.read_model, &target, &progress, 2)
                .await
                .expect("step");
            steps += 1;
            let seen: Vec<(ItemId, Amount)> = listed(&stores, &s)
                .await
                .into_iter()
                .filter(|(id, _)| id.as_str() != "zz")
                .collect();
            assert_eq!(seen, fold, "after step {steps} of the replay from {from}");
        }
        assert!(steps > 3, "small pages take several steps");
    }
    assert_eq!(
        listed(&stores, &s).await,
        fold,
        "zz is swept by the replay from 0"
    );
}

/// Progress saved after any step (here, through its JSON form) lets a new
/// run carry on where the old one stopped, without starting over.
pub async fn a_replay_resumes_from_its_saved_progress(stores: Stores) {
    let s = unique_stream("replay-resume");
    let log = append_mixed_log(&stores, &s).await;
    // Projected, so that the sweep too takes several steps of 3 rows.
    apply(&stores, &coalesce(&log), ApplyMode::Projection).await;
    apply(
        &stores,
        &[live(&s, "zz", 3, 9), gone(&s, "a", 100)],
        ApplyMode::Projection,
    )
    .await;
    let target = target(&s, 0);
    let mut progress = ReplayProgress::start(&target);
    let mut saved = Vec::new();
    while !progress.is_done() {
        progress = step(&*stores.events, &*stores.read_model, &target, &progress, 3)
            .await
            .expect("step");
        saved.push(serde_json::to_string(&progress).expect("progress as JSON"));
        // A process killed here starts again from what it saved.
        progress = serde_json::from_str(saved.last().expect("saved")).expect("saved progress");
    }
    assert!(
        saved.iter().any(|p| p.contains(r#""phase":"sweep""#))
            && saved.iter().any(|p| p.contains(r#""phase":"apply""#)),
        "{saved:?}"
    );
    assert_eq!(progress.events_applied, log.len() as u64, "each event once");
    assert_eq!(progress.rows_removed, 2);
    assert_eq!(listed(&stores, &s).await, StreamFold::of(&log).items());

    // A step repeated from the same saved progress (a crash after the
    // writes, before the save) leaves the same read model.
    let mid: ReplayProgress = serde_json::from_str(&saved[saved.len() / 2]).expect("saved");
    assert!(matches!(
        mid.phase,
        ReplayPhase::Apply { .. } | ReplayPhase::Sweep { .. }
    ));
    let mut again = mid;
    while !again.is_done() {
        again = step(&*stores.events, &*stores.read_model, &target, &again, 3)
            .await
            .expect("step");
    }
    assert_eq!(listed(&stores, &s).await, StreamFold::of(&log).items());
}

/// Events appended and projected while a replay runs survive it, and the
/// replay's end state equals the fold of the whole log.
pub async fn a_replay_and_the_live_projection_do_not_undo_each_other(stores: Stores) {
    let s = unique_stream("replay-live");
    let mut log = append_mixed_log(&stores, &s).await;
    apply(&stores, &coalesce(&log), ApplyMode::Projection).await;
    let target = target(&s, 0);
    let mut progress = ReplayProgress::start(&target);
    let mut appended = false;
    while !progress.is_done() {
        progress = step(&*stores.events, &*stores.read_model, &target, &progress, 2)
            .await
            .expect("step");
        if !appended && matches!(progress.phase, ReplayPhase::Apply { next } if next.get() >= 4) {
            // Mid-replay: new events, projected at once.
            let n = log.len() as i64;
            let fresh = vec![
                append(&stores, changed(&s, "a", 7), n).await,
                append(&stores, deleted(&s, "f"), n + 1).await,
                append(&stores, created(&s, "g", 70), n + 2).await,
            ];
            apply(&stores, &coalesce(&fresh), ApplyMode::Projection).await;
            log.extend(fresh);
            appended = true;
        }
    }
    assert!(appended);
    assert_eq!(listed(&stores, &s).await, StreamFold::of(&log).items());
}
