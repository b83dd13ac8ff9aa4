//! Players measured as audio: tone cadences and frequencies, WAV loading in many formats,
//! looping, sequencing, the shipped assets and robustness against bad input.

use std::io::Cursor;
use std::time::Duration;

use proptest::prelude::*;
use ringside_media::codec::analysis::{dominant_frequency, rms_dbfs, tone};
use ringside_media::player::{
    AssetKind, Assets, Cadence, Prompt, PromptError, PromptLimits, PromptPlayer, Sequence, Silence,
    Source, ToneGenerator,
};

/// Pulls `n` samples out of `src` in frames of `frame` samples (the media task's way).
fn pull(src: &mut impl Source, n: usize, frame: usize) -> Vec<i16> {
    let mut out = vec![0i16; n];
    for chunk in out.chunks_mut(frame) {
        assert_eq!(src.fill(chunk), chunk.len(), "source ended early");
    }
    out
}

/// Amplitude (peak, sample units) of the `freq` component of `x` by the Goertzel algorithm.
fn goertzel_amplitude(x: &[i16], freq: f64, rate: u32) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / f64::from(rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s = f64::from(v) + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power.max(0.0).sqrt() / x.len() as f64
}

fn db(a: f64, b: f64) -> f64 {
    20.0 * (a / b).log10()
}

/// Checks that `x` follows the on/off `pattern` (in samples) exactly: silent (all zero)
/// through every off period, and sounding through every on period — the first and last
/// non-zero samples of each burst sit within two samples of the burst's edges (a sum of
/// sines may legitimately round to zero for a sample or two).
fn assert_cadence(x: &[i16], rate: usize, pattern: &[(usize, usize)]) {
    let mut t = 0;
    'outer: loop {
        for &(on, off) in pattern {
            if t + on + off > x.len() {
                break 'outer;
            }
            let burst = &x[t..t + on];
            let first = burst.iter().position(|&v| v != 0).expect("silent burst");
            let last = burst.iter().rposition(|&v| v != 0).expect("silent burst");
            assert!(first <= 2, "burst at {t} starts late ({first})");
            assert!(last + 3 >= on, "burst at {t} ends early ({last} of {on})");
            // No dropout inside the burst: every 10 ms window (half the slowest beat
            // period of a dual tone) has energy.
            for w in burst.chunks(rate / 100) {
                assert!(rms_dbfs(w) > -40.0, "dropout in burst at {t}");
            }
            assert!(
                x[t + on..t + on + off].iter().all(|&v| v == 0),
                "noise in the gap after the burst at {t}"
            );
            t += on + off;
        }
    }
    assert!(t > 0, "signal shorter than one cadence cycle");
}

#[test]
fn us_ringback_is_440_plus_480_with_exact_2s_4s_cadence() {
    for rate in [8000u32, 48000] {
        let r = rate as usize;
        let mut g = ToneGenerator::new(&Cadence::us_ringback(), rate);
        let x = pull(&mut g, 13 * r, r / 50);
        assert!(!g.is_finished());
        assert_cadence(&x, r, &[(2 * r, 4 * r)]);
        // One second of the second burst: both components at the configured level (-19 dBFS
        // RMS each, i.e. a peak of 10^(-19/20)·√2 of full scale), nothing in between.
        let seg = &x[6 * r + r / 2..7 * r + r / 2];
        let expected = 32767.0 * 10f64.powf(-19.0 / 20.0) * 2f64.sqrt();
        for f in [440.0, 480.0] {
            let a = goertzel_amplitude(seg, f, rate);
            assert!(db(a, expected).abs() < 0.5, "{rate} Hz: {f} Hz at {a}");
        }
        for f in [350.0, 400.0, 460.0, 520.0, 620.0] {
            let a = goertzel_amplitude(seg, f, rate);
            assert!(db(a, expected) < -40.0, "{rate} Hz: stray {f} Hz at {a}");
        }
        // Two equal sines: the RMS reads the per-tone level + 3 dB.
        assert!((rms_dbfs(seg) - (-19.0 + 3.01)).abs() < 0.2);
    }
}

