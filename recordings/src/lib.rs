//! Call recording: a streaming, crash-safe stereo WAV writer (left: caller/visitor, right:
//! callee/operator), repair of files left by a crash, and a validating reader.
//!
//! * [`RecordingWriter`] streams 16-bit stereo PCM to a WAV file, never holding the recording
//!   in memory, and rewrites the WAV header every [`DEFAULT_FLUSH_INTERVAL`] of audio so a
//!   process killed without warning leaves a file that players read up to about that point.
//! * [`repair`] makes the RIFF and data chunk sizes of such a file match the bytes on disk.
//! * [`inspect`] validates a file and reports its format and duration; [`read_stereo`] reads
//!   the two channels back (for tests and tools).
//! * [`retention`] decides which recordings have outlived their retention period.
//!
//! This crate knows nothing of SIP, HTTP or the database.

#![warn(missing_docs)]

mod repair;
pub mod retention;
mod writer;

use std::path::PathBuf;

pub use repair::{inspect, read_stereo, repair, RepairOutcome, WavInfo};
pub use writer::{RecordingSummary, RecordingWriter, DEFAULT_FLUSH_INTERVAL};

/// Result alias of this crate.
pub type Result<T, E = RecordingError> = std::result::Result<T, E>;

/// Why a recording operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// Reading or writing the file failed.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The WAV encoder or decoder reported an error.
    #[error("wav error on {path}: {source}")]
    Wav {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: hound::Error,
    },
    /// The file is not a WAV file this crate can handle (names what is wrong).
    #[error("invalid wav file {path}: {reason}")]
    Invalid {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The two channels of a frame had different lengths.
    #[error("left and right channels differ in length ({left} vs {right} samples)")]
    ChannelMismatch {
        /// Samples given for the left channel.
        left: usize,
        /// Samples given for the right channel.
        right: usize,
    },
    /// The sample rate is zero or otherwise unusable.
    #[error("invalid sample rate {0}")]
    InvalidSampleRate(u32),
}

impl RecordingError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        RecordingError::Io {
            path: path.to_owned(),
            source,
        }
    }

    pub(crate) fn wav(path: &std::path::Path, source: hound::Error) -> Self {
        match source {
            hound::Error::IoError(e) => RecordingError::io(path, e),
            source => RecordingError::Wav {
                path: path.to_owned(),
                source,
            },
        }
    }
}

/// Duration in milliseconds of `frames` sample frames at `sample_rate` (rounded down).
pub fn frames_to_ms(frames: u64, sample_rate: u32) -> u64 {
    if sample_rate == 0 {
        return 0;
    }
    (u128::from(frames) * 1000 / u128::from(sample_rate)) as u64
}
