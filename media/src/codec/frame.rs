//! Codec-independent frame encoders and decoders.
//!
//! [`CodecKind`] names a negotiated audio codec and knows its SDP/RTP facts (rtpmap name,
//! clock rate, static payload type, default fmtp). [`FrameEncoder`] and [`FrameDecoder`] turn
//! PCM at a caller-chosen rate (8000, 16000 or 48000 Hz — the bridge rate) into payloads
//! and back, whatever the codec:
//!
//! * G.711 (PCMU/PCMA) always codes 8 kHz audio; when the PCM rate is not 8 kHz the frame
//!   layer resamples with [`Resampler`]. Received frames feed the G.711 Appendix I
//!   concealer ([`Plc`]) so [`FrameDecoder::conceal`] can hide lost frames.
//! * G.722 always codes 16 kHz audio; when the PCM rate is not 16 kHz the frame layer
//!   resamples with [`Resampler`]. Its RTP clock is 8000 Hz (RFC 3551), so a 20 ms frame
//!   advances the timestamp by 160 while carrying 320 samples in 160 octets. Concealment: at
//!   a PCM rate of 8 kHz (the bridge rate) the decoded audio feeds the same G.711 Appendix I
//!   concealer as G.711 ([`Plc`]); at 16 or 48 kHz the last 20 ms of output is repeated with
//!   a linear fade to silence over 60 ms (see [`FrameDecoder::conceal`]). The G.722 decoder
//!   state is not touched during a gap; ADPCM re-adapts within a few milliseconds.
//! * Opus is created directly at the PCM rate (libopus resamples internally); concealment
//!   uses in-band FEC from the next packet when it is available, else the libopus PLC.
//!
//! All scratch buffers are allocated in `new()`; encoding and decoding a frame does not
//! allocate.

use super::g711::Law;
use super::g722::{G722Decoder, G722Encoder, G722_SAMPLES_PER_BYTE, G722_SAMPLE_RATE};
use super::opus::{
    EncoderOptions, OpusDecoder, OpusEncoder, OPUS_MAX_PACKET_BYTES, OPUS_MAX_PACKET_MS,
    OPUS_RTP_CLOCK_RATE,
};
use super::{CodecError, Plc, Resampler};

/// Largest G.711 payload [`FrameDecoder::decode`] accepts: 120 ms at 8 kHz (one byte per
/// sample), matching the longest Opus packet.
pub const G711_MAX_PAYLOAD_BYTES: usize = 960;
/// Largest G.722 payload [`FrameDecoder::decode`] accepts: 120 ms at 64 kbit/s (one byte per
/// two 16 kHz samples), matching the longest Opus packet.
pub const G722_MAX_PAYLOAD_BYTES: usize = 960;
/// Length of the fade-out of the G.722 repeat concealment (16 and 48 kHz PCM), in ms.
const G722_FADE_MS: usize = 60;
/// Largest payload any [`FrameEncoder`] writes for one 20 ms frame; an output buffer of this
/// size always suffices.
pub const MAX_ENCODED_FRAME_BYTES: usize = OPUS_MAX_PACKET_BYTES;
/// Frame duration the encoders produce, in milliseconds.
pub const FRAME_MS: usize = 20;

/// Sample rates the frame layer works at.
const PCM_RATES: [u32; 3] = [8000, 16000, 48000];

/// An RTP audio codec the gateway can transcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodecKind {
    /// G.711 µ-law, static payload type 0.
    Pcmu,
    /// G.711 A-law, static payload type 8.
    Pcma,
    /// Opus (RFC 7587), dynamic payload type, `opus/48000/2` in SDP.
    Opus,
    /// ITU-T G.722 at 64 kbit/s (16 kHz audio), static payload type 9, `G722/8000` in SDP
    /// (the RTP clock is 8000 Hz per RFC 3551 even though the audio is sampled at 16 kHz).
    G722,
}

impl CodecKind {
    /// The codec an SDP `a=rtpmap` entry names, if supported. `name` is compared
    /// case-insensitively. G.711 needs clock rate 8000 and one channel (pass 1 when the
    /// rtpmap has no channel field; 0 is also taken as "absent"), and so does G.722 (whose
    /// rtpmap is `G722/8000` for historical reasons). Opus needs exactly
    /// `opus/48000/2` as RFC 7587 §7 requires (the `/2` does not mean the stream is stereo).
    pub fn from_rtpmap(name: &str, clock_rate: u32, channels: u16) -> Option<CodecKind> {
        if name.eq_ignore_ascii_case("PCMU") && clock_rate == 8000 && channels <= 1 {
            Some(CodecKind::Pcmu)
        } else if name.eq_ignore_ascii_case("PCMA") && clock_rate == 8000 && channels <= 1 {
            Some(CodecKind::Pcma)
        } else if name.eq_ignore_ascii_case("G722") && clock_rate == 8000 && channels <= 1 {
            Some(CodecKind::G722)
        } else if name.eq_ignore_ascii_case("opus") && clock_rate == 48000 && channels == 2 {
            Some(CodecKind::Opus)
        } else {
            None
        }
    }

