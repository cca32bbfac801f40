//! End to end, replays: they converge to the fold while appends go on,
//! and replay status follows them to the end.

use super::*;

pub(super) async fn replays_converge_to_the_fold_while_appends_continue(mode: Mode) {
    let h = std::sync::Arc::new(Harness::start(mode).await);
    let stream = unique_name("replay");
    let mut expected = Expected::default();
    for i in 0..10u64 {
        let item = format!("i{i}");
        expected.record(
            h.append(&stream, "ITEM_CREATED", &item, Some(i)).await,
            &item,
            Some(i),
        );
    }
    h.eventually_lists(&stream, &expected.items()).await;

    // Damage the read model: a wrong amount at a real version, and an item
    // the log never had. Only a replay can mend these.
    h.corrupt(&stream, "i3", 3, 999).await;
    h.corrupt(&stream, "ghost", 5, 1).await;

    let writer = {
        let h = h.clone();
        let stream = stream.clone();
        tokio::spawn(async move {
            let mut written = Vec::new();
            for round in 0..20u64 {
                let item = format!("i{}", round % 10);
                let (kind, amount) = if round % 7 == 6 {
                    ("ITEM_DELETED", None)
                } else {
                    ("ITEM_AMOUNT_CHANGED", Some(100 + round))
                };
                let (status, body) = h
                    .post("/addEvent", &event(&stream, kind, &item, amount))
                    .await;
                if status == StatusCode::CREATED {
                    written.push((body["eventId"].as_u64().unwrap(), item, amount));
                } else {
                    // A delete made the item absent; create it again.
                    assert_eq!(status, StatusCode::CONFLICT, "{body}");
                    let id = h.append(&stream, "ITEM_CREATED", &item, Some(round)).await;
                    written.push((id, item, Some(round)));
                }
            }
            written
        })
    };
    let (status, answer) = h
        .post(
            "/triggerReplay",
            &json!({"streamId": stream, "fromEventId": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["fromEventId"], 0);
    assert!(answer["replayId"].as_str().is_some_and(|id| !id.is_empty()));
    let (status, _) = h
        .post(
            "/triggerReplay",
            &json!({"streamId": stream, "fromEventId": 4}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    for (id, item, amount) in writer.await.expect("the writer task") {
        expected.record(id, &item, amount);
    }
    h.eventually_lists(&stream, &expected.items()).await;

    // From k: damage an item whose latest event is at or after k.
    let last = *expected.log.keys().last().unwrap();
    let (item, amount) = expected.log[&last].clone();
    if amount.is_some() {
        h.corrupt(&stream, &item, last, 31_337).await;
        let (status, _) = h
            .post(
                "/triggerReplay",
                &json!({"streamId": stream, "fromEventId": last}),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        h.eventually_lists(&stream, &expected.items()).await;
    }
}

pub(super) async fn replay_status_follows_triggered_replays_to_done(mode: Mode) {
    let h = Harness::start(mode).await;
    let stream = unique_name("status");
    for i in 0..12u64 {
        h.append(&stream, "ITEM_CREATED", &format!("s{i:02}"), Some(i))
            .await;
    }
    let events = h.append(&stream, "ITEM_DELETED", "s00", None).await + 1;

    // Two in a row: the second comes while the first runs (or just after
    // it ended); either way it is accepted as a replay of its own.
    let first = h.trigger_replay(&stream, 0).await;
    let second = h.trigger_replay(&stream, 0).await;
    assert_ne!(first, second);
    for id in [&first, &second] {
        let done = h.eventually_done(id).await;
        assert_eq!(done["eventsApplied"], events, "{done}");
        assert_eq!(done["streamId"], stream.as_str(), "{done}");
        assert_eq!(done["fromEventId"], 0, "{done}");
        assert!(done.get("error").is_none(), "{done}");
    }
    let expected: Vec<Value> = (1..12u64)
        .map(|i| json!({"itemId": format!("s{i:02}"), "amount": i}))
        .collect();
    h.eventually_lists(&stream, &Value::Array(expected)).await;

    // From k, it applies the events from k on.
    let from_k = h.trigger_replay(&stream, 10).await;
    assert_eq!(
        h.eventually_done(&from_k).await["eventsApplied"],
        events - 10
    );

    let (status, body) = h.replay_status(Some("no-such-replay")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.to_string().contains("REPLAY_NOT_FOUND"), "{body}");
    let (status, body) = h.replay_status(None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("replayId"), "{body}");
}
