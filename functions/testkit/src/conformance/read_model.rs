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

/// Keyset paging: a page holds at most `limit` live items after the
/// cursor's item, says exactly whether more follow, skips tombstones however
/// many there are, and stays correct while items come and go between pages.
pub async fn list_pages_by_item_id_after_the_cursor_and_skips_tombstones(stores: Stores) {
    let s = unique_stream("paging");
    let p = ApplyMode::Projection;
    // Items i00..i19; every third one deleted, so pages straddle tombstones.
    let changes: Vec<ItemChange> = (0..20u64)
        .map(|i| match i % 3 {
            0 => gone(&s, &format!("i{i:02}"), i),
            _ => live(&s, &format!("i{i:02}"), i, i),
        })
        .collect();
    apply(&stores, &changes, p).await;
    let fold: Vec<(ItemId, Amount)> = (0..20u64)
        .filter(|i| i % 3 != 0)
        .map(|i| (item(&format!("i{i:02}")), amount(i)))
        .collect();
    assert_eq!(listed(&stores, &s).await, fold);

    let page = |after: Option<&str>, limit: usize| {
        let query = ListQuery {
            stream_id: s.clone(),
            after: after.map(item),
            limit: PageSize::new(limit).expect("a page size"),
        };
        let read_model = stores.read_model.clone();
        async move { read_model.list(&query).await.expect("list") }
    };
    let first = page(None, 4).await;
    let ids = |page: &domain::ItemPage| -> Vec<String> {
        page.items.iter().map(|v| v.item_id.to_string()).collect()
    };
    assert_eq!(ids(&first), ["i01", "i02", "i04", "i05"]);
    assert!(first.more);
    assert_eq!(
        first.next_cursor().map(|c| c.item_id().to_string()),
        Some("i05".to_owned())
    );
    // A cursor on a tombstone or on an id that was never stored works too.
    assert_eq!(ids(&page(Some("i06"), 2).await), ["i07", "i08"]);
    assert_eq!(ids(&page(Some("i06a"), 2).await), ["i07", "i08"]);
    // The last page: exactly full, then nothing more.
    let last = page(Some("i16"), 2).await;
    assert_eq!(ids(&last), ["i17", "i19"]);
    assert!(!last.more, "i18 is a tombstone: nothing live follows i19");
    assert_eq!(last.next_cursor(), None);
    assert_eq!(page(Some("i19"), 5).await, domain::ItemPage::default());

    // Writes between pages: what sorts after the cursor shows up, what
    // sorts before it does not come back, a deleted one disappears.
    apply(
        &stores,
        &[
            live(&s, "i00a", 30, 300),
            live(&s, "i05a", 31, 310),
            gone(&s, "i07", 32),
        ],
        p,
    )
    .await;
    let next = page(Some("i05"), 3).await;
    assert_eq!(ids(&next), ["i05a", "i08", "i10"]);
    assert!(next.more);
    // A page of the most items a page may hold, over a stream that has fewer.
    let whole = page(None, domain::MAX_PAGE_ITEMS).await;
    assert_eq!(whole.items.len(), fold.len() + 2 - 1);
    assert!(!whole.more);
}

/// `rows` shows every stored row, tombstones included, with the version
/// that set it, in item id order and in pages after an id.
pub async fn rows_show_tombstones_and_versions_in_item_order(stores: Stores) {
    let s = unique_stream("rows");
    let other = unique_stream("rows-other");
    apply(
        &stores,
        &[
            live(&s, "b", 4, 40),
            gone(&s, "a", 7),
            live(&s, "c", 2, 20),
            live(&other, "a", 1, 1),
        ],
        ApplyMode::Projection,
    )
    .await;
    let expected = vec![
        StoredItem {
            item_id: item("a"),
            version: EventId::new(7),
            state: ItemState::Deleted,
        },
        StoredItem {
            item_id: item("b"),
            version: EventId::new(4),
            state: ItemState::Live { amount: amount(40) },
        },
        StoredItem {
            item_id: item("c"),
            version: EventId::new(2),
            state: ItemState::Live { amount: amount(20) },
        },
    ];
    assert_eq!(all_rows(&stores, &s).await, expected);
    let after_a = stores
        .read_model
        .rows(&s, Some(&item("a")), 1)
        .await
        .expect("rows");
    assert_eq!(after_a, expected[1..2]);
    let none: Vec<StoredItem> = Vec::new();
    assert_eq!(all_rows(&stores, &unique_stream("rows-empty")).await, none);
}

/// `remove` takes a row only while it still has the version read, so a
/// newer concurrent write survives; other items and streams are untouched.
pub async fn remove_takes_a_row_only_at_the_version_read(stores: Stores) {
    let (s, other) = (unique_stream("remove"), unique_stream("remove-other"));
    let p = ApplyMode::Projection;
    apply(
        &stores,
        &[
            live(&s, "a", 3, 1),
            gone(&s, "b", 5),
            live(&s, "c", 6, 6),
            live(&other, "a", 3, 2),
        ],
        p,
    )
    .await;
    let remove = |stream: &StreamId, id: &str, v: u64| {
        let (read_model, stream, id) = (stores.read_model.clone(), stream.clone(), item(id));
        async move {
            read_model
                .remove(&stream, &id, EventId::new(v))
                .await
                .expect("remove")
        }
    };
    assert!(!remove(&s, "a", 2).await, "an older version read");
    assert!(!remove(&s, "a", 4).await, "a newer version read");
    assert!(!remove(&s, "zz", 3).await, "no such row");
    assert_eq!(listed(&stores, &s).await, items(&[("a", 1), ("c", 6)]));
    assert!(remove(&s, "a", 3).await);
    assert!(remove(&s, "b", 5).await, "a tombstone");
    assert_eq!(listed(&stores, &s).await, items(&[("c", 6)]));
    assert_eq!(all_rows(&stores, &s).await.len(), 1);
    assert_eq!(listed(&stores, &other).await, items(&[("a", 2)]));
    // With the tombstone gone, the row is free for any version again.
    assert_eq!(apply(&stores, &[live(&s, "b", 0, 8)], p).await, [Written]);
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
