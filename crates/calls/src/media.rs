//! The narrow media interface the B2BUA anchors calls with, and its implementation on the
//! media engine (hold music from the shipped or the call's tenant's uploaded assets, recordings
//! to the data dir).

use std::net::SocketAddr;
use std::sync::Arc;

use ringside_media::bridge::BRIDGE_RATE;
use ringside_media::dtls::DtlsSetup;
use ringside_media::player::{AssetKind, AssetRegistry, Assets, Cadence, ToneGenerator};
use ringside_media::srtp::SrtpKeys;
use ringside_media::{LegCodec, LegQuality, MediaEngine, MediaError, Relay, Side};
use tracing::warn;

use crate::recording::Recorder;

/// A two-leg media bridge for one call.
pub trait MediaBridge: Send {
    /// The local RTP port that goes into the SDP sent to `side`.
    fn port(&self, side: Side) -> u16;
    /// The peer on `side` announced (in SDP) it receives RTP at `addr`.
    fn announce(&self, side: Side, addr: SocketAddr);
    /// `side` exchanges media with `addr` only, from now on: no latching on another source
    /// (another call's relay joined to this one).
    fn pin(&self, side: Side, addr: SocketAddr);
    /// The codec `side` negotiated; different codecs on the two legs are transcoded.
    fn set_codec(&self, side: Side, codec: LegCodec);
    /// SRTP keys of `side` (`None`: plain RTP).
    fn set_srtp(&self, side: Side, keys: Option<SrtpKeys>);
    /// `side` must be encrypted: nothing it sends is used until its keys are set.
    fn expect_srtp(&self, side: Side);
    /// `side` is keyed by a DTLS-SRTP handshake on its ports (`None`: no longer).
    fn set_dtls(&self, side: Side, setup: Option<DtlsSetup>);
    /// Start (`on`) or stop hold music towards `side`.
    fn hold_music(&self, side: Side, on: bool);
    /// Start (`on`) or stop generated ringback towards `side`.
    fn ringback(&self, side: Side, on: bool);
    /// Play the unavailable message once towards `side`; returns how long it plays.
    fn unavailable(&self, side: Side) -> std::time::Duration;
    /// Play the PSTN accept prompt ("... press 1 to accept") towards `side`, repeated;
    /// returns the length of one playing.
    fn accept_prompt(&self, side: Side) -> std::time::Duration;
    /// Stop whatever plays towards `side`.
    fn stop_play(&self, side: Side);
    /// Record the call (left: caller, right: callee) for `tenant_id`'s call `call_id`.
    fn start_recording(&mut self, call_id: &str, tenant_id: &str, started_at_ms: i64);
    /// Quality of both legs (caller, callee) so far.
    fn quality(&self) -> [LegQuality; 2];
}

/// Creates media bridges.
pub trait MediaFactory: Send {
    /// Allocate ports and start a bridge for call `key` of `tenant_id` (whose prompts and hold
    /// music it plays); its media events (DTMF) are reported with `key`.
    fn create(&mut self, tenant_id: &str, key: u64) -> Result<Box<dyn MediaBridge>, MediaError>;

    /// As [`Self::create`] for a call of `widget_id`: the widget's uploads win over the
    /// tenant's.
    fn create_for_widget(
        &mut self,
        tenant_id: &str,
        widget_id: &str,
        key: u64,
    ) -> Result<Box<dyn MediaBridge>, MediaError> {
        let _ = widget_id;
        self.create(tenant_id, key)
    }
}

/// Media bridges on a [`MediaEngine`], with per-tenant assets for hold music and an optional
/// recorder.
#[derive(Clone)]
pub struct AnchoredMedia {
    engine: MediaEngine,
    assets: Arc<AssetRegistry>,
    recorder: Option<Recorder>,
    ringback: Cadence,
    events: Option<tokio::sync::mpsc::UnboundedSender<(u64, ringside_media::MediaEvent)>>,
    widget_assets: Option<Arc<AssetRegistry>>,
}

impl AnchoredMedia {
    /// Bridges on `engine`; hold music from the call's tenant's assets in `assets`;
    /// recordings through `recorder`.
    pub fn new(
        engine: MediaEngine,
        assets: Arc<AssetRegistry>,
        recorder: Option<Recorder>,
    ) -> Self {
        AnchoredMedia {
            engine,
            assets,
            recorder,
            ringback: Cadence::us_ringback(),
            events: None,
            widget_assets: None,
        }
    }

    /// Widgets' own uploads (keyed by widget id), preferred over their tenant's.
    pub fn with_widget_assets(mut self, registry: Arc<AssetRegistry>) -> Self {
        self.widget_assets = Some(registry);
        self
    }

