//! The WebRTC edge: browsers' calls terminated on one UDP port (ICE mux).
//!
//! Each browser call is one [`rtc`] peer connection (sans-IO: ICE-lite, DTLS-SRTP, RTCP with
//! NACK/reports/TWCC interceptors, Opus). All of them share one UDP socket; [`demux::Demux`]
//! finds the session of a datagram from the STUN `USERNAME` (each session has its own ufrag),
//! then by the browser's address. One thread (the edge driver) owns that socket, a `mio` poll
//! and the timers of every peer connection.
//!
//! Towards the rest of the media core a session is a plain RTP endpoint: it has one loopback
//! UDP socket, sends the browser's decrypted RTP from it to the call's relay leg, and encrypts
//! what the relay sends back into the browser's SRTP stream. The relay then treats a browser
//! exactly like a SIP phone speaking Opus (passthrough or transcoding, players, recording,
//! DTMF), at the cost of one loopback hop per packet.
//!
//! ```text
//!  browser ══SRTP══► edge :port (shared) ──RTP──► relay leg A ─► leg B (SIP phone, PSTN)
//!          ◄═══════  session loopback socket ◄────
//! ```

pub mod client;
pub mod demux;
mod driver;
pub mod rtt;
mod tap;
pub mod video;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use rand::Rng;
use rtc::interceptor::{Registry, Slot};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::configure_rtcp_reports;
use rtc::peer_connection::configuration::media_engine::{
    MediaEngine as RtcMediaEngine, MIME_TYPE_OPUS, MIME_TYPE_TELEPHONE_EVENT,
};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::transport::RTCDtlsRole;

/// No consent check for this long: ICE `Disconnected` (the call goes on).
pub const ICE_DISCONNECTED_AFTER: Duration = Duration::from_secs(15);
/// `Disconnected` for this much longer: `Failed`, the browser leg ends (30 s in all).
pub const ICE_FAILED_AFTER: Duration = Duration::from_secs(15);
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::event::{RTCPeerConnectionEvent, RTCTrackEvent};
use rtc::peer_connection::message::{RTCMessage, TaggedRTCMessage};
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::peer_connection::transport::{
    CandidateConfig, CandidateHostConfig, RTCIceCandidate, RTCIceCandidateInit, RTCIceServer,
};
use rtc::peer_connection::RTCPeerConnection;
use rtc::peer_connection::RTCPeerConnectionBuilder;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::NackPair;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use rtc::rtp_transceiver::RTCRtpSenderId;
use rtc::sansio::Protocol;
use rtc::shared::marshal::{Marshal, Unmarshal};
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::MediaError;
use demux::Demux;
use driver::{Driver, Session, SHARED, WAKER};
pub use rtt::Rtt;
pub use video::VideoCodec;

/// Settings of the edge.
#[derive(Debug, Clone)]
pub struct WebRtcConfig {
    /// The UDP address all browsers' media arrives on.
    pub bind: SocketAddr,
    /// Addresses given to browsers as host candidates (the public IP; default: the bind IP).
    pub candidate_ips: Vec<IpAddr>,
    /// How long a session may stay unconnected (no ICE + DTLS) before it is failed.
    pub connect_timeout: Duration,
    /// The address the relay's legs listen on: each session's plain-RTP socket binds the
    /// loopback address of its family (a relay on IPv6 cannot be reached from an IPv4
    /// socket).
    pub relay_ip: IpAddr,
}

/// Counters of the edge.
#[derive(Debug, Default)]
pub struct EdgeStats {
    /// Sessions alive.
    pub sessions: AtomicU64,
    /// Sessions that reached connected (ICE + DTLS) since start.
    pub connected_total: AtomicU64,
    /// Sessions that failed (ICE/DTLS failure or connect timeout) since start.
    pub failed_total: AtomicU64,
    /// RTP packets from browsers handed to relays.
    pub rtp_in: AtomicU64,
    /// RTP packets from relays sent to browsers.
    pub rtp_out: AtomicU64,
    /// Datagrams on the shared port that belong to no session.
    pub dropped_unknown: AtomicU64,
    /// Video RTP packets forwarded from one browser to the other (visitor <-> console).
    pub video_forwarded: AtomicU64,
    /// Keyframe requests (PLI/FIR) and NACKs carried back to a video sender.
    pub video_feedback: AtomicU64,
}

