//! Media bridges that open no sockets, for the call core's simulated-time tests: ports are
//! counted out of a range, prompt lengths are the shipped prompts' own, and every request the
//! core makes of a bridge is logged so a test can check what would have been played.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringside_media::bridge::BRIDGE_RATE;
use ringside_media::dtls::DtlsSetup;
use ringside_media::player::{AssetKind, Assets};
use ringside_media::srtp::SrtpKeys;
use ringside_media::{LegCodec, LegQuality, MediaError, Side};

use crate::media::{MediaBridge, MediaFactory};

/// What the core asked of a bridge (`key` is the call's key given at creation).
#[derive(Debug, Clone, PartialEq)]
pub enum MediaRequest {
    /// A bridge was created for the call of `tenant_id`.
    Created {
        /// The call.
        key: u64,
        /// Its tenant.
        tenant_id: String,
    },
    /// The peer on `side` receives at `addr`.
    Announce(u64, Side, SocketAddr),
    /// `side` takes media from `addr` only (joined to another call's relay).
    Pin(u64, Side, SocketAddr),
    /// `side` negotiated `codec`.
    Codec(u64, Side, LegCodec),
    /// `side`'s SRTP keys (`None`: plain RTP).
    Srtp(u64, Side, Option<SrtpKeys>),
    /// `side` must be encrypted (keys to follow).
    ExpectSrtp(u64, Side),
    /// `side` is keyed by DTLS-SRTP as set up (`None`: no longer).
    Dtls(u64, Side, Option<DtlsSetup>),
    /// Hold music towards `side` on or off.
    HoldMusic(u64, Side, bool),
    /// Ringback towards `side` on or off.
    Ringback(u64, Side, bool),
    /// The unavailable message towards `side`.
    Unavailable(u64, Side),
    /// The PSTN accept prompt towards `side`.
    AcceptPrompt(u64, Side),
    /// Whatever played towards `side` stopped.
    StopPlay(u64, Side),
    /// Recording started.
    Recording(u64),
    /// The bridge was dropped (its ports would be free again).
    Dropped(u64),
}

/// A [`MediaFactory`] whose bridges open no sockets.
#[derive(Clone)]
pub struct FakeMedia {
    ports: RangeInclusive<u16>,
    next: u16,
    log: Arc<Mutex<Vec<MediaRequest>>>,
    assets: Arc<Assets>,
}

impl FakeMedia {
    /// Bridges whose ports (a pair each) are counted out of `ports`, starting over at its
    /// start when it is used up.
    pub fn new(ports: RangeInclusive<u16>) -> FakeMedia {
        FakeMedia {
            next: *ports.start(),
            ports,
            log: Arc::default(),
            assets: Arc::new(Assets::new()),
        }
    }

    /// Everything asked of the bridges so far, in order.
    pub fn requests(&self) -> Vec<MediaRequest> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Bridges created and not dropped yet.
    pub fn live(&self) -> usize {
        let log = self.requests();
        let created = log
            .iter()
            .filter(|r| matches!(r, MediaRequest::Created { .. }))
            .count();
        let dropped = log
            .iter()
            .filter(|r| matches!(r, MediaRequest::Dropped(_)))
            .count();
        created - dropped
    }
}

impl MediaFactory for FakeMedia {
    fn create(&mut self, tenant_id: &str, key: u64) -> Result<Box<dyn MediaBridge>, MediaError> {
        if self.next.saturating_add(1) > *self.ports.end() {
            self.next = *self.ports.start();
        }
        let port = self.next;
        self.next += 2;
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(MediaRequest::Created {
                key,
                tenant_id: tenant_id.to_string(),
            });
        Ok(Box::new(FakeBridge {
            key,
            port,
            log: self.log.clone(),
            assets: self.assets.clone(),
        }))
    }
}

struct FakeBridge {
    key: u64,
    port: u16,
    log: Arc<Mutex<Vec<MediaRequest>>>,
    assets: Arc<Assets>,
}

impl FakeBridge {
    fn push(&self, r: MediaRequest) {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).push(r);
    }

    fn length(&self, kind: AssetKind) -> Duration {
        self.assets
            .prompt(kind, BRIDGE_RATE)
            .map(|p| p.duration())
            .unwrap_or_default()
    }
}

impl MediaBridge for FakeBridge {
    fn port(&self, side: Side) -> u16 {
        match side {
            Side::A => self.port,
            Side::B => self.port + 1,
        }
    }
    fn announce(&self, side: Side, addr: SocketAddr) {
        self.push(MediaRequest::Announce(self.key, side, addr));
    }
    fn pin(&self, side: Side, addr: SocketAddr) {
        self.push(MediaRequest::Pin(self.key, side, addr));
    }
    fn set_codec(&self, side: Side, codec: LegCodec) {
        self.push(MediaRequest::Codec(self.key, side, codec));
    }
    fn set_srtp(&self, side: Side, keys: Option<SrtpKeys>) {
        self.push(MediaRequest::Srtp(self.key, side, keys));
    }
    fn expect_srtp(&self, side: Side) {
        self.push(MediaRequest::ExpectSrtp(self.key, side));
    }
    fn set_dtls(&self, side: Side, setup: Option<DtlsSetup>) {
        self.push(MediaRequest::Dtls(self.key, side, setup));
    }
    fn hold_music(&self, side: Side, on: bool) {
        self.push(MediaRequest::HoldMusic(self.key, side, on));
    }
    fn ringback(&self, side: Side, on: bool) {
        self.push(MediaRequest::Ringback(self.key, side, on));
    }
    fn unavailable(&self, side: Side) -> Duration {
        self.push(MediaRequest::Unavailable(self.key, side));
        self.length(AssetKind::Unavailable)
    }
    fn accept_prompt(&self, side: Side) -> Duration {
        self.push(MediaRequest::AcceptPrompt(self.key, side));
        self.length(AssetKind::AcceptPrompt)
    }
    fn stop_play(&self, side: Side) {
        self.push(MediaRequest::StopPlay(self.key, side));
    }
    fn start_recording(&mut self, _call_id: &str, _tenant_id: &str, _started_at_ms: i64) {
        self.push(MediaRequest::Recording(self.key));
    }
    fn quality(&self) -> [LegQuality; 2] {
        [LegQuality::default(); 2]
    }
}

impl Drop for FakeBridge {
    fn drop(&mut self) {
        self.push(MediaRequest::Dropped(self.key));
    }
}
