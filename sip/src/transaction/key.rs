//! Transaction matching keys (RFC 3261 §17.1.3, §17.2.3) and the compact maps they index.
//!
//! A key is built from slices borrowed out of the message, hashed with a per-layer random
//! seed into a `u64` fingerprint, and the maps are keyed by that fingerprint. A hit is
//! confirmed against the owned copy of the key stored in the transaction, so lookups allocate
//! nothing and a (practically impossible) fingerprint collision cannot cross-match.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};

use rsip::message::HasHeaders;
use rsip::{Method, Request};

use crate::message::{self, BRANCH_MAGIC};

/// Hasher for keys that are already well mixed or small sequential ids: one multiply.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A `HashMap` keyed by ids or fingerprints.
pub(crate) type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// Method as a small integer (ACK is folded into INVITE by the server key builder).
pub(crate) fn method_code(m: Method) -> u8 {
    match m {
        Method::Ack => 1,
        Method::Bye => 2,
        Method::Cancel => 3,
        Method::Info => 4,
        Method::Invite => 5,
        Method::Message => 6,
        Method::Notify => 7,
        Method::Options => 8,
        Method::PRack => 9,
        Method::Publish => 10,
        Method::Refer => 11,
        Method::Register => 12,
        Method::Subscribe => 13,
        Method::Update => 14,
    }
}

/// Flag in [`KeyRef::m`] marking an RFC 2543 style (no magic cookie) server key.
const LEGACY: u8 = 0x40;
/// Flag in [`KeyRef::m`] marking the Call-ID + CSeq key used to match ACKs for 2xx.
const DIALOG: u8 = 0x80;

/// A transaction key borrowed from a message.
///
/// * server (RFC 3261): `a` = branch, `b` = sent-by, `m` = method (ACK → INVITE)
/// * server (RFC 2543): `a` = Call-ID, `b` = sent-by, `c` = From tag, `n` = CSeq, `m` |= LEGACY
/// * client: `a` = branch, `m` = CSeq method
/// * accepted INVITE (ACK for 2xx): `a` = Call-ID, `n` = CSeq, `m` = DIALOG
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct KeyRef<'a> {
    a: &'a str,
    b: &'a str,
    c: &'a str,
    n: u32,
    m: u8,
}

impl KeyRef<'_> {
    /// Same key with another method (CANCEL → INVITE lookups).
    pub(crate) fn with_method(self, m: Method) -> Self {
        let m = method_code(if m == Method::Ack { Method::Invite } else { m }) | (self.m & LEGACY);
        KeyRef { m, ..self }
    }
}

/// The server transaction key of a request (§17.2.3), ACK mapped to INVITE. `None` if the
/// request lacks a readable top Via or CSeq (parse() rejects those).
pub(crate) fn server_key(req: &Request) -> Option<KeyRef<'_>> {
    let via = message::top_via(req)?;
    let method = method_code(match req.method {
        Method::Ack => Method::Invite,
        m => m,
    });
    match via.branch {
        Some(branch) if branch.starts_with(BRANCH_MAGIC) => Some(KeyRef {
            a: branch,
            b: via.sent_by,
            c: "",
            n: 0,
            m: method,
        }),
        _ => Some(KeyRef {
            a: message::call_id(req)?,
            b: via.sent_by,
            c: message::from_tag(req).unwrap_or(""),
            n: message::cseq(req)?.0,
            m: method | LEGACY,
        }),
    }
}

/// The client transaction key of a response or of a request we send (§17.1.3).
pub(crate) fn client_key<M: HasHeaders + ?Sized>(msg: &M) -> Option<KeyRef<'_>> {
    let branch = message::top_branch(msg)?;
    let (_, method) = message::cseq(msg)?;
    Some(KeyRef {
        a: branch,
        b: "",
        c: "",
        n: 0,
        m: method_code(method),
    })
}

/// Key matching an ACK for a 2xx to the accepted INVITE server transaction.
pub(crate) fn dialog_key(call_id: &str, cseq: u32) -> KeyRef<'_> {
    KeyRef {
        a: call_id,
        b: "",
        c: "",
        n: cseq,
        m: DIALOG,
    }
}

