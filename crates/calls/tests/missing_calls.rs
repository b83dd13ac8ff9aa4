//! Events for calls that do not exist (issue 13): a late BYE, a late 200 for an INVITE long
//! gone, timers of a call that ended, browser signals for unknown sessions and calls. Each is
//! answered (481) or dropped, never a panic, and the core goes on serving the next call.

mod common;

use std::time::Duration;

use common::*;

/// A BYE for a dialog nobody knows, as sent after a restart or long after the call ended.
fn stray_bye(port: u16) -> String {
    format!(
        "BYE sip:1002@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKlatebye{port}\r\nFrom: <sip:1001@127.0.0.1>;tag=gone{port}\r\nTo: <sip:1002@127.0.0.1>;tag=alsogone\r\nCall-ID: long-gone-{port}\r\nCSeq: 9 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

/// An answered call from 1001 (port `port`) to the registered 1002 at 6002: the INVITE the
/// callee got and the To tag of the 200 the caller got.
fn answered_call(sim: &mut Sim, port: u16) -> (String, String) {
    let r = authed_call(sim, "1001", "pw-1001-secret", "1002", port);
    assert_eq!(r.iter().map(|m| status(m)).collect::<Vec<_>>(), vec![100]);
    let out = sim.take_to("127.0.0.1:6002");
    let inv = out
        .iter()
        .find(|m| m.starts_with("INVITE "))
        .unwrap_or_else(|| panic!("callee rung: {out:?}"))
        .clone();
    sim.input(
        "127.0.0.1:6002",
        &response_to(&inv, 200, "OK", "callee", Some(7002)),
    );
    let caller = sim.take_to(&format!("127.0.0.1:{port}"));
    let ok = caller
        .iter()
        .find(|m| status(m) == 200)
        .unwrap_or_else(|| panic!("caller answered: {caller:?}"));
    let to = header(ok, "To").expect("To");
    let tag = to.split(";tag=").nth(1).expect("To tag");
    let tag = tag.split(';').next().unwrap_or(tag).to_string();
    sim.input(
        &format!("127.0.0.1:{port}"),
        &format!("ACK sip:ringside@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKack{port}\r\nFrom: <sip:1001@127.0.0.1>;tag=c{port}\r\nTo: <sip:1002@127.0.0.1>;tag={tag}\r\nCall-ID: call-{port}\r\nCSeq: 2 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"),
    );
    (inv, tag)
}

#[tokio::test]
async fn events_for_missing_calls_are_answered_or_dropped_and_the_next_call_is_served() {
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1002(&mut sim, 6002);

    // A late BYE: 481, nothing else.
    sim.input("127.0.0.1:6101", &stray_bye(6101));
    let r = sim.take_to("127.0.0.1:6101");
    assert_eq!(r.iter().map(|m| status(m)).collect::<Vec<_>>(), vec![481]);

    // A call that ends normally, then its late 200 (a retransmission long after) and the
    // timers it left behind.
    let (inv, tag) = answered_call(&mut sim, 6001);
    sim.take_to("127.0.0.1:6002");
    assert_eq!(sim.core.active_calls(), 1);
    let bye = "BYE sip:1002@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bKbye6001\r\nFrom: <sip:1001@127.0.0.1>;tag=c6001\r\nTo: <sip:1002@127.0.0.1>;tag=TAG\r\nCall-ID: call-6001\r\nCSeq: 3 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
    // The caller's dialog carries our To tag from the 200 it received.
    sim.input("127.0.0.1:6001", &bye.replace("TAG", &tag));
    let to_callee = sim.take_to("127.0.0.1:6002");
    let b_bye = to_callee
        .iter()
        .find(|m| m.starts_with("BYE "))
        .unwrap_or_else(|| panic!("BYE forwarded: {to_callee:?}"))
        .clone();
    sim.input(
        "127.0.0.1:6002",
        &response_to(&b_bye, 200, "OK", "callee", None),
    );
    sim.advance(Duration::from_secs(1));
    assert_eq!(sim.core.active_calls(), 0);
    let caller = sim.take_to("127.0.0.1:6001");
    assert!(
        caller
            .iter()
            .any(|m| status(m) == 200 && header(m, "CSeq") == Some("3 BYE")),
        "{caller:?}"
    );
    // Timers of the ended call (ring timeout, transaction timers) fire into nothing.
    sim.advance(Duration::from_secs(120));
    // The callee's 200 for the INVITE arrives again, minutes late: no call comes back, and
    // the caller hears nothing of it.
    sim.input(
        "127.0.0.1:6002",
        &response_to(&inv, 200, "OK", "callee", Some(7002)),
    );
    let late = sim.take_to("127.0.0.1:6001");
    assert!(late.is_empty(), "{late:?}");
    assert_eq!(sim.core.active_calls(), 0);

    // Browser signals for sessions and calls that do not exist.
    sim.core.browser_hold(987_654, true);
    sim.core.browser_rtt(987_654, Duration::from_millis(40));
    sim.core.browser_hangup(sim.now, 987_654);
    sim.core.browser_media_failed(sim.now, 987_654);
    sim.collect();

    // Nothing of that was counted as a lost call (each had its own answer) and the core
    // still serves the next call.
    assert_eq!(
        sim.metrics
            .missing_calls
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    answered_call(&mut sim, 6003);
    assert_eq!(sim.core.active_calls(), 1);
}
