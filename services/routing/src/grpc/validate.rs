//! Request checks. Each returns `INVALID_ARGUMENT` listing every bad field at once. Sizes
//! come first: a list's length before its items, a string's length before its characters,
//! so an oversized field is one violation and no work.

use baton_proto::v1::{
    AcceptOffer, AddNoteRequest, AgentHello, AgentSelection, CancelTransfer, CapacitySet, Channel,
    Disposition, EndContactRequest, ForgetCustomerRequest, GetContactRequest, GetQueueStatsRequest,
    Handover, Identifier, IdentifierAssurance, IdentifierKind, ListAgentsRequest,
    ListQueuesRequest, OpenTokenRequest, Presence, RejectOffer, SetAgentStateRequest,
    SkillRequirement, SkillSet, StartContactRequest, TransferMode, TransferRequest,
    UpsertQueueRequest, VerificationMethod, WatchRoutingRequest, Widening, open_token_request,
    transfer_target::Target,
};
// A start's identifiers, traits and proofs go to identity's Resolve as they are: its limits
// apply, checked the same way.
use baton_identity::grpc::validate::{MAX_IDENTIFIERS, MAX_PROOFS, person_traits};
use baton_identity::normalize::{MAX_NAMESPACE_LEN, MAX_REGION_LEN, MAX_VALUE_LEN};
use baton_runtime::validate::{MAX_REASON_LABEL_LEN, MAX_TEXT_LEN, Violations};
use tonic::Status;

use crate::domain::skills;

/// Most skills on an agent, a queue or a contact.
pub const MAX_SKILLS: usize = 64;
/// Most queues an agent serves.
pub const MAX_QUEUES: usize = 64;
/// Most capacities an agent lists (one per channel; there are ten).
pub const MAX_CAPACITIES: usize = 16;
/// Longest sealed token accepted by OpenToken.
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;
/// Longest routing idempotency key: routing derives the keys it sends to identity and context
/// from it (`start/<key>/started`), and those must fit their 128-byte limit.
pub const MAX_KEY_LEN: usize = 96;
/// The largest request message the server decodes. The largest at the contract's limits is
/// an OpenToken with a 64 KiB token; a StartContact at every limit is under 20 KiB, and an
/// agent session's messages are far smaller. About four times the largest leaves room for
/// fields added later, while anything bigger is refused before it is decoded: a hostile
/// message of a few MB of empty list items would otherwise cost hundreds of MB to decode.
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;
/// Longest name, subject or short label.
const MAX_NAME_LEN: usize = 128;
/// Longest handover reason.
const MAX_REASON_LEN: usize = 512;
/// Longest reason an agent gives for rejecting an offer.
const MAX_REJECT_REASON_LEN: usize = 256;
/// Longest reason for an erasure (what identity, context and recommendation accept).
const MAX_FORGET_REASON_LEN: usize = 256;
/// Longest escalation timeout a queue may set.
const MAX_ESCALATION_SECS: u32 = 86_400;
/// Longest a widening ring holds a contact, and longest a wrap-up (an hour).
const MAX_RING_SECS: u32 = 3_600;
/// Most contacts an agent may take at once on one channel.
const MAX_CAPACITY: u32 = 100;

fn key(v: &mut Violations, key: &str, required: bool) {
    if required || !key.is_empty() {
        v.idempotency_key(key);
    }
    if key.len() > MAX_KEY_LEN {
        v.add(
            "idempotency_key",
            format!("must be at most {MAX_KEY_LEN} bytes: routing derives its own keys from it"),
        );
    }
}

/// A required skill name: at most 64 bytes as sent, and in the contract's grammar once
/// normalized (`domain::skills`), which is how routing stores and compares it.
fn skill_name(v: &mut Violations, field: &str, name: &str) {
    if !v.text(field, name, skills::MAX_LEN) {
        return;
    }
    if let Err(broken) = skills::check(&skills::normalize(name)) {
        v.add(field, broken.to_string());
    }
}

fn skill_requirements(v: &mut Violations, field: &str, skills: &[SkillRequirement]) {
    if !v.max_items(field, skills.len(), MAX_SKILLS) {
        return;
    }
    for (i, s) in skills.iter().enumerate() {
        skill_name(v, &format!("{field}[{i}].name"), &s.name);
        if s.min_proficiency > 10 {
            v.add(format!("{field}[{i}].min_proficiency"), "must be 0 to 10");
        }
    }
}

