//! The tables: the event store's in the data stack and retained, the
//! app's in the app stack, each keyed as the storage adapter expects.

use std::collections::BTreeMap;

use deployer::Format;
use deployer::cfn::dynamodb::{AttributeType, BillingMode, KeyType, StreamViewType};
use deployer::cfn::{Policy, Properties, Resource, Template};
use deployer::stack::{Function, Table, data_stack, in_data_stack};
use deployer::stack::{FunctionResources, TableResources};
use service::dynamo::schema;

use super::default_stack;

/// `table`'s resource: in the data stack for the event store's tables,
/// in the app stack for the others (and in no other stack).
fn table_resource<'a>(app: &'a Template, data: &'a Template, table: Table) -> &'a Resource {
    let id = table.logical_id();
    let (home, other) = if in_data_stack(table) {
        (data, app)
    } else {
        (app, data)
    };
    assert!(!other.resources.contains_key(id.id()), "{table:?} in both");
    &home.resources[id.id()]
}

#[test]
fn the_event_store_is_retained_and_nothing_stateful_is_left_to_defaults() {
    let template = default_stack();
    let data = data_stack();
    for table in Table::ALL {
        let resource = table_resource(&template, &data, table);
        // The read model is rebuilt by a replay; the log and its version
        // index are the data.
        let expected = match table {
            Table::Events | Table::StreamIndex => Policy::Retain,
            Table::ReadModel | Table::Replays => Policy::Delete,
        };
        assert_eq!(resource.deletion_policy, Some(expected), "{table:?}");
        assert_eq!(resource.update_replace_policy, Some(expected), "{table:?}");
        // What is kept is also protected: restorable to any second of the
        // last 35 days, and refusing a stray DeleteTable.
        let Properties::DynamoDbTable(definition) = &resource.properties else {
            panic!("{table:?} is not a table");
        };
        let kept = expected == Policy::Retain;
        let pitr = definition
            .point_in_time_recovery_specification
            .as_ref()
            .map(|spec| spec.point_in_time_recovery_enabled);
        assert_eq!(pitr, kept.then_some(true), "{table:?}");
        assert_eq!(
            definition.deletion_protection_enabled,
            kept.then_some(true),
            "{table:?}"
        );
    }
    for function in Function::ALL {
        let group = &template.resources[function.log_group_id().id()];
        assert_eq!(group.deletion_policy, Some(Policy::Delete));
    }
    let yaml = deployer::render(&data, Format::Yaml).expect("renders");
    assert!(yaml.contains(
        "  EventsTable:\n    Type: AWS::DynamoDB::Table\n    DeletionPolicy: Retain\n    UpdateReplacePolicy: Retain\n"
    ));
}

#[test]
fn the_tables_have_the_adapters_key_schema() {
    // Read from `service::dynamo::schema`, the layout `ensure_tables`
    // creates; the deploy test checks deployed tables with the adapter itself.
    let key_type = |kind: schema::KeyKind| match kind {
        schema::KeyKind::String => AttributeType::S,
        schema::KeyKind::Number => AttributeType::N,
    };
    let expected = Table::ALL.map(|table| {
        let (hash, hash_kind) = table.hash_key();
        assert_eq!(hash_kind, schema::KeyKind::String, "{table:?}");
        let range = table
            .range_key()
            .map(|(range, kind)| (range, key_type(kind)));
        (table, (hash, range), table.has_stream())
    });
    assert_eq!(
        expected.iter().filter(|(_, _, stream)| *stream).count(),
        1,
        "only the event store streams"
    );
    let template = default_stack();
    let data = data_stack();
    for (table, (hash, range), stream) in expected {
        let Properties::DynamoDbTable(definition) =
            &table_resource(&template, &data, table).properties
        else {
            panic!("{table:?} is not a table");
        };
        let keys: Vec<(&str, KeyType)> = definition
            .key_schema
            .iter()
            .map(|k| (k.attribute_name.as_str(), k.key_type))
            .collect();
        let expected_keys: Vec<(&str, KeyType)> = std::iter::once((hash, KeyType::Hash))
            .chain(range.map(|(range, _)| (range, KeyType::Range)))
            .collect();
        assert_eq!(keys, expected_keys, "{table:?}");
        let attributes: BTreeMap<&str, AttributeType> = definition
            .attribute_definitions
            .iter()
            .map(|a| (a.attribute_name.as_str(), a.attribute_type))
            .collect();
        // The index keys are string attributes too.
        let index_keys = table.indexes().iter().flat_map(|index| {
            index
                .key_schema()
                .map(|((name, kind), _)| (name, key_type(kind)))
        });
        let expected_attributes: BTreeMap<&str, AttributeType> =
            std::iter::once((hash, AttributeType::S))
                .chain(range)
                .chain(index_keys)
                .collect();
        assert_eq!(attributes, expected_attributes, "{table:?}");
        let indexes: Vec<(&str, Vec<(&str, KeyType)>)> = definition
            .global_secondary_indexes
            .iter()
            .map(|index| {
                let keys = index
                    .key_schema
                    .iter()
                    .map(|k| (k.attribute_name.as_str(), k.key_type))
                    .collect();
                (index.index_name.as_str(), keys)
            })
            .collect();
        let expected_indexes: Vec<(&str, Vec<(&str, KeyType)>)> = table
            .indexes()
            .iter()
            .map(|index| {
                let keys = index
                    .key_schema()
                    .map(|((name, _), role)| match role {
                        schema::KeyRole::Hash => (name, KeyType::Hash),
                        schema::KeyRole::Range => (name, KeyType::Range),
                    })
                    .collect();
                (index.name, keys)
            })
            .collect();
        assert_eq!(indexes, expected_indexes, "{table:?}");
        assert_eq!(definition.billing_mode, BillingMode::PayPerRequest);
        let view = definition
            .stream_specification
            .as_ref()
            .map(|s| s.stream_view_type);
        assert_eq!(
            view,
            stream.then_some(StreamViewType::NewImage),
            "{table:?}"
        );
        // Tombstones expire by the attribute the adapter writes.
        let ttl = definition
            .time_to_live_specification
            .as_ref()
            .filter(|ttl| ttl.enabled)
            .map(|ttl| ttl.attribute_name.as_str());
        assert_eq!(ttl, table.ttl_attribute(), "{table:?}");
    }
    assert_eq!(
        Table::ReadModel.ttl_attribute(),
        Some(schema::EXPIRES_AT),
        "the read model's tombstones expire"
    );
    assert_eq!(
        Table::Replays.ttl_attribute(),
        Some(schema::EXPIRES_AT),
        "replay statuses expire"
    );
    assert_eq!(
        Table::StreamIndex.ttl_attribute(),
        Some(schema::EXPIRES_AT),
        "idempotency keys expire"
    );
    assert_eq!(Table::Events.ttl_attribute(), None, "events never expire");
    assert_eq!(
        StreamViewType::NewImage.as_str(),
        schema::EVENTS_STREAM_VIEW
    );
}
