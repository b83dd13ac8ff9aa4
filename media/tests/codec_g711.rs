//! G.711 measured as audio and checked exhaustively against the reference expansion.

use ringside_media::codec::analysis::{dominant_frequency, snr_db, tone};
use ringside_media::codec::g711::{alaw_expand, ulaw_expand};
use ringside_media::codec::{CodecError, Law};

/// Minimum SNR asserted for a −6 dBFS 1 kHz sine through G.711 (theory gives ~38 dB).
const G711_MIN_SNR_DB: f64 = 30.0;

fn round_trip(law: Law, pcm: &[i16]) -> Vec<i16> {
    let mut codes = [0u8; 160];
    let mut frame = [0i16; 160];
    let mut out = Vec::with_capacity(pcm.len());
    for chunk in pcm.chunks(160) {
        let n = law.encode(chunk, &mut codes).unwrap();
        law.decode(&codes[..n], &mut frame).unwrap();
        out.extend_from_slice(&frame[..n]);
    }
    out
}

#[test]
fn sine_through_pcmu_and_pcma() {
    let input = tone(1000.0, 8000, 0.5, 8000);
    for law in [Law::Mu, Law::A] {
        let out = round_trip(law, &input);
        let f = dominant_frequency(&out, 8000);
        let snr = snr_db(&input, &out);
        eprintln!("G.711 {law:?}: 1 kHz -6 dBFS round trip: {f:.2} Hz, SNR {snr:.2} dB");
        assert!((f - 1000.0).abs() < 10.0, "{law:?} frequency {f}");
        assert!(snr > G711_MIN_SNR_DB, "{law:?} SNR {snr}");
    }
}

#[test]
fn known_values() {
    assert_eq!(Law::Mu.decode_sample(0xFF), 0);
    assert_eq!(Law::Mu.decode_sample(0x7F), 0);
    assert_eq!(Law::Mu.decode_sample(0x80), 32124);
    assert_eq!(Law::Mu.decode_sample(0x00), -32124);
    assert_eq!(Law::Mu.encode_sample(0), 0xFF);
    assert_eq!(Law::Mu.encode_sample(i16::MAX), 0x80);
    assert_eq!(Law::Mu.encode_sample(i16::MIN), 0x00);
    assert_eq!(Law::A.decode_sample(0xD5), 8);
    assert_eq!(Law::A.decode_sample(0x55), -8);
    assert_eq!(Law::A.decode_sample(0xAA), 32256);
    assert_eq!(Law::A.decode_sample(0x2A), -32256);
    assert_eq!(Law::A.encode_sample(0), 0xD5);
    assert_eq!(Law::A.encode_sample(-1), 0x55);
    assert_eq!(Law::A.encode_sample(i16::MAX), 0xAA);
    assert_eq!(Law::A.encode_sample(i16::MIN), 0x2A);
    assert_eq!(Law::Mu.payload_type(), 0);
    assert_eq!(Law::A.payload_type(), 8);
    assert_eq!(Law::Mu.decode_sample(Law::Mu.silence()), 0);
}

#[test]
fn every_code_round_trips() {
    for c in 0..=255u8 {
        assert_eq!(Law::Mu.decode_sample(c), ulaw_expand(c));
        assert_eq!(Law::A.decode_sample(c), alaw_expand(c));
        // µ-law 0x7F is "negative zero": it decodes to 0, which encodes as 0xFF.
        let back = Law::Mu.encode_sample(Law::Mu.decode_sample(c));
        assert_eq!(back, if c == 0x7F { 0xFF } else { c }, "µ-law {c:#04x}");
        assert_eq!(
            Law::A.encode_sample(Law::A.decode_sample(c)),
            c,
            "A-law {c:#04x}"
        );
    }
}

/// Half the distance to the neighbouring decoded levels of `y` (the quantisation step).
fn half_step(levels: &[i16], y: i16) -> i32 {
    let i = levels.binary_search(&y).unwrap();
    let below = if i > 0 {
        y as i32 - levels[i - 1] as i32
    } else {
        0
    };
    let above = if i + 1 < levels.len() {
        levels[i + 1] as i32 - y as i32
    } else {
        0
    };
    below.max(above)
}

#[test]
fn every_input_decodes_within_one_step() {
    for law in [Law::Mu, Law::A] {
        let mut levels: Vec<i16> = (0..=255u8).map(|c| law.decode_sample(c)).collect();
        levels.sort_unstable();
        levels.dedup();
        let top = *levels.last().unwrap() as i32;
        for x in i16::MIN..=i16::MAX {
            let y = law.decode_sample(law.encode_sample(x));
            let err = (x as i32 - y as i32).abs();
            if (x as i32).abs() <= top {
                assert!(err <= half_step(&levels, y), "{law:?} {x} -> {y}");
            } else {
                // Beyond the largest level the codec clips to it.
                assert_eq!(y as i32, top * (x as i32).signum(), "{law:?} clip {x}");
            }
        }
    }
}

#[test]
fn short_output_is_an_error() {
    let mut out = [0u8; 10];
    assert_eq!(
        Law::Mu.encode(&[0; 20], &mut out),
        Err(CodecError::OutputTooSmall {
            needed: 20,
            got: 10
        })
    );
}
