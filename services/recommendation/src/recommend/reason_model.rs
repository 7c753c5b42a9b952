//! A contact-reason model learned from contacts whose reason was confirmed: multinomial
//! logistic regression over what the customer said and the detected intent.
//!
//! Features are the words of the utterance as article search analyzes them (lower case,
//! ASCII-folded, stopwords dropped, stemmed), adjacent word pairs, the words of the intent and
//! the intent whole. Beside the reason codes the softmax has a fixed "none of these" class
//! whose score is always 0, so a first example already teaches something and a contact
//! unlike anything learned keeps most of its probability there: probabilities are reported
//! as they are, summing to less than 1. Weights are kept per feature seen (no hashing, so every weight names what
//! it stands for), at most [`MAX_FEATURES`]; a feature first seen once the table is full is
//! ignored. Classes are the reason codes confirmed so far, in order of first appearance.
//!
//! Learning is online: [`ReasonModel::learn`] takes one softmax-gradient step per example with
//! AdaGrad step sizes and a small L2 penalty, so a replica folds in new confirmations as they
//! arrive without retraining; [`ReasonModel::fit`] makes a few shuffled passes over a batch
//! (for evaluation and for a rebuild). The model's version counts the examples it learned.

use std::collections::BTreeMap;

use tantivy::tokenizer::TextAnalyzer;

use super::articles::{analyzer, tokens};

/// The most features a model keeps weights for.
pub const MAX_FEATURES: usize = 200_000;
/// The most classes (reason codes) a model tells apart.
pub const MAX_CLASSES: usize = 256;
/// Base step size of AdaGrad.
const LEARNING_RATE: f64 = 0.5;
/// L2 penalty applied to the weights an example touches.
const L2: f64 = 1e-4;
/// Passes over a batch in [`ReasonModel::fit`].
pub const EPOCHS: usize = 8;

/// One contact whose reason is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Example {
    /// What the customer said.
    pub utterance: String,
    /// The detected intent, if any.
    pub intent: String,
    /// The confirmed reason code.
    pub code: String,
}

/// A class the model predicts, with its probability and the features that pushed it most.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// The reason code.
    pub code: String,
    /// Its probability among the classes the model knows.
    pub probability: f64,
    /// The present features with the largest positive weight for it, strongest first, as
    /// text an agent reads ("payment", "direct debit", intent "billing").
    pub because: Vec<String>,
}

/// Weights and AdaGrad accumulators of one feature, one per class.
#[derive(Clone, Debug, Default)]
struct Row {
    w: Vec<f64>,
    g2: Vec<f64>,
}

impl Row {
    fn weight(&self, class: usize) -> f64 {
        self.w.get(class).copied().unwrap_or(0.0)
    }

    fn step(&mut self, class: usize, gradient: f64) {
        if self.w.len() <= class {
            self.w.resize(class + 1, 0.0);
            self.g2.resize(class + 1, 0.0);
        }
        let g = gradient + L2 * self.w[class];
        self.g2[class] += g * g;
        self.w[class] -= LEARNING_RATE * g / (self.g2[class].sqrt() + 1e-8);
    }
}

/// The bias feature's key: present in every example.
const BIAS: &str = "";

/// A multinomial logistic model of contact reasons.
pub struct ReasonModel {
    analyzer: TextAnalyzer,
    classes: Vec<String>,
    rows: BTreeMap<String, Row>,
    learned: u64,
}

impl std::fmt::Debug for ReasonModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReasonModel")
            .field("classes", &self.classes)
            .field("features", &self.rows.len())
            .field("learned", &self.learned)
            .finish()
    }
}

impl Default for ReasonModel {
    fn default() -> Self {
        Self::new()
    }
}

impl ReasonModel {
    /// A model that knows nothing yet.
    pub fn new() -> Self {
        Self {
            analyzer: analyzer(),
            classes: Vec::new(),
            rows: BTreeMap::new(),
            learned: 0,
        }
    }

