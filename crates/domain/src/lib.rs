//! What Ringside's crates share: the one event bus, typed call values, and input checked the
//! same way where it is accepted (the API) and where it is used (the call core).
//!
//! ```text
//!   api ──► domain ◄── calls        (api knows neither calls nor media)
//! ```
//!
//! - [`bus`] — tenants' events (chat, visitors, calls) published once and delivered to the
//!   sockets subscribed to them: dashboards, visitors' widgets, console operators.
//! - [`call`] — a call's status, kind, hang-up side, leg roles and end reasons, as the call
//!   core decides them and storage keeps them (as their [`call::CallStatus::as_str`] text).
//! - [`net`], [`dial`], [`names`], [`credentials`] — validated newtypes: networks a trunk
//!   trusts, the numbers it may dial, host, user and display names, SIP password digests.
//! - [`browser`], [`channels`], [`console`] — the ports between the control plane and the
//!   call core: browser calls, visitors' channel numbers, console operators' availability.
//! - [`prompts`] — the prompt store port (tenants' prompts, kept by the media crate).
//! - [`limits`] — connection caps shared by the TCP listeners (HTTP and SIP over TCP).

pub mod browser;
pub mod bus;
pub mod call;
pub mod channels;
pub mod console;
pub mod credentials;
pub mod dial;
pub mod limits;
pub mod names;
pub mod net;
pub mod prompts;
pub mod srtp;
pub mod tls_pem;

pub use bus::{call_event_kind, Audience, Bus, Event};
pub use call::{CallKind, CallStatus, EndReason, HangupSide, LegRole};
pub use credentials::DigestHa1;
pub use dial::DestinationPatterns;
pub use names::{DisplayName, SipHost, SipUser};
pub use net::TrustedNet;
pub use srtp::SrtpPolicy;
