//! Routing over real gRPC, with identity, context and recommendation running in-process.

mod common;

use baton_proto::v1::{
    AddNoteRequest, AgentHello, AgentSessionRequest, CaseOpened, Channel, ContactState,
    EndContactRequest, GetContactRequest, Handover, HopKind, Identifier, IdentifierAssurance,
    IdentifierKind, OpenTokenRequest, StartContactRequest, TransferMode, TransferRequest,
    TransferResponse, TransferTarget, VerificationLevel, agent_session_request::Action,
    agent_session_response::Event, open_token_request::Opener, transfer_target::Target,
};
use baton_runtime::validate::field_violations;
use common::*;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

async fn open_as_agent(
    mesh: &Mesh,
    token: &[u8],
    agent_id: &str,
) -> Result<baton_proto::v1::ContextToken, tonic::Status> {
    mesh.routing
        .clone()
        .open_token(OpenTokenRequest {
            tenant_id: TENANT.into(),
            token: token.to_vec(),
            opener: Some(Opener::AgentId(agent_id.into())),
        })
        .await
        .map(|r| r.into_inner().token.unwrap_or_default())
}

async fn contact(mesh: &Mesh, contact_id: &str) -> baton_proto::v1::Contact {
    mesh.routing
        .clone()
        .get_contact(GetContactRequest {
            tenant_id: TENANT.into(),
            contact_id: contact_id.into(),
        })
        .await
        .expect("get contact")
        .into_inner()
        .contact
        .unwrap_or_default()
}

