//! The materialized view of one customer's history.
//!
//! The view is a fold over the event log: [`apply`] is pure, so the view after `n` events is
//! always the same whether it was kept up to date one append at a time or rebuilt from the
//! whole log. It is stored as the contract's own [`ContextSnapshot`] (lists newest first, as
//! the contract documents them) so a backup stays readable by any protobuf tool, but it keeps
//! more than a snapshot shows: enough interactions, open cases, purchases and offers that a
//! late update still finds the record it changes. [`View::snapshot`] cuts it to the bounds
//! the contract promises callers.

use baton_proto::v1::{
    AutomatedStep, Case, CaseStatus, ContextSnapshot, Event, Interaction, OfferOutcome,
    OfferRecord, ProgressNote, Purchase, PurchaseStatus, Tenure, event::Payload,
};
use baton_runtime::time;
use prost_types::Timestamp;

mod merge;
#[cfg(test)]
mod tests;

pub use merge::snapshot_of_merged;

/// Interactions the view keeps (newest); a snapshot shows at most [`MAX_SNAPSHOT_INTERACTIONS`].
pub const KEPT_INTERACTIONS: usize = 200;
/// Open cases the view keeps (most recently updated); a snapshot shows [`SNAPSHOT_OPEN_CASES`].
pub const KEPT_OPEN_CASES: usize = 100;
/// Purchases the view keeps (newest), so a late status update still finds its order.
pub const KEPT_PURCHASES: usize = 200;
/// Offers the view keeps (most recently changed), so declined offers are remembered longer
/// than a snapshot shows them.
pub const KEPT_OFFERS: usize = 200;
/// Resolved cases kept and shown, newest first.
pub const RESOLVED_CASES: usize = 10;
/// Automated steps kept and shown, newest first.
pub const AUTOMATED_STEPS: usize = 20;
/// Progress notes kept per case, newest.
pub const CASE_NOTES: usize = 20;
/// Notes kept per interaction, newest.
pub const INTERACTION_NOTES: usize = 10;
/// Agents remembered per interaction, newest; a contact bounced between more agents than
/// this is an anomaly, and the view must stay bounded anyway.
pub const INTERACTION_AGENTS: usize = 20;
/// Channels remembered per interaction, newest, for the same reason.
pub const INTERACTION_CHANNELS: usize = 20;

/// Open cases in a snapshot.
pub const SNAPSHOT_OPEN_CASES: usize = 20;
/// Purchases in a snapshot.
pub const SNAPSHOT_PURCHASES: usize = 50;
/// Offers in a snapshot.
pub const SNAPSHOT_OFFERS: usize = 50;
/// Interactions in a snapshot when the caller does not say.
pub const DEFAULT_SNAPSHOT_INTERACTIONS: usize = 10;
/// Most interactions a snapshot may carry.
pub const MAX_SNAPSHOT_INTERACTIONS: usize = 50;

/// One customer's materialized view, at the version of the last event applied.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct View {
    /// The stored form. `truncated` here means the view itself dropped something.
    inner: ContextSnapshot,
}

impl View {
    /// The view of a customer with no history (version 0).
    pub fn empty(customer_id: &str) -> Self {
        Self {
            inner: ContextSnapshot {
                customer_id: customer_id.to_owned(),
                ..ContextSnapshot::default()
            },
        }
    }

    /// A view as it was stored.
    pub fn from_stored(stored: ContextSnapshot) -> Self {
        Self { inner: stored }
    }

    /// The form to store.
    pub fn as_stored(&self) -> &ContextSnapshot {
        &self.inner
    }

    /// The version: the sequence of the last event applied, 0 for none.
    pub fn version(&self) -> u64 {
        self.inner.version
    }

