//! The cases every `EventStore` must pass: contiguous ids, the stream
//! rules, optimistic concurrency under contention, ids at their limits.

use super::support::*;
/// Ids 0, 1, 2, ... and a read returns exactly what was appended.
pub async fn appends_get_contiguous_ids_and_read_back_intact(stores: Stores) {
    let s = unique_stream("contiguous");
    let max = domain::MAX_AMOUNT;
    let appended = vec![
        append(&stores, created(&s, "a", 1), 0).await,
        append(&stores, created(&s, "b", max), 1).await,
        append(&stores, changed(&s, "a", 0), 2).await,
        append(&stores, deleted(&s, "b"), 3).await,
    ];
    assert_eq!(ids(&appended), [0, 1, 2, 3]);
    let read = stores
        .events
        .read_stream(&s, EventId::FIRST, 100)
        .await
        .expect("read_stream");
    assert_eq!(read, appended, "data and timestamps must round-trip");
    assert_eq!(
        read[1].event.data(),
        serde_json::json!({"itemId": "b", "amount": max})
    );
    assert_eq!(read[3].timestamp(), format_timestamp(at(3)));

    let unknown = unique_stream("never-written");
    let none = stores
        .events
        .read_stream(&unknown, EventId::FIRST, 10)
        .await;
    assert_eq!(none, Ok(Vec::new()));
}

/// `read_stream` starts at `from` and returns at most `limit` events.
pub async fn read_stream_pages_from_an_id_with_a_limit(stores: Stores) {
    let s = unique_stream("paging");
    let mut appended = Vec::new();
    for i in 0..7 {
        appended.push(append(&stores, created(&s, &format!("i{i}"), i), i as i64).await);
    }
    let read = |from: u64, limit: usize| {
        let (events, s) = (stores.events.clone(), s.clone());
        async move {
            events
                .read_stream(&s, EventId::new(from), limit)
                .await
                .expect("read_stream")
        }
    };
    assert_eq!(read(3, 100).await, appended[3..]);
    assert_eq!(read(0, 2).await, appended[..2]);
    assert_eq!(read(5, 1).await, appended[5..6]);
    assert_eq!(read(6, 10).await, appended[6..]);
    assert_eq!(read(7, 10).await, NO_EVENTS);
    assert_eq!(read(1000, 10).await, NO_EVENTS);
    let mut paged = Vec::new();
    loop {
        let next = paged.len() as u64;
        let page = read(next, 3).await;
        assert!(page.len() <= 3, "a page is never over the limit");
        if page.is_empty() {
            break;
        }
        paged.extend(page);
    }
    assert_eq!(paged, appended);
}

/// `ITEM_CREATED` of a live item: `ItemAlreadyExists`, nothing stored.
pub async fn creating_a_live_item_again_is_rejected_and_stores_nothing(stores: Stores) {
    let s = unique_stream("create-twice");
    let first = append(&stores, created(&s, "a", 1), 0).await;
    assert_eq!(
        rejection(&stores, created(&s, "a", 2)).await,
        Rejection::ItemAlreadyExists { item_id: item("a") }
    );
    // A matching expected version does not make it acceptable.
    assert_eq!(
        rejection(&stores, expecting(created(&s, "a", 3), 0)).await,
        Rejection::ItemAlreadyExists { item_id: item("a") }
    );
    assert_eq!(read_all(&stores, &s).await, [first]);
    // The rejected attempts used no id.
    assert_eq!(
        append(&stores, changed(&s, "a", 4), 1).await.event_id.get(),
        1
    );
}

