//! SRTP legs in the call media core on simulated time: each leg decrypts what its peer sends
//! with the peer's key and encrypts what it sends with Ringside's own key for that leg, so the
//! two peers never share keys (unless the keys were passed end to end, SRTP passthrough: then
//! packets go on as they came); audio is judged as audio after the far peer decrypts it;
//! forged, replayed and stranger packets are dropped and counted, never latched or relayed;
//! RTCP to an SRTP leg is SRTCP.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use ringside_media::bridge::{Channel, Dropped, Forward, Transmit};
use ringside_media::codec::analysis::{dominant_frequency, rms_dbfs, tone};
use ringside_media::codec::frame::{CodecKind, FrameDecoder, FrameEncoder};
use ringside_media::codec::opus::EncoderOptions;
use ringside_media::rtp::packet::{RtpHeader, RtpPacket};
use ringside_media::rtp::rtcp::parse_compound;
use ringside_media::srtp::{random_master, SrtpKeys, SrtpSession, SrtpSuite};
use ringside_media::{CallMedia, LegCodec, Side};

use common::Beep;

const A_PEER: &str = "127.0.0.1:40000";
const B_PEER: &str = "127.0.0.1:50000";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Keys for one leg: what Ringside installs, and the peer's own session (the mirror image).
fn leg_keys(suite: SrtpSuite) -> (SrtpKeys, SrtpSession) {
    let peer = random_master(suite).unwrap();
    let ours = random_master(suite).unwrap();
    let ringside = SrtpKeys {
        suite,
        remote: peer.clone(),
        local: ours.clone(),
    };
    let phone = SrtpSession::new(SrtpKeys {
        suite,
        remote: ours,
        local: peer,
    })
    .unwrap();
    (ringside, phone)
}

struct Call {
    m: CallMedia,
    t0: Instant,
    a_phone: SrtpSession,
    b_phone: SrtpSession,
}

fn call(a: LegCodec, b: LegCodec, a_suite: SrtpSuite, b_suite: SrtpSuite) -> Call {
    let t0 = Instant::now();
    let mut m = CallMedia::new(t0, SystemTime::now(), 7);
    m.announce(Side::A, addr(A_PEER));
    m.announce(Side::B, addr(B_PEER));
    m.set_codec(Side::A, a);
    m.set_codec(Side::B, b);
    let (ka, a_phone) = leg_keys(a_suite);
    let (kb, b_phone) = leg_keys(b_suite);
    m.set_srtp(Side::A, Some(ka)).unwrap();
    m.set_srtp(Side::B, Some(kb)).unwrap();
    assert!(m.is_srtp(Side::A) && m.is_srtp(Side::B));
    Call {
        m,
        t0,
        a_phone,
        b_phone,
    }
}

/// `frames` 20 ms PCMU frames of `freq` Hz from A's phone, encrypted; returns what Ringside
/// sent (RTP and RTCP, each to its side), still encrypted.
fn feed_a(c: &mut Call, freq: f64, frames: usize) -> Vec<(Side, Channel, Vec<u8>)> {
    let mut enc = FrameEncoder::new(CodecKind::Pcmu, 8000, EncoderOptions::default()).unwrap();
    let pcm = tone(freq, 8000, 0.3, 160 * frames);
    let mut out = Vec::new();
    let drain = |m: &mut CallMedia, out: &mut Vec<(Side, Channel, Vec<u8>)>| {
        while let Some(Transmit {
            side,
            channel,
            data,
            ..
        }) = m.poll_transmit()
        {
            out.push((side, channel, data));
        }
    };
    for (k, frame) in pcm.chunks(160).enumerate() {
        let now = c.t0 + Duration::from_millis(20 * k as u64);
        while let Some(t) = c.m.poll_timeout().filter(|t| *t <= now) {
            c.m.handle_timeout(t);
        }
        drain(&mut c.m, &mut out);
        let mut payload = [0u8; 400];
        let n = enc.encode(frame, &mut payload).unwrap();
        let h = RtpHeader {
            marker: false,
            payload_type: 0,
            sequence: 100 + k as u16,
            timestamp: 160 * k as u32,
            ssrc: 0xa11ce,
            csrcs: &[],
            extension: None,
            padding: 0,
        };
        let mut buf = vec![0u8; 1500];
        let len = h.write(&payload[..n], &mut buf).unwrap();
        let len = c.a_phone.protect_rtp(&mut buf, len).unwrap();
        match c.m.handle_rtp(now, Side::A, addr(A_PEER), &mut buf, len) {
            Ok(Forward::InPlace { side, len, .. }) => {
                out.push((side, Channel::Rtp, buf[..len].to_vec()))
            }
            Ok(Forward::None) => {}
            Err(e) => panic!("dropped: {e:?}"),
        }
        drain(&mut c.m, &mut out);
    }
    let end = c.t0 + Duration::from_millis(20 * frames as u64 + 200);
    while let Some(t) = c.m.poll_timeout().filter(|t| *t <= end) {
        c.m.handle_timeout(t);
        drain(&mut c.m, &mut out);
    }
    out
}

