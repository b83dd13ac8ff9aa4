//! # ringside-storage
//!
//! Persistent storage for Ringside, on SQLite (the embedded default) or
//! PostgreSQL, with the same code and the same SQL for both.
//!
//! Everything goes through one [`Store`], a cheap-to-clone handle around a
//! sqlx [`AnyPool`]. [`Store::connect`] takes either a `sqlite:` URL (e.g.
//! `sqlite:///var/lib/ringside/ringside.db`, created if missing) or a
//! `postgres://` URL, and runs the embedded migrations (`migrations/*.sql`).
//!
//! ## Data model
//!
//! * **Tenants and users** ([`User`]): the first sign-in of an email creates
//!   a tenant (account) and its user ([`Store::ensure_user`]).
//! * **Personal access tokens** ([`TokenInfo`], [`AuthContext`]): only the
//!   SHA-256 hash of a token is stored; the plaintext is returned once.
//! * **SIP extensions** ([`Extension`]) and **trunks** ([`Trunk`]), scoped by
//!   tenant: a method given another tenant's id answers
//!   [`StorageError::NotFound`].
//! * **Registrations** ([`Binding`]), persisted so a restart keeps them.
//! * **Nodes** ([`NodeInfo`]): the `ringside serve` processes sharing the database, each
//!   heartbeating its row ([`Store::join_node`], [`Store::heartbeat_node`]).
//! * **Call records** ([`CallRecord`], [`CallLeg`]), with batch writes for
//!   the B2BUA.
//! * **Call recordings** ([`Recording`]): metadata of the WAV files kept
//!   under the data directory, scoped by tenant like calls.
//! * **Widgets** ([`Widget`]): the embeddable chat/call bubble, per tenant,
//!   found by the public runtime through its id and public key
//!   ([`Store::get_public_widget`]).
//! * **Webhooks** ([`Webhook`]) and their durable outbox of deliveries
//!   ([`WebhookDelivery`]): events are written once per matching webhook and
//!   claimed, retried and logged by a dispatcher.
//! * **Visitors** ([`Visitor`]) of widgets and their activity log
//!   ([`VisitorEvent`]), written in batches by the API's live presence
//!   ([`Store::write_visitor_batch`]).
//! * **Campaign aliases** ([`CampaignAlias`]) and the bounded reads behind
//!   visitor analytics ([`Store::list_recent_visitors`]).
//! * **Contacts** ([`Contact`]): leads with identity fields, owning visitor
//!   sessions ([`ContactSession`]); merges move sessions and are recorded
//!   ([`ContactMerge`]), nothing is deleted.
//! * **Conversations** ([`Conversation`]): each visitor chat's state (open,
//!   pending, resolved, snoozed), last message and unread count, kept by
//!   every stored message, listed by the inbox.
//! * **Knowledge** ([`KnowledgeSource`]): a widget's sources (pages, sitemaps, text,
//!   question/answer pairs, uploads), the passages a search index is built from, the pages a
//!   crawl met and the widget's company profile.
//!
//! ## Portability rules
//!
//! Ids are TEXT (UUIDv7 strings, see [`new_id`]); times are BIGINT unix
//! milliseconds (see [`now_ms`]); booleans are BIGINT 0/1; lists are TEXT
//! holding JSON arrays. Placeholders are `$1, $2, ...` (SQLite accepts them),
//! except in the large multi-row statements of call batches, which use `?`
//! on SQLite (binding thousands of numbered parameters is quadratic there).
//! No AUTOINCREMENT or SERIAL.
//!
//! SQLite runs in WAL mode with `synchronous=NORMAL`, foreign keys on and a
//! busy timeout; `sqlite::memory:` works too (one connection).

#![warn(missing_docs)]

mod accounts;
mod ai;
mod alerts;
mod analytics;
mod assignments;
mod assistants;
mod attachments;
mod bindings;
mod call_settings;
mod calls;
mod canned;
mod contacts;
mod conversations;
mod error;
mod extensions;
mod hours;
mod integrations;
mod invites;
mod knowledge;
mod messages;
mod nodes;
mod oauth;
mod recordings;
mod secrets;
pub mod testing;
mod tokens;
mod trunks;
mod usage;
mod users;
mod util;
mod visitors;
mod webhooks;
mod widgets;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{AnyConnection, AnyPool, Connection, Executor};

