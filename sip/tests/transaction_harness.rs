//! Simulated network for transaction-layer tests: two `TransactionLayer`s (UAC and UAS) joined
//! by a queue of in-flight datagrams with delivery times, on a fake clock that jumps to the
//! next delivery, layer timeout or TU timer. Loss, delay, jitter and duplication are seeded and
//! deterministic. Every datagram goes through `message::serialize` → `message::parse`.
//!
//! Included by the other `transaction_*.rs` test files with `#[path]`; compiled on its own it
//! only runs its self-test.
#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rsip::prelude::*;
use rsip::{Method, Request, Response, SipMessage, StatusCode};

use ringside_sip::message::{self, make_response, new_branch, new_tag};
use ringside_sip::transaction::{
    ClientTxId, Config, Output, Peer, ServerTxId, TransactionLayer, TransportKind, TxEvent,
};

/// One direction of the network.
#[derive(Clone, Copy)]
pub struct Link {
    /// Probability of losing a datagram.
    pub loss: f64,
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Extra random delay in `0..=jitter` (may reorder).
    pub jitter: Duration,
    /// Probability of delivering a second copy 7 ms later.
    pub duplicate: f64,
    /// Datagrams for which this returns true are always lost.
    pub drop_if: Option<fn(&[u8]) -> bool>,
}

impl Default for Link {
    fn default() -> Self {
        Link {
            loss: 0.0,
            delay: Duration::from_millis(20),
            jitter: Duration::ZERO,
            duplicate: 0.0,
            drop_if: None,
        }
    }
}

/// The transaction user of one side.
pub trait Tu {
    /// An event from this side's layer; `peer` is the other side.
    fn on_event(&mut self, now: Instant, layer: &mut TransactionLayer, peer: Peer, ev: &TxEvent);
    /// Next TU timer.
    fn next_timer(&self) -> Option<Instant> {
        None
    }
    /// The TU timer passed.
    fn on_timer(&mut self, _now: Instant, _layer: &mut TransactionLayer, _peer: Peer) {}
}

/// One endpoint.
pub struct Node {
    pub layer: TransactionLayer,
    pub peer: Peer,
    /// Everything this node transmitted (before loss), with the time since start.
    pub sent: Vec<(Duration, Bytes)>,
    /// Every event its layer emitted, with the time since start.
    pub events: Vec<(Duration, TxEvent)>,
}

impl Node {
    fn new(cfg: Config, addr: &str, transport: TransportKind) -> Self {
        Node {
            layer: TransactionLayer::new(cfg),
            peer: Peer {
                addr: addr.parse().unwrap(),
                transport,
                tls_profile: 0,
            },
            sent: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Times (since start) at which messages starting with `prefix` were transmitted.
    pub fn sent_times(&self, prefix: &str) -> Vec<Duration> {
        self.sent
            .iter()
            .filter(|(_, d)| d.starts_with(prefix.as_bytes()))
            .map(|(t, _)| *t)
            .collect()
    }

    /// Status codes of `Response` events for client transaction `id`.
    pub fn response_codes(&self, id: ClientTxId) -> Vec<u16> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                TxEvent::Response { id: i, response } if *i == id => {
                    Some(response.status_code.code())
                }
                _ => None,
            })
            .collect()
    }

    /// Number of events matching `f`.
    pub fn count(&self, f: impl Fn(&TxEvent) -> bool) -> usize {
        self.events.iter().filter(|(_, e)| f(e)).count()
    }
}

struct Net {
    rng: StdRng,
    links: [Link; 2],
    queue: BinaryHeap<Reverse<(Instant, u64, usize, Bytes)>>,
    seq: u64,
}

