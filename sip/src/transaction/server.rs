//! Server transactions (RFC 3261 §17.2, RFC 6026 §7.1): INVITE and non-INVITE, plus the
//! layer's own handling of CANCEL and of ACKs.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rsip::{Method, Request, Response, StatusCode};

use super::key::{self, KeyRef};
use super::timer::{Slot, Slots, Tick, TxRef};
use super::{Output, Peer, ServerTxId, TransactionLayer, TxEvent};
use crate::message;

/// States of a server transaction (Terminated = removed from the layer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ServerState {
    /// non-INVITE: nothing sent yet.
    Trying,
    /// INVITE: 100 or later 1xx sent; non-INVITE: a 1xx sent.
    Proceeding,
    /// Final response sent (non-2xx for INVITE); absorbing retransmissions.
    Completed,
    /// INVITE: 2xx sent, retransmitting it until the ACK (RFC 6026).
    Accepted,
    /// INVITE: ACK for the non-2xx received.
    Confirmed,
}

/// One server transaction.
pub(super) struct ServerTx {
    /// Second fingerprint of the key, to confirm index hits (see [`key::Fingerprinter`]).
    check: u64,
    fp: u64,
    invite: bool,
    state: ServerState,
    peer: Peer,
    /// Last response sent, resent on retransmissions and by Timer G.
    last: Option<Bytes>,
    /// To tag of the responses sent (to confirm ACKs for 2xx, and for our 200 to a CANCEL).
    to_tag: Option<Box<str>>,
    /// Current retransmission interval (G / 2xx).
    interval: Duration,
    pub(super) slots: Slots,
    /// INVITE: fingerprint and check of (Call-ID, CSeq number), to match the ACK for a 2xx.
    dialog: Option<(u64, u64)>,
    /// Fingerprint registered in `accepted_index`, if in Accepted.
    accepted_fp: Option<u64>,
    /// Accepted: the ACK arrived.
    acked: bool,
}

impl TransactionLayer {
    /// An incoming request: retransmission, ACK, CANCEL or a new transaction.
    pub(super) fn on_request(&mut self, now: Instant, req: Request, from: Peer) {
        let Some(k) = key::server_key(&req) else {
            self.stats.dropped_invalid += 1;
            return;
        };
        let fp = self.keys.fp(&k);
        let found = self.find_server(fp, k);
        if req.method == Method::Ack {
            return self.on_ack(now, req, from, found);
        }
        if let Some(id) = found {
            return self.on_request_retransmission(id);
        }
        if self.server_index.contains_key(&fp) {
            // A different key with the same 64-bit fingerprint: astronomically unlikely.
            self.stats.dropped_invalid += 1;
            return;
        }
        let owned = self.keys.check(&k);
        if req.method == Method::Cancel {
            let ik = k.with_method(Method::Invite);
            let invite = self.find_server(self.keys.fp(&ik), ik);
            self.on_cancel(now, req, from, owned, fp, invite);
        } else {
            let id = self.new_server(req.method == Method::Invite, &req, from, owned, fp);
            if req.method == Method::Invite {
                let trying = message::make_response(&req, StatusCode::Trying, None);
                let data = message::serialize_response(&trying);
                if let Some(tx) = self.servers.get_mut(&id) {
                    tx.last = Some(data.clone());
                }
                self.transmit(from, data);
            }
            self.emit(TxEvent::Request {
                id: ServerTxId(id),
                request: req,
                from,
            });
        }
    }

    fn find_server(&self, fp: u64, k: KeyRef<'_>) -> Option<u64> {
        let id = *self.server_index.get(&fp)?;
        let tx = self.servers.get(&id)?;
        (tx.check == self.keys.check(&k)).then_some(id)
    }

    fn new_server(&mut self, invite: bool, req: &Request, from: Peer, check: u64, fp: u64) -> u64 {
        let id = self.alloc_id();
        let dialog = if invite {
            message::call_id(req)
                .zip(message::cseq(req))
                .map(|(c, (n, _))| {
                    let dk = key::dialog_key(c, n);
                    (self.keys.fp(&dk), self.keys.check(&dk))
                })
        } else {
            None
        };
        let tx = ServerTx {
            check,
            fp,
            invite,
            state: if invite {
                ServerState::Proceeding
            } else {
                ServerState::Trying
            },
            peer: from,
            last: None,
            to_tag: None,
            interval: self.cfg.t1,
            slots: Slots::default(),
            dialog,
            accepted_fp: None,
            acked: false,
        };
        self.servers.insert(id, Box::new(tx));
        self.server_index.insert(fp, id);
        self.stats.server_created += 1;
        id
    }

