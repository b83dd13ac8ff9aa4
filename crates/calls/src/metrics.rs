//! Counters of the SIP core, shared lock-free with the `/metrics` endpoint.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use ringside_sip::hdr::KNOWN_METHODS;

/// Counter slots: every known method, then one for anything else.
const SLOTS: usize = KNOWN_METHODS.len() + 1;

fn method_idx(m: &str) -> usize {
    KNOWN_METHODS
        .iter()
        .position(|x| *x == m)
        .unwrap_or(KNOWN_METHODS.len())
}

fn method_name(i: usize) -> &'static str {
    KNOWN_METHODS.get(i).copied().unwrap_or("OTHER")
}

fn zeros<const N: usize>() -> [AtomicU64; N] {
    std::array::from_fn(|_| AtomicU64::new(0))
}

/// All SIP-side counters and gauges.
#[derive(Debug)]
pub struct SipMetrics {
    requests_in: [AtomicU64; SLOTS],
    requests_out: [AtomicU64; SLOTS],
    responses_in: [AtomicU64; 600],
    responses_out: [AtomicU64; 600],
    /// Datagrams or stream messages that could not be parsed (answered 400 or dropped).
    pub malformed: AtomicU64,
    /// Malformed messages that could only be dropped.
    pub malformed_dropped: AtomicU64,
    /// Extensions in the core's directory.
    pub directory_extensions: AtomicU64,
    /// Trunks in the core's directory.
    pub directory_trunks: AtomicU64,
    /// Server transactions alive.
    pub server_transactions: AtomicU64,
    /// Client transactions alive.
    pub client_transactions: AtomicU64,
    /// Registered bindings.
    pub registrations: AtomicU64,
    /// Calls in progress.
    pub active_calls: AtomicU64,
    /// Calls ever started.
    pub calls_total: AtomicU64,
    /// Retransmissions sent by the transaction layer.
    pub retransmissions: AtomicU64,
    /// Authentication failures (403 for bad credentials).
    pub auth_failures: AtomicU64,
    /// New requests refused (403) for not coming through a trusted SIP edge proxy.
    pub untrusted_source: AtomicU64,
    /// DTMF digits received in SIP INFO (application/dtmf-relay).
    pub dtmf_info: AtomicU64,
    /// Offers that crossed on a dialog, answered 491 (RFC 3261 14.2).
    pub glare: AtomicU64,
    /// Stray INVITE 2xx responses dropped over the per-second budget.
    pub stray_dropped: AtomicU64,
    /// Call records that could not be written even after retries.
    pub record_write_failures: AtomicU64,
    /// Call record writes that failed once and were retried.
    pub record_write_retries: AtomicU64,
    /// Events for a call that was not there when the core looked it up (logic errors,
    /// logged and dropped instead of taking signalling down).
    pub missing_calls: AtomicU64,
    /// Requests refused with 503 at the transport because the core was behind.
    pub overload_rejected: AtomicU64,
    /// Messages waiting for the core now (sampled as they arrive).
    pub inbound_queue: AtomicU64,
    /// TLS handshakes that failed on connections peers opened to us.
    pub tls_inbound_failures: AtomicU64,
    /// TLS connections we opened that were refused: the peer's certificate did not verify
    /// (wrong name, unknown CA, expired), the handshake failed, or it could not be reached.
    pub tls_outbound_failures: AtomicU64,
    /// SIP WebSocket connections open now.
    pub ws_connections: AtomicU64,
    /// SIP WebSocket upgrades refused (a foreign Origin, no `sip` subprotocol).
    pub ws_refused: AtomicU64,
}

impl Default for SipMetrics {
    fn default() -> Self {
        SipMetrics {
            requests_in: zeros(),
            requests_out: zeros(),
            responses_in: zeros(),
            responses_out: zeros(),
            malformed: AtomicU64::new(0),
            malformed_dropped: AtomicU64::new(0),
            directory_extensions: AtomicU64::new(0),
            directory_trunks: AtomicU64::new(0),
            server_transactions: AtomicU64::new(0),
            client_transactions: AtomicU64::new(0),
            registrations: AtomicU64::new(0),
            active_calls: AtomicU64::new(0),
            calls_total: AtomicU64::new(0),
            retransmissions: AtomicU64::new(0),
            auth_failures: AtomicU64::new(0),
            untrusted_source: AtomicU64::new(0),
            dtmf_info: AtomicU64::new(0),
            glare: AtomicU64::new(0),
            stray_dropped: AtomicU64::new(0),
            record_write_failures: AtomicU64::new(0),
            record_write_retries: AtomicU64::new(0),
            missing_calls: AtomicU64::new(0),
            overload_rejected: AtomicU64::new(0),
            inbound_queue: AtomicU64::new(0),
            tls_inbound_failures: AtomicU64::new(0),
            tls_outbound_failures: AtomicU64::new(0),
            ws_connections: AtomicU64::new(0),
            ws_refused: AtomicU64::new(0),
        }
    }
}

fn bump(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}

impl SipMetrics {
    /// Count a received request.
    pub fn request_in(&self, method: &str) {
        bump(&self.requests_in[method_idx(method)]);
    }
    /// Count a sent request.
    pub fn request_out(&self, method: &str) {
        bump(&self.requests_out[method_idx(method)]);
    }
    /// Count a received response.
    pub fn response_in(&self, code: u16) {
        if (100..700).contains(&code) {
            bump(&self.responses_in[usize::from(code - 100)]);
        }
    }
    /// Count a sent response.
    pub fn response_out(&self, code: u16) {
        if (100..700).contains(&code) {
            bump(&self.responses_out[usize::from(code - 100)]);
        }
    }

