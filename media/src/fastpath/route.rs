//! The route this host takes towards a peer, asked of the kernel over rtnetlink (what
//! `ip route get` does): the interface a forwarded packet leaves by, the source address it
//! carries, and whether the peer is this host itself.
//!
//! The program sends a packet out with `bpf_redirect_neigh` on the interface named here; the
//! kernel resolves the next hop and its link-layer address, so the host needs no IP forwarding.

use std::io::{Error, ErrorKind, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Where packets towards a destination go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The interface they leave by.
    pub ifindex: u32,
    /// The source address the route gives them (none named: the caller's own).
    pub src: Option<IpAddr>,
    /// The destination is this host's (delivered up the stack, not sent out).
    pub local: bool,
}

const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const RTA_DST: u16 = 1;
const RTA_SRC: u16 = 2;
const RTA_OIF: u16 = 4;
const RTA_PREFSRC: u16 = 7;
const RTN_UNICAST: u8 = 1;
const RTN_LOCAL: u8 = 2;
/// nlmsghdr (16 bytes) and rtmsg (12 bytes).
const HEADERS: usize = 28;

/// The kernel's route towards `dst`, for packets from `src` when given.
pub fn route_to(dst: IpAddr, src: Option<IpAddr>) -> std::io::Result<Route> {
    static SEQ: AtomicU32 = AtomicU32::new(1);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let sock = socket2::Socket::new(
        socket2::Domain::from(libc::AF_NETLINK),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::from(libc::NETLINK_ROUTE)),
    )?;
    sock.set_read_timeout(Some(Duration::from_secs(1)))?;
    // Unconnected: a netlink socket sends to the kernel.
    sock.send(&request(dst, src, seq))?;
    let mut buf = [0u8; 4096];
    loop {
        let n = (&sock).read(&mut buf)?;
        if let Some(r) = parse(&buf[..n], seq)? {
            return Ok(r);
        }
    }
}

/// An RTM_GETROUTE request for `dst` (and `src`, of the same family).
fn request(dst: IpAddr, src: Option<IpAddr>, seq: u32) -> Vec<u8> {
    let (family, bits) = match dst {
        IpAddr::V4(_) => (libc::AF_INET as u8, 32u8),
        IpAddr::V6(_) => (libc::AF_INET6 as u8, 128u8),
    };
    let octets = |a: IpAddr| match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    let src = src.filter(|s| s.is_ipv6() == dst.is_ipv6());
    let alen = 4 + usize::from(bits / 8);
    let len = HEADERS + alen * (1 + usize::from(src.is_some()));
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&RTM_GETROUTE.to_ne_bytes());
    m.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes()); // to the kernel
                                              // rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
    m.extend_from_slice(&[
        family,
        bits,
        if src.is_some() { bits } else { 0 },
        0,
        0,
        0,
        0,
        0,
    ]);
    m.extend_from_slice(&0u32.to_ne_bytes());
    let mut attr = |kind: u16, ip: IpAddr| {
        m.extend_from_slice(&(alen as u16).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&octets(ip));
    };
    attr(RTA_DST, dst);
    if let Some(src) = src {
        attr(RTA_SRC, src);
    }
    m
}

