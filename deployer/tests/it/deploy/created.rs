//! What a first deploy creates, step by step: the stacks and the URL, the
//! tables, the functions, the projector's stream mapping and failure
//! queue, the replay's cap, the API's permissions and routes, the log
//! groups.

use std::collections::BTreeMap;

use deployer::bundle::Manifest;
use deployer::deploy::Outcome;
use deployer::stack::{
    API_ID, API_URL_OUTPUT, FAILURE_QUEUE_ID, Function, FunctionResources,
    PROJECTOR_MAX_RECORD_AGE_SECONDS, STAGE_NAME, Table, TableResources,
};
use domain::{Amount, AppendCommand, DomainEvent, EventId, EventStore, ItemId, StreamId};
use service::api::Route;
use service::dynamo::{DynamoStore, TableNames, ensure_tables};

use super::reads::{code_sha256, queue_attributes};
use crate::emulated::{API_KEY, Emulated, options};

/// What the first deploy made, as the later steps look for it.
pub(super) struct Deployed {
    /// Both stacks' resources, by logical ID.
    pub ids: BTreeMap<String, String>,
    /// The app stack's outputs.
    pub outputs: BTreeMap<String, String>,
    /// The four tables.
    pub tables: TableNames,
}

impl Deployed {
    /// The physical name of the resource `logical_id`.
    pub fn id(&self, logical_id: &str) -> &str {
        &self.ids[logical_id]
    }

    /// The physical name of `function`.
    pub fn function(&self, function: Function) -> &str {
        self.id(function.logical_id().as_str())
    }
}

/// The stream that gets the events which must outlive a destroy.
pub(super) fn kept_stream() -> StreamId {
    StreamId::parse("kept", "streamId").expect("a stream id")
}

/// The log group of the stage's access log.
pub(super) fn access_log_group(stack: &str) -> String {
    format!("/aws/apigateway/{stack}/access")
}

pub(super) async fn a_first_deploy_creates_both_stacks_and_gives_the_url(
    emulated: &Emulated,
    first: &Manifest,
) -> Deployed {
    let outcome = emulated
        .deploy(first, &options())
        .await
        .expect("the first deploy");
    let Outcome::Deployed { outputs } = outcome else {
        panic!("expected a deploy, got {outcome:?}");
    };
    let ids = emulated.physical_ids().await;
    let rest_api = &ids[API_ID];
    assert_eq!(
        outputs.get(API_URL_OUTPUT),
        Some(&format!(
            "https://{rest_api}.execute-api.us-east-1.amazonaws.com/{STAGE_NAME}"
        )),
        "{outputs:?}"
    );
    Deployed {
        ids,
        outputs,
        tables: emulated.deployed_tables().await,
    }
}

pub(super) fn the_progress_names_the_artifact_bucket_and_never_the_key(emulated: &Emulated) {
    let lines = emulated.progress.lines().join("\n");
    assert!(!lines.contains(API_KEY), "the key was printed:\n{lines}");
    assert!(lines.contains("artifact bucket"), "{lines}");
}

/// Only the events table streams, and only the event store's tables
/// refuse a stray DeleteTable (destroy --delete-data turns that off
/// first). The events table's stream ARN.
pub(super) async fn only_the_event_store_streams_and_refuses_deletion(
    emulated: &Emulated,
    deployed: &Deployed,
) -> String {
    let mut stream_arn = None;
    for table in Table::ALL {
        let name = deployed.id(table.logical_id().as_str());
        let described = emulated
            .aws
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
        assert_eq!(
            description.deletion_protection_enabled(),
            Some(table.is_retained()),
            "{name}"
        );
        if table == Table::Events {
            stream_arn = description.latest_stream_arn().map(str::to_owned);
        }
    }
    stream_arn.expect("the event store's stream")
}

/// The adapter's own check finds the keys it would have created.
pub(super) async fn the_tables_are_keyed_as_the_adapter_expects(
    emulated: &Emulated,
    deployed: &Deployed,
) {
    ensure_tables(&emulated.aws.dynamodb, &deployed.tables)
        .await
        .expect("the deployed tables are keyed as the adapter expects");
}

/// Three events of the stream `kept`, which must outlive a destroy; the
/// store they went through.
pub(super) async fn the_event_store_takes_events(
    emulated: &Emulated,
    deployed: &Deployed,
) -> DynamoStore {
    let kept = DynamoStore::new(emulated.aws.dynamodb.clone(), deployed.tables.clone());
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
                &AppendCommand::new(kept_stream(), event, None),
                chrono::Utc::now(),
            )
            .await
            .expect("an append");
        assert_eq!(appended.event_id, EventId::new(n as u64));
    }
    kept
}

