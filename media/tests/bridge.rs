//! The call media core on simulated time: passthrough, transcoding, players, recording, DTMF,
//! RTCP. Audio is judged as audio (frequency and SNR of what arrives).

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use ringside_media::bridge::{Channel, Dropped, Forward, Transmit};
use ringside_media::codec::analysis::{dominant_frequency, rms_dbfs, tone};
use ringside_media::codec::frame::{CodecKind, FrameDecoder, FrameEncoder};
use ringside_media::codec::opus::EncoderOptions;

use ringside_media::rtp::packet::{RtpHeader, RtpPacket};
use ringside_media::rtp::rtcp::{parse_compound, write_rr, ReportBlock, RtcpPacket};
use ringside_media::{CallMedia, FrameSink, LegCodec, MediaEvent, Side};

use common::Beep;

const A_PEER: &str = "127.0.0.1:40000";
const B_PEER: &str = "127.0.0.1:50000";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn setup(a: LegCodec, b: LegCodec) -> (CallMedia, Instant) {
    let t0 = Instant::now();
    let mut m = CallMedia::new(t0, SystemTime::now(), 42);
    m.announce(Side::A, addr(A_PEER));
    m.announce(Side::B, addr(B_PEER));
    m.set_codec(Side::A, a);
    m.set_codec(Side::B, b);
    (m, t0)
}

/// A peer sending 20 ms frames of `pcm` (8 kHz) encoded as `codec`.
struct Peer {
    enc: FrameEncoder,
    pt: u8,
    seq: u16,
    ts: u32,
    ssrc: u32,
}

impl Peer {
    fn new(kind: CodecKind, pt: u8, ssrc: u32) -> Self {
        Peer {
            enc: FrameEncoder::new(kind, 8000, EncoderOptions::default()).unwrap(),
            pt,
            seq: 1000,
            ts: 5000,
            ssrc,
        }
    }

    fn packet(&mut self, frame: &[i16]) -> Vec<u8> {
        let mut payload = [0u8; 1500];
        let n = self.enc.encode(frame, &mut payload).unwrap();
        let h = RtpHeader {
            marker: false,
            payload_type: self.pt,
            sequence: self.seq,
            timestamp: self.ts,
            ssrc: self.ssrc,
            csrcs: &[],
            extension: None,
            padding: 0,
        };
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(self.enc.rtp_timestamp_increment());
        let mut out = vec![0u8; 1500];
        let len = h.write(&payload[..n], &mut out).unwrap();
        out.truncate(len);
        out
    }
}

/// Takes every datagram `m` has queued into `out`.
fn sent(m: &mut CallMedia, out: &mut Vec<(Side, Channel, Vec<u8>)>) {
    while let Some(Transmit {
        side,
        channel,
        data,
        ..
    }) = m.poll_transmit()
    {
        out.push((side, channel, data));
    }
}

/// Feeds `frames` 20 ms frames of a tone from `side`'s peer, running timers in between, and
/// returns every datagram Ringside sent (in-place forwards included) with the time.
fn run(
    m: &mut CallMedia,
    t0: Instant,
    side: Side,
    peer: &mut Peer,
    freq: f64,
    frames: usize,
) -> Vec<(Side, Channel, Vec<u8>)> {
    let src = addr(if side == Side::A { A_PEER } else { B_PEER });
    let pcm = tone(freq, 8000, 0.3, 160 * frames);
    let mut out = Vec::new();
    for (k, frame) in pcm.chunks(160).enumerate() {
        let now = t0 + Duration::from_millis(20 * k as u64);
        while let Some(t) = m.poll_timeout().filter(|t| *t <= now) {
            m.handle_timeout(t);
        }
        sent(m, &mut out);
        let mut buf = vec![0u8; 1500];
        let p = peer.packet(frame);
        buf[..p.len()].copy_from_slice(&p);
        match m.handle_rtp(now, side, src, &mut buf, p.len()).unwrap() {
            Forward::InPlace { side, len, .. } => {
                out.push((side, Channel::Rtp, buf[..len].to_vec()))
            }
            Forward::None => {}
        }
        sent(m, &mut out);
    }
    // Let the ticks play out what decoded legs still hold in their jitter buffers.
    let end = t0 + Duration::from_millis(20 * frames as u64 + 200);
    while let Some(t) = m.poll_timeout().filter(|t| *t <= end) {
        m.handle_timeout(t);
        sent(m, &mut out);
    }
    out
}

