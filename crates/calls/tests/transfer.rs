//! Blind transfer (RFC 3515 REFER with RFC 3420 sipfrag NOTIFYs) on simulated time: the
//! extension that answered transfers the caller to another extension; the new party rings
//! with Ringside's offer, and when it answers leg B moves to it and the referrer is told and
//! hung up. Refused: REFER from a trunk's party, to a number the extension may not dial, from
//! the caller's side; a failed transfer leaves the referrer with the caller.
//!
//! Attended transfer (REFER with Replaces): 1002 holds the caller, calls 1003 itself, then
//! refers the caller to 1003 replacing that consultation call: the two calls' relays are
//! joined, 1002 leaves both, the caller is taken off hold, and a hangup on either side ends
//! both calls. Replaces that name no call, another extension's call, or an early dialog are
//! refused.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use ringside_calls::fake_media::MediaRequest;
use ringside_calls::Side;

/// A REFER from the callee (at 6002, tag `cb`) on leg B to `target`.
fn refer(inv: &str, cseq: u32, target: &str) -> String {
    refer_from(6002, inv, cseq, target)
}

/// A REFER from the callee at `port` (tag `cb`) on leg B to `target`.
fn refer_from(port: u16, inv: &str, cseq: u32, target: &str) -> String {
    format!(
        "REFER sip:ringside@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKref{cseq};rport\r\n\
         From: {};tag=cb\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} REFER\r\n\
         Contact: <sip:callee@127.0.0.1:{port}>\r\nRefer-To: <{target}>\r\nReferred-By: <sip:1002@127.0.0.1>\r\n\
         Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        header(inv, "To").unwrap(),
        header(inv, "From").unwrap(),
        header(inv, "Call-ID").unwrap(),
    )
}

/// The referrer's BYE on leg B.
fn referrer_bye(inv: &str) -> String {
    format!(
        "BYE sip:ringside@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6002;branch=z9hG4bKbye9;rport\r\n\
         From: {};tag=cb\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 9 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        header(inv, "To").unwrap(),
        header(inv, "From").unwrap(),
        header(inv, "Call-ID").unwrap(),
    )
}

fn sipfrag(notify: &str) -> &str {
    notify.split("\r\n\r\n").nth(1).unwrap_or_default().trim()
}

#[tokio::test]
async fn the_answering_extension_transfers_the_caller_to_another() {
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1003(&mut sim);
    let (inv, _ok) = established_call(&mut sim);
    sim.input("127.0.0.1:6002", &refer(&inv, 1, "sip:1003@127.0.0.1"));
    let to_referrer = sim.take_to("127.0.0.1:6002");
    assert!(
        to_referrer.iter().any(|m| status(m) == 202),
        "{to_referrer:?}"
    );
    let trying = to_referrer
        .iter()
        .find(|m| m.starts_with("NOTIFY "))
        .expect("a NOTIFY");
    assert_eq!(header(trying, "Event"), Some("refer"), "{trying}");
    assert!(trying.contains("message/sipfrag"), "{trying}");
    assert_eq!(sipfrag(trying), "SIP/2.0 100 Trying");
    sim.input(
        "127.0.0.1:6002",
        &response_to(trying, 200, "OK", "cb", None),
    );

    // 1003 rings with Ringside's offer (the caller's number in From) and answers.
    let new_inv = sim.take_to("127.0.0.1:6003").remove(0);
    assert!(new_inv.starts_with("INVITE sip:1003@"), "{new_inv}");
    assert!(
        header(&new_inv, "From").unwrap().contains("sip:1001@"),
        "{new_inv}"
    );
    assert!(
        new_inv.contains("m=audio ") && new_inv.contains("PCMU"),
        "{new_inv}"
    );
    assert!(
        sim.take_to("127.0.0.1:6001").is_empty(),
        "the caller hears nothing of it"
    );
    let before = sim.media.requests().len();
    let ok3 = response_to(&new_inv, 200, "OK", "c3", Some(7003))
        .replace("callee@127.0.0.1:6002", "callee@127.0.0.1:6003");
    sim.input("127.0.0.1:6003", &ok3);
    assert!(sim
        .take_to("127.0.0.1:6003")
        .iter()
        .any(|m| m.starts_with("ACK ")));
    // Leg B of the relay now points at 1003.
    let new_rtp: SocketAddr = "127.0.0.1:7003".parse().unwrap();
    let after = sim.media.requests()[before..].to_vec();
    assert!(
        after
            .iter()
            .any(|r| matches!(r, MediaRequest::Announce(_, Side::B, a) if *a == new_rtp)),
        "{after:?}"
    );
    // The referrer hears the outcome and is hung up.
    let to_referrer = sim.take_to("127.0.0.1:6002");
    let done = to_referrer
        .iter()
        .find(|m| m.starts_with("NOTIFY "))
        .expect("the final NOTIFY");
    assert_eq!(sipfrag(done), "SIP/2.0 200 OK");
    assert!(header(done, "Subscription-State")
        .unwrap()
        .starts_with("terminated"));
    let bye = to_referrer
        .iter()
        .find(|m| m.starts_with("BYE "))
        .expect("the referrer is hung up");
    sim.input("127.0.0.1:6002", &response_to(bye, 200, "OK", "cb", None));
    assert_eq!(sim.core.active_calls(), 1, "the caller talks to 1003");
    assert!(sim.take_to("127.0.0.1:6001").is_empty());
    // The old leg B's late requests do not touch the call.
    sim.input("127.0.0.1:6002", &refer(&inv, 2, "sip:1003@127.0.0.1"));
    assert!(sim
        .take_to("127.0.0.1:6002")
        .iter()
        .any(|m| status(m) == 481));
    assert_eq!(sim.core.active_calls(), 1);
}

#[tokio::test]
async fn a_referrer_that_hangs_up_at_once_still_transfers_and_a_failed_transfer_ends_the_call() {
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1003(&mut sim);
    let (inv, ok) = established_call(&mut sim);
    sim.input("127.0.0.1:6002", &refer(&inv, 1, "sip:1003@127.0.0.1"));
    sim.take_to("127.0.0.1:6002");
    // The referrer's BYE right after the 202: answered, and the call goes on.
    sim.input("127.0.0.1:6002", &referrer_bye(&inv));
    assert!(sim
        .take_to("127.0.0.1:6002")
        .iter()
        .any(|m| status(m) == 200));
    assert!(
        !sim.take_to("127.0.0.1:6001")
            .iter()
            .any(|m| m.starts_with("BYE ")),
        "the caller stays"
    );
    assert_eq!(sim.core.active_calls(), 1);
    // 1003 is busy: with the referrer gone, the caller is hung up.
    let new_inv = sim.take_to("127.0.0.1:6003").remove(0);
    sim.input(
        "127.0.0.1:6003",
        &response_to(&new_inv, 486, "Busy Here", "c3", None),
    );
    let to_caller = sim.take_to("127.0.0.1:6001");
    assert!(
        to_caller.iter().any(|m| m.starts_with("BYE ")),
        "{to_caller:?}"
    );
    assert_eq!(sim.core.active_calls(), 0);
    let _ = ok;
}

