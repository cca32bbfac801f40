//! The app's template, checked structurally on the typed model, against
//! the storage adapter's layout, and byte for byte against a snapshot.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use deployer::cfn::apigateway::{AuthorizationType, HttpMethod, IntegrationType};
use deployer::cfn::dynamodb::{AttributeType, BillingMode, KeyType, StreamViewType};
use deployer::cfn::iam::Effect;
use deployer::cfn::lambda::{
    Architecture, AsyncRetries, FunctionResponseType, Qualifier, Runtime, StartingPosition,
};
use deployer::cfn::{
    Expr, Intrinsic, LogicalId, Policy, Properties, RefTarget, Resource, ResourceId, Template,
    Value,
};
use deployer::cfn::{apigateway, dynamodb, lambda};
use deployer::settings::ReplayConcurrency;
use deployer::stack::{
    DataOutput, FAILURE_QUEUE_ID, FAILURE_RECORD_MARGIN_SECONDS, Function, LOG_RETENTION,
    PROJECTOR_MAX_RECORD_AGE_SECONDS, STREAM_RETENTION_SECONDS, Table, data_stack, in_data_stack,
};
use deployer::stack::{FunctionResources, TableResources};
use deployer::{Format, StackOptions, app_stack};
use service::api::Route;
use service::dynamo::schema;
use service::settings::RawSettings;

fn default_stack() -> Template {
    app_stack(&StackOptions::default())
}

fn traced_stack() -> Template {
    app_stack(&StackOptions {
        tracing: true,
        ..StackOptions::default()
    })
}

fn resources_of<'a, T>(
    template: &'a Template,
    pick: impl Fn(&'a Properties) -> Option<&'a T>,
) -> Vec<(&'a LogicalId, &'a T)> {
    template
        .resources
        .iter()
        .filter_map(|(id, resource)| pick(&resource.properties).map(|p| (id, p)))
        .collect()
}

/// `Ref X` → "X", `GetAtt X.A` → "X.A", a literal → itself.
fn show(expr: &Expr) -> String {
    match expr {
        Value::Literal(text) => text.clone(),
        Value::Intrinsic(Intrinsic::Ref(RefTarget::Logical(id))) => id.to_string(),
        Value::Intrinsic(Intrinsic::Ref(RefTarget::Pseudo(pseudo))) => pseudo.name().to_owned(),
        Value::Intrinsic(Intrinsic::GetAtt(id, attribute)) => {
            format!("{id}.{}", attribute.name())
        }
        Value::Intrinsic(Intrinsic::Sub(template, _)) => format!("Sub {template}"),
        Value::Intrinsic(Intrinsic::Join(separator, parts)) => {
            let parts: Vec<String> = parts.iter().map(show).collect();
            format!("Join {separator} {parts:?}")
        }
    }
}

#[test]
fn every_method_requires_the_api_key_and_proxies_to_lambda() {
    let template = default_stack();
    let methods = resources_of(&template, |p| match p {
        Properties::ApiGatewayMethod(m) => Some(m),
        _ => None,
    });
    assert_eq!(methods.len(), Route::ALL.len());
    for (id, method) in methods {
        assert!(method.api_key_required, "{id} does not require the API key");
        assert_eq!(method.authorization_type, AuthorizationType::None, "{id}");
        assert_eq!(method.integration.kind, IntegrationType::AwsProxy, "{id}");
        assert_eq!(
            method.integration.integration_http_method,
            Some(HttpMethod::Post),
            "{id}"
        );
    }
}

#[test]
fn every_route_has_its_resource_method_and_permission() {
    let template = default_stack();
    let resources = resources_of(&template, |p| match p {
        Properties::ApiGatewayResource(r) => Some(r),
        _ => None,
    });
    let methods = resources_of(&template, |p| match p {
        Properties::ApiGatewayMethod(m) => Some(m),
        _ => None,
    });
    // API Gateway's: the sweep's schedule has a permission of its own.
    let permissions = resources_of(&template, |p| match p {
        Properties::LambdaPermission(p) if p.principal == "apigateway.amazonaws.com" => Some(p),
        _ => None,
    });
    for route in Route::ALL {
        let (resource_id, _) = resources
            .iter()
            .find(|(_, r)| r.path_part == route.path_part())
            .unwrap_or_else(|| panic!("no resource for {route:?}"));
        let (_, method) = methods
            .iter()
            .find(|(_, m)| show(&m.resource_id) == resource_id.as_str())
            .unwrap_or_else(|| panic!("no method for {route:?}"));
        assert_eq!(method.http_method.as_str(), route.method().as_str());
        let function = route.function().logical_id();
        let uri = show(method.integration.uri.as_ref().expect("an integration URI"));
        assert!(
            uri.contains(&format!("${{{function}.Arn}}")),
            "{route:?} integrates {uri}"
        );
        let arn_suffix = format!(
            ":${{Api}}/*/{}/{}",
            route.method().as_str(),
            route.path_part()
        );
        let scoped: Vec<_> = permissions
            .iter()
            .filter(|(_, p)| show(&p.function_name) == format!("{function}.Arn"))
            .collect();
        assert_eq!(scoped.len(), 1, "{route:?}: one permission for {function}");
        let source = show(scoped[0].1.source_arn.as_ref().expect("a source ARN"));
        assert!(
            source.starts_with("Sub arn:${AWS::Partition}:execute-api:")
                && source.ends_with(&arn_suffix),
            "{route:?}: permission scoped to {source}"
        );
    }
    assert_eq!(
        permissions.len(),
        Route::ALL.len(),
        "only the API functions"
    );
}

fn check_functions(template: &Template, architecture: Architecture) {
    let functions = resources_of(template, |p| match p {
        Properties::LambdaFunction(f) => Some(f),
        _ => None,
    });
    assert_eq!(functions.len(), Function::ALL.len());
    for (id, function) in functions {
        assert_eq!(function.architecture, architecture, "{id}");
        assert_eq!(function.runtime, Runtime::ProvidedAl2023, "{id}");
        assert_eq!(function.handler, "bootstrap", "{id}");
    }
    // The list form CloudFormation wants, with the one architecture.
    let json = serde_json::to_value(template).expect("serializable");
    for function in Function::ALL {
        assert_eq!(
            json["Resources"][function.logical_id().as_str()]["Properties"]["Architectures"],
            serde_json::json!([architecture.as_str()])
        );
    }
}

