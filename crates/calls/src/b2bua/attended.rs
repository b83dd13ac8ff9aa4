//! Attended transfer (RFC 5589 §7, REFER with `Replaces`, RFC 3891): an extension B talks to
//! a caller A (call X, B is leg B), puts A on hold, calls C itself (call Y, B is the caller),
//! and then REFERs A to C naming its dialog of call Y in `Replaces`. A and C end up talking and
//! B leaves both calls.
//!
//! Ringside is both ends of the dialog being replaced, so it needs no INVITE with `Replaces`:
//! it joins the two calls' relays back to back on loopback — X's leg B sends to Y's leg A port
//! and Y's to X's, each pinned to the other (no latching on B's last packets), plain RTP in
//! one codec between them — and hangs B up on both dialogs. A and C keep their dialogs and
//! codecs, the relays transcode where they differ. When either hangs up, the other call ends
//! too. A caller that B had put on hold is taken off hold with a re-INVITE from Ringside.
//!
//! The call B hands A over to may also be one B *received*: C called B (call Y, B is its leg
//! B), B holds C and REFERs A replacing its dialog of Y. The relays are joined the same way,
//! X's leg B to Y's leg B, and C, held by B, is taken off hold as A is.
//!
//! The referrer may also be the *caller* of call X (it called A, holds A, calls C, and
//! REFERs on its own dialog of X): the relays are joined on X's leg A instead.
//!
//! Semi-attended transfer: B may transfer while C still rings (its REFER names the early
//! dialog of call Y). The relays are joined at once, so A hears what B heard (Ringside's
//! ringback, or C's early media); B's INVITE of call Y is ended with 487 and call Y tells B
//! nothing more (a CANCEL B sends after it changes nothing). When C answers, A and C talk; when
//! nobody does (C busy, the ring timeout), A is hung up; when A hangs up first, C's ringing is
//! cancelled.
//!
//! Refused: a `Replaces` that does not parse (400), that names no call of Ringside's (481), a
//! call of another tenant or one that is not B's own — placed by B, or answered by B (403: a
//! stolen Call-ID and tags cannot pull someone else's call), `early-only` naming an answered
//! call (486), and a call already joined or transferring, or a ringing one B placed with a
//! delayed offer (501).

use std::time::Instant;

use rsip::headers::UntypedHeader;
use rsip::{Request, Response};
use tracing::info;

use ringside_domain::{CallStatus, EndReason, HangupSide};
use ringside_sip::hdr;
use ringside_sip::message::make_response;
use ringside_sip::replaces::Replaces;
use ringside_sip::sdp::SessionDescription;
use ringside_sip::transaction::ServerTxId;

use super::{anchor_sdp, extend_offer, send_bye, side_index, B2bua, ClientRole};
use crate::tu::Tu;
use crate::Side;

/// This call is joined to call `other` by an attended transfer: its side `inner` faces the
/// other call's relay (where the referrer was).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Joined {
    pub(crate) other: u64,
    pub(crate) inner: Side,
}

fn opposite(side: Side) -> Side {
    match side {
        Side::A => Side::B,
        Side::B => Side::A,
    }
}

