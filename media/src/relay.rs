//! The media driver and the engine that creates relays.
//!
//! A [`Relay`] owns four UDP sockets: RTP and RTCP for leg A and for leg B. All decisions
//! (latching, passthrough or transcoding, players, recording, DTMF) live in the call's sans-IO
//! [`CallMedia`]; the driver only moves datagrams and time in and out of it.
//!
//! The driver is a few dedicated media worker threads (see [`MediaEngine::with_workers`]), started
//! on the first [`MediaEngine::create_relay`]. Each owns a `mio` poll (epoll) over the sockets of
//! the calls it was given (round-robin), one set of receive buffers, and a timer heap fed from
//! [`CallMedia::poll_timeout`] (players, the recording tick, RTCP, DTMF ends). A readable socket
//! is drained with `recvmmsg` ([`crate::udp::RecvBatch`]; one call, as a short batch shows the
//! queue is empty); each datagram goes through [`CallMedia::handle_rtp`] (which
//! rewrites it in place) or [`CallMedia::handle_rtcp`] and is sent on from the right socket,
//! followed by whatever the call queued ([`CallMedia::poll_transmit`]). Control calls on the
//! [`Relay`] are commands to its worker; they are handled before the packets of the same wake-up.
//! Dropping the `Relay` stops the call on its worker, finishes a running recording and returns
//! the ports. No tokio runtime is needed; events go out on a tokio channel.

use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use std::{cmp::Reverse, thread};

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use tokio::sync::mpsc;

use crate::bridge::{
    CallMedia, Channel, Dropped, Forward, FrameSink, LegCodec, LegQuality, MediaEvent,
};
use crate::codec::opus::EncoderOptions;
use crate::dtls::DtlsSetup;
use crate::fastpath::FastPath;
use crate::player::Source;
use crate::ports::PortAllocator;
use crate::srtp::SrtpKeys;
use crate::udp::RecvBatch;

mod offload;
use crate::MediaError;
use offload::Offloaded;

/// One side of a two-leg bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The leg towards the caller.
    A,
    /// The leg towards the callee.
    B,
}

/// Counters shared by all relays of an engine.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// Packets forwarded from one leg to the other (RTP and RTCP).
    pub forwarded: AtomicU64,
    /// Packets Ringside generated (transcoded audio, players, RTCP reports).
    pub generated: AtomicU64,
    /// Packets dropped because they came from an unexpected source.
    pub dropped_foreign: AtomicU64,
    /// Packets dropped because the other leg has no destination yet.
    pub dropped_no_destination: AtomicU64,
    /// Packets dropped because they were not valid RTP/RTCP.
    pub dropped_malformed: AtomicU64,
    /// SRTP/SRTCP packets dropped for failing authentication or replay checks.
    pub dropped_srtp: AtomicU64,
    /// Packets from a leg that must be encrypted, dropped before its keys were known.
    pub dropped_awaiting_keys: AtomicU64,
    /// Packets (forwarded or generated) dropped because the sending socket's buffer was full.
    pub dropped_send_full: AtomicU64,
    /// Relays currently running.
    pub active: AtomicU64,
    /// Relays currently transcoding.
    pub transcoding: AtomicU64,
    /// Recordings currently running.
    pub recording: AtomicU64,
    /// DTMF digits detected in RFC 4733 telephone-events.
    pub dtmf_digits: AtomicU64,
    /// DTLS-SRTP handshakes completed on SIP legs (each media component counts).
    pub dtls_handshakes: AtomicU64,
    /// SRTP packets sent on as they came (SRTP passthrough: keys passed end to end).
    pub srtp_passthrough: AtomicU64,
    /// Calls whose media the kernel fast path forwards now.
    pub offloaded: AtomicU64,
    /// Times a call's media was handed to the kernel.
    pub offloads: AtomicU64,
    /// Times a call's media was taken back from the kernel (hold, a new source, DTMF...).
    pub reclaims: AtomicU64,
}

/// Creates relays on ports from the configured range.
#[derive(Debug, Clone)]
pub struct MediaEngine {
    bind_ip: IpAddr,
    ports: Arc<PortAllocator>,
    stats: Arc<RelayStats>,
    encoder_options: EncoderOptions,
    workers: usize,
    pool: Arc<WorkerPool>,
    fast: Option<Arc<FastPath>>,
}

