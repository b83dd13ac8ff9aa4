//! The B2BUA: a call is leg A (we are the UAS towards the caller) and one or more forks of leg B
//! (we are the UAC towards each registered contact of the callee, or towards a trunk).
//!
//! ```text
//!  caller ──INVITE──► [A: UAS]  SipCore  [B: UAC] ──INVITE──► callee contact(s)
//!         ◄─180/200── (SDP rewritten to  ◄─180/200─
//!                      our relay ports)
//! ```
//!
//! The first 2xx wins; other forks are cancelled. CANCEL from A is propagated; BYE from either side
//! ends both; in-dialog re-INVITE, UPDATE, INFO and OPTIONS are passed across with SDP rewritten.

use std::net::{IpAddr, SocketAddr};

use rsip::Request;

use rsip::headers::{self, Header, UntypedHeader};

use ringside_domain::{EndReason, SrtpPolicy};
use ringside_sip::dialog::{Dialog, LocalAddr};
use ringside_sip::hdr;
use ringside_sip::message::make_response;
use ringside_sip::sdp::SessionDescription;
use ringside_sip::timer::{Refresher, SessionExpires};
use ringside_sip::transaction::{ClientTxId, Peer, ServerTxId};
use ringside_storage::CallRecord;

use crate::codecs;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Instant;

use crate::media::MediaBridge;
use crate::media::MediaFactory;
use crate::tu::Tu;
use crate::Side;
use ringside_media::LegCodec;

mod attended;
mod browser;
mod caller_transfer;
mod console;
mod dialogs;
mod ending;
mod forks;
mod identity;
mod pickup;
mod reliable;
mod sdes;
mod session;
mod setup;
mod stray;
mod transfer;

pub use crate::output::{BrowserRing, BrowserSignal};
pub use browser::{BrowserAnswer, BrowserCall};
pub(crate) use pickup::pickup_code;
pub(crate) use setup::{trunk_target, LegB, NewInvite};
pub(crate) use transfer::ReferAsk;

/// What a client transaction of a call is for.
#[derive(Debug, Clone)]
pub(crate) enum ClientRole {
    /// The INVITE of fork `n` of leg B.
    Fork(usize),
    /// A request forwarded from `from` (answered on server tx `stx`).
    Forwarded {
        stx: ServerTxId,
        request: Request,
        from: Side,
    },
    /// Our own BYE or CANCEL; the response needs nothing.
    Fire,
    /// Our session refresh (UPDATE) to the caller (A) or the callee (B): a 408 or 481 ends
    /// the call.
    Refresh(Side),
    /// Ringside's own re-INVITE taking `side` off hold (after an attended transfer): its 2xx
    /// is ACKed and its answer taken.
    Resume(Side),
    /// Ringside's own re-INVITE giving the referrer of a failed caller-side transfer its
    /// call back (leg A): its 2xx is ACKed and its answer taken; a refusal ends the call.
    GiveBack,
    /// The INVITE of a fork whose call is gone before the fork got a final response: it must
    /// still be cancelled (once it rings) or, if it answers anyway, ACKed and hung up.
    Orphan {
        invite: Box<Request>,
        cancel_sent: bool,
    },
}

/// Who ends up answering (for outbound trunk auth retries).
#[derive(Debug, Clone)]
pub(crate) struct TrunkAuth {
    username: String,
    password: String,
    tried: bool,
}

/// One fork of leg B.
pub(crate) struct Fork {
    dialog: Dialog,
    invite: Request,
    tx: ClientTxId,
    provisional: bool,
    cancel_pending: bool,
    /// A final response arrived (or the fork failed locally with a timeout).
    finished: bool,
    done: Option<u16>,
    ack: Option<Request>,
    trunk_auth: Option<TrunkAuth>,
    /// Addresses still to fail over to.
    alternates: std::collections::VecDeque<Peer>,
    /// The RSeq of the last reliable provisional PRACKed on this fork.
    last_rseq: Option<u32>,
    leg_idx: usize,
    /// Who this fork rings, for `answered_by` (`extension:1002`, `pstn:+15551234567`).
    label: String,
    /// A PSTN leg of a browser call: answering is not enough, the answerer must press 1
    /// after the accept prompt.
    accept: bool,
    /// We sent BYE on this fork's dialog.
    byed: bool,
    /// Its target's SRTP policy.
    srtp: SrtpPolicy,
    /// The session timer asked of its target (RFC 4028), seconds.
    session_secs: Option<u32>,
    /// A 422 was answered by asking again (once).
    session_retried: bool,
}