/// The route in a reply to request `seq`; `None` for a message about something else.
fn parse(reply: &[u8], seq: u32) -> std::io::Result<Option<Route>> {
    let u16_at = |b: &[u8], i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
    let u32_at = |b: &[u8], i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let bad = || Error::new(ErrorKind::InvalidData, "a malformed rtnetlink reply");
    if reply.len() < 16 {
        return Err(bad());
    }
    let len = (u32_at(reply, 0) as usize).min(reply.len());
    if u32_at(reply, 8) != seq {
        return Ok(None);
    }
    match u16_at(reply, 4) {
        NLMSG_ERROR if len >= 20 => {
            let errno = -(u32_at(reply, 16) as i32);
            return Err(if errno > 0 {
                Error::from_raw_os_error(errno)
            } else {
                bad()
            });
        }
        RTM_NEWROUTE if len >= HEADERS => {}
        _ => return Err(bad()),
    }
    let kind = reply[16 + 7];
    let mut route = Route {
        ifindex: 0,
        src: None,
        local: kind == RTN_LOCAL,
    };
    if kind != RTN_UNICAST && kind != RTN_LOCAL {
        return Err(Error::new(
            ErrorKind::HostUnreachable,
            "no unicast route to the peer",
        ));
    }
    let mut i = HEADERS;
    while i + 4 <= len {
        let alen = usize::from(u16_at(reply, i));
        if alen < 4 || i + alen > len {
            return Err(bad());
        }
        let value = &reply[i + 4..i + alen];
        match (u16_at(reply, i + 2), value.len()) {
            (RTA_OIF, 4) => route.ifindex = u32_at(value, 0),
            (RTA_PREFSRC, 4) => {
                route.src = Some(Ipv4Addr::new(value[0], value[1], value[2], value[3]).into())
            }
            (RTA_PREFSRC, 16) => {
                let mut o = [0u8; 16];
                o.copy_from_slice(value);
                route.src = Some(Ipv6Addr::from(o).into());
            }
            _ => {}
        }
        i += (alen + 3) & !3;
    }
    if route.ifindex == 0 {
        return Err(bad());
    }
    Ok(Some(route))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_names_the_destination_and_the_source() {
        let m = request(
            Ipv4Addr::new(10, 1, 2, 3).into(),
            Some(Ipv4Addr::new(10, 9, 9, 9).into()),
            7,
        );
        assert_eq!(m.len(), 44);
        assert_eq!(u32::from_ne_bytes(m[0..4].try_into().unwrap()), 44);
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), RTM_GETROUTE);
        assert_eq!(u32::from_ne_bytes(m[8..12].try_into().unwrap()), 7);
        assert_eq!(&m[16..19], &[libc::AF_INET as u8, 32, 32]);
        assert_eq!(&m[28..36], &[8, 0, 1, 0, 10, 1, 2, 3][..]);
        assert_eq!(&m[36..44], &[8, 0, 2, 0, 10, 9, 9, 9][..]);
        assert_eq!(request(Ipv4Addr::LOCALHOST.into(), None, 1).len(), 36);
        // IPv6: 16-byte addresses; a source of the other family is left out.
        let m = request(
            Ipv6Addr::LOCALHOST.into(),
            Some(Ipv4Addr::LOCALHOST.into()),
            2,
        );
        assert_eq!(m.len(), 48);
        assert_eq!(&m[16..19], &[libc::AF_INET6 as u8, 128, 0]);
        assert_eq!(&m[28..32], &[20, 0, 1, 0][..]);
        assert_eq!(m[47], 1);
    }

    fn reply(kind: u8, attrs: &[(u16, &[u8])], seq: u32) -> Vec<u8> {
        let mut m = vec![0u8; HEADERS];
        m[4..6].copy_from_slice(&RTM_NEWROUTE.to_ne_bytes());
        m[8..12].copy_from_slice(&seq.to_ne_bytes());
        m[16] = libc::AF_INET as u8;
        m[16 + 7] = kind;
        for (t, v) in attrs {
            m.extend_from_slice(&((4 + v.len()) as u16).to_ne_bytes());
            m.extend_from_slice(&t.to_ne_bytes());
            m.extend_from_slice(v);
            while !m.len().is_multiple_of(4) {
                m.push(0);
            }
        }
        let len = m.len() as u32;
        m[0..4].copy_from_slice(&len.to_ne_bytes());
        m
    }

    #[test]
    fn a_reply_gives_the_interface_the_source_and_whether_it_is_local() {
        let r = reply(
            RTN_UNICAST,
            &[
                (15, &[254, 0, 0, 0]),
                (RTA_DST, &[10, 1, 2, 3]),
                (RTA_OIF, &3u32.to_ne_bytes()),
                (RTA_PREFSRC, &[10, 1, 2, 1]),
                (9, &[1, 2, 3]), // an attribute padded to 4 bytes
            ],
            5,
        );
        assert_eq!(
            parse(&r, 5).unwrap(),
            Some(Route {
                ifindex: 3,
                src: Some(Ipv4Addr::new(10, 1, 2, 1).into()),
                local: false
            })
        );
        assert_eq!(parse(&r, 6).unwrap(), None, "another request's");
        let l = reply(RTN_LOCAL, &[(RTA_OIF, &1u32.to_ne_bytes())], 1);
        assert!(parse(&l, 1).unwrap().unwrap().local);
        // Unreachable, blackholed, malformed.
        assert!(parse(&reply(7, &[(RTA_OIF, &1u32.to_ne_bytes())], 1), 1).is_err());
        assert!(parse(&reply(RTN_UNICAST, &[], 1), 1).is_err());
        let mut cut = r.clone();
        cut[HEADERS] = 200;
        assert!(parse(&cut, 5).is_err());
        assert!(parse(&r[..10], 5).is_err());
    }

    #[test]
    fn an_error_reply_is_the_kernels_error() {
        let mut m = vec![0u8; 36];
        m[0..4].copy_from_slice(&36u32.to_ne_bytes());
        m[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        m[8..12].copy_from_slice(&3u32.to_ne_bytes());
        m[16..20].copy_from_slice(&(-libc::ENETUNREACH).to_ne_bytes());
        let e = parse(&m, 3).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENETUNREACH));
    }

    #[test]
    fn the_kernel_routes_the_loopback_here() {
        let r = route_to(Ipv4Addr::new(127, 0, 0, 7).into(), None).unwrap();
        assert!(r.local, "{r:?}");
        assert_eq!(r.src, Some(Ipv4Addr::LOCALHOST.into()));
        // The loopback's index, as the kernel numbers it.
        let lo: u32 = std::fs::read_to_string("/sys/class/net/lo/ifindex")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(r.ifindex, lo);
        // ::1, where the host has IPv6.
        if let Ok(r) = route_to(Ipv6Addr::LOCALHOST.into(), None) {
            assert!(r.local, "{r:?}");
            assert_eq!(r.ifindex, lo);
        }
    }
}
