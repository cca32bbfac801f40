//! Builds what a Lambda function needs from its environment, once per
//! process (clients are reused across invocations).

use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayProxyRequest;

use crate::api::{Api, Route};
use crate::dynamo::{DynamoStore, TableNames};
use crate::replay::{LambdaReplayDispatcher, ReplayDispatcher};
use crate::settings::RawSettings;

/// The DynamoDB store named by `EVENTS_TABLE`, `STREAM_INDEX_TABLE`, `READ_MODEL_TABLE`.
pub async fn store_from_env() -> Result<DynamoStore, Box<dyn std::error::Error + Send + Sync>> {
    let tables = TableNames::from_env()?;
    let config = crate::aws::sdk_config().await;
    Ok(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&config),
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
/// `REPLAY_FUNCTION_NAME` is set (the trigger-replay function).
pub async fn api_from_env() -> Result<Api, Box<dyn std::error::Error + Send + Sync>> {
    let store = Arc::new(store_from_env().await?);
    let replays: Arc<dyn ReplayDispatcher> = match std::env::var("REPLAY_FUNCTION_NAME") {
        Ok(function_name) => {
            let config = crate::aws::sdk_config().await;
            Arc::new(LambdaReplayDispatcher::new(
                aws_sdk_lambda::Client::new(&config),
                function_name,
            ))
        }
        Err(_) => Arc::new(NoReplays),
    };
    Ok(Api {
        events: store.clone(),
        read_model: store,
        replays,
        default_stream: RawSettings::from_env().test_stream_id()?,
    })
}

/// Runs an API function: `route`'s handler behind `lambda_runtime`.
pub async fn serve_route(route: Route) -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init_json();
    let api = Arc::new(api_from_env().await?);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<ApiGatewayProxyRequest>| {
            let api = api.clone();
            async move { Ok::<_, lambda_runtime::Error>(api.handle(route, &event.payload).await) }
        },
    ))
    .await
}
