//! The relay's per-packet path (criterion): one RTP packet from a leg through
//! `CallMedia::handle_rtp`, with the work it triggers, for
//!
//! - `pcmu_passthrough`: PCMU ↔ PCMU, the packet rewritten in place (SSRC, sequence,
//!   timestamp, payload type);
//! - `pcmu_to_opus`: PCMU leg A → Opus leg B: G.711 decode (+ PLC history), Opus encode at
//!   the 8 kHz bridge rate, RTP packet queued; the transmit is drained and recycled;
//! - `opus_to_pcmu`: Opus leg B → PCMU leg A: Opus decode at 8 kHz, G.711 encode, queued;
//! - `pcmu_passthrough_recording`: passthrough with a recording running (the packet is also
//!   decoded, and the 20 ms recording tick mixes a stereo frame into a discarding sink);
//! - `pcmu_passthrough_srtp_80` / `_gcm`: passthrough between two SRTP legs (each keyed on
//!   its own: the packet is authenticated and decrypted with leg A's keys, rewritten, and
//!   encrypted with leg B's), AES_CM_128_HMAC_SHA1_80 or AEAD_AES_128_GCM. The phone's own
//!   encryption of each packet runs inside the loop too (sequence numbers change every
//!   step); `srtp_phone_protect_80` / `_gcm` measure it alone, to subtract;
//! - `pcmu_srtp_passthrough_80` / `_gcm`: the same with SRTP passthrough (keys passed end to
//!   end: leg B sends with the key A's phone sends with): the packet is authenticated and
//!   decrypted as before, but sent on as it came instead of rewritten and re-encrypted.
//!
//! Input: 1 s of speech-like audio (`speech.rs`) pre-encoded into 50 RTP packets of 20 ms
//! outside the timed loop (G.711 at 8 kHz; Opus as a WebRTC peer sends it: encoded at 48 kHz,
//! default `EncoderOptions`). Each iteration copies the next packet into the receive buffer
//! and patches its sequence number and timestamp (a few ns) so the stream stays continuous,
//! advances the simulated clock by 20 ms, runs `handle_timeout` when due (RTCP every 5 s,
//! recording tick), calls `handle_rtp` and drains `poll_transmit`. Encoder options: default
//! (complexity 5, 24 kbit/s, FEC on).
//!
//! `dtls_handshake` (its own group): one whole DTLS-SRTP handshake as a SIP leg runs it, both
//! ends in process (a client association as the phone, a server association as Ringside's
//! leg, both with Ringside's ECDSA P-256 certificate and the fingerprint check), flights
//! passed between them until both have keys: the CPU a call's DTLS leg costs per media
//! component (twice per leg without rtcp-mux), both ends counted.
//!
//! `cargo bench -p ringside-benches --bench relay_path`

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ringside_media::bridge::Forward;
use ringside_media::codec::frame::MAX_ENCODED_FRAME_BYTES;
use ringside_media::codec::{CodecKind, EncoderOptions, FrameEncoder};
use ringside_media::rtp::packet::RtpHeader;
use ringside_media::srtp::{random_master, SrtpKeys, SrtpSession, SrtpSuite};
use ringside_media::{CallMedia, FrameSink, LegCodec, Side};

#[path = "speech.rs"]
mod speech;

const TICK: Duration = Duration::from_millis(20);
const OPUS_PT: u8 = 111;

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

/// 50 RTP packets (1 s) of speech as `kind`, encoded at `rate` Hz.
fn packets(kind: CodecKind, rate: u32, pt: u8) -> Vec<Vec<u8>> {
    let frame = rate as usize / 50;
    let pcm = speech::speech(rate, frame * 50, 7);
    let mut enc = FrameEncoder::new(kind, rate, EncoderOptions::default()).expect("encoder");
    let mut payload = [0u8; MAX_ENCODED_FRAME_BYTES];
    let mut ts = 0u32;
    pcm.chunks_exact(frame)
        .enumerate()
        .map(|(k, f)| {
            let n = enc.encode(f, &mut payload).expect("encode");
            let h = RtpHeader {
                marker: false,
                payload_type: pt,
                sequence: k as u16,
                timestamp: ts,
                ssrc: 0x1234_5678,
                csrcs: &[],
                extension: None,
                padding: 0,
            };
            ts = ts.wrapping_add(enc.rtp_timestamp_increment());
            let mut out = vec![0u8; 12 + n];
            let len = h.write(&payload[..n], &mut out).expect("header");
            out.truncate(len);
            out
        })
        .collect()
}

