//! The thin tokio driver around [`SipCore`]: UDP and TCP sockets on one port, the clock, and a
//! storage writer that batches call records.
//!
//! ```text
//!  UDP recv task ─┐                         ┌─► UDP socket
//!  TCP conn tasks ┼─► parse ─► mpsc ─► core task ─► TCP writers (per connection)
//!                 │   (malformed: 400/501     ├─► storage writer (batched) ─► call events on the bus
//!                 │    or dropped + counted)  └─► browser rings on the bus
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use ringside_domain::Bus;
use ringside_sip::message;
use ringside_sip::registrar::{Binding, BindingChange};
use ringside_sip::transaction::{Peer, TransportKind};
use ringside_sip::transport::{is_keepalive, Frame, StreamFramer};
use ringside_storage::Store;

use crate::clock::Clock;
use crate::core::{CoreOutput, SipCore};
use crate::directory::DirectoryChange;
use crate::metrics::SipMetrics;
use crate::overload::Overload;
use ringside_domain::limits::{ConnGuard, ConnLimits, ConnTable};

/// Commands to the running core.
#[derive(Debug)]
pub enum Command {
    /// Start refusing new calls (503).
    Drain,
    /// The grace period is over: hang up every call still up (BYE / CANCEL / 503), recorded as
    /// ended by `server_shutdown`.
    EndAll,
    /// Ask how many calls are in progress.
    ActiveCalls(oneshot::Sender<usize>),
    /// Answer once everything the core produced so far (registrations, call records and
    /// their webhook events) is written to storage.
    FlushStorage(oneshot::Sender<()>),
    /// A browser calls; what happens to the call is sent on the channel (until `Ended`).
    BrowserCall(
        crate::b2bua::BrowserCall,
        mpsc::UnboundedSender<crate::b2bua::BrowserSignal>,
    ),
    /// The browser of edge session `n` hung up or went away.
    BrowserHangup(u64),
    /// The media of edge session `n` failed (ICE consent lapsed, DTLS failed).
    BrowserMediaFailed(u64),
    /// A visitor accepts a call ringing its browser; signals as for `BrowserCall`.
    BrowserAccept(
        crate::b2bua::BrowserAnswer,
        mpsc::UnboundedSender<crate::b2bua::BrowserSignal>,
    ),
    /// A console operator answers a visitor's call; signals as for `BrowserCall`.
    ConsoleAccept(
        crate::b2bua::BrowserAnswer,
        mpsc::UnboundedSender<crate::b2bua::BrowserSignal>,
    ),
    /// The browser of edge session `n` holds (`true`) or resumes its call.
    BrowserHold(u64, bool),
    /// The edge measured the round-trip time to the browser of edge session `n`.
    BrowserRtt(u64, std::time::Duration),
    /// A visitor declines the call (record id) ringing its browser.
    BrowserDecline(String, ringside_domain::channels::Channel),
}

/// What the core task hands the storage writer.
enum WriterMsg {
    Out(CoreOutput),
    Flush(oneshot::Sender<()>),
}

/// Handle to the running SIP server.
#[derive(Debug, Clone)]
pub struct SipServer {
    cmd: mpsc::UnboundedSender<Command>,
    directory: mpsc::UnboundedSender<DirectoryChange>,
    /// The UDP/TCP address actually bound.
    pub local_addr: SocketAddr,
}

impl SipServer {
    /// Send a command to the core.
    pub fn command(&self, c: Command) {
        let _ = self.cmd.send(c);
    }

    /// Change the core's directory (the API created, changed or deleted an extension, a
    /// trunk or a queue number). A SIP message that arrives after this call is routed with
    /// the change made.
    pub fn change_directory(&self, change: DirectoryChange) {
        let _ = self.directory.send(change);
    }

    /// Calls in progress (0 if the core is gone).
    pub async fn active_calls(&self) -> usize {
        let (tx, rx) = oneshot::channel();
        self.command(Command::ActiveCalls(tx));
        rx.await.unwrap_or(0)
    }

