//! End-to-end transaction flows between two layers over the simulated network.

#[path = "transaction_harness.rs"]
mod harness;

use std::time::Duration;

use harness::*;
use ringside_sip::message;
use ringside_sip::transaction::{TransportKind, TxEvent};
use rsip::Method;

fn sim(transport: TransportKind, uac: Uac, uas: Uas) -> Sim<Uac, Uas> {
    Sim::new(7, transport, Link::default(), Link::default(), uac, uas)
}

fn is_request(m: Method) -> impl Fn(&TxEvent) -> bool {
    move |e| matches!(e, TxEvent::Request { request, .. } if request.method == m)
}

#[test]
fn invite_180_200_ack_then_bye() {
    let mut s = sim(
        TransportKind::Udp,
        Uac::default(),
        Uas::new(OnInvite::RingThenAnswer(secs(2.0))),
    );
    s.with_uac(|now, l, p, tu| tu.start(now, l, p, "flow-1"));
    s.run_to_idle(secs(120.0));

    let (inv_id, _) = s.uac_tu.invite.clone().unwrap();
    assert_eq!(s.uac.response_codes(inv_id), vec![100, 180, 200]);
    assert_eq!(s.uac_tu.bye_result, Some(200));
    assert_eq!(s.uas.count(is_request(Method::Invite)), 1);
    assert_eq!(s.uas.count(is_request(Method::Bye)), 1);
    assert_eq!(s.uas.count(|e| matches!(e, TxEvent::Ack { .. })), 1);
    assert_eq!(s.uas_tu.ack_timeouts, 0);
    // 100 Trying went out immediately, with the INVITE's arrival.
    assert_eq!(s.uas.sent_times("SIP/2.0 100"), vec![secs(0.02)]);
    // clean network: nothing retransmitted
    assert_eq!(s.uac.layer.stats().retransmissions, 0);
    assert_eq!(s.uas.layer.stats().retransmissions, 0);
    assert!(s.all_terminated());
    // The 2xx leaves the INVITE client tx in Accepted for 64*T1 (Timer M).
    assert!(s.elapsed() >= secs(2.04 + 32.0));
}

#[test]
fn invite_486_is_acked_by_the_layer() {
    let mut s = sim(TransportKind::Udp, Uac::default(), Uas::new(OnInvite::Busy));
    s.with_uac(|now, l, p, tu| tu.start(now, l, p, "flow-486"));
    s.run_until(secs(1.0));

    let (inv_id, inv) = s.uac_tu.invite.clone().unwrap();
    assert_eq!(s.uac.response_codes(inv_id), vec![100, 486]);
    assert_eq!(s.uac_tu.acks_sent, 0, "the TU sends no ACK for a non-2xx");
    let acks: Vec<_> = s
        .uac
        .sent
        .iter()
        .filter(|(_, d)| d.starts_with(b"ACK "))
        .map(|(_, d)| message::parse(d).unwrap())
        .collect();
    assert_eq!(acks.len(), 1);
    let ack = &acks[0];
    assert_eq!(message::top_branch(ack), message::top_branch(&inv));
    assert_eq!(message::cseq(ack), Some((1, Method::Ack)));
    assert_eq!(message::to_tag(ack), Some(s.uas_tu.to_tag.as_str()));
    let rsip::SipMessage::Request(ack) = ack else {
        panic!()
    };
    assert_eq!(ack.uri, inv.uri);

    // The UAS absorbed the ACK (no event) and is Confirmed; Timer I (T4) ends it. The ACK
    // arrived at 60 ms.
    assert_eq!(s.uas.count(|e| matches!(e, TxEvent::Ack { .. })), 0);
    assert_eq!(s.uas.layer.stats().acks_absorbed, 1);
    assert_eq!(s.uas.layer.server_count(), 1);
    s.run_until(secs(5.059));
    assert_eq!(s.uas.layer.server_count(), 1);
    s.run_until(secs(5.061));
    assert_eq!(s.uas.layer.server_count(), 0);
    assert_eq!(
        s.uas.sent_times("SIP/2.0 486").len(),
        1,
        "no Timer G retransmission"
    );
    // The UAC lingers in Completed for Timer D (32 s).
    assert_eq!(s.uac.layer.client_count(), 1);
    s.run_to_idle(secs(60.0));
    assert!(s.all_terminated());
    assert_eq!(s.uas_tu.ack_timeouts, 0);
}