impl Fork {
    /// The fork's INVITE again, as a new transaction on its dialog (the next CSeq, a new
    /// branch, to `dialog.peer`) with the same offer: after a challenge, or to the next
    /// address of a trunk. The fork waits for a final response again.
    fn again(&mut self, local: &LocalAddr) -> Option<Request> {
        let sdp = ("application/sdp", self.invite.body.clone());
        let mut invite = self
            .dialog
            .request(local, rsip::Method::Invite, Some(sdp))?;
        reliable::offer(&mut invite);
        session::offer(&mut invite, self.session_secs);
        self.finished = false;
        self.provisional = false;
        Some(invite)
    }
}

/// Leg A: who called.
pub(crate) enum CallerLeg {
    /// A SIP UA (a phone, a PBX or a carrier): we are the UAS of its dialog.
    Sip(SipCaller),
    /// A visitor's browser: leg A is the plain RTP side of WebRTC edge session `session`,
    /// and everything the caller must know leaves as [`BrowserSignal`]s.
    Browser {
        /// The edge session.
        session: u64,
    },
    /// Nobody: the call was placed by Ringside for a transfer from another call's caller
    /// side, and leg A is joined to that call's relay (see [`transfer`]).
    Joined,
}

/// A SIP caller: its dialog, its INVITE and the INVITE's server transaction.
pub(crate) struct SipCaller {
    dialog: Dialog,
    invite: Request,
    stx: ServerTxId,
}

impl SipCaller {
    /// A response to the caller's INVITE with our tag; responses that establish the dialog
    /// (101–299) carry our Contact and the INVITE's Record-Route (RFC 3261 §12.1.1: the
    /// caller's route set, through the proxies that asked to stay on the path).
    fn response(&self, code: u16, local: &LocalAddr) -> rsip::Response {
        let mut out = make_response(&self.invite, code.into(), Some(&self.dialog.local_tag));
        if (101..300).contains(&code) {
            for rr in self.invite.headers.iter() {
                if let Header::RecordRoute(_) = rr {
                    out.headers.push(rr.clone());
                }
            }
            out.headers.push(Header::Contact(headers::Contact::new(
                local.contact(self.dialog.peer.transport),
            )));
        }
        out
    }
}

impl CallerLeg {
    /// The browser's edge session, for a browser caller.
    fn session(&self) -> Option<u64> {
        match self {
            CallerLeg::Browser { session } => Some(*session),
            CallerLeg::Sip(_) | CallerLeg::Joined => None,
        }
    }

    fn sip(&self) -> Option<&SipCaller> {
        match self {
            CallerLeg::Sip(s) => Some(s),
            CallerLeg::Browser { .. } | CallerLeg::Joined => None,
        }
    }

    fn sip_mut(&mut self) -> Option<&mut SipCaller> {
        match self {
            CallerLeg::Sip(s) => Some(s),
            CallerLeg::Browser { .. } | CallerLeg::Joined => None,
        }
    }

    /// The caller's INVITE transaction, for a SIP caller.
    fn stx(&self) -> Option<ServerTxId> {
        self.sip().map(|s| s.stx)
    }
}

/// Where a call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Leg B rings (forks, a visitor's browser, console operators or a queue). With `tone`,
    /// Ringside itself plays ringback or hold music to the caller.
    Ringing { tone: bool },
    /// The PSTN answerer of fork `fork` hears the accept prompt and must press 1; the other
    /// forks ring on.
    Prompting { fork: usize, tone: bool },
    /// Answered: by fork `winner`, or (`None`) by a browser (a visitor or a console operator).
    Answered { winner: Option<usize> },
    /// Nobody took a browser's call: the unavailable message plays to it, then the call ends
    /// with this reason.
    Ending(EndReason),
}

impl Phase {
    /// Leg B may still take the call.
    fn is_ringing(self) -> bool {
        matches!(self, Phase::Ringing { .. } | Phase::Prompting { .. })
    }

    fn is_answered(self) -> bool {
        matches!(self, Phase::Answered { .. })
    }

    fn winner(self) -> Option<usize> {
        match self {
            Phase::Answered { winner } => winner,
            _ => None,
        }
    }

    fn prompting(self) -> Option<usize> {
        match self {
            Phase::Prompting { fork, .. } => Some(fork),
            _ => None,
        }
    }

    fn ending(self) -> Option<EndReason> {
        match self {
            Phase::Ending(reason) => Some(reason),
            _ => None,
        }
    }

    /// Ringside's ringback or hold music plays to the caller.
    fn tone(self) -> bool {
        matches!(
            self,
            Phase::Ringing { tone: true } | Phase::Prompting { tone: true, .. }
        )
    }

    /// Ringside's tone to the caller is started (`true`) or stopped while ringing.
    fn set_tone(&mut self, on: bool) {
        if let Phase::Ringing { tone } | Phase::Prompting { tone, .. } = self {
            *tone = on;
        }
    }

