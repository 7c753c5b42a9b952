//! Snapshot tests: the exact sentences people read.

use baton_proto::v1::{Channel, Disposition, PurchaseStatus};

use super::*;
use crate::recommend::fixtures::{NOW, days_before, interaction, on, purchase, snapshot, ts};
use crate::recommend::reasons::{ReasonInput, likely_reasons};

fn greeting_for(snapshot: &ContextSnapshot, name: &str, utterance: &str) -> Greeting {
    let reasons = likely_reasons(
        &ReasonInput {
            snapshot,
            utterance,
            intent: "",
            now: NOW,
        },
        3,
    );
    greet(&GreetingInput {
        given_name: name,
        identified: !snapshot.customer_id.is_empty(),
        snapshot,
        reasons: &reasons,
        now: NOW,
    })
}

#[test]
fn ten_year_customer_with_an_unresolved_chat_about_a_late_order() {
    let mut s = snapshot("c1", Some(on(2016, 1, 15)));
    let mut late = purchase("123", "shoes", "Trail shoes", PurchaseStatus::Shipped);
    late.promised_by = ts(days_before(3));
    s.purchases = vec![late];
    let mut chat = interaction(
        "k-1",
        Channel::Chat,
        on(2026, 3, 2) + 36_000,
        Disposition::FollowUp,
    );
    chat.summary = "Customer asked where order 123 is; checking with the courier".into();
    s.recent_interactions = vec![chat];

    let g = greeting_for(&s, "Miles", "");
    assert_eq!(
        g.text,
        "Welcome back, Miles. Thank you for being with us for 10 years. \
         Last time we spoke on chat about your late order."
    );
    assert_eq!(
        g.facts,
        [
            "customer for 10 years",
            "last contact: chat, 2026-03-02",
            "last topic: your late order"
        ]
    );
}

#[test]
fn a_new_customer_is_welcomed_plainly() {
    let g = greeting_for(&snapshot("c1", None), "", "");
    assert_eq!(g.text, "Welcome! How can we help today?");
    assert!(g.facts.is_empty());
    let named = greeting_for(&snapshot("c1", None), "Ana", "");
    assert_eq!(named.text, "Welcome, Ana! How can we help today?");
}

#[test]
fn an_unidentified_contact_gets_no_personal_greeting() {
    let mut s = snapshot("", Some(on(2016, 1, 15)));
    s.recent_interactions = vec![interaction(
        "k",
        Channel::Chat,
        days_before(2),
        Disposition::Resolved,
    )];
    assert_eq!(
        greeting_for(&s, "", "").text,
        "Welcome! How can we help today?"
    );
}

#[test]
fn an_eight_month_customer_whose_last_call_was_resolved() {
    let mut s = snapshot("c1", Some(on(2025, 7, 1)));
    let mut call = interaction(
        "k-1",
        Channel::Voice,
        on(2026, 2, 20),
        Disposition::Resolved,
    );
    call.intent = "billing_question".into();
    s.recent_interactions = vec![call];
    let g = greeting_for(&s, "Miles", "");
    assert_eq!(
        g.text,
        "Welcome back, Miles. Thank you for being with us for 8 months. \
         Last time we spoke on the phone about your bill."
    );
    assert_eq!(
        g.facts,
        [
            "customer for 8 months",
            "last contact: voice, 2026-02-20",
            "last topic: your bill"
        ]
    );
}

#[test]
fn a_customer_of_a_few_days_with_no_contact_yet() {
    let s = snapshot("c1", Some(days_before(10)));
    let g = greeting_for(&s, "", "");
    assert_eq!(g.text, "Welcome back.");
    assert!(g.facts.is_empty());
}

#[test]
fn one_year_is_singular() {
    let s = snapshot("c1", Some(on(2025, 3, 1)));
    assert_eq!(
        greeting_for(&s, "Jo", "").text,
        "Welcome back, Jo. Thank you for being with us for 1 year."
    );
}

#[test]
fn the_summary_is_quoted_short_when_nothing_else_names_the_topic() {
    let mut s = snapshot("c1", None);
    let mut mail = interaction("k-1", Channel::Email, on(2026, 2, 1), Disposition::Resolved);
    mail.summary =
        "Sent the assembly instructions for the garden shed and the warranty card".into();
    s.recent_interactions = vec![mail];
    let g = greeting_for(&s, "", "");
    assert_eq!(
        g.text,
        "Welcome back. Last time we spoke by e-mail about \
         \"Sent the assembly instructions for the garden shed and the…\"."
    );
}

#[test]
fn the_utterance_names_the_topic_when_there_is_no_intent() {
    let mut s = snapshot("c1", Some(on(2020, 6, 1)));
    let mut sms = interaction("k-1", Channel::Sms, on(2026, 1, 10), Disposition::Resolved);
    sms.utterance = "I cannot log in to the app".into();
    s.recent_interactions = vec![
        interaction(
            "k-0",
            Channel::Voice,
            on(2025, 12, 1),
            Disposition::Resolved,
        ),
        sms,
    ];
    assert_eq!(
        greeting_for(&s, "", "").text,
        "Welcome back. Thank you for being with us for 5 years. \
         Last time we spoke by text message about logging in."
    );
}

#[test]
fn the_newest_of_two_contacts_in_the_same_second_is_the_last_one() {
    let mut s = snapshot("c1", Some(on(2016, 1, 15)));
    let started = days_before(1);
    let mut voice = interaction("k-2", Channel::Voice, started, Disposition::Resolved);
    let mut chat = interaction("k-1", Channel::Chat, started, Disposition::Resolved);
    voice.started_at = Some(prost_types::Timestamp {
        seconds: started,
        nanos: 900,
    });
    chat.started_at = Some(prost_types::Timestamp {
        seconds: started,
        nanos: 100,
    });
    s.recent_interactions = vec![voice.clone(), chat.clone()];
    assert_eq!(
        last_finished_contact(&s).map(|i| i.channel),
        Some(Channel::Voice as i32)
    );
    // Equal to the nanosecond: the snapshot's order (newest first) decides.
    chat.started_at = voice.started_at;
    s.recent_interactions = vec![voice, chat];
    assert_eq!(
        last_finished_contact(&s).map(|i| i.channel),
        Some(Channel::Voice as i32)
    );
}
