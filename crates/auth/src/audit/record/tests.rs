//! The layer with an audit log, in front of a stand-in service: what is recorded when, and
//! that nothing privileged reaches the service unrecorded.

use std::{
    convert::Infallible,
    sync::{Arc, Mutex},
    time::Duration,
};

use baton_proto::v1::{AuditRecord, AuditStage, MergeProfilesRequest, SetAgentStateRequest};
use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body::Frame as BodyFrame;
use http_body_util::{BodyExt as _, StreamBody};
use prost::Message as _;
use tonic::{Code, Status, body::Body};
use tower::{Layer as _, ServiceExt as _};

use crate::{
    AuditError, AuditSink, AuthLayer, Authenticator, Limits, Role, Roles, Tenants,
    audit::{AuditFuture, AuditPage, AuditQuery},
    jwt::{Claims, Signer, Verifier},
    reload::Watched,
};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

/// Records in memory; `failing` makes every write fail.
#[derive(Debug, Default)]
struct Memory {
    records: Mutex<Vec<AuditRecord>>,
    failing: Mutex<bool>,
}

impl Memory {
    fn all(&self) -> Vec<AuditRecord> {
        self.records.lock().expect("lock").clone()
    }
}

impl AuditSink for Memory {
    fn put(&self, record: AuditRecord) -> AuditFuture<()> {
        let result = if *self.failing.lock().expect("lock") {
            Err(AuditError("disk full".into()))
        } else {
            let mut records = self.records.lock().expect("lock");
            records.retain(|r| r.record_id != record.record_id);
            records.push(record);
            Ok(())
        };
        Box::pin(async move { result })
    }

    fn list(&self, _query: AuditQuery) -> AuditFuture<AuditPage> {
        Box::pin(async { Ok(AuditPage::default()) })
    }
}

/// One request the stand-in service got, and the records the log held when it arrived.
type Call = (Bytes, Vec<AuditRecord>);

/// What the stand-in service saw.
#[derive(Clone, Default)]
struct Seen {
    calls: Arc<Mutex<Vec<Call>>>,
}

fn token(subject: &str, tenant: &str, roles: &[Role]) -> String {
    let claims = Claims::new(
        subject,
        &Tenants::one(tenant),
        Roles::of(roles),
        None,
        Duration::from_secs(60),
        "baton",
    );
    Signer::from_secret("k", SECRET)
        .expect("signer")
        .sign(&claims)
        .expect("sign")
}

fn framed(message: &[u8]) -> Bytes {
    let mut out = vec![0];
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    out.into()
}

fn request(path: &str, bearer: &str, body: Bytes) -> Request<Body> {
    Request::builder()
        .uri(format!("http://localhost{path}"))
        .header("authorization", format!("Bearer {bearer}"))
        .body(Body::new(http_body_util::Full::new(body)))
        .expect("request")
}

fn merge(tenant: &str) -> Bytes {
    framed(
        &MergeProfilesRequest {
            tenant_id: tenant.into(),
            survivor_id: "c-1".into(),
            merged_id: "c-2".into(),
            reason: "Ann Example asked twice".into(),
            actor_id: String::new(),
            idempotency_key: "k".into(),
        }
        .encode_to_vec(),
    )
}

/// An OK answer: one message, then trailers with status 0.
fn ok_answer() -> Response<Body> {
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", "0".parse().expect("header"));
    let frames: Vec<Result<BodyFrame<Bytes>, Status>> = vec![
        Ok(BodyFrame::data(framed(b"answer"))),
        Ok(BodyFrame::trailers(trailers)),
    ];
    Response::new(Body::new(StreamBody::new(futures::stream::iter(frames))))
}

/// The layer with `sink` around a service that records what it saw and answers with `answer`.
fn stack(
    sink: Arc<Memory>,
    seen: Seen,
    answer: fn() -> Response<Body>,
) -> impl tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible> {
    let authenticator = Authenticator::new().with_verifier(Watched::fixed(
        Verifier::from_secret("k", SECRET, "baton").expect("verifier"),
    ));
    let layer = AuthLayer::new(authenticator, Limits::default()).with_audit(sink.clone());
    layer.layer(tower::service_fn(move |req: Request<Body>| {
        let (seen, sink) = (seen.clone(), sink.clone());
        async move {
            let body = req.into_body().collect().await.expect("body").to_bytes();
            seen.calls.lock().expect("lock").push((body, sink.all()));
            Ok::<_, Infallible>(answer())
        }
    }))
}

