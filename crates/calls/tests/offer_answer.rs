//! Offer/answer beyond the plain "offer in the INVITE" on simulated time: a caller's delayed
//! offer (an INVITE without SDP, RFC 3261 13.2.1). Leg B rings with Ringside's own offer; the
//! caller's 200 carries Ringside's offer (the callee's codec first) and its ACK the answer,
//! which completes leg A's media; an ACK without an answer hangs the call up on both sides.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use ringside_calls::fake_media::MediaRequest;
use ringside_calls::Side;
use ringside_media::codec::frame::CodecKind;

/// `invite(..)` without its SDP: a delayed offer.
fn late_invite(port: u16, cseq: u32, auth: Option<&str>) -> String {
    let full = invite("1001", "1002", port, cseq, auth);
    let head = full.split("Content-Type: application/sdp").next().unwrap();
    format!("{head}Content-Length: 0\r\n\r\n")
}

/// Place the delayed-offer call from 6001 to the registered 1002 (at 6002), authenticated;
/// the INVITE leg B got.
fn call_with_late_offer(sim: &mut Sim) -> String {
    register_1002(sim, 6002);
    sim.input("127.0.0.1:6001", &late_invite(6001, 1, None));
    let r = sim.take_to("127.0.0.1:6001");
    let challenge = r.iter().find(|m| status(m) == 407).expect("407").clone();
    sim.input("127.0.0.1:6001", &ack("1002", 6001, 1, &challenge));
    let a = answer(
        &challenge,
        true,
        "INVITE",
        "sip:1002@127.0.0.1:5060",
        "1001",
        "pw-1001-secret",
    );
    sim.input("127.0.0.1:6001", &late_invite(6001, 2, Some(&a)));
    let r = sim.take_to("127.0.0.1:6001");
    assert!(
        !r.iter().any(|m| status(m) == 488),
        "a delayed offer is not refused: {r:?}"
    );
    sim.take_to("127.0.0.1:6002").remove(0)
}

/// The caller's ACK to `ok`, with `sdp` as its body when given.
fn ack_2xx(ok: &str, sdp: Option<&str>) -> String {
    let body = match sdp {
        Some(s) => format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{s}",
            s.len()
        ),
        None => "Content-Length: 0\r\n\r\n".into(),
    };
    format!(
        "ACK sip:ringside@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bKack2xx;rport\r\nFrom: {}\r\nTo: {}\r\nCall-ID: call-6001\r\nCSeq: 2 ACK\r\nMax-Forwards: 70\r\n{body}",
        header(ok, "From").unwrap(),
        header(ok, "To").unwrap()
    )
}

#[tokio::test]
async fn a_delayed_offer_gets_ringsides_offer_in_the_200_and_answers_in_the_ack() {
    let mut sim = Sim::new(Duration::from_secs(30));
    let inv = call_with_late_offer(&mut sim);
    // Leg B rings with Ringside's offer: on the relay, every codec Ringside transcodes.
    assert!(inv.contains("m=audio "), "{inv}");
    assert!(
        inv.contains("PCMU/8000") && inv.contains("PCMA/8000") && inv.contains("telephone-event"),
        "{inv}"
    );
    assert!(
        !inv.contains("c=IN IP4 0.0.0.0"),
        "anchored on the relay: {inv}"
    );
    // The callee rings (relayed without SDP), then answers PCMU at 7002.
    sim.input(
        "127.0.0.1:6002",
        &response_to(&inv, 180, "Ringing", "cb", None),
    );
    let r = sim.take_to("127.0.0.1:6001");
    assert!(r.iter().any(|m| status(m) == 180), "{r:?}");
    sim.input(
        "127.0.0.1:6002",
        &response_to(&inv, 200, "OK", "cb", Some(7002)),
    );
    assert!(
        sim.take_to("127.0.0.1:6002")
            .iter()
            .any(|m| m.starts_with("ACK ")),
        "the callee's 200 is ACKed"
    );
    let ok = sim
        .take_to("127.0.0.1:6001")
        .into_iter()
        .find(|m| status(m) == 200)
        .expect("the caller's 200");
    // The 200 is Ringside's offer: the relay's address, the callee's codec first.
    let m_line = ok.lines().find(|l| l.starts_with("m=audio ")).unwrap();
    assert!(m_line.contains(" 0 "), "PCMU first: {m_line}");
    assert!(ok.contains("PCMA/8000"), "more codecs to choose from: {ok}");
    assert!(
        !ok.contains("m=audio 7002"),
        "the callee's port hidden: {ok}"
    );
    let before = sim.media.requests().len();
    // The caller answers PCMA at 7001 in its ACK.
    let answer_sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7001 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n";
    sim.input("127.0.0.1:6001", &ack_2xx(&ok, Some(answer_sdp)));
    let after = sim.media.requests()[before..].to_vec();
    let caller_rtp: SocketAddr = "127.0.0.1:7001".parse().unwrap();
    assert!(
        after
            .iter()
            .any(|r| matches!(r, MediaRequest::Announce(_, Side::A, a) if *a == caller_rtp)),
        "the caller's address from its answer: {after:?}"
    );
    assert!(
        after
            .iter()
            .any(|r| matches!(r, MediaRequest::Codec(_, Side::A, c) if c.kind == CodecKind::Pcma)),
        "the caller's codec from its answer (transcoded to the callee's PCMU): {after:?}"
    );
    assert_eq!(sim.core.active_calls(), 1, "the call is up");
    assert!(
        sim.take_to("127.0.0.1:6002").is_empty(),
        "nothing more to the callee"
    );
}

#[tokio::test]
async fn an_ack_without_the_answer_hangs_the_call_up() {
    let mut sim = Sim::new(Duration::from_secs(30));
    let inv = call_with_late_offer(&mut sim);
    sim.input(
        "127.0.0.1:6002",
        &response_to(&inv, 200, "OK", "cb", Some(7002)),
    );
    sim.take_to("127.0.0.1:6002");
    let ok = sim
        .take_to("127.0.0.1:6001")
        .into_iter()
        .find(|m| status(m) == 200)
        .expect("the caller's 200");
    assert!(ok.contains("m=audio "), "{ok}");
    sim.input("127.0.0.1:6001", &ack_2xx(&ok, None));
    assert!(
        sim.take_to("127.0.0.1:6001")
            .iter()
            .any(|m| m.starts_with("BYE ")),
        "the caller is hung up"
    );
    assert!(
        sim.take_to("127.0.0.1:6002")
            .iter()
            .any(|m| m.starts_with("BYE ")),
        "the callee is hung up"
    );
    assert_eq!(sim.core.active_calls(), 0);
}
