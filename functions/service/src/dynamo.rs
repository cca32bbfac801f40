//! The DynamoDB adapter of the storage ports.
//!
//! Three tables:
//! - events: the log, one item per event, keyed (streamId, eventId); its
//!   DynamoDB stream (NEW_IMAGE) feeds the projector.
//! - stream index: the write side's consistent state, so an append reads
//!   everything `decide` needs in one request: per stream a `HEAD` row (the
//!   version) and one `ITEM#<id>` row per item (live or not). It also holds
//!   the change-feed checkpoints, under their own key prefix.
//! - read model: one row per (streamId, itemId) with the version (event id)
//!   that set it; deletes leave tombstones.
//!
//! An uncontended append costs two requests: TransactGetItems of HEAD and
//! the item row, then one TransactWriteItems of the event, HEAD and the item
//! row, conditioned on HEAD being unchanged.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{BuildError, DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, DeleteRequest, Get, KeySchemaElement,
    KeyType, Put, ScalarAttributeType, StreamSpecification, StreamViewType, TableStatus,
    TransactGetItem, TransactWriteItem, WriteRequest,
};
use chrono::{DateTime, SubsecRound, Utc};
use domain::event::{format_timestamp, parse_timestamp};
use domain::{
    AppendCommand, AppendError, ApplyMode, ApplyOutcome, Checkpoints, DecisionState, DomainEvent,
    EventId, EventStore, ItemChange, ItemId, ItemState, ItemView, ReadModel, RecordedEvent,
    StoreError, StreamId, Version, decide,
};
use futures::StreamExt;
use serde_json::{Map, Number, Value};

/// Attribute names and key layouts, shared with the deployment template.
pub mod schema {
    /// The hash key of all three tables.
    pub const STREAM_ID: &str = "streamId";

    /// Events table: range key, N.
    pub const EVENT_ID: &str = "eventId";
    /// Events table: the wire type name, S.
    pub const EVENT_TYPE: &str = "type";
    /// Events table: the event's `data` object, M.
    pub const DATA: &str = "data";
    /// Events table: RFC 3339 with milliseconds, S.
    pub const RECORDED_AT: &str = "recordedAt";
    /// What the events table's DynamoDB stream carries.
    pub const EVENTS_STREAM_VIEW: &str = "NEW_IMAGE";

    /// Stream index: range key, S.
    pub const ENTRY: &str = "entry";
    /// Stream index: the row holding a stream's version.
    pub const HEAD_ENTRY: &str = "HEAD";
    /// Stream index: prefix of an item's row, followed by the item id.
    pub const ITEM_ENTRY_PREFIX: &str = "ITEM#";
    /// Stream index: prefix of a checkpoint's row, followed by its name.
    pub const CHECKPOINT_ENTRY_PREFIX: &str = "CHECKPOINT#";
    /// Stream index: the hash key all checkpoint rows share.
    pub const CHECKPOINTS_STREAM: &str = "checkpoints";
    /// HEAD rows: the stream's last event id, N. Read model: the event id
    /// that set the row, N.
    pub const VERSION: &str = "version";
    /// Item rows: whether the item is live, BOOL.
    pub const LIVE: &str = "live";
    /// Item rows: the id of the item's latest event, N.
    pub const LAST_EVENT_ID: &str = "lastEventId";
    /// Checkpoint rows: the saved position, S.
    pub const POSITION: &str = "position";

    /// Read model: range key, S.
    pub const ITEM_ID: &str = "itemId";
    /// Read model: the amount of a live item, N (absent on tombstones).
    pub const AMOUNT: &str = "amount";
    /// Read model: whether the row is a tombstone, BOOL.
    pub const DELETED: &str = "deleted";
}

use schema::*;

/// Environment variables naming the tables.
pub const EVENTS_TABLE_ENV: &str = "EVENTS_TABLE";
pub const STREAM_INDEX_TABLE_ENV: &str = "STREAM_INDEX_TABLE";
pub const READ_MODEL_TABLE_ENV: &str = "READ_MODEL_TABLE";