    /// Sent responses with this code (tests read it).
    pub fn responses_sent(&self, code: u16) -> u64 {
        self.responses_out[usize::from(code - 100)].load(Ordering::Relaxed)
    }

    /// Render in Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        out.push_str("# HELP ringside_sip_requests_total SIP requests by method and direction.\n# TYPE ringside_sip_requests_total counter\n");
        for (dir, arr) in [("in", &self.requests_in), ("out", &self.requests_out)] {
            for (i, a) in arr.iter().enumerate() {
                let (m, v) = (method_name(i), g(a));
                if v > 0 {
                    let _ = writeln!(
                        out,
                        "ringside_sip_requests_total{{method=\"{m}\",direction=\"{dir}\"}} {v}"
                    );
                }
            }
        }
        out.push_str("# HELP ringside_sip_responses_total SIP responses by status code and direction.\n# TYPE ringside_sip_responses_total counter\n");
        for (dir, arr) in [("in", &self.responses_in), ("out", &self.responses_out)] {
            for (i, a) in arr.iter().enumerate() {
                let v = g(a);
                if v > 0 {
                    let _ = writeln!(
                        out,
                        "ringside_sip_responses_total{{code=\"{}\",direction=\"{dir}\"}} {v}",
                        i + 100
                    );
                }
            }
        }
        for (name, help, kind, v) in [
            (
                "ringside_sip_malformed_total",
                "Malformed SIP messages received.",
                "counter",
                g(&self.malformed),
            ),
            (
                "ringside_sip_malformed_dropped_total",
                "Malformed SIP messages dropped without a response.",
                "counter",
                g(&self.malformed_dropped),
            ),
            (
                "ringside_sip_server_transactions",
                "Live SIP server transactions.",
                "gauge",
                g(&self.server_transactions),
            ),
            (
                "ringside_sip_client_transactions",
                "Live SIP client transactions.",
                "gauge",
                g(&self.client_transactions),
            ),
            (
                "ringside_sip_retransmissions_total",
                "SIP retransmissions sent.",
                "counter",
                g(&self.retransmissions),
            ),
            (
                "ringside_sip_registrations",
                "Registered contact bindings.",
                "gauge",
                g(&self.registrations),
            ),
            (
                "ringside_sip_auth_failures_total",
                "Requests refused for wrong credentials.",
                "counter",
                g(&self.auth_failures),
            ),
            (
                "ringside_sip_untrusted_source_total",
                "New requests refused for not coming through a trusted SIP edge proxy.",
                "counter",
                g(&self.untrusted_source),
            ),
            (
                "ringside_sip_info_dtmf_digits_total",
                "DTMF digits received in SIP INFO (application/dtmf-relay).",
                "counter",
                g(&self.dtmf_info),
            ),
            (
                "ringside_sip_glare_total",
                "Offers that crossed another on the same dialog, answered 491 Request Pending.",
                "counter",
                g(&self.glare),
            ),
            (
                "ringside_sip_stray_responses_dropped_total",
                "INVITE 2xx responses for no dialog of ours dropped over the answer budget.",
                "counter",
                g(&self.stray_dropped),
            ),
            (
                "ringside_call_record_write_failures_total",
                "Call records that could not be stored after retries (each logged with its call id).",
                "counter",
                g(&self.record_write_failures),
            ),
            (
                "ringside_call_record_write_retries_total",
                "Call record writes retried one record at a time after a batch failed.",
                "counter",
                g(&self.record_write_retries),
            ),
            (
                "ringside_sip_missing_calls_total",
                "Events the call core dropped because their call was gone (each logged).",
                "counter",
                g(&self.missing_calls),
            ),
            (
                "ringside_sip_overload_rejected_total",
                "New requests refused with 503 and Retry-After because the core was behind.",
                "counter",
                g(&self.overload_rejected),
            ),
            (
                "ringside_sip_inbound_queue",
                "SIP messages waiting for the core (as last seen by the transport).",
                "gauge",
                g(&self.inbound_queue),
            ),
            (
                "ringside_calls_active",
                "Calls in progress.",
                "gauge",
                g(&self.active_calls),
            ),
            (
                "ringside_calls_total",
                "Calls started.",
                "counter",
                g(&self.calls_total),
            ),
            (
                "ringside_sip_ws_connections",
                "SIP over WebSocket connections open (browser softphones).",
                "gauge",
                g(&self.ws_connections),
            ),
            (
                "ringside_sip_ws_refused_total",
                "SIP WebSocket upgrades refused: a foreign Origin or no sip subprotocol.",
                "counter",
                g(&self.ws_refused),
            ),
        ] {
            write_metric(out, name, help, kind, v);
        }
        let _ = writeln!(
            out,
            "# HELP ringside_sip_tls_failures_total SIP over TLS connections refused: handshakes \
             peers opened that failed (in); peers whose certificate did not verify, or that could \
             not be reached (out).\n# TYPE ringside_sip_tls_failures_total counter\n\
             ringside_sip_tls_failures_total{{direction=\"in\"}} {}\n\
             ringside_sip_tls_failures_total{{direction=\"out\"}} {}",
            g(&self.tls_inbound_failures),
            g(&self.tls_outbound_failures)
        );
    }
}

/// Append one unlabelled metric family (HELP, TYPE and value) in Prometheus text format.
pub fn write_metric(out: &mut String, name: &str, help: &str, kind: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}
