//! An append whose write gets no answer reads the log before it answers:
//! the event it finds stored at its id is its answer (201), an id still
//! free or taken by another event is a lost race, tried again; never an
//! event stored twice. The write's answer is lost by a proxy on 127.0.0.1
//! that forwards it to the emulator and drops the response, or replaced by
//! `TransactionInProgressException` with an SDK interceptor.

use std::time::Duration;

use chrono::Utc;
use domain::{
    Amount, AppendCommand, DomainEvent, EventId, EventStore, IdempotencyKey, ItemId, RecordedEvent,
    StreamId,
};
use service::aws::{dynamodb_client, sdk_config_for_endpoint};
use service::deadline;
use service::dynamo::{DynamoStore, TableNames};
use service::functions::Function;
use testkit::aws_calls::{InProgressAnswer, intercepted_dynamodb};
use testkit::stall::StallingProxy;
use testkit::unique_name;

use crate::common::{client, fresh_tables};

fn command(stream: &StreamId, item: &str, amount: u64) -> AppendCommand {
    AppendCommand {
        stream_id: stream.clone(),
        event: DomainEvent::ItemCreated {
            item_id: ItemId::parse(item, "itemId").unwrap(),
            amount: Amount::new(amount).unwrap(),
        },
        expected_version: None,
        idempotency: None,
        metadata: Default::default(),
    }
}

/// Appends as the add-event function does: within its time limit, which
/// the append must keep (the test fails rather than wait past it).
async fn append_in_time(store: &DynamoStore, command: &AppendCommand) -> RecordedEvent {
    let timeout = Function::AddEvent.timeout();
    let started = std::time::Instant::now();
    let deadline = tokio::time::Instant::now() + timeout;
    let append = deadline::within(deadline, store.append(command, Utc::now()));
    let recorded = tokio::time::timeout(timeout + Duration::from_secs(10), append)
        .await
        .expect("the append answers")
        .expect("the append is stored");
    assert!(started.elapsed() < timeout, "{:?}", started.elapsed());
    recorded
}

/// The stream's whole log, read from the emulator directly.
async fn log(tables: &TableNames, stream: &StreamId) -> Vec<RecordedEvent> {
    DynamoStore::new(client().await, tables.clone())
        .read_stream(stream, EventId::FIRST, 100)
        .await
        .expect("the log reads")
}

#[tokio::test]
async fn an_append_whose_answer_is_lost_answers_the_event_it_stored_and_a_retry_stores_nothing() {
    let tables = fresh_tables(&client().await, "lost-answer").await;
    let proxy = StallingProxy::forwarding(testkit::moto::shared_endpoint());
    let sdk = sdk_config_for_endpoint(&proxy.endpoint()).await;
    let store = DynamoStore::new(dynamodb_client(&sdk), tables.clone());
    let stream = StreamId::parse(unique_name("lost-answer"), "streamId").unwrap();

    // With a key: the client gets its 201, and its retry the same event.
    let key = IdempotencyKey::parse(&unique_name("key")).unwrap();
    let keyed = command(&stream, "a", 1).with_idempotency_key(key);
    proxy.swallow_answer_to("TransactWriteItems");
    let first = append_in_time(&store, &keyed).await;
    assert_eq!(proxy.swallowed(), 1, "the write's answer was dropped");
    assert_eq!(first.event_id, EventId::new(0));
    assert_eq!(log(&tables, &stream).await, std::slice::from_ref(&first));
    let retried = append_in_time(&store, &keyed).await;
    assert_eq!(retried, first, "the retry answers the stored event");
    assert_eq!(
        log(&tables, &stream).await,
        std::slice::from_ref(&first),
        "stored once"
    );

    // Without a key: found by its content at the id it was written to.
    proxy.swallow_answer_to("TransactWriteItems");
    let second = append_in_time(&store, &command(&stream, "b", 2)).await;
    assert_eq!(proxy.swallowed(), 2);
    assert_eq!(second.event_id, EventId::new(1));
    assert_eq!(log(&tables, &stream).await, [first, second], "no duplicate");
}

/// DynamoDB answers `TransactionInProgressException` when the same
/// transaction is still being applied: it may have landed or not. (The
/// SDK would send it again, and a write sent again after it landed is
/// refused like a lost race: taken for one, it stored the event twice.)
#[tokio::test]
async fn a_transaction_in_progress_answer_is_resolved_by_reading_the_log() {
    let endpoint = testkit::moto::shared_endpoint();
    let tables = fresh_tables(&client().await, "in-progress").await;
    let stream = StreamId::parse(unique_name("in-progress"), "streamId").unwrap();
    let store_answering = |answer: InProgressAnswer| {
        let tables = tables.clone();
        async move { DynamoStore::new(intercepted_dynamodb(endpoint, answer).await, tables) }
    };

    // It landed: the event read back is the answer, stored once.
    let landed = InProgressAnswer::after_the_write_lands();
    let store = store_answering(landed.clone()).await;
    let first = append_in_time(&store, &command(&stream, "a", 1)).await;
    assert_eq!(landed.answered(), 1);
    assert_eq!(first.event_id, EventId::new(0));
    assert_eq!(
        log(&tables, &stream).await,
        std::slice::from_ref(&first),
        "stored once"
    );

    // The same with a key: its row names the event read back.
    let landed = InProgressAnswer::after_the_write_lands();
    let store = store_answering(landed.clone()).await;
    let key = IdempotencyKey::parse(&unique_name("key")).unwrap();
    let keyed = command(&stream, "b", 2).with_idempotency_key(key);
    let second = append_in_time(&store, &keyed).await;
    assert_eq!(landed.answered(), 1);
    assert_eq!(second.event_id, EventId::new(1));
    assert_eq!(append_in_time(&store, &keyed).await, second, "a retry");

    // It did not land: the id is free, the append tries again, once.
    let not_landed = InProgressAnswer::instead_of_the_write();
    let store = store_answering(not_landed.clone()).await;
    let third = append_in_time(&store, &command(&stream, "c", 3)).await;
    assert_eq!(not_landed.answered(), 1);
    assert_eq!(third.event_id, EventId::new(2));
    assert_eq!(log(&tables, &stream).await, [first, second, third]);
}
