//! What to recommend, as pure functions of the customer's context and the stored signals.
//!
//! No gRPC and no storage here: every module takes plain data (the contract's prost messages
//! are used as data) and the current time from the caller, so each is unit-tested without a
//! network, a database or a clock.
//!
//! - [`reasons`]: likely contact reasons with evidence, from the snapshot and the utterance.
//! - [`reason_model`]: the reason model a tenant teaches with confirmed reasons.
//! - [`actions`]: next best actions from the top reasons.
//! - [`offers`]: catalog items to offer, respecting ownership, declines and complaints.
//! - [`purchase_model`]: the co-purchase model a tenant teaches with purchases, returns and
//!   declines.
//! - [`articles`]: knowledge articles by full-text search (BM25, stemming, fuzzy terms,
//!   synonyms), over an index the recommender keeps per tenant.
//! - [`greeting`]: the sentence that tells a customer they are known.
//!
//! The rest is vocabulary they share: [`reason_code`], [`keywords`], [`channels`], [`text`]
//! and [`calendar`].

pub mod actions;
pub mod articles;
pub mod calendar;
pub mod channels;
pub mod greeting;
pub mod keywords;
pub mod offers;
pub mod purchase_model;
pub mod reason_code;
pub mod reason_model;
pub mod reasons;
pub mod text;

#[cfg(test)]
mod fixtures;

/// The rule set that produced a recommendation, reported in `Recommendations.model_version`.
/// Bumped whenever a rule or weight changes, so outcomes can be attributed to what produced
/// them; a learned reason model that took part adds `+learned-N` (see
/// [`crate::Recommender`]).
pub const MODEL_VERSION: &str = "rules-2";

/// How many of each list a response may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Offers.
    pub offers: usize,
    /// Reasons (and so actions).
    pub reasons: usize,
    /// Articles.
    pub articles: usize,
}

impl Limits {
    /// Used for a limit the request leaves at 0.
    pub const DEFAULT: usize = 3;
    /// The most a request may ask for.
    pub const MAX: usize = 10;

    /// A requested limit: 0 means [`Self::DEFAULT`]; callers validate the maximum first.
    pub fn requested(raw: u32) -> usize {
        match raw {
            0 => Self::DEFAULT,
            n => (n as usize).min(Self::MAX),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            offers: Self::DEFAULT,
            reasons: Self::DEFAULT,
            articles: Self::DEFAULT,
        }
    }
}