#[test]
fn every_function_is_a_provided_al2023_bootstrap_on_arm64_by_default() {
    check_functions(&default_stack(), Architecture::Arm64);
}

#[test]
fn functions_are_x86_64_when_asked() {
    let template = app_stack(&StackOptions {
        architecture: Architecture::X86_64,
        ..StackOptions::default()
    });
    check_functions(&template, Architecture::X86_64);
}

/// Each role's statements as (resource, sorted actions), sorted.
fn role_grants(template: &Template, function: Function) -> Vec<(String, Vec<String>)> {
    let role_id = function.role_id();
    let Some(Properties::IamRole(role)) =
        template.resources.get(role_id.id()).map(|r| &r.properties)
    else {
        panic!("no role {role_id}");
    };
    let trust = &role.assume_role_policy_document.statement;
    assert_eq!(trust.len(), 1);
    assert_eq!(trust[0].action, ["sts:AssumeRole"]);
    let mut grants = Vec::new();
    for policy in &role.policies {
        for statement in &policy.policy_document.statement {
            assert_eq!(statement.effect, Effect::Allow);
            assert!(statement.principal.is_none());
            for resource in &statement.resource {
                let mut actions = statement.action.clone();
                actions.sort();
                let mut on = show(resource);
                if !statement.condition.is_empty() {
                    let condition =
                        serde_json::to_value(&statement.condition).expect("a condition");
                    on = format!("{on} when {condition}");
                }
                grants.push((on, actions));
            }
        }
    }
    grants.sort();
    grants
}

