//! The kernel fast path for relayed calls: established passthrough RTP forwarded by an eBPF
//! program at TC ingress (`bpf/relay.bpf.c`), so a forwarded packet never reaches a socket.
//!
//! The program knows only what [`LegRule`]s the media engine installs: for a relay port, the
//! latched peer, its SSRC and payload type, and how to rewrite the packet for the other leg.
//! Everything else reaches the userspace relay as before, counted by [`PuntReason`]; the
//! engine takes the call back whenever the call needs userspace (hold, recording, DTMF, a new
//! source) and reads each leg's [`LegCounters`] into the call's statistics.
//!
//! Built when clang and libbpf's headers are there (`build.rs`); loaded when the kernel and
//! the process's capabilities (CAP_BPF, CAP_NET_ADMIN) allow it. Otherwise [`FastPath::start`]
//! says why not, and every call stays in userspace.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

#[cfg(ringside_bpf)]
mod kernel;
mod route;

pub use route::{route_to, Route};

/// Whether this build has the program (clang and libbpf's headers were there).
pub const BUILT: bool = cfg!(ringside_bpf);

/// How one leg's packets are forwarded in the kernel: the packets addressed to the leg's relay
/// port from its latched peer, with its SSRC and payload type, rewritten for the other leg.
///
/// All its addresses are of one family, IPv4 or IPv6 (an unspecified `local` or `out_src` of
/// either family stands for "any"): the kernel does not translate between them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LegRule {
    /// The relay's address the packets are sent to (`UNSPECIFIED`: any of this host's).
    pub local: IpAddr,
    /// The latched peer: the only source forwarded.
    pub peer: SocketAddr,
    /// The payload type forwarded (the leg's codec); any other goes to userspace.
    pub in_pt: u8,
    /// The payload type it becomes (the other leg's codec number).
    pub out_pt: u8,
    /// The SSRC forwarded (the peer's current source); another goes to userspace.
    pub in_ssrc: u32,
    /// The other leg's relay address: the packets' new source (an unspecified address: the one
    /// the packet came to).
    pub out_src: SocketAddr,
    /// The other leg's peer: the packets' new destination.
    pub out_dst: SocketAddr,
    /// The SSRC of the stream the other leg receives.
    pub out_ssrc: u32,
    /// Added to the sequence number.
    pub seq_offset: u16,
    /// Added to the timestamp.
    pub ts_offset: u32,
    /// The RTP clock rate (jitter is counted in its units).
    pub clock_rate: u32,
    /// The highest sequence number userspace saw (a jump from it goes to userspace).
    pub max_seq: u16,
    /// Userspace's interarrival jitter, in timestamp units (the kernel goes on from it).
    pub jitter: f64,
    /// The other leg's peer is on this host: delivered up the stack, not routed out.
    pub local_peer: bool,
    /// The interface the route towards the other leg's peer leaves by ([`route_to`]); 0:
    /// unknown, and a packet for a peer elsewhere goes to userspace.
    pub out_ifindex: u32,
}

/// What the kernel counted for one leg since its rule was installed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LegCounters {
    /// Packets forwarded (in order or late).
    pub packets: u64,
    /// Their payload octets.
    pub octets: u64,
    /// The highest sequence number forwarded.
    pub max_seq: u16,
    /// Sequence number wraps since the rule was installed (RFC 3550 A.1 `cycles` / 65536).
    pub wraps: u32,
    /// Packets older than the highest seen (late or duplicated).
    pub reordered: u64,
    /// Interarrival jitter (RFC 3550 A.8), in timestamp units.
    pub jitter: f64,
    /// The last forwarded packet's outgoing sequence number and timestamp (0 before one).
    pub last_out: (u16, u32),
    /// When the last packet was forwarded, as CLOCK_MONOTONIC nanoseconds (0: none yet).
    pub last_arrival_ns: u64,
}