/// Transfers a contact with a handover.
async fn transfer(
    mesh: &Mesh,
    contact_id: &str,
    from: &str,
    target: Target,
    mode: TransferMode,
    key: &str,
) -> Result<TransferResponse, tonic::Status> {
    let request = TransferRequest {
        tenant_id: TENANT.into(),
        contact_id: contact_id.into(),
        from_agent_id: from.into(),
        target: Some(TransferTarget {
            target: Some(target),
            ..TransferTarget::default()
        }),
        mode: mode as i32,
        handover: Some(Handover {
            summary: "card declined twice; confirmed address; needs a dispute opened".into(),
            reason: "needs a specialist".into(),
            ..Handover::default()
        }),
        idempotency_key: key.into(),
    };
    mesh.routing
        .clone()
        .transfer(request)
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn a_started_contact_is_offered_with_a_token_its_agent_opens_and_others_cannot() {
    let mesh = mesh().await;
    agent(&mesh, "ann", 1, &[(Channel::Voice, 1)]).await;
    agent(&mesh, "tim", 2, &[(Channel::Voice, 1)]).await;
    let mut ann = desk(&mesh, "ann").await;
    let started = start(&mesh, start_request(Channel::Voice, "start-1")).await;
    let c = started.contact.clone().expect("contact");
    assert!(c.contact_id.starts_with("con_"));
    assert!(!c.customer_id.is_empty(), "identity resolved a customer");
    assert!(!started.partial, "every dependency answered");
    assert_eq!(
        started.placement.as_ref().map(|p| p.agent_id.as_str()),
        Some("ann")
    );

    let offer = ann.offer().await;
    assert!(offer.offer_id.starts_with("ofr_"));
    assert_eq!(
        offer.contact.as_ref().map(|c| c.contact_id.as_str()),
        Some(c.contact_id.as_str())
    );
    let token = open_as_agent(&mesh, &offer.token, "ann")
        .await
        .expect("ann opens");
    assert_eq!(token.contact_id, c.contact_id);
    assert_eq!(token.customer_id, c.customer_id);
    assert_eq!(token.utterance, "my card was declined twice");
    assert_eq!(token.path.len(), 1);
    assert_eq!(token.path[0].kind, HopKind::Start as i32);
    assert!(token.context.is_some(), "the token carries the history");

    let denied = open_as_agent(&mesh, &offer.token, "tim")
        .await
        .expect_err("tier 2");
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert!(
        denied.message().contains("audience"),
        "{}",
        denied.message()
    );
    let unknown = open_as_agent(&mesh, &offer.token, "nobody")
        .await
        .expect_err("unknown");
    assert_eq!(unknown.code(), Code::PermissionDenied);
    assert!(
        unknown.message().contains("unknown agent"),
        "{}",
        unknown.message()
    );

    let connected = ann.accept(&offer.offer_id).await;
    assert_eq!(connected.offer_id, offer.offer_id);
    let now = contact(&mesh, &c.contact_id).await;
    assert_eq!(now.state, ContactState::Connected as i32);
    assert_eq!(now.agent_id, "ann");
}

#[tokio::test]
async fn a_retried_start_returns_the_same_contact() {
    let mesh = mesh().await;
    let first = start(&mesh, start_request(Channel::Chat, "same-key")).await;
    let again = start(&mesh, start_request(Channel::Chat, "same-key")).await;
    assert_eq!(first.contact, again.contact);
    assert_eq!(first.token, again.token);
    assert_eq!(first.placement.map(|p| p.position), Some(1));
}

#[tokio::test]
async fn a_rejected_offer_goes_to_the_next_agent() {
    let mesh = mesh().await;
    agent(&mesh, "ann", 1, &[(Channel::Voice, 1)]).await;
    agent(&mesh, "bob", 1, &[(Channel::Voice, 1)]).await;
    let mut ann = desk(&mesh, "ann").await;
    let mut bob = desk(&mesh, "bob").await;
    let started = start(&mesh, start_request(Channel::Voice, "start-r")).await;
    let first_agent = started.placement.map(|p| p.agent_id).unwrap_or_default();
    let (first, second) = if first_agent == "ann" {
        (&mut ann, &mut bob)
    } else {
        (&mut bob, &mut ann)
    };
    let offer = first.offer().await;
    first.reject(&offer.offer_id).await;
    let next = second.offer().await;
    assert_eq!(
        next.contact.map(|c| c.contact_id),
        offer.contact.map(|c| c.contact_id)
    );
}

#[tokio::test]
async fn a_rejecting_agent_alone_is_offered_the_contact_again_after_the_cool_down() {
    let config = baton_routing::RoutingConfig {
        offer_cooldown: std::time::Duration::from_millis(300),
        ..baton_routing::RoutingConfig::default()
    };
    let mesh = mesh_with(config, true).await;
    agent(&mesh, "ann", 1, &[(Channel::Voice, 1)]).await;
    let mut ann = desk(&mesh, "ann").await;
    let started = start(&mesh, start_request(Channel::Voice, "start-c")).await;
    let offer = ann.offer().await;
    let rejected_at = std::time::Instant::now();
    ann.reject(&offer.offer_id).await;
    // Refreshing her state brings nothing back early and loses nothing.
    agent(&mesh, "ann", 1, &[(Channel::Voice, 1)]).await;
    let again = ann.offer().await;
    assert!(rejected_at.elapsed() >= std::time::Duration::from_millis(300));
    assert_ne!(again.offer_id, offer.offer_id);
    assert_eq!(
        again.contact.map(|c| c.contact_id),
        started.contact.map(|c| c.contact_id)
    );
}

#[tokio::test]
async fn an_unanswered_offer_is_withdrawn_and_offered_to_someone_else() {
    let mesh = mesh_with(quick_offers(), true).await;
    agent(&mesh, "ann", 1, &[(Channel::Voice, 1)]).await;
    let mut ann = desk(&mesh, "ann").await;
    let started = start(&mesh, start_request(Channel::Voice, "start-t")).await;
    let offer = ann.offer().await;
    agent(&mesh, "bob", 1, &[(Channel::Voice, 1)]).await;
    let mut bob = desk(&mesh, "bob").await;
    // The offer lapses after 300 ms: the stream delivers the withdrawal when it happens.
    match ann.next().await {
        Event::Withdrawn(w) => {
            assert_eq!(w.offer_id, offer.offer_id);
            assert_eq!(w.reason, "offer timed out");
        }
        other => panic!("expected withdrawn, got {other:?}"),
    }
    let next = bob.offer().await;
    assert_eq!(
        next.contact.map(|c| c.contact_id),
        started.contact.map(|c| c.contact_id)
    );
}

/// Starts a contact on voice and connects it to `ann` (tier 1); `tim` (tier 2) waits.
async fn connected_to_ann(mesh: &Mesh) -> (String, Desk, Desk) {
    agent(mesh, "ann", 1, &[(Channel::Voice, 1)]).await;
    agent(mesh, "tim", 2, &[(Channel::Voice, 1)]).await;
    let mut ann = desk(mesh, "ann").await;
    let tim = desk(mesh, "tim").await;
    let started = start(mesh, start_request(Channel::Voice, "start-x")).await;
    let offer = ann.offer().await;
    ann.accept(&offer.offer_id).await;
    (started.contact.expect("contact").contact_id, ann, tim)
}

#[tokio::test]
async fn a_cold_transfer_releases_the_first_agent_at_once() {
    let mesh = mesh().await;
    let (id, _ann, mut tim) = connected_to_ann(&mesh).await;
    let moved = transfer(
        &mesh,
        &id,
        "ann",
        Target::Tier(2),
        TransferMode::Cold,
        "t-cold",
    )
    .await
    .expect("transfer");
    let c = moved.contact.expect("contact");
    assert_eq!(c.holding_agent_id, "");
    assert_eq!(c.path.len(), 2);
    assert_eq!(c.path[1].kind, HopKind::ColdTransfer as i32);
    assert_eq!(
        c.requested_at,
        contact(&mesh, &id).await.requested_at,
        "kept"
    );
    let offer = tim.offer().await;
    let token = open_as_agent(&mesh, &offer.token, "tim")
        .await
        .expect("tim opens");
    assert_eq!(token.token_id, c.token_id);
    assert!(
        token
            .handover
            .is_some_and(|h| h.summary.starts_with("card declined"))
    );
    assert!(
        open_as_agent(&mesh, &offer.token, "ann").await.is_err(),
        "tier 1 cannot"
    );
    // Ann is free again: a new voice contact goes to her.
    let next = start(&mesh, start_request(Channel::Voice, "start-y")).await;
    assert_eq!(next.placement.map(|p| p.agent_id), Some("ann".into()));
}

#[tokio::test]
async fn a_warm_transfer_holds_the_first_agent_until_the_next_accepts() {
    let mesh = mesh().await;
    let (id, _ann, mut tim) = connected_to_ann(&mesh).await;
    let moved = transfer(
        &mesh,
        &id,
        "ann",
        Target::Tier(2),
        TransferMode::Warm,
        "t-warm",
    )
    .await
    .expect("transfer");
    assert_eq!(
        moved.contact.as_ref().map(|c| c.holding_agent_id.as_str()),
        Some("ann")
    );
    // Ann still holds the customer: another voice contact waits.
    let waiting = start(&mesh, start_request(Channel::Voice, "start-w")).await;
    assert_eq!(
        waiting.placement.map(|p| p.state),
        Some(ContactState::Queued as i32)
    );
    let offer = tim.offer().await;
    tim.accept(&offer.offer_id).await;
    let now = contact(&mesh, &id).await;
    assert_eq!(
        (now.agent_id.as_str(), now.holding_agent_id.as_str()),
        ("tim", "")
    );
    assert_eq!(now.path[1].kind, HopKind::WarmTransfer as i32);
}

#[tokio::test]
async fn the_first_agent_may_cancel_a_warm_transfer_nobody_accepted_yet() {
    let mesh = mesh().await;
    let (id, mut ann, mut tim) = connected_to_ann(&mesh).await;
    transfer(
        &mesh,
        &id,
        "ann",
        Target::Tier(2),
        TransferMode::Warm,
        "t-cancel",
    )
    .await
    .expect("transfer");
    let offer = tim.offer().await;
    ann.send(Action::CancelTransfer(baton_proto::v1::CancelTransfer {
        contact_id: id.clone(),
    }))
    .await;
    match ann.next().await {
        Event::TransferReturned(r) => {
            assert_eq!(r.reason, "transfer cancelled");
            let c = r.contact.expect("contact");
            assert_eq!(
                (c.agent_id.as_str(), c.state),
                ("ann", ContactState::Connected as i32)
            );
        }
        other => panic!("expected the transfer back, got {other:?}"),
    }
    match tim.next().await {
        Event::Withdrawn(w) => assert_eq!(
            (w.offer_id.as_str(), w.reason.as_str()),
            (offer.offer_id.as_str(), "transfer cancelled")
        ),
        other => panic!("expected withdrawn, got {other:?}"),
    }
    let now = contact(&mesh, &id).await;
    assert_eq!(
        (
            now.agent_id.as_str(),
            now.holding_agent_id.as_str(),
            now.path.len()
        ),
        ("ann", "", 1)
    );
}

#[tokio::test]
async fn a_transfer_by_an_agent_who_does_not_hold_the_contact_is_refused() {
    let mesh = mesh().await;
    let (id, _ann, _tim) = connected_to_ann(&mesh).await;
    let err = transfer(
        &mesh,
        &id,
        "tim",
        Target::Tier(2),
        TransferMode::Cold,
        "t-bad",
    )
    .await
    .expect_err("not tim's");
    assert_eq!(err.code(), Code::FailedPrecondition);
    let err = transfer(
        &mesh,
        "con_missing",
        "",
        Target::Tier(2),
        TransferMode::Cold,
        "t-nf",
    )
    .await
    .expect_err("unknown");
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn a_transfer_nobody_could_ever_take_is_refused_at_once_and_the_contact_stays() {
    let mesh = mesh().await;
    let (id, _ann, _tim) = connected_to_ann(&mesh).await;
    let err = transfer(
        &mesh,
        &id,
        "ann",
        Target::Tier(3),
        TransferMode::Warm,
        "t-tier3",
    )
    .await
    .expect_err("nobody in tier 3");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message().contains("no registered agent serves tier 3"),
        "{}",
        err.message()
    );
    let to_mortgages = TransferRequest {
        tenant_id: TENANT.into(),
        contact_id: id.clone(),
        from_agent_id: "ann".into(),
        target: Some(TransferTarget {
            target: Some(Target::Tier(2)),
            required_skills: vec![baton_proto::v1::SkillRequirement {
                name: "Mortgages".into(),
                min_proficiency: 5,
            }],
        }),
        mode: TransferMode::Cold as i32,
        handover: Some(Handover {
            summary: "wants to remortgage".into(),
            ..Handover::default()
        }),
        idempotency_key: "t-mortgages".into(),
    };
    let err = mesh
        .routing
        .clone()
        .transfer(to_mortgages)
        .await
        .expect_err("nobody has mortgages");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message()
            .contains("has skill mortgages at proficiency 5 or more"),
        "{}",
        err.message()
    );
    let now = contact(&mesh, &id).await;
    assert_eq!(now.state, ContactState::Connected as i32);
    assert_eq!((now.agent_id.as_str(), now.path.len()), ("ann", 1));
}

