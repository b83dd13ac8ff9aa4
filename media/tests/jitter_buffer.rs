//! Jitter buffer behaviour on simulated time (a fake `Instant` advanced in steps, no sleeping).

use std::time::{Duration, Instant};

use ringside_media::jitter::{JitterBuffer, JitterConfig, JitterError, Pop};

const SPF: u32 = 160; // 20 ms at 8 kHz

/// What one pop produced, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Out {
    Frame(u16, u32),
    Lost(u32),
    Empty,
}

/// A packet on the simulated wire.
#[derive(Debug, Clone, Copy)]
struct Pkt {
    seq: u16,
    ts: u32,
    arrival_ms: u64,
}

/// Small deterministic PRNG (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn buffer() -> JitterBuffer {
    JitterBuffer::new(JitterConfig {
        clock_rate: 8000,
        frame_duration: Duration::from_millis(20),
        min_delay: Duration::from_millis(40),
        max_delay: Duration::from_millis(400),
        max_packets: 64,
    })
    .unwrap()
}

/// A stream of `n` packets, one every 20 ms, starting at `seq0`/`ts0`, arriving on time.
fn stream(n: usize, seq0: u16, ts0: u32) -> Vec<Pkt> {
    (0..n)
        .map(|i| Pkt {
            seq: seq0.wrapping_add(i as u16),
            ts: ts0.wrapping_add(i as u32 * SPF),
            arrival_ms: i as u64 * 20,
        })
        .collect()
}

/// Runs the simulation: at every 20 ms tick, inserts all packets that have arrived by then
/// (in arrival order), then pops once. Returns the outputs and the delay after each pop.
fn run(jb: &mut JitterBuffer, t0: Instant, pkts: &[Pkt], ticks: u64) -> Vec<(Out, Duration)> {
    let mut pkts = pkts.to_vec();
    pkts.sort_by_key(|p| p.arrival_ms);
    let mut next = 0;
    let mut out = Vec::new();
    for tick in 0..ticks {
        let now_ms = tick * 20;
        while next < pkts.len() && pkts[next].arrival_ms <= now_ms {
            let p = pkts[next];
            let at = t0 + Duration::from_millis(p.arrival_ms);
            jb.insert(at, p.seq, p.ts, &p.seq.to_be_bytes());
            next += 1;
        }
        let o = match jb.pop(t0 + Duration::from_millis(now_ms)) {
            Pop::Frame {
                seq,
                timestamp,
                payload,
            } => {
                assert_eq!(payload, seq.to_be_bytes(), "payload belongs to its frame");
                Out::Frame(seq, timestamp)
            }
            Pop::Lost { timestamp } => Out::Lost(timestamp),
            Pop::Empty => Out::Empty,
        };
        out.push((o, jb.current_delay()));
    }
    out
}

fn non_empty(out: &[(Out, Duration)]) -> Vec<Out> {
    out.iter()
        .map(|(o, _)| o.clone())
        .filter(|o| *o != Out::Empty)
        .collect()
}

fn frames(pkts: &[Pkt]) -> Vec<Out> {
    pkts.iter().map(|p| Out::Frame(p.seq, p.ts)).collect()
}

/// Asserts `got` is `want` with exactly `skipped` entries left out (frames discarded to
/// shrink the delay), reporting the first divergence compactly.
fn assert_played(got: &[Out], want: &[Out], skipped: u64) {
    let mut g = 0;
    for (i, w) in want.iter().enumerate() {
        if got.get(g) == Some(w) {
            g += 1;
        } else {
            assert!(
                !got[g..].contains(w) || got.get(g).is_none(),
                "out of order at want[{i}] = {w:?}, got {:?}",
                got.get(g)
            );
        }
    }
    assert_eq!(g, got.len(), "extra output: {:?}", got.get(g));
    assert_eq!((want.len() - got.len()) as u64, skipped, "skipped entries");
}