    /// RTP timestamp clock rate in Hz (8000 for G.711 and G.722, always 48000 for Opus).
    pub fn rtp_clock_rate(self) -> u32 {
        match self {
            CodecKind::Pcmu | CodecKind::Pcma | CodecKind::G722 => 8000,
            CodecKind::Opus => OPUS_RTP_CLOCK_RATE,
        }
    }

    /// The static RTP payload type (RFC 3551): 0 for PCMU, 8 for PCMA, 9 for G.722, `None`
    /// for Opus.
    pub fn static_payload_type(self) -> Option<u8> {
        match self {
            CodecKind::Pcmu => Some(0),
            CodecKind::Pcma => Some(8),
            CodecKind::G722 => Some(9),
            CodecKind::Opus => None,
        }
    }

    /// The encoding name for `a=rtpmap`: "PCMU", "PCMA", "G722" or "opus".
    pub fn encoding_name(self) -> &'static str {
        match self {
            CodecKind::Pcmu => "PCMU",
            CodecKind::Pcma => "PCMA",
            CodecKind::G722 => "G722",
            CodecKind::Opus => "opus",
        }
    }

    /// The channel count written in `a=rtpmap` (1 for G.711 and G.722, 2 for Opus per
    /// RFC 7587).
    pub fn rtpmap_channels(self) -> u16 {
        match self {
            CodecKind::Pcmu | CodecKind::Pcma | CodecKind::G722 => 1,
            CodecKind::Opus => 2,
        }
    }

    /// The `a=fmtp` parameters offered by default (`None` for G.711 and G.722).
    pub fn default_fmtp(self) -> Option<&'static str> {
        match self {
            CodecKind::Pcmu | CodecKind::Pcma | CodecKind::G722 => None,
            CodecKind::Opus => Some("minptime=10;useinbandfec=1"),
        }
    }

    /// RTP timestamp increment of one 20 ms frame (160 for G.711 and G.722, 960 for Opus).
    pub fn rtp_timestamp_increment(self) -> u32 {
        self.rtp_clock_rate() / 50
    }

    /// Largest payload the encoder writes for one 20 ms frame (160 bytes for G.711 and
    /// G.722).
    pub fn max_payload_bytes(self) -> usize {
        match self {
            CodecKind::Pcmu | CodecKind::Pcma | CodecKind::G722 => 160,
            CodecKind::Opus => OPUS_MAX_PACKET_BYTES,
        }
    }

    fn law(self) -> Option<Law> {
        match self {
            CodecKind::Pcmu => Some(Law::Mu),
            CodecKind::Pcma => Some(Law::A),
            CodecKind::Opus | CodecKind::G722 => None,
        }
    }
}

fn check_rate(rate: u32) -> Result<(), CodecError> {
    if PCM_RATES.contains(&rate) {
        Ok(())
    } else {
        Err(CodecError::UnsupportedCodecRate { rate })
    }
}

/// A resampler warmed up with `max_input` samples so later calls of at most that many
/// inputs do not allocate.
fn warmed_resampler(from: u32, to: u32, max_input: usize) -> Result<Resampler, CodecError> {
    let mut r = Resampler::new(from, to)?;
    let mut out = vec![0i16; r.max_output_len(max_input)];
    r.process(&vec![0i16; max_input], &mut out)?;
    r.reset();
    Ok(r)
}

/// G.711 decoding state: the 8 kHz concealer plus optional resampling to the PCM rate.
#[derive(Debug)]
struct G711Dec {
    law: Law,
    plc: Plc,
    /// 8 kHz → PCM rate, `None` when the PCM rate is 8 kHz.
    up: Option<Resampler>,
    /// 8 kHz scratch frame.
    narrow: Vec<i16>,
}

