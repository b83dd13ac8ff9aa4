//! SRTP on one leg (RFC 3711; AEAD suites RFC 7714): the keys the leg's peer sends with and the
//! keys Ringside sends with, negotiated by the signalling (SDES, RFC 4568) and handed to the
//! leg's [`CallMedia`](crate::bridge::CallMedia). Packets from the peer are authenticated and
//! decrypted before anything else looks at them (a packet that fails is dropped and counted,
//! never latched on nor relayed); packets to the peer are encrypted last, after rewriting.
//!
//! The ciphers are rtc-srtp's (the same code that protects the browser legs); this module only
//! holds one receive and one send context per leg and keeps the relay's in-place buffers.

use std::sync::{Arc, OnceLock};

use rtc::srtp::context::Context;
use rtc::srtp::crypto::{default_provider, RTCCryptoProvider};
use rtc::srtp::option::{srtcp_replay_protection, srtp_replay_protection};
use rtc::srtp::protection_profile::ProtectionProfile;

use crate::MediaError;

/// Replay window, in packets (RFC 3711 §3.3.2 asks for at least 64).
const REPLAY_WINDOW: usize = 128;

/// Longest trailer SRTP adds to a packet (AEAD tag 16; SRTCP adds a 4-byte index as well).
pub const MAX_OVERHEAD: usize = 20;

/// The SRTP crypto suites Ringside negotiates, by their SDES names (RFC 4568 §6.2, RFC 7714 §14.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SrtpSuite {
    /// `AES_CM_128_HMAC_SHA1_80`: AES-128 counter mode, 80-bit HMAC-SHA1 tag.
    AesCm128HmacSha1_80,
    /// `AES_CM_128_HMAC_SHA1_32`: the same with a 32-bit tag.
    AesCm128HmacSha1_32,
    /// `AEAD_AES_128_GCM`: AES-128 in Galois/counter mode (16-byte tag).
    AeadAes128Gcm,
}

impl SrtpSuite {
    /// Every suite, in Ringside's order of preference when it offers.
    pub const ALL: [SrtpSuite; 3] = [
        SrtpSuite::AeadAes128Gcm,
        SrtpSuite::AesCm128HmacSha1_80,
        SrtpSuite::AesCm128HmacSha1_32,
    ];

    /// The SDES name.
    pub fn name(self) -> &'static str {
        match self {
            SrtpSuite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            SrtpSuite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
            SrtpSuite::AeadAes128Gcm => "AEAD_AES_128_GCM",
        }
    }

    /// The suite an SDES name stands for (case-sensitive, as RFC 4568 registers them).
    pub fn from_name(name: &str) -> Option<Self> {
        SrtpSuite::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Master key length in bytes.
    pub fn key_len(self) -> usize {
        16
    }

    /// Master salt length in bytes (112 bits for AES-CM, 96 for AEAD).
    pub fn salt_len(self) -> usize {
        match self {
            SrtpSuite::AeadAes128Gcm => 12,
            _ => 14,
        }
    }

    /// Length of key and salt together, as SDES carries them.
    pub fn master_len(self) -> usize {
        self.key_len() + self.salt_len()
    }

    fn profile(self) -> ProtectionProfile {
        match self {
            SrtpSuite::AesCm128HmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
            SrtpSuite::AesCm128HmacSha1_32 => ProtectionProfile::Aes128CmHmacSha1_32,
            SrtpSuite::AeadAes128Gcm => ProtectionProfile::AeadAes128Gcm,
        }
    }
}

/// The keys of one leg: what its peer sends with and what Ringside sends with, each the
/// master key followed by the master salt.
#[derive(Clone, PartialEq, Eq)]
pub struct SrtpKeys {
    /// Crypto suite of both directions.
    pub suite: SrtpSuite,
    /// The peer's master key and salt (decrypts what it sends).
    pub remote: Vec<u8>,
    /// Ringside's master key and salt on this leg (encrypts what Ringside sends).
    pub local: Vec<u8>,
}

impl std::fmt::Debug for SrtpKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys never reach a log.
        f.debug_struct("SrtpKeys")
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

fn provider() -> Option<&'static Arc<dyn RTCCryptoProvider>> {
    static PROVIDER: OnceLock<Option<Arc<dyn RTCCryptoProvider>>> = OnceLock::new();
    PROVIDER.get_or_init(|| default_provider().ok()).as_ref()
}

