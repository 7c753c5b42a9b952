//! The `baton` binary's library: configuration, assembling services into one process, and the
//! demo. The binary itself only parses flags and calls in here, so tests start exactly what
//! `baton serve all` starts.
//!
//! # Layout
//!
//! - [`config`]: flags and environment variables.
//! - [`mesh`]: binds and starts any subset of the four services.
//! - [`demo`]: drives the customer journeys against a running mesh and prints them.
//! - [`desk`]: a minimal agent desktop (an `AgentSession` stream).

pub mod config;
pub mod demo;
pub mod desk;
pub mod mesh;
