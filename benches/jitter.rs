//! Jitter buffer insert + pop per packet (criterion), steady state and with 5 % loss.
//!
//! `cargo bench -p ringside-benches --bench jitter`

use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ringside_media::jitter::{JitterBuffer, JitterConfig, Pop};

const FRAME: Duration = Duration::from_millis(20);

/// One simulated 20 ms period: a packet arrives (unless `lose` says it was lost), then the
/// decoder pops a frame.
struct Stream {
    jb: JitterBuffer,
    now: Instant,
    seq: u16,
    ts: u32,
    payload: [u8; 160],
}

impl Stream {
    fn new() -> Self {
        Self {
            jb: JitterBuffer::new(JitterConfig::default()).expect("valid config"),
            now: Instant::now(),
            seq: 0,
            ts: 0,
            payload: [0x55; 160],
        }
    }

    fn step(&mut self, lose: bool) -> usize {
        self.now += FRAME;
        if !lose {
            self.jb.insert(self.now, self.seq, self.ts, &self.payload);
        }
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(160);
        match self.jb.pop(self.now) {
            Pop::Frame { payload, .. } => payload.len(),
            Pop::Lost { .. } => 1,
            Pop::Empty => 0,
        }
    }
}

fn jitter(c: &mut Criterion) {
    let mut g = c.benchmark_group("jitter");
    g.throughput(Throughput::Elements(1));
    g.bench_function("insert_pop_steady", |b| {
        let mut s = Stream::new();
        for _ in 0..100 {
            s.step(false); // warm-up: buffer started, slots allocated
        }
        b.iter(|| black_box(s.step(false)))
    });
    g.bench_function("insert_pop_5pct_loss", |b| {
        let mut s = Stream::new();
        for _ in 0..100 {
            s.step(false);
        }
        b.iter(|| {
            let lose = s.seq % 20 == 7;
            black_box(s.step(lose))
        })
    });
    g.finish();
}

criterion_group!(benches, jitter);
criterion_main!(benches);
