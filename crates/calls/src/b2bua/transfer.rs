//! Blind transfer (RFC 3515 REFER, RFC 3420 sipfrag progress): the phone that answered a call
//! (leg B, an extension) sends REFER naming another number; Ringside accepts it (202), rings
//! that number for the caller as the phone itself would have dialled it (so a trunk's
//! `allowedDestinations` still decide where a transfer may go), reports progress to the
//! referrer in NOTIFYs, and when the new party answers, moves leg B of the relay to it and
//! hangs the referrer up. The caller's leg is untouched.
//!
//! A trunk's party (a PBX that answered a call Ringside sent it) may transfer too, but only to
//! what that trunk could call itself — the tenant's extensions, never back out through a trunk —
//! so a carrier cannot turn a transfer into a call at the tenant's cost.
//!
//! Refused: a REFER on a dialog that is not the answered leg B (481), from another address
//! than that dialog's party (403, see [`from_the_party`]), to a number the referrer could not
//! dial (403), with `Replaces` from a trunk's party (403), or while another transfer runs
//! (491). A REFER from the caller's side is [`super::caller_transfer`]; one with
//! `Replaces`, from either side, an attended transfer ([`super::attended`]).

use std::net::IpAddr;
use std::time::Instant;

use rsip::headers::Header;
use rsip::{Method, Request, Response};
use tracing::{info, warn};

use ringside_sip::hdr;
use ringside_sip::message::make_response;
use ringside_sip::replaces::Replaces;
use ringside_sip::transaction::ServerTxId;

use super::{anchor_sdp, extend_offer, send_bye, B2bua, CallTimer, ClientRole, Phase, Target};
use crate::output::CoreOutput;
use crate::tu::Tu;
use crate::Side;

/// A transfer in progress.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Transfer {
    /// The fork that answered and sent the REFER.
    referrer: usize,
    /// The first fork ringing the transfer target.
    base: usize,
    /// The referrer hung up already (usual for a blind transfer).
    referrer_gone: bool,
    /// When the transfer gives up ringing (a timer of an earlier transfer is stale).
    due: Instant,
}

/// What a REFER asks for.
pub(crate) enum ReferAsk {
    /// Blind transfer of call `key` (of `tenant`) to `number`; `by_trunk`: the referrer is a
    /// trunk's party, so the number is routed as that trunk's calls are (the tenant's
    /// extensions, never back out through a trunk).
    Blind {
        key: u64,
        tenant: String,
        number: String,
        by_trunk: bool,
    },
    /// Attended transfer: call `key` (the referrer on its side `from`) joins call `other`,
    /// whose dialog with the referrer on side `inner` the `Replaces` named (see
    /// [`super::attended`]).
    Attended {
        key: u64,
        from: Side,
        other: u64,
        inner: Side,
    },
    /// Blind transfer from the caller's side: call `key`'s callee goes to `number`, rung as
    /// its caller (an extension of `tenant`) would dial it (see [`super::caller_transfer`]).
    FromCaller {
        key: u64,
        tenant: String,
        number: String,
        by_trunk: bool,
    },
}

/// The number a `Refer-To` names (or the `Replaces` it carries), or the status to refuse it
/// with.
fn refer_target(req: &Request) -> Result<Result<String, Replaces>, u16> {
    let v = hdr::header_value(&req.headers, "Refer-To")
        .or_else(|| hdr::header_value(&req.headers, "r"))
        .ok_or(400u16)?;
    match Replaces::from_refer_to(v) {
        Some(Ok(r)) => return Ok(Err(r)),
        Some(Err(_)) => return Err(400),
        None => {}
    }
    let uri = hdr::uri_part(v);
    if !(uri.starts_with("sip:") || uri.starts_with("sips:")) {
        return Err(400);
    }
    hdr::uri_user(uri)
        .filter(|u| !u.is_empty())
        .map(|u| Ok(u.to_owned()))
        .ok_or(400)
}

