//! Domain rules, without a network, on the embedded store.

use std::collections::HashMap;

use baton_identity::{
    EmbeddedIdentityStore, Error, Identity,
    conformance::digest_of,
    domain::{
        ForgetCommand, LinkCommand, MergeCommand, ResolveCommand, UnmergeCommand, UpsertCommand,
    },
    normalize,
};
use baton_proto::v1::{
    CalendarDate, Channel, FieldComparison, ForgetCustomerResponse, Identifier,
    IdentifierAssurance, IdentifierKind, LinkIdentifierResponse, MergeProfilesResponse,
    PersonTraits, Profile, ProfileRecord, ResolveDecision, ResolveResponse, UnmergeProfileResponse,
    UpsertProfileResponse, VerificationLevel,
};
use tempfile::TempDir;

struct Fixture {
    _dir: TempDir,
    identity: Domain,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = baton_identity::open_embedded(dir.path()).expect("open");
    Fixture {
        _dir: dir,
        identity: Domain(Identity::new(store)),
    }
}

/// The domain as these tests call it: each command is bound to the digest of the command
/// itself, as if it were the request as received, so the same command is a retry.
struct Domain(Identity<EmbeddedIdentityStore>);

impl Domain {
    async fn resolve(&self, cmd: ResolveCommand) -> Result<ResolveResponse, Error> {
        let digest = digest_of(&cmd);
        self.0.resolve(cmd, digest).await
    }

    async fn upsert(&self, cmd: UpsertCommand) -> Result<UpsertProfileResponse, Error> {
        let digest = digest_of(&cmd);
        self.0.upsert(cmd, digest).await
    }

    async fn link(&self, cmd: LinkCommand) -> Result<LinkIdentifierResponse, Error> {
        let digest = digest_of(&cmd);
        self.0.link(cmd, digest).await
    }

    async fn merge(&self, cmd: MergeCommand) -> Result<MergeProfilesResponse, Error> {
        let digest = digest_of(&cmd);
        self.0.merge(cmd, digest).await
    }

    async fn unmerge(&self, cmd: UnmergeCommand) -> Result<UnmergeProfileResponse, Error> {
        let digest = digest_of(&cmd);
        self.0.unmerge(cmd, digest).await
    }

    async fn forget(&self, cmd: ForgetCommand) -> Result<ForgetCustomerResponse, Error> {
        let digest = digest_of(&cmd);
        self.0.forget(cmd, digest).await
    }

    async fn profile(&self, tenant: &str, customer_id: &str) -> Result<Profile, Error> {
        self.0.profile(tenant, customer_id).await
    }
}

fn id(kind: IdentifierKind, value: &str, assurance: IdentifierAssurance) -> Identifier {
    Identifier {
        kind: kind as i32,
        value: value.to_owned(),
        assurance: assurance as i32,
        ..Default::default()
    }
}

fn resolve_cmd(ids: &[Identifier], traits: Option<PersonTraits>, key: &str) -> ResolveCommand {
    ResolveCommand {
        tenant: "t1".into(),
        identifiers: ids
            .iter()
            .map(|i| normalize::identifier(i).expect("valid identifier"))
            .collect(),
        traits,
        channel: Channel::Chat,
        lookup_only: false,
        proofs: Vec::new(),
        idempotency_key: key.into(),
    }
}

impl Fixture {
    async fn resolve(&self, ids: &[Identifier], key: &str) -> ResolveResponse {
        self.identity
            .resolve(resolve_cmd(ids, None, key))
            .await
            .expect("resolve")
    }

    /// A new customer known by one observed phone number: its id.
    async fn customer(&self, phone: &str, key: &str) -> String {
        self.resolve(&[id(PHONE, phone, OBSERVED)], key)
            .await
            .customer_id
    }

    async fn forget(&self, customer_id: &str, key: &str) -> Result<ForgetCustomerResponse, Error> {
        self.identity
            .forget(ForgetCommand {
                tenant: "t1".into(),
                customer_id: customer_id.into(),
                reason: "erasure request".into(),
                idempotency_key: key.into(),
            })
            .await
    }

    async fn merge(&self, survivor: &str, merged: &str, key: &str) -> Result<String, Error> {
        self.identity
            .merge(MergeCommand {
                tenant: "t1".into(),
                survivor_id: survivor.into(),
                merged_id: merged.into(),
                reason: "duplicate".into(),
                actor_id: "agent-1".into(),
                idempotency_key: key.into(),
            })
            .await
            .map(|m| m.merge_id)
    }

