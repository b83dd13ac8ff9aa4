//! Fuzzes the RTP parser: parsing must never panic, a parsed packet must re-serialize to the
//! same bytes, and in-place header rewriting must keep it parseable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringside_media::rtp::packet::{rewrite_header, RtpPacket};

fuzz_target!(|data: &[u8]| {
    let Ok(pkt) = RtpPacket::parse(data) else {
        return;
    };
    assert_eq!(
        pkt.header_len() + pkt.payload().len() + pkt.padding_len(),
        data.len()
    );
    let _ = pkt.csrcs().count();
    let _ = pkt.extension();

    // Padding bytes other than the count byte are not preserved by the writer.
    let mut out = vec![0u8; data.len()];
    let n = pkt
        .header()
        .write(pkt.payload(), &mut out)
        .expect("a parsed header must be writable");
    assert_eq!(n, data.len());
    let again = RtpPacket::parse(&out[..n]).expect("written packet must re-parse");
    assert_eq!(again.header(), pkt.header());
    assert_eq!(again.payload(), pkt.payload());

    let mut copy = data.to_vec();
    rewrite_header(&mut copy, 1, 2, 3).expect("rewrite of a valid packet");
    let rewritten = RtpPacket::parse(&copy).expect("rewritten packet must re-parse");
    assert_eq!(
        (
            rewritten.ssrc(),
            rewritten.sequence(),
            rewritten.timestamp()
        ),
        (1, 2, 3)
    );
    assert_eq!(rewritten.payload(), pkt.payload());
});
