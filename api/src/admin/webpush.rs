//! Web Push (issue 19), sans-IO: the server's VAPID key (RFC 8292), the `Authorization:
//! vapid` header a push service checks, and the message encryption of RFC 8291 (`aes128gcm`
//! content coding of RFC 8188) for a browser's subscription. The alert sender
//! ([`crate::alert_dispatch`]) POSTs the result to the subscription's endpoint (RFC 8030).
//!
//! Everything here is ring's: ECDSA P-256 for the VAPID JWT, ephemeral ECDH P-256 for the
//! shared secret (a new key per message, as RFC 8291 asks), HKDF-SHA-256 and AES-128-GCM.

use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Record size announced in the header (RFC 8188); a message is one record.
const RECORD_SIZE: u32 = 4096;
/// Longest plaintext one record holds: the record size less the delimiter and the tag.
pub const MAX_PLAINTEXT: usize = RECORD_SIZE as usize - 1 - 16;

/// Why a message could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The subscription's `p256dh` is not a P-256 point, or `auth` not 16 bytes.
    #[error("the subscription's keys are not usable")]
    BadKeys,
    /// Longer than one record.
    #[error("the message is too long")]
    TooLong,
    /// The crypto library refused (should not happen).
    #[error("encryption failed")]
    Crypto,
}

/// The server's VAPID key pair (ECDSA P-256).
pub struct VapidKey {
    pair: EcdsaKeyPair,
    pkcs8: Vec<u8>,
}

impl std::fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VapidKey")
            .field("public", &self.public_b64())
            .finish_non_exhaustive()
    }
}

impl VapidKey {
    /// A new random key.
    pub fn generate() -> VapidKey {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("the system's random source works");
        VapidKey::from_pkcs8(doc.as_ref()).expect("a key ring just made")
    }

    /// The key stored as PKCS#8 (DER).
    pub fn from_pkcs8(der: &[u8]) -> Option<VapidKey> {
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &SystemRandom::new())
                .ok()?;
        Some(VapidKey {
            pair,
            pkcs8: der.to_vec(),
        })
    }

    /// PKCS#8 (DER), to store.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public key, uncompressed (65 bytes), base64url: the `applicationServerKey` a
    /// browser subscribes with, and the `k=` of the header.
    pub fn public_b64(&self) -> String {
        B64.encode(self.pair.public_key().as_ref())
    }

    /// `Authorization: vapid t=<JWT>, k=<public key>` for a push to `endpoint`: the JWT's
    /// `aud` is the endpoint's origin, `exp` 12 hours after `now_s`, `sub` the contact.
    pub fn authorization(&self, endpoint: &str, subject: &str, now_s: i64) -> Option<String> {
        let origin = reqwest::Url::parse(endpoint)
            .ok()?
            .origin()
            .ascii_serialization();
        let header = B64.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = B64.encode(
            serde_json::json!({"aud": origin, "exp": now_s + 12 * 3600, "sub": subject})
                .to_string(),
        );
        let input = format!("{header}.{claims}");
        let sig = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .ok()?;
        Some(format!(
            "vapid t={input}.{}, k={}",
            B64.encode(sig.as_ref()),
            self.public_b64()
        ))
    }
}

/// HKDF output length for ring.
struct Len(usize);

impl ring::hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn hkdf(salt: &[u8], ikm: &[u8], info: &[&[u8]], out: &mut [u8]) -> Result<(), PushError> {
    ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, salt)
        .extract(ikm)
        .expand(info, Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .map_err(|_| PushError::Crypto)
}

/// Decodes base64url with or without padding.
pub fn b64(s: &str) -> Option<Vec<u8>> {
    B64.decode(s.trim().trim_end_matches('=')).ok()
}

/// Encrypts `plaintext` for a subscription (its `p256dh` and `auth`, decoded) as RFC 8291
/// says: an ephemeral ECDH key, the input keying material from the shared secret and the
/// auth secret, a random salt, one `aes128gcm` record. The result is the request body
/// (header: salt, record size, the ephemeral public key as key id; then the record).
pub fn encrypt(plaintext: &[u8], ua_public: &[u8], auth: &[u8]) -> Result<Vec<u8>, PushError> {
    use ring::agreement::{agree_ephemeral, EphemeralPrivateKey, UnparsedPublicKey, ECDH_P256};
    if ua_public.len() != 65 || ua_public[0] != 4 || auth.len() != 16 {
        return Err(PushError::BadKeys);
    }
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(PushError::TooLong);
    }
    let rng = SystemRandom::new();
    let ephemeral =
        EphemeralPrivateKey::generate(&ECDH_P256, &rng).map_err(|_| PushError::Crypto)?;
    let as_public = ephemeral
        .compute_public_key()
        .map_err(|_| PushError::Crypto)?;
    let ecdh = agree_ephemeral(
        ephemeral,
        &UnparsedPublicKey::new(&ECDH_P256, ua_public),
        |secret| secret.to_vec(),
    )
    .map_err(|_| PushError::BadKeys)?;
    let mut salt = [0u8; 16];
    rng.fill(&mut salt).map_err(|_| PushError::Crypto)?;
    seal(plaintext, ua_public, as_public.as_ref(), auth, &ecdh, &salt)
}

