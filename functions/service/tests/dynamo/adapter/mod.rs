//! The DynamoDB adapter against moto: table setup, the stored layout, and
//! decoding of bad items. The port semantics are in `conformance.rs`.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeyType, PutRequest, StreamViewType, TableDescription, WriteRequest,
};
use chrono::{TimeZone, Utc};
use domain::{
    Amount, AppendCommand, AppendError, ApplyMode, Checkpoints, DomainEvent, EventId, EventStore,
    ItemChange, ItemId, ItemState, ItemView, ListQuery, PageSize, ReadModel, StoreError, StreamId,
    coalesce,
};
use service::dynamo::schema::{self, Table};
use service::dynamo::{DynamoStore, TableNames, ensure_tables, event_from_item};

use crate::common::{client, fresh_store, fresh_tables};
use futures::StreamExt;
use testkit::aws_calls::{RequestLog, counted_dynamodb};
use testkit::unique_name;

mod paging;
mod rows;
mod tables;

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn item(id: &str) -> ItemId {
    ItemId::parse(id, "itemId").expect("an item id")
}

fn n(value: &str) -> AttributeValue {
    AttributeValue::N(value.to_owned())
}

async fn describe(client: &Client, name: &str) -> TableDescription {
    client
        .describe_table()
        .table_name(name)
        .send()
        .await
        .expect("describe table")
        .table
        .expect("a description")
}

/// The (attribute, key type) pairs of a table's key schema, in order.
fn keys(table: &TableDescription) -> Vec<(String, KeyType)> {
    table
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name().to_owned(), k.key_type().clone()))
        .collect()
}

/// The row of `table` under `stream` and range key value `range`, as stored.
async fn stored_row(
    store: &DynamoStore,
    table: Table,
    stream: &str,
    range: AttributeValue,
) -> Option<HashMap<String, AttributeValue>> {
    let key = HashMap::from([
        (schema::STREAM_ID.to_owned(), s(stream)),
        (
            table
                .range_key()
                .expect("a table with a range key")
                .0
                .to_owned(),
            range,
        ),
    ]);
    store
        .client()
        .get_item()
        .table_name(store.tables().name(table))
        .set_key(Some(key))
        .send()
        .await
        .expect("get_item")
        .item
}
