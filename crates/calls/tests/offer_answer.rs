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
    let r = challenged_call(sim, 6001, |cseq, auth| late_invite(6001, cseq, auth));
    assert!(
        !r.iter().any(|m| status(m) == 488),
        "a delayed offer is not refused: {r:?}"
    );
    sim.take_to("127.0.0.1:6002").remove(0)
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
    sim.input(
        "127.0.0.1:6001",
        &from_caller(&ok, "ACK", 2, "", Some(answer_sdp)),
    );
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
    sim.input("127.0.0.1:6001", &from_caller(&ok, "ACK", 2, "", None));
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

/// A hold offer, as the caller's re-INVITEs carry it.
const HOLD_SDP: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7001 RTP/AVP 0\r\na=sendonly\r\n";

/// A re-INVITE with SDP from the callee (tag `cb`) on leg B's dialog (`inv` is leg B's
/// INVITE).
fn reinvite_from_callee(inv: &str, cseq: u32) -> String {
    let sdp = "v=0\r\no=- 2 3 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7002 RTP/AVP 0\r\na=sendonly\r\n";
    format!(
        "INVITE sip:ringside@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6002;branch=z9hG4bKre{cseq};rport\r\nFrom: <sip:1002@127.0.0.1>;tag=cb\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} INVITE\r\nContact: <sip:callee@127.0.0.1:6002>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        header(inv, "From").unwrap(),
        header(inv, "Call-ID").unwrap(),
        sdp.len()
    )
}

