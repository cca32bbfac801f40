//! Local mode at size: 100,000 items listed page by page over HTTP, a
//! replay of a 20,000-event stream under a reader that never sees a short
//! list, a replay killed mid-way that resumes from its saved progress, and
//! a starting server taking up the replays it finds left over.
//!
//! Stores are seeded through the ports, directly (not over HTTP, which
//! would take minutes), before a server opens the same data folder.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{TimeDelta, Utc};
use domain::limits::TOMBSTONE_RETENTION_SECS;
use domain::replay::ReplayPhase;
use domain::{
    Amount, AppendCommand, ApplyMode, ApplyOutcome, Checkpoints, DomainEvent, EventId, EventStore,
    ItemChange, ItemId, ItemState, LaneKey, ReadModel, RecordedEvent, ReplayJobs, ReplayScope,
    ReplayState, ReplayTarget, StoreError, StreamFold, StreamId, coalesce, jobs,
};
use local::replay_tasks::{LocalDispatcher, LocalReplays};
use local::sqlite::SqliteStore;
use local::{LocalConfig, LocalServer, Storage};
use reqwest::StatusCode;
use serde_json::{Value, json};
use service::api::DEFAULT_TEST_STREAM_ID;
use service::replay_runs::ReplayDispatcher;
use testkit::unique_name;
use tokio::sync::Notify;

mod listing;
mod replays;

const API_KEY: &str = "at-size-test-key-0123456789abcdef";

fn stream(label: &str) -> StreamId {
    StreamId::parse(unique_name(label), "streamId").expect("a stream id")
}

fn item(id: &str) -> ItemId {
    ItemId::parse(id, "itemId").expect("an item id")
}

fn amount(n: u64) -> Amount {
    Amount::new(n).expect("an amount")
}

/// The database a server on `data_dir` opens.
fn store_in(data_dir: &Path) -> SqliteStore {
    SqliteStore::open(&data_dir.join("events.sqlite3")).expect("the store opens")
}

async fn start_server(data_dir: &Path) -> LocalServer {
    LocalServer::start(LocalConfig {
        port: 0,
        storage: Storage::Embedded {
            data_dir: data_dir.to_path_buf(),
        },
        api_key: service::settings::ApiKey::new(API_KEY),
        default_stream: StreamId::parse(DEFAULT_TEST_STREAM_ID, "streamId").expect("stream"),
    })
    .await
    .expect("the local server starts")
}

/// Applies `changes` in batches of `batch`, checking every one was written.
async fn apply_all(store: &SqliteStore, changes: &[ItemChange], batch: usize) {
    for chunk in changes.chunks(batch) {
        for outcome in store.apply(chunk, ApplyMode::Projection).await {
            assert_eq!(outcome, Ok(ApplyOutcome::Written));
        }
    }
}

/// One page of `GET /listTestItems`: its items, its cursor, its size.
struct HttpPage {
    items: Vec<(String, u64)>,
    next_cursor: Option<String>,
    body_bytes: usize,
}

async fn get_page(
    http: &reqwest::Client,
    server: &LocalServer,
    stream: &StreamId,
    cursor: Option<&str>,
) -> HttpPage {
    let mut params = vec![("streamId", stream.as_str())];
    if let Some(cursor) = cursor {
        params.push(("cursor", cursor));
    }
    let response = http
        .get(format!("{}/listTestItems", server.url()))
        .header("x-api-key", API_KEY)
        .query(&params)
        .send()
        .await
        .expect("the server answers");
    let status = response.status();
    let text = response.text().await.expect("a body");
    assert_eq!(status, StatusCode::OK, "{text}");
    let body: Value = serde_json::from_str(&text).expect("a JSON body");
    let items = body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|view| {
            (
                view["itemId"].as_str().expect("an itemId").to_owned(),
                view["amount"].as_u64().expect("an amount"),
            )
        })
        .collect();
    let next_cursor = body
        .get("nextCursor")
        .map(|cursor| cursor.as_str().expect("a string cursor").to_owned());
    HttpPage {
        items,
        next_cursor,
        body_bytes: text.len(),
    }
}

/// A whole stream over HTTP with the default page size: its items and how
/// many pages they took.
async fn list_over_http(
    http: &reqwest::Client,
    server: &LocalServer,
    stream: &StreamId,
) -> (Vec<(String, u64)>, usize) {
    let (mut all, mut pages) = (Vec::new(), 0);
    let mut cursor: Option<String> = None;
    loop {
        let page = get_page(http, server, stream, cursor.as_deref()).await;
        pages += 1;
        all.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return (all, pages),
        }
    }
}