/// A REFER must come from the party whose dialog it names: from the address that party's
/// requests come from (any port: a phone's TCP or TLS connection may have been reopened), or,
/// for a trunk's party (`trunk`: its tenant), from any address a trunk of that tenant trusts.
/// Anyone else who learnt the dialog's Call-ID and tags is refused 403 (a transfer is a
/// toll-fraud path).
fn from_the_party(
    source: IpAddr,
    peer: Option<IpAddr>,
    trunk: Option<&String>,
    trusted: &dyn Fn(&str, IpAddr) -> bool,
) -> Result<(), u16> {
    if peer == Some(source) || trunk.is_some_and(|t| trusted(t, source)) {
        return Ok(());
    }
    warn!(%source, ?peer, "REFER from outside its dialog's party refused");
    Err(403)
}

impl B2bua {
    /// Checks a REFER that came from `source`: what it asks of which call, or the status to
    /// refuse it with. `trusted(tenant, ip)`: a trunk of the tenant trusts `ip` (a carrier's
    /// other signalling address).
    pub(crate) fn transfer_request(
        &self,
        req: &Request,
        source: IpAddr,
        trusted: &dyn Fn(&str, IpAddr) -> bool,
    ) -> Result<ReferAsk, u16> {
        let (key, side) = self.dialog_of(&req.headers, "To").ok_or(481u16)?;
        let call = self.calls.get(&key).ok_or(481u16)?;
        if side == Side::A {
            return self.caller_refer(key, req, source, trusted);
        }
        let winner = call.phase.winner().ok_or(481u16)?;
        if call.fork_of_request(req) != Some(winner) {
            return Err(481);
        }
        let peer = call.forks.get(winner).map(|f| f.dialog.peer.addr.ip());
        let trunk = call
            .forks
            .get(winner)
            .is_some_and(|f| f.label.starts_with("pstn:"));
        from_the_party(
            source,
            peer,
            trunk.then_some(&call.record.tenant_id),
            trusted,
        )?;
        if call.transfer.is_some() {
            return Err(491);
        }
        let label = call.forks.get(winner).map_or("", |f| f.label.as_str());
        let referrer = label.strip_prefix("extension:");
        let by_trunk = label.starts_with("pstn:");
        if referrer.is_none() && !by_trunk {
            return Err(403);
        }
        if call.joined.is_some() {
            return Err(491);
        }
        match (refer_target(req)?, referrer) {
            (Ok(number), _) => Ok(ReferAsk::Blind {
                key,
                tenant: call.record.tenant_id.clone(),
                number,
                by_trunk,
            }),
            (Err(replaces), Some(referrer)) => {
                let (other, inner) = self.replaced_call(key, referrer, &replaces)?;
                Ok(ReferAsk::Attended {
                    key,
                    from: Side::B,
                    other,
                    inner,
                })
            }
            // A trunk's party owns no call of Ringside's to replace.
            (Err(_), None) => Err(403),
        }
    }

    /// Checks a REFER from the caller of call `key`: a SIP caller's (an extension, or a
    /// trunk's party), on an answered call with nothing else going on, naming a number (not
    /// `Replaces`).
    fn caller_refer(
        &self,
        key: u64,
        req: &Request,
        source: IpAddr,
        trusted: &dyn Fn(&str, IpAddr) -> bool,
    ) -> Result<ReferAsk, u16> {
        let call = self.calls.get(&key).ok_or(481u16)?;
        let Some(caller) = call.caller.sip().filter(|_| !call.caller_detached) else {
            return Err(403);
        };
        // The caller's own dialog: its tag, not just Ringside's and the Call-ID.
        if hdr::tag(&req.headers, "From") != caller.dialog.remote_tag.as_deref() {
            return Err(481);
        }
        let trunk = call
            .caller_account
            .is_none()
            .then_some(&call.record.tenant_id);
        from_the_party(source, Some(caller.dialog.peer.addr.ip()), trunk, trusted)?;
        if !call.phase.is_answered() || call.phase.winner().is_none() {
            return Err(481);
        }
        if call.transfer.is_some() || call.joined.is_some() {
            return Err(491);
        }
        match (refer_target(req)?, call.caller_account.as_deref()) {
            (Ok(number), _) => Ok(ReferAsk::FromCaller {
                key,
                tenant: call.record.tenant_id.clone(),
                number,
                by_trunk: call.caller_account.is_none(),
            }),
            // The extension hands the party it called to another call of its own.
            (Err(replaces), Some(referrer)) => {
                let (other, inner) = self.replaced_call(key, referrer, &replaces)?;
                Ok(ReferAsk::Attended {
                    key,
                    from: Side::A,
                    other,
                    inner,
                })
            }
            // A trunk's party owns no call of Ringside's to replace.
            (Err(_), None) => Err(403),
        }
    }

