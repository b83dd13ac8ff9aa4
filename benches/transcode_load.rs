//! Transcoding load: N concurrent PCMU ↔ Opus calls driven through `CallMedia` in-process on
//! simulated time, against a baseline of libopus alone doing the same codec work.
//!
//! Each call has a PCMU leg A and an Opus leg B; both peers send one 20 ms packet every 20 ms
//! (50 packets/s each) of speech-like audio (`speech.rs`), encoded before the measurement so
//! encoding the input is not counted: leg A as PCMU, leg B as a WebRTC peer sends Opus
//! (encoded at 48 kHz, default `EncoderOptions`: complexity 5, 24 kbit/s, in-band FEC at 10 %
//! expected loss). Each call reads the input at its own offset and gets its own SSRC/sequence
//! numbers. Per simulated 20 ms step, for each call: `handle_timeout` when due, `handle_rtp` of
//! A's packet (G.711 decode + PLC history, Opus encode at the 8 kHz bridge rate, RTP packet
//! queued), `handle_rtp` of B's packet (Opus decode at 8 kHz, G.711 encode, queued), drain
//! `poll_transmit` and `recycle` the buffers. No sockets: what is measured is the media core.
//!
//! Baseline (same calls, same packets, same order): per call and 20 ms, one `Law::Mu.decode`
//! of A's payload, one Opus encode at 8 kHz of that PCM with the same `EncoderOptions`, one
//! Opus decode at 8 kHz of B's payload and one `Law::Mu.encode` of that PCM — libopus through
//! the crate's thin `OpusEncoder`/`OpusDecoder` wrappers (a length check each), no RTP, no
//! PLC history, no buffering, no packet building.
//!
//! CPU is this thread's on-CPU time (`/proc/thread-self/schedstat`, ns; falls back to
//! utime+stime from `/proc/thread-self/stat`). The runs alternate ours/baseline `--reps`
//! times; the per-call CPU figures use the minimum of each (least disturbed by other
//! processes) and the overhead ratio is the median of the per-rep ours/baseline ratios (each
//! pair ran back to back under about the same machine load).
//!
//! `transcode_load [--calls N] [--seconds S] [--reps R] [--only ours|baseline]`
//! Last line: `transcode_overhead_vs_libopus: X` (median over reps of ours CPU / baseline
//! CPU).

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use ringside_media::codec::frame::MAX_ENCODED_FRAME_BYTES;
use ringside_media::codec::{
    CodecKind, EncoderOptions, FrameEncoder, Law, OpusDecoder, OpusEncoder,
};
use ringside_media::rtp::packet::RtpHeader;
use ringside_media::{CallMedia, LegCodec, Side};

#[path = "speech.rs"]
mod speech;

const TICK: Duration = Duration::from_millis(20);
const OPUS_PT: u8 = 111;
const RTP_HEADER: usize = 12;

/// This thread's CPU time so far.
fn thread_cpu() -> Duration {
    if let Ok(s) = std::fs::read_to_string("/proc/thread-self/schedstat") {
        if let Some(ns) = s.split_whitespace().next().and_then(|v| v.parse().ok()) {
            return Duration::from_nanos(ns);
        }
    }
    let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("/proc/thread-self/stat");
    // Fields after the parenthesised command: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')').expect("stat") + 2..];
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // Clock ticks are 100 Hz on Linux.
    Duration::from_millis((f[11] + f[12]) * 10)
}

/// `frames` RTP packets of speech as `kind`, encoded at `rate` Hz.
fn packets(kind: CodecKind, rate: u32, pt: u8, frames: usize, seed: u64) -> Vec<Vec<u8>> {
    let frame = rate as usize / 50;
    let pcm = speech::speech(rate, frame * frames, seed);
    let mut enc = FrameEncoder::new(kind, rate, EncoderOptions::default()).expect("encoder");
    let mut payload = [0u8; MAX_ENCODED_FRAME_BYTES];
    let mut ts = 0u32;
    pcm.chunks_exact(frame)
        .enumerate()
        .map(|(k, f)| {
            let n = enc.encode(f, &mut payload).expect("encode");
            let h = RtpHeader {
                marker: false,
                payload_type: pt,
                sequence: k as u16,
                timestamp: ts,
                ssrc: 0x1234_5678,
                csrcs: &[],
                extension: None,
                padding: 0,
            };
            ts = ts.wrapping_add(enc.rtp_timestamp_increment());
            let mut out = vec![0u8; RTP_HEADER + n];
            let len = h.write(&payload[..n], &mut out).expect("header");
            assert_eq!(len, RTP_HEADER + n);
            out
        })
        .collect()
}

struct Inputs {
    a: Vec<Vec<u8>>,
    b: Vec<Vec<u8>>,
}

/// Packet `k` of call `c` (each call starts at its own offset in the input).
fn pick(v: &[Vec<u8>], c: usize, k: usize) -> &[u8] {
    &v[(k + c * 37) % v.len()]
}