#[test]
fn rejects_invalid_config() {
    let ok = JitterConfig::default();
    let bad = |c: JitterConfig| JitterBuffer::new(c).unwrap_err();
    assert_eq!(
        bad(JitterConfig {
            clock_rate: 0,
            ..ok
        }),
        JitterError::ZeroClockRate
    );
    assert_eq!(
        bad(JitterConfig {
            frame_duration: Duration::ZERO,
            ..ok
        }),
        JitterError::InvalidFrameDuration
    );
    assert_eq!(
        bad(JitterConfig {
            min_delay: Duration::from_secs(1),
            ..ok
        }),
        JitterError::InvalidDelayRange
    );
    assert_eq!(
        bad(JitterConfig {
            max_packets: 1,
            ..ok
        }),
        JitterError::TooFewSlots
    );
}

#[test]
fn empty_until_started() {
    let mut jb = buffer();
    let t0 = Instant::now();
    assert_eq!(jb.pop(t0), Pop::Empty);
    assert!(jb.is_empty());
    jb.insert(t0, 1, 160, b"x");
    assert_eq!(jb.len(), 1);
    assert_eq!(jb.pop(t0), Pop::Empty);
    assert_eq!(jb.pop(t0 + Duration::from_millis(20)), Pop::Empty);
    assert!(matches!(
        jb.pop(t0 + Duration::from_millis(40)),
        Pop::Frame { seq: 1, .. }
    ));
}

#[test]
fn in_order_stream_plays_every_frame_at_min_delay() {
    let mut jb = buffer();
    let pkts = stream(500, 1000, 4242);
    let out = run(&mut jb, Instant::now(), &pkts, 510);
    assert_played(&non_empty(&out), &frames(&pkts), 0);
    // Two frame periods of start-up delay, then no gap until the stream ends.
    assert!(out[..2].iter().all(|(o, _)| *o == Out::Empty));
    assert!(matches!(out[2].0, Out::Frame(1000, _)));
    let s = jb.stats();
    assert_eq!((s.received, s.late, s.duplicate, s.lost), (500, 0, 0, 0));
    assert_eq!(s.underruns, 8, "only after the stream ended");
    let d = out[400].1;
    assert!(
        d >= Duration::from_millis(39) && d <= Duration::from_millis(41),
        "{d:?}"
    );
}

#[test]
fn reordered_pairs_come_out_in_order() {
    let mut jb = buffer();
    let mut pkts = stream(300, 7, 0);
    for p in pkts.iter_mut().filter(|p| p.seq % 2 == 1) {
        p.arrival_ms += 25; // each odd packet arrives after its even successor
    }
    let out = run(&mut jb, Instant::now(), &pkts, 320);
    assert_played(&non_empty(&out), &frames(&pkts), jb.stats().discarded);
    assert!(jb.stats().discarded <= 1);
    let s = jb.stats();
    assert_eq!((s.late, s.lost), (0, 0));
}

#[test]
fn random_loss_is_reported_exactly() {
    let mut jb = buffer();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let all = stream(2000, 60000, 123);
    let mut expected = Vec::new();
    let mut sent = Vec::new();
    for (i, p) in all.iter().enumerate() {
        let lose = i > 0 && i < all.len() - 1 && rng.next() % 100 < 5;
        if lose {
            expected.push(Out::Lost(p.ts));
        } else {
            expected.push(Out::Frame(p.seq, p.ts));
            sent.push(*p);
        }
    }
    let lost = (all.len() - sent.len()) as u64;
    assert!((60..=140).contains(&lost), "about 5 % lost: {lost}");
    let out = run(&mut jb, Instant::now(), &sent, 2010);
    assert_played(&non_empty(&out), &expected, 0);
    let s = jb.stats();
    assert_eq!((s.lost, s.late, s.underruns), (lost, 0, 8));
}

#[test]
fn peek_after_gap_exposes_the_following_packet() {
    let mut jb = buffer();
    let t0 = Instant::now();
    let ms = |m: u64| t0 + Duration::from_millis(m);
    jb.insert(ms(0), 10, 0, b"a");
    jb.insert(ms(40), 12, 320, b"c");
    jb.insert(ms(60), 13, 480, b"d");
    assert_eq!(jb.pop(ms(20)), Pop::Empty);
    assert!(matches!(jb.pop(ms(40)), Pop::Frame { seq: 10, .. }));
    assert_eq!(jb.pop(ms(60)), Pop::Lost { timestamp: 160 });
    let fec = jb.peek_next_after_gap().unwrap();
    assert_eq!((fec.seq, fec.timestamp, fec.payload), (12, 320, &b"c"[..]));
    assert!(matches!(
        jb.pop(ms(80)),
        Pop::Frame {
            seq: 12,
            payload: b"c",
            ..
        }
    ));
}

