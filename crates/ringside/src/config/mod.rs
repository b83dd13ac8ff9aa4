//! Configuration: an optional TOML file, then `RINGSIDE_*` environment overrides, validated
//! into a [`Settings`] the wiring uses (the groups in `settings.rs`, the tests in `tests.rs`).
//!
//! | setting | TOML key | environment | default |
//! |---|---|---|---|
//! | data directory | `data_dir` | `RINGSIDE_DATA_DIR` | `./data` |
//! | tenants' files: call recordings, chat attachments, voice notes, uploaded prompts (a directory every node of a cluster mounts, e.g. NFS, so any node serves any of them) | `files_dir` | `RINGSIDE_FILES_DIR` | the data directory |
//! | HTTP listen address | `http_addr` | `RINGSIDE_HTTP_ADDR` | `127.0.0.1:8080` |
//! | SIP listen address (UDP+TCP) | `sip_addr` | `RINGSIDE_SIP_ADDR` | `0.0.0.0:5060` |
//! | SIP over TLS listen address (unset: no TLS listener) | `sip_tls_addr` | `RINGSIDE_SIP_TLS_ADDR` | none |
//! | the TLS certificate chain and its key (PEM files, re-read within seconds when they change) | `tls_cert`, `tls_key` | `RINGSIDE_TLS_CERT`, `RINGSIDE_TLS_KEY` | none |
//! | serve the HTTP listener over TLS (HTTPS, and SIP over secure WebSocket) with the certificate above | `http_tls` | `RINGSIDE_HTTP_TLS` (`true`/`false`) | `false` |
//! | path of SIP over WebSocket (RFC 7118) on the HTTP listener (WSS when it has TLS); `off`: none | `sip_ws_path` | `RINGSIDE_SIP_WS_PATH` | `/sip` |
//! | origins allowed to open the SIP WebSocket besides Ringside's own (comma-separated, e.g. `https://phone.example.com`); a browser page of any other origin is refused | `sip_ws_origins` | `RINGSIDE_SIP_WS_ORIGINS` | none |
//! | DNS servers for trunks' host names (comma-separated `ip` or `ip:port`; NAPTR, SRV, A/AAAA as RFC 3263 says) | `dns_servers` | `RINGSIDE_DNS_SERVERS` | the system's (`/etc/resolv.conf`, `/etc/hosts`) |
//! | database URL | `database_url` | `RINGSIDE_DATABASE_URL` | `sqlite://<data_dir>/ringside.db` |
//! | public IP (SDP, Via, Contact); with the SIP address on `[::]`, one per family (`v4,v6` or `v6,v4`: each peer is told the one of its own family) | `public_ip` | `RINGSIDE_PUBLIC_IP` | SIP bind IP; the loopback of its family when unspecified (127.0.0.1, ::1), both loopbacks on `[::]` |
//! | RTP port range | `rtp_ports` | `RINGSIDE_RTP_PORTS` | `20000-30000` |
//! | SIP digest realm | `sip_realm` | `RINGSIDE_SIP_REALM` | `ringside` |
//! | digest algorithms, in challenge order | `sip_digest_algorithms` | `RINGSIDE_SIP_DIGEST_ALGORITHMS` | `SHA-256,MD5` |
//! | ring timeout (s) | `ring_timeout_secs` | `RINGSIDE_RING_TIMEOUT_SECS` | `60` |
//! | shutdown grace for calls (s) | `shutdown_grace_secs` | `RINGSIDE_SHUTDOWN_GRACE_SECS` | `30` |
//! | HTTP connections open at once, in all / per IP | `http_max_connections`, `http_max_connections_per_ip` | `RINGSIDE_HTTP_MAX_CONNECTIONS`, `RINGSIDE_HTTP_MAX_CONNECTIONS_PER_IP` | a quarter of the descriptor limit (at most 8192) / `256` |
//! | HTTP: time to send a request head, idle time (s) | `http_header_timeout_secs`, `http_idle_timeout_secs` | `RINGSIDE_HTTP_HEADER_TIMEOUT_SECS`, `RINGSIDE_HTTP_IDLE_TIMEOUT_SECS` | `10`, `120` |
//! | HTTP: longest a request may take, body upload included, before `408 request_timeout` (s, 1–3600) | `http_request_timeout_secs` | `RINGSIDE_HTTP_REQUEST_TIMEOUT_SECS` | `60` |
//! | SIP over TCP connections, in all / per IP | `sip_tcp_max_connections`, `sip_tcp_max_connections_per_ip` | `RINGSIDE_SIP_TCP_MAX_CONNECTIONS`, `RINGSIDE_SIP_TCP_MAX_CONNECTIONS_PER_IP` | an eighth of the descriptor limit (at most 4096) / `256` |
//! | SIP over TCP: time to send a message, idle time after one (s) | `sip_tcp_message_timeout_secs`, `sip_tcp_idle_timeout_secs` | `RINGSIDE_SIP_TCP_MESSAGE_TIMEOUT_SECS`, `RINGSIDE_SIP_TCP_IDLE_TIMEOUT_SECS` | `10`, `3900` |
//! | record every answered call | `record_calls` | `RINGSIDE_RECORD_CALLS` (`true`/`false`) | `false` |
//! | the kernel fast path for relayed calls (eBPF): `auto` (on where the build, kernel and privileges allow it), `on` (refuse to start without it), `off` | `media_fastpath` | `RINGSIDE_MEDIA_FASTPATH` | `auto` |
//! | delete recordings older than (days; 0 keeps all) | `recording_retention_days` | `RINGSIDE_RECORDING_RETENTION_DAYS` | `0` |
//! | directory of WAV files overriding the default prompts (`hold_music.wav`, `unavailable.wav`, `accept_prompt.wav`) | `assets_dir` | `RINGSIDE_ASSETS_DIR` | none |
//! | ringback: `off` relays the callee's 180 (the caller's phone rings locally); `us`, `eu` or `uk` answers 183 and plays Ringside's ringback | `ringback` | `RINGSIDE_RINGBACK` | `off` |
//! | Opus encoder complexity 0-10 | `opus_complexity` | `RINGSIDE_OPUS_COMPLEXITY` | `5` |
//! | public base URL (install snippets) | `public_url` | `RINGSIDE_PUBLIC_URL` | `http://<http_addr>` (`https://` with `http_tls`) |
//! | take visitor IPs from `X-Forwarded-For` (only behind a trusted reverse proxy) | `trust_forwarded_for` | `RINGSIDE_TRUST_FORWARDED_FOR` (`true`/`false`) | `false` |
//! | public widget endpoints, per client IP: `/track`, bootstrap, config and preflights (requests/s, burst; rate 0 disables) | `rate_limit_track_per_ip_rate`, `..._burst` | `RINGSIDE_RATE_LIMIT_TRACK_PER_IP_RATE`, `RINGSIDE_RATE_LIMIT_TRACK_PER_IP_BURST` | `20`, `60` |
//! | public widget endpoints, per client IP: chat, ask, lead, callbacks (requests/s, burst; rate 0 disables) | `rate_limit_chat_per_ip_rate`, `..._burst` | `RINGSIDE_RATE_LIMIT_CHAT_PER_IP_RATE`, `RINGSIDE_RATE_LIMIT_CHAT_PER_IP_BURST` | `2`, `10` |
//! | public widget endpoints, per widget, all together (requests/s, burst; rate 0 disables) | `rate_limit_per_widget_rate`, `..._burst` | `RINGSIDE_RATE_LIMIT_PER_WIDGET_RATE`, `RINGSIDE_RATE_LIMIT_PER_WIDGET_BURST` | `1000`, `2000` |
//! | usage limits per tenant (0 = unlimited): widgets, webhooks, contacts, chat messages per month, callbacks/leads per month, model answers and model tokens per month (a tenant's own allowance set with its AI provider may be lower) | `limit_widgets`, `limit_webhooks`, `limit_contacts`, `limit_monthly_messages`, `limit_monthly_callbacks`, `limit_monthly_ai_messages`, `limit_monthly_ai_tokens` | `RINGSIDE_LIMIT_WIDGETS`, `RINGSIDE_LIMIT_WEBHOOKS`, `RINGSIDE_LIMIT_CONTACTS`, `RINGSIDE_LIMIT_MONTHLY_MESSAGES`, `RINGSIDE_LIMIT_MONTHLY_CALLBACKS`, `RINGSIDE_LIMIT_MONTHLY_AI_MESSAGES`, `RINGSIDE_LIMIT_MONTHLY_AI_TOKENS` | `0` |
//! | WebRTC media: the one UDP address every browser call uses (ICE mux); browsers are offered the public IP and, when this binds a specific other address, that address too | `webrtc_addr` | `RINGSIDE_WEBRTC_ADDR` | SIP bind IP, port `7882` |
//! | seconds a PSTN answerer has to press 1 after the accept prompt starts | `pstn_accept_timeout_secs` | `RINGSIDE_PSTN_ACCEPT_TIMEOUT_SECS` | `20` |
//! | let requests made for tenants (webhook deliveries, prompt imports) reach loopback, private and other non-public addresses (labs and tests only) | `allow_private_fetch` | `RINGSIDE_ALLOW_PRIVATE_FETCH` (`true`/`false`; the older `RINGSIDE_PROMPT_IMPORT_ALLOW_PRIVATE` still works) | `false` |
//! | STUN/TURN servers handed to browsers (comma-separated URLs) | `ice_servers` | `RINGSIDE_ICE_SERVERS` | none |
//! | TURN username and credential for those servers | `turn_username`, `turn_credential` | `RINGSIDE_TURN_USERNAME`, `RINGSIDE_TURN_CREDENTIAL` | none |
//! | SIP transaction timers T1, T2, T4 (ms) | `sip_timer_t1_ms`, `sip_timer_t2_ms`, `sip_timer_t4_ms` | `RINGSIDE_SIP_TIMER_T1_MS`, `..._T2_MS`, `..._T4_MS` | `500`, `4000`, `5000` |
//! | overload: queued SIP messages above which new requests get 503, and its Retry-After (s) | `sip_overload_queue_depth`, `sip_overload_retry_after_secs` | `RINGSIDE_SIP_OVERLOAD_QUEUE_DEPTH`, `RINGSIDE_SIP_OVERLOAD_RETRY_AFTER_SECS` | `16384`, `5` |
//! | webhook delivery: attempts, request timeout, first and longest retry delay (s) | `webhook_max_attempts`, `webhook_request_timeout_secs`, `webhook_base_backoff_secs`, `webhook_max_backoff_secs` | `RINGSIDE_WEBHOOK_MAX_ATTEMPTS`, `..._REQUEST_TIMEOUT_SECS`, `..._BASE_BACKOFF_SECS`, `..._MAX_BACKOFF_SECS` | `8`, `10`, `10`, `3600` |
//! | how long a node's claim on an alert attempt lasts before another node may take it over (s, 15-3600): longer than the slowest attempt (an email through a slow SMTP server) | `alert_lease_secs` | `RINGSIDE_ALERT_LEASE_SECS` | `90` |
//! | mail for sign-in codes and invitations: `smtp://user:pass@host:port` (STARTTLS when offered), `smtps://` (implicit TLS), `smtp+plain://` (no TLS, a local sink); unset: codes go to the log with a warning | `smtp_url` | `RINGSIDE_SMTP_URL` | none |
//! | the mail's From address | `smtp_from` | `RINGSIDE_SMTP_FROM` | `Ringside <no-reply@<public_url host>>` |
//! | PEM file of extra CA certificates trusted for the SMTP server's certificate | `smtp_ca_file` | `RINGSIDE_SMTP_CA_FILE` | none (public roots only) |
//! | this node's id in a cluster (letters, digits, `.`, `_`, `-`; at most 64): on its call records, in `/healthz`, unique per node | `node_id` | `RINGSIDE_NODE_ID` | the one this data directory was first started with (`<data_dir>/node-id`), the host name the first time |
//! | NATS server carrying events and commands between the nodes of a cluster (`nats://host:port`); unset: one node, in-process bus | `nats_url` | `RINGSIDE_NATS_URL` | none |
//! | the cluster's secret root, 64 hex digits, the same on every node (the link secret; the SIP nonce secret and the sealed VAPID key follow from it); or a file holding it; unset in a cluster: made by the first node and kept in the database | `secret_key`, `secret_key_file` | `RINGSIDE_SECRET_KEY`, `RINGSIDE_SECRET_KEY_FILE` | none (one node: files in the data directory) |
//! | the previous secret root while it is rotated: still accepted for what it signed (conversation links, CSRF tokens, sign-in requests) and opens what it sealed, never used for anything new; `ringside secret reseal` seals the stored secrets again with the new root | `secret_key_previous`, `secret_key_previous_file` | `RINGSIDE_SECRET_KEY_PREVIOUS`, `RINGSIDE_SECRET_KEY_PREVIOUS_FILE` | none |
//! | the SIP edge proxies (comma-separated CIDRs or addresses, e.g. the Kamailio in front of a cluster): when set, new SIP requests over UDP, TCP and TLS are taken only from them (others get 403), and the caller's address for trunk matching and digest throttling is the `X-Ringside-Peer` they add | `sip_trusted_proxies` | `RINGSIDE_SIP_TRUSTED_PROXIES` | none (SIP from anywhere) |
//! | in a cluster, how often each node reads registrations and the directory back from the database (catching a change whose broadcast it missed), seconds, 1-3600 | `cluster_resync_secs` | `RINGSIDE_CLUSTER_RESYNC_SECS` | `60` |
//! | log filter | `log` | `RINGSIDE_LOG` | `info` |

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;

