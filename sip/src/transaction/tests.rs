//! Unit tests of the transaction layer, driving one layer directly.

use std::time::{Duration, Instant};

use rsip::headers::UntypedHeader;
use rsip::{Method, Request, Response, SipMessage, StatusCode};

use super::*;
use crate::message::{self, make_response};

const UDP: Peer = Peer {
    addr: SocketAddr::V4(std::net::SocketAddrV4::new(
        std::net::Ipv4Addr::new(192, 0, 2, 9),
        5060,
    )),
    transport: TransportKind::Udp,
    tls_profile: 0,
};

fn layer() -> TransactionLayer {
    TransactionLayer::new(Config::default())
}

fn req(method: Method, branch: &str, cseq: u32) -> Request {
    let text = format!(
        "{method} sip:b@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9:5060;branch={branch}\r\n\
         From: <sip:a@192.0.2.9>;tag=ft\r\nTo: <sip:b@192.0.2.1>\r\nCall-ID: call-1\r\n\
         CSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    match message::parse(text.as_bytes()).unwrap() {
        SipMessage::Request(r) => r,
        SipMessage::Response(_) => unreachable!(),
    }
}

fn incoming(l: &mut TransactionLayer, now: Instant, r: Request) {
    l.handle_incoming(now, SipMessage::Request(r), UDP);
}

fn incoming_resp(l: &mut TransactionLayer, now: Instant, r: Response) {
    l.handle_incoming(now, SipMessage::Response(r), UDP);
}

fn drain(l: &mut TransactionLayer) -> Vec<Output> {
    std::iter::from_fn(|| l.poll_output()).collect()
}

fn transmits(out: &[Output]) -> Vec<Bytes> {
    out.iter()
        .filter_map(|o| match o {
            Output::Transmit { data, .. } => Some(data.clone()),
            Output::Event(_) => None,
        })
        .collect()
}

fn events(out: Vec<Output>) -> Vec<TxEvent> {
    out.into_iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e),
            Output::Transmit { .. } => None,
        })
        .collect()
}

fn new_invite(l: &mut TransactionLayer, now: Instant, branch: &str) -> (ServerTxId, Request) {
    incoming(l, now, req(Method::Invite, branch, 1));
    let out = drain(l);
    assert!(matches!(&out[0], Output::Transmit { data, .. } if data.starts_with(b"SIP/2.0 100")));
    match events(out).pop() {
        Some(TxEvent::Request { id, request, .. }) => (id, request),
        other => panic!("expected Request, got {other:?}"),
    }
}

#[test]
fn invite_gets_100_then_request_and_retransmission_is_absorbed() {
    let (mut l, t) = (layer(), Instant::now());
    let (_, _) = new_invite(&mut l, t, "z9hG4bKa");
    incoming(&mut l, t, req(Method::Invite, "z9hG4bKa", 1));
    let out = drain(&mut l);
    assert_eq!(out.len(), 1, "only the 100 again: {out:?}");
    assert!(transmits(&out)[0].starts_with(b"SIP/2.0 100"));
    assert_eq!(l.stats().retransmissions_received, 1);
    assert_eq!(l.server_count(), 1);
    // Another branch is another transaction.
    new_invite(&mut l, t, "z9hG4bKb");
    assert_eq!(l.server_count(), 2);
}

#[test]
fn respond_rules() {
    let (mut l, t) = (layer(), Instant::now());
    incoming(&mut l, t, req(Method::Options, "z9hG4bKo", 1));
    let Some(TxEvent::Request { id, request, .. }) = events(drain(&mut l)).pop() else {
        panic!()
    };
    assert!(l.respond(t, id, make_response(&request, StatusCode::OK, Some("x"))));
    assert!(!l.respond(t, id, make_response(&request, StatusCode::OK, Some("x"))));
    assert!(!l.respond(t, id, make_response(&request, StatusCode::Trying, None)));
    assert!(!l.respond(
        t,
        ServerTxId(999),
        make_response(&request, StatusCode::OK, None)
    ));
    // A retransmitted OPTIONS gets the very same bytes again.
    let first = transmits(&drain(&mut l))[0].clone();
    incoming(&mut l, t, req(Method::Options, "z9hG4bKo", 1));
    let again = transmits(&drain(&mut l))[0].clone();
    assert_eq!(
        first.as_ptr(),
        again.as_ptr(),
        "retransmission shares the buffer"
    );
}