#[tokio::test]
async fn a_switch_from_chat_to_voice_carries_the_verification_and_the_handover() {
    let mesh = mesh().await;
    agent(&mesh, "chat-agent", 1, &[(Channel::Chat, 3)]).await;
    agent(&mesh, "voice-agent", 1, &[(Channel::Voice, 1)]).await;
    let mut chat = desk(&mesh, "chat-agent").await;
    let mut voice = desk(&mesh, "voice-agent").await;
    let request = StartContactRequest {
        identifiers: vec![Identifier {
            kind: IdentifierKind::Login as i32,
            value: "oidc|user-42".into(),
            assurance: IdentifierAssurance::Verified as i32,
            ..Identifier::default()
        }],
        ..start_request(Channel::Chat, "start-chat")
    };
    let started = start(&mesh, request).await;
    let verification = started
        .contact
        .as_ref()
        .and_then(|c| c.verification.clone())
        .expect("verification");
    assert_eq!(verification.level, VerificationLevel::Verified as i32);
    let id = started.contact.expect("contact").contact_id;
    let offer = chat.offer().await;
    chat.accept(&offer.offer_id).await;

    transfer(
        &mesh,
        &id,
        "chat-agent",
        Target::Channel(Channel::Voice as i32),
        TransferMode::Warm,
        "switch",
    )
    .await
    .expect("switch");
    let offer = voice.offer().await;
    let token = open_as_agent(&mesh, &offer.token, "voice-agent")
        .await
        .expect("opens");
    assert_eq!(token.channel, Channel::Voice as i32);
    assert_eq!(
        token.verification,
        Some(verification),
        "verified on chat, never asked again"
    );
    assert!(
        token
            .handover
            .is_some_and(|h| h.summary.contains("needs a dispute"))
    );
    assert_eq!(
        token.path.last().map(|h| h.kind),
        Some(HopKind::ChannelSwitch as i32)
    );
}

