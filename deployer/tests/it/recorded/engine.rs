//! Deploy and diff against recorded responses: failures, rollbacks,
//! throttling, change sets by ARN, waits that end, an earlier version's
//! app stack, the data stack in a diff.

use super::*;

#[tokio::test]
async fn a_failed_update_reports_the_first_failed_resource_and_the_final_status() {
    let stack_event = "AWS::CloudFormation::Stack";
    let function = "AWS::Lambda::Function";
    let table = "AWS::DynamoDB::Table";
    let old = ("e0", STACK, stack_event, "UPDATE_COMPLETE", "");
    let mut replay = update_until_execute();
    replay.extend([
        stack("UPDATE_ROLLBACK_IN_PROGRESS"),
        events(&[
            (
                "e4",
                STACK,
                stack_event,
                "UPDATE_ROLLBACK_IN_PROGRESS",
                "The following resource(s) failed to update: [AddEventFunction].",
            ),
            (
                "e3",
                "ReadModelTable",
                table,
                "UPDATE_FAILED",
                "Resource update cancelled",
            ),
            (
                "e2",
                "AddEventFunction",
                function,
                "UPDATE_FAILED",
                "Error occurred while GetObject. S3 Error Code: NoSuchKey.",
            ),
            (
                "e1",
                STACK,
                stack_event,
                "UPDATE_IN_PROGRESS",
                "User Initiated",
            ),
            old,
        ]),
        stack("UPDATE_ROLLBACK_COMPLETE"),
        events(&[
            ("e5", STACK, stack_event, "UPDATE_ROLLBACK_COMPLETE", ""),
            ("e4", STACK, stack_event, "UPDATE_ROLLBACK_IN_PROGRESS", ""),
        ]),
    ]);
    let recorded = Recorded::new(replay).await;
    let err = recorded
        .deploy(&options())
        .await
        .expect_err("the update failed");
    let failed = err.downcast_ref::<StackFailed>().expect("a stack failure");
    assert_eq!(failed.ending.status, StackStatus::UpdateRollbackComplete);
    let first = failed
        .ending
        .first_failure
        .as_ref()
        .expect("a first failure");
    assert_eq!(first.logical_id, "AddEventFunction");
    let message = err.to_string();
    assert!(
        message.contains("UPDATE_ROLLBACK_COMPLETE")
            && message.contains("AddEventFunction")
            && message.contains("NoSuchKey"),
        "{message}"
    );
    // Each event is shown once, oldest first.
    let lines = recorded.progress.lines();
    let shown: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("UPDATE_FAILED"))
        .collect();
    assert_eq!(shown.len(), 2, "{lines:#?}");
    assert!(shown[0].contains("AddEventFunction"), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Modify") && l.contains("AddEventFunction"))
    );
    let mut expected = ATTACHING.to_vec();
    expected.extend([
        "DescribeStacks",
        "CreateChangeSet",
        "DescribeChangeSet",
        "DescribeStackEvents",
        "ExecuteChangeSet",
        "DescribeStacks",
        "DescribeStackEvents",
        "DescribeStacks",
        "DescribeStackEvents",
    ]);
    assert_eq!(recorded.actions(), expected);
}

#[tokio::test]
async fn a_stack_left_rolled_back_by_a_failed_create_is_deleted_and_created_again() {
    let stack_event = "AWS::CloudFormation::Stack";
    let mut replay = concurrency_affordable();
    replay.extend(attached_to_the_data_stack(Some("ROLLBACK_COMPLETE")));
    replay.extend([
        stack("ROLLBACK_COMPLETE"),
        events(&[("e1", STACK, stack_event, "ROLLBACK_COMPLETE", "")]),
        ok("DeleteStack", ""),
        stack("DELETE_COMPLETE"),
        events(&[
            ("e2", STACK, stack_event, "DELETE_COMPLETE", ""),
            ("e1", STACK, stack_event, "ROLLBACK_COMPLETE", ""),
        ]),
        // The recreation's first step; the test ends there.
        error("ValidationError", "recorded: the test stops here"),
    ]);
    let recorded = Recorded::new(replay).await;
    let err = recorded
        .deploy(&options())
        .await
        .expect_err("the recorded run ends early");
    assert!(
        format!("{err:#}").contains("the test stops here"),
        "{err:#}"
    );
    let lines = recorded.progress.lines().join("\n");
    assert!(
        lines.contains("ROLLBACK_COMPLETE after a failed first create; deleting it"),
        "{lines}"
    );
    let mut expected = ATTACHING.to_vec();
    expected.extend([
        "DescribeStacks",
        "DescribeStackEvents",
        "DeleteStack",
        "DescribeStacks",
        "DescribeStackEvents",
        "CreateChangeSet",
    ]);
    assert_eq!(recorded.actions(), expected);
    let create = recorded
        .replay
        .actual_requests()
        .last()
        .and_then(|r| {
            r.body()
                .bytes()
                .map(|b| String::from_utf8_lossy(b).into_owned())
        })
        .unwrap_or_default();
    assert!(create.contains("ChangeSetType=CREATE"), "{create}");
}