struct Call {
    m: CallMedia,
    a_src: SocketAddr,
    b_src: SocketAddr,
    seq: u16,
    ts_a: u32,
    ts_b: u32,
}

#[derive(Default)]
struct Totals {
    cpu: Duration,
    to_a: u64,
    to_b: u64,
    bytes_to_b: u64,
}

fn feed(call: &mut Call, now: Instant, side: Side, p: &[u8], buf: &mut [u8], seq: u16, ts: u32) {
    let len = p.len();
    buf[..len].copy_from_slice(p);
    buf[2..4].copy_from_slice(&seq.to_be_bytes());
    buf[4..8].copy_from_slice(&ts.to_be_bytes());
    let src = if side == Side::A {
        call.a_src
    } else {
        call.b_src
    };
    if let Err(e) = call.m.handle_rtp(now, side, src, buf, len) {
        panic!("dropped: {e:?}");
    }
}

/// N calls through `CallMedia` for `frames` 20 ms steps.
fn ours(input: &Inputs, n: usize, frames: usize) -> Totals {
    let start = Instant::now();
    let wall = SystemTime::now();
    let pcmu = LegCodec::new(CodecKind::Pcmu, 0);
    let opus = LegCodec::new(CodecKind::Opus, OPUS_PT);
    let mut calls: Vec<Call> = (0..n)
        .map(|c| {
            let mut m = CallMedia::new(start, wall, 0x9E37_79B9 ^ c as u64);
            let port = 20000 + 4 * c as u16;
            let a_src = SocketAddr::from(([10, 0, 0, 1], port));
            let b_src = SocketAddr::from(([10, 0, 0, 2], port));
            m.announce(Side::A, a_src);
            m.announce(Side::B, b_src);
            m.set_codec(Side::A, pcmu);
            m.set_codec(Side::B, opus);
            Call {
                m,
                a_src,
                b_src,
                seq: c as u16 * 1000,
                ts_a: c as u32 * 7,
                ts_b: c as u32 * 11,
            }
        })
        .collect();
    let mut buf = vec![0u8; 1500];
    let mut t = Totals::default();
    let cpu0 = thread_cpu();
    for k in 0..frames {
        let now = start + TICK * (k as u32 + 1);
        for (c, call) in calls.iter_mut().enumerate() {
            while let Some(due) = call.m.poll_timeout().filter(|d| *d <= now) {
                call.m.handle_timeout(due);
            }
            let (seq, ts_a, ts_b) = (call.seq, call.ts_a, call.ts_b);
            feed(
                call,
                now,
                Side::A,
                pick(&input.a, c, k),
                &mut buf,
                seq,
                ts_a,
            );
            feed(
                call,
                now,
                Side::B,
                pick(&input.b, c, k),
                &mut buf,
                seq,
                ts_b,
            );
            call.seq = seq.wrapping_add(1);
            call.ts_a = ts_a.wrapping_add(160);
            call.ts_b = ts_b.wrapping_add(960);
            while let Some(tx) = call.m.poll_transmit() {
                if tx.channel == ringside_media::bridge::Channel::Rtp {
                    if tx.side == Side::A {
                        t.to_a += 1;
                    } else {
                        t.to_b += 1;
                        t.bytes_to_b += (tx.data.len() - RTP_HEADER) as u64;
                    }
                }
                call.m.recycle(tx.data);
            }
        }
    }
    t.cpu = thread_cpu() - cpu0;
    t
}

/// The same codec work with libopus and G.711 alone.
fn baseline(input: &Inputs, n: usize, frames: usize) -> Totals {
    let opts = EncoderOptions::default();
    let mut calls: Vec<(OpusEncoder, OpusDecoder)> = (0..n)
        .map(|_| {
            (
                OpusEncoder::new(8000, opts).expect("encoder"),
                OpusDecoder::new(8000).expect("decoder"),
            )
        })
        .collect();
    let mut pcm = vec![0i16; 960];
    let mut out = vec![0u8; MAX_ENCODED_FRAME_BYTES];
    let mut t = Totals::default();
    let cpu0 = thread_cpu();
    for k in 0..frames {
        for (c, (enc, dec)) in calls.iter_mut().enumerate() {
            // A → B: G.711 decode, Opus encode.
            let a = &pick(&input.a, c, k)[RTP_HEADER..];
            let m = Law::Mu.decode(a, &mut pcm).expect("g711 decode");
            let bytes = enc.encode(&pcm[..m], &mut out).expect("opus encode");
            t.to_b += 1;
            t.bytes_to_b += bytes as u64;
            // B → A: Opus decode, G.711 encode.
            let b = &pick(&input.b, c, k)[RTP_HEADER..];
            let m = dec.decode(b, &mut pcm).expect("opus decode");
            Law::Mu.encode(&pcm[..m], &mut out).expect("g711 encode");
            t.to_a += 1;
        }
    }
    t.cpu = thread_cpu() - cpu0;
    t
}

