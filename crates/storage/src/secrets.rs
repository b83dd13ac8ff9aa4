//! Secrets the nodes of a cluster share (the SIP digest nonce secret, the link secret that
//! signs conversation links and seals alert credentials, the VAPID key of Web Push): one
//! value per name in the database, made once by whichever node needs it first.

use crate::error::Result;
use crate::{now_ms, Store};

impl Store {
    /// The secret `name`: the stored one, or, when there is none yet, `first()` stored (by
    /// this caller, or by another node that got there first, whose value wins).
    pub async fn shared_secret(
        &self,
        name: &str,
        first: impl FnOnce() -> String,
    ) -> Result<String> {
        if let Some(v) = self.read_secret(name).await? {
            return Ok(v);
        }
        sqlx::query(
            "INSERT INTO shared_secrets (name, value, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(first())
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(self
            .read_secret(name)
            .await?
            .expect("a shared secret just written (or written by another node) is there"))
    }

    /// Replaces the secret `name` with `value` (rotation: the nodes use it from their next
    /// start; what the old one signed stops being accepted then).
    pub async fn rotate_secret(&self, name: &str, value: &str) -> Result<()> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO shared_secrets (name, value, created_at, rotated_at) \
             VALUES ($1, $2, $3, $3) ON CONFLICT (name) DO UPDATE \
             SET value = excluded.value, rotated_at = excluded.rotated_at",
        )
        .bind(name)
        .bind(value)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets the secret `name` (the next node to need it makes a new one); whether there
    /// was one.
    pub async fn forget_secret(&self, name: &str) -> Result<bool> {
        let res = sqlx::query("DELETE FROM shared_secrets WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected() > 0)
    }

    async fn read_secret(&self, name: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM shared_secrets WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}