/// Why a packet addressed to a fast-path port went to userspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PuntReason {
    /// Not from the latched peer (a stranger, a peer that moved).
    Source,
    /// Another SSRC (a new source).
    Ssrc,
    /// Another payload type (telephone events, comfort noise).
    PayloadType,
    /// A sequence number jump (a restarted source).
    Jump,
    /// Not RTP version 2, or too short.
    NotRtp,
    /// IP options or a fragment.
    Ip,
    /// No route towards the other leg's peer was known when the rule went in.
    Route,
    /// A port that punts everything (a call's RTCP).
    Rtcp,
}

impl PuntReason {
    /// Every reason, in the program's counter order.
    pub const ALL: [PuntReason; 8] = [
        PuntReason::Source,
        PuntReason::Ssrc,
        PuntReason::PayloadType,
        PuntReason::Jump,
        PuntReason::NotRtp,
        PuntReason::Ip,
        PuntReason::Route,
        PuntReason::Rtcp,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            PuntReason::Source => "source",
            PuntReason::Ssrc => "ssrc",
            PuntReason::PayloadType => "payload_type",
            PuntReason::Jump => "sequence_jump",
            PuntReason::NotRtp => "not_rtp",
            PuntReason::Ip => "ip_options_or_fragment",
            PuntReason::Route => "no_route",
            PuntReason::Rtcp => "rtcp",
        }
    }
}

/// The program's totals over all legs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Packets forwarded in the kernel.
    pub forwarded: u64,
    /// Packets addressed to a fast-path port that went to userspace, by [`PuntReason::ALL`].
    pub punted: [u64; 8],
}

impl Totals {
    /// The count for `reason`.
    pub fn punted(&self, reason: PuntReason) -> u64 {
        let i = PuntReason::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        self.punted[i]
    }
}

/// Why the fast path is off.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    /// This build has no program (no clang or libbpf headers when it was built).
    #[error("not in this build (built without clang and libbpf-dev)")]
    NotBuilt,
    /// Turned off by the operator.
    #[error("disabled by RINGSIDE_MEDIA_FASTPATH=off")]
    Disabled,
    /// No network interface holds the media address.
    #[error("no network interface holds the media address {0}")]
    NoInterface(IpAddr),
    /// The kernel refused the program or its maps (no CAP_BPF, an old kernel, the verifier).
    #[error("the kernel refused the program: {0}")]
    Load(String),
    /// The program could not be attached to an interface (no CAP_NET_ADMIN).
    #[error("attaching to {0} failed: {1}")]
    Attach(String, String),
}

/// The loaded and attached program, and its maps. Dropping it detaches the program (a process
/// that dies leaves nothing attached: the links are its file descriptors).
pub struct FastPath {
    #[cfg(ringside_bpf)]
    inner: kernel::Kernel,
    interfaces: Vec<String>,
}

impl std::fmt::Debug for FastPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastPath")
            .field("interfaces", &self.interfaces)
            .finish_non_exhaustive()
    }
}

impl FastPath {
    /// Loads the program and attaches it at the ingress of the interfaces that receive media
    /// for `media_ip` ([`interfaces_for`]).
    pub fn start(media_ip: IpAddr) -> Result<FastPath, Unavailable> {
        let host = host_interfaces();
        let interfaces = interfaces_for(media_ip, &host);
        if interfaces.is_empty() {
            return Err(Unavailable::NoInterface(media_ip));
        }
        Self::start_on(interfaces)
    }

    #[cfg(ringside_bpf)]
    fn start_on(interfaces: Vec<String>) -> Result<FastPath, Unavailable> {
        Ok(FastPath {
            inner: kernel::Kernel::load(&interfaces)?,
            interfaces,
        })
    }

    #[cfg(not(ringside_bpf))]
    fn start_on(_: Vec<String>) -> Result<FastPath, Unavailable> {
        Err(Unavailable::NotBuilt)
    }

