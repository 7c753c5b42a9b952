//! IdentityService over real gRPC: an in-process server on 127.0.0.1:0 and the generated
//! client. The server installs a test principal in front of the service (every role, every
//! tenant) unless a test says otherwise.

use std::{collections::HashMap, net::SocketAddr, path::Path, sync::Arc};

use baton_auth::{AssumeLayer, Principal, Tenants};
use baton_proto::v1::{
    CalendarDate, Channel, FieldComparison, ForgetCustomerRequest, GetProfileRequest, Identifier,
    IdentifierAssurance, IdentifierKind, LinkIdentifierRequest, MergeProfilesRequest, PersonTraits,
    Profile, ProfileRecord, ResolveDecision, ResolveRequest, ResolveResponse,
    UnmergeProfileRequest, UpsertProfileRequest, VerificationLevel, VerificationMethod,
    identity_service_client::IdentityServiceClient,
};
use baton_runtime::{shutdown::Shutdown, validate::field_violations};
use tempfile::TempDir;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Code, transport::Channel as Transport};

type Client = IdentityServiceClient<Transport>;

/// A running server; `stop` shuts it down and waits until it has released the store.
struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Server {
    async fn start(data_dir: &Path) -> Self {
        Self::start_as(data_dir, Some(Principal::for_tests())).await
    }

    /// A server whose every call comes from `principal`; with `None`, a server without any
    /// auth layer, whose calls carry no principal at all.
    async fn start_as(data_dir: &Path, principal: Option<Principal>) -> Self {
        let store = baton_identity::open_embedded(data_dir).expect("open store");
        let svc = baton_identity::grpc_service(store, Default::default(), Shutdown::new());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let incoming = TcpListenerStream::new(listener);
        let stopped = async {
            let _ = stopped.await;
        };
        let task = tokio::spawn(async move {
            let served = match principal {
                Some(principal) => {
                    tonic::transport::Server::builder()
                        .layer(AssumeLayer(Arc::new(principal)))
                        .add_service(svc)
                        .serve_with_incoming_shutdown(incoming, stopped)
                        .await
                }
                None => {
                    tonic::transport::Server::builder()
                        .add_service(svc)
                        .serve_with_incoming_shutdown(incoming, stopped)
                        .await
                }
            };
            served.expect("serve");
        });
        Self { addr, stop, task }
    }

    async fn client(&self) -> Client {
        IdentityServiceClient::connect(format!("http://{}", self.addr))
            .await
            .expect("connect")
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("server task");
    }
}

struct Fixture {
    _dir: TempDir,
    server: Server,
    client: Client,
}

async fn fixture() -> Fixture {
    fixture_as(Some(Principal::for_tests())).await
}

