//! Opus over libopus (audiopus). (being written)