    /// Examples learned so far: the model's version.
    pub fn learned(&self) -> u64 {
        self.learned
    }

    /// The reason codes it tells apart.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// Features of one contact: words, adjacent pairs, intent words and the intent whole.
    pub fn features(&self, utterance: &str, intent: &str) -> Vec<String> {
        let mut analyzer = self.analyzer.clone();
        let words = tokens(&mut analyzer, utterance);
        let mut out: Vec<String> = words.iter().map(|w| format!("w:{w}")).collect();
        out.extend(words.windows(2).map(|p| format!("b:{} {}", p[0], p[1])));
        let intent = intent.trim().to_lowercase();
        if !intent.is_empty() {
            out.extend(
                tokens(&mut analyzer, &intent.replace(['_', '-', '.', ':'], " "))
                    .into_iter()
                    .map(|w| format!("i:{w}")),
            );
            out.push(format!("I:{intent}"));
        }
        out.sort();
        out.dedup();
        out
    }

    /// The probability of each class, and last of "none of these".
    fn scores(&self, features: &[String]) -> Vec<f64> {
        let mut scores = vec![0.0; self.classes.len() + 1];
        let known = self.classes.len();
        for key in std::iter::once(BIAS).chain(features.iter().map(String::as_str)) {
            if let Some(row) = self.rows.get(key) {
                for (c, s) in scores.iter_mut().enumerate().take(known) {
                    *s += row.weight(c);
                }
            }
        }
        softmax(&mut scores);
        scores
    }

    /// Learns one example: one gradient step. An example whose code would be a class past
    /// [`MAX_CLASSES`] is skipped.
    pub fn learn(&mut self, example: &Example) {
        let code = example.code.trim();
        if code.is_empty() {
            return;
        }
        let features = self.features(&example.utterance, &example.intent);
        self.learn_features(code, &features);
    }

    fn learn_features(&mut self, code: &str, features: &[String]) {
        let class = match self.classes.iter().position(|c| c == code) {
            Some(c) => c,
            None if self.classes.len() < MAX_CLASSES => {
                self.classes.push(code.to_owned());
                self.classes.len() - 1
            }
            None => return,
        };
        let probabilities = self.scores(features);
        for key in std::iter::once(BIAS).chain(features.iter().map(String::as_str)) {
            if !self.rows.contains_key(key) && self.rows.len() >= MAX_FEATURES {
                continue;
            }
            let row = self.rows.entry(key.to_owned()).or_default();
            for (c, p) in probabilities.iter().enumerate().take(self.classes.len()) {
                let target = if c == class { 1.0 } else { 0.0 };
                row.step(c, p - target);
            }
        }
        self.learned += 1;
    }

    /// Learns a batch: [`EPOCHS`] passes, each in an order shuffled by `seed`.
    pub fn fit(&mut self, examples: &[Example], seed: u64) {
        let featured: Vec<(&str, Vec<String>)> = examples
            .iter()
            .filter(|e| !e.code.trim().is_empty())
            .map(|e| (e.code.trim(), self.features(&e.utterance, &e.intent)))
            .collect();
        let mut order: Vec<usize> = (0..featured.len()).collect();
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        for _ in 0..EPOCHS {
            // Fisher-Yates with xorshift: the same seed gives the same model.
            for i in (1..order.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                order.swap(i, (state % (i as u64 + 1)) as usize);
            }
            for &i in &order {
                let (code, features) = &featured[i];
                self.learn_features(code, features);
            }
        }
    }

