//! The `baton` binary's library: configuration, assembling services into one process, and the
//! demo. The binary itself only parses flags and calls in here, so tests start exactly what
//! `baton serve all` starts.
//!
//! # Layout
//!
//! - [`config`]: flags and environment variables.
//! - [`credentials`]: `baton credentials`: signing keys and caller tokens.
//! - [`client`]: how operator commands reach IdentityService (token, TLS).
//! - [`import`]: `baton import profiles`: a CSV export streamed to ImportProfiles.
//! - [`identity`]: `baton identity train`: re-estimate a tenant's matching weights.
//! - [`mesh`]: binds and starts any subset of the four services.
//! - [`demo`]: drives the customer journeys against a running mesh and prints them.
//! - [`desk`]: a minimal agent desktop (an `AgentSession` stream).

pub mod client;
pub mod config;
pub mod credentials;
pub mod demo;
pub mod desk;
pub mod eval;
pub mod floor;
pub mod identity;
pub mod import;
pub mod mesh;