#[test]
fn options_and_bye_non_invite() {
    let mut s = sim(
        TransportKind::Udp,
        Uac::default(),
        Uas::new(OnInvite::Silent),
    );
    let ids = s.with_uac(|now, l, p, _| {
        let o = l.send_request(now, request(Method::Options, p.transport, "opt"), p);
        let b = l.send_request(now, request(Method::Bye, p.transport, "bye"), p);
        (o, b)
    });
    s.run_until(secs(0.1));
    assert_eq!(s.uac.response_codes(ids.0), vec![200]);
    assert_eq!(s.uac.response_codes(ids.1), vec![200]);
    // Both sides linger: UAS Timer J = 64*T1, UAC Timer K = T4.
    assert_eq!(s.uas.layer.server_count(), 2);
    assert_eq!(s.uac.layer.client_count(), 2);
    s.run_until(secs(0.04 + 5.0 + 0.001));
    assert_eq!(s.uac.layer.client_count(), 0);
    assert_eq!(s.uas.layer.server_count(), 2);
    s.run_until(secs(0.02 + 32.0 + 0.001));
    assert!(s.all_terminated());
}

#[test]
fn cancel_before_final() {
    let uac = Uac {
        cancel_on_ringing: true,
        ..Uac::default()
    };
    let mut s = sim(TransportKind::Udp, uac, Uas::new(OnInvite::RingForever));
    s.with_uac(|now, l, p, tu| tu.start(now, l, p, "flow-cancel"));
    s.run_to_idle(secs(120.0));

    let (inv_id, _) = s.uac_tu.invite.clone().unwrap();
    let cancel_id = s.uac_tu.cancel.unwrap();
    assert_eq!(s.uac.response_codes(cancel_id), vec![200]);
    assert_eq!(s.uac.response_codes(inv_id), vec![100, 180, 487]);
    assert_eq!(s.uas_tu.cancelled, 1);
    assert_eq!(s.uas.count(|e| matches!(e, TxEvent::Cancelled { .. })), 1);
    assert_eq!(
        s.uas.count(is_request(Method::Cancel)),
        0,
        "CANCEL is handled by the layer"
    );
    // The 487 was ACKed by the UAC layer and absorbed by the UAS layer.
    assert_eq!(s.uac.sent_times("ACK ").len(), 1);
    assert_eq!(s.uas.layer.stats().acks_absorbed, 1);
    assert_eq!(s.uas_tu.ack_timeouts, 0);
    assert!(s.uac_tu.timeouts.is_empty());
    assert!(s.all_terminated());
}

#[test]
fn cancel_without_invite_gets_481() {
    let mut s = sim(
        TransportKind::Udp,
        Uac::default(),
        Uas::new(OnInvite::Silent),
    );
    let id = s.with_uac(|now, l, p, _| {
        let inv = request(Method::Invite, p.transport, "no-such");
        l.send_request(now, message::make_cancel(&inv), p)
    });
    s.run_until(secs(0.1));
    assert_eq!(s.uac.response_codes(id), vec![481]);
    assert_eq!(s.uas.layer.stats().unmatched_cancels, 1);
    assert!(s.uas.events.is_empty());
}

#[test]
fn retransmitted_requests_are_answered_by_the_transaction() {
    // Every datagram towards the UAS arrives twice.
    let to_uas = Link {
        duplicate: 1.0,
        ..Link::default()
    };
    let uas = Uas::new(OnInvite::RingThenAnswer(secs(1.0)));
    let mut s = Sim::new(
        3,
        TransportKind::Udp,
        to_uas,
        Link::default(),
        Uac::default(),
        uas,
    );
    let opt = s.with_uac(|now, l, p, tu| {
        tu.start(now, l, p, "dup");
        l.send_request(now, request(Method::Options, p.transport, "dup-opt"), p)
    });
    s.run_to_idle(secs(120.0));

    assert_eq!(s.uas.count(is_request(Method::Invite)), 1);
    assert_eq!(s.uas.count(is_request(Method::Options)), 1);
    assert_eq!(s.uas.count(is_request(Method::Bye)), 1);
    assert_eq!(
        s.uas.count(|e| matches!(e, TxEvent::Ack { .. })),
        1,
        "duplicate ACK absorbed"
    );
    let st = s.uas.layer.stats();
    assert_eq!(
        st.retransmissions_received, 3,
        "INVITE, OPTIONS, BYE duplicates"
    );
    assert_eq!(st.acks_absorbed, 1);
    // The duplicate INVITE was answered with the last response (the 180), OPTIONS with its 200.
    assert_eq!(s.uas.sent_times("SIP/2.0 180").len(), 2);
    assert_eq!(s.uac.response_codes(opt), vec![200]);
    assert!(s.all_terminated());
}

