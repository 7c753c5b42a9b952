//! Next best actions: what the agent should do first, derived from the likely reasons and the
//! state of the customer's cases.
//!
//! Each reason maps to one action: the first of the tenant's rules for it that applies, else
//! the built-in one (which for a follow-up on a case waiting on the customer is to collect
//! what it waits for). The rationale is the reason's strongest evidence followed by what doing
//! the action achieves, so the agent sees why before acting.

use baton_proto::v1::{ActionRule, CaseStatus, ContactReason, NextBestAction};

use super::reason_code::ReasonCode;

/// `(action code, label, what it achieves)` for a reason.
fn action_for(reason: ReasonCode) -> (&'static str, &'static str, &'static str) {
    match reason {
        ReasonCode::LateDelivery => (
            "give_delivery_update",
            "Give a delivery update",
            "tell the customer where the order is and when it will arrive before they ask",
        ),
        ReasonCode::OpenCaseFollowUp => (
            "continue_case",
            "Continue the open case",
            "read the progress notes and carry on from there instead of starting over",
        ),
        ReasonCode::Complaint => (
            "acknowledge_complaint",
            "Acknowledge the complaint",
            "recognise the complaint first; promotions are paused while it is open",
        ),
        ReasonCode::RepeatContact => (
            "resolve_on_this_contact",
            "Resolve it on this contact",
            "the customer is coming back about something not yet solved",
        ),
        ReasonCode::ProductQuestion => (
            "offer_product_help",
            "Help with the recent purchase",
            "check the customer is getting on with what they just received",
        ),
        ReasonCode::BillingQuestion => (
            "review_recent_charges",
            "Review recent charges",
            "open the latest bill with the customer",
        ),
        ReasonCode::LoanApplication => (
            "confirm_details_on_record",
            "Confirm the details on record",
            "confirm what we already hold instead of asking for it again",
        ),
        ReasonCode::Refund => (
            "check_refund_status",
            "Check refund or return",
            "look up the return and when the money is due back",
        ),
        ReasonCode::Cancellation => (
            "review_cancellation",
            "Review the cancellation",
            "find out what the customer wants to cancel and why",
        ),
        ReasonCode::AccessProblem => (
            "help_with_access",
            "Help the customer log in",
            "verify identity, then reset access",
        ),
        ReasonCode::PaymentProblem => (
            "check_payment",
            "Check the failed payment",
            "see why the payment failed and take it again or set a new date",
        ),
        ReasonCode::OrderStatus => (
            "give_order_status",
            "Give the order status",
            "say where the order stands and what happens next before they ask",
        ),
        ReasonCode::Connectivity => (
            "check_connection",
            "Check the connection",
            "look for an outage and run the line test before troubleshooting with the customer",
        ),
    }
}

/// The built-in action for a reason, given the statuses of the customer's open cases.
fn built_in(
    reason: ReasonCode,
    cases: &[CaseStatus],
) -> (&'static str, &'static str, &'static str) {
    if reason == ReasonCode::OpenCaseFollowUp && cases.contains(&CaseStatus::WaitingOnCustomer) {
        return (
            "collect_what_the_case_needs",
            "Collect what the case is waiting for",
            "the case is waiting on the customer: ask for what it needs and move it on",
        );
    }
    action_for(reason)
}

/// One action per reason that has one, in the reasons' order, without duplicates (built-in
/// actions only).
pub fn next_best_actions(reasons: &[ContactReason]) -> Vec<NextBestAction> {
    next_best_actions_with(reasons, &[], &[])
}

