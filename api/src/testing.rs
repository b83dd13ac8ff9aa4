//! Collaborators that do nothing, and an [`AppState`] built from them over a store, for tests
//! and benchmarks that need the router without SIP, media or prompts.

use std::sync::Arc;

use ringside_storage::{Extension, Store, Trunk};

use crate::{AppState, MetricsSource, PromptInfo, PromptKind, PromptStore, PromptStoreError};

/// A SIP directory that ignores every change.
pub struct NoDirectory;

impl crate::SipDirectory for NoDirectory {
    fn extension_upserted(&self, _: &Extension) {}
    fn extension_removed(&self, _: &str) {}
    fn trunk_upserted(&self, _: &Trunk) {}
    fn trunk_removed(&self, _: &str) {}
}

/// A prompt store with nothing in it that refuses uploads.
pub struct NoPrompts;

impl PromptStore for NoPrompts {
    fn list(&self, _: &str) -> Result<Vec<PromptInfo>, PromptStoreError> {
        Ok(Vec::new())
    }
    fn set(&self, _: &str, _: PromptKind, _: &[u8]) -> Result<PromptInfo, PromptStoreError> {
        Err(PromptStoreError::Internal("unused".into()))
    }
    fn clear(&self, _: &str, _: PromptKind) -> Result<bool, PromptStoreError> {
        Ok(false)
    }
    fn audio(
        &self,
        _: &str,
        _: PromptKind,
    ) -> Result<std::borrow::Cow<'static, [u8]>, PromptStoreError> {
        Err(PromptStoreError::Internal("unused".into()))
    }
}

/// No metrics.
pub struct NoMetrics;

impl MetricsSource for NoMetrics {
    fn render(&self, _: &mut String) {}
}

/// The application state over `store` with the no-op collaborators, the temp dir as data
/// directory, `public_url`, a random link key, and default limits, presence and accounts;
/// override fields with struct update syntax.
pub fn state(store: &Store, public_url: &str) -> AppState {
    AppState {
        store: store.clone(),
        directory: Arc::new(NoDirectory),
        metrics: vec![Arc::new(NoMetrics)],
        sip_realm: "ringside".into(),
        data_dir: std::env::temp_dir(),
        prompts: Arc::new(NoPrompts),
        widget_prompts: Arc::new(NoPrompts),
        fetch_policy: Default::default(),
        console: Default::default(),
        public_url: public_url.into(),
        rate_limits: Default::default(),
        link_secret: rand::random::<[u8; 32]>().into(),
        vapid: std::sync::Arc::new(crate::webpush::VapidKey::generate()),
        usage_limits: Default::default(),
        bus: Default::default(),
        widget_cache: Default::default(),
        calls: None,
        channels: Default::default(),
        presence: Arc::new(crate::Presence::new(store.clone(), Default::default())),
        request_timeout: std::time::Duration::from_secs(60),
        accounts: Default::default(),
        knowledge: Default::default(),
        crawler: Default::default(),
    }
}