fn expected_grants(function: Function, tracing: bool) -> Vec<(String, Vec<String>)> {
    let log_group = format!("{}.Arn", function.log_group_id());
    let mut grants: Vec<(String, Vec<&str>)> =
        vec![(log_group, vec!["logs:CreateLogStream", "logs:PutLogEvents"])];
    grants.extend(match function {
        Function::AddEvent => vec![
            ("EventsTableArn".to_owned(), vec!["dynamodb:PutItem"]),
            ("StreamIndexTableArn".to_owned(), vec!["dynamodb:GetItem"]),
            // Stream ids are data: any partition, but only the attributes
            // of stream and idempotency-key rows.
            (
                format!(
                    "StreamIndexTableArn when {}",
                    serde_json::json!({"ForAllValues:StringEquals": {
                        "dynamodb:Attributes": ["streamId", "entry", "version", "live",
                            "lastEventId", "fingerprint", "appendedTo", "eventId",
                            "recordedAt", "expiresAt"],
                    }})
                ),
                vec!["dynamodb:PutItem"],
            ),
        ],
        Function::ListItems => vec![("ReadModelTable.Arn".to_owned(), vec!["dynamodb:Query"])],
        Function::TriggerReplay => vec![
            (
                "ReplaysTable.Arn".to_owned(),
                vec!["dynamodb:GetItem", "dynamodb:PutItem"],
            ),
            (
                "ReplayFunction.Arn".to_owned(),
                vec!["lambda:InvokeFunction"],
            ),
        ],
        // A replay whose run died is resumed on the way.
        Function::ReplayStatus => vec![
            (
                "ReplaysTable.Arn".to_owned(),
                vec!["dynamodb:GetItem", "dynamodb:PutItem"],
            ),
            (
                "ReplayFunction.Arn".to_owned(),
                vec!["lambda:InvokeFunction"],
            ),
        ],
        Function::Projector => vec![
            ("ReadModelTable.Arn".to_owned(), vec!["dynamodb:PutItem"]),
            // Parked records, in their partition only.
            (
                format!(
                    "StreamIndexTableArn when {}",
                    serde_json::json!({"ForAllValues:StringEquals": {
                        "dynamodb:Attributes": ["streamId", "entry", "reason", "record",
                            "parkedAt"],
                        "dynamodb:LeadingKeys": "parked-records",
                    }})
                ),
                vec!["dynamodb:PutItem"],
            ),
            (
                "EventsStreamArn".to_owned(),
                vec![
                    "dynamodb:DescribeStream",
                    "dynamodb:GetRecords",
                    "dynamodb:GetShardIterator",
                ],
            ),
            ("*".to_owned(), vec!["dynamodb:ListStreams"]),
            // The mapping's failure records, sent with the function's role.
            ("FailureQueue.Arn".to_owned(), vec!["sqs:SendMessage"]),
        ],
        Function::Replay => vec![
            ("EventsTableArn".to_owned(), vec!["dynamodb:Query"]),
            // Items' latest events, and the list of streams for a rebuild.
            (
                "StreamIndexTableArn".to_owned(),
                vec!["dynamodb:BatchGetItem", "dynamodb:Query"],
            ),
            // The sweep's list of held lanes.
            (
                "Join / [\"ReplaysTable.Arn\", \"index\", \"held-lanes\"]".to_owned(),
                vec!["dynamodb:Query"],
            ),
            (
                "ReadModelTable.Arn".to_owned(),
                vec!["dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:Query"],
            ),
            (
                "ReplaysTable.Arn".to_owned(),
                vec!["dynamodb:GetItem", "dynamodb:PutItem"],
            ),
            // The deployed name of the function itself (see deployed_name).
            (
                "Sub arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${AWS::StackName}-replay"
                    .to_owned(),
                vec!["lambda:InvokeFunction"],
            ),
            // Lambda writes the failed invocations' records with this role.
            ("FailureQueue.Arn".to_owned(), vec!["sqs:SendMessage"]),
        ],
    });
    if tracing {
        grants.push((
            "*".to_owned(),
            vec!["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
        ));
    }
    let mut grants: Vec<(String, Vec<String>)> = grants
        .into_iter()
        .map(|(resource, actions)| (resource, actions.into_iter().map(str::to_owned).collect()))
        .collect();
    grants.sort();
    grants
}

#[test]
fn each_role_allows_exactly_what_its_function_does() {
    for (template, tracing) in [(default_stack(), false), (traced_stack(), true)] {
        for function in Function::ALL {
            assert_eq!(
                role_grants(&template, function),
                expected_grants(function, tracing),
                "{} (tracing {tracing})",
                function.name()
            );
        }
    }
    let template = default_stack();
    // The replay function's grant on itself names it as it is deployed.
    let replay = resources_of(&template, |p| match p {
        Properties::LambdaFunction(f) => Some(f),
        _ => None,
    })
    .into_iter()
    .find(|(id, _)| id.as_str() == Function::Replay.logical_id().as_str())
    .map(|(_, f)| show(f.function_name.as_ref().expect("a deployed name")))
    .expect("the replay function");
    let deployed = replay.strip_prefix("Sub ").expect("a Sub");
    assert!(
        role_grants(&template, Function::Replay)
            .iter()
            .any(
                |(resource, actions)| resource.ends_with(&format!(":function:{deployed}"))
                    && actions == &["lambda:InvokeFunction"]
            ),
        "{deployed}"
    );
    let roles: Vec<String> = resources_of(&template, |p| match p {
        Properties::IamRole(r) => Some(r),
        _ => None,
    })
    .into_iter()
    .map(|(id, _)| id.to_string())
    .collect();
    let mut expected: Vec<String> = Function::ALL
        .iter()
        .map(|f| f.role_id().to_string())
        .collect();
    expected.sort();
    // API Gateway's own, for the access log, is in the data stack.
    assert_eq!(roles, expected, "one role per function");
}

/// The failure queue takes messages from the projector and the replay
/// function's roles, and from no other; no role may send anywhere else.
#[test]
fn only_the_projector_and_the_replay_may_send_to_the_failure_queue() {
    for template in [default_stack(), traced_stack()] {
        let mut senders = Vec::new();
        for (id, role) in resources_of(&template, |p| match p {
            Properties::IamRole(r) => Some(r),
            _ => None,
        }) {
            for statement in role
                .policies
                .iter()
                .flat_map(|p| &p.policy_document.statement)
            {
                if !statement.action.iter().any(|a| a.starts_with("sqs:")) {
                    continue;
                }
                assert_eq!(statement.action, ["sqs:SendMessage"], "{id}");
                let resources: Vec<String> = statement.resource.iter().map(show).collect();
                assert_eq!(resources, [format!("{FAILURE_QUEUE_ID}.Arn")], "{id}");
                senders.push(id.to_string());
            }
        }
        senders.sort();
        assert_eq!(senders, ["ProjectorRole", "ReplayRole"]);
    }
}

#[test]
fn the_failure_queue_keeps_its_records_fourteen_days_encrypted_and_goes_with_the_stack() {
    let template = default_stack();
    let resource = &template.resources[&LogicalId::new(FAILURE_QUEUE_ID)];
    let Properties::SqsQueue(queue) = &resource.properties else {
        panic!("{FAILURE_QUEUE_ID} is not a queue");
    };
    assert_eq!(
        queue.message_retention_period.map(|r| r.seconds()),
        Some(14 * 24 * 3600)
    );
    assert_eq!(queue.sqs_managed_sse_enabled, Some(true));
    assert_eq!(resource.deletion_policy, Some(Policy::Delete));
    assert_eq!(resource.update_replace_policy, Some(Policy::Delete));
    let output = |id: &str| show(&template.outputs[&LogicalId::new(id)].value);
    // A queue's Ref is its URL.
    assert_eq!(output("FailureQueueUrl"), FAILURE_QUEUE_ID);
    assert_eq!(output("FailureQueueArn"), format!("{FAILURE_QUEUE_ID}.Arn"));
}

#[test]
fn failed_replay_invocations_are_retried_twice_then_sent_to_the_failure_queue() {
    let template = default_stack();
    let configs = resources_of(&template, |p| match p {
        Properties::LambdaEventInvokeConfig(c) => Some(c),
        _ => None,
    });
    assert_eq!(
        configs.len(),
        1,
        "only the replay is invoked asynchronously"
    );
    let config = configs[0].1;
    assert_eq!(show(&config.function_name), "ReplayFunction");
    assert_eq!(config.qualifier, Qualifier::Latest);
    assert_eq!(config.maximum_retry_attempts, Some(AsyncRetries::Two));
    assert!(
        config
            .maximum_event_age_in_seconds
            .is_some_and(|age| (60..=21_600).contains(&age)),
        "{:?}",
        config.maximum_event_age_in_seconds
    );
    let destination = config
        .destination_config
        .as_ref()
        .map(|d| show(&d.on_failure.destination));
    assert_eq!(destination, Some(format!("{FAILURE_QUEUE_ID}.Arn")));
    let json = serde_json::to_value(&template).expect("serializable");
    assert_eq!(
        json["Resources"][configs[0].0.as_str()]["Properties"]["Qualifier"],
        "$LATEST"
    );
}

#[test]
fn the_replay_function_is_capped_as_replay_concurrency_says() {
    let reservations = |replay_concurrency| {
        let template = app_stack(&StackOptions {
            replay_concurrency,
            ..StackOptions::default()
        });
        resources_of(&template, |p| match p {
            Properties::LambdaFunction(f) => Some(f),
            _ => None,
        })
        .into_iter()
        .filter_map(|(id, f)| {
            f.reserved_concurrent_executions
                .map(|n| (id.to_string(), n))
        })
        .collect::<Vec<_>>()
    };
    let replay = Function::Replay.logical_id().to_string();
    assert_eq!(
        reservations(ReplayConcurrency::DEFAULT),
        [(replay.clone(), 5)]
    );
    assert_eq!(
        reservations(ReplayConcurrency::Reserved(40)),
        [(replay, 40)]
    );
    assert!(reservations(ReplayConcurrency::Unreserved).is_empty());
    // `none` leaves the property out of the template altogether.
    let text = deployer::synth(&settings(&[("REPLAY_CONCURRENCY", "none")]), Format::Yaml)
        .expect("synthesizes");
    assert!(!text.contains("ReservedConcurrentExecutions"), "{text}");
    let err = deployer::synth(&settings(&[("REPLAY_CONCURRENCY", "0")]), Format::Yaml)
        .expect_err("0 reserves nothing and stops every replay");
    assert!(err.to_string().contains("REPLAY_CONCURRENCY"), "{err}");
}

#[test]
fn the_stage_logs_each_request_as_one_json_line_naming_the_key_by_its_id() {
    let template = default_stack();
    let stages = resources_of(&template, |p| match p {
        Properties::ApiGatewayStage(s) => Some(s),
        _ => None,
    });
    assert_eq!(stages.len(), 1);
    let (stage_id, stage) = stages[0];
    let setting = stage.access_log_setting.as_ref().expect("access logging");
    assert_eq!(show(&setting.destination_arn), "ApiAccessLogGroup.Arn");
    assert!(!setting.format.contains('\n'), "{}", setting.format);
    let line: BTreeMap<String, String> =
        serde_json::from_str(&setting.format).expect("the format is a JSON object of strings");
    let fields: Vec<&str> = line.keys().map(String::as_str).collect();
    assert_eq!(
        fields,
        [
            "apiKeyId",
            "httpMethod",
            "integrationLatency",
            "ip",
            "protocol",
            "requestId",
            "requestTime",
            "resourcePath",
            "responseLength",
            "status"
        ]
    );
    assert_eq!(line["apiKeyId"], "$context.identity.apiKeyId");
    // The key's id, never the key.
    assert!(
        line.values().all(|v| v != "$context.identity.apiKey"),
        "{line:?}"
    );
    assert!(!setting.format.contains("apiKey\""), "{}", setting.format);
    assert!(
        !setting.format.contains("$context.identity.apiKey\""),
        "{}",
        setting.format
    );

    // The log group: kept as long as the functions' logs, gone with the stack.
    let group = &template.resources[&LogicalId::new("ApiAccessLogGroup")];
    let Properties::LogsLogGroup(definition) = &group.properties else {
        panic!("ApiAccessLogGroup is not a log group");
    };
    assert_eq!(definition.retention_in_days, Some(LOG_RETENTION));
    assert_eq!(group.deletion_policy, Some(Policy::Delete));

    // API Gateway writes it with the account's CloudWatch role, which the
    // deployer sets (the app stack does not: its deletion would leave the
    // setting naming a deleted role).
    assert!(
        template.resources[stage_id].depends_on.is_empty(),
        "the stage waits for nothing in the stack"
    );
    assert!(
        !template
            .resources
            .values()
            .any(|r| r.type_name() == "AWS::ApiGateway::Account"),
        "no stack sets the account's CloudWatch role"
    );
}

/// The role the account's API Gateway CloudWatch setting may name lives in
/// the data stack, which destroy keeps: API Gateway may assume it, with
/// AWS's managed policy for pushing logs and nothing else.
#[test]
fn the_logging_role_lives_in_the_data_stack() {
    let data = data_stack();
    assert!(
        !data
            .resources
            .values()
            .any(|r| r.type_name() == "AWS::ApiGateway::Account")
    );
    let Properties::IamRole(role) =
        &data.resources[&LogicalId::new(deployer::stack::LOGGING_ROLE_ID)].properties
    else {
        panic!("no logging role in the data stack");
    };
    let trusted: Vec<&str> = role
        .assume_role_policy_document
        .statement
        .iter()
        .flat_map(|s| s.principal.iter().flat_map(|p| p.service.iter()))
        .map(String::as_str)
        .collect();
    assert_eq!(trusted, ["apigateway.amazonaws.com"]);
    let managed: Vec<String> = role.managed_policy_arns.iter().map(show).collect();
    assert_eq!(
        managed,
        [
            "Sub arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
        ]
    );
    assert!(role.policies.is_empty(), "nothing but the managed policy");
    assert_eq!(
        show(&data.outputs[&LogicalId::new(deployer::stack::LOGGING_ROLE_OUTPUT)].value),
        format!("{}.Arn", deployer::stack::LOGGING_ROLE_ID)
    );
}

#[test]
fn tracing_turns_on_x_ray_for_functions_and_stage() {
    for (template, tracing) in [(default_stack(), false), (traced_stack(), true)] {
        for (id, function) in resources_of(&template, |p| match p {
            Properties::LambdaFunction(f) => Some(f),
            _ => None,
        }) {
            assert_eq!(function.tracing_config.is_some(), tracing, "{id}");
        }
        for (id, stage) in resources_of(&template, |p| match p {
            Properties::ApiGatewayStage(s) => Some(s),
            _ => None,
        }) {
            assert_eq!(stage.tracing_enabled, tracing, "{id}");
        }
    }
}

/// `table`'s resource: in the data stack for the event store's tables,
/// in the app stack for the others (and in no other stack).
fn table_resource<'a>(app: &'a Template, data: &'a Template, table: Table) -> &'a Resource {
    let id = table.logical_id();
    let (home, other) = if in_data_stack(table) {
        (data, app)
    } else {
        (app, data)
    };
    assert!(!other.resources.contains_key(id.id()), "{table:?} in both");
    &home.resources[id.id()]
}

#[test]
fn the_event_store_is_retained_and_nothing_stateful_is_left_to_defaults() {
    let template = default_stack();
    let data = data_stack();
    for table in Table::ALL {
        let resource = table_resource(&template, &data, table);
        // The read model is rebuilt by a replay; the log and its version
        // index are the data.
        let expected = match table {
            Table::Events | Table::StreamIndex => Policy::Retain,
            Table::ReadModel | Table::Replays => Policy::Delete,
        };
        assert_eq!(resource.deletion_policy, Some(expected), "{table:?}");
        assert_eq!(resource.update_replace_policy, Some(expected), "{table:?}");
        // What is kept is also protected: restorable to any second of the
        // last 35 days, and refusing a stray DeleteTable.
        let Properties::DynamoDbTable(definition) = &resource.properties else {
            panic!("{table:?} is not a table");
        };
        let kept = expected == Policy::Retain;
        let pitr = definition
            .point_in_time_recovery_specification
            .as_ref()
            .map(|spec| spec.point_in_time_recovery_enabled);
        assert_eq!(pitr, kept.then_some(true), "{table:?}");
        assert_eq!(
            definition.deletion_protection_enabled,
            kept.then_some(true),
            "{table:?}"
        );
    }
    for function in Function::ALL {
        let group = &template.resources[function.log_group_id().id()];
        assert_eq!(group.deletion_policy, Some(Policy::Delete));
    }
    let yaml = deployer::render(&data, Format::Yaml).expect("renders");
    assert!(yaml.contains(
        "  EventsTable:\n    Type: AWS::DynamoDB::Table\n    DeletionPolicy: Retain\n    UpdateReplacePolicy: Retain\n"
    ));
}

#[test]
fn the_tables_have_the_adapters_key_schema() {
    // Read from `service::dynamo::schema`, the layout `ensure_tables`
    // creates; the deploy test checks deployed tables with the adapter itself.
    let key_type = |kind: schema::KeyKind| match kind {
        schema::KeyKind::String => AttributeType::S,
        schema::KeyKind::Number => AttributeType::N,
    };
    let expected = Table::ALL.map(|table| {
        let (hash, hash_kind) = table.hash_key();
        assert_eq!(hash_kind, schema::KeyKind::String, "{table:?}");
        let range = table
            .range_key()
            .map(|(range, kind)| (range, key_type(kind)));
        (table, (hash, range), table.has_stream())
    });
    assert_eq!(
        expected.iter().filter(|(_, _, stream)| *stream).count(),
        1,
        "only the event store streams"
    );
    let template = default_stack();
    let data = data_stack();
    for (table, (hash, range), stream) in expected {
        let Properties::DynamoDbTable(definition) =
            &table_resource(&template, &data, table).properties
        else {
            panic!("{table:?} is not a table");
        };
        let keys: Vec<(&str, KeyType)> = definition
            .key_schema
            .iter()
            .map(|k| (k.attribute_name.as_str(), k.key_type))
            .collect();
        let expected_keys: Vec<(&str, KeyType)> = std::iter::once((hash, KeyType::Hash))
            .chain(range.map(|(range, _)| (range, KeyType::Range)))
            .collect();
        assert_eq!(keys, expected_keys, "{table:?}");
        let attributes: BTreeMap<&str, AttributeType> = definition
            .attribute_definitions
            .iter()
            .map(|a| (a.attribute_name.as_str(), a.attribute_type))
            .collect();
        // The index keys are string attributes too.
        let index_keys = table.indexes().iter().flat_map(|index| {
            index
                .key_schema()
                .map(|((name, kind), _)| (name, key_type(kind)))
        });
        let expected_attributes: BTreeMap<&str, AttributeType> =
            std::iter::once((hash, AttributeType::S))
                .chain(range)
                .chain(index_keys)
                .collect();
        assert_eq!(attributes, expected_attributes, "{table:?}");
        let indexes: Vec<(&str, Vec<(&str, KeyType)>)> = definition
            .global_secondary_indexes
            .iter()
            .map(|index| {
                let keys = index
                    .key_schema
                    .iter()
                    .map(|k| (k.attribute_name.as_str(), k.key_type))
                    .collect();
                (index.index_name.as_str(), keys)
            })
            .collect();
        let expected_indexes: Vec<(&str, Vec<(&str, KeyType)>)> = table
            .indexes()
            .iter()
            .map(|index| {
                let keys = index
                    .key_schema()
                    .map(|((name, _), role)| match role {
                        schema::KeyRole::Hash => (name, KeyType::Hash),
                        schema::KeyRole::Range => (name, KeyType::Range),
                    })
                    .collect();
                (index.name, keys)
            })
            .collect();
        assert_eq!(indexes, expected_indexes, "{table:?}");
        assert_eq!(definition.billing_mode, BillingMode::PayPerRequest);
        let view = definition
            .stream_specification
            .as_ref()
            .map(|s| s.stream_view_type);
        assert_eq!(
            view,
            stream.then_some(StreamViewType::NewImage),
            "{table:?}"
        );
        // Tombstones expire by the attribute the adapter writes.
        let ttl = definition
            .time_to_live_specification
            .as_ref()
            .filter(|ttl| ttl.enabled)
            .map(|ttl| ttl.attribute_name.as_str());
        assert_eq!(ttl, table.ttl_attribute(), "{table:?}");
    }
    assert_eq!(
        Table::ReadModel.ttl_attribute(),
        Some(schema::EXPIRES_AT),
        "the read model's tombstones expire"
    );
    assert_eq!(
        Table::Replays.ttl_attribute(),
        Some(schema::EXPIRES_AT),
        "replay statuses expire"
    );
    assert_eq!(
        Table::StreamIndex.ttl_attribute(),
        Some(schema::EXPIRES_AT),
        "idempotency keys expire"
    );
    assert_eq!(Table::Events.ttl_attribute(), None, "events never expire");
    assert_eq!(
        StreamViewType::NewImage.as_str(),
        schema::EVENTS_STREAM_VIEW
    );
}

#[test]
fn the_functions_get_the_table_names_the_wiring_reads() {
    let template = default_stack();
    for (id, function) in resources_of(&template, |p| match p {
        Properties::LambdaFunction(f) => Some(f),
        _ => None,
    }) {
        let variables = &function
            .environment
            .as_ref()
            .expect("environment")
            .variables;
        for table in Table::ALL {
            // The data stack's tables by the parameters deploy fills from it.
            let expected = match table {
                Table::Events => DataOutput::EventsTableName.name().to_owned(),
                Table::StreamIndex => DataOutput::StreamIndexTableName.name().to_owned(),
                Table::ReadModel | Table::Replays => table.logical_id().to_string(),
            };
            assert_eq!(
                variables.get(table.env_var()).map(show),
                Some(expected),
                "{id}"
            );
        }
        assert_eq!(variables.get("RUST_LOG").map(show).as_deref(), Some("info"));
    }
    let env = |function: Function, name: &str| match &template.resources[function.logical_id().id()]
        .properties
    {
        Properties::LambdaFunction(f) => f
            .environment
            .as_ref()
            .and_then(|e| e.variables.get(name))
            .map(show),
        _ => None,
    };
    assert_eq!(
        env(Function::ListItems, "TEST_STREAM_ID").as_deref(),
        Some("TestStreamId")
    );
    assert_eq!(
        env(Function::TriggerReplay, "REPLAY_FUNCTION_NAME").as_deref(),
        Some("ReplayFunction")
    );
    // Only trigger-replay and replay-status start replay runs (the wiring
    // keys on the variable).
    for function in Function::ALL {
        assert_eq!(
            env(function, "REPLAY_FUNCTION_NAME").is_some(),
            matches!(function, Function::TriggerReplay | Function::ReplayStatus),
            "{}",
            function.name()
        );
    }
}

/// A schedule invokes the replay function with the input that makes it
/// sweep, every `SWEEP_SCHEDULE`, and may: the permission names the rule.
#[test]
fn a_schedule_sweeps_the_replays_with_the_input_the_function_reads() {
    let template = default_stack();
    let rules = resources_of(&template, |p| match p {
        Properties::EventsRule(rule) => Some(rule),
        _ => None,
    });
    assert_eq!(rules.len(), 1);
    let (rule_id, rule) = &rules[0];
    assert_eq!(rule.schedule_expression, service::replay::SWEEP_SCHEDULE);
    assert_eq!(rule.targets.len(), 1);
    assert_eq!(show(&rule.targets[0].arn), "ReplayFunction.Arn");
    let input = rule.targets[0].input.as_deref().expect("a constant input");
    assert_eq!(
        serde_json::from_str::<service::replay::ReplayInvocation>(input).ok(),
        Some(service::replay::ReplayInvocation::Sweep { sweep: true })
    );
    let sweep = service::replay::SWEEP_EVERY.as_secs();
    assert_eq!(
        rule.schedule_expression,
        format!("rate({} minutes)", sweep / 60),
        "the schedule is SWEEP_EVERY"
    );
    let permissions = resources_of(&template, |p| match p {
        Properties::LambdaPermission(p) if p.principal == "events.amazonaws.com" => Some(p),
        _ => None,
    });
    assert_eq!(permissions.len(), 1);
    let permission = &permissions[0].1;
    assert_eq!(show(&permission.function_name), "ReplayFunction");
    assert_eq!(
        permission.source_arn.as_ref().map(show),
        Some(format!("{rule_id}.Arn"))
    );
}

#[test]
fn the_projector_reads_the_event_stream_retrying_until_records_age_out_then_reports_them() {
    let template = default_stack();
    let mappings = resources_of(&template, |p| match p {
        Properties::LambdaEventSourceMapping(m) => Some(m),
        _ => None,
    });
    assert_eq!(mappings.len(), 1);
    let mapping = mappings[0].1;
    assert_eq!(show(&mapping.event_source_arn), "EventsStreamArn");
    assert_eq!(show(&mapping.function_name), "ProjectorFunction");
    assert_eq!(mapping.starting_position, StartingPosition::TrimHorizon);
    assert_eq!(mapping.batch_size, Some(100));
    assert_eq!(mapping.bisect_batch_on_function_error, Some(true));
    assert_eq!(
        mapping.function_response_types,
        [FunctionResponseType::ReportBatchItemFailures]
    );
    // Retried without a count limit, until an hour before the stream's
    // 24 hours are up.
    assert_eq!(mapping.maximum_retry_attempts, Some(-1));
    assert_eq!(
        mapping.maximum_record_age_in_seconds,
        Some(PROJECTOR_MAX_RECORD_AGE_SECONDS)
    );
    let destination = mapping
        .destination_config
        .as_ref()
        .map(|d| show(&d.on_failure.destination));
    assert_eq!(destination, Some(format!("{FAILURE_QUEUE_ID}.Arn")));
}

/// A batch that still fails when its records are old is discarded with a
/// failure record naming its stream positions: that record is only of use
/// while the stream still holds them, so the mapping gives up well inside
/// the stream's retention, not at it.
#[test]
fn the_projector_gives_up_on_a_batch_an_hour_before_the_stream_trims_it() {
    assert_eq!(
        STREAM_RETENTION_SECONDS, 86_400,
        "DynamoDB Streams' 24 hours"
    );
    assert_eq!(PROJECTOR_MAX_RECORD_AGE_SECONDS, 82_800);
    assert_eq!(
        STREAM_RETENTION_SECONDS - PROJECTOR_MAX_RECORD_AGE_SECONDS,
        FAILURE_RECORD_MARGIN_SECONDS
    );
    // An hour covers a retry that starts just before the limit, at the
    // longest function time limit, with room to spare.
    let longest = Function::ALL
        .into_iter()
        .map(FunctionResources::timeout_seconds)
        .max()
        .expect("functions");
    assert!(
        i64::from(FAILURE_RECORD_MARGIN_SECONDS) >= 4 * i64::from(longest),
        "margin {FAILURE_RECORD_MARGIN_SECONDS} s for a {longest} s function"
    );
    // Lambda takes 60 to 604,800 seconds here (or -1, no limit).
    assert!((60..=604_800).contains(&PROJECTOR_MAX_RECORD_AGE_SECONDS));
}

#[test]
fn every_function_logs_to_its_own_group_with_retention() {
    let template = default_stack();
    for function in Function::ALL {
        let Properties::LogsLogGroup(group) =
            &template.resources[function.log_group_id().id()].properties
        else {
            panic!("no log group for {}", function.name());
        };
        assert!(group.retention_in_days.is_some());
        let Properties::LambdaFunction(definition) =
            &template.resources[function.logical_id().id()].properties
        else {
            panic!("no function {}", function.name());
        };
        let name = show(definition.function_name.as_ref().expect("a fixed name"));
        let group_name = show(group.log_group_name.as_ref().expect("a name"));
        assert_eq!(
            group_name.replace("Sub /aws/lambda/", "Sub "),
            name,
            "the group is /aws/lambda/<function name>"
        );
    }
}

#[test]
fn the_api_key_is_a_no_echo_parameter_bound_by_a_usage_plan() {
    let template = default_stack();
    let parameter = &template.parameters[&LogicalId::new("ApiKeyValue")];
    assert!(parameter.no_echo);
    assert_eq!(parameter.default, None);
    let keys = resources_of(&template, |p| match p {
        Properties::ApiGatewayApiKey(k) => Some(k),
        _ => None,
    });
    assert_eq!(keys.len(), 1);
    assert_eq!(
        keys[0].1.value.as_ref().map(show).as_deref(),
        Some("ApiKeyValue")
    );
    let plans = resources_of(&template, |p| match p {
        Properties::ApiGatewayUsagePlan(u) => Some(u),
        _ => None,
    });
    assert_eq!(plans.len(), 1);
    let stages: Vec<(String, String)> = plans[0]
        .1
        .api_stages
        .iter()
        .map(|s| (show(&s.api_id), show(&s.stage)))
        .collect();
    assert_eq!(stages, [("Api".to_owned(), "ApiStage".to_owned())]);
    let plan_keys = resources_of(&template, |p| match p {
        Properties::ApiGatewayUsagePlanKey(k) => Some(k),
        _ => None,
    });
    assert_eq!(plan_keys.len(), 1);
    assert_eq!(show(&plan_keys[0].1.key_id), keys[0].0.as_str());
    assert_eq!(show(&plan_keys[0].1.usage_plan_id), plans[0].0.as_str());
}

#[test]
fn the_deployment_waits_for_every_method() {
    let template = default_stack();
    let methods: BTreeSet<LogicalId> = resources_of(&template, |p| match p {
        Properties::ApiGatewayMethod(m) => Some(m),
        _ => None,
    })
    .into_iter()
    .map(|(id, _)| id.clone())
    .collect();
    let deployments: Vec<_> = template
        .resources
        .iter()
        .filter(|(_, r)| matches!(r.properties, Properties::ApiGatewayDeployment(_)))
        .collect();
    assert_eq!(deployments.len(), 1);
    assert_eq!(deployments[0].1.depends_on, methods);
}

/// Every `Ref`, `GetAtt` and `${...}` names something the template has.
#[test]
fn every_reference_resolves() {
    for template in [default_stack(), traced_stack()] {
        let json = serde_json::to_value(&template).expect("serializable");
        let known: BTreeSet<String> = template
            .parameters
            .keys()
            .chain(template.resources.keys())
            .map(LogicalId::to_string)
            .collect();
        let mut names = Vec::new();
        collect_references(&json, &mut names);
        assert!(!names.is_empty());
        for name in names {
            assert!(
                name.starts_with("AWS::") || known.contains(&name),
                "{name} is not defined"
            );
        }
    }
}

fn collect_references(value: &serde_json::Value, names: &mut Vec<String>) {
    use serde_json::Value as Json;
    match value {
        Json::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("Ref", Json::String(name)) => names.push(name.clone()),
                    ("Fn::GetAtt", Json::Array(parts)) => {
                        names.push(parts[0].as_str().unwrap_or_default().to_owned());
                    }
                    ("Fn::Sub", Json::String(text)) => {
                        for placeholder in text.split("${").skip(1) {
                            let name = placeholder.split('}').next().unwrap_or_default();
                            names.push(name.split('.').next().unwrap_or_default().to_owned());
                        }
                    }
                    _ => {}
                }
                collect_references(inner, names);
            }
        }
        Json::Array(items) => items
            .iter()
            .for_each(|item| collect_references(item, names)),
        _ => {}
    }
}

