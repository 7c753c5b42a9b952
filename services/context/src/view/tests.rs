use baton_proto::v1::{
    Actor, ActorKind, AutomatedStep, CaseOpened, CaseResolved, CaseUpdated, Channel,
    ChannelSwitched, ContactAssigned, ContactEnded, ContactStarted, ContactTransferred,
    Disposition, Handover, MessageExchanged, NoteAdded, OfferAnswered, OfferPresented,
    PurchaseMade, PurchaseUpdated, TokenIssued,
};
use proptest::prelude::*;
use prost::Message as _;

use super::*;

/// Builds events in order, one second apart, as the store would number them.
#[derive(Debug)]
struct Log {
    events: Vec<Event>,
}

impl Log {
    fn new() -> Self {
        Self { events: Vec::new() }
    }

    fn push(&mut self, contact_id: &str, channel: Channel, payload: Payload) -> &mut Self {
        let sequence = self.events.len() as u64 + 1;
        self.events.push(Event {
            event_id: format!("evt_{sequence}"),
            customer_id: "cust-1".into(),
            sequence,
            occurred_at: Some(Timestamp {
                seconds: 1_700_000_000 + sequence as i64,
                nanos: 0,
            }),
            recorded_at: None,
            contact_id: contact_id.into(),
            channel: channel as i32,
            actor: Some(Actor {
                kind: ActorKind::Agent as i32,
                id: "agent-1".into(),
            }),
            payload: Some(payload),
        });
        self
    }

    fn view(&self) -> View {
        let mut view = View::empty("cust-1");
        for event in &self.events {
            apply(&mut view, event);
        }
        view
    }
}

fn started(utterance: &str) -> Payload {
    Payload::ContactStarted(ContactStarted {
        utterance: utterance.into(),
        intent: "order_status".into(),
        ..ContactStarted::default()
    })
}

fn open_case(case_id: &str) -> Payload {
    Payload::CaseOpened(CaseOpened {
        case_id: case_id.into(),
        subject: "late delivery".into(),
        category: "delivery".into(),
        complaint: true,
        owner_agent_id: String::new(),
    })
}

fn note(case_id: &str, text: &str) -> Payload {
    Payload::Note(NoteAdded {
        case_id: case_id.into(),
        text: text.into(),
    })
}

fn ts(log: &Log, sequence: usize) -> Option<Timestamp> {
    log.events[sequence - 1].occurred_at
}

#[test]
fn contacts_on_two_channels_show_newest_first_with_tenure() {
    let mut log = Log::new();
    log.push("c1", Channel::Chat, started("where is my parcel"))
        .push(
            "c1",
            Channel::Chat,
            Payload::ContactEnded(ContactEnded {
                disposition: Disposition::FollowUp as i32,
                summary: "parcel delayed".into(),
                reason_code: "late_delivery".into(),
                reason_label: "Late delivery".into(),
            }),
        )
        .push("c2", Channel::Voice, started("still no parcel"));
    let s = log.view().snapshot(DEFAULT_SNAPSHOT_INTERACTIONS);

    assert_eq!(s.version, 3);
    let contacts: Vec<&str> = s
        .recent_interactions
        .iter()
        .map(|i| i.contact_id.as_str())
        .collect();
    assert_eq!(contacts, ["c2", "c1"]);
    let first = &s.recent_interactions[1];
    assert_eq!(first.summary, "parcel delayed");
    assert_eq!(first.disposition, Disposition::FollowUp as i32);
    assert_eq!(
        (first.reason_code.as_str(), first.reason_label.as_str()),
        ("late_delivery", "Late delivery")
    );
    assert_eq!(first.ended_at, ts(&log, 2));
    let tenure = s.tenure.expect("tenure");
    assert_eq!(tenure.contact_count, 2);
    assert_eq!(tenure.last_channel, Channel::Voice as i32);
    assert_eq!(tenure.last_contact_at, ts(&log, 3));
    assert_eq!(tenure.customer_since, ts(&log, 1));
    assert!(!s.truncated);
}

