//! The per-call RTP/RTCP relay and the engine that creates relays.
//!
//! A [`Relay`] owns four UDP sockets: RTP and RTCP for leg A and for leg B. A tokio task forwards
//! packets A→B and B→A, latching each leg's source ([`Latch`]). The task is a thin driver: the
//! decisions live in `Latch`. Dropping the `Relay` stops the task and returns its ports.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::latch::{Latch, Verdict};
use crate::ports::PortAllocator;
use crate::MediaError;

/// One side of a two-leg bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The leg towards the caller.
    A,
    /// The leg towards the callee.
    B,
}

/// Counters shared by all relays of an engine.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// Packets forwarded from one leg to the other (RTP and RTCP).
    pub forwarded: AtomicU64,
    /// Packets dropped because they came from an unexpected source.
    pub dropped_foreign: AtomicU64,
    /// Packets dropped because the other leg has no destination yet.
    pub dropped_no_destination: AtomicU64,
    /// Relays currently running.
    pub active: AtomicU64,
}

/// Creates relays on ports from the configured range.
#[derive(Debug, Clone)]
pub struct MediaEngine {
    bind_ip: IpAddr,
    ports: Arc<PortAllocator>,
    stats: Arc<RelayStats>,
}

enum Control {
    Announce(Side, SocketAddr),
}

/// A running relay between two legs. Dropping it stops the relay and frees its ports.
#[derive(Debug)]
pub struct Relay {
    a_port: u16,
    b_port: u16,
    ctl: mpsc::UnboundedSender<Control>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Control::Announce(s, a) => write!(f, "Announce({s:?}, {a})"),
        }
    }
}

impl MediaEngine {
    /// An engine binding media sockets on `bind_ip` within `ports`.
    pub fn new(bind_ip: IpAddr, ports: RangeInclusive<u16>) -> Self {
        MediaEngine {
            bind_ip,
            ports: Arc::new(PortAllocator::new(ports)),
            stats: Arc::new(RelayStats::default()),
        }
    }

    /// Counters over all relays.
    pub fn stats(&self) -> &RelayStats {
        &self.stats
    }

    /// Free port pairs left.
    pub fn ports_available(&self) -> usize {
        self.ports.available()
    }

    /// Allocate ports for both legs and start relaying. Must be called inside a tokio runtime.
    pub fn create_relay(&self) -> Result<Relay, MediaError> {
        let (a_port, a_rtp, a_rtcp) = self.bind_pair()?;
        let (b_port, b_rtp, b_rtcp) = match self.bind_pair() {
            Ok(x) => x,
            Err(e) => {
                self.ports.give_back(a_port);
                return Err(e);
            }
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let task = RelayTask {
            socks: [a_rtp, a_rtcp, b_rtp, b_rtcp],
            latches: Default::default(),
            stats: self.stats.clone(),
        };
        let ports = self.ports.clone();
        self.stats.active.fetch_add(1, Ordering::Relaxed);
        let stats = self.stats.clone();
        tokio::spawn(async move {
            task.run(rx).await;
            ports.give_back(a_port);
            ports.give_back(b_port);
            stats.active.fetch_sub(1, Ordering::Relaxed);
        });
        Ok(Relay {
            a_port,
            b_port,
            ctl: tx,
        })
    }

    fn bind_pair(&self) -> Result<(u16, UdpSocket, UdpSocket), MediaError> {
        // A port may be held by another process; try a bounded number of pairs.
        for _ in 0..64 {
            let port = self.ports.take().ok_or(MediaError::PortsExhausted)?;
            match (self.bind(port), self.bind(port + 1)) {
                (Ok(rtp), Ok(rtcp)) => return Ok((port, rtp, rtcp)),
                _ => self.ports.give_back(port),
            }
        }
        Err(MediaError::PortsExhausted)
    }

    fn bind(&self, port: u16) -> Result<UdpSocket, MediaError> {
        let s = std::net::UdpSocket::bind(SocketAddr::new(self.bind_ip, port))?;
        s.set_nonblocking(true)?;
        Ok(UdpSocket::from_std(s)?)
    }
}

impl Relay {
    /// The RTP port leg A's peer sends to (goes into the SDP towards leg A).
    pub fn port(&self, side: Side) -> u16 {
        match side {
            Side::A => self.a_port,
            Side::B => self.b_port,
        }
    }

    /// Tell the relay where a leg's peer said (in SDP) it receives RTP. RTCP is assumed on the
    /// next port up until the peer's RTCP latches.
    pub fn announce(&self, side: Side, rtp: SocketAddr) {
        let _ = self.ctl.send(Control::Announce(side, rtp));
    }
}

/// Socket/latch index: 0 = A RTP, 1 = A RTCP, 2 = B RTP, 3 = B RTCP.
struct RelayTask {
    socks: [UdpSocket; 4],
    latches: [Latch; 4],
    stats: Arc<RelayStats>,
}

impl RelayTask {
    async fn run(mut self, mut ctl: mpsc::UnboundedReceiver<Control>) {
        let mut bufs = [[0u8; 1500]; 4];
        loop {
            let [b0, b1, b2, b3] = &mut bufs;
            let (idx, res) = tokio::select! {
                // Control first: an address announcement must not lose the race against the
                // first packet waiting for it.
                biased;
                c = ctl.recv() => match c {
                    Some(Control::Announce(side, addr)) => {
                        let base = if side == Side::A { 0 } else { 2 };
                        self.latches[base].announce(addr);
                        self.latches[base + 1].announce(SocketAddr::new(addr.ip(), addr.port().wrapping_add(1)));
                        continue;
                    }
                    None => return,
                },
                r = self.socks[0].recv_from(b0) => (0, r),
                r = self.socks[1].recv_from(b1) => (1, r),
                r = self.socks[2].recv_from(b2) => (2, r),
                r = self.socks[3].recv_from(b3) => (3, r),
            };
            let Ok((len, src)) = res else { continue };
            let buf = &bufs[idx];
            if self.latches[idx].receive(src) == Verdict::Drop {
                self.stats.dropped_foreign.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let out = idx ^ 2; // the same kind of socket on the other leg
            match self.latches[out].destination() {
                Some(dst) => {
                    if self.socks[out].send_to(&buf[..len], dst).await.is_ok() {
                        self.stats.forwarded.fetch_add(1, Ordering::Relaxed);
                    }
                }
                None => {
                    self.stats
                        .dropped_no_destination
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn recv(s: &UdpSocket) -> (Vec<u8>, SocketAddr) {
        let mut b = [0u8; 1500];
        let (n, a) = tokio::time::timeout(Duration::from_secs(5), s.recv_from(&mut b))
            .await
            .expect("packet arrives")
            .unwrap();
        (b[..n].to_vec(), a)
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
        caller.send_to(b"from-caller", a_addr).await.unwrap();
        let (p, from) = recv(&callee).await;
        assert_eq!(p, b"from-caller");
        assert_eq!(from, b_addr, "media leaves from Ringside's B port");
        callee.send_to(b"from-callee", b_addr).await.unwrap();
        let (p, from) = recv(&caller).await;
        assert_eq!(p, b"from-callee");
        assert_eq!(from, a_addr);
        // A stranger hitting leg A's port is dropped and counted.
        let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        stranger.send_to(b"spoof", a_addr).await.unwrap();
        caller.send_to(b"again", a_addr).await.unwrap();
        let (p, _) = recv(&callee).await;
        assert_eq!(p, b"again");
        assert_eq!(engine.stats().dropped_foreign.load(Ordering::Relaxed), 1);
        assert_eq!(engine.stats().forwarded.load(Ordering::Relaxed), 3);
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
}
