use baton_proto::v1::{CaseStatus, Channel, ContextSnapshot, Disposition, PurchaseStatus};
use proptest::prelude::*;

use super::*;
use crate::recommend::fixtures::{
    NOW, days_before, interaction, on, open_case, purchase, snapshot, ts,
};

fn reasons_for(snapshot: &ContextSnapshot, utterance: &str, intent: &str) -> Vec<ContactReason> {
    likely_reasons(
        &ReasonInput {
            snapshot,
            utterance,
            intent,
            now: NOW,
        },
        10,
    )
}

fn codes(reasons: &[ContactReason]) -> Vec<&str> {
    reasons.iter().map(|r| r.code.as_str()).collect()
}

#[test]
fn a_late_order_is_evidence_of_a_late_delivery() {
    let mut s = snapshot("c1", None);
    let mut late = purchase("123", "p-shoes", "Trail shoes", PurchaseStatus::Shipped);
    late.promised_by = ts(days_before(3));
    let mut on_time = purchase("124", "p-socks", "Merino socks", PurchaseStatus::Ordered);
    on_time.promised_by = ts(NOW + 86_400);
    let mut delivered = purchase("125", "p-cap", "Cap", PurchaseStatus::Delivered);
    delivered.promised_by = ts(days_before(30));
    s.purchases = vec![late, on_time, delivered];

    let reasons = reasons_for(&s, "", "");
    assert_eq!(codes(&reasons), ["late_delivery"]);
    let evidence = &reasons[0].evidence;
    assert_eq!(evidence.len(), 1);
    assert_eq!(evidence[0].kind, "order");
    assert_eq!(evidence[0].ref_id, "123");
    assert_eq!(evidence[0].text, "order 123 (Trail shoes) is 3 days late");
    assert_eq!(reasons[0].label, "Late delivery");
}

#[test]
fn lateness_reads_naturally_on_the_first_days() {
    let mut s = snapshot("c1", None);
    let mut today = purchase("1", "p", "", PurchaseStatus::Ordered);
    today.promised_by = ts(NOW - 3_600);
    let mut yesterday = purchase("2", "p", "Kettle", PurchaseStatus::Ordered);
    yesterday.promised_by = ts(days_before(1));
    s.purchases = vec![today, yesterday];
    let texts: Vec<String> = reasons_for(&s, "", "")[0]
        .evidence
        .iter()
        .map(|e| e.text.clone())
        .collect();
    assert_eq!(
        texts,
        [
            "order 2 (Kettle) is 1 day late",
            "order 1 is less than a day late"
        ]
    );
}

#[test]
fn an_open_case_names_its_subject_and_its_last_update() {
    let mut s = snapshot("c1", None);
    s.open_cases = vec![open_case(
        "case-9",
        "Refund for damaged kettle",
        false,
        on(2026, 3, 2),
        &[on(2026, 3, 2) + 3_600, days_before(2)],
    )];
    let reasons = reasons_for(&s, "", "");
    assert_eq!(codes(&reasons), ["open_case_follow_up"]);
    let e = &reasons[0].evidence[0];
    assert_eq!(e.kind, "case");
    assert_eq!(e.ref_id, "case-9");
    assert_eq!(
        e.text,
        "case 'Refund for damaged kettle' open since 2026-03-02, last update 2 days ago"
    );
}

#[test]
fn a_case_without_notes_says_so_and_stale_cases_weigh_more() {
    let mut s = snapshot("c1", None);
    s.open_cases = vec![open_case(
        "c-old",
        "Broken lid",
        false,
        days_before(10),
        &[],
    )];
    let stale = reasons_for(&s, "", "");
    assert_eq!(
        stale[0].evidence[0].text,
        "case 'Broken lid' open since 2026-02-23, no progress notes yet"
    );
    s.open_cases = vec![open_case("c-new", "Broken lid", false, days_before(1), &[])];
    let fresh = reasons_for(&s, "", "");
    assert!(stale[0].confidence > fresh[0].confidence);
}

