//! A new INVITE: who calls, where to, media anchoring, and forking leg B.

use std::time::Instant;

use rsip::{Method, Request};
use tracing::{info, info_span, warn};

use ringside_domain::channels::Channel;
use ringside_domain::{CallKind, CallStatus, EndReason, HangupSide, LegRole, SrtpPolicy};
use ringside_sip::dialog::Dialog;
use ringside_sip::hdr;
use ringside_sip::message::make_response;
use ringside_sip::transaction::{Peer, ServerTxId, TransportKind};
use ringside_storage::{CallLeg, CallRecord};

use super::identity::{Asserted, CallerIdentity};
use super::B2bua;
use super::CallTimer;
use crate::output::CoreOutput;
use crate::tu::Tu;

use super::{
    anchor_sdp, extend_offer, Call, CallerLeg, ClientRole, Fork, Phase, SipCaller, Target,
    TrunkAuth,
};
use crate::Side;

impl B2bua {
    /// A call to an extension with no registered phone is refused (480) and kept in the call
    /// history as missed because no one was available (`end_reason` `unavailable`), which is
    /// what `call.unavailable` reports.
    pub(crate) fn record_unavailable(
        &mut self,
        tu: &mut Tu,
        req: &Request,
        from: Peer,
        tenant_id: &str,
        tag: &str,
    ) {
        let now = tu.now_ms;
        let from_v = hdr::header_value(&req.headers, "From").unwrap_or_default();
        let caller = super::CallerDialog {
            sip_call_id: hdr::call_id(&req.headers).unwrap_or_default().to_string(),
            local_tag: tag.to_owned(),
            remote_tag: hdr::tag(&req.headers, "From").map(str::to_string),
            peer: from.addr.to_string(),
        };
        let uris = (hdr::uri_part(from_v).to_string(), req.uri.to_string());
        let mut record = CallRecord {
            status: CallStatus::Missed,
            ended_at: Some(now),
            end_reason: Some(EndReason::Unavailable),
            hangup_side: Some(HangupSide::System),
            ..super::ringing_record(tenant_id.to_owned(), CallKind::Sip, uris, now, caller)
        };
        record.legs[0].ended_at = Some(now);
        record.legs[0].final_status = Some(480);
        tu.out.push_back(CoreOutput::InsertCall(record));
    }