#[test]
fn non2xx_completed_then_ack_confirmed() {
    let (mut l, t) = (layer(), Instant::now());
    let (id, inv) = new_invite(&mut l, t, "z9hG4bKc");
    assert!(l.respond(t, id, make_response(&inv, StatusCode::BusyHere, Some("tt"))));
    drain(&mut l);
    // INVITE retransmission in Completed → the 486 again
    incoming(&mut l, t, req(Method::Invite, "z9hG4bKc", 1));
    assert!(transmits(&drain(&mut l))[0].starts_with(b"SIP/2.0 486"));
    assert_eq!(
        l.poll_timeout(),
        Some(t + Duration::from_millis(500)),
        "Timer G"
    );
    incoming(&mut l, t, req(Method::Ack, "z9hG4bKc", 1));
    assert!(drain(&mut l).is_empty(), "ACK for a non-2xx is absorbed");
    assert_eq!(
        l.poll_timeout(),
        Some(t + Duration::from_secs(5)),
        "Timer I"
    );
    incoming(&mut l, t, req(Method::Ack, "z9hG4bKc", 1));
    assert_eq!(l.stats().acks_absorbed, 2);
    l.handle_timeout(t + Duration::from_secs(5));
    assert_eq!(l.server_count(), 0);
    assert_eq!(l.poll_timeout(), None);
}

#[test]
fn accepted_resends_2xx_on_retransmission_and_emits_ack_once() {
    let (mut l, t) = (layer(), Instant::now());
    let (id, inv) = new_invite(&mut l, t, "z9hG4bKd");
    assert!(l.respond(t, id, make_response(&inv, StatusCode::OK, Some("tt"))));
    drain(&mut l);
    incoming(&mut l, t, req(Method::Invite, "z9hG4bKd", 1));
    assert!(transmits(&drain(&mut l))[0].starts_with(b"SIP/2.0 200"));
    // ACK for 2xx: new branch, To tag of the 2xx, same Call-ID and CSeq number.
    let mut ack = req(Method::Ack, "z9hG4bKnew", 1);
    ack.headers.retain(|h| !matches!(h, rsip::Header::To(_)));
    ack.headers
        .push(rsip::headers::To::from("<sip:b@192.0.2.1>;tag=tt").into());
    incoming(&mut l, t, ack.clone());
    let ev = events(drain(&mut l));
    assert!(matches!(&ev[..], [TxEvent::Ack { .. }]), "{ev:?}");
    incoming(&mut l, t, ack);
    assert!(drain(&mut l).is_empty());
    assert_eq!(l.stats().acks_absorbed, 1);
    // After the ACK, INVITE retransmissions are absorbed silently.
    incoming(&mut l, t, req(Method::Invite, "z9hG4bKd", 1));
    assert!(drain(&mut l).is_empty());
    // An ACK with the wrong To tag belongs to another dialog: dropped.
    let mut other = req(Method::Ack, "z9hG4bKnew2", 1);
    other.headers.retain(|h| !matches!(h, rsip::Header::To(_)));
    other
        .headers
        .push(rsip::headers::To::from("<sip:b@192.0.2.1>;tag=zz").into());
    incoming(&mut l, t, other);
    assert_eq!(l.stats().dropped_unmatched_acks, 1);
    // Acknowledged: it lingers T4 (not the rest of Timer L) and ends without AckTimeout.
    l.handle_timeout(t + Duration::from_millis(4900));
    assert_eq!(l.server_count(), 1);
    incoming(
        &mut l,
        t + Duration::from_millis(4900),
        req(Method::Invite, "z9hG4bKd", 1),
    );
    assert!(drain(&mut l).is_empty(), "a late copy is still absorbed");
    l.handle_timeout(t + Duration::from_secs(5));
    assert!(drain(&mut l).is_empty());
    assert_eq!(l.server_count(), 0);
}

#[test]
fn unacknowledged_2xx_lives_until_timer_l() {
    let (mut l, t) = (layer(), Instant::now());
    let (id, inv) = new_invite(&mut l, t, "z9hG4bKl");
    assert!(l.respond(t, id, make_response(&inv, StatusCode::OK, Some("tt"))));
    drain(&mut l);
    l.handle_timeout(t + Duration::from_millis(31_900));
    assert_eq!(l.server_count(), 1);
    l.handle_timeout(t + Duration::from_secs(32));
    let ev = events(drain(&mut l));
    assert!(matches!(&ev[..], [TxEvent::AckTimeout { .. }]), "{ev:?}");
    assert_eq!(l.server_count(), 0);
}

