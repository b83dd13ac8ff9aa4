//! RFC 3261 §17 transaction layer (with the RFC 6026 "Accepted" states), sans-IO.
//!
//! No sockets and no clock reads: every call takes `now`, outputs are pulled with
//! [`TransactionLayer::poll_output`] and the next deadline with
//! [`TransactionLayer::poll_timeout`]; the driver calls [`TransactionLayer::handle_timeout`]
//! when it passes.
//!
//! Matching: server transactions by (top Via branch, sent-by, method with ACK→INVITE), falling
//! back to (Call-ID, CSeq, From tag, sent-by, method) for RFC 2543 requests without the
//! `z9hG4bK` cookie; client transactions by (branch, CSeq method); ACKs for 2xx (new branch)
//! by (Call-ID, CSeq number) against Accepted INVITE server transactions.
//!
//! ```text
//! INVITE server     new INVITE → 100 Trying sent, Request emitted
//!   Proceeding       1xx from the TU; INVITE retransmissions get the last response
//!      ├─2xx─► Accepted: 2xx resent T1, 2T1 … ≤T2 (unreliable) until the ACK, which is
//!      │         emitted once; L (64*T1) → Terminated (AckTimeout if no ACK came)
//!      └─300-699─► Completed: resent by G (T1 … ≤T2, unreliable); H (64*T1) → AckTimeout
//!                    │ ACK (absorbed)
//!                    ▼
//!                  Confirmed ─I (T4 | 0)─► Terminated
//!
//! non-INVITE server      Trying ─1xx─► Proceeding ─final─► Completed ─J (64*T1 | 0)─► Terminated
//!                        (retransmissions get the last response)
//!
//! INVITE client          Calling: A resends T1, 2T1, 4T1 … (unreliable), B (64*T1) → Timeout
//!   Calling ─1xx─► Proceeding   (A stops; a CANCEL sent for it arms a 64*T1 guard → Timeout)
//!      ├─2xx─► Accepted ─M (64*T1)─► Terminated    every 2xx (retransmission/fork) emitted
//!      └─300-699─► Completed (ACK built and sent by the layer; resent for each retransmitted
//!                  final, which is not re-emitted) ─D (32 s | 0)─► Terminated
//!
//! non-INVITE client      Trying: E resends T1 … capped T2 (every T2 once Proceeding),
//!                        F (64*T1) → Timeout; final ─► Completed ─K (T4 | 0)─► Terminated
//! ```
//! `| 0` marks timers that are zero on reliable transports (the transaction ends at once).
//!
//! CANCEL gets a non-INVITE server transaction of its own; the layer answers it (200 if the
//! INVITE transaction exists, 481 otherwise) and emits [`TxEvent::Cancelled`] when that INVITE
//! is still Proceeding. The TU then responds 487 on the INVITE.
//!
//! Each message is serialized once; retransmissions reuse the same [`Bytes`].
//!
//! # What the transaction user must do itself
//!
//! * Answer every [`TxEvent::Request`] with a final response via
//!   [`TransactionLayer::respond`] — server transactions have no timeout before that. After
//!   [`TxEvent::Cancelled`], respond 487 on the INVITE's id.
//! * Send 2xx responses only through `respond` (the layer retransmits them and matches the
//!   ACK); build and send the ACK for every 2xx it receives (including each re-emitted one
//!   during Accepted) with [`TransactionLayer::send_stateless`].
//! * Put a fresh branch in the top Via of each request; CANCEL only after a provisional
//!   response (see [`crate::message::make_cancel`]); run its own no-answer timer and CANCEL —
//!   an INVITE client transaction in Proceeding has no timeout until a CANCEL is sent.
//! * Treat [`TxEvent::Timeout`] as 408 and [`TxEvent::AckTimeout`] as a failed dialog (BYE).
//! * Pick destinations: responses go back to the [`Peer`] the request came from (symmetric,
//!   rport-style; no §18.2.2 Via-based routing), requests to the `Peer` given to
//!   `send_request`. Report dead TCP peers with [`TransactionLayer::transport_failed`].
//! * Everything dialog-level: matching in-dialog requests, reading the SDP of a 2xx ACK
//!   (delivered once as [`TxEvent::Ack`]). ACKs that match nothing (e.g. after Timer L)
//!   never reach the TU; they are dropped and counted.

mod client;
mod key;
mod server;
mod timer;

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use self::client::ClientTx;
use self::key::{Fingerprinter, IdMap};
use self::server::ServerTx;
use self::timer::{Slot, Tick, Timers, TxRef};

