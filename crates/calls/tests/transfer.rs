//! Blind transfer (RFC 3515 REFER with RFC 3420 sipfrag NOTIFYs) on simulated time: the
//! extension that answered transfers the caller to another extension; the new party rings
//! with Ringside's offer, and when it answers leg B moves to it and the referrer is told and
//! hung up. Refused: REFER from a trunk's party, to a number the extension may not dial, from
//! the caller's side, with Replaces; a failed transfer leaves the referrer with the caller.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use ringside_calls::directory::DirectoryChange;
use ringside_calls::fake_media::MediaRequest;
use ringside_calls::Side;

/// 1003 of tenant t1, registered at 6003.
fn register_1003(sim: &mut Sim) {
    sim.change(DirectoryChange::ExtensionUpserted(ext(
        "e4",
        "1003",
        "pw-1003-secret",
        "t1",
    )));
    let from = "127.0.0.1:6003";
    sim.input(from, &register("1003", 6003, 1, None));
    let r = sim.take_to(from);
    let a = answer(
        &r[0],
        false,
        "REGISTER",
        "sip:127.0.0.1:5060",
        "1003",
        "pw-1003-secret",
    );
    sim.input(from, &register("1003", 6003, 2, Some(&a)));
    assert_eq!(status(&sim.take_to(from)[0]), 200);
}

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
    // Attended transfer (Replaces): not supported yet.
    sim.input(
        "127.0.0.1:6002",
        &refer(
            &inv,
            3,
            "sip:1001@127.0.0.1?Replaces=abc%3Bto-tag%3D1%3Bfrom-tag%3D2",
        ),
    );
    assert!(sim
        .take_to("127.0.0.1:6002")
        .iter()
        .any(|m| status(m) == 501));
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

    // A REFER from the caller's side: not supported (the caller's leg cannot be re-pointed).
    let mut sim = Sim::new(Duration::from_secs(30));
    let (_, ok) = established_call(&mut sim);
    let req = from_caller(&ok, "REFER", 3, "Refer-To: <sip:1003@127.0.0.1>\r\n", None);
    sim.input("127.0.0.1:6001", &req);
    assert!(sim
        .take_to("127.0.0.1:6001")
        .iter()
        .any(|m| status(m) == 501));
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
