//! Files sent in chats: their metadata (the bytes live under the data directory, written by
//! the API). Every read is scoped by tenant and widget, and by visitor for the visitor's side.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{Result, StorageError};
use crate::{new_id, now_ms, Store};

/// Most attachments one list returns.
pub const MAX_LIST_ATTACHMENTS: i64 = 200;

/// A file sent in a chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// Id (uuid).
    pub id: String,
    /// Owning tenant.
    #[serde(skip)]
    pub tenant_id: String,
    /// The widget of the chat.
    pub widget_id: String,
    /// The visitor of the chat.
    pub visitor_id: String,
    /// The chat message that announced it.
    pub message_id: Option<String>,
    /// `visitor` or `operator`.
    #[schemars(extend("enum" = ["visitor", "operator"]))]
    pub sender: String,
    /// The file's name as shown (sanitized by the API).
    pub file_name: String,
    /// The type it is served with (from the API's allow-list).
    pub content_type: String,
    /// Size in bytes.
    pub bytes: i64,
    /// Path under the data directory.
    #[serde(skip)]
    pub path: String,
    /// Unix ms.
    pub created_at: i64,
}

/// An attachment to record (the file is already written).
#[derive(Debug, Clone, Default)]
pub struct NewAttachment {
    /// The visitor of the chat.
    pub visitor_id: String,
    /// `visitor` or `operator`.
    pub sender: String,
    /// Shown name.
    pub file_name: String,
    /// Served type.
    pub content_type: String,
    /// Size in bytes.
    pub bytes: i64,
    /// Path under the data directory.
    pub path: String,
}

const COLS: &str = "id, tenant_id, widget_id, visitor_id, message_id, sender, file_name, \
                    content_type, bytes, path, created_at";

fn from_row(r: &AnyRow) -> Result<Attachment> {
    Ok(Attachment {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        widget_id: r.try_get("widget_id")?,
        visitor_id: r.try_get("visitor_id")?,
        message_id: r.try_get("message_id")?,
        sender: r.try_get("sender")?,
        file_name: r.try_get("file_name")?,
        content_type: r.try_get("content_type")?,
        bytes: r.try_get("bytes")?,
        path: r.try_get("path")?,
        created_at: r.try_get("created_at")?,
    })
}

impl Store {
    /// Records an attachment of the tenant's widget `widget_id` (which the caller checked).
    pub async fn add_attachment(
        &self,
        tenant_id: &str,
        widget_id: &str,
        new: NewAttachment,
    ) -> Result<Attachment> {
        if !["visitor", "operator"].contains(&new.sender.as_str()) {
            return Err(StorageError::Invalid("sender"));
        }
        let a = Attachment {
            id: new_id(),
            tenant_id: tenant_id.to_owned(),
            widget_id: widget_id.to_owned(),
            visitor_id: new.visitor_id,
            message_id: None,
            sender: new.sender,
            file_name: new.file_name,
            content_type: new.content_type,
            bytes: new.bytes,
            path: new.path,
            created_at: now_ms(),
        };
        sqlx::query(&format!(
            "INSERT INTO attachments ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(&a.id)
        .bind(&a.tenant_id)
        .bind(&a.widget_id)
        .bind(&a.visitor_id)
        .bind(&a.message_id)
        .bind(&a.sender)
        .bind(&a.file_name)
        .bind(&a.content_type)
        .bind(a.bytes)
        .bind(&a.path)
        .bind(a.created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| StorageError::from_write(e, "attachment"))?;
        Ok(a)
    }

    /// Links an attachment to the chat message that announced it.
    pub async fn set_attachment_message(&self, id: &str, message_id: &str) -> Result<()> {
        sqlx::query("UPDATE attachments SET message_id = $1 WHERE id = $2")
            .bind(message_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// An attachment of the tenant's widget; with `visitor_id`, only if it is that visitor's
    /// chat's. NotFound otherwise.
    pub async fn get_attachment(
        &self,
        tenant_id: &str,
        widget_id: &str,
        id: &str,
        visitor_id: Option<&str>,
    ) -> Result<Attachment> {
        let row = sqlx::query(&format!(
            "SELECT {COLS} FROM attachments WHERE id = $1 AND tenant_id = $2 AND widget_id = $3"
        ))
        .bind(id)
        .bind(tenant_id)
        .bind(widget_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StorageError::NotFound)?;
        let a = from_row(&row)?;
        match visitor_id {
            Some(v) if v != a.visitor_id => Err(StorageError::NotFound),
            _ => Ok(a),
        }
    }

    /// A visitor's chat's attachments, oldest first (at most [`MAX_LIST_ATTACHMENTS`]).
    pub async fn list_attachments(
        &self,
        tenant_id: &str,
        widget_id: &str,
        visitor_id: &str,
    ) -> Result<Vec<Attachment>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM attachments WHERE widget_id = $1 AND visitor_id = $2 \
             AND tenant_id = $3 ORDER BY created_at, id LIMIT {MAX_LIST_ATTACHMENTS}"
        ))
        .bind(widget_id)
        .bind(visitor_id)
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }
}
