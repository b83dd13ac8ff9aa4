//! The SRTP policy of an extension's or a trunk's SIP leg.

use serde::{Deserialize, Serialize};

/// Whether a SIP leg's media is encrypted (SRTP with SDES keys, RFC 4568, or keyed by a
/// DTLS-SRTP handshake, RFC 5763/5764).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum SrtpPolicy {
    /// Plain RTP only: offers carry no keys, an offer that insists on SRTP (`RTP/SAVP`) is
    /// refused 488 and keys in a best-effort offer are ignored.
    Off,
    /// SRTP when the peer wants it: an SRTP offer is answered with SRTP; Ringside's own offers
    /// carry keys on `RTP/AVP` (best effort) and fall back to plain RTP when the answer has none.
    #[default]
    Optional,
    /// SRTP or no call: offers without usable keys are refused 488, Ringside offers `RTP/SAVP`,
    /// and an answer without keys ends the attempt.
    Required,
    /// DTLS-SRTP or no call, for phones that key media by a handshake alone: Ringside offers
    /// `UDP/TLS/RTP/SAVP` with its certificate's fingerprint and `a=setup:actpass`, and an
    /// answer that is not DTLS-SRTP ends the attempt; the leg's own offers must be encrypted
    /// (DTLS-SRTP, or SDES keys) as under [`SrtpPolicy::Required`].
    Dtls,
}

impl SrtpPolicy {
    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            SrtpPolicy::Off => "off",
            SrtpPolicy::Optional => "optional",
            SrtpPolicy::Required => "required",
            SrtpPolicy::Dtls => "dtls",
        }
    }

    /// Nothing unencrypted is accepted on the leg.
    pub fn requires_srtp(self) -> bool {
        matches!(self, SrtpPolicy::Required | SrtpPolicy::Dtls)
    }

    /// The policy a stored value names (`None` or anything unknown: the default).
    pub fn from_stored(v: Option<&str>) -> Self {
        match v {
            Some("off") => SrtpPolicy::Off,
            Some("required") => SrtpPolicy::Required,
            Some("dtls") => SrtpPolicy::Dtls,
            _ => SrtpPolicy::Optional,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in [
            SrtpPolicy::Off,
            SrtpPolicy::Optional,
            SrtpPolicy::Required,
            SrtpPolicy::Dtls,
        ] {
            assert_eq!(SrtpPolicy::from_stored(Some(p.as_str())), p);
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.as_str()));
        }
        assert_eq!(SrtpPolicy::from_stored(None), SrtpPolicy::Optional);
        assert!(serde_json::from_str::<SrtpPolicy>("\"sometimes\"").is_err());
    }
}
