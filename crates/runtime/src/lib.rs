//! What every baton service shares.
//!
//! # Layout
//!
//! - [`validate`]: request checks that answer `INVALID_ARGUMENT` with field violations.
//! - [`time`]: protobuf timestamps.
//! - [`shutdown`]: the stop signal servers and streams watch.
//! - [`client`]: lazily connecting channels to other services, with deadline propagation.
//! - [`deadline`]: the server layer and task-local that carry a caller's deadline.
//! - [`server`]: the bootstrap: health, reflection, the tower stack (with the auth layer of
//!   `baton-auth`), graceful drain.
//! - [`incoming`]: accepted connections: TLS and the HTTP/2 preface within a deadline.
//! - [`tls`]: server and client TLS from PEM files, reloaded when they change.
//! - [`telemetry`]: logs (pretty or JSON) and OTLP trace export.
//! - [`metrics`]: the meter provider, the per-call metrics layer and the Prometheus endpoint.
//! - [`trace`]: W3C trace context in and out of every call.
pub mod breaker;
pub mod client;
pub mod deadline;
mod grpc_call;
pub mod health;
pub mod incoming;
pub mod metrics;
pub mod retry;
pub mod server;
pub mod shutdown;
pub mod telemetry;
pub mod time;
pub mod tls;
pub mod trace;
pub mod validate;