pub use accounts::{
    generate_code, CodeCheck, NewSession, Role, SessionAuth, SessionInfo, AGENT_SCOPES,
    CODE_DIGITS, MAX_CODE_ATTEMPTS, MAX_WRONG_PER_DAY, SESSION_PREFIX,
};
pub use ai::{AiProvider, AiUse, AI_PROVIDER_KINDS};
pub use alerts::{
    is_digest, AlertDelivery, AlertOutcome, AlertRule, DueAlert, QuietHours, VisitorFilter,
    ALERT_CHANNELS, DIGEST, DIGEST_ALERT, GROUPED_EVENTS_KEPT, MAX_ALERT_RULES,
    QUEUED_ALERT_CHANNELS, TEST_ALERT,
};
pub use analytics::{
    CampaignAlias, Engagement, PageEvent, CAMPAIGN_TAG_KEYS, MAX_CAMPAIGN_ALIASES, MAX_PAGE_EVENTS,
    MAX_RECENT_VISITORS,
};
pub use assignments::{AssignTo, Assignment};
pub use assistants::{Assistant, Handover};
pub use attachments::{Attachment, NewAttachment, MAX_LIST_ATTACHMENTS};
pub use bindings::Binding;
pub use call_settings::{is_e164, CallSettings, MAX_PSTN_NUMBERS, RING_TIMEOUT_RANGE};
pub use calls::{CallLeg, CallRecord, LegStats, WidgetCallFilter, MAX_LIST_CALLS};
pub use canned::{canned_shortcut, CannedReply, MAX_CANNED_CHARS, MAX_CANNED_REPLIES};
pub use contacts::{
    Contact, ContactActivity, ContactMerge, ContactPatch, ContactSession, CONTACT_STATUSES,
    MAX_CONTACT_ACTIVITY, MAX_LIST_CONTACTS, MAX_MERGE_REASON_CHARS, MAX_OTHER_ADDRESSES,
};
pub use conversations::{
    Conversation, ConversationAssignee, ConversationContact, ConversationCounts,
    ConversationFilter, ConversationKey, CONVERSATION_STATES, MAX_LIST_CONVERSATIONS,
    MAX_SNOOZE_MS,
};
pub use error::{Result, StorageError};
pub use extensions::{Extension, ExtensionPatch, NewExtension};
pub use hours::{minute_of_day, BusinessHours, OpenInterval, DAYS, MAX_INTERVALS};
pub use integrations::{
    FieldMap, Integration, Lookup, INTEGRATION_KINDS, MAX_INTEGRATIONS, MAX_LIST_LOOKUPS,
};
pub use invites::{Invite, NewInvite, INVITE_PREFIX};
pub use knowledge::{
    KnowledgePage, KnowledgePassage, KnowledgeSource, KnowledgeSourceRef, NewKnowledgeSource,
    NewPassage, SourceVersion, CLAIM_EXPIRY_MS, KNOWLEDGE_KINDS, KNOWLEDGE_STATUSES,
    MAX_KNOWLEDGE_SOURCES,
};
pub use messages::{
    Callback, Message, NewCallback, NewMessage, Note, VoiceNote, MAX_LIST_MESSAGES,
    MAX_MESSAGE_CHARS, MAX_NOTE_CHARS, MESSAGE_SENDERS, NOTE_VISIBILITIES,
};
pub use nodes::{Join, NodeInfo, NODE_DEAD_AFTER_MS};
pub use oauth::{
    ClientKind, Exchange, IssuedTokens, NewOAuthClient, NewOAuthCode, OAuthClient, OAuthCode,
    OAuthGrant, Revocation, TokenLifetimes, ACCESS_TOKEN_PREFIX, REFRESH_TOKEN_PREFIX,
};
pub use recordings::{
    NewRecording, Recording, RecordingStatus, MAX_LIST_RECORDINGS, RECORDING_FORMAT_WAV,
};
pub use secrets::{SealedColumn, SealedValue};
pub use tokens::{AuthContext, Credential, TokenInfo, TOKEN_PREFIX};
pub use trunks::{NewTrunk, Trunk, TrunkPatch};
pub use usage::{UsageCounts, USAGE_METRICS};
pub use users::{normalize_email, User};
pub use util::DIGEST_ALGORITHMS;
pub use visitors::{VisitDay, Visitor, VisitorEvent, MAX_LIST_VISITORS, MAX_LIST_VISITOR_EVENTS};
pub use webhooks::{
    DeliveryStatus, DueDelivery, NewWebhook, Webhook, WebhookDelivery, WebhookPatch,
    MAX_LIST_DELIVERIES, MAX_WEBHOOK_WIDGETS, WEBHOOK_EVENTS, WEBHOOK_SECRET_PREFIX,
};
pub use widgets::{
    FormField, LeadForm, NewWidget, OfflineForm, Widget, WidgetPatch, FORM_FIELD_TYPES,
    MAX_ALLOWED_DOMAINS, MAX_FORM_FIELDS, WIDGET_KEY_PREFIX, WIDGET_POSITIONS,
};

