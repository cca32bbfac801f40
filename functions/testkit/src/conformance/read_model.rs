//! The cases every `ReadModel` must pass: version-guarded writes, tombstones,
//! listing order, and convergence of projection and replay to the fold.

use super::support::*;
/// A projection write lands only over an older row; outcomes keep order.
pub async fn projection_writes_newer_changes_and_supersedes_same_or_older(stores: Stores) {
    let s = unique_stream("projection");
    let p = ApplyMode::Projection;
    assert_eq!(apply(&stores, &[], p).await, NO_OUTCOMES);
    assert_eq!(apply(&stores, &[live(&s, "a", 3, 5)], p).await, [Written]);
    assert_eq!(listed(&stores, &s).await, items(&[("a", 5)]));
    assert_eq!(
        apply(&stores, &[live(&s, "a", 3, 7)], p).await,
        [Superseded]
    );
    assert_eq!(
        apply(&stores, &[live(&s, "a", 1, 9)], p).await,
        [Superseded]
    );
    assert_eq!(listed(&stores, &s).await, items(&[("a", 5)]));
    assert_eq!(apply(&stores, &[live(&s, "a", 4, 10)], p).await, [Written]);
    assert_eq!(listed(&stores, &s).await, items(&[("a", 10)]));
    let batch = [
        live(&s, "b", 0, 1),
        live(&s, "a", 2, 99),
        live(&s, "c", 5, 2),
    ];
    assert_eq!(
        apply(&stores, &batch, p).await,
        [Written, Superseded, Written]
    );
    assert_eq!(
        listed(&stores, &s).await,
        items(&[("a", 10), ("b", 1), ("c", 2)])
    );
}

/// Deletes leave a tombstone that older changes cannot overwrite.
pub async fn a_late_older_change_does_not_undo_a_delete(stores: Stores) {
    let s = unique_stream("tombstone");
    let p = ApplyMode::Projection;
    assert_eq!(
        apply(&stores, &[live(&s, "a", 0, 1), live(&s, "b", 1, 2)], p).await,
        [Written, Written]
    );
    assert_eq!(apply(&stores, &[gone(&s, "a", 2)], p).await, [Written]);
    assert_eq!(listed(&stores, &s).await, items(&[("b", 2)]));
    assert_eq!(
        apply(&stores, &[live(&s, "a", 1, 7)], p).await,
        [Superseded]
    );
    assert_eq!(
        apply(&stores, &[live(&s, "a", 1, 7)], ApplyMode::Replay).await,
        [Superseded]
    );
    assert_eq!(
        apply(&stores, &[live(&s, "a", 2, 7)], p).await,
        [Superseded]
    );
    assert_eq!(listed(&stores, &s).await, items(&[("b", 2)]));
    // A delete of an item the read model never saw is kept as well.
    assert_eq!(apply(&stores, &[gone(&s, "c", 4)], p).await, [Written]);
    assert_eq!(
        apply(&stores, &[live(&s, "c", 3, 1)], p).await,
        [Superseded]
    );
    // A newer creation brings the item back.
    assert_eq!(apply(&stores, &[live(&s, "a", 5, 8)], p).await, [Written]);
    assert_eq!(listed(&stores, &s).await, items(&[("a", 8), ("b", 2)]));
}

/// Replay writes over a row of the same version, never over a newer one.
pub async fn replay_mode_rewrites_the_same_version_but_not_an_older_one(stores: Stores) {
    let s = unique_stream("replay-mode");
    let r = ApplyMode::Replay;
    assert_eq!(
        apply(&stores, &[live(&s, "a", 2, 5)], ApplyMode::Projection).await,
        [Written]
    );
    assert_eq!(apply(&stores, &[live(&s, "a", 2, 6)], r).await, [Written]);
    assert_eq!(listed(&stores, &s).await, items(&[("a", 6)]));
    assert_eq!(
        apply(&stores, &[live(&s, "a", 1, 7)], r).await,
        [Superseded]
    );
    assert_eq!(listed(&stores, &s).await, items(&[("a", 6)]));
    assert_eq!(apply(&stores, &[gone(&s, "a", 2)], r).await, [Written]);
    assert_eq!(listed(&stores, &s).await, NO_ITEMS);
    assert_eq!(
        apply(&stores, &[live(&s, "a", 2, 9)], ApplyMode::Projection).await,
        [Superseded]
    );
    assert_eq!(apply(&stores, &[live(&s, "a", 2, 9)], r).await, [Written]);
    assert_eq!(
        apply(&stores, &[live(&s, "b", 0, 1), live(&s, "a", 3, 4)], r).await,
        [Written, Written]
    );
    assert_eq!(listed(&stores, &s).await, items(&[("a", 4), ("b", 1)]));
}

