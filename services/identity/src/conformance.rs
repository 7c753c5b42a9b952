//! The behaviour every [`IdentityStore`] backend must show, as async test functions generic
//! over the backend. `tests/conformance.rs` runs every one of them on the embedded store and
//! on Redis.
//!
//! Each function takes a fresh, empty store (or a way to open one at a fixed location) and
//! panics with a message when the backend misbehaves.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use baton_auth::{
    Principal,
    digest::{self, RequestDigest},
};
use baton_proto::v1::{
    CalendarDate, Channel, Identifier, IdentifierAssurance, IdentifierKind, PersonTraits,
    PostalAddress, Profile, ProfileRecord, ResolveDecision,
};
use baton_store::StoreError;

use crate::{
    Error, Identity,
    domain::{ForgetCommand, MergeCommand, ResolveCommand, UnmergeCommand},
    normalize::{self, IdentityKey},
    store::{AuditRecord, Derived, Idempotency, IdentityStore, MatchWeights, MergeRecord},
};

/// The digest of a request, for tests: that of its debug form, so equal commands (or equal
/// descriptions of a request) are the same request and different ones are not.
pub fn digest_of(request: &impl std::fmt::Debug) -> RequestDigest {
    digest::of(&format!("{request:?}"))
}

/// The slot of `key` on `operation` for the request described by `request`.
fn slot(operation: &'static str, key: &str, request: &str) -> Option<Idempotency> {
    Some(Idempotency::new(operation, key, digest_of(&request)))
}

/// Resolves through the domain, bound to the command itself.
async fn resolve<S: IdentityStore>(
    identity: &Identity<S>,
    cmd: ResolveCommand,
) -> Result<baton_proto::v1::ResolveResponse, Error> {
    let digest = digest_of(&cmd);
    identity.resolve(cmd, digest).await
}

fn key(value: &str) -> IdentityKey {
    IdentityKey {
        kind: IdentifierKind::Phone,
        namespace: String::new(),
        value: value.to_owned(),
    }
}

fn profile(id: &str) -> Profile {
    Profile {
        customer_id: id.to_owned(),
        tenant_id: "t1".to_owned(),
        revision: 1,
        ..Default::default()
    }
}

fn resolve_phone(tenant: &str, phone: &str, idempotency_key: &str) -> ResolveCommand {
    let raw = Identifier {
        kind: IdentifierKind::Phone as i32,
        value: phone.to_owned(),
        assurance: IdentifierAssurance::Observed as i32,
        ..Default::default()
    };
    ResolveCommand {
        tenant: tenant.to_owned(),
        identifiers: vec![normalize::identifier(&raw).expect("test phone is valid")],
        traits: None,
        channel: Channel::Voice,
        lookup_only: false,
        proofs: Vec::new(),
        idempotency_key: idempotency_key.to_owned(),
    }
}