#[test]
fn ack_for_2xx_reusing_the_invite_branch_is_emitted() {
    let (mut l, t) = (layer(), Instant::now());
    let (id, inv) = new_invite(&mut l, t, "z9hG4bKe");
    l.respond(t, id, make_response(&inv, StatusCode::OK, Some("tt")));
    drain(&mut l);
    incoming(&mut l, t, req(Method::Ack, "z9hG4bKe", 1));
    assert!(matches!(&events(drain(&mut l))[..], [TxEvent::Ack { .. }]));
}

#[test]
fn unmatched_and_premature_acks_are_dropped() {
    let (mut l, t) = (layer(), Instant::now());
    incoming(&mut l, t, req(Method::Ack, "z9hG4bKzz", 7));
    new_invite(&mut l, t, "z9hG4bKf");
    incoming(&mut l, t, req(Method::Ack, "z9hG4bKf", 1)); // before any final response
    assert!(drain(&mut l).is_empty());
    assert_eq!(l.stats().dropped_unmatched_acks, 2);
}

#[test]
fn cancel_matches_proceeding_invite() {
    let (mut l, t) = (layer(), Instant::now());
    let (id, _) = new_invite(&mut l, t, "z9hG4bKg");
    incoming(&mut l, t, req(Method::Cancel, "z9hG4bKg", 1));
    let out = drain(&mut l);
    assert!(transmits(&out)[0].starts_with(b"SIP/2.0 200"));
    assert!(matches!(&events(out)[..], [TxEvent::Cancelled { id: i, .. }] if *i == id));
    // A retransmitted CANCEL is answered by its own transaction, no second event.
    incoming(&mut l, t, req(Method::Cancel, "z9hG4bKg", 1));
    let out = drain(&mut l);
    assert_eq!(out.len(), 1);
    // CANCEL for an unknown branch → 481.
    incoming(&mut l, t, req(Method::Cancel, "z9hG4bKnone", 1));
    assert!(transmits(&drain(&mut l))[0].starts_with(b"SIP/2.0 481"));
    assert_eq!(l.stats().unmatched_cancels, 1);
}

#[test]
fn legacy_requests_without_magic_cookie_match() {
    let (mut l, t) = (layer(), Instant::now());
    let (id, inv) = new_invite(&mut l, t, "old1");
    incoming(&mut l, t, req(Method::Invite, "old1", 1));
    assert_eq!(drain(&mut l).len(), 1, "retransmission absorbed");
    l.respond(t, id, make_response(&inv, StatusCode::Decline, Some("tt")));
    drain(&mut l);
    incoming(&mut l, t, req(Method::Ack, "old2", 1));
    assert!(drain(&mut l).is_empty());
    assert_eq!(l.stats().acks_absorbed, 1);
}

#[test]
fn client_timers_and_poll_timeout() {
    let (mut l, t) = (layer(), Instant::now());
    let inv = req(Method::Invite, "z9hG4bKc1", 1);
    let id = l.send_request(t, inv.clone(), UDP);
    let sent = transmits(&drain(&mut l))[0].clone();
    assert_eq!(l.poll_timeout(), Some(t + Duration::from_millis(500)));
    l.handle_timeout(t + Duration::from_millis(500));
    let again = transmits(&drain(&mut l))[0].clone();
    assert_eq!(
        sent.as_ptr(),
        again.as_ptr(),
        "retransmission reuses the bytes"
    );
    assert_eq!(l.poll_timeout(), Some(t + Duration::from_millis(1500)));
    incoming_resp(&mut l, t, make_response(&inv, StatusCode::Trying, None));
    assert_eq!(l.poll_timeout(), None, "A and B stop in Proceeding");
    assert!(matches!(&events(drain(&mut l))[..], [TxEvent::Response { id: i, .. }] if *i == id));
    // First 2xx and a fork's 2xx are both passed up; a late 486 is not.
    incoming_resp(
        &mut l,
        t,
        make_response(&inv, StatusCode::OK, Some("fork1")),
    );
    incoming_resp(
        &mut l,
        t,
        make_response(&inv, StatusCode::OK, Some("fork2")),
    );
    incoming_resp(
        &mut l,
        t,
        make_response(&inv, StatusCode::BusyHere, Some("fork3")),
    );
    assert_eq!(events(drain(&mut l)).len(), 2);
    assert_eq!(
        l.poll_timeout(),
        Some(t + Duration::from_secs(32)),
        "Timer M"
    );
}