/// What the browser leg of a session negotiated, and where its plain RTP side is.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The SDP answer for the browser (our host candidates included, ICE-lite).
    pub sdp: String,
    /// The loopback address the session receives plain RTP on (goes into the relay's leg).
    pub rtp: SocketAddr,
    /// The Opus payload type both sides use.
    pub opus_pt: u8,
    /// The telephone-event payload type, if the browser offered it.
    pub telephone_event_pt: Option<u8>,
    /// Whether video was negotiated (VP8 or H.264), for relaying to another browser.
    pub video: bool,
}

/// A session's state changes, for the call that owns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeEvent {
    /// ICE and DTLS are up: media can flow.
    Connected,
    /// The browser went away (ICE failed or consent lost, DTLS closed, or it never connected).
    Failed,
}

/// The WebRTC edge; cheap to clone.
#[derive(Clone)]
pub struct WebRtcEdge {
    shared: Arc<Shared>,
}

struct Shared {
    tx: std_mpsc::Sender<Cmd>,
    waker: Waker,
    local: SocketAddr,
    candidate_ips: Vec<IpAddr>,
    ice_servers: Vec<RTCIceServer>,
    stats: Arc<EdgeStats>,
    next_id: AtomicU64,
    connect_timeout: Duration,
    loopback: IpAddr,
}

impl std::fmt::Debug for WebRtcEdge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebRtcEdge")
            .field("local", &self.shared.local)
            .finish()
    }
}

enum Cmd {
    Add(Box<Session>),
    Connect(u64, SocketAddr),
    Candidate(u64, RTCIceCandidateInit),
    Close(u64),
    LinkVideo(u64, u64),
}

/// One browser call on the edge. Dropping it closes the peer connection.
#[derive(Debug)]
pub struct EdgeSession {
    id: u64,
    edge: WebRtcEdge,
    /// The negotiated answer.
    pub answer: Answer,
    events: Option<mpsc::UnboundedReceiver<EdgeEvent>>,
    rtt: Rtt,
}

impl EdgeSession {
    /// The browser leg's round-trip time, once measured (from its RTCP reports).
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt.get()
    }

    /// The session's id (unique in the process).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Send the browser's media to (and accept media from) the relay leg at `relay`.
    pub fn connect_media(&self, relay: SocketAddr) {
        self.edge.send(Cmd::Connect(self.id, relay));
    }

    /// A trickled ICE candidate of the browser (`candidate:...` attribute value).
    pub fn add_remote_candidate(&self, candidate: String, mid: Option<String>, mline: Option<u16>) {
        self.edge.send(Cmd::Candidate(
            self.id,
            RTCIceCandidateInit {
                candidate,
                sdp_mid: mid,
                sdp_mline_index: mline,
                ..Default::default()
            },
        ));
    }

    /// Relay video between this session's browser and session `peer`'s (both ways). A no-op
    /// unless both negotiated video.
    pub fn link_video(&self, peer: u64) {
        self.edge.send(Cmd::LinkVideo(self.id, peer));
    }

    /// The session's state changes; can be taken once.
    pub fn take_events(&mut self) -> Option<mpsc::UnboundedReceiver<EdgeEvent>> {
        self.events.take()
    }
}

impl Drop for EdgeSession {
    fn drop(&mut self) {
        self.edge.send(Cmd::Close(self.id));
    }
}

/// Random ICE credential characters (RFC 8839 ice-char).
fn ice_string(len: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut r = rand::thread_rng();
    (0..len)
        .map(|_| CHARS[r.gen_range(0..CHARS.len())] as char)
        .collect()
}

fn rtc_err(e: impl std::fmt::Display) -> MediaError {
    MediaError::Io(io::Error::other(format!("webrtc: {e}")))
}

/// Opus as browsers offer it (and as Ringside's peers register it).
fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

/// A media engine with Opus on payload type 111, and its interceptors: RTCP sender/receiver
/// reports, the round-trip time measured into `rtt`, and video feedback let through to us (for relaying between browsers); no NACK
/// buffers, no TWCC (no bandwidth estimation for a fixed-rate voice stream; relayed video is
/// the browsers' to adapt).
fn audio_engine(rtt: &Rtt) -> Result<(RtcMediaEngine, Registry), MediaError> {
    let mut me = RtcMediaEngine::default();
    me.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: opus_codec(),
            payload_type: 111,
        },
        RtpCodecKind::Audio,
    )
    .map_err(rtc_err)?;
    let registry = configure_rtcp_reports(Registry::new())
        .with(
            Slot::Custom(video::FEEDBACK_SLOT),
            tap::Tap::new(video::FeedbackToApp),
        )
        .with(
            Slot::Custom(rtt::RTT_SLOT),
            tap::Tap::new(rtt::RttMeter::new(rtt.clone())),
        );
    Ok((me, registry))
}

