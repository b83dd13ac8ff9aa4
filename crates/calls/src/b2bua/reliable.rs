//! Reliable provisional responses (RFC 3262, 100rel and PRACK) on both legs.
//!
//! Towards the caller (Ringside is the UAS): when the caller's INVITE requires 100rel, every
//! provisional response above 100 goes reliably — `Require: 100rel` and an `RSeq` counting
//! up from a random start — one at a time (a later one waits for the earlier one's PRACK),
//! passed again at T1, 2T1, 4T1 … on unreliable transports until its PRACK comes. The PRACK
//! is answered 200; a PRACK that matches nothing, 481. With no PRACK within 64*T1 the INVITE
//! is refused 504 (§3: "reject the original request with a 5xx") and the callee cancelled.
//! A final response stops whatever is pending (a PRACK for it that comes after still gets
//! 200), except that a 2xx waits for the PRACK of a pending provisional that carried SDP
//! (§3: the answer must be acknowledged before the session is).
//!
//! Towards the callee (Ringside is the UAC): INVITEs say `Supported: 100rel`; a provisional
//! with `Require: 100rel` and a new `RSeq` is PRACKed on its early dialog (`RAck: rseq cseq
//! INVITE`, to the Contact it gave, along its Record-Route); its retransmissions (the same
//! RSeq) are dropped (§4).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rsip::headers::Header;
use rsip::{Method, Request, Response};

use ringside_domain::{CallStatus, EndReason, HangupSide};
use ringside_sip::hdr;
use ringside_sip::message::make_response;
use ringside_sip::transaction::ServerTxId;

use super::{B2bua, CallTimer, CallerReply, ClientRole};
use crate::tu::Tu;

/// The option tag.
pub(crate) const TAG: &str = "100rel";

/// Say on an INVITE of ours that reliable provisionals are welcome.
pub(crate) fn offer(invite: &mut Request) {
    invite
        .headers
        .push(Header::Other("Supported".into(), TAG.into()));
}

/// Whether the message's `Require` names 100rel.
pub(crate) fn required(headers: &rsip::Headers) -> bool {
    hdr::values(headers, "Require")
        .iter()
        .any(|t| t.eq_ignore_ascii_case(TAG))
}

/// The caller leg's reliable provisionals.
#[derive(Debug)]
pub(crate) struct Reliable {
    next_rseq: u32,
    pending: Option<Pending>,
    waiting: VecDeque<Response>,
    /// A 2xx held until the pending provisional (which carried SDP) is PRACKed.
    held: Option<Response>,
    /// The RSeq of a provisional a final response overtook (its late PRACK gets 200).
    overtaken: Option<u32>,
}

/// The reliable provisional not yet PRACKed.
#[derive(Debug)]
struct Pending {
    resp: Response,
    rseq: u32,
    first_sent: Instant,
    next_at: Instant,
    interval: Duration,
}

impl Reliable {
    pub(crate) fn new() -> Reliable {
        Reliable {
            // RFC 3262 §3: a random start between 1 and 2**31 - 1.
            next_rseq: rand::random::<u32>() % (1 << 30) + 1,
            pending: None,
            waiting: VecDeque::new(),
            held: None,
            overtaken: None,
        }
    }

    /// What to send of `resp` now: a provisional goes out reliably, or waits for the one
    /// pending; a final response stops them all.
    fn outgoing(&mut self, now: Instant, t1: Duration, mut resp: Response) -> Option<Response> {
        let code = resp.status_code.code();
        if code >= 200 {
            let with_sdp = self
                .pending
                .as_ref()
                .is_some_and(|p| !p.resp.body.is_empty());
            if code < 300 && with_sdp {
                self.held = Some(resp);
                return None;
            }
            self.overtaken = self.pending.take().map(|p| p.rseq);
            self.waiting.clear();
            return Some(resp);
        }
        if code == 100 {
            return Some(resp);
        }
        if self.pending.is_some() {
            self.waiting.push_back(resp);
            return None;
        }
        let rseq = self.next_rseq;
        self.next_rseq = self.next_rseq.wrapping_add(1);
        resp.headers
            .push(Header::Other("Require".into(), TAG.into()));
        resp.headers
            .push(Header::Other("RSeq".into(), rseq.to_string()));
        self.pending = Some(Pending {
            resp: resp.clone(),
            rseq,
            first_sent: now,
            next_at: now + t1,
            interval: t1,
        });
        Some(resp)
    }

    /// When the pending response is next due (to go again, or to give up on).
    fn due_at(&self) -> Option<Instant> {
        self.pending.as_ref().map(|p| p.next_at)
    }
}