/// Change or delete of an item that never existed or is deleted:
/// `ItemNotFound`, nothing stored.
pub async fn changing_or_deleting_an_absent_item_is_rejected_and_stores_nothing(stores: Stores) {
    let s = unique_stream("absent");
    let not_found = |event_type| Rejection::ItemNotFound {
        item_id: item("x"),
        event_type,
    };
    // Both refusals, for an item absent from the stream at this point.
    let both_refused = || async {
        assert_eq!(
            rejection(&stores, changed(&s, "x", 1)).await,
            not_found(EventType::ItemAmountChanged)
        );
        assert_eq!(
            rejection(&stores, deleted(&s, "x")).await,
            not_found(EventType::ItemDeleted)
        );
    };
    both_refused().await;
    assert_eq!(read_all(&stores, &s).await, NO_EVENTS);
    // The stream is still new: version -1.
    let first = append(&stores, expecting(created(&s, "x", 1), -1), 0).await;
    assert_eq!(first.event_id, EventId::FIRST);
    let second = append(&stores, deleted(&s, "x"), 1).await;
    both_refused().await;
    assert_eq!(read_all(&stores, &s).await, [first, second]);
}

/// Deletion ends an item's life; `ITEM_CREATED` starts a new one.
pub async fn an_item_can_be_created_again_after_its_deletion(stores: Stores) {
    let s = unique_stream("recreate");
    append(&stores, created(&s, "a", 1), 0).await;
    append(&stores, deleted(&s, "a"), 1).await;
    let again = append(&stores, created(&s, "a", 5), 2).await;
    assert_eq!(again.event_id.get(), 2);
    append(&stores, changed(&s, "a", 6), 3).await;
    let log = read_all(&stores, &s).await;
    assert_eq!(ids(&log), [0, 1, 2, 3]);
    assert_eq!(StreamFold::of(&log).items(), items(&[("a", 6)]));
}

/// Every event type, after every two events of its item, is accepted or
/// refused as `decide` does on the fold of the same log: what a store
/// keeps of an item's life follows `DomainEvent::item_state_after` for
/// each type, whatever the backend.
pub async fn every_event_type_after_any_two_is_decided_as_the_domain_decides(stores: Stores) {
    let types = EventType::ALL;
    let histories = types.iter().flat_map(|first| {
        types
            .iter()
            .flat_map(move |second| types.map(|third| [*first, *second, third]))
    });
    for history in histories {
        let s = unique_stream("every-type");
        let mut log = Vec::new();
        for (n, event_type) in history.into_iter().enumerate() {
            let command = command(&s, event_of(event_type, item("a"), amount(n as u64)));
            let domain = decide(&StreamFold::of(&log).decision_state(&item("a")), &command);
            let store = try_append(&*stores.events, &command, at(n as i64)).await;
            match (domain, store) {
                (Ok(event_id), Ok(recorded)) => {
                    assert_eq!(recorded.event_id, event_id, "{history:?}, step {n}");
                    log.push(recorded);
                }
                (Err(expected), Err(AppendError::Rejected(refused))) => {
                    assert_eq!(refused, expected, "{history:?}, step {n}");
                }
                (domain, store) => {
                    panic!("{history:?}, step {n}: the domain says {domain:?}, the store {store:?}")
                }
            }
        }
        assert_eq!(read_all(&stores, &s).await, log, "{history:?}");
    }
}

/// `expectedVersion` must equal the stream's version (-1 when new).
pub async fn a_stale_expected_version_is_rejected_with_the_current_version(stores: Stores) {
    let s = unique_stream("expected-version");
    assert_eq!(
        rejection(&stores, expecting(created(&s, "a", 1), 0)).await,
        Rejection::VersionConflict {
            expected: version(0),
            current: Version::EMPTY
        }
    );
    assert_eq!(read_all(&stores, &s).await, NO_EVENTS);
    let e0 = append(&stores, expecting(created(&s, "a", 1), -1), 0).await;
    assert_eq!(e0.event_id.get(), 0);
    assert_eq!(
        rejection(&stores, expecting(created(&s, "b", 1), -1)).await,
        Rejection::VersionConflict {
            expected: Version::EMPTY,
            current: version(0)
        }
    );
    let e1 = append(&stores, expecting(created(&s, "b", 2), 0), 1).await;
    assert_eq!(e1.event_id.get(), 1);
    for stale in [0, 2, 7] {
        assert_eq!(
            rejection(&stores, expecting(changed(&s, "a", 9), stale)).await,
            Rejection::VersionConflict {
                expected: version(stale),
                current: version(1)
            }
        );
    }
    // Without an expected version, the append goes after whatever is there.
    let e2 = append(&stores, changed(&s, "a", 3), 2).await;
    assert_eq!(read_all(&stores, &s).await, [e0, e1, e2]);
}

