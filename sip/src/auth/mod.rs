//! SIP digest authentication (RFC 3261 §22, RFC 7616 algorithms as profiled for
//! SIP by RFC 8760).
//!
//! Both sides of the exchange live here, sans-IO and clock-free:
//!
//! * **UAS / registrar side** — [`NonceManager`] issues stateless nonces
//!   (`timestamp || HMAC-SHA256(secret, timestamp)`, hex encoded) and classifies
//!   returned nonces as [`NonceCheck::Valid`], [`NonceCheck::Stale`] or
//!   [`NonceCheck::Invalid`]; [`challenge_headers`] builds the
//!   `WWW-Authenticate` / `Proxy-Authenticate` values (SHA-256 first, then MD5,
//!   per RFC 8760 preference order); [`parse_authorization`] turns an
//!   `Authorization` value into [`Credentials`] and [`verify`] checks the
//!   response in constant time against a stored HA1.
//! * **UAC side** (Ringside calling out through a carrier trunk) —
//!   [`client_authorization`] answers a 401/407 challenge.
//!
//! ```text
//!   UAC                                   Ringside (UAS)
//!    | INVITE ----------------------------> |
//!    | <---------- 407 Proxy-Authenticate:  |  challenge_headers(realm, nonces.issue(now), false)
//!    | INVITE + Proxy-Authorization ------> |  parse_authorization -> nonces.check -> verify
//! ```
//!
//! Only `qop=auth` (or the legacy RFC 2069 no-qop form) is supported; `auth-int`
//! and the `-sess` algorithm variants are rejected with typed errors.
//!
//! [`verify`] only checks the cryptographic response. [`DigestGuard`] does the
//! rest a server must: the realm, the `uri` against the Request-URI, nonces bound
//! to the client's address, strictly increasing nonce counts and single-use
//! nonces without `qop`, so a captured request cannot be replayed (RFC 7616 §5.10).

use std::fmt;

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;
use thiserror::Error;

mod guard;
mod header;

pub use guard::{
    digest_uri_matches, has_credentials, Account, AccountLookup, DigestGuard, DigestOutcome,
};

pub use header::{
    challenge_headers, client_authorization, parse_authorization, parse_challenge, pick_challenge,
    random_cnonce, Challenge, Credentials,
};

type HmacSha256 = Hmac<Sha256>;

/// Length of the big-endian timestamp prefix of a nonce, in bytes.
const NONCE_TS_LEN: usize = 8;
/// Length of the random salt of a nonce (two challenges in one second differ), in bytes.
pub(crate) const NONCE_SALT_LEN: usize = 8;
/// Length of the HMAC-SHA256 tag of a nonce, in bytes.
const NONCE_TAG_LEN: usize = 32;

/// Errors produced while parsing digest headers or answering challenges.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthError {
    /// The header value does not use the `Digest` authentication scheme.
    #[error("authentication scheme is not Digest")]
    NotDigest,
    /// The parameter list is syntactically malformed at the given byte offset
    /// (e.g. an unterminated quoted string or a parameter without `=`).
    #[error("malformed digest parameters near byte {position}")]
    Malformed {
        /// Byte offset (within the parameter list) where parsing failed.
        position: usize,
    },
    /// The same parameter appears more than once.
    #[error("duplicate digest parameter `{0}`")]
    DuplicateParam(String),
    /// A mandatory parameter is missing.
    #[error("missing digest parameter `{0}`")]
    MissingParam(&'static str),
    /// The `algorithm` parameter names an algorithm Ringside does not implement.
    #[error("unsupported digest algorithm `{0}`")]
    UnsupportedAlgorithm(String),
    /// The `qop` parameter does not offer / use `auth`.
    #[error("unsupported qop `{0}`")]
    UnsupportedQop(String),
    /// The `nc` parameter is not exactly eight hexadecimal digits.
    #[error("nonce count is not 8 hex digits")]
    InvalidNonceCount,
}

/// Digest hash algorithm (RFC 8760 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// MD5, the RFC 3261 default (used when `algorithm` is absent).
    Md5,
    /// SHA-256 (RFC 7616 / RFC 8760), preferred when both are available.
    Sha256,
}

