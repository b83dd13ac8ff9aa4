//! Visitor chat messages, callback/lead submissions and internal notes.
//!
//! All three belong to a widget of a tenant and (mostly) to a visitor of that
//! widget. Callers check that the widget is the tenant's (e.g. with
//! [`Store::get_widget`]) before writing; every read is filtered by tenant and
//! widget, so another tenant's rows are never returned.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{Result, StorageError};
use crate::util::{bounded, optional, required};
use crate::{new_id, now_ms, Store};

/// Longest message body, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4000;
/// Longest note body, in characters.
pub const MAX_NOTE_CHARS: usize = 4000;
/// Most rows one list call returns.
pub const MAX_LIST_MESSAGES: i64 = 500;
/// Message senders.
pub const MESSAGE_SENDERS: &[&str] = &["visitor", "operator", "automation", "assistant"];
/// Note visibilities.
pub const NOTE_VISIBILITIES: &[&str] = &["team", "private"];

/// One chat message of a visitor's conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// Message id (uuid).
    pub id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Widget the conversation runs on.
    pub widget_id: String,
    /// The visitor.
    pub visitor_id: String,
    /// Conversation (session) id.
    pub conversation_id: String,
    /// `visitor`, `operator`, `automation` or `assistant`.
    pub sender: String,
    /// The operator who sent it (operator messages sent through the API).
    pub author_user_id: Option<String>,
    /// Text, at most [`MAX_MESSAGE_CHARS`].
    pub body: String,
    /// Unix ms.
    pub created_at: i64,
}

/// A message to store.
#[derive(Debug, Clone, Default)]
pub struct NewMessage {
    /// The visitor.
    pub visitor_id: String,
    /// Conversation id; the visitor id when empty.
    pub conversation_id: String,
    /// One of [`MESSAGE_SENDERS`].
    pub sender: String,
    /// Operator user id, if any.
    pub author_user_id: Option<String>,
    /// Text (trimmed, 1..=[`MAX_MESSAGE_CHARS`]; newlines and tabs allowed).
    pub body: String,
}

/// A stored voice note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VoiceNote {
    /// Path relative to the data directory.
    #[serde(skip_serializing)]
    pub path: String,
    /// `audio/*` content type.
    pub content_type: String,
    /// Size in bytes.
    pub bytes: i64,
}

/// A callback request or lead submitted from a widget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Callback {
    /// Callback id (uuid).
    pub id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Widget it came from.
    pub widget_id: String,
    /// The visitor, when known.
    pub visitor_id: Option<String>,
    /// `callback` or `lead`.
    pub kind: String,
    /// Name given.
    pub name: Option<String>,
    /// Email given.
    pub email: Option<String>,
    /// Phone given.
    pub phone: Option<String>,
    /// Message or original question.
    pub message: Option<String>,
    /// Every submitted form field.
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// The voice note, if one was uploaded.
    pub voice_note: Option<VoiceNote>,
    /// Unix ms.
    pub created_at: i64,
}

/// A callback or lead to store.
#[derive(Debug, Clone, Default)]
pub struct NewCallback {
    /// The visitor, when known.
    pub visitor_id: Option<String>,
    /// `callback` or `lead`.
    pub kind: String,
    /// Name (at most 200 chars).
    pub name: Option<String>,
    /// Email (at most 320 chars).
    pub email: Option<String>,
    /// Phone (at most 64 chars).
    pub phone: Option<String>,
    /// Message (at most [`MAX_MESSAGE_CHARS`]).
    pub message: Option<String>,
    /// All submitted fields (at most 16 KiB as JSON).
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// The voice note, already written to disk.
    pub voice_note: Option<VoiceNote>,
}

/// An internal note about a visitor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Note {
    /// Note id (uuid).
    pub id: String,
    /// Owning tenant.
    #[serde(skip)]
    pub tenant_id: String,
    /// Widget of the visitor.
    pub widget_id: String,
    /// The visitor.
    pub visitor_id: String,
    /// Author.
    pub author_user_id: String,
    /// Text.
    pub body: String,
    /// `team` or `private` (only its author sees it).
    #[schemars(extend("enum" = ["team", "private"]))]
    pub visibility: String,
    /// Unix ms.
    pub created_at: i64,
    /// The author's email, for showing who wrote it (`None` once the author is removed).
    pub author_email: Option<String>,
}

