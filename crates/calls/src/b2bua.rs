//! The B2BUA: a call is leg A (we are the UAS towards the caller) and one or more forks of leg B
//! (we are the UAC towards each registered contact of the callee, or towards a trunk).
//!
//! ```text
//!  caller ──INVITE──► [A: UAS]  SipCore  [B: UAC] ──INVITE──► callee contact(s)
//!         ◄─180/200── (SDP rewritten to  ◄─180/200─
//!                      our relay ports)
//! ```
//!
//! The first 2xx wins; other forks are cancelled. CANCEL from A is propagated; BYE from either side
//! ends both; in-dialog re-INVITE, UPDATE, INFO and OPTIONS are passed across with SDP rewritten.

use std::cmp::Reverse;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Instant;

use rsip::headers::{self, Header, UntypedHeader};
use rsip::{Method, Request, Response};
use tracing::{debug, info, info_span, warn};

use ringside_sip::auth::client_authorization;
use ringside_sip::dialog::Dialog;
use ringside_sip::hdr;
use ringside_sip::message::{make_cancel, make_response, new_call_id, new_tag};
use ringside_sip::registrar::DigestOutcome;
use ringside_sip::sdp::SessionDescription;
use ringside_sip::transaction::{ClientTxId, Peer, ServerTxId, TransportKind};
use ringside_storage::{CallLeg, CallRecord};

use crate::core::{CallTimer, CoreOutput, SipCore};
use crate::media::MediaBridge;
use crate::Side;

/// What a client transaction of a call is for.
#[derive(Debug, Clone)]
pub(crate) enum ClientRole {
    /// The INVITE of fork `n` of leg B.
    Fork(usize),
    /// A request forwarded from `from` (answered on server tx `stx`).
    Forwarded {
        stx: ServerTxId,
        request: Request,
        from: Side,
    },
    /// Our own BYE or CANCEL; the response needs nothing.
    Fire,
    /// The INVITE of a fork whose call is gone before the fork got a final response: it must
    /// still be cancelled (once it rings) or, if it answers anyway, ACKed and hung up.
    Orphan {
        invite: Box<Request>,
        cancel_sent: bool,
    },
}

/// Who ends up answering (for outbound trunk auth retries).
#[derive(Debug, Clone)]
struct TrunkAuth {
    username: String,
    password: String,
    tried: bool,
}

/// One fork of leg B.
pub(crate) struct Fork {
    dialog: Dialog,
    invite: Request,
    tx: ClientTxId,
    provisional: bool,
    cancel_pending: bool,
    /// A final response arrived (or the fork failed locally with a timeout).
    finished: bool,
    done: Option<u16>,
    ack: Option<Request>,
    trunk_auth: Option<TrunkAuth>,
    leg_idx: usize,
}

/// A call in progress.
pub(crate) struct Call {
    a: Dialog,
    a_invite: Request,
    a_stx: ServerTxId,
    forks: Vec<Fork>,
    winner: Option<usize>,
    media: Box<dyn MediaBridge>,
    record: CallRecord,
    answered: bool,
}

impl Call {
    fn b(&self) -> Option<&Dialog> {
        self.winner.map(|w| &self.forks[w].dialog)
    }
}

/// Where leg B goes.
enum Target {
    Contact {
        uri: String,
        peer: Peer,
        user: String,
    },
    Trunk {
        uri: String,
        peer: Peer,
        auth: Option<TrunkAuth>,
    },
}

/// Rewrite an SDP body so media flows to `ip:port`; returns it and the peer's announced RTP address.
fn anchor_sdp(body: &str, ip: IpAddr, port: u16) -> Option<(String, Option<SocketAddr>)> {
    let mut sdp = SessionDescription::parse(body).ok()?;
    let remote = sdp
        .first_audio()
        .and_then(|m| m.addr.map(|a| SocketAddr::new(a, m.port)))
        .filter(|a| !a.ip().is_unspecified() && a.port() != 0);
    let n = sdp.media().len();
    sdp.rewrite_connection(ip, &vec![port; n]);
    // Topology hiding: the far side learns nothing of the other phone's origin.
    sdp.origin_mut().username = "ringside".into();
    for a in [
        "rtcp",
        "candidate",
        "ice-ufrag",
        "ice-pwd",
        "ice-options",
        "end-of-candidates",
    ] {
        sdp.remove_attribute(a);
    }
    Some((sdp.to_string(), remote))
}

fn now_record_ms(core: &SipCore) -> i64 {
    core.now_ms
}

/// Map the failures of all forks to the final response for the caller.
fn final_code(codes: impl Iterator<Item = u16>) -> u16 {
    let codes: Vec<u16> = codes.collect();
    if let Some(c) = codes.iter().find(|c| **c >= 600) {
        return *c;
    }
    for pref in [486, 480, 404, 408, 487] {
        if codes.contains(&pref) {
            return pref;
        }
    }
    match codes.first() {
        Some(c) if (500..600).contains(c) => 502,
        Some(c) => *c,
        None => 480,
    }
}