/// The raw file/environment form; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    data_dir: Option<PathBuf>,
    files_dir: Option<PathBuf>,
    http_addr: Option<String>,
    sip_addr: Option<String>,
    sip_tls_addr: Option<String>,
    sip_ws_path: Option<String>,
    sip_ws_origins: Option<String>,
    sip_trusted_proxies: Option<String>,
    http_tls: Option<bool>,
    dns_servers: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    database_url: Option<String>,
    public_ip: Option<String>,
    rtp_ports: Option<String>,
    sip_realm: Option<String>,
    sip_digest_algorithms: Option<String>,
    ring_timeout_secs: Option<u64>,
    shutdown_grace_secs: Option<u64>,
    http_max_connections: Option<u64>,
    http_max_connections_per_ip: Option<u64>,
    http_header_timeout_secs: Option<u64>,
    http_idle_timeout_secs: Option<u64>,
    http_request_timeout_secs: Option<u64>,
    sip_tcp_max_connections: Option<u64>,
    sip_tcp_max_connections_per_ip: Option<u64>,
    sip_tcp_message_timeout_secs: Option<u64>,
    sip_tcp_idle_timeout_secs: Option<u64>,
    record_calls: Option<bool>,
    media_fastpath: Option<String>,
    recording_retention_days: Option<u64>,
    assets_dir: Option<PathBuf>,
    opus_complexity: Option<u64>,
    ringback: Option<String>,
    public_url: Option<String>,
    trust_forwarded_for: Option<bool>,
    rate_limit_track_per_ip_rate: Option<u64>,
    rate_limit_track_per_ip_burst: Option<u64>,
    rate_limit_chat_per_ip_rate: Option<u64>,
    rate_limit_chat_per_ip_burst: Option<u64>,
    rate_limit_per_widget_rate: Option<u64>,
    rate_limit_per_widget_burst: Option<u64>,
    limit_widgets: Option<u64>,
    limit_webhooks: Option<u64>,
    limit_contacts: Option<u64>,
    limit_monthly_messages: Option<u64>,
    limit_monthly_callbacks: Option<u64>,
    limit_monthly_ai_messages: Option<u64>,
    limit_monthly_ai_tokens: Option<u64>,
    webrtc_addr: Option<String>,
    #[serde(alias = "prompt_import_allow_private")]
    allow_private_fetch: Option<bool>,
    pstn_accept_timeout_secs: Option<u64>,
    ice_servers: Option<String>,
    turn_username: Option<String>,
    turn_credential: Option<String>,
    smtp_url: Option<String>,
    smtp_from: Option<String>,
    smtp_ca_file: Option<PathBuf>,
    sip_timer_t1_ms: Option<u64>,
    sip_timer_t2_ms: Option<u64>,
    sip_timer_t4_ms: Option<u64>,
    sip_overload_queue_depth: Option<u64>,
    sip_overload_retry_after_secs: Option<u64>,
    webhook_max_attempts: Option<u64>,
    webhook_request_timeout_secs: Option<u64>,
    webhook_base_backoff_secs: Option<u64>,
    webhook_max_backoff_secs: Option<u64>,
    node_id: Option<String>,
    nats_url: Option<String>,
    secret_key: Option<String>,
    secret_key_file: Option<PathBuf>,
    secret_key_previous: Option<String>,
    secret_key_previous_file: Option<PathBuf>,
    alert_lease_secs: Option<u64>,
    cluster_resync_secs: Option<u64>,
    log: Option<String>,
}

