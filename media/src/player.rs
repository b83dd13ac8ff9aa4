//! Players: tones, prompts, hold music, sequences. (being written)
