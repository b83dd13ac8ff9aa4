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

/// The server's link secret: the current root, and while it is being rotated the previous
/// one. Everything new is signed and sealed with the current one; what the previous one signed
/// or sealed is still accepted and opened (`RINGSIDE_SECRET_KEY_PREVIOUS`) until `ringside
/// secret reseal` has sealed the stored secrets again and the previous one is dropped. Derefs
/// to the current root.
#[derive(Clone, Copy)]
pub struct LinkSecret {
    current: [u8; 32],
    previous: Option<[u8; 32]>,
}

impl std::fmt::Debug for LinkSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkSecret")
            .field("previous", &self.previous.map(|_| "(set)"))
            .finish_non_exhaustive()
    }
}

impl LinkSecret {
    /// `current`, and `previous` while rotating away from it.
    pub fn new(current: [u8; 32], previous: Option<[u8; 32]>) -> LinkSecret {
        LinkSecret {
            current,
            previous: previous.filter(|p| *p != current),
        }
    }

    /// The keys a signature is checked against: the current one, then the previous one.
    pub fn keys(&self) -> impl Iterator<Item = &[u8; 32]> {
        std::iter::once(&self.current).chain(self.previous.as_ref())
    }

    /// The sealer: seals with the current root, opens with either.
    pub fn sealer(&self) -> Sealer {
        let mut s = Sealer::new(&self.current);
        s.previous = self.previous.as_ref().map(|p| Sealer::new(p).key);
        s
    }
}

impl std::ops::Deref for LinkSecret {
    type Target = [u8; 32];

    fn deref(&self) -> &[u8; 32] {
        &self.current
    }
}

impl From<[u8; 32]> for LinkSecret {
    fn from(current: [u8; 32]) -> LinkSecret {
        LinkSecret::new(current, None)
    }
}

/// Seals and opens tenants' secrets.
pub struct Sealer {
    key: LessSafeKey,
    /// The previous root's key while rotating: opens, never seals.
    previous: Option<LessSafeKey>,
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
            previous: None,
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

    /// The secret sealed by [`Sealer::seal`] for the same tenant and purpose (by the current
    /// root or, while rotating, the previous one).
    pub fn open(&self, tenant: &str, purpose: &str, sealed: &str) -> Result<String, Unsealable> {
        Self::open_with(&self.key, tenant, purpose, sealed).or_else(|e| match &self.previous {
            Some(p) => Self::open_with(p, tenant, purpose, sealed),
            None => Err(e),
        })
    }

    /// `sealed` sealed again with the current root when the previous one sealed it:
    /// `Ok(None)` when the current root sealed it already.
    pub fn reseal(
        &self,
        tenant: &str,
        purpose: &str,
        sealed: &str,
    ) -> Result<Option<String>, Unsealable> {
        if Self::open_with(&self.key, tenant, purpose, sealed).is_ok() {
            return Ok(None);
        }
        let p = self.previous.as_ref().ok_or(Unsealable)?;
        let plain = Self::open_with(p, tenant, purpose, sealed)?;
        Ok(Some(self.seal(tenant, purpose, &plain)))
    }

    fn open_with(
        key: &LessSafeKey,
        tenant: &str,
        purpose: &str,
        sealed: &str,
    ) -> Result<String, Unsealable> {
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
        let plain = key
            .open_in_place(nonce, Aad::from(Self::aad(tenant, purpose)), &mut buf)
            .map_err(|_| Unsealable)?;
        String::from_utf8(plain.to_vec()).map_err(|_| Unsealable)
    }
}

/// What [`reseal_stored`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Resealed {
    /// Sealed again with the current root (the previous one had sealed them).
    pub resealed: usize,
    /// Sealed with the current root already.
    pub current: usize,
    /// Opened by neither root (another server's, damaged): left as they are; their owners
    /// enter them again.
    pub unsealable: usize,
    /// Changed by someone else meanwhile (a new value entered): left to them.
    pub changed: usize,
}

/// The purpose a column's values are sealed for.
fn purpose_of(c: ringside_storage::SealedColumn) -> &'static str {
    use ringside_storage::SealedColumn as C;
    match c {
        C::AiProviderKey => crate::admin::ai_provider::KEY_PURPOSE,
        C::IntegrationAuthHeader => crate::public::lookup::AUTH_PURPOSE,
        C::IntegrationHmac => crate::public::lookup::HMAC_PURPOSE,
        C::AlertChannelSecret => crate::admin::alerts::SECRET_PURPOSE,
        C::VapidKey => VAPID_KEY_NAME,
    }
}

/// The shared secret holding the cluster's VAPID key, sealed for no tenant under this purpose.
pub const VAPID_KEY_NAME: &str = "vapid-key";

/// Every sealed value in `store` sealed again with `secret`'s current root where its previous
/// one sealed it: after a rotation, once every node runs with the new root (and the old one as
/// the previous), so the old root can then be dropped. Safe to run again and while nodes run.
pub async fn reseal_stored(
    store: &ringside_storage::Store,
    secret: &LinkSecret,
) -> Result<Resealed, ringside_storage::StorageError> {
    let sealer = secret.sealer();
    let mut r = Resealed::default();
    for column in ringside_storage::SealedColumn::ALL {
        for v in store.sealed_values(column).await? {
            match sealer.reseal(&v.tenant_id, purpose_of(column), &v.sealed) {
                Ok(None) => r.current += 1,
                Ok(Some(new)) => {
                    if store.replace_sealed(&v, &new).await? {
                        r.resealed += 1;
                    } else {
                        r.changed += 1;
                    }
                }
                Err(Unsealable) => r.unsealable += 1,
            }
        }
    }
    Ok(r)
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

    #[test]
    fn a_rotated_root_opens_what_the_previous_one_sealed_and_seals_anew() {
        let (old, new) = ([1u8; 32], [2u8; 32]);
        let before = LinkSecret::from(old).sealer().seal("t1", "hmac", "s3cret");
        let rotating = LinkSecret::new(new, Some(old));
        assert_eq!(rotating.keys().count(), 2);
        assert_eq!(*rotating, new, "derefs to the current root");
        let sealer = rotating.sealer();
        assert_eq!(sealer.open("t1", "hmac", &before).unwrap(), "s3cret");
        assert_eq!(sealer.open("t2", "hmac", &before), Err(Unsealable));
        // Sealed again: the current root alone opens it; the old one no longer does.
        let after = sealer.reseal("t1", "hmac", &before).unwrap().unwrap();
        assert_eq!(
            LinkSecret::from(new)
                .sealer()
                .open("t1", "hmac", &after)
                .unwrap(),
            "s3cret"
        );
        assert_eq!(
            LinkSecret::from(old).sealer().open("t1", "hmac", &after),
            Err(Unsealable)
        );
        assert_eq!(
            sealer.reseal("t1", "hmac", &after),
            Ok(None),
            "already current"
        );
        // Without the previous root what it sealed is lost; a third root opens nothing.
        assert_eq!(
            LinkSecret::from(new).sealer().reseal("t1", "hmac", &before),
            Err(Unsealable)
        );
        assert_eq!(
            LinkSecret::new(new, Some(new)).keys().count(),
            1,
            "the same root once"
        );
    }
}
