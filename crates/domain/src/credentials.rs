//! How a SIP password is kept: never as itself, only as the two digest HA1 values
//! (RFC 3261 MD5 and RFC 8760 SHA-256) that the SIP guard checks responses against.

use md5::{Digest, Md5};
use sha2::Sha256;

/// The stored form of a SIP password for one user name and realm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestHa1 {
    /// `MD5(user:realm:password)`, lowercase hex.
    pub md5: String,
    /// `SHA-256(user:realm:password)`, lowercase hex.
    pub sha256: String,
}

impl DigestHa1 {
    /// The HA1 values of `user` in `realm` with `password`.
    pub fn new(user: &str, realm: &str, password: &str) -> DigestHa1 {
        let text = format!("{user}:{realm}:{password}");
        DigestHa1 {
            md5: hex::encode(Md5::digest(text.as_bytes())),
            sha256: hex::encode(Sha256::digest(text.as_bytes())),
        }
    }
}

/// Whether a password is acceptable for SIP digest: 8-128 bytes.
pub fn password_ok(p: &str) -> bool {
    (8..=128).contains(&p.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_2617_example() {
        // RFC 2617 section 3.5: HA1 of Mufasa in testrealm@host.com.
        let h = DigestHa1::new("Mufasa", "testrealm@host.com", "Circle Of Life");
        assert_eq!(h.md5, "939e7578ed9e3c518a452acee763bce9");
        assert_eq!(h.sha256.len(), 64);
    }
}
