//! Per-tenant prompts: uploaded WAV files layered over the deployment's defaults.
//!
//! An [`AssetRegistry`] keeps each tenant's uploads on disk as `root/<tenant>/<file_name>`
//! ([`AssetKind::file_name`]) and hands out one cached [`Assets`] per tenant whose kinds
//! without an upload fall back to the deployment's defaults (the built-ins, or a global
//! override directory's files). Tenant ids are used in paths, so only `[A-Za-z0-9_-]` ids
//! are accepted.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::warn;

use super::{AssetKind, Assets, Prompt, PromptError, PromptLimits};

/// Longest tenant id accepted (ids are used as directory names).
const MAX_TENANT_LEN: usize = 128;

/// Where the prompt in force for a kind comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptSource {
    /// The deployment's default (built in, or from the global override directory).
    Default,
    /// The tenant's upload.
    Custom,
}

/// The prompt in force for one kind, for one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptInfo {
    /// Which prompt.
    pub kind: AssetKind,
    /// Default or uploaded.
    pub source: PromptSource,
    /// Playing time in milliseconds.
    pub duration_ms: u64,
    /// Size of the WAV file in bytes.
    pub bytes: u64,
}

/// Errors from changing a tenant's prompts.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The tenant id is empty, too long or has characters outside `[A-Za-z0-9_-]`.
    #[error("invalid tenant id")]
    InvalidTenant,
    /// The uploaded WAV was rejected (too large, too long, malformed, unsupported, empty).
    #[error(transparent)]
    Prompt(PromptError),
    /// The file could not be written or removed.
    #[error("prompt storage error: {0}")]
    Io(#[from] std::io::Error),
}

/// Tenants' uploaded prompts over shared defaults, cached per tenant.
///
/// Thread-safe; share it behind an `Arc`. Methods do blocking file I/O and WAV decoding:
/// call them off async executors' threads ([`Self::for_tenant`] only touches the disk the
/// first time a tenant is seen).
pub struct AssetRegistry {
    root: PathBuf,
    defaults: Arc<Assets>,
    limits: PromptLimits,
    tenants: Mutex<HashMap<String, Arc<Assets>>>,
    /// Serialises uploads and deletions so the file on disk and the cache agree.
    writes: Mutex<()>,
    temp_counter: AtomicU64,
}

impl std::fmt::Debug for AssetRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssetRegistry")
            .field("root", &self.root)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Whether `tenant_id` is safe to use as a directory name.
