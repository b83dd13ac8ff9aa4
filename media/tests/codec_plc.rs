//! Packet-loss concealment measured as audio: a tone through PCMU with seeded random loss.

use ringside_media::codec::analysis::{dominant_frequency, snr_db, tone};
use ringside_media::codec::{Law, Plc};

/// Minimum SNR asserted for the concealed signal (G.711 alone gives ~34 dB on this tone).
const PLC_MIN_SNR_DB: f64 = 25.0;
/// Minimum advantage asserted of concealment over filling lost frames with silence.
const PLC_MIN_GAIN_OVER_ZERO_FILL_DB: f64 = 10.0;

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

/// Sends `input` through PCMU in 20 ms frames, losing each with probability `loss`. Returns
/// (concealed output, zero-filled output, frames lost).
fn transmit(input: &[i16], loss: f64, seed: u64) -> (Vec<i16>, Vec<i16>, usize) {
    let mut rng = Lcg(seed);
    let mut plc = Plc::new();
    let mut codes = [0u8; 160];
    let mut frame = [0i16; 160];
    let (mut concealed, mut zero_filled) = (Vec::new(), Vec::new());
    let mut lost = 0;
    for chunk in input.chunks(160) {
        Law::Mu.encode(chunk, &mut codes).unwrap();
        if rng.next_f64() < loss {
            lost += 1;
            plc.conceal(&mut frame);
            concealed.extend_from_slice(&frame);
            zero_filled.extend_from_slice(&[0; 160]);
        } else {
            Law::Mu.decode(&codes, &mut frame).unwrap();
            zero_filled.extend_from_slice(&frame);
            plc.good_frame(&mut frame);
            concealed.extend_from_slice(&frame);
        }
    }
    (concealed, zero_filled, lost)
}

#[test]
fn concealment_beats_zero_fill_on_a_tone() {
    let input = tone(1000.0, 8000, 0.5, 80_000);
    let (concealed, zero_filled, lost) = transmit(&input, 0.05, 0x5EED);
    assert!(lost >= 10, "the seed must actually lose frames ({lost})");
    let snr_plc = snr_db(&input, &concealed);
    let snr_zero = snr_db(&input, &zero_filled);
    let f = dominant_frequency(&concealed, 8000);
    eprintln!(
        "PLC: 1 kHz -6 dBFS via PCMU, {lost}/500 frames lost: SNR concealed {snr_plc:.2} dB, \
         zero-filled {snr_zero:.2} dB, dominant {f:.2} Hz"
    );
    assert!(snr_plc > PLC_MIN_SNR_DB, "PLC SNR {snr_plc}");
    assert!(
        snr_plc > snr_zero + PLC_MIN_GAIN_OVER_ZERO_FILL_DB,
        "PLC {snr_plc} vs zero-fill {snr_zero}"
    );
    assert!((f - 1000.0).abs() < 10.0, "frequency {f}");
}

#[test]
fn burst_loss_fades_and_recovers_smoothly() {
    // A 150 Hz tone (pitch inside the searched range), 100 ms lost in one burst.
    let input = tone(150.0, 8000, 0.5, 8000);
    let mut plc = Plc::new();
    let mut out = Vec::new();
    let mut frame = [0i16; 160];
    for (i, chunk) in input.chunks(160).enumerate() {
        frame.copy_from_slice(chunk);
        if (20..25).contains(&i) {
            plc.conceal(&mut frame);
        } else {
            plc.good_frame(&mut frame);
        }
        out.extend_from_slice(&frame);
    }
    // First 10 ms of the burst continue the tone closely.
    let first = snr_db(&input[3200..3280], &out[3200..3280]);
    eprintln!("PLC: first 10 ms of a burst, 150 Hz tone: SNR {first:.2} dB");
    assert!(first > 20.0, "first 10 ms SNR {first}");
    // Muted after 60 ms of loss.
    assert!(out[3200 + 480..4000].iter().all(|&x| x == 0));
    // No step larger than the tone's own largest step at the return to real audio.
    let max_step = input.windows(2).map(|w| (w[1] - w[0]).abs()).max().unwrap();
    for w in out[3990..4100].windows(2) {
        assert!((w[1] - w[0]).abs() <= max_step + 50, "click at recovery");
    }
    assert!(snr_db(&input[4200..], &out[4200..]).is_infinite());
}
