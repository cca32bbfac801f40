//! What running in production adds to the templates: an alarm per
//! concern (errors and throttles for every function), the topic they
//! notify, the failed-replay metric, the dashboard, and the permissions
//! boundary on every role of both stacks.

use std::collections::BTreeSet;

use deployer::cfn::cloudwatch::{self, ComparisonOperator, Statistic};
use deployer::cfn::{Properties, Template};
use deployer::settings::{
    AlarmSettings, AlarmTopic, DEFAULT_API_5XX_HUNDREDTHS, DEFAULT_ITERATOR_AGE_SECONDS,
};
use deployer::stack::alarms::{
    ALARM_SUBSCRIPTION_ID, ALARM_TOPIC_ID, Alarm, REPLAY_FAILED_FILTER_ID, REPLAY_FAILED_METRIC,
    replay_failed_pattern,
};
use deployer::stack::dashboard::DASHBOARD_ID;
use deployer::stack::{Function, FunctionResources, data_stack_with};
use deployer::{StackOptions, app_stack};

use super::{default_stack, resources_of, show};

const BOUNDARY: &str = "arn:aws:iam::123456789012:policy/TeamBoundary";
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:ops-alarms";

fn with_alarms(alarms: AlarmSettings) -> Template {
    app_stack(&StackOptions {
        alarms,
        ..StackOptions::default()
    })
}

fn alarms(template: &Template) -> Vec<(String, &cloudwatch::Alarm)> {
    resources_of(template, |p| match p {
        Properties::CloudWatchAlarm(alarm) => Some(alarm),
        _ => None,
    })
    .into_iter()
    .map(|(id, alarm)| (id.to_string(), alarm))
    .collect()
}

fn alarm(template: &Template, which: Alarm) -> &cloudwatch::Alarm {
    match template
        .resources
        .get(&deployer::cfn::LogicalId::new(which.logical_id()))
    {
        Some(resource) => match &resource.properties {
            Properties::CloudWatchAlarm(alarm) => alarm,
            other => panic!("{which:?} is a {}", other.type_name()),
        },
        None => panic!("no alarm {which:?}"),
    }
}

#[test]
fn every_function_has_an_errors_and_a_throttles_alarm_and_each_concern_one() {
    let template = default_stack();
    let ids: BTreeSet<String> = alarms(&template).into_iter().map(|(id, _)| id).collect();
    let expected: BTreeSet<String> = Alarm::all().into_iter().map(Alarm::logical_id).collect();
    assert_eq!(ids, expected);
    assert_eq!(ids.len(), 2 * Function::ALL.len() + 4);
    for function in Function::ALL {
        for (which, metric) in [
            (Alarm::Errors(function), "Errors"),
            (Alarm::Throttles(function), "Throttles"),
        ] {
            let alarm = alarm(&template, which);
            assert_eq!(alarm.metric_name, metric);
            assert_eq!(show(&alarm.namespace), "AWS/Lambda");
            assert_eq!(alarm.statistic, Statistic::Sum);
            assert_eq!(alarm.period, 300);
            assert_eq!(alarm.threshold, 0.0);
            assert_eq!(
                alarm.comparison_operator,
                ComparisonOperator::GreaterThanThreshold
            );
            assert_eq!(
                show(&alarm.dimensions[0].value),
                show(&function.deployed_name())
            );
        }
    }
    for (_, alarm) in alarms(&template) {
        let name = show(alarm.alarm_name.as_ref().expect("named"));
        assert!(name.starts_with("Sub ${AWS::StackName}-"), "{name}");
        let description = alarm.alarm_description.as_deref().expect("described");
        assert!(
            description.len() > 60 && description.len() <= 1024,
            "{description}"
        );
        assert!(alarm.alarm_actions.is_empty() && alarm.ok_actions.is_empty());
    }
}

#[test]
fn the_thresholds_are_the_settings_defaults_or_their_values() {
    let default = default_stack();
    let age = alarm(&default, Alarm::IteratorAge);
    assert_eq!(age.metric_name, "IteratorAge");
    assert_eq!(age.statistic, Statistic::Maximum);
    assert_eq!(
        age.threshold,
        f64::from(DEFAULT_ITERATOR_AGE_SECONDS) * 1000.0
    );
    let api = alarm(&default, Alarm::Api5xx);
    assert_eq!(
        (show(&api.namespace).as_str(), api.metric_name.as_str()),
        ("AWS/ApiGateway", "5XXError")
    );
    assert_eq!(api.statistic, Statistic::Average);
    assert_eq!(
        api.threshold,
        f64::from(DEFAULT_API_5XX_HUNDREDTHS) / 10_000.0
    );
    let dims: Vec<(String, String)> = api
        .dimensions
        .iter()
        .map(|d| (d.name.clone(), show(&d.value)))
        .collect();
    assert_eq!(
        dims,
        [
            ("ApiName".to_owned(), "AWS::StackName".to_owned()),
            ("Stage".to_owned(), deployer::stack::STAGE_NAME.to_owned())
        ]
    );
    let queue = alarm(&default, Alarm::FailureQueue);
    assert_eq!(queue.metric_name, "ApproximateNumberOfMessagesVisible");
    assert_eq!(show(&queue.dimensions[0].value), "FailureQueue.QueueName");

    let set = with_alarms(AlarmSettings {
        iterator_age_seconds: 900,
        api_5xx_hundredths: 250,
        topic: AlarmTopic::None,
    });
    assert_eq!(alarm(&set, Alarm::IteratorAge).threshold, 900_000.0);
    assert_eq!(alarm(&set, Alarm::Api5xx).threshold, 0.025);
    assert!(
        alarm(&set, Alarm::Api5xx)
            .alarm_description
            .as_deref()
            .unwrap()
            .contains("2.5%")
    );
}

