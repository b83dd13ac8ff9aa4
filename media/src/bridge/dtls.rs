//! A leg keyed by DTLS-SRTP ([`crate::dtls`]): one handshake on the RTP port and one on the
//! RTCP port (Ringside does not multiplex RTCP on SIP legs), run on the leg's own sockets.
//! The RTP handshake's keys protect RTP (and RTCP until the RTCP handshake is done, for phones
//! that key only one component); the RTCP handshake's keys protect RTCP.

use std::net::SocketAddr;
use std::time::Instant;

use super::{idx, CallMedia, Channel, Transmit};
use crate::dtls::{Association, DtlsRole, DtlsSetup, DtlsState};
use crate::srtp::SrtpSession;
use crate::MediaError;
use crate::Side;

/// DTLS records kept per leg while its handshake is not set up yet (a ClientHello on RTP
/// and one on RTCP, and a retransmission of each).
const EARLY_DTLS: usize = 4;

/// The DTLS-SRTP state of one leg.
#[derive(Debug)]
pub struct LegDtls {
    setup: DtlsSetup,
    rtp: Association,
    rtcp: Association,
}

impl LegDtls {
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        match (self.rtp.poll_timeout(), self.rtcp.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn component(&mut self, channel: Channel) -> &mut Association {
        match channel {
            Channel::Rtp => &mut self.rtp,
            Channel::Rtcp => &mut self.rtcp,
        }
    }
}

impl CallMedia {
    /// Keys `side` by DTLS-SRTP as `setup` says (`None`: no longer). A setup equal to the
    /// running one changes nothing (a re-INVITE keeps the association, RFC 8842 §5); a new
    /// one starts new handshakes, and until one completes nothing unencrypted is taken from
    /// the leg. A client sends its ClientHello to the peer's RTP address (and the port above
    /// it for RTCP) at once.
    pub fn set_dtls(
        &mut self,
        now: Instant,
        side: Side,
        setup: Option<DtlsSetup>,
    ) -> Result<(), MediaError> {
        let i = idx(side);
        let Some(setup) = setup else {
            self.legs[i].early_dtls.clear();
            if self.legs[i].dtls.take().is_some() {
                self.legs[i].srtp = None;
                self.legs[i].srtp_expected = false;
            }
            return Ok(());
        };
        if let Some(d) = self.legs[i].dtls.as_mut() {
            // The same certificate and role: the same association, wherever the peer's SDP
            // now points (a hold to 0.0.0.0 is not a new handshake) — unless a client's
            // handshake gave up, which a new offer starts again.
            let failed = d.rtp.state() == DtlsState::Failed;
            if d.setup.role == setup.role && d.setup.remote == setup.remote && !failed {
                d.setup.peer = setup.peer;
                return Ok(());
            }
        }
        // Nothing unencrypted from the leg from here on, whether the handshakes start or not.
        let leg = &mut self.legs[i];
        leg.dtls = None;
        leg.srtp = None;
        leg.srtp_expected = true;
        let rtcp_peer = setup
            .peer
            .and_then(|p| Some(SocketAddr::new(p.ip(), p.port().checked_add(1)?)));
        let rtp = Association::new(now, &setup, setup.peer)?;
        let rtcp = Association::new(now, &setup, rtcp_peer)?;
        let server = setup.role == DtlsRole::Server;
        self.legs[i].dtls = Some(Box::new(LegDtls { setup, rtp, rtcp }));
        // A hello that came before the answer (RFC 5763 §5: an `actpass` offerer must take
        // one): the server association starts from it instead of waiting for a retransmit.
        for (channel, src, data) in std::mem::take(&mut self.legs[i].early_dtls) {
            if server {
                self.dtls_in(now, side, channel, src, &data);
            }
        }
        self.drain_dtls(side);
        Ok(())
    }

    /// Keeps a DTLS record that came to `side` before its handshake was set up, while the
    /// leg awaits its keys (at most [`EARLY_DTLS`] of them, the latest); false when the leg
    /// expects none (the record is then treated as any other packet).
    pub(super) fn hold_early_dtls(
        &mut self,
        side: Side,
        channel: Channel,
        src: SocketAddr,
        data: &[u8],
    ) -> bool {
        let leg = &mut self.legs[idx(side)];
        if !leg.srtp_expected || leg.srtp.is_some() {
            return false;
        }
        if leg.early_dtls.len() == EARLY_DTLS {
            leg.early_dtls.remove(0);
        }
        leg.early_dtls.push((channel, src, data.to_vec()));
        true
    }