async fn fixture_as(principal: Option<Principal>) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start_as(dir.path(), principal).await;
    let client = server.client().await;
    Fixture {
        _dir: dir,
        server,
        client,
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

fn resolve_req(tenant: &str, identifiers: Vec<Identifier>, key: &str) -> ResolveRequest {
    ResolveRequest {
        tenant_id: tenant.to_owned(),
        identifiers,
        channel: Channel::Voice as i32,
        idempotency_key: key.to_owned(),
        ..Default::default()
    }
}

async fn resolve(client: &mut Client, req: ResolveRequest) -> ResolveResponse {
    client.resolve(req).await.expect("resolve").into_inner()
}

fn level(r: &ResolveResponse) -> i32 {
    r.verification.as_ref().map_or(0, |v| v.level)
}

const PHONE: IdentifierKind = IdentifierKind::Phone;
const EMAIL: IdentifierKind = IdentifierKind::Email;
const LOGIN: IdentifierKind = IdentifierKind::Login;
const CLAIMED: IdentifierAssurance = IdentifierAssurance::Claimed;
const OBSERVED: IdentifierAssurance = IdentifierAssurance::Observed;
const VERIFIED: IdentifierAssurance = IdentifierAssurance::Verified;

#[tokio::test]
async fn new_then_matched_by_the_same_phone_written_differently() {
    let mut f = fixture().await;
    let first = resolve(
        &mut f.client,
        resolve_req("acme", vec![id(PHONE, "+44 20 7946 0018", OBSERVED)], "k1"),
    )
    .await;
    assert_eq!(first.decision, ResolveDecision::New as i32);
    assert!(
        first.customer_id.starts_with("cus_"),
        "{}",
        first.customer_id
    );
    let stored = first.profile.as_ref().expect("profile");
    let value = stored.identifiers[0]
        .identifier
        .as_ref()
        .map(|i| i.value.as_str());
    assert_eq!(value, Some("+442079460018"));

    let mut national = id(PHONE, "020 7946 0018", OBSERVED);
    national.default_region = "GB".into();
    let second = resolve(&mut f.client, resolve_req("acme", vec![national], "k2")).await;
    assert_eq!(second.decision, ResolveDecision::Matched as i32);
    assert_eq!(second.customer_id, first.customer_id);
    let evidence = &second.candidates[0].evidence[0];
    assert_eq!(
        (evidence.field.as_str(), evidence.comparison),
        ("phone", FieldComparison::Exact as i32)
    );
}

#[tokio::test]
async fn e_mail_plus_tags_and_case_match() {
    let mut f = fixture().await;
    let first = resolve(
        &mut f.client,
        resolve_req(
            "acme",
            vec![id(EMAIL, "ann.lee@example.com", CLAIMED)],
            "k1",
        ),
    )
    .await;
    let second = resolve(
        &mut f.client,
        resolve_req(
            "acme",
            vec![id(EMAIL, " Ann.Lee+promo@Example.COM", CLAIMED)],
            "k2",
        ),
    )
    .await;
    assert_eq!(second.decision, ResolveDecision::Matched as i32);
    assert_eq!(second.customer_id, first.customer_id);
    assert_eq!(level(&second), VerificationLevel::Identified as i32);
}

#[tokio::test]
async fn a_verified_login_is_verified_and_caller_id_only_identifies() {
    let mut f = fixture().await;
    let login = || {
        let mut l = id(LOGIN, "auth0|123", VERIFIED);
        l.namespace = "auth0".into();
        l
    };
    let created = resolve(
        &mut f.client,
        resolve_req(
            "acme",
            vec![login(), id(PHONE, "+1 201 555 0123", OBSERVED)],
            "k1",
        ),
    )
    .await;
    let mut again = resolve_req("acme", vec![login()], "k2");
    again.channel = Channel::App as i32;
    let by_login = resolve(&mut f.client, again).await;
    assert_eq!(by_login.customer_id, created.customer_id);
    let v = by_login.verification.expect("verification");
    assert_eq!(v.level, VerificationLevel::Verified as i32);
    assert_eq!(v.methods, [VerificationMethod::AuthenticatedSession as i32]);
    assert_eq!(v.channel, Channel::App as i32);
    assert!(v.verified_at.is_some());

    let by_caller_id = resolve(
        &mut f.client,
        resolve_req("acme", vec![id(PHONE, "(201) 555-0123", OBSERVED)], "k3"),
    )
    .await;
    assert_eq!(by_caller_id.customer_id, created.customer_id);
    let v = by_caller_id.verification.expect("verification");
    assert_eq!(v.level, VerificationLevel::Identified as i32);
    assert_eq!(v.methods, [VerificationMethod::ObservedIdentifier as i32]);
    assert!(v.verified_at.is_none());
}

#[tokio::test]
async fn conflicting_verified_identifiers_are_ambiguous_with_candidates() {
    let mut f = fixture().await;
    let a = resolve(
        &mut f.client,
        resolve_req("acme", vec![id(EMAIL, "a@example.com", VERIFIED)], "a"),
    )
    .await;
    let b = resolve(
        &mut f.client,
        resolve_req("acme", vec![id(PHONE, "+12015550123", VERIFIED)], "b"),
    )
    .await;
    let both = resolve(
        &mut f.client,
        resolve_req(
            "acme",
            vec![
                id(EMAIL, "a@example.com", VERIFIED),
                id(PHONE, "+12015550123", VERIFIED),
            ],
            "ab",
        ),
    )
    .await;
    assert_eq!(both.decision, ResolveDecision::Ambiguous as i32);
    assert!(both.customer_id.is_empty());
    assert_eq!(level(&both), VerificationLevel::None as i32);
    let mut candidates: Vec<String> = both
        .candidates
        .iter()
        .map(|c| c.customer_id.clone())
        .collect();
    candidates.sort();
    let mut expected = vec![a.customer_id.clone(), b.customer_id.clone()];
    expected.sort();
    assert_eq!(candidates, expected);
    let question = both.question.expect("question");
    assert!(!question.field.is_empty() && !question.prompt.is_empty());
    // Nothing was merged: each still resolves on its own.
    let only_a = resolve(
        &mut f.client,
        resolve_req("acme", vec![id(EMAIL, "a@example.com", VERIFIED)], "a2"),
    )
    .await;
    assert_eq!(only_a.customer_id, a.customer_id);
    assert_eq!(only_a.profile.map(|p| p.identifiers.len()), Some(1));
}

#[tokio::test]
async fn a_retry_with_the_same_key_creates_one_customer() {
    let mut f = fixture().await;
    let req = resolve_req(
        "acme",
        vec![id(EMAIL, "new@example.com", CLAIMED)],
        "same-key",
    );
    let first = resolve(&mut f.client, req.clone()).await;
    let retry = resolve(&mut f.client, req).await;
    assert_eq!(retry, first, "a retry answers exactly as the first call");
    let lookup = resolve(
        &mut f.client,
        ResolveRequest {
            lookup_only: true,
            idempotency_key: String::new(),
            ..resolve_req("acme", vec![id(EMAIL, "new@example.com", CLAIMED)], "")
        },
    )
    .await;
    assert_eq!(lookup.customer_id, first.customer_id);
}

#[tokio::test]
async fn upsert_from_a_crm_then_resolve_by_e_mail_finds_the_traits() {
    let mut f = fixture().await;
    let record = ProfileRecord {
        external_id: "003XYZ".into(),
        source: "salesforce".into(),
        identifiers: vec![id(EMAIL, "Ann.Lee@Example.com", CLAIMED)],
        traits: Some(PersonTraits {
            given_name: "Ann".into(),
            family_name: "Lee".into(),
            date_of_birth: Some(CalendarDate {
                year: 1980,
                month: 2,
                day: 3,
            }),
            ..Default::default()
        }),
        customer_since: Some(prost_types::Timestamp {
            seconds: 1_000_000_000,
            nanos: 0,
        }),
        attributes: HashMap::from([("segment".to_owned(), "gold".to_owned())]),
    };
    let out = f
        .client
        .upsert_profile(UpsertProfileRequest {
            tenant_id: "acme".into(),
            records: vec![record],
            idempotency_key: "import-1".into(),
        })
        .await
        .expect("upsert")
        .into_inner();
    assert_eq!(out.results.len(), 1);
    assert!(out.results[0].created, "{:?}", out.results[0]);
    let found = resolve(
        &mut f.client,
        resolve_req(
            "acme",
            vec![id(EMAIL, "ann.lee+support@example.com", CLAIMED)],
            "k",
        ),
    )
    .await;
    assert_eq!(found.decision, ResolveDecision::Matched as i32);
    assert_eq!(found.customer_id, out.results[0].customer_id);
    let profile = found.profile.expect("profile");
    let traits = profile.traits.clone().expect("traits");
    assert_eq!(
        (traits.given_name.as_str(), traits.family_name.as_str()),
        ("Ann", "Lee")
    );
    assert_eq!(
        profile.customer_since.map(|t| t.seconds),
        Some(1_000_000_000)
    );
    assert_eq!(
        profile.attributes.get("segment").map(String::as_str),
        Some("gold")
    );
    let facts = baton_identity::known_facts(&profile);
    assert!(
        facts
            .iter()
            .any(|f| f.field == "date_of_birth" && f.value == "1980-02-03")
    );
}

fn comparable(p: &Profile) -> Profile {
    Profile {
        revision: 0,
        updated_at: None,
        ..p.clone()
    }
}

#[tokio::test]
async fn merge_then_unmerge_restores_both_profiles_exactly() {
    let mut f = fixture().await;
    let a = resolve(
        &mut f.client,
        ResolveRequest {
            traits: Some(PersonTraits {
                given_name: "Ann".into(),
                ..Default::default()
            }),
            ..resolve_req("acme", vec![id(EMAIL, "a@example.com", VERIFIED)], "a")
        },
    )
    .await
    .profile
    .expect("a");
    let b = resolve(
        &mut f.client,
        ResolveRequest {
            traits: Some(PersonTraits {
                family_name: "Lee".into(),
                ..Default::default()
            }),
            ..resolve_req("acme", vec![id(PHONE, "+12015550123", OBSERVED)], "b")
        },
    )
    .await
    .profile
    .expect("b");
    let merged = f
        .client
        .merge_profiles(MergeProfilesRequest {
            tenant_id: "acme".into(),
            survivor_id: a.customer_id.clone(),
            merged_id: b.customer_id.clone(),
            reason: "same person".into(),
            actor_id: "agent-7".into(),
            idempotency_key: "m".into(),
        })
        .await
        .expect("merge")
        .into_inner();
    let survivor = merged.survivor.expect("survivor");
    assert_eq!(survivor.identifiers.len(), 2);
    assert_eq!(survivor.retired_ids, vec![b.customer_id.clone()]);
    let via_retired = f
        .client
        .get_profile(GetProfileRequest {
            tenant_id: "acme".into(),
            customer_id: b.customer_id.clone(),
        })
        .await
        .expect("get retired")
        .into_inner()
        .profile
        .expect("profile");
    assert_eq!(via_retired.customer_id, a.customer_id);
    let by_phone = resolve(
        &mut f.client,
        resolve_req("acme", vec![id(PHONE, "+12015550123", OBSERVED)], "p"),
    )
    .await;
    assert_eq!(
        by_phone.customer_id, a.customer_id,
        "resolve follows the merge"
    );

    let undone = f
        .client
        .unmerge_profile(UnmergeProfileRequest {
            tenant_id: "acme".into(),
            merge_id: merged.merge_id.clone(),
            reason: "different people".into(),
            actor_id: "agent-7".into(),
            idempotency_key: "u".into(),
        })
        .await
        .expect("unmerge")
        .into_inner();
    let mut restored_b = undone.restored.expect("restored");
    let restored_a = undone.survivor.expect("survivor");
    assert_eq!(comparable(&restored_a), comparable(&a));
    // The phone was seen on a contact while merged; apart from when, b is as it was.
    for l in restored_b.identifiers.iter_mut() {
        l.last_seen_at = b.identifiers[0].last_seen_at;
    }
    assert_eq!(comparable(&restored_b), comparable(&b));
    let again = f
        .client
        .unmerge_profile(UnmergeProfileRequest {
            tenant_id: "acme".into(),
            merge_id: merged.merge_id,
            actor_id: "agent-7".into(),
            idempotency_key: "u-again".into(),
            ..Default::default()
        })
        .await
        .expect_err("already reversed");
    assert_eq!(again.code(), Code::FailedPrecondition);
}

#[tokio::test]
async fn tenants_never_see_each_other() {
    let mut f = fixture().await;
    let a = resolve(
        &mut f.client,
        resolve_req("tenant-a", vec![id(EMAIL, "ann@example.com", CLAIMED)], "k"),
    )
    .await;
    let b = resolve(
        &mut f.client,
        resolve_req("tenant-b", vec![id(EMAIL, "ann@example.com", CLAIMED)], "k"),
    )
    .await;
    assert_eq!(b.decision, ResolveDecision::New as i32);
    assert_ne!(a.customer_id, b.customer_id);
    let err = f
        .client
        .get_profile(GetProfileRequest {
            tenant_id: "tenant-b".into(),
            customer_id: a.customer_id.clone(),
        })
        .await
        .expect_err("other tenant");
    assert_eq!(err.code(), Code::NotFound);
    let forgot = f
        .client
        .forget_customer(ForgetCustomerRequest {
            tenant_id: "tenant-b".into(),
            customer_id: a.customer_id.clone(),
            reason: String::new(),
            idempotency_key: "f".into(),
        })
        .await
        .expect("forget")
        .into_inner();
    assert!(!forgot.found, "tenant b erased tenant a's customer");
}

#[tokio::test]
async fn malformed_requests_name_the_fields_at_fault() {
    let mut f = fixture().await;
    let fields = |status: &tonic::Status| -> Vec<String> {
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        field_violations(status)
            .into_iter()
            .map(|(f, _)| f)
            .collect()
    };
    let empty = f
        .client
        .resolve(resolve_req("acme", vec![], "k"))
        .await
        .expect_err("nothing to resolve");
    assert_eq!(fields(&empty), ["identifiers"]);

    let mut unknown = id(PHONE, "+12015550123", OBSERVED);
    unknown.kind = 99;
    let oversized = id(EMAIL, &format!("{}@example.com", "a".repeat(300)), CLAIMED);
    let mut bad_phone = id(PHONE, "12", OBSERVED);
    bad_phone.default_region = "GB".into();
    let many = f
        .client
        .resolve(resolve_req("acme", vec![unknown, oversized, bad_phone], ""))
        .await
        .expect_err("three bad identifiers");
    assert_eq!(
        fields(&many),
        [
            "identifiers[0].kind",
            "identifiers[1].value",
            "identifiers[2].value",
            "idempotency_key"
        ]
    );
    let violations = field_violations(&many);
    assert_eq!(violations[2].1, "is not a valid phone number");
    assert!(
        violations[1].1.contains("at most 256 bytes"),
        "{}",
        violations[1].1
    );

    let too_many = f
        .client
        .resolve(resolve_req(
            "acme",
            (0..17)
                .map(|i| id(EMAIL, &format!("u{i}@example.com"), CLAIMED))
                .collect(),
            "k",
        ))
        .await
        .expect_err("too many");
    assert_eq!(fields(&too_many), ["identifiers"]);

    let no_customer = f
        .client
        .get_profile(GetProfileRequest {
            tenant_id: "acme".into(),
            ..GetProfileRequest::default()
        })
        .await
        .expect_err("empty");
    assert_eq!(fields(&no_customer), ["customer_id"]);

    // A caller of many tenants must say which one.
    let no_tenant = f
        .client
        .get_profile(GetProfileRequest::default())
        .await
        .expect_err("no tenant");
    assert_eq!(no_tenant.code(), Code::InvalidArgument);
    assert!(no_tenant.message().contains("tenant_id"), "{no_tenant:?}");

    // A record's own problem refuses that record, not the call.
    let no_source = f
        .client
        .upsert_profile(UpsertProfileRequest {
            tenant_id: "acme".into(),
            records: vec![ProfileRecord {
                external_id: "1".into(),
                ..Default::default()
            }],
            idempotency_key: "k".into(),
        })
        .await
        .expect("the request itself is valid")
        .into_inner();
    assert_eq!(no_source.results.len(), 1);
    assert_eq!(no_source.results[0].error, "records[0].source is required");
    assert_eq!(no_source.results[0].customer_id, "");

    let no_identifier = f
        .client
        .link_identifier(LinkIdentifierRequest {
            tenant_id: "acme".into(),
            customer_id: "cus_1".into(),
            identifier: None,
            idempotency_key: "k".into(),
        })
        .await
        .expect_err("no identifier");
    assert_eq!(fields(&no_identifier), ["identifier"]);
}

#[tokio::test]
async fn unknown_ids_and_foreign_identifiers_are_refused_clearly() {
    let mut f = fixture().await;
    let err = f
        .client
        .get_profile(GetProfileRequest {
            tenant_id: "acme".into(),
            customer_id: "cus_nobody".into(),
        })
        .await
        .expect_err("unknown");
    assert_eq!(err.code(), Code::NotFound);
    assert!(err.message().contains("cus_nobody"), "{}", err.message());

    let a = resolve(
        &mut f.client,
        resolve_req("acme", vec![id(PHONE, "+12015550101", OBSERVED)], "a"),
    )
    .await;
    let b = resolve(
        &mut f.client,
        resolve_req("acme", vec![id(PHONE, "+12015550102", OBSERVED)], "b"),
    )
    .await;
    let taken = f
        .client
        .link_identifier(LinkIdentifierRequest {
            tenant_id: "acme".into(),
            customer_id: a.customer_id.clone(),
            identifier: Some(id(PHONE, "201 555 0102", CLAIMED)),
            idempotency_key: "l".into(),
        })
        .await
        .expect_err("linked to b");
    assert_eq!(taken.code(), Code::FailedPrecondition);
    assert_eq!(taken.message(), "identifier is linked to another customer");
    let linked = f
        .client
        .link_identifier(LinkIdentifierRequest {
            tenant_id: "acme".into(),
            customer_id: a.customer_id.clone(),
            identifier: Some(id(EMAIL, "a@example.com", VERIFIED)),
            idempotency_key: "l2".into(),
        })
        .await
        .expect("link")
        .into_inner()
        .profile
        .expect("profile");
    assert_eq!(linked.identifiers.len(), 2);
    assert!(linked.identifiers[1].verified);

    let merge_self = f
        .client
        .merge_profiles(MergeProfilesRequest {
            tenant_id: "acme".into(),
            survivor_id: b.customer_id.clone(),
            merged_id: "cus_nobody".into(),
            actor_id: "agent-7".into(),
            idempotency_key: "m".into(),
            ..Default::default()
        })
        .await
        .expect_err("unknown merged id");
    assert_eq!(merge_self.code(), Code::NotFound);
}

#[tokio::test]
async fn data_survives_reopening_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path()).await;
    let mut client = server.client().await;
    let created = resolve(
        &mut client,
        resolve_req("acme", vec![id(EMAIL, "kept@example.com", CLAIMED)], "k"),
    )
    .await;
    drop(client);
    server.stop().await;

    let server = Server::start(dir.path()).await;
    let mut client = server.client().await;
    let profile = client
        .get_profile(GetProfileRequest {
            tenant_id: "acme".into(),
            customer_id: created.customer_id.clone(),
        })
        .await
        .expect("get after restart")
        .into_inner()
        .profile
        .expect("profile");
    assert_eq!(profile.identifiers.len(), 1);
    let again = resolve(
        &mut client,
        resolve_req("acme", vec![id(EMAIL, "KEPT@example.com", CLAIMED)], "k2"),
    )
    .await;
    assert_eq!(again.decision, ResolveDecision::Matched as i32);
    assert_eq!(again.customer_id, created.customer_id);
}