/// Text with newlines and tabs allowed, other control characters refused.
fn multiline(value: &str, max: usize, what: &'static str) -> Result<String> {
    let v = value.trim();
    if v.is_empty()
        || v.chars().count() > max
        || v.chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(StorageError::Invalid(what));
    }
    Ok(v.to_owned())
}

fn opt_multiline(v: Option<String>, max: usize, what: &'static str) -> Result<Option<String>> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => multiline(s, max, what).map(Some),
    }
}

pub(crate) const MESSAGE_COLS: &str =
    "id, tenant_id, widget_id, visitor_id, conversation_id, sender, author_user_id, body, created_at";
pub(crate) const CALLBACK_COLS: &str =
    "id, tenant_id, widget_id, visitor_id, kind, name, email, phone, \
     message, fields, voice_note_path, voice_note_content_type, voice_note_bytes, created_at";
pub(crate) const NOTE_COLS: &str =
    "id, tenant_id, widget_id, visitor_id, author_user_id, body, visibility, created_at";

/// [`NOTE_COLS`] and the author's email (gone when the author was removed), for reads.
pub(crate) const NOTE_READ_COLS: &str =
    "id, tenant_id, widget_id, visitor_id, author_user_id, body, visibility, created_at, \
     (SELECT u.email FROM users u WHERE u.id = author_user_id) AS author_email";

pub(crate) fn message_from_row(row: &AnyRow) -> Result<Message> {
    Ok(Message {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        widget_id: row.try_get("widget_id")?,
        visitor_id: row.try_get("visitor_id")?,
        conversation_id: row.try_get("conversation_id")?,
        sender: row.try_get("sender")?,
        author_user_id: row.try_get("author_user_id")?,
        body: row.try_get("body")?,
        created_at: row.try_get("created_at")?,
    })
}

pub(crate) fn callback_from_row(row: &AnyRow) -> Result<Callback> {
    let fields: String = row.try_get("fields")?;
    let path: Option<String> = row.try_get("voice_note_path")?;
    let voice_note = match path {
        Some(path) => Some(VoiceNote {
            path,
            content_type: row
                .try_get::<Option<String>, _>("voice_note_content_type")?
                .unwrap_or_default(),
            bytes: row
                .try_get::<Option<i64>, _>("voice_note_bytes")?
                .unwrap_or(0),
        }),
        None => None,
    };
    Ok(Callback {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        widget_id: row.try_get("widget_id")?,
        visitor_id: row.try_get("visitor_id")?,
        kind: row.try_get("kind")?,
        name: row.try_get("name")?,
        email: row.try_get("email")?,
        phone: row.try_get("phone")?,
        message: row.try_get("message")?,
        fields: serde_json::from_str(&fields).map_err(|_| StorageError::Corrupt("fields"))?,
        voice_note,
        created_at: row.try_get("created_at")?,
    })
}

pub(crate) fn note_from_row(row: &AnyRow) -> Result<Note> {
    Ok(Note {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        widget_id: row.try_get("widget_id")?,
        visitor_id: row.try_get("visitor_id")?,
        author_user_id: row.try_get("author_user_id")?,
        body: row.try_get("body")?,
        visibility: row.try_get("visibility")?,
        created_at: row.try_get("created_at")?,
        author_email: row.try_get("author_email").unwrap_or(None),
    })
}

fn limit(l: i64) -> i64 {
    l.clamp(1, MAX_LIST_MESSAGES)
}

