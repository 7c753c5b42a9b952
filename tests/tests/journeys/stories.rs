//! The customer journeys baton exists for, each over real gRPC through `baton serve all`.

use std::time::{Duration, SystemTime};

use baton_proto::v1::{self as pb, IdentifierAssurance as Assurance, IdentifierKind as Kind};
use baton_runtime::time::to_timestamp;
use baton_tests::{
    Desk, Stores, TestMesh, agent, available_agent, handover, ident, import_profile, key,
    open_as_agent, tenant, to_channel, to_tier,
};

baton_tests::on_every_store!(
    channel_switch_from_chat_to_voice_carries_identity_and_handover,
    warm_transfer_to_tier_two_carries_summary_notes_and_verification,
    returning_customer_is_greeted_with_tenure_and_history_across_channels,
    dedicated_agent_away_falls_back_at_once_with_progress_notes,
    known_customer_in_a_new_flow_confirms_data_on_record,
    wrap_up_codes_teach_the_likely_reasons_of_the_next_contacts
);

const YEAR: Duration = Duration::from_secs(365 * 24 * 3600 + 6 * 3600);

/// A customer logged in on web chat is moved to voice: the voice agent's token opens to the
/// same customer, the same verification and the chat's handover. Nothing is asked again.
async fn channel_switch_from_chat_to_voice_carries_identity_and_handover(stores: Stores) {
    let mut m = TestMesh::start_with(stores.config()).await;
    let t = tenant();
    available_agent(&mut m.routing, &t, "chat-ann", 1, pb::Channel::Chat, 3).await;
    available_agent(&mut m.routing, &t, "voice-vic", 1, pb::Channel::Voice, 1).await;
    let mut chat_desk = Desk::open(&mut m.routing, &t, "chat-ann").await;
    let mut voice_desk = Desk::open(&mut m.routing, &t, "voice-vic").await;

    let started = m
        .routing
        .start_contact(pb::StartContactRequest {
            tenant_id: t.clone(),
            channel: pb::Channel::Chat as i32,
            identifiers: vec![ident(Kind::Login, "web|miles-8841", Assurance::Verified)],
            utterance: "my router drops every evening".into(),
            idempotency_key: key(),
            ..Default::default()
        })
        .await
        .expect("chat contact starts")
        .into_inner();
    let contact = started.contact.expect("contact");
    assert!(
        !contact.customer_id.is_empty(),
        "the logged-in customer is identified"
    );
    let chat_verification = contact.verification.clone().expect("verification");
    assert_eq!(
        chat_verification.level,
        pb::VerificationLevel::Verified as i32
    );

    let offer = chat_desk.offer().await;
    assert_eq!(
        offer.contact.as_ref().map(|c| c.contact_id.as_str()),
        Some(contact.contact_id.as_str())
    );
    chat_desk.accept(&offer).await;

    let summary =
        "Router drops every evening since Tuesday; cables and restart checked; needs a line test";
    let moved = m
        .routing
        .transfer(pb::TransferRequest {
            tenant_id: t.clone(),
            contact_id: contact.contact_id.clone(),
            from_agent_id: "chat-ann".into(),
            target: to_channel(pb::Channel::Voice),
            mode: pb::TransferMode::Cold as i32,
            handover: handover(summary, "needs a voice line test"),
            idempotency_key: key(),
        })
        .await
        .expect("channel switch")
        .into_inner();
    assert_eq!(
        moved.contact.as_ref().map(|c| c.channel),
        Some(pb::Channel::Voice as i32)
    );

    let voice_offer = voice_desk.offer().await;
    let token = open_as_agent(&mut m.routing, &t, "voice-vic", &voice_offer.token)
        .await
        .expect("the voice agent opens the token");
    assert_eq!(token.customer_id, contact.customer_id, "same customer");
    assert_eq!(token.contact_id, contact.contact_id);
    assert_eq!(token.channel, pb::Channel::Voice as i32);
    let verification = token.verification.expect("verification travels");
    assert_eq!(
        verification.level, chat_verification.level,
        "verification is not lost"
    );
    assert_eq!(
        verification.channel,
        pb::Channel::Chat as i32,
        "verified on chat, once"
    );
    assert_eq!(
        token.handover.as_ref().map(|h| h.summary.as_str()),
        Some(summary)
    );
    let kinds: Vec<i32> = token.path.iter().map(|h| h.kind).collect();
    assert_eq!(
        kinds,
        [pb::HopKind::Start as i32, pb::HopKind::ChannelSwitch as i32]
    );
    let chat = token
        .context
        .as_ref()
        .and_then(|c| {
            c.recent_interactions
                .iter()
                .find(|i| i.contact_id == contact.contact_id)
        })
        .expect("the chat is in the context");
    assert!(
        chat.channels.contains(&(pb::Channel::Voice as i32)),
        "the interaction records the switch"
    );

    voice_desk.accept(&voice_offer).await;
    m.stop().await;
}

