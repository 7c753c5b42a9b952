//! Request checks. Each collects every problem of one request as field violations (paths as
//! in the contract, `event.contact_started.utterance`), so a caller fixes them all at once.
//! Sizes come first: a list's length before its items, a string's length before its
//! characters, so an oversized field is one violation and no work.

use baton_proto::v1::{
    Actor, ActorKind, AppendEventRequest, CaseStatus, Channel, Disposition, Event,
    ForgetCustomerRequest, GetContextRequest, Handover, HopKind, ListEventsRequest,
    MessageDirection, OfferOutcome, PurchaseStatus, TransferMode, TransferTarget,
    VerificationLevel, VerificationMethod, WatchContextRequest, audience, event::Payload,
    transfer_target,
};
use baton_runtime::validate::{MAX_ID_LEN, MAX_REASON_LABEL_LEN, MAX_TEXT_LEN, Violations};

use crate::view::MAX_SNAPSHOT_INTERACTIONS;

/// Longest case subject and product name.
const MAX_SUBJECT_LEN: usize = 256;
/// Longest handover reason.
const MAX_REASON_LEN: usize = 512;
/// Longest currency code field accepted (ISO 4217 codes are 3 letters).
const MAX_CURRENCY_LEN: usize = 8;
/// Most verification methods on one event (there are seven).
const MAX_METHODS: usize = 16;
/// Most required skills on a transfer target: routing's bound for a contact's skills, since
/// routing records the targets it was given.
const MAX_SKILLS: usize = 64;
/// Longest skill name.
const MAX_SKILL_LEN: usize = 64;
/// Longest page token: the service issues 11 characters for one history, and for a listing
/// with merged ids 8 bytes per history and 8 more in base64 (363 characters at most).
const MAX_PAGE_TOKEN_LEN: usize = 512;
/// Most ids merged into one customer that a context read may name.
pub const MAX_MERGED_IDS: usize = 32;
/// The largest request message the server decodes. The largest at the contract's limits is
/// an AppendEvent of a transfer (64 skills, a 4 KiB handover summary, ids): about 10 KiB;
/// every other request is a few hundred bytes. Anything larger is refused before it is
/// decoded, so a hostile message of empty list items cannot cost much memory to decode.
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// Checks an append.
pub fn append(req: &AppendEventRequest) -> Violations {
    let mut v = Violations::new();
    v.tenant(&req.tenant_id);
    v.id("customer_id", &req.customer_id);
    v.idempotency_key(&req.idempotency_key);
    match &req.event {
        None => v.add("event", "is required"),
        Some(event) => check_event(&mut v, event),
    }
    v
}

/// Checks a context read.
pub fn get_context(req: &GetContextRequest) -> Violations {
    let mut v = customer(&req.tenant_id, &req.customer_id);
    if req.max_interactions as usize > MAX_SNAPSHOT_INTERACTIONS {
        v.add(
            "max_interactions",
            format!("must be at most {MAX_SNAPSHOT_INTERACTIONS}"),
        );
    }
    check_merged_ids(&mut v, &req.customer_id, &req.merged_ids);
    v
}

/// Ids merged into `customer_id`: customer ids, a bounded number, each named once and none
/// the customer itself (which would show its history twice).
fn check_merged_ids(v: &mut Violations, customer_id: &str, merged_ids: &[String]) {
    if !v.max_items("merged_ids", merged_ids.len(), MAX_MERGED_IDS) {
        return;
    }
    for (i, id) in merged_ids.iter().enumerate() {
        let field = format!("merged_ids[{i}]");
        v.id(&field, id);
        if id.is_empty() {
            continue;
        }
        if id == customer_id {
            v.add(&field, "is the customer_id itself");
        } else if let Some(first) = merged_ids[..i].iter().position(|other| other == id) {
            v.add(&field, format!("repeats merged_ids[{first}]"));
        }
    }
}

/// Checks a page request (the token itself is checked when it is read).
pub fn list_events(req: &ListEventsRequest) -> Violations {
    let mut v = customer(&req.tenant_id, &req.customer_id);
    v.text("page_token", &req.page_token, MAX_PAGE_TOKEN_LEN);
    check_merged_ids(&mut v, &req.customer_id, &req.merged_ids);
    v
}

