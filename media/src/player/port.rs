//! The asset registry as the prompt-store port the API manages prompts through
//! ([`ringside_domain::prompts::PromptStore`]).

use std::borrow::Cow;

use ringside_domain::prompts::{self as port, PromptKind, PromptStore, PromptStoreError};

use super::{AssetKind, AssetRegistry, PromptError, RegistryError};

impl From<PromptKind> for AssetKind {
    fn from(k: PromptKind) -> Self {
        match k {
            PromptKind::HoldMusic => AssetKind::HoldMusic,
            PromptKind::Unavailable => AssetKind::Unavailable,
            PromptKind::AcceptPrompt => AssetKind::AcceptPrompt,
            PromptKind::Ringtone => AssetKind::Ringtone,
        }
    }
}

impl From<AssetKind> for PromptKind {
    fn from(k: AssetKind) -> Self {
        match k {
            AssetKind::HoldMusic => PromptKind::HoldMusic,
            AssetKind::Unavailable => PromptKind::Unavailable,
            AssetKind::AcceptPrompt => PromptKind::AcceptPrompt,
            AssetKind::Ringtone => PromptKind::Ringtone,
        }
    }
}

fn info(i: super::PromptInfo) -> port::PromptInfo {
    port::PromptInfo {
        kind: i.kind.into(),
        source: match i.source {
            super::PromptSource::Default => port::PromptSource::Default,
            super::PromptSource::Custom => port::PromptSource::Custom,
        },
        duration_ms: i.duration_ms,
        bytes: i.bytes,
    }
}

impl From<RegistryError> for PromptStoreError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::Prompt(PromptError::TooLarge { limit, .. }) => {
                PromptStoreError::TooLarge { limit }
            }
            RegistryError::Prompt(PromptError::Io(e)) | RegistryError::Io(e) => {
                PromptStoreError::Internal(e.to_string())
            }
            RegistryError::Prompt(e) => PromptStoreError::InvalidAudio(e.to_string()),
            e @ RegistryError::InvalidTenant => PromptStoreError::Internal(e.to_string()),
        }
    }
}

impl PromptStore for AssetRegistry {
    fn list(&self, tenant_id: &str) -> Result<Vec<port::PromptInfo>, PromptStoreError> {
        Ok(self.info(tenant_id)?.into_iter().map(info).collect())
    }

    fn set(
        &self,
        tenant_id: &str,
        kind: PromptKind,
        wav: &[u8],
    ) -> Result<port::PromptInfo, PromptStoreError> {
        Ok(info(AssetRegistry::set(self, tenant_id, kind.into(), wav)?))
    }

    fn clear(&self, tenant_id: &str, kind: PromptKind) -> Result<bool, PromptStoreError> {
        Ok(AssetRegistry::clear(self, tenant_id, kind.into())?)
    }

    fn audio(
        &self,
        tenant_id: &str,
        kind: PromptKind,
    ) -> Result<Cow<'static, [u8]>, PromptStoreError> {
        Ok(self.effective_wav(tenant_id, kind.into()))
    }

    fn reload(&self, tenant_id: &str) {
        AssetRegistry::reload(self, tenant_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_store_maps_kinds_and_errors() {
        let root = std::env::temp_dir().join(format!(
            "ringside-prompt-port-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let store: &dyn PromptStore = &AssetRegistry::new(
            root.clone(),
            std::sync::Arc::new(super::super::Assets::new()),
        );
        let list = store.list("t").unwrap();
        let kinds: Vec<PromptKind> = list.iter().map(|i| i.kind).collect();
        assert_eq!(kinds, PromptKind::ALL);
        assert!(list.iter().all(|i| i.source == port::PromptSource::Default));
        for (kind, asset) in PromptKind::ALL.into_iter().zip(AssetKind::ALL) {
            assert_eq!(AssetKind::from(kind), asset);
            assert_eq!(&*store.audio("t", kind).unwrap(), asset.default_wav());
        }
        assert!(matches!(
            store.set("t", PromptKind::HoldMusic, b"not a wav"),
            Err(PromptStoreError::InvalidAudio(_))
        ));
        let huge = vec![0u8; 10 * 1024 * 1024 + 1];
        assert!(matches!(
            store.set("t", PromptKind::HoldMusic, &huge),
            Err(PromptStoreError::TooLarge { .. })
        ));
        assert!(matches!(
            store.list("../etc"),
            Err(PromptStoreError::Internal(_))
        ));
        let wav = AssetKind::Unavailable.default_wav();
        let info = store.set("t", PromptKind::AcceptPrompt, wav).unwrap();
        assert_eq!(info.kind, PromptKind::AcceptPrompt);
        assert_eq!(info.source, port::PromptSource::Custom);
        assert_eq!(info.bytes, wav.len() as u64);
        assert!(store.clear("t", PromptKind::AcceptPrompt).unwrap());
        assert!(!store.clear("t", PromptKind::AcceptPrompt).unwrap());
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn kinds_map_both_ways() {
        for k in PromptKind::ALL {
            assert_eq!(PromptKind::from(AssetKind::from(k)), k);
        }
        assert_eq!(AssetKind::ALL.len(), PromptKind::ALL.len());
    }
}
