//! Attribute values: building them, reading typed attributes out of an
//! item, JSON in DynamoDB's form, and the events table's item layout.

use std::collections::HashMap;
use std::fmt;

use aws_sdk_dynamodb::types::AttributeValue;
use domain::event::{format_timestamp, parse_timestamp};
use domain::{
    DomainEvent, EventId, EventMetadata, IdempotencyKey, ItemId, RecordedEvent, StoreError,
    StreamId,
};
use serde_json::{Map, Number, Value};

use super::schema::{
    DATA, ENTRY, EVENT_ID, EVENT_TYPE, IDEMPOTENCY_KEY_ENTRY, IDEMPOTENCY_KEY_PARTITION_PREFIX,
    ITEM_ENTRY_PREFIX, METADATA, RECORDED_AT, STREAM_ID,
};

/// An item as the SDK hands it over.
pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

pub(super) fn n(value: impl fmt::Display) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The key of a stream-index row: `entry` (HEAD, an item, a checkpoint)
/// of `stream`. Puts add the row's other attributes to it.
pub(super) fn index_key(stream: &str, entry: &str) -> Item {
    HashMap::from([
        (STREAM_ID.to_owned(), s(stream)),
        (ENTRY.to_owned(), s(entry)),
    ])
}

/// The key of `key`'s row in the stream index: a partition of its own.
pub(super) fn key_row_key(key: &IdempotencyKey) -> Item {
    index_key(
        &format!("{IDEMPOTENCY_KEY_PARTITION_PREFIX}{key}"),
        IDEMPOTENCY_KEY_ENTRY,
    )
}

/// The entry of `item_id`'s row in its stream's part of the stream index.
pub(super) fn item_entry(item_id: &ItemId) -> String {
    format!("{ITEM_ENTRY_PREFIX}{item_id}")
}

/// The attribute `name` as `read` takes it, or why not: missing, or not a
/// `what`.
fn typed<'a, T>(
    item: &'a Item,
    name: &str,
    what: &str,
    read: impl FnOnce(&'a AttributeValue) -> Option<T>,
) -> Result<T, String> {
    match item.get(name) {
        None => Err(format!("`{name}` is missing")),
        Some(value) => read(value).ok_or_else(|| format!("`{name}` is not a {what}: {value:?}")),
    }
}

pub(super) fn string<'a>(item: &'a Item, name: &str) -> Result<&'a str, String> {
    typed(item, name, "string", |v| v.as_s().ok().map(String::as_str))
}

pub(super) fn number<T: std::str::FromStr>(item: &Item, name: &str) -> Result<T, String> {
    let value = typed(item, name, "number", |v| v.as_n().ok())?;
    value
        .parse()
        .map_err(|_| format!("`{name}` {value} is out of range"))
}

pub(super) fn boolean(item: &Item, name: &str) -> Result<bool, String> {
    typed(item, name, "boolean", |v| v.as_bool().ok().copied())
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

/// An event as the events table stores it.
pub(super) fn event_to_item(recorded: &RecordedEvent) -> Item {
    let mut item = HashMap::from([
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
    ]);
    if !recorded.metadata.is_empty() {
        item.insert(
            METADATA.to_owned(),
            json_to_attribute(&recorded.metadata.to_json()),
        );
    }
    item
}

/// Decodes an events-table item (from a query or a stream image) with the
/// same strict rules as a request; anything off is `Corrupt`, naming the key.
pub fn event_from_item(item: &Item) -> Result<RecordedEvent, StoreError> {
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
        let metadata = match item.get(METADATA) {
            None => EventMetadata::default(),
            Some(value @ AttributeValue::M(_)) => {
                EventMetadata::from_json(&attribute_to_json(value)?, METADATA)
                    .map_err(|err| err.to_string())?
            }
            Some(_) => return Err(format!("`{METADATA}` is not a map")),
        };
        Ok(RecordedEvent {
            stream_id,
            event_id,
            recorded_at,
            event,
            metadata,
        })
    };
    decode().map_err(|problem| StoreError::Corrupt(format!("event {}: {problem}", EventKey(item))))
}

/// Shows an event item's key as far as it is readable.
struct EventKey<'a>(&'a Item);

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

#[cfg(test)]
mod tests {
    //! Attribute encoding without a server.

    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trips_through_attribute_values() {
        let value = json!({"itemId": "a", "amount": 9007199254740991u64, "n": null,
            "list": [1, "x", true, {"k": -2.5}]});
        assert_eq!(attribute_to_json(&json_to_attribute(&value)), Ok(value));
    }

    #[test]
    fn typed_reads_say_what_is_wrong() {
        let item = Item::from([
            ("s".to_owned(), s("text")),
            ("n".to_owned(), n(-3)),
            ("b".to_owned(), AttributeValue::Bool(true)),
        ]);
        assert_eq!(string(&item, "s"), Ok("text"));
        assert_eq!(number::<i64>(&item, "n"), Ok(-3));
        assert_eq!(boolean(&item, "b"), Ok(true));
        assert_eq!(string(&item, "x"), Err("`x` is missing".to_owned()));
        assert_eq!(
            number::<u64>(&item, "n"),
            Err("`n` -3 is out of range".to_owned())
        );
        assert_eq!(
            boolean(&item, "s"),
            Err(r#"`s` is not a boolean: S("text")"#.to_owned())
        );
        assert_eq!(
            number::<i64>(&item, "b"),
            Err("`b` is not a number: Bool(true)".to_owned())
        );
        assert_eq!(
            string(&item, "n"),
            Err(r#"`n` is not a string: N("-3")"#.to_owned())
        );
    }
}
