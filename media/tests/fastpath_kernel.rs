//! The kernel fast path on the running kernel: the verifier accepts the program, and packets
//! over the loopback are forwarded rewritten (addresses, ports, SSRC, sequence and timestamp
//! offsets, payload type) or left to the userspace socket, counted by reason.
//!
//! Needs a build with the program (clang and libbpf-dev) and root (CAP_BPF, CAP_NET_ADMIN),
//! as the test command has; elsewhere these tests say why they did not run.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::Duration;

use ringside_media::fastpath::{FastPath, LegRule, PuntReason};

mod fastpath_common;

/// The fast path on the loopback, or `None` (said why) where this build or host cannot. The
/// test command sets `RINGSIDE_REQUIRE_FASTPATH=1`: there, not running is a failure.
fn fast_path() -> Option<FastPath> {
    if let Some(why) = fastpath_common::unavailable() {
        fastpath_common::skip(why);
        return None;
    }
    match FastPath::start(Ipv4Addr::LOCALHOST.into()) {
        Ok(f) => Some(f),
        Err(e) => panic!("root on this kernel, yet the fast path did not start: {e}"),
    }
}

fn udp() -> (UdpSocket, SocketAddrV4) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let std::net::SocketAddr::V4(a) = s.local_addr().unwrap() else {
        unreachable!()
    };
    (s, a)
}

fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

struct Header {
    pt: u8,
    marker: bool,
    seq: u16,
    ts: u32,
    ssrc: u32,
}

fn header(p: &[u8]) -> Header {
    Header {
        pt: p[1] & 0x7f,
        marker: p[1] & 0x80 != 0,
        seq: u16::from_be_bytes([p[2], p[3]]),
        ts: u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
        ssrc: u32::from_be_bytes([p[8], p[9], p[10], p[11]]),
    }
}

fn recv(s: &UdpSocket) -> (Vec<u8>, SocketAddrV4) {
    let mut b = [0u8; 1500];
    let (n, from) = s.recv_from(&mut b).expect("a packet arrives");
    let std::net::SocketAddr::V4(from) = from else {
        unreachable!()
    };
    (b[..n].to_vec(), from)
}

#[test]
fn the_verifier_accepts_the_program_on_this_kernel() {
    let Some(f) = fast_path() else { return };
    assert!(f.interfaces().iter().any(|i| i == "lo"), "{f:?}");
    assert_eq!(f.rules(), 0);
    assert_eq!(f.totals().forwarded, 0);
}