/// A recording sink that throws the audio away.
struct Discard;

impl FrameSink for Discard {
    fn write(&mut self, left: &[i16], right: &[i16]) {
        black_box((left, right));
    }
    fn finish(self: Box<Self>) {}
}

/// One call on simulated time fed by one leg's peer.
struct Path {
    m: CallMedia,
    now: Instant,
    side: Side,
    src: SocketAddr,
    packets: Vec<Vec<u8>>,
    ts_inc: u32,
    k: usize,
    seq: u16,
    ts: u32,
    buf: Vec<u8>,
    /// The sending phone's SRTP session (both legs encrypted).
    phone: Option<SrtpSession>,
}

/// Both legs SRTP in this suite; `true`: keys passed end to end (SRTP passthrough).
#[derive(Clone, Copy)]
struct Srtp(SrtpSuite, bool);

/// Keys for both directions of one leg: Ringside's, and the phone's mirror image.
fn srtp_leg(suite: SrtpSuite) -> (SrtpKeys, SrtpSession) {
    let phone = random_master(suite).expect("key");
    let ours = random_master(suite).expect("key");
    let phone_session = SrtpSession::new(SrtpKeys {
        suite,
        remote: ours.clone(),
        local: phone.clone(),
    })
    .expect("session");
    (
        SrtpKeys {
            suite,
            remote: phone,
            local: ours,
        },
        phone_session,
    )
}

impl Path {
    fn new(a: LegCodec, b: LegCodec, from: Side, record: bool, srtp: Option<Srtp>) -> Self {
        let now = Instant::now();
        let mut m = CallMedia::new(now, SystemTime::now(), 42);
        m.announce(Side::A, addr("127.0.0.1:40000"));
        m.announce(Side::B, addr("127.0.0.1:50000"));
        m.set_codec(Side::A, a);
        m.set_codec(Side::B, b);
        if record {
            m.record(now, Box::new(Discard));
        }
        let phone = srtp.map(|Srtp(suite, passed)| {
            let (ka, phone) = srtp_leg(suite);
            let (mut kb, _) = srtp_leg(suite);
            if passed {
                // Passthrough: the other leg sends with the key this phone sends with.
                kb.local = ka.remote.clone();
            }
            m.set_srtp(from, Some(ka)).expect("keys");
            let other = if from == Side::A { Side::B } else { Side::A };
            m.set_srtp(other, Some(kb)).expect("keys");
            assert_eq!(m.is_srtp_passthrough(other), passed);
            phone
        });
        let codec = if from == Side::A { a } else { b };
        let rate = if codec.kind == CodecKind::Opus {
            48000
        } else {
            8000
        };
        Path {
            m,
            now,
            side: from,
            src: addr(if from == Side::A {
                "127.0.0.1:40000"
            } else {
                "127.0.0.1:50000"
            }),
            packets: packets(codec.kind, rate, codec.payload_type),
            ts_inc: codec.kind.rtp_timestamp_increment(),
            k: 0,
            seq: 1000,
            ts: 5000,
            buf: vec![0u8; 1500],
            phone,
        }
    }

    /// The phone's side of a step alone: the next packet, encrypted.
    fn protect_only(&mut self) -> usize {
        let p = &self.packets[self.k];
        self.k = (self.k + 1) % self.packets.len();
        let len = p.len();
        self.buf[..len].copy_from_slice(p);
        self.buf[2..4].copy_from_slice(&self.seq.to_be_bytes());
        self.seq = self.seq.wrapping_add(1);
        match &mut self.phone {
            Some(s) => s.protect_rtp(&mut self.buf, len).expect("protect"),
            None => len,
        }
    }

    /// One 20 ms step: timers, one packet in, everything it produced out. Returns the bytes
    /// sent.
    fn step(&mut self) -> usize {
        self.now += TICK;
        while let Some(t) = self.m.poll_timeout().filter(|t| *t <= self.now) {
            self.m.handle_timeout(t);
        }
        let p = &self.packets[self.k];
        self.k = (self.k + 1) % self.packets.len();
        let len = p.len();
        self.buf[..len].copy_from_slice(p);
        self.buf[2..4].copy_from_slice(&self.seq.to_be_bytes());
        self.buf[4..8].copy_from_slice(&self.ts.to_be_bytes());
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(self.ts_inc);
        let len = match &mut self.phone {
            Some(s) => s.protect_rtp(&mut self.buf, len).expect("protect"),
            None => len,
        };
        let mut sent = match self
            .m
            .handle_rtp(self.now, self.side, self.src, &mut self.buf, len)
        {
            Ok(Forward::InPlace { len, .. }) => len,
            Ok(Forward::None) => 0,
            Err(e) => panic!("dropped: {e:?}"),
        };
        while let Some(t) = self.m.poll_transmit() {
            sent += t.data.len();
            self.m.recycle(t.data);
        }
        sent
    }
}

