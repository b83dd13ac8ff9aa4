//! SRTP keys on SIP legs (SDES, RFC 4568) on simulated time: each leg is keyed on its own
//! (the callee never sees the caller's key), the relay gets each leg's keys once both
//! directions are known, and the extension's `srtp` policy refuses what it cannot carry.

mod common;

use std::time::Duration;

use common::*;
use ringside_calls::directory::DirectoryChange;
use ringside_calls::fake_media::MediaRequest;
use ringside_calls::Side;
use ringside_media::srtp::{random_master, SrtpSuite};
use ringside_sip::sdp::Crypto;

/// `msg` (with a plain SDP body) with `proto` and `crypto` lines in its SDP.
fn secured(msg: &str, proto: &str, crypto: &str) -> String {
    let (head, sdp) = msg.split_once("\r\n\r\n").unwrap();
    let sdp = sdp.replace("RTP/AVP", proto) + crypto;
    let head = head
        .lines()
        .filter(|l| !l.starts_with("Content-Length"))
        .collect::<Vec<_>>()
        .join("\r\n");
    format!("{head}\r\nContent-Length: {}\r\n\r\n{sdp}", sdp.len())
}

/// `invite(..)` with `proto` and `crypto` lines in its SDP.
fn srtp_invite(port: u16, cseq: u32, auth: Option<&str>, proto: &str, crypto: &str) -> String {
    secured(&invite("1001", "1002", port, cseq, auth), proto, crypto)
}

fn crypto_line(tag: u32, suite: SrtpSuite, key: &[u8]) -> String {
    format!(
        "a=crypto:{}\r\n",
        Crypto::new(tag, suite.name(), key.to_vec())
    )
}

fn cryptos(msg: &str) -> Vec<Crypto> {
    msg.lines()
        .filter_map(|l| l.strip_prefix("a=crypto:"))
        .map(|v| Crypto::parse(v).unwrap())
        .collect()
}

/// A response to `req` whose SDP answers with `proto` and `crypto`.
fn srtp_response(req: &str, code: u16, proto: &str, crypto: &str) -> String {
    secured(
        &response_to(req, code, "OK", "cb", Some(7002)),
        proto,
        crypto,
    )
}

fn set_policy(sim: &mut Sim, id: &str, user: &str, policy: &str) {
    let mut e = ext(id, user, &format!("pw-{user}-secret"), "t1");
    e.srtp = Some(policy.into());
    sim.change(DirectoryChange::ExtensionUpserted(e));
}

#[tokio::test]
async fn each_leg_is_keyed_on_its_own_and_the_relay_gets_both_legs_keys() {
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1002(&mut sim, 6002);
    let caller_key = random_master(SrtpSuite::AesCm128HmacSha1_80).unwrap();
    let line = crypto_line(1, SrtpSuite::AesCm128HmacSha1_80, &caller_key);
    let r = challenged_call(&mut sim, 6001, |cseq, auth| {
        srtp_invite(6001, cseq, auth, "RTP/SAVP", &line)
    });
    assert!(!r.iter().any(|m| status(m) >= 400), "{r:?}");
    let inv = sim.take_to("127.0.0.1:6002").remove(0);
    // Leg B's offer: Ringside's own keys, one per suite, best effort on RTP/AVP (1002 is
    // `optional`), never the caller's key.
    assert!(
        inv.contains("m=audio ") && inv.contains(" RTP/AVP "),
        "{inv}"
    );
    let offered = cryptos(&inv);
    assert_eq!(offered.len(), 3, "{inv}");
    assert!(offered.iter().all(|c| c.key_salt != caller_key), "{inv}");
    let ours_to_b = offered
        .iter()
        .find(|c| c.suite == "AES_CM_128_HMAC_SHA1_32")
        .unwrap()
        .clone();
    // The callee picks the 32-bit tag suite and sends its own key.
    let callee_key = random_master(SrtpSuite::AesCm128HmacSha1_32).unwrap();
    let answer = crypto_line(ours_to_b.tag, SrtpSuite::AesCm128HmacSha1_32, &callee_key);
    sim.input(
        "127.0.0.1:6002",
        &srtp_response(&inv, 200, "RTP/AVP", &answer),
    );
    let ok = sim
        .take_to("127.0.0.1:6001")
        .into_iter()
        .find(|m| status(m) == 200)
        .expect("the caller's 200");
    // The caller's answer: its tag and suite, SAVP as it offered, Ringside's key for leg A.
    assert!(ok.contains(" RTP/SAVP "), "{ok}");
    let back = cryptos(&ok);
    assert_eq!(back.len(), 1, "{ok}");
    assert_eq!(
        (back[0].tag, back[0].suite.as_str()),
        (1, "AES_CM_128_HMAC_SHA1_80")
    );
    assert!(back[0].key_salt != callee_key && back[0].key_salt != caller_key);
    let a = relay_keys(&sim, Side::A);
    assert_eq!(a.suite, SrtpSuite::AesCm128HmacSha1_80);
    assert_eq!(
        (a.remote.as_slice(), a.local.as_slice()),
        (caller_key.as_slice(), back[0].key_salt.as_slice())
    );
    let b = relay_keys(&sim, Side::B);
    assert_eq!(b.suite, SrtpSuite::AesCm128HmacSha1_32);
    assert_eq!(b.remote, callee_key);
    assert_eq!(b.local, ours_to_b.key_salt);
}

