//! The table names and table setup: `TableNames` from the environment or a
//! prefix, and `ensure_tables`, which creates the tables and checks their keys.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    StreamSpecification, StreamViewType, TableStatus,
};
use domain::StoreError;

use super::errors::{built, unavailable};
use super::schema::{ENTRY, EVENT_ID, EVENTS_STREAM_VIEW, ITEM_ID, STREAM_ID};
use super::{EVENTS_TABLE_ENV, READ_MODEL_TABLE_ENV, STREAM_INDEX_TABLE_ENV};

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
