//! The core task: the one task that owns the [`SipCore`]. It takes parsed messages from the
//! transport, commands from the binary and the API, directory changes and the relays' media
//! events, feeds them to the core with the time read from the one [`Clock`], and hands what
//! the core produced on: SIP to the [`Transport`], browser signals to each browser call's
//! channel, records and events to the storage writer.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::transport::{Inbound, Transport};
use super::writer::WriterMsg;
use super::{Command, MediaEvents};
use crate::b2bua::BrowserSignal;
use crate::clock::Clock;
use crate::core::{CoreOutput, SipCore};
use crate::directory::DirectoryChange;

/// The core task's inputs and outputs.
pub(super) struct CoreTask {
    pub(super) core: SipCore,
    pub(super) transport: Transport,
    pub(super) inbound: mpsc::Receiver<Inbound>,
    /// Peers the transport could not connect to.
    pub(super) failed: mpsc::UnboundedReceiver<ringside_sip::transaction::Peer>,
    pub(super) commands: mpsc::UnboundedReceiver<Command>,
    pub(super) directory: mpsc::UnboundedReceiver<DirectoryChange>,
    pub(super) media_events: MediaEvents,
    pub(super) writer: mpsc::UnboundedSender<WriterMsg>,
    pub(super) clock: Arc<dyn Clock>,
}

impl CoreTask {
    /// Runs until the inbound queue closes (the transport is gone).
    pub(super) async fn run(self) {
        let CoreTask {
            mut core,
            transport,
            inbound: mut in_rx,
            mut failed,
            commands: mut cmd_rx,
            directory: mut dir_rx,
            mut media_events,
            writer: store_tx,
            clock,
        } = self;
        let mut housekeeping = tokio::time::interval(std::time::Duration::from_secs(1));
        let mut browsers: HashMap<u64, mpsc::UnboundedSender<BrowserSignal>> = HashMap::new();
        loop {
            let deadline = core.poll_timeout();
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                m = in_rx.recv() => {
                    let Some(m) = m else { return };
                    // Directory changes made before this message came go first.
                    while let Ok(change) = dir_rx.try_recv() {
                        core.change_directory(change);
                    }
                    let t = clock.now();
                    core.handle_message(t.at, t.unix_ms, m.msg, m.from);
                    // Take whatever else is queued before flushing (batching under load).
                    for _ in 0..256 {
                        match in_rx.try_recv() {
                            Ok(m) => {
                                let t = clock.now();
                                core.handle_message(t.at, t.unix_ms, m.msg, m.from);
                            }
                            Err(_) => break,
                        }
                    }
                }
                c = cmd_rx.recv() => match c {
                    Some(Command::Drain) => core.start_draining(),
                    Some(Command::ReplicaBinding(c)) => core.apply_replica_binding(c),
                    Some(Command::EndAll) => {
                        let t = clock.now();
                        core.handle_timeout(t.at, t.unix_ms);
                        core.end_all_calls(t.at, ringside_domain::EndReason::ServerShutdown);
                    }
                    Some(Command::ActiveCalls(tx)) => { let _ = tx.send(core.active_calls()); }
                    Some(Command::FlushStorage(tx)) => { let _ = store_tx.send(WriterMsg::Flush(tx)); }
                    Some(Command::BrowserCall(call, signals)) => {
                        browsers.insert(call.session, signals);
                        let t = clock.now();
                        core.handle_timeout(t.at, t.unix_ms);
                        core.browser_call(t.at, call);
                    }
                    Some(Command::BrowserAccept(answer, signals)) => {
                        browsers.insert(answer.session, signals);
                        let t = clock.now();
                        core.handle_timeout(t.at, t.unix_ms);
                        core.browser_accept(t.at, answer);
                    }
                    Some(Command::BrowserHold(session, on)) => core.browser_hold(session, on),
                    Some(Command::BrowserRtt(session, rtt)) => core.browser_rtt(session, rtt),
                    Some(Command::ConsoleAccept(answer, signals)) => {
                        browsers.insert(answer.session, signals);
                        let t = clock.now();
                        core.handle_timeout(t.at, t.unix_ms);
                        core.console_accept(t.at, answer);
                    }
                    Some(Command::BrowserDecline(call_id, target)) => {
                        let t = clock.now();
                        core.handle_timeout(t.at, t.unix_ms);
                        core.browser_decline(t.at, &call_id, &target);
                    }
                    Some(Command::BrowserMediaFailed(session)) => {
                        let t = clock.now();
                        core.handle_timeout(t.at, t.unix_ms);
                        core.browser_media_failed(t.at, session);
                    }
                    Some(Command::BrowserHangup(session)) => {
                        let t = clock.now();
                        core.handle_timeout(t.at, t.unix_ms);
                        core.browser_hangup(t.at, session);
                        browsers.remove(&session);
                    }
                    None => {}
                },
                Some(change) = dir_rx.recv() => core.change_directory(change),
                Some(peer) = failed.recv() => {
                    let t = clock.now();
                    core.transport_failed(t.at, t.unix_ms, peer);
                }
                Some((key, ev)) = media_events.recv() => {
                    let t = clock.now();
                    core.handle_timeout(t.at, t.unix_ms);
                    core.media_event(t.at, key, ev);
                }
                _ = sleep => {
                    let t = clock.now();
                    core.handle_timeout(t.at, t.unix_ms);
                }
                _ = housekeeping.tick() => {
                    let t = clock.now();
                    core.handle_timeout(t.at, t.unix_ms);
                }
            }
            while let Some(o) = core.poll_output() {
                match o {
                    CoreOutput::Transmit { to, data } => transport.send(to, data).await,
                    CoreOutput::Browser { session, signal } => {
                        let end = matches!(signal, BrowserSignal::Ended { .. });
                        if let Some(tx) = browsers.get(&session) {
                            let _ = tx.send(signal);
                        }
                        if end {
                            browsers.remove(&session);
                        }
                    }
                    other => {
                        let _ = store_tx.send(WriterMsg::Out(other));
                    }
                }
            }
        }
    }
}
