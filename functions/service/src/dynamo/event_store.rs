//! The `EventStore` port: an append reads the stream index's HEAD and item
//! rows (and its idempotency key's row) in one TransactGetItems and writes
//! the event, HEAD and the item row (and the key's row) in one conditional
//! TransactWriteItems (`append_write.rs`), retried on conflict. A warm
//! store skips the read for an append without a key, writing against what
//! it remembers (`append_memory.rs`), and a refused write's returned rows
//! (`append_refusal.rs`) serve its retry: one request per append in steady
//! state. A write that gets no answer is read back before the append
//! answers.

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_get_items::{
    TransactGetItemsError, TransactGetItemsOutput,
};
use std::collections::HashMap;

use aws_sdk_dynamodb::types::{Get, TransactGetItem};
use chrono::{DateTime, SubsecRound, Utc};
use domain::event::parse_timestamp;
use domain::{
    AppendCommand, AppendError, DecisionState, EventId, EventStore, EventsPage, EventsQuery,
    Fingerprint, IdempotencyKey, ItemId, RecordedEvent, RememberedAppend, StoreError, StreamId,
    StreamPage, Version, decide, recall,
};

use super::DynamoStore;
use super::append_refusal::Current;
use super::append_write::{READ_BACK_RESERVE, ReadBack, Written};
use super::backoff::pause;
use super::batch::{self, Projection};
use super::codec::{
    Item, event_from_item, index_key, item_entry, key_row_key, n, number, s, string,
};
use super::errors::{built, invalid_transaction, unavailable};
use super::schema::{
    APPENDED_TO, ENTRY, EVENT_ID, EXPIRES_AT, FINGERPRINT, HEAD_ENTRY, LAST_EVENT_ID, RECORDED_AT,
    STREAM_ID,
};
use crate::deadline;

/// Attempts at an append before giving up with `Contention`.
const APPEND_ATTEMPTS: u32 = 50;

#[async_trait]
impl EventStore for DynamoStore {
    async fn append(
        &self,
        command: &AppendCommand,
        recorded_at: DateTime<Utc>,
    ) -> Result<RecordedEvent, AppendError> {
        // The stored precision, so the returned event equals the one read back.
        let recorded_at = recorded_at.trunc_subsecs(3);
        let stream = command.stream_id.as_str();
        let item_entry = item_entry(command.event.item_id());
        let key = command
            .idempotency
            .as_ref()
            .map(|idempotency| &idempotency.key);
        let mut last_try = std::time::Duration::ZERO;
        // Writes that got no answer and were not found stored: one may
        // still land, and a later try must not store the event again.
        let mut unanswered: Vec<RecordedEvent> = Vec::new();
        // The state a refused write's reasons showed, for the next try.
        let mut shown: Option<Current> = None;
        // A refusal decided on remembered state is only a hint: confirm it
        // on state read from the table.
        let mut read_first = false;
        let mut pause_first = false;
        for attempt in 0..APPEND_ATTEMPTS {
            if attempt > 0 {
                let pause = if pause_first {
                    pause(attempt)
                } else {
                    std::time::Duration::ZERO
                };
                // Another try that could end past the request's deadline
                // would leave the caller with a timeout, not knowing; its
                // write keeps time to be read back if its answer is lost.
                if !deadline::allows(pause, last_try + READ_BACK_RESERVE) {
                    return Err(StoreError::Contention(format!(
                        "stream `{stream}`: {attempt} attempts lost to concurrent appends, and no time left for another"
                    ))
                    .into());
                }
                tokio::time::sleep(pause).await;
            }
            pause_first = true;
            let try_started = std::time::Instant::now();
            // Remembered state is written against without a read, unless a
            // write's fate is in doubt (then only the table tells), or the
            // command has a key: its row is read with the state, so a
            // standing key never meets a write. (A refused transaction
            // stores nothing on DynamoDB, but the emulator's table stream
            // shows the puts of a refused one that passed, and a keyed
            // write would reach the projector as an event never stored.)
            let remembered_state = (!read_first && unanswered.is_empty() && key.is_none())
                .then(|| {
                    self.memory
                        .assumed(stream, &item_entry, command.event.needs_live_item())
                })
                .flatten();
            let (state, from_table) = match (shown.take(), remembered_state) {
                (Some(current), _) => (current.state, Some(current.remembered)),
                (None, Some(state)) => (state, None),
                (None, None) => {
                    read_first = false;
                    let Some((state, remembered)) =
                        self.decision_state(stream, &item_entry, key).await?
                    else {
                        last_try = try_started.elapsed();
                        continue;
                    };
                    (state, Some(remembered))
                }
            };
            if let Some(remembered) = &from_table {
                self.memory.learn(
                    stream,
                    state.version,
                    state.version,
                    &item_entry,
                    state.item_live,
                );
                if let Some(original) = recall(command, remembered.as_ref(), recorded_at)? {
                    return Ok(original);
                }
                // The stream moved past an id written without an answer: that
                // may be this very event, landed late.
                let passed: Vec<RecordedEvent> = unanswered
                    .extract_if(.., |tried| {
                        Version::of_last(tried.event_id).get() <= state.version.get()
                    })
                    .collect();
                for tried in passed {
                    if self.read_back(command, &tried).await? == ReadBack::Stored {
                        return Ok(tried);
                    }
                }
            }
            // A stale expectedVersion shows up here, on the state read or
            // shown; on remembered state, a refusal is confirmed by a read.
            let event_id = match decide(&state, command) {
                Ok(event_id) => event_id,
                Err(rejection) if from_table.is_some() => return Err(rejection.into()),
                Err(_) => {
                    read_first = true;
                    pause_first = false;
                    continue;
                }
            };
            let recorded = command.recorded(event_id, recorded_at);
            match self.write_append(command, &recorded, &state).await? {
                Written::Stored => {
                    self.memory.learn(
                        stream,
                        state.version,
                        Version::of_last(event_id),
                        &item_entry,
                        command.event.item_state_after().is_live(),
                    );
                    return Ok(recorded);
                }
                Written::Lost(current) => {
                    if current.is_none() {
                        self.memory.forget(stream);
                    }
                    shown = current;
                }
                Written::Unknown(why) => {
                    self.memory.forget(stream);
                    match self.read_back(command, &recorded).await {
                        Ok(ReadBack::Stored) => {
                            tracing::warn!(stream_id = %stream, event_id = %event_id, error = %why, "an append's write got no answer; the log shows it stored");
                            return Ok(recorded);
                        }
                        Ok(ReadBack::Taken) => {
                            tracing::warn!(stream_id = %stream, event_id = %event_id, error = %why, "an append's write got no answer; another event holds its id, trying again");
                        }
                        Ok(ReadBack::Free) => {
                            tracing::warn!(stream_id = %stream, event_id = %event_id, error = %why, "an append's write got no answer; the log shows it not stored, trying again");
                            unanswered.push(recorded);
                        }
                        Err(err) => {
                            return Err(StoreError::Unavailable(format!(
                                "{why}; whether it was stored is unknown, as reading it back failed: {err}"
                            ))
                            .into());
                        }
                    }
                }
            }
            last_try = try_started.elapsed();
        }
        Err(StoreError::Contention(format!(
            "stream `{stream}`: {APPEND_ATTEMPTS} attempts lost to concurrent appends"
        ))
        .into())
    }