/// The embedded migrations (`crates/storage/migrations`).
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// SQLite busy timeout: how long a writer waits for another writer.
const SQLITE_BUSY_TIMEOUT_MS: u64 = 10_000;

/// Current time as unix milliseconds.
pub fn now_ms() -> i64 {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// A new id for a row: a UUIDv7 (hyphenated lowercase). Ids made by one process sort in the
/// order they were made, so rows created in the same millisecond still list in creation order
/// (`ORDER BY created_at, id`); 74 of the 128 bits are random, so ids are not guessable.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Embedded SQLite file (or in-memory database).
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

impl Backend {
    /// Detects the backend from a database URL's scheme.
    pub fn from_url(url: &str) -> Result<Backend> {
        let lower = url.trim_start().to_ascii_lowercase();
        if lower.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StorageError::UnsupportedUrl)
        }
    }
}

/// Handle to the database; clone it freely (clones share one pool).
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Signalled when alerts due now were queued ([`Store::alert_signal`]).
    alerts_queued: std::sync::Arc<tokio::sync::Notify>,
    /// SQLite: this process's writers of [`Store::begin_write`] take turns here, in order,
    /// instead of in SQLite's busy handler (which sleeps up to 100 ms between tries, so a
    /// burst of writers waits seconds).
    write_gate: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// This process's node id ([`Store::with_node_id`]): written on the call records it
    /// stores, and the calls [`Store::close_open_calls`] closes.
    node_id: Option<std::sync::Arc<str>>,
}

/// A write transaction of [`Store::begin_write`]: the transaction, and on SQLite this
/// process's turn to write, held until it is dropped.
pub(crate) struct WriteTx {
    pub(crate) tx: sqlx::Transaction<'static, sqlx::Any>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Store {
    /// Connects to `url` (`sqlite:...` or `postgres://...`) and runs the
    /// embedded migrations.
    ///
    /// A SQLite file is created if missing (`mode=rwc` is added when the URL
    /// has no `mode`), along with its parent directory.
    pub async fn connect(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let pool = match backend {
            Backend::Sqlite => connect_sqlite(url.trim()).await?,
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(10)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(url.trim())
                    .await?
            }
        };
        let store = Store {
            pool,
            backend,
            alerts_queued: Default::default(),
            write_gate: Default::default(),
            node_id: None,
        };
        store.migrate().await?;
        tracing::debug!(?backend, "storage connected and migrated");
        Ok(store)
    }

    /// Runs the embedded migrations; already applied ones are skipped, so
    /// calling this again is harmless.
    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// Notified whenever alerts were queued by this process (clones of the store share it):
    /// the alert sender waits on it rather than polling, so the first alert of a burst leaves
    /// at once.
    pub fn alert_signal(&self) -> &tokio::sync::Notify {
        &self.alerts_queued
    }

    /// This store as used by node `id` (`RINGSIDE_NODE_ID`): call records it writes name the
    /// node, and [`Store::close_open_calls`] closes only that node's calls.
    pub fn with_node_id(mut self, id: &str) -> Store {
        self.node_id = Some(id.into());
        self
    }

    /// The node id of [`Store::with_node_id`].
    pub fn node_id(&self) -> Option<&str> {
        self.node_id.as_deref()
    }

    /// Which database this store talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether statements with many parameters should use `?` placeholders (SQLite: see
    /// `util::values_list`).
    pub(crate) fn anonymous_params(&self) -> bool {
        self.backend == Backend::Sqlite
    }

    /// Checks that the database answers (for `/healthz`).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every pooled connection; later calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A transaction that reads and then writes: on SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`, waiting out other writers with the busy timeout), since a deferred
    /// transaction that read before another connection committed cannot write at all
    /// (`SQLITE_BUSY_SNAPSHOT`, which no busy timeout waits out).
    pub(crate) async fn begin_write(&self) -> Result<WriteTx> {
        let turn = self.write_turn().await;
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(WriteTx { tx, _turn: turn })
    }

    /// On SQLite, this process's turn to write (FIFO among the writers that ask for it);
    /// nothing to wait for on PostgreSQL.
    pub(crate) async fn write_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match self.backend {
            Backend::Sqlite => Some(self.write_gate.clone().lock_owned().await),
            Backend::Postgres => None,
        }
    }

    /// The underlying pool, for diagnostics and tests. Prefer the typed
    /// methods: they enforce tenant scoping and validation.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// Opens a SQLite pool: WAL journal, `synchronous=NORMAL`, foreign keys, busy timeout.
