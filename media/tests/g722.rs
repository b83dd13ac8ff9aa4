//! G.722 (64 kbit/s sub-band ADPCM) measured as audio, checked against another implementation,
//! and fuzzed.
//!
//! `cargo test -p ringside-media --test g722 -- --nocapture` prints the measured figures; the
//! thresholds below were set with margin under them (measured values next to each).
//!
//! No official ITU-T test vectors were available (the search corpus has none, and the ITU
//! vectors exercise the ADPCM with the QMF bypassed in a special test mode). Instead
//! [`matches_ffmpeg_bit_exactly`] pins the encoder and decoder to the output of FFmpeg's
//! independent G.722 implementation (`ffmpeg -f s16le -ar 16000 -ac 1 -i in.raw -c:a g722`,
//! and `ffmpeg -f g722 -i ff.g722 -f s16le out.raw`) for one second of a three-tone signal:
//! every one of the 8000 octets and 16000 decoded samples agrees.

use proptest::prelude::*;
use ringside_media::codec::analysis::{dominant_frequency, rms_dbfs, snr_db, tone};
use ringside_media::codec::frame::{G722_MAX_PAYLOAD_BYTES, MAX_ENCODED_FRAME_BYTES};
use ringside_media::codec::g722::{G722Decoder, G722Encoder};
use ringside_media::codec::{CodecError, CodecKind, EncoderOptions, FrameDecoder, FrameEncoder};

/// Peak amplitude of a −6 dBFS tone.
const AMP_MINUS_6_DBFS: f64 = 0.5;

/// FNV-1a (64-bit) of a byte stream.
fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// One second at 16 kHz of 1 kHz (peak 0.3) + 5 kHz (0.2) + 300 Hz (0.2) tones.
fn three_tones() -> Vec<i16> {
    let a = tone(1000.0, 16000, 0.3, 16000);
    let b = tone(5000.0, 16000, 0.2, 16000);
    let c = tone(300.0, 16000, 0.2, 16000);
    (0..16000).map(|i| a[i] + b[i] + c[i]).collect()
}

/// Encodes and decodes `pcm` (16 kHz) in one go with the raw codec.
fn roundtrip(pcm: &[i16]) -> Vec<i16> {
    let mut codes = vec![0u8; pcm.len() / 2];
    assert_eq!(
        G722Encoder::new().encode(pcm, &mut codes).unwrap(),
        pcm.len() / 2
    );
    let mut out = vec![0i16; pcm.len()];
    assert_eq!(
        G722Decoder::new().decode(&codes, &mut out).unwrap(),
        pcm.len()
    );
    out
}

/// Encoder output and decoder output are bit-exact with FFmpeg's G.722 on the same input
/// (FNV-1a of the whole streams; the first octets are spelled out for readability).
#[test]
fn matches_ffmpeg_bit_exactly() {
    let pcm = three_tones();
    let mut codes = vec![0u8; 8000];
    G722Encoder::new().encode(&pcm, &mut codes).unwrap();
    assert_eq!(
        codes[..32],
        [
            183, 13, 177, 160, 4, 160, 160, 32, 160, 172, 62, 149, 29, 49, 166, 36, 168, 179, 18,
            140, 13, 20, 184, 50, 188, 148, 10, 137, 75, 21, 180, 44
        ]
    );
    assert_eq!(fnv1a(codes.iter().copied()), 0x1020_238d_a232_f11d);
    let mut out = vec![0i16; 16000];
    G722Decoder::new().decode(&codes, &mut out).unwrap();
    assert_eq!(
        out[1000..1016],
        [
            7666, 11978, 20829, 10629, 5651, 12663, 1885, -8241, -1946, -6592, -17621, -7799,
            -5132, -13011, -3581, 4935
        ]
    );
    assert_eq!(
        fnv1a(out.iter().flat_map(|s| s.to_le_bytes())),
        0x8e1f_c04f_bcfe_79c8
    );
}

/// Checks a −6 dBFS tone of `freq` Hz through the raw codec at 16 kHz.
fn check_tone(freq: f64, min_snr: f64) {
    let pcm = tone(freq, 16000, AMP_MINUS_6_DBFS, 16000);
    let out = roundtrip(&pcm);
    let f = dominant_frequency(&out[1600..], 16000);
    // Reference trimmed of the first 100 ms (adaptation start-up).
    let snr = snr_db(&pcm[1600..15000], &out);
    let level = rms_dbfs(&out[1600..]);
    println!("G.722 {freq} Hz: out {f:.2} Hz, SNR {snr:.1} dB, level {level:.2} dBFS");
    assert!((f - freq).abs() < 2.0, "frequency {f}");
    assert!(snr > min_snr, "SNR {snr}");
    assert!(
        (level - rms_dbfs(&pcm[1600..])).abs() < 0.5,
        "level {level}"
    );
}

