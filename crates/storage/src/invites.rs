//! Team invitations and membership changes: invite by email with a one-time link, accept,
//! revoke, remove a user, change a role.
//!
//! The link carries [`INVITE_PREFIX`] and a random secret; only its SHA-256 is stored. An
//! invite is accepted once, by the email it was sent to, before it expires. A tenant always
//! keeps an owner: demoting or removing its last one is [`StorageError::Conflict`], and the
//! check and the change happen under one lock of the tenant's row (PostgreSQL) or in one
//! writer transaction (SQLite), so two owners demoting each other at once cannot both win.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::accounts::Role;
use crate::error::{Result, StorageError};
use crate::users::{normalize_email, user_from_row, User, USER_COLS};
use crate::util::{sha256_hex, SecretShape};
use crate::{new_id, Backend, Store};

/// Prefix of every invite secret.
pub const INVITE_PREFIX: &str = "ringside_inv_";

const INVITE: SecretShape = SecretShape {
    prefix: INVITE_PREFIX,
    len: 43,
};

/// A pending, accepted, revoked or expired invitation, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    /// Invite id (not secret).
    pub id: String,
    /// The tenant the invitee joins.
    pub tenant_id: String,
    /// The invited email (normalised).
    pub email: String,
    /// The role the invitee gets.
    pub role: Role,
    /// Who sent it (None once that user is removed).
    pub invited_by: Option<String>,
    /// When it was sent, unix ms.
    pub created_at: i64,
    /// When the link stops working, unix ms.
    pub expires_at: i64,
    /// When it was accepted, unix ms.
    pub accepted_at: Option<i64>,
    /// When it was withdrawn, unix ms.
    pub revoked_at: Option<i64>,
}

impl Invite {
    /// Whether the link still works at `now`.
    pub fn is_pending(&self, now: i64) -> bool {
        self.accepted_at.is_none() && self.revoked_at.is_none() && self.expires_at > now
    }
}

const INVITE_COLS: &str =
    "id, tenant_id, email, role, invited_by, created_at, expires_at, accepted_at, revoked_at";

