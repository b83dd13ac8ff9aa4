//! Fuzzes what issue 17 added to reading SIP and DNS answers: the `RAck`/`RSeq` headers of
//! RFC 3262, the Request-URI host a TLS connection is verified against, and RFC 3263's
//! location steps (`plan`, NAPTR selection, SRV ordering) over records built from the input.
//! Nothing panics; SRV ordering keeps every record once, by priority; NAPTR selection keeps
//! only services Ringside speaks; a host read from a start line is part of that line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringside_sip::hdr::{rack, request_uri_host, rseq};
use ringside_sip::locate::{naptr_services, order_srv, plan, Naptr, Srv};
use ringside_sip::transaction::TransportKind;

fn u16_at(data: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([
        data.get(i).copied().unwrap_or(0),
        data.get(i + 1).copied().unwrap_or(0),
    ])
}

fuzz_target!(|data: &[u8]| {
    if let Some(host) = request_uri_host(data) {
        let end = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
        let line = std::str::from_utf8(&data[..end]).unwrap();
        assert!(!host.is_empty() && line.contains(host));
    }
    if let Ok(rsip::SipMessage::Request(req)) = ringside_sip::message::parse(data) {
        if let Some((_, _, method)) = rack(&req.headers) {
            assert!(!method.is_empty());
        }
        let _ = rseq(&req.headers);
    }
    // Records from the input: 8 bytes each (priority, weight, port, target selector).
    let srvs: Vec<Srv> = data
        .chunks(8)
        .take(32)
        .map(|c| Srv {
            priority: u16_at(c, 0) % 4,
            weight: u16_at(c, 2),
            port: u16_at(c, 4),
            target: format!("t{}.example", u16_at(c, 6)),
        })
        .collect();
    let mut rng =
        <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(u64::from(u16_at(data, 0)));
    let ordered = order_srv(srvs.clone(), &mut rng);
    assert_eq!(ordered.len(), srvs.len());
    assert!(ordered.windows(2).all(|w| w[0].priority <= w[1].priority));
    let (mut a, mut b) = (ordered.clone(), srvs);
    a.sort_by(|x, y| {
        (x.priority, x.weight, x.port, &x.target).cmp(&(y.priority, y.weight, y.port, &y.target))
    });
    b.sort_by(|x, y| {
        (x.priority, x.weight, x.port, &x.target).cmp(&(y.priority, y.weight, y.port, &y.target))
    });
    assert_eq!(a, b, "every record once");
    let text = String::from_utf8_lossy(data);
    let naptrs: Vec<Naptr> = text
        .split('\n')
        .take(16)
        .map(|l| {
            let mut f = l.splitn(4, ' ');
            Naptr {
                order: f.next().and_then(|v| v.parse().ok()).unwrap_or(0),
                preference: f.next().and_then(|v| v.parse().ok()).unwrap_or(0),
                flags: "s".into(),
                services: f.next().unwrap_or("").into(),
                replacement: f.next().unwrap_or("").into(),
            }
        })
        .collect();
    for (_, t) in naptr_services(naptrs) {
        assert!(matches!(
            t,
            TransportKind::Udp | TransportKind::Tcp | TransportKind::Tls
        ));
    }
    let port = (data.len() % 3 == 0).then(|| u16_at(data, 2));
    let transport = match data.first().map(|b| b % 4) {
        Some(0) => Some(TransportKind::Udp),
        Some(1) => Some(TransportKind::Tcp),
        Some(2) => Some(TransportKind::Tls),
        _ => None,
    };
    let _ = plan(text.trim(), port, transport);
});
