//! ITU-T G.722 wideband speech codec at 64 kbit/s (mode 1), written from the algorithm
//! description in the Recommendation.
//!
//! G.722 codes 16 kHz mono audio in two sub-bands:
//!
//! 1. A 24-tap quadrature mirror filter (QMF) splits each pair of input samples into one
//!    lower-band sample (0–4 kHz) and one higher-band sample (4–8 kHz), both at 8 kHz.
//! 2. The lower band is coded with 6-bit adaptive differential PCM (ADPCM); the higher band
//!    with 2-bit ADPCM. Each band has an adaptive quantizer scale factor (driven by a
//!    logarithmic scale factor that leaks towards zero and is pushed up or down by every code)
//!    and a predictor with two poles and six zeros whose coefficients follow a sign-sign
//!    gradient algorithm.
//! 3. The two codes are packed into one octet, higher-band code in the two most significant
//!    bits: `octet = (high << 6) | low`. Every octet therefore carries two 16 kHz samples, and a
//!    20 ms frame (320 samples) is 160 octets.
//!
//! The decoder reverses the steps: inverse quantizers, predictors, then the synthesis QMF
//! rebuilding two 16 kHz samples from each pair of band samples. The lower-band predictor and
//! scale factor are adapted from the four most significant bits of the 6-bit code only, so the
//! encoder's embedded decoder and a real decoder stay in lock-step (the decoder uses all six
//! bits only for the output signal). That is what lets 56 and 48 kbit/s receivers drop bits;
//! this module implements 64 kbit/s only, as used over RTP (RFC 3551 payload type 9).
//!
//! All arithmetic follows the fixed-point definitions of the Recommendation (16-bit
//! saturating values, Q15 products with arithmetic right shifts); encoder and decoder output
//! were checked bit-exact against FFmpeg's independent implementation (see `tests/g722.rs`).
//! Samples are 16-bit linear PCM. Nothing allocates.
//!
//! RTP note: for historical reasons (RFC 3551 §4.5.2) the RTP clock of G.722 is 8000 Hz even
//! though the audio is sampled at 16 kHz; see [`G722_RTP_CLOCK_RATE`].

use super::CodecError;

/// Audio sample rate G.722 codes, in Hz.
pub const G722_SAMPLE_RATE: u32 = 16000;
/// RTP timestamp clock rate of G.722 (RFC 3551: 8000 Hz, half the real sample rate).
pub const G722_RTP_CLOCK_RATE: u32 = 8000;
/// 16 kHz samples carried by one G.722 octet at 64 kbit/s.
pub const G722_SAMPLES_PER_BYTE: usize = 2;

/// QMF coefficients h(0)..h(11) (the filter is symmetric, h(23 − i) = h(i)), scaled by 2^13.
const QMF: [i32; 24] = [
    3, -11, -11, 53, 12, -156, 32, 362, -210, -805, 951, 3876, 3876, 951, -805, -210, 362, 32,
    -156, 12, 53, -11, -11, 3,
];

/// Lower-band quantizer decision levels (magnitudes, scaled by 2^12 relative to the scale
/// factor); interval `i` (1..=30) is `[Q6[i-1], Q6[i])`, the last one is open.
const Q6: [i32; 31] = [
    0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714, 786, 858, 940,
    1023, 1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919, 0,
];
/// 6-bit code for a negative lower-band difference in interval `i`.
const ILN: [u8; 31] = [
    0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11,
    10, 9, 8, 7, 6, 5, 4,
];
/// 6-bit code for a non-negative lower-band difference in interval `i`.
const ILP: [u8; 31] = [
    0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39,
    38, 37, 36, 35, 34, 33, 32,
];
/// Lower-band inverse quantizer for the full 6-bit code (output signal), Q15 of the scale.
const QM6: [i32; 64] = [
    -136, -136, -136, -136, -24808, -21904, -19008, -16704, -14984, -13512, -12280, -11192, -10232,
    -9360, -8576, -7856, -7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576, -3168, -2776,
    -2400, -2032, -1688, -1360, -1040, -728, 24808, 21904, 19008, 16704, 14984, 13512, 12280,
    11192, 10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456, 4944, 4464, 4008, 3576, 3168, 2776,
    2400, 2032, 1688, 1360, 1040, 728, 432, 136, -432, -136,
];
/// Lower-band inverse quantizer for the 4-bit truncated code (feeds the adaptation).
const QM4: [i32; 16] = [
    0, -20456, -12896, -8968, -6288, -4240, -2584, -1200, 20456, 12896, 8968, 6288, 4240, 2584,
    1200, 0,
];
/// Maps the 4-bit truncated lower-band code to its magnitude class for [`WL`].
const RL42: [usize; 16] = [0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0];
/// Lower-band log scale factor increments per magnitude class.
const WL: [i32; 8] = [-60, -30, 58, 172, 334, 538, 1198, 3042];
/// Antilog table of the scale factor: 2^(i/32) scaled by 2^11.
const ILB: [i32; 32] = [
    2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834,
    2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
];
/// Higher-band inverse quantizer for the 2-bit code, Q15 of the scale.
const QM2: [i32; 4] = [-7408, -1616, 7408, 1616];
/// Maps the 2-bit higher-band code to its magnitude class for [`WH`].
const RH2: [usize; 4] = [2, 1, 2, 1];
/// Higher-band log scale factor increments per magnitude class.
const WH: [i32; 3] = [0, -214, 798];
/// Higher-band decision level (scaled by 2^12 relative to the scale factor).
const Q2: i32 = 564;

