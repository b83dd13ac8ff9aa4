//! The SIP transport: the UDP socket and the TCP listener on one port, the TLS listener on its
//! own, each stream connection's reader (framing) and writer, parsing at the edge (a malformed
//! message is answered 400/501 or dropped and counted, and the overload rule answers 503
//! before the core sees it), and the way out, [`Transport::send`].
//!
//! Stream connections are kept by peer (address, transport and TLS profile) and used both
//! ways (RFC 5923): a phone registered over TLS is called on the connection it registered on,
//! and a connection Ringside opened to a trunk carries the trunk's requests back.
//!
//! Sending is a call, not a task: a UDP datagram goes out with `try_send_to` on the core task
//! (one system call, no channel hop; `send_to` only when the socket buffer is full) and a TCP
//! message is queued to its connection's writer task. A separate transmit task would add a
//! hop and a wake-up per message on the 2,000 calls/s path (BENCHMARKS.md) for nothing the
//! core needs: it never waits on a peer.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use ringside_domain::limits::{ConnGuard, ConnLimits, ConnTable};
use ringside_sip::message;
use ringside_sip::transaction::{Peer, TransportKind};
use ringside_sip::transport::{is_keepalive, Frame, StreamFramer};

use super::tls::{server_name_of, ServerCert, TlsClients};
use crate::metrics::SipMetrics;
use crate::overload::Overload;

/// Each open stream connection's writer, by peer.
type Writers = HashMap<Peer, mpsc::UnboundedSender<Bytes>>;
pub(super) type Conns = Arc<Mutex<Writers>>;
type Writer = (mpsc::UnboundedSender<Bytes>, mpsc::UnboundedReceiver<Bytes>);

/// How long a TLS handshake of a connection Ringside opens may take.
const TLS_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Where SIP over TLS is served, with which certificate.
pub(super) struct TlsListen {
    pub(super) addr: SocketAddr,
    pub(super) cert: Arc<ServerCert>,
}

/// The open TCP connections' table. Nothing that holds the lock can panic, and if something
/// ever did, the table is still whole: take it back rather than take the core task down.
pub(super) fn open_conns(conns: &Conns) -> std::sync::MutexGuard<'_, Writers> {
    conns
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A parsed message and where it came from, on its way to the core.
pub(super) struct Inbound {
    pub(super) msg: rsip::SipMessage,
    pub(super) from: Peer,
}

/// Receive and send buffer of the SIP UDP socket. At 2,000 calls/s a challenged call is
/// about ten datagrams in and out, 20,000 a second each way; the kernel's default 208 KiB
/// holds about 15 ms of them, so one scheduling stall of the receiving task dropped
/// datagrams (UdpRcvbufErrors) and every drop costs a 500 ms retransmission (measured:
/// BENCHMARKS.md). Kamailio and FreeSWITCH raise it for the same reason.
const SIP_UDP_BUFFER: usize = 4 << 20;

/// Bind the SIP UDP socket with [`SIP_UDP_BUFFER`] (as much as `net.core.rmem_max` and
/// `wmem_max` allow; a warning says when the kernel grants less).
fn sip_udp_socket(bind: SocketAddr) -> std::io::Result<UdpSocket> {
    let sock = ringside_media::udp::bind_with_buffers(bind, SIP_UDP_BUFFER, "SIP")?;
    sock.set_nonblocking(true)?;
    UdpSocket::from_std(sock)
}

/// The transport's way into the core: the bounded inbound queue, and the overload rule
/// applied before a message joins it.
#[derive(Clone)]
pub(super) struct Inlet {
    pub(super) tx: mpsc::Sender<Inbound>,
    overload: Overload,
    pub(super) metrics: Arc<SipMetrics>,
}

impl Inlet {
    pub(super) fn new(
        tx: mpsc::Sender<Inbound>,
        overload: Overload,
        metrics: Arc<SipMetrics>,
    ) -> Inlet {
        Inlet {
            tx,
            overload,
            metrics,
        }
    }

    /// The 503 for `msg` if the core is too far behind to take it.
    pub(super) fn refusal(&self, msg: &rsip::SipMessage) -> Option<Bytes> {
        let depth = self.tx.max_capacity() - self.tx.capacity();
        self.metrics
            .inbound_queue
            .store(depth as u64, Ordering::Relaxed);
        let r = self.overload.refusal(msg, depth)?;
        self.metrics
            .overload_rejected
            .fetch_add(1, Ordering::Relaxed);
        Some(r)
    }
}

/// The bound sockets and the open stream connections; what the core task sends through.
pub(super) struct Transport {
    udp: Arc<UdpSocket>,
    conns: Conns,
    inlet: Inlet,
    local_addr: SocketAddr,
    tls_addr: Option<SocketAddr>,
    clients: Arc<TlsClients>,
    failed: mpsc::UnboundedSender<Peer>,
}