/// Attempts at an append before giving up with `Contention`.
const APPEND_ATTEMPTS: u32 = 50;
/// Concurrent read-model writes per `apply` call.
const APPLY_CONCURRENCY: usize = 16;
/// BatchWriteItem's limit.
const BATCH_WRITE_MAX: usize = 25;
/// Rounds of resending BatchWriteItem's unprocessed items.
const BATCH_WRITE_ATTEMPTS: u32 = 10;
/// How long `ensure_tables` waits for a table to become ACTIVE.
const TABLE_ACTIVE_TIMEOUT: Duration = Duration::from_secs(180);

/// A table-name variable that is unset or empty.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {0} is not set (it names a DynamoDB table)")]
pub struct MissingTableName(pub &'static str);

/// The names of the three tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableNames {
    pub events: String,
    pub stream_index: String,
    pub read_model: String,
}

impl TableNames {
    /// From `EVENTS_TABLE`, `STREAM_INDEX_TABLE` and `READ_MODEL_TABLE`.
    pub fn from_env() -> Result<Self, MissingTableName> {
        let var = |name: &'static str| match std::env::var(name) {
            Ok(value) if !value.trim().is_empty() => Ok(value.trim().to_owned()),
            _ => Err(MissingTableName(name)),
        };
        Ok(TableNames {
            events: var(EVENTS_TABLE_ENV)?,
            stream_index: var(STREAM_INDEX_TABLE_ENV)?,
            read_model: var(READ_MODEL_TABLE_ENV)?,
        })
    }

    /// `<prefix>-events`, `<prefix>-stream-index`, `<prefix>-read-model`.
    pub fn with_prefix(prefix: &str) -> Self {
        TableNames {
            events: format!("{prefix}-events"),
            stream_index: format!("{prefix}-stream-index"),
            read_model: format!("{prefix}-read-model"),
        }
    }
}

/// The three ports on DynamoDB. Cloning is cheap (the client is shared).
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    tables: TableNames,
}

impl DynamoStore {
    pub fn new(client: Client, tables: TableNames) -> Self {
        DynamoStore { client, tables }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn tables(&self) -> &TableNames {
        &self.tables
    }
}

// ------------------------------------------------------------ tables

struct TableSpec<'a> {
    name: &'a str,
    hash: &'static str,
    range: (&'static str, ScalarAttributeType),
    stream: bool,
}

/// Creates the tables that do not exist (on-demand billing), waits until
/// all are ACTIVE and checks that existing ones have the expected keys.
pub async fn ensure_tables(client: &Client, tables: &TableNames) -> Result<(), StoreError> {
    let specs = [
        TableSpec {
            name: &tables.events,
            hash: STREAM_ID,
            range: (EVENT_ID, ScalarAttributeType::N),
            stream: true,
        },
        TableSpec {
            name: &tables.stream_index,
            hash: STREAM_ID,
            range: (ENTRY, ScalarAttributeType::S),
            stream: false,
        },
        TableSpec {
            name: &tables.read_model,
            hash: STREAM_ID,
            range: (ITEM_ID, ScalarAttributeType::S),
            stream: false,
        },
    ];
    for spec in &specs {
        create_table(client, spec).await?;
    }
    for spec in &specs {
        wait_active_and_check(client, spec).await?;
    }
    Ok(())
}

async fn create_table(client: &Client, spec: &TableSpec<'_>) -> Result<(), StoreError> {
    let mut request = client
        .create_table()
        .table_name(spec.name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(built(
            AttributeDefinition::builder()
                .attribute_name(spec.hash)
                .attribute_type(ScalarAttributeType::S)
                .build(),
        )?)
        .attribute_definitions(built(
            AttributeDefinition::builder()
                .attribute_name(spec.range.0)
                .attribute_type(spec.range.1.clone())
                .build(),
        )?)
        .key_schema(built(
            KeySchemaElement::builder()
                .attribute_name(spec.hash)
                .key_type(KeyType::Hash)
                .build(),
        )?)
        .key_schema(built(
            KeySchemaElement::builder()
                .attribute_name(spec.range.0)
                .key_type(KeyType::Range)
                .build(),
        )?);
    if spec.stream {
        request = request.stream_specification(built(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewImage)
                .build(),
        )?);
    }
    match request.send().await {
        Ok(_) => Ok(()),
        // Already there (or being created by someone else): fine.
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            Ok(())
        }
        Err(err) => Err(unavailable(format!("creating table {}", spec.name), &err)),
    }
}

