//! Client transactions (RFC 3261 §17.1, RFC 6026 §7.2): INVITE and non-INVITE.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rsip::headers::{self, Header, UntypedHeader};
use rsip::{Method, Request, Response};

use super::key;
use super::timer::{Slot, Slots, Tick, TxRef};
use super::{ClientTxId, Output, Peer, TransactionLayer, TxEvent};
use crate::message::{self, BRANCH_MAGIC};

/// States of a client transaction (Terminated = removed from the layer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ClientState {
    /// "Calling" for INVITE, "Trying" for non-INVITE: no response yet.
    Trying,
    /// A provisional response arrived.
    Proceeding,
    /// Final (non-2xx for INVITE) received; absorbing retransmissions.
    Completed,
    /// INVITE: 2xx received; passing further 2xx up (RFC 6026).
    Accepted,
}

/// One client transaction.
pub(super) struct ClientTx {
    /// Second fingerprint of the key, to confirm index hits (see [`key::Fingerprinter`]).
    check: u64,
    fp: u64,
    invite: bool,
    state: ClientState,
    peer: Peer,
    /// The request as sent, for retransmissions.
    request: Bytes,
    /// INVITE until a final response: needed to build the ACK for a non-2xx.
    invite_req: Option<Box<Request>>,
    /// Completed INVITE: the ACK we sent, resent for each retransmitted final.
    ack: Option<Bytes>,
    interval: Duration,
    pub(super) slots: Slots,
    /// INVITE: when a CANCEL was sent while still Calling.
    cancelled_at: Option<Instant>,
}

impl TransactionLayer {
    pub(super) fn client_send(&mut self, now: Instant, mut req: Request, to: Peer) -> ClientTxId {
        let id = self.alloc_id();
        if let Some(d) = &self.cfg.dual_stack {
            d.localize_request(&mut req, to.addr.ip());
        }
        if req.method == Method::Ack {
            let data = message::serialize_request(&req);
            self.transmit(to, data);
            return ClientTxId(id);
        }
        if message::top_branch(&req).is_none_or(|b| !b.starts_with(BRANCH_MAGIC)) {
            add_branch(&mut req);
        }
        let Some(k) = key::client_key(&req) else {
            tracing::warn!(method = %req.method, "request without Via/CSeq cannot be sent");
            self.stats.dropped_invalid += 1;
            self.stats.timeouts += 1;
            self.emit(TxEvent::Timeout { id: ClientTxId(id) });
            return ClientTxId(id);
        };
        let fp = self.keys.fp(&k);
        let t64 = self.cfg.t64();
        if req.method == Method::Cancel {
            // RFC 3261 §9.1: no final response 64*T1 after the CANCEL → destroy the INVITE tx.
            let ik = k.with_method(Method::Invite);
            let ifp = self.keys.fp(&ik);
            if let Some(&iid) = self.client_index.get(&ifp) {
                if let Some(itx) = self.clients.get_mut(&iid) {
                    if itx.check == self.keys.check(&ik) {
                        match itx.state {
                            ClientState::Proceeding => self.timers.arm(
                                &mut itx.slots,
                                TxRef::Client(iid),
                                Slot::Timeout,
                                now + t64,
                            ),
                            // Cancelled while Calling (the TU should have waited for a 1xx):
                            // Timer B runs on; a later 1xx arms the guard instead of stopping B.
                            ClientState::Trying => itx.cancelled_at = Some(now),
                            _ => {}
                        }
                    }
                }
            }
        }
        if let Some(old) = self.client_index.insert(fp, id) {
            tracing::warn!(
                old,
                new = id,
                "client transaction key reused; old one unmatched"
            );
        }
        let check = self.keys.check(&k);
        let data = message::serialize_request(&req);
        let invite = req.method == Method::Invite;
        let mut tx = ClientTx {
            check,
            fp,
            invite,
            state: ClientState::Trying,
            peer: to,
            request: data.clone(),
            invite_req: invite.then(|| Box::new(req)),
            ack: None,
            interval: self.cfg.t1,
            slots: Slots::default(),
            cancelled_at: None,
        };
        let tref = TxRef::Client(id);
        if !to.transport.is_reliable() {
            // Timer A / E
            self.timers
                .arm(&mut tx.slots, tref, Slot::Retransmit, now + self.cfg.t1);
        }
        self.timers
            .arm(&mut tx.slots, tref, Slot::Timeout, now + t64); // B / F
        self.clients.insert(id, Box::new(tx));
        self.stats.client_created += 1;
        self.transmit(to, data);
        ClientTxId(id)
    }

