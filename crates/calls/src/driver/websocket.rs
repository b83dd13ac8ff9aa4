//! SIP over WebSocket (RFC 7118) and the WebRTC media of the browser softphones that use it.
//!
//! The HTTP listener upgrades a request on the SIP WebSocket path (the binary's handler checks
//! the Origin and the `sip` subprotocol) and hands the connection to [`SipWebSockets::open`]:
//! each WebSocket message is one SIP message, parsed and refused exactly as on TCP, and the
//! connection joins the transport's table under its [`Peer`] (`WS` or `WSS`), so a softphone
//! registered on it is called on it, like a phone registered over TLS (RFC 5923). Ringside
//! never opens a WebSocket: a request to a softphone whose connection is gone fails at once.
//!
//! A browser softphone (SIP.js, JsSIP) offers WebRTC media: ICE, DTLS-SRTP, Opus over
//! `UDP/TLS/RTP/SAVPF`. That offer is answered on the WebRTC edge, as a widget visitor's call
//! is: the edge session terminates ICE and DTLS and is a plain RTP endpoint on loopback. The
//! core is handed the INVITE with that endpoint as a plain `RTP/AVP` Opus offer, so the call is
//! an ordinary SIP call to it (forks, transcoding, recording, transfer); its answer is
//! replaced by the edge's on the way out, and the edge sends the browser's media to the relay
//! port the answer named.
//!
//! A call *to* a softphone goes the other way round: a browser takes no plain RTP, so the
//! core's INVITE leaves without its offer (a late offer, RFC 3261 §13.2.1); the softphone
//! offers WebRTC in its 200 OK, the edge answers it in the ACK, and the core gets the edge
//! session's plain side as the answer to the offer it made.
//!
//! ```text
//!  SIP.js ══WS══► /sip ─► WsLink ─(INVITE, WebRTC SDP → edge.accept → plain SDP)─► core
//!         ◄═════        ◄─(200 OK, plain SDP → the edge's answer; edge → relay port)──┘
//!  browser ══SRTP══► edge ──RTP──► relay leg A ─► leg B (baresip, a trunk, ...)
//! ```

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;

use bytes::Bytes;
use rsip::headers::UntypedHeader;
use rsip::{Method, SipMessage};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use ringside_media::webrtc::{Answer, EdgeSession, WebRtcEdge};
use ringside_sip::message;
use ringside_sip::sdp::{Direction, SessionDescription};
use ringside_sip::transaction::{Peer, TransportKind};
use ringside_sip::transport::is_keepalive;

use super::transport::{forget, ingest, Conns, Inbound, Inlet};

/// What the HTTP listener needs to serve SIP over WebSocket; cheap to clone.
#[derive(Clone)]
pub struct SipWebSockets {
    pub(super) conns: Conns,
    pub(super) inlet: Inlet,
    pub(super) edge: Option<WebRtcEdge>,
    /// Where the relay listens, as seen from the edge's loopback sockets.
    pub(super) relay_ip: IpAddr,
}

impl std::fmt::Debug for SipWebSockets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SipWebSockets").finish_non_exhaustive()
    }
}

impl SipWebSockets {
    /// Softphones' WebRTC offers are answered on `edge`, whose sessions send media to the
    /// relay at `relay_ip`. Without an edge an offer of WebRTC media gets 488.
    pub fn with_edge(mut self, edge: WebRtcEdge, relay_ip: IpAddr) -> SipWebSockets {
        self.edge = Some(edge);
        self.relay_ip = relay_ip;
        self
    }

    /// A WebSocket connection from `addr` (`secure`: over TLS) starts carrying SIP: what
    /// Ringside sends on it comes out of the receiver, already as it goes on the wire.
    pub fn open(&self, addr: SocketAddr, secure: bool) -> (WsLink, mpsc::UnboundedReceiver<Bytes>) {
        let addr = ringside_domain::net::canonical(addr);
        let kind = if secure {
            TransportKind::Wss
        } else {
            TransportKind::Ws
        };
        let peer = Peer::new(addr, kind);
        let (tx, rx) = mpsc::unbounded_channel();
        self.inlet
            .metrics
            .ws_connections
            .fetch_add(1, Ordering::Relaxed);
        super::transport::open_conns(&self.conns).insert(peer, tx.clone());
        let link = WsLink {
            peer,
            writer: tx,
            ws: self.clone(),
            legs: HashMap::new(),
            late: HashMap::new(),
            plain_acks: HashMap::new(),
        };
        (link, rx)
    }
}