/// 1 kHz (lower band, 6-bit ADPCM) at −6 dBFS: SNR must exceed 40 dB (measured 47.5 dB).
#[test]
fn tone_1khz_roundtrip() {
    check_tone(1000.0, 40.0);
}

/// 5 kHz (higher band, 2-bit ADPCM only) at −6 dBFS: SNR must exceed 18 dB (measured
/// 21.8 dB; the 2-bit higher band is the coarse part of G.722).
#[test]
fn tone_5khz_roundtrip() {
    check_tone(5000.0, 18.0);
}

/// A 1 kHz −6 dBFS tone through FrameEncoder/FrameDecoder at PCM rates 8000 (resampled to and
/// from 16 kHz), 16000 (direct) and 48000 (resampled). SNR must exceed 40 dB at every rate
/// (measured 8 kHz 46.8 dB, 16 kHz 47.7 dB, 48 kHz 47.6 dB).
#[test]
fn frame_layer_tone_at_each_pcm_rate() {
    for rate in [8000u32, 16000, 48000] {
        let mut enc = FrameEncoder::new(CodecKind::G722, rate, EncoderOptions::default()).unwrap();
        let mut dec = FrameDecoder::new(CodecKind::G722, rate).unwrap();
        assert_eq!(enc.rtp_timestamp_increment(), 160);
        let frame = enc.frame_samples();
        let pcm = tone(1000.0, rate, AMP_MINUS_6_DBFS, rate as usize);
        let mut buf = [0u8; MAX_ENCODED_FRAME_BYTES];
        let mut tmp = vec![0i16; dec.max_output_samples()];
        let mut out = Vec::new();
        for f in pcm.chunks_exact(frame) {
            let n = enc.encode(f, &mut buf).unwrap();
            assert_eq!(n, 160, "20 ms of G.722 is 160 octets");
            let m = dec.decode(&buf[..n], &mut tmp).unwrap();
            assert_eq!(m, frame);
            out.extend_from_slice(&tmp[..m]);
        }
        let skip = rate as usize / 10;
        let f = dominant_frequency(&out[skip..], rate);
        let snr = snr_db(&pcm[skip..rate as usize * 9 / 10], &out);
        println!("G.722 frame layer at {rate} Hz: 1 kHz -> {f:.2} Hz, SNR {snr:.1} dB");
        assert!((f - 1000.0).abs() < 2.0, "{rate}: frequency {f}");
        assert!(snr > 40.0, "{rate}: SNR {snr}");
    }
}

/// A deterministic broadband test signal: tones plus LCG noise, with a loud burst.
fn busy_signal(n: usize) -> Vec<i16> {
    let a = tone(440.0, 16000, 0.4, n);
    let b = tone(6100.0, 16000, 0.2, n);
    let mut x = 0x1234_5678u32;
    (0..n)
        .map(|i| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = ((x >> 16) as i32 - 32768) / 8;
            let burst = if (4000..4400).contains(&i) { 4 } else { 1 };
            ((i32::from(a[i]) + i32::from(b[i]) + noise) * burst).clamp(-32768, 32767) as i16
        })
        .collect()
}

/// Two encoders produce identical octets from identical input, and a decoder fed the codes one
/// by one holds exactly the encoder's embedded adaptation state (scale factors, predictor
/// coefficients, delay lines) after every octet, saturating bursts included.
#[test]
fn deterministic_and_decoder_tracks_encoder() {
    let pcm = busy_signal(16000);
    let mut e1 = G722Encoder::new();
    let mut e2 = G722Encoder::new();
    let mut dec = G722Decoder::new();
    let mut c1 = [0u8; 1];
    let mut c2 = [0u8; 1];
    let mut out = [0i16; 2];
    for pair in pcm.chunks_exact(2) {
        e1.encode(pair, &mut c1).unwrap();
        e2.encode(pair, &mut c2).unwrap();
        assert_eq!(c1, c2);
        dec.decode(&c1, &mut out).unwrap();
        assert_eq!(e1.band_states(), dec.band_states());
    }
    // Reset returns to the initial behaviour.
    let mut all = vec![0u8; 8000];
    e1.reset();
    e1.encode(&pcm, &mut all).unwrap();
    let mut fresh = vec![0u8; 8000];
    G722Encoder::new().encode(&pcm, &mut fresh).unwrap();
    assert_eq!(all, fresh);
}