#[tokio::test]
async fn with_identity_down_a_contact_still_routes_and_is_marked_partial() {
    let mesh = mesh_with(baton_routing::RoutingConfig::default(), false).await;
    agent(&mesh, "ann", 1, &[(Channel::Voice, 1)]).await;
    let mut ann = desk(&mesh, "ann").await;
    let started = start(&mesh, start_request(Channel::Voice, "start-down")).await;
    assert!(started.partial);
    let c = started.contact.expect("contact");
    assert_eq!(c.customer_id, "");
    assert_eq!(
        c.verification.map(|v| v.level),
        Some(VerificationLevel::None as i32)
    );
    let offer = ann.offer().await;
    let token = open_as_agent(&mesh, &offer.token, "ann")
        .await
        .expect("opens");
    assert!(token.partial);
    assert!(
        token
            .partial_reasons
            .iter()
            .any(|r| r == "identity unavailable")
    );
}

#[tokio::test]
async fn identity_refusing_a_call_while_it_restarts_is_tried_again_and_the_contact_is_identified() {
    let mesh = mesh_with_identity_refusing(1).await;
    agent(&mesh, "ann", 1, &[(Channel::Voice, 1)]).await;
    let mut ann = desk(&mesh, "ann").await;
    let started = start(&mesh, start_request(Channel::Voice, "start-retried")).await;
    assert!(!started.partial, "{started:?}");
    let c = started.contact.expect("contact");
    assert!(!c.customer_id.is_empty(), "resolved on the second attempt");
    let offer = ann.offer().await;
    let token = open_as_agent(&mesh, &offer.token, "ann")
        .await
        .expect("opens");
    assert!(!token.partial, "{:?}", token.partial_reasons);
}