    /// Refuses a REFER with `code`.
    pub(crate) fn refuse_refer(
        &self,
        tu: &mut Tu,
        now: Instant,
        stx: ServerTxId,
        req: &Request,
        code: u16,
    ) {
        tu.respond(now, stx, make_response(req, code.into(), None));
    }

    /// Accepts the REFER of call `key` and rings `targets` (routed for the referrer) for the
    /// caller.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn transfer(
        &mut self,
        tu: &mut Tu,
        now: Instant,
        stx: ServerTxId,
        req: &Request,
        key: u64,
        number: &str,
        targets: Vec<Target>,
    ) {
        let Some(call) = self.calls.get_mut(&key) else {
            return self.refuse_refer(tu, now, stx, req, 481);
        };
        let Some(referrer) = call.phase.winner() else {
            return self.refuse_refer(tu, now, stx, req, 481);
        };
        tu.respond(now, stx, make_response(req, 202.into(), None));
        self.notify(tu, now, key, referrer, 100, "Trying", true);
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        // Ringside's own offer on leg B's relay port: every codec it transcodes to the
        // caller's.
        let port = call.media.port(Side::B);
        let offer = anchor_sdp(super::LATE_OFFER, tu.cfg.media_ip, port)
            .map(|(s, _)| extend_offer(s))
            .unwrap_or_default();
        let base = call.forks.len();
        let identity = call.identity.clone();
        let mut record = call.record.clone();
        // Fresh keys for the new party; the referrer's stay in use until it answers.
        let mut sdes_b = super::sdes::SdesLeg::default();
        let forks = self.fork_targets(
            tu,
            now,
            key,
            targets,
            (&offer, &mut sdes_b, None),
            &identity,
            number,
            &mut record,
            base,
        );
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        call.record = record;
        call.transfer_sdes = Some(sdes_b);
        let rang = !forks.is_empty();
        call.forks.extend(forks);
        if !rang {
            self.notify(tu, now, key, referrer, 503, "Service Unavailable", false);
            return;
        }
        info!(call = %call.record.id, to = %number, "blind transfer: ringing the new party");
        let due = now + tu.cfg.ring_timeout;
        call.transfer = Some(Transfer {
            referrer,
            base,
            referrer_gone: false,
            due,
        });
        self.start_timer(due, key, CallTimer::TransferTimeout);
    }

    /// Whether fork `n` of call `key` rings for a transfer.
    pub(super) fn is_transfer_fork(&self, key: u64, n: usize) -> bool {
        self.calls
            .get(&key)
            .and_then(|c| c.transfer)
            .is_some_and(|t| n >= t.base)
    }

    /// A transfer fork answered (its 2xx, ACKed): it becomes leg B; the others stop, the
    /// referrer hears the outcome and is hung up.
    pub(super) fn transfer_answered(
        &mut self,
        tu: &mut Tu,
        now: Instant,
        key: u64,
        n: usize,
        resp: &Response,
    ) {
        let now_ms = tu.now_ms;
        let media_ip = tu.cfg.media_ip;
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let Some(t) = call.transfer.take() else {
            return;
        };
        let referrer_sdes = call
            .transfer_sdes
            .take()
            .map(|s| std::mem::replace(&mut call.sdes[1], s));
        let answer =
            hdr::sdp_body(&resp.headers, &resp.body).and_then(|s| call.fork_answer_in(n, &s).ok());
        let Some(answer) = answer else {
            warn!(call = %call.record.id, "the transfer target answered without usable SDP");
            if let Some(f) = call.forks.get_mut(n) {
                f.byed = true;
                send_bye(tu, &mut self.by_ctx, now, key, &mut f.dialog);
            }
            // Back to the referrer's keys; the other transfer forks may still answer.
            if let Some(s) = referrer_sdes {
                call.transfer_sdes = Some(std::mem::replace(&mut call.sdes[1], s));
            }
            call.transfer = Some(t);
            return self.transfer_fork_failed(tu, now, key, n, 488);
        };
        // Leg B's keys are the new party's now (plain if it answered plain), whatever the
        // referrer's were.
        let before = referrer_sdes
            .as_ref()
            .map(|s| s.state())
            .unwrap_or_default();
        call.sdes[1]
            .state()
            .sync(&before, call.media.as_ref(), Side::B);
        if let Some((_, Some(addr))) = anchor_sdp(&answer, media_ip, call.media.port(Side::A)) {
            call.media.announce(Side::B, addr);
        }
        if let Some(codec) = ringside_sip::sdp::SessionDescription::parse(&answer)
            .ok()
            .and_then(|sdp| crate::codecs::answered_codec(&sdp))
        {
            // The caller keeps its codec; the relay transcodes when they differ.
            call.media.set_codec(Side::B, codec);
        }
        call.media.hold_music(Side::A, false);
        call.phase = Phase::Answered { winner: Some(n) };
        // The referrer's session timer goes with it; the new party's starts below.
        call.callee_session = None;
        if let Some(f) = call.forks.get(n) {
            call.record.answered_by = Some(f.label.clone());
            if let Some(leg) = call.record.legs.get_mut(f.leg_idx) {
                leg.answered_at = Some(now_ms);
                leg.remote_tag = f.dialog.remote_tag.clone();
                leg.final_status = Some(200);
            }
        }
        if let Some(leg) = call
            .forks
            .get(t.referrer)
            .and_then(|f| call.record.legs.get_mut(f.leg_idx))
        {
            leg.ended_at = Some(now_ms);
        }
        info!(call = %call.record.id, fork = n, "blind transfer: the new party answered");
        let record = call.record.clone();
        tu.out.push_back(CoreOutput::UpdateCall(record));
        // The referrer hears the outcome; then every other fork stops: the referrer is hung
        // up, the other transfer forks are cancelled.
        if !t.referrer_gone {
            self.notify(tu, now, key, t.referrer, 200, "OK", false);
        }
        self.cancel_other_forks(tu, now, key, Some(n));
        self.callee_session_start(now, key, resp);
    }

    /// A transfer fork failed with `code`: when none is left the transfer has failed; the
    /// referrer (if still there) hears why and keeps the caller, else the call ends.
    pub(super) fn transfer_fork_failed(
        &mut self,
        tu: &mut Tu,
        now: Instant,
        key: u64,
        n: usize,
        code: u16,
    ) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        if let Some(f) = call.forks.get_mut(n) {
            f.done = Some(code);
            f.finished = true;
            if let Some(leg) = call.record.legs.get_mut(f.leg_idx) {
                leg.final_status = Some(i64::from(code));
            }
        }
        let Some(t) = call.transfer else {
            return;
        };
        if call.forks[t.base..].iter().any(|f| f.done.is_none()) {
            return;
        }
        self.transfer_failed(tu, now, key, code);
    }

    /// The transfer of call `key` failed (`code`).
    pub(super) fn transfer_failed(&mut self, tu: &mut Tu, now: Instant, key: u64, code: u16) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let Some(t) = call.transfer.take() else {
            return;
        };
        call.transfer_sdes = None;
        info!(call = %call.record.id, code, "blind transfer failed");
        // The transfer forks still ringing stop (the referrer, if there, stays).
        self.cancel_other_forks(tu, now, key, Some(t.referrer));
        if t.referrer_gone {
            // Nobody is left for the caller.
            self.bye_side(tu, now, key, Side::A);
            return self.end_call(
                tu,
                key,
                ringside_domain::CallStatus::Ended,
                ringside_domain::EndReason::Hangup,
                Some(ringside_domain::HangupSide::Callee),
            );
        }
        let reason = match code {
            486 | 600 => "Busy Here",
            480 => "Temporarily Unavailable",
            404 => "Not Found",
            408 => "Request Timeout",
            _ => "Failed",
        };
        self.notify(tu, now, key, t.referrer, code, reason, false);
    }

    /// The transfer's ring timeout.
    pub(super) fn transfer_timeout(&mut self, tu: &mut Tu, now: Instant, key: u64) {
        let due = self.calls.get(&key).and_then(|c| c.transfer).map(|t| t.due);
        if due.is_some_and(|d| d <= now) {
            self.transfer_failed(tu, now, key, 408);
        }
    }

    /// A request on a leg B dialog that is not the answering one (a referrer during or after a
    /// transfer): a BYE is answered and ends only that leg; anything else gets 481. Returns
    /// false when the request is the current leg B's.
    pub(super) fn stale_leg_b(
        &mut self,
        tu: &mut Tu,
        now: Instant,
        stx: ServerTxId,
        key: u64,
        req: &Request,
    ) -> bool {
        let Some(call) = self.calls.get_mut(&key) else {
            return false;
        };
        let Some(n) = call.fork_of_request(req) else {
            return false;
        };
        let current =
            call.phase.winner() == Some(n) && call.transfer.is_none_or(|t| t.referrer != n);
        let referrer = call.transfer.is_some_and(|t| t.referrer == n);
        if current || (referrer && req.method != Method::Bye) {
            return false;
        }
        if req.method == Method::Bye {
            if let Some(t) = call.transfer.as_mut().filter(|t| t.referrer == n) {
                t.referrer_gone = true;
            }
            if let Some(f) = call.forks.get_mut(n) {
                f.byed = true;
            }
            tu.respond(now, stx, make_response(req, 200.into(), None));
        } else {
            tu.respond(now, stx, make_response(req, 481.into(), None));
        }
        true
    }

    /// Sends the referrer (fork `n`) a NOTIFY with a sipfrag of `code reason`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn notify(
        &mut self,
        tu: &mut Tu,
        now: Instant,
        key: u64,
        n: usize,
        code: u16,
        reason: &str,
        active: bool,
    ) {
        let Some(f) = self.calls.get_mut(&key).and_then(|c| c.forks.get_mut(n)) else {
            return;
        };
        if f.byed {
            return;
        }
        let frag = (code, reason, active);
        notify_on(tu, &mut self.by_ctx, now, key, &mut f.dialog, frag);
    }

    /// [`Self::notify`] to the caller of call `key` (a transfer from the caller's side).
    pub(super) fn notify_caller(
        &mut self,
        tu: &mut Tu,
        now: Instant,
        key: u64,
        code: u16,
        reason: &str,
        active: bool,
    ) {
        let Some(s) = self.calls.get_mut(&key).and_then(|c| c.caller.sip_mut()) else {
            return;
        };
        let frag = (code, reason, active);
        notify_on(tu, &mut self.by_ctx, now, key, &mut s.dialog, frag);
    }
}

/// A NOTIFY (`Event: refer`) of call `key` on `dialog` with a sipfrag of `code reason`; the
/// subscription stays `active` or ends.
fn notify_on(
    tu: &mut Tu,
    by_ctx: &mut std::collections::HashMap<
        ringside_sip::transaction::ClientTxId,
        (u64, ClientRole),
    >,
    now: Instant,
    key: u64,
    dialog: &mut ringside_sip::dialog::Dialog,
    (code, reason, active): (u16, &str, bool),
) {
    let body = format!("SIP/2.0 {code} {reason}\r\n").into_bytes();
    let peer = dialog.peer;
    let Some(mut notify) = dialog.request(
        &tu.cfg.local,
        Method::Notify,
        Some(("message/sipfrag;version=2.0", body)),
    ) else {
        return;
    };
    notify
        .headers
        .push(Header::Other("Event".into(), "refer".into()));
    let state = if active {
        "active;expires=60".to_string()
    } else {
        "terminated;reason=noresource".to_string()
    };
    notify
        .headers
        .push(Header::Other("Subscription-State".into(), state));
    let ctx = tu.send_request(now, notify, peer);
    by_ctx.insert(ctx, (key, ClientRole::Fire));
}