#[tokio::test]
async fn forgetting_a_customer_erases_the_profile_and_its_identifiers() {
    let mut f = fixture().await;
    let created = resolve(
        &mut f.client,
        resolve_req("acme", vec![id(EMAIL, "gone@example.com", CLAIMED)], "k"),
    )
    .await;
    let forgot = f
        .client
        .forget_customer(ForgetCustomerRequest {
            tenant_id: "acme".into(),
            customer_id: created.customer_id.clone(),
            reason: "erasure request".into(),
            idempotency_key: "f".into(),
        })
        .await
        .expect("forget")
        .into_inner();
    assert!(forgot.found);
    let lookup = resolve(
        &mut f.client,
        ResolveRequest {
            lookup_only: true,
            ..resolve_req("acme", vec![id(EMAIL, "gone@example.com", CLAIMED)], "")
        },
    )
    .await;
    assert_eq!(lookup.decision, ResolveDecision::New as i32);
    assert!(lookup.customer_id.is_empty());
    let _ = &f.server;
}

#[tokio::test]
async fn a_caller_of_one_tenant_is_refused_every_other_tenant() {
    let mut f = fixture_as(Some(Principal {
        tenants: Tenants::one("acme"),
        ..Principal::for_tests()
    }))
    .await;
    let denied = f
        .client
        .resolve(resolve_req(
            "globex",
            vec![id(EMAIL, "ann@example.com", CLAIMED)],
            "k1",
        ))
        .await
        .expect_err("another tenant's resolve");
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    assert!(denied.message().contains("globex"), "{}", denied.message());
    let codes = [
        f.client
            .get_profile(GetProfileRequest {
                tenant_id: "globex".into(),
                customer_id: "cus_1".into(),
            })
            .await
            .map(drop),
        f.client
            .upsert_profile(UpsertProfileRequest {
                tenant_id: "globex".into(),
                records: Vec::new(),
                idempotency_key: "u1".into(),
            })
            .await
            .map(drop),
        f.client
            .forget_customer(ForgetCustomerRequest {
                tenant_id: "globex".into(),
                customer_id: "cus_1".into(),
                reason: "erasure request".into(),
                idempotency_key: "f1".into(),
            })
            .await
            .map(drop),
    ]
    .map(|r| r.expect_err("another tenant").code());
    assert_eq!(codes, [Code::PermissionDenied; 3]);

    // Naming no tenant means the caller's only one.
    let created = resolve(
        &mut f.client,
        resolve_req("", vec![id(EMAIL, "ann@example.com", CLAIMED)], "k1"),
    )
    .await;
    assert_eq!(created.decision, ResolveDecision::New as i32);
    let profile = f
        .client
        .get_profile(GetProfileRequest {
            tenant_id: "acme".into(),
            customer_id: created.customer_id.clone(),
        })
        .await
        .expect("the customer is acme's")
        .into_inner()
        .profile
        .expect("profile");
    assert_eq!(profile.tenant_id, "acme");
}