#[test]
fn established_rtp_is_forwarded_rewritten_and_the_rest_goes_to_userspace() {
    let Some(f) = fast_path() else { return };
    // Peer A, peer B, and the relay's sockets for leg A (where A sends) and leg B.
    let (a, a_addr) = udp();
    let (b, b_addr) = udp();
    let (relay_a, relay_a_addr) = udp();
    let (_relay_b, relay_b_addr) = udp();
    let rule = LegRule {
        local: Ipv4Addr::LOCALHOST.into(),
        peer: a_addr.into(),
        in_pt: 0,
        out_pt: 8,
        in_ssrc: 0x1111_1111,
        out_src: relay_b_addr.into(),
        out_dst: b_addr.into(),
        out_ssrc: 0x2222_2222,
        seq_offset: 1000,
        ts_offset: 0xffff_ff00,
        clock_rate: 8000,
        max_seq: 65530,
        jitter: 2.0,
        local_peer: true,
        out_ifindex: 0,
    };
    f.install(relay_a_addr.port(), &rule).unwrap();
    assert_eq!(f.rules(), 1);
    let payload = [0x55u8; 160];
    // Across the sequence number's wrap; the timestamp offset wraps too.
    for (i, seq) in (65531u16..=65535).chain(0..5).enumerate() {
        let marker = if i == 0 { 0x80 } else { 0 };
        a.send_to(
            &rtp(marker, seq, 160 * i as u32, 0x1111_1111, &payload),
            relay_a_addr,
        )
        .unwrap();
        let (p, from) = recv(&b);
        assert_eq!(from, relay_b_addr, "sent on from leg B's relay port");
        let h = header(&p);
        assert_eq!(h.seq, seq.wrapping_add(1000));
        assert_eq!(h.ts, (160 * i as u32).wrapping_add(0xffff_ff00));
        assert_eq!(h.ssrc, 0x2222_2222);
        assert_eq!(h.pt, 8);
        assert_eq!(h.marker, i == 0, "the marker bit is kept");
        assert_eq!(&p[12..], &payload, "the payload untouched");
        std::thread::sleep(Duration::from_millis(5));
    }
    let c = f.read(relay_a_addr.port()).unwrap();
    assert_eq!(c.packets, 10);
    assert_eq!(c.octets, 1600);
    assert_eq!(c.max_seq, 4);
    assert_eq!(c.wraps, 1);
    assert_eq!(
        c.last_out,
        (
            4u16.wrapping_add(1000),
            (160 * 9u32).wrapping_add(0xffff_ff00)
        )
    );
    assert!(c.last_arrival_ns > 0);
    assert!(c.jitter >= 0.0);

    // What the program does not forward reaches the relay's own socket, counted.
    let before = f.totals();
    let (stranger, stranger_addr) = udp();
    stranger
        .send_to(&rtp(0, 6, 1600, 0x1111_1111, &payload), relay_a_addr)
        .unwrap();
    assert_eq!(recv(&relay_a).1, stranger_addr);
    // A telephone event, another source, a restarted sequence, not RTP.
    a.send_to(
        &rtp(101, 6, 1600, 0x1111_1111, &[1, 0, 0, 160]),
        relay_a_addr,
    )
    .unwrap();
    assert_eq!(header(&recv(&relay_a).0).pt, 101);
    a.send_to(&rtp(0, 7, 1760, 0x3333_3333, &payload), relay_a_addr)
        .unwrap();
    assert_eq!(header(&recv(&relay_a).0).ssrc, 0x3333_3333);
    a.send_to(&rtp(0, 30_000, 1760, 0x1111_1111, &payload), relay_a_addr)
        .unwrap();
    assert_eq!(header(&recv(&relay_a).0).seq, 30_000);
    a.send_to(b"not rtp at all", relay_a_addr).unwrap();
    assert_eq!(recv(&relay_a).0, b"not rtp at all");
    let after = f.totals();
    for (reason, n) in [
        (PuntReason::Source, 1),
        (PuntReason::PayloadType, 1),
        (PuntReason::Ssrc, 1),
        (PuntReason::Jump, 1),
        (PuntReason::NotRtp, 1),
    ] {
        assert_eq!(
            after.punted(reason) - before.punted(reason),
            n,
            "{reason:?}"
        );
    }
    assert_eq!(after.forwarded - before.forwarded, 0);
    // The punted packets were not counted as the leg's.
    assert_eq!(f.read(relay_a_addr.port()).unwrap().packets, 10);

    // An RTCP port: everything to userspace, counted.
    let (relay_rtcp, relay_rtcp_addr) = udp();
    f.punt_all(relay_rtcp_addr.port()).unwrap();
    a.send_to(b"\x81\xc9\x00\x01rtcp", relay_rtcp_addr).unwrap();
    assert_eq!(recv(&relay_rtcp).1, a_addr);
    assert_eq!(
        f.totals().punted(PuntReason::Rtcp) - before.punted(PuntReason::Rtcp),
        1
    );

    // Removed: the leg's packets reach the relay's socket again; the last counters come back.
    let last = f.remove(relay_a_addr.port()).unwrap();
    assert_eq!(last.packets, 10);
    a.send_to(&rtp(0, 5, 1600, 0x1111_1111, &payload), relay_a_addr)
        .unwrap();
    assert_eq!(recv(&relay_a).1, a_addr);
    assert!(f.remove(relay_a_addr.port()).is_none());
    f.remove(relay_rtcp_addr.port()).unwrap();
    assert_eq!(f.rules(), 0, "nothing left behind");
}

#[test]
fn a_rule_matches_only_its_relay_address() {
    let Some(f) = fast_path() else { return };
    let (a, a_addr) = udp();
    let (b, b_addr) = udp();
    // The relay listens on 127.0.0.1; the same port on 127.0.0.2 is someone else's.
    let other = UdpSocket::bind("127.0.0.2:0").unwrap();
    other
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let port = other.local_addr().unwrap().port();
    let (_relay_b, relay_b_addr) = udp();
    f.install(
        port,
        &LegRule {
            local: Ipv4Addr::LOCALHOST.into(),
            peer: a_addr.into(),
            in_pt: 0,
            out_pt: 0,
            in_ssrc: 7,
            out_src: relay_b_addr.into(),
            out_dst: b_addr.into(),
            out_ssrc: 8,
            seq_offset: 0,
            ts_offset: 0,
            clock_rate: 8000,
            max_seq: 0,
            jitter: 0.0,
            local_peer: true,
            out_ifindex: 0,
        },
    )
    .unwrap();
    a.send_to(&rtp(0, 1, 160, 7, &[0; 160]), ("127.0.0.2", port))
        .unwrap();
    assert_eq!(
        recv(&other).1,
        a_addr,
        "not taken from another address's socket"
    );
    b.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    assert!(b.recv_from(&mut [0u8; 1500]).is_err());
    f.remove(port);
}