    /// Waits until everything the SIP core produced so far is in storage (for shutdown).
    pub async fn flush_storage(&self) {
        let (tx, rx) = oneshot::channel();
        self.command(Command::FlushStorage(tx));
        let _ = rx.await;
    }
}

type Conns = Arc<Mutex<HashMap<SocketAddr, mpsc::UnboundedSender<Bytes>>>>;

/// The relays' media events (DTMF) tagged with their call's key, for the core.
pub type MediaEvents = mpsc::UnboundedReceiver<(u64, ringside_media::MediaEvent)>;

struct Inbound {
    msg: rsip::SipMessage,
    from: Peer,
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

/// Where and how the driver listens.
#[derive(Debug, Clone)]
pub struct Listen {
    /// The UDP and TCP address.
    pub bind: SocketAddr,
    /// Caps and timeouts of SIP over TCP, and the table the connections are counted in.
    pub tcp: (ConnLimits, Arc<ConnTable>),
    /// When new work is refused because the core is behind.
    pub overload: Overload,
    /// The one clock the core, its timers and the storage writer read.
    pub clock: Arc<dyn Clock>,
}

/// The transport's way into the core: the bounded inbound queue, and the overload rule
/// applied before a message joins it.
#[derive(Clone)]
struct Inlet {
    tx: mpsc::Sender<Inbound>,
    overload: Overload,
    metrics: Arc<SipMetrics>,
}

impl Inlet {
    /// The 503 for `msg` if the core is too far behind to take it.
    fn refusal(&self, msg: &rsip::SipMessage) -> Option<Bytes> {
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

/// Bind UDP and TCP as `listen` says, restore bindings from `store`, and run `core` until the
/// process ends, publishing call events and browser rings on `bus`.
pub async fn start(
    listen: Listen,
    mut core: SipCore,
    store: Store,
    metrics: Arc<SipMetrics>,
    media_events: Option<MediaEvents>,
    bus: Arc<Bus>,
) -> std::io::Result<SipServer> {
    let Listen {
        bind,
        tcp: tcp_limits,
        overload,
        clock,
    } = listen;
    let udp = Arc::new(sip_udp_socket(bind)?);
    let local_addr = udp.local_addr()?;
    let tcp = TcpListener::bind(local_addr).await?;
    match store.live_bindings(clock.now().unix_ms).await {
        Ok(list) => {
            let n = list.len();
            for b in list {
                if let Some(b) = binding_from_store(b) {
                    core.registrar_mut().restore(b);
                }
            }
            info!(bindings = n, "restored registrations");
        }
        Err(e) => warn!(error = %e, "could not load registrations"),
    }
    let (in_tx, in_rx) = mpsc::channel::<Inbound>(65_536);
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (dir_tx, dir_rx) = mpsc::unbounded_channel();
    let (store_tx, store_rx) = mpsc::unbounded_channel();
    let conns: Conns = Arc::default();

    let inlet = Inlet {
        tx: in_tx,
        overload,
        metrics: metrics.clone(),
    };
    tokio::spawn(udp_reader(udp.clone(), inlet.clone(), metrics.clone()));
    tokio::spawn(tcp_acceptor(
        tcp,
        inlet.clone(),
        conns.clone(),
        metrics.clone(),
        tcp_limits,
    ));
    tokio::spawn(storage_writer(
        store,
        store_rx,
        bus,
        metrics.clone(),
        clock.clone(),
    ));
    let media_events = media_events.unwrap_or_else(|| mpsc::unbounded_channel().1);
    tokio::spawn(core_task(
        core,
        udp,
        in_rx,
        cmd_rx,
        dir_rx,
        conns,
        store_tx,
        metrics,
        media_events,
        inlet,
        clock,
    ));
    info!(%local_addr, "SIP listening on UDP and TCP");
    Ok(SipServer {
        cmd: cmd_tx,
        directory: dir_tx,
        local_addr,
    })
}

fn binding_from_store(b: ringside_storage::Binding) -> Option<Binding> {
    Some(Binding {
        account_id: b.extension_id,
        contact: b.contact_uri,
        source: b.source_addr.parse().ok()?,
        transport: if b.transport == "tcp" {
            TransportKind::Tcp
        } else {
            TransportKind::Udp
        },
        expires_at: b.expires_at,
        call_id: b.call_id,
        cseq: u32::try_from(b.cseq).unwrap_or(0),
        user_agent: b.user_agent,
    })
}

/// Parse one message; on failure answer 400/501 if the request can be identified, else drop.
fn ingest(
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

async fn udp_reader(sock: Arc<UdpSocket>, inlet: Inlet, metrics: Arc<SipMetrics>) {
    let mut buf = vec![0u8; 65_535];
    loop {
        let (n, src) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                debug!(error = %e, "udp recv");
                continue;
            }
        };
        let data = &buf[..n];
        if is_keepalive(data) {
            continue;
        }
        let from = Peer {
            addr: src,
            transport: TransportKind::Udp,
        };
        match ingest(data, from, &metrics) {
            Ok(msg) => {
                if let Some(reply) = inlet.refusal(&msg) {
                    let _ = sock.send_to(&reply, src).await;
                } else if inlet.tx.try_send(Inbound { msg, from }).is_err() {
                    metrics.malformed_dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(Some(reply)) => {
                let _ = sock.send_to(&reply, src).await;
            }
            Err(None) => {}
        }
    }
}

/// Accepts SIP over TCP under the connection caps: a connection over a cap is closed at once.
async fn tcp_acceptor(
    listener: TcpListener,
    inlet: Inlet,
    conns: Conns,
    metrics: Arc<SipMetrics>,
    (limits, table): (ConnLimits, Arc<ConnTable>),
) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let Some(guard) = table.admit(peer.ip(), &limits) else {
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let accepted = Accepted { guard, limits };
                spawn_connection(
                    stream,
                    peer,
                    inlet.clone(),
                    conns.clone(),
                    metrics.clone(),
                    Some(accepted),
                );
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

fn spawn_connection(
    stream: TcpStream,
    peer: SocketAddr,
    inlet: Inlet,
    conns: Conns,
    metrics: Arc<SipMetrics>,
    accepted: Option<Accepted>,
) -> mpsc::UnboundedSender<Bytes> {
    let (mut rd, mut wr) = stream.into_split();
    let (wtx, mut wrx) = mpsc::unbounded_channel::<Bytes>();
    conns.lock().expect("conns").insert(peer, wtx.clone());
    let writer_tx = wtx.clone();
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
        let from = Peer {
            addr: peer,
            transport: TransportKind::Tcp,
        };
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
                        debug!(%peer, "closing a TCP connection that sent nothing in time");
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
                        debug!(%peer, error = %e, "closing TCP connection on framing error");
                        metrics.malformed.fetch_add(1, Ordering::Relaxed);
                        metrics.malformed_dropped.fetch_add(1, Ordering::Relaxed);
                        break 'conn;
                    }
                }
            }
        }
        conns.lock().expect("conns").remove(&peer);
    });
    wtx
}