fn invite_from_row(row: &AnyRow) -> Result<Invite> {
    Ok(Invite {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        email: row.try_get("email")?,
        role: Role::from_row(row)?,
        invited_by: row.try_get("invited_by")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        accepted_at: row.try_get("accepted_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

/// What [`Store::create_invite`] needs.
#[derive(Debug, Clone, Copy)]
pub struct NewInvite<'a> {
    /// The inviting tenant.
    pub tenant_id: &'a str,
    /// The user sending it.
    pub invited_by: &'a str,
    /// Who is invited.
    pub email: &'a str,
    /// The role they get.
    pub role: Role,
    /// Sending time, unix ms.
    pub now: i64,
    /// How long the link works, ms.
    pub ttl_ms: i64,
}

impl Store {
    /// Takes the tenant's membership lock for the rest of `tx` (PostgreSQL: a row lock on the
    /// tenant; SQLite serialises writers already).
    async fn lock_tenant(&self, tx: &mut Transaction<'_, Any>, tenant_id: &str) -> Result<()> {
        if self.backend() == Backend::Postgres {
            sqlx::query("SELECT id FROM tenants WHERE id = $1 FOR UPDATE")
                .bind(tenant_id)
                .fetch_optional(&mut **tx)
                .await?
                .ok_or(StorageError::NotFound)?;
        }
        Ok(())
    }

    /// Why a guarded change of a user's role or membership changed nothing: the user is not
    /// the tenant's (NotFound), or is its last owner (Conflict).
    async fn why_not_changed(
        tx: &mut Transaction<'_, Any>,
        tenant_id: &str,
        user_id: &str,
    ) -> Result<StorageError> {
        let exists = sqlx::query("SELECT id FROM users WHERE id = $1 AND tenant_id = $2")
            .bind(user_id)
            .bind(tenant_id)
            .fetch_optional(&mut **tx)
            .await?;
        Ok(if exists.is_some() {
            StorageError::Conflict("the tenant's last owner")
        } else {
            StorageError::NotFound
        })
    }

    /// Invites `new.email` to the tenant with `new.role` and returns the invite with its
    /// secret (for the link; it is not stored). Conflict when the email is already one of the
    /// tenant's users; an earlier pending invite of the same email is withdrawn.
    pub async fn create_invite(&self, new: NewInvite<'_>) -> Result<(Invite, String)> {
        let email = normalize_email(new.email)?;
        let mut tx = self.pool.begin().await?;
        // Lock (PostgreSQL) or write (SQLite) first, so two invitations of one email at once
        // are made one after the other: the second withdraws the first.
        self.lock_tenant(&mut tx, new.tenant_id).await?;
        sqlx::query(
            "UPDATE invites SET revoked_at = $1 WHERE tenant_id = $2 AND email = $3 \
             AND accepted_at IS NULL AND revoked_at IS NULL",
        )
        .bind(new.now)
        .bind(new.tenant_id)
        .bind(&email)
        .execute(&mut *tx)
        .await?;
        let member = sqlx::query("SELECT id FROM users WHERE email = $1 AND tenant_id = $2")
            .bind(&email)
            .bind(new.tenant_id)
            .fetch_optional(&mut *tx)
            .await?;
        if member.is_some() {
            return Err(StorageError::Conflict("a user with this email"));
        }
        let secret = INVITE.generate();
        let invite = Invite {
            id: new_id(),
            tenant_id: new.tenant_id.to_owned(),
            email,
            role: new.role,
            invited_by: Some(new.invited_by.to_owned()),
            created_at: new.now,
            expires_at: new.now + new.ttl_ms,
            accepted_at: None,
            revoked_at: None,
        };
        sqlx::query(
            "INSERT INTO invites (id, tenant_id, email, role, token_hash, invited_by, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&invite.id)
        .bind(&invite.tenant_id)
        .bind(&invite.email)
        .bind(invite.role.as_str())
        .bind(sha256_hex(&secret))
        .bind(&invite.invited_by)
        .bind(invite.created_at)
        .bind(invite.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| StorageError::from_write(e, "invite"))?;
        tx.commit().await?;
        Ok((invite, secret))
    }

    /// The invite a link's secret names, pending or not; `None` for an unknown or malformed
    /// secret.
    pub async fn invite_by_secret(&self, secret: &str) -> Result<Option<Invite>> {
        if !INVITE.matches(secret) {
            return Ok(None);
        }
        let sql = format!("SELECT {INVITE_COLS} FROM invites WHERE token_hash = $1");
        let row = sqlx::query(&sql)
            .bind(sha256_hex(secret))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(invite_from_row).transpose()
    }

    /// The tenant's invites still pending at `now`, newest first.
    pub async fn list_invites(&self, tenant_id: &str, now: i64) -> Result<Vec<Invite>> {
        let sql = format!(
            "SELECT {INVITE_COLS} FROM invites WHERE tenant_id = $1 AND accepted_at IS NULL \
             AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at DESC, id DESC"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant_id)
            .bind(now)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(invite_from_row).collect()
    }

    /// Withdraws a pending invite. NotFound when it is not the tenant's or no longer pending.
    pub async fn revoke_invite(&self, tenant_id: &str, id: &str, now: i64) -> Result<()> {
        let res = sqlx::query(
            "UPDATE invites SET revoked_at = $1 WHERE id = $2 AND tenant_id = $3 \
             AND accepted_at IS NULL AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .bind(tenant_id)
        .execute(&self.pool)
        .await?;
        if res.rows_affected() == 0 {
            return Err(StorageError::NotFound);
        }
        Ok(())
    }

    /// Accepts the invite named by `secret` for `email` (already verified by a sign-in code):
    /// creates the user in the inviting tenant with the invite's role and uses the invite up.
    ///
    /// NotFound when the link is unknown, used, withdrawn, expired or for another email, or
    /// when whoever sent it is no longer one of the tenant's owners; Conflict when the email
    /// already belongs to another tenant. An email that is already the tenant's user just
    /// uses the invite up.
    pub async fn accept_invite(&self, secret: &str, email: &str, now: i64) -> Result<User> {
        let email = normalize_email(email)?;
        let invite = self
            .invite_by_secret(secret)
            .await?
            .filter(|i| i.is_pending(now) && i.email == email)
            .ok_or(StorageError::NotFound)?;
        let mut tx = self.pool.begin().await?;
        // Everything below runs on this transaction's connection: asking the pool for another
        // while holding one (and SQLite's write lock) could wait on ourselves.
        let inviter_is_owner = match &invite.invited_by {
            None => false,
            Some(by) => sqlx::query(
                "SELECT id FROM users WHERE id = $1 AND tenant_id = $2 AND role = 'owner'",
            )
            .bind(by)
            .bind(&invite.tenant_id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some(),
        };
        if !inviter_is_owner {
            return Err(StorageError::NotFound);
        }
        let used = sqlx::query(
            "UPDATE invites SET accepted_at = $1 WHERE id = $2 AND accepted_at IS NULL \
             AND revoked_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(&invite.id)
        .execute(&mut *tx)
        .await?;
        if used.rows_affected() == 0 {
            return Err(StorageError::NotFound);
        }
        let sql = format!("SELECT {USER_COLS} FROM users WHERE email = $1");
        let existing = sqlx::query(&sql)
            .bind(&email)
            .fetch_optional(&mut *tx)
            .await?
            .as_ref()
            .map(user_from_row)
            .transpose()?;
        if let Some(existing) = existing {
            if existing.tenant_id != invite.tenant_id {
                return Err(StorageError::Conflict("an account with this email"));
            }
            tx.commit().await?;
            return Ok(existing);
        }
        let user = User {
            id: new_id(),
            tenant_id: invite.tenant_id,
            email,
            created_at: now,
            role: invite.role,
        };
        sqlx::query(
            "INSERT INTO users (id, tenant_id, email, created_at, role) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&user.id)
        .bind(&user.tenant_id)
        .bind(&user.email)
        .bind(user.created_at)
        .bind(user.role.as_str())
        .execute(&mut *tx)
        .await
        .map_err(|e| StorageError::from_write(e, "an account with this email"))?;
        tx.commit().await?;
        Ok(user)
    }

    /// Changes a user's role in their tenant. NotFound when the user is not the tenant's.
    /// The tenant keeps at least one owner: demoting the last one is
    /// [`StorageError::Conflict`].
    pub async fn set_user_role(&self, tenant_id: &str, user_id: &str, role: Role) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        self.lock_tenant(&mut tx, tenant_id).await?;
        // One statement checks and changes, inside the tenant's lock.
        let res = sqlx::query(
            "UPDATE users SET role = $1 WHERE id = $2 AND tenant_id = $3 AND ($1 = 'owner' \
             OR role <> 'owner' \
             OR (SELECT COUNT(*) FROM users WHERE tenant_id = $3 AND role = 'owner') > 1)",
        )
        .bind(role.as_str())
        .bind(user_id)
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() == 0 {
            return Err(Self::why_not_changed(&mut tx, tenant_id, user_id).await?);
        }
        tx.commit().await?;
        Ok(())
    }

    /// Removes a user from their tenant, with their sessions and tokens. NotFound when the
    /// user is not the tenant's; Conflict for the tenant's last owner.
    pub async fn remove_user(&self, tenant_id: &str, user_id: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        self.lock_tenant(&mut tx, tenant_id).await?;
        let res = sqlx::query(
            "DELETE FROM users WHERE id = $1 AND tenant_id = $2 AND (role <> 'owner' \
             OR (SELECT COUNT(*) FROM users WHERE tenant_id = $2 AND role = 'owner') > 1)",
        )
        .bind(user_id)
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() == 0 {
            return Err(Self::why_not_changed(&mut tx, tenant_id, user_id).await?);
        }
        tx.commit().await?;
        Ok(())
    }
}

impl Store {
    /// Gives one of the tenant's users some of its widgets (`Some`), or all of them (`None`).
    /// NotFound when the user is not the tenant's; Invalid(`widgetIds`) when a widget is not.
    pub async fn set_user_widgets(
        &self,
        tenant_id: &str,
        user_id: &str,
        widget_ids: Option<&[String]>,
    ) -> Result<()> {
        let member = sqlx::query("SELECT id FROM users WHERE id = $1 AND tenant_id = $2")
            .bind(user_id)
            .bind(tenant_id)
            .fetch_optional(&self.pool)
            .await?;
        if member.is_none() {
            return Err(StorageError::NotFound);
        }
        let ids: Vec<String> = match widget_ids {
            None => Vec::new(),
            Some(ids) => {
                let mut v: Vec<String> = ids.to_vec();
                v.sort();
                v.dedup();
                if v.len() > 1000 {
                    return Err(StorageError::Invalid("widgetIds"));
                }
                v
            }
        };
        let known: std::collections::HashSet<String> = self
            .list_widgets(tenant_id)
            .await?
            .into_iter()
            .map(|w| w.id)
            .collect();
        if ids.iter().any(|id| !known.contains(id)) {
            return Err(StorageError::Invalid("widgetIds"));
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM user_widgets WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        for id in &ids {
            sqlx::query(
                "INSERT INTO user_widgets (user_id, widget_id, tenant_id) VALUES ($1, $2, $3)",
            )
            .bind(user_id)
            .bind(id)
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE users SET widget_scope = $1 WHERE id = $2")
            .bind(if widget_ids.is_some() { "some" } else { "all" })
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The widgets a user was given: `None` for all of the tenant's, else their ids, sorted.
    pub async fn user_widgets(&self, user_id: &str) -> Result<Option<Vec<String>>> {
        let row = sqlx::query("SELECT widget_scope FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StorageError::NotFound)?;
        let scope: String = row.try_get("widget_scope")?;
        if scope == "all" {
            return Ok(None);
        }
        let rows =
            sqlx::query("SELECT widget_id FROM user_widgets WHERE user_id = $1 ORDER BY widget_id")
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| r.try_get("widget_id").map_err(Into::into))
            .collect::<Result<Vec<String>>>()
            .map(Some)
    }
}
