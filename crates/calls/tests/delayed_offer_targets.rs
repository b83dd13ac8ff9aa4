//! Delayed offer (an INVITE without SDP) to targets that are not SIP phones, on simulated
//! time: a widget's queue (answered by an extension or a console operator) and a visitor's
//! browser. The caller rings; whoever answers, Ringside's offer goes in the 200 and the
//! caller answers in its ACK — or, for a caller requiring 100rel, in a reliable 183 answered
//! in the PRACK, with hold music while it waits.

mod common;

use std::time::Duration;

use common::browser::*;
use common::*;
use ringside_calls::b2bua::BrowserSignal;
use ringside_calls::fake_media::MediaRequest;
use ringside_media::codec::frame::CodecKind;
use ringside_media::{LegCodec, Side};

/// `msg` (an INVITE of `invite(..)`) without its SDP: a delayed offer.
fn without_sdp(msg: &str) -> String {
    let head = msg.split("Content-Type: application/sdp").next().unwrap();
    format!("{head}Content-Length: 0\r\n\r\n")
}

/// The PBX's ACK to `ok` (CSeq `cseq`) carrying `answer` (SDP), or none.
fn pbx_ack(ok: &str, cseq: u32, answer: Option<&str>) -> String {
    let body = answer.map_or("Content-Length: 0\r\n\r\n".to_owned(), |s| {
        format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{s}",
            s.len()
        )
    });
    format!(
        "ACK sip:700@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 10.9.9.9:5070;branch=z9hG4bKack{cseq}\r\n\
         From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} ACK\r\nMax-Forwards: 70\r\n{body}",
        header(ok, "From").unwrap(),
        header(ok, "To").unwrap(),
        header(ok, "Call-ID").unwrap(),
    )
}

/// The PBX's answer to Ringside's offer: PCMA at 10.9.9.9:7070.
const PCMA_ANSWER: &str =
    "v=0\r\no=pbx 1 1 IN IP4 10.9.9.9\r\ns=-\r\nc=IN IP4 10.9.9.9\r\nt=0 0\r\n\
    m=audio 7070 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=sendrecv\r\n";

/// The codec leg A was last given, and the address it was last told of.
fn leg_a(sim: &Sim) -> (Option<LegCodec>, Option<std::net::SocketAddr>) {
    let reqs = sim.media.requests();
    let codec = reqs.iter().rev().find_map(|r| match r {
        MediaRequest::Codec(_, Side::A, c) => Some(*c),
        _ => None,
    });
    let addr = reqs.iter().rev().find_map(|r| match r {
        MediaRequest::Announce(_, Side::A, a) => Some(*a),
        _ => None,
    });
    (codec, addr)
}