#[test]
fn a_failed_replay_line_becomes_a_metric_of_the_deployment_and_an_alarm() {
    let template = default_stack();
    let Some(Properties::LogsMetricFilter(filter)) = template
        .resources
        .get(&deployer::cfn::LogicalId::new(REPLAY_FAILED_FILTER_ID))
        .map(|r| &r.properties)
    else {
        panic!("no metric filter");
    };
    assert_eq!(
        show(&filter.log_group_name),
        Function::Replay.log_group_id().to_string()
    );
    assert_eq!(filter.filter_pattern, replay_failed_pattern());
    assert!(
        filter
            .filter_pattern
            .contains(service::replay_runs::REPLAY_FAILED_MESSAGE)
    );
    let transformation = &filter.metric_transformations[0];
    assert_eq!(transformation.metric_name, REPLAY_FAILED_METRIC);
    assert_eq!(
        show(&transformation.metric_namespace),
        "Sub EventSourcingService/${AWS::StackName}"
    );
    let alarm = alarm(&template, Alarm::ReplayFailed);
    assert_eq!(alarm.metric_name, REPLAY_FAILED_METRIC);
    assert_eq!(
        show(&alarm.namespace),
        show(&transformation.metric_namespace)
    );
}

#[test]
fn alarms_notify_the_topic_the_settings_name_or_none() {
    let none = default_stack();
    assert!(
        !none
            .resources
            .keys()
            .any(|id| id.as_str() == ALARM_TOPIC_ID)
    );

    let email = with_alarms(AlarmSettings {
        topic: AlarmTopic::Email("ops@example.com".to_owned()),
        ..AlarmSettings::default()
    });
    let Some(Properties::SnsSubscription(subscription)) = email
        .resources
        .get(&deployer::cfn::LogicalId::new(ALARM_SUBSCRIPTION_ID))
        .map(|r| &r.properties)
    else {
        panic!("no subscription");
    };
    assert_eq!(show(&subscription.endpoint), "ops@example.com");
    assert_eq!(show(&subscription.topic_arn), ALARM_TOPIC_ID);
    for (id, alarm) in alarms(&email) {
        let actions: Vec<String> = alarm.alarm_actions.iter().map(show).collect();
        assert_eq!(actions, [ALARM_TOPIC_ID], "{id}");
        let ok: Vec<String> = alarm.ok_actions.iter().map(show).collect();
        assert_eq!(ok, [ALARM_TOPIC_ID], "{id}");
    }

    let existing = with_alarms(AlarmSettings {
        topic: AlarmTopic::Existing(TOPIC.to_owned()),
        ..AlarmSettings::default()
    });
    assert!(
        !existing
            .resources
            .keys()
            .any(|id| id.as_str() == ALARM_TOPIC_ID)
    );
    for (id, alarm) in alarms(&existing) {
        let actions: Vec<String> = alarm.alarm_actions.iter().map(show).collect();
        assert_eq!(actions, [TOPIC], "{id}");
        assert_eq!(alarm.ok_actions, alarm.alarm_actions, "{id}");
    }
}

#[test]
fn the_dashboard_is_named_after_the_stack_and_its_body_is_json_once_substituted() {
    let template = default_stack();
    let Some(Properties::CloudWatchDashboard(dashboard)) = template
        .resources
        .get(&deployer::cfn::LogicalId::new(DASHBOARD_ID))
        .map(|r| &r.properties)
    else {
        panic!("no dashboard");
    };
    assert_eq!(
        show(dashboard.dashboard_name.as_ref().unwrap()),
        "AWS::StackName"
    );
    let body = show(&dashboard.dashboard_body);
    let body = body.strip_prefix("Sub ").expect("a Fn::Sub");
    let resolved = body
        .replace("${AWS::Region}", "eu-west-1")
        .replace("${AWS::StackName}", "evs")
        .replace("${FailureQueue.QueueName}", "evs-FailureQueue-x");
    let json: serde_json::Value = serde_json::from_str(&resolved).expect("valid JSON");
    let titles: Vec<&str> = json["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["properties"]["title"].as_str().unwrap())
        .collect();
    for concern in [
        "Appends",
        "Latency",
        "iterator age",
        "Failure queue",
        "Errors",
        "Throttles",
        "Replays",
    ] {
        assert!(
            titles.iter().any(|t| t.contains(concern)),
            "{concern} in {titles:?}"
        );
    }
    assert!(resolved.contains("evs-projector") && resolved.contains("ReplaysFailed"));
}

/// Every role of `template`, with its boundary.
fn boundaries(template: &Template) -> Vec<(String, Option<String>)> {
    resources_of(template, |p| match p {
        Properties::IamRole(role) => Some(role),
        _ => None,
    })
    .into_iter()
    .map(|(id, role)| (id.to_string(), role.permissions_boundary.as_ref().map(show)))
    .collect()
}

#[test]
fn every_role_of_both_stacks_carries_the_permissions_boundary_when_set() {
    let bounded = app_stack(&StackOptions {
        permissions_boundary: Some(BOUNDARY.to_owned()),
        ..StackOptions::default()
    });
    let app = boundaries(&bounded);
    assert_eq!(app.len(), Function::ALL.len());
    let data = boundaries(&data_stack_with(Some(BOUNDARY)));
    assert_eq!(data.len(), 1);
    for (id, boundary) in app.iter().chain(&data) {
        assert_eq!(boundary.as_deref(), Some(BOUNDARY), "{id}");
    }
    for (id, boundary) in boundaries(&default_stack())
        .iter()
        .chain(&boundaries(&deployer::stack::data_stack()))
    {
        assert_eq!(boundary, &None, "{id}");
    }
}