    /// The call rings on after the PSTN answerer at the prompt gave up.
    fn stop_prompting(&mut self) {
        if let Phase::Prompting { tone, .. } = *self {
            *self = Phase::Ringing { tone };
        }
    }
}

/// A call in progress.
pub(crate) struct Call {
    /// Leg A.
    caller: CallerLeg,
    phase: Phase,
    /// A call to a visitor's browser (leg B is its edge session once it accepts), or the
    /// console operator who answered a visitor's call.
    browser_b: Option<browser::BrowserB>,
    /// A visitor's call is offered to the console operators (until someone takes it).
    console_offered: bool,
    /// The round-trip times the WebRTC edge measured on browser legs (A, B): the relay's
    /// leg towards an edge session is loopback, so a browser's RTT comes from the edge.
    browser_rtt: [Option<std::time::Duration>; 2],
    /// Record the call once answered.
    recording: bool,
    /// How long a PSTN answerer has to press 1.
    accept_timeout: std::time::Duration,
    forks: Vec<Fork>,
    media: Box<dyn MediaBridge>,
    record: CallRecord,
    /// The last SDP offer (as received, before anchoring) and the side it came from.
    offer: Option<(Side, String)>,
    /// The answer Ringside gave the caller itself (early media with generated ringback) and
    /// the caller's codec in it: the final answer repeats it.
    early: Option<(String, LegCodec)>,
    /// The caller's INVITE had no SDP (delayed offer): leg B got Ringside's own offer, the
    /// caller's 2xx carries Ringside's offer and its ACK must bring the answer. `Some` until
    /// it has: the offer for the caller once leg B has answered (empty before).
    late_offer: Option<String>,
    /// The caller's provisionals go reliably (its INVITE required 100rel, RFC 3262).
    reliable: Option<reliable::Reliable>,
    /// The caller leg's session timer (RFC 4028), when one was agreed.
    session: Option<SessionTimer>,
    /// A re-INVITE without SDP was forwarded and the other side offered in its 2xx: our ACK
    /// to it must carry the answer the originator's ACK brings. (The side to ACK, the CSeq of
    /// our re-INVITE to it, the CSeq of the originator's.)
    pending_ack: Option<(Side, u32, u32)>,
    /// The last ACK Ringside sent to a re-INVITE's 2xx on each side (A, B): a retransmitted
    /// 2xx (our ACK was lost) gets it again.
    last_ack: [Option<(Request, Peer)>; 2],
    /// SRTP keys of the SIP legs (A, B), see [`sdes`].
    sdes: [sdes::SdesLeg; 2],
    /// The session timer agreed with the answering callee (RFC 4028).
    callee_session: Option<session::CalleeTimer>,
    /// Who leg B is told is calling (kept for the forks of a transfer).
    identity: identity::CallerIdentity,
    /// A blind transfer in progress (leg B's REFER).
    transfer: Option<transfer::Transfer>,
    /// The SRTP keys offered to a transfer's new party: its own, leg B's become them when it
    /// answers (the referrer keeps its keys meanwhile).
    transfer_sdes: Option<sdes::SdesLeg>,
    /// The extension a SIP caller authenticated as (`None`: a trunk or a browser).
    caller_account: Option<String>,
    /// Joined to another call by an attended transfer.
    joined: Option<attended::Joined>,
    /// The SIP caller left before the call was answered (a semi-attended transfer handed
    /// its consultation call over while it rang): nothing is told to it any more.
    caller_detached: bool,
    /// This call rings a transfer target for call `.0`'s caller, who REFERred its callee
    /// (a blind transfer from the caller's side): its outcome is NOTIFYed to that caller.
    referred_by: Option<u64>,
}

/// A session timer agreed with a SIP caller.
#[derive(Clone, Copy)]
pub(crate) struct SessionTimer {
    /// The interval and who refreshes (`uac`: the caller, `uas`: Ringside).
    se: SessionExpires,
    /// The caller supports timers (its 2xx says `Require: timer`).
    supported: bool,
    /// When the armed timer is due (a refresh moves it on; an older timer then firing is
    /// stale).
    due: Option<Instant>,
}

impl SessionTimer {
    /// Adds the session's terms to a message: `Session-Expires`, and `timer` in `tag_in`
    /// (`Require` in our 2xx, `Supported` in our refresh) when the caller supports timers
    /// (our refresh says it always).
    fn announce(&self, headers: &mut rsip::Headers, tag_in: &str) {
        headers.push(Header::Other("Session-Expires".into(), self.se.value()));
        if self.supported || tag_in == "Supported" {
            headers.push(Header::Other(tag_in.into(), "timer".into()));
        }
    }
}