pub fn is_valid_tenant_id(tenant_id: &str) -> bool {
    !tenant_id.is_empty()
        && tenant_id.len() <= MAX_TENANT_LEN
        && tenant_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl AssetRegistry {
    /// Limits applied to uploads unless [`Self::with_limits`] says otherwise: 10 MiB and
    /// 10 minutes.
    pub const DEFAULT_LIMITS: PromptLimits = PromptLimits {
        max_bytes: 10 * 1024 * 1024,
        max_duration: Duration::from_secs(600),
    };

    /// A registry storing uploads under `root` (created on the first upload), falling back
    /// to `defaults`.
    pub fn new(root: PathBuf, defaults: Arc<Assets>) -> Self {
        AssetRegistry {
            root,
            defaults,
            limits: Self::DEFAULT_LIMITS,
            tenants: Mutex::new(HashMap::new()),
            writes: Mutex::new(()),
            temp_counter: AtomicU64::new(0),
        }
    }

    /// Applies `limits` to uploads (builder style; call before use).
    pub fn with_limits(mut self, limits: PromptLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The limits applied to uploads.
    pub fn limits(&self) -> PromptLimits {
        self.limits
    }

    /// The deployment's defaults.
    pub fn defaults(&self) -> &Arc<Assets> {
        &self.defaults
    }

    fn tenant_dir(&self, tenant_id: &str) -> PathBuf {
        self.root.join(tenant_id)
    }

    /// The assets calls of `tenant_id` play: the tenant's uploads over the defaults.
    ///
    /// Cached: the first call for a tenant reads its uploads from disk, later ones are a map
    /// look-up. The instance returned is updated in place by [`Self::set`] and
    /// [`Self::clear`]. An invalid tenant id gets the defaults.
    pub fn for_tenant(&self, tenant_id: &str) -> Arc<Assets> {
        if !is_valid_tenant_id(tenant_id) {
            warn!(tenant_id, "invalid tenant id: default prompts used");
            return Arc::clone(&self.defaults);
        }
        if let Some(a) = self.lock_tenants().get(tenant_id) {
            return Arc::clone(a);
        }
        let loaded = Arc::new(self.load(tenant_id));
        Arc::clone(
            self.lock_tenants()
                .entry(tenant_id.to_string())
                .or_insert(loaded),
        )
    }

    /// Loads every tenant that has uploads under the root into the cache, so calls never wait
    /// for the disk (or for decoding) on a tenant's first call. Returns how many tenants
    /// were loaded; a missing root is not an error (nothing was uploaded yet).
    pub fn preload(&self) -> usize {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return 0;
        };
        let mut n = 0;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(tenant) = name.to_str().filter(|t| is_valid_tenant_id(t)) else {
                continue;
            };
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                self.for_tenant(tenant);
                n += 1;
            }
        }
        n
    }

    fn lock_tenants(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Assets>>> {
        self.tenants.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Builds a tenant's assets from its directory. Files that cannot be loaded are logged
    /// and skipped (the default plays).
    fn load(&self, tenant_id: &str) -> Assets {
        let assets = Assets::with_parent(Arc::clone(&self.defaults), self.limits);
        let dir = self.tenant_dir(tenant_id);
        for kind in AssetKind::ALL {
            let path = dir.join(kind.file_name());
            match read_limited(&path, self.limits.max_bytes) {
                Ok(None) => {}
                Ok(Some(bytes)) => {
                    if let Err(e) = assets.set_override(kind, &bytes) {
                        warn!(path = %path.display(), error = %e, "uploaded prompt ignored");
                    }
                }
                Err(e) => warn!(path = %path.display(), error = %e, "uploaded prompt ignored"),
            }
        }
        assets
    }

    /// Replaces `tenant_id`'s prompt for `kind` with `wav`.
    ///
    /// The WAV is validated against the registry's limits first; if it is rejected, or the
    /// file cannot be written, the previous prompt stays in force. The file is written to a
    /// temporary name and renamed into place, so a crash never leaves a half-written prompt.
    /// Calls of the tenant that start hold music (or a prompt) afterwards play the new one.
    pub fn set(
        &self,
        tenant_id: &str,
        kind: AssetKind,
        wav: &[u8],
    ) -> Result<PromptInfo, RegistryError> {
        if !is_valid_tenant_id(tenant_id) {
            return Err(RegistryError::InvalidTenant);
        }
        let prompt = Prompt::from_wav_bytes_with_limits(wav, 8000, &self.limits)
            .map_err(RegistryError::Prompt)?;
        let info = PromptInfo {
            kind,
            source: PromptSource::Custom,
            duration_ms: duration_ms(&prompt),
            bytes: wav.len() as u64,
        };
        let _w = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        let dir = self.tenant_dir(tenant_id);
        std::fs::create_dir_all(&dir)?;
        let n = self.temp_counter.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(
            ".{}.{}-{n}.tmp",
            kind.file_name(),
            std::process::id()
        ));
        if let Err(e) = write_synced(&tmp, wav) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.into());
        }
        if let Err(e) = std::fs::rename(&tmp, dir.join(kind.file_name())) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.into());
        }
        // Make the rename itself durable (best effort: not every platform syncs directories).
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        self.for_tenant(tenant_id)
            .install(kind, Arc::from(wav), prompt);
        Ok(info)
    }

    /// Reads `tenant_id`'s uploads again from its directory into the assets its calls play
    /// (in place): another node of a cluster sharing the directory changed them. A file that
    /// cannot be loaded leaves the default in force.
    pub fn reload(&self, tenant_id: &str) {
        if !is_valid_tenant_id(tenant_id) {
            return;
        }
        let assets = self.for_tenant(tenant_id);
        let dir = self.tenant_dir(tenant_id);
        for kind in AssetKind::ALL {
            let path = dir.join(kind.file_name());
            match read_limited(&path, self.limits.max_bytes) {
                Ok(Some(bytes)) => {
                    if let Err(e) = assets.set_override(kind, &bytes) {
                        warn!(path = %path.display(), error = %e, "uploaded prompt ignored");
                        assets.clear_override(kind);
                    }
                }
                Ok(None) => assets.clear_override(kind),
                Err(e) => warn!(path = %path.display(), error = %e, "uploaded prompt ignored"),
            }
        }
    }

    /// Removes `tenant_id`'s upload for `kind`, going back to the default. `Ok(false)` if the
    /// tenant had none (or the id is invalid).
    pub fn clear(&self, tenant_id: &str, kind: AssetKind) -> Result<bool, RegistryError> {
        if !is_valid_tenant_id(tenant_id) {
            return Ok(false);
        }
        let _w = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        let removed = match std::fs::remove_file(self.tenant_dir(tenant_id).join(kind.file_name()))
        {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(e.into()),
        };
        let assets = self.for_tenant(tenant_id);
        let had = assets.has_override(kind);
        assets.clear_override(kind);
        Ok(removed || had)
    }

    /// The prompt in force for each kind ([`AssetKind::ALL`] order) for `tenant_id`.
    pub fn info(&self, tenant_id: &str) -> Result<Vec<PromptInfo>, RegistryError> {
        if !is_valid_tenant_id(tenant_id) {
            return Err(RegistryError::InvalidTenant);
        }
        let assets = self.for_tenant(tenant_id);
        AssetKind::ALL
            .into_iter()
            .map(|kind| {
                let source = if assets.has_override(kind) {
                    PromptSource::Custom
                } else {
                    PromptSource::Default
                };
                let bytes = match assets.effective_wav(kind) {
                    Some(w) => w.len(),
                    None => kind.default_wav().len(),
                } as u64;
                let prompt = assets.prompt(kind, 8000).map_err(RegistryError::Prompt)?;
                Ok(PromptInfo {
                    kind,
                    source,
                    duration_ms: duration_ms(&prompt),
                    bytes,
                })
            })
            .collect()
    }

    /// `tenant_id`'s uploaded WAV for `kind`, if any.
    pub fn custom_wav(&self, tenant_id: &str, kind: AssetKind) -> Option<Arc<[u8]>> {
        if !is_valid_tenant_id(tenant_id) {
            return None;
        }
        self.for_tenant(tenant_id).override_wav(kind)
    }

    /// The WAV in force for `kind` for `tenant_id`: its upload, else the deployment's
    /// override, else the built-in file.
    pub fn effective_wav(&self, tenant_id: &str, kind: AssetKind) -> Cow<'static, [u8]> {
        match self.for_tenant(tenant_id).effective_wav(kind) {
            Some(w) => Cow::Owned(w.to_vec()),
            None => Cow::Borrowed(kind.default_wav()),
        }
    }
}

