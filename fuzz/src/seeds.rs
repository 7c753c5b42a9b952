//! The inputs each corpus starts from: valid tokens sealed with the fixed keys, identifiers
//! as callers write them, and valid (and nearly valid) requests of every type.
//!
//! `cargo run --example seeds` writes them to `corpus/<target>/<name>`. Sealed tokens carry
//! a random nonce, so writing them again changes those files without changing what they test.

use baton_proto::v1::audience::Target;
use baton_proto::v1::event::Payload;
use baton_proto::v1::open_token_request::Opener;
use baton_proto::v1::record_outcome_request::Outcome;
use baton_proto::v1::{
    AcceptOffer, Actor, ActorKind, AddNoteRequest, AgentHello, AgentSelection, AppendEventRequest,
    Article, Audience, CancelTransfer, CapacitySet, CaseOpened, CatalogItem, Channel,
    ChannelCapacity, ContactStarted, ContextSnapshot, ContextToken, EndContactRequest, Event,
    ForgetCustomerRequest, GetContactRequest, GetContextRequest, GetProfileRequest,
    GetQueueStatsRequest, Greeting, Handover, Hop, HopKind, Identifier, IdentifierAssurance,
    IdentifierKind, KnownFact, LinkIdentifierRequest, ListAgentsRequest, ListEventsRequest,
    ListQueuesRequest, MergeProfilesRequest, MessageDirection, MessageExchanged, Money,
    OfferAnswered, OfferOutcome, OpenTokenRequest, PersonTraits, Presence, ProfileRecord,
    PurchaseMade, Queue, QueueSet, RecommendRequest, Recommendations, RecordOutcomeRequest,
    RejectOffer, ResolveRequest, SetAgentStateRequest, Skill, SkillRequirement, SkillSet,
    StartContactRequest, Tenure, TransferMode, TransferRequest, TransferTarget,
    UnmergeProfileRequest, UpsertArticlesRequest, UpsertCatalogRequest, UpsertProfileRequest,
    UpsertQueueRequest, Verification, VerificationLevel, VerificationMethod, WatchContextRequest,
    WatchRoutingRequest, Widening, transfer_target,
};
use baton_token::{ISSUER, PAYLOAD_VERSION};
use prost::Message;
use prost_types::Timestamp;

use crate::identifier::{REGION_IN_TEXT, UNKNOWN_KIND, encode};
use crate::requests;
use crate::token::{NOW_SECS, TENANT, TTL_SECS, retiring_ring, ring};