/// Protocol timers (RFC 3261 §17.1.1.1, table 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// RTT estimate, 500 ms by default.
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses, 4 s.
    pub t2: Duration,
    /// Maximum time a message stays in the network, 5 s.
    pub t4: Duration,
    /// Dual stack: every message sent is given Ringside's address of its destination's
    /// family ([`crate::dual_stack`]); `None`: one family.
    pub dual_stack: Option<crate::dual_stack::DualStack>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            dual_stack: None,
        }
    }
}

impl Config {
    /// 64*T1: Timers B, F, H, J, L, M.
    fn t64(&self) -> Duration {
        self.t1 * 64
    }

    /// Timer D on unreliable transports: at least 32 s.
    fn timer_d(&self) -> Duration {
        self.t64().max(Duration::from_secs(32))
    }
}

/// Transport of a hop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// Datagrams: the layer retransmits.
    Udp,
    /// Stream over TCP: no retransmissions, zero-length linger timers.
    Tcp,
    /// Stream over TLS (RFC 3261 §26.2.1; a connection to the peer, reused both ways as
    /// RFC 5923 describes): reliable as TCP.
    Tls,
    /// SIP over WebSocket (RFC 7118), one message per WebSocket message; only ever a
    /// connection the peer opened (a browser softphone), reached again on that connection.
    Ws,
    /// SIP over secure WebSocket (RFC 7118 `WSS`): as [`TransportKind::Ws`] over TLS.
    Wss,
}

impl TransportKind {
    /// True for stream transports.
    pub fn is_reliable(self) -> bool {
        !matches!(self, TransportKind::Udp)
    }

    /// True for WebSocket transports (connections only a peer opens).
    pub fn is_websocket(self) -> bool {
        matches!(self, TransportKind::Ws | TransportKind::Wss)
    }

    /// The name in a Via header: `UDP`, `TCP`, `TLS`, `WS`, `WSS`.
    pub fn via_name(self) -> &'static str {
        match self {
            TransportKind::Udp => "UDP",
            TransportKind::Tcp => "TCP",
            TransportKind::Tls => "TLS",
            TransportKind::Ws => "WS",
            TransportKind::Wss => "WSS",
        }
    }

    /// The lowercase name: a URI's `transport` parameter and the stored form (`udp`, `tcp`,
    /// `tls`, `ws`, `wss`).
    pub fn name(self) -> &'static str {
        match self {
            TransportKind::Udp => "udp",
            TransportKind::Tcp => "tcp",
            TransportKind::Tls => "tls",
            TransportKind::Ws => "ws",
            TransportKind::Wss => "wss",
        }
    }

    /// The transport named `name` (any case); UDP for anything else, as RFC 3261 defaults.
    pub fn from_name(name: &str) -> TransportKind {
        if name.eq_ignore_ascii_case("tcp") {
            TransportKind::Tcp
        } else if name.eq_ignore_ascii_case("tls") {
            TransportKind::Tls
        } else if name.eq_ignore_ascii_case("ws") {
            TransportKind::Ws
        } else if name.eq_ignore_ascii_case("wss") {
            TransportKind::Wss
        } else {
            TransportKind::Udp
        }
    }
}

/// The other end of a hop: where a message came from or goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    /// Remote address.
    pub addr: SocketAddr,
    /// Transport used towards it.
    pub transport: TransportKind,
    /// Which TLS client settings a connection to it is opened and kept with: 0 for the
    /// defaults (the system's roots, no client certificate); otherwise the number of one
    /// trunk's own settings (its pinned CA, its client certificate), so two trunks that
    /// reach one address with different identities never share a connection.
    pub tls_profile: u64,
}

impl Peer {
    /// A peer reached with the default TLS settings (or no TLS).
    pub const fn new(addr: SocketAddr, transport: TransportKind) -> Peer {
        Peer {
            addr,
            transport,
            tls_profile: 0,
        }
    }
}

/// Handle of a server transaction (a request we received).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerTxId(u64);

/// Handle of a client transaction (a request we sent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientTxId(u64);

impl ServerTxId {
    /// The raw number (unique per layer, never reused), for logs.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl ClientTxId {
    /// The raw number (unique per layer, never reused), for logs.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ServerTxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stx{}", self.0)
    }
}

impl fmt::Display for ClientTxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ctx{}", self.0)
    }
}

