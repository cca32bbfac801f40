//! Lambda entry point of the `read-stream` function: all it does is wire.

use service::functions::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    service::wiring::serve(Function::ReadStream).await
}
