//! Ringside's SIP stack.
//!
//! ```text
//!   B2BUA / registrar (transaction users, in ringside-calls and `registrar`)
//!   ───────────────────────────────────────────────────────────────
//!   dialog      — Call-ID, tags, CSeq, route set
//!   transaction — RFC 3261 §17 client/server state machines (sans-IO)
//!   message     — rsip message model + helpers
//!   transport   — UDP datagrams, TCP Content-Length framing (sans-IO framer)
//!   locate      — RFC 3263 server location: NAPTR, SRV order, failover list
//! ```
//!
//! Everything that carries state is sans-IO: it takes `now: Instant` and inputs and
//! returns outputs plus its next deadline. Sockets and timers live in thin drivers.

pub mod auth;
pub mod dialog;
pub mod dual_stack;
pub mod hdr;
pub mod locate;
pub mod message;
pub mod registrar;
pub mod replaces;
pub mod sdp;
pub mod timer;
pub mod transaction;
pub mod transport;
pub mod uri;