/// A new account (limit 10) cannot reserve the replay function's
/// concurrency: the deploy stops before any CloudFormation call, saying
/// which setting to change and what the account has.
#[tokio::test]
async fn a_reservation_the_account_cannot_make_stops_the_deploy_before_any_change() {
    let recorded = Recorded::new(vec![
        account_settings(10, 10),
        lambda(
            404,
            Some("ResourceNotFoundException"),
            "{\"Type\":\"User\",\"message\":\"Function not found\"}",
        ),
    ])
    .await;
    let err = recorded
        .deploy(&options())
        .await
        .expect_err("a refused reservation");
    let refused = err
        .downcast_ref::<ReservationRefused>()
        .expect("a refused reservation");
    assert_eq!((refused.wanted, refused.most), (5, 0));
    let message = err.to_string();
    assert!(
        message.contains("REPLAY_CONCURRENCY=5")
            && message.contains("limit is 10")
            && message.contains("REPLAY_CONCURRENCY=none")
            && message.contains("Service Quotas"),
        "{message}"
    );
    assert_eq!(recorded.replay.actual_requests().count(), 2);
    assert!(recorded.actions().is_empty(), "{:?}", recorded.actions());
}

/// `REPLAY_CONCURRENCY=none`: nothing to reserve, nothing asked of Lambda.
#[tokio::test]
async fn without_a_reservation_the_deploy_asks_lambda_nothing() {
    let mut recorded = Recorded::new(vec![error(
        "ValidationError",
        "recorded: the test stops here",
    )])
    .await;
    recorded.template = app_stack(&StackOptions {
        replay_concurrency: ReplayConcurrency::Unreserved,
        ..StackOptions::default()
    });
    let err = recorded
        .deploy(&options())
        .await
        .expect_err("the recorded run ends early");
    assert!(
        format!("{err:#}").contains("the test stops here"),
        "{err:#}"
    );
    assert_eq!(recorded.actions(), ["DescribeStacks"]);
}

