//! Session timers (RFC 4028) on the caller's leg, on simulated time: an interval below
//! Ringside's floor is refused 422 with `Min-SE`; an agreed timer is announced in the 200;
//! a caller that refreshes keeps its call, one that stops is hung up on both sides before the
//! session expires; and when Ringside is the refresher it sends UPDATEs, ending the call
//! when the caller has gone (481).

mod common;

use std::time::Duration;

use common::*;

/// `invite(..)` from 1001 to 1002 with `extra` header lines.
fn timed_invite(port: u16, cseq: u32, auth: Option<&str>, extra: &str) -> String {
    invite("1001", "1002", port, cseq, auth).replacen(
        "Max-Forwards: 70\r\n",
        &format!("{extra}Max-Forwards: 70\r\n"),
        1,
    )
}

/// An authenticated call from 6001 with `extra` headers: what the caller got, and the INVITE
/// leg B got (if any).
fn call(sim: &mut Sim, extra: &str) -> (Vec<String>, Option<String>) {
    register_1002(sim, 6002);
    let r = challenged_call(sim, 6001, |cseq, auth| {
        timed_invite(6001, cseq, auth, extra)
    });
    let inv = sim.take_to("127.0.0.1:6002").into_iter().next();
    (r, inv)
}

#[tokio::test]
async fn an_interval_below_the_floor_is_refused_422_with_min_se() {
    let mut sim = Sim::new(Duration::from_secs(30));
    let (r, inv) = call(&mut sim, "Session-Expires: 60\r\nSupported: timer\r\n");
    let refusal = r.iter().find(|m| status(m) == 422).expect("422");
    assert_eq!(header(refusal, "Min-SE"), Some("90"), "{refusal}");
    assert!(inv.is_none(), "nothing rang");
    assert_eq!(sim.core.active_calls(), 0);
}

#[tokio::test]
async fn a_caller_that_refreshes_keeps_its_call_and_one_that_stops_is_hung_up() {
    let mut sim = Sim::new(Duration::from_secs(30));
    let (_, inv) = call(&mut sim, "Session-Expires: 120\r\nSupported: timer\r\n");
    let ok = answer_and_ack(&mut sim, &inv.expect("leg B rang"));
    assert_eq!(
        header(&ok, "Session-Expires"),
        Some("120;refresher=uac"),
        "{ok}"
    );
    assert_eq!(header(&ok, "Require"), Some("timer"), "{ok}");
    // At 60 s the caller refreshes with UPDATE: forwarded, answered, and the answer carries
    // the session's terms.
    sim.advance(Duration::from_secs(60));
    sim.input(
        "127.0.0.1:6001",
        &from_caller(
            &ok,
            "UPDATE",
            3,
            "Session-Expires: 120;refresher=uac\r\n",
            None,
        ),
    );
    let fwd = sim
        .take_to("127.0.0.1:6002")
        .into_iter()
        .find(|m| m.starts_with("UPDATE "))
        .expect("the refresh is forwarded");
    sim.input("127.0.0.1:6002", &response_to(&fwd, 200, "OK", "cb", None));
    let back = sim.take_to("127.0.0.1:6001");
    let ok2 = back
        .iter()
        .find(|m| status(m) == 200)
        .expect("200 to the refresh");
    assert_eq!(
        header(ok2, "Session-Expires"),
        Some("120;refresher=uac"),
        "{ok2}"
    );
    // 87 s after the refresh (the deadline is the interval less 32 s: 88 s): still up.
    sim.advance(Duration::from_secs(87));
    assert_eq!(sim.core.active_calls(), 1, "refreshed in time");
    assert!(sim.take_to("127.0.0.1:6001").is_empty());
    // No second refresh: at 88 s both sides get a BYE and the call ends.
    sim.advance(Duration::from_secs(2));
    assert!(
        sim.take_to("127.0.0.1:6001")
            .iter()
            .any(|m| m.starts_with("BYE ")),
        "caller hung up"
    );
    assert!(
        sim.take_to("127.0.0.1:6002")
            .iter()
            .any(|m| m.starts_with("BYE ")),
        "callee hung up"
    );
    assert_eq!(sim.core.active_calls(), 0);
    let ended = sim
        .other
        .iter()
        .rev()
        .find_map(|o| match o {
            ringside_calls::output::CoreOutput::UpdateCall(r) if r.ended_at.is_some() => {
                Some(r.clone())
            }
            _ => None,
        })
        .expect("the ended call record");
    assert_eq!(
        ended.end_reason,
        Some(ringside_domain::EndReason::SessionExpired)
    );
}

