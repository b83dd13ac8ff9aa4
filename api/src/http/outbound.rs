//! The one outbound-fetch policy for every request Ringside makes on a tenant's behalf
//! (webhook deliveries, prompt imports; later alerts, crawls and client metadata documents).
//!
//! A tenant chooses the URL, so without a policy the server becomes a proxy into its own
//! network (server-side request forgery): `http://127.0.0.1:…`, the cloud metadata service at
//! `169.254.169.254`, a database on a private range. The policy:
//! - only `http` and `https` URLs;
//! - the host is resolved and **every** address must be public: loopback, private, link-local,
//!   CGNAT, multicast, broadcast, unspecified, reserved, benchmarking and documentation
//!   addresses of both families are refused, and IPv6 forms that embed an IPv4 address
//!   (IPv4-mapped, IPv4-compatible, NAT64 `64:ff9b::/96`, 6to4) are judged by that address;
//! - the connection goes to an address that was checked: [`PolicyResolver`] is the HTTP
//!   client's only resolver and drops refused addresses itself, so a second lookup between the
//!   check and the connect (DNS rebinding) cannot reach a refused address;
//! - redirects are not followed (a redirect to a refused address can never be taken);
//! - `RINGSIDE_ALLOW_PRIVATE_FETCH=true` lifts the address rules (a lab whose receivers live
//!   on a private network or on loopback).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Why a URL is not fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not an absolute http(s) URL with a host.
    #[error("{0}")]
    BadUrl(&'static str),
    /// The host has no address (or the lookup timed out).
    #[error("the host does not resolve")]
    NoAddress,
    /// The host is, or resolves to, an address the policy refuses.
    #[error("the destination is not a public address")]
    NotPublic,
}

/// Whether requests may reach non-public addresses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchPolicy {
    /// `RINGSIDE_ALLOW_PRIVATE_FETCH`: reach loopback and private addresses too.
    pub allow_private: bool,
}

/// How long a lookup may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

impl FetchPolicy {
    /// The policy that refuses every non-public address.
    pub const STRICT: FetchPolicy = FetchPolicy {
        allow_private: false,
    };

    /// Whether the policy lets a request reach `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip)
    }

    /// Parse `url` and check its scheme and, for an IP-literal host, its address (no lookup).
    pub fn check_syntax(&self, url: &str) -> Result<reqwest::Url, Refusal> {
        let u = reqwest::Url::parse(url).map_err(|_| Refusal::BadUrl("not a URL"))?;
        if !matches!(u.scheme(), "http" | "https") {
            return Err(Refusal::BadUrl("only http and https URLs are allowed"));
        }
        match u.host() {
            None => Err(Refusal::BadUrl("the URL has no host")),
            Some(url::Host::Ipv4(v4)) if !self.allows(IpAddr::V4(v4)) => Err(Refusal::NotPublic),
            Some(url::Host::Ipv6(v6)) if !self.allows(IpAddr::V6(v6)) => Err(Refusal::NotPublic),
            Some(_) => Ok(u),
        }
    }

    /// [`FetchPolicy::check_syntax`], then resolve the host: every address must be allowed.
    /// Returns the parsed URL and the addresses.
    pub async fn check(&self, url: &str) -> Result<(reqwest::Url, Vec<SocketAddr>), Refusal> {
        let u = self.check_syntax(url)?;
        let port = u.port_or_known_default().unwrap_or(443);
        let addrs = match u.host() {
            Some(url::Host::Ipv4(v4)) => vec![SocketAddr::new(IpAddr::V4(v4), port)],
            Some(url::Host::Ipv6(v6)) => vec![SocketAddr::new(IpAddr::V6(v6), port)],
            Some(url::Host::Domain(d)) => lookup(d, port).await?,
            None => return Err(Refusal::BadUrl("the URL has no host")),
        };
        if addrs.iter().any(|a| !self.allows(a.ip())) {
            return Err(Refusal::NotPublic);
        }
        Ok((u, addrs))
    }

    /// An HTTP client bound to this policy: its resolver refuses what the policy refuses, it
    /// follows no redirects, and it gives up after `timeout`. Check IP-literal URLs with
    /// [`FetchPolicy::check_syntax`] (or [`FetchPolicy::check`]) before sending: they are never
    /// resolved.
    pub fn client(&self, timeout: Duration, user_agent: &str) -> reqwest::Result<reqwest::Client> {
        reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(PolicyResolver(*self)))
            .user_agent(user_agent)
            .build()
    }
}

/// Why [`read_limited`] gave no whole body.
#[derive(Debug)]
pub enum BodyError {
    /// Longer than the limit: what was read up to it.
    TooLarge(Vec<u8>),
    /// Cut off or timed out.
    Broken,
}

/// A response's body, at most `max` bytes.
pub async fn read_limited(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, BodyError> {
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(BodyError::TooLarge(Vec::new()));
    }
    let mut out = Vec::new();
    while let Some(c) = resp.chunk().await.map_err(|_| BodyError::Broken)? {
        if out.len() + c.len() > max {
            out.extend_from_slice(&c[..max - out.len()]);
            return Err(BodyError::TooLarge(out));
        }
        out.extend_from_slice(&c);
    }
    Ok(out)
}

async fn lookup(host: &str, port: u16) -> Result<Vec<SocketAddr>, Refusal> {
    let addrs: Vec<SocketAddr> =
        tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| Refusal::NoAddress)?
            .map_err(|_| Refusal::NoAddress)?
            .collect();
    if addrs.is_empty() {
        return Err(Refusal::NoAddress);
    }
    Ok(addrs)
}

