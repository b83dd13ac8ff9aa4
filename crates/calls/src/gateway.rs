//! The browser-call gateway: the browser-calls port ([`BrowserCalls`]) over the WebRTC edge
//! and the SIP core.
//!
//! `start` answers the browser's offer on the edge (a new session on the shared port), hands
//! the call to the core (`Command::BrowserCall`), and runs one small task per call that joins
//! the three: the core's signals (relay port → the edge session sends the browser's media
//! there; ringing, answered, ended → the page), the edge's state (a browser that never
//! connects or drops hangs up the call), and the page's hangup and trickled candidates.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ringside_domain::browser::{
    BrowserCallError, BrowserCallHandle, BrowserCallRequest, BrowserCalls, CallControl, CallSignal,
    StartFuture,
};
use ringside_domain::channels::Channel;
use ringside_domain::console::ConsoleOperators;
use ringside_media::webrtc::{Answer, EdgeEvent, EdgeSession, WebRtcEdge};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::b2bua::{BrowserAnswer, BrowserCall, BrowserSignal};
use crate::driver::{Command, SipServer};

/// Counters of browser calls, for `/metrics`.
#[derive(Debug, Default)]
pub struct BrowserCallStats {
    /// Calls started since start.
    pub started: AtomicU64,
    /// Call tasks running (a leak shows here).
    pub active: AtomicU64,
}

/// [`BrowserCalls`] over the edge and the SIP server.
pub struct Gateway {
    /// The WebRTC edge browsers' media arrives on.
    pub edge: WebRtcEdge,
    /// The SIP core's driver.
    pub sip: SipServer,
    /// Where the relay listens, as seen from the edge's loopback sockets.
    pub relay_ip: IpAddr,
    /// How long a PSTN answerer has to press 1.
    pub accept_timeout: Duration,
    /// Where the widgets' call settings are.
    pub store: ringside_storage::Store,
    /// Operators available in the browser console.
    pub console: Arc<ConsoleOperators>,
    /// STUN/TURN URLs given to the pages.
    pub ice_servers: Vec<String>,
    /// TURN user name and credential, if the TURN server needs them.
    pub turn_credentials: Option<(String, String)>,
    /// Counters for `/metrics`.
    pub stats: Arc<BrowserCallStats>,
}

enum Ctl {
    Candidate(String, Option<String>, Option<u16>),
    Hangup,
    Hold(bool),
}

struct Control(mpsc::UnboundedSender<Ctl>);

impl CallControl for Control {
    fn candidate(&self, candidate: String, mid: Option<String>, mline: Option<u16>) {
        let _ = self.0.send(Ctl::Candidate(candidate, mid, mline));
    }
    fn hangup(&self) {
        let _ = self.0.send(Ctl::Hangup);
    }
    fn hold(&self, on: bool) {
        let _ = self.0.send(Ctl::Hold(on));
    }
}

/// What the core is told once the browser's edge session exists (its answer in hand).
type ToCore = Box<dyn FnOnce(&Answer, u64, mpsc::UnboundedSender<BrowserSignal>) -> Command + Send>;

/// Start answering `offer` on the edge, off the async threads (SDP work and the peer
/// connection's setup); the caller may do its own lookups meanwhile.
fn accept_offer(
    edge: WebRtcEdge,
    offer: String,
) -> tokio::task::JoinHandle<Result<EdgeSession, ringside_media::MediaError>> {
    tokio::task::spawn_blocking(move || edge.accept(&offer))
}

