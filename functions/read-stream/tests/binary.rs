//! The built `read-stream` binary, run as Lambda runs it: a process talking to a
//! Runtime API stub, with the environment Lambda sets, against moto.

use service::functions::Function;

#[tokio::test]
async fn the_binary_answers_invocations_from_the_runtime_api() {
    let binary = env!("CARGO_BIN_EXE_read-stream");
    testkit::function_binary::check_native_binary(Function::ReadStream, binary).await;
}

#[tokio::test]
async fn the_api_key_stays_out_of_its_logs_even_at_trace_level() {
    let binary = env!("CARGO_BIN_EXE_read-stream");
    testkit::function_binary::check_native_binary_keeps_the_key_out_of_logs(
        Function::ReadStream,
        binary,
    )
    .await;
}