/// What B's phone hears: its RTP decrypted with its keys and decoded as `kind`.
fn heard_by_b(c: &mut Call, out: &[(Side, Channel, Vec<u8>)], kind: CodecKind) -> Vec<i16> {
    let mut dec = FrameDecoder::new(kind, 8000).unwrap();
    let mut pcm = Vec::new();
    let mut frame = vec![0i16; 960];
    for (side, ch, data) in out {
        if *side != Side::B || *ch != Channel::Rtp {
            continue;
        }
        let mut buf = data.clone();
        buf.resize(1500, 0);
        let n = c
            .b_phone
            .unprotect_rtp(&mut buf, data.len())
            .expect("B's phone authenticates what Ringside sends it");
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        let k = dec.decode(p.payload(), &mut frame).unwrap();
        pcm.extend_from_slice(&frame[..k]);
    }
    pcm
}

#[test]
fn passthrough_between_two_srtp_legs_re_keys_each_leg() {
    let pcmu = LegCodec::new(CodecKind::Pcmu, 0);
    let mut c = call(
        pcmu,
        pcmu,
        SrtpSuite::AesCm128HmacSha1_80,
        SrtpSuite::AeadAes128Gcm,
    );
    let out = feed_a(&mut c, 1000.0, 100);
    let pcm = heard_by_b(&mut c, &out, CodecKind::Pcmu);
    assert!(pcm.len() >= 160 * 95, "{} samples", pcm.len());
    let f = dominant_frequency(&pcm[800..], 8000);
    assert!((f - 1000.0).abs() < 20.0, "B hears {f} Hz");
    assert!(
        rms_dbfs(&pcm[800..]) > -16.0,
        "level {}",
        rms_dbfs(&pcm[800..])
    );
}

#[test]
fn an_srtp_leg_is_transcoded_to_a_plain_leg_and_heard_as_the_tone() {
    let pcmu = LegCodec::new(CodecKind::Pcmu, 0);
    let pcma = LegCodec::new(CodecKind::Pcma, 8);
    let mut c = call(
        pcmu,
        pcma,
        SrtpSuite::AesCm128HmacSha1_32,
        SrtpSuite::AesCm128HmacSha1_80,
    );
    // Leg B turns plain: what B gets is ordinary RTP.
    c.m.set_srtp(Side::B, None).unwrap();
    let out = feed_a(&mut c, 440.0, 100);
    let mut dec = FrameDecoder::new(CodecKind::Pcma, 8000).unwrap();
    let mut pcm = Vec::new();
    let mut frame = vec![0i16; 960];
    for (_, _, data) in out
        .iter()
        .filter(|(s, ch, _)| *s == Side::B && *ch == Channel::Rtp)
    {
        let p = RtpPacket::parse(data).expect("plain RTP to the plain leg");
        let n = dec.decode(p.payload(), &mut frame).unwrap();
        pcm.extend_from_slice(&frame[..n]);
    }
    assert!(pcm.len() > 160 * 80, "{} samples", pcm.len());
    let f = dominant_frequency(&pcm[1600..], 8000);
    assert!((f - 440.0).abs() < 15.0, "B hears {f} Hz");
}

