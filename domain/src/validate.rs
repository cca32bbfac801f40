//! Strict parsing of request bodies into domain commands. Every refusal
//! names the field and says what a valid value looks like.

use serde_json::{Map, Value};

use crate::error::{ErrorCode, Invalid};
use crate::event::DomainEvent;
use crate::ids::{EventId, StreamId, Version};
use crate::replay::ReplayTarget;
use crate::rules::AppendCommand;
use crate::{MAX_AMOUNT, MAX_BODY_BYTES};

/// Parses a JSON body that must be an object, after the size check.
pub fn json_object(body: &[u8]) -> Result<Map<String, Value>, Invalid> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Invalid::new(
            ErrorCode::PayloadTooLarge,
            None,
            format!(
                "the body is {} bytes; at most {MAX_BODY_BYTES} bytes are accepted",
                body.len()
            ),
        ));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Invalid::new(
            ErrorCode::MalformedJson,
            None,
            "the body is empty; send a JSON object",
        ));
    }
    let value: Value = serde_json::from_slice(body).map_err(|err| {
        Invalid::new(
            ErrorCode::MalformedJson,
            None,
            format!("the body is not valid JSON: {err}"),
        )
    })?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(Invalid::new(
            ErrorCode::WrongType,
            None,
            format!("the body must be a JSON object, not {}", kind(&other)),
        )),
    }
}

/// `POST /addEvent`: `{"streamId", "type", "data", "expectedVersion"?}`.
pub fn append_command(body: &[u8]) -> Result<AppendCommand, Invalid> {
    let object = json_object(body)?;
    let reader = ObjectReader::new(
        &object,
        "",
        &["streamId", "type", "data", "expectedVersion"],
    )?;
    let stream_id = StreamId::parse(reader.required_str("streamId")?, "streamId")?;
    let type_name = reader.required_str("type")?;
    let data = reader.required("data")?;
    let event = DomainEvent::from_wire(type_name, data)?;
    let expected_version = match reader.optional("expectedVersion") {
        None => None,
        Some(value) => {
            let raw = integer_in_range(value, "expectedVersion", -1, MAX_AMOUNT as i64)?;
            Version::new(raw)
        }
    };
    Ok(AppendCommand {
        stream_id,
        event,
        expected_version,
    })
}

/// `POST /triggerReplay`: `{"streamId", "fromEventId"}`.
pub fn replay_target(body: &[u8]) -> Result<ReplayTarget, Invalid> {
    let object = json_object(body)?;
    let reader = ObjectReader::new(&object, "", &["streamId", "fromEventId"])?;
    let stream_id = StreamId::parse(reader.required_str("streamId")?, "streamId")?;
    let from = integer_in_range(
        reader.required("fromEventId")?,
        "fromEventId",
        0,
        MAX_AMOUNT as i64,
    )?;
    Ok(ReplayTarget {
        stream_id,
        from_event_id: EventId::new(from as u64),
    })
}

/// Reads the fields of one JSON object, refusing any it does not expect.
pub(crate) struct ObjectReader<'a> {
    object: &'a Map<String, Value>,
    prefix: &'a str,
}

impl<'a> ObjectReader<'a> {
    pub(crate) fn new(
        object: &'a Map<String, Value>,
        prefix: &'a str,
        allowed: &[&str],
    ) -> Result<Self, Invalid> {
        // Sorted so the error is the same whatever order the keys came in.
        let mut unknown: Vec<&String> = object
            .keys()
            .filter(|key| !allowed.contains(&key.as_str()))
            .collect();
        unknown.sort();
        if let Some(key) = unknown.first() {
            return Err(Invalid::field(
                ErrorCode::UnknownField,
                &format!("{prefix}{key}"),
                format!(
                    "unexpected field `{prefix}{key}`; allowed fields are {}",
                    allowed.join(", ")
                ),
            ));
        }
        Ok(ObjectReader { object, prefix })
    }

    fn path(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    pub(crate) fn optional(&self, name: &str) -> Option<&'a Value> {
        self.object.get(name)
    }

    pub(crate) fn required(&self, name: &str) -> Result<&'a Value, Invalid> {
        self.object.get(name).ok_or_else(|| {
            let path = self.path(name);
            Invalid::field(
                ErrorCode::MissingField,
                &path,
                format!("`{path}` is required"),
            )
        })
    }

    pub(crate) fn required_str(&self, name: &str) -> Result<&'a str, Invalid> {
        let value = self.required(name)?;
        value.as_str().ok_or_else(|| {
            let path = self.path(name);
            Invalid::field(
                ErrorCode::WrongType,
                &path,
                format!("`{path}` must be a string, not {}", kind(value)),
            )
        })
    }
}

