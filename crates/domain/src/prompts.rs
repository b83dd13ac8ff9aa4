//! The prompt store port: a tenant's prompts and hold music as the API manages them, kept by
//! the media crate (which decodes, validates and plays them).

use std::borrow::Cow;

/// The prompts a tenant can replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PromptKind {
    /// Music played while a caller is on hold (looped).
    HoldMusic,
    /// "No one is available to take your call right now."
    Unavailable,
    /// "You have a call from the website. Press 1 to accept this call."
    AcceptPrompt,
    /// What a website visitor hears while its call rings (looped).
    Ringtone,
}

impl PromptKind {
    /// Every kind, in listing order.
    pub const ALL: [PromptKind; 4] = [
        PromptKind::HoldMusic,
        PromptKind::Unavailable,
        PromptKind::AcceptPrompt,
        PromptKind::Ringtone,
    ];

    /// The kind's name in URLs and JSON (`holdMusic`, `unavailable`, `acceptPrompt`).
    pub fn as_str(self) -> &'static str {
        match self {
            PromptKind::HoldMusic => "holdMusic",
            PromptKind::Unavailable => "unavailable",
            PromptKind::AcceptPrompt => "acceptPrompt",
            PromptKind::Ringtone => "ringtone",
        }
    }

    /// The kind named `s` ([`Self::as_str`]), if any.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Where the prompt in force comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptSource {
    /// The deployment's default.
    Default,
    /// The tenant's upload.
    Custom,
}

impl PromptSource {
    /// `default` or `custom`.
    pub fn as_str(self) -> &'static str {
        match self {
            PromptSource::Default => "default",
            PromptSource::Custom => "custom",
        }
    }
}

/// The prompt in force for one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptInfo {
    /// Which prompt.
    pub kind: PromptKind,
    /// Default or uploaded.
    pub source: PromptSource,
    /// Playing time in milliseconds.
    pub duration_ms: u64,
    /// Size of the WAV file in bytes.
    pub bytes: u64,
}

/// Why a [`PromptStore`] operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PromptStoreError {
    /// The upload is over the store's size limit (413).
    #[error("the WAV file is larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The upload is not a usable WAV file, or too long (422); the message says why.
    #[error("{0}")]
    InvalidAudio(String),
    /// Storage failed; details are logged, not shown (500).
    #[error("prompt storage failed: {0}")]
    Internal(String),
}

/// Per-tenant prompt storage as the API needs it. Methods may block (file I/O, decoding):
/// handlers call them on the blocking thread pool.
pub trait PromptStore: Send + Sync {
    /// The prompt in force for every kind ([`PromptKind::ALL`] order).
    fn list(&self, tenant_id: &str) -> Result<Vec<PromptInfo>, PromptStoreError>;
    /// Validates and stores `wav` as the tenant's prompt for `kind`; on error the previous
    /// prompt stays in force.
    fn set(
        &self,
        tenant_id: &str,
        kind: PromptKind,
        wav: &[u8],
    ) -> Result<PromptInfo, PromptStoreError>;
    /// Removes the tenant's upload for `kind`; `false` if there was none.
    fn clear(&self, tenant_id: &str, kind: PromptKind) -> Result<bool, PromptStoreError>;
    /// The WAV file in force for `kind` (the upload, else the default).
    fn audio(
        &self,
        tenant_id: &str,
        kind: PromptKind,
    ) -> Result<Cow<'static, [u8]>, PromptStoreError>;
    /// Reads `tenant_id`'s uploads again from storage (another node of a cluster changed
    /// them in the shared files directory). Nothing by default.
    fn reload(&self, tenant_id: &str) {
        let _ = tenant_id;
    }
}