#[allow(clippy::too_many_arguments)]
async fn core_task(
    mut core: SipCore,
    udp: Arc<UdpSocket>,
    mut in_rx: mpsc::Receiver<Inbound>,
    mut cmd_rx: mpsc::UnboundedReceiver<Command>,
    mut dir_rx: mpsc::UnboundedReceiver<DirectoryChange>,
    conns: Conns,
    store_tx: mpsc::UnboundedSender<WriterMsg>,
    metrics: Arc<SipMetrics>,
    mut media_events: MediaEvents,
    inlet: Inlet,
    clock: Arc<dyn Clock>,
) {
    let mut housekeeping = tokio::time::interval(std::time::Duration::from_secs(1));
    let mut browsers: HashMap<u64, mpsc::UnboundedSender<crate::b2bua::BrowserSignal>> =
        HashMap::new();
    loop {
        let deadline = core.poll_timeout();
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            m = in_rx.recv() => {
                let Some(m) = m else { return };
                // Directory changes made before this message came go first.
                while let Ok(change) = dir_rx.try_recv() {
                    core.change_directory(change);
                }
                let t = clock.now();
                core.handle_message(t.at, t.unix_ms, m.msg, m.from);
                // Take whatever else is queued before flushing (batching under load).
                for _ in 0..256 {
                    match in_rx.try_recv() {
                        Ok(m) => {
                            let t = clock.now();
                            core.handle_message(t.at, t.unix_ms, m.msg, m.from);
                        }
                        Err(_) => break,
                    }
                }
            }
            c = cmd_rx.recv() => match c {
                Some(Command::Drain) => core.start_draining(),
                Some(Command::EndAll) => {
                    let t = clock.now();
                    core.handle_timeout(t.at, t.unix_ms);
                    core.end_all_calls(t.at, ringside_domain::EndReason::ServerShutdown);
                }
                Some(Command::ActiveCalls(tx)) => { let _ = tx.send(core.active_calls()); }
                Some(Command::FlushStorage(tx)) => { let _ = store_tx.send(WriterMsg::Flush(tx)); }
                Some(Command::BrowserCall(call, signals)) => {
                    browsers.insert(call.session, signals);
                    let t = clock.now();
                    core.handle_timeout(t.at, t.unix_ms);
                    core.browser_call(t.at, call);
                }
                Some(Command::BrowserAccept(answer, signals)) => {
                    browsers.insert(answer.session, signals);
                    let t = clock.now();
                    core.handle_timeout(t.at, t.unix_ms);
                    core.browser_accept(t.at, answer);
                }
                Some(Command::BrowserHold(session, on)) => core.browser_hold(session, on),
                Some(Command::BrowserRtt(session, rtt)) => core.browser_rtt(session, rtt),
                Some(Command::ConsoleAccept(answer, signals)) => {
                    browsers.insert(answer.session, signals);
                    let t = clock.now();
                    core.handle_timeout(t.at, t.unix_ms);
                    core.console_accept(t.at, answer);
                }
                Some(Command::BrowserDecline(call_id, target)) => {
                    let t = clock.now();
                    core.handle_timeout(t.at, t.unix_ms);
                    core.browser_decline(t.at, &call_id, &target);
                }
                Some(Command::BrowserMediaFailed(session)) => {
                    let t = clock.now();
                    core.handle_timeout(t.at, t.unix_ms);
                    core.browser_media_failed(t.at, session);
                }
                Some(Command::BrowserHangup(session)) => {
                    let t = clock.now();
                    core.handle_timeout(t.at, t.unix_ms);
                    core.browser_hangup(t.at, session);
                    browsers.remove(&session);
                }
                None => {}
            },
            Some(change) = dir_rx.recv() => core.change_directory(change),
            Some((key, ev)) = media_events.recv() => {
                let t = clock.now();
                core.handle_timeout(t.at, t.unix_ms);
                core.media_event(t.at, key, ev);
            }
            _ = sleep => {
                let t = clock.now();
                core.handle_timeout(t.at, t.unix_ms);
            }
            _ = housekeeping.tick() => {
                let t = clock.now();
                core.handle_timeout(t.at, t.unix_ms);
            }
        }
        while let Some(o) = core.poll_output() {
            match o {
                CoreOutput::Transmit { to, data } => {
                    transmit(&udp, &conns, &inlet, &metrics, to, data).await
                }
                CoreOutput::Browser { session, signal } => {
                    let end = matches!(signal, crate::b2bua::BrowserSignal::Ended { .. });
                    if let Some(tx) = browsers.get(&session) {
                        let _ = tx.send(signal);
                    }
                    if end {
                        browsers.remove(&session);
                    }
                }
                other => {
                    let _ = store_tx.send(WriterMsg::Out(other));
                }
            }
        }
    }
}