    async fn read_events(&self, query: &EventsQuery) -> Result<Option<EventsPage>, StoreError> {
        self.events_page(query).await
    }

    async fn list_streams(
        &self,
        after: Option<&StreamId>,
        limit: usize,
    ) -> Result<StreamPage, StoreError> {
        self.stream_page(after, limit).await
    }

    async fn latest_event_ids(
        &self,
        stream_id: &StreamId,
        items: &[ItemId],
    ) -> Result<Vec<Option<EventId>>, StoreError> {
        let stream = stream_id.as_str();
        let mut entries: Vec<String> = items.iter().map(item_entry).collect();
        entries.sort();
        entries.dedup();
        let table = &self.tables.stream_index;
        let keys = entries
            .iter()
            .map(|entry| index_key(stream, entry))
            .collect();
        let projection = Projection {
            expression: "#n, #l",
            names: &[("#n", ENTRY), ("#l", LAST_EVENT_ID)],
        };
        let what = format!("reading item rows of stream `{stream}`");
        let rows = batch::get_all(&self.client, table, keys, Some(&projection), &what).await?;
        let mut latest: HashMap<String, EventId> = HashMap::new();
        for row in &rows {
            let corrupt = |problem: String| {
                StoreError::Corrupt(format!("{table} item row of stream `{stream}`: {problem}"))
            };
            let entry = string(row, ENTRY).map_err(corrupt)?.to_owned();
            let last: u64 = number(row, LAST_EVENT_ID).map_err(corrupt)?;
            latest.insert(entry, EventId::new(last));
        }
        Ok(items
            .iter()
            .map(|item_id| latest.get(&item_entry(item_id)).copied())
            .collect())
    }

