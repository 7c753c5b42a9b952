//! The server layer that counts and times every call.
//!
//! Per call: `rpc.server.call.duration` (a histogram, in seconds, as OpenTelemetry's RPC
//! semantic conventions name it) and `rpc.server.requests` (a counter: the histogram's count,
//! kept for dashboards and alerts that read it), both with `rpc.system` (`grpc`),
//! `rpc.service`, `rpc.method` and `rpc.grpc.status_code`. The code is the
//! `grpc-status` response header when there is one (tonic puts it there for errors: a
//! trailers-only response), else `0`: an OK unary answer carries its status in the trailers,
//! after this layer has seen the response. A call dropped before it answered (the caller went
//! away, or the server's request timeout fired) counts as `1`, CANCELLED, which is what tonic
//! answers on a timeout.
//!
//! For streaming calls the duration is the time to the first response (the response headers),
//! not the life of the stream: an agent session would otherwise read as one very slow call.

use crate::grpc_call::{CODES, OTHER, split_path, status_code};
use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

use opentelemetry::{
    KeyValue,
    metrics::{Counter, Histogram, Meter},
};
use tower::{Layer, Service};

/// Upper bounds of the duration buckets, in seconds: from a cache hit to the longest timeout.
const DURATION_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Server layer measuring every call; see the module documentation.
#[derive(Clone, Debug)]
pub struct RpcMetricsLayer {
    /// Shared by every call.
    instruments: Instruments,
}

#[derive(Clone, Debug)]
struct Instruments {
    /// Calls answered, by code.
    requests: Counter<u64>,
    /// Time to the response headers.
    duration: Histogram<f64>,
}

impl RpcMetricsLayer {
    /// Instruments created from `meter`.
    pub fn new(meter: &Meter) -> Self {
        Self {
            instruments: Instruments {
                requests: meter
                    .u64_counter("rpc.server.requests")
                    .with_description("gRPC calls served, by service, method and status code")
                    .with_unit("{call}")
                    .build(),
                duration: meter
                    .f64_histogram("rpc.server.call.duration")
                    .with_description(
                        "Time from a call's arrival to its first response (for streams, the \
                         time to open them), by service, method and status code",
                    )
                    .with_unit("s")
                    .with_boundaries(DURATION_BUCKETS.to_vec())
                    .build(),
            },
        }
    }

    /// Instruments from the global meter provider installed now (a no-op one if none is).
    pub fn global() -> Self {
        Self::new(&opentelemetry::global::meter(super::METER))
    }
}

impl<S> Layer<S> for RpcMetricsLayer {
    type Service = RpcMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcMetricsService {
            inner,
            instruments: self.instruments.clone(),
        }
    }
}

/// See [`RpcMetricsLayer`].
#[derive(Clone, Debug)]
pub struct RpcMetricsService<S> {
    /// The wrapped service.
    inner: S,
    /// Where calls are recorded.
    instruments: Instruments,
}

impl<S, B, R> Service<http::Request<B>> for RpcMetricsService<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let (service, method) = split_path(req.uri().path());
        let call = Call {
            instruments: self.instruments.clone(),
            service: service.to_owned(),
            method: method.to_owned(),
            started: Instant::now(),
            answered: false,
        };
        let fut = self.inner.call(req);
        Box::pin(async move {
            let mut call = call;
            let result = fut.await;
            let code = match &result {
                Ok(response) => status_code(response.headers()),
                // Tonic's servers never fail this way; an error becomes a status upstream.
                Err(_) => CODES[2],
            };
            call.record(code);
            result
        })
    }
}

/// One call being measured; recorded once, when answered or else when dropped.
struct Call {
    instruments: Instruments,
    service: String,
    method: String,
    started: Instant,
    answered: bool,
}