fn main() {
    let mut calls = 50usize;
    let mut seconds = 10u32;
    let mut reps = 5usize;
    let mut only: Option<String> = None;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--calls" => calls = v.parse().expect("--calls N"),
            "--seconds" => seconds = v.parse().expect("--seconds S"),
            "--reps" => reps = v.parse().expect("--reps R"),
            "--only" => only = Some(v.clone()),
            _ => panic!("unknown argument {a}"),
        }
    }
    let frames = seconds as usize * 50;
    let input = Inputs {
        a: packets(CodecKind::Pcmu, 8000, 0, frames, 11),
        b: packets(CodecKind::Opus, 48000, OPUS_PT, frames, 23),
    };
    let b_kbps = input.b.iter().map(|p| p.len() - RTP_HEADER).sum::<usize>() as f64 * 8.0
        / f64::from(seconds)
        / 1000.0;
    println!(
        "{calls} calls x {seconds} s of media, both legs 50 packets/s; leg B Opus input {b_kbps:.1} kbit/s"
    );
    let media = calls as f64 * f64::from(seconds);
    let run_ours = only.as_deref() != Some("baseline");
    let run_base = only.as_deref() != Some("ours");
    let mut best_ours: Option<Totals> = None;
    let mut best_base: Option<Totals> = None;
    let mut ratios: Vec<f64> = Vec::new();
    let mut last_ours = Duration::ZERO;
    for r in 1..=reps {
        if run_ours {
            let t = ours(&input, calls, frames);
            println!(
                "rep {r} ours:     cpu {:.3} s ({:.1} us per call per 20 ms), sent {} RTP to A, {} to B ({:.1} kbit/s Opus)",
                t.cpu.as_secs_f64(),
                t.cpu.as_secs_f64() * 1e6 / (calls * frames) as f64,
                t.to_a,
                t.to_b,
                t.bytes_to_b as f64 * 8.0 / media / 1000.0
            );
            assert!(
                t.to_a + calls as u64 >= (calls * frames) as u64,
                "ours lost frames to A"
            );
            assert!(
                t.to_b + calls as u64 >= (calls * frames) as u64,
                "ours lost frames to B"
            );
            last_ours = t.cpu;
            if best_ours.as_ref().is_none_or(|b| t.cpu < b.cpu) {
                best_ours = Some(t);
            }
        }
        if run_base {
            let t = baseline(&input, calls, frames);
            println!(
                "rep {r} baseline: cpu {:.3} s ({:.1} us per call per 20 ms), {:.1} kbit/s Opus",
                t.cpu.as_secs_f64(),
                t.cpu.as_secs_f64() * 1e6 / (calls * frames) as f64,
                t.bytes_to_b as f64 * 8.0 / media / 1000.0
            );
            if run_ours {
                ratios.push(last_ours.as_secs_f64() / t.cpu.as_secs_f64());
            }
            if best_base.as_ref().is_none_or(|b| t.cpu < b.cpu) {
                best_base = Some(t);
            }
        }
    }
    let share = |t: &Totals| t.cpu.as_secs_f64() / media;
    if let Some(o) = &best_ours {
        let s = share(o);
        println!(
            "CPU per transcoded call (ours, best of {reps}): {:.3} % of a core",
            s * 100.0
        );
        println!("calls one core could hold: {:.0}", 1.0 / s);
        println!(
            "calls this 2-core machine could hold: {:.0} (2 cores x 1/share: assumes calls spread \
             evenly over 2 threads, linear scaling, nothing else running, and no socket I/O -- \
             the ~200 recv/send syscalls per call per second are not in this figure)",
            2.0 / s
        );
    }
    if let Some(b) = &best_base {
        let s = share(b);
        println!(
            "CPU per call, libopus baseline (best of {reps}): {:.3} % of a core ({:.0} calls per core)",
            s * 100.0,
            1.0 / s
        );
    }
    if let (Some(o), Some(b)) = (&best_ours, &best_base) {
        // Each rep runs ours then the baseline back to back, so their ratio compares runs
        // under about the same machine load; the median of those is the headline.
        ratios.sort_by(f64::total_cmp);
        let median = if ratios.len() % 2 == 1 {
            ratios[ratios.len() / 2]
        } else {
            (ratios[ratios.len() / 2 - 1] + ratios[ratios.len() / 2]) / 2.0
        };
        let list: Vec<String> = ratios.iter().map(|r| format!("{r:.3}")).collect();
        println!(
            "ours/baseline per rep (sorted): {}; best/best: {:.3}",
            list.join(" "),
            o.cpu.as_secs_f64() / b.cpu.as_secs_f64()
        );
        println!("transcode_overhead_vs_libopus: {median:.3}");
    }
}