    fn on_request_retransmission(&mut self, id: u64) {
        self.stats.retransmissions_received += 1;
        let Some(tx) = self.servers.get(&id) else {
            return;
        };
        let resend = match tx.state {
            ServerState::Proceeding | ServerState::Completed => tx.last.clone(),
            ServerState::Accepted if !tx.acked => tx.last.clone(),
            _ => None,
        };
        if let Some(data) = resend {
            self.stats.retransmissions += 1;
            let to = tx.peer;
            self.transmit(to, data);
        }
    }

    fn on_ack(&mut self, now: Instant, ack: Request, from: Peer, found: Option<u64>) {
        if let Some(id) = found {
            let t4 = self.cfg.t4;
            let Some(tx) = self.servers.get_mut(&id) else {
                // Found a moment ago; gone means a layer bug: counted, never a panic.
                self.stats.dropped_unmatched_acks += 1;
                return;
            };
            let reliable = tx.peer.transport.is_reliable();
            match tx.state {
                ServerState::Completed => {
                    self.stats.acks_absorbed += 1;
                    tx.state = ServerState::Confirmed;
                    tx.last = None;
                    tx.slots.clear(Slot::Retransmit);
                    tx.slots.clear(Slot::Timeout);
                    // Timer I
                    self.linger_server(id, if reliable { Duration::ZERO } else { t4 }, now);
                }
                ServerState::Confirmed => self.stats.acks_absorbed += 1,
                ServerState::Accepted => self.ack_for_2xx(now, id, ack, from),
                _ => self.stats.dropped_unmatched_acks += 1,
            }
            return;
        }
        let Some(call_id) = message::call_id(&ack) else {
            self.stats.dropped_unmatched_acks += 1;
            return;
        };
        let Some((cseq, _)) = message::cseq(&ack) else {
            self.stats.dropped_unmatched_acks += 1;
            return;
        };
        let dk = key::dialog_key(call_id, cseq);
        let dcheck = self.keys.check(&dk);
        let matched = self
            .accepted_index
            .get(&self.keys.fp(&dk))
            .copied()
            .filter(|id| {
                self.servers.get(id).is_some_and(|tx| {
                    tx.state == ServerState::Accepted
                        && tx.dialog.is_some_and(|(_, c)| c == dcheck)
                        && match (tx.to_tag.as_deref(), message::to_tag(&ack)) {
                            (Some(ours), Some(theirs)) => ours == theirs,
                            _ => true,
                        }
                })
            });
        match matched {
            Some(id) => self.ack_for_2xx(now, id, ack, from),
            None => self.stats.dropped_unmatched_acks += 1,
        }
    }

    /// ACK for the 2xx of an Accepted INVITE transaction: stop retransmitting, emit it once.
    ///
    /// Once the ACK is in, the client has its final response and retransmits neither the
    /// INVITE nor (unless ours was lost, which it was not) anything else: what can still
    /// arrive are copies already in the network, which live at most T4. So instead of the
    /// rest of Timer L (up to 32 s) the transaction lingers like a Confirmed one (Timer I:
    /// T4 on unreliable transports, none on reliable ones) to absorb them; at 2,000 calls/s
    /// that is a third of all live transactions gone.
    fn ack_for_2xx(&mut self, now: Instant, id: u64, ack: Request, from: Peer) {
        let Some(tx) = self.servers.get_mut(&id) else {
            return;
        };
        if tx.acked {
            self.stats.acks_absorbed += 1;
            return;
        }
        tx.acked = true;
        tx.last = None;
        tx.slots.clear(Slot::Retransmit);
        tx.slots.clear(Slot::Timeout);
        let linger = if tx.peer.transport.is_reliable() {
            Duration::ZERO
        } else {
            self.cfg.t4
        };
        self.emit(TxEvent::Ack { request: ack, from });
        self.linger_server(id, linger, now);
    }

    fn on_cancel(
        &mut self,
        now: Instant,
        cancel: Request,
        from: Peer,
        check: u64,
        fp: u64,
        invite: Option<u64>,
    ) {
        let id = self.new_server(false, &cancel, from, check, fp);
        let invite = invite.and_then(|i| self.servers.get(&i).map(|tx| (i, tx)));
        let (code, tag, proceeding) = match invite {
            Some((_, tx)) => (
                StatusCode::OK,
                tx.to_tag.as_deref().map(str::to_owned),
                tx.state == ServerState::Proceeding,
            ),
            None => (StatusCode::CallTransactionDoesNotExist, None, false),
        };
        if invite.is_none() {
            self.stats.unmatched_cancels += 1;
        }
        let invite_id = invite.map(|(i, _)| i);
        let tag = tag.unwrap_or_else(message::new_tag);
        let resp = message::make_response(&cancel, code, Some(&tag));
        self.server_respond(now, ServerTxId(id), resp);
        if let (Some(i), true) = (invite_id, proceeding) {
            self.emit(TxEvent::Cancelled {
                id: ServerTxId(i),
                cancel,
            });
        }
    }