    async fn unmerge(&self, merge_id: &str, key: &str) -> Result<(), Error> {
        self.identity
            .unmerge(UnmergeCommand {
                tenant: "t1".into(),
                merge_id: merge_id.into(),
                reason: "wrong".into(),
                actor_id: "agent-1".into(),
                idempotency_key: key.into(),
            })
            .await
            .map(|_| ())
    }
}

const PHONE: IdentifierKind = IdentifierKind::Phone;
const EMAIL: IdentifierKind = IdentifierKind::Email;
const CLAIMED: IdentifierAssurance = IdentifierAssurance::Claimed;
const OBSERVED: IdentifierAssurance = IdentifierAssurance::Observed;
const VERIFIED: IdentifierAssurance = IdentifierAssurance::Verified;

#[tokio::test]
async fn a_claim_never_attaches_identifiers_but_a_proof_does() {
    let f = fixture();
    let created = f
        .resolve(&[id(EMAIL, "ann@example.com", CLAIMED)], "k1")
        .await;
    let customer = created.customer_id.clone();

    let claimed = f
        .resolve(
            &[
                id(EMAIL, "ann@example.com", CLAIMED),
                id(PHONE, "+12015550123", OBSERVED),
            ],
            "k2",
        )
        .await;
    assert_eq!(claimed.decision, ResolveDecision::Matched as i32);
    assert_eq!(
        claimed.profile.as_ref().map(|p| p.identifiers.len()),
        Some(1)
    );

    let proved = f
        .resolve(
            &[
                id(EMAIL, "ann@example.com", VERIFIED),
                id(PHONE, "+12015550123", OBSERVED),
            ],
            "k3",
        )
        .await;
    assert_eq!(proved.customer_id, customer);
    let p = proved.profile.expect("profile");
    assert_eq!(p.identifiers.len(), 2);
    assert!(
        p.identifiers[0].verified,
        "a proved identifier is marked verified"
    );
    assert!(!p.identifiers[1].verified, "an observed phone is not");
    let phone_only = f
        .resolve(&[id(PHONE, "(201) 555-0123", OBSERVED)], "k4")
        .await;
    assert_eq!(phone_only.customer_id, customer);
}

#[tokio::test]
async fn matches_fill_empty_traits_only() {
    let f = fixture();
    let traits = |given: &str, family: &str| PersonTraits {
        given_name: given.into(),
        family_name: family.into(),
        ..Default::default()
    };
    let first = f
        .identity
        .resolve(resolve_cmd(
            &[id(EMAIL, "ann@example.com", CLAIMED)],
            Some(traits("Ann", "")),
            "k1",
        ))
        .await
        .expect("resolve");
    let second = f
        .identity
        .resolve(resolve_cmd(
            &[id(EMAIL, "ann@example.com", CLAIMED)],
            Some(traits("Anna", "Lee")),
            "k2",
        ))
        .await
        .expect("resolve");
    assert_eq!(second.customer_id, first.customer_id);
    assert_eq!(
        second.profile.and_then(|p| p.traits),
        Some(traits("Ann", "Lee"))
    );
}

#[tokio::test]
async fn lookup_only_writes_nothing() {
    let f = fixture();
    let mut cmd = resolve_cmd(&[id(PHONE, "+12015550123", OBSERVED)], None, "");
    cmd.lookup_only = true;
    let unknown = f.identity.resolve(cmd.clone()).await.expect("lookup");
    assert_eq!(unknown.decision, ResolveDecision::New as i32);
    assert!(unknown.customer_id.is_empty());
    assert_eq!(
        unknown.verification.map(|v| v.level),
        Some(VerificationLevel::None as i32)
    );

    let created = f.resolve(&[id(PHONE, "+12015550123", OBSERVED)], "k").await;
    let revision = created.profile.as_ref().map(|p| p.revision);
    let found = f.identity.resolve(cmd).await.expect("lookup");
    assert_eq!(found.decision, ResolveDecision::Matched as i32);
    assert_eq!(found.customer_id, created.customer_id);
    let now = f
        .identity
        .profile("t1", &created.customer_id)
        .await
        .expect("profile");
    assert_eq!(Some(now.revision), revision, "a lookup changed the profile");
}