impl B2bua {
    /// The answered call one of whose dialogs with the referrer `r` names, for a REFER on call
    /// `key` from the extension `referrer`: that call's key and the side the referrer is on
    /// there (A: it placed the call; B: it answered it), or the status to refuse the REFER
    /// with.
    pub(super) fn replaced_call(
        &self,
        key: u64,
        referrer: &str,
        r: &Replaces,
    ) -> Result<(u64, Side), u16> {
        let tenant = &self.calls.get(&key).ok_or(481u16)?.record.tenant_id;
        let names = |d: &super::Dialog| {
            let theirs = d.remote_tag.as_deref().unwrap_or_default();
            r.names(&d.call_id, &d.local_tag, theirs)
        };
        // The call, the referrer's side on it, and (side B) which fork the dialog is.
        let (other, call, side, fork) = self
            .calls
            .iter()
            .filter(|(k, _)| **k != key)
            .find_map(|(k, c)| {
                if c.caller.sip().is_some_and(|s| names(&s.dialog)) {
                    return Some((k, c, Side::A, None));
                }
                let n = c.forks.iter().position(|f| !f.byed && names(&f.dialog))?;
                Some((k, c, Side::B, Some(n)))
            })
            .ok_or(481u16)?;
        let own = match fork {
            None => call.caller_account.as_deref() == Some(referrer),
            Some(n) => call.forks[n].label.strip_prefix("extension:") == Some(referrer),
        };
        if call.record.tenant_id != *tenant || !own {
            return Err(403);
        }
        let answered = match fork {
            None => call.phase.winner().is_some(),
            Some(n) => call.phase.winner() == Some(n),
        };
        // `early-only` (RFC 3891 §3): never a confirmed dialog.
        if r.early_only && answered {
            return Err(486);
        }
        // A consultation call the referrer placed may still ring (semi-attended transfer),
        // unless it made a delayed offer (the caller's answer would still be owed).
        let ringing = fork.is_none()
            && call.phase.is_ringing()
            && call.late_offer.is_none()
            && !call.caller_detached;
        if !(answered || ringing) || call.joined.is_some() || call.transfer.is_some() {
            return Err(501);
        }
        Ok((*other, side))
    }

