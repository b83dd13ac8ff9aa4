//! Default prompts shipped inside the binary, with per-deployment (or per-tenant) overrides.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use super::{Prompt, PromptError, PromptLimits, PromptPlayer};

/// The prompts Ringside ships defaults for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssetKind {
    /// Music played while a caller waits (played looped).
    HoldMusic,
    /// "No one is available to take your call right now. Please try again later."
    Unavailable,
    /// "You have a call from the website. Press 1 to accept this call."
    AcceptPrompt,
    /// What a website visitor hears while its call rings (played looped). The shipped one is
    /// one US ringback cycle; without an upload Ringside generates its configured cadence.
    Ringtone,
}

impl AssetKind {
    /// Every kind.
    pub const ALL: [AssetKind; 4] = [
        AssetKind::HoldMusic,
        AssetKind::Unavailable,
        AssetKind::AcceptPrompt,
        AssetKind::Ringtone,
    ];

    /// File name of this asset, both in `media/assets/` and in an override directory.
    pub fn file_name(self) -> &'static str {
        match self {
            AssetKind::HoldMusic => "hold_music.wav",
            AssetKind::Unavailable => "unavailable.wav",
            AssetKind::AcceptPrompt => "accept_prompt.wav",
            AssetKind::Ringtone => "ringtone.wav",
        }
    }

    /// The built-in WAV file.
    pub fn default_wav(self) -> &'static [u8] {
        match self {
            AssetKind::HoldMusic => include_bytes!("../../assets/hold_music.wav"),
            AssetKind::Unavailable => include_bytes!("../../assets/unavailable.wav"),
            AssetKind::AcceptPrompt => include_bytes!("../../assets/accept_prompt.wav"),
            AssetKind::Ringtone => include_bytes!("../../assets/ringtone.wav"),
        }
    }

    /// Whether this asset is meant to be played in a loop (hold music).
    pub fn loops(self) -> bool {
        matches!(self, AssetKind::HoldMusic | AssetKind::Ringtone)
    }
}

/// The WAV bytes currently in force for a kind, with a generation number that changes on
/// every override so stale cache entries are never served.
#[derive(Clone)]
struct Current {
    generation: u64,
    wav: Arc<[u8]>,
}

/// Decoded prompts by (kind, rate), each tagged with the generation it was decoded from.
type PromptCache = HashMap<(AssetKind, u32), (u64, Arc<Prompt>)>;

/// A set of prompts: the built-in defaults, optionally overridden (e.g. by a tenant's
/// uploaded WAV), decoded lazily and cached per (kind, sample rate).
///
/// Thread-safe; share it behind an `Arc`. Each instance has its own overrides and cache, so
/// a deployment with per-tenant prompts keeps one `Assets` per tenant.
pub struct Assets {
    limits: PromptLimits,
    /// Where kinds without an override of their own come from (the built-ins when `None`).
    parent: Option<Arc<Assets>>,
    overrides: RwLock<HashMap<AssetKind, Current>>,
    cache: Mutex<PromptCache>,
    next_generation: Mutex<u64>,
}

impl std::fmt::Debug for Assets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let overridden: Vec<AssetKind> = AssetKind::ALL
            .into_iter()
            .filter(|&k| self.has_override(k))
            .collect();
        f.debug_struct("Assets")
            .field("limits", &self.limits)
            .field("overridden", &overridden)
            .finish()
    }
}

impl Default for Assets {
    fn default() -> Self {
        Self::new()
    }
}

impl Assets {
    /// The built-in defaults, with the default [`PromptLimits`] for overrides.
    pub fn new() -> Self {
        Self::with_limits(PromptLimits::default())
    }

    /// The built-in defaults, with `limits` applied to overrides.
    pub fn with_limits(limits: PromptLimits) -> Self {
        Assets {
            limits,
            parent: None,
            overrides: RwLock::new(HashMap::new()),
            cache: Mutex::new(HashMap::new()),
            next_generation: Mutex::new(1),
        }
    }

    /// A layer over `parent`: kinds without an override of their own play `parent`'s prompt
    /// (whose decoded cache is shared). Used for a tenant's uploads over the deployment's
    /// defaults.
    pub fn with_parent(parent: Arc<Assets>, limits: PromptLimits) -> Self {
        Assets {
            parent: Some(parent),
            ..Self::with_limits(limits)
        }
    }

    /// The limits applied to overrides.
    pub fn limits(&self) -> PromptLimits {
        self.limits
    }

