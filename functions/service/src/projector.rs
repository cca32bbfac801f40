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
