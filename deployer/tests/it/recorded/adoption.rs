//! The event store adopted with a resource import, tags added to an
//! earlier version's data stack, and the account's CloudWatch role, against
//! recorded responses: moto has no IMPORT change set (it creates the
//! resources anew), keeps no tags an UPDATE change set gives a stack, and
//! never refuses a role.
//!
//! What CloudFormation asks of an import ("Bringing existing resources into
//! CloudFormation management",
//! <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/resource-import.html>):
//! a change set of type IMPORT whose template describes the whole stack,
//! each imported resource with a `DeletionPolicy`, named by its identifier
//! (`TableName` for a table) in `ResourcesToImport`; the resource must
//! belong to no other stack, and the import may add nothing else (outputs
//! included). A resource leaves a stack without being deleted only with a
//! `Retain` policy ("Reverting an import operation",
//! <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/resource-import-revert.html>).

use super::*;
use deployer::deploy::EventStoreChoice;
use deployer::deploy::adopt::import_template;
const EVENTS: &str = "recorded-data-EventsTable-1A";

const INDEX: &str = "recorded-data-StreamIndexTable-2B";

const LEGACY_EVENTS: &str = "recorded-EventsTable-3C";

const LEGACY_INDEX: &str = "recorded-StreamIndexTable-4D";

const LEGACY_ROLE: &str = "recorded-ApiCloudWatchRole-5E";

/// The tables `events` and `index` imported into a new data stack, then
/// the data stack brought to its whole template, read, and the account's
/// role set to its role (the setting named `account_role`).
fn imported_then_attached(
    events: &str,
    index: &str,
    account_role: Option<&str>,
) -> Vec<ReplayEvent> {
    let data_tags = Ownership::data(STACK).tags();
    let mut replay = vec![tagged(), tagged()];
    replay.extend(change_set(
        DATA_STACK_ID,
        &[
            ("Import", "EventsTable", "AWS::DynamoDB::Table", ""),
            ("Import", "StreamIndexTable", "AWS::DynamoDB::Table", ""),
        ],
    ));
    replay.extend(executed(
        DATA_STACK,
        DATA_STACK_ID,
        "IMPORT_COMPLETE",
        &data_tags,
    ));
    // The data stack brought to its whole template.
    replay.push(data_stack_in("IMPORT_COMPLETE"));
    replay.push(ok(
        "GetTemplate",
        &format!(
            "<TemplateBody>{}</TemplateBody>",
            xml_escaped(&import_template().to_yaml().expect("renders"))
        ),
    ));
    replay.extend(change_set(
        DATA_STACK_ID,
        &[("Add", "ApiCloudWatchRole", "AWS::IAM::Role", "")],
    ));
    replay.extend(executed(
        DATA_STACK,
        DATA_STACK_ID,
        "UPDATE_COMPLETE",
        &data_tags,
    ));
    // Its tables, tagged now.
    let data_resources = || {
        resources(&[
            table_resource("EventsTable", events),
            table_resource("StreamIndexTable", index),
            resource("ApiCloudWatchRole", "AWS::IAM::Role", LOGGING_ROLE),
        ])
    };
    replay.push(data_resources());
    replay.extend(table_read(events, Table::Events, &data_tags));
    replay.extend(table_read(index, Table::StreamIndex, &data_tags));
    // The account's role, pointed at the data stack's.
    replay.push(account(account_role));
    replay.extend([
        data_resources(),
        role_found(LOGGING_ROLE),
        account(Some(&format!(
            "arn:aws:iam::123456789012:role/{LOGGING_ROLE}"
        ))),
    ]);
    replay
}

fn adopting() -> DeployOptions {
    DeployOptions {
        event_store: EventStoreChoice::Adopt,
        inline_template_limit: usize::MAX,
        ..options()
    }
}