/// Fresh random master key and salt for `suite`, from the crypto provider's secure source.
pub fn random_master(suite: SrtpSuite) -> Result<Vec<u8>, MediaError> {
    let p = provider().ok_or_else(|| MediaError::Srtp("no crypto provider".into()))?;
    let mut out = vec![0u8; suite.master_len()];
    p.random()
        .fill(&mut out)
        .map_err(|e| MediaError::Srtp(e.to_string()))?;
    Ok(out)
}

/// The receive and send contexts of one leg.
pub struct SrtpSession {
    keys: SrtpKeys,
    rx: Context,
    tx: Context,
    /// SRTCP's own contexts, where RTCP was keyed apart (a DTLS-SRTP leg whose RTCP port ran
    /// its own handshake, RFC 5764 §4.1); otherwise RTCP uses `rx`/`tx`.
    rtcp: Option<(SrtpKeys, Context, Context)>,
}

impl std::fmt::Debug for SrtpSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrtpSession")
            .field("suite", &self.keys.suite)
            .finish_non_exhaustive()
    }
}

fn context(suite: SrtpSuite, master: &[u8], replay: bool) -> Result<Context, MediaError> {
    if master.len() != suite.master_len() {
        return Err(MediaError::Srtp(format!(
            "{} needs {} bytes of key and salt, got {}",
            suite.name(),
            suite.master_len(),
            master.len()
        )));
    }
    let p = provider().ok_or_else(|| MediaError::Srtp("no crypto provider".into()))?;
    let (key, salt) = master.split_at(suite.key_len());
    let (rtp, rtcp) = if replay {
        (
            Some(srtp_replay_protection(REPLAY_WINDOW)),
            Some(srtcp_replay_protection(REPLAY_WINDOW)),
        )
    } else {
        (None, None)
    };
    Context::new(key, salt, suite.profile(), rtp, rtcp, p.crypto())
        .map_err(|e| MediaError::Srtp(e.to_string()))
}

impl SrtpSession {
    /// Contexts for `keys` (replay protection on what arrives).
    pub fn new(keys: SrtpKeys) -> Result<Self, MediaError> {
        let rx = context(keys.suite, &keys.remote, true)?;
        let tx = context(keys.suite, &keys.local, false)?;
        Ok(SrtpSession {
            keys,
            rx,
            tx,
            rtcp: None,
        })
    }

    /// Keys SRTCP with `keys` instead of the session's own (kept when they are the same).
    pub fn set_rtcp_keys(&mut self, keys: &SrtpKeys) -> Result<(), MediaError> {
        if self.rtcp.as_ref().is_some_and(|(k, _, _)| k == keys) {
            return Ok(());
        }
        let rx = context(keys.suite, &keys.remote, true)?;
        let tx = context(keys.suite, &keys.local, false)?;
        self.rtcp = Some((keys.clone(), rx, tx));
        Ok(())
    }

    /// The keys this session was made from.
    pub fn keys(&self) -> &SrtpKeys {
        &self.keys
    }

    /// Authenticates and decrypts the SRTP packet `buf[..len]` in place; the plain packet's
    /// length, or `None` (forged, replayed, too short) when it must be dropped.
    pub fn unprotect_rtp(&mut self, buf: &mut [u8], len: usize) -> Option<usize> {
        let plain = self.rx.decrypt_rtp(&buf[..len]).ok()?;
        copy_back(buf, &plain)
    }

    /// Authenticates and decrypts the SRTCP packet `data` (a copy; RTCP is rare).
    pub fn unprotect_rtcp(&mut self, data: &[u8]) -> Option<Vec<u8>> {
        let rx = match self.rtcp.as_mut() {
            Some((_, rx, _)) => rx,
            None => &mut self.rx,
        };
        rx.decrypt_rtcp(data).ok().map(|b| b.to_vec())
    }

    /// Encrypts the RTP packet `buf[..len]` in place (`buf` needs [`MAX_OVERHEAD`] bytes to
    /// spare); the protected length, or `None` if it cannot be sent.
    pub fn protect_rtp(&mut self, buf: &mut [u8], len: usize) -> Option<usize> {
        let sealed = self.tx.encrypt_rtp(&buf[..len]).ok()?;
        copy_back(buf, &sealed)
    }

