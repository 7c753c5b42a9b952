//! Everything that can go wrong in routing, and the one mapping to gRPC status codes.

use baton_runtime::validate::Violations;
use baton_store::StoreError;
use baton_token::OpenError;

/// A routing failure. Each variant maps to one deliberate status code in
/// `From<Error> for tonic::Status`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The contact, agent or queue named does not exist in this tenant.
    #[error("{kind} {id} not found")]
    NotFound {
        /// What was looked up ("contact", "agent").
        kind: &'static str,
        /// The id the caller gave.
        id: String,
    },
    /// The request is well formed but the state does not allow it (a transfer of an ended
    /// contact, a transfer by an agent who does not hold the contact).
    #[error("{0}")]
    FailedPrecondition(String),
    /// A dependency refused the caller's own input (identity rejecting identifiers).
    #[error("{dependency} rejected the request: {message}")]
    Rejected {
        /// The service that refused.
        dependency: &'static str,
        /// Its explanation, which is about the caller's input.
        message: String,
    },
    /// A dependency that cannot be degraded around is unreachable or failing.
    #[error("{dependency} is unavailable")]
    Unavailable {
        /// The service, never its internal cause.
        dependency: &'static str,
    },
    /// An erasure stopped at a step whose service is unavailable. Its job stays open: it
    /// resumes in the background and when the call is retried with the same key.
    #[error(
        "erasure of customer {customer_id} is not complete: done [{}], pending [{}]; it resumes \
         on its own, or retry with the same idempotency key",
        done.join(", "),
        pending.join(", ")
    )]
    ErasurePending {
        /// The customer.
        customer_id: String,
        /// The steps done.
        done: Vec<String>,
        /// The steps not done yet, the first of them the one that failed.
        pending: Vec<&'static str>,
    },
    /// The caller may call the RPC but not do this within it: an agent acting for another
    /// agent or on a contact that is not with it, a gateway acting as an agent, an agent
    /// changing more than its own presence.
    #[error("{0}")]
    PermissionDenied(String),
    /// What the request would create exists already and must not be replaced silently (a
    /// second session of an agent).
    #[error("{0}")]
    AlreadyExists(String),
    /// The idempotency key was already used by this caller for a different request: neither
    /// replayed nor applied.
    #[error("idempotency_key was already used for a different request")]
    KeyReused,
    /// The durable store failed; details are logged, never returned.
    #[error("routing store failed")]
    Store(StoreError),
    /// Routing is overloaded (its internal queues are full) or shutting down.
    #[error("routing is {0}, retry later")]
    Busy(&'static str),
    /// A sealed token did not open.
    #[error(transparent)]
    Token(#[from] OpenError),
}

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Self {
        match err {
            // The caller's mistake, not the store's: said as such.
            StoreError::KeyReused { .. } => Error::KeyReused,
            other => Error::Store(other),
        }
    }
}

impl From<Error> for tonic::Status {
    fn from(err: Error) -> Self {
        use tonic::Status;
        match err {
            Error::NotFound { .. } => Status::not_found(err.to_string()),
            Error::FailedPrecondition(message) => Status::failed_precondition(message),
            Error::Rejected { .. } => Status::invalid_argument(err.to_string()),
            Error::Unavailable { .. } | Error::ErasurePending { .. } => {
                Status::unavailable(err.to_string())
            }
            Error::PermissionDenied(message) => Status::permission_denied(message),
            Error::AlreadyExists(message) => Status::already_exists(message),
            Error::KeyReused => {
                let mut v = Violations::new();
                v.add(
                    "idempotency_key",
                    "was already used for a different request",
                );
                v.check()
                    .err()
                    .unwrap_or_else(|| Status::invalid_argument(err.to_string()))
            }
            Error::Store(StoreError::Fenced(ref lost)) => {
                tracing::warn!(lease = %lost, "a change was refused: another replica routes its tenant now");
                Status::unavailable(
                    "another routing replica has taken over this tenant, retry the call",
                )
            }
            Error::Store(ref source) => {
                tracing::error!(error = %source, "routing store failed");
                Status::unavailable("routing store is unavailable, retry later")
            }
            Error::Busy(_) => Status::unavailable(err.to_string()),
            // The token crate owns the choice between UNAUTHENTICATED and PERMISSION_DENIED.
            Error::Token(open) => open.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use tonic::{Code, Status};

    use super::*;

    #[test]
    fn every_variant_has_a_deliberate_code_and_no_internal_cause() {
        let cases = [
            (
                Error::NotFound {
                    kind: "contact",
                    id: "con_1".into(),
                },
                Code::NotFound,
            ),
            (
                Error::FailedPrecondition("contact is ended".into()),
                Code::FailedPrecondition,
            ),
            (
                Error::Rejected {
                    dependency: "identity",
                    message: "bad phone".into(),
                },
                Code::InvalidArgument,
            ),
            (
                Error::Unavailable {
                    dependency: "context",
                },
                Code::Unavailable,
            ),
            (
                Error::Store(StoreError::Backend("disk /dev/sda1 full".into())),
                Code::Unavailable,
            ),
            (Error::Busy("shutting down"), Code::Unavailable),
            (
                Error::ErasurePending {
                    customer_id: "cust_1".into(),
                    done: vec!["identity".into()],
                    pending: vec!["context", "recommendation", "routing"],
                },
                Code::Unavailable,
            ),
            (
                Error::PermissionDenied("agent ann may not act as agent bob".into()),
                Code::PermissionDenied,
            ),
            (
                Error::AlreadyExists("agent ann already has an open session".into()),
                Code::AlreadyExists,
            ),
            (
                Error::from(StoreError::KeyReused {
                    operation: "start".into(),
                }),
                Code::InvalidArgument,
            ),
            (Error::Token(OpenError::Tampered), Code::Unauthenticated),
            (Error::Token(OpenError::WrongTenant), Code::PermissionDenied),
        ];
        for (err, code) in cases {
            let status = Status::from(err);
            assert_eq!(status.code(), code, "{status:?}");
            assert!(!status.message().contains("sda1"), "{status:?}");
        }
    }

    #[test]
    fn a_reused_key_is_a_field_violation_on_the_key() {
        let status = Status::from(Error::from(StoreError::KeyReused {
            operation: "start".into(),
        }));
        assert_eq!(
            baton_runtime::validate::field_violations(&status),
            [(
                "idempotency_key".to_owned(),
                "was already used for a different request".to_owned()
            )]
        );
    }
}
