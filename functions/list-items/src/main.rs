//! Lambda entry point: serves the `list_items` handler of the service crate.

use service::api::Route;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    service::wiring::serve_route(Route::ListItems).await
}