/// Upper limit of the lower-band log scale factor.
const NBL_MAX: i32 = 18432;
/// Upper limit of the higher-band log scale factor.
const NBH_MAX: i32 = 22528;

/// Saturates to the 16-bit two's-complement range.
#[inline]
fn sat16(x: i32) -> i32 {
    x.clamp(-32768, 32767)
}

/// Magnitude as the Recommendation computes it (one's complement for negative values), so
/// that -1 maps to 0 and the range stays within 15 bits.
#[inline]
fn magnitude(x: i32) -> i32 {
    if x >= 0 {
        x
    } else {
        -(x + 1)
    }
}

/// Adaptation state of one sub-band: quantizer scale factor and pole-zero predictor.
///
/// The encoder keeps one of these per band as its embedded decoder; a decoder fed the
/// encoder's codes ends up with an identical state, which [`G722Encoder::band_states`] and
/// [`G722Decoder::band_states`] expose for comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubbandState {
    /// Logarithmic scale factor (`nbl` / `nbh`).
    log_scale: i32,
    /// Linear quantizer scale factor (`detl` / `deth`), derived from `log_scale`.
    scale: i32,
    /// Pole coefficients a1, a2 (Q14).
    a: [i32; 2],
    /// Zero coefficients b1..b6 (Q15).
    b: [i32; 6],
    /// Past quantized differences d(n−1)..d(n−6).
    d: [i32; 6],
    /// Past reconstructed signals r(n−1), r(n−2).
    r: [i32; 2],
    /// Past partially reconstructed signals p(n−1), p(n−2) (zero-section output plus d).
    p: [i32; 2],
    /// Zero-section prediction for the current sample.
    sz: i32,
    /// Full prediction (poles plus zeros) for the current sample.
    s: i32,
}

impl SubbandState {
    fn new(initial_scale: i32) -> Self {
        SubbandState {
            log_scale: 0,
            scale: initial_scale,
            a: [0; 2],
            b: [0; 6],
            d: [0; 6],
            r: [0; 2],
            p: [0; 2],
            sz: 0,
            s: 0,
        }
    }

    /// The quantizer scale factor currently in use.
    pub fn scale_factor(&self) -> i32 {
        self.scale
    }

    /// The predicted value of the next band sample.
    pub fn prediction(&self) -> i32 {
        self.s
    }

    /// Leaks the log scale factor, adds `increment`, clamps to `[0, max]` and recomputes the
    /// linear scale factor; `shift` is 8 for the lower band and 10 for the higher band.
    fn adapt_scale(&mut self, increment: i32, max: i32, shift: i32) {
        // nb·(1 − 2^-7), exactly as the Recommendation's 32512/32768 factor.
        let nb = ((self.log_scale * 127) >> 7) + increment;
        self.log_scale = nb.clamp(0, max);
        let mantissa = ILB[((self.log_scale >> 6) & 31) as usize];
        let exp = shift - (self.log_scale >> 11);
        let lin = if exp < 0 {
            mantissa << -exp
        } else {
            mantissa >> exp
        };
        self.scale = lin << 2;
    }