/// The media worker threads of an engine (and its clones), started on the first relay.
#[derive(Debug, Default)]
struct WorkerPool {
    started: Mutex<Vec<Arc<WorkerHandle>>>,
    next: AtomicUsize,
    next_id: AtomicU64,
}

/// The way into one media worker thread. The thread stops when the last handle (held by the
/// engine and by each of the worker's relays) is dropped.
#[derive(Debug)]
struct WorkerHandle {
    tx: std_mpsc::Sender<Command>,
    waker: Waker,
}

impl WorkerHandle {
    fn send(&self, c: Command) -> Result<(), Command> {
        self.tx.send(c).map_err(|e| e.0)?;
        // A failed wake leaves the command queued until the worker's next wake-up.
        let _ = self.waker.wake();
        Ok(())
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        let _ = self.send(Command::Shutdown);
    }
}

enum Command {
    NewCall(Box<Call>),
    Control(u64, Control),
    Close(u64),
    Shutdown,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::NewCall(c) => write!(f, "NewCall({})", c.id),
            Command::Control(id, c) => write!(f, "Control({id}, {c:?})"),
            Command::Close(id) => write!(f, "Close({id})"),
            Command::Shutdown => write!(f, "Shutdown"),
        }
    }
}

enum Control {
    Announce(Side, SocketAddr),
    Pin(Side, SocketAddr),
    Codec(Side, LegCodec),
    Play(Side, Box<dyn Source>),
    StopPlay(Side),
    Record(Box<dyn FrameSink>),
    StopRecording,
    Srtp(Side, Option<SrtpKeys>),
    ExpectSrtp(Side),
    Dtls(Side, Option<DtlsSetup>),
}

/// A running relay between two legs. Dropping it stops the relay and frees its ports.
#[derive(Debug)]
pub struct Relay {
    a_port: u16,
    b_port: u16,
    id: u64,
    worker: Arc<WorkerHandle>,
    events: Option<mpsc::UnboundedReceiver<MediaEvent>>,
    quality: Arc<Mutex<[LegQuality; 2]>>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Control::Announce(s, a) => write!(f, "Announce({s:?}, {a})"),
            Control::Pin(s, a) => write!(f, "Pin({s:?}, {a})"),
            Control::Codec(s, c) => write!(f, "Codec({s:?}, {c:?})"),
            Control::Play(s, _) => write!(f, "Play({s:?})"),
            Control::StopPlay(s) => write!(f, "StopPlay({s:?})"),
            Control::Record(_) => write!(f, "Record"),
            Control::StopRecording => write!(f, "StopRecording"),
            Control::Srtp(s, k) => write!(f, "Srtp({s:?}, {k:?})"),
            Control::ExpectSrtp(s) => write!(f, "ExpectSrtp({s:?})"),
            Control::Dtls(s, d) => write!(f, "Dtls({s:?}, {d:?})"),
        }
    }
}

impl MediaEngine {
    /// An engine binding media sockets on `bind_ip` within `ports`.
    pub fn new(bind_ip: IpAddr, ports: RangeInclusive<u16>) -> Self {
        MediaEngine {
            bind_ip,
            ports: Arc::new(PortAllocator::new(ports)),
            stats: Arc::new(RelayStats::default()),
            encoder_options: EncoderOptions::default(),
            workers: thread::available_parallelism().map_or(2, |n| n.get().min(4)),
            pool: Arc::new(WorkerPool::default()),
            fast: None,
        }
    }

    /// Hands calls' established passthrough media to the kernel fast path. Takes effect if
    /// set before the first relay is created.
    pub fn with_fast_path(mut self, fast: Arc<FastPath>) -> Self {
        self.fast = Some(fast);
        self
    }

    /// The kernel fast path, when the engine uses one.
    pub fn fast_path(&self) -> Option<&Arc<FastPath>> {
        self.fast.as_ref()
    }

