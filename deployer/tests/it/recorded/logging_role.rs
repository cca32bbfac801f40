//! What the first deploy of this version does to an earlier version's data
//! stack (its tags), and the account's API Gateway CloudWatch role, against
//! recorded responses: moto keeps no tags an UPDATE change set gives a
//! stack and never refuses or loses a role.

use super::*;

const EVENTS: &str = "recorded-data-EventsTable-1A";
const INDEX: &str = "recorded-data-StreamIndexTable-2B";

/// A data stack the previous version made has no tags: the first deploy
/// of this version updates it with its tags (and the logging role), and
/// tags its tables, which carried none.
#[tokio::test]
async fn an_earlier_versions_data_stack_gets_its_tags_on_the_next_deploy() {
    let untagged = BTreeMap::new();
    let earlier = super::super::ownership::earlier_data_template();
    let mut replay = concurrency_affordable();
    replay.extend([stack("UPDATE_COMPLETE"), resources(&[])]);
    let untagged_data = |status: &str| described(DATA_STACK, DATA_STACK_ID, status, &untagged, "");
    let table_resources = || {
        resources(&[
            table_resource("EventsTable", EVENTS),
            table_resource("StreamIndexTable", INDEX),
        ])
    };
    replay.extend([untagged_data("UPDATE_COMPLETE"), table_resources()]);
    replay.extend(table_read(EVENTS, Table::Events, &untagged));
    replay.extend(table_read(INDEX, Table::StreamIndex, &untagged));
    replay.extend([
        untagged_data("UPDATE_COMPLETE"),
        ok(
            "GetTemplate",
            &format!(
                "<TemplateBody>{}</TemplateBody>",
                xml_escaped(&earlier.to_yaml().expect("renders"))
            ),
        ),
    ]);
    replay.extend(change_set(
        DATA_STACK_ID,
        &[("Add", "ApiCloudWatchRole", "AWS::IAM::Role", "")],
    ));
    replay.extend(executed(
        DATA_STACK,
        DATA_STACK_ID,
        "UPDATE_COMPLETE",
        &untagged,
    ));
    replay.push(table_resources());
    replay.extend(table_read(EVENTS, Table::Events, &untagged));
    replay.extend(table_read(INDEX, Table::StreamIndex, &untagged));
    replay.extend([tagged(), tagged()]);
    replay.extend(logging_role_kept());
    replay.push(error("ValidationError", "recorded: the test stops here"));
    let recorded = Recorded::new(replay).await;
    let err = recorded
        .deploy(&options())
        .await
        .expect_err("the recorded run ends early");
    assert!(
        format!("{err:#}").contains("the test stops here"),
        "{err:#}"
    );
    let forms = forms(&recorded.replay);
    assert_eq!(
        field(&forms, "CreateChangeSet", 0, "StackName").as_deref(),
        Some(DATA_STACK)
    );
    let tags: BTreeMap<String, String> = (1..=2)
        .map(|n| {
            let at = |name| {
                field(
                    &forms,
                    "CreateChangeSet",
                    0,
                    &format!("Tags.member.{n}.{name}"),
                )
            };
            (at("Key").expect("a key"), at("Value").expect("a value"))
        })
        .collect();
    assert_eq!(tags, Ownership::data(STACK).tags());
    let tagged_tables: Vec<String> = recorded
        .replay
        .actual_requests()
        .filter(|r| {
            r.headers()
                .get("x-amz-target")
                .is_some_and(|t| t.ends_with(".TagResource"))
        })
        .map(|r| String::from_utf8_lossy(r.body().bytes().unwrap_or_default()).into_owned())
        .collect();
    assert_eq!(tagged_tables.len(), 2);
    for (body, table) in tagged_tables.iter().zip([EVENTS, INDEX]) {
        assert!(
            body.contains(&table_arn(table))
                && body.contains(deployer::stack::tags::DEPLOYMENT_TAG)
                && body.contains(deployer::stack::tags::ROLE_TAG),
            "{body}"
        );
    }
}

