//! Routing's own metrics, recorded through the global meter provider (see
//! `baton_runtime::metrics`).
//!
//! | instrument | Prometheus name | attributes |
//! |---|---|---|
//! | `baton.routing.queue.depth` | `baton_routing_queue_depth` | `tier` |
//! | `baton.routing.queue.wait` (s) | `baton_routing_queue_wait_seconds` | `tier` |
//! | `baton.routing.offers` | `baton_routing_offers_total` | `outcome` |
//! | `baton.routing.transfers` | `baton_routing_transfers_total` | `kind` |
//! | `baton.routing.tokens.opened` | `baton_routing_tokens_opened_total` | none |
//! | `baton.routing.tokens.refused` | `baton_routing_tokens_refused_total` | `reason` |
//! | `baton.routing.reidentifications_avoided` | `baton_routing_reidentifications_avoided_total` | `kind` |
//!
//! - Queue depth: contacts waiting for an agent (queued, or offered and not yet accepted) in
//!   this process, by the tier they wait for. Self-service contacts do not wait.
//! - Queue wait: from the moment a contact entered the queue on its current hop (its start,
//!   or the transfer that moved it) to an agent accepting it.
//! - Offers, by how each ended: `offered` counts every offer made; each then ends once as
//!   `accepted`, `rejected`, `timed_out` or `withdrawn` (the contact moved or ended, the agent
//!   went away or lost the session).
//! - Transfers, by `kind`: `warm`, `cold` or `channel_switch`; counted once acknowledged.
//! - Tokens refused, by `reason`: the check that failed (`baton_token::OpenError::check`).
//! - Re-identifications avoided: transfers and channel switches whose new token carries a
//!   verification level of IDENTIFIED or better, so the next agent starts knowing who the
//!   customer is instead of asking again.
//!
//! Attributes come from closed sets. Tenants are deliberately not an attribute: their number
//! is not bounded by routing, and ids of contacts and customers never are.

use baton_proto::v1::{Contact, HopKind, VerificationLevel};
use opentelemetry::{
    KeyValue,
    metrics::{Counter, Histogram, Meter, UpDownCounter},
};

use crate::domain::state::OfferTally;

/// The meter name (the `otel_scope_name` label in Prometheus).
pub const METER: &str = "baton-routing";