#[tokio::test]
async fn a_failed_transfer_leaves_the_referrer_with_the_caller() {
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1003(&mut sim);
    let (inv, _) = established_call(&mut sim);
    sim.input("127.0.0.1:6002", &refer(&inv, 1, "sip:1003@127.0.0.1"));
    sim.take_to("127.0.0.1:6002");
    let new_inv = sim.take_to("127.0.0.1:6003").remove(0);
    sim.input(
        "127.0.0.1:6003",
        &response_to(&new_inv, 486, "Busy Here", "c3", None),
    );
    let to_referrer = sim.take_to("127.0.0.1:6002");
    let done = to_referrer
        .iter()
        .find(|m| m.starts_with("NOTIFY "))
        .expect("the final NOTIFY");
    assert_eq!(sipfrag(done), "SIP/2.0 486 Busy Here");
    assert!(!to_referrer.iter().any(|m| m.starts_with("BYE ")));
    assert_eq!(sim.core.active_calls(), 1, "the call goes on");
}

#[tokio::test]
async fn transfers_that_could_be_toll_fraud_or_are_not_supported_are_refused() {
    // To a PSTN number no trunk lets 1002 dial: refused, nothing rings.
    let mut sim = Sim::new(Duration::from_secs(30));
    let (inv, _) = established_call(&mut sim);
    sim.input(
        "127.0.0.1:6002",
        &refer(&inv, 1, "sip:+447700900123@127.0.0.1"),
    );
    let r = sim.take_to("127.0.0.1:6002");
    assert!(r.iter().any(|m| status(m) == 403), "{r:?}");
    assert!(!r.iter().any(|m| m.starts_with("NOTIFY ")), "{r:?}");
    // To another tenant's extension: refused the same way.
    sim.input("127.0.0.1:6002", &refer(&inv, 2, "sip:2001@127.0.0.1"));
    assert!(sim
        .take_to("127.0.0.1:6002")
        .iter()
        .any(|m| status(m) == 403));
    assert_eq!(sim.core.active_calls(), 1);
    // The carrier's party of a call 1001 placed cannot redirect it (a PSTN number
    // transferring the call back out would dial at the tenant's cost).
    let mut sim = Sim::new(Duration::from_secs(30));
    authed_call(&mut sim, "1001", "pw-1001-secret", "+14155550123", 6001);
    let inv = sim.take_to("127.0.0.1:5099").remove(0);
    sim.input(
        "127.0.0.1:5099",
        &response_to(&inv, 200, "OK", "cb", Some(7099)),
    );
    let ok = sim
        .take_to("127.0.0.1:6001")
        .into_iter()
        .find(|m| status(m) == 200)
        .expect("answered");
    sim.input("127.0.0.1:6001", &from_caller(&ok, "ACK", 2, "", None));
    sim.take_to("127.0.0.1:5099");
    sim.input(
        "127.0.0.1:5099",
        &refer_from(5099, &inv, 1, "sip:+14155550100@127.0.0.1"),
    );
    let r = sim.take_to("127.0.0.1:5099");
    assert!(r.iter().any(|m| status(m) == 403), "{r:?}");
    assert_eq!(sim.core.active_calls(), 1);
    // Nor replace a call: a trunk's party owns none.
    sim.input(
        "127.0.0.1:5099",
        &refer_from(
            5099,
            &inv,
            2,
            "sip:1002@127.0.0.1?Replaces=x%3Bto-tag%3D1%3Bfrom-tag%3D2",
        ),
    );
    let r = sim.take_to("127.0.0.1:5099");
    assert!(r.iter().any(|m| status(m) == 403), "{r:?}");
    // But it may hand the caller to one of the tenant's extensions (what the trunk could
    // call itself).
    register_1003(&mut sim);
    sim.input(
        "127.0.0.1:5099",
        &refer_from(5099, &inv, 3, "sip:1003@127.0.0.1"),
    );
    let r = sim.take_to("127.0.0.1:5099");
    assert!(r.iter().any(|m| status(m) == 202), "{r:?}");
    assert!(sim
        .take_to("127.0.0.1:6003")
        .iter()
        .any(|m| m.starts_with("INVITE sip:1003@")));

    // From the caller's side: a Replaces naming no call is 481, and a blind transfer goes
    // only where the caller could dial.
    let mut sim = Sim::new(Duration::from_secs(30));
    let (_, ok) = established_call(&mut sim);
    let replaces = "Refer-To: <sip:1003@127.0.0.1?Replaces=x%3Bto-tag%3D1%3Bfrom-tag%3D2>\r\n";
    sim.input(
        "127.0.0.1:6001",
        &from_caller(&ok, "REFER", 3, replaces, None),
    );
    assert!(sim
        .take_to("127.0.0.1:6001")
        .iter()
        .any(|m| status(m) == 481));
    let pstn = "Refer-To: <sip:+447700900123@127.0.0.1>\r\n";
    sim.input("127.0.0.1:6001", &from_caller(&ok, "REFER", 4, pstn, None));
    assert!(sim
        .take_to("127.0.0.1:6001")
        .iter()
        .any(|m| status(m) == 403));
    assert_eq!(sim.core.active_calls(), 1);
}

#[tokio::test]
async fn a_referrer_that_hangs_up_at_once_hands_the_caller_over() {
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1003(&mut sim);
    let (inv, _) = established_call(&mut sim);
    sim.input("127.0.0.1:6002", &refer(&inv, 1, "sip:1003@127.0.0.1"));
    sim.take_to("127.0.0.1:6002");
    sim.input("127.0.0.1:6002", &referrer_bye(&inv));
    sim.take_to("127.0.0.1:6002");
    let new_inv = sim.take_to("127.0.0.1:6003").remove(0);
    sim.input(
        "127.0.0.1:6003",
        &response_to(&new_inv, 200, "OK", "c3", Some(7003)),
    );
    assert!(
        sim.take_to("127.0.0.1:6002").is_empty(),
        "nothing more to the referrer that left"
    );
    assert!(sim.take_to("127.0.0.1:6001").is_empty());
    assert_eq!(sim.core.active_calls(), 1, "the caller talks to 1003");
}

