//! What later deploys and the read-only commands do to a deployed stack:
//! an unchanged deploy touches nothing, status shows the deployment, new
//! code goes through the stack or is hotswapped, diff changes nothing.

use deployer::bundle::Manifest;
use deployer::deploy::{DeployOptions, DeployRequest, Outcome, diff};
use deployer::overview::{self, Code};
use deployer::stack::{API_URL_OUTPUT, Function, data_stack_name};
use deployer::{StackOptions, app_stack};
use domain::{ParkedRecord, ParkedRecords};
use service::dynamo::DynamoStore;

use super::created::Deployed;
use super::reads::{code_sha256, function_code_sha};
use crate::emulated::{Emulated, options};

/// The same deploy again: no changes, and the stack is not touched.
pub(super) async fn the_same_deploy_again_touches_nothing(emulated: &Emulated, first: &Manifest) {
    let events_before = emulated.event_count().await;
    let outcome = emulated
        .deploy(first, &options())
        .await
        .expect("the unchanged deploy");
    assert_eq!(outcome, Outcome::NoChanges);
    assert_eq!(emulated.event_count().await, events_before);
}

/// status: both stacks, the URL, the stream mapping, and each function's
/// deployed code against a build where only add-event differs.
pub(super) async fn status_shows_both_stacks_and_the_code_against_a_build(
    emulated: &Emulated,
    deployed: &Deployed,
    build: &Manifest,
) {
    let stack = &emulated.stack;
    let overview = overview::overview(&emulated.aws, stack, Some(build))
        .await
        .expect("the overview");
    assert!(overview.app.status.is_some() && overview.data.status.is_some());
    assert_eq!(overview.data.name, data_stack_name(stack));
    assert_eq!(
        overview.api_url,
        deployed.outputs.get(API_URL_OUTPUT).cloned()
    );
    for (function, code) in &overview.functions {
        let expected = if function == "add-event" {
            Code::Differs
        } else {
            Code::Current
        };
        assert_eq!(*code, expected, "{function}");
    }
    assert!(overview.mapping.is_some(), "{overview:?}");
    assert_eq!(overview.parked_count, 0);
}

/// status shows what the projector parked (and, without a build,
/// compares no code).
pub(super) async fn status_shows_what_the_projector_parked(
    emulated: &Emulated,
    kept: &DynamoStore,
) {
    let parked = ParkedRecord::new("arn:stream#42", "does not decode", "{}", chrono::Utc::now());
    kept.park(&parked).await.expect("park a record");
    let overview = overview::overview(&emulated.aws, &emulated.stack, None)
        .await
        .expect("the overview");
    assert_eq!(overview.parked_count, 1);
    assert!(
        overview
            .functions
            .values()
            .all(|code| *code == Code::NotCompared)
    );
    let screen = overview::render(&overview);
    assert!(
        screen.contains("arn:stream#42") && screen.contains("does not decode"),
        "{screen}"
    );
}

/// New code for one function goes through the stack.
pub(super) async fn new_code_goes_through_the_stack(
    emulated: &Emulated,
    deployed: &Deployed,
    second: &Manifest,
) {
    let events_before = emulated.event_count().await;
    let outcome = emulated
        .deploy(second, &options())
        .await
        .expect("the code update");
    assert!(matches!(outcome, Outcome::Deployed { .. }), "{outcome:?}");
    assert!(emulated.event_count().await > events_before);
    assert_eq!(
        function_code_sha(&emulated.aws, deployed.function(Function::AddEvent)).await,
        code_sha256(&second.functions["add-event"])
    );
}

/// --hotswap: new code for another function, with a warning that the
/// stack drifts, and no stack update.
pub(super) async fn hotswap_updates_the_changed_code_without_the_stack(
    emulated: &Emulated,
    deployed: &Deployed,
    third: &Manifest,
) {
    let events_before = emulated.event_count().await;
    let hotswap = DeployOptions {
        hotswap: true,
        ..options()
    };
    let outcome = emulated.deploy(third, &hotswap).await.expect("the hotswap");
    assert_eq!(
        outcome,
        Outcome::Hotswapped {
            functions: vec!["list-items".to_owned()]
        }
    );
    assert_eq!(emulated.event_count().await, events_before);
    assert_eq!(
        function_code_sha(&emulated.aws, deployed.function(Function::ListItems)).await,
        code_sha256(&third.functions["list-items"])
    );
    assert!(
        emulated
            .progress
            .lines()
            .iter()
            .any(|l| l.contains("drifts")),
        "no drift warning"
    );
}

/// diff: shows a template change and changes nothing.
pub(super) async fn diff_shows_a_template_change_and_changes_nothing(
    emulated: &Emulated,
    build: &Manifest,
) {
    let traced = app_stack(&StackOptions {
        stack_name: emulated.stack.clone(),
        tracing: true,
        ..StackOptions::default()
    });
    let events_before = emulated.event_count().await;
    let template_before = emulated.deployed_template().await;
    let changes = diff(
        &emulated.aws,
        &DeployRequest {
            template: &traced,
            ..emulated.request(build)
        },
        &options(),
        &emulated.progress,
        &emulated.in_flight,
    )
    .await
    .expect("diff");
    assert!(!changes.is_empty(), "tracing changes the functions");
    assert_eq!(emulated.event_count().await, events_before);
    assert_eq!(emulated.deployed_template().await, template_before);
}
