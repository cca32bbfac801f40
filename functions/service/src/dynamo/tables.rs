//! The table names and table setup: `TableNames` from the environment or a
//! prefix, and `ensure_tables`, which creates the tables as
//! [`schema::Table`](super::schema::Table) lays them out.

use std::convert::Infallible;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndex,
    GlobalSecondaryIndexUpdate, IndexStatus, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, StreamSpecification, StreamViewType, TableDescription, TableStatus,
    TimeToLiveSpecification, TimeToLiveStatus,
};
use domain::StoreError;

use super::errors::{built, unavailable};
use super::schema::{EVENTS_STREAM_VIEW, Index, KeyKind, KeyRole, Table};

/// How long `ensure_tables` waits for a table to become ACTIVE.
const TABLE_ACTIVE_TIMEOUT: Duration = Duration::from_secs(180);

/// A table-name variable that is unset or empty.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {0} is not set (it names a DynamoDB table)")]
pub struct MissingTableName(pub &'static str);

/// The names of the tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableNames {
    pub events: String,
    pub stream_index: String,
    pub read_model: String,
    pub replays: String,
}

impl TableNames {
    /// From `EVENTS_TABLE`, `STREAM_INDEX_TABLE`, `READ_MODEL_TABLE` and
    /// `REPLAYS_TABLE` ([`Table::env_var`]).
    pub fn from_env() -> Result<Self, MissingTableName> {
        Self::try_from_fn(|table| {
            let name = table.env_var();
            match std::env::var(name) {
                Ok(value) if !value.trim().is_empty() => Ok(value.trim().to_owned()),
                _ => Err(MissingTableName(name)),
            }
        })
    }

    /// `<prefix>-events`, `<prefix>-stream-index`, `<prefix>-read-model`,
    /// `<prefix>-replays` ([`Table::name_suffix`]).
    pub fn with_prefix(prefix: &str) -> Self {
        let Ok(names) = Self::try_from_fn(|table| {
            Ok::<_, Infallible>(format!("{prefix}-{}", table.name_suffix()))
        });
        names
    }

    /// The name of `table`.
    pub fn name(&self, table: Table) -> &str {
        match table {
            Table::Events => &self.events,
            Table::StreamIndex => &self.stream_index,
            Table::ReadModel => &self.read_model,
            Table::Replays => &self.replays,
        }
    }

    /// Names every table, in [`Table::ALL`] order (so the first failure is
    /// the first table's).
    fn try_from_fn<E>(mut name: impl FnMut(Table) -> Result<String, E>) -> Result<Self, E> {
        Ok(TableNames {
            events: name(Table::Events)?,
            stream_index: name(Table::StreamIndex)?,
            read_model: name(Table::ReadModel)?,
            replays: name(Table::Replays)?,
        })
    }
}

/// Creates the tables that do not exist (on-demand billing), waits until
/// all are ACTIVE, checks that existing ones have the expected keys, and
/// turns on TTL where the schema has one ([`Table::ttl_attribute`]).
pub async fn ensure_tables(client: &Client, tables: &TableNames) -> Result<(), StoreError> {
    for table in Table::ALL {
        create_table(client, table, tables.name(table)).await?;
    }
    for table in Table::ALL {
        wait_active_and_check(client, table, tables.name(table)).await?;
        if let Some(attribute) = table.ttl_attribute() {
            enable_ttl(client, tables.name(table), attribute).await?;
        }
    }
    Ok(())
}

/// Turns on TTL by `attribute` unless it already is (turning it on twice
/// is an error; only an ACTIVE table takes it). A table whose TTL reads
/// another attribute is refused, as one with other keys is: its
/// tombstones would never expire, and DynamoDB changes a TTL attribute only
/// after turning TTL off for an hour.
async fn enable_ttl(client: &Client, name: &str, attribute: &str) -> Result<(), StoreError> {
    let described = client
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .map_err(|err| unavailable(format!("reading the TTL of table {name}"), &err))?;
    let current = described.time_to_live_description();
    let on = |status: Option<&TimeToLiveStatus>| {
        matches!(
            status,
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
        )
    };
    if let Some(ttl) = current.filter(|ttl| on(ttl.time_to_live_status())) {
        return match ttl.attribute_name() {
            Some(current) if current == attribute => Ok(()),
            other => Err(StoreError::Unavailable(format!(
                "table {name} expires rows by attribute {other:?}; expected {attribute}: turn its TTL off or use other table names"
            ))),
        };
    }
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(built(
            TimeToLiveSpecification::builder()
                .attribute_name(attribute)
                .enabled(true)
                .build(),
        )?)
        .send()
        .await
        .map_err(|err| unavailable(format!("turning on TTL of table {name}"), &err))?;
    Ok(())
}

fn scalar_type(kind: KeyKind) -> ScalarAttributeType {
    match kind {
        KeyKind::String => ScalarAttributeType::S,
        KeyKind::Number => ScalarAttributeType::N,
    }
}

fn stream_view() -> StreamViewType {
    StreamViewType::from(EVENTS_STREAM_VIEW)
}

