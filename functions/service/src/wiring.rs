//! Builds what a Lambda function needs from its environment, once per
//! process (clients are reused across invocations).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use aws_lambda_events::dynamodb::Event as StreamEvent;

use lambda_runtime::{LambdaEvent, service_fn};

use crate::api::{Api, Route};
use crate::dynamo::{DynamoStore, TableNames};
use crate::functions::{EnvVar, Function, Serves};
use crate::replay_runs::{LambdaReplayDispatcher, ReplayDispatcher, ReplayInvocation};
use crate::settings::RawSettings;

/// The DynamoDB store named by `EVENTS_TABLE`, `STREAM_INDEX_TABLE`, `READ_MODEL_TABLE`.
pub async fn store_from_env() -> Result<DynamoStore, Box<dyn std::error::Error + Send + Sync>> {
    let tables = TableNames::from_env()?;
    let config = crate::aws::sdk_config().await;
    Ok(DynamoStore::new(
        crate::aws::dynamodb_client(&config),
        tables,
    ))
}

/// Replays are dispatched by no-one: for the functions that never trigger one.
struct NoReplays;

#[async_trait::async_trait]
impl ReplayDispatcher for NoReplays {
    async fn dispatch(&self, _: &domain::ReplayRequest) -> Result<(), domain::StoreError> {
        Err(domain::StoreError::Unavailable(
            "this function does not dispatch replays".into(),
        ))
    }
}

/// The API handlers with DynamoDB storage; the replay dispatcher only when
/// [`EnvVar::ReplayFunctionName`] is set (the functions that start replays).
pub async fn api_from_env() -> Result<Api, Box<dyn std::error::Error + Send + Sync>> {
    let store = Arc::new(store_from_env().await?);
    let replays: Arc<dyn ReplayDispatcher> =
        match std::env::var(EnvVar::ReplayFunctionName.as_str()) {
            Ok(function_name) => {
                let config = crate::aws::sdk_config().await;
                Arc::new(LambdaReplayDispatcher::new(
                    crate::aws::lambda_client(&config),
                    function_name,
                ))
            }
            Err(_) => Arc::new(NoReplays),
        };
    Ok(Api {
        events: store.clone(),
        read_model: store.clone(),
        replay_jobs: store,
        replays,
        default_stream: RawSettings::from_env().test_stream_id()?,
    })
}

/// Runs `function` on Lambda: builds its clients once, then hands its
/// handler to `lambda_runtime`. Every function's `main` is this one call.
pub async fn serve(function: Function) -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init_json();
    match function.serves() {
        Serves::Route(route) => serve_api(route).await,
        Serves::EventsStream => serve_projector().await,
        Serves::Replays => serve_replay().await,
    }
}

async fn serve_api(route: Route) -> Result<(), lambda_runtime::Error> {
    let api = Arc::new(api_from_env().await?);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayProxyRequest>| {
            let api = api.clone();
            let deadline = invocation_deadline(&event.context);
            async move {
                let answer = crate::deadline::within(deadline, api.handle(route, &event.payload));
                Ok::<_, lambda_runtime::Error>(answer.await)
            }
        },
    ))
    .await
}

/// The invocation's deadline on the clock the handlers' deadline reads
/// ([`crate::deadline`]): every call the handler makes keeps to it.
fn invocation_deadline(context: &lambda_runtime::Context) -> tokio::time::Instant {
    let time_left = context
        .deadline()
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    tokio::time::Instant::now() + time_left
}

async fn serve_projector() -> Result<(), lambda_runtime::Error> {
    let store = Arc::new(store_from_env().await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<StreamEvent>| {
        let store = store.clone();
        // A stalled write fails the batch (its records are reported and
        // retried) before Lambda would kill the invocation mid-call.
        let deadline = invocation_deadline(&event.context);
        async move {
            let batch = crate::projector::handle_stream_batch(
                store.as_ref(),
                store.as_ref(),
                &event.payload,
            );
            Ok::<_, lambda_runtime::Error>(crate::deadline::within(deadline, batch).await)
        }
    }))
    .await
}

/// How long before its deadline a replay run stops and hands over: more
/// than one step (a page of events) takes.
const REPLAY_HANDOVER_MARGIN: Duration = Duration::from_secs(60);

async fn serve_replay() -> Result<(), lambda_runtime::Error> {
    let store = Arc::new(store_from_env().await?);
    // Lambda sets its own name; a run that pauses invokes it again.
    let own_name = std::env::var("AWS_LAMBDA_FUNCTION_NAME")
        .map_err(|_| "AWS_LAMBDA_FUNCTION_NAME is not set: not running on Lambda")?;
    let config = crate::aws::sdk_config().await;
    let dispatcher = Arc::new(LambdaReplayDispatcher::new(
        crate::aws::lambda_client(&config),
        own_name,
    ));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<ReplayInvocation>| {
        let (store, dispatcher) = (store.clone(), dispatcher.clone());
        let calls_deadline = invocation_deadline(&event.context);
        let run = async move {
            let deadline = event.context.deadline();
            let time_is_short = move || {
                deadline
                    .duration_since(SystemTime::now())
                    .unwrap_or_default()
                    < REPLAY_HANDOVER_MARGIN
            };
            let store = store.as_ref();
            // What the invocation answers: where the job stands.
            let job = crate::replay_runs::handle_invocation(
                store,
                store,
                store,
                dispatcher.as_ref(),
                &event.payload,
                &time_is_short,
            )
            .await?;
            Ok::<_, lambda_runtime::Error>(job)
        };
        // Each call keeps to the invocation's deadline (and to
        // `aws::CALL_LIMIT`): a stalled step fails and is retried or
        // recorded, not cut off by Lambda mid-call.
        crate::deadline::within(calls_deadline, run)
    }))
    .await
}