/// Upper bounds of the queue wait buckets, in seconds: from an agent waiting for work to an
/// hour in the queue.
const WAIT_BUCKETS: [f64; 14] = [
    0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

/// Routing's instruments. Cloning shares them.
#[derive(Clone, Debug)]
pub struct RoutingMetrics {
    /// Contacts waiting, by tier.
    queue_depth: UpDownCounter<i64>,
    /// Time from queue entry to accept.
    queue_wait: Histogram<f64>,
    /// Offers by outcome.
    offers: Counter<u64>,
    /// Transfers by kind.
    transfers: Counter<u64>,
    /// Tokens opened.
    tokens_opened: Counter<u64>,
    /// Tokens refused, by the failed check.
    tokens_refused: Counter<u64>,
    /// Transfers whose token spared the customer identifying again.
    reidentifications_avoided: Counter<u64>,
    /// History events context could not take at once, by what became of them.
    deferred_events: Counter<u64>,
}

impl RoutingMetrics {
    /// Instruments created from `meter`.
    pub fn new(meter: &Meter) -> Self {
        Self {
            queue_depth: meter
                .i64_up_down_counter("baton.routing.queue.depth")
                .with_description("Contacts waiting for an agent (queued or offered), by tier")
                .with_unit("{contact}")
                .build(),
            queue_wait: meter
                .f64_histogram("baton.routing.queue.wait")
                .with_description(
                    "Time from a contact entering the queue on its current hop to an agent \
                     accepting it, by tier",
                )
                .with_unit("s")
                .with_boundaries(WAIT_BUCKETS.to_vec())
                .build(),
            offers: meter
                .u64_counter("baton.routing.offers")
                .with_description(
                    "Offers made to agents (offered) and how each ended (accepted, rejected, \
                     timed_out, withdrawn)",
                )
                .with_unit("{offer}")
                .build(),
            transfers: meter
                .u64_counter("baton.routing.transfers")
                .with_description("Transfers acknowledged, by kind (warm, cold, channel_switch)")
                .with_unit("{transfer}")
                .build(),
            tokens_opened: meter
                .u64_counter("baton.routing.tokens.opened")
                .with_description("Context tokens opened by OpenToken")
                .with_unit("{token}")
                .build(),
            tokens_refused: meter
                .u64_counter("baton.routing.tokens.refused")
                .with_description("Context tokens OpenToken refused, by the check that failed")
                .with_unit("{token}")
                .build(),
            reidentifications_avoided: meter
                .u64_counter("baton.routing.reidentifications_avoided")
                .with_description(
                    "Transfers and channel switches whose token carried a verification level \
                     of IDENTIFIED or better, so the next agent did not identify the customer \
                     again",
                )
                .with_unit("{transfer}")
                .build(),
            deferred_events: meter
                .u64_counter("baton.routing.history.deferred")
                .with_description(
                    "History events context could not take when they happened: queued in \
                     routing's store, then appended (delivered) or, when context refused them \
                     for good, dropped",
                )
                .with_unit("{event}")
                .build(),
        }
    }

    /// Instruments from the global meter provider installed now (a no-op one if none is).
    pub fn global() -> Self {
        Self::new(&opentelemetry::global::meter(METER))
    }

    /// Adds offer outcomes taken from the routing state.
    pub fn offers(&self, tally: &OfferTally) {
        for (outcome, n) in [
            ("offered", tally.offered),
            ("accepted", tally.accepted),
            ("rejected", tally.rejected),
            ("timed_out", tally.timed_out),
            ("withdrawn", tally.withdrawn),
        ] {
            if n > 0 {
                self.offers.add(n, &[KeyValue::new("outcome", outcome)]);
            }
        }
    }

    /// `delta` more (or fewer) contacts wait for `tier`.
    pub fn queue_depth(&self, tier: u32, delta: i64) {
        self.queue_depth
            .add(delta, &[KeyValue::new("tier", i64::from(tier))]);
    }

    /// An agent accepted a contact of `tier` that waited `seconds` on its current hop.
    pub fn queue_wait(&self, tier: u32, seconds: f64) {
        self.queue_wait
            .record(seconds, &[KeyValue::new("tier", i64::from(tier))]);
    }

    /// A transfer was acknowledged; `contact` is as it stands after it (its newest hop is the
    /// transfer, its verification is what the new token carries).
    pub fn transferred(&self, contact: &Contact) {
        let kind = match contact
            .path
            .last()
            .and_then(|hop| HopKind::try_from(hop.kind).ok())
        {
            Some(HopKind::WarmTransfer) => "warm",
            Some(HopKind::ChannelSwitch) => "channel_switch",
            _ => "cold",
        };
        let attributes = [KeyValue::new("kind", kind)];
        self.transfers.add(1, &attributes);
        let level = contact.verification.as_ref().map_or(0, |v| v.level);
        if level >= VerificationLevel::Identified as i32 {
            self.reidentifications_avoided.add(1, &attributes);
        }
    }

    /// OpenToken opened a token.
    pub fn token_opened(&self) {
        self.tokens_opened.add(1, &[]);
    }

    /// A history event was queued for context, delivered late, or dropped (`outcome`).
    pub fn deferred_event(&self, outcome: &'static str) {
        self.deferred_events
            .add(1, &[KeyValue::new("outcome", outcome)]);
    }

    /// OpenToken refused a token; `reason` is the failed check.
    pub fn token_refused(&self, reason: &'static str) {
        self.tokens_refused
            .add(1, &[KeyValue::new("reason", reason)]);
    }
}
