//! Lambda entry point: serves the `trigger_replay` handler of the service crate.

use service::api::Route;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    service::wiring::serve_route(Route::TriggerReplay).await
}
