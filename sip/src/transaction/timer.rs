//! Timer bookkeeping: a binary heap of `(deadline, transaction, slot)` with lazy invalidation.
//!
//! Every transaction owns three [`Slot`]s, each holding the deadline it is armed for (or
//! nothing). Re-arming or disarming only touches the slot; the stale heap entry is discarded
//! when it surfaces, because it no longer equals the slot's deadline (or the transaction is
//! gone). The layer prunes stale entries off the top after every mutating call so that
//! `poll_timeout(&self)` can simply peek.
//!
//! Entries are 16 bytes: a [`Tick`] (nanoseconds after the first instant the layer saw) and
//! the transaction id packed with its kind and slot. Most transactions disarm their long
//! timers early (B, F, H and L end with the response or the ACK), so at a high call rate the
//! heap holds mostly stale entries; it is rebuilt whenever it has doubled since the last
//! rebuild, which keeps it within twice the live entries at an amortized O(1) per push.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

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

const SLOTS: [Slot; 3] = [Slot::Retransmit, Slot::Timeout, Slot::Linger];

/// A deadline in the layer's own time: one plus the nanoseconds since the first instant the
/// layer was given (zero is "not armed" in [`Slots`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Tick(u64);

/// The deadlines a transaction currently has armed (0 = none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Slots([u64; 3]);

impl Slots {
    /// True if `slot` is armed for exactly `at`.
    pub(crate) fn is(&self, slot: Slot, at: Tick) -> bool {
        self.0[slot as usize] == at.0
    }

    pub(crate) fn clear(&mut self, slot: Slot) {
        self.0[slot as usize] = 0;
    }

    /// True (and disarms the slot) if `at` is what the slot is armed for: the heap entry is live.
    pub(crate) fn take_if(&mut self, slot: Slot, at: Tick) -> bool {
        if self.is(slot, at) {
            self.clear(slot);
            true
        } else {
            false
        }
    }

    fn set(&mut self, slot: Slot, at: Tick) {
        self.0[slot as usize] = at.0;
    }
}

/// `(deadline, id << 3 | client << 2 | slot)`.
type Entry = Reverse<(u64, u64)>;

fn pack(tx: TxRef, slot: Slot) -> u64 {
    let (id, client) = match tx {
        TxRef::Server(id) => (id, 0),
        TxRef::Client(id) => (id, 1),
    };
    (id << 3) | (client << 2) | slot as u64
}

fn unpack(v: u64) -> (TxRef, Slot) {
    let id = v >> 3;
    let tx = if v & 4 == 0 {
        TxRef::Server(id)
    } else {
        TxRef::Client(id)
    };
    (tx, SLOTS[(v & 3) as usize % 3])
}

/// Smallest heap worth rebuilding.
const MIN_COMPACT: usize = 1024;

/// The heap of pending deadlines.
pub(crate) struct Timers {
    /// The first instant the layer was given; ticks count from it.
    base: Option<Instant>,
    heap: BinaryHeap<Entry>,
    /// Rebuild once the heap is longer than this.
    compact_at: usize,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            base: None,
            heap: BinaryHeap::new(),
            compact_at: MIN_COMPACT,
        }
    }
}

impl Timers {
    /// Note the current time; the first call fixes the origin of ticks. Every deadline armed
    /// later is at or after it, as the layer's clock never runs backwards.
    pub(crate) fn observe(&mut self, now: Instant) {
        self.base.get_or_insert(now);
    }

    fn tick(&mut self, at: Instant) -> Tick {
        let base = *self.base.get_or_insert(at);
        let ns = at.saturating_duration_since(base).as_nanos();
        Tick(u64::try_from(ns).unwrap_or(u64::MAX - 1) + 1)
    }

    fn instant(&self, t: Tick) -> Option<Instant> {
        self.base.map(|b| b + Duration::from_nanos(t.0 - 1))
    }

    /// Arm `slot` of `tx` (whose slots are `slots`) for `at`, replacing any previous deadline.
    pub(crate) fn arm(&mut self, slots: &mut Slots, tx: TxRef, slot: Slot, at: Instant) {
        let t = self.tick(at);
        slots.set(slot, t);
        self.heap.push(Reverse((t.0, pack(tx, slot))));
    }