async fn wait_active_and_check(client: &Client, spec: &TableSpec<'_>) -> Result<(), StoreError> {
    let deadline = tokio::time::Instant::now() + TABLE_ACTIVE_TIMEOUT;
    loop {
        match client.describe_table().table_name(spec.name).send().await {
            Ok(output) => {
                if let Some(table) = output.table()
                    && table.table_status() == Some(&TableStatus::Active)
                {
                    return check_table(spec, table);
                }
            }
            // Creation may not be visible yet: keep waiting.
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) => {}
            Err(err) => return Err(unavailable(format!("describing table {}", spec.name), &err)),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(StoreError::Unavailable(format!(
                "table {} is not ACTIVE after {TABLE_ACTIVE_TIMEOUT:?}",
                spec.name
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// An existing table with other keys would fail every request obscurely.
fn check_table(
    spec: &TableSpec<'_>,
    table: &aws_sdk_dynamodb::types::TableDescription,
) -> Result<(), StoreError> {
    let key_of = |key_type: KeyType| {
        table
            .key_schema()
            .iter()
            .find(|k| k.key_type() == &key_type)
            .map(|k| k.attribute_name().to_owned())
    };
    let keys = (key_of(KeyType::Hash), key_of(KeyType::Range));
    if keys != (Some(spec.hash.to_owned()), Some(spec.range.0.to_owned())) {
        return Err(StoreError::Unavailable(format!(
            "table {} exists with keys {keys:?}; expected ({}, {}): delete it or use other table names",
            spec.name, spec.hash, spec.range.0
        )));
    }
    if spec.stream {
        let stream = table.stream_specification();
        let ok = stream.is_some_and(|s| {
            s.stream_enabled() && s.stream_view_type() == Some(&StreamViewType::NewImage)
        });
        if !ok {
            return Err(StoreError::Unavailable(format!(
                "table {} exists without a {EVENTS_STREAM_VIEW} stream, which the projector needs",
                spec.name
            )));
        }
    }
    Ok(())
}

// ------------------------------------------------------------ event store

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
        for attempt in 0..APPEND_ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let Some(state) = self.decision_state(stream, &item_entry).await? else {
                continue;
            };
            // A stale expectedVersion shows up here, on the freshly read state.
            let event_id = decide(&state, command)?;
            let recorded = RecordedEvent {
                stream_id: command.stream_id.clone(),
                event_id,
                recorded_at,
                event: command.event.clone(),
            };
            if self
                .write_append(&recorded, state.version, &item_entry)
                .await?
            {
                return Ok(recorded);
            }
        }
        Err(StoreError::Contention(format!(
            "stream `{stream}`: {APPEND_ATTEMPTS} attempts lost to concurrent appends"
        ))
        .into())
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
    /// The stream's version and whether the item is live, read together;
    /// `None` when the read collided with a write in flight (retry).
    async fn decision_state(
        &self,
        stream: &str,
        item_entry: &str,
    ) -> Result<Option<DecisionState>, StoreError> {
        let get = |entry: &str| -> Result<TransactGetItem, StoreError> {
            let get = built(
                Get::builder()
                    .table_name(&self.tables.stream_index)
                    .key(STREAM_ID, s(stream))
                    .key(ENTRY, s(entry))
                    .build(),
            )?;
            Ok(TransactGetItem::builder().get(get).build())
        };
        let result = self
            .client
            .transact_get_items()
            .transact_items(get(HEAD_ENTRY)?)
            .transact_items(get(item_entry)?)
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_transaction_canceled_exception()) =>
            {
                return Ok(None);
            }
            Err(err) => {
                return Err(unavailable(
                    format!("reading the state of stream `{stream}`"),
                    &err,
                ));
            }
        };
        let responses = output.responses();
        let row = |i: usize| responses.get(i).and_then(|r| r.item());
        let corrupt = |entry: &str, problem: String| {
            StoreError::Corrupt(format!(
                "{} row ({stream}, {entry}): {problem}",
                self.tables.stream_index
            ))
        };
        let version = match row(0) {
            None => Version::EMPTY,
            Some(head) => {
                let raw: i64 = number(head, VERSION).map_err(|p| corrupt(HEAD_ENTRY, p))?;
                Version::new(raw)
                    .ok_or_else(|| corrupt(HEAD_ENTRY, format!("version {raw} is below -1")))?
            }
        };
        let item_live = match row(1) {
            None => false,
            Some(item) => boolean(item, LIVE).map_err(|p| corrupt(item_entry, p))?,
        };
        Ok(Some(DecisionState { version, item_live }))
    }

    /// Writes the event, the new HEAD and the item row at once, if HEAD is
    /// still at `previous`. `false`: another append got there first.
    async fn write_append(
        &self,
        recorded: &RecordedEvent,
        previous: Version,
        item_entry: &str,
    ) -> Result<bool, StoreError> {
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
            .item(STREAM_ID, s(stream))
            .item(ENTRY, s(HEAD_ENTRY))
            .item(VERSION, n(event_id))
            .expression_attribute_names("#v", VERSION);
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
                .item(STREAM_ID, s(stream))
                .item(ENTRY, s(item_entry))
                .item(
                    LIVE,
                    AttributeValue::Bool(domain::rules::live_after(&recorded.event)),
                )
                .item(LAST_EVENT_ID, n(event_id))
                .build(),
        )?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(event).build())
            .transact_items(TransactWriteItem::builder().put(head).build())
            .transact_items(TransactWriteItem::builder().put(item).build())
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(true),
            Err(err) => err,
        };
        if let SdkError::ServiceError(service) = &err
            && let TransactWriteItemsError::TransactionCanceledException(cancel) = service.err()
        {
            // Reasons are positional: event, HEAD, item row.
            let codes: Vec<Option<&str>> = cancel
                .cancellation_reasons()
                .iter()
                .map(|r| r.code())
                .collect();
            // HEAD unchanged yet the event id taken: the tables disagree, and
            // retrying would only spin until `Contention`.
            if codes == [Some("ConditionalCheckFailed"), Some("None"), Some("None")] {
                return Err(StoreError::Corrupt(format!(
                    "stream `{stream}`: {} is at version {previous} but {} already holds event {event_id}",
                    self.tables.stream_index, self.tables.events
                )));
            }
            if codes
                .iter()
                .any(|code| matches!(code, Some("ConditionalCheckFailed" | "TransactionConflict")))
            {
                return Ok(false);
            }
        }
        Err(unavailable(
            format!("appending event {event_id} to stream `{stream}`"),
            &err,
        ))
    }
}