fn decode_all(kind: CodecKind, packets: &[Vec<u8>]) -> Vec<i16> {
    let mut dec = FrameDecoder::new(kind, 8000).unwrap();
    let mut pcm = Vec::new();
    let mut buf = vec![0i16; 5760];
    for p in packets {
        let rtp = RtpPacket::parse(p).unwrap();
        let n = dec.decode(rtp.payload(), &mut buf).unwrap();
        pcm.extend_from_slice(&buf[..n]);
    }
    pcm
}

fn rtp_to(out: &[(Side, Channel, Vec<u8>)], side: Side) -> Vec<Vec<u8>> {
    out.iter()
        .filter(|(s, c, _)| *s == side && *c == Channel::Rtp)
        .map(|(_, _, d)| d.clone())
        .collect()
}

#[test]
fn same_codec_passes_through_with_rewritten_header() {
    let (mut m, t0) = setup(
        LegCodec::new(CodecKind::Pcmu, 0),
        LegCodec::new(CodecKind::Pcmu, 0),
    );
    assert!(m.is_passthrough());
    let mut peer = Peer::new(CodecKind::Pcmu, 0, 0xAAAA);
    let out = run(&mut m, t0, Side::A, &mut peer, 1000.0, 10);
    let to_b = rtp_to(&out, Side::B);
    assert_eq!(to_b.len(), 10);
    let first = RtpPacket::parse(&to_b[0]).unwrap();
    assert_ne!(first.ssrc(), 0xAAAA, "SSRC rewritten");
    for w in to_b.windows(2) {
        let (p, q) = (
            RtpPacket::parse(&w[0]).unwrap(),
            RtpPacket::parse(&w[1]).unwrap(),
        );
        assert_eq!(q.sequence(), p.sequence().wrapping_add(1));
        assert_eq!(q.timestamp(), p.timestamp().wrapping_add(160));
    }
    // Payload untouched.
    let pcm = decode_all(CodecKind::Pcmu, &to_b);
    assert!((dominant_frequency(&pcm, 8000) - 1000.0).abs() < 10.0);
    assert_eq!(m.quality(Side::A).packets_received, 10);
    assert_eq!(m.quality(Side::B).packets_sent, 10);
}

#[test]
fn strangers_are_dropped_and_counted() {
    let (mut m, t0) = setup(
        LegCodec::new(CodecKind::Pcmu, 0),
        LegCodec::new(CodecKind::Pcmu, 0),
    );
    let mut peer = Peer::new(CodecKind::Pcmu, 0, 1);
    run(&mut m, t0, Side::A, &mut peer, 1000.0, 2);
    let p = peer.packet(&[0; 160]);
    let mut buf = vec![0u8; 1500];
    buf[..p.len()].copy_from_slice(&p);
    let r = m.handle_rtp(t0, Side::A, addr("127.0.0.9:1234"), &mut buf, p.len());
    assert_eq!(r, Err(Dropped::Foreign));
    assert_eq!(m.quality(Side::A).dropped_foreign, 1);
    let r = m.handle_rtp(t0, Side::A, addr(A_PEER), &mut buf, 5);
    assert_eq!(r, Err(Dropped::Malformed));
}

