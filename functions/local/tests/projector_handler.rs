//! The projector function's handler on real-shaped DynamoDB stream events.

use domain::{ReadModel, StreamId};
use local::sqlite::SqliteStore;
use serde_json::{Value, json};
use service::aws_lambda_events::dynamodb::Event;
use service::projector::handle_stream_batch;

fn record(sequence: &str, name: &str, image: Value) -> Value {
    json!({
        "eventID": format!("id-{sequence}"),
        "eventName": name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "eu-west-1",
        "eventSourceARN": "arn:aws:dynamodb:eu-west-1:123456789012:table/events/stream/2026-01-01T00:00:00.000",
        "dynamodb": {
            "ApproximateCreationDateTime": 1_764_000_000,
            "Keys": {"streamId": image["streamId"].clone(), "eventId": image["eventId"].clone()},
            "NewImage": image,
            "SequenceNumber": sequence,
            "SizeBytes": 100,
            "StreamViewType": "NEW_IMAGE"
        }
    })
}

fn image(stream: &str, event_id: u64, kind: &str, data: Value) -> Value {
    json!({
        "streamId": {"S": stream},
        "eventId": {"N": event_id.to_string()},
        "type": {"S": kind},
        "data": {"M": data},
        "recordedAt": {"S": "2026-11-26T10:00:00.000Z"}
    })
}

fn batch(records: Vec<Value>) -> Event {
    serde_json::from_value(json!({ "Records": records })).expect("a stream event")
}

#[tokio::test]
async fn a_poisoned_record_is_reported_and_the_rest_projected() {
    let store = SqliteStore::open_in_memory().unwrap();
    let created = |id: u64, item: &str, amount: u64| {
        image(
            "s",
            id,
            "ITEM_CREATED",
            json!({"itemId": {"S": item}, "amount": {"N": amount.to_string()}}),
        )
    };
    let poisoned = image(
        "s",
        1,
        "ITEM_CREATED",
        json!({"itemId": {"S": "b"}, "amount": {"S": "lots"}}),
    );
    let event = batch(vec![
        record("100", "INSERT", created(0, "a", 5)),
        record("200", "INSERT", poisoned),
        record("300", "INSERT", created(2, "c", 7)),
        // The log is append-only; anything but an insert carries no event.
        record("400", "REMOVE", created(0, "a", 5)),
    ]);
    let response = handle_stream_batch(&store, &event).await;
    let failures: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|failure| failure.item_identifier.clone())
        .collect();
    assert_eq!(failures, vec![Some("200".to_owned())]);
    let listed = store
        .list(&StreamId::parse("s", "streamId").unwrap())
        .await
        .unwrap();
    let listed: Vec<(String, u64)> = listed
        .into_iter()
        .map(|v| (v.item_id.to_string(), v.amount.get()))
        .collect();
    assert_eq!(listed, vec![("a".to_owned(), 5), ("c".to_owned(), 7)]);

    // The same batch again (at-least-once delivery) changes nothing.
    let again = handle_stream_batch(&store, &event).await;
    assert_eq!(again.batch_item_failures.len(), 1);
    assert_eq!(
        store
            .list(&StreamId::parse("s", "streamId").unwrap())
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn a_batch_with_repeats_writes_the_latest_state() {
    let store = SqliteStore::open_in_memory().unwrap();
    let changed = |id: u64, amount: u64| {
        image(
            "s",
            id,
            "ITEM_AMOUNT_CHANGED",
            json!({"itemId": {"S": "x"}, "amount": {"N": amount.to_string()}}),
        )
    };
    let event = batch(vec![
        record("3", "INSERT", changed(2, 30)),
        record(
            "1",
            "INSERT",
            image(
                "s",
                0,
                "ITEM_CREATED",
                json!({"itemId": {"S": "x"}, "amount": {"N": "10"}}),
            ),
        ),
        record("2", "INSERT", changed(1, 20)),
        record("3", "INSERT", changed(2, 30)),
    ]);
    assert!(
        handle_stream_batch(&store, &event)
            .await
            .batch_item_failures
            .is_empty()
    );
    let listed = store
        .list(&StreamId::parse("s", "streamId").unwrap())
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].amount.get(), 30);
}