#[tokio::test]
async fn a_key_used_again_for_a_different_request_is_refused() {
    let mut f = fixture().await;
    let req = resolve_req("acme", vec![id(EMAIL, "ann@example.com", CLAIMED)], "k1");
    let first = resolve(&mut f.client, req.clone()).await;
    let other = f
        .client
        .resolve(resolve_req(
            "acme",
            vec![id(EMAIL, "bob@example.com", CLAIMED)],
            "k1",
        ))
        .await
        .expect_err("the same key, another request");
    assert_eq!(other.code(), Code::InvalidArgument);
    assert_eq!(
        field_violations(&other),
        [(
            "idempotency_key".to_owned(),
            "was already used for a different request".to_owned()
        )]
    );
    let bob = f
        .client
        .resolve(ResolveRequest {
            lookup_only: true,
            ..resolve_req("acme", vec![id(EMAIL, "bob@example.com", CLAIMED)], "")
        })
        .await
        .expect("lookup")
        .into_inner();
    assert!(
        bob.customer_id.is_empty(),
        "the refused request created bob"
    );
    let retry = resolve(&mut f.client, req).await;
    assert_eq!(retry, first, "the first answer is untouched");
}

#[tokio::test]
async fn a_call_that_reached_the_service_without_a_principal_is_unauthenticated() {
    let mut f = fixture_as(None).await;
    let resolved = f
        .client
        .resolve(resolve_req(
            "acme",
            vec![id(EMAIL, "ann@example.com", CLAIMED)],
            "k1",
        ))
        .await
        .expect_err("no principal");
    assert_eq!(resolved.code(), Code::Unauthenticated, "{resolved:?}");
    let read = f
        .client
        .get_profile(GetProfileRequest {
            tenant_id: "acme".into(),
            customer_id: "cus_1".into(),
        })
        .await
        .expect_err("no principal");
    assert_eq!(read.code(), Code::Unauthenticated, "{read:?}");
}
