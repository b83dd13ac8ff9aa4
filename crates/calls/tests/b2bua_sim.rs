//! The SIP core driven on simulated time with hand-written phones: registration with digest,
//! the 407 challenge, forking to a registered contact, Timer A retransmissions towards the
//! callee, the ring timeout (480 to the caller, call record "no_answer") and toll-fraud refusals.
//! No sockets for SIP and no sleeping: `now` is advanced by the test.

mod common;

use std::time::Duration;

use common::*;
use ringside_calls::core::CoreOutput;
use ringside_sip::registrar::BindingChange;

#[tokio::test]
async fn register_then_call_rings_contact_retransmits_and_times_out_with_480() {
    let mut sim = Sim::new(Duration::from_secs(20));
    register_1002(&mut sim, 6002);
    assert!(sim
        .other
        .iter()
        .any(|o| matches!(o, CoreOutput::Binding(BindingChange::Upsert(b)) if b.contact == "sip:1002@127.0.0.1:6002")));

    // The caller is challenged first.
    sim.input("127.0.0.1:6001", &invite("1001", "1002", 6001, 1, None));
    let r = sim.take_to("127.0.0.1:6001");
    assert_eq!(
        r.iter().map(|m| status(m)).collect::<Vec<_>>(),
        vec![100, 407]
    );
    assert!(
        sim.take_to("127.0.0.1:6002").is_empty(),
        "nothing reaches the callee unauthenticated"
    );
    sim.input("127.0.0.1:6001", &ack("1002", 6001, 1, &r[1]));
    let a = answer(
        &r[1],
        true,
        "INVITE",
        "sip:1002@127.0.0.1:5060",
        "1001",
        "pw-1001-secret",
    );
    sim.input("127.0.0.1:6001", &invite("1001", "1002", 6001, 2, Some(&a)));
    assert_eq!(
        sim.take_to("127.0.0.1:6001")
            .iter()
            .map(|m| status(m))
            .collect::<Vec<_>>(),
        vec![100]
    );

    // Leg B: a new dialog towards the registered contact, media anchored on our relay.
    let out = sim.take_to("127.0.0.1:6002");
    assert_eq!(out.len(), 1);
    let inv = &out[0];
    assert!(
        inv.starts_with("INVITE sip:1002@127.0.0.1:6002 SIP/2.0"),
        "{inv}"
    );
    assert_ne!(
        header(inv, "Call-ID"),
        Some("call-6001"),
        "own Call-ID per leg"
    );
    assert!(
        !inv.contains("m=audio 7001"),
        "caller's media port is not exposed"
    );
    let port: u16 = inv
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|r| r.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (42000..=42099).contains(&port),
        "anchored on Ringside: {port}"
    );

    // Unanswered on lossy UDP: Timer A retransmits at 0.5 s, 1 s, 2 s ... (callee silent).
    sim.advance(Duration::from_millis(499));
    assert!(sim.take_to("127.0.0.1:6002").is_empty());
    sim.advance(Duration::from_millis(2));
    assert_eq!(
        sim.take_to("127.0.0.1:6002").len(),
        1,
        "first retransmission at T1"
    );
    sim.advance(Duration::from_millis(1000));
    assert_eq!(sim.take_to("127.0.0.1:6002").len(), 1, "second after 2*T1");

    // The callee rings but never answers: at the ring timeout the caller gets 480.
    let ringing = format!(
        "SIP/2.0 180 Ringing\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=callee1\r\nCall-ID: {}\r\nCSeq: 1 INVITE\r\nContact: <sip:1002@127.0.0.1:6002>\r\nContent-Length: 0\r\n\r\n",
        header(inv, "Via").unwrap(),
        header(inv, "From").unwrap(),
        header(inv, "To").unwrap(),
        header(inv, "Call-ID").unwrap()
    );
    sim.input("127.0.0.1:6002", &ringing);
    let r = sim.take_to("127.0.0.1:6001");
    assert_eq!(
        r.iter().map(|m| status(m)).collect::<Vec<_>>(),
        vec![180],
        "ringing relayed"
    );
    sim.advance(Duration::from_secs(20));
    let r = sim.take_to("127.0.0.1:6001");
    assert!(r.iter().any(|m| status(m) == 480), "{r:?}");
    let to_callee = sim.take_to("127.0.0.1:6002");
    assert!(
        to_callee.iter().any(|m| m.starts_with("CANCEL ")),
        "callee cancelled: {to_callee:?}"
    );
    let ended = sim.other.iter().rev().find_map(|o| match o {
        CoreOutput::UpdateCall(c) => Some(c.clone()),
        _ => None,
    });
    let ended = ended.expect("call record updated");
    assert_eq!(ended.end_reason.map(|r| r.as_str()), Some("no_answer"));
    assert_eq!(ended.status.as_str(), "missed");
    assert_eq!(sim.core.active_calls(), 0);
    assert_eq!(sim.media.live(), 0, "the call's media bridge was released");
}

