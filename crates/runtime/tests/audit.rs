//! A server with an audit log records privileged calls, with their caller and answer, and the
//! ones it refuses; administrators read them back through `AuditService` on the same port.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use baton_auth::{
    AuditSink, AuthLayer, Authenticator, Limits, Role, Roles, Tenants,
    audit::{AuditCursor, AuditFuture, AuditPage, AuditQuery},
    jwt::{Claims, Signer, Verifier},
    reload::Watched,
};
use baton_proto::{
    service_names,
    v1::{
        self as pb, AuditRecord, AuditStage, ListAuditRecordsRequest, MergeProfilesRequest,
        audit_service_client::AuditServiceClient,
        identity_service_client::IdentityServiceClient,
        identity_service_server::{IdentityService, IdentityServiceServer},
    },
};
use baton_runtime::{
    server::{self, Security, ServerConfig, ServiceRoutes},
    shutdown::Shutdown,
};
use tonic::{Code, Request, Response, Status, transport::Channel};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

/// Records in memory, listed as the stores list them.
#[derive(Debug, Default)]
struct Memory(Mutex<Vec<AuditRecord>>);

impl AuditSink for Memory {
    fn put(&self, record: AuditRecord) -> AuditFuture<()> {
        let mut records = self.0.lock().expect("lock");
        records.retain(|r| r.record_id != record.record_id);
        records.push(record);
        Box::pin(async { Ok(()) })
    }

    fn list(&self, query: AuditQuery) -> AuditFuture<AuditPage> {
        let mut found: Vec<AuditRecord> = self
            .0
            .lock()
            .expect("lock")
            .iter()
            .filter(|r| r.tenant_id == query.tenant_id)
            .filter(|r| query.after.as_ref().is_none_or(|a| AuditCursor::of(r) > *a))
            .cloned()
            .collect();
        found.sort_by_key(AuditCursor::of);
        let next = (found.len() > query.limit).then(|| AuditCursor::of(&found[query.limit - 1]));
        found.truncate(query.limit);
        Box::pin(async move {
            Ok(AuditPage {
                records: found,
                next,
            })
        })
    }
}

/// Identity, merging anything it is asked to and nothing else.
struct Merger;

#[tonic::async_trait]
impl IdentityService for Merger {
    async fn resolve(
        &self,
        _: Request<pb::ResolveRequest>,
    ) -> Result<Response<pb::ResolveResponse>, Status> {
        Err(Status::unimplemented("resolve"))
    }
    async fn upsert_profile(
        &self,
        _: Request<pb::UpsertProfileRequest>,
    ) -> Result<Response<pb::UpsertProfileResponse>, Status> {
        Err(Status::unimplemented("upsert"))
    }
    async fn get_profile(
        &self,
        _: Request<pb::GetProfileRequest>,
    ) -> Result<Response<pb::GetProfileResponse>, Status> {
        Err(Status::unimplemented("get"))
    }
    async fn link_identifier(
        &self,
        _: Request<pb::LinkIdentifierRequest>,
    ) -> Result<Response<pb::LinkIdentifierResponse>, Status> {
        Err(Status::unimplemented("link"))
    }
    async fn merge_profiles(
        &self,
        request: Request<MergeProfilesRequest>,
    ) -> Result<Response<pb::MergeProfilesResponse>, Status> {
        baton_auth::caller(&request)?;
        Ok(Response::new(pb::MergeProfilesResponse {
            survivor: None,
            merge_id: "m-1".into(),
        }))
    }
    async fn unmerge_profile(
        &self,
        _: Request<pb::UnmergeProfileRequest>,
    ) -> Result<Response<pb::UnmergeProfileResponse>, Status> {
        Err(Status::unimplemented("unmerge"))
    }
    async fn forget_customer(
        &self,
        _: Request<pb::ForgetCustomerRequest>,
    ) -> Result<Response<pb::ForgetCustomerResponse>, Status> {
        Err(Status::unimplemented("forget"))
    }
    async fn import_profiles(
        &self,
        _: Request<tonic::Streaming<pb::ImportProfilesRequest>>,
    ) -> Result<Response<pb::ImportProfilesResponse>, Status> {
        Err(Status::unimplemented("import"))
    }
    async fn train_matcher(
        &self,
        _: Request<pb::TrainMatcherRequest>,
    ) -> Result<Response<pb::TrainMatcherResponse>, Status> {
        Err(Status::unimplemented("train"))
    }
    type RebuildIndexStream = std::pin::Pin<
        Box<dyn tokio_stream::Stream<Item = Result<pb::RebuildIndexProgress, Status>> + Send>,
    >;
    async fn rebuild_index(
        &self,
        _: Request<pb::RebuildIndexRequest>,
    ) -> Result<Response<Self::RebuildIndexStream>, Status> {
        Err(Status::unimplemented("rebuild"))
    }
}

