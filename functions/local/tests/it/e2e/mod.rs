//! End to end: the local server over real HTTP, in both storage modes
//! (embedded SQLite, and DynamoDB on the emulator with the stream follower):
//! requests, appends, replays, and reading the log (`log.rs`).

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

mod appends;
mod log;
mod replays;
mod requests;

use appends::*;
use log::*;
use replays::*;
use requests::*;

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
    the_log_reads_in_pages_both_ways_with_its_metadata,
    reads_of_the_log_refuse_what_they_cannot_serve,
    api_key_is_required,
    bad_input_is_refused_and_stores_nothing,
    pages_follow_the_cursor_to_the_end,
    concurrent_appends_get_contiguous_ids,
    a_retry_with_its_idempotency_key_stores_one_event,
    replays_converge_to_the_fold_while_appends_continue,
    replay_status_follows_triggered_replays_to_done,
    a_restart_loses_nothing_and_catches_up,
);
