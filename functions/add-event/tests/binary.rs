//! The built `add-event` binary, run as Lambda runs it: a process talking to a
//! Runtime API stub, with the environment Lambda sets, against moto.

use testkit::function_binary::{Launch, check};

#[tokio::test]
async fn the_binary_answers_invocations_from_the_runtime_api() {
    let launch = Launch::native(env!("CARGO_BIN_EXE_add-event"));
    match check("add-event", &launch, testkit::moto::shared_endpoint()).await {
        // Printed, not asserted: a measurement for humans (--nocapture).
        Ok(report) => println!("add-event: init {:?}", report.init),
        Err(err) => panic!("{err:#}"),
    }
}