/// G.722 decoding state: the 16 kHz decoder, optional resampling to the PCM rate and the
/// concealment state.
#[derive(Debug)]
struct G722Dec {
    dec: G722Decoder,
    /// 16 kHz → PCM rate, `None` when the PCM rate is 16 kHz.
    resample: Option<Resampler>,
    /// 16 kHz scratch (120 ms).
    wide: Vec<i16>,
    /// At 8 kHz PCM: the G.711 Appendix I concealer fed with the decoded audio.
    plc: Option<Plc>,
    /// At 16/48 kHz PCM: the last 20 ms of output, repeated with a fade while frames are lost.
    last: Vec<i16>,
    /// Valid samples in `last`.
    last_len: usize,
    /// Concealed samples since the last good frame (fade position).
    faded: usize,
}

impl G722Dec {
    fn new(pcm_rate: u32) -> Result<Self, CodecError> {
        let max_wide = G722_MAX_PAYLOAD_BYTES * G722_SAMPLES_PER_BYTE;
        Ok(G722Dec {
            dec: G722Decoder::new(),
            resample: if pcm_rate == G722_SAMPLE_RATE {
                None
            } else {
                Some(warmed_resampler(G722_SAMPLE_RATE, pcm_rate, max_wide)?)
            },
            wide: vec![0; max_wide],
            plc: (pcm_rate == 8000).then(Plc::new),
            last: vec![0; pcm_rate as usize / 50],
            last_len: 0,
            faded: 0,
        })
    }

    fn decode(
        &mut self,
        payload: &[u8],
        pcm_rate: u32,
        out: &mut [i16],
    ) -> Result<usize, CodecError> {
        if payload.len() > G722_MAX_PAYLOAD_BYTES {
            return Err(CodecError::PayloadTooLarge {
                max: G722_MAX_PAYLOAD_BYTES,
                got: payload.len(),
            });
        }
        // One octet is two 16 kHz samples, i.e. one sample per octet at 8 kHz.
        let needed = payload.len() * pcm_rate as usize / 8000;
        if out.len() < needed {
            return Err(CodecError::OutputTooSmall {
                needed,
                got: out.len(),
            });
        }
        let n = match &mut self.resample {
            None => self.dec.decode(payload, out)?,
            Some(r) => {
                let w = self.dec.decode(payload, &mut self.wide)?;
                r.process(&self.wide[..w], out)?
            }
        };
        let frame = &mut out[..n];
        match &mut self.plc {
            Some(plc) => plc.good_frame(frame),
            None => {
                let keep = n.min(self.last.len());
                self.last[..keep].copy_from_slice(&frame[n - keep..]);
                self.last_len = keep;
                self.faded = 0;
            }
        }
        Ok(n)
    }

    /// Repeat-and-fade concealment at 16/48 kHz: cycles through the last good 20 ms with a
    /// gain falling linearly from 1 to 0 over [`G722_FADE_MS`], then silence.
    fn fade_repeat(&mut self, pcm_rate: u32, out: &mut [i16]) {
        let fade = (pcm_rate as usize * G722_FADE_MS / 1000) as i64;
        for o in out.iter_mut() {
            let pos = self.faded as i64;
            *o = if self.last_len == 0 || pos >= fade {
                0
            } else {
                let s = i64::from(self.last[self.faded % self.last_len]);
                (s * (fade - pos) / fade) as i16
            };
            self.faded += 1;
        }
    }
}

#[derive(Debug)]
enum DecInner {
    G711(G711Dec),
    G722(G722Dec),
    Opus(OpusDecoder),
}

/// Decodes payloads of one codec into mono PCM at a fixed rate, with loss concealment.
#[derive(Debug)]
pub struct FrameDecoder {
    kind: CodecKind,
    pcm_rate: u32,
    inner: DecInner,
}

impl FrameDecoder {
    /// A decoder for `kind` producing PCM at `pcm_rate` Hz (8000, 16000 or 48000).
    pub fn new(kind: CodecKind, pcm_rate: u32) -> Result<Self, CodecError> {
        check_rate(pcm_rate)?;
        let inner = match (kind, kind.law()) {
            (_, Some(law)) => DecInner::G711(G711Dec {
                law,
                plc: Plc::new(),
                up: if pcm_rate == 8000 {
                    None
                } else {
                    Some(warmed_resampler(8000, pcm_rate, G711_MAX_PAYLOAD_BYTES)?)
                },
                narrow: vec![0; G711_MAX_PAYLOAD_BYTES],
            }),
            (CodecKind::G722, None) => DecInner::G722(G722Dec::new(pcm_rate)?),
            (_, None) => DecInner::Opus(OpusDecoder::new(pcm_rate)?),
        };
        Ok(FrameDecoder {
            kind,
            pcm_rate,
            inner,
        })
    }

