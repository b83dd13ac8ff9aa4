//! DTMF telephone events (RFC 4733).
