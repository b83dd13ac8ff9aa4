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
pub mod rtt;
mod tap;
pub mod video;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
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

/// Bind the shared port with [`SHARED_BUFFER`] for receiving and sending (as much as the
/// kernel allows: `net.core.rmem_max` / `wmem_max` cap it; a warning says so).
fn shared_socket(bind: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(bind),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    let _ = sock.set_recv_buffer_size(SHARED_BUFFER);
    let _ = sock.set_send_buffer_size(SHARED_BUFFER);
    // Linux reports twice the size it granted (bookkeeping included).
    let got = sock.recv_buffer_size().unwrap_or(0) / 2;
    if got < SHARED_BUFFER / 2 {
        warn!(
            granted = got,
            wanted = SHARED_BUFFER,
            "WebRTC port receive buffer capped by the kernel (raise net.core.rmem_max): packets may drop under load"
        );
    }
    sock.bind(&bind.into())?;
    Ok(sock.into())
}

impl WebRtcEdge {
    /// Bind the shared port and start the edge thread.
    pub fn start(cfg: WebRtcConfig, ice_servers: Vec<String>) -> Result<Self, MediaError> {
        let std_sock = shared_socket(cfg.bind)?;
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
        let driver = Driver {
            poll,
            sock,
            local,
            commands: rx,
            stats: stats.clone(),
            sessions: Vec::new(),
            free: Vec::new(),
            demux: Demux::default(),
            timers: BinaryHeap::new(),
            buf: vec![0; 2048],
            fwd: VecDeque::new(),
        };
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
        let loopback = std::net::UdpSocket::bind(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0))?;
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

const SHARED: Token = Token(0);
const WAKER: Token = Token(usize::MAX);

struct Session {
    id: u64,
    pc: RTCPeerConnection,
    ufrag: String,
    sender: RTCRtpSenderId,
    ssrc: u32,
    loopback: UdpSocket,
    relay: Option<SocketAddr>,
    events: mpsc::UnboundedSender<EdgeEvent>,
    /// The video side, when the browser offered video.
    video: Option<video::Video>,
    connected: bool,
    failed: bool,
    /// Until connected: when the session gives up waiting for the browser.
    deadline: Instant,
    armed: Option<Instant>,
}

struct Driver {
    poll: Poll,
    sock: UdpSocket,
    local: SocketAddr,
    commands: std_mpsc::Receiver<Cmd>,
    stats: Arc<EdgeStats>,
    sessions: Vec<Option<Box<Session>>>,
    free: Vec<usize>,
    demux: Demux,
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    buf: Vec<u8>,
    /// Video work for other sessions than the one being driven.
    fwd: VecDeque<Fwd>,
}

/// Video crossing from one session to its peer: (peer slot, peer id, what).
enum Fwd {
    /// A packet of the source browser's video, payload type already the peer's.
    Rtp(usize, u64, rtc::rtp::packet::Packet),
    /// The peer's browser should send a keyframe.
    Keyframe(usize, u64),
    /// The peer's browser should resend these packets.
    Nack(usize, u64, Vec<NackPair>),
}

impl Driver {
    fn run(mut self) {
        let mut events = Events::with_capacity(256);
        loop {
            let timeout = self
                .timers
                .peek()
                .map(|Reverse((t, _))| t.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    warn!(error = %e, "webrtc edge poll failed");
                    return;
                }
            }
            for ev in events.iter() {
                match ev.token() {
                    WAKER => {
                        if !self.commands() {
                            return;
                        }
                    }
                    SHARED => self.read_shared(),
                    Token(t) => self.read_loopback(t - 1),
                }
            }
            self.run_timers();
        }
    }