/// Both stacks are gone and the tables are left (found by the names
/// CloudFormation gave them): `--adopt-event-store` tags them, imports
/// them into a new data stack with an IMPORT change set (the tables alone,
/// retained, named by `TableName`, no outputs), brings the data stack to
/// its whole template, points the account's role at its role, and only
/// then starts on the app stack.
#[tokio::test]
async fn adopting_retained_tables_imports_them_into_a_new_data_stack_before_the_app_deploys() {
    let untagged = BTreeMap::new();
    let mut replay = concurrency_affordable();
    replay.extend([no_stack(STACK), no_stack(DATA_STACK)]);
    replay.push(dynamodb(
        serde_json::json!({"TableNames": ["other-table", EVENTS, INDEX]}).to_string(),
    ));
    replay.extend(table_read(EVENTS, Table::Events, &untagged));
    replay.extend(table_read(INDEX, Table::StreamIndex, &untagged));
    replay.extend(imported_then_attached(EVENTS, INDEX, None));
    // The app stack's first phase; the test ends there.
    replay.extend([
        no_stack(STACK),
        error("ValidationError", "recorded: the test stops here"),
    ]);
    let recorded = Recorded::new(replay).await;
    let err = recorded
        .deploy(&adopting())
        .await
        .expect_err("the recorded run ends early");
    assert!(
        format!("{err:#}").contains("the test stops here"),
        "{err:#}"
    );

    let forms = forms(&recorded.replay);
    assert_eq!(
        field(&forms, "CreateChangeSet", 0, "ChangeSetType").as_deref(),
        Some("IMPORT")
    );
    assert_eq!(
        field(&forms, "CreateChangeSet", 0, "StackName").as_deref(),
        Some(DATA_STACK)
    );
    let imports: Vec<(String, String, String)> = (1..=2)
        .map(|n| {
            let at = |name: &str| {
                field(
                    &forms,
                    "CreateChangeSet",
                    0,
                    &format!("ResourcesToImport.member.{n}.{name}"),
                )
                .unwrap_or_default()
            };
            assert_eq!(at("ResourceType"), "AWS::DynamoDB::Table");
            assert_eq!(at("ResourceIdentifier.entry.1.key"), "TableName");
            (
                at("LogicalResourceId"),
                at("ResourceIdentifier.entry.1.value"),
                at("ResourceType"),
            )
        })
        .collect();
    assert_eq!(
        imports
            .iter()
            .map(|(id, table, _)| (id.as_str(), table.as_str()))
            .collect::<Vec<_>>(),
        [("EventsTable", EVENTS), ("StreamIndexTable", INDEX)]
    );
    // The import template: the tables alone, as the data template has
    // them (Retain), and no outputs.
    let body = field(&forms, "CreateChangeSet", 0, "TemplateBody").expect("a template");
    assert_eq!(body, import_template().to_yaml().expect("renders"));
    assert!(!body.contains("Outputs") && body.contains("DeletionPolicy: Retain"));
    // The stack is tagged as the deployment's data stack from its birth.
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
    // Then an update to the whole data template, then the app.
    assert_eq!(
        field(&forms, "CreateChangeSet", 1, "ChangeSetType").as_deref(),
        Some("UPDATE")
    );
    assert_eq!(
        field(&forms, "CreateChangeSet", 1, "TemplateBody"),
        Some(deployer::stack::data_stack().to_yaml().expect("renders"))
    );
    assert_eq!(
        field(&forms, "CreateChangeSet", 2, "StackName").as_deref(),
        Some(STACK)
    );
    let order = requests(&recorded.replay);
    let tag = position(&order, "TagResource");
    let import = position(&order, "CreateChangeSet");
    let account_set = position(&order, "PATCH /account");
    let app = order
        .iter()
        .rposition(|r| r == "CreateChangeSet")
        .expect("the app's");
    assert!(
        tag < import && import < account_set && account_set < app,
        "{order:?}"
    );
    let lines = recorded.progress.lines().join("\n");
    assert!(
        lines.contains(&format!(
            "importing {EVENTS} and {INDEX} into a new data stack {DATA_STACK}"
        )) && lines.contains("imported the event store"),
        "{lines}"
    );
}

