//! Opus (RFC 6716, RTP payload RFC 7587) over libopus, through the safe `audiopus` bindings.
//!
//! [`OpusEncoder`] and [`OpusDecoder`] are mono and are created at 8000, 16000 or 48000 Hz:
//! libopus resamples internally, so the engine creates them at the bridge rate and never
//! resamples Opus itself. At 8 kHz the encoder runs SILK narrowband only, roughly three
//! times cheaper than at 48 kHz, which is the usual case when the other leg is G.711.
//!
//! * The encoder takes exactly one 20 ms frame (`rate / 50` samples) per call and writes the
//!   packet into a caller buffer ([`OPUS_MAX_PACKET_BYTES`] always suffices).
//! * The decoder decodes a packet into a caller buffer, conceals lost audio
//!   ([`OpusDecoder::conceal`], libopus PLC) and recovers a lost frame from the in-band FEC
//!   (LBRR) data carried by the *next* packet ([`OpusDecoder::decode_fec`]).
//!
//! **DTX.** With [`EncoderOptions::dtx`] the encoder sends, during silence, packets of one or
//! two bytes (TOC only) and, in RTP, usually nothing at all for most frames. Such packets are
//! decoded without error: libopus treats a payload of at most two bytes as "no data" and
//! produces comfort noise (SILK) or faded-out concealment lasting the TOC's frame duration.
//! An empty payload is decoded here as concealment of the last packet's duration, so a
//! receiver may also pass `&[]` for a DTX gap.
//!
//! **RTP clock.** Opus RTP timestamps always run at 48 kHz ([`OPUS_RTP_CLOCK_RATE`]) whatever
//! the decoder's rate; use [`rtp_ticks_to_samples`] / [`samples_to_rtp_ticks`] to convert.
//!
//! Neither the encoder nor the decoder allocates per call.

use audiopus::coder::{Decoder, Encoder};
use audiopus::error::{Error as OpusError, ErrorCode};
use audiopus::packet::Packet;
use audiopus::{Application, Bitrate, Channels, MutSignals, SampleRate};

use super::CodecError;

/// RTP clock rate of Opus (RFC 7587 §4.1): always 48 kHz, whatever the audio bandwidth.
pub const OPUS_RTP_CLOCK_RATE: u32 = 48_000;
/// Largest packet one 20 ms frame can produce (TOC byte plus the 1275-byte frame maximum);
/// an output buffer of this size never limits the encoder.
pub const OPUS_MAX_PACKET_BYTES: usize = 1276;
/// Longest audio one Opus packet can carry, in milliseconds (RFC 6716 §3.2.5).
pub const OPUS_MAX_PACKET_MS: usize = 120;
/// Highest encoder complexity.
pub const OPUS_MAX_COMPLEXITY: u8 = 10;

/// Encoder settings. The application is always VoIP (`OPUS_APPLICATION_VOIP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderOptions {
    /// Computational complexity 0..=10 (default 5). Lower is cheaper at some quality cost.
    pub complexity: u8,
    /// Target bitrate in bits per second (500..=512000), or `None` for the libopus default
    /// for the rate (about 11 kbit/s at 8 kHz, 32 kbit/s at 48 kHz for mono 20 ms VoIP).
    pub bitrate: Option<u32>,
    /// In-band forward error correction (LBRR): each packet also carries a low-bitrate copy
    /// of the previous frame, which [`OpusDecoder::decode_fec`] recovers. Default on.
    pub inband_fec: bool,
    /// Expected packet loss in percent (0..=100), which steers how much FEC is sent.
    /// libopus only emits FEC when this is non-zero. Default 10.
    pub expected_loss_percent: u8,
    /// Discontinuous transmission: tiny packets during silence. Default off.
    pub dtx: bool,
}

impl Default for EncoderOptions {
    fn default() -> Self {
        EncoderOptions {
            complexity: 5,
            bitrate: Some(24_000),
            inband_fec: true,
            expected_loss_percent: 10,
            dtx: false,
        }
    }
}

