//! The kernel fast path between two networks, as on a host with a NIC: each peer is in its own
//! network namespace behind a veth pair (10.231.1.0/24 and fd00:231:1::/64, 10.231.2.0/24 and
//! fd00:231:2::/64), and the relay, in this namespace, listens on every address. A relayed call
//! between them, over IPv4 and then over IPv6, goes into the kernel, where the program rewrites
//! each packet and sends it out of the other network's interface, from this host's address on
//! that network, on a host that does not forward IP.
//!
//! Receive checksum offload is off on every veth end, so the peers' stacks verify the checksums
//! the program rewrote (a wrong one is dropped and counted in `UdpInCsumErrors`), and a capture
//! in each namespace checks them too. The peers send with their checksums complete, then with
//! them left to the device (transmit offload on), which the program must update differently.
//!
//! Needs root (network namespaces, CAP_BPF, CAP_NET_ADMIN), `ip` and `ethtool`, and a build with
//! the program, as the test command has; elsewhere it says why it did not run.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ringside_media::bridge::LegCodec;
use ringside_media::codec::CodecKind;
use ringside_media::fastpath::{FastPath, PuntReason};
use ringside_media::relay::{MediaEngine, Relay, Side};

mod fastpath_common;

fn run(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn must(args: &[&str]) {
    assert!(run(args), "{args:?} failed");
}

/// The two peers' networks: a namespace each, joined to this one by a veth pair. Removed when
/// dropped (and before being made, should an earlier run have died half-way).
struct Networks;

/// (namespace, this side's veth, network number).
const NETS: [(&str, &str, u8); 2] = [("rsfp-a", "rsfpa", 1), ("rsfp-b", "rsfpb", 2)];

impl Networks {
    fn up() -> Networks {
        Self::down();
        for (ns, host_if, net) in NETS {
            let host_addr = format!("10.231.{net}.1/24");
            let peer_addr = format!("10.231.{net}.2/24");
            let host_addr6 = format!("fd00:231:{net}::1/64");
            let peer_addr6 = format!("fd00:231:{net}::2/64");
            must(&["ip", "netns", "add", ns]);
            must(&[
                "ip", "link", "add", host_if, "type", "veth", "peer", "name", "eth0", "netns", ns,
            ]);
            must(&["ip", "addr", "add", &host_addr, "dev", host_if]);
            must(&["ip", "link", "set", host_if, "up"]);
            must(&["ip", "-n", ns, "addr", "add", &peer_addr, "dev", "eth0"]);
            // No duplicate address detection: the addresses are usable at once.
            must(&["ip", "addr", "add", &host_addr6, "dev", host_if, "nodad"]);
            must(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &peer_addr6,
                "dev",
                "eth0",
                "nodad",
            ]);
            must(&["ip", "-n", ns, "link", "set", "eth0", "up"]);
            must(&["ip", "-n", ns, "link", "set", "lo", "up"]);
            // Every checksum verified in software, and completed in software on the way out.
            must(&["ethtool", "-K", host_if, "rx", "off", "tx", "off"]);
            must(&[
                "ip", "netns", "exec", ns, "ethtool", "-K", "eth0", "rx", "off", "tx", "off",
            ]);
        }
        Networks
    }

    fn down() {
        for (ns, host_if, _) in NETS {
            run(&["ip", "link", "del", host_if]);
            run(&["ip", "netns", "del", ns]);
        }
    }
}

impl Drop for Networks {
    fn drop(&mut self) {
        Self::down();
    }
}

/// Runs `f` on a thread in network namespace `ns`; what it makes there (sockets) stays there.
#[allow(unsafe_code)]
fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = std::fs::File::open(format!("/run/netns/{ns}")).expect("namespace");
            // SAFETY: setns(2) with a namespace file descriptor we hold open; it moves this
            // thread only, which ends when `f` returns.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .expect("namespace thread")
    })
}