/// Every primitive reads back what was written, in the same and in later transactions.
pub async fn primitives_round_trip<S: IdentityStore>(store: &S) {
    store
        .write("t1", None, |txn| {
            assert_eq!(txn.profile("c1")?, None, "empty store has no profile");
            txn.put_profile(&profile("c1"))?;
            txn.set_owner(&key("+1"), "c1")?;
            txn.retire("old", "c1")?;
            txn.put_merge_record(&MergeRecord {
                merge_id: "m1".into(),
                survivor_id: "c1".into(),
                merged_id: "old".into(),
                ..Default::default()
            })?;
            txn.append_audit(&AuditRecord {
                audit_id: "a1".into(),
                action: "merge".into(),
                ..Default::default()
            })?;
            txn.append_audit(&AuditRecord {
                audit_id: "a2".into(),
                action: "unmerge".into(),
                ..Default::default()
            })?;
            assert_eq!(
                txn.profile("c1")?,
                Some(profile("c1")),
                "reads see own writes"
            );
            Ok(Profile::default())
        })
        .await
        .expect("write");
    store
        .read("t1", |view| {
            assert_eq!(view.profile("c1")?, Some(profile("c1")));
            assert_eq!(view.owner(&key("+1"))?.as_deref(), Some("c1"));
            assert_eq!(view.owner(&key("+2"))?, None);
            assert_eq!(view.survivor_of("old")?.as_deref(), Some("c1"));
            assert_eq!(view.survivor_of("c1")?, None);
            assert_eq!(
                view.merge_record("m1")?.map(|m| m.survivor_id).as_deref(),
                Some("c1")
            );
            assert_eq!(view.merges_involving("c1")?, ["m1"]);
            assert_eq!(view.merges_involving("old")?, ["m1"]);
            assert_eq!(
                view.merges_involving("c")?,
                Vec::<String>::new(),
                "no prefix matches"
            );
            let actions: Vec<String> = view
                .audit_trail(10)?
                .into_iter()
                .map(|a| a.action)
                .collect();
            assert_eq!(actions, ["unmerge", "merge"], "audit newest first");
            assert_eq!(view.audit_trail(1)?.len(), 1);
            Ok(())
        })
        .await
        .expect("read");
    store
        .write("t1", None, |txn| {
            assert!(txn.remove_profile("c1")?);
            assert!(!txn.remove_profile("c1")?);
            assert!(txn.remove_owner(&key("+1"))?);
            assert!(txn.unretire("old")?);
            assert!(txn.remove_merge_record("m1")?);
            assert!(!txn.remove_merge_record("m1")?);
            Ok(Profile::default())
        })
        .await
        .expect("removals");
    store
        .read("t1", |view| {
            assert_eq!(view.profile("c1")?, None);
            assert_eq!(view.owner(&key("+1"))?, None);
            assert_eq!(view.survivor_of("old")?, None);
            assert_eq!(view.merge_record("m1")?, None);
            assert!(view.merges_involving("c1")?.is_empty());
            Ok(())
        })
        .await
        .expect("read after removals");
}

/// Inside one transaction, every read sees the transaction's own earlier writes, removals
/// included, before anything is committed.
pub async fn writes_are_visible_inside_their_transaction<S: IdentityStore>(store: &S) {
    store
        .write("t1", None, |txn| {
            txn.put_profile(&profile("c1"))?;
            txn.set_owner(&key("+1"), "c1")?;
            txn.put_merge_record(&MergeRecord {
                merge_id: "m1".into(),
                survivor_id: "c1".into(),
                merged_id: "old".into(),
                ..Default::default()
            })?;
            txn.append_audit(&AuditRecord {
                audit_id: "a1".into(),
                action: "merge".into(),
                ..Default::default()
            })?;
            Ok(Profile::default())
        })
        .await
        .expect("first write");
    store
        .write("t1", None, |txn| {
            txn.put_merge_record(&MergeRecord {
                merge_id: "m2".into(),
                survivor_id: "c1".into(),
                merged_id: "other".into(),
                ..Default::default()
            })?;
            assert_eq!(
                txn.merges_involving("c1")?,
                ["m1", "m2"],
                "own ledger entry"
            );
            assert!(txn.remove_merge_record("m1")?);
            assert_eq!(txn.merges_involving("c1")?, ["m2"], "own ledger removal");
            assert!(txn.merges_involving("old")?.is_empty());
            assert_eq!(txn.merge_record("m1")?, None);
            txn.append_audit(&AuditRecord {
                audit_id: "a2".into(),
                action: "unmerge".into(),
                ..Default::default()
            })?;
            let actions: Vec<String> = txn.audit_trail(10)?.into_iter().map(|a| a.action).collect();
            assert_eq!(actions, ["unmerge", "merge"], "own audit record");
            assert_eq!(txn.audit_trail(1)?.len(), 1);
            assert!(txn.audit_trail(0)?.is_empty());
            assert!(txn.remove_profile("c1")?);
            assert_eq!(txn.profile("c1")?, None, "own removal");
            assert!(!txn.remove_profile("c1")?);
            assert!(txn.remove_owner(&key("+1"))?);
            assert_eq!(txn.owner(&key("+1"))?, None);
            txn.set_owner(&key("+1"), "c2")?;
            assert_eq!(txn.owner(&key("+1"))?.as_deref(), Some("c2"), "own relink");
            txn.retire("c1", "c2")?;
            assert_eq!(txn.survivor_of("c1")?.as_deref(), Some("c2"));
            assert!(txn.unretire("c1")?);
            assert_eq!(txn.survivor_of("c1")?, None);
            Ok(Profile::default())
        })
        .await
        .expect("second write");
    store
        .read("t1", |view| {
            assert_eq!(view.merges_involving("c1")?, ["m2"]);
            assert_eq!(view.merges_involving("other")?, ["m2"]);
            assert!(view.merges_involving("old")?.is_empty());
            assert_eq!(view.profile("c1")?, None);
            assert_eq!(view.owner(&key("+1"))?.as_deref(), Some("c2"));
            assert_eq!(view.survivor_of("c1")?, None);
            assert_eq!(view.audit_trail(10)?.len(), 2);
            Ok(())
        })
        .await
        .expect("read");
}