#[tokio::test]
async fn a_transfer_nobody_answers_gives_up_after_the_ring_timeout() {
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1003(&mut sim);
    let (inv, _) = established_call(&mut sim);
    sim.input("127.0.0.1:6002", &refer(&inv, 1, "sip:1003@127.0.0.1"));
    let r = sim.take_to("127.0.0.1:6002");
    let trying = r.iter().find(|m| m.starts_with("NOTIFY ")).unwrap();
    sim.input(
        "127.0.0.1:6002",
        &response_to(trying, 200, "OK", "cb", None),
    );
    let new_inv = sim.take_to("127.0.0.1:6003").remove(0);
    sim.input(
        "127.0.0.1:6003",
        &response_to(&new_inv, 180, "Ringing", "c3", None),
    );
    sim.advance(Duration::from_secs(29));
    let early = sim.take_to("127.0.0.1:6002");
    assert!(early.is_empty(), "still ringing: {early:?}");
    sim.advance(Duration::from_secs(2));
    assert!(
        sim.take_to("127.0.0.1:6003")
            .iter()
            .any(|m| m.starts_with("CANCEL ")),
        "the new party stops ringing"
    );
    let to_referrer = sim.take_to("127.0.0.1:6002");
    let done = to_referrer
        .iter()
        .find(|m| m.starts_with("NOTIFY "))
        .expect("the final NOTIFY");
    assert_eq!(sipfrag(done), "SIP/2.0 408 Request Timeout");
    assert_eq!(sim.core.active_calls(), 1, "the referrer keeps the caller");
}

/// The `a=crypto` keys (base64) of a message.
fn crypto_keys(msg: &str) -> Vec<String> {
    msg.lines()
        .filter_map(|l| l.split("inline:").nth(1))
        .map(|k| k.trim().to_string())
        .collect()
}

#[tokio::test]
async fn the_new_party_of_a_transfer_gets_srtp_keys_of_its_own() {
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1003(&mut sim);
    let (inv, _) = established_call(&mut sim);
    let to_referrer = crypto_keys(&inv);
    assert_eq!(
        to_referrer.len(),
        3,
        "1002 was offered keys (optional policy): {inv}"
    );
    sim.input("127.0.0.1:6002", &refer(&inv, 1, "sip:1003@127.0.0.1"));
    sim.take_to("127.0.0.1:6002");
    let new_inv = sim.take_to("127.0.0.1:6003").remove(0);
    let to_target = crypto_keys(&new_inv);
    assert_eq!(to_target.len(), 3, "{new_inv}");
    assert!(
        to_target.iter().all(|k| !to_referrer.contains(k)),
        "fresh keys for the new party: {new_inv}"
    );
    // 1003 answers with a key on the 80-bit suite: leg B's media takes it.
    let key = "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";
    let ok = response_to(&new_inv, 200, "OK", "c3", Some(7003));
    let (head, sdp) = ok.split_once("\r\n\r\n").unwrap();
    let sdp = format!("{sdp}a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:{key}\r\n");
    let head: Vec<&str> = head
        .lines()
        .filter(|l| !l.starts_with("Content-Length"))
        .collect();
    let ok = format!(
        "{}\r\nContent-Length: {}\r\n\r\n{sdp}",
        head.join("\r\n"),
        sdp.len()
    );
    let before = sim.media.requests().len();
    sim.input("127.0.0.1:6003", &ok);
    let keyed = sim.media.requests()[before..]
        .iter()
        .find_map(|r| match r {
            MediaRequest::Srtp(_, Side::B, Some(k)) => Some(k.clone()),
            _ => None,
        })
        .expect("leg B keyed for the new party");
    let line = format!("2 AES_CM_128_HMAC_SHA1_80 inline:{key}");
    let theirs = ringside_sip::sdp::Crypto::parse(&line).unwrap().key_salt;
    assert_eq!(keyed.remote, theirs);
    assert_eq!(sim.core.active_calls(), 1);
}

/// The consultation call: 1002 calls 1003 from its second line at 6012, 1003 (at 6003)
/// answers with tag `c3` and RTP at 7003, 1002 ACKs. Returns 1002's 200 (Ringside's tag in
/// its To).
fn consultation(sim: &mut Sim) -> String {
    authed_call(sim, "1002", "pw-1002-secret", "1003", 6012);
    let inv3 = sim.take_to("127.0.0.1:6003").remove(0);
    let ok3 = response_to(&inv3, 200, "OK", "c3", Some(7003))
        .replace("callee@127.0.0.1:6002", "callee@127.0.0.1:6003");
    sim.input("127.0.0.1:6003", &ok3);
    assert!(sim
        .take_to("127.0.0.1:6003")
        .iter()
        .any(|m| m.starts_with("ACK ")));
    let ok = sim
        .take_to("127.0.0.1:6012")
        .into_iter()
        .find(|m| status(m) == 200)
        .expect("1002's consultation call is answered");
    sim.input(
        "127.0.0.1:6012",
        &format!(
            "ACK sip:ringside@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6012;branch=z9hG4bKack6012;rport\r\n\
             From: {}\r\nTo: {}\r\nCall-ID: call-6012\r\nCSeq: 2 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            header(&ok, "From").unwrap(),
            header(&ok, "To").unwrap()
        ),
    );
    ok
}

/// The `Refer-To` URI of an attended transfer to 1003 replacing the consultation call whose
/// 200 to 1002 is `ok` (`extra` parameters appended to the escaped Replaces).
fn replacing(ok: &str, extra: &str) -> String {
    let ours = header(ok, "To").unwrap().split(";tag=").nth(1).unwrap();
    format!("sip:1003@127.0.0.1?Replaces=call-6012%3Bto-tag%3D{ours}%3Bfrom-tag%3Dc6012{extra}")
}

/// 1002 (at 6002, tag `cb`) puts the caller on hold: its re-INVITE on leg B goes to the
/// caller, who answers recvonly.
fn hold_caller(sim: &mut Sim, inv: &str) {
    let sdp = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
               m=audio 7002 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendonly\r\n";
    let reinvite = format!(
        "INVITE sip:ringside@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6002;branch=z9hG4bKhold1;rport\r\n\
         From: {};tag=cb\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 5 INVITE\r\nContact: <sip:callee@127.0.0.1:6002>\r\n\
         Max-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        header(inv, "To").unwrap(),
        header(inv, "From").unwrap(),
        header(inv, "Call-ID").unwrap(),
        sdp.len()
    );
    sim.input("127.0.0.1:6002", &reinvite);
    let to_caller = sim.take_to("127.0.0.1:6001").remove(0);
    assert!(
        to_caller.starts_with("INVITE ") && to_caller.contains("a=sendonly"),
        "{to_caller}"
    );
    let ok = response_to(&to_caller, 200, "OK", "ignored", Some(7001))
        .replace("PCMU/8000\r\n", "PCMU/8000\r\na=recvonly\r\n");
    sim.input("127.0.0.1:6001", &ok);
    assert!(sim
        .take_to("127.0.0.1:6001")
        .iter()
        .any(|m| m.starts_with("ACK ")));
    let to_1002 = sim.take_to("127.0.0.1:6002");
    let answer = to_1002
        .iter()
        .find(|m| status(m) == 200)
        .expect("1002's hold is answered");
    sim.input(
        "127.0.0.1:6002",
        &format!(
            "ACK sip:ringside@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6002;branch=z9hG4bKholdack;rport\r\n\
             From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 5 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            header(answer, "From").unwrap(),
            header(answer, "To").unwrap(),
            header(answer, "Call-ID").unwrap()
        ),
    );
}