impl Call {
    /// The SIP dialog on `side`: the caller's, or the winning fork's.
    fn dialog(&self, side: Side) -> Option<&Dialog> {
        match side {
            Side::A => self.caller.sip().map(|s| &s.dialog),
            Side::B => {
                let w = self.phase.winner()?;
                self.forks.get(w).map(|f| &f.dialog)
            }
        }
    }

    /// [`Self::dialog`], to send a request on it.
    fn dialog_mut(&mut self, side: Side) -> Option<&mut Dialog> {
        match side {
            Side::A => self.caller.sip_mut().map(|s| &mut s.dialog),
            Side::B => {
                let w = self.phase.winner()?;
                self.forks.get_mut(w).map(|f| &mut f.dialog)
            }
        }
    }

    /// Some fork may still take the call (no final response yet, or at the accept prompt).
    fn waiting_on_forks(&self) -> bool {
        let prompting = self.phase.prompting();
        self.forks
            .iter()
            .enumerate()
            .any(|(i, f)| f.done.is_none() || prompting == Some(i))
    }

    /// The fork whose dialog has our tag `tag` on Call-ID `call_id`.
    /// The fork whose dialog an in-dialog request from leg B is on (our tag in its To).
    fn fork_of_request(&self, req: &Request) -> Option<usize> {
        let (cid, tag) = hdr::call_id(&req.headers).zip(hdr::tag(&req.headers, "To"))?;
        self.fork_by_dialog(cid, tag)
    }

    fn fork_by_dialog(&self, call_id: &str, tag: &str) -> Option<usize> {
        self.forks
            .iter()
            .position(|f| f.dialog.call_id == call_id && f.dialog.local_tag == tag)
    }

    /// The caller's leg ends (or answers) with `code`, as its record shows.
    fn set_caller_status(&mut self, code: u16) {
        if let Some(leg) = self.record.legs.first_mut() {
            leg.final_status = Some(i64::from(code));
        }
    }

    /// An SDP offer from `side`'s SIP peer, plain (see [`sdes`]); refused (488) when the
    /// leg's SRTP policy cannot carry it.
    fn offer_in(&mut self, side: Side, sdp: &str) -> Result<String, sdes::NotAcceptable> {
        self.sdes[side_index(side)].take_offer(sdp)
    }

    /// An SDP answer from `side`'s SIP peer, plain; its keys go to the relay.
    fn answer_in(&mut self, side: Side, sdp: &str) -> Result<String, sdes::NotAcceptable> {
        let before = self.sdes[side_index(side)].state();
        let plain = self.sdes[side_index(side)].take_answer(sdp)?;
        self.sync_srtp(side, before);
        Ok(plain)
    }

    /// Tells the relay `side`'s SRTP keys (or DTLS-SRTP setup) when an answer changed them
    /// (`before`): repeated answers (18x then 200) change nothing and send nothing.
    fn sync_srtp(&self, side: Side, before: sdes::LegKeys) {
        self.sdes[side_index(side)]
            .state()
            .sync(&before, self.media.as_ref(), side);
    }

    /// The offer a delayed-offer caller gets when whoever answers it sends no SDP of its own
    /// (a console operator, a visitor's browser, a PSTN answerer accepted after the prompt):
    /// the callee's codec first where a SIP callee answered, else every codec Ringside can
    /// transcode, on the A port. The leg takes PCMU until the caller's ACK brings its answer.
    /// `None` when the caller made the offer itself.
    fn own_offer_for_caller(&mut self, media_ip: IpAddr) -> Option<String> {
        let pending = self.late_offer.as_ref()?;
        if !pending.is_empty() {
            return Some(pending.clone());
        }
        let (plain, _) = anchor_sdp(LATE_OFFER, media_ip, self.media.port(Side::A))?;
        let offer = extend_offer(plain);
        self.media.set_codec(Side::A, PCMU);
        self.late_offer = Some(offer.clone());
        Some(offer)
    }

    /// The caller's answer `sdp` to Ringside's offer (delayed offer: in its ACK or PRACK)
    /// takes effect on leg A: its address and codec. `None` when it is no usable answer
    /// (nothing Ringside can use, or keys its SRTP policy cannot carry).
    fn take_caller_answer(&mut self, sdp: &str, media_ip: IpAddr) -> Option<LegCodec> {
        let sdp = self.answer_in(Side::A, sdp).ok()?;
        let parsed = SessionDescription::parse(&sdp).ok()?;
        let codec = codecs::answered_codec(&parsed)?;
        let (_, rtp) = anchor_sdp(&sdp, media_ip, self.media.port(Side::A))?;
        if let Some(a) = rtp {
            self.media.announce(Side::A, a);
        }
        self.media.set_codec(Side::A, codec);
        Some(codec)
    }

