//! End to end, the API's answers: the six steps of the original
//! walkthrough, the API key, bad input refused with nothing stored, and
//! pages that follow the cursor to the end.

use super::*;

pub(super) async fn originals_six_steps(mode: Mode) {
    let h = Harness::start(mode).await;
    let stream = DEFAULT_TEST_STREAM_ID;
    assert_eq!(h.append(stream, "ITEM_CREATED", "1", Some(225)).await, 0);
    let (status, body) = h.list(None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    h.eventually_lists(stream, &json!([{"itemId": "1", "amount": 225}]))
        .await;
    assert_eq!(
        h.append(stream, "ITEM_AMOUNT_CHANGED", "1", Some(500))
            .await,
        1
    );
    h.eventually_lists(stream, &json!([{"itemId": "1", "amount": 500}]))
        .await;
    assert_eq!(h.append(stream, "ITEM_DELETED", "1", None).await, 2);
    h.eventually_lists(stream, &json!([])).await;
    // Without ?streamId= the list is the test stream's.
    let (_, body) = h.list(None).await;
    assert_eq!(body, json!({ "items": [] }));
}

pub(super) async fn api_key_is_required(mode: Mode) {
    let h = Harness::start(mode).await;
    let body = event("s", "ITEM_CREATED", "1", Some(1)).to_string();
    for key in [None, Some("wrong-key-wrong-key-wrong-key")] {
        for (method, path) in [
            ("POST", "/addEvent"),
            ("GET", "/listTestItems"),
            ("POST", "/triggerReplay"),
        ] {
            let mut request = h
                .http
                .request(method.parse().unwrap(), format!("{}{path}", h.base))
                .body(body.clone());
            if let Some(key) = key {
                request = request.header("x-api-key", key);
            }
            let (status, answer) = h.send(request).await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{method} {path} with key {key:?}"
            );
            assert_eq!(answer, json!({ "message": "Forbidden" }));
        }
    }
    // Nothing was appended by the refused requests.
    assert_eq!(h.append("s", "ITEM_CREATED", "1", Some(1)).await, 0);
}

