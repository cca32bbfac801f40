//! What each function's role may do ([`grants`], the one source of the
//! roles): the grants, the resources they are on, and the policy
//! statements the template makes of them.

use service::functions::Function;

use super::Table;
use super::failures::failure_queue;
use super::function_resources::FunctionResources;
use super::rows::{PARKED_RECORD_ROWS, Rows, STREAM_AND_IDEMPOTENCY_KEY_ROWS};
use super::tables::{arn_in_app, events_stream_arn_in_app, held_lanes_index_arn};
use crate::cfn::iam::Statement;
use crate::cfn::{Expr, Pseudo};

/// What `function` may do, on what. Each list is exactly the calls its
/// code makes (`service::dynamo`, `service::replay_runs`):
/// - add-event: TransactGetItems (Get on the stream index) and
///   TransactWriteItems (conditional Puts on the events table and the
///   stream index: stream and idempotency-key rows only, `rows.rs`);
///   no ConditionCheck items, so no ConditionCheckItem.
/// - list-items: Query on the read model.
/// - list-streams: Query on the stream index (the list of streams) and
///   BatchGetItem there (their HEAD rows); Query on the events table (the
///   last write of a stream whose HEAD row predates its time).
/// - read-stream: Query on the events table; GetItem on the stream index
///   (the stream's HEAD row).
/// - trigger-replay: GetItem and TransactWriteItems (Puts) on the
///   replays table (the stream's lane and the job); an asynchronous
///   Invoke of the replay function (to start the replay, or to resume
///   one whose run died).
/// - replay-status: GetItem on the replays table; to resume a replay
///   whose run died, TransactWriteItems (Puts) there and an
///   asynchronous Invoke of the replay function.
/// - projector: conditional PutItem on the read model; conditional
///   PutItem on the stream index, parking the records it cannot decode
///   (parked rows in their partition only, `rows.rs`);
///   Lambda reads the events table's stream with the function's role;
///   SendMessage to the failure queue, for Lambda, which sends the
///   mapping's failure records with the function's role.
/// - replay: Query on the events table; BatchGetItem on the stream
///   index (each item's latest event, the streams' HEAD rows) and
///   Query there (the list of streams, for a rebuild); Query on the
///   replays table's index of held lanes (the sweep); Query, PutItem and DeleteItem on
///   the read model; GetItem and TransactWriteItems (Puts) on the
///   replays table; an asynchronous Invoke of itself, to hand a long
///   replay over to a fresh run before its time limit and to start the
///   replay queued behind it; SendMessage to the failure queue, for
///   Lambda: an asynchronous invocation's failure destination is written
///   with the function's execution role, which must be allowed to
///   (<https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html>,
///   "Destination-specific permissions": `sqs:SendMessage` for SQS).
pub(super) fn grants(function: Function, tracing: bool) -> Vec<Grant> {
    let mut grants = vec![Grant {
        target: Target::OwnLogGroup,
        actions: &["logs:CreateLogStream", "logs:PutLogEvents"],
        rows: None,
    }];
    grants.extend_from_slice(match function {
        Function::AddEvent => &[
            Grant {
                target: Target::EventsTable,
                actions: &["dynamodb:PutItem"],
                rows: None,
            },
            Grant {
                target: Target::StreamIndexTable,
                actions: &["dynamodb:GetItem"],
                rows: None,
            },
            Grant {
                target: Target::StreamIndexTable,
                actions: &["dynamodb:PutItem"],
                rows: Some(STREAM_AND_IDEMPOTENCY_KEY_ROWS),
            },
        ],
        Function::ListItems => &[Grant {
            target: Target::ReadModelTable,
            actions: &["dynamodb:Query"],
            rows: None,
        }],
        Function::ListStreams => &[
            Grant {
                target: Target::StreamIndexTable,
                actions: &["dynamodb:BatchGetItem", "dynamodb:Query"],
                rows: None,
            },
            Grant {
                target: Target::EventsTable,
                actions: &["dynamodb:Query"],
                rows: None,
            },
        ],
        Function::ReadStream => &[
            Grant {
                target: Target::EventsTable,
                actions: &["dynamodb:Query"],
                rows: None,
            },
            Grant {
                target: Target::StreamIndexTable,
                actions: &["dynamodb:GetItem"],
                rows: None,
            },
        ],
        // Both start replay runs: a new one, or one whose run died.
        Function::TriggerReplay | Function::ReplayStatus => &[
            Grant {
                target: Target::ReplaysTable,
                actions: &["dynamodb:GetItem", "dynamodb:PutItem"],
                rows: None,
            },
            Grant {
                target: Target::ReplayFunction,
                actions: &["lambda:InvokeFunction"],
                rows: None,
            },
        ],
        Function::Projector => &[
            Grant {
                target: Target::ReadModelTable,
                actions: &["dynamodb:PutItem"],
                rows: None,
            },
            Grant {
                target: Target::StreamIndexTable,
                actions: &["dynamodb:PutItem"],
                rows: Some(PARKED_RECORD_ROWS),
            },
            Grant {
                target: Target::EventsStream,
                actions: &[
                    "dynamodb:DescribeStream",
                    "dynamodb:GetRecords",
                    "dynamodb:GetShardIterator",
                ],
                rows: None,
            },
            // ListStreams has no resource-level permissions: it only
            // lists stream ARNs, and "*" is the only resource it takes.
            Grant {
                target: Target::AnyResource,
                actions: &["dynamodb:ListStreams"],
                rows: None,
            },
            Grant {
                target: Target::FailureQueue,
                actions: &["sqs:SendMessage"],
                rows: None,
            },
        ],
        Function::Replay => &[
            Grant {
                target: Target::EventsTable,
                actions: &["dynamodb:Query"],
                rows: None,
            },
            Grant {
                target: Target::StreamIndexTable,
                actions: &["dynamodb:BatchGetItem", "dynamodb:Query"],
                rows: None,
            },
            Grant {
                target: Target::HeldLanesIndex,
                actions: &["dynamodb:Query"],
                rows: None,
            },
            Grant {
                target: Target::ReadModelTable,
                actions: &["dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:Query"],
                rows: None,
            },
            Grant {
                target: Target::ReplaysTable,
                actions: &["dynamodb:GetItem", "dynamodb:PutItem"],
                rows: None,
            },
            Grant {
                target: Target::OwnFunction,
                actions: &["lambda:InvokeFunction"],
                rows: None,
            },
            Grant {
                target: Target::FailureQueue,
                actions: &["sqs:SendMessage"],
                rows: None,
            },
        ],
    });
    if tracing {
        // X-Ray's write actions take no resource but "*".
        grants.push(Grant {
            target: Target::AnyResource,
            actions: &["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
            rows: None,
        });
    }
    grants
}

/// Some actions on one resource, for one function's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    pub target: Target,
    pub actions: &'static [&'static str],
    /// The rows of a table the actions may write (`rows.rs`); `None`: all.
    pub rows: Option<Rows>,
}