    /// Accepts the REFER (on call `key`, from its side `from`) that replaces the referrer's
    /// dialog on side `inner` of call `other`: the two calls are joined and the referrer hung
    /// up on both.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn attended_transfer(
        &mut self,
        tu: &mut Tu,
        now: Instant,
        stx: ServerTxId,
        req: &Request,
        key: u64,
        (from, other, inner): (Side, u64, Side),
    ) {
        if !self.calls.contains_key(&other) {
            return self.refuse_refer(tu, now, stx, req, 481);
        }
        let Some(referrer) = self.calls.get(&key).and_then(|x| x.phase.winner()) else {
            return self.refuse_refer(tu, now, stx, req, 481);
        };
        tu.respond(now, stx, make_response(req, 202.into(), None));
        self.join(tu.cfg.media_ip, (key, from), (other, inner));
        for (k, far) in [(key, opposite(from)), (other, opposite(inner))] {
            if let Some(c) = self.calls.get(&k) {
                c.media.hold_music(far, false);
            }
        }
        // The referrer hears the transfer is done and leaves both calls.
        match from {
            Side::B => self.notify(tu, now, key, referrer, 200, "OK", false),
            Side::A => self.notify_caller(tu, now, key, 200, "OK", false),
        }
        for (k, side) in [(key, from), (other, inner)] {
            let Some(c) = self.calls.get_mut(&k) else {
                continue;
            };
            match side {
                Side::A if !c.phase.is_answered() => {
                    // Semi-attended: the consultation call rings on for the caller. The
                    // referrer's INVITE ends (487, as if it had cancelled) and the call
                    // tells it nothing more.
                    let reply = c.reply(487, None, &tu.cfg.local);
                    c.caller_detached = true;
                    c.session = None;
                    self.reply_caller(tu, now, k, reply);
                    info!(
                        call = k,
                        "semi-attended transfer: the caller now hears the consulted party ring"
                    );
                }
                Side::A => {
                    if let Some(s) = c.caller.sip_mut() {
                        send_bye(tu, &mut self.by_ctx, now, k, &mut s.dialog);
                    }
                    // The referrer's session timer goes with it (nobody refreshes it now).
                    c.session = None;
                }
                Side::B => {
                    let w = c.phase.winner();
                    if let Some(f) = w.and_then(|w| c.forks.get_mut(w)) {
                        f.byed = true;
                        send_bye(tu, &mut self.by_ctx, now, k, &mut f.dialog);
                    }
                    c.callee_session = None;
                }
            }
        }
        if let Some(c) = self.calls.get(&key) {
            info!(call = %c.record.id, joined = other, "attended transfer: the caller now talks to the consulted party");
        }
        // The two parties the referrer held, if it did, are taken off hold.
        self.resume_if_held(tu, now, key, opposite(from));
        self.resume_if_held(tu, now, other, opposite(inner));
    }

    /// Side `held` of call `key` was put on hold by the referrer on the other side (its last
    /// offer was a hold): a re-INVITE of Ringside's own takes it off hold.
    pub(super) fn resume_if_held(&mut self, tu: &mut Tu, now: Instant, key: u64, held: Side) {
        let Some(call) = self.calls.get(&key) else {
            return;
        };
        let by = opposite(held);
        let was_held = matches!(&call.offer, Some((s, sdp))
            if *s == by && SessionDescription::parse(sdp).is_ok_and(|d| d.is_hold()));
        if was_held {
            self.reoffer(tu, now, key, held, ClientRole::Resume(held));
        }
    }

    /// Ringside's own re-INVITE to `side` of call `key`: a fresh offer of its relay port
    /// there (new SRTP keys where the leg has them), sent as `role`. False when the side has
    /// no SIP dialog.
    pub(super) fn reoffer(
        &mut self,
        tu: &mut Tu,
        now: Instant,
        key: u64,
        side: Side,
        role: ClientRole,
    ) -> bool {
        let media_ip = tu.cfg.media_ip;
        let Some(call) = self.calls.get_mut(&key) else {
            return false;
        };
        if call.dialog(side).is_none() {
            return false;
        }
        let port = call.media.port(side);
        let Some((plain, _)) = anchor_sdp(super::LATE_OFFER, media_ip, port) else {
            return false;
        };
        let offer = call.offer_out(side, extend_offer(plain));
        call.offer = None;
        let Some(d) = call.dialog_mut(side) else {
            return false;
        };
        let peer = d.peer;
        let Some(invite) = d.request(
            &tu.cfg.local,
            rsip::Method::Invite,
            Some(("application/sdp", offer.into_bytes())),
        ) else {
            return false;
        };
        let ctx = tu.send_request(now, invite, peer);
        self.by_ctx.insert(ctx, (key, role));
        true
    }

    /// The answer to Ringside's own re-INVITE to `side`: ACKed, its address and codec taken.
    /// False for a failure or a 2xx without an answer Ringside can use.
    pub(super) fn resumed(&mut self, tu: &mut Tu, key: u64, side: Side, resp: &Response) -> bool {
        let code = resp.status_code.code();
        let media_ip = tu.cfg.media_ip;
        let Some(call) = self.calls.get_mut(&key) else {
            return false;
        };
        if !(200..300).contains(&code) {
            return false;
        }
        let cseq = hdr::cseq_num(&resp.headers).unwrap_or(0);
        if let Some((ack, peer)) = call
            .dialog(side)
            .and_then(|d| d.ack(&tu.cfg.local, cseq).map(|a| (a, d.peer)))
        {
            tu.metrics.request_out("ACK");
            tu.tx
                .send_stateless(rsip::SipMessage::Request(ack.clone()), peer);
            call.last_ack[side_index(side)] = Some((ack, peer));
        }
        let Some(plain) =
            hdr::sdp_body(&resp.headers, &resp.body).and_then(|s| call.answer_in(side, &s).ok())
        else {
            return false;
        };
        if let Some((_, Some(addr))) = anchor_sdp(&plain, media_ip, call.media.port(side)) {
            call.media.announce(side, addr);
        }
        if let Some(codec) = SessionDescription::parse(&plain)
            .ok()
            .and_then(|sdp| crate::codecs::answered_codec(&sdp))
        {
            call.media.set_codec(side, codec);
        }
        true
    }

    /// An in-dialog request on a joined call, handled here (true) rather than passed across:
    /// the referrer's old dialogs take only a BYE (200) and nothing else (481); an offer from
    /// the far party is answered by Ringside (the other side of its relay is another relay,
    /// not a phone), and a hold plays hold music to the other call's far party.
    pub(super) fn joined_in_dialog(
        &mut self,
        tu: &mut Tu,
        now: Instant,
        stx: ServerTxId,
        key: u64,
        side: Side,
        req: &Request,
    ) -> bool {
        let media_ip = tu.cfg.media_ip;
        let Some(call) = self.calls.get_mut(&key) else {
            return false;
        };
        let Some(j) = call.joined else {
            return false;
        };
        if side == j.inner {
            let code = if req.method == rsip::Method::Bye {
                200
            } else {
                481
            };
            tu.respond(now, stx, make_response(req, code.into(), None));
            return true;
        }
        if !matches!(req.method, rsip::Method::Invite | rsip::Method::Update) {
            // A BYE ends both calls the usual way; the rest has nobody to go to.
            if req.method == rsip::Method::Bye {
                return false;
            }
            let code = if req.method == rsip::Method::Info {
                200
            } else {
                405
            };
            tu.respond(now, stx, make_response(req, code.into(), None));
            return true;
        }
        let offer = hdr::sdp_body(&req.headers, &req.body);
        let hold = offer
            .as_deref()
            .and_then(|o| SessionDescription::parse(o).ok())
            .is_some_and(|d| d.is_hold());
        let Some(sdp) = offer.and_then(|o| call.answer_offer_here(side, &o, media_ip)) else {
            tu.respond(now, stx, make_response(req, 488.into(), None));
            return true;
        };
        let mut ok = make_response(
            req,
            200.into(),
            call.dialog(side).map(|d| d.local_tag.as_str()),
        );
        ok.headers
            .push(rsip::Header::Contact(rsip::headers::Contact::new(
                tu.cfg.local.contact(
                    call.dialog(side)
                        .map_or(ringside_sip::transaction::TransportKind::Udp, |d| {
                            d.peer.transport
                        }),
                ),
            )));
        hdr::set_body(&mut ok, Some("application/sdp"), sdp.into_bytes());
        tu.respond(now, stx, ok);
        if let Some(o) = self.calls.get(&j.other) {
            if let Some(theirs) = o.joined {
                o.media.hold_music(opposite(theirs.inner), hold);
            }
        }
        true
    }

    /// Ringside hangs up `side` of call `key`: when that side is the other call of an
    /// attended transfer, that call ends instead (its far party gets the BYE). True when it
    /// did.
    pub(super) fn end_joined(&mut self, tu: &mut Tu, now: Instant, key: u64, side: Side) -> bool {
        let Some(call) = self.calls.get_mut(&key) else {
            return false;
        };
        let Some(j) = call.joined.filter(|j| j.inner == side) else {
            return false;
        };
        call.joined = None;
        let Some(o) = self.calls.get_mut(&j.other) else {
            return true;
        };
        let Some(theirs) = o.joined.take() else {
            return true;
        };
        let far = opposite(theirs.inner);
        // A transfer from the caller's side that had not got through: its referrer hears so.
        self.caller_transfer_over(tu, now, j.other, 487);
        if self
            .calls
            .get(&j.other)
            .is_some_and(|o| o.phase.is_ringing())
        {
            // A consultation call still ringing (semi-attended): stop the ringing.
            self.cancel_other_forks(tu, now, j.other, None);
        } else {
            self.bye_side(tu, now, j.other, far);
        }
        // The party that went away is on the other call's inner side.
        let who = match theirs.inner {
            Side::A => HangupSide::Caller,
            Side::B => HangupSide::Callee,
        };
        self.end_call(tu, j.other, CallStatus::Ended, EndReason::Hangup, Some(who));
        true
    }

    /// Call `key` ends without having been answered while joined (a consultation call handed
    /// over by a semi-attended transfer that nobody answered): the call it was joined to ends
    /// too, its far party hung up.
    pub(super) fn end_partner(&mut self, tu: &mut Tu, now: Instant, key: u64) {
        let Some(j) = self.calls.get_mut(&key).and_then(|c| c.joined.take()) else {
            return;
        };
        let Some(theirs) = self.calls.get_mut(&j.other).and_then(|o| o.joined.take()) else {
            return;
        };
        self.bye_side(tu, now, j.other, opposite(theirs.inner));
        self.end_call(
            tu,
            j.other,
            CallStatus::Ended,
            EndReason::Hangup,
            Some(HangupSide::System),
        );
    }
}