    /// Handle queued commands; false once the edge is gone.
    fn commands(&mut self) -> bool {
        loop {
            match self.commands.try_recv() {
                Ok(Cmd::Add(mut s)) => {
                    let slot = self.free.pop().unwrap_or_else(|| {
                        self.sessions.push(None);
                        self.sessions.len() - 1
                    });
                    if let Err(e) = self.poll.registry().register(
                        &mut s.loopback,
                        Token(slot + 1),
                        Interest::READABLE,
                    ) {
                        warn!(error = %e, "cannot poll a webrtc session socket");
                        let _ = s.events.send(EdgeEvent::Failed);
                        self.stats.sessions.fetch_sub(1, Ordering::Relaxed);
                        self.free.push(slot);
                        continue;
                    }
                    self.demux.add(&s.ufrag, slot);
                    self.sessions[slot] = Some(s);
                    self.drive(slot, Instant::now());
                }
                Ok(Cmd::Connect(id, relay)) => {
                    if let Some(slot) = self.slot_of(id) {
                        let s = self.sessions[slot].as_mut().expect("session");
                        s.relay = Some(relay);
                        // Latch the relay's RTCP socket (one up) on our socket: an empty RR.
                        let mut rr = [0x80u8, 201, 0, 1, 0, 0, 0, 0];
                        rr[4..].copy_from_slice(&s.ssrc.to_be_bytes());
                        let rtcp = SocketAddr::new(relay.ip(), relay.port().wrapping_add(1));
                        let _ = s.loopback.send_to(&rr, rtcp);
                    }
                }
                Ok(Cmd::Candidate(id, c)) => {
                    if let Some(slot) = self.slot_of(id) {
                        let s = self.sessions[slot].as_mut().expect("session");
                        if let Err(e) = s.pc.add_remote_candidate(c) {
                            debug!(error = %e, "browser candidate not used");
                        }
                        self.drive(slot, Instant::now());
                    }
                }
                Ok(Cmd::Close(id)) => {
                    if let Some(slot) = self.slot_of(id) {
                        self.close(slot);
                    }
                }
                Ok(Cmd::LinkVideo(a, b)) => {
                    if let (Some(a), Some(b)) = (self.slot_of(a), self.slot_of(b)) {
                        self.link_video(a, b);
                    }
                }
                Err(std_mpsc::TryRecvError::Empty) => return true,
                Err(std_mpsc::TryRecvError::Disconnected) => {
                    for slot in 0..self.sessions.len() {
                        self.close(slot);
                    }
                    return false;
                }
            }
        }
    }

