//! What the call core gives its driver ([`CoreOutput`]) and what a browser's call is told
//! ([`BrowserSignal`], [`BrowserRing`]). These types sit at the bottom of the crate: the core,
//! the B2BUA, the driver and the gateway all use them, and they use none of those.

use bytes::Bytes;

use ringside_sip::registrar::BindingChange;
use ringside_sip::transaction::Peer;
use ringside_storage::CallRecord;

/// Something for the driver to do.
#[derive(Debug)]
pub enum CoreOutput {
    /// Send bytes.
    Transmit {
        /// Destination.
        to: Peer,
        /// The serialized message.
        data: Bytes,
    },
    /// A registration binding changed.
    Binding(BindingChange),
    /// A new call record.
    InsertCall(CallRecord),
    /// A call record changed.
    UpdateCall(CallRecord),
    /// A call rings (or stopped ringing) a visitor's browser.
    BrowserRing(BrowserRing),
    /// Something for the browser caller of edge session `session`.
    Browser {
        /// The edge session.
        session: u64,
        /// What happened.
        signal: BrowserSignal,
    },
}

/// A call ringing a visitor's browser started (`ringing`) or stopped ringing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserRing {
    /// The call record id (what the page accepts or declines).
    pub call_id: String,
    /// The widget's tenant.
    pub tenant_id: String,
    /// The widget.
    pub widget_id: String,
    /// The visitor rung.
    pub visitor_id: String,
    /// Who calls (the From URI).
    pub from: String,
    /// Ringing now; `false`: it stopped (`reason`).
    pub ringing: bool,
    /// Why it stopped: `answered`, `declined`, `cancelled`, `no_answer`.
    pub reason: &'static str,
    /// For the console operators (a visitor's call offered to them), not for the visitor.
    pub console: bool,
}

/// What happens to a browser's call, for the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrowserSignal {
    /// Media is anchored: the edge session sends the browser's RTP to this relay port.
    Media {
        /// The relay's RTP port for leg A.
        port: u16,
        /// The call record id.
        call_id: String,
    },
    /// A target is ringing.
    Ringing,
    /// Someone answered.
    Answered,
    /// Nobody answers: the unavailable message is playing.
    Unavailable,
    /// Another browser took the call (a console operator answering a visitor): relay video
    /// between this session and edge session `peer`. SIP legs never get this (audio only).
    Video {
        /// The other browser's edge session.
        peer: u64,
    },
    /// The call is over.
    Ended {
        /// Why (`hangup`, `no_answer`, `unavailable`, `failed`).
        reason: &'static str,
    },
}