/// The HTTP client's resolver: the system's lookup, with every refused address removed (a
/// host with none left fails to resolve).
#[derive(Debug, Clone, Copy)]
pub struct PolicyResolver(pub FetchPolicy);

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0;
        Box::pin(async move {
            let addrs = lookup(name.as_str(), 0).await.map_err(Box::new)?;
            let allowed: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| policy.allows(a.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(
                    Box::new(Refusal::NotPublic) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Whether `ip` is a public unicast address (see the module docs for what is not).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let o = v4.octets();
    !(v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || o[0] == 0
        // CGNAT 100.64.0.0/10
        || (o[0] == 100 && (64..128).contains(&o[1]))
        // IETF protocol assignments 192.0.0.0/24 (incl. DS-Lite, NAT64 discovery)
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        // 6to4 relay anycast 192.88.99.0/24 (deprecated)
        || (o[0] == 192 && o[1] == 88 && o[2] == 99)
        // benchmarking 198.18.0.0/15
        || (o[0] == 198 && (o[1] & 0xfe) == 18)
        // reserved 240.0.0.0/4
        || o[0] >= 240)
}

fn is_public_v6(v6: Ipv6Addr) -> bool {
    let s = v6.segments();
    // Forms that carry an IPv4 address are as public as that address.
    if let Some(v4) = v6.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let embedded =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    // IPv4-compatible ::a.b.c.d (deprecated; :: and ::1 are handled below).
    if s[..6] == [0; 6] && (s[6] != 0 || s[7] > 1) {
        return is_public_v4(embedded(s[6], s[7]));
    }
    // NAT64 well-known prefix 64:ff9b::/96.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4] {
        return is_public_v4(embedded(s[6], s[7]));
    }
    // 6to4 2002::/16 embeds the IPv4 address in the next 32 bits.
    if s[0] == 0x2002 {
        return is_public_v4(embedded(s[1], s[2]));
    }
    !(v6.is_loopback()
        || v6.is_unspecified()
        || v6.is_multicast()
        // IPv4-translated ::ffff:0:a.b.c.d/96 (SIIT)
        || (s[..4] == [0; 4] && s[4] == 0xffff && s[5] == 0)
        // local-use NAT64 64:ff9b:1::/48
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1)
        // discard-only 100::/64
        || (s[0] == 0x100 && s[1..4] == [0; 3])
        // IETF protocol assignments 2001::/23 (Teredo 2001::/32, benchmarking 2001:2::/48,
        // ORCHID…), documentation 2001:db8::/32 and 3fff::/20
        || (s[0] == 0x2001 && s[1] < 0x200)
        || (s[0] == 0x2001 && s[1] == 0xdb8)
        || (s[0] & 0xfff0) == 0x3ff0
        // unique local fc00::/7, link-local fe80::/10, site-local fec0::/10
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_table() {
        let refused = [
            "127.0.0.1",
            "127.255.255.254",
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.1.2.3",
            "::127.0.0.1",
            "::10.0.0.1",
            "::ffff:0:127.0.0.1",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1.2.3.4",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::1",
            "2001::1",
            "2001:db8::1",
            "3fff::1",
            "100::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
        ];
        for ip in refused {
            assert!(!is_public(ip.parse().unwrap()), "{ip} must be refused");
        }
        let allowed = [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
            "192.0.1.1",
            "198.20.0.1",
            "223.255.255.254",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ];
        for ip in allowed {
            assert!(is_public(ip.parse().unwrap()), "{ip} must be allowed");
        }
        let lab = FetchPolicy {
            allow_private: true,
        };
        assert!(lab.allows("127.0.0.1".parse().unwrap()));
        assert!(!FetchPolicy::STRICT.allows("127.0.0.1".parse().unwrap()));
    }

    #[tokio::test]
    async fn urls_are_checked_before_any_connection() {
        let p = FetchPolicy::STRICT;
        for (url, want) in [
            (
                "ftp://example.com/x",
                Refusal::BadUrl("only http and https URLs are allowed"),
            ),
            ("not a url", Refusal::BadUrl("not a URL")),
            ("http://127.0.0.1:8080/hook", Refusal::NotPublic),
            ("http://[::1]/hook", Refusal::NotPublic),
            ("http://[::ffff:7f00:1]/hook", Refusal::NotPublic),
            (
                "http://169.254.169.254/latest/meta-data/",
                Refusal::NotPublic,
            ),
            ("http://2130706433/", Refusal::NotPublic),
            ("http://0x7f.1/", Refusal::NotPublic),
            ("http://localhost:9/", Refusal::NotPublic),
        ] {
            assert_eq!(p.check(url).await.unwrap_err(), want, "{url}");
        }
        let lab = FetchPolicy {
            allow_private: true,
        };
        assert!(lab.check("http://127.0.0.1:9/").await.is_ok());
        assert!(lab.check("http://localhost:9/").await.is_ok());
    }

    #[tokio::test]
    async fn the_client_cannot_resolve_to_a_refused_address() {
        // A name that resolves to loopback only: the policy client refuses to connect, while
        // the lab policy reaches a real listener there.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = s
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            }
        });
        let url = format!("http://localhost:{port}/");
        let strict = FetchPolicy::STRICT
            .client(Duration::from_secs(5), "t")
            .unwrap();
        assert!(strict.get(&url).send().await.is_err());
        let lab = FetchPolicy {
            allow_private: true,
        }
        .client(Duration::from_secs(5), "t")
        .unwrap();
        let r = lab.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
}