    fn slot_of(&self, id: u64) -> Option<usize> {
        self.sessions
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.id == id))
    }

    fn close(&mut self, slot: usize) {
        let Some(mut s) = self.sessions.get_mut(slot).and_then(Option::take) else {
            return;
        };
        let _ = s.pc.close();
        // Flush the DTLS close_notify.
        while let Some(m) = s.pc.poll_write() {
            let _ = self.sock.send_to(&m.message, m.transport.peer_addr);
        }
        let _ = self.poll.registry().deregister(&mut s.loopback);
        if let Some(p) = s.video.as_ref().and_then(|v| v.peer.as_ref()) {
            if let Some(v) = self.video_of(p.slot, p.id) {
                v.peer = None;
            }
        }
        self.demux.remove(slot);
        self.free.push(slot);
        self.stats.sessions.fetch_sub(1, Ordering::Relaxed);
    }

    fn read_shared(&mut self) {
        loop {
            let (n, from) = match self.sock.recv_from(&mut self.buf) {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => continue,
            };
            let now = Instant::now();
            let Some(slot) = self.demux.route(&self.buf[..n], from) else {
                self.stats.dropped_unknown.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let Some(s) = self.sessions[slot].as_mut() else {
                continue;
            };
            let msg = TaggedBytesMut {
                now,
                transport: TransportContext {
                    local_addr: self.local,
                    peer_addr: from,
                    ecn: None,
                    transport_protocol: TransportProtocol::UDP,
                },
                message: BytesMut::from(&self.buf[..n]),
            };
            if let Err(e) = s.pc.handle_read(msg) {
                debug!(error = %e, "webrtc datagram rejected");
            }
            self.drive(slot, now);
        }
    }

    /// Plain RTP from the relay: into the browser's SRTP stream.
    fn read_loopback(&mut self, slot: usize) {
        loop {
            let Some(s) = self.sessions.get_mut(slot).and_then(Option::as_mut) else {
                return;
            };
            let (n, from) = match s.loopback.recv_from(&mut self.buf) {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => continue,
            };
            let b = &self.buf[..n];
            // Only the relay's RTP (not its RTCP: reports are per leg, ours to the browser
            // come from the peer connection's interceptors).
            if s.relay.map(|r| r.ip()) != Some(from.ip()) || n < 12 || (200..=206).contains(&b[1]) {
                continue;
            }
            if !s.connected {
                continue;
            }
            let Ok(mut pkt) = rtc::rtp::packet::Packet::unmarshal(&mut &b[..]) else {
                continue;
            };
            pkt.header.ssrc = s.ssrc;
            pkt.header.extension = false;
            pkt.header.extensions.clear();
            let now = Instant::now();
            if let Some(mut sender) = s.pc.rtp_sender(s.sender) {
                if sender.write_rtp(now, pkt).is_ok() {
                    self.stats.rtp_out.fetch_add(1, Ordering::Relaxed);
                }
            }
            self.drive(slot, now);
        }
    }

    fn run_timers(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((t, slot))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            let Some(s) = self.sessions.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            if s.armed != Some(t) {
                continue;
            }
            s.armed = None;
            if !s.connected && !s.failed && now >= s.deadline {
                self.fail(slot);
                continue;
            }
            let _ = s.pc.handle_timeout(now);
            self.drive(slot, now);
        }
    }

    fn fail(&mut self, slot: usize) {
        if let Some(s) = self.sessions.get_mut(slot).and_then(Option::as_mut) {
            if !s.failed {
                s.failed = true;
                self.stats.failed_total.fetch_add(1, Ordering::Relaxed);
                let _ = s.events.send(EdgeEvent::Failed);
            }
        }
    }

    /// Drain everything the peer connection of `slot` has for us (and what that gives its
    /// video peer), then re-arm the timers.
    fn drive(&mut self, slot: usize, now: Instant) {
        self.drive_one(slot, now);
        self.forward(now);
    }

    /// Deliver queued video work to the sessions it is for, driving each.
    fn forward(&mut self, now: Instant) {
        while let Some(f) = self.fwd.pop_front() {
            let (to, id) = match &f {
                Fwd::Rtp(to, id, _) | Fwd::Keyframe(to, id) | Fwd::Nack(to, id, _) => (*to, *id),
            };
            let Some(s) = self.sessions.get_mut(to).and_then(Option::as_mut) else {
                continue;
            };
            if s.id != id || !s.connected {
                continue;
            }
            let Some(v) = s.video.as_mut() else {
                continue;
            };
            match f {
                Fwd::Rtp(_, _, mut pkt) => {
                    pkt.header.ssrc = v.ssrc;
                    pkt.header.extension = false;
                    pkt.header.extensions.clear();
                    let sender = v.sender;
                    if let Some(mut tx) = s.pc.rtp_sender(sender) {
                        if tx.write_rtp(now, pkt).is_ok() {
                            self.stats.video_forwarded.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Fwd::Keyframe(..) => {
                    if let (Some(pli), Some(rx)) =
                        (v.keyframe_request(now), v.receiver.as_ref().map(|r| r.0))
                    {
                        if let Some(mut r) = s.pc.rtp_receiver(rx) {
                            if r.write_rtcp(now, vec![Box::new(pli)]).is_ok() {
                                self.stats.video_feedback.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
                Fwd::Nack(_, _, nacks) => {
                    if let (Some(nack), Some(rx)) =
                        (v.nack(nacks), v.receiver.as_ref().map(|r| r.0))
                    {
                        if let Some(mut r) = s.pc.rtp_receiver(rx) {
                            if r.write_rtcp(now, vec![Box::new(nack)]).is_ok() {
                                self.stats.video_feedback.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
            }
            self.drive_one(to, now);
        }
    }

    /// The video side of the session at `slot`, if it is still session `id`.
    fn video_of(&mut self, slot: usize, id: u64) -> Option<&mut video::Video> {
        self.sessions
            .get_mut(slot)
            .and_then(Option::as_mut)
            .filter(|s| s.id == id)
            .and_then(|s| s.video.as_mut())
    }

    /// Relay video between the browsers of `a` and `b`, and ask both for a keyframe.
    fn link_video(&mut self, a: usize, b: usize) {
        let side = |d: &Driver, slot: usize| {
            d.sessions[slot]
                .as_ref()
                .and_then(|s| s.video.as_ref().map(|v| (s.id, v.codecs.clone())))
        };
        let (Some((ia, ca)), Some((ib, cb))) = (side(self, a), side(self, b)) else {
            return;
        };
        let map = |from: &[video::Negotiated], to: &[video::Negotiated]| {
            from.iter()
                .filter_map(|c| video::map_payload_type(from, to, c.pt).map(|p| (c.pt, p)))
                .collect::<Vec<_>>()
        };
        let (ab, ba) = (map(&ca, &cb), map(&cb, &ca));
        if let Some(v) = self.video_of(a, ia) {
            v.peer = Some(video::Peer {
                slot: b,
                id: ib,
                payload_types: ab,
            });
        }
        if let Some(v) = self.video_of(b, ib) {
            v.peer = Some(video::Peer {
                slot: a,
                id: ia,
                payload_types: ba,
            });
        }
        debug!(a = ia, b = ib, "video relayed between two browsers");
        self.fwd.push_back(Fwd::Keyframe(a, ia));
        self.fwd.push_back(Fwd::Keyframe(b, ib));
        self.forward(Instant::now());
    }

    /// Drain everything the peer connection of `slot` has for us, then re-arm its timer.
    fn drive_one(&mut self, slot: usize, now: Instant) {
        let Some(s) = self.sessions.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let mut failed = false;
        loop {
            let mut progressed = false;
            while let Some(m) = s.pc.poll_write() {
                progressed = true;
                let _ = self.sock.send_to(&m.message, m.transport.peer_addr);
            }
            while let Some(ev) = s.pc.poll_event() {
                progressed = true;
                if let RTCPeerConnectionEvent::OnTrack(RTCTrackEvent::OnOpen(init)) = &ev {
                    if let Some(v) = s.video.as_mut() {
                        let kind =
                            s.pc.rtp_receiver(init.receiver_id)
                                .map(|r| r.track().kind());
                        if kind == Some(RtpCodecKind::Video) {
                            v.receiver = Some((init.receiver_id, init.track_id.clone(), init.ssrc));
                        }
                    }
                }
                if let RTCPeerConnectionEvent::OnConnectionStateChangeEvent(state) = ev {
                    debug!(session = s.id, %state, "webrtc connection state");
                    match state {
                        RTCPeerConnectionState::Connected if !s.connected => {
                            s.connected = true;
                            self.stats.connected_total.fetch_add(1, Ordering::Relaxed);
                            let _ = s.events.send(EdgeEvent::Connected);
                            // Now that this browser can receive, its peer's next frame must
                            // be a keyframe.
                            if let Some(p) = s.video.as_ref().and_then(|v| v.peer.as_ref()) {
                                self.fwd.push_back(Fwd::Keyframe(p.slot, p.id));
                            }
                        }
                        RTCPeerConnectionState::Failed
                        | RTCPeerConnectionState::Closed
                        | RTCPeerConnectionState::Disconnected => failed = true,
                        _ => {}
                    }
                }
            }
            while let Some(TaggedRTCMessage { message, .. }) = s.pc.poll_read() {
                progressed = true;
                match message {
                    RTCMessage::RtpPacket(track, mut pkt) => {
                        let video = s
                            .video
                            .as_mut()
                            .filter(|v| v.receiver.as_ref().is_some_and(|(_, t, _)| *t == track));
                        if let Some(v) = video {
                            // The browser's video: to its peer browser, if any.
                            if let Some(ssrc) = v.receiver.as_mut().map(|r| &mut r.2) {
                                *ssrc = pkt.header.ssrc;
                            }
                            if let (Some(pt), Some(p)) =
                                (v.forward_payload_type(pkt.header.payload_type), &v.peer)
                            {
                                pkt.header.payload_type = pt;
                                self.fwd.push_back(Fwd::Rtp(p.slot, p.id, pkt));
                            }
                        } else if let (Some(relay), Ok(raw)) = (s.relay, pkt.marshal()) {
                            if s.loopback.send_to(&raw, relay).is_ok() {
                                self.stats.rtp_in.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    RTCMessage::RtcpPacket(_, packets) => {
                        // Feedback about the video we send this browser: for its source.
                        let Some(v) = s.video.as_ref() else { continue };
                        let Some(p) = v.peer.as_ref() else { continue };
                        let f = video::feedback_for(&packets, v.ssrc);
                        if f.keyframe {
                            self.fwd.push_back(Fwd::Keyframe(p.slot, p.id));
                        }
                        if !f.nacks.is_empty() {
                            self.fwd.push_back(Fwd::Nack(p.slot, p.id, f.nacks));
                        }
                    }
                    _ => {}
                }
            }
            if !progressed {
                break;
            }
        }
        let mut next = s.pc.poll_timeout();
        if !s.connected {
            next = Some(next.map_or(s.deadline, |t| t.min(s.deadline)));
        }
        if let Some(t) = next {
            let t = t.max(now);
            if s.armed != Some(t) {
                s.armed = Some(t);
                self.timers.push(Reverse((t, slot)));
            }
        }
        if failed {
            self.fail(slot);
        }
    }
}
