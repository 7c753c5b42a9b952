//! A circuit breaker on every channel to another service.
//!
//! A dependency that stops answering (its port refuses connections, its calls time out, it
//! sheds load with UNAVAILABLE) would otherwise cost each call its whole timeout, and a caller
//! that degrades on the failure (routing without identity or context) would still wait for it
//! on every contact. After [`THRESHOLD`] failures in a row the breaker opens: calls fail at
//! once with UNAVAILABLE saying so, for a cool-off that starts at [`FIRST_COOL_OFF`] and
//! doubles, up to [`LONGEST_COOL_OFF`], each time the one call let through after it (the
//! probe) fails too. The first call that succeeds closes it again. So a dependency that comes
//! back is used again within [`LONGEST_COOL_OFF`], and one that stays down costs a caller
//! nothing.
//!
//! Only the channel's own failures count: no connection, a timeout, or UNAVAILABLE answered
//! by the server. A call the dependency answered with any other status is an answer.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;
use tonic::body::Body;
use tower::Service;

/// Failures in a row that open the breaker.
pub const THRESHOLD: u32 = 5;
/// How long the breaker first stays open.
pub const FIRST_COOL_OFF: Duration = Duration::from_millis(250);
/// The longest it stays open between probes.
pub const LONGEST_COOL_OFF: Duration = Duration::from_secs(5);

/// The header an open breaker's answer carries, so that nothing retries it: the breaker
/// already knows the dependency is failing.
pub(crate) const OPEN: &str = "baton-circuit-open";