#[test]
fn late_packet_is_dropped_and_counted() {
    let mut jb = buffer();
    let mut pkts = stream(100, 0, 0);
    pkts[50].arrival_ms += 200;
    let out = run(&mut jb, Instant::now(), &pkts, 110);
    let played = non_empty(&out);
    assert_eq!(played[50], Out::Lost(50 * SPF));
    let s = jb.stats();
    assert_eq!((s.late, s.lost), (1, 1));
    // One late packet is one event: the target follows it only up to PROMPT_PEAK.
    assert!(s.target_delay >= Duration::from_millis(100), "{s:?}");
    assert!(s.target_delay <= Duration::from_millis(120), "{s:?}");
}

#[test]
fn a_second_spike_confirms_the_first() {
    let mut jb = buffer();
    let mut pkts = stream(100, 0, 0);
    pkts[50].arrival_ms += 200;
    pkts[70].arrival_ms += 180;
    run(&mut jb, Instant::now(), &pkts, 110);
    // Two spikes 400 ms apart: the jitter is real, and the target covers the smaller.
    let s = jb.stats();
    assert!(s.target_delay >= Duration::from_millis(150), "{s:?}");
}

#[test]
fn a_stall_then_a_burst_is_caught_up_instead_of_played_late() {
    let mut jb = JitterBuffer::new(JitterConfig {
        clock_rate: 8000,
        frame_duration: Duration::from_millis(20),
        min_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(300),
        max_packets: 32,
    })
    .unwrap();
    let mut pkts = stream(150, 100, 1000);
    // The first packet on time, the next 20 held up 400 ms and delivered at once (a peer or
    // relay busy for a moment, as when a call's media starts while others' handshakes run).
    for p in pkts.iter_mut().skip(1).take(20) {
        p.arrival_ms = 400;
    }
    let out = run(&mut jb, Instant::now(), &pkts, 150);
    let delay_at = |tick: usize| out[tick].1;
    // Right after the burst the held-up frames are 380 ms late ...
    assert!(
        delay_at(20) >= Duration::from_millis(360),
        "{:?}",
        delay_at(20)
    );
    // ... and within half a second the buffer is back near its target (before: still
    // 320 ms late seven seconds later).
    assert!(
        delay_at(45) <= Duration::from_millis(180),
        "{:?}",
        delay_at(45)
    );
    assert!(
        delay_at(149) <= Duration::from_millis(130),
        "{:?}",
        delay_at(149)
    );
    let s = jb.stats();
    assert!(s.target_delay <= Duration::from_millis(120), "{s:?}");
    assert_eq!(s.late, 0, "{s:?}");
}

#[test]
fn jitter_burst_grows_delay_then_shrinks_slowly() {
    let mut jb = buffer();
    let mut pkts = stream(4000, 0, 0);
    for start in [100, 300, 500] {
        for k in 0..5 {
            // Five packets held up, then delivered together with the sixth.
            pkts[start + k].arrival_ms = (start as u64 + 5) * 20;
        }
    }
    let out = run(&mut jb, Instant::now(), &pkts, 4010);
    let discarded = jb.stats().discarded;
    assert_played(&non_empty(&out), &frames(&pkts), discarded);
    assert_eq!(jb.stats().lost, 0);
    // After the first burst the delay covers the bursts: no gaps until the stream ends.
    let first_after = out
        .iter()
        .position(|(o, _)| *o == Out::Frame(101, 101 * SPF))
        .unwrap();
    let last = out
        .iter()
        .position(|(o, _)| *o == Out::Frame(3999, 3999 * SPF))
        .unwrap();
    let gaps: Vec<usize> = (first_after..last)
        .filter(|&i| out[i].0 == Out::Empty)
        .collect();
    assert!(
        gaps.is_empty(),
        "gaps at ticks {gaps:?}: {:?}",
        &out[gaps[0] - 3..gaps[0] + 3]
    );
    assert!(out[first_after].1 >= Duration::from_millis(100));
    // One second after the last burst the delay is still high...
    assert!(out[560].1 >= Duration::from_millis(100), "{:?}", out[560].1);
    // ...and much later it has come back to within a frame of the minimum.
    let end = out[last].1;
    assert!(end <= Duration::from_millis(61), "{end:?}");
    assert_eq!(jb.target_delay(), Duration::from_millis(40));
    assert!(jb.stats().discarded > 0, "shrunk by discarding frames");
}

