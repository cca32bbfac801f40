//! Runs a Lambda function binary as Lambda would (a process talking to the
//! Runtime API, configured by the environment Lambda sets) against the
//! Runtime API stub and moto, and checks what it answers and what it leaves
//! in the tables. The same checks serve the native binaries (`cargo test`)
//! and the packaged arm64 ones under qemu (`cargo xtask test`).

use std::ffi::OsString;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use aws_sdk_dynamodb::Client;
use domain::{
    EventId, EventStore, ItemView, ReadModel, ReplayJob, ReplayJobs, ReplayLane, ReplayState,
    StreamId,
};
use serde_json::{Value, json};
use service::api::Route;
use service::aws::sdk_config_for_endpoint;
use service::aws_lambda_events::http;
use service::dynamo::schema::Table;
use service::dynamo::{DynamoStore, TableNames, ensure_tables};
use service::functions::Function;
use service::proxy::proxy_request;

use crate::runtime_api::{Outcome, RuntimeApi};

/// The account moto gives to unsigned-for-real requests.
const MOTO_ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

/// How to start a function binary.
#[derive(Clone, Debug)]
pub struct Launch {
    program: PathBuf,
    args: Vec<OsString>,
    /// How long init and each invocation may take.
    timeout: Duration,
}

impl Launch {
    /// The binary itself, on this machine.
    pub fn native(binary: impl Into<PathBuf>) -> Launch {
        Launch {
            program: binary.into(),
            args: Vec::new(),
            timeout: Duration::from_secs(30),
        }
    }

    /// A binary for another architecture under qemu user-mode emulation;
    /// `sysroot` holds its dynamic loader and libc (`-L`).
    pub fn qemu(qemu: &Path, sysroot: &Path, binary: &Path) -> Launch {
        Launch {
            program: qemu.to_path_buf(),
            args: vec!["-L".into(), sysroot.into(), binary.into()],
            // Emulation is ~10x slower than native.
            timeout: Duration::from_secs(120),
        }
    }
}

/// What a check measured.
#[derive(Clone, Debug)]
pub struct Report {
    pub function: String,
    /// Process start to its first `GET .../invocation/next`.
    pub init: Duration,
    pub invocations: usize,
    /// The process's peak resident memory (Linux `VmHWM`) after its
    /// invocations, in KiB.
    pub peak_rss_kib: Option<u64>,
}

/// A function process with its own Runtime API stub; killed on drop.
pub struct RunningFunction {
    name: String,
    api: RuntimeApi,
    child: Child,
    spawned: Instant,
    log: PathBuf,
    timeout: Duration,
    invocations: usize,
}

