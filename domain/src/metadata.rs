//! What a client says about an event besides its data: `correlationId`,
//! `causationId` and any other string-valued keys. Stored with the event,
//! read back with it, part of its request's fingerprint, and never read by
//! the rules or the projection.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::{ErrorCode, Invalid};
use crate::ids::checked_id;
use crate::limits::{MAX_METADATA_BYTES, MAX_METADATA_KEY_CHARS, MAX_METADATA_KEYS};

/// The keys held to the id rules, so they can key a lookup elsewhere.
pub const ID_KEYS: [&str; 2] = ["correlationId", "causationId"];

/// An event's metadata: string values by key, in key order (so its
/// encoding, and a request's fingerprint, does not depend on the order a
/// client wrote them in). Empty when the client sent none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct EventMetadata(BTreeMap<String, String>);

impl EventMetadata {
    /// Reads the `metadata` object of a request (or of a stored event);
    /// `field` is its JSON path, which every error names with the key.
    pub fn from_json(value: &Value, field: &str) -> Result<Self, Invalid> {
        let Value::Object(object) = value else {
            return Err(Invalid::field(
                ErrorCode::WrongType,
                field,
                format!("`{field}` must be an object of string values"),
            ));
        };
        Self::from_object(object, field)
    }

    fn from_object(object: &Map<String, Value>, field: &str) -> Result<Self, Invalid> {
        if object.len() > MAX_METADATA_KEYS {
            return Err(Invalid::field(
                ErrorCode::InvalidValue,
                field,
                format!(
                    "`{field}` has {} keys; at most {MAX_METADATA_KEYS} are allowed",
                    object.len()
                ),
            ));
        }
        let mut entries = BTreeMap::new();
        for (key, value) in object {
            let path = format!("{field}.{key}");
            let chars = key.chars().count();
            if chars == 0 || chars > MAX_METADATA_KEY_CHARS || key.chars().any(char::is_control) {
                return Err(Invalid::field(
                    ErrorCode::InvalidValue,
                    &path,
                    format!(
                        "a `{field}` key must be 1 to {MAX_METADATA_KEY_CHARS} characters with no control character"
                    ),
                ));
            }
            let Value::String(text) = value else {
                return Err(Invalid::field(
                    ErrorCode::WrongType,
                    &path,
                    format!("`{path}` must be a string"),
                ));
            };
            if ID_KEYS.contains(&key.as_str()) {
                checked_id(text, &path)?;
            }
            entries.insert(key.clone(), text.clone());
        }
        let metadata = EventMetadata(entries);
        let bytes = metadata.to_json().to_string().len();
        if bytes > MAX_METADATA_BYTES {
            return Err(Invalid::field(
                ErrorCode::InvalidValue,
                field,
                format!(
                    "`{field}` is {bytes} bytes as JSON; at most {MAX_METADATA_BYTES} are allowed"
                ),
            ));
        }
        Ok(metadata)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// `correlationId`, which the logs carry with the request.
    pub fn correlation_id(&self) -> Option<&str> {
        self.get("correlationId")
    }

    /// The entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The object as the API returns it and the stores keep it.
    pub fn to_json(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        )
    }

    /// Its size as a page counts it: its compact JSON.
    pub fn encoded_len(&self) -> usize {
        if self.is_empty() {
            0
        } else {
            self.to_json().to_string().len()
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read(value: Value) -> Result<EventMetadata, Invalid> {
        EventMetadata::from_json(&value, "metadata")
    }

    #[test]
    fn keys_come_back_in_order_whatever_order_they_were_written_in() {
        let a = read(json!({"b": "2", "correlationId": "c-1", "a": "1"})).unwrap();
        let b = read(json!({"a": "1", "b": "2", "correlationId": "c-1"})).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.correlation_id(), Some("c-1"));
        assert_eq!(
            a.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            ["a", "b", "correlationId"]
        );
    }

    #[test]
    fn each_refusal_names_the_key_at_fault() {
        let field = |value: Value| read(value).unwrap_err().field;
        assert_eq!(field(json!({"x": 1})), Some("metadata.x".to_owned()));
        assert_eq!(
            field(json!({"correlationId": ""})),
            Some("metadata.correlationId".to_owned())
        );
        assert_eq!(
            field(json!({"causationId": "é".repeat(501)})),
            Some("metadata.causationId".to_owned())
        );
        assert_eq!(field(json!({"": "x"})), Some("metadata.".to_owned()));
        assert_eq!(field(json!(["x"])), Some("metadata".to_owned()));
        let many: Map<String, Value> = (0..=MAX_METADATA_KEYS)
            .map(|n| (format!("k{n}"), json!("v")))
            .collect();
        assert_eq!(field(Value::Object(many)), Some("metadata".to_owned()));
        let large = json!({"note": "x".repeat(MAX_METADATA_BYTES)});
        assert_eq!(field(large), Some("metadata".to_owned()));
    }

    #[test]
    fn the_largest_metadata_allowed_is_accepted() {
        // `{"note":"…"}` is 11 bytes around the value.
        let value = "x".repeat(MAX_METADATA_BYTES - 11);
        let metadata = read(json!({ "note": value })).unwrap();
        assert_eq!(metadata.encoded_len(), MAX_METADATA_BYTES);
    }
}