    /// Ringside answers `side`'s SDP `offer` itself (it is not passed across): the offer's
    /// address and codec take effect on that side's leg of the relay; the answer, keyed for
    /// the leg, is Ringside's own. `None` when the offer holds nothing Ringside can use.
    fn answer_offer_here(&mut self, side: Side, offer: &str, ip: IpAddr) -> Option<String> {
        let port = self.media.port(side);
        let plain = self.offer_in(side, offer).ok()?;
        let remote = anchor_sdp(&plain, ip, port).and_then(|(_, a)| a);
        let (sdp, codec) = own_answer(&plain, ip, port)?;
        if let Some(addr) = remote {
            self.media.announce(side, addr);
        }
        self.media.set_codec(side, codec);
        Some(self.answer_out(side, sdp))
    }

    /// An SDP answer from fork `n` of leg B (under that fork's SRTP policy), plain.
    fn fork_answer_in(&mut self, n: usize, sdp: &str) -> Result<String, sdes::NotAcceptable> {
        if let Some(f) = self.forks.get(n) {
            self.sdes[1].policy = f.srtp;
        }
        self.answer_in(Side::B, sdp)
    }

    /// Ringside's plain offer going to `side`'s SIP peer, keyed as its policy wants.
    fn offer_out(&mut self, side: Side, plain: String) -> String {
        let i = side_index(side);
        // SRTP passthrough: the other peer's key first, where both legs allow it.
        let mirror = self.sdes[1 - i].key_to_pass();
        self.sdes[i].put_offer(plain, mirror)
    }

    /// Ringside's plain answer going to `side`'s SIP peer, keyed as its offer was; the keys
    /// go to the relay.
    fn answer_out(&mut self, side: Side, plain: String) -> String {
        let i = side_index(side);
        let before = self.sdes[i].state();
        // SRTP passthrough: where the other peer was given this leg's key, this leg is given
        // the other peer's.
        let mirror = self.sdes[i]
            .offered_key()
            .and_then(|k| self.sdes[1 - i].key_for_answer(&k));
        let out = self.sdes[i].put_answer(plain, mirror);
        self.sync_srtp(side, before);
        out
    }

    /// What telling the caller `code` (with Ringside's or the callee's anchored `sdp`) means
    /// for its leg: a response on its INVITE transaction, or a browser signal. A SIP caller's
    /// SDP gets its leg's SRTP keys (an offer while its delayed offer waits for an answer).
    fn reply(&mut self, code: u16, sdp: Option<String>, local: &LocalAddr) -> CallerReply {
        if self.caller_detached {
            return CallerReply::Nothing;
        }
        let sdp = match (&self.caller, sdp) {
            (CallerLeg::Sip(_), Some(s)) if self.late_offer.is_some() => {
                Some(self.offer_out(Side::A, s))
            }
            (CallerLeg::Sip(_), Some(s)) => Some(self.answer_out(Side::A, s)),
            (_, sdp) => sdp,
        };
        match &self.caller {
            CallerLeg::Sip(s) => {
                let mut out = s.response(code, local);
                if let (200..=299, Some(st)) = (code, &self.session) {
                    st.announce(&mut out.headers, "Require");
                }
                if let Some(sdp) = sdp {
                    hdr::set_body(&mut out, Some("application/sdp"), sdp.into_bytes());
                }
                CallerReply::Sip(s.stx, Box::new(out))
            }
            CallerLeg::Joined => CallerReply::Nothing,
            CallerLeg::Browser { session } => {
                let signal = match code {
                    180..=183 => BrowserSignal::Ringing,
                    200..=299 => BrowserSignal::Answered,
                    100..=199 => return CallerReply::Nothing,
                    _ => BrowserSignal::Ended { reason: "failed" },
                };
                CallerReply::Browser(*session, signal)
            }
        }
    }
}

/// What the caller is told (see [`Call::reply`]).
pub(crate) enum CallerReply {
    /// A response on the SIP caller's INVITE transaction.
    Sip(ServerTxId, Box<rsip::Response>),
    /// A signal to the browser caller's edge session.
    Browser(u64, BrowserSignal),
    /// A provisional response a browser has no use for.
    Nothing,
}

/// Where leg B goes.
pub(crate) enum Target {
    Contact {
        uri: String,
        peer: Peer,
        /// The registration's Path: the INVITE's Route (RFC 3327).
        route: Vec<String>,
        user: String,
        srtp: SrtpPolicy,
        srtp_passthrough: bool,
        session_secs: Option<u32>,
    },
    Trunk {
        uri: String,
        peer: Peer,
        /// Further addresses of the trunk's host, tried in turn when `peer` times out, cannot
        /// be reached or answers 503 before anything else (RFC 3263 §4.3).
        alternates: Vec<Peer>,
        auth: Option<TrunkAuth>,
        /// The answerer must accept (press 1 after the prompt).
        accept: bool,
        srtp: SrtpPolicy,
        srtp_passthrough: bool,
        session_secs: Option<u32>,
    },
}

