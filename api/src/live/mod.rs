//! Live state and sockets: the dashboard and widget WebSockets on the event bus
//! ([`realtime`]), live visitors ([`presence`]), the operators' browser console
//! ([`console`]), browser-call signalling over the widget socket ([`browser_calls`]), and
//! commands for visitors' pages routed to the node holding them ([`commands`]).

pub mod browser_calls;
pub mod cluster_calls;
pub mod cluster_prompts;
pub mod commands;
pub mod console;
pub mod presence;
pub mod realtime;

use std::sync::Arc;

use crate::AppState;

/// What the live sockets (dashboard, widget page, console) use of the application state.
#[derive(Clone)]
pub struct LiveState {
    pub(crate) store: ringside_storage::Store,
    pub(crate) bus: Arc<realtime::Bus>,
    pub(crate) presence: Arc<presence::Presence>,
    pub(crate) widget_cache: Arc<crate::widget_cache::WidgetCache>,
    pub(crate) channels: Arc<crate::channels::Channels>,
    pub(crate) calls: Option<Arc<dyn browser_calls::BrowserCalls>>,
    pub(crate) console: Arc<console::ConsoleOperators>,
    pub(crate) accounts: Arc<crate::accounts::Accounts>,
    pub(crate) public_url: String,
}

impl axum::extract::FromRef<AppState> for LiveState {
    fn from_ref(st: &AppState) -> Self {
        LiveState {
            store: st.store.clone(),
            bus: st.bus.clone(),
            presence: st.presence.clone(),
            widget_cache: st.widget_cache.clone(),
            channels: st.channels.clone(),
            calls: st.calls.clone(),
            console: st.console.clone(),
            accounts: st.accounts.clone(),
            public_url: st.public_url.clone(),
        }
    }
}
