//! The functions' resources in the template: log group, role (its
//! statements from `grants.rs`), function with the environment it reads,
//! the projector's stream mapping and the replay sweep's schedule; their
//! names and sizes are `function_resources.rs`'s.

use std::collections::BTreeMap;

use service::functions::{EnvVar, Function};

use super::StackOptions;
use super::failures::on_failure_to_queue;
use super::function_resources::FunctionResources;
use super::grants;
use super::parameters::Parameters;
use super::tables::{events_stream_arn_in_app, name_in_app};
use crate::cfn::events;
use crate::cfn::iam::{self, PolicyDocument, Statement};
use crate::cfn::lambda;
use crate::cfn::logs::{self, RetentionDays};
use crate::cfn::{Expr, Pseudo, Resource, Template};

/// How long the functions' logs are kept.
pub const LOG_RETENTION: RetentionDays = RetentionDays::Days30;

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
                policy_document: PolicyDocument::new(grants::statements(function, options.tracing)),
            }],
        },
    );

    let variables: BTreeMap<String, Expr> = function
        .environment()
        .into_iter()
        .map(|variable| (variable.as_str().to_owned(), value(variable, parameters)))
        .collect();

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
                Function::AddEvent
                | Function::ListItems
                | Function::TriggerReplay
                | Function::ReplayStatus
                | Function::ListStreams
                | Function::ReadStream
                | Function::Projector => None,
            },
        },
    );
}

/// What the template sets `variable` to.
fn value(variable: EnvVar, parameters: &Parameters) -> Expr {
    match variable {
        EnvVar::Table(table) => name_in_app(table),
        EnvVar::TestStreamId => parameters.test_stream_id.reference(),
        EnvVar::ReplayFunctionName => Function::Replay.logical_id().reference(),
        EnvVar::RustLog => "info".into(),
    }
}

/// The sweep: every few minutes a schedule invokes the replay function
/// to resume the replays whose run died (`service::replay_runs::sweep`).
pub(super) fn add_replay_sweep(template: &mut Template) {
    let rule = template.resource(
        "ReplaySweepSchedule",
        events::Rule {
            description: Some(
                "Resumes the replays whose run stopped reporting progress".to_owned(),
            ),
            schedule_expression: service::replay_runs::SWEEP_SCHEDULE.to_owned(),
            state: events::RuleState::Enabled,
            targets: vec![events::RuleTarget {
                arn: Function::Replay.logical_id().arn(),
                id: "replay-sweep".to_owned(),
                input: Some(service::replay_runs::SWEEP_INPUT.to_owned()),
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