/// A transaction whose closure fails leaves nothing behind.
pub async fn failed_write_leaves_nothing<S: IdentityStore>(store: &S) {
    let failed: Result<Profile, Error> = store
        .write("t1", slot("op", "k1", "request"), |txn| {
            txn.put_profile(&profile("c1"))?;
            txn.set_owner(&key("+1"), "c1")?;
            Err(Error::LinkedElsewhere)
        })
        .await;
    assert!(matches!(failed, Err(Error::LinkedElsewhere)));
    let (p, owner) = store
        .read("t1", |view| {
            Ok((view.profile("c1")?, view.owner(&key("+1"))?))
        })
        .await
        .expect("read");
    assert_eq!(p, None, "profile of a failed write is visible");
    assert_eq!(owner, None, "index entry of a failed write is visible");
    // A failure is not remembered: the retry runs.
    let retried = store
        .write("t1", slot("op", "k1", "request"), |_| Ok(profile("c2")))
        .await
        .expect("retry");
    assert_eq!(retried.customer_id, "c2");
}

/// The same idempotency slot answers the first answer and runs nothing again; another
/// operation or tenant with the same key is another slot.
pub async fn idempotent_answers_are_remembered<S: IdentityStore>(store: &S) {
    let runs = Arc::new(AtomicUsize::new(0));
    let run = |tenant: &'static str, op: &'static str, id: &'static str| {
        let runs = Arc::clone(&runs);
        store.write(tenant, slot(op, "key", "request"), move |txn| {
            runs.fetch_add(1, Ordering::SeqCst);
            txn.put_profile(&profile(id))?;
            Ok(profile(id))
        })
    };
    assert_eq!(
        run("t1", "op", "first").await.expect("first").customer_id,
        "first"
    );
    assert_eq!(
        run("t1", "op", "second").await.expect("retry").customer_id,
        "first"
    );
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "a retry ran the change again"
    );
    assert_eq!(
        run("t1", "other", "third")
            .await
            .expect("other op")
            .customer_id,
        "third"
    );
    assert_eq!(
        run("t2", "op", "fourth")
            .await
            .expect("other tenant")
            .customer_id,
        "fourth"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    let second = store
        .read("t1", |view| view.profile("second").map_err(Error::from))
        .await
        .expect("read");
    assert_eq!(second, None, "the retry wrote");
}

/// The same slot with a different request is refused: nothing runs, nothing is written, and
/// the first request still gets its first answer.
pub async fn a_key_reused_for_another_request_is_refused<S: IdentityStore>(store: &S) {
    let runs = Arc::new(AtomicUsize::new(0));
    let run = |request: &'static str, id: &'static str| {
        let runs = Arc::clone(&runs);
        store.write("t1", slot("op", "key", request), move |txn| {
            runs.fetch_add(1, Ordering::SeqCst);
            txn.put_profile(&profile(id))?;
            Ok(profile(id))
        })
    };
    let first = run("first request", "first").await.expect("first");
    let refused = run("another request", "second").await;
    assert!(
        matches!(&refused, Err(Error::Store(StoreError::KeyReused { operation })) if operation == "op"),
        "{refused:?}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1, "a refused request ran");
    let second = store
        .read("t1", |view| view.profile("second").map_err(Error::from))
        .await
        .expect("read");
    assert_eq!(second, None, "a refused request wrote");
    let retry = run("first request", "third").await.expect("retry");
    assert_eq!(retry, first, "the first answer changed");
}

/// Keys are scoped to their caller: the same key and request from two callers are two
/// requests, and each caller's retry gets its own answer.
pub async fn keys_of_different_callers_are_independent<S: IdentityStore>(store: &S) {
    let [ann, bob] = ["desk-ann", "desk-bob"].map(|subject| Principal {
        subject: subject.into(),
        ..Principal::for_tests()
    });
    let run = |caller: &Principal, id: &'static str| {
        let slot = Idempotency::new("op", caller.scoped_key("k"), digest_of(&"same request"));
        store.write("t1", Some(slot), move |txn| {
            txn.put_profile(&profile(id))?;
            Ok(profile(id))
        })
    };
    assert_eq!(run(&ann, "ann's").await.expect("ann").customer_id, "ann's");
    assert_eq!(
        run(&bob, "bob's").await.expect("bob").customer_id,
        "bob's",
        "another caller's answer was returned"
    );
    assert_eq!(
        run(&ann, "x").await.expect("ann again").customer_id,
        "ann's"
    );
    assert_eq!(
        run(&bob, "x").await.expect("bob again").customer_id,
        "bob's"
    );
}