impl Transport {
    /// Binds UDP and TCP on `bind` (one port for both), and TLS where `tls` says, and starts
    /// reading: every message that parses and passes the overload rule goes to `inlet`.
    /// Connections Ringside opens over TLS take their settings from `clients`; a peer no
    /// connection could be opened to is reported on `failed`.
    pub(super) async fn bind(
        bind: SocketAddr,
        tcp_limits: (ConnLimits, Arc<ConnTable>),
        inlet: Inlet,
        tls: Option<TlsListen>,
        (clients, failed): (Arc<TlsClients>, mpsc::UnboundedSender<Peer>),
    ) -> std::io::Result<Transport> {
        let (udp, tcp) = bind_pair(bind).await?;
        let udp = Arc::new(udp);
        let local_addr = udp.local_addr()?;
        let conns: Conns = Arc::default();
        tokio::spawn(udp_reader(udp.clone(), inlet.clone()));
        let tls_addr = match tls {
            Some(t) => {
                let listener = TcpListener::bind(t.addr).await?;
                let addr = listener.local_addr()?;
                t.cert.watch(std::time::Duration::from_secs(2));
                let acceptor = tokio_rustls::TlsAcceptor::from(t.cert.server_config());
                tokio::spawn(stream_acceptor(
                    listener,
                    Some(acceptor),
                    inlet.clone(),
                    conns.clone(),
                    tcp_limits.clone(),
                ));
                Some(addr)
            }
            None => None,
        };
        tokio::spawn(stream_acceptor(
            tcp,
            None,
            inlet.clone(),
            conns.clone(),
            tcp_limits,
        ));
        Ok(Transport {
            udp,
            conns,
            inlet,
            local_addr,
            tls_addr,
            clients,
            failed,
        })
    }

    /// The UDP/TCP address actually bound.
    pub(super) fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// What the HTTP listener needs to carry SIP over WebSocket into this transport.
    pub(super) fn websockets(&self) -> super::websocket::SipWebSockets {
        super::websocket::SipWebSockets {
            conns: self.conns.clone(),
            inlet: self.inlet.clone(),
            edge: None,
            relay_ip: self.local_addr.ip(),
        }
    }

    /// The TLS address actually bound, if Ringside serves TLS.
    pub(super) fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    /// Sends `data` to `to`: a UDP datagram, or a message on the stream connection to that
    /// peer (connecting out first, e.g. to a TCP or TLS trunk, and keeping the connection).
    pub(super) async fn send(&self, to: Peer, data: Bytes) {
        if to.transport == TransportKind::Udp {
            let wire = ringside_domain::net::on_wire(self.local_addr.is_ipv6(), to.addr);
            if let Err(e) = self.udp.try_send_to(&data, wire) {
                if e.kind() == std::io::ErrorKind::WouldBlock {
                    let _ = self.udp.send_to(&data, wire).await;
                } else {
                    debug!(to = %to.addr, error = %e, "udp send");
                }
            }
            return;
        }
        let existing = open_conns(&self.conns).get(&to).cloned();
        if let Some(w) = existing {
            if w.send(data.clone()).is_ok() {
                return;
            }
        }
        if to.transport.is_websocket() {
            // Only the softphone opens its WebSocket; with it gone the request fails now.
            debug!(to = %to.addr, "SIP WebSocket closed: cannot send");
            let _ = self.failed.send(to);
            return;
        }
        // A new connection: what is sent while it opens waits in its writer's queue.
        let (wtx, wrx) = mpsc::unbounded_channel();
        let _ = wtx.send(data.clone());
        open_conns(&self.conns).insert(to, wtx.clone());
        let (conns, inlet, clients, failed) = (
            self.conns.clone(),
            self.inlet.clone(),
            self.clients.clone(),
            self.failed.clone(),
        );
        tokio::spawn(async move {
            let writer = (wtx, wrx);
            let refused = match TcpStream::connect(to.addr).await {
                Err(e) => e.to_string(),
                Ok(s) if to.transport != TransportKind::Tls => {
                    let _ = s.set_nodelay(true);
                    return spawn_connection(s, to, inlet, conns, None, writer);
                }
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    match tls_connect(s, &to, &data, &clients).await {
                        Ok(tls) => return spawn_connection(tls, to, inlet, conns, None, writer),
                        Err(e) => e,
                    }
                }
            };
            if to.transport == TransportKind::Tls {
                let m = &inlet.metrics.tls_outbound_failures;
                m.fetch_add(1, Ordering::Relaxed);
                warn!(peer = %to.addr, error = %refused, "SIP over TLS: connection refused");
            } else {
                debug!(to = %to.addr, error = %refused, "stream connect");
            }
            forget(&conns, &to, &writer.0);
            let _ = failed.send(to);
        });
    }
}