#[tokio::test]
async fn conflicting_identifiers_are_ambiguous_and_nothing_changes() {
    let f = fixture();
    let dob = |y| PersonTraits {
        date_of_birth: Some(CalendarDate {
            year: y,
            month: 1,
            day: 2,
        }),
        ..Default::default()
    };
    let a = f
        .identity
        .resolve(resolve_cmd(
            &[id(EMAIL, "a@example.com", VERIFIED)],
            Some(dob(1970)),
            "a",
        ))
        .await
        .expect("a");
    let b = f
        .identity
        .resolve(resolve_cmd(
            &[id(PHONE, "+12015550123", VERIFIED)],
            Some(dob(1990)),
            "b",
        ))
        .await
        .expect("b");
    let both = f
        .resolve(
            &[
                id(EMAIL, "a@example.com", VERIFIED),
                id(PHONE, "+12015550123", VERIFIED),
            ],
            "ab",
        )
        .await;
    assert_eq!(both.decision, ResolveDecision::Ambiguous as i32);
    assert!(both.customer_id.is_empty());
    assert!(both.profile.is_none());
    assert_eq!(
        both.verification.map(|v| v.level),
        Some(VerificationLevel::None as i32)
    );
    let mut ids: Vec<&str> = both
        .candidates
        .iter()
        .map(|c| c.customer_id.as_str())
        .collect();
    ids.sort_unstable();
    let mut expected = [a.customer_id.as_str(), b.customer_id.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected);
    for c in &both.candidates {
        assert!(
            c.evidence
                .iter()
                .any(|e| e.comparison == FieldComparison::Exact as i32)
        );
        assert!(c.score > 0.0 && c.score < 1.0);
    }
    assert_eq!(
        both.question.map(|q| q.field).as_deref(),
        Some("date_of_birth")
    );
    for (customer, n) in [(&a.customer_id, 1), (&b.customer_id, 1)] {
        let p = f.identity.profile("t1", customer).await.expect("profile");
        assert_eq!(
            p.identifiers.len(),
            n,
            "an ambiguous resolve linked something"
        );
        assert!(p.retired_ids.is_empty());
    }
}

#[tokio::test]
async fn proofs_raise_the_level() {
    let f = fixture();
    f.resolve(&[id(PHONE, "+12015550123", OBSERVED)], "k1")
        .await;
    let mut cmd = resolve_cmd(&[id(PHONE, "+12015550123", OBSERVED)], None, "k2");
    cmd.proofs = vec![
        baton_proto::v1::VerificationMethod::KnowledgeQuestions,
        baton_proto::v1::VerificationMethod::VoiceBiometric,
    ];
    let v = f
        .identity
        .resolve(cmd)
        .await
        .expect("resolve")
        .verification
        .expect("v");
    assert_eq!(v.level, VerificationLevel::Strong as i32);
    assert!(v.verified_at.is_some());
    assert_eq!(v.channel, Channel::Chat as i32);
}

fn record(external_id: &str, ids: Vec<Identifier>, given: &str) -> ProfileRecord {
    ProfileRecord {
        external_id: external_id.into(),
        source: "Salesforce".into(),
        identifiers: ids,
        traits: Some(PersonTraits {
            given_name: given.into(),
            ..Default::default()
        }),
        customer_since: None,
        attributes: HashMap::from([("segment".to_owned(), "gold".to_owned())]),
    }
}

