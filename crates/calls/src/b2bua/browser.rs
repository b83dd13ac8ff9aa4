//! Calls from browsers: leg A is a WebRTC edge session's plain RTP side instead of a SIP
//! dialog; leg B forks to the widget's ring targets exactly like a SIP call's.
//!
//! The visitor hears Ringside's ringback from the start. The first answer wins and the other
//! forks are cancelled. When nobody answers within the widget's ring timeout, or no target can
//! ring at all, the visitor hears the unavailable message and the call ends as missed
//! (`no_answer`, or `unavailable` when nobody could be rung). Everything the browser must know
//! leaves as [`BrowserSignal`]s (`CoreOutput::Browser`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rsip::headers::{self, Header, UntypedHeader};
use rsip::{Method, Request, Response};
use tracing::{info, info_span};

use ringside_domain::channels::Channel;
use ringside_domain::{CallKind, CallStatus, DisplayName, EndReason, HangupSide, LegRole};
use ringside_media::codec::frame::CodecKind;
use ringside_media::LegCodec;
use ringside_sip::hdr;
use ringside_sip::message::{make_response, new_call_id, new_tag};
use ringside_sip::sdp::SessionDescription;
use ringside_sip::transaction::ServerTxId;
use ringside_storage::{CallLeg, CallRecord};

use super::B2bua;
use super::CallTimer;
use super::{
    anchor_sdp, answer_sdp, extend_offer, own_answer, send_bye, Call, CallerLeg, Phase, Target,
};
use crate::output::{BrowserRing, BrowserSignal, CoreOutput};
use crate::tu::Tu;
use crate::Side;

/// A browser's call, as the call API hands it to the SIP core.
#[derive(Debug, Clone)]
pub struct BrowserCall {
    /// The WebRTC edge session carrying the browser's media.
    pub session: u64,
    /// Tenant of the widget.
    pub tenant_id: String,
    /// The widget the visitor calls from.
    pub widget_id: String,
    /// The calling visitor.
    pub visitor_id: String,
    /// Shown to the answering phones (From display name).
    pub caller_name: String,
    /// Usernames of extensions to ring (in parallel) besides those assigned to the widget.
    pub extensions: Vec<String>,
    /// Ring the extensions assigned to the widget.
    pub ring_extensions: bool,
    /// E.164 numbers rung through an outbound trunk; each answerer must press 1 after the
    /// accept prompt before the call is theirs.
    pub pstn_numbers: Vec<String>,
    /// The trunk for `pstn_numbers` (else the tenant's first trunk allowed to dial each).
    pub pstn_trunk_id: Option<String>,
    /// How long a PSTN answerer has to press 1 once the prompt starts.
    pub accept_timeout: Duration,
    /// Console operators are online for the widget: the call is offered to them too (and
    /// waits for them even with no SIP target).
    pub console: bool,
    /// How long the targets ring before the visitor hears the unavailable message.
    pub ring_timeout: Duration,
    /// Record the call once answered.
    pub record: bool,
    /// Where the edge session receives plain RTP.
    pub rtp: SocketAddr,
    /// The browser's Opus payload type.
    pub opus_pt: u8,
    /// The browser's telephone-event payload type.
    pub telephone_event_pt: Option<u8>,
}

/// The visitor accepts a call ringing its browser, with its edge session.
#[derive(Debug, Clone)]
pub struct BrowserAnswer {
    /// The call record id from [`BrowserRing`].
    pub call_id: String,
    /// The edge session carrying the visitor's media.
    pub session: u64,
    /// Who accepts (must be the visitor rung).
    pub tenant_id: String,
    /// The widget.
    pub widget_id: String,
    /// The visitor.
    pub visitor_id: String,
    /// Where the edge session receives plain RTP.
    pub rtp: SocketAddr,
    /// The browser's Opus payload type.
    pub opus_pt: u8,
    /// The browser's telephone-event payload type.
    pub telephone_event_pt: Option<u8>,
}