/// One tenant never sees or erases another's data.
pub async fn tenants_are_isolated<S: IdentityStore>(store: &S) {
    store
        .write("tenant-a", slot("op", "k", "request"), |txn| {
            txn.put_profile(&profile("c1"))?;
            txn.set_owner(&key("+1"), "c1")?;
            txn.retire("old", "c1")?;
            Ok(profile("c1"))
        })
        .await
        .expect("write a");
    let (p, owner, survivor) = store
        .read("tenant-b", |view| {
            Ok((
                view.profile("c1")?,
                view.owner(&key("+1"))?,
                view.survivor_of("old")?,
            ))
        })
        .await
        .expect("read b");
    assert_eq!(
        (p, owner, survivor),
        (None, None, None),
        "tenant b sees tenant a"
    );
    let forgotten = store
        .write("tenant-b", None, |txn| {
            let n = txn.forget_answers_mentioning(&["c1".to_owned()])?;
            Ok(profile(&n.to_string()))
        })
        .await
        .expect("forget in b");
    assert_eq!(
        forgotten.customer_id, "0",
        "tenant b erased tenant a's answers"
    );
    let still = store
        .write("tenant-a", slot("op", "k", "request"), |_| {
            Ok(profile("changed"))
        })
        .await
        .expect("retry a");
    assert_eq!(still.customer_id, "c1");
}

/// Erasure of remembered answers finds every answer that names a customer, and only those.
pub async fn answers_naming_a_customer_are_forgotten<S: IdentityStore>(store: &S) {
    for (k, id) in [("k1", "cus_a"), ("k2", "cus_b"), ("k3", "cus_a")] {
        store
            .write("t1", slot("op", k, "request"), move |_| Ok(profile(id)))
            .await
            .expect("remember");
    }
    let removed = store
        .write("t1", None, |txn| {
            let n = txn.forget_answers_mentioning(&["cus_a".to_owned()])?;
            Ok(profile(&n.to_string()))
        })
        .await
        .expect("forget");
    assert_eq!(removed.customer_id, "2");
    let k1 = store
        .write("t1", slot("op", "k1", "request"), |_| Ok(profile("fresh")))
        .await
        .expect("k1 again");
    assert_eq!(
        k1.customer_id, "fresh",
        "an answer naming the customer survived"
    );
    let k2 = store
        .write("t1", slot("op", "k2", "request"), |_| Ok(profile("fresh")))
        .await
        .expect("k2 again");
    assert_eq!(k2.customer_id, "cus_b", "an unrelated answer was forgotten");
}

/// Resolves for one new phone number, sent concurrently with different keys, create one
/// customer: the lookup and the creation are one transaction.
pub async fn concurrent_resolves_create_one_customer<S: IdentityStore + Clone>(store: &S) {
    let identity = Identity::new(store.clone());
    let mut tasks = Vec::new();
    for i in 0..8 {
        let identity = identity.clone();
        tasks.push(tokio::spawn(async move {
            resolve(
                &identity,
                resolve_phone("t1", "+1 201 555 0123", &format!("key-{i}")),
            )
            .await
            .expect("resolve")
        }));
    }
    let mut customers = Vec::new();
    let mut new = 0;
    for task in tasks {
        let answer = task.await.expect("task");
        new += usize::from(answer.decision == ResolveDecision::New as i32);
        customers.push(answer.customer_id);
    }
    customers.dedup();
    assert_eq!(
        customers.len(),
        1,
        "one phone number became several customers"
    );
    assert_eq!(new, 1, "exactly one resolve creates");
}