#[test]
fn the_outputs_give_the_url_tables_and_functions() {
    let template = default_stack();
    let outputs: BTreeMap<String, String> = template
        .outputs
        .iter()
        .map(|(id, output)| (id.to_string(), show(&output.value)))
        .collect();
    assert_eq!(
        outputs["ApiUrl"],
        "Sub https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/prod"
    );
    // The app's own tables; the data stack's are in its outputs.
    for table in Table::ALL.into_iter().filter(|t| !in_data_stack(*t)) {
        assert!(
            outputs
                .values()
                .any(|v| *v == table.logical_id().to_string())
        );
    }
    let data = data_stack();
    for output in DataOutput::ALL {
        assert!(
            data.outputs.contains_key(&LogicalId::new(output.name())),
            "{output:?}"
        );
        assert!(
            template
                .parameters
                .contains_key(&LogicalId::new(output.name())),
            "{output:?}"
        );
    }
    for function in Function::ALL {
        assert!(
            outputs
                .values()
                .any(|v| *v == function.logical_id().to_string())
        );
    }
    assert!(outputs.values().all(|v| !v.contains("ApiKey")));
}

const SECRET: &str = "Recognisable-Secret-Key-0123456789";

fn settings(pairs: &[(&str, &str)]) -> RawSettings {
    RawSettings::from_pairs(pairs)
}

