//! Leg B forks: responses, CANCEL, authentication retries, failover, and timers. Orphaned
//! forks and unwanted 2xx: [`super::stray`]; ending calls: [`super::ending`].

use std::net::IpAddr;
use std::time::Instant;

use rsip::headers::{self, Header, UntypedHeader};
use rsip::{Method, Request, Response};
use tracing::{debug, warn};

use ringside_domain::{CallStatus, EndReason, HangupSide};
use ringside_sip::auth::client_authorization;
use ringside_sip::dialog::LocalAddr;
use ringside_sip::hdr;
use ringside_sip::message::{make_cancel, make_response, new_tag};
use ringside_sip::transaction::{ClientTxId, ServerTxId};

use super::B2bua;
use super::CallTimer;
use crate::output::CoreOutput;
use crate::tu::Tu;

use super::{
    answer_sdp, extend_offer, final_code, own_answer, send_bye, BrowserSignal, Call, CallerReply,
    ClientRole, Phase,
};
use crate::Side;

impl B2bua {
    /// A response on one of our client transactions.
    pub(crate) fn on_response(
        &mut self,
        tu: &mut Tu,
        now: Instant,
        ctx: ClientTxId,
        resp: Response,
    ) {
        let code = resp.status_code.code();
        let Some((key, role)) = self.by_ctx.get(&ctx).cloned() else {
            // A retransmitted 2xx of a finished re-INVITE (RFC 6026: the transaction passes
            // it up): its ACK, if any, again.
            if (200..300).contains(&code) {
                self.reinvite_2xx_again(tu, &resp);
            }
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
            } => self.on_orphan_response(tu, now, ctx, *invite, cancel_sent, resp),
            ClientRole::Fork(n) => self.on_fork_response(tu, now, key, n, resp),
            ClientRole::Forwarded { stx, request, from } => {
                if code < 200 {
                    return;
                }
                self.relay_response(tu, now, key, stx, &request, from, resp);
            }
            ClientRole::Fire => {}
            // Our refresh was refused as the dialog or the caller is gone: the session is
            // over (RFC 4028 section 10).
            ClientRole::Refresh(_) if matches!(code, 408 | 481) => self.end_session(tu, now, key),
            // The other side's own offer crossed our refresh: try again after a random pause
            // under 2 s (RFC 3261 14.1).
            ClientRole::Refresh(side) if code == 491 => {
                let at = now + std::time::Duration::from_millis(rand::random::<u64>() % 2000);
                match side {
                    Side::A => self.session_due_at(key, at, CallTimer::SessionRefresh),
                    Side::B => self.callee_session_due_at(key, at, CallTimer::CalleeRefresh),
                }
            }
            ClientRole::Refresh(_) => {}
            ClientRole::Resume(side) => {
                self.resumed(tu, key, side, &resp);
            }
            ClientRole::GiveBack => self.given_back(tu, now, key, &resp),
        }
    }

    fn on_fork_response(&mut self, tu: &mut Tu, now: Instant, key: u64, n: usize, resp: Response) {
        let code = resp.status_code.code();
        if (101..200).contains(&code) && !self.prack_fork(tu, now, key, n, &resp) {
            // A reliable provisional already PRACKed, again.
            return;
        }
        let media_ip = tu.cfg.media_ip;
        let Some(call) = self.calls.get_mut(&key) else {
            // The call is gone: a late 2xx still needs ACK and BYE.
            return;
        };
        let Some(fork) = call.forks.get_mut(n) else {
            return tu.missing_call(key, "fork response");
        };
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
                    let ctx = tu.send_request(now, c, peer);
                    self.by_ctx.insert(ctx, (key, ClientRole::Fire));
                }
                return;
            }
            if call.phase.is_answered() || fork.done.is_some() {
                return;
            }
            if let Some(t) = hdr::tag(&resp.headers, "To") {
                fork.dialog.remote_tag = Some(t.to_string());
            }
            let has_sdp = hdr::sdp_body(&resp.headers, &resp.body).is_some();
            if !has_sdp && call.early.is_some() {
                // Ringside's own ringback is already playing to the caller.
                if let Some(session) = call.caller.session() {
                    tu.browser_signal(session, BrowserSignal::Ringing);
                }
                return;
            }
            if !has_sdp && call.caller_detached {
                // The caller's leg faces another call's relay (semi-attended transfer): the
                // ringback goes there, in the codec the join set.
                if tu.cfg.ringback && !call.phase.tone() {
                    call.media.ringback(Side::A, true);
                    call.phase.set_tone(true);
                }
                return;
            }
            if !has_sdp && tu.cfg.ringback && call.late_offer.is_none() {
                // Answer the caller early ourselves and play ringback into its leg.
                let offer = call.offer.as_ref().filter(|(s, _)| *s == Side::A);
                let port = call.media.port(Side::A);
                if let Some((sdp, codec)) = offer.and_then(|(_, o)| own_answer(o, media_ip, port)) {
                    call.media.set_codec(Side::A, codec);
                    call.media.ringback(Side::A, true);
                    call.phase.set_tone(true);
                    let reply = call.reply(183, Some(sdp.clone()), &tu.cfg.local);
                    call.early = Some((sdp, codec));
                    self.reply_caller(tu, now, key, reply);
                    return;
                }
            }
            // Relay 180/183 (with early media anchored) to the caller.
            let reply = caller_response(call, n, code, &resp, &tu.cfg.local, media_ip);
            self.reply_caller(tu, now, key, reply);
            return;
        }
        fork.finished = true;
        if (200..300).contains(&code) {
            let cseq = hdr::cseq_num(&resp.headers).unwrap_or(fork.dialog.local_cseq);
            if let Some(ack) = &fork.ack {
                // A retransmitted 2xx: our ACK was lost.
                let (ack, peer) = (ack.clone(), fork.dialog.peer);
                tu.tx.send_stateless(rsip::SipMessage::Request(ack), peer);
                return;
            }
            fork.dialog.confirm(&resp);
            let ack = fork.dialog.ack(&tu.cfg.local, cseq);
            fork.ack = ack.clone();
            fork.done = Some(code);
            let peer = fork.dialog.peer;
            if let Some(ack) = ack {
                tu.metrics.request_out("ACK");
                tu.tx.send_stateless(rsip::SipMessage::Request(ack), peer);
            }
            if self.is_transfer_fork(key, n) {
                return self.transfer_answered(tu, now, key, n, &resp);
            }
            let Some(call) = self.calls.get_mut(&key) else {
                return tu.missing_call(key, "fork answer");
            };
            let ringing = call.phase.is_ringing();
            let Some(fork) = call.forks.get_mut(n) else {
                return tu.missing_call(key, "fork answer");
            };
            if !ringing {
                // Another fork already won (or the call is over): hang this one up.
                fork.byed = true;
                send_bye(tu, &mut self.by_ctx, now, key, &mut fork.dialog);
                return;
            }
            let answer = hdr::sdp_body(&resp.headers, &resp.body);
            if answer.is_some_and(|sdp| call.fork_answer_in(n, &sdp).is_err()) {
                // Its media cannot be encrypted as its SRTP policy requires: hang it up.
                warn!(call = %call.record.id, fork = n, "answer without usable SRTP keys on a leg that requires them");
                if let Some(fork) = call.forks.get_mut(n) {
                    fork.byed = true;
                    send_bye(tu, &mut self.by_ctx, now, key, &mut fork.dialog);
                }
                return self.fork_failed(tu, now, key, n, 488);
            }
            let Some(fork) = call.forks.get_mut(n) else {
                return tu.missing_call(key, "fork answer");
            };
            if fork.accept {
                // A PSTN answerer must accept first (press 1 after the prompt).
                return self.pstn_answered(tu, now, key, n, &resp);
            }
            self.take_call(tu, now, key, n, code, Some(&resp));
            return;
        }
        // A failure on this fork.
        if code == 503 && !fork.provisional && !fork.alternates.is_empty() {
            self.fail_over(tu, now, key, n);
            return;
        }
        if code == 422 && !fork.session_retried {
            // Our session interval is below the callee's floor: ask again with its Min-SE
            // (RFC 4028 section 7.1), once.
            let asked = fork.session_secs.unwrap_or(0);
            if let Some(secs) = super::session::after_422(asked, &resp) {
                fork.session_retried = true;
                fork.session_secs = Some(secs);
                if let Some(invite) = fork.again(&tu.cfg.local) {
                    return self.resend_fork(tu, now, key, n, invite);
                }
            }
        }
        if matches!(code, 401 | 407) {
            if let Some(auth) = fork.trunk_auth.as_mut().filter(|a| !a.tried) {
                fork.finished = false;
                auth.tried = true;
                let (user, pass) = (auth.username.clone(), auth.password.clone());
                if self.retry_with_auth(tu, now, key, n, &resp, &user, &pass) {
                    return;
                }
            }
        }
        self.fork_failed(tu, now, key, n, code);
    }

    /// Fork `n` failed with `code` (or, for a PSTN leg, was not accepted): when no fork is
    /// left the caller gets the failure (a browser the unavailable message).
    pub(super) fn fork_failed(&mut self, tu: &mut Tu, now: Instant, key: u64, n: usize, code: u16) {
        if self.is_transfer_fork(key, n) {
            return self.transfer_fork_failed(tu, now, key, n, code);
        }
        let now_ms = tu.now_ms;
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let Some(fork) = call.forks.get_mut(n) else {
            return tu.missing_call(key, "fork failure");
        };
        fork.done = Some(code);
        if let Some(leg) = call.record.legs.get_mut(fork.leg_idx) {
            leg.final_status = Some(i64::from(code));
            leg.ended_at = Some(now_ms);
        }
        if !call.phase.is_ringing() || call.waiting_on_forks() || call.console_offered {
            if call.caller.session().is_some() && !call.phase.is_answered() {
                // The failed delivery shows at once (call.delivery_failed).
                let record = call.record.clone();
                tu.out.push_back(CoreOutput::UpdateCall(record));
            }
            return;
        }
        let fc = final_code(call.forks.iter().filter_map(|f| f.done));
        if call.caller.session().is_some() {
            // Nobody could take the browser's call: it hears the unavailable message.
            call.set_caller_status(fc);
            return self.browser_unavailable(tu, now, key, EndReason::Unavailable);
        }
        let reason = EndReason::from_sip_status(fc);
        self.refuse_caller(
            tu,
            now,
            key,
            fc,
            CallStatus::Failed,
            reason,
            HangupSide::Callee,
        );
    }

    /// The caller of call `key` gets final `code` (a response on its INVITE, or a browser
    /// signal), which its leg's record keeps, and the call ends.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn refuse_caller(
        &mut self,
        tu: &mut Tu,
        now: Instant,
        key: u64,
        code: u16,
        status: CallStatus,
        reason: EndReason,
        side: HangupSide,
    ) {
        let Some(call) = self.calls.get_mut(&key) else {
            return tu.missing_call(key, "final answer to the caller");
        };
        call.set_caller_status(code);
        let reply = call.reply(code, None, &tu.cfg.local);
        self.reply_caller(tu, now, key, reply);
        // A consultation call handed over while it rang (or a transfer target rung for
        // another call's caller): its partner ends with it, the referrer told why.
        self.caller_transfer_over(tu, now, key, code);
        self.end_partner(tu, now, key);
        self.end_call(tu, key, status, reason, Some(side));
    }

    /// Fork `n` answered (`code`, its response `resp` when it carries the callee's SDP) and
    /// takes the call: the caller is answered, the other forks are cancelled or hung up.
    pub(super) fn take_call(
        &mut self,
        tu: &mut Tu,
        now: Instant,
        key: u64,
        n: usize,
        code: u16,
        resp: Option<&Response>,
    ) {
        let now_ms = tu.now_ms;
        let media_ip = tu.cfg.media_ip;
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let Some(fork) = call.forks.get(n) else {
            return tu.missing_call(key, "fork answer");
        };
        let (leg_idx, label) = (fork.leg_idx, fork.label.clone());
        let (dialog_key, remote_tag) = (
            (fork.dialog.call_id.clone(), fork.dialog.local_tag.clone()),
            fork.dialog.remote_tag.clone(),
        );
        call.record.status = CallStatus::Answered;
        call.record.answered_at = Some(now_ms);
        call.record.answered_by = Some(label);
        if let Some(leg) = call.record.legs.first_mut() {
            leg.answered_at = Some(now_ms);
            leg.final_status = Some(200);
        }
        if let Some(leg) = call.record.legs.get_mut(leg_idx) {
            leg.answered_at = Some(now_ms);
            leg.remote_tag = remote_tag;
            leg.final_status = Some(i64::from(code));
        }
        self.by_dialog.insert(dialog_key, (key, Side::B));
        // Answer the caller with the callee's SDP anchored on our A port.
        let reply = match resp {
            Some(resp) => caller_response(call, n, 200, resp, &tu.cfg.local, media_ip),
            None => {
                // A PSTN leg accepted after the prompt: its media is set up already.
                call.media.ringback(Side::A, false);
                call.media.stop_play(Side::B);
                let offer = call.own_offer_for_caller(media_ip);
                call.reply(200, offer, &tu.cfg.local)
            }
        };
        call.phase = Phase::Answered { winner: Some(n) };
        let console = super::console::console_stopped(call, "answered");
        tu.out.extend(console);
        if call.recording {
            let (id, tenant) = (call.record.id.clone(), call.record.tenant_id.clone());
            call.media.start_recording(&id, &tenant, now_ms);
        }
        let record = call.record.clone();
        self.cancel_other_forks(tu, now, key, Some(n));
        tu.out.push_back(CoreOutput::UpdateCall(record));
        self.reply_caller(tu, now, key, reply);
        self.arm_session(now, key);
        if let Some(resp) = resp {
            self.callee_session_start(now, key, resp);
        }
        self.caller_transfer_over(tu, now, key, 200);
        debug!(call = key, "answered");
    }

    /// Send fork `n`'s INVITE to the next address of its trunk's host (RFC 3263 §4.3), as a
    /// new transaction; false when there is none left.
    fn fail_over(&mut self, tu: &mut Tu, now: Instant, key: u64, n: usize) -> bool {
        let Some(call) = self.calls.get_mut(&key) else {
            return false;
        };
        let Some(fork) = call.forks.get_mut(n) else {
            return false;
        };
        let Some(next) = fork.alternates.pop_front() else {
            return false;
        };
        let failed = fork.dialog.peer.addr;
        fork.dialog.peer = next;
        let Some(invite) = fork.again(&tu.cfg.local) else {
            return false;
        };
        tracing::info!(%failed, next = %next.addr, "trunk address failed; trying the next");
        if let Some(leg) = call.record.legs.get_mut(fork.leg_idx) {
            leg.peer = next.addr.to_string();
        }
        self.resend_fork(tu, now, key, n, invite);
        true
    }

    /// Send `invite` (from [`Fork::again`]) as fork `n`'s INVITE, in place of the last.
    fn resend_fork(&mut self, tu: &mut Tu, now: Instant, key: u64, n: usize, invite: Request) {
        let Some(fork) = self.calls.get_mut(&key).and_then(|c| c.forks.get_mut(n)) else {
            return tu.missing_call(key, "fork re-INVITE");
        };
        fork.invite = invite.clone();
        let ctx = tu.send_request(now, invite, fork.dialog.peer);
        let old = std::mem::replace(&mut fork.tx, ctx);
        self.by_ctx.remove(&old);
        self.by_ctx.insert(ctx, (key, ClientRole::Fork(n)));
    }

    fn retry_with_auth(
        &mut self,
        tu: &mut Tu,
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
        let Some(call) = self.calls.get_mut(&key) else {
            tu.missing_call(key, "fork challenge");
            return false;
        };
        let Some(fork) = call.forks.get_mut(n) else {
            tu.missing_call(key, "fork challenge");
            return false;
        };
        let uri = fork.invite.uri.to_string();
        let cnonce = new_tag();
        let Ok(value) = client_authorization(&challenge, "INVITE", &uri, user, pass, 1, &cnonce)
        else {
            return false;
        };
        let Some(mut invite) = fork.again(&tu.cfg.local) else {
            return false;
        };
        invite.headers.push(if code == 401 {
            Header::Authorization(headers::Authorization::new(value))
        } else {
            Header::ProxyAuthorization(headers::ProxyAuthorization::new(value))
        });
        self.resend_fork(tu, now, key, n, invite);
        true
    }

    /// CANCEL every pending fork except `keep`.
    pub(super) fn cancel_other_forks(
        &mut self,
        tu: &mut Tu,
        now: Instant,
        key: u64,
        keep: Option<usize>,
    ) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let mut cancels = Vec::new();
        for (i, f) in call.forks.iter_mut().enumerate() {
            if Some(i) != keep && f.ack.is_some() && !f.byed {
                // Answered but not taking the call (a PSTN leg still at the accept prompt).
                f.byed = true;
                if let Some(bye) = f.dialog.request(&tu.cfg.local, Method::Bye, None) {
                    cancels.push((bye, f.dialog.peer));
                }
                continue;
            }
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
            let ctx = tu.send_request(now, c, peer);
            self.by_ctx.insert(ctx, (key, ClientRole::Fire));
        }
    }

    /// The caller cancelled its INVITE.
    pub(crate) fn on_cancel(&mut self, tu: &mut Tu, now: Instant, stx: ServerTxId) {
        let Some(key) = self
            .calls
            .iter()
            .find(|(_, c)| {
                c.caller.stx() == Some(stx) && !c.phase.is_answered() && !c.caller_detached
            })
            .map(|(k, _)| *k)
        else {
            return;
        };
        self.cancel_other_forks(tu, now, key, None);
        self.refuse_caller(
            tu,
            now,
            key,
            487,
            CallStatus::Missed,
            EndReason::Cancelled,
            HangupSide::Caller,
        );
    }

    pub(crate) fn on_call_timer(&mut self, tu: &mut Tu, now: Instant, key: u64, timer: CallTimer) {
        match timer {
            CallTimer::RingTimeout => {
                let Some(call) = self.calls.get(&key) else {
                    return;
                };
                if call.phase.is_answered() {
                    return;
                }
                self.cancel_other_forks(tu, now, key, None);
                let Some(call) = self.calls.get_mut(&key) else {
                    return tu.missing_call(key, "ring timeout");
                };
                if call.caller.session().is_some() {
                    call.set_caller_status(480);
                    return self.browser_unavailable(tu, now, key, EndReason::NoAnswer);
                }
                self.refuse_caller(
                    tu,
                    now,
                    key,
                    480,
                    CallStatus::Missed,
                    EndReason::NoAnswer,
                    HangupSide::System,
                );
            }
            CallTimer::PromptDone => self.browser_prompt_done(tu, key),
            CallTimer::AcceptTimeout(n) => self.pstn_not_accepted(tu, now, key, n),
            CallTimer::Reliable => self.reliable_due(tu, now, key),
            CallTimer::SessionExpiry | CallTimer::SessionRefresh => {
                self.session_due(tu, now, key, timer)
            }
            CallTimer::CalleeExpiry | CallTimer::CalleeRefresh => {
                self.callee_session_due(tu, now, key, timer)
            }
            CallTimer::TransferTimeout => self.transfer_timeout(tu, now, key),
            CallTimer::GiveBack => {
                self.reoffer(tu, now, key, Side::A, ClientRole::GiveBack);
            }
        }
    }

    pub(crate) fn on_client_timeout(&mut self, tu: &mut Tu, now: Instant, ctx: ClientTxId) {
        let Some((key, role)) = self.by_ctx.remove(&ctx) else {
            return;
        };
        match role {
            ClientRole::Fork(n) => {
                // The address did not answer or could not be reached: the next one, if any.
                if self.fail_over(tu, now, key, n) {
                    return;
                }
                // Synthesize a 408 from the fork's INVITE for the failure path.
                if let Some(fork) = self.calls.get(&key).and_then(|c| c.forks.get(n)) {
                    let r = make_response(&fork.invite, 408.into(), None);
                    self.on_fork_response(tu, now, key, n, r);
                }
            }
            ClientRole::Forwarded {
                stx,
                request,
                from: _,
            } => {
                let r = make_response(&request, 408.into(), None);
                tu.respond(now, stx, r);
            }
            ClientRole::Orphan { invite, .. } => {
                self.orphan_peers
                    .remove(hdr::call_id(&invite.headers).unwrap_or_default());
            }
            ClientRole::Fire => {}
            // Our refresh went unanswered: the caller is gone.
            ClientRole::Refresh(_) => self.end_session(tu, now, key),
            ClientRole::Resume(_) => {}
            // The referrer never answered for its call back: it is gone.
            ClientRole::GiveBack => self.give_back_failed(tu, now, key, false),
        }
    }

    pub(crate) fn on_ack_timeout(&mut self, tu: &mut Tu, now: Instant, stx: ServerTxId) {
        // Our 2xx to the caller was never acknowledged: the call is dead, hang up the callee.
        let Some(key) = self
            .calls
            .iter()
            .find(|(_, c)| c.caller.stx() == Some(stx) && c.phase.is_answered())
            .map(|(k, _)| *k)
        else {
            return;
        };
        self.bye_side(tu, now, key, Side::B);
        self.end_call(
            tu,
            key,
            CallStatus::Ended,
            EndReason::AckTimeout,
            Some(HangupSide::System),
        );
    }
}