#[tokio::test]
async fn upsert_creates_updates_and_refuses_records_one_at_a_time() {
    let f = fixture();
    let existing = f.resolve(&[id(PHONE, "+12015550123", OBSERVED)], "k").await;
    let other = f
        .resolve(&[id(PHONE, "+12015550199", OBSERVED)], "k2")
        .await;
    let upsert = |records, key: &str| UpsertCommand {
        tenant: "t1".into(),
        records,
        idempotency_key: key.into(),
    };
    let first = upsert(
        vec![
            record("crm-1", vec![id(EMAIL, "new@example.com", CLAIMED)], "Ann"),
            record("crm-2", vec![id(PHONE, "+1 201 555 0123", CLAIMED)], "Bob"),
            record(
                "crm-3",
                vec![
                    id(EMAIL, "c@example.com", CLAIMED),
                    id(PHONE, "+12015550199", CLAIMED),
                    id(PHONE, "+12015550123", CLAIMED),
                ],
                "Cy",
            ),
            record("crm-4", vec![id(PHONE, "not a phone", CLAIMED)], "Di"),
        ],
        "u1",
    );
    let out = f.identity.upsert(first.clone()).await.expect("upsert");
    let r = &out.results;
    assert_eq!(r.len(), 4);
    assert!(r[0].created && r[0].error.is_empty());
    assert!(!r[1].created && r[1].error.is_empty());
    assert_eq!(r[1].customer_id, existing.customer_id, "matched by phone");
    assert_eq!(r[2].error, "identifiers are linked to different customers");
    assert_eq!(
        r[3].error,
        "identifiers[0].value is not a valid phone number"
    );
    assert!(r[2].customer_id.is_empty() && r[3].customer_id.is_empty());
    let c = f
        .resolve(&[id(EMAIL, "c@example.com", CLAIMED)], "kc")
        .await;
    assert_eq!(
        c.decision,
        ResolveDecision::New as i32,
        "a refused record left a link"
    );
    let untouched = f
        .identity
        .profile("t1", &other.customer_id)
        .await
        .expect("other");
    assert_eq!(untouched.identifiers.len(), 1);

    // The external id now finds its customer; present fields replace, attributes merge.
    let mut update = record("crm-1", vec![], "Anne");
    update.attributes = HashMap::from([("employer".to_owned(), "Acme".to_owned())]);
    update.source = " salesforce ".into();
    let again = f
        .identity
        .upsert(upsert(vec![update], "u2"))
        .await
        .expect("update");
    assert_eq!(again.results[0].customer_id, r[0].customer_id);
    assert!(!again.results[0].created);
    let p = f
        .identity
        .profile("t1", &r[0].customer_id)
        .await
        .expect("profile");
    assert_eq!(p.traits.map(|t| t.given_name).as_deref(), Some("Anne"));
    assert_eq!(p.attributes.len(), 2);

    // Another record of the same source joins the customer its identifier and traits match:
    // one customer may hold several records of one source.
    let second = f
        .identity
        .upsert(upsert(
            vec![record(
                "crm-9",
                vec![id(EMAIL, "new@example.com", CLAIMED)],
                "Anne",
            )],
            "u3",
        ))
        .await
        .expect("upsert");
    let joined = &second.results[0];
    assert!(joined.error.is_empty(), "{}", joined.error);
    assert_eq!(joined.customer_id, r[0].customer_id);
    assert_eq!(joined.decision, ResolveDecision::Matched as i32);
    let p = f
        .identity
        .profile("t1", &r[0].customer_id)
        .await
        .expect("profile");
    let held: Vec<&str> = p.records.iter().map(|r| r.external_id.as_str()).collect();
    assert_eq!(held, ["crm-1", "crm-9"]);
    // Sending a record again exactly as on file writes nothing.
    let mut same = record("crm-9", vec![id(EMAIL, "new@example.com", CLAIMED)], "Anne");
    same.attributes.clear();
    let again = f
        .identity
        .upsert(upsert(vec![same], "u4"))
        .await
        .expect("upsert");
    assert!(again.results[0].unchanged, "{:?}", again.results[0]);
    let after = f
        .identity
        .profile("t1", &r[0].customer_id)
        .await
        .expect("profile");
    assert_eq!(after.revision, p.revision, "an unchanged record wrote");
    // A retry answers from memory; the same key with other records is refused.
    let retry = f.identity.upsert(first).await.expect("retry");
    assert_eq!(retry, out);
    let reused = f.identity.upsert(upsert(vec![], "u1")).await;
    assert!(
        matches!(
            reused,
            Err(Error::Store(baton_store::StoreError::KeyReused { .. }))
        ),
        "{reused:?}"
    );
}

#[tokio::test]
async fn linking_checks_the_owner_and_upgrades_in_place() {
    let f = fixture();
    let a = f.customer("+12015550123", "a").await;
    let b = f.customer("+12015550199", "b").await;
    let link = |customer: &str, identifier: Identifier, key: &str| LinkCommand {
        tenant: "t1".into(),
        customer_id: customer.into(),
        identifier: normalize::identifier(&identifier).expect("valid"),
        idempotency_key: key.into(),
    };
    let err = f
        .identity
        .link(link(&a, id(PHONE, "201-555-0199", CLAIMED), "l1"))
        .await
        .expect_err("owned by b");
    assert!(matches!(err, Error::LinkedElsewhere));
    let same = f
        .identity
        .link(link(&a, id(PHONE, "2015550123", VERIFIED), "l2"))
        .await
        .expect("same customer")
        .profile
        .expect("profile");
    assert_eq!(same.identifiers.len(), 1);
    assert!(same.identifiers[0].verified);
    let unknown = f
        .identity
        .link(link(
            "cus_nobody",
            id(EMAIL, "x@example.com", CLAIMED),
            "l3",
        ))
        .await
        .expect_err("unknown");
    assert!(matches!(unknown, Error::CustomerNotFound(_)));
    let _ = b;
}