    /// A SIP call admitted and routed (see `SipCore::on_new_invite`): anchor its media, fork
    /// leg B, and answer the caller as the call goes. `tag` is our To tag for the caller.
    pub(crate) fn start_sip_call(
        &mut self,
        tu: &mut Tu,
        now: Instant,
        invite: NewInvite,
        tenant_id: String,
        dest: String,
        legs: LegB,
    ) {
        let NewInvite {
            stx,
            req,
            from,
            tag,
            srtp,
            srtp_passthrough,
            account,
            session_secs,
        } = invite;
        let LegB {
            targets,
            browser: to_browser,
            queue,
            pickup,
        } = legs;
        let reply = |tu: &mut Tu, code: u16| {
            let r = make_response(&req, code.into(), Some(&tag));
            tu.respond(now, stx, r);
        };
        // 2. Session timer (RFC 4028): an interval below ours is refused with 422; the
        //    caller's account may ask for its own.
        let session = match ringside_sip::timer::negotiate_uas_for(
            &req.headers,
            ringside_sip::hdr::allows(&req.headers, "UPDATE"),
            session_secs,
        ) {
            Ok(se) => se.map(|se| super::SessionTimer {
                se,
                supported: ringside_sip::timer::supports_timer(&req.headers),
                due: None,
            }),
            Err(min) => {
                let mut r = make_response(&req, 422.into(), Some(&tag));
                r.headers
                    .push(rsip::Header::Other("Min-SE".into(), min.to_string()));
                return tu.respond(now, stx, r);
            }
        };
        // 3. Media: anchor the offer on a relay. An INVITE without SDP (delayed offer) rings
        //    leg B with Ringside's own offer; the caller gets an offer in the 2xx and answers
        //    in its ACK (a queue call hears ringing, not hold music, until it is answered: an
        //    offer cannot go in an unreliable provisional).
        let late_offer = !req.body.iter().any(|b| !b.is_ascii_whitespace());
        // 4. Provisionals go reliably when the caller requires it (RFC 3262).
        let reliable = super::reliable::required(&req.headers).then(super::reliable::Reliable::new);
        let mut sdes_a = super::sdes::SdesLeg::new(srtp);
        sdes_a.passthrough = srtp_passthrough;
        let offer = match hdr::sdp_body(&req.headers, &req.body) {
            // SRTP keys the caller's policy cannot carry (or none where it requires them).
            Some(o) => match sdes_a.take_offer(&o) {
                Ok(plain) => plain,
                Err(_) => return reply(tu, 488),
            },
            None if late_offer => super::LATE_OFFER.to_string(),
            None => return reply(tu, 488),
        };
        let call_key = self.next_call;
        self.next_call += 1;
        let media = match self.media.create(&tenant_id, call_key) {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, "cannot allocate media");
                return reply(tu, 503);
            }
        };
        let Some((b_sdp, a_rtp)) = anchor_sdp(&offer, tu.cfg.media_ip, media.port(Side::B)) else {
            return reply(tu, 488);
        };
        if let Some(a) = a_rtp {
            media.announce(Side::A, a);
        }
        if srtp.requires_srtp() {
            // Nothing unencrypted from the caller before its keys are in the answer.
            media.expect_srtp(Side::A);
        }
        let b_sdp = extend_offer(b_sdp);

        // 4. Leg A dialog.
        let a = Dialog::uas(&req, &tag, from);
        let a_call_id = a.call_id.clone();
        let from_v = hdr::header_value(&req.headers, "From").unwrap_or_default();
        let how = match &account {
            Some((user, name)) => Asserted::Extension(user, name),
            None => Asserted::Trunk,
        };
        let identity = CallerIdentity::of(&req, how, &tu.cfg.local.host);
        let started = tu.now_ms;
        let caller = super::CallerDialog {
            sip_call_id: a_call_id.clone(),
            local_tag: tag.clone(),
            remote_tag: a.remote_tag.clone(),
            peer: from.addr.to_string(),
        };
        let uris = (hdr::uri_part(from_v).to_string(), req.uri.to_string());
        let mut record = super::ringing_record(tenant_id, CallKind::Sip, uris, started, caller);

        // 5. Fork leg B to every target.
        let mut sdes_b = super::sdes::SdesLeg::default();
        // SRTP passthrough: the caller's key is offered on, where every target allows it.
        sdes_b.passthrough = !targets.is_empty() && targets.iter().all(Target::srtp_passthrough);
        let mirror = sdes_a.key_to_pass();
        let forks = self.fork_targets(
            tu,
            now,
            call_key,
            targets,
            (&b_sdp, &mut sdes_b, mirror),
            &identity,
            &dest,
            &mut record,
            0,
        );
        super::sdes::expect_keys(&*media, &forks);
        if forks.is_empty() && to_browser.is_none() && queue.is_none() && pickup.is_none() {
            return reply(tu, 500);
        }
        if let Some(w) = &queue {
            record.widget_id = Some(w.clone());
            record.status = CallStatus::Waiting;
        }
        if let Some(ch) = &to_browser {
            record.widget_id = Some(ch.widget_id.clone());
            record.visitor_id = Some(ch.visitor_id.clone());
        }
        let rid = record.id.clone();
        for l in &mut record.legs {
            l.call_id = rid.clone();
        }
        info_span!("call", call_id = %a_call_id, record = %rid).in_scope(|| {
            info!(from = %record.from_uri, to = %record.to_uri, forks = forks.len(), "call started")
        });
        tu.out.push_back(CoreOutput::InsertCall(record.clone()));
        self.by_dialog.insert((a_call_id, tag), (call_key, Side::A));
        self.calls.insert(
            call_key,
            Call {
                caller: CallerLeg::Sip(SipCaller {
                    dialog: a,
                    invite: req,
                    stx,
                }),
                phase: Phase::Ringing { tone: false },
                browser_b: to_browser.as_ref().map(super::browser::BrowserB::ringing),
                console_offered: false,
                browser_rtt: [None; 2],
                recording: tu.cfg.record_calls,
                accept_timeout: std::time::Duration::ZERO,
                forks,
                media,
                record,
                offer: Some((Side::A, offer)),
                early: None,
                late_offer: late_offer.then(String::new),
                reliable,
                session,
                pending_ack: None,
                last_ack: [None, None],
                sdes: [sdes_a, sdes_b],
                callee_session: None,
                identity,
                transfer: None,
                transfer_sdes: None,
                caller_account: account.as_ref().map(|(user, _)| user.clone()),
                joined: None,
                caller_detached: false,
                referred_by: None,
            },
        );
        tu.metrics
            .calls_total
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.start_timer(now + tu.cfg.ring_timeout, call_key, CallTimer::RingTimeout);
        if let Some(ch) = to_browser {
            self.browser_rings(tu, now, call_key, ch);
        }
        if let Some(widget) = queue {
            self.queue_waits(tu, now, call_key);
            self.offer_to_console(tu, call_key, widget);
        }
        if let Some(ringing) = pickup {
            self.pick_up(tu, now, call_key, ringing);
        }
    }

    /// A queue call waits: Ringside answers it early (183 with its own SDP) and plays hold
    /// music until an extension answers (the final answer repeats the early SDP).
    fn queue_waits(&mut self, tu: &mut Tu, now: Instant, key: u64) {
        let media_ip = tu.cfg.media_ip;
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        if call.late_offer.is_some() {
            if call.reliable.is_none() {
                // A delayed offer: Ringside's offer waits for the 2xx (an offer cannot ride
                // an unreliable provisional); meanwhile it rings.
                let reply = call.reply(180, None, &tu.cfg.local);
                return self.reply_caller(tu, now, key, reply);
            }
            // The caller takes reliable provisionals: Ringside's offer goes in a reliable
            // 183, the PRACK answers it, and hold music plays from then on.
            let offer = call.own_offer_for_caller(media_ip);
            call.media.hold_music(Side::A, true);
            call.phase.set_tone(true);
            let reply = call.reply(183, offer, &tu.cfg.local);
            return self.reply_caller(tu, now, key, reply);
        }
        let port = call.media.port(Side::A);
        let Some((sdp, codec)) = call
            .offer
            .as_ref()
            .and_then(|(_, o)| super::own_answer(o, media_ip, port))
        else {
            return;
        };
        call.media.set_codec(Side::A, codec);
        call.media.hold_music(Side::A, true);
        // Ends like generated ringback when someone answers.
        call.phase.set_tone(true);
        let reply = call.reply(183, Some(sdp.clone()), &tu.cfg.local);
        call.early = Some((sdp, codec));
        self.reply_caller(tu, now, key, reply);
    }
}