#[test]
fn the_api_key_never_reaches_the_template() {
    for tracing in ["false", "true"] {
        let settings = settings(&[
            ("API_KEY", SECRET),
            ("TRACING", tracing),
            ("STACK_NAME", "secret-check"),
        ]);
        for format in [Format::Yaml, Format::Json] {
            let text = deployer::synth(&settings, format).expect("synthesizes");
            assert!(!text.is_empty());
            assert!(
                !text.contains(SECRET),
                "{} holds the API key",
                format.name()
            );
            assert!(
                !text.contains("Recognisable"),
                "{} holds part of the key",
                format.name()
            );
        }
    }
}

/// The same through a `.env` file, as `cargo xtask synth` reads it.
#[test]
fn the_api_key_in_the_env_file_never_reaches_the_template() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let env_file = dir.path().join(".env");
    std::fs::write(&env_file, format!("API_KEY={SECRET}\nTRACING=true\n")).expect("write .env");
    let settings = RawSettings::load(&env_file).expect("loads");
    // The environment wins over the file; only then is the file's key unread.
    if std::env::var_os("API_KEY").is_none() {
        assert_eq!(settings.get("API_KEY"), Some(SECRET), "the key was read");
    }
    for format in [Format::Yaml, Format::Json] {
        let text = deployer::synth(&settings, format).expect("synthesizes");
        assert!(
            !text.contains(SECRET),
            "{} holds the API key",
            format.name()
        );
    }
}