#[tokio::test]
async fn a_plain_answer_to_a_best_effort_offer_leaves_leg_b_plain() {
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1002(&mut sim, 6002);
    let r = challenged_call(&mut sim, 6001, |cseq, auth| {
        invite("1001", "1002", 6001, cseq, auth)
    });
    assert!(!r.iter().any(|m| status(m) >= 400), "{r:?}");
    let inv = sim.take_to("127.0.0.1:6002").remove(0);
    sim.input(
        "127.0.0.1:6002",
        &response_to(&inv, 200, "OK", "cb", Some(7002)),
    );
    let ok = sim
        .take_to("127.0.0.1:6001")
        .into_iter()
        .find(|m| status(m) == 200)
        .unwrap();
    assert!(cryptos(&ok).is_empty() && ok.contains(" RTP/AVP "), "{ok}");
    assert!(
        sim.media
            .requests()
            .iter()
            .all(|r| !matches!(r, MediaRequest::Srtp(_, _, Some(_)))),
        "no leg keyed: {:?}",
        sim.media.requests()
    );
    assert_eq!(sim.core.active_calls(), 1);
}

#[tokio::test]
async fn policies_refuse_offers_and_answers_they_cannot_carry() {
    // The caller's extension requires SRTP: a plain offer is refused 488.
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1002(&mut sim, 6002);
    set_policy(&mut sim, "e1", "1001", "required");
    let r = challenged_call(&mut sim, 6001, |cseq, auth| {
        invite("1001", "1002", 6001, cseq, auth)
    });
    assert!(r.iter().any(|m| status(m) == 488), "{r:?}");
    assert!(sim.take_to("127.0.0.1:6002").is_empty(), "nothing rang");

    // An extension with SRTP off: an offer insisting on it (RTP/SAVP) is refused 488.
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1002(&mut sim, 6002);
    set_policy(&mut sim, "e1", "1001", "off");
    let key = random_master(SrtpSuite::AeadAes128Gcm).unwrap();
    let line = crypto_line(1, SrtpSuite::AeadAes128Gcm, &key);
    let r = challenged_call(&mut sim, 6001, |cseq, auth| {
        srtp_invite(6001, cseq, auth, "RTP/SAVP", &line)
    });
    assert!(r.iter().any(|m| status(m) == 488), "{r:?}");

    // The callee requires SRTP: its offer is SAVP; a plain answer ends that fork (BYE) and
    // the caller hears 488.
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1002(&mut sim, 6002);
    set_policy(&mut sim, "e2", "1002", "required");
    let r = challenged_call(&mut sim, 6001, |cseq, auth| {
        invite("1001", "1002", 6001, cseq, auth)
    });
    assert!(!r.iter().any(|m| status(m) >= 400), "{r:?}");
    let inv = sim.take_to("127.0.0.1:6002").remove(0);
    assert!(inv.contains(" RTP/SAVP "), "{inv}");
    assert_eq!(cryptos(&inv).len(), 3);
    assert!(
        sim.media
            .requests()
            .iter()
            .any(|r| matches!(r, MediaRequest::ExpectSrtp(_, Side::B))),
        "leg B's media takes nothing unencrypted before the answer's keys"
    );
    sim.input(
        "127.0.0.1:6002",
        &response_to(&inv, 200, "OK", "cb", Some(7002)),
    );
    let to_b = sim.take_to("127.0.0.1:6002");
    assert!(to_b.iter().any(|m| m.starts_with("ACK ")), "{to_b:?}");
    assert!(to_b.iter().any(|m| m.starts_with("BYE ")), "{to_b:?}");
    let to_a = sim.take_to("127.0.0.1:6001");
    assert!(to_a.iter().any(|m| status(m) == 488), "{to_a:?}");
    assert!(
        !to_a.iter().any(|m| status(m) == 200),
        "the caller is never connected unencrypted to it: {to_a:?}"
    );
}

fn allow_passthrough(sim: &mut Sim, id: &str, user: &str) {
    let mut e = ext(id, user, &format!("pw-{user}-secret"), "t1");
    e.srtp_passthrough = true;
    sim.change(DirectoryChange::ExtensionUpserted(e));
}

