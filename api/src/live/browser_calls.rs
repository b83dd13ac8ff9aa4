//! Browser calls as the control plane sees them: the browser-calls port of ringside-domain
//! (implemented by the calls crate's gateway over the media edge and the call core), and the
//! widget socket's call signalling.
//!
//! Signalling runs on the visitor's widget socket (`/api/widgets/{widgetId}/ws`), so the call
//! is tied to the tenant by the widget id and key, to the visitor by `visitorId`, and the
//! page's Origin was checked against the widget's allowed domains when the socket opened.
//!
//! Page → Ringside:
//! - `{"type": "call.start", "sdp": "<offer>", "name": "<optional caller name>"}`
//! - `{"type": "call.candidate", "candidate": "candidate:...", "sdpMid": "0",
//!   "sdpMLineIndex": 0}` (trickle ICE; optional, Ringside is ICE-lite and learns the
//!   browser's address from its connectivity checks)
//! - `{"type": "call.hangup"}` (closing the socket hangs up too)
//! - `{"type": "call.hold"}` / `{"type": "call.resume"}`: the other side hears hold music
//!   meanwhile
//!
//! Ringside → page:
//! - `{"type": "call.answer", "sdp": "<answer>"}` (carries Ringside's host candidates)
//! - `{"type": "call.ringing"}`, `{"type": "call.answered"}`, `{"type": "call.unavailable"}`
//!   (nobody answers: the unavailable message is playing), `{"type": "call.ended",
//!   "reason": "hangup" | "no_answer" | "unavailable" | "cancelled" | "failed"}`
//! - `{"type": "call.error", "error": {"code", "message"}}` for a refused start (bad offer,
//!   a call already in progress on this socket, calls not available).
//!
//! Calls to the visitor (a trusted PBX dialled the visitor's channel number):
//! - Ringside → page: `{"type": "call.incoming", "callId", "from"}`, and
//!   `{"type": "call.incoming.stopped", "callId", "reason"}` when it stops ringing (answered
//!   here or in another tab, declined, cancelled by the PBX, timed out);
//! - page → Ringside: `{"type": "call.accept", "callId", "sdp": "<offer>"}` (then the same
//!   `call.answer`, `call.answered`, `call.ended` as above), or `{"type": "call.decline",
//!   "callId"}`.
//!
//! The `ready` message the socket starts with lists the STUN/TURN servers (`iceServers`) the
//! page should give its `RTCPeerConnection`, and the visitor's `channelNumber`.

pub use ringside_domain::browser::{
    BrowserCallError, BrowserCallHandle, BrowserCallRequest, BrowserCalls, CallControl, CallSignal,
    StartFuture,
};