#[test]
fn synth_needs_no_api_key_and_names_bad_settings() {
    assert!(deployer::synth(&settings(&[]), Format::Yaml).is_ok());
    let err = deployer::synth(&settings(&[("TRACING", "maybe")]), Format::Yaml).unwrap_err();
    assert!(err.to_string().contains("TRACING"), "{err}");
    let err = deployer::synth(&settings(&[("STACK_NAME", "9lives")]), Format::Json).unwrap_err();
    assert!(err.to_string().contains("STACK_NAME"), "{err}");
}

#[test]
fn synth_is_deterministic_and_follows_the_settings() {
    let traced = settings(&[("TRACING", "1")]);
    for format in [Format::Yaml, Format::Json] {
        let first = deployer::synth(&traced, format).expect("synthesizes");
        assert_eq!(deployer::synth(&traced, format).expect("again"), first);
        assert!(first.contains("Active"), "tracing is on");
        let plain = deployer::synth(&settings(&[]), format).expect("synthesizes");
        assert!(!plain.contains("Active"));
    }
    let json = deployer::synth(&settings(&[]), Format::Json).expect("synthesizes");
    let yaml = deployer::synth(&settings(&[]), Format::Yaml).expect("synthesizes");
    let from_json: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    let from_yaml: serde_json::Value = serde_yaml::from_str(&yaml).expect("valid YAML");
    assert_eq!(from_json, from_yaml, "both formats hold the same template");
    // Resources in a stable (sorted) order.
    let ids: Vec<&String> = from_json["Resources"]
        .as_object()
        .expect("resources")
        .keys()
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
}

