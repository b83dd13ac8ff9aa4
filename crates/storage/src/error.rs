//! The error type of every storage operation.

use thiserror::Error;

/// Result alias used by every [`crate::Store`] method.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Why a storage operation failed.
///
/// The variants that carry a `&'static str` name the offending field or
/// constraint in plain words, suitable for an API error message.
#[derive(Debug, Error)]
pub enum StorageError {
    /// The row does not exist, or belongs to another tenant, or a row it
    /// refers to (tenant, user, extension, call) does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness constraint was violated (e.g. duplicate SIP username);
    /// nothing was written.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The input was rejected before reaching the database.
    #[error("invalid input: {0}")]
    Invalid(&'static str),
    /// A stored value could not be decoded (e.g. a malformed JSON list); names the column.
    #[error("corrupt stored value in column {0}")]
    Corrupt(&'static str),
    /// The database URL is not `sqlite:...` or `postgres://...`.
    #[error("unsupported database URL (expected sqlite:... or postgres://...)")]
    UnsupportedUrl,
    /// Any other database or connection error.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Running the embedded migrations failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StorageError {
    /// Maps a database error from a write: a unique violation becomes
    /// [`StorageError::Conflict`] with `what`, a foreign-key violation becomes
    /// [`StorageError::NotFound`], anything else [`StorageError::Database`].
    pub(crate) fn from_write(err: sqlx::Error, what: &'static str) -> Self {
        if let sqlx::Error::Database(db) = &err {
            if db.is_unique_violation() {
                return StorageError::Conflict(what);
            }
            if db.is_foreign_key_violation() {
                return StorageError::NotFound;
            }
        }
        StorageError::Database(err)
    }

    /// True when the database could not be reached or is going away (connection refused or
    /// cut, pool timed out or closed, server shutting down or starting up): the request may
    /// succeed if retried shortly, unlike a query the database refused.
    pub fn is_unavailable(&self) -> bool {
        let StorageError::Database(err) = self else {
            return false;
        };
        match err {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            // SQLSTATE classes 08 (connection exception) and 57 (operator intervention:
            // admin shutdown, crash shutdown, cannot connect now).
            sqlx::Error::Database(db) => db
                .code()
                .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
            _ => false,
        }
    }

    /// True when this is a unique-constraint violation reported by the database.
    pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
        matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
    }
}