impl Algorithm {
    /// The token used in the `algorithm=` parameter ("MD5" or "SHA-256").
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Parses an `algorithm=` token case-insensitively; `None` if unsupported
    /// (including the `-sess` variants).
    pub fn from_name(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("MD5") {
            Some(Algorithm::Md5)
        } else if name.eq_ignore_ascii_case("SHA-256") {
            Some(Algorithm::Sha256)
        } else {
            None
        }
    }

    /// `H(p1:p2:...:pn)` as lowercase hex, hashing the parts joined by `:`.
    pub fn hash_parts(self, parts: &[&str]) -> String {
        fn run<D: Digest>(parts: &[&str]) -> String {
            let mut d = D::new();
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    d.update(b":");
                }
                d.update(p.as_bytes());
            }
            hex::encode(d.finalize())
        }
        match self {
            Algorithm::Md5 => run::<Md5>(parts),
            Algorithm::Sha256 => run::<Sha256>(parts),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `HA1 = H(username:realm:password)` as lowercase hex. Store this (per
/// algorithm) instead of the plaintext password.
pub fn ha1(alg: Algorithm, username: &str, realm: &str, password: &str) -> String {
    alg.hash_parts(&[username, realm, password])
}

/// Computes the digest `response` value.
///
/// With `qop` = `Some((nc, cnonce, qop))`: `KD(HA1, nonce:nc:cnonce:qop:HA2)`;
/// without: `KD(HA1, nonce:HA2)`, where `HA2 = H(method:uri)`.
pub fn compute_response(
    alg: Algorithm,
    ha1: &str,
    nonce: &str,
    method: &str,
    uri: &str,
    qop: Option<(&str, &str, &str)>,
) -> String {
    let ha2 = alg.hash_parts(&[method, uri]);
    match qop {
        Some((nc, cnonce, qop)) => alg.hash_parts(&[ha1, nonce, nc, cnonce, qop, &ha2]),
        None => alg.hash_parts(&[ha1, nonce, &ha2]),
    }
}

/// Result of [`NonceManager::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    /// Issued by this manager and still within its lifetime.
    Valid,
    /// Issued by this manager but expired: re-challenge with `stale=true`.
    Stale,
    /// Not issued by this manager (bad encoding, length or HMAC).
    Invalid,
}

/// Issues and validates stateless nonces: hex(`timestamp_be_u64 || salt ||
/// HMAC-SHA256(secret, timestamp_be_u64 || salt || binding)`), with 8 random
/// bytes of salt so that no two nonces are alike.
///
/// No per-nonce state is kept here: a nonce only bounds how long a captured
/// response stays usable. [`DigestGuard`] adds the state that stops replays
/// (nonce counts, single-use nonces) and binds nonces to the client's address
/// through [`NonceManager::issue_for`].
#[derive(Clone)]
pub struct NonceManager {
    secret: [u8; 32],
    lifetime_secs: u64,
}

impl fmt::Debug for NonceManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonceManager")
            .field("secret", &"<redacted>")
            .field("lifetime_secs", &self.lifetime_secs)
            .finish()
    }
}

impl NonceManager {
    /// Creates a manager from a 32-byte server secret and a nonce lifetime
    /// in seconds (300 is a sensible default).
    pub fn new(secret: [u8; 32], lifetime_secs: u64) -> Self {
        Self {
            secret,
            lifetime_secs,
        }
    }

    /// Creates a manager with a fresh random secret (nonces will not survive
    /// a restart, which only costs clients one extra challenge).
    pub fn with_random_secret(lifetime_secs: u64) -> Self {
        let mut secret = [0u8; 32];
        rand::Rng::fill(&mut rand::thread_rng(), &mut secret[..]);
        Self::new(secret, lifetime_secs)
    }

    /// The configured nonce lifetime in seconds.
    pub fn lifetime_secs(&self) -> u64 {
        self.lifetime_secs
    }