fn relay_path(c: &mut Criterion) {
    let pcmu = LegCodec::new(CodecKind::Pcmu, 0);
    let opus = LegCodec::new(CodecKind::Opus, OPUS_PT);
    let mut g = c.benchmark_group("relay_path");
    g.throughput(Throughput::Elements(1));
    let (cm80, gcm) = (
        Some(Srtp(SrtpSuite::AesCm128HmacSha1_80, false)),
        Some(Srtp(SrtpSuite::AeadAes128Gcm, false)),
    );
    let (pass80, pass_gcm) = (
        Some(Srtp(SrtpSuite::AesCm128HmacSha1_80, true)),
        Some(Srtp(SrtpSuite::AeadAes128Gcm, true)),
    );
    let cases = [
        ("pcmu_passthrough", pcmu, pcmu, Side::A, false, None),
        ("pcmu_to_opus", pcmu, opus, Side::A, false, None),
        ("opus_to_pcmu", pcmu, opus, Side::B, false, None),
        (
            "pcmu_passthrough_recording",
            pcmu,
            pcmu,
            Side::A,
            true,
            None,
        ),
        ("pcmu_passthrough_srtp_80", pcmu, pcmu, Side::A, false, cm80),
        ("pcmu_passthrough_srtp_gcm", pcmu, pcmu, Side::A, false, gcm),
        (
            "pcmu_srtp_passthrough_80",
            pcmu,
            pcmu,
            Side::A,
            false,
            pass80,
        ),
        (
            "pcmu_srtp_passthrough_gcm",
            pcmu,
            pcmu,
            Side::A,
            false,
            pass_gcm,
        ),
    ];
    for (name, suite) in [
        ("srtp_phone_protect_80", cm80),
        ("srtp_phone_protect_gcm", gcm),
    ] {
        let mut path = Path::new(pcmu, pcmu, Side::A, false, suite);
        g.bench_function(name, |bch| bch.iter(|| black_box(path.protect_only())));
    }
    for (name, a, b, from, record, srtp) in cases {
        let mut path = Path::new(a, b, from, record, srtp);
        // Create the codec state before measuring.
        for _ in 0..50 {
            path.step();
        }
        g.bench_function(name, |bch| bch.iter(|| black_box(path.step())));
    }
    g.finish();
}

fn dtls_handshake(c: &mut Criterion) {
    use ringside_media::dtls::{local_fingerprint, Association, DtlsRole, DtlsSetup};
    let me = local_fingerprint().expect("a DTLS certificate");
    let (phone, leg): (SocketAddr, SocketAddr) = (
        "127.0.0.1:40000".parse().unwrap(),
        "127.0.0.1:30000".parse().unwrap(),
    );
    let server = DtlsSetup {
        role: DtlsRole::Server,
        remote: me.clone(),
        peer: Some(phone),
    };
    let client = DtlsSetup {
        role: DtlsRole::Client,
        remote: me,
        peer: Some(leg),
    };
    let mut g = c.benchmark_group("dtls");
    g.throughput(Throughput::Elements(1));
    g.bench_function("dtls_handshake", |bch| {
        bch.iter(|| {
            let now = Instant::now();
            let mut s = Association::new(now, &server, None).unwrap();
            let mut p = Association::new(now, &client, Some(leg)).unwrap();
            for _ in 0..10 {
                let mut moved = false;
                while let Some((_, d)) = p.poll_transmit() {
                    s.handle(now, phone, &d);
                    moved = true;
                }
                while let Some((_, d)) = s.poll_transmit() {
                    p.handle(now, leg, &d);
                    moved = true;
                }
                if !moved {
                    break;
                }
            }
            assert!(s.keys().is_some() && p.keys().is_some());
            black_box(s.keys().map(|k| k.local.len()))
        })
    });
    g.finish();
}

criterion_group!(benches, relay_path, dtls_handshake);
criterion_main!(benches);
