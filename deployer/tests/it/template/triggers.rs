//! What runs the projector and the replay besides the API: the stream
//! mapping, the replay's asynchronous invocations and the sweep's
//! schedule; and the failure queue they give up to.

use deployer::cfn::lambda::{AsyncRetries, FunctionResponseType, Qualifier, StartingPosition};
use deployer::cfn::{LogicalId, Policy, Properties};
use deployer::stack::FunctionResources;
use deployer::stack::{
    FAILURE_QUEUE_ID, FAILURE_RECORD_MARGIN_SECONDS, Function, PROJECTOR_MAX_RECORD_AGE_SECONDS,
    STREAM_RETENTION_SECONDS,
};

use super::{default_stack, resources_of, show};

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
    assert_eq!(
        rule.schedule_expression,
        service::replay_runs::SWEEP_SCHEDULE
    );
    assert_eq!(rule.targets.len(), 1);
    assert_eq!(show(&rule.targets[0].arn), "ReplayFunction.Arn");
    let input = rule.targets[0].input.as_deref().expect("a constant input");
    assert_eq!(
        serde_json::from_str::<service::replay_runs::ReplayInvocation>(input).ok(),
        Some(service::replay_runs::ReplayInvocation::Sweep { sweep: true })
    );
    let sweep = service::replay_runs::SWEEP_EVERY.as_secs();
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
