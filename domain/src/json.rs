//! Reading request JSON strictly: the body's size and syntax, an object's
//! fields (unknown ones refused), integers in a range. Every refusal names
//! the field path. The bottom of the domain: it knows only [`crate::error`]
//! and [`crate::limits`].

use serde_json::{Map, Value};

use crate::error::{ErrorCode, Invalid};
use crate::limits::MAX_BODY_BYTES;

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
