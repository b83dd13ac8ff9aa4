//! SRTP keys on SIP legs (SDES, RFC 4568, or DTLS-SRTP, RFC 5763): each leg is keyed on its
//! own, so two phones never learn each other's keys and either leg may be plain while the
//! other is encrypted.
//!
//! The rest of the B2BUA works on plain SDP (`RTP/AVP`, no `a=crypto`). An SDP arriving from a
//! leg goes through [`SdesLeg::take_offer`] or [`SdesLeg::take_answer`], which check the leg's
//! [`SrtpPolicy`], remember the peer's key and strip the keys; an SDP going to a leg goes through
//! [`SdesLeg::put_offer`] or [`SdesLeg::put_answer`], which add Ringside's own key for that
//! leg. Once both directions' keys are known the leg's [`SrtpKeys`] are what the relay uses
//! ([`SdesLeg::state`]).
//!
//! **Passthrough** (both legs allow it, `srtpPassthrough`, and both key with SDES): the other
//! leg's peer's key is offered first ([`MIRROR_TAG`]) and, when picked, is what Ringside sends
//! to this leg with; an answer to a leg's offer carries the key the other leg's peer sends
//! with, where that peer was given this leg's key. The relay then sends packets on as they
//! came (see `ringside-media`'s bridge), still authenticating each one. A key once answered
//! is kept for the rest of the offer/answer (18x then 2xx), so a leg already answered with
//! Ringside's own key stays re-keyed.
//!
//! A leg that offers DTLS-SRTP (`UDP/TLS/RTP/SAVP(F)` with `a=fingerprint`) is answered with
//! Ringside's certificate fingerprint and the opposite `a=setup`; its keys then come from the
//! handshake the relay runs on the leg's ports ([`LegKeys::dtls`] is what the relay needs).
//! Ringside's re-offers to such a leg keep the association: same fingerprint, and `active` or
//! `passive` for the role it has (RFC 8842 §5.5). Ringside's own first offers carry SDES keys as
//! the leg's policy says, or, under [`SrtpPolicy::Dtls`] (phones that key by a handshake alone),
//! offer DTLS-SRTP with `a=setup:actpass`: the answer's `active` or `passive` decides which end
//! starts the handshake.

use std::net::SocketAddr;

use ringside_domain::SrtpPolicy;
use ringside_media::dtls::{local_fingerprint, DtlsRole, DtlsSetup, Fingerprint};
use ringside_media::srtp::{random_master, SrtpKeys, SrtpSuite};
use ringside_sip::sdp::{Crypto, MediaSection, SessionDescription};

/// An offered `a=crypto` line Ringside can use: tag, suite, the offerer's key and salt.
type Line = (u32, SrtpSuite, Vec<u8>);

/// The tag of the line carrying the other leg's peer's key (passthrough); Ringside's own
/// lines are tagged 1 to 3, one per suite.
const MIRROR_TAG: u32 = 4;

/// SRTP state of one leg.
#[derive(Debug, Default)]
pub(crate) struct SdesLeg {
    /// The leg's policy (leg B: the answering fork's).
    pub(crate) policy: SrtpPolicy,
    /// Ringside's master key per suite on this leg, made on first use and kept across
    /// re-offers (so a re-INVITE does not restart the peer's decryption).
    ours: Vec<(SrtpSuite, Vec<u8>)>,
    /// The crypto lines of Ringside's last offer to the leg (empty: a plain offer).
    offered: Vec<(u32, SrtpSuite)>,
    /// The leg's last offer: the line Ringside accepts (`None`: plain) and its transport.
    their_offer: Option<(Option<Line>, String)>,
    /// The keys in use.
    keys: Option<SrtpKeys>,
    /// The leg's last offer was DTLS-SRTP: what answering it sets up, and its transport.
    their_dtls: Option<(DtlsSetup, String)>,
    /// Ringside's last offer to the leg was DTLS-SRTP (in this transport).
    offered_dtls: Option<String>,
    /// DTLS-SRTP in use on the leg (its keys come from the handshake), and its transport.
    dtls: Option<(DtlsSetup, String)>,
    /// The leg allows SRTP passthrough (its extension's or trunk's `srtpPassthrough`; leg B:
    /// every target rung does).
    pub(crate) passthrough: bool,
    /// Ringside's last offer to the leg carried the other leg's peer's key on a line tagged
    /// [`MIRROR_TAG`]: its suite and that key.
    offered_mirror: Option<(SrtpSuite, Vec<u8>)>,
}

/// A peer's sending key: suite, master key and salt.
pub(crate) type PeerKey = (SrtpSuite, Vec<u8>);

/// What keys a leg's media: SDES keys, or a DTLS-SRTP handshake to run, or neither (plain).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LegKeys {
    pub(crate) sdes: Option<SrtpKeys>,
    pub(crate) dtls: Option<DtlsSetup>,
}

