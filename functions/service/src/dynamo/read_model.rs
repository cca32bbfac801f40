//! The `ReadModel` port: one conditional PutItem per change (the newer
//! version wins), a consistent query to list, batched deletes to clear.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};
use domain::{
    ApplyMode, ApplyOutcome, EventId, ItemChange, ItemId, ItemPage, ItemState, ItemView, ListQuery,
    ReadModel, StoreError, StoredItem, StreamId,
};
use futures::StreamExt;

use super::DynamoStore;
use super::backoff::backoff;
use super::codec::{Item, boolean, n, number, s, string};
use super::errors::{built, unavailable};
use super::schema::{AMOUNT, DELETED, ITEM_ID, STREAM_ID, VERSION};

/// Concurrent read-model writes per `apply` call.
const APPLY_CONCURRENCY: usize = 16;
/// BatchWriteItem's limit.
const BATCH_WRITE_MAX: usize = 25;
/// Rounds of resending BatchWriteItem's unprocessed items.
const BATCH_WRITE_ATTEMPTS: u32 = 10;

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

    async fn list(&self, _query: &ListQuery) -> Result<ItemPage, StoreError> {
        unimplemented!("paged listing on DynamoDB")
    }

    async fn rows(
        &self,
        _stream_id: &StreamId,
        _after: Option<&ItemId>,
        _limit: usize,
    ) -> Result<Vec<StoredItem>, StoreError> {
        unimplemented!("rows on DynamoDB")
    }

    async fn remove(
        &self,
        _stream_id: &StreamId,
        _item_id: &ItemId,
        _version: EventId,
    ) -> Result<bool, StoreError> {
        unimplemented!("remove on DynamoDB")
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
    ) -> Result<Vec<Item>, StoreError> {
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
fn item_view(row: &Item) -> Result<Option<ItemView>, String> {
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