/// A tier-1 agent warm-transfers to tier 2 with a summary: the tier-2 agent sees the summary,
/// the notes and the verification; the first agent is released only when the second accepts.
async fn warm_transfer_to_tier_two_carries_summary_notes_and_verification(stores: Stores) {
    let mut m = TestMesh::start_with(stores.config()).await;
    let t = tenant();
    agent(
        &mut m.routing,
        &t,
        "t1-tom",
        1,
        &[("billing", 5)],
        &[(pb::Channel::Voice, 1)],
        pb::Presence::Available,
    )
    .await;
    agent(
        &mut m.routing,
        &t,
        "t2-dave",
        2,
        &[("billing", 9)],
        &[(pb::Channel::Voice, 1)],
        pb::Presence::Available,
    )
    .await;
    let mut tier1 = Desk::open(&mut m.routing, &t, "t1-tom").await;
    let mut tier2 = Desk::open(&mut m.routing, &t, "t2-dave").await;

    let started = m
        .routing
        .start_contact(pb::StartContactRequest {
            tenant_id: t.clone(),
            channel: pb::Channel::Voice as i32,
            identifiers: vec![ident(Kind::Phone, "+44 20 7946 0018", Assurance::Observed)],
            proofs: vec![pb::VerificationMethod::KnowledgeQuestions as i32],
            utterance: "I was charged twice for March".into(),
            required_skills: vec![pb::SkillRequirement {
                name: "billing".into(),
                min_proficiency: 3,
            }],
            idempotency_key: key(),
            ..Default::default()
        })
        .await
        .expect("voice contact starts")
        .into_inner();
    let contact = started.contact.expect("contact");
    assert_eq!(
        contact.verification.as_ref().map(|v| v.level),
        Some(pb::VerificationLevel::Verified as i32),
        "caller id plus knowledge questions is one proven factor"
    );
    let offer = tier1.offer().await;
    tier1.accept(&offer).await;

    let note = m
        .routing
        .add_note(pb::AddNoteRequest {
            tenant_id: t.clone(),
            contact_id: contact.contact_id.clone(),
            agent_id: "t1-tom".into(),
            text: "Two identical March charges on the statement; refund needs tier 2 approval"
                .into(),
            open_case: Some(pb::CaseOpened {
                subject: "Duplicate March charge".into(),
                category: "billing".into(),
                ..Default::default()
            }),
            idempotency_key: key(),
            ..Default::default()
        })
        .await
        .expect("note written")
        .into_inner();
    assert!(!note.case_id.is_empty());

    let summary = "Duplicate March charge confirmed on statement; customer verified by KBA; refund approval needed";
    let moved = m
        .routing
        .transfer(pb::TransferRequest {
            tenant_id: t.clone(),
            contact_id: contact.contact_id.clone(),
            from_agent_id: "t1-tom".into(),
            target: to_tier(2),
            mode: pb::TransferMode::Warm as i32,
            handover: handover(summary, "refund approval"),
            idempotency_key: key(),
        })
        .await
        .expect("warm transfer")
        .into_inner();
    assert_eq!(
        moved.contact.as_ref().map(|c| c.holding_agent_id.as_str()),
        Some("t1-tom"),
        "the first agent stays on until tier 2 accepts"
    );

    let offer2 = tier2.offer().await;
    let token = open_as_agent(&mut m.routing, &t, "t2-dave", &offer2.token)
        .await
        .expect("tier 2 opens");
    assert_eq!(
        token.handover.as_ref().map(|h| h.summary.as_str()),
        Some(summary)
    );
    assert_eq!(
        token.verification.as_ref().map(|v| v.level),
        Some(pb::VerificationLevel::Verified as i32)
    );
    let case = token
        .context
        .as_ref()
        .and_then(|c| c.open_cases.iter().find(|c| c.case_id == note.case_id))
        .expect("the case opened by tier 1 is in the context");
    assert!(
        case.notes
            .iter()
            .any(|n| n.text.contains("refund needs tier 2 approval")),
        "tier 1's note is readable"
    );
    assert_eq!(
        token.path.last().map(|h| h.kind),
        Some(pb::HopKind::WarmTransfer as i32)
    );

    let refused = open_as_agent(&mut m.routing, &t, "t1-tom", &offer2.token)
        .await
        .expect_err("tier 1 is not the audience");
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);

    let connected = tier2.accept(&offer2).await;
    assert_eq!(connected.agent_id, "t2-dave");
    assert!(
        connected.holding_agent_id.is_empty(),
        "tier 1 released once tier 2 accepted"
    );
    m.stop().await;
}

