//! The alarms of a deployment, each named `<stack>-<what>` and described
//! with what it means and what to do: every function's errors and
//! throttles (from [`Function::ALL`], so a new function gets both), the
//! projector falling behind its stream, the failure queue holding a
//! record, the API answering 5xx, and a replay recorded failed (a metric
//! the replay function's log lines make, `REPLAY_FAILED_MESSAGE`).
//! Notifications go to the topic the settings name, or nowhere
//! ([`AlarmTopic`]): the alarms still show their state either way.

use service::functions::Function;
use service::replay_runs::REPLAY_FAILED_MESSAGE;

use super::FunctionResources;
use super::api::STAGE_NAME;
use super::failures::failure_queue;
use crate::cfn::cloudwatch::{self, ComparisonOperator, Dimension, Statistic, TreatMissingData};
use crate::cfn::logs::{MetricFilter, MetricTransformation};
use crate::cfn::sns::{self, Protocol};
use crate::cfn::{Expr, Pseudo, Template};
use crate::settings::{AlarmSettings, AlarmTopic};

/// The topic the stack makes for `ALARM_EMAIL`.
pub const ALARM_TOPIC_ID: &str = "AlarmTopic";
/// The e-mail subscription to it.
pub const ALARM_SUBSCRIPTION_ID: &str = "AlarmEmailSubscription";
/// The metric filter counting failed replays in the replay function's log.
pub const REPLAY_FAILED_FILTER_ID: &str = "ReplayFailedMetricFilter";
/// The metric it publishes, in [`metric_namespace`].
pub const REPLAY_FAILED_METRIC: &str = "ReplaysFailed";
/// Every alarm looks at five minutes at a time.
pub const ALARM_PERIOD_SECONDS: u32 = 300;

/// The namespace of the deployment's own metrics: one per stack, so two
/// deployments in an account never add to each other's counts.
pub fn metric_namespace() -> Expr {
    Expr::sub(metric_namespace_sub())
}

/// The same, as a `Fn::Sub` template string.
pub fn metric_namespace_sub() -> String {
    format!("EventSourcingService/${{{}}}", Pseudo::StackName.name())
}

/// The CloudWatch Logs pattern matching the line a failed replay writes
/// (JSON lines, the message under `fields`).
pub fn replay_failed_pattern() -> String {
    format!("{{ $.fields.message = \"{REPLAY_FAILED_MESSAGE}\" }}")
}

/// One alarm of the deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Alarm {
    /// The function failed at least once in a period.
    Errors(Function),
    /// Lambda refused to run the function at least once in a period.
    Throttles(Function),
    /// The projector's oldest record waited longer than the threshold.
    IteratorAge,
    /// The failure queue holds a record.
    FailureQueue,
    /// The API answered more 5xx than the threshold's share.
    Api5xx,
    /// A replay was recorded failed.
    ReplayFailed,
}

impl Alarm {
    /// Every alarm, in the order the template and `status` show them.
    pub fn all() -> Vec<Alarm> {
        let mut all: Vec<Alarm> = Function::ALL.into_iter().map(Alarm::Errors).collect();
        all.extend(Function::ALL.into_iter().map(Alarm::Throttles));
        all.extend([
            Alarm::IteratorAge,
            Alarm::FailureQueue,
            Alarm::Api5xx,
            Alarm::ReplayFailed,
        ]);
        all
    }

    pub fn logical_id(self) -> String {
        match self {
            Alarm::Errors(function) => format!("{}ErrorsAlarm", function.stem()),
            Alarm::Throttles(function) => format!("{}ThrottlesAlarm", function.stem()),
            Alarm::IteratorAge => "ProjectorIteratorAgeAlarm".to_owned(),
            Alarm::FailureQueue => "FailureQueueAlarm".to_owned(),
            Alarm::Api5xx => "Api5xxAlarm".to_owned(),
            Alarm::ReplayFailed => "ReplayFailedAlarm".to_owned(),
        }
    }

    /// What follows `<stack>-` in the alarm's name.
    pub fn name_suffix(self) -> String {
        match self {
            Alarm::Errors(function) => format!("{}-errors", function.name()),
            Alarm::Throttles(function) => format!("{}-throttles", function.name()),
            Alarm::IteratorAge => "projector-falling-behind".to_owned(),
            Alarm::FailureQueue => "failure-queue-not-empty".to_owned(),
            Alarm::Api5xx => "api-5xx-rate".to_owned(),
            Alarm::ReplayFailed => "replay-failed".to_owned(),
        }
    }

    /// What it means and what to do.
    fn description(self, settings: &AlarmSettings) -> String {
        let minutes = ALARM_PERIOD_SECONDS / 60;
        match self {
            Alarm::Errors(function) => format!(
                "The {function} function failed at least once in {minutes} minutes. Read its lines with: cargo xtask logs {function} --since 30m --filter ERROR; cargo xtask status shows the failure queue and parked records."
            ),
            Alarm::Throttles(function) => format!(
                "Lambda refused to run the {function} function at least once in {minutes} minutes: the account's (or its reserved) concurrency was used up. Look at the account's concurrent executions, raise the limit or REPLAY_CONCURRENCY, or lower the API throttle (THROTTLE_RATE_LIMIT)."
            ),
            Alarm::IteratorAge => format!(
                "The projector is more than {} seconds behind the events table's stream: the read model is stale. Look at the projector's errors (cargo xtask logs projector --since 30m) and the stream mapping in cargo xtask status; past 24 hours the stream drops records and a rebuild (cargo xtask replay --all) is needed.",
                settings.iterator_age_seconds
            ),
            Alarm::FailureQueue => "The failure queue holds at least one record: a stream batch the projector gave up on, a record it can never decode, or a replay invocation that failed for good. Read the queue (its URL is in cargo xtask status), fix the cause, then replay the stream it names.".to_owned(),
            Alarm::Api5xx => format!(
                "More than {}% of the API's requests in {minutes} minutes were answered with a 5xx. Read the API functions' lines (cargo xtask logs --since 30m --filter ERROR) and check their errors and throttles alarms.",
                format_percent(settings.api_5xx_hundredths)
            ),
            Alarm::ReplayFailed => "A replay was recorded failed: its stream's read model was not rebuilt. Read why with cargo xtask logs replay --since 1h --filter ERROR, or cargo xtask replay --status <id>; fix the cause and trigger the replay again.".to_owned(),
        }
    }

