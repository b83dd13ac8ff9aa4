//! What Ringside's crates share: the one event bus and typed call values.
//!
//! ```text
//!   api ──► domain ◄── calls        (api knows neither calls nor media)
//! ```
//!
//! - [`bus`] — tenants' events (chat, visitors, calls) published once and delivered to the
//!   sockets subscribed to them: dashboards, visitors' widgets, console operators.
//! - [`call`] — a call's status, kind, hang-up side, leg roles and end reasons, as the call
//!   core decides them and storage keeps them (as their [`call::CallStatus::as_str`] text).

pub mod bus;
pub mod call;

pub use bus::{call_event_kind, Audience, Bus, Event};
pub use call::{CallKind, CallStatus, EndReason, HangupSide, LegRole};