impl Target {
    /// The target allows SRTP passthrough (`srtpPassthrough`).
    fn srtp_passthrough(&self) -> bool {
        match self {
            Target::Contact {
                srtp_passthrough, ..
            }
            | Target::Trunk {
                srtp_passthrough, ..
            } => *srtp_passthrough,
        }
    }
}

impl From<crate::routing::Contact> for Target {
    fn from(c: crate::routing::Contact) -> Self {
        Target::Contact {
            uri: c.uri,
            peer: c.peer,
            route: c.route,
            user: c.user,
            srtp: c.srtp,
            srtp_passthrough: c.srtp_passthrough,
            session_secs: c.session_secs,
        }
    }
}

/// Rewrite an SDP body so media flows to `ip:port`; returns it and the peer's announced RTP address.
fn anchor_sdp(body: &str, ip: IpAddr, port: u16) -> Option<(String, Option<SocketAddr>)> {
    let mut sdp = SessionDescription::parse(body).ok()?;
    let remote = sdp
        .first_audio()
        .and_then(|m| m.addr.map(|a| SocketAddr::new(a, m.port)))
        .filter(|a| !a.ip().is_unspecified() && a.port() != 0);
    let n = sdp.media().len();
    sdp.rewrite_connection(ip, &vec![port; n]);
    // Topology hiding: the far side learns nothing of the other phone's origin (nor its
    // address family: an IPv6 phone's origin reaches an IPv4 one as Ringside's address).
    let here = ringside_sip::sdp::Connection::from_ip(ip);
    let origin = sdp.origin_mut();
    origin.username = "ringside".into();
    origin.addr_type = here.addr_type;
    origin.address = here.address;
    for a in [
        "rtcp",
        "candidate",
        "ice-ufrag",
        "ice-pwd",
        "ice-options",
        "end-of-candidates",
    ] {
        sdp.remove_attribute(a);
    }
    Some((sdp.to_string(), remote))
}

/// Index of `side` in per-side arrays (A 0, B 1).
fn side_index(side: Side) -> usize {
    match side {
        Side::A => 0,
        Side::B => 1,
    }
}

/// The caller's dialog as a call record keeps it: SIP Call-ID, Ringside's tag, the caller's
/// tag, and who it is (an address or a URI).
struct CallerDialog {
    sip_call_id: String,
    local_tag: String,
    remote_tag: Option<String>,
    peer: String,
}

/// A new call's record, ringing from `started`, with its caller's leg first and fresh ids.
fn ringing_record(
    tenant_id: String,
    kind: ringside_domain::CallKind,
    (from_uri, to_uri): (String, String),
    started: i64,
    caller: CallerDialog,
) -> CallRecord {
    CallRecord {
        id: format!(
            "call_{}",
            ringside_sip::message::new_call_id().replace(['@', '.'], "")
        ),
        tenant_id,
        kind,
        from_uri,
        to_uri,
        status: ringside_domain::CallStatus::Ringing,
        started_at: started,
        answered_at: None,
        ended_at: None,
        end_reason: None,
        hangup_side: None,
        widget_id: None,
        visitor_id: None,
        answered_by: None,
        node_id: None,
        legs: vec![ringside_storage::CallLeg {
            id: ringside_storage::new_id(),
            call_id: String::new(),
            idx: 0,
            role: ringside_domain::LegRole::Caller,
            sip_call_id: caller.sip_call_id,
            local_tag: caller.local_tag,
            remote_tag: caller.remote_tag,
            peer: caller.peer,
            started_at: started,
            answered_at: None,
            ended_at: None,
            final_status: None,
            quality: None,
        }],
    }
}

/// Plain PCMU (payload type 0, no telephone-event): the codec between two joined relays
/// (attended transfer, pickup), and a leg's until an answer says otherwise.
pub(super) const PCMU: LegCodec = LegCodec {
    kind: ringside_media::codec::frame::CodecKind::Pcmu,
    payload_type: 0,
    telephone_event: None,
    telephone_event_rate: 8000,
};

/// Ringside's own offer standing in for a caller that sent none (RFC 3261 13.2.1 delayed
/// offer): PCMU, PCMA and telephone-event, with no address yet (the caller's answer brings
/// it). Anchored and [`extend_offer`]ed like a caller's offer, it lists every codec Ringside
/// can transcode.
const LATE_OFFER: &str = "v=0\r\no=ringside 1 1 IN IP4 0.0.0.0\r\ns=ringside\r\n\
    c=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 9 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\n\
    a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n\
    a=sendrecv\r\n";

