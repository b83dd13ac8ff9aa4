//! Fuzzes the WAV prompt loader (tenant uploads are untrusted): it must return errors, never
//! panic, hang or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringside_media::player::{Prompt, PromptLimits};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the target rate, so every conversion path gets exercised.
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let rate = [8000, 16000, 48000, 44100][usize::from(selector) % 4];
    // Keep runs fast: 30 s of audio at most.
    let limits = PromptLimits {
        max_bytes: 1 << 20,
        max_duration: std::time::Duration::from_secs(30),
    };
    if let Ok(prompt) = Prompt::from_wav_bytes_with_limits(bytes, rate, &limits) {
        assert_eq!(prompt.rate(), rate);
        assert!(prompt.duration() <= std::time::Duration::from_secs(31));
    }
});