/// One SIP WebSocket connection. Dropping it takes the connection out of the transport's
/// table and ends its WebRTC media.
pub struct WsLink {
    peer: Peer,
    writer: mpsc::UnboundedSender<Bytes>,
    ws: SipWebSockets,
    /// The WebRTC media of the calls on this connection, by Call-ID.
    legs: HashMap<String, WebRtcLeg>,
    /// The core's plain offers of calls to the softphone, held back until it makes its own.
    late: HashMap<String, SessionDescription>,
    /// The answers owed in the ACK to softphones that offered plain RTP in their 2xx (a SIP
    /// client on a WebSocket that is not a browser), by Call-ID.
    plain_acks: HashMap<String, String>,
}

/// A call's browser media: the edge session and the answer the browser gets.
struct WebRtcLeg {
    session: EdgeSession,
    relay: Option<SocketAddr>,
    answered: bool,
    /// The edge's answer still to be sent in the ACK (a call Ringside placed to the
    /// softphone: its offer came in the 200 OK).
    ack_sdp: Option<String>,
}

/// Why a message from the softphone is not passed on.
enum Refused {
    /// Answer this instead (488 for media Ringside cannot take).
    Reply(Bytes),
}

impl WsLink {
    /// Where the connection comes from, as the core sees it.
    pub fn peer(&self) -> Peer {
        self.peer
    }

    /// One WebSocket message from the softphone. False when the core is gone (close).
    pub async fn receive(&mut self, data: &[u8]) -> bool {
        if is_keepalive(data) {
            // RFC 5626 §4.4.1: a double-CRLF ping gets a CRLF pong.
            if data == b"\r\n\r\n" {
                let _ = self.writer.send(Bytes::from_static(b"\r\n"));
            }
            return true;
        }
        let inlet = self.ws.inlet.clone();
        let msg = match ingest(data, self.peer, &inlet.metrics) {
            Ok(m) => m,
            Err(reply) => {
                if let Some(r) = reply {
                    let _ = self.writer.send(r);
                }
                return true;
            }
        };
        if let Some(reply) = inlet.refusal(&msg) {
            let _ = self.writer.send(reply);
            return true;
        }
        let msg = match self.inbound(msg).await {
            Ok(m) => m,
            Err(Refused::Reply(r)) => {
                let _ = self.writer.send(r);
                return true;
            }
        };
        inlet
            .tx
            .send(Inbound {
                msg,
                from: self.peer,
            })
            .await
            .is_ok()
    }

    /// A softphone's message on its way to the core: a WebRTC offer (in a request, or in the
    /// answer to an INVITE Ringside sent without one) is answered on the edge and replaced by
    /// the edge session's plain RTP side; a BYE or CANCEL ends the media.
    async fn inbound(&mut self, mut msg: SipMessage) -> Result<SipMessage, Refused> {
        let Some(call_id) = message::call_id(&msg).map(str::to_owned) else {
            return Ok(msg);
        };
        let req = match &mut msg {
            SipMessage::Request(req) => req,
            SipMessage::Response(r) => {
                self.answer_in_response(&call_id, r).await;
                return Ok(msg);
            }
        };
        match req.method {
            Method::Bye | Method::Cancel => {
                self.end(&call_id);
                return Ok(msg);
            }
            Method::Invite | Method::Update if !req.body.is_empty() => {}
            _ => return Ok(msg),
        }
        let Ok(offer) = SessionDescription::from_bytes(&req.body) else {
            return Ok(msg);
        };
        if !is_webrtc(&offer) {
            return Ok(msg);
        }
        let answer = match self.legs.get(&call_id) {
            Some(leg) => leg.session.answer.clone(),
            None => {
                let session = match self.accept(&req.body).await {
                    Ok(s) => s,
                    Err(why) => return Err(refuse(req, why)),
                };
                let answer = session.answer.clone();
                info!(
                    call_id,
                    edge_session = session.id(),
                    "SIP over WebSocket: WebRTC media on the edge"
                );
                self.legs.insert(
                    call_id,
                    WebRtcLeg {
                        session,
                        relay: None,
                        answered: false,
                        ack_sdp: None,
                    },
                );
                answer
            }
        };
        let plain = plain_sdp(&offer, &answer);
        ringside_sip::hdr::set_request_body(req, Some("application/sdp"), plain.into_bytes());
        Ok(msg)
    }

