//! Timer bookkeeping: a binary heap of `(deadline, transaction, slot)` with lazy invalidation.
//!
//! Every transaction owns three [`Slot`]s, each holding the deadline it is armed for (or
//! nothing). Re-arming or disarming only touches the slot; the stale heap entry is discarded
//! when it surfaces, because it no longer equals the slot's deadline (or the transaction is
//! gone). The layer prunes stale entries off the top after every mutating call so that
//! `poll_timeout(&self)` can simply peek.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// Which transaction a timer belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum TxRef {
    Server(u64),
    Client(u64),
}

/// The three timer slots a transaction has; the RFC timer they stand for depends on the
/// transaction type and state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Slot {
    /// A, E, G, and the 2xx retransmission of the Accepted INVITE server.
    Retransmit = 0,
    /// B, F, H, L, and the "no final response 64*T1 after CANCEL" guard.
    Timeout = 1,
    /// D, I, J, K, M: linger to absorb retransmissions, then terminate.
    Linger = 2,
}

/// The deadlines a transaction currently has armed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Slots([Option<Instant>; 3]);

impl Slots {
    pub(crate) fn get(&self, slot: Slot) -> Option<Instant> {
        self.0[slot as usize]
    }

    pub(crate) fn clear(&mut self, slot: Slot) {
        self.0[slot as usize] = None;
    }

    /// True (and disarms the slot) if `at` is what the slot is armed for: the heap entry is live.
    pub(crate) fn take_if(&mut self, slot: Slot, at: Instant) -> bool {
        if self.0[slot as usize] == Some(at) {
            self.0[slot as usize] = None;
            true
        } else {
            false
        }
    }

    fn set(&mut self, slot: Slot, at: Instant) {
        self.0[slot as usize] = Some(at);
    }
}

type Entry = Reverse<(Instant, TxRef, Slot)>;

/// The heap of pending deadlines.
#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Entry>,
}

impl Timers {
    /// Arm `slot` of `tx` (whose slots are `slots`) for `at`, replacing any previous deadline.
    pub(crate) fn arm(&mut self, slots: &mut Slots, tx: TxRef, slot: Slot, at: Instant) {
        slots.set(slot, at);
        self.heap.push(Reverse((at, tx, slot)));
    }

    /// The earliest entry, live or not.
    pub(crate) fn peek(&self) -> Option<(Instant, TxRef, Slot)> {
        self.heap.peek().map(|Reverse(e)| *e)
    }

    /// Remove the earliest entry if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, TxRef, Slot)> {
        match self.heap.peek() {
            Some(Reverse((at, _, _))) if *at <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    /// Drop stale entries from the top until the top is live (per `is_live`).
    pub(crate) fn prune_top(&mut self, is_live: impl Fn(Instant, TxRef, Slot) -> bool) {
        while let Some(Reverse((at, tx, slot))) = self.heap.peek() {
            if is_live(*at, *tx, *slot) {
                break;
            }
            self.heap.pop();
        }
    }

    /// Rebuild without stale entries when the heap is much larger than `live_bound` (an upper
    /// bound of armed slots), keeping memory bounded when many timers are disarmed early.
    pub(crate) fn compact_if_bloated(
        &mut self,
        live_bound: usize,
        is_live: impl Fn(Instant, TxRef, Slot) -> bool,
    ) {
        if self.heap.len() > 1024 && self.heap.len() > 4 * live_bound {
            self.heap
                .retain(|Reverse((at, tx, slot))| is_live(*at, *tx, *slot));
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn live(s: &Slots) -> impl Fn(Instant, TxRef, Slot) -> bool + '_ {
        move |at, _tx, slot| s.get(slot) == Some(at)
    }

    #[test]
    fn lazy_invalidation() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        let mut slots = Slots::default();
        let tx = TxRef::Client(1);
        timers.arm(
            &mut slots,
            tx,
            Slot::Retransmit,
            t0 + Duration::from_millis(500),
        );
        timers.arm(&mut slots, tx, Slot::Timeout, t0 + Duration::from_secs(32));
        // re-arm: the 500 ms entry becomes stale
        timers.arm(
            &mut slots,
            tx,
            Slot::Retransmit,
            t0 + Duration::from_secs(1),
        );
        assert_eq!(timers.len(), 3);

        timers.prune_top(live(&slots));
        assert_eq!(timers.peek().unwrap().0, t0 + Duration::from_secs(1));

        assert!(timers.pop_due(t0).is_none());
        let (at, got_tx, slot) = timers.pop_due(t0 + Duration::from_secs(2)).unwrap();
        assert_eq!((got_tx, slot), (tx, Slot::Retransmit));
        assert!(slots.take_if(slot, at));
        assert!(!slots.take_if(slot, at));

        slots.clear(Slot::Timeout);
        timers.prune_top(live(&slots));
        assert!(timers.peek().is_none());
    }

    #[test]
    fn ordering_is_by_deadline() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        let mut a = Slots::default();
        let mut b = Slots::default();
        timers.arm(
            &mut a,
            TxRef::Server(1),
            Slot::Linger,
            t0 + Duration::from_secs(5),
        );
        timers.arm(
            &mut b,
            TxRef::Client(9),
            Slot::Timeout,
            t0 + Duration::from_secs(1),
        );
        assert_eq!(timers.peek().unwrap().1, TxRef::Client(9));
        b.clear(Slot::Timeout);
        timers.compact_if_bloated(0, |at, _, slot| a.get(slot) == Some(at));
        assert_eq!(timers.len(), 2, "small heaps are left alone");
    }
}