    async fn read_stream(
        &self,
        stream_id: &StreamId,
        from: EventId,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut events = Vec::new();
        let mut start_key = None;
        while events.len() < limit {
            let page = i32::try_from(limit - events.len()).unwrap_or(i32::MAX);
            let output = self
                .client
                .query()
                .table_name(&self.tables.events)
                .consistent_read(true)
                .key_condition_expression("#s = :s AND #e >= :from")
                .expression_attribute_names("#s", STREAM_ID)
                .expression_attribute_names("#e", EVENT_ID)
                .expression_attribute_values(":s", s(stream_id.as_str()))
                .expression_attribute_values(":from", n(from.get()))
                .scan_index_forward(true)
                .limit(page)
                .set_exclusive_start_key(start_key)
                .send()
                .await
                .map_err(|err| {
                    unavailable(
                        format!("reading stream `{stream_id}` from {}", self.tables.events),
                        &err,
                    )
                })?;
            for item in output.items() {
                events.push(event_from_item(item)?);
            }
            start_key = output.last_evaluated_key;
            if start_key.is_none() {
                break;
            }
        }
        events.truncate(limit);
        Ok(events)
    }
}

impl DynamoStore {
    /// The stream's version, whether the item is live, and what `key`
    /// holds, read together; `None` when the read collided with a write in
    /// flight (retry).
    async fn decision_state(
        &self,
        stream: &str,
        item_entry: &str,
        key: Option<&IdempotencyKey>,
    ) -> Result<Option<(DecisionState, Option<RememberedAppend>)>, StoreError> {
        let get = |key: Item| -> Result<TransactGetItem, StoreError> {
            let get = built(
                Get::builder()
                    .table_name(&self.tables.stream_index)
                    .set_key(Some(key))
                    .build(),
            )?;
            Ok(TransactGetItem::builder().get(get).build())
        };
        let mut read = self
            .client
            .transact_get_items()
            .transact_items(get(index_key(stream, HEAD_ENTRY))?)
            .transact_items(get(index_key(stream, item_entry))?);
        if let Some(key) = key {
            read = read.transact_items(get(key_row_key(key))?);
        }
        let err = match read.send().await {
            Ok(output) => {
                let state = self.read_decision_state(stream, item_entry, &output)?;
                let remembered = match key {
                    Some(key) => {
                        let row = output.responses().get(2).and_then(|r| r.item());
                        self.remembered_from(key, row)?
                    }
                    None => None,
                };
                return Ok(Some((state, remembered)));
            }
            Err(err) => err,
        };
        let what = format!("reading the state of stream `{stream}`");
        if let SdkError::ServiceError(service) = &err
            && let TransactGetItemsError::TransactionCanceledException(cancel) = service.err()
        {
            // A read that collided with a write is retried; an invalid one
            // would only be refused again.
            return match invalid_transaction(what, cancel.cancellation_reasons()) {
                Some(invalid) => Err(invalid),
                None => Ok(None),
            };
        }
        Err(unavailable(what, &err))
    }

    /// The state that TransactGetItems read: HEAD's version, the item's row.
    fn read_decision_state(
        &self,
        stream: &str,
        item_entry: &str,
        output: &TransactGetItemsOutput,
    ) -> Result<DecisionState, StoreError> {
        let responses = output.responses();
        let row = |i: usize| responses.get(i).and_then(|r| r.item());
        Ok(DecisionState {
            version: self.head_version(stream, row(0))?,
            item_live: self.item_live(stream, item_entry, row(1))?,
        })
    }

    /// What `key`'s row says, expired or not.
    pub(super) fn remembered_from(
        &self,
        key: &IdempotencyKey,
        row: Option<&Item>,
    ) -> Result<Option<RememberedAppend>, StoreError> {
        let Some(row) = row else {
            return Ok(None);
        };
        let decode = || -> Result<RememberedAppend, String> {
            let fingerprint = string(row, FINGERPRINT)?;
            let recorded_at = string(row, RECORDED_AT)?;
            let expires_at: i64 = number(row, EXPIRES_AT)?;
            Ok(RememberedAppend {
                fingerprint: Fingerprint::from_hex(fingerprint)
                    .ok_or_else(|| format!("`{FINGERPRINT}` {fingerprint:?} is not SHA-256 hex"))?,
                stream_id: StreamId::parse(string(row, APPENDED_TO)?, APPENDED_TO)
                    .map_err(|err| err.message)?,
                event_id: EventId::new(number(row, EVENT_ID)?),
                recorded_at: parse_timestamp(recorded_at).ok_or_else(|| {
                    format!("`{RECORDED_AT}` {recorded_at:?} is not an RFC 3339 timestamp")
                })?,
                expires_at: DateTime::from_timestamp(expires_at, 0)
                    .ok_or_else(|| format!("`{EXPIRES_AT}` {expires_at} is out of range"))?,
            })
        };
        decode().map(Some).map_err(|problem| {
            StoreError::Corrupt(format!(
                "{} row of idempotency key {key:?}: {problem}",
                self.tables.stream_index
            ))
        })
    }
}
