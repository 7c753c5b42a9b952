//! The endpoint Prometheus scrapes: plain HTTP/1, `GET /metrics` in the text exposition
//! format, 404 for anything else.

use std::{convert::Infallible, time::Duration};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::shutdown::Shutdown;

/// How long a client may take to send its request headers (a scraper sends them at once).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `registry` on `listener` until `shutdown` fires; connections still open then are
/// closed once their current request is answered.
pub async fn serve_metrics(
    listener: TcpListener,
    registry: prometheus::Registry,
    shutdown: Shutdown,
) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "serving metrics");
    }
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %err, "metrics endpoint cannot accept");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = shutdown.triggered() => break,
        };
        let registry = registry.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| std::future::ready(answer(&req, &registry)));
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                () = shutdown.triggered() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(err) = result {
                tracing::debug!(error = %err, "metrics connection ended with an error");
            }
        });
    }
    tracing::info!("metrics endpoint stopped");
}

/// The response to one request.
fn answer<B>(
    req: &Request<B>,
    registry: &prometheus::Registry,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() != Method::GET || req.uri().path() != "/metrics" {
        return Ok(plain(StatusCode::NOT_FOUND, "not found\n".into()));
    }
    Ok(match super::render(registry) {
        Ok(text) => {
            let mut response = plain(StatusCode::OK, text);
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(super::TEXT_FORMAT),
            );
            response
        }
        Err(err) => {
            tracing::warn!(error = %err, "metrics cannot be rendered");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "metrics cannot be rendered\n".into(),
            )
        }
    })
}

fn plain(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    async fn get(addr: std::net::SocketAddr, request: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        stream
            .write_all(request.as_bytes())
            .await
            .expect("request sent");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .await
            .expect("response read");
        response
    }

    #[tokio::test]
    async fn metrics_are_served_as_text_and_anything_else_is_not_found() {
        let registry = prometheus::Registry::new();
        let counter = prometheus::IntCounter::new("scraped_things_total", "things").expect("ok");
        counter.inc();
        registry.register(Box::new(counter)).expect("registered");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let addr = listener.local_addr().expect("addr");
        let shutdown = Shutdown::new();
        let server = tokio::spawn(serve_metrics(listener, registry, shutdown.clone()));

        let ok = get(
            addr,
            "GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .await;
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(
            ok.to_lowercase()
                .contains("content-type: text/plain; version=0.0.4"),
            "{ok}"
        );
        assert!(ok.contains("\nscraped_things_total 1\n"), "{ok}");

        for request in [
            "GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
            "GET /metricsx HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
            "POST /metrics HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        ] {
            let response = get(addr, request).await;
            assert!(
                response.starts_with("HTTP/1.1 404 Not Found\r\n"),
                "{response}"
            );
        }

        shutdown.trigger();
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("stops on the signal")
            .expect("task ends cleanly");
    }
}