fn handover(v: &mut Violations, h: Option<&Handover>, summary_required: bool) {
    let empty = Handover::default();
    let h = h.unwrap_or(&empty);
    if summary_required {
        v.required_text("handover.summary", &h.summary, MAX_TEXT_LEN);
    } else {
        v.text("handover.summary", &h.summary, MAX_TEXT_LEN);
    }
    v.text("handover.reason", &h.reason, MAX_REASON_LEN);
    v.text("handover.intent", &h.intent, MAX_NAME_LEN);
    if let Some(from) = &h.from {
        v.optional_id("handover.from.id", &from.id);
    }
}

fn identifier(v: &mut Violations, path: &str, id: &Identifier) {
    v.enum_value::<IdentifierKind>(&format!("{path}.kind"), id.kind, true);
    v.enum_value::<IdentifierAssurance>(&format!("{path}.assurance"), id.assurance, false);
    v.required_text(&format!("{path}.value"), &id.value, MAX_VALUE_LEN);
    v.text(
        &format!("{path}.namespace"),
        &id.namespace,
        MAX_NAMESPACE_LEN,
    );
    v.text(
        &format!("{path}.default_region"),
        &id.default_region,
        MAX_REGION_LEN,
    );
}

/// Checks a StartContact request.
pub fn start(r: &StartContactRequest) -> Result<(), Status> {
    let mut v = Violations::new();
    v.tenant(&r.tenant_id);
    v.enum_value::<Channel>("channel", r.channel, true);
    if v.max_items("identifiers", r.identifiers.len(), MAX_IDENTIFIERS) {
        for (i, id) in r.identifiers.iter().enumerate() {
            identifier(&mut v, &format!("identifiers[{i}]"), id);
        }
    }
    if let Some(t) = &r.traits {
        person_traits(&mut v, "traits", t);
    }
    if v.max_items("proofs", r.proofs.len(), MAX_PROOFS) {
        for (i, p) in r.proofs.iter().enumerate() {
            v.enum_value::<VerificationMethod>(&format!("proofs[{i}]"), *p, true);
        }
    }
    v.text("utterance", &r.utterance, MAX_TEXT_LEN);
    v.text("intent", &r.intent, MAX_NAME_LEN);
    v.optional_id("queue_id", &r.queue_id);
    skill_requirements(&mut v, "required_skills", &r.required_skills);
    v.optional_id("preferred_agent_id", &r.preferred_agent_id);
    v.text("external_id", &r.external_id, MAX_NAME_LEN);
    key(&mut v, &r.idempotency_key, true);
    v.check()
}

/// Checks a Transfer request.
pub fn transfer(r: &TransferRequest) -> Result<(), Status> {
    let mut v = Violations::new();
    v.tenant(&r.tenant_id);
    v.id("contact_id", &r.contact_id);
    v.optional_id("from_agent_id", &r.from_agent_id);
    match r.target.as_ref().and_then(|t| t.target.as_ref()) {
        None => v.add(
            "target",
            "is required: set exactly one of tier, queue_id, agent_id, channel",
        ),
        Some(Target::Tier(0)) => v.add("target.tier", "must be at least 1"),
        Some(Target::Tier(_)) => {}
        Some(Target::QueueId(q)) => v.id("target.queue_id", q),
        Some(Target::AgentId(a)) => v.id("target.agent_id", a),
        Some(Target::Channel(c)) => {
            v.enum_value::<Channel>("target.channel", *c, true);
        }
    }
    if let Some(t) = &r.target {
        skill_requirements(&mut v, "target.required_skills", &t.required_skills);
    }
    v.enum_value::<TransferMode>("mode", r.mode, false);
    handover(&mut v, r.handover.as_ref(), !r.from_agent_id.is_empty());
    key(&mut v, &r.idempotency_key, true);
    v.check()
}

/// Checks an EndContact request.
pub fn end(r: &EndContactRequest) -> Result<(), Status> {
    let mut v = Violations::new();
    v.tenant(&r.tenant_id);
    v.id("contact_id", &r.contact_id);
    v.optional_id("agent_id", &r.agent_id);
    v.enum_value::<Disposition>("disposition", r.disposition, false);
    v.text("summary", &r.summary, MAX_TEXT_LEN);
    v.optional_code("reason_code", &r.reason_code);
    v.text("reason_label", &r.reason_label, MAX_REASON_LABEL_LEN);
    if r.reason_code.is_empty() && !r.reason_label.is_empty() {
        v.add("reason_label", "needs a reason_code");
    }
    key(&mut v, &r.idempotency_key, false);
    v.check()
}

