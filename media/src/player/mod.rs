//! Players: the audio Ringside plays into calls by itself — ringback tones, prompts, hold
//! music and sequences of them.
//!
//! Everything here implements [`Source`]: a pull-based producer of mono 16-bit PCM at the
//! sample rate it was created for, which the media task drains every 20 ms. Sources do all
//! their allocation and I/O when they are built, so [`Source::fill`] is cheap and
//! allocation-free on the hot path.
//!
//! * [`ToneGenerator`] synthesises call-progress tones from a [`Cadence`] (US, EU and UK
//!   ringback presets), so no tone files are shipped.
//! * [`Prompt`] is decoded audio held in memory at one sample rate (loaded from WAV files of
//!   any common format and rate); [`PromptPlayer`] plays one once or looped.
//! * [`Silence`] and [`Sequence`] compose sources, e.g. 300 ms of silence, a prompt, then
//!   more silence.
//! * [`Assets`] holds the default prompts shipped inside the binary (hold music,
//!   "no one is available", "press 1 to accept") with per-deployment overrides;
//!   [`AssetRegistry`] layers each tenant's uploaded WAV files over them.

mod assets;
mod port;
mod prompt;
mod registry;
mod tone;

pub use assets::{AssetKind, Assets};
pub use prompt::{Prompt, PromptError, PromptLimits, PromptPlayer};
pub use registry::{is_valid_tenant_id, AssetRegistry, PromptInfo, PromptSource, RegistryError};
pub use tone::{Cadence, ToneGenerator};

use std::time::Duration;

/// A producer of mono 16-bit PCM at a fixed sample rate (the one it was created for).
///
/// Called every 20 ms from a media task: implementations must not allocate, block or do
/// I/O in [`Source::fill`].
pub trait Source: Send {
    /// Writes up to `out.len()` samples into `out` and returns how many were written.
    ///
    /// A count smaller than `out.len()` means the source has finished (the rest of `out`
    /// is left untouched); later calls return 0.
    fn fill(&mut self, out: &mut [i16]) -> usize;

    /// Whether the source has nothing more to play.
    fn is_finished(&self) -> bool;
}

impl<S: Source + ?Sized> Source for Box<S> {
    fn fill(&mut self, out: &mut [i16]) -> usize {
        (**self).fill(out)
    }

    fn is_finished(&self) -> bool {
        (**self).is_finished()
    }
}

/// Number of samples covering `duration` at `rate` Hz (rounded to the nearest sample).
pub(crate) fn samples_for(duration: Duration, rate: u32) -> u64 {
    let nanos = duration.as_nanos();
    let n = (nanos * u128::from(rate) + 500_000_000) / 1_000_000_000;
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// A source of digital silence lasting a fixed time.
#[derive(Debug, Clone)]
pub struct Silence {
    remaining: u64,
}

impl Silence {
    /// Silence lasting `duration` at `rate` Hz (rounded to the nearest sample).
    pub fn new(duration: Duration, rate: u32) -> Self {
        Silence {
            remaining: samples_for(duration, rate),
        }
    }

    /// Silence lasting exactly `samples` samples.
    pub fn samples(samples: u64) -> Self {
        Silence { remaining: samples }
    }

    /// Samples still to be produced.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }
}

impl Source for Silence {
    fn fill(&mut self, out: &mut [i16]) -> usize {
        let n = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(out.len());
        out[..n].fill(0);
        self.remaining -= n as u64;
        n
    }

    fn is_finished(&self) -> bool {
        self.remaining == 0
    }
}

/// Plays sources one after another, seamlessly within a frame.
///
/// All the sources must produce the same sample rate; the sequence does not convert.
/// A source counts as finished once it returns fewer samples than asked for (or reports
/// [`Source::is_finished`]); an infinite source (a tone, a looped prompt) therefore ends
/// the sequence's progress there.
#[derive(Default)]
pub struct Sequence {
    sources: Vec<Box<dyn Source>>,
    current: usize,
}

impl std::fmt::Debug for Sequence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequence")
            .field("sources", &self.sources.len())
            .field("current", &self.current)
            .finish()
    }
}

impl Sequence {
    /// A sequence playing `sources` in order.
    pub fn new(sources: Vec<Box<dyn Source>>) -> Self {
        Sequence {
            sources,
            current: 0,
        }
    }

    /// Appends a source to play after the ones already queued (builder style).
    pub fn then(mut self, source: impl Source + 'static) -> Self {
        self.sources.push(Box::new(source));
        self
    }

    /// Appends a source to play after the ones already queued.
    pub fn push(&mut self, source: Box<dyn Source>) {
        self.sources.push(source);
    }

    /// Number of queued sources (played or not).
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    /// Whether no source was ever queued.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// Index of the source currently playing (equal to [`Self::len`] once finished).
    pub fn current_index(&self) -> usize {
        self.current
    }
}

impl Source for Sequence {
    fn fill(&mut self, out: &mut [i16]) -> usize {
        let mut written = 0;
        while written < out.len() && self.current < self.sources.len() {
            let src = &mut self.sources[self.current];
            let want = out.len() - written;
            let n = if src.is_finished() {
                0
            } else {
                src.fill(&mut out[written..])
            };
            written += n;
            if n < want || src.is_finished() {
                self.current += 1;
            }
        }
        written
    }

    fn is_finished(&self) -> bool {
        self.current >= self.sources.len()
    }
}