/// The leg B target for dialling `dest` through trunk `t`: its first address, the others to
/// fail over to (`None` when its host has no address, or none yet).
pub(crate) fn trunk_target(
    t: &crate::directory::TrunkEntry,
    dest: &str,
    accept: bool,
) -> Option<Target> {
    let host = t.trunk.outbound_host.as_deref()?;
    let Some(((first, first_transport), _)) = t.targets.split_first() else {
        warn!(%host, "outbound trunk host has no address (it does not resolve, or not yet)");
        return None;
    };
    let auth = match (&t.trunk.outbound_username, &t.trunk.outbound_password) {
        (Some(u), Some(p)) => Some(TrunkAuth {
            username: u.clone(),
            password: p.clone(),
            tried: false,
        }),
        _ => None,
    };
    // The Request-URI names the trunk's host (the domain a TLS certificate is checked
    // against, RFC 5922), with the port only where one was configured or no DNS was used.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let name = if bare.parse::<std::net::Ipv6Addr>().is_ok() {
        format!("[{bare}]")
    } else {
        host.to_owned()
    };
    let hostport = match (
        t.trunk.outbound_port,
        bare.parse::<std::net::IpAddr>().is_ok(),
    ) {
        (Some(p), _) => format!("{name}:{p}"),
        (None, true) => format!("{name}:{}", first.port()),
        (None, false) => name,
    };
    let tp = match first_transport {
        TransportKind::Udp => String::new(),
        t => format!(";transport={}", t.name()),
    };
    let peer = |(addr, transport): &(std::net::SocketAddr, TransportKind)| Peer {
        addr: *addr,
        transport: *transport,
        tls_profile: if *transport == TransportKind::Tls {
            t.tls_profile()
        } else {
            0
        },
    };
    Some(Target::Trunk {
        uri: format!("sip:{dest}@{hostport}{tp}"),
        peer: peer(&t.targets[0]),
        alternates: t.targets[1..].iter().map(peer).collect(),
        auth,
        accept,
        srtp: SrtpPolicy::from_stored(t.trunk.srtp.as_deref()),
        srtp_passthrough: t.trunk.srtp_passthrough,
        session_secs: t.trunk.session_timer_secs,
    })
}

/// A new INVITE the core admitted: its server transaction, the request, where it came from,
/// and our To tag for the caller.
pub(crate) struct NewInvite {
    pub(crate) stx: ServerTxId,
    pub(crate) req: Request,
    pub(crate) from: Peer,
    pub(crate) tag: String,
    /// The caller's SRTP policy (its extension's or trunk's).
    pub(crate) srtp: SrtpPolicy,
    /// The caller's extension or trunk allows SRTP passthrough.
    pub(crate) srtp_passthrough: bool,
    /// The extension the caller authenticated as, and its display name (`None`: a trunk).
    pub(crate) account: Option<(String, String)>,
    /// The session timer the caller's account asks for (`sessionTimerSecs`).
    pub(crate) session_secs: Option<u32>,
}

