//! Prompts: decoded audio held in memory, loaded from WAV files, and their player.

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::Source;
use crate::codec::Resampler;

/// Sample rates the WAV loader accepts, both for input files and as targets.
const MIN_RATE: u32 = 8000;
const MAX_RATE: u32 = 48000;
/// Rates the crate's own polyphase [`Resampler`] converts between exactly.
const FIR_RATES: [u32; 3] = [8000, 16000, 48000];
/// Most channels a WAV file may have.
const MAX_CHANNELS: u16 = 32;
/// Stop-band attenuation of the arbitrary-ratio sinc filter, in dB.
const SINC_ATTENUATION_DB: f64 = 80.0;
/// Pass-band edge of the arbitrary-ratio sinc filter, as a fraction of the lower Nyquist.
const SINC_PASS_EDGE: f64 = 0.85;
/// Kernel table points per input sample (the kernel, not the signal, is interpolated).
const SINC_OVERSAMPLING: usize = 512;

/// Errors from loading a [`Prompt`].
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// The input is bigger than the configured byte limit.
    #[error("prompt is too large: {size} bytes (limit {limit})")]
    TooLarge {
        /// Size of the input in bytes.
        size: u64,
        /// The configured limit in bytes.
        limit: u64,
    },
    /// The audio lasts longer than the configured limit.
    #[error("prompt is too long: {seconds:.1} s (limit {limit_seconds:.1} s)")]
    TooLong {
        /// Duration announced by the file, in seconds.
        seconds: f64,
        /// The configured limit in seconds.
        limit_seconds: f64,
    },
    /// The bytes are not a well-formed WAV file (bad header, truncated data, ...).
    #[error("malformed WAV: {0}")]
    Malformed(String),
    /// A well-formed WAV file in a format the loader does not handle.
    #[error("unsupported WAV format: {0}")]
    Unsupported(String),
    /// The requested output sample rate is outside 8000..=48000 Hz.
    #[error("unsupported target sample rate {0} Hz (supported: 8000..=48000)")]
    UnsupportedTargetRate(u32),
    /// The file holds no audio samples.
    #[error("WAV file holds no audio")]
    Empty,
    /// Sample-rate conversion failed.
    #[error("resampling failed: {0}")]
    Resample(String),
    /// The file could not be read.
    #[error("cannot read prompt file: {0}")]
    Io(#[from] std::io::Error),
}

/// Size and duration caps applied when loading prompts (uploads are untrusted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromptLimits {
    /// Largest accepted input, in bytes (of the WAV file).
    pub max_bytes: u64,
    /// Longest accepted audio.
    pub max_duration: Duration,
}

impl Default for PromptLimits {
    /// 64 MiB and 10 minutes.
    fn default() -> Self {
        PromptLimits {
            max_bytes: 64 * 1024 * 1024,
            max_duration: Duration::from_secs(600),
        }
    }
}

/// Decoded mono 16-bit audio at one sample rate, cheap to clone (the samples are shared).
#[derive(Clone, PartialEq, Eq)]
pub struct Prompt {
    samples: Arc<[i16]>,
    rate: u32,
}

impl std::fmt::Debug for Prompt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prompt")
            .field("rate", &self.rate)
            .field("samples", &self.samples.len())
            .finish()
    }
}

impl Prompt {
    /// A prompt made of already-decoded `samples` at `rate` Hz.
    pub fn from_samples(samples: impl Into<Arc<[i16]>>, rate: u32) -> Self {
        Prompt {
            samples: samples.into(),
            rate,
        }
    }

    /// Decodes a WAV file held in memory and converts it to mono at `rate` Hz, with the
    /// default [`PromptLimits`].
    ///
    /// Accepts PCM at 8000..=48000 Hz (11025, 22050, 44100 included), any number of channels
    /// (averaged to mono), 8/16/24/32-bit integer and 32-bit float samples. Sample-rate
    /// conversion is band-limited: the crate's polyphase [`Resampler`] between 8, 16 and
    /// 48 kHz, a zero-phase Kaiser-windowed sinc of the same specification for other pairs.
    /// Never panics on bad input.
    pub fn from_wav_bytes(bytes: &[u8], rate: u32) -> Result<Self, PromptError> {
        Self::from_wav_bytes_with_limits(bytes, rate, &PromptLimits::default())
    }

