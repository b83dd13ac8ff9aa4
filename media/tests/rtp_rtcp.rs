//! RTCP compound parsing and SR/RR/SDES/BYE builders: captures, round trips and property tests.

use proptest::prelude::*;
use ringside_media::rtp::rtcp::{
    parse_compound, write_bye, write_rr, write_sdes_cname, write_sr, ReportBlock, RtcpError,
    RtcpPacket, SenderInfo, PT_SR,
};

/// SR with one report block followed by SDES CNAME "user@example.com", laid out per RFC 3550
/// 6.4.1 and 6.5 (as a softphone sends it every ~5 s).
const SR_SDES: [u8; 80] = [
    // SR header: V=2 RC=1 PT=200 length=12
    0x81, 0xC8, 0x00, 0x0C, //
    0x5C, 0x1E, 0x4F, 0x2A, // SSRC of sender
    0xE9, 0x1A, 0x2B, 0x3C, 0x80, 0x00, 0x00, 0x00, // NTP
    0x00, 0x39, 0x40, 0xE0, // RTP timestamp
    0x00, 0x00, 0x01, 0xF4, // packet count 500
    0x00, 0x01, 0x38, 0x80, // octet count 80000
    // report block
    0x11, 0x22, 0x33, 0x44, // SSRC_1
    0x19, 0x00, 0x00, 0x07, // fraction 25/256, cumulative lost 7
    0x00, 0x01, 0x5B, 0xA0, // extended highest seq (1 cycle, 23456)
    0x00, 0x00, 0x00, 0x2A, // jitter 42
    0x2B, 0x3C, 0x40, 0x00, // LSR
    0x00, 0x00, 0x80, 0x00, // DLSR 0.5 s
    // SDES header: V=2 SC=1 PT=202 length=6
    0x81, 0xCA, 0x00, 0x06, //
    0x5C, 0x1E, 0x4F, 0x2A, // SSRC
    0x01, 0x10, b'u', b's', b'e', b'r', b'@', b'e', b'x', b'a', b'm', b'p', b'l', b'e', b'.', b'c',
    b'o', b'm', 0x00, 0x00, // END + pad
];

#[test]
fn sr_sdes_capture_parses() {
    let pkts: Vec<_> = parse_compound(&SR_SDES).collect::<Result<_, _>>().unwrap();
    assert_eq!(pkts.len(), 2);
    let RtcpPacket::SenderReport { ssrc, info, .. } = pkts[0] else {
        panic!("expected SR, got {:?}", pkts[0]);
    };
    assert_eq!(ssrc, 0x5C1E_4F2A);
    assert_eq!(
        info,
        SenderInfo {
            ntp: 0xE91A_2B3C_8000_0000,
            rtp_timestamp: 3_752_160,
            packet_count: 500,
            octet_count: 80_000,
        }
    );
    let blocks: Vec<_> = pkts[0].report_blocks().collect();
    assert_eq!(
        blocks,
        vec![ReportBlock {
            ssrc: 0x1122_3344,
            fraction_lost: 25,
            cumulative_lost: 7,
            extended_highest_seq: 0x1_5BA0,
            jitter: 42,
            lsr: 0x2B3C_4000,
            dlsr: 0x8000,
        }]
    );
    let chunks: Vec<_> = pkts[1].sdes_chunks().collect();
    assert_eq!(chunks, vec![(0x5C1E_4F2A, Some(&b"user@example.com"[..]))]);
}