#[tokio::test]
async fn a_delayed_offer_to_a_queue_rings_until_answered_and_gets_ringsides_offer_in_the_200() {
    const PBX: &str = "10.9.9.9:5070";
    let queue_sim = || {
        let mut sim = queue_700();
        sim.input(PBX, &without_sdp(&invite("pbx", "700", 5070, 1, None)));
        let to_pbx = sim.take_to(PBX);
        // No 488, no early media: ringing (an offer cannot ride an unreliable 18x).
        assert!(to_pbx.iter().any(|m| status(m) == 180), "{to_pbx:?}");
        assert!(
            !to_pbx
                .iter()
                .any(|m| status(m) >= 183 || m.contains("m=audio")),
            "{to_pbx:?}"
        );
        assert!(!sim
            .media
            .requests()
            .iter()
            .any(|r| matches!(r, MediaRequest::HoldMusic(_, _, true))));
        assert_eq!(last_record(&sim).status.as_str(), "waiting");
        sim
    };

    // An extension of the widget answers: the PBX gets Ringside's offer, answers in its ACK.
    let mut sim = queue_sim();
    let inv = sim.take_to("127.0.0.1:6002").remove(0);
    assert!(
        inv.contains("m=audio"),
        "the extension is offered media: {inv}"
    );
    sim.input(
        "127.0.0.1:6002",
        &response_to(&inv, 200, "OK", "fe", Some(7002)),
    );
    let ok = sim
        .take_to(PBX)
        .into_iter()
        .find(|m| status(m) == 200)
        .expect("200 to the PBX");
    assert!(ok.contains("m=audio") && ok.contains("PCMA"), "{ok}");
    sim.input(PBX, &pbx_ack(&ok, 1, Some(PCMA_ANSWER)));
    let (codec, addr) = leg_a(&sim);
    assert_eq!(codec.map(|c| c.kind), Some(CodecKind::Pcma));
    assert_eq!(addr, Some("10.9.9.9:7070".parse().unwrap()));
    assert_eq!(sim.core.active_calls(), 1);

    // A console operator takes it: the same, Ringside's offer in the 200.
    let mut sim = queue_sim();
    let inv = sim.take_to("127.0.0.1:6002").remove(0);
    sim.input(
        "127.0.0.1:6002",
        &response_to(&inv, 180, "Ringing", "fe", None),
    );
    let _ = sim.take_to(PBX);
    let offered = rings(&mut sim);
    let o = offered
        .iter()
        .find(|o| o.console)
        .expect("offered to the console");
    sim.core.console_accept(
        sim.now,
        ringside_calls::b2bua::BrowserAnswer {
            call_id: o.call_id.clone(),
            session: 61,
            tenant_id: "t1".into(),
            widget_id: "w1".into(),
            visitor_id: "user-9".into(),
            rtp: "127.0.0.1:39300".parse().unwrap(),
            opus_pt: 111,
            telephone_event_pt: None,
        },
    );
    sim.collect();
    let ok = sim
        .take_to(PBX)
        .into_iter()
        .find(|m| status(m) == 200)
        .expect("200 to the PBX");
    assert!(
        ok.contains("m=audio") && ok.contains("PCMU") && ok.contains("PCMA"),
        "every codec Ringside transcodes is offered: {ok}"
    );
    assert!(sim
        .take_to("127.0.0.1:6002")
        .iter()
        .any(|m| m.starts_with("CANCEL ")));
    sim.input(PBX, &pbx_ack(&ok, 1, Some(PCMA_ANSWER)));
    let (codec, _) = leg_a(&sim);
    assert_eq!(codec.map(|c| c.kind), Some(CodecKind::Pcma));
    assert_eq!(
        last_record(&sim).answered_by.as_deref(),
        Some("console:user-9")
    );
    assert_eq!(sim.core.active_calls(), 1);

    // An ACK without an answer: no media can be agreed, both sides are hung up.
    let mut sim = queue_sim();
    let inv = sim.take_to("127.0.0.1:6002").remove(0);
    sim.input(
        "127.0.0.1:6002",
        &response_to(&inv, 200, "OK", "fe", Some(7002)),
    );
    let ok = sim
        .take_to(PBX)
        .into_iter()
        .find(|m| status(m) == 200)
        .expect("200 to the PBX");
    sim.take_to("127.0.0.1:6002");
    sim.input(PBX, &pbx_ack(&ok, 1, None));
    assert!(sim.take_to(PBX).iter().any(|m| m.starts_with("BYE ")));
    assert!(sim
        .take_to("127.0.0.1:6002")
        .iter()
        .any(|m| m.starts_with("BYE ")));
    assert_eq!(sim.core.active_calls(), 0);
}

