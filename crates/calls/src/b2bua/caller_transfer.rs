//! Blind transfer from the caller's side: the extension that *placed* call X (its leg A, say
//! an operator who called a customer) sends REFER on its own dialog to hand the party it
//! called (X's leg B) to another number.
//!
//! Leg A of a call is the caller's UAS dialog and cannot be re-pointed at a new party, so
//! Ringside places a call of its own, Z, with nobody on its caller side ([`CallerLeg::Joined`])
//! and the transfer target rung on its leg B exactly as the referrer could dial it. X's leg A
//! and Z's leg A are joined relay to relay at once (as an attended transfer joins two calls):
//! the transferee hears Z's ringback and, when the target answers, talks to it. The referrer
//! is told `100 Trying` in a NOTIFY when the REFER is accepted and the outcome (`200 OK`, or
//! the failure) when the target answers or gives up. When it answers the referrer is hung up;
//! when it fails (busy, the ring timeout) the referrer gets its call back: Ringside re-INVITEs
//! it with a fresh offer of the first call's relay while the transferee hears hold music (a
//! referrer that refuses that re-INVITE is hung up with the transferee). A transferee who
//! hangs up first cancels the ringing.
//!
//! A trunk's party that called in (a PBX) may do the same, to what that trunk could call
//! (the tenant's extensions, never back out through a trunk).
//!
//! With `Replaces` it is an attended transfer from the caller's side ([`super::attended`]: the
//! extension hands the party it called to another call of its own).
//!
//! Refused: a browser caller (403), a trunk's party with `Replaces` (403), a call not
//! answered yet (481), one transferring or joined already (491), and targets as for any
//! transfer (403 where the referrer may not dial them).

use std::time::Instant;

use rsip::Request;
use tracing::{info, warn};

use ringside_domain::CallKind;
use ringside_sip::message::make_response;
use ringside_sip::transaction::ServerTxId;

use super::{
    anchor_sdp, extend_offer, send_bye, B2bua, Call, CallTimer, CallerLeg, Phase, Target,
    LATE_OFFER,
};
use crate::output::CoreOutput;
use crate::tu::Tu;
use crate::Side;