    /// The defaults, overridden by any of `hold_music.wav`, `unavailable.wav` and
    /// `accept_prompt.wav` ([`AssetKind::file_name`]) found in `dir`.
    ///
    /// Missing files keep the default; a file that exists but cannot be read or decoded is
    /// an error (a configuration mistake better reported at start-up).
    pub fn with_override_dir(dir: impl AsRef<Path>) -> Result<Self, PromptError> {
        let assets = Self::new();
        for kind in AssetKind::ALL {
            let path = dir.as_ref().join(kind.file_name());
            if !path.is_file() {
                continue;
            }
            let size = std::fs::metadata(&path)?.len();
            if size > assets.limits.max_bytes {
                return Err(PromptError::TooLarge {
                    size,
                    limit: assets.limits.max_bytes,
                });
            }
            let bytes = std::fs::read(&path)?;
            assets.set_override(kind, &bytes)?;
        }
        Ok(assets)
    }

    /// Replaces the prompt for `kind` with `wav` (a WAV file's bytes).
    ///
    /// The bytes are validated with [`Prompt::from_wav_bytes_with_limits`] first; if they are
    /// rejected the error is returned and the previous prompt stays in force.
    pub fn set_override(&self, kind: AssetKind, wav: &[u8]) -> Result<(), PromptError> {
        let prompt = Prompt::from_wav_bytes_with_limits(wav, 8000, &self.limits)?;
        self.install(kind, wav.into(), prompt);
        Ok(())
    }

    /// Installs `wav` as the override for `kind`, with `prompt` its already validated
    /// decoding at 8000 Hz (no check is made that they match).
    pub(super) fn install(&self, kind: AssetKind, wav: Arc<[u8]>, prompt: Prompt) {
        debug_assert_eq!(prompt.rate(), 8000);
        let generation = {
            let mut g = self
                .next_generation
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            *g += 1;
            *g
        };
        self.overrides
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(kind, Current { generation, wav });
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.retain(|&(k, _), _| k != kind);
        cache.insert((kind, 8000), (generation, Arc::new(prompt)));
    }

    /// Goes back to the built-in default for `kind`.
    pub fn clear_override(&self, kind: AssetKind) {
        self.overrides
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&kind);
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|&(k, _), _| k != kind);
    }

    /// Whether `kind` is currently overridden in this instance (its parent's overrides do
    /// not count).
    pub fn has_override(&self, kind: AssetKind) -> bool {
        self.overrides
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&kind)
    }

    /// This instance's own override for `kind` (not its parent's), if any.
    pub fn override_wav(&self, kind: AssetKind) -> Option<Arc<[u8]>> {
        self.current(kind).1
    }

    /// The WAV bytes in force for `kind`: this instance's override, else its parent's, else
    /// `None` for the built-in [`AssetKind::default_wav`].
    pub fn effective_wav(&self, kind: AssetKind) -> Option<Arc<[u8]>> {
        match (self.current(kind).1, &self.parent) {
            (Some(wav), _) => Some(wav),
            (None, Some(parent)) => parent.effective_wav(kind),
            (None, None) => None,
        }
    }

    /// The WAV bytes in force for `kind` and their generation (0 for the default).
    fn current(&self, kind: AssetKind) -> (u64, Option<Arc<[u8]>>) {
        match self
            .overrides
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&kind)
        {
            Some(c) => (c.generation, Some(Arc::clone(&c.wav))),
            None => (0, None),
        }
    }

    /// The prompt for `kind` decoded at `rate` Hz (8000..=48000), from the cache when
    /// possible. Decoding (done at most once per kind and rate) happens outside any lock.
    pub fn prompt(&self, kind: AssetKind, rate: u32) -> Result<Arc<Prompt>, PromptError> {
        let (generation, wav) = self.current(kind);
        if let (None, Some(parent)) = (&wav, &self.parent) {
            return parent.prompt(kind, rate);
        }
        if let Some((g, p)) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(kind, rate))
        {
            if *g == generation {
                return Ok(Arc::clone(p));
            }
        }
        let prompt = Arc::new(match &wav {
            Some(bytes) => Prompt::from_wav_bytes_with_limits(bytes, rate, &self.limits)?,
            None => Prompt::from_wav_bytes(kind.default_wav(), rate)?,
        });
        // Only cache if no override changed meanwhile.
        if self.current(kind).0 == generation {
            self.cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert((kind, rate), (generation, Arc::clone(&prompt)));
        }
        Ok(prompt)
    }

    /// A player for `kind` at `rate` Hz: looped for hold music, once for the others.
    pub fn player(&self, kind: AssetKind, rate: u32) -> Result<PromptPlayer, PromptError> {
        let prompt = self.prompt(kind, rate)?;
        Ok(PromptPlayer::new(&prompt, kind.loops()))
    }
}
