//! The ids: `StreamId` and `ItemId` (checked strings), `EventId` (a place in
//! a stream) and `Version` (a stream's last event id, -1 when empty).

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::error::{ErrorCode, Invalid};
use crate::limits::{MAX_ID_BYTES, MAX_STRING_CHARS};

/// Checks the rule every id shares: non-empty, at most 256 characters and
/// at most 1,000 bytes of UTF-8, so every storage adapter can key it.
pub(crate) fn checked_id(value: &str, field: &str) -> Result<(), Invalid> {
    if value.is_empty() {
        return Err(Invalid::field(
            ErrorCode::InvalidValue,
            field,
            format!("`{field}` must not be empty"),
        ));
    }
    let chars = value.chars().count();
    if chars > MAX_STRING_CHARS {
        return Err(Invalid::field(
            ErrorCode::InvalidValue,
            field,
            format!("`{field}` is {chars} characters long; at most {MAX_STRING_CHARS} are allowed"),
        ));
    }
    if value.len() > MAX_ID_BYTES {
        return Err(Invalid::field(
            ErrorCode::InvalidValue,
            field,
            format!(
                "`{field}` is {} bytes of UTF-8; at most {MAX_ID_BYTES} are allowed",
                value.len()
            ),
        ));
    }
    Ok(())
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(into = "String", try_from = "String")]
        pub struct $name(String);

        /// Reads saved state (replay progress); the same checks as `parse`.
        impl TryFrom<String> for $name {
            type Error = Invalid;
            fn try_from(value: String) -> Result<Self, Invalid> {
                $name::parse(value, stringify!($name))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl $name {
            /// Validates `value`; `field` names it in the error.
            pub fn parse(value: impl Into<String>, field: &str) -> Result<Self, Invalid> {
                let value = value.into();
                checked_id(&value, field)?;
                Ok($name(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// Names one event stream: the unit of ordering and of concurrency control.
    StreamId
);
string_id!(
    /// Names one item of a stream's read model.
    ItemId
);

/// The position of an event in its stream: 0, 1, 2, ... with no gap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(u64);

impl EventId {
    pub const FIRST: EventId = EventId(0);

    pub fn new(value: u64) -> Self {
        EventId(value)
    }

    pub fn get(self) -> u64 {
        self.0
    }

    pub fn next(self) -> EventId {
        EventId(self.0 + 1)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A stream's version: the id of its last event, or -1 while it is empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Version(i64);

impl Version {
    /// The version of a stream with no event yet.
    pub const EMPTY: Version = Version(-1);

    pub fn new(value: i64) -> Option<Self> {
        (value >= -1).then_some(Version(value))
    }

    pub fn of_last(event_id: EventId) -> Self {
        Version(event_id.get() as i64)
    }

    pub fn get(self) -> i64 {
        self.0
    }

    /// The id the next appended event takes.
    pub fn next_event_id(self) -> EventId {
        EventId((self.0 + 1) as u64)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_must_be_non_empty_at_most_256_characters_and_1000_bytes() {
        assert_eq!(
            StreamId::parse("", "streamId").unwrap_err().code,
            ErrorCode::InvalidValue
        );
        assert!(StreamId::parse("é".repeat(256), "streamId").is_ok());
        // 250 four-byte characters are exactly 1,000 bytes; one more is not.
        assert!(ItemId::parse("😀".repeat(250), "data.itemId").is_ok());
        let too_big = ItemId::parse("😀".repeat(251), "data.itemId").unwrap_err();
        assert_eq!(too_big.field.as_deref(), Some("data.itemId"));
        assert!(
            too_big.message.contains("1004 bytes"),
            "{}",
            too_big.message
        );
        let too_long = ItemId::parse("x".repeat(257), "data.itemId").unwrap_err();
        assert_eq!(too_long.field.as_deref(), Some("data.itemId"));
        assert!(too_long.message.contains("257"));
    }

    #[test]
    fn versions_count_from_minus_one() {
        assert_eq!(Version::EMPTY.next_event_id(), EventId::FIRST);
        assert_eq!(
            Version::of_last(EventId::new(4)).next_event_id(),
            EventId::new(5)
        );
        assert_eq!(Version::new(-2), None);
    }
}
