//! A data stack deleted by hand leaves its tables (the template retains
//! them): on the emulator, a deploy then stops before any change, naming
//! the tables and the two ways on, whether the app stack is still there or
//! not; diff says the same; `--new-event-store` asks first, and only a yes
//! starts an empty event store beside the old one, which keeps its events.
//! (Adopting the tables is an IMPORT change set, which moto does not have:
//! `recorded::adoption`.)

use deployer::deploy::stacks;
use deployer::deploy::{EventStoreChoice, Outcome, Question, diff};
use deployer::stack::data_stack_name;
use domain::{Amount, AppendCommand, DomainEvent, EventId, EventStore, ItemId, StreamId};
use service::dynamo::DynamoStore;

use crate::emulated::{Emulated, always, options};

/// Deletes the table `name` (and its deletion protection first).
async fn drop_table(aws: &deployer::deploy::Aws, name: &str) {
    aws.dynamodb
        .update_table()
        .table_name(name)
        .deletion_protection_enabled(false)
        .send()
        .await
        .expect("protection off");
    aws.dynamodb
        .delete_table()
        .table_name(name)
        .send()
        .await
        .expect("deleted");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_data_stack_deleted_by_hand_stops_the_deploy_until_told_what_to_do_with_its_tables() {
    let emulated = Emulated::new("kept").await;
    let aws = &emulated.aws;
    let build = emulated.build(&[]);
    emulated
        .deploy(&build, &options())
        .await
        .expect("the first deploy");
    let tables = emulated.event_store_tables().await;
    let (events_table, index_table) = (tables.events.clone(), tables.stream_index.clone());
    let old = DynamoStore::new(aws.dynamodb.clone(), tables);
    let stream = StreamId::parse("kept", "streamId").expect("a stream");
    let created = DomainEvent::ItemCreated {
        item_id: ItemId::parse("a", "itemId").expect("an item"),
        amount: Amount::new(1).expect("an amount"),
    };
    old.append(
        &AppendCommand::new(stream.clone(), created, None),
        chrono::Utc::now(),
    )
    .await
    .expect("an event");

    // Someone deletes the data stack in the console; the tables stay.
    let data_name = data_stack_name(&emulated.stack);
    stacks::delete_stack(&aws.cloudformation, &data_name)
        .await
        .expect("deleted by hand");
    assert!(!emulated.data_exists().await);
    let app_template = emulated.deployed_template().await;
    let app_events = emulated.event_count().await;

    let err = emulated
        .deploy(&build, &options())
        .await
        .expect_err("no new event store without being told");
    let message = err.to_string();
    for expected in [
        format!("the data stack {data_name} does not exist"),
        events_table.clone(),
        index_table.clone(),
        format!("the app stack {} still uses them", emulated.stack),
        "Nothing was changed".to_owned(),
        "cargo xtask deploy --adopt-event-store".to_owned(),
        "cargo xtask deploy --new-event-store".to_owned(),
    ] {
        assert!(message.contains(&expected), "{expected} missing: {message}");
    }
    assert!(!emulated.data_exists().await);
    assert_eq!(emulated.deployed_template().await, app_template);
    assert_eq!(emulated.event_count().await, app_events);
    let err = diff(
        aws,
        &emulated.request(&build),
        &options(),
        &emulated.progress,
        &emulated.in_flight,
    )
    .await
    .expect_err("diff says what deploy would do");
    assert!(err.to_string().contains("--new-event-store"), "{err}");

    // Without the app stack too, the tables are still found, by their tags.
    emulated
        .destroy(false, &mut always(true))
        .await
        .expect("destroy the app");
    let err = emulated
        .deploy(&build, &options())
        .await
        .expect_err("still no new event store");
    let message = err.to_string();
    assert!(
        message.contains(&events_table)
            && message.contains(&index_table)
            && message.contains("kept when their stack was deleted"),
        "{message}"
    );
    assert!(!emulated.exists().await && !emulated.data_exists().await);

    // --new-event-store asks first; a no changes nothing.
    let new_store = deployer::deploy::DeployOptions {
        event_store: EventStoreChoice::New,
        ..options()
    };
    let asked = std::sync::Mutex::new(Vec::new());
    let answer = |yes: bool| {
        let asked = &asked;
        move |question: &Question| {
            asked.lock().expect("a lock").push(question.clone());
            Ok::<bool, anyhow::Error>(yes)
        }
    };
    let err = emulated
        .deploy_answering(&build, &new_store, &answer(false))
        .await
        .expect_err("declined");
    assert!(err.to_string().contains("not confirmed"), "{err}");
    assert!(!emulated.exists().await && !emulated.data_exists().await);
    let outcome = emulated
        .deploy_answering(&build, &new_store, &answer(true))
        .await
        .expect("a new event store, on purpose");
    assert!(matches!(outcome, Outcome::Deployed { .. }), "{outcome:?}");
    let asked = asked.into_inner().expect("a lock");
    assert_eq!(asked.len(), 2, "{asked:?}");
    let Question::NewEventStore {
        stack,
        retained_tables,
    } = &asked[1]
    else {
        panic!("{asked:?}");
    };
    assert_eq!(stack, &emulated.stack);
    assert!(
        retained_tables.contains(&events_table) && retained_tables.contains(&index_table),
        "{retained_tables}"
    );
    // A new, empty log beside the old one, which keeps its event.
    let fresh = emulated.data_physical_ids().await;
    assert_ne!(fresh["EventsTable"], events_table);
    assert_eq!(
        old.read_stream(&stream, EventId::FIRST, 10)
            .await
            .expect("the old log")
            .len(),
        1
    );

    emulated
        .destroy(true, &mut always(true))
        .await
        .expect("the final destroy");
    drop_table(aws, &events_table).await;
    drop_table(aws, &index_table).await;
}