#[tokio::test]
async fn ending_a_contact_withdraws_its_offer_and_is_idempotent() {
    let mesh = mesh().await;
    agent(&mesh, "ann", 1, &[(Channel::Voice, 1)]).await;
    let mut ann = desk(&mesh, "ann").await;
    let started = start(&mesh, start_request(Channel::Voice, "start-e")).await;
    let id = started.contact.expect("contact").contact_id;
    let offer = ann.offer().await;
    let end = EndContactRequest {
        tenant_id: TENANT.into(),
        contact_id: id.clone(),
        summary: "customer hung up".into(),
        idempotency_key: "end-1".into(),
        ..EndContactRequest::default()
    };
    let ended = mesh
        .routing
        .clone()
        .end_contact(end.clone())
        .await
        .expect("end")
        .into_inner();
    assert_eq!(
        ended.contact.as_ref().map(|c| c.state),
        Some(ContactState::Ended as i32)
    );
    match ann.next().await {
        Event::Withdrawn(w) => {
            assert_eq!(w.offer_id, offer.offer_id);
            assert_eq!(w.reason, "contact ended");
        }
        other => panic!("expected withdrawn, got {other:?}"),
    }
    let again = EndContactRequest {
        idempotency_key: "end-2".into(),
        ..end
    };
    let again = mesh
        .routing
        .clone()
        .end_contact(again)
        .await
        .expect("end again")
        .into_inner();
    assert_eq!(
        again.contact, ended.contact,
        "an ended contact comes back unchanged"
    );
    let err = transfer(
        &mesh,
        &id,
        "",
        Target::Tier(2),
        TransferMode::Cold,
        "t-ended",
    )
    .await
    .expect_err("ended");
    assert_eq!(err.code(), Code::FailedPrecondition);
}

