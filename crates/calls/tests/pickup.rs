//! Call pickup on simulated time: 1001 calls 1002, which rings; 1003 dials `**1002` (or
//! `*8`) and takes the call. Ringside answers both callers itself, cancels 1002's ringing and
//! joins the two calls' relays; a hangup on either side ends both. Nothing ringing, another
//! tenant's call or a trunk dialling the code: no pickup.

mod common;

use std::time::Duration;

use common::*;
use ringside_calls::fake_media::MediaRequest;
use ringside_calls::Side;

/// 1001 (at 6001) calls 1002 (registered at 6002), which rings: Ringside's INVITE to it.
fn ringing_call(sim: &mut Sim) -> String {
    register_1002(sim, 6002);
    authed_call(sim, "1001", "pw-1001-secret", "1002", 6001);
    let inv = sim.take_to("127.0.0.1:6002").remove(0);
    sim.input(
        "127.0.0.1:6002",
        &response_to(&inv, 180, "Ringing", "cb", None),
    );
    assert!(sim
        .take_to("127.0.0.1:6001")
        .iter()
        .any(|m| status(m) == 180));
    inv
}

/// `user` dials `code` from `port` (a fresh one per attempt: the same Call-ID and CSeq again
/// would be a retransmission), answering the challenge: what it got back.
fn pickup_from(sim: &mut Sim, user: &str, pw: &str, code: &str, port: u16) -> Vec<String> {
    authed_call(sim, user, pw, code, port)
}

/// [`pickup_from`] port 6013.
fn pickup_by(sim: &mut Sim, user: &str, pw: &str, code: &str) -> Vec<String> {
    pickup_from(sim, user, pw, code, 6013)
}

#[tokio::test]
async fn another_extension_takes_a_ringing_call_with_a_pickup_code() {
    for code in ["**1002", "*8"] {
        let mut sim = Sim::new(Duration::from_secs(30));
        register_1003(&mut sim);
        let inv = ringing_call(&mut sim);
        let before = sim.media.requests().len();
        let to_picker = pickup_by(&mut sim, "1003", "pw-1003-secret", code);
        // The picker is answered with Ringside's own SDP.
        let ok = to_picker
            .iter()
            .find(|m| status(m) == 200)
            .unwrap_or_else(|| panic!("{code}: the picker is answered: {to_picker:?}"));
        assert!(ok.contains("m=audio ") && ok.contains("PCMU"), "{ok}");
        // So is the caller, and 1002 stops ringing.
        let to_caller = sim.take_to("127.0.0.1:6001");
        let caller_ok = to_caller
            .iter()
            .find(|m| status(m) == 200)
            .unwrap_or_else(|| panic!("{code}: the caller is answered: {to_caller:?}"));
        assert!(caller_ok.contains("m=audio "), "{caller_ok}");
        let to_1002 = sim.take_to("127.0.0.1:6002");
        assert!(
            to_1002.iter().any(|m| m.starts_with("CANCEL ")),
            "{to_1002:?}"
        );
        sim.input(
            "127.0.0.1:6002",
            &response_to(&inv, 487, "Request Terminated", "cb", None),
        );
        // The two calls' relays are joined, leg B to leg B.
        let pins: Vec<_> = sim.media.requests()[before..]
            .iter()
            .filter_map(|r| match r {
                MediaRequest::Pin(k, side, _) => Some((*k, *side)),
                _ => None,
            })
            .collect();
        assert_eq!(pins.len(), 2, "{code}");
        assert!(pins.iter().all(|(_, s)| *s == Side::B));
        assert_ne!(pins[0].0, pins[1].0);
        assert_eq!(sim.core.active_calls(), 2);
        // The caller ACKs and later hangs up: the picker is hung up too.
        sim.input(
            "127.0.0.1:6001",
            &from_caller(caller_ok, "ACK", 2, "", None),
        );
        sim.input(
            "127.0.0.1:6001",
            &from_caller(caller_ok, "BYE", 3, "", None),
        );
        assert!(sim
            .take_to("127.0.0.1:6001")
            .iter()
            .any(|m| status(m) == 200));
        let to_picker = sim.take_to("127.0.0.1:6013");
        assert!(
            to_picker.iter().any(|m| m.starts_with("BYE ")),
            "{code}: {to_picker:?}"
        );
        assert_eq!(sim.core.active_calls(), 0);
    }
}

#[tokio::test]
async fn no_pickup_without_a_ringing_call_of_the_pickers_own_tenant() {
    // Nothing rings: 480.
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1003(&mut sim);
    let r = pickup_by(&mut sim, "1003", "pw-1003-secret", "*8");
    assert!(r.iter().any(|m| status(m) == 480), "{r:?}");
    assert_eq!(sim.core.active_calls(), 0);
    // Another tenant's extension cannot take 1002's ringing call.
    let mut sim = Sim::new(Duration::from_secs(30));
    ringing_call(&mut sim);
    for (code, port) in [("**1002", 6021), ("*8", 6022)] {
        let r = pickup_from(&mut sim, "2001", "pw-2001-secret", code, port);
        assert!(r.iter().any(|m| status(m) == 480), "{code}: {r:?}");
    }
    assert!(!sim
        .take_to("127.0.0.1:6002")
        .iter()
        .any(|m| m.starts_with("CANCEL ")));
    // The caller cannot pick up its own call.
    let r = pickup_from(&mut sim, "1001", "pw-1001-secret", "**1002", 6023);
    assert!(r.iter().any(|m| status(m) == 480), "{r:?}");
    assert_eq!(sim.core.active_calls(), 1, "the call still rings");
}
