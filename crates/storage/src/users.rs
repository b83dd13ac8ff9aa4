//! Tenants (accounts) and their users.
//!
//! A tenant is created implicitly with its first user: [`Store::ensure_user`]
//! is what a sign-in flow calls with a verified email address.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::accounts::Role;
use crate::error::{Result, StorageError};
use crate::{new_id, now_ms, Store};

/// A person who can sign in; belongs to exactly one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// User id (UUID, see [`crate::new_id`]).
    pub id: String,
    /// The tenant (account) this user belongs to.
    pub tenant_id: String,
    /// Normalised (trimmed, lowercase) email address, unique server-wide.
    pub email: String,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// What the user may do in their tenant (the first user of a tenant is its owner).
    pub role: Role,
}

pub(crate) const USER_COLS: &str = "id, tenant_id, email, created_at, role";

pub(crate) fn user_from_row(row: &AnyRow) -> Result<User> {
    Ok(User {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        email: row.try_get("email")?,
        created_at: row.try_get("created_at")?,
        role: Role::from_row(row)?,
    })
}

/// Trims and lowercases an email address; rejects invalid ones ([`StorageError::Invalid`]
/// `email`): one `@`, a local part of letters, digits and `.!#$%&'*+/=?^_`{|}~-` (no quoting,
/// no leading, trailing or doubled dot), a domain of letters, digits, `-` and dots (no empty
/// label), at most 254 characters. Nothing a mail library could read as a display name or a
/// second address (`<`, `>`, `,`, `"`, spaces) gets through.
pub fn normalize_email(email: &str) -> Result<String> {
    let email = email.trim().to_lowercase();
    const LOCAL_SPECIAL: &str = ".!#$%&'*+/=?^_`{|}~-";
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && local.len() <= 64
                && !local.starts_with('.')
                && !local.ends_with('.')
                && !local.contains("..")
                && local
                    .chars()
                    .all(|c| c.is_alphanumeric() || LOCAL_SPECIAL.contains(c))
                && !domain.is_empty()
                && domain
                    .split('.')
                    .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'))
                && domain
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '-' || c == '.')
                && email.len() <= 254
        }
        None => false,
    };
    if valid {
        Ok(email)
    } else {
        Err(StorageError::Invalid("email"))
    }
}

impl Store {
    /// Returns the user with this email, creating a new tenant and user when
    /// the email is new. The email is trimmed and lowercased; an empty one or
    /// one without `@` is [`StorageError::Invalid`]. Safe to call concurrently.
    pub async fn ensure_user(&self, email: &str) -> Result<User> {
        let email = normalize_email(email)?;
        for _ in 0..3 {
            if let Some(user) = self.user_by_normalized_email(&email).await? {
                return Ok(user);
            }
            let now = now_ms();
            let user = User {
                id: new_id(),
                tenant_id: new_id(),
                email: email.clone(),
                created_at: now,
                role: Role::Owner,
            };
            let mut tx = self.pool.begin().await?;
            sqlx::query("INSERT INTO tenants (id, created_at) VALUES ($1, $2)")
                .bind(&user.tenant_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let inserted = sqlx::query(
                "INSERT INTO users (id, tenant_id, email, created_at, role) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&user.id)
            .bind(&user.tenant_id)
            .bind(&user.email)
            .bind(now)
            .bind(user.role.as_str())
            .execute(&mut *tx)
            .await;
            match inserted {
                Ok(_) => {
                    tx.commit().await?;
                    return Ok(user);
                }
                // Someone else created this email meanwhile: drop our tenant, read theirs.
                Err(e) if StorageError::is_unique_violation(&e) => {
                    tx.rollback().await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.user_by_normalized_email(&email)
            .await?
            .ok_or(StorageError::Conflict("email"))
    }

    /// The user with this id, or [`StorageError::NotFound`].
    pub async fn get_user(&self, id: &str) -> Result<User> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StorageError::NotFound)?;
        user_from_row(&row)
    }

    /// The user with this email (normalised like [`Store::ensure_user`]), if any.
    pub async fn find_user_by_email(&self, email: &str) -> Result<Option<User>> {
        let email = normalize_email(email)?;
        self.user_by_normalized_email(&email).await
    }

    /// All users of a tenant, oldest first.
    pub async fn list_users(&self, tenant_id: &str) -> Result<Vec<User>> {
        let sql =
            format!("SELECT {USER_COLS} FROM users WHERE tenant_id = $1 ORDER BY created_at, id");
        let rows = sqlx::query(&sql)
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(user_from_row).collect()
    }

    pub(crate) async fn user_by_normalized_email(&self, email: &str) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE email = $1");
        let row = sqlx::query(&sql)
            .bind(email)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_email;

    #[test]
    fn email_normalisation() {
        assert_eq!(
            normalize_email("  Bob@Example.COM ").unwrap(),
            "bob@example.com"
        );
        assert!(normalize_email("").is_err());
        assert!(normalize_email("   ").is_err());
        assert!(normalize_email("no-at-sign").is_err());
        assert!(normalize_email("@example.com").is_err());
        assert!(normalize_email("bob@").is_err());
        assert!(normalize_email("a b@example.com").is_err());
        assert!(normalize_email("a@b@c").is_err());
        // Nothing a mail library reads as a display name or a second address.
        for bad in [
            "ceo<attacker@evil.com>",
            "\"ceo\"@example.com",
            "a,b@example.com",
            "a@example.com,b@example.com",
            "a@exa mple.com",
            ".a@example.com",
            "a..b@example.com",
            "a@-example.com",
            "a@example..com",
            "a@[127.0.0.1]",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
        for good in [
            "first.last+tag@sub.example.co.uk",
            "o'brien@example.ie",
            "jürgen@bücher.de",
        ] {
            assert!(normalize_email(good).is_ok(), "{good}");
        }
    }
}
