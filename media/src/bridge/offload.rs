//! A call's established media handed to the kernel fast path ([`crate::fastpath`]) and taken
//! back: when a call is a pure passthrough whose legs are both latched and steady, each
//! direction is described as an [`Offload`] (who sends, what is forwarded, how it is
//! rewritten); while the kernel forwards it, what it counted is absorbed here, so statistics,
//! RTCP reports and the rewriter's continuity stay as if every packet had come through.

use std::net::SocketAddr;
use std::time::Instant;

use super::{idx, CallMedia};
use crate::fastpath::LegCounters;
use crate::Side;

/// Packets a leg's current source must have sent (past its probation) before its media is
/// handed to the kernel: a leg still settling (latching, a new source) stays here.
pub const OFFLOAD_AFTER_PACKETS: u32 = 25;

/// One direction of a call's media as the kernel forwards it: packets from `from`'s peer to
/// the other leg's peer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Offload {
    /// The leg the packets come in on.
    pub from: Side,
    /// Its latched peer: the only source forwarded.
    pub peer: SocketAddr,
    /// The payload type forwarded (the leg's codec).
    pub in_pt: u8,
    /// The payload type on the other leg.
    pub out_pt: u8,
    /// The peer's current SSRC.
    pub in_ssrc: u32,
    /// The other leg's peer.
    pub to: SocketAddr,
    /// The SSRC the other leg receives.
    pub out_ssrc: u32,
    /// Sequence and timestamp offsets of the current source.
    pub seq_offset: u16,
    /// See `seq_offset`.
    pub ts_offset: u32,
    /// The RTP clock rate.
    pub clock_rate: u32,
    /// The highest sequence number seen from the peer.
    pub max_seq: u16,
    /// The interarrival jitter so far, timestamp units.
    pub jitter: f64,
}

impl CallMedia {
    /// Both directions of the call as the kernel may forward them, or `None` while the call
    /// needs userspace: transcoding, recording, a player (ringback, hold music, a prompt),
    /// SRTP or DTLS on a leg, a telephone event being carried over, a leg not latched or its
    /// source not yet steady.
    pub fn offload(&self) -> Option<[Offload; 2]> {
        if !self.is_passthrough() || self.recorder.is_some() {
            return None;
        }
        let one = |from: Side| -> Option<Offload> {
            let (i, o) = (idx(from), 1 - idx(from));
            let (leg, other) = (&self.legs[i], &self.legs[o]);
            for l in [leg, other] {
                if l.player.is_some()
                    || l.srtp.is_some()
                    || l.srtp_expected
                    || l.dtls.is_some()
                    || l.dtmf_out.is_some()
                {
                    return None;
                }
            }
            let (codec, out_codec) = (leg.codec?, other.codec?);
            let rx = leg.rx.as_ref()?;
            if !rx.is_valid() || rx.received() < OFFLOAD_AFTER_PACKETS {
                return None;
            }
            let (seq_offset, ts_offset, _) = other.rewriter.as_ref()?.mapping(rx.ssrc())?;
            Some(Offload {
                from,
                peer: leg.rtp_latch.latched()?,
                in_pt: codec.payload_type,
                out_pt: out_codec.payload_type,
                in_ssrc: rx.ssrc(),
                to: other.rtp_latch.destination()?,
                out_ssrc: other.rewriter.as_ref()?.out_ssrc(),
                seq_offset,
                ts_offset,
                clock_rate: codec.kind.rtp_clock_rate(),
                max_seq: rx.max_seq(),
                jitter: rx.jitter_exact(),
            })
        };
        Some([one(Side::A)?, one(Side::B)?])
    }

    /// Whether a packet from `src` on `side`'s RTP would be accepted (not a stranger's).
    pub fn accepts(&self, side: Side, src: SocketAddr) -> bool {
        self.legs[idx(side)].rtp_latch.accepts(src)
    }