#[tokio::test]
async fn crossing_offers_get_491_and_an_overlapping_reinvite_500() {
    let mut sim = Sim::new(Duration::from_secs(30));
    let (inv, ok) = established_call(&mut sim);
    // The callee puts the call on hold: its re-INVITE is forwarded to the caller ...
    sim.input("127.0.0.1:6002", &reinvite_from_callee(&inv, 5));
    let to_caller = sim.take_to("127.0.0.1:6001");
    let fwd = to_caller
        .iter()
        .find(|m| m.starts_with("INVITE "))
        .expect("forwarded")
        .clone();
    // ... whose own re-INVITE crosses it: glare, 491 (it retries after a pause).
    sim.input(
        "127.0.0.1:6001",
        &from_caller(&ok, "INVITE", 3, "", Some(HOLD_SDP)),
    );
    let r = sim.take_to("127.0.0.1:6001");
    assert!(r.iter().any(|m| status(m) == 491), "{r:?}");
    assert!(
        !sim.take_to("127.0.0.1:6002")
            .iter()
            .any(|m| m.starts_with("INVITE ")),
        "the crossing offer is not forwarded"
    );
    assert_eq!(
        sim.metrics.glare.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // The caller answers the forwarded hold: relayed to the callee as before.
    sim.input(
        "127.0.0.1:6001",
        &response_to(&fwd, 200, "OK", "c6001", Some(7001)),
    );
    let back = sim.take_to("127.0.0.1:6002");
    assert!(
        back.iter()
            .any(|m| status(m) == 200 && m.contains("CSeq: 5 INVITE")),
        "{back:?}"
    );
    // Now the caller re-INVITEs (forwarded, not answered yet) and sends another before the
    // first is answered: 500 with Retry-After (0-10 s).
    sim.input(
        "127.0.0.1:6001",
        &from_caller(&ok, "INVITE", 4, "", Some(HOLD_SDP)),
    );
    assert!(sim
        .take_to("127.0.0.1:6002")
        .iter()
        .any(|m| m.starts_with("INVITE ")));
    sim.input(
        "127.0.0.1:6001",
        &from_caller(&ok, "INVITE", 5, "", Some(HOLD_SDP)),
    );
    let r = sim.take_to("127.0.0.1:6001");
    let busy = r.iter().find(|m| status(m) == 500).expect("500");
    let after: u32 = header(busy, "Retry-After").unwrap().parse().unwrap();
    assert!(after <= 10, "{busy}");
}

#[tokio::test]
async fn a_reinvite_without_sdp_gets_the_offer_in_the_2xx_and_the_answer_in_the_ack() {
    let mut sim = Sim::new(Duration::from_secs(30));
    let (_, ok) = established_call(&mut sim);
    // The caller re-INVITEs without SDP: forwarded without SDP.
    sim.input("127.0.0.1:6001", &from_caller(&ok, "INVITE", 3, "", None));
    let fwd = sim
        .take_to("127.0.0.1:6002")
        .into_iter()
        .find(|m| m.starts_with("INVITE "))
        .expect("forwarded");
    assert!(!fwd.contains("m=audio"), "{fwd}");
    // The callee offers in its 2xx (port 7102): the caller gets it anchored, and the callee
    // gets no ACK until the caller answers.
    sim.input(
        "127.0.0.1:6002",
        &response_to(&fwd, 200, "OK", "cb", Some(7102)),
    );
    assert!(
        !sim.take_to("127.0.0.1:6002")
            .iter()
            .any(|m| m.starts_with("ACK ")),
        "no ACK before the answer"
    );
    let ok2 = sim
        .take_to("127.0.0.1:6001")
        .into_iter()
        .find(|m| status(m) == 200 && m.contains("CSeq: 3 INVITE"))
        .expect("the 2xx relayed");
    assert!(
        ok2.contains("m=audio") && !ok2.contains("m=audio 7102"),
        "{ok2}"
    );
    // A retransmission of the callee's 2xx meanwhile gets nothing (no BYE, no early ACK).
    sim.input(
        "127.0.0.1:6002",
        &response_to(&fwd, 200, "OK", "cb", Some(7102)),
    );
    assert!(sim.take_to("127.0.0.1:6002").is_empty());
    // A late retransmission of the caller's first ACK (CSeq 2, no SDP) is not the answer:
    // nothing happens.
    sim.input("127.0.0.1:6001", &from_caller(&ok, "ACK", 2, "", None));
    assert!(sim.take_to("127.0.0.1:6002").is_empty());
    assert!(sim.take_to("127.0.0.1:6001").is_empty());
    // The caller's ACK carries the answer: it goes on, anchored, in our ACK to the callee.
    let answer = "v=0\r\no=- 1 3 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7001 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    let ack = from_caller(&ok2, "ACK", 3, "", Some(answer));
    sim.input("127.0.0.1:6001", &ack);
    let to_callee = sim.take_to("127.0.0.1:6002");
    let our_ack = to_callee
        .iter()
        .find(|m| m.starts_with("ACK "))
        .expect("our ACK with the answer");
    assert!(
        our_ack.contains("CSeq: 3 ACK")
            || our_ack.contains(&format!(
                "CSeq: {} ACK",
                header(&fwd, "CSeq").unwrap().split(' ').next().unwrap()
            )),
        "{our_ack}"
    );
    assert!(
        our_ack.contains("m=audio ") && !our_ack.contains("m=audio 7001"),
        "{our_ack}"
    );
    // Our ACK was lost: the callee's 2xx again gets the same ACK.
    sim.input(
        "127.0.0.1:6002",
        &response_to(&fwd, 200, "OK", "cb", Some(7102)),
    );
    let again = sim.take_to("127.0.0.1:6002");
    assert!(
        again
            .iter()
            .any(|m| m.starts_with("ACK ") && m.contains("m=audio ")),
        "{again:?}"
    );
    assert!(!again.iter().any(|m| m.starts_with("BYE ")), "{again:?}");
    assert_eq!(sim.core.active_calls(), 1);
}

/// `a=inactive` from either side of an answered call: the re-INVITE reaches the other side
/// with the direction kept (inactive stays inactive, re-anchored on Ringside), the other side
/// hears hold music while it lasts, and a re-INVITE back to sendrecv stops it.
#[tokio::test]
async fn inactive_from_either_side_holds_and_sendrecv_resumes() {
    let mut sim = Sim::new(Duration::from_secs(30));
    let (inv, ok) = established_call(&mut sim);
    let sdp = |dir: &str, port: u16| {
        format!("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na={dir}\r\n")
    };
    let hold_music = |sim: &Sim, from: usize, side: Side| -> Vec<bool> {
        sim.media.requests()[from..]
            .iter()
            .filter_map(|r| match r {
                MediaRequest::HoldMusic(_, s, on) if *s == side => Some(*on),
                _ => None,
            })
            .collect()
    };
    // The caller goes inactive.
    let before = sim.media.requests().len();
    sim.input(
        "127.0.0.1:6001",
        &from_caller(&ok, "INVITE", 3, "", Some(&sdp("inactive", 7001))),
    );
    let fwd = sim
        .take_to("127.0.0.1:6002")
        .into_iter()
        .find(|m| m.starts_with("INVITE "))
        .expect("re-INVITE forwarded");
    assert!(
        fwd.contains("a=inactive") && !fwd.contains("m=audio 7001"),
        "{fwd}"
    );
    assert_eq!(
        hold_music(&sim, before, Side::B),
        [true],
        "the callee hears hold music"
    );
    sim.input(
        "127.0.0.1:6002",
        &response_to(&fwd, 200, "OK", "cb", Some(7002)),
    );
    let r = sim.take_to("127.0.0.1:6001");
    assert!(r.iter().any(|m| status(m) == 200), "{r:?}");
    // Back to sendrecv: the music stops.
    let before = sim.media.requests().len();
    sim.input(
        "127.0.0.1:6001",
        &from_caller(&ok, "INVITE", 4, "", Some(&sdp("sendrecv", 7001))),
    );
    let fwd = sim
        .take_to("127.0.0.1:6002")
        .into_iter()
        .find(|m| m.starts_with("INVITE "))
        .expect("re-INVITE forwarded");
    assert!(fwd.contains("a=sendrecv"), "{fwd}");
    assert_eq!(hold_music(&sim, before, Side::B), [false]);

    // The callee goes inactive in turn (its own re-INVITE, the caller's transaction done).
    sim.input(
        "127.0.0.1:6002",
        &response_to(&fwd, 200, "OK", "cb", Some(7002)),
    );
    sim.take_to("127.0.0.1:6001");
    let before = sim.media.requests().len();
    let held = reinvite_from_callee(&inv, 5).replace("a=sendonly", "a=inactive");
    sim.input("127.0.0.1:6002", &held);
    let fwd = sim
        .take_to("127.0.0.1:6001")
        .into_iter()
        .find(|m| m.starts_with("INVITE "))
        .expect("re-INVITE forwarded to the caller");
    assert!(fwd.contains("a=inactive"), "{fwd}");
    assert_eq!(
        hold_music(&sim, before, Side::A),
        [true],
        "the caller hears hold music"
    );
}
