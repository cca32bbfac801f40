//! The deployer against moto's CloudFormation, S3, Lambda, DynamoDB, SQS,
//! API Gateway and CloudWatch Logs: what deploy creates, that an unchanged
//! deploy touches nothing, code updates (through the stack and hotswapped),
//! diff, and destroy with and without the data.
//!
//! moto 5.2.5 accepts AWS::Lambda::EventInvokeConfig and
//! AWS::ApiGateway::Account in a template but does not create them, and
//! skips AWS::ApiGateway::Stage (so the stage's access log setting too):
//! the replay's failure destination and the access log are checked on the
//! template (`template.rs`, and cfn-lint in `external.rs`), not here.
//!
//! The packages are small zips of made-up bytes: moto stores code without
//! running it, and the real binaries are deployed by `cargo xtask test`'s
//! arm64 step.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use deployer::build::{Arch, Artifact, Manifest, package};
use deployer::cfn::Template;
use deployer::deploy::destroy::{Destroyed, Question, destroy};
use deployer::deploy::progress::Progress;
use deployer::deploy::stacks;
use deployer::deploy::wait::Waits;
use deployer::deploy::{Aws, DeployOptions, DeployRequest, InFlight, Outcome, deploy, diff};
use deployer::overview::Code;
use deployer::stack::{
    API_URL_OUTPUT, ARTIFACT_BUCKET_ID, FAILURE_QUEUE_ID, Function, STAGE_NAME, Table,
    data_stack_name,
};
use deployer::stack::{FunctionResources, TableResources};
use deployer::{StackOptions, app_stack};
use domain::{
    Amount, AppendCommand, DomainEvent, EventId, EventStore, ItemId, ParkedRecord, ParkedRecords,
    StreamId,
};
use service::api::{DEFAULT_TEST_STREAM_ID, Route};
use service::dynamo::{DynamoStore, TableNames, ensure_tables};
use tempfile::TempDir;

const API_KEY: &str = "deploy-test-key-0123456789abcdef";

pub(crate) fn options() -> DeployOptions {
    DeployOptions {
        waits: Waits::for_emulator(),
        ..DeployOptions::default()
    }
}

/// One test's stack on the emulator, under a name no other test uses,
/// and what the engine needs and says while it works on it.
pub(crate) struct Emulated {
    pub aws: Aws,
    pub stack: String,
    pub template: Template,
    /// Where the builds' packages are written.
    dir: TempDir,
    pub progress: Progress,
    pub in_flight: InFlight,
}

impl Emulated {
    pub async fn new(label: &str) -> Emulated {
        Emulated::on(testkit::moto::shared_endpoint(), label).await
    }

    /// On the emulator at `endpoint`, under the deployment name `stack`.
    pub async fn named(endpoint: &str, stack: &str) -> Emulated {
        let config = service::aws::sdk_config_for_endpoint(endpoint).await;
        let stack = stack.to_owned();
        Emulated {
            aws: Aws::new(&config).expect("clients"),
            template: app_stack(&StackOptions {
                stack_name: stack.clone(),
                ..StackOptions::default()
            }),
            stack,
            dir: tempfile::tempdir().expect("temp dir"),
            progress: Progress::recorded(),
            in_flight: InFlight::default(),
        }
    }

    /// On the emulator at `endpoint`, under a name no other test uses.
    pub async fn on(endpoint: &str, label: &str) -> Emulated {
        let stack = format!("evs-{label}-{}", uuid::Uuid::new_v4().simple())[..30].to_owned();
        Emulated::named(endpoint, &stack).await
    }

    /// A build with the functions at `versions` (1 when not named).
    pub fn build(&self, versions: &[(&str, u32)]) -> Manifest {
        manifest(self.dir.path(), &versions.iter().copied().collect())
    }

    pub fn request<'a>(&'a self, manifest: &'a Manifest) -> DeployRequest<'a> {
        DeployRequest {
            stack_name: &self.stack,
            template: &self.template,
            manifest,
            api_key: API_KEY,
            test_stream_id: DEFAULT_TEST_STREAM_ID,
            confirm: &|_| Ok(false),
        }
    }