/// Leg B of a call to a visitor's browser.
#[derive(Debug, Clone)]
pub(crate) struct BrowserB {
    pub(crate) target: Channel,
    /// The edge session once the visitor accepted.
    pub(crate) session: Option<u64>,
}

impl BrowserB {
    pub(crate) fn ringing(t: &Channel) -> Self {
        BrowserB {
            target: t.clone(),
            session: None,
        }
    }
}

/// The SDP of the edge session's plain RTP side, as the offer leg B is built from.
fn edge_offer(c: &BrowserCall) -> String {
    let ip = c.rtp.ip();
    let fam = if ip.is_ipv6() { "IP6" } else { "IP4" };
    let te = c
        .telephone_event_pt
        .map(|pt| {
            (
                format!(" {pt}"),
                format!("a=rtpmap:{pt} telephone-event/8000\r\n"),
            )
        })
        .unwrap_or_default();
    format!(
        "v=0\r\no=ringside 1 1 IN {fam} {ip}\r\ns=ringside\r\nc=IN {fam} {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP {pt}{te_pt}\r\na=rtpmap:{pt} opus/48000/2\r\n\
         a=fmtp:{pt} minptime=10;useinbandfec=1\r\n{te_map}a=ptime:20\r\na=sendrecv\r\n",
        port = c.rtp.port(),
        pt = c.opus_pt,
        te_pt = te.0,
        te_map = te.1,
    )
}