/// An integer in `min..=max`; floats, strings and the like are refused.
pub(crate) fn integer_in_range(
    value: &Value,
    path: &str,
    min: i64,
    max: i64,
) -> Result<i64, Invalid> {
    let Value::Number(number) = value else {
        return Err(Invalid::field(
            ErrorCode::WrongType,
            path,
            format!("`{path}` must be an integer, not {}", kind(value)),
        ));
    };
    let out_of_range = || {
        Invalid::field(
            ErrorCode::InvalidValue,
            path,
            format!("`{path}` must be an integer from {min} to {max}, got {number}"),
        )
    };
    if let Some(int) = number.as_i64() {
        return if (min..=max).contains(&int) {
            Ok(int)
        } else {
            Err(out_of_range())
        };
    }
    if number.is_u64() {
        return Err(out_of_range());
    }
    Err(Invalid::field(
        ErrorCode::WrongType,
        path,
        format!("`{path}` must be an integer, not the fraction {number}"),
    ))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Amount, EventType};
    use serde_json::json;

    fn refused(body: Value) -> Invalid {
        append_command(body.to_string().as_bytes()).unwrap_err()
    }

    #[test]
    fn accepts_the_originals_example() {
        let body = json!({
            "streamId": "eb724435-02cb-4c68-9d7a-4b6471c5a810",
            "type": "ITEM_CREATED",
            "data": {"itemId": "1", "amount": 225}
        });
        let command = append_command(body.to_string().as_bytes()).unwrap();
        assert_eq!(command.event.event_type(), EventType::ItemCreated);
        assert_eq!(command.expected_version, None);
        assert!(matches!(
            command.event,
            DomainEvent::ItemCreated { amount, .. } if amount == Amount::new(225).unwrap()
        ));
    }

    #[test]
    fn every_malformed_class_names_its_field() {
        let cases = [
            (json!([1]), ErrorCode::WrongType, None),
            (
                json!({"type": "ITEM_DELETED", "data": {"itemId": "1"}}),
                ErrorCode::MissingField,
                Some("streamId"),
            ),
            (
                json!({"streamId": 7, "type": "ITEM_DELETED", "data": {"itemId": "1"}}),
                ErrorCode::WrongType,
                Some("streamId"),
            ),
            (
                json!({"streamId": "", "type": "ITEM_DELETED", "data": {"itemId": "1"}}),
                ErrorCode::InvalidValue,
                Some("streamId"),
            ),
            (
                json!({"streamId": "s", "type": "ITEM_EXPLODED", "data": {"itemId": "1"}}),
                ErrorCode::UnknownEventType,
                Some("type"),
            ),
            (
                json!({"streamId": "s", "type": "ITEM_DELETED", "data": "x"}),
                ErrorCode::WrongType,
                Some("data"),
            ),
            (
                json!({"streamId": "s", "type": "ITEM_DELETED", "data": {}}),
                ErrorCode::MissingField,
                Some("data.itemId"),
            ),
            (
                json!({"streamId": "s", "type": "ITEM_DELETED", "data": {"itemId": ""}}),
                ErrorCode::InvalidValue,
                Some("data.itemId"),
            ),
            (
                json!({"streamId": "s", "type": "ITEM_CREATED", "data": {"itemId": "1"}}),
                ErrorCode::MissingField,
                Some("data.amount"),
            ),
            (
                json!({"streamId": "s", "type": "ITEM_CREATED", "data": {"itemId": "1", "amount": "5"}}),
                ErrorCode::WrongType,
                Some("data.amount"),
            ),
            (
                json!({"streamId": "s", "type": "ITEM_CREATED", "data": {"itemId": "1", "amount": 1.5}}),
                ErrorCode::WrongType,
                Some("data.amount"),
            ),
            (
                json!({"streamId": "s", "type": "ITEM_CREATED", "data": {"itemId": "1", "amount": -1}}),
                ErrorCode::InvalidValue,
                Some("data.amount"),
            ),
            (
                json!({"streamId": "s", "type": "ITEM_CREATED", "data": {"itemId": "1", "amount": 9_007_199_254_740_992u64}}),
                ErrorCode::InvalidValue,
                Some("data.amount"),
            ),
            (
                json!({"streamId": "s", "type": "ITEM_CREATED", "data": {"itemId": "1", "amount": u64::MAX}}),
                ErrorCode::InvalidValue,
                Some("data.amount"),
            ),
            (
                json!({"streamId": "s", "type": "ITEM_DELETED", "data": {"itemId": "1"}, "expectedVersion": -2}),
                ErrorCode::InvalidValue,
                Some("expectedVersion"),
            ),
            (
                json!({"streamId": "s", "type": "ITEM_DELETED", "data": {"itemId": "1"}, "extra": true}),
                ErrorCode::UnknownField,
                Some("extra"),
            ),
        ];
        for (body, code, field) in cases {
            let err = refused(body.clone());
            assert_eq!(
                (err.code, err.field.as_deref()),
                (code, field),
                "for {body}"
            );
        }
    }

    #[test]
    fn the_largest_exact_integer_is_a_valid_amount() {
        let body = json!({"streamId": "s", "type": "ITEM_CREATED", "data": {"itemId": "1", "amount": MAX_AMOUNT}});
        assert!(append_command(body.to_string().as_bytes()).is_ok());
    }

    #[test]
    fn body_size_and_syntax_are_checked_first() {
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(
            append_command(&big).unwrap_err().code,
            ErrorCode::PayloadTooLarge
        );
        assert_eq!(
            append_command(b"{\"streamId\":").unwrap_err().code,
            ErrorCode::MalformedJson
        );
        assert_eq!(
            append_command(b"").unwrap_err().code,
            ErrorCode::MalformedJson
        );
    }

    #[test]
    fn replay_targets_need_a_non_negative_start() {
        let ok = replay_target(br#"{"streamId":"s","fromEventId":3}"#).unwrap();
        assert_eq!(ok.from_event_id, EventId::new(3));
        let err = replay_target(br#"{"streamId":"s","fromEventId":-1}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("fromEventId"));
        let err = replay_target(br#"{"streamId":"s"}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::MissingField);
    }
}