/// PCMU caller, PCMA callee: the callee hears the caller's 1 kHz tone. Threshold: the tone's
/// frequency within 10 Hz and its level within 2 dB of what was sent (-10.5 dBFS).
#[test]
fn pcmu_to_pcma_transcodes_the_tone() {
    let (mut m, t0) = setup(
        LegCodec::new(CodecKind::Pcmu, 0),
        LegCodec::new(CodecKind::Pcma, 8),
    );
    assert!(!m.is_passthrough());
    let mut peer = Peer::new(CodecKind::Pcmu, 0, 7);
    let out = run(&mut m, t0, Side::A, &mut peer, 1000.0, 50);
    let to_b = rtp_to(&out, Side::B);
    assert!(to_b.len() >= 49, "{} frames", to_b.len());
    for p in &to_b {
        assert_eq!(RtpPacket::parse(p).unwrap().payload_type(), 8);
    }
    let pcm = decode_all(CodecKind::Pcma, &to_b);
    assert!((dominant_frequency(&pcm, 8000) - 1000.0).abs() < 10.0);
    let level = rms_dbfs(&pcm[800..]);
    assert!(
        (level - rms_dbfs(&tone(1000.0, 8000, 0.3, 8000))).abs() < 2.0,
        "{level}"
    );
}

/// PCMU caller, Opus callee and back: both directions carry the tone through libopus.
#[test]
fn pcmu_and_opus_transcode_both_ways() {
    let (mut m, t0) = setup(
        LegCodec::new(CodecKind::Pcmu, 0),
        LegCodec::new(CodecKind::Opus, 111),
    );
    let mut caller = Peer::new(CodecKind::Pcmu, 0, 7);
    let out = run(&mut m, t0, Side::A, &mut caller, 1000.0, 50);
    let to_b = rtp_to(&out, Side::B);
    assert!(to_b.len() >= 49);
    let first = RtpPacket::parse(&to_b[0]).unwrap();
    let second = RtpPacket::parse(&to_b[1]).unwrap();
    assert_eq!(first.payload_type(), 111);
    assert_eq!(
        second.timestamp().wrapping_sub(first.timestamp()),
        960,
        "48 kHz RTP clock"
    );
    let pcm = decode_all(CodecKind::Opus, &to_b);
    assert!((dominant_frequency(&pcm[1600..], 8000) - 1000.0).abs() < 10.0);

    let mut callee = Peer::new(CodecKind::Opus, 111, 9);
    let t1 = t0 + Duration::from_secs(2);
    let out = run(&mut m, t1, Side::B, &mut callee, 400.0, 50);
    let to_a = rtp_to(&out, Side::A);
    assert!(to_a.len() >= 49);
    let pcm = decode_all(CodecKind::Pcmu, &to_a);
    assert!((dominant_frequency(&pcm[1600..], 8000) - 400.0).abs() < 10.0);
}

/// Collects the recording's frames.
type Recorded = (Vec<i16>, Vec<i16>, bool);

#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Recorded>>);

impl FrameSink for Collect {
    fn write(&mut self, left: &[i16], right: &[i16]) {
        let mut g = self.0.lock().unwrap();
        g.0.extend_from_slice(left);
        g.1.extend_from_slice(right);
    }
    fn finish(self: Box<Self>) {
        self.0.lock().unwrap().2 = true;
    }
}