/// Converts a libopus error into a [`CodecError`] without allocating.
fn opus_err(e: OpusError) -> CodecError {
    CodecError::Opus(match e {
        OpusError::Opus(ErrorCode::BadArgument) => "bad argument",
        OpusError::Opus(ErrorCode::BufferTooSmall) => "buffer too small",
        OpusError::Opus(ErrorCode::InternalError) => "internal error",
        OpusError::Opus(ErrorCode::InvalidPacket) => "invalid packet",
        OpusError::Opus(ErrorCode::Unimplemented) => "unimplemented",
        OpusError::Opus(ErrorCode::InvalidState) => "invalid state",
        OpusError::Opus(ErrorCode::AllocFail) => "allocation failed",
        OpusError::Opus(ErrorCode::Unknown) => "unknown error",
        OpusError::EmptyPacket => "empty packet",
        OpusError::PacketTooLarge | OpusError::SignalsTooLarge => "buffer too large",
        _ => "invalid parameter",
    })
}

/// The libopus sample rate for `rate`, if it is one of 8000, 16000, 48000.
fn sample_rate(rate: u32) -> Result<SampleRate, CodecError> {
    match rate {
        8000 => Ok(SampleRate::Hz8000),
        16000 => Ok(SampleRate::Hz16000),
        48000 => Ok(SampleRate::Hz48000),
        _ => Err(CodecError::UnsupportedCodecRate { rate }),
    }
}

/// Converts an Opus RTP timestamp difference (48 kHz ticks) into samples at `rate` Hz.
pub fn rtp_ticks_to_samples(ticks: u32, rate: u32) -> u32 {
    (u64::from(ticks) * u64::from(rate) / u64::from(OPUS_RTP_CLOCK_RATE)) as u32
}

/// Converts a sample count at `rate` Hz into Opus RTP timestamp ticks (48 kHz).
pub fn samples_to_rtp_ticks(samples: u32, rate: u32) -> u32 {
    (u64::from(samples) * u64::from(OPUS_RTP_CLOCK_RATE) / u64::from(rate.max(1))) as u32
}

/// A mono Opus encoder producing one packet per 20 ms frame.
#[derive(Debug)]
pub struct OpusEncoder {
    enc: Encoder,
    rate: u32,
    options: EncoderOptions,
}

impl OpusEncoder {
    /// Creates an encoder for mono PCM at `rate` Hz (8000, 16000 or 48000) with `options`.
    pub fn new(rate: u32, options: EncoderOptions) -> Result<Self, CodecError> {
        let sr = sample_rate(rate)?;
        if options.complexity > OPUS_MAX_COMPLEXITY {
            return Err(CodecError::InvalidOption("complexity must be 0..=10"));
        }
        if options.expected_loss_percent > 100 {
            return Err(CodecError::InvalidOption("expected loss must be 0..=100 %"));
        }
        let bitrate = match options.bitrate {
            None => Bitrate::Auto,
            Some(b) if (500..=512_000).contains(&b) => Bitrate::BitsPerSecond(b as i32),
            Some(_) => return Err(CodecError::InvalidOption("bitrate must be 500..=512000")),
        };
        let mut enc = Encoder::new(sr, Channels::Mono, Application::Voip).map_err(opus_err)?;
        enc.set_complexity(options.complexity).map_err(opus_err)?;
        enc.set_bitrate(bitrate).map_err(opus_err)?;
        enc.set_inband_fec(options.inband_fec).map_err(opus_err)?;
        enc.set_packet_loss_perc(options.expected_loss_percent)
            .map_err(opus_err)?;
        enc.set_dtx(options.dtx).map_err(opus_err)?;
        Ok(OpusEncoder { enc, rate, options })
    }

    /// PCM sample rate in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.rate
    }

    /// Samples in one 20 ms frame (`rate / 50`).
    pub fn frame_samples(&self) -> usize {
        self.rate as usize / 50
    }

    /// The options the encoder was created with (with later changes applied).
    pub fn options(&self) -> EncoderOptions {
        self.options
    }

    /// Updates the expected packet loss (e.g. from RTCP receiver reports), 0..=100 %.
    pub fn set_expected_loss_percent(&mut self, percent: u8) -> Result<(), CodecError> {
        if percent > 100 {
            return Err(CodecError::InvalidOption("expected loss must be 0..=100 %"));
        }
        self.enc.set_packet_loss_perc(percent).map_err(opus_err)?;
        self.options.expected_loss_percent = percent;
        Ok(())
    }

    /// Encodes one 20 ms frame (`pcm.len()` must be [`Self::frame_samples`]) into `out`,
    /// returning the packet length in bytes. During DTX silence the packet is 1–2 bytes.
    /// An `out` shorter than [`OPUS_MAX_PACKET_BYTES`] caps the bitrate; one that cannot hold
    /// even a minimal packet fails with [`CodecError::Opus`].
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
        let expected = self.frame_samples();
        if pcm.len() != expected {
            return Err(CodecError::FrameLength {
                expected,
                got: pcm.len(),
            });
        }
        if out.is_empty() {
            return Err(CodecError::OutputTooSmall { needed: 1, got: 0 });
        }
        let n = out.len().min(OPUS_MAX_PACKET_BYTES);
        self.enc.encode(pcm, &mut out[..n]).map_err(opus_err)
    }
}

