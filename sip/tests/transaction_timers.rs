//! Exact timer schedules (RFC 3261 §17 with T1 = 500 ms, T2 = 4 s, T4 = 5 s) on simulated time.

#[path = "transaction_harness.rs"]
mod harness;

use std::time::Duration;

use harness::*;
use ringside_sip::transaction::{TransportKind, TxEvent};
use rsip::Method;

fn black_hole() -> Link {
    Link {
        loss: 1.0,
        ..Link::default()
    }
}

fn times(v: &[f64]) -> Vec<Duration> {
    v.iter().map(|s| secs(*s)).collect()
}

#[test]
fn timer_a_doubles_and_timer_b_times_out_at_32s() {
    let mut s = Sim::new(
        1,
        TransportKind::Udp,
        black_hole(),
        Link::default(),
        Uac::default(),
        Uas::new(OnInvite::Silent),
    );
    s.with_uac(|now, l, p, tu| tu.start(now, l, p, "timer-a"));
    s.run_to_idle(secs(100.0));
    // Intervals 0.5, 1, 2, 4, 8, 16 s.
    assert_eq!(
        s.uac.sent_times("INVITE "),
        times(&[0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5])
    );
    let (id, _) = s.uac_tu.invite.clone().unwrap();
    let timeouts: Vec<_> = s
        .uac
        .events
        .iter()
        .filter(|(_, e)| matches!(e, TxEvent::Timeout { id: i } if *i == id))
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(timeouts, vec![secs(32.0)]);
    assert_eq!(s.uac.layer.stats().retransmissions, 6);
    assert_eq!(s.uac.layer.stats().timeouts, 1);
    assert!(s.all_terminated());
}

#[test]
fn timer_e_caps_at_t2_and_timer_f_times_out_at_32s() {
    let mut s = Sim::new(
        1,
        TransportKind::Udp,
        black_hole(),
        Link::default(),
        Passive,
        Uas::new(OnInvite::Silent),
    );
    let id = s.with_uac(|now, l, p, _| {
        l.send_request(now, request(Method::Options, p.transport, "timer-e"), p)
    });
    s.run_to_idle(secs(100.0));
    assert_eq!(
        s.uac.sent_times("OPTIONS "),
        times(&[0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5])
    );
    assert_eq!(
        s.uac.events,
        vec![(secs(32.0), TxEvent::Timeout { id })],
        "Timer F"
    );
    assert!(s.all_terminated());
}

#[test]
fn timer_e_fires_every_t2_after_a_provisional() {
    let mut uas = Uas::new(OnInvite::Silent);
    uas.non_invite_delay = secs(20.0); // 100 at once, 200 after 20 s
    let mut s = Sim::new(
        1,
        TransportKind::Udp,
        Link::default(),
        Link::default(),
        Passive,
        uas,
    );
    let id = s.with_uac(|now, l, p, _| {
        l.send_request(now, request(Method::Register, p.transport, "timer-e2"), p)
    });
    s.run_to_idle(secs(100.0));
    // 100 arrives at 40 ms; E fires at 0.5 s (still T1-based), then every T2. The 200 leaves
    // the UAS at 20.02 s and arrives at 20.04 s.
    assert_eq!(
        s.uac.sent_times("REGISTER "),
        times(&[0.0, 0.5, 4.5, 8.5, 12.5, 16.5])
    );
    // Each retransmission was answered with the last response (the 100), and every
    // provisional is passed up while Proceeding (RFC 3261 §17.1.2.2).
    assert_eq!(s.uas.sent_times("SIP/2.0 100").len(), 6);
    assert_eq!(s.uac.response_codes(id), [vec![100; 6], vec![200]].concat());
    assert!(s.all_terminated());
}

