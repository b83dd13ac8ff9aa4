//! Call orchestration: the B2BUA that joins Ringside's SIP stack, media core and storage.
//!
//! - [`core::SipCore`] — sans-IO transaction user: registrar, OPTIONS, B2BUA ([`b2bua`]).
//! - [`directory`] — in-memory extensions and trunks, kept current by the API.
//! - [`routing`] — pure routing decisions: who a new INVITE stands for, where it goes.
//! - [`driver`] — the thin tokio driver: sockets, the core task, the storage writer.
//! - [`clock`] — the one clock the driver reads (once per event) for the core and the writer.
//! - [`gateway`] — browser calls: the browser-calls port over the WebRTC edge and the core.
//! - [`metrics`] — lock-free counters for `/metrics`.
//! - [`tu`] — the transaction-user context the core lends the B2BUA with each event.
//! - [`output`] — what the core gives the driver and a browser's call is told (the bottom:
//!   it uses none of the modules above).
//! - [`fake_media`] — bridges that open no sockets, for simulated-time tests of the core.
//! - [`overload`] — new work refused with 503 at the transport while the core is behind.
//!
//! A call from an extension (digest-challenged with 407) or a trusted trunk to a registered
//! extension (or from an extension to an allowed PSTN number over an outbound trunk) becomes two
//! dialogs — leg A towards the caller, leg B towards the callee — with media anchored on a
//! Ringside relay.

pub mod b2bua;
pub mod clock;
pub mod codecs;
pub mod core;
pub mod directory;
pub mod driver;
pub mod events;
pub mod fake_media;
pub mod gateway;
pub mod media;
pub mod metrics;
pub mod output;
pub mod overload;
mod publish;
pub mod recording;
pub mod routing;
pub mod tu;

pub use ringside_media::Side;