impl Net {
    /// Queue `data` towards node `dest` (0 = UAC, 1 = UAS); the link used is `links[dest]`.
    fn send(&mut self, now: Instant, dest: usize, data: Bytes) {
        let link = self.links[dest];
        if link.drop_if.is_some_and(|f| f(&data)) || self.rng.gen_bool(link.loss) {
            return;
        }
        let jitter = if link.jitter.is_zero() {
            Duration::ZERO
        } else {
            link.jitter.mul_f64(self.rng.gen::<f64>())
        };
        let at = now + link.delay + jitter;
        if self.rng.gen_bool(link.duplicate) {
            self.seq += 1;
            let dup = at + Duration::from_millis(7);
            self.queue
                .push(Reverse((dup, self.seq, dest, data.clone())));
        }
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, dest, data)));
    }
}

/// Two nodes and the network between them.
pub struct Sim<A: Tu, B: Tu> {
    pub t0: Instant,
    pub now: Instant,
    pub uac: Node,
    pub uas: Node,
    pub uac_tu: A,
    pub uas_tu: B,
    net: Net,
}

pub const UAC_ADDR: &str = "192.0.2.1:5060";
pub const UAS_ADDR: &str = "192.0.2.2:5070";

impl<A: Tu, B: Tu> Sim<A, B> {
    /// `to_uas` / `to_uac` describe the two directions.
    pub fn new(
        seed: u64,
        transport: TransportKind,
        to_uas: Link,
        to_uac: Link,
        a: A,
        b: B,
    ) -> Self {
        let t0 = Instant::now();
        Sim {
            t0,
            now: t0,
            uac: Node::new(Config::default(), UAC_ADDR, transport),
            uas: Node::new(Config::default(), UAS_ADDR, transport),
            uac_tu: a,
            uas_tu: b,
            net: Net {
                rng: StdRng::seed_from_u64(seed),
                links: [to_uac, to_uas],
                queue: BinaryHeap::new(),
                seq: 0,
            },
        }
    }

    /// Simulated time since start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    /// Let the UAC's TU act now (e.g. send the first request).
    pub fn with_uac<R>(
        &mut self,
        f: impl FnOnce(Instant, &mut TransactionLayer, Peer, &mut A) -> R,
    ) -> R {
        let r = f(
            self.now,
            &mut self.uac.layer,
            self.uas.peer,
            &mut self.uac_tu,
        );
        self.flush(0);
        r
    }

    fn flush(&mut self, idx: usize) {
        let (node, other, tu): (&mut Node, Peer, &mut dyn Tu) = if idx == 0 {
            (&mut self.uac, self.uas.peer, &mut self.uac_tu)
        } else {
            (&mut self.uas, self.uac.peer, &mut self.uas_tu)
        };
        let since = self.now - self.t0;
        loop {
            let mut events = Vec::new();
            while let Some(o) = node.layer.poll_output() {
                match o {
                    Output::Transmit { to, data } => {
                        assert_eq!(to, other, "transmit to an unknown peer");
                        node.sent.push((since, data.clone()));
                        self.net.send(self.now, 1 - idx, data);
                    }
                    Output::Event(e) => events.push(e),
                }
            }
            if events.is_empty() {
                break;
            }
            for e in events {
                tu.on_event(self.now, &mut node.layer, other, &e);
                node.events.push((since, e));
            }
        }
    }