    fn tag(&self, ts: &[u8], binding: &[u8]) -> HmacSha256 {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = match HmacSha256::new_from_slice(&self.secret) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts any key length"),
        };
        mac.update(ts);
        mac.update(binding);
        mac
    }

    /// Issues a nonce stamped with `now_unix_secs`.
    pub fn issue(&self, now_unix_secs: u64) -> String {
        self.issue_for(now_unix_secs, &[])
    }

    /// Issues a nonce stamped with `now_unix_secs` and bound to `binding` (for
    /// example the client's IP address): [`NonceManager::check_for`] accepts it
    /// only with the same binding.
    pub fn issue_for(&self, now_unix_secs: u64, binding: &[u8]) -> String {
        let mut head = [0u8; NONCE_TS_LEN + NONCE_SALT_LEN];
        head[..NONCE_TS_LEN].copy_from_slice(&now_unix_secs.to_be_bytes());
        rand::Rng::fill(&mut rand::thread_rng(), &mut head[NONCE_TS_LEN..]);
        let tag = self.tag(&head, binding).finalize().into_bytes();
        let mut out = hex::encode(head);
        out.push_str(&hex::encode(tag));
        out
    }

    /// Classifies a nonce returned by a client. Nonces stamped more than one
    /// lifetime in the future are treated as invalid.
    pub fn check(&self, nonce: &str, now_unix_secs: u64) -> NonceCheck {
        self.check_for(nonce, now_unix_secs, &[])
    }

    /// Like [`NonceManager::check`] for a nonce issued with
    /// [`NonceManager::issue_for`]: a nonce issued for another binding is
    /// [`NonceCheck::Invalid`].
    pub fn check_for(&self, nonce: &str, now_unix_secs: u64, binding: &[u8]) -> NonceCheck {
        if nonce.len() != 2 * (NONCE_TS_LEN + NONCE_SALT_LEN + NONCE_TAG_LEN) {
            return NonceCheck::Invalid;
        }
        let Ok(raw) = hex::decode(nonce) else {
            return NonceCheck::Invalid;
        };
        let (head, tag) = raw.split_at(NONCE_TS_LEN + NONCE_SALT_LEN);
        if self.tag(head, binding).verify_slice(tag).is_err() {
            return NonceCheck::Invalid;
        }
        let mut ts_bytes = [0u8; NONCE_TS_LEN];
        ts_bytes.copy_from_slice(&head[..NONCE_TS_LEN]);
        let issued = u64::from_be_bytes(ts_bytes);
        if issued > now_unix_secs.saturating_add(self.lifetime_secs) {
            NonceCheck::Invalid
        } else if now_unix_secs.saturating_sub(issued) > self.lifetime_secs {
            NonceCheck::Stale
        } else {
            NonceCheck::Valid
        }
    }
}

/// Constant-time equality for equal-length byte strings.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Checks the credentials' `response` for `method`, given the stored HA1 for
/// `creds.algorithm` (see [`ha1`]). The comparison is constant-time and
/// case-insensitive in the hex digits.
///
/// This does not check the nonce ([`NonceManager::check`]), the realm or the
/// URI.
pub fn verify(creds: &Credentials, method: &str, ha1_for_alg: &str) -> bool {
    let qop = match (&creds.qop, &creds.nc, &creds.cnonce) {
        (None, _, _) => None,
        (Some(q), Some(nc), Some(cnonce)) => Some((nc.as_str(), cnonce.as_str(), q.as_str())),
        _ => return false,
    };
    let expected = compute_response(
        creds.algorithm,
        ha1_for_alg,
        &creds.nonce,
        method,
        &creds.uri,
        qop,
    );
    let given = creds.response.to_ascii_lowercase();
    ct_eq(expected.as_bytes(), given.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_md5_vector() {
        let h1 = ha1(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
        );
        let r = compute_response(
            Algorithm::Md5,
            &h1,
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            "GET",
            "/dir/index.html",
            Some(("00000001", "0a4f113b", "auth")),
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn nonce_future_and_garbage() {
        let m = NonceManager::new([7; 32], 300);
        assert_eq!(m.check(&m.issue(10_000), 1000), NonceCheck::Invalid);
        assert_eq!(m.check("zz", 1000), NonceCheck::Invalid);
        assert_eq!(m.check(&"g".repeat(80), 1000), NonceCheck::Invalid);
        assert!(!format!("{m:?}").contains("7, 7"));
    }
}
