//! Which WebRTC session a datagram on the shared edge socket belongs to (ICE mux).
//!
//! All browsers send to one UDP port. A session is found first by the STUN binding request the
//! browser sends (RFC 8445 7.2.2: `USERNAME` is `<our ufrag>:<browser ufrag>`, and each session
//! has its own ufrag), which also teaches the demux the browser's address; every later
//! datagram (DTLS, SRTP, SRTCP, more STUN) from that address goes to the same session.
//! Sans-IO: no sockets here, only bytes and addresses.

use std::collections::HashMap;
use std::net::SocketAddr;

/// The STUN magic cookie (RFC 5389 6).
const MAGIC: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
/// STUN Binding request.
const BINDING_REQUEST: u16 = 0x0001;
/// STUN USERNAME attribute.
const USERNAME: u16 = 0x0006;

/// Whether `b` looks like a STUN message (RFC 7983 demultiplexing: first byte 0..=3, cookie).
pub fn is_stun(b: &[u8]) -> bool {
    b.len() >= 20 && b[0] < 4 && b[4..8] == MAGIC
}

/// The local (our) ufrag named by a STUN binding request, if `b` is one with a USERNAME.
pub fn binding_request_ufrag(b: &[u8]) -> Option<&str> {
    if !is_stun(b) || u16::from_be_bytes([b[0], b[1]]) != BINDING_REQUEST {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([b[2], b[3]]));
    let body = b.get(20..20 + len)?;
    let mut i = 0;
    while i + 4 <= body.len() {
        let t = u16::from_be_bytes([body[i], body[i + 1]]);
        let l = usize::from(u16::from_be_bytes([body[i + 2], body[i + 3]]));
        let v = body.get(i + 4..i + 4 + l)?;
        if t == USERNAME {
            let s = std::str::from_utf8(v).ok()?;
            return s.split(':').next().filter(|u| !u.is_empty());
        }
        i += 4 + l.div_ceil(4) * 4;
    }
    None
}

/// Routes datagrams of the shared socket to sessions (identified by `usize` slots).
#[derive(Debug, Default)]
pub struct Demux {
    by_ufrag: HashMap<String, usize>,
    by_addr: HashMap<SocketAddr, usize>,
}

impl Demux {
    /// A session with local ICE ufrag `ufrag` lives in `slot`.
    pub fn add(&mut self, ufrag: &str, slot: usize) {
        self.by_ufrag.insert(ufrag.to_owned(), slot);
    }

    /// Forget the session in `slot` and every address learnt for it.
    pub fn remove(&mut self, slot: usize) {
        self.by_ufrag.retain(|_, s| *s != slot);
        self.by_addr.retain(|_, s| *s != slot);
    }

    /// The session a datagram from `from` belongs to. A binding request naming a known ufrag
    /// (re)binds `from` to that session (the browser's candidate may change, e.g. on an ICE
    /// restart or a NAT rebinding); the session's ICE agent still checks its integrity.
    pub fn route(&mut self, b: &[u8], from: SocketAddr) -> Option<usize> {
        if let Some(slot) = binding_request_ufrag(b).and_then(|u| self.by_ufrag.get(u).copied()) {
            self.by_addr.insert(from, slot);
            return Some(slot);
        }
        self.by_addr.get(&from).copied()
    }

    /// Addresses currently bound to sessions.
    pub fn addresses(&self) -> usize {
        self.by_addr.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A binding request with USERNAME `user` (and a trailing attribute, to check padding).
    fn binding(user: &str) -> Vec<u8> {
        let mut attrs = Vec::new();
        // PRIORITY first, then USERNAME padded to 4 bytes.
        attrs.extend_from_slice(&[0x00, 0x24, 0x00, 0x04, 1, 2, 3, 4]);
        attrs.extend_from_slice(&USERNAME.to_be_bytes());
        attrs.extend_from_slice(&(user.len() as u16).to_be_bytes());
        attrs.extend_from_slice(user.as_bytes());
        while attrs.len() % 4 != 0 {
            attrs.push(0);
        }
        attrs.extend_from_slice(&[0x80, 0x28, 0x00, 0x04, 9, 9, 9, 9]);
        let mut m = vec![0x00, 0x01];
        m.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        m.extend_from_slice(&MAGIC);
        m.extend_from_slice(&[7; 12]);
        m.extend_from_slice(&attrs);
        m
    }

    #[test]
    fn finds_our_ufrag_in_a_binding_request() {
        assert_eq!(binding_request_ufrag(&binding("abc:xyz")), Some("abc"));
        assert_eq!(binding_request_ufrag(&binding("abcde:x")), Some("abcde"));
        assert_eq!(binding_request_ufrag(&binding(":x")), None);
        // A response (0x0101) is not a request; DTLS and RTP are not STUN.
        let mut resp = binding("abc:xyz");
        resp[1] = 0x01;
        resp[0] = 0x01;
        assert_eq!(binding_request_ufrag(&resp), None);
        assert!(!is_stun(&[
            22, 254, 253, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
        ]));
        assert!(!is_stun(&[0x80; 40]));
        // Truncated lengths never read out of bounds.
        let mut bad = binding("abc:xyz");
        bad[3] = 0xff;
        assert_eq!(binding_request_ufrag(&bad), None);
    }

    #[test]
    fn routes_by_ufrag_then_by_learnt_address() {
        let mut d = Demux::default();
        d.add("aaaa", 1);
        d.add("bbbb", 2);
        let p1: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let p2: SocketAddr = "127.0.0.1:5001".parse().unwrap();
        let dtls = [22u8, 254, 253, 0, 0];
        assert_eq!(d.route(&dtls, p1), None, "unknown address before STUN");
        assert_eq!(d.route(&binding("aaaa:q"), p1), Some(1));
        assert_eq!(d.route(&binding("bbbb:q"), p2), Some(2));
        assert_eq!(d.route(&dtls, p1), Some(1));
        assert_eq!(d.route(&dtls, p2), Some(2));
        assert_eq!(
            d.route(&binding("zzzz:q"), p1),
            Some(1),
            "unknown ufrag: by address"
        );
        d.remove(1);
        assert_eq!(d.route(&dtls, p1), None);
        assert_eq!(d.route(&binding("aaaa:q"), p1), None);
        assert_eq!(d.addresses(), 1);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = binding_request_ufrag(&b);
            let mut d = Demux::default();
            d.add("x", 0);
            let _ = d.route(&b, "127.0.0.1:1".parse().unwrap());
        }
    }
}
