//! Regression tests of the security campaign (issue 12) on simulated time: digest replay,
//! cross-tenant trunk capture, login shadowing and the failure throttle; and REFER limited to
//! what the referrer could dial itself (issue 17).

mod common;

use std::time::Duration;

use common::*;
use ringside_calls::core::CoreOutput;
use ringside_calls::directory::DirectoryChange;
use ringside_sip::auth::client_authorization;

/// The value of the first `Proxy-Authorization` (or `Authorization`) header of `msg`.
fn creds_of(msg: &str, proxy: bool) -> String {
    let name = if proxy {
        "Proxy-Authorization"
    } else {
        "Authorization"
    };
    header(msg, name).expect("credentials").to_string()
}

/// Replace the first line (the Request-URI) of an INVITE.
fn retarget(msg: &str, uri: &str) -> String {
    let (_, rest) = msg.split_once("\r\n").unwrap();
    format!("INVITE {uri} SIP/2.0\r\n{rest}")
}

/// Give a message another branch and Call-ID so it is a new transaction and a new call.
fn fresh(msg: &str, n: u32) -> String {
    msg.replace("branch=z9hG4bKinv", &format!("branch=z9hG4bKre{n}"))
        .replace("Call-ID: call-", &format!("Call-ID: replay{n}-"))
        .replace("branch=z9hG4bKreg", &format!("branch=z9hG4bKrr{n}"))
}

fn authed_pstn_invite(sim: &mut Sim, port: u16) -> String {
    let from = format!("127.0.0.1:{port}");
    sim.input(&from, &invite("1001", "+14155550123", port, 1, None));
    let r = sim.take_to(&from);
    let challenge = r.iter().find(|m| status(m) == 407).expect("407").clone();
    let a = answer(
        &challenge,
        true,
        "INVITE",
        "sip:+14155550123@127.0.0.1:5060",
        "1001",
        "pw-1001-secret",
    );
    let authed = invite("1001", "+14155550123", port, 2, Some(&a));
    sim.input(&from, &authed);
    let out = sim.take_to("127.0.0.1:5099");
    assert_eq!(out.len(), 1, "the honest call reaches the carrier");
    authed
}

#[tokio::test]
async fn a_captured_invite_replayed_to_another_number_never_reaches_the_carrier() {
    let mut sim = Sim::new(Duration::from_secs(30));
    let authed = authed_pstn_invite(&mut sim, 6001);

    // The same credentials for another number, from the same address (spoofed UDP).
    let other = fresh(
        &retarget(&authed, "sip:+14155550199@127.0.0.1:5060").replace(
            "To: <sip:+14155550123@127.0.0.1>",
            "To: <sip:+14155550199@127.0.0.1>",
        ),
        1,
    );
    sim.input("127.0.0.1:6001", &other);
    let r = sim.take_to("127.0.0.1:6001");
    assert!(
        r.iter().any(|m| [403, 407].contains(&status(m))),
        "refused: {r:?}"
    );
    assert!(
        sim.take_to("127.0.0.1:5099").is_empty(),
        "the replay to another number reached the carrier"
    );

    // The same request again (same number, same nonce count): a replay, re-challenged stale.
    sim.input("127.0.0.1:6001", &fresh(&authed, 2));
    let r = sim.take_to("127.0.0.1:6001");
    let c = r
        .iter()
        .find(|m| status(m) == 407)
        .expect("407 for the replay");
    assert!(c.contains("stale=true"), "{c}");
    assert!(sim.take_to("127.0.0.1:5099").is_empty());

    // From another address: the nonce was not issued there.
    sim.input("127.0.0.66:6001", &fresh(&authed, 3));
    let r = sim.take_to("127.0.0.66:6001");
    assert!(r.iter().any(|m| status(m) == 407), "{r:?}");
    assert!(sim.take_to("127.0.0.1:5099").is_empty());
    // None of this was counted as a wrong password: the real phone is not locked out.
    assert_eq!(
        sim.core_metrics_auth_failures(),
        1,
        "only the misdirected replay counted as a refusal"
    );
}

