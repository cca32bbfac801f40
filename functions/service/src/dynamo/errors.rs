//! How SDK failures become `StoreError`s.

use std::fmt;

use aws_sdk_dynamodb::error::{BuildError, DisplayErrorContext};
use domain::StoreError;

/// A request the SDK refused to build (a required field left unset).
pub(super) fn built<T>(result: Result<T, BuildError>) -> Result<T, StoreError> {
    result.map_err(|err| StoreError::Unavailable(format!("building a DynamoDB request: {err}")))
}

/// A failed call, with what it was doing and the SDK's whole error chain.
pub(super) fn unavailable(
    what: impl fmt::Display,
    err: &(impl std::error::Error + 'static),
) -> StoreError {
    StoreError::Unavailable(format!("{what}: {}", DisplayErrorContext(err)))
}
