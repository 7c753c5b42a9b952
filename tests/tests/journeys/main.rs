//! The mesh through `baton serve all` over real gRPC, one binary for every scenario that needs
//! no process-wide telemetry: the customer journeys, token refusals, field violations, and the
//! mesh as an operator sees it. Tests that install a global tracer, subscriber or meter each
//! keep a binary of their own (`tracing.rs`, `no_personal_data.rs`, `collector_down.rs`,
//! `metrics.rs`), since a second test in the same process would see their exports.

mod demo;
mod floor;
mod forget;
mod import;
mod merges;
mod mesh;
mod replicas;
mod security;
mod stories;
mod tls;
mod tokens;
mod validation;
