//! Speech-like test audio shared by `relay_path` and `transcode_load`: voiced "syllables"
//! (a gliding fundamental with three harmonics, 120–300 ms long, raised-cosine envelope)
//! separated by 60–250 ms gaps, plus a pause of ~0.6 s every ~2.5 s, over a constant noise
//! floor (about −50 dBFS) and some breath noise while voiced. Deterministic (fixed seed).

use std::f64::consts::PI;

/// `n` samples of speech-like audio at `rate` Hz (peak about −8 dBFS).
pub fn speech(rate: u32, n: usize, seed: u64) -> Vec<i16> {
    let mut s = seed | 1;
    let mut rnd = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let fs = f64::from(rate);
    let mut out = Vec::with_capacity(n);
    let mut phase = 0.0f64;
    let mut since_pause = 0.0f64;
    while out.len() < n {
        // One syllable, then a gap (sometimes a longer pause).
        let len = ((0.12 + 0.18 * rnd()) * fs) as usize;
        let f0 = 110.0 + 120.0 * rnd();
        let glide = (rnd() - 0.5) * 60.0;
        let amp = 0.15 + 0.2 * rnd();
        for i in 0..len {
            let t = i as f64 / len as f64;
            let env = 0.5 - 0.5 * (2.0 * PI * t).cos();
            let f = f0 + glide * t;
            phase += 2.0 * PI * f / fs;
            let voiced = (phase.sin() + 0.5 * (2.0 * phase).sin() + 0.3 * (3.0 * phase).sin())
                / 1.8
                + 0.05 * (rnd() - 0.5);
            out.push(sample(amp * env * voiced + 0.006 * (rnd() - 0.5)));
        }
        since_pause += len as f64 / fs;
        let gap_s = if since_pause > 2.5 {
            since_pause = 0.0;
            0.6
        } else {
            0.06 + 0.19 * rnd()
        };
        for _ in 0..(gap_s * fs) as usize {
            out.push(sample(0.006 * (rnd() - 0.5)));
        }
    }
    out.truncate(n);
    out
}

fn sample(x: f64) -> i16 {
    (x * 32767.0).round().clamp(-32768.0, 32767.0) as i16
}
