//! Media codec hot paths per 20 ms frame (criterion): G.711 encode/decode, resampling
//! between 8 and 48 kHz, packet-loss concealment.
//!
//! `cargo bench -p ringside-benches --bench media_codec`

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ringside_media::codec::analysis::tone;
use ringside_media::codec::{Law, Plc, Resampler};

fn g711(c: &mut Criterion) {
    let pcm = tone(1000.0, 8000, 0.5, 160);
    let mut g = c.benchmark_group("g711");
    g.throughput(Throughput::Elements(160));
    for (name, law) in [("pcmu", Law::Mu), ("pcma", Law::A)] {
        let mut codes = [0u8; 160];
        let mut out = [0i16; 160];
        g.bench_function(format!("{name}_encode_20ms"), |b| {
            b.iter(|| law.encode(black_box(&pcm), &mut codes).unwrap())
        });
        law.encode(&pcm, &mut codes).unwrap();
        g.bench_function(format!("{name}_decode_20ms"), |b| {
            b.iter(|| law.decode(black_box(&codes), &mut out).unwrap())
        });
    }
    g.finish();
}

fn resample(c: &mut Criterion) {
    let mut g = c.benchmark_group("resample");
    g.throughput(Throughput::Elements(1));
    let narrow = tone(1000.0, 8000, 0.5, 160);
    let wide = tone(1000.0, 48000, 0.5, 960);
    let mut up = Resampler::new(8000, 48000).unwrap();
    let mut out = vec![0i16; 960];
    g.bench_function("8k_to_48k_20ms", |b| {
        b.iter(|| up.process(black_box(&narrow), &mut out).unwrap())
    });
    let mut down = Resampler::new(48000, 8000).unwrap();
    g.bench_function("48k_to_8k_20ms", |b| {
        b.iter(|| down.process(black_box(&wide), &mut out).unwrap())
    });
    g.finish();
}

fn plc(c: &mut Criterion) {
    let mut g = c.benchmark_group("plc");
    g.throughput(Throughput::Elements(1));
    let mut history = tone(150.0, 8000, 0.5, 800);
    let mut primed = Plc::new();
    primed.good_frame(&mut history);
    let mut frame = [0i16; 160];
    // First lost frame: pitch search, segment build and synthesis (the costliest one).
    g.bench_function("conceal_first_20ms", |b| {
        b.iter_batched(
            || primed.clone(),
            |mut p| {
                p.conceal(black_box(&mut frame));
                p
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, g711, resample, plc);
criterion_main!(benches);