/// A UDP socket on `ip` in namespace `ns`.
fn peer(ns: &str, ip: IpAddr) -> (UdpSocket, SocketAddr) {
    in_netns(ns, || {
        let s = UdpSocket::bind((ip, 0)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let a = s.local_addr().unwrap();
        (s, a)
    })
}

/// A capture of the IPv4 or IPv6 packets namespace `ns` receives (an AF_PACKET socket, from
/// the IP header on).
fn capture(ns: &str, v6: bool) -> socket2::Socket {
    in_netns(ns, || {
        let proto = (if v6 { libc::ETH_P_IPV6 } else { libc::ETH_P_IP } as u16).to_be();
        let s = socket2::Socket::new(
            socket2::Domain::from(libc::AF_PACKET),
            socket2::Type::DGRAM,
            Some(socket2::Protocol::from(i32::from(proto))),
        )
        .expect("AF_PACKET socket");
        s.set_nonblocking(true).unwrap();
        s
    })
}

/// UDP checksum errors in namespace `ns`: `Udp: InCsumErrors` plus `Udp6InCsumErrors`.
fn udp_checksum_errors(ns: &str) -> u64 {
    in_netns(ns, || {
        let s = std::fs::read_to_string("/proc/thread-self/net/snmp").unwrap();
        let mut rows = s.lines().filter(|l| l.starts_with("Udp:"));
        let (names, values) = (rows.next().unwrap(), rows.next().unwrap());
        let i = names
            .split_whitespace()
            .position(|n| n == "InCsumErrors")
            .unwrap();
        let v4: u64 = values.split_whitespace().nth(i).unwrap().parse().unwrap();
        let s6 = std::fs::read_to_string("/proc/thread-self/net/snmp6").unwrap();
        let v6: u64 = s6
            .lines()
            .find_map(|l| l.strip_prefix("Udp6InCsumErrors"))
            .map_or(0, |v| v.trim().parse().unwrap());
        v4 + v6
    })
}

/// The one's-complement sum of `bytes` (RFC 1071), folded, not inverted.
fn ones_sum(bytes: &[u8], mut sum: u32) -> u16 {
    for c in bytes.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// A captured UDP packet to `port` (IPv4 or IPv6): (source, its RTP sequence number), after
/// checking its IPv4 header checksum and its UDP checksum (with the pseudo-header).
fn checked(p: &[u8], port: u16) -> Option<(SocketAddr, u16)> {
    let (udp, src, pseudo) = match p.first()? >> 4 {
        4 if p.len() >= 20 + 8 + 12 && p[0] == 0x45 && p[9] == 17 => {
            let (ip, udp) = p.split_at(20);
            if u16::from_be_bytes([udp[2], udp[3]]) != port {
                return None;
            }
            assert_eq!(ones_sum(ip, 0), 0xffff, "IP header checksum of {p:02x?}");
            let mut pseudo = ip[12..20].to_vec();
            pseudo.extend_from_slice(&[0, 17]);
            pseudo.extend_from_slice(&(udp.len() as u16).to_be_bytes());
            let src: [u8; 4] = ip[12..16].try_into().unwrap();
            (udp, IpAddr::from(src), pseudo)
        }
        6 if p.len() >= 40 + 8 + 12 && p[6] == 17 => {
            let (ip, udp) = p.split_at(40);
            if u16::from_be_bytes([udp[2], udp[3]]) != port {
                return None;
            }
            let mut pseudo = ip[8..40].to_vec();
            pseudo.extend_from_slice(&(udp.len() as u32).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, 17]);
            let src: [u8; 16] = ip[8..24].try_into().unwrap();
            (udp, IpAddr::from(src), pseudo)
        }
        _ => return None,
    };
    let len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    assert_eq!(len, udp.len(), "UDP length");
    assert_ne!(u16::from_be_bytes([udp[6], udp[7]]), 0, "a UDP checksum");
    let sum = u32::from(ones_sum(&pseudo, 0));
    assert_eq!(ones_sum(udp, sum), 0xffff, "UDP checksum of {p:02x?}");
    let from = SocketAddr::new(src, u16::from_be_bytes([udp[0], udp[1]]));
    Some((from, u16::from_be_bytes([udp[10], udp[11]])))
}

/// Every packet captured so far to `port`, checked.
fn captured(cap: &socket2::Socket, port: u16) -> Vec<(SocketAddr, u16)> {
    use std::io::Read;
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    let mut cap = cap;
    while let Ok(n) = cap.read(&mut buf) {
        out.extend(checked(&buf[..n], port));
    }
    out
}

fn rtp(seq: u16, ssrc: u32, payload: u8) -> Vec<u8> {
    let mut p = vec![0x80, 0];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[payload; 160]);
    p
}

fn recv(s: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut b = [0u8; 1500];
    let (n, from) = s.recv_from(&mut b).expect("a packet arrives");
    (b[..n].to_vec(), from)
}

