//! Frame encoder/decoder round trips (PCMU, PCMA, Opus) measured as audio, with loss
//! concealment, Opus FEC and DTX, plus never-panic property tests for the decoders.
//!
//! `cargo test -p ringside-media --test codec_roundtrip -- --nocapture` prints the measured
//! figures. The thresholds below were set with margin under the values measured on libopus
//! 1.3.1 (noted next to each).

use proptest::prelude::*;
use ringside_media::codec::analysis::{dominant_frequency, rms_dbfs, snr_db, tone};
use ringside_media::codec::frame::MAX_ENCODED_FRAME_BYTES;
use ringside_media::codec::{
    CodecKind, EncoderOptions, FrameDecoder, FrameEncoder, OpusDecoder, OpusEncoder, Resampler,
};

/// Peak amplitude of a −10 dBFS tone.
const AMP_MINUS_10_DBFS: f64 = 0.316;

/// Small deterministic generator (64-bit LCG, top bits) so the loss pattern is fixed.
struct Lcg(u64);

impl Lcg {
    fn next_f64(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Encodes `pcm` (at `rate`) frame by frame with `kind`, returning the payloads.
fn encode_all(kind: CodecKind, rate: u32, opts: EncoderOptions, pcm: &[i16]) -> Vec<Vec<u8>> {
    let mut enc = FrameEncoder::new(kind, rate, opts).unwrap();
    let mut buf = [0u8; MAX_ENCODED_FRAME_BYTES];
    pcm.chunks_exact(enc.frame_samples())
        .map(|f| {
            let n = enc.encode(f, &mut buf).unwrap();
            buf[..n].to_vec()
        })
        .collect()
}

/// How lost frames are filled.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Recovery {
    /// Codec concealment (G.711 Appendix I PLC / libopus PLC).
    Plc,
    /// Opus in-band FEC from the next packet when it arrived, else PLC.
    Fec,
    /// Silence.
    Zero,
}

/// Decodes `packets` at `rate`, dropping those with `lost[i]`, recovering as told.
fn decode_all(
    kind: CodecKind,
    rate: u32,
    packets: &[Vec<u8>],
    lost: &[bool],
    rec: Recovery,
) -> Vec<i16> {
    let mut dec = FrameDecoder::new(kind, rate).unwrap();
    let frame = dec.frame_samples();
    let mut buf = vec![0i16; dec.max_output_samples()];
    let mut out = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        let n = if !lost[i] {
            dec.decode(p, &mut buf).unwrap()
        } else {
            match rec {
                Recovery::Zero => {
                    buf[..frame].fill(0);
                    frame
                }
                Recovery::Plc => dec.conceal(frame, None, &mut buf).unwrap(),
                Recovery::Fec => {
                    let next = packets
                        .get(i + 1)
                        .filter(|_| !lost.get(i + 1).copied().unwrap_or(true));
                    dec.conceal(frame, next.map(|v| v.as_slice()), &mut buf)
                        .unwrap()
                }
            }
        };
        assert_eq!(n, frame);
        out.extend_from_slice(&buf[..n]);
    }
    out
}

/// Seeded 5 % loss pattern over `n` frames (first and last frames always arrive).
fn loss_pattern(n: usize, p: f64, seed: u64) -> Vec<bool> {
    let mut rng = Lcg(seed);
    (0..n)
        .map(|i| {
            let r = rng.next_f64();
            i > 5 && i + 1 < n && r < p
        })
        .collect()
}

/// Frequency and SNR of `out` (8 kHz) against the 8 kHz `input`, skipping 100 ms of
/// start-up at both ends of the reference.
fn measure(input: &[i16], out: &[i16]) -> (f64, f64) {
    let f = dominant_frequency(&out[800..], 8000);
    let snr = snr_db(&input[800..input.len() - 800], out);
    (f, snr)
}