fn item_entry(item_id: &ItemId) -> String {
    format!("{ITEM_ENTRY_PREFIX}{item_id}")
}

fn event_to_item(recorded: &RecordedEvent) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (STREAM_ID.to_owned(), s(recorded.stream_id.as_str())),
        (EVENT_ID.to_owned(), n(recorded.event_id.get())),
        (
            EVENT_TYPE.to_owned(),
            s(recorded.event.event_type().as_str()),
        ),
        (DATA.to_owned(), json_to_attribute(&recorded.event.data())),
        (
            RECORDED_AT.to_owned(),
            s(&format_timestamp(recorded.recorded_at)),
        ),
    ])
}

/// Decodes an events-table item (from a query or a stream image) with the
/// same strict rules as a request; anything off is `Corrupt`, naming the key.
pub fn event_from_item(
    item: &HashMap<String, AttributeValue>,
) -> Result<RecordedEvent, StoreError> {
    let decode = || -> Result<RecordedEvent, String> {
        let stream_id =
            StreamId::parse(string(item, STREAM_ID)?, STREAM_ID).map_err(|err| err.message)?;
        let event_id = EventId::new(number(item, EVENT_ID)?);
        let type_name = string(item, EVENT_TYPE)?;
        let data = match item.get(DATA) {
            Some(value @ AttributeValue::M(_)) => attribute_to_json(value)?,
            Some(_) => return Err(format!("`{DATA}` is not a map")),
            None => return Err(format!("`{DATA}` is missing")),
        };
        let event = DomainEvent::from_wire(type_name, &data).map_err(|err| err.to_string())?;
        let raw_at = string(item, RECORDED_AT)?;
        let recorded_at = parse_timestamp(raw_at)
            .ok_or_else(|| format!("`{RECORDED_AT}` {raw_at:?} is not an RFC 3339 timestamp"))?;
        Ok(RecordedEvent {
            stream_id,
            event_id,
            recorded_at,
            event,
        })
    };
    decode().map_err(|problem| StoreError::Corrupt(format!("event {}: {problem}", EventKey(item))))
}

/// Shows an event item's key as far as it is readable.
struct EventKey<'a>(&'a HashMap<String, AttributeValue>);