/// One octet per two 16 kHz samples; odd sample counts and short buffers are errors.
#[test]
fn payload_length_is_half_the_samples() {
    let pcm = busy_signal(960);
    let mut enc = G722Encoder::new();
    let mut buf = [0u8; 480];
    for n in [0usize, 2, 160, 320, 960] {
        assert_eq!(enc.encode(&pcm[..n], &mut buf).unwrap(), n / 2);
    }
    assert!(matches!(
        enc.encode(&pcm[..321], &mut buf),
        Err(CodecError::FrameLength { .. })
    ));
    assert!(matches!(
        enc.encode(&pcm[..320], &mut buf[..159]),
        Err(CodecError::OutputTooSmall { .. })
    ));
    let mut dec = G722Decoder::new();
    let mut out = [0i16; 320];
    assert_eq!(dec.decode(&buf[..160], &mut out).unwrap(), 320);
    assert!(matches!(
        dec.decode(&buf[..161], &mut out),
        Err(CodecError::OutputTooSmall { .. })
    ));
}

/// Concealment: at 8 kHz the G.711 Appendix I concealer continues the tone; at 16 kHz the
/// repeat-and-fade concealer continues it for 60 ms and is silent afterwards. Thresholds:
/// first concealed frame above −15 dBFS (measured −9.4 dBFS at 8 kHz, −10.6 dBFS at 16 kHz
/// for a −9 dBFS tone) at 500 ± 30 Hz; fourth below −40 dBFS (measured silence).
#[test]
fn concealment_continues_then_fades() {
    for rate in [8000u32, 16000] {
        let mut enc = FrameEncoder::new(CodecKind::G722, rate, EncoderOptions::default()).unwrap();
        let mut dec = FrameDecoder::new(CodecKind::G722, rate).unwrap();
        let frame = enc.frame_samples();
        let pcm = tone(500.0, rate, AMP_MINUS_6_DBFS, frame * 10);
        let mut buf = [0u8; MAX_ENCODED_FRAME_BYTES];
        let mut out = vec![0i16; dec.max_output_samples()];
        for f in pcm.chunks_exact(frame) {
            let n = enc.encode(f, &mut buf).unwrap();
            dec.decode(&buf[..n], &mut out).unwrap();
        }
        assert_eq!(dec.conceal(frame, None, &mut out).unwrap(), frame);
        let first = rms_dbfs(&out[..frame]);
        let first_f = dominant_frequency(&out[..frame], rate);
        for _ in 0..3 {
            dec.conceal(frame, None, &mut out).unwrap();
        }
        let late = rms_dbfs(&out[..frame]);
        println!("G.722 conceal at {rate} Hz: first frame {first:.1} dBFS at {first_f:.0} Hz, fourth {late:.1} dBFS");
        assert!(first > -15.0, "{rate}: first concealed frame {first}");
        assert!((first_f - 500.0).abs() < 30.0, "{rate}: {first_f} Hz");
        assert!(late < -40.0, "{rate}: fourth concealed frame {late}");
        if rate == 16000 {
            // An odd count at 16 kHz is not a whole number of 8 kHz (RTP clock) samples.
            assert!(dec.conceal(frame + 1, None, &mut out).is_err());
        }
        // Decoding resumes normally after the gap.
        let n = enc.encode(&pcm[..frame], &mut buf).unwrap();
        assert_eq!(dec.decode(&buf[..n], &mut out).unwrap(), frame);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The decoders never panic on arbitrary bytes: the raw decoder decodes any payload, the
    /// frame decoder at every PCM rate either decodes it or rejects it as too large.
    #[test]
    fn decoder_never_panics(payload in proptest::collection::vec(any::<u8>(), 0..1200)) {
        let mut raw = G722Decoder::new();
        let mut out = vec![0i16; payload.len() * 2];
        prop_assert_eq!(raw.decode(&payload, &mut out).unwrap(), payload.len() * 2);
        for rate in [8000u32, 16000, 48000] {
            let mut dec = FrameDecoder::new(CodecKind::G722, rate).unwrap();
            let mut pcm = vec![0i16; dec.max_output_samples()];
            match dec.decode(&payload, &mut pcm) {
                Ok(n) => {
                    prop_assert!(payload.len() <= G722_MAX_PAYLOAD_BYTES);
                    prop_assert_eq!(n, payload.len() * rate as usize / 8000);
                }
                Err(e) => {
                    prop_assert!(payload.len() > G722_MAX_PAYLOAD_BYTES);
                    let too_large = matches!(e, CodecError::PayloadTooLarge { .. });
                    prop_assert!(too_large);
                }
            }
            prop_assert!(dec.conceal(rate as usize / 50, None, &mut pcm).is_ok());
        }
    }
}