/// Merge then unmerge through the domain restores both profiles and the index exactly, and
/// erasure removes the profile, its index entries and its ledger entries.
pub async fn merge_unmerge_and_forget<S: IdentityStore + Clone>(store: &S) {
    let identity = Identity::new(store.clone());
    let a = resolve(&identity, resolve_phone("t1", "+1 201 555 0101", "a"))
        .await
        .expect("a");
    let b = resolve(&identity, resolve_phone("t1", "+1 201 555 0102", "b"))
        .await
        .expect("b");
    let (a_id, b_id) = (a.customer_id.clone(), b.customer_id.clone());
    let before_a = a.profile.expect("a profile");
    let before_b = b.profile.expect("b profile");
    let merged = identity
        .merge(
            MergeCommand {
                tenant: "t1".into(),
                survivor_id: a_id.clone(),
                merged_id: b_id.clone(),
                reason: "duplicate".into(),
                actor_id: "agent-1".into(),
                idempotency_key: "m".into(),
            },
            digest_of(&"merge"),
        )
        .await
        .expect("merge");
    assert_eq!(
        identity
            .profile("t1", &b_id)
            .await
            .expect("follow")
            .customer_id,
        a_id,
        "a retired id must resolve to its survivor"
    );
    let undone = identity
        .unmerge(
            UnmergeCommand {
                tenant: "t1".into(),
                merge_id: merged.merge_id.clone(),
                reason: "wrong".into(),
                actor_id: "agent-1".into(),
                idempotency_key: "u".into(),
            },
            digest_of(&"unmerge"),
        )
        .await
        .expect("unmerge");
    let same = |x: &Profile, y: &Profile| {
        assert_eq!(x.customer_id, y.customer_id);
        assert_eq!(x.identifiers, y.identifiers);
        assert_eq!(x.traits, y.traits);
        assert_eq!(x.attributes, y.attributes);
        assert_eq!(x.customer_since, y.customer_since);
        assert_eq!(x.retired_ids, y.retired_ids);
    };
    same(&undone.survivor.expect("survivor"), &before_a);
    same(&undone.restored.expect("restored"), &before_b);
    same(
        &identity.profile("t1", &b_id).await.expect("b back"),
        &before_b,
    );
    let again = resolve(&identity, resolve_phone("t1", "+12015550102", "b-again"))
        .await
        .expect("resolve b");
    assert_eq!(again.customer_id, b_id, "index not restored");

    let forgot = identity
        .forget(
            ForgetCommand {
                tenant: "t1".into(),
                customer_id: b_id.clone(),
                reason: "erasure request".into(),
                idempotency_key: "f".into(),
            },
            digest_of(&"forget"),
        )
        .await
        .expect("forget");
    assert!(forgot.found);
    let (profile, owner, ledger, audit) = store
        .read("t1", move |view| {
            Ok((
                view.profile(&b_id)?,
                view.owner(&key("+12015550102"))?,
                view.merges_involving(&b_id)?,
                view.audit_trail(10)?,
            ))
        })
        .await
        .expect("read");
    assert_eq!(profile, None);
    assert_eq!(owner, None);
    assert!(
        ledger.is_empty(),
        "ledger entries of an erased customer remain"
    );
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(actions, ["forget", "unmerge", "merge"]);
}

