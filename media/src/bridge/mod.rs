//! The media of one call, sans-IO: two legs joined by passthrough or transcoding, players
//! injected into a leg, a recording tap, DTMF detection and per-leg RTCP.
//!
//! [`CallMedia`] takes datagrams that arrived on a leg's RTP or RTCP socket, the current
//! [`Instant`], and timeouts; it returns what to send where. The tokio driver in
//! [`crate::relay`] owns the sockets and the timer and does nothing else, so every path here is
//! tested on simulated time.
//!
//! - **Passthrough** (both legs negotiated the same codec): a packet is rewritten in place (SSRC,
//!   sequence, timestamp, payload type) and sent to the other leg. Nothing is decoded unless the
//!   call is being recorded.
//! - **Transcoding** (the legs negotiated different codecs): a leg's packets go through an
//!   adaptive [`JitterBuffer`] and are decoded to PCM at the bridge rate (8 kHz: every supported
//!   codec can run there, libopus natively) one frame per 20 ms tick, in order; frames that do
//!   not come in time are concealed (G.711 PLC, Opus FEC/PLC), and the PCM is re-encoded in
//!   20 ms frames for the other leg. Network jitter and reordering on one leg so become a
//!   steady stream on the other instead of gaps. A leg whose packets are not 20 ms long is
//!   decoded as packets arrive (gaps concealed up to [`MAX_CONCEAL`] packets).
//! - **Players**: while a [`Source`] plays into a leg (ringback, hold music, a prompt), media
//!   from the other leg is not forwarded to it; a 20 ms tick encodes the player's frames instead.
//! - **Recording**: both legs' decoded audio (through the same jitter buffer) is aligned on the 20 ms tick into a stereo
//!   [`FrameSink`] (left = leg A, the caller; right = leg B, the callee), silence where a leg is
//!   silent, on hold or late.
//! - **SRTP passthrough**: where a leg is keyed to send with the key the other leg's peer
//!   sends with (SDES keys passed end to end, see `ringside-calls`' `sdes` module), a packet
//!   from that peer is still authenticated and decrypted here (nothing forged is relayed, and
//!   DTMF, recording and statistics see it), but in passthrough what goes out is the packet
//!   as it came: SSRC, sequence and ciphertext untouched, no second encryption.
//! - **RTCP** is terminated per leg: incoming SR/RR feed loss, jitter and round-trip time
//!   ([`LegQuality`]); Ringside sends its own SR (or RR) to each leg every few seconds.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use crate::codec::frame::{CodecKind, FrameDecoder, FrameEncoder};
use crate::codec::opus::EncoderOptions;
use crate::dtmf::DtmfReceiver;
use crate::jitter::{JitterBuffer, JitterConfig};
use crate::latch::{Latch, Verdict};
use crate::player::Source;
use crate::rtp::ntp::ntp_from_system_time;
use crate::rtp::packet::{RtpHeader, RtpPacket};
use crate::rtp::stats::ReceiverStats;
use crate::rtp::Rewriter;
use crate::srtp::{SrtpKeys, SrtpSession};
use crate::MediaError;
use crate::Side;

mod dtls;
mod offload;
mod pcm;
mod reports;

pub use dtls::LegDtls;
pub use offload::{Offload, OFFLOAD_AFTER_PACKETS};

pub use reports::LegQuality;