    /// Encrypts a generated RTP (or, with `rtcp`, RTCP) datagram held in `data`.
    pub fn protect_vec(&mut self, data: &mut Vec<u8>, rtcp: bool) -> bool {
        let sealed = if rtcp {
            match self.rtcp.as_mut() {
                Some((_, _, tx)) => tx.encrypt_rtcp(data),
                None => self.tx.encrypt_rtcp(data),
            }
        } else {
            self.tx.encrypt_rtp(data)
        };
        match sealed {
            Ok(s) => {
                data.clear();
                data.extend_from_slice(&s);
                true
            }
            Err(_) => false,
        }
    }
}

fn copy_back(buf: &mut [u8], out: &[u8]) -> Option<usize> {
    let dst = buf.get_mut(..out.len())?;
    dst.copy_from_slice(out);
    Some(out.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(seq: u16, ssrc: u32, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, 0, (seq >> 8) as u8, seq as u8, 0, 0, 0, 160];
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    fn pair(suite: SrtpSuite) -> (SrtpSession, SrtpSession) {
        let a = random_master(suite).unwrap();
        let b = random_master(suite).unwrap();
        let alice = SrtpSession::new(SrtpKeys {
            suite,
            remote: b.clone(),
            local: a.clone(),
        })
        .unwrap();
        let bob = SrtpSession::new(SrtpKeys {
            suite,
            remote: a,
            local: b,
        })
        .unwrap();
        (alice, bob)
    }

    #[test]
    fn every_suite_round_trips_and_refuses_forgeries_and_replays() {
        for suite in SrtpSuite::ALL {
            let (mut alice, mut bob) = pair(suite);
            let plain = rtp(7, 0x1234, &[0x55; 160]);
            let mut buf = vec![0u8; 1500];
            buf[..plain.len()].copy_from_slice(&plain);
            let n = alice.protect_rtp(&mut buf, plain.len()).unwrap();
            let tag = match suite {
                SrtpSuite::AesCm128HmacSha1_80 => 10,
                SrtpSuite::AesCm128HmacSha1_32 => 4,
                SrtpSuite::AeadAes128Gcm => 16,
            };
            assert_eq!(n, plain.len() + tag, "{suite:?}");
            assert_ne!(&buf[12..172], &plain[12..], "{suite:?}: payload encrypted");
            let wire = buf[..n].to_vec();
            // One flipped payload bit: refused.
            let mut forged = wire.clone();
            forged[20] ^= 1;
            forged.resize(1500, 0);
            assert_eq!(bob.unprotect_rtp(&mut forged, n), None, "{suite:?}");
            let mut ok = wire.clone();
            ok.resize(1500, 0);
            let m = bob.unprotect_rtp(&mut ok, n).unwrap();
            assert_eq!(&ok[..m], &plain[..], "{suite:?}");
            // The same packet again: a replay.
            let mut again = wire.clone();
            again.resize(1500, 0);
            assert_eq!(bob.unprotect_rtp(&mut again, n), None, "{suite:?}");

            // SRTCP the other way: a receiver report.
            let mut rr = vec![0x80, 201, 0, 1, 0, 0, 0x43, 0x21];
            assert!(bob.protect_vec(&mut rr, true));
            assert!(rr.len() > 8);
            let back = alice.unprotect_rtcp(&rr).unwrap();
            assert_eq!(back, vec![0x80, 201, 0, 1, 0, 0, 0x43, 0x21]);
            rr[6] ^= 0x80;
            assert_eq!(alice.unprotect_rtcp(&rr), None);
        }
    }

    #[test]
    fn the_other_legs_key_does_not_open_a_packet() {
        let suite = SrtpSuite::AesCm128HmacSha1_80;
        let (mut alice, _) = pair(suite);
        let (_, mut stranger) = pair(suite);
        let plain = rtp(1, 9, &[1; 20]);
        let mut buf = vec![0u8; 200];
        buf[..plain.len()].copy_from_slice(&plain);
        let n = alice.protect_rtp(&mut buf, plain.len()).unwrap();
        assert_eq!(stranger.unprotect_rtp(&mut buf, n), None);
    }

    #[test]
    fn wrong_key_lengths_are_refused() {
        let keys = SrtpKeys {
            suite: SrtpSuite::AeadAes128Gcm,
            remote: vec![0; 30],
            local: vec![0; 28],
        };
        assert!(SrtpSession::new(keys).is_err());
        assert_eq!(
            SrtpSuite::from_name("AES_CM_128_HMAC_SHA1_32"),
            Some(SrtpSuite::AesCm128HmacSha1_32)
        );
        assert_eq!(SrtpSuite::from_name("F8_128_HMAC_SHA1_80"), None);
    }
}