    /// The snapshot a caller sees: every list cut to the contract's bound, at most
    /// `max_interactions` interactions, `truncated` set when anything was left out. Takes the
    /// view, which keeps far more than a snapshot shows, so the cut drops the rest instead of
    /// copying it first.
    pub fn snapshot(self, max_interactions: usize) -> ContextSnapshot {
        let mut s = self.inner;
        let mut cut = s.truncated;
        cut |= cut_to(&mut s.recent_interactions, max_interactions);
        cut |= cut_to(&mut s.open_cases, SNAPSHOT_OPEN_CASES);
        cut |= cut_to(&mut s.purchases, SNAPSHOT_PURCHASES);
        cut |= cut_to(&mut s.offers, SNAPSHOT_OFFERS);
        cut |= cut_to(&mut s.resolved_cases, RESOLVED_CASES);
        cut |= cut_to(&mut s.automated_steps, AUTOMATED_STEPS);
        s.truncated = cut;
        s
    }
}

/// Folds one event into the view. The event must be the next in the history (its sequence
/// becomes the version); events about records the view no longer holds (an unknown case, an
/// interaction cut long ago) only move the version.
pub fn apply(view: &mut View, event: &Event) {
    let v = &mut view.inner;
    v.version = event.sequence;
    let at = event.occurred_at.or(event.recorded_at).unwrap_or_default();
    let tenure = v.tenure.get_or_insert_with(Tenure::default);
    if tenure
        .customer_since
        .is_none_or(|since| earlier(&at, &since))
    {
        tenure.customer_since = Some(at);
    }
    let Some(payload) = &event.payload else {
        return;
    };
    match payload {
        Payload::ContactStarted(started) => {
            if find(&v.recent_interactions, |i| i.contact_id == event.contact_id).is_some() {
                // A second start of a contact already recorded adds nothing new.
                return;
            }
            tenure.contact_count += 1;
            if tenure
                .last_contact_at
                .is_none_or(|last| !earlier(&at, &last))
            {
                tenure.last_contact_at = Some(at);
                tenure.last_channel = event.channel;
            }
            let interaction = Interaction {
                contact_id: event.contact_id.clone(),
                channel: event.channel,
                channels: vec![event.channel],
                started_at: Some(at),
                utterance: started.utterance.clone(),
                intent: started.intent.clone(),
                ..Interaction::default()
            };
            v.truncated |= push_newest(&mut v.recent_interactions, interaction, KEPT_INTERACTIONS);
        }
        Payload::ContactAssigned(assigned) => {
            if let Some(i) = interaction(&mut v.recent_interactions, &event.contact_id)
                && i.agent_ids.last() != Some(&assigned.agent_id)
            {
                v.truncated |= push_oldest_first(
                    &mut i.agent_ids,
                    assigned.agent_id.clone(),
                    INTERACTION_AGENTS,
                );
            }
        }
        Payload::ContactTransferred(transferred) => {
            if let Some(i) = interaction(&mut v.recent_interactions, &event.contact_id) {
                set_summary(i, transferred.handover.as_ref().map(|h| h.summary.as_str()));
            }
        }
        Payload::ChannelSwitched(switched) => {
            if let Some(i) = interaction(&mut v.recent_interactions, &event.contact_id) {
                v.truncated |=
                    push_oldest_first(&mut i.channels, switched.to_channel, INTERACTION_CHANNELS);
                set_summary(i, switched.handover.as_ref().map(|h| h.summary.as_str()));
            }
        }
        Payload::ContactEnded(ended) => {
            if let Some(i) = interaction(&mut v.recent_interactions, &event.contact_id) {
                i.ended_at = Some(at);
                i.disposition = ended.disposition;
                set_summary(i, Some(&ended.summary));
                i.reason_code.clone_from(&ended.reason_code);
                i.reason_label.clone_from(&ended.reason_label);
            }
        }
        Payload::Message(_) | Payload::TokenIssued(_) => {
            // Kept in the log only: a view of every message would not stay bounded.
        }
        Payload::Note(note) => {
            if !note.case_id.is_empty() {
                v.truncated |= add_progress_note(v, &note.case_id, &note.text, event, at);
            }
            if let Some(i) = interaction(&mut v.recent_interactions, &event.contact_id) {
                v.truncated |=
                    push_oldest_first(&mut i.notes, note.text.clone(), INTERACTION_NOTES);
            }
        }
        Payload::CaseOpened(opened) => {
            let case = match take(&mut v.resolved_cases, |c| c.case_id == opened.case_id) {
                // Reopening keeps the case's notes: the next agent reads what was tried.
                Some(mut reopened) => {
                    reopened.status = CaseStatus::Open as i32;
                    reopened.updated_at = Some(at);
                    reopened
                }
                None if find(&v.open_cases, |c| c.case_id == opened.case_id).is_some() => return,
                None => Case {
                    case_id: opened.case_id.clone(),
                    subject: opened.subject.clone(),
                    category: opened.category.clone(),
                    status: CaseStatus::Open as i32,
                    complaint: opened.complaint,
                    owner_agent_id: opened.owner_agent_id.clone(),
                    opened_at: Some(at),
                    updated_at: Some(at),
                    notes: Vec::new(),
                    contact_id: event.contact_id.clone(),
                },
            };
            v.truncated |= push_newest(&mut v.open_cases, case, KEPT_OPEN_CASES);
        }
        Payload::CaseUpdated(updated) => {
            if updated.status == CaseStatus::Resolved as i32 {
                v.truncated |= resolve(v, &updated.case_id, &updated.progress_note, event, at);
                return;
            }
            if let Some(case) = find_mut(&mut v.open_cases, |c| c.case_id == updated.case_id)
                && updated.status != CaseStatus::Unspecified as i32
            {
                case.status = updated.status;
            }
            v.truncated |=
                add_progress_note(v, &updated.case_id, &updated.progress_note, event, at);
        }
        Payload::CaseResolved(resolved) => {
            v.truncated |= resolve(v, &resolved.case_id, &resolved.resolution, event, at);
        }
        Payload::Purchase(made) => {
            if let Some(p) = find_mut(&mut v.purchases, |p| p.order_id == made.order_id) {
                // The same order recorded twice: the later record is the truth.
                p.status = made.status;
                if made.promised_by.is_some() {
                    p.promised_by = made.promised_by;
                }
                return;
            }
            let delivered = made.status == PurchaseStatus::Delivered as i32;
            let purchase = Purchase {
                order_id: made.order_id.clone(),
                product_id: made.product_id.clone(),
                product_name: made.product_name.clone(),
                category: made.category.clone(),
                amount: made.amount.clone(),
                status: made.status,
                purchased_at: Some(at),
                promised_by: made.promised_by,
                delivered_at: delivered.then_some(at),
            };
            v.truncated |= push_newest(&mut v.purchases, purchase, KEPT_PURCHASES);
        }
        Payload::PurchaseUpdated(updated) => {
            if let Some(p) = find_mut(&mut v.purchases, |p| p.order_id == updated.order_id) {
                if updated.status != PurchaseStatus::Unspecified as i32 {
                    p.status = updated.status;
                    if updated.status == PurchaseStatus::Delivered as i32 {
                        p.delivered_at = Some(at);
                    }
                }
                if updated.promised_by.is_some() {
                    p.promised_by = updated.promised_by;
                }
            }
        }
        Payload::OfferPresented(presented) => {
            v.truncated |= upsert_offer(v, &presented.offer_id, &presented.product_id, None, at);
        }
        Payload::OfferAnswered(answered) => {
            v.truncated |= upsert_offer(
                v,
                &answered.offer_id,
                &answered.product_id,
                Some(answered.outcome),
                at,
            );
        }
        Payload::AutomatedStep(step) => {
            // The view dates each step, so steps of several histories can be ordered.
            let step = AutomatedStep {
                at: Some(at),
                ..step.clone()
            };
            v.truncated |= push_newest(&mut v.automated_steps, step, AUTOMATED_STEPS);
        }
    }
}

