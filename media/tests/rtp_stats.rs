//! Receive statistics, jitter, RTT and the bridging rewriter on simulated streams.

use std::time::{Duration, Instant};

use ringside_media::rtp::ntp::{ntp_from_unix, ntp_middle32};
use ringside_media::rtp::packet::{RtpHeader, RtpPacket};
use ringside_media::rtp::rtcp::ReportBlock;
use ringside_media::rtp::stats::{rtt, ReceiverStats};
use ringside_media::rtp::Rewriter;

const PTIME: Duration = Duration::from_millis(20);

/// Feeds `seqs` with timestamps 160 apart (modulo sequence) and perfect 20 ms arrival spacing.
fn feed(s: &mut ReceiverStats, t0: Instant, seqs: &[u16]) {
    for &seq in seqs {
        let ts = u32::from(seq).wrapping_mul(160);
        s.receive(seq, ts, t0 + PTIME * u32::from(seq.wrapping_sub(65_530)));
    }
}

#[test]
fn loss_reordering_duplicates_and_wraparound() {
    let t0 = Instant::now();
    let mut s = ReceiverStats::new(0xABCD, 8000);
    // Interval 1: 65530 is the probation packet, the source becomes valid at 65531 (base).
    // 65534 and 4 are lost, 1 arrives late, 0 is duplicated.
    feed(
        &mut s,
        t0,
        &[65530, 65531, 65532, 65533, 65535, 0, 0, 2, 1, 3, 5],
    );
    // Valid: 65531, 65532, 65533, 65535, 0, 0 (dup), 2, 1, 3, 5 = 10 received.
    // Extended max = 65536 + 5 = 65541; expected = 65541 - 65531 + 1 = 11.
    assert_eq!(s.received(), 10);
    assert_eq!(s.extended_highest_seq(), 65_541);
    assert_eq!(s.expected(), 11);
    assert_eq!(s.cumulative_lost(), 1); // two lost, one duplicate
    let rb = s.report_block(t0);
    assert_eq!(rb.ssrc, 0xABCD);
    assert_eq!(rb.extended_highest_seq, 65_541);
    assert_eq!(rb.cumulative_lost, 1);
    assert_eq!(rb.fraction_lost, 23); // 1 * 256 / 11 = 23.27
    assert_eq!((rb.lsr, rb.dlsr), (0, 0));

    // Interval 2: 6..=15 with 8, 9, 10 lost: expected 10, received 7, lost 3.
    feed(&mut s, t0, &[6, 7, 11, 12, 13, 14, 15]);
    let rb = s.report_block(t0);
    assert_eq!(rb.extended_highest_seq, 65_536 + 15);
    assert_eq!(rb.cumulative_lost, 4); // expected 21 - received 17
    assert_eq!(rb.fraction_lost, 76); // 3 * 256 / 10 = 76.8

    // Interval 3: 16..=19 and a duplicate 19: received more than expected -> fraction 0.
    feed(&mut s, t0, &[16, 17, 18, 19, 19]);
    let rb = s.report_block(t0);
    assert_eq!(rb.cumulative_lost, 3);
    assert_eq!(rb.fraction_lost, 0);

    // Interval 4: nothing received -> fraction 0, nothing changes.
    let rb = s.report_block(t0);
    assert_eq!((rb.fraction_lost, rb.cumulative_lost), (0, 3));
}

#[test]
fn old_packets_beyond_misorder_are_treated_as_jump() {
    let t0 = Instant::now();
    let mut s = ReceiverStats::new(1, 8000);
    for seq in 1000..1010 {
        s.receive(seq, 0, t0);
    }
    // 200 behind is more than MAX_MISORDER: not counted.
    assert!(!s.receive(809, 0, t0));
    // 50 behind is a reordered packet: counted, max unchanged.
    assert!(s.receive(959, 0, t0));
    assert_eq!(s.extended_highest_seq(), 1009);
    assert_eq!(s.received(), 10);
}

#[test]
fn constant_transit_has_zero_jitter() {
    let t0 = Instant::now();
    let mut s = ReceiverStats::new(1, 8000);
    for i in 0..500u32 {
        // A fixed network delay of 37 ms does not matter, only its variation.
        let at = t0 + Duration::from_millis(37) + PTIME * i;
        s.receive(i as u16, 1_000_000 + 160 * i, at);
    }
    assert_eq!(s.jitter(), 0);
    assert_eq!(s.report_block(t0).jitter, 0);
}

#[test]
fn alternating_delay_converges_to_rfc_value() {
    // Every other packet is delayed by X = 10 ms (80 units at 8 kHz), so |D| = 80 for every
    // pair and J = J + (|D| - J) / 16 converges to 80.
    let t0 = Instant::now();
    let mut s = ReceiverStats::new(1, 8000);
    let x = Duration::from_millis(10);
    for i in 0..400u32 {
        let at = t0 + PTIME * i + if i % 2 == 1 { x } else { Duration::ZERO };
        s.receive(i as u16, 160 * i, at);
    }
    let j = s.jitter();
    assert!((78..=80).contains(&j), "jitter {j}");

    // After 5 packets in the float formula, J = 80 * (1 - (15/16)^n) for n differences.
    let mut s = ReceiverStats::new(1, 8000);
    for i in 0..6u32 {
        let at = t0 + PTIME * i + if i % 2 == 1 { x } else { Duration::ZERO };
        s.receive(i as u16, 160 * i, at);
    }
    // Probation swallows packet 0; differences come from packets 2..=5 (4 of them).
    let expected = 80.0 * (1.0 - (15.0f64 / 16.0).powi(4));
    assert!(
        (f64::from(s.jitter()) - expected).abs() <= 1.0,
        "{}",
        s.jitter()
    );
}