/// PCM rate of the bridge, the players and the recording.
pub const BRIDGE_RATE: u32 = 8000;
/// Samples in one 20 ms frame at [`BRIDGE_RATE`].
const FRAME: usize = (BRIDGE_RATE / 50) as usize;
/// The tick driving players and the recording.
const TICK: Duration = Duration::from_millis(20);
/// Interval between our RTCP reports on each leg (RFC 3550's 5 s minimum).
const RTCP_INTERVAL: Duration = Duration::from_secs(5);
/// Largest decoded frame we accept (120 ms at 48 kHz).
const MAX_PCM: usize = 5760;
/// Recording prebuffer per leg before it is read (absorbs network jitter).
const REC_PREBUFFER: usize = 2 * FRAME;
/// Most PCM kept per leg for the recording (older audio is dropped).
const REC_MAX: usize = 10 * FRAME;
/// Largest gap (in packets) concealed; larger jumps restart the decoder's stream.
const MAX_CONCEAL: u16 = 5;
/// Playout delay bounds of a decoded leg's jitter buffer: one frame at least, and at most what
/// a conversation tolerates.
const JITTER_MIN_DELAY: Duration = Duration::from_millis(20);
const JITTER_MAX_DELAY: Duration = Duration::from_millis(300);
/// Packets a jitter buffer holds (its reordering window): 640 ms of 20 ms frames.
const JITTER_PACKETS: usize = 32;
/// Synthetic source ids fed through the rewriter for audio Ringside generates.
const GEN_TRANSCODE: u32 = 0x5249_4E47;
const GEN_PLAYER: u32 = 0x5249_4E48;

/// The codec a leg negotiated (from the SDP answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegCodec {
    /// The audio codec.
    pub kind: CodecKind,
    /// Its payload type on this leg.
    pub payload_type: u8,
    /// The telephone-event payload type on this leg, if negotiated.
    pub telephone_event: Option<u8>,
    /// The telephone-event clock rate (8000 with G.711, often 48000 with Opus).
    pub telephone_event_rate: u32,
}

impl LegCodec {
    /// A leg using `kind` with payload type `pt` and no telephone-event.
    pub fn new(kind: CodecKind, payload_type: u8) -> Self {
        LegCodec {
            kind,
            payload_type,
            telephone_event: None,
            telephone_event_rate: 8000,
        }
    }

    /// The same with telephone-event on `pt` at `rate` Hz.
    pub fn with_telephone_event(mut self, pt: u8, rate: u32) -> Self {
        self.telephone_event = Some(pt);
        self.telephone_event_rate = rate;
        self
    }
}

/// Receives the recording's aligned stereo frames.
pub trait FrameSink: Send {
    /// One frame: `left` from leg A, `right` from leg B, equal lengths at [`BRIDGE_RATE`].
    fn write(&mut self, left: &[i16], right: &[i16]);
    /// The recording ended; flush and close.
    fn finish(self: Box<Self>);
}

/// Something that happened in the media a controller may act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// A DTMF digit arrived on `side` (RFC 4733), reported once per key press.
    Dtmf {
        /// The leg it came from.
        side: Side,
        /// The digit.
        digit: char,
        /// How long the key was held.
        duration_ms: u32,
    },
    /// The player on `side` reached its end (a prompt finished).
    PlaybackFinished {
        /// The leg it played into.
        side: Side,
    },
}

/// Kind of socket a datagram belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// RTP.
    Rtp,
    /// RTCP (the RTP port + 1).
    Rtcp,
}

/// What to do with a datagram handed to [`CallMedia::handle_rtp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forward {
    /// Nothing to forward (consumed, dropped, or queued as transmits).
    None,
    /// The buffer was rewritten in place: send its first `len` bytes to `to` from `side`'s
    /// RTP socket.
    InPlace {
        /// Leg whose socket sends it.
        side: Side,
        /// Destination.
        to: SocketAddr,
        /// Length of the rewritten datagram.
        len: usize,
    },
}

/// A datagram Ringside generated, drained with [`CallMedia::poll_transmit`].
#[derive(Debug)]
pub struct Transmit {
    /// The leg whose socket sends it.
    pub side: Side,
    /// RTP or RTCP socket.
    pub channel: Channel,
    /// Destination.
    pub to: SocketAddr,
    /// The datagram (return it with [`CallMedia::recycle`] to avoid allocation).
    pub data: Vec<u8>,
}

/// Why a datagram was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// From an address other than the latched peer.
    Foreign,
    /// Not a valid RTP/RTCP packet.
    Malformed,
    /// The other leg has no address yet.
    NoDestination,
    /// SRTP/SRTCP that failed authentication or replay checks (or could not be protected).
    Srtp,
    /// From a leg that must be encrypted, before its keys are known.
    AwaitingKeys,
}