#[test]
fn assignment_transfer_and_channel_switch_follow_the_contact() {
    let mut log = Log::new();
    let handover = |summary: &str| Handover {
        summary: summary.into(),
        ..Handover::default()
    };
    log.push("c1", Channel::Chat, started("loan question"))
        .push(
            "c1",
            Channel::Chat,
            Payload::ContactAssigned(ContactAssigned {
                agent_id: "a1".into(),
                ..ContactAssigned::default()
            }),
        )
        .push(
            "c1",
            Channel::Chat,
            Payload::ContactTransferred(ContactTransferred {
                handover: Some(handover("needs a mortgage specialist")),
                ..ContactTransferred::default()
            }),
        )
        .push(
            "c1",
            Channel::Chat,
            Payload::ContactAssigned(ContactAssigned {
                agent_id: "a2".into(),
                ..ContactAssigned::default()
            }),
        )
        .push(
            "c1",
            Channel::Chat,
            Payload::ChannelSwitched(ChannelSwitched {
                from_channel: Channel::Chat as i32,
                to_channel: Channel::Voice as i32,
                handover: Some(handover("calling the customer back")),
            }),
        )
        .push("c1", Channel::Voice, note("", "customer prefers mornings"));
    let s = log.view().snapshot(10);
    let i = &s.recent_interactions[0];
    assert_eq!(i.agent_ids, ["a1", "a2"]);
    assert_eq!(i.channel, Channel::Chat as i32);
    assert_eq!(i.channels, [Channel::Chat as i32, Channel::Voice as i32]);
    assert_eq!(i.summary, "calling the customer back");
    assert_eq!(i.notes, ["customer prefers mornings"]);
    assert_eq!(i.utterance, "loan question");
    assert_eq!(i.intent, "order_status");
}

#[test]
fn cases_collect_progress_notes_and_move_to_resolved() {
    let mut log = Log::new();
    log.push("c1", Channel::Chat, started("refund"))
        .push("c1", Channel::Chat, open_case("k1"))
        .push("c1", Channel::Chat, open_case("k2"))
        .push("c1", Channel::Chat, note("k1", "refund requested"))
        .push(
            "c1",
            Channel::Chat,
            Payload::CaseUpdated(CaseUpdated {
                case_id: "k1".into(),
                status: CaseStatus::WaitingOnCustomer as i32,
                progress_note: "asked for the receipt".into(),
            }),
        );
    let s = log.view().snapshot(10);
    let ids: Vec<&str> = s.open_cases.iter().map(|c| c.case_id.as_str()).collect();
    assert_eq!(ids, ["k1", "k2"], "most recently updated first");
    let k1 = &s.open_cases[0];
    assert_eq!(k1.status, CaseStatus::WaitingOnCustomer as i32);
    let notes: Vec<&str> = k1.notes.iter().map(|n| n.text.as_str()).collect();
    assert_eq!(notes, ["refund requested", "asked for the receipt"]);
    assert_eq!(k1.notes[0].contact_id, "c1");
    assert_eq!(k1.opened_at, ts(&log, 2));
    assert_eq!(k1.updated_at, ts(&log, 5));
    assert_eq!(k1.contact_id, "c1");
    assert!(k1.complaint);
    assert_eq!(
        s.recent_interactions[0].notes,
        ["refund requested"],
        "a case note is also a note on the contact"
    );

    log.push(
        "c1",
        Channel::Chat,
        Payload::CaseResolved(CaseResolved {
            case_id: "k1".into(),
            resolution: "refunded".into(),
        }),
    );
    let s = log.view().snapshot(10);
    assert_eq!(s.open_cases.len(), 1);
    assert_eq!(s.open_cases[0].case_id, "k2");
    let resolved = &s.resolved_cases[0];
    assert_eq!(resolved.case_id, "k1");
    assert_eq!(resolved.status, CaseStatus::Resolved as i32);
    assert_eq!(
        resolved.notes.last().map(|n| n.text.as_str()),
        Some("refunded")
    );
}

#[test]
fn case_update_to_resolved_resolves_and_reopen_restores_notes() {
    let mut log = Log::new();
    log.push("", Channel::Unspecified, open_case("k1"))
        .push("", Channel::Unspecified, note("k1", "first try"))
        .push(
            "",
            Channel::Unspecified,
            Payload::CaseUpdated(CaseUpdated {
                case_id: "k1".into(),
                status: CaseStatus::Resolved as i32,
                progress_note: "fixed".into(),
            }),
        );
    let s = log.view().snapshot(10);
    assert!(s.open_cases.is_empty());
    assert_eq!(s.resolved_cases.len(), 1);

    log.push("", Channel::Unspecified, open_case("k1"));
    let s = log.view().snapshot(10);
    assert!(s.resolved_cases.is_empty());
    let k1 = &s.open_cases[0];
    assert_eq!(k1.status, CaseStatus::Open as i32);
    assert_eq!(k1.notes.len(), 2);
}