#[test]
fn jitter_uses_the_clock_rate() {
    // Opus at 48 kHz: a 5 ms alternating delay is 240 units.
    let t0 = Instant::now();
    let mut s = ReceiverStats::new(1, 48_000);
    for i in 0..400u32 {
        let at = t0 + PTIME * i + Duration::from_millis(if i % 2 == 1 { 5 } else { 0 });
        s.receive(i as u16, 960 * i, at);
    }
    assert!((236..=240).contains(&s.jitter()), "{}", s.jitter());
}

#[test]
fn rtt_from_lsr_and_dlsr() {
    // We sent an SR at wallclock 1_700_000_000.250 s; the remote held it for 0.5 s and its RR
    // reached us at 1_700_000_000.900 s: RTT = 0.650 - 0.5 = 150 ms.
    let sr_ntp = ntp_from_unix(Duration::from_millis(1_700_000_000_250));
    let block = ReportBlock {
        lsr: ntp_middle32(sr_ntp),
        dlsr: 0x8000,
        ..Default::default()
    };
    let now = ntp_from_unix(Duration::from_millis(1_700_000_000_900));
    let d = rtt(&block, now).unwrap();
    assert!(
        d.abs_diff(Duration::from_millis(150)) < Duration::from_micros(50),
        "{d:?}"
    );
}

#[test]
fn rtt_round_trip_through_receiver_stats() {
    // The remote's stats produce LSR/DLSR from our SR; we compute RTT on its arrival.
    let t0 = Instant::now();
    let mut remote = ReceiverStats::new(1, 8000);
    remote.receive(1, 0, t0);
    remote.receive(2, 160, t0 + PTIME);
    let sr_ntp = ntp_from_unix(Duration::from_secs(1_800_000_000));
    // One-way delay 40 ms, held 300 ms, 40 ms back.
    remote.on_sender_report(sr_ntp, t0 + Duration::from_millis(40));
    let block = remote.report_block(t0 + Duration::from_millis(340));
    let arrival = ntp_from_unix(Duration::from_millis(1_800_000_000_380));
    let d = rtt(&block, arrival).unwrap();
    assert!(
        d.abs_diff(Duration::from_millis(80)) < Duration::from_micros(50),
        "{d:?}"
    );
}

fn packet(ssrc: u32, seq: u16, ts: u32, buf: &mut [u8]) -> usize {
    RtpHeader {
        payload_type: 0,
        sequence: seq,
        timestamp: ts,
        ssrc,
        ..Default::default()
    }
    .write(&[0xFF; 160], buf)
    .unwrap()
}

#[test]
fn rewriter_is_continuous_across_ssrc_change() {
    let t0 = Instant::now();
    let mut r = Rewriter::new(0x0BAD_CAFE, 8000, 65_533, 4_294_967_000);
    let mut out = Vec::new();
    let mut buf = [0u8; 200];
    // Source A: 5 packets, crossing the outgoing sequence and timestamp wrap.
    for i in 0..5u16 {
        let n = packet(0xA, 100 + i, 8000 + 160 * u32::from(i), &mut buf);
        r.rewrite_packet(&mut buf[..n], t0 + PTIME * u32::from(i))
            .unwrap();
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        out.push((p.ssrc(), p.sequence(), p.timestamp(), p.marker()));
    }
    // Re-INVITE: source B with unrelated SSRC, sequence and timestamp, 20 ms after A's last.
    for i in 0..5u16 {
        let n = packet(0xB, 40_000 + i, 123_456_789 + 160 * u32::from(i), &mut buf);
        r.rewrite_packet(&mut buf[..n], t0 + PTIME * u32::from(5 + i))
            .unwrap();
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        out.push((p.ssrc(), p.sequence(), p.timestamp(), p.marker()));
    }
    for (i, &(ssrc, seq, ts, marker)) in out.iter().enumerate() {
        assert_eq!(ssrc, 0x0BAD_CAFE);
        assert_eq!(seq, 65_533u16.wrapping_add(i as u16), "packet {i}");
        assert_eq!(
            ts,
            4_294_967_000u32.wrapping_add(160 * i as u32),
            "packet {i}"
        );
        assert_eq!(marker, i == 0 || i == 5, "packet {i}");
    }
}

#[test]
fn rewriter_handles_incoming_wrap_and_silence_gap() {
    let t0 = Instant::now();
    let mut r = Rewriter::new(7, 8000, 1000, 0);
    // The incoming sequence and timestamp wrap within one source: no resync.
    let mut last = None;
    for i in 0..6u32 {
        let seq = 65_533u16.wrapping_add(i as u16);
        let ts = (u32::MAX - 300).wrapping_add(160 * i);
        let w = r.rewrite(1, seq, ts, t0 + PTIME * i);
        assert_eq!(w.resynced, i == 0);
        assert_eq!(w.seq, 1000 + i as u16);
        assert_eq!(w.ts, 160 * i);
        last = Some(w);
    }
    // The new source starts after 1 s of silence: timestamp advances by 8000 units.
    let at = t0 + PTIME * 5 + Duration::from_secs(1);
    let w = r.rewrite(2, 9, 9, at);
    let last = last.unwrap();
    assert!(w.resynced);
    assert_eq!(w.seq, last.seq + 1);
    assert_eq!(w.ts, last.ts + 8000);
    // Switching back to the first source resyncs again rather than reusing old offsets.
    let w2 = r.rewrite(1, 3, 1_000, at + PTIME);
    assert_eq!((w2.seq, w2.ts, w2.resynced), (w.seq + 1, w.ts + 160, true));
}
