//! The driver's side of the kernel fast path ([`crate::fastpath`]): a call's media handed to
//! the kernel when [`crate::bridge::CallMedia::offload`] says it may be, its counters read back
//! into the call every second, and the call taken back when it needs userspace.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{side_index, Call, RelayStats};
use crate::bridge::Offload;
use crate::fastpath::{FastPath, LegCounters, LegRule};
use crate::Side;

/// How often a call in userspace is looked at for the kernel fast path.
pub(super) const OFFLOAD_CHECK: Duration = Duration::from_millis(250);
/// How long a call taken back from the kernel stays in userspace at least (a DTMF digit's
/// packets, a re-INVITE settling).
pub(super) const OFFLOAD_HOLD: Duration = Duration::from_secs(2);
/// How long a call the kernel cannot take (or refused) waits before it is looked at again.
const OFFLOAD_DECLINED: Duration = Duration::from_secs(10);
/// How long after a call's rules went in its packets may still reach userspace, queued on
/// the socket before them.
const STRAGGLERS: Duration = Duration::from_millis(200);
/// How often an offloaded call's counters are read from the kernel (quality, RTCP reports).
const OFFLOAD_SYNC: Duration = Duration::from_secs(1);

/// A call's media in the kernel fast path.
pub(super) struct Offloaded {
    /// The counters of legs A and B last read.
    read: [LegCounters; 2],
    /// What the kernel forwards from legs A and B: (SSRC, payload type).
    forwards: [(u32, u8); 2],
    /// When the rules went in.
    since: Instant,
}

impl Offloaded {
    /// Whether `packet`, which reached userspace from `side`'s peer, is one the kernel forwards
    /// that came before its rules did (queued on the socket meanwhile): handled here, with no
    /// reason to take the call back.
    pub(super) fn is_straggler(&self, now: Instant, side: Side, packet: &[u8]) -> bool {
        let (ssrc, pt) = self.forwards[side_index(side)];
        now < self.since + STRAGGLERS
            && packet.len() >= 12
            && packet[0] & 0xc0 == 0x80
            && packet[1] & 0x7f == pt
            && u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]) == ssrc
    }
}

impl Call {
    /// Hands the call's media to the kernel when it is a steady passthrough (checked at most
    /// every [`OFFLOAD_CHECK`]).
    pub(super) fn try_offload(&mut self, now: Instant, fast: &FastPath, stats: &RelayStats) {
        if self.offload.is_some() || now < self.offload_check {
            return;
        }
        self.offload_check = now + OFFLOAD_CHECK;
        let Some(plan) = self.media.offload() else {
            return;
        };
        let Some(rules) = self.rules(&plan) else {
            // Not in a form the kernel forwards (see `rules`); that lasts as long as the peers.
            self.offload_check = now + OFFLOAD_DECLINED;
            return;
        };
        let installed = rules
            .iter()
            .try_for_each(|(port, rule)| fast.install(*port, rule))
            .and_then(|()| {
                self.ports
                    .iter()
                    .try_for_each(|p| fast.punt_all(p.wrapping_add(1)))
            });
        self.offload = Some(Offloaded {
            read: [0, 1].map(|i| LegCounters {
                max_seq: plan[i].max_seq,
                ..LegCounters::default()
            }),
            forwards: [0, 1].map(|i| (plan[i].in_ssrc, plan[i].in_pt)),
            since: now,
        });
        if let Err(e) = installed {
            tracing::warn!(error = %e, "the kernel fast path refused a call's rules; it stays in userspace");
            self.reclaim(now, Some(fast), stats);
            self.offload_check = now + OFFLOAD_DECLINED;
            return;
        }
        self.sync_due = Some(now + OFFLOAD_SYNC);
        stats.offloaded.fetch_add(1, Ordering::Relaxed);
        stats.offloads.fetch_add(1, Ordering::Relaxed);
    }