async fn transmit(
    udp: &UdpSocket,
    conns: &Conns,
    inlet: &Inlet,
    metrics: &Arc<SipMetrics>,
    to: Peer,
    data: Bytes,
) {
    match to.transport {
        TransportKind::Udp => {
            if let Err(e) = udp.try_send_to(&data, to.addr) {
                if e.kind() == std::io::ErrorKind::WouldBlock {
                    let _ = udp.send_to(&data, to.addr).await;
                } else {
                    debug!(to = %to.addr, error = %e, "udp send");
                }
            }
        }
        TransportKind::Tcp => {
            let existing = conns.lock().expect("conns").get(&to.addr).cloned();
            match existing {
                Some(w) if w.send(data.clone()).is_ok() => {}
                _ => {
                    // Connect out (e.g. to a TCP trunk) and reuse the connection afterwards.
                    let (conns, inlet, metrics) = (conns.clone(), inlet.clone(), metrics.clone());
                    tokio::spawn(async move {
                        match TcpStream::connect(to.addr).await {
                            Ok(s) => {
                                let _ = s.set_nodelay(true);
                                let w = spawn_connection(s, to.addr, inlet, conns, metrics, None);
                                let _ = w.send(data);
                            }
                            Err(e) => debug!(to = %to.addr, error = %e, "tcp connect"),
                        }
                    });
                }
            }
        }
    }
}

