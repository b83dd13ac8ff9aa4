//! Locating a SIP server (RFC 3263 §4), sans-IO: what to look up for a host, and how to turn
//! the NAPTR and SRV answers into an ordered list of addresses to try. The driver does the
//! DNS queries (hickory-resolver) and feeds the answers in.
//!
//! ```text
//!  host is an IP ─────────────────────────────► that address, the given or default port
//!  port given ────────────────────────► A/AAAA of host, with that port
//!  transport given ─► SRV _sip._udp / _sip._tcp / _sips._tcp ─► A/AAAA of each target
//!                     (none: A/AAAA of host, default port)
//!  neither ─► NAPTR host ─ SIP+D2U / SIP+D2T / SIPS+D2T, by order then preference ─► SRV …
//!             (none: SRV for each transport in turn; none: A/AAAA, UDP, 5060)
//! ```
//!
//! SRV records are ordered by priority, and within one priority by a weighted random draw
//! (RFC 2782), so that load spreads as the weights say; the caller tries the addresses in
//! order, failing over to the next on a timeout, a transport error or a 503 (§4.3).

use std::net::{IpAddr, SocketAddr};

use rand::Rng;

use crate::transaction::TransportKind;

/// The default port of a transport (RFC 3261 §19.1.2).
pub fn default_port(t: TransportKind) -> u16 {
    match t {
        TransportKind::Tls => 5061,
        // RFC 7118 §4: the WebSocket ports of the HTTP listener.
        TransportKind::Ws => 80,
        TransportKind::Wss => 443,
        _ => 5060,
    }
}

/// The SRV name for `transport` at `host` (RFC 3263 §4.1).
pub fn srv_name(host: &str, transport: TransportKind) -> String {
    let host = host.trim_end_matches('.');
    match transport {
        TransportKind::Udp => format!("_sip._udp.{host}"),
        TransportKind::Tcp => format!("_sip._tcp.{host}"),
        TransportKind::Tls => format!("_sips._tcp.{host}"),
        // Not in RFC 3263 (a WebSocket server is found by its URL); asked as RFC 7118's
        // NAPTR services would name them, and never dialled by Ringside.
        TransportKind::Ws => format!("_sip._ws.{host}"),
        TransportKind::Wss => format!("_sips._ws.{host}"),
    }
}

/// The first step of locating `host`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// No DNS: the address itself.
    Direct(SocketAddr, TransportKind),
    /// Look up A/AAAA of the host; use `port`.
    Address(u16, TransportKind),
    /// Look up SRV for the transport; without records, A/AAAA with the default port.
    Srv(TransportKind),
    /// Look up NAPTR; see [`naptr_services`].
    Naptr,
}

/// How to start locating `host` with an optional port and transport.
pub fn plan(host: &str, port: Option<u16>, transport: Option<TransportKind>) -> Plan {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        let t = transport.unwrap_or(TransportKind::Udp);
        return Plan::Direct(SocketAddr::new(ip, port.unwrap_or(default_port(t))), t);
    }
    match (port, transport) {
        (Some(p), t) => Plan::Address(p, t.unwrap_or(TransportKind::Udp)),
        (None, Some(t)) => Plan::Srv(t),
        (None, None) => Plan::Naptr,
    }
}

/// One NAPTR record (RFC 3403) as far as SIP needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naptr {
    /// Lower first.
    pub order: u16,
    /// Lower first among equal orders.
    pub preference: u16,
    /// `S` for an SRV replacement.
    pub flags: String,
    /// `SIP+D2U`, `SIP+D2T`, `SIPS+D2T`, ...
    pub services: String,
    /// The SRV name to look up.
    pub replacement: String,
}

/// The SRV names and transports NAPTR records point to, in the order to try (services
/// Ringside speaks, `S` flag only; RFC 3263 §4.1).
pub fn naptr_services(mut records: Vec<Naptr>) -> Vec<(String, TransportKind)> {
    records.sort_by_key(|r| (r.order, r.preference));
    records
        .into_iter()
        .filter(|r| r.flags.eq_ignore_ascii_case("s"))
        .filter_map(|r| {
            let t = match r.services.to_ascii_uppercase().as_str() {
                "SIP+D2U" => TransportKind::Udp,
                "SIP+D2T" => TransportKind::Tcp,
                "SIPS+D2T" => TransportKind::Tls,
                _ => return None,
            };
            Some((r.replacement.trim_end_matches('.').to_owned(), t))
        })
        .collect()
}

/// One SRV record (RFC 2782).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    /// Lower first.
    pub priority: u16,
    /// Share of the load among equal priorities.
    pub weight: u16,
    /// The port.
    pub port: u16,
    /// The target host (`.` alone: the service is not offered here).
    pub target: String,
}