/// Once the edge answered (`accepting`), give the core `to_core`'s command and run the call's
/// task; the page gets the handle.
async fn open_call(
    accepting: tokio::task::JoinHandle<Result<EdgeSession, ringside_media::MediaError>>,
    sip: SipServer,
    relay_ip: IpAddr,
    stats: Arc<BrowserCallStats>,
    to_core: ToCore,
) -> Result<BrowserCallHandle, BrowserCallError> {
    let session = accepting
        .await
        .map_err(|_| BrowserCallError::Unavailable)?
        .map_err(|e| BrowserCallError::BadOffer(e.to_string()))?;
    let answer = session.answer.clone();
    let (page_tx, page_rx) = mpsc::unbounded_channel();
    let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
    let (core_tx, core_rx) = mpsc::unbounded_channel();
    sip.command(to_core(&answer, session.id(), core_tx));
    stats.started.fetch_add(1, Ordering::Relaxed);
    stats.active.fetch_add(1, Ordering::Relaxed);
    tokio::spawn(run_call(
        session, sip, relay_ip, core_rx, ctl_rx, page_tx, stats,
    ));
    Ok(BrowserCallHandle {
        answer: answer.sdp,
        signals: page_rx,
        control: Box::new(Control(ctl_tx)),
    })
}

impl Gateway {
    /// Answer a call ringing a browser: the visitor's (a PBX call to its channel number) or,
    /// with `console`, a visitor's call offered to a console operator.
    fn answer_ringing(
        &self,
        req: BrowserCallRequest,
        call_id: String,
        console: bool,
    ) -> StartFuture {
        let to_core: ToCore = Box::new(move |answer, session, signals| {
            let ans = BrowserAnswer {
                call_id,
                session,
                tenant_id: req.tenant_id,
                widget_id: req.widget_id,
                visitor_id: req.visitor_id,
                rtp: answer.rtp,
                opus_pt: answer.opus_pt,
                telephone_event_pt: answer.telephone_event_pt,
            };
            if console {
                Command::ConsoleAccept(ans, signals)
            } else {
                Command::BrowserAccept(ans, signals)
            }
        });
        Box::pin(open_call(
            accept_offer(self.edge.clone(), req.offer),
            self.sip.clone(),
            self.relay_ip,
            self.stats.clone(),
            to_core,
        ))
    }
}

impl BrowserCalls for Gateway {
    fn start(&self, req: BrowserCallRequest) -> StartFuture {
        let (edge, sip, relay_ip, stats) = (
            self.edge.clone(),
            self.sip.clone(),
            self.relay_ip,
            self.stats.clone(),
        );
        let accept_timeout = self.accept_timeout;
        let store = self.store.clone();
        let console = self.console.available(&req.tenant_id, &req.widget_id);
        Box::pin(async move {
            // The edge answers while the widget's settings are read.
            let accepting = accept_offer(edge, req.offer.clone());
            let settings = store
                .get_call_settings(&req.tenant_id, &req.widget_id)
                .await
                .map_err(|_| BrowserCallError::Unavailable)?;
            let to_core: ToCore = Box::new(move |answer, session, signals| {
                let call = BrowserCall {
                    session,
                    tenant_id: req.tenant_id,
                    widget_id: req.widget_id,
                    visitor_id: req.visitor_id,
                    caller_name: req.caller_name,
                    extensions: Vec::new(),
                    ring_extensions: settings.ring_extensions,
                    pstn_numbers: settings.pstn_numbers,
                    pstn_trunk_id: settings.pstn_trunk_id,
                    accept_timeout,
                    console,
                    ring_timeout: Duration::from_secs(u64::from(settings.ring_timeout_secs)),
                    record: settings.record,
                    rtp: answer.rtp,
                    opus_pt: answer.opus_pt,
                    telephone_event_pt: answer.telephone_event_pt,
                };
                Command::BrowserCall(call, signals)
            });
            open_call(accepting, sip, relay_ip, stats, to_core).await
        })
    }

    fn accept(&self, req: BrowserCallRequest, call_id: String) -> StartFuture {
        self.answer_ringing(req, call_id, false)
    }

    fn console_accept(&self, req: BrowserCallRequest, call_id: String) -> StartFuture {
        self.answer_ringing(req, call_id, true)
    }

    fn decline(&self, req: BrowserCallRequest, call_id: String) {
        self.sip.command(Command::BrowserDecline(
            call_id,
            Channel {
                tenant_id: req.tenant_id,
                widget_id: req.widget_id,
                visitor_id: req.visitor_id,
            },
        ));
    }