/// `list`: live items only, in the byte order of their UTF-8 ids (Rust's
/// `String` order), not case-folded, not UTF-16, not numeric.
pub async fn list_is_sorted_by_byte_order_and_excludes_tombstones(stores: Stores) {
    let s = unique_stream("sorted");
    let names = ["b", "a", "B", "10", "9", "a b", "～", "😀", "é", "z", "ab"];
    let changes: Vec<ItemChange> = names
        .iter()
        .enumerate()
        .map(|(i, id)| live(&s, id, i as u64, i as u64))
        .collect();
    apply(&stores, &changes, ApplyMode::Projection).await;
    apply(
        &stores,
        &[gone(&s, "z", 20), gone(&s, "9", 21)],
        ApplyMode::Projection,
    )
    .await;
    let mut expected: Vec<(ItemId, Amount)> = names
        .iter()
        .enumerate()
        .filter(|(_, id)| !["z", "9"].contains(id))
        .map(|(i, id)| (item(id), amount(i as u64)))
        .collect();
    expected.sort();
    assert_eq!(listed(&stores, &s).await, expected);
    assert_eq!(expected[0].0.as_str(), "10", "byte order puts digits first");

    let only_tombstones = unique_stream("only-tombstones");
    apply(
        &stores,
        &[gone(&only_tombstones, "x", 1)],
        ApplyMode::Projection,
    )
    .await;
    assert_eq!(listed(&stores, &only_tombstones).await, NO_ITEMS);
    assert_eq!(listed(&stores, &unique_stream("empty")).await, NO_ITEMS);
}

/// `clear` forgets a stream's rows (tombstones included) and nothing else.
pub async fn clear_forgets_one_stream_only(stores: Stores) {
    let (s1, s2) = (unique_stream("clear-1"), unique_stream("clear-2"));
    let p = ApplyMode::Projection;
    apply(
        &stores,
        &[
            live(&s1, "a", 3, 1),
            gone(&s1, "b", 5),
            live(&s2, "a", 4, 2),
        ],
        p,
    )
    .await;
    stores.read_model.clear(&s1).await.expect("clear");
    assert_eq!(listed(&stores, &s1).await, NO_ITEMS);
    assert_eq!(listed(&stores, &s2).await, items(&[("a", 2)]));
    // Nothing is remembered: older versions land again.
    assert_eq!(
        apply(&stores, &[live(&s1, "a", 0, 7), live(&s1, "b", 0, 8)], p).await,
        [Written, Written]
    );
    assert_eq!(listed(&stores, &s1).await, items(&[("a", 7), ("b", 8)]));
    stores
        .read_model
        .clear(&unique_stream("clear-unknown"))
        .await
        .expect("clearing an unknown stream");
    assert_eq!(listed(&stores, &s2).await, items(&[("a", 2)]));
}

/// At-least-once delivery: however the log's changes are batched, repeated
/// and reordered, the read model ends equal to the fold.
pub async fn repeated_split_and_reordered_batches_converge_to_the_fold(stores: Stores) {
    let s = unique_stream("converge");
    let log = append_mixed_log(&stores, &s).await;
    let p = ApplyMode::Projection;
    let half = log.len() / 2;
    apply(&stores, &coalesce(&log[half..]), p).await;
    apply(&stores, &coalesce(&log[..half]), p).await;
    apply(&stores, &coalesce(&log[2..half + 3]), p).await;
    apply(&stores, &coalesce(&log[half..]), p).await;
    for event in log.iter().rev() {
        apply(&stores, &coalesce([event]), p).await;
    }
    assert_eq!(listed(&stores, &s).await, StreamFold::of(&log).items());
    for outcome in apply(&stores, &coalesce(&log), p).await {
        assert_eq!(outcome, Superseded, "a full repeat changes nothing");
    }
}

/// A log that creates, changes, deletes and recreates items.
async fn append_mixed_log(stores: &Stores, s: &StreamId) -> Vec<RecordedEvent> {
    let commands = [
        created(s, "a", 1),
        created(s, "b", 2),
        created(s, "f", 6),
        created(s, "c", 3),
        changed(s, "a", 10),
        deleted(s, "b"),
        created(s, "d", 4),
        changed(s, "c", 30),
        created(s, "b", 20),
        deleted(s, "d"),
        changed(s, "a", 100),
        created(s, "e", 5),
        deleted(s, "c"),
        changed(s, "b", 200),
    ];
    let mut log = Vec::new();
    for (n, command) in commands.into_iter().enumerate() {
        log.push(append(stores, command, n as i64).await);
    }
    assert_eq!(
        StreamFold::of(&log).items(),
        items(&[("a", 100), ("b", 200), ("e", 5), ("f", 6)])
    );
    log
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
    ];
    apply(&stores, &wrong, ApplyMode::Projection).await;
    let target = ReplayTarget {
        stream_id: s.clone(),
        from_event_id: EventId::FIRST,
    };
    let report = replay::run(&*stores.events, &*stores.read_model, &target)
        .await
        .expect("replay");
    assert_eq!(report.events_read, log.len() as u64);
    assert_eq!(listed(&stores, &s).await, StreamFold::of(&log).items());
    // Replaying again changes nothing.
    replay::run(&*stores.events, &*stores.read_model, &target)
        .await
        .expect("second replay");
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
    let target = ReplayTarget {
        stream_id: s.clone(),
        from_event_id: EventId::new(k),
    };
    let report = replay::run(&*stores.events, &*stores.read_model, &target)
        .await
        .expect("replay");
    assert_eq!(report.events_read, log.len() as u64 - k);
    assert_eq!(listed(&stores, &s).await, StreamFold::of(&log).items());
}