/// One action per reason that has one, in the reasons' order, without duplicates: the first
/// of `rules` for the reason that applies (a rule with a case status applies while one of
/// `cases`, the statuses of the customer's open cases, is it), else the built-in action.
pub fn next_best_actions_with(
    reasons: &[ContactReason],
    rules: &[ActionRule],
    cases: &[CaseStatus],
) -> Vec<NextBestAction> {
    let mut actions: Vec<NextBestAction> = Vec::new();
    for reason in reasons {
        let ruled = rules.iter().find_map(|r| {
            let applies = r.reason_code == reason.code
                && (r.case_status() == CaseStatus::Unspecified || cases.contains(&r.case_status()));
            r.action.as_ref().filter(|_| applies)
        });
        let (action, label, achieves) = match (ruled, ReasonCode::from_code(&reason.code)) {
            (Some(a), _) => (a.code.as_str(), a.label.as_str(), a.rationale.as_str()),
            (None, Some(code)) => built_in(code, cases),
            (None, None) => continue,
        };
        if actions.iter().any(|a| a.code == action) {
            continue;
        }
        let rationale = match (reason.evidence.first(), achieves.is_empty()) {
            (Some(e), false) => format!("{}: {achieves}", e.text),
            (Some(e), true) => e.text.clone(),
            (None, _) => achieves.to_owned(),
        };
        actions.push(NextBestAction {
            code: action.to_owned(),
            label: label.to_owned(),
            rationale,
        });
    }
    actions
}

#[cfg(test)]
mod tests {
    use baton_proto::v1::Evidence;

    use super::*;

    fn reason(code: &str, text: &str) -> ContactReason {
        ContactReason {
            code: code.into(),
            label: String::new(),
            confidence: 0.5,
            evidence: vec![Evidence {
                kind: "order".into(),
                ref_id: "123".into(),
                text: text.into(),
            }],
        }
    }

    #[test]
    fn actions_follow_the_reasons_with_their_evidence_as_rationale() {
        let actions = next_best_actions(&[
            reason("late_delivery", "order 123 (Trail shoes) is 3 days late"),
            reason("loan_application", "the customer said \"loan\""),
            reason("unknown_reason", "ignored"),
        ]);
        let codes: Vec<&str> = actions.iter().map(|a| a.code.as_str()).collect();
        assert_eq!(codes, ["give_delivery_update", "confirm_details_on_record"]);
        assert_eq!(
            actions[0].rationale,
            "order 123 (Trail shoes) is 3 days late: tell the customer where the order is and \
             when it will arrive before they ask"
        );
    }

    fn rule(reason: &str, status: CaseStatus, code: &str) -> ActionRule {
        ActionRule {
            reason_code: reason.into(),
            case_status: status as i32,
            action: Some(NextBestAction {
                code: code.into(),
                label: format!("label of {code}"),
                rationale: String::new(),
            }),
        }
    }

    #[test]
    fn a_tenants_rules_come_first_and_may_depend_on_the_case_state() {
        let reasons = [
            reason("lost_card", "\"wallet\": 90% likely"),
            reason("open_case_follow_up", "case 42 open"),
            reason("late_delivery", "order 123 is 3 days late"),
        ];
        let rules = [
            rule("lost_card", CaseStatus::Unspecified, "freeze_card"),
            rule(
                "late_delivery",
                CaseStatus::InProgress,
                "escalate_to_courier",
            ),
        ];
        let codes = |cases: &[CaseStatus]| -> Vec<String> {
            next_best_actions_with(&reasons, &rules, cases)
                .into_iter()
                .map(|a| a.code)
                .collect()
        };
        assert_eq!(
            codes(&[]),
            ["freeze_card", "continue_case", "give_delivery_update"]
        );
        assert_eq!(
            codes(&[CaseStatus::InProgress, CaseStatus::WaitingOnCustomer]),
            [
                "freeze_card",
                "collect_what_the_case_needs",
                "escalate_to_courier"
            ]
        );
        let freeze = &next_best_actions_with(&reasons, &rules, &[])[0];
        assert_eq!(freeze.rationale, "\"wallet\": 90% likely");
        assert_eq!(freeze.label, "label of freeze_card");
    }

    #[test]
    fn every_reason_has_a_distinct_action() {
        let mut codes: Vec<&str> = ReasonCode::ALL.iter().map(|r| action_for(*r).0).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ReasonCode::ALL.len());
    }
}
