//! DTLS-SRTP on a SIP leg (RFC 5763, RFC 5764): the SRTP keys of a leg whose phone offered
//! `UDP/TLS/RTP/SAVP` come from a DTLS handshake on the leg's own media ports instead of from
//! the SDP (SDES, [`crate::srtp`]).
//!
//! The signalling decides the roles and learns the phone's certificate fingerprint
//! ([`DtlsSetup`]); the leg's [`CallMedia`](crate::bridge::CallMedia) then runs one
//! [`Association`] per media component (RTP, and RTCP unless multiplexed) on the relay's
//! sockets. Datagrams whose first byte is 20..=63 are DTLS (RFC 7983 demultiplexing) and go to
//! the association; the handshake's flights go back out of the same socket. The peer's
//! certificate must hash to the fingerprint its SDP gave (checked during the handshake: a
//! wrong one ends it with a `bad_certificate` alert), and once it completes the keys exported
//! with the `EXTRACTOR-dtls_srtp` label become the leg's [`SrtpKeys`]. Until then the leg takes
//! nothing unencrypted.
//!
//! Ringside has one self-signed ECDSA certificate per process ([`local_fingerprint`]), as
//! browsers make one per peer connection: what authenticates it to the phone is the
//! fingerprint in Ringside's SDP, which travels over the (TLS-protected, where configured)
//! signalling.

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::BytesMut;
use rtc::dtls::config::{ClientAuthType, ConfigBuilder, HandshakeConfig};
use rtc::dtls::crypto::Certificate;
use rtc::dtls::endpoint::{Endpoint, EndpointEvent};
use rtc::dtls::extension::extension_use_srtp::SrtpProtectionProfile;
use rtc::shared::TransportProtocol;
use rtc::srtp::crypto::{default_provider, RTCCryptoProvider};
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::srtp::{SrtpKeys, SrtpSuite};
use crate::MediaError;

/// The exporter label of RFC 5764 §4.2.
const EXPORTER_LABEL: &str = "EXTRACTOR-dtls_srtp";

/// Handshakes a leg's component will run at once (from different addresses): one is the
/// phone, the others strangers who cannot finish (their certificate is not the phone's).
const MAX_ASSOCIATIONS: usize = 4;

/// A handshake from an address other than the one the phone's SDP gave that has not finished
/// in this long is dropped, so that strangers cannot hold the slots.
const STRANGER_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// True when a datagram on a media port is a DTLS record (RFC 7983 §7: first byte 20..=63).
pub fn is_dtls(data: &[u8]) -> bool {
    matches!(data.first(), Some(20..=63))
}

/// Which end of the handshake Ringside is on a leg (RFC 4145 `a=setup`: `active` is the
/// client, `passive` the server).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtlsRole {
    /// Ringside sends the ClientHello.
    Client,
    /// Ringside waits for the phone's ClientHello.
    Server,
}

impl DtlsRole {
    /// The `a=setup` value Ringside puts in its SDP for this role.
    pub fn setup(self) -> &'static str {
        match self {
            DtlsRole::Client => "active",
            DtlsRole::Server => "passive",
        }
    }
}

/// The hash of a certificate fingerprint (RFC 8122 §5; SHA-1 and MD5 are not accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgorithm {
    /// `sha-256`.
    Sha256,
    /// `sha-384`.
    Sha384,
    /// `sha-512`.
    Sha512,
}

impl HashAlgorithm {
    fn name(self) -> &'static str {
        match self {
            HashAlgorithm::Sha256 => "sha-256",
            HashAlgorithm::Sha384 => "sha-384",
            HashAlgorithm::Sha512 => "sha-512",
        }
    }

    fn digest(self, der: &[u8]) -> Vec<u8> {
        match self {
            HashAlgorithm::Sha256 => Sha256::digest(der).to_vec(),
            HashAlgorithm::Sha384 => Sha384::digest(der).to_vec(),
            HashAlgorithm::Sha512 => Sha512::digest(der).to_vec(),
        }
    }
}

