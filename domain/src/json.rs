//! Reading request JSON strictly: the body's size and syntax, an object's
//! fields (unknown ones refused), integers in a range. Every refusal names
//! the field path. The bottom of the domain: it knows only [`crate::error`]
//! and [`crate::limits`].

use std::cell::RefCell;
use std::fmt;

use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

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
    let duplicate = RefCell::new(None);
    let mut reader = serde_json::Deserializer::from_slice(body);
    let parsed = Strict {
        path: String::new(),
        duplicate: &duplicate,
    }
    .deserialize(&mut reader)
    .and_then(|value| reader.end().map(|()| value));
    let value = parsed.map_err(|err| match duplicate.take() {
        Some(path) => Invalid::field(
            ErrorCode::DuplicateField,
            &path,
            format!("`{path}` appears more than once; send each field once"),
        ),
        None => Invalid::new(
            ErrorCode::MalformedJson,
            None,
            format!("the body is not valid JSON: {err}"),
        ),
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

/// Builds a [`Value`] as serde_json does, but refuses an object that names
/// a field twice (serde_json keeps the last), recording its path: a proxy
/// in front may read the first, and must not see another request than
/// the one stored.
struct Strict<'a> {
    /// Where this value sits: `data.itemId`, `items[2]`; empty at the root.
    path: String,
    duplicate: &'a RefCell<Option<String>>,
}

impl Strict<'_> {
    fn child(&self, path: String) -> Self {
        Strict {
            path,
            duplicate: self.duplicate,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) =
            seq.next_element_seed(self.child(format!("{}[{}]", self.path, items.len())))?
        {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            if object.contains_key(&key) {
                let message = format!("duplicate field `{path}`");
                *self.duplicate.borrow_mut() = Some(path);
                return Err(A::Error::custom(message));
            }
            let value = map.next_value_seed(self.child(path))?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
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
