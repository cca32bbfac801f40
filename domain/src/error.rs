//! Refusals of a caller's input: a code, the field path and a message
//! that says what to fix; the `error` object of every 4xx answer.

use std::fmt;

/// Why a caller's input was refused; serialised as the `error` object of a
/// 4xx answer, so every variant names what to fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    MalformedJson,
    PayloadTooLarge,
    MissingField,
    WrongType,
    InvalidValue,
    UnknownField,
    DuplicateField,
    UnknownEventType,
}

impl ErrorCode {
    /// Every code, in declaration order.
    pub const ALL: [ErrorCode; 8] = [
        ErrorCode::MalformedJson,
        ErrorCode::PayloadTooLarge,
        ErrorCode::MissingField,
        ErrorCode::WrongType,
        ErrorCode::InvalidValue,
        ErrorCode::UnknownField,
        ErrorCode::DuplicateField,
        ErrorCode::UnknownEventType,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedJson => "MALFORMED_JSON",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::MissingField => "MISSING_FIELD",
            ErrorCode::WrongType => "WRONG_TYPE",
            ErrorCode::InvalidValue => "INVALID_VALUE",
            ErrorCode::UnknownField => "UNKNOWN_FIELD",
            ErrorCode::DuplicateField => "DUPLICATE_FIELD",
            ErrorCode::UnknownEventType => "UNKNOWN_EVENT_TYPE",
        }
    }
}

/// Input that breaks the API's rules, with the JSON path of the culprit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub code: ErrorCode,
    pub field: Option<String>,
    pub message: String,
}

impl Invalid {
    pub fn new(code: ErrorCode, field: Option<&str>, message: impl Into<String>) -> Self {
        Invalid {
            code,
            field: field.map(str::to_owned),
            message: message.into(),
        }
    }

    pub fn field(code: ErrorCode, field: &str, message: impl Into<String>) -> Self {
        Self::new(code, Some(field), message)
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{} ({}): {}", self.code.as_str(), field, self.message),
            None => write!(f, "{}: {}", self.code.as_str(), self.message),
        }
    }
}

impl std::error::Error for Invalid {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_code_once() {
        let names: std::collections::BTreeSet<&str> =
            ErrorCode::ALL.iter().map(|code| code.as_str()).collect();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        for code in ErrorCode::ALL {
            // A new variant stops this compiling: list it in ALL as well.
            match code {
                ErrorCode::MalformedJson
                | ErrorCode::PayloadTooLarge
                | ErrorCode::MissingField
                | ErrorCode::WrongType
                | ErrorCode::InvalidValue
                | ErrorCode::UnknownField
                | ErrorCode::DuplicateField
                | ErrorCode::UnknownEventType => {}
            }
        }
    }
}
