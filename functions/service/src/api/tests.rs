//! The handlers over the in-memory store: listing pages, bad queries,
//! every route reaching its handler, and triggers queueing behind a running
//! replay.

use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::Request;
use domain::{Amount, ApplyMode, EventId, ItemChange, ItemId, ItemState, ReplayRequest};
use serde_json::Value;
use testkit::memory::MemoryStore;

use super::*;
use crate::proxy::proxy_request;

struct NoDispatch;

#[async_trait::async_trait]
impl ReplayDispatcher for NoDispatch {
    async fn dispatch(&self, _: &ReplayRequest) -> Result<(), domain::StoreError> {
        Ok(())
    }
}

async fn api_over(items: u64, deleted_every: u64) -> Api {
    let store = Arc::new(MemoryStore::new());
    let stream = StreamId::parse("s", "streamId").unwrap();
    let changes: Vec<ItemChange> = (0..items)
        .map(|n| ItemChange {
            stream_id: stream.clone(),
            item_id: ItemId::parse(format!("i{n:04}"), "itemId").unwrap(),
            version: EventId::new(n),
            state: if n % deleted_every == 0 {
                ItemState::Deleted
            } else {
                ItemState::Live {
                    amount: Amount::new(n).unwrap(),
                }
            },
            recorded_at: Utc::now(),
        })
        .collect();
    for outcome in store.apply(&changes, ApplyMode::Projection).await {
        outcome.unwrap();
    }
    Api {
        events: store.clone(),
        read_model: store.clone(),
        replays: Arc::new(NoDispatch),
        replay_jobs: store,
        default_stream: stream,
    }
}

async fn get(api: &Api, query: &str) -> (i64, Value) {
    call(
        api,
        Function::ListItems,
        &format!("/listTestItems{query}"),
        "",
    )
    .await
}

#[tokio::test]
async fn listing_pages_with_limit_and_cursor_until_no_next_cursor() {
    // 2,500 rows, every fifth a tombstone: 2,000 live items.
    let api = api_over(2500, 5).await;
    let (status, first) = get(&api, "").await;
    assert_eq!(status, 200);
    assert_eq!(
        first["items"].as_array().unwrap().len(),
        1000,
        "the default limit"
    );
    let mut seen = 0;
    let mut query = "?limit=300".to_owned();
    loop {
        let (status, page) = get(&api, &query).await;
        assert_eq!(status, 200);
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 300);
        seen += items.len();
        match page["nextCursor"].as_str() {
            Some(cursor) => query = format!("?limit=300&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, 2000);
}

#[tokio::test]
async fn a_bad_limit_or_cursor_is_a_400_naming_it() {
    let api = api_over(3, 2).await;
    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=1001", "limit"),
        ("?limit=x", "limit"),
        ("?cursor=%25%25", "cursor"),
        ("?cursor=", "cursor"),
        ("?streamId=", "streamId"),
    ] {
        let (status, body) = get(&api, query).await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(body["error"]["field"], field, "{query}");
    }
}

/// Remembers which replays it started.
#[derive(Default)]
struct Started(std::sync::Mutex<Vec<String>>);

#[async_trait::async_trait]
impl ReplayDispatcher for Started {
    async fn dispatch(&self, request: &ReplayRequest) -> Result<(), domain::StoreError> {
        self.0.lock().unwrap().push(request.replay_id.clone());
        Ok(())
    }
}

/// `function`'s route answers a request for `uri` with `body`.
async fn call(api: &Api, function: Function, uri: &str, body: &str) -> (i64, Value) {
    let route = function.route().expect("a function behind the API");
    let (parts, ()) = Request::builder()
        .method(route.method())
        .uri(uri)
        .body(())
        .unwrap()
        .into_parts();
    let response = api
        .handle(
            route,
            &proxy_request(route, &parts, body.as_bytes(), "test"),
        )
        .await;
    let Some(Body::Text(text)) = response.body else {
        panic!("a text body");
    };
    (response.status_code, serde_json::from_str(&text).unwrap())
}

/// `handle` leaves no route unanswered: none gets the answer for a
/// request that matches no route.
#[tokio::test]
async fn every_route_reaches_a_handler() {
    let api = api_over(3, 2).await;
    for route in Route::ALL {
        let uri = format!("/{}", route.path_part());
        let (status, body) = call(&api, route.function(), &uri, "").await;
        assert!(
            !(status == 403 && body["message"] == "Missing Authentication Token"),
            "{route:?} answered {status} {body}"
        );
    }
}

#[tokio::test]
async fn triggers_of_one_stream_start_one_replay_and_queue_the_rest_and_status_follows() {
    let store = Arc::new(MemoryStore::new());
    let started = Arc::new(Started::default());
    let api = Api {
        events: store.clone(),
        read_model: store.clone(),
        replays: started.clone(),
        replay_jobs: store,
        default_stream: StreamId::parse("s", "streamId").unwrap(),
    };
    let trigger = |from: u64| {
        let api = api.clone();
        async move {
            let body = format!(r#"{{"streamId":"s","fromEventId":{from}}}"#);
            call(&api, Function::TriggerReplay, "/triggerReplay", &body).await
        }
    };
    let (status, first) = trigger(5).await;
    assert_eq!(status, 202);
    let (status, second) = trigger(7).await;
    assert_eq!(status, 202);
    let (_, third) = trigger(2).await;
    assert_ne!(first["replayId"], second["replayId"]);
    assert_eq!(
        third["replayId"], second["replayId"],
        "it joins the queued one"
    );
    assert_eq!(third["fromEventId"], 2, "which now covers both ranges");
    assert_eq!(
        *started.0.lock().unwrap(),
        [first["replayId"].as_str().unwrap()],
        "only the first starts while it runs"
    );

    let status_of = |id: &Value| format!("/replayStatus?replayId={}", id.as_str().unwrap());
    let (status, body) = call(
        &api,
        Function::ReplayStatus,
        &status_of(&first["replayId"]),
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["state"], "queued", "until its run reports: {body}");
    assert_eq!(body["fromEventId"], 5);
    let (_, body) = call(
        &api,
        Function::ReplayStatus,
        &status_of(&second["replayId"]),
        "",
    )
    .await;
    assert_eq!(
        (body["state"].as_str(), body["fromEventId"].as_u64()),
        (Some("queued"), Some(2))
    );

    let (status, body) = call(
        &api,
        Function::ReplayStatus,
        "/replayStatus?replayId=nope",
        "",
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "REPLAY_NOT_FOUND");
    let (status, body) = call(&api, Function::ReplayStatus, "/replayStatus", "").await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("replayId"))
    );
}