/// Both legs talk at once (A: 1 kHz, B: 400 Hz); the recording has A on the left and B on
/// the right, each at its own frequency, and silence on a channel whose leg stops.
#[test]
fn recording_puts_each_leg_on_its_own_channel() {
    let (mut m, t0) = setup(
        LegCodec::new(CodecKind::Pcmu, 0),
        LegCodec::new(CodecKind::Pcma, 8),
    );
    let rec = Collect::default();
    m.record(t0, Box::new(rec.clone()));
    let mut a = Peer::new(CodecKind::Pcmu, 0, 1);
    let mut b = Peer::new(CodecKind::Pcma, 8, 2);
    let pa = tone(1000.0, 8000, 0.3, 160 * 100);
    let pb = tone(400.0, 8000, 0.3, 160 * 50);
    for k in 0..100 {
        let now = t0 + Duration::from_millis(20 * k as u64 + 5);
        while let Some(t) = m.poll_timeout().filter(|t| *t <= now) {
            m.handle_timeout(t);
        }
        let mut buf = vec![0u8; 1500];
        let p = a.packet(&pa[k * 160..(k + 1) * 160]);
        buf[..p.len()].copy_from_slice(&p);
        m.handle_rtp(now, Side::A, addr(A_PEER), &mut buf, p.len())
            .unwrap();
        if k < 50 {
            let p = b.packet(&pb[k * 160..(k + 1) * 160]);
            buf[..p.len()].copy_from_slice(&p);
            m.handle_rtp(now, Side::B, addr(B_PEER), &mut buf, p.len())
                .unwrap();
        }
        while let Some(t) = m.poll_transmit() {
            m.recycle(t.data);
        }
    }
    m.stop_recording();
    let g = rec.0.lock().unwrap();
    assert!(g.2, "sink finished");
    let (left, right) = (&g.0, &g.1);
    assert_eq!(left.len(), right.len());
    assert!(left.len() >= 160 * 95, "{}", left.len());
    assert!((dominant_frequency(&left[800..7200], 8000) - 1000.0).abs() < 10.0);
    assert!((dominant_frequency(&right[800..7200], 8000) - 400.0).abs() < 10.0);
    // B stopped after 1 s: its channel is silent at the end while A still talks.
    let tail = left.len() - 2400;
    assert!(rms_dbfs(&right[tail..]) < -60.0);
    assert!(rms_dbfs(&left[tail..]) > -20.0);
}

/// While a player runs into leg A, B's media is not forwarded to A; when it ends, an event
/// says so and forwarding resumes on the same outgoing stream (sequence continues).
#[test]
fn player_replaces_forwarding_until_it_ends() {
    let (mut m, t0) = setup(
        LegCodec::new(CodecKind::Pcmu, 0),
        LegCodec::new(CodecKind::Pcmu, 0),
    );
    m.play(t0, Side::A, Box::new(Beep(0, 8000)));
    let mut b = Peer::new(CodecKind::Pcmu, 0, 3);
    let out = run(&mut m, t0, Side::B, &mut b, 1000.0, 75);
    let to_a = rtp_to(&out, Side::A);
    // 1 s of beep (50 frames), then B's forwarded packets.
    let pcm = decode_all(CodecKind::Pcmu, &to_a[..49]);
    assert!((dominant_frequency(&pcm, 8000) - 440.0).abs() < 10.0);
    assert!(matches!(
        m.poll_event(),
        Some(MediaEvent::PlaybackFinished { side: Side::A })
    ));
    let tail = decode_all(CodecKind::Pcmu, &to_a[to_a.len() - 20..]);
    assert!((dominant_frequency(&tail, 8000) - 1000.0).abs() < 10.0);
    let seqs: Vec<u16> = to_a
        .iter()
        .map(|p| RtpPacket::parse(p).unwrap().sequence())
        .collect();
    for w in seqs.windows(2) {
        assert_eq!(
            w[1],
            w[0].wrapping_add(1),
            "one continuous stream: {seqs:?}"
        );
    }
}

fn dtmf_packet(seq: u16, ts: u32, marker: bool, event: u8, end: bool, dur: u16) -> Vec<u8> {
    let payload = [
        event,
        if end { 0x80 } else { 0 } | 10,
        (dur >> 8) as u8,
        dur as u8,
    ];
    let h = RtpHeader {
        marker,
        payload_type: 101,
        sequence: seq,
        timestamp: ts,
        ssrc: 77,
        csrcs: &[],
        extension: None,
        padding: 0,
    };
    let mut out = vec![0u8; 64];
    let n = h.write(&payload, &mut out).unwrap();
    out.truncate(n);
    out
}

