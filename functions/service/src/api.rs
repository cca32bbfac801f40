//! The HTTP routes, as plain async functions over API Gateway proxy
//! events: Lambda calls them through `lambda_runtime`, local mode through its
//! gateway, tests directly.

use std::sync::Arc;

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_lambda_events::http::Method;
use chrono::Utc;
use domain::jobs;
use domain::validate;
use domain::{AppendError, EventStore, LaneKey, ReadModel, ReplayJob, ReplayJobs, StreamId};
use serde_json::{Map, json};

use crate::http::{
    body_bytes, error_response, header_values, invalid, json_response, query_param, rejected,
    store_failure,
};
use crate::replay::ReplayDispatcher;

/// The original's test stream, listed when no `streamId` is asked for.
pub const DEFAULT_TEST_STREAM_ID: &str = "eb724435-02cb-4c68-9d7a-4b6471c5a810";

/// The routes of the API. The template and local mode both read this table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    AddEvent,
    ListItems,
    TriggerReplay,
    ReplayStatus,
}

impl Route {
    pub const ALL: [Route; 4] = [
        Route::AddEvent,
        Route::ListItems,
        Route::TriggerReplay,
        Route::ReplayStatus,
    ];

    pub fn method(self) -> Method {
        match self {
            Route::AddEvent | Route::TriggerReplay => Method::POST,
            Route::ListItems | Route::ReplayStatus => Method::GET,
        }
    }

    /// The resource path, without a leading slash.
    pub fn path_part(self) -> &'static str {
        match self {
            Route::AddEvent => "addEvent",
            Route::ListItems => "listTestItems",
            Route::TriggerReplay => "triggerReplay",
            Route::ReplayStatus => "replayStatus",
        }
    }

    pub fn matching(method: &Method, path: &str) -> Option<Route> {
        let path = path.trim_end_matches('/').trim_start_matches('/');
        Self::ALL
            .into_iter()
            .find(|route| route.path_part() == path && route.method() == *method)
    }
}

/// What the handlers need; built once per process.
#[derive(Clone)]
pub struct Api {
    pub events: Arc<dyn EventStore>,
    pub read_model: Arc<dyn ReadModel>,
    pub replays: Arc<dyn ReplayDispatcher>,
    pub replay_jobs: Arc<dyn ReplayJobs>,
    pub default_stream: StreamId,
}

impl Api {
    pub async fn handle(
        &self,
        route: Route,
        request: &ApiGatewayProxyRequest,
    ) -> ApiGatewayProxyResponse {
        match route {
            Route::AddEvent => self.add_event(request).await,
            Route::ListItems => self.list_items(request).await,
            Route::TriggerReplay => self.trigger_replay(request).await,
            Route::ReplayStatus => self.replay_status(request).await,
        }
    }

    /// `POST /addEvent`, with an optional `Idempotency-Key` header.
    pub async fn add_event(&self, request: &ApiGatewayProxyRequest) -> ApiGatewayProxyResponse {
        let command = match body_bytes(request)
            .and_then(|body| validate::append_command(&body))
            .and_then(|command| {
                let key = validate::idempotency_key(&header_values(request, "idempotency-key"))?;
                Ok(match key {
                    Some(key) => command.with_idempotency_key(key),
                    None => command,
                })
            }) {
            Ok(command) => command,
            Err(err) => return invalid(&err),
        };
        match self.events.append(&command, Utc::now()).await {
            Ok(recorded) => {
                tracing::info!(
                    stream_id = %recorded.stream_id,
                    event_id = %recorded.event_id,
                    event_type = %recorded.event.event_type(),
                    "event appended"
                );
                json_response(
                    201,
                    &json!({
                        "streamId": recorded.stream_id,
                        "eventId": recorded.event_id,
                        "timestamp": recorded.timestamp(),
                    }),
                )
            }
            Err(AppendError::Rejected(rejection)) => rejected(&rejection),
            Err(AppendError::Store(err)) => store_failure(&err),
        }
    }

    /// `GET /listTestItems[?streamId=...&limit=...&cursor=...]`: one page,
    /// with `nextCursor` only when more items follow.
    pub async fn list_items(&self, request: &ApiGatewayProxyRequest) -> ApiGatewayProxyResponse {
        let query = match validate::list_query(
            query_param(request, "streamId"),
            query_param(request, "limit"),
            query_param(request, "cursor"),
            &self.default_stream,
        ) {
            Ok(query) => query,
            Err(err) => return invalid(&err),
        };
        match self.read_model.list(&query).await {
            Ok(page) => {
                let mut body = json!({ "items": page.items });
                if let Some(cursor) = page.next_cursor() {
                    body["nextCursor"] = json!(cursor.encode());
                }
                json_response(200, &body)
            }
            Err(err) => store_failure(&err),
        }
    }

