//! Request checks. Each returns `INVALID_ARGUMENT` listing every bad field at once.

use baton_proto::v1::{
    AddNoteRequest, AgentHello, CapacitySet, Channel, Disposition, EndContactRequest,
    GetContactRequest, Handover, IdentifierAssurance, IdentifierKind, OpenTokenRequest, Presence,
    SetAgentStateRequest, SkillRequirement, SkillSet, StartContactRequest, TransferMode,
    TransferRequest, UpsertQueueRequest, VerificationMethod, open_token_request,
    transfer_target::Target,
};
// A start's identifiers and proofs go to identity's Resolve as they are: its limits apply.
use baton_identity::grpc::validate::{MAX_IDENTIFIERS, MAX_PROOFS};
use baton_identity::normalize::{MAX_NAMESPACE_LEN, MAX_REGION_LEN, MAX_VALUE_LEN};
use baton_runtime::validate::{MAX_TEXT_LEN, Violations};
use tonic::Status;

/// Most skills on an agent, a queue or a contact.
pub const MAX_SKILLS: usize = 64;
/// Most queues an agent serves.
pub const MAX_QUEUES: usize = 64;
/// Longest sealed token accepted by OpenToken.
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;
/// Longest routing idempotency key: routing derives the keys it sends to identity and context
/// from it (`start/<key>/started`), and those must fit their 128-byte limit.
pub const MAX_KEY_LEN: usize = 96;
/// Longest name, subject or short label.
const MAX_NAME_LEN: usize = 128;
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

fn skill_requirements(v: &mut Violations, field: &str, skills: &[SkillRequirement]) {
    v.max_items(field, skills.len(), MAX_SKILLS);
    for (i, s) in skills.iter().enumerate() {
        v.id(&format!("{field}[{i}].name"), &s.name);
        v.text(&format!("{field}[{i}].name"), &s.name, 64);
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
    v.text("handover.reason", &h.reason, 512);
    v.text("handover.intent", &h.intent, MAX_NAME_LEN);
}

/// Checks a StartContact request.
pub fn start(r: &StartContactRequest) -> Result<(), Status> {
    let mut v = Violations::new();
    v.tenant(&r.tenant_id);
    v.enum_value::<Channel>("channel", r.channel, true);
    v.max_items("identifiers", r.identifiers.len(), MAX_IDENTIFIERS);
    for (i, id) in r.identifiers.iter().enumerate() {
        v.enum_value::<IdentifierKind>(&format!("identifiers[{i}].kind"), id.kind, true);
        v.enum_value::<IdentifierAssurance>(
            &format!("identifiers[{i}].assurance"),
            id.assurance,
            false,
        );
        v.required_text(&format!("identifiers[{i}].value"), &id.value, MAX_VALUE_LEN);
        v.text(
            &format!("identifiers[{i}].namespace"),
            &id.namespace,
            MAX_NAMESPACE_LEN,
        );
        v.text(
            &format!("identifiers[{i}].default_region"),
            &id.default_region,
            MAX_REGION_LEN,
        );
    }
    if let Some(t) = &r.traits {
        v.text("traits.given_name", &t.given_name, MAX_NAME_LEN);
        v.text("traits.family_name", &t.family_name, MAX_NAME_LEN);
        v.text("traits.language", &t.language, 35);
    }
    v.max_items("proofs", r.proofs.len(), MAX_PROOFS);
    for (i, p) in r.proofs.iter().enumerate() {
        v.enum_value::<VerificationMethod>(&format!("proofs[{i}]"), *p, true);
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
    key(&mut v, &r.idempotency_key, false);
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
    v.max_items("skills.skills", set.skills.len(), MAX_SKILLS);
    for (i, s) in set.skills.iter().enumerate() {
        v.id(&format!("skills.skills[{i}].name"), &s.name);
        v.text(&format!("skills.skills[{i}].name"), &s.name, 64);
        if !(1..=10).contains(&s.proficiency) {
            v.add(format!("skills.skills[{i}].proficiency"), "must be 1 to 10");
        }
    }
}

fn capacities(v: &mut Violations, set: Option<&CapacitySet>) {
    let Some(set) = set else { return };
    let mut seen = Vec::new();
    v.max_items("capacities.capacities", set.capacities.len(), 16);
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
    if let Some(queues) = &r.queues {
        v.max_items("queues.queue_ids", queues.queue_ids.len(), MAX_QUEUES);
        for (i, q) in queues.queue_ids.iter().enumerate() {
            v.id(&format!("queues.queue_ids[{i}]"), q);
        }
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
        }
    }
    key(&mut v, &r.idempotency_key, false);
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
        None => v.add("opener", "is required: set agent_id or channel"),
        Some(open_token_request::Opener::AgentId(a)) => v.id("agent_id", a),
        Some(open_token_request::Opener::Channel(c)) => {
            v.enum_value::<Channel>("channel", *c, true);
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

#[cfg(test)]
mod tests {
    use baton_proto::v1::{ChannelCapacity, Identifier, Skill, TransferTarget};
    use baton_runtime::validate::field_violations;

    use super::*;

    fn fields(status: Status) -> Vec<String> {
        field_violations(&status)
            .into_iter()
            .map(|(f, _)| f)
            .collect()
    }

    #[test]
    fn start_lists_every_bad_field() {
        let r = StartContactRequest {
            tenant_id: "acme".into(),
            channel: 0,
            identifiers: vec![Identifier::default(); 17],
            utterance: "x".repeat(4097),
            idempotency_key: String::new(),
            ..StartContactRequest::default()
        };
        let f = fields(start(&r).expect_err("invalid"));
        for expected in [
            "channel",
            "identifiers",
            "identifiers[0].kind",
            "utterance",
            "idempotency_key",
        ] {
            assert!(
                f.iter().any(|x| x == expected),
                "{expected} missing from {f:?}"
            );
        }
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
                    },
                    ChannelCapacity {
                        channel: Channel::Voice as i32,
                        max_contacts: 2,
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
