//! The cases of `EventStore::append` with an idempotency key: a repeat
//! stores nothing and answers the first event, another request under the
//! key is refused, concurrent repeats append once, a key lasts a day.

use super::support::*;

/// A client that lost the answer retries with its key: it gets the first
/// event again, even where the request alone would now be refused.
pub async fn a_repeat_with_its_key_answers_the_first_event_and_stores_nothing(stores: Stores) {
    let s = unique_stream("idempotent-repeat");
    let create = keyed(created(&s, "a", 1), &unique_key("create"));
    let first = append(&stores, create.clone(), 0).await;
    let change = append(&stores, changed(&s, "a", 2), 1).await;
    // Without its key this would be ITEM_ALREADY_EXISTS.
    let again = try_append(&*stores.events, &create, at(2)).await;
    assert_eq!(
        again,
        Ok(first.clone()),
        "the first event, its time included"
    );

    let expecting_1 = keyed(expecting(changed(&s, "a", 3), 1), &unique_key("expect"));
    let third = append(&stores, expecting_1.clone(), 3).await;
    // Without its key this would be VERSION_CONFLICT: the stream is at 2.
    let again = try_append(&*stores.events, &expecting_1, at(4)).await;
    assert_eq!(again, Ok(third.clone()));

    assert_eq!(read_all(&stores, &s).await, [first, change, third]);
}

/// One key, one request: another body under a used key is refused, on
/// any stream, and stores nothing.
pub async fn a_key_sent_with_another_request_is_refused_and_stores_nothing(stores: Stores) {
    let s = unique_stream("idempotent-reuse");
    let other_stream = unique_stream("idempotent-reuse-other");
    let key = unique_key("reuse");
    let first = append(&stores, keyed(created(&s, "a", 1), &key), 0).await;
    for (n, other) in (1..).zip([
        created(&s, "a", 2),
        created(&s, "b", 1),
        expecting(created(&s, "a", 1), 0),
        created(&other_stream, "a", 1),
    ]) {
        let refused = try_append(&*stores.events, &keyed(other.clone(), &key), at(n)).await;
        assert_eq!(
            refused,
            Err(AppendError::Rejected(Rejection::IdempotencyKeyReused {
                key: key.clone()
            })),
            "{other:?}"
        );
    }
    assert_eq!(read_all(&stores, &s).await, [first]);
    assert_eq!(read_all(&stores, &other_stream).await, NO_EVENTS);
}

/// Retries that overlap the first request append one event and all
/// answer it.
pub async fn concurrent_requests_with_one_key_append_one_event(stores: Stores) {
    let s = unique_stream("idempotent-race");
    let request = keyed(created(&s, "a", 1), &unique_key("race"));
    let (appended, rejected) = race(&stores, vec![request; 8]).await;
    assert_eq!(rejected, []);
    assert_eq!(appended.len(), 8);
    assert!(
        appended.iter().all(|event| *event == appended[0]),
        "every answer is the one event: {appended:?}"
    );
    assert_eq!(read_all(&stores, &s).await, [appended[0].clone()]);
}

/// A refused request leaves its key unused: the same request, once the
/// stream allows it, is appended.
pub async fn a_refused_append_leaves_its_key_unused(stores: Stores) {
    let s = unique_stream("idempotent-refused");
    let change = keyed(changed(&s, "a", 5), &unique_key("refused"));
    let refused = try_append(&*stores.events, &change, at(0)).await;
    assert!(
        matches!(
            refused,
            Err(AppendError::Rejected(Rejection::ItemNotFound { .. }))
        ),
        "{refused:?}"
    );
    let create = append(&stores, created(&s, "a", 1), 1).await;
    let changed = append(&stores, change.clone(), 2).await;
    assert_eq!(changed.event_id, EventId::new(1));
    assert_eq!(
        try_append(&*stores.events, &change, at(3)).await,
        Ok(changed.clone())
    );
    assert_eq!(read_all(&stores, &s).await, [create, changed]);
}

/// A key answers its request for a day; after that it is free for a new
/// request, which it then names.
pub async fn a_key_is_forgotten_a_day_after_its_append(stores: Stores) {
    let s = unique_stream("idempotent-expiry");
    let key = unique_key("expiry");
    let day_and_two_hours_ago = Utc::now() - chrono::Duration::hours(26);
    let first_request = keyed(created(&s, "a", 1), &key);
    let first = try_append(&*stores.events, &first_request, day_and_two_hours_ago)
        .await
        .expect("the first append");
    let within_the_day = day_and_two_hours_ago + chrono::Duration::hours(23);
    assert_eq!(
        try_append(&*stores.events, &first_request, within_the_day).await,
        Ok(first.clone())
    );

    let next_request = keyed(created(&s, "b", 1), &key);
    let next = append(&stores, next_request.clone(), 1).await;
    assert_eq!(next.event_id, EventId::new(1));
    assert_eq!(
        try_append(&*stores.events, &next_request, at(2)).await,
        Ok(next.clone())
    );
    assert_eq!(
        try_append(&*stores.events, &first_request, at(3)).await,
        Err(AppendError::Rejected(Rejection::IdempotencyKeyReused {
            key: key.clone()
        }))
    );
    assert_eq!(read_all(&stores, &s).await, [first, next]);
}

async fn read_all(stores: &Stores, stream: &StreamId) -> Vec<RecordedEvent> {
    stores
        .events
        .read_stream(stream, EventId::FIRST, 1000)
        .await
        .expect("read_stream")
}
