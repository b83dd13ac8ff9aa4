//! RTP packet parsing and writing: captures, round trips and property tests.

use proptest::prelude::*;
use ringside_media::rtp::packet::{rewrite_header, RtpError, RtpHeader, RtpPacket};

/// A 20 ms PCMU packet (160 payload bytes of μ-law silence) as sent by a desk phone:
/// V=2, PT 0, seq 23456, ts 3_752_160, SSRC 0x5C1E_4F2A.
fn pcmu_capture() -> Vec<u8> {
    let mut pkt = vec![
        0x80, 0x00, 0x5B, 0xA0, 0x00, 0x39, 0x40, 0xE0, 0x5C, 0x1E, 0x4F, 0x2A,
    ];
    pkt.extend(std::iter::repeat_n(0xFF, 160));
    pkt
}

/// A telephone-event (RFC 4733) packet with the marker bit set: PT 101, digit 5, end bit.
const DTMF_CAPTURE: [u8; 16] = [
    0x80, 0xE5, 0x01, 0x02, 0x00, 0x00, 0x1F, 0x40, 0x12, 0x34, 0x56, 0x78, 0x05, 0x8A, 0x03, 0x20,
];

#[test]
fn pcmu_capture_parses() {
    let pkt = pcmu_capture();
    let p = RtpPacket::parse(&pkt).unwrap();
    assert_eq!(p.payload_type(), 0);
    assert!(!p.marker());
    assert_eq!(p.sequence(), 23456);
    assert_eq!(p.timestamp(), 3_752_160);
    assert_eq!(p.ssrc(), 0x5C1E_4F2A);
    assert_eq!(p.payload().len(), 160);
    assert!(p.payload().iter().all(|&b| b == 0xFF));
    assert_eq!(p.as_bytes().len(), 172);
}

#[test]
fn dtmf_capture_parses() {
    let p = RtpPacket::parse(&DTMF_CAPTURE).unwrap();
    assert!(p.marker());
    assert_eq!(p.payload_type(), 101);
    assert_eq!(p.sequence(), 0x0102);
    assert_eq!(p.timestamp(), 8000);
    assert_eq!(p.payload(), &[0x05, 0x8A, 0x03, 0x20]);
}

#[test]
fn write_then_parse_pcmu() {
    let payload = [0x7Fu8; 160];
    let mut buf = [0u8; 1500];
    let n = RtpHeader {
        marker: true,
        payload_type: 0,
        sequence: 65535,
        timestamp: u32::MAX,
        ssrc: 42,
        ..Default::default()
    }
    .write(&payload, &mut buf)
    .unwrap();
    assert_eq!(n, 172);
    let p = RtpPacket::parse(&buf[..n]).unwrap();
    assert!(p.marker());
    assert_eq!(
        (p.sequence(), p.timestamp(), p.ssrc()),
        (65535, u32::MAX, 42)
    );
    assert_eq!(p.payload(), &payload[..]);
}

#[test]
fn header_round_trips_through_packet() {
    let pkt = pcmu_capture();
    let p = RtpPacket::parse(&pkt).unwrap();
    let mut out = vec![0u8; pkt.len()];
    let n = p.header().write(p.payload(), &mut out).unwrap();
    assert_eq!(&out[..n], &pkt[..]);
}

#[test]
fn relay_rewrite_keeps_payload_and_flags() {
    let mut pkt = DTMF_CAPTURE;
    rewrite_header(&mut pkt, 0xAABB_CCDD, 9, 16_000).unwrap();
    let p = RtpPacket::parse(&pkt).unwrap();
    assert!(p.marker());
    assert_eq!(p.payload_type(), 101);
    assert_eq!(
        (p.ssrc(), p.sequence(), p.timestamp()),
        (0xAABB_CCDD, 9, 16_000)
    );
    assert_eq!(p.payload(), &DTMF_CAPTURE[12..]);
}

#[test]
fn empty_and_short_inputs_are_errors() {
    assert!(matches!(
        RtpPacket::parse(&[]),
        Err(RtpError::Truncated {
            needed: 12,
            have: 0
        })
    ));
    // An RTCP SR is version 2 too but parses as RTP with PT 72: callers demultiplex by port or
    // by RFC 5761 payload-type range before parsing.
    assert!(RtpPacket::parse(&[0x80, 0xC8, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0]).is_ok());
}

proptest! {
    #[test]
    fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(p) = RtpPacket::parse(&data) {
            let _ = (p.payload(), p.extension(), p.csrcs().count(), p.header());
            prop_assert!(p.header_len() + p.payload().len() + p.padding_len() == data.len());
        }
    }

    #[test]
    fn parse_never_panics_on_rtp_like_bytes(
        first in 0x80u8..0xC0,
        rest in proptest::collection::vec(any::<u8>(), 0..120),
    ) {
        let mut data = vec![first];
        data.extend(rest);
        let _ = RtpPacket::parse(&data);
    }

    #[test]
    fn build_parse_round_trip(
        marker in any::<bool>(),
        payload_type in 0u8..128,
        sequence in any::<u16>(),
        timestamp in any::<u32>(),
        ssrc in any::<u32>(),
        csrc_count in 0usize..16,
        csrc_seed in any::<u32>(),
        ext in proptest::option::of((any::<u16>(), proptest::collection::vec(any::<u8>(), 0..6))),
        padding in any::<u8>(),
        payload in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let csrcs: Vec<u8> = (0..csrc_count as u32)
            .flat_map(|i| csrc_seed.wrapping_add(i).to_be_bytes())
            .collect();
        let ext_data: Vec<u8> = ext
            .as_ref()
            .map(|(_, words)| words.iter().flat_map(|w| [*w, 0, w.wrapping_mul(3), 1]).collect())
            .unwrap_or_default();
        let header = RtpHeader {
            marker,
            payload_type,
            sequence,
            timestamp,
            ssrc,
            csrcs: &csrcs,
            extension: ext.as_ref().map(|(profile, _)| (*profile, &ext_data[..])),
            padding,
        };
        let mut buf = vec![0u8; 2000];
        let n = header.write(&payload, &mut buf).unwrap();
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        prop_assert_eq!(p.header(), header);
        prop_assert_eq!(p.payload(), &payload[..]);
        prop_assert_eq!(p.csrcs().count(), csrc_count);
        prop_assert_eq!(n, header.header_len() + payload.len() + usize::from(padding));
    }
}