impl RawConfig {
    /// Read `path` if given, then apply environment overrides from `env`.
    pub fn load(
        path: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<RawConfig> {
        let mut raw = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading config file {}", p.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing {}", p.display()))?
            }
            None => RawConfig::default(),
        };
        let set = |slot: &mut Option<String>, key: &str| {
            if let Some(v) = env(key).filter(|v| !v.is_empty()) {
                *slot = Some(v);
            }
        };
        if let Some(v) = env("RINGSIDE_DATA_DIR").filter(|v| !v.is_empty()) {
            raw.data_dir = Some(v.into());
        }
        if let Some(v) = env("RINGSIDE_FILES_DIR").filter(|v| !v.is_empty()) {
            raw.files_dir = Some(v.into());
        }
        set(&mut raw.http_addr, "RINGSIDE_HTTP_ADDR");
        set(&mut raw.sip_addr, "RINGSIDE_SIP_ADDR");
        set(&mut raw.sip_tls_addr, "RINGSIDE_SIP_TLS_ADDR");
        set(&mut raw.sip_ws_path, "RINGSIDE_SIP_WS_PATH");
        set(&mut raw.sip_ws_origins, "RINGSIDE_SIP_WS_ORIGINS");
        set(&mut raw.sip_trusted_proxies, "RINGSIDE_SIP_TRUSTED_PROXIES");
        if let Some(v) = env("RINGSIDE_HTTP_TLS").filter(|v| !v.is_empty()) {
            raw.http_tls = Some(match v.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => bail!("RINGSIDE_HTTP_TLS must be true or false"),
            });
        }
        set(&mut raw.dns_servers, "RINGSIDE_DNS_SERVERS");
        for (slot, key) in [
            (&mut raw.tls_cert, "RINGSIDE_TLS_CERT"),
            (&mut raw.tls_key, "RINGSIDE_TLS_KEY"),
        ] {
            if let Some(v) = env(key).filter(|v| !v.trim().is_empty()) {
                *slot = Some(PathBuf::from(v));
            }
        }
        set(&mut raw.database_url, "RINGSIDE_DATABASE_URL");
        set(&mut raw.public_ip, "RINGSIDE_PUBLIC_IP");
        set(&mut raw.rtp_ports, "RINGSIDE_RTP_PORTS");
        set(&mut raw.sip_realm, "RINGSIDE_SIP_REALM");
        set(
            &mut raw.sip_digest_algorithms,
            "RINGSIDE_SIP_DIGEST_ALGORITHMS",
        );
        set(&mut raw.log, "RINGSIDE_LOG");
        set(&mut raw.node_id, "RINGSIDE_NODE_ID");
        set(&mut raw.nats_url, "RINGSIDE_NATS_URL");
        set(&mut raw.secret_key, "RINGSIDE_SECRET_KEY");
        if let Some(v) = env("RINGSIDE_SECRET_KEY_FILE").filter(|v| !v.trim().is_empty()) {
            raw.secret_key_file = Some(PathBuf::from(v.trim()));
        }
        set(&mut raw.secret_key_previous, "RINGSIDE_SECRET_KEY_PREVIOUS");
        if let Some(v) = env("RINGSIDE_SECRET_KEY_PREVIOUS_FILE").filter(|v| !v.trim().is_empty()) {
            raw.secret_key_previous_file = Some(PathBuf::from(v.trim()));
        }
        set(&mut raw.ringback, "RINGSIDE_RINGBACK");
        set(&mut raw.public_url, "RINGSIDE_PUBLIC_URL");
        set(&mut raw.webrtc_addr, "RINGSIDE_WEBRTC_ADDR");
        set(&mut raw.ice_servers, "RINGSIDE_ICE_SERVERS");
        set(&mut raw.turn_username, "RINGSIDE_TURN_USERNAME");
        set(&mut raw.turn_credential, "RINGSIDE_TURN_CREDENTIAL");
        set(&mut raw.smtp_url, "RINGSIDE_SMTP_URL");
        set(&mut raw.smtp_from, "RINGSIDE_SMTP_FROM");
        if let Some(v) = env("RINGSIDE_SMTP_CA_FILE").filter(|v| !v.trim().is_empty()) {
            raw.smtp_ca_file = Some(PathBuf::from(v));
        }
        if let Some(v) = env("RINGSIDE_ASSETS_DIR").filter(|v| !v.is_empty()) {
            raw.assets_dir = Some(v.into());
        }
        if let Some(v) = env("RINGSIDE_TRUST_FORWARDED_FOR").filter(|v| !v.is_empty()) {
            raw.trust_forwarded_for = Some(match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => bail!("RINGSIDE_TRUST_FORWARDED_FOR must be true or false"),
            });
        }
        for name in [
            "RINGSIDE_PROMPT_IMPORT_ALLOW_PRIVATE",
            "RINGSIDE_ALLOW_PRIVATE_FETCH",
        ] {
            if let Some(v) = env(name).filter(|v| !v.is_empty()) {
                raw.allow_private_fetch = Some(match v.to_ascii_lowercase().as_str() {
                    "1" | "true" | "yes" | "on" => true,
                    "0" | "false" | "no" | "off" => false,
                    _ => bail!("{name} must be true or false"),
                });
            }
        }
        set(&mut raw.media_fastpath, "RINGSIDE_MEDIA_FASTPATH");
        if let Some(v) = env("RINGSIDE_RECORD_CALLS").filter(|v| !v.is_empty()) {
            raw.record_calls = Some(match v.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => bail!("RINGSIDE_RECORD_CALLS must be true or false"),
            });
        }
        for (slot, key) in [
            (&mut raw.ring_timeout_secs, "RINGSIDE_RING_TIMEOUT_SECS"),
            (&mut raw.shutdown_grace_secs, "RINGSIDE_SHUTDOWN_GRACE_SECS"),
            (
                &mut raw.http_max_connections,
                "RINGSIDE_HTTP_MAX_CONNECTIONS",
            ),
            (
                &mut raw.http_max_connections_per_ip,
                "RINGSIDE_HTTP_MAX_CONNECTIONS_PER_IP",
            ),
            (
                &mut raw.http_header_timeout_secs,
                "RINGSIDE_HTTP_HEADER_TIMEOUT_SECS",
            ),
            (
                &mut raw.http_idle_timeout_secs,
                "RINGSIDE_HTTP_IDLE_TIMEOUT_SECS",
            ),
            (
                &mut raw.http_request_timeout_secs,
                "RINGSIDE_HTTP_REQUEST_TIMEOUT_SECS",
            ),
            (
                &mut raw.sip_tcp_max_connections,
                "RINGSIDE_SIP_TCP_MAX_CONNECTIONS",
            ),
            (
                &mut raw.sip_tcp_max_connections_per_ip,
                "RINGSIDE_SIP_TCP_MAX_CONNECTIONS_PER_IP",
            ),
            (
                &mut raw.sip_tcp_message_timeout_secs,
                "RINGSIDE_SIP_TCP_MESSAGE_TIMEOUT_SECS",
            ),
            (
                &mut raw.sip_tcp_idle_timeout_secs,
                "RINGSIDE_SIP_TCP_IDLE_TIMEOUT_SECS",
            ),
            (
                &mut raw.recording_retention_days,
                "RINGSIDE_RECORDING_RETENTION_DAYS",
            ),
            (&mut raw.opus_complexity, "RINGSIDE_OPUS_COMPLEXITY"),
            (
                &mut raw.pstn_accept_timeout_secs,
                "RINGSIDE_PSTN_ACCEPT_TIMEOUT_SECS",
            ),
            (
                &mut raw.rate_limit_track_per_ip_rate,
                "RINGSIDE_RATE_LIMIT_TRACK_PER_IP_RATE",
            ),
            (
                &mut raw.rate_limit_track_per_ip_burst,
                "RINGSIDE_RATE_LIMIT_TRACK_PER_IP_BURST",
            ),
            (
                &mut raw.rate_limit_chat_per_ip_rate,
                "RINGSIDE_RATE_LIMIT_CHAT_PER_IP_RATE",
            ),
            (
                &mut raw.rate_limit_chat_per_ip_burst,
                "RINGSIDE_RATE_LIMIT_CHAT_PER_IP_BURST",
            ),
            (
                &mut raw.rate_limit_per_widget_rate,
                "RINGSIDE_RATE_LIMIT_PER_WIDGET_RATE",
            ),
            (
                &mut raw.rate_limit_per_widget_burst,
                "RINGSIDE_RATE_LIMIT_PER_WIDGET_BURST",
            ),
            (&mut raw.limit_widgets, "RINGSIDE_LIMIT_WIDGETS"),
            (&mut raw.limit_webhooks, "RINGSIDE_LIMIT_WEBHOOKS"),
            (&mut raw.limit_contacts, "RINGSIDE_LIMIT_CONTACTS"),
            (
                &mut raw.limit_monthly_messages,
                "RINGSIDE_LIMIT_MONTHLY_MESSAGES",
            ),
            (
                &mut raw.limit_monthly_callbacks,
                "RINGSIDE_LIMIT_MONTHLY_CALLBACKS",
            ),
            (
                &mut raw.limit_monthly_ai_messages,
                "RINGSIDE_LIMIT_MONTHLY_AI_MESSAGES",
            ),
            (
                &mut raw.limit_monthly_ai_tokens,
                "RINGSIDE_LIMIT_MONTHLY_AI_TOKENS",
            ),
            (&mut raw.sip_timer_t1_ms, "RINGSIDE_SIP_TIMER_T1_MS"),
            (&mut raw.cluster_resync_secs, "RINGSIDE_CLUSTER_RESYNC_SECS"),
            (&mut raw.alert_lease_secs, "RINGSIDE_ALERT_LEASE_SECS"),
            (&mut raw.sip_timer_t2_ms, "RINGSIDE_SIP_TIMER_T2_MS"),
            (&mut raw.sip_timer_t4_ms, "RINGSIDE_SIP_TIMER_T4_MS"),
            (
                &mut raw.sip_overload_queue_depth,
                "RINGSIDE_SIP_OVERLOAD_QUEUE_DEPTH",
            ),
            (
                &mut raw.sip_overload_retry_after_secs,
                "RINGSIDE_SIP_OVERLOAD_RETRY_AFTER_SECS",
            ),
            (
                &mut raw.webhook_max_attempts,
                "RINGSIDE_WEBHOOK_MAX_ATTEMPTS",
            ),
            (
                &mut raw.webhook_request_timeout_secs,
                "RINGSIDE_WEBHOOK_REQUEST_TIMEOUT_SECS",
            ),
            (
                &mut raw.webhook_base_backoff_secs,
                "RINGSIDE_WEBHOOK_BASE_BACKOFF_SECS",
            ),
            (
                &mut raw.webhook_max_backoff_secs,
                "RINGSIDE_WEBHOOK_MAX_BACKOFF_SECS",
            ),
        ] {
            if let Some(v) = env(key).filter(|v| !v.is_empty()) {
                *slot = Some(
                    v.parse()
                        .with_context(|| format!("{key} must be a whole number"))?,
                );
            }
        }
        Ok(raw)
    }

    /// Validate into settings.
    pub fn validate(self) -> anyhow::Result<Settings> {
        let data_dir = self.data_dir.unwrap_or_else(|| PathBuf::from("data"));
        let http_addr = parse_addr(
            self.http_addr.as_deref().unwrap_or("127.0.0.1:8080"),
            "http_addr",
        )?;
        let sip_addr = parse_addr(
            self.sip_addr.as_deref().unwrap_or("0.0.0.0:5060"),
            "sip_addr",
        )?;
        let http_tls = match (self.http_tls, &self.tls_cert, &self.tls_key) {
            (None | Some(false), ..) => None,
            (Some(true), Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
            (Some(true), ..) => {
                bail!("RINGSIDE_HTTP_TLS needs RINGSIDE_TLS_CERT and RINGSIDE_TLS_KEY (PEM files)")
            }
        };
        let ws_path = match self.sip_ws_path.as_deref().map(str::trim) {
            None => Some("/sip".to_owned()),
            Some("off") => None,
            Some(p) if p.starts_with('/') && p.len() > 1 && !p.contains(['?', '#', ' ']) => {
                Some(p.to_owned())
            }
            Some(p) => bail!("sip_ws_path must be a path such as /sip, or off (got {p:?})"),
        };
        let ws_origins = self
            .sip_ws_origins
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
            .filter(|o| !o.is_empty())
            .map(|o| {
                if o.starts_with("https://") || o.starts_with("http://") {
                    Ok(o)
                } else {
                    Err(anyhow::anyhow!(
                        "sip_ws_origins entries must be origins such as https://phone.example.com (got {o:?})"
                    ))
                }
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let trusted_proxies = self
            .sip_trusted_proxies
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                ringside_domain::net::TrustedNet::stored(p).map_err(|_| {
                    anyhow::anyhow!(
                        "sip_trusted_proxies entries must be IP addresses or CIDRs such as 10.0.0.5 or 10.0.0.0/24 (got {p:?})"
                    )
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let tls = match (self.sip_tls_addr.as_deref(), self.tls_cert, self.tls_key) {
            (None, ..) => None,
            (Some(addr), Some(cert), Some(key)) => Some(ringside_calls::driver::TlsSettings {
                addr: parse_addr(addr, "sip_tls_addr")?,
                cert,
                key,
            }),
            (Some(_), ..) => {
                bail!("RINGSIDE_SIP_TLS_ADDR needs RINGSIDE_TLS_CERT and RINGSIDE_TLS_KEY (PEM files)")
            }
        };
        let dns = self
            .dns_servers
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<SocketAddr>()
                    .or_else(|_| s.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
                    .map_err(|_| {
                        anyhow::anyhow!("dns_servers entries must be ip or ip:port (got {s:?})")
                    })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let database_url = self.database_url.unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                data_dir.join("ringside.db").display()
            )
        });
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            bail!("database_url must start with sqlite: or postgres://");
        }
        let dual = sip_addr.ip() == IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED);
        let (public_ip, public_ip_other) = match self.public_ip.as_deref() {
            Some(list) => {
                let mut ips = Vec::new();
                for ip in list.split(',').map(str::trim) {
                    ips.push(
                        ip.parse::<IpAddr>()
                            .with_context(|| format!("public_ip {ip:?} is not an IP address"))?,
                    );
                }
                match ips[..] {
                    [one] => (one, None),
                    [a, b] if a.is_ipv4() != b.is_ipv4() && dual => (a, Some(b)),
                    [a, b] if a.is_ipv4() != b.is_ipv4() => bail!(
                        "public_ip names two addresses ({a}, {b}): that needs the SIP address                          on [::] (RINGSIDE_SIP_ADDR=[::]:5060), which takes both families"
                    ),
                    _ => bail!(
                        "public_ip is one address, or one IPv4 and one IPv6 address                          separated by a comma"
                    ),
                }
            }
            // Both loopbacks on the dual-stack wildcard: each phone is told the one of its
            // own family.
            None if dual => (
                IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
                Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)),
            ),
            None if sip_addr.ip().is_unspecified() => {
                (ringside_domain::net::loopback_of(sip_addr.ip()), None)
            }
            None => (sip_addr.ip(), None),
        };
        let rtp_ports = parse_range(self.rtp_ports.as_deref().unwrap_or("20000-30000"))?;
        let sip_realm = self.sip_realm.unwrap_or_else(|| "ringside".into());
        if sip_realm.is_empty() || sip_realm.contains(['"', '\\', '\r', '\n']) {
            bail!("sip_realm must be non-empty without quotes or backslashes");
        }
        let digest_algorithms = parse_algorithms(
            self.sip_digest_algorithms
                .as_deref()
                .unwrap_or("SHA-256,MD5"),
        )?;
        let opus_complexity = self.opus_complexity.unwrap_or(5);
        if opus_complexity > 10 {
            bail!("opus_complexity must be 0-10");
        }
        let recording_retention_days = u32::try_from(self.recording_retention_days.unwrap_or(0))
            .context("recording_retention_days is too large")?;
        use ringside_media::player::Cadence;
        let ringback = match self.ringback.as_deref().unwrap_or("off") {
            "off" | "none" => None,
            "us" => Some(Cadence::us_ringback()),
            "eu" => Some(Cadence::eu_ringback()),
            "uk" => Some(Cadence::uk_ringback()),
            other => bail!("ringback must be off, us, eu or uk (got {other:?})"),
        };
        let public_url = match self.public_url {
            Some(u) => {
                let u = u.trim().trim_end_matches('/').to_owned();
                let rest = u
                    .strip_prefix("https://")
                    .or_else(|| u.strip_prefix("http://"))
                    .unwrap_or("");
                if rest.is_empty() || u.contains(|c: char| c.is_whitespace() || c == '"') {
                    bail!("public_url must be an http:// or https:// URL (got {u:?})");
                }
                u
            }
            None if http_tls.is_some() => format!("https://{http_addr}"),
            None => format!("http://{http_addr}"),
        };
        let smtp = match self.smtp_url.filter(|u| !u.trim().is_empty()) {
            None => None,
            Some(url) => {
                let url = url.trim().to_owned();
                let from = match self.smtp_from.filter(|f| !f.trim().is_empty()) {
                    Some(f) => f.trim().to_owned(),
                    None => {
                        let host = url::Url::parse(&public_url)
                            .ok()
                            .and_then(|u| u.host_str().map(str::to_owned))
                            .unwrap_or_default();
                        format!("Ringside <no-reply@{host}>")
                    }
                };
                let ca = match &self.smtp_ca_file {
                    None => None,
                    Some(p) => Some(
                        std::fs::read(p)
                            .with_context(|| format!("smtp_ca_file: reading {}", p.display()))?,
                    ),
                };
                // Fail at start, not at the first sign-in.
                ringside_api::accounts::mail::SmtpMailer::check(&url, &from, ca.as_deref())
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "smtp_url / smtp_from / smtp_ca_file: {e} (smtp_from must be a \
                             valid From address)"
                        )
                    })?;
                Some(SmtpSettings {
                    url,
                    from,
                    extra_roots: ca,
                })
            }
        };
        let d = ringside_api::RateLimitConfig::default();
        let limit = |rate: Option<u64>, burst: Option<u64>, def: ringside_api::Limit, name| {
            // Whole requests per second (u64 -> f64 is exact up to 2^53).
            let rate = rate.map_or(def.rate, |r| r as f64);
            let burst = u32::try_from(burst.unwrap_or(u64::from(def.burst)))
                .with_context(|| format!("rate_limit_{name}_burst is too large"))?;
            if burst == 0 {
                bail!("rate_limit_{name}_burst must be at least 1");
            }
            anyhow::Ok(ringside_api::Limit::new(rate, burst))
        };
        let rate_limits = ringside_api::RateLimitConfig {
            track_per_ip: limit(
                self.rate_limit_track_per_ip_rate,
                self.rate_limit_track_per_ip_burst,
                d.track_per_ip,
                "track_per_ip",
            )?,
            chat_per_ip: limit(
                self.rate_limit_chat_per_ip_rate,
                self.rate_limit_chat_per_ip_burst,
                d.chat_per_ip,
                "chat_per_ip",
            )?,
            per_widget: limit(
                self.rate_limit_per_widget_rate,
                self.rate_limit_per_widget_burst,
                d.per_widget,
                "per_widget",
            )?,
            max_keys: d.max_keys,
        };
        let webrtc_addr = match self.webrtc_addr {
            Some(a) => a
                .parse()
                .with_context(|| format!("webrtc_addr {a:?} is not an address (ip:port)"))?,
            None => SocketAddr::new(sip_addr.ip(), 7882),
        };
        let ice_servers: Vec<String> = self
            .ice_servers
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .collect();
        for u in &ice_servers {
            if !["stun:", "stuns:", "turn:", "turns:"]
                .iter()
                .any(|p| u.starts_with(p))
            {
                bail!(
                    "ice_servers entries must be stun:, stuns:, turn: or turns: URLs (got {u:?})"
                );
            }
        }
        let turn_credentials = match (self.turn_username, self.turn_credential) {
            (Some(u), Some(c)) => Some((u, c)),
            (None, None) => None,
            _ => bail!("turn_username and turn_credential go together"),
        };
        let usage_limits = ringside_api::UsageLimits {
            widgets: self.limit_widgets.unwrap_or(0),
            webhooks: self.limit_webhooks.unwrap_or(0),
            contacts: self.limit_contacts.unwrap_or(0),
            monthly_messages: self.limit_monthly_messages.unwrap_or(0),
            monthly_callbacks: self.limit_monthly_callbacks.unwrap_or(0),
            monthly_ai_messages: self.limit_monthly_ai_messages.unwrap_or(0),
            monthly_ai_tokens: self.limit_monthly_ai_tokens.unwrap_or(0),
        };
        let d = ringside_sip::transaction::Config::default();
        let ms = |v: Option<u64>, def: Duration| v.map_or(def, Duration::from_millis);
        let timers = ringside_sip::transaction::Config {
            t1: ms(self.sip_timer_t1_ms, d.t1),
            t2: ms(self.sip_timer_t2_ms, d.t2),
            t4: ms(self.sip_timer_t4_ms, d.t4),
            dual_stack: None,
        };
        if timers.t1 < Duration::from_millis(50) || timers.t1 > Duration::from_secs(10) {
            bail!("sip_timer_t1_ms must be 50-10000 (RFC 3261 default 500)");
        }
        if timers.t2 < timers.t1 || timers.t2 > Duration::from_secs(60) {
            bail!("sip_timer_t2_ms must be at least T1 and at most 60000 (default 4000)");
        }
        if timers.t4 < timers.t1 || timers.t4 > Duration::from_secs(60) {
            bail!("sip_timer_t4_ms must be at least T1 and at most 60000 (default 5000)");
        }
        let od = ringside_calls::overload::Overload::default();
        let overload = ringside_calls::overload::Overload {
            queue_depth: match self.sip_overload_queue_depth {
                None => od.queue_depth,
                Some(n @ 1..=60_000) => n as usize,
                Some(_) => bail!("sip_overload_queue_depth must be 1-60000"),
            },
            retry_after_secs: match self.sip_overload_retry_after_secs {
                None => od.retry_after_secs,
                Some(n @ 1..=3600) => n as u32,
                Some(_) => bail!("sip_overload_retry_after_secs must be 1-3600"),
            },
        };
        let dd = ringside_api::webhook_dispatch::DispatchConfig::default();
        let secs = |v: Option<u64>, def: Duration| v.map_or(def, Duration::from_secs);
        let webhooks = WebhookSettings {
            max_attempts: match self.webhook_max_attempts {
                None => u32::try_from(dd.max_attempts).unwrap_or(8),
                Some(n @ 1..=100) => n as u32,
                Some(_) => bail!("webhook_max_attempts must be 1-100"),
            },
            request_timeout: secs(self.webhook_request_timeout_secs, dd.request_timeout),
            base_backoff: secs(self.webhook_base_backoff_secs, dd.base_backoff),
            max_backoff: secs(self.webhook_max_backoff_secs, dd.max_backoff),
        };
        let request_timeout = Duration::from_secs(self.http_request_timeout_secs.unwrap_or(60));
        if request_timeout.is_zero() || request_timeout > Duration::from_secs(3600) {
            bail!("http_request_timeout_secs must be 1-3600");
        }
        if webhooks.request_timeout.is_zero() || webhooks.request_timeout > Duration::from_secs(120)
        {
            bail!("webhook_request_timeout_secs must be 1-120");
        }
        if webhooks.base_backoff.is_zero() || webhooks.max_backoff < webhooks.base_backoff {
            bail!(
                "webhook_base_backoff_secs must be at least 1 and at most webhook_max_backoff_secs"
            );
        }
        // Unset: the id this data directory was first started with (`<data>/node-id`, kept
        // at start), so that a container recreated under a new host name is the same node
        // (its recordings, its calls); the host name the first time.
        let (node_id, persist_node_id) = match self.node_id.as_deref().map(str::trim) {
            Some(id) => (id.to_owned(), false),
            None => match std::fs::read_to_string(data_dir.join("node-id"))
                .ok()
                .map(|id| id.trim().to_owned())
                .filter(|id| valid_node_id(id))
            {
                Some(id) => (id, false),
                None => (host_name(), true),
            },
        };
        if !valid_node_id(&node_id) {
            bail!(
                "node_id must be 1-64 letters, digits, '.', '_' or '-' (got {node_id:?}); \
                 set RINGSIDE_NODE_ID"
            );
        }
        let nats_url = match self.nats_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(u) if u.starts_with("nats://") || u.starts_with("tls://") => {
                url::Url::parse(u)
                    .ok()
                    .filter(|p| p.host_str().is_some_and(|h| !h.is_empty()))
                    .with_context(|| {
                        format!("nats_url {u:?} is not a URL such as nats://127.0.0.1:4222")
                    })?;
                Some(u.to_owned())
            }
            Some(u) => bail!("nats_url must be a nats:// or tls:// URL (got {u:?})"),
        };
        let secret_key = secret_root(
            self.secret_key,
            self.secret_key_file.as_deref(),
            "secret_key",
        )?;
        let secret_key_previous = secret_root(
            self.secret_key_previous,
            self.secret_key_previous_file.as_deref(),
            "secret_key_previous",
        )?;
        if secret_key_previous.is_some() && secret_key.is_none() {
            bail!(
                "secret_key_previous is the root being rotated away from: give the new one as \
                 secret_key (or secret_key_file) too"
            );
        }
        let alert_lease = match self.alert_lease_secs {
            None => Duration::from_secs(90),
            Some(n @ 15..=3600) => Duration::from_secs(n),
            Some(_) => bail!("alert_lease_secs must be 15-3600"),
        };
        Ok(Settings {
            files_dir: self.files_dir.unwrap_or_else(|| data_dir.clone()),
            data_dir,
            database_url,
            log: self.log.unwrap_or_else(|| "info".into()),
            cluster: ClusterSettings {
                node_id,
                persist_node_id,
                nats_url,
                secret_key,
                secret_key_previous,
                resync: Duration::from_secs(self.cluster_resync_secs.unwrap_or(60).clamp(1, 3600)),
            },
            http: HttpSettings {
                addr: http_addr,
                conns: ConnSettings {
                    max_total: self.http_max_connections,
                    max_per_ip: self.http_max_connections_per_ip,
                    message_secs: self.http_header_timeout_secs,
                    idle_secs: self.http_idle_timeout_secs,
                },
                public_url,
                trust_forwarded_for: self.trust_forwarded_for.unwrap_or(false),
                rate_limits,
                usage_limits,
                allow_private_fetch: self.allow_private_fetch.unwrap_or(false),
                request_timeout,
                smtp,
                tls: http_tls,
            },
            sip: SipSettings {
                addr: sip_addr,
                tls,
                ws_path,
                ws_origins,
                trusted_proxies,
                dns,
                public_ip,
                public_ip_other,
                realm: sip_realm,
                digest_algorithms,
                ring_timeout: Duration::from_secs(self.ring_timeout_secs.unwrap_or(60).max(1)),
                pstn_accept_timeout: Duration::from_secs(
                    self.pstn_accept_timeout_secs.unwrap_or(20),
                ),
                shutdown_grace: Duration::from_secs(self.shutdown_grace_secs.unwrap_or(30)),
                tcp_conns: ConnSettings {
                    max_total: self.sip_tcp_max_connections,
                    max_per_ip: self.sip_tcp_max_connections_per_ip,
                    message_secs: self.sip_tcp_message_timeout_secs,
                    idle_secs: self.sip_tcp_idle_timeout_secs,
                },
                timers,
                overload,
            },
            media: MediaSettings {
                rtp_ports,
                opus_complexity: opus_complexity as u8,
                ringback,
                assets_dir: self.assets_dir,
                record_calls: self.record_calls.unwrap_or(false),
                fastpath: match self.media_fastpath.as_deref().map(str::trim) {
                    None | Some("") | Some("auto") => FastPathMode::Auto,
                    Some("on") => FastPathMode::On,
                    Some("off") => FastPathMode::Off,
                    Some(v) => bail!("media_fastpath must be auto, on or off (got {v:?})"),
                },
                recording_retention_days,
            },
            webrtc: WebRtcSettings {
                addr: webrtc_addr,
                ice_servers,
                turn_credentials,
            },
            webhooks,
            alert_lease,
        })
    }
}

