//! The layer in every server's stack that turns credentials into a principal, enforces the
//! authorization table, and bounds what one principal may ask for.
//!
//! In order, for every call: look the path up in [`policy`](crate::policy::TABLE) (health passes
//! untouched); authenticate (a bearer JWT, else the client certificate the TLS handshake
//! verified, else the development switch, else `UNAUTHENTICATED`); check the caller holds a
//! role the rule admits (`PERMISSION_DENIED` naming the permission); charge the caller's rate
//! limit and, for long streams, its open-stream cap (`RESOURCE_EXHAUSTED`); then hand the
//! request on with the principal in its extensions, where [`caller`](crate::caller) finds it.
//!
//! With an audit log ([`AuthLayer::with_audit`]), a privileged call (a rule with an
//! [`Audit`](crate::audit::Audit)) is recorded before it is handed on and completed with its
//! answer, and a refusal for lack of permission is recorded too; see [`audit`](crate::audit).

use std::{
    collections::HashMap,
    num::NonZeroU32,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use futures::future::BoxFuture;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http::{HeaderMap, Request, Response};
use tonic::{Status, body::Body};

use crate::{
    audit::{AuditSink, record},
    jwt::Verifier,
    policy::{self, Decision, Rule},
    principal::{AuthMethod, Principal, Role, Roles, Tenants},
    reload::Watched,
};

/// What a TLS connection proved about its peer, put in each request's extensions by the
/// server's incoming stream.
#[derive(Clone, Debug, Default)]
pub struct PeerIdentity {
    /// The remote address.
    pub remote_addr: Option<std::net::SocketAddr>,
    /// The principal of the client certificate, when one was presented and verified.
    pub principal: Option<Arc<Principal>>,
}

/// Limits per principal.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Calls per second a principal may make on one server (services are not limited: they
    /// carry every gateway's traffic); 0 turns the limit off.
    pub calls_per_sec: u32,
    /// Calls a principal may make in a burst above its rate.
    pub burst: u32,
    /// Long streams (agent sessions, context watches) a principal may hold open on one server.
    pub streams: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            calls_per_sec: 1000,
            burst: 2000,
            streams: 16,
        }
    }
}

/// How callers are authenticated: JWT verifiers (configured keys, development credentials)
/// and, only on loopback in development, anonymous callers.
#[derive(Clone, Debug, Default)]
pub struct Authenticator {
    /// Bearer tokens verify against any of these.
    verifiers: Vec<Watched<Verifier>>,
    /// The principal anonymous callers get, when the development switch is on.
    anonymous: Option<Arc<Principal>>,
}

impl Authenticator {
    /// Nobody is admitted (yet): add verifiers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Admits bearer tokens `verifier` accepts.
    pub fn with_verifier(mut self, verifier: Watched<Verifier>) -> Self {
        self.verifiers.push(verifier);
        self
    }

    /// Admits anonymous callers as a development principal holding every role for every
    /// tenant. Only for a server bound to loopback; the caller checks that.
    pub fn with_anonymous_development(mut self) -> Self {
        self.anonymous = Some(Arc::new(Principal {
            subject: "anonymous-development".to_owned(),
            tenants: Tenants::Any,
            roles: Roles::of(&Role::ALL),
            agent_id: None,
            method: AuthMethod::AnonymousDevelopment,
        }));
        self
    }

    /// The principal a call's headers and connection prove.
    pub fn authenticate(
        &self,
        headers: &HeaderMap,
        peer: Option<&PeerIdentity>,
    ) -> Result<Arc<Principal>, Status> {
        if let Some(value) = headers.get(http::header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
                .ok_or_else(|| {
                    Status::unauthenticated("authorization header is not 'Bearer <jwt>'")
                })?;
            let mut last = None;
            for verifier in &self.verifiers {
                match verifier.get().verify(token.trim()) {
                    Ok(principal) => return Ok(Arc::new(principal)),
                    Err(e) => last = Some(e.to_string()),
                }
            }
            return Err(Status::unauthenticated(last.unwrap_or_else(|| {
                "bearer token refused: this server accepts no bearer tokens".to_owned()
            })));
        }
        if let Some(principal) = peer.and_then(|p| p.principal.clone()) {
            return Ok(principal);
        }
        if let Some(anonymous) = &self.anonymous {
            return Ok(anonymous.clone());
        }
        Err(Status::unauthenticated(
            "no credentials: send 'authorization: Bearer <jwt>' or connect with a client certificate",
        ))
    }
}