#[test]
fn eu_ringback_is_425hz_1s_on_4s_off() {
    for rate in [8000u32, 16000, 48000] {
        let r = rate as usize;
        let mut g = ToneGenerator::new(&Cadence::eu_ringback(), rate);
        let x = pull(&mut g, 11 * r, r / 50);
        assert_cadence(&x, r, &[(r, 4 * r)]);
        let f = dominant_frequency(&x[5 * r..6 * r], rate);
        assert!((f - 425.0).abs() < 0.5, "{rate} Hz: {f}");
        assert!((rms_dbfs(&x[5 * r..6 * r]) - (-16.0)).abs() < 0.2);
    }
}

#[test]
fn uk_ringback_double_burst_cadence() {
    let rate = 8000u32;
    let mut g = ToneGenerator::new(&Cadence::uk_ringback(), rate);
    let x = pull(&mut g, 3 * 3 * 8000, 160);
    assert_cadence(&x, 8000, &[(3200, 1600), (3200, 16000)]);
    let seg = &x[..3200];
    for f in [400.0, 450.0] {
        assert!(goertzel_amplitude(seg, f, rate) > 1000.0);
    }
}

#[test]
fn tone_is_phase_continuous_whatever_the_frame_size() {
    let cadence = Cadence::us_ringback();
    let mut whole = ToneGenerator::new(&cadence, 8000);
    let reference = pull(&mut whole, 60_000, 60_000);
    for frame in [1usize, 7, 160, 333, 960] {
        let mut g = ToneGenerator::new(&cadence, 8000);
        assert_eq!(pull(&mut g, 60_000, frame), reference, "frame {frame}");
    }
    // Continuous tone: no off periods, smooth sine (bounded sample-to-sample step).
    let mut c = ToneGenerator::new(&Cadence::continuous(&[1000.0], -10.0), 8000);
    let x = pull(&mut c, 8000, 160);
    assert!(x.iter().all(|&v| v != 0) || rms_dbfs(&x[..160]) > -15.0);
    assert!((dominant_frequency(&x, 8000) - 1000.0).abs() < 0.5);
    let peak = 32767.0 * 10f64.powf(-10.0 / 20.0) * 2f64.sqrt();
    let max_step = 2.0 * std::f64::consts::PI * 1000.0 / 8000.0 * peak + 2.0;
    assert!(x
        .windows(2)
        .all(|w| f64::from(w[1] - w[0]).abs() <= max_step));
}

/// A WAV of a `freq` tone (peak `amp`) lasting `secs`, in the given format, with every
/// channel carrying the tone (multiplied by `channel_gain[ch]`).
fn wav_tone(
    rate: u32,
    bits: u16,
    float: bool,
    channel_gain: &[f64],
    freq: f64,
    amp: f64,
    secs: f64,
) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: channel_gain.len() as u16,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: if float {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        },
    };
    let mut cursor = Cursor::new(Vec::new());
    {
        let mut w = hound::WavWriter::new(&mut cursor, spec).unwrap();
        let n = (secs * f64::from(rate)) as usize;
        let full = f64::from(1u32 << (bits - 1)) - 1.0;
        for i in 0..n {
            let v = amp * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin();
            for &g in channel_gain {
                if float {
                    w.write_sample((v * g) as f32).unwrap();
                } else {
                    w.write_sample((v * g * full).round() as i32).unwrap();
                }
            }
        }
        w.finalize().unwrap();
    }
    cursor.into_inner()
}

#[test]
fn stereo_24bit_44100_wav_loads_as_1khz_at_8000() {
    let wav = wav_tone(44100, 24, false, &[1.0, 1.0], 1000.0, 0.5, 1.0);
    let p = Prompt::from_wav_bytes(&wav, 8000).unwrap();
    assert_eq!(p.rate(), 8000);
    assert_eq!(p.len(), 8000);
    assert_eq!(p.duration(), Duration::from_secs(1));
    // Skip the filter's edge transients.
    let body = &p.samples()[400..7600];
    let f = dominant_frequency(body, 8000);
    assert!((f - 1000.0).abs() < 0.5, "{f}");
    let level = rms_dbfs(body);
    let expected = 20.0 * 0.5f64.log10() - 3.01;
    assert!((level - expected).abs() < 0.2, "{level} vs {expected}");
    // And a clean tone: everything but 1 kHz is far down.
    let reference = tone(1000.0, 8000, 0.5, 7200);
    let snr = ringside_media::codec::analysis::snr_db(&reference[100..7000], body);
    assert!(snr > 40.0, "snr {snr}");
}

