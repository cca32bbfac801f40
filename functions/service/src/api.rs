//! The three HTTP routes, as plain async functions over API Gateway proxy
//! events: Lambda calls them through `lambda_runtime`, local mode through its
//! gateway, tests directly.

use std::sync::Arc;

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_lambda_events::http::Method;
use chrono::Utc;
use domain::validate;
use domain::{AppendError, EventStore, ReadModel, ReplayRequest, StreamId};
use serde_json::json;

use crate::http::{body_bytes, invalid, json_response, query_param, rejected, store_failure};
use crate::replay::ReplayDispatcher;

/// The original's test stream, listed when no `streamId` is asked for.
pub const DEFAULT_TEST_STREAM_ID: &str = "eb724435-02cb-4c68-9d7a-4b6471c5a810";

/// The routes of the API. The template and local mode both read this table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    AddEvent,
    ListItems,
    TriggerReplay,
}

impl Route {
    pub const ALL: [Route; 3] = [Route::AddEvent, Route::ListItems, Route::TriggerReplay];

    pub fn method(self) -> Method {
        match self {
            Route::AddEvent | Route::TriggerReplay => Method::POST,
            Route::ListItems => Method::GET,
        }
    }

    /// The resource path, without a leading slash.
    pub fn path_part(self) -> &'static str {
        match self {
            Route::AddEvent => "addEvent",
            Route::ListItems => "listTestItems",
            Route::TriggerReplay => "triggerReplay",
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
        }
    }

    /// `POST /addEvent`
    pub async fn add_event(&self, request: &ApiGatewayProxyRequest) -> ApiGatewayProxyResponse {
        let command = match body_bytes(request).and_then(|body| validate::append_command(&body)) {
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

    /// `POST /triggerReplay`
    pub async fn trigger_replay(
        &self,
        request: &ApiGatewayProxyRequest,
    ) -> ApiGatewayProxyResponse {
        let target = match body_bytes(request).and_then(|body| validate::replay_target(&body)) {
            Ok(target) => target,
            Err(err) => return invalid(&err),
        };
        let replay = ReplayRequest {
            replay_id: uuid::Uuid::new_v4().to_string(),
            stream_id: target.stream_id.to_string(),
            from_event_id: target.from_event_id.get(),
            progress: None,
        };
        match self.replays.dispatch(&replay).await {
            Ok(()) => {
                tracing::info!(replay_id = %replay.replay_id, stream_id = %replay.stream_id, from_event_id = replay.from_event_id, "replay dispatched");
                json_response(202, &replay)
            }
            Err(err) => store_failure(&err),
        }
    }
}
