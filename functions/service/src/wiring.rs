//! Builds what a Lambda function needs from its environment, once per
//! process (clients are reused across invocations).

use std::sync::Arc;

use domain::StreamId;

use crate::api::{Api, DEFAULT_TEST_STREAM_ID};
use crate::dynamo::{DynamoStore, TableNames};
use crate::replay::{LambdaReplayDispatcher, ReplayDispatcher};

/// A missing or malformed environment variable, named.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}: {problem}")]
pub struct EnvError {
    pub name: &'static str,
    pub problem: String,
}

pub fn env_var(name: &'static str) -> Result<String, EnvError> {
    std::env::var(name).map_err(|_| EnvError {
        name,
        problem: "is not set".into(),
    })
}

/// The stream `GET /listTestItems` shows by default (`TEST_STREAM_ID`).
pub fn default_stream_from_env() -> Result<StreamId, EnvError> {
    let raw = std::env::var("TEST_STREAM_ID").unwrap_or_else(|_| DEFAULT_TEST_STREAM_ID.to_owned());
    StreamId::parse(raw, "TEST_STREAM_ID").map_err(|err| EnvError {
        name: "TEST_STREAM_ID",
        problem: err.message,
    })
}

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
        default_stream: default_stream_from_env()?,
    })
}