/// Whether `a` is strictly before `b`.
fn earlier(a: &Timestamp, b: &Timestamp) -> bool {
    time::sort_key(a) < time::sort_key(b)
}

/// Cuts `list` to `max` items; true when something was cut.
fn cut_to<T>(list: &mut Vec<T>, max: usize) -> bool {
    let cut = list.len() > max;
    list.truncate(max);
    cut
}

/// Puts `item` first in a newest-first list of at most `max`; true when the oldest fell off.
fn push_newest<T>(list: &mut Vec<T>, item: T, max: usize) -> bool {
    list.insert(0, item);
    cut_to(list, max)
}

/// Appends `item` to an oldest-first list of at most `max`; true when the oldest fell off.
fn push_oldest_first<T>(list: &mut Vec<T>, item: T, max: usize) -> bool {
    list.push(item);
    let excess = list.len().saturating_sub(max);
    list.drain(..excess);
    excess > 0
}

fn find<T>(list: &[T], pred: impl Fn(&T) -> bool) -> Option<usize> {
    list.iter().position(pred)
}

fn find_mut<T>(list: &mut [T], pred: impl Fn(&T) -> bool) -> Option<&mut T> {
    list.iter_mut().find(|item| pred(item))
}

fn take<T>(list: &mut Vec<T>, pred: impl Fn(&T) -> bool) -> Option<T> {
    find(list, pred).map(|i| list.remove(i))
}