/// A 1 kHz tone at −10 dBFS peak with a syllabic envelope (250 ms cycle: 180 ms on with
/// 20 ms raised-cosine ramps, 70 ms at −40 dB), `n` samples at 8 kHz. A steady tone is soon
/// judged "not speech" by the SILK voice-activity detector, which then sends no in-band FEC;
/// the onsets keep the signal speech-like.
fn syllabic_tone(n: usize) -> Vec<i16> {
    let carrier = tone(1000.0, 8000, AMP_MINUS_10_DBFS, n);
    carrier
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let t = (i % 2000) as f64 / 8.0; // ms into the cycle
            let ramp = |u: f64| 0.5 - 0.5 * (std::f64::consts::PI * u / 20.0).cos();
            let env = if t < 20.0 {
                ramp(t)
            } else if t < 160.0 {
                1.0
            } else if t < 180.0 {
                ramp(180.0 - t)
            } else {
                0.0
            };
            (f64::from(x) * (0.01 + 0.99 * env)).round() as i16
        })
        .collect()
}

fn resample(from: u32, to: u32, pcm: &[i16]) -> Vec<i16> {
    let mut r = Resampler::new(from, to).unwrap();
    let mut out = vec![0i16; r.max_output_len(pcm.len())];
    let n = r.process(pcm, &mut out).unwrap();
    out.truncate(n);
    out
}

/// Minimum SNR for the −10 dBFS 1 kHz tone through PCMU/PCMA via the frame layer
/// (measured 40.46 dB PCMU, 39.97 dB PCMA at 8 kHz PCM; 40.46 / 39.98 dB at 48 kHz PCM).
const G711_MIN_SNR_DB: f64 = 35.0;

/// PCMU and PCMA through FrameEncoder/FrameDecoder at PCM rate 8 kHz and 48 kHz (G.711
/// resampled internally); the 48 kHz output is brought back to 8 kHz for measurement.
#[test]
fn g711_frame_round_trip() {
    let input = tone(1000.0, 8000, AMP_MINUS_10_DBFS, 16000);
    for kind in [CodecKind::Pcmu, CodecKind::Pcma] {
        for rate in [8000, 48000] {
            let pcm = resample(8000, rate, &input);
            let packets = encode_all(kind, rate, EncoderOptions::default(), &pcm);
            assert!(packets.iter().all(|p| p.len() == 160));
            let out = decode_all(
                kind,
                rate,
                &packets,
                &vec![false; packets.len()],
                Recovery::Plc,
            );
            let out = resample(rate, 8000, &out);
            let (f, snr) = measure(&input, &out);
            eprintln!("{kind:?} @ {rate} Hz PCM: {f:.2} Hz, SNR {snr:.2} dB");
            assert!((f - 1000.0).abs() < 10.0, "{kind:?} {rate}: {f}");
            assert!(snr > G711_MIN_SNR_DB, "{kind:?} {rate}: SNR {snr}");
        }
    }
}

/// Minimum SNR for the −10 dBFS 1 kHz tone through Opus created at 8 kHz, default options
/// (complexity 5, 24 kbit/s, FEC on): measured 18.80 dB (SILK narrowband, 21.1 kbit/s).
const OPUS_8K_MIN_SNR_DB: f64 = 15.0;
/// Minimum SNR through Opus at 16 kHz (8k→16k→Opus→16k→8k): measured 19.04 dB.
const OPUS_16K_MIN_SNR_DB: f64 = 15.0;
/// Minimum SNR through Opus at 48 kHz (8k→48k→Opus→48k→8k): measured 9.25 dB. Lower than
/// at 8/16 kHz because at 48 kHz libopus classifies a pure tone as music and codes it with
/// CELT, which keeps band energies rather than the waveform; SNR is a waveform measure.
const OPUS_48K_MIN_SNR_DB: f64 = 6.0;

/// A 1 kHz tone through Opus at 8, 16 and 48 kHz, with 8 kHz ↔ bridge-rate resampling by
/// [`Resampler`] around the codec, comes out at 1 kHz with the SNRs above.
#[test]
fn opus_frame_round_trip() {
    let input = tone(1000.0, 8000, AMP_MINUS_10_DBFS, 16000);
    for (rate, min) in [
        (8000, OPUS_8K_MIN_SNR_DB),
        (16000, OPUS_16K_MIN_SNR_DB),
        (48000, OPUS_48K_MIN_SNR_DB),
    ] {
        let pcm = resample(8000, rate, &input);
        let packets = encode_all(CodecKind::Opus, rate, EncoderOptions::default(), &pcm);
        let bytes: usize = packets.iter().map(Vec::len).sum();
        let out = decode_all(
            CodecKind::Opus,
            rate,
            &packets,
            &vec![false; packets.len()],
            Recovery::Plc,
        );
        let out = resample(rate, 8000, &out);
        let (f, snr) = measure(&input, &out);
        eprintln!(
            "Opus @ {rate} Hz: {f:.2} Hz, SNR {snr:.2} dB, {:.1} kbit/s",
            bytes as f64 * 8.0 / (packets.len() as f64 * 0.02) / 1000.0
        );
        assert!((f - 1000.0).abs() < 10.0, "Opus {rate}: {f}");
        assert!(snr > min, "Opus {rate}: SNR {snr}");
    }
}