/// IPv6 over the loopback: the same rewrite (addresses, ports, SSRC, sequence, timestamp,
/// payload type), and a stranger's packet left to the relay's socket.
#[test]
fn ipv6_rtp_is_forwarded_rewritten() {
    use std::net::{Ipv6Addr, SocketAddrV6};
    let Some(f) = fast_path() else { return };
    let udp6 = || -> Option<(UdpSocket, SocketAddrV6)> {
        let s = UdpSocket::bind("[::1]:0").ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let std::net::SocketAddr::V6(a) = s.local_addr().unwrap() else {
            unreachable!()
        };
        Some((s, a))
    };
    let Some((a, a_addr)) = udp6() else {
        return fastpath_common::skip("this host has no IPv6 loopback");
    };
    let (b, b_addr) = udp6().unwrap();
    let (relay_a, relay_a_addr) = udp6().unwrap();
    let (_relay_b, relay_b_addr) = udp6().unwrap();
    let rule = LegRule {
        local: Ipv6Addr::LOCALHOST.into(),
        peer: a_addr.into(),
        in_pt: 0,
        out_pt: 8,
        in_ssrc: 0x6666,
        out_src: relay_b_addr.into(),
        out_dst: b_addr.into(),
        out_ssrc: 0x7777,
        seq_offset: 10,
        ts_offset: 1000,
        clock_rate: 8000,
        max_seq: 0,
        jitter: 0.0,
        local_peer: true,
        out_ifindex: 0,
    };
    f.install(relay_a_addr.port(), &rule).unwrap();
    let before = f.totals();
    let payload = [0x42u8; 160];
    for seq in 1..=5u16 {
        a.send_to(
            &rtp(0, seq, 160 * u32::from(seq), 0x6666, &payload),
            relay_a_addr,
        )
        .unwrap();
        let mut buf = [0u8; 1500];
        let (n, from) = b.recv_from(&mut buf).expect("a packet arrives");
        assert_eq!(
            from,
            std::net::SocketAddr::V6(relay_b_addr),
            "sent on from leg B's relay port"
        );
        let h = header(&buf[..n]);
        assert_eq!(
            (h.seq, h.ts, h.ssrc, h.pt),
            (seq + 10, 160 * u32::from(seq) + 1000, 0x7777, 8)
        );
        assert_eq!(&buf[12..n], &payload);
    }
    assert_eq!(f.totals().forwarded - before.forwarded, 5);
    let c = f.read(relay_a_addr.port()).unwrap();
    assert_eq!((c.packets, c.octets, c.max_seq), (5, 800, 5));
    // A stranger: the relay's own socket, counted.
    let (stranger, stranger_addr) = udp6().unwrap();
    stranger
        .send_to(&rtp(0, 6, 960, 0x6666, &payload), relay_a_addr)
        .unwrap();
    let mut buf = [0u8; 1500];
    let (_, from) = relay_a.recv_from(&mut buf).expect("to userspace");
    assert_eq!(from, std::net::SocketAddr::V6(stranger_addr));
    assert_eq!(
        f.totals().punted(PuntReason::Source) - before.punted(PuntReason::Source),
        1
    );
    // A rule of one family does not take the other's packets to its port.
    let v4 = UdpSocket::bind(("127.0.0.1", relay_a_addr.port()));
    if let Ok(v4) = v4 {
        v4.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let (a4, _) = udp();
        a4.send_to(&rtp(0, 7, 1120, 0x6666, &payload), v4.local_addr().unwrap())
            .unwrap();
        assert!(
            v4.recv_from(&mut buf).is_ok(),
            "an IPv4 packet to the same port"
        );
    }
    f.remove(relay_a_addr.port()).unwrap();
    assert_eq!(f.rules(), 0);
    // Mixed families are refused.
    let mixed = LegRule {
        out_dst: "127.0.0.1:9".parse().unwrap(),
        ..rule
    };
    assert!(f.install(relay_a_addr.port(), &mixed).is_err());
    assert_eq!(f.rules(), 0);
}