    /// Options for the encoders of transcoded calls and players (Opus complexity, FEC).
    pub fn with_encoder_options(mut self, options: EncoderOptions) -> Self {
        self.encoder_options = options;
        self
    }

    /// How many media worker threads carry the relays (at least 1; default: the available
    /// parallelism, at most 4). Takes effect if set before the first relay is created.
    pub fn with_workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// Counters over all relays.
    pub fn stats(&self) -> &RelayStats {
        &self.stats
    }

    /// Free port pairs left.
    pub fn ports_available(&self) -> usize {
        self.ports.available()
    }

    /// Allocate ports for both legs and start relaying on one of the engine's media worker
    /// threads (started on first use). Works inside or outside a tokio runtime.
    pub fn create_relay(&self) -> Result<Relay, MediaError> {
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let mut r = self.start_relay(EventSink::Own(ev_tx))?;
        r.events = Some(ev_rx);
        Ok(r)
    }

    /// As [`Self::create_relay`], with the relay's events sent to `events` tagged with `tag`
    /// (one channel for many relays, e.g. the call controller's).
    pub fn create_relay_tagged(
        &self,
        events: mpsc::UnboundedSender<(u64, MediaEvent)>,
        tag: u64,
    ) -> Result<Relay, MediaError> {
        self.start_relay(EventSink::Tagged(events, tag))
    }

    fn start_relay(&self, events: EventSink) -> Result<Relay, MediaError> {
        let worker = self.pick_worker()?;
        let (a_port, a_rtp, a_rtcp) = self.bind_pair()?;
        let (b_port, b_rtp, b_rtcp) = match self.bind_pair() {
            Ok(x) => x,
            Err(e) => {
                drop((a_rtp, a_rtcp));
                self.ports.give_back(a_port);
                return Err(e);
            }
        };
        let quality = Arc::new(Mutex::new([LegQuality::default(); 2]));
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ (u64::from(a_port) << 32)
            ^ u64::from(b_port);
        let mut media = CallMedia::new(Instant::now(), SystemTime::now(), seed);
        media.set_encoder_options(self.encoder_options);
        let id = self.pool.next_id.fetch_add(1, Ordering::Relaxed);
        let call = Box::new(Call {
            id,
            ports: [a_port, b_port],
            socks: [a_rtp, a_rtcp, b_rtp, b_rtcp],
            media,
            events,
            quality: quality.clone(),
            transcoding: false,
            recording: false,
            armed: None,
            snapshot_due: None,
            v6: self.bind_ip.is_ipv6(),
            ip: self.bind_ip,
            offload: None,
            offload_check: Instant::now(),
            sync_due: None,
        });
        self.stats.active.fetch_add(1, Ordering::Relaxed);
        if let Err(c) = worker.send(Command::NewCall(call)) {
            // The worker thread is gone (it panicked): close the sockets, free the ports.
            drop(c);
            self.ports.give_back(a_port);
            self.ports.give_back(b_port);
            self.stats.active.fetch_sub(1, Ordering::Relaxed);
            return Err(MediaError::Io(io::Error::other("media worker stopped")));
        }
        Ok(Relay {
            a_port,
            b_port,
            id,
            worker,
            events: None,
            quality,
        })
    }

    /// The next worker, round-robin; starts the workers on first use.
    fn pick_worker(&self) -> Result<Arc<WorkerHandle>, MediaError> {
        let mut started = self.pool.started.lock().unwrap_or_else(|e| e.into_inner());
        if started.is_empty() {
            for i in 0..self.workers {
                started.push(start_worker(
                    i,
                    self.ports.clone(),
                    self.stats.clone(),
                    self.fast.clone(),
                )?);
            }
        }
        let n = self.pool.next.fetch_add(1, Ordering::Relaxed);
        Ok(started[n % started.len()].clone())
    }

    fn bind_pair(&self) -> Result<(u16, UdpSocket, UdpSocket), MediaError> {
        // A port may be held by another process; try a bounded number of pairs.
        for _ in 0..64 {
            let port = self.ports.take().ok_or(MediaError::PortsExhausted)?;
            match (self.bind(port), self.bind(port + 1)) {
                (Ok(rtp), Ok(rtcp)) => return Ok((port, rtp, rtcp)),
                _ => self.ports.give_back(port),
            }
        }
        Err(MediaError::PortsExhausted)
    }