/// Where routing sends a SIP call's leg B.
pub(crate) struct LegB {
    /// Phones and trunks to fork to.
    pub(crate) targets: Vec<Target>,
    /// A visitor's browser (a trusted PBX dialled its channel number).
    pub(crate) browser: Option<Channel>,
    /// The widget whose queue the call waits in (hold music, console operators).
    pub(crate) queue: Option<String>,
    /// A pickup code: the ringing call this call takes (see [`super::pickup`]).
    pub(crate) pickup: Option<u64>,
}

impl B2bua {
    /// Send the INVITE of leg B to every target (fork), adding a callee leg per fork to
    /// `record`; `dest` is the dialled number (the To user for trunk targets).
    pub(super) fn fork_targets(
        &mut self,
        tu: &mut Tu,
        now: Instant,
        call_key: u64,
        targets: Vec<Target>,
        (b_sdp, sdes_b, mirror): (
            &str,
            &mut super::sdes::SdesLeg,
            Option<super::sdes::PeerKey>,
        ),
        from: &CallerIdentity,
        dest: &str,
        record: &mut CallRecord,
        base: usize,
    ) -> Vec<Fork> {
        let started = record.started_at;
        let mut forks = Vec::new();
        for target in targets {
            let trusted = matches!(target, Target::Trunk { .. });
            let mut preloaded = Vec::new();
            let (uri, peer, to_user, (trunk_auth, alternates), label, (accept, srtp, secs)) =
                match target {
                    Target::Contact {
                        uri,
                        peer,
                        route,
                        user,
                        srtp,
                        session_secs,
                        ..
                    } => {
                        let label = format!("extension:{user}");
                        let how = (false, srtp, session_secs);
                        preloaded = route;
                        (uri, peer, user, (None, Vec::new()), label, how)
                    }
                    Target::Trunk {
                        uri,
                        peer,
                        alternates,
                        auth,
                        accept,
                        srtp,
                        session_secs,
                        ..
                    } => {
                        let number = hdr::uri_user(&uri).unwrap_or(dest).to_string();
                        let label = format!("pstn:{number}");
                        let how = (accept, srtp, session_secs);
                        (uri, peer, number, (auth, alternates), label, how)
                    }
                };
            // Each fork's offer carries keys as its target's policy wants (the same keys for
            // every fork: only one answers).
            sdes_b.policy = srtp;
            let offer = sdes_b.put_offer(b_sdp.to_owned(), mirror.clone());
            let mut dialog = Dialog::uac(
                from.leg_b_from(&tu.cfg.local.host),
                format!("<sip:{to_user}@{}>", tu.cfg.local.host),
                uri,
                peer,
            );
            // A phone registered through an edge proxy is reached through it: the Path
            // is the INVITE's route set until the answer's Record-Route replaces it.
            dialog.route_set = preloaded;
            let Some(mut invite) = dialog.request(
                &tu.cfg.local,
                Method::Invite,
                Some(("application/sdp", offer.into_bytes())),
            ) else {
                continue;
            };
            super::reliable::offer(&mut invite);
            super::session::offer(&mut invite, secs);
            from.add_to(&mut invite, trusted);
            let ctx = tu.send_request(now, invite.clone(), peer);
            self.by_ctx
                .insert(ctx, (call_key, ClientRole::Fork(base + forks.len())));
            let leg_idx = record.legs.len();
            record.legs.push(CallLeg {
                id: ringside_storage::new_id(),
                call_id: String::new(),
                idx: leg_idx as i64,
                role: LegRole::Callee,
                sip_call_id: dialog.call_id.clone(),
                local_tag: dialog.local_tag.clone(),
                remote_tag: None,
                peer: peer.addr.to_string(),
                started_at: started,
                answered_at: None,
                ended_at: None,
                final_status: None,
                quality: None,
            });
            self.by_dialog.insert(
                (dialog.call_id.clone(), dialog.local_tag.clone()),
                (call_key, Side::B),
            );
            forks.push(Fork {
                dialog,
                invite,
                tx: ctx,
                provisional: false,
                cancel_pending: false,
                finished: false,
                done: None,
                ack: None,
                trunk_auth,
                alternates: alternates.into(),
                last_rseq: None,
                leg_idx,
                label,
                accept,
                byed: false,
                srtp,
                session_secs: secs,
                session_retried: false,
            });
        }
        forks
    }
}
