//! The per-call media driver and the engine that creates it.
//!
//! A [`Relay`] owns four UDP sockets: RTP and RTCP for leg A and for leg B. A tokio task feeds
//! what arrives into the call's sans-IO [`CallMedia`] and sends what it returns; it sleeps until
//! [`CallMedia::poll_timeout`] for players, the recording tick and RTCP. All decisions (latching,
//! passthrough or transcoding, players, recording, DTMF) live in `CallMedia`. Dropping the
//! `Relay` stops the task, finishes a running recording and returns the ports.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::bridge::{
    CallMedia, Channel, Dropped, Forward, FrameSink, LegCodec, LegQuality, MediaEvent,
};
use crate::codec::opus::EncoderOptions;
use crate::player::Source;
use crate::ports::PortAllocator;
use crate::MediaError;

/// One side of a two-leg bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The leg towards the caller.
    A,
    /// The leg towards the callee.
    B,
}

/// Counters shared by all relays of an engine.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// Packets forwarded from one leg to the other (RTP and RTCP).
    pub forwarded: AtomicU64,
    /// Packets Ringside generated (transcoded audio, players, RTCP reports).
    pub generated: AtomicU64,
    /// Packets dropped because they came from an unexpected source.
    pub dropped_foreign: AtomicU64,
    /// Packets dropped because the other leg has no destination yet.
    pub dropped_no_destination: AtomicU64,
    /// Packets dropped because they were not valid RTP/RTCP.
    pub dropped_malformed: AtomicU64,
    /// Relays currently running.
    pub active: AtomicU64,
    /// Relays currently transcoding.
    pub transcoding: AtomicU64,
    /// Recordings currently running.
    pub recording: AtomicU64,
    /// DTMF digits detected in RFC 4733 telephone-events.
    pub dtmf_digits: AtomicU64,
}

/// Creates relays on ports from the configured range.
#[derive(Debug, Clone)]
pub struct MediaEngine {
    bind_ip: IpAddr,
    ports: Arc<PortAllocator>,
    stats: Arc<RelayStats>,
    encoder_options: EncoderOptions,
}

enum Control {
    Announce(Side, SocketAddr),
    Codec(Side, LegCodec),
    Play(Side, Box<dyn Source>),
    StopPlay(Side),
    Record(Box<dyn FrameSink>),
    StopRecording,
}

/// A running relay between two legs. Dropping it stops the relay and frees its ports.
#[derive(Debug)]
pub struct Relay {
    a_port: u16,
    b_port: u16,
    ctl: mpsc::UnboundedSender<Control>,
    events: Option<mpsc::UnboundedReceiver<MediaEvent>>,
    quality: Arc<Mutex<[LegQuality; 2]>>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Control::Announce(s, a) => write!(f, "Announce({s:?}, {a})"),
            Control::Codec(s, c) => write!(f, "Codec({s:?}, {c:?})"),
            Control::Play(s, _) => write!(f, "Play({s:?})"),
            Control::StopPlay(s) => write!(f, "StopPlay({s:?})"),
            Control::Record(_) => write!(f, "Record"),
            Control::StopRecording => write!(f, "StopRecording"),
        }
    }
}

impl MediaEngine {
    /// An engine binding media sockets on `bind_ip` within `ports`.
    pub fn new(bind_ip: IpAddr, ports: RangeInclusive<u16>) -> Self {
        MediaEngine {
            bind_ip,
            ports: Arc::new(PortAllocator::new(ports)),
            stats: Arc::new(RelayStats::default()),
            encoder_options: EncoderOptions::default(),
        }
    }

    /// Options for the encoders of transcoded calls and players (Opus complexity, FEC).
    pub fn with_encoder_options(mut self, options: EncoderOptions) -> Self {
        self.encoder_options = options;
        self
    }

    /// Counters over all relays.
    pub fn stats(&self) -> &RelayStats {
        &self.stats
    }

    /// Free port pairs left.
    pub fn ports_available(&self) -> usize {
        self.ports.available()
    }