/// What the storage writer publishes once the records before it are stored, in the order the
/// core decided it.
enum Publish {
    /// A call event (bus and webhook outbox).
    Event(crate::events::CallEvent),
    /// A call rings (or stopped ringing) a visitor's browser or the console operators.
    Ring(crate::b2bua::BrowserRing),
}

/// Writes registrations and call records, batching call records into one transaction, then
/// publishes what follows from them (call events onto the bus and into the webhook outbox,
/// browser rings): the one outbox writer of the call core.
async fn storage_writer(
    store: Store,
    mut rx: mpsc::UnboundedReceiver<WriterMsg>,
    bus: Arc<Bus>,
    metrics: Arc<SipMetrics>,
    clock: Arc<dyn Clock>,
) {
    let mut inserts = Vec::new();
    let mut updates = Vec::new();
    let mut tracker = crate::events::CallEvents::default();
    let mut subs = Subscriptions::default();
    let mut events = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < 512 {
            match rx.try_recv() {
                Ok(o) => batch.push(o),
                Err(_) => break,
            }
        }
        let mut acks = Vec::new();
        for m in batch {
            let o = match m {
                WriterMsg::Out(o) => o,
                WriterMsg::Flush(tx) => {
                    acks.push(tx);
                    continue;
                }
            };
            match o {
                CoreOutput::Binding(BindingChange::Upsert(b)) => {
                    flush(&store, &mut inserts, &mut updates, &metrics).await;
                    let sb = ringside_storage::Binding {
                        extension_id: b.account_id,
                        contact_uri: b.contact,
                        source_addr: b.source.to_string(),
                        transport: match b.transport {
                            TransportKind::Udp => "udp".into(),
                            TransportKind::Tcp => "tcp".into(),
                        },
                        expires_at: b.expires_at,
                        call_id: b.call_id,
                        cseq: i64::from(b.cseq),
                        user_agent: b.user_agent,
                        updated_at: clock.now().unix_ms,
                    };
                    if let Err(e) = store.upsert_binding(&sb).await {
                        warn!(error = %e, "persisting registration");
                    }
                }
                CoreOutput::Binding(BindingChange::Remove {
                    account_id,
                    contact,
                }) => {
                    flush(&store, &mut inserts, &mut updates, &metrics).await;
                    if let Err(e) = store.remove_binding(&account_id, &contact).await {
                        warn!(error = %e, "removing registration");
                    }
                }
                CoreOutput::InsertCall(c) => {
                    events.extend(tracker.observe(&c).into_iter().map(Publish::Event));
                    inserts.push(c);
                }
                // A ring is published after the call it rings for is stored: whoever it
                // reaches can read the call back.
                CoreOutput::BrowserRing(r) => events.push(Publish::Ring(r)),
                // Routed to the browsers by the core task.
                CoreOutput::Browser { .. } => {}
                CoreOutput::UpdateCall(c) => {
                    events.extend(tracker.observe(&c).into_iter().map(Publish::Event));
                    // An update of a call not yet inserted must follow its insert.
                    if inserts.iter().any(|i| i.id == c.id) {
                        if let Some(i) = inserts.iter_mut().find(|i| i.id == c.id) {
                            *i = c;
                        }
                    } else if let Some(u) = updates
                        .iter_mut()
                        .find(|u: &&mut ringside_storage::CallRecord| u.id == c.id)
                    {
                        *u = c;
                    } else {
                        updates.push(c);
                    }
                }
                CoreOutput::Transmit { .. } => {}
            }
        }
        flush(&store, &mut inserts, &mut updates, &metrics).await;
        // After the records: a receiver may read the call back.
        for p in events.drain(..) {
            let e = match p {
                Publish::Event(e) => e,
                Publish::Ring(r) => {
                    crate::publish::browser_ring(&bus, &r, clock.now().unix_ms);
                    continue;
                }
            };
            // Realtime listeners (dashboards); none is fine.
            crate::publish::call_event(&bus, &e, clock.now().unix_ms);
            if subs.wants(&store, &e.tenant_id, e.kind).await {
                if let Err(err) = store
                    .enqueue_webhook_event(&e.tenant_id, e.kind, None, &e.data)
                    .await
                {
                    warn!(error = %err, event = e.kind, "queueing a call webhook event");
                }
            }
        }
        for tx in acks {
            let _ = tx.send(());
        }
    }
}