    pub async fn deploy(
        &self,
        manifest: &Manifest,
        options: &DeployOptions,
    ) -> anyhow::Result<Outcome> {
        let request = self.request(manifest);
        deploy(
            &self.aws,
            &request,
            options,
            &self.progress,
            &self.in_flight,
        )
        .await
    }

    /// Destroys the stack, answering every question with `confirm`.
    pub async fn destroy(
        &self,
        delete_data: bool,
        confirm: &mut dyn FnMut(&Question) -> anyhow::Result<bool>,
    ) -> anyhow::Result<Destroyed> {
        destroy(
            &self.aws,
            &self.stack,
            delete_data,
            confirm,
            &options(),
            &self.progress,
            &self.in_flight,
        )
        .await
    }

    /// The app stack's resources, and its data stack's (the event store's
    /// tables), by logical ID: no ID is in both.
    pub async fn physical_ids(&self) -> BTreeMap<String, String> {
        let mut ids = stacks::physical_ids(&self.aws.cloudformation, &self.stack)
            .await
            .expect("stack resources");
        let data = self.data_physical_ids().await;
        for (id, physical) in data {
            assert!(ids.insert(id.clone(), physical).is_none(), "{id} in both");
        }
        ids
    }

    pub async fn data_physical_ids(&self) -> BTreeMap<String, String> {
        stacks::physical_ids(&self.aws.cloudformation, &data_stack_name(&self.stack))
            .await
            .expect("data stack resources")
    }

    pub async fn exists(&self) -> bool {
        stacks::describe(&self.aws.cloudformation, &self.stack)
            .await
            .expect("describe")
            .is_some()
    }

    pub async fn data_exists(&self) -> bool {
        stacks::describe(&self.aws.cloudformation, &data_stack_name(&self.stack))
            .await
            .expect("describe")
            .is_some()
    }

    pub async fn deployed_template(&self) -> String {
        stacks::deployed_template(&self.aws.cloudformation, &self.stack)
            .await
            .expect("template")
    }

    pub async fn event_count(&self) -> usize {
        self.aws
            .cloudformation
            .describe_stack_events()
            .stack_name(&self.stack)
            .send()
            .await
            .expect("stack events")
            .stack_events()
            .len()
    }
}

/// A build whose packages are zips of `bootstrap` files holding
/// `<function>-<version>`: a new version is new code.
pub(crate) fn manifest(dir: &Path, versions: &BTreeMap<&str, u32>) -> Manifest {
    let mut functions = BTreeMap::new();
    for function in Function::ALL {
        let version = versions.get(function.name()).copied().unwrap_or(1);
        let zip = package::zip_bootstrap(format!("{}-{version}", function.name()).as_bytes())
            .expect("zip");
        let sha256 = package::sha256_hex(&zip);
        let path = dir.join(format!("{}-{sha256}.zip", function.name()));
        std::fs::write(&path, &zip).expect("write the zip");
        functions.insert(
            function.name().to_owned(),
            Artifact {
                path,
                key: format!("{}/{sha256}.zip", function.name()),
                size: zip.len() as u64,
                sha256,
                linkage: "test".to_owned(),
            },
        );
    }
    Manifest {
        arch: Arch::Arm64,
        target: Arch::Arm64.triple().to_owned(),
        linker: "test".to_owned(),
        functions,
    }
}

/// Lambda's CodeSha256: the base64 of the zip's SHA-256.
fn code_sha256(artifact: &Artifact) -> String {
    let bytes: Vec<u8> = (0..artifact.sha256.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&artifact.sha256[i..i + 2], 16).expect("hex"))
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

async fn function_code_sha(aws: &Aws, name: &str) -> String {
    aws.lambda
        .get_function()
        .function_name(name)
        .send()
        .await
        .unwrap_or_else(|err| panic!("function {name}: {err:?}"))
        .configuration()
        .and_then(|c| c.code_sha256())
        .expect("a code hash")
        .to_owned()
}

