//! Builds the runtime from [`Settings`]: storage, directory, media engine, SIP core and driver,
//! HTTP router; and shuts down gracefully on SIGTERM/SIGINT.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use ringside_api::{AppState, MetricsSource, SipDirectory};
use ringside_calls::core::SipCore;
use ringside_calls::directory::{Directory, DirectoryChange};
use ringside_calls::driver::{self, Command, SipServer};
use ringside_calls::media::AnchoredMedia;
use ringside_calls::metrics::SipMetrics;
use ringside_calls::recording::{self, Recorder};
use ringside_domain::limits::{ConnLimits, ConnTable};
use ringside_media::player::{AssetRegistry, Assets};
use ringside_media::webrtc::{WebRtcConfig, WebRtcEdge};
use ringside_media::MediaEngine;
use ringside_storage::{Extension, Store, Trunk};
use tracing::{info, warn};

use crate::cluster::Membership;
use crate::config::Settings;
use crate::secrets::Secrets;

/// Open (and migrate) the configured database, creating the data directory for SQLite.
pub async fn open_store(s: &Settings) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&s.data_dir)
        .with_context(|| format!("creating data dir {}", s.data_dir.display()))?;
    std::fs::create_dir_all(&s.files_dir)
        .with_context(|| format!("creating files dir {}", s.files_dir.display()))?;
    Store::connect(&s.database_url)
        .await
        .with_context(|| "opening the database".to_string())
}

/// The API's directory writes, sent to the SIP core (which owns the directory) as commands.
/// In a cluster the change goes to the other nodes too.
struct DirAdapter(SipServer, Arc<ringside_domain::Bus>);

impl DirAdapter {
    fn send(&self, change: DirectoryChange) {
        ringside_calls::driver::replica::directory_changed(&self.1, &change);
        self.0.change_directory(change);
    }
}

impl SipDirectory for DirAdapter {
    fn extension_upserted(&self, ext: &Extension) {
        self.send(DirectoryChange::ExtensionUpserted(ext.clone()));
    }
    fn extension_removed(&self, id: &str) {
        self.send(DirectoryChange::ExtensionRemoved(id.to_string()));
    }
    fn trunk_upserted(&self, trunk: &Trunk) {
        self.send(DirectoryChange::TrunkUpserted(trunk.clone()));
    }
    fn trunk_removed(&self, id: &str) {
        self.send(DirectoryChange::TrunkRemoved(id.to_string()));
    }
    fn queue_number_set(&self, tenant_id: &str, widget_id: &str, number: Option<&str>) {
        self.send(DirectoryChange::QueueNumber {
            tenant_id: tenant_id.to_string(),
            widget_id: widget_id.to_string(),
            number: number.map(str::to_string),
        });
    }
}

struct Metrics {
    sip: Arc<SipMetrics>,
    media: MediaEngine,
    edge: WebRtcEdge,
    browser: Arc<ringside_calls::gateway::BrowserCallStats>,
    started: Instant,
    http_conns: Arc<ConnTable>,
    sip_conns: Arc<ConnTable>,
}