#[tokio::test]
async fn merge_refusals() {
    let f = fixture();
    let a = f.customer("+12015550101", "a").await;
    let b = f.customer("+12015550102", "b").await;
    let c = f.customer("+12015550103", "c").await;
    assert!(matches!(
        f.merge(&a, &a, "m0").await,
        Err(Error::MergeIntoItself)
    ));
    assert!(matches!(
        f.merge(&a, "cus_nobody", "m1").await,
        Err(Error::CustomerNotFound(_))
    ));
    let merge_id = f.merge(&a, &b, "m2").await.expect("merge");
    assert!(matches!(
        f.merge(&c, &b, "m3").await,
        Err(Error::AlreadyMerged { .. })
    ));
    assert!(matches!(
        f.merge(&b, &c, "m4").await,
        Err(Error::AlreadyMerged { .. })
    ));
    assert!(matches!(
        f.unmerge("mrg_nobody", "u0").await,
        Err(Error::MergeNotFound(_))
    ));
    f.unmerge(&merge_id, "u1").await.expect("unmerge");
    assert!(matches!(
        f.unmerge(&merge_id, "u2").await,
        Err(Error::AlreadyReversed(_))
    ));
    // The idempotent retry of the first unmerge answers as before instead.
    f.unmerge(&merge_id, "u1").await.expect("retry");
}

#[tokio::test]
async fn unmerge_takes_back_only_what_the_merge_brought() {
    let f = fixture();
    let a = f
        .identity
        .resolve(resolve_cmd(
            &[id(EMAIL, "a@example.com", VERIFIED)],
            Some(PersonTraits {
                given_name: "Ann".into(),
                ..Default::default()
            }),
            "a",
        ))
        .await
        .expect("a")
        .customer_id;
    let b = f
        .identity
        .resolve(resolve_cmd(
            &[id(PHONE, "+12015550102", OBSERVED)],
            Some(PersonTraits {
                given_name: "Anne".into(),
                family_name: "Lee".into(),
                ..Default::default()
            }),
            "b",
        ))
        .await
        .expect("b")
        .customer_id;
    let merge_id = f.merge(&a, &b, "m").await.expect("merge");
    let merged = f.identity.profile("t1", &a).await.expect("survivor");
    assert_eq!(merged.identifiers.len(), 2);
    assert_eq!(merged.retired_ids, vec![b.clone()]);
    let t = merged.traits.expect("traits");
    assert_eq!(
        (t.given_name.as_str(), t.family_name.as_str()),
        ("Ann", "Lee")
    );
    // After the merge the survivor learns something of its own.
    f.resolve(
        &[
            id(EMAIL, "a@example.com", VERIFIED),
            id(EMAIL, "ann@work.example", CLAIMED),
        ],
        "later",
    )
    .await;
    f.unmerge(&merge_id, "u").await.expect("unmerge");
    let survivor = f.identity.profile("t1", &a).await.expect("survivor");
    let values: Vec<String> = survivor
        .identifiers
        .iter()
        .filter_map(|l| l.identifier.as_ref().map(|i| i.value.clone()))
        .collect();
    assert_eq!(values, ["a@example.com", "ann@work.example"]);
    let t = survivor.traits.expect("traits");
    assert_eq!((t.given_name.as_str(), t.family_name.as_str()), ("Ann", ""));
    assert!(survivor.retired_ids.is_empty());
    let restored = f.identity.profile("t1", &b).await.expect("restored");
    assert_eq!(restored.customer_id, b);
    assert_eq!(
        restored.traits.map(|t| t.family_name).as_deref(),
        Some("Lee")
    );
}