#[test]
fn forged_replayed_and_foreign_packets_are_dropped_counted_and_never_latched() {
    let pcmu = LegCodec::new(CodecKind::Pcmu, 0);
    let mut c = call(
        pcmu,
        pcmu,
        SrtpSuite::AesCm128HmacSha1_80,
        SrtpSuite::AesCm128HmacSha1_80,
    );
    let now = c.t0;
    let packet = |c: &mut Call, seq: u16| {
        let h = RtpHeader {
            marker: false,
            payload_type: 0,
            sequence: seq,
            timestamp: u32::from(seq) * 160,
            ssrc: 0xa11ce,
            csrcs: &[],
            extension: None,
            padding: 0,
        };
        let mut buf = vec![0u8; 1500];
        let len = h.write(&[0xff; 160], &mut buf).unwrap();
        let len = c.a_phone.protect_rtp(&mut buf, len).unwrap();
        (buf, len)
    };
    // A forgery: one payload bit flipped.
    let (mut forged, len) = packet(&mut c, 1);
    forged[30] ^= 0x01;
    assert_eq!(
        c.m.handle_rtp(now, Side::A, addr(A_PEER), &mut forged, len),
        Err(Dropped::Srtp)
    );
    // A packet encrypted with a key nobody agreed on, from a stranger's address.
    let (_, mut stranger_phone) = leg_keys(SrtpSuite::AesCm128HmacSha1_80);
    let mut buf = vec![0u8; 1500];
    let h = RtpHeader {
        marker: false,
        payload_type: 0,
        sequence: 9,
        timestamp: 9,
        ssrc: 0xbad,
        csrcs: &[],
        extension: None,
        padding: 0,
    };
    let n = h.write(&[0; 160], &mut buf).unwrap();
    let n = stranger_phone.protect_rtp(&mut buf, n).unwrap();
    assert_eq!(
        c.m.handle_rtp(now, Side::A, addr("127.0.0.1:40666"), &mut buf, n),
        Err(Dropped::Srtp)
    );
    // The genuine packet is relayed (from the announced address), once.
    let (good, len) = packet(&mut c, 2);
    let mut first = good.clone();
    assert!(matches!(
        c.m.handle_rtp(now, Side::A, addr(A_PEER), &mut first, len),
        Ok(Forward::InPlace { side: Side::B, .. })
    ));
    let mut again = good.clone();
    assert_eq!(
        c.m.handle_rtp(now, Side::A, addr(A_PEER), &mut again, len),
        Err(Dropped::Srtp),
        "a replay"
    );
    // A STUN binding request (linphone sends them on its media ports): not RTP, not an SRTP
    // failure.
    let mut stun = vec![0u8; 1500];
    stun[..8].copy_from_slice(&[0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]);
    assert_eq!(
        c.m.handle_rtp(now, Side::A, addr(A_PEER), &mut stun, 20),
        Err(Dropped::Malformed)
    );
    assert_eq!(c.m.srtp_dropped(Side::A), 3);
    assert_eq!(c.m.srtp_dropped(Side::B), 0);
    // Plain RTP on an SRTP leg is no better than a forgery.
    let mut plain = vec![0u8; 1500];
    let n = RtpHeader { sequence: 3, ..h }
        .write(&[0; 160], &mut plain)
        .unwrap();
    assert_eq!(
        c.m.handle_rtp(now, Side::A, addr(A_PEER), &mut plain, n),
        Err(Dropped::Srtp)
    );
    assert_eq!(
        c.m.quality(Side::A).packets_received,
        1,
        "only the genuine one counted"
    );
}

