//! [`SipCore`]: the transaction users — registrar, OPTIONS responder and B2BUA — on top of the
//! transaction layer, all sans-IO.
//!
//! ```text
//!  driver ──handle_message(now, msg, peer)──► TransactionLayer ──TxEvent──► SipCore (TU)
//!         ◄──poll_output(): Transmit / Storage──┘                              │
//!         ──handle_timeout(now)──► timers of transactions and calls ◄──────────┘
//! ```
//!
//! The driver owns sockets, the clock and storage; it feeds messages and timeouts in and
//! performs the outputs.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rsip::headers::{self, Header, UntypedHeader};
use rsip::{Method, Request, Response, SipMessage};

use ringside_sip::dialog::LocalAddr;
use ringside_sip::hdr;
use ringside_sip::message::{make_response, new_tag};
use ringside_sip::registrar::{
    BindingChange, DigestGuard, DigestOutcome, Registrar, RegistrarConfig,
};
use ringside_sip::transaction::{
    ClientTxId, Config as TxConfig, Output, Peer, ServerTxId, TransactionLayer, TxEvent,
};
use ringside_storage::CallRecord;

use crate::b2bua::{Call, ClientRole};
use crate::directory::{Directory, DirectoryChange};
use crate::media::MediaFactory;
use crate::metrics::SipMetrics;

/// How long a digest nonce may be answered: long enough for any phone to answer a challenge,
/// short enough that the used-nonce table stays small (about 30 s × the authentication rate).
pub const NONCE_LIFETIME_SECS: u64 = 30;

/// Stray INVITE 2xx responses (no dialog of ours) answered with an ACK and a BYE per second;
/// more are dropped and counted.
pub const STRAY_PER_SEC: u32 = 20;

/// Methods we implement, for Allow headers.
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REGISTER";

/// Settings of the SIP core.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Our address in Via/Contact.
    pub local: LocalAddr,
    /// The address media is anchored on (goes into SDP c=).
    pub media_ip: IpAddr,
    /// Digest realm.
    pub realm: String,
    /// Secret signing nonces.
    pub nonce_secret: [u8; 32],
    /// Digest algorithms challenged with, in order.
    pub digest_algorithms: Vec<ringside_sip::auth::Algorithm>,
    /// How long callees ring before the caller gets 480.
    pub ring_timeout: Duration,
    /// Record every answered call.
    pub record_calls: bool,
    /// Answer a callee's 180 to the caller with 183 and Ringside's own ringback (early media)
    /// instead of relaying the 180 for the caller's phone to ring locally.
    pub ringback: bool,
    /// Registrar settings.
    pub registrar: RegistrarConfig,
    /// Transaction timers.
    pub tx: TxConfig,
}

