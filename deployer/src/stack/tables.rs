//! The three tables: how each is keyed, named for the functions, and
//! kept or deleted with the stack.

use service::dynamo::schema::{ENTRY, EVENT_ID, ITEM_ID, STREAM_ID};
use service::dynamo::{EVENTS_TABLE_ENV, READ_MODEL_TABLE_ENV, STREAM_INDEX_TABLE_ENV};

use crate::cfn::dynamodb::{self, AttributeType, BillingMode, KeyType, StreamViewType};
use crate::cfn::{Resource, ResourceId};

/// The three tables: logical IDs, the environment variable that names
/// each for the functions, and their keys as `service::dynamo` creates them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    Events,
    StreamIndex,
    ReadModel,
}

impl Table {
    pub const ALL: [Table; 3] = [Table::Events, Table::StreamIndex, Table::ReadModel];

    pub fn logical_id(self) -> ResourceId<dynamodb::Table> {
        ResourceId::new(match self {
            Table::Events => "EventsTable",
            Table::StreamIndex => "StreamIndexTable",
            Table::ReadModel => "ReadModelTable",
        })
    }

    pub fn env_var(self) -> &'static str {
        match self {
            Table::Events => EVENTS_TABLE_ENV,
            Table::StreamIndex => STREAM_INDEX_TABLE_ENV,
            Table::ReadModel => READ_MODEL_TABLE_ENV,
        }
    }

    /// (hash key, S) and (range key, its type): `service::dynamo::ensure_tables`'s layout.
    fn range_key(self) -> (&'static str, AttributeType) {
        match self {
            Table::Events => (EVENT_ID, AttributeType::N),
            Table::StreamIndex => (ENTRY, AttributeType::S),
            Table::ReadModel => (ITEM_ID, AttributeType::S),
        }
    }

    pub(super) fn output_id(self) -> &'static str {
        match self {
            Table::Events => "EventsTableName",
            Table::StreamIndex => "StreamIndexTableName",
            Table::ReadModel => "ReadModelTableName",
        }
    }

    /// Whether the table outlives the stack (it holds data nothing can
    /// rebuild).
    pub fn is_retained(self) -> bool {
        self.definition().deletion_policy == Some(crate::cfn::Policy::Retain)
    }

    pub(super) fn definition(self) -> Resource {
        let (range, range_type) = self.range_key();
        let table = dynamodb::Table {
            table_name: None,
            attribute_definitions: vec![
                dynamodb::AttributeDefinition {
                    attribute_name: STREAM_ID.to_owned(),
                    attribute_type: AttributeType::S,
                },
                dynamodb::AttributeDefinition {
                    attribute_name: range.to_owned(),
                    attribute_type: range_type,
                },
            ],
            key_schema: vec![
                dynamodb::KeySchemaElement {
                    attribute_name: STREAM_ID.to_owned(),
                    key_type: KeyType::Hash,
                },
                dynamodb::KeySchemaElement {
                    attribute_name: range.to_owned(),
                    key_type: KeyType::Range,
                },
            ],
            billing_mode: BillingMode::PayPerRequest,
            stream_specification: (self == Table::Events).then_some(
                dynamodb::StreamSpecification {
                    stream_view_type: StreamViewType::NewImage,
                },
            ),
        };
        match self {
            // The log is the only copy of the data: removing the stack or
            // replacing the table must never delete it.
            Table::Events => Resource::from(table).retained(),
            // The log's version index: nothing rebuilds it, and a kept log
            // without it could not be appended to (every eventId would
            // look taken), so it is kept with the log.
            Table::StreamIndex => Resource::from(table).retained(),
            // A replay rebuilds it from the log.
            Table::ReadModel => Resource::from(table).deleted(),
        }
    }
}
