//! Likely contact reasons, each with the evidence behind it.
//!
//! Pure: a function of the context snapshot, what the customer said on this contact and the
//! time the caller passes in. Every rule emits *signals* (a reason, a weight in (0, 1) and a
//! sentence an agent can check); [`combine`] folds the signals of one reason with a noisy-OR,
//! so independent evidence raises confidence without ever passing 1. A learned model later
//! replaces the weights, not the shape.

use baton_proto::v1::{
    AutomatedStep, Case, CaseStatus, ContactReason, ContextSnapshot, Disposition, Evidence,
    Interaction, Purchase, PurchaseStatus,
};

use std::collections::BTreeMap;

use super::calendar::{count_of, date_of, days_ago, whole_days};
use super::channels::channel_name;
use super::keywords;
use super::reason_code::ReasonCode;
use super::reason_model::Prediction;
use super::text::{clip, words};

/// Evidence sentences quote at most this many characters of any free text (subjects, names).
pub const MAX_QUOTED_CHARS: usize = 60;
/// Evidence items kept per reason (the strongest); every signal still counts towards the
/// confidence.
pub const MAX_EVIDENCE_PER_REASON: usize = 5;
/// How far back an unresolved contact makes a repeat contact likely.
pub const REPEAT_CONTACT_WINDOW_DAYS: i64 = 7;
/// How far back a delivery makes a product question likely.
pub const RECENT_DELIVERY_WINDOW_DAYS: i64 = 14;
/// A case not updated for this long is stale: the customer is more likely chasing it.
pub const STALE_CASE_DAYS: i64 = 3;
/// How far back an automated or back-office step still explains a contact.
pub const AUTOMATED_STEP_WINDOW_DAYS: i64 = 14;
/// Outcomes of an automated step that mean it did not get the customer what they wanted
/// (matched as parts of the outcome, lower case: "failed", "payment-declined").
const FAILED_OUTCOMES: &[&str] = &["fail", "error", "declin", "reject", "timeout", "timed-out"];

/// What the rules look at.
#[derive(Clone, Copy, Debug)]
pub struct ReasonInput<'a> {
    /// The customer's history as routing fetched it.
    pub snapshot: &'a ContextSnapshot,
    /// What the customer said on this contact.
    pub utterance: &'a str,
    /// The intent an IVR or bot detected, if any.
    pub intent: &'a str,
    /// The current time, seconds since the epoch.
    pub now: i64,
}

/// One piece of evidence for one reason.
#[derive(Clone, Debug, PartialEq)]
pub struct Signal {
    /// The reason it points to.
    pub reason: ReasonCode,
    /// How strongly, in (0, 1): the chance this evidence alone explains the contact.
    pub weight: f64,
    /// What an agent reads.
    pub evidence: Evidence,
}

/// A learned model's predictions for this contact (see [`super::reason_model`]).
#[derive(Clone, Copy, Debug)]
pub struct Learned<'a> {
    /// The predictions, most probable first.
    pub predictions: &'a [Prediction],
    /// Labels of the tenant's own codes, as confirmed.
    pub labels: &'a BTreeMap<String, String>,
    /// Confirmed contacts the model learned from.
    pub examples: u64,
}

/// A prediction counts from this probability on.
pub const MIN_LEARNED_PROBABILITY: f64 = 0.2;
/// A prediction's weight is its probability times this: a learned guess never outweighs a
/// late order on record.
const LEARNED_WEIGHT: f64 = 0.9;

/// The likely reasons for this contact, most likely first, at most `max`.
pub fn likely_reasons(input: &ReasonInput<'_>, max: usize) -> Vec<ContactReason> {
    combine(signals(input), max)
}

/// The likely reasons from the rules and a learned model together: a prediction of a code
/// the rules know is one more signal for it; one of the tenant's own codes is a reason of its
/// own, its confidence the prediction's weight.
pub fn likely_reasons_learned(
    input: &ReasonInput<'_>,
    learned: &Learned<'_>,
    max: usize,
) -> Vec<ContactReason> {
    let mut signals = signals(input);
    let mut own = Vec::new();
    for p in learned
        .predictions
        .iter()
        .filter(|p| p.probability >= MIN_LEARNED_PROBABILITY)
    {
        let weight = p.probability * LEARNED_WEIGHT;
        let said = if p.because.is_empty() {
            "what the customer said".to_owned()
        } else {
            p.because.join(", ")
        };
        let evidence = evidence(
            "utterance",
            "",
            format!(
                "{said}: {:.0}% likely, learned from {} confirmed contacts",
                p.probability * 100.0,
                learned.examples
            ),
        );
        match ReasonCode::from_code(&p.code) {
            Some(reason) => signals.push(Signal {
                reason,
                weight,
                evidence,
            }),
            None => own.push(ContactReason {
                label: learned
                    .labels
                    .get(&p.code)
                    .filter(|l| !l.is_empty())
                    .cloned()
                    .unwrap_or_else(|| label_of_code(&p.code)),
                code: p.code.clone(),
                confidence: weight.clamp(0.0, 1.0),
                evidence: vec![evidence],
            }),
        }
    }
    let mut reasons = combine(signals, usize::MAX);
    reasons.extend(own);
    // Stable: the rules' order among equals stays.
    reasons.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    reasons.truncate(max);
    reasons
}

