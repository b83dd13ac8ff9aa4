//! Uploaded prompts across the nodes of a cluster: the files live in the shared files
//! directory (`RINGSIDE_FILES_DIR`), and each node keeps the ones in force in memory. A node
//! that stores or removes one tells the others (`prompts:changed`, with the tenant or widget
//! it belongs to), and they read that owner's uploads again.

use std::borrow::Cow;
use std::sync::Arc;

use ringside_domain::bus::{Audience, Bus, Event};
use ringside_domain::prompts::{PromptInfo, PromptKind, PromptStore, PromptStoreError};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

const CHANGED: &str = "prompts:changed";

/// A prompt store that tells the other nodes what changed; `scope` names the store
/// (`tenant` or `widget`: whose uploads its ids are).
pub struct SharedPrompts {
    inner: Arc<dyn PromptStore>,
    bus: Arc<Bus>,
    scope: &'static str,
}

impl SharedPrompts {
    /// `inner` telling the other nodes of `bus`'s cluster of each change.
    pub fn new(inner: Arc<dyn PromptStore>, bus: Arc<Bus>, scope: &'static str) -> Self {
        SharedPrompts { inner, bus, scope }
    }

    fn tell(&self, owner: &str) {
        let scope = self.scope;
        self.bus.broadcast_nodes(|| {
            Event::new(
                CHANGED,
                Audience::Tenant("nodes"),
                None,
                None,
                json!({"scope": scope, "owner": owner}),
                ringside_storage::now_ms(),
            )
        });
    }
}

impl PromptStore for SharedPrompts {
    fn list(&self, owner: &str) -> Result<Vec<PromptInfo>, PromptStoreError> {
        self.inner.list(owner)
    }

    fn set(
        &self,
        owner: &str,
        kind: PromptKind,
        wav: &[u8],
    ) -> Result<PromptInfo, PromptStoreError> {
        let info = self.inner.set(owner, kind, wav)?;
        self.tell(owner);
        Ok(info)
    }

    fn clear(&self, owner: &str, kind: PromptKind) -> Result<bool, PromptStoreError> {
        let removed = self.inner.clear(owner, kind)?;
        self.tell(owner);
        Ok(removed)
    }

    fn audio(&self, owner: &str, kind: PromptKind) -> Result<Cow<'static, [u8]>, PromptStoreError> {
        self.inner.audio(owner, kind)
    }

    fn reload(&self, owner: &str) {
        self.inner.reload(owner)
    }
}

/// Reads again the uploads the other nodes say they changed, into `tenants` (scope
/// `tenant`) or `widgets` (scope `widget`); until aborted.
pub fn spawn_reloads(
    bus: &Bus,
    tenants: Arc<dyn PromptStore>,
    widgets: Arc<dyn PromptStore>,
) -> tokio::task::JoinHandle<()> {
    let mut inbox = bus.node_inbox();
    tokio::spawn(async move {
        loop {
            let e = match inbox.recv().await {
                Ok((_, e)) => e,
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            };
            if e.kind != CHANGED {
                continue;
            }
            let owner = e.data["owner"].as_str().unwrap_or_default().to_owned();
            let store = match e.data["scope"].as_str() {
                Some("tenant") => tenants.clone(),
                Some("widget") => widgets.clone(),
                _ => continue,
            };
            tracing::debug!(owner, "uploaded prompts changed on another node");
            let _ = tokio::task::spawn_blocking(move || store.reload(&owner)).await;
        }
    })
}