#[tokio::test]
async fn a_note_can_open_a_case() {
    let mesh = mesh().await;
    let started = start(&mesh, start_request(Channel::Chat, "start-n")).await;
    let id = started.contact.expect("contact").contact_id;
    let request = AddNoteRequest {
        tenant_id: TENANT.into(),
        contact_id: id,
        agent_id: "ann".into(),
        text: "dispute filed for both declines".into(),
        open_case: Some(CaseOpened {
            subject: "card declined".into(),
            category: "cards".into(),
            ..CaseOpened::default()
        }),
        idempotency_key: "note-1".into(),
        ..AddNoteRequest::default()
    };
    let first = mesh
        .routing
        .clone()
        .add_note(request.clone())
        .await
        .expect("note")
        .into_inner();
    assert!(first.case_id.starts_with("case_"));
    assert!(first.context_version > 0);
    let again = mesh
        .routing
        .clone()
        .add_note(request)
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(again, first);
}

#[tokio::test]
async fn malformed_requests_are_refused_with_field_violations() {
    let mesh = mesh().await;
    let err = mesh
        .routing
        .clone()
        .start_contact(StartContactRequest {
            tenant_id: TENANT.into(),
            utterance: "x".repeat(5000),
            ..StartContactRequest::default()
        })
        .await
        .expect_err("invalid");
    assert_eq!(err.code(), Code::InvalidArgument);
    let fields: Vec<String> = field_violations(&err).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["channel", "utterance", "idempotency_key"]);

    let err = mesh
        .routing
        .clone()
        .open_token(OpenTokenRequest {
            tenant_id: TENANT.into(),
            token: b"BTN".to_vec(),
            opener: Some(Opener::Channel(Channel::Voice as i32)),
        })
        .await
        .expect_err("not a token");
    assert_eq!(err.code(), Code::Unauthenticated);
}

/// Opens a session whose first message is `first`, expecting it refused.
async fn refused_session(mesh: &Mesh, first: Action, why: &str) -> tonic::Status {
    let (tx, rx) = mpsc::channel(2);
    tx.send(AgentSessionRequest {
        action: Some(first),
    })
    .await
    .expect("send");
    mesh.routing
        .clone()
        .agent_session(ReceiverStream::new(rx))
        .await
        .expect_err(why)
}

