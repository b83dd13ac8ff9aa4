//! The browser-calls port: how the control plane (a widget or console socket) starts,
//! accepts, controls and declines calls whose media runs in a browser. The calls crate's
//! gateway implements it over the WebRTC edge and the call core.

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;
use tokio::sync::mpsc;

/// A browser's request to call.
#[derive(Debug, Clone)]
pub struct BrowserCallRequest {
    /// The widget's tenant.
    pub tenant_id: String,
    /// The widget called from.
    pub widget_id: String,
    /// The calling visitor.
    pub visitor_id: String,
    /// A name the visitor gave (shown to the answering phones), may be empty.
    pub caller_name: String,
    /// The browser's SDP offer.
    pub offer: String,
}

/// What happens to a browser call, for the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallSignal {
    /// The call's record id.
    Started(String),
    /// A target rings.
    Ringing,
    /// Someone answered.
    Answered,
    /// Nobody answers; the unavailable message plays.
    Unavailable,
    /// Over, with a reason.
    Ended(String),
}

/// Control of a running browser call.
pub trait CallControl: Send + Sync {
    /// A trickled ICE candidate of the browser.
    fn candidate(&self, candidate: String, mid: Option<String>, mline: Option<u16>);
    /// The visitor hung up.
    fn hangup(&self);
    /// The visitor put the call on hold (`true`: the other side hears hold music) or resumed.
    fn hold(&self, on: bool);
}

/// A started browser call.
pub struct BrowserCallHandle {
    /// The SDP answer for the page.
    pub answer: String,
    /// The call's progress, ending with [`CallSignal::Ended`].
    pub signals: mpsc::UnboundedReceiver<CallSignal>,
    /// Hang up, trickle candidates.
    pub control: Box<dyn CallControl>,
}

/// Why a call could not start.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BrowserCallError {
    /// The offer is not usable (not SDP, no Opus audio).
    #[error("the offer cannot be answered: {0}")]
    BadOffer(String),
    /// Calls are not available on this server.
    #[error("calls are not available")]
    Unavailable,
}

/// Boxed future of [`BrowserCalls::start`].
pub type StartFuture =
    Pin<Box<dyn Future<Output = Result<BrowserCallHandle, BrowserCallError>> + Send>>;

/// The way from the control plane to the media edge and the call core.
pub trait BrowserCalls: Send + Sync {
    /// Answer the browser's offer and start ringing the widget's targets.
    fn start(&self, req: BrowserCallRequest) -> StartFuture;
    /// The visitor accepts the call `call_id` ringing its browser (a PBX dialled its channel
    /// number), with its offer in `req`.
    fn accept(&self, req: BrowserCallRequest, call_id: String) -> StartFuture;
    /// A console operator (`req.visitor_id` is the operator's user id, `req.widget_id` empty)
    /// answers the visitor's call `call_id` with its offer.
    fn console_accept(&self, req: BrowserCallRequest, call_id: String) -> StartFuture;
    /// The visitor declines the call `call_id` ringing its browser.
    fn decline(&self, req: BrowserCallRequest, call_id: String);
    /// STUN/TURN servers for the page (`RTCIceServer` dictionaries).
    fn ice_servers(&self) -> Value;
}