    fn ice_servers(&self) -> Value {
        if self.ice_servers.is_empty() {
            return json!([]);
        }
        let mut server = json!({"urls": self.ice_servers});
        if let Some((u, c)) = &self.turn_credentials {
            server["username"] = json!(u);
            server["credential"] = json!(c);
        }
        json!([server])
    }
}

async fn run_call(
    mut session: EdgeSession,
    sip: SipServer,
    relay_ip: IpAddr,
    mut core: mpsc::UnboundedReceiver<BrowserSignal>,
    mut ctl: mpsc::UnboundedReceiver<Ctl>,
    page: mpsc::UnboundedSender<CallSignal>,
    stats: Arc<BrowserCallStats>,
) {
    let id = session.id();
    let Some(mut edge) = session.take_events() else {
        // A new session always has its events; without them the call cannot be followed.
        warn!(session = id, "browser session without events: hanging up");
        sip.command(Command::BrowserHangup(id));
        let _ = page.send(CallSignal::Ended("failed".into()));
        stats.active.fetch_sub(1, Ordering::Relaxed);
        return;
    };
    let mut hung_up = false;
    // The browser leg's RTT (the edge measures it from RTCP) goes to the core as it changes,
    // for the call record's leg quality.
    let mut last_rtt = None;
    let report_rtt = |session: &EdgeSession, last: &mut Option<u128>| {
        if let Some(rtt) = session.rtt() {
            let ms = rtt.as_millis();
            if *last != Some(ms) {
                *last = Some(ms);
                sip.command(Command::BrowserRtt(id, rtt));
            }
        }
    };
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => report_rtt(&session, &mut last_rtt),
            s = core.recv() => match s {
                Some(BrowserSignal::Media { port, call_id }) => {
                    session.connect_media(SocketAddr::new(relay_ip, port));
                    let _ = page.send(CallSignal::Started(call_id));
                }
                Some(BrowserSignal::Ringing) => { let _ = page.send(CallSignal::Ringing); }
                Some(BrowserSignal::Answered) => { let _ = page.send(CallSignal::Answered); }
                Some(BrowserSignal::Unavailable) => { let _ = page.send(CallSignal::Unavailable); }
                Some(BrowserSignal::Video { peer }) => session.link_video(peer),
                Some(BrowserSignal::Ended { reason }) => {
                    let _ = page.send(CallSignal::Ended(reason.to_owned()));
                    break;
                }
                // The core dropped the call without a word (it stopped).
                None => {
                    let _ = page.send(CallSignal::Ended("failed".into()));
                    break;
                }
            },
            e = edge.recv() => match e {
                Some(EdgeEvent::Connected) => debug!(session = id, "browser media connected"),
                Some(EdgeEvent::Failed) | None => {
                    info!(session = id, "browser media failed: hanging up");
                    report_rtt(&session, &mut last_rtt);
                    sip.command(Command::BrowserMediaFailed(id));
                    let _ = page.send(CallSignal::Ended("failed".into()));
                    hung_up = true;
                    break;
                }
            },
            c = ctl.recv() => match c {
                Some(Ctl::Candidate(c, mid, mline)) => session.add_remote_candidate(c, mid, mline),
                Some(Ctl::Hold(on)) => sip.command(Command::BrowserHold(id, on)),
                Some(Ctl::Hangup) | None => {
                    report_rtt(&session, &mut last_rtt);
                    sip.command(Command::BrowserHangup(id));
                    let _ = page.send(CallSignal::Ended("hangup".into()));
                    hung_up = true;
                    break;
                }
            },
        }
    }
    if !hung_up {
        // The core ended the call; make sure it forgets the session's signal channel.
        sip.command(Command::BrowserHangup(id));
    }
    drop(session);
    stats.active.fetch_sub(1, Ordering::Relaxed);
}