#[test]
fn purchases_track_fulfilment() {
    let mut log = Log::new();
    let promised = Timestamp {
        seconds: 1_800_000_000,
        nanos: 0,
    };
    log.push(
        "",
        Channel::Web,
        Payload::Purchase(PurchaseMade {
            order_id: "o1".into(),
            product_id: "p1".into(),
            status: PurchaseStatus::Ordered as i32,
            ..PurchaseMade::default()
        }),
    )
    .push(
        "",
        Channel::Web,
        Payload::PurchaseUpdated(PurchaseUpdated {
            order_id: "o1".into(),
            status: PurchaseStatus::Shipped as i32,
            promised_by: Some(promised),
        }),
    )
    .push(
        "",
        Channel::Web,
        Payload::PurchaseUpdated(PurchaseUpdated {
            order_id: "o1".into(),
            status: PurchaseStatus::Delivered as i32,
            promised_by: None,
        }),
    );
    let s = log.view().snapshot(10);
    let p = &s.purchases[0];
    assert_eq!(p.purchased_at, ts(&log, 1));
    assert_eq!(p.status, PurchaseStatus::Delivered as i32);
    assert_eq!(p.promised_by, Some(promised));
    assert_eq!(p.delivered_at, ts(&log, 3));
}

#[test]
fn offers_are_upserted_newest_first() {
    let mut log = Log::new();
    let present = |id: &str| {
        Payload::OfferPresented(OfferPresented {
            offer_id: id.into(),
            product_id: format!("prod-{id}"),
        })
    };
    log.push("c1", Channel::Chat, present("f1"))
        .push("c1", Channel::Chat, present("f2"))
        .push(
            "c1",
            Channel::Chat,
            Payload::OfferAnswered(OfferAnswered {
                offer_id: "f1".into(),
                product_id: String::new(),
                outcome: OfferOutcome::Declined as i32,
            }),
        );
    let s = log.view().snapshot(10);
    assert_eq!(s.offers.len(), 2);
    assert_eq!(s.offers[0].offer_id, "f1");
    assert_eq!(s.offers[0].outcome, OfferOutcome::Declined as i32);
    assert_eq!(s.offers[0].product_id, "prod-f1");
    assert_eq!(s.offers[0].at, ts(&log, 3));
    assert_eq!(s.offers[1].outcome, OfferOutcome::Unspecified as i32);
}

#[test]
fn messages_and_tokens_only_move_the_version() {
    let mut log = Log::new();
    log.push("c1", Channel::Chat, started("hi"));
    let before = log.view();
    log.push(
        "c1",
        Channel::Chat,
        Payload::Message(MessageExchanged {
            direction: 1,
            text: "hello".into(),
        }),
    )
    .push(
        "c1",
        Channel::Chat,
        Payload::TokenIssued(TokenIssued::default()),
    );
    let mut after = log.view().as_stored().clone();
    assert_eq!(after.version, 3);
    after.version = before.version();
    assert_eq!(&after, before.as_stored());
}

#[test]
fn bounds_are_kept_and_truncation_is_reported() {
    let mut log = Log::new();
    for n in 0..60 {
        log.push(&format!("c{n}"), Channel::Sms, started("x"));
    }
    for n in 0..25 {
        log.push("", Channel::Unspecified, open_case(&format!("k{n}")));
    }
    for n in 0..25 {
        log.push("", Channel::Unspecified, note("k0", &format!("note {n}")));
    }
    for n in 0..30 {
        log.push(
            "",
            Channel::Unspecified,
            Payload::AutomatedStep(AutomatedStep {
                system: "ivr".into(),
                step: format!("menu:{n}"),
                outcome: "ok".into(),
                at: None,
            }),
        );
    }
    let view = log.view();
    let s = view.snapshot(MAX_SNAPSHOT_INTERACTIONS);
    assert_eq!(s.recent_interactions.len(), MAX_SNAPSHOT_INTERACTIONS);
    assert_eq!(s.recent_interactions[0].contact_id, "c59");
    assert_eq!(s.open_cases.len(), SNAPSHOT_OPEN_CASES);
    assert_eq!(s.open_cases[0].case_id, "k0", "noted last, so updated last");
    let notes = &s.open_cases[0].notes;
    assert_eq!(notes.len(), CASE_NOTES);
    assert_eq!(notes[0].text, "note 5", "oldest notes fall off first");
    assert_eq!(s.automated_steps.len(), AUTOMATED_STEPS);
    assert_eq!(s.automated_steps[0].step, "menu:29");
    assert!(s.truncated);
    assert_eq!(
        s.tenure.expect("tenure").contact_count,
        60,
        "tenure counts every contact, shown or not"
    );
}