/// RFC 4733 digits (with the three redundant end packets) are reported once each.
#[test]
fn dtmf_digits_are_reported_once() {
    let te = LegCodec::new(CodecKind::Pcmu, 0).with_telephone_event(101, 8000);
    let (mut m, t0) = setup(te, LegCodec::new(CodecKind::Pcma, 8));
    let mut seq = 1;
    for (d, ev) in [(0u32, 1u8), (1, 9)] {
        let ts = 10_000 + d * 8000;
        let base = t0 + Duration::from_secs(u64::from(d));
        for k in 0..8u16 {
            let end = k >= 5;
            let p = dtmf_packet(seq, ts, k == 0, ev, end, 400 + 160 * k.min(5));
            seq += 1;
            let mut buf = vec![0u8; 1500];
            buf[..p.len()].copy_from_slice(&p);
            let now = base + Duration::from_millis(20 * u64::from(k));
            m.handle_rtp(now, Side::A, addr(A_PEER), &mut buf, p.len())
                .unwrap();
        }
    }
    let digits: Vec<char> = std::iter::from_fn(|| m.poll_event())
        .filter_map(|e| match e {
            MediaEvent::Dtmf {
                side: Side::A,
                digit,
                ..
            } => Some(digit),
            _ => None,
        })
        .collect();
    assert_eq!(digits, vec!['1', '9']);
}

/// Ringside sends SR+SDES to each leg every 5 s and takes RTT from the peer's reports.
#[test]
fn rtcp_reports_and_round_trip_time() {
    let (mut m, t0) = setup(
        LegCodec::new(CodecKind::Pcmu, 0),
        LegCodec::new(CodecKind::Pcmu, 0),
    );
    let mut a = Peer::new(CodecKind::Pcmu, 0, 0xA);
    let out = run(&mut m, t0, Side::A, &mut a, 1000.0, 300);
    let to_b_rtcp: Vec<&Vec<u8>> = out
        .iter()
        .filter(|(s, c, _)| *s == Side::B && *c == Channel::Rtcp)
        .map(|(_, _, d)| d)
        .collect();
    assert!(!to_b_rtcp.is_empty(), "SR sent to B");
    let sr = parse_compound(to_b_rtcp[0]).next().unwrap().unwrap();
    let RtcpPacket::SenderReport { ssrc, info, .. } = sr else {
        panic!("expected SR, got {sr:?}");
    };
    assert!(info.packet_count > 0);
    // B answers with an RR about our stream, 30 ms after our SR, having held it 10 ms.
    let lsr = ringside_media::rtp::ntp::ntp_middle32(info.ntp);
    let block = ReportBlock {
        ssrc,
        fraction_lost: 0,
        cumulative_lost: 0,
        extended_highest_seq: 0,
        jitter: 0,
        lsr,
        dlsr: ringside_media::rtp::ntp::duration_to_compact(Duration::from_millis(10)),
    };
    let mut buf = [0u8; 64];
    let n = write_rr(0xB, &[block], &mut buf).unwrap();
    let sent_at = out
        .iter()
        .position(|(s, c, _)| *s == Side::B && *c == Channel::Rtcp)
        .unwrap();
    let _ = sent_at;
    // The SR went out at the 5 s timer.
    let now = t0 + Duration::from_millis(5030);
    m.handle_rtcp(now, Side::B, addr("127.0.0.1:50001"), &buf[..n])
        .unwrap();
    let rtt = m.quality(Side::B).rtt_ms.expect("rtt");
    assert!((rtt - 20.0).abs() < 2.0, "rtt {rtt}");
}