#[test]
fn stray_responses_and_stateless_sends() {
    let (mut l, t) = (layer(), Instant::now());
    let r = req(Method::Bye, "z9hG4bKs", 2);
    incoming_resp(&mut l, t, make_response(&r, StatusCode::OK, None));
    assert!(matches!(
        &events(drain(&mut l))[..],
        [TxEvent::StrayResponse { .. }]
    ));
    assert_eq!(l.stats().stray_responses, 1);
    // ACK through send_request is sent statelessly; no transaction.
    l.send_request(t, req(Method::Ack, "z9hG4bKs2", 1), UDP);
    l.send_stateless(SipMessage::Request(req(Method::Ack, "z9hG4bKs3", 1)), UDP);
    assert_eq!(transmits(&drain(&mut l)).len(), 2);
    assert_eq!(l.client_count(), 0);
    assert_eq!(l.poll_timeout(), None);
}

#[test]
fn missing_branch_is_added() {
    let (mut l, t) = (layer(), Instant::now());
    let mut r = req(Method::Options, "x", 1);
    r.headers.retain(|h| !matches!(h, rsip::Header::Via(_)));
    r.headers
        .push(rsip::headers::Via::from("SIP/2.0/UDP 192.0.2.9:5060;rport").into());
    l.send_request(t, r, UDP);
    let sent = message::parse(&transmits(&drain(&mut l))[0]).unwrap();
    let branch = message::top_branch(&sent).unwrap();
    assert!(branch.starts_with(message::BRANCH_MAGIC));
    incoming_resp(&mut l, t, {
        let SipMessage::Request(sent) = &sent else {
            panic!()
        };
        make_response(sent, StatusCode::OK, None)
    });
    assert!(matches!(
        &events(drain(&mut l))[..],
        [TxEvent::Response { .. }]
    ));
}

#[test]
fn transport_failure_times_out_pending_clients() {
    let (mut l, t) = (layer(), Instant::now());
    let a = l.send_request(t, req(Method::Invite, "z9hG4bKt1", 1), UDP);
    let b = l.send_request(t, req(Method::Options, "z9hG4bKt2", 1), UDP);
    drain(&mut l);
    l.transport_failed(UDP);
    let ev = events(drain(&mut l));
    assert_eq!(ev.len(), 2);
    assert!(ev.contains(&TxEvent::Timeout { id: a }) && ev.contains(&TxEvent::Timeout { id: b }));
    assert_eq!(l.client_count(), 0);
    assert_eq!(l.poll_timeout(), None);
    assert_eq!(l.stats().timeouts, 2);
}

#[test]
fn reliable_non_invite_ends_at_once() {
    let (mut l, t) = (layer(), Instant::now());
    let tcp = Peer {
        transport: TransportKind::Tcp,
        ..UDP
    };
    let r = req(Method::Options, "z9hG4bKr", 1);
    l.send_request(t, r.clone(), tcp);
    assert_eq!(
        l.poll_timeout(),
        Some(t + Duration::from_secs(32)),
        "no Timer E, only F"
    );
    incoming_resp(&mut l, t, make_response(&r, StatusCode::OK, None));
    assert_eq!(l.client_count(), 0, "Timer K = 0");
    l.handle_incoming(t, SipMessage::Request(r.clone()), tcp);
    let Some(TxEvent::Request { id, request, .. }) = events(drain(&mut l)).pop() else {
        panic!()
    };
    l.respond(t, id, make_response(&request, StatusCode::OK, None));
    assert_eq!(l.server_count(), 0, "Timer J = 0");
}

#[test]
fn many_transactions_keep_the_timer_heap_bounded() {
    let (mut l, t) = (layer(), Instant::now());
    let tcp = Peer {
        transport: TransportKind::Tcp,
        ..UDP
    };
    for i in 0..5000 {
        let r = req(Method::Options, &format!("z9hG4bKm{i}"), 1);
        l.send_request(t, r.clone(), tcp);
        incoming_resp(&mut l, t, make_response(&r, StatusCode::OK, None));
    }
    assert_eq!(l.client_count(), 0);
    assert!(
        l.timers.len() < 1100,
        "heap holds {} entries",
        l.timers.len()
    );
    assert_eq!(l.poll_timeout(), None);
}