/// PCMU with 5 % seeded loss concealed by the G.711 Appendix I PLC through the frame layer:
/// measured 28.27 dB (zero fill 13.09 dB) with 25 of 500 frames lost.
const PCMU_PLC_MIN_SNR_DB: f64 = 24.0;
/// Minimum advantage of the PLC over zero fill asserted (measured 15.2 dB).
const PCMU_PLC_MIN_GAIN_DB: f64 = 10.0;

/// G.711 concealment via [`FrameDecoder::conceal`] beats zero fill and keeps the tone.
#[test]
fn pcmu_loss_concealed_by_plc() {
    let input = tone(1000.0, 8000, AMP_MINUS_10_DBFS, 80000);
    let packets = encode_all(CodecKind::Pcmu, 8000, EncoderOptions::default(), &input);
    let lost = loss_pattern(packets.len(), 0.05, 3);
    let n_lost = lost.iter().filter(|&&l| l).count();
    let plc = decode_all(CodecKind::Pcmu, 8000, &packets, &lost, Recovery::Plc);
    let zero = decode_all(CodecKind::Pcmu, 8000, &packets, &lost, Recovery::Zero);
    let (f, snr_plc) = measure(&input, &plc);
    let (_, snr_zero) = measure(&input, &zero);
    eprintln!(
        "PCMU 5% loss ({n_lost}/{} lost): PLC {snr_plc:.2} dB, zero fill {snr_zero:.2} dB, {f:.2} Hz",
        packets.len()
    );
    assert!((f - 1000.0).abs() < 10.0);
    assert!(snr_plc > PCMU_PLC_MIN_SNR_DB, "{snr_plc}");
    assert!(snr_plc > snr_zero + PCMU_PLC_MIN_GAIN_DB);
}

/// Thresholds for Opus with 5 % seeded loss (25 of 500 frames) on [`syllabic_tone`]:
/// `(rate, PLC min SNR, FEC min SNR, FEC-over-PLC min gain)`, in dB. Measured:
///
/// | rate | no loss | zero fill | PLC | FEC | FEC − PLC |
/// |---|---|---|---|---|---|
/// | 8 kHz | 17.93 | 4.04 | 8.12 | 15.46 | 7.34 |
/// | 48 kHz | 8.79 | 7.23 | 6.81 | 8.48 | 1.67 |
///
/// (At 48 kHz the tone is coded by CELT, whose waveform SNR is low even without loss; the
/// PLC's phase drift then scores below zero fill although it sounds far better.)
const OPUS_LOSS_THRESHOLDS: [(u32, f64, f64, f64); 2] =
    [(8000, 5.0, 12.0, 4.0), (48000, 4.0, 6.0, 0.8)];