#[test]
fn a_complaint_ranks_above_everything_else() {
    let mut s = snapshot("c1", None);
    let mut late = purchase("123", "p", "Trail shoes", PurchaseStatus::Shipped);
    late.promised_by = ts(days_before(1));
    let mut delivered = purchase("77", "p2", "Tent", PurchaseStatus::Delivered);
    delivered.delivered_at = ts(days_before(3));
    s.purchases = vec![late, delivered];
    s.open_cases = vec![
        open_case("c-1", "Rude driver", true, days_before(4), &[]),
        open_case("c-2", "Address change", false, days_before(1), &[]),
    ];
    let reasons = reasons_for(&s, "", "");
    assert_eq!(reasons[0].code, "complaint");
    assert_eq!(
        reasons[0].evidence[0].text,
        "case 'Rude driver' is an open complaint, opened 4 days ago"
    );
    assert!(codes(&reasons).contains(&"open_case_follow_up"));
    assert_eq!(
        reasons.last().map(|r| r.code.as_str()),
        Some("product_question")
    );
}

#[test]
fn an_unresolved_recent_contact_is_a_repeat_contact() {
    let mut s = snapshot("c1", None);
    s.recent_interactions = vec![
        interaction("k-1", Channel::Chat, days_before(2), Disposition::FollowUp),
        interaction("k-2", Channel::Voice, days_before(3), Disposition::Resolved),
        interaction(
            "k-3",
            Channel::Voice,
            days_before(9),
            Disposition::Abandoned,
        ),
    ];
    let mut ongoing = interaction("k-now", Channel::Voice, NOW, Disposition::Unspecified);
    ongoing.ended_at = None;
    s.recent_interactions.insert(0, ongoing);
    let reasons = reasons_for(&s, "", "");
    assert_eq!(codes(&reasons), ["repeat_contact"]);
    let e = &reasons[0].evidence;
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].kind, "interaction");
    assert_eq!(e[0].ref_id, "k-1");
    assert_eq!(
        e[0].text,
        "a chat contact 2 days ago ended with a follow-up pending"
    );
}