    /// The softphone's answer to an INVITE Ringside sent it without an offer: its 18x or 2xx
    /// carries a WebRTC offer, answered on the edge (the answer goes out in the ACK); the core
    /// gets the edge session's plain side as the answer to the offer it made.
    async fn answer_in_response(&mut self, call_id: &str, r: &mut rsip::Response) {
        let code = r.status_code.code();
        if !matches!(message::cseq(r), Some((_, Method::Invite))) {
            return;
        }
        if code >= 300 {
            self.late.remove(call_id);
            if self.legs.get(call_id).is_some_and(|l| !l.answered) {
                self.legs.remove(call_id);
            }
            return;
        }
        let Some(ours) = self.late.get(call_id) else {
            return;
        };
        if code < 180 || r.body.is_empty() {
            return;
        }
        let Ok(offer) = SessionDescription::from_bytes(&r.body) else {
            return;
        };
        if !is_webrtc(&offer) {
            // Plain RTP offered in the 2xx: the core takes it as the answer to its offer, and
            // the softphone is owed an answer in the ACK — the core's offer, naming the codec
            // the core will send (the softphone's first one it knows).
            if code >= 200 {
                match plain_answer(ours, &offer) {
                    Some(answer) => {
                        self.plain_acks.insert(call_id.to_owned(), answer);
                    }
                    None => warn!(
                        call_id,
                        "SIP over WebSocket: the softphone's offer in its answer cannot be answered (SDES or no known codec)"
                    ),
                }
                self.late.remove(call_id);
            }
            return;
        }
        let relay = ours
            .first_audio()
            .filter(|a| a.port != 0)
            .map(|a| SocketAddr::new(self.ws.relay_ip, a.port));
        if !self.legs.contains_key(call_id) {
            let session = match self.accept(&r.body).await {
                Ok(s) => s,
                Err(why) => {
                    // The core finds no usable answer and ends the call.
                    warn!(
                        call_id,
                        why, "SIP over WebSocket: the softphone's WebRTC offer was not taken"
                    );
                    return;
                }
            };
            if let Some(relay) = relay {
                session.connect_media(relay);
            }
            info!(
                call_id,
                edge_session = session.id(),
                "SIP over WebSocket: WebRTC media on the edge (offer in the answer)"
            );
            let ack_sdp = Some(session.answer.sdp.clone());
            self.legs.insert(
                call_id.to_owned(),
                WebRtcLeg {
                    session,
                    relay,
                    answered: false,
                    ack_sdp,
                },
            );
        }
        let Some(leg) = self.legs.get_mut(call_id) else {
            return;
        };
        if code >= 200 {
            leg.answered = true;
            self.late.remove(call_id);
        }
        let plain = plain_sdp(&offer, &leg.session.answer);
        ringside_sip::hdr::set_body(r, Some("application/sdp"), plain.into_bytes());
    }

    /// The call's browser media is over.
    fn end(&mut self, call_id: &str) {
        self.legs.remove(call_id);
        self.plain_acks.remove(call_id);
        self.late.remove(call_id);
    }