/// Seeded fingerprinting of keys: the map key ([`Self::fp`]) and an independent check value
/// ([`Self::check`]) stored in the transaction instead of a copy of the key. Both are SipHash
/// under secret per-process keys, so together they are a 128-bit keyed fingerprint: two keys
/// that agree on both are, for any sender who cannot read our memory, the same key. (A
/// transaction used to keep its whole key, three allocations, for this.)
pub(crate) struct Fingerprinter(RandomState, RandomState);

impl Fingerprinter {
    pub(crate) fn new() -> Self {
        Fingerprinter(RandomState::new(), RandomState::new())
    }

    pub(crate) fn fp(&self, key: &KeyRef<'_>) -> u64 {
        self.0.hash_one(key)
    }

    pub(crate) fn check(&self, key: &KeyRef<'_>) -> u64 {
        self.1.hash_one(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::parse;

    fn req(text: &str) -> Request {
        match parse(text.as_bytes()).unwrap() {
            rsip::SipMessage::Request(r) => r,
            rsip::SipMessage::Response(_) => unreachable!(),
        }
    }

    fn msg(method: &str, via: &str, cseq: &str) -> Request {
        req(&format!(
            "{method} sip:b@h SIP/2.0\r\nVia: {via}\r\nFrom: <sip:a@h>;tag=f1\r\nTo: <sip:b@h>\r\n\
             Call-ID: c1\r\nCSeq: {cseq}\r\nContent-Length: 0\r\n\r\n"
        ))
    }

    #[test]
    fn ack_matches_invite_server_key() {
        let via = "SIP/2.0/UDP 1.2.3.4:5060;branch=z9hG4bKx";
        let inv = msg("INVITE", via, "1 INVITE");
        let ack = msg("ACK", via, "1 ACK");
        let bye = msg("BYE", via, "1 BYE");
        assert_eq!(server_key(&inv), server_key(&ack));
        assert_ne!(server_key(&inv), server_key(&bye));
        let cancel = msg("CANCEL", via, "1 CANCEL");
        assert_eq!(
            server_key(&cancel).unwrap().with_method(Method::Invite),
            server_key(&inv).unwrap()
        );
        let other_host = msg(
            "INVITE",
            "SIP/2.0/UDP 1.2.3.5:5060;branch=z9hG4bKx",
            "1 INVITE",
        );
        assert_ne!(server_key(&inv), server_key(&other_host));
    }

    #[test]
    fn legacy_key_without_magic_cookie() {
        let inv = msg("INVITE", "SIP/2.0/UDP 1.2.3.4;branch=abc", "7 INVITE");
        let ack = msg("ACK", "SIP/2.0/UDP 1.2.3.4;branch=abc", "7 ACK");
        let k = server_key(&inv).unwrap();
        assert_eq!(k.a, "c1");
        assert_eq!(k.n, 7);
        assert_eq!(Some(k), server_key(&ack));
        let cancel = msg("CANCEL", "SIP/2.0/UDP 1.2.3.4", "7 CANCEL");
        assert_eq!(server_key(&cancel).unwrap().with_method(Method::Invite), k);
    }

    #[test]
    fn fingerprint_and_check_are_independent() {
        let f = Fingerprinter::new();
        let inv = msg("INVITE", "SIP/2.0/UDP h;branch=z9hG4bKq", "1 INVITE");
        let k = client_key(&inv).unwrap();
        let again = client_key(&inv).unwrap();
        assert_eq!((f.fp(&k), f.check(&k)), (f.fp(&again), f.check(&again)));
        assert_ne!(f.fp(&k), f.check(&k), "two keys, not one hash twice");
        assert_ne!(f.fp(&dialog_key("c1", 1)), f.fp(&dialog_key("c1", 2)));
        assert_ne!(f.check(&dialog_key("c1", 1)), f.check(&dialog_key("c1", 2)));
        let mut map: IdMap<u8> = IdMap::default();
        map.insert(f.fp(&k), 1);
        assert_eq!(map.get(&f.fp(&k)), Some(&1));
    }
}
