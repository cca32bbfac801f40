//! Runs a Lambda function binary as Lambda would (a process talking to the
//! Runtime API, configured by the environment Lambda sets) against the
//! Runtime API stub and moto, and checks what it answers and what it leaves
//! in the tables. The same checks serve the native binaries (`cargo test`)
//! and the packaged arm64 ones under qemu (`cargo xtask test`): the process
//! harness in `process.rs`, the tables in `fixture.rs`, one scenario per
//! function in `scenarios.rs`.

use anyhow::{Context, ensure};
use serde_json::{Value, json};
use service::api::Route;
use service::aws_lambda_events::http;
use service::functions::{EnvVar, Function};
use service::proxy::proxy_request;

mod fixture;
mod log_scenarios;
mod process;
mod scenarios;

pub use fixture::Fixture;
pub use process::{Launch, Report, RunningFunction};

/// The region every check runs in.
const REGION: &str = "us-east-1";

/// The API key every [`proxy_event`] carries, in its header and its
/// request context, as API Gateway passes it on.
pub const PROXY_EVENT_API_KEY: &str = "an-api-key-of-twenty-chars";

/// The proxy event API Gateway sends for a request to `route` (with a
/// valid API key), as JSON: what the Runtime API hands the function.
pub fn proxy_event(route: Route, query: &[(&str, &str)], body: Option<&Value>) -> Value {
    let mut uri = format!("/{}", route.path_part());
    if !query.is_empty() {
        uri.push('?');
        uri.push_str(
            &form_urlencoded::Serializer::new(String::new())
                .extend_pairs(query)
                .finish(),
        );
    }
    let request = http::Request::builder()
        .method(route.method())
        .uri(uri)
        .header("content-type", "application/json")
        .header("host", "abc123.execute-api.us-east-1.amazonaws.com")
        .header("x-api-key", PROXY_EVENT_API_KEY)
        .body(())
        .expect("a valid request");
    let (parts, ()) = request.into_parts();
    let body = body.map(Value::to_string).unwrap_or_default();
    let event = proxy_request(route, &parts, body.as_bytes(), "prod");
    serde_json::to_value(event).expect("a proxy event serializes to JSON")
}

/// The route of API function `function`.
fn api_route(function: Function) -> anyhow::Result<Route> {
    function
        .route()
        .with_context(|| format!("{function} serves no route"))
}

/// Runs the check of `function` against moto at `endpoint`.
pub async fn check(function: Function, launch: &Launch, endpoint: &str) -> anyhow::Result<Report> {
    let fixture = Fixture::new(endpoint, function.name()).await?;
    match function {
        Function::AddEvent => scenarios::add_event(&fixture, launch).await,
        Function::ListItems => scenarios::list_items(&fixture, launch).await,
        Function::TriggerReplay => scenarios::trigger_replay(&fixture, launch).await,
        Function::ReplayStatus => scenarios::replay_status(&fixture, launch).await,
        Function::ListStreams => log_scenarios::list_streams(&fixture, launch).await,
        Function::ReadStream => log_scenarios::read_stream(&fixture, launch).await,
        Function::Projector => scenarios::projector(&fixture, launch).await,
        Function::Replay => scenarios::replay(&fixture, launch).await,
    }
    .with_context(|| format!("checking the {} binary", function.name()))
}

/// The test of a function crate: its native `binary` (the crate's
/// `CARGO_BIN_EXE_<name>`), run as Lambda runs it against the shared
/// emulator. Panics with the failure; prints the start-up time.
pub async fn check_native_binary(function: Function, binary: &str) {
    let launch = Launch::native(binary);
    match check(function, &launch, crate::moto::shared_endpoint()).await {
        // Printed, not asserted: a measurement for humans (--nocapture).
        Ok(report) => println!("{}: init {:?}", function.name(), report.init),
        Err(err) => panic!("{err:#}"),
    }
}

/// Runs API function `function` at `RUST_LOG=trace`, the most a user can
/// turn on, through a request, a refused one and a bad one: the API key the
/// events carry never appears in what it writes.
pub async fn check_key_stays_out_of_logs(
    function: Function,
    launch: &Launch,
    endpoint: &str,
) -> anyhow::Result<()> {
    let route = api_route(function)?;
    let fixture = Fixture::new(endpoint, &format!("{}-trace", function.name())).await?;
    let mut running = fixture
        .start(
            launch,
            function,
            &[
                (EnvVar::RustLog, "trace,lambda_runtime=trace".to_owned()),
                (EnvVar::ReplayFunctionName, crate::unique_name("absent")),
            ],
        )
        .await?;
    let body = json!({"streamId": scenarios::new_stream_id(), "type": "ITEM_CREATED", "data": scenarios::item("k", 1), "fromEventId": 0});
    for event in [
        proxy_event(route, &[("streamId", "s"), ("replayId", "r")], Some(&body)),
        proxy_event(route, &[("limit", "0")], Some(&json!({"streamId": ""}))),
    ] {
        running.invoke(&event).await?;
    }
    let output = running.output();
    ensure!(
        output.len() > 1000,
        "{function} wrote almost nothing at RUST_LOG=trace:\n{output}"
    );
    ensure!(
        !output.contains(PROXY_EVENT_API_KEY),
        "{function} logged the API key at RUST_LOG=trace:\n{}",
        running.log_text()
    );
    Ok(())
}

/// The test of an API function crate: [`check_key_stays_out_of_logs`] on
/// its native `binary`.
pub async fn check_native_binary_keeps_the_key_out_of_logs(function: Function, binary: &str) {
    let launch = Launch::native(binary);
    if let Err(err) =
        check_key_stays_out_of_logs(function, &launch, crate::moto::shared_endpoint()).await
    {
        panic!("{err:#}");
    }
}
