//! Adaptive jitter buffer (sans-IO).