/// A certificate fingerprint as SDP's `a=fingerprint` carries it.
#[derive(Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// The hash function.
    pub algorithm: HashAlgorithm,
    /// The certificate's hash.
    pub digest: Vec<u8>,
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl fmt::Display for Fingerprint {
    /// The attribute value: `sha-256 AB:CD:...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.algorithm.name())?;
        for (i, b) in self.digest.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl Fingerprint {
    /// Parses an `a=fingerprint` value (`sha-256 AB:CD:...`, hash name case-insensitive).
    /// `None` for a hash Ringside does not accept or a digest of the wrong length.
    pub fn parse(value: &str) -> Option<Fingerprint> {
        let (alg, hex) = value.trim().split_once(' ')?;
        let algorithm = match alg.to_ascii_lowercase().as_str() {
            "sha-256" => HashAlgorithm::Sha256,
            "sha-384" => HashAlgorithm::Sha384,
            "sha-512" => HashAlgorithm::Sha512,
            _ => return None,
        };
        let digest = hex
            .trim()
            .split(':')
            .map(|b| {
                (b.len() == 2)
                    .then(|| u8::from_str_radix(b, 16).ok())
                    .flatten()
            })
            .collect::<Option<Vec<u8>>>()?;
        (digest.len() == algorithm.digest(&[]).len()).then_some(Fingerprint { algorithm, digest })
    }

    /// The fingerprint of the DER certificate `der` under `algorithm`.
    pub fn of(algorithm: HashAlgorithm, der: &[u8]) -> Fingerprint {
        Fingerprint {
            algorithm,
            digest: algorithm.digest(der),
        }
    }

    /// Whether `der` is the certificate this fingerprint names.
    pub fn matches(&self, der: &[u8]) -> bool {
        self.algorithm.digest(der) == self.digest
    }
}

/// What the signalling agreed for a leg's DTLS-SRTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DtlsSetup {
    /// Ringside's role.
    pub role: DtlsRole,
    /// The phone's certificate fingerprint, from its SDP.
    pub remote: Fingerprint,
    /// The phone's RTP address, from its SDP (where a client sends its ClientHello).
    pub peer: Option<SocketAddr>,
}

struct Identity {
    certificate: Certificate,
    fingerprint: Fingerprint,
}

fn provider() -> Option<&'static Arc<dyn RTCCryptoProvider>> {
    static PROVIDER: OnceLock<Option<Arc<dyn RTCCryptoProvider>>> = OnceLock::new();
    PROVIDER.get_or_init(|| default_provider().ok()).as_ref()
}

fn identity() -> Result<&'static Identity, MediaError> {
    static IDENTITY: OnceLock<Option<Identity>> = OnceLock::new();
    IDENTITY
        .get_or_init(|| {
            let p = provider()?;
            let certificate =
                Certificate::generate_self_signed(vec!["ringside".to_owned()], p.crypto()).ok()?;
            let fingerprint = Fingerprint::of(
                HashAlgorithm::Sha256,
                certificate.certificate.first()?.as_ref(),
            );
            Some(Identity {
                certificate,
                fingerprint,
            })
        })
        .as_ref()
        .ok_or_else(|| MediaError::Srtp("no DTLS certificate could be made".into()))
}

/// The fingerprint of Ringside's DTLS certificate, for its SDP (`None`: no crypto provider).
pub fn local_fingerprint() -> Option<Fingerprint> {
    identity().ok().map(|i| i.fingerprint.clone())
}

fn suite_of(profile: SrtpProtectionProfile) -> Option<SrtpSuite> {
    match profile {
        SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm => Some(SrtpSuite::AeadAes128Gcm),
        SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80 => Some(SrtpSuite::AesCm128HmacSha1_80),
        SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_32 => Some(SrtpSuite::AesCm128HmacSha1_32),
        _ => None,
    }
}

fn config(setup: &DtlsSetup) -> Result<Arc<HandshakeConfig>, MediaError> {
    let id = identity()?;
    let p = provider().ok_or_else(|| MediaError::Srtp("no crypto provider".into()))?;
    let expected = setup.remote.clone();
    let builder = ConfigBuilder::default()
        .with_crypto_provider(p.clone())
        .with_certificates(vec![id.certificate.clone()])
        .with_srtp_protection_profiles(vec![
            SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm,
            SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80,
            SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_32,
        ])
        // Self-signed certificates on both ends: what authenticates the peer is the
        // fingerprint its SDP gave, checked here.
        .with_insecure_skip_verify(true)
        .with_client_auth(ClientAuthType::RequireAnyClientCert)
        .with_verify_peer_certificate(Some(Arc::new(move |certs: &[Vec<u8>], _| {
            match certs.first() {
                Some(der) if expected.matches(der) => Ok(()),
                _ => Err(rtc::shared::error::Error::Other(
                    "certificate does not match the SDP fingerprint".into(),
                )),
            }
        })));
    builder
        .build(setup.role == DtlsRole::Client, setup.peer)
        .map(Arc::new)
        .map_err(|e| MediaError::Srtp(format!("DTLS configuration: {e}")))
}

