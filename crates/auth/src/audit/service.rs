//! `AuditService`: a tenant's administrators page through its audit records. The
//! authorization table admits administrators only; the tenant comes from the principal.

use std::sync::Arc;

use baton_proto::v1::{
    ListAuditRecordsRequest, ListAuditRecordsResponse,
    audit_service_server::{AuditService, AuditServiceServer},
};
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

use super::{AuditCursor, AuditQuery, AuditSink, micros, valid_tenant};
use crate::caller;

/// Records on a page when the request asks for none.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Most records on a page; a larger request reads as this.
pub const MAX_PAGE_SIZE: usize = 1000;

/// The `AuditService` handler over an audit log.
#[derive(Clone, Debug)]
pub struct AuditLogService {
    sink: Arc<dyn AuditSink>,
}

impl AuditLogService {
    /// Serves the records of `sink`.
    pub fn new(sink: Arc<dyn AuditSink>) -> Self {
        Self { sink }
    }

    /// As a generated server, ready to add to a router.
    pub fn into_server(self) -> AuditServiceServer<Self> {
        AuditServiceServer::new(self)
    }
}

/// `INVALID_ARGUMENT` naming `field`, with a `google.rpc.BadRequest` detail.
fn invalid(field: &str, description: &str) -> Status {
    Status::with_error_details(
        Code::InvalidArgument,
        format!("invalid request: {field} {description}"),
        ErrorDetails::with_bad_request_violation(field, description),
    )
}

/// The query `request` asks for in `tenant`.
fn query(tenant: String, request: &ListAuditRecordsRequest) -> Result<AuditQuery, Status> {
    let start = match &request.start_time {
        Some(ts) if !(0..1_000_000_000).contains(&ts.nanos) => {
            return Err(invalid("start_time", "has nanos outside 0 to 999999999"));
        }
        Some(ts) => micros(ts),
        None => 0,
    };
    let end = match &request.end_time {
        Some(ts) if !(0..1_000_000_000).contains(&ts.nanos) => {
            return Err(invalid("end_time", "has nanos outside 0 to 999999999"));
        }
        Some(ts) => micros(ts),
        None => u64::MAX,
    };
    if end <= start {
        return Err(invalid("end_time", "must be after start_time"));
    }
    let after = if request.page_token.is_empty() {
        None
    } else {
        Some(
            AuditCursor::from_page_token(&request.page_token).ok_or_else(|| {
                invalid(
                    "page_token",
                    "is malformed: pass the next_page_token of a previous response",
                )
            })?,
        )
    };
    let limit = match request.page_size as usize {
        0 => DEFAULT_PAGE_SIZE,
        n => n.min(MAX_PAGE_SIZE),
    };
    Ok(AuditQuery {
        tenant_id: tenant,
        start_micros: start,
        end_micros: end,
        after,
        limit,
    })
}

#[tonic::async_trait]
impl AuditService for AuditLogService {
    async fn list_audit_records(
        &self,
        request: Request<ListAuditRecordsRequest>,
    ) -> Result<Response<ListAuditRecordsResponse>, Status> {
        let principal = caller(&request)?;
        let request = request.into_inner();
        let tenant = principal.tenant(&request.tenant_id)?;
        if !valid_tenant(&tenant) {
            return Err(invalid(
                "tenant_id",
                "must be 1 to 64 letters, digits, '.', '_' or '-'",
            ));
        }
        let query = query(tenant, &request)?;
        let page = self.sink.list(query).await.map_err(|error| {
            tracing::error!(%error, "audit log not read");
            Status::unavailable("the audit log is unavailable: try again")
        })?;
        Ok(Response::new(ListAuditRecordsResponse {
            records: page.records,
            next_page_token: page.next.map(|c| c.to_page_token()).unwrap_or_default(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::timestamp;

    fn request() -> ListAuditRecordsRequest {
        ListAuditRecordsRequest::default()
    }

    #[test]
    fn an_empty_request_lists_everything_a_hundred_at_a_time() {
        let q = query("acme".into(), &request()).expect("valid");
        assert_eq!(
            q,
            AuditQuery {
                tenant_id: "acme".into(),
                start_micros: 0,
                end_micros: u64::MAX,
                after: None,
                limit: DEFAULT_PAGE_SIZE,
            }
        );
        let big = ListAuditRecordsRequest {
            page_size: 50_000,
            ..request()
        };
        assert_eq!(
            query("acme".into(), &big).expect("valid").limit,
            MAX_PAGE_SIZE
        );
    }

    #[test]
    fn bad_ranges_and_tokens_name_their_field() {
        let backwards = ListAuditRecordsRequest {
            start_time: Some(timestamp(2_000_000)),
            end_time: Some(timestamp(1_000_000)),
            ..request()
        };
        let err = query("acme".into(), &backwards).expect_err("backwards");
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().contains("end_time"), "{}", err.message());
        let token = ListAuditRecordsRequest {
            page_token: "not a token".into(),
            ..request()
        };
        let err = query("acme".into(), &token).expect_err("bad token");
        assert!(err.message().contains("page_token"), "{}", err.message());
    }
}