#[tokio::test]
async fn forgetting_erases_remembered_answers_too() {
    let f = fixture();
    let first = f.customer("+12015550123", "k").await;
    let gone = f.forget(&first, "f1").await.expect("forget");
    assert!(gone.found);
    assert!(
        gone.records_removed >= 3,
        "profile, index entry and remembered answer"
    );
    let replay = f.resolve(&[id(PHONE, "+12015550123", OBSERVED)], "k").await;
    assert_ne!(
        replay.customer_id, first,
        "a remembered answer gave back erased data"
    );
    let unknown = f.forget("cus_nobody", "f2").await.expect("forget");
    assert!(!unknown.found);
    assert_eq!(unknown.records_removed, 0);
}

#[tokio::test]
async fn forgetting_a_survivor_erases_what_was_merged_into_it_and_a_retired_id_is_refused() {
    let f = fixture();
    let a = f.customer("+12015550101", "a").await;
    let b = f.customer("+12015550102", "b").await;
    let merge_id = f.merge(&a, &b, "m").await.expect("merge");
    let refused = f.forget(&b, "f1").await;
    assert!(
        matches!(&refused, Err(Error::AlreadyMerged { survivor, .. }) if *survivor == a),
        "a retired id names the survivor instead of erasing it: {refused:?}"
    );
    assert!(f.identity.profile("t1", &a).await.is_ok(), "nothing erased");

    let gone = f.forget(&a, "f2").await.expect("forget the survivor");
    assert!(gone.found);
    for id in [&a, &b] {
        assert!(matches!(
            f.identity.profile("t1", id).await,
            Err(Error::CustomerNotFound(_))
        ));
    }
    assert!(matches!(
        f.unmerge(&merge_id, "u").await,
        Err(Error::MergeNotFound(_))
    ));
}

#[tokio::test]
async fn a_join_by_matching_is_a_merge_the_ledger_can_reverse() {
    let f = fixture();
    let person = |given: &str| PersonTraits {
        given_name: given.into(),
        family_name: "Okonkwo-Baptiste".into(),
        date_of_birth: Some(CalendarDate {
            year: 1979,
            month: 11,
            day: 3,
        }),
        address: Some(baton_proto::v1::PostalAddress {
            lines: vec!["41 Harbour Terrace".into()],
            locality: "Fremantle".into(),
            region: "WA".into(),
            postal_code: "6160".into(),
            country_code: "AU".into(),
        }),
        ..Default::default()
    };
    let upsert = |external_id: &str, given: &str, key: &str| UpsertCommand {
        tenant: "t1".into(),
        records: vec![ProfileRecord {
            external_id: external_id.into(),
            source: "crm".into(),
            traits: Some(person(given)),
            ..Default::default()
        }],
        idempotency_key: key.into(),
    };
    let first = f
        .identity
        .upsert(upsert("A-1", "Chidinma", "u1"))
        .await
        .expect("first");
    let customer = first.results[0].customer_id.clone();
    assert!(
        first.results[0].merge_id.is_empty(),
        "a new customer is no join"
    );
    let before = f.identity.profile("t1", &customer).await.expect("profile");

    let second = f
        .identity
        .upsert(upsert("B-7", "Chidinma", "u2"))
        .await
        .expect("second");
    let joined = &second.results[0];
    assert_eq!(joined.decision, ResolveDecision::Matched as i32);
    assert_eq!(
        joined.customer_id, customer,
        "the second record joins the first"
    );
    assert!(!joined.created);
    assert!(!joined.merge_id.is_empty(), "the join is in the ledger");
    let after = f.identity.profile("t1", &customer).await.expect("joined");
    assert_eq!(after.records.len(), 2);

    f.identity
        .unmerge(UnmergeCommand {
            tenant: "t1".into(),
            merge_id: joined.merge_id.clone(),
            reason: "two people after all".into(),
            actor_id: "steward".into(),
            idempotency_key: "un".into(),
        })
        .await
        .expect("unmerge");
    let back = f.identity.profile("t1", &customer).await.expect("survivor");
    assert_eq!(back.records, before.records, "the first record alone");
    assert_eq!(back.traits, before.traits);
    assert!(back.retired_ids.is_empty());
    // The record that joined is a customer of its own again, found by its external id.
    let again = f
        .identity
        .upsert(upsert("B-7", "Chidinma", "u3"))
        .await
        .expect("again");
    assert_ne!(again.results[0].customer_id, customer);
    assert!(again.results[0].unchanged, "{:?}", again.results[0]);
}