/// SRV records in the order to try: by priority, and within a priority by RFC 2782's weighted
/// random draw. A lone `.` target means the service is deliberately absent: nothing.
pub fn order_srv(mut records: Vec<Srv>, rng: &mut impl Rng) -> Vec<Srv> {
    if records.len() == 1 && records[0].target.trim_end_matches('.').is_empty() {
        return Vec::new();
    }
    records.sort_by_key(|r| r.priority);
    let mut out = Vec::with_capacity(records.len());
    let mut rest = records.as_slice();
    while let Some(first) = rest.first() {
        let n = rest
            .iter()
            .take_while(|r| r.priority == first.priority)
            .count();
        let (group, tail) = rest.split_at(n);
        // Zero weights first, so that they get a small chance when others have weight.
        let mut group: Vec<Srv> = group.to_vec();
        group.sort_by_key(|r| r.weight != 0);
        while !group.is_empty() {
            let total: u32 = group.iter().map(|r| u32::from(r.weight)).sum();
            let pick = if total == 0 {
                0
            } else {
                let draw = rng.gen_range(0..=total);
                let mut run = 0;
                group
                    .iter()
                    .position(|r| {
                        run += u32::from(r.weight);
                        run >= draw
                    })
                    .unwrap_or(0)
            };
            out.push(group.remove(pick));
        }
        rest = tail;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn srv(priority: u16, weight: u16, port: u16, target: &str) -> Srv {
        Srv {
            priority,
            weight,
            port,
            target: target.into(),
        }
    }

    #[test]
    fn the_plan_follows_rfc_3263() {
        let udp = TransportKind::Udp;
        let tls = TransportKind::Tls;
        assert_eq!(
            plan("192.0.2.7", None, Some(tls)),
            Plan::Direct("192.0.2.7:5061".parse().unwrap(), tls)
        );
        assert_eq!(
            plan("[2001:db8::1]", Some(5070), None),
            Plan::Direct("[2001:db8::1]:5070".parse().unwrap(), udp)
        );
        assert_eq!(
            plan("pbx.example", Some(5080), None),
            Plan::Address(5080, udp)
        );
        assert_eq!(plan("carrier.example", None, Some(tls)), Plan::Srv(tls));
        assert_eq!(plan("carrier.example", None, None), Plan::Naptr);
        assert_eq!(
            srv_name("carrier.example.", tls),
            "_sips._tcp.carrier.example"
        );
        assert_eq!(
            srv_name("carrier.example", udp),
            "_sip._udp.carrier.example"
        );
    }

    #[test]
    fn naptr_records_are_taken_by_order_and_preference_and_unknown_services_skipped() {
        let n = |order, preference, services: &str, replacement: &str| Naptr {
            order,
            preference,
            flags: "s".into(),
            services: services.into(),
            replacement: replacement.into(),
        };
        let got = naptr_services(vec![
            n(20, 10, "SIP+D2U", "_sip._udp.example.com."),
            n(10, 20, "SIP+D2T", "_sip._tcp.example.com."),
            n(10, 10, "SIPS+D2T", "_sips._tcp.example.com."),
            n(5, 10, "SIP+D2S", "_sip._sctp.example.com."),
            Naptr {
                flags: "u".into(),
                ..n(1, 1, "SIP+D2U", "x")
            },
        ]);
        assert_eq!(
            got,
            vec![
                ("_sips._tcp.example.com".into(), TransportKind::Tls),
                ("_sip._tcp.example.com".into(), TransportKind::Tcp),
                ("_sip._udp.example.com".into(), TransportKind::Udp),
            ]
        );
    }

    #[test]
    fn srv_records_go_by_priority_then_by_weight() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let records = vec![
            srv(20, 0, 5060, "backup.example"),
            srv(10, 90, 5060, "big.example"),
            srv(10, 10, 5060, "small.example"),
        ];
        // Priority 10 always before 20; within 10, the heavier first about 90 % of the time.
        let mut big_first = 0;
        for _ in 0..1000 {
            let got = order_srv(records.clone(), &mut rng);
            assert_eq!(got.len(), 3);
            assert_eq!(got[2].target, "backup.example");
            if got[0].target == "big.example" {
                big_first += 1;
            }
        }
        assert!((850..=950).contains(&big_first), "{big_first} of 1000");
        // "." alone: the service is not offered.
        assert!(order_srv(vec![srv(0, 0, 0, ".")], &mut rng).is_empty());
        // All-zero weights still give every record.
        let zeros = vec![srv(1, 0, 1, "a"), srv(1, 0, 2, "b")];
        assert_eq!(order_srv(zeros, &mut rng).len(), 2);
    }
}