    /// Allocate ports for both legs and start relaying. Must be called inside a tokio runtime.
    pub fn create_relay(&self) -> Result<Relay, MediaError> {
        let (a_port, a_rtp, a_rtcp) = self.bind_pair()?;
        let (b_port, b_rtp, b_rtcp) = match self.bind_pair() {
            Ok(x) => x,
            Err(e) => {
                self.ports.give_back(a_port);
                return Err(e);
            }
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let quality = Arc::new(Mutex::new([LegQuality::default(); 2]));
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ (u64::from(a_port) << 32)
            ^ u64::from(b_port);
        let mut media = CallMedia::new(Instant::now(), SystemTime::now(), seed);
        media.set_encoder_options(self.encoder_options);
        let task = RelayTask {
            socks: [a_rtp, a_rtcp, b_rtp, b_rtcp],
            media,
            stats: self.stats.clone(),
            events: ev_tx,
            quality: quality.clone(),
            transcoding: false,
            recording: false,
        };
        let ports = self.ports.clone();
        self.stats.active.fetch_add(1, Ordering::Relaxed);
        let stats = self.stats.clone();
        tokio::spawn(async move {
            task.run(rx).await;
            ports.give_back(a_port);
            ports.give_back(b_port);
            stats.active.fetch_sub(1, Ordering::Relaxed);
        });
        Ok(Relay {
            a_port,
            b_port,
            ctl: tx,
            events: Some(ev_rx),
            quality,
        })
    }

    fn bind_pair(&self) -> Result<(u16, UdpSocket, UdpSocket), MediaError> {
        // A port may be held by another process; try a bounded number of pairs.
        for _ in 0..64 {
            let port = self.ports.take().ok_or(MediaError::PortsExhausted)?;
            match (self.bind(port), self.bind(port + 1)) {
                (Ok(rtp), Ok(rtcp)) => return Ok((port, rtp, rtcp)),
                _ => self.ports.give_back(port),
            }
        }
        Err(MediaError::PortsExhausted)
    }

    fn bind(&self, port: u16) -> Result<UdpSocket, MediaError> {
        let s = std::net::UdpSocket::bind(SocketAddr::new(self.bind_ip, port))?;
        s.set_nonblocking(true)?;
        Ok(UdpSocket::from_std(s)?)
    }
}

impl Relay {
    /// The RTP port leg A's peer sends to (goes into the SDP towards leg A).
    pub fn port(&self, side: Side) -> u16 {
        match side {
            Side::A => self.a_port,
            Side::B => self.b_port,
        }
    }

    /// Tell the relay where a leg's peer said (in SDP) it receives RTP. RTCP is assumed on the
    /// next port up until the peer's RTCP latches.
    pub fn announce(&self, side: Side, rtp: SocketAddr) {
        let _ = self.ctl.send(Control::Announce(side, rtp));
    }

    /// The codec `side` negotiated (from the SDP answer). Legs with different codecs are
    /// transcoded; legs with the same codec pass through.
    pub fn set_codec(&self, side: Side, codec: LegCodec) {
        let _ = self.ctl.send(Control::Codec(side, codec));
    }

    /// Play `source` (PCM at [`crate::bridge::BRIDGE_RATE`]) into `side` instead of the other
    /// leg's media, until it ends or [`stop_play`](Self::stop_play).
    pub fn play(&self, side: Side, source: Box<dyn Source>) {
        let _ = self.ctl.send(Control::Play(side, source));
    }

    /// Stop the player on `side`.
    pub fn stop_play(&self, side: Side) {
        let _ = self.ctl.send(Control::StopPlay(side));
    }

    /// Record both legs into `sink` (left: A, right: B).
    pub fn record(&self, sink: Box<dyn FrameSink>) {
        let _ = self.ctl.send(Control::Record(sink));
    }

    /// Stop recording; the sink is finished.
    pub fn stop_recording(&self) {
        let _ = self.ctl.send(Control::StopRecording);
    }

    /// The stream of media events (DTMF, playback finished); can be taken once.
    pub fn take_events(&mut self) -> Option<mpsc::UnboundedReceiver<MediaEvent>> {
        self.events.take()
    }