/// This host's name (`RINGSIDE_NODE_ID`'s default), or `ringside` when it has none that
/// makes a node id.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| valid_node_id(h))
        .unwrap_or_else(|| "ringside".to_owned())
}

/// A node id: 1-64 ASCII letters, digits, `.`, `_` or `-` (it goes into NATS subjects and
/// logs as it is, dots escaped).
pub fn valid_node_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn parse_addr(s: &str, what: &str) -> anyhow::Result<SocketAddr> {
    s.parse()
        .with_context(|| format!("{what} {s:?} must be IP:PORT"))
}

fn parse_algorithms(s: &str) -> anyhow::Result<Vec<ringside_sip::auth::Algorithm>> {
    use ringside_sip::auth::Algorithm;
    let mut out = Vec::new();
    for a in s.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        let alg = match a.to_ascii_uppercase().as_str() {
            "SHA-256" | "SHA256" => Algorithm::Sha256,
            "MD5" => Algorithm::Md5,
            _ => bail!("sip_digest_algorithms: unknown algorithm {a:?} (use SHA-256 and/or MD5)"),
        };
        if !out.contains(&alg) {
            out.push(alg);
        }
    }
    if out.is_empty() {
        bail!("sip_digest_algorithms needs at least one of SHA-256, MD5");
    }
    Ok(out)
}

