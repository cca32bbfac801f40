//! End to end: the local server over real HTTP, in both storage modes
//! (embedded SQLite, and DynamoDB on the emulator with the stream follower).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use domain::{Amount, ApplyMode, EventId, ItemChange, ItemId, ItemState, ReadModel, StreamId};
use local::sqlite::SqliteStore;
use local::{LocalConfig, LocalServer, Storage};
use reqwest::StatusCode;
use serde_json::{Value, json};
use service::api::DEFAULT_TEST_STREAM_ID;
use service::dynamo::{DynamoStore, TableNames};
use testkit::unique_name;

const API_KEY: &str = "e2e-test-key-0123456789abcdef";

#[derive(Clone, Copy, Debug)]
enum Mode {
    Embedded,
    DynamoDb,
}

struct Harness {
    mode: Mode,
    config: LocalConfig,
    server: Option<LocalServer>,
    base: String,
    http: reqwest::Client,
    // Held so the data folder outlives the server.
    _data: tempfile::TempDir,
}

impl Harness {
    async fn start(mode: Mode) -> Self {
        let data = tempfile::tempdir().expect("a temporary folder");
        let storage = match mode {
            Mode::Embedded => Storage::Embedded {
                data_dir: data.path().to_path_buf(),
            },
            Mode::DynamoDb => Storage::DynamoDb {
                endpoint: testkit::moto::shared_endpoint().to_owned(),
                table_prefix: unique_name("e2e"),
            },
        };
        let config = LocalConfig {
            port: 0,
            storage,
            api_key: service::settings::ApiKey::new(API_KEY),
            default_stream: StreamId::parse(DEFAULT_TEST_STREAM_ID, "streamId").unwrap(),
        };
        let server = LocalServer::start(config.clone())
            .await
            .expect("the local server starts");
        Harness {
            mode,
            base: server.url(),
            config,
            server: Some(server),
            http: reqwest::Client::new(),
            _data: data,
        }
    }

    /// Stops the server and starts it again on the same data.
    async fn restart(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await.expect("a clean stop");
        }
        let server = LocalServer::start(self.config.clone())
            .await
            .expect("the server restarts");
        self.base = server.url();
        self.server = Some(server);
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let text = response.text().await.expect("a body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.post_raw(path, body.to_string()).await
    }

    async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> (StatusCode, Value) {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("x-api-key", API_KEY)
            .header("content-type", "application/json")
            .body(body);
        self.send(request).await
    }

    async fn list(&self, stream: Option<&str>) -> (StatusCode, Value) {
        let params: Vec<(&str, &str)> = stream.map(|s| ("streamId", s)).into_iter().collect();
        self.list_with(&params).await
    }

    /// `GET /listTestItems` with these query parameters.
    async fn list_with(&self, params: &[(&str, &str)]) -> (StatusCode, Value) {
        let request = self
            .http
            .get(format!("{}/listTestItems", self.base))
            .header("x-api-key", API_KEY)
            .query(params);
        self.send(request).await
    }

    /// Appends and returns the new event id; panics unless 201.
    async fn append(&self, stream: &str, kind: &str, item: &str, amount: Option<u64>) -> u64 {
        let (status, body) = self
            .post("/addEvent", &event(stream, kind, item, amount))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["eventId"].as_u64().expect("an eventId")
    }

