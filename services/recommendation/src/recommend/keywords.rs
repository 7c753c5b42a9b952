//! The keyword table: words a customer or an IVR uses, mapped to contact reasons.
//!
//! Exact word forms rather than prefixes, so "charger" (a product) never reads as "charge"
//! (billing). Phrases of several words match consecutive words.

use super::reason_code::ReasonCode;

/// `(phrase, reason)`: the phrase as lower-case words.
const TABLE: &[(&[&str], ReasonCode)] = &[
    (&["billing"], ReasonCode::BillingQuestion),
    (&["bill"], ReasonCode::BillingQuestion),
    (&["invoice"], ReasonCode::BillingQuestion),
    (&["invoices"], ReasonCode::BillingQuestion),
    (&["charge"], ReasonCode::BillingQuestion),
    (&["charged"], ReasonCode::BillingQuestion),
    (&["charges"], ReasonCode::BillingQuestion),
    (&["deliver"], ReasonCode::LateDelivery),
    (&["delivery"], ReasonCode::LateDelivery),
    (&["delivered"], ReasonCode::LateDelivery),
    (&["parcel"], ReasonCode::LateDelivery),
    (&["package"], ReasonCode::LateDelivery),
    (&["late"], ReasonCode::LateDelivery),
    (&["where", "is"], ReasonCode::LateDelivery),
    (&["tracking"], ReasonCode::LateDelivery),
    (&["loan"], ReasonCode::LoanApplication),
    (&["loans"], ReasonCode::LoanApplication),
    (&["mortgage"], ReasonCode::LoanApplication),
    (&["refund"], ReasonCode::Refund),
    (&["refunds"], ReasonCode::Refund),
    (&["refunded"], ReasonCode::Refund),
    (&["return"], ReasonCode::Refund),
    (&["returns"], ReasonCode::Refund),
    (&["returning"], ReasonCode::Refund),
    (&["cancel"], ReasonCode::Cancellation),
    (&["cancellation"], ReasonCode::Cancellation),
    (&["cancelled"], ReasonCode::Cancellation),
    (&["canceled"], ReasonCode::Cancellation),
    (&["password"], ReasonCode::AccessProblem),
    (&["login"], ReasonCode::AccessProblem),
    (&["log", "in"], ReasonCode::AccessProblem),
    (&["sign", "in"], ReasonCode::AccessProblem),
    (&["locked", "out"], ReasonCode::AccessProblem),
    (&["application"], ReasonCode::LoanApplication),
    (&["applied"], ReasonCode::LoanApplication),
    (&["borrow"], ReasonCode::LoanApplication),
    (&["lending"], ReasonCode::LoanApplication),
    (&["payment"], ReasonCode::PaymentProblem),
    (&["payments"], ReasonCode::PaymentProblem),
    (&["paid"], ReasonCode::PaymentProblem),
    (&["declined"], ReasonCode::PaymentProblem),
    (&["direct", "debit"], ReasonCode::PaymentProblem),
    (&["autopay"], ReasonCode::PaymentProblem),
    (&["order"], ReasonCode::OrderStatus),
    (&["orders"], ReasonCode::OrderStatus),
    (&["ordered"], ReasonCode::OrderStatus),
    (&["shipped"], ReasonCode::OrderStatus),
    (&["dispatched"], ReasonCode::OrderStatus),
    (&["internet"], ReasonCode::Connectivity),
    (&["broadband"], ReasonCode::Connectivity),
    (&["wifi"], ReasonCode::Connectivity),
    (&["wi", "fi"], ReasonCode::Connectivity),
    (&["connection"], ReasonCode::Connectivity),
    (&["connectivity"], ReasonCode::Connectivity),
    (&["disconnected"], ReasonCode::Connectivity),
    (&["disconnecting"], ReasonCode::Connectivity),
    (&["dropping"], ReasonCode::Connectivity),
    (&["outage"], ReasonCode::Connectivity),
    (&["signal"], ReasonCode::Connectivity),
    (&["router"], ReasonCode::Connectivity),
    (&["no", "service"], ReasonCode::Connectivity),
    (&["complaint"], ReasonCode::Complaint),
    (&["complain"], ReasonCode::Complaint),
    (&["complaining"], ReasonCode::Complaint),
    (&["unhappy"], ReasonCode::Complaint),
    (&["disappointed"], ReasonCode::Complaint),
    (&["unacceptable"], ReasonCode::Complaint),
    (&["terrible"], ReasonCode::Complaint),
    (&["appalling"], ReasonCode::Complaint),
    (&["ombudsman"], ReasonCode::Complaint),
];