/// Each function is named after the stack and runs its package from the
/// build as a `provided.al2023` bootstrap, with every table's name in its
/// environment.
pub(super) async fn each_function_runs_its_package_with_the_table_names(
    emulated: &Emulated,
    deployed: &Deployed,
    first: &Manifest,
) {
    for function in Function::ALL {
        let name = deployed.function(function);
        assert_eq!(name, format!("{}-{}", emulated.stack, function.name()));
        let configuration = emulated
            .aws
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
                variables.get(table.env_var()).map(String::as_str),
                Some(deployed.id(table.logical_id().as_str())),
                "{name}: {variables:?}"
            );
        }
    }
}

/// The projector's one mapping reads the event store's stream; its id.
pub(super) async fn the_projector_reads_the_event_stream(
    emulated: &Emulated,
    deployed: &Deployed,
    stream_arn: &str,
) -> String {
    let mappings = emulated
        .aws
        .lambda
        .list_event_source_mappings()
        .function_name(deployed.function(Function::Projector))
        .send()
        .await
        .expect("mappings");
    let sources: Vec<_> = mappings
        .event_source_mappings()
        .iter()
        .filter_map(|m| m.event_source_arn())
        .collect();
    assert_eq!(sources, vec![stream_arn]);
    mappings.event_source_mappings()[0]
        .uuid()
        .expect("the mapping's id")
        .to_owned()
}

/// The failure queue keeps 14 days, encrypted, and is where the mapping
/// sends what it gives up on, after retrying until an hour before the
/// stream's 24 hours.
pub(super) async fn the_mapping_retries_then_sends_what_it_gives_up_on_to_the_failure_queue(
    emulated: &Emulated,
    deployed: &Deployed,
    mapping_id: &str,
) {
    let queue = queue_attributes(deployed.id(FAILURE_QUEUE_ID))
        .await
        .expect("the failure queue exists");
    assert_eq!(queue["MessageRetentionPeriod"], "1209600", "{queue:?}");
    assert_eq!(queue["SqsManagedSseEnabled"], "true", "{queue:?}");
    let queue_arn = &queue["QueueArn"];
    let mapping = emulated
        .aws
        .lambda
        .get_event_source_mapping()
        .uuid(mapping_id)
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
        Some(PROJECTOR_MAX_RECORD_AGE_SECONDS)
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
}

/// Replays are capped at `REPLAY_CONCURRENCY`'s default.
pub(super) async fn replays_are_capped_at_the_default_concurrency(
    emulated: &Emulated,
    deployed: &Deployed,
) {
    let concurrency = emulated
        .aws
        .lambda
        .get_function_concurrency()
        .function_name(deployed.function(Function::Replay))
        .send()
        .await
        .expect("the replay's concurrency");
    assert_eq!(concurrency.reserved_concurrent_executions(), Some(5));
}

pub(super) async fn api_gateway_may_invoke_each_api_function(
    emulated: &Emulated,
    deployed: &Deployed,
) {
    let rest_api = deployed.id(API_ID);
    for function in [
        Function::AddEvent,
        Function::ListItems,
        Function::TriggerReplay,
    ] {
        let name = deployed.function(function);
        let policy = emulated
            .aws
            .lambda
            .get_policy()
            .function_name(name)
            .send()
            .await
            .unwrap_or_else(|err| panic!("policy of {name}: {err:?}"));
        let policy = policy.policy().unwrap_or_default();
        assert!(
            policy.contains("apigateway.amazonaws.com") && policy.contains(rest_api),
            "{name}: {policy}"
        );
    }
}

/// One log group per function, and the stage's access log group (moto
/// creates the group, though not the stage that writes to it), each
/// keeping its lines 30 days.
pub(super) async fn every_log_group_keeps_its_lines_thirty_days(emulated: &Emulated) {
    let stack = &emulated.stack;
    let groups = Function::ALL
        .map(|function| format!("/aws/lambda/{stack}-{}", function.name()))
        .into_iter()
        .chain([access_log_group(stack)]);
    for group in groups {
        let found = emulated
            .aws
            .logs
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
}

/// The REST API: four routes, each a Lambda proxy integration.
pub(super) async fn the_rest_api_proxies_its_four_routes_to_lambda(
    emulated: &Emulated,
    deployed: &Deployed,
) {
    let (apigateway, rest_api) = (&emulated.aws.apigateway, deployed.id(API_ID));
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
}
