//! The WebRTC edge against a real WebRTC peer (the Rust offerer in `webrtc::client`) over
//! loopback: ICE-lite on the shared port, DTLS-SRTP, Opus both ways. The test plays the relay:
//! it receives the browser's plain RTP on a UDP socket and sends its own back, and judges both
//! directions as audio.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use ringside_media::codec::analysis::{dominant_frequency, rms_dbfs, tone};
use ringside_media::codec::frame::{CodecKind, FrameDecoder, FrameEncoder};
use ringside_media::codec::opus::EncoderOptions;
use ringside_media::rtp::packet::{RtpHeader, RtpPacket};
use ringside_media::webrtc::client::ClientPeer;
use ringside_media::webrtc::{EdgeEvent, WebRtcConfig, WebRtcEdge};

fn edge() -> WebRtcEdge {
    WebRtcEdge::start(
        WebRtcConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            candidate_ips: vec![],
            connect_timeout: Duration::from_secs(10),
        },
        vec![],
    )
    .unwrap()
}

/// Drive `peer` on `sock` until `done` or 10 s pass; `each` runs every 20 ms (to send media).
fn drive(
    peer: &mut ClientPeer,
    sock: &UdpSocket,
    mut each: impl FnMut(&mut ClientPeer, Instant),
    mut done: impl FnMut(&mut ClientPeer) -> bool,
) {
    let start = Instant::now();
    let mut next_frame = Instant::now();
    let mut buf = [0u8; 2048];
    while start.elapsed() < Duration::from_secs(10) {
        let now = Instant::now();
        if now >= next_frame {
            each(peer, now);
            next_frame += Duration::from_millis(20);
        }
        while let Some((to, data)) = peer.poll_transmit() {
            let _ = sock.send_to(&data, to);
        }
        if done(peer) {
            return;
        }
        let deadline = peer
            .poll_timeout()
            .unwrap_or(now + Duration::from_millis(20))
            .min(next_frame);
        let wait = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        sock.set_read_timeout(Some(wait)).unwrap();
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => peer.handle_datagram(Instant::now(), from, &buf[..n]),
            Err(_) => peer.handle_timeout(Instant::now()),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_audio_reaches_the_relay_and_back_over_one_port() {
    let edge = edge();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let local = sock.local_addr().unwrap();
    let (mut peer, offer) = ClientPeer::offer(Instant::now(), local).unwrap();
    assert!(offer.contains("opus/48000/2"), "{offer}");
    let mut session = edge.accept(&offer).unwrap();
    let answer = session.answer.clone();
    assert!(answer.sdp.contains("a=ice-lite"), "{}", answer.sdp);
    assert!(
        answer
            .sdp
            .contains(&format!("127.0.0.1 {} typ host", edge.local_addr().port())),
        "{}",
        answer.sdp
    );
    assert!(
        answer.sdp.contains("a=fingerprint:sha-256"),
        "{}",
        answer.sdp
    );
    assert_eq!(answer.opus_pt, 111);
    peer.set_answer(Instant::now(), &answer.sdp).unwrap();

    // The relay side: plain RTP.
    let relay = UdpSocket::bind("127.0.0.1:0").unwrap();
    relay
        .set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    session.connect_media(relay.local_addr().unwrap());
    let mut events = session.take_events().unwrap();

    // The browser sends a 1 kHz tone, the relay a 400 Hz tone; 3 s of each.
    let opts = EncoderOptions::default();
    let mut enc = FrameEncoder::new(CodecKind::Opus, 8000, opts).unwrap();
    let mut relay_enc = FrameEncoder::new(CodecKind::Opus, 8000, opts).unwrap();
    let browser_tone = tone(1000.0, 8000, 0.3, 8000 * 4);
    let relay_tone = tone(400.0, 8000, 0.3, 8000 * 4);
    let frame = std::cell::Cell::new(0usize);
    let mut at_relay = Vec::new();
    let mut at_browser = Vec::new();
    let mut dec_relay = FrameDecoder::new(CodecKind::Opus, 8000).unwrap();
    let mut dec_browser = FrameDecoder::new(CodecKind::Opus, 8000).unwrap();
    let mut rbuf = [0u8; 1500];
    let mut pcm = vec![0i16; 8000];
    let mut relay_from: Option<SocketAddr> = None;
    let rtp_at = answer.rtp;
    drive(
        &mut peer,
        &sock,
        |p, now| {
            if !p.is_connected() || frame.get() >= 150 {
                return;
            }
            let frame_n = frame.get();
            let mut out = [0u8; 1500];
            let s = &browser_tone[frame_n * 160..(frame_n + 1) * 160];
            let n = enc.encode(s, &mut out).unwrap();
            p.send_rtp(now, frame_n as u16, (frame_n * 960) as u32, &out[..n]);
            // The relay's frame_n goes to the session's loopback socket.
            let s = &relay_tone[frame_n * 160..(frame_n + 1) * 160];
            let n = relay_enc.encode(s, &mut out).unwrap();
            let hdr = RtpHeader {
                payload_type: 111,
                marker: frame_n == 0,
                sequence: 1000 + frame_n as u16,
                timestamp: (frame_n * 960) as u32,
                ssrc: 0x5151,
                csrcs: &[],
                extension: None,
                padding: 0,
            };
            let mut pkt = [0u8; 1500];
            let len = hdr.write(&out[..n], &mut pkt).unwrap();
            relay.send_to(&pkt[..len], rtp_at).unwrap();
            frame.set(frame_n + 1);
            // Whatever reached the relay meanwhile.
            while let Ok((n, from)) = relay.recv_from(&mut rbuf) {
                relay_from = Some(from);
                if let Ok(rtp) = RtpPacket::parse(&rbuf[..n]) {
                    if rtp.payload_type() == 111 {
                        let k = dec_relay.decode(rtp.payload(), &mut pcm).unwrap();
                        at_relay.extend_from_slice(&pcm[..k]);
                    }
                }
            }
            while let Some(r) = p.poll_rtp() {
                assert_eq!(r.payload_type, 111);
                let k = dec_browser.decode(&r.payload, &mut pcm).unwrap();
                at_browser.extend_from_slice(&pcm[..k]);
            }
        },
        |_| frame.get() >= 150,
    );
    assert_eq!(events.try_recv().ok(), Some(EdgeEvent::Connected));
    assert_eq!(
        relay_from,
        Some(rtp_at),
        "plain RTP comes from the session's socket"
    );
    // Skip the first 0.5 s (codec warm-up), judge the rest.
    assert!(
        at_relay.len() > 8000 * 2,
        "relay got {} samples",
        at_relay.len()
    );
    let f = dominant_frequency(&at_relay[4000..], 8000);
    assert!((f - 1000.0).abs() < 20.0, "relay hears {f} Hz");
    let l = rms_dbfs(&at_relay[4000..]);
    assert!((-20.0..-5.0).contains(&l), "relay level {l} dBFS");
    assert!(
        at_browser.len() > 8000 * 2,
        "browser got {} samples",
        at_browser.len()
    );
    let f = dominant_frequency(&at_browser[4000..], 8000);
    assert!((f - 400.0).abs() < 20.0, "browser hears {f} Hz");
    assert_eq!(
        edge.stats()
            .sessions
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert!(
        edge.stats()
            .rtp_in
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 100
    );
    assert!(
        edge.stats()
            .rtp_out
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 100
    );
    drop(session);
    for _ in 0..100 {
        if edge
            .stats()
            .sessions
            .load(std::sync::atomic::Ordering::Relaxed)
            == 0
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        edge.stats()
            .sessions
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_browser_that_never_connects_fails_its_session() {
    let edge = WebRtcEdge::start(
        WebRtcConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            candidate_ips: vec![],
            connect_timeout: Duration::from_millis(300),
        },
        vec![],
    )
    .unwrap();
    let local: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let (_peer, offer) = ClientPeer::offer(Instant::now(), local).unwrap();
    let mut session = edge.accept(&offer).unwrap();
    let mut events = session.take_events().unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(10), events.recv()).await;
    assert_eq!(ev.ok().flatten(), Some(EdgeEvent::Failed));
    assert_eq!(
        edge.stats()
            .failed_total
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[test]
fn an_offer_without_opus_is_refused() {
    let edge = edge();
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\na=setup:actpass\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:0 PCMU/8000\r\n";
    assert!(edge.accept(sdp).is_err());
    assert!(edge.accept("garbage").is_err());
}
