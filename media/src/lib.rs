//! Ringside's media core.
//!
//! This first cut anchors every call's media on Ringside: a [`relay::Relay`] owns two RTP/RTCP
//! socket pairs (one per leg) allocated from the configured port range by
//! [`ports::PortAllocator`], and forwards packets between the legs with symmetric-RTP latching
//! ([`latch::Latch`], sans-IO) so phones behind NAT work. Codecs, jitter buffer, players and
//! recording build on this in later work.
//!
//! ```text
//!   leg A remote ──► a.rtp ─┐          ┌─► b.rtp ──► leg B remote
//!                           │  Relay   │
//!   leg A remote ◄── a.rtp ◄┘          └── b.rtp ◄── leg B remote
//! ```
//!
//! Nothing here knows SIP, HTTP or the database.

pub mod bridge;
pub mod codec;
pub mod dtls;
pub mod dtmf;
pub mod fastpath;
pub mod jitter;
pub mod latch;
pub mod player;
pub mod ports;
pub mod relay;
pub mod rtp;
pub mod srtp;
pub mod udp;
pub mod webrtc;

pub use bridge::{CallMedia, FrameSink, LegCodec, LegQuality, MediaEvent};
pub use latch::Latch;
pub use ports::PortAllocator;
pub use relay::{MediaEngine, Relay, RelayStats, Side};

/// Errors from the media core.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// No free port pair is left in the configured range.
    #[error("no free RTP ports in the configured range")]
    PortsExhausted,
    /// A socket could not be created or configured.
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
    /// SRTP keys that cannot be used (wrong length, no crypto provider).
    #[error("SRTP: {0}")]
    Srtp(String),
}
