//! Personal data never reaches telemetry. The journeys run with one customer whose every value
//! is distinctive (name, phone, e-mail, date of birth, address, and everything they and the
//! agents say); every span is recorded in memory and every log line, down to TRACE for baton's
//! crates, is written as production writes it (JSON, with trace ids). None of those values,
//! raw or normalized, may appear in any span name, attribute, event or link, in any log line,
//! or in the metrics scraped after the journeys.
//!
//! Its own test binary: the tracing subscriber is process-wide.

use std::sync::{Arc, Mutex};

use baton_proto::v1::{self as pb, IdentifierAssurance as Assurance, IdentifierKind as Kind};
use baton_runtime::{telemetry::JsonLines, trace};
use baton_tests::{
    Desk, TestMesh, available_agent, handover, ident, import_profile, key, open_as_agent, tenant,
    to_channel,
};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tracing_subscriber::{EnvFilter, layer::SubscriberExt as _, util::SubscriberInitExt as _};

const GIVEN: &str = "Zebulon";
const FAMILY: &str = "Quixworth";
const PHONE: &str = "+44 20 7946 0321";
const EMAIL: &str = "Zebulon.Q+crm@Example.org";
const STREET: &str = "42 Wombat Lane";
const UTTERANCE: &str = "my secret pelican problem";
const NOTE: &str = "the pelican ate the router cable";
const SUMMARY: &str = "pelican feathers found in the router";
const WRAP_UP: &str = "pelican problem solved, router replaced";

/// What must never appear, lower-cased: the values as given and as identity normalizes them
/// (E.164 digits, lower-case e-mail without the plus-tag, ISO dates).
const NEEDLES: &[&str] = &[
    "zebulon",
    "quixworth",
    "+44 20 7946 0321",
    "+442079460321",
    "442079460321",
    "2079460321",
    "7946 0321",
    "7946-0321",
    "zebulon.q+crm@example.org",
    "zebulon.q@example.org",
    "1971-03-04",
    "19710304",
    "04/03/1971",
    "wombat",
    "pelican",
];

/// Log lines written into memory.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

/// Installs the production layers with a recording exporter and an in-memory log.
fn record() -> (InMemorySpanExporter, Lines) {
    trace::install_propagator();
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let lines = Lines::default();
    let writer = lines.clone();
    tracing_subscriber::registry()
        .with(EnvFilter::new("warn,baton=trace"))
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("baton")))
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .event_format(JsonLines::default())
                .with_writer(move || writer.clone()),
        )
        .try_init()
        .expect("the only subscriber of this process");
    (exporter, lines)
}

fn traits() -> pb::PersonTraits {
    pb::PersonTraits {
        given_name: GIVEN.into(),
        family_name: FAMILY.into(),
        date_of_birth: Some(pb::CalendarDate {
            year: 1971,
            month: 3,
            day: 4,
        }),
        address: Some(pb::PostalAddress {
            lines: vec![STREET.into()],
            locality: "Wombatville".into(),
            postal_code: "WB4 2PL".into(),
            country_code: "GB".into(),
            ..Default::default()
        }),
        language: "en-GB".into(),
    }
}

/// Every place the needles could hide in, one line per span or log line, with where it came
/// from.
fn haystacks(exporter: &InMemorySpanExporter, lines: &Lines) -> Vec<(String, String)> {
    let spans = exporter.get_finished_spans().expect("recorded spans");
    let mut all: Vec<(String, String)> = spans
        .iter()
        // The whole span: name, attributes, events with their attributes, links, status.
        .map(|s| (format!("span {}", s.name), format!("{s:?}")))
        .collect();
    all.extend(
        lines
            .text()
            .lines()
            .map(|line| ("log".to_owned(), line.to_owned())),
    );
    all
}