/// Announce a UDP host candidate at each of `addrs`, then end gathering.
fn add_host_candidates(
    pc: &mut RTCPeerConnection,
    addrs: impl IntoIterator<Item = SocketAddr>,
) -> Result<(), MediaError> {
    for a in addrs {
        let c = CandidateHostConfig {
            base_config: CandidateConfig {
                network: "udp".to_owned(),
                address: a.ip().to_string(),
                port: a.port(),
                component: 1,
                ..Default::default()
            },
            ..Default::default()
        }
        .new_candidate_host()
        .map_err(rtc_err)?;
        let init = RTCIceCandidate::from(&c).to_json().map_err(rtc_err)?;
        pc.add_local_candidate(init).map_err(rtc_err)?;
    }
    // The empty candidate: gathering is complete.
    pc.add_local_candidate(RTCIceCandidateInit::default())
        .map_err(rtc_err)
}

/// The socket buffer the shared port asks for: every browser's media arrives on this one
/// socket, so while the edge thread is busy (a burst of DTLS handshakes) the kernel must hold
/// the others' packets. 200 calls are 10,000 packets/s; the default 208 KiB buffer holds about
/// 20 ms of that and overflowed under load (measured: BENCHMARKS.md).
const SHARED_BUFFER: usize = 8 << 20;

impl WebRtcEdge {
    /// Bind the shared port and start the edge thread.
    pub fn start(cfg: WebRtcConfig, ice_servers: Vec<String>) -> Result<Self, MediaError> {
        let std_sock = crate::udp::bind_with_buffers(cfg.bind, SHARED_BUFFER, "WebRTC")?;
        std_sock.set_nonblocking(true)?;
        let local = std_sock.local_addr()?;
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let (tx, rx) = std_mpsc::channel();
        let stats = Arc::new(EdgeStats::default());
        let mut sock = UdpSocket::from_std(std_sock);
        poll.registry()
            .register(&mut sock, SHARED, Interest::READABLE)?;
        let candidate_ips = if cfg.candidate_ips.is_empty() {
            vec![local.ip()]
        } else {
            cfg.candidate_ips.clone()
        };
        let driver = Driver::new(poll, sock, local, rx, stats.clone());
        thread::Builder::new()
            .name("ringside-webrtc".into())
            .spawn(move || driver.run())?;
        Ok(WebRtcEdge {
            shared: Arc::new(Shared {
                tx,
                waker,
                local,
                candidate_ips,
                ice_servers: vec![RTCIceServer {
                    urls: ice_servers,
                    ..Default::default()
                }]
                .into_iter()
                .filter(|s| !s.urls.is_empty())
                .collect(),
                stats,
                loopback: ringside_domain::net::loopback_of(cfg.relay_ip),
                next_id: AtomicU64::new(1),
                connect_timeout: cfg.connect_timeout,
            }),
        })
    }

