//! Secrets a tenant gives us to use on its behalf (an AI provider's API key, an integration's
//! auth header or signing secret), sealed at rest: ChaCha20-Poly1305 with a random nonce, the
//! tenant id and the secret's purpose as associated data (a sealed value copied to another
//! tenant's row, or to another purpose, does not open), stored as `v1:<base64>`.
//!
//! The key is derived (HKDF-SHA256) from the server's link secret (`<data>/link-secret`, or
//! the configured one), so it needs no file or setting of its own; a node with another link
//! secret cannot open the values, and a lost link secret means the secrets are entered again.
//! The database alone (a dump, a PostgreSQL replica) does not reveal them.

use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

const PREFIX: &str = "v1:";

/// Seals and opens tenants' secrets.
pub struct Sealer {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer")
    }
}

/// A sealed value that does not open: damaged, of another server's key, or moved to another
/// tenant or purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a stored secret could not be opened (enter it again)")]
pub struct Unsealable;

struct Len(usize);

impl ring::hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

impl Sealer {
    /// The sealer keyed from `link_secret`.
    pub fn new(link_secret: &[u8; 32]) -> Sealer {
        let salt = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"ringside sealed secrets");
        let prk = salt.extract(link_secret);
        let mut key = [0u8; 32];
        prk.expand(&[b"v1"], Len(32))
            .and_then(|okm| okm.fill(&mut key))
            .expect("HKDF output of 32 bytes");
        Sealer {
            key: LessSafeKey::new(
                UnboundKey::new(&CHACHA20_POLY1305, &key).expect("a ChaCha20 key"),
            ),
            rng: SystemRandom::new(),
        }
    }

    fn aad(tenant: &str, purpose: &str) -> Vec<u8> {
        format!("{tenant}|{purpose}").into_bytes()
    }

    /// `plain` sealed for `tenant` and `purpose`.
    pub fn seal(&self, tenant: &str, purpose: &str, plain: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).expect("system randomness");
        let mut buf = plain.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(Self::aad(tenant, purpose)),
                &mut buf,
            )
            .expect("sealing");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(out)
        )
    }

    /// The secret sealed by [`Sealer::seal`] for the same tenant and purpose.
    pub fn open(&self, tenant: &str, purpose: &str, sealed: &str) -> Result<String, Unsealable> {
        let raw = sealed.strip_prefix(PREFIX).ok_or(Unsealable)?;
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(raw)
            .map_err(|_| Unsealable)?;
        if bytes.len() < NONCE_LEN + CHACHA20_POLY1305.tag_len() {
            return Err(Unsealable);
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Unsealable)?;
        let mut buf = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(Self::aad(tenant, purpose)), &mut buf)
            .map_err(|_| Unsealable)?;
        String::from_utf8(plain.to_vec()).map_err(|_| Unsealable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_only_for_the_same_key_tenant_and_purpose() {
        let s = Sealer::new(&[7; 32]);
        let sealed = s.seal("t1", "ai-key", "sk-secret");
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("sk-secret"));
        assert_ne!(sealed, s.seal("t1", "ai-key", "sk-secret"), "random nonce");
        assert_eq!(s.open("t1", "ai-key", &sealed).unwrap(), "sk-secret");
        assert_eq!(s.open("t2", "ai-key", &sealed), Err(Unsealable));
        assert_eq!(s.open("t1", "hmac", &sealed), Err(Unsealable));
        assert_eq!(
            Sealer::new(&[8; 32]).open("t1", "ai-key", &sealed),
            Err(Unsealable)
        );
        let mut broken = sealed.clone();
        broken.pop();
        assert_eq!(s.open("t1", "ai-key", &broken), Err(Unsealable));
        assert_eq!(s.open("t1", "ai-key", "v1:"), Err(Unsealable));
        assert_eq!(s.open("t1", "ai-key", "plain"), Err(Unsealable));
    }
}
