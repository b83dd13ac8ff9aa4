//! Session timers (RFC 4028). The caller's leg (Ringside as the UAS) is negotiated in `setup`
//! and kept here: its refreshes move the deadline on, or Ringside refreshes it with UPDATE.
//!
//! Towards leg B (Ringside as the UAC): an extension or trunk with a
//! `sessionTimerSecs` gets `Session-Expires` (and `Min-SE`, `Supported: timer`) in Ringside's
//! INVITE; a 422 is answered by asking again with the interval it demands (once); the 2xx says
//! who refreshes. When it is Ringside (`refresher=uac`), Ringside sends UPDATE at half the
//! interval; when it is the callee (`refresher=uas`), its re-INVITE or UPDATE must come in time
//! or the call is hung up on both sides. A callee that does not support timers answers without
//! `Session-Expires`, and the call runs without one (section 7.2).

use std::time::{Duration, Instant};

use rsip::headers::Header;
use rsip::{Method, Request, Response};
use tracing::{info, warn};

use ringside_domain::EndReason;
use ringside_sip::hdr;
use ringside_sip::timer::{self, Refresher, SessionExpires, MIN_SE};

use super::{B2bua, CallTimer, ClientRole};
use crate::tu::Tu;
use crate::Side;

/// The session timer agreed with the answering callee.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CalleeTimer {
    /// The interval and who refreshes (`uac`: Ringside, `uas`: the callee).
    se: SessionExpires,
    /// The callee takes UPDATE (Ringside's refreshes need it).
    can_update: bool,
    /// When the armed timer is due (an older one firing is stale).
    due: Option<Instant>,
}

impl CalleeTimer {
    fn ringside_refreshes(&self) -> bool {
        self.se.refresher != Some(Refresher::Uas)
    }
}

/// Adds the session-timer request to an INVITE for leg B.
pub(crate) fn offer(invite: &mut Request, secs: Option<u32>) {
    let Some(secs) = secs else {
        return;
    };
    invite
        .headers
        .push(Header::Other("Supported".into(), "timer".into()));
    invite.headers.push(Header::Other(
        "Session-Expires".into(),
        secs.max(MIN_SE).to_string(),
    ));
    invite
        .headers
        .push(Header::Other("Min-SE".into(), MIN_SE.to_string()));
}

/// The interval to ask for again after a 422 (its `Min-SE`, at least ours), or `None` when
/// the 422 is no use (no `Min-SE`, or not above what was asked).
pub(crate) fn after_422(asked: u32, resp: &Response) -> Option<u32> {
    let min = timer::min_se(&resp.headers)?;
    (min > asked && min <= timer::MAX_SE).then_some(min)
}

impl B2bua {
    /// The winning fork answered (`resp`, its 2xx): a session timer it agreed to starts.
    pub(super) fn callee_session_start(&mut self, now: Instant, key: u64, resp: &Response) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let asked = call
            .phase
            .winner()
            .and_then(|w| call.forks.get(w))
            .and_then(|f| f.session_secs);
        if asked.is_none() {
            return;
        }
        let Some(Ok(se)) = timer::session_expires(&resp.headers) else {
            return;
        };
        let se = SessionExpires {
            secs: se.secs.clamp(MIN_SE, timer::MAX_SE),
            // A 2xx must name the refresher; without one the UAC (Ringside) refreshes.
            refresher: Some(se.refresher.unwrap_or(Refresher::Uac)),
        };
        let t = CalleeTimer {
            se,
            can_update: hdr::allows(&resp.headers, "UPDATE"),
            due: None,
        };
        if t.ringside_refreshes() && !t.can_update {
            warn!(call = %call.record.id, "the callee wants Ringside to refresh its session but does not allow UPDATE: no session timer");
            return;
        }
        info!(call = %call.record.id, secs = se.secs, refresher = ?se.refresher, "session timer with the callee");
        call.callee_session = Some(t);
        self.arm_callee_session(now, key);
    }

    /// Arms (after a refresh, re-arms) the callee's session timer.
    pub(super) fn arm_callee_session(&mut self, now: Instant, key: u64) {
        let Some(t) = self.calls.get(&key).and_then(|c| c.callee_session) else {
            return;
        };
        let (timer, after) = if t.ringside_refreshes() {
            (CallTimer::CalleeRefresh, t.se.refresh_after_secs())
        } else {
            (CallTimer::CalleeExpiry, t.se.expire_after_secs())
        };
        self.callee_session_due_at(key, now + Duration::from_secs(u64::from(after)), timer);
    }

    /// The callee's session timer is next due at `at`.
    pub(super) fn callee_session_due_at(&mut self, key: u64, at: Instant, timer: CallTimer) {
        if let Some(t) = self
            .calls
            .get_mut(&key)
            .and_then(|c| c.callee_session.as_mut())
        {
            t.due = Some(at);
            self.start_timer(at, key, timer);
        }
    }

    /// The callee's session timer is due: Ringside refreshes with UPDATE, or, when the callee
    /// should have refreshed and did not, the call ends.
    pub(super) fn callee_session_due(
        &mut self,
        tu: &mut Tu,
        now: Instant,
        key: u64,
        timer: CallTimer,
    ) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let Some(t) = call.callee_session else {
            return;
        };
        if !call.phase.is_answered() || t.due.is_none_or(|d| d > now) {
            return;
        }
        if timer == CallTimer::CalleeExpiry {
            info!(call = %call.record.id, "no session refresh from the callee: hanging up");
            return self.end_session(tu, now, key);
        }
        let Some(d) = call.dialog_mut(Side::B) else {
            return;
        };
        let peer = d.peer;
        if let Some(mut upd) = d.request(&tu.cfg.local, Method::Update, None) {
            let se = SessionExpires {
                secs: t.se.secs,
                refresher: Some(Refresher::Uac),
            };
            upd.headers
                .push(Header::Other("Session-Expires".into(), se.value()));
            upd.headers
                .push(Header::Other("Supported".into(), "timer".into()));
            let ctx = tu.send_request(now, upd, peer);
            self.by_ctx.insert(ctx, (key, ClientRole::Refresh(Side::B)));
        }
        self.arm_callee_session(now, key);
    }
}

impl B2bua {
    /// The caller leg's session timer is due: Ringside refreshes (an UPDATE, RFC 4028
    /// section 7.4) or, when the caller should have and did not, the call ends. A timer a
    /// refresh has moved on is stale and does nothing.
    pub(super) fn session_due(&mut self, tu: &mut Tu, now: Instant, key: u64, timer: CallTimer) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let Some(st) = call.session.as_ref() else {
            return;
        };
        if !call.phase.is_answered() || st.due.is_none_or(|d| d > now) {
            return;
        }
        if timer == CallTimer::SessionExpiry {
            info!(call = %call.record.id, "no session refresh from the caller: hanging up");
            return self.end_session(tu, now, key);
        }
        let st = *st;
        let Some(d) = call.dialog_mut(Side::A) else {
            return;
        };
        let peer = d.peer;
        if let Some(mut upd) = d.request(&tu.cfg.local, Method::Update, None) {
            st.announce(&mut upd.headers, "Supported");
            let ctx = tu.send_request(now, upd, peer);
            self.by_ctx.insert(ctx, (key, ClientRole::Refresh(Side::A)));
        }
        self.arm_session(now, key);
    }

    /// The session is over (RFC 4028 section 10): BYE to both sides.
    pub(super) fn end_session(&mut self, tu: &mut Tu, now: Instant, key: u64) {
        self.hang_up_both(tu, now, key, EndReason::SessionExpired);
    }
}