/// What a decoded leg's packets were seen to be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum PacketTiming {
    /// Not known yet (no two consecutive packets so far): buffered meanwhile.
    #[default]
    Unknown,
    /// 20 ms packets, the tick's period: through the jitter buffer, one per tick.
    Frame20,
    /// Another length (or no buffer could be made): decoded as they arrive.
    Other,
}

#[derive(Default)]
struct Leg {
    rtp_latch: Latch,
    rtcp_latch: Latch,
    codec: Option<LegCodec>,
    /// Receive statistics for the peer's current SSRC.
    rx: Option<ReceiverStats>,
    /// Maps everything sent to this leg onto one outgoing stream.
    rewriter: Option<Rewriter>,
    decoder: Option<FrameDecoder>,
    encoder: Option<FrameEncoder>,
    dtmf: Option<DtmfReceiver>,
    player: Option<Box<dyn Source>>,
    /// PCM waiting to be encoded towards this leg (transcoding).
    tx_pcm: Vec<i16>,
    /// Synthetic stream state for generated packets: (seq, ts) per generator.
    gen_transcode: (u16, u32),
    gen_player: (u16, u32),
    /// Decoded legs: packets wait here and are decoded one per tick.
    jitter: Option<JitterBuffer>,
    /// The last packet put into `jitter` (sequence, timestamp), to check it carries 20 ms.
    jitter_last: Option<(u16, u32)>,
    /// How long this leg's packets were seen to be, which decides how they are decoded.
    packet_timing: PacketTiming,
    /// Frames concealed in a row on this leg's playout.
    concealed_run: u16,
    /// Last sequence decoded from this leg (for concealment).
    last_decoded_seq: Option<u16>,
    last_frame_len: usize,
    /// Decoded audio from this leg waiting for the recording tick.
    rec: VecDeque<i16>,
    rec_primed: bool,
    /// RTP packets accepted from the peer (probation included).
    rtp_in: u64,
    /// The telephone-event being carried over to the other leg while transcoding: its
    /// timestamp here and the timestamp it got on the other leg.
    dtmf_out: Option<(u32, u32)>,
    // Sender side (towards this leg).
    sent_packets: u64,
    sent_octets: u64,
    last_sent_ts: u32,
    // Reports from the peer about our stream.
    rtt: Option<Duration>,
    remote_fraction_lost: Option<f64>,
    remote_jitter_ms: Option<f64>,
    dropped_foreign: u64,
    /// SRTP/SRTCP packets from the peer that failed authentication.
    dropped_srtp: u64,
    next_rtcp: Option<Instant>,
    /// SRTP keys of this leg (none: plain RTP).
    srtp: Option<SrtpSession>,
    /// The leg must be encrypted: until its keys arrive nothing from it is accepted.
    srtp_expected: bool,
    /// DTLS-SRTP: the handshakes that key this leg (none: SDES keys or plain RTP).
    dtls: Option<Box<LegDtls>>,
    /// DTLS records that came while the leg awaited its keys and had no handshake yet (the
    /// phone answered Ringside's `actpass` offer `active` and said hello before its answer
    /// reached the relay): replayed into the server association when it starts.
    early_dtls: Vec<(Channel, SocketAddr, Vec<u8>)>,
}

impl std::fmt::Debug for Leg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leg")
            .field("codec", &self.codec)
            .field("playing", &self.player.is_some())
            .field("srtp", &self.srtp)
            .field("sent_packets", &self.sent_packets)
            .finish_non_exhaustive()
    }
}

impl Leg {
    /// Drops the jitter buffer and what it had seen.
    fn reset_jitter(&mut self) {
        self.jitter = None;
        self.jitter_last = None;
    }

    fn out_ssrc(&self) -> u32 {
        self.rewriter.as_ref().map_or(0, Rewriter::out_ssrc)
    }
}