#[test]
fn duplicates_are_ignored() {
    let mut jb = buffer();
    let pkts = stream(200, 5, 5);
    let doubled: Vec<Pkt> = pkts.iter().flat_map(|p| [*p, *p]).collect();
    let out = run(&mut jb, Instant::now(), &doubled, 210);
    assert_played(&non_empty(&out), &frames(&pkts), 0);
    let s = jb.stats();
    assert_eq!((s.received, s.duplicate, s.lost, s.late), (400, 200, 0, 0));
}

#[test]
fn sequence_and_timestamp_wraparound_is_seamless() {
    let mut jb = buffer();
    let pkts = stream(300, 65_500, u32::MAX - 100 * SPF + 7);
    let out = run(&mut jb, Instant::now(), &pkts, 310);
    assert_played(&non_empty(&out), &frames(&pkts), 0);
    let s = jb.stats();
    assert_eq!((s.lost, s.late, s.resyncs), (0, 0, 0));
    assert!(out[250].1 <= Duration::from_millis(41));
}

#[test]
fn source_restart_resyncs_within_a_few_frames() {
    let mut jb = buffer();
    let old = stream(100, 10, 5000);
    let mut new = stream(200, 40_000, 3_000_000_000);
    for p in &mut new {
        p.arrival_ms += 2000;
    }
    let all: Vec<Pkt> = old.iter().chain(new.iter()).copied().collect();
    let out = run(&mut jb, Instant::now(), &all, 310);
    let first_new = out
        .iter()
        .position(|(o, _)| matches!(o, Out::Frame(s, _) if *s >= 40_000))
        .unwrap();
    assert!(first_new <= 100 + 5, "resynced at tick {first_new}");
    let after: Vec<Out> = non_empty(&out[first_new..]);
    assert!(after.len() >= new.len() - 2);
    assert_played(&after, &frames(&new[new.len() - after.len()..]), 0);
    let s = jb.stats();
    assert_eq!((s.resyncs, s.lost), (1, 0));
}

#[test]
fn overflow_keeps_the_newest_packets() {
    let mut jb = JitterBuffer::new(JitterConfig {
        max_packets: 8,
        ..JitterConfig::default()
    })
    .unwrap();
    let t0 = Instant::now();
    for seq in 0..20u16 {
        jb.insert(t0, seq, u32::from(seq) * SPF, &[]);
    }
    assert_eq!(jb.len(), 8);
    assert_eq!(jb.stats().discarded, 12);
    let Pop::Frame { seq, .. } = jb.pop(t0 + Duration::from_millis(40)) else {
        panic!("expected a frame");
    };
    assert_eq!(seq, 12);
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn never_panics_and_respects_capacity(
            ops in proptest::collection::vec(
                (any::<u16>(), any::<u32>(), 0u64..100, any::<bool>()),
                0..300,
            ),
            base_seq in any::<u16>(),
        ) {
            let mut jb = JitterBuffer::new(JitterConfig {
                max_packets: 16,
                ..JitterConfig::default()
            })
            .unwrap();
            let mut now = Instant::now();
            for (i, (seq_off, ts, advance_ms, pop)) in ops.into_iter().enumerate() {
                now += Duration::from_millis(advance_ms);
                // Mostly near the running sequence, sometimes anywhere.
                let seq = if seq_off % 4 == 0 {
                    seq_off
                } else {
                    base_seq.wrapping_add(i as u16).wrapping_add(seq_off % 8)
                };
                jb.insert(now, seq, ts, &ts.to_be_bytes());
                if pop {
                    let _ = jb.pop(now);
                }
                prop_assert!(jb.len() <= 16);
                prop_assert!(jb.target_delay() <= Duration::from_millis(400));
            }
        }
    }
}