    /// The shared media port's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local
    }

    /// Counters.
    pub fn stats(&self) -> &EdgeStats {
        &self.shared.stats
    }

    fn send(&self, c: Cmd) {
        if self.shared.tx.send(c).is_ok() {
            let _ = self.shared.waker.wake();
        }
    }

    /// Answer a browser's SDP offer: a new session whose answer carries our host candidates.
    /// The offer must have an audio section with Opus.
    pub fn accept(&self, offer: &str) -> Result<EdgeSession, MediaError> {
        let now = Instant::now();
        let rtt = Rtt::default();
        let (mut me, registry) = audio_engine(&rtt)?;
        me.register_codec(
            RTCRtpCodecParameters {
                rtp_codec: RTCRtpCodec {
                    mime_type: MIME_TYPE_TELEPHONE_EVENT.to_owned(),
                    clock_rate: 8000,
                    channels: 1,
                    sdp_fmtp_line: "0-15".to_owned(),
                    rtcp_feedback: vec![],
                },
                payload_type: 126,
            },
            RtpCodecKind::Audio,
        )
        .map_err(rtc_err)?;
        let with_video = video::offers_video(offer);
        if with_video {
            video::register(&mut me)?;
        }
        let ufrag = ice_string(16);
        let setting = SettingEngineBuilder::new()
            .with_lite(true)
            .with_ice_credentials(ufrag.clone(), ice_string(32))
            // Browsers' consent checks (STUN) are the only liveness ICE-lite sees: Chromium
            // sends one about every 2.5 s, Firefox every 5 s. Disconnected after 15 s without
            // one, failed 15 s later: consent lapses after 30 s as RFC 7675 says.
            .with_ice_timeouts(Some(ICE_DISCONNECTED_AFTER), Some(ICE_FAILED_AFTER), None)
            // The edge is the DTLS server (a=setup:passive): as a DTLS client the library
            // logs a warning on every call (it has no server name to check).
            .with_answering_dtls_role(RTCDtlsRole::Server)
            .build();
        let config = RTCConfigurationBuilder::new()
            .with_ice_servers(self.shared.ice_servers.clone())
            .build();
        let mut pc = RTCPeerConnectionBuilder::new()
            .with_configuration(config)
            .with_setting_engine(setting)
            .with_media_engine(me)
            .with_interceptor_registry(registry)
            .build(now)
            .map_err(rtc_err)?;
        let ssrc: u32 = rand::random();
        let track = MediaStreamTrack::new(
            "ringside".to_owned(),
            "ringside-audio".to_owned(),
            "Ringside".to_owned(),
            RtpCodecKind::Audio,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec: opus_codec(),
                ..Default::default()
            }],
        );
        let sender = pc.add_track(track).map_err(rtc_err)?;
        let video_ssrc: u32 = rand::random();
        let video_sender = if with_video {
            let t = video::track("ringside", video_ssrc, VideoCodec::Vp8);
            Some(pc.add_track(t).map_err(rtc_err)?)
        } else {
            None
        };
        let offer = RTCSessionDescription::offer(offer.to_owned()).map_err(rtc_err)?;
        pc.set_remote_description(now, offer).map_err(rtc_err)?;
        let port = self.shared.local.port();
        add_host_candidates(
            &mut pc,
            self.shared
                .candidate_ips
                .iter()
                .map(|ip| SocketAddr::new(*ip, port)),
        )?;
        let answer = pc.create_answer(None).map_err(rtc_err)?;
        pc.set_local_description(now, answer).map_err(rtc_err)?;
        let sdp = pc
            .local_description()
            .map(|d| d.sdp)
            .ok_or_else(|| rtc_err("no local description"))?;
        let (opus_pt, te_pt) = {
            let mut s = pc.rtp_sender(sender).ok_or_else(|| rtc_err("no sender"))?;
            let codecs = &s.get_parameters().rtp_parameters.codecs;
            let opus_pt = codecs
                .iter()
                .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(MIME_TYPE_OPUS))
                .map(|c| c.payload_type)
                .ok_or_else(|| rtc_err("the offer has no Opus audio"))?;
            let te = codecs
                .iter()
                .find(|c| {
                    c.rtp_codec
                        .mime_type
                        .eq_ignore_ascii_case(MIME_TYPE_TELEPHONE_EVENT)
                })
                .map(|c| c.payload_type);
            (opus_pt, te)
        };
        let video = video_sender.and_then(|id| {
            let mut s = pc.rtp_sender(id)?;
            let codecs: Vec<video::Negotiated> = s
                .get_parameters()
                .rtp_parameters
                .codecs
                .iter()
                .map(|c| video::Negotiated {
                    pt: c.payload_type,
                    mime: c.rtp_codec.mime_type.clone(),
                    fmtp: c.rtp_codec.sdp_fmtp_line.clone(),
                })
                .collect();
            (!codecs.is_empty()).then(|| video::Video::new(id, video_ssrc, codecs))
        });
        let loopback = std::net::UdpSocket::bind(SocketAddr::new(self.shared.loopback, 0))?;
        loopback.set_nonblocking(true)?;
        let rtp = loopback.local_addr()?;
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let with_video_negotiated = video.is_some();
        let session = Session {
            id,
            pc,
            ufrag,
            sender,
            ssrc,
            loopback: UdpSocket::from_std(loopback),
            relay: None,
            events: ev_tx,
            video,
            connected: false,
            failed: false,
            deadline: now + self.shared.connect_timeout,
            armed: None,
        };
        self.shared.stats.sessions.fetch_add(1, Ordering::Relaxed);
        self.send(Cmd::Add(Box::new(session)));
        Ok(EdgeSession {
            id,
            edge: self.clone(),
            answer: Answer {
                sdp,
                rtp,
                opus_pt,
                telephone_event_pt: te_pt,
                video: with_video_negotiated,
            },
            events: Some(ev_rx),
            rtt,
        })
    }
}