impl Store {
    /// Stores a message of widget `widget_id` (which the caller checked is the tenant's), and
    /// records it in the visitor's conversation (state, preview, unread count) in the same
    /// transaction.
    /// [`StorageError::Invalid`] for an unknown sender or an empty or too long body.
    pub async fn add_message(
        &self,
        tenant_id: &str,
        widget_id: &str,
        new: NewMessage,
    ) -> Result<Message> {
        if !MESSAGE_SENDERS.contains(&new.sender.as_str()) {
            return Err(StorageError::Invalid("sender"));
        }
        let visitor_id = required(&new.visitor_id, 128, "visitorId")?;
        let conversation_id = match new.conversation_id.trim() {
            "" => visitor_id.clone(),
            c => bounded(c, 128, "conversationId")?,
        };
        let m = Message {
            id: new_id(),
            tenant_id: tenant_id.to_owned(),
            widget_id: widget_id.to_owned(),
            visitor_id,
            conversation_id,
            sender: new.sender,
            author_user_id: new.author_user_id,
            body: multiline(&new.body, MAX_MESSAGE_CHARS, "body")?,
            created_at: now_ms(),
        };
        let sql = format!(
            "INSERT INTO messages ({MESSAGE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        let mut tx = self.pool.begin().await?;
        sqlx::query(&sql)
            .bind(&m.id)
            .bind(&m.tenant_id)
            .bind(&m.widget_id)
            .bind(&m.visitor_id)
            .bind(&m.conversation_id)
            .bind(&m.sender)
            .bind(&m.author_user_id)
            .bind(&m.body)
            .bind(m.created_at)
            .execute(&mut *tx)
            .await?;
        Store::conversation_saw_message(&mut tx, &m).await?;
        tx.commit().await?;
        Ok(m)
    }

    /// Whether the visitor's conversation already has a message.
    pub async fn conversation_exists(
        &self,
        tenant_id: &str,
        widget_id: &str,
        visitor_id: &str,
        conversation_id: &str,
    ) -> Result<bool> {
        let row = sqlx::query(
            "SELECT id FROM messages WHERE tenant_id = $1 AND widget_id = $2 \
             AND visitor_id = $3 AND conversation_id = $4 LIMIT 1",
        )
        .bind(tenant_id)
        .bind(widget_id)
        .bind(visitor_id)
        .bind(conversation_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Messages of a widget, oldest first, optionally of one visitor; at most `max`
    /// (clamped to 1..=[`MAX_LIST_MESSAGES`]), the newest ones when there are more.
    pub async fn list_messages(
        &self,
        tenant_id: &str,
        widget_id: &str,
        visitor_id: Option<&str>,
        max: i64,
    ) -> Result<Vec<Message>> {
        // One visitor's: through the (widget, visitor, time) index (an `OR` on the parameter
        // would make SQLite walk the whole widget's messages).
        let rows = match visitor_id {
            Some(v) => {
                let sql = format!(
                    "SELECT {MESSAGE_COLS} FROM messages WHERE widget_id = $1 AND visitor_id = $2 \
                     AND tenant_id = $3 ORDER BY created_at DESC, id DESC LIMIT $4"
                );
                sqlx::query(&sql)
                    .bind(widget_id)
                    .bind(v)
                    .bind(tenant_id)
                    .bind(limit(max))
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                let sql = format!(
                    "SELECT {MESSAGE_COLS} FROM messages WHERE tenant_id = $1 AND widget_id = $2 \
                     ORDER BY created_at DESC, id DESC LIMIT $3"
                );
                sqlx::query(&sql)
                    .bind(tenant_id)
                    .bind(widget_id)
                    .bind(limit(max))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        let mut out = rows
            .iter()
            .map(message_from_row)
            .collect::<Result<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }

    /// Stores a callback or lead of widget `widget_id`.
    pub async fn add_callback(
        &self,
        tenant_id: &str,
        widget_id: &str,
        new: NewCallback,
    ) -> Result<Callback> {
        if new.kind != "callback" && new.kind != "lead" {
            return Err(StorageError::Invalid("kind"));
        }
        let fields_json = serde_json::Value::Object(new.fields.clone()).to_string();
        if fields_json.len() > 16 * 1024 {
            return Err(StorageError::Invalid("fields"));
        }
        let c = Callback {
            id: new_id(),
            tenant_id: tenant_id.to_owned(),
            widget_id: widget_id.to_owned(),
            visitor_id: optional(new.visitor_id, 128, "visitorId")?,
            kind: new.kind,
            name: optional(new.name, 200, "name")?,
            email: optional(new.email, 320, "email")?,
            phone: optional(new.phone, 64, "phone")?,
            message: opt_multiline(new.message, MAX_MESSAGE_CHARS, "message")?,
            fields: new.fields,
            voice_note: new.voice_note,
            created_at: now_ms(),
        };
        let sql = format!(
            "INSERT INTO callbacks ({CALLBACK_COLS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        );
        let vn = c.voice_note.as_ref();
        sqlx::query(&sql)
            .bind(&c.id)
            .bind(&c.tenant_id)
            .bind(&c.widget_id)
            .bind(&c.visitor_id)
            .bind(&c.kind)
            .bind(&c.name)
            .bind(&c.email)
            .bind(&c.phone)
            .bind(&c.message)
            .bind(&fields_json)
            .bind(vn.map(|v| v.path.clone()))
            .bind(vn.map(|v| v.content_type.clone()))
            .bind(vn.map(|v| v.bytes))
            .bind(c.created_at)
            .execute(&self.pool)
            .await?;
        Ok(c)
    }

    /// Callbacks and leads of a widget, newest first, optionally of one visitor.
    pub async fn list_callbacks(
        &self,
        tenant_id: &str,
        widget_id: &str,
        visitor_id: Option<&str>,
        max: i64,
    ) -> Result<Vec<Callback>> {
        // One visitor's through the (widget, visitor, time) index, as for messages.
        let by_visitor = if visitor_id.is_some() {
            "widget_id = $2 AND visitor_id = $3 AND tenant_id = $1"
        } else {
            "tenant_id = $1 AND widget_id = $2 AND $3 = ''"
        };
        let sql = format!(
            "SELECT {CALLBACK_COLS} FROM callbacks WHERE {by_visitor} \
             ORDER BY created_at DESC, id DESC LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant_id)
            .bind(widget_id)
            .bind(visitor_id.unwrap_or(""))
            .bind(limit(max))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(callback_from_row).collect()
    }

    /// One callback of the tenant's widget; NotFound otherwise.
    pub async fn get_callback(
        &self,
        tenant_id: &str,
        widget_id: &str,
        id: &str,
    ) -> Result<Callback> {
        let sql = format!(
            "SELECT {CALLBACK_COLS} FROM callbacks WHERE id = $1 AND tenant_id = $2 AND widget_id = $3"
        );
        let row = sqlx::query(&sql)
            .bind(id)
            .bind(tenant_id)
            .bind(widget_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StorageError::NotFound)?;
        callback_from_row(&row)
    }

    /// Stores a note by `author_user_id` about a visitor of widget `widget_id`.
    pub async fn add_note(
        &self,
        tenant_id: &str,
        widget_id: &str,
        visitor_id: &str,
        author_user_id: &str,
        body: &str,
        visibility: &str,
    ) -> Result<Note> {
        if !NOTE_VISIBILITIES.contains(&visibility) {
            return Err(StorageError::Invalid("visibility"));
        }
        let n = Note {
            id: new_id(),
            tenant_id: tenant_id.to_owned(),
            widget_id: widget_id.to_owned(),
            visitor_id: required(visitor_id, 128, "visitorId")?,
            author_user_id: author_user_id.to_owned(),
            body: multiline(body, MAX_NOTE_CHARS, "body")?,
            visibility: visibility.to_owned(),
            created_at: now_ms(),
            author_email: self.get_user(author_user_id).await.ok().map(|u| u.email),
        };
        let sql =
            format!("INSERT INTO notes ({NOTE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
        sqlx::query(&sql)
            .bind(&n.id)
            .bind(&n.tenant_id)
            .bind(&n.widget_id)
            .bind(&n.visitor_id)
            .bind(&n.author_user_id)
            .bind(&n.body)
            .bind(&n.visibility)
            .bind(n.created_at)
            .execute(&self.pool)
            .await?;
        Ok(n)
    }

    /// Notes about a visitor as `viewer_user_id` sees them: every team note plus the
    /// viewer's own private ones; oldest first.
    pub async fn list_notes(
        &self,
        tenant_id: &str,
        widget_id: &str,
        visitor_id: &str,
        viewer_user_id: &str,
    ) -> Result<Vec<Note>> {
        let sql = format!(
            "SELECT {NOTE_READ_COLS} FROM notes WHERE tenant_id = $1 AND widget_id = $2 \
             AND visitor_id = $3 AND (visibility = 'team' OR author_user_id = $4) \
             ORDER BY created_at, id LIMIT {MAX_LIST_MESSAGES}"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant_id)
            .bind(widget_id)
            .bind(visitor_id)
            .bind(viewer_user_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(note_from_row).collect()
    }
}
