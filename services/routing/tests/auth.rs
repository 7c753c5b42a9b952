//! What an authenticated caller may do within a call, over real gRPC through the real auth
//! layer with bearer JWTs: the attacks measured against the running mesh are refused.

mod common;

use baton_auth::Role;
use baton_proto::v1::{
    AddNoteRequest, Channel, ContactState, EndContactRequest, GetContactRequest,
    GetQueueStatsRequest, Handover, Identifier, IdentifierAssurance, IdentifierKind,
    ListAgentsRequest, ListQueuesRequest, OpenTokenRequest, Presence, Queue, QueueSet,
    SetAgentStateRequest, Skill, SkillSet, StartContactRequest, TransferRequest, TransferTarget,
    UpsertQueueRequest, WatchRoutingRequest, open_token_request::Opener, routing_event,
    transfer_target::Target,
};
use baton_runtime::validate::field_violations;
use common::*;
use std::time::Duration;
use tonic::Code;

async fn open(
    client: &Client,
    token: &[u8],
    opener: Option<Opener>,
) -> Result<baton_proto::v1::ContextToken, tonic::Status> {
    client
        .clone()
        .open_token(OpenTokenRequest {
            tenant_id: TENANT.into(),
            token: token.to_vec(),
            opener,
        })
        .await
        .map(|r| r.into_inner().token.unwrap_or_default())
}

fn start_with_email(email: &str, key: &str) -> StartContactRequest {
    StartContactRequest {
        identifiers: vec![Identifier {
            kind: IdentifierKind::Email as i32,
            value: email.into(),
            assurance: IdentifierAssurance::Verified as i32,
            ..Identifier::default()
        }],
        ..start_request(Channel::Voice, key)
    }
}

#[tokio::test]
async fn an_agent_of_another_tenant_cannot_create_itself_here_nor_open_its_tokens() {
    let mesh = auth_mesh().await;
    agent(&mesh, "ann", 1, &[(Channel::Voice, 1)]).await;
    let mut ann = desk_on(&mesh.agent_desk(TENANT, "ann"), "ann")
        .await
        .expect("ann's desk");
    let gateway = mesh.gateway("ivr-1");
    gateway
        .clone()
        .start_contact(start_request(Channel::Voice, "start-m"))
        .await
        .expect("start");
    let offer = ann.offer().await;

    let mallory = mesh.agent_desk("globex", "mallory");
    let err = mallory
        .clone()
        .set_agent_state(SetAgentStateRequest {
            tenant_id: TENANT.into(),
            agent_id: "mallory".into(),
            presence: Presence::Available as i32,
            tier: Some(1),
            queues: Some(QueueSet {
                queue_ids: vec!["billing".into()],
            }),
            idempotency_key: "mallory-1".into(),
            ..SetAgentStateRequest::default()
        })
        .await
        .expect_err("another tenant");
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(
        err.message().contains("may not act for tenant acme"),
        "{}",
        err.message()
    );
    // In its own tenant it still cannot create an agent: a supervisor does that.
    let err = mallory
        .clone()
        .set_agent_state(SetAgentStateRequest {
            agent_id: "mallory".into(),
            presence: Presence::Available as i32,
            ..SetAgentStateRequest::default()
        })
        .await
        .expect_err("not created by a supervisor");
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(
        err.message().contains("creating an agent"),
        "{}",
        err.message()
    );

    let err = open(&mallory, &offer.token, None)
        .await
        .expect_err("acme's token");
    assert_eq!(err.code(), Code::PermissionDenied);
    // Created in her own tenant by someone who may, she still opens only her tenant's tokens.
    mesh.routing
        .clone()
        .set_agent_state(SetAgentStateRequest {
            tenant_id: "globex".into(),
            agent_id: "mallory".into(),
            tier: Some(1),
            ..SetAgentStateRequest::default()
        })
        .await
        .expect("globex's supervisor creates mallory");
    let err = mallory
        .clone()
        .open_token(OpenTokenRequest {
            token: offer.token.clone(),
            ..OpenTokenRequest::default()
        })
        .await
        .expect_err("as its own tenant");
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(
        err.message().starts_with("tenant check failed"),
        "{}",
        err.message()
    );
}