impl MetricsSource for Metrics {
    fn render(&self, out: &mut String) {
        use std::sync::atomic::Ordering::Relaxed;
        self.sip.render(out);
        for (proto, t) in [("http", &self.http_conns), ("sip_tcp", &self.sip_conns)] {
            out.push_str(&format!(
                "# HELP ringside_{proto}_connections Connections open now.\n# TYPE ringside_{proto}_connections gauge\nringside_{proto}_connections {}\n\
                 # HELP ringside_{proto}_connections_refused_total Connections closed at once because a cap was reached.\n# TYPE ringside_{proto}_connections_refused_total counter\nringside_{proto}_connections_refused_total {}\n\
                 # HELP ringside_{proto}_connections_timed_out_total Connections closed for sending nothing in time.\n# TYPE ringside_{proto}_connections_timed_out_total counter\nringside_{proto}_connections_timed_out_total {}\n",
                t.open(),
                t.refused.load(Relaxed),
                t.timed_out.load(Relaxed),
            ));
        }
        let st = self.media.stats();
        let (exts, trunks) = (
            self.sip.directory_extensions.load(Relaxed),
            self.sip.directory_trunks.load(Relaxed),
        );
        let fast = self.media.fast_path().map(|f| f.totals());
        for (name, help, kind, v) in [
            (
                "ringside_rtp_forwarded_packets_total",
                "RTP/RTCP packets relayed between legs (in userspace or by the kernel fast path).",
                "counter",
                st.forwarded.load(Relaxed) + fast.map_or(0, |t| t.forwarded),
            ),
            (
                "ringside_media_fastpath_enabled",
                "1 when the kernel fast path (eBPF) forwards steady passthrough calls.",
                "gauge",
                u64::from(fast.is_some()),
            ),
            (
                "ringside_media_fastpath_calls",
                "Calls whose media the kernel fast path forwards now.",
                "gauge",
                st.offloaded.load(Relaxed),
            ),
            (
                "ringside_media_fastpath_offloads_total",
                "Times a call's media was handed to the kernel fast path.",
                "counter",
                st.offloads.load(Relaxed),
            ),
            (
                "ringside_media_fastpath_reclaims_total",
                "Times a call's media was taken back from the kernel (hold, re-INVITE, DTMF, a new source).",
                "counter",
                st.reclaims.load(Relaxed),
            ),
            (
                "ringside_media_fastpath_packets_total",
                "RTP packets forwarded by the kernel fast path.",
                "counter",
                fast.map_or(0, |t| t.forwarded),
            ),
            (
                "ringside_media_fastpath_rules",
                "Rules in the fast path's map (RTP and RTCP ports of offloaded calls).",
                "gauge",
                self.media.fast_path().map_or(0, |f| f.rules() as u64),
            ),
            (
                "ringside_rtp_dropped_foreign_total",
                "RTP/RTCP packets dropped from unexpected sources.",
                "counter",
                st.dropped_foreign.load(Relaxed),
            ),
            (
                "ringside_rtp_dropped_no_destination_total",
                "RTP/RTCP packets dropped before the other leg had an address.",
                "counter",
                st.dropped_no_destination.load(Relaxed),
            ),
            (
                "ringside_rtp_generated_packets_total",
                "RTP/RTCP packets Ringside generated (transcoded audio, players, reports).",
                "counter",
                st.generated.load(Relaxed),
            ),
            (
                "ringside_rtp_dropped_malformed_total",
                "Datagrams on media ports that were not valid RTP/RTCP.",
                "counter",
                st.dropped_malformed.load(Relaxed),
            ),
            (
                "ringside_srtp_auth_failures_total",
                "SRTP/SRTCP packets dropped for failing authentication or replay checks.",
                "counter",
                st.dropped_srtp.load(Relaxed),
            ),
            (
                "ringside_srtp_awaiting_keys_total",
                "Packets dropped from a leg that must be encrypted, before its keys were known.",
                "counter",
                st.dropped_awaiting_keys.load(Relaxed),
            ),
            (
                "ringside_srtp_passthrough_packets_total",
                "SRTP packets relayed as they came, keys passed end to end (no re-encryption).",
                "counter",
                st.srtp_passthrough.load(Relaxed),
            ),
            (
                "ringside_dtls_srtp_handshakes_total",
                "DTLS-SRTP handshakes completed on SIP legs' media ports (RTP and RTCP each).",
                "counter",
                st.dtls_handshakes.load(Relaxed),
            ),
            (
                "ringside_dtmf_rfc4733_digits_total",
                "DTMF digits detected in RFC 4733 telephone-events.",
                "counter",
                st.dtmf_digits.load(Relaxed),
            ),
            (
                "ringside_media_transcoding_calls",
                "Calls whose legs use different codecs.",
                "gauge",
                st.transcoding.load(Relaxed),
            ),
            (
                "ringside_media_recordings_active",
                "Recordings being written.",
                "gauge",
                st.recording.load(Relaxed),
            ),
            (
                "ringside_media_relays_active",
                "Media relays running.",
                "gauge",
                st.active.load(Relaxed),
            ),
            (
                "ringside_webrtc_sessions",
                "WebRTC edge sessions (browser peer connections) alive.",
                "gauge",
                self.edge.stats().sessions.load(Relaxed),
            ),
            (
                "ringside_webrtc_connected_total",
                "WebRTC sessions that connected (ICE and DTLS up).",
                "counter",
                self.edge.stats().connected_total.load(Relaxed),
            ),
            (
                "ringside_webrtc_failed_total",
                "WebRTC sessions that failed or never connected.",
                "counter",
                self.edge.stats().failed_total.load(Relaxed),
            ),
            (
                "ringside_webrtc_dropped_unknown_total",
                "Datagrams on the WebRTC port that belong to no session.",
                "counter",
                self.edge.stats().dropped_unknown.load(Relaxed),
            ),
            (
                "ringside_webrtc_video_forwarded_total",
                "Video RTP packets relayed from one browser to another (visitor and console operator).",
                "counter",
                self.edge.stats().video_forwarded.load(Relaxed),
            ),
            (
                "ringside_webrtc_video_feedback_total",
                "Keyframe requests and NACKs carried back to a browser sending video.",
                "counter",
                self.edge.stats().video_feedback.load(Relaxed),
            ),
            (
                "ringside_browser_calls_total",
                "Browser calls started.",
                "counter",
                self.browser.started.load(Relaxed),
            ),
            (
                "ringside_browser_calls_active",
                "Browser call tasks running.",
                "gauge",
                self.browser.active.load(Relaxed),
            ),
            (
                "ringside_rtp_port_pairs_free",
                "Free RTP port pairs.",
                "gauge",
                self.media.ports_available() as u64,
            ),
            (
                "ringside_sip_extensions",
                "Configured SIP extensions.",
                "gauge",
                exts,
            ),
            (
                "ringside_sip_trunks",
                "Configured SIP trunks.",
                "gauge",
                trunks,
            ),
            (
                "ringside_runtime_tasks",
                "Tasks alive in the async runtime (a leak shows as growth after load stops).",
                "gauge",
                tokio::runtime::Handle::try_current()
                    .map_or(0, |h| h.metrics().num_alive_tasks() as u64),
            ),
            (
                "ringside_uptime_seconds",
                "Seconds since start.",
                "gauge",
                self.started.elapsed().as_secs(),
            ),
        ] {
            ringside_calls::metrics::write_metric(out, name, help, kind, v);
        }
        if let Some(t) = fast {
            out.push_str(
                "# HELP ringside_media_fastpath_punted_total Packets to an offloaded call's ports the kernel left to userspace, by reason.\n\
                 # TYPE ringside_media_fastpath_punted_total counter\n",
            );
            for r in ringside_media::fastpath::PuntReason::ALL {
                out.push_str(&format!(
                    "ringside_media_fastpath_punted_total{{reason=\"{}\"}} {}\n",
                    r.as_str(),
                    t.punted(r)
                ));
            }
        }
    }
}

