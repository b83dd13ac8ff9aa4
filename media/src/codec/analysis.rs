//! Audio measurement helpers for tests: tone generation, dominant frequency, delay-aligned
//! SNR and RMS level.
//!
//! These ship with the crate (not only under `#[cfg(test)]`) because end-to-end tests in
//! other crates judge call audio with them. They allocate freely and are not meant for the
//! media hot path.
//!
//! Levels: a tone's `amplitude` is its peak as a fraction of full scale (32768), so
//! `amplitude = 0.5` is a −6 dBFS tone. [`rms_dbfs`] reports RMS relative to 32768, so a
//! sine of peak amplitude `a` reads `20·log10(a) − 3.01` dB.

use std::f64::consts::PI;

/// `n` samples of a sine of `freq` Hz at `rate` Hz with peak `amplitude` (fraction of full
/// scale, clamped to 0..=1), starting at phase 0, rounded to 16-bit.
pub fn tone(freq: f64, rate: u32, amplitude: f64, n: usize) -> Vec<i16> {
    let a = amplitude.clamp(0.0, 1.0) * 32767.0;
    let w = 2.0 * PI * freq / f64::from(rate);
    (0..n)
        .map(|i| (a * (w * i as f64).sin()).round() as i16)
        .collect()
}

/// RMS level of `samples` in dB relative to 32768 (−∞ for silence or an empty slice).
pub fn rms_dbfs(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return f64::NEG_INFINITY;
    }
    let e: f64 = samples.iter().map(|&x| f64::from(x).powi(2)).sum();
    10.0 * (e / samples.len() as f64 / (32768.0 * 32768.0)).log10()
}

/// The frequency in Hz of the strongest spectral peak of `samples` (DC excluded).
///
/// Method: Hann window, zero-padding to a power of two ≥ 4·len, FFT, peak bin, then
/// parabolic interpolation of the log magnitude around the peak. For a 1 kHz tone over one
/// second this is accurate to well under 1 Hz. Returns 0.0 for fewer than 4 samples.
pub fn dominant_frequency(samples: &[i16], rate: u32) -> f64 {
    let n = samples.len();
    if n < 4 {
        return 0.0;
    }
    let size = (4 * n).next_power_of_two();
    let mut re = vec![0.0f64; size];
    let mut im = vec![0.0f64; size];
    for (i, &x) in samples.iter().enumerate() {
        let w = 0.5 - 0.5 * (2.0 * PI * i as f64 / (n - 1) as f64).cos();
        re[i] = f64::from(x) * w;
    }
    fft(&mut re, &mut im, false);
    let mag: Vec<f64> = re[..size / 2]
        .iter()
        .zip(&im[..size / 2])
        .map(|(r, i)| (r * r + i * i).sqrt())
        .collect();
    let k = (1..size / 2 - 1)
        .max_by(|&a, &b| mag[a].total_cmp(&mag[b]))
        .unwrap_or(1);
    let (a, b, c) = (
        (mag[k - 1] + 1e-12).ln(),
        (mag[k] + 1e-12).ln(),
        (mag[k + 1] + 1e-12).ln(),
    );
    let denom = a - 2.0 * b + c;
    let delta = if denom.abs() > 1e-18 {
        0.5 * (a - c) / denom
    } else {
        0.0
    };
    (k as f64 + delta) * f64::from(rate) / size as f64
}

/// Signal-to-noise ratio in dB of `degraded` against `reference`, after delay alignment.
///
/// Method: the lag `d` maximising the cross-correlation `Σ reference[i]·degraded[i + d]`
/// (over every lag with any overlap, computed by FFT) is taken as the delay of `degraded`.
/// The SNR is then `10·log10(Σ r² / Σ (r − g)²)` over the overlapping part of the aligned
/// signals. No gain is compensated, so a level change counts as noise. For a strictly
/// periodic signal the lag is only determined modulo the period, which does not change the
/// result. Pass a reference trimmed of start-up transients and an untrimmed degraded signal
/// so that the overlap covers the whole reference. Returns +∞ for identical signals and
/// −∞ when either input is empty.
pub fn snr_db(reference: &[i16], degraded: &[i16]) -> f64 {
    let (lag, _) = best_lag(reference, degraded);
    snr_at_lag(reference, degraded, lag)
}

