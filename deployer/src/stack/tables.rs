//! The tables: how each is keyed (read from `service::dynamo::schema`,
//! which the adapter creates its tables from too), named for the
//! functions, and kept or deleted with the stack.

use service::dynamo::schema::{KeyKind, KeyRole, Table};

use super::DataOutput;
use crate::cfn::dynamodb::{self, AttributeType, BillingMode, KeyType, StreamViewType};
use crate::cfn::{Expr, Policy, Resource, ResourceId};

/// What the template makes of each [`Table`]: logical IDs, outputs, and
/// whether a table outlives the stack.
pub trait TableResources: Copy {
    fn logical_id(self) -> ResourceId<dynamodb::Table>;
    /// The output holding the table's name.
    fn output_id(self) -> &'static str;
    /// Whether the table outlives the stack (it holds data nothing can
    /// rebuild).
    fn is_retained(self) -> bool;
    /// The table's resource in the template.
    fn definition(self) -> Resource;
}

impl TableResources for Table {
    fn logical_id(self) -> ResourceId<dynamodb::Table> {
        ResourceId::new(match self {
            Table::Events => "EventsTable",
            Table::StreamIndex => "StreamIndexTable",
            Table::ReadModel => "ReadModelTable",
            Table::Replays => "ReplaysTable",
        })
    }

    fn output_id(self) -> &'static str {
        match self {
            Table::Events => "EventsTableName",
            Table::StreamIndex => "StreamIndexTableName",
            Table::ReadModel => "ReadModelTableName",
            Table::Replays => "ReplaysTableName",
        }
    }

    fn is_retained(self) -> bool {
        self.definition().deletion_policy == Some(Policy::Retain)
    }

    fn definition(self) -> Resource {
        let table = dynamodb::Table {
            table_name: None,
            attribute_definitions: self
                .key_attributes()
                .into_iter()
                .map(|(name, kind)| dynamodb::AttributeDefinition {
                    attribute_name: name.to_owned(),
                    attribute_type: attribute_type(kind),
                })
                .collect(),
            key_schema: key_schema(self.key_schema()),
            global_secondary_indexes: self
                .indexes()
                .iter()
                .map(|index| dynamodb::GlobalSecondaryIndex {
                    index_name: index.name.to_owned(),
                    key_schema: key_schema(index.key_schema()),
                    projection: dynamodb::Projection {
                        projection_type: dynamodb::ProjectionType::KeysOnly,
                    },
                })
                .collect(),
            billing_mode: BillingMode::PayPerRequest,
            stream_specification: self.has_stream().then_some(dynamodb::StreamSpecification {
                stream_view_type: StreamViewType::NewImage,
            }),
            time_to_live_specification: self.ttl_attribute().map(|attribute| {
                dynamodb::TimeToLiveSpecification {
                    attribute_name: attribute.to_owned(),
                    enabled: true,
                }
            }),
            // What nothing can rebuild can be restored to any second of the
            // last 35 days, and is not deleted by a stray call.
            point_in_time_recovery_specification: holds_the_data(self).then_some(
                dynamodb::PointInTimeRecoverySpecification {
                    point_in_time_recovery_enabled: true,
                },
            ),
            deletion_protection_enabled: holds_the_data(self).then_some(true),
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
            // Replay statuses matter for a week at most.
            Table::Replays => Resource::from(table).deleted(),
        }
    }
}

/// The log and its version index: the data nothing can rebuild, in the
/// data stack.
fn holds_the_data(table: Table) -> bool {
    super::in_data_stack(table)
}

/// The table's name as the app stack's resources use it: a data-stack
/// table's from the parameter the deployer passes, an app table's by `Ref`.
pub(crate) fn name_in_app(table: Table) -> Expr {
    match table {
        Table::Events => DataOutput::EventsTableName.in_app(),
        Table::StreamIndex => DataOutput::StreamIndexTableName.in_app(),
        Table::ReadModel | Table::Replays => table.logical_id().reference(),
    }
}

/// The table's ARN as the app stack's resources use it.
pub(crate) fn arn_in_app(table: Table) -> Expr {
    match table {
        Table::Events => DataOutput::EventsTableArn.in_app(),
        Table::StreamIndex => DataOutput::StreamIndexTableArn.in_app(),
        Table::ReadModel | Table::Replays => table.logical_id().arn(),
    }
}

/// The events table's stream ARN, as the app stack's resources use it.
pub(crate) fn events_stream_arn_in_app() -> Expr {
    DataOutput::EventsStreamArn.in_app()
}

fn key_schema(
    keys: impl Iterator<Item = ((&'static str, KeyKind), KeyRole)>,
) -> Vec<dynamodb::KeySchemaElement> {
    keys.map(|((name, _), role)| dynamodb::KeySchemaElement {
        attribute_name: name.to_owned(),
        key_type: match role {
            KeyRole::Hash => KeyType::Hash,
            KeyRole::Range => KeyType::Range,
        },
    })
    .collect()
}

/// The ARN of the replays table's index of held lanes, which the sweep
/// queries.
pub(crate) fn held_lanes_index_arn() -> Expr {
    Expr::join(
        "/",
        vec![
            arn_in_app(Table::Replays),
            "index".into(),
            service::dynamo::schema::HELD_LANES_INDEX.into(),
        ],
    )
}

fn attribute_type(kind: KeyKind) -> AttributeType {
    match kind {
        KeyKind::String => AttributeType::S,
        KeyKind::Number => AttributeType::N,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_events_stream_carries_what_the_projector_decodes() {
        assert_eq!(
            StreamViewType::NewImage.as_str(),
            service::dynamo::schema::EVENTS_STREAM_VIEW
        );
    }

    #[test]
    fn key_kinds_keep_their_dynamodb_names() {
        for kind in [KeyKind::String, KeyKind::Number] {
            let written = serde_json::to_value(attribute_type(kind)).unwrap();
            assert_eq!(written, kind.as_str());
        }
    }
}