/// Checks a ForgetCustomer request: the key is required, since the job is kept under it.
pub fn forget(r: &ForgetCustomerRequest) -> Result<(), Status> {
    let mut v = Violations::new();
    v.tenant(&r.tenant_id);
    v.id("customer_id", &r.customer_id);
    v.text("reason", &r.reason, MAX_FORGET_REASON_LEN);
    key(&mut v, &r.idempotency_key, true);
    v.check()
}

/// Checks a GetContact request.
pub fn get_contact(r: &GetContactRequest) -> Result<(), Status> {
    let mut v = Violations::new();
    v.tenant(&r.tenant_id);
    v.id("contact_id", &r.contact_id);
    v.check()
}

/// Checks an AddNote request.
pub fn add_note(r: &AddNoteRequest) -> Result<(), Status> {
    let mut v = Violations::new();
    v.tenant(&r.tenant_id);
    v.id("contact_id", &r.contact_id);
    v.optional_id("agent_id", &r.agent_id);
    v.required_text("text", &r.text, MAX_TEXT_LEN);
    v.optional_id("case_id", &r.case_id);
    if let Some(case) = &r.open_case {
        if !r.case_id.is_empty() {
            v.add("case_id", "must be empty when open_case is set");
        }
        v.optional_id("open_case.case_id", &case.case_id);
        v.text("open_case.subject", &case.subject, 256);
        v.text("open_case.category", &case.category, 64);
        v.optional_id("open_case.owner_agent_id", &case.owner_agent_id);
    }
    key(&mut v, &r.idempotency_key, false);
    v.check()
}

fn skills(v: &mut Violations, set: Option<&SkillSet>) {
    let Some(set) = set else { return };
    if !v.max_items("skills.skills", set.skills.len(), MAX_SKILLS) {
        return;
    }
    for (i, s) in set.skills.iter().enumerate() {
        skill_name(v, &format!("skills.skills[{i}].name"), &s.name);
        if !(1..=10).contains(&s.proficiency) {
            v.add(format!("skills.skills[{i}].proficiency"), "must be 1 to 10");
        }
    }
}

fn capacities(v: &mut Violations, set: Option<&CapacitySet>) {
    let Some(set) = set else { return };
    if !v.max_items(
        "capacities.capacities",
        set.capacities.len(),
        MAX_CAPACITIES,
    ) {
        return;
    }
    let mut seen = Vec::new();
    for (i, c) in set.capacities.iter().enumerate() {
        let field = format!("capacities.capacities[{i}].channel");
        if v.enum_value::<Channel>(&field, c.channel, true).is_some() {
            if seen.contains(&c.channel) {
                v.add(field, "is listed twice");
            }
            seen.push(c.channel);
        }
        if c.max_contacts > MAX_CAPACITY {
            v.add(
                format!("capacities.capacities[{i}].max_contacts"),
                format!("must be at most {MAX_CAPACITY}"),
            );
        }
    }
}

/// Checks a SetAgentState request.
pub fn set_agent(r: &SetAgentStateRequest) -> Result<(), Status> {
    let mut v = Violations::new();
    v.tenant(&r.tenant_id);
    v.id("agent_id", &r.agent_id);
    v.enum_value::<Presence>("presence", r.presence, false);
    if let Some(name) = &r.display_name {
        v.text("display_name", name, MAX_NAME_LEN);
    }
    if r.tier == Some(0) {
        v.add("tier", "must be at least 1");
    }
    skills(&mut v, r.skills.as_ref());
    capacities(&mut v, r.capacities.as_ref());
    if let Some(queues) = &r.queues
        && v.max_items("queues.queue_ids", queues.queue_ids.len(), MAX_QUEUES)
    {
        for (i, q) in queues.queue_ids.iter().enumerate() {
            v.id(&format!("queues.queue_ids[{i}]"), q);
        }
    }
    if let Some(team) = &r.team {
        v.optional_id("team", team);
    }
    key(&mut v, &r.idempotency_key, false);
    v.check()
}