    fn bind(&self, port: u16) -> Result<UdpSocket, MediaError> {
        let s = std::net::UdpSocket::bind(SocketAddr::new(self.bind_ip, port))?;
        s.set_nonblocking(true)?;
        Ok(UdpSocket::from_std(s))
    }
}

impl Relay {
    /// The RTP port leg A's peer sends to (goes into the SDP towards leg A).
    pub fn port(&self, side: Side) -> u16 {
        match side {
            Side::A => self.a_port,
            Side::B => self.b_port,
        }
    }

    fn control(&self, c: Control) {
        let _ = self.worker.send(Command::Control(self.id, c));
    }

    /// Tell the relay where a leg's peer said (in SDP) it receives RTP. RTCP is assumed on the
    /// next port up until the peer's RTCP latches.
    pub fn announce(&self, side: Side, rtp: SocketAddr) {
        self.control(Control::Announce(side, rtp));
    }

    /// `side` exchanges media with `rtp` only, from now on (no latching on another source).
    pub fn pin(&self, side: Side, rtp: SocketAddr) {
        self.control(Control::Pin(side, rtp));
    }

    /// The codec `side` negotiated (from the SDP answer). Legs with different codecs are
    /// transcoded; legs with the same codec pass through.
    pub fn set_codec(&self, side: Side, codec: LegCodec) {
        self.control(Control::Codec(side, codec));
    }

    /// Use SRTP with `keys` on `side` (`None`: plain RTP). Keys the leg already uses keep its
    /// running contexts.
    pub fn set_srtp(&self, side: Side, keys: Option<SrtpKeys>) {
        self.control(Control::Srtp(side, keys));
    }

    /// Keys `side` by DTLS-SRTP on its own ports (`None`: no longer); see [`crate::dtls`].
    pub fn set_dtls(&self, side: Side, setup: Option<DtlsSetup>) {
        self.control(Control::Dtls(side, setup));
    }

    /// `side` must be encrypted: drop what it sends until [`set_srtp`](Self::set_srtp).
    pub fn expect_srtp(&self, side: Side) {
        self.control(Control::ExpectSrtp(side));
    }

    /// Play `source` (PCM at [`crate::bridge::BRIDGE_RATE`]) into `side` instead of the other
    /// leg's media, until it ends or [`stop_play`](Self::stop_play).
    pub fn play(&self, side: Side, source: Box<dyn Source>) {
        self.control(Control::Play(side, source));
    }

    /// Stop the player on `side`.
    pub fn stop_play(&self, side: Side) {
        self.control(Control::StopPlay(side));
    }

    /// Record both legs into `sink` (left: A, right: B).
    pub fn record(&self, sink: Box<dyn FrameSink>) {
        self.control(Control::Record(sink));
    }

    /// Stop recording; the sink is finished.
    pub fn stop_recording(&self) {
        self.control(Control::StopRecording);
    }

    /// The stream of media events (DTMF, playback finished); can be taken once.
    pub fn take_events(&mut self) -> Option<mpsc::UnboundedReceiver<MediaEvent>> {
        self.events.take()
    }

    /// Quality of both legs (A, B) as of the last second.
    pub fn quality(&self) -> [LegQuality; 2] {
        *self.quality.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.worker.send(Command::Close(self.id));
    }
}

/// The waker's token; socket tokens are `slot * 4 + socket index`.
const WAKER: Token = Token(usize::MAX);
/// Quality is published at most every SNAPSHOT after activity, so the controller reads figures
/// no older than that when a call ends.
const SNAPSHOT: Duration = Duration::from_millis(250);
/// One datagram; a larger one is truncated (and then fails RTP/RTCP parsing).
const RECV_BUF: usize = 1500;
/// Datagrams one `recvmmsg` takes from a socket. A leg sends 50 packets/s, so more than a few
/// queue only after a stall; the batch mostly saves the read that finds the queue empty.
const RECV_BATCH: usize = 8;
/// Receive errors other than would-block (ICMP port unreachable reported on the socket) tolerated
/// in one drain of a socket; every new datagram brings a new readiness event.
const MAX_RECV_ERRORS: usize = 16;

