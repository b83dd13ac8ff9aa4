//! Networks a trunk trusts calls from.
//!
//! One type for what the API accepts when a trunk is written and what the SIP core matches
//! callers' source addresses against when it loads the directory, so the two cannot disagree.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipnet::{IpNet, Ipv4Net};

/// A peer's address as Ringside keeps it: an IPv4 peer that reached a socket bound to the IPv6
/// wildcard (`[::]`, dual stack on Linux) arrives IPv4-mapped (`::ffff:192.0.2.1`) and is taken
/// as the IPv4 address it is (in Via `received`, bindings, records, latching).
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// The loopback address of `ip`'s family (`127.0.0.1` or `::1`).
pub fn loopback_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
        IpAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
    }
}

/// The destination to hand a socket for sending to `to`: from an IPv6 socket (`v6_socket`)
/// an IPv4 address goes IPv4-mapped (the kernel refuses an IPv4 address there).
pub fn on_wire(v6_socket: bool, to: SocketAddr) -> SocketAddr {
    match to {
        SocketAddr::V4(v4) if v6_socket => {
            SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port())
        }
        _ => to,
    }
}

/// The narrowest IPv4 prefix a trunk may trust (wider would trust a whole provider).
pub const MAX_V4_PREFIX: u8 = 16;
/// The narrowest IPv6 prefix a trunk may trust.
pub const MAX_V6_PREFIX: u8 = 48;

/// Why a network was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetError {
    /// Neither an IP address nor a CIDR.
    Invalid,
    /// Wider than /16 (IPv4) or /48 (IPv6).
    TooWide,
}

impl NetError {
    /// What went wrong (the API's error text).
    pub fn reason(self) -> &'static str {
        match self {
            NetError::Invalid => "each entry must be an IP address or CIDR",
            NetError::TooWide => "networks wider than /16 (IPv4) or /48 (IPv6) cannot be trusted",
        }
    }
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for NetError {}

/// A trusted source network: a CIDR (`203.0.113.0/24`) or a bare address (one host), no
/// wider than [`MAX_V4_PREFIX`] / [`MAX_V6_PREFIX`]. IPv4-mapped IPv6 networks
/// (`::ffff:a.b.c.d/n`) are compared as the IPv4 network they are; the text is kept as
/// written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrustedNet {
    written: IpNet,
    /// The network compared against (IPv4-mapped IPv6 as IPv4).
    net: IpNet,
}

impl TrustedNet {
    /// Parse and check a new entry of a trunk's `inboundCidrs`.
    pub fn parse(s: &str) -> Result<TrustedNet, NetError> {
        let n = TrustedNet::stored(s)?;
        let net = n.net;
        let too_wide = match net {
            IpNet::V4(v4) => v4.prefix_len() < MAX_V4_PREFIX,
            // A network shorter than /96 that holds IPv4-mapped addresses spans all of IPv4.
            IpNet::V6(v6) => {
                v6.prefix_len() < MAX_V6_PREFIX
                    || v6.contains(&Ipv4Addr::UNSPECIFIED.to_ipv6_mapped())
            }
        };
        if too_wide {
            return Err(NetError::TooWide);
        }
        Ok(n)
    }

    /// Parse an entry already stored: only its syntax is checked, so a network stored before
    /// the width rule keeps the trust its owner gave it.
    pub fn stored(s: &str) -> Result<TrustedNet, NetError> {
        let s = s.trim();
        let written = s
            .parse::<IpNet>()
            .ok()
            .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
            .ok_or(NetError::Invalid)?;
        Ok(TrustedNet {
            written,
            net: normalize(written),
        })
    }

    /// The network compared against (an IPv4-mapped IPv6 network as IPv4).
    pub fn net(&self) -> IpNet {
        self.net
    }

    /// Whether `ip` is inside (an IPv4-mapped IPv6 address is compared as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.net.contains(&ip)
    }

    /// Whether the two networks share an address.
    pub fn overlaps(&self, other: &TrustedNet) -> bool {
        self.net.contains(&other.net.network()) || other.net.contains(&self.net.network())
    }
}