impl LegKeys {
    /// Tells `media` what changed on `side` since `before`.
    pub(crate) fn sync(
        &self,
        before: &LegKeys,
        media: &dyn crate::media::MediaBridge,
        side: ringside_media::Side,
    ) {
        if self.dtls != before.dtls && self.dtls.is_none() {
            media.set_dtls(side, None);
        }
        if self.sdes != before.sdes {
            media.set_srtp(side, self.sdes.clone());
        }
        if self.dtls != before.dtls && self.dtls.is_some() {
            media.set_dtls(side, self.dtls.clone());
        }
    }
}

/// The transport of Ringside's own first DTLS-SRTP offers: the AVP profile, as Ringside
/// terminates RTCP on each leg (no feedback to promise).
const DTLS_OFFER_PROTO: &str = "UDP/TLS/RTP/SAVP";

fn is_dtls_proto(proto: &str) -> bool {
    proto.to_ascii_uppercase().starts_with("UDP/TLS/RTP/SAVP")
}

/// The value of attribute `name` in the first audio section, else at session level.
fn attr(sdp: &SessionDescription, name: &str) -> Option<String> {
    let m = sdp.media().iter().find(|m| m.media_line().media == "audio");
    m.and_then(|m| m.attribute(name))
        .map(str::to_owned)
        .or_else(|| {
            sdp.session_attributes()
                .find(|a| a.name == name)
                .and_then(|a| a.value.clone())
        })
}

/// The peer's DTLS parameters in `sdp` (a DTLS-SRTP offer or answer): its fingerprint, what
/// its `a=setup` leaves Ringside (`current`: the role in use, kept on `actpass`), and its RTP
/// address. `None`: no usable fingerprint, or `holdconn`.
fn their_dtls(sdp: &SessionDescription, current: Option<DtlsRole>) -> Option<DtlsSetup> {
    let remote = Fingerprint::parse(&attr(sdp, "fingerprint")?)?;
    // RFC 4145 §4: no a=setup means `active`.
    let role = match attr(sdp, "setup")
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("actpass") => current.unwrap_or(DtlsRole::Server),
        Some("passive") => DtlsRole::Client,
        Some("active") | None => DtlsRole::Server,
        _ => return None,
    };
    let audio = sdp.first_audio()?;
    let peer = audio
        .addr
        .filter(|_| audio.port != 0)
        .map(|ip| SocketAddr::new(ip, audio.port));
    Some(DtlsSetup { role, remote, peer })
}

/// The SDP with its DTLS attributes gone and the audio on plain `RTP/AVP` (see
/// [`plain_proto`]).
fn strip_dtls(sdp: &mut SessionDescription) {
    for name in ["fingerprint", "setup", "crypto", "tls-id"] {
        sdp.remove_attribute(name);
    }
    if let Some(m) = audio_mut(sdp) {
        m.media_line_mut().proto = "RTP/AVP".into();
    }
}

/// `plain` made DTLS-SRTP: `proto`, Ringside's fingerprint and `setup`.
fn put_dtls(plain: &str, proto: &str, setup: &str) -> Option<String> {
    let fingerprint = local_fingerprint()?;
    rewrite(plain, |m| {
        m.remove_attribute("crypto");
        m.media_line_mut().proto = proto.to_owned();
        m.push_attribute("setup", Some(setup));
        m.push_attribute("fingerprint", Some(&fingerprint.to_string()));
    })
}

/// Leg B's media takes nothing unencrypted when every fork's target requires SRTP (with one
/// that does not, the answer decides).
pub(crate) fn expect_keys(media: &dyn crate::media::MediaBridge, forks: &[super::Fork]) {
    if !forks.is_empty() && forks.iter().all(|f| f.srtp.requires_srtp()) {
        media.expect_srtp(ringside_media::Side::B);
    }
}

/// An SDP the leg's policy cannot accept: refuse the offer with 488 (or drop the answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotAcceptable;

fn audio_mut(sdp: &mut SessionDescription) -> Option<&mut MediaSection> {
    let i = sdp
        .media()
        .iter()
        .position(|m| m.media_line().media == "audio")?;
    sdp.media_mut(i)
}

/// The usable `a=crypto` lines of a section: known suite, one key of the right length, no
/// session parameters Ringside does not implement.
fn usable(m: &MediaSection) -> Vec<Line> {
    m.attributes()
        .filter(|a| a.name == "crypto")
        .filter_map(|a| Crypto::parse(a.value.as_deref()?).ok())
        .filter_map(|c| {
            let suite = SrtpSuite::from_name(&c.suite)?;
            (!c.uses_mki && c.session_params.is_empty() && c.key_salt.len() == suite.master_len())
                .then_some((c.tag, suite, c.key_salt))
        })
        .collect()
}

/// `RTP/SAVP` and `RTP/SAVPF` → `RTP/AVP`. Ringside terminates RTCP on each leg (feedback is
/// not relayed), so the other leg is offered the plain profile every phone takes: baresip
/// refuses an `RTP/AVPF` offer with 488.
fn plain_proto(proto: &str) -> Option<&'static str> {
    match proto.to_ascii_uppercase().as_str() {
        "RTP/SAVP" | "RTP/SAVPF" => Some("RTP/AVP"),
        _ => None,
    }
}