/// Checks a watch.
pub fn watch(req: &WatchContextRequest) -> Violations {
    let mut v = customer(&req.tenant_id, &req.customer_id);
    check_merged_ids(&mut v, &req.customer_id, &req.merged_ids);
    if req.merged_after_versions.len() > req.merged_ids.len() {
        v.add(
            "merged_after_versions",
            "must have at most as many entries as merged_ids",
        );
    }
    v
}

/// Checks an erasure.
pub fn forget(req: &ForgetCustomerRequest) -> Violations {
    let mut v = customer(&req.tenant_id, &req.customer_id);
    v.text("reason", &req.reason, MAX_SUBJECT_LEN);
    v.idempotency_key(&req.idempotency_key);
    v
}

fn customer(tenant_id: &str, customer_id: &str) -> Violations {
    let mut v = Violations::new();
    v.tenant(tenant_id);
    v.id("customer_id", customer_id);
    v
}

/// What the caller supplies of an event. `event_id`, `customer_id`, `sequence` and
/// `recorded_at` are assigned by the service and ignored here.
fn check_event(v: &mut Violations, event: &Event) {
    // Ignored, but still bounded: nothing unbounded is held while the event is handled.
    v.optional_id("event.event_id", &event.event_id);
    v.optional_id("event.customer_id", &event.customer_id);
    v.optional_id("event.contact_id", &event.contact_id);
    v.enum_value::<Channel>("event.channel", event.channel, false);
    if let Some(actor) = &event.actor {
        check_actor(v, "event.actor", actor);
    }
    let Some(payload) = &event.payload else {
        v.add(
            "event.payload",
            "is required: set exactly one of contact_started, contact_assigned, ...",
        );
        return;
    };
    let contact = |v: &mut Violations| v.id("event.contact_id", &event.contact_id);
    match payload {
        Payload::ContactStarted(p) => {
            contact(v);
            if event.channel == Channel::Unspecified as i32 {
                v.add("event.channel", "is required for contact_started");
            }
            v.text(
                "event.contact_started.utterance",
                &p.utterance,
                MAX_TEXT_LEN,
            );
            v.optional_id("event.contact_started.intent", &p.intent);
            v.optional_id("event.contact_started.queue_id", &p.queue_id);
            if let Some(ver) = &p.verification {
                let f = "event.contact_started.verification";
                v.enum_value::<VerificationLevel>(&format!("{f}.level"), ver.level, false);
                if v.max_items(&format!("{f}.methods"), ver.methods.len(), MAX_METHODS) {
                    for (i, method) in ver.methods.iter().enumerate() {
                        v.enum_value::<VerificationMethod>(
                            &format!("{f}.methods[{i}]"),
                            *method,
                            true,
                        );
                    }
                }
                v.enum_value::<Channel>(&format!("{f}.channel"), ver.channel, false);
            }
        }
        Payload::ContactAssigned(p) => {
            contact(v);
            v.id("event.contact_assigned.agent_id", &p.agent_id);
            v.optional_id("event.contact_assigned.queue_id", &p.queue_id);
        }
        Payload::ContactTransferred(p) => {
            contact(v);
            let f = "event.contact_transferred";
            v.optional_id(&format!("{f}.from_agent_id"), &p.from_agent_id);
            if let Some(target) = &p.target {
                check_target(v, &format!("{f}.target"), target);
            }
            v.enum_value::<TransferMode>(&format!("{f}.mode"), p.mode, false);
            if let Some(h) = &p.handover {
                check_handover(v, &format!("{f}.handover"), h);
            }
        }
        Payload::ChannelSwitched(p) => {
            contact(v);
            let f = "event.channel_switched";
            v.enum_value::<Channel>(&format!("{f}.from_channel"), p.from_channel, false);
            v.enum_value::<Channel>(&format!("{f}.to_channel"), p.to_channel, true);
            if let Some(h) = &p.handover {
                check_handover(v, &format!("{f}.handover"), h);
            }
        }
        Payload::ContactEnded(p) => {
            contact(v);
            v.enum_value::<Disposition>("event.contact_ended.disposition", p.disposition, false);
            v.text("event.contact_ended.summary", &p.summary, MAX_TEXT_LEN);
            v.optional_code("event.contact_ended.reason_code", &p.reason_code);
            v.text(
                "event.contact_ended.reason_label",
                &p.reason_label,
                MAX_REASON_LABEL_LEN,
            );
            if p.reason_code.is_empty() && !p.reason_label.is_empty() {
                v.add("event.contact_ended.reason_label", "needs a reason_code");
            }
        }
        Payload::Message(p) => {
            v.enum_value::<MessageDirection>("event.message.direction", p.direction, false);
            v.text("event.message.text", &p.text, MAX_TEXT_LEN);
        }
        Payload::Note(p) => {
            v.optional_id("event.note.case_id", &p.case_id);
            v.required_text("event.note.text", &p.text, MAX_TEXT_LEN);
        }
        Payload::CaseOpened(p) => {
            v.id("event.case_opened.case_id", &p.case_id);
            v.text("event.case_opened.subject", &p.subject, MAX_SUBJECT_LEN);
            v.optional_id("event.case_opened.category", &p.category);
            v.optional_id("event.case_opened.owner_agent_id", &p.owner_agent_id);
        }
        Payload::CaseUpdated(p) => {
            v.id("event.case_updated.case_id", &p.case_id);
            v.enum_value::<CaseStatus>("event.case_updated.status", p.status, false);
            v.text(
                "event.case_updated.progress_note",
                &p.progress_note,
                MAX_TEXT_LEN,
            );
        }
        Payload::CaseResolved(p) => {
            v.id("event.case_resolved.case_id", &p.case_id);
            v.text(
                "event.case_resolved.resolution",
                &p.resolution,
                MAX_TEXT_LEN,
            );
        }
        Payload::Purchase(p) => {
            v.id("event.purchase.order_id", &p.order_id);
            v.optional_id("event.purchase.product_id", &p.product_id);
            v.text(
                "event.purchase.product_name",
                &p.product_name,
                MAX_SUBJECT_LEN,
            );
            v.optional_id("event.purchase.category", &p.category);
            if let Some(amount) = &p.amount {
                v.text(
                    "event.purchase.amount.currency",
                    &amount.currency,
                    MAX_CURRENCY_LEN,
                );
            }
            v.enum_value::<PurchaseStatus>("event.purchase.status", p.status, false);
        }
        Payload::PurchaseUpdated(p) => {
            v.id("event.purchase_updated.order_id", &p.order_id);
            v.enum_value::<PurchaseStatus>("event.purchase_updated.status", p.status, false);
        }
        Payload::OfferPresented(p) => {
            v.id("event.offer_presented.offer_id", &p.offer_id);
            v.optional_id("event.offer_presented.product_id", &p.product_id);
        }
        Payload::OfferAnswered(p) => {
            v.id("event.offer_answered.offer_id", &p.offer_id);
            v.optional_id("event.offer_answered.product_id", &p.product_id);
            v.enum_value::<OfferOutcome>("event.offer_answered.outcome", p.outcome, true);
        }
        Payload::TokenIssued(p) => {
            v.optional_id("event.token_issued.token_id", &p.token_id);
            v.enum_value::<HopKind>("event.token_issued.hop_kind", p.hop_kind, false);
            match p.audience.as_ref().and_then(|a| a.target.as_ref()) {
                Some(audience::Target::AgentId(id)) => {
                    v.optional_id("event.token_issued.audience.agent_id", id);
                }
                Some(audience::Target::QueueId(id)) => {
                    v.optional_id("event.token_issued.audience.queue_id", id);
                }
                Some(audience::Target::Channel(c)) => {
                    v.enum_value::<Channel>("event.token_issued.audience.channel", *c, false);
                }
                Some(audience::Target::Tier(_)) | None => {}
            }
        }
        Payload::AutomatedStep(p) => {
            v.required_text("event.automated_step.system", &p.system, MAX_ID_LEN);
            v.required_text("event.automated_step.step", &p.step, MAX_SUBJECT_LEN);
            v.text("event.automated_step.outcome", &p.outcome, MAX_ID_LEN);
        }
    }
}