/// Open TLS over `tcp` to `to` for the request `first`: verified against the host of its
/// Request-URI with the settings of `to`'s TLS profile. The error says why it was refused
/// (unknown CA, wrong name, expired, no settings, timeout).
async fn tls_connect(
    tcp: TcpStream,
    to: &Peer,
    first: &[u8],
    clients: &TlsClients,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let name = server_name_of(first)
        .ok_or_else(|| "no server name: the first message is not a request to a host".to_owned())?;
    let cfg = clients.config(to.tls_profile)?;
    let shown = name.to_str().into_owned();
    let connect = tokio_rustls::TlsConnector::from(cfg).connect(name, tcp);
    match tokio::time::timeout(TLS_CONNECT_TIMEOUT, connect).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(format!("{shown}: {e}")),
        Err(_) => Err(format!("{shown}: handshake timed out")),
    }
}

/// Drop the writer of `peer` from the table if it is still `w` (not a newer connection's).
pub(super) fn forget(conns: &Conns, peer: &Peer, w: &mpsc::UnboundedSender<Bytes>) {
    let mut table = open_conns(conns);
    if table.get(peer).is_some_and(|cur| cur.same_channel(w)) {
        table.remove(peer);
    }
}

/// The UDP socket and the TCP listener on one port. With port 0 the kernel picks a free UDP
/// port whose TCP twin may be in use (e.g. as another connection's ephemeral port): then
/// another port is picked, a few times.
async fn bind_pair(bind: SocketAddr) -> std::io::Result<(UdpSocket, TcpListener)> {
    let tries = if bind.port() == 0 { 16 } else { 1 };
    let mut last = None;
    for _ in 0..tries {
        let udp = sip_udp_socket(bind)?;
        match TcpListener::bind(udp.local_addr()?).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::ErrorKind::AddrInUse.into()))
}

/// Parse one message; on failure answer 400/501 if the request can be identified, else drop.
pub(super) fn ingest(
    data: &[u8],
    from: Peer,
    metrics: &SipMetrics,
) -> Result<rsip::SipMessage, Option<Bytes>> {
    match message::parse(data) {
        Ok(mut msg) => {
            if let rsip::SipMessage::Request(r) = &mut msg {
                ringside_sip::hdr::stamp_via(r, from.addr);
            }
            Ok(msg)
        }
        Err(_) => {
            metrics.malformed.fetch_add(1, Ordering::Relaxed);
            let reply = ringside_sip::hdr::raw_error_response(data);
            if reply.is_none() {
                metrics.malformed_dropped.fetch_add(1, Ordering::Relaxed);
            }
            Err(reply)
        }
    }
}

async fn udp_reader(sock: Arc<UdpSocket>, inlet: Inlet) {
    let metrics = inlet.metrics.clone();
    let mut buf = vec![0u8; 65_535];
    loop {
        let (n, wire) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                debug!(error = %e, "udp recv");
                continue;
            }
        };
        let src = ringside_domain::net::canonical(wire);
        let data = &buf[..n];
        if is_keepalive(data) {
            continue;
        }
        let from = Peer::new(src, TransportKind::Udp);
        match ingest(data, from, &metrics) {
            Ok(msg) => {
                if let Some(reply) = inlet.refusal(&msg) {
                    let _ = sock.send_to(&reply, wire).await;
                } else if inlet.tx.try_send(Inbound { msg, from }).is_err() {
                    metrics.malformed_dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(Some(reply)) => {
                let _ = sock.send_to(&reply, wire).await;
            }
            Err(None) => {}
        }
    }
}

