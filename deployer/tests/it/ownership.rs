//! Stacks that have a deployment's stack names but are not its own, on
//! the emulator: another deployment's stack is refused by deploy, diff,
//! status and destroy before anything changes; a data stack made by the
//! version before stacks were tagged is taken as this deployment's (and
//! its tables tagged), an untagged stack holding anything else is not.
//!
//! moto 5.2.5 keeps the tags a CREATE change set gives a stack, but not
//! those of an UPDATE change set, and applies no stack tag to resources:
//! the tags an update adds to a stack are checked on recorded requests
//! (`recorded::adoption`), the tables' tags here (the deployer sets them
//! itself).

use std::time::{Duration, Instant};

use aws_sdk_cloudformation::types::{Capability, ChangeSetType};
use deployer::cfn::Template;
use deployer::deploy::ownership::NotOurs;
use deployer::deploy::stacks;
use deployer::deploy::{Aws, Outcome, diff};
use deployer::stack::tags::{Ownership, Tagged};
use deployer::stack::{LOGGING_ROLE_ID, LOGGING_ROLE_OUTPUT, data_stack};
use domain::{Amount, AppendCommand, DomainEvent, EventId, EventStore, ItemId, StreamId};
use service::dynamo::DynamoStore;

use crate::emulated::{Emulated, always, options};

/// The refusal in `err`, which must be one.
fn refusal(err: &anyhow::Error) -> &NotOurs {
    err.downcast_ref::<NotOurs>()
        .unwrap_or_else(|| panic!("not an ownership refusal: {err:#}"))
}