async fn call(
    svc: &mut (impl tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Send),
    req: Request<Body>,
) -> (Code, Response<Body>) {
    let response = svc
        .ready()
        .await
        .expect("ready")
        .call(req)
        .await
        .expect("call");
    let code = Status::from_header_map(response.headers()).map_or(Code::Ok, |s| s.code());
    (code, response)
}

fn only(sink: &Memory) -> AuditRecord {
    let all = sink.all();
    assert_eq!(all.len(), 1, "{all:?}");
    all[0].clone()
}

#[tokio::test]
async fn a_merge_is_recorded_before_the_service_sees_it_and_completed_with_its_answer() {
    let (sink, seen) = (Arc::new(Memory::default()), Seen::default());
    let mut svc = stack(sink.clone(), seen.clone(), ok_answer);
    let body = merge("acme");
    let admin = token("admin-1", "acme", &[Role::Admin]);
    let (code, response) = call(
        &mut svc,
        request(
            "/baton.v1.IdentityService/MergeProfiles",
            &admin,
            body.clone(),
        ),
    )
    .await;
    assert_eq!(code, Code::Ok);

    let calls = seen.calls.lock().expect("lock").clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, body, "the service gets the very bytes sent");
    assert_eq!(
        calls[0].1.len(),
        1,
        "the record was written before the call"
    );
    assert_eq!(calls[0].1[0].stage(), AuditStage::Attempted);

    let collected = response.into_body().collect().await.expect("body");
    let trailers = collected.trailers().cloned().expect("trailers");
    assert_eq!(trailers.get("grpc-status").expect("status"), "0");
    let record = only(&sink);
    assert_eq!(record.stage(), AuditStage::Answered);
    assert_eq!(record.code, 0);
    assert!(record.answered_at.is_some());
    assert_eq!(record.tenant_id, "acme");
    assert_eq!(record.rpc, "/baton.v1.IdentityService/MergeProfiles");
    let principal = record.principal.clone().expect("principal");
    assert_eq!(principal.subject, "admin-1");
    assert_eq!(principal.roles, ["admin"]);
    assert_eq!(principal.auth_method, "jwt");
    let ids: Vec<_> = record.targets.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["c-1", "c-2"]);
    assert!(
        !format!("{record:?}").contains("Ann"),
        "no free text recorded"
    );
}

#[tokio::test]
async fn an_error_answer_is_recorded_with_its_code() {
    let (sink, seen) = (Arc::new(Memory::default()), Seen::default());
    let mut svc = stack(sink.clone(), seen, || {
        Status::failed_precondition("c-2 is retired").into_http()
    });
    let admin = token("admin-1", "acme", &[Role::Admin]);
    let (code, _) = call(
        &mut svc,
        request("/baton.v1.IdentityService/MergeProfiles", &admin, merge("")),
    )
    .await;
    assert_eq!(code, Code::FailedPrecondition);
    let record = only(&sink);
    assert_eq!(record.stage(), AuditStage::Answered);
    assert_eq!(record.code, Code::FailedPrecondition as u32);
    assert_eq!(
        record.tenant_id, "acme",
        "an empty tenant is the caller's only one"
    );
}