async fn create_table(client: &Client, table: Table, name: &str) -> Result<(), StoreError> {
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(attribute_definitions(table)?))
        .set_key_schema(Some(key_schema(table.key_schema())?));
    for index in table.indexes() {
        request = request.global_secondary_indexes(global_index(index)?);
    }
    if table.has_stream() {
        request = request.stream_specification(built(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(stream_view())
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
        Err(err) => Err(unavailable(format!("creating table {name}"), &err)),
    }
}

fn attribute_definitions(table: Table) -> Result<Vec<AttributeDefinition>, StoreError> {
    table
        .key_attributes()
        .into_iter()
        .map(|(attribute, kind)| {
            built(
                AttributeDefinition::builder()
                    .attribute_name(attribute)
                    .attribute_type(scalar_type(kind))
                    .build(),
            )
        })
        .collect()
}

fn key_schema(
    keys: impl Iterator<Item = ((&'static str, KeyKind), KeyRole)>,
) -> Result<Vec<KeySchemaElement>, StoreError> {
    keys.map(|((attribute, _), role)| {
        built(
            KeySchemaElement::builder()
                .attribute_name(attribute)
                .key_type(KeyType::from(role.as_str()))
                .build(),
        )
    })
    .collect()
}

fn global_index(index: &Index) -> Result<GlobalSecondaryIndex, StoreError> {
    built(
        GlobalSecondaryIndex::builder()
            .index_name(index.name)
            .set_key_schema(Some(key_schema(index.key_schema())?))
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::KeysOnly)
                    .build(),
            )
            .build(),
    )
}

/// Adds the indexes an existing table lacks (tables made by an earlier
/// version); DynamoDB builds one at a time, and the table stays usable.
async fn add_missing_indexes(
    client: &Client,
    table: Table,
    name: &str,
    described: &TableDescription,
) -> Result<bool, StoreError> {
    let present: Vec<&str> = described
        .global_secondary_indexes()
        .iter()
        .filter_map(|index| index.index_name())
        .collect();
    let Some(missing) = table
        .indexes()
        .iter()
        .find(|index| !present.contains(&index.name))
    else {
        return Ok(false);
    };
    let create = built(
        CreateGlobalSecondaryIndexAction::builder()
            .index_name(missing.name)
            .set_key_schema(Some(key_schema(missing.key_schema())?))
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::KeysOnly)
                    .build(),
            )
            .build(),
    )?;
    client
        .update_table()
        .table_name(name)
        .set_attribute_definitions(Some(attribute_definitions(table)?))
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder().create(create).build(),
        )
        .send()
        .await
        .map_err(|err| {
            unavailable(
                format!("adding index {} to table {name}", missing.name),
                &err,
            )
        })?;
    Ok(true)
}

async fn wait_active_and_check(
    client: &Client,
    table: Table,
    name: &str,
) -> Result<(), StoreError> {
    let deadline = tokio::time::Instant::now() + TABLE_ACTIVE_TIMEOUT;
    loop {
        match client.describe_table().table_name(name).send().await {
            Ok(output) => {
                if let Some(described) = output.table()
                    && described.table_status() == Some(&TableStatus::Active)
                    && indexes_active(described)
                {
                    check_table(table, name, described)?;
                    if !add_missing_indexes(client, table, name, described).await? {
                        return Ok(());
                    }
                }
            }
            // Creation may not be visible yet: keep waiting.
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) => {}
            Err(err) => return Err(unavailable(format!("describing table {name}"), &err)),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(StoreError::Unavailable(format!(
                "table {name} is not ACTIVE after {TABLE_ACTIVE_TIMEOUT:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn indexes_active(described: &TableDescription) -> bool {
    described
        .global_secondary_indexes()
        .iter()
        .all(|index| index.index_status() == Some(&IndexStatus::Active))
}

/// An existing table with other keys would fail every request obscurely.
fn check_table(table: Table, name: &str, described: &TableDescription) -> Result<(), StoreError> {
    let key_of = |key_type: KeyType| {
        described
            .key_schema()
            .iter()
            .find(|k| k.key_type() == &key_type)
            .map(|k| k.attribute_name().to_owned())
    };
    let keys = (key_of(KeyType::Hash), key_of(KeyType::Range));
    let (hash, range) = (
        table.hash_key().0,
        table.range_key().map(|(range, _)| range),
    );
    if keys != (Some(hash.to_owned()), range.map(str::to_owned)) {
        return Err(StoreError::Unavailable(format!(
            "table {name} exists with keys {keys:?}; expected ({hash}, {range:?}): delete it or use other table names"
        )));
    }
    if table.has_stream() {
        let stream = described.stream_specification();
        let ok = stream
            .is_some_and(|s| s.stream_enabled() && s.stream_view_type() == Some(&stream_view()));
        if !ok {
            return Err(StoreError::Unavailable(format!(
                "table {name} exists without a {EVENTS_STREAM_VIEW} stream, which the projector needs"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Naming and the SDK mapping of the schema, without a server.

    use super::*;

    #[test]
    fn prefixed_names_follow_the_schema_suffixes() {
        let names = TableNames::with_prefix("p");
        assert_eq!(names.events, "p-events");
        assert_eq!(names.stream_index, "p-stream-index");
        assert_eq!(names.read_model, "p-read-model");
        assert_eq!(names.replays, "p-replays");
        for table in Table::ALL {
            assert_eq!(names.name(table), format!("p-{}", table.name_suffix()));
        }
    }

    #[test]
    fn the_schema_maps_onto_the_sdk_types() {
        assert_eq!(stream_view(), StreamViewType::NewImage);
        assert_eq!(KeyType::from(KeyRole::Hash.as_str()), KeyType::Hash);
        assert_eq!(KeyType::from(KeyRole::Range.as_str()), KeyType::Range);
        assert_eq!(
            scalar_type(KeyKind::String).as_str(),
            KeyKind::String.as_str()
        );
        assert_eq!(
            scalar_type(KeyKind::Number).as_str(),
            KeyKind::Number.as_str()
        );
    }
}