#[test]
fn a_short_history_within_bounds_is_not_truncated_but_a_small_page_is() {
    let mut log = Log::new();
    for n in 0..3 {
        log.push(&format!("c{n}"), Channel::Email, started("x"));
    }
    let view = log.view();
    assert!(!view.clone().snapshot(3).truncated);
    let s = view.snapshot(2);
    assert!(s.truncated);
    assert_eq!(s.recent_interactions.len(), 2);
}

#[test]
fn events_for_unknown_records_only_move_the_version() {
    let mut log = Log::new();
    log.push("ghost", Channel::Chat, note("nope", "text"))
        .push(
            "ghost",
            Channel::Chat,
            Payload::CaseResolved(CaseResolved {
                case_id: "nope".into(),
                resolution: "x".into(),
            }),
        )
        .push(
            "ghost",
            Channel::Chat,
            Payload::PurchaseUpdated(PurchaseUpdated {
                order_id: "nope".into(),
                status: PurchaseStatus::Returned as i32,
                promised_by: None,
            }),
        );
    let s = log.view().snapshot(10);
    assert_eq!(s.version, 3);
    assert!(s.open_cases.is_empty() && s.resolved_cases.is_empty() && s.purchases.is_empty());
    assert!(s.recent_interactions.is_empty());
}

// --- properties ---------------------------------------------------------------------------

fn payload_strategy() -> impl Strategy<Value = Payload> {
    let case_id = (0u8..30).prop_map(|n| format!("k{n}"));
    let order_id = (0u8..60).prop_map(|n| format!("o{n}"));
    let offer_id = (0u8..60).prop_map(|n| format!("f{n}"));
    let text = "[a-z ]{0,12}";
    prop_oneof![
        text.prop_map(|t| started(&t)),
        (0u8..4).prop_map(|n| Payload::ContactAssigned(ContactAssigned {
            agent_id: format!("a{n}"),
            ..ContactAssigned::default()
        })),
        text.prop_map(|t| Payload::ContactTransferred(ContactTransferred {
            handover: Some(Handover {
                summary: t,
                ..Handover::default()
            }),
            ..ContactTransferred::default()
        })),
        (1i32..=10).prop_map(|c| Payload::ChannelSwitched(ChannelSwitched {
            to_channel: c,
            ..ChannelSwitched::default()
        })),
        (0i32..=4, text).prop_map(|(d, t)| Payload::ContactEnded(ContactEnded {
            disposition: d,
            summary: t,
            ..ContactEnded::default()
        })),
        text.prop_map(|t| Payload::Message(MessageExchanged {
            direction: 1,
            text: t
        })),
        (proptest::option::of(case_id.clone()), text)
            .prop_map(|(c, t)| note(c.as_deref().unwrap_or(""), &t)),
        case_id.clone().prop_map(|c| open_case(&c)),
        (case_id.clone(), 0i32..=4, text).prop_map(|(c, s, t)| Payload::CaseUpdated(CaseUpdated {
            case_id: c,
            status: s,
            progress_note: t,
        })),
        (case_id, text).prop_map(|(c, t)| Payload::CaseResolved(CaseResolved {
            case_id: c,
            resolution: t,
        })),
        (order_id.clone(), 0i32..=4).prop_map(|(o, s)| Payload::Purchase(PurchaseMade {
            order_id: o,
            status: s,
            ..PurchaseMade::default()
        })),
        (order_id, 0i32..=4).prop_map(|(o, s)| Payload::PurchaseUpdated(PurchaseUpdated {
            order_id: o,
            status: s,
            promised_by: None,
        })),
        offer_id
            .clone()
            .prop_map(|o| Payload::OfferPresented(OfferPresented {
                offer_id: o,
                product_id: "p".into(),
            })),
        (offer_id, 0i32..=3).prop_map(|(o, out)| Payload::OfferAnswered(OfferAnswered {
            offer_id: o,
            product_id: String::new(),
            outcome: out,
        })),
        Just(Payload::TokenIssued(TokenIssued::default())),
        (0u8..5).prop_map(|n| Payload::AutomatedStep(AutomatedStep {
            system: "ivr".into(),
            step: format!("s{n}"),
            outcome: "ok".into(),
            at: None,
        })),
    ]
}

