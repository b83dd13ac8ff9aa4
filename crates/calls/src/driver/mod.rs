//! The thin tokio driver around [`SipCore`], in three parts:
//!
//! - [`transport`]: the UDP and TCP sockets on one port and the TLS listener, framing,
//!   parsing at the edge and the overload rule, and sending;
//! - [`resolve`]: the trunk resolver (RFC 3263 over an async resolver), feeding the core's
//!   directory with the addresses of trunks' hosts;
//! - [`websocket`]: SIP over WebSocket connections the HTTP listener accepted, and the
//!   WebRTC media of the browser softphones on them (answered on the WebRTC edge);
//! - [`tls`]: the server certificate (reloaded when its files change) and the client settings
//!   of connections Ringside opens;
//! - [`core_task`]: the one task that owns the core, reads the one [`Clock`] and routes what
//!   the core produced;
//! - [`writer`]: the storage writer, the call core's one outbox writer (registrations, batched
//!   call records, then call events onto the bus and into the webhook outbox, and browser
//!   rings).
//!
//! ```text
//!  UDP recv task ─┐                           ┌─► Transport::send (UDP socket, TCP writers)
//!  TCP conn tasks ┼─► parse ─► mpsc ─► core task ─► browser calls' signal channels
//!                 │   (malformed: 400/501     └─► storage writer (batched) ─► call events and
//!                 │    or dropped + counted)                     rings on the bus, webhook outbox
//!  commands, directory changes, media events ─► core task
//! ```

mod core_task;
pub mod replica;
pub mod resolve;
pub mod tls;
mod transport;
pub mod websocket;
mod writer;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use ringside_domain::limits::{ConnLimits, ConnTable};
use ringside_domain::Bus;
use ringside_sip::registrar::Binding;
use ringside_sip::transaction::TransportKind;
use ringside_storage::Store;

use crate::clock::Clock;
use crate::core::SipCore;
use crate::directory::DirectoryChange;
use crate::metrics::SipMetrics;
use crate::overload::Overload;
use core_task::CoreTask;
use tls::{ServerCert, TlsClients};
use transport::{Inlet, TlsListen, Transport};

/// Commands to the running core.
#[derive(Debug)]
pub enum Command {
    /// Start refusing new calls (503).
    Drain,
    /// The grace period is over: hang up every call still up (BYE / CANCEL / 503), recorded as
    /// ended by `server_shutdown`.
    EndAll,
    /// Ask how many calls are in progress.
    ActiveCalls(oneshot::Sender<usize>),
    /// Answer once everything the core produced so far (registrations, call records and
    /// their webhook events) is written to storage.
    FlushStorage(oneshot::Sender<()>),
    /// A browser calls; what happens to the call is sent on the channel (until `Ended`).
    BrowserCall(
        crate::b2bua::BrowserCall,
        mpsc::UnboundedSender<crate::b2bua::BrowserSignal>,
    ),
    /// The browser of edge session `n` hung up or went away.
    BrowserHangup(u64),
    /// The media of edge session `n` failed (ICE consent lapsed, DTLS failed).
    BrowserMediaFailed(u64),
    /// A visitor accepts a call ringing its browser; signals as for `BrowserCall`.
    BrowserAccept(
        crate::b2bua::BrowserAnswer,
        mpsc::UnboundedSender<crate::b2bua::BrowserSignal>,
    ),
    /// A console operator answers a visitor's call; signals as for `BrowserCall`.
    ConsoleAccept(
        crate::b2bua::BrowserAnswer,
        mpsc::UnboundedSender<crate::b2bua::BrowserSignal>,
    ),
    /// The browser of edge session `n` holds (`true`) or resumes its call.
    BrowserHold(u64, bool),
    /// The edge measured the round-trip time to the browser of edge session `n`.
    BrowserRtt(u64, std::time::Duration),
    /// A visitor declines the call (record id) ringing its browser.
    BrowserDecline(String, ringside_domain::channels::Channel),
    /// A registration change another node of the cluster made (and stored).
    ReplicaBinding(ringside_sip::registrar::BindingChange),
}