fn duration_ms(p: &Prompt) -> u64 {
    u64::try_from(p.duration().as_millis()).unwrap_or(u64::MAX)
}

/// Reads `path` if it exists (`Ok(None)` if not), refusing files over `limit` bytes.
fn read_limited(path: &Path, limit: u64) -> Result<Option<Vec<u8>>, PromptError> {
    let size = match std::fs::metadata(path) {
        Ok(m) if m.is_file() => m.len(),
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if size > limit {
        return Err(PromptError::TooLarge { size, limit });
    }
    Ok(Some(std::fs::read(path)?))
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mono 16-bit WAV at `rate` Hz lasting `ms` milliseconds (a quiet square wave).
    fn wav(rate: u32, ms: u32) -> Vec<u8> {
        let n = rate * ms / 1000;
        let mut out = Vec::new();
        let data_len = n * 2;
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&(36 + data_len).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&rate.to_le_bytes());
        out.extend_from_slice(&(rate * 2).to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&data_len.to_le_bytes());
        for i in 0..n {
            let v: i16 = if (i / 20) % 2 == 0 { 1000 } else { -1000 };
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    fn temp_root(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!(
            "ringside-registry-{name}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        ))
    }

    fn registry(name: &str) -> (AssetRegistry, PathBuf) {
        let root = temp_root(name);
        (
            AssetRegistry::new(root.clone(), Arc::new(Assets::new())),
            root,
        )
    }

    #[test]
    fn tenant_ids_are_path_safe() {
        assert!(is_valid_tenant_id("a0-B_9"));
        assert!(is_valid_tenant_id("6f1c2a4e-2b1d-4c7e-9a55-0e5d1f7c3b2a"));
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a\\b",
            "a b",
            "é",
            "a.b",
            &"x".repeat(129),
        ] {
            assert!(!is_valid_tenant_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn defaults_until_uploaded_then_custom_per_tenant() {
        let (reg, root) = registry("isolation");
        let before = reg.info("t1").unwrap();
        assert_eq!(before.len(), AssetKind::ALL.len());
        assert!(before.iter().all(|i| i.source == PromptSource::Default));
        let hold_default = before[0].clone();
        assert_eq!(hold_default.kind, AssetKind::HoldMusic);
        assert_eq!(
            hold_default.bytes,
            AssetKind::HoldMusic.default_wav().len() as u64
        );
        assert!(hold_default.duration_ms > 0);

        let up = wav(8000, 1500);
        let info = reg.set("t1", AssetKind::HoldMusic, &up).unwrap();
        assert_eq!(info.source, PromptSource::Custom);
        assert_eq!(info.duration_ms, 1500);
        assert_eq!(info.bytes, up.len() as u64);
        assert_eq!(
            std::fs::read(root.join("t1").join("hold_music.wav")).unwrap(),
            up
        );

        let listed = reg.info("t1").unwrap();
        assert_eq!(listed[0], info);
        assert_eq!(listed[1].source, PromptSource::Default);
        assert_eq!(reg.info("t2").unwrap()[0], hold_default);

        // The tenant's calls play it; another tenant's play the default.
        let p = reg
            .for_tenant("t1")
            .prompt(AssetKind::HoldMusic, 16000)
            .unwrap();
        assert_eq!(p.len(), 24000);
        let d = reg
            .for_tenant("t2")
            .prompt(AssetKind::HoldMusic, 8000)
            .unwrap();
        assert_eq!(
            d.len() as u64,
            hold_default.duration_ms * 8,
            "default hold music for t2"
        );
        assert_eq!(
            reg.custom_wav("t1", AssetKind::HoldMusic).as_deref(),
            Some(&up[..])
        );
        assert!(reg.custom_wav("t2", AssetKind::HoldMusic).is_none());
        assert_eq!(&*reg.effective_wav("t1", AssetKind::HoldMusic), &up[..]);
        assert_eq!(
            &*reg.effective_wav("t2", AssetKind::HoldMusic),
            AssetKind::HoldMusic.default_wav()
        );
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn in_place_update_reaches_existing_handles() {
        let (reg, root) = registry("inplace");
        let handle = reg.for_tenant("t");
        reg.set("t", AssetKind::Unavailable, &wav(8000, 200))
            .unwrap();
        assert_eq!(
            handle.prompt(AssetKind::Unavailable, 8000).unwrap().len(),
            1600
        );
        assert!(reg.clear("t", AssetKind::Unavailable).unwrap());
        assert!(!handle.has_override(AssetKind::Unavailable));
        assert!(!reg.clear("t", AssetKind::Unavailable).unwrap());
        assert!(!root.join("t").join("unavailable.wav").exists());
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn invalid_upload_keeps_previous() {
        let (reg, root) = registry("invalid");
        let good = wav(16000, 500);
        reg.set("t", AssetKind::AcceptPrompt, &good).unwrap();
        let err = reg
            .set("t", AssetKind::AcceptPrompt, b"definitely not a wav")
            .unwrap_err();
        assert!(
            matches!(err, RegistryError::Prompt(PromptError::Malformed(_))),
            "{err:?}"
        );
        assert_eq!(
            reg.custom_wav("t", AssetKind::AcceptPrompt).as_deref(),
            Some(&good[..])
        );
        assert_eq!(
            std::fs::read(root.join("t").join("accept_prompt.wav")).unwrap(),
            good
        );
        // No temporary files left behind.
        let names: Vec<_> = std::fs::read_dir(root.join("t"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn limits_are_enforced() {
        let root = temp_root("limits");
        let reg =
            AssetRegistry::new(root.clone(), Arc::new(Assets::new())).with_limits(PromptLimits {
                max_bytes: 4000,
                max_duration: Duration::from_millis(100),
            });
        assert!(matches!(
            reg.set("t", AssetKind::HoldMusic, &wav(8000, 300)),
            Err(RegistryError::Prompt(PromptError::TooLarge { .. }))
        ));
        assert!(matches!(
            reg.set("t", AssetKind::HoldMusic, &wav(8000, 200)),
            Err(RegistryError::Prompt(PromptError::TooLong { .. }))
        ));
        assert!(matches!(
            reg.set("../x", AssetKind::HoldMusic, &wav(8000, 50)),
            Err(RegistryError::InvalidTenant)
        ));
        assert!(!root.exists() || std::fs::read_dir(&root).unwrap().next().is_none());
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn uploads_survive_a_restart_and_bad_files_fall_back() {
        let (reg, root) = registry("restart");
        let up = wav(8000, 400);
        reg.set("t", AssetKind::HoldMusic, &up).unwrap();
        std::fs::write(root.join("t").join("unavailable.wav"), b"garbage").unwrap();
        drop(reg);
        let reg = AssetRegistry::new(root.clone(), Arc::new(Assets::new()));
        assert_eq!(reg.preload(), 1);
        assert!(reg.for_tenant("t").has_override(AssetKind::HoldMusic));
        let info = reg.info("t").unwrap();
        assert_eq!(info[0].source, PromptSource::Custom);
        assert_eq!(info[0].duration_ms, 400);
        assert_eq!(info[1].source, PromptSource::Default);
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn preload_without_a_root_is_a_no_op() {
        let reg = AssetRegistry::new(temp_root("none"), Arc::new(Assets::new()));
        assert_eq!(reg.preload(), 0);
    }

    #[test]
    fn global_overrides_are_the_tenants_defaults() {
        let global = Assets::new();
        let g = wav(8000, 700);
        global.set_override(AssetKind::HoldMusic, &g).unwrap();
        let root = temp_root("global");
        let reg = AssetRegistry::new(root.clone(), Arc::new(global));
        let info = reg.info("t").unwrap();
        assert_eq!(info[0].source, PromptSource::Default);
        assert_eq!(info[0].duration_ms, 700);
        assert_eq!(&*reg.effective_wav("t", AssetKind::HoldMusic), &g[..]);
        reg.set("t", AssetKind::HoldMusic, &wav(8000, 300)).unwrap();
        assert_eq!(reg.info("t").unwrap()[0].duration_ms, 300);
        reg.clear("t", AssetKind::HoldMusic).unwrap();
        assert_eq!(reg.info("t").unwrap()[0].duration_ms, 700);
        let _ = std::fs::remove_dir_all(root);
    }
}