/// Whether `status` is an open breaker's answer rather than the dependency's.
pub fn refused_by_open_circuit(status: &tonic::Status) -> bool {
    status.metadata().contains_key(OPEN)
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Wraps a channel with a circuit breaker shared by all its clones (see the module docs).
#[derive(Debug, Clone)]
pub struct Breaker<S> {
    inner: S,
    state: Arc<Mutex<State>>,
    /// The dependency, for logs.
    name: Arc<str>,
}

impl<S> Breaker<S> {
    /// `inner` behind a closed breaker; `name` says which dependency it reaches.
    pub fn new(inner: S, name: &str) -> Self {
        Self {
            inner,
            state: Arc::new(Mutex::new(State::default())),
            name: name.into(),
        }
    }
}

/// Whether a call may go ahead.
#[derive(Debug, PartialEq, Eq)]
enum Admit {
    /// Yes (as the probe, when the breaker is half open).
    Go,
    /// No: open for this much longer.
    Refuse(Duration),
}

#[derive(Debug)]
struct State {
    failures: u32,
    open_until: Option<Instant>,
    cool_off: Duration,
    /// A probe is out: the others wait for its outcome.
    probing: bool,
}

impl Default for State {
    fn default() -> Self {
        Self {
            failures: 0,
            open_until: None,
            cool_off: FIRST_COOL_OFF,
            probing: false,
        }
    }
}

impl State {
    fn admit(&mut self, now: Instant) -> Admit {
        match self.open_until {
            None => Admit::Go,
            Some(until) if now < until => Admit::Refuse(until - now),
            Some(_) if self.probing => Admit::Refuse(Duration::ZERO),
            Some(_) => {
                self.probing = true;
                Admit::Go
            }
        }
    }

    /// Records a call's outcome; answers what changed, for the log.
    fn record(&mut self, ok: bool, now: Instant) -> Option<Change> {
        if ok {
            let was_open = self.open_until.is_some();
            *self = Self::default();
            return was_open.then_some(Change::Closed);
        }
        self.failures = self.failures.saturating_add(1);
        if self.probing {
            self.probing = false;
            self.cool_off = (self.cool_off * 2).min(LONGEST_COOL_OFF);
            self.open_until = Some(now + self.cool_off);
            return None;
        }
        if self.open_until.is_none() && self.failures >= THRESHOLD {
            self.open_until = Some(now + self.cool_off);
            return Some(Change::Opened);
        }
        None
    }
}

enum Change {
    Opened,
    Closed,
}

/// The answer of an open breaker: a trailers-only gRPC response with UNAVAILABLE, which every
/// client decodes as that status.
fn refused(name: &str, left: Duration) -> http::Response<Body> {
    let message = format!(
        "{name} is failing: calls to it are paused for {} ms (circuit open)",
        left.as_millis()
    );
    let mut response = http::Response::new(Body::empty());
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    headers.insert("grpc-status", http::HeaderValue::from_static("14"));
    headers.insert(OPEN, http::HeaderValue::from_static("1"));
    if let Ok(value) = http::HeaderValue::try_from(message) {
        headers.insert("grpc-message", value);
    }
    response
}

/// Whether a response is the server saying it cannot serve now.
fn unavailable<B>(response: &http::Response<B>) -> bool {
    response
        .headers()
        .get("grpc-status")
        .is_some_and(|status| status == "14")
}

impl<S> Service<http::Request<Body>> for Breaker<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let admitted = lock(&self.state).admit(Instant::now());
        if let Admit::Refuse(left) = admitted {
            let response = refused(&self.name, left);
            return Box::pin(async move { Ok(response) });
        }
        let call = self.inner.call(request);
        let state = Arc::clone(&self.state);
        let name = Arc::clone(&self.name);
        Box::pin(async move {
            let result = call.await.map_err(Into::into);
            let ok = result.as_ref().is_ok_and(|r| !unavailable(r));
            let change = lock(&state).record(ok, Instant::now());
            match change {
                Some(Change::Opened) => tracing::warn!(
                    dependency = %name,
                    "dependency failing: circuit open, calls to it fail at once for a while"
                ),
                Some(Change::Closed) => {
                    tracing::info!(dependency = %name, "dependency answering again: circuit closed")
                }
                None => {}
            }
            result
        })
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_failures_in_a_row_and_probes_with_one_call_at_a_time() {
        let t0 = Instant::now();
        let mut state = State::default();
        for _ in 1..THRESHOLD {
            assert_eq!(state.admit(t0), Admit::Go);
            assert!(state.record(false, t0).is_none());
        }
        // A success in between starts the count again.
        assert!(state.record(true, t0).is_none());
        for _ in 0..THRESHOLD {
            assert_eq!(state.admit(t0), Admit::Go);
            state.record(false, t0);
        }
        assert_eq!(state.admit(t0), Admit::Refuse(FIRST_COOL_OFF));

        // After the cool-off one probe goes; the others wait for it.
        let later = t0 + FIRST_COOL_OFF;
        assert_eq!(state.admit(later), Admit::Go);
        assert_eq!(state.admit(later), Admit::Refuse(Duration::ZERO));
        // The probe fails: open twice as long.
        state.record(false, later);
        assert_eq!(state.admit(later), Admit::Refuse(FIRST_COOL_OFF * 2));

        // Never longer than the longest cool-off.
        let mut now = later;
        for _ in 0..20 {
            now += LONGEST_COOL_OFF;
            assert_eq!(state.admit(now), Admit::Go);
            state.record(false, now);
        }
        assert_eq!(state.admit(now), Admit::Refuse(LONGEST_COOL_OFF));

        // A probe that succeeds closes it.
        now += LONGEST_COOL_OFF;
        assert_eq!(state.admit(now), Admit::Go);
        assert!(matches!(state.record(true, now), Some(Change::Closed)));
        assert_eq!(state.admit(now), Admit::Go);
    }

    #[tokio::test]
    async fn an_open_breaker_answers_unavailable_without_calling() {
        let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counted = Arc::clone(&calls);
        let failing = tower::service_fn(move |_: http::Request<Body>| {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { Err::<http::Response<Body>, BoxError>("connection refused".into()) }
        });
        let mut breaker = Breaker::new(failing, "identity");
        for _ in 0..THRESHOLD {
            assert!(
                breaker
                    .call(http::Request::new(Body::empty()))
                    .await
                    .is_err()
            );
        }
        let answer = breaker
            .call(http::Request::new(Body::empty()))
            .await
            .expect("an answer, not an error");
        assert_eq!(
            answer.headers().get("grpc-status").map(|v| v.as_bytes()),
            Some(&b"14"[..])
        );
        let status = tonic::Status::from_header_map(answer.headers()).expect("a status");
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert!(
            status.message().contains("identity"),
            "{}",
            status.message()
        );
        assert!(refused_by_open_circuit(&status), "{status:?}");
        assert!(!refused_by_open_circuit(&tonic::Status::unavailable(
            "down"
        )));
        assert_eq!(
            calls.load(std::sync::atomic::Ordering::SeqCst),
            THRESHOLD,
            "the refused call never reached the channel"
        );
    }
}
