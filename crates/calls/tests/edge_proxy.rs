//! A node behind its cluster's SIP edge proxy (issue 20), on simulated time: new requests only
//! from the edge (`RINGSIDE_SIP_TRUSTED_PROXIES`), the caller named by the edge's
//! `X-Ringside-Peer` for trunk matching, registrations keeping their Path (RFC 3327) and
//! calls to the phone sent along it, and the edge's Record-Route returned to the caller.

mod common;

use std::time::Duration;

use common::*;

const EDGE: &str = "10.0.0.5:5060";

/// `msg` (a request) with `headers` (whole lines) added after its first line.
fn with_headers(msg: &str, headers: &str) -> String {
    let (first, rest) = msg.split_once("\r\n").unwrap();
    format!("{first}\r\n{headers}{rest}")
}

/// 1002 registers through the edge from 192.0.2.7:5062 (behind NAT: its Contact says
/// 127.0.0.1:6102); returns the 200.
fn register_through_edge(sim: &mut Sim) -> String {
    let path = "Path: <sip:10.0.0.5:5060;lr;received=sip:192.0.2.7:5062>\r\n\
                Supported: path\r\n\
                X-Ringside-Peer: 192.0.2.7:5062;proto=udp\r\n";
    sim.input(EDGE, &with_headers(&register("1002", 6102, 1, None), path));
    let r = sim.take_to(EDGE);
    assert_eq!(status(&r[0]), 401, "{r:?}");
    let a = answer(
        &r[0],
        false,
        "REGISTER",
        "sip:127.0.0.1:5060",
        "1002",
        "pw-1002-secret",
    );
    sim.input(
        EDGE,
        &with_headers(&register("1002", 6102, 2, Some(&a)), path),
    );
    let r = sim.take_to(EDGE);
    assert_eq!(status(&r[0]), 200, "{r:?}");
    r[0].clone()
}

#[tokio::test]
async fn a_phone_registered_through_the_edge_is_called_along_its_path() {
    let mut sim = Sim::behind_edge(Duration::from_secs(30), &["10.0.0.5"]);
    let ok = register_through_edge(&mut sim);
    // The Path is returned to a phone that supports it (RFC 3327 §5.3).
    assert_eq!(
        header(&ok, "Path"),
        Some("<sip:10.0.0.5:5060;lr;received=sip:192.0.2.7:5062>"),
        "{ok}"
    );
    // Stored with the registration.
    let stored = sim.other.iter().find_map(|o| match o {
        ringside_calls::core::CoreOutput::Binding(
            ringside_sip::registrar::BindingChange::Upsert(b),
        ) => Some(b.clone()),
        _ => None,
    });
    let stored = stored.expect("the registration is stored");
    assert_eq!(
        stored.path,
        ["<sip:10.0.0.5:5060;lr;received=sip:192.0.2.7:5062>"]
    );
    assert_eq!(stored.source.to_string(), EDGE);

    // 1001 calls 1002 through the edge, which record-routes.
    let rr =
        "Record-Route: <sip:10.0.0.5:5060;lr>\r\nX-Ringside-Peer: 192.0.2.8:5070;proto=udp\r\n";
    sim.input(
        EDGE,
        &with_headers(&invite("1001", "1002", 6001, 1, None), rr),
    );
    let r = sim.take_to(EDGE);
    let challenge = r.iter().find(|m| status(m) == 407).expect("407").clone();
    let a = answer(
        &challenge,
        true,
        "INVITE",
        "sip:1002@127.0.0.1:5060",
        "1001",
        "pw-1001-secret",
    );
    sim.input(
        EDGE,
        &with_headers(&invite("1001", "1002", 6001, 2, Some(&a)), rr),
    );
    // The INVITE to 1002 goes to the edge, routed by the Path, to the Contact registered.
    let out = sim.take_to(EDGE);
    let inv = out
        .iter()
        .find(|m| m.starts_with("INVITE "))
        .unwrap_or_else(|| panic!("1002 is called through the edge: {out:?}"))
        .clone();
    assert!(
        inv.starts_with("INVITE sip:1002@127.0.0.1:6102 SIP/2.0"),
        "{inv}"
    );
    assert_eq!(
        header(&inv, "Route"),
        Some("<sip:10.0.0.5:5060;lr;received=sip:192.0.2.7:5062>"),
        "{inv}"
    );
    // 1002 answers (through the edge, which record-routes its side too); the caller's 200
    // carries the edge's Record-Route, so its BYE comes back through the edge.
    let answer_ok = response_to(&inv, 200, "OK", "tagB", Some(40002)).replace(
        "\r\nContact:",
        "\r\nRecord-Route: <sip:10.0.0.5:5060;lr>\r\nContact:",
    );
    sim.input(EDGE, &answer_ok);
    let out = sim.take_to(EDGE);
    let ok = out
        .iter()
        .find(|m| status(m) == 200 && m.contains("CSeq: 2 INVITE"))
        .unwrap_or_else(|| panic!("the caller gets a 200: {out:?}"));
    assert_eq!(
        header(ok, "Record-Route"),
        Some("<sip:10.0.0.5:5060;lr>"),
        "{ok}"
    );
    // Ringside's ACK to 1002 follows the route set of 1002's answer.
    let ack = out
        .iter()
        .find(|m| m.starts_with("ACK "))
        .unwrap_or_else(|| panic!("1002's answer acknowledged: {out:?}"));
    assert_eq!(
        header(ack, "Route"),
        Some("<sip:10.0.0.5:5060;lr>"),
        "{ack}"
    );
}

