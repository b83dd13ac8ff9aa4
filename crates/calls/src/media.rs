//! The narrow media interface the B2BUA anchors calls with, and its implementation on the
//! media engine (hold music from the shipped or uploaded assets, recordings to the data dir).

use std::net::SocketAddr;
use std::sync::Arc;

use ringside_media::bridge::BRIDGE_RATE;
use ringside_media::player::{AssetKind, Assets};
use ringside_media::{LegCodec, LegQuality, MediaEngine, MediaError, Relay, Side};
use tracing::warn;

use crate::recording::Recorder;

/// A two-leg media bridge for one call.
pub trait MediaBridge: Send {
    /// The local RTP port that goes into the SDP sent to `side`.
    fn port(&self, side: Side) -> u16;
    /// The peer on `side` announced (in SDP) it receives RTP at `addr`.
    fn announce(&self, side: Side, addr: SocketAddr);
    /// The codec `side` negotiated; different codecs on the two legs are transcoded.
    fn set_codec(&self, side: Side, codec: LegCodec);
    /// Start (`on`) or stop hold music towards `side`.
    fn hold_music(&self, side: Side, on: bool);
    /// Record the call (left: caller, right: callee) for `tenant_id`'s call `call_id`.
    fn start_recording(&mut self, call_id: &str, tenant_id: &str, started_at_ms: i64);
    /// Quality of both legs (caller, callee) so far.
    fn quality(&self) -> [LegQuality; 2];
}

/// Creates media bridges.
pub trait MediaFactory: Send {
    /// Allocate ports and start a bridge.
    fn create(&mut self) -> Result<Box<dyn MediaBridge>, MediaError>;
}

/// Media bridges on a [`MediaEngine`], with assets for hold music and an optional recorder.
#[derive(Clone)]
pub struct AnchoredMedia {
    engine: MediaEngine,
    assets: Arc<Assets>,
    recorder: Option<Recorder>,
}

impl AnchoredMedia {
    /// Bridges on `engine`; hold music from `assets`; recordings through `recorder`.
    pub fn new(engine: MediaEngine, assets: Arc<Assets>, recorder: Option<Recorder>) -> Self {
        AnchoredMedia {
            engine,
            assets,
            recorder,
        }
    }
}

struct AnchoredCall {
    relay: Relay,
    assets: Arc<Assets>,
    recorder: Option<Recorder>,
}

impl MediaBridge for AnchoredCall {
    fn port(&self, side: Side) -> u16 {
        self.relay.port(side)
    }
    fn announce(&self, side: Side, addr: SocketAddr) {
        self.relay.announce(side, addr)
    }
    fn set_codec(&self, side: Side, codec: LegCodec) {
        self.relay.set_codec(side, codec)
    }
    fn hold_music(&self, side: Side, on: bool) {
        if !on {
            return self.relay.stop_play(side);
        }
        match self.assets.player(AssetKind::HoldMusic, BRIDGE_RATE) {
            Ok(p) => self.relay.play(side, Box::new(p)),
            Err(e) => warn!(error = %e, "hold music unavailable"),
        }
    }
    fn start_recording(&mut self, call_id: &str, tenant_id: &str, started_at_ms: i64) {
        let Some(rec) = &self.recorder else { return };
        match rec.start(call_id, tenant_id, started_at_ms, BRIDGE_RATE) {
            Ok(sink) => self.relay.record(sink),
            Err(e) => warn!(error = %e, %call_id, "cannot start recording"),
        }
    }
    fn quality(&self) -> [LegQuality; 2] {
        self.relay.quality()
    }
}

impl MediaFactory for AnchoredMedia {
    fn create(&mut self) -> Result<Box<dyn MediaBridge>, MediaError> {
        Ok(Box::new(AnchoredCall {
            relay: self.engine.create_relay()?,
            assets: self.assets.clone(),
            recorder: self.recorder.clone(),
        }))
    }
}

impl MediaFactory for MediaEngine {
    fn create(&mut self) -> Result<Box<dyn MediaBridge>, MediaError> {
        Ok(Box::new(AnchoredCall {
            relay: self.create_relay()?,
            assets: Arc::new(Assets::new()),
            recorder: None,
        }))
    }
}
