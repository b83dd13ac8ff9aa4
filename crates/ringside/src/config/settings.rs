//! The validated settings, one group per subsystem; each group makes its crate's config.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

/// Validated runtime settings, grouped by the subsystem they configure; each group makes its
/// crate's configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where SQLite, the node's id, its secrets files and search index live.
    pub data_dir: PathBuf,
    /// Where tenants' files live (recordings, attachments, voice notes, uploaded prompts):
    /// the data directory, or one every node of a cluster mounts.
    pub files_dir: PathBuf,
    /// sqlx database URL.
    pub database_url: String,
    /// tracing filter.
    pub log: String,
    /// This node, and how it reaches the others.
    pub cluster: ClusterSettings,
    /// The HTTP control plane.
    pub http: HttpSettings,
    /// SIP: listener, registrar, digest, transactions, call routing.
    pub sip: SipSettings,
    /// Media: relay ports, transcoding, prompts, recording.
    pub media: MediaSettings,
    /// Browsers' media.
    pub webrtc: WebRtcSettings,
    /// Webhook delivery.
    pub webhooks: WebhookSettings,
    /// `RINGSIDE_ALERT_LEASE_SECS`: how long a claim on an alert attempt lasts.
    pub alert_lease: std::time::Duration,
}

/// This node in a cluster.
#[derive(Clone)]
pub struct ClusterSettings {
    /// `RINGSIDE_NODE_ID`: on call records, in `/healthz` and the nodes table.
    pub node_id: String,
    /// The id is the host name, defaulted: kept as `<data>/node-id` at start.
    pub persist_node_id: bool,
    /// `RINGSIDE_NATS_URL`: the NATS server carrying the bus between nodes; `None`: one node.
    pub nats_url: Option<String>,
    /// `RINGSIDE_SECRET_KEY`: the cluster's secret root, the same on every node.
    pub secret_key: Option<[u8; 32]>,
    /// `RINGSIDE_SECRET_KEY_PREVIOUS`: the root being rotated away from (accepted, never used
    /// for anything new).
    pub secret_key_previous: Option<[u8; 32]>,
    /// `RINGSIDE_CLUSTER_RESYNC_SECS`: how often registrations and the directory are read
    /// back from the database (a change whose broadcast this node missed).
    pub resync: std::time::Duration,
}

impl std::fmt::Debug for ClusterSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold credentials.
        let nats = self.nats_url.as_deref().map(|u| {
            url::Url::parse(u)
                .ok()
                .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port().unwrap_or(4222))))
                .unwrap_or_default()
        });
        f.debug_struct("ClusterSettings")
            .field("node_id", &self.node_id)
            .field("nats", &nats)
            .field("secret_key", &self.secret_key.map(|_| "(set)"))
            .field(
                "secret_key_previous",
                &self.secret_key_previous.map(|_| "(set)"),
            )
            .finish()
    }
}

/// The HTTP control plane.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Listen address.
    pub addr: SocketAddr,
    /// Connection caps and timeouts (0 = the default for the process's descriptor limit,
    /// filled in at start).
    pub conns: ConnSettings,
    /// Base URL the public reaches this server at (no trailing slash), for widget install
    /// snippets.
    pub public_url: String,
    /// Whether visitor tracking takes the client IP from `X-Forwarded-For` (trusted proxy).
    pub trust_forwarded_for: bool,
    /// Abuse limits of the public widget endpoints.
    pub rate_limits: ringside_api::RateLimitConfig,
    /// Per-tenant usage limits.
    pub usage_limits: ringside_api::UsageLimits,
    /// Requests made for tenants (webhooks, prompt imports) may reach non-public addresses.
    pub allow_private_fetch: bool,
    /// Longest a request may take (its body upload included) before it is answered 408.
    pub request_timeout: Duration,
    /// Where sign-in codes and invitations are mailed; `None`: to the log.
    pub smtp: Option<SmtpSettings>,
    /// Serve HTTPS (and WSS) with this certificate chain and key (PEM files, re-read when
    /// they change); `None`: plain HTTP.
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

/// The SMTP server mail goes through.
#[derive(Clone)]
pub struct SmtpSettings {
    /// `smtp://`, `smtps://` or `smtp+plain://` URL, credentials included.
    pub url: String,
    /// The From address.
    pub from: String,
    /// Extra CA certificates (PEM) trusted for the server's certificate.
    pub extra_roots: Option<Vec<u8>>,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password.
        let host = url::Url::parse(&self.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned));
        f.debug_struct("SmtpSettings")
            .field("host", &host)
            .field("from", &self.from)
            .finish()
    }
}