    fn next_time(&self) -> Option<Instant> {
        [
            self.net.queue.peek().map(|Reverse(e)| e.0),
            self.uac.layer.poll_timeout(),
            self.uas.layer.poll_timeout(),
            self.uac_tu.next_timer(),
            self.uas_tu.next_timer(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Advance to the next thing that happens; false when nothing is pending.
    pub fn step(&mut self) -> bool {
        let Some(next) = self.next_time() else {
            return false;
        };
        self.now = self.now.max(next);
        let now = self.now;
        while let Some(Reverse((at, _, dest, _))) = self.net.queue.peek() {
            if *at > now {
                break;
            }
            let dest = *dest;
            let Reverse((_, _, _, data)) = self.net.queue.pop().unwrap();
            let msg = message::parse(&data).expect("every transmitted message parses");
            let (node, from) = if dest == 0 {
                (&mut self.uac, self.uas.peer)
            } else {
                (&mut self.uas, self.uac.peer)
            };
            node.layer.handle_incoming(now, msg, from);
            self.flush(dest);
        }
        if self.uac.layer.poll_timeout().is_some_and(|t| t <= now) {
            self.uac.layer.handle_timeout(now);
            self.flush(0);
        }
        if self.uas.layer.poll_timeout().is_some_and(|t| t <= now) {
            self.uas.layer.handle_timeout(now);
            self.flush(1);
        }
        if self.uac_tu.next_timer().is_some_and(|t| t <= now) {
            self.uac_tu
                .on_timer(now, &mut self.uac.layer, self.uas.peer);
            self.flush(0);
        }
        if self.uas_tu.next_timer().is_some_and(|t| t <= now) {
            self.uas_tu
                .on_timer(now, &mut self.uas.layer, self.uac.peer);
            self.flush(1);
        }
        true
    }

    /// Step until `t0 + limit` (things due later stay pending).
    pub fn run_until(&mut self, limit: Duration) {
        while self.next_time().is_some_and(|t| t <= self.t0 + limit) {
            self.step();
        }
        self.now = self.now.max(self.t0 + limit);
    }

    /// Step until nothing is pending; panics if that takes more than `cap` of simulated time.
    pub fn run_to_idle(&mut self, cap: Duration) {
        while self.step() {
            assert!(self.elapsed() <= cap, "not idle after {cap:?}");
        }
    }

    /// Both layers hold no transaction.
    pub fn all_terminated(&self) -> bool {
        self.uac.layer.server_count() == 0
            && self.uac.layer.client_count() == 0
            && self.uas.layer.server_count() == 0
            && self.uas.layer.client_count() == 0
    }
}

fn parse_request(text: &str) -> Request {
    match message::parse(text.as_bytes()).expect("test request parses") {
        SipMessage::Request(r) => r,
        SipMessage::Response(_) => panic!("not a request"),
    }
}

fn proto(t: TransportKind) -> &'static str {
    t.via_name()
}

/// A fresh out-of-dialog request from the UAC to the UAS.
pub fn request(method: Method, transport: TransportKind, call_id: &str) -> Request {
    parse_request(&format!(
        "{method} sip:bob@{UAS_ADDR} SIP/2.0\r\n\
         Via: SIP/2.0/{} {UAC_ADDR};branch={}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@{UAC_ADDR}>;tag={}\r\n\
         To: <sip:bob@{UAS_ADDR}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 {method}\r\n\
         Contact: <sip:alice@{UAC_ADDR}>\r\n\
         Content-Length: 0\r\n\r\n",
        proto(transport),
        new_branch(),
        new_tag(),
    ))
}

/// An in-dialog request (ACK for 2xx, BYE) built from the INVITE and the 2xx: new branch,
/// From of the INVITE, To (with tag) of the response.
pub fn in_dialog(method: Method, invite: &Request, resp: &Response, cseq: u32) -> Request {
    let transport = if message::top_via(invite).unwrap().transport == "TCP" {
        TransportKind::Tcp
    } else {
        TransportKind::Udp
    };
    parse_request(&format!(
        "{method} sip:bob@{UAS_ADDR} SIP/2.0\r\n\
         Via: SIP/2.0/{} {UAC_ADDR};branch={}\r\n\
         Max-Forwards: 70\r\n\
         From: {}\r\n\
         To: {}\r\n\
         Call-ID: {}\r\n\
         CSeq: {cseq} {method}\r\n\
         Content-Length: 0\r\n\r\n",
        proto(transport),
        new_branch(),
        invite.from_header().unwrap().value(),
        resp.to_header().unwrap().value(),
        message::call_id(invite).unwrap(),
    ))
}

/// How the scripted UAS treats an INVITE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnInvite {
    /// 180 at once, 200 after the delay.
    RingThenAnswer(Duration),
    /// 486 at once.
    Busy,
    /// 180 and then nothing (until CANCEL).
    RingForever,
    /// Never respond.
    Silent,
}

/// Scripted UAS: answers INVITEs per `answer`, 200s every other request (after
/// `non_invite_delay`, with a `100` first if that is non-zero), 487s cancelled INVITEs.
pub struct Uas {
    pub answer: OnInvite,
    pub non_invite_delay: Duration,
    pub to_tag: String,
    pending: Vec<(Instant, ServerTxId, Response)>,
    invites: Vec<(ServerTxId, Request)>,
    pub acks: usize,
    pub ack_timeouts: usize,
    pub cancelled: usize,
    /// Do not answer 487 on Cancelled.
    pub ignore_cancel: bool,
}

impl Uas {
    pub fn new(answer: OnInvite) -> Self {
        Uas {
            answer,
            non_invite_delay: Duration::ZERO,
            to_tag: new_tag(),
            pending: Vec::new(),
            invites: Vec::new(),
            acks: 0,
            ack_timeouts: 0,
            cancelled: 0,
            ignore_cancel: false,
        }
    }
}

impl Tu for Uas {
    fn on_event(&mut self, now: Instant, layer: &mut TransactionLayer, _peer: Peer, ev: &TxEvent) {
        let tag = Some(self.to_tag.as_str());
        match ev {
            TxEvent::Request { id, request, .. } if request.method == Method::Invite => {
                self.invites.push((*id, request.clone()));
                match self.answer {
                    OnInvite::RingThenAnswer(d) => {
                        layer.respond(now, *id, make_response(request, StatusCode::Ringing, tag));
                        let ok = make_response(request, StatusCode::OK, tag);
                        if d.is_zero() {
                            layer.respond(now, *id, ok);
                        } else {
                            self.pending.push((now + d, *id, ok));
                        }
                    }
                    OnInvite::Busy => {
                        layer.respond(now, *id, make_response(request, StatusCode::BusyHere, tag));
                    }
                    OnInvite::RingForever => {
                        layer.respond(now, *id, make_response(request, StatusCode::Ringing, tag));
                    }
                    OnInvite::Silent => {}
                }
            }
            TxEvent::Request { id, request, .. } => {
                let ok = make_response(request, StatusCode::OK, tag);
                if self.non_invite_delay.is_zero() {
                    layer.respond(now, *id, ok);
                } else {
                    layer.respond(now, *id, make_response(request, StatusCode::Trying, None));
                    self.pending.push((now + self.non_invite_delay, *id, ok));
                }
            }
            TxEvent::Cancelled { id, cancel } => {
                self.cancelled += 1;
                if self.ignore_cancel {
                    return;
                }
                assert_eq!(cancel.method, Method::Cancel);
                let invite = self
                    .invites
                    .iter()
                    .find(|(i, _)| i == id)
                    .expect("known INVITE");
                let resp = make_response(&invite.1, StatusCode::RequestTerminated, tag);
                assert!(layer.respond(now, *id, resp));
                self.pending.retain(|(_, p, _)| p != id);
            }
            TxEvent::Ack { .. } => self.acks += 1,
            TxEvent::AckTimeout { .. } => self.ack_timeouts += 1,
            _ => {}
        }
    }

