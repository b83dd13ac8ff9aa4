//! Packet-loss concealment for 8 kHz G.711 audio, after ITU-T G.711 Appendix I.
//!
//! [`Plc`] sits after the decoder. Every received frame goes through [`Plc::good_frame`],
//! which records it in a 48.75 ms history; every lost frame is produced by
//! [`Plc::conceal`]. The method follows Appendix I:
//!
//! * at the start of an erasure the pitch period (40–120 samples, 66–200 Hz) is estimated by
//!   normalised autocorrelation of the last 20 ms of history against earlier segments;
//! * the last pitch period is repeated; its cyclic join is smoothed by an overlap-add over a
//!   quarter period with the samples that preceded it, so repetition is seamless;
//! * after 10 ms the repeated segment grows to two periods and after 20 ms to three (each
//!   switch cross-faded over a quarter period), which avoids the buzzy sound of one period
//!   repeated for long;
//! * from 10 ms on the output is attenuated linearly by 20 % per 10 ms, reaching silence at
//!   60 ms;
//! * the first good frame after an erasure is overlap-added with the continuing synthetic
//!   signal over a quarter period plus 4 ms for every further 10 ms lost (at most 10 ms).
//!
//! One deliberate difference: Appendix I delays all output by 3.75 ms so that it can also
//! overlap-add at the *start* of an erasure. This implementation adds no latency; the
//! synthetic signal starts exactly one pitch period back, which continues the last received
//! sample naturally for voiced (periodic) audio.
//!
//! Frames may have any length; all state lives in fixed arrays, so neither call allocates.

/// Shortest pitch period searched, in samples (200 Hz).
const PITCH_MIN: usize = 40;
/// Longest pitch period searched, in samples (66.7 Hz).
const PITCH_MAX: usize = 120;
/// Correlation window for the pitch search (20 ms).
const CORR_LEN: usize = 160;
/// Longest quarter-period overlap.
const OV_MAX: usize = PITCH_MAX / 4;
/// History kept: three longest periods plus one overlap (48.75 ms).
const HIST_LEN: usize = 3 * PITCH_MAX + OV_MAX;
/// 10 ms at 8 kHz.
const MS10: usize = 80;
/// Extra overlap at recovery per further 10 ms of erasure (4 ms).
const RECOVERY_STEP: usize = 32;
/// Attenuation per 10 ms after the first 10 ms of erasure.
const ATTEN_PER_10MS: f32 = 0.2;

/// G.711 Appendix I style packet-loss concealer for one 8 kHz mono stream.
#[derive(Debug, Clone)]
pub struct Plc {
    /// Last `HIST_LEN` output samples, oldest first.
    hist: [f32; HIST_LEN],
    /// Snapshot of `hist` when the current erasure began.
    src: [f32; HIST_LEN],
    /// The repeated segment (`nper` periods) with its smoothed cyclic join.
    pbuf: [f32; 3 * PITCH_MAX],
    /// Samples of the old segment being cross-faded out after a segment switch.
    xfade: [f32; OV_MAX],
    xf_len: usize,
    xf_pos: usize,
    /// Length of the active part of `pbuf`.
    plen: usize,
    /// Read position in `pbuf`.
    poff: usize,
    /// Estimated pitch period of the current erasure.
    pitch: usize,
    /// Periods in the repeated segment (1..=3).
    nper: usize,
    /// Samples concealed so far in the current erasure (0 when none).
    erased: usize,
}

impl Default for Plc {
    fn default() -> Self {
        Self::new()
    }
}

impl Plc {
    /// A concealer with silent history.
    pub fn new() -> Self {
        Plc {
            hist: [0.0; HIST_LEN],
            src: [0.0; HIST_LEN],
            pbuf: [0.0; 3 * PITCH_MAX],
            xfade: [0.0; OV_MAX],
            xf_len: 0,
            xf_pos: 0,
            plen: 0,
            poff: 0,
            pitch: PITCH_MAX,
            nper: 1,
            erased: 0,
        }
    }

    /// Forgets history and any erasure in progress.
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// The pitch period (samples) estimated for the current or last erasure.
    pub fn pitch(&self) -> usize {
        self.pitch
    }

    /// Milliseconds concealed so far in the current erasure (0 when receiving).
    pub fn erased_ms(&self) -> usize {
        self.erased / 8
    }

    /// Records a received frame. After an erasure the start of `frame` is overlap-added, in
    /// place, with the continuing concealment so the return to real audio is smooth.
    pub fn good_frame(&mut self, frame: &mut [i16]) {
        if self.erased > 0 {
            let extra = (self.erased - 1) / MS10;
            let ov = (self.pitch / 4 + RECOVERY_STEP * extra)
                .min(MS10)
                .min(frame.len());
            for (i, x) in frame.iter_mut().take(ov).enumerate() {
                let syn = self.next_synth() * gain(self.erased + i);
                let w = (i + 1) as f32 / (ov + 1) as f32;
                *x = to_i16(syn * (1.0 - w) + f32::from(*x) * w);
            }
            self.erased = 0;
        }
        self.push_history(frame);
    }