impl HttpSettings {
    /// What requests made for tenants may reach.
    pub fn fetch_policy(&self) -> ringside_api::outbound::FetchPolicy {
        ringside_api::outbound::FetchPolicy {
            allow_private: self.allow_private_fetch,
        }
    }
}

/// SIP: listener, registrar, digest, transactions, call routing.
#[derive(Debug, Clone)]
pub struct SipSettings {
    /// Listen address, UDP and TCP.
    pub addr: SocketAddr,
    /// SIP over TLS, if served.
    pub tls: Option<ringside_calls::driver::TlsSettings>,
    /// Path of SIP over WebSocket on the HTTP listener; `None`: not served.
    pub ws_path: Option<String>,
    /// Origins allowed to open the SIP WebSocket besides Ringside's own (lowercase, no
    /// trailing slash).
    pub ws_origins: Vec<String>,
    /// The SIP edge proxies: when any, new requests over UDP, TCP and TLS come from them
    /// alone, and their `X-Ringside-Peer` names the caller.
    pub trusted_proxies: Vec<ringside_domain::net::TrustedNet>,
    /// DNS servers for trunks' host names; empty: the system's.
    pub dns: Vec<SocketAddr>,
    /// Address advertised in SDP, Via and Contact.
    pub public_ip: IpAddr,
    /// The other family's address, on a dual-stack (`[::]`) SIP address: peers of that
    /// family are told it instead of [`Self::public_ip`].
    pub public_ip_other: Option<IpAddr>,
    /// Digest realm.
    pub realm: String,
    /// Digest algorithms challenged with, in order.
    pub digest_algorithms: Vec<ringside_sip::auth::Algorithm>,
    /// How long callees ring.
    pub ring_timeout: Duration,
    /// How long a PSTN answerer has to press 1.
    pub pstn_accept_timeout: Duration,
    /// How long active calls may go on after SIGTERM.
    pub shutdown_grace: Duration,
    /// Connection caps and timeouts of SIP over TCP.
    pub tcp_conns: ConnSettings,
    /// Transaction timers T1, T2, T4 (RFC 3261 17.1.1.1).
    pub timers: ringside_sip::transaction::Config,
    /// When new requests are refused with 503 because the core is behind.
    pub overload: ringside_calls::overload::Overload,
}

impl SipSettings {
    /// The call core's configuration, with the digest nonce secret and `media`'s choices.
    pub fn core_config(
        &self,
        nonce_secret: [u8; 32],
        media: &MediaSettings,
    ) -> ringside_calls::core::CoreConfig {
        ringside_calls::core::CoreConfig {
            local: ringside_sip::dialog::LocalAddr {
                // As Via and URIs write it: an IPv6 address in brackets.
                host: ringside_sip::uri::host(self.public_ip),
                port: self.addr.port(),
                tls_port: self.tls.as_ref().map(|t| t.addr.port()),
            },
            media_ip: self.public_ip,
            realm: self.realm.clone(),
            nonce_secret,
            digest_algorithms: self.digest_algorithms.clone(),
            ring_timeout: self.ring_timeout,
            record_calls: media.record_calls,
            ringback: media.ringback.is_some(),
            registrar: ringside_sip::registrar::RegistrarConfig::default(),
            trusted_proxies: self.trusted_proxies.clone(),
            tx: ringside_sip::transaction::Config {
                dual_stack: self.dual_stack(),
                ..self.timers
            },
        }
    }

    /// Both public addresses, when there is one per family.
    pub fn dual_stack(&self) -> Option<ringside_sip::dual_stack::DualStack> {
        match (self.public_ip, self.public_ip_other?) {
            (IpAddr::V4(v4), IpAddr::V6(v6)) | (IpAddr::V6(v6), IpAddr::V4(v4)) => {
                Some(ringside_sip::dual_stack::DualStack { v4, v6 })
            }
            _ => None,
        }
    }

    /// The address the relay listens on as seen from this host's own sockets (the WebRTC
    /// edge sends browsers' media there).
    pub fn relay_ip(&self) -> IpAddr {
        if self.addr.ip().is_unspecified() {
            ringside_domain::net::loopback_of(self.addr.ip())
        } else {
            self.addr.ip()
        }
    }
}

