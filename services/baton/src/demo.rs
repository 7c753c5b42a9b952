//! `baton demo`: the customer journeys, driven against a running mesh and told as they happen.
//!
//! Each run uses a fresh tenant, so it can be repeated against the same data directory. The
//! demo talks to routing as a channel gateway and agent desktops would, and to identity and
//! context directly only to load what a CRM and earlier history would already hold.

use std::{
    io::Write,
    time::{Duration, SystemTime},
};

use baton_auth::{Role, Roles, Tenants, dev::DevCredentials, reload::Watched};
use baton_proto::v1::{
    self as pb, IdentifierAssurance as Assurance, IdentifierKind as Kind,
    context_service_client::ContextServiceClient, identity_service_client::IdentityServiceClient,
    open_token_request::Opener, routing_service_client::RoutingServiceClient, transfer_target,
};
use baton_runtime::{
    client::{ClientChannel, with_credentials},
    time::to_timestamp,
};
use clap::Args;
use tonic::transport::Channel;

use crate::desk::{Desk, DeskError};

/// Where the running mesh is.
#[derive(Args, Clone, Debug)]
pub struct DemoConfig {
    /// RoutingService.
    #[arg(
        long,
        env = "BATON_DEMO_ROUTING_URL",
        default_value = "http://127.0.0.1:50053"
    )]
    pub routing_url: String,
    /// IdentityService (to load the CRM records the journeys start from).
    #[arg(
        long,
        env = "BATON_DEMO_IDENTITY_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub identity_url: String,
    /// ContextService (to load earlier history).
    #[arg(
        long,
        env = "BATON_DEMO_CONTEXT_URL",
        default_value = "http://127.0.0.1:50052"
    )]
    pub context_url: String,
    /// The bearer token to call with; unset, a development token is minted from the
    /// development credentials in the data directory of the mesh started by `make run`.
    #[arg(long, env = "BATON_DEMO_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The data directory of the running mesh (where its development credentials are).
    #[arg(long = "data-dir", env = "BATON_DATA_DIR", default_value = "./data")]
    pub data_dir: std::path::PathBuf,
}

/// Why the demo stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The mesh is not reachable.
    #[error("cannot reach {url} ({source}); start the mesh first with 'make run'")]
    Connect {
        /// The url.
        url: String,
        /// Why.
        source: tonic::transport::Error,
    },
    /// A call failed.
    #[error("{step}: {status}")]
    Call {
        /// What the demo was doing.
        step: &'static str,
        /// The answer.
        status: tonic::Status,
    },
    /// No credentials to call with.
    #[error("credentials: {0}")]
    Credentials(String),
    /// An agent desktop failed.
    #[error(transparent)]
    Desk(#[from] DeskError),
    /// Printing failed.
    #[error("output: {0}")]
    Output(#[from] std::io::Error),
    /// The mesh answered, but not with what continuity requires.
    #[error("{0}")]
    Broken(String),
}

struct Demo<'a> {
    routing: RoutingServiceClient<ClientChannel>,
    identity: IdentityServiceClient<ClientChannel>,
    context: ContextServiceClient<ClientChannel>,
    tenant: String,
    out: &'a mut dyn Write,
}

const PATIENCE: Duration = Duration::from_secs(10);

async fn connect(url: &str, token: &Watched<String>) -> Result<ClientChannel, DemoError> {
    let connect_error = |source| DemoError::Connect {
        url: url.to_owned(),
        source,
    };
    Channel::from_shared(url.to_owned())
        .map_err(|e| DemoError::Broken(format!("invalid url {url}: {e}")))?
        .connect_timeout(Duration::from_secs(3))
        .connect()
        .await
        .map(|channel| with_credentials(channel, Some(token.clone()), PATIENCE))
        .map_err(connect_error)
}

/// The demo's token: the one given, else a development token for a principal that plays
/// every part (gateway, agent desks, supervisor, the CRM import) in the demo's tenants.
fn credentials(config: &DemoConfig) -> Result<Watched<String>, DemoError> {
    if let Some(token) = &config.token {
        return Ok(Watched::fixed(token.clone()));
    }
    let dev = DevCredentials::load(&config.data_dir)
        .map_err(|e| DemoError::Credentials(format!("{e}; or pass --token")))?;
    dev.mint(
        "baton-demo",
        &Tenants::Any,
        Roles::of(&Role::ALL),
        None,
        Duration::from_secs(3600),
    )
    .map(Watched::fixed)
    .map_err(|e| DemoError::Credentials(e.to_string()))
}

