//! RTP/RTCP packets and per-leg statistics (RFC 3550).
//!
//! Everything here is sans-IO: parsers borrow the datagram ([`packet::RtpPacket`],
//! [`rtcp::RtcpPacket`]), writers fill a caller-provided buffer, and statistics take arrival
//! times as arguments instead of reading a clock.
//!
//! - [`packet`]: zero-copy RTP view, header writer and in-place header rewriting for a relay.
//! - [`rtcp`]: compound RTCP parsing (SR, RR, SDES, BYE) and SR/RR builders.
//! - [`stats`]: RFC 3550 A.1/A.3/A.8 receive statistics and report-block generation.
//! - [`rewriter`]: SSRC/sequence/timestamp rewriting that keeps a bridged stream continuous.
//! - [`ntp`]: 64-bit NTP timestamp helpers.

pub mod ntp;
pub mod packet;
pub mod rewriter;
pub mod rtcp;
pub mod stats;

pub use packet::{RtpError, RtpHeader, RtpPacket};
pub use rewriter::Rewriter;
pub use rtcp::{ReportBlock, RtcpError, RtcpPacket};
pub use stats::ReceiverStats;
