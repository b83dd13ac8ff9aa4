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

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rsip::headers::{self, Header, UntypedHeader};
use rsip::{Method, Request, SipMessage};

use ringside_domain::SrtpPolicy;
use ringside_sip::hdr;
use ringside_sip::message::{make_response, new_tag};
use ringside_sip::registrar::{DigestGuard, DigestOutcome, Registrar};
use ringside_sip::transaction::{Output, Peer, ServerTxId, TransactionLayer, TxEvent};

use crate::b2bua::B2bua;
use crate::directory::{Directory, DirectoryChange};
use crate::media::MediaFactory;
use crate::metrics::SipMetrics;
pub use crate::output::CoreOutput;
use crate::routing::{
    admit, browser_route, route, Admission, BrowserRequest, Caller, CallerKind, Refusal, Route,
};
pub use crate::tu::CoreConfig;
use crate::tu::Tu;
use ringside_sip::auth::has_credentials;

/// How long a digest nonce may be answered: long enough for any phone to answer a challenge,
/// short enough that the used-nonce table stays small (about 30 s × the authentication rate).
pub const NONCE_LIFETIME_SECS: u64 = 30;

/// The header a trusted SIP edge proxy names the request's real sender in (`ip:port`, then
/// parameters such as `;proto=udp`); ignored from anyone else.
pub const PEER_HEADER: &str = "X-Ringside-Peer";

/// The address an edge proxy's [`PEER_HEADER`] names.
fn named_peer(v: &str) -> Option<IpAddr> {
    let addr = v.split(';').next()?.trim();
    addr.parse::<std::net::SocketAddr>()
        .map(|a| a.ip())
        .or_else(|_| addr.trim_matches(['[', ']']).parse::<IpAddr>())
        .ok()
        .map(|ip| ip.to_canonical())
}

/// Methods we implement, for Allow headers.
pub const ALLOW: &str =
    "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, PRACK, REFER, NOTIFY, REGISTER";