/// Adds the codecs Ringside can transcode to an anchored offer going to the other side.
fn extend_offer(anchored: String) -> String {
    match SessionDescription::parse(&anchored) {
        Ok(mut sdp) => {
            codecs::extend_offer(&mut sdp);
            sdp.to_string()
        }
        Err(_) => anchored,
    }
}

/// An answer from `answerer` (raw SDP) to the call's stored offer: sets both legs' codecs
/// (same codec: passthrough; else transcoding) and returns the answer anchored on `port` and
/// restricted to the offerer's chosen codec, with the answerer's RTP address.
fn answer_sdp(
    call: &mut Call,
    answerer: Side,
    answer: &str,
    ip: IpAddr,
    port: u16,
) -> Option<(String, Option<SocketAddr>)> {
    let (anchored, rtp) = anchor_sdp(answer, ip, port)?;
    let Some((offerer, offer)) = &call.offer else {
        return Some((anchored, rtp));
    };
    if *offerer == answerer {
        return Some((anchored, rtp));
    }
    let offerer = *offerer;
    let (Ok(ans), Ok(off)) = (
        SessionDescription::parse(answer),
        SessionDescription::parse(offer),
    ) else {
        return Some((anchored, rtp));
    };
    let Some(theirs) = codecs::answered_codec(&ans) else {
        return Some((anchored, rtp));
    };
    let Some(ours) = codecs::choose_for_offerer(&off, theirs.kind) else {
        return Some((anchored, rtp));
    };
    call.media.set_codec(answerer, theirs);
    call.media.set_codec(offerer, ours);
    let Ok(mut back) = SessionDescription::parse(&anchored) else {
        return Some((anchored, rtp));
    };
    codecs::restrict_answer(&mut back, &off, &ours);
    Some((back.to_string(), rtp))
}

/// Ringside's own answer to an offer (anchored on `port`, restricted to the offer's
/// preferred supported codec, in the direction an answerer takes: `recvonly` to `sendonly`),
/// for early media it generates itself and offers it answers without passing them across.
fn own_answer(offer: &str, ip: IpAddr, port: u16) -> Option<(String, LegCodec)> {
    let (anchored, _) = anchor_sdp(offer, ip, port)?;
    let off = SessionDescription::parse(offer).ok()?;
    let codec = codecs::preferred(&off)?;
    let mut ans = SessionDescription::parse(&anchored).ok()?;
    codecs::restrict_answer(&mut ans, &off, &codec);
    if let Some(i) = ans
        .media()
        .iter()
        .position(|m| m.media_line().media == "audio")
    {
        let _ = ans.set_direction(i, off.direction(i).reversed());
    }
    Some((ans.to_string(), codec))
}

/// The B2BUA: the calls in progress, how in-flight SIP finds its call, and the calls' timers.
/// [`SipCore`](crate::core::SipCore) owns it and hands it the transaction-user context
/// ([`Tu`]) with each event.
pub(crate) struct B2bua {
    media: Box<dyn MediaFactory>,
    calls: HashMap<u64, Call>,
    next_call: u64,
    /// (Call-ID, our tag) → (call, side).
    by_dialog: HashMap<(String, String), (u64, Side)>,
    /// Our client transactions → (call, what the transaction is for).
    by_ctx: HashMap<ClientTxId, (u64, ClientRole)>,
    /// Where orphaned forks' INVITEs went, by Call-ID (until their transactions end).
    orphan_peers: HashMap<String, Peer>,
    timers: BinaryHeap<Reverse<(Instant, u64, CallTimer)>>,
    /// (second, stray 2xx answered in it).
    stray_window: (i64, u32),
}

impl B2bua {
    /// No calls yet; media for new calls from `media`.
    pub(crate) fn new(media: Box<dyn MediaFactory>) -> Self {
        B2bua {
            media,
            calls: HashMap::new(),
            next_call: 1,
            by_dialog: HashMap::new(),
            by_ctx: HashMap::new(),
            orphan_peers: HashMap::new(),
            timers: BinaryHeap::new(),
            stray_window: (0, 0),
        }
    }

    /// Calls in progress.
    pub(crate) fn len(&self) -> usize {
        self.calls.len()
    }