fn secure_proto(proto: &str) -> String {
    match proto.to_ascii_uppercase().as_str() {
        "RTP/AVPF" => "RTP/SAVPF".into(),
        "RTP/AVP" => "RTP/SAVP".into(),
        _ => proto.to_owned(),
    }
}

/// Strips keys and the secure profile, so the SDP reads as plain RTP.
fn strip(m: &mut MediaSection) {
    m.remove_attribute("crypto");
    if let Some(p) = plain_proto(&m.media_line().proto) {
        m.media_line_mut().proto = p.into();
    }
}

fn rewrite(text: &str, f: impl FnOnce(&mut MediaSection)) -> Option<String> {
    let mut sdp = SessionDescription::parse(text).ok()?;
    f(audio_mut(&mut sdp)?);
    Some(sdp.to_string())
}

impl SdesLeg {
    /// A leg under `policy`.
    pub(crate) fn new(policy: SrtpPolicy) -> Self {
        SdesLeg {
            policy,
            ..Default::default()
        }
    }

    /// What keys the leg's media now: SDES keys or a DTLS-SRTP handshake.
    pub(crate) fn state(&self) -> LegKeys {
        LegKeys {
            sdes: self.keys.clone(),
            dtls: self.dtls.as_ref().map(|(d, _)| d.clone()),
        }
    }

    /// The leg's answer to Ringside's DTLS re-offer: the association goes on (or a new one
    /// starts, when the phone changed its certificate or role); a plain answer ends DTLS
    /// unless the leg requires SRTP.
    fn take_dtls_answer(
        &mut self,
        mut sdp: SessionDescription,
        offered: String,
    ) -> Result<String, NotAcceptable> {
        let proto = sdp
            .media()
            .iter()
            .find(|m| m.media_line().media == "audio")
            .map(|m| m.media_line().proto.clone())
            .unwrap_or_default();
        if !is_dtls_proto(&proto) {
            if self.policy.requires_srtp() {
                return Err(NotAcceptable);
            }
            self.dtls = None;
            self.keys = None;
            strip_dtls(&mut sdp);
            return Ok(sdp.to_string());
        }
        let current = self.dtls.as_ref().map(|(d, _)| d.role);
        let mut setup = their_dtls(&sdp, current).ok_or(NotAcceptable)?;
        // Ringside offered its own role; the answer cannot take it.
        if let Some(role) = current {
            setup.role = role;
        } else if attr(&sdp, "setup").is_some_and(|s| s.eq_ignore_ascii_case("actpass")) {
            // `actpass` is no answer (RFC 5763 §5): rather than both ends waiting, Ringside
            // starts the handshake.
            setup.role = DtlsRole::Client;
        }
        self.keys = None;
        self.dtls = Some((setup, offered));
        strip_dtls(&mut sdp);
        Ok(sdp.to_string())
    }

    fn our_key(&mut self, suite: SrtpSuite) -> Option<Vec<u8>> {
        if let Some((_, k)) = self.ours.iter().find(|(s, _)| *s == suite) {
            return Some(k.clone());
        }
        let k = random_master(suite).ok()?;
        self.ours.push((suite, k.clone()));
        Some(k)
    }

    /// The key the leg's peer sends with, when passthrough may hand it to the other leg's
    /// peer: from its pending offer, else from the keys in use.
    pub(crate) fn key_to_pass(&self) -> Option<PeerKey> {
        if !self.passthrough || self.dtls.is_some() || self.their_dtls.is_some() {
            return None;
        }
        match &self.their_offer {
            Some((choice, _)) => choice.as_ref().map(|(_, s, k)| (*s, k.clone())),
            None => self.keys.as_ref().map(|k| (k.suite, k.remote.clone())),
        }
    }

    /// The key the leg's peer sends with, when that peer was given `given` (the key the
    /// other leg's peer sends with) to decrypt what Ringside sends it: answering the other
    /// leg with it completes the passthrough.
    pub(crate) fn key_for_answer(&self, given: &PeerKey) -> Option<PeerKey> {
        let k = self.keys.as_ref().filter(|_| self.passthrough)?;
        (k.suite == given.0 && k.local == given.1).then(|| (k.suite, k.remote.clone()))
    }

    /// The line of the leg's pending offer Ringside will answer: its suite and key.
    pub(crate) fn offered_key(&self) -> Option<PeerKey> {
        match &self.their_offer {
            Some((Some((_, s, k)), _)) => Some((*s, k.clone())),
            _ => None,
        }
    }