impl B2bua {
    /// Tell the caller of call `key` (see `Call::reply`): reliably, when it asked for it.
    pub(super) fn reply_caller(&mut self, tu: &mut Tu, now: Instant, key: u64, reply: CallerReply) {
        let reply = match reply {
            CallerReply::Sip(stx, resp) => {
                let t1 = tu.tx.config().t1;
                let rel = self.calls.get_mut(&key).and_then(|c| c.reliable.as_mut());
                match rel {
                    None => CallerReply::Sip(stx, resp),
                    Some(rel) => {
                        let Some(out) = rel.outgoing(now, t1, *resp) else {
                            return;
                        };
                        if let Some(at) = rel.due_at() {
                            self.start_timer(at, key, CallTimer::Reliable);
                        }
                        CallerReply::Sip(stx, Box::new(out))
                    }
                }
            }
            other => other,
        };
        tu.reply_caller(now, reply);
    }

    /// The pending reliable provisional of call `key` is due: it goes again, or, 64*T1 after
    /// it first went, the caller is refused 504.
    pub(super) fn reliable_due(&mut self, tu: &mut Tu, now: Instant, key: u64) {
        let t1 = tu.tx.config().t1;
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let Some(caller) = call.caller.sip() else {
            return;
        };
        // Only a transport that loses messages needs the response passed again.
        let (stx, unreliable) = (caller.stx, !caller.dialog.peer.transport.is_reliable());
        let Some(rel) = call.reliable.as_mut() else {
            return;
        };
        let Some(p) = rel.pending.as_mut().filter(|p| p.next_at <= now) else {
            return;
        };
        if now.duration_since(p.first_sent) >= t1 * 64 {
            rel.pending = None;
            rel.waiting.clear();
            if let Some(ok) = rel.held.take() {
                // The callee answered meanwhile: the call goes on without the PRACK.
                return tu.respond(now, stx, ok);
            }
            self.cancel_other_forks(tu, now, key, None);
            return self.refuse_caller(
                tu,
                now,
                key,
                504,
                CallStatus::Failed,
                EndReason::from_sip_status(504),
                HangupSide::Caller,
            );
        }
        if unreliable {
            tu.respond(now, stx, p.resp.clone());
            p.interval *= 2;
        } else {
            // Reliable transport: nothing to repeat, only the deadline to keep.
            p.interval = t1 * 64;
        }
        p.next_at = (now + p.interval).min(p.first_sent + t1 * 64);
        let at = p.next_at;
        self.start_timer(at, key, CallTimer::Reliable);
    }

    /// A PRACK from the caller of call `key`: the pending provisional it acknowledges stops
    /// and the next waiting one goes; anything else is 481.
    pub(super) fn caller_prack(
        &mut self,
        tu: &mut Tu,
        now: Instant,
        stx: ServerTxId,
        key: u64,
        req: &Request,
    ) {
        let invite_cseq = self
            .calls
            .get(&key)
            .and_then(|c| c.caller.sip())
            .and_then(|s| hdr::cseq_num(&s.invite.headers));
        let rel = self.calls.get_mut(&key).and_then(|c| c.reliable.as_mut());
        // The body of the provisional this PRACK acknowledges (an offer it may answer).
        let mut acked = None;
        let matched = match (rel, hdr::rack(&req.headers), invite_cseq) {
            (Some(rel), Some((rseq, cseq, method)), Some(ic))
                if cseq == ic && method == "INVITE" =>
            {
                if rel.pending.as_ref().is_some_and(|p| p.rseq == rseq) {
                    acked = rel.pending.take().map(|p| p.resp.body);
                    // A held 2xx goes now; else the next provisional waiting.
                    Some(rel.held.take().or_else(|| rel.waiting.pop_front()))
                } else if rel.overtaken == Some(rseq) {
                    Some(None)
                } else {
                    None
                }
            }
            _ => None,
        };
        let Some(next) = matched else {
            let r = make_response(req, 481.into(), None);
            return tu.respond(now, stx, r);
        };
        let r = make_response(req, 200.into(), None);
        tu.respond(now, stx, r);
        let offer = acked.and_then(|b| String::from_utf8(b).ok());
        if offer.is_some_and(|o| self.prack_answer(tu, now, key, req, o)) {
            return;
        }
        if let (Some(next), Some(call_stx)) =
            (next, self.calls.get(&key).and_then(|c| c.caller.stx()))
        {
            self.reply_caller(tu, now, key, CallerReply::Sip(call_stx, Box::new(next)));
        }
    }

