//! Fuzzes the SDP model: parsing must never panic, serialization must
//! re-parse to the same description, and the B2BUA rewrite helpers must keep
//! the description parseable.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use ringside_sip::sdp::{Direction, SessionDescription};

fuzz_target!(|data: &[u8]| {
    let Ok(mut sdp) = SessionDescription::from_bytes(data) else {
        return;
    };
    let text = sdp.to_string();
    let again = SessionDescription::parse(&text).expect("serialized SDP must re-parse");
    assert_eq!(again, sdp, "SDP round trip changed the description");

    let _ = sdp.first_audio();
    let _ = sdp.is_hold();
    for i in 0..=sdp.media().len() {
        let _ = sdp.direction(i);
        let _ = sdp.media_addr(i);
    }

    let addr = if data.len().is_multiple_of(2) {
        IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7))
    } else {
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    };
    sdp.remove_attribute("candidate");
    sdp.remove_attribute("rtcp");
    sdp.rewrite_connection(addr, &[30000, 30002, 0]);
    let _ = sdp.set_direction(0, Direction::SendOnly);
    let rewritten =
        SessionDescription::parse(&sdp.to_string()).expect("rewritten SDP must re-parse");
    assert_eq!(
        rewritten, sdp,
        "rewritten SDP round trip changed the description"
    );
});
