//! Races and failure paths of the B2BUA on simulated time: forking (first answer wins, the other
//! fork is cancelled), a caller cancelling before the callee rang (the late 180 still gets its
//! CANCEL, a late 200 its ACK and BYE), Timer B (408), busy (486), outbound trunk digest, and
//! stale nonces.

mod common;

use std::time::Duration;

use common::*;
use ringside_sip::auth::{ha1, parse_authorization, verify, Algorithm};

#[tokio::test]
async fn forked_call_first_answer_wins_and_other_fork_is_cancelled() {
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1002(&mut sim, 6002);
    register_1002(&mut sim, 6012);
    let r = authed_call(&mut sim, "1001", "pw-1001-secret", "1002", 6001);
    assert_eq!(r.iter().map(|m| status(m)).collect::<Vec<_>>(), vec![100]);
    let a = sim.take_to("127.0.0.1:6002").remove(0);
    let b = sim.take_to("127.0.0.1:6012").remove(0);
    assert_ne!(header(&a, "Call-ID"), header(&b, "Call-ID"));
    sim.input(
        "127.0.0.1:6012",
        &response_to(&b, 180, "Ringing", "fb", None),
    );
    sim.input(
        "127.0.0.1:6002",
        &response_to(&a, 180, "Ringing", "fa", None),
    );
    sim.input(
        "127.0.0.1:6002",
        &response_to(&a, 200, "OK", "fa", Some(7002)),
    );
    let to_a = sim.take_to("127.0.0.1:6002");
    assert!(
        to_a.iter().any(|m| m.starts_with("ACK ")),
        "winner ACKed: {to_a:?}"
    );
    let to_b = sim.take_to("127.0.0.1:6012");
    assert!(
        to_b.iter().any(|m| m.starts_with("CANCEL ")),
        "loser cancelled: {to_b:?}"
    );
    let caller = sim.take_to("127.0.0.1:6001");
    assert!(caller.iter().any(|m| status(m) == 200), "{caller:?}");
    // The cancelled fork answers anyway (race): it is ACKed and hung up at once.
    sim.input(
        "127.0.0.1:6012",
        &response_to(&b, 200, "OK", "fb", Some(7012)),
    );
    let to_b = sim.take_to("127.0.0.1:6012");
    assert!(to_b.iter().any(|m| m.starts_with("ACK ")), "{to_b:?}");
    assert!(to_b.iter().any(|m| m.starts_with("BYE ")), "{to_b:?}");
    assert_eq!(sim.core.active_calls(), 1);
}

#[tokio::test]
async fn caller_cancels_before_callee_rings_late_responses_are_cleaned_up() {
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1002(&mut sim, 6002);
    authed_call(&mut sim, "1001", "pw-1001-secret", "1002", 6001);
    let inv = sim.take_to("127.0.0.1:6002").remove(0);
    // The caller cancels its INVITE (CSeq 2) before the callee sent anything.
    let cancel = "CANCEL sip:1002@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bKinv26001;rport\r\nFrom: <sip:1001@127.0.0.1>;tag=c6001\r\nTo: <sip:1002@127.0.0.1>\r\nCall-ID: call-6001\r\nCSeq: 2 CANCEL\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
    sim.input("127.0.0.1:6001", cancel);
    let r = sim.take_to("127.0.0.1:6001");
    let codes: Vec<u16> = r.iter().map(|m| status(m)).collect();
    assert!(codes.contains(&200) && codes.contains(&487), "{codes:?}");
    assert!(
        sim.take_to("127.0.0.1:6002")
            .iter()
            .all(|m| !m.starts_with("CANCEL")),
        "no CANCEL before a provisional response (RFC 3261 §9.1)"
    );
    assert_eq!(sim.core.active_calls(), 0);
    // The callee now rings: it gets its CANCEL.
    sim.input(
        "127.0.0.1:6002",
        &response_to(&inv, 180, "Ringing", "late", None),
    );
    let out = sim.take_to("127.0.0.1:6002");
    assert!(out.iter().any(|m| m.starts_with("CANCEL ")), "{out:?}");
    // ... but answers in the same instant: ACK and BYE, nothing left up.
    sim.input(
        "127.0.0.1:6002",
        &response_to(&inv, 200, "OK", "late", Some(7002)),
    );
    let out = sim.take_to("127.0.0.1:6002");
    assert!(out.iter().any(|m| m.starts_with("ACK ")), "{out:?}");
    assert!(out.iter().any(|m| m.starts_with("BYE ")), "{out:?}");
    assert!(
        sim.take_to("127.0.0.1:6001").is_empty(),
        "the caller hears nothing more"
    );
    // Everything drains: after all timers, no transactions remain.
    sim.advance(Duration::from_secs(64));
    assert_eq!(sim.core.active_calls(), 0);
}