impl RunningFunction {
    /// Starts `launch` with Lambda's environment plus `env`, and waits
    /// until it asks for its first invocation.
    pub async fn start(
        launch: &Launch,
        name: &str,
        endpoint: &str,
        env: &[(&str, String)],
    ) -> anyhow::Result<RunningFunction> {
        let api = RuntimeApi::start().await?;
        let log =
            std::env::temp_dir().join(format!("evs-fn-{name}-{}.log", crate::unique_name("log")));
        let stdout =
            File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let stderr = stdout.try_clone().context("cannot clone the log handle")?;
        let mut command = Command::new(&launch.program);
        command
            .args(&launch.args)
            // Only what Lambda would set: nothing of the test's environment
            // (profiles, a developer's AWS_* variables) leaks in.
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/01/01/[$LATEST]0123456789abcdef",
            )
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("_HANDLER", "bootstrap")
            .env("AWS_REGION", REGION)
            .env("AWS_DEFAULT_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_SESSION_TOKEN", "test")
            .env("AWS_ENDPOINT_URL", endpoint)
            .envs(env.iter().map(|(key, value)| (*key, value.as_str())))
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let spawned = Instant::now();
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", launch.program.display()))?;
        let mut function = RunningFunction {
            name: name.to_owned(),
            api,
            child,
            spawned,
            log,
            timeout: launch.timeout,
            invocations: 0,
        };
        let ready = function.api.wait_ready(launch.timeout);
        let outcome = until_exit(&mut function.child, ready).await;
        match outcome {
            Ok(_) => Ok(function),
            Err(err) => Err(err.context(format!("{name} did not start:\n{}", function.log_text()))),
        }
    }

    /// Process start to the first `GET .../invocation/next`.
    pub fn init_time(&self) -> Duration {
        self.api
            .first_next()
            .map_or(Duration::ZERO, |at| at.duration_since(self.spawned))
    }

    /// Invokes the function with `event` and returns its answer.
    pub async fn invoke(&mut self, event: &Value) -> anyhow::Result<Outcome> {
        self.invocations += 1;
        let (request_id, answer) = self.api.invoke(event);
        let timeout = self.timeout;
        let waited = until_exit(&mut self.child, async move {
            match tokio::time::timeout(timeout, answer).await {
                Ok(Ok(outcome)) => Ok(outcome),
                Ok(Err(_)) => bail!("the stub dropped invocation {request_id}"),
                Err(_) => bail!("no answer to invocation {request_id} within {timeout:?}"),
            }
        })
        .await;
        waited.map_err(|err| err.context(format!("{}:\n{}", self.name, self.log_text())))
    }

    /// Invokes and expects a handler response (not an error).
    pub async fn respond(&mut self, event: &Value) -> anyhow::Result<Value> {
        match self.invoke(event).await? {
            Outcome::Response(value) => Ok(value),
            Outcome::Error { error_type, body } => bail!(
                "{} answered an error ({error_type}): {body}\n{}",
                self.name,
                self.log_text()
            ),
        }
    }

    /// Invokes an API function with a proxy event; returns status and body.
    pub async fn http(&mut self, event: &Value) -> anyhow::Result<(u16, Value)> {
        let response = self.respond(event).await?;
        let status = response["statusCode"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .with_context(|| format!("no statusCode in {response}"))?;
        let body = match response["body"].as_str() {
            Some(text) => serde_json::from_str(text)
                .with_context(|| format!("the body is not JSON: {text}"))?,
            None => Value::Null,
        };
        Ok((status, body))
    }

    pub fn report(&self) -> Report {
        Report {
            function: self.name.clone(),
            init: self.init_time(),
            invocations: self.invocations,
            peak_rss_kib: peak_rss_kib(self.child.id()),
        }
    }

    /// Everything the process wrote so far, stdout and stderr.
    pub fn output(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn log_text(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- its output (last 40 lines of {}):\n{}",
            self.log.display(),
            lines[lines.len().saturating_sub(40)..].join("\n")
        )
    }
}

/// Runs `work` unless `child` exits first (then says so).
async fn until_exit<T>(
    child: &mut Child,
    work: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let mut work = std::pin::pin!(work);
    loop {
        tokio::select! {
            result = &mut work => return result,
            _ = tokio::time::sleep(Duration::from_millis(20)) => {
                if let Some(status) = child.try_wait().context("cannot poll the process")? {
                    bail!("the process exited ({status})");
                }
            }
        }
    }
}

impl Drop for RunningFunction {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_file(&self.log);
    }
}

/// Fresh tables on moto and a store over them, for one check.
pub struct Fixture {
    pub endpoint: String,
    pub tables: TableNames,
    pub store: DynamoStore,
    http: reqwest::Client,
}

impl Fixture {
    pub async fn new(endpoint: &str, label: &str) -> anyhow::Result<Fixture> {
        let client = Client::new(&sdk_config_for_endpoint(endpoint).await);
        let tables = TableNames::with_prefix(&crate::unique_name(&format!("fn-{label}")));
        ensure_tables(&client, &tables)
            .await
            .context("cannot create the tables on moto")?;
        Ok(Fixture {
            endpoint: endpoint.to_owned(),
            store: DynamoStore::new(client, tables.clone()),
            tables,
            http: reqwest::Client::new(),
        })
    }

    /// The table variables the functions read.
    pub fn table_env(&self) -> Vec<(&'static str, String)> {
        Table::ALL
            .into_iter()
            .map(|table| (table.env_var(), self.tables.name(table).to_owned()))
            .collect()
    }

