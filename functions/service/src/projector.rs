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
use chrono::Utc;
use domain::{
    ApplyMode, ItemId, ParkedRecord, ParkedRecords, ReadModel, RecordedEvent, StoreError, StreamId,
    coalesce,
};

use crate::dynamo::event_from_item;

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
/// A record that does not decode never will: it is parked (with the reason
/// and its text) and acknowledged, so it blocks nothing. A failed write, or
/// a failed parking, reports the earliest record of its item (or the record
/// itself), so the event source mapping retries from there until it lands;
/// only past the mapping's record age limit does a record go to its
/// on-failure destination. Nothing is dropped silently.
pub async fn handle_stream_batch(
    read_model: &dyn ReadModel,
    parking: &dyn ParkedRecords,
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
                let parked = ParkedRecord::new(
                    format!(
                        "{}#{sequence}",
                        record.event_source_arn.as_deref().unwrap_or("")
                    ),
                    err.to_string(),
                    &serde_json::to_string(record).unwrap_or_default(),
                    Utc::now(),
                );
                match parking.park(&parked).await {
                    Ok(()) => {
                        tracing::error!(sequence_number = %sequence, event_id = %record.event_id, error = %err, "undecodable stream record parked");
                    }
                    Err(park_err) => {
                        tracing::error!(sequence_number = %sequence, event_id = %record.event_id, error = %err, park_error = %park_err, "undecodable stream record could not be parked; retrying it");
                        failures.push(sequence);
                    }
                }
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

    fn failures(response: &DynamoDbEventResponse) -> Vec<String> {
        response
            .batch_item_failures
            .iter()
            .filter_map(|failure| failure.item_identifier.clone())
            .collect()
    }

    fn created(id: u64, item: &str, amount: u64) -> Value {
        image(
            "s",
            id,
            "ITEM_CREATED",
            json!({"itemId": {"S": item}, "amount": {"N": amount.to_string()}}),
        )
    }

    fn undecodable() -> Value {
        image(
            "s",
            1,
            "ITEM_CREATED",
            json!({"itemId": {"S": "b"}, "amount": {"S": "lots"}}),
        )
    }

    #[tokio::test]
    async fn an_undecodable_record_is_parked_and_acknowledged_and_the_rest_projected() {
        let store = MemoryStore::new();
        let event = batch(vec![
            record("100", "INSERT", created(0, "a", 5)),
            record("200", "INSERT", undecodable()),
            record("300", "INSERT", created(2, "c", 7)),
            // The log is append-only; anything but an insert carries no event.
            record("400", "REMOVE", created(0, "a", 5)),
        ]);
        let response = handle_stream_batch(&store, &store, &event).await;
        assert_eq!(failures(&response), Vec::<String>::new());
        let listed: Vec<(String, u64)> = items_of_s(&store)
            .await
            .into_iter()
            .map(|v| (v.item_id.to_string(), v.amount.get()))
            .collect();
        assert_eq!(listed, vec![("a".to_owned(), 5), ("c".to_owned(), 7)]);
        let parked = store.parked(None, 10).await.unwrap();
        assert_eq!(parked.len(), 1);
        assert!(
            parked[0]
                .source
                .ends_with("/stream/2026-01-01T00:00:00.000#200")
        );
        assert!(parked[0].reason.contains("amount"), "{}", parked[0].reason);
        assert!(
            parked[0].record.contains("\"lots\""),
            "{}",
            parked[0].record
        );

        // The same batch again (at-least-once delivery) changes nothing.
        let again = handle_stream_batch(&store, &store, &event).await;
        assert_eq!(failures(&again), Vec::<String>::new());
        assert_eq!(items_of_s(&store).await.len(), 2);
        assert_eq!(store.parked(None, 10).await.unwrap(), parked);
    }

    /// Parking that fails: the record must be retried, not acknowledged.
    struct NoParking;

    #[async_trait::async_trait]
    impl ParkedRecords for NoParking {
        async fn park(&self, _: &ParkedRecord) -> Result<(), StoreError> {
            Err(StoreError::Unavailable("parking is down".into()))
        }

        async fn parked(&self, _: Option<&str>, _: usize) -> Result<Vec<ParkedRecord>, StoreError> {
            Ok(Vec::new())
        }
    }

    #[tokio::test]
    async fn an_undecodable_record_that_cannot_be_parked_is_retried() {
        let store = MemoryStore::new();
        let event = batch(vec![
            record("100", "INSERT", created(0, "a", 5)),
            record("200", "INSERT", undecodable()),
        ]);
        let response = handle_stream_batch(&store, &NoParking, &event).await;
        assert_eq!(failures(&response), ["200"]);
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
            handle_stream_batch(&store, &store, &event)
                .await
                .batch_item_failures
                .is_empty()
        );
        let listed = items_of_s(&store).await;
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].amount.get(), 30);
    }
}