/// Opus with 5 % seeded loss: PLC and FEC both keep the tone above the thresholds in
/// [`OPUS_LOSS_THRESHOLDS`]; FEC measurably beats PLC.
#[test]
fn opus_loss_plc_and_fec() {
    let input = syllabic_tone(80000);
    for (rate, plc_min, fec_min, gain_min) in OPUS_LOSS_THRESHOLDS {
        let pcm = resample(8000, rate, &input);
        let packets = encode_all(CodecKind::Opus, rate, EncoderOptions::default(), &pcm);
        let lost = loss_pattern(packets.len(), 0.05, 3);
        let n_lost = lost.iter().filter(|&&l| l).count();
        let run = |rec| {
            resample(
                rate,
                8000,
                &decode_all(CodecKind::Opus, rate, &packets, &lost, rec),
            )
        };
        let (f_plc, snr_plc) = measure(&input, &run(Recovery::Plc));
        let (f_fec, snr_fec) = measure(&input, &run(Recovery::Fec));
        let (_, snr_zero) = measure(&input, &run(Recovery::Zero));
        let no_loss = resample(
            rate,
            8000,
            &decode_all(
                CodecKind::Opus,
                rate,
                &packets,
                &vec![false; packets.len()],
                Recovery::Plc,
            ),
        );
        let (_, snr_clean) = measure(&input, &no_loss);
        eprintln!(
            "Opus @ {rate} Hz 5% loss ({n_lost}/{} lost): PLC {snr_plc:.2} dB, FEC {snr_fec:.2} dB, zero fill {snr_zero:.2} dB, no loss {snr_clean:.2} dB",
            packets.len()
        );
        assert!((f_plc - 1000.0).abs() < 10.0 && (f_fec - 1000.0).abs() < 10.0);
        assert!(snr_plc > plc_min, "{rate}: PLC {snr_plc}");
        assert!(snr_fec > fec_min, "{rate}: FEC {snr_fec}");
        assert!(
            snr_fec > snr_plc + gain_min,
            "{rate}: FEC {snr_fec} PLC {snr_plc}"
        );
    }
}

/// DTX: after a tone, digital silence is sent as packets of at most 2 bytes (asserted for
/// ≥ 80 % of the frames from 0.5 s into the silence; measured 95 of 100 at 8 and 48 kHz, the
/// rest being the periodic comfort-noise updates), decodes to below −60 dBFS (measured
/// −94.8 dBFS at 8 kHz, −89.9 dBFS at 48 kHz), and every packet — including the tiny ones and empty payloads — decodes
/// without error to near silence.
#[test]
fn opus_dtx_silence() {
    for rate in [8000, 48000] {
        let opts = EncoderOptions {
            dtx: true,
            ..EncoderOptions::default()
        };
        let mut enc = OpusEncoder::new(rate, opts).unwrap();
        let mut dec = OpusDecoder::new(rate).unwrap();
        let frame = enc.frame_samples();
        let mut signal = tone(1000.0, rate, AMP_MINUS_10_DBFS, rate as usize / 2);
        signal.resize(rate as usize * 3, 0);
        let mut pkt = [0u8; MAX_ENCODED_FRAME_BYTES];
        let mut pcm = vec![0i16; dec.max_frame_samples()];
        let mut tiny = 0;
        let mut silent_frames = 0;
        let mut tail = Vec::new();
        for (i, f) in signal.chunks_exact(frame).enumerate() {
            let n = enc.encode(f, &mut pkt).unwrap();
            let m = dec.decode(&pkt[..n], &mut pcm).unwrap();
            assert_eq!(m, frame);
            // Frames from 1 s on are well into the silence.
            if i >= 50 {
                silent_frames += 1;
                if n <= 2 {
                    tiny += 1;
                }
                tail.extend_from_slice(&pcm[..m]);
            }
        }
        // An empty payload (nothing sent for a DTX frame) also decodes.
        assert_eq!(dec.decode(&[], &mut pcm).unwrap(), frame);
        let level = rms_dbfs(&tail);
        eprintln!(
            "Opus DTX @ {rate} Hz: {tiny}/{silent_frames} silent frames sent as <= 2 bytes, output {level:.1} dBFS"
        );
        assert!(tiny * 10 >= silent_frames * 8, "{tiny}/{silent_frames}");
        assert!(level < -60.0, "{level}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// No decoder panics on arbitrary payload bytes, whatever it returns; concealment with
    /// an arbitrary "next" payload (Opus FEC path) does not panic either.
    #[test]
    fn decoders_never_panic(payloads in proptest::collection::vec(
        proptest::collection::vec(any::<u8>(), 0..1500), 1..6)) {
        for kind in [CodecKind::Pcmu, CodecKind::Pcma, CodecKind::Opus] {
            for rate in [8000, 48000] {
                let mut dec = FrameDecoder::new(kind, rate).unwrap();
                let mut out = vec![0i16; dec.max_output_samples()];
                let mut small = [0i16; 10];
                for p in &payloads {
                    let _ = dec.decode(p, &mut out);
                    let _ = dec.decode(p, &mut small);
                    let _ = dec.conceal(dec.frame_samples(), Some(p), &mut out);
                    let _ = dec.conceal(dec.frame_samples(), Some(p), &mut small);
                }
            }
        }
    }
}