#[test]
fn common_wav_formats_load_at_media_rates() {
    let cases: &[(u32, u16, bool, &[f64])] = &[
        (8000, 8, false, &[1.0]),
        (8000, 16, false, &[1.0]),
        (11025, 16, false, &[1.0]),
        (16000, 16, false, &[1.0, 1.0]),
        (22050, 32, true, &[1.0]),
        (32000, 24, false, &[1.0, 1.0, 1.0, 1.0, 1.0, 1.0]),
        (44100, 16, false, &[1.0, 1.0]),
        (48000, 32, false, &[1.0]),
        (48000, 32, true, &[1.0, 1.0]),
    ];
    for &(rate, bits, float, chans) in cases {
        let wav = wav_tone(rate, bits, float, chans, 1000.0, 0.5, 1.0);
        for target in [8000u32, 16000, 48000] {
            let p = Prompt::from_wav_bytes(&wav, target)
                .unwrap_or_else(|e| panic!("{rate} Hz {bits}-bit: {e}"));
            let t = target as usize;
            assert_eq!(p.len(), t, "{rate} -> {target}");
            let body = &p.samples()[t / 20..t - t / 20];
            let f = dominant_frequency(body, target);
            assert!((f - 1000.0).abs() < 0.5, "{rate} {bits} -> {target}: {f}");
            let level = rms_dbfs(body);
            // 8-bit input carries its own quantisation noise but the level still holds.
            assert!(
                (level + 9.03).abs() < 0.3,
                "{rate} {bits} -> {target}: {level}"
            );
        }
    }
}

#[test]
fn channels_are_averaged_to_mono() {
    // Left and right in antiphase cancel; one silent channel halves the level.
    let wav = wav_tone(16000, 16, false, &[1.0, -1.0], 1000.0, 0.5, 0.5);
    let p = Prompt::from_wav_bytes(&wav, 16000).unwrap();
    assert!(p.samples().iter().all(|&v| v.abs() <= 1));
    let wav = wav_tone(16000, 16, false, &[1.0, 0.0], 1000.0, 0.5, 0.5);
    let p = Prompt::from_wav_bytes(&wav, 16000).unwrap();
    assert!((rms_dbfs(p.samples()) - (20.0 * 0.25f64.log10() - 3.01)).abs() < 0.1);
}

#[test]
fn resampled_prompts_are_time_aligned() {
    // 0.25 s of silence then a tone: the onset must stay at 0.25 s after conversion
    // (filter delay compensated) on both the polyphase and the rubato paths.
    for from in [16000u32, 44100, 48000, 22050] {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: from,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut cursor = Cursor::new(Vec::new());
        {
            let mut w = hound::WavWriter::new(&mut cursor, spec).unwrap();
            let onset = from as usize / 4;
            let t = tone(500.0, from, 0.5, from as usize / 2);
            for i in 0..from as usize {
                let v = if i < onset {
                    0
                } else {
                    t[(i - onset) % t.len()]
                };
                w.write_sample(v).unwrap();
            }
            w.finalize().unwrap();
        }
        let wav = cursor.into_inner();
        for to in [8000u32, 48000] {
            let p = Prompt::from_wav_bytes(&wav, to).unwrap();
            let first = p.samples().iter().position(|&v| v.abs() > 3000).unwrap();
            let expected = to as usize / 4;
            let tolerance = to as usize / 1000; // 1 ms
            assert!(
                first >= expected && first <= expected + tolerance,
                "{from} -> {to}: onset at {first}, expected {expected}"
            );
        }
    }
}