/// The lag `d` (samples) maximising `Σ reference[i]·degraded[i + d]`, with its correlation.
pub fn best_lag(reference: &[i16], degraded: &[i16]) -> (isize, f64) {
    let (nr, nd) = (reference.len(), degraded.len());
    if nr == 0 || nd == 0 {
        return (0, 0.0);
    }
    let size = (nr + nd).next_power_of_two();
    let mut ar = vec![0.0f64; size];
    let mut ai = vec![0.0f64; size];
    let mut br = vec![0.0f64; size];
    let mut bi = vec![0.0f64; size];
    for (i, &x) in reference.iter().enumerate() {
        ar[i] = f64::from(x);
    }
    for (i, &x) in degraded.iter().enumerate() {
        br[i] = f64::from(x);
    }
    fft(&mut ar, &mut ai, false);
    fft(&mut br, &mut bi, false);
    // conj(A)·B gives c[d] = Σ a[i]·b[i + d] (circular; size ≥ nr + nd avoids wrap overlap).
    for k in 0..size {
        let (r, i) = (ar[k] * br[k] + ai[k] * bi[k], ar[k] * bi[k] - ai[k] * br[k]);
        ar[k] = r;
        ai[k] = i;
    }
    fft(&mut ar, &mut ai, true);
    let mut best = (0isize, f64::NEG_INFINITY);
    for d in -(nr as isize - 1)..nd as isize {
        let v = ar[d.rem_euclid(size as isize) as usize];
        if v > best.1 {
            best = (d, v);
        }
    }
    best
}

/// SNR in dB of `degraded[i + lag]` against `reference[i]` over their overlap.
pub fn snr_at_lag(reference: &[i16], degraded: &[i16], lag: isize) -> f64 {
    let (mut sig, mut noise) = (0.0f64, 0.0f64);
    let mut any = false;
    for (i, &r) in reference.iter().enumerate() {
        let j = i as isize + lag;
        if j < 0 || j >= degraded.len() as isize {
            continue;
        }
        any = true;
        let (r, g) = (f64::from(r), f64::from(degraded[j as usize]));
        sig += r * r;
        noise += (r - g) * (r - g);
    }
    if !any {
        return f64::NEG_INFINITY;
    }
    10.0 * (sig / noise).log10()
}

/// In-place iterative radix-2 complex FFT; `inverse` also scales by 1/n.
fn fft(re: &mut [f64], im: &mut [f64], inverse: bool) {
    let n = re.len();
    debug_assert!(n.is_power_of_two() && im.len() == n);
    let mut j = 0;
    for i in 1..n {
        let mut bit = n >> 1;
        while j & bit != 0 {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
        if i < j {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    let sign = if inverse { 1.0 } else { -1.0 };
    let mut len = 2;
    while len <= n {
        let ang = sign * 2.0 * PI / len as f64;
        let (wr, wi) = (ang.cos(), ang.sin());
        for start in (0..n).step_by(len) {
            let (mut cr, mut ci) = (1.0f64, 0.0f64);
            for k in 0..len / 2 {
                let (a, b) = (start + k, start + k + len / 2);
                let tr = re[b] * cr - im[b] * ci;
                let ti = re[b] * ci + im[b] * cr;
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
                let ncr = cr * wr - ci * wi;
                ci = cr * wi + ci * wr;
                cr = ncr;
            }
        }
        len <<= 1;
    }
    if inverse {
        let s = 1.0 / n as f64;
        re.iter_mut().for_each(|x| *x *= s);
        im.iter_mut().for_each(|x| *x *= s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_frequency_and_level() {
        let t = tone(1000.0, 8000, 0.5, 8000);
        assert!((dominant_frequency(&t, 8000) - 1000.0).abs() < 1.0);
        let t = tone(437.3, 48000, 0.5, 48000);
        assert!((dominant_frequency(&t, 48000) - 437.3).abs() < 1.0);
        assert!((rms_dbfs(&t) - (20.0 * 0.5f64.log10() - 3.01)).abs() < 0.05);
    }

    #[test]
    fn snr_aligns_delay() {
        let t = tone(441.0, 8000, 0.5, 4000);
        let mut d = vec![0i16; 37];
        d.extend_from_slice(&t);
        assert_eq!(best_lag(&t[100..3000], &d).0, 137);
        assert!(snr_db(&t[100..3000], &d).is_infinite());
        let noisy: Vec<i16> = d
            .iter()
            .enumerate()
            .map(|(i, &x)| x + (i % 3) as i16 - 1)
            .collect();
        let s = snr_db(&t[100..3000], &noisy);
        assert!(s > 70.0 && s < 90.0, "{s}");
    }
}
