//! In-dialog requests passed across the bridge (BYE, re-INVITE, UPDATE, INFO, OPTIONS).

use std::time::Instant;

use rsip::headers::{self, Header, UntypedHeader};
use rsip::{Method, Request, Response};

use ringside_domain::{CallStatus, EndReason, HangupSide};
use ringside_sip::hdr;
use ringside_sip::message::make_response;
use ringside_sip::transaction::{Peer, ServerTxId, TransportKind};

use super::B2bua;
use crate::tu::Tu;

use super::{anchor_sdp, answer_sdp, extend_offer, side_index, ClientRole};
use crate::Side;
use ringside_sip::sdp::SessionDescription;
use tracing::{info, warn};

impl B2bua {
    /// An UPDATE on an early dialog (RFC 3311), from either side. Ringside anchors the media,
    /// so it answers it itself: the new offer's address and codec take effect on that side's
    /// leg of the relay, the answer is Ringside's own SDP for that leg, and the other side
    /// hears nothing of it. Without SDP (a session refresh) it is answered 200; an offer
    /// with nothing Ringside can use, 488, and nothing changes.
    fn early_update(
        &mut self,
        tu: &mut Tu,
        now: Instant,
        stx: ServerTxId,
        key: u64,
        side: Side,
        req: &Request,
    ) {
        let media_ip = tu.cfg.media_ip;
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let mut ok = make_response(req, 200.into(), None);
        if let Some(offer) = hdr::sdp_body(&req.headers, &req.body) {
            let Some(sdp) = call.answer_offer_here(side, &offer, media_ip) else {
                let r = make_response(req, 488.into(), None);
                return tu.respond(now, stx, r);
            };
            hdr::set_body(&mut ok, Some("application/sdp"), sdp.into_bytes());
        }
        tu.respond(now, stx, ok);
    }

