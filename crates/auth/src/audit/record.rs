//! The auth layer's side of the audit log: read an audited call's request, write its record
//! before the service sees the call, and complete the record from the answer. See the
//! [module documentation](super) for the guarantee this keeps.

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, OnceLock},
    task::{Context, Poll, ready},
};

use baton_proto::v1::{AuditPrincipal, AuditRecord, AuditStage};
use bytes::Bytes;
use http::{Request, Response};
use http_body::Frame as BodyFrame;
use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};
use opentelemetry::{KeyValue, metrics::Counter};
use tonic::{Code, Status, body::Body};

use super::{
    Audit, AuditError, AuditSink, AuditTarget,
    frame::{self, Frame},
    new_record_id, now_micros, timestamp, valid_tenant,
};
use crate::principal::{Principal, Tenants};

/// Most bytes of an audited request the layer reads before the service: as much as the most
/// generous service decodes (recommendation's 16 MiB; identity's UpsertProfile at its bounds
/// is about 8.5 MiB), so the layer never refuses what a service would accept. Every audited
/// RPC is unary, so the whole request is one message the service would buffer anyway.
pub const MAX_AUDITED_REQUEST_BYTES: usize = 16 * 1024 * 1024;

/// The meter the audit log's instruments belong to.
const METER: &str = "baton-auth";

/// Records that could not be written, by stage.
fn write_failures() -> &'static Counter<u64> {
    static COUNTER: OnceLock<Counter<u64>> = OnceLock::new();
    COUNTER.get_or_init(|| {
        opentelemetry::global::meter(METER)
            .u64_counter("baton.audit.write_failures")
            .with_description(
                "Audit records the audit log did not acknowledge, by stage (an attempted call \
                 is then refused with UNAVAILABLE)",
            )
            .with_unit("{record}")
            .build()
    })
}

/// Reads a unary request's body, at most [`MAX_AUDITED_REQUEST_BYTES`] of message.
async fn read_body(body: Body) -> Result<Bytes, Status> {
    match Limited::new(body, MAX_AUDITED_REQUEST_BYTES + frame::HEADER_LEN)
        .collect()
        .await
    {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(Status::resource_exhausted(format!(
                "request is larger than the {MAX_AUDITED_REQUEST_BYTES} bytes an audited call may send"
            )))
        }
        Err(_) => Err(Status::cancelled(
            "the request ended before its message did",
        )),
    }
}

/// What `body` names, when it is one uncompressed message `audit` can read.
fn target_of(audit: &Audit, body: &[u8]) -> Option<AuditTarget> {
    match frame::parse(body) {
        Frame::Message(message) => (audit.target)(message),
        Frame::Compressed | Frame::Malformed => None,
    }
}

/// The principal's only tenant, if it has exactly one.
fn only_tenant(principal: &Principal) -> Option<String> {
    match &principal.tenants {
        Tenants::Only(set) if set.len() == 1 => set.iter().next().cloned(),
        _ => None,
    }
}

/// The tenant a refused call is filed under: the one it asked for, else its caller's only
/// one. `None` when neither is a tenant id.
fn refused_tenant(principal: &Principal, requested: &str) -> Option<String> {
    if requested.is_empty() {
        only_tenant(principal)
    } else {
        valid_tenant(requested).then(|| requested.to_owned())
    }
}

/// A new record of `principal` calling `rpc` for `tenant` on `target` (`None`: unreadable).
fn new_record(
    rpc: &str,
    principal: &Principal,
    tenant: String,
    target: Option<AuditTarget>,
    stage: AuditStage,
) -> AuditRecord {
    let (targets, unknown, truncated) = match target {
        Some(t) => (t.ids, false, t.truncated),
        None => (Vec::new(), true, false),
    };
    AuditRecord {
        record_id: new_record_id(),
        tenant_id: tenant,
        time: Some(timestamp(now_micros())),
        rpc: rpc.to_owned(),
        principal: Some(AuditPrincipal {
            subject: principal.subject.clone(),
            roles: principal
                .roles
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
            auth_method: principal.method.as_str().to_owned(),
            agent_id: principal.agent_id.clone().unwrap_or_default(),
        }),
        targets,
        targets_unknown: unknown,
        targets_truncated: truncated,
        stage: stage as i32,
        code: 0,
        answered_at: None,
    }
}

/// Writes `record`; a failure is logged and counted, and returned.
async fn write(sink: &dyn AuditSink, record: AuditRecord) -> Result<(), AuditError> {
    let stage = record.stage().as_str_name();
    let (rpc, tenant, id) = (
        record.rpc.clone(),
        record.tenant_id.clone(),
        record.record_id.clone(),
    );
    let result = sink.put(record).await;
    if let Err(error) = &result {
        tracing::error!(rpc, tenant, record = id, stage, %error, "audit record not written");
        write_failures().add(1, &[KeyValue::new("stage", stage)]);
    }
    result
}

/// Records that the layer refused `principal`'s call of `rpc` with `status`: reads the
/// request for its tenant and ids. A record it cannot file under a tenant is not written.
pub(crate) async fn refused(
    sink: &dyn AuditSink,
    rpc: &str,
    audit: &Audit,
    principal: &Principal,
    body: Body,
    status: &Status,
) {
    let target = read_body(body)
        .await
        .ok()
        .and_then(|bytes| target_of(audit, &bytes));
    let requested = target.as_ref().map_or("", |t| t.tenant_id.as_str());
    let Some(tenant) = refused_tenant(principal, requested) else {
        tracing::debug!(rpc, "refused call names no tenant to record it under");
        return;
    };
    let mut record = new_record(rpc, principal, tenant, target, AuditStage::Refused);
    record.code = status.code() as u32;
    // Logged and counted inside; the refusal stands either way.
    let _ = write(sink, record).await;
}