    /// The classes for this contact, most probable first, at most `max`; nothing when the
    /// model has learned nothing or `utterance` and `intent` hold no feature it knows.
    pub fn predict(&self, utterance: &str, intent: &str, max: usize) -> Vec<Prediction> {
        if self.classes.is_empty() {
            return Vec::new();
        }
        let features = self.features(utterance, intent);
        if !features.iter().any(|f| self.rows.contains_key(f)) {
            return Vec::new();
        }
        let mut probabilities = self.scores(&features);
        probabilities.pop();
        let mut ranked: Vec<(usize, f64)> = probabilities.into_iter().enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked
            .into_iter()
            .take(max)
            .map(|(class, probability)| {
                let mut pushes: Vec<(f64, &String)> = features
                    .iter()
                    .filter_map(|f| {
                        let w = self.rows.get(f)?.weight(class);
                        (w > 0.0).then_some((w, f))
                    })
                    .collect();
                pushes.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
                Prediction {
                    code: self.classes[class].clone(),
                    probability,
                    because: pushes.into_iter().take(3).map(|(_, f)| shown(f)).collect(),
                }
            })
            .collect()
    }
}

/// A feature as an agent reads it.
fn shown(feature: &str) -> String {
    match feature.split_once(':') {
        Some(("w" | "b", text)) => format!("\"{text}\""),
        Some(("i" | "I", text)) => format!("intent \"{text}\""),
        _ => feature.to_owned(),
    }
}

fn softmax(scores: &mut [f64]) {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        sum += *s;
    }
    if sum > 0.0 {
        scores.iter_mut().for_each(|s| *s /= sum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(utterance: &str, intent: &str, code: &str) -> Example {
        Example {
            utterance: utterance.into(),
            intent: intent.into(),
            code: code.into(),
        }
    }

    fn training() -> Vec<Example> {
        vec![
            example("my payment failed", "", "payment"),
            example("the direct debit bounced", "", "payment"),
            example("card payment declined again", "", "payment"),
            example("where is my parcel", "", "delivery"),
            example("parcel has not arrived", "", "delivery"),
            example("courier never came", "delivery_status", "delivery"),
            example("internet keeps dropping", "", "connectivity"),
            example("no broadband since monday", "", "connectivity"),
            example("", "broadband_fault", "connectivity"),
        ]
    }

    #[test]
    fn a_fitted_model_tells_reasons_apart_and_says_why() {
        let mut model = ReasonModel::new();
        model.fit(&training(), 7);
        assert_eq!(model.learned(), 9 * EPOCHS as u64);
        let top = |u: &str, i: &str| model.predict(u, i, 1)[0].code.clone();
        assert_eq!(top("payments failing", ""), "payment");
        assert_eq!(top("my parcels", ""), "delivery");
        assert_eq!(top("", "broadband_fault"), "connectivity");
        let p = &model.predict("the direct debit failed", "", 3);
        assert_eq!(p.len(), 3);
        assert!(p[0].probability > 0.5 && p[0].probability > p[1].probability);
        assert!(p[0].because.iter().any(|b| b.contains("debit")), "{p:?}");
        let total: f64 = p.iter().map(|x| x.probability).sum();
        assert!(total < 1.0);
    }

    #[test]
    fn learning_one_at_a_time_moves_the_prediction() {
        let mut model = ReasonModel::new();
        assert!(model.predict("router", "", 3).is_empty());
        model.learn(&example("my router is down", "", "connectivity"));
        model.learn(&example("refund for my order", "", "refund"));
        assert_eq!(
            model.predict("router broken", "", 1)[0].code,
            "connectivity"
        );
        assert_eq!(model.predict("a refund", "", 1)[0].code, "refund");
        // Words it never saw say nothing.
        assert!(model.predict("zebra", "", 3).is_empty());
        assert_eq!(model.learned(), 2);
    }

    #[test]
    fn the_same_seed_gives_the_same_model() {
        let (mut a, mut b) = (ReasonModel::new(), ReasonModel::new());
        a.fit(&training(), 3);
        b.fit(&training(), 3);
        assert_eq!(
            a.predict("payment parcel", "", 3),
            b.predict("payment parcel", "", 3)
        );
    }
}