/// After contacts on two channels over time, a new contact shows tenure, both previous
/// interactions and a greeting.
async fn returning_customer_is_greeted_with_tenure_and_history_across_channels(stores: Stores) {
    let mut m = TestMesh::start_with(stores.config()).await;
    let t = tenant();
    let since = SystemTime::now() - 10 * YEAR;
    import_profile(
        &mut m.identity,
        &t,
        pb::ProfileRecord {
            external_id: "crm-77".into(),
            source: "crm".into(),
            identifiers: vec![
                ident(Kind::Email, "Miles.Okafor@example.com", Assurance::Verified),
                ident(Kind::Phone, "+1 415 555 0142", Assurance::Verified),
            ],
            traits: Some(pb::PersonTraits {
                given_name: "Miles".into(),
                family_name: "Okafor".into(),
                ..Default::default()
            }),
            customer_since: Some(to_timestamp(since)),
            ..Default::default()
        },
    )
    .await;

    let mut ids = Vec::new();
    for (channel, identifier, words) in [
        (
            pb::Channel::Chat,
            ident(
                Kind::Email,
                "miles.okafor+shop@example.com",
                Assurance::Observed,
            ),
            "where is my parcel",
        ),
        (
            pb::Channel::Voice,
            ident(Kind::Phone, "(415) 555-0142", Assurance::Observed),
            "the parcel arrived damaged",
        ),
    ] {
        let started = m
            .routing
            .start_contact(pb::StartContactRequest {
                tenant_id: t.clone(),
                channel: channel as i32,
                identifiers: vec![identifier],
                utterance: words.into(),
                self_service: true,
                idempotency_key: key(),
                ..Default::default()
            })
            .await
            .expect("contact starts")
            .into_inner();
        let contact = started.contact.expect("contact");
        m.routing
            .end_contact(pb::EndContactRequest {
                tenant_id: t.clone(),
                contact_id: contact.contact_id.clone(),
                disposition: pb::Disposition::Resolved as i32,
                summary: format!("handled: {words}"),
                idempotency_key: key(),
                ..Default::default()
            })
            .await
            .expect("contact ends");
        ids.push((contact.customer_id, contact.contact_id));
    }
    assert_eq!(
        ids[0].0, ids[1].0,
        "chat and voice resolve to the same customer"
    );

    let third = m
        .routing
        .start_contact(pb::StartContactRequest {
            tenant_id: t.clone(),
            channel: pb::Channel::Email as i32,
            identifiers: vec![ident(
                Kind::Email,
                "MILES.OKAFOR@example.com",
                Assurance::Observed,
            )],
            utterance: "question about my account".into(),
            self_service: true,
            idempotency_key: key(),
            ..Default::default()
        })
        .await
        .expect("third contact")
        .into_inner();
    assert_eq!(
        third.contact.as_ref().map(|c| c.customer_id.as_str()),
        Some(ids[0].0.as_str())
    );
    let greeting = third.greeting.expect("greeting");
    assert!(
        greeting.text.contains("10 years"),
        "greeting mentions tenure: {}",
        greeting.text
    );
    assert!(
        greeting.text.contains("Miles"),
        "greeting uses the name on record: {}",
        greeting.text
    );

    let token = m
        .routing
        .open_token(pb::OpenTokenRequest {
            tenant_id: t.clone(),
            token: third.token.clone(),
            opener: Some(pb::open_token_request::Opener::Channel(
                pb::Channel::Email as i32,
            )),
        })
        .await
        .expect("the e-mail channel opens its token")
        .into_inner()
        .token
        .expect("token");
    let context = token.context.expect("context");
    let tenure = context.tenure.expect("tenure");
    assert_eq!(
        tenure.customer_since.map(|t| t.seconds),
        Some(to_timestamp(since).seconds),
        "tenure from the CRM"
    );
    let channels: Vec<i32> = context
        .recent_interactions
        .iter()
        .map(|i| i.channel)
        .collect();
    for (_, contact_id) in &ids {
        assert!(
            context
                .recent_interactions
                .iter()
                .any(|i| &i.contact_id == contact_id),
            "previous contact {contact_id} is visible"
        );
    }
    assert!(
        channels.contains(&(pb::Channel::Chat as i32))
            && channels.contains(&(pb::Channel::Voice as i32))
    );
    m.stop().await;
}

