//! Offline evaluation of likely contact reasons against contacts whose reason is known.
//!
//! The contacts are ordered by time (file order when they have none); the first
//! [`TRAIN_SHARE`] train the learned model ([`ReasonModel::fit`]) and the rest are held out.
//! For each held-out contact three rankers list reasons from what was said and the intent:
//! the learned model, the rules alone (the keyword and intent rules `Recommend` runs, with
//! no history), and the most frequent reason of the training contacts (the baseline any model
//! should beat). Each is scored by accuracy at 1 (the first reason is the confirmed one) and
//! at 3.

use std::collections::BTreeMap;
use std::fmt;

use baton_proto::v1::ContextSnapshot;

use crate::recommend::reason_model::{Example, ReasonModel};
use crate::recommend::reasons::{ReasonInput, likely_reasons};

/// The share of contacts, oldest first, the model learns from.
pub const TRAIN_SHARE: f64 = 0.8;
/// Reasons listed per contact.
const LISTED: usize = 3;

/// One contact with its confirmed reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Labelled {
    /// When, seconds since the epoch; contacts are ordered by it.
    pub at: i64,
    /// What the customer said.
    pub utterance: String,
    /// The detected intent, if any.
    pub intent: String,
    /// The confirmed reason code.
    pub code: String,
}

/// Accuracy of one ranker.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Accuracy {
    /// The first reason listed is the confirmed one.
    pub at_1: f64,
    /// The confirmed reason is among the first three.
    pub at_3: f64,
}

/// What an evaluation measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReasonsReport {
    /// Contacts learned from.
    pub trained: usize,
    /// Contacts held out and scored.
    pub held_out: usize,
    /// Reason codes among the training contacts.
    pub classes: usize,
    /// The learned model.
    pub model: Accuracy,
    /// The rules alone.
    pub rules: Accuracy,
    /// The most frequent training reason.
    pub majority: Accuracy,
}

impl fmt::Display for ReasonsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} contacts learned, {} held out, {} reasons",
            self.trained, self.held_out, self.classes
        )?;
        writeln!(f, "{:<16} {:>8} {:>8}", "", "acc@1", "acc@3")?;
        for (name, a) in [
            ("learned model", self.model),
            ("rules", self.rules),
            ("most frequent", self.majority),
        ] {
            writeln!(f, "{name:<16} {:>8.3} {:>8.3}", a.at_1, a.at_3)?;
        }
        Ok(())
    }
}

/// Splits by time, trains, and scores the three rankers on the held-out contacts.
pub fn evaluate(contacts: &[Labelled], seed: u64) -> ReasonsReport {
    let mut ordered: Vec<&Labelled> = contacts.iter().collect();
    ordered.sort_by_key(|c| c.at);
    let cut = ((ordered.len() as f64) * TRAIN_SHARE).round() as usize;
    let (train, test) = ordered.split_at(cut.min(ordered.len()));

    let examples: Vec<Example> = train
        .iter()
        .map(|c| Example {
            utterance: c.utterance.clone(),
            intent: c.intent.clone(),
            code: c.code.clone(),
        })
        .collect();
    let mut model = ReasonModel::new();
    model.fit(&examples, seed);

    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for c in train {
        *counts.entry(c.code.as_str()).or_default() += 1;
    }
    let mut by_count: Vec<(&str, usize)> = counts.iter().map(|(c, n)| (*c, *n)).collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let majority: Vec<String> = by_count
        .iter()
        .take(LISTED)
        .map(|(c, _)| (*c).to_owned())
        .collect();

    let empty = ContextSnapshot::default();
    let (mut learned, mut rules, mut frequent) = (Vec::new(), Vec::new(), Vec::new());
    for c in test {
        let predicted: Vec<String> = model
            .predict(&c.utterance, &c.intent, LISTED)
            .into_iter()
            .map(|p| p.code)
            .collect();
        learned.push(hit(&predicted, &c.code));
        let ruled: Vec<String> = likely_reasons(
            &ReasonInput {
                snapshot: &empty,
                utterance: &c.utterance,
                intent: &c.intent,
                now: c.at,
            },
            LISTED,
        )
        .into_iter()
        .map(|r| r.code)
        .collect();
        rules.push(hit(&ruled, &c.code));
        frequent.push(hit(&majority, &c.code));
    }
    ReasonsReport {
        trained: train.len(),
        held_out: test.len(),
        classes: counts.len(),
        model: mean(&learned),
        rules: mean(&rules),
        majority: mean(&frequent),
    }
}

/// (first is right, among the first three).
fn hit(listed: &[String], code: &str) -> (bool, bool) {
    (
        listed.first().is_some_and(|c| c == code),
        listed.iter().take(LISTED).any(|c| c == code),
    )
}

fn mean(hits: &[(bool, bool)]) -> Accuracy {
    let n = hits.len().max(1) as f64;
    Accuracy {
        at_1: hits.iter().filter(|h| h.0).count() as f64 / n,
        at_3: hits.iter().filter(|h| h.1).count() as f64 / n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(at: i64, utterance: &str, code: &str) -> Labelled {
        Labelled {
            at,
            utterance: utterance.into(),
            intent: String::new(),
            code: code.into(),
        }
    }

    #[test]
    fn the_newest_contacts_are_held_out_and_scored_three_ways() {
        let mut contacts = Vec::new();
        for i in 0..8 {
            contacts.push(contact(
                i * 10,
                "my router keeps dropping",
                "connectivity_problem",
            ));
            contacts.push(contact(
                i * 10 + 1,
                "charged twice on my bill",
                "billing_question",
            ));
            contacts.push(contact(
                i * 10 + 2,
                "the wifi is down",
                "connectivity_problem",
            ));
        }
        let report = evaluate(&contacts, 7);
        assert_eq!(
            (report.trained, report.held_out, report.classes),
            (19, 5, 2)
        );
        assert_eq!(report.model.at_1, 1.0);
        // The rules know these words too, and the most frequent reason is right 3 times in 5.
        assert_eq!(report.rules.at_1, 1.0);
        assert!((report.majority.at_1 - 0.6).abs() < 1e-9);
        assert_eq!(report.majority.at_3, 1.0);
        let text = report.to_string();
        assert!(text.contains("learned model") && text.contains("most frequent"));
    }
}