/// The referrer's messages after its REFER of an attended transfer: 202, then a NOTIFY that
/// it is done (`SIP/2.0 200 OK`). Returns them.
fn transfer_done(to_referrer: Vec<String>) -> Vec<String> {
    assert!(
        to_referrer.iter().any(|m| status(m) == 202),
        "{to_referrer:?}"
    );
    let done = to_referrer
        .iter()
        .find(|m| m.starts_with("NOTIFY "))
        .expect("a NOTIFY");
    assert_eq!(sipfrag(done), "SIP/2.0 200 OK");
    to_referrer
}

/// The relay legs pinned (joined to another call's relay) among `requests`: (call, side).
fn pins(requests: &[MediaRequest]) -> Vec<(u64, Side)> {
    requests
        .iter()
        .filter_map(|r| match r {
            MediaRequest::Pin(k, side, _) => Some((*k, *side)),
            _ => None,
        })
        .collect()
}

/// The party at `port` (its call `call-<port>`), put on hold by the referrer, is taken off
/// hold by a re-INVITE of Ringside's, which it answers; returns that re-INVITE.
fn taken_off_hold(sim: &mut Sim, port: u16) -> String {
    let at = format!("127.0.0.1:{port}");
    let resume = sim.take_to(&at).remove(0);
    let call_id = format!("call-{port}");
    assert!(
        resume.starts_with("INVITE ") && header(&resume, "Call-ID") == Some(call_id.as_str()),
        "{resume}"
    );
    assert!(
        !resume.contains("a=sendonly") && !resume.contains("a=inactive"),
        "{resume}"
    );
    sim.input(
        &at,
        &response_to(&resume, 200, "OK", "ignored", Some(port + 1000)),
    );
    assert!(sim.take_to(&at).iter().any(|m| m.starts_with("ACK ")));
    resume
}

#[tokio::test]
async fn an_attended_transfer_joins_the_caller_and_the_consulted_party() {
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1003(&mut sim);
    let (inv, _) = established_call(&mut sim);
    hold_caller(&mut sim, &inv);
    let ok = consultation(&mut sim);
    assert_eq!(sim.core.active_calls(), 2);
    let before = sim.media.requests().len();

    sim.input("127.0.0.1:6002", &refer(&inv, 1, &replacing(&ok, "")));
    // 1002 hears it is done and is hung up on both of its calls.
    let to_referrer = transfer_done(sim.take_to("127.0.0.1:6002"));
    assert!(
        to_referrer.iter().any(|m| m.starts_with("BYE ")),
        "{to_referrer:?}"
    );
    let second_line = sim.take_to("127.0.0.1:6012");
    assert!(
        second_line
            .iter()
            .any(|m| m.starts_with("BYE ") && header(m, "Call-ID") == Some("call-6012")),
        "{second_line:?}"
    );
    // 1003 hears nothing of it; the relays are joined, each leg pinned to the other relay.
    assert!(sim.take_to("127.0.0.1:6003").is_empty());
    let after = sim.media.requests()[before..].to_vec();
    let pins = pins(&after);
    assert_eq!(pins.len(), 2, "{after:?}");
    assert_eq!((pins[0].1, pins[1].1), (Side::B, Side::A));
    assert_ne!(pins[0].0, pins[1].0, "two calls joined");
    assert!(after
        .iter()
        .any(|r| matches!(r, MediaRequest::Srtp(_, Side::B, None))));
    // The caller, held by 1002, is taken off hold by Ringside.
    let resume = taken_off_hold(&mut sim, 6001);
    assert_eq!(sim.core.active_calls(), 2);

    // The caller hangs up: the consulted party is hung up too, and 1002 hears nothing more.
    let bye = format!(
        "BYE sip:ringside@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bKbye1;rport\r\n\
         From: {}\r\nTo: {}\r\nCall-ID: call-6001\r\nCSeq: 9 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        header(&resume, "To").unwrap(),
        header(&resume, "From").unwrap(),
    );
    sim.input("127.0.0.1:6001", &bye);
    assert!(sim
        .take_to("127.0.0.1:6001")
        .iter()
        .any(|m| status(m) == 200));
    let to_1003 = sim.take_to("127.0.0.1:6003");
    assert!(to_1003.iter().any(|m| m.starts_with("BYE ")), "{to_1003:?}");
    assert!(sim.take_to("127.0.0.1:6002").is_empty());
    assert!(sim.take_to("127.0.0.1:6012").is_empty());
    assert_eq!(sim.core.active_calls(), 0);
}

#[tokio::test]
async fn replaces_naming_no_call_another_extensions_call_or_an_early_dialog_are_refused() {
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1003(&mut sim);
    let (inv, _) = established_call(&mut sim);
    let ok = consultation(&mut sim);
    let refused = |sim: &mut Sim, cseq: u32, target: &str| -> u16 {
        sim.input("127.0.0.1:6002", &refer(&inv, cseq, target));
        let r = sim.take_to("127.0.0.1:6002");
        assert!(!r.iter().any(|m| m.starts_with("NOTIFY ")), "{r:?}");
        r.iter().map(|m| status(m)).find(|c| *c >= 300).unwrap_or(0)
    };
    // No such call; a malformed Replaces; early-only for an answered call.
    assert_eq!(
        refused(
            &mut sim,
            1,
            "sip:1003@127.0.0.1?Replaces=nope%3Bto-tag%3D1%3Bfrom-tag%3D2"
        ),
        481
    );
    assert_eq!(
        refused(&mut sim, 2, "sip:1003@127.0.0.1?Replaces=x%3Bto-tag%3D1%3"),
        400
    );
    assert_eq!(refused(&mut sim, 3, &replacing(&ok, "%3Bearly-only")), 486);
    // A call 1003 placed (ringing 1002): not 1002's to hand over, whatever its tags.
    authed_call(&mut sim, "1003", "pw-1003-secret", "1002", 6013);
    let ringing = sim
        .take_to("127.0.0.1:6013")
        .into_iter()
        .find(|m| status(m) == 100 || status(m) == 180);
    let _ = ringing;
    let to_1002 = sim.take_to("127.0.0.1:6002").remove(0);
    assert!(to_1002.starts_with("INVITE "), "{to_1002}");
    // Ringside's tag for 1003's call is in the To of its responses; ask for them with a
    // 180 from 1002.
    sim.input(
        "127.0.0.1:6002",
        &response_to(&to_1002, 180, "Ringing", "r2", None),
    );
    let ringing = sim
        .take_to("127.0.0.1:6013")
        .into_iter()
        .find(|m| status(m) == 180)
        .expect("1003 hears ringing");
    let ours = header(&ringing, "To")
        .unwrap()
        .split(";tag=")
        .nth(1)
        .unwrap()
        .to_owned();
    let target =
        format!("sip:1003@127.0.0.1?Replaces=call-6013%3Bto-tag%3D{ours}%3Bfrom-tag%3Dc6013");
    assert_eq!(refused(&mut sim, 4, &target), 403);
    // Nothing was joined: both of 1002's calls and 1003's go on.
    assert_eq!(sim.core.active_calls(), 3);
}