/// SQS `GetQueueAttributes` (all of them) of the queue at `url`, through
/// SQS's JSON protocol (the deployer itself never calls SQS); `None` when
/// there is no such queue.
async fn queue_attributes(url: &str) -> Option<BTreeMap<String, String>> {
    let endpoint = testkit::moto::shared_endpoint();
    let response = reqwest::Client::new()
        .post(endpoint)
        .header("x-amz-target", "AmazonSQS.GetQueueAttributes")
        .header("content-type", "application/x-amz-json-1.0")
        // moto routes by the credential scope and checks no signature.
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(serde_json::json!({"QueueUrl": url, "AttributeNames": ["All"]}).to_string())
        .send()
        .await
        .expect("SQS answers");
    if !response.status().is_success() {
        let body = response.text().await.unwrap_or_default();
        // The JSON protocol's name for AWS.SimpleQueueService.NonExistentQueue.
        assert!(body.contains("QueueDoesNotExist"), "{body}");
        return None;
    }
    let body: serde_json::Value = response.json().await.expect("JSON");
    serde_json::from_value(body["Attributes"].clone()).ok()
}

/// The physical names of the tables the template keeps.
pub(crate) fn retained_tables(ids: &BTreeMap<String, String>) -> Vec<String> {
    Table::ALL
        .into_iter()
        .filter(|t| t.is_retained())
        .map(|t| ids[t.logical_id().as_str()].clone())
        .collect()
}

