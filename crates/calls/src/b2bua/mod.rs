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

use ringside_sip::dialog::Dialog;
use ringside_sip::sdp::SessionDescription;
use ringside_sip::transaction::{ClientTxId, Peer, ServerTxId};
use ringside_storage::CallRecord;

use crate::codecs;
use crate::core::SipCore;
use crate::media::MediaBridge;
use crate::Side;
use ringside_media::LegCodec;

mod browser;
mod console;
mod dialogs;
mod forks;
mod setup;

pub use browser::{BrowserAnswer, BrowserCall, BrowserRing, BrowserSignal};

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
    /// The INVITE of a fork whose call is gone before the fork got a final response: it must
    /// still be cancelled (once it rings) or, if it answers anyway, ACKed and hung up.
    Orphan {
        invite: Box<Request>,
        cancel_sent: bool,
    },
}

/// Who ends up answering (for outbound trunk auth retries).
#[derive(Debug, Clone)]
struct TrunkAuth {
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
    leg_idx: usize,
    /// Who this fork rings, for `answered_by` (`extension:1002`, `pstn:+15551234567`).
    label: String,
    /// A PSTN leg of a browser call: answering is not enough, the answerer must press 1
    /// after the accept prompt.
    accept: bool,
    /// We sent BYE on this fork's dialog.
    byed: bool,
}

/// A call in progress.
pub(crate) struct Call {
    a: Dialog,
    a_invite: Request,
    /// The caller's INVITE transaction; `None` for a browser caller.
    a_stx: Option<ServerTxId>,
    /// The WebRTC edge session of a browser caller (leg A is then its plain RTP side).
    browser: Option<u64>,
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
    /// The unavailable prompt is playing to a browser caller; the call then ends with this
    /// reason.
    ending: Option<ringside_domain::EndReason>,
    /// The PSTN fork hearing the accept prompt (leg B's media is its, until it accepts or
    /// gives up).
    prompting: Option<usize>,
    /// How long a PSTN answerer has to press 1.
    accept_timeout: std::time::Duration,
    forks: Vec<Fork>,
    winner: Option<usize>,
    media: Box<dyn MediaBridge>,
    record: CallRecord,
    answered: bool,
    /// The last SDP offer (as received, before anchoring) and the side it came from.
    offer: Option<(Side, String)>,
    /// The answer Ringside gave the caller itself (early media with generated ringback) and
    /// the caller's codec in it: the final answer repeats it.
    early: Option<(String, LegCodec)>,
    /// Generated ringback is playing to the caller.
    ringing: bool,
}

impl Call {
    fn b(&self) -> Option<&Dialog> {
        self.winner.map(|w| &self.forks[w].dialog)
    }

    /// Some fork may still take the call (no final response yet, or at the accept prompt).
    fn waiting_on_forks(&self) -> bool {
        self.forks
            .iter()
            .enumerate()
            .any(|(i, f)| f.done.is_none() || self.prompting == Some(i))
    }

    /// The fork whose dialog has our tag `tag` on Call-ID `call_id`.
    fn fork_by_dialog(&self, call_id: &str, tag: &str) -> Option<usize> {
        self.forks
            .iter()
            .position(|f| f.dialog.call_id == call_id && f.dialog.local_tag == tag)
    }

    /// Where responses for the caller go.
    fn caller(&self) -> Caller {
        match (self.browser, self.a_stx) {
            (Some(session), _) => Caller::Browser(session),
            (None, Some(stx)) => Caller::Sip(stx),
            (None, None) => Caller::Browser(0),
        }
    }
}

/// The caller of a call: a SIP UA (its INVITE server transaction) or a browser (its edge
/// session).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Caller {
    Sip(ServerTxId),
    Browser(u64),
}

/// Where leg B goes.
enum Target {
    Contact {
        uri: String,
        peer: Peer,
        user: String,
    },
    Trunk {
        uri: String,
        peer: Peer,
        auth: Option<TrunkAuth>,
        /// The answerer must accept (press 1 after the prompt).
        accept: bool,
    },
}

impl From<crate::routing::Contact> for Target {
    fn from(c: crate::routing::Contact) -> Self {
        Target::Contact {
            uri: c.uri,
            peer: c.peer,
            user: c.user,
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
    // Topology hiding: the far side learns nothing of the other phone's origin.
    sdp.origin_mut().username = "ringside".into();
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

/// Ringside's own answer to the caller's offer (anchored on `port`, restricted to the offer's
/// preferred supported codec), for early media it generates itself.
fn own_answer(offer: &str, ip: IpAddr, port: u16) -> Option<(String, LegCodec)> {
    let (anchored, _) = anchor_sdp(offer, ip, port)?;
    let off = SessionDescription::parse(offer).ok()?;
    let codec = codecs::preferred(&off)?;
    let mut ans = SessionDescription::parse(&anchored).ok()?;
    codecs::restrict_answer(&mut ans, &off, &codec);
    Some((ans.to_string(), codec))
}

fn now_record_ms(core: &SipCore) -> i64 {
    core.now_ms
}

impl SipCore {
    /// An event whose call is gone (`during` says which): logged and counted, and the caller
    /// drops the event. A logic error here must not take signalling down for every call.
    pub(crate) fn missing_call(&self, key: u64, during: &'static str) {
        self.metrics
            .missing_calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::error!(call_key = key, during, "call not found; event dropped");
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
