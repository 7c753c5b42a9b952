//! Storage plumbing shared by every baton service: the embedded durable store it runs on with
//! nothing else installed, and Redis for several replicas.
//!
//! # Layout
//!
//! - [`EmbeddedDb`]: one redb file per service in the data directory, with `read` and `write`
//!   helpers that run transactions on tokio's blocking pool (redb is synchronous and every
//!   commit waits for `fsync`, which must never stall the async workers).
//! - [`codec`]: protobuf values in redb tables (the stored form is the contract's own
//!   messages, so a backup is readable by any protobuf tool).
//! - [`keys`]: tenant-scoped key building, so no table key can cross tenants.
//! - [`open_read`]: a table for reading, `None` until its first write created it.
//! - [`idempotency`]: answers remembered per tenant, operation and idempotency key, written in
//!   the same transaction as the change they acknowledge.
//!
//! - [`redis_db`]: the same services on one Redis primary or on a Redis Cluster: hash-tagged
//!   keys (one slot per group) and guarded optimistic commits, reached over TLS with a
//!   password from a file, refused at connect when a server (every master of a cluster) does
//!   not fsync every write; plus a throwaway test server and a three-master test cluster
//!   behind `test-support`.
//!
//! - [`audit`]: the audit log of privileged calls, embedded (`audit.redb`) and on Redis.
//!
//! Each service defines the trait for its own state and implements it on top of this crate;
//! the Redis backend implements the same traits. What this crate must never do: know about a
//! service's domain.

pub mod audit;
pub mod codec;
mod db;
mod error;
pub mod idempotency;
pub mod keys;
pub mod redis_db;
mod tables;

pub use db::EmbeddedDb;
pub use error::StoreError;
/// Re-exported so services name redb types through one path.
pub use redb;
/// Re-exported so services name redis types through one path.
pub use redis;
pub use tables::open_read;