    /// The codec decoded.
    pub fn kind(&self) -> CodecKind {
        self.kind
    }

    /// Output PCM rate in Hz.
    pub fn pcm_rate(&self) -> u32 {
        self.pcm_rate
    }

    /// Samples in 20 ms at the PCM rate.
    pub fn frame_samples(&self) -> usize {
        self.pcm_rate as usize / 50
    }

    /// Largest output of one [`Self::decode`] or [`Self::conceal`] call (120 ms at the PCM
    /// rate); an output buffer of this size always suffices.
    pub fn max_output_samples(&self) -> usize {
        self.pcm_rate as usize * OPUS_MAX_PACKET_MS / 1000
    }

    /// Decodes one payload into `out`, returning the PCM samples written.
    ///
    /// G.711 payloads of any length up to [`G711_MAX_PAYLOAD_BYTES`] are accepted and are
    /// recorded by the concealer; so are G.722 payloads up to [`G722_MAX_PAYLOAD_BYTES`] (any
    /// octet is a valid G.722 code). An Opus DTX packet (0–2 bytes) decodes to comfort noise.
    /// Errors (corrupt Opus packet, `out` too small, payload too large) never panic.
    pub fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        match &mut self.inner {
            DecInner::Opus(dec) => dec.decode(payload, out),
            DecInner::G722(g) => g.decode(payload, self.pcm_rate, out),
            DecInner::G711(g) => {
                if payload.len() > G711_MAX_PAYLOAD_BYTES {
                    return Err(CodecError::PayloadTooLarge {
                        max: G711_MAX_PAYLOAD_BYTES,
                        got: payload.len(),
                    });
                }
                let n = payload.len();
                let needed = n * self.pcm_rate as usize / 8000;
                if out.len() < needed {
                    return Err(CodecError::OutputTooSmall {
                        needed,
                        got: out.len(),
                    });
                }
                match &mut g.up {
                    None => {
                        g.law.decode(payload, out)?;
                        g.plc.good_frame(&mut out[..n]);
                        Ok(n)
                    }
                    Some(up) => {
                        let narrow = &mut g.narrow[..n];
                        g.law.decode(payload, narrow)?;
                        g.plc.good_frame(narrow);
                        up.process(narrow, out)
                    }
                }
            }
        }
    }

    /// Conceals `samples` lost PCM samples (at the PCM rate) into `out[..samples]`.
    ///
    /// G.711 uses the Appendix I concealer ([`Plc`]); `samples` must be a whole number of
    /// 8 kHz samples and at most 120 ms. G.722 has the same length rule; at 8 kHz PCM it uses
    /// the same concealer on the decoded audio, at 16 and 48 kHz it repeats the last 20 ms of
    /// output fading linearly to silence over 60 ms. Opus recovers the lost frame from the in-band FEC of
    /// `next_payload` when given (the packet that arrived after the gap; decode it normally
    /// afterwards), else uses the libopus PLC; `samples` must be a multiple of 2.5 ms.
    pub fn conceal(
        &mut self,
        samples: usize,
        next_payload: Option<&[u8]>,
        out: &mut [i16],
    ) -> Result<usize, CodecError> {
        match &mut self.inner {
            DecInner::Opus(dec) => match next_payload {
                Some(next) if !next.is_empty() => dec.decode_fec(next, samples, out),
                _ => dec.conceal(samples, out),
            },
            DecInner::G722(g) => {
                let ratio = self.pcm_rate as usize / 8000;
                if samples == 0
                    || !samples.is_multiple_of(ratio)
                    || samples / ratio > G722_MAX_PAYLOAD_BYTES
                {
                    return Err(CodecError::ConcealLength {
                        samples,
                        rate: self.pcm_rate,
                    });
                }
                if out.len() < samples {
                    return Err(CodecError::OutputTooSmall {
                        needed: samples,
                        got: out.len(),
                    });
                }
                match &mut g.plc {
                    Some(plc) => plc.conceal(&mut out[..samples]),
                    None => g.fade_repeat(self.pcm_rate, &mut out[..samples]),
                }
                Ok(samples)
            }
            DecInner::G711(g) => {
                let ratio = self.pcm_rate as usize / 8000;
                if samples == 0
                    || !samples.is_multiple_of(ratio)
                    || samples / ratio > G711_MAX_PAYLOAD_BYTES
                {
                    return Err(CodecError::ConcealLength {
                        samples,
                        rate: self.pcm_rate,
                    });
                }
                if out.len() < samples {
                    return Err(CodecError::OutputTooSmall {
                        needed: samples,
                        got: out.len(),
                    });
                }
                let n = samples / ratio;
                match &mut g.up {
                    None => {
                        g.plc.conceal(&mut out[..n]);
                        Ok(n)
                    }
                    Some(up) => {
                        let narrow = &mut g.narrow[..n];
                        g.plc.conceal(narrow);
                        up.process(narrow, out)
                    }
                }
            }
        }
    }
}