#[test]
fn reports_to_an_srtp_leg_are_srtcp_and_its_reports_are_authenticated() {
    let pcmu = LegCodec::new(CodecKind::Pcmu, 0);
    let mut c = call(
        pcmu,
        pcmu,
        SrtpSuite::AeadAes128Gcm,
        SrtpSuite::AesCm128HmacSha1_80,
    );
    // 7 s of audio: RTCP reports go out every 5 s.
    let out = feed_a(&mut c, 1000.0, 350);
    let to_a: Vec<&Vec<u8>> = out
        .iter()
        .filter(|(s, ch, _)| *s == Side::A && *ch == Channel::Rtcp)
        .map(|(_, _, d)| d)
        .collect();
    assert!(!to_a.is_empty(), "a report to A");
    for d in to_a {
        let plain = c
            .a_phone
            .unprotect_rtcp(d)
            .expect("A's phone authenticates the report");
        assert!(parse_compound(&plain).all(|p| p.is_ok()), "a report inside");
    }
    // A's phone's own report: accepted when protected, dropped when not.
    let mut raw = [0u8; 64];
    let n = ringside_media::rtp::rtcp::write_rr(0xa11ce, &[], &mut raw).unwrap();
    let mut sealed = raw[..n].to_vec();
    assert!(c.a_phone.protect_vec(&mut sealed, true));
    let later = c.t0 + Duration::from_secs(8);
    assert!(c
        .m
        .handle_rtcp(later, Side::A, addr("127.0.0.1:40001"), &sealed)
        .is_ok());
    assert_eq!(
        c.m.handle_rtcp(later, Side::A, addr("127.0.0.1:40001"), &raw[..n]),
        Err(Dropped::Srtp)
    );
}

#[test]
fn a_leg_that_must_be_encrypted_takes_nothing_before_its_keys() {
    let t0 = Instant::now();
    let pcmu = LegCodec::new(CodecKind::Pcmu, 0);
    let mut m = CallMedia::new(t0, SystemTime::now(), 9);
    m.announce(Side::A, addr(A_PEER));
    m.announce(Side::B, addr(B_PEER));
    m.set_codec(Side::A, pcmu);
    m.set_codec(Side::B, pcmu);
    m.expect_srtp(Side::B);
    let h = RtpHeader {
        marker: false,
        payload_type: 0,
        sequence: 1,
        timestamp: 0,
        ssrc: 0xb0b,
        csrcs: &[],
        extension: None,
        padding: 0,
    };
    let mut buf = vec![0u8; 1500];
    let n = h.write(&[0x7f; 160], &mut buf).unwrap();
    let plain = buf.clone();
    // Plain RTP (and RTCP) from B before the keys: dropped and counted, not latched.
    assert_eq!(
        m.handle_rtp(t0, Side::B, addr(B_PEER), &mut buf, n),
        Err(Dropped::AwaitingKeys)
    );
    let mut rr = [0u8; 64];
    let k = ringside_media::rtp::rtcp::write_rr(0xb0b, &[], &mut rr).unwrap();
    assert_eq!(
        m.handle_rtcp(t0, Side::B, addr("127.0.0.1:50001"), &rr[..k]),
        Err(Dropped::AwaitingKeys)
    );
    assert_eq!(m.srtp_dropped(Side::B), 0, "not authentication failures");
    assert_eq!(m.quality(Side::B).packets_received, 0);
    // Leg A, not required, is unaffected.
    let mut a = plain.clone();
    assert!(m.handle_rtp(t0, Side::A, addr(A_PEER), &mut a, n).is_ok());
    // With the keys, B's encrypted packets flow.
    let (keys, mut phone) = leg_keys(SrtpSuite::AesCm128HmacSha1_80);
    m.set_srtp(Side::B, Some(keys)).unwrap();
    let mut sealed = plain.clone();
    let n = phone.protect_rtp(&mut sealed, n).unwrap();
    assert!(matches!(
        m.handle_rtp(t0, Side::B, addr(B_PEER), &mut sealed, n),
        Ok(Forward::InPlace { side: Side::A, .. })
    ));
}

