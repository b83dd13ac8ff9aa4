//! Symmetric-RTP latching (sans-IO).
//!
//! A leg's remote address starts as what its SDP announced. The first packet that arrives on the
//! leg's socket from any source latches the leg to that source (the NAT-mapped address of a phone
//! behind NAT); from then on packets from other sources are dropped and counted, and media to the
//! leg is sent to the latched address.

use std::net::SocketAddr;

/// Latching state of one leg.
#[derive(Debug, Default, Clone)]
pub struct Latch {
    announced: Option<SocketAddr>,
    latched: Option<SocketAddr>,
}

/// What to do with a packet received on a leg's socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The packet comes from the leg's peer: forward it.
    Accept,
    /// The packet comes from a stranger: drop it and count it.
    Drop,
}

impl Latch {
    /// Set (or change, on re-INVITE) the address the peer announced in its SDP. A change of
    /// announced address releases the latch so the peer can latch again from its new address.
    pub fn announce(&mut self, addr: SocketAddr) {
        if self.announced != Some(addr) {
            self.announced = Some(addr);
            self.latched = None;
        }
    }

    /// Only `addr` may send to this leg, from now on: the leg is latched to it at once, so a
    /// packet still on its way from a previous peer cannot take the latch (two relays joined
    /// back to back by an attended transfer).
    pub fn pin(&mut self, addr: SocketAddr) {
        self.announced = Some(addr);
        self.latched = Some(addr);
    }

    /// Classify a packet from `src` and latch on the first one.
    pub fn receive(&mut self, src: SocketAddr) -> Verdict {
        match self.latched {
            Some(l) if l == src => Verdict::Accept,
            Some(_) => Verdict::Drop,
            None => {
                self.latched = Some(src);
                Verdict::Accept
            }
        }
    }

    /// Where media for this leg goes: the latched source, else the announced address.
    pub fn destination(&self) -> Option<SocketAddr> {
        self.latched.or(self.announced)
    }

    /// The source the leg is latched to.
    pub fn latched(&self) -> Option<SocketAddr> {
        self.latched
    }

    /// Whether a packet from `src` would be accepted (it is the latched source, or nothing is
    /// latched yet).
    pub fn accepts(&self, src: SocketAddr) -> bool {
        self.latched.is_none_or(|l| l == src)
    }

    /// Whether a packet has latched this leg.
    pub fn is_latched(&self) -> bool {
        self.latched.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn sends_to_announced_until_latched_then_to_source() {
        let mut l = Latch::default();
        assert_eq!(l.destination(), None);
        l.announce(a("10.0.0.5:4000"));
        assert_eq!(l.destination(), Some(a("10.0.0.5:4000")));
        assert_eq!(l.receive(a("198.51.100.9:31000")), Verdict::Accept);
        assert_eq!(l.destination(), Some(a("198.51.100.9:31000")));
    }

    #[test]
    fn strangers_are_dropped_after_latching() {
        let mut l = Latch::default();
        l.announce(a("10.0.0.5:4000"));
        assert_eq!(l.receive(a("10.0.0.5:4000")), Verdict::Accept);
        assert_eq!(l.receive(a("203.0.113.66:5000")), Verdict::Drop);
        assert_eq!(l.receive(a("10.0.0.5:4000")), Verdict::Accept);
    }

    #[test]
    fn new_announcement_releases_latch() {
        let mut l = Latch::default();
        l.announce(a("10.0.0.5:4000"));
        l.receive(a("10.0.0.5:4000"));
        l.announce(a("10.0.0.5:4000"));
        assert!(l.is_latched(), "same address keeps the latch");
        l.announce(a("10.0.0.7:4002"));
        assert!(!l.is_latched());
        assert_eq!(l.receive(a("10.0.0.7:4002")), Verdict::Accept);
    }
}