    /// Report every bridge's media events (DTMF, prompts finished) on `events`, tagged with
    /// the call's key.
    pub fn with_events(
        mut self,
        events: tokio::sync::mpsc::UnboundedSender<(u64, ringside_media::MediaEvent)>,
    ) -> Self {
        self.events = Some(events);
        self
    }

    /// The ringback cadence played when Ringside generates ringback (default US).
    pub fn with_ringback(mut self, cadence: Cadence) -> Self {
        self.ringback = cadence;
        self
    }
}

struct AnchoredCall {
    relay: Relay,
    assets: Arc<Assets>,
    /// The call's widget's uploads, preferred over `assets` kind by kind.
    widget: Option<Arc<Assets>>,
    recorder: Option<Recorder>,
    ringback: Cadence,
}

impl AnchoredCall {
    /// The assets to play `kind` from: the widget's upload, else the tenant's (or default).
    fn source(&self, kind: AssetKind) -> &Assets {
        match &self.widget {
            Some(w) if w.has_override(kind) => w,
            _ => &self.assets,
        }
    }
}

impl MediaBridge for AnchoredCall {
    fn port(&self, side: Side) -> u16 {
        self.relay.port(side)
    }
    fn announce(&self, side: Side, addr: SocketAddr) {
        self.relay.announce(side, addr)
    }
    fn pin(&self, side: Side, addr: SocketAddr) {
        self.relay.pin(side, addr)
    }
    fn set_codec(&self, side: Side, codec: LegCodec) {
        self.relay.set_codec(side, codec)
    }
    fn set_srtp(&self, side: Side, keys: Option<SrtpKeys>) {
        self.relay.set_srtp(side, keys)
    }
    fn set_dtls(&self, side: Side, setup: Option<DtlsSetup>) {
        self.relay.set_dtls(side, setup)
    }
    fn expect_srtp(&self, side: Side) {
        self.relay.expect_srtp(side)
    }
    fn hold_music(&self, side: Side, on: bool) {
        if !on {
            return self.relay.stop_play(side);
        }
        match self
            .source(AssetKind::HoldMusic)
            .player(AssetKind::HoldMusic, BRIDGE_RATE)
        {
            Ok(p) => self.relay.play(side, Box::new(p)),
            Err(e) => warn!(error = %e, "hold music unavailable"),
        }
    }
    fn ringback(&self, side: Side, on: bool) {
        let uploaded = self
            .widget
            .as_ref()
            .is_some_and(|w| w.has_override(AssetKind::Ringtone))
            || self.assets.effective_wav(AssetKind::Ringtone).is_some();
        if on && uploaded {
            // The widget's (or tenant's) own ringtone, looped.
            match self
                .source(AssetKind::Ringtone)
                .player(AssetKind::Ringtone, BRIDGE_RATE)
            {
                Ok(p) => return self.relay.play(side, Box::new(p)),
                Err(e) => warn!(error = %e, "ringtone unavailable: generated ringback instead"),
            }
        }
        if on {
            let tone = ToneGenerator::new(&self.ringback, BRIDGE_RATE);
            self.relay.play(side, Box::new(tone));
        } else {
            self.relay.stop_play(side);
        }
    }
    fn unavailable(&self, side: Side) -> std::time::Duration {
        let src = self.source(AssetKind::Unavailable);
        let prompt = src.prompt(AssetKind::Unavailable, BRIDGE_RATE);
        match (prompt, src.player(AssetKind::Unavailable, BRIDGE_RATE)) {
            (Ok(p), Ok(player)) => {
                self.relay.play(side, Box::new(player));
                p.duration()
            }
            (Err(e), _) | (_, Err(e)) => {
                warn!(error = %e, "unavailable message missing");
                std::time::Duration::ZERO
            }
        }
    }
    fn accept_prompt(&self, side: Side) -> std::time::Duration {
        match self
            .source(AssetKind::AcceptPrompt)
            .prompt(AssetKind::AcceptPrompt, BRIDGE_RATE)
        {
            Ok(p) => {
                let player = ringside_media::player::PromptPlayer::new(&p, true);
                self.relay.play(side, Box::new(player));
                p.duration()
            }
            Err(e) => {
                warn!(error = %e, "accept prompt missing");
                std::time::Duration::ZERO
            }
        }
    }
    fn stop_play(&self, side: Side) {
        self.relay.stop_play(side);
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

impl AnchoredMedia {
    /// A bridge for a call of `tenant_id`, playing that tenant's assets.
    fn call(&self, tenant_id: &str, key: u64) -> Result<AnchoredCall, MediaError> {
        self.call_for(tenant_id, None, key)
    }

    fn call_for(
        &self,
        tenant_id: &str,
        widget_id: Option<&str>,
        key: u64,
    ) -> Result<AnchoredCall, MediaError> {
        let relay = match &self.events {
            Some(tx) => self.engine.create_relay_tagged(tx.clone(), key)?,
            None => self.engine.create_relay()?,
        };
        Ok(AnchoredCall {
            relay,
            assets: self.assets.for_tenant(tenant_id),
            widget: widget_id.and_then(|w| self.widget_assets.as_ref().map(|r| r.for_tenant(w))),
            recorder: self.recorder.clone(),
            ringback: self.ringback.clone(),
        })
    }
}

impl MediaFactory for AnchoredMedia {
    fn create(&mut self, tenant_id: &str, key: u64) -> Result<Box<dyn MediaBridge>, MediaError> {
        Ok(Box::new(self.call(tenant_id, key)?))
    }
    fn create_for_widget(
        &mut self,
        tenant_id: &str,
        widget_id: &str,
        key: u64,
    ) -> Result<Box<dyn MediaBridge>, MediaError> {
        Ok(Box::new(self.call_for(tenant_id, Some(widget_id), key)?))
    }
}

/// Bridges with the built-in assets for every tenant and no recording (tests, tools).
impl MediaFactory for MediaEngine {
    fn create(&mut self, _tenant_id: &str, _key: u64) -> Result<Box<dyn MediaBridge>, MediaError> {
        Ok(Box::new(AnchoredCall {
            relay: self.create_relay()?,
            assets: Arc::new(Assets::new()),
            widget: None,
            recorder: None,
            ringback: Cadence::us_ringback(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mono 16-bit WAV at 8 kHz lasting `ms` milliseconds.
    fn wav(ms: u32) -> Vec<u8> {
        let n = 8 * ms;
        let mut out = Vec::new();
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&(36 + n * 2).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
        out.extend_from_slice(&1u16.to_le_bytes()); // PCM
        out.extend_from_slice(&1u16.to_le_bytes()); // mono
        out.extend_from_slice(&8000u32.to_le_bytes()); // sample rate
        out.extend_from_slice(&16000u32.to_le_bytes()); // byte rate
        out.extend_from_slice(&2u16.to_le_bytes()); // block align
        out.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
        out.extend_from_slice(b"data");
        out.extend_from_slice(&(n * 2).to_le_bytes());
        for i in 0..n {
            let v: i16 = if (i / 20) % 2 == 0 { 1000 } else { -1000 };
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    #[tokio::test]
    async fn each_call_plays_its_tenants_hold_music() {
        let root = std::env::temp_dir().join(format!(
            "ringside-calls-prompts-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let registry = Arc::new(AssetRegistry::new(root.clone(), Arc::new(Assets::new())));
        registry
            .set("tenant-a", AssetKind::HoldMusic, &wav(500))
            .unwrap();
        let media = AnchoredMedia::new(
            MediaEngine::new("127.0.0.1".parse().unwrap(), 47300..=47399),
            registry,
            None,
        );
        let a = media.call("tenant-a", 1).unwrap();
        let b = media.call("tenant-b", 2).unwrap();
        let hold_a = a.assets.prompt(AssetKind::HoldMusic, BRIDGE_RATE).unwrap();
        let hold_b = b.assets.prompt(AssetKind::HoldMusic, BRIDGE_RATE).unwrap();
        assert_eq!(
            hold_a.len() as u64,
            u64::from(BRIDGE_RATE) / 2,
            "tenant-a's upload"
        );
        let default = Assets::new()
            .prompt(AssetKind::HoldMusic, BRIDGE_RATE)
            .unwrap();
        assert_eq!(hold_b.len(), default.len(), "tenant-b keeps the default");
        drop((a, b));
        // A widget's upload wins over its tenant's, kind by kind.
        let wroot = root.join("widgets");
        let widgets = Arc::new(AssetRegistry::new(wroot, Arc::new(Assets::new())));
        widgets
            .set("widget-1", AssetKind::Unavailable, &wav(250))
            .unwrap();
        let media = media.with_widget_assets(widgets);
        let w = media.call_for("tenant-a", Some("widget-1"), 3).unwrap();
        assert_eq!(
            w.unavailable(Side::B),
            std::time::Duration::from_millis(250),
            "the widget's unavailable message"
        );
        let held = w
            .source(AssetKind::HoldMusic)
            .prompt(AssetKind::HoldMusic, BRIDGE_RATE);
        assert_eq!(
            held.unwrap().len() as u64,
            u64::from(BRIDGE_RATE) / 2,
            "hold music still the tenant's"
        );
        let plain = media.call_for("tenant-a", Some("widget-2"), 4).unwrap();
        assert!(
            plain.unavailable(Side::B) > std::time::Duration::from_secs(5),
            "default"
        );
        drop((w, plain));
        let _ = std::fs::remove_dir_all(root);
    }
}
