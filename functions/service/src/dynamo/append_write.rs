//! The write of an append: one conditional TransactWriteItems of the
//! event, HEAD, the item row (and the key's row), its conditions checking
//! every part of the state the append was decided on, and what its answer
//! means: stored; refused, with the current rows when the reasons carry
//! them (`append_refusal.rs`); or unknown. When no answer comes (a timeout, a connection broken after the
//! request went out, `TransactionInProgressException`, an internal error)
//! the write may or may not have landed; [`DynamoStore::read_back`] then
//! reads the log to find out before the append answers.

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_get_items::TransactGetItemsError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Get, Put, ReturnValuesOnConditionCheckFailure, TransactGetItem,
    TransactWriteItem,
};
use chrono::{DateTime, Utc};
use domain::event::format_timestamp;
use domain::{
    AppendCommand, DecisionState, IdempotencyKey, RecordedEvent, RememberedAppend, StoreError,
    Version,
};

use super::DynamoStore;
use super::append_refusal::Current;
use super::backoff::pause;
use super::codec::{
    Item, event_from_item, event_to_item, index_key, item_entry, key_row_key, n, s,
};
use super::errors::{built, invalid_transaction, unavailable};
use super::schema::{
    APPENDED_TO, EVENT_ID, EXPIRES_AT, FINGERPRINT, HEAD_ENTRY, LAST_EVENT_ID, LIVE, RECORDED_AT,
    STREAM_ID, VERSION,
};
use crate::deadline;

/// What a write kept of its request's time for reading the log back when
/// its answer does not come: one TransactGetItems, with room for a retry.
pub(super) const READ_BACK_RESERVE: std::time::Duration = std::time::Duration::from_secs(1);
/// Tries of the read-back while the write it looks for is still in flight
/// (DynamoDB cancels a transactional read that meets a transaction).
const READ_BACK_ATTEMPTS: u32 = 10;

/// What the log holds at the id of a write that got no answer.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ReadBack {
    /// The event written, and its key's row naming it.
    Stored,
    /// Nothing yet: the write did not land, or has not yet.
    Free,
    /// Another event: the write cannot land there any more.
    Taken,
}

/// What became of a write.
#[derive(Debug)]
pub(super) enum Written {
    Stored,
    /// Refused as a whole (another append got there first, or DynamoDB
    /// throttled it): nothing of it was stored. With the stream's state
    /// when the refusal's reasons show it all; otherwise read it again.
    Lost(Option<Current>),
    /// No answer says whether it landed: why.
    Unknown(String),
}