#[test]
fn cancel_sent_while_calling_arms_the_guard_on_the_first_1xx() {
    let (mut l, t) = (layer(), Instant::now());
    let inv = req(Method::Invite, "z9hG4bKcg", 1);
    let id = l.send_request(t, inv.clone(), UDP);
    let cancel_at = t + Duration::from_secs(1);
    l.send_request(cancel_at, message::make_cancel(&inv), UDP);
    let t2 = t + Duration::from_secs(2);
    incoming_resp(
        &mut l,
        t2,
        make_response(&inv, StatusCode::Ringing, Some("x")),
    );
    drain(&mut l);
    // The CANCEL's 200 comes, the 487 never does: the INVITE ends 64*T1 after the CANCEL.
    let cancel = message::make_cancel(&inv);
    incoming_resp(
        &mut l,
        t2,
        make_response(&cancel, StatusCode::OK, Some("x")),
    );
    l.handle_timeout(cancel_at + Duration::from_secs(32) - Duration::from_millis(1));
    assert!(!events(drain(&mut l)).contains(&TxEvent::Timeout { id }));
    l.handle_timeout(cancel_at + Duration::from_secs(32));
    assert!(events(drain(&mut l)).contains(&TxEvent::Timeout { id }));
}

#[test]
fn on_a_dual_stack_every_message_names_ringsides_address_of_its_destinations_family() {
    let stack = crate::dual_stack::DualStack {
        v4: std::net::Ipv4Addr::new(192, 0, 2, 9),
        v6: "2001:db8::9".parse().unwrap(),
    };
    let mut l = TransactionLayer::new(Config {
        dual_stack: Some(stack),
        ..Config::default()
    });
    let t = Instant::now();
    let v6 = Peer {
        addr: "[2001:db8::1]:5060".parse().unwrap(),
        ..UDP
    };
    // Written with the IPv4 address (the primary), sent to an IPv6 peer.
    let invite = req(Method::Invite, "z9hG4bKdual", 1);
    l.send_request(t, invite.clone(), v6);
    let sent = transmits(&drain(&mut l));
    let text = String::from_utf8_lossy(&sent[0]).to_string();
    assert!(
        text.contains("Via: SIP/2.0/UDP [2001:db8::9]:5060;branch=z9hG4bKdual"),
        "{text}"
    );
    // A provisional, then the CANCEL built from the INVITE as the TU kept it: it goes out
    // with the same Via, so the peer matches it to the INVITE.
    let mut trying = make_response(&invite, StatusCode::Ringing, Some("cb"));
    trying
        .headers
        .retain(|h| !matches!(h, rsip::Header::Via(_)));
    trying
        .headers
        .push(rsip::Header::Via(rsip::headers::Via::new(
            "SIP/2.0/UDP [2001:db8::9]:5060;branch=z9hG4bKdual",
        )));
    l.handle_incoming(t, SipMessage::Response(trying), v6);
    assert!(
        matches!(events(drain(&mut l)).pop(), Some(TxEvent::Response { .. })),
        "the provisional matched the localized INVITE"
    );
    l.send_request(t, message::make_cancel(&invite), v6);
    let cancel = transmits(&drain(&mut l));
    let ctext = String::from_utf8_lossy(&cancel[0]).to_string();
    assert!(
        ctext.starts_with("CANCEL")
            && ctext.contains("Via: SIP/2.0/UDP [2001:db8::9]:5060;branch=z9hG4bKdual"),
        "{ctext}"
    );
    // Sent to an IPv4 peer, the same request is left as written.
    l.send_request(t, req(Method::Options, "z9hG4bKfour", 1), UDP);
    let four = transmits(&drain(&mut l));
    assert!(String::from_utf8_lossy(&four[0]).contains("Via: SIP/2.0/UDP 192.0.2.9:5060"));
    // A stateless message and a response are localized too.
    l.send_stateless(SipMessage::Request(req(Method::Ack, "z9hG4bKack", 1)), v6);
    let ack = transmits(&drain(&mut l));
    assert!(String::from_utf8_lossy(&ack[0]).contains("[2001:db8::9]:5060"));
}
