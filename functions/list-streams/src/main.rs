//! Lambda entry point of the `list-streams` function: all it does is wire.

use service::functions::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    service::wiring::serve(Function::ListStreams).await
}