#[tokio::test]
async fn an_agent_session_is_never_taken_over() {
    let mesh = auth_mesh().await;
    agent(&mesh, "ann", 1, &[(Channel::Voice, 1)]).await;
    agent(&mesh, "bob", 1, &[(Channel::Voice, 1)]).await;
    let ann_desk = mesh.agent_desk(TENANT, "ann");
    let mut ann = desk_on(&ann_desk, "ann").await.expect("ann's desk");

    let bob_desk = mesh.agent_desk(TENANT, "bob");
    let err = desk_on(&bob_desk, "ann")
        .await
        .err()
        .expect("bob is not ann");
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(
        err.message().contains("agent bob may not act as agent ann"),
        "{}",
        err.message()
    );

    let err = desk_on(&ann_desk, "ann")
        .await
        .err()
        .expect("a second session for ann");
    assert_eq!(err.code(), Code::AlreadyExists);
    assert_eq!(
        err.message(),
        "agent ann already has an open session on this server; close it first"
    );

    // Ann's first session carries on: it is offered the next contact.
    mesh.gateway("ivr-1")
        .start_contact(start_request(Channel::Voice, "start-s"))
        .await
        .expect("start");
    let offer = ann.offer().await;
    let connected = ann.accept(&offer.offer_id).await;
    assert_eq!(connected.offer_id, offer.offer_id);

    // Once she closes it, she may open another.
    drop(ann);
    let mut again = None;
    for _ in 0..50 {
        match desk_on(&ann_desk, "ann").await {
            Ok(desk) => {
                again = Some(desk);
                break;
            }
            Err(status) if status.code() == Code::AlreadyExists => {
                tokio::task::yield_now().await;
            }
            Err(status) => panic!("unexpected {status:?}"),
        }
    }
    assert!(again.is_some(), "a closed session frees the agent");
}