/// 1002 hands the caller over to a party that called *it*: 1003 calls 1002 (call-6013), 1002
/// answers, then REFERs the first caller replacing its dialog of 1003's call. The two calls
/// are joined on their B legs, 1002 leaves both, and a hangup on either side ends both.
#[tokio::test]
async fn an_attended_transfer_can_hand_over_to_a_call_the_referrer_received() {
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1003(&mut sim);
    let (inv, _) = established_call(&mut sim);
    authed_call(&mut sim, "1003", "pw-1003-secret", "1002", 6013);
    let inv_y = sim.take_to("127.0.0.1:6002").remove(0);
    assert!(inv_y.starts_with("INVITE "), "{inv_y}");
    sim.input(
        "127.0.0.1:6002",
        &response_to(&inv_y, 200, "OK", "y2", Some(7022)),
    );
    assert!(sim
        .take_to("127.0.0.1:6002")
        .iter()
        .any(|m| m.starts_with("ACK ")));
    let ok_y = sim
        .take_to("127.0.0.1:6013")
        .into_iter()
        .find(|m| status(m) == 200)
        .expect("1003's call is answered");
    let in_dialog = |method: &str, cseq: u32| {
        format!(
            "{method} sip:ringside@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6013;branch=z9hG4bK{method}{cseq};rport\r\n\
             From: {}\r\nTo: {}\r\nCall-ID: call-6013\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            header(&ok_y, "From").unwrap(),
            header(&ok_y, "To").unwrap()
        )
    };
    sim.input("127.0.0.1:6013", &in_dialog("ACK", 2));
    assert_eq!(sim.core.active_calls(), 2);
    // 1002 holds 1003 (its re-INVITE on its dialog of call Y goes on to 1003).
    let sdp = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
               m=audio 7022 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendonly\r\n";
    let hold = format!(
        "INVITE sip:ringside@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6002;branch=z9hG4bKholdy;rport\r\n\
         From: {};tag=y2\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 5 INVITE\r\nContact: <sip:callee@127.0.0.1:6002>\r\n\
         Max-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        header(&inv_y, "To").unwrap(),
        header(&inv_y, "From").unwrap(),
        header(&inv_y, "Call-ID").unwrap(),
        sdp.len()
    );
    sim.input("127.0.0.1:6002", &hold);
    let to_1003 = sim.take_to("127.0.0.1:6013").remove(0);
    assert!(
        to_1003.starts_with("INVITE ") && to_1003.contains("a=sendonly"),
        "{to_1003}"
    );
    let held = response_to(&to_1003, 200, "OK", "ignored", Some(7013))
        .replace("PCMU/8000\r\n", "PCMU/8000\r\na=recvonly\r\n");
    sim.input("127.0.0.1:6013", &held);
    assert!(sim
        .take_to("127.0.0.1:6013")
        .iter()
        .any(|m| m.starts_with("ACK ")));
    assert!(sim
        .take_to("127.0.0.1:6002")
        .iter()
        .any(|m| status(m) == 200));
    let before = sim.media.requests().len();

    // Replaces names 1002's dialog of call Y from Ringside's end: Ringside's tag (the From of
    // its INVITE to 1002) is the to-tag, 1002's the from-tag.
    let y_call_id = header(&inv_y, "Call-ID").unwrap().replace('@', "%40");
    let ours = header(&inv_y, "From")
        .unwrap()
        .split(";tag=")
        .nth(1)
        .unwrap()
        .to_owned();
    let target =
        format!("sip:1003@127.0.0.1?Replaces={y_call_id}%3Bto-tag%3D{ours}%3Bfrom-tag%3Dy2");
    sim.input("127.0.0.1:6002", &refer(&inv, 1, &target));
    let to_referrer = transfer_done(sim.take_to("127.0.0.1:6002"));
    // 1002 is hung up on both calls: call X's dialog and its dialog of call Y.
    let byes: Vec<_> = to_referrer
        .iter()
        .filter(|m| m.starts_with("BYE "))
        .map(|m| header(m, "Call-ID").unwrap().to_owned())
        .collect();
    assert_eq!(byes.len(), 2, "{to_referrer:?}");
    assert!(byes.contains(&header(&inv, "Call-ID").unwrap().to_owned()));
    assert!(byes.contains(&header(&inv_y, "Call-ID").unwrap().to_owned()));
    // The first caller hears nothing of it; 1003, held by 1002, is taken off hold by
    // Ringside; the relays are joined on their B legs.
    assert!(sim.take_to("127.0.0.1:6001").is_empty());
    taken_off_hold(&mut sim, 6013);
    let after = sim.media.requests()[before..].to_vec();
    let pins = pins(&after);
    assert_eq!(pins.len(), 2, "{after:?}");
    assert_eq!((pins[0].1, pins[1].1), (Side::B, Side::B));
    assert_ne!(pins[0].0, pins[1].0, "two calls joined");
    assert_eq!(sim.core.active_calls(), 2);

    // 1003 hangs up: the first caller is hung up too.
    sim.input("127.0.0.1:6013", &in_dialog("BYE", 3));
    assert!(sim
        .take_to("127.0.0.1:6013")
        .iter()
        .any(|m| status(m) == 200));
    let to_caller = sim.take_to("127.0.0.1:6001");
    assert!(
        to_caller.iter().any(|m| m.starts_with("BYE ")),
        "{to_caller:?}"
    );
    assert!(sim.take_to("127.0.0.1:6002").is_empty());
    assert_eq!(sim.core.active_calls(), 0);
}

