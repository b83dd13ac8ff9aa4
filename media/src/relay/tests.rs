//! The driver on real sockets: relaying, latching, ports, workers.

use super::*;
use std::time::Duration;
use tokio::net::UdpSocket;

async fn recv(s: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut b = [0u8; 1500];
    let (n, a) = tokio::time::timeout(Duration::from_secs(5), s.recv_from(&mut b))
        .await
        .expect("packet arrives")
        .unwrap();
    (b[..n].to_vec(), a)
}

/// A PCMU RTP packet whose payload is `tag`.
fn rtp(seq: u16, tag: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 160, 0, 0, 0, 1];
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(tag);
    p
}

#[tokio::test]
async fn relays_both_ways_and_latches() {
    let engine = MediaEngine::new("127.0.0.1".parse().unwrap(), 41000..=41099);
    let relay = engine.create_relay().unwrap();
    let caller = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let callee = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    relay.announce(Side::B, callee.local_addr().unwrap());
    // Leg A's announced address is wrong (NAT): latching fixes it.
    relay.announce(Side::A, "127.0.0.1:9".parse().unwrap());
    let a_addr: SocketAddr = ([127, 0, 0, 1], relay.port(Side::A)).into();
    let b_addr: SocketAddr = ([127, 0, 0, 1], relay.port(Side::B)).into();
    tokio::time::sleep(Duration::from_millis(20)).await;
    caller
        .send_to(&rtp(1, b"from-caller"), a_addr)
        .await
        .unwrap();
    let (p, from) = recv(&callee).await;
    assert_eq!(&p[12..], b"from-caller");
    assert_eq!(from, b_addr, "media leaves from Ringside's B port");
    callee
        .send_to(&rtp(7, b"from-callee"), b_addr)
        .await
        .unwrap();
    let (p, from) = recv(&caller).await;
    assert_eq!(&p[12..], b"from-callee");
    assert_eq!(from, a_addr);
    // A stranger hitting leg A's port is dropped and counted.
    let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    stranger.send_to(&rtp(2, b"spoof"), a_addr).await.unwrap();
    caller.send_to(&rtp(2, b"again"), a_addr).await.unwrap();
    let (p, _) = recv(&callee).await;
    assert_eq!(&p[12..], b"again");
    assert_eq!(engine.stats().dropped_foreign.load(Ordering::Relaxed), 1);
    // The relay counts a packet after sending it: the callee may be faster.
    for _ in 0..100 {
        if engine.stats().forwarded.load(Ordering::Relaxed) == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(engine.stats().forwarded.load(Ordering::Relaxed), 3);
    // Garbage is not RTP: dropped and counted as malformed.
    caller.send_to(b"junk", a_addr).await.unwrap();
    caller.send_to(&rtp(3, b"after"), a_addr).await.unwrap();
    let (p, _) = recv(&callee).await;
    assert_eq!(&p[12..], b"after");
    assert_eq!(engine.stats().dropped_malformed.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn dropping_relay_frees_ports() {
    let engine = MediaEngine::new("127.0.0.1".parse().unwrap(), 41200..=41207);
    assert_eq!(engine.ports_available(), 4);
    let r = engine.create_relay().unwrap();
    assert_eq!(engine.ports_available(), 2);
    let _r2 = engine.create_relay().unwrap();
    assert!(matches!(
        engine.create_relay(),
        Err(MediaError::PortsExhausted)
    ));
    drop(r);
    for _ in 0..100 {
        if engine.ports_available() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(engine.ports_available(), 2);
    assert_eq!(engine.stats().active.load(Ordering::Relaxed), 1);
}

#[test]
fn works_without_a_tokio_runtime() {
    let engine = MediaEngine::new("127.0.0.1".parse().unwrap(), 41300..=41399).with_workers(3);
    let caller = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let callee = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    callee
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // More relays than workers: every worker carries some.
    let relays: Vec<Relay> = (0..5).map(|_| engine.create_relay().unwrap()).collect();
    assert_eq!(engine.stats().active.load(Ordering::Relaxed), 5);
    for (i, relay) in relays.iter().enumerate() {
        relay.announce(Side::B, callee.local_addr().unwrap());
        let a_addr: SocketAddr = ([127, 0, 0, 1], relay.port(Side::A)).into();
        caller
            .send_to(&rtp(i as u16, b"no-runtime"), a_addr)
            .unwrap();
        let mut b = [0u8; 1500];
        let (n, from) = callee.recv_from(&mut b).unwrap();
        assert_eq!(&b[12..n], b"no-runtime");
        assert_eq!(from.port(), relay.port(Side::B));
    }
    drop(relays);
    for _ in 0..100 {
        if engine.stats().active.load(Ordering::Relaxed) == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(engine.stats().active.load(Ordering::Relaxed), 0);
    assert_eq!(engine.ports_available(), 50);
}
