//! The built `replay-status` binary, run as Lambda runs it: a process talking to a
//! Runtime API stub, with the environment Lambda sets, against moto.

use service::functions::Function;

#[tokio::test]
async fn the_binary_answers_invocations_from_the_runtime_api() {
    let binary = env!("CARGO_BIN_EXE_replay-status");
    testkit::function_binary::check_native_binary(Function::ReplayStatus, binary).await;
}