async fn connect_sqlite(url: &str) -> Result<AnyPool> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, q),
        None => (url, ""),
    };
    let path = base
        .strip_prefix("sqlite://")
        .or_else(|| base.strip_prefix("sqlite:"))
        .unwrap_or("");
    let in_memory =
        path.is_empty() || path == ":memory:" || query.split('&').any(|p| p == "mode=memory");
    let read_only = query.split('&').any(|p| p == "mode=ro");

    let mut url = url.to_owned();
    if !in_memory && !query.split('&').any(|p| p.starts_with("mode=")) {
        url.push(if query.is_empty() && !url.contains('?') {
            '?'
        } else {
            '&'
        });
        url.push_str("mode=rwc");
    }
    if !in_memory && !read_only {
        if let Some(parent) = std::path::Path::new(path).parent() {
            if !parent.as_os_str().is_empty() {
                // Best effort: opening the database reports the real problem.
                let _ = std::fs::create_dir_all(parent);
            }
        }
        enable_wal(&url).await?;
    }

    let options = AnyPoolOptions::new()
        .acquire_timeout(Duration::from_secs(30))
        // A SQLite connection is a file handle in this process: nothing to ping before each
        // use (the ping is a round trip through the connection's worker thread per statement).
        .test_before_acquire(false)
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                conn.execute(format!("PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}").as_str())
                    .await?;
                conn.execute("PRAGMA foreign_keys = ON").await?;
                conn.execute("PRAGMA synchronous = NORMAL").await?;
                // Reads from memory rather than a read() per page: the file mapped (up to
                // 256 MiB, shared through the OS page cache) and 16 MiB of page cache per
                // connection (the default 2 MiB re-read the inbox's pages on every request).
                conn.execute("PRAGMA mmap_size = 268435456").await?;
                conn.execute("PRAGMA cache_size = -16384").await?;
                Ok(())
            })
        });
    let options = if in_memory {
        // Every connection to `:memory:` would be a different database.
        options
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        options.max_connections(4).min_connections(1)
    };
    Ok(options.connect(&url).await?)
}

/// Switches the database file to WAL once (the mode is persistent). Needs a
/// short exclusive lock that the busy timeout does not cover, so retry.
async fn enable_wal(url: &str) -> Result<()> {
    let mut conn = AnyConnection::connect(url).await?;
    let mut attempt = 0;
    let outcome = loop {
        match conn.execute("PRAGMA journal_mode = WAL").await {
            Ok(_) => break Ok(()),
            Err(sqlx::Error::Database(db)) if attempt < 50 && is_sqlite_busy(db.code()) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => break Err(e.into()),
        }
    };
    let _ = conn.close().await;
    outcome
}

/// SQLITE_BUSY or SQLITE_LOCKED, including their extended codes.
fn is_sqlite_busy(code: Option<std::borrow::Cow<'_, str>>) -> bool {
    code.and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| matches!(c & 0xff, 5 | 6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_from_url() {
        assert_eq!(
            Backend::from_url("sqlite::memory:").unwrap(),
            Backend::Sqlite
        );
        assert_eq!(
            Backend::from_url("postgres://u@h/db").unwrap(),
            Backend::Postgres
        );
        assert_eq!(
            Backend::from_url("postgresql://u@h/db").unwrap(),
            Backend::Postgres
        );
        assert!(matches!(
            Backend::from_url("mysql://x"),
            Err(StorageError::UnsupportedUrl)
        ));
    }

    #[test]
    fn ids_and_time() {
        assert_ne!(new_id(), new_id());
        assert_eq!(new_id().len(), 36);
        assert!(now_ms() > 1_600_000_000_000);
    }
}