/// How one component's handshake stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtlsState {
    /// Under way (or not begun: a server waits for the ClientHello).
    Handshaking,
    /// Done: keys exported.
    Connected,
    /// Given up (retransmissions exhausted, or a fatal alert).
    Failed,
}

/// The DTLS association of one media component (RTP or RTCP) of a leg.
pub struct Association {
    endpoint: Endpoint,
    role: DtlsRole,
    /// The address the keys were agreed with.
    peer: Option<SocketAddr>,
    /// Where the phone's SDP says it is: its handshake always gets a slot.
    expected: Option<SocketAddr>,
    /// When each handshake not finished yet began.
    started: std::collections::HashMap<SocketAddr, Instant>,
    keys: Option<SrtpKeys>,
    state: DtlsState,
}

impl fmt::Debug for Association {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Association")
            .field("role", &self.role)
            .field("state", &self.state)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl Association {
    /// An association for `setup`; a client sends its ClientHello to `to` at once.
    pub fn new(
        now: Instant,
        setup: &DtlsSetup,
        to: Option<SocketAddr>,
    ) -> Result<Self, MediaError> {
        let cfg = config(setup)?;
        // The endpoint only stamps this on what it queues; the relay sends from its own socket.
        let local = SocketAddr::from(([0, 0, 0, 0], 0));
        let mut a = Association {
            endpoint: Endpoint::new(
                local,
                TransportProtocol::UDP,
                (setup.role == DtlsRole::Server).then(|| cfg.clone()),
            ),
            role: setup.role,
            peer: None,
            expected: to,
            started: std::collections::HashMap::new(),
            keys: None,
            state: DtlsState::Handshaking,
        };
        if setup.role == DtlsRole::Client {
            let to = to.ok_or_else(|| MediaError::Srtp("DTLS client without a peer".into()))?;
            a.endpoint
                .connect(now, to, cfg, None)
                .map_err(|e| MediaError::Srtp(format!("DTLS connect: {e}")))?;
        }
        Ok(a)
    }

    /// Where the handshake stands.
    pub fn state(&self) -> DtlsState {
        self.state
    }

    /// The SRTP keys, once the handshake is done.
    pub fn keys(&self) -> Option<&SrtpKeys> {
        self.keys.as_ref()
    }

    /// A DTLS datagram from `from`. True when it completed the handshake (the keys are new).
    pub fn handle(&mut self, now: Instant, from: SocketAddr, data: &[u8]) -> bool {
        if self.keys.is_some() && self.peer != Some(from) {
            // Keyed: only the peer's records (a repeated last flight) still matter.
            return false;
        }
        let known = self.endpoint.get_connections_keys().any(|a| *a == from);
        if !known && !self.make_room(now, from) {
            return false;
        }
        if !known && self.role == DtlsRole::Server {
            self.started.insert(from, now);
        }
        let events = match self.endpoint.read(now, from, None, BytesMut::from(data)) {
            Ok(events) => events,
            Err(e) => {
                tracing::debug!(%from, error = %e, "DTLS record refused");
                if self.expected != Some(from) && self.keys.is_none() {
                    // A stranger's garbage or failed handshake holds no slot.
                    self.endpoint.stop(now, from);
                    self.started.remove(&from);
                }
                if !self.endpoint.get_connections_keys().any(|a| *a == from) {
                    // The handshake with `from` ended (a fatal alert went out).
                    self.fail_if_alone();
                }
                return false;
            }
        };
        let mut completed = false;
        for e in events {
            if let EndpointEvent::HandshakeComplete = e {
                completed |= self.export(now, from);
            }
        }
        completed
    }

    /// Whether a handshake from the new address `from` may start: strangers' handshakes that
    /// never finished are dropped after [`STRANGER_TTL`], and when every slot is still taken
    /// the phone's own address (from its SDP) displaces the oldest stranger.
    fn make_room(&mut self, now: Instant, from: SocketAddr) -> bool {
        let stale: Vec<SocketAddr> = self
            .started
            .iter()
            .filter(|(a, t)| Some(**a) != self.expected && now.duration_since(**t) >= STRANGER_TTL)
            .map(|(a, _)| *a)
            .collect();
        for a in stale {
            self.endpoint.stop(now, a);
            self.started.remove(&a);
        }
        if self.endpoint.get_connections_keys().count() < MAX_ASSOCIATIONS {
            return true;
        }
        if self.expected != Some(from) {
            return false;
        }
        let oldest = self
            .started
            .iter()
            .filter(|(a, _)| Some(**a) != self.expected)
            .min_by_key(|(_, t)| **t)
            .map(|(a, _)| *a);
        match oldest {
            Some(a) => {
                self.endpoint.stop(now, a);
                self.started.remove(&a);
                true
            }
            None => false,
        }
    }

    fn fail_if_alone(&mut self) {
        if self.keys.is_none() && self.endpoint.get_connections_keys().count() == 0 {
            self.state = match self.role {
                // A server goes on waiting for the phone's (next) ClientHello.
                DtlsRole::Server => DtlsState::Handshaking,
                DtlsRole::Client => DtlsState::Failed,
            };
        }
    }

    fn export(&mut self, now: Instant, from: SocketAddr) -> bool {
        let Some(state) = self.endpoint.get_connection_state(from) else {
            return false;
        };
        let Some(suite) = suite_of(state.srtp_protection_profile()) else {
            tracing::warn!(%from, "DTLS handshake without a usable SRTP profile");
            self.state = DtlsState::Failed;
            return false;
        };
        let (k, s) = (suite.key_len(), suite.salt_len());
        let Ok(material) = state.export_keying_material(EXPORTER_LABEL, &[], 2 * (k + s)) else {
            self.state = DtlsState::Failed;
            return false;
        };
        let m = material.as_ref();
        // RFC 5764 §4.2: client key, server key, client salt, server salt.
        let client = [&m[..k], &m[2 * k..2 * k + s]].concat();
        let server = [&m[k..2 * k], &m[2 * k + s..2 * k + 2 * s]].concat();
        let (local, remote) = match self.role {
            DtlsRole::Client => (client, server),
            DtlsRole::Server => (server, client),
        };
        self.keys = Some(SrtpKeys {
            suite,
            remote,
            local,
        });
        self.peer = Some(from);
        self.state = DtlsState::Connected;
        // Others' half-done handshakes are of no further use.
        let others: Vec<SocketAddr> = self
            .endpoint
            .get_connections_keys()
            .filter(|a| **a != from)
            .copied()
            .collect();
        for a in others {
            // (Their close_notify goes out with the rest.)
            self.endpoint.stop(now, a);
        }
        self.started.clear();
        true
    }

    /// The next datagram to send: its destination and bytes.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, BytesMut)> {
        self.endpoint
            .poll_transmit()
            .map(|t| (t.transport.peer_addr, t.message))
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due (handshake retransmissions).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.endpoint
            .get_connections_keys()
            .filter_map(|a| self.endpoint.poll_timeout(a))
            .min()
    }