impl fmt::Display for EventKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |name: &str| match self.0.get(name) {
            Some(AttributeValue::S(v)) => format!("{v:?}"),
            Some(AttributeValue::N(v)) => v.clone(),
            Some(other) => format!("{other:?}"),
            None => "<missing>".to_owned(),
        };
        write!(
            f,
            "({STREAM_ID} {}, {EVENT_ID} {})",
            show(STREAM_ID),
            show(EVENT_ID)
        )
    }
}

// ------------------------------------------------------------ read model

#[async_trait]
impl ReadModel for DynamoStore {
    async fn apply(
        &self,
        changes: &[ItemChange],
        mode: ApplyMode,
    ) -> Vec<Result<ApplyOutcome, StoreError>> {
        // Built up front: a closure inside the stream trips the Send check
        // of the boxed future. `buffered` keeps the input order while up to N
        // writes are in flight.
        let writes: Vec<_> = changes
            .iter()
            .map(|change| self.apply_one(change, mode))
            .collect();
        futures::stream::iter(writes)
            .buffered(APPLY_CONCURRENCY)
            .collect()
            .await
    }

    async fn list(&self, stream_id: &StreamId) -> Result<Vec<ItemView>, StoreError> {
        let rows = self.query_read_model(stream_id, None).await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(view) = item_view(row).map_err(|problem| {
                StoreError::Corrupt(format!(
                    "{} row of stream `{stream_id}` ({ITEM_ID} {}): {problem}",
                    self.tables.read_model,
                    row.get(ITEM_ID)
                        .and_then(|v| v.as_s().ok())
                        .map_or("<missing>".to_owned(), |id| format!("{id:?}")),
                ))
            })? {
                items.push(view);
            }
        }
        // DynamoDB already returns UTF-8 byte order, which is `String`'s
        // order; sorting again costs little and does not rely on it.
        items.sort_by(|a, b| a.item_id.cmp(&b.item_id));
        Ok(items)
    }

    async fn clear(&self, stream_id: &StreamId) -> Result<(), StoreError> {
        let keys = self.query_read_model(stream_id, Some("#s, #i")).await?;
        for chunk in keys.chunks(BATCH_WRITE_MAX) {
            let mut requests = Vec::with_capacity(chunk.len());
            for key in chunk {
                let delete = built(DeleteRequest::builder().set_key(Some(key.clone())).build())?;
                requests.push(WriteRequest::builder().delete_request(delete).build());
            }
            self.batch_write(requests, stream_id).await?;
        }
        Ok(())
    }
}

