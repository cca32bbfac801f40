//! The roles: each allows exactly what its function does, and only the
//! projector and the replay may send to the failure queue.

use deployer::cfn::iam::Effect;
use deployer::cfn::{Properties, Template};
use deployer::stack::FunctionResources;
use deployer::stack::{FAILURE_QUEUE_ID, Function};

use super::{default_stack, resources_of, show, traced_stack};

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
        Function::ListStreams => vec![
            (
                "StreamIndexTableArn".to_owned(),
                vec!["dynamodb:BatchGetItem", "dynamodb:Query"],
            ),
            ("EventsTableArn".to_owned(), vec!["dynamodb:Query"]),
        ],
        Function::ReadStream => vec![
            ("EventsTableArn".to_owned(), vec!["dynamodb:Query"]),
            ("StreamIndexTableArn".to_owned(), vec!["dynamodb:GetItem"]),
        ],
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