#[tokio::test]
async fn an_offer_token_opens_only_for_the_agent_it_is_offered_to() {
    let mesh = auth_mesh().await;
    agent(&mesh, "ann", 1, &[(Channel::Voice, 1)]).await;
    agent(&mesh, "bob", 1, &[(Channel::Voice, 1)]).await;
    let ann_desk = mesh.agent_desk(TENANT, "ann");
    let bob_desk = mesh.agent_desk(TENANT, "bob");
    let mut ann = desk_on(&ann_desk, "ann").await.expect("ann's desk");
    let gateway = mesh.gateway("ivr-1");
    gateway
        .clone()
        .start_contact(start_request(Channel::Voice, "start-o"))
        .await
        .expect("start");
    let offer = ann.offer().await;

    let opened = open(&ann_desk, &offer.token, None)
        .await
        .expect("ann opens");
    let again = open(&ann_desk, &offer.token, Some(Opener::AgentId("ann".into())))
        .await
        .expect("naming herself");
    assert_eq!(opened.contact_id, again.contact_id);

    let err = open(&bob_desk, &offer.token, None)
        .await
        .expect_err("bob, same tier");
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(
        err.message(),
        "audience check failed: token is for another agent"
    );
    let err = open(&bob_desk, &offer.token, Some(Opener::AgentId("ann".into())))
        .await
        .expect_err("bob naming ann");
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(
        err.message().contains("only as itself"),
        "{}",
        err.message()
    );
    let err = open(
        &gateway,
        &offer.token,
        Some(Opener::Channel(Channel::Voice as i32)),
    )
    .await
    .expect_err("a gateway never opens an agent's token");
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = open(&gateway, &offer.token, Some(Opener::AgentId("ann".into())))
        .await
        .expect_err("a gateway is not an agent");
    assert_eq!(err.code(), Code::PermissionDenied);

    // Offered on to bob, the contact carries a token of bob's, which ann cannot open.
    let mut bob = desk_on(&bob_desk, "bob").await.expect("bob's desk");
    ann.reject(&offer.offer_id).await;
    let to_bob = bob.offer().await;
    assert_ne!(to_bob.token, offer.token);
    open(&bob_desk, &to_bob.token, None)
        .await
        .expect("bob opens his");
    let err = open(&ann_desk, &to_bob.token, None)
        .await
        .expect_err("ann, bob's token");
    assert_eq!(err.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn a_start_replayed_under_the_same_key_with_another_request_discloses_nothing() {
    let mesh = auth_mesh().await;
    let gateway = mesh.gateway("ivr-1");
    let first = gateway
        .clone()
        .start_contact(start_with_email("ann.customer@example.com", "shared-key"))
        .await
        .expect("first")
        .into_inner();
    let first_id = first.contact.expect("contact").contact_id;
    let retry = gateway
        .clone()
        .start_contact(start_with_email("ann.customer@example.com", "shared-key"))
        .await
        .expect("a true retry")
        .into_inner();
    assert_eq!(retry.contact.map(|c| c.contact_id), Some(first_id.clone()));

    let err = gateway
        .clone()
        .start_contact(start_with_email("someone.else@example.com", "shared-key"))
        .await
        .expect_err("another request under the key");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        field_violations(&err),
        [(
            "idempotency_key".to_owned(),
            "was already used for a different request".to_owned()
        )]
    );
    let disclosed = format!("{err:?}");
    assert!(!disclosed.contains(&first_id), "{disclosed}");
    assert!(!disclosed.contains("ann.customer"), "{disclosed}");
    assert!(err.details().len() < 256, "only the violation is sent back");

    // Another gateway's key is its own: the same key, even with the same request, starts a
    // contact of its own instead of finding the first one.
    let other = mesh
        .gateway("ivr-2")
        .start_contact(start_with_email("ann.customer@example.com", "shared-key"))
        .await
        .expect("another caller's key")
        .into_inner();
    let other_id = other.contact.expect("contact").contact_id;
    assert_ne!(other_id, first_id);
    assert_ne!(other.token, first.token);
    // Nor does the key one gateway used refuse another's different request: the keys routing
    // derives for identity and context are the caller's and the request's own.
    mesh.gateway("ivr-3")
        .start_contact(start_with_email("someone.else@example.com", "shared-key"))
        .await
        .expect("a third caller, another request, the same key");
}

#[tokio::test]
async fn an_agent_changes_only_its_own_presence() {
    let mesh = auth_mesh().await;
    agent(&mesh, "ann", 1, &[(Channel::Voice, 1)]).await;
    let ann = mesh.agent_desk(TENANT, "ann");
    let err = ann
        .clone()
        .set_agent_state(SetAgentStateRequest {
            agent_id: "ann".into(),
            tier: Some(3),
            skills: Some(SkillSet {
                skills: vec![Skill {
                    name: "mortgages".into(),
                    proficiency: 10,
                }],
            }),
            ..SetAgentStateRequest::default()
        })
        .await
        .expect_err("promoting herself");
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(
        err.message(),
        "agent ann may change only its own presence: changing skills, tier needs supervisor or admin"
    );
    let err = ann
        .clone()
        .set_agent_state(SetAgentStateRequest {
            agent_id: "bob".into(),
            presence: Presence::Away as i32,
            ..SetAgentStateRequest::default()
        })
        .await
        .expect_err("another agent");
    assert_eq!(err.code(), Code::PermissionDenied);

    let away = ann
        .clone()
        .set_agent_state(SetAgentStateRequest {
            agent_id: "ann".into(),
            presence: Presence::Away as i32,
            ..SetAgentStateRequest::default()
        })
        .await
        .expect("her presence")
        .into_inner()
        .agent
        .expect("agent");
    assert_eq!(away.presence, Presence::Away as i32);
    assert_eq!((away.tier, away.skills.len()), (1, 0), "nothing else moved");

    let promoted = mesh
        .supervisor()
        .set_agent_state(SetAgentStateRequest {
            agent_id: "ann".into(),
            tier: Some(2),
            ..SetAgentStateRequest::default()
        })
        .await
        .expect("a supervisor may")
        .into_inner()
        .agent
        .expect("agent");
    assert_eq!(promoted.tier, 2);
}

#[tokio::test]
async fn an_agent_acts_only_on_its_own_contacts_and_a_gateway_never_as_an_agent() {
    let mesh = auth_mesh().await;
    agent(&mesh, "ann", 1, &[(Channel::Voice, 1)]).await;
    agent(&mesh, "bob", 2, &[(Channel::Voice, 1)]).await;
    let ann_desk = mesh.agent_desk(TENANT, "ann");
    let bob_desk = mesh.agent_desk(TENANT, "bob");
    let mut ann = desk_on(&ann_desk, "ann").await.expect("ann's desk");
    let mut bob = desk_on(&bob_desk, "bob").await.expect("bob's desk");
    let gateway = mesh.gateway("ivr-1");
    let started = gateway
        .clone()
        .start_contact(start_request(Channel::Voice, "start-a"))
        .await
        .expect("start")
        .into_inner();
    let id = started.contact.expect("contact").contact_id;
    let offer = ann.offer().await;
    ann.accept(&offer.offer_id).await;

    let get = |client: &Client| {
        let mut client = client.clone();
        let id = id.clone();
        async move {
            client
                .get_contact(GetContactRequest {
                    contact_id: id,
                    ..GetContactRequest::default()
                })
                .await
        }
    };
    get(&ann_desk).await.expect("hers");
    get(&gateway).await.expect("gateways read contacts");
    assert_eq!(
        get(&bob_desk).await.expect_err("not bob's").code(),
        Code::PermissionDenied
    );
    let note = |agent_id: &str| AddNoteRequest {
        contact_id: id.clone(),
        agent_id: agent_id.into(),
        text: "customer asked for a callback".into(),
        ..AddNoteRequest::default()
    };
    let err = bob_desk
        .clone()
        .add_note(note(""))
        .await
        .expect_err("bob does not hold it");
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(
        bob_desk
            .clone()
            .add_note(note("ann"))
            .await
            .expect_err("nor may he write as ann")
            .code(),
        Code::PermissionDenied
    );
    ann_desk
        .clone()
        .add_note(note(""))
        .await
        .expect("ann holds it");

    let end = EndContactRequest {
        contact_id: id.clone(),
        ..EndContactRequest::default()
    };
    assert_eq!(
        bob_desk
            .clone()
            .end_contact(end.clone())
            .await
            .expect_err("not bob's")
            .code(),
        Code::PermissionDenied
    );
    let as_ann = EndContactRequest {
        agent_id: "ann".into(),
        ..end.clone()
    };
    assert_eq!(
        gateway
            .clone()
            .end_contact(as_ann)
            .await
            .expect_err("a gateway is not an agent")
            .code(),
        Code::PermissionDenied
    );

    let transfer = |from: &str, key: &str| TransferRequest {
        contact_id: id.clone(),
        from_agent_id: from.into(),
        target: Some(TransferTarget {
            target: Some(Target::Tier(2)),
            ..TransferTarget::default()
        }),
        handover: Some(Handover {
            summary: "needs tier 2".into(),
            ..Handover::default()
        }),
        idempotency_key: key.into(),
        ..TransferRequest::default()
    };
    for (client, from, why) in [
        (&bob_desk, "", "bob does not hold it"),
        (&bob_desk, "ann", "bob is not ann"),
        (&gateway, "ann", "a gateway is not ann"),
    ] {
        let err = client
            .clone()
            .transfer(transfer(from, "t-1"))
            .await
            .expect_err(why);
        assert_eq!(err.code(), Code::PermissionDenied, "{why}: {err:?}");
    }
    let moved = ann_desk
        .clone()
        .transfer(transfer("", "t-1"))
        .await
        .expect("ann transfers as herself")
        .into_inner()
        .contact
        .expect("contact");
    assert_eq!(
        moved.path.last().map(|h| h.from_agent_id.as_str()),
        Some("ann")
    );
    let offer = bob.offer().await;
    bob.accept(&offer.offer_id).await;
    get(&bob_desk).await.expect("now bob's");
    let ended = bob_desk
        .clone()
        .end_contact(end)
        .await
        .expect("bob ends what he holds")
        .into_inner()
        .contact
        .expect("contact");
    assert_eq!(ended.state, ContactState::Ended as i32);
}

#[tokio::test]
async fn only_supervisors_and_admins_see_queues_and_agents() {
    let mesh = auth_mesh().await;
    agent(&mesh, "ann", 1, &[(Channel::Voice, 1)]).await;
    mesh.supervisor()
        .upsert_queue(UpsertQueueRequest {
            queue: Some(Queue {
                queue_id: "billing".into(),
                service_level_percent: 80,
                service_level_answer_secs: 20,
                ..Queue::default()
            }),
            idempotency_key: "queue-billing".into(),
            ..UpsertQueueRequest::default()
        })
        .await
        .expect("upsert queue");
    let mut queued = start_request(Channel::Voice, "start-q");
    queued.queue_id = "billing".into();
    mesh.gateway("ivr-1")
        .start_contact(queued)
        .await
        .expect("start");

    for (who, client) in [
        ("agent", mesh.agent_desk(TENANT, "ann")),
        ("gateway", mesh.gateway("ivr-1")),
    ] {
        let err = client
            .clone()
            .list_queues(ListQueuesRequest::default())
            .await
            .expect_err(who);
        assert_eq!(err.code(), Code::PermissionDenied, "{who}");
        assert!(err.message().contains("queues.read"), "{}", err.message());
        let err = client
            .clone()
            .get_queue_stats(GetQueueStatsRequest {
                queue_id: "billing".into(),
                ..GetQueueStatsRequest::default()
            })
            .await
            .expect_err(who);
        assert_eq!(err.code(), Code::PermissionDenied, "{who}");
        let err = client
            .clone()
            .list_agents(ListAgentsRequest::default())
            .await
            .expect_err(who);
        assert_eq!(err.code(), Code::PermissionDenied, "{who}");
        assert!(err.message().contains("agents.read"), "{}", err.message());
    }

    let supervisor = mesh.supervisor();
    let page = supervisor
        .clone()
        .list_queues(ListQueuesRequest::default())
        .await
        .expect("a supervisor may")
        .into_inner();
    assert_eq!(page.queues.len(), 1);
    assert_eq!(page.next_page_token, "");
    let billing = &page.queues[0];
    assert_eq!(
        (
            billing.depth,
            billing.agents_logged_in,
            billing.agents_available
        ),
        (1, 0, 0),
        "ann has no desk open"
    );
    assert_eq!(billing.channels, [Channel::Voice as i32]);
    assert!(billing.service_level.as_ref().is_some_and(|l| l.met));
    let stats = supervisor
        .clone()
        .get_queue_stats(GetQueueStatsRequest {
            queue_id: "billing".into(),
            ..GetQueueStatsRequest::default()
        })
        .await
        .expect("a supervisor may")
        .into_inner()
        .stats
        .expect("stats");
    assert_eq!(stats.depth, 1);
    let err = supervisor
        .clone()
        .get_queue_stats(GetQueueStatsRequest {
            queue_id: "nowhere".into(),
            ..GetQueueStatsRequest::default()
        })
        .await
        .expect_err("no such queue");
    assert_eq!(err.code(), Code::NotFound);
    let agents = supervisor
        .clone()
        .list_agents(ListAgentsRequest {
            queue_id: "billing".into(),
            ..ListAgentsRequest::default()
        })
        .await
        .expect("a supervisor may")
        .into_inner()
        .agents;
    assert_eq!(agents.len(), 1);
    assert_eq!(
        agents[0].agent.as_ref().map(|a| a.agent_id.as_str()),
        Some("ann")
    );

    // Another tenant's supervisor sees none of it, even naming the tenant.
    let other = mesh.client_as(&claims("sam", "globex", &[Role::Supervisor], None));
    let err = other
        .clone()
        .list_queues(ListQueuesRequest {
            tenant_id: TENANT.into(),
            ..ListQueuesRequest::default()
        })
        .await
        .expect_err("another tenant");
    assert_eq!(err.code(), Code::PermissionDenied);
    let theirs = other
        .clone()
        .list_queues(ListQueuesRequest::default())
        .await
        .expect("its own tenant")
        .into_inner();
    assert!(theirs.queues.is_empty());
}

#[tokio::test]
async fn a_supervisor_watches_contacts_and_agents_change_and_nobody_else_may() {
    let mesh = auth_mesh().await;
    let err = mesh
        .agent_desk(TENANT, "ann")
        .watch_routing(WatchRoutingRequest::default())
        .await
        .expect_err("an agent may not watch routing");
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(err.message().contains("routing.watch"), "{}", err.message());

    let mut events = mesh
        .supervisor()
        .watch_routing(WatchRoutingRequest::default())
        .await
        .expect("a supervisor may")
        .into_inner();
    agent(&mesh, "ann", 1, &[(Channel::Voice, 1)]).await;
    let mut ann = desk_on(&mesh.agent_desk(TENANT, "ann"), "ann")
        .await
        .expect("ann's desk");
    mesh.gateway("ivr-1")
        .start_contact(start_request(Channel::Voice, "start-w"))
        .await
        .expect("start");
    let offer = ann.offer().await;
    ann.accept(&offer.offer_id).await;

    // Read until the contact is connected: on the way, ann appears with her desk open and the
    // contact is queued and offered to her, in that order.
    let mut seen = Vec::new();
    while !seen.contains(&"connected") {
        let event = tokio::time::timeout(Duration::from_secs(10), events.message())
            .await
            .expect("events keep coming")
            .expect("stream")
            .expect("an event");
        assert!(event.at.is_some());
        match event.change {
            Some(routing_event::Change::Agent(a)) if a.agent_id == "ann" && a.session_open => {
                seen.push("desk open");
            }
            Some(routing_event::Change::Contact(c)) => {
                assert_eq!(
                    c.contact_id,
                    offer.contact.as_ref().expect("contact").contact_id
                );
                match ContactState::try_from(c.state) {
                    Ok(ContactState::Queued) => seen.push("queued"),
                    Ok(ContactState::Offered) => {
                        assert_eq!(
                            (c.agent_id.as_str(), c.offer_id.as_str()),
                            ("ann", offer.offer_id.as_str())
                        );
                        seen.push("offered");
                    }
                    Ok(ContactState::Connected) => {
                        assert_eq!(c.agent_id, "ann");
                        seen.push("connected");
                    }
                    other => panic!("unexpected state {other:?}"),
                }
            }
            _ => {}
        }
    }
    let at = |what| seen.iter().position(|s| *s == what);
    assert!(at("desk open") < at("offered"), "{seen:?}");
    assert!(at("offered") < at("connected"), "{seen:?}");
}