/// Connection caps of both TCP listeners under the process's descriptor limit (raised to the
/// hard limit first: every call holds four media sockets).
struct Limits {
    http: ConnLimits,
    sip: ConnLimits,
}

fn build_limits(s: &Settings) -> Limits {
    let nofile = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => {
            info!(max_open_files = n, "descriptor limit");
            n
        }
        Err(e) => {
            warn!(error = %e, "could not raise the descriptor limit");
            1024
        }
    };
    // Connection caps leave the rest of the descriptors to UDP SIP, media and storage.
    let l = Limits {
        http: s.http.conns.apply(ConnLimits::http_default(nofile)),
        sip: s.sip.tcp_conns.apply(ConnLimits::sip_default(nofile)),
    };
    info!(
        http_max = l.http.max_total,
        http_per_ip = l.http.max_per_ip,
        sip_tcp_max = l.sip.max_total,
        sip_tcp_per_ip = l.sip.max_per_ip,
        "connection caps"
    );
    l
}

/// Storage opened and migrated, this node joined to the cluster's `nodes` table, and what a
/// previous run of this node left behind put right: call records it could not end are
/// closed, recordings a crash interrupted are repaired.
async fn build_storage(s: &Settings) -> anyhow::Result<(Store, Membership)> {
    let store = open_store(s).await?.with_node_id(&s.cluster.node_id);
    if s.cluster.persist_node_id {
        std::fs::write(s.data_dir.join("node-id"), &s.cluster.node_id)
            .context("keeping the node id in the data directory")?;
    }
    info!(backend = ?store.backend(), node = %s.cluster.node_id, "storage ready");
    // After any previous run of this node stopped heartbeating: its calls are closed below.
    let membership = Membership::join(&store, s).await?;
    // Calls a previous run could not end (killed, crashed) would stay `answered` forever.
    match store
        .close_open_calls(
            ringside_domain::EndReason::ServerRestart,
            ringside_storage::now_ms(),
        )
        .await
    {
        Ok(0) => {}
        Ok(n) => warn!(
            calls = n,
            "closed call records left open by the previous run"
        ),
        Err(e) => warn!(error = %e, "could not close call records left open"),
    }
    let repaired = recording::repair_interrupted(&s.files_dir, &store).await;
    if repaired > 0 {
        info!(repaired, "recordings interrupted by a crash were repaired");
    }
    Ok((store, membership))
}

