//! Lambda entry point: wires the projector handler from the service crate.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use service::aws_lambda_events::dynamodb::Event;

#[tokio::main]
async fn main() -> Result<(), Error> {
    service::telemetry::init_json();
    let store = Arc::new(service::wiring::store_from_env().await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| {
        let store = store.clone();
        async move {
            Ok::<_, Error>(
                service::projector::handle_stream_batch(store.as_ref(), &event.payload).await,
            )
        }
    }))
    .await
}