fn parse_range(s: &str) -> anyhow::Result<RangeInclusive<u16>> {
    let (a, b) = s
        .split_once('-')
        .with_context(|| format!("rtp_ports {s:?} must be LOW-HIGH"))?;
    let (a, b): (u16, u16) = (
        a.trim().parse().context("rtp_ports low end")?,
        b.trim().parse().context("rtp_ports high end")?,
    );
    if a < 1024 || b < a + 3 {
        bail!("rtp_ports must be a range above 1023 holding at least two port pairs");
    }
    Ok(a..=b)
}

mod settings;
#[cfg(test)]
mod tests;

pub use settings::*;

/// A secret root given as text (`key`) or in a file (`file`): 64 hex digits.
fn secret_root(
    key: Option<String>,
    file: Option<&Path>,
    name: &str,
) -> anyhow::Result<Option<[u8; 32]>> {
    let text = match (key, file) {
        (Some(_), Some(_)) => bail!("{name} and {name}_file: give one of them"),
        (Some(k), None) => k,
        (None, Some(p)) => std::fs::read_to_string(p)
            .with_context(|| format!("{name}_file: reading {}", p.display()))?,
        (None, None) => return Ok(None),
    };
    crate::secrets::secret_key(&text)
        .map(Some)
        .with_context(|| {
            format!(
                "{name} must be 64 hex digits (32 random bytes, e.g. from `openssl rand -hex 32`)"
            )
        })
}