/// What the layer wants done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send these bytes (one complete SIP message) to `to`.
    Transmit {
        /// Destination.
        to: Peer,
        /// Serialized message; retransmissions share the buffer.
        data: Bytes,
    },
    /// Something for the transaction user.
    Event(TxEvent),
}

/// Events for the transaction user (the B2BUA core / registrar).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxEvent {
    /// A new request (never a retransmission). INVITEs were already answered `100 Trying`.
    /// The TU must eventually [`respond`](TransactionLayer::respond) with a final response.
    Request {
        /// Server transaction to respond on.
        id: ServerTxId,
        /// The request.
        request: rsip::Request,
        /// Where it came from (responses go back there).
        from: Peer,
    },
    /// An ACK for a 2xx, matched by Call-ID and CSeq number (and To tag) to the Accepted
    /// INVITE server transaction that sent the 2xx, which has stopped retransmitting it.
    /// Emitted once; repeated ACKs are absorbed. ACKs for non-2xx are absorbed by their
    /// transaction; ACKs matching nothing are dropped ([`TxStats::dropped_unmatched_acks`]).
    Ack {
        /// The ACK.
        request: rsip::Request,
        /// Where it came from.
        from: Peer,
    },
    /// A CANCEL matched INVITE transaction `id` while it was Proceeding. The layer already
    /// answered the CANCEL 200; the TU must respond 487 on `id`.
    Cancelled {
        /// The INVITE's server transaction.
        id: ServerTxId,
        /// The CANCEL.
        cancel: rsip::Request,
    },
    /// A response on a client transaction: provisional, final, and in the Accepted state every
    /// further 2xx (retransmissions or other forks), each of which the TU must ACK.
    Response {
        /// The client transaction.
        id: ClientTxId,
        /// The response.
        response: rsip::Response,
    },
    /// A response that matched no client transaction.
    StrayResponse {
        /// The response.
        response: rsip::Response,
        /// Where it came from.
        from: Peer,
    },
    /// Timer B / F fired (or the transport failed, or no final response arrived 64*T1 after a
    /// CANCEL). The transaction is gone; treat as 408.
    Timeout {
        /// The client transaction.
        id: ClientTxId,
    },
    /// An INVITE server transaction sent a final response but no ACK came before Timer H
    /// (non-2xx) or Timer L (2xx). The transaction is gone.
    AckTimeout {
        /// The INVITE's server transaction.
        id: ServerTxId,
    },
}

/// Counters since the layer was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxStats {
    /// Server transactions created (new requests, including CANCELs).
    pub server_created: u64,
    /// Client transactions created.
    pub client_created: u64,
    /// Requests, responses and ACKs re-sent by the layer (timer-driven or in answer to a
    /// retransmission).
    pub retransmissions: u64,
    /// Retransmitted requests and responses received and absorbed.
    pub retransmissions_received: u64,
    /// Client transactions that timed out (Timer B/F, CANCEL guard, transport failure).
    pub timeouts: u64,
    /// INVITE server transactions that never got their ACK (Timer H/L).
    pub ack_timeouts: u64,
    /// ACKs absorbed: for non-2xx finals, and repeated ACKs for a 2xx.
    pub acks_absorbed: u64,
    /// ACKs that matched no transaction (or one that had not sent a final response), dropped.
    pub dropped_unmatched_acks: u64,
    /// Responses that matched no client transaction.
    pub stray_responses: u64,
    /// CANCELs answered 481.
    pub unmatched_cancels: u64,
    /// Messages dropped because they could not be keyed (no usable Via / CSeq).
    pub dropped_invalid: u64,
}

/// The transaction layer: all client and server transactions of one SIP endpoint.
pub struct TransactionLayer {
    cfg: Config,
    /// Boxed: a map holds up to twice its entries in slots (and both tables while it grows),
    /// so slots stay pointer-sized rather than a few hundred bytes each.
    servers: IdMap<Box<ServerTx>>,
    clients: IdMap<Box<ClientTx>>,
    /// Server key fingerprint → server id.
    server_index: IdMap<u64>,
    /// Client key fingerprint → client id.
    client_index: IdMap<u64>,
    /// (Call-ID, CSeq) fingerprint → id of the Accepted INVITE server transaction.
    accepted_index: IdMap<u64>,
    keys: Fingerprinter,
    timers: Timers,
    out: VecDeque<Output>,
    next_id: u64,
    stats: TxStats,
}