/// Handle to the running SIP server.
#[derive(Debug, Clone)]
pub struct SipServer {
    cmd: mpsc::UnboundedSender<Command>,
    directory: mpsc::UnboundedSender<DirectoryChange>,
    tls_clients: Arc<TlsClients>,
    resolve: Option<mpsc::UnboundedSender<resolve::ResolveCmd>>,
    websockets: websocket::SipWebSockets,
    /// The UDP/TCP address actually bound.
    pub local_addr: SocketAddr,
}

impl SipServer {
    /// Send a command to the core.
    pub fn command(&self, c: Command) {
        let _ = self.cmd.send(c);
    }

    /// Change the core's directory (the API created, changed or deleted an extension, a
    /// trunk or a queue number). A SIP message that arrives after this call is routed with
    /// the change made.
    pub fn change_directory(&self, change: DirectoryChange) {
        match &change {
            DirectoryChange::TrunkUpserted(t) => {
                self.tls_clients.trunk_upserted(t);
                self.resolve(resolve::ResolveCmd::Trunk(Box::new(t.clone())));
            }
            DirectoryChange::TrunkRemoved(id) => {
                self.tls_clients.trunk_removed(id);
                self.resolve(resolve::ResolveCmd::Removed(id.clone()));
            }
            _ => {}
        }
        let _ = self.directory.send(change);
    }

    fn resolve(&self, cmd: resolve::ResolveCmd) {
        if let Some(r) = &self.resolve {
            let _ = r.send(cmd);
        }
    }

    /// What the HTTP listener needs to carry SIP over WebSocket (RFC 7118) into this server.
    pub fn websockets(&self) -> websocket::SipWebSockets {
        self.websockets.clone()
    }

    /// Calls in progress (0 if the core is gone).
    pub async fn active_calls(&self) -> usize {
        let (tx, rx) = oneshot::channel();
        self.command(Command::ActiveCalls(tx));
        rx.await.unwrap_or(0)
    }

    /// Waits until everything the SIP core produced so far is in storage (for shutdown).
    pub async fn flush_storage(&self) {
        let (tx, rx) = oneshot::channel();
        self.command(Command::FlushStorage(tx));
        let _ = rx.await;
    }
}

/// The relays' media events (DTMF) tagged with their call's key, for the core.
pub type MediaEvents = mpsc::UnboundedReceiver<(u64, ringside_media::MediaEvent)>;

/// SIP over TLS: where, and the certificate's PEM files (re-read when they change).
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// The TLS listen address.
    pub addr: SocketAddr,
    /// The certificate chain, leaf first.
    pub cert: std::path::PathBuf,
    /// Its private key.
    pub key: std::path::PathBuf,
}

/// Where and how the driver listens.
#[derive(Debug, Clone)]
pub struct Listen {
    /// The UDP and TCP address.
    pub bind: SocketAddr,
    /// SIP over TLS, if served.
    pub tls: Option<TlsSettings>,
    /// DNS servers for trunks' host names; empty: the system's (`/etc/resolv.conf`).
    pub dns: Vec<SocketAddr>,
    /// Caps and timeouts of SIP over TCP, and the table the connections are counted in.
    pub tcp: (ConnLimits, Arc<ConnTable>),
    /// When new work is refused because the core is behind.
    pub overload: Overload,
    /// The one clock the core, its timers and the storage writer read.
    pub clock: Arc<dyn Clock>,
    /// The public base URL, for the dashboard link (`dashboardUrl`) in call webhooks; none:
    /// no link.
    pub public_url: Option<String>,
}

