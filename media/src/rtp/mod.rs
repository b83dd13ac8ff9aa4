//! RTP/RTCP packets and per-leg statistics (RFC 3550).