/// Starts an audited call: reads its request, settles its tenant as the handler would (the
/// principal's own, refusing any other, and recording that refusal), and writes the
/// `ATTEMPTED` record. Returns the request to hand on (the same bytes) and the record to
/// complete, or the answer to give instead: nothing reaches the service unrecorded.
pub(crate) async fn begin(
    sink: Arc<dyn AuditSink>,
    rpc: &str,
    audit: &Audit,
    principal: &Principal,
    request: Request<Body>,
) -> Result<(Request<Body>, Pending), Status> {
    let (parts, body) = request.into_parts();
    let bytes = read_body(body).await?;
    let target = target_of(audit, &bytes);
    let tenant = match &target {
        Some(t) => match principal.tenant(&t.tenant_id) {
            Ok(tenant) => tenant,
            Err(status) => {
                if status.code() == Code::PermissionDenied && valid_tenant(&t.tenant_id) {
                    let mut record = new_record(
                        rpc,
                        principal,
                        t.tenant_id.clone(),
                        target.clone(),
                        AuditStage::Refused,
                    );
                    record.code = status.code() as u32;
                    let _ = write(&*sink, record).await;
                }
                return Err(status);
            }
        },
        None => only_tenant(principal).ok_or_else(|| {
            Status::invalid_argument(
                "request is not one uncompressed message of its type, so the server cannot \
                 tell which tenant it is for",
            )
        })?,
    };
    if !valid_tenant(&tenant) {
        return Err(Status::invalid_argument(
            "tenant_id must be 1 to 64 letters, digits, '.', '_' or '-'",
        ));
    }
    let record = new_record(rpc, principal, tenant, target, AuditStage::Attempted);
    if write(&*sink, record.clone()).await.is_err() {
        return Err(Status::unavailable(
            "the audit log is unavailable, so this privileged call was not made: try again",
        ));
    }
    let request = Request::from_parts(parts, Body::new(Full::new(bytes)));
    Ok((
        request,
        Pending {
            open: Some((sink, record)),
        },
    ))
}

/// The record of a call the service is handling, to complete once its answer is known.
/// Dropped before that, it records the call as abandoned.
pub(crate) struct Pending {
    open: Option<(Arc<dyn AuditSink>, AuditRecord)>,
}

impl Pending {
    /// Completes the record from `response`: at once for an answer that is only headers (an
    /// error), else when the body's trailers pass, before they reach the caller.
    pub(crate) async fn finish(self, response: Response<Body>) -> Response<Body> {
        if let Some(status) = Status::from_header_map(response.headers()) {
            self.answered(status.code()).await;
            return response;
        }
        response.map(|inner| {
            Body::new(Answering {
                inner,
                pending: Some(self),
                writing: None,
            })
        })
    }

    /// Writes the record as answered with `code`.
    fn answered(mut self, code: Code) -> impl Future<Output = ()> + Send + 'static {
        let open = self.open.take();
        async move {
            if let Some((sink, mut record)) = open {
                record.set_stage(AuditStage::Answered);
                record.code = code as u32;
                record.answered_at = Some(timestamp(now_micros()));
                // Logged and counted inside: the answer goes out, since the action happened
                // and the attempted record names it.
                let _ = write(&*sink, record).await;
            }
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let Some((sink, mut record)) = self.open.take() else {
            return;
        };
        record.set_stage(AuditStage::Abandoned);
        record.code = Code::Cancelled as u32;
        record.answered_at = Some(timestamp(now_micros()));
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    let _ = write(&*sink, record).await;
                });
            }
            Err(_) => tracing::error!(
                rpc = record.rpc,
                tenant = record.tenant_id,
                record = record.record_id,
                "abandoned call not recorded: no runtime to write on"
            ),
        }
    }
}

/// A response body that writes its call's record when the trailers (or the end, or an error)
/// arrive, and passes them on only once the write is done.
struct Answering {
    inner: Body,
    /// The record, until the answer is known.
    pending: Option<Pending>,
    /// The record's write in progress, and what to pass on when it is done.
    writing: Option<(Write, Polled)>,
}

/// A record being written.
type Write = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What the inner body gave: a frame, an error, or the end.
type Polled = Option<Result<BodyFrame<Bytes>, Status>>;

impl http_body::Body for Answering {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<BodyFrame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        loop {
            if let Some((write, _)) = &mut this.writing {
                ready!(write.as_mut().poll(cx));
                return Poll::Ready(this.writing.take().and_then(|(_, held)| held));
            }
            let polled = ready!(Pin::new(&mut this.inner).poll_frame(cx));
            let Some(pending) = this.pending.take() else {
                return Poll::Ready(polled);
            };
            let code = match &polled {
                Some(Ok(frame)) => match frame.trailers_ref() {
                    Some(trailers) => {
                        Status::from_header_map(trailers).map_or(Code::Unknown, |s| s.code())
                    }
                    None => {
                        // A message, not the answer's status yet.
                        this.pending = Some(pending);
                        return Poll::Ready(polled);
                    }
                },
                Some(Err(status)) => status.code(),
                // Ended without a status: what a client sees as UNKNOWN.
                None => Code::Unknown,
            };
            this.writing = Some((Box::pin(pending.answered(code)), polled));
        }
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_none() && self.writing.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests;
