//! Connection limits for the TCP listeners (HTTP here; the SIP driver uses the same
//! [`ConnTable`]): a cap on connections in all and per source IP, an idle timeout, and for HTTP
//! a deadline to send a request's head, so that idle or trickling connections cannot exhaust
//! file descriptors and take `/healthz`, the API or SIP down.
//!
//! A connection over a cap is closed at once after `accept` (the kernel's backlog is not left
//! full). Caps leave room: the process raises its descriptor limit at start and the defaults
//! are a fraction of it, so UDP SIP, media sockets and the database always find descriptors.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};

pub use ringside_domain::limits::{ConnGuard, ConnLimits, ConnTable};

/// A TCP stream that fails with `TimedOut` when its first byte takes longer than `first`
/// (hyper reads the protocol preface with no deadline of its own) or after `idle` without
/// progress either way later, and holds its place in the [`ConnTable`].
#[derive(Debug)]
pub struct IdleStream {
    inner: TcpStream,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    _guard: ConnGuard,
    table: Arc<ConnTable>,
}

impl IdleStream {
    fn new(inner: TcpStream, first: Duration, idle: Duration, guard: ConnGuard) -> Self {
        let table = guard.table().clone();
        IdleStream {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(first)),
            _guard: guard,
            table,
        }
    }

    fn progress(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.idle);
    }

    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.table.timed_out.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        false
    }
}

fn timed_out() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::TimedOut, "idle connection closed")
}

impl AsyncRead for IdleStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.progress();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(timed_out())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for IdleStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, data) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.progress();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(timed_out())),
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Marks a request that came over TLS (HTTPS, WSS), for handlers that say so to the client.
#[derive(Debug, Clone, Copy)]
pub struct OverTls;

/// Serve `app` on `listener` under `limits` until the task is dropped: connections over a cap
/// are closed at once, HTTP/1 request heads must arrive within `limits.header`, and idle
/// connections close after `limits.idle`. Requests carry `ConnectInfo<SocketAddr>`, as with
/// `into_make_service_with_connect_info`. With `tls` every connection is HTTPS (the handshake
/// under the same deadlines) and its requests carry [`OverTls`].
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    limits: ConnLimits,
    table: Arc<ConnTable>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceExt;

    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header);
    builder.http2().enable_connect_protocol();
    let builder = Arc::new(builder);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of descriptors or similar: back off instead of spinning.
                tracing::debug!(error = %e, "http accept");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(guard) = table.admit(peer.ip(), &limits) else {
            drop(stream);
            continue;
        };
        // Realtime sockets send many small messages (call signalling): no Nagle delay.
        let _ = stream.set_nodelay(true);
        let stream = IdleStream::new(stream, limits.header, limits.idle, guard);
        let secure = tls.is_some();
        let svc =
            app.clone()
                .map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    req.extensions_mut()
                        .insert(axum::extract::ConnectInfo::<SocketAddr>(peer));
                    if secure {
                        req.extensions_mut().insert(OverTls);
                    }
                    req.map(axum::body::Body::new)
                });
        let svc = TowerToHyperService::new(svc);
        let builder = builder.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let served = match tls {
                None => {
                    builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                        .await
                }
                // The handshake is bounded by the stream's own first-byte and idle deadlines.
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(s) => {
                        builder
                            .serve_connection_with_upgrades(TokioIo::new(s), svc)
                            .await
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, %peer, "https handshake failed");
                        return;
                    }
                },
            };
            if let Err(e) = served {
                tracing::trace!(error = %e, %peer, "http connection ended");
            }
        });
    }
}