    pub(super) fn on_response(&mut self, now: Instant, resp: Response, from: Peer) {
        let Some(k) = key::client_key(&resp) else {
            self.stats.dropped_invalid += 1;
            return;
        };
        let fp = self.keys.fp(&k);
        let found = self.client_index.get(&fp).copied().filter(|id| {
            let check = self.keys.check(&k);
            self.clients.get(id).is_some_and(|tx| tx.check == check)
        });
        let Some(id) = found else {
            self.stats.stray_responses += 1;
            self.emit(TxEvent::StrayResponse {
                response: resp,
                from,
            });
            return;
        };
        let class = resp.status_code.code() / 100;
        if !(1..=6).contains(&class) {
            self.stats.dropped_invalid += 1;
            return;
        }
        let (t64, t4, timer_d) = (self.cfg.t64(), self.cfg.t4, self.cfg.timer_d());
        let Some(tx) = self.clients.get_mut(&id) else {
            // The index pointed at a transaction that is gone: a layer bug, counted.
            self.stats.dropped_invalid += 1;
            return;
        };
        let reliable = tx.peer.transport.is_reliable();
        let tref = TxRef::Client(id);
        let pass_up = match (tx.invite, tx.state, class) {
            (_, ClientState::Trying | ClientState::Proceeding, 1) => {
                if tx.invite {
                    tx.slots.clear(Slot::Retransmit); // A stops
                    if tx.state == ClientState::Trying {
                        // B only runs while Calling; after a CANCEL the 64*T1 guard replaces it.
                        match tx.cancelled_at {
                            Some(at) => {
                                self.timers
                                    .arm(&mut tx.slots, tref, Slot::Timeout, at + t64)
                            }
                            None => tx.slots.clear(Slot::Timeout),
                        }
                    }
                }
                tx.state = ClientState::Proceeding;
                true
            }
            (true, ClientState::Trying | ClientState::Proceeding, 2) => {
                tx.state = ClientState::Accepted;
                tx.invite_req = None;
                // Only retransmissions needed the request; Timer M keeps just the key.
                tx.request = Bytes::new();
                tx.slots.clear(Slot::Retransmit);
                tx.slots.clear(Slot::Timeout);
                self.timers
                    .arm(&mut tx.slots, tref, Slot::Linger, now + t64); // M
                true
            }
            (true, ClientState::Trying | ClientState::Proceeding, _) => {
                let ack = tx
                    .invite_req
                    .take()
                    .map(|inv| message::serialize_request(&message::make_non2xx_ack(&inv, &resp)));
                tx.state = ClientState::Completed;
                tx.request = Bytes::new();
                tx.slots.clear(Slot::Retransmit);
                tx.slots.clear(Slot::Timeout);
                if let Some(ack) = &ack {
                    self.out.push_back(Output::Transmit {
                        to: tx.peer,
                        data: ack.clone(),
                    });
                }
                tx.ack = ack;
                self.linger_client(id, if reliable { Duration::ZERO } else { timer_d }, now);
                true
            }
            (false, ClientState::Trying | ClientState::Proceeding, _) => {
                tx.state = ClientState::Completed;
                tx.request = Bytes::new();
                tx.slots.clear(Slot::Retransmit);
                tx.slots.clear(Slot::Timeout);
                self.linger_client(id, if reliable { Duration::ZERO } else { t4 }, now); // K
                true
            }
            (true, ClientState::Completed, 3..) => {
                self.stats.retransmissions_received += 1;
                if let Some(ack) = tx.ack.clone() {
                    self.stats.retransmissions += 1;
                    let to = tx.peer;
                    self.transmit(to, ack);
                }
                false
            }
            (true, ClientState::Accepted, 2) => true,
            _ => {
                self.stats.retransmissions_received += 1;
                false
            }
        };
        if pass_up {
            self.emit(TxEvent::Response {
                id: ClientTxId(id),
                response: resp,
            });
        }
    }