/// Blocking keys, term counts and trained weights round-trip, are visible inside their
/// transaction, and counts add up across transactions.
pub async fn fuzzy_index_primitives<S: IdentityStore>(store: &S) {
    let keys = ["fy:SM0:1980".to_owned(), "d:19800102".to_owned()];
    let terms = ["*".to_owned(), "f:smith".to_owned()];
    for round in 1..=2_i64 {
        let keys = keys.clone();
        let terms = terms.clone();
        store
            .write("t1", None, move |txn| {
                txn.put_block(&keys[0], "c1 c2")?;
                txn.put_block(&keys[1], "")?;
                txn.count(&terms[0], 2)?;
                txn.count(&terms[1], 1)?;
                txn.count(&terms[1], -1)?;
                txn.count(&terms[1], 1)?;
                assert_eq!(
                    txn.blocks(&keys)?,
                    [Some("c1 c2".to_owned()), None],
                    "blocks read their own writes"
                );
                let seen = txn.frequencies(&terms)?;
                assert_eq!(
                    seen,
                    [2 * round as u64, round as u64],
                    "counts see their own increments"
                );
                txn.put_weights(&MatchWeights {
                    profiles: 7,
                    pairs: 11,
                    ..Default::default()
                })?;
                Ok(Profile::default())
            })
            .await
            .expect("write");
    }
    let (keys_read, terms_read) = (keys.clone(), terms.clone());
    store
        .read("t1", move |view| {
            assert_eq!(view.blocks(&keys_read)?, [Some("c1 c2".to_owned()), None]);
            assert_eq!(view.frequencies(&terms_read)?, [4, 2]);
            assert_eq!(
                view.weights()?.map(|w| (w.profiles, w.pairs)),
                Some((7, 11))
            );
            assert_eq!(view.frequencies(&["g:nobody".to_owned()])?, [0]);
            Ok(())
        })
        .await
        .expect("read");
    store
        .write("t1", None, |txn| {
            txn.put_profile(&profile("c1"))?;
            txn.put_profile(&profile("c2"))?;
            Ok(Profile::default())
        })
        .await
        .expect("profiles");
    let (sample, other) = store
        .read("t1", |view| {
            Ok((view.sample_profiles(10)?, view.sample_profiles(1)?))
        })
        .await
        .expect("sample");
    let mut ids: Vec<String> = sample.into_iter().map(|p| p.customer_id).collect();
    ids.sort();
    assert_eq!(ids, ["c1", "c2"]);
    assert_eq!(other.len(), 1, "a sample keeps to its limit");
    let elsewhere = store
        .read("t2", move |view| {
            Ok((
                view.blocks(&keys)?,
                view.frequencies(&terms)?,
                view.weights()?,
            ))
        })
        .await
        .expect("t2");
    assert_eq!(
        elsewhere,
        (vec![None, None], vec![0, 0], None),
        "tenants share no index"
    );
}

/// Everything a profile of `t1` is filed under: its blocking keys' members and its name
/// counts.
async fn filing<S: IdentityStore>(
    store: &S,
    profiles: Vec<Profile>,
) -> (Vec<Option<String>>, Vec<u64>) {
    filing_in(store, "t1", profiles).await
}

/// [`filing`] in `tenant`.
async fn filing_in<S: IdentityStore>(
    store: &S,
    tenant: &str,
    profiles: Vec<Profile>,
) -> (Vec<Option<String>>, Vec<u64>) {
    let mut keys = std::collections::BTreeSet::new();
    let mut terms =
        std::collections::BTreeSet::from([crate::domain::index::PROFILES_TERM.to_owned()]);
    for p in &profiles {
        keys.extend(crate::matching::blocking::profile_keys(p));
        if let Some(t) = &p.traits {
            let person = crate::standardize::person(t);
            terms.insert(crate::domain::index::given_term(&person.given.canonical));
            terms.insert(crate::domain::index::family_term(&person.family.canonical));
        }
    }
    let keys: Vec<String> = keys.into_iter().collect();
    let terms: Vec<String> = terms.into_iter().collect();
    store
        .read(tenant, move |view| {
            Ok((view.blocks(&keys)?, view.frequencies(&terms)?))
        })
        .await
        .expect("filing")
}