#[test]
fn build_compound_round_trip() {
    let block = ReportBlock {
        ssrc: 9,
        fraction_lost: 255,
        cumulative_lost: -3,
        extended_highest_seq: 70_000,
        jitter: 1234,
        lsr: 0xDEAD_BEEF,
        dlsr: 65_536,
    };
    let info = SenderInfo {
        ntp: 1 << 40,
        rtp_timestamp: 7,
        packet_count: 8,
        octet_count: 9,
    };
    let mut buf = [0u8; 512];
    let mut n = write_sr(1, &info, &[block, block], &mut buf).unwrap();
    assert_eq!(n, 28 + 48);
    n += write_sdes_cname(1, b"ringside", &mut buf[n..]).unwrap();
    n += write_rr(2, &[block], &mut buf[n..]).unwrap();
    n += write_bye(&[1, 2], Some(b"hangup"), &mut buf[n..]).unwrap();
    assert_eq!(n % 4, 0);
    let pkts: Vec<_> = parse_compound(&buf[..n]).collect::<Result<_, _>>().unwrap();
    assert_eq!(pkts.len(), 4);
    assert!(matches!(pkts[0], RtcpPacket::SenderReport { ssrc: 1, info: i, .. } if i == info));
    assert_eq!(pkts[0].report_blocks().collect::<Vec<_>>(), vec![block; 2]);
    assert_eq!(
        pkts[1].sdes_chunks().collect::<Vec<_>>(),
        vec![(1, Some(&b"ringside"[..]))]
    );
    assert!(matches!(
        pkts[2],
        RtcpPacket::ReceiverReport { ssrc: 2, .. }
    ));
    assert_eq!(pkts[2].report_blocks().collect::<Vec<_>>(), vec![block]);
    assert_eq!(pkts[3].bye_sources().collect::<Vec<_>>(), vec![1, 2]);
    assert!(matches!(
        pkts[3],
        RtcpPacket::Goodbye {
            reason: Some(b"hangup"),
            ..
        }
    ));
}

#[test]
fn empty_rr_and_cname_lengths() {
    let mut buf = [0u8; 64];
    assert_eq!(write_rr(5, &[], &mut buf).unwrap(), 8);
    assert_eq!(&buf[..4], &[0x80, 0xC9, 0x00, 0x01]);
    // 4 header + 4 SSRC + 2 + 2 text + END = 13 -> 16 bytes.
    assert_eq!(write_sdes_cname(5, b"ab", &mut buf).unwrap(), 16);
    // An empty CNAME still yields an item.
    let n = write_sdes_cname(5, b"", &mut buf).unwrap();
    let pkt = parse_compound(&buf[..n]).next().unwrap().unwrap();
    assert_eq!(pkt.sdes_chunks().next(), Some((5, Some(&b""[..]))));
}

#[test]
fn unknown_types_are_skipped() {
    let mut buf = [0u8; 128];
    // APP packet (PT 204): name "TEST" plus one word of data.
    buf[..12].copy_from_slice(&[0x81, 0xCC, 0x00, 0x02, 0, 0, 0, 1, b'T', b'E', b'S', b'T']);
    let n = 12 + write_rr(3, &[], &mut buf[12..]).unwrap();
    let pkts: Vec<_> = parse_compound(&buf[..n]).collect::<Result<_, _>>().unwrap();
    assert!(matches!(
        pkts[0],
        RtcpPacket::Unknown {
            packet_type: 204,
            count: 1,
            body
        } if body.len() == 8
    ));
    assert!(matches!(
        pkts[1],
        RtcpPacket::ReceiverReport { ssrc: 3, .. }
    ));
    assert_eq!(pkts[0].report_blocks().count(), 0);
}

#[test]
fn padding_in_last_packet_is_stripped() {
    // RR without blocks, P bit set, 4 bytes of padding.
    let pkt = [0xA0, 0xC9, 0x00, 0x02, 0, 0, 0, 7, 0, 0, 0, 4];
    let p = parse_compound(&pkt).next().unwrap().unwrap();
    assert!(matches!(p, RtcpPacket::ReceiverReport { ssrc: 7, .. }));
    let bad = [0xA0, 0xC9, 0x00, 0x02, 0, 0, 0, 7, 0, 0, 0, 9];
    assert_eq!(
        parse_compound(&bad).next(),
        Some(Err(RtcpError::BadPadding))
    );
}

