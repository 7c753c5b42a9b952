//! The target of each audited RPC: the tenant its request names and the ids it acts on, read
//! from the request message with the contract's own types. Each function copies ids and
//! nothing else: names, identifiers (phone numbers, e-mail addresses), reasons, summaries and
//! token bytes are in the decoded request but never in what it returns.

use baton_proto::v1::{
    Channel, ForgetCustomerRequest, MergeProfilesRequest, OpenTokenRequest, SetAgentStateRequest,
    UnmergeProfileRequest, UpsertProfileRequest, UpsertQueueRequest, open_token_request::Opener,
};
use prost::Message;

use super::AuditTarget;

/// `MergeProfiles`: the survivor, the merged profile and the actor the request names.
pub fn merge_profiles(bytes: &[u8]) -> Option<AuditTarget> {
    let r = MergeProfilesRequest::decode(bytes).ok()?;
    Some(
        AuditTarget::new(r.tenant_id)
            .id("survivor_customer", &r.survivor_id)
            .id("merged_customer", &r.merged_id)
            .id("actor", &r.actor_id),
    )
}

/// `UnmergeProfile`: the merge reversed and the actor the request names.
pub fn unmerge_profile(bytes: &[u8]) -> Option<AuditTarget> {
    let r = UnmergeProfileRequest::decode(bytes).ok()?;
    Some(
        AuditTarget::new(r.tenant_id)
            .id("merge", &r.merge_id)
            .id("actor", &r.actor_id),
    )
}

/// `ForgetCustomer` on routing (the erasure across the mesh) and on identity, context and
/// recommendation: the customer erased.
pub fn forget_customer(bytes: &[u8]) -> Option<AuditTarget> {
    let r = ForgetCustomerRequest::decode(bytes).ok()?;
    Some(AuditTarget::new(r.tenant_id).id("customer", &r.customer_id))
}

/// `UpsertProfile`: each record's source and id in that source (`<source>:<external_id>`);
/// the customers they become are only known from the answer.
pub fn upsert_profile(bytes: &[u8]) -> Option<AuditTarget> {
    let r = UpsertProfileRequest::decode(bytes).ok()?;
    let mut target = AuditTarget::new(r.tenant_id);
    for record in &r.records {
        target = target.id(
            "crm_record",
            &format!("{}:{}", record.source, record.external_id),
        );
    }
    Some(target)
}

/// `OpenToken`: who opens it, an agent or a channel system. The token is sealed, so its id
/// is not read; its bytes are never recorded.
pub fn open_token(bytes: &[u8]) -> Option<AuditTarget> {
    let r = OpenTokenRequest::decode(bytes).ok()?;
    let target = AuditTarget::new(r.tenant_id);
    Some(match &r.opener {
        Some(Opener::AgentId(agent)) => target.id("agent", agent),
        Some(Opener::Channel(channel)) => match Channel::try_from(*channel) {
            Ok(known) => target.id("channel", known.as_str_name()),
            Err(_) => target.id("channel", &channel.to_string()),
        },
        Some(Opener::Supervisor(_)) => target.id("opener", "supervisor"),
        None => target,
    })
}

/// `SetAgentState`: the agent whose state is set.
pub fn set_agent_state(bytes: &[u8]) -> Option<AuditTarget> {
    let r = SetAgentStateRequest::decode(bytes).ok()?;
    Some(AuditTarget::new(r.tenant_id).id("agent", &r.agent_id))
}

/// `UpsertQueue`: the queue created or changed.
pub fn upsert_queue(bytes: &[u8]) -> Option<AuditTarget> {
    let r = UpsertQueueRequest::decode(bytes).ok()?;
    let queue = r.queue.map(|q| q.queue_id).unwrap_or_default();
    Some(AuditTarget::new(r.tenant_id).id("queue", &queue))
}

#[cfg(test)]
mod tests {
    use baton_proto::v1::{
        CalendarDate, Identifier, PersonTraits, ProfileRecord, Queue, open_token_request,
    };
    use proptest::prelude::*;

    use super::*;

    /// Everything personal a test request carries; none of it may come out.
    const PERSONAL: &[&str] = &[
        "Ann",
        "Example",
        "+15551234567",
        "ann@example.com",
        "she asked twice",
        "1984",
    ];

    fn traits() -> PersonTraits {
        PersonTraits {
            given_name: "Ann".into(),
            family_name: "Example".into(),
            date_of_birth: Some(CalendarDate {
                year: 1984,
                month: 2,
                day: 3,
            }),
            ..PersonTraits::default()
        }
    }

    fn assert_ids_only(target: &AuditTarget) {
        let text = format!("{target:?}");
        for value in PERSONAL {
            assert!(!text.contains(value), "{value} leaked into {text}");
        }
    }

    fn pairs(target: &AuditTarget) -> Vec<(&str, &str)> {
        target
            .ids
            .iter()
            .map(|t| (t.kind.as_str(), t.id.as_str()))
            .collect()
    }