impl Call {
    fn record(&mut self, code: &'static str) {
        self.answered = true;
        let (service, method) = if code == "12" {
            // UNIMPLEMENTED: most likely a path nobody serves.
            (OTHER.to_owned(), OTHER.to_owned())
        } else {
            (
                std::mem::take(&mut self.service),
                std::mem::take(&mut self.method),
            )
        };
        let attributes = [
            KeyValue::new("rpc.system", "grpc"),
            KeyValue::new("rpc.service", service),
            KeyValue::new("rpc.method", method),
            KeyValue::new("rpc.grpc.status_code", code),
        ];
        self.instruments.requests.add(1, &attributes);
        self.instruments
            .duration
            .record(self.started.elapsed().as_secs_f64(), &attributes);
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if !self.answered {
            self.record(CODES[1]);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_sdk::metrics::SdkMeterProvider;

    use super::*;

    fn headers(status: Option<&str>) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        if let Some(status) = status {
            map.insert(
                "grpc-status",
                http::HeaderValue::from_str(status).expect("header"),
            );
        }
        map
    }

    #[test]
    fn the_status_code_comes_from_the_header_else_ok() {
        assert_eq!(status_code(&headers(None)), "0");
        assert_eq!(status_code(&headers(Some("0"))), "0");
        assert_eq!(status_code(&headers(Some("5"))), "5");
        assert_eq!(status_code(&headers(Some("16"))), "16");
        assert_eq!(status_code(&headers(Some("17"))), "2");
        assert_eq!(status_code(&headers(Some("x"))), "2");
    }

    #[test]
    fn paths_split_into_service_and_method() {
        assert_eq!(
            split_path("/baton.v1.RoutingService/StartContact"),
            ("baton.v1.RoutingService", "StartContact")
        );
        assert_eq!(split_path("/"), (OTHER, OTHER));
        assert_eq!(split_path("/only"), (OTHER, OTHER));
        assert_eq!(split_path("/a/b/c"), (OTHER, OTHER));
        assert_eq!(split_path("no-slash"), (OTHER, OTHER));
    }

    /// A provider of its own, so the test never touches the global one.
    fn provider() -> (SdkMeterProvider, prometheus::Registry) {
        let registry = prometheus::Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .build()
            .expect("exporter");
        let provider = SdkMeterProvider::builder().with_reader(exporter).build();
        (provider, registry)
    }

    /// Answers with the `grpc-status` named by the request's `x-status` header, if any.
    fn echo_status(
        req: http::Request<()>,
    ) -> std::future::Ready<Result<http::Response<()>, Infallible>> {
        let mut response = http::Response::new(());
        if let Some(status) = req.headers().get("x-status") {
            response.headers_mut().insert("grpc-status", status.clone());
        }
        std::future::ready(Ok(response))
    }

    fn request(path: &str, status: Option<&'static str>) -> http::Request<()> {
        let mut builder = http::Request::builder().uri(path);
        if let Some(status) = status {
            builder = builder.header("x-status", status);
        }
        builder.body(()).expect("request")
    }

    #[tokio::test]
    async fn calls_are_counted_and_timed_by_service_method_and_code() {
        let (provider, registry) = provider();
        let layer = RpcMetricsLayer::new(&provider.meter("test"));
        let mut svc = layer.layer(tower::service_fn(echo_status));
        let start = "/baton.v1.RoutingService/StartContact";
        for req in [
            request(start, None),
            request(start, None),
            request(start, Some("5")),
            request("/nobody.Serves/This", Some("12")),
        ] {
            svc.call(req).await.expect("answered");
        }
        // Dropped before it answered: cancelled.
        let pending = layer.layer(tower::service_fn(|_: http::Request<()>| {
            std::future::pending::<Result<http::Response<()>, Infallible>>()
        }));
        drop(pending.clone().call(request(start, None)));

        let text = crate::metrics::render(&registry).expect("renders");
        let count = |code: &str, service: &str, method: &str| {
            text.lines()
                .find(|l| {
                    l.starts_with("rpc_server_requests_total{")
                        && l.contains("rpc_system=\"grpc\"")
                        && l.contains(&format!("rpc_grpc_status_code=\"{code}\""))
                        && l.contains(&format!("rpc_service=\"{service}\""))
                        && l.contains(&format!("rpc_method=\"{method}\""))
                })
                .and_then(|l| l.rsplit(' ').next())
                .map(str::to_owned)
        };
        let routing = "baton.v1.RoutingService";
        assert_eq!(
            count("0", routing, "StartContact").as_deref(),
            Some("2"),
            "{text}"
        );
        assert_eq!(
            count("5", routing, "StartContact").as_deref(),
            Some("1"),
            "{text}"
        );
        assert_eq!(
            count("1", routing, "StartContact").as_deref(),
            Some("1"),
            "{text}"
        );
        assert_eq!(count("12", OTHER, OTHER).as_deref(), Some("1"), "{text}");
        assert!(!text.contains("nobody.Serves"), "{text}");
        assert!(
            text.lines()
                .any(|l| l.starts_with("rpc_server_call_duration_seconds_count{")
                    && l.contains("rpc_system=\"grpc\"")
                    && l.contains("rpc_grpc_status_code=\"0\"")
                    && l.ends_with(" 2")),
            "{text}"
        );
        assert!(
            text.contains("le=\"0.0005\""),
            "the duration buckets are seconds: {text}"
        );
    }
}