#[tokio::test]
async fn silent_callee_gives_408_and_busy_gives_486() {
    let mut sim = Sim::new(Duration::from_secs(120));
    register_1002(&mut sim, 6002);
    authed_call(&mut sim, "1001", "pw-1001-secret", "1002", 6001);
    sim.advance(Duration::from_secs(32));
    let r = sim.take_to("127.0.0.1:6001");
    assert!(
        r.iter().any(|m| status(m) == 408),
        "Timer B: {:?}",
        r.iter().map(|m| status(m)).collect::<Vec<_>>()
    );
    sim.take_to("127.0.0.1:6002");

    authed_call(&mut sim, "1001", "pw-1001-secret", "1002", 6003);
    let inv = sim.take_to("127.0.0.1:6002").remove(0);
    sim.input(
        "127.0.0.1:6002",
        &response_to(&inv, 486, "Busy Here", "busy", None),
    );
    let r = sim.take_to("127.0.0.1:6003");
    assert!(r.iter().any(|m| status(m) == 486), "{r:?}");
    let ended = sim.other.iter().rev().find_map(|o| match o {
        ringside_calls::core::CoreOutput::UpdateCall(c) => Some(c.clone()),
        _ => None,
    });
    assert_eq!(ended.unwrap().end_reason.map(|r| r.as_str()), Some("busy"));
}

#[tokio::test]
async fn outbound_trunk_answers_the_carriers_digest_challenge() {
    let mut sim = Sim::with_trunk_credentials(Duration::from_secs(30), "acct", "carrier-pw");
    authed_call(&mut sim, "1001", "pw-1001-secret", "+14155550123", 6001);
    let inv = sim.take_to("127.0.0.1:5099").remove(0);
    let challenge = "Digest realm=\"carrier\", nonce=\"abc123\", algorithm=MD5, qop=\"auth\"";
    let mut resp = response_to(&inv, 407, "Proxy Authentication Required", "cx", None);
    resp = resp.replace(
        "Content-Length: 0",
        &format!("Proxy-Authenticate: {challenge}\r\nContent-Length: 0"),
    );
    sim.input("127.0.0.1:5099", &resp);
    let out = sim.take_to("127.0.0.1:5099");
    let retry = out
        .iter()
        .find(|m| m.starts_with("INVITE "))
        .expect("INVITE retried");
    let creds = parse_authorization(header(retry, "Proxy-Authorization").unwrap()).unwrap();
    assert_eq!(creds.username, "acct");
    assert!(verify(
        &creds,
        "INVITE",
        &ha1(Algorithm::Md5, "acct", "carrier", "carrier-pw")
    ));
    assert!(
        out.iter().any(|m| m.starts_with("ACK ")),
        "the 407 was ACKed by its transaction"
    );
}

#[tokio::test]
async fn stale_nonce_is_rechallenged_with_stale_true() {
    let mut sim = Sim::new(Duration::from_secs(30));
    sim.input("127.0.0.1:6002", &register("1002", 6002, 1, None));
    let r = sim.take_to("127.0.0.1:6002").remove(0);
    // Ten minutes later the nonce has lapsed (lifetime 300 s).
    sim.now_ms += 600_000;
    let a = answer(
        &r,
        false,
        "REGISTER",
        "sip:127.0.0.1:5060",
        "1002",
        "pw-1002-secret",
    );
    sim.input("127.0.0.1:6002", &register("1002", 6002, 2, Some(&a)));
    let r = sim.take_to("127.0.0.1:6002").remove(0);
    assert_eq!(status(&r), 401);
    assert!(r.contains("stale=true"), "{r}");
    // Answering the fresh challenge works.
    let a = answer(
        &r,
        false,
        "REGISTER",
        "sip:127.0.0.1:5060",
        "1002",
        "pw-1002-secret",
    );
    sim.input("127.0.0.1:6002", &register("1002", 6002, 3, Some(&a)));
    assert_eq!(status(&sim.take_to("127.0.0.1:6002").remove(0)), 200);
}