/// The media of one call; see the [module docs](self).
pub struct CallMedia {
    legs: [Leg; 2],
    /// Wallclock anchor for NTP timestamps in RTCP.
    anchor: (Instant, SystemTime),
    recorder: Option<Box<dyn FrameSink>>,
    next_tick: Option<Instant>,
    events: VecDeque<MediaEvent>,
    transmits: VecDeque<Transmit>,
    /// DTLS flights to send as they are (never SRTP-protected).
    dtls_out: VecDeque<Transmit>,
    /// DTLS handshakes completed since the driver last asked.
    dtls_done: u32,
    pool: Vec<Vec<u8>>,
    pcm: Vec<i16>,
    frame: Vec<i16>,
    encoded: Vec<u8>,
    cname: Vec<u8>,
    encoder_options: EncoderOptions,
    /// The packet being handled as it arrived (still encrypted), when it may go out as it
    /// came (SRTP passthrough); empty otherwise.
    cipher: Vec<u8>,
    /// Packets sent on as they came (SRTP passthrough) since the driver last asked.
    srtp_passed: u32,
}

impl std::fmt::Debug for CallMedia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallMedia")
            .field("legs", &self.legs)
            .field("recording", &self.recorder.is_some())
            .finish_non_exhaustive()
    }
}

fn idx(side: Side) -> usize {
    match side {
        Side::A => 0,
        Side::B => 1,
    }
}

fn other(side: Side) -> Side {
    match side {
        Side::A => Side::B,
        Side::B => Side::A,
    }
}

impl CallMedia {
    /// A call created at `now` (wallclock `wall`), using `seed` for SSRCs and initial
    /// sequence numbers and timestamps (pass a random value).
    pub fn new(now: Instant, wall: SystemTime, seed: u64) -> Self {
        let mut s = seed | 1;
        let mut next = move || {
            // xorshift64*: enough to pick unpredictable-looking initial values.
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            s.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };
        let mut legs: [Leg; 2] = Default::default();
        for leg in &mut legs {
            let r = next();
            leg.rewriter = Some(Rewriter::new(
                (r >> 32) as u32,
                8000,
                (r >> 16) as u16,
                next() as u32,
            ));
        }
        CallMedia {
            legs,
            anchor: (now, wall),
            recorder: None,
            next_tick: None,
            events: VecDeque::new(),
            transmits: VecDeque::new(),
            dtls_out: VecDeque::new(),
            dtls_done: 0,
            pool: Vec::new(),
            // Scratch buffers are allocated on first decode/encode: a passthrough call holds none.
            pcm: Vec::new(),
            frame: Vec::new(),
            encoded: Vec::new(),
            cname: format!("ringside-{:08x}", next() as u32).into_bytes(),
            encoder_options: EncoderOptions::default(),
            cipher: Vec::new(),
            srtp_passed: 0,
        }
    }

    /// Options for the encoders this call creates (Opus complexity, FEC).
    pub fn set_encoder_options(&mut self, options: EncoderOptions) {
        self.encoder_options = options;
    }