/// A relayed call through the media engine with the fast path: once both legs are steady it
/// moves into the kernel (the userspace relay stops seeing its packets), its statistics keep
/// counting, and it comes back on a telephone event and on hold music, with one continuous
/// stream towards each peer throughout; the relay's end leaves no rule behind.
#[test]
fn a_relayed_call_moves_into_the_kernel_and_back() {
    use ringside_media::bridge::LegCodec;
    use ringside_media::codec::CodecKind;
    use ringside_media::player::{Cadence, ToneGenerator};
    use ringside_media::relay::{MediaEngine, Side};
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    let Some(fast) = fast_path() else { return };
    let fast = Arc::new(fast);
    let engine = MediaEngine::new(Ipv4Addr::LOCALHOST.into(), 42600..=42699)
        .with_fast_path(fast.clone())
        .with_workers(1);
    let stats = || {
        let s = engine.stats();
        (
            s.offloaded.load(Ordering::Relaxed),
            s.reclaims.load(Ordering::Relaxed),
            s.forwarded.load(Ordering::Relaxed),
        )
    };
    let relay = engine.create_relay().unwrap();
    let codec = LegCodec::new(CodecKind::Pcmu, 0).with_telephone_event(101, 8000);
    relay.set_codec(Side::A, codec);
    relay.set_codec(Side::B, codec);
    let (a, a_addr) = udp();
    let (b, b_addr) = udp();
    relay.announce(Side::A, a_addr.into());
    relay.announce(Side::B, b_addr.into());
    let to_a = SocketAddrV4::new(Ipv4Addr::LOCALHOST, relay.port(Side::A));
    let to_b = SocketAddrV4::new(Ipv4Addr::LOCALHOST, relay.port(Side::B));

    // One 20 ms step: a packet each way, and what each peer got.
    let sent = std::cell::Cell::new(0u32);
    let mut last_at_b: Option<u16> = None;
    let mut step = |pt_from_a: u8, check: bool| -> (Header, Vec<u8>) {
        let n = sent.get();
        let seq = 7000u16.wrapping_add(n as u16);
        let payload: &[u8] = if pt_from_a == 101 {
            &[1, 0, 0, 160]
        } else {
            &[0x55; 160]
        };
        a.send_to(&rtp(pt_from_a, seq, 160 * n, 0xa1a1, payload), to_a)
            .unwrap();
        b.send_to(&rtp(0, seq, 160 * n, 0xb2b2, &[0x66; 160]), to_b)
            .unwrap();
        sent.set(n + 1);
        let (at_b, from) = recv(&b);
        assert_eq!(from, to_b, "from the relay's B port");
        let (at_a, _) = recv(&a);
        assert_eq!(header(&at_a).ssrc, header(&at_a).ssrc);
        let h = header(&at_b);
        if check {
            if let Some(prev) = last_at_b {
                assert_eq!(h.seq, prev.wrapping_add(1), "one continuous stream at B");
            }
        }
        last_at_b = Some(h.seq);
        std::thread::sleep(Duration::from_millis(20));
        (h, at_b[12..].to_vec())
    };

    // Steady: handed to the kernel after 25 packets each way (looked at every 250 ms).
    for _ in 0..100 {
        step(0, true);
        if stats().0 == 1 {
            break;
        }
    }
    assert_eq!(stats().0, 1, "offloaded");
    assert!(sent.get() > 25, "not before the legs were steady");
    assert_eq!(fast.rules(), 4, "RTP and RTCP of both legs");
    let in_userspace = stats().2;
    for _ in 0..60 {
        step(0, true);
    }
    assert_eq!(
        stats().2,
        in_userspace,
        "the kernel forwards; the userspace relay sees none"
    );
    assert!(fast.totals().forwarded >= 120);
    // The call's statistics count what the kernel forwarded (read every second).
    let mut q = relay.quality();
    for _ in 0..150 {
        step(0, true);
        q = relay.quality();
        if q[0].packets_received + 2 >= u64::from(sent.get()) {
            break;
        }
    }
    assert!(
        q[0].packets_received + 2 >= u64::from(sent.get()),
        "{q:?} after {}",
        sent.get()
    );
    assert_eq!(q[0].packets_lost, 0, "{q:?}");
    assert!(q[1].packets_sent + 2 >= u64::from(sent.get()), "{q:?}");

    // A telephone event: back to userspace, which forwards it in the same stream.
    let (h, _) = step(101, true);
    assert_eq!(h.pt, 101);
    assert_eq!(stats().0, 0, "taken back");
    assert_eq!(stats().1, 1);
    assert_eq!(fast.rules(), 0);
    // Steady again (after a 2 s hold-off): back in the kernel.
    for _ in 0..200 {
        step(0, true);
        if stats().0 == 1 {
            break;
        }
    }
    assert_eq!(stats().0, 1, "offloaded again");

    // Hold music towards B: taken back; B hears the player, not A.
    relay.play(
        Side::B,
        Box::new(ToneGenerator::new(
            &Cadence::continuous(&[440.0], -12.0),
            8000,
        )),
    );
    let mut tone = false;
    for _ in 0..20 {
        let (_, payload) = step(0, false);
        if payload != [0x55; 160] {
            tone = true;
            break;
        }
    }
    assert!(tone, "hold music reaches B");
    assert_eq!(stats().0, 0, "on hold: in userspace");
    assert_eq!(fast.rules(), 0);
    relay.stop_play(Side::B);
    for _ in 0..200 {
        step(0, false);
        if stats().0 == 1 {
            break;
        }
    }
    assert_eq!(stats().0, 1, "resumed: offloaded again");
    drop(relay);
    for _ in 0..100 {
        if fast.rules() == 0 && engine.stats().active.load(Ordering::Relaxed) == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(fast.rules(), 0, "nothing left behind");
    assert_eq!(stats().0, 0);
}

/// A bounded load: 200 calls, both legs talking, most of them handed to the kernel; every
/// packet sent arrives once, and when the relays end no rule is left in the map.
#[test]
fn a_load_of_calls_leaves_no_rule_behind() {
    use ringside_media::bridge::LegCodec;
    use ringside_media::codec::CodecKind;
    use ringside_media::relay::{MediaEngine, Side};
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    let Some(fast) = fast_path() else { return };
    let fast = Arc::new(fast);
    let engine = MediaEngine::new(Ipv4Addr::LOCALHOST.into(), 43000..=43999)
        .with_fast_path(fast.clone())
        .with_workers(2);
    let calls = 200;
    let mut relays = Vec::new();
    let mut legs = Vec::new(); // (socket, where it sends)
    for _ in 0..calls {
        let r = engine.create_relay().unwrap();
        let codec = LegCodec::new(CodecKind::Pcmu, 0);
        r.set_codec(Side::A, codec);
        r.set_codec(Side::B, codec);
        for side in [Side::A, Side::B] {
            let (s, addr) = udp();
            s.set_nonblocking(true).unwrap();
            r.announce(side, addr.into());
            legs.push((s, SocketAddrV4::new(Ipv4Addr::LOCALHOST, r.port(side))));
        }
        relays.push(r);
    }
    let mut buf = [0u8; 1500];
    let (mut sent, mut received) = (0u64, 0u64);
    let mut drain = |legs: &[(UdpSocket, SocketAddrV4)], received: &mut u64| {
        for (s, _) in legs {
            while s.recv_from(&mut buf).is_ok() {
                *received += 1;
            }
        }
    };
    // 2 s of 20 ms packets from every leg.
    for k in 0..100u16 {
        for (i, (s, to)) in legs.iter().enumerate() {
            s.send_to(&rtp(0, k, 160 * u32::from(k), i as u32, &[0x55; 160]), to)
                .unwrap();
            sent += 1;
        }
        std::thread::sleep(Duration::from_millis(20));
        drain(&legs, &mut received);
    }
    let offloaded = engine.stats().offloaded.load(Ordering::Relaxed);
    assert!(
        offloaded >= calls / 2,
        "{offloaded} of {calls} calls in the kernel"
    );
    assert!(fast.totals().forwarded > 0);
    for _ in 0..100 {
        drain(&legs, &mut received);
        if received == sent {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(received, sent, "every packet arrived once");
    drop(relays);
    for _ in 0..200 {
        if fast.rules() == 0 && engine.stats().active.load(Ordering::Relaxed) == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(fast.rules(), 0, "nothing left behind");
    assert_eq!(engine.stats().offloaded.load(Ordering::Relaxed), 0);
}