/// The SIP core: it dispatches what the transaction layer reports to the registrar, the
/// OPTIONS responder and the B2BUA, after admitting and routing new calls.
pub struct SipCore {
    pub(crate) tu: Tu,
    pub(crate) registrar: Registrar,
    pub(crate) guard: DigestGuard,
    /// Extensions, trunks and queue numbers. Shared read-only with the decisions being made
    /// (an `Arc` clone, no lock); changed only by [`SipCore::change_directory`], between
    /// events, copy-on-write.
    pub(crate) dir: Arc<Directory>,
    /// Visitor channel numbers trusted PBX calls may dial.
    pub(crate) channels: Option<Arc<dyn ringside_domain::channels::ChannelLookup>>,
    pub(crate) b2bua: B2bua,
    draining: bool,
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
            registrar: Registrar::new(cfg.registrar.clone()),
            guard: DigestGuard::new(cfg.realm.clone(), cfg.nonce_secret, NONCE_LIFETIME_SECS)
                .with_algorithms(cfg.digest_algorithms.clone()),
            tu: Tu {
                tx: TransactionLayer::new(cfg.tx),
                cfg,
                metrics,
                out: VecDeque::new(),
                now_ms: 0,
            },
            dir: Arc::new(dir),
            channels: None,
            b2bua: B2bua::new(media),
            draining: false,
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
        self.b2bua.len()
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
            now_ms: self.tu.now_ms,
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
        self.tu.now_ms = now_ms;
        match &msg {
            SipMessage::Request(r) => self.tu.metrics.request_in(&r.method.to_string()),
            SipMessage::Response(r) => self.tu.metrics.response_in(r.status_code.code()),
        }
        self.tu.tx.handle_incoming(now, msg, from);
        self.drain(now);
    }

    /// The transport could not open a connection to `peer` (refused, unreachable, or a TLS
    /// certificate that did not verify): its pending requests fail now instead of waiting
    /// for their timers (RFC 3261 §8.1.3.1).
    pub fn transport_failed(&mut self, now: Instant, now_ms: i64, peer: Peer) {
        self.tu.now_ms = now_ms;
        self.tu.tx.transport_failed(peer);
        self.drain(now);
    }

    /// Advance timers to `now`.
    pub fn handle_timeout(&mut self, now: Instant, now_ms: i64) {
        self.tu.now_ms = now_ms;
        self.tu.tx.handle_timeout(now);
        self.drain(now);
        while let Some((call, timer)) = self.b2bua.due_timer(now) {
            self.b2bua.on_call_timer(&mut self.tu, now, call, timer);
            self.drain(now);
        }
        if self.registrar.expire(now_ms) > 0 {
            self.drain_registrar();
        }
        self.update_gauges();
    }

    /// Applies a registration change another node of the cluster made (and stored).
    pub fn apply_replica_binding(&mut self, change: ringside_sip::registrar::BindingChange) {
        self.registrar.apply_replica(change);
        self.update_gauges();
    }

    /// Next thing for the driver to do.
    pub fn poll_output(&mut self) -> Option<CoreOutput> {
        self.tu.out.pop_front()
    }

    /// When `handle_timeout` must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let call = self.b2bua.next_timer();
        match (self.tu.tx.poll_timeout(), call) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub(crate) fn update_gauges(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let m = &self.tu.metrics;
        m.server_transactions
            .store(self.tu.tx.server_count() as u64, Relaxed);
        m.client_transactions
            .store(self.tu.tx.client_count() as u64, Relaxed);
        m.registrations.store(self.registrar.len() as u64, Relaxed);
        m.active_calls.store(self.b2bua.len() as u64, Relaxed);
    }

    pub(crate) fn drain(&mut self, now: Instant) {
        while let Some(o) = self.tu.tx.poll_output() {
            match o {
                Output::Transmit { to, data } => {
                    self.tu.out.push_back(CoreOutput::Transmit { to, data })
                }
                Output::Event(ev) => self.on_event(now, ev),
            }
        }
        self.update_gauges();
    }

    fn on_event(&mut self, now: Instant, ev: TxEvent) {
        match ev {
            TxEvent::Request { id, request, from } => self.on_request(now, id, request, from),
            // ACK for our 2xx: the transaction layer stopped retransmitting; it may bring the
            // answer to a delayed offer.
            TxEvent::Ack { request, .. } => self.b2bua.on_ack(&mut self.tu, now, &request),
            TxEvent::Cancelled { id, cancel: _ } => self.b2bua.on_cancel(&mut self.tu, now, id),
            TxEvent::Response { id, response } => {
                self.b2bua.on_response(&mut self.tu, now, id, response)
            }
            TxEvent::StrayResponse { response, from } => {
                self.b2bua
                    .on_stray_response(&mut self.tu, now, response, from)
            }
            TxEvent::Timeout { id } => self.b2bua.on_client_timeout(&mut self.tu, now, id),
            TxEvent::AckTimeout { id } => self.b2bua.on_ack_timeout(&mut self.tu, now, id),
        }
    }

    /// Who sent `req`, as far as trunk matching and digest throttling go: the sender, or,
    /// from a trusted edge proxy, the one its [`PEER_HEADER`] names (the proxy itself
    /// without one). `None` when edge proxies are set and the sender, over UDP, TCP or TLS,
    /// is none of them (a WebSocket comes through the HTTP edge instead).
    fn origin_of(&self, req: &Request, from: Peer) -> Option<IpAddr> {
        use ringside_sip::transaction::TransportKind;
        let proxies = &self.tu.cfg.trusted_proxies;
        let ip = from.addr.ip();
        if proxies.is_empty() || matches!(from.transport, TransportKind::Ws | TransportKind::Wss) {
            return Some(ip);
        }
        if !proxies.iter().any(|p| p.contains(ip)) {
            return None;
        }
        Some(
            hdr::header_value(&req.headers, PEER_HEADER)
                .and_then(named_peer)
                .unwrap_or(ip),
        )
    }

    fn on_request(&mut self, now: Instant, id: ServerTxId, req: Request, from: Peer) {
        let has_to_tag = hdr::tag(&req.headers, "To").is_some();
        let origin = match self.origin_of(&req, from) {
            Some(ip) => ip,
            // In a dialog: it must match one of ours (481 otherwise), whoever sends it (a
            // carrier trunk's BYE comes straight to this node, not through the edge).
            None if has_to_tag => from.addr.ip(),
            None => {
                self.tu
                    .metrics
                    .untrusted_source
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::debug!(peer = %from.addr, method = %req.method, "SIP request not through a trusted edge proxy: 403");
                let mut r = make_response(&req, 403.into(), Some(&new_tag()));
                r.status_code = rsip::StatusCode::Other(403, "Use The Edge Proxy".into());
                self.tu.respond(now, id, r);
                return;
            }
        };
        match req.method {
            Method::Register => self.on_register(now, id, req, from, origin),
            Method::Invite if !has_to_tag => self.on_new_invite(now, id, req, from, origin),
            Method::Refer if has_to_tag => self.on_refer(now, id, req, origin),
            // The end of a subscription Ringside never made, or a peer's NOTIFY on a dialog:
            // acknowledged, nothing to do.
            Method::Notify if has_to_tag => {
                let r = make_response(&req, 200.into(), None);
                self.tu.respond(now, id, r);
            }
            Method::Options if !has_to_tag => {
                let mut r = make_response(&req, 200.into(), Some(&new_tag()));
                r.headers.push(Header::Allow(headers::Allow::new(ALLOW)));
                r.headers
                    .push(Header::Accept(headers::Accept::new("application/sdp")));
                self.tu.respond(now, id, r);
            }
            Method::Invite
            | Method::Bye
            | Method::Info
            | Method::Update
            | Method::Options
            | Method::PRack => {
                if has_to_tag {
                    self.b2bua.on_in_dialog(&mut self.tu, now, id, req, from);
                } else {
                    let r = make_response(&req, 481.into(), Some(&new_tag()));
                    self.tu.respond(now, id, r);
                }
            }
            _ => {
                let mut r = make_response(&req, 405.into(), Some(&new_tag()));
                r.headers.push(Header::Allow(headers::Allow::new(ALLOW)));
                self.tu.respond(now, id, r);
            }
        }
    }

    /// A REFER on a call (blind transfer, see `b2bua::transfer`): only the answered leg B of
    /// an extension may transfer, and only where that extension could dial itself.
    fn on_refer(&mut self, now: Instant, stx: ServerTxId, req: Request, origin: IpAddr) {
        let asked = {
            let d = self.dir.clone();
            let trusted = |tenant: &str, ip: IpAddr| {
                d.trunks_for_source(ip).any(|t| t.trunk.tenant_id == tenant)
            };
            self.b2bua.transfer_request(&req, origin, &trusted)
        };
        let (key, tenant, number, from_caller, by_trunk) = match asked {
            Ok(crate::b2bua::ReferAsk::Blind {
                key,
                tenant,
                number,
                by_trunk,
            }) => (key, tenant, number, false, by_trunk),
            Ok(crate::b2bua::ReferAsk::FromCaller {
                key,
                tenant,
                number,
                by_trunk,
            }) => (key, tenant, number, true, by_trunk),
            Ok(crate::b2bua::ReferAsk::Attended {
                key,
                from,
                other,
                inner,
            }) => {
                return self.b2bua.attended_transfer(
                    &mut self.tu,
                    now,
                    stx,
                    &req,
                    key,
                    (from, other, inner),
                );
            }
            Err(code) => {
                tracing::info!(code, "REFER refused");
                return self.b2bua.refuse_refer(&mut self.tu, now, stx, &req, code);
            }
        };
        let d = self.dir.clone();
        let caller = Caller {
            tenant_id: &tenant,
            kind: if by_trunk {
                CallerKind::Trunk
            } else {
                CallerKind::Extension
            },
        };
        let targets = match route(&self.lookup(&d), caller, Some(&number)) {
            Ok(Route::Extension { contacts, .. }) => contacts
                .into_iter()
                .map(crate::b2bua::Target::from)
                .collect(),
            Ok(Route::Outbound(t)) => match crate::b2bua::trunk_target(t, &number, false) {
                Some(target) => vec![target],
                None => Vec::new(),
            },
            // Queues and visitors are not transfer targets (yet).
            Ok(_) => {
                drop(d);
                return self.b2bua.refuse_refer(&mut self.tu, now, stx, &req, 403);
            }
            Err(refusal) => {
                drop(d);
                tracing::info!(%number, "REFER to a number the extension may not dial");
                let code = match refusal {
                    Refusal::NotFound => 403,
                    r => r.status(),
                };
                return self.b2bua.refuse_refer(&mut self.tu, now, stx, &req, code);
            }
        };
        drop(d);
        if from_caller {
            return self.b2bua.transfer_from_caller(
                &mut self.tu,
                now,
                stx,
                &req,
                key,
                &number,
                targets,
            );
        }
        self.b2bua
            .transfer(&mut self.tu, now, stx, &req, key, &number, targets);
    }

    /// A new INVITE: refused while draining or looping, admitted (a trusted trunk, or digest
    /// credentials), routed (see [`crate::routing`]); the B2BUA takes the call from there.
    fn on_new_invite(
        &mut self,
        now: Instant,
        stx: ServerTxId,
        req: Request,
        from: Peer,
        origin: IpAddr,
    ) {
        let tag = new_tag();
        let reply = |core: &mut SipCore, code: u16| {
            let r = make_response(&req, code.into(), Some(&tag));
            core.tu.respond(now, stx, r);
        };
        if self.is_draining() {
            let mut r = make_response(&req, 503.into(), Some(&tag));
            r.headers
                .push(Header::RetryAfter(headers::RetryAfter::new("30")));
            self.tu.respond(now, stx, r);
            return;
        }
        // An extension the caller requires and Ringside lacks (RFC 3261 8.2.2.3), e.g.
        // precondition: 420 naming it, so the caller can try again without.
        let unsupported = ringside_sip::hdr::unsupported_required(&req.headers);
        if !unsupported.is_empty() {
            let mut r = make_response(&req, 420.into(), Some(&tag));
            r.headers
                .push(Header::Other("Unsupported".into(), unsupported.join(", ")));
            r.headers.push(Header::Other(
                "Supported".into(),
                ringside_sip::hdr::SUPPORTED.join(", "),
            ));
            self.tu.respond(now, stx, r);
            return;
        }
        match hdr::header_value(&req.headers, "Max-Forwards").map(|v| v.trim().parse::<u32>()) {
            Some(Ok(0)) => return reply(self, 483),
            Some(Err(_)) => return reply(self, 400),
            _ => {}
        }
        // 1. Who is calling (see `routing::admit`): a trusted trunk of the tenant that owns
        //    the dialled number, or whoever the digest credentials prove (407 until they do).
        let secs = (self.tu.now_ms / 1000) as u64;
        let d = self.dir.clone();
        let dest = hdr::uri_user(&req.uri.to_string()).map(str::to_string);
        let credentials = has_credentials(&req, true, self.guard.realm());
        let trusted = match admit(&self.lookup(&d), origin, dest.as_deref(), credentials) {
            Admission::Trusted(t) => Some((
                t.trunk.tenant_id.clone(),
                (
                    SrtpPolicy::from_stored(t.trunk.srtp.as_deref()),
                    t.trunk.srtp_passthrough,
                ),
                t.trunk.session_timer_secs,
            )),
            Admission::NotFound => {
                drop(d);
                return reply(self, 404);
            }
            Admission::Authenticate => None,
        };
        let (tenant_id, kind, (srtp, session_secs), account) = match trusted {
            Some((tenant, srtp, secs)) => (tenant, CallerKind::Trunk, (srtp, secs), None),
            None => match self.guard.check(&req, true, secs, origin, &*d) {
                DigestOutcome::Authenticated(acct) => {
                    let (kind, (srtp, secs), account) = match d.extension_by_id(&acct.id) {
                        Some(e) => (
                            CallerKind::Extension,
                            ((e.srtp.clone(), e.srtp_passthrough), e.session_timer_secs),
                            Some((e.username.clone(), e.display_name.clone())),
                        ),
                        None => (
                            CallerKind::Trunk,
                            d.trunk(&acct.id).map_or(((None, false), None), |t| {
                                (
                                    (t.trunk.srtp.clone(), t.trunk.srtp_passthrough),
                                    t.trunk.session_timer_secs,
                                )
                            }),
                            None,
                        ),
                    };
                    let srtp = (SrtpPolicy::from_stored(srtp.0.as_deref()), srtp.1);
                    (acct.tenant_id, kind, (srtp, secs), account)
                }
                DigestOutcome::Challenge { stale } => {
                    let r = self.guard.challenge(&req, true, stale, secs, origin, &*d);
                    drop(d);
                    self.tu.respond(now, stx, r);
                    return;
                }
                DigestOutcome::Forbidden | DigestOutcome::Throttled => {
                    drop(d);
                    self.tu
                        .metrics
                        .auth_failures
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return reply(self, 403);
                }
            },
        };
        // 2. Where to (see `routing::route`). A pickup code from an extension takes a call
        //    ringing another extension of its tenant.
        let pickup = match (
            &account,
            dest.as_deref().and_then(crate::b2bua::pickup_code),
        ) {
            (Some((picker, _)), Some(code)) => {
                match self.b2bua.ringing_for_pickup(&tenant_id, picker, code) {
                    Some(ringing) => Some(ringing),
                    None => {
                        drop(d);
                        tracing::info!(%picker, "call pickup: nothing rings");
                        return reply(self, 480);
                    }
                }
            }
            _ => None,
        };
        let caller = Caller {
            tenant_id: &tenant_id,
            kind,
        };
        let routed = match pickup {
            Some(_) => Ok(None),
            None => route(&self.lookup(&d), caller, dest.as_deref()).map(Some),
        };
        let (targets, to_browser, queue) = match routed {
            Ok(None) => (Vec::new(), None, None),
            Ok(Some(Route::Extension { contacts, .. })) => (
                contacts
                    .into_iter()
                    .map(crate::b2bua::Target::from)
                    .collect(),
                None,
                None,
            ),
            Ok(Some(Route::Outbound(t))) => {
                match crate::b2bua::trunk_target(t, dest.as_deref().unwrap_or_default(), false) {
                    Some(target) => (vec![target], None, None),
                    // The trunk's host did not resolve.
                    None => {
                        drop(d);
                        return reply(self, 503);
                    }
                }
            }
            Ok(Some(Route::Queue {
                widget_id,
                contacts,
            })) => (
                contacts
                    .into_iter()
                    .map(crate::b2bua::Target::from)
                    .collect(),
                None,
                Some(widget_id),
            ),
            Ok(Some(Route::Browser(ch))) => (Vec::new(), Some(ch), None),
            Err(refusal) => {
                drop(d);
                if refusal == Refusal::Unavailable {
                    self.b2bua
                        .record_unavailable(&mut self.tu, &req, from, &tenant_id, &tag);
                }
                return reply(self, refusal.status());
            }
        };
        drop(d);
        // Routing refuses a call without a dialled user.
        let dest = dest.unwrap_or_default();
        let legs = crate::b2bua::LegB {
            targets,
            browser: to_browser,
            queue,
            pickup,
        };
        let invite = crate::b2bua::NewInvite {
            stx,
            req,
            from,
            tag,
            srtp: srtp.0,
            srtp_passthrough: srtp.1,
            account,
            session_secs,
        };
        self.b2bua
            .start_sip_call(&mut self.tu, now, invite, tenant_id, dest, legs);
    }

    /// A browser calls: anchor its media, fork to its widget's ring targets (or, with none,
    /// play the unavailable message). Signals go to `call.session`.
    pub fn browser_call(&mut self, now: Instant, call: crate::b2bua::BrowserCall) {
        let mut targets = Vec::new();
        {
            let d = self.dir.clone();
            let l = self.lookup(&d);
            let routed = browser_route(
                &l,
                BrowserRequest {
                    tenant_id: &call.tenant_id,
                    widget_id: &call.widget_id,
                    ring_extensions: call.ring_extensions,
                    extensions: &call.extensions,
                    pstn_numbers: &call.pstn_numbers,
                    pstn_trunk_id: call.pstn_trunk_id.as_deref(),
                },
            );
            targets.extend(routed.contacts.into_iter().map(crate::b2bua::Target::from));
            // A trunk whose host does not resolve is skipped (trunk_target logs it).
            for (number, trunk) in routed.numbers {
                targets.extend(crate::b2bua::trunk_target(trunk, number, true));
            }
            for number in routed.refused {
                tracing::warn!(%number, "no outbound trunk may dial this number");
            }
        }

        self.b2bua
            .start_browser_call(&mut self.tu, now, call, targets);
        self.drain(now);
    }

    /// The visitor accepts a call ringing its browser: its edge session becomes leg B and
    /// the PBX gets its 200 (Ringside's answer, the PBX's first codec we handle, bridged to
    /// the browser's Opus).
    pub fn browser_accept(&mut self, now: Instant, ans: crate::b2bua::BrowserAnswer) {
        self.b2bua.accept_ringing(&mut self.tu, now, ans);
        self.drain(now);
    }

    /// The visitor declines the call `call_id` ringing its browser: the PBX gets 603.
    pub fn browser_decline(
        &mut self,
        now: Instant,
        call_id: &str,
        target: &ringside_domain::channels::Channel,
    ) {
        self.b2bua.decline(&mut self.tu, now, call_id, target);
        self.drain(now);
    }

    /// The browser of `session` holds (`on`) or resumes its answered call: the SIP side
    /// hears hold music meanwhile (the visitor's audio is not forwarded).
    pub fn browser_hold(&mut self, session: u64, on: bool) {
        self.b2bua.browser_hold(session, on);
    }

    /// The WebRTC edge measured the round-trip time of session `session`'s browser: kept for
    /// the leg's quality (the relay sees only the loopback hop to the edge).
    pub fn browser_rtt(&mut self, session: u64, rtt: Duration) {
        self.b2bua.browser_rtt(session, rtt);
    }

    /// The browser hung up.
    pub fn browser_hangup(&mut self, now: Instant, session: u64) {
        self.b2bua
            .end_browser_call(&mut self.tu, now, session, None);
        self.drain(now);
    }

    /// The browser's media failed (ICE consent lapsed, DTLS failed): the call ends as a
    /// media failure (`media_failed`, hung up by the system), not as the visitor hanging up.
    pub fn browser_media_failed(&mut self, now: Instant, session: u64) {
        let failure = Some(ringside_domain::EndReason::MediaFailed);
        self.b2bua
            .end_browser_call(&mut self.tu, now, session, failure);
        self.drain(now);
    }

    /// A console operator (`ans.visitor_id` names the operator) answers the visitor's call
    /// `ans.call_id` with its edge session: SIP forks are cancelled, the operator's browser
    /// becomes leg B.
    pub fn console_accept(&mut self, now: Instant, ans: crate::b2bua::BrowserAnswer) {
        self.b2bua.take_for_console(&mut self.tu, now, ans);
        self.drain(now);
    }

    /// A media event of call `key` (from its relay): DTMF from leg B may accept a PSTN leg.
    pub fn media_event(&mut self, now: Instant, key: u64, ev: ringside_media::MediaEvent) {
        self.b2bua.media_event(&mut self.tu, now, key, ev);
        self.drain(now);
    }

    /// The key of the call with record id `record_id` (for drivers and tests that feed
    /// [`Self::media_event`]).
    pub fn call_key(&self, record_id: &str) -> Option<u64> {
        self.b2bua.call_key(record_id)
    }

    /// End every call still up (the shutdown grace period is over): answered calls get a BYE on
    /// both sides, ringing ones have their forks cancelled and the caller answered 503, and
    /// each record ends with `reason`.
    pub fn end_all_calls(&mut self, now: Instant, reason: ringside_domain::EndReason) {
        self.b2bua.end_all(&mut self.tu, now, reason);
        self.drain(now);
    }

    fn on_register(
        &mut self,
        now: Instant,
        id: ServerTxId,
        req: Request,
        from: Peer,
        origin: IpAddr,
    ) {
        let secs = (self.tu.now_ms / 1000) as u64;
        let outcome = self.guard.check(&req, false, secs, origin, &*self.dir);
        let resp = match outcome {
            DigestOutcome::Challenge { stale } => self
                .guard
                .challenge(&req, false, stale, secs, origin, &*self.dir),
            DigestOutcome::Forbidden | DigestOutcome::Throttled => {
                self.tu
                    .metrics
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
                        .handle_register(self.tu.now_ms, &req, from, &acct);
                    self.drain_registrar();
                    r
                }
            }
        };
        self.tu.respond(now, id, resp);
    }

    pub(crate) fn drain_registrar(&mut self) {
        while let Some(c) = self.registrar.poll_change() {
            self.tu.out.push_back(CoreOutput::Binding(c));
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
        let m = &self.tu.metrics;
        m.directory_extensions.store(exts as u64, Relaxed);
        m.directory_trunks.store(trunks as u64, Relaxed);
    }
}

#[allow(dead_code)]
fn _assert_send() {
    fn is_send<T: Send>() {}
    is_send::<SipCore>();
}