#[test]
fn a_call_between_two_networks_is_forwarded_in_the_kernel_with_valid_checksums() {
    use fastpath_common::skip;
    if let Some(why) = fastpath_common::unavailable() {
        return skip(why);
    }
    if !run(&["ethtool", "--version"]) {
        return skip("ethtool is not installed");
    }
    let _nets = Networks::up();
    // The host does not route: the program sends out of the other network's interface itself.
    let forwarding = |dev: &str| {
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{dev}/forwarding"))
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(forwarding("rsfpa"), "0");
    assert_eq!(forwarding("rsfpb"), "0");

    let fast = Arc::new(FastPath::start(Ipv4Addr::UNSPECIFIED.into()).expect("the fast path"));
    for i in ["rsfpa", "rsfpb", "lo"] {
        assert!(fast.interfaces().iter().any(|x| x == i), "{fast:?}");
    }
    for v6 in [false, true] {
        eprintln!("a call over IPv{}", if v6 { 6 } else { 4 });
        call_between_networks(&fast, v6);
    }
    a_peer_here_and_one_elsewhere_stay_in_userspace(&fast);
}

/// A media engine with the fast path on `any` (every address of a family), and one relay
/// whose legs both speak PCMU: a plain passthrough once steady.
fn pcmu_relay(
    fast: &Arc<FastPath>,
    any: IpAddr,
    ports: std::ops::RangeInclusive<u16>,
) -> (MediaEngine, Relay) {
    let engine = MediaEngine::new(any, ports)
        .with_fast_path(fast.clone())
        .with_workers(1);
    let relay = engine.create_relay().unwrap();
    let codec = LegCodec::new(CodecKind::Pcmu, 0);
    relay.set_codec(Side::A, codec);
    relay.set_codec(Side::B, codec);
    (engine, relay)
}

/// A call between a peer on another network and one on this host (the loopback): delivered up
/// the stack of the other network's interface, the remote peer's packets would carry this
/// host's own (or a loopback) address, which the stack drops as a martian; so the call stays
/// in userspace, and its media flows both ways.
fn a_peer_here_and_one_elsewhere_stay_in_userspace(fast: &Arc<FastPath>) {
    let (engine, relay) = pcmu_relay(fast, Ipv4Addr::UNSPECIFIED.into(), 44300..=44399);
    let (a, a_addr) = peer("rsfp-a", Ipv4Addr::new(10, 231, 1, 2).into());
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    b.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    relay.announce(Side::A, a_addr);
    relay.announce(Side::B, b.local_addr().unwrap());
    let to_a = SocketAddr::new(Ipv4Addr::new(10, 231, 1, 1).into(), relay.port(Side::A));
    let to_b = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), relay.port(Side::B));
    let kernel = fast.totals().forwarded;
    // 3 s: steady long enough to have been offloaded many times over.
    for n in 0..150u16 {
        a.send_to(&rtp(n, 0xa1, 0x55), to_a).unwrap();
        b.send_to(&rtp(n, 0xb2, 0x66), to_b).unwrap();
        let (p, from) = recv(&b);
        assert_eq!((from, &p[12..]), (to_b, &[0x55u8; 160][..]));
        let (p, from) = recv(&a);
        assert_eq!((from, &p[12..]), (to_a, &[0x66u8; 160][..]));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(engine.stats().offloaded.load(Ordering::Relaxed), 0);
    assert_eq!(engine.stats().offloads.load(Ordering::Relaxed), 0);
    assert_eq!(
        fast.totals().forwarded,
        kernel,
        "nothing through the kernel"
    );
    assert_eq!(engine.stats().forwarded.load(Ordering::Relaxed), 300);
}