/// An app stack made before the data stack (no tags, the tables in it):
/// `--adopt-event-store` first updates it with its own deployed template
/// minus the two tables, every reference to them replaced by its value and
/// every parameter kept, which CloudFormation may do only because the
/// tables are retained; then imports them; and the account's role, which
/// named the app stack's own (deleted by the app's update to this
/// version), is pointed at the data stack's first.
#[tokio::test]
async fn adopting_from_an_earlier_versions_app_stack_detaches_the_tables_then_imports_them() {
    let untagged = BTreeMap::new();
    let legacy = include_str!("../../fixtures/legacy-app-stack.yaml");
    let mut replay = concurrency_affordable();
    replay.extend([
        untagged_stack("UPDATE_COMPLETE"),
        resources(&[
            resource("ArtifactBucket", "AWS::S3::Bucket", "recorded-bucket"),
            table_resource("EventsTable", LEGACY_EVENTS),
            table_resource("StreamIndexTable", LEGACY_INDEX),
            resource("ApiCloudWatchRole", "AWS::IAM::Role", LEGACY_ROLE),
            resource("AddEventRole", "AWS::IAM::Role", "recorded-AddEventRole-6F"),
        ]),
        no_stack(DATA_STACK),
    ]);
    replay.extend(table_read(LEGACY_EVENTS, Table::Events, &untagged));
    replay.extend(table_read(LEGACY_INDEX, Table::StreamIndex, &untagged));
    // The detach: the deployed template, the tables tagged, the update.
    replay.push(ok(
        "GetTemplate",
        &format!("<TemplateBody>{}</TemplateBody>", xml_escaped(legacy)),
    ));
    replay.extend([tagged(), tagged()]);
    replay.extend(change_set(
        STACK_ID,
        &[
            ("Remove", "EventsTable", "AWS::DynamoDB::Table", ""),
            ("Remove", "StreamIndexTable", "AWS::DynamoDB::Table", ""),
            (
                "Modify",
                "ProjectorEventSource",
                "AWS::Lambda::EventSourceMapping",
                "Conditional",
            ),
        ],
    ));
    replay.extend(executed(STACK, STACK_ID, "UPDATE_COMPLETE", &untagged));
    replay.extend(imported_then_attached(
        LEGACY_EVENTS,
        LEGACY_INDEX,
        Some(&format!("arn:aws:iam::123456789012:role/{LEGACY_ROLE}")),
    ));
    // The app's own update; the test ends at its change set.
    replay.push(untagged_stack("UPDATE_COMPLETE"));
    replay.extend((0..Function::ALL.len()).map(|_| head_object_found()));
    replay.push(error("ValidationError", "recorded: the test stops here"));
    let recorded = Recorded::new(replay).await;
    let err = recorded
        .deploy(&adopting())
        .await
        .expect_err("the recorded run ends early");
    assert!(
        format!("{err:#}").contains("the test stops here"),
        "{err:#}"
    );

    let forms = forms(&recorded.replay);
    // 1. The app stack, without its tables.
    assert_eq!(
        field(&forms, "CreateChangeSet", 0, "StackName").as_deref(),
        Some(STACK)
    );
    let detached: serde_json::Value = serde_json::from_str(
        &field(&forms, "CreateChangeSet", 0, "TemplateBody").expect("a template"),
    )
    .expect("JSON");
    let resources = detached["Resources"].as_object().expect("resources");
    assert!(!resources.contains_key("EventsTable") && !resources.contains_key("StreamIndexTable"));
    assert_eq!(
        resources["AddEventFunction"]["Properties"]["Environment"]["Variables"]["EVENTS_TABLE"],
        LEGACY_EVENTS
    );
    // Every parameter keeps its value (the API key is NoEcho: never sent).
    let legacy: serde_json::Value = serde_yaml::from_str(legacy).expect("the fixture");
    let parameters = legacy["Parameters"].as_object().expect("parameters");
    for n in 1..=parameters.len() {
        let at = |name| {
            field(
                &forms,
                "CreateChangeSet",
                0,
                &format!("Parameters.member.{n}.{name}"),
            )
        };
        assert!(parameters.contains_key(&at("ParameterKey").expect("a key")));
        assert_eq!(at("UsePreviousValue").as_deref(), Some("true"));
        assert_eq!(at("ParameterValue"), None);
    }
    // 2. The import, of the same tables.
    assert_eq!(
        field(&forms, "CreateChangeSet", 1, "ChangeSetType").as_deref(),
        Some("IMPORT")
    );
    assert_eq!(
        field(
            &forms,
            "CreateChangeSet",
            1,
            "ResourcesToImport.member.1.ResourceIdentifier.entry.1.value"
        )
        .as_deref(),
        Some(LEGACY_EVENTS)
    );
    let order = requests(&recorded.replay);
    let executions: Vec<usize> = order
        .iter()
        .enumerate()
        .filter(|(_, r)| *r == "ExecuteChangeSet")
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        executions.len(),
        3,
        "detach, import, data update: {order:?}"
    );
    assert!(position(&order, "TagResource") < executions[0]);
    // 3. The account's role named the app stack's, which this deploy
    // deletes: pointed at the data stack's before the app changes.
    let lines = recorded.progress.lines().join("\n");
    assert!(
        lines.contains(&format!(
            "names arn:aws:iam::123456789012:role/{LEGACY_ROLE}, which this deploy deletes"
        )) && lines.contains("first taking")
            && lines.contains("imported the event store"),
        "{lines}"
    );
    let patch = recorded
        .replay
        .actual_requests()
        .find(|r| r.method() == "PATCH")
        .expect("UpdateAccount");
    let patch = String::from_utf8_lossy(patch.body().bytes().unwrap_or_default()).into_owned();
    assert!(patch.contains(LOGGING_ROLE), "{patch}");
}

