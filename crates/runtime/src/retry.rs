//! Retrying idempotent calls to another service: a few attempts with jittered exponential
//! back-off, within a budget shared by every call to that service.
//!
//! Only UNAVAILABLE is retried: the callee did not serve the call (it was starting, stopping,
//! overloaded, or its connection broke), and the calls retried here are reads or writes that
//! carry an idempotency key, so a second attempt of one that did land changes nothing. An
//! open circuit breaker's UNAVAILABLE is not retried: the breaker knows already that the
//! callee is failing and lets a probe through when it is time. A deadline that would pass
//! during the back-off ends the retries instead.
//!
//! The budget ([`tower`]'s `TpsBudget`) lets retries add a fifth to the calls of the last ten
//! seconds, plus a reserve of ten a second for quiet periods. A dependency that is down for a
//! while therefore sees at most 1.2 times its usual traffic from this process, never three
//! times; the circuit breaker under the channel ([`crate::breaker`]) then answers at once.
//!
//! Retries are counted in `baton.rpc.client.retries` (`rpc.service`, and `outcome`: `retried`,
//! or `refused` when the budget had nothing left).

use std::{
    future::Future,
    hash::{BuildHasher, RandomState},
    time::Duration,
};

use opentelemetry::{KeyValue, metrics::Counter};
use tonic::{Code, Status};
use tower::retry::budget::{Budget, TpsBudget};

/// Attempts in all, the first included.
const ATTEMPTS: u32 = 3;

/// The back-off before the first retry, at most; each later one may wait twice as long.
const FIRST_BACKOFF: Duration = Duration::from_millis(25);

/// How long one deposit counts towards the budget.
const BUDGET_WINDOW: Duration = Duration::from_secs(10);

/// Retries allowed each second whatever the traffic.
const RESERVE_PER_SECOND: u32 = 10;

/// Retries allowed per call made, on top of the reserve.
const RETRY_SHARE: f32 = 0.2;

/// Retries of the calls to one service.
pub struct Retry {
    /// The service retried, for the metric.
    service: &'static str,
    budget: TpsBudget,
    retries: Counter<u64>,
}

impl std::fmt::Debug for Retry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retry")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl Retry {
    /// Retries of calls to `service`, counted with the meter provider installed now.
    pub fn new(service: &'static str) -> Self {
        Self {
            service,
            budget: TpsBudget::new(BUDGET_WINDOW, RESERVE_PER_SECOND, RETRY_SHARE),
            retries: opentelemetry::global::meter(crate::metrics::METER)
                .u64_counter("baton.rpc.client.retries")
                .with_description(
                    "Calls to another service attempted again after UNAVAILABLE, or not \
                     attempted again because the retry budget was spent",
                )
                .with_unit("{retry}")
                .build(),
        }
    }

    /// Runs `attempt` until it answers anything but UNAVAILABLE, at most three times,
    /// waiting a jittered, doubling back-off between attempts while the budget allows.
    /// `attempt` must be safe to repeat: a read, or a write with an idempotency key.
    pub async fn call<T, F, Fut>(&self, mut attempt: F) -> Result<T, Status>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        self.budget.deposit();
        let mut tried = 1;
        loop {
            let status = match attempt().await {
                Err(status)
                    if status.code() == Code::Unavailable
                        && !crate::breaker::refused_by_open_circuit(&status)
                        && tried < ATTEMPTS =>
                {
                    status
                }
                answer => return answer,
            };
            let pause = backoff(tried);
            if crate::deadline::remaining().is_some_and(|left| left <= pause) {
                return Err(status);
            }
            if !self.budget.withdraw() {
                self.count("refused");
                return Err(status);
            }
            self.count("retried");
            tokio::time::sleep(pause).await;
            tried += 1;
        }
    }

    fn count(&self, outcome: &'static str) {
        self.retries.add(
            1,
            &[
                KeyValue::new("rpc.service", self.service),
                KeyValue::new("outcome", outcome),
            ],
        );
    }
}