    /// [`Self::from_wav_bytes`] with explicit limits.
    pub fn from_wav_bytes_with_limits(
        bytes: &[u8],
        rate: u32,
        limits: &PromptLimits,
    ) -> Result<Self, PromptError> {
        if !(MIN_RATE..=MAX_RATE).contains(&rate) {
            return Err(PromptError::UnsupportedTargetRate(rate));
        }
        if bytes.len() as u64 > limits.max_bytes {
            return Err(PromptError::TooLarge {
                size: bytes.len() as u64,
                limit: limits.max_bytes,
            });
        }
        let (mono, from) = decode_wav(bytes, limits)?;
        let samples = convert(&mono, from, rate)?;
        Ok(Prompt {
            samples: samples.into(),
            rate,
        })
    }

    /// Reads and decodes a WAV file (see [`Self::from_wav_bytes`]), with the default limits.
    pub fn from_wav_file(path: impl AsRef<Path>, rate: u32) -> Result<Self, PromptError> {
        Self::from_wav_file_with_limits(path, rate, &PromptLimits::default())
    }

    /// [`Self::from_wav_file`] with explicit limits (the size is checked before reading).
    pub fn from_wav_file_with_limits(
        path: impl AsRef<Path>,
        rate: u32,
        limits: &PromptLimits,
    ) -> Result<Self, PromptError> {
        let path = path.as_ref();
        let size = std::fs::metadata(path)?.len();
        if size > limits.max_bytes {
            return Err(PromptError::TooLarge {
                size,
                limit: limits.max_bytes,
            });
        }
        let bytes = std::fs::read(path)?;
        Self::from_wav_bytes_with_limits(&bytes, rate, limits)
    }

    /// The samples (mono, at [`Self::rate`]).
    pub fn samples(&self) -> &[i16] {
        &self.samples
    }

    /// The shared sample buffer.
    pub fn shared_samples(&self) -> Arc<[i16]> {
        Arc::clone(&self.samples)
    }

    /// Sample rate in Hz.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Length in samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether the prompt holds no samples.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Playing time.
    pub fn duration(&self) -> Duration {
        if self.rate == 0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(self.samples.len() as f64 / f64::from(self.rate))
    }
}

fn malformed(e: hound::Error) -> PromptError {
    match e {
        hound::Error::Unsupported => PromptError::Unsupported("format not handled by hound".into()),
        hound::Error::TooWide => PromptError::Unsupported("sample width too large".into()),
        other => PromptError::Malformed(other.to_string()),
    }
}

/// Decodes `bytes` into mono samples in -1..=1 and returns them with their sample rate.
fn decode_wav(bytes: &[u8], limits: &PromptLimits) -> Result<(Vec<f64>, u32), PromptError> {
    let mut reader = hound::WavReader::new(Cursor::new(bytes)).map_err(malformed)?;
    let spec = reader.spec();
    if spec.channels == 0 || spec.channels > MAX_CHANNELS {
        return Err(PromptError::Unsupported(format!(
            "{} channels",
            spec.channels
        )));
    }
    if !(MIN_RATE..=MAX_RATE).contains(&spec.sample_rate) {
        return Err(PromptError::Unsupported(format!(
            "sample rate {} Hz (supported: 8000..=48000)",
            spec.sample_rate
        )));
    }
    let float = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Int, 8 | 16 | 24 | 32) => false,
        (hound::SampleFormat::Float, 32) => true,
        (format, bits) => {
            return Err(PromptError::Unsupported(format!(
                "{bits}-bit {format:?} samples"
            )))
        }
    };
    let channels = usize::from(spec.channels);
    let total = reader.len() as usize; // samples over all channels, as announced
    let frames = total / channels;
    let seconds = frames as f64 / f64::from(spec.sample_rate);
    if seconds > limits.max_duration.as_secs_f64() {
        return Err(PromptError::TooLong {
            seconds,
            limit_seconds: limits.max_duration.as_secs_f64(),
        });
    }
    if frames == 0 {
        return Err(PromptError::Empty);
    }
    // Never trust the header for the allocation: the data cannot exceed the input.
    let bytes_per_frame = channels * usize::from(spec.bits_per_sample / 8);
    let mut mono = Vec::with_capacity(frames.min(bytes.len() / bytes_per_frame.max(1)));
    let inv_channels = 1.0 / channels as f64;
    let mut acc = 0.0f64;
    let mut k = 0;
    let mut push = |x: f64| {
        acc += x;
        k += 1;
        if k == channels {
            mono.push(acc * inv_channels);
            acc = 0.0;
            k = 0;
        }
    };
    if float {
        for s in reader.samples::<f32>() {
            let x = f64::from(s.map_err(malformed)?);
            push(if x.is_finite() {
                x.clamp(-1.0, 1.0)
            } else {
                0.0
            });
        }
    } else {
        let scale = 1.0 / f64::from(1u32 << (spec.bits_per_sample - 1));
        for s in reader.samples::<i32>() {
            push(f64::from(s.map_err(malformed)?) * scale);
        }
    }
    if mono.len() < frames {
        return Err(PromptError::Malformed(format!(
            "truncated data: {} of {frames} frames",
            mono.len()
        )));
    }
    Ok((mono, spec.sample_rate))
}