/// Creates the stack `name` from `template` directly, as something other
/// than this version's deploy would: without tags.
pub(crate) async fn create_untagged(aws: &Aws, name: &str, template: &Template) {
    let created = aws
        .cloudformation
        .create_change_set()
        .stack_name(name)
        .change_set_name(format!("by-hand-{}", uuid::Uuid::new_v4().simple()))
        .change_set_type(ChangeSetType::Create)
        .capabilities(Capability::CapabilityIam)
        .template_body(template.to_yaml().expect("renders"))
        .send()
        .await
        .expect("a change set");
    let id = created.id().expect("its ARN").to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = aws
            .cloudformation
            .describe_change_set()
            .change_set_name(&id)
            .send()
            .await
            .expect("the change set")
            .status()
            .map(|s| s.as_str().to_owned());
        if status.as_deref() == Some("CREATE_COMPLETE") {
            break;
        }
        assert!(Instant::now() < deadline, "the change set stays {status:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    aws.cloudformation
        .execute_change_set()
        .change_set_name(&id)
        .send()
        .await
        .expect("executed");
    loop {
        let info = stacks::describe(&aws.cloudformation, name)
            .await
            .expect("describe")
            .expect("the stack");
        if info.status.as_str() == "CREATE_COMPLETE" {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the stack {name} stays {}",
            info.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The data template as the version before this one wrote it: the two
/// tables and their outputs, no tags, no logging role.
pub(crate) fn earlier_data_template() -> Template {
    let mut template = data_stack();
    template
        .resources
        .retain(|id, _| id.as_str() != LOGGING_ROLE_ID);
    template
        .outputs
        .retain(|id, _| id.as_str() != LOGGING_ROLE_OUTPUT);
    template
}

/// A user deploys `X` and also `X-data`: the second deployment's app stack
/// is called like the first one's data stack. Deploy, diff, status and
/// destroy of `X` refuse it by name, say whose it is, and change nothing;
/// so does a deployment called like the second one's data stack.
#[tokio::test(flavor = "multi_thread")]
async fn another_deployments_stack_under_this_ones_stack_name_is_refused_before_any_change() {
    let ours = Emulated::new("own").await;
    let theirs = Emulated::named(
        testkit::moto::shared_endpoint(),
        &format!("{}-data", ours.stack),
    )
    .await;
    theirs
        .deploy(&theirs.build(&[]), &options())
        .await
        .expect("the other deployment");
    let their_template = theirs.deployed_template().await;
    let their_events = theirs.event_count().await;

    let err = ours
        .deploy(&ours.build(&[]), &options())
        .await
        .expect_err("their app stack is not our data stack");
    let refused = refusal(&err);
    assert_eq!(refused.name, theirs.stack);
    assert_eq!(refused.owner, Some(Ownership::app(&theirs.stack)));
    let message = err.to_string();
    assert!(
        message.contains(&format!(
            "the stack {} is not the data stack of the deployment {}",
            theirs.stack, ours.stack
        )) && message.contains(&format!(
            "its tags say it is the app stack of the deployment {}",
            theirs.stack
        )) && message.contains("Nothing was changed"),
        "{message}"
    );
    let build = ours.build(&[]);
    let request = ours.request(&build);
    let err = diff(
        &ours.aws,
        &request,
        &options(),
        &ours.progress,
        &ours.in_flight,
    )
    .await
    .expect_err("diff refuses too");
    assert_eq!(refusal(&err).name, theirs.stack);
    let err = deployer::overview::overview(&ours.aws, &ours.stack, None)
        .await
        .expect_err("status refuses too");
    assert_eq!(refusal(&err).name, theirs.stack);
    let err = ours
        .destroy(true, &mut always(true))
        .await
        .expect_err("destroy refuses too");
    assert_eq!(refusal(&err).name, theirs.stack);
    // Nothing was changed: ours was never made, theirs is as it was.
    assert!(!ours.exists().await);
    assert!(theirs.exists().await && theirs.data_exists().await);
    assert_eq!(theirs.deployed_template().await, their_template);
    assert_eq!(theirs.event_count().await, their_events);

    // A deployment named like their data stack finds it as its app stack.
    let third = Emulated::named(
        testkit::moto::shared_endpoint(),
        &format!("{}-data", theirs.stack),
    )
    .await;
    let err = third
        .deploy(&third.build(&[]), &options())
        .await
        .expect_err("their data stack is not its app stack");
    assert_eq!(refusal(&err).owner, Some(Ownership::data(&theirs.stack)));
    assert!(theirs.data_exists().await);

    theirs
        .destroy(true, &mut always(true))
        .await
        .expect("their destroy");
}

/// The data stack a previous version made carries no tags: holding only
/// what a data stack holds, it is taken as this deployment's, its tables
/// are tagged, and its events stay and go on. An untagged stack holding
/// anything else is refused.
#[tokio::test(flavor = "multi_thread")]
async fn an_earlier_versions_untagged_data_stack_is_taken_and_tagged_and_another_untagged_stack_is_refused()
 {
    let emulated = Emulated::new("old").await;
    let aws = &emulated.aws;
    let data_name = deployer::stack::data_stack_name(&emulated.stack);
    create_untagged(aws, &data_name, &earlier_data_template()).await;
    let tables = emulated.event_store_tables().await;
    let (events_table, index_table) = (tables.events.clone(), tables.stream_index.clone());
    // An event from before.
    let store = DynamoStore::new(aws.dynamodb.clone(), tables);
    let stream = StreamId::parse("before", "streamId").expect("a stream");
    let created = DomainEvent::ItemCreated {
        item_id: ItemId::parse("a", "itemId").expect("an item"),
        amount: Amount::new(1).expect("an amount"),
    };
    store
        .append(
            &AppendCommand::new(stream.clone(), created, None),
            chrono::Utc::now(),
        )
        .await
        .expect("an append");

    let outcome = emulated
        .deploy(&emulated.build(&[]), &options())
        .await
        .expect("the deploy takes the untagged data stack");
    assert!(matches!(outcome, Outcome::Deployed { .. }), "{outcome:?}");
    assert!(
        emulated
            .data_physical_ids()
            .await
            .contains_key(LOGGING_ROLE_ID),
        "the update added the logging role"
    );
    for name in [&events_table, &index_table] {
        let info = deployer::deploy::ownership::describe_table(aws, name)
            .await
            .expect("describe")
            .expect("the table is kept");
        assert_eq!(
            Ownership::read(&info.tags),
            Tagged::Owned(Ownership::data(&emulated.stack)),
            "{name}"
        );
    }
    let next = store
        .append(
            &AppendCommand::new(
                stream.clone(),
                DomainEvent::ItemDeleted {
                    item_id: ItemId::parse("a", "itemId").expect("an item"),
                },
                None,
            ),
            chrono::Utc::now(),
        )
        .await
        .expect("an append after the deploy");
    assert_eq!(next.event_id, EventId::new(1), "the log goes on");
    // The next deploy takes it again (moto keeps no tags an update adds
    // to a stack; the resources still say it is a data stack).
    assert_eq!(
        emulated
            .deploy(&emulated.build(&[]), &options())
            .await
            .expect("again"),
        Outcome::NoChanges
    );
    emulated
        .destroy(true, &mut always(true))
        .await
        .expect("the final destroy");

    // An untagged stack under a data stack's name that holds a queue.
    let other = Emulated::new("odd").await;
    let mut foreign = Template::new("not a data stack");
    foreign.resource(
        "Queue",
        deployer::cfn::sqs::Queue {
            queue_name: None,
            message_retention_period: None,
            sqs_managed_sse_enabled: None,
        },
    );
    let other_data = deployer::stack::data_stack_name(&other.stack);
    create_untagged(&other.aws, &other_data, &foreign).await;
    let err = other
        .deploy(&other.build(&[]), &options())
        .await
        .expect_err("a stack holding a queue is no data stack");
    let refused = refusal(&err);
    assert_eq!(refused.owner, None);
    assert!(
        refused.found.contains("Queue") && refused.found.contains("no tags"),
        "{err}"
    );
    assert!(!other.exists().await, "nothing was created");
    assert_eq!(
        stacks::resources(&other.aws.cloudformation, &other_data)
            .await
            .expect("its resources")
            .len(),
        1,
        "nothing was changed"
    );
    stacks::delete_stack(&other.aws.cloudformation, &other_data)
        .await
        .expect("clean up");
}