/// Bind UDP and TCP as `listen` says, restore bindings from `store`, and run `core` until the
/// process ends, publishing call events and browser rings on `bus`.
pub async fn start(
    listen: Listen,
    mut core: SipCore,
    store: Store,
    metrics: Arc<SipMetrics>,
    media_events: Option<MediaEvents>,
    bus: Arc<Bus>,
) -> std::io::Result<SipServer> {
    let Listen {
        bind,
        tls,
        dns,
        tcp: tcp_limits,
        overload,
        clock,
        public_url,
    } = listen;
    let (in_tx, in_rx) = mpsc::channel(65_536);
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (store_tx, store_rx) = mpsc::unbounded_channel();
    let inlet = Inlet::new(in_tx, overload, metrics.clone());
    let tls = match tls {
        Some(t) => {
            let cert = ServerCert::load(&t.cert, &t.key)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            Some(TlsListen { addr: t.addr, cert })
        }
        None => None,
    };
    let tls_clients = Arc::new(TlsClients::default());
    let (dir_tx, dir_rx) = mpsc::unbounded_channel();
    let resolve = match resolve::resolver(&dns, bind.ip()) {
        Ok(r) => Some(resolve::spawn(r, dir_tx.clone())),
        Err(e) => {
            warn!(error = %e, "no DNS resolver: trunks named by host name cannot be dialled");
            None
        }
    };
    match store.all_trunks().await {
        Ok(trunks) => {
            for t in trunks {
                tls_clients.trunk_upserted(&t);
                if let Some(r) = &resolve {
                    let _ = r.send(resolve::ResolveCmd::Trunk(Box::new(t)));
                }
            }
        }
        Err(e) => warn!(error = %e, "could not load the trunks' TLS settings and hosts"),
    }
    // Messages that arrive before the core task runs wait in the inbound queue.
    let (failed_tx, failed_rx) = mpsc::unbounded_channel();
    let transport = Transport::bind(
        bind,
        tcp_limits,
        inlet,
        tls,
        (tls_clients.clone(), failed_tx),
    )
    .await?;
    let local_addr = transport.local_addr();
    let websockets = transport.websockets();
    if let Some(addr) = transport.tls_addr() {
        info!(%addr, "SIP listening on TLS");
    }
    match store.live_bindings(clock.now().unix_ms).await {
        Ok(list) => {
            let (mut n, mut websocket) = (0, 0);
            for b in list {
                let Some(b) = binding_from_store(b) else {
                    continue;
                };
                // A WebSocket phone is reached on its connection alone, and that connection
                // ended with the process that held it: the binding waits for the phone's next
                // REGISTER (on a new connection) rather than routing calls nowhere.
                if matches!(b.transport, TransportKind::Ws | TransportKind::Wss) {
                    websocket += 1;
                    continue;
                }
                core.registrar_mut().restore(b);
                n += 1;
            }
            info!(
                bindings = n,
                websocket_skipped = websocket,
                "restored registrations"
            );
        }
        Err(e) => warn!(error = %e, "could not load registrations"),
    }
    tokio::spawn(writer::storage_writer(
        store,
        store_rx,
        bus,
        metrics,
        clock.clone(),
        public_url,
    ));
    let task = CoreTask {
        core,
        transport,
        inbound: in_rx,
        failed: failed_rx,
        commands: cmd_rx,
        directory: dir_rx,
        media_events: media_events.unwrap_or_else(|| mpsc::unbounded_channel().1),
        writer: store_tx,
        clock,
    };
    tokio::spawn(task.run());
    info!(%local_addr, "SIP listening on UDP and TCP");
    Ok(SipServer {
        cmd: cmd_tx,
        directory: dir_tx,
        tls_clients,
        resolve,
        websockets,
        local_addr,
    })
}

fn binding_from_store(b: ringside_storage::Binding) -> Option<Binding> {
    Some(Binding {
        account_id: b.extension_id,
        contact: b.contact_uri,
        source: b.source_addr.parse().ok()?,
        transport: TransportKind::from_name(&b.transport),
        expires_at: b.expires_at,
        call_id: b.call_id,
        cseq: u32::try_from(b.cseq).unwrap_or(0),
        user_agent: b.user_agent,
        path: b.path,
    })
}
