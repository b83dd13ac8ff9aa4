//! Ending calls: a BYE on one side, both sides, every call at shutdown, and the call's
//! record written with its legs' quality when it is over.

use std::time::Instant;

use tracing::{info, info_span};

use ringside_domain::{CallStatus, EndReason, HangupSide, LegRole};
use ringside_storage::LegStats;

use super::{send_bye, B2bua, BrowserSignal, ClientRole};
use crate::output::CoreOutput;
use crate::tu::Tu;
use crate::Side;

impl B2bua {
    /// Send BYE on one side of an answered call.
    pub(super) fn bye_side(&mut self, tu: &mut Tu, now: Instant, key: u64, side: Side) {
        if self.end_joined(tu, now, key, side) {
            return;
        }
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        if let (Side::A, Some(session)) = (side, call.caller.session()) {
            return tu.browser_signal(session, BrowserSignal::Ended { reason: "hangup" });
        }
        if let (Side::B, Some(session)) = (side, call.browser_b.as_ref().and_then(|b| b.session)) {
            return tu.browser_signal(session, BrowserSignal::Ended { reason: "hangup" });
        }
        if let Some(d) = call.dialog_mut(side) {
            send_bye(tu, &mut self.by_ctx, now, key, d);
        }
    }

    /// Ringside ends answered call `key` itself: BYE to both sides, the record ends with
    /// `reason`, hung up by the system.
    pub(super) fn hang_up_both(&mut self, tu: &mut Tu, now: Instant, key: u64, reason: EndReason) {
        self.bye_side(tu, now, key, Side::A);
        self.bye_side(tu, now, key, Side::B);
        self.end_call(tu, key, CallStatus::Ended, reason, Some(HangupSide::System));
    }

    /// End every call still up (the shutdown grace period is over): answered calls get a BYE on
    /// both sides, ringing ones have their forks cancelled and the caller answered 503, and
    /// each record ends with `reason`.
    pub(crate) fn end_all(&mut self, tu: &mut Tu, now: Instant, reason: EndReason) {
        let keys: Vec<u64> = self.calls.keys().copied().collect();
        for key in keys {
            let Some(call) = self.calls.get(&key) else {
                continue;
            };
            if call.phase.is_answered() {
                self.hang_up_both(tu, now, key, reason);
                continue;
            }
            self.cancel_other_forks(tu, now, key, None);
            self.refuse_caller(
                tu,
                now,
                key,
                503,
                CallStatus::Missed,
                reason,
                HangupSide::System,
            );
        }
    }

    /// Finish a call: write its record, free media, forget dialogs.
    pub(crate) fn end_call(
        &mut self,
        tu: &mut Tu,
        key: u64,
        status: CallStatus,
        reason: EndReason,
        side: Option<HangupSide>,
    ) {
        let Some(mut call) = self.calls.remove(&key) else {
            return;
        };
        let now_ms = tu.now_ms;
        call.record.status = status;
        call.record.ended_at = Some(now_ms);
        call.record.end_reason = Some(reason);
        call.record.hangup_side = side;
        for l in &mut call.record.legs {
            l.ended_at.get_or_insert(now_ms);
        }
        let reason_static = match reason {
            EndReason::Cancelled | EndReason::Declined => reason.as_str(),
            _ => EndReason::NoAnswer.as_str(),
        };
        tu.out
            .extend(super::browser::ring_stopped(&call, reason_static));
        tu.out
            .extend(super::console::console_stopped(&mut call, reason_static));
        if call.phase.is_answered() {
            let q = call.media.quality();
            let winner = call
                .phase
                .winner()
                .and_then(|w| call.forks.get(w))
                .map(|f| f.leg_idx)
                .or_else(|| {
                    call.browser_b.as_ref().and_then(|_| {
                        call.record
                            .legs
                            .iter()
                            .position(|l| l.role == LegRole::Callee)
                    })
                });
            for (side, (idx, q)) in [(Some(0), q[0]), (winner, q[1])].into_iter().enumerate() {
                if let Some(leg) = idx.and_then(|i| call.record.legs.get_mut(i)) {
                    // A browser leg's RTT is the edge's (the relay only sees loopback to it).
                    let rtt_us = match call.browser_rtt[side] {
                        Some(d) => Some(d.as_micros() as i64),
                        None => q.rtt_ms.map(|r| (r * 1000.0) as i64),
                    };
                    leg.quality = Some(LegStats {
                        rx_packets: q.packets_received as i64,
                        rx_lost: q.packets_lost,
                        jitter_us: (q.jitter_ms * 1000.0) as i64,
                        rtt_us,
                        tx_packets: q.packets_sent as i64,
                    });
                }
            }
        }
        if let Some(a) = call.caller.sip() {
            self.by_dialog
                .remove(&(a.dialog.call_id.clone(), a.dialog.local_tag.clone()));
        }
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
        let call_id = call.record.legs.first().map(|l| l.sip_call_id.as_str());
        info_span!("call", call_id = call_id.unwrap_or_default(), record = %call.record.id)
            .in_scope(|| info!(%status, %reason, "call ended"));
        tu.out.push_back(CoreOutput::UpdateCall(call.record));
        // Dropping `call.media` stops the relay and frees its ports.
    }
}