#[tokio::test]
async fn throttling_is_retried() {
    let recorded = Recorded::new(vec![
        error("Throttling", "Rate exceeded"),
        no_stack(STACK),
        no_stack(DATA_STACK),
        // No table of this deployment is left anywhere.
        dynamodb(r#"{"TableNames": ["other-events"]}"#.to_owned()),
    ])
    .await;
    let changes = recorded.diff().await.expect("diff after a throttled call");
    // Neither stack exists: a deploy creates both.
    assert_eq!(
        changes.len(),
        deployer::stack::data_stack().resources.len() + recorded.template.resources.len()
    );
    assert!(changes.iter().all(|c| c.action == "Add"));
    assert_eq!(
        recorded.actions(),
        ["DescribeStacks", "DescribeStacks", "DescribeStacks"]
    );
}

/// CloudFormation scopes change-set names per stack, but an implementation
/// that looks a bare name up across stacks runs another deploy's change
/// set: every call after CreateChangeSet names it by its ARN.
#[tokio::test]
async fn change_sets_get_unique_names_and_are_described_and_executed_by_arn() {
    let mut replay = update_until_execute();
    replay.extend([
        stack("UPDATE_COMPLETE"),
        events(&[(
            "e1",
            STACK,
            "AWS::CloudFormation::Stack",
            "UPDATE_COMPLETE",
            "",
        )]),
        stack("UPDATE_COMPLETE"),
        ok(
            "DescribeStackResources",
            "<StackResources></StackResources>",
        ),
    ]);
    replay.extend(read_model_not_new());
    let recorded = Recorded::new(replay).await;
    recorded
        .deploy(&options())
        .await
        .expect("the update succeeds");
    let forms = forms(&recorded.replay);
    let field = |action: &str, name: &str| -> Option<String> {
        forms
            .iter()
            .find(|form| form.contains(&("Action".to_owned(), action.to_owned())))
            .unwrap_or_else(|| panic!("no {action} request"))
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let name = field("CreateChangeSet", "ChangeSetName").expect("a change-set name");
    assert!(
        name.len() <= 128
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
        "{name} is not a valid change-set name"
    );
    assert_ne!(
        name,
        deployer::deploy::change_sets::unique_change_set_name(),
        "names repeat"
    );
    for action in ["DescribeChangeSet", "ExecuteChangeSet"] {
        assert_eq!(
            field(action, "ChangeSetName").as_deref(),
            Some(CHANGE_SET_ARN),
            "{action}"
        );
        assert_eq!(field(action, "StackName"), None, "{action}");
    }
}

/// An update whose stack, once its change set was executed, keeps
/// showing `status` with no new event: the deploy's error, and how many
/// requests it made.
async fn update_stuck_at(status: &str, options: &DeployOptions) -> (anyhow::Error, usize) {
    let mut replay = update_until_execute();
    let old_event = (
        "e0",
        STACK,
        "AWS::CloudFormation::Stack",
        "UPDATE_COMPLETE",
        "",
    );
    replay.extend([stack(status), events(&[old_event])]);
    let recorded = Recorded::new(replay).await;
    let err = recorded.deploy(options).await.expect_err("a stuck update");
    (err, recorded.replay.actual_requests().count())
}

/// ExecuteChangeSet moves the stack out of REVIEW_IN_PROGRESS; a stack
/// still there afterwards never runs the change set, so watching it would
/// wait forever.
#[tokio::test]
async fn a_stack_still_in_review_after_its_change_set_ran_is_an_error_not_a_wait() {
    let mut options = options();
    options.waits.execution_start = Duration::ZERO;
    let (err, requests) = update_stuck_at("REVIEW_IN_PROGRESS", &options).await;
    let expired = err
        .downcast_ref::<WaitExpired>()
        .expect("a wait that ended");
    assert_eq!(expired.expiry, Expiry::Brief);
    let message = format!("{err:#}");
    assert!(
        message.contains("the update of the stack recorded")
            && message.contains("still REVIEW_IN_PROGRESS after its change set was executed")
            && message.contains("last status seen: REVIEW_IN_PROGRESS"),
        "{message}"
    );
    assert_eq!(requests, update_until_execute().len() + 2);
}

/// A stack whose operation shows no news stops the deploy with what it
/// waited for, the last status and what to do, instead of polling forever.
#[tokio::test]
async fn an_operation_without_progress_stops_the_wait_with_the_last_status() {
    let mut options = options();
    options.waits.stack_operation = Limits {
        deadline: Duration::from_secs(60),
        no_progress: Duration::ZERO,
    };
    let (err, _) = update_stuck_at("UPDATE_IN_PROGRESS", &options).await;
    let expired = err
        .downcast_ref::<WaitExpired>()
        .expect("a wait that ended");
    assert_eq!(expired.expiry, Expiry::NoProgress);
    assert_eq!(expired.last_seen.as_deref(), Some("UPDATE_IN_PROGRESS"));
    let message = format!("{err:#}");
    assert!(
        message.contains("the update of the stack recorded")
            && message.contains("nothing changed")
            && message.contains("CloudFormation goes on without this command"),
        "{message}"
    );
}

/// A stack deployed before the event store had a stack of its own holds
/// the tables itself (and has no tags): a deploy would detach them and
/// start an empty store, so it stops before any change and says the two
/// ways on.
#[tokio::test]
async fn an_app_stack_holding_the_event_store_is_refused_before_any_change() {
    let replay = {
        let mut replay = concurrency_affordable();
        replay.extend([
            untagged_stack("UPDATE_COMPLETE"),
            resources(&[
                resource("ArtifactBucket", "AWS::S3::Bucket", "recorded-bucket"),
                table_resource("EventsTable", "recorded-EventsTable-1A2B"),
            ]),
            no_stack(DATA_STACK),
        ]);
        replay.extend(table_read(
            "recorded-EventsTable-1A2B",
            Table::Events,
            &BTreeMap::new(),
        ));
        replay
    };
    let recorded = Recorded::new(replay).await;
    let err = recorded
        .deploy(&options())
        .await
        .expect_err("a refused deploy");
    let message = format!("{err:#}");
    assert!(
        message.contains("recorded-EventsTable-1A2B")
            && message.contains("recorded-data")
            && message.contains("Nothing was changed")
            && message.contains("cargo xtask deploy --adopt-event-store")
            && message.contains("cargo xtask deploy --new-event-store"),
        "{message}"
    );
    assert_eq!(
        recorded.actions(),
        ["DescribeStacks", "DescribeStackResources", "DescribeStacks"]
    );
    assert_eq!(
        recorded.replay.actual_requests().count(),
        7,
        "all of it, no more"
    );
}

/// `diff` shows what a deploy would change in the data stack too: here its
/// template differs from the one deployed, and the app stack is absent.
#[tokio::test]
async fn diff_shows_a_change_of_the_data_stack_and_deletes_its_change_set() {
    let mut replay = surveyed(None);
    replay.extend(data_stack_tables());
    replay.push(ok(
        "GetTemplate",
        "<TemplateBody>Resources: {}</TemplateBody>",
    ));
    replay.extend(change_set_modifying(
        "StreamIndexTable",
        "AWS::DynamoDB::Table",
    ));
    replay.push(ok("DeleteChangeSet", ""));
    let recorded = Recorded::new(replay).await;
    let changes = recorded.diff().await.expect("diff");
    assert_eq!(changes[0].logical_id, "StreamIndexTable");
    assert_eq!(changes[0].action, "Modify");
    assert_eq!(changes.len(), 1 + recorded.template.resources.len());
    let lines = recorded.progress.lines().join("\n");
    assert!(
        lines.contains("the data stack recorded-data would change"),
        "{lines}"
    );
    let actions = recorded.actions();
    assert!(
        actions.contains(&"DeleteChangeSet".to_owned()),
        "{actions:?}"
    );
    assert!(
        !actions.contains(&"ExecuteChangeSet".to_owned()),
        "{actions:?}"
    );
}