    /// A delayed-offer caller's PRACK that answers Ringside's `offer` (as sent, in the
    /// reliable provisional it acknowledges; a queue call, RFC 3262 §5): leg A takes its
    /// address and codec and the offer/answer is done (the final response repeats the SDP).
    /// Without a usable answer the call cannot agree on media: the callee side is cancelled
    /// and the caller refused 488 (true: the call is gone).
    fn prack_answer(
        &mut self,
        tu: &mut Tu,
        now: Instant,
        key: u64,
        req: &Request,
        offer: String,
    ) -> bool {
        let media_ip = tu.cfg.media_ip;
        let Some(call) = self.calls.get_mut(&key) else {
            return false;
        };
        // (Answered meanwhile is fine: the 2xx waits for this PRACK and repeats the offer.)
        if offer.is_empty() || call.late_offer.is_none() {
            return false;
        }
        let Some(sdp) = hdr::sdp_body(&req.headers, &req.body) else {
            return false;
        };
        call.late_offer = None;
        match call.take_caller_answer(&sdp, media_ip) {
            Some(codec) => {
                call.early = Some((offer, codec));
                tracing::info!(call = %call.record.id, codec = ?codec.kind, "delayed offer answered in the PRACK");
                false
            }
            None => {
                tracing::warn!(call = %call.record.id, "the PRACK brought no usable answer to our offer");
                self.cancel_other_forks(tu, now, key, None);
                self.refuse_caller(
                    tu,
                    now,
                    key,
                    488,
                    CallStatus::Failed,
                    EndReason::MediaFailed,
                    HangupSide::Caller,
                );
                true
            }
        }
    }

    /// A provisional on fork `n` of call `key`: PRACK it if it is reliable. False when it is
    /// a retransmission of one already PRACKed (to be dropped).
    pub(super) fn prack_fork(
        &mut self,
        tu: &mut Tu,
        now: Instant,
        key: u64,
        n: usize,
        resp: &Response,
    ) -> bool {
        if !required(&resp.headers) {
            return true;
        }
        let Some(rseq) =
            hdr::header_value(&resp.headers, "RSeq").and_then(|v| v.trim().parse::<u32>().ok())
        else {
            return true;
        };
        let Some(fork) = self.calls.get_mut(&key).and_then(|c| c.forks.get_mut(n)) else {
            return false;
        };
        if fork.last_rseq.is_some_and(|last| rseq <= last) {
            return false;
        }
        fork.last_rseq = Some(rseq);
        let Some(invite_cseq) = hdr::cseq_num(&fork.invite.headers) else {
            return true;
        };
        // The early dialog this provisional made: its tag, Contact and route set.
        let mut early = fork.dialog.clone();
        early.confirm(resp);
        let Some(mut prack) = early.request(&tu.cfg.local, Method::PRack, None) else {
            return true;
        };
        fork.dialog.local_cseq = early.local_cseq;
        prack.headers.push(Header::Other(
            "RAck".into(),
            format!("{rseq} {invite_cseq} INVITE"),
        ));
        let ctx = tu.send_request(now, prack, early.peer);
        self.by_ctx.insert(ctx, (key, ClientRole::Fire));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provisional(code: u16) -> Response {
        let req = ringside_sip::message::parse(
            b"INVITE sip:1002@ringside SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
              From: <sip:1001@ringside>;tag=a\r\nTo: <sip:1002@ringside>\r\nCall-ID: c\r\n\
              CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        let rsip::SipMessage::Request(req) = req else {
            unreachable!()
        };
        make_response(&req, code.into(), Some("b"))
    }

    #[test]
    fn provisionals_go_one_at_a_time_with_rising_rseq_and_a_final_stops_them() {
        let t1 = Duration::from_millis(500);
        let now = Instant::now();
        let mut rel = Reliable::new();
        let first = rel.outgoing(now, t1, provisional(180)).unwrap();
        let rseq = |r: &Response| {
            hdr::header_value(&r.headers, "RSeq")
                .unwrap()
                .parse::<u32>()
                .unwrap()
        };
        assert!(required(&first.headers));
        let n = rseq(&first);
        assert!((1..1 << 31).contains(&n));
        assert_eq!(rel.due_at(), Some(now + t1));
        // A second provisional waits for the first one's PRACK.
        assert!(rel.outgoing(now, t1, provisional(183)).is_none());
        assert_eq!(rel.waiting.len(), 1);
        // 100 is never reliable.
        assert!(!required(
            &rel.outgoing(now, t1, provisional(100)).unwrap().headers
        ));
        // After the PRACK (see caller_prack), the next goes with the next RSeq.
        rel.pending = None;
        let next = rel.waiting.pop_front().unwrap();
        let second = rel.outgoing(now, t1, next).unwrap();
        assert_eq!(rseq(&second), n + 1);
        // A final response stops everything pending.
        assert!(rel.outgoing(now, t1, provisional(200)).is_some());
        assert!(rel.pending.is_none() && rel.due_at().is_none());
    }
}