/// 1002's consultation call to 1003 (from its second line at 6012) rings: 1003 sent 180
/// (tag `c3`). Returns the 180 1002 got (Ringside's tag in its To) and the INVITE 1003 got.
fn ringing_consultation(sim: &mut Sim) -> (String, String) {
    authed_call(sim, "1002", "pw-1002-secret", "1003", 6012);
    let inv3 = sim.take_to("127.0.0.1:6003").remove(0);
    sim.input(
        "127.0.0.1:6003",
        &response_to(&inv3, 180, "Ringing", "c3", None)
            .replace("callee@127.0.0.1:6002", "callee@127.0.0.1:6003"),
    );
    let ringing = sim
        .take_to("127.0.0.1:6012")
        .into_iter()
        .find(|m| status(m) == 180)
        .expect("1002 hears 1003 ringing");
    (ringing, inv3)
}

/// Semi-attended transfer: 1002 holds the caller, calls 1003 and transfers while 1003 still
/// rings. Returns 1003's INVITE and Ringside's re-INVITE taking the caller off hold.
fn semi_attended(sim: &mut Sim) -> (String, String) {
    register_1003(sim);
    let (inv, _) = established_call(sim);
    hold_caller(sim, &inv);
    let (ringing, inv3) = ringing_consultation(sim);
    let before = sim.media.requests().len();
    sim.input("127.0.0.1:6002", &refer(&inv, 1, &replacing(&ringing, "")));
    let to_referrer = transfer_done(sim.take_to("127.0.0.1:6002"));
    assert!(
        to_referrer.iter().any(|m| m.starts_with("BYE ")),
        "{to_referrer:?}"
    );
    // 1002's consultation INVITE ends (487): it has left; 1003 rings on, undisturbed.
    let second_line = sim.take_to("127.0.0.1:6012");
    assert!(
        second_line
            .iter()
            .any(|m| status(m) == 487 && header(m, "Call-ID") == Some("call-6012")),
        "{second_line:?}"
    );
    assert!(
        !second_line.iter().any(|m| m.starts_with("BYE ")),
        "{second_line:?}"
    );
    assert!(sim.take_to("127.0.0.1:6003").is_empty());
    // The relays are joined: the caller hears the consultation call's leg (its ringing).
    let after = sim.media.requests()[before..].to_vec();
    let pins = pins(&after);
    assert_eq!(pins.len(), 2, "{after:?}");
    assert_eq!((pins[0].1, pins[1].1), (Side::B, Side::A));
    // The caller, held by 1002, is taken off hold.
    let resume = taken_off_hold(sim, 6001);
    assert_eq!(sim.core.active_calls(), 2);
    // 1002 cancelling its consultation call now (as phones do) changes nothing.
    let cancel = format!(
        "CANCEL sip:1003@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6012;branch={};rport\r\n\
         From: {}\r\nTo: <sip:1003@127.0.0.1:5060>\r\nCall-ID: call-6012\r\nCSeq: 2 CANCEL\r\n\
         Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        header(&ringing, "Via")
            .unwrap()
            .split("branch=")
            .nth(1)
            .unwrap()
            .split(';')
            .next()
            .unwrap(),
        header(&ringing, "From").unwrap(),
    );
    sim.input("127.0.0.1:6012", &cancel);
    sim.take_to("127.0.0.1:6012");
    assert!(sim.take_to("127.0.0.1:6003").is_empty());
    assert_eq!(sim.core.active_calls(), 2);
    (inv3, resume)
}

/// The caller's BYE, in the dialog of Ringside's request `ours` to it.
fn caller_bye(ours: &str) -> String {
    format!(
        "BYE sip:ringside@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bKbye1;rport\r\n\
         From: {}\r\nTo: {}\r\nCall-ID: call-6001\r\nCSeq: 9 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        header(ours, "To").unwrap(),
        header(ours, "From").unwrap(),
    )
}

#[tokio::test]
async fn a_semi_attended_transfer_hands_the_caller_a_consultation_call_that_still_rings() {
    let mut sim = Sim::new(Duration::from_secs(30));
    let (inv3, _) = semi_attended(&mut sim);
    let before = sim.media.requests().len();
    // 1003 answers: Ringside ACKs it and tells 1002 nothing; the caller and 1003 talk.
    let ok3 = response_to(&inv3, 200, "OK", "c3", Some(7003))
        .replace("callee@127.0.0.1:6002", "callee@127.0.0.1:6003");
    sim.input("127.0.0.1:6003", &ok3);
    assert!(sim
        .take_to("127.0.0.1:6003")
        .iter()
        .any(|m| m.starts_with("ACK ")));
    assert!(sim.take_to("127.0.0.1:6012").is_empty());
    assert!(sim.take_to("127.0.0.1:6001").is_empty());
    assert_eq!(sim.core.active_calls(), 2);
    // The consultation call's leg towards the caller's relay stays in the join's PCMU.
    let after = sim.media.requests()[before..].to_vec();
    let last_a = after.iter().rev().find_map(|r| match r {
        MediaRequest::Codec(_, Side::A, c) => Some(*c),
        _ => None,
    });
    assert!(last_a.is_none_or(|c| c.payload_type == 0), "{after:?}");
    // 1003 hangs up: the caller is hung up too.
    let bye = format!(
        "BYE sip:ringside@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6003;branch=z9hG4bKbye3;rport\r\n\
         From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 9 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        header(&ok3, "To").unwrap(),
        header(&ok3, "From").unwrap(),
        header(&ok3, "Call-ID").unwrap(),
    );
    sim.input("127.0.0.1:6003", &bye);
    assert!(sim
        .take_to("127.0.0.1:6003")
        .iter()
        .any(|m| status(m) == 200));
    let to_caller = sim.take_to("127.0.0.1:6001");
    assert!(
        to_caller.iter().any(|m| m.starts_with("BYE ")),
        "{to_caller:?}"
    );
    assert!(sim.take_to("127.0.0.1:6012").is_empty());
    assert_eq!(sim.core.active_calls(), 0);
}

#[tokio::test]
async fn a_semi_attended_transfer_nobody_answers_or_the_caller_abandons_ends_both_calls() {
    // 1003 is busy: the caller is hung up.
    let mut sim = Sim::new(Duration::from_secs(30));
    let (inv3, _) = semi_attended(&mut sim);
    let busy = response_to(&inv3, 486, "Busy Here", "c3", None)
        .replace("callee@127.0.0.1:6002", "callee@127.0.0.1:6003");
    sim.input("127.0.0.1:6003", &busy);
    let to_caller = sim.take_to("127.0.0.1:6001");
    assert!(
        to_caller.iter().any(|m| m.starts_with("BYE ")),
        "{to_caller:?}"
    );
    assert!(sim.take_to("127.0.0.1:6012").is_empty());
    assert_eq!(sim.core.active_calls(), 0);

    // The caller hangs up while 1003 rings: 1003's ringing is cancelled.
    let mut sim = Sim::new(Duration::from_secs(30));
    let (_, resume) = semi_attended(&mut sim);
    sim.input("127.0.0.1:6001", &caller_bye(&resume));
    assert!(sim
        .take_to("127.0.0.1:6001")
        .iter()
        .any(|m| status(m) == 200));
    let to_1003 = sim.take_to("127.0.0.1:6003");
    assert!(
        to_1003.iter().any(|m| m.starts_with("CANCEL ")),
        "{to_1003:?}"
    );
    assert_eq!(sim.core.active_calls(), 0);
}

