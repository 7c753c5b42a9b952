//! The one error type of the context service and its mapping to gRPC status codes.

use baton_runtime::validate::Violations;
use baton_store::StoreError;
use thiserror::Error;
use tonic::Status;

/// Everything that can go wrong in the context service after a request passed validation.
#[derive(Debug, Error)]
pub enum Error {
    /// Optimistic concurrency: the caller's `expected_version` is not the history's version.
    #[error("context version is {current}, expected {expected}")]
    VersionConflict {
        /// The history's version now.
        current: u64,
        /// The version the caller expected.
        expected: u64,
    },
    /// The idempotency key already acknowledged an append for another customer, so this
    /// request can be neither replayed nor applied.
    #[error("idempotency_key was already used for another customer")]
    IdempotencyKeyReused,
    /// A `page_token` that no response of this service produced.
    #[error("page_token is malformed")]
    MalformedPageToken,
    /// The store failed, or refused an idempotency key already used for a different request
    /// ([`StoreError::KeyReused`], the caller's error); details of a failure are for logs only.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Error> for Status {
    fn from(err: Error) -> Self {
        match err {
            // The caller re-reads the context, decides again and retries with the new version.
            Error::VersionConflict { .. } => Status::aborted(err.to_string()),
            Error::IdempotencyKeyReused => {
                field_violation("idempotency_key", "was already used for another customer")
            }
            Error::MalformedPageToken => field_violation(
                "page_token",
                "is malformed: pass the next_page_token of a previous response",
            ),
            Error::Store(StoreError::KeyReused { .. }) => field_violation(
                "idempotency_key",
                "was already used for a different request",
            ),
            Error::Store(StoreError::Corrupt(detail)) => {
                tracing::error!(error = %detail, "context store holds an undecodable record");
                Status::internal("context store holds a damaged record")
            }
            Error::Store(other) => {
                tracing::error!(error = %other, "context store failed");
                Status::unavailable("context store is unavailable, retry later")
            }
        }
    }
}

/// `INVALID_ARGUMENT` naming one field, shaped like every other validation failure.
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
    use baton_runtime::validate::field_violations;
    use tonic::Code;

    use super::*;

    #[test]
    fn each_variant_has_its_code() {
        let conflict = Status::from(Error::VersionConflict {
            current: 3,
            expected: 2,
        });
        assert_eq!(conflict.code(), Code::Aborted);
        assert_eq!(conflict.message(), "context version is 3, expected 2");

        let token = Status::from(Error::MalformedPageToken);
        assert_eq!(token.code(), Code::InvalidArgument);
        assert_eq!(field_violations(&token)[0].0, "page_token");

        let reused = Status::from(Error::IdempotencyKeyReused);
        assert_eq!(field_violations(&reused)[0].0, "idempotency_key");

        let other_request = Status::from(Error::Store(StoreError::KeyReused {
            operation: "context.append".into(),
        }));
        assert_eq!(other_request.code(), Code::InvalidArgument);
        assert_eq!(
            field_violations(&other_request),
            [(
                "idempotency_key".to_owned(),
                "was already used for a different request".to_owned()
            )]
        );

        let corrupt = Status::from(Error::Store(StoreError::Corrupt("bad varint".into())));
        assert_eq!(corrupt.code(), Code::Internal);
        assert!(!corrupt.message().contains("varint"), "no internals leak");

        let down = Status::from(Error::Store(StoreError::Backend("disk /var/x".into())));
        assert_eq!(down.code(), Code::Unavailable);
        assert!(!down.message().contains("/var/x"), "no internals leak");
    }
}