/// While transcoding (PCMU caller with telephone-event/8000, Opus callee with
/// telephone-event/48000) a digit is carried over to the callee as telephone-events on
/// Ringside's own stream: its payload type, one timestamp per event, the duration rescaled to
/// 48 kHz, and the callee's receiver sees the digit exactly once.
#[test]
fn dtmf_is_carried_across_a_transcoding_bridge() {
    let a = LegCodec::new(CodecKind::Pcmu, 0).with_telephone_event(101, 8000);
    let b = LegCodec::new(CodecKind::Opus, 111).with_telephone_event(110, 48000);
    let (mut m, t0) = setup(a, b);
    let mut out = Vec::new();
    for k in 0..8u16 {
        let end = k >= 5;
        let p = dtmf_packet(1 + k, 20_000, k == 0, 5, end, 400 + 160 * k.min(5));
        let mut buf = vec![0u8; 1500];
        buf[..p.len()].copy_from_slice(&p);
        let now = t0 + Duration::from_millis(20 * u64::from(k));
        m.handle_rtp(now, Side::A, addr(A_PEER), &mut buf, p.len())
            .unwrap();
        while let Some(t) = m.poll_transmit() {
            out.push((t.side, t.data));
        }
    }
    let to_b: Vec<&Vec<u8>> = out
        .iter()
        .filter(|(s, _)| *s == Side::B)
        .map(|(_, d)| d)
        .collect();
    assert_eq!(to_b.len(), 8, "every event packet carried over");
    let mut rx = ringside_media::dtmf::DtmfReceiver::new(48000);
    let first = RtpPacket::parse(to_b[0]).unwrap();
    assert!(first.marker());
    for (k, p) in to_b.iter().enumerate() {
        let rtp = RtpPacket::parse(p).unwrap();
        assert_eq!(rtp.payload_type(), 110);
        assert_eq!(
            rtp.timestamp(),
            first.timestamp(),
            "one timestamp per event"
        );
        assert_eq!(rtp.sequence(), first.sequence().wrapping_add(k as u16));
        let dur = u16::from_be_bytes([rtp.payload()[2], rtp.payload()[3]]);
        assert_eq!(
            u32::from(dur),
            (400 + 160 * (k as u32).min(5)) * 6,
            "rescaled to 48 kHz"
        );
        rx.handle_packet(t0, rtp.timestamp(), rtp.marker(), rtp.payload())
            .unwrap();
    }
    let digits: Vec<char> = std::iter::from_fn(|| rx.poll_event())
        .map(|e| e.digit)
        .collect();
    assert_eq!(digits, vec!['5']);
}