    /// Answer the WebRTC offer `sdp` on the edge (off the async threads).
    async fn accept(&self, sdp: &[u8]) -> Result<EdgeSession, &'static str> {
        let Some(edge) = self.ws.edge.clone() else {
            return Err("WebRTC media is not served here");
        };
        let offer = String::from_utf8_lossy(sdp).into_owned();
        match tokio::task::spawn_blocking(move || edge.accept(&offer)).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => {
                debug!(error = %e, "SIP over WebSocket: WebRTC offer refused");
                Err("the offer has no usable Opus audio")
            }
            Err(_) => Err("WebRTC media is not available"),
        }
    }

    /// A message Ringside sends to the softphone, as it goes on the wire: an initial INVITE
    /// leaves without its plain offer (the softphone makes a WebRTC one in its answer), the
    /// ACK then carries the edge's answer; the core's plain answer to a WebRTC offer becomes
    /// the edge's (and the edge learns the relay port); a BYE, a CANCEL or a failure of the
    /// call's INVITE ends the media.
    pub fn outgoing(&mut self, data: Bytes) -> Bytes {
        if self.legs.is_empty()
            && self.plain_acks.is_empty()
            && !(self.ws.edge.is_some() && data.starts_with(b"INVITE "))
        {
            return data;
        }
        let Ok(mut msg) = message::parse(&data) else {
            return data;
        };
        let Some(call_id) = message::call_id(&msg).map(str::to_owned) else {
            return data;
        };
        match &mut msg {
            SipMessage::Request(r) => match r.method {
                Method::Invite if message::to_tag(r).is_none() && !r.body.is_empty() => {
                    let Ok(ours) = SessionDescription::from_bytes(&r.body) else {
                        return data;
                    };
                    if is_webrtc(&ours) || self.legs.contains_key(&call_id) {
                        return data;
                    }
                    // A browser cannot take plain RTP: it makes the offer instead (late
                    // offer, RFC 3261 §13.2.1), answered in the ACK.
                    self.late.insert(call_id, ours);
                    ringside_sip::hdr::set_request_body(r, None, Vec::new());
                    message::serialize(&msg)
                }
                Method::Ack => {
                    let Some(sdp) = self
                        .legs
                        .get_mut(&call_id)
                        .and_then(|l| l.ack_sdp.take())
                        .or_else(|| self.plain_acks.remove(&call_id))
                    else {
                        return data;
                    };
                    ringside_sip::hdr::set_request_body(
                        r,
                        Some("application/sdp"),
                        sdp.into_bytes(),
                    );
                    message::serialize(&msg)
                }
                Method::Bye | Method::Cancel => {
                    self.end(&call_id);
                    data
                }
                _ => data,
            },
            SipMessage::Response(r) => {
                let Some(leg) = self.legs.get_mut(&call_id) else {
                    return data;
                };
                let code = r.status_code.code();
                let invite = matches!(message::cseq(r), Some((_, Method::Invite | Method::Update)));
                if !invite {
                    return data;
                }
                if code >= 300 {
                    if !leg.answered {
                        self.legs.remove(&call_id);
                    }
                    return data;
                }
                if r.body.is_empty() || code < 180 {
                    return data;
                }
                let Ok(ours) = SessionDescription::from_bytes(&r.body) else {
                    return data;
                };
                let Some(audio) = ours.first_audio() else {
                    return data;
                };
                if code >= 200 {
                    leg.answered = true;
                }
                let relay = SocketAddr::new(self.ws.relay_ip, audio.port);
                if audio.port != 0 && leg.relay != Some(relay) {
                    leg.session.connect_media(relay);
                    leg.relay = Some(relay);
                }
                let sdp = browser_answer(&leg.session.answer.sdp, audio.direction);
                ringside_sip::hdr::set_body(r, Some("application/sdp"), sdp.into_bytes());
                message::serialize(&msg)
            }
        }
    }
}

/// A 488 for `req`, saying why in a Warning.
fn refuse(req: &rsip::Request, why: &str) -> Refused {
    let mut r = message::make_response(req, rsip::StatusCode::NotAcceptableHere, None);
    r.headers
        .push(rsip::Header::Warning(rsip::headers::Warning::new(format!(
            "399 ringside \"{why}\""
        ))));
    Refused::Reply(message::serialize_response(&r))
}

