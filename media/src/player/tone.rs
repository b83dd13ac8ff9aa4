//! Call-progress tone synthesis (ringback and friends).

use std::f64::consts::TAU;
use std::time::Duration;

use super::{samples_for, Source};

/// What a call-progress tone sounds like: one or two summed sine frequencies at a level,
/// switched on and off in a repeating pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Cadence {
    freqs: Vec<f64>,
    level_dbfs: f64,
    pattern: Vec<(Duration, Duration)>,
}

impl Cadence {
    /// A tone of `freqs` (one or two frequencies in Hz, summed; extra entries are ignored)
    /// with each frequency at `level_dbfs` (the RMS level of that sine alone, as
    /// [`crate::codec::analysis::rms_dbfs`] reads it), switched by `pattern`: a list of
    /// `(on, off)` durations played in order and repeated forever.
    ///
    /// An empty pattern, or one whose `off` durations are all zero, gives a continuous tone.
    pub fn new(freqs: &[f64], level_dbfs: f64, pattern: Vec<(Duration, Duration)>) -> Self {
        Cadence {
            freqs: freqs.iter().copied().take(2).collect(),
            level_dbfs,
            pattern,
        }
    }

    /// A continuous (never switched off) tone.
    pub fn continuous(freqs: &[f64], level_dbfs: f64) -> Self {
        Self::new(freqs, level_dbfs, Vec::new())
    }

    /// North American ringback (ANSI T1.401): 440 + 480 Hz, 2 s on, 4 s off.
    pub fn us_ringback() -> Self {
        Self::new(
            &[440.0, 480.0],
            -19.0,
            vec![(Duration::from_secs(2), Duration::from_secs(4))],
        )
    }

    /// European (CEPT / ETSI TR 101 041) ringback: 425 Hz, 1 s on, 4 s off.
    pub fn eu_ringback() -> Self {
        Self::new(
            &[425.0],
            -16.0,
            vec![(Duration::from_secs(1), Duration::from_secs(4))],
        )
    }

    /// UK ringback: 400 + 450 Hz, 0.4 s on, 0.2 s off, 0.4 s on, 2 s off.
    pub fn uk_ringback() -> Self {
        Self::new(
            &[400.0, 450.0],
            -19.0,
            vec![
                (Duration::from_millis(400), Duration::from_millis(200)),
                (Duration::from_millis(400), Duration::from_millis(2000)),
            ],
        )
    }

    /// The frequencies in Hz (one or two).
    pub fn freqs(&self) -> &[f64] {
        &self.freqs
    }

    /// Level of each frequency component in dBFS (RMS of that sine alone).
    pub fn level_dbfs(&self) -> f64 {
        self.level_dbfs
    }

    /// The repeated `(on, off)` pattern (empty for a continuous tone).
    pub fn pattern(&self) -> &[(Duration, Duration)] {
        &self.pattern
    }
}

/// An infinite [`Source`] playing a [`Cadence`].
///
/// The oscillators run continuously (the cadence only gates them), so the waveform is
/// phase-continuous across `fill` calls whatever the frame size. The on/off switching is
/// exact to the sample: each duration is rounded to whole samples once, at construction.
#[derive(Debug, Clone)]
pub struct ToneGenerator {
    /// Phase increment per sample, radians, per oscillator.
    step: [f64; 2],
    /// Current phase, radians, per oscillator.
    phase: [f64; 2],
    /// Peak amplitude in sample units per oscillator (0 for an unused one).
    amp: [f64; 2],
    /// `(on, off)` sample counts; empty means continuous.
    segments: Vec<(u64, u64)>,
    /// Index into `segments`.
    segment: usize,
    /// Samples already played of the current segment (on part then off part).
    pos: u64,
    rate: u32,
}

impl ToneGenerator {
    /// A generator of `cadence` at `rate` Hz.
    pub fn new(cadence: &Cadence, rate: u32) -> Self {
        let rate = rate.max(1);
        let peak = 32767.0 * 10f64.powf(cadence.level_dbfs / 20.0) * std::f64::consts::SQRT_2;
        // Never let the summed oscillators exceed full scale.
        let n = cadence.freqs.len().max(1) as f64;
        let peak = peak.min(32767.0 / n);
        let mut step = [0.0; 2];
        let mut amp = [0.0; 2];
        for (i, &f) in cadence.freqs.iter().enumerate().take(2) {
            step[i] = TAU * f / f64::from(rate);
            amp[i] = if f.is_finite() { peak } else { 0.0 };
        }
        let mut segments: Vec<(u64, u64)> = cadence
            .pattern
            .iter()
            .map(|&(on, off)| (samples_for(on, rate), samples_for(off, rate)))
            .filter(|&(on, off)| on + off > 0)
            .collect();
        if segments.iter().all(|&(_, off)| off == 0) {
            segments.clear();
        }
        ToneGenerator {
            step,
            phase: [0.0; 2],
            amp,
            segments,
            segment: 0,
            pos: 0,
            rate,
        }
    }

    /// The sample rate this generator produces.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Restarts the cadence (and the oscillators) from the beginning.
    pub fn reset(&mut self) {
        self.phase = [0.0; 2];
        self.segment = 0;
        self.pos = 0;
    }

    #[inline]
    fn next_sample(&mut self, on: bool) -> i16 {
        let mut v = 0.0;
        for i in 0..2 {
            if on {
                v += self.amp[i] * self.phase[i].sin();
            }
            self.phase[i] += self.step[i];
            if self.phase[i] >= TAU {
                self.phase[i] -= TAU;
            }
        }
        v.round().clamp(-32768.0, 32767.0) as i16
    }
}

impl Source for ToneGenerator {
    fn fill(&mut self, out: &mut [i16]) -> usize {
        if self.segments.is_empty() {
            for s in out.iter_mut() {
                *s = self.next_sample(true);
            }
            return out.len();
        }
        let mut i = 0;
        while i < out.len() {
            let (on, off) = self.segments[self.segment];
            let (is_on, left) = if self.pos < on {
                (true, on - self.pos)
            } else {
                (false, on + off - self.pos)
            };
            let n = usize::try_from(left)
                .unwrap_or(usize::MAX)
                .min(out.len() - i);
            for s in &mut out[i..i + n] {
                *s = self.next_sample(is_on);
            }
            i += n;
            self.pos += n as u64;
            if self.pos >= on + off {
                self.pos = 0;
                self.segment = (self.segment + 1) % self.segments.len();
            }
        }
        out.len()
    }

    fn is_finished(&self) -> bool {
        false
    }
}