fn call(step: &'static str) -> impl FnOnce(tonic::Status) -> DemoError {
    move |status| DemoError::Call { step, status }
}

fn key() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn ident(kind: Kind, value: &str, assurance: Assurance) -> pb::Identifier {
    pb::Identifier {
        kind: kind as i32,
        value: value.to_owned(),
        assurance: assurance as i32,
        ..Default::default()
    }
}

fn level(v: Option<&pb::Verification>) -> &'static str {
    match v.map(|v| pb::VerificationLevel::try_from(v.level)) {
        Some(Ok(pb::VerificationLevel::Strong)) => "strongly verified",
        Some(Ok(pb::VerificationLevel::Verified)) => "verified",
        Some(Ok(pb::VerificationLevel::Identified)) => "identified, not verified",
        _ => "not identified",
    }
}

/// Runs every journey, writing the story to `out`.
pub async fn run(config: &DemoConfig, out: &mut dyn Write) -> Result<(), DemoError> {
    let tenant = format!("demo-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let token = credentials(config)?;
    let mut demo = Demo {
        routing: RoutingServiceClient::new(connect(&config.routing_url, &token).await?),
        identity: IdentityServiceClient::new(connect(&config.identity_url, &token).await?),
        context: ContextServiceClient::new(connect(&config.context_url, &token).await?),
        tenant,
        out,
    };
    writeln!(demo.out, "baton demo (tenant {})\n", demo.tenant)?;
    demo.staff().await?;
    demo.channel_switch().await?;
    demo.tier_escalation().await?;
    demo.returning_customer().await?;
    demo.dedicated_agent_away().await?;
    demo.known_customer_new_flow().await?;
    writeln!(
        demo.out,
        "All five journeys ran: nobody was asked to identify or explain twice."
    )?;
    Ok(())
}

impl Demo<'_> {
    async fn agent(
        &mut self,
        id: &str,
        tier: u32,
        skills: &[(&str, u32)],
        channels: &[(pb::Channel, u32)],
        presence: pb::Presence,
    ) -> Result<(), DemoError> {
        self.routing
            .set_agent_state(pb::SetAgentStateRequest {
                tenant_id: self.tenant.clone(),
                agent_id: id.to_owned(),
                presence: presence as i32,
                display_name: Some(id.to_owned()),
                tier: Some(tier),
                skills: Some(pb::SkillSet {
                    skills: skills
                        .iter()
                        .map(|(n, p)| pb::Skill {
                            name: (*n).into(),
                            proficiency: *p,
                        })
                        .collect(),
                }),
                capacities: Some(pb::CapacitySet {
                    capacities: channels
                        .iter()
                        .map(|(c, n)| pb::ChannelCapacity {
                            channel: *c as i32,
                            max_contacts: *n,
                            exclusive: false,
                        })
                        .collect(),
                }),
                queues: None,
                idempotency_key: key(),
                team: None,
            })
            .await
            .map_err(call("setting up agents"))?;
        Ok(())
    }

    async fn staff(&mut self) -> Result<(), DemoError> {
        use pb::{Channel as C, Presence as P};
        type Staff = (&'static str, u32, (&'static str, u32), (C, u32), P);
        const STAFF: [Staff; 5] = [
            (
                "ann (chat, tier 1)",
                1,
                ("broadband", 5),
                (C::Chat, 3),
                P::Available,
            ),
            (
                "vic (voice, tier 1)",
                1,
                ("broadband", 6),
                (C::Voice, 1),
                P::Available,
            ),
            (
                "dave (voice, tier 2)",
                2,
                ("billing", 9),
                (C::Voice, 1),
                P::Available,
            ),
            ("pat (banking)", 1, ("banking", 9), (C::Voice, 1), P::Away),
            (
                "sam (banking)",
                1,
                ("banking", 6),
                (C::Voice, 1),
                P::Available,
            ),
        ];
        for (id, tier, skill, capacity, presence) in STAFF {
            self.agent(id, tier, &[skill], &[capacity], presence)
                .await?;
        }
        writeln!(
            self.out,
            "Staffed: ann on chat, vic on voice (tier 1), dave (tier 2), pat (away) and sam for banking.\n"
        )?;
        Ok(())
    }

    async fn desk(&mut self, agent: &str) -> Result<Desk, DemoError> {
        Ok(Desk::open(&mut self.routing, &self.tenant, agent, PATIENCE).await?)
    }

    async fn open(&mut self, token: &[u8], agent: &str) -> Result<pb::ContextToken, DemoError> {
        self.routing
            .open_token(pb::OpenTokenRequest {
                tenant_id: self.tenant.clone(),
                token: token.to_vec(),
                opener: Some(Opener::AgentId(agent.to_owned())),
            })
            .await
            .map_err(call("opening a token"))?
            .into_inner()
            .token
            .ok_or_else(|| DemoError::Broken("an opened token came back empty".into()))
    }

    async fn start(
        &mut self,
        request: pb::StartContactRequest,
    ) -> Result<pb::StartContactResponse, DemoError> {
        Ok(self
            .routing
            .start_contact(request)
            .await
            .map_err(call("starting a contact"))?
            .into_inner())
    }

    async fn channel_switch(&mut self) -> Result<(), DemoError> {
        writeln!(self.out, "1. Chat to voice")?;
        let mut ann = self.desk("ann (chat, tier 1)").await?;
        let mut vic = self.desk("vic (voice, tier 1)").await?;
        let started = self
            .start(pb::StartContactRequest {
                tenant_id: self.tenant.clone(),
                channel: pb::Channel::Chat as i32,
                identifiers: vec![ident(Kind::Login, "web|miles", Assurance::Verified)],
                utterance: "my router drops every evening".into(),
                required_skills: vec![pb::SkillRequirement {
                    name: "broadband".into(),
                    min_proficiency: 1,
                }],
                idempotency_key: key(),
                ..Default::default()
            })
            .await?;
        let contact = started.contact.unwrap_or_default();
        writeln!(
            self.out,
            "   Miles, logged in on the web site, opens a chat: {}.",
            level(contact.verification.as_ref())
        )?;
        let offer = ann.offer().await?;
        ann.accept(&offer).await?;
        writeln!(
            self.out,
            "   ann takes the chat and checks the cables with him; it needs a line test by phone."
        )?;
        let summary =
            "Router drops every evening; cables and restart checked on chat; needs a line test";
        self.routing
            .transfer(pb::TransferRequest {
                tenant_id: self.tenant.clone(),
                contact_id: contact.contact_id.clone(),
                from_agent_id: "ann (chat, tier 1)".into(),
                target: Some(pb::TransferTarget {
                    target: Some(transfer_target::Target::Channel(pb::Channel::Voice as i32)),
                    required_skills: vec![],
                }),
                mode: pb::TransferMode::Cold as i32,
                handover: Some(pb::Handover {
                    summary: summary.into(),
                    reason: "line test".into(),
                    ..Default::default()
                }),
                idempotency_key: key(),
            })
            .await
            .map_err(call("switching to voice"))?;
        let offer = vic.offer().await?;
        let token = self.open(&offer.token, "vic (voice, tier 1)").await?;
        if token.customer_id != contact.customer_id {
            return Err(DemoError::Broken(
                "the voice token names another customer".into(),
            ));
        }
        writeln!(
            self.out,
            "   vic's desktop opens the token: the same customer, {} on chat,",
            level(token.verification.as_ref())
        )?;
        writeln!(
            self.out,
            "   handover: \"{}\"",
            token.handover.map(|h| h.summary).unwrap_or_default()
        )?;
        writeln!(
            self.out,
            "   vic starts with the line test. Miles is not asked who he is or what happened.\n"
        )?;
        vic.accept(&offer).await?;
        Ok(())
    }

    async fn tier_escalation(&mut self) -> Result<(), DemoError> {
        writeln!(self.out, "2. Tier 1 to tier 2, warm")?;
        let mut vic = self.desk("vic (voice, tier 1)").await?;
        let mut dave = self.desk("dave (voice, tier 2)").await?;
        self.agent(
            "vic (voice, tier 1)",
            1,
            &[("broadband", 6), ("billing", 4)],
            &[(pb::Channel::Voice, 2)],
            pb::Presence::Available,
        )
        .await?;
        let started = self
            .start(pb::StartContactRequest {
                tenant_id: self.tenant.clone(),
                channel: pb::Channel::Voice as i32,
                identifiers: vec![ident(Kind::Phone, "+44 20 7946 0018", Assurance::Observed)],
                proofs: vec![pb::VerificationMethod::KnowledgeQuestions as i32],
                utterance: "I was charged twice in March".into(),
                required_skills: vec![pb::SkillRequirement {
                    name: "billing".into(),
                    min_proficiency: 3,
                }],
                idempotency_key: key(),
                ..Default::default()
            })
            .await?;
        let contact = started.contact.unwrap_or_default();
        let offer = vic.offer().await?;
        vic.accept(&offer).await?;
        writeln!(
            self.out,
            "   A caller, {} by caller id and security questions, reaches vic.",
            level(contact.verification.as_ref())
        )?;
        self.routing
            .add_note(pb::AddNoteRequest {
                tenant_id: self.tenant.clone(),
                contact_id: contact.contact_id.clone(),
                agent_id: "vic (voice, tier 1)".into(),
                text: "Two identical March charges on the statement".into(),
                open_case: Some(pb::CaseOpened {
                    subject: "Duplicate March charge".into(),
                    category: "billing".into(),
                    ..Default::default()
                }),
                idempotency_key: key(),
                ..Default::default()
            })
            .await
            .map_err(call("writing a note"))?;
        self.routing
            .transfer(pb::TransferRequest {
                tenant_id: self.tenant.clone(),
                contact_id: contact.contact_id.clone(),
                from_agent_id: "vic (voice, tier 1)".into(),
                target: Some(pb::TransferTarget {
                    target: Some(transfer_target::Target::Tier(2)),
                    required_skills: vec![],
                }),
                mode: pb::TransferMode::Warm as i32,
                handover: Some(pb::Handover {
                    summary: "Duplicate March charge confirmed; refund needs tier-2 approval"
                        .into(),
                    ..Default::default()
                }),
                idempotency_key: key(),
            })
            .await
            .map_err(call("escalating"))?;
        writeln!(
            self.out,
            "   vic opens a case, notes the duplicate charge and warm-transfers to tier 2; vic stays on."
        )?;
        let offer = dave.offer().await?;
        let token = self.open(&offer.token, "dave (voice, tier 2)").await?;
        let notes: usize = token
            .context
            .as_ref()
            .map(|c| c.open_cases.iter().map(|k| k.notes.len()).sum())
            .unwrap_or(0);
        writeln!(
            self.out,
            "   dave sees: \"{}\", {} case note(s), customer {}.",
            token.handover.map(|h| h.summary).unwrap_or_default(),
            notes,
            level(token.verification.as_ref())
        )?;
        let connected = dave.accept(&offer).await?;
        writeln!(
            self.out,
            "   dave accepts; vic is released (holding agent now {:?}).\n",
            connected.holding_agent_id
        )?;
        Ok(())
    }

    async fn returning_customer(&mut self) -> Result<(), DemoError> {
        writeln!(self.out, "3. A returning customer")?;
        let since = SystemTime::now() - Duration::from_secs(10 * 365 * 24 * 3600 + 3 * 24 * 3600);
        self.identity
            .upsert_profile(pb::UpsertProfileRequest {
                tenant_id: self.tenant.clone(),
                records: vec![pb::ProfileRecord {
                    external_id: "crm-77".into(),
                    source: "crm".into(),
                    identifiers: vec![
                        ident(Kind::Email, "grace@example.com", Assurance::Verified),
                        ident(Kind::Phone, "+1 415 555 0142", Assurance::Verified),
                    ],
                    traits: Some(pb::PersonTraits {
                        given_name: "Grace".into(),
                        family_name: "Hopper".into(),
                        ..Default::default()
                    }),
                    customer_since: Some(to_timestamp(since)),
                    ..Default::default()
                }],
                idempotency_key: key(),
            })
            .await
            .map_err(call("importing the CRM record"))?;
        for (channel, id, words) in [
            (
                pb::Channel::Chat,
                ident(Kind::Email, "grace+shop@example.com", Assurance::Observed),
                "where is my parcel",
            ),
            (
                pb::Channel::Voice,
                ident(Kind::Phone, "(415) 555-0142", Assurance::Observed),
                "the parcel arrived damaged",
            ),
        ] {
            let started = self
                .start(pb::StartContactRequest {
                    tenant_id: self.tenant.clone(),
                    channel: channel as i32,
                    identifiers: vec![id],
                    utterance: words.into(),
                    self_service: true,
                    idempotency_key: key(),
                    ..Default::default()
                })
                .await?;
            let contact = started.contact.unwrap_or_default();
            self.routing
                .end_contact(pb::EndContactRequest {
                    tenant_id: self.tenant.clone(),
                    contact_id: contact.contact_id,
                    disposition: pb::Disposition::Resolved as i32,
                    summary: words.into(),
                    idempotency_key: key(),
                    ..Default::default()
                })
                .await
                .map_err(call("ending a contact"))?;
            writeln!(
                self.out,
                "   Grace contacts us on {:?}: \"{words}\".",
                channel
            )?;
        }
        let third = self
            .start(pb::StartContactRequest {
                tenant_id: self.tenant.clone(),
                channel: pb::Channel::Email as i32,
                identifiers: vec![ident(Kind::Email, "GRACE@example.com", Assurance::Observed)],
                utterance: "a question about my account".into(),
                self_service: true,
                idempotency_key: key(),
                ..Default::default()
            })
            .await?;
        writeln!(
            self.out,
            "   Weeks later she writes an e-mail. The agent is prompted:"
        )?;
        writeln!(
            self.out,
            "   \"{}\"\n",
            third.greeting.map(|g| g.text).unwrap_or_default()
        )?;
        Ok(())
    }

    async fn dedicated_agent_away(&mut self) -> Result<(), DemoError> {
        writeln!(self.out, "4. The dedicated agent is on vacation")?;
        let mut sam = self.desk("sam (banking)").await?;
        let resolved = self
            .identity
            .resolve(pb::ResolveRequest {
                tenant_id: self.tenant.clone(),
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
            .map_err(call("resolving the account"))?
            .into_inner();
        for (n, payload) in [
            pb::event::Payload::CaseOpened(pb::CaseOpened {
                case_id: "case-estate".into(),
                subject: "Close late father's account".into(),
                category: "banking".into(),
                owner_agent_id: "pat (banking)".into(),
                ..Default::default()
            }),
            pb::event::Payload::CaseUpdated(pb::CaseUpdated {
                case_id: "case-estate".into(),
                status: pb::CaseStatus::InProgress as i32,
                progress_note: "Death certificate verified; waiting for the probate letter".into(),
            }),
        ]
        .into_iter()
        .enumerate()
        {
            self.context
                .append_event(pb::AppendEventRequest {
                    tenant_id: self.tenant.clone(),
                    customer_id: resolved.customer_id.clone(),
                    event: Some(pb::Event {
                        actor: Some(pb::Actor {
                            kind: pb::ActorKind::Agent as i32,
                            id: "pat (banking)".into(),
                        }),
                        payload: Some(payload),
                        ..Default::default()
                    }),
                    idempotency_key: format!("demo-case-{n}"),
                    expected_version: 0,
                })
                .await
                .map_err(call("loading the case history"))?;
        }
        writeln!(
            self.out,
            "   pat has been handling an estate case and is now away."
        )?;
        let started = self
            .start(pb::StartContactRequest {
                tenant_id: self.tenant.clone(),
                channel: pb::Channel::Voice as i32,
                identifiers: vec![ident(
                    Kind::AccountNumber,
                    "gb 4411 0923",
                    Assurance::Claimed,
                )],
                utterance: "any news on my father's account".into(),
                required_skills: vec![pb::SkillRequirement {
                    name: "banking".into(),
                    min_proficiency: 5,
                }],
                preferred_agent_id: "pat (banking)".into(),
                idempotency_key: key(),
                ..Default::default()
            })
            .await?;
        let placement = started.placement.unwrap_or_default();
        writeln!(
            self.out,
            "   The customer asks for pat; the call goes at once to {}.",
            placement.agent_id
        )?;
        let offer = sam.offer().await?;
        let token = self.open(&offer.token, "sam (banking)").await?;
        for case in token.context.map(|c| c.open_cases).unwrap_or_default() {
            writeln!(self.out, "   sam reads case \"{}\":", case.subject)?;
            for note in case.notes {
                writeln!(self.out, "     - {}", note.text)?;
            }
        }
        sam.accept(&offer).await?;
        writeln!(self.out)?;
        Ok(())
    }

    async fn known_customer_new_flow(&mut self) -> Result<(), DemoError> {
        writeln!(self.out, "5. A loan request from the app")?;
        self.identity
            .upsert_profile(pb::UpsertProfileRequest {
                tenant_id: self.tenant.clone(),
                records: vec![pb::ProfileRecord {
                    external_id: "core-5521".into(),
                    source: "core-banking".into(),
                    identifiers: vec![ident(Kind::Login, "app|5521", Assurance::Verified)],
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
                            country_code: "PT".into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
                idempotency_key: key(),
            })
            .await
            .map_err(call("importing the banking record"))?;
        let started = self
            .start(pb::StartContactRequest {
                tenant_id: self.tenant.clone(),
                channel: pb::Channel::App as i32,
                identifiers: vec![ident(Kind::Login, "app|5521", Assurance::Verified)],
                intent: "loan_application".into(),
                self_service: true,
                idempotency_key: key(),
                ..Default::default()
            })
            .await?;
        writeln!(
            self.out,
            "   Ines, logged in to the app, starts a loan application. The form asks her to confirm:"
        )?;
        for fact in &started.on_record {
            writeln!(self.out, "     {:<14} {}", fact.field, fact.value)?;
        }
        writeln!(self.out)?;
        Ok(())
    }
}
