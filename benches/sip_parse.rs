//! SIP message parse and serialize (criterion).
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
    let msg = ringside_sip::message::parse(INVITE.as_bytes()).unwrap();
    g.bench_function("serialize_invite", |b| {
        b.iter(|| ringside_sip::message::serialize(black_box(&msg)))
    });
    g.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
