//! Call pickup: an extension answers a call ringing another extension of its tenant by
//! dialling `**<extension>` (directed pickup) or `*8` (the tenant's longest-ringing call to
//! any other extension), the codes Asterisk and FreeSWITCH users know.
//!
//! Ringside answers both callers itself — the picker's INVITE and the ringing call's caller,
//! each with its own answer on its own relay — cancels the ringing call's forks, and joins
//! the two calls' relays back to back as an attended transfer does ([`super::attended`]).
//! A hangup on either side ends both calls.
//!
//! Only a call ringing SIP extensions of the picker's own tenant can be taken (a pickup code
//! never reaches another tenant's call, nor a visitor's or a console's), never a call the
//! picker placed itself; nothing to take, or a picker without an SDP offer: 480.

use std::net::SocketAddr;
use std::time::Instant;

use tracing::info;

use ringside_domain::{CallStatus, EndReason, HangupSide};

use super::attended::Joined;
use super::{own_answer, B2bua, CallerLeg, Phase};
use crate::output::CoreOutput;
use crate::tu::Tu;
use crate::Side;

/// What a dialled pickup code asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pickup<'a> {
    /// `**<extension>`: the call ringing that extension.
    Directed(&'a str),
    /// `*8`: the longest-ringing call to any extension of the tenant.
    Group,
}

/// The pickup `dest` dials, if it is a pickup code.
pub(crate) fn pickup_code(dest: &str) -> Option<Pickup<'_>> {
    if dest == "*8" {
        return Some(Pickup::Group);
    }
    dest.strip_prefix("**")
        .filter(|e| {
            !e.is_empty()
                && e.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b))
        })
        .map(Pickup::Directed)
}

impl B2bua {
    /// The longest-ringing call of `tenant` that `code` may take for the extension `picker`.
    pub(crate) fn ringing_for_pickup(
        &self,
        tenant: &str,
        picker: &str,
        code: Pickup<'_>,
    ) -> Option<u64> {
        let mine = format!("extension:{picker}");
        self.calls
            .iter()
            .filter(|(_, c)| {
                c.record.tenant_id == tenant
                    && c.phase.is_ringing()
                    && c.joined.is_none()
                    && c.browser_b.is_none()
                    && !c.console_offered
                    && c.late_offer.is_none()
                    && c.caller_account.as_deref() != Some(picker)
                    && c.forks.iter().any(|f| {
                        f.done.is_none()
                            && f.label != mine
                            && match code {
                                Pickup::Directed(ext) => {
                                    f.label.strip_prefix("extension:") == Some(ext)
                                }
                                Pickup::Group => f.label.starts_with("extension:"),
                            }
                    })
            })
            .min_by_key(|(k, c)| (c.record.started_at, **k))
            .map(|(k, _)| *k)
    }

    /// The picker's new call `key` takes ringing call `ringing`: both callers are answered by
    /// Ringside, the ringing call's forks are cancelled and the two relays joined.
    pub(super) fn pick_up(&mut self, tu: &mut Tu, now: Instant, key: u64, ringing: u64) {
        let still_rings = self
            .calls
            .get(&ringing)
            .is_some_and(|c| c.phase.is_ringing() && c.joined.is_none());
        let picker = self
            .calls
            .get(&key)
            .and_then(|c| c.caller_account.clone())
            .unwrap_or_default();
        if !still_rings || !self.answer_here(tu, now, key, "pickup".into()) {
            return self.refuse_caller(
                tu,
                now,
                key,
                480,
                CallStatus::Missed,
                EndReason::Unavailable,
                HangupSide::System,
            );
        }
        self.cancel_other_forks(tu, now, ringing, None);
        if !self.answer_here(tu, now, ringing, format!("extension:{picker}")) {
            // (A SIP caller always made an offer: calls with a delayed one are not taken.)
            self.hang_up_both(tu, now, key, EndReason::Hangup);
            return;
        }
        self.join(tu.cfg.media_ip, (ringing, Side::B), (key, Side::B));
        if let Some(c) = self.calls.get(&ringing) {
            info!(call = %c.record.id, by = %picker, "call pickup: the extension took the ringing call");
        }
    }

    /// Ringside answers the caller of call `key` itself (its own answer to the caller's offer,
    /// or the early answer it gave already), as `answered_by`. False when it cannot.
    fn answer_here(&mut self, tu: &mut Tu, now: Instant, key: u64, answered_by: String) -> bool {
        let (now_ms, media_ip) = (tu.now_ms, tu.cfg.media_ip);
        let Some(call) = self.calls.get_mut(&key) else {
            return false;
        };
        let sdp = match &call.caller {
            CallerLeg::Browser { .. } | CallerLeg::Joined => None,
            CallerLeg::Sip(_) => {
                let port = call.media.port(Side::A);
                let answer = call.early.clone().or_else(|| {
                    let (from, offer) = call.offer.as_ref()?;
                    (*from == Side::A && call.late_offer.is_none())
                        .then(|| own_answer(offer, media_ip, port))
                        .flatten()
                });
                let Some((sdp, codec)) = answer else {
                    return false;
                };
                call.media.set_codec(Side::A, codec);
                Some(sdp)
            }
        };
        call.media.ringback(Side::A, false);
        call.media.stop_play(Side::A);
        call.phase = Phase::Answered { winner: None };
        call.record.status = CallStatus::Answered;
        call.record.answered_at = Some(now_ms);
        call.record.answered_by = Some(answered_by);
        if let Some(leg) = call.record.legs.first_mut() {
            leg.answered_at = Some(now_ms);
            leg.final_status = Some(200);
        }
        if call.recording {
            let (id, tenant) = (call.record.id.clone(), call.record.tenant_id.clone());
            call.media.start_recording(&id, &tenant, now_ms);
        }
        let reply = call.reply(200, sdp, &tu.cfg.local);
        tu.out
            .push_back(CoreOutput::UpdateCall(call.record.clone()));
        self.reply_caller(tu, now, key, reply);
        self.arm_session(now, key);
        true
    }

    /// Joins two calls' relays back to back on loopback: side `a.1` of call `a.0` and side
    /// `b.1` of call `b.0` send to each other's port and take media from it only, plain PCMU
    /// between them; each call remembers the other.
    pub(super) fn join(&mut self, media_ip: std::net::IpAddr, a: (u64, Side), b: (u64, Side)) {
        let port = |b2b: &Self, (k, side): (u64, Side)| {
            b2b.calls
                .get(&k)
                .map(|c| SocketAddr::new(media_ip, c.media.port(side)))
        };
        let (Some(a_addr), Some(b_addr)) = (port(self, a), port(self, b)) else {
            return;
        };
        let codec = super::PCMU;
        for ((k, inner), to, other) in [(a, b_addr, b.0), (b, a_addr, a.0)] {
            let Some(c) = self.calls.get_mut(&k) else {
                continue;
            };
            c.media.set_dtls(inner, None);
            c.media.set_srtp(inner, None);
            c.media.set_codec(inner, codec);
            c.media.pin(inner, to);
            c.joined = Some(Joined { other, inner });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pickup_codes() {
        assert_eq!(pickup_code("*8"), Some(Pickup::Group));
        assert_eq!(pickup_code("**1002"), Some(Pickup::Directed("1002")));
        for not in ["1002", "*81", "**", "***", "** 1002", "**10;02", "*"] {
            assert_eq!(pickup_code(not), None, "{not}");
        }
    }
}