#[test]
fn looped_prompt_wraps_without_discontinuity() {
    // 400 Hz at 8 kHz: exactly 20 samples per cycle, so the 1000-sample prompt is a whole
    // number of cycles and a seamless loop. 1000 is not a multiple of 160, so the wrap
    // falls inside a frame.
    let prompt = Prompt::from_samples(tone(400.0, 8000, 0.5, 1000), 8000);
    for frame in [160usize, 7, 1000, 2500] {
        let mut player = PromptPlayer::looped(&prompt);
        let out = pull(&mut player, 5000, frame);
        assert!(!player.is_finished());
        for (i, &v) in out.iter().enumerate() {
            assert_eq!(v, prompt.samples()[i % 1000], "frame {frame}, sample {i}");
        }
        let step_in_prompt = prompt
            .samples()
            .windows(2)
            .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
            .max()
            .unwrap();
        let step_out = out
            .windows(2)
            .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
            .max()
            .unwrap();
        assert!(step_out <= step_in_prompt, "click at the loop point");
        assert!((dominant_frequency(&out, 8000) - 400.0).abs() < 0.5);
    }
}

#[test]
fn once_player_finishes_with_a_short_fill() {
    let prompt = Prompt::from_samples(vec![7i16; 300], 8000);
    let mut p = PromptPlayer::once(&prompt);
    let mut buf = [0i16; 160];
    assert_eq!(p.fill(&mut buf), 160);
    assert!(!p.is_finished());
    assert_eq!(p.fill(&mut buf), 140);
    assert!(p.is_finished());
    assert!(buf[..140].iter().all(|&v| v == 7));
    assert_eq!(p.fill(&mut buf), 0);
    // An empty looped prompt must not spin.
    let mut e = PromptPlayer::looped(&Prompt::from_samples(Vec::new(), 8000));
    assert!(e.is_finished());
    assert_eq!(e.fill(&mut buf), 0);
}

#[test]
fn sequence_plays_sources_in_order() {
    let a = Prompt::from_samples(vec![100i16; 500], 8000);
    let b = Prompt::from_samples(vec![200i16; 250], 8000);
    let mut seq = Sequence::default()
        .then(Silence::new(Duration::from_millis(300), 8000))
        .then(PromptPlayer::once(&a))
        .then(Silence::samples(10))
        .then(PromptPlayer::once(&b))
        .then(Silence::new(Duration::from_millis(100), 8000));
    assert_eq!(seq.len(), 5);
    let total = 2400 + 500 + 10 + 250 + 800;
    let mut out = Vec::new();
    let mut buf = [0i16; 160];
    loop {
        let n = seq.fill(&mut buf);
        out.extend_from_slice(&buf[..n]);
        if n < buf.len() {
            break;
        }
    }
    assert!(seq.is_finished());
    assert_eq!(out.len(), total);
    let mut expected = vec![0i16; 2400];
    expected.extend(std::iter::repeat_n(100, 500));
    expected.extend(std::iter::repeat_n(0, 10));
    expected.extend(std::iter::repeat_n(200, 250));
    expected.extend(std::iter::repeat_n(0, 800));
    assert_eq!(out, expected);
    assert_eq!(seq.fill(&mut buf), 0);

    // A tone after silence: the sequence becomes infinite there.
    let mut seq = Sequence::new(vec![
        Box::new(Silence::samples(100)),
        Box::new(ToneGenerator::new(&Cadence::eu_ringback(), 8000)),
    ]);
    let x = pull(&mut seq, 8000, 160);
    assert!(x[..100].iter().all(|&v| v == 0));
    assert!(rms_dbfs(&x[100..]) > -20.0);
    assert!(!seq.is_finished());
}