    /// The interfaces the program is attached to.
    pub fn interfaces(&self) -> &[String] {
        &self.interfaces
    }

    /// Forwards in the kernel the packets to relay port `port` that `rule` matches (replacing
    /// a rule there).
    pub fn install(&self, port: u16, rule: &LegRule) -> std::io::Result<()> {
        let v6 = |a: IpAddr| a.to_canonical().is_ipv6();
        let family = v6(rule.peer.ip());
        let fits = |a: IpAddr| v6(a) == family || a.is_unspecified();
        if v6(rule.out_dst.ip()) != family || !fits(rule.local) || !fits(rule.out_src.ip()) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a fast path rule's addresses are of one family",
            ));
        }
        #[cfg(ringside_bpf)]
        return self.inner.install(port, rule);
        #[cfg(not(ringside_bpf))]
        {
            let _ = (port, rule);
            Err(std::io::Error::other(Unavailable::NotBuilt))
        }
    }

    /// Counts (as [`PuntReason::Rtcp`]) and passes on everything to `port`.
    pub fn punt_all(&self, port: u16) -> std::io::Result<()> {
        #[cfg(ringside_bpf)]
        return self.inner.punt_all(port);
        #[cfg(not(ringside_bpf))]
        {
            let _ = port;
            Err(std::io::Error::other(Unavailable::NotBuilt))
        }
    }

    /// The counters of the rule on `port`.
    pub fn read(&self, port: u16) -> Option<LegCounters> {
        #[cfg(ringside_bpf)]
        return self.inner.read(port);
        #[cfg(not(ringside_bpf))]
        {
            let _ = port;
            None
        }
    }

    /// Removes the rule on `port`: its packets go to userspace from now on. Its last counters.
    pub fn remove(&self, port: u16) -> Option<LegCounters> {
        #[cfg(ringside_bpf)]
        return self.inner.remove(port);
        #[cfg(not(ringside_bpf))]
        {
            let _ = port;
            None
        }
    }

    /// Rules installed (RTCP ports included).
    pub fn rules(&self) -> usize {
        #[cfg(ringside_bpf)]
        return self.inner.rules();
        #[cfg(not(ringside_bpf))]
        0
    }

    /// The program's totals.
    pub fn totals(&self) -> Totals {
        #[cfg(ringside_bpf)]
        return self.inner.totals();
        #[cfg(not(ringside_bpf))]
        Totals::default()
    }
}

/// CLOCK_MONOTONIC now, in nanoseconds: the clock of [`LegCounters::last_arrival_ns`].
#[allow(unsafe_code)]
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for clock_gettime to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// A host interface: its name and addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInterface {
    /// The name (`lo`, `eth0`).
    pub name: String,
    /// Its IPv4 and IPv6 addresses.
    pub addrs: Vec<IpAddr>,
    /// It is up.
    pub up: bool,
}

/// Where media for `ip` arrives: the interfaces holding it (every one that is up, for the
/// unspecified address of either family), and always the loopback, which carries what this
/// host's own processes send to any of its addresses.
pub fn interfaces_for(ip: IpAddr, host: &[HostInterface]) -> Vec<String> {
    let mut out: Vec<String> = host
        .iter()
        .filter(|i| i.up)
        .filter(|i| {
            ip.is_unspecified()
                || i.addrs.contains(&ip)
                || (ip.is_loopback() && i.addrs.iter().any(IpAddr::is_loopback))
        })
        .map(|i| i.name.clone())
        .collect();
    if out.is_empty() {
        return out;
    }
    if let Some(lo) = host
        .iter()
        .find(|i| i.up && i.addrs.iter().any(IpAddr::is_loopback))
    {
        if !out.contains(&lo.name) {
            out.push(lo.name.clone());
        }
    }
    out
}