    /// A request inside an existing dialog (re-INVITE, BYE, INFO, UPDATE, OPTIONS).
    pub(crate) fn on_in_dialog(
        &mut self,
        tu: &mut Tu,
        now: Instant,
        stx: ServerTxId,
        req: Request,
        _from: Peer,
    ) {
        let key = self.dialog_of(&req.headers, "To");
        let Some((key, side)) = key else {
            let r = make_response(&req, 481.into(), None);
            return tu.respond(now, stx, r);
        };
        if req.method == Method::PRack {
            // Ringside sends reliable provisionals to callers only.
            if side == Side::A {
                return self.caller_prack(tu, now, stx, key, &req);
            }
            let r = make_response(&req, 481.into(), None);
            return tu.respond(now, stx, r);
        }
        if self.joined_in_dialog(tu, now, stx, key, side, &req) {
            return;
        }
        // A referrer's leg B, during or after its transfer, is not the call's leg B any more.
        if side == Side::B
            && self.calls.get(&key).is_some_and(|c| c.phase.is_answered())
            && self.stale_leg_b(tu, now, stx, key, &req)
        {
            return;
        }
        let other = match side {
            Side::A => Side::B,
            Side::B => Side::A,
        };
        let media_ip = tu.cfg.media_ip;
        let Some(call) = self.calls.get_mut(&key) else {
            let r = make_response(&req, 481.into(), None);
            return tu.respond(now, stx, r);
        };
        if !call.phase.is_answered()
            && side == Side::B
            && self.early_fork_request(tu, now, stx, key, &req)
        {
            return;
        }
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        if !call.phase.is_answered() {
            if req.method == Method::Update {
                return self.early_update(tu, now, stx, key, side, &req);
            }
            // In-dialog requests on an early dialog (e.g. a callee's BYE before answering).
            let r = make_response(
                &req,
                if req.method == Method::Bye { 200 } else { 491 }.into(),
                None,
            );
            return tu.respond(now, stx, r);
        }
        if side == Side::A
            && (req.method == Method::Invite || req.method == Method::Update)
            && call.session.is_some()
        {
            // The caller refreshed its session (RFC 4028 section 10): the deadline moves on.
            self.arm_session(now, key);
        }
        let refresh = req.method == Method::Invite || req.method == Method::Update;
        if side == Side::B && refresh && call_has_callee_timer(self, key) {
            // So did the callee.
            self.arm_callee_session(now, key);
        }
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        if req.method == Method::Bye {
            let r = make_response(&req, 200.into(), None);
            tu.respond(now, stx, r);
            self.bye_side(tu, now, key, other);
            let who = if side == Side::A {
                HangupSide::Caller
            } else {
                HangupSide::Callee
            };
            self.end_call(tu, key, CallStatus::Ended, EndReason::Hangup, Some(who));
            return;
        }
        if (other == Side::A && call.caller.session().is_some())
            || (other == Side::B && call.browser_b.is_some())
        {
            return self.browser_in_dialog(tu, now, stx, key, req, side);
        }
        if req.method == Method::Info {
            let ct = hdr::header_value(&req.headers, "Content-Type").unwrap_or_default();
            if ct.trim().eq_ignore_ascii_case("application/dtmf-relay")
                || ct.trim().eq_ignore_ascii_case("application/dtmf")
            {
                let body = String::from_utf8_lossy(&req.body);
                if let Some((digit, duration_ms)) = ringside_media::dtmf::parse_dtmf_relay(&body) {
                    tu.metrics
                        .dtmf_info
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    info!(call = %call.record.id, ?side, %digit, duration_ms, "DTMF (SIP INFO)");
                }
            }
        }
        // Offers crossing on a dialog (RFC 3261 14.2, RFC 3311 5.2): an offer forwarded to this
        // side and not answered yet makes its own offer a glare (491: it retries after a
        // random pause); a re-INVITE while its previous one is unanswered gets 500 with a
        // random Retry-After.
        let offers = |r: &Request| {
            r.method == Method::Invite
                || (r.method == Method::Update && hdr::sdp_body(&r.headers, &r.body).is_some())
        };
        if offers(&req) {
            let pending = |from: Side| {
                self.by_ctx.values().any(|(k, role)| {
                    *k == key
                        && matches!(role, ClientRole::Forwarded { request, from: f, .. }
                            if *f == from && offers(request))
                })
            };
            // Ringside's own re-INVITE to this side (a resume, a referrer's call given
            // back) crossing this offer is a glare too.
            let own_pending = self.by_ctx.values().any(|(k, role)| {
                *k == key
                    && match role {
                        ClientRole::Resume(s) => *s == side,
                        ClientRole::GiveBack => side == Side::A,
                        _ => false,
                    }
            });
            if pending(other) || own_pending {
                tu.metrics
                    .glare
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return tu.respond(now, stx, make_response(&req, 491.into(), None));
            }
            if req.method == Method::Invite && pending(side) {
                let mut r = make_response(&req, 500.into(), None);
                r.headers.push(Header::RetryAfter(headers::RetryAfter::new(
                    (rand::random::<u8>() % 11).to_string(),
                )));
                return tu.respond(now, stx, r);
            }
        }
        // Forward the request to the other side, SDP re-anchored.
        let offer = hdr::sdp_body(&req.headers, &req.body).map(|s| call.offer_in(side, &s));
        let body = match offer {
            Some(Err(_)) => {
                // Keys this side's SRTP policy cannot carry: the call goes on as it was.
                let r = make_response(&req, 488.into(), None);
                return tu.respond(now, stx, r);
            }
            Some(Ok(sdp)) => match anchor_sdp(&sdp, media_ip, call.media.port(other)) {
                Some((s, rtp)) => {
                    if let Some(a) = rtp {
                        call.media.announce(side, a);
                    }
                    // A new offer: remember it for the answer, and play hold music to the
                    // other side while this side holds the call.
                    let hold = SessionDescription::parse(&sdp).is_ok_and(|d| d.is_hold());
                    call.media.hold_music(other, hold);
                    call.offer = Some((side, sdp.to_string()));
                    let out = call.offer_out(other, extend_offer(s));
                    Some(("application/sdp".to_string(), out.into_bytes()))
                }
                None => {
                    let r = make_response(&req, 488.into(), None);
                    return tu.respond(now, stx, r);
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
        let Some(od) = call.dialog_mut(other) else {
            let r = make_response(&req, 481.into(), None);
            return tu.respond(now, stx, r);
        };
        let peer = od.peer;
        let Some(fwd) = od.request(
            &tu.cfg.local,
            req.method,
            body.as_ref().map(|(ct, b)| (ct.as_str(), b.clone())),
        ) else {
            let r = make_response(&req, 500.into(), None);
            return tu.respond(now, stx, r);
        };
        let ctx = tu.send_request(now, fwd, peer);
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

    /// The caller's ACK to our 2xx. After a delayed offer it brings the caller's answer to
    /// the offer the 2xx carried: its address and codec complete leg A. An ACK without a
    /// usable answer leaves the call with no media the caller agreed to: it is hung up on
    /// both sides (RFC 3261 13.3.1.4).
    pub(crate) fn on_ack(&mut self, tu: &mut Tu, now: Instant, ack: &Request) {
        let key = self.dialog_of(&ack.headers, "To");
        let Some((key, side)) = key else {
            return;
        };
        let media_ip = tu.cfg.media_ip;
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let ack_cseq = hdr::cseq_num(&ack.headers);
        if call
            .pending_ack
            .is_some_and(|(toward, _, theirs)| toward != side && Some(theirs) == ack_cseq)
        {
            return self.complete_pending_ack(tu, now, key, side, ack);
        }
        if side != Side::A || call.late_offer.is_none() || !call.phase.is_answered() {
            return;
        }
        call.late_offer = None;
        let answer = hdr::sdp_body(&ack.headers, &ack.body)
            .and_then(|sdp| call.take_caller_answer(&sdp, media_ip));
        match answer {
            Some(codec) => {
                info!(call = %call.record.id, codec = ?codec.kind, "delayed offer answered in the ACK");
            }
            None => {
                warn!(call = %call.record.id, "the ACK brought no usable answer to our offer: hanging up");
                self.hang_up_both(tu, now, key, EndReason::MediaFailed);
            }
        }
    }

    /// The originator (`side`) ACKed the 2xx that carried the other side's offer: its answer
    /// goes on, anchored, in our ACK to the other side. Without a usable answer the call
    /// cannot agree on media and is hung up on both sides.
    fn complete_pending_ack(
        &mut self,
        tu: &mut Tu,
        now: Instant,
        key: u64,
        side: Side,
        ack: &Request,
    ) {
        let media_ip = tu.cfg.media_ip;
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let Some((toward, cseq, _)) = call.pending_ack.take() else {
            return;
        };
        let port = call.media.port(toward);
        let answer = hdr::sdp_body(&ack.headers, &ack.body)
            .and_then(|sdp| call.answer_in(side, &sdp).ok())
            .and_then(|sdp| answer_sdp(call, side, &sdp, media_ip, port));
        let Some((anchored, rtp)) = answer else {
            warn!(call = %call.record.id, "the ACK brought no usable answer to the offer in the 2xx: hanging up");
            // The other side still needs its ACK before the BYE.
            if let Some((a, peer)) = call
                .dialog(toward)
                .and_then(|d| d.ack(&tu.cfg.local, cseq).map(|a| (a, d.peer)))
            {
                tu.tx.send_stateless(rsip::SipMessage::Request(a), peer);
            }
            return self.hang_up_both(tu, now, key, EndReason::MediaFailed);
        };
        if let Some(a) = rtp {
            call.media.announce(side, a);
        }
        let Some(d) = call.dialog(toward) else {
            return;
        };
        let peer = d.peer;
        if let Some(mut out) = d.ack(&tu.cfg.local, cseq) {
            let anchored = call.answer_out(toward, anchored);
            hdr::set_request_body(&mut out, Some("application/sdp"), anchored.into_bytes());
            tu.metrics.request_out("ACK");
            tu.tx
                .send_stateless(rsip::SipMessage::Request(out.clone()), peer);
            call.last_ack[side_index(toward)] = Some((out, peer));
        }
    }

    /// The other side answered a forwarded request: answer the originator the same way.
    pub(super) fn relay_response(
        &mut self,
        tu: &mut Tu,
        now: Instant,
        key: u64,
        stx: ServerTxId,
        request: &Request,
        from: Side,
        resp: Response,
    ) {
        let code = resp.status_code.code();
        let media_ip = tu.cfg.media_ip;
        let Some(call) = self.calls.get_mut(&key) else {
            let r = make_response(request, 481.into(), None);
            return tu.respond(now, stx, r);
        };
        let other = if from == Side::A { Side::B } else { Side::A };
        // A re-INVITE without SDP whose 2xx carries an offer: the answer comes in the
        // originator's ACK, and our ACK to the other side must carry it (RFC 3261 14.1).
        let offer_in_2xx = request.method == Method::Invite
            && (200..300).contains(&code)
            && hdr::sdp_body(&request.headers, &request.body).is_none()
            && hdr::sdp_body(&resp.headers, &resp.body).is_some();
        if request.method == Method::Invite && (200..300).contains(&code) {
            let cseq = hdr::cseq_num(&resp.headers).unwrap_or(0);
            if offer_in_2xx {
                let theirs = hdr::cseq_num(&request.headers).unwrap_or(0);
                call.pending_ack = Some((other, cseq, theirs));
            } else {
                // We ACK the other side ourselves; the originator's ACK ends at us.
                let od = call.dialog(other);
                if let Some((ack, peer)) =
                    od.and_then(|d| d.ack(&tu.cfg.local, cseq).map(|a| (a, d.peer)))
                {
                    tu.metrics.request_out("ACK");
                    tu.tx
                        .send_stateless(rsip::SipMessage::Request(ack.clone()), peer);
                    call.last_ack[side_index(other)] = Some((ack, peer));
                }
            }
        }
        let Some(call) = self.calls.get_mut(&key) else {
            return tu.missing_call(key, "relayed response");
        };
        let mine = call.dialog(from);
        let my_tag = mine.map(|d| d.local_tag.clone()).unwrap_or_default();
        let transport = mine.map_or(TransportKind::Udp, |d| d.peer.transport);
        let mut out = make_response(request, code.into(), Some(&my_tag));
        if request.method == Method::Invite || request.method == Method::Update {
            out.headers.push(Header::Contact(headers::Contact::new(
                tu.cfg.local.contact(transport),
            )));
        }
        if let (Side::B, 200..=299, Some(_)) = (from, code, &call.callee_session) {
            // The callee's refresh is answered with the terms it asked for (RFC 4028 9).
            if let Some(se) = hdr::header_value(&request.headers, "Session-Expires") {
                out.headers.push(Header::Other(
                    "Session-Expires".into(),
                    se.trim().to_string(),
                ));
                out.headers
                    .push(Header::Other("Require".into(), "timer".into()));
            }
        }
        if let (Side::A, 200..=299, Some(st)) = (from, code, &call.session) {
            if request.method == Method::Invite || request.method == Method::Update {
                // A refresh from the caller is answered with the session's terms (RFC 4028
                // section 9), whatever the other side said.
                st.announce(&mut out.headers, "Require");
            }
        }
        // (SDP whose keys the other side's SRTP policy cannot carry is not passed on.)
        let sdp = hdr::sdp_body(&resp.headers, &resp.body);
        if let Some(sdp) = sdp.clone().filter(|_| offer_in_2xx) {
            // The other side's offer goes to the originator anchored on our relay, with every
            // codec Ringside transcodes; its answer comes back in the ACK.
            let port = call.media.port(from);
            let sdp = call.offer_in(other, &sdp).ok();
            if let Some((s, rtp, sdp)) = sdp.and_then(|o| {
                let (s, rtp) = anchor_sdp(&o, media_ip, port)?;
                Some((s, rtp, o))
            }) {
                if let Some(a) = rtp {
                    call.media.announce(other, a);
                }
                call.offer = Some((other, sdp));
                let s = call.offer_out(from, extend_offer(s));
                hdr::set_body(&mut out, Some("application/sdp"), s.into_bytes());
            }
        } else if let Some(sdp) = sdp {
            let port = call.media.port(from);
            let answer = call
                .answer_in(other, &sdp)
                .ok()
                .and_then(|sdp| answer_sdp(call, other, &sdp, media_ip, port));
            if let Some((s, rtp)) = answer {
                if let Some(a) = rtp {
                    call.media.announce(other, a);
                }
                let s = call.answer_out(from, s);
                hdr::set_body(&mut out, Some("application/sdp"), s.into_bytes());
            }
        } else if !resp.body.is_empty() {
            let ct = hdr::header_value(&resp.headers, "Content-Type").map(|s| s.trim().to_string());
            hdr::set_body(&mut out, ct.as_deref(), resp.body.clone());
        }
        tu.respond(now, stx, out);
    }
}

/// Whether call `key` runs a session timer with its callee.
fn call_has_callee_timer(b: &B2bua, key: u64) -> bool {
    b.calls
        .get(&key)
        .is_some_and(|c| c.callee_session.is_some())
}