/// "lost_card" → "Lost card".
fn label_of_code(code: &str) -> String {
    let words = code.replace('_', " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Every signal the rules find, in no particular order.
pub fn signals(input: &ReasonInput<'_>) -> Vec<Signal> {
    let snapshot = input.snapshot;
    let now = input.now;
    let mut out = Vec::new();
    for purchase in &snapshot.purchases {
        out.extend(late_delivery(purchase, now));
        out.extend(recent_delivery(purchase, now));
    }
    for case in &snapshot.open_cases {
        if case.status() == CaseStatus::Resolved {
            continue;
        }
        out.push(open_case(case, now));
        if case.complaint {
            out.push(complaint(case, now));
        }
    }
    for interaction in &snapshot.recent_interactions {
        out.extend(unresolved_contact(interaction, now));
    }
    for step in &snapshot.automated_steps {
        out.extend(automated_step(step, now));
    }
    out.extend(said(input.utterance));
    out.extend(detected_intent(input.intent));
    out
}

/// Folds signals into reasons: one per code, confidence the noisy-OR of its weights, the
/// strongest evidence first; sorted by confidence (ties in code order) and cut to `max`.
pub fn combine(signals: Vec<Signal>, max: usize) -> Vec<ContactReason> {
    /// One reason being folded: the chance no signal explains the contact, and the evidence.
    struct Fold {
        reason: ReasonCode,
        miss: f64,
        evidence: Vec<(f64, Evidence)>,
    }
    let mut folds: Vec<Fold> = Vec::new();
    for signal in signals {
        let weight = signal.weight.clamp(0.0, 1.0);
        if weight.is_nan() {
            continue;
        }
        match folds.iter_mut().find(|f| f.reason == signal.reason) {
            Some(fold) => {
                fold.miss *= 1.0 - weight;
                fold.evidence.push((weight, signal.evidence));
            }
            None => folds.push(Fold {
                reason: signal.reason,
                miss: 1.0 - weight,
                evidence: vec![(weight, signal.evidence)],
            }),
        }
    }
    let mut reasons: Vec<(ReasonCode, ContactReason)> = folds
        .into_iter()
        .map(
            |Fold {
                 reason,
                 miss,
                 mut evidence,
             }| {
                evidence.sort_by(|a, b| b.0.total_cmp(&a.0));
                evidence.truncate(MAX_EVIDENCE_PER_REASON);
                let contact_reason = ContactReason {
                    code: reason.code().to_owned(),
                    label: reason.label().to_owned(),
                    confidence: (1.0 - miss).clamp(0.0, 1.0),
                    evidence: evidence.into_iter().map(|(_, e)| e).collect(),
                };
                (reason, contact_reason)
            },
        )
        .collect();
    reasons.sort_by(|(ra, a), (rb, b)| b.confidence.total_cmp(&a.confidence).then(ra.cmp(rb)));
    reasons.truncate(max);
    reasons.into_iter().map(|(_, r)| r).collect()
}

fn evidence(kind: &str, ref_id: &str, text: String) -> Evidence {
    Evidence {
        kind: kind.to_owned(),
        ref_id: ref_id.to_owned(),
        text,
    }
}

/// "order 123 (Trail shoes)" or "order 123".
fn order_phrase(purchase: &Purchase) -> String {
    let name = clip(&purchase.product_name, MAX_QUOTED_CHARS);
    if name.is_empty() {
        format!("order {}", purchase.order_id)
    } else {
        format!("order {} ({name})", purchase.order_id)
    }
}

/// An order past its promised date and not delivered: the classic "where is my order" call.
fn late_delivery(purchase: &Purchase, now: i64) -> Option<Signal> {
    if matches!(
        purchase.status(),
        PurchaseStatus::Delivered | PurchaseStatus::Returned
    ) {
        return None;
    }
    let promised = purchase.promised_by.as_ref()?.seconds;
    if promised >= now {
        return None;
    }
    let days = whole_days(promised, now);
    let lateness = if days == 0 {
        "is less than a day late".to_owned()
    } else {
        format!("is {} late", count_of(days, "day"))
    };
    // The later it is, the likelier it is the reason: from 0.6 on the day to 0.9 after 6 days.
    let weight = 0.6 + 0.05 * days.clamp(0, 6) as f64;
    Some(Signal {
        reason: ReasonCode::LateDelivery,
        weight,
        evidence: evidence(
            "order",
            &purchase.order_id,
            format!("{} {lateness}", order_phrase(purchase)),
        ),
    })
}

/// Something delivered in the last two weeks: questions about using it are common.
fn recent_delivery(purchase: &Purchase, now: i64) -> Option<Signal> {
    if purchase.status() != PurchaseStatus::Delivered {
        return None;
    }
    let delivered = purchase.delivered_at.as_ref()?.seconds;
    let days = whole_days(delivered, now);
    if !(0..=RECENT_DELIVERY_WINDOW_DAYS).contains(&days) {
        return None;
    }
    Some(Signal {
        reason: ReasonCode::ProductQuestion,
        weight: 0.3,
        evidence: evidence(
            "order",
            &purchase.order_id,
            format!(
                "{} was delivered {}",
                order_phrase(purchase),
                days_ago(days)
            ),
        ),
    })
}

/// "case 'Refund for damaged kettle'" or "case 42" when it has no subject.
fn case_phrase(case: &Case) -> String {
    let subject = clip(&case.subject, MAX_QUOTED_CHARS);
    if subject.is_empty() {
        format!("case {}", case.case_id)
    } else {
        format!("case '{subject}'")
    }
}

/// When the case last moved: its newest progress note, else its update or opening time.
fn last_update(case: &Case) -> Option<i64> {
    case.notes
        .iter()
        .filter_map(|n| n.at.as_ref().map(|t| t.seconds))
        .max()
        .or(case.updated_at.as_ref().map(|t| t.seconds))
        .or(case.opened_at.as_ref().map(|t| t.seconds))
}

/// An open case: the customer is likely asking how it is going, more so when it is stale.
fn open_case(case: &Case, now: i64) -> Signal {
    let since = case
        .opened_at
        .as_ref()
        .map(|t| format!(" open since {}", date_of(t.seconds)))
        .unwrap_or_else(|| " open".to_owned());
    let update = case
        .notes
        .iter()
        .filter_map(|n| n.at.as_ref().map(|t| t.seconds))
        .max()
        .map(|at| format!("last update {}", days_ago(whole_days(at, now))))
        .unwrap_or_else(|| "no progress notes yet".to_owned());
    let stale = last_update(case).is_some_and(|at| whole_days(at, now) >= STALE_CASE_DAYS);
    let mut weight = 0.5;
    if stale {
        weight += 0.15;
    }
    if case.status() == CaseStatus::WaitingOnCustomer {
        weight += 0.1;
    }
    Signal {
        reason: ReasonCode::OpenCaseFollowUp,
        weight,
        evidence: evidence(
            "case",
            &case.case_id,
            format!("{}{since}, {update}", case_phrase(case)),
        ),
    }
}

/// An open complaint: whatever else the customer says, this colours the whole contact.
fn complaint(case: &Case, now: i64) -> Signal {
    let age = case
        .opened_at
        .as_ref()
        .map(|t| format!(", opened {}", days_ago(whole_days(t.seconds, now))))
        .unwrap_or_default();
    Signal {
        reason: ReasonCode::Complaint,
        weight: 0.9,
        evidence: evidence(
            "case",
            &case.case_id,
            format!("{} is an open complaint{age}", case_phrase(case)),
        ),
    }
}

/// A recent contact that ended without a resolution: the customer is coming back about it,
/// and, when it was wrapped up with a reason the rules know, most likely for that reason
/// again. The evidence names the reason whatever it is, so an agent reads what it was about.
fn unresolved_contact(interaction: &Interaction, now: i64) -> Vec<Signal> {
    let Some(repeat) = unresolved(interaction, now) else {
        return Vec::new();
    };
    // A contact wrapped up as a repeat contact points to nothing more than this one does.
    let again = ReasonCode::from_code(&interaction.reason_code)
        .filter(|reason| *reason != repeat.reason)
        .map(|reason| Signal {
            reason,
            weight: 0.6,
            evidence: repeat.evidence.clone(),
        });
    std::iter::once(repeat).chain(again).collect()
}

/// A label as it reads inside a sentence: "Lost or stolen card" → "lost or stolen card"
/// (only the first letter is lowered, so names in it keep their capitals).
fn in_a_sentence(label: &str) -> String {
    let mut chars = label.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The repeat-contact signal of one recent interaction, if it ended unresolved.
fn unresolved(interaction: &Interaction, now: i64) -> Option<Signal> {
    // An interaction without an end is ongoing: most likely this very contact.
    interaction.ended_at.as_ref()?;
    let started = interaction.started_at.as_ref()?.seconds;
    let days = whole_days(started, now);
    if !(0..=REPEAT_CONTACT_WINDOW_DAYS).contains(&days) {
        return None;
    }
    let how = match interaction.disposition() {
        Disposition::Resolved => return None,
        Disposition::FollowUp => "with a follow-up pending",
        Disposition::Abandoned => "before the customer was helped",
        Disposition::TransferredOut => "in a transfer outside the contact centre",
        Disposition::Unspecified => "without a resolution",
    };
    let channel = channel_name(interaction.channel());
    let mut what = if channel.is_empty() {
        "a contact".to_owned()
    } else {
        format!("a {channel} contact")
    };
    let about = match (&interaction.reason_label, &interaction.reason_code) {
        (label, _) if !label.is_empty() => in_a_sentence(label),
        (_, code) if !code.is_empty() => ReasonCode::from_code(code)
            .map_or_else(|| code.replace('_', " "), |r| in_a_sentence(r.label())),
        _ => String::new(),
    };
    if !about.is_empty() {
        what = format!("{what} about {about}");
    }
    Some(Signal {
        reason: ReasonCode::RepeatContact,
        weight: 0.6,
        evidence: evidence(
            "interaction",
            &interaction.contact_id,
            format!("{what} {} ended {how}", days_ago(days)),
        ),
    })
}

/// A recent automated or back-office step about something a keyword names ("payment:autopay"
/// failed, "loan-workflow" at "state:underwriting"): a failed one, or one the bot handed to an
/// agent, is likely why the customer is calling; one still under way, less so.
fn automated_step(step: &AutomatedStep, now: i64) -> Option<Signal> {
    let at = step.at.as_ref()?.seconds;
    let days = whole_days(at, now);
    if !(0..=AUTOMATED_STEP_WINDOW_DAYS).contains(&days) {
        return None;
    }
    // The step says more than the system it ran on ("payment:autopay" on "billing").
    let reason = [&step.step, &step.system]
        .into_iter()
        .find_map(|text| keywords::find(&words(text)).first().map(|m| m.reason))?;
    let outcome = step.outcome.trim().to_lowercase();
    let (weight, how) = if FAILED_OUTCOMES.iter().any(|f| outcome.contains(f)) {
        (0.7, "failed".to_owned())
    } else if outcome.contains("agent") {
        (0.6, "was handed to an agent".to_owned())
    } else if outcome.is_empty() {
        (0.35, "ran".to_owned())
    } else {
        (0.35, format!("ended {}", clip(&outcome, MAX_QUOTED_CHARS)))
    };
    Some(Signal {
        reason,
        weight,
        evidence: evidence(
            "automated_step",
            "",
            format!(
                "automated step \"{}\" of {} {how} {}",
                clip(step.step.trim(), MAX_QUOTED_CHARS),
                clip(step.system.trim(), MAX_QUOTED_CHARS),
                days_ago(days)
            ),
        ),
    })
}

/// Keywords in what the customer said. The evidence names the keyword, never the utterance.
fn said(utterance: &str) -> Vec<Signal> {
    keywords::find(&words(utterance))
        .into_iter()
        .map(|m| Signal {
            reason: m.reason,
            weight: 0.5,
            evidence: evidence(
                "utterance",
                "",
                format!("the customer said \"{}\"", m.keyword),
            ),
        })
        .collect()
}

/// The intent an IVR or bot detected, when it maps to a reason.
fn detected_intent(intent: &str) -> Option<Signal> {
    let reason = keywords::reason_for_intent(intent)?;
    Some(Signal {
        reason,
        weight: 0.6,
        evidence: evidence(
            "utterance",
            "",
            format!(
                "detected intent \"{}\"",
                clip(intent.trim(), MAX_QUOTED_CHARS)
            ),
        ),
    })
}

#[cfg(test)]
#[path = "reasons_tests.rs"]
mod tests;