#[test]
fn shipped_assets_load_at_media_rates_at_speech_level() {
    let assets = Assets::new();
    for kind in AssetKind::ALL {
        let mut lengths = Vec::new();
        for rate in [8000u32, 16000, 48000] {
            let p = assets.prompt(kind, rate).unwrap();
            assert_eq!(p.rate(), rate);
            let secs = p.duration().as_secs_f64();
            let (lo, hi) = if kind == AssetKind::HoldMusic {
                (10.0, 20.0)
            } else {
                (2.0, 10.0)
            };
            assert!(secs >= lo && secs <= hi, "{kind:?} at {rate}: {secs} s");
            let level = rms_dbfs(p.samples());
            assert!(
                level > -30.0 && level < -10.0,
                "{kind:?} at {rate}: {level} dBFS"
            );
            let peak = p.samples().iter().map(|v| v.unsigned_abs()).max().unwrap();
            assert!(peak < 32767, "{kind:?} clips");
            lengths.push(secs);
            // Cached: the same Arc comes back.
            assert!(std::sync::Arc::ptr_eq(
                &p,
                &assets.prompt(kind, rate).unwrap()
            ));
        }
        assert!(lengths.iter().all(|l| (l - lengths[0]).abs() < 0.01));
        assert!(kind.default_wav().len() < 400 * 1024);
    }
    // Hold music loops without a click: both ends are near silence.
    let music = assets.prompt(AssetKind::HoldMusic, 8000).unwrap();
    let s = music.samples();
    assert!(s[0].abs() < 300 && s[s.len() - 1].abs() < 300);
    assert!(rms_dbfs(&s[..4]) < -35.0 && rms_dbfs(&s[s.len() - 40..]) < -35.0);
    // Speech prompts have lead-in silence and speech in the middle.
    let p = assets.prompt(AssetKind::Unavailable, 8000).unwrap();
    assert!(rms_dbfs(&p.samples()[..800]) < -50.0);
    assert!(assets
        .player(AssetKind::HoldMusic, 8000)
        .unwrap()
        .is_looped());
    assert!(!assets
        .player(AssetKind::AcceptPrompt, 8000)
        .unwrap()
        .is_looped());
}