#[tokio::test]
async fn ringside_refreshes_a_caller_without_timer_support_and_ends_when_it_is_gone() {
    let mut sim = Sim::new(Duration::from_secs(30));
    // A proxy asked for 90 s; the caller knows nothing of timers but allows UPDATE.
    let (_, inv) = call(
        &mut sim,
        "Session-Expires: 90\r\nAllow: INVITE, ACK, BYE, CANCEL, UPDATE\r\n",
    );
    let ok = answer_and_ack(&mut sim, &inv.expect("leg B rang"));
    assert_eq!(
        header(&ok, "Session-Expires"),
        Some("90;refresher=uas"),
        "{ok}"
    );
    assert_eq!(
        header(&ok, "Require"),
        None,
        "the caller does not support timers"
    );
    // At half the interval Ringside refreshes the caller.
    sim.advance(Duration::from_secs(44));
    assert!(sim.take_to("127.0.0.1:6001").is_empty());
    sim.advance(Duration::from_secs(2));
    let upd = sim
        .take_to("127.0.0.1:6001")
        .into_iter()
        .find(|m| m.starts_with("UPDATE "))
        .expect("Ringside's refresh");
    assert_eq!(
        header(&upd, "Session-Expires"),
        Some("90;refresher=uas"),
        "{upd}"
    );
    // The caller's own offer crossed it (491): Ringside tries again within 2 s.
    sim.input(
        "127.0.0.1:6001",
        &response_to(&upd, 491, "Request Pending", "c6001", None),
    );
    assert!(sim.take_to("127.0.0.1:6001").is_empty());
    sim.advance(Duration::from_secs(2));
    let upd = sim
        .take_to("127.0.0.1:6001")
        .into_iter()
        .find(|m| m.starts_with("UPDATE "))
        .expect("the refresh, again");
    sim.input(
        "127.0.0.1:6001",
        &response_to(&upd, 200, "OK", "c6001", None),
    );
    assert_eq!(sim.core.active_calls(), 1);
    // The next refresh finds the dialog gone (481): the call ends on both sides.
    sim.advance(Duration::from_secs(46));
    let upd = sim
        .take_to("127.0.0.1:6001")
        .into_iter()
        .find(|m| m.starts_with("UPDATE "))
        .expect("the second refresh");
    sim.input(
        "127.0.0.1:6001",
        &response_to(&upd, 481, "Call Does Not Exist", "c6001", None),
    );
    assert!(
        sim.take_to("127.0.0.1:6002")
            .iter()
            .any(|m| m.starts_with("BYE ")),
        "callee hung up"
    );
    assert_eq!(sim.core.active_calls(), 0);
}

#[tokio::test]
async fn an_extension_ringside_lacks_is_refused_420_naming_it() {
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1002(&mut sim, 6002);
    sim.input(
        "127.0.0.1:6001",
        &timed_invite(6001, 1, None, "Require: 100rel, timer, precondition\r\n"),
    );
    let r = sim.take_to("127.0.0.1:6001");
    let refusal = r.iter().find(|m| status(m) == 420).expect("420");
    assert_eq!(
        header(refusal, "Unsupported"),
        Some("precondition"),
        "{refusal}"
    );
    assert!(
        header(refusal, "Supported").is_some_and(|s| s.contains("100rel")),
        "{refusal}"
    );
    assert!(sim.take_to("127.0.0.1:6002").is_empty(), "nothing rang");
    // Requiring only what Ringside has (timer) goes on to the usual challenge.
    sim.input(
        "127.0.0.1:6003",
        &timed_invite(
            6003,
            1,
            None,
            "Require: timer, 100rel\r\nSession-Expires: 600\r\n",
        ),
    );
    let r = sim.take_to("127.0.0.1:6003");
    assert!(r.iter().any(|m| status(m) == 407), "{r:?}");
}