/// The setting names a role IAM no longer has (NoSuchEntity): it is
/// pointed at the data stack's role. IAM shows a new role to API Gateway
/// only after a while, and API Gateway refuses it meanwhile ("The role ARN
/// does not have required permissions set to API Gateway", a
/// BadRequestException of UpdateAccount): the deploy asks again within its
/// wait instead of failing.
#[tokio::test]
async fn a_setting_naming_a_deleted_role_is_repaired_even_while_iam_is_slow_to_show_the_new_one() {
    let deleted = "arn:aws:iam::123456789012:role/deleted-by-hand";
    let replay = StaticReplayClient::new(vec![
        account(Some(deleted)),
        no_role("deleted-by-hand"),
        resources(&[resource(
            "ApiCloudWatchRole",
            "AWS::IAM::Role",
            LOGGING_ROLE,
        )]),
        role_found(LOGGING_ROLE),
        apigateway(
            400,
            Some("BadRequestException"),
            serde_json::json!({"message": "The role ARN does not have required permissions set to API Gateway"}),
        ),
        account(Some(&format!(
            "arn:aws:iam::123456789012:role/{LOGGING_ROLE}"
        ))),
    ]);
    let aws = aws(&replay).await;
    let progress = Progress::recorded();
    let data = deployer::deploy::stacks::StackInfo {
        id: DATA_STACK_ID.to_owned(),
        status: StackStatus::UpdateComplete,
        status_reason: None,
        outputs: BTreeMap::new(),
        parameters: BTreeMap::new(),
        tags: Ownership::data(STACK).tags(),
    };
    deployer::deploy::logging_role::ensure_logging_role(
        &aws,
        &data,
        &Default::default(),
        &options().waits,
        &progress,
    )
    .await
    .expect("set once IAM shows the role");
    let patches = replay
        .actual_requests()
        .filter(|r| r.method() == "PATCH")
        .count();
    assert_eq!(patches, 2);
    let lines = progress.lines().join("\n");
    assert!(
        lines.contains(&format!("names {deleted}, which does not exist"))
            && lines.contains(&format!(
                "set it to arn:aws:iam::123456789012:role/{LOGGING_ROLE}"
            )),
        "{lines}"
    );
}

/// `destroy --delete-data` when the account's setting names the data
/// stack's role and API Gateway refuses to clear it: nothing is deleted,
/// so the setting never names a deleted role.
#[tokio::test]
async fn destroy_stops_before_deleting_a_role_the_setting_still_names() {
    let data_tags = Ownership::data(STACK).tags();
    let data_resources = || {
        resources(&[
            table_resource("EventsTable", EVENTS),
            table_resource("StreamIndexTable", INDEX),
            resource("ApiCloudWatchRole", "AWS::IAM::Role", LOGGING_ROLE),
        ])
    };
    let mut replay = vec![
        no_stack(STACK),
        data_stack_in("UPDATE_COMPLETE"),
        data_resources(),
    ];
    replay.extend(table_read(EVENTS, Table::Events, &data_tags));
    replay.extend(table_read(INDEX, Table::StreamIndex, &data_tags));
    replay.extend([
        data_resources(),
        data_resources(),
        account(Some(&format!(
            "arn:aws:iam::123456789012:role/{LOGGING_ROLE}"
        ))),
        apigateway(
            400,
            Some("BadRequestException"),
            serde_json::json!({"message": "Invalid ARN specified in the request"}),
        ),
    ]);
    let recorded = Recorded::new(replay).await;
    let in_flight = InFlight::default();
    let err = deployer::deploy::destroy::destroy(
        &recorded.aws,
        STACK,
        true,
        &mut |_| Ok(true),
        &options(),
        &recorded.progress,
        &in_flight,
    )
    .await
    .expect_err("the setting could not be cleared");
    assert!(
        format!("{err:#}").contains("cannot set the account's API Gateway CloudWatch role"),
        "{err:#}"
    );
    let order = requests(&recorded.replay);
    assert!(
        !order
            .iter()
            .any(|r| r == "DeleteStack" || r == "DeleteTable" || r == "UpdateTable"),
        "{order:?}"
    );
}