#[derive(Debug)]
enum EncInner {
    G711 {
        law: Law,
        /// PCM rate → 8 kHz, `None` when the PCM rate is 8 kHz.
        down: Option<Resampler>,
        /// 8 kHz scratch frame.
        narrow: Vec<i16>,
    },
    G722 {
        enc: G722Encoder,
        /// PCM rate → 16 kHz, `None` when the PCM rate is 16 kHz.
        resample: Option<Resampler>,
        /// 16 kHz scratch frame.
        wide: Vec<i16>,
    },
    Opus(OpusEncoder),
}

/// Encodes 20 ms frames of mono PCM at a fixed rate into payloads of one codec.
#[derive(Debug)]
pub struct FrameEncoder {
    kind: CodecKind,
    pcm_rate: u32,
    inner: EncInner,
}

impl FrameEncoder {
    /// An encoder for `kind` taking PCM at `pcm_rate` Hz (8000, 16000 or 48000). `options`
    /// configure Opus and are ignored for G.711 and G.722.
    pub fn new(
        kind: CodecKind,
        pcm_rate: u32,
        options: EncoderOptions,
    ) -> Result<Self, CodecError> {
        check_rate(pcm_rate)?;
        let frame = pcm_rate as usize / 50;
        let inner = match (kind, kind.law()) {
            (CodecKind::G722, _) => EncInner::G722 {
                enc: G722Encoder::new(),
                resample: if pcm_rate == G722_SAMPLE_RATE {
                    None
                } else {
                    Some(warmed_resampler(pcm_rate, G722_SAMPLE_RATE, frame)?)
                },
                wide: vec![0; G722_SAMPLE_RATE as usize / 50],
            },
            (_, Some(law)) => EncInner::G711 {
                law,
                down: if pcm_rate == 8000 {
                    None
                } else {
                    Some(warmed_resampler(pcm_rate, 8000, frame)?)
                },
                narrow: vec![0; 160],
            },
            (_, None) => EncInner::Opus(OpusEncoder::new(pcm_rate, options)?),
        };
        Ok(FrameEncoder {
            kind,
            pcm_rate,
            inner,
        })
    }

    /// The codec produced.
    pub fn kind(&self) -> CodecKind {
        self.kind
    }

    /// Input PCM rate in Hz.
    pub fn pcm_rate(&self) -> u32 {
        self.pcm_rate
    }

    /// Samples [`Self::encode`] takes: 20 ms at the PCM rate.
    pub fn frame_samples(&self) -> usize {
        self.pcm_rate as usize / 50
    }

    /// RTP timestamp increment per encoded frame: 20 ms at the codec's RTP clock (160 for
    /// G.711 and G.722, 960 for Opus).
    pub fn rtp_timestamp_increment(&self) -> u32 {
        self.kind.rtp_timestamp_increment()
    }

