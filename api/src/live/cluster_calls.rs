//! Browser calls across the nodes of a cluster: a console operator whose page is served by
//! node B answers a visitor's call held by node A.
//!
//! - Consoles: each node tells the others its console and dashboard seats (on change, and
//!   every [`SEATS_EVERY`]; a copy lapses after [`SEATS_LAPSE`]), so a call starting on any
//!   node rings the consoles of every node ([`spawn_seats`]).
//! - Answers: [`ClusterCalls`] wraps the node's own gateway. An operator's `call.accept` for
//!   a call another node holds (`calls.node_id`) goes to that node (`console:accept` on its
//!   inbox, with the browser's offer); the holder answers it with its own WebRTC edge (its
//!   candidates: the operator's media goes straight to it), sends the SDP answer back
//!   (`console:answer`) and then the call's progress (`console:signal`); the operator's
//!   candidates, hold and hang-up go to the holder (`console:control`).
//!
//! Everything else (a visitor's own calls, a call held here) is the local gateway's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringside_domain::browser::{
    BrowserCallError, BrowserCallHandle, BrowserCallRequest, BrowserCalls, CallControl, CallSignal,
    StartFuture,
};
use ringside_domain::bus::{Audience, Bus, Event};
use ringside_domain::console::{ConsoleOperators, SharedSeat};
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{mpsc, oneshot};

/// How often a node tells its seats even when nothing changed.
pub const SEATS_EVERY: Duration = Duration::from_secs(10);
/// How long another node's seats count without being told again.
pub const SEATS_LAPSE: Duration = Duration::from_secs(30);
/// How long an operator's answer waits for the node holding the call.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);

const SEATS: &str = "console:seats";
const ACCEPT: &str = "console:accept";
const ANSWER: &str = "console:answer";
const SIGNAL: &str = "console:signal";
const CONTROL: &str = "console:control";
/// The scope nobody's dashboard holds: these events only travel between nodes.
const NODES_ONLY: &str = "nodes";

fn node_event(kind: &'static str, data: Value) -> Event {
    Event::new(
        kind,
        Audience::Tenant(NODES_ONLY),
        None,
        None,
        data,
        ringside_storage::now_ms(),
    )
}