impl DynamoStore {
    async fn apply_one(
        &self,
        change: &ItemChange,
        mode: ApplyMode,
    ) -> Result<ApplyOutcome, StoreError> {
        let condition = match mode {
            ApplyMode::Projection => "attribute_not_exists(#v) OR #v < :v",
            ApplyMode::Replay => "attribute_not_exists(#v) OR #v <= :v",
        };
        let mut put = self
            .client
            .put_item()
            .table_name(&self.tables.read_model)
            .item(STREAM_ID, s(change.stream_id.as_str()))
            .item(ITEM_ID, s(change.item_id.as_str()))
            .item(VERSION, n(change.version.get()))
            .condition_expression(condition)
            .expression_attribute_names("#v", VERSION)
            .expression_attribute_values(":v", n(change.version.get()));
        put = match change.state {
            ItemState::Live { amount } => put
                .item(AMOUNT, n(amount.get()))
                .item(DELETED, AttributeValue::Bool(false)),
            ItemState::Deleted => put.item(DELETED, AttributeValue::Bool(true)),
        };
        match put.send().await {
            Ok(_) => Ok(ApplyOutcome::Written),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(ApplyOutcome::Superseded)
            }
            Err(err) => Err(unavailable(
                format!(
                    "writing item `{}` of stream `{}` to {}",
                    change.item_id, change.stream_id, self.tables.read_model
                ),
                &err,
            )),
        }
    }

    /// All read-model rows of a stream, in sort-key order (optionally only
    /// the attributes of `projection`, written with #s and #i).
    async fn query_read_model(
        &self,
        stream_id: &StreamId,
        projection: Option<&str>,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let mut rows = Vec::new();
        let mut start_key = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.tables.read_model)
                // Read-your-writes: a replay or a test lists right after applying.
                .consistent_read(true)
                .key_condition_expression("#s = :s")
                .expression_attribute_names("#s", STREAM_ID)
                .expression_attribute_values(":s", s(stream_id.as_str()))
                .set_exclusive_start_key(start_key);
            if let Some(projection) = projection {
                query = query
                    .projection_expression(projection)
                    .expression_attribute_names("#i", ITEM_ID);
            }
            let output = query.send().await.map_err(|err| {
                unavailable(
                    format!(
                        "querying stream `{stream_id}` in {}",
                        self.tables.read_model
                    ),
                    &err,
                )
            })?;
            rows.extend(output.items.unwrap_or_default());
            start_key = output.last_evaluated_key;
            if start_key.is_none() {
                return Ok(rows);
            }
        }
    }

    /// One BatchWriteItem, resending what DynamoDB left unprocessed.
    async fn batch_write(
        &self,
        mut requests: Vec<WriteRequest>,
        stream_id: &StreamId,
    ) -> Result<(), StoreError> {
        let table = &self.tables.read_model;
        for attempt in 0..BATCH_WRITE_ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let output = self
                .client
                .batch_write_item()
                .request_items(table.clone(), requests)
                .send()
                .await
                .map_err(|err| {
                    unavailable(format!("clearing stream `{stream_id}` in {table}"), &err)
                })?;
            requests = output
                .unprocessed_items
                .and_then(|mut left| left.remove(table))
                .unwrap_or_default();
            if requests.is_empty() {
                return Ok(());
            }
        }
        Err(StoreError::Unavailable(format!(
            "clearing stream `{stream_id}` in {table}: {} deletes still unprocessed after {BATCH_WRITE_ATTEMPTS} attempts",
            requests.len()
        )))
    }
}

/// A row as the list shows it; `None` for a tombstone.
fn item_view(row: &HashMap<String, AttributeValue>) -> Result<Option<ItemView>, String> {
    let deleted = match row.get(DELETED) {
        None => false,
        Some(_) => boolean(row, DELETED)?,
    };
    if deleted {
        return Ok(None);
    }
    let item_id = ItemId::parse(string(row, ITEM_ID)?, ITEM_ID).map_err(|err| err.message)?;
    let raw: u64 = number(row, AMOUNT)?;
    let amount =
        domain::Amount::new(raw).ok_or_else(|| format!("`{AMOUNT}` {raw} is above the maximum"))?;
    Ok(Some(ItemView { item_id, amount }))
}

// ------------------------------------------------------------ checkpoints

#[async_trait]
impl Checkpoints for DynamoStore {
    async fn load(&self, name: &str) -> Result<Option<String>, StoreError> {
        let entry = checkpoint_entry(name);
        let output = self
            .client
            .get_item()
            .table_name(&self.tables.stream_index)
            .consistent_read(true)
            .key(STREAM_ID, s(CHECKPOINTS_STREAM))
            .key(ENTRY, s(&entry))
            .send()
            .await
            .map_err(|err| unavailable(format!("loading checkpoint `{name}`"), &err))?;
        match output.item() {
            None => Ok(None),
            Some(item) => string(item, POSITION)
                .map(|p| Some(p.to_owned()))
                .map_err(|problem| {
                    StoreError::Corrupt(format!(
                        "{} row ({CHECKPOINTS_STREAM}, {entry}): {problem}",
                        self.tables.stream_index
                    ))
                }),
        }
    }

    async fn save(&self, name: &str, position: &str) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.tables.stream_index)
            .item(STREAM_ID, s(CHECKPOINTS_STREAM))
            .item(ENTRY, s(&checkpoint_entry(name)))
            .item(POSITION, s(position))
            .send()
            .await
            .map_err(|err| unavailable(format!("saving checkpoint `{name}`"), &err))?;
        Ok(())
    }
}

fn checkpoint_entry(name: &str) -> String {
    format!("{CHECKPOINT_ENTRY_PREFIX}{name}")
}

// ------------------------------------------------------------ helpers

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: impl fmt::Display) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn string<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Result<&'a str, String> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Ok(value),
        Some(other) => Err(format!("`{name}` is not a string: {other:?}")),
        None => Err(format!("`{name}` is missing")),
    }
}

