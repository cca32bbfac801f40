//! The functions: their names and logical IDs, what each may do
//! ([`Function::grants`], the one source of the roles), and their
//! resources in the template: log group, role, function, and the
//! projector's stream mapping.

use std::collections::BTreeMap;

use service::functions::Function;

use super::failures::{failure_queue, on_failure_to_queue};
use super::parameters::Parameters;
use super::rows::{PARKED_RECORD_ROWS, Rows, STREAM_AND_IDEMPOTENCY_KEY_ROWS};
use super::tables::{arn_in_app, events_stream_arn_in_app, held_lanes_index_arn, name_in_app};
use super::{StackOptions, Table};
use crate::cfn::events;
use crate::cfn::iam::{self, PolicyDocument, Statement};
use crate::cfn::lambda;
use crate::cfn::logs::{self, RetentionDays};
use crate::cfn::{Expr, LogicalId, Pseudo, Resource, ResourceId, Template};

/// How long the functions' logs are kept.
pub const LOG_RETENTION: RetentionDays = RetentionDays::Days30;

/// Read by `service::settings::RawSettings::test_stream_id`.
const TEST_STREAM_ID_ENV: &str = "TEST_STREAM_ID";
/// Read by `service::wiring::api_from_env`: present only where replays are
/// dispatched.
const REPLAY_FUNCTION_NAME_ENV: &str = "REPLAY_FUNCTION_NAME";

/// The event source mapping's batch size (records per invocation).
const PROJECTOR_BATCH_SIZE: u32 = 100;
/// A failing batch is retried without a count limit (-1): a write that
/// fails now (throttling, an outage) succeeds later, and giving up on it
/// would leave the read model behind the log. A record that can never
/// succeed does not block its shard: the projector parks what it cannot
/// decode in the failure queue and reports it done, and bisection narrows
/// any other failure down to the records that cause it. See "Lambda
/// parameters for Amazon DynamoDB event source mappings",
/// <https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-params.html>:
/// -1 means "failed records are retried until the record expires".
const PROJECTOR_MAX_RETRIES: i32 = -1;
/// How long DynamoDB Streams keeps a record: 24 hours, fixed by AWS
/// (same page: "The data retention limit for DynamoDB Streams is 24
/// hours"). Past it the record is trimmed from the stream.
pub const STREAM_RETENTION_SECONDS: i32 = 24 * 60 * 60;
/// How long before the stream trims a record the mapping gives up on it:
/// the failure record (shard and sequence numbers) is sent while the
/// records it points at can still be read, with time to spare for the
/// batch that is being retried when the age limit passes (a retry can
/// take up to the function's time limit, bisections several).
pub const FAILURE_RECORD_MARGIN_SECONDS: i32 = 60 * 60;
/// ... and the age limit: a batch still failing 23 hours after its
/// records were written is discarded through the on-failure destination,
/// which records it, rather than expiring from the stream unreported.
pub const PROJECTOR_MAX_RECORD_AGE_SECONDS: i32 =
    STREAM_RETENTION_SECONDS - FAILURE_RECORD_MARGIN_SECONDS;

/// What the template makes of each of the app's functions
/// ([`service::functions::Function`], the one list of them): logical IDs,
/// memory and time limits, and what its role may do.
pub trait FunctionResources: Copy {
    /// The stem of the function's logical IDs. Never derived from the
    /// variant's name: a logical ID is a resource's identity, and renaming
    /// it would replace the resource.
    fn stem(self) -> &'static str;
    fn logical_id(self) -> ResourceId<lambda::Function>;
    fn role_id(self) -> ResourceId<iam::Role>;
    fn log_group_id(self) -> ResourceId<logs::LogGroup>;
    /// The parameter holding the S3 key of the function's zip.
    fn code_key_parameter(self) -> LogicalId;
    /// The deployed name, `<stack name>-<function>`: fixed so that the log
    /// group (which the role's policy names) can exist before the function.
    fn deployed_name(self) -> Expr;
    fn memory_mb(self) -> u32;
    fn timeout_seconds(self) -> u32;
    /// What the function may do, on what: the one place the roles come
    /// from.
    fn grants(self, tracing: bool) -> Vec<Grant>;
}