/// Checks an UpsertQueue request.
pub fn upsert_queue(r: &UpsertQueueRequest) -> Result<(), Status> {
    let mut v = Violations::new();
    v.tenant(&r.tenant_id);
    match &r.queue {
        None => v.add("queue", "is required"),
        Some(q) => {
            v.id("queue.queue_id", &q.queue_id);
            v.text("queue.name", &q.name, MAX_NAME_LEN);
            skill_requirements(&mut v, "queue.required_skills", &q.required_skills);
            if q.escalation_timeout_secs > MAX_ESCALATION_SECS {
                v.add(
                    "queue.escalation_timeout_secs",
                    format!("must be at most {MAX_ESCALATION_SECS} (a day)"),
                );
            }
            service_level(&mut v, q.service_level_percent, q.service_level_answer_secs);
            v.enum_value::<AgentSelection>("queue.agent_selection", q.agent_selection, false);
            if let Some(w) = &q.widening {
                widening(&mut v, w);
            }
            if q.wrap_up_secs > MAX_RING_SECS {
                v.add(
                    "queue.wrap_up_secs",
                    format!("must be at most {MAX_RING_SECS} (an hour)"),
                );
            }
        }
    }
    key(&mut v, &r.idempotency_key, false);
    v.check()
}

/// A queue's widening: rings of at most an hour each, relaxing after at most a day by 1 to 9
/// levels (levels without a time, or a time without levels, are a mistake worth saying).
fn widening(v: &mut Violations, w: &Widening) {
    for (field, secs) in [
        (
            "queue.widening.preferred_agent_secs",
            w.preferred_agent_secs,
        ),
        ("queue.widening.team_secs", w.team_secs),
    ] {
        if secs > MAX_RING_SECS {
            v.add(field, format!("must be at most {MAX_RING_SECS} (an hour)"));
        }
    }
    if w.relax_after_secs > MAX_ESCALATION_SECS {
        v.add(
            "queue.widening.relax_after_secs",
            format!("must be at most {MAX_ESCALATION_SECS} (a day)"),
        );
    }
    if w.relax_after_secs > 0 && !(1..=9).contains(&w.relax_levels) {
        v.add(
            "queue.widening.relax_levels",
            "must be 1 to 9 when relax_after_secs is set",
        );
    }
    if w.relax_after_secs == 0 && w.relax_levels != 0 {
        v.add(
            "queue.widening.relax_after_secs",
            "must be set when relax_levels is",
        );
    }
}

/// A queue's service-level target: none (both 0), or a percentage of 1 to 100 answered
/// within a time of 1 second to a day.
fn service_level(v: &mut Violations, percent: u32, answer_secs: u32) {
    if percent == 0 && answer_secs == 0 {
        return;
    }
    if !(1..=100).contains(&percent) {
        v.add(
            "queue.service_level_percent",
            "must be 1 to 100 when service_level_answer_secs is set",
        );
    }
    if !(1..=MAX_ESCALATION_SECS).contains(&answer_secs) {
        v.add(
            "queue.service_level_answer_secs",
            format!("must be 1 to {MAX_ESCALATION_SECS} (a day) when service_level_percent is set"),
        );
    }
}

/// Checks a ListQueues request (a larger page size reads as the largest, so it is no error).
pub fn list_queues(r: &ListQueuesRequest) -> Result<(), Status> {
    let mut v = Violations::new();
    v.tenant(&r.tenant_id);
    v.optional_id("page_token", &r.page_token);
    v.check()
}

/// Checks a GetQueueStats request.
pub fn get_queue_stats(r: &GetQueueStatsRequest) -> Result<(), Status> {
    let mut v = Violations::new();
    v.tenant(&r.tenant_id);
    v.id("queue_id", &r.queue_id);
    v.check()
}

/// Checks a ListAgents request.
pub fn list_agents(r: &ListAgentsRequest) -> Result<(), Status> {
    let mut v = Violations::new();
    v.tenant(&r.tenant_id);
    v.optional_id("page_token", &r.page_token);
    v.optional_id("queue_id", &r.queue_id);
    v.optional_id("team", &r.team);
    v.check()
}

/// Checks a WatchRouting request.
pub fn watch_routing(r: &WatchRoutingRequest) -> Result<(), Status> {
    let mut v = Violations::new();
    v.tenant(&r.tenant_id);
    v.optional_id("queue_id", &r.queue_id);
    v.check()
}