#[tokio::test]
async fn an_honest_client_may_reuse_a_nonce_with_a_growing_count() {
    let mut sim = Sim::new(Duration::from_secs(30));
    let from = "127.0.0.1:6001";
    sim.input(from, &invite("1001", "+14155550123", 6001, 1, None));
    let challenge = sim
        .take_to(from)
        .into_iter()
        .find(|m| status(m) == 407)
        .unwrap();
    let ch = header(&challenge, "Proxy-Authenticate")
        .unwrap()
        .to_string();
    let uri = "sip:+14155550123@127.0.0.1:5060";
    for (n, port) in [(1u32, 6001u16), (2, 6002), (5, 6003)] {
        let a = client_authorization(&ch, "INVITE", uri, "1001", "pw-1001-secret", n, "cn0nce")
            .unwrap();
        let inv = fresh(&invite("1001", "+14155550123", port, 2, Some(&a)), n);
        sim.input(from, &inv);
        assert_eq!(
            sim.take_to("127.0.0.1:5099").len(),
            1,
            "nc={n} accepted: {:?}",
            sim.take_to(from)
        );
    }
    // Going back to a lower count is a replay.
    let a = client_authorization(&ch, "INVITE", uri, "1001", "pw-1001-secret", 4, "x").unwrap();
    sim.input(
        from,
        &fresh(&invite("1001", "+14155550123", 6009, 2, Some(&a)), 9),
    );
    assert!(sim.take_to("127.0.0.1:5099").is_empty());
    // A nonce outlives its 30 s: then stale.
    sim.now_ms += 31_000;
    let a = client_authorization(&ch, "INVITE", uri, "1001", "pw-1001-secret", 9, "x").unwrap();
    sim.input(
        from,
        &fresh(&invite("1001", "+14155550123", 6010, 2, Some(&a)), 10),
    );
    let r = sim.take_to(from);
    assert!(
        r.iter()
            .any(|m| status(m) == 407 && m.contains("stale=true")),
        "{r:?}"
    );
    assert!(sim.take_to("127.0.0.1:5099").is_empty());
}

#[tokio::test]
async fn a_captured_register_replayed_with_another_contact_is_refused() {
    let mut sim = Sim::new(Duration::from_secs(30));
    let from = "127.0.0.1:6002";
    sim.input(from, &register("1002", 6002, 1, None));
    let r = sim.take_to(from).remove(0);
    let a = answer(
        &r,
        false,
        "REGISTER",
        "sip:127.0.0.1:5060",
        "1002",
        "pw-1002-secret",
    );
    let honest = register("1002", 6002, 2, Some(&a));
    sim.input(from, &honest);
    assert_eq!(status(&sim.take_to(from).remove(0)), 200);
    let bindings = |sim: &mut Sim| {
        sim.other
            .drain(..)
            .filter(|o| matches!(o, CoreOutput::Binding(_)))
            .count()
    };
    assert_eq!(bindings(&mut sim), 1);

    // The attacker sends the captured credentials with its own Contact, spoofing the phone's
    // address, then from its own.
    let hijack = fresh(&honest, 1).replace(
        "Contact: <sip:1002@127.0.0.1:6002>",
        "Contact: <sip:1002@127.0.0.66:7777>",
    );
    assert_eq!(creds_of(&hijack, false), creds_of(&honest, false));
    sim.input(from, &hijack);
    let r = sim.take_to(from).remove(0);
    assert_eq!(status(&r), 401, "{r}");
    assert!(r.contains("stale=true"), "{r}");
    sim.input("127.0.0.66:7777", &fresh(&hijack, 2));
    let answers: Vec<u16> = sim.sent.drain(..).map(|(_, m)| status(&m)).collect();
    assert_eq!(answers, vec![401], "from another address: challenged");
    assert_eq!(bindings(&mut sim), 0, "no binding changed");
}

#[tokio::test]
async fn a_spoofed_source_cannot_lock_out_other_users_behind_the_same_address() {
    let mut sim = Sim::new(Duration::from_secs(30));
    let from = "127.0.0.9:6009";
    let mut cseq = 1;
    let mut attempt = |sim: &mut Sim, user: &str, pw: &str| {
        register_attempt(sim, from, 6009, &mut cseq, user, pw)
    };
    for _ in 0..10 {
        assert_eq!(attempt(&mut sim, "1002", "guess"), 403);
    }
    // 1002 is throttled from this address...
    assert_eq!(attempt(&mut sim, "1002", "pw-1002-secret"), 403);
    // ... but 1001 behind the same NAT registers, again and again: correct credentials never
    // count against the address.
    for _ in 0..60 {
        assert_eq!(attempt(&mut sim, "1001", "pw-1001-secret"), 200);
    }
    // A scanner trying many usernames hits the per-address ceiling (5 × 10 failures).
    let mut refused_without_check = false;
    for i in 0..60 {
        let s = attempt(&mut sim, &format!("scan{i}"), "x");
        assert_eq!(s, 403);
        refused_without_check |= i >= 40;
    }
    assert!(refused_without_check);
    assert_eq!(
        attempt(&mut sim, "1001", "pw-1001-secret"),
        403,
        "over the ceiling, the whole address waits"
    );
    sim.advance(Duration::from_secs(61));
    assert_eq!(attempt(&mut sim, "1001", "pw-1001-secret"), 200);
}