#[test]
fn overrides_replace_defaults_and_invalid_uploads_keep_them() {
    let assets = Assets::new();
    let default_len = assets.prompt(AssetKind::HoldMusic, 8000).unwrap().len();
    assert!(!assets.has_override(AssetKind::HoldMusic));

    let err = assets
        .set_override(AssetKind::HoldMusic, b"definitely not a wav file")
        .unwrap_err();
    assert!(matches!(err, PromptError::Malformed(_)), "{err:?}");
    assert!(!assets.has_override(AssetKind::HoldMusic));
    assert_eq!(
        assets.prompt(AssetKind::HoldMusic, 8000).unwrap().len(),
        default_len
    );

    let wav = wav_tone(22050, 16, false, &[1.0, 1.0], 600.0, 0.3, 2.0);
    assets.set_override(AssetKind::HoldMusic, &wav).unwrap();
    assert!(assets.has_override(AssetKind::HoldMusic));
    for rate in [8000u32, 16000, 48000] {
        let p = assets.prompt(AssetKind::HoldMusic, rate).unwrap();
        assert_eq!(p.len(), 2 * rate as usize);
        assert!((dominant_frequency(p.samples(), rate) - 600.0).abs() < 0.5);
    }
    // Other kinds are untouched.
    assert!(!assets.has_override(AssetKind::Unavailable));

    // A bad upload after a good one keeps the good one.
    let truncated = &wav[..wav.len() / 2];
    assert!(assets
        .set_override(AssetKind::HoldMusic, truncated)
        .is_err());
    assert_eq!(
        assets.prompt(AssetKind::HoldMusic, 8000).unwrap().len(),
        16000
    );

    assets.clear_override(AssetKind::HoldMusic);
    assert_eq!(
        assets.prompt(AssetKind::HoldMusic, 8000).unwrap().len(),
        default_len
    );

    // Override directory: present files replace defaults, absent ones keep them.
    let dir = std::env::temp_dir().join(format!("ringside-assets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("unavailable.wav"), &wav).unwrap();
    let from_dir = Assets::with_override_dir(&dir).unwrap();
    assert!(from_dir.has_override(AssetKind::Unavailable));
    assert!(!from_dir.has_override(AssetKind::AcceptPrompt));
    assert_eq!(
        from_dir
            .prompt(AssetKind::Unavailable, 16000)
            .unwrap()
            .len(),
        32000
    );
    std::fs::write(dir.join("accept_prompt.wav"), b"RIFF garbage").unwrap();
    assert!(Assets::with_override_dir(&dir).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn garbage_and_truncated_wavs_are_errors() {
    for bytes in [
        &b""[..],
        b"RIFF",
        b"RIFF\x24\x00\x00\x00WAVE",
        b"hello world, this is not audio at all",
        &[0u8; 64][..],
        &[0xffu8; 64][..],
    ] {
        assert!(Prompt::from_wav_bytes(bytes, 8000).is_err(), "{bytes:?}");
    }
    let wav = wav_tone(16000, 16, false, &[1.0], 1000.0, 0.5, 0.05);
    assert!(Prompt::from_wav_bytes(&wav, 8000).is_ok());
    for cut in 0..wav.len() {
        assert!(
            Prompt::from_wav_bytes(&wav[..cut], 8000).is_err(),
            "prefix of {cut} bytes accepted"
        );
    }
    // Well-formed but unsupported.
    let too_fast = wav_tone(96000, 16, false, &[1.0], 1000.0, 0.5, 0.01);
    assert!(matches!(
        Prompt::from_wav_bytes(&too_fast, 8000),
        Err(PromptError::Unsupported(_))
    ));
    let too_slow = wav_tone(4000, 16, false, &[1.0], 1000.0, 0.5, 0.1);
    assert!(matches!(
        Prompt::from_wav_bytes(&too_slow, 8000),
        Err(PromptError::Unsupported(_))
    ));
    assert!(matches!(
        Prompt::from_wav_bytes(&wav, 7000),
        Err(PromptError::UnsupportedTargetRate(7000))
    ));
    let empty = wav_tone(8000, 16, false, &[1.0], 1000.0, 0.5, 0.0);
    assert!(matches!(
        Prompt::from_wav_bytes(&empty, 8000),
        Err(PromptError::Empty)
    ));
    assert!(matches!(
        Prompt::from_wav_file("/nonexistent/ringside/prompt.wav", 8000),
        Err(PromptError::Io(_))
    ));
}

#[test]
fn size_and_duration_limits_are_enforced() {
    let wav = wav_tone(8000, 16, false, &[1.0], 1000.0, 0.5, 2.0);
    let small = PromptLimits {
        max_bytes: 1000,
        ..PromptLimits::default()
    };
    assert!(matches!(
        Prompt::from_wav_bytes_with_limits(&wav, 8000, &small),
        Err(PromptError::TooLarge { .. })
    ));
    let short = PromptLimits {
        max_duration: Duration::from_secs(1),
        ..PromptLimits::default()
    };
    assert!(matches!(
        Prompt::from_wav_bytes_with_limits(&wav, 8000, &short),
        Err(PromptError::TooLong { .. })
    ));
    // A header claiming hours of audio is rejected before anything is decoded.
    let mut lying = wav_tone(8000, 16, false, &[1.0], 1000.0, 0.5, 0.1);
    let data = lying.windows(4).position(|w| w == b"data").unwrap();
    lying[data + 4..data + 8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(Prompt::from_wav_bytes(&lying, 8000).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn from_wav_bytes_never_panics_on_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        rate in prop_oneof![Just(8000u32), Just(16000u32), Just(48000u32), 0u32..100_000],
    ) {
        let _ = Prompt::from_wav_bytes(&bytes, rate);
    }

    #[test]
    fn from_wav_bytes_never_panics_on_mutated_wavs(
        mutations in proptest::collection::vec((0usize..200, any::<u8>()), 1..8),
        cut in 0usize..1000,
    ) {
        let mut wav = wav_tone(11025, 16, false, &[1.0, 1.0], 1000.0, 0.5, 0.02);
        for (i, v) in mutations {
            if i < wav.len() {
                wav[i] = v;
            }
        }
        wav.truncate(wav.len().saturating_sub(cut % 64));
        let limits = PromptLimits { max_bytes: 1 << 20, max_duration: Duration::from_secs(5) };
        if let Ok(p) = Prompt::from_wav_bytes_with_limits(&wav, 8000, &limits) {
            prop_assert!(p.duration() <= Duration::from_secs(5));
        }
    }
}