    /// Fills `out` with concealment for a lost frame.
    pub fn conceal(&mut self, out: &mut [i16]) {
        if self.erased == 0 {
            self.src = self.hist;
            self.pitch = self.find_pitch();
            self.nper = 1;
            self.poff = 0;
            self.xf_len = 0;
            self.xf_pos = 0;
            self.build_segment();
        }
        for o in out.iter_mut() {
            if self.nper < 3 && self.erased == self.nper * MS10 {
                self.grow_segment();
            }
            let s = self.next_synth();
            *o = to_i16(s * gain(self.erased));
            self.erased = self.erased.saturating_add(1);
        }
        self.push_history(out);
    }

    /// Pitch period maximising the normalised correlation of the last 20 ms of the snapshot
    /// with the segment one candidate period earlier.
    fn find_pitch(&self) -> usize {
        let x = &self.src[HIST_LEN - CORR_LEN..];
        let mut best = (PITCH_MAX, f32::NEG_INFINITY);
        for p in PITCH_MIN..=PITCH_MAX {
            let y = &self.src[HIST_LEN - CORR_LEN - p..HIST_LEN - p];
            let (mut c, mut e) = (0.0f32, 0.0f32);
            for (a, b) in x.iter().zip(y) {
                c += a * b;
                e += b * b;
            }
            if e > 0.0 {
                let score = c / e.sqrt();
                if score > best.1 {
                    best = (p, score);
                }
            }
        }
        best.0
    }

    /// Loads the last `nper` periods of the snapshot into `pbuf`, fading the tail into the
    /// samples that precede the segment so the wrap-around is continuous.
    fn build_segment(&mut self) {
        let plen = self.nper * self.pitch;
        let start = HIST_LEN - plen;
        self.pbuf[..plen].copy_from_slice(&self.src[start..]);
        let ov = (self.pitch / 4).max(1);
        for i in 0..ov {
            let w = (i + 1) as f32 / (ov + 1) as f32;
            let k = plen - ov + i;
            self.pbuf[k] = self.pbuf[k] * (1.0 - w) + self.src[start - ov + i] * w;
        }
        self.plen = plen;
    }

    /// Switches to a segment one period longer, cross-fading over a quarter period. The read
    /// offset keeps its phase (the new segment starts exactly one period earlier).
    fn grow_segment(&mut self) {
        let ov = (self.pitch / 4).max(1);
        let mut off = self.poff;
        for v in self.xfade.iter_mut().take(ov) {
            *v = self.pbuf[off];
            off = (off + 1) % self.plen;
        }
        self.nper += 1;
        self.build_segment();
        self.xf_len = ov;
        self.xf_pos = 0;
    }

    fn next_synth(&mut self) -> f32 {
        let mut s = self.pbuf[self.poff];
        self.poff += 1;
        if self.poff >= self.plen {
            self.poff = 0;
        }
        if self.xf_pos < self.xf_len {
            let w = (self.xf_pos + 1) as f32 / (self.xf_len + 1) as f32;
            s = self.xfade[self.xf_pos] * (1.0 - w) + s * w;
            self.xf_pos += 1;
        }
        s
    }

    fn push_history(&mut self, s: &[i16]) {
        if s.len() >= HIST_LEN {
            for (h, &x) in self.hist.iter_mut().zip(&s[s.len() - HIST_LEN..]) {
                *h = f32::from(x);
            }
        } else {
            self.hist.copy_within(s.len().., 0);
            for (h, &x) in self.hist[HIST_LEN - s.len()..].iter_mut().zip(s) {
                *h = f32::from(x);
            }
        }
    }
}

/// Gain for the `t`-th concealed sample: 1 for the first 10 ms, then down 20 % per 10 ms.
fn gain(t: usize) -> f32 {
    if t < MS10 {
        1.0
    } else {
        (1.0 - ATTEN_PER_10MS * (t - MS10) as f32 / MS10 as f32).max(0.0)
    }
}

fn to_i16(x: f32) -> i16 {
    x.round().clamp(-32768.0, 32767.0) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attenuates_and_mutes_after_60ms() {
        assert_eq!(gain(0), 1.0);
        assert_eq!(gain(79), 1.0);
        assert!((gain(160) - 0.8).abs() < 1e-6);
        assert_eq!(gain(480), 0.0);
        let mut plc = Plc::new();
        let mut t = crate::codec::analysis::tone(200.0, 8000, 0.5, 800);
        for f in t.chunks_mut(160) {
            plc.good_frame(f);
        }
        let mut out = [0i16; 160];
        for _ in 0..3 {
            plc.conceal(&mut out);
        }
        assert_eq!(plc.erased_ms(), 60);
        assert!(out[150..].iter().all(|&x| x.abs() <= 450), "fading out");
        plc.conceal(&mut out);
        assert!(out.iter().all(|&x| x == 0), "silent after 60 ms");
    }

    #[test]
    fn finds_pitch_of_periodic_signal() {
        let mut plc = Plc::new();
        // 100 Hz: period 80 samples.
        let mut t = crate::codec::analysis::tone(100.0, 8000, 0.5, 800);
        plc.good_frame(&mut t);
        let mut out = [0i16; 160];
        plc.conceal(&mut out);
        assert_eq!(plc.pitch(), 80);
        // The first 10 ms continue the tone exactly.
        let cont = crate::codec::analysis::tone(100.0, 8000, 0.5, 960);
        for i in 0..80 {
            assert!((out[i] - cont[800 + i]).abs() <= 2, "{i}");
        }
    }
}
