//! Codecs: G.711 (PCMU/PCMA), G.722, Opus, resampling, packet-loss concealment.
//!
//! Everything here works on caller-provided buffers so the 20 ms media hot path does not
//! allocate: [`g711`] encodes and decodes whole frames, [`resample::Resampler`] converts
//! between 8, 16 and 48 kHz with a streaming polyphase FIR, and [`plc::Plc`] hides lost
//! 8 kHz frames in the manner of ITU-T G.711 Appendix I. [`g722`] is the ITU-T G.722
//! 64 kbit/s sub-band ADPCM wideband codec (16 kHz audio). [`opus`] wraps libopus (encoder,
//! decoder, PLC, in-band FEC, DTX) and [`frame`] puts every codec behind one
//! [`frame::FrameEncoder`] / [`frame::FrameDecoder`] pair working in PCM at the bridge rate.
//! [`analysis`] holds the
//! audio-measurement helpers (tone generator, dominant frequency, aligned SNR, RMS) that the
//! codec tests and later end-to-end tests use to judge audio as audio.

pub mod analysis;
pub mod frame;
pub mod g711;
pub mod g722;
pub mod opus;
pub mod plc;
pub mod resample;

pub use frame::{CodecKind, FrameDecoder, FrameEncoder};
pub use g711::Law;
pub use g722::{G722Decoder, G722Encoder};
pub use opus::{EncoderOptions, OpusDecoder, OpusEncoder};
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
    /// A sample rate a codec cannot be created at (Opus and the frame layer accept 8000,
    /// 16000 and 48000 Hz).
    #[error("unsupported codec sample rate {rate} Hz (supported: 8000, 16000, 48000)")]
    UnsupportedCodecRate {
        /// The rejected rate in Hz.
        rate: u32,
    },
    /// The input frame does not have the length the call requires.
    #[error("wrong frame length: expected {expected} samples, got {got}")]
    FrameLength {
        /// Samples required.
        expected: usize,
        /// Samples given.
        got: usize,
    },
    /// A concealment (PLC/FEC) length that the codec cannot produce: Opus needs a positive
    /// multiple of 2.5 ms up to 120 ms, G.711 a whole number of 8 kHz samples.
    #[error("cannot conceal {samples} samples at {rate} Hz")]
    ConcealLength {
        /// Samples asked for.
        samples: usize,
        /// PCM rate in Hz.
        rate: u32,
    },
    /// A payload longer than the decoder accepts.
    #[error("payload too large: {got} bytes, at most {max}")]
    PayloadTooLarge {
        /// Largest accepted payload in bytes.
        max: usize,
        /// Payload length given.
        got: usize,
    },
    /// An encoder option outside its valid range.
    #[error("invalid encoder option: {0}")]
    InvalidOption(&'static str),
    /// libopus reported an error (for example a corrupt packet).
    #[error("opus: {0}")]
    Opus(&'static str),
}