/// The directory the SIP core starts with: every extension, trunk and queue number stored.
async fn build_directory(store: &Store) -> anyhow::Result<Directory> {
    let mut directory = Directory::load(
        store.all_extensions().await.context("loading extensions")?,
        store.all_trunks().await.context("loading trunks")?,
    );
    for (tenant, widget, number) in store
        .all_queue_numbers()
        .await
        .context("loading queue numbers")?
    {
        directory.set_queue_number(&tenant, &widget, Some(&number));
    }
    Ok(directory)
}

/// The media side: the relay engine, tenants' and widgets' prompts over the deployment's
/// defaults (loaded in the background), and the recorder.
struct Media {
    engine: MediaEngine,
    prompts: Arc<AssetRegistry>,
    widget_prompts: Arc<AssetRegistry>,
    recorder: Recorder,
}

fn build_media(s: &Settings, store: &Store) -> anyhow::Result<Media> {
    let mut engine = MediaEngine::new(s.sip.addr.ip(), s.media.rtp_ports.clone())
        .with_encoder_options(s.media.encoder_options());
    // The kernel fast path: one log line says whether relayed calls use it.
    use crate::config::FastPathMode;
    match s.media.fastpath {
        FastPathMode::Off => info!("media fast path: off (RINGSIDE_MEDIA_FASTPATH=off)"),
        mode => match ringside_media::fastpath::FastPath::start(s.sip.addr.ip()) {
            Ok(f) => {
                info!(
                    "media fast path: on (eBPF at the TC ingress of {}): steady passthrough \
                     calls are forwarded in the kernel",
                    f.interfaces().join(", ")
                );
                engine = engine.with_fast_path(Arc::new(f));
            }
            Err(e) if mode == FastPathMode::On => {
                anyhow::bail!("RINGSIDE_MEDIA_FASTPATH=on, but the fast path cannot start: {e}")
            }
            Err(e) => info!("media fast path: off ({e}); calls are relayed in userspace"),
        },
    }
    let assets = match &s.media.assets_dir {
        Some(d) => Assets::with_override_dir(d)
            .with_context(|| format!("loading prompt overrides from {}", d.display()))?,
        None => Assets::new(),
    };
    // Tenants' uploads (`<data_dir>/prompts/<tenant>/<file>`) over the deployment's defaults.
    let prompts = Arc::new(AssetRegistry::new(
        s.files_dir.join("prompts"),
        Arc::new(assets),
    ));
    {
        let prompts = prompts.clone();
        tokio::task::spawn_blocking(move || {
            let n = prompts.preload();
            if n > 0 {
                info!(tenants = n, "uploaded prompts loaded");
            }
        });
    }
    // Widgets' own uploads (`<data_dir>/prompts-widgets/<widget>/<file>`) over their tenant's.
    let widget_prompts = Arc::new(AssetRegistry::new(
        s.files_dir.join("prompts-widgets"),
        prompts.defaults().clone(),
    ));
    {
        let w = widget_prompts.clone();
        tokio::task::spawn_blocking(move || w.preload());
    }
    if s.media.recording_retention_days > 0 {
        let (dir, st, days) = (
            s.files_dir.clone(),
            store.clone(),
            s.media.recording_retention_days,
        );
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(3600));
            loop {
                every.tick().await;
                let n = recording::cleanup_expired(&dir, &st, days).await;
                if n > 0 {
                    info!(deleted = n, "expired recordings removed");
                }
            }
        });
    }
    Ok(Media {
        engine,
        prompts,
        widget_prompts,
        recorder: Recorder::spawn(s.files_dir.clone(), store.clone()),
    })
}