impl FunctionResources for Function {
    fn stem(self) -> &'static str {
        match self {
            Function::AddEvent => "AddEvent",
            Function::ListItems => "ListItems",
            Function::TriggerReplay => "TriggerReplay",
            Function::ReplayStatus => "ReplayStatus",
            Function::Projector => "Projector",
            Function::Replay => "Replay",
        }
    }

    fn logical_id(self) -> ResourceId<lambda::Function> {
        ResourceId::new(format!("{}Function", self.stem()))
    }

    fn role_id(self) -> ResourceId<iam::Role> {
        ResourceId::new(format!("{}Role", self.stem()))
    }

    fn log_group_id(self) -> ResourceId<logs::LogGroup> {
        ResourceId::new(format!("{}LogGroup", self.stem()))
    }

    fn code_key_parameter(self) -> LogicalId {
        LogicalId::new(format!("{}CodeKey", self.stem()))
    }

    fn deployed_name(self) -> Expr {
        Expr::sub(format!("${{{}}}-{}", Pseudo::StackName.name(), self.name()))
    }

    fn memory_mb(self) -> u32 {
        match self {
            // CPU scales with memory; replays fold whole streams.
            Function::Replay => 512,
            _ => 256,
        }
    }

    fn timeout_seconds(self) -> u32 {
        u32::try_from(self.timeout().as_secs()).unwrap_or(u32::MAX)
    }

    /// Each list is exactly the calls its code makes
    /// (`service::dynamo`, `service::replay`):
    /// - add-event: TransactGetItems (Get on the stream index) and
    ///   TransactWriteItems (conditional Puts on the events table and the
    ///   stream index: stream and idempotency-key rows only, `rows.rs`);
    ///   no ConditionCheck items, so no ConditionCheckItem.
    /// - list-items: Query on the read model.
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
    fn grants(self, tracing: bool) -> Vec<Grant> {
        let mut grants = vec![Grant {
            target: Target::OwnLogGroup,
            actions: &["logs:CreateLogStream", "logs:PutLogEvents"],
            rows: None,
        }];
        grants.extend_from_slice(match self {
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
            Function::TriggerReplay => &[
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
            Function::ReplayStatus => &[
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

pub(super) fn add_function(
    template: &mut Template,
    function: Function,
    options: &StackOptions,
    parameters: &Parameters,
) {
    template.resource(
        function.log_group_id().as_str(),
        // Logs expire anyway; they go with the stack.
        Resource::from(logs::LogGroup {
            log_group_name: Some(Expr::sub(format!(
                "/aws/lambda/${{{}}}-{}",
                Pseudo::StackName.name(),
                function.name()
            ))),
            retention_in_days: Some(LOG_RETENTION),
        })
        .deleted(),
    );

    let statements = function
        .grants(options.tracing)
        .into_iter()
        .map(|grant| {
            let statement =
                Statement::allow(grant.actions, vec![grant_resource(function, grant.target)]);
            match grant.rows {
                Some(rows) => rows.narrow(statement),
                None => statement,
            }
        })
        .collect();
    let role = template.resource(
        function.role_id().as_str(),
        iam::Role {
            description: Some(format!(
                "Execution role of the {} function",
                function.name()
            )),
            assume_role_policy_document: PolicyDocument::new(vec![
                Statement::service_may_assume_role("lambda.amazonaws.com"),
            ]),
            managed_policy_arns: Vec::new(),
            policies: vec![iam::InlinePolicy {
                policy_name: function.name().to_owned(),
                policy_document: PolicyDocument::new(statements),
            }],
        },
    );

    // Every function builds the DynamoDB store at start-up, which needs
    // every table's name (names grant nothing; the role decides access).
    let mut variables: BTreeMap<String, Expr> = Table::ALL
        .into_iter()
        .map(|table| (table.env_var().to_owned(), name_in_app(table)))
        .collect();
    variables.insert("RUST_LOG".to_owned(), "info".into());
    match function {
        Function::ListItems => {
            variables.insert(
                TEST_STREAM_ID_ENV.to_owned(),
                parameters.test_stream_id.reference(),
            );
        }
        // They start replay runs: a new replay, or one whose run died.
        Function::TriggerReplay | Function::ReplayStatus => {
            variables.insert(
                REPLAY_FUNCTION_NAME_ENV.to_owned(),
                Function::Replay.logical_id().reference(),
            );
        }
        Function::AddEvent | Function::Replay | Function::Projector => {}
    }

    template.resource(
        function.logical_id().as_str(),
        lambda::Function {
            function_name: Some(function.deployed_name()),
            description: Some(format!("The {} function", function.name())),
            runtime: lambda::Runtime::ProvidedAl2023,
            handler: "bootstrap".to_owned(),
            architecture: options.architecture,
            code: lambda::Code {
                s3_bucket: parameters.code_bucket.reference(),
                s3_key: function.code_key_parameter().reference(),
            },
            role: role.arn(),
            memory_size: Some(function.memory_mb()),
            timeout: Some(function.timeout_seconds()),
            environment: Some(lambda::Environment { variables }),
            tracing_config: options.tracing.then_some(lambda::TracingConfig {
                mode: lambda::TracingMode::Active,
            }),
            reserved_concurrent_executions: match function {
                // Replays are background work: capped (and guaranteed)
                // by REPLAY_CONCURRENCY, so many at once cannot starve the
                // API and the projector of the account's concurrency.
                Function::Replay => options.replay_concurrency.reserved(),
                _ => None,
            },
        },
    );
}

/// The sweep: every few minutes a schedule invokes the replay function
/// to resume the replays whose run died (`service::replay::sweep`).
pub(super) fn add_replay_sweep(template: &mut Template) {
    let rule = template.resource(
        "ReplaySweepSchedule",
        events::Rule {
            description: Some(
                "Resumes the replays whose run stopped reporting progress".to_owned(),
            ),
            schedule_expression: service::replay::SWEEP_SCHEDULE.to_owned(),
            state: events::RuleState::Enabled,
            targets: vec![events::RuleTarget {
                arn: Function::Replay.logical_id().arn(),
                id: "replay-sweep".to_owned(),
                input: Some(service::replay::SWEEP_INPUT.to_owned()),
            }],
        },
    );
    template.resource(
        "ReplaySweepPermission",
        lambda::Permission {
            action: lambda::PermissionAction::InvokeFunction,
            function_name: Function::Replay.logical_id().reference(),
            principal: "events.amazonaws.com".to_owned(),
            source_arn: Some(rule.arn()),
        },
    );
}

pub(super) fn add_projector_source(template: &mut Template) {
    template.resource(
        "ProjectorEventSource",
        lambda::EventSourceMapping {
            event_source_arn: events_stream_arn_in_app(),
            function_name: Function::Projector.logical_id().reference(),
            // Everything the stream still holds: a new projector catches up.
            starting_position: lambda::StartingPosition::TrimHorizon,
            batch_size: Some(PROJECTOR_BATCH_SIZE),
            bisect_batch_on_function_error: Some(true),
            maximum_retry_attempts: Some(PROJECTOR_MAX_RETRIES),
            maximum_record_age_in_seconds: Some(PROJECTOR_MAX_RECORD_AGE_SECONDS),
            function_response_types: vec![lambda::FunctionResponseType::ReportBatchItemFailures],
            // A record of each discarded batch (its shard and sequence
            // numbers, not the records) goes to the failure queue.
            destination_config: Some(on_failure_to_queue()),
        },
    );
}