    fn next_timer(&self) -> Option<Instant> {
        self.pending.iter().map(|(t, _, _)| *t).min()
    }

    fn on_timer(&mut self, now: Instant, layer: &mut TransactionLayer, _peer: Peer) {
        let (due, rest): (Vec<_>, Vec<_>) = self.pending.drain(..).partition(|(t, _, _)| *t <= now);
        self.pending = rest;
        for (_, id, resp) in due {
            layer.respond(now, id, resp);
        }
    }
}

/// Scripted UAC: an INVITE (ACK every 2xx unless `ack_2xx_from` says otherwise, then BYE),
/// optionally CANCEL on the first 1xx.
pub struct Uac {
    pub invite: Option<(ClientTxId, Request)>,
    pub cancel_on_ringing: bool,
    pub cancel: Option<ClientTxId>,
    /// Only ACK the n-th and later 2xx (1 = ACK all, 0 = never).
    pub ack_2xx_from: usize,
    pub send_bye: bool,
    pub bye: Option<ClientTxId>,
    pub ok_count: usize,
    pub acks_sent: usize,
    pub bye_result: Option<u16>,
    pub invite_final: Option<u16>,
    pub timeouts: Vec<ClientTxId>,
}

impl Default for Uac {
    fn default() -> Self {
        Uac {
            invite: None,
            cancel_on_ringing: false,
            cancel: None,
            ack_2xx_from: 1,
            send_bye: true,
            bye: None,
            ok_count: 0,
            acks_sent: 0,
            bye_result: None,
            invite_final: None,
            timeouts: Vec::new(),
        }
    }
}

impl Uac {
    /// Send the INVITE.
    pub fn start(&mut self, now: Instant, layer: &mut TransactionLayer, peer: Peer, call_id: &str) {
        let inv = request(Method::Invite, peer.transport, call_id);
        let id = layer.send_request(now, inv.clone(), peer);
        self.invite = Some((id, inv));
    }
}

impl Tu for Uac {
    fn on_event(&mut self, now: Instant, layer: &mut TransactionLayer, peer: Peer, ev: &TxEvent) {
        match ev {
            TxEvent::Response { id, response }
                if Some(*id) == self.invite.as_ref().map(|i| i.0) =>
            {
                let inv = &self.invite.as_ref().unwrap().1;
                let code = response.status_code.code();
                if code >= 200 && self.invite_final.is_none() {
                    self.invite_final = Some(code);
                }
                if (180..200).contains(&code) && self.cancel_on_ringing && self.cancel.is_none() {
                    self.cancel = Some(layer.send_request(now, message::make_cancel(inv), peer));
                }
                if (200..300).contains(&code) {
                    self.ok_count += 1;
                    if self.ack_2xx_from != 0 && self.ok_count >= self.ack_2xx_from {
                        let ack = in_dialog(Method::Ack, inv, response, 1);
                        layer.send_stateless(SipMessage::Request(ack), peer);
                        self.acks_sent += 1;
                    }
                    if self.send_bye && self.bye.is_none() {
                        let bye = in_dialog(Method::Bye, inv, response, 2);
                        self.bye = Some(layer.send_request(now, bye, peer));
                    }
                }
            }
            TxEvent::Response { id, response }
                if Some(*id) == self.bye && response.status_code.code() >= 200 =>
            {
                self.bye_result = Some(response.status_code.code());
            }
            TxEvent::Timeout { id } => self.timeouts.push(*id),
            _ => {}
        }
    }
}

/// A UAC that only sends what the test tells it to and ignores events.
#[derive(Default)]
pub struct Passive;

impl Tu for Passive {
    fn on_event(&mut self, _: Instant, _: &mut TransactionLayer, _: Peer, _: &TxEvent) {}
}

/// Seconds as a `Duration` (fractional allowed).
pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

#[test]
fn harness_delivers_and_goes_idle() {
    let mut sim = Sim::new(
        1,
        TransportKind::Udp,
        Link::default(),
        Link::default(),
        Uac::default(),
        Uas::new(OnInvite::RingThenAnswer(Duration::ZERO)),
    );
    sim.with_uac(|now, layer, peer, tu| tu.start(now, layer, peer, "harness"));
    sim.run_to_idle(secs(120.0));
    assert_eq!(sim.uac_tu.invite_final, Some(200));
    assert_eq!(sim.uac_tu.bye_result, Some(200));
    assert!(sim.all_terminated());
    assert_eq!(sim.uas.peer.addr, UAS_ADDR.parse::<SocketAddr>().unwrap());
}