/// A transcoded call whose caller's packets arrive with ±40 ms of jitter (so out of order
/// about a third of the time): the callee still gets one packet every 20 ms, each carrying
/// the tone at its level. Packets are decoded from a jitter buffer on the 20 ms tick; decoded
/// as they arrived (the path before the jitter buffer), the callee would hear the input's
/// arrival gaps, 60 ms and more here, and its reordering (late packets were dropped).
#[test]
fn jittered_and_reordered_packets_become_continuous_audio_when_transcoding() {
    let (mut m, t0) = setup(
        LegCodec::new(CodecKind::Pcmu, 0),
        LegCodec::new(CodecKind::Pcma, 8),
    );
    let mut peer = Peer::new(CodecKind::Pcmu, 0, 7);
    let frames = 250;
    let pcm = tone(1000.0, 8000, 0.3, 160 * frames);
    // Sent every 20 ms, each delayed 40 ms ± 40 ms (a fixed pseudo-random sequence).
    let mut rng = 0x9E37_79B9_u32;
    let mut arrivals: Vec<(Duration, Vec<u8>)> = pcm
        .chunks(160)
        .enumerate()
        .map(|(k, frame)| {
            rng ^= rng << 13;
            rng ^= rng >> 17;
            rng ^= rng << 5;
            let jitter_ms = u64::from(rng % 81); // 0..=80: 40 ± 40
            let at = Duration::from_millis(20 * k as u64 + jitter_ms);
            (at, peer.packet(frame))
        })
        .collect();
    arrivals.sort_by_key(|(at, _)| *at);
    let seqs: Vec<u16> = arrivals
        .iter()
        .map(|(_, p)| RtpPacket::parse(p).unwrap().sequence())
        .collect();
    let reordered = seqs.windows(2).filter(|w| w[1] < w[0]).count();
    let input_gap = arrivals.windows(2).map(|w| w[1].0 - w[0].0).max().unwrap();
    assert!(reordered > 30, "{reordered} reordered packets");
    assert!(input_gap >= Duration::from_millis(60), "{input_gap:?}");

    // Run it, noting when each packet to B leaves.
    let src = addr(A_PEER);
    let mut sent: Vec<(Instant, Vec<u8>)> = Vec::new();
    let drain = |m: &mut CallMedia, now: Instant, sent: &mut Vec<(Instant, Vec<u8>)>| {
        while let Some(t) = m.poll_timeout().filter(|t| *t <= now) {
            m.handle_timeout(t);
            while let Some(x) = m.poll_transmit() {
                if x.side == Side::B && x.channel == Channel::Rtp {
                    sent.push((t, x.data));
                }
            }
        }
    };
    for (at, p) in &arrivals {
        let now = t0 + *at;
        drain(&mut m, now, &mut sent);
        let mut buf = vec![0u8; 1500];
        buf[..p.len()].copy_from_slice(p);
        assert_eq!(
            m.handle_rtp(now, Side::A, src, &mut buf, p.len()),
            Ok(Forward::None)
        );
        while let Some(x) = m.poll_transmit() {
            if x.side == Side::B && x.channel == Channel::Rtp {
                sent.push((now, x.data));
            }
        }
    }
    drain(&mut m, t0 + Duration::from_secs(6), &mut sent);

    // Every frame reaches B, one per 20 ms tick, in sequence.
    assert!(
        sent.len() >= frames - 2,
        "{} of {frames} frames",
        sent.len()
    );
    let out_gap = sent.windows(2).map(|w| w[1].0 - w[0].0).max().unwrap();
    assert!(
        out_gap <= Duration::from_millis(20),
        "a {out_gap:?} gap towards B"
    );
    for w in sent.windows(2) {
        let (p, q) = (
            RtpPacket::parse(&w[0].1).unwrap(),
            RtpPacket::parse(&w[1].1).unwrap(),
        );
        assert_eq!(q.sequence(), p.sequence().wrapping_add(1));
        assert_eq!(q.timestamp(), p.timestamp().wrapping_add(160));
    }
    // And the audio: the tone at its level in every 20 ms frame, except a few frames
    // concealed while the buffer grew its delay to the jitter it measured (in the first
    // second), and never a silent one. The talker's stream ends with the input: what follows
    // is up to MAX_CONCEAL frames of fading concealment, left out here.
    let packets: Vec<Vec<u8>> = sent.into_iter().map(|(_, d)| d).collect();
    let out = decode_all(CodecKind::Pcma, &packets);
    let sent_level = rms_dbfs(&tone(1000.0, 8000, 0.3, 8000));
    let mut levels: Vec<f64> = out.chunks(160).map(rms_dbfs).collect();
    while levels.last().is_some_and(|l| *l < sent_level - 2.0) {
        levels.pop();
    }
    assert!(levels.len() >= frames, "{} frames of audio", levels.len());
    let concealed: Vec<usize> = (0..levels.len())
        .filter(|&k| (levels[k] - sent_level).abs() >= 2.0)
        .collect();
    assert!(
        concealed.len() <= 3 && concealed.iter().all(|&k| k < 50),
        "frames off the tone's level: {concealed:?}"
    );
    assert!(
        levels.iter().all(|l| *l > -30.0),
        "a silent frame: {levels:?}"
    );
    assert!((dominant_frequency(&out, 8000) - 1000.0).abs() < 10.0);
    let q = m.quality(Side::A);
    assert_eq!(q.packets_received, frames as u64);
}