    /// The TU's response on a server transaction.
    pub(super) fn server_respond(
        &mut self,
        now: Instant,
        id: ServerTxId,
        mut resp: Response,
    ) -> bool {
        let code = resp.status_code.code();
        let Some(tx) = self.servers.get_mut(&id.0) else {
            tracing::debug!(%id, code, "response for a gone server transaction");
            return false;
        };
        let class = code / 100;
        let allowed = (1..=6).contains(&class)
            && match tx.state {
                ServerState::Trying | ServerState::Proceeding => true,
                ServerState::Accepted => class == 2,
                _ => false,
            };
        if !allowed {
            tracing::debug!(%id, code, state = ?tx.state, "response not allowed in this state");
            return false;
        }
        if class > 1 || tx.to_tag.is_none() {
            if let Some(tag) = message::to_tag(&resp) {
                tx.to_tag = Some(tag.into());
            }
        }
        let peer = tx.peer;
        if let Some(d) = &self.cfg.dual_stack {
            d.localize_response(&mut resp, peer.addr.ip());
        }
        let data = message::serialize_response(&resp);
        tx.last = Some(data.clone());
        self.out.push_back(Output::Transmit { to: peer, data });

        let (t1, t64) = (self.cfg.t1, self.cfg.t64());
        let reliable = peer.transport.is_reliable();
        let tref = TxRef::Server(id.0);
        match (class, tx.invite) {
            (1, _) => tx.state = ServerState::Proceeding,
            (2, true) if tx.state == ServerState::Accepted => {}
            (2, true) => {
                tx.state = ServerState::Accepted;
                tx.interval = t1;
                if !reliable {
                    self.timers
                        .arm(&mut tx.slots, tref, Slot::Retransmit, now + t1);
                }
                self.timers
                    .arm(&mut tx.slots, tref, Slot::Timeout, now + t64); // Timer L
                if let Some((fp, _)) = tx.dialog {
                    tx.accepted_fp = Some(fp);
                    self.accepted_index.insert(fp, id.0);
                }
            }
            (_, true) => {
                tx.state = ServerState::Completed;
                tx.interval = t1;
                if !reliable {
                    self.timers
                        .arm(&mut tx.slots, tref, Slot::Retransmit, now + t1); // G
                }
                self.timers
                    .arm(&mut tx.slots, tref, Slot::Timeout, now + t64); // H
            }
            (_, false) => {
                tx.state = ServerState::Completed;
                // Timer J
                self.linger_server(id.0, if reliable { Duration::ZERO } else { t64 }, now);
            }
        }
        true
    }

    /// Arm the Linger slot (Timers I, J), or terminate at once for a zero duration.
    fn linger_server(&mut self, id: u64, d: Duration, now: Instant) {
        if d.is_zero() {
            self.remove_server(id);
            return;
        }
        let Some(tx) = self.servers.get_mut(&id) else {
            return;
        };
        self.timers
            .arm(&mut tx.slots, TxRef::Server(id), Slot::Linger, now + d);
    }

    /// A timer of server transaction `id` popped at `at`.
    pub(super) fn server_timer(&mut self, now: Instant, id: u64, slot: Slot, at: Tick) {
        let Some(tx) = self.servers.get_mut(&id) else {
            return;
        };
        if !tx.slots.take_if(slot, at) {
            return;
        }
        match slot {
            Slot::Retransmit => {
                let live = match tx.state {
                    ServerState::Completed => true,
                    ServerState::Accepted => !tx.acked,
                    _ => false,
                };
                if let (true, Some(data)) = (live, tx.last.clone()) {
                    tx.interval = (tx.interval * 2).min(self.cfg.t2);
                    let next = now + tx.interval;
                    self.timers
                        .arm(&mut tx.slots, TxRef::Server(id), Slot::Retransmit, next);
                    self.stats.retransmissions += 1;
                    let to = tx.peer;
                    self.transmit(to, data);
                }
            }
            Slot::Timeout => {
                let failed = match tx.state {
                    ServerState::Completed => true,
                    ServerState::Accepted => !tx.acked,
                    _ => false,
                };
                self.remove_server(id);
                if failed {
                    self.stats.ack_timeouts += 1;
                    self.emit(TxEvent::AckTimeout { id: ServerTxId(id) });
                }
            }
            Slot::Linger => self.remove_server(id),
        }
    }

    fn remove_server(&mut self, id: u64) {
        let Some(tx) = self.servers.remove(&id) else {
            return;
        };
        if self.server_index.get(&tx.fp) == Some(&id) {
            self.server_index.remove(&tx.fp);
        }
        if let Some(fp) = tx.accepted_fp {
            if self.accepted_index.get(&fp) == Some(&id) {
                self.accepted_index.remove(&fp);
            }
        }
    }
}