    /// When the next call timer fires.
    pub(crate) fn next_timer(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, _, _))| *t)
    }

    /// A call timer due at `now`, taken off the heap.
    pub(crate) fn due_timer(&mut self, now: Instant) -> Option<(u64, CallTimer)> {
        let Reverse((at, call, timer)) = *self.timers.peek()?;
        if at > now {
            return None;
        }
        self.timers.pop();
        Some((call, timer))
    }

    /// Arms (or, after a refresh, re-arms) the caller leg's session timer: Ringside's own
    /// refresh when it is the refresher, else the deadline for the caller's.
    fn arm_session(&mut self, now: Instant, key: u64) {
        let Some(st) = self.calls.get(&key).and_then(|c| c.session.as_ref()) else {
            return;
        };
        let (timer, after) = match st.se.refresher {
            Some(Refresher::Uas) => (CallTimer::SessionRefresh, st.se.refresh_after_secs()),
            _ => (CallTimer::SessionExpiry, st.se.expire_after_secs()),
        };
        let at = now + std::time::Duration::from_secs(u64::from(after));
        self.session_due_at(key, at, timer);
    }

    /// The caller leg's session timer is next due at `at` (any earlier one goes stale).
    fn session_due_at(&mut self, key: u64, at: Instant, timer: CallTimer) {
        if let Some(st) = self.calls.get_mut(&key).and_then(|c| c.session.as_mut()) {
            st.due = Some(at);
            self.start_timer(at, key, timer);
        }
    }

    /// The call and side of the dialog whose local tag (ours) is in `tag_of`: `To` of a
    /// request to us, `From` of a response to ours.
    fn dialog_of(&self, headers: &rsip::Headers, tag_of: &str) -> Option<(u64, Side)> {
        let (c, t) = hdr::call_id(headers).zip(hdr::tag(headers, tag_of))?;
        self.by_dialog.get(&(c.to_string(), t.to_string())).copied()
    }

    /// Start `timer` of call `key`, firing at `at`.
    fn start_timer(&mut self, at: Instant, key: u64, timer: CallTimer) {
        self.timers.push(Reverse((at, key, timer)));
    }
}

/// Stray INVITE 2xx responses (no dialog of ours) answered with an ACK and a BYE per second;
/// more are dropped and counted.
pub const STRAY_PER_SEC: u32 = 20;

/// A call's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum CallTimer {
    /// Nobody answered within the ring timeout.
    RingTimeout,
    /// The unavailable prompt to a browser caller has played.
    PromptDone,
    /// The PSTN fork at the accept prompt did not press 1 in time.
    AcceptTimeout(usize),
    /// The caller did not refresh its session in time (RFC 4028).
    SessionExpiry,
    /// Ringside refreshes the caller's session now (it is the refresher).
    SessionRefresh,
    /// A reliable provisional to the caller goes again, or its PRACK is overdue.
    Reliable,
    /// The callee did not refresh its session in time.
    CalleeExpiry,
    /// Ringside refreshes the callee's session now.
    CalleeRefresh,
    /// Nobody answered a transfer in time.
    TransferTimeout,
    /// The referrer of a failed caller-side transfer is re-offered its call again (its
    /// re-INVITE crossed Ringside's: 491).
    GiveBack,
}

impl Tu {
    /// Tell the caller (see `Call::reply`).
    pub(crate) fn reply_caller(&mut self, now: Instant, reply: crate::b2bua::CallerReply) {
        use crate::b2bua::CallerReply;
        match reply {
            CallerReply::Sip(stx, resp) => self.respond(now, stx, *resp),
            CallerReply::Browser(session, signal) => self.browser_signal(session, signal),
            CallerReply::Nothing => {}
        }
    }
}

/// Send BYE on `dialog` of call `key`; its response needs nothing.
fn send_bye(
    tu: &mut Tu,
    by_ctx: &mut HashMap<ClientTxId, (u64, ClientRole)>,
    now: Instant,
    key: u64,
    dialog: &mut Dialog,
) {
    let peer = dialog.peer;
    if let Some(bye) = dialog.request(&tu.cfg.local, rsip::Method::Bye, None) {
        let ctx = tu.send_request(now, bye, peer);
        by_ctx.insert(ctx, (key, ClientRole::Fire));
    }
}

/// Map the failures of all forks to the final response for the caller.
fn final_code(codes: impl Iterator<Item = u16>) -> u16 {
    let codes: Vec<u16> = codes.collect();
    if let Some(c) = codes.iter().find(|c| **c >= 600) {
        return *c;
    }
    for pref in [486, 480, 404, 408, 487] {
        if codes.contains(&pref) {
            return pref;
        }
    }
    match codes.first() {
        Some(c) if (500..600).contains(c) => 502,
        Some(c) => *c,
        None => 480,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_codes_prefer_global_then_busy() {
        assert_eq!(final_code([480, 603].into_iter()), 603);
        assert_eq!(final_code([480, 486].into_iter()), 486);
        assert_eq!(final_code([503].into_iter()), 502);
        assert_eq!(final_code([408].into_iter()), 408);
        assert_eq!(final_code(std::iter::empty()), 480);
    }
}