    #[test]
    fn a_merge_yields_its_ids_and_never_its_reason() {
        let request = MergeProfilesRequest {
            tenant_id: "acme".into(),
            survivor_id: "c-1".into(),
            merged_id: "c-2".into(),
            reason: "she asked twice".into(),
            actor_id: "admin-7".into(),
            idempotency_key: "k".into(),
        };
        let target = merge_profiles(&request.encode_to_vec()).expect("decodes");
        assert_eq!(target.tenant_id, "acme");
        assert_eq!(
            pairs(&target),
            [
                ("survivor_customer", "c-1"),
                ("merged_customer", "c-2"),
                ("actor", "admin-7")
            ]
        );
        assert_ids_only(&target);
    }

    #[test]
    fn a_profile_import_yields_record_ids_and_never_identifiers_or_traits() {
        let record = |id: &str| ProfileRecord {
            external_id: id.into(),
            source: "crm".into(),
            identifiers: vec![
                Identifier {
                    value: "+15551234567".into(),
                    ..Identifier::default()
                },
                Identifier {
                    value: "ann@example.com".into(),
                    ..Identifier::default()
                },
            ],
            traits: Some(traits()),
            attributes: [("segment".to_owned(), "Ann".to_owned())].into(),
            ..ProfileRecord::default()
        };
        let request = UpsertProfileRequest {
            tenant_id: "acme".into(),
            records: vec![record("r1"), record("r2")],
            idempotency_key: "k".into(),
        };
        let target = upsert_profile(&request.encode_to_vec()).expect("decodes");
        assert_eq!(
            pairs(&target),
            [("crm_record", "crm:r1"), ("crm_record", "crm:r2")]
        );
        assert_ids_only(&target);
    }

    #[test]
    fn opening_a_token_yields_the_opener_and_never_the_token() {
        let sealed = b"BTN1\x00sealed-bytes-of-the-token".to_vec();
        let by_agent = OpenTokenRequest {
            tenant_id: "acme".into(),
            token: sealed.clone(),
            opener: Some(open_token_request::Opener::AgentId("ann".into())),
        };
        let target = open_token(&by_agent.encode_to_vec()).expect("decodes");
        assert_eq!(pairs(&target), [("agent", "ann")]);
        assert!(!format!("{target:?}").contains("sealed-bytes"));
        let by_ivr = OpenTokenRequest {
            tenant_id: "acme".into(),
            token: sealed,
            opener: Some(open_token_request::Opener::Channel(Channel::Voice as i32)),
        };
        let target = open_token(&by_ivr.encode_to_vec()).expect("decodes");
        assert_eq!(pairs(&target), [("channel", "CHANNEL_VOICE")]);
    }

    #[test]
    fn the_other_audited_requests_yield_the_ids_they_act_on() {
        let forget = ForgetCustomerRequest {
            tenant_id: "acme".into(),
            customer_id: "c-9".into(),
            reason: "she asked twice".into(),
            idempotency_key: "k".into(),
        };
        let target = forget_customer(&forget.encode_to_vec()).expect("decodes");
        assert_eq!(pairs(&target), [("customer", "c-9")]);
        assert_ids_only(&target);

        let unmerge = UnmergeProfileRequest {
            tenant_id: "acme".into(),
            merge_id: "m-1".into(),
            reason: "she asked twice".into(),
            ..UnmergeProfileRequest::default()
        };
        let target = unmerge_profile(&unmerge.encode_to_vec()).expect("decodes");
        assert_eq!(pairs(&target), [("merge", "m-1")]);

        let agent = SetAgentStateRequest {
            tenant_id: "acme".into(),
            agent_id: "bob".into(),
            display_name: Some("Ann Example".into()),
            ..SetAgentStateRequest::default()
        };
        let target = set_agent_state(&agent.encode_to_vec()).expect("decodes");
        assert_eq!(pairs(&target), [("agent", "bob")]);
        assert_ids_only(&target);

        let queue = UpsertQueueRequest {
            tenant_id: "acme".into(),
            queue: Some(Queue {
                queue_id: "billing".into(),
                name: "Ann's queue".into(),
                ..Queue::default()
            }),
            idempotency_key: "k".into(),
        };
        let target = upsert_queue(&queue.encode_to_vec()).expect("decodes");
        assert_eq!(pairs(&target), [("queue", "billing")]);
        assert_ids_only(&target);
    }

    #[test]
    fn bytes_that_are_not_the_request_yield_nothing() {
        // Field 1 (tenant_id, a string) as a varint: the wrong wire type.
        assert_eq!(merge_profiles(&[0x08, 0x01]), None);
        assert_eq!(upsert_profile(&[0xff; 11]), None);
    }

    proptest! {
        #[test]
        fn no_target_function_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            for f in [merge_profiles, unmerge_profile, forget_customer, upsert_profile, open_token, set_agent_state, upsert_queue] {
                let _ = f(&bytes);
            }
        }
    }
}
