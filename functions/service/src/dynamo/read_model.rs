//! The `ReadModel` port: one conditional PutItem per change (the newer
//! version wins; tombstones carry their TTL expiry), consistent queries in
//! item order for pages and rows, a version-guarded DeleteItem to remove.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use domain::{
    ApplyMode, ApplyOutcome, EventId, ItemChange, ItemId, ItemPage, ItemState, ItemView, ListQuery,
    ReadModel, StoreError, StoredItem, StreamId,
};
use futures::StreamExt;

use super::DynamoStore;
use super::codec::{Item, boolean, n, number, s, string};
use super::errors::unavailable;
use super::schema::{AMOUNT, DELETED, EXPIRES_AT, ITEM_ID, STREAM_ID, VERSION};

/// Concurrent read-model writes per `apply` call.
const APPLY_CONCURRENCY: usize = 16;
/// The most rows one listing Query reads once tombstones thinned a page
/// out: a full page and its lookahead (a Query also stops at 1 MB).
const MAX_QUERY_ROWS: usize = domain::limits::MAX_PAGE_ITEMS + 1;

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

    async fn list(&self, query: &ListQuery) -> Result<ItemPage, StoreError> {
        let limit = query.limit.get();
        let mut items = Vec::with_capacity(limit);
        let mut start_key = query
            .after
            .as_ref()
            .map(|after| read_model_key(&query.stream_id, after));
        let mut asked = 0;
        loop {
            // DynamoDB applies Limit before the filter, and bills the rows
            // it reads, returned or not. The first Query asks for what the
            // page needs plus one (which says whether more follow): without
            // tombstones in the way, one request that reads no row in vain.
            // A page the tombstones thinned out doubles the next ask, so a
            // run of N tombstones costs log2(N) requests rather than N/limit
            // (a 7-item page behind 300 tombstones: 6, not 38), while the
            // rows read past the page are about as many as the tombstones
            // crossed at most. Tombstones older than their retention are
            // gone by TTL, so only recent deletions are crossed at all.
            let missing = limit + 1 - items.len();
            asked = missing.max(asked * 2).min(MAX_QUERY_ROWS.max(missing));
            let output = self
                .query_rows(&query.stream_id, start_key, asked, true)
                .await?;
            for row in output.items() {
                if let Some(view) = item_view(row)
                    .map_err(|problem| self.corrupt_row(&query.stream_id, row, problem))?
                {
                    items.push(view);
                }
            }
            start_key = output.last_evaluated_key;
            if items.len() > limit {
                items.truncate(limit);
                return Ok(ItemPage { items, more: true });
            }
            if start_key.is_none() {
                return Ok(ItemPage { items, more: false });
            }
        }
    }

    async fn rows(
        &self,
        stream_id: &StreamId,
        after: Option<&ItemId>,
        limit: usize,
    ) -> Result<Vec<StoredItem>, StoreError> {
        let mut rows = Vec::with_capacity(limit);
        let mut start_key = after.map(|after| read_model_key(stream_id, after));
        while rows.len() < limit {
            let output = self
                .query_rows(stream_id, start_key, limit - rows.len(), false)
                .await?;
            for row in output.items() {
                rows.push(
                    stored_item(row)
                        .map_err(|problem| self.corrupt_row(stream_id, row, problem))?,
                );
            }
            start_key = output.last_evaluated_key;
            if start_key.is_none() {
                break;
            }
        }
        Ok(rows)
    }

    async fn remove(
        &self,
        stream_id: &StreamId,
        item_id: &ItemId,
        version: EventId,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.tables.read_model)
            .set_key(Some(read_model_key(stream_id, item_id)))
            .condition_expression("#v = :v")
            .expression_attribute_names("#v", VERSION)
            .expression_attribute_values(":v", n(version.get()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(err) => Err(unavailable(
                format!(
                    "removing item `{item_id}` of stream `{stream_id}` from {}",
                    self.tables.read_model
                ),
                &err,
            )),
        }
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
        // DynamoDB's TTL deletes a tombstone some time after this.
        if let Some(expires_at) = change.tombstone_expires_at() {
            put = put.item(EXPIRES_AT, n(expires_at.timestamp()));
        }
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

    /// One Query of a stream's rows after `start_key`, evaluating at most
    /// `limit` rows; with `live_only`, tombstones are filtered out (they
    /// still count towards `limit`).
    async fn query_rows(
        &self,
        stream_id: &StreamId,
        start_key: Option<Item>,
        limit: usize,
        live_only: bool,
    ) -> Result<aws_sdk_dynamodb::operation::query::QueryOutput, StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.tables.read_model)
            // Read-your-writes: a replay or a test lists right after applying.
            .consistent_read(true)
            .key_condition_expression("#s = :s")
            .expression_attribute_names("#s", STREAM_ID)
            .expression_attribute_values(":s", s(stream_id.as_str()))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start_key);
        if live_only {
            query = query
                // Only tombstones are skipped: a row whose flag is missing
                // (live, as `item_view` reads it) or not a boolean (corrupt,
                // which `item_view` reports) is returned.
                .filter_expression("NOT (#d = :deleted)")
                .expression_attribute_names("#d", DELETED)
                .expression_attribute_values(":deleted", AttributeValue::Bool(true));
        } else {
            // What `stored_item` reads; not the stream key nor the expiry.
            query = query
                .projection_expression("#i, #v, #d, #a")
                .expression_attribute_names("#i", ITEM_ID)
                .expression_attribute_names("#v", VERSION)
                .expression_attribute_names("#d", DELETED)
                .expression_attribute_names("#a", AMOUNT);
        }
        query.send().await.map_err(|err| {
            unavailable(
                format!(
                    "querying stream `{stream_id}` in {}",
                    self.tables.read_model
                ),
                &err,
            )
        })
    }

    fn corrupt_row(&self, stream_id: &StreamId, row: &Item, problem: String) -> StoreError {
        StoreError::Corrupt(format!(
            "{} row of stream `{stream_id}` ({ITEM_ID} {}): {problem}",
            self.tables.read_model,
            row.get(ITEM_ID)
                .and_then(|v| v.as_s().ok())
                .map_or("<missing>".to_owned(), |id| format!("{id:?}")),
        ))
    }
}

/// The key of an item's row.
fn read_model_key(stream_id: &StreamId, item_id: &ItemId) -> Item {
    Item::from([
        (STREAM_ID.to_owned(), s(stream_id.as_str())),
        (ITEM_ID.to_owned(), s(item_id.as_str())),
    ])
}

/// A row as stored, tombstones included.
fn stored_item(row: &Item) -> Result<StoredItem, String> {
    let item_id = ItemId::parse(string(row, ITEM_ID)?, ITEM_ID).map_err(|err| err.message)?;
    let version = EventId::new(number(row, VERSION)?);
    let state = match item_view(row)? {
        Some(view) => ItemState::Live {
            amount: view.amount,
        },
        None => ItemState::Deleted,
    };
    Ok(StoredItem {
        item_id,
        version,
        state,
    })
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