#[test]
fn malformed_packets_are_errors() {
    // Truncated: length says 12 words but only the header follows.
    assert_eq!(
        parse_compound(&SR_SDES[..8]).next(),
        Some(Err(RtcpError::Truncated))
    );
    // Version 1.
    let mut v1 = SR_SDES;
    v1[0] = 0x41;
    assert_eq!(
        parse_compound(&v1).next(),
        Some(Err(RtcpError::BadVersion(1)))
    );
    // RC says 2 blocks but the length only fits 1.
    let mut rc = SR_SDES;
    rc[0] = 0x82;
    assert_eq!(
        parse_compound(&rc).next(),
        Some(Err(RtcpError::Malformed(PT_SR)))
    );
    // SDES item running past the packet.
    let mut sdes = SR_SDES;
    sdes[61] = 0x40;
    let mut it = parse_compound(&sdes);
    assert!(it.next().unwrap().is_ok());
    assert_eq!(it.next(), Some(Err(RtcpError::Malformed(202))));
    assert_eq!(it.next(), None);
    // Trailing garbage after a valid packet.
    let mut tail = SR_SDES.to_vec();
    tail.push(0x80);
    assert_eq!(
        parse_compound(&tail).nth(2),
        Some(Err(RtcpError::Truncated))
    );
}

#[test]
fn builders_check_limits() {
    let mut small = [0u8; 20];
    assert!(matches!(
        write_sr(1, &SenderInfo::default(), &[], &mut small),
        Err(RtcpError::BufferTooSmall {
            needed: 28,
            have: 20
        })
    ));
    let mut big = [0u8; 2048];
    assert_eq!(
        write_rr(1, &[ReportBlock::default(); 32], &mut big),
        Err(RtcpError::TooLarge)
    );
    assert_eq!(
        write_sdes_cname(1, &[b'a'; 256], &mut big),
        Err(RtcpError::TooLarge)
    );
    // Out-of-range cumulative loss is clamped to 24 bits.
    let block = ReportBlock {
        cumulative_lost: 1 << 30,
        ..Default::default()
    };
    let n = write_rr(1, &[block], &mut big).unwrap();
    let pkt = parse_compound(&big[..n]).next().unwrap().unwrap();
    assert_eq!(
        pkt.report_blocks().next().unwrap().cumulative_lost,
        0x7F_FFFF
    );
}

fn block_strategy() -> impl Strategy<Value = ReportBlock> {
    (
        any::<u32>(),
        any::<u8>(),
        -0x80_0000i32..0x80_0000,
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(
            |(ssrc, fraction_lost, cumulative_lost, ext, jitter, lsr, dlsr)| ReportBlock {
                ssrc,
                fraction_lost,
                cumulative_lost,
                extended_highest_seq: ext,
                jitter,
                lsr,
                dlsr,
            },
        )
}

proptest! {
    #[test]
    fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        for pkt in parse_compound(&data) {
            let Ok(pkt) = pkt else { break };
            let _ = pkt.report_blocks().count();
            let _ = pkt.sdes_chunks().count();
            let _ = pkt.bye_sources().count();
        }
    }

    #[test]
    fn parse_never_panics_on_rtcp_like_headers(
        first in 0x80u8..0xC0,
        pt in 200u8..205,
        len in 0u8..8,
        rest in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut data = vec![first, pt, 0, len];
        data.extend(rest);
        for pkt in parse_compound(&data).flatten() {
            let _ = pkt.sdes_chunks().count();
        }
    }

    #[test]
    fn sr_rr_round_trip(
        ssrc in any::<u32>(),
        ntp in any::<u64>(),
        rtp_timestamp in any::<u32>(),
        blocks in proptest::collection::vec(block_strategy(), 0..32),
    ) {
        let info = SenderInfo { ntp, rtp_timestamp, packet_count: 1, octet_count: 2 };
        let mut buf = vec![0u8; 2048];
        let mut n = write_sr(ssrc, &info, &blocks, &mut buf).unwrap();
        n += write_rr(ssrc, &blocks, &mut buf[n..]).unwrap();
        let pkts: Vec<_> = parse_compound(&buf[..n]).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(pkts.len(), 2);
        let is_sr = matches!(pkts[0], RtcpPacket::SenderReport { info: i, .. } if i == info);
        prop_assert!(is_sr);
        prop_assert_eq!(pkts[0].report_blocks().collect::<Vec<_>>(), blocks.clone());
        prop_assert_eq!(pkts[1].report_blocks().collect::<Vec<_>>(), blocks);
    }
}
