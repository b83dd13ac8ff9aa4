//! A new INVITE: who calls, where to, media anchoring, and forking leg B.

use std::cmp::Reverse;
use std::net::ToSocketAddrs;
use std::time::Instant;

use rsip::headers::{self, Header, UntypedHeader};
use rsip::{Method, Request};
use tracing::{info, info_span, warn};

use ringside_domain::{CallKind, CallStatus, EndReason, HangupSide, LegRole};
use ringside_sip::auth::has_credentials;
use ringside_sip::dialog::Dialog;
use ringside_sip::hdr;
use ringside_sip::message::{make_response, new_call_id, new_tag};
use ringside_sip::registrar::DigestOutcome;
use ringside_sip::transaction::{Peer, ServerTxId, TransportKind};
use ringside_storage::{CallLeg, CallRecord};

use crate::core::{CallTimer, CoreOutput, SipCore};
use crate::routing::{admit, route, Admission, Caller, CallerKind, Refusal, Route};

use super::{
    anchor_sdp, extend_offer, now_record_ms, Call, CallerLeg, ClientRole, Fork, Phase, SipCaller,
    Target, TrunkAuth,
};
use crate::Side;

impl SipCore {
    /// A call to an extension with no registered phone is refused (480) and kept in the call
    /// history as missed because no one was available (`end_reason` `unavailable`), which is
    /// what `call.unavailable` reports.
    fn record_unavailable(&mut self, req: &Request, from: Peer, tenant_id: &str, tag: &str) {
        let now = now_record_ms(self);
        let from_v = hdr::header_value(&req.headers, "From").unwrap_or_default();
        let record = CallRecord {
            id: format!("call_{}", new_call_id().replace(['@', '.'], "")),
            tenant_id: tenant_id.to_owned(),
            kind: CallKind::Sip,
            from_uri: hdr::uri_part(from_v).to_string(),
            to_uri: req.uri.to_string(),
            status: CallStatus::Missed,
            started_at: now,
            answered_at: None,
            ended_at: Some(now),
            end_reason: Some(EndReason::Unavailable),
            hangup_side: Some(HangupSide::System),
            widget_id: None,
            visitor_id: None,
            answered_by: None,
            legs: vec![CallLeg {
                id: ringside_storage::new_id(),
                call_id: String::new(),
                idx: 0,
                role: LegRole::Caller,
                sip_call_id: hdr::call_id(&req.headers).unwrap_or_default().to_string(),
                local_tag: tag.to_owned(),
                remote_tag: hdr::tag(&req.headers, "From").map(str::to_string),
                peer: from.addr.to_string(),
                started_at: now,
                answered_at: None,
                ended_at: Some(now),
                final_status: Some(480),
                quality: None,
            }],
        };
        self.out.push_back(CoreOutput::InsertCall(record));
    }

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
        // 1. Who is calling (see `routing::admit`): a trusted trunk of the tenant that owns
        //    the dialled number, or whoever the digest credentials prove (407 until they do).
        let secs = (self.now_ms / 1000) as u64;
        let d = self.dir.clone();
        let dest = hdr::uri_user(&req.uri.to_string()).map(str::to_string);
        let credentials = has_credentials(&req, true, self.guard.realm());
        let trusted = match admit(
            &self.lookup(&d),
            from.addr.ip(),
            dest.as_deref(),
            credentials,
        ) {
            Admission::Trusted(t) => Some(t.trunk.tenant_id.clone()),
            Admission::NotFound => {
                drop(d);
                return reply(self, 404);
            }
            Admission::Authenticate => None,
        };
        let (tenant_id, kind) = match trusted {
            Some(tenant) => (tenant, CallerKind::Trunk),
            None => match self.guard.check(&req, true, secs, from.addr.ip(), &*d) {
                DigestOutcome::Authenticated(acct) => {
                    let kind = match d.extension_by_id(&acct.id) {
                        Some(_) => CallerKind::Extension,
                        None => CallerKind::Trunk,
                    };
                    (acct.tenant_id, kind)
                }
                DigestOutcome::Challenge { stale } => {
                    drop(d);
                    let r = self
                        .guard
                        .challenge(&req, true, stale, secs, from.addr.ip());
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
            },
        };
        // 2. Where to (see `routing::route`).
        let caller = Caller {
            tenant_id: &tenant_id,
            kind,
        };
        let (targets, to_browser, queue) = match route(&self.lookup(&d), caller, dest.as_deref()) {
            Ok(Route::Extension { contacts, .. }) => {
                (contacts.into_iter().map(Target::from).collect(), None, None)
            }
            Ok(Route::Outbound(t)) => {
                match trunk_target(t, dest.as_deref().unwrap_or_default(), false) {
                    Some(target) => (vec![target], None, None),
                    // The trunk's host did not resolve.
                    None => {
                        drop(d);
                        return reply(self, 503);
                    }
                }
            }
            Ok(Route::Queue {
                widget_id,
                contacts,
            }) => (
                contacts.into_iter().map(Target::from).collect(),
                None,
                Some(widget_id),
            ),
            Ok(Route::Browser(ch)) => (Vec::new(), Some(ch), None),
            Err(refusal) => {
                drop(d);
                if refusal == Refusal::Unavailable {
                    self.record_unavailable(&req, from, &tenant_id, &tag);
                }
                return reply(self, refusal.status());
            }
        };
        drop(d);
        // Routing refuses a call without a dialled user.
        let dest = dest.unwrap_or_default();

        // 3. Media: anchor the offer on a relay.
        let Some(offer) = hdr::sdp_body(&req.headers, &req.body) else {
            return reply(self, 488);
        };
        let call_key = self.next_call;
        self.next_call += 1;
        let media = match self.media.create(&tenant_id, call_key) {
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
        let b_sdp = extend_offer(b_sdp);

        // 4. Leg A dialog.
        let a = Dialog::uas(&req, &tag, from);
        let a_call_id = a.call_id.clone();
        let from_v = hdr::header_value(&req.headers, "From").unwrap_or_default();
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
        let started = now_record_ms(self);
        let record_id = format!("call_{}", new_call_id().replace(['@', '.'], ""));
        let mut record = CallRecord {
            id: record_id,
            tenant_id,
            kind: CallKind::Sip,
            from_uri: hdr::uri_part(from_v).to_string(),
            to_uri: req.uri.to_string(),
            status: CallStatus::Ringing,
            started_at: started,
            answered_at: None,
            ended_at: None,
            end_reason: None,
            hangup_side: None,
            widget_id: None,
            visitor_id: None,
            answered_by: None,
            legs: vec![CallLeg {
                id: ringside_storage::new_id(),
                call_id: String::new(),
                idx: 0,
                role: LegRole::Caller,
                sip_call_id: a_call_id.clone(),
                local_tag: tag.clone(),
                remote_tag: a.remote_tag.clone(),
                peer: from.addr.to_string(),
                started_at: started,
                answered_at: None,
                ended_at: None,
                final_status: None,
                quality: None,
            }],
        };

        // 5. Fork leg B to every target.
        let from_user = FromUser {
            display,
            user: caller_user,
        };
        let forks = self.fork_targets(
            now,
            call_key,
            targets,
            &b_sdp,
            &from_user,
            &dest,
            &mut record,
        );
        if forks.is_empty() && to_browser.is_none() && queue.is_none() {
            return reply(self, 500);
        }
        if let Some(w) = &queue {
            record.widget_id = Some(w.clone());
            record.status = CallStatus::Waiting;
        }
        if let Some(ch) = &to_browser {
            record.widget_id = Some(ch.widget_id.clone());
            record.visitor_id = Some(ch.visitor_id.clone());
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
                caller: CallerLeg::Sip(SipCaller {
                    dialog: a,
                    invite: req,
                    stx,
                }),
                phase: Phase::Ringing { tone: false },
                browser_b: to_browser.as_ref().map(super::browser::BrowserB::ringing),
                console_offered: false,
                browser_rtt: [None; 2],
                recording: self.cfg.record_calls,
                accept_timeout: std::time::Duration::ZERO,
                forks,
                media,
                record,
                offer: Some((Side::A, offer)),
                early: None,
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
        if let Some(ch) = to_browser {
            self.browser_rings(now, call_key, ch);
        }
        if let Some(widget) = queue {
            self.queue_waits(now, call_key);
            self.offer_to_console(call_key, widget);
        }
    }

    /// A queue call waits: Ringside answers it early (183 with its own SDP) and plays hold
    /// music until an extension answers (the final answer repeats the early SDP).
    fn queue_waits(&mut self, now: Instant, key: u64) {
        let media_ip = self.cfg.media_ip;
        let local = self.cfg.local.clone();
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let port = call.media.port(Side::A);
        let Some((sdp, codec)) = call
            .offer
            .as_ref()
            .and_then(|(_, o)| super::own_answer(o, media_ip, port))
        else {
            return;
        };
        call.media.set_codec(Side::A, codec);
        call.media.hold_music(Side::A, true);
        // Ends like generated ringback when someone answers.
        call.phase.set_tone(true);
        let reply = call.reply(183, Some(sdp.clone()), &local);
        call.early = Some((sdp, codec));
        self.reply_caller(now, reply);
    }
}

/// The leg B target for dialling `dest` through trunk `t` (`None` when its host does not
/// resolve).
pub(super) fn trunk_target(
    t: &crate::directory::TrunkEntry,
    dest: &str,
    accept: bool,
) -> Option<Target> {
    let (host, port, transport) = t.outbound()?;
    let Some(addr) = (host.as_str(), port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
    else {
        warn!(%host, "outbound trunk host does not resolve");
        return None;
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
    Some(Target::Trunk {
        uri: format!("sip:{dest}@{hostport}{tp}"),
        peer: Peer { addr, transport },
        auth,
        accept,
    })
}

/// Who leg B shows as calling.
pub(super) struct FromUser {
    /// `"Name" ` (with the trailing space) or empty.
    pub display: String,
    /// The user part of the From URI.
    pub user: String,
}

impl SipCore {
    /// Send the INVITE of leg B to every target (fork), adding a callee leg per fork to
    /// `record`; `dest` is the dialled number (the To user for trunk targets).
    pub(super) fn fork_targets(
        &mut self,
        now: Instant,
        call_key: u64,
        targets: Vec<Target>,
        b_sdp: &str,
        from: &FromUser,
        dest: &str,
        record: &mut CallRecord,
    ) -> Vec<Fork> {
        let local = self.cfg.local.clone();
        let started = record.started_at;
        let mut forks = Vec::new();
        for target in targets {
            let (uri, peer, to_user, trunk_auth, label, accept) = match target {
                Target::Contact { uri, peer, user } => {
                    let label = format!("extension:{user}");
                    (uri, peer, user, None, label, false)
                }
                Target::Trunk {
                    uri,
                    peer,
                    auth,
                    accept,
                } => {
                    let number = hdr::uri_user(&uri).unwrap_or(dest).to_string();
                    let label = format!("pstn:{number}");
                    (uri, peer, number, auth, label, accept)
                }
            };
            let mut dialog = Dialog::uac(
                format!("{}<sip:{}@{}>", from.display, from.user, local.host),
                format!("<sip:{to_user}@{}>", local.host),
                uri,
                peer,
            );
            let Some(invite) = dialog.request(
                &local,
                Method::Invite,
                Some(("application/sdp", b_sdp.to_owned().into_bytes())),
            ) else {
                continue;
            };
            let ctx = self.send_request(now, invite.clone(), peer);
            self.by_ctx
                .insert(ctx, (call_key, ClientRole::Fork(forks.len())));
            let leg_idx = record.legs.len();
            record.legs.push(CallLeg {
                id: ringside_storage::new_id(),
                call_id: String::new(),
                idx: leg_idx as i64,
                role: LegRole::Callee,
                sip_call_id: dialog.call_id.clone(),
                local_tag: dialog.local_tag.clone(),
                remote_tag: None,
                peer: peer.addr.to_string(),
                started_at: started,
                answered_at: None,
                ended_at: None,
                final_status: None,
                quality: None,
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
                label,
                accept,
                byed: false,
            });
        }
        forks
    }
}
