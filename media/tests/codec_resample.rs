//! The resampler measured as audio: tone fidelity, anti-aliasing and seamless streaming.

use ringside_media::codec::analysis::{dominant_frequency, rms_dbfs, snr_db, tone};
use ringside_media::codec::Resampler;

/// Minimum SNR asserted for 8 kHz → 48 kHz → 8 kHz of a 1 kHz tone, after delay alignment.
const ROUND_TRIP_MIN_SNR_DB: f64 = 50.0;
/// Minimum attenuation asserted for a 5 kHz tone taken from 48 kHz down to 8 kHz.
const ALIAS_MIN_ATTENUATION_DB: f64 = 50.0;

/// Runs `input` through `r` in chunks of `chunk` samples.
fn run(r: &mut Resampler, input: &[i16], chunk: usize) -> Vec<i16> {
    let mut out = Vec::new();
    let mut buf = vec![0i16; r.max_output_len(chunk)];
    for c in input.chunks(chunk) {
        let n = r.process(c, &mut buf).unwrap();
        out.extend_from_slice(&buf[..n]);
    }
    out
}

#[test]
fn round_trip_8k_48k_8k_keeps_a_tone() {
    let input = tone(1000.0, 8000, 0.5, 8000);
    let mut up = Resampler::new(8000, 48000).unwrap();
    let mut down = Resampler::new(48000, 8000).unwrap();
    let mid = run(&mut up, &input, 160);
    assert_eq!(mid.len(), 48000);
    let f_mid = dominant_frequency(&mid, 48000);
    let out = run(&mut down, &mid, 960);
    assert_eq!(out.len(), 8000);
    let f = dominant_frequency(&out, 8000);
    let delay = up.delay_input_samples() + down.delay_output_samples();
    // Skip the start-up transient of the filters and the tail that is still in flight.
    let snr = snr_db(&input[200..8000 - delay - 200], &out);
    eprintln!(
        "resample 8k->48k->8k: 1 kHz -> {f_mid:.2} Hz at 48k, {f:.2} Hz back at 8k, \
         latency {delay} samples, SNR {snr:.2} dB"
    );
    assert!((f_mid - 1000.0).abs() < 10.0, "48k frequency {f_mid}");
    assert!((f - 1000.0).abs() < 10.0, "8k frequency {f}");
    assert!(snr > ROUND_TRIP_MIN_SNR_DB, "SNR {snr}");
}

#[test]
fn round_trip_16k_and_48k_16k() {
    for (a, b) in [(8000u32, 16000u32), (16000, 48000)] {
        let input = tone(1000.0, a, 0.5, a as usize);
        let mut up = Resampler::new(a, b).unwrap();
        let mut down = Resampler::new(b, a).unwrap();
        let mid = run(&mut up, &input, a as usize / 50);
        let out = run(&mut down, &mid, b as usize / 50);
        let delay = up.delay_input_samples() + down.delay_output_samples();
        let n = input.len();
        let snr = snr_db(&input[400..n - delay - 400], &out);
        eprintln!("resample {a}->{b}->{a}: SNR {snr:.2} dB");
        assert!(snr > ROUND_TRIP_MIN_SNR_DB, "{a}<->{b} SNR {snr}");
    }
}

#[test]
fn downsampling_removes_content_above_nyquist() {
    // 5 kHz is the required case; the others sweep the rest of the stop band. An output
    // that rounds to all-zero is counted at the 16-bit quantisation floor (-101 dBFS).
    for freq in [5000.0, 4100.0, 4500.0, 7000.0, 12000.0, 20000.0] {
        let input = tone(freq, 48000, 0.5, 48000);
        let mut down = Resampler::new(48000, 8000).unwrap();
        let out = run(&mut down, &input, 960);
        let level_in = rms_dbfs(&input);
        let level_out = rms_dbfs(&out[400..]).max(-101.0);
        let attenuation = level_in - level_out;
        eprintln!(
            "resample 48k->8k: {freq} Hz tone {level_in:.2} dBFS -> {level_out:.2} dBFS \
             (attenuated {attenuation:.2} dB)"
        );
        assert!(
            attenuation > ALIAS_MIN_ATTENUATION_DB,
            "{freq} Hz: only {attenuation} dB"
        );
    }
    // 3 kHz (in band) passes at unity gain.
    let pass = tone(3000.0, 48000, 0.5, 48000);
    let mut down = Resampler::new(48000, 8000).unwrap();
    let out = run(&mut down, &pass, 960);
    let diff = rms_dbfs(&pass) - rms_dbfs(&out[400..]);
    assert!(diff.abs() < 0.1, "3 kHz gain error {diff} dB");
}

#[test]
fn frame_by_frame_equals_one_shot() {
    let input = tone(1234.0, 8000, 0.7, 8000);
    let mut a = Resampler::new(8000, 48000).unwrap();
    let mut b = Resampler::new(8000, 48000).unwrap();
    let framed = run(&mut a, &input, 160);
    let whole = run(&mut b, &input, input.len());
    assert_eq!(framed, whole);

    let mut a = Resampler::new(48000, 8000).unwrap();
    let mut b = Resampler::new(48000, 8000).unwrap();
    let framed = run(&mut a, &whole, 960);
    let whole_down = run(&mut b, &whole, whole.len());
    assert_eq!(framed, whole_down);

    // Odd chunk sizes that do not divide the ratio still line up sample for sample.
    let mut c = Resampler::new(48000, 8000).unwrap();
    assert_eq!(run(&mut c, &whole, 7), whole_down);
    let mut d = Resampler::new(16000, 48000).unwrap();
    let mut e = Resampler::new(16000, 48000).unwrap();
    assert_eq!(run(&mut d, &input, 13), run(&mut e, &input, 320));
}
