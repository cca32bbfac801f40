//! Lambda entry point of the `replay-status` function: all it does is wire.

use service::functions::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    service::wiring::serve(Function::ReplayStatus).await
}