/// A mono Opus decoder with packet-loss concealment and in-band FEC recovery.
#[derive(Debug)]
pub struct OpusDecoder {
    dec: Decoder,
    rate: u32,
    /// Duration in samples of the last decoded packet (20 ms before the first).
    last_samples: usize,
}

impl OpusDecoder {
    /// Creates a decoder producing mono PCM at `rate` Hz (8000, 16000 or 48000).
    pub fn new(rate: u32) -> Result<Self, CodecError> {
        let dec = Decoder::new(sample_rate(rate)?, Channels::Mono).map_err(opus_err)?;
        Ok(OpusDecoder {
            dec,
            rate,
            last_samples: rate as usize / 50,
        })
    }

    /// PCM sample rate in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.rate
    }

    /// Largest number of samples one packet can decode to (120 ms at the decoder's rate);
    /// an output buffer of this size never fails for lack of room.
    pub fn max_frame_samples(&self) -> usize {
        self.rate as usize * OPUS_MAX_PACKET_MS / 1000
    }

    /// Duration in samples of the last decoded (or concealed) packet.
    pub fn last_packet_samples(&self) -> usize {
        self.last_samples
    }

    /// Forgets all decoder state, as after [`Self::new`].
    pub fn reset(&mut self) -> Result<(), CodecError> {
        use audiopus::coder::GenericCtl;
        self.dec.reset_state().map_err(opus_err)?;
        self.last_samples = self.rate as usize / 50;
        Ok(())
    }

    /// Decodes `packet` into `out`, returning the samples written.
    ///
    /// DTX packets (1–2 bytes) decode to comfort noise / concealment of the TOC's duration;
    /// an empty `packet` conceals the duration of the previous packet. A corrupt packet fails
    /// with [`CodecError::Opus`] and an `out` shorter than the packet's audio with
    /// [`CodecError::Opus`] ("buffer too small"); neither panics.
    pub fn decode(&mut self, packet: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        if packet.is_empty() {
            let n = self.last_samples;
            return self.conceal(n, out);
        }
        let n = out.len().min(self.max_frame_samples());
        let pkt = Packet::try_from(packet).map_err(opus_err)?;
        let signals = MutSignals::try_from(&mut out[..n]).map_err(opus_err)?;
        let got = self
            .dec
            .decode(Some(pkt), signals, false)
            .map_err(opus_err)?;
        if got > 0 {
            self.last_samples = got;
        }
        Ok(got)
    }

    /// Checks that `samples` is a concealment length libopus accepts and fits `out`.
    fn check_conceal(&self, samples: usize, out: &[i16]) -> Result<(), CodecError> {
        let step = self.rate as usize / 400;
        if samples == 0 || !samples.is_multiple_of(step) || samples > self.max_frame_samples() {
            return Err(CodecError::ConcealLength {
                samples,
                rate: self.rate,
            });
        }
        if out.len() < samples {
            return Err(CodecError::OutputTooSmall {
                needed: samples,
                got: out.len(),
            });
        }
        Ok(())
    }

    /// Packet-loss concealment: synthesises `samples` samples (a multiple of 2.5 ms, at most
    /// 120 ms) for audio that was lost, into `out[..samples]`. Pass exactly the lost
    /// duration so the decoder stays in step with the next packet.
    pub fn conceal(&mut self, samples: usize, out: &mut [i16]) -> Result<usize, CodecError> {
        self.check_conceal(samples, out)?;
        let signals = MutSignals::try_from(&mut out[..samples]).map_err(opus_err)?;
        self.dec.decode(None, signals, false).map_err(opus_err)
    }

    /// Recovers the lost frame *before* `next_packet` from the in-band FEC data that
    /// `next_packet` carries, writing `samples` samples (the lost duration, a multiple of
    /// 2.5 ms) into `out[..samples]`. If `next_packet` has no FEC data libopus falls back to
    /// plain concealment; an empty `next_packet` is plain concealment. Afterwards decode
    /// `next_packet` itself normally with [`Self::decode`].
    pub fn decode_fec(
        &mut self,
        next_packet: &[u8],
        samples: usize,
        out: &mut [i16],
    ) -> Result<usize, CodecError> {
        if next_packet.is_empty() {
            return self.conceal(samples, out);
        }
        self.check_conceal(samples, out)?;
        let pkt = Packet::try_from(next_packet).map_err(opus_err)?;
        let signals = MutSignals::try_from(&mut out[..samples]).map_err(opus_err)?;
        self.dec.decode(Some(pkt), signals, true).map_err(opus_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::analysis::{dominant_frequency, snr_db, tone};

    #[test]
    fn rejects_bad_rates_and_options() {
        assert_eq!(
            OpusEncoder::new(44100, EncoderOptions::default()).unwrap_err(),
            CodecError::UnsupportedCodecRate { rate: 44100 }
        );
        assert!(OpusDecoder::new(11025).is_err());
        let bad = EncoderOptions {
            complexity: 11,
            ..EncoderOptions::default()
        };
        assert!(matches!(
            OpusEncoder::new(8000, bad),
            Err(CodecError::InvalidOption(_))
        ));
        let bad = EncoderOptions {
            bitrate: Some(100),
            ..EncoderOptions::default()
        };
        assert!(OpusEncoder::new(8000, bad).is_err());
    }

    #[test]
    fn rtp_clock_conversion() {
        assert_eq!(samples_to_rtp_ticks(160, 8000), 960);
        assert_eq!(samples_to_rtp_ticks(960, 48000), 960);
        assert_eq!(rtp_ticks_to_samples(960, 8000), 160);
        assert_eq!(rtp_ticks_to_samples(960, 16000), 320);
    }

    #[test]
    fn encoder_requires_one_20ms_frame() {
        let mut enc = OpusEncoder::new(8000, EncoderOptions::default()).unwrap();
        let mut out = [0u8; OPUS_MAX_PACKET_BYTES];
        assert_eq!(
            enc.encode(&[0; 100], &mut out),
            Err(CodecError::FrameLength {
                expected: 160,
                got: 100
            })
        );
        assert!(enc.encode(&[0; 160], &mut out).is_ok());
    }

    #[test]
    fn conceal_lengths_are_checked() {
        let mut dec = OpusDecoder::new(8000).unwrap();
        let mut out = [0i16; 960];
        assert!(matches!(
            dec.conceal(7, &mut out),
            Err(CodecError::ConcealLength { .. })
        ));
        assert!(matches!(
            dec.conceal(0, &mut out),
            Err(CodecError::ConcealLength { .. })
        ));
        assert_eq!(dec.conceal(160, &mut out).unwrap(), 160);
        assert_eq!(dec.decode(&[], &mut out).unwrap(), 160);
    }

    /// 1 kHz at 8 kHz straight through the wrapper pair (the integration tests cover more).
    #[test]
    fn sine_round_trip_8k() {
        let input = tone(1000.0, 8000, 0.3, 8000);
        let mut enc = OpusEncoder::new(8000, EncoderOptions::default()).unwrap();
        let mut dec = OpusDecoder::new(8000).unwrap();
        let mut pkt = [0u8; OPUS_MAX_PACKET_BYTES];
        let mut frame = [0i16; 960];
        let mut out = Vec::new();
        for chunk in input.chunks(160) {
            let n = enc.encode(chunk, &mut pkt).unwrap();
            let m = dec.decode(&pkt[..n], &mut frame).unwrap();
            out.extend_from_slice(&frame[..m]);
        }
        let f = dominant_frequency(&out[800..], 8000);
        assert!((f - 1000.0).abs() < 10.0, "{f}");
        assert!(snr_db(&input[800..7200], &out) > 10.0);
    }
}
