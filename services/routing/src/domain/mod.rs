//! Routing's rules, free of gRPC: who may take a contact, who gets it, what happens on offer,
//! accept, reject, timeout, transfer and end, and what a minted token holds.
//!
//! Everything here is synchronous and deterministic given its inputs (the clock is passed in),
//! so it is tested without a network or a runtime.

pub mod erasure;
pub mod ids;
pub mod matching;
pub mod mint;
pub mod record;
pub mod skills;
pub mod state;
