//! Who handles what: a visitor's conversation (chat) or a call assigned to one of the
//! tenant's users. One assignee at a time; assigning again replaces it, `None` clears it.
//! The assignee must be a user of the same tenant, and the conversation's widget or the call
//! must be the tenant's.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{Result, StorageError};
use crate::util::AnyQuery;
use crate::Store;

/// `sql` with the key values bound as its first parameters.
fn bind_keys<'q>(sql: &'q str, keys: &[(&str, &str)]) -> AnyQuery<'q> {
    let mut q = sqlx::query(sql);
    for (_, v) in keys {
        q = q.bind(v.to_string());
    }
    q
}

/// An assignment as shown: who, by whom, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    /// The assignee.
    pub user_id: String,
    /// The assignee's email.
    pub email: String,
    /// Who assigned it.
    pub assigned_by: Option<String>,
    /// When, unix ms.
    pub assigned_at: i64,
}

fn assignment_from_row(row: &AnyRow) -> Result<Assignment> {
    Ok(Assignment {
        user_id: row.try_get("user_id")?,
        email: row.try_get("email")?,
        assigned_by: row.try_get("assigned_by")?,
        assigned_at: row.try_get("assigned_at")?,
    })
}

/// What to assign: the assignee (`None` clears), who does it, and when.
#[derive(Debug, Clone, Copy)]
pub struct AssignTo<'a> {
    /// The user to assign, or `None` to clear.
    pub user_id: Option<&'a str>,
    /// The user doing it.
    pub by: &'a str,
    /// Unix ms.
    pub now: i64,
    /// Only if the current assignee is still this (`Some(None)`: nobody); `None`: whatever it
    /// is. A change made meanwhile makes the call [`StorageError::Conflict`].
    pub expect: Option<Option<&'a str>>,
}

impl Store {
    /// NotFound unless `user_id` is one of the tenant's users ([`StorageError::Invalid`]
    /// `userId` in that case, so the caller can answer 422).
    async fn check_member(&self, tenant_id: &str, user_id: &str) -> Result<()> {
        let row = sqlx::query("SELECT id FROM users WHERE id = $1 AND tenant_id = $2")
            .bind(user_id)
            .bind(tenant_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|_| ()).ok_or(StorageError::Invalid("userId"))
    }

    /// Assigns the conversation of `visitor_id` on the tenant's widget `widget_id`. NotFound
    /// for another tenant's widget; Invalid(`userId`) for a user who is not the tenant's.
    pub async fn assign_conversation(
        &self,
        tenant_id: &str,
        widget_id: &str,
        visitor_id: &str,
        to: AssignTo<'_>,
    ) -> Result<Option<Assignment>> {
        self.get_widget(tenant_id, widget_id).await?;
        self.set_assignment(
            "conversation_assignments",
            &[
                ("widget_id", widget_id),
                ("visitor_id", visitor_id),
                ("tenant_id", tenant_id),
            ],
            tenant_id,
            to,
        )
        .await?;
        // The conversation keeps its assignee too (the inbox counts read it there): copied
        // from the assignment as it is now, so concurrent changes end in step.
        sqlx::query(
            "UPDATE conversations SET assignee_id = (SELECT a.user_id FROM conversation_assignments a \
             WHERE a.widget_id = $1 AND a.visitor_id = $2) WHERE widget_id = $1 AND visitor_id = $2",
        )
        .bind(widget_id)
        .bind(visitor_id)
        .execute(&self.pool)
        .await?;
        self.conversation_assignee(tenant_id, widget_id, visitor_id)
            .await
    }