fn log_strategy() -> impl Strategy<Value = Log> {
    proptest::collection::vec((0u8..40, 0i32..=10, -5i64..5, payload_strategy()), 0..300).prop_map(
        |steps| {
            let mut log = Log::new();
            for (contact, channel, skew, payload) in steps {
                let channel = Channel::try_from(channel).unwrap_or_default();
                log.push(&format!("c{contact}"), channel, payload);
                // Callers' clocks disagree: occurred_at is not monotonic.
                if let Some(at) = log.events.last_mut().and_then(|e| e.occurred_at.as_mut()) {
                    at.seconds += skew * 100;
                }
            }
            log
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The store keeps the view encoded between appends; that must not change what it says.
    #[test]
    fn incremental_through_storage_equals_rebuilding(log in log_strategy()) {
        let mut stored = View::empty("cust-1").as_stored().encode_to_vec();
        for event in &log.events {
            let mut view = View::from_stored(
                ContextSnapshot::decode(stored.as_slice()).expect("decodes"),
            );
            apply(&mut view, event);
            stored = view.as_stored().encode_to_vec();
        }
        let incremental = View::from_stored(
            ContextSnapshot::decode(stored.as_slice()).expect("decodes"),
        );
        prop_assert_eq!(incremental, log.view());
    }

    #[test]
    fn version_is_the_last_sequence_and_bounds_hold(log in log_strategy(), max in 0usize..=60) {
        let view = log.view();
        prop_assert_eq!(view.version(), log.events.len() as u64);
        let stored = view.as_stored();
        prop_assert!(stored.recent_interactions.len() <= KEPT_INTERACTIONS);
        prop_assert!(stored.open_cases.len() <= KEPT_OPEN_CASES);
        prop_assert!(stored.purchases.len() <= KEPT_PURCHASES);
        prop_assert!(stored.offers.len() <= KEPT_OFFERS);

        let s = view.snapshot(max);
        prop_assert!(s.recent_interactions.len() <= max);
        prop_assert!(s.open_cases.len() <= SNAPSHOT_OPEN_CASES);
        prop_assert!(s.purchases.len() <= SNAPSHOT_PURCHASES);
        prop_assert!(s.offers.len() <= SNAPSHOT_OFFERS);
        prop_assert!(s.resolved_cases.len() <= RESOLVED_CASES);
        prop_assert!(s.automated_steps.len() <= AUTOMATED_STEPS);
        for case in s.open_cases.iter().chain(&s.resolved_cases) {
            prop_assert!(case.notes.len() <= CASE_NOTES);
        }
        for i in &s.recent_interactions {
            prop_assert!(i.notes.len() <= INTERACTION_NOTES);
            prop_assert!(i.agent_ids.len() <= INTERACTION_AGENTS);
            prop_assert!(i.channels.len() <= INTERACTION_CHANNELS);
        }
    }

    #[test]
    fn cases_are_open_or_resolved_never_both(log in log_strategy()) {
        let s = log.view().snapshot(MAX_SNAPSHOT_INTERACTIONS);
        for case in &s.open_cases {
            prop_assert_ne!(case.status, CaseStatus::Resolved as i32);
            prop_assert!(s.resolved_cases.iter().all(|r| r.case_id != case.case_id));
        }
        prop_assert!(s.resolved_cases.iter().all(|c| c.status == CaseStatus::Resolved as i32));
    }

    #[test]
    fn tenure_counts_each_contact_once(log in log_strategy()) {
        let mut contacts: Vec<&str> = log
            .events
            .iter()
            .filter(|e| matches!(e.payload, Some(Payload::ContactStarted(_))))
            .map(|e| e.contact_id.as_str())
            .collect();
        contacts.sort_unstable();
        contacts.dedup();
        let count = log.view().as_stored().tenure.as_ref().map_or(0, |t| t.contact_count);
        prop_assert_eq!(count, contacts.len() as u64);
    }
}