/// Accepts SIP over TCP, or over TLS with `tls`, under the connection caps (TCP and TLS
/// together): a connection over a cap is closed at once, and a TLS handshake must be done
/// within the time a first message has.
async fn stream_acceptor(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    inlet: Inlet,
    conns: Conns,
    (limits, table): (ConnLimits, Arc<ConnTable>),
) {
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                let addr = ringside_domain::net::canonical(addr);
                let Some(guard) = table.admit(addr.ip(), &limits) else {
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let accepted = Accepted { guard, limits };
                let (inlet, conns) = (inlet.clone(), conns.clone());
                let Some(tls) = tls.clone() else {
                    let peer = Peer::new(addr, TransportKind::Tcp);
                    let writer = accepted_writer(&conns, peer);
                    spawn_connection(stream, peer, inlet, conns, Some(accepted), writer);
                    continue;
                };
                tokio::spawn(async move {
                    let wait = accepted.limits.header;
                    let failure = match tokio::time::timeout(wait, tls.accept(stream)).await {
                        Ok(Ok(s)) => {
                            let peer = Peer::new(addr, TransportKind::Tls);
                            let writer = accepted_writer(&conns, peer);
                            return spawn_connection(s, peer, inlet, conns, Some(accepted), writer);
                        }
                        Ok(Err(e)) => e.to_string(),
                        Err(_) => {
                            let t = &accepted.guard.table().timed_out;
                            t.fetch_add(1, Ordering::Relaxed);
                            "no handshake in time".to_owned()
                        }
                    };
                    let m = &inlet.metrics.tls_inbound_failures;
                    m.fetch_add(1, Ordering::Relaxed);
                    debug!(%addr, error = %failure, "SIP over TLS: handshake failed");
                });
            }
            Err(e) => {
                // Out of descriptors or similar: back off instead of spinning.
                debug!(error = %e, "tcp accept");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// An accepted connection's place under the caps, and its timeouts.
struct Accepted {
    guard: ConnGuard,
    limits: ConnLimits,
}

/// The writer of a connection a peer opened, in the table under `peer`.
fn accepted_writer(conns: &Conns, peer: Peer) -> Writer {
    let (wtx, wrx) = mpsc::unbounded_channel();
    open_conns(conns).insert(peer, wtx.clone());
    (wtx, wrx)
}

/// Run a connection: its writer takes what `writer` queues, its reader frames and parses what
/// arrives from `peer`. The connection leaves the table when it closes.
fn spawn_connection<S>(
    stream: S,
    peer: Peer,
    inlet: Inlet,
    conns: Conns,
    accepted: Option<Accepted>,
    (writer_tx, mut wrx): Writer,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let metrics = inlet.metrics.clone();
    let (mut rd, mut wr) = tokio::io::split(stream);
    tokio::spawn(async move {
        while let Some(b) = wrx.recv().await {
            if wr.write_all(&b).await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        let mut framer = StreamFramer::new(65_536);
        let mut buf = vec![0u8; 16_384];
        let from = peer;
        // Accepted connections must send a whole message within `header` (the first one, and
        // each one once started) and are closed after `idle` without traffic; connections we
        // opened ourselves (to trunks) are not limited.
        let mut seen_message = false;
        'conn: loop {
            let wait = accepted.as_ref().map(|a| {
                if seen_message && framer.buffered() == 0 {
                    a.limits.idle
                } else {
                    a.limits.header
                }
            });
            let read = rd.read(&mut buf);
            let n = match wait {
                Some(w) => match tokio::time::timeout(w, read).await {
                    Ok(r) => r,
                    Err(_) => {
                        if let Some(a) = &accepted {
                            a.guard.table().timed_out.fetch_add(1, Ordering::Relaxed);
                        }
                        debug!(peer = %peer.addr, "closing a connection that sent nothing in time");
                        break;
                    }
                },
                None => read.await,
            };
            let n = match n {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            framer.push(&buf[..n]);
            loop {
                match framer.next_message() {
                    Ok(Some(Frame::Message(m))) => {
                        seen_message = true;
                        match ingest(&m, from, &metrics) {
                            Ok(msg) => {
                                if let Some(reply) = inlet.refusal(&msg) {
                                    let _ = writer_tx.send(reply);
                                } else if inlet.tx.send(Inbound { msg, from }).await.is_err() {
                                    break 'conn;
                                }
                            }
                            Err(Some(reply)) => {
                                let _ = writer_tx.send(reply);
                            }
                            Err(None) => {}
                        }
                    }
                    Ok(Some(Frame::Ping)) => {
                        seen_message = true;
                        let _ = writer_tx.send(Bytes::from_static(b"\r\n"));
                    }
                    Ok(None) => break,
                    Err(e) => {
                        debug!(peer = %peer.addr, error = %e, "closing a connection on a framing error");
                        metrics.malformed.fetch_add(1, Ordering::Relaxed);
                        metrics.malformed_dropped.fetch_add(1, Ordering::Relaxed);
                        break 'conn;
                    }
                }
            }
        }
        forget(&conns, &peer, &writer_tx);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_sip_udp_socket_gets_the_large_buffers_the_kernel_allows() {
        let sock = sip_udp_socket("127.0.0.1:0".parse().unwrap()).unwrap();
        let max = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(SIP_UDP_BUFFER);
        let want = SIP_UDP_BUFFER.min(max);
        // Linux reports twice what it granted; the default (208 KiB) would fail this.
        let got = socket2::SockRef::from(&sock).recv_buffer_size().unwrap() / 2;
        assert!(got >= want, "receive buffer {got}, wanted {want}");
        // And it is a working socket: a datagram to itself arrives.
        let addr = sock.local_addr().unwrap();
        sock.send_to(b"ping", addr).await.unwrap();
        let mut buf = [0u8; 8];
        let (n, from) = sock.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"ping"[..], addr));
    }
}