/// Which call events each tenant's webhooks take, re-read every few seconds, so that calls of
/// tenants without such webhooks cost no outbox work.
#[derive(Default)]
struct Subscriptions {
    by_tenant: HashMap<String, (Instant, Vec<String>)>,
}

impl Subscriptions {
    const TTL: std::time::Duration = std::time::Duration::from_secs(5);

    async fn wants(&mut self, store: &Store, tenant: &str, kind: &str) -> bool {
        let fresh = self
            .by_tenant
            .get(tenant)
            .is_some_and(|(at, _)| at.elapsed() < Self::TTL);
        if !fresh {
            let kinds = match store.list_webhooks(tenant).await {
                Ok(list) => list
                    .into_iter()
                    .filter(|w| w.enabled)
                    .flat_map(|w| w.events)
                    .filter(|e| e.starts_with("call."))
                    .collect(),
                Err(e) => {
                    warn!(error = %e, "reading webhooks for call events");
                    return false;
                }
            };
            if self.by_tenant.len() > 10_000 {
                self.by_tenant.clear();
            }
            self.by_tenant
                .insert(tenant.to_owned(), (Instant::now(), kinds));
        }
        self.by_tenant
            .get(tenant)
            .is_some_and(|(_, k)| k.iter().any(|e| e == kind))
    }
}

async fn flush(
    store: &Store,
    inserts: &mut Vec<ringside_storage::CallRecord>,
    updates: &mut Vec<ringside_storage::CallRecord>,
    metrics: &SipMetrics,
) {
    if !inserts.is_empty() {
        if let Err(e) = store.insert_calls_batch(inserts).await {
            warn!(error = %e, n = inserts.len(), "writing call records; retrying one by one");
            write_each(store, inserts, metrics).await;
        }
        inserts.clear();
    }
    if !updates.is_empty() {
        if let Err(e) = store.update_calls_batch(updates).await {
            warn!(error = %e, n = updates.len(), "updating call records; retrying one by one");
            write_each(store, updates, metrics).await;
        }
        updates.clear();
    }
}

/// After a batch failed: upsert each record on its own (so one bad record cannot take the
/// others with it), a few times with a pause, then count and log what still fails.
async fn write_each(store: &Store, records: &[ringside_storage::CallRecord], metrics: &SipMetrics) {
    use std::sync::atomic::Ordering::Relaxed;
    for c in records {
        let mut last = None;
        for attempt in 0..3u64 {
            metrics.record_write_retries.fetch_add(1, Relaxed);
            match store.update_calls_batch(std::slice::from_ref(c)).await {
                Ok(()) => {
                    last = None;
                    break;
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(std::time::Duration::from_millis(50 << (2 * attempt))).await;
        }
        if let Some(e) = last {
            metrics.record_write_failures.fetch_add(1, Relaxed);
            tracing::error!(call_id = %c.id, tenant = %c.tenant_id, error = %e, "call record lost: could not be stored");
        }
    }
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