    /// Whether `side`'s DTLS handshake on RTP is done (`None`: not a DTLS leg).
    pub fn dtls_state(&self, side: Side) -> Option<DtlsState> {
        self.legs[idx(side)].dtls.as_ref().map(|d| d.rtp.state())
    }

    /// DTLS handshakes completed since the last call (for the driver's counters).
    pub fn take_dtls_handshakes(&mut self) -> u32 {
        std::mem::take(&mut self.dtls_done)
    }

    /// Ringside's DTLS role on `side`, if it is a DTLS leg.
    pub fn dtls_role(&self, side: Side) -> Option<DtlsRole> {
        self.legs[idx(side)].dtls.as_ref().map(|d| d.setup.role)
    }

    /// A DTLS datagram from `src` on `side`'s `channel` socket.
    pub(super) fn dtls_in(
        &mut self,
        now: Instant,
        side: Side,
        channel: Channel,
        src: SocketAddr,
        data: &[u8],
    ) {
        let Some(d) = self.legs[idx(side)].dtls.as_mut() else {
            return;
        };
        if d.component(channel).handle(now, src, data) {
            tracing::info!(?side, ?channel, peer = %src, "DTLS-SRTP handshake done");
            self.dtls_done += 1;
            self.install_dtls_keys(side);
        }
        self.drain_dtls(side);
    }

    /// Retransmits handshake flights that are due.
    pub(super) fn dtls_timeout(&mut self, now: Instant) {
        for side in [Side::A, Side::B] {
            let Some(d) = self.legs[idx(side)].dtls.as_mut() else {
                continue;
            };
            if d.poll_timeout().is_some_and(|t| now >= t) {
                d.rtp.handle_timeout(now);
                d.rtcp.handle_timeout(now);
                self.drain_dtls(side);
            }
        }
    }

    fn drain_dtls(&mut self, side: Side) {
        let Some(d) = self.legs[idx(side)].dtls.as_mut() else {
            return;
        };
        for channel in [Channel::Rtp, Channel::Rtcp] {
            while let Some((to, data)) = d.component(channel).poll_transmit() {
                self.dtls_out.push_back(Transmit {
                    side,
                    channel,
                    to,
                    data: data.to_vec(),
                });
            }
        }
    }