/// Something for the driver to do.
#[derive(Debug)]
pub enum CoreOutput {
    /// Send bytes.
    Transmit {
        /// Destination.
        to: Peer,
        /// The serialized message.
        data: Bytes,
    },
    /// A registration binding changed.
    Binding(BindingChange),
    /// A new call record.
    InsertCall(CallRecord),
    /// A call record changed.
    UpdateCall(CallRecord),
    /// A call rings (or stopped ringing) a visitor's browser.
    BrowserRing(crate::b2bua::BrowserRing),
    /// Something for the browser caller of edge session `session`.
    Browser {
        /// The edge session.
        session: u64,
        /// What happened.
        signal: crate::b2bua::BrowserSignal,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum CallTimer {
    RingTimeout,
    /// The unavailable prompt to a browser caller has played.
    PromptDone,
    /// The PSTN fork at the accept prompt did not press 1 in time.
    AcceptTimeout(usize),
}

/// The SIP core: registrar + B2BUA over the transaction layer.
pub struct SipCore {
    pub(crate) cfg: CoreConfig,
    pub(crate) tx: TransactionLayer,
    pub(crate) registrar: Registrar,
    pub(crate) guard: DigestGuard,
    /// Extensions, trunks and queue numbers. Shared read-only with the decisions being made
    /// (an `Arc` clone, no lock); changed only by [`SipCore::change_directory`], between
    /// events, copy-on-write.
    pub(crate) dir: Arc<Directory>,
    pub(crate) media: Box<dyn MediaFactory>,
    pub(crate) metrics: Arc<SipMetrics>,
    pub(crate) calls: HashMap<u64, Call>,
    pub(crate) next_call: u64,
    /// (Call-ID, our tag) → (call, side).
    pub(crate) by_dialog: HashMap<(String, String), (u64, crate::Side)>,
    pub(crate) by_ctx: HashMap<ClientTxId, (u64, ClientRole)>,
    /// Where orphaned forks' INVITEs went, by Call-ID (until their transactions end).
    pub(crate) orphan_peers: HashMap<String, Peer>,
    pub(crate) timers: BinaryHeap<Reverse<(Instant, u64, CallTimer)>>,
    pub(crate) out: VecDeque<CoreOutput>,
    pub(crate) now_ms: i64,
    /// (second, stray 2xx answered in it).
    pub(crate) stray_window: (i64, u32),
    draining: bool,
    /// Visitor channel numbers trusted PBX calls may dial.
    pub(crate) channels: Option<Arc<dyn ringside_domain::channels::ChannelLookup>>,
}

impl SipCore {
    /// A core with no calls, routing with `dir` and anchoring media through `media`.
    pub fn new(
        cfg: CoreConfig,
        dir: Directory,
        media: Box<dyn MediaFactory>,
        metrics: Arc<SipMetrics>,
    ) -> Self {
        let core = SipCore {
            tx: TransactionLayer::new(cfg.tx),
            registrar: Registrar::new(cfg.registrar.clone()),
            guard: DigestGuard::new(cfg.realm.clone(), cfg.nonce_secret, NONCE_LIFETIME_SECS)
                .with_algorithms(cfg.digest_algorithms.clone()),
            cfg,
            dir: Arc::new(dir),
            media,
            metrics,
            calls: HashMap::new(),
            next_call: 1,
            by_dialog: HashMap::new(),
            by_ctx: HashMap::new(),
            orphan_peers: HashMap::new(),
            timers: BinaryHeap::new(),
            out: VecDeque::new(),
            now_ms: 0,
            stray_window: (0, 0),
            draining: false,
            channels: None,
        };
        core.count_directory();
        core
    }

    /// The registrar (to restore bindings at start).
    pub fn registrar_mut(&mut self) -> &mut Registrar {
        &mut self.registrar
    }

    /// Refuse new calls with 503 from now on (graceful shutdown).
    pub fn start_draining(&mut self) {
        self.draining = true;
    }

    /// Calls in progress.
    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    /// What routing reads, with the directory `d` held for the decision.
    pub(crate) fn lookup<'a>(
        &'a self,
        d: &'a crate::directory::Directory,
    ) -> crate::routing::Lookup<'a> {
        crate::routing::Lookup {
            dir: d,
            registrar: &self.registrar,
            channels: self.channels.as_deref(),
            now_ms: self.now_ms,
        }
    }

    /// Route trusted PBX calls to visitors' channel numbers through `channels`.
    pub fn set_channels(&mut self, channels: Arc<dyn ringside_domain::channels::ChannelLookup>) {
        self.channels = Some(channels);
    }

    /// Whether new calls are refused.
    pub fn is_draining(&self) -> bool {
        self.draining
    }

    /// Feed a message received from the network.
    pub fn handle_message(&mut self, now: Instant, now_ms: i64, msg: SipMessage, from: Peer) {
        self.now_ms = now_ms;
        match &msg {
            SipMessage::Request(r) => self.metrics.request_in(&r.method.to_string()),
            SipMessage::Response(r) => self.metrics.response_in(r.status_code.code()),
        }
        self.tx.handle_incoming(now, msg, from);
        self.drain(now);
    }

    /// Advance timers to `now`.
    pub fn handle_timeout(&mut self, now: Instant, now_ms: i64) {
        self.now_ms = now_ms;
        self.tx.handle_timeout(now);
        self.drain(now);
        while let Some(Reverse((at, call, timer))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            self.on_call_timer(now, call, timer);
            self.drain(now);
        }
        if self.registrar.expire(now_ms) > 0 {
            self.drain_registrar();
        }
        self.update_gauges();
    }

    /// Next thing for the driver to do.
    pub fn poll_output(&mut self) -> Option<CoreOutput> {
        self.out.pop_front()
    }

    /// When `handle_timeout` must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let call = self.timers.peek().map(|Reverse((t, _, _))| *t);
        match (self.tx.poll_timeout(), call) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub(crate) fn update_gauges(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let m = &self.metrics;
        m.server_transactions
            .store(self.tx.server_count() as u64, Relaxed);
        m.client_transactions
            .store(self.tx.client_count() as u64, Relaxed);
        m.registrations.store(self.registrar.len() as u64, Relaxed);
        m.active_calls.store(self.calls.len() as u64, Relaxed);
    }

    pub(crate) fn drain(&mut self, now: Instant) {
        while let Some(o) = self.tx.poll_output() {
            match o {
                Output::Transmit { to, data } => {
                    self.out.push_back(CoreOutput::Transmit { to, data })
                }
                Output::Event(ev) => self.on_event(now, ev),
            }
        }
        self.update_gauges();
    }