/// What to tell the caller for a callee's 1xx/2xx: the callee's SDP (if any) re-anchored on the
/// relay's A port, announcing the callee's media address (see [`Call::reply`]).
fn caller_response(
    call: &mut Call,
    n: usize,
    code: u16,
    resp: &Response,
    local: &LocalAddr,
    media_ip: IpAddr,
) -> CallerReply {
    let mut sdp_out = None;
    // (Early SDP whose keys the fork's SRTP policy cannot carry is not passed on.)
    let sdp = hdr::sdp_body(&resp.headers, &resp.body).map(|s| call.fork_answer_in(n, &s));
    if let Some(Ok(sdp)) = sdp {
        let port = call.media.port(Side::A);
        if let Some((a_sdp, b_rtp)) = answer_sdp(call, Side::B, &sdp, media_ip, port) {
            if let Some(b) = b_rtp {
                call.media.announce(Side::B, b);
            }
            if let Some(pending) = call.late_offer.as_mut() {
                // Delayed offer: what goes to the caller is Ringside's offer (the callee's
                // codec first, then every codec Ringside can transcode to it), in the 2xx
                // only: an unreliable provisional carries no offer (RFC 6337 2.1). An offer
                // already made (in a reliable 183 to a queue call) stays the one offer.
                if pending.is_empty() {
                    *pending = extend_offer(a_sdp);
                }
                let offer = (code >= 200).then(|| pending.clone());
                return finish_caller_reply(call, code, offer, local);
            }
            sdp_out = Some(match &call.early {
                // The caller already has Ringside's answer: it stays the same (RFC 3261
                // 13.2.1), its codec too; the callee's codec is bridged to it.
                Some((early, codec)) => {
                    call.media.set_codec(Side::A, *codec);
                    early.clone()
                }
                None => a_sdp,
            });
        }
    } else if code == 200 {
        sdp_out = match &call.late_offer {
            // The callee answered Ringside's offer in a provisional already.
            Some(pending) => Some(pending.clone()),
            None => call.early.as_ref().map(|(early, _)| early.clone()),
        };
    }
    finish_caller_reply(call, code, sdp_out, local)
}

/// [`caller_response`]'s reply once its SDP (if any) is settled.
fn finish_caller_reply(
    call: &mut Call,
    code: u16,
    sdp_out: Option<String>,
    local: &LocalAddr,
) -> CallerReply {
    if let Some(j) = call.joined {
        // The callee's answer chose codecs for both legs; the leg facing the other call's
        // relay keeps the join's.
        call.media.set_codec(j.inner, super::PCMU);
    }
    // A browser caller's early answer is its edge session's own (empty here).
    let sdp_out = sdp_out.filter(|s| !s.is_empty());
    if call.phase.tone() && (code >= 200 || sdp_out.is_some()) {
        // The callee answered or sends its own early media: our ringback ends.
        call.phase.set_tone(false);
        call.media.ringback(Side::A, false);
    }
    call.reply(code, sdp_out, local)
}