/// SRTP passthrough: A's phone sends with `ka`, B's with `kb`, and each leg is keyed to send
/// with the key the other peer sends with (SDES keys passed end to end).
fn mirrored_call(suite: SrtpSuite) -> (Call, Vec<u8>, Vec<u8>) {
    let pcmu = LegCodec::new(CodecKind::Pcmu, 0);
    let mut c = call(pcmu, pcmu, suite, suite);
    let (ka, kb) = (random_master(suite).unwrap(), random_master(suite).unwrap());
    let a = SrtpKeys {
        suite,
        remote: ka.clone(),
        local: kb.clone(),
    };
    let b = SrtpKeys {
        suite,
        remote: kb.clone(),
        local: ka.clone(),
    };
    c.m.set_srtp(Side::A, Some(a.clone())).unwrap();
    c.m.set_srtp(Side::B, Some(b.clone())).unwrap();
    // Each phone holds its own key and the one it was given: the other phone's.
    c.a_phone = SrtpSession::new(SrtpKeys {
        suite,
        remote: kb.clone(),
        local: ka.clone(),
    })
    .unwrap();
    c.b_phone = SrtpSession::new(SrtpKeys {
        suite,
        remote: ka.clone(),
        local: kb.clone(),
    })
    .unwrap();
    (c, ka, kb)
}

#[test]
fn srtp_passthrough_relays_packets_as_they_came_and_still_refuses_forgeries() {
    for suite in SrtpSuite::ALL {
        let (mut c, _, _) = mirrored_call(suite);
        assert!(c.m.is_srtp_passthrough(Side::A) && c.m.is_srtp_passthrough(Side::B));
        let now = c.t0;
        let mut sent = Vec::new();
        for seq in 0..5u16 {
            let h = RtpHeader {
                marker: false,
                payload_type: 0,
                sequence: 1000 + seq,
                timestamp: 160 * u32::from(seq),
                ssrc: 0xa11ce,
                csrcs: &[],
                extension: None,
                padding: 0,
            };
            let mut buf = vec![0u8; 1500];
            let n = h.write(&[0x55; 160], &mut buf).unwrap();
            let n = c.a_phone.protect_rtp(&mut buf, n).unwrap();
            let came = buf[..n].to_vec();
            let out = c.m.handle_rtp(now, Side::A, addr(A_PEER), &mut buf, n);
            let Ok(Forward::InPlace { side, len, .. }) = out else {
                panic!("{suite:?}: {out:?}");
            };
            assert_eq!(side, Side::B);
            assert_eq!(&buf[..len], &came[..], "{suite:?}: sent on as it came");
            sent.push(came);
        }
        assert_eq!(c.m.take_srtp_passed(), 5);
        // B's phone decrypts them with the key it was given, header untouched.
        for (k, data) in sent.iter().enumerate() {
            let mut buf = data.clone();
            buf.resize(1500, 0);
            let n = c.b_phone.unprotect_rtp(&mut buf, data.len()).unwrap();
            let p = RtpPacket::parse(&buf[..n]).unwrap();
            assert_eq!((p.ssrc(), p.sequence()), (0xa11ce, 1000 + k as u16));
            assert_eq!(p.payload(), &[0x55; 160][..]);
        }
        // A forgery is not sent on, and is counted.
        let mut forged = sent[4].clone();
        let last = forged.len() - 1;
        forged[20] ^= 0x01;
        forged.resize(1500, 0);
        assert_eq!(
            c.m.handle_rtp(now, Side::A, addr(A_PEER), &mut forged, last + 1),
            Err(Dropped::Srtp),
            "{suite:?}"
        );
        assert_eq!(c.m.srtp_dropped(Side::A), 1);
        assert_eq!(c.m.take_srtp_passed(), 0);
    }
}