pub(crate) fn always(answer: bool) -> impl FnMut(&Question) -> anyhow::Result<bool> {
    move |_| Ok(answer)
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_update_hotswap_diff_and_destroy_keeping_the_data() {
    let emulated = Emulated::new("life").await;
    let (aws, stack) = (&emulated.aws, &emulated.stack);
    let first = emulated.build(&[]);

    // A first deploy creates everything.
    let outcome = emulated
        .deploy(&first, &options())
        .await
        .expect("the first deploy");
    let Outcome::Deployed { outputs } = outcome else {
        panic!("expected a deploy, got {outcome:?}");
    };
    let ids = emulated.physical_ids().await;
    let rest_api = &ids[deployer::stack::API_ID];
    assert_eq!(
        outputs.get(API_URL_OUTPUT),
        Some(&format!(
            "https://{rest_api}.execute-api.us-east-1.amazonaws.com/{STAGE_NAME}"
        )),
        "{outputs:?}"
    );
    let lines = emulated.progress.lines().join("\n");
    assert!(!lines.contains(API_KEY), "the key was printed:\n{lines}");
    assert!(lines.contains("artifact bucket"), "{lines}");

    // Tables: keyed as the adapter expects; only the event store streams.
    let mut stream_arn = None;
    for table in Table::ALL {
        let name = &ids[table.logical_id().as_str()];
        let described = aws
            .dynamodb
            .describe_table()
            .table_name(name)
            .send()
            .await
            .unwrap_or_else(|err| panic!("table {name}: {err:?}"));
        let description = described.table().expect("a table");
        let streams = description
            .stream_specification()
            .is_some_and(|s| s.stream_enabled());
        assert_eq!(streams, table == Table::Events, "{name}");
        // The event store refuses a stray DeleteTable (destroy
        // --delete-data below turns that off first).
        assert_eq!(
            description.deletion_protection_enabled(),
            Some(table.is_retained()),
            "{name}"
        );
        if table == Table::Events {
            stream_arn = description.latest_stream_arn().map(str::to_owned);
        }
    }
    let stream_arn = stream_arn.expect("the event store's stream");
    // The adapter's own check finds the keys it would have created.
    let name = |table: Table| ids[table.logical_id().as_str()].clone();
    let deployed = TableNames {
        events: name(Table::Events),
        stream_index: name(Table::StreamIndex),
        read_model: name(Table::ReadModel),
        replays: name(Table::Replays),
    };
    ensure_tables(&aws.dynamodb, &deployed)
        .await
        .expect("the deployed tables are keyed as the adapter expects");
    // Events that must outlive a destroy.
    let kept = DynamoStore::new(aws.dynamodb.clone(), deployed.clone());
    let kept_stream = StreamId::parse("kept", "streamId").expect("a stream id");
    let item = ItemId::parse("a", "itemId").expect("an item id");
    for (n, event) in [
        DomainEvent::ItemCreated {
            item_id: item.clone(),
            amount: Amount::new(1).expect("an amount"),
        },
        DomainEvent::ItemAmountChanged {
            item_id: item.clone(),
            amount: Amount::new(2).expect("an amount"),
        },
        DomainEvent::ItemAmountChanged {
            item_id: item,
            amount: Amount::new(3).expect("an amount"),
        },
    ]
    .into_iter()
    .enumerate()
    {
        let appended = kept
            .append(
                &AppendCommand::new(kept_stream.clone(), event, None),
                chrono::Utc::now(),
            )
            .await
            .expect("an append");
        assert_eq!(appended.event_id, EventId::new(n as u64));
    }

    // Functions: code from the build, table names in the environment.
    for function in Function::ALL {
        let name = &ids[function.logical_id().as_str()];
        assert_eq!(name, &format!("{stack}-{}", function.name()));
        let configuration = aws
            .lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .unwrap_or_else(|err| panic!("function {name}: {err:?}"));
        assert_eq!(configuration.handler(), Some("bootstrap"));
        assert_eq!(
            configuration.runtime().map(|r| r.as_str()),
            Some("provided.al2023")
        );
        assert_eq!(
            configuration.code_sha256(),
            Some(code_sha256(&first.functions[function.name()]).as_str()),
            "{name}"
        );
        let variables = configuration
            .environment()
            .and_then(|e| e.variables())
            .cloned()
            .unwrap_or_default();
        for table in Table::ALL {
            assert_eq!(
                variables.get(table.env_var()),
                Some(&ids[table.logical_id().as_str()]),
                "{name}: {variables:?}"
            );
        }
    }

    // The projector reads the event store's stream.
    let projector = &ids[Function::Projector.logical_id().as_str()];
    let mappings = aws
        .lambda
        .list_event_source_mappings()
        .function_name(projector)
        .send()
        .await
        .expect("mappings");
    let sources: Vec<_> = mappings
        .event_source_mappings()
        .iter()
        .filter_map(|m| m.event_source_arn())
        .collect();
    assert_eq!(sources, vec![stream_arn.as_str()]);

    // The failure queue: 14 days, encrypted, and where the mapping sends
    // what it gives up on, after retrying until an hour before the
    // stream's 24 hours.
    let queue_url = &ids[FAILURE_QUEUE_ID];
    let queue = queue_attributes(queue_url)
        .await
        .expect("the failure queue exists");
    assert_eq!(queue["MessageRetentionPeriod"], "1209600", "{queue:?}");
    assert_eq!(queue["SqsManagedSseEnabled"], "true", "{queue:?}");
    let queue_arn = &queue["QueueArn"];
    let uuid = mappings.event_source_mappings()[0]
        .uuid()
        .expect("the mapping's id");
    let mapping = aws
        .lambda
        .get_event_source_mapping()
        .uuid(uuid)
        .send()
        .await
        .expect("the mapping");
    assert_eq!(
        mapping
            .destination_config()
            .and_then(|d| d.on_failure())
            .and_then(|f| f.destination()),
        Some(queue_arn.as_str()),
        "{mapping:?}"
    );
    assert_eq!(mapping.maximum_retry_attempts(), Some(-1));
    assert_eq!(
        mapping.maximum_record_age_in_seconds(),
        Some(deployer::stack::PROJECTOR_MAX_RECORD_AGE_SECONDS)
    );
    assert_eq!(mapping.bisect_batch_on_function_error(), Some(true));
    assert_eq!(
        mapping
            .function_response_types()
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>(),
        ["ReportBatchItemFailures"]
    );
    // Replays are capped at REPLAY_CONCURRENCY's default.
    let replay = &ids[Function::Replay.logical_id().as_str()];
    let concurrency = aws
        .lambda
        .get_function_concurrency()
        .function_name(replay)
        .send()
        .await
        .expect("the replay's concurrency");
    assert_eq!(concurrency.reserved_concurrent_executions(), Some(5));

    // API Gateway may invoke each API function.
    for function in [
        Function::AddEvent,
        Function::ListItems,
        Function::TriggerReplay,
    ] {
        let name = &ids[function.logical_id().as_str()];
        let policy = aws
            .lambda
            .get_policy()
            .function_name(name)
            .send()
            .await
            .unwrap_or_else(|err| panic!("policy of {name}: {err:?}"));
        let policy = policy.policy().unwrap_or_default();
        assert!(
            policy.contains("apigateway.amazonaws.com") && policy.contains(rest_api.as_str()),
            "{name}: {policy}"
        );
    }

    // One log group per function, with a retention period.
    let sdk = service::aws::sdk_config_for_endpoint(testkit::moto::shared_endpoint()).await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    for function in Function::ALL {
        let group = format!("/aws/lambda/{stack}-{}", function.name());
        let found = logs
            .describe_log_groups()
            .log_group_name_prefix(&group)
            .send()
            .await
            .expect("log groups");
        let retention = found
            .log_groups()
            .iter()
            .find(|g| g.log_group_name() == Some(group.as_str()))
            .and_then(|g| g.retention_in_days());
        assert_eq!(retention, Some(30), "{group}");
    }
    // The stage's access log group, kept as long (moto creates the group,
    // though not the stage that writes to it).
    let access_group = format!("/aws/apigateway/{stack}/access");
    let found = logs
        .describe_log_groups()
        .log_group_name_prefix(&access_group)
        .send()
        .await
        .expect("log groups");
    assert_eq!(
        found
            .log_groups()
            .iter()
            .find(|g| g.log_group_name() == Some(access_group.as_str()))
            .and_then(|g| g.retention_in_days()),
        Some(30),
        "{access_group}"
    );

    // The REST API: every route of `Route::ALL`, each a Lambda proxy
    // integration.
    let apigateway = aws_sdk_apigateway::Client::new(&sdk);
    let resources = apigateway
        .get_resources()
        .rest_api_id(rest_api)
        .send()
        .await
        .expect("API resources");
    let mut routes = Vec::new();
    for resource in resources.items() {
        let path = resource.path().unwrap_or_default();
        for method in resource
            .resource_methods()
            .map(|m| m.keys())
            .into_iter()
            .flatten()
        {
            let integration = apigateway
                .get_integration()
                .rest_api_id(rest_api)
                .resource_id(resource.id().unwrap_or_default())
                .http_method(method)
                .send()
                .await
                .expect("integration");
            assert_eq!(
                integration.r#type().map(|t| t.as_str()),
                Some("AWS_PROXY"),
                "{method} {path}"
            );
            routes.push(format!("{method} {path}"));
        }
    }
    routes.sort();
    let mut declared: Vec<String> = Route::ALL
        .iter()
        .map(|route| format!("{} /{}", route.method(), route.path_part()))
        .collect();
    declared.sort();
    assert_eq!(routes, declared);
    assert!(routes.contains(&"POST /addEvent".to_owned()), "{routes:?}");

    // The same deploy again: no changes, and the stack is not touched.
    let events_before = emulated.event_count().await;
    let outcome = emulated
        .deploy(&first, &options())
        .await
        .expect("the unchanged deploy");
    assert_eq!(outcome, Outcome::NoChanges);
    assert_eq!(emulated.event_count().await, events_before);

    // status: both stacks, the deployed code against builds, the mapping,
    // and what the projector parked.
    let second = emulated.build(&[("add-event", 2)]);
    let overview = deployer::overview::overview(aws, stack, Some(&second))
        .await
        .expect("the overview");
    assert!(overview.app.status.is_some() && overview.data.status.is_some());
    assert_eq!(overview.data.name, data_stack_name(stack));
    assert_eq!(overview.api_url, outputs.get(API_URL_OUTPUT).cloned());
    for (function, code) in &overview.functions {
        let expected = if function == "add-event" {
            Code::Differs
        } else {
            Code::Current
        };
        assert_eq!(*code, expected, "{function}");
    }
    assert!(overview.mapping.is_some(), "{overview:?}");
    assert_eq!(overview.parked_count, 0);
    let parked = ParkedRecord::new("arn:stream#42", "does not decode", "{}", chrono::Utc::now());
    kept.park(&parked).await.expect("park a record");
    let overview = deployer::overview::overview(aws, stack, None)
        .await
        .expect("the overview");
    assert_eq!(overview.parked_count, 1);
    assert!(
        overview
            .functions
            .values()
            .all(|code| *code == Code::NotCompared)
    );
    let screen = deployer::overview::render(&overview);
    assert!(
        screen.contains("arn:stream#42") && screen.contains("does not decode"),
        "{screen}"
    );

    // New code for one function goes through the stack.
    let outcome = emulated
        .deploy(&second, &options())
        .await
        .expect("the code update");
    assert!(matches!(outcome, Outcome::Deployed { .. }), "{outcome:?}");
    assert!(emulated.event_count().await > events_before);
    let add_event = &ids[Function::AddEvent.logical_id().as_str()];
    assert_eq!(
        function_code_sha(aws, add_event).await,
        code_sha256(&second.functions["add-event"])
    );

    // --hotswap: new code for another function, and no stack update.
    let third = emulated.build(&[("add-event", 2), ("list-items", 3)]);
    let events_before = emulated.event_count().await;
    let hotswap = DeployOptions {
        hotswap: true,
        ..options()
    };
    let outcome = emulated
        .deploy(&third, &hotswap)
        .await
        .expect("the hotswap");
    assert_eq!(
        outcome,
        Outcome::Hotswapped {
            functions: vec!["list-items".to_owned()]
        }
    );
    assert_eq!(emulated.event_count().await, events_before);
    let list_items = &ids[Function::ListItems.logical_id().as_str()];
    assert_eq!(
        function_code_sha(aws, list_items).await,
        code_sha256(&third.functions["list-items"])
    );
    assert!(
        emulated
            .progress
            .lines()
            .iter()
            .any(|l| l.contains("drifts")),
        "no drift warning"
    );

    // diff: shows a template change and changes nothing.
    let traced = app_stack(&StackOptions {
        stack_name: stack.clone(),
        tracing: true,
        ..StackOptions::default()
    });
    let template_before = emulated.deployed_template().await;
    let changes = diff(
        aws,
        &DeployRequest {
            template: &traced,
            ..emulated.request(&third)
        },
        &options(),
        &emulated.progress,
        &emulated.in_flight,
    )
    .await
    .expect("diff");
    assert!(!changes.is_empty(), "tracing changes the functions");
    assert_eq!(emulated.event_count().await, events_before);
    assert_eq!(emulated.deployed_template().await, template_before);

    // A declined destroy changes nothing.
    let declined = emulated
        .destroy(false, &mut always(false))
        .await
        .expect("declined destroy");
    assert_eq!(declined, Destroyed::Declined);
    assert!(emulated.exists().await);

    // destroy: everything goes but the tables holding the events.
    let destroyed = emulated
        .destroy(false, &mut always(true))
        .await
        .expect("destroy");
    let retained = retained_tables(&ids);
    assert_eq!(
        destroyed,
        Destroyed::Stack {
            kept_tables: retained.clone()
        }
    );
    assert!(!emulated.exists().await);
    for function in Function::ALL {
        let name = &ids[function.logical_id().as_str()];
        assert!(
            aws.lambda
                .get_function()
                .function_name(name)
                .send()
                .await
                .is_err(),
            "{name} survived"
        );
    }
    assert!(
        aws.s3
            .head_bucket()
            .bucket(&ids[ARTIFACT_BUCKET_ID])
            .send()
            .await
            .is_err(),
        "the artifact bucket survived"
    );
    assert_eq!(
        queue_attributes(&ids[FAILURE_QUEUE_ID]).await,
        None,
        "the failure queue survived"
    );
    let left = logs
        .describe_log_groups()
        .log_group_name_prefix(&access_group)
        .send()
        .await
        .expect("log groups");
    assert!(
        left.log_groups().is_empty(),
        "the access log group survived: {:?}",
        left.log_groups()
    );
    let read_model = &ids[Table::ReadModel.logical_id().as_str()];
    assert!(
        aws.dynamodb
            .describe_table()
            .table_name(read_model)
            .send()
            .await
            .is_err(),
        "the read model survived"
    );
    for table in &retained {
        aws.dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .unwrap_or_else(|err| panic!("the retained table {table} is gone: {err:?}"));
    }
    let lines = emulated.progress.lines().join("\n");
    assert!(
        lines.contains(&format!("kept the data stack {}", data_stack_name(stack))),
        "{lines}"
    );
    assert!(emulated.data_exists().await, "the data stack survived");

    // The next deploy attaches to the kept event store: the same tables,
    // with every event, and appends go on from where they were.
    let data_before = emulated.data_physical_ids().await;
    let events = DynamoStore::new(aws.dynamodb.clone(), deployed.clone());
    let stream = StreamId::parse("kept", "streamId").expect("a stream id");
    let before_destroy = events
        .read_stream(&stream, EventId::FIRST, 100)
        .await
        .expect("read the kept log");
    assert_eq!(before_destroy.len(), 3, "{before_destroy:?}");
    let again = emulated
        .deploy(&second, &options())
        .await
        .expect("a deploy after destroy");
    assert!(matches!(again, Outcome::Deployed { .. }), "{again:?}");
    assert_eq!(emulated.data_physical_ids().await, data_before);
    let ids_again = emulated.physical_ids().await;
    for table in [Table::Events, Table::StreamIndex] {
        assert_eq!(
            ids_again[table.logical_id().as_str()],
            ids[table.logical_id().as_str()],
            "{table:?}"
        );
    }
    let add_event = &ids_again[Function::AddEvent.logical_id().as_str()];
    let environment = aws
        .lambda
        .get_function_configuration()
        .function_name(add_event)
        .send()
        .await
        .expect("add-event")
        .environment()
        .and_then(|e| e.variables())
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        environment.get(Table::Events.env_var()),
        Some(&deployed.events),
        "the new functions use the kept log"
    );
    assert_eq!(
        events.read_stream(&stream, EventId::FIRST, 100).await,
        Ok(before_destroy)
    );
    let next = events
        .append(
            &AppendCommand::new(
                stream.clone(),
                DomainEvent::ItemDeleted {
                    item_id: ItemId::parse("a", "itemId").expect("an item id"),
                },
                None,
            ),
            chrono::Utc::now(),
        )
        .await
        .expect("an append after the redeploy");
    assert_eq!(
        next.event_id,
        EventId::new(3),
        "ids go on from the kept log"
    );
    emulated
        .destroy(true, &mut always(true))
        .await
        .expect("the final destroy");
    assert!(!emulated.data_exists().await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_template_goes_through_s3_and_destroy_can_delete_the_data() {
    let emulated = Emulated::new("data").await;
    let aws = &emulated.aws;
    // Every template is "large" here, so the S3 path is the one taken.
    let through_s3 = DeployOptions {
        inline_template_limit: 100,
        ..options()
    };
    let outcome = emulated
        .deploy(&emulated.build(&[]), &through_s3)
        .await
        .expect("deploy through S3");
    assert!(matches!(outcome, Outcome::Deployed { .. }), "{outcome:?}");
    let ids = emulated.physical_ids().await;
    let objects = aws
        .s3
        .list_objects_v2()
        .bucket(&ids[ARTIFACT_BUCKET_ID])
        .prefix("templates/")
        .send()
        .await
        .expect("list");
    assert_eq!(objects.contents().len(), 1, "the template is in the bucket");

    let mut questions = Vec::new();
    let mut answer = |question: &Question| {
        questions.push(question.clone());
        Ok(true)
    };
    let destroyed = emulated
        .destroy(true, &mut answer)
        .await
        .expect("destroy with the data");
    let retained = retained_tables(&ids);
    assert_eq!(
        destroyed,
        Destroyed::StackAndData {
            deleted_tables: retained.clone()
        }
    );
    assert_eq!(questions.len(), 2, "two confirmations: {questions:?}");
    assert_eq!(
        questions[1],
        Question::DeleteData {
            tables: retained.clone()
        }
    );
    for table in &retained {
        assert!(
            aws.dynamodb
                .describe_table()
                .table_name(table)
                .send()
                .await
                .is_err(),
            "{table} survived"
        );
    }

    // Destroying what is not there says so and succeeds.
    let again = emulated
        .destroy(false, &mut always(true))
        .await
        .expect("destroy again");
    assert_eq!(again, Destroyed::NoStack);
}