    /// `POST /triggerReplay`: 202 with the replay that covers the range
    /// asked: a new one, started at once when none of its lane runs, or
    /// the one queued behind the running one. A running replay whose run
    /// died is resumed on the way.
    pub async fn trigger_replay(
        &self,
        request: &ApiGatewayProxyRequest,
    ) -> ApiGatewayProxyResponse {
        let scope = match body_bytes(request).and_then(|body| validate::replay_target(&body)) {
            Ok(scope) => scope,
            Err(err) => return invalid(&err),
        };
        let replay_id = uuid::Uuid::new_v4().to_string();
        let jobs = self.replay_jobs.as_ref();
        let admission = match jobs::admit(jobs, &replay_id, &scope, Utc::now()).await {
            Ok(admission) => admission,
            Err(err) => return store_failure(&err),
        };
        let started = match &admission.start {
            // The trigger's own replay: if it cannot start, it is failed
            // and the caller hears so.
            Some(start) if start.replay_id == admission.covered_by => {
                let started =
                    crate::replay::start(jobs, self.replays.as_ref(), start.clone()).await;
                if let Err(err) = started {
                    return store_failure(&err);
                }
                true
            }
            Some(resumed) => {
                tracing::warn!(replay_id = %resumed.replay_id, lane = %resumed.lane, "resuming a replay whose run stopped reporting");
                crate::replay::resume(self.replays.as_ref(), resumed).await;
                false
            }
            None => false,
        };
        tracing::info!(
            replay_id = %admission.covered_by,
            lane = %LaneKey::of(&admission.scope),
            from_event_id = admission.scope.from_event_id().get(),
            started,
            "replay triggered"
        );
        let mut body = json!({ "replayId": admission.covered_by });
        if let (Ok(serde_json::Value::Object(scope)), Some(fields)) =
            (serde_json::to_value(&admission.scope), body.as_object_mut())
        {
            fields.extend(scope);
        }
        json_response(202, &body)
    }

    /// `GET /replayStatus?replayId=...`: the replay's state, or 404. A
    /// replay not ended whose run died is resumed on the way.
    pub async fn replay_status(&self, request: &ApiGatewayProxyRequest) -> ApiGatewayProxyResponse {
        let replay_id = match validate::replay_id(query_param(request, "replayId")) {
            Ok(replay_id) => replay_id,
            Err(err) => return invalid(&err),
        };
        let job = match self.replay_jobs.job(&replay_id).await {
            Ok(Some(job)) => job,
            Ok(None) => {
                return error_response(
                    404,
                    "REPLAY_NOT_FOUND",
                    "no replay has this id (ids are kept a week after the replay ends)",
                    Some("replayId"),
                    Map::new(),
                );
            }
            Err(err) => return store_failure(&err),
        };
        if !job.state.ended() {
            let resumed = crate::replay::resume_stalled(
                self.replay_jobs.as_ref(),
                self.replays.as_ref(),
                &job.lane(),
                Utc::now(),
            )
            .await;
            if let Err(err) = resumed {
                tracing::warn!(replay_id = %job.replay_id, error = %err, "cannot check whether the replay's run is alive");
            }
        }
        json_response(200, &replay_status_body(&job))
    }
}

/// What `GET /replayStatus` answers for `job`.
pub fn replay_status_body(job: &ReplayJob) -> serde_json::Value {
    let mut body = match serde_json::to_value(job) {
        Ok(serde_json::Value::Object(fields)) => fields,
        _ => Map::new(),
    };
    // Internal to a rebuild: not part of the answer.
    body.remove("parent");
    body.insert(
        "updatedAt".into(),
        json!(
            job.updated_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        ),
    );
    serde_json::Value::Object(body)
}

#[cfg(test)]
mod tests {
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
        call(api, Route::ListItems, &format!("/listTestItems{query}"), "").await
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

    async fn call(api: &Api, route: Route, uri: &str, body: &str) -> (i64, Value) {
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
                call(&api, Route::TriggerReplay, "/triggerReplay", &body).await
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
            Route::ReplayStatus,
            &status_of(&first["replayId"]),
            "",
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(body["state"], "queued", "until its run reports: {body}");
        assert_eq!(body["fromEventId"], 5);
        let (_, body) = call(
            &api,
            Route::ReplayStatus,
            &status_of(&second["replayId"]),
            "",
        )
        .await;
        assert_eq!(
            (body["state"].as_str(), body["fromEventId"].as_u64()),
            (Some("queued"), Some(2))
        );

        let (status, body) =
            call(&api, Route::ReplayStatus, "/replayStatus?replayId=nope", "").await;
        assert_eq!(status, 404);
        assert_eq!(body["error"]["code"], "REPLAY_NOT_FOUND");
        let (status, body) = call(&api, Route::ReplayStatus, "/replayStatus", "").await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (400, Some("replayId"))
        );
    }
}