/// Tells the other nodes this node's console seats when they change and every
/// [`SEATS_EVERY`], and keeps theirs; until aborted.
pub fn spawn_seats(bus: Arc<Bus>, console: Arc<ConsoleOperators>) -> tokio::task::JoinHandle<()> {
    let mut inbox = bus.node_inbox();
    tokio::spawn(async move {
        let Some(me) = bus.node_id().map(str::to_owned) else {
            return;
        };
        let tell = |bus: &Bus, console: &ConsoleOperators| {
            let seats = console.local_seats();
            bus.broadcast_nodes(|| node_event(SEATS, json!({"node": me, "seats": seats})));
        };
        tell(&bus, &console);
        let mut every = tokio::time::interval(SEATS_EVERY);
        loop {
            tokio::select! {
                _ = every.tick() => tell(&bus, &console),
                _ = console.changed() => tell(&bus, &console),
                m = inbox.recv() => match m {
                    Ok((_, e)) if e.kind == SEATS => {
                        let node = e.data["node"].as_str().unwrap_or_default();
                        let seats: Vec<SharedSeat> =
                            serde_json::from_value(e.data["seats"].clone()).unwrap_or_default();
                        if !node.is_empty() {
                            let until = ringside_storage::now_ms() + SEATS_LAPSE.as_millis() as i64;
                            console.set_remote(node, seats, until);
                        }
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                },
            }
        }
    })
}

/// What an operator's page on this node waits for from the node holding its call.
struct Waiting {
    answer: Option<oneshot::Sender<Result<String, String>>>,
    signals: mpsc::UnboundedSender<CallSignal>,
}

/// The node's browser calls, with consoles answering calls other nodes hold.
pub struct ClusterCalls {
    local: Arc<dyn BrowserCalls>,
    bus: Arc<Bus>,
    store: ringside_storage::Store,
    /// Operator sessions on this node whose call another node holds, by session id.
    waiting: Arc<Mutex<HashMap<String, Waiting>>>,
    /// Calls held here answered by another node's operator: session id → control.
    serving: Arc<Mutex<HashMap<String, Box<dyn CallControl>>>>,
}

impl ClusterCalls {
    /// `local` (this node's gateway) with calls across `bus`'s cluster; handles the other
    /// nodes' console messages until the returned task is aborted.
    pub fn new(
        local: Arc<dyn BrowserCalls>,
        bus: Arc<Bus>,
        store: ringside_storage::Store,
    ) -> (Arc<ClusterCalls>, tokio::task::JoinHandle<()>) {
        let me = Arc::new(ClusterCalls {
            local,
            bus,
            store,
            waiting: Arc::default(),
            serving: Arc::default(),
        });
        let task = tokio::spawn(me.clone().inbox());
        (me, task)
    }

    async fn inbox(self: Arc<Self>) {
        let mut inbox = self.bus.node_inbox();
        loop {
            let (tenant, e) = match inbox.recv().await {
                Ok(m) => m,
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            };
            let session = e.data["session"].as_str().unwrap_or_default().to_owned();
            if session.is_empty() {
                continue;
            }
            match e.kind {
                ACCEPT => {
                    let me = self.clone();
                    let data = e.data.clone();
                    tokio::spawn(async move { me.serve(tenant, session, data).await });
                }
                ANSWER => {
                    let mut w = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(tx) = w.get_mut(&session).and_then(|x| x.answer.take()) {
                        let r = match e.data["sdp"].as_str() {
                            Some(sdp) => Ok(sdp.to_owned()),
                            None => Err(e.data["error"].as_str().unwrap_or("failed").to_owned()),
                        };
                        let _ = tx.send(r);
                    }
                }
                SIGNAL => {
                    let Some(sig) = signal_of(&e.data) else {
                        continue;
                    };
                    let mut w = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
                    let ended = matches!(sig, CallSignal::Ended(_));
                    if let Some(x) = w.get(&session) {
                        let _ = x.signals.send(sig);
                    }
                    if ended {
                        w.remove(&session);
                    }
                }
                CONTROL => {
                    let s = self.serving.lock().unwrap_or_else(|p| p.into_inner());
                    let Some(c) = s.get(&session) else {
                        continue;
                    };
                    match e.data["op"].as_str() {
                        Some("candidate") => c.candidate(
                            e.data["candidate"].as_str().unwrap_or_default().to_owned(),
                            e.data["mid"].as_str().map(str::to_owned),
                            e.data["mline"].as_u64().and_then(|n| u16::try_from(n).ok()),
                        ),
                        Some("hold") => c.hold(e.data["on"].as_bool().unwrap_or(false)),
                        Some("hangup") => c.hangup(),
                        _ => {}
                    }
                }
                _ => {}
            }
        }
    }

    /// Another node's operator answers a call held here: answer with this node's gateway,
    /// send back the SDP answer, then the call's progress.
    async fn serve(self: Arc<Self>, tenant: String, session: String, data: Value) {
        let from = data["from"].as_str().unwrap_or_default().to_owned();
        let s = |k: &str| data[k].as_str().unwrap_or_default().to_owned();
        let req = BrowserCallRequest {
            tenant_id: tenant.clone(),
            widget_id: String::new(),
            visitor_id: s("user"),
            caller_name: String::new(),
            offer: s("offer"),
        };
        let reply = |kind: &'static str, v: Value| {
            self.bus.send_to_node(&from, &tenant, node_event(kind, v));
        };
        match self.local.console_accept(req, s("callId")).await {
            Ok(h) => {
                self.serving
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(session.clone(), h.control);
                reply(ANSWER, json!({"session": session, "sdp": h.answer}));
                let mut signals = h.signals;
                while let Some(sig) = signals.recv().await {
                    let ended = matches!(sig, CallSignal::Ended(_));
                    reply(SIGNAL, signal_json(&session, &sig));
                    if ended {
                        break;
                    }
                }
                self.serving
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&session);
            }
            Err(e) => {
                let error = match e {
                    BrowserCallError::BadOffer(m) => format!("bad_offer:{m}"),
                    BrowserCallError::Unavailable => "unavailable".to_owned(),
                };
                reply(ANSWER, json!({"session": session, "error": error}));
            }
        }
    }
}

/// The node holding call `call_id` of `tenant`, when it is another one.
async fn holder(
    bus: &Bus,
    store: &ringside_storage::Store,
    tenant: &str,
    call_id: &str,
) -> Option<String> {
    let me = bus.node_id()?;
    let call = store.get_call(tenant, call_id).await.ok()?;
    call.node_id.filter(|n| n != me)
}