/// 1002 asks for a `secs` session timer on calls to it; 1001 calls it (no timer of its own):
/// leg B's INVITE.
fn call_timed_callee(sim: &mut Sim, secs: u32) -> String {
    let mut e = ext("e2", "1002", "pw-1002-secret", "t1");
    e.session_timer_secs = Some(secs);
    sim.change(ringside_calls::directory::DirectoryChange::ExtensionUpserted(e));
    let (_, inv) = call(sim, "");
    inv.expect("leg B rang")
}

/// An in-dialog request from the callee (tag `cb`) on leg B.
fn from_callee(inv: &str, method: &str, cseq: u32, extra: &str) -> String {
    format!(
        "{method} sip:ringside@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6002;branch=z9hG4bKc{method}{cseq};rport\r\n\
         From: {};tag=cb\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\n\
         Contact: <sip:callee@127.0.0.1:6002>\r\n{extra}Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        header(inv, "To").unwrap(),
        header(inv, "From").unwrap(),
        header(inv, "Call-ID").unwrap(),
    )
}

#[tokio::test]
async fn ringside_asks_the_callee_for_its_session_timer_and_refreshes_it() {
    let mut sim = Sim::new(Duration::from_secs(30));
    let inv = call_timed_callee(&mut sim, 120);
    assert_eq!(header(&inv, "Session-Expires"), Some("120"), "{inv}");
    assert_eq!(header(&inv, "Min-SE"), Some("90"), "{inv}");
    assert!(inv.contains("Supported: timer"), "{inv}");
    // The callee leaves the refreshing to Ringside (the UAC) and allows UPDATE.
    answer_and_ack_with(
        &mut sim,
        &inv,
        "Session-Expires: 120;refresher=uac\r\nRequire: timer\r\nAllow: INVITE, ACK, BYE, UPDATE\r\n",
    );
    sim.advance(Duration::from_secs(59));
    assert!(
        sim.take_to("127.0.0.1:6002").is_empty(),
        "not before half the interval"
    );
    sim.advance(Duration::from_secs(2));
    let upd = sim.take_to("127.0.0.1:6002");
    let upd = upd
        .iter()
        .find(|m| m.starts_with("UPDATE "))
        .unwrap_or_else(|| panic!("Ringside refreshes at 60 s: {upd:?}"));
    assert_eq!(
        header(upd, "Session-Expires"),
        Some("120;refresher=uac"),
        "{upd}"
    );
    sim.input("127.0.0.1:6002", &response_to(upd, 200, "OK", "cb", None));
    assert!(
        sim.take_to("127.0.0.1:6001").is_empty(),
        "the caller hears nothing of it"
    );
    // The next one at 120 s; the call never expires while they are answered.
    sim.advance(Duration::from_secs(60));
    let again = sim.take_to("127.0.0.1:6002");
    assert!(again.iter().any(|m| m.starts_with("UPDATE ")), "{again:?}");
    assert_eq!(sim.core.active_calls(), 1);
    // A refresh the callee answers 481 (it has lost the dialog): the call ends on both sides.
    sim.advance(Duration::from_secs(60));
    let upd = sim.take_to("127.0.0.1:6002");
    let upd = upd.iter().find(|m| m.starts_with("UPDATE ")).unwrap();
    sim.input("127.0.0.1:6002", &response_to(upd, 481, "Gone", "cb", None));
    let to_caller = sim.take_to("127.0.0.1:6001");
    assert!(
        to_caller.iter().any(|m| m.starts_with("BYE ")),
        "{to_caller:?}"
    );
    assert_eq!(sim.core.active_calls(), 0);
}