#[test]
fn srtp_passthrough_still_carries_audio_both_ways_and_ringsides_own_stream_has_its_own_ssrc() {
    let (mut c, _, _) = mirrored_call(SrtpSuite::AesCm128HmacSha1_80);
    // The tone A sends arrives at B as the tone (and the packets were passed on).
    // Six seconds: long enough for Ringside's first RTCP report.
    let out = feed_a(&mut c, 1000.0, 300);
    assert!(c.m.take_srtp_passed() >= 290);
    let pcm = heard_by_b(&mut c, &out, CodecKind::Pcmu);
    let f = dominant_frequency(&pcm[800..], 8000);
    assert!((f - 1000.0).abs() < 20.0, "B hears {f} Hz");
    // Ringside's own SRTCP to B (same key as A's stream) never carries A's SSRC.
    let reports: Vec<_> = out
        .iter()
        .filter(|(s, ch, _)| *s == Side::B && *ch == Channel::Rtcp)
        .collect();
    assert!(!reports.is_empty(), "an SRTCP report went to B");
    for (_, _, data) in reports {
        let ssrc = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
        assert_ne!(ssrc, 0xa11ce);
    }
}

#[test]
fn srtp_passthrough_goes_one_way_only_where_one_leg_was_re_keyed() {
    let (mut c, ka, _) = mirrored_call(SrtpSuite::AesCm128HmacSha1_80);
    // A was answered with Ringside's own key (say, before B's answer came): B→A is
    // re-encrypted, A→B still goes as it came.
    let ours = random_master(SrtpSuite::AesCm128HmacSha1_80).unwrap();
    c.m.set_srtp(
        Side::A,
        Some(SrtpKeys {
            suite: SrtpSuite::AesCm128HmacSha1_80,
            remote: ka,
            local: ours,
        }),
    )
    .unwrap();
    assert!(c.m.is_srtp_passthrough(Side::B));
    assert!(!c.m.is_srtp_passthrough(Side::A));
    // Different suites never pass through.
    let pcmu = LegCodec::new(CodecKind::Pcmu, 0);
    let c2 = call(
        pcmu,
        pcmu,
        SrtpSuite::AesCm128HmacSha1_80,
        SrtpSuite::AeadAes128Gcm,
    );
    assert!(!c2.m.is_srtp_passthrough(Side::A) && !c2.m.is_srtp_passthrough(Side::B));
}

#[test]
fn a_prompt_played_into_a_passthrough_leg_is_ringsides_own_stream_then_packets_pass_again() {
    let (mut c, _, _) = mirrored_call(SrtpSuite::AeadAes128Gcm);
    // One second of "hold music" into B while A talks for two.
    c.m.play(c.t0, Side::B, Box::new(Beep(0, 8000)));
    let out = feed_a(&mut c, 1000.0, 100);
    let mut by_ssrc: Vec<(u32, Vec<i16>)> = Vec::new();
    let mut dec = FrameDecoder::new(CodecKind::Pcmu, 8000).unwrap();
    let mut frame = vec![0i16; 960];
    for (_, _, data) in out
        .iter()
        .filter(|(s, ch, _)| *s == Side::B && *ch == Channel::Rtp)
    {
        let mut buf = data.clone();
        buf.resize(1500, 0);
        let n = c
            .b_phone
            .unprotect_rtp(&mut buf, data.len())
            .expect("B's phone decrypts both streams with the key it was given");
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        let k = dec.decode(p.payload(), &mut frame).unwrap();
        match by_ssrc.last_mut() {
            Some((ssrc, pcm)) if *ssrc == p.ssrc() => pcm.extend_from_slice(&frame[..k]),
            _ => by_ssrc.push((p.ssrc(), frame[..k].to_vec())),
        }
    }
    // Ringside's stream (its own SSRC, never A's) carries the prompt; then A's packets,
    // passed as they came, carry A's tone.
    assert_eq!(
        by_ssrc.len(),
        2,
        "{:?}",
        by_ssrc
            .iter()
            .map(|(s, p)| (s, p.len()))
            .collect::<Vec<_>>()
    );
    let (ours, prompt) = &by_ssrc[0];
    let (theirs, talk) = &by_ssrc[1];
    assert_ne!(*ours, 0xa11ce);
    assert_eq!(*theirs, 0xa11ce);
    assert!((dominant_frequency(&prompt[800..], 8000) - 440.0).abs() < 10.0);
    assert!((dominant_frequency(&talk[800..], 8000) - 1000.0).abs() < 20.0);
    assert!(c.m.take_srtp_passed() >= 45);
}