/// The customer's dedicated agent is away: the contact goes at once to another qualified agent,
/// who reads the progress notes on the open case.
async fn dedicated_agent_away_falls_back_at_once_with_progress_notes(stores: Stores) {
    let mut m = TestMesh::start_with(stores.config()).await;
    let t = tenant();
    agent(
        &mut m.routing,
        &t,
        "pat",
        1,
        &[("banking", 8)],
        &[(pb::Channel::Voice, 1)],
        pb::Presence::Away,
    )
    .await;
    agent(
        &mut m.routing,
        &t,
        "sam",
        1,
        &[("banking", 6)],
        &[(pb::Channel::Voice, 1)],
        pb::Presence::Available,
    )
    .await;
    agent(
        &mut m.routing,
        &t,
        "lou",
        1,
        &[("retail", 9)],
        &[(pb::Channel::Voice, 1)],
        pb::Presence::Available,
    )
    .await;
    let mut sam = Desk::open(&mut m.routing, &t, "sam").await;
    let _lou = Desk::open(&mut m.routing, &t, "lou").await;

    let resolved = m
        .identity
        .resolve(pb::ResolveRequest {
            tenant_id: t.clone(),
            identifiers: vec![ident(
                Kind::AccountNumber,
                "GB-4411-0923",
                Assurance::Claimed,
            )],
            channel: pb::Channel::Voice as i32,
            idempotency_key: key(),
            ..Default::default()
        })
        .await
        .expect("resolve")
        .into_inner();
    let customer = resolved.customer_id;
    for (n, payload) in [
        pb::event::Payload::CaseOpened(pb::CaseOpened {
            case_id: "case-estate".into(),
            subject: "Bereavement: close late father's account".into(),
            category: "banking".into(),
            owner_agent_id: "pat".into(),
            ..Default::default()
        }),
        pb::event::Payload::CaseUpdated(pb::CaseUpdated {
            case_id: "case-estate".into(),
            status: pb::CaseStatus::InProgress as i32,
            progress_note: "Death certificate received and verified on 3 March".into(),
        }),
        pb::event::Payload::CaseUpdated(pb::CaseUpdated {
            case_id: "case-estate".into(),
            status: 0,
            progress_note:
                "Waiting for the probate letter; then release funds to the estate account".into(),
        }),
    ]
    .into_iter()
    .enumerate()
    {
        m.context
            .append_event(pb::AppendEventRequest {
                tenant_id: t.clone(),
                customer_id: customer.clone(),
                event: Some(pb::Event {
                    actor: Some(pb::Actor {
                        kind: pb::ActorKind::Agent as i32,
                        id: "pat".into(),
                    }),
                    payload: Some(payload),
                    ..Default::default()
                }),
                idempotency_key: format!("seed-{n}"),
                expected_version: 0,
            })
            .await
            .expect("history seeded");
    }

    let started = m
        .routing
        .start_contact(pb::StartContactRequest {
            tenant_id: t.clone(),
            channel: pb::Channel::Voice as i32,
            identifiers: vec![ident(
                Kind::AccountNumber,
                "gb 4411 0923",
                Assurance::Claimed,
            )],
            utterance: "is there any news on my father's account".into(),
            required_skills: vec![pb::SkillRequirement {
                name: "banking".into(),
                min_proficiency: 5,
            }],
            preferred_agent_id: "pat".into(),
            idempotency_key: key(),
            ..Default::default()
        })
        .await
        .expect("contact starts")
        .into_inner();
    let placement = started.placement.expect("placement");
    assert_eq!(
        placement.state,
        pb::ContactState::Offered as i32,
        "not left waiting for the away agent"
    );
    assert_eq!(
        placement.agent_id, "sam",
        "the qualified colleague, not the unqualified one"
    );

    let offer = sam.offer().await;
    let token = open_as_agent(&mut m.routing, &t, "sam", &offer.token)
        .await
        .expect("sam opens");
    let case = token
        .context
        .and_then(|c| {
            c.open_cases
                .into_iter()
                .find(|c| c.case_id == "case-estate")
        })
        .expect("the open case travels");
    let notes: Vec<&str> = case.notes.iter().map(|n| n.text.as_str()).collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("Death certificate received")),
        "{notes:?}"
    );
    assert!(
        notes.iter().any(|n| n.contains("probate letter")),
        "{notes:?}"
    );
    m.stop().await;
}