impl B2bua {
    /// Accepts the caller-side REFER of call `key` (its caller an extension) and rings
    /// `targets` (routed for that extension) for its callee, in a call of Ringside's own
    /// joined to this one.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn transfer_from_caller(
        &mut self,
        tu: &mut Tu,
        now: Instant,
        stx: ServerTxId,
        req: &Request,
        key: u64,
        number: &str,
        targets: Vec<Target>,
    ) {
        let media_ip = tu.cfg.media_ip;
        let Some(x) = self.calls.get(&key) else {
            return self.refuse_refer(tu, now, stx, req, 481);
        };
        let Some(transferee) = x
            .phase
            .winner()
            .and_then(|w| x.forks.get(w))
            .and_then(|f| x.record.legs.get(f.leg_idx))
            .cloned()
        else {
            return self.refuse_refer(tu, now, stx, req, 481);
        };
        let (tenant, identity) = (x.record.tenant_id.clone(), x.identity.clone());
        let (from_uri, account) = (x.record.to_uri.clone(), x.caller_account.clone());
        let z = self.next_call;
        let media = match self.media.create(&tenant, z) {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, "cannot allocate media for a transfer");
                return self.refuse_refer(tu, now, stx, req, 503);
            }
        };
        self.next_call += 1;
        let offer = anchor_sdp(LATE_OFFER, media_ip, media.port(Side::B))
            .map(|(s, _)| extend_offer(s))
            .unwrap_or_default();
        let started = tu.now_ms;
        // The transferee is the caller of the new call: its leg of call X stands first.
        let caller = super::CallerDialog {
            sip_call_id: transferee.sip_call_id,
            local_tag: transferee.local_tag,
            remote_tag: transferee.remote_tag,
            peer: transferee.peer,
        };
        let uris = (from_uri, format!("sip:{number}@{}", tu.cfg.local.host));
        let mut record = super::ringing_record(tenant, CallKind::Sip, uris, started, caller);
        // (Answered already, in call X.)
        record.legs[0].answered_at = Some(started);
        record.legs[0].final_status = Some(200);
        let mut sdes_b = super::sdes::SdesLeg::default();
        let forks = self.fork_targets(
            tu,
            now,
            z,
            targets,
            (&offer, &mut sdes_b, None),
            &identity,
            number,
            &mut record,
            0,
        );
        if forks.is_empty() {
            return self.refuse_refer(tu, now, stx, req, 480);
        }
        super::sdes::expect_keys(&*media, &forks);
        tu.respond(now, stx, make_response(req, 202.into(), None));
        let rid = record.id.clone();
        for l in &mut record.legs {
            l.call_id = rid.clone();
        }
        tu.out.push_back(CoreOutput::InsertCall(record.clone()));
        self.calls.insert(
            z,
            Call {
                caller: CallerLeg::Joined,
                phase: Phase::Ringing { tone: false },
                browser_b: None,
                console_offered: false,
                browser_rtt: [None; 2],
                recording: tu.cfg.record_calls,
                accept_timeout: std::time::Duration::ZERO,
                forks,
                media,
                record,
                offer: Some((Side::A, offer)),
                early: None,
                late_offer: None,
                reliable: None,
                session: None,
                pending_ack: None,
                last_ack: [None, None],
                sdes: [super::sdes::SdesLeg::default(), sdes_b],
                callee_session: None,
                identity,
                transfer: None,
                transfer_sdes: None,
                caller_account: account,
                joined: None,
                caller_detached: true,
                referred_by: Some(key),
            },
        );
        tu.metrics
            .calls_total
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.start_timer(now + tu.cfg.ring_timeout, z, CallTimer::RingTimeout);
        self.join(media_ip, (key, Side::A), (z, Side::A));
        if let Some(c) = self.calls.get(&key) {
            c.media.hold_music(Side::B, false);
            info!(call = %c.record.id, to = %number, transfer = %rid, "blind transfer from the caller's side: ringing the new party");
        }
        self.notify_caller(tu, now, key, 100, "Trying", true);
        // The transferee, held by the referrer, is taken off hold.
        self.resume_if_held(tu, now, key, Side::B);
    }

    /// Call `z`, ringing a transfer target for call `x`'s caller (its `referred_by`), is
    /// answered (`code` 200) or has failed: the referrer hears it in a NOTIFY and is hung up.
    pub(super) fn caller_transfer_over(&mut self, tu: &mut Tu, now: Instant, z: u64, code: u16) {
        let Some(x) = self.calls.get_mut(&z).and_then(|c| c.referred_by.take()) else {
            return;
        };
        let reason = match code {
            200 => "OK",
            486 => "Busy Here",
            487 => "Request Terminated",
            _ => "Temporarily Unavailable",
        };
        self.notify_caller(tu, now, x, code, reason, false);
        if code != 200 && self.give_back(tu, now, x, z) {
            return;
        }
        let Some(c) = self.calls.get_mut(&x) else {
            return;
        };
        // The referrer's session timer goes with it (nobody refreshes it now).
        c.session = None;
        if let Some(s) = c.caller.sip_mut() {
            send_bye(tu, &mut self.by_ctx, now, x, &mut s.dialog);
        }
    }

    /// The target rung in call `z` for call `x`'s caller failed while the transferee (`x`'s
    /// leg B) was still there: the calls are parted and the referrer, still on `x`'s leg A,
    /// gets its call back — Ringside re-offers it media from `x`'s own relay port, and the
    /// transferee hears hold music until the referrer's answer takes the call off hold. False
    /// when the calls were parted already (the transferee hung up) or the referrer has no
    /// dialog to re-offer on.
    fn give_back(&mut self, tu: &mut Tu, now: Instant, x: u64, z: u64) -> bool {
        let joined = self
            .calls
            .get(&x)
            .filter(|c| c.dialog(Side::A).is_some())
            .and_then(|c| c.joined)
            .is_some_and(|j| j.other == z && j.inner == Side::A);
        if !joined {
            return false;
        }
        for k in [x, z] {
            if let Some(c) = self.calls.get_mut(&k) {
                c.joined = None;
            }
        }
        if let Some(c) = self.calls.get_mut(&x) {
            c.media.hold_music(Side::B, true);
            // The join left the relay's leg A plain: its SRTP state starts afresh, so the
            // referrer's answer (or its own re-offer) keys the relay again even if it reuses
            // its old key.
            c.sdes[0] = super::sdes::SdesLeg::new(c.sdes[0].policy);
            info!(call = %c.record.id, "blind transfer from the caller's side failed: the call goes back to the referrer");
        }
        self.reoffer(tu, now, x, Side::A, super::ClientRole::GiveBack)
    }

    /// The referrer's answer to [`Self::give_back`]'s re-INVITE: a 2xx is ACKed and its media
    /// taken (the transferee's hold music stops unless the referrer still holds); a refusal
    /// ends the call.
    pub(super) fn given_back(
        &mut self,
        tu: &mut Tu,
        now: Instant,
        key: u64,
        resp: &rsip::Response,
    ) {
        let code = resp.status_code.code();
        if code < 200 {
            return;
        }
        if code == 491 {
            // Its own re-INVITE crossed ours (it takes the call back itself, RFC 5589):
            // ours goes again after a random pause under 2 s (RFC 3261 §14.1; the referrer
            // owns the Call-ID).
            let at = now + std::time::Duration::from_millis(rand::random::<u64>() % 2000);
            return self.start_timer(at, key, super::CallTimer::GiveBack);
        }
        if code >= 300 {
            // A referrer whose dialog is gone (481, 408) gets no BYE.
            return self.give_back_failed(tu, now, key, !matches!(code, 408 | 481));
        }
        if !self.resumed(tu, key, Side::A, resp) {
            // A 2xx without a usable answer: the referrer cannot be heard.
            return self.give_back_failed(tu, now, key, true);
        }
        // A 2xx to a re-INVITE refreshes the session (RFC 4028 §10).
        self.arm_session(now, key);
        let held = ringside_sip::hdr::sdp_body(&resp.headers, &resp.body)
            .and_then(|s| ringside_sip::sdp::SessionDescription::parse(&s).ok())
            .is_some_and(|d| d.is_hold());
        if let Some(c) = self.calls.get(&key) {
            c.media.hold_music(Side::B, held);
        }
    }

    /// The referrer did not take its call back: the transferee is hung up (and the referrer
    /// too when `bye_referrer`) and the call ends.
    pub(super) fn give_back_failed(
        &mut self,
        tu: &mut Tu,
        now: Instant,
        key: u64,
        bye_referrer: bool,
    ) {
        if !self.calls.contains_key(&key) {
            return;
        }
        warn!("the referrer did not take its call back after a failed transfer: ending it");
        let reason = ringside_domain::EndReason::Hangup;
        if bye_referrer {
            return self.hang_up_both(tu, now, key, reason);
        }
        self.bye_side(tu, now, key, Side::B);
        let ended = ringside_domain::CallStatus::Ended;
        self.end_call(
            tu,
            key,
            ended,
            reason,
            Some(ringside_domain::HangupSide::System),
        );
    }
}
