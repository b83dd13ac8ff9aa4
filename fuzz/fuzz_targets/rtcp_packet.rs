//! Fuzzes the compound RTCP parser: walking a datagram and every packet's iterators must never
//! panic, and decoded report blocks must survive an RR round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringside_media::rtp::rtcp::{parse_compound, write_rr, RtcpPacket};

fuzz_target!(|data: &[u8]| {
    let mut buf = [0u8; 8 + 24 * 31];
    for pkt in parse_compound(data) {
        let Ok(pkt) = pkt else { break };
        let _ = pkt.sdes_chunks().count();
        let _ = pkt.bye_sources().count();
        if let RtcpPacket::SenderReport { ssrc, .. } | RtcpPacket::ReceiverReport { ssrc, .. } = pkt
        {
            let blocks: Vec<_> = pkt.report_blocks().collect();
            let n = write_rr(ssrc, &blocks, &mut buf).expect("at most 31 blocks fit");
            let again = parse_compound(&buf[..n])
                .next()
                .expect("one packet")
                .expect("written RR must re-parse");
            assert!(again.report_blocks().eq(blocks.iter().copied()));
        }
    }
});
