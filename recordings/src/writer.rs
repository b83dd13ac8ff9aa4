//! The streaming, crash-safe stereo WAV writer.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hound::{SampleFormat, WavSpec, WavWriter};

use crate::{frames_to_ms, RecordingError, Result};

/// How much audio is written between two header updates by default.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_millis(500);

/// Size of the buffered writer in front of the file.
const IO_BUFFER: usize = 64 * 1024;

/// What a finished recording holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordingSummary {
    /// Sample frames written (one sample per channel each).
    pub frames: u64,
    /// Duration of the audio, in milliseconds (rounded down).
    pub duration_ms: u64,
    /// Size of the finished file, header included, in bytes.
    pub bytes: u64,
}

/// Streams a 16-bit stereo WAV file: left channel caller/visitor, right channel
/// callee/operator.
///
/// Samples go straight to a buffered file, never accumulating in memory. Every
/// `flush_interval` of audio (default [`DEFAULT_FLUSH_INTERVAL`]) the buffer is flushed and the
/// RIFF and data sizes in the header are rewritten, so a process killed at any point leaves a
/// valid WAV file holding the audio up to the last flush; [`crate::repair`] recovers what was
/// written after it. The file is written under its final name from the start.
///
/// Dropping the writer without [`RecordingWriter::finish`] still finalizes the header (best
/// effort, errors are lost).
pub struct RecordingWriter {
    inner: WavWriter<BufWriter<File>>,
    path: PathBuf,
    sample_rate: u32,
    /// Interleaved samples of the current frame, reused across calls.
    buf: Vec<i16>,
    frames: u64,
    flush_every_frames: u64,
    frames_since_flush: u64,
}

impl std::fmt::Debug for RecordingWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingWriter")
            .field("path", &self.path)
            .field("sample_rate", &self.sample_rate)
            .field("frames", &self.frames)
            .field("flush_every_frames", &self.flush_every_frames)
            .finish_non_exhaustive()
    }
}

impl RecordingWriter {
    /// Creates (or truncates) the WAV file at `path`, creating its parent directories, with
    /// the default header update interval.
    pub fn create(path: impl AsRef<Path>, sample_rate: u32) -> Result<Self> {
        Self::create_with_flush_interval(path, sample_rate, DEFAULT_FLUSH_INTERVAL)
    }

    /// Like [`RecordingWriter::create`], updating the header every `flush_interval` of audio
    /// (at least every frame written when zero).
    pub fn create_with_flush_interval(
        path: impl AsRef<Path>,
        sample_rate: u32,
        flush_interval: Duration,
    ) -> Result<Self> {
        let path = path.as_ref();
        if sample_rate == 0 {
            return Err(RecordingError::InvalidSampleRate(sample_rate));
        }
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| RecordingError::io(parent, e))?;
            }
        }
        let file = File::create(path).map_err(|e| RecordingError::io(path, e))?;
        let spec = WavSpec {
            channels: 2,
            sample_rate,
            bits_per_sample: 16,
            sample_format: SampleFormat::Int,
        };
        let mut inner = WavWriter::new(BufWriter::with_capacity(IO_BUFFER, file), spec)
            .map_err(|e| RecordingError::wav(path, e))?;
        // Put a valid (empty) header on disk at once.
        inner.flush().map_err(|e| RecordingError::wav(path, e))?;
        let flush_every_frames =
            (u128::from(sample_rate) * flush_interval.as_millis() / 1000).max(1) as u64;
        tracing::debug!(path = %path.display(), sample_rate, "recording started");
        Ok(RecordingWriter {
            inner,
            path: path.to_owned(),
            sample_rate,
            buf: Vec::new(),
            frames: 0,
            flush_every_frames,
            frames_since_flush: 0,
        })
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sample rate, in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Sample frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Appends one block of audio: `left[i]` and `right[i]` form frame `i`. Both slices must
    /// have the same length. Updates the header when a flush interval has elapsed.
    pub fn write_frame(&mut self, left: &[i16], right: &[i16]) -> Result<()> {
        if left.len() != right.len() {
            return Err(RecordingError::ChannelMismatch {
                left: left.len(),
                right: right.len(),
            });
        }
        if left.is_empty() {
            return Ok(());
        }
        self.buf.clear();
        self.buf
            .extend(left.iter().zip(right).flat_map(|(&l, &r)| [l, r]));
        let n = u32::try_from(self.buf.len()).map_err(|_| RecordingError::Invalid {
            path: self.path.clone(),
            reason: "block too large",
        })?;
        let mut w = self.inner.get_i16_writer(n);
        for &s in &self.buf {
            w.write_sample(s);
        }
        w.flush().map_err(|e| RecordingError::wav(&self.path, e))?;
        self.frames += left.len() as u64;
        self.frames_since_flush += left.len() as u64;
        if self.frames_since_flush >= self.flush_every_frames {
            self.flush()?;
        }
        Ok(())
    }

    /// Flushes buffered samples to the file and rewrites the header sizes now.
    pub fn flush(&mut self) -> Result<()> {
        self.inner
            .flush()
            .map_err(|e| RecordingError::wav(&self.path, e))?;
        self.frames_since_flush = 0;
        Ok(())
    }

    /// Finalizes the header, closes the file and reports what was recorded.
    pub fn finish(self) -> Result<RecordingSummary> {
        let RecordingWriter {
            inner,
            path,
            sample_rate,
            frames,
            ..
        } = self;
        inner
            .finalize()
            .map_err(|e| RecordingError::wav(&path, e))?;
        let bytes = std::fs::metadata(&path)
            .map_err(|e| RecordingError::io(&path, e))?
            .len();
        let summary = RecordingSummary {
            frames,
            duration_ms: frames_to_ms(frames, sample_rate),
            bytes,
        };
        tracing::debug!(path = %path.display(), ?summary, "recording finished");
        Ok(summary)
    }
}
