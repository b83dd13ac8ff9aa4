//! Console operators' side of the core: a call offered to the operators online in the
//! browser console (a visitor's call, or a PBX call waiting in a widget's queue), taken by the
//! first operator who answers with an edge session (leg B), and the notice that stops the
//! offer.

use std::time::Instant;

use ringside_domain::channels::Channel;

use super::browser::{answer_with_browser, BrowserAnswer, BrowserB};
use super::B2bua;
use super::Call;
use crate::output::CoreOutput;
use crate::output::{BrowserRing, BrowserSignal};
use crate::tu::Tu;
use crate::Side;

impl B2bua {
    /// A console operator (`ans.visitor_id` names the operator) answers the visitor's call
    /// `ans.call_id` with its edge session: SIP forks are cancelled, the operator's browser
    /// becomes leg B.
    pub(crate) fn take_for_console(&mut self, tu: &mut Tu, now: Instant, ans: BrowserAnswer) {
        let now_ms = tu.now_ms;
        let media_ip = tu.cfg.media_ip;
        let Some(key) = self.call_key(&ans.call_id) else {
            return tu.browser_signal(ans.session, BrowserSignal::Ended { reason: "gone" });
        };
        let Some(call) = self.calls.get_mut(&key) else {
            tu.missing_call(key, "console answer");
            return tu.browser_signal(ans.session, BrowserSignal::Ended { reason: "gone" });
        };
        // A visitor's call, or a PBX's call waiting in a widget's queue (answered early with
        // Ringside's SDP, hearing hold music).
        let visitor = call.caller.session();
        let queued =
            call.caller.sip().is_some() && (call.early.is_some() || call.late_offer.is_some());
        let ok = (visitor.is_some() || queued)
            && call.console_offered
            && call.phase.is_ringing()
            && call.record.tenant_id == ans.tenant_id;
        if !ok {
            return tu.browser_signal(ans.session, BrowserSignal::Ended { reason: "gone" });
        }
        let stopped = console_stopped(call, "answered");
        // Stops whatever plays to the caller: the visitor's ringback or the queue's hold music.
        call.media.ringback(Side::A, false);
        answer_with_browser(call, &ans, format!("console:{}", ans.visitor_id), now_ms);
        call.browser_b = Some(BrowserB {
            target: Channel {
                tenant_id: ans.tenant_id.clone(),
                widget_id: ans.widget_id.clone(),
                visitor_id: ans.visitor_id.clone(),
            },
            session: Some(ans.session),
        });
        let port_b = call.media.port(Side::B);
        let record = call.record.clone();
        // The queued PBX call gets its final answer: the early SDP again (RFC 3261 13.2.1),
        // or Ringside's offer to a delayed-offer caller. A visitor's browser just hears that
        // it is answered.
        let early = call
            .early
            .as_ref()
            .filter(|_| queued)
            .map(|(sdp, _)| sdp.clone())
            .or_else(|| call.own_offer_for_caller(media_ip));
        let reply = call.reply(200, early, &tu.cfg.local);
        tu.out.extend(stopped);
        self.cancel_other_forks(tu, now, key, None);
        tu.out.push_back(CoreOutput::UpdateCall(record.clone()));
        self.reply_caller(tu, now, key, reply);
        self.arm_session(now, key);
        tu.browser_signal(
            ans.session,
            BrowserSignal::Media {
                port: port_b,
                call_id: record.id,
            },
        );
        tu.browser_signal(ans.session, BrowserSignal::Answered);
        if let Some(visitor) = visitor {
            tu.browser_signal(ans.session, BrowserSignal::Video { peer: visitor });
        }
    }

    /// A queued call is offered to the widget's console operators too (whoever is online
    /// sees it; the first to answer, or an extension, takes it).
    pub(super) fn offer_to_console(&mut self, tu: &mut Tu, key: u64, widget_id: String) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        call.console_offered = true;
        let offer = BrowserRing {
            call_id: call.record.id.clone(),
            tenant_id: call.record.tenant_id.clone(),
            widget_id,
            visitor_id: String::new(),
            from: call.record.from_uri.clone(),
            ringing: true,
            reason: "",
            console: true,
        };
        tu.out.push_back(CoreOutput::BrowserRing(offer));
    }
}

/// The "no longer offered" notice for the console operators of a visitor's call.
pub(super) fn console_stopped(call: &mut Call, reason: &'static str) -> Option<CoreOutput> {
    if !std::mem::take(&mut call.console_offered) {
        return None;
    }
    Some(CoreOutput::BrowserRing(BrowserRing {
        call_id: call.record.id.clone(),
        tenant_id: call.record.tenant_id.clone(),
        widget_id: call.record.widget_id.clone().unwrap_or_default(),
        visitor_id: call.record.visitor_id.clone().unwrap_or_default(),
        from: call.record.from_uri.clone(),
        ringing: false,
        reason,
        console: true,
    }))
}