/// Checks an OpenToken request.
pub fn open_token(r: &OpenTokenRequest) -> Result<(), Status> {
    let mut v = Violations::new();
    v.tenant(&r.tenant_id);
    if r.token.is_empty() {
        v.add("token", "is required");
    } else if r.token.len() > MAX_TOKEN_BYTES {
        v.add("token", format!("must be at most {MAX_TOKEN_BYTES} bytes"));
    }
    match &r.opener {
        None => v.add("opener", "is required: set agent_id, channel or supervisor"),
        Some(open_token_request::Opener::AgentId(a)) => v.id("agent_id", a),
        Some(open_token_request::Opener::Channel(c)) => {
            v.enum_value::<Channel>("channel", *c, true);
        }
        Some(open_token_request::Opener::Supervisor(set)) => {
            if !set {
                v.add("supervisor", "must be true when set");
            }
        }
    }
    v.check()
}

/// Checks an agent session's hello.
pub fn hello(h: &AgentHello) -> Result<(), Status> {
    let mut v = Violations::new();
    v.tenant(&h.tenant_id);
    v.id("agent_id", &h.agent_id);
    v.check()
}

/// Checks an agent session's acceptance of an offer.
pub fn accept(a: &AcceptOffer) -> Result<(), Status> {
    let mut v = Violations::new();
    v.id("accept.offer_id", &a.offer_id);
    v.check()
}

/// Checks an agent session's cancellation of a warm transfer.
pub fn cancel_transfer(c: &CancelTransfer) -> Result<(), Status> {
    let mut v = Violations::new();
    v.id("cancel_transfer.contact_id", &c.contact_id);
    v.check()
}

/// Checks an agent session's rejection of an offer.
pub fn reject(r: &RejectOffer) -> Result<(), Status> {
    let mut v = Violations::new();
    v.id("reject.offer_id", &r.offer_id);
    v.text("reject.reason", &r.reason, MAX_REJECT_REASON_LEN);
    v.check()
}

#[cfg(test)]
mod tests {
    use baton_proto::v1::{
        ChannelCapacity, PersonTraits, PostalAddress, Queue, QueueSet, Skill, TransferTarget,
    };
    use baton_runtime::validate::field_violations;
    use prost::Message as _;

    use super::*;

    fn fields(status: Status) -> Vec<String> {
        field_violations(&status)
            .into_iter()
            .map(|(f, _)| f)
            .collect()
    }

    #[test]
    fn a_wrap_up_reason_is_a_plain_code_and_its_label_needs_one() {
        let end = |code: &str, label: &str| EndContactRequest {
            tenant_id: "acme".into(),
            contact_id: "k1".into(),
            reason_code: code.into(),
            reason_label: label.into(),
            ..EndContactRequest::default()
        };
        assert!(super::end(&end("", "")).is_ok());
        assert!(super::end(&end("lost_card", "Lost or stolen card")).is_ok());
        assert_eq!(
            fields(super::end(&end("Lost Card!", "")).expect_err("not plain")),
            ["reason_code"]
        );
        assert_eq!(
            fields(super::end(&end(&"a".repeat(65), "")).expect_err("too long")),
            ["reason_code"]
        );
        assert_eq!(
            fields(super::end(&end("", "A label")).expect_err("label alone")),
            ["reason_label"]
        );
        assert_eq!(
            fields(super::end(&end("lost_card", &"x".repeat(257))).expect_err("long label")),
            ["reason_label"]
        );
    }

    #[test]
    fn start_lists_every_bad_field() {
        let r = StartContactRequest {
            tenant_id: "acme".into(),
            channel: 0,
            identifiers: vec![Identifier::default(); 2],
            utterance: "x".repeat(4097),
            idempotency_key: String::new(),
            ..StartContactRequest::default()
        };
        let f = fields(start(&r).expect_err("invalid"));
        for expected in [
            "channel",
            "identifiers[0].kind",
            "identifiers[1].value",
            "utterance",
            "idempotency_key",
        ] {
            assert!(
                f.iter().any(|x| x == expected),
                "{expected} missing from {f:?}"
            );
        }
    }

    /// A start that passes, to spoil one field at a time.
    fn valid_start() -> StartContactRequest {
        StartContactRequest {
            tenant_id: "acme".into(),
            channel: Channel::Voice as i32,
            idempotency_key: "k".into(),
            ..StartContactRequest::default()
        }
    }

