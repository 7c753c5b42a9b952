//! The identity service's one error type and its one mapping to gRPC status codes.
//!
//! Messages name ids, never personal data: a caller may log them.

use baton_runtime::validate::Violations;
use baton_store::StoreError;
use thiserror::Error;
use tonic::{Code, Status};

/// Everything an identity operation can fail with, besides a malformed request (which the
/// gRPC adapter answers with field violations before the domain runs).
#[derive(Debug, Error)]
pub enum Error {
    /// No customer with that id in the tenant.
    #[error("no customer {0} in this tenant (it may have been erased)")]
    CustomerNotFound(String),
    /// No merge with that id in the tenant.
    #[error("no merge {0} in this tenant")]
    MergeNotFound(String),
    /// The identifier already belongs to a different customer.
    #[error("identifier is linked to another customer")]
    LinkedElsewhere,
    /// The id was merged into another profile and is retired.
    #[error("customer {id} was merged into {survivor}; use {survivor} instead")]
    AlreadyMerged {
        /// The retired id.
        id: String,
        /// Where it resolves now.
        survivor: String,
    },
    /// A profile cannot be merged into itself.
    #[error("a profile cannot be merged into itself")]
    MergeIntoItself,
    /// The merge was reversed already.
    #[error("merge {0} was already reversed")]
    AlreadyReversed(String),
    /// The merge's survivor has itself been merged since.
    #[error(
        "the survivor {survivor} of merge {merge_id} was merged into {into} since; reverse that merge first"
    )]
    SurvivorMergedSince {
        /// The merge asked to reverse.
        merge_id: String,
        /// Its survivor, now retired.
        survivor: String,
        /// Where that survivor lives now.
        into: String,
    },
    /// The profile would hold more identifiers than allowed.
    #[error("a profile may hold at most {0} identifiers")]
    TooManyIdentifiers(usize),
    /// The profile would hold more attributes than allowed.
    #[error("a profile may hold at most {0} attributes")]
    TooManyAttributes(usize),
    /// A long operation stopped before it finished, because the service is stopping.
    #[error("{0}; run it again to finish")]
    Stopped(String),
    /// Stored state contradicts itself (a bug or a damaged file).
    #[error("inconsistent identity state: {0}")]
    Inconsistent(&'static str),
    /// The store failed, or refused an idempotency key already used for a different request
    /// ([`StoreError::KeyReused`], the caller's error).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Error> for Status {
    fn from(err: Error) -> Self {
        match err {
            Error::CustomerNotFound(_) | Error::MergeNotFound(_) => {
                Status::new(Code::NotFound, err.to_string())
            }
            Error::MergeIntoItself => Status::new(Code::InvalidArgument, err.to_string()),
            Error::LinkedElsewhere
            | Error::AlreadyMerged { .. }
            | Error::AlreadyReversed(_)
            | Error::SurvivorMergedSince { .. }
            | Error::TooManyIdentifiers(_)
            | Error::TooManyAttributes(_) => Status::new(Code::FailedPrecondition, err.to_string()),
            Error::Stopped(_) => Status::new(Code::Unavailable, err.to_string()),
            Error::Inconsistent(what) => {
                tracing::error!(problem = what, "identity state inconsistent");
                Status::new(Code::Internal, "internal error in the identity service")
            }
            Error::Store(StoreError::KeyReused { .. }) => field_violation(
                "idempotency_key",
                "was already used for a different request",
            ),
            Error::Store(StoreError::Backend(detail)) => {
                tracing::error!(error = %detail, "identity store unavailable");
                Status::new(
                    Code::Unavailable,
                    "identity store unavailable; retry with the same idempotency key",
                )
            }
            Error::Store(store) => {
                tracing::error!(error = %store, "identity store failed");
                Status::new(Code::Internal, "internal error in the identity store")
            }
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
    use super::*;

    #[test]
    fn every_variant_has_a_deliberate_code_and_no_internal_detail() {
        let cases = [
            (Error::CustomerNotFound("cus_1".into()), Code::NotFound),
            (Error::MergeNotFound("mrg_1".into()), Code::NotFound),
            (Error::Stopped("stopped".into()), Code::Unavailable),
            (Error::LinkedElsewhere, Code::FailedPrecondition),
            (
                Error::AlreadyMerged {
                    id: "a".into(),
                    survivor: "b".into(),
                },
                Code::FailedPrecondition,
            ),
            (Error::MergeIntoItself, Code::InvalidArgument),
            (Error::AlreadyReversed("m".into()), Code::FailedPrecondition),
            (Error::TooManyIdentifiers(64), Code::FailedPrecondition),
            (Error::TooManyAttributes(32), Code::FailedPrecondition),
            (Error::Inconsistent("x"), Code::Internal),
            (
                Error::Store(StoreError::Backend("disk on fire at /var/x".into())),
                Code::Unavailable,
            ),
            (
                Error::Store(StoreError::Corrupt("bad varint".into())),
                Code::Internal,
            ),
        ];
        for (err, code) in cases {
            let status = Status::from(err);
            assert_eq!(status.code(), code);
            assert!(!status.message().contains("/var/x"));
            assert!(!status.message().contains("varint"));
        }
    }

    #[test]
    fn a_reused_key_names_the_field() {
        let status = Status::from(Error::Store(StoreError::KeyReused {
            operation: "merge".into(),
        }));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            baton_runtime::validate::field_violations(&status),
            [(
                "idempotency_key".to_owned(),
                "was already used for a different request".to_owned()
            )]
        );
    }
}
