//! A short-lived in-memory cache of widgets for the public runtime endpoints.
//!
//! Every tracking call, chat message and preflight names a widget; reading it from the
//! database each time made the widget lookup the most expensive step of `/track`. Entries
//! live [`WidgetCache::ttl`] (5 s by default) and are dropped at once when the API changes
//! the widget in this process, so an edited origin list or a rotated key applies at once
//! here and within the TTL in other processes sharing the database. Unknown ids are not
//! cached (they cost a lookup each, and the per-IP limits bound them). The cache holds at
//! most `max` widgets; when full it starts over.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ringside_storage::{StorageError, Store, Widget};

/// Widgets by id, each with the time it was read.
#[derive(Debug)]
pub struct WidgetCache {
    ttl: Duration,
    max: usize,
    map: Mutex<HashMap<String, (Instant, Arc<Widget>)>>,
}

impl Default for WidgetCache {
    fn default() -> Self {
        WidgetCache::new(Duration::from_secs(5), 10_000)
    }
}

impl WidgetCache {
    /// A cache keeping entries `ttl`, at most `max` of them.
    pub fn new(ttl: Duration, max: usize) -> WidgetCache {
        WidgetCache {
            ttl,
            max: max.max(1),
            map: Mutex::new(HashMap::new()),
        }
    }

    /// How long an entry is trusted.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Arc<Widget>)>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The widget `id` (any tenant's), from the cache or `store`; NotFound when there is none.
    pub async fn get(&self, store: &Store, id: &str) -> Result<Arc<Widget>, StorageError> {
        if let Some((at, w)) = self.lock().get(id) {
            if at.elapsed() < self.ttl {
                return Ok(w.clone());
            }
        }
        let w = Arc::new(store.find_widget(id).await?);
        let mut map = self.lock();
        if map.len() >= self.max && !map.contains_key(id) {
            map.clear();
        }
        map.insert(id.to_owned(), (Instant::now(), w.clone()));
        Ok(w)
    }

    /// Forgets widget `id` (after it changed).
    pub fn invalidate(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Widgets cached.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