    fn install_dtls_keys(&mut self, side: Side) {
        let leg = &mut self.legs[idx(side)];
        let Some(d) = leg.dtls.as_ref() else {
            return;
        };
        let Some(keys) = d.rtp.keys() else {
            return;
        };
        if leg.srtp.as_ref().is_none_or(|s| s.keys() != keys) {
            match SrtpSession::new(keys.clone()) {
                Ok(s) => leg.srtp = Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, ?side, "DTLS-SRTP keys refused");
                    return;
                }
            }
        }
        if let (Some(s), Some(rtcp)) = (leg.srtp.as_mut(), d.rtcp.keys()) {
            if let Err(e) = s.set_rtcp_keys(rtcp) {
                tracing::warn!(error = %e, ?side, "DTLS-SRTP RTCP keys refused");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::{CallMedia, Dropped, Forward, LegCodec};
    use crate::codec::frame::CodecKind;
    use crate::dtls::{local_fingerprint, Association};
    use crate::srtp::SrtpSession;
    use std::time::SystemTime;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn rtp(seq: u16) -> Vec<u8> {
        let mut p = vec![
            0x80,
            0,
            (seq >> 8) as u8,
            seq as u8,
            0,
            0,
            0,
            160,
            0,
            0,
            0,
            7,
        ];
        p.extend_from_slice(&[0xd5; 160]);
        p
    }

    /// Passes handshake flights between the phone's `client` association (at `phone`) and
    /// `side` of `m` until neither has anything more to send; Ringside's flights go to the
    /// phone's RTP address from that side's RTP socket.
    fn shake(
        m: &mut CallMedia,
        client: &mut Association,
        side: Side,
        phone: SocketAddr,
        now: Instant,
    ) {
        for _ in 0..10 {
            let mut moved = false;
            while let Some((_, data)) = client.poll_transmit() {
                let mut b = data.to_vec();
                let n = b.len();
                b.resize(1500, 0);
                assert_eq!(m.handle_rtp(now, side, phone, &mut b, n), Ok(Forward::None));
                moved = true;
            }
            while let Some(t) = m.poll_transmit() {
                assert_eq!((t.side, t.channel, t.to), (side, Channel::Rtp, phone));
                client.handle(now, addr(1), &t.data);
                moved = true;
            }
            if !moved {
                break;
            }
        }
    }

    /// The phone's end: a client association of its own, run against leg A's media.
    #[test]
    fn a_leg_is_keyed_by_its_handshake_and_takes_nothing_plain_before() {
        let now = Instant::now();
        let mut m = CallMedia::new(now, SystemTime::now(), 7);
        for side in [Side::A, Side::B] {
            m.set_codec(side, LegCodec::new(CodecKind::Pcmu, 0));
        }
        let phone = addr(40000);
        m.announce(Side::A, phone);
        m.announce(Side::B, addr(50000));
        let me = local_fingerprint().unwrap();
        m.set_dtls(
            now,
            Side::A,
            Some(DtlsSetup {
                role: DtlsRole::Server,
                remote: me.clone(),
                peer: Some(phone),
            }),
        )
        .unwrap();
        // Plain RTP before the keys: refused.
        let mut buf = rtp(1);
        buf.resize(1500, 0);
        assert_eq!(
            m.handle_rtp(now, Side::A, phone, &mut buf, 172),
            Err(Dropped::AwaitingKeys)
        );
        let setup = DtlsSetup {
            role: DtlsRole::Client,
            remote: me,
            peer: Some(addr(1)),
        };
        let mut client = Association::new(now, &setup, Some(addr(1))).unwrap();
        shake(&mut m, &mut client, Side::A, phone, now);
        assert_eq!(m.dtls_state(Side::A), Some(DtlsState::Connected));
        let keys = client.keys().unwrap().clone();
        // The phone's SRTP now decrypts on leg A and goes on to leg B in the clear.
        let mut phone_srtp = SrtpSession::new(keys).unwrap();
        let mut b = rtp(2);
        let n = b.len();
        b.resize(1500, 0);
        let n = phone_srtp.protect_rtp(&mut b, n).unwrap();
        match m.handle_rtp(now, Side::A, phone, &mut b, n) {
            Ok(Forward::InPlace { side, to, len }) => {
                assert_eq!((side, to, len), (Side::B, addr(50000), 172));
                assert_eq!(&b[12..len], &[0xd5; 160][..]);
            }
            other => panic!("{other:?}"),
        }
        // The same setup again (a re-INVITE) keeps the keys.
        let same = m.legs[0].dtls.as_ref().unwrap().setup.clone();
        m.set_dtls(now, Side::A, Some(same)).unwrap();
        assert!(m.is_srtp(Side::A));
        m.set_dtls(now, Side::A, None).unwrap();
        assert!(!m.is_srtp(Side::A));
    }

    /// Ringside offered `actpass`; the phone answered `active` and said hello at once, before
    /// its answer reached the relay: the hello is kept and the server association starts
    /// from it (RFC 5763 §5) rather than after the phone's retransmission.
    #[test]
    fn a_hello_before_the_answer_starts_the_handshake_when_the_setup_arrives() {
        let now = Instant::now();
        let mut m = CallMedia::new(now, SystemTime::now(), 7);
        let phone = addr(40000);
        let me = local_fingerprint().unwrap();
        // The offer is out; keys are expected.
        m.expect_srtp(Side::B);
        let setup = DtlsSetup {
            role: DtlsRole::Client,
            remote: me.clone(),
            peer: Some(addr(1)),
        };
        let mut client = Association::new(now, &setup, Some(addr(1))).unwrap();
        let (_, hello) = client.poll_transmit().expect("a ClientHello");
        let mut b = hello.to_vec();
        let n = b.len();
        b.resize(1500, 0);
        assert_eq!(
            m.handle_rtp(now, Side::B, phone, &mut b, n),
            Err(Dropped::AwaitingKeys)
        );
        assert!(m.poll_transmit().is_none(), "nothing to answer yet");
        // The answer arrives: Ringside is the server and answers the kept hello at once.
        m.set_dtls(
            now,
            Side::B,
            Some(DtlsSetup {
                role: DtlsRole::Server,
                remote: me,
                peer: Some(phone),
            }),
        )
        .unwrap();
        let flight = m
            .poll_transmit()
            .expect("the server's flight to the kept hello");
        assert_eq!(
            (flight.side, flight.channel, flight.to),
            (Side::B, Channel::Rtp, phone)
        );
        client.handle(now, addr(1), &flight.data);
        shake(&mut m, &mut client, Side::B, phone, now);
        assert_eq!(m.dtls_state(Side::B), Some(DtlsState::Connected));
        // A plain leg keeps nothing: a stray DTLS record there is no hello to wait for.
        let mut m = CallMedia::new(now, SystemTime::now(), 7);
        let mut b = hello.to_vec();
        b.resize(1500, 0);
        assert_ne!(
            m.handle_rtp(now, Side::A, phone, &mut b, n),
            Err(Dropped::AwaitingKeys)
        );
        assert!(m.legs[0].early_dtls.is_empty());
    }
}