fn start_worker(
    i: usize,
    ports: Arc<PortAllocator>,
    stats: Arc<RelayStats>,
    fast: Option<Arc<FastPath>>,
) -> Result<Arc<WorkerHandle>, MediaError> {
    let poll = Poll::new()?;
    let waker = Waker::new(poll.registry(), WAKER)?;
    let (tx, rx) = std_mpsc::channel();
    let worker = Worker {
        poll,
        commands: rx,
        ports,
        stats,
        fast,
        calls: Vec::new(),
        free: Vec::new(),
        freed: Vec::new(),
        ids: HashMap::new(),
        timers: BinaryHeap::new(),
        due: Vec::new(),
        batch: RecvBatch::new(RECV_BATCH, RECV_BUF),
    };
    thread::Builder::new()
        .name(format!("ringside-media-{i}"))
        .spawn(move || worker.run())?;
    Ok(Arc::new(WorkerHandle { tx, waker }))
}

/// Where a relay's events go.
enum EventSink {
    /// The relay's own channel ([`Relay::take_events`]).
    Own(mpsc::UnboundedSender<MediaEvent>),
    /// A channel shared by many relays, with this relay's tag.
    Tagged(mpsc::UnboundedSender<(u64, MediaEvent)>, u64),
}

impl EventSink {
    fn send(&self, e: MediaEvent) {
        match self {
            EventSink::Own(tx) => {
                let _ = tx.send(e);
            }
            EventSink::Tagged(tx, tag) => {
                let _ = tx.send((*tag, e));
            }
        }
    }
}

/// One call on a worker. Socket index: 0 = A RTP, 1 = A RTCP, 2 = B RTP, 3 = B RTCP.
struct Call {
    id: u64,
    /// The RTP ports of legs A and B (RTCP one up), given back when the call closes.
    ports: [u16; 2],
    socks: [UdpSocket; 4],
    media: CallMedia,
    events: EventSink,
    quality: Arc<Mutex<[LegQuality; 2]>>,
    transcoding: bool,
    recording: bool,
    /// The deadline this call has in the worker's timer heap (older entries are stale).
    armed: Option<Instant>,
    snapshot_due: Option<Instant>,
    /// The sockets are IPv6 (an IPv4 peer of a dual-stack socket is sent to IPv4-mapped).
    v6: bool,
    /// The address the sockets are bound to.
    ip: IpAddr,
    /// The media is in the kernel fast path.
    offload: Option<Offloaded>,
    /// Not handed to the kernel before this (checked at most every [`offload::OFFLOAD_CHECK`]; held
    /// back for [`offload::OFFLOAD_HOLD`] after being taken back).
    offload_check: Instant,
    /// When the kernel's counters are next read into the call.
    sync_due: Option<Instant>,
}

/// A media worker thread: polls the sockets of its calls and runs their timers.
struct Worker {
    poll: Poll,
    commands: std_mpsc::Receiver<Command>,
    ports: Arc<PortAllocator>,
    stats: Arc<RelayStats>,
    fast: Option<Arc<FastPath>>,
    calls: Vec<Option<Box<Call>>>,
    /// Slots free for new calls.
    free: Vec<usize>,
    /// Slots closed during the current wake-up: free from the next one, so that events of this
    /// wake-up naming them find no call.
    freed: Vec<usize>,
    /// Relay id to slot, for commands.
    ids: HashMap<u64, usize>,
    /// (deadline, slot, call id); an entry is live only if the call there has that id and
    /// `armed` deadline.
    timers: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    due: Vec<(Instant, usize, u64)>,
    /// The receive buffers shared by all calls of the worker.
    batch: RecvBatch,
}