    /// Sets or clears the assignment row of `table` whose key columns `keys` (name, value)
    /// hold, honouring [`AssignTo::expect`] in the same statement, so a change made meanwhile
    /// is never overwritten: it makes this [`StorageError::Conflict`] instead.
    async fn set_assignment(
        &self,
        table: &str,
        keys: &[(&str, &str)],
        tenant_id: &str,
        to: AssignTo<'_>,
    ) -> Result<()> {
        if let Some(user) = to.user_id {
            self.check_member(tenant_id, user).await?;
        }
        let n = keys.len();
        let key_cond: Vec<String> = keys
            .iter()
            .enumerate()
            .map(|(i, (c, _))| format!("{c} = ${}", i + 1))
            .collect();
        let key_cond = key_cond.join(" AND ");
        let cols: Vec<&str> = keys.iter().map(|(c, _)| *c).collect();

        let changed = match (to.user_id, to.expect) {
            (None, None) => {
                let sql = format!("DELETE FROM {table} WHERE {key_cond}");
                bind_keys(&sql, keys).execute(&self.pool).await?;
                true
            }
            // Nobody expected and nobody to set: nothing to do.
            (None, Some(None)) => true,
            (None, Some(Some(expected))) => {
                let sql = format!(
                    "DELETE FROM {table} WHERE {key_cond} AND user_id = ${}",
                    n + 1
                );
                let gone = bind_keys(&sql, keys)
                    .bind(expected.to_owned())
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                gone == 1
            }
            (Some(user), expect) => {
                let conflict = match expect {
                    // Must still be free: a concurrent take makes the insert do nothing.
                    Some(None) => "DO NOTHING".to_owned(),
                    Some(Some(_)) => format!(
                        "DO UPDATE SET user_id = EXCLUDED.user_id, \
                         assigned_by = EXCLUDED.assigned_by, assigned_at = EXCLUDED.assigned_at \
                         WHERE {table}.user_id = ${}",
                        n + 4
                    ),
                    None => "DO UPDATE SET user_id = EXCLUDED.user_id, \
                             assigned_by = EXCLUDED.assigned_by, \
                             assigned_at = EXCLUDED.assigned_at"
                        .to_owned(),
                };
                let sql = format!(
                    "INSERT INTO {table} ({}, user_id, assigned_by, assigned_at) \
                     VALUES ({}, ${}, ${}, ${}) ON CONFLICT ({}) {conflict}",
                    cols.join(", "),
                    (1..=n)
                        .map(|i| format!("${i}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    n + 1,
                    n + 2,
                    n + 3,
                    cols[..n - 1].join(", "),
                );
                let mut q = bind_keys(&sql, keys)
                    .bind(user.to_owned())
                    .bind(to.by.to_owned())
                    .bind(to.now);
                if let Some(Some(expected)) = expect {
                    q = q.bind(expected.to_owned());
                }
                q.execute(&self.pool).await?.rows_affected() == 1
            }
        };
        if !changed {
            return Err(StorageError::Conflict("the assignment changed meanwhile"));
        }
        Ok(())
    }

    /// Who the conversation is assigned to.
    pub async fn conversation_assignee(
        &self,
        tenant_id: &str,
        widget_id: &str,
        visitor_id: &str,
    ) -> Result<Option<Assignment>> {
        let row = sqlx::query(
            "SELECT a.user_id, u.email, a.assigned_by, a.assigned_at \
             FROM conversation_assignments a JOIN users u ON u.id = a.user_id \
             WHERE a.widget_id = $1 AND a.visitor_id = $2 AND a.tenant_id = $3",
        )
        .bind(widget_id)
        .bind(visitor_id)
        .bind(tenant_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(assignment_from_row).transpose()
    }

    /// The widget's assigned conversations (visitor id and assignment), newest first, only
    /// `user_id`'s when given. NotFound for another tenant's widget.
    pub async fn list_conversation_assignments(
        &self,
        tenant_id: &str,
        widget_id: &str,
        user_id: Option<&str>,
    ) -> Result<Vec<(String, Assignment)>> {
        self.get_widget(tenant_id, widget_id).await?;
        let rows = sqlx::query(
            "SELECT a.visitor_id, a.user_id, u.email, a.assigned_by, a.assigned_at \
             FROM conversation_assignments a JOIN users u ON u.id = a.user_id \
             WHERE a.widget_id = $1 AND a.tenant_id = $2 AND ($3 = '' OR a.user_id = $3) \
             ORDER BY a.assigned_at DESC, a.visitor_id LIMIT 1000",
        )
        .bind(widget_id)
        .bind(tenant_id)
        .bind(user_id.unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("visitor_id")?, assignment_from_row(r)?)))
            .collect()
    }

    /// Assigns one of the tenant's calls. NotFound for another tenant's call; Invalid
    /// (`userId`) for a user who is not the tenant's.
    pub async fn assign_call(
        &self,
        tenant_id: &str,
        call_id: &str,
        to: AssignTo<'_>,
    ) -> Result<Option<Assignment>> {
        self.get_call(tenant_id, call_id).await?;
        self.set_assignment(
            "call_assignments",
            &[("call_id", call_id), ("tenant_id", tenant_id)],
            tenant_id,
            to,
        )
        .await?;
        Ok(self
            .call_assignees(tenant_id, &[call_id.to_owned()])
            .await?
            .remove(call_id))
    }

    /// The assignees of these calls of the tenant (calls without one are absent).
    pub async fn call_assignees(
        &self,
        tenant_id: &str,
        call_ids: &[String],
    ) -> Result<HashMap<String, Assignment>> {
        let mut out = HashMap::new();
        for chunk in call_ids.chunks(200) {
            let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT a.call_id, a.user_id, u.email, a.assigned_by, a.assigned_at \
                 FROM call_assignments a JOIN users u ON u.id = a.user_id \
                 WHERE a.tenant_id = $1 AND a.call_id IN ({})",
                marks.join(", ")
            );
            let mut q = sqlx::query(&sql).bind(tenant_id);
            for id in chunk {
                q = q.bind(id);
            }
            for r in q.fetch_all(&self.pool).await? {
                out.insert(r.try_get("call_id")?, assignment_from_row(&r)?);
            }
        }
        Ok(out)
    }
}