/// The call side: the SIP core on its driver, the WebRTC edge, and the browser-call gateway
/// joining them; the bus and channel numbers it shares with the control plane.
struct Calls {
    sip: SipServer,
    metrics: Arc<SipMetrics>,
    edge: WebRtcEdge,
    gateway: ringside_calls::gateway::Gateway,
    browser_stats: Arc<ringside_calls::gateway::BrowserCallStats>,
    console: Arc<ringside_domain::console::ConsoleOperators>,
    channels: Arc<ringside_domain::channels::Channels>,
    bus: Arc<ringside_domain::Bus>,
}

async fn build_calls(
    s: &Settings,
    store: &Store,
    secrets: &Secrets,
    media: &Media,
    sip_conns: (ConnLimits, Arc<ConnTable>),
) -> anyhow::Result<Calls> {
    let (media_tx, media_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut anchored = AnchoredMedia::new(
        media.engine.clone(),
        media.prompts.clone(),
        Some(media.recorder.clone()),
    )
    .with_events(media_tx)
    .with_widget_assets(media.widget_prompts.clone());
    if let Some(c) = &s.media.ringback {
        anchored = anchored.with_ringback(c.clone());
    }
    let metrics = Arc::new(SipMetrics::default());
    let mut core = SipCore::new(
        s.sip.core_config(secrets.sip, &s.media),
        build_directory(store).await?,
        Box::new(anchored),
        metrics.clone(),
    );
    // Visitors' channel numbers: allocated by the widget sockets, dialled by trusted PBXs.
    let channels: Arc<ringside_domain::channels::Channels> = Arc::default();
    core.set_channels(channels.clone());
    // The one event bus: the control plane and the call core publish, sockets subscribe.
    let bus: Arc<ringside_domain::Bus> = Arc::default();
    let sip = driver::start(
        driver::Listen {
            bind: s.sip.addr,
            tls: s.sip.tls.clone(),
            dns: s.sip.dns.clone(),
            tcp: sip_conns,
            overload: s.sip.overload,
            clock: std::sync::Arc::new(ringside_calls::clock::SystemClock),
            public_url: Some(s.http.public_url.clone()),
        },
        core,
        store.clone(),
        metrics.clone(),
        Some(media_rx),
        bus.clone(),
    )
    .await
    .with_context(|| format!("binding SIP on {}", s.sip.addr))?;
    // The WebRTC edge: every browser's media on one UDP port.
    let edge = WebRtcEdge::start(
        WebRtcConfig {
            bind: s.webrtc.addr,
            candidate_ips: s.webrtc_candidate_ips(),
            connect_timeout: Duration::from_secs(20),
            relay_ip: s.sip.relay_ip(),
        },
        s.webrtc.ice_servers.clone(),
    )
    .with_context(|| format!("binding WebRTC media on UDP {}", s.webrtc.addr))?;
    info!(webrtc = %edge.local_addr(), "WebRTC edge listening");
    let browser_stats = Arc::new(ringside_calls::gateway::BrowserCallStats::default());
    let console: Arc<ringside_domain::console::ConsoleOperators> = Arc::default();
    let gateway = ringside_calls::gateway::Gateway {
        edge: edge.clone(),
        sip: sip.clone(),
        relay_ip: s.sip.relay_ip(),
        accept_timeout: s.sip.pstn_accept_timeout,
        store: store.clone(),
        console: console.clone(),
        ice_servers: s.webrtc.ice_servers.clone(),
        turn_credentials: s.webrtc.turn_credentials.clone(),
        stats: browser_stats.clone(),
    };
    Ok(Calls {
        sip,
        metrics,
        edge,
        gateway,
        browser_stats,
        console,
        channels,
        bus,
    })
}

/// The control plane's state over the call side and the media side.
fn build_api(
    s: &Settings,
    store: &Store,
    secrets: Secrets,
    media: Media,
    calls: Calls,
    presence: Arc<ringside_api::Presence>,
    conns: [Arc<ConnTable>; 2],
) -> anyhow::Result<AppState> {
    let [http_conns, sip_conns] = conns;
    Ok(AppState {
        store: store.clone(),
        directory: Arc::new(DirAdapter(calls.sip.clone(), calls.bus.clone())),
        metrics: vec![Arc::new(Metrics {
            sip: calls.metrics,
            media: media.engine,
            edge: calls.edge,
            browser: calls.browser_stats,
            started: Instant::now(),
            http_conns,
            sip_conns,
        })],
        sip_realm: s.sip.realm.clone(),
        data_dir: s.files_dir.clone(),
        prompts: media.prompts,
        widget_prompts: media.widget_prompts,
        fetch_policy: s.http.fetch_policy(),
        console: calls.console,
        public_url: s.http.public_url.clone(),
        request_timeout: s.http.request_timeout,
        presence,
        rate_limits: Arc::new(ringside_api::RateLimits::new(s.http.rate_limits)),
        link_secret: secrets.link,
        vapid: Arc::new(secrets.vapid),
        usage_limits: s.http.usage_limits,
        bus: calls.bus,
        widget_cache: Default::default(),
        calls: Some(Arc::new(calls.gateway)),
        channels: calls.channels,
        accounts: Arc::new(ringside_api::accounts::Accounts::new(
            Default::default(),
            mailer(s)?,
        )),
        knowledge: Arc::new(
            ringside_api::knowledge::Knowledge::open(&s.data_dir.join("knowledge").join("index"))
                .context("opening the knowledge index")?,
        ),
        crawler: Default::default(),
    })
}

/// Where sign-in codes and invitations go: the SMTP server, or the log.
fn mailer(s: &Settings) -> anyhow::Result<Arc<dyn ringside_api::accounts::mail::Mailer>> {
    use ringside_api::accounts::mail::{LogMailer, SmtpMailer};
    Ok(match &s.http.smtp {
        Some(smtp) => {
            tracing::info!(from = %smtp.from, "sign-in codes are mailed over SMTP");
            Arc::new(SmtpMailer::with_roots(
                &smtp.url,
                &smtp.from,
                smtp.extra_roots.as_deref(),
            )?)
        }
        None => {
            tracing::warn!(
                "no SMTP server is configured (RINGSIDE_SMTP_URL): sign-in codes and \
                 invitations are written to this log instead of being mailed"
            );
            Arc::new(LogMailer)
        }
    })
}

/// Refuse new calls, let the calls in progress go on up to the grace period, then hang up
/// the rest.
async fn drain_calls(sip: &SipServer, grace: Duration) {
    info!("shutting down: refusing new calls");
    sip.command(Command::Drain);
    let deadline = Instant::now() + grace;
    loop {
        let n = sip.active_calls().await;
        if n == 0 {
            break;
        }
        if Instant::now() >= deadline {
            warn!(
                active = n,
                "grace period over: hanging up the calls still up"
            );
            sip.command(Command::EndAll);
            // Let the BYEs leave and their answers come back (the records are already closed).
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if sip.active_calls().await == 0 {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Run everything until SIGTERM/SIGINT, then drain calls up to the grace period.
pub async fn serve(s: Settings) -> anyhow::Result<()> {
    let limits = build_limits(&s);
    let (http_conns, sip_conns): (Arc<ConnTable>, Arc<ConnTable>) = Default::default();
    let (store, membership) = build_storage(&s).await?;
    let heartbeat = membership.spawn_heartbeat();
    // Webhook deliveries: the outbox is in the database, so whatever was pending when the
    // last process stopped is sent now, with its original delivery ids.
    let webhooks = ringside_api::webhook_dispatch::Dispatcher::new(
        store.clone(),
        s.webhooks.dispatch_config(s.http.fetch_policy()),
    )
    .context("building the webhook HTTP client")?
    .spawn();
    let media = build_media(&s, &store)?;
    let secrets = Secrets::load(&s, &store).await?;
    let calls = build_calls(
        &s,
        &store,
        &secrets,
        &media,
        (limits.sip, sip_conns.clone()),
    )
    .await?;
    let sip = calls.sip.clone();
    let sip_ws = s.sip.ws_path.clone().map(|path| {
        let state = crate::sip_ws::SipWs {
            sockets: sip
                .websockets()
                .with_edge(calls.edge.clone(), s.sip.relay_ip()),
            origins: Arc::new(s.sip.ws_origins.clone()),
            public_origin: crate::sip_ws::origin_of(&s.http.public_url),
            metrics: calls.metrics.clone(),
        };
        (path, state)
    });
    let presence = Arc::new(ringside_api::Presence::new(
        store.clone(),
        ringside_api::PresenceConfig {
            trust_forwarded_for: s.http.trust_forwarded_for,
            public_url: Some(s.http.public_url.clone()),
            ..Default::default()
        },
    ));
    let presence_flusher = presence.spawn_flusher();
    // In a cluster, the bus reaches the other nodes over NATS.
    let nats = match &s.cluster.nats_url {
        None => None,
        Some(url) => {
            // The cluster's own subjects: nodes sharing this database (and so its id) hear
            // each other, and no other cluster on the same NATS server.
            let id = secrets.cluster_id.as_deref().unwrap_or_default();
            let subjects = crate::nats::Subjects::new(&crate::nats::cluster_token(id));
            Some(crate::nats::NatsLink::start(url, &s.cluster.node_id, subjects, &calls.bus).await?)
        }
    };
    // The other nodes' SIP registrations, copied into this node's registrar.
    let replica = nats.as_ref().map(|_| {
        ringside_calls::driver::replica::spawn(
            &calls.bus,
            calls.sip.clone(),
            store.clone(),
            s.cluster.resync,
        )
    });
    let mut state = build_api(
        &s,
        &store,
        secrets,
        media,
        calls,
        presence.clone(),
        [http_conns.clone(), sip_conns],
    )?;
    if let Some(link) = nats {
        state.metrics.push(link);
    }
    // A cluster's nodes share each widget's rate limit.
    let limit_sharing = s
        .cluster
        .nats_url
        .is_some()
        .then(|| crate::cluster::spawn_limit_sharing(store.clone(), state.rate_limits.clone()));
    let mut console_tasks = Vec::new();
    // Uploaded prompts across the cluster: a change through one node is read again by the
    // others (from the shared files directory).
    if state.bus.clustered() {
        let (tenants, widgets) = (state.prompts.clone(), state.widget_prompts.clone());
        console_tasks.push(ringside_api::live::cluster_prompts::spawn_reloads(
            &state.bus,
            tenants.clone(),
            widgets.clone(),
        ));
        state.prompts = Arc::new(ringside_api::live::cluster_prompts::SharedPrompts::new(
            tenants,
            state.bus.clone(),
            "tenant",
        ));
        state.widget_prompts = Arc::new(ringside_api::live::cluster_prompts::SharedPrompts::new(
            widgets,
            state.bus.clone(),
            "widget",
        ));
    }
    // Consoles across the cluster: every node's console seats known to all (a call rings
    // the operators of every node), and an operator answering a call another node holds.
    if state.bus.clustered() {
        console_tasks.push(ringside_api::live::cluster_calls::spawn_seats(
            state.bus.clone(),
            state.console.clone(),
        ));
        if let Some(local) = state.calls.clone() {
            let (calls, task) = ringside_api::live::cluster_calls::ClusterCalls::new(
                local,
                state.bus.clone(),
                store.clone(),
            );
            state.calls = Some(calls);
            console_tasks.push(task);
        }
    }
    // Commands other nodes route here (a visitor's page held by this node).
    let node_inbox = ringside_api::live::commands::spawn_node_inbox(&state);
    // Alerts (ntfy, email): the same outbox durability as webhooks, their own sender.
    let alerts = ringside_api::alert_dispatch::AlertDispatcher::new(store.clone(), {
        let mut c = ringside_api::alert_dispatch::AlertConfig::new(
            &state.public_url,
            state.link_secret,
            s.http.fetch_policy(),
        );
        c.mailer = Some(state.accounts.outbox.mailer());
        c.vapid = Some(state.vapid.clone());
        c.dispatch.lease = s.alert_lease;
        c
    })
    .context("building the alert HTTP client")?
    .spawn();
    let listener = tokio::net::TcpListener::bind(s.http.addr)
        .await
        .with_context(|| format!("binding HTTP on {}", s.http.addr))?;
    // The knowledge index follows the database: whatever changed while this node was down
    // (or on another node) is indexed again; then the crawler takes waiting sources.
    let knowledge = {
        let state = state.clone();
        tokio::spawn(async move {
            match state.knowledge.sync(&state.store).await {
                Ok(r) => info!(
                    indexed = r.indexed,
                    removed = r.removed,
                    passages = state.knowledge.index().passages(),
                    "knowledge index in step with the database"
                ),
                Err(e) => warn!(error = %e, "knowledge index sync failed"),
            }
            ringside_api::knowledge::crawl::Crawler::run(state).await;
        })
    };
    let mut app = ringside_api::router(state);
    if let Some((path, state)) = sip_ws {
        let scheme = if s.http.tls.is_some() { "WSS" } else { "WS" };
        info!(%path, "SIP over {scheme} on the HTTP listener");
        app = app.merge(crate::sip_ws::router(&path, state));
    }
    let tls = match &s.http.tls {
        None => None,
        Some((cert, key)) => {
            let cert = ringside_calls::driver::tls::ServerCert::load(cert, key)
                .map_err(|e| anyhow::anyhow!("HTTPS certificate: {e}"))?;
            cert.watch(Duration::from_secs(2));
            let mut cfg = (*cert.server_config()).clone();
            // HTTP/1.1: every client's WebSockets (SIP, the widget, the console) upgrade on it.
            cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
        }
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    info!(http = %listener.local_addr()?, %scheme, sip = %sip.local_addr, "Ringside running");
    crate::memory::spawn_trimmer();
    let http = tokio::spawn(ringside_api::conn_limits::serve(
        listener,
        app,
        limits.http,
        http_conns,
        tls,
    ));

    shutdown_signal().await;
    drain_calls(&sip, s.sip.shutdown_grace).await;
    http.abort();
    webhooks.abort();
    alerts.abort();
    knowledge.abort();
    presence_flusher.abort();
    node_inbox.abort();
    for t in console_tasks {
        t.abort();
    }
    if let Some(t) = replica {
        t.abort();
    }
    if let Some(t) = limit_sharing {
        t.abort();
    }
    if let Err(e) = presence.flush().await {
        warn!(error = %e, "last presence flush failed");
    }
    // Everything the SIP core produced (registrations, call records, call events) is
    // written before the pool closes.
    if tokio::time::timeout(Duration::from_secs(10), sip.flush_storage())
        .await
        .is_err()
    {
        warn!("storage writer did not finish within 10 s");
    }
    heartbeat.abort();
    membership.leave().await;
    store.close().await;
    info!("bye");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