    #[test]
    fn too_many_identifiers_are_one_violation_and_a_short_message() {
        assert!(start(&valid_start()).is_ok());
        let r = StartContactRequest {
            identifiers: vec![Identifier::default(); 100_000],
            ..valid_start()
        };
        let status = start(&r).expect_err("invalid");
        assert!(status.message().len() < 1024, "{}", status.message().len());
        assert_eq!(
            field_violations(&status),
            [(
                "identifiers".to_owned(),
                format!("must have at most {MAX_IDENTIFIERS} items (got 100000)")
            )]
        );
    }

    #[test]
    fn every_oversized_list_of_a_start_is_refused_without_looking_at_its_items() {
        let r = StartContactRequest {
            traits: Some(PersonTraits {
                address: Some(PostalAddress {
                    lines: vec!["\u{7}".repeat(200); 100_000],
                    ..PostalAddress::default()
                }),
                ..PersonTraits::default()
            }),
            proofs: vec![0; 100_000],
            required_skills: vec![SkillRequirement::default(); 100_000],
            ..valid_start()
        };
        assert_eq!(
            fields(start(&r).expect_err("invalid")),
            ["traits.address.lines", "proofs", "required_skills"]
        );
    }

    #[test]
    fn every_oversized_list_of_an_agent_is_refused_without_looking_at_its_items() {
        let r = SetAgentStateRequest {
            tenant_id: "acme".into(),
            agent_id: "a".into(),
            skills: Some(SkillSet {
                skills: vec![Skill::default(); 100_000],
            }),
            capacities: Some(CapacitySet {
                capacities: vec![ChannelCapacity::default(); 100_000],
            }),
            queues: Some(QueueSet {
                queue_ids: vec![String::new(); 100_000],
            }),
            ..SetAgentStateRequest::default()
        };
        assert_eq!(
            fields(set_agent(&r).expect_err("invalid")),
            ["skills.skills", "capacities.capacities", "queues.queue_ids"]
        );
        let q = UpsertQueueRequest {
            tenant_id: "acme".into(),
            queue: Some(Queue {
                queue_id: "q".into(),
                required_skills: vec![SkillRequirement::default(); 100_000],
                ..Queue::default()
            }),
            ..UpsertQueueRequest::default()
        };
        assert_eq!(
            fields(upsert_queue(&q).expect_err("invalid")),
            ["queue.required_skills"]
        );
    }

    #[test]
    fn the_largest_valid_requests_fit_the_message_limit() {
        let r = OpenTokenRequest {
            tenant_id: "t".repeat(64),
            token: vec![0xb7; MAX_TOKEN_BYTES],
            opener: Some(open_token_request::Opener::AgentId("a".repeat(128))),
        };
        assert!(open_token(&r).is_ok());
        // About a quarter of the limit: room for fields added later.
        assert!(
            r.encoded_len() * 3 <= MAX_REQUEST_BYTES,
            "{}",
            r.encoded_len()
        );

        let text = |len: usize| "x".repeat(len);
        let start_at_limits = StartContactRequest {
            tenant_id: "t".repeat(64),
            identifiers: vec![
                Identifier {
                    kind: IdentifierKind::CrmId as i32,
                    value: text(MAX_VALUE_LEN),
                    assurance: IdentifierAssurance::Verified as i32,
                    namespace: text(MAX_NAMESPACE_LEN),
                    default_region: text(MAX_REGION_LEN),
                };
                MAX_IDENTIFIERS
            ],
            traits: Some(PersonTraits {
                given_name: text(128),
                family_name: text(128),
                date_of_birth: None,
                address: Some(PostalAddress {
                    lines: vec![text(128); 4],
                    locality: text(128),
                    region: text(128),
                    postal_code: text(128),
                    country_code: "GB".into(),
                }),
                language: text(35),
            }),
            proofs: vec![VerificationMethod::OneTimePasscode as i32; MAX_PROOFS],
            utterance: text(MAX_TEXT_LEN),
            intent: text(MAX_NAME_LEN),
            queue_id: text(128),
            tier: u32::MAX,
            required_skills: vec![
                SkillRequirement {
                    name: text(skills::MAX_LEN),
                    min_proficiency: 10,
                };
                MAX_SKILLS
            ],
            preferred_agent_id: text(128),
            external_id: text(MAX_NAME_LEN),
            idempotency_key: text(MAX_KEY_LEN),
            ..valid_start()
        };
        assert!(start(&start_at_limits).is_ok());
        assert!(start_at_limits.encoded_len() < 20 * 1024);
    }