impl TransactionLayer {
    /// A layer with the given timers (T1 is clamped to at least 1 ms, T2 to at least T1).
    pub fn new(cfg: Config) -> Self {
        let t1 = cfg.t1.max(Duration::from_millis(1));
        let cfg = Config {
            t1,
            t2: cfg.t2.max(t1),
            ..cfg
        };
        TransactionLayer {
            cfg,
            servers: IdMap::default(),
            clients: IdMap::default(),
            server_index: IdMap::default(),
            client_index: IdMap::default(),
            accepted_index: IdMap::default(),
            keys: Fingerprinter::new(),
            timers: Timers::default(),
            out: VecDeque::new(),
            next_id: 1,
            stats: TxStats::default(),
        }
    }

    /// The timers in use.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Feed a parsed message received from `from`.
    pub fn handle_incoming(&mut self, now: Instant, msg: rsip::SipMessage, from: Peer) {
        self.timers.observe(now);
        match msg {
            rsip::SipMessage::Request(req) => self.on_request(now, req, from),
            rsip::SipMessage::Response(resp) => self.on_response(now, resp, from),
        }
        self.tidy();
    }

    /// Start a client transaction: transmit `req` to `to` and retransmit / time it out.
    ///
    /// `req` must carry its top Via with a fresh `z9hG4bK` branch (one is added if missing).
    /// ACKs are not transactions: an ACK passed here is sent as by [`Self::send_stateless`] and
    /// the returned id never produces events. A CANCEL for an INVITE of ours arms the 64*T1
    /// "no final response after CANCEL" guard on that INVITE.
    pub fn send_request(&mut self, now: Instant, req: rsip::Request, to: Peer) -> ClientTxId {
        self.timers.observe(now);
        let id = self.client_send(now, req, to);
        self.tidy();
        id
    }

    /// Send a response on server transaction `id`. Returns false (and sends nothing) if the
    /// transaction is gone or its state admits no such response (e.g. a second final).
    pub fn respond(&mut self, now: Instant, id: ServerTxId, resp: rsip::Response) -> bool {
        self.timers.observe(now);
        let ok = self.server_respond(now, id, resp);
        self.tidy();
        ok
    }

    /// Send a message outside any transaction (e.g. the TU's ACK for a 2xx).
    pub fn send_stateless(&mut self, mut msg: rsip::SipMessage, to: Peer) {
        if let Some(d) = &self.cfg.dual_stack {
            d.localize(&mut msg, to.addr.ip());
        }
        let data = crate::message::serialize(&msg);
        self.transmit(to, data);
    }

    /// The transport towards `peer` failed (TCP connect refused, connection lost, ICMP
    /// unreachable): every client transaction to it still waiting for a final response ends
    /// with [`TxEvent::Timeout`]. Server transactions are left to their timers.
    pub fn transport_failed(&mut self, peer: Peer) {
        self.client_transport_failed(peer);
        self.tidy();
    }

    /// Run every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.timers.observe(now);
        while let Some((at, tx, slot)) = self.timers.pop_due(now) {
            match tx {
                TxRef::Server(id) => self.server_timer(now, id, slot, at),
                TxRef::Client(id) => self.client_timer(now, id, slot, at),
            }
        }
        self.tidy();
    }

    /// Next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Earliest pending deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek()
    }

    /// Live server transactions.
    pub fn server_count(&self) -> usize {
        self.servers.len()
    }

    /// Live client transactions.
    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// Counters.
    pub fn stats(&self) -> TxStats {
        self.stats
    }

    fn alloc_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn transmit(&mut self, to: Peer, data: Bytes) {
        self.out.push_back(Output::Transmit { to, data });
    }

    fn emit(&mut self, ev: TxEvent) {
        self.out.push_back(Output::Event(ev));
    }

    /// Drop stale timer entries so `poll_timeout` can peek.
    fn tidy(&mut self) {
        let (servers, clients) = (&self.servers, &self.clients);
        let live = |at: Tick, tx: TxRef, slot: Slot| match tx {
            TxRef::Server(id) => servers.get(&id).is_some_and(|t| t.slots.is(slot, at)),
            TxRef::Client(id) => clients.get(&id).is_some_and(|t| t.slots.is(slot, at)),
        };
        self.timers.prune_top(live);
        self.timers.compact_if_bloated(live);
    }
}

impl fmt::Debug for TransactionLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransactionLayer")
            .field("cfg", &self.cfg)
            .field("servers", &self.servers.len())
            .field("clients", &self.clients.len())
            .field("stats", &self.stats)
            .finish()
    }
}

#[cfg(test)]
mod tests;