#[tokio::test]
async fn another_tenants_catch_all_trunk_does_not_capture_extension_calls() {
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1002(&mut sim, 6102);
    // Tenant t2 trusts the whole Internet (stored before such networks were refused).
    let mut t = trunk("t2", "0.0.0.0/0", 5098, None);
    t.id = "trunk-t2".into();
    t.outbound_host = None;
    t.created_at = -1;
    sim.change(DirectoryChange::TrunkUpserted(t));

    // 1001 (tenant t1) calls 1002 (t1): challenged as always, then rings 1002.
    let r = authed_call(&mut sim, "1001", "pw-1001-secret", "1002", 6001);
    assert!(
        r.iter().all(|m| status(m) != 404),
        "not turned into t2's trunk call: {r:?}"
    );
    let at_phone = sim.take_to("127.0.0.1:6102");
    assert!(
        at_phone.iter().any(|m| m.starts_with("INVITE ")),
        "1002 rings: {at_phone:?}"
    );

    // Without credentials, an INVITE towards t1's extension is challenged, not trusted.
    sim.input("127.0.0.1:6005", &invite("x", "1002", 6005, 1, None));
    let r = sim.take_to("127.0.0.1:6005");
    assert!(r.iter().any(|m| status(m) == 407), "{r:?}");

    // The trunk still carries calls to its own tenant's extension 2001 (not registered: 480).
    sim.input("127.0.0.1:6006", &invite("pbx", "2001", 6006, 1, None));
    let r = sim.take_to("127.0.0.1:6006");
    assert!(r.iter().any(|m| status(m) == 480), "{r:?}");
}

#[tokio::test]
async fn a_login_claimed_by_two_tenants_authenticates_as_neither() {
    let mut sim = Sim::new(Duration::from_secs(30));
    // Stored before logins shared one namespace: t2's trunk login equals t1's extension 1001.
    let mut t = trunk("t2", "192.0.2.1/32", 5098, None);
    t.id = "trunk-t2".into();
    t.inbound_username = Some("1001".into());
    t.inbound_realm = Some(REALM.into());
    t.inbound_ha1_md5 = Some(ringside_sip::auth::ha1(
        ringside_sip::auth::Algorithm::Md5,
        "1001",
        REALM,
        "trunk-pw",
    ));
    t.inbound_ha1_sha256 = Some(ringside_sip::auth::ha1(
        ringside_sip::auth::Algorithm::Sha256,
        "1001",
        REALM,
        "trunk-pw",
    ));
    sim.change(DirectoryChange::TrunkUpserted(t));
    for (pw, port) in [("pw-1001-secret", 6001), ("trunk-pw", 6002)] {
        let r = authed_call(&mut sim, "1001", pw, "+14155550123", port);
        assert!(r.iter().any(|m| status(m) == 403), "{r:?}");
    }
    assert!(sim.take_to("127.0.0.1:5099").is_empty());
}

/// Call transfer is a classic toll-fraud path (a party in a call asks the server to dial a
/// number on its behalf). Ringside transfers only to where the referrer could dial itself: a
/// number no trunk of the tenant allows gets 403 from either side of the call, a REFER that
/// is not on the caller's own dialog (a forged From tag) 481, and nothing goes to the trunk
/// or anyone. (Transfers that may go ahead: `transfer.rs`.)
#[tokio::test]
async fn a_refer_is_refused_and_dials_nothing() {
    let mut sim = Sim::new(Duration::from_secs(30));
    let (inv, ok) = established_call(&mut sim);
    let refer = from_caller(
        &ok,
        "REFER",
        3,
        "Refer-To: <sip:+447700900123@127.0.0.1:5060>\r\nReferred-By: <sip:1001@127.0.0.1>\r\n",
        None,
    );
    sim.input("127.0.0.1:6001", &refer);
    let r = sim.take_to("127.0.0.1:6001");
    assert!(r.iter().any(|m| status(m) == 403), "{r:?}");
    // A number 1001 may dial, but asked for by someone who only knows the Call-ID and
    // Ringside's tag: not the caller's dialog.
    let forged = from_caller(
        &ok,
        "REFER",
        4,
        "Refer-To: <sip:+14155550123@127.0.0.1:5060>\r\n",
        None,
    )
    .replace(";tag=c6001", ";tag=forged");
    sim.input("127.0.0.1:6001", &forged);
    let r = sim.take_to("127.0.0.1:6001");
    assert!(r.iter().any(|m| status(m) == 481), "{r:?}");
    // From the callee's side, to a number no trunk of the tenant lets it dial.
    let from_callee = format!(
        "REFER sip:ringside@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6002;branch=z9hG4bKrefer;rport\r\nFrom: <sip:1002@127.0.0.1>;tag=cb\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 7 REFER\r\nRefer-To: <sip:+447700900123@127.0.0.1>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        header(&inv, "From").unwrap(),
        header(&inv, "Call-ID").unwrap(),
    );
    sim.input("127.0.0.1:6002", &from_callee);
    assert!(sim
        .take_to("127.0.0.1:6002")
        .iter()
        .any(|m| status(m) == 403));
    assert!(
        sim.take_to("127.0.0.1:5099").is_empty(),
        "nothing went to the carrier"
    );
    assert!(
        sim.sent.iter().all(|(_, m)| !m.starts_with("INVITE ")),
        "no new call was placed: {:?}",
        sim.sent
    );
}