    /// An offer from the leg: checks it against the policy and returns it plain.
    pub(crate) fn take_offer(&mut self, text: &str) -> Result<String, NotAcceptable> {
        let Ok(mut sdp) = SessionDescription::parse(text) else {
            // Not SDP Ringside can read: the caller's own checks refuse it.
            return Ok(text.to_owned());
        };
        let Some(m) = audio_mut(&mut sdp) else {
            return Ok(text.to_owned());
        };
        let proto = m.media_line().proto.clone();
        if is_dtls_proto(&proto) {
            if self.policy == SrtpPolicy::Off {
                return Err(NotAcceptable);
            }
            let current = self.dtls.as_ref().map(|(d, _)| d.role);
            let setup = their_dtls(&sdp, current).ok_or(NotAcceptable)?;
            self.their_offer = None;
            self.their_dtls = Some((setup, proto));
            strip_dtls(&mut sdp);
            return Ok(sdp.to_string());
        }
        let secure = plain_proto(&proto).is_some();
        if !secure && !proto.to_ascii_uppercase().starts_with("RTP/AVP") {
            return Err(NotAcceptable);
        }
        let choice = match self.policy {
            SrtpPolicy::Off => None,
            _ => usable(m).into_iter().next(),
        };
        if choice.is_none() && (secure || self.policy.requires_srtp()) {
            return Err(NotAcceptable);
        }
        self.their_offer = Some((choice, proto));
        self.their_dtls = None;
        strip(m);
        Ok(sdp.to_string())
    }

    /// The leg's answer to Ringside's last offer: takes its key (the answer must pick one of
    /// the offered lines; a `required` leg must) and returns it plain.
    pub(crate) fn take_answer(&mut self, text: &str) -> Result<String, NotAcceptable> {
        let Ok(mut sdp) = SessionDescription::parse(text) else {
            return Ok(text.to_owned());
        };
        // Whether Ringside offered this leg DTLS-SRTP: a re-offer on its association, or a
        // first offer under `dtls` — decided by the answering fork's policy, as each fork of
        // one offer was keyed by its own (`offered_dtls` is the last fork's).
        let offered = match (&self.dtls, self.policy) {
            (Some(_), _) => self.offered_dtls.clone(),
            (None, SrtpPolicy::Dtls) if self.keys.is_none() => Some(
                self.offered_dtls
                    .clone()
                    .unwrap_or_else(|| DTLS_OFFER_PROTO.to_owned()),
            ),
            (None, _) => None,
        };
        if let Some(offered) = offered {
            return self.take_dtls_answer(sdp, offered);
        }
        let Some(m) = audio_mut(&mut sdp) else {
            return Ok(text.to_owned());
        };
        let picked = usable(m)
            .into_iter()
            .filter(|_| self.policy != SrtpPolicy::Off)
            .find(|(tag, suite, _)| self.offered.contains(&(*tag, *suite)));
        match picked {
            Some((tag, suite, theirs)) => {
                let mirror = self
                    .offered_mirror
                    .as_ref()
                    .filter(|(s, _)| tag == MIRROR_TAG && *s == suite);
                let local = match mirror {
                    Some((_, k)) => k.clone(),
                    None => self.our_key(suite).ok_or(NotAcceptable)?,
                };
                self.keys = Some(SrtpKeys {
                    suite,
                    remote: theirs,
                    local,
                });
            }
            None if self.policy.requires_srtp() => return Err(NotAcceptable),
            None => self.keys = None,
        }
        strip(m);
        Ok(sdp.to_string())
    }

    /// Ringside's (plain) offer going to the leg, with the leg's keys as its policy wants;
    /// where the leg allows passthrough, `mirror` (the key the other leg's peer sends with)
    /// is offered first.
    pub(crate) fn put_offer(&mut self, plain: String, mirror: Option<PeerKey>) -> String {
        self.their_offer = None;
        self.their_dtls = None;
        self.offered_dtls = None;
        if let Some((setup, proto)) = self.dtls.clone() {
            // A re-offer on a DTLS leg: the same association, the role Ringside has.
            if let Some(sdp) = put_dtls(&plain, &proto, setup.role.setup()) {
                self.offered_dtls = Some(proto);
                return sdp;
            }
        }
        if self.policy == SrtpPolicy::Off {
            // (Other forks of the same offer may still be keyed: `offered` stays.)
            return plain;
        }
        if self.policy == SrtpPolicy::Dtls && self.keys.is_none() {
            // A first offer of DTLS-SRTP: the answer's `a=setup` picks the roles. (A `dtls`
            // leg that keyed itself with SDES in its own offer is re-offered SDES.)
            if let Some(sdp) = put_dtls(&plain, DTLS_OFFER_PROTO, "actpass") {
                self.offered_dtls = Some(DTLS_OFFER_PROTO.to_owned());
                return sdp;
            }
        }
        let mut lines = Vec::new();
        self.offered_mirror = mirror.filter(|_| self.passthrough);
        if let Some((suite, key)) = &self.offered_mirror {
            lines.push((MIRROR_TAG, *suite, key.clone()));
        }
        for (i, suite) in SrtpSuite::ALL.into_iter().enumerate() {
            if let Some(k) = self.our_key(suite) {
                lines.push((i as u32 + 1, suite, k));
            }
        }
        self.offered = lines.iter().map(|(t, s, _)| (*t, *s)).collect();
        let required = self.policy.requires_srtp();
        rewrite(&plain, |m| {
            m.remove_attribute("crypto");
            if required {
                let p = secure_proto(&m.media_line().proto);
                m.media_line_mut().proto = p;
            }
            for (tag, suite, key) in lines {
                let c = Crypto::new(tag, suite.name(), key);
                m.push_attribute("crypto", Some(&c.to_string()));
            }
        })
        .unwrap_or(plain)
    }