    /// Takes in what the kernel forwarded from `from`'s peer since `before` was read (both
    /// cumulative counters of the same rule); `at`: when its last packet arrived.
    pub fn absorb(&mut self, from: Side, before: &LegCounters, now: &LegCounters, at: Instant) {
        let packets = now.packets.saturating_sub(before.packets);
        if packets == 0 && now.reordered == before.reordered {
            return;
        }
        let late = now.reordered.saturating_sub(before.reordered);
        let (i, o) = (idx(from), 1 - idx(from));
        let leg = &mut self.legs[i];
        leg.rtp_in += packets + late;
        if let Some(rx) = &mut leg.rx {
            rx.absorb(
                packets + late,
                now.max_seq,
                now.wraps.saturating_sub(before.wraps),
                now.jitter,
            );
        }
        let other = &mut self.legs[o];
        other.sent_packets += packets + late;
        other.sent_octets += now.octets.saturating_sub(before.octets);
        if packets > 0 {
            other.last_sent_ts = now.last_out.1;
            if let Some(rw) = &mut other.rewriter {
                rw.advance(now.max_seq, now.last_out, at);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::{Forward, LegCodec};
    use crate::codec::frame::CodecKind;
    use crate::player::Source;
    use std::time::{Duration, SystemTime};

    fn pcmu() -> LegCodec {
        LegCodec {
            kind: CodecKind::Pcmu,
            payload_type: 0,
            telephone_event: None,
            telephone_event_rate: 8000,
        }
    }

    fn rtp(seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
        let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p[4..8].copy_from_slice(&ts.to_be_bytes());
        p[8..12].copy_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(&[0xff; 160]);
        p
    }

    const A: &str = "10.0.0.1:4000";
    const B: &str = "10.0.0.2:5000";

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// A passthrough call with `n` packets each way; the last packet out towards B.
    fn call(n: u16) -> (CallMedia, Instant, Vec<u8>) {
        let t0 = Instant::now();
        let mut m = CallMedia::new(t0, SystemTime::now(), 7);
        m.announce(Side::A, addr(A));
        m.announce(Side::B, addr(B));
        m.set_codec(Side::A, pcmu());
        m.set_codec(Side::B, pcmu());
        let mut last = Vec::new();
        for i in 0..n {
            let t = t0 + Duration::from_millis(20 * u64::from(i));
            for (side, src, ssrc) in [(Side::A, A, 0xaaaa), (Side::B, B, 0xbbbb)] {
                let mut buf = rtp(100 + i, 160 * u32::from(i), ssrc);
                let len = buf.len();
                let f = m.handle_rtp(t, side, addr(src), &mut buf, len);
                if let Ok(Forward::InPlace { len, .. }) = f {
                    if side == Side::A {
                        last = buf[..len].to_vec();
                    }
                }
            }
        }
        (m, t0, last)
    }

    #[test]
    fn a_steady_passthrough_call_is_offloaded_both_ways() {
        let (m, _, last) = call(5);
        assert!(m.offload().is_none(), "not steady yet");
        let (m, _, last_b) = call(30);
        let [a, b] = m.offload().expect("steady");
        let _ = last;
        assert_eq!(a.from, Side::A);
        assert_eq!(a.peer, addr(A));
        assert_eq!(a.to, addr(B));
        assert_eq!(
            (a.in_ssrc, a.in_pt, a.out_pt, a.clock_rate),
            (0xaaaa, 0, 0, 8000)
        );
        assert_eq!(a.max_seq, 129);
        // The offsets give what userspace sent last for the last packet.
        let seq = u16::from_be_bytes([last_b[2], last_b[3]]);
        let ts = u32::from_be_bytes([last_b[4], last_b[5], last_b[6], last_b[7]]);
        let ssrc = u32::from_be_bytes([last_b[8], last_b[9], last_b[10], last_b[11]]);
        assert_eq!(129u16.wrapping_add(a.seq_offset), seq);
        assert_eq!((160 * 29u32).wrapping_add(a.ts_offset), ts);
        assert_eq!(a.out_ssrc, ssrc);
        assert_eq!((b.from, b.peer, b.to), (Side::B, addr(B), addr(A)));
    }

    struct Silence;
    impl Source for Silence {
        fn fill(&mut self, out: &mut [i16]) -> usize {
            out.fill(0);
            out.len()
        }
        fn is_finished(&self) -> bool {
            false
        }
    }

    #[test]
    fn hold_music_transcoding_and_strangers_keep_a_call_in_userspace() {
        let (mut m, t0, _) = call(30);
        m.play(t0, Side::A, Box::new(Silence));
        assert!(m.offload().is_none(), "a player");
        m.stop_play(Side::A);
        assert!(m.offload().is_some());
        m.set_codec(
            Side::B,
            LegCodec {
                kind: CodecKind::Pcma,
                payload_type: 8,
                ..pcmu()
            },
        );
        assert!(m.offload().is_none(), "transcoding");
        let (m, _, _) = call(30);
        assert!(m.accepts(Side::A, addr(A)));
        assert!(!m.accepts(Side::A, addr("10.9.9.9:1")));
    }

    #[test]
    fn what_the_kernel_forwarded_is_counted_and_continues_the_stream() {
        let (mut m, t0, _) = call(30);
        let [a, _] = m.offload().unwrap();
        let q = m.quality(Side::A);
        assert_eq!(q.packets_received, 30);
        let sent_b = m.quality(Side::B).packets_sent;
        // The kernel forwards 100 more (seq 130..=229) from A to B.
        let before = LegCounters {
            max_seq: a.max_seq,
            ..LegCounters::default()
        };
        let last_in = 229u16;
        let now = LegCounters {
            packets: 100,
            octets: 16_000,
            max_seq: last_in,
            wraps: 0,
            reordered: 0,
            jitter: 4.0,
            last_out: (
                last_in.wrapping_add(a.seq_offset),
                (160 * 129u32).wrapping_add(a.ts_offset),
            ),
            last_arrival_ns: 1,
        };
        let t = t0 + Duration::from_secs(3);
        m.absorb(Side::A, &before, &now, t);
        let q = m.quality(Side::A);
        assert_eq!(q.packets_received, 130);
        assert_eq!(q.packets_lost, 0);
        assert!((q.jitter_ms - 4.0 / 8.0).abs() < 0.01, "{q:?}");
        assert_eq!(m.quality(Side::B).packets_sent, sent_b + 100);
        // Back in userspace, the next packet follows on without a jump.
        let mut buf = rtp(last_in + 1, 160 * 130, 0xaaaa);
        let len = buf.len();
        let f = m.handle_rtp(
            t + Duration::from_millis(20),
            Side::A,
            addr(A),
            &mut buf,
            len,
        );
        assert!(matches!(f, Ok(Forward::InPlace { .. })), "{f:?}");
        let seq = u16::from_be_bytes([buf[2], buf[3]]);
        assert_eq!(seq, now.last_out.0.wrapping_add(1));
        assert_eq!(buf[1] & 0x80, 0, "no marker: the same source goes on");
        assert_eq!(m.quality(Side::A).packets_received, 131);
        assert_eq!(m.quality(Side::A).packets_lost, 0);
    }
}
