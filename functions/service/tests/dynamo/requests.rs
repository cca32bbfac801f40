//! The adapter's cost contract, counted at the wire: an append to a stream
//! the store has not seen is one read and one write, and a warm one the
//! write alone; with an idempotency key, one read and one write, and a
//! repeat one read; and a projected batch is at most one write per touched item.

use chrono::Utc;
use domain::{Amount, AppendCommand, DomainEvent, EventStore, IdempotencyKey, ItemId, StreamId};
use service::dynamo::DynamoStore;
use service::projector::project;
use testkit::aws_calls::{RequestLog, counted_dynamodb};

use crate::common::fresh_tables;

async fn counted_store() -> (DynamoStore, RequestLog) {
    let log = RequestLog::default();
    let client = counted_dynamodb(testkit::moto::shared_endpoint(), &log).await;
    let tables = fresh_tables(&client, "requests").await;
    // Only the requests under test count, not the table setup.
    log.take();
    (DynamoStore::new(client, tables), log)
}

fn create(stream: &StreamId, item: &str, amount: u64) -> AppendCommand {
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

#[tokio::test]
async fn a_cold_append_is_one_read_and_one_write_and_a_warm_one_the_write_alone() {
    let (store, log) = counted_store().await;
    let stream = StreamId::parse("requests", "streamId").unwrap();
    for i in 0..5u64 {
        store
            .append(&create(&stream, &format!("i{i}"), i), Utc::now())
            .await
            .unwrap();
        let expected: &[&str] = if i == 0 {
            &["TransactGetItems", "TransactWriteItems"]
        } else {
            &["TransactWriteItems"]
        };
        assert_eq!(log.take(), expected, "append {i}");
    }
    // A change and a delete of an item the store saw created: the write alone.
    let item = ItemId::parse("i1", "itemId").unwrap();
    for event in [
        DomainEvent::ItemAmountChanged {
            item_id: item.clone(),
            amount: Amount::new(7).unwrap(),
        },
        DomainEvent::ItemDeleted { item_id: item },
    ] {
        let command = AppendCommand::new(stream.clone(), event, None);
        store.append(&command, Utc::now()).await.unwrap();
        assert_eq!(log.take(), ["TransactWriteItems"]);
    }
    // Another store (a cold instance) reads first, once.
    let other = DynamoStore::new(store.client().clone(), store.tables().clone());
    for i in 5..7u64 {
        let event = other
            .append(&create(&stream, &format!("i{i}"), i), Utc::now())
            .await
            .unwrap();
        assert_eq!(event.event_id.get(), i + 2);
        let expected: &[&str] = if i == 5 {
            &["TransactGetItems", "TransactWriteItems"]
        } else {
            &["TransactWriteItems"]
        };
        assert_eq!(log.take(), expected, "append {i} by another store");
    }
}

#[tokio::test]
async fn a_keyed_append_is_one_read_and_one_write_and_its_repeat_one_read() {
    let (store, log) = counted_store().await;
    let stream = StreamId::parse("requests-keyed", "streamId").unwrap();
    for i in 0..3u64 {
        let key = IdempotencyKey::parse(&testkit::unique_name("requests")).unwrap();
        let command = create(&stream, &format!("i{i}"), i).with_idempotency_key(key);
        let first = store.append(&command, Utc::now()).await.unwrap();
        // Warm or not: the key's row is read with the state.
        assert_eq!(
            log.take(),
            ["TransactGetItems", "TransactWriteItems"],
            "append {i}"
        );
        let again = store.append(&command, Utc::now()).await.unwrap();
        assert_eq!(again, first);
        assert_eq!(log.take(), ["TransactGetItems"], "repeat of append {i}");
    }
}

#[tokio::test]
async fn a_batch_is_one_write_per_touched_item() {
    let (store, log) = counted_store().await;
    let stream = StreamId::parse("batch", "streamId").unwrap();
    let mut events = Vec::new();
    for i in 0..10u64 {
        events.push(
            store
                .append(&create(&stream, &format!("item-{i}"), i), Utc::now())
                .await
                .unwrap(),
        );
    }
    for round in 0..9u64 {
        for i in 0..10u64 {
            let change = AppendCommand {
                stream_id: stream.clone(),
                event: DomainEvent::ItemAmountChanged {
                    item_id: ItemId::parse(format!("item-{i}"), "itemId").unwrap(),
                    amount: Amount::new(100 * round + i).unwrap(),
                },
                expected_version: None,
                idempotency: None,
                metadata: Default::default(),
            };
            events.push(store.append(&change, Utc::now()).await.unwrap());
        }
    }
    assert_eq!(events.len(), 100);
    log.take();
    assert!(project(&store, &events).await.is_empty());
    let writes = log.take();
    assert_eq!(writes.len(), 10, "{writes:?}");
    assert!(writes.iter().all(|op| op == "PutItem"), "{writes:?}");
}
