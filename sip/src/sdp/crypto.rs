//! SDES `a=crypto` attributes (RFC 4568 §9.1):
//!
//! ```text
//! a=crypto:<tag> <crypto-suite> inline:<base64 key||salt>[|<lifetime>][|<mki>:<length>] [params]
//! ```
//!
//! Only what Ringside can use is kept: one inline key per line (a line with several master
//! keys or an MKI is parsed but flagged, so the negotiator skips it), the lifetime as given, and
//! session parameters verbatim. Suite names are not checked here; the media layer knows which
//! it supports. Parsing never panics on arbitrary input.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// One `a=crypto` line's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crypto {
    /// Tag (1–9 digits), which the answer repeats.
    pub tag: u32,
    /// Crypto suite name, e.g. `AES_CM_128_HMAC_SHA1_80`.
    pub suite: String,
    /// The master key followed by the master salt (decoded from base64).
    pub key_salt: Vec<u8>,
    /// Master key lifetime as written (`2^31`, `1048576`), if any.
    pub lifetime: Option<String>,
    /// The line names an MKI or more than one master key (Ringside uses neither).
    pub uses_mki: bool,
    /// Session parameters (`UNENCRYPTED_SRTCP`, `KDR=…`, …), verbatim.
    pub session_params: Vec<String>,
}

/// Why a crypto line was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// Tag missing, not 1–9 digits.
    #[error("bad crypto tag")]
    Tag,
    /// No crypto suite.
    #[error("missing crypto suite")]
    Suite,
    /// No `inline:` key parameter, or one that is not base64.
    #[error("bad crypto key parameter")]
    Key,
    /// Lifetime or MKI not of the RFC's forms.
    #[error("bad crypto key lifetime or MKI")]
    KeyInfo,
}

impl Crypto {
    /// Parses the value of an `a=crypto` attribute (after `crypto:`).
    pub fn parse(value: &str) -> Result<Self, CryptoError> {
        let mut parts = value.split_ascii_whitespace();
        let tag = parts.next().ok_or(CryptoError::Tag)?;
        if tag.is_empty() || tag.len() > 9 || !tag.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CryptoError::Tag);
        }
        let tag: u32 = tag.parse().map_err(|_| CryptoError::Tag)?;
        let suite = parts.next().ok_or(CryptoError::Suite)?;
        if !suite
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(CryptoError::Suite);
        }
        let key_params = parts.next().ok_or(CryptoError::Key)?;
        let session_params = parts.map(str::to_owned).collect();
        let mut keys = key_params.split(';');
        let first = keys.next().ok_or(CryptoError::Key)?;
        let several = keys.next().is_some();
        let info = first.strip_prefix("inline:").ok_or(CryptoError::Key)?;
        let mut fields = info.split('|');
        let key = fields.next().ok_or(CryptoError::Key)?;
        let key_salt = STANDARD
            .decode(key)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(key))
            .map_err(|_| CryptoError::Key)?;
        if key_salt.is_empty() {
            return Err(CryptoError::Key);
        }
        let mut lifetime = None;
        let mut mki = false;
        for f in fields {
            if let Some((value, len)) = f.split_once(':') {
                if mki || !all_digits(value) || !all_digits(len) {
                    return Err(CryptoError::KeyInfo);
                }
                mki = true;
            } else if lifetime.is_none() && !mki && lifetime_ok(f) {
                lifetime = Some(f.to_owned());
            } else {
                return Err(CryptoError::KeyInfo);
            }
        }
        Ok(Crypto {
            tag,
            suite: suite.to_owned(),
            key_salt,
            lifetime,
            uses_mki: mki || several,
            session_params,
        })
    }

    /// A line Ringside writes: one inline key, no lifetime, no MKI, no parameters.
    pub fn new(tag: u32, suite: &str, key_salt: Vec<u8>) -> Self {
        Crypto {
            tag,
            suite: suite.to_owned(),
            key_salt,
            lifetime: None,
            uses_mki: false,
            session_params: Vec::new(),
        }
    }
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.len() <= 10 && s.bytes().all(|b| b.is_ascii_digit())
}

fn lifetime_ok(s: &str) -> bool {
    all_digits(s.strip_prefix("2^").unwrap_or(s))
}

impl fmt::Display for Crypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} inline:{}",
            self.tag,
            self.suite,
            STANDARD.encode(&self.key_salt)
        )?;
        if let Some(l) = &self.lifetime {
            write!(f, "|{l}")?;
        }
        for p in &self.session_params {
            write!(f, " {p}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 4568 §9.1 example.
    const RFC: &str =
        "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32";

    #[test]
    fn parses_the_rfc_example_and_flags_its_mki() {
        let c = Crypto::parse(RFC).unwrap();
        assert_eq!(c.tag, 1);
        assert_eq!(c.suite, "AES_CM_128_HMAC_SHA1_80");
        assert_eq!(c.key_salt.len(), 30);
        assert_eq!(c.lifetime.as_deref(), Some("2^20"));
        assert!(c.uses_mki);
    }

    #[test]
    fn round_trips_what_ringside_writes() {
        let c = Crypto::new(2, "AEAD_AES_128_GCM", (0u8..28).collect());
        let text = c.to_string();
        assert!(text.starts_with("2 AEAD_AES_128_GCM inline:"), "{text}");
        assert_eq!(Crypto::parse(&text).unwrap(), c);
        let with = Crypto::parse(&format!("{text}|2^31 UNENCRYPTED_SRTCP")).unwrap();
        assert_eq!(with.lifetime.as_deref(), Some("2^31"));
        assert_eq!(with.session_params, vec!["UNENCRYPTED_SRTCP".to_string()]);
        assert!(!with.uses_mki);
    }

    #[test]
    fn refuses_malformed_lines() {
        for bad in [
            "",
            "x AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
            "1234567890 AES_CM_128_HMAC_SHA1_80 inline:PS1u",
            "1",
            "1 AES-CM inline:PS1u",
            "1 AES_CM_128_HMAC_SHA1_80",
            "1 AES_CM_128_HMAC_SHA1_80 key:PS1u",
            "1 AES_CM_128_HMAC_SHA1_80 inline:***",
            "1 AES_CM_128_HMAC_SHA1_80 inline:",
            "1 AES_CM_128_HMAC_SHA1_80 inline:PS1u|2^x",
            "1 AES_CM_128_HMAC_SHA1_80 inline:PS1u|1:2|3:4",
        ] {
            assert!(Crypto::parse(bad).is_err(), "{bad:?}");
        }
    }
}