#[tokio::test]
async fn refusals_never_reach_a_trunk_or_another_tenant() {
    let mut sim = Sim::new(Duration::from_secs(20));
    register_1002(&mut sim, 6102);
    // A trusted trunk may reach its tenant's extensions but never dial back out: towards a
    // number a trunk dials it is not trusted at all, and is challenged like anyone else.
    sim.input(
        "10.9.9.9:5060",
        &invite("pbx", "+14155550123", 5060, 1, None),
    );
    let r = sim.take_to("10.9.9.9:5060");
    assert!(r.iter().any(|m| status(m) == 407), "{r:?}");
    // A number nobody holds: 404 for the trusted PBX, as before.
    sim.input("10.9.9.9:5060", &invite("pbx", "555", 5061, 1, None));
    let r = sim.take_to("10.9.9.9:5060");
    assert!(r.iter().any(|m| status(m) == 404), "{r:?}");
    assert!(
        sim.take_to("127.0.0.1:5099").is_empty(),
        "nothing sent to the carrier"
    );

    // An extension of another tenant cannot reach 1002.
    sim.input("127.0.0.1:6201", &invite("2001", "1002", 6201, 1, None));
    let r = sim.take_to("127.0.0.1:6201");
    let a = answer(
        &r[1],
        true,
        "INVITE",
        "sip:1002@127.0.0.1:5060",
        "2001",
        "pw-2001-secret",
    );
    sim.input("127.0.0.1:6201", &invite("2001", "1002", 6201, 2, Some(&a)));
    let r = sim.take_to("127.0.0.1:6201");
    assert!(r.iter().any(|m| status(m) == 404), "{r:?}");
    assert!(sim.take_to("127.0.0.1:6102").is_empty());

    // An extension dialling a number its tenant's trunk does not allow: 404, nothing sent.
    sim.input("127.0.0.1:6001", &invite("1001", "+900555", 6001, 1, None));
    let r = sim.take_to("127.0.0.1:6001");
    let a = answer(
        &r[1],
        true,
        "INVITE",
        "sip:+900555@127.0.0.1:5060",
        "1001",
        "pw-1001-secret",
    );
    sim.input(
        "127.0.0.1:6001",
        &invite("1001", "+900555", 6001, 2, Some(&a)),
    );
    assert!(sim
        .take_to("127.0.0.1:6001")
        .iter()
        .any(|m| status(m) == 404));
    assert!(sim.take_to("127.0.0.1:5099").is_empty());

    // Allowed number from an authenticated extension: out through the trunk.
    sim.input(
        "127.0.0.1:6003",
        &invite("1001", "+14155550123", 6003, 1, None),
    );
    let r = sim.take_to("127.0.0.1:6003");
    let a = answer(
        &r[1],
        true,
        "INVITE",
        "sip:+14155550123@127.0.0.1:5060",
        "1001",
        "pw-1001-secret",
    );
    sim.input(
        "127.0.0.1:6003",
        &invite("1001", "+14155550123", 6003, 2, Some(&a)),
    );
    let out = sim.take_to("127.0.0.1:5099");
    assert_eq!(out.len(), 1);
    assert!(
        out[0].starts_with("INVITE sip:+14155550123@127.0.0.1:5099 SIP/2.0"),
        "{}",
        out[0]
    );

    // Draining: new INVITEs get 503.
    sim.core.start_draining();
    sim.input("127.0.0.1:6004", &invite("1001", "1002", 6004, 1, None));
    assert!(sim
        .take_to("127.0.0.1:6004")
        .iter()
        .any(|m| status(m) == 503));
}