    /// The alarm's resource: its metric, statistic, threshold, actions.
    fn resource(self, settings: &AlarmSettings, actions: &[Expr]) -> cloudwatch::Alarm {
        let lambda = |metric: &str, function: Function, statistic, threshold| {
            (
                Expr::from("AWS/Lambda"),
                metric.to_owned(),
                vec![Dimension::new("FunctionName", function.deployed_name())],
                statistic,
                threshold,
            )
        };
        let (namespace, metric_name, dimensions, statistic, threshold) = match self {
            Alarm::Errors(function) => lambda("Errors", function, Statistic::Sum, 0.0),
            Alarm::Throttles(function) => lambda("Throttles", function, Statistic::Sum, 0.0),
            Alarm::IteratorAge => lambda(
                "IteratorAge",
                Function::Projector,
                Statistic::Maximum,
                // Lambda reports the age in milliseconds.
                f64::from(settings.iterator_age_seconds) * 1000.0,
            ),
            Alarm::FailureQueue => (
                Expr::from("AWS/SQS"),
                "ApproximateNumberOfMessagesVisible".to_owned(),
                vec![Dimension::new("QueueName", failure_queue().queue_name())],
                Statistic::Maximum,
                0.0,
            ),
            Alarm::Api5xx => (
                Expr::from("AWS/ApiGateway"),
                "5XXError".to_owned(),
                vec![
                    Dimension::new("ApiName", Pseudo::StackName.reference()),
                    Dimension::new("Stage", STAGE_NAME.into()),
                ],
                Statistic::Average,
                settings.api_5xx_fraction(),
            ),
            Alarm::ReplayFailed => (
                metric_namespace(),
                REPLAY_FAILED_METRIC.to_owned(),
                Vec::new(),
                Statistic::Sum,
                0.0,
            ),
        };
        cloudwatch::Alarm {
            alarm_name: Some(Expr::sub(format!(
                "${{{}}}-{}",
                Pseudo::StackName.name(),
                self.name_suffix()
            ))),
            alarm_description: Some(self.description(settings)),
            namespace,
            metric_name,
            dimensions,
            statistic,
            period: ALARM_PERIOD_SECONDS,
            evaluation_periods: 1,
            threshold,
            comparison_operator: ComparisonOperator::GreaterThanThreshold,
            // No data is no traffic (no errors, no records, no replays).
            treat_missing_data: Some(TreatMissingData::NotBreaching),
            alarm_actions: actions.to_vec(),
            ok_actions: actions.to_vec(),
        }
    }
}

/// 100 → "1", 50 → "0.5", 1234 → "12.34".
pub fn format_percent(hundredths: u32) -> String {
    let (whole, fraction) = (hundredths / 100, hundredths % 100);
    match fraction {
        0 => whole.to_string(),
        f if f % 10 == 0 => format!("{whole}.{}", f / 10),
        f => format!("{whole}.{f:02}"),
    }
}

/// Adds the topic (for `ALARM_EMAIL`), the failed-replay metric filter and
/// every alarm.
pub(super) fn add_alarms(template: &mut Template, settings: &AlarmSettings) {
    let actions: Vec<Expr> = match &settings.topic {
        AlarmTopic::None => Vec::new(),
        AlarmTopic::Existing(arn) => vec![arn.as_str().into()],
        AlarmTopic::Email(email) => {
            // Not encrypted with SNS's AWS managed key: CloudWatch could
            // not publish to it (that key's policy cannot grant it).
            let topic = template.resource(
                ALARM_TOPIC_ID,
                sns::Topic {
                    topic_name: None,
                    display_name: Some("Event-sourcing service alarms".to_owned()),
                },
            );
            template.resource(
                ALARM_SUBSCRIPTION_ID,
                sns::Subscription {
                    topic_arn: topic.topic_arn(),
                    protocol: Protocol::Email,
                    endpoint: email.as_str().into(),
                },
            );
            vec![topic.topic_arn()]
        }
    };
    template.resource(
        REPLAY_FAILED_FILTER_ID,
        MetricFilter {
            filter_name: None,
            log_group_name: Function::Replay.log_group_id().reference(),
            filter_pattern: replay_failed_pattern(),
            metric_transformations: vec![MetricTransformation {
                metric_namespace: metric_namespace(),
                metric_name: REPLAY_FAILED_METRIC.to_owned(),
                metric_value: "1".to_owned(),
                default_value: Some(0.0),
            }],
        },
    );
    for alarm in Alarm::all() {
        template.resource(&alarm.logical_id(), alarm.resource(settings, &actions));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_are_written_as_given() {
        for (hundredths, text) in [
            (100, "1"),
            (50, "0.5"),
            (1234, "12.34"),
            (5, "0.05"),
            (10_000, "100"),
        ] {
            assert_eq!(format_percent(hundredths), text);
        }
    }
}