/// Converts a sample in -1..=1 to 16-bit.
fn to_i16(x: f64) -> i16 {
    (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

/// Output length for `n` input samples converted from `from` to `to` Hz (rounded).
fn converted_len(n: usize, from: u32, to: u32) -> usize {
    ((n as u128 * u128::from(to) + u128::from(from) / 2) / u128::from(from)) as usize
}

/// Converts mono `x` at `from` Hz to 16-bit at `to` Hz, compensating the filter delay so the
/// output is time-aligned with the input.
fn convert(x: &[f64], from: u32, to: u32) -> Result<Vec<i16>, PromptError> {
    if from == to {
        return Ok(x.iter().map(|&v| to_i16(v)).collect());
    }
    let expected = converted_len(x.len(), from, to);
    if FIR_RATES.contains(&from) && FIR_RATES.contains(&to) {
        let mut rs = Resampler::new(from, to).map_err(|e| PromptError::Resample(e.to_string()))?;
        // Flush the filter with enough zeros to get every delayed sample out.
        let pad = rs.delay_input_samples() + (from / 1000) as usize;
        let mut input: Vec<i16> = Vec::with_capacity(x.len() + pad);
        input.extend(x.iter().map(|&v| to_i16(v)));
        input.resize(x.len() + pad, 0);
        let mut out = vec![0i16; rs.max_output_len(input.len())];
        let n = rs
            .process(&input, &mut out)
            .map_err(|e| PromptError::Resample(e.to_string()))?;
        out.truncate(n);
        let start = rs.delay_output_samples().min(out.len());
        let end = (start + expected).min(out.len());
        out.truncate(end);
        out.drain(..start);
        return Ok(out);
    }
    Ok(sinc_resample(x, from, to, expected)
        .into_iter()
        .map(to_i16)
        .collect())
}

/// Zeroth-order modified Bessel function of the first kind (power series).
fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term) = (1.0, 1.0);
    let q = x * x / 4.0;
    for k in 1..64 {
        term *= q / f64::from(k * k);
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

/// Whole-signal band-limited conversion for arbitrary rate pairs (11025, 22050, 44100, ...).
///
/// Kaiser-windowed sinc designed like the crate's polyphase [`Resampler`]: cut-off halfway
/// between a pass-band edge at 85 % and a stop-band edge at 100 % of the lower rate's
/// Nyquist frequency, 80 dB stop-band attenuation, length from Kaiser's formula. The filter
/// is evaluated around each output instant `j·from/to` (exact rational position), so the
/// result is zero-phase: no delay to compensate. The kernel is tabulated at
/// [`SINC_OVERSAMPLING`] points per input sample and linearly interpolated *between kernel
/// values* (far below the 80 dB floor); the signal itself is never linearly interpolated.
fn sinc_resample(x: &[f64], from: u32, to: u32, n_out: usize) -> Vec<f64> {
    let scale = (f64::from(to) / f64::from(from)).min(1.0);
    let fc = 0.5 * scale * (1.0 + SINC_PASS_EDGE) / 2.0; // cycles per input sample
    let transition = 0.5 * scale * (1.0 - SINC_PASS_EDGE);
    let half = ((SINC_ATTENUATION_DB - 7.95) / (14.36 * transition) / 2.0).ceil() as usize;
    let beta = 0.1102 * (SINC_ATTENUATION_DB - 8.7);
    let i0_beta = bessel_i0(beta);
    // Kernel for |t| in 0..=half (input samples), plus one guard point.
    let table: Vec<f64> = (0..=half * SINC_OVERSAMPLING + 1)
        .map(|i| {
            let t = i as f64 / SINC_OVERSAMPLING as f64;
            if t >= half as f64 {
                return 0.0;
            }
            let arg = 2.0 * std::f64::consts::PI * fc * t;
            let sinc = if t == 0.0 {
                2.0 * fc
            } else {
                arg.sin() / (std::f64::consts::PI * t)
            };
            let r = t / half as f64;
            sinc * bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / i0_beta
        })
        .collect();
    let kernel = |d: f64| {
        let p = d * SINC_OVERSAMPLING as f64;
        let i = p as usize;
        if i + 1 >= table.len() {
            return 0.0;
        }
        let f = p - i as f64;
        table[i] + (table[i + 1] - table[i]) * f
    };
    let (from64, to64) = (u64::from(from), u64::from(to));
    let mut out = Vec::with_capacity(n_out);
    for j in 0..n_out as u64 {
        // Output instant in input samples: centre + frac, exactly.
        let centre = (j * from64 / to64) as i64;
        let frac = ((j * from64) % to64) as f64 / to64 as f64;
        let lo = (centre - half as i64 + 1).max(0);
        let hi = (centre + half as i64).min(x.len() as i64 - 1);
        let mut acc = 0.0;
        for k in lo..=hi {
            let d = ((k - centre) as f64 - frac).abs();
            acc += x[k as usize] * kernel(d);
        }
        out.push(acc);
    }
    out
}

/// Plays a [`Prompt`] once, or looped forever (hold music).
///
/// A looped player wraps from the last sample straight to the first within a frame, so
/// loops cut to be seamless play seamlessly.
#[derive(Debug, Clone)]
pub struct PromptPlayer {
    samples: Arc<[i16]>,
    rate: u32,
    pos: usize,
    looped: bool,
}

impl PromptPlayer {
    /// Plays `prompt` once.
    pub fn once(prompt: &Prompt) -> Self {
        Self::new(prompt, false)
    }

    /// Plays `prompt` over and over (never finishes, unless the prompt is empty).
    pub fn looped(prompt: &Prompt) -> Self {
        Self::new(prompt, true)
    }

    /// Plays `prompt`, looped or not.
    pub fn new(prompt: &Prompt, looped: bool) -> Self {
        PromptPlayer {
            samples: prompt.shared_samples(),
            rate: prompt.rate(),
            pos: 0,
            looped,
        }
    }

    /// The sample rate this player produces.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Index of the next sample to play within the prompt.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Whether the player loops.
    pub fn is_looped(&self) -> bool {
        self.looped
    }

    /// Starts again from the beginning.
    pub fn restart(&mut self) {
        self.pos = 0;
    }
}

impl Source for PromptPlayer {
    fn fill(&mut self, out: &mut [i16]) -> usize {
        let len = self.samples.len();
        let mut written = 0;
        while written < out.len() {
            if self.pos >= len {
                if self.looped && len > 0 {
                    self.pos = 0;
                } else {
                    break;
                }
            }
            let n = (len - self.pos).min(out.len() - written);
            out[written..written + n].copy_from_slice(&self.samples[self.pos..self.pos + n]);
            written += n;
            self.pos += n;
        }
        written
    }

    fn is_finished(&self) -> bool {
        self.samples.is_empty() || (!self.looped && self.pos >= self.samples.len())
    }
}
