//! The service's one error type and the status each variant becomes.

use baton_runtime::validate::Violations;
use baton_store::StoreError;
use thiserror::Error;
use tonic::Status;

/// What can go wrong after a request has passed validation. (Invalid requests never get this
/// far: the gRPC adapter answers them with field violations.)
#[derive(Debug, Error)]
pub enum Error {
    /// The store failed (the detail is logged, never returned), or refused an idempotency key
    /// already used for a different request ([`StoreError::KeyReused`], the caller's error).
    #[error("recommendation store failed: {0}")]
    Store(#[from] StoreError),
    /// Article search failed (a bug, or memory ran out); the detail is logged.
    #[error("article search failed: {0}")]
    Search(#[from] crate::recommend::articles::SearchError),
    /// A task the service started failed (a panic); the detail is logged.
    #[error("internal failure: {0}")]
    Internal(String),
    /// Stopping has begun; new work belongs on another replica.
    #[error("the service is shutting down")]
    ShuttingDown,
}

impl From<Error> for Status {
    fn from(err: Error) -> Self {
        match err {
            Error::Store(StoreError::KeyReused { .. }) => field_violation(
                "idempotency_key",
                "was already used for a different request",
            ),
            Error::Store(StoreError::Corrupt(detail)) => {
                tracing::error!(error = %detail, "stored recommendation data does not decode");
                Status::internal("recommendation data could not be read; the failure is logged")
            }
            Error::Store(other) => {
                tracing::error!(error = %other, "recommendation store failed");
                Status::unavailable(
                    "recommendation store is unavailable; retry with the same idempotency key",
                )
            }
            Error::Search(err) => {
                tracing::error!(error = %err, "article search failed");
                Status::internal("article search failed; the failure is logged")
            }
            Error::Internal(detail) => {
                tracing::error!(error = %detail, "recommendation failed");
                Status::internal("recommendation failed; the failure is logged")
            }
            Error::ShuttingDown => Status::unavailable(
                "recommendation service is shutting down; retry on another replica",
            ),
        }
    }
}

/// `INVALID_ARGUMENT` naming one field, shaped like every validation failure.
fn field_violation(field: &str, description: &str) -> Status {
    let mut v = Violations::new();
    v.add(field, description);
    match v.check() {
        Err(status) => status,
        Ok(()) => Status::invalid_argument(format!("{field} {description}")),
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    #[test]
    fn each_variant_has_a_deliberate_code_and_hides_details() {
        let corrupt = Status::from(Error::Store(StoreError::Corrupt("bad varint".into())));
        assert_eq!(corrupt.code(), Code::Internal);
        assert!(!corrupt.message().contains("varint"));
        let backend = Status::from(Error::Store(StoreError::Backend("disk /x full".into())));
        assert_eq!(backend.code(), Code::Unavailable);
        assert!(!backend.message().contains("/x"));
        assert_eq!(Status::from(Error::ShuttingDown).code(), Code::Unavailable);
        let reused = Status::from(Error::Store(StoreError::KeyReused {
            operation: "upsert_catalog".into(),
        }));
        assert_eq!(reused.code(), Code::InvalidArgument);
        assert_eq!(
            baton_runtime::validate::field_violations(&reused),
            [(
                "idempotency_key".to_owned(),
                "was already used for a different request".to_owned()
            )]
        );
    }
}
