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
            relay_ip: std::net::Ipv4Addr::LOCALHOST.into(),
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
    // Both ends measured the round trip from each other's RTCP reports (loopback: well
    // under a second; the exact figure is the machine's).
    let (edge_rtt, peer_rtt) = (session.rtt(), peer.rtt());
    assert!(
        edge_rtt.is_some_and(|d| d < Duration::from_secs(1)),
        "edge RTT {edge_rtt:?}"
    );
    assert!(
        peer_rtt.is_some_and(|d| d < Duration::from_secs(1)),
        "client RTT {peer_rtt:?}"
    );
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
            relay_ip: std::net::Ipv4Addr::LOCALHOST.into(),
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

/// Two peers, each on its own socket, driven together until `done` or 10 s pass; `each` runs
/// every 20 ms with the frame number (to send media).
fn drive_pair(
    peers: &mut [(ClientPeer, UdpSocket); 2],
    mut each: impl FnMut(&mut [(ClientPeer, UdpSocket); 2], Instant, usize),
    mut done: impl FnMut(&mut [(ClientPeer, UdpSocket); 2]) -> bool,
) -> bool {
    for (_, s) in peers.iter() {
        s.set_nonblocking(true).unwrap();
    }
    let start = Instant::now();
    let mut next_frame = Instant::now();
    let mut frame = 0;
    let mut buf = [0u8; 2048];
    while start.elapsed() < Duration::from_secs(10) {
        let now = Instant::now();
        if now >= next_frame {
            each(peers, now, frame);
            frame += 1;
            next_frame += Duration::from_millis(20);
        }
        for (p, s) in peers.iter_mut() {
            while let Ok((n, from)) = s.recv_from(&mut buf) {
                p.handle_datagram(Instant::now(), from, &buf[..n]);
            }
            if p.poll_timeout().is_some_and(|t| t <= Instant::now()) {
                p.handle_timeout(Instant::now());
            }
            while let Some((to, data)) = p.poll_transmit() {
                let _ = s.send_to(&data, to);
            }
        }
        if done(peers) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

/// What one peer received on its video track: (payload type, sequence, payload).
type VideoSeen = Vec<(u8, u16, Vec<u8>)>;

fn collect_video(p: &mut ClientPeer, seen: &mut VideoSeen) {
    while let Some(r) = p.poll_rtp() {
        if r.video {
            seen.push((r.payload_type, r.sequence, r.payload.to_vec()));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn video_is_relayed_between_two_browsers_with_their_feedback() {
    use ringside_media::webrtc::VideoCodec;
    use std::sync::atomic::Ordering::Relaxed;
    let edge = edge();
    for (codec, pt, name) in [
        (VideoCodec::Vp8, 96u8, "VP8/90000"),
        (VideoCodec::H264, 102, "H264/90000"),
    ] {
        let mut peers = [0, 1].map(|_| {
            let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
            let (peer, offer) = ClientPeer::offer_with_video(
                Instant::now(),
                sock.local_addr().unwrap(),
                Some(codec),
            )
            .unwrap();
            assert!(offer.contains("m=video"), "{offer}");
            ((peer, sock), offer)
        });
        let sessions: Vec<_> = peers
            .iter_mut()
            .map(|((peer, _), offer)| {
                let s = edge.accept(offer).unwrap();
                assert!(s.answer.video, "video negotiated");
                assert!(s.answer.sdp.contains(name), "{}", s.answer.sdp);
                peer.set_answer(Instant::now(), &s.answer.sdp).unwrap();
                s
            })
            .collect();
        let mut pair = peers.map(|(p, _)| p);
        assert!(
            drive_pair(
                &mut pair,
                |_, _, _| {},
                |ps| ps.iter().all(|(p, _)| p.is_connected())
            ),
            "both connect"
        );
        let before = edge.stats().video_forwarded.load(Relaxed);
        // Both browsers send video from the start; the sessions are linked at frame 10 (as
        // when an operator takes a ringing call): each browser is then asked for a keyframe
        // and each one's video reaches the other.
        let mut seen: [VideoSeen; 2] = [Vec::new(), Vec::new()];
        let mut nack_sent = false;
        let ok = drive_pair(
            &mut pair,
            |ps, now, f| {
                if f == 10 {
                    sessions[0].link_video(sessions[1].id());
                }
                for (i, (p, _)) in ps.iter_mut().enumerate() {
                    let body = format!("{i}:{f}");
                    p.send_video(
                        now,
                        5000 + f as u16,
                        (f * 3000) as u32,
                        true,
                        body.as_bytes(),
                    );
                }
            },
            |ps| {
                for (i, (p, _)) in ps.iter_mut().enumerate() {
                    collect_video(p, &mut seen[i]);
                }
                // Peer 1 asks for a keyframe and NACKs one packet it received from peer 0,
                // half a second in: both reach peer 0.
                if !nack_sent && seen[1].len() >= 25 {
                    let seq = seen[1][2].1;
                    ps[1].0.send_video_feedback(Instant::now(), &[seq]);
                    nack_sent = true;
                }
                let (kf, nacked) = ps[0].0.video_feedback();
                seen.iter().all(|s| s.len() >= 30) && kf >= 2 && !nacked.is_empty()
            },
        );
        let (kf0, nacked0) = pair[0].0.video_feedback();
        let (kf1, _) = pair[1].0.video_feedback();
        assert!(
            ok,
            "{name}: seen {} / {}, feedback {kf0} {nacked0:?} {kf1}",
            seen[0].len(),
            seen[1].len()
        );
        // Each side gets the other's packets, unchanged but for SSRC and payload type, and
        // nothing from before the link.
        for (i, s) in seen.iter().enumerate() {
            assert!(
                s[0].1 >= 5010,
                "peer {i} got video before the link: {}",
                s[0].1
            );
            let from = 1 - i;
            for (got_pt, seq, body) in s {
                assert_eq!(*got_pt, pt);
                let text = String::from_utf8(body.clone()).unwrap();
                let (who, f) = text.split_once(':').unwrap();
                assert_eq!(who, from.to_string(), "peer {i} got its own video back");
                assert_eq!(*seq, 5000 + f.parse::<u16>().unwrap(), "sequence kept");
            }
        }
        // The NACKed sequence number reached its sender; the link asked both for keyframes,
        // and peer 1's PLI reached peer 0 as well.
        assert!(nacked0.contains(&seen[1][2].1), "{nacked0:?}");
        assert!(kf1 >= 1);
        assert!(edge.stats().video_forwarded.load(Relaxed) >= before + 40);
        assert!(edge.stats().video_feedback.load(Relaxed) >= 3);
        // Audio stays off the video path: the peers' audio goes to the (absent) relay only.
        drop(sessions);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_audio_only_browser_links_to_nothing() {
    use ringside_media::webrtc::VideoCodec;
    let edge = edge();
    let local: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let (_a, audio_only) = ClientPeer::offer(Instant::now(), local).unwrap();
    let (_b, with_video) =
        ClientPeer::offer_with_video(Instant::now(), local, Some(VideoCodec::Vp8)).unwrap();
    let a = edge.accept(&audio_only).unwrap();
    let b = edge.accept(&with_video).unwrap();
    assert!(!a.answer.video);
    assert!(!a.answer.sdp.contains("m=video"), "{}", a.answer.sdp);
    assert!(b.answer.video);
    // Linking an audio-only session (or a gone one) is a no-op, not a failure.
    a.link_video(b.id());
    b.link_video(12345);
    drop(a);
    drop(b);
    for _ in 0..100 {
        if edge
            .stats()
            .sessions
            .load(std::sync::atomic::Ordering::Relaxed)
            == 0
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("sessions not closed");
}