/// A detach whose change set would do more than take the two tables out
/// (here: remove the read model too) is deleted unexecuted, and the deploy
/// stops saying what it would have done.
#[tokio::test]
async fn a_detach_that_would_do_more_than_remove_the_tables_is_discarded() {
    let untagged = BTreeMap::new();
    let legacy = include_str!("../../fixtures/legacy-app-stack.yaml");
    let mut replay = concurrency_affordable();
    replay.extend([
        untagged_stack("UPDATE_COMPLETE"),
        resources(&[
            resource("ArtifactBucket", "AWS::S3::Bucket", "recorded-bucket"),
            table_resource("EventsTable", LEGACY_EVENTS),
            table_resource("StreamIndexTable", LEGACY_INDEX),
        ]),
        no_stack(DATA_STACK),
    ]);
    replay.extend(table_read(LEGACY_EVENTS, Table::Events, &untagged));
    replay.extend(table_read(LEGACY_INDEX, Table::StreamIndex, &untagged));
    replay.push(ok(
        "GetTemplate",
        &format!("<TemplateBody>{}</TemplateBody>", xml_escaped(legacy)),
    ));
    replay.extend([tagged(), tagged()]);
    replay.extend(change_set(
        STACK_ID,
        &[
            ("Remove", "EventsTable", "AWS::DynamoDB::Table", ""),
            ("Remove", "StreamIndexTable", "AWS::DynamoDB::Table", ""),
            ("Remove", "ReadModelTable", "AWS::DynamoDB::Table", ""),
        ],
    ));
    replay.push(ok("DeleteChangeSet", ""));
    let recorded = Recorded::new(replay).await;
    let err = recorded.deploy(&adopting()).await.expect_err("refused");
    let message = format!("{err:#}");
    assert!(
        message.contains("would also Remove ReadModelTable")
            && message.contains("nothing was changed"),
        "{message}"
    );
    let order = requests(&recorded.replay);
    assert!(!order.contains(&"ExecuteChangeSet".to_owned()), "{order:?}");
    assert_eq!(order.last().map(String::as_str), Some("DeleteChangeSet"));
}

/// `--new-event-store` over an earlier version's app stack: the app's next
/// update drops the tables from it, which keeps them only if they are
/// retained. A table that is not is refused before anything is asked or
/// changed.
#[tokio::test]
async fn a_new_event_store_beside_tables_an_update_would_delete_is_refused() {
    let untagged = BTreeMap::new();
    let mut legacy: serde_json::Value =
        serde_yaml::from_str(include_str!("../../fixtures/legacy-app-stack.yaml"))
            .expect("the fixture");
    legacy["Resources"]["StreamIndexTable"]
        .as_object_mut()
        .expect("a resource")
        .remove("DeletionPolicy");
    let mut replay = concurrency_affordable();
    replay.extend([
        untagged_stack("UPDATE_COMPLETE"),
        resources(&[
            resource("ArtifactBucket", "AWS::S3::Bucket", "recorded-bucket"),
            table_resource("EventsTable", LEGACY_EVENTS),
            table_resource("StreamIndexTable", LEGACY_INDEX),
        ]),
        no_stack(DATA_STACK),
    ]);
    replay.extend(table_read(LEGACY_EVENTS, Table::Events, &untagged));
    replay.extend(table_read(LEGACY_INDEX, Table::StreamIndex, &untagged));
    replay.push(ok(
        "GetTemplate",
        &format!(
            "<TemplateBody>{}</TemplateBody>",
            xml_escaped(&serde_json::to_string(&legacy).expect("JSON"))
        ),
    ));
    let recorded = Recorded::new(replay).await;
    let never = |question: &deployer::deploy::Question| -> anyhow::Result<bool> {
        panic!("asked {question:?} although nothing may be done")
    };
    let request = DeployRequest {
        confirm: &never,
        ..recorded.request()
    };
    let new_store = DeployOptions {
        event_store: EventStoreChoice::New,
        ..options()
    };
    let err = deploy(
        &recorded.aws,
        &request,
        &new_store,
        &recorded.progress,
        &InFlight::default(),
    )
    .await
    .expect_err("refused");
    let message = format!("{err:#}");
    assert!(
        message
            .contains("StreamIndexTable has the DeletionPolicy Delete (the default), not Retain")
            && message.contains("Nothing was changed"),
        "{message}"
    );
    assert_eq!(
        requests(&recorded.replay).last().map(String::as_str),
        Some("GetTemplate")
    );
}