    /// Polls the read model (bounded) until it shows `expected`.
    async fn eventually_lists(&self, stream: &str, expected: &Value) {
        let limit = match self.mode {
            Mode::Embedded => Duration::from_secs(15),
            Mode::DynamoDb => Duration::from_secs(45),
        };
        let started = Instant::now();
        loop {
            let (status, body) = self.list(Some(stream)).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            if body["items"] == *expected {
                return;
            }
            assert!(
                started.elapsed() < limit,
                "read model of {stream} still {body} after {limit:?}, expected {expected}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `GET /replayStatus`, with `?replayId=` when given.
    async fn replay_status(&self, replay_id: Option<&str>) -> (StatusCode, Value) {
        let params: Vec<(&str, &str)> = replay_id.map(|id| ("replayId", id)).into_iter().collect();
        let request = self
            .http
            .get(format!("{}/replayStatus", self.base))
            .header("x-api-key", API_KEY)
            .query(&params);
        self.send(request).await
    }

    /// `POST /triggerReplay`; panics unless 202; the replay's id.
    async fn trigger_replay(&self, stream: &str, from: u64) -> String {
        let (status, answer) = self
            .post(
                "/triggerReplay",
                &json!({"streamId": stream, "fromEventId": from}),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        let id = answer["replayId"].as_str().expect("a replayId");
        assert!(!id.is_empty(), "{answer}");
        id.to_owned()
    }

    /// Polls `GET /replayStatus` (bounded) until the replay is done; its
    /// last status.
    async fn eventually_done(&self, replay_id: &str) -> Value {
        let limit = match self.mode {
            Mode::Embedded => Duration::from_secs(15),
            Mode::DynamoDb => Duration::from_secs(45),
        };
        let started = Instant::now();
        loop {
            let (status, body) = self.replay_status(Some(replay_id)).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["replayId"], replay_id, "{body}");
            match body["state"].as_str() {
                Some("done") => return body,
                Some("queued" | "running") => {}
                _ => panic!("replay {replay_id} is not on its way to done: {body}"),
            }
            assert!(
                started.elapsed() < limit,
                "replay {replay_id} still {body} after {limit:?}, expected it done"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A second handle on the server's read model, to damage it on purpose.
    async fn read_model(&self) -> Box<dyn ReadModel> {
        match &self.config.storage {
            Storage::Embedded { data_dir } => Box::new(
                SqliteStore::open(&data_dir.join("events.sqlite3")).expect("the store opens"),
            ),
            Storage::DynamoDb {
                endpoint,
                table_prefix,
            } => {
                let sdk = service::aws::sdk_config_for_endpoint(endpoint).await;
                Box::new(DynamoStore::new(
                    aws_sdk_dynamodb::Client::new(&sdk),
                    TableNames::with_prefix(table_prefix),
                ))
            }
        }
    }

    async fn corrupt(&self, stream: &str, item: &str, version: u64, amount: u64) {
        let change = ItemChange {
            stream_id: StreamId::parse(stream, "streamId").unwrap(),
            item_id: ItemId::parse(item, "itemId").unwrap(),
            version: EventId::new(version),
            state: ItemState::Live {
                amount: Amount::new(amount).unwrap(),
            },
            recorded_at: chrono::Utc::now(),
        };
        let outcomes = self
            .read_model()
            .await
            .apply(&[change], ApplyMode::Replay)
            .await;
        assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    }
}

fn event(stream: &str, kind: &str, item: &str, amount: Option<u64>) -> Value {
    let mut data = json!({ "itemId": item });
    if let Some(amount) = amount {
        data["amount"] = json!(amount);
    }
    json!({ "streamId": stream, "type": kind, "data": data })
}

/// The expected read model: the fold of the events the server accepted.
#[derive(Default)]
struct Expected {
    log: BTreeMap<u64, (String, Option<u64>)>,
}

impl Expected {
    fn record(&mut self, event_id: u64, item: &str, amount: Option<u64>) {
        self.log.insert(event_id, (item.to_owned(), amount));
    }

    fn items(&self) -> Value {
        let mut items: BTreeMap<&str, u64> = BTreeMap::new();
        for (item, amount) in self.log.values() {
            match amount {
                Some(amount) => items.insert(item, *amount),
                None => items.remove(item.as_str()),
            };
        }
        Value::Array(
            items
                .into_iter()
                .map(|(item, amount)| json!({ "itemId": item, "amount": amount }))
                .collect(),
        )
    }
}

async fn originals_six_steps(mode: Mode) {
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

async fn api_key_is_required(mode: Mode) {
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

async fn bad_input_is_refused_and_stores_nothing(mode: Mode) {
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

async fn pages_follow_the_cursor_to_the_end(mode: Mode) {
    let h = Harness::start(mode).await;
    let stream = unique_name("pages");
    let mut expected = Vec::new();
    for i in 0..7u64 {
        let item = format!("p{i}");
        h.append(&stream, "ITEM_CREATED", &item, Some(i)).await;
        expected.push(json!({"itemId": item, "amount": i}));
    }
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

/// Appends as a client should under contention: with an Idempotency-Key,
/// and again after a 503's `Retry-After` until the 201; the new event id.
async fn append_retrying(h: &Harness, stream: &str, item: &str, amount: u64) -> u64 {
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

async fn concurrent_appends_get_contiguous_ids(mode: Mode) {
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
async fn post_keyed(h: &Harness, keys: &[&str], body: &str) -> (StatusCode, Value) {
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

async fn a_retry_with_its_idempotency_key_stores_one_event(mode: Mode) {
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

async fn replays_converge_to_the_fold_while_appends_continue(mode: Mode) {
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

async fn replay_status_follows_triggered_replays_to_done(mode: Mode) {
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

async fn a_restart_loses_nothing_and_catches_up(mode: Mode) {
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

macro_rules! in_both_modes {
    ($($scenario:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $scenario() {
                    super::$scenario(super::Mode::Embedded).await
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $scenario() {
                    super::$scenario(super::Mode::DynamoDb).await
                }
            )*
        }
    };
}

in_both_modes!(
    originals_six_steps,
    api_key_is_required,
    bad_input_is_refused_and_stores_nothing,
    pages_follow_the_cursor_to_the_end,
    concurrent_appends_get_contiguous_ids,
    a_retry_with_its_idempotency_key_stores_one_event,
    replays_converge_to_the_fold_while_appends_continue,
    replay_status_follows_triggered_replays_to_done,
    a_restart_loses_nothing_and_catches_up,
);