/// 50 concurrent appends to one stream: ids exactly 0..=49.
pub async fn concurrent_appends_get_unique_contiguous_ids(stores: Stores) {
    let s = unique_stream("concurrent");
    let commands = (0..50u64)
        .map(|i| created(&s, &format!("item-{i}"), i))
        .collect();
    let (appended, rejected) = race(&stores, commands).await;
    assert_eq!(rejected, [], "distinct items are never refused");
    assert_eq!(ids(&appended), (0..50).collect::<Vec<_>>());
    let log = read_all(&stores, &s).await;
    assert_eq!(log, appended, "the log holds what each append returned");
    let mut seen: Vec<&ItemId> = log.iter().map(|e| e.event.item_id()).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 50, "every item once");
}

/// The stream rules hold under a race: one creation of an item wins.
pub async fn concurrent_creates_of_one_item_admit_exactly_one(stores: Stores) {
    let s = unique_stream("create-race");
    let commands = (0..20).map(|i| created(&s, "only", i)).collect();
    let (winners, rejected) = race(&stores, commands).await;
    for rejection in rejected {
        assert_eq!(
            rejection,
            Rejection::ItemAlreadyExists {
                item_id: item("only")
            }
        );
    }
    assert_eq!(winners.len(), 1, "exactly one creation wins");
    assert_eq!(read_all(&stores, &s).await, winners);
}

/// Optimistic concurrency under a race: one append per expected version.
pub async fn concurrent_appends_expecting_one_version_admit_exactly_one(stores: Stores) {
    let s = unique_stream("version-race");
    let first = append(&stores, created(&s, "seed", 1), 0).await;
    let commands = (0..20)
        .map(|i| expecting(created(&s, &format!("racer-{i}"), i), 0))
        .collect();
    let (winners, rejected) = race(&stores, commands).await;
    for rejection in rejected {
        assert_eq!(
            rejection,
            Rejection::VersionConflict {
                expected: version(0),
                current: version(1)
            }
        );
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one append expecting version 0 wins"
    );
    assert_eq!(winners[0].event_id.get(), 1);
    let mut expected = vec![first];
    expected.extend(winners);
    assert_eq!(read_all(&stores, &s).await, expected);
}

/// Ids, versions and item liveness are per stream.
pub async fn streams_are_independent(stores: Stores) {
    let (s1, s2) = (
        unique_stream("independent-1"),
        unique_stream("independent-2"),
    );
    let commands = [
        created(&s1, "a", 1),
        created(&s2, "a", 2),
        changed(&s2, "a", 3),
        deleted(&s1, "a"),
        created(&s1, "b", 4),
    ];
    let mut event_ids = Vec::new();
    for (n, command) in (0..).zip(commands) {
        event_ids.push(append(&stores, command, n).await.event_id.get());
    }
    assert_eq!(event_ids, [0, 0, 1, 1, 2]);
    // "a" is deleted in s1 though live in s2, and the reverse for "b".
    assert!(matches!(
        rejection(&stores, changed(&s1, "a", 5)).await,
        Rejection::ItemNotFound { .. }
    ));
    assert!(matches!(
        rejection(&stores, deleted(&s2, "b")).await,
        Rejection::ItemNotFound { .. }
    ));
    assert!(matches!(
        rejection(&stores, expecting(created(&s2, "c", 1), 2)).await,
        Rejection::VersionConflict { current, .. } if current == version(1)
    ));
    let (log1, log2) = (read_all(&stores, &s1).await, read_all(&stores, &s2).await);
    assert_eq!(ids(&log1), [0, 1, 2]);
    assert_eq!(ids(&log2), [0, 1]);
    assert!(log1.iter().all(|e| e.stream_id == s1));
    assert!(log2.iter().all(|e| e.stream_id == s2));
    assert_eq!(StreamFold::of(&log1).items(), items(&[("b", 4)]));
    assert_eq!(StreamFold::of(&log2).items(), items(&[("a", 3)]));
}