#[test]
fn accepted_2xx_retransmitted_until_ack_timer_l() {
    // The UAC TU never ACKs: the UAS layer retransmits its 2xx (T1 doubling, capped at T2)
    // until Timer L (64*T1) and reports AckTimeout; each 2xx reaches the UAC TU again.
    let uac = Uac {
        ack_2xx_from: 0,
        send_bye: false,
        ..Uac::default()
    };
    let uas = Uas::new(OnInvite::RingThenAnswer(Duration::ZERO));
    let mut s = Sim::new(
        1,
        TransportKind::Udp,
        Link::default(),
        Link::default(),
        uac,
        uas,
    );
    s.with_uac(|now, l, p, tu| tu.start(now, l, p, "no-ack"));
    s.run_to_idle(secs(100.0));

    let t0 = 0.02;
    let expect: Vec<f64> = [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
        .iter()
        .map(|x| x + t0)
        .collect();
    assert_eq!(s.uas.sent_times("SIP/2.0 200"), times(&expect));
    let ack_timeouts: Vec<_> = s
        .uas
        .events
        .iter()
        .filter(|(_, e)| matches!(e, TxEvent::AckTimeout { .. }))
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(ack_timeouts, vec![secs(t0 + 32.0)]);
    let (inv, _) = s.uac_tu.invite.clone().unwrap();
    assert_eq!(
        s.uac.response_codes(inv),
        [vec![100, 180], vec![200; expect.len()]].concat(),
        "every 2xx retransmission is passed up during Accepted"
    );
    assert!(s.all_terminated());
}

#[test]
fn late_ack_stops_2xx_retransmissions() {
    // The UAC TU only ACKs from the third 2xx on (the first two ACKs "got lost").
    let uac = Uac {
        ack_2xx_from: 3,
        send_bye: false,
        ..Uac::default()
    };
    let uas = Uas::new(OnInvite::RingThenAnswer(Duration::ZERO));
    let mut s = Sim::new(
        1,
        TransportKind::Udp,
        Link::default(),
        Link::default(),
        uac,
        uas,
    );
    s.with_uac(|now, l, p, tu| tu.start(now, l, p, "late-ack"));
    s.run_to_idle(secs(100.0));
    // 2xx at 0.02, 0.52, 1.52; the ACK for the third arrives at 1.56 — before the next at 3.52.
    assert_eq!(s.uas.sent_times("SIP/2.0 200"), times(&[0.02, 0.52, 1.52]));
    assert_eq!(s.uas_tu.acks, 1);
    assert_eq!(s.uas_tu.ack_timeouts, 0);
    assert_eq!(s.uas.layer.stats().retransmissions, 2);
    assert!(s.all_terminated());
}

#[test]
fn timer_g_retransmits_non_2xx_and_timer_h_when_ack_is_lost() {
    fn is_ack(d: &[u8]) -> bool {
        d.starts_with(b"ACK ")
    }
    let to_uas = Link {
        drop_if: Some(is_ack),
        ..Link::default()
    };
    let mut s = Sim::new(
        1,
        TransportKind::Udp,
        to_uas,
        Link::default(),
        Uac::default(),
        Uas::new(OnInvite::Busy),
    );
    s.with_uac(|now, l, p, tu| tu.start(now, l, p, "timer-g"));
    s.run_to_idle(secs(100.0));
    let expect: Vec<f64> = [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
        .iter()
        .map(|x| x + 0.02)
        .collect();
    assert_eq!(s.uas.sent_times("SIP/2.0 486"), times(&expect));
    assert_eq!(s.uas_tu.ack_timeouts, 1, "Timer H");
    // The UAC layer re-ACKed every retransmitted 486 without passing it up again. Its Timer D
    // (32 s from the first 486) ends before the last retransmissions arrive: those are strays.
    let (inv, _) = s.uac_tu.invite.clone().unwrap();
    assert_eq!(s.uac.response_codes(inv), vec![100, 486]);
    let acks = s.uac.sent_times("ACK ").len();
    let strays = s.uac.count(|e| matches!(e, TxEvent::StrayResponse { .. }));
    assert_eq!(acks + strays, expect.len());
    assert!(s.all_terminated());
}