pub(super) async fn bad_input_is_refused_and_stores_nothing(mode: Mode) {
    let h = Harness::start(mode).await;
    let stream = unique_name("bad-input");
    let cases: Vec<(String, &str, Option<&str>)> = vec![
        ("{\"streamId\":".into(), "MALFORMED_JSON", None),
        ("not json".into(), "MALFORMED_JSON", None),
        ("[]".into(), "WRONG_TYPE", None),
        (json!({"streamId": stream, "type": "ITEM_EXPLODED", "data": {"itemId": "1"}}).to_string(), "UNKNOWN_EVENT_TYPE", Some("type")),
        (json!({"type": "ITEM_CREATED", "data": {"itemId": "1", "amount": 1}}).to_string(), "MISSING_FIELD", Some("streamId")),
        (json!({"streamId": stream, "type": "ITEM_CREATED", "data": {"amount": 1}}).to_string(), "MISSING_FIELD", Some("data.itemId")),
        (json!({"streamId": stream, "type": "ITEM_CREATED", "data": {"itemId": "1"}}).to_string(), "MISSING_FIELD", Some("data.amount")),
        (json!({"streamId": stream, "type": "ITEM_CREATED", "data": {"itemId": 1, "amount": 1}}).to_string(), "WRONG_TYPE", Some("data.itemId")),
        (json!({"streamId": stream, "type": "ITEM_CREATED", "data": {"itemId": "1", "amount": "1"}}).to_string(), "WRONG_TYPE", Some("data.amount")),
        (json!({"streamId": stream, "type": "ITEM_CREATED", "data": [1]}).to_string(), "WRONG_TYPE", Some("data")),
        (json!({"streamId": "", "type": "ITEM_CREATED", "data": {"itemId": "1", "amount": 1}}).to_string(), "INVALID_VALUE", Some("streamId")),
        (json!({"streamId": stream, "type": "ITEM_CREATED", "data": {"itemId": "", "amount": 1}}).to_string(), "INVALID_VALUE", Some("data.itemId")),
        (json!({"streamId": "x".repeat(257), "type": "ITEM_CREATED", "data": {"itemId": "1", "amount": 1}}).to_string(), "INVALID_VALUE", Some("streamId")),
        (json!({"streamId": stream, "type": "ITEM_CREATED", "data": {"itemId": "1", "amount": -1}}).to_string(), "INVALID_VALUE", Some("data.amount")),
        (json!({"streamId": stream, "type": "ITEM_CREATED", "data": {"itemId": "1", "amount": 9_007_199_254_740_992u64}}).to_string(), "INVALID_VALUE", Some("data.amount")),
        (json!({"streamId": stream, "type": "ITEM_CREATED", "data": {"itemId": "1", "amount": 2.5}}).to_string(), "WRONG_TYPE", Some("data.amount")),
        (json!({"streamId": stream, "type": "ITEM_CREATED", "data": {"itemId": "1", "amount": 1}, "extra": 1}).to_string(), "UNKNOWN_FIELD", Some("extra")),
        (json!({"streamId": stream, "type": "ITEM_CREATED", "data": {"itemId": "1", "amount": 1}, "expectedVersion": "0"}).to_string(), "WRONG_TYPE", Some("expectedVersion")),
    ];
    for (body, code, field) in cases {
        let (status, answer) = h.post_raw("/addEvent", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {answer}");
        assert_eq!(answer["error"]["code"], code, "{body} -> {answer}");
        assert_eq!(
            answer["error"]["field"].as_str(),
            field,
            "{body} -> {answer}"
        );
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    let huge = json!({"streamId": stream, "type": "ITEM_CREATED", "data": {"itemId": "1", "amount": 1, "note": "x".repeat(300 * 1024)}});
    let (status, answer) = h.post("/addEvent", &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(answer["error"]["code"], "PAYLOAD_TOO_LARGE");

    // Stream rules and optimistic concurrency: 409s.
    let (status, answer) = h
        .post(
            "/addEvent",
            &event(&stream, "ITEM_AMOUNT_CHANGED", "1", Some(5)),
        )
        .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("ITEM_NOT_FOUND"))
    );
    let (status, answer) = h
        .post("/addEvent", &event(&stream, "ITEM_DELETED", "1", None))
        .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("ITEM_NOT_FOUND"))
    );
    // Every refusal so far stored nothing: the first event is still id 0.
    assert_eq!(h.append(&stream, "ITEM_CREATED", "1", Some(1)).await, 0);
    let (status, answer) = h
        .post("/addEvent", &event(&stream, "ITEM_CREATED", "1", Some(2)))
        .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("ITEM_ALREADY_EXISTS"))
    );
    let mut stale = event(&stream, "ITEM_AMOUNT_CHANGED", "1", Some(3));
    stale["expectedVersion"] = json!(-1);
    let (status, answer) = h.post("/addEvent", &stale).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["error"]["code"], "VERSION_CONFLICT");
    assert_eq!(answer["error"]["currentVersion"], 0);
    stale["expectedVersion"] = json!(0);
    let (status, answer) = h.post("/addEvent", &stale).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["eventId"], 1);
    assert!(
        answer["timestamp"]
            .as_str()
            .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok())
    );
    h.eventually_lists(&stream, &json!([{"itemId": "1", "amount": 3}]))
        .await;

    // Bad replay requests and list parameters are 400s too.
    let (status, answer) = h
        .post(
            "/triggerReplay",
            &json!({"streamId": stream, "fromEventId": -1}),
        )
        .await;
    assert_eq!(
        (status, answer["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("fromEventId"))
    );
    let (status, answer) = h.list(Some("")).await;
    assert_eq!(
        (status, answer["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("streamId"))
    );
    let not_a_cursor = "not a cursor!";
    let cursor_of_empty_id = "";
    for (name, value) in [
        ("limit", "0"),
        ("limit", "1001"),
        ("limit", "-1"),
        ("limit", "ten"),
        ("limit", ""),
        ("cursor", not_a_cursor),
        ("cursor", cursor_of_empty_id),
    ] {
        let (status, answer) = h.list_with(&[("streamId", &stream), (name, value)]).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{name}={value:?}: {answer}"
        );
        assert_eq!(
            answer["error"]["field"].as_str(),
            Some(name),
            "{name}={value:?}: {answer}"
        );
        assert_eq!(answer["error"]["code"], "INVALID_VALUE", "{answer}");
    }
    // The same stream pages fine with good ones: one item, no next page.
    let (status, answer) = h.list_with(&[("streamId", &stream), ("limit", "1")]).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer, json!({ "items": [{"itemId": "1", "amount": 3}] }));
}

pub(super) async fn pages_follow_the_cursor_to_the_end(mode: Mode) {
    let h = Harness::start(mode).await;
    let stream = unique_name("pages");
    let mut expected = Vec::new();
    for i in 0..7u64 {
        let item = format!("p{i}");
        h.append(&stream, "ITEM_CREATED", &item, Some(i)).await;
        expected.push(json!({"itemId": item, "amount": i}));
    }
    // Seen live first: then the list without it can only mean its
    // deletion was projected, never that its creation was not yet.
    h.eventually_lists(&stream, &Value::Array(expected.clone()))
        .await;
    h.append(&stream, "ITEM_DELETED", "p6", None).await;
    expected.pop();
    h.eventually_lists(&stream, &Value::Array(expected.clone()))
        .await;
    let (mut seen, mut pages) = (Vec::new(), 0);
    let mut cursor: Option<String> = None;
    loop {
        pages += 1;
        let mut params = vec![("streamId", stream.as_str()), ("limit", "2")];
        if let Some(cursor) = &cursor {
            params.push(("cursor", cursor));
        }
        let (status, body) = h.list_with(&params).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let items = body["items"].as_array().expect("items").clone();
        assert!(items.len() <= 2, "{body}");
        seen.extend(items);
        match body.get("nextCursor") {
            Some(next) => cursor = Some(next.as_str().expect("a string cursor").to_owned()),
            None => break,
        }
    }
    // p0..p5 in pages of 2: exactly three pages, the last without a cursor
    // (p6, after p5, is a tombstone).
    assert_eq!(Value::Array(seen), Value::Array(expected));
    assert_eq!(pages, 3);
}