/// State shared by every connection of one server.
struct Shared {
    authenticator: Authenticator,
    limits: Limits,
    rate: Option<DefaultKeyedRateLimiter<String>>,
    streams: Mutex<HashMap<String, usize>>,
}

/// The auth layer; see the module documentation.
#[derive(Clone)]
pub struct AuthLayer {
    shared: Arc<Shared>,
    /// Where privileged calls are recorded; without one, nothing is.
    audit: Option<Arc<dyn AuditSink>>,
}

impl std::fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthLayer")
            .field("authenticator", &self.shared.authenticator)
            .field("limits", &self.shared.limits)
            .field("audit", &self.audit)
            .finish()
    }
}

impl AuthLayer {
    /// A layer authenticating with `authenticator` under `limits`.
    pub fn new(authenticator: Authenticator, limits: Limits) -> Self {
        let rate = NonZeroU32::new(limits.calls_per_sec).map(|per_sec| {
            let burst = NonZeroU32::new(limits.burst.max(limits.calls_per_sec)).unwrap_or(per_sec);
            RateLimiter::keyed(Quota::per_second(per_sec).allow_burst(burst))
        });
        Self {
            shared: Arc::new(Shared {
                authenticator,
                limits,
                rate,
                streams: Mutex::new(HashMap::new()),
            }),
            audit: None,
        }
    }

    /// The same layer (sharing its limits), recording privileged calls in `sink`.
    pub fn with_audit(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.audit = Some(sink);
        self
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Auth {
            inner,
            shared: self.shared.clone(),
            audit: self.audit.clone(),
        }
    }
}

/// The service [`AuthLayer`] wraps around a server.
#[derive(Clone)]
pub struct Auth<S> {
    inner: S,
    shared: Arc<Shared>,
    audit: Option<Arc<dyn AuditSink>>,
}

impl<S> std::fmt::Debug for Auth<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").finish_non_exhaustive()
    }
}

/// A call the layer lets through: its principal and rule, when it has them.
struct Admitted {
    principal: Option<Arc<Principal>>,
    rule: Option<&'static Rule>,
    stream: Option<StreamSlot>,
}

/// A call the layer refuses.
struct Refused {
    status: Status,
    /// For a privileged RPC refused to an authenticated caller for lack of a role (within its
    /// rate limit): the rule and the caller, for the audit record.
    audit: Option<(&'static Rule, Arc<Principal>)>,
}

impl From<Status> for Refused {
    fn from(status: Status) -> Self {
        Refused {
            status,
            audit: None,
        }
    }
}

impl Shared {
    fn admit(&self, req: &Request<Body>) -> Result<Admitted, Refused> {
        let path = req.uri().path();
        let rule = match policy::decide(path) {
            Decision::Anonymous => {
                return Ok(Admitted {
                    principal: None,
                    rule: None,
                    stream: None,
                });
            }
            Decision::AnyCaller => None,
            Decision::Rule(rule) => Some(rule),
            Decision::Unknown => {
                // Authenticate first, so an anonymous prober learns nothing about paths.
                self.authenticator
                    .authenticate(req.headers(), req.extensions().get::<PeerIdentity>())?;
                return Err(Status::permission_denied(format!(
                    "{path} is not in the authorization table"
                ))
                .into());
            }
        };
        let principal = self
            .authenticator
            .authenticate(req.headers(), req.extensions().get::<PeerIdentity>())?;
        let Some(rule) = rule else {
            return Ok(Admitted {
                principal: Some(principal),
                rule: None,
                stream: None,
            });
        };
        if !principal.roles.intersects(rule.roles()) {
            let status = Status::permission_denied(format!(
                "caller {} lacks permission {} (held by: {}; the caller has: {})",
                principal.subject,
                rule.permission,
                rule.roles().names(),
                principal.roles.names(),
            ));
            // Denials cost the caller's rate too, so that one cannot fill the audit log.
            let audit =
                (rule.audit.is_some() && self.within_rate(&principal)).then_some((rule, principal));
            return Err(Refused { status, audit });
        }
        if !self.within_rate(&principal) {
            return Err(Status::resource_exhausted(format!(
                "caller {} is over its rate limit of {} calls per second",
                principal.subject, self.limits.calls_per_sec
            ))
            .into());
        }
        let stream = if rule.stream {
            Some(self.open_stream(&principal.subject)?)
        } else {
            None
        };
        Ok(Admitted {
            principal: Some(principal),
            rule: Some(rule),
            stream,
        })
    }