impl B2bua {
    /// A browser calls: anchor its media, fork to `targets` (its widget's ring targets, as
    /// routing found them) or, with none, play the unavailable message. Signals go to
    /// `call.session`.
    pub(crate) fn start_browser_call(
        &mut self,
        tu: &mut Tu,
        now: Instant,
        call: BrowserCall,
        targets: Vec<Target>,
    ) {
        let session = call.session;
        let key = self.next_call;
        self.next_call += 1;
        let media = match self
            .media
            .create_for_widget(&call.tenant_id, &call.widget_id, key)
        {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "cannot allocate media for a browser call");
                return tu.browser_signal(session, BrowserSignal::Ended { reason: "failed" });
            }
        };
        media.announce(Side::A, call.rtp);
        let codec = opus_leg(call.opus_pt, call.telephone_event_pt);
        media.set_codec(Side::A, codec);
        // Ringback for the visitor while the targets ring.
        media.ringback(Side::A, true);
        let offer = edge_offer(&call);
        let b_sdp = anchor_sdp(&offer, tu.cfg.media_ip, media.port(Side::B))
            .map(|(s, _)| extend_offer(s))
            .unwrap_or_default();

        let started = tu.now_ms;
        let a_call_id = format!("webrtc-{session}-{}", new_call_id());
        let tag = new_tag();
        let from_uri = format!("webrtc:{}", call.visitor_id);
        let to_uri = format!("widget:{}", call.widget_id);
        let caller = super::CallerDialog {
            sip_call_id: a_call_id.clone(),
            local_tag: tag.clone(),
            remote_tag: None,
            peer: call.rtp.to_string(),
        };
        let uris = (from_uri.clone(), to_uri.clone());
        let mut record = CallRecord {
            widget_id: Some(call.widget_id.clone()),
            visitor_id: Some(call.visitor_id.clone()),
            ..super::ringing_record(
                call.tenant_id.clone(),
                CallKind::WebRtc,
                uris,
                started,
                caller,
            )
        };
        let display = DisplayName::sanitize(&call.caller_name).quoted();
        let from = super::identity::CallerIdentity::plain(display, "website");
        let mut sdes_b = super::sdes::SdesLeg::default();
        let forks = if b_sdp.is_empty() {
            Vec::new()
        } else {
            let offer = (b_sdp.as_str(), &mut sdes_b, None);
            self.fork_targets(
                tu,
                now,
                key,
                targets,
                offer,
                &from,
                "website",
                &mut record,
                0,
            )
        };
        let rid = record.id.clone();
        for l in &mut record.legs {
            l.call_id = rid.clone();
        }
        info_span!("call", call_id = %a_call_id, record = %rid).in_scope(
            || info!(from = %from_uri, to = %to_uri, forks = forks.len(), "browser call started"),
        );
        let port = media.port(Side::A);
        super::sdes::expect_keys(&*media, &forks);
        let no_forks = forks.is_empty();
        tu.out.push_back(CoreOutput::InsertCall(record.clone()));
        self.calls.insert(
            key,
            Call {
                caller: CallerLeg::Browser { session },
                phase: Phase::Ringing { tone: true },
                browser_b: None,
                console_offered: false,
                browser_rtt: [None; 2],
                recording: call.record || tu.cfg.record_calls,
                accept_timeout: call.accept_timeout,
                forks,
                media,
                record,
                offer: Some((Side::A, offer)),
                // The visitor's answer is its edge session's: Ringside's ringback is its early
                // media from the start.
                early: Some((String::new(), codec)),
                late_offer: None,
                reliable: None,
                session: None,
                pending_ack: None,
                last_ack: [None, None],
                // The visitor's leg is WebRTC (DTLS-SRTP at the edge); leg B is SIP.
                sdes: [Default::default(), sdes_b],
                callee_session: None,
                identity: from,
                transfer: None,
                transfer_sdes: None,
                caller_account: None,
                joined: None,
                caller_detached: false,
                referred_by: None,
            },
        );
        tu.metrics
            .calls_total
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tu.browser_signal(session, BrowserSignal::Media { port, call_id: rid });
        if call.console {
            let Some(c) = self.calls.get_mut(&key) else {
                return tu.missing_call(key, "console offer");
            };
            c.console_offered = true;
            let offer = BrowserRing {
                call_id: c.record.id.clone(),
                tenant_id: call.tenant_id.clone(),
                widget_id: call.widget_id.clone(),
                visitor_id: call.visitor_id.clone(),
                from: c.record.from_uri.clone(),
                ringing: true,
                reason: "",
                console: true,
            };
            tu.out.push_back(CoreOutput::BrowserRing(offer));
        } else if no_forks {
            return self.browser_unavailable(tu, now, key, EndReason::Unavailable);
        }
        self.start_timer(now + call.ring_timeout, key, CallTimer::RingTimeout);
    }

    /// A PSTN fork answered a browser call: its media is bridged to leg B, the accept prompt
    /// plays to it (the visitor keeps hearing ringback) and the call waits for its "1". While
    /// one PSTN answerer is at the prompt, another that answers is hung up (leg B has room
    /// for one).
    pub(super) fn pstn_answered(
        &mut self,
        tu: &mut Tu,
        now: Instant,
        key: u64,
        n: usize,
        resp: &Response,
    ) {
        let media_ip = tu.cfg.media_ip;
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let prompting = call.phase.prompting().is_some();
        let answer = hdr::sdp_body(&resp.headers, &resp.body).map(|s| call.fork_answer_in(n, &s));
        let Some(f) = call.forks.get_mut(n) else {
            return tu.missing_call(key, "PSTN answer");
        };
        if prompting || matches!(answer, Some(Err(_))) {
            // Another answerer is being asked already, or this one's media cannot be
            // encrypted as its trunk requires.
            f.byed = true;
            send_bye(tu, &mut self.by_ctx, now, key, &mut f.dialog);
            let code = if prompting { 486 } else { 488 };
            return self.fork_failed(tu, now, key, n, code);
        }
        if let Some(Ok(sdp)) = answer {
            let port = call.media.port(Side::A);
            if let Some((_, Some(rtp))) = answer_sdp(call, Side::B, &sdp, media_ip, port) {
                call.media.announce(Side::B, rtp);
            }
        }
        call.phase = Phase::Prompting {
            fork: n,
            tone: call.phase.tone(),
        };
        let length = call.media.accept_prompt(Side::B);
        let wait = call.accept_timeout.max(length);
        info!(call = %call.record.id, fork = n, "PSTN answer: accept prompt playing");
        self.start_timer(now + wait, key, CallTimer::AcceptTimeout(n));
    }

    /// A digit from leg B (RFC 4733 or SIP INFO): "1" from the PSTN answerer at the prompt
    /// takes the call.
    pub(super) fn leg_b_digit(&mut self, tu: &mut Tu, now: Instant, key: u64, digit: char) {
        let Some(call) = self.calls.get(&key) else {
            return;
        };
        let Some(n) = call.phase.prompting() else {
            return;
        };
        if digit != '1' {
            return;
        }
        info!(call = %call.record.id, fork = n, "PSTN answerer accepted");
        self.take_call(tu, now, key, n, 200, None);
    }

    /// The PSTN answerer at the prompt never pressed 1: hang it up, the others ring on.
    pub(super) fn pstn_not_accepted(&mut self, tu: &mut Tu, now: Instant, key: u64, n: usize) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        if call.phase.prompting() != Some(n) {
            return;
        }
        call.phase.stop_prompting();
        call.media.stop_play(Side::B);
        info!(call = %call.record.id, fork = n, "PSTN answerer did not accept");
        let Some(f) = call.forks.get_mut(n) else {
            return tu.missing_call(key, "PSTN accept timeout");
        };
        if !f.byed {
            f.byed = true;
            send_bye(tu, &mut self.by_ctx, now, key, &mut f.dialog);
        }
        // 603: answered, but declined the call (no 1 pressed).
        self.fork_failed(tu, now, key, n, 603);
    }

    /// An in-dialog request on a fork of a call not answered yet: the PSTN answerer at the
    /// prompt may send its "1" as SIP INFO, or hang up. True when handled here.
    pub(super) fn early_fork_request(
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
        if call.phase.prompting() != Some(n) {
            return false;
        }
        match req.method {
            Method::Bye => {
                if let Some(f) = call.forks.get_mut(n) {
                    f.byed = true;
                }
                call.phase.stop_prompting();
                call.media.stop_play(Side::B);
                let r = make_response(req, 200.into(), None);
                tu.respond(now, stx, r);
                self.fork_failed(tu, now, key, n, 603);
                true
            }
            Method::Info => {
                let body = String::from_utf8_lossy(&req.body);
                let digit = ringside_media::dtmf::parse_dtmf_relay(&body).map(|(d, _)| d);
                let r = make_response(req, 200.into(), None);
                tu.respond(now, stx, r);
                if let Some(d) = digit {
                    tu.metrics
                        .dtmf_info
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    self.leg_b_digit(tu, now, key, d);
                }
                true
            }
            _ => false,
        }
    }

    /// A media event of call `key` (from its relay): DTMF from leg B may accept a PSTN leg.
    pub(crate) fn media_event(
        &mut self,
        tu: &mut Tu,
        now: Instant,
        key: u64,
        ev: ringside_media::MediaEvent,
    ) {
        if let ringside_media::MediaEvent::Dtmf {
            side: Side::B,
            digit,
            ..
        } = ev
        {
            self.leg_b_digit(tu, now, key, digit);
        }
    }

    /// The key of the call with record id `record_id`.
    pub(crate) fn call_key(&self, record_id: &str) -> Option<u64> {
        self.calls
            .iter()
            .find(|(_, c)| c.record.id == record_id)
            .map(|(k, _)| *k)
    }

    /// A trusted PBX call rings the visitor `ch`.
    pub(super) fn browser_rings(&mut self, tu: &mut Tu, now: Instant, key: u64, ch: Channel) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        info!(call = %call.record.id, visitor = %ch.visitor_id, "ringing a visitor's browser");
        let ring = BrowserRing {
            call_id: call.record.id.clone(),
            tenant_id: ch.tenant_id,
            widget_id: ch.widget_id,
            visitor_id: ch.visitor_id,
            from: call.record.from_uri.clone(),
            ringing: true,
            reason: "",
            console: false,
        };
        let reply = call.reply(180, None, &tu.cfg.local);
        tu.out.push_back(CoreOutput::BrowserRing(ring));
        self.reply_caller(tu, now, key, reply);
    }

    /// The visitor accepts a call ringing its browser: its edge session becomes leg B and
    /// the PBX gets its 200 (Ringside's answer, the PBX's first codec we handle, bridged to
    /// the browser's Opus).
    pub(crate) fn accept_ringing(&mut self, tu: &mut Tu, now: Instant, ans: BrowserAnswer) {
        let media_ip = tu.cfg.media_ip;
        let now_ms = tu.now_ms;
        let gone =
            |tu: &mut Tu| tu.browser_signal(ans.session, BrowserSignal::Ended { reason: "gone" });
        let Some(key) = self.call_key(&ans.call_id) else {
            return gone(tu);
        };
        let Some(call) = self.calls.get_mut(&key) else {
            tu.missing_call(key, "browser answer");
            return gone(tu);
        };
        let ok = call.browser_b.as_ref().is_some_and(|b| {
            b.session.is_none()
                && b.target.tenant_id == ans.tenant_id
                && b.target.widget_id == ans.widget_id
                && b.target.visitor_id == ans.visitor_id
        }) && call.phase.is_ringing();
        let offer = call.offer.as_ref().map(|(_, o)| o.clone());
        let port_a = call.media.port(Side::A);
        // A delayed-offer caller gets Ringside's offer (its ACK answers); others its answer.
        let answer = match call.own_offer_for_caller(media_ip) {
            Some(offer) => Some((offer, super::PCMU)),
            None => offer
                .as_deref()
                .and_then(|o| own_answer(o, media_ip, port_a)),
        };
        let (true, Some((sdp, codec))) = (ok, answer) else {
            return gone(tu);
        };
        call.media.set_codec(Side::A, codec);
        answer_with_browser(call, &ans, format!("visitor:{}", ans.visitor_id), now_ms);
        let reply = call.reply(200, Some(sdp), &tu.cfg.local);
        let port_b = call.media.port(Side::B);
        let record = call.record.clone();
        let stopped = ring_stopped(call, "answered");
        if let Some(b) = call.browser_b.as_mut() {
            b.session = Some(ans.session);
        }
        tu.out.extend(stopped);
        tu.out.push_back(CoreOutput::UpdateCall(record.clone()));
        self.reply_caller(tu, now, key, reply);
        tu.browser_signal(
            ans.session,
            BrowserSignal::Media {
                port: port_b,
                call_id: record.id,
            },
        );
        tu.browser_signal(ans.session, BrowserSignal::Answered);
    }

    /// The visitor declines the call `call_id` ringing its browser: the PBX gets 603.
    pub(crate) fn decline(&mut self, tu: &mut Tu, now: Instant, call_id: &str, target: &Channel) {
        let found = self.call_key(call_id);
        if let Some((key, call)) = found.and_then(|k| self.calls.get_mut(&k).map(|c| (k, c))) {
            if !call.phase.is_answered()
                && call
                    .browser_b
                    .as_ref()
                    .is_some_and(|b| b.target == *target && b.session.is_none())
            {
                self.refuse_caller(
                    tu,
                    now,
                    key,
                    603,
                    CallStatus::Missed,
                    EndReason::Declined,
                    HangupSide::Callee,
                );
            }
        }
    }

    /// The browser of `session` holds (`on`) or resumes its answered call: the SIP side
    /// hears hold music meanwhile (the visitor's audio is not forwarded).
    pub(crate) fn browser_hold(&mut self, session: u64, on: bool) {
        let found = self.calls.values().find_map(|c| {
            if c.caller.session() == Some(session) {
                Some((c, Side::B))
            } else if c.browser_b.as_ref().and_then(|b| b.session) == Some(session) {
                Some((c, Side::A))
            } else {
                None
            }
        });
        if let Some((call, other)) = found.filter(|(c, _)| c.phase.is_answered()) {
            info!(call = %call.record.id, on, "visitor hold");
            call.media.hold_music(other, on);
        }
    }

    /// The WebRTC edge measured the round-trip time of session `session`'s browser: kept for
    /// the leg's quality (the relay sees only the loopback hop to the edge).
    pub(crate) fn browser_rtt(&mut self, session: u64, rtt: std::time::Duration) {
        for c in self.calls.values_mut() {
            if c.caller.session() == Some(session) {
                c.browser_rtt[0] = Some(rtt);
            } else if c.browser_b.as_ref().and_then(|b| b.session) == Some(session) {
                c.browser_rtt[1] = Some(rtt);
            }
        }
    }

    /// End the call of browser `session`; `failure` is the end reason when the browser did not
    /// hang up itself.
    pub(crate) fn end_browser_call(
        &mut self,
        tu: &mut Tu,
        now: Instant,
        session: u64,
        failure: Option<EndReason>,
    ) {
        let end = |hung_up: EndReason, who: HangupSide| match failure {
            Some(f) => (f, HangupSide::System),
            None => (hung_up, who),
        };
        if let Some(key) = self
            .calls
            .iter()
            .find(|(_, c)| c.browser_b.as_ref().and_then(|b| b.session) == Some(session))
            .map(|(k, _)| *k)
        {
            // The visitor (leg B of a PBX call) hung up, or its media failed.
            self.bye_side(tu, now, key, Side::A);
            let (reason, side) = end(EndReason::Hangup, HangupSide::Callee);
            return self.end_call(tu, key, CallStatus::Ended, reason, Some(side));
        }
        let Some(key) = self
            .calls
            .iter()
            .find(|(_, c)| c.caller.session() == Some(session))
            .map(|(k, _)| *k)
        else {
            return;
        };
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        match call.phase {
            Phase::Ending(reason) => self.end_call(
                tu,
                key,
                CallStatus::Missed,
                reason,
                Some(HangupSide::System),
            ),
            Phase::Answered { .. } => {
                self.bye_side(tu, now, key, Side::B);
                let (reason, side) = end(EndReason::Hangup, HangupSide::Caller);
                self.end_call(tu, key, CallStatus::Ended, reason, Some(side));
            }
            Phase::Ringing { .. } | Phase::Prompting { .. } => {
                call.set_caller_status(487);
                self.cancel_other_forks(tu, now, key, None);
                let (reason, side) = end(EndReason::Cancelled, HangupSide::Caller);
                self.end_call(tu, key, CallStatus::Missed, reason, Some(side));
            }
        }
    }

    /// Nobody takes the call: play the unavailable message to the visitor, then end the call
    /// as missed with `reason`.
    pub(super) fn browser_unavailable(
        &mut self,
        tu: &mut Tu,
        now: Instant,
        key: u64,
        reason: EndReason,
    ) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        if call.phase.ending().is_some() {
            return;
        }
        let Some(session) = call.caller.session() else {
            // Only a browser caller hears the unavailable message; a SIP caller gets a status.
            return tu.missing_call(key, "unavailable prompt without a browser caller");
        };
        call.phase = Phase::Ending(reason);
        let length = call.media.unavailable(Side::A);
        self.start_timer(now + length, key, CallTimer::PromptDone);
        tu.browser_signal(session, BrowserSignal::Unavailable);
    }

    /// The unavailable message has played: the call ends.
    pub(super) fn browser_prompt_done(&mut self, tu: &mut Tu, key: u64) {
        let Some(call) = self.calls.get(&key) else {
            return;
        };
        let (Some(reason), Some(session)) = (call.phase.ending(), call.caller.session()) else {
            return;
        };
        self.end_call(
            tu,
            key,
            CallStatus::Missed,
            reason,
            Some(HangupSide::System),
        );
        tu.browser_signal(
            session,
            BrowserSignal::Ended {
                reason: reason.as_str(),
            },
        );
    }

    /// An in-dialog request from the SIP side of a call whose other side is a browser (no
    /// SIP dialog to forward it to): answered here. A re-INVITE or UPDATE with SDP is answered with the
    /// callee's codec on Ringside's port; a hold plays hold music to the visitor.
    pub(super) fn browser_in_dialog(
        &mut self,
        tu: &mut Tu,
        now: Instant,
        stx: ServerTxId,
        key: u64,
        req: Request,
        from: Side,
    ) {
        let media_ip = tu.cfg.media_ip;
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let Some((tag, transport)) = call
            .dialog(from)
            .map(|d| (d.local_tag.clone(), d.peer.transport))
        else {
            tu.missing_call(key, "in-dialog request from a browser call's SIP side");
            let r = make_response(&req, 481.into(), None);
            return tu.respond(now, stx, r);
        };
        let other = ringside_media::bridge::other_side(from);
        let mut out = make_response(&req, 200.into(), Some(&tag));
        if matches!(req.method, Method::Invite | Method::Update) {
            out.headers.push(Header::Contact(headers::Contact::new(
                tu.cfg.local.contact(transport),
            )));
        }
        if let Some(sdp) = hdr::sdp_body(&req.headers, &req.body) {
            let port = call.media.port(from);
            let sdp = call.offer_in(from, &sdp).unwrap_or_default();
            match own_answer(&sdp, media_ip, port) {
                Some((answer, codec)) => {
                    let answer = call.answer_out(from, answer);
                    if let Some((_, Some(rtp))) = anchor_sdp(&sdp, media_ip, port) {
                        call.media.announce(from, rtp);
                    }
                    call.media.set_codec(from, codec);
                    let hold = SessionDescription::parse(&sdp).is_ok_and(|d| d.is_hold());
                    call.media.hold_music(other, hold);
                    hdr::set_body(&mut out, Some("application/sdp"), answer.into_bytes());
                }
                None => out = make_response(&req, 488.into(), Some(&tag)),
            }
        }
        tu.respond(now, stx, out);
    }
}