#[tokio::test]
async fn a_session_must_start_with_hello_for_a_known_agent() {
    let mesh = mesh().await;
    let err = refused_session(&mesh, Action::Reject(Default::default()), "no hello").await;
    assert_eq!(err.code(), Code::FailedPrecondition);

    let ghost = Action::Hello(AgentHello {
        tenant_id: TENANT.into(),
        agent_id: "ghost".into(),
    });
    let err = refused_session(&mesh, ghost, "unknown agent").await;
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn closing_a_desk_requeues_its_offer_and_shutdown_ends_sessions() {
    let mesh = mesh().await;
    agent(&mesh, "ann", 1, &[(Channel::Voice, 1)]).await;
    let mut ann = desk(&mesh, "ann").await;
    let started = start(&mesh, start_request(Channel::Voice, "start-c")).await;
    let id = started.contact.expect("contact").contact_id;
    ann.offer().await;
    drop(ann);
    agent(&mesh, "bob", 1, &[(Channel::Voice, 1)]).await;
    let mut bob = desk(&mesh, "bob").await;
    let offer = bob.offer().await;
    assert_eq!(offer.contact.map(|c| c.contact_id), Some(id));
    mesh.shutdown.trigger();
    assert!(
        bob.events
            .message()
            .await
            .map(|m| m.is_none())
            .unwrap_or(true),
        "stream ends"
    );
}

#[tokio::test]
async fn another_tenant_cannot_see_a_contact() {
    let mesh = mesh().await;
    let started = start(&mesh, start_request(Channel::Chat, "start-iso")).await;
    let err = mesh
        .routing
        .clone()
        .get_contact(GetContactRequest {
            tenant_id: "globex".into(),
            contact_id: started.contact.expect("contact").contact_id,
        })
        .await
        .expect_err("other tenant");
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn history_written_while_context_is_down_reaches_it_once_when_it_returns() {
    use baton_proto::v1::{ListEventsRequest, event::Payload};
    let mesh = mesh_without_context().await;
    agent(&mesh, "ann", 1, &[(Channel::Voice, 1)]).await;
    let mut ann = desk(&mesh, "ann").await;
    let started = start(&mesh, start_request(Channel::Voice, "start-no-context")).await;
    assert!(started.partial, "the history could not be read");
    let c = started.contact.expect("contact");
    assert!(!c.customer_id.is_empty(), "identity answered");
    let offer = ann.offer().await;
    ann.accept(&offer.offer_id).await;
    mesh.routing
        .clone()
        .end_contact(EndContactRequest {
            tenant_id: TENANT.into(),
            contact_id: c.contact_id.clone(),
            agent_id: "ann".into(),
            summary: "card unblocked".into(),
            idempotency_key: "end-no-context".into(),
            ..EndContactRequest::default()
        })
        .await
        .expect("the contact ends without context");

    // Context comes back: what happened meanwhile is appended, each event once, in order.
    mesh.start_context().await;
    let mut context = mesh.context().await;
    let list = ListEventsRequest {
        tenant_id: TENANT.into(),
        customer_id: c.customer_id.clone(),
        ..ListEventsRequest::default()
    };
    let kinds = |events: &[baton_proto::v1::Event]| -> Vec<&'static str> {
        events
            .iter()
            .map(|e| match &e.payload {
                Some(Payload::ContactStarted(_)) => "started",
                Some(Payload::TokenIssued(_)) => "token",
                Some(Payload::ContactAssigned(_)) => "assigned",
                Some(Payload::ContactEnded(_)) => "ended",
                _ => "other",
            })
            .collect()
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let events = loop {
        let events = match context.list_events(list.clone()).await {
            Ok(answer) => answer.into_inner().events,
            Err(status) if status.code() == Code::Unavailable => Vec::new(),
            Err(status) => panic!("listing events: {status:?}"),
        };
        if kinds(&events).contains(&"ended") {
            break events;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the kept events never reached context: {:?}",
            kinds(&events)
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    // Kept in the order they happened (the assignment is written beside the desk's answer,
    // so it may be kept after the end).
    let mut seen = kinds(&events);
    assert_eq!(seen.first(), Some(&"started"), "{seen:?}");
    seen.sort_unstable();
    assert_eq!(seen, ["assigned", "ended", "started", "token"]);
    assert!(
        events.iter().all(|e| e.contact_id == c.contact_id),
        "every event names the contact"
    );
    // Rounds go on; nothing is appended twice.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let again = context
        .list_events(list)
        .await
        .expect("list")
        .into_inner()
        .events;
    assert_eq!(again.len(), events.len(), "{:?}", kinds(&again));
}