impl DynamoStore {
    /// Writes the event, the new HEAD, the item row and the key's row (if
    /// the command has a key) at once, if the stream is still as `assumed`
    /// (HEAD at its version, the item live or not as it says) and the key
    /// is free or expired.
    ///
    /// Sent once: the SDK's own retries are off for this call, so each
    /// answer is about one request. (A retry of a request that landed
    /// would be refused like a lost race, and taken for one, the event
    /// stored again under the next id. DynamoDB would recognise the
    /// retry by its client token; the emulator does not.) Losses are
    /// retried by the append itself, after reading the state again.
    pub(super) async fn write_append(
        &self,
        command: &AppendCommand,
        recorded: &RecordedEvent,
        assumed: &DecisionState,
    ) -> Result<Written, StoreError> {
        let previous = assumed.version;
        let stream = recorded.stream_id.as_str();
        let event_id = recorded.event_id.get();
        let event = built(
            Put::builder()
                .table_name(&self.tables.events)
                .set_item(Some(event_to_item(recorded)))
                .condition_expression("attribute_not_exists(#e)")
                .expression_attribute_names("#e", EVENT_ID)
                .build(),
        )?;
        let head = Put::builder()
            .table_name(&self.tables.stream_index)
            .set_item(Some(index_key(stream, HEAD_ENTRY)))
            .item(VERSION, n(event_id))
            .item(RECORDED_AT, s(&format_timestamp(recorded.recorded_at)))
            .expression_attribute_names("#v", VERSION)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let head = if previous == Version::EMPTY {
            head.condition_expression("attribute_not_exists(#v)")
        } else {
            head.condition_expression("#v = :prev")
                .expression_attribute_values(":prev", n(previous.get()))
        };
        let head = built(head.build())?;
        let item = built(
            Put::builder()
                .table_name(&self.tables.stream_index)
                .set_item(Some(index_key(
                    stream,
                    &item_entry(recorded.event.item_id()),
                )))
                .item(
                    LIVE,
                    AttributeValue::Bool(recorded.event.item_state_after().is_live()),
                )
                .item(LAST_EVENT_ID, n(event_id))
                .expression_attribute_names("#l", LIVE)
                .condition_expression(if assumed.item_live {
                    "#l = :live"
                } else {
                    "attribute_not_exists(#l) OR #l = :live"
                })
                .expression_attribute_values(":live", AttributeValue::Bool(assumed.item_live))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build(),
        )?;
        let mut write = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(event).build())
            .transact_items(TransactWriteItem::builder().put(head).build())
            .transact_items(TransactWriteItem::builder().put(item).build());
        let key = command.idempotency.as_ref().map(|i| &i.key);
        if let Some((key, remembered)) = key.zip(command.remembered(recorded)) {
            write = write.transact_items(
                TransactWriteItem::builder()
                    .put(self.key_row(key, &remembered, recorded.recorded_at)?)
                    .build(),
            );
        }
        // A new stream joins the list of streams with its first event.
        if previous == Version::EMPTY {
            let listed = super::streams::stream_list_row(&self.tables.stream_index, stream)?;
            write = write.transact_items(TransactWriteItem::builder().put(listed).build());
        }
        let sent = write
            .customize()
            .config_override(
                aws_sdk_dynamodb::Config::builder().retry_config(RetryConfig::disabled()),
            )
            .send();
        let err = match deadline::leaving(READ_BACK_RESERVE, sent).await {
            Ok(_) => return Ok(Written::Stored),
            Err(err) => err,
        };
        let what = format!("appending event {event_id} to stream `{stream}`");
        match &err {
            SdkError::ServiceError(service) => match service.err() {
                TransactWriteItemsError::TransactionCanceledException(cancel) => {
                    // Reasons are positional: event, HEAD, item row, then
                    // the key row and the stream's row in the list, each
                    // when sent.
                    let codes: Vec<Option<&str>> = cancel
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code())
                        .collect();
                    let only_the_event_clashed = codes.first()
                        == Some(&Some("ConditionalCheckFailed"))
                        && codes[1..].iter().all(|code| *code == Some("None"));
                    // HEAD unchanged yet the event id taken: the tables
                    // disagree, and retrying would only spin until
                    // `Contention`.
                    if let Some(invalid) = invalid_transaction(&what, cancel.cancellation_reasons())
                    {
                        return Err(invalid);
                    }
                    if only_the_event_clashed {
                        return Err(StoreError::Corrupt(format!(
                            "stream `{stream}`: {} is at version {previous} but {} already holds event {event_id}",
                            self.tables.stream_index, self.tables.events
                        )));
                    }
                    if codes.iter().any(|code| {
                        matches!(code, Some("ConditionalCheckFailed" | "TransactionConflict"))
                    }) {
                        let current = self.current_from_reasons(
                            stream,
                            &item_entry(recorded.event.item_id()),
                            key,
                            assumed,
                            cancel.cancellation_reasons(),
                        )?;
                        return Ok(Written::Lost(current));
                    }
                    Err(unavailable(what, &err))
                }
                // The same transaction is still being applied: it may yet land.
                TransactWriteItemsError::TransactionInProgressException(_) => {
                    Ok(Written::Unknown(unavailable(what, &err).to_string()))
                }
                // Refused before anything was written: like a lost race.
                other if is_throttling(other.code()) => Ok(Written::Lost(None)),
                // "The request may or may not have succeeded"
                // (docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html).
                other if other.code() == Some("InternalServerError") => {
                    Ok(Written::Unknown(unavailable(what, &err).to_string()))
                }
                _ => Err(unavailable(what, &err)),
            },
            // Never sent (no time left, a request that does not build).
            SdkError::ConstructionFailure(_) => Err(unavailable(what, &err)),
            // A timeout, a connection broken, an answer that does not
            // parse: the request may have reached DynamoDB.
            _ => Ok(Written::Unknown(unavailable(what, &err).to_string())),
        }
    }

    /// After a write with no clear answer: whether `recorded` is stored
    /// at the id it was written to (the same event, to the millisecond,
    /// and the command's key row naming it when the command has a key).
    /// A read that meets the write still in flight is tried again while
    /// the request has time.
    pub(super) async fn read_back(
        &self,
        command: &AppendCommand,
        recorded: &RecordedEvent,
    ) -> Result<ReadBack, StoreError> {
        let stream = recorded.stream_id.as_str();
        let event_id = recorded.event_id.get();
        let what = format!("reading back event {event_id} of stream `{stream}`");
        let get = |table: &str, key: Item| -> Result<TransactGetItem, StoreError> {
            let get = built(Get::builder().table_name(table).set_key(Some(key)).build())?;
            Ok(TransactGetItem::builder().get(get).build())
        };
        let event_key = Item::from([
            (STREAM_ID.to_owned(), s(stream)),
            (EVENT_ID.to_owned(), n(event_id)),
        ]);
        let key = command.idempotency.as_ref().map(|i| &i.key);
        let mut last_try = std::time::Duration::ZERO;
        for attempt in 0..READ_BACK_ATTEMPTS {
            if attempt > 0 {
                let pause = pause(attempt);
                if !deadline::allows(pause, last_try) {
                    break;
                }
                tokio::time::sleep(pause).await;
            }
            let started = std::time::Instant::now();
            let mut read = self
                .client
                .transact_get_items()
                .transact_items(get(&self.tables.events, event_key.clone())?);
            if let Some(key) = key {
                read = read.transact_items(get(&self.tables.stream_index, key_row_key(key))?);
            }
            let output = match read.send().await {
                Ok(output) => output,
                Err(err) => {
                    if let SdkError::ServiceError(service) = &err
                        && let TransactGetItemsError::TransactionCanceledException(cancel) =
                            service.err()
                    {
                        if let Some(invalid) =
                            invalid_transaction(&what, cancel.cancellation_reasons())
                        {
                            return Err(invalid);
                        }
                        last_try = started.elapsed();
                        continue;
                    }
                    return Err(unavailable(what, &err));
                }
            };
            let row = |i: usize| output.responses().get(i).and_then(|r| r.item());
            let Some(stored) = row(0) else {
                return Ok(ReadBack::Free);
            };
            // A row that does not decode is not the event written.
            let same_event = event_from_item(stored).is_ok_and(|stored| stored == *recorded);
            // Written in one transaction with the event: both or neither.
            let key_names_it = match key {
                None => true,
                Some(key) => self.remembered_from(key, row(1))? == command.remembered(recorded),
            };
            return Ok(if same_event && key_names_it {
                ReadBack::Stored
            } else {
                ReadBack::Taken
            });
        }
        Err(StoreError::Unavailable(format!(
            "{what}: the write was still in flight when time ran out"
        )))
    }

    /// The put of `key`'s row: over no row, or over an expired one only, so
    /// of two requests with one key, one appends.
    fn key_row(
        &self,
        key: &IdempotencyKey,
        remembered: &RememberedAppend,
        now: DateTime<Utc>,
    ) -> Result<Put, StoreError> {
        built(
            Put::builder()
                .table_name(&self.tables.stream_index)
                .set_item(Some(key_row_key(key)))
                .item(FINGERPRINT, s(&remembered.fingerprint.to_hex()))
                .item(APPENDED_TO, s(remembered.stream_id.as_str()))
                .item(EVENT_ID, n(remembered.event_id.get()))
                .item(RECORDED_AT, s(&format_timestamp(remembered.recorded_at)))
                .item(EXPIRES_AT, n(remembered.expires_at.timestamp()))
                .condition_expression("attribute_not_exists(#f) OR #x <= :now")
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .expression_attribute_names("#f", FINGERPRINT)
                .expression_attribute_names("#x", EXPIRES_AT)
                .expression_attribute_values(":now", n(now.timestamp()))
                .build(),
        )
    }
}

/// DynamoDB's codes for a request refused for its rate, before any write.
fn is_throttling(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "ThrottlingException"
                | "ProvisionedThroughputExceededException"
                | "RequestLimitExceeded"
        )
    )
}