/// This host's interfaces (`getifaddrs`).
#[allow(unsafe_code)]
pub fn host_interfaces() -> Vec<HostInterface> {
    let mut out: Vec<HostInterface> = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list freed by freeifaddrs below; every pointer
    // read is checked for null and the list is not used after it is freed.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return out;
        }
        let mut p = head;
        while !p.is_null() {
            let ifa = &*p;
            p = ifa.ifa_next;
            if ifa.ifa_name.is_null() {
                continue;
            }
            let name = std::ffi::CStr::from_ptr(ifa.ifa_name)
                .to_string_lossy()
                .into_owned();
            let up = ifa.ifa_flags & (libc::IFF_UP as u32) != 0;
            let family = if ifa.ifa_addr.is_null() {
                0
            } else {
                i32::from((*ifa.ifa_addr).sa_family)
            };
            let addr = match family {
                libc::AF_INET => {
                    let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                        sin.sin_addr.s_addr,
                    ))))
                }
                libc::AF_INET6 => {
                    let sin6 = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                    Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
                }
                _ => None,
            };
            let entry = match out.iter_mut().position(|i| i.name == name) {
                Some(i) => &mut out[i],
                None => {
                    out.push(HostInterface {
                        name,
                        addrs: Vec::new(),
                        up,
                    });
                    out.last_mut().expect("just pushed")
                }
            };
            entry.up |= up;
            entry.addrs.extend(addr);
        }
        libc::freeifaddrs(head);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Vec<HostInterface> {
        let i = |name: &str, addrs: &[&str], up| HostInterface {
            name: name.into(),
            addrs: addrs.iter().map(|a| a.parse().unwrap()).collect(),
            up,
        };
        vec![
            i("lo", &["127.0.0.1", "::1"], true),
            i("eth0", &["10.0.0.5", "fd00::5"], true),
            i("eth1", &["192.168.1.2", "192.168.1.3"], true),
            i("eth2", &["172.16.0.1"], false),
        ]
    }

    #[test]
    fn media_arrives_on_the_interfaces_holding_its_address_and_the_loopback() {
        let h = host();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(interfaces_for(ip("10.0.0.5"), &h), ["eth0", "lo"]);
        assert_eq!(interfaces_for(ip("192.168.1.3"), &h), ["eth1", "lo"]);
        assert_eq!(interfaces_for(ip("127.0.0.1"), &h), ["lo"]);
        assert_eq!(interfaces_for(ip("127.0.0.9"), &h), ["lo"], "all of 127/8");
        assert_eq!(interfaces_for(ip("0.0.0.0"), &h), ["lo", "eth0", "eth1"]);
        assert!(
            interfaces_for(ip("172.16.0.1"), &h).is_empty(),
            "an interface that is down"
        );
        assert!(interfaces_for(ip("10.9.9.9"), &h).is_empty());
        // IPv6 alike.
        assert_eq!(interfaces_for(ip("fd00::5"), &h), ["eth0", "lo"]);
        assert_eq!(interfaces_for(ip("::1"), &h), ["lo"]);
        assert_eq!(interfaces_for(ip("::"), &h), ["lo", "eth0", "eth1"]);
        assert!(interfaces_for(ip("fd00::9"), &h).is_empty());
    }

    #[test]
    fn this_host_has_a_loopback() {
        let h = host_interfaces();
        assert!(
            h.iter()
                .any(|i| i.up && i.addrs.contains(&Ipv4Addr::LOCALHOST.into())),
            "{h:?}"
        );
    }

    #[test]
    fn every_punt_reason_has_its_own_label_and_slot() {
        let mut t = Totals::default();
        for (i, n) in t.punted.iter_mut().enumerate() {
            *n = i as u64 + 1;
        }
        for (i, r) in PuntReason::ALL.iter().enumerate() {
            assert_eq!(t.punted(*r), i as u64 + 1);
        }
        let labels: std::collections::HashSet<_> =
            PuntReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(labels.len(), PuntReason::ALL.len());
    }
}
