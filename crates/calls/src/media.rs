//! The narrow media interface the B2BUA anchors calls with.

use std::net::SocketAddr;

use ringside_media::{MediaEngine, MediaError, Relay, Side};

/// A two-leg media bridge for one call.
pub trait MediaBridge: Send {
    /// The local RTP port that goes into the SDP sent to `side`.
    fn port(&self, side: Side) -> u16;
    /// The peer on `side` announced (in SDP) it receives RTP at `addr`.
    fn announce(&self, side: Side, addr: SocketAddr);
}

/// Creates media bridges.
pub trait MediaFactory: Send {
    /// Allocate ports and start a bridge.
    fn create(&mut self) -> Result<Box<dyn MediaBridge>, MediaError>;
}

impl MediaBridge for Relay {
    fn port(&self, side: Side) -> u16 {
        Relay::port(self, side)
    }
    fn announce(&self, side: Side, addr: SocketAddr) {
        Relay::announce(self, side, addr)
    }
}

impl MediaFactory for MediaEngine {
    fn create(&mut self) -> Result<Box<dyn MediaBridge>, MediaError> {
        Ok(Box::new(self.create_relay()?))
    }
}