    /// Adapts the pole-zero predictor with the new quantized difference `d` and computes the
    /// prediction for the next sample.
    fn adapt_predictor(&mut self, d: i32) {
        // Reconstructed and partially reconstructed signals of this sample.
        let r0 = sat16(self.s + d);
        let p0 = sat16(self.sz + d);
        let neg0 = p0 < 0;
        let neg1 = self.p[0] < 0;
        let neg2 = self.p[1] < 0;

        // Second pole coefficient: leak plus sign-sign gradient terms, |a2| ≤ 0.75.
        let a1x4 = sat16(self.a[0] << 2);
        let g1 = if neg0 == neg1 { -a1x4 } else { a1x4 }.min(32767);
        let g2 = if neg0 == neg2 { 128 } else { -128 };
        let a2 = ((g1 >> 7) + g2 + ((self.a[1] * 32512) >> 15)).clamp(-12288, 12288);

        // First pole coefficient, limited to |a1| ≤ 1 − 2^-4 − a2 for stability.
        let step = if neg0 == neg1 { 192 } else { -192 };
        let limit = sat16(15360 - a2);
        let a1 = sat16(step + ((self.a[0] * 32640) >> 15)).clamp(-limit, limit);

        // Zero coefficients: leak plus sign-sign correlation with past differences.
        let step = if d == 0 { 0 } else { 128 };
        let dneg = d < 0;
        for (b, &dp) in self.b.iter_mut().zip(&self.d) {
            let g = if (dp < 0) == dneg { step } else { -step };
            *b = sat16(g + ((*b * 32640) >> 15));
        }

        // Delay lines.
        self.d.copy_within(0..5, 1);
        self.d[0] = d;
        self.r = [r0, self.r[0]];
        self.p = [p0, self.p[0]];
        self.a = [a1, a2];

        // Predictions for the next sample.
        let sp = sat16(
            ((self.a[0] * sat16(self.r[0] << 1)) >> 15)
                + ((self.a[1] * sat16(self.r[1] << 1)) >> 15),
        );
        let sz: i32 = self
            .b
            .iter()
            .zip(&self.d)
            .map(|(&b, &dp)| (b * sat16(dp << 1)) >> 15)
            .sum();
        self.sz = sat16(sz);
        self.s = sat16(sp + self.sz);
    }

    /// Lower band: adapts to the 6-bit code `code` and returns the 4-bit quantized difference
    /// used for adaptation together with the 6-bit one used for output, both computed with the
    /// scale factor in force before adaptation.
    fn adapt_low(&mut self, code: u8) -> (i32, i32) {
        let code4 = (code >> 2) as usize;
        let d4 = (self.scale * QM4[code4]) >> 15;
        let d6 = (self.scale * QM6[code as usize & 63]) >> 15;
        self.adapt_scale(WL[RL42[code4]], NBL_MAX, 8);
        self.adapt_predictor(d4);
        (d4, d6)
    }

    /// Higher band: adapts to the 2-bit code and returns its quantized difference.
    fn adapt_high(&mut self, code: u8) -> i32 {
        let code = code as usize & 3;
        let d = (self.scale * QM2[code]) >> 15;
        self.adapt_scale(WH[RH2[code]], NBH_MAX, 10);
        self.adapt_predictor(d);
        d
    }
}

/// Quantizes a lower-band prediction error to a 6-bit code.
fn quantize_low(e: i32, scale: i32) -> u8 {
    let m = magnitude(e);
    let mut i = 1;
    while i < 30 && m >= (Q6[i] * scale) >> 12 {
        i += 1;
    }
    if e < 0 {
        ILN[i]
    } else {
        ILP[i]
    }
}

/// Quantizes a higher-band prediction error to a 2-bit code.
fn quantize_high(e: i32, scale: i32) -> u8 {
    let outer = magnitude(e) >= (Q2 * scale) >> 12;
    match (e < 0, outer) {
        (true, false) => 1,
        (true, true) => 0,
        (false, false) => 3,
        (false, true) => 2,
    }
}

/// G.722 encoder at 64 kbit/s: 16 kHz PCM in, one octet per two samples out.
#[derive(Debug, Clone)]
pub struct G722Encoder {
    /// Analysis QMF delay line, newest sample at index 0.
    qmf: [i32; 24],
    low: SubbandState,
    high: SubbandState,
}

impl Default for G722Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl G722Encoder {
    /// A new encoder in the reset state of the Recommendation.
    pub fn new() -> Self {
        G722Encoder {
            qmf: [0; 24],
            low: SubbandState::new(32),
            high: SubbandState::new(8),
        }
    }

    /// Returns the encoder to its initial state.
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// The embedded decoder's adaptation state, lower band first.
    pub fn band_states(&self) -> [&SubbandState; 2] {
        [&self.low, &self.high]
    }