impl Drop for WsLink {
    fn drop(&mut self) {
        forget(&self.ws.conns, &self.peer, &self.writer);
        if !self.legs.is_empty() {
            warn!(peer = %self.peer.addr, calls = self.legs.len(), "SIP WebSocket closed with calls up");
        }
        self.ws
            .inlet
            .metrics
            .ws_connections
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// True when `sdp` offers WebRTC media: audio over DTLS-SRTP (`UDP/TLS/RTP/SAVP(F)`) with a
/// fingerprint.
pub fn is_webrtc(sdp: &SessionDescription) -> bool {
    let fingerprint = sdp.session_attributes().any(|a| a.name == "fingerprint");
    sdp.media().iter().any(|m| {
        m.media_line().media == "audio"
            && m.media_line().proto.starts_with("UDP/TLS/RTP/SAVP")
            && (fingerprint || m.attribute("fingerprint").is_some())
    })
}

/// What the core gets for a softphone's WebRTC `offer` answered by `edge` (as the softphone's
/// offer, or as its answer to a late-offer INVITE): the edge session's plain RTP endpoint on
/// loopback with the negotiated Opus (and telephone-event) payload types, in the direction
/// the softphone offered.
pub fn plain_sdp(offer: &SessionDescription, edge: &Answer) -> String {
    let direction = offer
        .media()
        .iter()
        .position(|m| m.media_line().media == "audio")
        .map_or(Direction::SendRecv, |i| offer.direction(i));
    let (ip, port) = (edge.rtp.ip(), edge.rtp.port());
    let family = if ip.is_ipv6() { "IP6" } else { "IP4" };
    let origin = &offer.origin();
    let mut formats = edge.opus_pt.to_string();
    let mut attrs = format!(
        "a=rtpmap:{pt} opus/48000/2\r\na=fmtp:{pt} minptime=10;useinbandfec=1\r\n",
        pt = edge.opus_pt
    );
    if let Some(te) = edge.telephone_event_pt {
        // The rate the browser and the edge agreed on (Chrome offers 48000 and 8000).
        let rate = SessionDescription::parse(&edge.sdp)
            .ok()
            .and_then(|a| a.first_audio())
            .and_then(|a| a.rtpmap.into_iter().find(|r| r.payload_type == te))
            .map_or(8000, |r| r.clock_rate);
        formats.push_str(&format!(" {te}"));
        attrs.push_str(&format!(
            "a=rtpmap:{te} telephone-event/{rate}\r\na=fmtp:{te} 0-15\r\n"
        ));
    }
    format!(
        "v=0\r\no=- {} {} IN {family} {ip}\r\ns=-\r\nc=IN {family} {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP {formats}\r\n{attrs}a=ptime:20\r\na={}\r\n",
        origin.session_id,
        origin.session_version,
        direction.as_str()
    )
}

/// The answer to a softphone's plain-RTP `offer` (made in its 2xx to a late-offer INVITE):
/// the core's own held-back offer `ours`, naming only the codec the core settles on (the
/// offer's first one Ringside knows, and its telephone-event), in the direction that answers
/// the offer's. `None` when the offer has no codec Ringside knows.
fn plain_answer(ours: &SessionDescription, offer: &SessionDescription) -> Option<String> {
    // Plain RTP only: an SDES offer cannot be answered from the core's (plain) side.
    let audio = offer
        .media()
        .iter()
        .find(|m| m.media_line().media == "audio")?;
    if !audio.media_line().proto.eq_ignore_ascii_case("RTP/AVP")
        || audio.attribute("crypto").is_some()
    {
        return None;
    }
    let chosen = crate::codecs::answered_codec(offer)?;
    let mut answer = ours.clone();
    // The core's offer may carry best-effort SDES keys (an `optional` leg): an answer to a
    // plain offer has none.
    answer.remove_attribute("crypto");
    crate::codecs::restrict_answer(&mut answer, offer, &chosen);
    let i = answer
        .media()
        .iter()
        .position(|m| m.media_line().media == "audio")?;
    let offered = offer
        .first_audio()
        .map_or(Direction::SendRecv, |a| a.direction);
    let _ = answer.set_direction(i, offered.reversed());
    Some(answer.to_string())
}

/// The edge's answer `sdp` with the audio direction the core answered (`ours`: a hold the
/// softphone offered is answered `recvonly`, and so on).
pub fn browser_answer(sdp: &str, ours: Direction) -> String {
    let Ok(mut answer) = SessionDescription::parse(sdp) else {
        return sdp.to_owned();
    };
    if let Some(i) = answer
        .media()
        .iter()
        .position(|m| m.media_line().media == "audio")
    {
        if answer.direction(i) != ours {
            let _ = answer.set_direction(i, ours);
        }
    }
    answer.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME_OFFER: &str = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        a=group:BUNDLE 0\r\na=msid-semantic: WMS\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\nc=IN IP4 0.0.0.0\r\n\
        a=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdef0123456789\r\n\
        a=fingerprint:sha-256 AA:BB:CC\r\na=setup:actpass\r\na=mid:0\r\na=sendonly\r\na=rtcp-mux\r\n\
        a=rtpmap:111 opus/48000/2\r\na=rtpmap:126 telephone-event/8000\r\n";

    fn edge_answer() -> Answer {
        Answer {
            sdp: "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 7882 UDP/TLS/RTP/SAVPF 111 126\r\n\
                  c=IN IP4 127.0.0.1\r\na=setup:passive\r\na=mid:0\r\na=sendrecv\r\na=rtpmap:111 opus/48000/2\r\n\
                  a=rtpmap:126 telephone-event/48000\r\n"
                .into(),
            rtp: "127.0.0.1:40000".parse().unwrap(),
            opus_pt: 111,
            telephone_event_pt: Some(126),
            video: false,
        }
    }

    #[test]
    fn a_webrtc_offer_is_recognised_and_a_plain_one_is_not() {
        assert!(is_webrtc(&SessionDescription::parse(CHROME_OFFER).unwrap()));
        let plain = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
                     m=audio 4000 RTP/AVP 0\r\n";
        assert!(!is_webrtc(&SessionDescription::parse(plain).unwrap()));
        // SDES-SRTP is not WebRTC: no fingerprint.
        let sdes = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
                    m=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\r\n";
        assert!(!is_webrtc(&SessionDescription::parse(sdes).unwrap()));
    }

    #[test]
    fn a_plain_offer_in_a_2xx_is_answered_with_the_cores_offer_narrowed_to_its_codec() {
        let ours = SessionDescription::parse(
            "v=0\r\no=ringside 1 1 IN IP6 ::1\r\ns=ringside\r\nc=IN IP6 ::1\r\nt=0 0\r\n\
             m=audio 30000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n\
             a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n\
             a=sendrecv\r\n",
        )
        .unwrap();
        let offer = SessionDescription::parse(
            "v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\n\
             m=audio 4000 RTP/AVP 8 96\r\na=rtpmap:8 PCMA/8000\r\n\
             a=rtpmap:96 telephone-event/8000\r\na=sendonly\r\n",
        )
        .unwrap();
        let answer = SessionDescription::parse(&plain_answer(&ours, &offer).unwrap()).unwrap();
        let audio = answer.first_audio().unwrap();
        assert_eq!(audio.payload_types, vec![8, 96], "{answer}");
        assert_eq!(audio.port, 30000, "the relay's port");
        assert_eq!(audio.addr, Some("::1".parse().unwrap()));
        assert_eq!(audio.direction, Direction::RecvOnly, "answers sendonly");
        assert!(
            !answer.to_string().contains("a=crypto"),
            "no keys in an answer to a plain offer: {answer}"
        );
        // An SDES offer cannot be answered from the core's plain side.
        let sdes = SessionDescription::parse(
            "v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\n\
             m=audio 4000 RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\n\
             a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n",
        )
        .unwrap();
        assert_eq!(plain_answer(&ours, &sdes), None);
        // An offer of nothing Ringside knows gets no answer.
        let unknown = SessionDescription::parse(
            "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
             m=audio 4000 RTP/AVP 97\r\na=rtpmap:97 X-UNKNOWN/8000\r\n",
        )
        .unwrap();
        assert_eq!(plain_answer(&ours, &unknown), None);
    }

    #[test]
    fn the_core_gets_the_edge_sessions_plain_endpoint_with_the_offered_direction() {
        let offer = SessionDescription::parse(CHROME_OFFER).unwrap();
        let plain = SessionDescription::parse(&plain_sdp(&offer, &edge_answer())).unwrap();
        let audio = plain.first_audio().unwrap();
        assert_eq!(audio.addr, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(audio.port, 40000);
        assert_eq!(audio.payload_types, vec![111, 126]);
        assert_eq!(audio.direction, Direction::SendOnly);
        assert_eq!(plain.media()[0].media_line().proto, "RTP/AVP");
        assert!(!is_webrtc(&plain));
        let names: Vec<_> = audio.rtpmap.iter().map(|r| r.encoding.as_str()).collect();
        assert_eq!(names, ["opus", "telephone-event"]);
        // telephone-event at the rate the edge agreed with the browser.
        assert_eq!(audio.rtpmap[1].clock_rate, 48000);
    }

    #[test]
    fn the_browser_gets_the_edges_answer_in_the_direction_the_core_chose() {
        let sdp = browser_answer(&edge_answer().sdp, Direction::RecvOnly);
        let parsed = SessionDescription::parse(&sdp).unwrap();
        assert_eq!(parsed.direction(0), Direction::RecvOnly);
        assert!(sdp.contains("a=setup:passive"));
        assert_eq!(sdp.matches("recvonly").count(), 1);
        assert!(!sdp.contains("sendrecv"));
    }
}