impl Worker {
    fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = self
                .timers
                .peek()
                .map(|Reverse((at, _, _))| at.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    tracing::error!(error = %e, "media worker: poll failed");
                    thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            let now = Instant::now();
            // Commands first: an address announcement must not lose the race against the first
            // packet waiting for it.
            if !self.commands(now) {
                break;
            }
            for ev in events.iter() {
                let t = ev.token();
                if t != WAKER {
                    self.readable(now, t.0 / 4, t.0 % 4);
                }
            }
            self.fire_timers(now);
            self.free.append(&mut self.freed);
        }
        for slot in 0..self.calls.len() {
            self.close(slot);
        }
    }

    /// Handles queued commands; false when the worker must stop.
    fn commands(&mut self, now: Instant) -> bool {
        loop {
            match self.commands.try_recv() {
                Ok(Command::NewCall(call)) => self.insert(call),
                Ok(Command::Control(id, c)) => {
                    if let Some(&slot) = self.ids.get(&id) {
                        // Whatever changes, the call is looked at again in userspace first.
                        self.with_call(now, slot, |call, stats, _, fast| {
                            call.reclaim(now, fast, stats);
                            call.control(now, c, stats);
                            call.after_input(stats);
                        });
                    }
                }
                Ok(Command::Close(id)) => {
                    if let Some(&slot) = self.ids.get(&id) {
                        self.close(slot);
                    }
                }
                Ok(Command::Shutdown) | Err(std_mpsc::TryRecvError::Disconnected) => return false,
                Err(std_mpsc::TryRecvError::Empty) => return true,
            }
        }
    }

    fn insert(&mut self, mut call: Box<Call>) {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.calls.push(None);
            self.calls.len() - 1
        });
        let registry = self.poll.registry();
        for i in 0..4 {
            if let Err(e) =
                registry.register(&mut call.socks[i], Token(slot * 4 + i), Interest::READABLE)
            {
                tracing::error!(error = %e, "media worker: cannot poll a media socket; call dropped");
                for s in &mut call.socks[..i] {
                    let _ = registry.deregister(s);
                }
                release(call, &self.ports, &self.stats);
                self.free.push(slot);
                return;
            }
        }
        self.ids.insert(call.id, slot);
        self.calls[slot] = Some(call);
        self.rearm(slot);
    }

    /// Runs `f` on the call in `slot`, then hands its media to the kernel when it can; a
    /// panic closes that call only.
    fn with_call(
        &mut self,
        now: Instant,
        slot: usize,
        f: impl FnOnce(&mut Call, &RelayStats, &mut RecvBatch, Option<&FastPath>),
    ) {
        let Some(Some(call)) = self.calls.get_mut(slot) else {
            return;
        };
        let (stats, buf, fast) = (&*self.stats, &mut self.batch, self.fast.as_deref());
        if catch_unwind(AssertUnwindSafe(|| {
            f(call, stats, buf, fast);
            if let Some(fast) = fast {
                call.try_offload(now, fast, stats);
            }
        }))
        .is_err()
        {
            tracing::error!(slot, "media worker: a call's media panicked; call closed");
            self.close(slot);
        } else {
            self.rearm(slot);
        }
    }

    fn readable(&mut self, now: Instant, slot: usize, sock: usize) {
        self.with_call(now, slot, |call, stats, buf, fast| {
            call.drain(now, sock, buf, stats, fast)
        });
    }

    /// Queues the call's next deadline in the timer heap if it changed.
    fn rearm(&mut self, slot: usize) {
        let Some(Some(call)) = self.calls.get_mut(slot) else {
            return;
        };
        let deadline = earliest(
            earliest(call.media.poll_timeout(), call.snapshot_due),
            call.sync_due,
        );
        if deadline != call.armed {
            call.armed = deadline;
            if let Some(at) = deadline {
                self.timers.push(Reverse((at, slot, call.id)));
            }
        }
    }

    fn fire_timers(&mut self, now: Instant) {
        // Collect first: a deadline re-armed at or before `now` fires on the next wake-up.
        while let Some(&Reverse(entry)) = self.timers.peek() {
            if entry.0 > now {
                break;
            }
            self.timers.pop();
            self.due.push(entry);
        }
        let mut due = std::mem::take(&mut self.due);
        for (at, slot, id) in due.drain(..) {
            // Stale entries (a closed call, a moved deadline) are skipped.
            match self.calls.get_mut(slot) {
                Some(Some(c)) if c.id == id && c.armed == Some(at) => c.armed = None,
                _ => continue,
            }
            self.with_call(now, slot, |call, stats, _, fast| {
                call.timeout(now, stats, fast)
            });
        }
        self.due = due;
    }

    /// Stops the call in `slot`: finishes its recording, publishes its last quality, frees
    /// its sockets and ports.
    fn close(&mut self, slot: usize) {
        let Some(Some(mut call)) = self.calls.get_mut(slot).map(Option::take) else {
            return;
        };
        self.ids.remove(&call.id);
        let stats = &*self.stats;
        let fast = self.fast.as_deref();
        if catch_unwind(AssertUnwindSafe(|| {
            // The kernel's rules go first (nothing left behind) with their last counts.
            call.reclaim(Instant::now(), fast, stats);
            call.media.close();
            call.snapshot();
        }))
        .is_err()
        {
            tracing::error!(slot, "media worker: a call's media panicked while closing");
        }
        call.set_gauges(false, false, stats);
        let registry = self.poll.registry();
        for s in &mut call.socks {
            let _ = registry.deregister(s);
        }
        release(call, &self.ports, &self.stats);
        self.freed.push(slot);
    }
}