    /// The earliest entry's deadline, live or not.
    pub(crate) fn peek(&self) -> Option<Instant> {
        self.heap
            .peek()
            .and_then(|Reverse((t, _))| self.instant(Tick(*t)))
    }

    /// Remove the earliest entry if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Tick, TxRef, Slot)> {
        let now = self.tick(now);
        match self.heap.peek() {
            Some(Reverse((t, _))) if *t <= now.0 => self.heap.pop().map(|Reverse((t, v))| {
                let (tx, slot) = unpack(v);
                (Tick(t), tx, slot)
            }),
            _ => None,
        }
    }

    /// Drop stale entries from the top until the top is live (per `is_live`).
    pub(crate) fn prune_top(&mut self, is_live: impl Fn(Tick, TxRef, Slot) -> bool) {
        while let Some(Reverse((t, v))) = self.heap.peek() {
            let (tx, slot) = unpack(*v);
            if is_live(Tick(*t), tx, slot) {
                break;
            }
            self.heap.pop();
        }
    }

    /// Rebuild without stale entries once the heap has doubled since the last rebuild, and
    /// give memory back when a burst has passed.
    pub(crate) fn compact_if_bloated(&mut self, is_live: impl Fn(Tick, TxRef, Slot) -> bool) {
        if self.heap.len() <= self.compact_at {
            return;
        }
        self.heap.retain(|Reverse((t, v))| {
            let (tx, slot) = unpack(*v);
            is_live(Tick(*t), tx, slot)
        });
        let len = self.heap.len();
        self.compact_at = (2 * len).max(MIN_COMPACT);
        if self.heap.capacity() > 4 * self.compact_at {
            self.heap.shrink_to(2 * self.compact_at);
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

    fn live(s: &Slots) -> impl Fn(Tick, TxRef, Slot) -> bool + '_ {
        move |at, _tx, slot| s.is(slot, at)
    }

    #[test]
    fn lazy_invalidation() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        timers.observe(t0);
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
        assert_eq!(timers.peek(), Some(t0 + Duration::from_secs(1)));

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
        timers.observe(t0);
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
        assert_eq!(
            timers.pop_due(t0 + Duration::from_secs(1)).unwrap().1,
            TxRef::Client(9)
        );
        b.clear(Slot::Timeout);
        timers.compact_if_bloated(|at, _, slot| a.is(slot, at));
        assert_eq!(timers.len(), 1, "small heaps are left alone");
    }

    #[test]
    fn entries_pack_id_kind_and_slot() {
        for tx in [TxRef::Server(0), TxRef::Client(7), TxRef::Server(1 << 60)] {
            for slot in SLOTS {
                assert_eq!(unpack(pack(tx, slot)), (tx, slot));
            }
        }
        assert_eq!(std::mem::size_of::<Entry>(), 16);
    }

    #[test]
    fn a_heap_of_mostly_stale_entries_stays_within_twice_the_live_ones() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        timers.observe(t0);
        // 100,000 transactions each arm a long timer and disarm it at once (as B, F, H, L
        // end with the response); one in ten keeps a live linger timer.
        let mut slots = vec![Slots::default(); 100_000];
        let mut peak = 0;
        for i in 0..slots.len() {
            let tx = TxRef::Server(i as u64);
            timers.arm(
                &mut slots[i],
                tx,
                Slot::Timeout,
                t0 + Duration::from_secs(32),
            );
            slots[i].clear(Slot::Timeout);
            if i % 10 == 0 {
                timers.arm(
                    &mut slots[i],
                    tx,
                    Slot::Linger,
                    t0 + Duration::from_secs(32),
                );
            }
            let s = &slots;
            timers.compact_if_bloated(|at, tx, slot| match tx {
                TxRef::Server(id) => s[id as usize].is(slot, at),
                TxRef::Client(_) => false,
            });
            peak = peak.max(timers.len());
        }
        let live = slots.len() / 10;
        assert!(peak <= 2 * live + 2, "peak {peak} for {live} live entries");
        // Nothing live was lost: all 10,000 linger timers still pop, in order.
        let mut popped = 0;
        while let Some((at, TxRef::Server(id), slot)) = timers.pop_due(t0 + Duration::from_secs(40))
        {
            if slots[id as usize].take_if(slot, at) {
                popped += 1;
            }
        }
        assert_eq!(popped, live);
    }
}
