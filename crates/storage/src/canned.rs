//! Canned replies: a tenant's saved answers, each with a short shortcut (`/shipping`) the
//! team types or picks to put its text in a chat reply.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{Result, StorageError};
use crate::{new_id, now_ms, Store};

/// Most canned replies a tenant keeps.
pub const MAX_CANNED_REPLIES: i64 = 200;
/// Longest canned reply, in characters (a chat message's limit).
pub const MAX_CANNED_CHARS: usize = crate::messages::MAX_MESSAGE_CHARS;

/// A saved reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CannedReply {
    /// Id (uuid).
    pub id: String,
    /// Owning tenant.
    #[serde(skip)]
    pub tenant_id: String,
    /// The shortcut, 1-32 lowercase letters, digits, `-` and `_` (shown with a leading `/`).
    #[schemars(example = &"pricing")]
    pub shortcut: String,
    /// The text put in the reply.
    pub body: String,
    /// The user who saved it.
    pub created_by: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

const COLS: &str = "id, tenant_id, shortcut, body, created_by, created_at, updated_at";

fn from_row(r: &AnyRow) -> Result<CannedReply> {
    Ok(CannedReply {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        shortcut: r.try_get("shortcut")?,
        body: r.try_get("body")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// A shortcut as stored: trimmed, without a leading `/`, lowercased; 1-32 of `[a-z0-9_-]`.
pub fn canned_shortcut(s: &str) -> Result<String> {
    let s = s.trim().trim_start_matches('/').to_ascii_lowercase();
    let ok = (1..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(s)
    } else {
        Err(StorageError::Invalid("shortcut"))
    }
}

fn canned_body(s: &str) -> Result<String> {
    let s = s.trim();
    if s.is_empty()
        || s.chars().count() > MAX_CANNED_CHARS
        || s.chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(StorageError::Invalid("body"));
    }
    Ok(s.to_owned())
}

impl Store {
    /// The tenant's canned replies, by shortcut.
    pub async fn list_canned_replies(&self, tenant_id: &str) -> Result<Vec<CannedReply>> {
        let sql = format!(
            "SELECT {COLS} FROM canned_replies WHERE tenant_id = $1 ORDER BY shortcut LIMIT {MAX_CANNED_REPLIES}"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// Saves a canned reply; Conflict when the shortcut is taken, Invalid for a bad shortcut
    /// or body, or when the tenant already has [`MAX_CANNED_REPLIES`].
    pub async fn create_canned_reply(
        &self,
        tenant_id: &str,
        shortcut: &str,
        body: &str,
        created_by: Option<&str>,
    ) -> Result<CannedReply> {
        let shortcut = canned_shortcut(shortcut)?;
        let body = canned_body(body)?;
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM canned_replies WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        if n >= MAX_CANNED_REPLIES {
            return Err(StorageError::Invalid("canned replies: at most 200"));
        }
        let now = now_ms();
        let c = CannedReply {
            id: new_id(),
            tenant_id: tenant_id.to_owned(),
            shortcut,
            body,
            created_by: created_by.map(str::to_owned),
            created_at: now,
            updated_at: now,
        };
        sqlx::query(&format!(
            "INSERT INTO canned_replies ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(&c.id)
        .bind(&c.tenant_id)
        .bind(&c.shortcut)
        .bind(&c.body)
        .bind(&c.created_by)
        .bind(c.created_at)
        .bind(c.updated_at)
        .execute(&self.pool)
        .await
        .map_err(|e| StorageError::from_write(e, "shortcut already in use"))?;
        Ok(c)
    }

    /// Changes a canned reply's shortcut and/or body; NotFound for another tenant's.
    pub async fn update_canned_reply(
        &self,
        tenant_id: &str,
        id: &str,
        shortcut: Option<&str>,
        body: Option<&str>,
    ) -> Result<CannedReply> {
        let shortcut = shortcut.map(canned_shortcut).transpose()?;
        let body = body.map(canned_body).transpose()?;
        let done = sqlx::query(
            "UPDATE canned_replies SET shortcut = COALESCE($1, shortcut), \
             body = COALESCE($2, body), updated_at = $3 WHERE tenant_id = $4 AND id = $5",
        )
        .bind(shortcut)
        .bind(body)
        .bind(now_ms())
        .bind(tenant_id)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(|e| StorageError::from_write(e, "shortcut already in use"))?
        .rows_affected();
        if done == 0 {
            return Err(StorageError::NotFound);
        }
        let row = sqlx::query(&format!(
            "SELECT {COLS} FROM canned_replies WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant_id)
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        from_row(&row)
    }

    /// Deletes a canned reply; NotFound for another tenant's.
    pub async fn delete_canned_reply(&self, tenant_id: &str, id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM canned_replies WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if done == 0 {
            Err(StorageError::NotFound)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortcuts_are_short_plain_words() {
        assert_eq!(canned_shortcut(" /Shipping ").unwrap(), "shipping");
        assert_eq!(canned_shortcut("hours-2_b").unwrap(), "hours-2_b");
        for bad in ["", "/", "two words", "ünï", &"x".repeat(33), "a/b"] {
            assert!(canned_shortcut(bad).is_err(), "{bad}");
        }
        assert!(canned_body("  ").is_err());
        assert_eq!(canned_body(" Hi\nthere ").unwrap(), "Hi\nthere");
    }
}