    /// The kernel rules of a steady passthrough call, one per direction: none when the call is
    /// not in a form the kernel forwards (from one address family to the other, a link-local
    /// peer, no route, or one peer on this host and the other elsewhere).
    fn rules(&self, plan: &[Offload; 2]) -> Option<[(u16, LegRule); 2]> {
        // Addresses as they are on the wire: an IPv4 peer of a socket on every address reads
        // as IPv4-mapped IPv6.
        let wire = |a: SocketAddr| SocketAddr::new(a.ip().to_canonical(), a.port());
        let rule = |o: &Offload| {
            let (i, out) = (side_index(o.from), 1 - side_index(o.from));
            let (peer, to) = (wire(o.peer), wire(o.to));
            if peer.is_ipv6() != to.is_ipv6() {
                // From one family to the other: the kernel does not translate.
                return None;
            }
            if [peer, to].iter().any(|a| match a.ip() {
                IpAddr::V6(ip) => ip.is_unicast_link_local(),
                IpAddr::V4(_) => false,
            }) {
                // A link-local peer: its scope (which link) is not part of the rule.
                return None;
            }
            // The relay's address in the packets' family (a socket on every address takes
            // both families).
            let local = match (self.ip, peer) {
                (ip, SocketAddr::V4(_)) if ip.is_unspecified() => Ipv4Addr::UNSPECIFIED.into(),
                (ip, SocketAddr::V6(_)) if ip.is_unspecified() => Ipv6Addr::UNSPECIFIED.into(),
                (ip @ IpAddr::V4(_), SocketAddr::V4(_))
                | (ip @ IpAddr::V6(_), SocketAddr::V6(_)) => ip,
                _ => return None,
            };
            // The way out towards the other peer, as this host would send from the relay's
            // socket: its interface, and (for a relay on every address) the route's source.
            let from = (!local.is_unspecified()).then_some(local);
            let route = crate::fastpath::route_to(to.ip(), from).ok();
            let local_peer = route.is_some_and(|r| r.local);
            if !local_peer && route.is_none() {
                // No way out known: the kernel would hand every packet back.
                return None;
            }
            Some((
                self.ports[i],
                LegRule {
                    local,
                    peer,
                    in_pt: o.in_pt,
                    out_pt: o.out_pt,
                    in_ssrc: o.in_ssrc,
                    out_src: SocketAddr::new(
                        from.or(route.and_then(|r| r.src)).unwrap_or(local),
                        self.ports[out],
                    ),
                    out_dst: to,
                    out_ssrc: o.out_ssrc,
                    seq_offset: o.seq_offset,
                    ts_offset: o.ts_offset,
                    clock_rate: o.clock_rate,
                    max_seq: o.max_seq,
                    jitter: o.jitter,
                    local_peer,
                    out_ifindex: route.map_or(0, |r| r.ifindex),
                },
            ))
        };
        let rules = [rule(&plan[0])?, rule(&plan[1])?];
        if rules[0].1.local_peer != rules[1].1.local_peer {
            // One peer on this host and the other elsewhere: a packet from the remote one would
            // come up the stack of a real interface from this host's own address (or to a
            // loopback one), which the stack drops as a martian. Such calls stay in userspace.
            return None;
        }
        Some(rules)
    }

    /// Takes the call's media back from the kernel, with what it counted.
    pub(super) fn reclaim(&mut self, now: Instant, fast: Option<&FastPath>, stats: &RelayStats) {
        let (Some(o), Some(fast)) = (self.offload.take(), fast) else {
            return;
        };
        for (i, side) in [(0, Side::A), (1, Side::B)] {
            if let Some(c) = fast.remove(self.ports[i]) {
                self.media.absorb(side, &o.read[i], &c, arrival(now, &c));
            }
            fast.remove(self.ports[i].wrapping_add(1));
        }
        if self.sync_due.take().is_some() {
            stats.offloaded.fetch_sub(1, Ordering::Relaxed);
            stats.reclaims.fetch_add(1, Ordering::Relaxed);
        }
        self.offload_check = now + OFFLOAD_HOLD;
        self.snapshot();
    }

    /// Reads what the kernel counted into the call (its statistics and RTCP reports).
    pub(super) fn sync(&mut self, now: Instant, fast: Option<&FastPath>) {
        let (Some(o), Some(fast)) = (self.offload.as_mut(), fast) else {
            self.sync_due = None;
            return;
        };
        for (i, side) in [(0, Side::A), (1, Side::B)] {
            if let Some(c) = fast.read(self.ports[i]) {
                self.media.absorb(side, &o.read[i], &c, arrival(now, &c));
                o.read[i] = c;
            }
        }
        self.sync_due = Some(now + OFFLOAD_SYNC);
        self.snapshot();
    }
}

/// When the kernel forwarded `c`'s last packet, on the `Instant` clock (both are monotonic).
fn arrival(now: Instant, c: &LegCounters) -> Instant {
    if c.last_arrival_ns == 0 {
        return now;
    }
    let ago = crate::fastpath::monotonic_ns().saturating_sub(c.last_arrival_ns);
    now.checked_sub(Duration::from_nanos(ago)).unwrap_or(now)
}