/// The interaction of a contact; events without a contact id belong to none.
fn interaction<'a>(list: &'a mut [Interaction], contact_id: &str) -> Option<&'a mut Interaction> {
    if contact_id.is_empty() {
        return None;
    }
    find_mut(list, |i| i.contact_id == contact_id)
}

/// Replaces the interaction's summary with a non-empty one.
fn set_summary(interaction: &mut Interaction, summary: Option<&str>) {
    if let Some(summary) = summary.filter(|s| !s.is_empty()) {
        interaction.summary = summary.to_owned();
    }
}

fn progress_note(text: &str, event: &Event, at: Timestamp) -> ProgressNote {
    ProgressNote {
        at: Some(at),
        author: event.actor.clone(),
        text: text.to_owned(),
        contact_id: event.contact_id.clone(),
    }
}

/// Adds a progress note (when `text` is not empty) to an open case and moves the case to the
/// front, as the most recently updated. Returns whether an old note fell off.
fn add_progress_note(
    v: &mut ContextSnapshot,
    case_id: &str,
    text: &str,
    event: &Event,
    at: Timestamp,
) -> bool {
    let Some(mut case) = take(&mut v.open_cases, |c| c.case_id == case_id) else {
        return false;
    };
    let mut cut = false;
    if !text.is_empty() {
        cut = push_oldest_first(&mut case.notes, progress_note(text, event, at), CASE_NOTES);
    }
    case.updated_at = Some(at);
    v.open_cases.insert(0, case);
    cut
}

/// Moves an open case to the resolved list, with `resolution` as its last note. Returns
/// whether anything fell off.
fn resolve(
    v: &mut ContextSnapshot,
    case_id: &str,
    resolution: &str,
    event: &Event,
    at: Timestamp,
) -> bool {
    let Some(mut case) = take(&mut v.open_cases, |c| c.case_id == case_id) else {
        return false;
    };
    let mut cut = false;
    if !resolution.is_empty() {
        cut = push_oldest_first(
            &mut case.notes,
            progress_note(resolution, event, at),
            CASE_NOTES,
        );
    }
    case.status = CaseStatus::Resolved as i32;
    case.updated_at = Some(at);
    cut | push_newest(&mut v.resolved_cases, case, RESOLVED_CASES)
}

/// Records an offer's latest state first in the list. `outcome` is `None` for a
/// presentation, which keeps any earlier answer.
fn upsert_offer(
    v: &mut ContextSnapshot,
    offer_id: &str,
    product_id: &str,
    outcome: Option<i32>,
    at: Timestamp,
) -> bool {
    let mut offer =
        take(&mut v.offers, |o| o.offer_id == offer_id).unwrap_or_else(|| OfferRecord {
            offer_id: offer_id.to_owned(),
            outcome: OfferOutcome::Unspecified as i32,
            ..OfferRecord::default()
        });
    if !product_id.is_empty() {
        offer.product_id = product_id.to_owned();
    }
    if let Some(outcome) = outcome {
        offer.outcome = outcome;
    }
    offer.at = Some(at);
    push_newest(&mut v.offers, offer, KEPT_OFFERS)
}