    /// Encodes `pcm` (16 kHz, even length) into `out`, one octet per two samples, returning
    /// the octets written. An odd-length input is rejected with
    /// [`CodecError::FrameLength`] (expected: the length rounded down to even).
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
        if !pcm.len().is_multiple_of(2) {
            return Err(CodecError::FrameLength {
                expected: pcm.len() - 1,
                got: pcm.len(),
            });
        }
        let n = pcm.len() / 2;
        if out.len() < n {
            return Err(CodecError::OutputTooSmall {
                needed: n,
                got: out.len(),
            });
        }
        for (pair, byte) in pcm.chunks_exact(2).zip(out.iter_mut()) {
            *byte = self.encode_pair(pair[0], pair[1]);
        }
        Ok(n)
    }

    /// Encodes two consecutive 16 kHz samples into one octet.
    fn encode_pair(&mut self, first: i16, second: i16) -> u8 {
        // Analysis QMF: newest sample at index 0, so even taps weight the newest sample of
        // each pair and odd taps the older one.
        self.qmf.copy_within(0..22, 2);
        self.qmf[1] = i32::from(first);
        self.qmf[0] = i32::from(second);
        let mut even = 0i32;
        let mut odd = 0i32;
        for i in 0..12 {
            even += QMF[2 * i] * self.qmf[2 * i];
            odd += QMF[2 * i + 1] * self.qmf[2 * i + 1];
        }
        let xl = (even + odd) >> 14;
        let xh = (even - odd) >> 14;

        let el = sat16(xl - self.low.s);
        let il = quantize_low(el, self.low.scale);
        self.low.adapt_low(il);

        let eh = sat16(xh - self.high.s);
        let ih = quantize_high(eh, self.high.scale);
        self.high.adapt_high(ih);

        (ih << 6) | il
    }
}

/// G.722 decoder at 64 kbit/s: one octet in, two 16 kHz PCM samples out.
#[derive(Debug, Clone)]
pub struct G722Decoder {
    /// Synthesis QMF delay line of (sum, difference) pairs, newest at index 0.
    qmf: [(i32, i32); 12],
    low: SubbandState,
    high: SubbandState,
}

impl Default for G722Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl G722Decoder {
    /// A new decoder in the reset state of the Recommendation.
    pub fn new() -> Self {
        G722Decoder {
            qmf: [(0, 0); 12],
            low: SubbandState::new(32),
            high: SubbandState::new(8),
        }
    }

    /// Returns the decoder to its initial state.
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// The adaptation state, lower band first (equal to the encoder's after the same codes).
    pub fn band_states(&self) -> [&SubbandState; 2] {
        [&self.low, &self.high]
    }

    /// Decodes `payload` into `out` (at least twice the payload length), returning the 16 kHz
    /// samples written. Every octet is a valid code, so any payload decodes.
    pub fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        let n = payload.len() * G722_SAMPLES_PER_BYTE;
        if out.len() < n {
            return Err(CodecError::OutputTooSmall {
                needed: n,
                got: out.len(),
            });
        }
        for (&byte, pair) in payload.iter().zip(out.chunks_exact_mut(2)) {
            let (a, b) = self.decode_byte(byte);
            pair[0] = a;
            pair[1] = b;
        }
        Ok(n)
    }

    /// Decodes one octet into two consecutive 16 kHz samples.
    fn decode_byte(&mut self, byte: u8) -> (i16, i16) {
        let sl = self.low.s;
        let (_, d6) = self.low.adapt_low(byte & 63);
        let rl = (sl + d6).clamp(-16384, 16383);

        let sh = self.high.s;
        let dh = self.high.adapt_high(byte >> 6);
        let rh = (sh + dh).clamp(-16384, 16383);

        // Synthesis QMF: the older output sample comes from the band differences filtered by
        // the even taps, the newer one from the band sums filtered by the odd taps (the
        // mirror image of the analysis split, which cancels the aliasing between the bands).
        self.qmf.copy_within(0..11, 1);
        self.qmf[0] = (rl + rh, rl - rh);
        let mut older = 0i32;
        let mut newer = 0i32;
        for (i, &(sum, diff)) in self.qmf.iter().enumerate() {
            older += QMF[2 * i] * diff;
            newer += QMF[2 * i + 1] * sum;
        }
        (sat16(older >> 11) as i16, sat16(newer >> 11) as i16)
    }
}