#[test]
fn an_unresolved_contact_says_what_it_was_wrapped_up_as_and_points_to_that_reason_again() {
    let mut s = snapshot("c1", None);
    let mut billing = interaction("k-1", Channel::Voice, days_before(2), Disposition::FollowUp);
    billing.reason_code = "billing_question".into();
    let mut own = interaction("k-2", Channel::Chat, days_before(3), Disposition::Abandoned);
    own.reason_code = "lost_card".into();
    own.reason_label = "Lost or stolen card".into();
    s.recent_interactions = vec![billing, own];
    let reasons = reasons_for(&s, "", "");
    assert_eq!(codes(&reasons), ["repeat_contact", "billing_question"]);
    let texts = |r: &ContactReason| {
        r.evidence
            .iter()
            .map(|e| e.text.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        texts(&reasons[0]),
        [
            "a voice contact about billing question 2 days ago ended with a follow-up pending",
            "a chat contact about lost or stolen card 3 days ago ended before the customer was helped",
        ]
    );
    // The code the rules know is a reason again, on the same evidence; the tenant's own code
    // is named, and left to the learned model.
    assert_eq!(texts(&reasons[1]), [texts(&reasons[0])[0].clone()]);

    // One wrapped up as a repeat contact counts once, not twice.
    let mut repeat = interaction("k-4", Channel::Voice, days_before(1), Disposition::FollowUp);
    repeat.reason_code = "repeat_contact".into();
    s.recent_interactions = vec![repeat];
    let reasons = reasons_for(&s, "", "");
    assert_eq!(codes(&reasons), ["repeat_contact"]);
    assert_eq!(reasons[0].evidence.len(), 1);
    assert!((reasons[0].confidence - 0.6).abs() < 1e-9, "{reasons:?}");

    // A resolved contact points nowhere, whatever it was about.
    let mut done = interaction("k-3", Channel::Voice, days_before(1), Disposition::Resolved);
    done.reason_code = "billing_question".into();
    s.recent_interactions = vec![done];
    assert!(reasons_for(&s, "", "").is_empty());
}

#[test]
fn a_recent_delivery_is_a_weak_product_question() {
    let mut s = snapshot("c1", None);
    let mut recent = purchase("77", "p2", "Tent", PurchaseStatus::Delivered);
    recent.delivered_at = ts(days_before(3));
    let mut old = purchase("78", "p3", "Stove", PurchaseStatus::Delivered);
    old.delivered_at = ts(days_before(20));
    s.purchases = vec![recent, old];
    let reasons = reasons_for(&s, "", "");
    assert_eq!(codes(&reasons), ["product_question"]);
    assert!(reasons[0].confidence < 0.5);
    assert_eq!(
        reasons[0].evidence[0].text,
        "order 77 (Tent) was delivered 3 days ago"
    );
}

#[test]
fn keywords_in_the_utterance_point_to_reasons_without_quoting_it() {
    let s = snapshot("c1", None);
    let reasons = reasons_for(&s, "Hi, I think my last invoice charged me twice", "");
    assert_eq!(codes(&reasons), ["billing_question"]);
    let texts: Vec<&str> = reasons[0]
        .evidence
        .iter()
        .map(|e| e.text.as_str())
        .collect();
    assert_eq!(
        texts,
        [
            "the customer said \"invoice\"",
            "the customer said \"charged\""
        ]
    );
    assert!(reasons[0].evidence.iter().all(|e| e.kind == "utterance"));

    for (utterance, code) in [
        ("where is my parcel", "late_delivery"),
        ("I'd like a mortgage", "loan_application"),
        ("can I return this", "refund"),
        ("cancel my subscription", "cancellation"),
        ("I forgot my password", "access_problem"),
    ] {
        assert_eq!(
            codes(&reasons_for(&s, utterance, "")),
            [code],
            "{utterance}"
        );
    }
}

#[test]
fn saying_it_is_late_boosts_a_late_order() {
    let mut s = snapshot("c1", None);
    let mut late = purchase("123", "p", "Trail shoes", PurchaseStatus::Shipped);
    late.promised_by = ts(days_before(1));
    s.purchases = vec![late];
    let silent = reasons_for(&s, "", "")[0].confidence;
    let said = reasons_for(&s, "my parcel is late", "")[0].confidence;
    assert!(said > silent, "{said} <= {silent}");
}

#[test]
fn a_detected_intent_counts_as_evidence() {
    let s = snapshot("c1", None);
    let reasons = reasons_for(&s, "", "loan_application");
    assert_eq!(codes(&reasons), ["loan_application"]);
    assert_eq!(
        reasons[0].evidence[0].text,
        "detected intent \"loan_application\""
    );
}

#[test]
fn resolved_cases_listed_as_open_are_ignored() {
    let mut s = snapshot("c1", None);
    let mut case = open_case("c-1", "Done", true, days_before(4), &[]);
    case.status = CaseStatus::Resolved as i32;
    s.open_cases = vec![case];
    assert!(reasons_for(&s, "", "").is_empty());
}

#[test]
fn max_limits_the_reasons() {
    let s = snapshot("c1", None);
    let reasons = likely_reasons(
        &ReasonInput {
            snapshot: &s,
            utterance: "invoice refund cancel password mortgage",
            intent: "",
            now: NOW,
        },
        3,
    );
    assert_eq!(reasons.len(), 3);
}

fn arb_reason() -> impl Strategy<Value = ReasonCode> {
    prop::sample::select(ReasonCode::ALL.to_vec())
}

fn arb_signal() -> impl Strategy<Value = Signal> {
    (arb_reason(), 0.0f64..=1.0, "[a-z]{0,8}").prop_map(|(reason, weight, text)| Signal {
        reason,
        weight,
        evidence: Evidence {
            kind: "utterance".into(),
            ref_id: String::new(),
            text,
        },
    })
}

proptest! {
    #[test]
    fn combined_reasons_are_bounded_unique_and_sorted(
        signals in prop::collection::vec(arb_signal(), 0..40),
        max in 0usize..12,
    ) {
        let reasons = combine(signals, max);
        prop_assert!(reasons.len() <= max);
        let mut seen = std::collections::BTreeSet::new();
        for r in &reasons {
            prop_assert!((0.0..=1.0).contains(&r.confidence));
            prop_assert!(seen.insert(r.code.clone()), "duplicate {}", r.code);
            prop_assert!(r.evidence.len() <= MAX_EVIDENCE_PER_REASON);
            prop_assert!(!r.evidence.is_empty());
        }
        prop_assert!(reasons.windows(2).all(|w| w[0].confidence >= w[1].confidence));
    }

    #[test]
    fn more_evidence_never_lowers_confidence(
        signals in prop::collection::vec(arb_signal(), 1..20),
        extra in arb_signal(),
    ) {
        let reason = extra.reason.code();
        let before = combine(signals.clone(), 10)
            .into_iter()
            .find(|r| r.code == reason)
            .map_or(0.0, |r| r.confidence);
        let mut more = signals;
        more.push(extra);
        let after = combine(more, 10)
            .into_iter()
            .find(|r| r.code == reason)
            .map_or(0.0, |r| r.confidence);
        prop_assert!(after >= before);
    }
}

#[test]
fn a_failed_automated_payment_is_evidence_of_a_payment_problem() {
    let mut s = snapshot("c1", None);
    s.automated_steps = vec![
        baton_proto::v1::AutomatedStep {
            system: "billing".into(),
            step: "payment:autopay".into(),
            outcome: "failed".into(),
            at: ts(days_before(1)),
        },
        // Long ago: no longer a reason.
        baton_proto::v1::AutomatedStep {
            system: "loan-workflow".into(),
            step: "state:underwriting".into(),
            outcome: "ok".into(),
            at: ts(days_before(40)),
        },
        // About nothing a reason names.
        baton_proto::v1::AutomatedStep {
            system: "ivr".into(),
            step: "menu:main".into(),
            outcome: "failed".into(),
            at: ts(days_before(1)),
        },
    ];
    let reasons = reasons_for(&s, "", "");
    assert_eq!(codes(&reasons), ["payment_problem"]);
    assert_eq!(reasons[0].evidence[0].kind, "automated_step");
    assert_eq!(
        reasons[0].evidence[0].text,
        "automated step \"payment:autopay\" of billing failed yesterday"
    );
    assert!((reasons[0].confidence - 0.7).abs() < 1e-9);
}

#[test]
fn a_workflow_under_way_is_weaker_evidence_than_a_failure() {
    let mut s = snapshot("c1", None);
    s.automated_steps = vec![baton_proto::v1::AutomatedStep {
        system: "loan-workflow".into(),
        step: "state:underwriting".into(),
        outcome: "ok".into(),
        at: ts(days_before(2)),
    }];
    let reasons = reasons_for(&s, "", "");
    assert_eq!(codes(&reasons), ["loan_application"]);
    assert!(reasons[0].confidence < 0.5);
    assert!(
        reasons[0].evidence[0].text.ends_with("ended ok 2 days ago"),
        "{:?}",
        reasons[0]
    );
}

#[test]
fn words_of_payments_connections_applications_and_complaints_are_understood() {
    let s = snapshot("c1", None);
    for (said, code) in [
        ("my direct debit bounced", "payment_problem"),
        ("the internet keeps dropping", "connectivity_problem"),
        ("how is my application going", "loan_application"),
        ("this is unacceptable, I want to complain", "complaint"),
    ] {
        let reasons = reasons_for(&s, said, "");
        assert_eq!(codes(&reasons).first(), Some(&code), "{said}: {reasons:?}");
    }
    assert_eq!(
        codes(&reasons_for(&s, "", "order_status")),
        ["order_status"]
    );
}

#[test]
fn learned_predictions_join_the_rules_and_bring_the_tenants_own_reasons() {
    let s = snapshot("c1", None);
    let predictions = [
        crate::recommend::reason_model::Prediction {
            code: "lost_card".into(),
            probability: 0.9,
            because: vec!["\"wallet\"".into()],
        },
        crate::recommend::reason_model::Prediction {
            code: "billing_question".into(),
            probability: 0.5,
            because: vec!["\"statement\"".into()],
        },
        // Too unlikely to show.
        crate::recommend::reason_model::Prediction {
            code: "roaming".into(),
            probability: 0.1,
            because: vec![],
        },
    ];
    let labels = [("lost_card".to_owned(), "Lost or stolen card".to_owned())].into();
    let learned = Learned {
        predictions: &predictions,
        labels: &labels,
        examples: 120,
    };
    let input = ReasonInput {
        snapshot: &s,
        utterance: "my wallet is gone and my bill looks odd",
        intent: "",
        now: NOW,
    };
    let reasons = likely_reasons_learned(&input, &learned, 10);
    assert_eq!(codes(&reasons), ["lost_card", "billing_question"]);
    assert_eq!(reasons[0].label, "Lost or stolen card");
    assert!((reasons[0].confidence - 0.81).abs() < 1e-9);
    assert_eq!(
        reasons[0].evidence[0].text,
        "\"wallet\": 90% likely, learned from 120 confirmed contacts"
    );
    // The keyword "bill" and the prediction both point at billing: noisy-OR of 0.5 and 0.45.
    assert!((reasons[1].confidence - (1.0 - 0.5 * 0.55)).abs() < 1e-9);
    assert_eq!(reasons[1].evidence.len(), 2);
}