fn token(subject: &str, roles: &[Role]) -> String {
    let claims = Claims::new(
        subject,
        &Tenants::one("acme"),
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

fn as_caller<T>(message: T, bearer: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {bearer}").parse().expect("header"),
    );
    request
}

async fn serve(sink: Arc<Memory>, shutdown: Shutdown) -> SocketAddr {
    let listener = server::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let authenticator = Authenticator::new().with_verifier(Watched::fixed(
        Verifier::from_secret("k", SECRET, "baton").expect("verifier"),
    ));
    let security = Security {
        auth: AuthLayer::new(authenticator, Limits::default()),
        tls: None,
        handshake_timeout: Duration::from_secs(5),
        probes: None,
        audit: Some(sink),
    };
    let routes = ServiceRoutes::new(service_names::IDENTITY, IdentityServiceServer::new(Merger));
    tokio::spawn(async move {
        server::serve(
            listener,
            routes,
            &ServerConfig::default(),
            &security,
            shutdown,
        )
        .await
    });
    addr
}

fn merge() -> MergeProfilesRequest {
    MergeProfilesRequest {
        tenant_id: "acme".into(),
        survivor_id: "c-1".into(),
        merged_id: "c-2".into(),
        reason: "Ann Example called twice".into(),
        actor_id: "admin-1".into(),
        idempotency_key: "k-1".into(),
    }
}

#[tokio::test]
async fn privileged_calls_and_refusals_are_recorded_and_read_back_by_an_admin() {
    let sink = Arc::new(Memory::default());
    let shutdown = Shutdown::new();
    let addr = serve(sink.clone(), shutdown.clone()).await;
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("url")
        .connect_lazy();
    let mut identity = IdentityServiceClient::new(channel.clone());
    let (admin, agent) = (
        token("admin-1", &[Role::Admin]),
        token("desk-ann", &[Role::Agent]),
    );

    identity
        .merge_profiles(as_caller(merge(), &admin))
        .await
        .expect("an admin merges");
    let refused = identity
        .merge_profiles(as_caller(merge(), &agent))
        .await
        .expect_err("an agent may not merge");
    assert_eq!(refused.code(), Code::PermissionDenied);

    // Both are on record by the time the caller has its answer.
    let mut audit = AuditServiceClient::new(channel);
    let page = audit
        .list_audit_records(as_caller(ListAuditRecordsRequest::default(), &admin))
        .await
        .expect("an admin reads the log")
        .into_inner();
    assert_eq!(page.records.len(), 2, "{:?}", page.records);
    assert_eq!(page.next_page_token, "");
    let (merged, denied) = (&page.records[0], &page.records[1]);

    assert_eq!(merged.rpc, "/baton.v1.IdentityService/MergeProfiles");
    assert_eq!(merged.tenant_id, "acme");
    assert_eq!(merged.stage(), AuditStage::Answered);
    assert_eq!(merged.code, Code::Ok as u32);
    let principal = merged.principal.as_ref().expect("principal");
    assert_eq!(principal.subject, "admin-1");
    assert_eq!(principal.roles, ["admin"]);
    assert_eq!(principal.auth_method, "jwt");
    let targets: Vec<_> = merged
        .targets
        .iter()
        .map(|t| (t.kind.as_str(), t.id.as_str()))
        .collect();
    assert_eq!(
        targets,
        [
            ("survivor_customer", "c-1"),
            ("merged_customer", "c-2"),
            ("actor", "admin-1")
        ]
    );
    assert!(!format!("{page:?}").contains("Ann Example"), "no free text");

    assert_eq!(denied.stage(), AuditStage::Refused);
    assert_eq!(denied.code, Code::PermissionDenied as u32);
    assert_eq!(
        denied.principal.as_ref().expect("principal").subject,
        "desk-ann"
    );

    // Pages of one walk the same records.
    let first = audit
        .list_audit_records(as_caller(
            ListAuditRecordsRequest {
                page_size: 1,
                ..ListAuditRecordsRequest::default()
            },
            &admin,
        ))
        .await
        .expect("page")
        .into_inner();
    assert_eq!(first.records, page.records[..1]);
    let second = audit
        .list_audit_records(as_caller(
            ListAuditRecordsRequest {
                page_size: 1,
                page_token: first.next_page_token,
                ..ListAuditRecordsRequest::default()
            },
            &admin,
        ))
        .await
        .expect("page")
        .into_inner();
    assert_eq!(second.records, page.records[1..]);

    // Only administrators read it, and only their own tenant's.
    let status = audit
        .list_audit_records(as_caller(ListAuditRecordsRequest::default(), &agent))
        .await
        .expect_err("agents do not read the log");
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(
        status.message().contains("audit.read"),
        "{}",
        status.message()
    );
    let status = audit
        .list_audit_records(as_caller(
            ListAuditRecordsRequest {
                tenant_id: "globex".into(),
                ..ListAuditRecordsRequest::default()
            },
            &admin,
        ))
        .await
        .expect_err("another tenant's log");
    assert_eq!(status.code(), Code::PermissionDenied);
    shutdown.trigger();
}
