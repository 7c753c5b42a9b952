//! Who is calling baton, and what they may do.
//!
//! # Layout
//!
//! - [`principal`]: the authenticated caller every handler sees: subject, tenants, roles,
//!   agent id; the tenant and agent checks handlers make against a request.
//! - [`policy`]: the authorization table, one row per RPC, and the only place it is written.
//! - [`jwt`]: verifying bearer JWTs against configured keys, and minting them.
//! - [`cert`]: the principal a client certificate's SAN names.
//! - [`layer`]: the server-stack layer that authenticates, authorizes and rate-limits, and
//!   records privileged calls.
//! - [`audit`]: the audit log of privileged calls: what is recorded, the sink it goes to, and
//!   `AuditService`, which reads it.
//! - [`reload`]: key and certificate files read again when they change.
//! - [`dev`]: development credentials created in the data directory.
//! - [`digest`]: the request digest idempotency keys are bound to.
//!
//! Handlers fail closed: a request that did not pass the layer has no principal, and
//! [`caller`] refuses it with `UNAUTHENTICATED`.
pub mod audit;
pub mod cert;
pub mod config;
pub mod dev;
pub mod digest;
pub mod jwt;
pub mod layer;
pub mod policy;
pub mod principal;
pub mod reload;

pub use audit::{AuditError, AuditSink};
pub use layer::{AssumeLayer, AuthLayer, Authenticator, Limits, PeerIdentity};
pub use principal::{AuthMethod, Principal, Role, Roles, Tenants, caller};
