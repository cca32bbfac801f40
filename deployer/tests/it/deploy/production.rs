//! A deploy with every production setting on the emulator: `ALARM_EMAIL`,
//! `TAGS` and `PERMISSIONS_BOUNDARY`.
//!
//! moto 5.2.5's CloudFormation creates `AWS::SNS::Topic` and
//! `AWS::CloudWatch::Dashboard`, and accepts but does not create
//! `AWS::CloudWatch::Alarm`, `AWS::SNS::Subscription` and
//! `AWS::Logs::MetricFilter` (they are missing from the stack's
//! resources): the alarms, the subscription and the metric filter are
//! checked on the template (`template/production.rs`, cfn-lint in
//! `external.rs`), and `status`'s alarm lines by a unit test of their
//! rendering (`overview.rs`), since the alarms are found through the
//! stack's resources.

use deployer::deploy::stacks;
use deployer::deploy::{DeployOptions, Outcome};
use deployer::settings::{AlarmSettings, AlarmTopic};
use deployer::stack::alarms::ALARM_TOPIC_ID;
use deployer::stack::dashboard::DASHBOARD_ID;
use deployer::stack::tags::{Ownership, UserTags};
use deployer::stack::{Function, FunctionResources, LOGGING_ROLE_ID, data_stack_name};
use deployer::{StackOptions, app_stack};

use crate::emulated::{Emulated, options};

const BOUNDARY: &str = "arn:aws:iam::123456789012:policy/TeamBoundary";

#[tokio::test(flavor = "multi_thread")]
async fn a_production_deploy_tags_both_stacks_bounds_every_role_and_makes_the_topic_and_dashboard()
{
    let mut emulated = Emulated::new("prod").await;
    emulated.template = app_stack(&StackOptions {
        stack_name: emulated.stack.clone(),
        alarms: AlarmSettings {
            topic: AlarmTopic::Email("ops@example.com".to_owned()),
            ..AlarmSettings::default()
        },
        permissions_boundary: Some(BOUNDARY.to_owned()),
        ..StackOptions::default()
    });
    let tags = UserTags::parse("team=payments,cost-center=42").expect("tags");
    let production = DeployOptions {
        tags: tags.clone(),
        permissions_boundary: Some(BOUNDARY.to_owned()),
        ..options()
    };
    let outcome = emulated
        .deploy(&emulated.build(&[]), &production)
        .await
        .expect("the deploy");
    assert!(matches!(outcome, Outcome::Deployed { .. }), "{outcome:?}");

    // Both stacks carry the user's tags beside the ownership tags.
    let aws = &emulated.aws;
    for (name, ownership) in [
        (emulated.stack.clone(), Ownership::app(&emulated.stack)),
        (
            data_stack_name(&emulated.stack),
            Ownership::data(&emulated.stack),
        ),
    ] {
        let info = stacks::describe(&aws.cloudformation, &name)
            .await
            .expect("describe")
            .expect("the stack");
        assert_eq!(info.tags, ownership.tags_with(&tags), "{name}");
    }

    // Every role both stacks made is bounded.
    let ids = emulated.physical_ids().await;
    let roles = Function::ALL
        .map(|f| f.role_id().to_string())
        .into_iter()
        .chain([LOGGING_ROLE_ID.to_owned()]);
    for role in roles {
        let got = aws
            .iam
            .get_role()
            .role_name(&ids[&role])
            .send()
            .await
            .expect("the role");
        let boundary = got
            .role()
            .and_then(|r| r.permissions_boundary())
            .and_then(|b| b.permissions_boundary_arn());
        assert_eq!(boundary, Some(BOUNDARY), "{role}");
    }

    // The topic and the dashboard exist.
    let topic = &ids[ALARM_TOPIC_ID];
    assert!(topic.starts_with("arn:aws:sns:"), "{topic}");
    assert_eq!(ids[DASHBOARD_ID], emulated.stack);

    // status links the dashboard.
    let overview = deployer::overview::overview(aws, &emulated.stack, None)
        .await
        .expect("status");
    assert_eq!(
        overview.dashboard_url,
        deployer::stack::dashboard::dashboard_url(&aws.region, &emulated.stack)
    );
    let rendered = deployer::overview::render(&overview);
    assert!(rendered.contains("#dashboards:name="), "{rendered}");

    let destroyed = emulated
        .destroy(true, &mut crate::emulated::always(true))
        .await
        .expect("destroy");
    assert!(
        matches!(
            destroyed,
            deployer::deploy::destroy::Destroyed::StackAndData { .. }
        ),
        "{destroyed:?}"
    );
}
