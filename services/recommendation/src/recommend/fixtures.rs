//! Builders for snapshots in unit tests: one fixed "now" and dates relative to it.

use baton_proto::v1::{
    Case, CaseStatus, Channel, ContextSnapshot, Disposition, Interaction, OfferOutcome,
    OfferRecord, ProgressNote, Purchase, PurchaseStatus, Tenure,
};
use prost_types::Timestamp;

use super::calendar::{Date, SECONDS_PER_DAY, days_from_civil};

/// 2026-03-05 12:00:00 UTC.
pub const NOW: i64 = 1_772_712_000;

/// Midnight UTC on a date.
pub fn on(year: i64, month: u32, day: u32) -> i64 {
    days_from_civil(Date { year, month, day }) * SECONDS_PER_DAY
}

/// `n` days before [`NOW`].
pub fn days_before(n: i64) -> i64 {
    NOW - n * SECONDS_PER_DAY
}

/// A timestamp.
pub fn ts(seconds: i64) -> Option<Timestamp> {
    Some(Timestamp { seconds, nanos: 0 })
}

/// A purchase.
pub fn purchase(order: &str, product: &str, name: &str, status: PurchaseStatus) -> Purchase {
    Purchase {
        order_id: order.into(),
        product_id: product.into(),
        product_name: name.into(),
        status: status as i32,
        ..Default::default()
    }
}

/// An open case opened at `opened`, with progress notes at the given times.
pub fn open_case(id: &str, subject: &str, complaint: bool, opened: i64, notes: &[i64]) -> Case {
    Case {
        case_id: id.into(),
        subject: subject.into(),
        status: CaseStatus::InProgress as i32,
        complaint,
        opened_at: ts(opened),
        updated_at: notes.last().copied().map_or(ts(opened), ts),
        notes: notes
            .iter()
            .map(|&at| ProgressNote {
                at: ts(at),
                text: "checked with the warehouse".into(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// An ended interaction.
pub fn interaction(
    contact: &str,
    channel: Channel,
    started: i64,
    disposition: Disposition,
) -> Interaction {
    Interaction {
        contact_id: contact.into(),
        channel: channel as i32,
        channels: vec![channel as i32],
        started_at: ts(started),
        ended_at: ts(started + 600),
        disposition: disposition as i32,
        ..Default::default()
    }
}

/// An offer record.
pub fn offer(offer: &str, product: &str, outcome: OfferOutcome) -> OfferRecord {
    OfferRecord {
        offer_id: offer.into(),
        product_id: product.into(),
        outcome: outcome as i32,
        at: ts(days_before(1)),
    }
}

/// A snapshot of a customer who has been with us since `since`.
pub fn snapshot(customer: &str, since: Option<i64>) -> ContextSnapshot {
    ContextSnapshot {
        customer_id: customer.into(),
        version: 1,
        tenure: Some(Tenure {
            customer_since: since.and_then(ts),
            ..Default::default()
        }),
        ..Default::default()
    }
}