    /// Quality of both legs (A, B) as of the last second.
    pub fn quality(&self) -> [LegQuality; 2] {
        *self.quality.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Socket index: 0 = A RTP, 1 = A RTCP, 2 = B RTP, 3 = B RTCP.
struct RelayTask {
    socks: [UdpSocket; 4],
    media: CallMedia,
    stats: Arc<RelayStats>,
    events: mpsc::UnboundedSender<MediaEvent>,
    quality: Arc<Mutex<[LegQuality; 2]>>,
    transcoding: bool,
    recording: bool,
}

fn sock_index(side: Side, channel: Channel) -> usize {
    let base = if side == Side::A { 0 } else { 2 };
    base + usize::from(channel == Channel::Rtcp)
}

impl RelayTask {
    async fn run(mut self, mut ctl: mpsc::UnboundedReceiver<Control>) {
        let mut bufs = [[0u8; 1500]; 4];
        let far = || tokio::time::Instant::now() + Duration::from_secs(3600);
        let sleep = tokio::time::sleep_until(far());
        tokio::pin!(sleep);
        let mut armed: Option<Instant> = None;
        // Quality is published at most every SNAPSHOT after activity, so the controller reads
        // figures no older than that when a call ends.
        const SNAPSHOT: Duration = Duration::from_millis(250);
        let mut snapshot_due: Option<Instant> = None;
        loop {
            let deadline = match (self.media.poll_timeout(), snapshot_due) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if deadline != armed {
                armed = deadline;
                sleep
                    .as_mut()
                    .reset(deadline.map_or_else(far, tokio::time::Instant::from_std));
            }
            let [b0, b1, b2, b3] = &mut bufs;
            let (idx, res) = tokio::select! {
                // Control first: an address announcement must not lose the race against the
                // first packet waiting for it.
                biased;
                c = ctl.recv() => {
                    match c {
                        Some(c) => self.control(c),
                        None => break,
                    }
                    self.after_input().await;
                    continue;
                }
                () = &mut sleep, if armed.is_some() => {
                    armed = None;
                    let now = Instant::now();
                    if snapshot_due.is_some_and(|d| now >= d) {
                        snapshot_due = None;
                        self.snapshot();
                    }
                    self.media.handle_timeout(now);
                    self.after_input().await;
                    continue;
                }
                r = self.socks[0].recv_from(b0) => (0, r),
                r = self.socks[2].recv_from(b2) => (2, r),
                r = self.socks[1].recv_from(b1) => (1, r),
                r = self.socks[3].recv_from(b3) => (3, r),
            };
            let Ok((len, src)) = res else { continue };
            let now = Instant::now();
            let side = if idx < 2 { Side::A } else { Side::B };
            if idx % 2 == 0 {
                match self.media.handle_rtp(now, side, src, &mut bufs[idx], len) {
                    Ok(Forward::InPlace { side: out, to, len }) => {
                        let s = &self.socks[sock_index(out, Channel::Rtp)];
                        if s.send_to(&bufs[idx][..len], to).await.is_ok() {
                            self.stats.forwarded.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(Forward::None) => {}
                    Err(d) => self.count_drop(d),
                }
            } else if let Err(d) = self.media.handle_rtcp(now, side, src, &bufs[idx][..len]) {
                self.count_drop(d);
            }
            self.after_input().await;
            snapshot_due.get_or_insert(now + SNAPSHOT);
        }
        self.media.close();
        self.set_gauges(false, false);
        self.snapshot();
    }

    fn count_drop(&self, d: Dropped) {
        let c = match d {
            Dropped::Foreign => &self.stats.dropped_foreign,
            Dropped::NoDestination => &self.stats.dropped_no_destination,
            Dropped::Malformed => &self.stats.dropped_malformed,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) {
        let q = [self.media.quality(Side::A), self.media.quality(Side::B)];
        *self.quality.lock().unwrap_or_else(|e| e.into_inner()) = q;
    }

    fn control(&mut self, c: Control) {
        let now = Instant::now();
        match c {
            Control::Announce(side, addr) => self.media.announce(side, addr),
            Control::Codec(side, codec) => self.media.set_codec(side, codec),
            Control::Play(side, source) => self.media.play(now, side, source),
            Control::StopPlay(side) => self.media.stop_play(side),
            Control::Record(sink) => self.media.record(now, sink),
            Control::StopRecording => self.media.stop_recording(),
        }
        let transcoding = !self.media.is_passthrough();
        let recording = self.media.is_recording();
        self.set_gauges(transcoding, recording);
    }

    fn set_gauges(&mut self, transcoding: bool, recording: bool) {
        for (was, now, gauge) in [
            (&mut self.transcoding, transcoding, &self.stats.transcoding),
            (&mut self.recording, recording, &self.stats.recording),
        ] {
            if *was != now {
                *was = now;
                if now {
                    gauge.fetch_add(1, Ordering::Relaxed);
                } else {
                    gauge.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Sends what the media queued and passes its events on.
    async fn after_input(&mut self) {
        while let Some(t) = self.media.poll_transmit() {
            let s = &self.socks[sock_index(t.side, t.channel)];
            if s.send_to(&t.data, t.to).await.is_ok() {
                self.stats.generated.fetch_add(1, Ordering::Relaxed);
            }
            self.media.recycle(t.data);
        }
        while let Some(e) = self.media.poll_event() {
            if let MediaEvent::Dtmf {
                side,
                digit,
                duration_ms,
            } = &e
            {
                self.stats.dtmf_digits.fetch_add(1, Ordering::Relaxed);
                tracing::info!(?side, %digit, duration_ms, "DTMF (RFC 4733)");
            }
            let _ = self.events.send(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn recv(s: &UdpSocket) -> (Vec<u8>, SocketAddr) {
        let mut b = [0u8; 1500];
        let (n, a) = tokio::time::timeout(Duration::from_secs(5), s.recv_from(&mut b))
            .await
            .expect("packet arrives")
            .unwrap();
        (b[..n].to_vec(), a)
    }

    /// A PCMU RTP packet whose payload is `tag`.
    fn rtp(seq: u16, tag: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 160, 0, 0, 0, 1];
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(tag);
        p
    }

    #[tokio::test]
    async fn relays_both_ways_and_latches() {
        let engine = MediaEngine::new("127.0.0.1".parse().unwrap(), 41000..=41099);
        let relay = engine.create_relay().unwrap();
        let caller = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let callee = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        relay.announce(Side::B, callee.local_addr().unwrap());
        // Leg A's announced address is wrong (NAT): latching fixes it.
        relay.announce(Side::A, "127.0.0.1:9".parse().unwrap());
        let a_addr: SocketAddr = ([127, 0, 0, 1], relay.port(Side::A)).into();
        let b_addr: SocketAddr = ([127, 0, 0, 1], relay.port(Side::B)).into();
        tokio::time::sleep(Duration::from_millis(20)).await;
        caller
            .send_to(&rtp(1, b"from-caller"), a_addr)
            .await
            .unwrap();
        let (p, from) = recv(&callee).await;
        assert_eq!(&p[12..], b"from-caller");
        assert_eq!(from, b_addr, "media leaves from Ringside's B port");
        callee
            .send_to(&rtp(7, b"from-callee"), b_addr)
            .await
            .unwrap();
        let (p, from) = recv(&caller).await;
        assert_eq!(&p[12..], b"from-callee");
        assert_eq!(from, a_addr);
        // A stranger hitting leg A's port is dropped and counted.
        let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        stranger.send_to(&rtp(2, b"spoof"), a_addr).await.unwrap();
        caller.send_to(&rtp(2, b"again"), a_addr).await.unwrap();
        let (p, _) = recv(&callee).await;
        assert_eq!(&p[12..], b"again");
        assert_eq!(engine.stats().dropped_foreign.load(Ordering::Relaxed), 1);
        assert_eq!(engine.stats().forwarded.load(Ordering::Relaxed), 3);
        // Garbage is not RTP: dropped and counted as malformed.
        caller.send_to(b"junk", a_addr).await.unwrap();
        caller.send_to(&rtp(3, b"after"), a_addr).await.unwrap();
        let (p, _) = recv(&callee).await;
        assert_eq!(&p[12..], b"after");
        assert_eq!(engine.stats().dropped_malformed.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn dropping_relay_frees_ports() {
        let engine = MediaEngine::new("127.0.0.1".parse().unwrap(), 41200..=41207);
        assert_eq!(engine.ports_available(), 4);
        let r = engine.create_relay().unwrap();
        assert_eq!(engine.ports_available(), 2);
        let _r2 = engine.create_relay().unwrap();
        assert!(matches!(
            engine.create_relay(),
            Err(MediaError::PortsExhausted)
        ));
        drop(r);
        for _ in 0..100 {
            if engine.ports_available() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(engine.ports_available(), 2);
        assert_eq!(engine.stats().active.load(Ordering::Relaxed), 1);
    }
}
