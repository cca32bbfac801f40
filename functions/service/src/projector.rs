//! The projector: applies appended events to the read model.
//!
//! Lambda feeds it DynamoDB stream batches (at least once; batches may
//! repeat or split); local mode feeds it the embedded store's change feed.
//! Either way a batch is coalesced to one write per touched item, and the
//! read model's version guard makes every write idempotent.

use std::collections::HashMap;

use aws_lambda_events::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use aws_sdk_dynamodb::types::AttributeValue;
use domain::{ApplyMode, ItemId, ReadModel, RecordedEvent, StoreError, StreamId, coalesce};

use crate::dynamo::event_from_item;

/// The environment variable holding the URL of the queue where the
/// projector parks the stream records it can never decode (on Lambda; the
/// deployed stack's failure queue, which also receives the event source
/// mapping's own failure records).
pub const FAILURE_QUEUE_URL_ENV: &str = "FAILURE_QUEUE_URL";

/// An item whose change could not be written.
#[derive(Debug)]
pub struct FailedItem {
    pub stream_id: StreamId,
    pub item_id: ItemId,
    pub error: StoreError,
}

/// Applies `events` (any order, repeats allowed) to the read model with one
/// write per touched item; returns the items whose write failed.
pub async fn project(read_model: &dyn ReadModel, events: &[RecordedEvent]) -> Vec<FailedItem> {
    let changes = coalesce(events);
    let outcomes = read_model.apply(&changes, ApplyMode::Projection).await;
    changes
        .into_iter()
        .zip(outcomes)
        .filter_map(|(change, outcome)| {
            outcome.err().map(|error| FailedItem {
                stream_id: change.stream_id,
                item_id: change.item_id,
                error,
            })
        })
        .collect()
}

/// The projector function's handler: a DynamoDB stream batch in, the
/// records to retry out (`ReportBatchItemFailures`).
///
/// A record that does not decode is poisoned: it is logged and reported, so
/// the event source mapping's bounded retries and bisection isolate it and
/// finally skip it instead of blocking its stream. A failed write reports the
/// earliest record of its item, so the retry re-reads everything after it.
pub async fn handle_stream_batch(
    read_model: &dyn ReadModel,
    batch: &StreamEvent,
) -> DynamoDbEventResponse {
    let mut decoded: Vec<(&EventRecord, RecordedEvent)> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    for record in &batch.records {
        // The log is append-only: only inserts carry events. A REMOVE comes
        // from deleting the table's data and has nothing to project.
        if record.event_name != "INSERT" {
            continue;
        }
        let sequence = record.change.sequence_number.clone().unwrap_or_default();
        let image: HashMap<String, AttributeValue> = record.change.new_image.clone().into();
        match event_from_item(&image) {
            Ok(event) => decoded.push((record, event)),
            Err(err) => {
                tracing::error!(sequence_number = %sequence, event_id = %record.event_id, error = %err, "poisoned stream record");
                failures.push(sequence);
            }
        }
    }
    let events: Vec<RecordedEvent> = decoded.iter().map(|(_, event)| event.clone()).collect();
    for failed in project(read_model, &events).await {
        tracing::error!(stream_id = %failed.stream_id, item_id = %failed.item_id, error = %failed.error, "read model write failed");
        let earliest = decoded
            .iter()
            .filter(|(_, event)| {
                event.stream_id == failed.stream_id && *event.event.item_id() == failed.item_id
            })
            .filter_map(|(record, _)| record.change.sequence_number.clone())
            .min_by(|a, b| compare_sequence_numbers(a, b));
        failures.extend(earliest);
    }
    failures.sort_by(|a, b| compare_sequence_numbers(a, b));
    failures.dedup();
    tracing::info!(
        records = batch.records.len(),
        projected = events.len(),
        failures = failures.len(),
        "batch projected"
    );
    let mut response = DynamoDbEventResponse::default();
    response.batch_item_failures = failures
        .into_iter()
        .map(|sequence| {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(sequence);
            failure
        })
        .collect();
    response
}

/// Sequence numbers are decimal strings of varying length.
pub fn compare_sequence_numbers(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// The handler on real-shaped DynamoDB stream events, over the in-memory
/// store of the conformance suite.
#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::dynamodb::Event;
    use domain::StreamId;
    use serde_json::{Value, json};
    use testkit::memory::MemoryStore;

    /// Stream `s`'s items (one page holds them all).
    async fn items_of_s(store: &MemoryStore) -> Vec<domain::ItemView> {
        let query = domain::ListQuery::first_page(StreamId::parse("s", "streamId").unwrap());
        store.list(&query).await.unwrap().items
    }

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
        let store = MemoryStore::new();
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
        let listed: Vec<(String, u64)> = items_of_s(&store)
            .await
            .into_iter()
            .map(|v| (v.item_id.to_string(), v.amount.get()))
            .collect();
        assert_eq!(listed, vec![("a".to_owned(), 5), ("c".to_owned(), 7)]);

        // The same batch again (at-least-once delivery) changes nothing.
        let again = handle_stream_batch(&store, &event).await;
        assert_eq!(again.batch_item_failures.len(), 1);
        assert_eq!(items_of_s(&store).await.len(), 2);
    }

    #[tokio::test]
    async fn a_batch_with_repeats_writes_the_latest_state() {
        let store = MemoryStore::new();
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
        let listed = items_of_s(&store).await;
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].amount.get(), 30);
    }
}
