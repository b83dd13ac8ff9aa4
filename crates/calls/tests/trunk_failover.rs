//! RFC 3263 §4.3 on simulated time: a trunk whose host resolved to several addresses is tried
//! in order, the next address taking the INVITE when one answers 503 before anything else, or
//! does not answer at all (its transaction times out, or the transport cannot reach it). An
//! address that answered anything else is not left: a 486 is the caller's answer.

mod common;

use std::time::Duration;

use common::*;
use ringside_calls::directory::DirectoryChange;
use ringside_sip::transaction::TransportKind;

const FIRST: &str = "127.0.0.1:5101";
const SECOND: &str = "127.0.0.1:5102";
const THIRD: &str = "127.0.0.1:5103";

/// A sim whose trunk's host resolved to three addresses, and 1001 dialling a US number
/// through it: the INVITE that went to the first address.
fn dialling() -> (Sim, String) {
    // Rings long enough for three Timer Bs (32 s each).
    let mut sim = Sim::new(Duration::from_secs(300));
    sim.change(DirectoryChange::TrunkResolved {
        id: "trunk1".into(),
        host: "127.0.0.1".into(),
        targets: [FIRST, SECOND, THIRD]
            .iter()
            .map(|a| (a.parse().unwrap(), TransportKind::Udp))
            .collect(),
    });
    let got = authed_call(&mut sim, "1001", "pw-1001-secret", "+14155550123", 6010);
    assert!(got.iter().all(|m| status(m) < 300), "{got:?}");
    let out = sim.take_to(FIRST);
    assert_eq!(out.len(), 1, "{:?}", sim.sent);
    assert!(out[0].starts_with("INVITE sip:+14155550123@"), "{}", out[0]);
    (sim, out[0].clone())
}

/// INVITE transactions among `msgs` (retransmissions share their Via).
fn transactions(msgs: &[String]) -> usize {
    let mut vias: Vec<&str> = msgs
        .iter()
        .filter(|m| m.starts_with("INVITE"))
        .filter_map(|m| header(m, "Via"))
        .collect();
    vias.sort_unstable();
    vias.dedup();
    vias.len()
}

#[test]
fn a_503_before_anything_else_moves_the_call_to_the_next_address() {
    let (mut sim, first) = dialling();
    sim.input(
        FIRST,
        &response_to(&first, 503, "Service Unavailable", "a", None),
    );
    let second = sim.take_to(SECOND);
    assert_eq!(second.len(), 1, "{:?}", sim.sent);
    assert!(second[0].starts_with("INVITE sip:+14155550123@"));
    // Same call, same dialog identifiers; a new transaction.
    assert_eq!(header(&second[0], "Call-ID"), header(&first, "Call-ID"));
    assert_ne!(header(&second[0], "Via"), header(&first, "Via"));
    // The caller heard nothing of it, and the second address answers.
    assert!(sim.take_to("127.0.0.1:6010").is_empty());
    sim.input(
        SECOND,
        &response_to(&second[0], 200, "OK", "b", Some(40000)),
    );
    let to_caller = sim.take_to("127.0.0.1:6010");
    assert!(to_caller.iter().any(|m| status(m) == 200), "{to_caller:?}");
    assert!(sim.take_to(THIRD).is_empty(), "the third was never needed");
}

#[test]
fn an_address_that_never_answers_is_left_for_the_next_when_its_timer_fires() {
    let (mut sim, _first) = dialling();
    // Timer B (64*T1) on the first address, then on the second.
    sim.advance(Duration::from_secs(40));
    assert_eq!(transactions(&sim.take_to(SECOND)), 1);
    sim.advance(Duration::from_secs(40));
    assert_eq!(transactions(&sim.take_to(THIRD)), 1);
    // No address left: the caller gets the 408.
    sim.advance(Duration::from_secs(40));
    let to_caller = sim.take_to("127.0.0.1:6010");
    assert!(to_caller.iter().any(|m| status(m) == 408), "{to_caller:?}");
}

#[test]
fn an_unreachable_address_is_left_at_once_and_a_real_refusal_is_final() {
    let (mut sim, _first) = dialling();
    // The transport could not reach the first address: no timer to wait for.
    let now = sim.now;
    sim.core.transport_failed(now, sim.now_ms, peer(FIRST));
    sim.collect();
    let second = sim.take_to(SECOND);
    assert_eq!(second.len(), 1, "{:?}", sim.sent);
    // Busy is an answer, not a failure of the server: the call ends there.
    sim.input(
        SECOND,
        &response_to(&second[0], 486, "Busy Here", "b", None),
    );
    assert!(sim.take_to(THIRD).is_empty());
    let to_caller = sim.take_to("127.0.0.1:6010");
    assert!(to_caller.iter().any(|m| status(m) == 486), "{to_caller:?}");
}