fn snapshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/snapshots/{name}.yaml"))
}

/// `template` byte for byte against the snapshot `name`. A deliberate
/// change: rerun with `UPDATE_SNAPSHOTS=1`, review the diff, commit the
/// file.
fn matches_snapshot(template: &Template, name: &str) {
    let actual = deployer::render(template, Format::Yaml).expect("renders");
    let path = snapshot_path(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &actual).expect("write the snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if actual != expected {
        let first_difference = actual
            .lines()
            .zip(expected.lines())
            .position(|(a, e)| a != e)
            .map_or_else(
                || "one is a prefix of the other".to_owned(),
                |line| format!("first difference at line {}", line + 1),
            );
        panic!(
            "the synthesized template differs from {} ({first_difference}).\n\
             If the change is intended, run `UPDATE_SNAPSHOTS=1 cargo nextest run -p deployer the_yaml_matches`, \
             review the diff and commit the file.",
            path.display()
        );
    }
}

#[test]
fn the_yaml_matches_the_snapshot() {
    matches_snapshot(&default_stack(), "app-stack");
}

#[test]
fn the_data_stack_yaml_matches_the_snapshot() {
    matches_snapshot(&data_stack(), "data-stack");
}

/// A resource offers only the attributes its type has: `stream_arn()`
/// exists on a table's id and nowhere else, so a wrong `GetAtt` does not
/// compile (`ResourceId::<lambda::Function>::new("X").stream_arn()` is a
/// compile error).
#[test]
fn attributes_are_typed_by_the_resource() {
    let table = ResourceId::<dynamodb::Table>::new("X");
    let stream: Expr = table.stream_arn();
    let arn: Expr = table.arn();
    assert_eq!(show(&stream), "X.StreamArn");
    assert_eq!(show(&arn), "X.Arn");
    let api = ResourceId::<apigateway::RestApi>::new("Api");
    let root: Expr = api.root_resource_id();
    assert_eq!(show(&root), "Api.RootResourceId");
    assert_eq!(
        ResourceId::<lambda::Function>::new("F").sub_arn(),
        "${F.Arn}"
    );
}