/// 1001 called 1002 (answered); 1001 REFERs 1002 to 1003 from its own (the caller's) side:
/// 202, NOTIFY 100, and 1003 rings in a call of Ringside's own joined to the first. Returns
/// the INVITE 1002 got (for its dialog) and the INVITE 1003 got.
fn refer_from_caller(sim: &mut Sim) -> (String, String) {
    register_1003(sim);
    let (inv, ok) = established_call(sim);
    let before = sim.media.requests().len();
    let refer = from_caller(&ok, "REFER", 3, "Refer-To: <sip:1003@127.0.0.1>\r\n", None);
    sim.input("127.0.0.1:6001", &refer);
    let to_referrer = sim.take_to("127.0.0.1:6001");
    assert!(
        to_referrer.iter().any(|m| status(m) == 202),
        "{to_referrer:?}"
    );
    let trying = to_referrer
        .iter()
        .find(|m| m.starts_with("NOTIFY "))
        .expect("a NOTIFY");
    assert_eq!(sipfrag(trying), "SIP/2.0 100 Trying");
    assert_eq!(header(trying, "Call-ID"), Some("call-6001"));
    let inv3 = sim.take_to("127.0.0.1:6003").remove(0);
    assert!(inv3.starts_with("INVITE sip:1003@"), "{inv3}");
    assert_ne!(header(&inv3, "Call-ID"), header(&ok, "Call-ID"));
    // The transferee hears nothing of it yet; the first call's leg A is joined to the new
    // call's.
    assert!(sim.take_to("127.0.0.1:6002").is_empty());
    let after = sim.media.requests()[before..].to_vec();
    let pins = pins(&after);
    assert_eq!(pins.len(), 2, "{after:?}");
    assert_eq!((pins[0].1, pins[1].1), (Side::A, Side::A));
    assert_ne!(pins[0].0, pins[1].0);
    assert_eq!(sim.core.active_calls(), 2);
    (inv, inv3)
}

#[tokio::test]
async fn the_caller_transfers_the_party_it_called_to_another_extension() {
    let mut sim = Sim::new(Duration::from_secs(30));
    let (inv, inv3) = refer_from_caller(&mut sim);
    let ok3 = response_to(&inv3, 200, "OK", "c3", Some(7003))
        .replace("callee@127.0.0.1:6002", "callee@127.0.0.1:6003");
    sim.input("127.0.0.1:6003", &ok3);
    assert!(sim
        .take_to("127.0.0.1:6003")
        .iter()
        .any(|m| m.starts_with("ACK ")));
    // The referrer hears it went through and is hung up; the transferee is undisturbed.
    let to_referrer = sim.take_to("127.0.0.1:6001");
    let done = to_referrer
        .iter()
        .find(|m| m.starts_with("NOTIFY "))
        .expect("a NOTIFY");
    assert_eq!(sipfrag(done), "SIP/2.0 200 OK");
    assert!(
        to_referrer.iter().any(|m| m.starts_with("BYE ")),
        "{to_referrer:?}"
    );
    assert!(sim.take_to("127.0.0.1:6002").is_empty());
    assert_eq!(sim.core.active_calls(), 2);
    // The new call's record: the transferee calling, 1003 answering.
    let rec = sim
        .other
        .iter()
        .rev()
        .find_map(|o| match o {
            ringside_calls::core::CoreOutput::UpdateCall(c) if c.answered_by.is_some() => {
                Some(c.clone())
            }
            _ => None,
        })
        .expect("a record");
    assert_eq!(rec.answered_by.as_deref(), Some("extension:1003"));
    // Its first leg is the transferee's (1002's dialog of the first call).
    assert_eq!(
        Some(rec.legs[0].sip_call_id.as_str()),
        header(&inv, "Call-ID")
    );
    // 1003 hangs up: the transferee is hung up too.
    let bye = format!(
        "BYE sip:ringside@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6003;branch=z9hG4bKbye3;rport\r\n\
         From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 9 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        header(&ok3, "To").unwrap(),
        header(&ok3, "From").unwrap(),
        header(&ok3, "Call-ID").unwrap(),
    );
    sim.input("127.0.0.1:6003", &bye);
    assert!(sim
        .take_to("127.0.0.1:6003")
        .iter()
        .any(|m| status(m) == 200));
    let to_transferee = sim.take_to("127.0.0.1:6002");
    assert!(
        to_transferee.iter().any(|m| m.starts_with("BYE ")),
        "{to_transferee:?}"
    );
    assert_eq!(sim.core.active_calls(), 0);
}

#[tokio::test]
async fn a_caller_side_transfer_that_fails_or_is_abandoned_tells_the_referrer_and_ends() {
    // 1003 is busy: the referrer hears 486 and is hung up, and so is the transferee.
    let mut sim = Sim::new(Duration::from_secs(30));
    let (_, inv3) = refer_from_caller(&mut sim);
    let busy = response_to(&inv3, 486, "Busy Here", "c3", None)
        .replace("callee@127.0.0.1:6002", "callee@127.0.0.1:6003");
    sim.input("127.0.0.1:6003", &busy);
    let to_referrer = sim.take_to("127.0.0.1:6001");
    let over = to_referrer
        .iter()
        .find(|m| m.starts_with("NOTIFY "))
        .expect("a NOTIFY");
    assert_eq!(sipfrag(over), "SIP/2.0 486 Busy Here");
    assert!(to_referrer.iter().any(|m| m.starts_with("BYE ")));
    assert!(sim
        .take_to("127.0.0.1:6002")
        .iter()
        .any(|m| m.starts_with("BYE ")));
    assert_eq!(sim.core.active_calls(), 0);

    // The transferee hangs up while 1003 rings: the ringing is cancelled, the referrer told.
    let mut sim = Sim::new(Duration::from_secs(30));
    let (inv, inv3) = refer_from_caller(&mut sim);
    sim.input(
        "127.0.0.1:6003",
        &response_to(&inv3, 180, "Ringing", "c3", None)
            .replace("callee@127.0.0.1:6002", "callee@127.0.0.1:6003"),
    );
    sim.take_to("127.0.0.1:6001");
    sim.input("127.0.0.1:6002", &referrer_bye(&inv));
    assert!(sim
        .take_to("127.0.0.1:6002")
        .iter()
        .any(|m| status(m) == 200));
    assert!(sim
        .take_to("127.0.0.1:6003")
        .iter()
        .any(|m| m.starts_with("CANCEL ")));
    let to_referrer = sim.take_to("127.0.0.1:6001");
    let over = to_referrer
        .iter()
        .find(|m| m.starts_with("NOTIFY "))
        .unwrap_or_else(|| panic!("a NOTIFY: {to_referrer:?}"));
    assert_eq!(sipfrag(over), "SIP/2.0 487 Request Terminated");
    assert!(to_referrer.iter().any(|m| m.starts_with("BYE ")));
    assert_eq!(sim.core.active_calls(), 0);
}

