//! DynamoDB error handling shared by the store and the idempotency adapter:
//! every SDK failure becomes a `StoreError::Backend` with its full context,
//! and a lost condition is recognised by its error code on any operation.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use citas_domain::StoreError;

/// A failure of the database itself (not an outcome the caller expects).
pub fn backend<E: std::error::Error + 'static>(error: E) -> StoreError {
    StoreError::Backend(DisplayErrorContext(error).to_string())
}

/// Whether a write failed only because its condition did not hold.
pub fn is_condition_failure<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    error
        .as_service_error()
        .and_then(ProvideErrorMetadata::code)
        == Some("ConditionalCheckFailedException")
}