    /// Ringside's (plain) answer going to the leg: keyed when the leg's offer was; where the
    /// leg allows passthrough, with `mirror` (the key the other leg's peer sends with, in the offered line's suite) instead
    /// of Ringside's own — unless the leg was answered already on this key (18x, then 2xx):
    /// the key it was given then stays.
    pub(crate) fn put_answer(&mut self, plain: String, mirror: Option<PeerKey>) -> String {
        if let Some((setup, proto)) = self.their_dtls.clone() {
            let Some(sdp) = put_dtls(&plain, &proto, setup.role.setup()) else {
                return plain;
            };
            self.keys = None;
            self.dtls = Some((setup, proto));
            return sdp;
        }
        let Some((choice, proto)) = self.their_offer.clone() else {
            return plain;
        };
        self.dtls = None;
        let Some((tag, suite, theirs)) = choice else {
            self.keys = None;
            return plain;
        };
        let kept = self
            .keys
            .as_ref()
            .filter(|k| k.suite == suite && k.remote == theirs)
            .map(|k| k.local.clone());
        let mirror = mirror
            .filter(|(s, _)| self.passthrough && *s == suite)
            .map(|(_, k)| k);
        let Some(local) = kept.or(mirror).or_else(|| self.our_key(suite)) else {
            return plain;
        };
        self.keys = Some(SrtpKeys {
            suite,
            remote: theirs,
            local: local.clone(),
        });
        rewrite(&plain, |m| {
            m.remove_attribute("crypto");
            m.media_line_mut().proto = proto;
            let c = Crypto::new(tag, suite.name(), local);
            m.push_attribute("crypto", Some(&c.to_string()));
        })
        .unwrap_or(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdp(proto: &str, extra: &str) -> String {
        format!(
            "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
             m=audio 4000 {proto} 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\n{extra}a=sendrecv\r\n"
        )
    }

    fn crypto(tag: u32, suite: SrtpSuite) -> String {
        let key = random_master(suite).unwrap();
        format!("a=crypto:{}\r\n", Crypto::new(tag, suite.name(), key))
    }

    #[test]
    fn an_srtp_offer_is_answered_with_ringsides_own_key_on_the_chosen_line() {
        let mut leg = SdesLeg::new(SrtpPolicy::Optional);
        let offer = sdp(
            "RTP/SAVP",
            &(crypto(1, SrtpSuite::AesCm128HmacSha1_32)
                + &crypto(2, SrtpSuite::AesCm128HmacSha1_80)),
        );
        let plain = leg.take_offer(&offer).unwrap();
        assert!(plain.contains("m=audio 4000 RTP/AVP 0 101"), "{plain}");
        assert!(!plain.contains("crypto"), "{plain}");
        let answer = leg.put_answer(plain.replace("10.0.0.1", "192.0.2.9"), None);
        assert!(answer.contains("m=audio 4000 RTP/SAVP"), "{answer}");
        let keys = leg.state().sdes.unwrap();
        assert_eq!(keys.suite, SrtpSuite::AesCm128HmacSha1_32);
        let line = answer
            .lines()
            .find_map(|l| l.strip_prefix("a=crypto:"))
            .unwrap();
        let c = Crypto::parse(line).unwrap();
        assert_eq!((c.tag, c.suite.as_str()), (1, "AES_CM_128_HMAC_SHA1_32"));
        assert_eq!(c.key_salt, keys.local);
        assert_ne!(keys.local, keys.remote);
    }

    #[test]
    fn policies_refuse_what_they_cannot_carry() {
        let secure = sdp("RTP/SAVP", &crypto(1, SrtpSuite::AeadAes128Gcm));
        let plain = sdp("RTP/AVP", "");
        assert_eq!(
            SdesLeg::new(SrtpPolicy::Off).take_offer(&secure),
            Err(NotAcceptable)
        );
        assert_eq!(
            SdesLeg::new(SrtpPolicy::Required).take_offer(&plain),
            Err(NotAcceptable)
        );
        // Unknown suites only, on SAVP: nothing usable.
        let f8 = sdp(
            "RTP/SAVP",
            "a=crypto:1 F8_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\r\n",
        );
        assert_eq!(
            SdesLeg::new(SrtpPolicy::Optional).take_offer(&f8),
            Err(NotAcceptable)
        );
        assert_eq!(
            SdesLeg::new(SrtpPolicy::Optional).take_offer(&sdp("UDP/TLS/RTP/SAVP", "")),
            Err(NotAcceptable)
        );
        // Best effort: keys on AVP are used when allowed and ignored when off.
        let best = sdp("RTP/AVP", &crypto(1, SrtpSuite::AesCm128HmacSha1_80));
        let mut off = SdesLeg::new(SrtpPolicy::Off);
        let plain = off.take_offer(&best).unwrap();
        let a = off.put_answer(plain, None);
        assert!(!a.contains("crypto") && off.state().sdes.is_none(), "{a}");
        let mut opt = SdesLeg::new(SrtpPolicy::Optional);
        let plain = opt.take_offer(&best).unwrap();
        let a = opt.put_answer(plain, None);
        assert!(a.contains("RTP/AVP") && a.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80"));
        assert!(opt.state().sdes.is_some());
    }

    #[test]
    fn offers_carry_every_suite_and_the_answer_picks_the_keys() {
        let mut req = SdesLeg::new(SrtpPolicy::Required);
        let offer = req.put_offer(sdp("RTP/AVP", ""), None);
        assert!(offer.contains("m=audio 4000 RTP/SAVP"), "{offer}");
        assert_eq!(offer.matches("a=crypto:").count(), 3, "{offer}");
        // A plain answer to a required leg: refused.
        assert_eq!(req.take_answer(&sdp("RTP/AVP", "")), Err(NotAcceptable));
        // An answer on a tag Ringside did not offer: not keyed.
        assert_eq!(
            req.take_answer(&sdp("RTP/SAVP", &crypto(7, SrtpSuite::AeadAes128Gcm))),
            Err(NotAcceptable)
        );
        let theirs = crypto(2, SrtpSuite::AesCm128HmacSha1_80);
        let plain = req.take_answer(&sdp("RTP/SAVP", &theirs)).unwrap();
        assert!(
            plain.contains("RTP/AVP") && !plain.contains("crypto"),
            "{plain}"
        );
        let keys = req.state().sdes.unwrap();
        assert_eq!(keys.suite, SrtpSuite::AesCm128HmacSha1_80);
        // A re-offer keeps Ringside's keys (the peer's decryption goes on).
        let again = req.put_offer(sdp("RTP/AVP", ""), None);
        let ours = Crypto::new(2, keys.suite.name(), keys.local.clone()).to_string();
        assert!(again.contains(&ours), "{again}");

        let mut optional = SdesLeg::new(SrtpPolicy::Optional);
        let offer = optional.put_offer(sdp("RTP/AVP", ""), None);
        assert!(offer.contains("m=audio 4000 RTP/AVP") && offer.contains("a=crypto:1 AEAD"));
        optional.take_answer(&sdp("RTP/AVP", "")).unwrap();
        assert!(optional.state().sdes.is_none());

        let mut off = SdesLeg::new(SrtpPolicy::Off);
        assert!(!off.put_offer(sdp("RTP/AVP", ""), None).contains("crypto"));
    }

    const PHONE_FP: &str = "SHA-256 6D:A4:79:60:46:C1:37:E1:18:4B:D5:DC:B4:2B:AD:9E:0F:60:1D:20:BC:F3:DE:48:82:00:06:1C:EF:7E:58:52";

    /// An offer as baresip's dtls_srtp module makes it: fingerprint and setup at session level.
    fn dtls_offer(setup: &str) -> String {
        format!(
            "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
             a=setup:{setup}\r\na=fingerprint:{PHONE_FP}\r\n\
             m=audio 4000 UDP/TLS/RTP/SAVPF 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
        )
    }

    #[test]
    fn a_dtls_offer_is_answered_passive_with_ringsides_fingerprint() {
        let mut leg = SdesLeg::new(SrtpPolicy::Optional);
        let plain = leg.take_offer(&dtls_offer("actpass")).unwrap();
        assert!(plain.contains("m=audio 4000 RTP/AVP 0 101"), "{plain}");
        assert!(
            !plain.contains("fingerprint") && !plain.contains("setup"),
            "{plain}"
        );
        // Nothing changes before the answer goes out.
        assert_eq!(leg.state(), LegKeys::default());
        let answer = leg.put_answer(plain.replace("10.0.0.1", "192.0.2.9"), None);
        assert!(
            answer.contains("m=audio 4000 UDP/TLS/RTP/SAVPF 0 101"),
            "{answer}"
        );
        assert!(answer.contains("a=setup:passive"), "{answer}");
        let ours = local_fingerprint().unwrap().to_string();
        assert!(
            answer.contains(&format!("a=fingerprint:{ours}")),
            "{answer}"
        );
        let state = leg.state();
        assert!(state.sdes.is_none());
        let setup = state.dtls.unwrap();
        assert_eq!(setup.role, DtlsRole::Server);
        assert_eq!(setup.remote, Fingerprint::parse(PHONE_FP).unwrap());
        assert_eq!(setup.peer, Some("10.0.0.1:4000".parse().unwrap()));

        // Ringside's re-offer (hold music, a transfer) keeps the association: its role, the
        // same fingerprint, the leg's transport.
        let reoffer = leg.put_offer(sdp("RTP/AVP", ""), None);
        assert!(reoffer.contains("UDP/TLS/RTP/SAVPF") && reoffer.contains("a=setup:passive"));
        assert!(
            reoffer.contains(&ours) && !reoffer.contains("crypto"),
            "{reoffer}"
        );
        let plain = leg.take_answer(&dtls_offer("active")).unwrap();
        assert!(plain.contains("RTP/AVP ") && !plain.contains("fingerprint"));
        assert_eq!(leg.state().dtls.unwrap().role, DtlsRole::Server);

        // The phone's own re-offer with actpass: Ringside stays the server.
        let plain = leg.take_offer(&dtls_offer("actpass")).unwrap();
        let again = leg.put_answer(plain, None);
        assert!(again.contains("a=setup:passive"), "{again}");
        assert_eq!(leg.state().dtls.unwrap(), setup);
    }

    #[test]
    fn dtls_roles_follow_the_phones_setup_and_policies_refuse_what_they_cannot_carry() {
        let mut leg = SdesLeg::new(SrtpPolicy::Required);
        let plain = leg.take_offer(&dtls_offer("passive")).unwrap();
        let answer = leg.put_answer(plain, None);
        assert!(answer.contains("a=setup:active"), "{answer}");
        assert_eq!(leg.state().dtls.unwrap().role, DtlsRole::Client);

        assert_eq!(
            SdesLeg::new(SrtpPolicy::Off).take_offer(&dtls_offer("actpass")),
            Err(NotAcceptable)
        );
        assert_eq!(
            SdesLeg::new(SrtpPolicy::Optional).take_offer(&dtls_offer("holdconn")),
            Err(NotAcceptable)
        );
        // A weak hash is no fingerprint.
        let sha1 = dtls_offer("actpass").replace(
            PHONE_FP,
            "sha-1 AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD",
        );
        assert_eq!(
            SdesLeg::new(SrtpPolicy::Optional).take_offer(&sha1),
            Err(NotAcceptable)
        );
        // A DTLS leg answered plain to a re-offer: plain again, unless SRTP is required.
        let mut opt = SdesLeg::new(SrtpPolicy::Optional);
        let plain = opt.take_offer(&dtls_offer("actpass")).unwrap();
        opt.put_answer(plain, None);
        opt.put_offer(sdp("RTP/AVP", ""), None);
        opt.take_answer(&sdp("RTP/AVP", "")).unwrap();
        assert_eq!(opt.state(), LegKeys::default());
        leg.put_offer(sdp("RTP/AVP", ""), None);
        assert_eq!(leg.take_answer(&sdp("RTP/AVP", "")), Err(NotAcceptable));
    }

    #[test]
    fn a_dtls_leg_is_offered_dtls_srtp_actpass_and_the_answer_picks_the_roles() {
        let ours = local_fingerprint().unwrap().to_string();
        for (answer_setup, role) in [("active", DtlsRole::Server), ("passive", DtlsRole::Client)] {
            let mut leg = SdesLeg::new(SrtpPolicy::Dtls);
            let offer = leg.put_offer(sdp("RTP/AVP", ""), None);
            assert!(
                offer.contains("m=audio 4000 UDP/TLS/RTP/SAVP 0 101"),
                "{offer}"
            );
            assert!(offer.contains("a=setup:actpass"), "{offer}");
            assert!(offer.contains(&format!("a=fingerprint:{ours}")), "{offer}");
            assert!(!offer.contains("a=crypto"), "{offer}");
            let plain = leg.take_answer(&dtls_offer(answer_setup)).unwrap();
            assert!(plain.contains("RTP/AVP ") && !plain.contains("fingerprint"));
            let setup = leg.state().dtls.expect("keyed by a handshake");
            assert_eq!(setup.role, role, "answered {answer_setup}");
            assert_eq!(setup.remote, Fingerprint::parse(PHONE_FP).unwrap());
            assert_eq!(setup.peer, Some("10.0.0.1:4000".parse().unwrap()));
            // Its re-offers keep the association and the role it has.
            let reoffer = leg.put_offer(sdp("RTP/AVP", ""), None);
            assert!(
                reoffer.contains(&format!("a=setup:{}", role.setup())),
                "{reoffer}"
            );
        }
        // A plain or SDES answer ends the attempt.
        for answer in [
            sdp("RTP/AVP", ""),
            sdp(
                "RTP/SAVP",
                &format!(
                    "a=crypto:1 {}\r\n",
                    "AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"
                ),
            ),
        ] {
            let mut leg = SdesLeg::new(SrtpPolicy::Dtls);
            leg.put_offer(sdp("RTP/AVP", ""), None);
            assert_eq!(leg.take_answer(&answer), Err(NotAcceptable), "{answer}");
        }
        // Forked with another target's offer after it: the DTLS answer is still taken.
        let mut leg = SdesLeg::new(SrtpPolicy::Dtls);
        leg.put_offer(sdp("RTP/AVP", ""), None);
        leg.policy = SrtpPolicy::Optional;
        leg.put_offer(sdp("RTP/AVP", ""), None);
        leg.policy = SrtpPolicy::Dtls;
        leg.take_answer(&dtls_offer("active")).unwrap();
        assert!(leg.state().dtls.is_some());
        // Forked the other way round: the SDES fork's answer is still SDES.
        let mut leg = SdesLeg::new(SrtpPolicy::Required);
        leg.put_offer(sdp("RTP/AVP", ""), None);
        leg.policy = SrtpPolicy::Dtls;
        let dtls_fork = leg.put_offer(sdp("RTP/AVP", ""), None);
        assert!(dtls_fork.contains("UDP/TLS/RTP/SAVP"), "{dtls_fork}");
        leg.policy = SrtpPolicy::Required;
        let key = "AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";
        let sdes_answer = sdp("RTP/SAVP", &format!("a=crypto:2 {key}\r\n"));
        leg.take_answer(&sdes_answer).unwrap();
        assert!(leg.state().sdes.is_some() && leg.state().dtls.is_none());
        // `actpass` in an answer is no answer: Ringside starts the handshake.
        let mut leg = SdesLeg::new(SrtpPolicy::Dtls);
        leg.put_offer(sdp("RTP/AVP", ""), None);
        leg.take_answer(&dtls_offer("actpass")).unwrap();
        assert_eq!(leg.state().dtls.unwrap().role, DtlsRole::Client);
        // A `dtls` leg that keyed itself with SDES in its own offer is re-offered SDES.
        let mut leg = SdesLeg::new(SrtpPolicy::Dtls);
        let plain = leg
            .take_offer(&sdp("RTP/SAVP", &format!("a=crypto:1 {key}\r\n")))
            .unwrap();
        leg.put_answer(plain, None);
        assert!(leg.state().sdes.is_some());
        let reoffer = leg.put_offer(sdp("RTP/AVP", ""), None);
        assert!(
            reoffer.contains("RTP/SAVP ") && reoffer.contains("a=crypto:"),
            "{reoffer}"
        );
        // Its own offers must be encrypted: plain is refused, DTLS-SRTP taken.
        assert_eq!(
            SdesLeg::new(SrtpPolicy::Dtls).take_offer(&sdp("RTP/AVP", "")),
            Err(NotAcceptable)
        );
        assert!(SdesLeg::new(SrtpPolicy::Dtls)
            .take_offer(&dtls_offer("actpass"))
            .is_ok());
    }

    #[test]
    fn passthrough_offers_the_other_peers_key_and_answers_keep_the_first_key_given() {
        let suite = SrtpSuite::AesCm128HmacSha1_80;
        let ka = random_master(suite).unwrap();
        // A leg that does not allow passthrough is offered Ringside's keys only.
        let mut b = SdesLeg::new(SrtpPolicy::Optional);
        let offer = b.put_offer(sdp("RTP/AVP", ""), Some((suite, ka.clone())));
        assert!(!offer.contains("a=crypto:4"), "{offer}");
        // One that does gets A's key first, on tag 4; taking it keys leg B with A's key.
        b.passthrough = true;
        let offer = b.put_offer(sdp("RTP/AVP", ""), Some((suite, ka.clone())));
        let first = offer
            .lines()
            .find_map(|l| l.strip_prefix("a=crypto:"))
            .unwrap();
        let c = Crypto::parse(first).unwrap();
        assert_eq!(
            (c.tag, c.suite.as_str(), &c.key_salt),
            (4, suite.name(), &ka)
        );
        let kb = random_master(suite).unwrap();
        let answer = sdp(
            "RTP/AVP",
            &format!("a=crypto:{}\r\n", Crypto::new(4, suite.name(), kb.clone())),
        );
        b.take_answer(&answer).unwrap();
        let keys = b.state().sdes.unwrap();
        assert_eq!((&keys.remote, &keys.local), (&kb, &ka));
        assert_eq!(
            b.key_for_answer(&(suite, ka.clone())),
            Some((suite, kb.clone()))
        );
        assert_eq!(b.key_for_answer(&(suite, kb.clone())), None);

        // Leg A answered with Ringside's own key first (its 183) keeps it in the 200.
        let mut a = SdesLeg::new(SrtpPolicy::Optional);
        a.passthrough = true;
        let plain = a
            .take_offer(&sdp(
                "RTP/SAVP",
                &format!("a=crypto:{}\r\n", Crypto::new(1, suite.name(), ka.clone())),
            ))
            .unwrap();
        assert_eq!(a.offered_key(), Some((suite, ka.clone())));
        assert_eq!(a.key_to_pass(), Some((suite, ka.clone())));
        let early = a.put_answer(plain.clone(), None);
        let own = a.state().sdes.unwrap().local;
        assert_ne!(own, kb);
        let ok = a.put_answer(plain.clone(), Some((suite, kb.clone())));
        assert_eq!(a.state().sdes.unwrap().local, own, "{early}\n{ok}");
        // A fresh leg A answered once B's key is known is given B's key.
        let mut a = SdesLeg::new(SrtpPolicy::Optional);
        a.passthrough = true;
        a.take_offer(&sdp(
            "RTP/SAVP",
            &format!("a=crypto:{}\r\n", Crypto::new(1, suite.name(), ka.clone())),
        ))
        .unwrap();
        let ok = a.put_answer(plain, Some((suite, kb.clone())));
        assert!(
            ok.contains(&Crypto::new(1, suite.name(), kb.clone()).to_string()),
            "{ok}"
        );
        assert_eq!(a.state().sdes.unwrap().local, kb);
    }
}