/// A trusted PBX calls extension 1002 and, once answered, transfers it from its own (the
/// caller's) side: to another of the tenant's extensions it goes through, to a PSTN number it
/// is refused (a trunk's call never goes back out through a trunk).
#[tokio::test]
async fn a_pbx_that_called_in_transfers_the_extension_it_reached_but_never_back_out() {
    const PBX: &str = "10.9.9.9:5070";
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1002(&mut sim, 6002);
    register_1003(&mut sim);
    sim.input(PBX, &invite("pbx", "1002", 5070, 1, None));
    let inv = sim.take_to("127.0.0.1:6002").remove(0);
    sim.input(
        "127.0.0.1:6002",
        &response_to(&inv, 200, "OK", "cb", Some(7002)),
    );
    sim.take_to("127.0.0.1:6002");
    let ok = sim
        .take_to(PBX)
        .into_iter()
        .find(|m| status(m) == 200)
        .expect("the PBX's call is answered");
    let in_dialog = |method: &str, cseq: u32, extra: &str| {
        format!(
            "{method} sip:1002@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 10.9.9.9:5070;branch=z9hG4bKpbx{cseq}\r\n\
             From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\nContact: <sip:pbx@10.9.9.9:5070>\r\n\
             {extra}Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            header(&ok, "From").unwrap(),
            header(&ok, "To").unwrap(),
            header(&ok, "Call-ID").unwrap(),
        )
    };
    sim.input(PBX, &in_dialog("ACK", 1, ""));
    sim.input(
        PBX,
        &in_dialog("REFER", 2, "Refer-To: <sip:+447700900123@127.0.0.1>\r\n"),
    );
    let r = sim.take_to(PBX);
    assert!(r.iter().any(|m| status(m) == 403), "{r:?}");
    assert!(sim.take_to("127.0.0.1:5099").is_empty());
    sim.input(
        PBX,
        &in_dialog("REFER", 3, "Refer-To: <sip:1003@127.0.0.1>\r\n"),
    );
    let r = sim.take_to(PBX);
    assert!(r.iter().any(|m| status(m) == 202), "{r:?}");
    let trying = r
        .iter()
        .find(|m| m.starts_with("NOTIFY "))
        .expect("a NOTIFY");
    assert_eq!(sipfrag(trying), "SIP/2.0 100 Trying");
    assert!(sim
        .take_to("127.0.0.1:6003")
        .iter()
        .any(|m| m.starts_with("INVITE sip:1003@")));
    assert_eq!(sim.core.active_calls(), 2);
}

/// Attended transfer from the caller's side: 1001 calls 1002 (answered), calls 1003 from a
/// second line (6011, answered), then REFERs on its first call replacing its call to 1003.
/// 1002 and 1003 are joined (both calls' A legs face each other) and 1001 leaves both.
#[tokio::test]
async fn the_caller_hands_the_party_it_called_to_another_call_of_its_own() {
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1003(&mut sim);
    let (inv, ok) = established_call(&mut sim);
    authed_call(&mut sim, "1001", "pw-1001-secret", "1003", 6011);
    let inv3 = sim.take_to("127.0.0.1:6003").remove(0);
    let ok3 = response_to(&inv3, 200, "OK", "c3", Some(7003))
        .replace("callee@127.0.0.1:6002", "callee@127.0.0.1:6003");
    sim.input("127.0.0.1:6003", &ok3);
    sim.take_to("127.0.0.1:6003");
    let ok_y = sim
        .take_to("127.0.0.1:6011")
        .into_iter()
        .find(|m| status(m) == 200)
        .expect("1001's second call is answered");
    sim.input(
        "127.0.0.1:6011",
        &format!(
            "ACK sip:ringside@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6011;branch=z9hG4bKack6011;rport\r\n\
             From: {}\r\nTo: {}\r\nCall-ID: call-6011\r\nCSeq: 2 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            header(&ok_y, "From").unwrap(),
            header(&ok_y, "To").unwrap()
        ),
    );
    assert_eq!(sim.core.active_calls(), 2);
    let before = sim.media.requests().len();
    let ours = header(&ok_y, "To")
        .unwrap()
        .split(";tag=")
        .nth(1)
        .unwrap()
        .to_owned();
    let refer_to = format!(
        "Refer-To: <sip:1003@127.0.0.1?Replaces=call-6011%3Bto-tag%3D{ours}%3Bfrom-tag%3Dc6011>\r\n"
    );
    sim.input(
        "127.0.0.1:6001",
        &from_caller(&ok, "REFER", 3, &refer_to, None),
    );
    let to_referrer = transfer_done(sim.take_to("127.0.0.1:6001"));
    assert!(
        to_referrer
            .iter()
            .any(|m| m.starts_with("BYE ") && header(m, "Call-ID") == Some("call-6001")),
        "{to_referrer:?}"
    );
    assert!(sim
        .take_to("127.0.0.1:6011")
        .iter()
        .any(|m| m.starts_with("BYE ") && header(m, "Call-ID") == Some("call-6011")));
    // Neither called party hears of it; the calls are joined on their A legs.
    assert!(sim.take_to("127.0.0.1:6002").is_empty());
    assert!(sim.take_to("127.0.0.1:6003").is_empty());
    let after = sim.media.requests()[before..].to_vec();
    let pins = pins(&after);
    assert_eq!(pins.len(), 2, "{after:?}");
    assert_eq!((pins[0].1, pins[1].1), (Side::A, Side::A));
    assert_ne!(pins[0].0, pins[1].0);
    assert_eq!(sim.core.active_calls(), 2);
    // 1002 hangs up: 1003 is hung up too.
    sim.input("127.0.0.1:6002", &referrer_bye(&inv));
    assert!(sim
        .take_to("127.0.0.1:6002")
        .iter()
        .any(|m| status(m) == 200));
    assert!(sim
        .take_to("127.0.0.1:6003")
        .iter()
        .any(|m| m.starts_with("BYE ")));
    assert_eq!(sim.core.active_calls(), 0);
}