#[test]
fn the_first_phase_holds_the_artifact_bucket_exactly_as_the_app_does() {
    let bootstrap = deployer::stack::bootstrap_stack();
    let app = default_stack();
    let id = LogicalId::new(deployer::stack::ARTIFACT_BUCKET_ID);
    let policy = LogicalId::new(deployer::stack::ARTIFACT_BUCKET_POLICY_ID);
    assert_eq!(bootstrap.resources.len(), 2);
    assert_eq!(bootstrap.resources.get(&id), app.resources.get(&id));
    assert_eq!(bootstrap.resources.get(&policy), app.resources.get(&policy));
    assert!(bootstrap.parameters.is_empty());
    // Every function's code comes from that bucket.
    for (_, function) in resources_of(&app, |p| match p {
        Properties::LambdaFunction(f) => Some(f),
        _ => None,
    }) {
        assert_eq!(show(&function.code.s3_bucket), id.to_string());
    }
}

#[test]
fn the_usage_plan_throttles_the_key_as_the_settings_say() {
    let throttle_of = |settings: RawSettings| {
        let template = app_stack(&StackOptions::from_settings(&settings).expect("valid settings"));
        let plans = resources_of(&template, |p| match p {
            Properties::ApiGatewayUsagePlan(plan) => Some(plan),
            _ => None,
        });
        assert_eq!(plans.len(), 1);
        let throttle = plans[0].1.throttle.clone().expect("a throttle");
        (throttle.rate_limit, throttle.burst_limit)
    };
    assert_eq!(throttle_of(RawSettings::from_pairs(&[])), (100.0, 200));
    assert_eq!(
        throttle_of(RawSettings::from_pairs(&[
            ("THROTTLE_RATE_LIMIT", "25"),
            ("THROTTLE_BURST_LIMIT", "50"),
        ])),
        (25.0, 50)
    );
}
