//! destroy and what outlives it: a declined destroy changes nothing; a
//! destroy removes everything but the event store, which the next deploy
//! attaches to, every event in it; destroy with the data removes that too.

use deployer::bundle::Manifest;
use deployer::deploy::Outcome;
use deployer::deploy::destroy::Destroyed;
use deployer::stack::{
    ARTIFACT_BUCKET_ID, FAILURE_QUEUE_ID, Function, FunctionResources, Table, TableResources,
    data_stack_name,
};
use domain::{AppendCommand, DomainEvent, EventId, EventStore, ItemId};
use service::dynamo::DynamoStore;

use super::created::{Deployed, access_log_group, kept_stream};
use super::reads::queue_attributes;
use crate::emulated::{Emulated, always, options, retained_tables};

pub(super) async fn a_declined_destroy_changes_nothing(emulated: &Emulated) {
    let declined = emulated
        .destroy(false, &mut always(false))
        .await
        .expect("declined destroy");
    assert_eq!(declined, Destroyed::Declined);
    assert!(emulated.exists().await);
}

/// destroy: the app stack and everything in it go (functions, artifact
/// bucket, failure queue, access log group, read model); the event
/// store's tables and the data stack stay, and it says so.
pub(super) async fn destroy_removes_everything_but_the_event_store(
    emulated: &Emulated,
    deployed: &Deployed,
) {
    let aws = &emulated.aws;
    let destroyed = emulated
        .destroy(false, &mut always(true))
        .await
        .expect("destroy");
    let retained = retained_tables(&deployed.ids);
    assert_eq!(
        destroyed,
        Destroyed::Stack {
            kept_tables: retained.clone()
        }
    );
    assert!(!emulated.exists().await);
    for function in Function::ALL {
        let name = deployed.function(function);
        assert!(
            aws.lambda
                .get_function()
                .function_name(name)
                .send()
                .await
                .is_err(),
            "{name} survived"
        );
    }
    assert!(
        aws.s3
            .head_bucket()
            .bucket(deployed.id(ARTIFACT_BUCKET_ID))
            .send()
            .await
            .is_err(),
        "the artifact bucket survived"
    );
    assert_eq!(
        queue_attributes(deployed.id(FAILURE_QUEUE_ID)).await,
        None,
        "the failure queue survived"
    );
    let access_group = access_log_group(&emulated.stack);
    let left = aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix(&access_group)
        .send()
        .await
        .expect("log groups");
    assert!(
        left.log_groups().is_empty(),
        "the access log group survived: {:?}",
        left.log_groups()
    );
    let read_model = deployed.id(Table::ReadModel.logical_id().as_str());
    assert!(
        aws.dynamodb
            .describe_table()
            .table_name(read_model)
            .send()
            .await
            .is_err(),
        "the read model survived"
    );
    for table in &retained {
        aws.dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .unwrap_or_else(|err| panic!("the retained table {table} is gone: {err:?}"));
    }
    let lines = emulated.progress.lines().join("\n");
    assert!(
        lines.contains(&format!(
            "kept the data stack {}",
            data_stack_name(&emulated.stack)
        )),
        "{lines}"
    );
    assert!(emulated.data_exists().await, "the data stack survived");
}

/// The next deploy attaches to the kept event store: the same data stack
/// and tables, with every event, and its functions read them.
pub(super) async fn the_next_deploy_attaches_to_the_same_tables(
    emulated: &Emulated,
    deployed: &Deployed,
    build: &Manifest,
) {
    let aws = &emulated.aws;
    let data_before = emulated.data_physical_ids().await;
    let events = DynamoStore::new(aws.dynamodb.clone(), deployed.tables.clone());
    let kept_log = events
        .read_stream(&kept_stream(), EventId::FIRST, 100)
        .await
        .expect("read the kept log");
    assert_eq!(kept_log.len(), 3, "{kept_log:?}");
    let again = emulated
        .deploy(build, &options())
        .await
        .expect("a deploy after destroy");
    assert!(matches!(again, Outcome::Deployed { .. }), "{again:?}");
    assert_eq!(emulated.data_physical_ids().await, data_before);
    let ids_again = emulated.physical_ids().await;
    for table in [Table::Events, Table::StreamIndex] {
        let id = table.logical_id();
        assert_eq!(
            ids_again[id.as_str()],
            deployed.id(id.as_str()),
            "{table:?}"
        );
    }
    let add_event = &ids_again[Function::AddEvent.logical_id().as_str()];
    let environment = aws
        .lambda
        .get_function_configuration()
        .function_name(add_event)
        .send()
        .await
        .expect("add-event")
        .environment()
        .and_then(|e| e.variables())
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        environment.get(Table::Events.env_var()),
        Some(&deployed.tables.events),
        "the new functions use the kept log"
    );
    assert_eq!(
        events
            .read_stream(&kept_stream(), EventId::FIRST, 100)
            .await,
        Ok(kept_log)
    );
}

/// An append after the redeploy takes the id after the kept log's last.
pub(super) async fn appends_go_on_from_the_kept_log(emulated: &Emulated, deployed: &Deployed) {
    let events = DynamoStore::new(emulated.aws.dynamodb.clone(), deployed.tables.clone());
    let next = events
        .append(
            &AppendCommand::new(
                kept_stream(),
                DomainEvent::ItemDeleted {
                    item_id: ItemId::parse("a", "itemId").expect("an item id"),
                },
                None,
            ),
            chrono::Utc::now(),
        )
        .await
        .expect("an append after the redeploy");
    assert_eq!(
        next.event_id,
        EventId::new(3),
        "ids go on from the kept log"
    );
}

pub(super) async fn destroy_with_the_data_removes_the_data_stack(emulated: &Emulated) {
    emulated
        .destroy(true, &mut always(true))
        .await
        .expect("the final destroy");
    assert!(!emulated.data_exists().await);
}