    #[test]
    fn a_service_level_target_needs_both_its_halves_in_range() {
        let upsert = |percent, answer_secs| UpsertQueueRequest {
            tenant_id: "acme".into(),
            queue: Some(Queue {
                queue_id: "billing".into(),
                service_level_percent: percent,
                service_level_answer_secs: answer_secs,
                ..Queue::default()
            }),
            ..UpsertQueueRequest::default()
        };
        assert!(upsert_queue(&upsert(0, 0)).is_ok(), "no target");
        assert!(upsert_queue(&upsert(80, 20)).is_ok());
        assert_eq!(
            fields(upsert_queue(&upsert(80, 0)).expect_err("no time")),
            ["queue.service_level_answer_secs"]
        );
        assert_eq!(
            fields(upsert_queue(&upsert(101, 86_401)).expect_err("out of range")),
            [
                "queue.service_level_percent",
                "queue.service_level_answer_secs"
            ]
        );
    }

    #[test]
    fn widening_selection_and_team_are_checked() {
        let upsert = |widening: Widening, agent_selection| UpsertQueueRequest {
            tenant_id: "acme".into(),
            queue: Some(Queue {
                queue_id: "billing".into(),
                widening: Some(widening),
                agent_selection,
                ..Queue::default()
            }),
            ..UpsertQueueRequest::default()
        };
        let good = Widening {
            preferred_agent_secs: 30,
            team_secs: 3_600,
            relax_after_secs: 600,
            relax_levels: 2,
        };
        assert!(upsert_queue(&upsert(good, AgentSelection::LongestIdle as i32)).is_ok());
        let mut long_wrap_up = upsert(good, 0);
        if let Some(q) = long_wrap_up.queue.as_mut() {
            q.wrap_up_secs = 3_601;
        }
        assert_eq!(
            fields(upsert_queue(&long_wrap_up).expect_err("long")),
            ["queue.wrap_up_secs"]
        );
        let bad = Widening {
            preferred_agent_secs: 3_601,
            team_secs: 0,
            relax_after_secs: 600,
            relax_levels: 10,
        };
        assert_eq!(
            fields(upsert_queue(&upsert(bad, 99)).expect_err("bad")),
            [
                "queue.agent_selection",
                "queue.widening.preferred_agent_secs",
                "queue.widening.relax_levels"
            ]
        );
        let levels_alone = Widening {
            relax_levels: 1,
            ..Widening::default()
        };
        assert_eq!(
            fields(upsert_queue(&upsert(levels_alone, 0)).expect_err("no time")),
            ["queue.widening.relax_after_secs"]
        );
        let agent = |team: &str| SetAgentStateRequest {
            tenant_id: "acme".into(),
            agent_id: "a1".into(),
            team: Some(team.into()),
            ..SetAgentStateRequest::default()
        };
        assert!(set_agent(&agent("north-1")).is_ok());
        assert!(
            set_agent(&agent("")).is_ok(),
            "empty leaves the agent in no team"
        );
        assert_eq!(
            fields(set_agent(&agent("north\n")).expect_err("not an id")),
            ["team"]
        );
    }

    #[test]
    fn queue_and_agent_lists_bound_their_tokens_and_need_a_queue_for_stats() {
        let long = "q".repeat(200);
        let r = ListQueuesRequest {
            tenant_id: "acme".into(),
            page_token: long.clone(),
            ..ListQueuesRequest::default()
        };
        assert_eq!(fields(list_queues(&r).expect_err("long")), ["page_token"]);
        let r = ListAgentsRequest {
            tenant_id: "acme".into(),
            page_token: long.clone(),
            queue_id: long,
            ..ListAgentsRequest::default()
        };
        assert_eq!(
            fields(list_agents(&r).expect_err("long")),
            ["page_token", "queue_id"]
        );
        assert_eq!(
            fields(
                get_queue_stats(&GetQueueStatsRequest {
                    tenant_id: "acme".into(),
                    ..GetQueueStatsRequest::default()
                })
                .expect_err("no queue")
            ),
            ["queue_id"]
        );
    }

    #[test]
    fn offer_answers_are_checked() {
        assert!(
            accept(&AcceptOffer {
                offer_id: "o".into()
            })
            .is_ok()
        );
        let r = RejectOffer {
            offer_id: "o".repeat(1 << 20),
            reason: "r".repeat(1 << 20),
        };
        assert_eq!(
            fields(reject(&r).expect_err("invalid")),
            ["reject.offer_id", "reject.reason"]
        );
    }