/// The pause before attempt `tried + 1`: anywhere up to `FIRST_BACKOFF · 2^(tried - 1)` ("full
/// jitter"), so callers that failed together do not come back together.
fn backoff(tried: u32) -> Duration {
    let ceiling = FIRST_BACKOFF * 2u32.saturating_pow(tried.saturating_sub(1));
    let random = RandomState::new().hash_one(std::time::Instant::now());
    ceiling.mul_f64((random % 10_000) as f64 / 10_000.0)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// Attempts that fail with `code` for the first `failures` calls, then answer `Ok(n)`.
    async fn flaky(retry: &Retry, failures: u32, code: Code) -> (Result<u32, Status>, u32) {
        let calls = AtomicU32::new(0);
        let answer = retry
            .call(|| {
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    if n <= failures {
                        Err(Status::new(code, "not now"))
                    } else {
                        Ok(n)
                    }
                }
            })
            .await;
        (answer, calls.load(Ordering::SeqCst))
    }

    #[tokio::test(start_paused = true)]
    async fn unavailable_is_tried_again_up_to_three_times_and_nothing_else_is() {
        let retry = Retry::new("test");
        assert_eq!(flaky(&retry, 2, Code::Unavailable).await.0.ok(), Some(3));
        let (answer, calls) = flaky(&retry, 5, Code::Unavailable).await;
        assert_eq!(answer.map_err(|s| s.code()), Err(Code::Unavailable));
        assert_eq!(calls, ATTEMPTS, "attempts are bounded");
        for code in [
            Code::DeadlineExceeded,
            Code::InvalidArgument,
            Code::Internal,
            Code::FailedPrecondition,
        ] {
            let (answer, calls) = flaky(&retry, 1, code).await;
            assert_eq!(answer.map_err(|s| s.code()), Err(code));
            assert_eq!(calls, 1, "{code:?} is never retried");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_open_breaker_is_not_retried() {
        let retry = Retry::new("test");
        let calls = AtomicU32::new(0);
        let answer: Result<(), Status> = retry
            .call(|| {
                calls.fetch_add(1, Ordering::SeqCst);
                async {
                    let mut status = Status::unavailable("circuit open");
                    status
                        .metadata_mut()
                        .insert(super::super::breaker::OPEN, "1".parse().expect("value"));
                    Err(status)
                }
            })
            .await;
        assert_eq!(answer.map_err(|s| s.code()), Err(Code::Unavailable));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_dependency_that_stays_down_gets_retries_from_the_budget_only() {
        let retry = Retry::new("test");
        let mut calls = 0;
        let callers = 200;
        for _ in 0..callers {
            calls += flaky(&retry, u32::MAX, Code::Unavailable).await.1;
        }
        let retries = calls - callers;
        // The reserve (ten a second over the window) and a fifth of the callers; not the two
        // retries each caller would make unbudgeted.
        let allowed = RESERVE_PER_SECOND * BUDGET_WINDOW.as_secs() as u32
            + (RETRY_SHARE * callers as f32) as u32;
        assert!(retries <= allowed, "{retries} retries, {allowed} allowed");
        assert!(
            retries < 2 * callers,
            "{retries} retries for {callers} callers"
        );
        assert!(retries > 0, "the reserve allows some");
    }

    #[test]
    fn backoff_is_jittered_below_a_doubling_ceiling() {
        for tried in 1..=4 {
            let ceiling = FIRST_BACKOFF * 2u32.pow(tried - 1);
            let pauses: Vec<Duration> = (0..50).map(|_| backoff(tried)).collect();
            assert!(pauses.iter().all(|p| *p <= ceiling), "{pauses:?}");
            assert!(
                pauses.iter().any(|p| *p != pauses[0]),
                "pauses vary: {pauses:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn no_retry_is_made_that_the_deadline_would_cut_short() {
        let retry = Retry::new("test");
        let (answer, calls) = crate::deadline::with_timeout(Duration::from_micros(1), async {
            flaky(&retry, 1, Code::Unavailable).await
        })
        .await;
        assert_eq!(answer.map_err(|s| s.code()), Err(Code::Unavailable));
        assert_eq!(calls, 1);
    }
}