/// The deterministic part of [`encrypt`] (keys, secret and salt given).
fn seal(
    plaintext: &[u8],
    ua_public: &[u8],
    as_public: &[u8],
    auth: &[u8],
    ecdh: &[u8],
    salt: &[u8; 16],
) -> Result<Vec<u8>, PushError> {
    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM};
    // RFC 8291 section 3.4: IKM from the ECDH secret, keyed by the auth secret.
    let mut ikm = [0u8; 32];
    hkdf(
        auth,
        ecdh,
        &[b"WebPush: info\0", ua_public, as_public],
        &mut ikm,
    )?;
    // RFC 8188 section 2.2: the content key and nonce.
    let mut cek = [0u8; 16];
    hkdf(salt, &ikm, &[b"Content-Encoding: aes128gcm\0"], &mut cek)?;
    let mut nonce = [0u8; 12];
    hkdf(salt, &ikm, &[b"Content-Encoding: nonce\0"], &mut nonce)?;
    // One record, the last: the plaintext and the delimiter 2.
    let mut record = Vec::with_capacity(plaintext.len() + 17);
    record.extend_from_slice(plaintext);
    record.push(2);
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &cek).map_err(|_| PushError::Crypto)?);
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::empty(),
        &mut record,
    )
    .map_err(|_| PushError::Crypto)?;
    let mut body = Vec::with_capacity(16 + 4 + 1 + as_public.len() + record.len());
    body.extend_from_slice(salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(u8::try_from(as_public.len()).map_err(|_| PushError::Crypto)?);
    body.extend_from_slice(as_public);
    body.extend_from_slice(&record);
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::agreement::{agree_ephemeral, EphemeralPrivateKey, UnparsedPublicKey, ECDH_P256};

    /// RFC 8291 appendix A: with its keys, secret and salt, the body is the RFC's.
    #[test]
    fn rfc8291_appendix_a() {
        let ua_public = b64("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4").unwrap();
        let as_public = b64("BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8").unwrap();
        let auth = b64("BTBZMqHH6r4Tts7J_aSIgg").unwrap();
        let ecdh = b64("kyrL1jIIOHEzg3sM2ZWRHDRB62YACZhhSlknJ672kSs").unwrap();
        let salt: [u8; 16] = b64("DGv6ra1nlYgDCS1FRnbzlw").unwrap().try_into().unwrap();
        let body = seal(
            b"When I grow up, I want to be a watermelon",
            &ua_public,
            &as_public,
            &auth,
            &ecdh,
            &salt,
        )
        .unwrap();
        assert_eq!(
            B64.encode(body),
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
        );
    }

    /// A browser's side: its own key pair, then the message decrypted with the ECDH of its
    /// private key and the key id.
    #[test]
    fn a_browser_decrypts_what_is_sent() {
        let rng = SystemRandom::new();
        let ua = EphemeralPrivateKey::generate(&ECDH_P256, &rng).unwrap();
        let ua_public = ua.compute_public_key().unwrap().as_ref().to_vec();
        let auth = [7u8; 16];
        let body = encrypt(b"{\"title\":\"Incoming call\"}", &ua_public, &auth).unwrap();
        let (salt, rest) = body.split_at(16);
        assert_eq!(&rest[..4], &4096u32.to_be_bytes());
        assert_eq!(rest[4], 65);
        let as_public = &rest[5..70];
        let record = &rest[70..];
        let ecdh = agree_ephemeral(ua, &UnparsedPublicKey::new(&ECDH_P256, as_public), |s| {
            s.to_vec()
        })
        .unwrap();
        let mut ikm = [0u8; 32];
        hkdf(
            &auth,
            &ecdh,
            &[b"WebPush: info\0", &ua_public, as_public],
            &mut ikm,
        )
        .unwrap();
        let mut cek = [0u8; 16];
        hkdf(salt, &ikm, &[b"Content-Encoding: aes128gcm\0"], &mut cek).unwrap();
        let mut nonce = [0u8; 12];
        hkdf(salt, &ikm, &[b"Content-Encoding: nonce\0"], &mut nonce).unwrap();
        let key = ring::aead::LessSafeKey::new(
            ring::aead::UnboundKey::new(&ring::aead::AES_128_GCM, &cek).unwrap(),
        );
        let mut buf = record.to_vec();
        let plain = key
            .open_in_place(
                ring::aead::Nonce::assume_unique_for_key(nonce),
                ring::aead::Aad::empty(),
                &mut buf,
            )
            .unwrap();
        assert_eq!(plain, b"{\"title\":\"Incoming call\"}\x02");
        // Bad keys and long messages are refused.
        assert_eq!(
            encrypt(b"x", &ua_public[1..], &auth),
            Err(PushError::BadKeys)
        );
        assert_eq!(
            encrypt(b"x", &ua_public, &auth[1..]),
            Err(PushError::BadKeys)
        );
        assert_eq!(
            encrypt(&vec![b'a'; MAX_PLAINTEXT + 1], &ua_public, &auth),
            Err(PushError::TooLong)
        );
    }

    /// The JWT verifies with the public key in `k=` (ring's verifier) and names the
    /// endpoint's origin; the key survives a store and load.
    #[test]
    fn vapid_header_verifies() {
        let key = VapidKey::generate();
        let again = VapidKey::from_pkcs8(key.pkcs8()).unwrap();
        assert_eq!(key.public_b64(), again.public_b64());
        let h = key
            .authorization(
                "https://push.example.net:8443/wpush/abc?x=1",
                "mailto:ops@example.com",
                1_000,
            )
            .unwrap();
        let rest = h.strip_prefix("vapid t=").unwrap();
        let (jwt, k) = rest.split_once(", k=").unwrap();
        assert_eq!(k, key.public_b64());
        let mut parts = jwt.rsplitn(2, '.');
        let sig = b64(parts.next().unwrap()).unwrap();
        let input = parts.next().unwrap();
        let public = b64(k).unwrap();
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, &public)
            .verify(input.as_bytes(), &sig)
            .unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&b64(input.split('.').nth(1).unwrap()).unwrap()).unwrap();
        assert_eq!(claims["aud"], "https://push.example.net:8443");
        assert_eq!(claims["exp"], 1_000 + 12 * 3600);
        assert_eq!(claims["sub"], "mailto:ops@example.com");
    }
}
