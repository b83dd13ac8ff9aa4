//! The transaction-user context: what every transaction user of the SIP core (registrar,
//! OPTIONS responder, B2BUA) shares. [`crate::core::SipCore`] owns it and lends it to the
//! B2BUA with each event, so the B2BUA never reaches back into the core.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rsip::{Request, Response};

use ringside_sip::dialog::LocalAddr;
use ringside_sip::registrar::RegistrarConfig;
use ringside_sip::transaction::{
    ClientTxId, Config as TxConfig, Peer, ServerTxId, TransactionLayer,
};

use crate::metrics::SipMetrics;
use crate::output::{BrowserSignal, CoreOutput};

/// Settings of the SIP core.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Our address in Via/Contact.
    pub local: LocalAddr,
    /// The address media is anchored on (goes into SDP c=).
    pub media_ip: IpAddr,
    /// Digest realm.
    pub realm: String,
    /// Secret signing nonces.
    pub nonce_secret: [u8; 32],
    /// Digest algorithms challenged with, in order.
    pub digest_algorithms: Vec<ringside_sip::auth::Algorithm>,
    /// How long callees ring before the caller gets 480.
    pub ring_timeout: Duration,
    /// Record every answered call.
    pub record_calls: bool,
    /// Answer a callee's 180 to the caller with 183 and Ringside's own ringback (early media)
    /// instead of relaying the 180 for the caller's phone to ring locally.
    pub ringback: bool,
    /// Registrar settings.
    pub registrar: RegistrarConfig,
    /// The SIP edge proxies (`RINGSIDE_SIP_TRUSTED_PROXIES`): when any, new requests over
    /// UDP, TCP and TLS are taken from them alone (403 otherwise), and the address their
    /// `X-Ringside-Peer` names stands for the caller's (trunk matching, digest throttling).
    pub trusted_proxies: Vec<ringside_domain::net::TrustedNet>,
    /// Transaction timers.
    pub tx: TxConfig,
}

/// What every transaction user of the core shares: its settings, the transaction layer, the
/// metrics, the queue of outputs for the driver and the wall-clock time of the event being
/// handled (the one clock records are stamped with; timers run on the driver's `Instant`).
pub(crate) struct Tu {
    pub(crate) cfg: CoreConfig,
    pub(crate) tx: TransactionLayer,
    pub(crate) metrics: Arc<SipMetrics>,
    pub(crate) out: VecDeque<CoreOutput>,
    pub(crate) now_ms: i64,
}

impl Tu {
    /// Respond on a server transaction, counting the code.
    pub(crate) fn respond(&mut self, now: Instant, id: ServerTxId, resp: Response) {
        self.metrics.response_out(resp.status_code.code());
        self.tx.respond(now, id, resp);
    }

    /// Send a request in a new client transaction, counting it.
    pub(crate) fn send_request(&mut self, now: Instant, req: Request, to: Peer) -> ClientTxId {
        self.metrics.request_out(&req.method.to_string());
        self.tx.send_request(now, req, to)
    }

    /// An event whose call is gone (`during` says which): logged and counted, and the caller
    /// drops the event. A logic error here must not take signalling down for every call.
    pub(crate) fn missing_call(&self, key: u64, during: &'static str) {
        self.metrics
            .missing_calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::error!(call_key = key, during, "call not found; event dropped");
    }

    /// Something for the browser of edge session `session`.
    pub(crate) fn browser_signal(&mut self, session: u64, signal: BrowserSignal) {
        self.out.push_back(CoreOutput::Browser { session, signal });
    }
}