    /// Charges one call to the principal's rate limit; false when it is over it.
    fn within_rate(&self, principal: &Principal) -> bool {
        let Some(rate) = &self.rate else {
            return true;
        };
        if principal.has(Role::Service) || rate.check_key(&principal.subject).is_ok() {
            return true;
        }
        if rate.len() > 100_000 {
            rate.retain_recent();
        }
        false
    }

    fn open_stream(self: &Shared, subject: &str) -> Result<StreamSlot, Status> {
        let mut open = self
            .streams
            .lock()
            .map_err(|_| Status::internal("stream accounting failed"))?;
        let count = open.entry(subject.to_owned()).or_insert(0);
        if *count >= self.limits.streams {
            return Err(Status::resource_exhausted(format!(
                "caller {subject} already holds {} open streams, the most one caller may hold",
                self.limits.streams
            )));
        }
        *count += 1;
        Ok(StreamSlot {
            subject: subject.to_owned(),
        })
    }
}

/// One open stream of a principal, given back when the response body is dropped.
struct StreamSlot {
    subject: String,
}

/// Gives a [`StreamSlot`] back to the shared count when dropped.
struct SlotGuard {
    slot: StreamSlot,
    shared: Arc<Shared>,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        if let Ok(mut open) = self.shared.streams.lock()
            && let Some(count) = open.get_mut(&self.slot.subject)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.slot.subject);
            }
        }
    }
}

/// A response body that holds its stream's slot until it ends or is dropped.
struct Guarded {
    inner: Body,
    _guard: SlotGuard,
}

impl http_body::Body for Guarded {
    type Data = bytes::Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl<S> tower::Service<Request<Body>> for Auth<S>
where
    S: tower::Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        // The clone that was driven to readiness handles this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let admitted = self.shared.admit(&req);
        let shared = self.shared.clone();
        let sink = self.audit.clone();
        Box::pin(async move {
            let admitted = match admitted {
                Ok(a) => a,
                Err(refused) => {
                    if let (Some(sink), Some((rule, principal))) = (&sink, &refused.audit)
                        && let Some(audit) = &rule.audit
                    {
                        let (parts, body) = req.into_parts();
                        let rpc = parts.uri.path();
                        record::refused(&**sink, rpc, audit, principal, body, &refused.status)
                            .await;
                    }
                    return Ok(refused.status.into_http());
                }
            };
            // A privileged call: recorded before it reaches the service, or refused.
            let mut pending = None;
            if let (Some(sink), Some(rule), Some(principal)) =
                (sink, admitted.rule, &admitted.principal)
                && let Some(audit) = rule.audit.filter(|a| a.records(principal))
            {
                match record::begin(sink, rule.path, &audit, principal, req).await {
                    Ok((request, started)) => {
                        req = request;
                        pending = Some(started);
                    }
                    Err(status) => return Ok(status.into_http()),
                }
            }
            if let Some(principal) = admitted.principal {
                req.extensions_mut().insert(principal);
            }
            let mut response = inner.call(req).await?;
            if let Some(pending) = pending {
                response = pending.finish(response).await;
            }
            Ok(match admitted.stream {
                None => response,
                Some(slot) => response.map(|inner| {
                    Body::new(Guarded {
                        inner,
                        _guard: SlotGuard { slot, shared },
                    })
                }),
            })
        })
    }
}

/// A layer for test servers that installs `principal` on every call without checking
/// anything: it lets a service's own tests call its handlers directly. Never part of the
/// server stack.
#[derive(Clone, Debug)]
pub struct AssumeLayer(pub Arc<Principal>);

impl<S> tower::Layer<S> for AssumeLayer {
    type Service = Assume<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Assume {
            inner,
            principal: self.0.clone(),
        }
    }
}

/// The service [`AssumeLayer`] wraps.
#[derive(Clone, Debug)]
pub struct Assume<S> {
    inner: S,
    principal: Arc<Principal>,
}

impl<S, B> tower::Service<Request<B>> for Assume<S>
where
    S: tower::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        req.extensions_mut().insert(self.principal.clone());
        self.inner.call(req)
    }
}
