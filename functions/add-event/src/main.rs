//! Lambda entry point: serves the `add_event` handler of the service crate.

use service::api::Route;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    service::wiring::serve_route(Route::AddEvent).await
}
