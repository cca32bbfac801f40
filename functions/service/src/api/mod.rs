//! The HTTP routes' handlers, as plain async functions over API Gateway
//! proxy events: Lambda calls them through `lambda_runtime`, local mode
//! through its gateway, tests directly; `log.rs` has the routes that read
//! the event log. The routes themselves are
//! `functions.rs`'s: each is a [`Function`]'s.

use std::sync::Arc;

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use chrono::Utc;
use domain::jobs;
use domain::validate;
use domain::{AppendError, EventStore, LaneKey, ReadModel, ReplayJob, ReplayJobs, StreamId};
use serde_json::{Map, json};

use crate::functions::Function;
use crate::http::{
    body_bytes, error_response, header_values, invalid, json_response, query_param, rejected,
    store_failure,
};
use crate::replay_runs::ReplayDispatcher;

pub use crate::functions::Route;
pub use log::events_page_body;

mod log;

/// The original's test stream, listed when no `streamId` is asked for.
pub const DEFAULT_TEST_STREAM_ID: &str = "eb724435-02cb-4c68-9d7a-4b6471c5a810";

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
        match route.function() {
            Function::AddEvent => self.add_event(request).await,
            Function::ListItems => self.list_items(request).await,
            Function::TriggerReplay => self.trigger_replay(request).await,
            Function::ReplayStatus => self.replay_status(request).await,
            Function::ListStreams => self.list_streams(request).await,
            Function::ReadStream => self.read_stream(request).await,
            // Serving no route, they are never given one (`Function::serves`).
            Function::Projector | Function::Replay => no_such_route(),
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
                    correlation_id = recorded.metadata.correlation_id(),
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
                    crate::replay_runs::start(jobs, self.replays.as_ref(), start.clone()).await;
                if let Err(err) = started {
                    return store_failure(&err);
                }
                true
            }
            Some(resumed) => {
                tracing::warn!(replay_id = %resumed.replay_id, lane = %resumed.lane, "resuming a replay whose run stopped reporting");
                crate::replay_runs::resume(self.replays.as_ref(), resumed).await;
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
            let resumed = crate::replay_runs::resume_stalled(
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

/// What API Gateway answers a request that matches no route.
fn no_such_route() -> ApiGatewayProxyResponse {
    json_response(403, &json!({ "message": "Missing Authentication Token" }))
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
mod tests;