#[tokio::test]
async fn a_delayed_offer_to_a_visitors_browser_gets_ringsides_offer_when_the_visitor_accepts() {
    const PBX: &str = "10.9.9.9:5070";
    let mut sim = Sim::new(Duration::from_secs(30));
    sim.core.set_channels(std::sync::Arc::new(OneVisitor));
    sim.input(PBX, &without_sdp(&invite("pbx", "555123", 5070, 1, None)));
    let to_pbx = sim.take_to(PBX);
    assert!(to_pbx.iter().any(|m| status(m) == 180), "{to_pbx:?}");
    let r = rings(&mut sim);
    assert_eq!(r.len(), 1);
    sim.core.browser_accept(
        sim.now,
        ringside_calls::b2bua::BrowserAnswer {
            call_id: r[0].call_id.clone(),
            session: 41,
            tenant_id: "t1".into(),
            widget_id: "w1".into(),
            visitor_id: "v_visitor1".into(),
            rtp: "127.0.0.1:39100".parse().unwrap(),
            opus_pt: 111,
            telephone_event_pt: None,
        },
    );
    sim.collect();
    let ok = sim
        .take_to(PBX)
        .into_iter()
        .find(|m| status(m) == 200)
        .expect("200 to the PBX");
    assert!(
        ok.contains("m=audio") && ok.contains("PCMU") && ok.contains("PCMA"),
        "{ok}"
    );
    let s = signals(&mut sim, 41);
    assert!(matches!(s[0], BrowserSignal::Media { .. }), "{s:?}");
    sim.input(PBX, &pbx_ack(&ok, 1, Some(PCMA_ANSWER)));
    let (codec, addr) = leg_a(&sim);
    assert_eq!(codec.map(|c| c.kind), Some(CodecKind::Pcma));
    assert_eq!(addr, Some("10.9.9.9:7070".parse().unwrap()));
    assert_eq!(sim.core.active_calls(), 1);
}

#[tokio::test]
async fn a_delayed_offer_requiring_100rel_gets_ringsides_offer_in_a_reliable_183_answered_in_the_prack(
) {
    const PBX: &str = "10.9.9.9:5070";
    let mut sim = queue_700();
    let inv = without_sdp(&invite("pbx", "700", 5070, 1, None)).replacen(
        "Max-Forwards:",
        "Require: 100rel\r\nMax-Forwards:",
        1,
    );
    sim.input(PBX, &inv);
    let early = sim
        .take_to(PBX)
        .into_iter()
        .find(|m| status(m) == 183)
        .expect("a reliable 183");
    assert!(
        header(&early, "Require").is_some_and(|r| r.contains("100rel")),
        "{early}"
    );
    assert!(
        early.contains("m=audio") && early.contains("PCMU") && early.contains("PCMA"),
        "Ringside's offer rides the reliable 183: {early}"
    );
    let rseq = header(&early, "RSeq").unwrap().trim().to_owned();
    let prack = format!(
        "PRACK sip:700@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 10.9.9.9:5070;branch=z9hG4bKprq1\r\n\
         From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 2 PRACK\r\nRAck: {rseq} 1 INVITE\r\n\
         Max-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{PCMA_ANSWER}",
        header(&early, "From").unwrap(),
        header(&early, "To").unwrap(),
        header(&early, "Call-ID").unwrap(),
        PCMA_ANSWER.len()
    );
    sim.input(PBX, &prack);
    let to_pbx = sim.take_to(PBX);
    assert!(
        to_pbx
            .iter()
            .any(|m| status(m) == 200 && header(m, "CSeq").is_some_and(|c| c.contains("PRACK"))),
        "{to_pbx:?}"
    );
    // The PRACK's answer took effect, and hold music plays to the waiting caller.
    let (codec, addr) = leg_a(&sim);
    assert_eq!(codec.map(|c| c.kind), Some(CodecKind::Pcma));
    assert_eq!(addr, Some("10.9.9.9:7070".parse().unwrap()));
    assert!(sim
        .media
        .requests()
        .iter()
        .any(|r| matches!(r, MediaRequest::HoldMusic(_, Side::A, true))));
    // The extension answers: the final answer repeats the SDP; the ACK needs none.
    let to_ext = sim.take_to("127.0.0.1:6002").remove(0);
    sim.input(
        "127.0.0.1:6002",
        &response_to(&to_ext, 200, "OK", "fe", Some(7002)),
    );
    let ok = sim
        .take_to(PBX)
        .into_iter()
        .find(|m| status(m) == 200 && header(m, "CSeq").is_some_and(|c| c.contains("INVITE")))
        .expect("200 to the PBX");
    let body = |m: &str| m.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    assert_eq!(body(&ok), body(&early));
    sim.input(PBX, &pbx_ack(&ok, 1, None));
    assert!(!sim.take_to(PBX).iter().any(|m| m.starts_with("BYE ")));
    let (codec, _) = leg_a(&sim);
    assert_eq!(codec.map(|c| c.kind), Some(CodecKind::Pcma));
    assert_eq!(sim.core.active_calls(), 1);
}