impl fmt::Display for TrustedNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.written.fmt(f)
    }
}

/// An IPv4-mapped IPv6 network (`::ffff:a.b.c.d/n`, n ≥ 96) as the IPv4 network it is.
fn normalize(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.network().to_ipv4_mapped() {
            Some(v4) => Ipv4Net::new(v4, v6.prefix_len() - 96)
                .map(IpNet::V4)
                .unwrap_or(net),
            None => net,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_mapped_peers_are_taken_as_ipv4_and_sent_to_mapped() {
        let mapped: SocketAddr = "[::ffff:192.0.2.1]:5060".parse().unwrap();
        let v4: SocketAddr = "192.0.2.1:5060".parse().unwrap();
        let v6: SocketAddr = "[2001:db8::1]:5060".parse().unwrap();
        assert_eq!(canonical(mapped), v4);
        assert_eq!(canonical(v4), v4);
        assert_eq!(canonical(v6), v6);
        assert_eq!(on_wire(true, v4), mapped);
        assert_eq!(on_wire(false, v4), v4);
        assert_eq!(on_wire(true, v6), v6);
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_and_networks() {
        let nets: Vec<_> = ["203.0.113.7/32", "10.0.0.0/16", "::1"]
            .iter()
            .map(|s| TrustedNet::parse(s).unwrap())
            .collect();
        let inside = |a: &str| nets.iter().any(|n| n.contains(ip(a)));
        assert!(inside("203.0.113.7"));
        assert!(!inside("203.0.113.8"));
        assert!(inside("10.0.8.7"));
        assert!(!inside("10.1.8.7"));
        assert!(
            inside("::ffff:10.0.1.1"),
            "mapped addresses compare as IPv4"
        );
        assert!(inside("::1"));
        assert_eq!(
            TrustedNet::parse(" 192.0.2.1 ").unwrap().to_string(),
            "192.0.2.1/32"
        );
    }

    #[test]
    fn refusals() {
        assert_eq!(TrustedNet::parse("nonsense"), Err(NetError::Invalid));
        assert_eq!(TrustedNet::parse("10.0.0.0/33"), Err(NetError::Invalid));
        assert_eq!(TrustedNet::parse("10.0.0.0/8"), Err(NetError::TooWide));
        assert_eq!(TrustedNet::parse("0.0.0.0/0"), Err(NetError::TooWide));
        assert_eq!(TrustedNet::parse("2001:db8::/32"), Err(NetError::TooWide));
        assert_eq!(
            TrustedNet::parse("::ffff:10.0.0.0/104"),
            Err(NetError::TooWide)
        );
        assert!(TrustedNet::parse("::ffff:10.0.0.0/112").is_ok());
        assert!(TrustedNet::parse("2001:db8:1::/48").is_ok());
        assert_eq!(
            TrustedNet::parse("::ffff:0.0.0.0/90"),
            Err(NetError::TooWide)
        );
        let legacy = TrustedNet::stored("0.0.0.0/0").unwrap();
        assert!(
            legacy.contains(ip("198.51.100.1")),
            "stored networks keep working"
        );
        assert_eq!(TrustedNet::stored("nonsense"), Err(NetError::Invalid));
    }

    #[test]
    fn mapped_networks_compare_as_ipv4_and_keep_their_text() {
        let mapped = TrustedNet::parse("::ffff:198.51.100.0/120").unwrap();
        let plain = TrustedNet::parse("198.51.100.128/25").unwrap();
        assert!(mapped.overlaps(&plain) && plain.overlaps(&mapped));
        assert!(mapped.contains(ip("198.51.100.9")));
        assert_eq!(mapped.to_string(), "::ffff:198.51.100.0/120");
        let other = TrustedNet::parse("198.51.101.0/24").unwrap();
        assert!(!other.overlaps(&plain));
    }
}