/// Ids of any characters, up to 256 of them and 1,000 bytes, are stored,
/// listed and paged through exactly, on every adapter alike.
pub async fn unicode_and_maximum_length_ids_round_trip(stores: Stores) {
    let mut stream = format!("{}-ünï🦀-", unique_name("unicode"));
    while stream.chars().count() < domain::MAX_STRING_CHARS {
        stream.push('é');
    }
    let s = StreamId::parse(stream, "streamId").expect("a 256-character stream id");
    let long_item: String = "ж".repeat(domain::MAX_STRING_CHARS);
    // The largest id in bytes: 250 four-byte characters, 1,000 bytes.
    let widest_item: String = "🦀".repeat(domain::MAX_ID_BYTES / 4);
    assert_eq!(widest_item.len(), domain::MAX_ID_BYTES);
    let names = [
        long_item.as_str(),
        widest_item.as_str(),
        "ключ-🦀",
        "quote\"back\\slash\nnewline",
        "e\u{301}",
        "é",
    ];
    let mut appended = Vec::new();
    for (i, id) in names.iter().enumerate() {
        appended.push(append(&stores, created(&s, id, i as u64), i as i64).await);
    }
    let log = read_all(&stores, &s).await;
    assert_eq!(log, appended);
    assert_eq!(log[0].event.item_id().as_str().chars().count(), 256);
    // "e" + combining accent and the precomposed "é" are distinct items.
    assert!(matches!(
        rejection(&stores, created(&s, "é", 9)).await,
        Rejection::ItemAlreadyExists { .. }
    ));
    for outcome in apply(&stores, &coalesce(&log), ApplyMode::Projection).await {
        assert_eq!(outcome, Written);
    }
    assert_eq!(listed(&stores, &s).await, StreamFold::of(&log).items());
}

/// `latest_event_ids`: per item asked, the id of its last event in the
/// stream (a deletion counts), `None` for an item the stream never named;
/// other streams do not leak in.
pub async fn latest_event_ids_name_each_items_last_event(stores: Stores) {
    let (s, other) = (unique_stream("latest"), unique_stream("latest-other"));
    append(&stores, created(&s, "a", 1), 0).await;
    append(&stores, created(&s, "b", 2), 1).await;
    append(&stores, changed(&s, "a", 3), 2).await;
    append(&stores, deleted(&s, "b"), 3).await;
    append(&stores, created(&other, "c", 4), 4).await;
    let asked = [item("b"), item("zz"), item("a"), item("c"), item("a")];
    let latest = stores
        .events
        .latest_event_ids(&s, &asked)
        .await
        .expect("latest_event_ids");
    let expected = [Some(3), None, Some(2), None, Some(2)].map(|id| id.map(EventId::new));
    assert_eq!(latest, expected);
    let none = stores
        .events
        .latest_event_ids(&s, &[])
        .await
        .expect("no items");
    assert!(none.is_empty());
    // More than one batch of a backend's multi-get.
    let many: Vec<ItemId> = (0..250)
        .map(|i| item(&format!("m{i}")))
        .chain([item("a")])
        .collect();
    let latest = stores
        .events
        .latest_event_ids(&s, &many)
        .await
        .expect("many items");
    assert_eq!(latest.len(), many.len());
    assert_eq!(latest[250], Some(EventId::new(2)));
    assert!(latest[..250].iter().all(Option::is_none));
}
