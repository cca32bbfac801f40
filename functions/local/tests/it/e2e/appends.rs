//! End to end, appends: contiguous ids under contention, one event per
//! Idempotency-Key however often it is sent, and nothing lost across a
//! restart.

use super::*;

/// Appends as a client should under contention: with an Idempotency-Key,
/// and again after a 503's `Retry-After` until the 201; the new event id.
pub(super) async fn append_retrying(h: &Harness, stream: &str, item: &str, amount: u64) -> u64 {
    let body = event(stream, "ITEM_CREATED", item, Some(amount)).to_string();
    let key = unique_name("retrying");
    for _ in 0..20 {
        let response = h
            .http
            .post(format!("{}/addEvent", h.base))
            .header("x-api-key", API_KEY)
            .header("content-type", "application/json")
            .header("Idempotency-Key", &key)
            .body(body.clone())
            .send()
            .await
            .expect("the server answers");
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
        let answer: Value = response.json().await.expect("a JSON answer");
        match status {
            StatusCode::CREATED => return answer["eventId"].as_u64().expect("an eventId"),
            StatusCode::SERVICE_UNAVAILABLE => {
                let wait = retry_after.expect("a 503 says when to retry");
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
            other => panic!("append {item}: {other} {answer}"),
        }
    }
    panic!("append {item}: still 503 after 20 tries");
}

pub(super) async fn concurrent_appends_get_contiguous_ids(mode: Mode) {
    let h = std::sync::Arc::new(Harness::start(mode).await);
    let stream = unique_name("concurrent");
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let h = h.clone();
            let stream = stream.clone();
            tokio::spawn(
                async move { append_retrying(&h, &stream, &format!("item-{i:02}"), i).await },
            )
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.expect("the append task"));
    }
    ids.sort_unstable();
    assert_eq!(ids, (0..50).collect::<Vec<u64>>());
    let expected: Vec<Value> = (0..50u64)
        .map(|i| json!({"itemId": format!("item-{i:02}"), "amount": i}))
        .collect();
    h.eventually_lists(&stream, &Value::Array(expected)).await;
}

/// `POST /addEvent` with `Idempotency-Key` headers (each value given).
pub(super) async fn post_keyed(h: &Harness, keys: &[&str], body: &str) -> (StatusCode, Value) {
    let mut request = h
        .http
        .post(format!("{}/addEvent", h.base))
        .header("x-api-key", API_KEY)
        .header("content-type", "application/json")
        .body(body.to_owned());
    for key in keys {
        request = request.header("Idempotency-Key", *key);
    }
    h.send(request).await
}

pub(super) async fn a_retry_with_its_idempotency_key_stores_one_event(mode: Mode) {
    let h = std::sync::Arc::new(Harness::start(mode).await);
    let stream = unique_name("idempotent");
    let key = unique_name("key");
    let body = format!(
        r#"{{"streamId":"{stream}","type":"ITEM_CREATED","data":{{"itemId":"a","amount":5}}}}"#
    );
    let (status, first) = post_keyed(&h, &[&key], &body).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    // The same request, spaced and ordered otherwise, and at once from 8
    // clients: the first answer each time, and no event stored.
    let same = format!(
        r#"{{ "data": {{ "amount": 5, "itemId": "a" }}, "type": "ITEM_CREATED", "streamId": "{stream}" }}"#
    );
    let retries: Vec<_> = (0..8)
        .map(|_| {
            let (h, key, same) = (h.clone(), key.clone(), same.clone());
            tokio::spawn(async move { post_keyed(&h, &[&key], &same).await })
        })
        .collect();
    for retry in retries {
        assert_eq!(
            retry.await.expect("the retry task"),
            (StatusCode::CREATED, first.clone())
        );
    }
    // Another request under the key: 422, naming the header.
    let other = format!(
        r#"{{"streamId":"{stream}","type":"ITEM_AMOUNT_CHANGED","data":{{"itemId":"a","amount":6}}}}"#
    );
    let (status, refused) = post_keyed(&h, &[&key], &other).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["code"], "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(refused["error"]["field"], "Idempotency-Key");
    // A malformed key, or two: 400, naming the header.
    let too_long = "k".repeat(129);
    for keys in [&[too_long.as_str()] as &[&str], &["one", "two"]] {
        let (status, refused) = post_keyed(&h, keys, &other).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{keys:?}: {refused}");
        assert_eq!(refused["error"]["field"], "Idempotency-Key");
    }
    // Nothing of the above was stored: the next event is 1.
    assert_eq!(
        h.append(&stream, "ITEM_AMOUNT_CHANGED", "a", Some(7)).await,
        1
    );
    h.eventually_lists(&stream, &json!([{"itemId": "a", "amount": 7}]))
        .await;
}

pub(super) async fn a_restart_loses_nothing_and_catches_up(mode: Mode) {
    let mut h = Harness::start(mode).await;
    let stream = unique_name("restart");
    for i in 0..5u64 {
        assert_eq!(
            h.append(&stream, "ITEM_CREATED", &format!("r{i}"), Some(i))
                .await,
            i
        );
    }
    h.restart().await;
    assert_eq!(h.append(&stream, "ITEM_DELETED", "r0", None).await, 5);
    let expected: Vec<Value> = (1..5u64)
        .map(|i| json!({"itemId": format!("r{i}"), "amount": i}))
        .collect();
    h.eventually_lists(&stream, &Value::Array(expected)).await;
}