#[tokio::test]
async fn when_the_log_cannot_be_written_the_call_never_reaches_the_service() {
    let (sink, seen) = (Arc::new(Memory::default()), Seen::default());
    *sink.failing.lock().expect("lock") = true;
    let mut svc = stack(sink.clone(), seen.clone(), ok_answer);
    let admin = token("admin-1", "acme", &[Role::Admin]);
    let (code, _) = call(
        &mut svc,
        request(
            "/baton.v1.IdentityService/MergeProfiles",
            &admin,
            merge("acme"),
        ),
    )
    .await;
    assert_eq!(code, Code::Unavailable);
    assert!(seen.calls.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn refusals_are_recorded_with_the_caller_and_never_reach_the_service() {
    let (sink, seen) = (Arc::new(Memory::default()), Seen::default());
    let mut svc = stack(sink.clone(), seen.clone(), ok_answer);

    // A role the rule does not admit.
    let agent = token("desk-ann", "acme", &[Role::Agent]);
    let (code, _) = call(
        &mut svc,
        request(
            "/baton.v1.IdentityService/MergeProfiles",
            &agent,
            merge("acme"),
        ),
    )
    .await;
    assert_eq!(code, Code::PermissionDenied);
    let record = only(&sink);
    assert_eq!(record.stage(), AuditStage::Refused);
    assert_eq!(record.code, Code::PermissionDenied as u32);
    assert_eq!(record.principal.expect("principal").subject, "desk-ann");
    assert_eq!(record.tenant_id, "acme");

    // An admin of another tenant: refused as the handler would, filed under the tenant asked.
    sink.records.lock().expect("lock").clear();
    let other = token("admin-2", "globex", &[Role::Admin]);
    let (code, _) = call(
        &mut svc,
        request(
            "/baton.v1.IdentityService/MergeProfiles",
            &other,
            merge("acme"),
        ),
    )
    .await;
    assert_eq!(code, Code::PermissionDenied);
    let record = only(&sink);
    assert_eq!(record.stage(), AuditStage::Refused);
    assert_eq!(record.tenant_id, "acme");
    assert_eq!(record.principal.expect("principal").subject, "admin-2");

    // Nobody authenticated: refused, nothing recorded.
    sink.records.lock().expect("lock").clear();
    let mut anonymous = request("/baton.v1.IdentityService/MergeProfiles", "", merge("acme"));
    anonymous.headers_mut().remove("authorization");
    let (code, _) = call(&mut svc, anonymous).await;
    assert_eq!(code, Code::Unauthenticated);
    assert!(sink.all().is_empty());
    assert!(seen.calls.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn an_agent_setting_its_state_is_not_recorded_a_supervisor_is() {
    let (sink, seen) = (Arc::new(Memory::default()), Seen::default());
    let mut svc = stack(sink.clone(), seen, ok_answer);
    let body = framed(
        &SetAgentStateRequest {
            tenant_id: "acme".into(),
            agent_id: "ann".into(),
            ..SetAgentStateRequest::default()
        }
        .encode_to_vec(),
    );
    let path = "/baton.v1.RoutingService/SetAgentState";
    let agent = token("ann", "acme", &[Role::Agent]);
    let (code, response) = call(&mut svc, request(path, &agent, body.clone())).await;
    assert_eq!(code, Code::Ok);
    response.into_body().collect().await.expect("body");
    assert!(sink.all().is_empty());

    let supervisor = token("sup-1", "acme", &[Role::Supervisor]);
    let (_, response) = call(&mut svc, request(path, &supervisor, body)).await;
    response.into_body().collect().await.expect("body");
    let record = only(&sink);
    assert_eq!(record.stage(), AuditStage::Answered);
    assert_eq!(record.targets[0].kind, "agent");
    assert_eq!(record.targets[0].id, "ann");
}

#[tokio::test]
async fn an_unreadable_request_is_recorded_with_unknown_targets() {
    let (sink, seen) = (Arc::new(Memory::default()), Seen::default());
    let mut svc = stack(sink.clone(), seen.clone(), || {
        Status::unimplemented("compressed requests are not accepted").into_http()
    });
    let mut compressed = merge("acme").to_vec();
    compressed[0] = 1;
    let admin = token("admin-1", "acme", &[Role::Admin]);
    let path = "/baton.v1.IdentityService/MergeProfiles";
    let (code, _) = call(&mut svc, request(path, &admin, compressed.into())).await;
    assert_eq!(code, Code::Unimplemented);
    let record = only(&sink);
    assert!(record.targets_unknown);
    assert!(record.targets.is_empty());
    assert_eq!(record.tenant_id, "acme");
    assert_eq!(seen.calls.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn a_call_dropped_before_its_answer_is_recorded_as_abandoned() {
    let (sink, seen) = (Arc::new(Memory::default()), Seen::default());
    let mut svc = stack(sink.clone(), seen, ok_answer);
    let admin = token("admin-1", "acme", &[Role::Admin]);
    let (_, response) = call(
        &mut svc,
        request(
            "/baton.v1.IdentityService/MergeProfiles",
            &admin,
            merge("acme"),
        ),
    )
    .await;
    drop(response);
    // The abandonment is written by a task of its own.
    for _ in 0..100 {
        if only(&sink).stage() != AuditStage::Attempted {
            break;
        }
        tokio::task::yield_now().await;
    }
    let record = only(&sink);
    assert_eq!(record.stage(), AuditStage::Abandoned);
    assert_eq!(record.code, Code::Cancelled as u32);
}