#[tokio::test]
async fn early_media_and_in_dialog_info_update_cross_the_bridge() {
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1002(&mut sim, 6002);
    authed_call(&mut sim, "1001", "pw-1001-secret", "1002", 6001);
    let inv = sim.take_to("127.0.0.1:6002").remove(0);
    // 183 with SDP: relayed to the caller with the SDP anchored on Ringside, not the callee.
    sim.input(
        "127.0.0.1:6002",
        &response_to(&inv, 183, "Session Progress", "em", Some(7002)),
    );
    let r = sim.take_to("127.0.0.1:6001");
    let early = r.iter().find(|m| status(m) == 183).expect("183 relayed");
    assert!(early.contains("c=IN IP4 127.0.0.1"), "{early}");
    assert!(
        !early.contains("m=audio 7002"),
        "callee's port hidden: {early}"
    );
    sim.input(
        "127.0.0.1:6002",
        &response_to(&inv, 200, "OK", "em", Some(7002)),
    );
    let ok = sim
        .take_to("127.0.0.1:6001")
        .into_iter()
        .find(|m| status(m) == 200)
        .unwrap();
    let our_tag = header(&ok, "To")
        .unwrap()
        .split(";tag=")
        .nth(1)
        .unwrap()
        .to_string();
    sim.take_to("127.0.0.1:6002");
    // Caller sends INFO (DTMF relay) in the dialog: forwarded to the callee's leg.
    let body = "Signal=5\r\nDuration=160\r\n";
    let info = format!(
        "INFO sip:ringside@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bKinfo1;rport\r\nFrom: <sip:1001@127.0.0.1>;tag=c6001\r\nTo: <sip:1002@127.0.0.1>;tag={our_tag}\r\nCall-ID: call-6001\r\nCSeq: 3 INFO\r\nMax-Forwards: 70\r\nContent-Type: application/dtmf-relay\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    sim.input("127.0.0.1:6001", &info);
    let fwd = sim.take_to("127.0.0.1:6002");
    let fwd = fwd
        .iter()
        .find(|m| m.starts_with("INFO "))
        .expect("INFO forwarded");
    assert!(
        fwd.contains("Content-Type: application/dtmf-relay") && fwd.contains("Signal=5"),
        "{fwd}"
    );
    assert_eq!(
        header(fwd, "Call-ID"),
        header(&inv, "Call-ID"),
        "on the callee's own dialog"
    );
    sim.input("127.0.0.1:6002", &response_to(fwd, 200, "OK", "em", None));
    let back = sim.take_to("127.0.0.1:6001");
    assert!(
        back.iter()
            .any(|m| status(m) == 200 && m.contains("CSeq: 3 INFO")),
        "{back:?}"
    );
    // A callee UPDATE with a new SDP: forwarded, re-anchored, and the answer relayed back.
    let upd_sdp = "v=0\r\no=- 2 3 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7102 RTP/AVP 0\r\na=sendonly\r\n";
    let b_from = header(fwd, "From").unwrap().to_string();
    let update = format!(
        "UPDATE sip:ringside@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6002;branch=z9hG4bKupd1;rport\r\nFrom: <sip:1002@127.0.0.1>;tag=em\r\nTo: {b_from}\r\nCall-ID: {}\r\nCSeq: 9 UPDATE\r\nContact: <sip:callee@127.0.0.1:6002>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{upd_sdp}",
        header(&inv, "Call-ID").unwrap(),
        upd_sdp.len()
    );
    sim.input("127.0.0.1:6002", &update);
    let to_caller = sim.take_to("127.0.0.1:6001");
    let fwd = to_caller
        .iter()
        .find(|m| m.starts_with("UPDATE "))
        .expect("UPDATE forwarded");
    assert!(
        fwd.contains("a=sendonly") && !fwd.contains("m=audio 7102"),
        "{fwd}"
    );
    sim.input(
        "127.0.0.1:6001",
        &response_to(fwd, 200, "OK", "c6001", Some(7001)),
    );
    let back = sim.take_to("127.0.0.1:6002");
    assert!(
        back.iter()
            .any(|m| status(m) == 200 && m.contains("CSeq: 9 UPDATE")),
        "{back:?}"
    );
}

#[tokio::test]
async fn a_source_guessing_passwords_is_throttled() {
    let mut sim = Sim::new(Duration::from_secs(30));
    let from = "127.0.0.9:6009";
    let mut cseq = 1;
    let mut attempt =
        |sim: &mut Sim, pw: &str| register_attempt(sim, from, 6009, &mut cseq, "1002", pw);
    for _ in 0..10 {
        assert_eq!(attempt(&mut sim, "guess"), 403);
    }
    // Now even the right password is refused from this source...
    assert_eq!(attempt(&mut sim, "pw-1002-secret"), 403);
    // ... while another source is unaffected.
    register_1002(&mut sim, 6002);
    // After the window the source may try again.
    sim.advance(Duration::from_secs(61));
    assert_eq!(attempt(&mut sim, "pw-1002-secret"), 200);
}