/// Media: relay ports, transcoding, prompts, recording.
#[derive(Debug, Clone)]
pub struct MediaSettings {
    /// Media port range.
    pub rtp_ports: RangeInclusive<u16>,
    /// Opus encoder complexity (0-10).
    pub opus_complexity: u8,
    /// Ringback Ringside generates itself (`None`: relay the callee's 180).
    pub ringback: Option<ringside_media::player::Cadence>,
    /// WAV files overriding the default prompts and hold music.
    pub assets_dir: Option<PathBuf>,
    /// Record every answered call.
    pub record_calls: bool,
    /// Recordings are deleted this many days after they end (0: never).
    pub recording_retention_days: u32,
    /// `RINGSIDE_MEDIA_FASTPATH`: the kernel fast path for relayed calls.
    pub fastpath: FastPathMode,
}

/// Whether relayed calls' media goes through the kernel fast path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FastPathMode {
    /// Where the build, the kernel and the process's privileges allow it.
    Auto,
    /// Always: the server does not start without it.
    On,
    /// Never: every call in userspace.
    Off,
}

impl MediaSettings {
    /// Opus encoder options for transcoded legs.
    pub fn encoder_options(&self) -> ringside_media::codec::opus::EncoderOptions {
        ringside_media::codec::opus::EncoderOptions {
            complexity: self.opus_complexity,
            ..Default::default()
        }
    }
}

/// Browsers' media.
#[derive(Debug, Clone)]
pub struct WebRtcSettings {
    /// The UDP address of all browsers' WebRTC media.
    pub addr: SocketAddr,
    /// STUN/TURN server URLs for browsers.
    pub ice_servers: Vec<String>,
    /// TURN username and credential for [`Self::ice_servers`].
    pub turn_credentials: Option<(String, String)>,
}

/// Webhook delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookSettings {
    /// Attempts before a delivery is marked failed.
    pub max_attempts: u32,
    /// Timeout of one request, connection included.
    pub request_timeout: Duration,
    /// Delay after the first failed attempt (doubled after each further one).
    pub base_backoff: Duration,
    /// Longest delay between attempts.
    pub max_backoff: Duration,
}

impl WebhookSettings {
    /// The dispatcher's configuration under `policy`.
    pub fn dispatch_config(
        &self,
        policy: ringside_api::outbound::FetchPolicy,
    ) -> ringside_api::webhook_dispatch::DispatchConfig {
        let d = ringside_api::webhook_dispatch::DispatchConfig::default();
        ringside_api::webhook_dispatch::DispatchConfig {
            max_attempts: i64::from(self.max_attempts),
            request_timeout: self.request_timeout,
            base_backoff: self.base_backoff,
            max_backoff: self.max_backoff,
            // A claim must outlive the request it covers.
            lease: d.lease.max(self.request_timeout * 3),
            policy,
            ..d
        }
    }
}

impl Settings {
    /// The addresses browsers are offered as ICE host candidates for the WebRTC port: the
    /// public IP (what a NATed deployment must advertise), then the WebRTC bind address when
    /// it is a specific other address (a visitor on that network reaches it directly; before,
    /// only the public IP was offered, which is 127.0.0.1 by default, so a browser on
    /// another host could never connect to a server bound to its own LAN address).
    pub fn webrtc_candidate_ips(&self) -> Vec<IpAddr> {
        let mut ips = vec![self.sip.public_ip];
        ips.extend(self.sip.public_ip_other);
        let bind = self.webrtc.addr.ip();
        if !bind.is_unspecified() && !ips.contains(&bind) {
            ips.push(bind);
        }
        ips
    }
}

/// Connection caps and timeouts as configured; unset ones take the listener's defaults
/// ([`ringside_domain::limits::ConnLimits`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnSettings {
    /// Connections in all.
    pub max_total: Option<u64>,
    /// Connections per source IP.
    pub max_per_ip: Option<u64>,
    /// Seconds to send a message (HTTP request head, SIP message).
    pub message_secs: Option<u64>,
    /// Seconds idle before a connection is closed.
    pub idle_secs: Option<u64>,
}

impl ConnSettings {
    /// These settings over `defaults`.
    pub fn apply(
        &self,
        mut d: ringside_domain::limits::ConnLimits,
    ) -> ringside_domain::limits::ConnLimits {
        if let Some(n) = self.max_total {
            d.max_total = n.max(1) as usize;
        }
        if let Some(n) = self.max_per_ip {
            d.max_per_ip = n.max(1) as usize;
        }
        if let Some(n) = self.message_secs {
            d.header = Duration::from_secs(n.max(1));
        }
        if let Some(n) = self.idle_secs {
            d.idle = Duration::from_secs(n.max(1));
        }
        d
    }
}