/// A browser leg's codec: Opus on `pt`, with telephone-event on `te` if offered.
fn opus_leg(pt: u8, te: Option<u8>) -> LegCodec {
    let codec = LegCodec::new(CodecKind::Opus, pt);
    match te {
        Some(te) => codec.with_telephone_event(te, 8000),
        None => codec,
    }
}

/// Leg B of `call` is now the browser of `ans` and has answered: its media, the answer in the
/// record (`answered_by`, one callee leg) and the recording if enabled.
pub(super) fn answer_with_browser(
    call: &mut Call,
    ans: &BrowserAnswer,
    answered_by: String,
    now_ms: i64,
) {
    call.media.announce(Side::B, ans.rtp);
    call.media
        .set_codec(Side::B, opus_leg(ans.opus_pt, ans.telephone_event_pt));
    call.phase = Phase::Answered { winner: None };
    let record = &mut call.record;
    record.status = CallStatus::Answered;
    record.answered_at = Some(now_ms);
    record.answered_by = Some(answered_by);
    if let Some(leg) = record.legs.first_mut() {
        leg.answered_at = Some(now_ms);
        leg.final_status = Some(200);
    }
    let idx = record.legs.len();
    record.legs.push(CallLeg {
        id: ringside_storage::new_id(),
        call_id: record.id.clone(),
        idx: idx as i64,
        role: LegRole::Callee,
        sip_call_id: format!("webrtc-{}", ans.session),
        local_tag: String::new(),
        remote_tag: None,
        peer: ans.rtp.to_string(),
        started_at: record.started_at,
        answered_at: Some(now_ms),
        ended_at: None,
        final_status: Some(200),
        quality: None,
    });
    if call.recording {
        let (id, tenant) = (call.record.id.clone(), call.record.tenant_id.clone());
        call.media.start_recording(&id, &tenant, now_ms);
    }
}

/// The "stopped ringing" notice for a call still ringing a visitor's browser.
pub(super) fn ring_stopped(call: &Call, reason: &'static str) -> Option<CoreOutput> {
    let b = call.browser_b.as_ref().filter(|b| b.session.is_none())?;
    Some(CoreOutput::BrowserRing(BrowserRing {
        call_id: call.record.id.clone(),
        tenant_id: b.target.tenant_id.clone(),
        widget_id: b.target.widget_id.clone(),
        visitor_id: b.target.visitor_id.clone(),
        from: call.record.from_uri.clone(),
        ringing: false,
        reason,
        console: false,
    }))
}