/// The last keys the relay was given for `side`.
fn relay_keys(sim: &Sim, side: Side) -> ringside_media::srtp::SrtpKeys {
    sim.media
        .requests()
        .iter()
        .rev()
        .find_map(|r| match r {
            MediaRequest::Srtp(_, s, k) if *s == side => Some(k.clone()),
            _ => None,
        })
        .flatten()
        .expect("keys for the leg")
}

/// 1001 calls 1002 offering `suite` with a fresh key; returns that key and leg B's INVITE.
fn srtp_call(sim: &mut Sim, suite: SrtpSuite) -> (Vec<u8>, String) {
    register_1002(sim, 6002);
    let caller_key = random_master(suite).unwrap();
    let line = crypto_line(1, suite, &caller_key);
    let r = challenged_call(sim, 6001, |cseq, auth| {
        srtp_invite(6001, cseq, auth, "RTP/SAVP", &line)
    });
    assert!(!r.iter().any(|m| status(m) >= 400), "{r:?}");
    (caller_key, sim.take_to("127.0.0.1:6002").remove(0))
}

fn answer_b(sim: &mut Sim, inv: &str, tag: u32, suite: SrtpSuite, key: &[u8]) -> String {
    let answer = crypto_line(tag, suite, key);
    sim.input(
        "127.0.0.1:6002",
        &srtp_response(inv, 200, "RTP/AVP", &answer),
    );
    sim.take_to("127.0.0.1:6001")
        .into_iter()
        .find(|m| status(m) == 200)
        .expect("the caller's 200")
}

#[tokio::test]
async fn with_passthrough_on_both_legs_each_phone_is_given_the_others_key() {
    let mut sim = Sim::new(Duration::from_secs(30));
    allow_passthrough(&mut sim, "e1", "1001");
    allow_passthrough(&mut sim, "e2", "1002");
    let suite = SrtpSuite::AesCm128HmacSha1_80;
    let (caller_key, inv) = srtp_call(&mut sim, suite);
    // The caller's key comes first (tag 4), then Ringside's own, one per suite.
    let offered = cryptos(&inv);
    assert_eq!(offered.len(), 4, "{inv}");
    assert_eq!(
        (offered[0].tag, offered[0].suite.as_str()),
        (4, suite.name())
    );
    assert_eq!(offered[0].key_salt, caller_key);
    assert!(offered[1..].iter().all(|c| c.key_salt != caller_key));
    // The callee takes it; the caller is answered with the callee's key.
    let callee_key = random_master(suite).unwrap();
    let ok = answer_b(&mut sim, &inv, 4, suite, &callee_key);
    let back = cryptos(&ok);
    assert_eq!(back.len(), 1, "{ok}");
    assert_eq!((back[0].tag, back[0].suite.as_str()), (1, suite.name()));
    assert_eq!(back[0].key_salt, callee_key, "{ok}");
    // The relay's keys mirror each other: it can send each packet on as it came.
    let a = relay_keys(&sim, Side::A);
    let b = relay_keys(&sim, Side::B);
    assert_eq!(
        (a.remote.clone(), a.local.clone()),
        (caller_key.clone(), callee_key.clone())
    );
    assert_eq!((b.remote, b.local), (callee_key, caller_key));
}

#[tokio::test]
async fn passthrough_needs_both_legs_and_one_suite_else_each_leg_is_keyed_on_its_own() {
    // Only the callee allows it: nothing of the caller's is offered on.
    let mut sim = Sim::new(Duration::from_secs(30));
    allow_passthrough(&mut sim, "e2", "1002");
    let (caller_key, inv) = srtp_call(&mut sim, SrtpSuite::AeadAes128Gcm);
    let offered = cryptos(&inv);
    assert_eq!(offered.len(), 3, "{inv}");
    assert!(offered
        .iter()
        .all(|c| c.key_salt != caller_key && c.tag != 4));

    // Both allow it, but the callee picks another suite (Ringside's own line): re-keyed.
    let mut sim = Sim::new(Duration::from_secs(30));
    allow_passthrough(&mut sim, "e1", "1001");
    allow_passthrough(&mut sim, "e2", "1002");
    let (caller_key, inv) = srtp_call(&mut sim, SrtpSuite::AesCm128HmacSha1_80);
    let own32 = cryptos(&inv)
        .into_iter()
        .find(|c| c.suite == "AES_CM_128_HMAC_SHA1_32")
        .unwrap();
    let callee_key = random_master(SrtpSuite::AesCm128HmacSha1_32).unwrap();
    let ok = answer_b(
        &mut sim,
        &inv,
        own32.tag,
        SrtpSuite::AesCm128HmacSha1_32,
        &callee_key,
    );
    let back = cryptos(&ok);
    assert!(back[0].key_salt != callee_key && back[0].key_salt != caller_key);
    let b = relay_keys(&sim, Side::B);
    assert_eq!(b.local, own32.key_salt);
    let a = relay_keys(&sim, Side::A);
    assert_ne!(a.local, b.remote);
}