/// The resource a grant is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// The function's own log group (and so its log streams).
    OwnLogGroup,
    EventsTable,
    /// The events table's DynamoDB stream.
    EventsStream,
    StreamIndexTable,
    ReadModelTable,
    ReplaysTable,
    /// The replays table's index of held lanes.
    HeldLanesIndex,
    ReplayFunction,
    /// The function itself, by the name it is deployed under: its ARN would
    /// make the role depend on the function, which depends on the role.
    OwnFunction,
    /// The stack's failure queue.
    FailureQueue,
    /// `*`, for actions without resource-level permissions.
    AnyResource,
}

/// The resource a grant's actions apply to.
fn grant_resource(function: Function, target: Target) -> Expr {
    match target {
        Target::OwnLogGroup => function.log_group_id().arn(),
        Target::EventsTable => arn_in_app(Table::Events),
        Target::EventsStream => events_stream_arn_in_app(),
        Target::StreamIndexTable => arn_in_app(Table::StreamIndex),
        Target::ReadModelTable => arn_in_app(Table::ReadModel),
        Target::ReplaysTable => arn_in_app(Table::Replays),
        Target::HeldLanesIndex => held_lanes_index_arn(),
        Target::ReplayFunction => Function::Replay.logical_id().arn(),
        Target::OwnFunction => Expr::sub(format!(
            "arn:${{{}}}:lambda:${{{}}}:${{{}}}:function:${{{}}}-{}",
            Pseudo::Partition.name(),
            Pseudo::Region.name(),
            Pseudo::AccountId.name(),
            Pseudo::StackName.name(),
            function.name()
        )),
        Target::FailureQueue => failure_queue().arn(),
        Target::AnyResource => "*".into(),
    }
}

/// The statements of `function`'s role: each grant on its resource,
/// narrowed to its rows.
pub(super) fn statements(function: Function, tracing: bool) -> Vec<Statement> {
    grants(function, tracing)
        .into_iter()
        .map(|grant| {
            let statement =
                Statement::allow(grant.actions, vec![grant_resource(function, grant.target)]);
            match grant.rows {
                Some(rows) => rows.narrow(statement),
                None => statement,
            }
        })
        .collect()
}
