//! The connections a server accepts: TLS (when configured) and the HTTP/2 preface, each within
//! the handshake timeout, before tonic sees the connection.
//!
//! A silent TCP connection, a half-sent TLS hello or a half-sent HTTP/2 preface is closed when
//! the timeout passes instead of being held forever; handshakes run concurrently, so a slow
//! one never delays the next accept. A TLS connection's verified client certificate becomes
//! the connection's [`PeerIdentity`], which the auth layer reads.

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use baton_auth::PeerIdentity;
use tokio::{
    io::{AsyncRead, AsyncReadExt as _, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::mpsc,
};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;

use crate::tls::ServerTls;

/// What every HTTP/2 connection starts with (RFC 9113, section 3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Handshakes that may be in progress at once; beyond that, accepting waits.
const MAX_HANDSHAKES: usize = 1024;

/// An accepted connection whose handshake completed: the preface it sent is replayed to tonic
/// first.
pub struct Conn {
    io: Box<dyn Io>,
    preface_left: usize,
    peer: PeerIdentity,
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn").field("peer", &self.peer).finish()
    }
}

impl Connected for Conn {
    type ConnectInfo = PeerIdentity;

    fn connect_info(&self) -> PeerIdentity {
        self.peer.clone()
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.preface_left > 0 {
            let start = PREFACE.len() - self.preface_left;
            let n = self.preface_left.min(buf.remaining());
            buf.put_slice(&PREFACE[start..start + n]);
            self.preface_left -= n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// Accepts on `listener` and yields connections whose TLS handshake (with `tls`) and HTTP/2
/// preface completed within `timeout`. Ends when the listener fails for good.
pub fn accept(
    listener: TcpListener,
    tls: Option<ServerTls>,
    timeout: Duration,
) -> ReceiverStream<io::Result<Conn>> {
    let (ready, incoming) = mpsc::channel(64);
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
    tokio::spawn(async move {
        loop {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            let (stream, remote) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: pause instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            if ready.is_closed() {
                return;
            }
            let ready = ready.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let _slot = slot;
                match tokio::time::timeout(timeout, handshake(stream, remote, tls)).await {
                    Ok(Ok(conn)) => {
                        let _ = ready.send(Ok(conn)).await;
                    }
                    Ok(Err(error)) => {
                        tracing::debug!(%remote, %error, "connection closed during its handshake");
                    }
                    Err(_) => {
                        tracing::debug!(%remote, timeout_ms = timeout.as_millis() as u64, "connection closed: no handshake in time");
                    }
                }
            });
        }
    });
    ReceiverStream::new(incoming)
}

async fn handshake(
    stream: TcpStream,
    remote: SocketAddr,
    tls: Option<ServerTls>,
) -> io::Result<Conn> {
    // With Nagle on, a response larger than one segment waits for the peer's delayed ACK.
    stream.set_nodelay(true)?;
    let mut peer = PeerIdentity {
        remote_addr: Some(remote),
        principal: None,
    };
    let mut io: Box<dyn Io> = match tls {
        None => Box::new(stream),
        Some(tls) => {
            let tls_stream = tls.acceptor().accept(stream).await?;
            let (_, session) = tls_stream.get_ref();
            if let Some(cert) = session.peer_certificates().and_then(|c| c.first()) {
                match baton_auth::cert::principal_of(cert.as_ref(), tls.trust_domain()) {
                    Ok(principal) => peer.principal = principal.map(Arc::new),
                    Err(reason) => {
                        tracing::warn!(%remote, %reason, "client certificate names no usable principal")
                    }
                }
            }
            Box::new(tls_stream)
        }
    };
    let mut preface = [0u8; 24];
    io.read_exact(&mut preface).await?;
    if &preface != PREFACE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not an HTTP/2 connection (gRPC needs HTTP/2)",
        ));
    }
    Ok(Conn {
        io,
        preface_left: PREFACE.len(),
        peer,
    })
}
