//! SIP message parse and serialize (criterion), and the dual-stack rewrite of a message for
//! a peer of the other address family.
//!
//! `cargo bench -p ringside-benches --bench sip_parse`

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ringside_benches::INVITE;

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("sip");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_invite", |b| {
        b.iter(|| ringside_sip::message::parse(black_box(INVITE.as_bytes())).unwrap())
    });
    // The same INVITE addressed to an IPv6 reference (`sip:1002@[2001:db8::7]:5062`): the
    // Request-URI goes through Ringside's stand-in for rsip's tokenizer (`sip::uri`).
    let v6 = ipv6_invite();
    g.bench_function("parse_invite_ipv6_request_uri", |b| {
        b.iter(|| ringside_sip::message::parse(black_box(v6.as_bytes())).unwrap())
    });
    let msg = ringside_sip::message::parse(INVITE.as_bytes()).unwrap();
    g.bench_function("serialize_invite", |b| {
        b.iter(|| ringside_sip::message::serialize(black_box(&msg)))
    });
    // Dual stack: the INVITE as if Ringside (192.0.2.55) wrote it, sent to an IPv6 peer: its
    // Via sent-by and the SDP's c= and o= get Ringside's IPv6 address (`sip::dual_stack`).
    // The clone is measured alone too, to subtract.
    let stack = ringside_sip::dual_stack::DualStack {
        v4: "192.0.2.55".parse().unwrap(),
        v6: "2001:db8::55".parse().unwrap(),
    };
    let peer: std::net::IpAddr = "2001:db8::99".parse().unwrap();
    g.bench_function("clone_invite", |b| b.iter(|| black_box(&msg).clone()));
    g.bench_function("localize_invite_to_ipv6", |b| {
        b.iter(|| {
            let mut m = black_box(&msg).clone();
            stack.localize(&mut m, peer);
            m
        })
    });
    g.finish();
}

/// [`INVITE`] with its Request-URI's host made an IPv6 reference.
fn ipv6_invite() -> String {
    let line_end = INVITE.find("\r\n").expect("a start line");
    let (line, rest) = INVITE.split_at(line_end);
    let mut parts = line.splitn(3, ' ');
    let (method, uri, version) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let user = uri.split('@').next().expect("a user part");
    let out = format!("{method} {user}@[2001:db8::7]:5062 {version}{rest}");
    assert!(
        ringside_sip::message::parse(out.as_bytes()).is_ok(),
        "{out}"
    );
    out
}

criterion_group!(benches, parse);
criterion_main!(benches);