    /// Arm the Linger slot (Timers D, K, M), or terminate at once for a zero duration.
    fn linger_client(&mut self, id: u64, d: Duration, now: Instant) {
        if d.is_zero() {
            self.remove_client(id);
            return;
        }
        if let Some(tx) = self.clients.get_mut(&id) {
            self.timers
                .arm(&mut tx.slots, TxRef::Client(id), Slot::Linger, now + d);
        }
    }

    /// A timer of client transaction `id` popped at `at`.
    pub(super) fn client_timer(&mut self, now: Instant, id: u64, slot: Slot, at: Tick) {
        let Some(tx) = self.clients.get_mut(&id) else {
            return;
        };
        if !tx.slots.take_if(slot, at) {
            return;
        }
        let waiting = matches!(tx.state, ClientState::Trying | ClientState::Proceeding);
        match slot {
            Slot::Retransmit if waiting => {
                tx.interval = if tx.invite {
                    tx.interval * 2 // Timer A: no cap
                } else if tx.state == ClientState::Proceeding {
                    self.cfg.t2
                } else {
                    (tx.interval * 2).min(self.cfg.t2)
                };
                self.timers.arm(
                    &mut tx.slots,
                    TxRef::Client(id),
                    Slot::Retransmit,
                    now + tx.interval,
                );
                self.stats.retransmissions += 1;
                let (to, data) = (tx.peer, tx.request.clone());
                self.transmit(to, data);
            }
            Slot::Timeout if waiting => {
                self.remove_client(id);
                self.stats.timeouts += 1;
                self.emit(TxEvent::Timeout { id: ClientTxId(id) });
            }
            Slot::Retransmit => {}
            Slot::Timeout | Slot::Linger => self.remove_client(id),
        }
    }

    pub(super) fn client_transport_failed(&mut self, peer: Peer) {
        let failed: Vec<u64> = self
            .clients
            .iter()
            .filter(|(_, tx)| {
                tx.peer == peer && matches!(tx.state, ClientState::Trying | ClientState::Proceeding)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in failed {
            self.remove_client(id);
            self.stats.timeouts += 1;
            self.emit(TxEvent::Timeout { id: ClientTxId(id) });
        }
    }

    fn remove_client(&mut self, id: u64) {
        let Some(tx) = self.clients.remove(&id) else {
            return;
        };
        if self.client_index.get(&tx.fp) == Some(&id) {
            self.client_index.remove(&tx.fp);
        }
    }
}

/// Give the top Via a fresh branch (the TU forgot one).
fn add_branch(req: &mut Request) {
    let Some(via) = req.headers.iter_mut().find_map(|h| match h {
        Header::Via(v) => Some(v),
        _ => None,
    }) else {
        return;
    };
    let value = via.value();
    let (first, rest) = match value.find(',') {
        Some(i) => value.split_at(i),
        None => (value, ""),
    };
    let first = strip_param(first.trim_end(), "branch");
    let new = format!("{first};branch={}{rest}", message::new_branch());
    *via = headers::Via::new(new);
}

/// `value` without its `;name=...` parameter.
fn strip_param(value: &str, name: &str) -> String {
    let mut parts = value.split(';');
    let mut out = String::from(parts.next().unwrap_or(""));
    for p in parts {
        let k = p.split('=').next().unwrap_or("").trim();
        if !k.eq_ignore_ascii_case(name) {
            out.push(';');
            out.push_str(p);
        }
    }
    out
}