    pub async fn start(
        &self,
        launch: &Launch,
        function: &str,
        extra: &[(&'static str, String)],
    ) -> anyhow::Result<RunningFunction> {
        let mut env = self.table_env();
        env.extend_from_slice(extra);
        RunningFunction::start(launch, function, &self.endpoint, &env).await
    }

    /// Appends through the store, as the add-event function would.
    /// Appends `events` (type, data) to `stream`, in order.
    pub async fn append(&self, stream: &str, events: &[(&str, Value)]) -> anyhow::Result<()> {
        for (kind, data) in events {
            let body = json!({"streamId": stream, "type": kind, "data": data});
            let command = domain::validate::append_command(body.to_string().as_bytes())
                .map_err(|err| anyhow::anyhow!("invalid test event: {err}"))?;
            self.store
                .append(&command, chrono::Utc::now())
                .await
                .map_err(|err| anyhow::anyhow!("append failed: {err}"))?;
        }
        Ok(())
    }

    /// The whole log of `stream`.
    pub async fn log(&self, stream: &str) -> anyhow::Result<Vec<domain::RecordedEvent>> {
        let stream = StreamId::parse(stream, "streamId").map_err(|e| anyhow::anyhow!("{e}"))?;
        self.store
            .read_stream(&stream, EventId::new(0), 100)
            .await
            .map_err(|err| anyhow::anyhow!("reading the log: {err}"))
    }

    /// Projects the whole log of `stream` as the projector would.
    pub async fn project(&self, stream: &str) -> anyhow::Result<()> {
        let events = self.log(stream).await?;
        let failed = service::projector::project(&self.store, &events).await;
        ensure!(
            failed.is_empty(),
            "projecting the seed events failed: {failed:?}"
        );
        Ok(())
    }

    pub async fn items(&self, stream: &str) -> anyhow::Result<Vec<ItemView>> {
        let stream = StreamId::parse(stream, "streamId").map_err(|e| anyhow::anyhow!("{e}"))?;
        // The first page holds every item these checks write.
        self.store
            .list(&domain::ListQuery::first_page(stream))
            .await
            .map(|page| page.items)
            .map_err(|err| anyhow::anyhow!("cannot list the read model: {err}"))
    }

    /// The job `replay_id` as recorded.
    pub async fn job(&self, replay_id: &str) -> anyhow::Result<ReplayJob> {
        self.store
            .job(replay_id)
            .await
            .map_err(|err| anyhow::anyhow!("reading job {replay_id}: {err}"))?
            .with_context(|| format!("job {replay_id} is not recorded"))
    }

    /// The replay lane of `stream`, empty if it never had one.
    pub async fn lane(&self, stream: &str) -> anyhow::Result<ReplayLane> {
        let stream = StreamId::parse(stream, "streamId").map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(self
            .store
            .lane(&domain::LaneKey::Stream(stream))
            .await
            .map_err(|err| anyhow::anyhow!("reading the lane: {err}"))?
            .map(|stored| stored.lane)
            .unwrap_or_default())
    }

    /// A moto API call with the JSON protocol (DynamoDB Streams speaks it).
    async fn aws_json(&self, service: &str, target: &str, body: Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(&self.endpoint)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", target)
            .header("authorization", fake_authorization(service))
            .body(body.to_string())
            .send()
            .await
            .with_context(|| format!("{target} on moto"))?;
        let status = response.status();
        let text = response.text().await.context("reading moto's answer")?;
        ensure!(status.is_success(), "{target}: {status} {text}");
        serde_json::from_str(&text).with_context(|| format!("{target} answered {text}"))
    }

    /// Every record of the events table's DynamoDB stream so far, as
    /// Lambda's event source mapping delivers them (DynamoDB JSON images).
    pub async fn stream_records(&self) -> anyhow::Result<Vec<Value>> {
        let table = self
            .aws_json(
                "dynamodb",
                "DynamoDB_20120810.DescribeTable",
                json!({"TableName": self.tables.events}),
            )
            .await?;
        let stream_arn = table["Table"]["LatestStreamArn"]
            .as_str()
            .context("the events table has no stream")?
            .to_owned();
        let stream = self
            .aws_json(
                "dynamodb",
                "DynamoDBStreams_20120810.DescribeStream",
                json!({"StreamArn": stream_arn}),
            )
            .await?;
        let mut records = Vec::new();
        let shards = stream["StreamDescription"]["Shards"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for shard in shards {
            let iterator = self
                .aws_json(
                    "dynamodb",
                    "DynamoDBStreams_20120810.GetShardIterator",
                    json!({"StreamArn": stream_arn, "ShardId": shard["ShardId"], "ShardIteratorType": "TRIM_HORIZON"}),
                )
                .await?;
            let page = self
                .aws_json(
                    "dynamodb",
                    "DynamoDBStreams_20120810.GetRecords",
                    json!({"ShardIterator": iterator["ShardIterator"], "Limit": 1000}),
                )
                .await?;
            for mut record in page["Records"].as_array().cloned().unwrap_or_default() {
                record["eventSourceARN"] = Value::String(stream_arn.clone());
                records.push(record);
            }
        }
        Ok(records)
    }

    /// Creates a Lambda function on moto (and the IAM role it demands), so
    /// an `Invoke` of it succeeds; moto does not run its code.
    pub async fn create_lambda_function(&self, name: &str) -> anyhow::Result<()> {
        let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
        let role_name = format!("{name}-role");
        let form: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("Action", "CreateRole")
            .append_pair("Version", "2010-05-08")
            .append_pair("RoleName", &role_name)
            .append_pair("AssumeRolePolicyDocument", &policy.to_string())
            .finish();
        let response = self
            .http
            .post(&self.endpoint)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", fake_authorization("iam"))
            .body(form)
            .send()
            .await
            .context("IAM CreateRole on moto")?;
        let status = response.status();
        ensure!(
            status.is_success(),
            "CreateRole: {status} {}",
            response.text().await.unwrap_or_default()
        );
        // An empty zip archive: its end-of-central-directory record alone.
        let mut empty_zip = b"PK\x05\x06".to_vec();
        empty_zip.resize(22, 0);
        use base64::Engine;
        let function = json!({
            "FunctionName": name,
            "Runtime": "provided.al2023",
            "Architectures": ["arm64"],
            "Handler": "bootstrap",
            "Role": format!("arn:aws:iam::{MOTO_ACCOUNT}:role/{role_name}"),
            "Code": {"ZipFile": base64::engine::general_purpose::STANDARD.encode(&empty_zip)},
        });
        let response = self
            .http
            .post(format!("{}/2015-03-31/functions", self.endpoint))
            .header("content-type", "application/json")
            .header("authorization", fake_authorization("lambda"))
            .body(function.to_string())
            .send()
            .await
            .context("Lambda CreateFunction on moto")?;
        let status = response.status();
        ensure!(
            status.is_success(),
            "CreateFunction: {status} {}",
            response.text().await.unwrap_or_default()
        );
        Ok(())
    }
}

/// moto routes a request by the service in its credential scope and checks
/// no signature.
fn fake_authorization(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=test/20260101/{REGION}/{service}/aws4_request, SignedHeaders=host, Signature=0"
    )
}

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

fn new_stream_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn item(id: &str, amount: u64) -> Value {
    json!({"itemId": id, "amount": amount})
}

fn items_json(items: &[ItemView]) -> Value {
    serde_json::to_value(items).unwrap_or(Value::Null)
}

/// Runs the check of `function` against moto at `endpoint`.
pub async fn check(function: Function, launch: &Launch, endpoint: &str) -> anyhow::Result<Report> {
    let fixture = Fixture::new(endpoint, function.name()).await?;
    match function {
        Function::AddEvent => check_add_event(&fixture, launch).await,
        Function::ListItems => check_list_items(&fixture, launch).await,
        Function::TriggerReplay => check_trigger_replay(&fixture, launch).await,
        Function::ReplayStatus => check_replay_status(&fixture, launch).await,
        Function::Projector => check_projector(&fixture, launch).await,
        Function::Replay => check_replay(&fixture, launch).await,
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
    let route = function
        .route()
        .with_context(|| format!("{function} serves no route"))?;
    let fixture = Fixture::new(endpoint, &format!("{}-trace", function.name())).await?;
    let mut running = fixture
        .start(
            launch,
            function.name(),
            &[
                ("RUST_LOG", "trace,lambda_runtime=trace".to_owned()),
                ("REPLAY_FUNCTION_NAME", crate::unique_name("absent")),
            ],
        )
        .await?;
    let body = json!({"streamId": new_stream_id(), "type": "ITEM_CREATED", "data": item("k", 1), "fromEventId": 0});
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

/// 201 and the event in the log; 409 for a rule violation; 400 for bad
/// input, with nothing stored on either.
async fn check_add_event(fixture: &Fixture, launch: &Launch) -> anyhow::Result<Report> {
    let mut function = fixture.start(launch, "add-event", &[]).await?;
    let stream = new_stream_id();
    let created = json!({"streamId": stream, "type": "ITEM_CREATED", "data": item("a", 5)});
    let (status, body) = function
        .http(&proxy_event(Route::AddEvent, &[], Some(&created)))
        .await?;
    ensure!(status == 201, "expected 201, got {status} {body}");
    ensure!(
        body["streamId"] == stream.as_str() && body["eventId"] == 0,
        "unexpected body {body}"
    );
    ensure!(body["timestamp"].is_string(), "no timestamp in {body}");

    let (status, body) = function
        .http(&proxy_event(Route::AddEvent, &[], Some(&created)))
        .await?;
    ensure!(
        status == 409,
        "creating a live item again: expected 409, got {status} {body}"
    );
    let (status, body) = function
        .http(&proxy_event(
            Route::AddEvent,
            &[],
            Some(&json!({"streamId": stream, "type": "NOPE"})),
        ))
        .await?;
    ensure!(
        status == 400 && body["error"]["code"].is_string(),
        "bad input: expected 400 with an error, got {status} {body}"
    );

    let events = fixture.log(&stream).await?;
    ensure!(
        events.len() == 1,
        "expected exactly the one accepted event in the log, found {events:?}"
    );
    let stored = events[0].event.data();
    ensure!(
        events[0].event.event_type().as_str() == "ITEM_CREATED" && stored == item("a", 5),
        "the log holds {:?}",
        events[0]
    );
    Ok(function.report())
}

/// 200 and the stream's live items, sorted; the default stream is empty.
async fn check_list_items(fixture: &Fixture, launch: &Launch) -> anyhow::Result<Report> {
    let stream = new_stream_id();
    fixture
        .append(
            &stream,
            &[
                ("ITEM_CREATED", item("b", 2)),
                ("ITEM_CREATED", item("a", 1)),
                ("ITEM_AMOUNT_CHANGED", item("a", 7)),
                ("ITEM_CREATED", item("c", 3)),
                ("ITEM_DELETED", json!({"itemId": "c"})),
            ],
        )
        .await?;
    fixture.project(&stream).await?;

    let mut function = fixture.start(launch, "list-items", &[]).await?;
    let (status, body) = function
        .http(&proxy_event(
            Route::ListItems,
            &[("streamId", &stream)],
            None,
        ))
        .await?;
    ensure!(status == 200, "expected 200, got {status} {body}");
    let expected = json!({"items": [item("a", 7), item("b", 2)]});
    ensure!(body == expected, "expected {expected}, got {body}");

    let (status, body) = function
        .http(&proxy_event(Route::ListItems, &[], None))
        .await?;
    ensure!(
        status == 200 && body == json!({"items": []}),
        "the default stream: expected 200 and no items, got {status} {body}"
    );
    Ok(function.report())
}

/// 503 while the replay function does not exist (the dispatch really
/// calls Lambda), and that replay recorded failed; 202 with a replay id
/// once it does; a second trigger while the first holds the stream is
/// queued behind it (202, another id); 400 for bad input.
async fn check_trigger_replay(fixture: &Fixture, launch: &Launch) -> anyhow::Result<Report> {
    let replay_function = crate::unique_name("replay");
    let mut function = fixture
        .start(
            launch,
            "trigger-replay",
            &[("REPLAY_FUNCTION_NAME", replay_function.clone())],
        )
        .await?;
    let stream = new_stream_id();
    let request = json!({"streamId": stream, "fromEventId": 0});
    let event = proxy_event(Route::TriggerReplay, &[], Some(&request));

    let (status, body) = function.http(&event).await?;
    ensure!(
        status == 503,
        "the replay function does not exist yet: expected 503, got {status} {body}"
    );
    let lane = fixture.lane(&stream).await?;
    ensure!(
        lane.running.is_none() && lane.queued.is_none(),
        "a replay that could not start leaves the stream free: {lane:?}"
    );

    fixture.create_lambda_function(&replay_function).await?;
    let (status, body) = function.http(&event).await?;
    ensure!(status == 202, "expected 202, got {status} {body}");
    let replay_id = body["replayId"].as_str().unwrap_or_default().to_owned();
    ensure!(
        uuid::Uuid::parse_str(&replay_id).is_ok()
            && body["streamId"] == stream.as_str()
            && body["fromEventId"] == 0,
        "unexpected body {body}"
    );
    let started = fixture.job(&replay_id).await?;
    ensure!(
        started.state == ReplayState::Queued,
        "the started replay is recorded queued until its run reports: {started:?}"
    );

    // moto runs no code: the first replay holds the stream's lane.
    let (status, queued) = function.http(&event).await?;
    ensure!(
        status == 202 && queued["replayId"] != replay_id.as_str(),
        "a trigger while a replay holds the stream: expected 202 with a queued replay, got {status} {queued}"
    );
    let lane = fixture.lane(&stream).await?;
    ensure!(
        lane.running.map(|entry| entry.replay_id) == Some(replay_id.clone())
            && lane.queued.map(|entry| entry.replay_id).as_deref() == queued["replayId"].as_str(),
        "the first replay runs and the second waits behind it"
    );

    let (status, body) = function
        .http(&proxy_event(
            Route::TriggerReplay,
            &[],
            Some(&json!({"streamId": stream, "fromEventId": -1})),
        ))
        .await?;
    ensure!(
        status == 400,
        "bad input: expected 400, got {status} {body}"
    );
    Ok(function.report())
}

/// 200 with the state of a recorded replay; 404 for an unknown id; 400
/// without an id.
async fn check_replay_status(fixture: &Fixture, launch: &Launch) -> anyhow::Result<Report> {
    let stream = new_stream_id();
    let replay_id = uuid::Uuid::new_v4().to_string();
    let scope = domain::ReplayScope::Stream(domain::ReplayTarget {
        stream_id: StreamId::parse(stream.as_str(), "streamId")
            .map_err(|err| anyhow::anyhow!("{err}"))?,
        from_event_id: EventId::new(3),
    });
    // Its lane held for a while yet: the status read has nothing to resume.
    domain::jobs::admit(&fixture.store, &replay_id, &scope, chrono::Utc::now())
        .await
        .map_err(|err| anyhow::anyhow!("recording a replay: {err}"))?;

    let mut function = fixture.start(launch, "replay-status", &[]).await?;
    let (status, body) = function
        .http(&proxy_event(
            Route::ReplayStatus,
            &[("replayId", &replay_id)],
            None,
        ))
        .await?;
    ensure!(
        status == 200
            && body["replayId"] == replay_id.as_str()
            && body["streamId"] == stream.as_str()
            && body["fromEventId"] == 3
            && body["state"] == "queued"
            && body["eventsApplied"] == 0,
        "expected the queued replay, got {status} {body}"
    );
    let unknown = uuid::Uuid::new_v4().to_string();
    let (status, body) = function
        .http(&proxy_event(
            Route::ReplayStatus,
            &[("replayId", &unknown)],
            None,
        ))
        .await?;
    ensure!(
        status == 404 && body["error"]["code"] == "REPLAY_NOT_FOUND",
        "an unknown id: expected 404, got {status} {body}"
    );
    let (status, body) = function
        .http(&proxy_event(Route::ReplayStatus, &[], None))
        .await?;
    ensure!(
        status == 400 && body["error"]["field"] == "replayId",
        "no id: expected 400 naming replayId, got {status} {body}"
    );
    Ok(function.report())
}

/// Real stream records (read from moto's DynamoDB Streams) in; no failures
/// out; the read model holds the fold. A repeated batch changes nothing.
async fn check_projector(fixture: &Fixture, launch: &Launch) -> anyhow::Result<Report> {
    let stream = new_stream_id();
    fixture
        .append(
            &stream,
            &[
                ("ITEM_CREATED", item("x", 10)),
                ("ITEM_CREATED", item("y", 20)),
                ("ITEM_AMOUNT_CHANGED", item("x", 11)),
                ("ITEM_DELETED", json!({"itemId": "y"})),
            ],
        )
        .await?;
    let records = fixture.stream_records().await?;
    ensure!(
        records.len() == 4,
        "expected 4 stream records, got {}",
        records.len()
    );
    let event = json!({"Records": records});

    let mut function = fixture.start(launch, "projector", &[]).await?;
    for attempt in ["first", "repeated"] {
        let response = function.respond(&event).await?;
        ensure!(
            response["batchItemFailures"] == json!([]),
            "{attempt} batch: expected no failures, got {response}"
        );
        let items = items_json(&fixture.items(&stream).await?);
        ensure!(
            items == json!([item("x", 11)]),
            "{attempt} batch: the read model holds {items}"
        );
    }
    Ok(function.report())
}

/// A replay from 0 rebuilds a stream's read model that is wrong (stale,
/// with an item the log deleted) to the fold of the log.
async fn check_replay(fixture: &Fixture, launch: &Launch) -> anyhow::Result<Report> {
    let stream = new_stream_id();
    fixture
        .append(
            &stream,
            &[
                ("ITEM_CREATED", item("p", 1)),
                ("ITEM_CREATED", item("q", 2)),
            ],
        )
        .await?;
    fixture.project(&stream).await?;
    // Events the projector never saw: the read model is now behind.
    fixture
        .append(
            &stream,
            &[
                ("ITEM_AMOUNT_CHANGED", item("p", 9)),
                ("ITEM_DELETED", json!({"itemId": "q"})),
                ("ITEM_CREATED", item("r", 3)),
            ],
        )
        .await?;
    let stale = items_json(&fixture.items(&stream).await?);
    ensure!(
        stale == json!([item("p", 1), item("q", 2)]),
        "seeding: {stale}"
    );

    let mut function = fixture.start(launch, "replay", &[]).await?;
    // Triggered as POST /triggerReplay does: the replay holds the lane.
    let replay_id = crate::unique_name("replay");
    let scope = domain::ReplayScope::Stream(domain::ReplayTarget {
        stream_id: StreamId::parse(stream.as_str(), "streamId")
            .map_err(|err| anyhow::anyhow!("{err}"))?,
        from_event_id: EventId::new(0),
    });
    let admitted = domain::jobs::admit(&fixture.store, &replay_id, &scope, chrono::Utc::now())
        .await
        .map_err(|err| anyhow::anyhow!("recording the replay: {err}"))?;
    let request = admitted
        .start
        .context("a fresh stream's lane is free, so its replay starts")?;
    let report = function.respond(&serde_json::to_value(&request)?).await?;
    ensure!(
        report["eventsApplied"] == 5 && report["state"] == "done",
        "expected the replay to apply 5 events and finish, got {report}"
    );
    let recorded = fixture.job(&request.replay_id).await?;
    ensure!(
        recorded.state == ReplayState::Done && fixture.lane(&stream).await?.running.is_none(),
        "the job is recorded done and the stream free: {recorded:?}"
    );
    let rebuilt = items_json(&fixture.items(&stream).await?);
    ensure!(
        rebuilt == json!([item("p", 9), item("r", 3)]),
        "the replayed read model holds {rebuilt}"
    );

    match function
        .invoke(&json!({"replayId": "x", "streamId": ""}))
        .await?
    {
        Outcome::Error { .. } => {}
        Outcome::Response(value) => bail!("an invalid replay request succeeded: {value}"),
    }
    Ok(function.report())
}

/// `VmHWM` of a live process, in KiB (Linux only; `None` elsewhere).
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
}