fn crm_record(
    external_id: &str,
    phone: &str,
    given: &str,
    family: &str,
    year: i32,
) -> ProfileRecord {
    ProfileRecord {
        external_id: external_id.to_owned(),
        source: "crm".to_owned(),
        identifiers: vec![Identifier {
            kind: IdentifierKind::Phone as i32,
            value: phone.to_owned(),
            ..Default::default()
        }],
        traits: Some(PersonTraits {
            given_name: given.to_owned(),
            family_name: family.to_owned(),
            date_of_birth: Some(CalendarDate {
                year,
                month: 3,
                day: 14,
            }),
            address: Some(PostalAddress {
                lines: vec![format!("{} Harbour Street", year % 100)],
                locality: "Lismore".to_owned(),
                postal_code: "2480".to_owned(),
                region: "NSW".to_owned(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The two CRM records the unmerge check imports (twice: the second time changes nothing).
fn two_records() -> Vec<ProfileRecord> {
    vec![
        crm_record("r1", "+1 201 555 0111", "Margaret", "Okafor", 1961),
        crm_record("r2", "+1 201 555 0122", "Tomas", "Lindqvist", 1990),
    ]
}

/// A merge followed by an unmerge leaves profiles, source records, identifiers, blocking
/// keys and name counts exactly as before, and the restored records are matchable again.
pub async fn unmerge_restores_records_and_the_fuzzy_index_exactly<S: IdentityStore + Clone>(
    store: &S,
) {
    let identity = Identity::new(store.clone());
    let loaded = identity.import("t1", two_records()).await.expect("import");
    let ids: Vec<String> = loaded
        .results
        .iter()
        .map(|r| r.customer_id.clone())
        .collect();
    assert!(loaded.results.iter().all(|r| r.created), "{loaded:?}");
    let before_a = identity.profile("t1", &ids[0]).await.expect("a");
    let before_b = identity.profile("t1", &ids[1]).await.expect("b");
    let filed_before = filing(store, vec![before_a.clone(), before_b.clone()]).await;
    let merged = identity
        .merge(
            MergeCommand {
                tenant: "t1".into(),
                survivor_id: ids[0].clone(),
                merged_id: ids[1].clone(),
                reason: "test".into(),
                actor_id: "steward".into(),
                idempotency_key: "m".into(),
            },
            digest_of(&"merge records"),
        )
        .await
        .expect("merge");
    let survivor = merged.survivor.expect("survivor");
    assert_eq!(survivor.records.len(), 2, "the merged record moved");
    assert_ne!(
        filing(store, vec![before_a.clone(), before_b.clone()]).await,
        filed_before,
        "a merge refiles the merged profile"
    );
    identity
        .unmerge(
            UnmergeCommand {
                tenant: "t1".into(),
                merge_id: merged.merge_id,
                reason: "test".into(),
                actor_id: "steward".into(),
                idempotency_key: "u".into(),
            },
            digest_of(&"unmerge records"),
        )
        .await
        .expect("unmerge");
    let after_a = identity.profile("t1", &ids[0]).await.expect("a");
    let after_b = identity.profile("t1", &ids[1]).await.expect("b");
    for (before, after) in [(&before_a, &after_a), (&before_b, &after_b)] {
        assert_eq!(after.identifiers, before.identifiers);
        assert_eq!(after.traits, before.traits);
        assert_eq!(after.records, before.records);
        assert_eq!(after.attributes, before.attributes);
        assert_eq!(after.retired_ids, before.retired_ids);
        assert_eq!(after.customer_since, before.customer_since);
    }
    assert_eq!(
        filing(store, vec![after_a, after_b]).await,
        filed_before,
        "the fuzzy index is back as it was"
    );
    // Importing the same records again changes nothing.
    let again = identity
        .import("t1", two_records())
        .await
        .expect("import again");
    for (r, id) in again.results.iter().zip(&ids) {
        assert!(r.unchanged && !r.created && &r.customer_id == id, "{r:?}");
    }
}

/// A lookup by the traits of `record` alone, as a caller with no identifier would make it.
fn resolve_traits(record: &ProfileRecord) -> ResolveCommand {
    ResolveCommand {
        tenant: "t1".to_owned(),
        identifiers: Vec::new(),
        traits: record.traits.clone(),
        channel: Channel::Chat,
        lookup_only: true,
        proofs: Vec::new(),
        idempotency_key: String::new(),
    }
}

/// What a lookup by `record`'s traits alone decides, and the customer it names.
async fn traits_find<S: IdentityStore>(
    identity: &Identity<S>,
    record: &ProfileRecord,
) -> (ResolveDecision, String) {
    let r = resolve(identity, resolve_traits(record))
        .await
        .expect("resolve");
    (r.decision(), r.customer_id)
}

/// RebuildIndex drops whatever blocking keys and name counts a tenant has, files every
/// profile again and counts their names: afterwards the index is exactly what writing the
/// profiles made it, on a tenant whose index was emptied and littered first (as profiles
/// stored before fuzzy matching, or filed by another version, leave it). Other tenants are
/// untouched, and a rebuild told to stop says so.
pub async fn rebuilding_the_index_files_every_profile_again<S: IdentityStore + Clone>(store: &S) {
    let identity = Identity::new(store.clone());
    let loaded = identity.import("t1", two_records()).await.expect("import");
    let ids: Vec<String> = loaded
        .results
        .iter()
        .map(|r| r.customer_id.clone())
        .collect();
    identity.import("t2", two_records()).await.expect("t2");
    let mut profiles = Vec::new();
    for id in &ids {
        profiles.push(identity.profile("t1", id).await.expect("profile"));
    }
    let filed = filing(store, profiles.clone()).await;
    let other = filing_in(store, "t2", profiles.clone()).await;
    let record = &two_records()[0];
    assert_eq!(
        traits_find(&identity, record).await,
        (ResolveDecision::Matched, ids[0].clone()),
        "the traits alone find the profile"
    );

    store
        .write("t1", None, |txn| {
            while txn.clear_derived(Derived::Blocks, 1)? {}
            while txn.clear_derived(Derived::Counts, 1)? {}
            txn.put_block("x:older-scheme", "cus_gone")?;
            txn.count("g:someone", 3)?;
            Ok(true)
        })
        .await
        .expect("litter");
    assert_ne!(filing(store, profiles.clone()).await, filed);
    assert_eq!(
        traits_find(&identity, record).await.0,
        ResolveDecision::New,
        "without the index the traits find nothing"
    );

    let mut seen = Vec::new();
    let done = identity
        .rebuild_index("t1", || false, |p| seen.push(p))
        .await
        .expect("rebuild");
    assert_eq!(
        (done.filed, done.total, done.done),
        (2, 2, true),
        "{done:?}"
    );
    assert!(
        done.terms >= 3,
        "every profile and both names are counted: {done:?}"
    );
    assert_eq!(seen.first().map(|p| (p.filed, p.total)), Some((0, 2)));
    assert_eq!(seen.last(), Some(&done));
    assert_eq!(
        filing(store, profiles.clone()).await,
        filed,
        "filed as written"
    );
    let litter = store
        .read("t1", |view| {
            Ok((
                view.blocks(&["x:older-scheme".to_owned()])?,
                view.frequencies(&["g:someone".to_owned()])?,
            ))
        })
        .await
        .expect("read");
    assert_eq!(litter, (vec![None], vec![0]), "nothing stale is left");
    assert_eq!(
        filing_in(store, "t2", profiles).await,
        other,
        "t2 untouched"
    );
    assert_eq!(
        traits_find(&identity, record).await,
        (ResolveDecision::Matched, ids[0].clone()),
        "the traits find the profile again"
    );

    let stopped = identity.rebuild_index("t1", || true, |_| {}).await;
    assert!(matches!(stopped, Err(Error::Stopped(_))), "{stopped:?}");
}

/// What a store acknowledged is there after it is closed and opened again. `open` opens
/// the store at one fixed location each time it is called.
pub async fn data_survives_reopening<S: IdentityStore>(open: impl Fn() -> S) {
    let customer = {
        let identity = Identity::new(open());
        resolve(&identity, resolve_phone("t1", "+1 201 555 0199", "k"))
            .await
            .expect("resolve")
            .customer_id
    };
    let identity = Identity::new(open());
    let profile = identity
        .profile("t1", &customer)
        .await
        .expect("after reopen");
    assert_eq!(profile.identifiers.len(), 1);
    let again = resolve(&identity, resolve_phone("t1", "+1 201 555 0199", "k"))
        .await
        .expect("retry after reopen");
    assert_eq!(
        again.customer_id, customer,
        "remembered answer lost on reopen"
    );
}