    fn on_event(&mut self, now: Instant, ev: TxEvent) {
        match ev {
            TxEvent::Request { id, request, from } => self.on_request(now, id, request, from),
            TxEvent::Ack { .. } => {} // ACK for our 2xx: the transaction layer stopped retransmitting.
            TxEvent::Cancelled { id, cancel: _ } => self.on_cancel(now, id),
            TxEvent::Response { id, response } => self.on_response(now, id, response),
            TxEvent::StrayResponse { response, from } => {
                self.on_stray_response(now, response, from)
            }
            TxEvent::Timeout { id } => self.on_client_timeout(now, id),
            TxEvent::AckTimeout { id } => self.on_ack_timeout(now, id),
        }
    }

    /// Respond on a server transaction, counting the code.
    pub(crate) fn respond(&mut self, now: Instant, id: ServerTxId, resp: Response) {
        self.metrics.response_out(resp.status_code.code());
        self.tx.respond(now, id, resp);
    }

    /// Send a request in a new client transaction, counting it.
    pub(crate) fn send_request(&mut self, now: Instant, req: Request, to: Peer) -> ClientTxId {
        self.metrics.request_out(&req.method.to_string());
        self.tx.send_request(now, req, to)
    }

    fn on_request(&mut self, now: Instant, id: ServerTxId, req: Request, from: Peer) {
        let has_to_tag = hdr::tag(&req.headers, "To").is_some();
        match req.method {
            Method::Register => self.on_register(now, id, req, from),
            Method::Invite if !has_to_tag => self.on_new_invite(now, id, req, from),
            Method::Options if !has_to_tag => {
                let mut r = make_response(&req, 200.into(), Some(&new_tag()));
                r.headers.push(Header::Allow(headers::Allow::new(ALLOW)));
                r.headers
                    .push(Header::Accept(headers::Accept::new("application/sdp")));
                self.respond(now, id, r);
            }
            Method::Invite | Method::Bye | Method::Info | Method::Update | Method::Options => {
                if has_to_tag {
                    self.on_in_dialog(now, id, req, from);
                } else {
                    let r = make_response(&req, 481.into(), Some(&new_tag()));
                    self.respond(now, id, r);
                }
            }
            _ => {
                let mut r = make_response(&req, 405.into(), Some(&new_tag()));
                r.headers.push(Header::Allow(headers::Allow::new(ALLOW)));
                self.respond(now, id, r);
            }
        }
    }

    fn on_register(&mut self, now: Instant, id: ServerTxId, req: Request, from: Peer) {
        let secs = (self.now_ms / 1000) as u64;
        let outcome = self
            .guard
            .check(&req, false, secs, from.addr.ip(), &*self.dir);
        let resp = match outcome {
            DigestOutcome::Challenge { stale } => {
                self.guard
                    .challenge(&req, false, stale, secs, from.addr.ip())
            }
            DigestOutcome::Forbidden | DigestOutcome::Throttled => {
                self.metrics
                    .auth_failures
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                make_response(&req, 403.into(), Some(&new_tag()))
            }
            DigestOutcome::Authenticated(acct) => {
                // Trunk credentials cannot register; only extensions have phones.
                if self.dir.extension_by_id(&acct.id).is_none() {
                    make_response(&req, 403.into(), Some(&new_tag()))
                } else {
                    let r = self
                        .registrar
                        .handle_register(self.now_ms, &req, from, &acct);
                    self.drain_registrar();
                    r
                }
            }
        };
        self.respond(now, id, resp);
    }

    pub(crate) fn drain_registrar(&mut self) {
        while let Some(c) = self.registrar.poll_change() {
            self.out.push_back(CoreOutput::Binding(c));
        }
    }

    /// An extension was deleted: forget its bindings.
    /// Apply a change the API made to extensions, trunks or queue numbers. A removed
    /// extension's registrations go with it.
    pub fn change_directory(&mut self, change: DirectoryChange) {
        if let DirectoryChange::ExtensionRemoved(id) = &change {
            self.registrar.remove_account(id);
        }
        Arc::make_mut(&mut self.dir).apply(change);
        self.count_directory();
    }

    /// The directory as the core routes with it now.
    pub fn directory(&self) -> &Directory {
        &self.dir
    }

    fn count_directory(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let (exts, trunks) = self.dir.counts();
        self.metrics
            .directory_extensions
            .store(exts as u64, Relaxed);
        self.metrics.directory_trunks.store(trunks as u64, Relaxed);
    }
}

#[allow(dead_code)]
fn _assert_send() {
    fn is_send<T: Send>() {}
    is_send::<SipCore>();
}
