//! Lambda entry point of the `projector` function: all it does is wire.

use service::functions::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    service::wiring::serve(Function::Projector).await
}
