//! Responses nobody is waiting for any more: forks whose call ended before they got a final
//! response (a late 1xx is cancelled, a late 2xx ACKed and hung up), 2xx retransmissions of
//! re-INVITEs already ACKed, and 2xx for no dialog of ours (rate-limited, so a forged one is no
//! amplifier).

use std::time::Instant;

use rsip::{Method, Request, Response};
use tracing::debug;

use ringside_sip::dialog::Dialog;
use ringside_sip::hdr;
use ringside_sip::message::make_cancel;
use ringside_sip::transaction::{ClientTxId, Peer, TransportKind};

use super::{B2bua, ClientRole, STRAY_PER_SEC};
use crate::tu::Tu;
use crate::Side;

impl B2bua {
    pub(super) fn on_orphan_response(
        &mut self,
        tu: &mut Tu,
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
                let cctx = tu.send_request(now, c, peer);
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
                self.ack_and_bye(tu, now, &resp, peer);
            }
            _ => {
                self.by_ctx.remove(&ctx);
                self.orphan_peers
                    .remove(hdr::call_id(&invite.headers).unwrap_or_default());
            }
        }
    }

    pub(super) fn orphan_peer(&self, invite: &Request) -> Peer {
        self.orphan_peers
            .get(hdr::call_id(&invite.headers).unwrap_or_default())
            .copied()
            .unwrap_or(Peer {
                addr: ([127, 0, 0, 1], 9).into(),
                transport: TransportKind::Udp,
                tls_profile: 0,
            })
    }

    pub(crate) fn on_stray_response(
        &mut self,
        tu: &mut Tu,
        now: Instant,
        resp: Response,
        from: Peer,
    ) {
        let is_invite_2xx = (200..300).contains(&resp.status_code.code())
            && hdr::header_value(&resp.headers, "CSeq").is_some_and(|v| v.contains("INVITE"));
        if !is_invite_2xx {
            return;
        }
        if self.reinvite_2xx_again(tu, &resp) {
            return;
        }
        let key = self.dialog_of(&resp.headers, "From");
        match key {
            Some((k, Side::B)) => {
                let ack = self.calls.get(&k).and_then(|c| {
                    let w = c.forks.get(c.phase.winner()?)?;
                    Some((w.ack.clone()?, w.dialog.peer))
                });
                if let Some((ack, peer)) = ack {
                    tu.tx.send_stateless(rsip::SipMessage::Request(ack), peer);
                }
            }
            // A 2xx for no dialog of ours: maybe a callee we already hung up on, maybe forged
            // with someone else's address. One stateless ACK and BYE at most (no retransmits),
            // and only STRAY_PER_SEC of them a second, so a forged response is no amplifier.
            _ => {
                let sec = tu.now_ms / 1000;
                if self.stray_window.0 != sec {
                    self.stray_window = (sec, 0);
                }
                if self.stray_window.1 >= STRAY_PER_SEC {
                    tu.metrics
                        .stray_dropped
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return;
                }
                self.stray_window.1 += 1;
                self.send_ack_and_bye(tu, now, &resp, from, false);
            }
        }
    }

    /// A 2xx to one of our re-INVITEs, again (its transaction is done): while our ACK waits
    /// for the originator's answer nothing is sent; after, the same ACK again (it was lost).
    /// True when it was such a 2xx.
    pub(super) fn reinvite_2xx_again(&mut self, tu: &mut Tu, resp: &Response) -> bool {
        let key = self.dialog_of(&resp.headers, "From");
        let Some((k, side)) = key else {
            return false;
        };
        let Some(call) = self.calls.get(&k) else {
            return false;
        };
        let cseq = hdr::cseq_num(&resp.headers);
        if call
            .pending_ack
            .is_some_and(|(t, c, _)| t == side && Some(c) == cseq)
        {
            return true;
        }
        if let Some((ack, peer)) = call.last_ack[super::side_index(side)]
            .as_ref()
            .filter(|(a, _)| hdr::cseq_num(&a.headers) == cseq)
        {
            tu.tx
                .send_stateless(rsip::SipMessage::Request(ack.clone()), *peer);
            return true;
        }
        false
    }

    /// Acknowledge and end a 2xx for a dialog we no longer want (a fork that answered after
    /// the call was decided, or a stray retransmission): ACK it, then BYE it, so the far end is
    /// never left holding a call nobody is on.
    pub(crate) fn ack_and_bye(&mut self, tu: &mut Tu, now: Instant, resp: &Response, peer: Peer) {
        self.send_ack_and_bye(tu, now, resp, peer, true)
    }

    /// [`Self::ack_and_bye`]; with `reliable == false` the BYE is sent once, statelessly.
    fn send_ack_and_bye(
        &mut self,
        tu: &mut Tu,
        now: Instant,
        resp: &Response,
        peer: Peer,
        reliable: bool,
    ) {
        let Some(mut d) = Dialog::from_2xx(resp, peer) else {
            return;
        };
        let cseq = d.local_cseq;
        debug!(call_id = %d.call_id, "hanging up an unwanted 2xx");
        if let Some(ack) = d.ack(&tu.cfg.local, cseq) {
            tu.metrics.request_out("ACK");
            tu.tx.send_stateless(rsip::SipMessage::Request(ack), peer);
        }
        if let Some(bye) = d.request(&tu.cfg.local, Method::Bye, None) {
            if reliable {
                let ctx = tu.send_request(now, bye, peer);
                self.by_ctx.insert(ctx, (0, ClientRole::Fire));
            } else {
                tu.metrics.request_out("BYE");
                tu.tx.send_stateless(rsip::SipMessage::Request(bye), peer);
            }
        }
    }
}
