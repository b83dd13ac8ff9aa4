//! Media codec hot paths per 20 ms frame (criterion): G.711 encode/decode, G.722
//! encode/decode (raw at 16 kHz and through the frame layer at the 8 kHz bridge rate), resampling
//! between 8 and 48 kHz, packet-loss concealment, Opus encode/decode at 48 and 8 kHz, and
//! PCMU <-> Opus transcoding through the frame layer.
//!
//! `cargo bench -p ringside-benches --bench media_codec`
//! (Opus only: `cargo bench -p ringside-benches --bench media_codec -- opus`;
//! G.722 only: `cargo bench -p ringside-benches --bench media_codec -- g722`)

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ringside_media::codec::analysis::tone;
use ringside_media::codec::frame::MAX_ENCODED_FRAME_BYTES;
use ringside_media::codec::{
    CodecKind, EncoderOptions, FrameDecoder, FrameEncoder, G722Decoder, G722Encoder, Law,
    OpusDecoder, OpusEncoder, Plc, Resampler,
};

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

/// G.722 per 20 ms frame: the raw codec on 320 samples at 16 kHz (160 octets), and the
/// frame layer at the 8 kHz bridge rate (resampling to/from 16 kHz included). Input: 1 kHz
/// plus 5 kHz tones so both sub-bands carry signal.
fn g722(c: &mut Criterion) {
    let mut g = c.benchmark_group("g722");
    g.throughput(Throughput::Elements(1));
    let a = tone(1000.0, 16000, 0.3, 320);
    let b = tone(5000.0, 16000, 0.2, 320);
    let pcm: Vec<i16> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
    let mut enc = G722Encoder::new();
    let mut codes = [0u8; 160];
    g.bench_function("encode_16k_20ms", |bch| {
        bch.iter(|| enc.encode(black_box(&pcm), &mut codes).unwrap())
    });
    let mut dec = G722Decoder::new();
    let mut out = [0i16; 320];
    g.bench_function("decode_16k_20ms", |bch| {
        bch.iter(|| dec.decode(black_box(&codes), &mut out).unwrap())
    });
    let narrow = tone(1000.0, 8000, 0.5, 160);
    let mut fenc = FrameEncoder::new(CodecKind::G722, 8000, EncoderOptions::default()).unwrap();
    let mut buf = [0u8; MAX_ENCODED_FRAME_BYTES];
    g.bench_function("frame_encode_bridge8k_20ms", |bch| {
        bch.iter(|| fenc.encode(black_box(&narrow), &mut buf).unwrap())
    });
    let n = fenc.encode(&narrow, &mut buf).unwrap();
    let mut fdec = FrameDecoder::new(CodecKind::G722, 8000).unwrap();
    let mut pcm8 = vec![0i16; fdec.max_output_samples()];
    g.bench_function("frame_decode_bridge8k_20ms", |bch| {
        bch.iter(|| fdec.decode(black_box(&buf[..n]), &mut pcm8).unwrap())
    });
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

/// Opus per 20 ms frame at 48 and 8 kHz, complexity 5 (default) and 0; default options
/// otherwise (24 kbit/s, FEC on with 10 % expected loss). The input is a 1 kHz tone plus a
/// 300 Hz tone so the encoder sees some structure.
fn opus(c: &mut Criterion) {
    let mut g = c.benchmark_group("opus");
    g.throughput(Throughput::Elements(1));
    for rate in [48000u32, 8000] {
        let frame = rate as usize / 50;
        let a = tone(1000.0, rate, 0.3, frame * 50);
        let b = tone(300.0, rate, 0.2, frame * 50);
        let pcm: Vec<i16> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
        for complexity in [5u8, 0] {
            let opts = EncoderOptions {
                complexity,
                ..EncoderOptions::default()
            };
            let mut enc = OpusEncoder::new(rate, opts).unwrap();
            let mut pkt = [0u8; MAX_ENCODED_FRAME_BYTES];
            let mut i = 0;
            g.bench_function(
                format!("encode_{}k_c{complexity}_20ms", rate / 1000),
                |bch| {
                    bch.iter(|| {
                        let f = &pcm[i * frame..(i + 1) * frame];
                        i = (i + 1) % 50;
                        enc.encode(black_box(f), &mut pkt).unwrap()
                    })
                },
            );
            // Decode a realistic packet stream (one second, looped).
            let mut enc = OpusEncoder::new(rate, opts).unwrap();
            let packets: Vec<Vec<u8>> = pcm
                .chunks_exact(frame)
                .map(|f| {
                    let n = enc.encode(f, &mut pkt).unwrap();
                    pkt[..n].to_vec()
                })
                .collect();
            let mut dec = OpusDecoder::new(rate).unwrap();
            let mut out = vec![0i16; dec.max_frame_samples()];
            let mut j = 0;
            g.bench_function(
                format!("decode_{}k_c{complexity}_20ms", rate / 1000),
                |bch| {
                    bch.iter(|| {
                        let p = &packets[j];
                        j = (j + 1) % packets.len();
                        dec.decode(black_box(p), &mut out).unwrap()
                    })
                },
            );
            if complexity == 5 {
                let mut out = vec![0i16; frame];
                g.bench_function(format!("plc_{}k_20ms", rate / 1000), |bch| {
                    bch.iter(|| dec.conceal(black_box(frame), &mut out).unwrap())
                });
            }
        }
    }
    g.finish();
}

/// One direction of a PCMU <-> Opus bridge per 20 ms frame through FrameDecoder and
/// FrameEncoder: decode the payload to PCM at the bridge rate and re-encode it.
fn opus_transcode(c: &mut Criterion) {
    let mut g = c.benchmark_group("opus_transcode");
    g.throughput(Throughput::Elements(1));
    for rate in [8000u32, 48000] {
        let narrow = tone(1000.0, 8000, 0.3, 8000);
        let mut pcmu_enc =
            FrameEncoder::new(CodecKind::Pcmu, 8000, EncoderOptions::default()).unwrap();
        let mut opus_enc =
            FrameEncoder::new(CodecKind::Opus, 8000, EncoderOptions::default()).unwrap();
        let mut buf = [0u8; MAX_ENCODED_FRAME_BYTES];
        let mut pcmu_pkts = Vec::new();
        let mut opus_pkts = Vec::new();
        for f in narrow.chunks_exact(160) {
            let n = pcmu_enc.encode(f, &mut buf).unwrap();
            pcmu_pkts.push(buf[..n].to_vec());
            let n = opus_enc.encode(f, &mut buf).unwrap();
            opus_pkts.push(buf[..n].to_vec());
        }
        let opts = EncoderOptions::default();
        let mut dec = FrameDecoder::new(CodecKind::Pcmu, rate).unwrap();
        let mut enc = FrameEncoder::new(CodecKind::Opus, rate, opts).unwrap();
        let mut pcm = vec![0i16; dec.max_output_samples()];
        let mut i = 0;
        g.bench_function(format!("pcmu_to_opus_bridge{}k_20ms", rate / 1000), |bch| {
            bch.iter(|| {
                let p = &pcmu_pkts[i];
                i = (i + 1) % pcmu_pkts.len();
                let n = dec.decode(black_box(p), &mut pcm).unwrap();
                enc.encode(&pcm[..n], &mut buf).unwrap()
            })
        });
        let mut dec = FrameDecoder::new(CodecKind::Opus, rate).unwrap();
        let mut enc = FrameEncoder::new(CodecKind::Pcmu, rate, opts).unwrap();
        let mut j = 0;
        g.bench_function(format!("opus_to_pcmu_bridge{}k_20ms", rate / 1000), |bch| {
            bch.iter(|| {
                let p = &opus_pkts[j];
                j = (j + 1) % opus_pkts.len();
                let n = dec.decode(black_box(p), &mut pcm).unwrap();
                enc.encode(&pcm[..n], &mut buf).unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, g711, g722, resample, plc, opus, opus_transcode);
criterion_main!(benches);
