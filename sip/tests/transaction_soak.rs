//! Lossy-UDP soak: many seeded runs with 30 % loss in both directions (plus jitter). Every call
//! either completes or times out cleanly, no request reaches a TU twice, and every
//! transaction is eventually removed from both layers.

#[path = "transaction_harness.rs"]
mod harness;

use std::time::{Duration, Instant};

use harness::*;
use ringside_sip::message;
use ringside_sip::transaction::{ClientTxId, Peer, TransactionLayer, TransportKind, TxEvent};
use rsip::Method;

const RUNS: u64 = 300;

fn lossy() -> Link {
    Link {
        loss: 0.3,
        delay: Duration::from_millis(15),
        jitter: Duration::from_millis(40),
        duplicate: 0.05,
        drop_if: None,
    }
}

fn requests(node: &Node, m: Method) -> usize {
    node.count(|e| matches!(e, TxEvent::Request { request, .. } if request.method == m))
}

#[test]
fn invite_200_ack_bye_over_lossy_udp() {
    let mut completed = 0;
    for seed in 0..RUNS {
        let uas = Uas::new(OnInvite::RingThenAnswer(Duration::from_millis(800)));
        let mut s = Sim::new(
            seed,
            TransportKind::Udp,
            lossy(),
            lossy(),
            Uac::default(),
            uas,
        );
        s.with_uac(|now, l, p, tu| tu.start(now, l, p, &format!("soak-{seed}")));
        s.run_to_idle(secs(600.0));

        assert!(s.all_terminated(), "seed {seed}: transactions left");
        let uac = &s.uac_tu;
        let ok = uac.invite_final == Some(200) && uac.bye_result == Some(200);
        if ok {
            completed += 1;
            assert!(uac.acks_sent >= 1, "seed {seed}");
        } else {
            assert!(
                !uac.timeouts.is_empty(),
                "seed {seed}: neither completed nor timed out"
            );
        }
        assert!(
            requests(&s.uas, Method::Invite) <= 1,
            "seed {seed}: INVITE passed up twice"
        );
        assert!(
            requests(&s.uas, Method::Bye) <= 1,
            "seed {seed}: BYE passed up twice"
        );
        assert!(s.uas_tu.acks <= 1, "seed {seed}: ACK passed up twice");
        if uac.invite_final == Some(200) {
            // Either the ACK got through or the UAS reported the missing ACK.
            assert_eq!(s.uas_tu.acks + s.uas_tu.ack_timeouts, 1, "seed {seed}");
        }
    }
    assert!(
        completed * 100 >= RUNS * 97,
        "only {completed}/{RUNS} calls completed"
    );
}

/// UAC that CANCELs its INVITE 2 s after the first provisional.
#[derive(Default)]
struct Canceller {
    invite: Option<(ClientTxId, rsip::Request)>,
    cancel_at: Option<Instant>,
    cancel: Option<ClientTxId>,
    invite_final: Option<u16>,
    cancel_final: Option<u16>,
    timeouts: Vec<ClientTxId>,
}

impl Tu for Canceller {
    fn on_event(&mut self, now: Instant, _: &mut TransactionLayer, _: Peer, ev: &TxEvent) {
        match ev {
            TxEvent::Response { id, response } => {
                let code = response.status_code.code();
                if Some(*id) == self.cancel {
                    self.cancel_final = Some(code);
                } else if code < 200 {
                    if self.cancel_at.is_none() && self.cancel.is_none() {
                        self.cancel_at = Some(now + Duration::from_secs(2));
                    }
                } else {
                    self.invite_final.get_or_insert(code);
                    self.cancel_at = None;
                }
            }
            TxEvent::Timeout { id } => self.timeouts.push(*id),
            _ => {}
        }
    }

    fn next_timer(&self) -> Option<Instant> {
        self.cancel_at
    }

    fn on_timer(&mut self, now: Instant, layer: &mut TransactionLayer, peer: Peer) {
        self.cancel_at = None;
        let inv = &self.invite.as_ref().unwrap().1;
        self.cancel = Some(layer.send_request(now, message::make_cancel(inv), peer));
    }
}

#[test]
fn cancel_over_lossy_udp() {
    let mut cancelled = 0;
    for seed in 0..RUNS {
        let uas = Uas::new(OnInvite::RingForever);
        let mut s = Sim::new(
            seed,
            TransportKind::Udp,
            lossy(),
            lossy(),
            Canceller::default(),
            uas,
        );
        s.with_uac(|now, l, p, tu| {
            let inv = request(Method::Invite, p.transport, &format!("cancel-{seed}"));
            tu.invite = Some((l.send_request(now, inv.clone(), p), inv));
        });
        s.run_to_idle(secs(600.0));

        assert!(s.all_terminated(), "seed {seed}: transactions left");
        let tu = &s.uac_tu;
        match tu.invite_final {
            Some(487) => cancelled += 1,
            Some(code) => panic!("seed {seed}: unexpected final {code}"),
            // No 487 made it (or no provisional ever did): the INVITE timed out.
            None => assert!(
                tu.timeouts.contains(&tu.invite.as_ref().unwrap().0),
                "seed {seed}"
            ),
        }
        assert!(
            s.uas_tu.cancelled <= 1,
            "seed {seed}: Cancelled passed up twice"
        );
        assert!(requests(&s.uas, Method::Invite) <= 1, "seed {seed}");
    }
    assert!(
        cancelled * 100 >= RUNS * 95,
        "only {cancelled}/{RUNS} cancelled"
    );
}

#[test]
fn parse_serialize_roundtrip_of_everything_sent() {
    // One clean run, re-parsing every datagram both sides sent: nothing the layer emits is
    // rejected by `message::parse`, and retransmissions are byte-identical.
    let uas = Uas::new(OnInvite::RingThenAnswer(Duration::from_millis(100)));
    let mut s = Sim::new(9, TransportKind::Udp, lossy(), lossy(), Uac::default(), uas);
    s.with_uac(|now, l, p, tu| tu.start(now, l, p, "roundtrip"));
    s.run_to_idle(secs(600.0));
    for (_, d) in s.uac.sent.iter().chain(s.uas.sent.iter()) {
        message::parse(d).expect("layer output parses");
    }
    let invites: Vec<_> = s
        .uac
        .sent
        .iter()
        .filter(|(_, d)| d.starts_with(b"INVITE"))
        .collect();
    assert!(invites.windows(2).all(|w| w[0].1 == w[1].1));
}