/// Closes the call's sockets, then gives its ports back.
fn release(call: Box<Call>, ports: &PortAllocator, stats: &RelayStats) {
    let [a, b] = call.ports;
    drop(call);
    ports.give_back(a);
    ports.give_back(b);
    stats.active.fetch_sub(1, Ordering::Relaxed);
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn side_index(side: Side) -> usize {
    match side {
        Side::A => 0,
        Side::B => 1,
    }
}

fn sock_index(side: Side, channel: Channel) -> usize {
    let base = if side == Side::A { 0 } else { 2 };
    base + usize::from(channel == Channel::Rtcp)
}

fn count_drop(stats: &RelayStats, d: Dropped) {
    let c = match d {
        Dropped::Foreign => &stats.dropped_foreign,
        Dropped::NoDestination => &stats.dropped_no_destination,
        Dropped::Malformed => &stats.dropped_malformed,
        Dropped::Srtp => &stats.dropped_srtp,
        Dropped::AwaitingKeys => &stats.dropped_awaiting_keys,
    };
    c.fetch_add(1, Ordering::Relaxed);
}

/// Sends one datagram; false if it was not sent. A full socket buffer drops the packet (and
/// counts it); other errors (ICMP port unreachable on loopback, no route) only drop it.
fn send(sock: &UdpSocket, data: &[u8], to: SocketAddr, v6: bool, stats: &RelayStats) -> bool {
    let to = ringside_domain::net::on_wire(v6, to);
    loop {
        match sock.send_to(data, to) {
            Ok(_) => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                stats.dropped_send_full.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            Err(_) => return false,
        }
    }
}

impl Call {
    /// Reads socket `idx` until it would block, passing each datagram through the media.
    /// One `recvmmsg` normally does: a batch shorter than the capacity means the queue is empty.
    fn drain(
        &mut self,
        now: Instant,
        idx: usize,
        batch: &mut RecvBatch,
        stats: &RelayStats,
        fast: Option<&FastPath>,
    ) {
        let side = if idx < 2 { Side::A } else { Side::B };
        let mut errors = 0;
        let mut received = false;
        loop {
            let n = match batch.recv(&self.socks[idx]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    errors += 1;
                    if errors >= MAX_RECV_ERRORS {
                        break;
                    }
                    continue;
                }
            };
            for i in 0..n {
                let (buf, len, src) = batch.get(i);
                let Some(src) = src else {
                    stats.dropped_malformed.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                received = true;
                // The kernel passed on a packet of an offloaded leg that is not a stranger's
                // (a telephone event, a new source, a jump): the call comes back here first.
                if idx.is_multiple_of(2)
                    && self
                        .offload
                        .as_ref()
                        .is_some_and(|o| !o.is_straggler(now, side, &buf[..len]))
                    && self.media.accepts(side, src)
                {
                    self.reclaim(now, fast, stats);
                }
                if idx.is_multiple_of(2) {
                    match self.media.handle_rtp(now, side, src, buf, len) {
                        Ok(Forward::InPlace { side: out, to, len }) => {
                            let s = &self.socks[sock_index(out, Channel::Rtp)];
                            if send(s, &buf[..len], to, self.v6, stats) {
                                stats.forwarded.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Ok(Forward::None) => {}
                        Err(d) => count_drop(stats, d),
                    }
                } else if let Err(d) = self.media.handle_rtcp(now, side, src, &buf[..len]) {
                    count_drop(stats, d);
                }
                self.after_input(stats);
            }
            if n < batch.capacity() {
                break;
            }
        }
        if received {
            self.snapshot_due.get_or_insert(now + SNAPSHOT);
        }
    }

    fn timeout(&mut self, now: Instant, stats: &RelayStats, fast: Option<&FastPath>) {
        if self.sync_due.is_some_and(|d| now >= d) {
            self.sync(now, fast);
        }
        if self.snapshot_due.is_some_and(|d| now >= d) {
            self.snapshot_due = None;
            self.snapshot();
        }
        self.media.handle_timeout(now);
        self.after_input(stats);
    }

    fn snapshot(&self) {
        let q = [self.media.quality(Side::A), self.media.quality(Side::B)];
        *self.quality.lock().unwrap_or_else(|e| e.into_inner()) = q;
    }

    fn control(&mut self, now: Instant, c: Control, stats: &RelayStats) {
        match c {
            Control::Announce(side, addr) => self.media.announce(side, addr),
            Control::Pin(side, addr) => self.media.pin(side, addr),
            Control::Codec(side, codec) => self.media.set_codec(side, codec),
            Control::Play(side, source) => self.media.play(now, side, source),
            Control::StopPlay(side) => self.media.stop_play(side),
            Control::Record(sink) => self.media.record(now, sink),
            Control::StopRecording => self.media.stop_recording(),
            Control::ExpectSrtp(side) => self.media.expect_srtp(side),
            Control::Dtls(side, setup) => {
                if let Err(e) = self.media.set_dtls(now, side, setup) {
                    tracing::warn!(error = %e, ?side, "DTLS-SRTP could not start; the leg's packets are dropped");
                }
            }
            Control::Srtp(side, keys) => {
                if let Err(e) = self.media.set_srtp(side, keys) {
                    tracing::warn!(error = %e, ?side, "SRTP keys refused; the leg's packets are dropped");
                    let _ = self.media.set_srtp(side, None);
                    self.media.expect_srtp(side);
                }
            }
        }
        let transcoding = !self.media.is_passthrough();
        let recording = self.media.is_recording();
        self.set_gauges(transcoding, recording, stats);
    }

    fn set_gauges(&mut self, transcoding: bool, recording: bool, stats: &RelayStats) {
        for (was, now, gauge) in [
            (&mut self.transcoding, transcoding, &stats.transcoding),
            (&mut self.recording, recording, &stats.recording),
        ] {
            if *was != now {
                *was = now;
                if now {
                    gauge.fetch_add(1, Ordering::Relaxed);
                } else {
                    gauge.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Sends what the media queued and passes its events on.
    fn after_input(&mut self, stats: &RelayStats) {
        let done = self.media.take_dtls_handshakes();
        if done > 0 {
            stats
                .dtls_handshakes
                .fetch_add(u64::from(done), Ordering::Relaxed);
        }
        let passed = self.media.take_srtp_passed();
        if passed > 0 {
            stats
                .srtp_passthrough
                .fetch_add(u64::from(passed), Ordering::Relaxed);
        }
        while let Some(t) = self.media.poll_transmit() {
            let s = &self.socks[sock_index(t.side, t.channel)];
            if send(s, &t.data, t.to, self.v6, stats) {
                stats.generated.fetch_add(1, Ordering::Relaxed);
            }
            self.media.recycle(t.data);
        }
        while let Some(e) = self.media.poll_event() {
            if let MediaEvent::Dtmf {
                side,
                digit,
                duration_ms,
            } = &e
            {
                stats.dtmf_digits.fetch_add(1, Ordering::Relaxed);
                tracing::info!(?side, %digit, duration_ms, "DTMF (RFC 4733)");
            }
            self.events.send(e);
        }
    }
}

#[cfg(test)]
mod tests;