fn check_actor(v: &mut Violations, field: &str, actor: &Actor) {
    v.enum_value::<ActorKind>(&format!("{field}.kind"), actor.kind, false);
    v.optional_id(&format!("{field}.id"), &actor.id);
}

fn check_handover(v: &mut Violations, field: &str, h: &Handover) {
    v.text(&format!("{field}.summary"), &h.summary, MAX_TEXT_LEN);
    v.text(&format!("{field}.reason"), &h.reason, MAX_REASON_LEN);
    v.optional_id(&format!("{field}.intent"), &h.intent);
    if let Some(from) = &h.from {
        check_actor(v, &format!("{field}.from"), from);
    }
}

fn check_target(v: &mut Violations, field: &str, t: &TransferTarget) {
    match &t.target {
        Some(transfer_target::Target::QueueId(id)) => {
            v.optional_id(&format!("{field}.queue_id"), id);
        }
        Some(transfer_target::Target::AgentId(id)) => {
            v.optional_id(&format!("{field}.agent_id"), id);
        }
        Some(transfer_target::Target::Channel(c)) => {
            v.enum_value::<Channel>(&format!("{field}.channel"), *c, false);
        }
        Some(transfer_target::Target::Tier(_)) | None => {}
    }
    let skills = format!("{field}.required_skills");
    if v.max_items(&skills, t.required_skills.len(), MAX_SKILLS) {
        for (i, skill) in t.required_skills.iter().enumerate() {
            v.text(&format!("{skills}[{i}].name"), &skill.name, MAX_SKILL_LEN);
        }
    }
}