/// A call between peers A (network 1) and B (network 2) over IPv4 or IPv6, through a relay on
/// every address of that family.
fn call_between_networks(fast: &Arc<FastPath>, v6: bool) {
    let (any, ports): (IpAddr, _) = if v6 {
        (Ipv6Addr::UNSPECIFIED.into(), 44200..=44299)
    } else {
        (Ipv4Addr::UNSPECIFIED.into(), 44100..=44199)
    };
    let addr = |net: u8, host: u8| -> IpAddr {
        if v6 {
            Ipv6Addr::new(0xfd00, 0x231, u16::from(net), 0, 0, 0, 0, u16::from(host)).into()
        } else {
            Ipv4Addr::new(10, 231, net, host).into()
        }
    };
    let (engine, relay) = pcmu_relay(fast, any, ports);
    let (a, a_addr) = peer("rsfp-a", addr(1, 2));
    let (b, b_addr) = peer("rsfp-b", addr(2, 2));
    relay.announce(Side::A, a_addr);
    relay.announce(Side::B, b_addr);
    // Each peer sends to this host's address on its own network.
    let to_a = SocketAddr::new(addr(1, 1), relay.port(Side::A));
    let to_b = SocketAddr::new(addr(2, 1), relay.port(Side::B));
    let (cap_a, cap_b) = (capture("rsfp-a", v6), capture("rsfp-b", v6));
    let errors_before = (udp_checksum_errors("rsfp-a"), udp_checksum_errors("rsfp-b"));
    let no_route_before = fast.totals().punted(PuntReason::Route);

    // One 20 ms step: a packet each way; each arrives from the relay's port on the receiver's
    // network, in one continuous stream.
    let mut n = 0u16;
    let mut last = [None::<u16>; 2];
    let mut step = || {
        a.send_to(&rtp(n, 0xa1, 0x55), to_a).unwrap();
        b.send_to(&rtp(n, 0xb2, 0x66), to_b).unwrap();
        n += 1;
        for (i, (s, from, payload)) in [(&b, to_b, 0x55u8), (&a, to_a, 0x66)]
            .into_iter()
            .enumerate()
        {
            let (p, got_from) = recv(s);
            assert_eq!(got_from, from, "sent from the relay's port on this network");
            assert_eq!(&p[12..], &[payload; 160]);
            let seq = u16::from_be_bytes([p[2], p[3]]);
            if let Some(prev) = last[i] {
                assert_eq!(seq, u16::wrapping_add(prev, 1), "one continuous stream");
            }
            last[i] = Some(seq);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    for _ in 0..100 {
        step();
        if engine.stats().offloaded.load(Ordering::Relaxed) == 1 {
            break;
        }
    }
    assert_eq!(
        engine.stats().offloaded.load(Ordering::Relaxed),
        1,
        "the call went into the kernel"
    );
    // What userspace handled so far (and the packets queued before the rules went in).
    for _ in 0..15 {
        step();
    }
    // A peer's packets come with their UDP checksum complete (from a NIC; from these peers with
    // offload off), or with it left to the device (from a container on this host: the program
    // then updates only its pseudo-header part, and the interface the packet leaves by
    // completes it, here in software since the veth has no offload). Both arrive valid.
    for (kind, peer_tx) in [("complete", "off"), ("left to the device", "on")] {
        eprintln!("the peers send their checksums {kind}");
        for (ns, _, _) in NETS {
            must(&[
                "ip", "netns", "exec", ns, "ethtool", "-K", "eth0", "tx", peer_tx,
            ]);
        }
        captured(&cap_a, a_addr.port());
        captured(&cap_b, b_addr.port());
        let (userspace, kernel) = (
            engine.stats().forwarded.load(Ordering::Relaxed),
            fast.totals().forwarded,
        );
        for _ in 0..50 {
            step();
        }
        assert_eq!(
            engine.stats().forwarded.load(Ordering::Relaxed),
            userspace,
            "checksums {kind}: the userspace relay saw none of them"
        );
        assert_eq!(
            fast.totals().forwarded - kernel,
            100,
            "checksums {kind}: the kernel forwarded them all"
        );
        assert_eq!(
            fast.totals().punted(PuntReason::Route),
            no_route_before,
            "checksums {kind}: every packet had a way out"
        );
        // What each peer's network received: checksums valid, from the relay's port there.
        let at_b = captured(&cap_b, b_addr.port());
        let at_a = captured(&cap_a, a_addr.port());
        assert_eq!(at_b.len(), 50, "checksums {kind}: {at_b:?}");
        assert_eq!(at_a.len(), 50, "checksums {kind}: {at_a:?}");
        assert!(at_b.iter().all(|(from, _)| *from == to_b));
        assert!(at_a.iter().all(|(from, _)| *from == to_a));
        assert_eq!(
            (udp_checksum_errors("rsfp-a"), udp_checksum_errors("rsfp-b")),
            errors_before,
            "checksums {kind}: no checksum error at either peer"
        );
    }
    // The call record's counters hold what the kernel forwarded.
    let mut q = relay.quality();
    for _ in 0..30 {
        q = relay.quality();
        if q[0].packets_received >= u64::from(n) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(q[0].packets_received, u64::from(n), "{q:?}");
    assert_eq!(q[1].packets_received, u64::from(n), "{q:?}");
    assert_eq!(q[0].packets_lost, 0, "{q:?}");

    drop(relay);
    for _ in 0..100 {
        if fast.rules() == 0 && engine.stats().active.load(Ordering::Relaxed) == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(fast.rules(), 0, "nothing left behind");
}