    #[test]
    fn transfer_needs_a_target_and_a_summary_from_an_agent() {
        let r = TransferRequest {
            tenant_id: "acme".into(),
            contact_id: "con_1".into(),
            from_agent_id: "a".into(),
            target: Some(TransferTarget::default()),
            idempotency_key: "k".into(),
            ..TransferRequest::default()
        };
        assert_eq!(
            fields(transfer(&r).expect_err("invalid")),
            ["target", "handover.summary"]
        );
        let ok = TransferRequest {
            target: Some(TransferTarget {
                target: Some(Target::Tier(2)),
                ..TransferTarget::default()
            }),
            handover: Some(Handover {
                summary: "card blocked".into(),
                ..Handover::default()
            }),
            ..r
        };
        assert!(transfer(&ok).is_ok());
    }

    #[test]
    fn agent_skills_capacities_and_tier_are_bounded() {
        let r = SetAgentStateRequest {
            tenant_id: "acme".into(),
            agent_id: "a".into(),
            tier: Some(0),
            skills: Some(SkillSet {
                skills: vec![Skill {
                    name: "billing".into(),
                    proficiency: 11,
                }],
            }),
            capacities: Some(CapacitySet {
                capacities: vec![
                    ChannelCapacity {
                        channel: Channel::Voice as i32,
                        max_contacts: 1,
                        exclusive: false,
                    },
                    ChannelCapacity {
                        channel: Channel::Voice as i32,
                        max_contacts: 2,
                        exclusive: false,
                    },
                ],
            }),
            ..SetAgentStateRequest::default()
        };
        assert_eq!(
            fields(set_agent(&r).expect_err("invalid")),
            [
                "tier",
                "skills.skills[0].proficiency",
                "capacities.capacities[1].channel"
            ]
        );
    }

    #[test]
    fn skill_names_are_checked_as_routing_will_spell_them() {
        let agent = |name: &str| SetAgentStateRequest {
            tenant_id: "acme".into(),
            agent_id: "a".into(),
            skills: Some(SkillSet {
                skills: vec![Skill {
                    name: name.into(),
                    proficiency: 5,
                }],
            }),
            ..SetAgentStateRequest::default()
        };
        assert!(set_agent(&agent(" Billing  Dept ")).is_ok());
        let status = set_agent(&agent("Billing Dept!")).expect_err("invalid");
        let violations = field_violations(&status);
        assert_eq!(violations.len(), 1, "{violations:?}");
        let (field, rule) = &violations[0];
        assert_eq!(field, "skills.skills[0].name");
        assert!(rule.contains("a-z") && rule.contains("'!'"), "{rule}");

        let queue = UpsertQueueRequest {
            tenant_id: "acme".into(),
            queue: Some(Queue {
                queue_id: "q".into(),
                required_skills: vec![SkillRequirement {
                    name: "billing--dept".into(),
                    min_proficiency: 1,
                }],
                ..Queue::default()
            }),
            ..UpsertQueueRequest::default()
        };
        assert_eq!(
            fields(upsert_queue(&queue).expect_err("invalid")),
            ["queue.required_skills[0].name"]
        );
        let transfer_to = TransferRequest {
            tenant_id: "acme".into(),
            contact_id: "con_1".into(),
            target: Some(TransferTarget {
                target: Some(Target::Tier(2)),
                required_skills: vec![SkillRequirement {
                    name: "   ".into(),
                    min_proficiency: 1,
                }],
            }),
            idempotency_key: "k".into(),
            ..TransferRequest::default()
        };
        assert_eq!(
            fields(transfer(&transfer_to).expect_err("invalid")),
            ["target.required_skills[0].name"]
        );
    }

    #[test]
    fn long_idempotency_keys_are_refused_because_routing_derives_keys_from_them() {
        let r = EndContactRequest {
            tenant_id: "acme".into(),
            contact_id: "con_1".into(),
            idempotency_key: "k".repeat(MAX_KEY_LEN + 1),
            ..EndContactRequest::default()
        };
        assert_eq!(fields(end(&r).expect_err("invalid")), ["idempotency_key"]);
    }

    #[test]
    fn open_token_needs_bytes_and_an_opener() {
        let r = OpenTokenRequest {
            tenant_id: "acme".into(),
            ..OpenTokenRequest::default()
        };
        assert_eq!(
            fields(open_token(&r).expect_err("invalid")),
            ["token", "opener"]
        );
    }
}