impl SipCore {
    pub(crate) fn on_new_invite(
        &mut self,
        now: Instant,
        stx: ServerTxId,
        req: Request,
        from: Peer,
    ) {
        let tag = new_tag();
        let reply = |core: &mut SipCore, code: u16| {
            let r = make_response(&req, code.into(), Some(&tag));
            core.respond(now, stx, r);
        };
        if self.is_draining() {
            let mut r = make_response(&req, 503.into(), Some(&tag));
            r.headers
                .push(Header::RetryAfter(headers::RetryAfter::new("30")));
            self.respond(now, stx, r);
            return;
        }
        match hdr::header_value(&req.headers, "Max-Forwards").map(|v| v.trim().parse::<u32>()) {
            Some(Ok(0)) => return reply(self, 483),
            Some(Err(_)) => return reply(self, 400),
            _ => {}
        }
        // 1. Who is calling: a trusted trunk by source address, else digest (407).
        let secs = (self.now_ms / 1000) as u64;
        let dir = self.dir.clone();
        let d = dir.read();
        let (tenant_id, caller_ext) = if let Some(t) = d.trunk_for_source(from.addr.ip()) {
            (t.trunk.tenant_id.clone(), None)
        } else {
            match self.guard.check(&req, true, secs, from.addr.ip(), &*d) {
                DigestOutcome::Authenticated(acct) => {
                    let ext = d.extension_by_id(&acct.id).cloned();
                    (acct.tenant_id, ext)
                }
                DigestOutcome::Challenge { stale } => {
                    drop(d);
                    let r = self.guard.challenge(&req, true, stale, secs);
                    self.respond(now, stx, r);
                    return;
                }
                DigestOutcome::Forbidden | DigestOutcome::Throttled => {
                    drop(d);
                    self.metrics
                        .auth_failures
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return reply(self, 403);
                }
            }
        };
        // 2. Where to: a registered extension of the same tenant, or (for extensions only) a
        //    number an outbound trunk of the tenant may dial.
        let Some(dest) = hdr::uri_user(&req.uri.to_string()).map(str::to_string) else {
            drop(d);
            return reply(self, 404);
        };
        let mut targets = Vec::new();
        if let Some(ext) = d.extension(&dest).filter(|e| e.tenant_id == tenant_id) {
            for b in self.registrar.lookup(&ext.id, self.now_ms) {
                targets.push(Target::Contact {
                    uri: b.contact.clone(),
                    peer: b.peer(),
                    user: ext.username.clone(),
                });
            }
            if targets.is_empty() {
                drop(d);
                return reply(self, 480);
            }
        } else if caller_ext.is_some() {
            let Some(t) = d.outbound_trunk_for(&tenant_id, &dest) else {
                drop(d);
                return reply(self, 404);
            };
            let (host, port, transport) = t.outbound().expect("outbound trunk");
            let Some(addr) = (host.as_str(), port)
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
            else {
                drop(d);
                warn!(%host, "outbound trunk host does not resolve");
                return reply(self, 503);
            };
            let auth = match (&t.trunk.outbound_username, &t.trunk.outbound_password) {
                (Some(u), Some(p)) => Some(TrunkAuth {
                    username: u.clone(),
                    password: p.clone(),
                    tried: false,
                }),
                _ => None,
            };
            let hostport = if addr.is_ipv6() {
                format!("[{}]:{port}", addr.ip())
            } else {
                format!("{host}:{port}")
            };
            let tp = if transport == TransportKind::Tcp {
                ";transport=tcp"
            } else {
                ""
            };
            targets.push(Target::Trunk {
                uri: format!("sip:{dest}@{hostport}{tp}"),
                peer: Peer { addr, transport },
                auth,
            });
        } else {
            // Trunk calls may only reach extensions: never forwarded back out to a trunk.
            drop(d);
            return reply(self, 404);
        }
        drop(d);

        // 3. Media: anchor the offer on a relay.
        let Some(offer) = hdr::sdp_body(&req.headers, &req.body) else {
            return reply(self, 488);
        };
        let media = match self.media.create() {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, "cannot allocate media");
                return reply(self, 503);
            }
        };
        let Some((b_sdp, a_rtp)) = anchor_sdp(&offer, self.cfg.media_ip, media.port(Side::B))
        else {
            return reply(self, 488);
        };
        if let Some(a) = a_rtp {
            media.announce(Side::A, a);
        }

        // 4. Leg A dialog.
        let a_call_id = hdr::call_id(&req.headers).unwrap_or_default().to_string();
        let from_v = hdr::header_value(&req.headers, "From").unwrap_or_default();
        let to_v = hdr::header_value(&req.headers, "To").unwrap_or_default();
        let strip_tag = |v: &str| v.split(";tag=").next().unwrap_or(v).trim().to_string();
        let a_contact = hdr::header_value(&req.headers, "Contact")
            .map(|c| hdr::uri_part(c).to_string())
            .unwrap_or_else(|| hdr::uri_part(from_v).to_string());
        let a = Dialog {
            call_id: a_call_id.clone(),
            local_tag: tag.clone(),
            remote_tag: hdr::tag(&req.headers, "From").map(str::to_string),
            local_uri: strip_tag(to_v),
            remote_uri: strip_tag(from_v),
            remote_target: a_contact,
            route_set: hdr::all_values(&req.headers, "Record-Route")
                .iter()
                .flat_map(|v| hdr::split_list(v).into_iter().map(str::to_string))
                .collect(),
            local_cseq: 0,
            peer: from,
        };
        let caller_user = hdr::uri_user(hdr::uri_part(from_v))
            .unwrap_or("anonymous")
            .to_string();
        let display = from_v
            .split('<')
            .next()
            .map(str::trim)
            .filter(|s| s.starts_with('"'))
            .map(|s| format!("{s} "))
            .unwrap_or_default();
        let local = self.cfg.local.clone();
        let started = now_record_ms(self);
        let call_key = self.next_call;
        self.next_call += 1;
        let record_id = format!("call_{}", new_call_id().replace(['@', '.'], ""));
        let mut record = CallRecord {
            id: record_id,
            tenant_id,
            kind: "sip".into(),
            from_uri: hdr::uri_part(from_v).to_string(),
            to_uri: req.uri.to_string(),
            status: "ringing".into(),
            started_at: started,
            answered_at: None,
            ended_at: None,
            end_reason: None,
            hangup_side: None,
            legs: vec![CallLeg {
                id: format!("{}-a", call_key),
                call_id: String::new(),
                idx: 0,
                role: "caller".into(),
                sip_call_id: a_call_id.clone(),
                local_tag: tag.clone(),
                remote_tag: a.remote_tag.clone(),
                peer: from.addr.to_string(),
                started_at: started,
                answered_at: None,
                ended_at: None,
                final_status: None,
            }],
        };

        // 5. Fork leg B to every target.
        let mut forks = Vec::new();
        for target in targets {
            let (uri, peer, to_user, trunk_auth) = match target {
                Target::Contact { uri, peer, user } => (uri, peer, user, None),
                Target::Trunk { uri, peer, auth } => (uri, peer, dest.clone(), auth),
            };
            let mut dialog = Dialog {
                call_id: new_call_id(),
                local_tag: new_tag(),
                remote_tag: None,
                local_uri: format!("{display}<sip:{caller_user}@{}>", local.host),
                remote_uri: format!("<sip:{to_user}@{}>", local.host),
                remote_target: uri,
                route_set: Vec::new(),
                local_cseq: 0,
                peer,
            };
            let Some(invite) = dialog.request(
                &local,
                Method::Invite,
                Some(("application/sdp", b_sdp.clone().into_bytes())),
            ) else {
                continue;
            };
            let ctx = self.send_request(now, invite.clone(), peer);
            self.by_ctx
                .insert(ctx, (call_key, ClientRole::Fork(forks.len())));
            let leg_idx = record.legs.len();
            record.legs.push(CallLeg {
                id: format!("{}-b{}", call_key, forks.len()),
                call_id: String::new(),
                idx: leg_idx as i64,
                role: "callee".into(),
                sip_call_id: dialog.call_id.clone(),
                local_tag: dialog.local_tag.clone(),
                remote_tag: None,
                peer: peer.addr.to_string(),
                started_at: started,
                answered_at: None,
                ended_at: None,
                final_status: None,
            });
            self.by_dialog.insert(
                (dialog.call_id.clone(), dialog.local_tag.clone()),
                (call_key, Side::B),
            );
            forks.push(Fork {
                dialog,
                invite,
                tx: ctx,
                provisional: false,
                cancel_pending: false,
                finished: false,
                done: None,
                ack: None,
                trunk_auth,
                leg_idx,
            });
        }
        if forks.is_empty() {
            return reply(self, 500);
        }
        let rid = record.id.clone();
        for l in &mut record.legs {
            l.call_id = rid.clone();
        }
        info_span!("call", call_id = %a_call_id, record = %rid).in_scope(|| {
            info!(from = %record.from_uri, to = %record.to_uri, forks = forks.len(), "call started")
        });
        self.out.push_back(CoreOutput::InsertCall(record.clone()));
        self.by_dialog.insert((a_call_id, tag), (call_key, Side::A));
        self.calls.insert(
            call_key,
            Call {
                a,
                a_invite: req,
                a_stx: stx,
                forks,
                winner: None,
                media,
                record,
                answered: false,
            },
        );
        self.metrics
            .calls_total
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.timers.push(Reverse((
            now + self.cfg.ring_timeout,
            call_key,
            CallTimer::RingTimeout,
        )));
    }

    /// A response on one of our client transactions.
    pub(crate) fn on_response(&mut self, now: Instant, ctx: ClientTxId, resp: Response) {
        let code = resp.status_code.code();
        let Some((key, role)) = self.by_ctx.get(&ctx).cloned() else {
            return;
        };
        if code >= 200 {
            // 2xx retransmissions for an INVITE arrive on the same id; keep the entry for forks.
            if !matches!(role, ClientRole::Fork(_)) {
                self.by_ctx.remove(&ctx);
            }
        }
        match role {
            ClientRole::Orphan {
                invite,
                cancel_sent,
            } => self.on_orphan_response(now, ctx, *invite, cancel_sent, resp),
            ClientRole::Fork(n) => self.on_fork_response(now, key, n, resp),
            ClientRole::Forwarded { stx, request, from } => {
                if code < 200 {
                    return;
                }
                self.relay_response(now, key, stx, &request, from, resp);
            }
            ClientRole::Fire => {}
        }
    }

    fn on_orphan_response(
        &mut self,
        now: Instant,
        ctx: ClientTxId,
        invite: Request,
        cancel_sent: bool,
        resp: Response,
    ) {
        let code = resp.status_code.code();
        match code {
            100 => {}
            101..=199 if !cancel_sent => {
                let peer = self.orphan_peer(&invite);
                let c = make_cancel(&invite);
                let cctx = self.send_request(now, c, peer);
                self.by_ctx.insert(cctx, (0, ClientRole::Fire));
                self.by_ctx.insert(
                    ctx,
                    (
                        0,
                        ClientRole::Orphan {
                            invite: Box::new(invite),
                            cancel_sent: true,
                        },
                    ),
                );
            }
            101..=199 => {}
            200..=299 => {
                self.by_ctx.remove(&ctx);
                let peer = self.orphan_peer(&invite);
                self.orphan_peers
                    .remove(hdr::call_id(&invite.headers).unwrap_or_default());
                self.ack_and_bye(now, &resp, peer);
            }
            _ => {
                self.by_ctx.remove(&ctx);
                self.orphan_peers
                    .remove(hdr::call_id(&invite.headers).unwrap_or_default());
            }
        }
    }

    fn orphan_peer(&self, invite: &Request) -> Peer {
        self.orphan_peers
            .get(hdr::call_id(&invite.headers).unwrap_or_default())
            .copied()
            .unwrap_or(Peer {
                addr: ([127, 0, 0, 1], 9).into(),
                transport: TransportKind::Udp,
            })
    }

    fn on_fork_response(&mut self, now: Instant, key: u64, n: usize, resp: Response) {
        let code = resp.status_code.code();
        let media_ip = self.cfg.media_ip;
        let local = self.cfg.local.clone();
        let now_ms = self.now_ms;
        let Some(call) = self.calls.get_mut(&key) else {
            // The call is gone: a late 2xx still needs ACK and BYE.
            return;
        };
        let fork = &mut call.forks[n];
        if code < 200 {
            if code == 100 {
                return;
            }
            fork.provisional = true;
            if fork.cancel_pending {
                fork.cancel_pending = false;
                {
                    let c = make_cancel(&fork.invite);
                    let peer = fork.dialog.peer;
                    let ctx = self.send_request(now, c, peer);
                    self.by_ctx.insert(ctx, (key, ClientRole::Fire));
                }
                return;
            }
            if call.answered || fork.done.is_some() {
                return;
            }
            if let Some(t) = hdr::tag(&resp.headers, "To") {
                fork.dialog.remote_tag = Some(t.to_string());
            }
            // Relay 180/183 (with early media anchored) to the caller.
            let mut out = make_response(&call.a_invite, code.into(), Some(&call.a.local_tag));
            out.headers.push(Header::Contact(headers::Contact::new(
                local.contact(call.a.peer.transport),
            )));
            if let Some(sdp) = hdr::sdp_body(&resp.headers, &resp.body) {
                if let Some((a_sdp, b_rtp)) = anchor_sdp(&sdp, media_ip, call.media.port(Side::A)) {
                    if let Some(b) = b_rtp {
                        call.media.announce(Side::B, b);
                    }
                    hdr::set_body(&mut out, Some("application/sdp"), a_sdp.into_bytes());
                }
            }
            let stx = call.a_stx;
            self.respond(now, stx, out);
            return;
        }
        fork.finished = true;
        if (200..300).contains(&code) {
            let cseq = hdr::cseq_num(&resp.headers).unwrap_or(fork.dialog.local_cseq);
            if let Some(ack) = &fork.ack {
                // A retransmitted 2xx: our ACK was lost.
                let (ack, peer) = (ack.clone(), fork.dialog.peer);
                self.tx.send_stateless(rsip::SipMessage::Request(ack), peer);
                return;
            }
            fork.dialog.remote_tag = hdr::tag(&resp.headers, "To").map(str::to_string);
            if let Some(c) = hdr::header_value(&resp.headers, "Contact") {
                fork.dialog.remote_target = hdr::uri_part(c).to_string();
            }
            let mut rr: Vec<String> = hdr::all_values(&resp.headers, "Record-Route")
                .iter()
                .flat_map(|v| hdr::split_list(v).into_iter().map(str::to_string))
                .collect();
            rr.reverse();
            fork.dialog.route_set = rr;
            let ack = fork.dialog.ack(&local, cseq);
            fork.ack = ack.clone();
            fork.done = Some(code);
            let peer = fork.dialog.peer;
            if let Some(ack) = ack {
                self.metrics.request_out("ACK");
                self.tx.send_stateless(rsip::SipMessage::Request(ack), peer);
            }
            let call = self.calls.get_mut(&key).expect("call");
            if call.answered {
                // Another fork already won: hang this one up.
                let fork = &mut call.forks[n];
                if let Some(bye) = fork.dialog.request(&local, Method::Bye, None) {
                    let ctx = self.send_request(now, bye, peer);
                    self.by_ctx.insert(ctx, (key, ClientRole::Fire));
                }
                return;
            }
            call.answered = true;
            call.winner = Some(n);
            let leg_idx = call.forks[n].leg_idx;
            call.record.status = "answered".into();
            call.record.answered_at = Some(now_ms);
            call.record.legs[0].answered_at = Some(now_ms);
            call.record.legs[0].final_status = Some(200);
            call.record.legs[leg_idx].answered_at = Some(now_ms);
            call.record.legs[leg_idx].remote_tag = call.forks[n].dialog.remote_tag.clone();
            call.record.legs[leg_idx].final_status = Some(i64::from(code));
            self.by_dialog.insert(
                (
                    call.forks[n].dialog.call_id.clone(),
                    call.forks[n].dialog.local_tag.clone(),
                ),
                (key, Side::B),
            );
            // Answer the caller with the callee's SDP anchored on our A port.
            let mut out = make_response(&call.a_invite, 200.into(), Some(&call.a.local_tag));
            out.headers.push(Header::Contact(headers::Contact::new(
                local.contact(call.a.peer.transport),
            )));
            if let Some(sdp) = hdr::sdp_body(&resp.headers, &resp.body) {
                if let Some((a_sdp, b_rtp)) = anchor_sdp(&sdp, media_ip, call.media.port(Side::A)) {
                    if let Some(b) = b_rtp {
                        call.media.announce(Side::B, b);
                    }
                    hdr::set_body(&mut out, Some("application/sdp"), a_sdp.into_bytes());
                }
            }
            let stx = call.a_stx;
            let record = call.record.clone();
            self.cancel_other_forks(now, key, Some(n));
            self.out.push_back(CoreOutput::UpdateCall(record));
            self.respond(now, stx, out);
            debug!(call = key, "answered");
            return;
        }
        // A failure on this fork.
        if matches!(code, 401 | 407) {
            if let Some(auth) = fork.trunk_auth.as_mut().filter(|a| !a.tried) {
                fork.finished = false;
                auth.tried = true;
                let (user, pass) = (auth.username.clone(), auth.password.clone());
                if self.retry_with_auth(now, key, n, &resp, &user, &pass) {
                    return;
                }
            }
        }
        let call = self.calls.get_mut(&key).expect("call");
        let fork = &mut call.forks[n];
        fork.done = Some(code);
        let leg_idx = fork.leg_idx;
        call.record.legs[leg_idx].final_status = Some(i64::from(code));
        call.record.legs[leg_idx].ended_at = Some(now_ms);
        if call.answered || call.forks.iter().any(|f| f.done.is_none()) {
            return;
        }
        let fc = final_code(call.forks.iter().filter_map(|f| f.done));
        call.record.legs[0].final_status = Some(i64::from(fc));
        let out = make_response(&call.a_invite, fc.into(), Some(&call.a.local_tag));
        let stx = call.a_stx;
        self.respond(now, stx, out);
        let reason = match fc {
            486 | 600 => "busy",
            480 | 408 => "no_answer",
            404 | 604 => "not_found",
            603 => "declined",
            _ => "failed",
        };
        self.end_call(key, "failed", reason, Some("callee"));
    }

    fn retry_with_auth(
        &mut self,
        now: Instant,
        key: u64,
        n: usize,
        resp: &Response,
        user: &str,
        pass: &str,
    ) -> bool {
        let code = resp.status_code.code();
        let challenge = resp.headers.iter().find_map(|h| match h {
            Header::WwwAuthenticate(v) if code == 401 => Some(v.value().to_string()),
            Header::ProxyAuthenticate(v) if code == 407 => Some(v.value().to_string()),
            _ => None,
        });
        let Some(challenge) = challenge else {
            return false;
        };
        let local = self.cfg.local.clone();
        let call = self.calls.get_mut(&key).expect("call");
        let fork = &mut call.forks[n];
        let uri = fork.invite.uri.to_string();
        let cnonce = new_tag();
        let Ok(value) = client_authorization(&challenge, "INVITE", &uri, user, pass, 1, &cnonce)
        else {
            return false;
        };
        let body = fork.invite.body.clone();
        let Some(mut invite) =
            fork.dialog
                .request(&local, Method::Invite, Some(("application/sdp", body)))
        else {
            return false;
        };
        invite.headers.push(if code == 401 {
            Header::Authorization(headers::Authorization::new(value))
        } else {
            Header::ProxyAuthorization(headers::ProxyAuthorization::new(value))
        });
        fork.invite = invite.clone();
        fork.provisional = false;
        let peer = fork.dialog.peer;
        let ctx = self.send_request(now, invite, peer);
        let old = std::mem::replace(
            &mut self.calls.get_mut(&key).expect("call").forks[n].tx,
            ctx,
        );
        self.by_ctx.remove(&old);
        self.by_ctx.insert(ctx, (key, ClientRole::Fork(n)));
        true
    }

    /// CANCEL every pending fork except `keep`.
    fn cancel_other_forks(&mut self, now: Instant, key: u64, keep: Option<usize>) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let mut cancels = Vec::new();
        for (i, f) in call.forks.iter_mut().enumerate() {
            if Some(i) == keep || f.done.is_some() {
                continue;
            }
            if f.provisional {
                {
                    let c = make_cancel(&f.invite);
                    cancels.push((c, f.dialog.peer));
                }
            } else {
                // RFC 3261 §9.1: no CANCEL before a provisional response; send it when one comes.
                f.cancel_pending = true;
            }
            f.done = Some(487);
        }
        for (c, peer) in cancels {
            let ctx = self.send_request(now, c, peer);
            self.by_ctx.insert(ctx, (key, ClientRole::Fire));
        }
    }

    /// The caller cancelled its INVITE.
    pub(crate) fn on_cancel(&mut self, now: Instant, stx: ServerTxId) {
        let Some(key) = self
            .calls
            .iter()
            .find(|(_, c)| c.a_stx == stx && !c.answered)
            .map(|(k, _)| *k)
        else {
            return;
        };
        self.cancel_other_forks(now, key, None);
        let call = self.calls.get_mut(&key).expect("call");
        call.record.legs[0].final_status = Some(487);
        let out = make_response(&call.a_invite, 487.into(), Some(&call.a.local_tag));
        self.respond(now, stx, out);
        self.end_call(key, "missed", "cancelled", Some("caller"));
    }

    pub(crate) fn on_call_timer(&mut self, now: Instant, key: u64, timer: CallTimer) {
        match timer {
            CallTimer::RingTimeout => {
                let Some(call) = self.calls.get(&key) else {
                    return;
                };
                if call.answered {
                    return;
                }
                self.cancel_other_forks(now, key, None);
                let call = self.calls.get_mut(&key).expect("call");
                call.record.legs[0].final_status = Some(480);
                let out = make_response(&call.a_invite, 480.into(), Some(&call.a.local_tag));
                let stx = call.a_stx;
                self.respond(now, stx, out);
                self.end_call(key, "missed", "no_answer", Some("system"));
            }
        }
    }

    pub(crate) fn on_client_timeout(&mut self, now: Instant, ctx: ClientTxId) {
        let Some((key, role)) = self.by_ctx.remove(&ctx) else {
            return;
        };
        match role {
            ClientRole::Fork(n) => {
                // Synthesize a 408 from the fork's INVITE for the failure path.
                if let Some(call) = self.calls.get(&key) {
                    let r = make_response(&call.forks[n].invite, 408.into(), None);
                    self.on_fork_response(now, key, n, r);
                }
            }
            ClientRole::Forwarded {
                stx,
                request,
                from: _,
            } => {
                let r = make_response(&request, 408.into(), None);
                self.respond(now, stx, r);
            }
            ClientRole::Orphan { invite, .. } => {
                self.orphan_peers
                    .remove(hdr::call_id(&invite.headers).unwrap_or_default());
            }
            ClientRole::Fire => {}
        }
    }

    pub(crate) fn on_ack_timeout(&mut self, now: Instant, stx: ServerTxId) {
        // Our 2xx to the caller was never acknowledged: the call is dead, hang up the callee.
        let Some(key) = self
            .calls
            .iter()
            .find(|(_, c)| c.a_stx == stx && c.answered)
            .map(|(k, _)| *k)
        else {
            return;
        };
        self.bye_side(now, key, Side::B);
        self.end_call(key, "ended", "ack_timeout", Some("system"));
    }

    pub(crate) fn on_stray_response(&mut self, now: Instant, resp: Response, from: Peer) {
        let is_invite_2xx = (200..300).contains(&resp.status_code.code())
            && hdr::header_value(&resp.headers, "CSeq").is_some_and(|v| v.contains("INVITE"));
        if !is_invite_2xx {
            return;
        }
        let key = hdr::call_id(&resp.headers)
            .zip(hdr::tag(&resp.headers, "From"))
            .and_then(|(c, t)| self.by_dialog.get(&(c.to_string(), t.to_string())).copied());
        match key {
            Some((k, Side::B)) => {
                let ack = self.calls.get(&k).and_then(|c| {
                    let w = c.winner?;
                    Some((c.forks[w].ack.clone()?, c.forks[w].dialog.peer))
                });
                if let Some((ack, peer)) = ack {
                    self.tx.send_stateless(rsip::SipMessage::Request(ack), peer);
                }
            }
            _ => self.ack_and_bye(now, &resp, from),
        }
    }

    /// Acknowledge and end a 2xx for a dialog we no longer want (a fork that answered after
    /// the call was decided, or a stray retransmission): ACK it, then BYE it, so the far end is
    /// never left holding a call nobody is on.
    pub(crate) fn ack_and_bye(&mut self, now: Instant, resp: &Response, peer: Peer) {
        let h = &resp.headers;
        let (Some(call_id), Some(from), Some(to), Some(cseq)) = (
            hdr::call_id(h),
            hdr::header_value(h, "From"),
            hdr::header_value(h, "To"),
            hdr::cseq_num(h),
        ) else {
            return;
        };
        let strip = |v: &str| v.split(";tag=").next().unwrap_or(v).trim().to_string();
        let target = hdr::header_value(h, "Contact")
            .map(|c| hdr::uri_part(c).to_string())
            .unwrap_or_else(|| hdr::uri_part(to).to_string());
        let mut d = Dialog {
            call_id: call_id.to_string(),
            local_tag: hdr::param(from, "tag").unwrap_or_default().to_string(),
            remote_tag: hdr::param(to, "tag").map(str::to_string),
            local_uri: strip(from),
            remote_uri: strip(to),
            remote_target: target,
            route_set: Vec::new(),
            local_cseq: cseq,
            peer,
        };
        let local = self.cfg.local.clone();
        debug!(call_id, "hanging up an unwanted 2xx");
        if let Some(ack) = d.ack(&local, cseq) {
            self.metrics.request_out("ACK");
            self.tx.send_stateless(rsip::SipMessage::Request(ack), peer);
        }
        if let Some(bye) = d.request(&local, Method::Bye, None) {
            let ctx = self.send_request(now, bye, peer);
            self.by_ctx.insert(ctx, (0, ClientRole::Fire));
        }
    }

    /// Send BYE on one side of an answered call.
    fn bye_side(&mut self, now: Instant, key: u64, side: Side) {
        let local = self.cfg.local.clone();
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let dialog = match side {
            Side::A => Some(&mut call.a),
            Side::B => call.winner.map(|w| &mut call.forks[w].dialog),
        };
        let Some(d) = dialog else { return };
        let peer = d.peer;
        if let Some(bye) = d.request(&local, Method::Bye, None) {
            let ctx = self.send_request(now, bye, peer);
            self.by_ctx.insert(ctx, (key, ClientRole::Fire));
        }
    }

    /// Finish a call: write its record, free media, forget dialogs.
    pub(crate) fn end_call(&mut self, key: u64, status: &str, reason: &str, side: Option<&str>) {
        let Some(mut call) = self.calls.remove(&key) else {
            return;
        };
        let now_ms = self.now_ms;
        call.record.status = status.into();
        call.record.ended_at = Some(now_ms);
        call.record.end_reason = Some(reason.into());
        call.record.hangup_side = side.map(str::to_string);
        for l in &mut call.record.legs {
            l.ended_at.get_or_insert(now_ms);
        }
        self.by_dialog
            .remove(&(call.a.call_id.clone(), call.a.local_tag.clone()));
        self.by_ctx
            .retain(|_, (k, role)| *k != key || matches!(role, ClientRole::Fire));
        for f in call.forks.drain(..) {
            self.by_dialog
                .remove(&(f.dialog.call_id.clone(), f.dialog.local_tag.clone()));
            if !f.finished {
                // Still waiting for a final response: keep watching the INVITE so a late 180 gets
                // its CANCEL and a late 200 its ACK and BYE.
                self.orphan_peers
                    .insert(f.dialog.call_id.clone(), f.dialog.peer);
                self.by_ctx.insert(
                    f.tx,
                    (
                        0,
                        ClientRole::Orphan {
                            invite: Box::new(f.invite),
                            cancel_sent: f.provisional,
                        },
                    ),
                );
            }
        }
        info_span!("call", call_id = %call.a.call_id, record = %call.record.id)
            .in_scope(|| info!(%status, %reason, "call ended"));
        self.out.push_back(CoreOutput::UpdateCall(call.record));
        // Dropping `call.media` stops the relay and frees its ports.
    }

    /// A request inside an existing dialog (re-INVITE, BYE, INFO, UPDATE, OPTIONS).
    pub(crate) fn on_in_dialog(
        &mut self,
        now: Instant,
        stx: ServerTxId,
        req: Request,
        _from: Peer,
    ) {
        let key = hdr::call_id(&req.headers)
            .zip(hdr::tag(&req.headers, "To"))
            .and_then(|(c, t)| self.by_dialog.get(&(c.to_string(), t.to_string())).copied());
        let Some((key, side)) = key else {
            let r = make_response(&req, 481.into(), None);
            return self.respond(now, stx, r);
        };
        let other = match side {
            Side::A => Side::B,
            Side::B => Side::A,
        };
        let local = self.cfg.local.clone();
        let media_ip = self.cfg.media_ip;
        let Some(call) = self.calls.get_mut(&key) else {
            let r = make_response(&req, 481.into(), None);
            return self.respond(now, stx, r);
        };
        if !call.answered {
            // In-dialog requests on an early dialog (e.g. a callee's BYE before answering).
            let r = make_response(
                &req,
                if req.method == Method::Bye { 200 } else { 491 }.into(),
                None,
            );
            return self.respond(now, stx, r);
        }
        if req.method == Method::Bye {
            let r = make_response(&req, 200.into(), None);
            self.respond(now, stx, r);
            self.bye_side(now, key, other);
            let who = if side == Side::A { "caller" } else { "callee" };
            self.end_call(key, "ended", "hangup", Some(who));
            return;
        }
        // Forward the request to the other side, SDP re-anchored.
        let body = match hdr::sdp_body(&req.headers, &req.body) {
            Some(sdp) => match anchor_sdp(&sdp, media_ip, call.media.port(other)) {
                Some((s, rtp)) => {
                    if let Some(a) = rtp {
                        call.media.announce(side, a);
                    }
                    Some(("application/sdp".to_string(), s.into_bytes()))
                }
                None => {
                    let r = make_response(&req, 488.into(), None);
                    return self.respond(now, stx, r);
                }
            },
            None if !req.body.is_empty() => Some((
                hdr::header_value(&req.headers, "Content-Type")
                    .unwrap_or("application/octet-stream")
                    .trim()
                    .to_string(),
                req.body.clone(),
            )),
            None => None,
        };
        let od = match other {
            Side::A => Some(&mut call.a),
            Side::B => call.winner.map(|w| &mut call.forks[w].dialog),
        };
        let Some(od) = od else {
            let r = make_response(&req, 481.into(), None);
            return self.respond(now, stx, r);
        };
        let peer = od.peer;
        let Some(fwd) = od.request(
            &local,
            req.method,
            body.as_ref().map(|(ct, b)| (ct.as_str(), b.clone())),
        ) else {
            let r = make_response(&req, 500.into(), None);
            return self.respond(now, stx, r);
        };
        let ctx = self.send_request(now, fwd, peer);
        self.by_ctx.insert(
            ctx,
            (
                key,
                ClientRole::Forwarded {
                    stx,
                    request: req,
                    from: side,
                },
            ),
        );
    }

    /// The other side answered a forwarded request: answer the originator the same way.
    fn relay_response(
        &mut self,
        now: Instant,
        key: u64,
        stx: ServerTxId,
        request: &Request,
        from: Side,
        resp: Response,
    ) {
        let code = resp.status_code.code();
        let local = self.cfg.local.clone();
        let media_ip = self.cfg.media_ip;
        let Some(call) = self.calls.get_mut(&key) else {
            let r = make_response(request, 481.into(), None);
            return self.respond(now, stx, r);
        };
        let other = if from == Side::A { Side::B } else { Side::A };
        if request.method == Method::Invite && (200..300).contains(&code) {
            // We ACK the other side ourselves; the originator's ACK ends at us.
            let cseq = hdr::cseq_num(&resp.headers).unwrap_or(0);
            let od = match other {
                Side::A => Some(&call.a),
                Side::B => call.b(),
            };
            if let Some(ack) = od.and_then(|d| d.ack(&local, cseq)) {
                let peer = od.map(|d| d.peer).expect("dialog");
                self.metrics.request_out("ACK");
                self.tx.send_stateless(rsip::SipMessage::Request(ack), peer);
            }
        }
        let call = self.calls.get_mut(&key).expect("call");
        let my_tag = match from {
            Side::A => call.a.local_tag.clone(),
            Side::B => call.b().map(|d| d.local_tag.clone()).unwrap_or_default(),
        };
        let mut out = make_response(request, code.into(), Some(&my_tag));
        if request.method == Method::Invite || request.method == Method::Update {
            let transport = match from {
                Side::A => call.a.peer.transport,
                Side::B => call
                    .b()
                    .map(|d| d.peer.transport)
                    .unwrap_or(TransportKind::Udp),
            };
            out.headers.push(Header::Contact(headers::Contact::new(
                local.contact(transport),
            )));
        }
        if let Some(sdp) = hdr::sdp_body(&resp.headers, &resp.body) {
            if let Some((s, rtp)) = anchor_sdp(&sdp, media_ip, call.media.port(from)) {
                if let Some(a) = rtp {
                    call.media.announce(other, a);
                }
                hdr::set_body(&mut out, Some("application/sdp"), s.into_bytes());
            }
        } else if !resp.body.is_empty() {
            let ct = hdr::header_value(&resp.headers, "Content-Type").map(|s| s.trim().to_string());
            hdr::set_body(&mut out, ct.as_deref(), resp.body.clone());
        }
        self.respond(now, stx, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_codes_prefer_global_then_busy() {
        assert_eq!(final_code([480, 603].into_iter()), 603);
        assert_eq!(final_code([480, 486].into_iter()), 486);
        assert_eq!(final_code([503].into_iter()), 502);
        assert_eq!(final_code([408].into_iter()), 408);
        assert_eq!(final_code(std::iter::empty()), 480);
    }
}