fn signal_json(session: &str, sig: &CallSignal) -> Value {
    match sig {
        CallSignal::Started(id) => json!({"session": session, "signal": "started", "callId": id}),
        CallSignal::Ringing => json!({"session": session, "signal": "ringing"}),
        CallSignal::Answered => json!({"session": session, "signal": "answered"}),
        CallSignal::Unavailable => json!({"session": session, "signal": "unavailable"}),
        CallSignal::Ended(r) => json!({"session": session, "signal": "ended", "reason": r}),
    }
}

fn signal_of(v: &Value) -> Option<CallSignal> {
    Some(match v["signal"].as_str()? {
        "started" => CallSignal::Started(v["callId"].as_str()?.to_owned()),
        "ringing" => CallSignal::Ringing,
        "answered" => CallSignal::Answered,
        "unavailable" => CallSignal::Unavailable,
        "ended" => CallSignal::Ended(v["reason"].as_str().unwrap_or("failed").to_owned()),
        _ => return None,
    })
}

/// The operator's control of a call another node holds.
struct RemoteControl {
    bus: Arc<Bus>,
    node: String,
    tenant: String,
    session: String,
}

impl RemoteControl {
    fn send(&self, mut v: Value) {
        v["session"] = json!(self.session);
        self.bus
            .send_to_node(&self.node, &self.tenant, node_event(CONTROL, v));
    }
}

impl CallControl for RemoteControl {
    fn candidate(&self, candidate: String, mid: Option<String>, mline: Option<u16>) {
        self.send(json!({"op": "candidate", "candidate": candidate, "mid": mid, "mline": mline}));
    }

    fn hangup(&self) {
        self.send(json!({"op": "hangup"}));
    }

    fn hold(&self, on: bool) {
        self.send(json!({"op": "hold", "on": on}));
    }
}

impl BrowserCalls for ClusterCalls {
    fn start(&self, req: BrowserCallRequest) -> StartFuture {
        self.local.start(req)
    }

    fn accept(&self, req: BrowserCallRequest, call_id: String) -> StartFuture {
        self.local.accept(req, call_id)
    }

    fn console_accept(&self, req: BrowserCallRequest, call_id: String) -> StartFuture {
        let (local, bus, waiting) = (self.local.clone(), self.bus.clone(), self.waiting.clone());
        let store = self.store.clone();
        Box::pin(async move {
            let Some(node) = holder(&bus, &store, &req.tenant_id, &call_id).await else {
                return local.console_accept(req, call_id).await;
            };
            let session = ringside_storage::new_id();
            let (answer_tx, answer_rx) = oneshot::channel();
            let (sig_tx, sig_rx) = mpsc::unbounded_channel();
            waiting.lock().unwrap_or_else(|p| p.into_inner()).insert(
                session.clone(),
                Waiting {
                    answer: Some(answer_tx),
                    signals: sig_tx,
                },
            );
            let data = json!({
                "session": session,
                "from": bus.node_id().unwrap_or_default(),
                "callId": call_id,
                "user": req.visitor_id,
                "offer": req.offer,
            });
            if !bus.send_to_node(&node, &req.tenant_id, node_event(ACCEPT, data)) {
                waiting
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&session);
                return local.console_accept(req, call_id).await;
            }
            let answer = tokio::time::timeout(ANSWER_TIMEOUT, answer_rx).await;
            let sdp = match answer {
                Ok(Ok(Ok(sdp))) => sdp,
                other => {
                    waiting
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&session);
                    return Err(match other {
                        Ok(Ok(Err(e))) if e.starts_with("bad_offer:") => {
                            BrowserCallError::BadOffer(e["bad_offer:".len()..].to_owned())
                        }
                        _ => BrowserCallError::Unavailable,
                    });
                }
            };
            tracing::info!(node, "a console answers a call held by another node");
            Ok(BrowserCallHandle {
                answer: sdp,
                signals: sig_rx,
                control: Box::new(RemoteControl {
                    bus,
                    node,
                    tenant: req.tenant_id,
                    session,
                }),
            })
        })
    }

    fn decline(&self, req: BrowserCallRequest, call_id: String) {
        self.local.decline(req, call_id)
    }

    fn ice_servers(&self) -> Value {
        self.local.ice_servers()
    }
}