    /// Retransmits flights due at `now`; a handshake out of retransmissions ends.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<SocketAddr> = self
            .endpoint
            .get_connections_keys()
            .filter(|a| self.endpoint.poll_timeout(a).is_some_and(|t| now >= t))
            .copied()
            .collect();
        for a in due {
            if self.endpoint.handle_timeout(a, now).is_err() {
                tracing::info!(peer = %a, "DTLS handshake gave up");
                self.endpoint.stop(now, a);
                self.fail_if_alone();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(a: &mut Association, a_addr: SocketAddr, b: &mut Association, b_addr: SocketAddr) {
        let now = Instant::now();
        for _ in 0..20 {
            let mut moved = false;
            // (Anything to a third address, such as a close_notify to a stranger, is lost.)
            while let Some((to, data)) = a.poll_transmit() {
                if to == b_addr {
                    b.handle(now, a_addr, &data);
                    moved = true;
                }
            }
            while let Some((to, data)) = b.poll_transmit() {
                if to == a_addr {
                    a.handle(now, b_addr, &data);
                    moved = true;
                }
            }
            if !moved {
                break;
            }
        }
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn strangers_cannot_hold_the_handshake_slots_the_phone_needs() {
        let me = local_fingerprint().unwrap();
        let now = Instant::now();
        let phone = addr(4000);
        let setup = DtlsSetup {
            role: DtlsRole::Server,
            remote: me.clone(),
            peer: Some(phone),
        };
        let mut server = Association::new(now, &setup, Some(phone)).unwrap();
        // Strangers fill every slot with ClientHellos of their own.
        let client_setup = DtlsSetup {
            role: DtlsRole::Client,
            remote: me,
            peer: Some(addr(1)),
        };
        for port in 0..8u16 {
            let mut stranger = Association::new(now, &client_setup, Some(addr(1))).unwrap();
            while let Some((_, d)) = stranger.poll_transmit() {
                server.handle(now, addr(9000 + port), &d);
            }
        }
        assert_eq!(
            server.endpoint.get_connections_keys().count(),
            MAX_ASSOCIATIONS
        );
        // A stranger's garbage takes no slot.
        server.handle(now, addr(9100), &[22, 0xfe, 0xfd, 0, 0]);
        assert_eq!(
            server.endpoint.get_connections_keys().count(),
            MAX_ASSOCIATIONS
        );
        // (What went to the strangers.)
        while server.poll_transmit().is_some() {}
        // The phone still gets through, and completes.
        let mut client = Association::new(now, &client_setup, Some(addr(1))).unwrap();
        let (_, hello) = client.poll_transmit().unwrap();
        server.handle(now, phone, &hello);
        // The oldest stranger made way (its close_notify goes to it).
        while let Some((to, d)) = server.poll_transmit() {
            if to == phone {
                client.handle(now, addr(1), &d);
            }
        }
        run(&mut client, phone, &mut server, addr(1));
        assert_eq!(server.state(), DtlsState::Connected);
        assert!(server.keys().is_some());
        // Once keyed, others are not listened to.
        assert!(!server.handle(now, addr(9200), &[22, 0xfe, 0xfd]));
    }

    #[test]
    fn fingerprints_parse_print_and_refuse_weak_hashes() {
        let fp = local_fingerprint().unwrap();
        let text = fp.to_string();
        assert!(text.starts_with("sha-256 "), "{text}");
        assert_eq!(text.matches(':').count(), 31);
        assert_eq!(Fingerprint::parse(&text), Some(fp.clone()));
        // baresip writes the hash name in capitals.
        assert_eq!(
            Fingerprint::parse(&text.replace("sha-256", "SHA-256")),
            Some(fp)
        );
        assert_eq!(Fingerprint::parse("sha-1 AB:CD"), None);
        assert_eq!(Fingerprint::parse("sha-256 AB:CD"), None);
        assert_eq!(Fingerprint::parse("sha-256"), None);
    }

    #[test]
    fn both_ends_agree_on_keys_and_a_wrong_certificate_gets_none() {
        // Ringside talks to itself: both ends use the process certificate.
        let me = local_fingerprint().unwrap();
        let now = Instant::now();
        let server_setup = DtlsSetup {
            role: DtlsRole::Server,
            remote: me.clone(),
            peer: None,
        };
        let client_setup = DtlsSetup {
            role: DtlsRole::Client,
            remote: me.clone(),
            peer: Some(addr(4000)),
        };
        let mut server = Association::new(now, &server_setup, None).unwrap();
        let mut client = Association::new(now, &client_setup, Some(addr(4000))).unwrap();
        run(&mut client, addr(5000), &mut server, addr(4000));
        assert_eq!(server.state(), DtlsState::Connected);
        assert_eq!(client.state(), DtlsState::Connected);
        let (s, c) = (server.keys().unwrap(), client.keys().unwrap());
        assert_eq!(s.suite, c.suite);
        assert_eq!(s.local, c.remote);
        assert_eq!(s.remote, c.local);
        assert_ne!(s.local, s.remote);
        assert_eq!(s.local.len(), s.suite.master_len());

        // A server expecting another certificate never finishes.
        let mut wrong = me.digest.clone();
        wrong[0] ^= 0xff;
        let strict = DtlsSetup {
            role: DtlsRole::Server,
            remote: Fingerprint {
                algorithm: HashAlgorithm::Sha256,
                digest: wrong,
            },
            peer: None,
        };
        let mut server = Association::new(now, &strict, None).unwrap();
        let mut client = Association::new(now, &client_setup, Some(addr(4000))).unwrap();
        run(&mut client, addr(5000), &mut server, addr(4000));
        assert!(server.keys().is_none());
        assert_ne!(server.state(), DtlsState::Connected);
        assert_ne!(client.state(), DtlsState::Connected);
    }
}
