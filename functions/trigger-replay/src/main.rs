//! Lambda entry point: wires the `trigger_replay` handler from the service crate.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use service::aws_lambda_events::apigw::ApiGatewayProxyRequest;

#[tokio::main]
async fn main() -> Result<(), Error> {
    service::telemetry::init_json();
    let api = Arc::new(service::wiring::api_from_env().await?);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayProxyRequest>| {
            let api = api.clone();
            async move { Ok::<_, Error>(api.trigger_replay(&event.payload).await) }
        },
    ))
    .await
}