#[tokio::test(flavor = "multi_thread")]
async fn no_personal_value_reaches_spans_logs_or_metrics() {
    let (exporter, lines) = record();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut m = TestMesh::start(dir.path()).await;
    let t = tenant();

    // A CRM import with everything on record.
    import_profile(
        &mut m.identity,
        &t,
        pb::ProfileRecord {
            external_id: "crm-4411".into(),
            source: "crm".into(),
            identifiers: vec![
                ident(Kind::Phone, PHONE, Assurance::Verified),
                ident(Kind::Email, EMAIL, Assurance::Verified),
            ],
            traits: Some(traits()),
            ..Default::default()
        },
    )
    .await;

    available_agent(&mut m.routing, &t, "chat-ann", 1, pb::Channel::Chat, 3).await;
    available_agent(&mut m.routing, &t, "voice-vic", 1, pb::Channel::Voice, 1).await;
    let mut chat = Desk::open(&mut m.routing, &t, "chat-ann").await;
    let mut voice = Desk::open(&mut m.routing, &t, "voice-vic").await;

    // Chat: identified by a verified e-mail, with traits and what they say.
    let started = m
        .routing
        .start_contact(pb::StartContactRequest {
            tenant_id: t.clone(),
            channel: pb::Channel::Chat as i32,
            identifiers: vec![
                ident(Kind::Email, "zebulon.q@example.org", Assurance::Verified),
                ident(Kind::Phone, PHONE, Assurance::Observed),
            ],
            traits: Some(traits()),
            utterance: UTTERANCE.into(),
            idempotency_key: key(),
            ..Default::default()
        })
        .await
        .expect("chat contact starts")
        .into_inner();
    let contact = started.contact.expect("contact");
    assert!(!contact.customer_id.is_empty(), "identified");
    let offer = chat.offer().await;
    chat.accept(&offer).await;
    let token = open_as_agent(&mut m.routing, &t, "chat-ann", &offer.token)
        .await
        .expect("chat agent opens the token");
    assert!(
        token.known_facts.iter().any(|f| f.value.contains(GIVEN)),
        "the personal data is really there to leak: {:?}",
        token.known_facts
    );

    // A case with a note, then a channel switch with a handover.
    m.routing
        .add_note(pb::AddNoteRequest {
            tenant_id: t.clone(),
            contact_id: contact.contact_id.clone(),
            agent_id: "chat-ann".into(),
            text: NOTE.into(),
            open_case: Some(pb::CaseOpened {
                subject: "pelican damage claim".into(),
                category: "claims".into(),
                complaint: true,
                ..Default::default()
            }),
            idempotency_key: key(),
            ..Default::default()
        })
        .await
        .expect("note written");
    m.routing
        .transfer(pb::TransferRequest {
            tenant_id: t.clone(),
            contact_id: contact.contact_id.clone(),
            from_agent_id: "chat-ann".into(),
            target: to_channel(pb::Channel::Voice),
            mode: pb::TransferMode::Cold as i32,
            handover: handover(SUMMARY, "a pelican specialist is on voice"),
            idempotency_key: key(),
        })
        .await
        .expect("channel switch");
    let offer = voice.offer().await;
    voice.accept(&offer).await;
    open_as_agent(&mut m.routing, &t, "voice-vic", &offer.token)
        .await
        .expect("voice agent opens the token");
    m.routing
        .end_contact(pb::EndContactRequest {
            tenant_id: t.clone(),
            contact_id: contact.contact_id.clone(),
            agent_id: "voice-vic".into(),
            disposition: pb::Disposition::Resolved as i32,
            summary: WRAP_UP.into(),
            idempotency_key: key(),
            // The wrap-up code teaches recommendation with what the customer said, which must
            // not leak into traces or logs on the way either.
            reason_code: "billing_question".into(),
            reason_label: String::new(),
        })
        .await
        .expect("contact ends");

    // Back on the phone the next day: recognised by the number alone.
    m.routing
        .start_contact(pb::StartContactRequest {
            tenant_id: t.clone(),
            channel: pb::Channel::Voice as i32,
            identifiers: vec![ident(Kind::Phone, "+44-20-7946-0321", Assurance::Observed)],
            utterance: "calling about the pelican again".into(),
            self_service: true,
            idempotency_key: key(),
            ..Default::default()
        })
        .await
        .expect("voice contact starts");

    // Matching by traits only, and the profile read back.
    let resolved = m
        .identity
        .resolve(pb::ResolveRequest {
            tenant_id: t.clone(),
            traits: Some(traits()),
            channel: pb::Channel::Web as i32,
            lookup_only: true,
            idempotency_key: key(),
            ..Default::default()
        })
        .await
        .expect("resolve by traits")
        .into_inner();
    m.identity
        .get_profile(pb::GetProfileRequest {
            tenant_id: t.clone(),
            customer_id: if resolved.customer_id.is_empty() {
                contact.customer_id.clone()
            } else {
                resolved.customer_id
            },
        })
        .await
        .expect("profile");

    // Malformed requests carrying personal data where an id belongs, or an identifier that
    // does not parse: refused, and the value stays out of telemetry all the same.
    let refused = m
        .context
        .get_context(pb::GetContextRequest {
            tenant_id: t.clone(),
            customer_id: format!("{}\u{7}", "zebulon.q@example.org"),
            max_interactions: 5,
            merged_ids: Vec::new(),
        })
        .await
        .expect_err("a control character in an id");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    let refused = m
        .routing
        .start_contact(pb::StartContactRequest {
            tenant_id: t.clone(),
            channel: pb::Channel::Voice as i32,
            identifiers: vec![ident(
                Kind::Phone,
                "zebulon at wombat lane",
                Assurance::Observed,
            )],
            utterance: UTTERANCE.into(),
            self_service: true,
            idempotency_key: key(),
            ..Default::default()
        })
        .await
        .expect_err("not a phone number");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);

    let scrape = baton_tests::http_get(m.metrics_addr(), "/metrics").await;
    assert!(
        scrape.body.contains("baton_routing_offers_total"),
        "the metrics were scraped"
    );
    m.stop().await;

    let mut haystacks = haystacks(&exporter, &lines);
    haystacks.extend(
        scrape
            .body
            .lines()
            .map(|line| ("metrics".to_owned(), line.to_owned())),
    );
    // The recording worked: every service's calls are there, and so are the logs.
    for service in [
        "baton.v1.IdentityService",
        "baton.v1.ContextService",
        "baton.v1.RoutingService",
        "baton.v1.RecommendationService",
    ] {
        assert!(
            haystacks
                .iter()
                .any(|(from, _)| from.starts_with(&format!("span {service}/"))),
            "{service} spans were recorded"
        );
    }
    assert!(
        haystacks
            .iter()
            .any(|(from, line)| from == "log" && line.contains("contact started")),
        "logs were recorded"
    );
    assert!(
        haystacks
            .iter()
            .any(|(from, line)| from == "log" && line.contains("\"level\":\"DEBUG\"")),
        "debug lines were recorded too"
    );
    let leaks: Vec<String> = haystacks
        .iter()
        .flat_map(|(from, text)| {
            let lower = text.to_lowercase();
            NEEDLES.iter().filter_map(move |needle| {
                lower.find(needle).map(|at| {
                    let start = lower[..at]
                        .char_indices()
                        .rev()
                        .nth(80)
                        .map_or(0, |(i, _)| i);
                    let end = (at + needle.len() + 80).min(lower.len());
                    let end = (end..=lower.len())
                        .find(|&i| lower.is_char_boundary(i))
                        .unwrap_or(lower.len());
                    format!("{needle:?} in {from}: ...{}...", &lower[start..end])
                })
            })
        })
        .collect();
    assert!(
        leaks.is_empty(),
        "personal data in telemetry:\n{}",
        leaks.join("\n")
    );
}