#[test]
fn reliable_transport_no_retransmissions_and_zero_linger() {
    // 2xx path: Accepted states still last 64*T1, but nothing is retransmitted.
    let mut s = sim(
        TransportKind::Tcp,
        Uac {
            ack_2xx_from: 0, // never ACK: the UAS still must not retransmit over TCP
            ..Uac::default()
        },
        Uas::new(OnInvite::RingThenAnswer(Duration::ZERO)),
    );
    s.with_uac(|now, l, p, tu| tu.start(now, l, p, "tcp-1"));
    s.run_until(secs(0.2));
    assert_eq!(s.uac_tu.bye_result, Some(200));
    // BYE: Timer J and K are zero — both gone as soon as the 200 passed.
    assert_eq!(s.uas.layer.server_count(), 1, "only the Accepted INVITE");
    assert_eq!(s.uac.layer.client_count(), 1, "only the Accepted INVITE");
    s.run_to_idle(secs(120.0));
    assert_eq!(
        s.uas.sent_times("SIP/2.0 200").len(),
        2,
        "one 200 for INVITE, one for BYE"
    );
    assert_eq!(s.uas_tu.ack_timeouts, 1, "Timer L still applies");
    assert_eq!(s.uac.layer.stats().retransmissions, 0);
    assert_eq!(s.uas.layer.stats().retransmissions, 0);
    assert!(s.all_terminated());

    // non-2xx path: Timer D and I are zero.
    let mut s = sim(TransportKind::Tcp, Uac::default(), Uas::new(OnInvite::Busy));
    s.with_uac(|now, l, p, tu| tu.start(now, l, p, "tcp-2"));
    s.run_to_idle(secs(120.0));
    assert!(s.elapsed() < secs(0.1), "idle at {:?}", s.elapsed());
    assert_eq!(s.uac_tu.invite_final, Some(486));
    assert_eq!(s.uac.sent_times("ACK ").len(), 1);
    assert!(s.all_terminated());

    // Nothing reaches the UAS over TCP: exactly one INVITE, Timer B still fires at 64*T1.
    let black_hole = Link {
        loss: 1.0,
        ..Link::default()
    };
    let mut s = Sim::new(
        1,
        TransportKind::Tcp,
        black_hole,
        Link::default(),
        Uac::default(),
        Uas::new(OnInvite::Silent),
    );
    s.with_uac(|now, l, p, tu| tu.start(now, l, p, "tcp-3"));
    s.run_to_idle(secs(120.0));
    assert_eq!(s.uac.sent_times("INVITE ").len(), 1);
    assert_eq!(s.uac_tu.timeouts.len(), 1);
    assert_eq!(s.elapsed(), secs(32.0));
    assert!(s.all_terminated());
}

#[test]
fn silent_tu_leaves_invite_proceeding_until_cancel() {
    // The UAS layer sent 100 Trying, so the UAC is Proceeding (no Timer B) and nothing ends
    // the transactions until the TU acts: here, a CANCEL 10 s later. The UAS TU ignores the
    // Cancelled event, so no 487 comes; 64*T1 after the CANCEL the UAC gives up on the INVITE.
    let mut s = sim(
        TransportKind::Udp,
        Uac::default(),
        Uas::new(OnInvite::Silent),
    );
    s.uas_tu.ignore_cancel = true;
    s.with_uac(|now, l, p, tu| tu.start(now, l, p, "silent"));
    s.run_until(secs(10.0));
    assert_eq!(s.uac.layer.client_count(), 1);
    assert_eq!(s.uas.layer.server_count(), 1);
    let (inv_id, inv) = s.uac_tu.invite.clone().unwrap();
    let cancel = s.with_uac(|now, l, p, _| l.send_request(now, message::make_cancel(&inv), p));
    s.run_until(secs(10.1));
    assert_eq!(s.uac.response_codes(cancel), vec![200]);
    assert_eq!(s.uas.count(|e| matches!(e, TxEvent::Cancelled { .. })), 1);
    s.run_until(secs(41.9));
    assert!(s.uac_tu.timeouts.is_empty());
    s.run_until(secs(42.0));
    assert_eq!(s.uac_tu.timeouts, vec![inv_id]);
    assert_eq!(s.uac.layer.client_count(), 0);
    // The CANCEL's server transaction ends with Timer J; the INVITE's still waits for its
    // TU's final response.
    s.run_until(secs(42.1));
    assert_eq!(s.uas.layer.server_count(), 1);
}