/// An authenticated app session starting a loan request gets the data on record to confirm,
/// not a blank form.
async fn known_customer_in_a_new_flow_confirms_data_on_record(stores: Stores) {
    let mut m = TestMesh::start_with(stores.config()).await;
    let t = tenant();
    import_profile(
        &mut m.identity,
        &t,
        pb::ProfileRecord {
            external_id: "core-5521".into(),
            source: "core-banking".into(),
            identifiers: vec![
                ident(Kind::Login, "app|5521", Assurance::Verified),
                ident(Kind::Email, "ines.duarte@example.org", Assurance::Verified),
            ],
            traits: Some(pb::PersonTraits {
                given_name: "Ines".into(),
                family_name: "Duarte".into(),
                date_of_birth: Some(pb::CalendarDate {
                    year: 1984,
                    month: 7,
                    day: 19,
                }),
                address: Some(pb::PostalAddress {
                    lines: vec!["12 Rua das Flores".into()],
                    locality: "Lisbon".into(),
                    postal_code: "1200-195".into(),
                    country_code: "PT".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await;

    let started = m
        .routing
        .start_contact(pb::StartContactRequest {
            tenant_id: t.clone(),
            channel: pb::Channel::App as i32,
            identifiers: vec![ident(Kind::Login, "app|5521", Assurance::Verified)],
            intent: "loan_application".into(),
            self_service: true,
            idempotency_key: key(),
            ..Default::default()
        })
        .await
        .expect("app flow starts")
        .into_inner();
    assert_eq!(
        started.identity_decision,
        pb::ResolveDecision::Matched as i32
    );
    assert_eq!(
        started.placement.map(|p| p.state),
        Some(pb::ContactState::SelfService as i32)
    );
    let facts: Vec<(String, String)> = started
        .on_record
        .iter()
        .map(|f| (f.field.clone(), f.value.clone()))
        .collect();
    for (field, value) in [
        ("given_name", "Ines"),
        ("family_name", "Duarte"),
        ("date_of_birth", "1984-07-19"),
    ] {
        assert!(
            facts.iter().any(|(f, v)| f == field && v == value),
            "{field} on record: {facts:?}"
        );
    }
    assert!(
        facts
            .iter()
            .any(|(f, v)| f == "address" && v.contains("Lisbon")),
        "{facts:?}"
    );
    assert!(facts.iter().any(|(f, _)| f == "email"), "{facts:?}");

    let unverified = m
        .routing
        .start_contact(pb::StartContactRequest {
            tenant_id: t.clone(),
            channel: pb::Channel::Web as i32,
            identifiers: vec![ident(
                Kind::Email,
                "ines.duarte@example.org",
                Assurance::Claimed,
            )],
            intent: "loan_application".into(),
            self_service: true,
            idempotency_key: key(),
            ..Default::default()
        })
        .await
        .expect("web flow starts")
        .into_inner();
    assert!(
        unverified.on_record.is_empty(),
        "an unproven claim never discloses data on record"
    );
    m.stop().await;
}

/// Agents wrap contacts up with a reason code of the tenant's own. The code is kept in the
/// history, and the contacts that come next with similar words are given it as a likely
/// reason, with its label, before anyone asks the customer anything.
async fn wrap_up_codes_teach_the_likely_reasons_of_the_next_contacts(stores: Stores) {
    let mut m = TestMesh::start_with(stores.config()).await;
    let t = tenant();
    let said = [
        "my card was stolen at the station",
        "I lost my card on the train",
        "someone stole my wallet with the card in it",
        "card missing since yesterday, please block it",
        "I think my card was stolen",
        "lost my debit card",
        "my card is gone, lost it at the shop",
        "the card was taken from my bag",
        "please block my card it was stolen",
        "can't find my card anywhere, lost",
        "my credit card got stolen",
        "lost card, need a new one",
    ];
    let start = |m: &TestMesh, i: usize, words: &str| {
        let request = pb::StartContactRequest {
            tenant_id: t.clone(),
            channel: pb::Channel::Chat as i32,
            identifiers: vec![ident(
                Kind::Email,
                &format!("holder{i}@example.com"),
                Assurance::Observed,
            )],
            utterance: words.into(),
            self_service: true,
            idempotency_key: key(),
            ..Default::default()
        };
        let mut routing = m.routing.clone();
        async move {
            routing
                .start_contact(request)
                .await
                .expect("contact starts")
                .into_inner()
        }
    };
    let mut first = None;
    for (i, words) in said.iter().enumerate() {
        let contact = start(&m, i, words).await.contact.expect("contact");
        m.routing
            .end_contact(pb::EndContactRequest {
                tenant_id: t.clone(),
                contact_id: contact.contact_id.clone(),
                disposition: pb::Disposition::Resolved as i32,
                summary: "card blocked, new one sent".into(),
                reason_code: "lost_card".into(),
                reason_label: "Lost or stolen card".into(),
                idempotency_key: key(),
                ..Default::default()
            })
            .await
            .expect("contact ends with a wrap-up code");
        first.get_or_insert(contact);
    }

    // The history keeps the code on the contact's end.
    let first = first.expect("a contact");
    let events = m
        .context
        .list_events(pb::ListEventsRequest {
            tenant_id: t.clone(),
            customer_id: first.customer_id.clone(),
            page_size: 50,
            ..Default::default()
        })
        .await
        .expect("history")
        .into_inner()
        .events;
    let ended = events.iter().find_map(|e| match &e.payload {
        Some(pb::event::Payload::ContactEnded(ended)) => Some(ended.clone()),
        _ => None,
    });
    assert_eq!(
        ended.map(|e| (e.reason_code, e.reason_label)),
        Some(("lost_card".to_owned(), "Lost or stolen card".to_owned()))
    );

    // A bad code is refused, naming the field.
    let next = start(&m, 100, "hello").await.contact.expect("contact");
    let refused = m
        .routing
        .end_contact(pb::EndContactRequest {
            tenant_id: t.clone(),
            contact_id: next.contact_id.clone(),
            disposition: pb::Disposition::Resolved as i32,
            reason_code: "Lost Card!".into(),
            idempotency_key: key(),
            ..Default::default()
        })
        .await
        .expect_err("a code that is not plain");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(refused.message().contains("reason_code"), "{refused:?}");

    // Replicas learn confirmed reasons within a second or so; a new customer saying much the
    // same is then given the tenant's own reason.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let started = start(&m, 200 + attempt, "my card was stolen this morning").await;
        let reasons = started
            .recommendations
            .map(|r| r.reasons)
            .unwrap_or_default();
        if let Some(reason) = reasons.iter().find(|r| r.code == "lost_card") {
            assert_eq!(reason.label, "Lost or stolen card");
            assert!(!reason.evidence.is_empty(), "{reason:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "wrap-up codes were never learned: {reasons:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    m.stop().await;
}
