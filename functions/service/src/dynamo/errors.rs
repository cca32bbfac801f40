//! How SDK failures become `StoreError`s.

use std::fmt;

use aws_sdk_dynamodb::error::{BuildError, DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::types::CancellationReason;
use domain::StoreError;

/// A request the SDK refused to build (a required field left unset).
pub(super) fn built<T>(result: Result<T, BuildError>) -> Result<T, StoreError> {
    result.map_err(|err| StoreError::Unavailable(format!("building a DynamoDB request: {err}")))
}

/// A failed call, with what it was doing and the SDK's whole error chain.
/// DynamoDB's `ValidationException` says the request itself is wrong (a
/// key too large, say): sending it again cannot work, so it is not
/// reported as `Unavailable`, whose answer tells clients to retry.
pub(super) fn unavailable(
    what: impl fmt::Display,
    err: &(impl std::error::Error + ProvideErrorMetadata + 'static),
) -> StoreError {
    let message = format!("{what}: {}", DisplayErrorContext(err));
    if err.code() == Some("ValidationException") {
        StoreError::Corrupt(message)
    } else {
        StoreError::Unavailable(message)
    }
}

/// A transaction DynamoDB cancelled because one of its parts is invalid
/// (reason `ValidationError`: an item over its size limit, say) is
/// cancelled again on every retry: like a `ValidationException`, it is
/// reported as not retryable. `None` for other cancellations.
pub(super) fn invalid_transaction(
    what: impl fmt::Display,
    reasons: &[CancellationReason],
) -> Option<StoreError> {
    let invalid = reasons
        .iter()
        .find(|reason| reason.code() == Some("ValidationError"))?;
    Some(StoreError::Corrupt(format!(
        "{what}: DynamoDB cancelled the transaction as invalid: {}",
        invalid.message().unwrap_or("ValidationError")
    )))
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::error::ErrorMetadata;
    use aws_sdk_dynamodb::operation::put_item::PutItemError;

    use super::*;

    fn failure(code: &str) -> PutItemError {
        PutItemError::generic(ErrorMetadata::builder().code(code).message("m").build())
    }

    /// DynamoDB answers ValidationException for a request that can never
    /// succeed (for example a key attribute over its size limit), and
    /// throttling or internal errors for ones that may
    /// (docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html).
    #[test]
    fn a_validation_exception_is_never_reported_as_retryable() {
        assert!(matches!(
            unavailable("writing", &failure("ValidationException")),
            StoreError::Corrupt(_)
        ));
        for code in [
            "ThrottlingException",
            "ProvisionedThroughputExceededException",
            "InternalServerError",
        ] {
            assert!(
                matches!(
                    unavailable("writing", &failure(code)),
                    StoreError::Unavailable(_)
                ),
                "{code}"
            );
        }
    }
}