/// A keyword found in some text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeywordMatch {
    /// The keyword as it is in the table ("where is").
    pub keyword: String,
    /// The reason it points to.
    pub reason: ReasonCode,
}

/// Every distinct keyword in `words` (lower-case words, in order), in order of first
/// appearance.
pub fn find(words: &[String]) -> Vec<KeywordMatch> {
    let mut found: Vec<KeywordMatch> = Vec::new();
    for start in 0..words.len() {
        for (phrase, reason) in TABLE {
            let end = start + phrase.len();
            let hit = end <= words.len()
                && words[start..end]
                    .iter()
                    .zip(phrase.iter())
                    .all(|(w, p)| w == p);
            if hit {
                let keyword = phrase.join(" ");
                if !found.iter().any(|m| m.keyword == keyword) {
                    found.push(KeywordMatch {
                        keyword,
                        reason: *reason,
                    });
                }
            }
        }
    }
    found
}

/// The reason an intent code points to: the code itself when it names a reason
/// ("loan_application"), else the first keyword among its words ("delivery_status").
pub fn reason_for_intent(intent: &str) -> Option<ReasonCode> {
    let intent = intent.trim().to_lowercase();
    ReasonCode::from_code(&intent)
        .or_else(|| find(&super::text::words(&intent)).first().map(|m| m.reason))
}

#[cfg(test)]
mod tests {
    use super::super::text::words;
    use super::*;

    fn reasons(text: &str) -> Vec<(String, ReasonCode)> {
        find(&words(text))
            .into_iter()
            .map(|m| (m.keyword, m.reason))
            .collect()
    }

    #[test]
    fn maps_words_to_reasons() {
        assert_eq!(
            reasons("I was charged twice on my invoice"),
            [
                ("charged".to_owned(), ReasonCode::BillingQuestion),
                ("invoice".to_owned(), ReasonCode::BillingQuestion)
            ]
        );
        assert_eq!(
            reasons("Where is my parcel?"),
            [
                ("where is".to_owned(), ReasonCode::LateDelivery),
                ("parcel".to_owned(), ReasonCode::LateDelivery)
            ]
        );
        assert_eq!(
            reasons("about my mortgage"),
            [("mortgage".to_owned(), ReasonCode::LoanApplication)]
        );
        assert_eq!(
            reasons("I want a refund or to cancel"),
            [
                ("refund".to_owned(), ReasonCode::Refund),
                ("cancel".to_owned(), ReasonCode::Cancellation)
            ]
        );
        assert_eq!(
            reasons("forgot my password, cannot log in"),
            [
                ("password".to_owned(), ReasonCode::AccessProblem),
                ("log in".to_owned(), ReasonCode::AccessProblem)
            ]
        );
    }

    #[test]
    fn word_forms_are_exact() {
        assert!(reasons("my phone charger broke").is_empty());
        assert!(reasons("").is_empty());
    }

    #[test]
    fn repeated_keywords_count_once() {
        assert_eq!(reasons("late late late").len(), 1);
    }

    #[test]
    fn intents_map_by_code_or_by_keyword() {
        assert_eq!(
            reason_for_intent("loan_application"),
            Some(ReasonCode::LoanApplication)
        );
        assert_eq!(
            reason_for_intent("delivery_status"),
            Some(ReasonCode::LateDelivery)
        );
        assert_eq!(
            reason_for_intent("order_status"),
            Some(ReasonCode::OrderStatus)
        );
        assert_eq!(
            reason_for_intent("broadband_fault"),
            Some(ReasonCode::Connectivity)
        );
        assert_eq!(reason_for_intent("weather"), None);
        assert_eq!(reason_for_intent(""), None);
    }
}
