//! Fuzzes the WebRTC edge's first look at every datagram on the shared UDP port: the STUN
//! check, the binding-request username parser and the session router must not panic, and a
//! datagram routes only to a session whose ufrag it names or whose address it came from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringside_media::webrtc::demux::{binding_request_ufrag, is_stun, Demux};

fuzz_target!(|data: &[u8]| {
    let stun = is_stun(data);
    let ufrag = binding_request_ufrag(data);
    assert!(ufrag.is_none() || stun);
    let mut d = Demux::default();
    d.add("abcd", 1);
    d.add("wxyz", 2);
    let from = std::net::SocketAddr::from(([198, 51, 100, 7], 50000));
    match d.route(data, from) {
        None => assert!(!matches!(ufrag, Some("abcd" | "wxyz"))),
        Some(1) => assert_eq!(ufrag, Some("abcd")),
        Some(2) => assert_eq!(ufrag, Some("wxyz")),
        Some(s) => panic!("routed to unknown slot {s}"),
    }
});
