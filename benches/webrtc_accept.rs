//! The WebRTC edge's share of call setup (criterion): answering a browser's SDP offer —
//! parse, peer connection with its interceptors, our host candidates, the SDP answer — which
//! sits between `call.start` arriving and the INVITE leaving. The session is dropped after
//! each answer (closing it is the edge thread's work, not measured here).
//!
//! `cargo bench -p ringside-benches --bench webrtc_accept`

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use ringside_media::webrtc::client::ClientPeer;
use ringside_media::webrtc::{WebRtcConfig, WebRtcEdge};

fn accept(c: &mut Criterion) {
    let edge = WebRtcEdge::start(
        WebRtcConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            candidate_ips: vec![],
            connect_timeout: Duration::from_secs(10),
            relay_ip: std::net::Ipv4Addr::LOCALHOST.into(),
        },
        vec![],
    )
    .unwrap();
    let (_peer, offer) = ClientPeer::offer(Instant::now(), "127.0.0.1:9".parse().unwrap()).unwrap();
    let mut g = c.benchmark_group("webrtc_edge");
    g.bench_function("accept_audio_offer", |b| {
        b.iter(|| edge.accept(&offer).unwrap())
    });
    g.finish();
}

criterion_group!(benches, accept);
criterion_main!(benches);
