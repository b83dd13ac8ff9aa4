//! Codecs: G.711 (PCMU/PCMA), resampling, packet-loss concealment.
//!
//! Everything here works on caller-provided buffers so the 20 ms media hot path does not
//! allocate: [`g711`] encodes and decodes whole frames, [`resample::Resampler`] converts
//! between 8, 16 and 48 kHz with a streaming polyphase FIR, and [`plc::Plc`] hides lost
//! 8 kHz frames in the manner of ITU-T G.711 Appendix I. [`analysis`] holds the
//! audio-measurement helpers (tone generator, dominant frequency, aligned SNR, RMS) that the
//! codec tests and later end-to-end tests use to judge audio as audio.

pub mod analysis;
pub mod frame;
pub mod g711;
pub mod opus;
pub mod plc;
pub mod resample;

pub use g711::Law;
pub use plc::Plc;
pub use resample::Resampler;

/// Errors from the codec layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The caller's output buffer is shorter than the output the call produces.
    #[error("output buffer too small: need {needed} samples, got {got}")]
    OutputTooSmall {
        /// Samples (or bytes) the call needs to write.
        needed: usize,
        /// Length of the buffer the caller gave.
        got: usize,
    },
    /// The resampler does not support this pair of sample rates.
    #[error("unsupported resampling {from} Hz -> {to} Hz (supported: 8000, 16000, 48000)")]
    UnsupportedRate {
        /// Input sample rate in Hz.
        from: u32,
        /// Output sample rate in Hz.
        to: u32,
    },
}