fn number<T: std::str::FromStr>(
    item: &HashMap<String, AttributeValue>,
    name: &str,
) -> Result<T, String> {
    match item.get(name) {
        Some(AttributeValue::N(value)) => value
            .parse()
            .map_err(|_| format!("`{name}` {value} is out of range")),
        Some(other) => Err(format!("`{name}` is not a number: {other:?}")),
        None => Err(format!("`{name}` is missing")),
    }
}

fn boolean(item: &HashMap<String, AttributeValue>, name: &str) -> Result<bool, String> {
    match item.get(name) {
        Some(AttributeValue::Bool(value)) => Ok(*value),
        Some(other) => Err(format!("`{name}` is not a boolean: {other:?}")),
        None => Err(format!("`{name}` is missing")),
    }
}

/// JSON as DynamoDB stores it: objects as M, arrays as L, numbers as N.
pub fn json_to_attribute(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(number) => AttributeValue::N(number.to_string()),
        Value::String(text) => AttributeValue::S(text.clone()),
        Value::Array(values) => AttributeValue::L(values.iter().map(json_to_attribute).collect()),
        Value::Object(map) => AttributeValue::M(
            map.iter()
                .map(|(k, v)| (k.clone(), json_to_attribute(v)))
                .collect(),
        ),
    }
}

/// The inverse of [`json_to_attribute`]; also reads string and number sets
/// as arrays. Binary values have no JSON form and are refused.
pub fn attribute_to_json(value: &AttributeValue) -> Result<Value, String> {
    let number = |text: &str| {
        text.parse::<Number>()
            .map(Value::Number)
            .map_err(|_| format!("{text:?} is not a JSON number"))
    };
    Ok(match value {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::N(text) => number(text)?,
        AttributeValue::S(text) => Value::String(text.clone()),
        AttributeValue::L(values) => Value::Array(
            values
                .iter()
                .map(attribute_to_json)
                .collect::<Result<_, _>>()?,
        ),
        AttributeValue::M(map) => {
            let mut object = Map::new();
            for (key, value) in map {
                object.insert(key.clone(), attribute_to_json(value)?);
            }
            Value::Object(object)
        }
        AttributeValue::Ss(values) => {
            Value::Array(values.iter().cloned().map(Value::String).collect())
        }
        AttributeValue::Ns(values) => {
            Value::Array(values.iter().map(|v| number(v)).collect::<Result<_, _>>()?)
        }
        other => return Err(format!("{other:?} has no JSON form")),
    })
}

fn built<T>(result: Result<T, BuildError>) -> Result<T, StoreError> {
    result.map_err(|err| StoreError::Unavailable(format!("building a DynamoDB request: {err}")))
}

fn unavailable(what: impl fmt::Display, err: &(impl std::error::Error + 'static)) -> StoreError {
    StoreError::Unavailable(format!("{what}: {}", DisplayErrorContext(err)))
}

/// The backoff cap of the first retry, doubled per attempt up to
/// `BACKOFF_MAX_MS`.
const BACKOFF_BASE_MS: u64 = 5;
const BACKOFF_MAX_MS: u64 = 250;

/// The longest sleep before retry `attempt` (1-based): 10, 20, 40 .. 250 ms.
fn backoff_cap_ms(attempt: u32) -> u64 {
    (BACKOFF_BASE_MS << attempt.min(8)).min(BACKOFF_MAX_MS)
}

/// Sleeps a random time under the attempt's cap ("full jitter"), so
/// contending writers spread out instead of colliding again.
async fn backoff(attempt: u32) {
    let cap_ms = backoff_cap_ms(attempt);
    let jitter = RandomState::new().hash_one(attempt) % cap_ms;
    tokio::time::sleep(Duration::from_millis(1 + jitter)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trips_through_attribute_values() {
        let value = json!({"itemId": "a", "amount": 9007199254740991u64, "n": null,
            "list": [1, "x", true, {"k": -2.5}]});
        assert_eq!(attribute_to_json(&json_to_attribute(&value)), Ok(value));
    }

    #[test]
    fn backoff_caps_double_up_to_the_maximum() {
        let caps: Vec<u64> = (1..=7).map(backoff_cap_ms).collect();
        assert_eq!(caps, [10, 20, 40, 80, 160, 250, 250]);
        assert_eq!(backoff_cap_ms(u32::MAX), BACKOFF_MAX_MS);
    }
}