#[tokio::test]
async fn a_callee_that_should_refresh_and_stops_is_hung_up() {
    let mut sim = Sim::new(Duration::from_secs(30));
    let inv = call_timed_callee(&mut sim, 120);
    answer_and_ack_with(
        &mut sim,
        &inv,
        "Session-Expires: 120;refresher=uas\r\nRequire: timer\r\n",
    );
    // The callee refreshes at 50 s with UPDATE: forwarded to the caller, and the answer back
    // carries the terms it asked for.
    sim.advance(Duration::from_secs(50));
    sim.input(
        "127.0.0.1:6002",
        &from_callee(
            &inv,
            "UPDATE",
            1,
            "Session-Expires: 120;refresher=uac\r\nSupported: timer\r\n",
        ),
    );
    let fwd = sim.take_to("127.0.0.1:6001");
    let fwd = fwd
        .iter()
        .find(|m| m.starts_with("UPDATE "))
        .expect("forwarded");
    sim.input("127.0.0.1:6001", &response_to(fwd, 200, "OK", "x", None));
    let ok = sim.take_to("127.0.0.1:6002");
    let ok = ok
        .iter()
        .find(|m| status(m) == 200)
        .expect("200 to the callee");
    assert_eq!(
        header(ok, "Session-Expires"),
        Some("120;refresher=uac"),
        "{ok}"
    );
    // 88 s after that refresh (120 less 32) with none since: hung up on both sides.
    sim.advance(Duration::from_secs(87));
    assert_eq!(
        sim.core.active_calls(),
        1,
        "the refresh moved the deadline on"
    );
    sim.advance(Duration::from_secs(2));
    assert!(sim
        .take_to("127.0.0.1:6002")
        .iter()
        .any(|m| m.starts_with("BYE ")));
    assert!(sim
        .take_to("127.0.0.1:6001")
        .iter()
        .any(|m| m.starts_with("BYE ")));
    assert_eq!(sim.core.active_calls(), 0);
}

#[tokio::test]
async fn a_callee_422_is_asked_again_with_its_min_se_and_no_timer_without_its_support() {
    let mut sim = Sim::new(Duration::from_secs(30));
    let inv = call_timed_callee(&mut sim, 120);
    let refusal = response_to(&inv, 422, "Session Interval Too Small", "cb", None).replacen(
        "Contact:",
        "Min-SE: 300\r\nContact:",
        1,
    );
    sim.input("127.0.0.1:6002", &refusal);
    let to_b = sim.take_to("127.0.0.1:6002");
    let again = to_b
        .iter()
        .find(|m| m.starts_with("INVITE "))
        .unwrap_or_else(|| panic!("asked again: {to_b:?}"));
    assert_eq!(header(again, "Session-Expires"), Some("300"), "{again}");
    assert!(
        !sim.take_to("127.0.0.1:6001")
            .iter()
            .any(|m| status(m) == 422),
        "the caller never sees the 422"
    );
    // The callee answers without Session-Expires (no timer support): no timer runs.
    answer_and_ack_with(&mut sim, again, "");
    sim.advance(Duration::from_secs(400));
    assert!(sim.take_to("127.0.0.1:6002").is_empty(), "no refresh sent");
    assert_eq!(sim.core.active_calls(), 1, "and no expiry");
}

#[tokio::test]
async fn the_callers_account_shortens_its_session_interval() {
    let mut sim = Sim::new(Duration::from_secs(30));
    let mut e = ext("e1", "1001", "pw-1001-secret", "t1");
    e.session_timer_secs = Some(300);
    sim.change(ringside_calls::directory::DirectoryChange::ExtensionUpserted(e));
    let (_, inv) = call(&mut sim, "Session-Expires: 1800\r\nSupported: timer\r\n");
    let ok = answer_and_ack(&mut sim, &inv.expect("leg B rang"));
    assert_eq!(
        header(&ok, "Session-Expires"),
        Some("300;refresher=uac"),
        "{ok}"
    );
    // Not refreshed: hung up 268 s in (300 less 32).
    sim.advance(Duration::from_secs(267));
    assert_eq!(sim.core.active_calls(), 1);
    sim.advance(Duration::from_secs(2));
    assert_eq!(sim.core.active_calls(), 0);
}