    /// The peer on `side` announced (in SDP) it receives RTP at `rtp` (RTCP at `rtp + 1`).
    pub fn announce(&mut self, side: Side, rtp: SocketAddr) {
        let leg = &mut self.legs[idx(side)];
        leg.rtp_latch.announce(rtp);
        leg.rtcp_latch
            .announce(SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1)));
    }

    /// Like [`Self::announce`], but `side` takes media from `rtp` (and RTCP from the port
    /// above) only, at once (see [`crate::latch::Latch::pin`]).
    pub fn pin(&mut self, side: Side, rtp: SocketAddr) {
        let leg = &mut self.legs[idx(side)];
        leg.rtp_latch.pin(rtp);
        leg.rtcp_latch
            .pin(SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1)));
    }

    /// Sets the codec `side` negotiated. Codec state is rebuilt when it changes.
    pub fn set_codec(&mut self, side: Side, codec: LegCodec) {
        let leg = &mut self.legs[idx(side)];
        if leg.codec == Some(codec) {
            return;
        }
        let clock = codec.kind.rtp_clock_rate();
        if leg.codec.map(|c| c.kind.rtp_clock_rate()) != Some(clock) {
            // Keep SSRC, sequence and timestamp position; only the clock changes.
            if let Some(rw) = &mut leg.rewriter {
                rw.set_clock_rate(clock);
            }
        }
        leg.codec = Some(codec);
        leg.decoder = None;
        leg.encoder = None;
        leg.rx = None;
        leg.last_decoded_seq = None;
        leg.reset_jitter();
        leg.packet_timing = PacketTiming::Unknown;
        leg.tx_pcm.clear();
        leg.dtmf = codec
            .telephone_event
            .map(|_| DtmfReceiver::new(codec.telephone_event_rate));
    }

    /// The codec negotiated on `side`.
    pub fn codec(&self, side: Side) -> Option<LegCodec> {
        self.legs[idx(side)].codec
    }

    /// Whether both legs use the same codec, so media passes through undecoded.
    pub fn is_passthrough(&self) -> bool {
        match (self.legs[0].codec, self.legs[1].codec) {
            (Some(a), Some(b)) => a.kind == b.kind,
            // Until both are known, relay what arrives unchanged.
            _ => true,
        }
    }

    /// Starts playing `source` into `side` (PCM at [`BRIDGE_RATE`]); media from the other leg
    /// is not forwarded to `side` until the player ends or is stopped.
    pub fn play(&mut self, now: Instant, side: Side, source: Box<dyn Source>) {
        self.legs[idx(side)].player = Some(source);
        self.ensure_tick(now);
    }

    /// Stops the player on `side`; forwarding from the other leg resumes.
    pub fn stop_play(&mut self, side: Side) {
        self.legs[idx(side)].player = None;
    }

    /// Whether a player is active on `side`.
    pub fn is_playing(&self, side: Side) -> bool {
        self.legs[idx(side)].player.is_some()
    }

    /// Starts recording into `sink` (replacing and finishing any previous one).
    pub fn record(&mut self, now: Instant, sink: Box<dyn FrameSink>) {
        if let Some(old) = self.recorder.replace(sink) {
            old.finish();
        }
        for leg in &mut self.legs {
            leg.rec.clear();
            leg.rec_primed = false;
        }
        self.ensure_tick(now);
    }

    /// Stops recording and finishes the sink.
    pub fn stop_recording(&mut self) {
        if let Some(old) = self.recorder.take() {
            old.finish();
        }
    }

    /// Whether a recording is running.
    pub fn is_recording(&self) -> bool {
        self.recorder.is_some()
    }

    fn ensure_tick(&mut self, now: Instant) {
        if self.next_tick.is_none() {
            self.next_tick = Some(now + TICK);
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    /// The next datagram to send, if any (encrypted when its leg uses SRTP).
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if let Some(t) = self.dtls_out.pop_front() {
            return Some(t);
        }
        loop {
            let mut t = self.transmits.pop_front()?;
            let Some(s) = self.legs[idx(t.side)].srtp.as_mut() else {
                return Some(t);
            };
            if s.protect_vec(&mut t.data, t.channel == Channel::Rtcp) {
                return Some(t);
            }
            self.recycle(t.data);
        }
    }

    /// Sets or clears (`None`: plain RTP from now on, even on a leg that had to be
    /// encrypted) the SRTP keys of `side`. Keys equal to the ones in use keep the running
    /// contexts (rollover counters, replay windows); new keys start fresh ones.
    pub fn set_srtp(&mut self, side: Side, keys: Option<SrtpKeys>) -> Result<(), MediaError> {
        let leg = &mut self.legs[idx(side)];
        match keys {
            None => {
                leg.srtp = None;
                leg.srtp_expected = false;
            }
            Some(k) if leg.srtp.as_ref().is_some_and(|s| *s.keys() == k) => {}
            Some(k) => leg.srtp = Some(SrtpSession::new(k)?),
        }
        leg.early_dtls.clear();
        Ok(())
    }

    /// `side` must be encrypted (its SRTP policy requires it) but its keys are not known yet
    /// (Ringside's offer is out, the answer has not come): nothing its peer sends is accepted
    /// until [`set_srtp`](Self::set_srtp) gives the keys ([`Dropped::AwaitingKeys`]).
    pub fn expect_srtp(&mut self, side: Side) {
        self.legs[idx(side)].srtp_expected = true;
    }

    /// Whether `side` uses SRTP.
    pub fn is_srtp(&self, side: Side) -> bool {
        self.legs[idx(side)].srtp.is_some()
    }

    /// Whether packets from the other leg's peer may go to `side` as they came: both legs are
    /// SRTP with one suite and `side` sends with the key the other leg's peer sends with.
    pub fn is_srtp_passthrough(&self, side: Side) -> bool {
        let o = idx(side);
        match (&self.legs[o].srtp, &self.legs[1 - o].srtp) {
            (Some(to), Some(from)) => {
                let (to, from) = (to.keys(), from.keys());
                to.suite == from.suite && to.local == from.remote
            }
            _ => false,
        }
    }

    /// Packets sent on as they came (SRTP passthrough) since the last call.
    pub fn take_srtp_passed(&mut self) -> u32 {
        std::mem::take(&mut self.srtp_passed)
    }

    /// SRTP/SRTCP packets from `side`'s peer dropped for failing authentication or replay.
    pub fn srtp_dropped(&self, side: Side) -> u64 {
        self.legs[idx(side)].dropped_srtp
    }

    /// Gives a transmitted datagram's buffer back for reuse.
    pub fn recycle(&mut self, mut data: Vec<u8>) {
        if self.pool.len() < 16 {
            data.clear();
            self.pool.push(data);
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.next_tick;
        for leg in &self.legs {
            for cand in [
                leg.next_rtcp,
                leg.dtmf.as_ref().and_then(|d| d.poll_timeout()),
                leg.dtls.as_ref().and_then(|d| d.poll_timeout()),
            ] {
                t = match (t, cand) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
        }
        t
    }

    fn ntp(&self, now: Instant) -> u64 {
        let wall = self.anchor.1 + now.saturating_duration_since(self.anchor.0);
        ntp_from_system_time(wall)
    }

    /// Handles an RTP datagram that arrived on `side`'s RTP socket from `src`. `buf[..len]` is
    /// the datagram; `buf` must have room for an MTU (the packet is rewritten in place).
    pub fn handle_rtp(
        &mut self,
        now: Instant,
        side: Side,
        src: SocketAddr,
        buf: &mut [u8],
        len: usize,
    ) -> Result<Forward, Dropped> {
        let i = idx(side);
        let o = 1 - i;
        let mut len = len;
        if crate::dtls::is_dtls(&buf[..len]) {
            if self.legs[i].dtls.is_some() {
                self.dtls_in(now, side, Channel::Rtp, src, &buf[..len]);
                return Ok(Forward::None);
            }
            if self.hold_early_dtls(side, Channel::Rtp, src, &buf[..len]) {
                return Err(Dropped::AwaitingKeys);
            }
        }
        // Kept as it came where it may go out so (SRTP passthrough; a transcoded call
        // re-encodes everything).
        self.cipher.clear();
        if self.legs[i].srtp.is_some()
            && self.is_passthrough()
            && self.is_srtp_passthrough(other(side))
        {
            self.cipher.extend_from_slice(&buf[..len]);
        }
        // SRTP first: nothing unauthenticated is latched on, counted or relayed.
        let leg = &mut self.legs[i];
        match leg.srtp.as_mut() {
            // Not RTP at all (STUN keep-alives some phones send): not an SRTP failure.
            Some(_) if !is_rtp_version_2(&buf[..len]) => return Err(Dropped::Malformed),
            Some(s) => match s.unprotect_rtp(buf, len) {
                Some(n) => len = n,
                None => {
                    leg.dropped_srtp += 1;
                    return Err(Dropped::Srtp);
                }
            },
            None if leg.srtp_expected => return Err(Dropped::AwaitingKeys),
            None => {}
        }
        if self.legs[i].rtp_latch.receive(src) == Verdict::Drop {
            self.legs[i].dropped_foreign += 1;
            return Err(Dropped::Foreign);
        }
        let (pt, seq, ts, ssrc, marker, header_len, payload_end) = {
            let p = RtpPacket::parse(&buf[..len]).map_err(|_| Dropped::Malformed)?;
            let payload = p.payload();
            let start = p.header_len();
            (
                p.payload_type(),
                p.sequence(),
                p.timestamp(),
                p.ssrc(),
                p.marker(),
                start,
                start + payload.len(),
            )
        };
        let leg = &mut self.legs[i];
        let clock = leg.codec.map_or(8000, |c| c.kind.rtp_clock_rate());
        if leg.rx.as_ref().map(ReceiverStats::ssrc) != Some(ssrc) {
            leg.rx = Some(ReceiverStats::new(ssrc, clock));
            leg.last_decoded_seq = None;
            // A new source: its sequence numbers have nothing to do with the old one's.
            leg.reset_jitter();
            if leg.packet_timing == PacketTiming::Frame20 {
                leg.packet_timing = PacketTiming::Unknown;
            }
        }
        if let Some(rx) = &mut leg.rx {
            rx.receive(seq, ts, now);
        }
        leg.rtp_in += 1;
        if leg.next_rtcp.is_none() {
            leg.next_rtcp = Some(now + RTCP_INTERVAL);
        }

        // Telephone events: detected here; forwarded only in passthrough.
        if let Some(codec) = leg.codec {
            if Some(pt) == codec.telephone_event {
                if let Some(d) = &mut leg.dtmf {
                    let _ = d.handle_packet(now, ts, marker, &buf[header_len..payload_end]);
                    while let Some(e) = d.poll_event() {
                        self.events.push_back(MediaEvent::Dtmf {
                            side,
                            digit: e.digit,
                            duration_ms: e.duration_ms,
                        });
                    }
                }
                let out = self.legs[o]
                    .codec
                    .and_then(|c| c.telephone_event.map(|pt| (pt, c.telephone_event_rate)));
                let Some((out_pt, out_rate)) = out else {
                    return Ok(Forward::None);
                };
                if self.legs[o].player.is_some() {
                    return Ok(Forward::None);
                }
                if self.is_passthrough() {
                    return self.forward_in_place(now, o, buf, len, out_pt, payload_end);
                }
                // Transcoding: the other leg's stream is Ringside's own; carry the event over
                // on it, stamped with that stream's clock.
                let in_rate = codec.telephone_event_rate;
                let mut event = [0u8; 4];
                if payload_end - header_len < 4 {
                    return Ok(Forward::None);
                }
                event.copy_from_slice(&buf[header_len..header_len + 4]);
                self.regenerate_event(now, i, ts, marker, event, in_rate, out_pt, out_rate);
                return Ok(Forward::None);
            }
            if pt != codec.payload_type {
                // Comfort noise or a codec we did not negotiate: not forwarded.
                return Ok(Forward::None);
            }
        }

        let needs_pcm = self.recorder.is_some() || !self.is_passthrough();
        if needs_pcm && !self.buffer_for_decoding(now, i, seq, ts, &buf[header_len..payload_end]) {
            self.decode_into_pcm(i, seq, header_len, payload_end, buf);
        }
        if self.legs[o].player.is_some() {
            return Ok(Forward::None);
        }
        if self.is_passthrough() {
            let out_pt = self.legs[o].codec.map_or(pt, |c| c.payload_type);
            return self.forward_in_place(now, o, buf, len, out_pt, payload_end);
        }
        self.encode_towards(now, o);
        Ok(Forward::None)
    }

    fn forward_in_place(
        &mut self,
        now: Instant,
        o: usize,
        buf: &mut [u8],
        len: usize,
        out_pt: u8,
        payload_end: usize,
    ) -> Result<Forward, Dropped> {
        let leg = &mut self.legs[o];
        let Some(to) = leg.rtp_latch.destination() else {
            return Err(Dropped::NoDestination);
        };
        let side = if o == 0 { Side::A } else { Side::B };
        if let Some(n) = self.pass_as_came(now, o, buf, out_pt) {
            return Ok(Forward::InPlace { side, to, len: n });
        }
        let leg = &mut self.legs[o];
        let Some(rw) = leg.rewriter.as_mut() else {
            return Err(Dropped::NoDestination);
        };
        let r = rw
            .rewrite_packet(&mut buf[..len], now)
            .map_err(|_| Dropped::Malformed)?;
        buf[1] = (buf[1] & 0x80) | (out_pt & 0x7f);
        let len = match leg.srtp.as_mut() {
            Some(s) => s.protect_rtp(buf, len).ok_or(Dropped::Srtp)?,
            None => len,
        };
        leg.next_rtcp.get_or_insert(now + RTCP_INTERVAL);
        leg.sent_packets += 1;
        leg.sent_octets += (payload_end.saturating_sub(12)) as u64;
        leg.last_sent_ts = r.ts;
        Ok(Forward::InPlace { side, to, len })
    }

    /// SRTP passthrough: puts the packet back into `buf` as it came, for leg `o`, and returns
    /// its length; `None` when it must be rewritten and encrypted for `o` instead (it was not
    /// kept, or the payload type changes between the legs).
    fn pass_as_came(
        &mut self,
        now: Instant,
        o: usize,
        buf: &mut [u8],
        out_pt: u8,
    ) -> Option<usize> {
        let n = self.cipher.len();
        if n < 12 || self.cipher[1] & 0x7f != out_pt & 0x7f {
            return None;
        }
        let ssrc = u32::from_be_bytes([
            self.cipher[8],
            self.cipher[9],
            self.cipher[10],
            self.cipher[11],
        ]);
        let leg = &mut self.legs[o];
        if let Some(rw) = leg.rewriter.as_mut().filter(|rw| rw.out_ssrc() == ssrc) {
            // Ringside's own packets to this leg (players, RTCP) use the same key: they must
            // never share the peer's SSRC, or two streams would share a keystream.
            rw.set_out_ssrc(!ssrc);
        }
        buf[..n].copy_from_slice(&self.cipher);
        let ts = u32::from_be_bytes([
            self.cipher[4],
            self.cipher[5],
            self.cipher[6],
            self.cipher[7],
        ]);
        leg.next_rtcp.get_or_insert(now + RTCP_INTERVAL);
        leg.sent_packets += 1;
        leg.sent_octets += n.saturating_sub(12) as u64;
        leg.last_sent_ts = ts;
        self.srtp_passed += 1;
        Some(n)
    }

    /// Runs timers due at `now`: player and recording ticks, RTCP reports, DTMF end timeouts.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.dtls_timeout(now);
        for i in 0..2 {
            if let Some(d) = &mut self.legs[i].dtmf {
                d.handle_timeout(now);
                while let Some(e) = d.poll_event() {
                    self.events.push_back(MediaEvent::Dtmf {
                        side: if i == 0 { Side::A } else { Side::B },
                        digit: e.digit,
                        duration_ms: e.duration_ms,
                    });
                }
            }
            if self.legs[i].next_rtcp.is_some_and(|t| now >= t) {
                self.legs[i].next_rtcp = Some(now + RTCP_INTERVAL);
                self.send_report(now, i);
            }
        }
        // Catch up ticks one at a time (bounded) so a stalled driver does not spin.
        let mut guard = 0;
        while let Some(t) = self.next_tick.filter(|t| now >= *t) {
            self.tick(t);
            guard += 1;
            if guard >= 10 {
                self.next_tick = self.next_tick.map(|_| now + TICK);
                break;
            }
        }
    }

    /// Ends the call's media: finishes the recording.
    pub fn close(&mut self) {
        self.stop_recording();
    }
}

impl Drop for CallMedia {
    fn drop(&mut self) {
        self.close();
    }
}

/// Whether `data` starts like RTP or RTCP (version 2): STUN and the like do not.
pub(crate) fn is_rtp_version_2(data: &[u8]) -> bool {
    data.first().is_some_and(|b| b >> 6 == 2)
}

/// Used by tests and the driver: which leg is the other one.
pub fn other_side(side: Side) -> Side {
    other(side)
}