#[tokio::test]
async fn sip_from_outside_the_edge_is_refused_and_the_edge_names_the_caller() {
    let mut sim = Sim::behind_edge(Duration::from_secs(30), &["10.0.0.0/24"]);
    let refused = |sim: &Sim| {
        sim.metrics
            .untrusted_source
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    // Straight to the node: a new call, a registration, an OPTIONS, even from the PBX the
    // trunk trusts, and whatever X-Ringside-Peer says: 403.
    let spoof = "X-Ringside-Peer: 10.9.9.9:5060;proto=udp\r\n";
    sim.input(
        "10.9.9.9:5060",
        &with_headers(&invite("pbx", "1002", 5060, 1, None), spoof),
    );
    sim.input(
        "127.0.0.1:6103",
        &with_headers(&register("1002", 6103, 1, None), spoof),
    );
    let r = sim.take_to("10.9.9.9:5060");
    assert!(
        r.iter().any(|m| m.starts_with("SIP/2.0 403")),
        "the PBX straight to the node: {r:?}"
    );
    let r = sim.take_to("127.0.0.1:6103");
    assert_eq!(status(&r[0]), 403, "{r:?}");
    assert_eq!(refused(&sim), 2);
    // In a dialog it is another matter (a carrier's BYE comes straight): 481 for none.
    let bye = "BYE sip:1002@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 10.9.9.9:5060;branch=z9hG4bKbye1\r\nFrom: <sip:pbx@10.9.9.9>;tag=x1\r\nTo: <sip:1002@127.0.0.1>;tag=y1\r\nCall-ID: nosuch\r\nCSeq: 5 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
    sim.input("10.9.9.9:5060", bye);
    let r = sim.take_to("10.9.9.9:5060");
    assert_eq!(status(&r[0]), 481, "{r:?}");
    assert_eq!(refused(&sim), 2);

    // Through the edge, the PBX named by X-Ringside-Peer is the trunk's: no challenge (1002
    // is not registered: 480, the trunk's call kept as missed).
    sim.input(
        "10.0.0.5:5060",
        &with_headers(&invite("pbx", "1002", 7001, 1, None), spoof),
    );
    let r = sim.take_to("10.0.0.5:5060");
    assert!(r.iter().any(|m| status(m) == 480), "{r:?}");
    // Another caller behind the edge is challenged, and so is the edge itself unnamed.
    sim.input(
        "10.0.0.5:5060",
        &with_headers(
            &invite("pbx", "1002", 7002, 1, None),
            "X-Ringside-Peer: 10.9.9.8:5060;proto=udp\r\n",
        ),
    );
    sim.input("10.0.0.6:5060", &invite("pbx", "1002", 7003, 1, None));
    let r = sim.take_to("10.0.0.5:5060");
    assert!(r.iter().any(|m| status(m) == 407), "{r:?}");
    let r = sim.take_to("10.0.0.6:5060");
    assert!(r.iter().any(|m| status(m) == 407), "{r:?}");
    assert_eq!(refused(&sim), 2);
}