/// Named inputs of one target.
pub type Seeds = Vec<(&'static str, Vec<u8>)>;

/// Every target's seeds, by target name.
pub fn all() -> Vec<(&'static str, Seeds)> {
    vec![
        ("token_open", token_open()),
        ("token_payload", token_payloads()),
        ("token_roundtrip", token_payloads()),
        ("normalize", normalize()),
        ("validate_identity", validate_identity()),
        ("validate_context", validate_context()),
        ("validate_routing", validate_routing()),
        ("validate_recommendation", validate_recommendation()),
    ]
}

fn ts(seconds: i64) -> Option<Timestamp> {
    Some(Timestamp { seconds, nanos: 0 })
}

fn audience(target: Target) -> Option<Audience> {
    Some(Audience {
        target: Some(target),
    })
}

/// A token with every field set, for the audience given, live at the fixed clock.
pub fn token_for(target: Target) -> ContextToken {
    ContextToken {
        version: PAYLOAD_VERSION,
        token_id: "tok-1".into(),
        issuer: ISSUER.into(),
        audience: audience(target.clone()),
        issued_at: ts(NOW_SECS),
        expires_at: ts(NOW_SECS + TTL_SECS),
        tenant_id: TENANT.into(),
        contact_id: "c-42".into(),
        customer_id: "cust-7".into(),
        verification: Some(Verification {
            level: VerificationLevel::Verified as i32,
            methods: vec![VerificationMethod::OneTimePasscode as i32],
            verified_at: ts(NOW_SECS - 60),
            channel: Channel::Chat as i32,
        }),
        path: vec![Hop {
            index: 0,
            kind: HopKind::Start as i32,
            at: ts(NOW_SECS - 120),
            channel: Channel::Chat as i32,
            to: audience(target),
            from_agent_id: "a-0".into(),
            token_id: "tok-0".into(),
        }],
        handover: Some(Handover {
            summary: "card declined twice".into(),
            reason: "needs billing".into(),
            intent: "billing.dispute".into(),
            from: Some(Actor {
                kind: ActorKind::Agent as i32,
                id: "a-0".into(),
            }),
            at: ts(NOW_SECS - 5),
        }),
        context: Some(ContextSnapshot {
            customer_id: "cust-7".into(),
            version: 17,
            tenure: Some(Tenure {
                customer_since: ts(1_400_000_000),
                contact_count: 12,
                ..Default::default()
            }),
            ..Default::default()
        }),
        recommendations: Some(Recommendations {
            offers_suppressed_reason: "open complaint".into(),
            greeting: Some(Greeting {
                text: "Welcome back".into(),
                facts: vec!["customer for 10 years".into()],
            }),
            model_version: "m-3".into(),
            ..Default::default()
        }),
        context_version: 17,
        channel: Channel::Voice as i32,
        partial: true,
        partial_reasons: vec!["recommendations unavailable".into()],
        known_facts: vec![KnownFact {
            field: "email".into(),
            value: "j***@example.com".into(),
            source: "profile".into(),
            verified: true,
            recorded_at: ts(NOW_SECS - 86_400),
        }],
        origin_traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
        utterance: "my card was charged twice".into(),
    }
}

/// Only what opening requires.
fn minimal_token() -> ContextToken {
    ContextToken {
        version: PAYLOAD_VERSION,
        audience: audience(Target::AgentId("a-1".into())),
        issued_at: ts(NOW_SECS),
        expires_at: ts(NOW_SECS + TTL_SECS),
        tenant_id: TENANT.into(),
        ..Default::default()
    }
}

fn agent_token() -> ContextToken {
    token_for(Target::AgentId("a-1".into()))
}

fn token_open() -> Seeds {
    let ring = ring();
    let expired = ContextToken {
        expires_at: ts(NOW_SECS - 1),
        ..agent_token()
    };
    let other_tenant = ContextToken {
        tenant_id: "globex".into(),
        ..agent_token()
    };
    let mut tampered = ring.seal(&minimal_token());
    if let Some(last) = tampered.last_mut() {
        *last ^= 0x80;
    }
    vec![
        ("agent", ring.seal(&agent_token())),
        ("minimal", ring.seal(&minimal_token())),
        (
            "queue",
            ring.seal(&token_for(Target::QueueId("billing".into()))),
        ),
        ("tier", ring.seal(&token_for(Target::Tier(2)))),
        (
            "channel-voice",
            ring.seal(&token_for(Target::Channel(Channel::Voice as i32))),
        ),
        ("retiring-key", retiring_ring().seal(&minimal_token())),
        ("expired", ring.seal(&expired)),
        ("other-tenant", ring.seal(&other_tenant)),
        ("tampered", tampered),
    ]
}

/// Encoded tokens: the plaintext `token_payload` seals and `token_roundtrip` decodes.
fn token_payloads() -> Seeds {
    let far_future = ContextToken {
        expires_at: Some(Timestamp {
            seconds: i64::MAX,
            nanos: 999_999_999,
        }),
        ..minimal_token()
    };
    let unnormalized = ContextToken {
        issued_at: Some(Timestamp {
            seconds: NOW_SECS + 10,
            nanos: -1_500_000_000,
        }),
        ..minimal_token()
    };
    let no_times = ContextToken {
        issued_at: None,
        expires_at: None,
        ..minimal_token()
    };
    let future = ContextToken {
        issued_at: ts(NOW_SECS + 3_600),
        expires_at: ts(NOW_SECS + 7_200),
        ..minimal_token()
    };
    let next_version = ContextToken {
        version: PAYLOAD_VERSION + 1,
        ..minimal_token()
    };
    let tokens = [
        ("agent", agent_token()),
        ("minimal", minimal_token()),
        (
            "channel-voice",
            token_for(Target::Channel(Channel::Voice as i32)),
        ),
        ("queue", token_for(Target::QueueId("billing".into()))),
        ("far-future", far_future),
        ("unnormalized-time", unnormalized),
        ("no-times", no_times),
        ("issued-in-future", future),
        ("next-version", next_version),
    ];
    tokens
        .into_iter()
        .map(|(name, token)| (name, token.encode_to_vec()))
        .collect()
}

fn normalize() -> Seeds {
    use IdentifierAssurance::{Claimed, Observed, Unspecified, Verified};
    use IdentifierKind::{AccountNumber, CrmId, Device, Email, Login, Phone, SocialHandle};
    // Region bytes: indices into REGIONS ("", "US", "GB", "gb", " de ", "FR", "IN", "JP").
    const NONE: u8 = 0;
    const US: u8 = 1;
    const GB: u8 = 2;
    const GB_LOWER: u8 = 3;
    const DE_PADDED: u8 = 4;
    const FR: u8 = 5;
    const IN: u8 = 6;
    const JP: u8 = 7;
    // Near the length bounds, in a letter that lengthens when lower-cased ("Ⱥ" to "ⱥ").
    let long_handle = "@ȺnnLee".repeat(32);
    let long_namespace = format!("1|{}", "ȺCME".repeat(12));
    #[rustfmt::skip]
    let known: Vec<(&'static str, IdentifierKind, IdentifierAssurance, u8, &str)> = vec![
        ("phone-uk-intl",        Phone, Claimed,     NONE,           "+44 20 7946 0018"),
        ("phone-uk-national",    Phone, Claimed,     GB_LOWER,       "020 7946 0018"),
        ("phone-uk-in-text",     Phone, Claimed,     REGION_IN_TEXT, "07700 900123|GB"),
        ("phone-us",             Phone, Unspecified, US,             "(201) 555-0123"),
        ("phone-us-dots",        Phone, Unspecified, NONE,           "1.201.555.0123"),
        ("phone-us-extension",   Phone, Observed,    US,             "+1 201-555-0123 ext. 42"),
        ("phone-de",             Phone, Verified,    DE_PADDED,      "030 901820"),
        ("phone-de-mobile-intl", Phone, Claimed,     US,             "+49 1512 3456789"),
        ("phone-de-mobile-tel",  Phone, Claimed,     NONE,           "tel:+49-1512-3456789"),
        ("phone-de-mobile-idd",  Phone, Claimed,     GB,             "00 49 1512 3456789"),
        ("phone-fr-intl",        Phone, Claimed,     GB,             "+33 1 23 45 67 89"),
        ("phone-fr-national",    Phone, Claimed,     FR,             "01 23 45 67 89"),
        ("phone-in-mobile",      Phone, Claimed,     IN,             "098765 43210"),
        ("phone-jp",             Phone, Claimed,     JP,             "03-1234-5678"),
        ("phone-too-short",      Phone, Claimed,     NONE,           "12"),
        ("email-tagged",         Email, Claimed,     NONE,           " Ann.Lee+promo@Example.COM "),
        ("email-plain",          Email, Verified,    NONE,           "j.smith@example.co.uk"),
        ("email-unicode",        Email, Claimed,     NONE,           "Zoë.Ünal@Bücher.example"),
        ("email-two-ats",        Email, Claimed,     NONE,           "a@b@example.com"),
        ("account",              AccountNumber, Claimed, NONE,       "ab-12 34-x"),
        ("account-iban",         AccountNumber, Claimed, NONE,       "GB82 WEST 1234 5698 7654 32"),
        ("crm",                  CrmId, Verified,    NONE,           "  Abc-1 |Salesforce"),
        ("crm-long-namespace",   CrmId, Claimed,     NONE,           &long_namespace),
        ("login",                Login, Verified,    NONE,           "auth0:sub-1"),
        ("login-namespaced",     Login, Verified,    NONE,           "sub-1| Auth0 "),
        ("device",               Device, Observed,   NONE,           "3f2a9c1e-7d44-4b8e-9a0b-5c6d7e8f9a01"),
        ("social",               SocialHandle, Claimed, NONE,        "  @AnnLee | X "),
        ("social-long",          SocialHandle, Claimed, NONE,        &long_handle),
    ];
    let mut seeds: Seeds = known
        .into_iter()
        .map(|(name, kind, assurance, region, text)| {
            (name, encode(kind as u8, assurance as u8, region, text))
        })
        .collect();
    seeds.push(("unspecified-kind", encode(0, 0, NONE, "+44 20 7946 0018")));
    seeds.push(("unknown-kind", encode(UNKNOWN_KIND, 0, NONE, "x")));
    seeds
}

fn request(which: u8, message: &impl Message) -> Vec<u8> {
    let mut bytes = vec![which];
    message.encode(&mut bytes).expect("a Vec grows");
    bytes
}

fn identifier(kind: IdentifierKind, value: &str) -> Identifier {
    Identifier {
        kind: kind as i32,
        value: value.into(),
        assurance: IdentifierAssurance::Observed as i32,
        ..Default::default()
    }
}

fn validate_identity() -> Seeds {
    use requests::identity::*;
    let resolve = ResolveRequest {
        tenant_id: TENANT.into(),
        identifiers: vec![
            identifier(IdentifierKind::Phone, "+44 20 7946 0018"),
            identifier(IdentifierKind::Email, "Ann.Lee+promo@Example.COM"),
        ],
        traits: Some(PersonTraits {
            given_name: "Ann".into(),
            family_name: "Lee".into(),
            language: "en-GB".into(),
            ..Default::default()
        }),
        channel: Channel::Voice as i32,
        proofs: vec![VerificationMethod::OneTimePasscode as i32],
        idempotency_key: "resolve-1".into(),
        ..Default::default()
    };
    let lookup = ResolveRequest {
        lookup_only: true,
        idempotency_key: String::new(),
        ..resolve.clone()
    };
    let upsert = UpsertProfileRequest {
        tenant_id: TENANT.into(),
        records: vec![ProfileRecord {
            external_id: "crm-1001".into(),
            source: "salesforce".into(),
            identifiers: vec![identifier(IdentifierKind::AccountNumber, "AB-1234")],
            attributes: [("segment".to_owned(), "gold".to_owned())].into(),
            customer_since: ts(1_400_000_000),
            ..Default::default()
        }],
        idempotency_key: "upsert-1".into(),
    };
    let link = LinkIdentifierRequest {
        tenant_id: TENANT.into(),
        customer_id: "cust-7".into(),
        identifier: Some(identifier(IdentifierKind::Phone, "020 7946 0018")),
        idempotency_key: "link-1".into(),
    };
    let merge = MergeProfilesRequest {
        tenant_id: TENANT.into(),
        survivor_id: "cust-7".into(),
        merged_id: "cust-8".into(),
        reason: "same person, confirmed by phone".into(),
        actor_id: "a-1".into(),
        idempotency_key: "merge-1".into(),
    };
    vec![
        ("resolve", request(RESOLVE, &resolve)),
        ("resolve-lookup", request(RESOLVE, &lookup)),
        ("upsert", request(UPSERT_PROFILE, &upsert)),
        (
            "get-profile",
            request(
                GET_PROFILE,
                &GetProfileRequest {
                    tenant_id: TENANT.into(),
                    customer_id: "cust-7".into(),
                },
            ),
        ),
        ("link", request(LINK_IDENTIFIER, &link)),
        ("merge", request(MERGE_PROFILES, &merge)),
        (
            "unmerge",
            request(
                UNMERGE_PROFILE,
                &UnmergeProfileRequest {
                    tenant_id: TENANT.into(),
                    merge_id: "merge-9".into(),
                    reason: "merged by mistake".into(),
                    actor_id: "a-1".into(),
                    idempotency_key: "unmerge-1".into(),
                },
            ),
        ),
        ("forget", request(FORGET_CUSTOMER, &forget())),
    ]
}

fn forget() -> ForgetCustomerRequest {
    ForgetCustomerRequest {
        tenant_id: TENANT.into(),
        customer_id: "cust-7".into(),
        reason: "erasure request".into(),
        idempotency_key: "forget-1".into(),
    }
}

fn append(payload: Payload) -> AppendEventRequest {
    AppendEventRequest {
        tenant_id: TENANT.into(),
        customer_id: "cust-7".into(),
        event: Some(Event {
            contact_id: "c-42".into(),
            channel: Channel::Chat as i32,
            occurred_at: ts(NOW_SECS),
            actor: Some(Actor {
                kind: ActorKind::Agent as i32,
                id: "a-1".into(),
            }),
            payload: Some(payload),
            ..Default::default()
        }),
        idempotency_key: "append-1".into(),
        expected_version: 0,
    }
}

fn validate_context() -> Seeds {
    use requests::context::*;
    let started = append(Payload::ContactStarted(ContactStarted {
        utterance: "my card was charged twice".into(),
        intent: "billing.dispute".into(),
        queue_id: "billing".into(),
        tier: 1,
        verification: Some(Verification {
            level: VerificationLevel::Verified as i32,
            methods: vec![VerificationMethod::OneTimePasscode as i32],
            verified_at: ts(NOW_SECS),
            channel: Channel::Chat as i32,
        }),
    }));
    let message = append(Payload::Message(MessageExchanged {
        direction: MessageDirection::Inbound as i32,
        text: "hello?".into(),
    }));
    let case = append(Payload::CaseOpened(CaseOpened {
        case_id: "case-1".into(),
        subject: "double charge".into(),
        category: "billing".into(),
        complaint: true,
        owner_agent_id: "a-1".into(),
    }));
    let purchase = append(Payload::Purchase(PurchaseMade {
        order_id: "o-1".into(),
        product_id: "p-1".into(),
        product_name: "Travel insurance".into(),
        amount: Some(Money {
            currency: "GBP".into(),
            minor_units: 4_999,
        }),
        ..Default::default()
    }));
    vec![
        ("append-contact-started", request(APPEND_EVENT, &started)),
        ("append-message", request(APPEND_EVENT, &message)),
        ("append-case-opened", request(APPEND_EVENT, &case)),
        ("append-purchase", request(APPEND_EVENT, &purchase)),
        (
            "get-context",
            request(
                GET_CONTEXT,
                &GetContextRequest {
                    tenant_id: TENANT.into(),
                    customer_id: "cust-7".into(),
                    max_interactions: 10,
                    merged_ids: Vec::new(),
                },
            ),
        ),
        (
            "list-events",
            request(
                LIST_EVENTS,
                &ListEventsRequest {
                    tenant_id: TENANT.into(),
                    customer_id: "cust-7".into(),
                    page_size: 50,
                    page_token: "MTI".into(),
                    merged_ids: Vec::new(),
                },
            ),
        ),
        (
            "watch",
            request(
                WATCH_CONTEXT,
                &WatchContextRequest {
                    tenant_id: TENANT.into(),
                    customer_id: "cust-7".into(),
                    after_version: 3,
                    merged_ids: Vec::new(),
                    merged_after_versions: Vec::new(),
                },
            ),
        ),
        ("forget", request(FORGET_CUSTOMER, &forget())),
    ]
}

fn validate_routing() -> Seeds {
    use requests::routing::*;
    let start = StartContactRequest {
        tenant_id: TENANT.into(),
        channel: Channel::Voice as i32,
        identifiers: vec![identifier(IdentifierKind::Phone, "+44 20 7946 0018")],
        proofs: vec![VerificationMethod::KnowledgeQuestions as i32],
        utterance: "my card was charged twice".into(),
        intent: "billing.dispute".into(),
        queue_id: "billing".into(),
        tier: 1,
        required_skills: vec![SkillRequirement {
            name: "billing".into(),
            min_proficiency: 3,
        }],
        idempotency_key: "start-1".into(),
        ..Default::default()
    };
    let transfer = TransferRequest {
        tenant_id: TENANT.into(),
        contact_id: "c-42".into(),
        from_agent_id: "a-1".into(),
        target: Some(TransferTarget {
            target: Some(transfer_target::Target::Tier(2)),
            required_skills: Vec::new(),
        }),
        mode: TransferMode::Warm as i32,
        handover: Some(Handover {
            summary: "card declined twice, needs a refund".into(),
            reason: "refunds are tier 2".into(),
            ..Default::default()
        }),
        idempotency_key: "transfer-1".into(),
    };
    let agent = SetAgentStateRequest {
        tenant_id: TENANT.into(),
        agent_id: "a-1".into(),
        presence: Presence::Available as i32,
        display_name: Some("Sam".into()),
        tier: Some(2),
        skills: Some(SkillSet {
            skills: vec![Skill {
                name: "billing".into(),
                proficiency: 7,
            }],
        }),
        capacities: Some(CapacitySet {
            capacities: vec![ChannelCapacity {
                channel: Channel::Chat as i32,
                max_contacts: 3,
                exclusive: false,
            }],
        }),
        queues: Some(QueueSet {
            queue_ids: vec!["billing".into()],
        }),
        idempotency_key: "agent-1".into(),
        team: Some("north".into()),
    };
    let note = AddNoteRequest {
        tenant_id: TENANT.into(),
        contact_id: "c-42".into(),
        agent_id: "a-1".into(),
        text: "refund issued".into(),
        open_case: Some(CaseOpened {
            case_id: "case-1".into(),
            subject: "double charge".into(),
            ..Default::default()
        }),
        idempotency_key: "note-1".into(),
        ..Default::default()
    };
    let open = OpenTokenRequest {
        tenant_id: TENANT.into(),
        token: ring().seal(&agent_token()),
        opener: Some(Opener::AgentId("a-1".into())),
    };
    vec![
        ("start", request(START_CONTACT, &start)),
        ("transfer", request(TRANSFER, &transfer)),
        (
            "end",
            request(
                END_CONTACT,
                &EndContactRequest {
                    tenant_id: TENANT.into(),
                    contact_id: "c-42".into(),
                    agent_id: "a-1".into(),
                    summary: "refunded".into(),
                    ..Default::default()
                },
            ),
        ),
        (
            "get-contact",
            request(
                GET_CONTACT,
                &GetContactRequest {
                    tenant_id: TENANT.into(),
                    contact_id: "c-42".into(),
                },
            ),
        ),
        ("add-note", request(ADD_NOTE, &note)),
        ("set-agent-state", request(SET_AGENT_STATE, &agent)),
        (
            "upsert-queue",
            request(
                UPSERT_QUEUE,
                &UpsertQueueRequest {
                    tenant_id: TENANT.into(),
                    queue: Some(Queue {
                        queue_id: "billing".into(),
                        name: "Billing".into(),
                        tier: 1,
                        required_skills: Vec::new(),
                        escalation_timeout_secs: 0,
                        service_level_percent: 80,
                        service_level_answer_secs: 20,
                        agent_selection: AgentSelection::LongestIdle as i32,
                        widening: Some(Widening {
                            preferred_agent_secs: 30,
                            team_secs: 60,
                            relax_after_secs: 300,
                            relax_levels: 2,
                        }),
                        wrap_up_secs: 30,
                    }),
                    idempotency_key: String::new(),
                },
            ),
        ),
        ("open-token", request(OPEN_TOKEN, &open)),
        (
            "open-token-supervisor",
            request(
                OPEN_TOKEN,
                &OpenTokenRequest {
                    opener: Some(Opener::Supervisor(true)),
                    ..open.clone()
                },
            ),
        ),
        (
            "agent-hello",
            request(
                AGENT_HELLO,
                &AgentHello {
                    tenant_id: TENANT.into(),
                    agent_id: "a-1".into(),
                },
            ),
        ),
        (
            "list-queues",
            request(
                LIST_QUEUES,
                &ListQueuesRequest {
                    tenant_id: TENANT.into(),
                    page_size: 50,
                    page_token: "billing".into(),
                },
            ),
        ),
        (
            "get-queue-stats",
            request(
                GET_QUEUE_STATS,
                &GetQueueStatsRequest {
                    tenant_id: TENANT.into(),
                    queue_id: "billing".into(),
                },
            ),
        ),
        (
            "list-agents",
            request(
                LIST_AGENTS,
                &ListAgentsRequest {
                    tenant_id: TENANT.into(),
                    page_size: 0,
                    page_token: String::new(),
                    queue_id: "billing".into(),
                    team: "north".into(),
                },
            ),
        ),
        (
            "watch-routing",
            request(
                WATCH_ROUTING,
                &WatchRoutingRequest {
                    tenant_id: TENANT.into(),
                    queue_id: "billing".into(),
                },
            ),
        ),
        (
            "cancel-transfer",
            request(
                CANCEL_TRANSFER,
                &CancelTransfer {
                    contact_id: "c-42".into(),
                },
            ),
        ),
        (
            "accept-offer",
            request(
                ACCEPT_OFFER,
                &AcceptOffer {
                    offer_id: "offer-1".into(),
                },
            ),
        ),
        ("forget", request(FORGET_CUSTOMER, &forget())),
        (
            "reject-offer",
            request(
                REJECT_OFFER,
                &RejectOffer {
                    offer_id: "offer-1".into(),
                    reason: "on a break".into(),
                },
            ),
        ),
    ]
}

fn validate_recommendation() -> Seeds {
    use requests::recommendation::*;
    let recommend = RecommendRequest {
        tenant_id: TENANT.into(),
        customer_id: "cust-7".into(),
        context: Some(ContextSnapshot {
            customer_id: "cust-7".into(),
            version: 17,
            ..Default::default()
        }),
        utterance: "I am going abroad next week".into(),
        intent: "travel".into(),
        channel: Channel::Chat as i32,
        given_name: "Ann".into(),
        max_offers: 3,
        ..Default::default()
    };
    let offer = RecordOutcomeRequest {
        tenant_id: TENANT.into(),
        customer_id: "cust-7".into(),
        contact_id: "c-42".into(),
        outcome: Some(Outcome::Offer(OfferAnswered {
            offer_id: "offer-1".into(),
            product_id: "p-1".into(),
            outcome: OfferOutcome::Accepted as i32,
        })),
        idempotency_key: "outcome-1".into(),
    };
    let catalog = UpsertCatalogRequest {
        tenant_id: TENANT.into(),
        items: vec![CatalogItem {
            product_id: "p-1".into(),
            name: "Travel insurance".into(),
            category: "insurance".into(),
            description: "Cover for trips abroad".into(),
            active: true,
            price: Some(Money {
                currency: "GBP".into(),
                minor_units: 4_999,
            }),
            ..Default::default()
        }],
        idempotency_key: "catalog-1".into(),
    };
    let articles = UpsertArticlesRequest {
        tenant_id: TENANT.into(),
        articles: vec![Article {
            article_id: "kb-1".into(),
            title: "Disputing a card payment".into(),
            body: "Open a dispute within 120 days.".into(),
            tags: vec!["billing".into(), "cards".into()],
            language: "en".into(),
        }],
        idempotency_key: "articles-1".into(),
    };
    vec![
        ("recommend", request(RECOMMEND, &recommend)),
        ("record-outcome", request(RECORD_OUTCOME, &offer)),
        ("upsert-catalog", request(UPSERT_CATALOG, &catalog)),
        ("upsert-articles", request(UPSERT_ARTICLES, &articles)),
        ("forget", request(FORGET_CUSTOMER, &forget())),
    ]
}