#[cfg(test)]
mod tests {
    use baton_proto::v1::{
        CaseOpened, ContactEnded, ContactStarted, ContactTransferred, NoteAdded, PurchaseMade,
        SkillRequirement, Verification,
    };

    use super::*;

    fn fields(v: Violations) -> Vec<String> {
        match v.check() {
            Ok(()) => Vec::new(),
            Err(status) => baton_runtime::validate::field_violations(&status)
                .into_iter()
                .map(|(f, _)| f)
                .collect(),
        }
    }

    fn request(payload: Option<Payload>) -> AppendEventRequest {
        AppendEventRequest {
            tenant_id: "t1".into(),
            customer_id: "cust-1".into(),
            event: Some(Event {
                contact_id: "c1".into(),
                channel: Channel::Chat as i32,
                payload,
                ..Event::default()
            }),
            idempotency_key: "k1".into(),
            expected_version: 0,
        }
    }

    #[test]
    fn a_well_formed_contact_start_passes() {
        let req = request(Some(Payload::ContactStarted(ContactStarted {
            utterance: "where is my order".into(),
            ..ContactStarted::default()
        })));
        assert!(fields(append(&req)).is_empty());
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let mut req = request(Some(Payload::ContactStarted(ContactStarted {
            utterance: "x".repeat(MAX_TEXT_LEN + 1),
            ..ContactStarted::default()
        })));
        req.idempotency_key.clear();
        if let Some(e) = req.event.as_mut() {
            e.channel = 99;
        }
        assert_eq!(
            fields(append(&req)),
            [
                "idempotency_key",
                "event.channel",
                "event.contact_started.utterance"
            ]
        );
    }

    #[test]
    fn payload_is_required_and_records_need_their_ids() {
        assert_eq!(fields(append(&request(None))), ["event.payload"]);
        let case = request(Some(Payload::CaseOpened(CaseOpened::default())));
        assert_eq!(fields(append(&case)), ["event.case_opened.case_id"]);
        let purchase = request(Some(Payload::Purchase(PurchaseMade::default())));
        assert_eq!(fields(append(&purchase)), ["event.purchase.order_id"]);
        let note = request(Some(Payload::Note(NoteAdded::default())));
        assert_eq!(fields(append(&note)), ["event.note.text"]);
    }

    #[test]
    fn a_wrap_up_reason_is_a_plain_code_and_its_label_needs_one() {
        let ended = |code: &str, label: &str| {
            request(Some(Payload::ContactEnded(ContactEnded {
                reason_code: code.into(),
                reason_label: label.into(),
                ..ContactEnded::default()
            })))
        };
        assert!(fields(append(&ended("lost_card", "Lost or stolen card"))).is_empty());
        assert_eq!(
            fields(append(&ended("Lost Card", ""))),
            ["event.contact_ended.reason_code"]
        );
        assert_eq!(
            fields(append(&ended("", "Lost or stolen card"))),
            ["event.contact_ended.reason_label"]
        );
    }