    /// Encodes exactly [`Self::frame_samples`] samples into `out` (at least
    /// [`CodecKind::max_payload_bytes`] recommended), returning the payload length in bytes.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
        let expected = self.frame_samples();
        if pcm.len() != expected {
            return Err(CodecError::FrameLength {
                expected,
                got: pcm.len(),
            });
        }
        match &mut self.inner {
            EncInner::Opus(enc) => enc.encode(pcm, out),
            EncInner::G722 {
                enc,
                resample,
                wide,
            } => match resample {
                None => enc.encode(pcm, out),
                Some(r) => {
                    let n = r.process(pcm, wide)?;
                    enc.encode(&wide[..n], out)
                }
            },
            EncInner::G711 { law, down, narrow } => match down {
                None => law.encode(pcm, out),
                Some(down) => {
                    let n = down.process(pcm, narrow)?;
                    law.encode(&narrow[..n], out)
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtpmap_parsing() {
        assert_eq!(
            CodecKind::from_rtpmap("pcmu", 8000, 1),
            Some(CodecKind::Pcmu)
        );
        assert_eq!(
            CodecKind::from_rtpmap("PCMA", 8000, 0),
            Some(CodecKind::Pcma)
        );
        assert_eq!(
            CodecKind::from_rtpmap("OPUS", 48000, 2),
            Some(CodecKind::Opus)
        );
        assert_eq!(CodecKind::from_rtpmap("opus", 48000, 1), None);
        assert_eq!(CodecKind::from_rtpmap("opus", 16000, 2), None);
        assert_eq!(CodecKind::from_rtpmap("PCMU", 16000, 1), None);
        assert_eq!(CodecKind::from_rtpmap("PCMU", 8000, 2), None);
        assert_eq!(CodecKind::from_rtpmap("G729", 8000, 1), None);
        assert_eq!(
            CodecKind::from_rtpmap("g722", 8000, 1),
            Some(CodecKind::G722)
        );
        assert_eq!(CodecKind::from_rtpmap("G722", 16000, 1), None);
        assert_eq!(CodecKind::from_rtpmap("G722", 8000, 2), None);
    }

    #[test]
    fn sdp_facts() {
        use CodecKind::*;
        assert_eq!(Pcmu.static_payload_type(), Some(0));
        assert_eq!(Pcma.static_payload_type(), Some(8));
        assert_eq!(Opus.static_payload_type(), None);
        assert_eq!(Pcmu.encoding_name(), "PCMU");
        assert_eq!(Pcma.encoding_name(), "PCMA");
        assert_eq!(Opus.encoding_name(), "opus");
        assert_eq!(Opus.rtpmap_channels(), 2);
        assert_eq!(Pcmu.rtpmap_channels(), 1);
        assert_eq!(Opus.rtp_clock_rate(), 48000);
        assert_eq!(Pcma.rtp_clock_rate(), 8000);
        assert_eq!(Opus.default_fmtp(), Some("minptime=10;useinbandfec=1"));
        assert_eq!(Pcmu.default_fmtp(), None);
        assert_eq!(G722.static_payload_type(), Some(9));
        assert_eq!(G722.encoding_name(), "G722");
        assert_eq!(G722.rtpmap_channels(), 1);
        assert_eq!(G722.rtp_clock_rate(), 8000);
        assert_eq!(G722.default_fmtp(), None);
        assert_eq!(G722.rtp_timestamp_increment(), 160);
        assert_eq!(G722.max_payload_bytes(), 160);
        for k in [Pcmu, Pcma, Opus, G722] {
            assert_eq!(
                CodecKind::from_rtpmap(k.encoding_name(), k.rtp_clock_rate(), k.rtpmap_channels()),
                Some(k)
            );
        }
    }

    #[test]
    fn frame_sizes_and_timestamps() {
        for rate in PCM_RATES {
            for kind in [
                CodecKind::Pcmu,
                CodecKind::Pcma,
                CodecKind::Opus,
                CodecKind::G722,
            ] {
                let enc = FrameEncoder::new(kind, rate, EncoderOptions::default()).unwrap();
                assert_eq!(enc.frame_samples(), rate as usize / 50);
                let ts = if kind == CodecKind::Opus { 960 } else { 160 };
                assert_eq!(enc.rtp_timestamp_increment(), ts);
            }
        }
        assert!(FrameEncoder::new(CodecKind::Pcmu, 44100, EncoderOptions::default()).is_err());
        assert!(FrameDecoder::new(CodecKind::Opus, 32000).is_err());
    }

    #[test]
    fn g711_at_48k_produces_full_frames() {
        let mut enc = FrameEncoder::new(CodecKind::Pcmu, 48000, EncoderOptions::default()).unwrap();
        let mut dec = FrameDecoder::new(CodecKind::Pcmu, 48000).unwrap();
        let mut pkt = [0u8; MAX_ENCODED_FRAME_BYTES];
        let mut pcm = vec![0i16; dec.max_output_samples()];
        let n = enc.encode(&[0; 960], &mut pkt).unwrap();
        assert_eq!(n, 160);
        assert_eq!(dec.decode(&pkt[..n], &mut pcm).unwrap(), 960);
        assert_eq!(dec.conceal(960, None, &mut pcm).unwrap(), 960);
        assert!(matches!(
            dec.conceal(7, None, &mut pcm),
            Err(CodecError::ConcealLength { .. })
        ));
        assert!(matches!(
            enc.encode(&[0; 160], &mut pkt),
            Err(CodecError::FrameLength { .. })
        ));
    }
}
