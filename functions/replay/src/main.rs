//! Lambda entry point: wires the replay handler from the service crate.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use service::domain::ReplayRequest;

#[tokio::main]
async fn main() -> Result<(), Error> {
    service::telemetry::init_json();
    let store = Arc::new(service::wiring::store_from_env().await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<ReplayRequest>| {
        let store = store.clone();
        async move {
            let report =
                service::replay::run_replay(store.as_ref(), store.as_ref(), &event.payload).await?;
            Ok::<_, Error>(report)
        }
    }))
    .await
}