    #[test]
    fn oversized_lists_are_one_violation_each_and_their_items_are_not_looked_at() {
        let req = request(Some(Payload::ContactStarted(ContactStarted {
            verification: Some(Verification {
                methods: vec![0; 100_000],
                ..Verification::default()
            }),
            ..ContactStarted::default()
        })));
        let status = append(&req).check().expect_err("invalid");
        assert!(status.message().len() < 1024, "{}", status.message());
        assert_eq!(
            baton_runtime::validate::field_violations(&status),
            [(
                "event.contact_started.verification.methods".to_owned(),
                "must have at most 16 items (got 100000)".to_owned()
            )]
        );
        let req = request(Some(Payload::ContactTransferred(ContactTransferred {
            target: Some(TransferTarget {
                required_skills: vec![
                    SkillRequirement {
                        name: "x".repeat(1000),
                        min_proficiency: 1
                    };
                    100_000
                ],
                ..TransferTarget::default()
            }),
            ..ContactTransferred::default()
        })));
        assert_eq!(
            fields(append(&req)),
            ["event.contact_transferred.target.required_skills"]
        );
    }

    #[test]
    fn ignored_ids_are_still_bounded() {
        let mut req = request(Some(Payload::Note(NoteAdded {
            text: "called back".into(),
            ..NoteAdded::default()
        })));
        if let Some(e) = req.event.as_mut() {
            e.event_id = "e".repeat(1 << 20);
            e.customer_id = "c".repeat(1 << 20);
        }
        assert_eq!(
            fields(append(&req)),
            ["event.event_id", "event.customer_id"]
        );
    }

    #[test]
    fn the_largest_valid_append_fits_the_message_limit() {
        let id = |c: &str| c.repeat(MAX_ID_LEN);
        let mut req = request(Some(Payload::ContactTransferred(ContactTransferred {
            from_agent_id: id("a"),
            target: Some(TransferTarget {
                target: Some(transfer_target::Target::QueueId(id("q"))),
                required_skills: vec![
                    SkillRequirement {
                        name: "s".repeat(MAX_SKILL_LEN),
                        min_proficiency: 10
                    };
                    MAX_SKILLS
                ],
            }),
            mode: TransferMode::Warm as i32,
            handover: Some(Handover {
                summary: "h".repeat(MAX_TEXT_LEN),
                reason: "r".repeat(MAX_REASON_LEN),
                intent: id("i"),
                from: Some(Actor {
                    kind: ActorKind::Agent as i32,
                    id: id("a"),
                }),
                at: None,
            }),
        })));
        req.tenant_id = "t".repeat(64);
        req.customer_id = id("c");
        req.idempotency_key = id("k");
        if let Some(e) = req.event.as_mut() {
            e.contact_id = id("c");
        }
        assert!(fields(append(&req)).is_empty());
        let len = prost::Message::encoded_len(&req);
        assert!(len * 16 <= MAX_REQUEST_BYTES, "{len}");
    }

    #[test]
    fn max_interactions_is_bounded() {
        let req = GetContextRequest {
            tenant_id: "t1".into(),
            customer_id: "c".into(),
            max_interactions: 51,
            merged_ids: Vec::new(),
        };
        assert_eq!(fields(get_context(&req)), ["max_interactions"]);
    }

    #[test]
    fn merged_ids_are_customer_ids_named_once_and_not_the_customer() {
        let read = |merged: &[&str]| GetContextRequest {
            tenant_id: "t1".into(),
            customer_id: "cust-a".into(),
            max_interactions: 0,
            merged_ids: merged.iter().map(|id| (*id).to_owned()).collect(),
        };
        assert!(fields(get_context(&read(&["cust-b", "cust-c"]))).is_empty());
        let long = "x".repeat(MAX_ID_LEN + 1);
        assert_eq!(
            fields(get_context(&read(&[
                "cust-b", "", &long, "cust-a", "cust-b"
            ]))),
            [
                "merged_ids[1]",
                "merged_ids[2]",
                "merged_ids[3]",
                "merged_ids[4]"
            ]
        );
        let status = get_context(&read(&["cust-b", "cust-b"]))
            .check()
            .expect_err("a repeat is refused");
        assert_eq!(
            baton_runtime::validate::field_violations(&status),
            [(
                "merged_ids[1]".to_owned(),
                "repeats merged_ids[0]".to_owned()
            )]
        );
        let many: Vec<String> = (0..=MAX_MERGED_IDS).map(|n| format!("c{n}")).collect();
        let too_many = GetContextRequest {
            merged_ids: many,
            ..read(&[])
        };
        assert_eq!(fields(get_context(&too_many)), ["merged_ids"]);
    }
}
