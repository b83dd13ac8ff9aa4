//! RTP port allocation from the configured range.
//!
//! Ports are handed out in even/odd pairs (RTP on the even port, RTCP on the next odd one),
//! round-robin so a just-released port is not reused at once (late packets of an old call would
//! otherwise land in a new one).

use std::collections::VecDeque;
use std::ops::RangeInclusive;
use std::sync::Mutex;

/// Hands out even RTP ports (the odd port above each is its RTCP port).
#[derive(Debug)]
pub struct PortAllocator {
    free: Mutex<VecDeque<u16>>,
    total: usize,
}

impl PortAllocator {
    /// An allocator over the even ports of `range` whose RTCP port (+1) is also in range.
    pub fn new(range: RangeInclusive<u16>) -> Self {
        let start = range.start() + (range.start() % 2);
        let free: VecDeque<u16> = (start..*range.end())
            .step_by(2)
            .filter(|p| p.checked_add(1).is_some_and(|r| r <= *range.end()))
            .collect();
        let total = free.len();
        PortAllocator {
            free: Mutex::new(free),
            total,
        }
    }

    /// Take the next free even port, if any.
    pub fn take(&self) -> Option<u16> {
        self.free.lock().expect("port allocator lock").pop_front()
    }

    /// Give a port back; it goes to the back of the queue.
    pub fn give_back(&self, port: u16) {
        self.free
            .lock()
            .expect("port allocator lock")
            .push_back(port);
    }

    /// How many port pairs are free now.
    pub fn available(&self) -> usize {
        self.free.lock().expect("port allocator lock").len()
    }

    /// How many port pairs the range holds.
    pub fn capacity(&self) -> usize {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_even_and_inside_range() {
        let a = PortAllocator::new(20001..=20010);
        assert_eq!(a.capacity(), 4); // 20002, 20004, 20006, 20008 (20010's RTCP would be 20011)
        let mut got = vec![];
        while let Some(p) = a.take() {
            got.push(p);
        }
        assert_eq!(got, vec![20002, 20004, 20006, 20008]);
    }

    #[test]
    fn released_ports_go_to_the_back() {
        let a = PortAllocator::new(30000..=30005);
        let p = a.take().unwrap();
        a.give_back(p);
        assert_eq!(a.take(), Some(30002));
        assert_eq!(a.take(), Some(30004));
        assert_eq!(a.take(), Some(30000), "the released port comes last");
        assert_eq!(a.available(), 0);
    }
}
