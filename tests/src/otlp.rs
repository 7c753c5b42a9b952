//! An OTLP/gRPC trace receiver in the test process: the collector's own service definition,
//! keeping every span it is sent so tests can inspect them. Also a collector that never
//! answers, one that discards what it is sent (for benchmarks), and helpers to read received
//! spans.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::any_value::Value,
    trace::v1::{ResourceSpans, Span},
};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

/// What the receiver was sent.
#[derive(Clone, Debug, Default)]
pub struct Received {
    /// Every batch, in arrival order.
    batches: Arc<Mutex<Vec<ResourceSpans>>>,
}

impl Received {
    /// Every span received, with its resource's `service.name`.
    pub fn spans(&self) -> Vec<(String, Span)> {
        let batches = self.batches.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for rs in batches.iter() {
            let service = rs
                .resource
                .as_ref()
                .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
                .and_then(|kv| kv.value.as_ref())
                .map(|v| format!("{:?}", v.value))
                .unwrap_or_default();
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    out.push((service.clone(), span.clone()));
                }
            }
        }
        out
    }
}

#[tonic::async_trait]
impl TraceService for Received {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.batches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(request.into_inner().resource_spans);
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// Starts a receiver on a free loopback port.
pub async fn start() -> (SocketAddr, Received) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind otlp receiver");
    let addr = listener.local_addr().expect("addr");
    let received = Received::default();
    let service = TraceServiceServer::new(received.clone());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    (addr, received)
}

/// A collector that accepts connections and never answers: exports hang until they time out.
pub async fn black_hole() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind black hole");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            // Kept open and never read: the client's request just sits there.
            held.push(socket);
        }
    });
    addr
}

/// A string attribute of a span.
pub fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a str> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| match &v.value {
            Some(Value::StringValue(s)) => Some(s.as_str()),
            _ => None,
        })
}

/// Trace and span ids as the lower-case hex W3C `traceparent` uses.
pub fn hex(id: &[u8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// Starts a receiver that accepts OTLP/gRPC exports over HTTP/2 and answers success without
/// decoding them, counting only the bytes. A collector costs its own machine, not the
/// service's: this one is cheap enough to share a benchmark machine with the mesh.
pub async fn start_discarding() -> (SocketAddr, Arc<std::sync::atomic::AtomicU64>) {
    use std::{convert::Infallible, sync::atomic::Ordering};

    use bytes::Bytes;
    use http_body_util::{BodyExt as _, StreamBody};
    use hyper::body::Frame;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind otlp receiver");
    let addr = listener.local_addr().expect("addr");
    let bytes = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = Arc::clone(&bytes);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |request: hyper::Request<hyper::body::Incoming>| {
                        let counter = Arc::clone(&counter);
                        async move {
                            let mut body = request.into_body();
                            while let Some(Ok(frame)) = body.frame().await {
                                if let Some(data) = frame.data_ref() {
                                    counter.fetch_add(data.len() as u64, Ordering::Relaxed);
                                }
                            }
                            let mut trailers = http::HeaderMap::new();
                            trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
                            // One empty ExportTraceServiceResponse: flag 0, length 0.
                            let frames: Vec<Result<Frame<Bytes>, Infallible>> = vec![
                                Ok(Frame::data(Bytes::from_static(&[0, 0, 0, 0, 0]))),
                                Ok(Frame::trailers(trailers)),
                            ];
                            let mut response =
                                hyper::Response::new(StreamBody::new(tokio_stream::iter(frames)));
                            response.headers_mut().insert(
                                "content-type",
                                http::HeaderValue::from_static("application/grpc"),
                            );
                            Ok::<_, Infallible>(response)
                        }
                    },
                );
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, bytes)
}
