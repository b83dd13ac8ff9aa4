//! Contacts (leads): the people behind visitor sessions.
//!
//! A [`Contact`] holds identity fields (name, email, phone, company, status)
//! and owns visitor sessions ([`ContactSession`], one per widget and visitor
//! id; a session belongs to at most one contact). Everything else about a
//! contact (messages, notes, callbacks, page activity) is found through its
//! sessions, so [`Store::merge_contacts`] only has to move the sessions: the
//! source contact keeps its row, marked `merged_into` the target, its
//! identity is kept in the merge record ([`ContactMerge`]) and its differing
//! email and phone go to the target's `other_emails` / `other_phones`.
//! Nothing of either contact is deleted.
//!
//! Callback and lead submissions create or find a contact by email or phone
//! ([`Store::contact_for_lead`]) and attach the visitor's session to it.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{Result, StorageError};
use crate::messages::{
    callback_from_row, message_from_row, note_from_row, CALLBACK_COLS, MESSAGE_COLS, NOTE_READ_COLS,
};
use crate::util::{bind_all, bounded, json_list, optional, to_json, Param, SetList};
use crate::{new_id, now_ms, Callback, Message, Note, Store};

/// Contact statuses.
pub const CONTACT_STATUSES: &[&str] =
    &["lead", "qualified", "customer", "disqualified", "archived"];
/// Most contacts one list call returns.
pub const MAX_LIST_CONTACTS: i64 = 500;
/// Most rows of each kind a contact's activity holds.
pub const MAX_CONTACT_ACTIVITY: i64 = 500;
/// Most further emails (or phones) a contact keeps.
pub const MAX_OTHER_ADDRESSES: usize = 50;
/// Longest merge reason, in characters.
pub const MAX_MERGE_REASON_CHARS: usize = 500;

/// A contact (lead).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    /// Contact id (uuid).
    pub id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Main email (stored lowercased).
    pub email: Option<String>,
    /// Main phone.
    pub phone: Option<String>,
    /// Company.
    pub company_name: Option<String>,
    /// One of [`CONTACT_STATUSES`].
    pub status: String,
    /// Further emails (from merges or edits).
    pub other_emails: Vec<String>,
    /// Further phones.
    pub other_phones: Vec<String>,
    /// The contact this one was merged into, if it was.
    pub merged_into: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

/// Identity fields of a contact to create, or to change (`None` leaves a field
/// as it is; `Some(None)` clears it).
#[derive(Debug, Clone, Default)]
pub struct ContactPatch {
    /// Given name (at most 100 chars).
    pub first_name: Option<Option<String>>,
    /// Family name (at most 100 chars).
    pub last_name: Option<Option<String>>,
    /// Email (at most 320 chars, must contain `@`).
    pub email: Option<Option<String>>,
    /// Phone (at most 64 chars of digits, spaces and `+-().`).
    pub phone: Option<Option<String>>,
    /// Company (at most 200 chars).
    pub company_name: Option<Option<String>>,
    /// One of [`CONTACT_STATUSES`].
    pub status: Option<String>,
    /// Replaces the further emails.
    pub other_emails: Option<Vec<String>>,
    /// Replaces the further phones.
    pub other_phones: Option<Vec<String>>,
}

/// A visitor session attached to a contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactSession {
    /// The widget.
    pub widget_id: String,
    /// The visitor id on that widget.
    pub visitor_id: String,
    /// The contact.
    pub contact_id: String,
    /// Unix ms.
    pub attached_at: i64,
    /// How it was attached: `api`, `lead`, `callback` or `merge`.
    pub source: String,
}

/// One merge of a source contact into a target.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactMerge {
    /// Merge id (uuid).
    pub id: String,
    /// The contact that remains.
    pub target_contact_id: String,
    /// The contact merged into it.
    pub source_contact_id: String,
    /// Why (given by the caller).
    pub reason: String,
    /// The source contact as it was before the merge.
    pub source_snapshot: serde_json::Value,
    /// Sessions moved from the source to the target.
    pub sessions_moved: i64,
    /// The user who merged.
    pub merged_by_user_id: Option<String>,
    /// Unix ms.
    pub created_at: i64,
}

/// Everything stored about a contact's sessions, for its timeline.
#[derive(Debug, Clone, Default)]
pub struct ContactActivity {
    /// The sessions, oldest attachment first (their visitor records and page activity come
    /// from the presence, which is fresher than storage).
    pub sessions: Vec<ContactSession>,
    /// Chat messages of the sessions, newest first.
    pub messages: Vec<Message>,
    /// Notes the viewer may see (team notes and their own private ones), newest first.
    pub notes: Vec<Note>,
    /// Callbacks and leads of the sessions, newest first.
    pub callbacks: Vec<Callback>,
    /// Merges into this contact, newest first.
    pub merges: Vec<ContactMerge>,
}

const CONTACT_COLS: &str = "id, tenant_id, first_name, last_name, email, phone, company_name, \
    status, other_emails, other_phones, merged_into, created_at, updated_at";
const SESSION_COLS: &str = "widget_id, visitor_id, contact_id, attached_at, source";
const MERGE_COLS: &str = "id, target_contact_id, source_contact_id, reason, source_snapshot, \
    sessions_moved, merged_by_user_id, created_at";

fn contact_from_row(row: &AnyRow) -> Result<Contact> {
    Ok(Contact {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        first_name: row.try_get("first_name")?,
        last_name: row.try_get("last_name")?,
        email: row.try_get("email")?,
        phone: row.try_get("phone")?,
        company_name: row.try_get("company_name")?,
        status: row.try_get("status")?,
        other_emails: json_list(row, "other_emails")?,
        other_phones: json_list(row, "other_phones")?,
        merged_into: row.try_get("merged_into")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn session_from_row(row: &AnyRow) -> Result<ContactSession> {
    Ok(ContactSession {
        widget_id: row.try_get("widget_id")?,
        visitor_id: row.try_get("visitor_id")?,
        contact_id: row.try_get("contact_id")?,
        attached_at: row.try_get("attached_at")?,
        source: row.try_get("source")?,
    })
}

fn merge_from_row(row: &AnyRow) -> Result<ContactMerge> {
    let snap: String = row.try_get("source_snapshot")?;
    Ok(ContactMerge {
        id: row.try_get("id")?,
        target_contact_id: row.try_get("target_contact_id")?,
        source_contact_id: row.try_get("source_contact_id")?,
        reason: row.try_get("reason")?,
        source_snapshot: serde_json::from_str(&snap)
            .map_err(|_| StorageError::Corrupt("source_snapshot"))?,
        sessions_moved: row.try_get("sessions_moved")?,
        merged_by_user_id: row.try_get("merged_by_user_id")?,
        created_at: row.try_get("created_at")?,
    })
}

/// A normalised email (trimmed, lowercased); must look like `local@domain`.
pub(crate) fn email(v: &str) -> Result<String> {
    let e = bounded(v.trim(), 320, "email")?.to_lowercase();
    match e.split_once('@') {
        Some((l, d)) if !l.is_empty() && !d.is_empty() && !e.contains(char::is_whitespace) => Ok(e),
        _ => Err(StorageError::Invalid("email")),
    }
}

/// A phone number: digits with optional `+`, spaces and `-().`, at least 3 digits.
pub(crate) fn phone(v: &str) -> Result<String> {
    let p = bounded(v.trim(), 64, "phone")?;
    let digits = p.chars().filter(char::is_ascii_digit).count();
    if digits < 3
        || !p
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c))
    {
        return Err(StorageError::Invalid("phone"));
    }
    Ok(p)
}

/// Digits of a phone number, for matching and search.
fn phone_digits(p: &str) -> String {
    p.chars().filter(char::is_ascii_digit).collect()
}

fn opt_email(v: Option<String>) -> Result<Option<String>> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => email(s).map(Some),
    }
}

fn opt_phone(v: Option<String>) -> Result<Option<String>> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => phone(s).map(Some),
    }
}

fn address_list(
    list: Vec<String>,
    check: fn(&str) -> Result<String>,
    what: &'static str,
) -> Result<Vec<String>> {
    if list.len() > MAX_OTHER_ADDRESSES {
        return Err(StorageError::Invalid(what));
    }
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for v in list {
        let v = check(&v).map_err(|_| StorageError::Invalid(what))?;
        if !out.contains(&v) {
            out.push(v);
        }
    }
    Ok(out)
}

/// The lowercased text `?q=` searches: names, company, emails, phones (as typed and as
/// digits).
fn search_text(c: &Contact) -> String {
    let mut parts: Vec<String> = Vec::new();
    for v in [
        &c.first_name,
        &c.last_name,
        &c.company_name,
        &c.email,
        &c.phone,
    ]
    .into_iter()
    .flatten()
    {
        parts.push(v.to_lowercase());
    }
    if let (Some(f), Some(l)) = (&c.first_name, &c.last_name) {
        parts.push(format!("{f} {l}").to_lowercase());
    }
    parts.extend(c.other_emails.iter().cloned());
    for p in c.phone.iter().chain(&c.other_phones) {
        parts.push(p.to_lowercase());
        parts.push(phone_digits(p));
    }
    parts.join("\n")
}

/// `%q%` for LIKE with `\` escaping `%`, `_` and `\`.
fn like_pattern(q: &str) -> String {
    let mut s = String::with_capacity(q.len() + 2);
    s.push('%');
    for c in q.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('%');
    s
}

fn apply(c: &mut Contact, p: ContactPatch) -> Result<()> {
    if let Some(v) = p.first_name {
        c.first_name = optional(v, 100, "firstName")?;
    }
    if let Some(v) = p.last_name {
        c.last_name = optional(v, 100, "lastName")?;
    }
    if let Some(v) = p.email {
        c.email = opt_email(v)?;
    }
    if let Some(v) = p.phone {
        c.phone = opt_phone(v)?;
    }
    if let Some(v) = p.company_name {
        c.company_name = optional(v, 200, "companyName")?;
    }
    if let Some(s) = p.status {
        let s = s.trim().to_ascii_lowercase();
        if !CONTACT_STATUSES.contains(&s.as_str()) {
            return Err(StorageError::Invalid("status"));
        }
        c.status = s;
    }
    if let Some(l) = p.other_emails {
        c.other_emails = address_list(l, email, "otherEmails")?;
    }
    if let Some(l) = p.other_phones {
        c.other_phones = address_list(l, phone, "otherPhones")?;
    }
    Ok(())
}

/// `cols` (a comma-separated column list) with each plain column name qualified by `alias`;
/// expressions (a subquery) are kept as they are.
fn prefixed(cols: &str, alias: &str) -> String {
    cols.split(", ")
        .map(|c| {
            let c = c.trim();
            if c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                format!("{alias}.{c}")
            } else {
                c.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Creates a contact (status `lead` unless given).
    pub async fn create_contact(&self, tenant_id: &str, new: ContactPatch) -> Result<Contact> {
        let now = now_ms();
        let mut c = Contact {
            id: new_id(),
            tenant_id: tenant_id.to_owned(),
            first_name: None,
            last_name: None,
            email: None,
            phone: None,
            company_name: None,
            status: "lead".to_owned(),
            other_emails: Vec::new(),
            other_phones: Vec::new(),
            merged_into: None,
            created_at: now,
            updated_at: now,
        };
        apply(&mut c, new)?;
        self.insert_contact(&c).await?;
        Ok(c)
    }

    async fn insert_contact(&self, c: &Contact) -> Result<()> {
        let sql = format!(
            "INSERT INTO contacts ({CONTACT_COLS}, search_text) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        );
        sqlx::query(&sql)
            .bind(&c.id)
            .bind(&c.tenant_id)
            .bind(&c.first_name)
            .bind(&c.last_name)
            .bind(&c.email)
            .bind(&c.phone)
            .bind(&c.company_name)
            .bind(&c.status)
            .bind(to_json(&c.other_emails))
            .bind(to_json(&c.other_phones))
            .bind(&c.merged_into)
            .bind(c.created_at)
            .bind(c.updated_at)
            .bind(search_text(c))
            .execute(&self.pool)
            .await
            .map_err(|e| StorageError::from_write(e, "contact"))?;
        Ok(())
    }

    /// One contact of the tenant (merged ones too); NotFound otherwise.
    pub async fn get_contact(&self, tenant_id: &str, id: &str) -> Result<Contact> {
        let sql = format!("SELECT {CONTACT_COLS} FROM contacts WHERE id = $1 AND tenant_id = $2");
        let row = sqlx::query(&sql)
            .bind(id)
            .bind(tenant_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StorageError::NotFound)?;
        contact_from_row(&row)
    }

    /// The tenant's contacts that were not merged away, most recently updated first; with
    /// `q`, those whose name, company, email or phone contains it (case-insensitive; phone
    /// digits match too). At most `max` (clamped to 1..=[`MAX_LIST_CONTACTS`]).
    pub async fn list_contacts(
        &self,
        tenant_id: &str,
        q: Option<&str>,
        max: i64,
    ) -> Result<Vec<Contact>> {
        let q = q.map(str::trim).filter(|q| !q.is_empty());
        let sql = format!(
            "SELECT {CONTACT_COLS} FROM contacts WHERE tenant_id = $1 AND merged_into IS NULL \
             AND ($2 = '' OR search_text LIKE $3 ESCAPE '\\') \
             ORDER BY updated_at DESC, id DESC LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant_id)
            .bind(q.unwrap_or(""))
            .bind(like_pattern(q.unwrap_or("")))
            .bind(max.clamp(1, MAX_LIST_CONTACTS))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(contact_from_row).collect()
    }

    /// Changes identity fields. A merged contact cannot be edited (Conflict).
    pub async fn update_contact(
        &self,
        tenant_id: &str,
        id: &str,
        patch: ContactPatch,
    ) -> Result<Contact> {
        let mut c = self.get_contact(tenant_id, id).await?;
        if c.merged_into.is_some() {
            return Err(StorageError::Conflict("merged contact"));
        }
        apply(&mut c, patch)?;
        c.updated_at = now_ms();
        let mut set = SetList::default();
        set.set("first_name", Param::OptText(c.first_name.clone()));
        set.set("last_name", Param::OptText(c.last_name.clone()));
        set.set("email", Param::OptText(c.email.clone()));
        set.set("phone", Param::OptText(c.phone.clone()));
        set.set("company_name", Param::OptText(c.company_name.clone()));
        set.set("status", Param::Text(c.status.clone()));
        set.set("other_emails", Param::Text(to_json(&c.other_emails)));
        set.set("other_phones", Param::Text(to_json(&c.other_phones)));
        set.set("search_text", Param::Text(search_text(&c)));
        set.set("updated_at", Param::Int(c.updated_at));
        let (sql, params) = set.finish_scoped("contacts", id, tenant_id, CONTACT_COLS);
        let row = bind_all(sqlx::query(&sql), params)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StorageError::NotFound)?;
        contact_from_row(&row)
    }

    /// Attaches the visitor session (`widget_id`, `visitor_id`; the caller checked the widget
    /// is the tenant's) to a contact. Attaching it again to the same contact changes nothing;
    /// a session of another contact is a Conflict (merge the contacts instead). A merged
    /// contact takes no sessions (Conflict).
    pub async fn attach_contact_session(
        &self,
        tenant_id: &str,
        contact_id: &str,
        widget_id: &str,
        visitor_id: &str,
        source: &str,
    ) -> Result<ContactSession> {
        let c = self.get_contact(tenant_id, contact_id).await?;
        if c.merged_into.is_some() {
            return Err(StorageError::Conflict("merged contact"));
        }
        if let Some(s) = self
            .contact_session(tenant_id, widget_id, visitor_id)
            .await?
        {
            return if s.contact_id == contact_id {
                Ok(s)
            } else {
                Err(StorageError::Conflict(
                    "session attached to another contact",
                ))
            };
        }
        let s = ContactSession {
            widget_id: widget_id.to_owned(),
            visitor_id: visitor_id.to_owned(),
            contact_id: contact_id.to_owned(),
            attached_at: now_ms(),
            source: source.to_owned(),
        };
        let sql = format!(
            "INSERT INTO contact_sessions ({SESSION_COLS}, tenant_id) VALUES ($1, $2, $3, $4, $5, $6)"
        );
        sqlx::query(&sql)
            .bind(&s.widget_id)
            .bind(&s.visitor_id)
            .bind(&s.contact_id)
            .bind(s.attached_at)
            .bind(&s.source)
            .bind(tenant_id)
            .execute(&self.pool)
            .await
            .map_err(|e| StorageError::from_write(e, "session attached to another contact"))?;
        self.touch_contact(contact_id).await?;
        Ok(s)
    }

    async fn touch_contact(&self, id: &str) -> Result<()> {
        sqlx::query("UPDATE contacts SET updated_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The contact session of a visitor, if it is attached.
    pub async fn contact_session(
        &self,
        tenant_id: &str,
        widget_id: &str,
        visitor_id: &str,
    ) -> Result<Option<ContactSession>> {
        let sql = format!(
            "SELECT {SESSION_COLS} FROM contact_sessions WHERE widget_id = $1 AND visitor_id = $2 \
             AND tenant_id = $3"
        );
        let row = sqlx::query(&sql)
            .bind(widget_id)
            .bind(visitor_id)
            .bind(tenant_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    /// The sessions of a contact, oldest attachment first.
    pub async fn list_contact_sessions(
        &self,
        tenant_id: &str,
        contact_id: &str,
    ) -> Result<Vec<ContactSession>> {
        let sql = format!(
            "SELECT {SESSION_COLS} FROM contact_sessions WHERE contact_id = $1 AND tenant_id = $2 \
             ORDER BY attached_at, widget_id, visitor_id"
        );
        let rows = sqlx::query(&sql)
            .bind(contact_id)
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(session_from_row).collect()
    }

    /// The contact of a lead or callback: the visitor's contact if the session is attached,
    /// else the tenant's (unmerged) contact with that email or phone, else a new one (only
    /// with `may_create`; `Ok(None)` otherwise). The
    /// session is attached when it is not yet; empty identity fields of a found contact are
    /// filled in from the submission (nothing set is overwritten).
    pub async fn contact_for_lead(
        &self,
        tenant_id: &str,
        widget_id: &str,
        visitor_id: Option<&str>,
        name: Option<&str>,
        email_addr: Option<&str>,
        phone_no: Option<&str>,
        source: &str,
        may_create: bool,
    ) -> Result<Option<Contact>> {
        let email_addr = email_addr.and_then(|e| email(e).ok());
        let phone_no = phone_no.and_then(|p| phone(p).ok());
        let visitor_id = visitor_id.map(str::trim).filter(|v| !v.is_empty());
        let mut found = None;
        if let Some(v) = visitor_id {
            if let Some(s) = self.contact_session(tenant_id, widget_id, v).await? {
                found = Some(self.get_contact(tenant_id, &s.contact_id).await?);
            }
        }
        if found.is_none() {
            found = self
                .find_contact_by_address(tenant_id, email_addr.as_deref(), phone_no.as_deref())
                .await?;
        }
        if found.is_none() && (!may_create || (email_addr.is_none() && phone_no.is_none())) {
            return Ok(None);
        }
        let (first, last) = match name.map(str::trim).filter(|n| !n.is_empty()) {
            Some(n) => match n.split_once(' ') {
                Some((f, l)) => (Some(f.trim().to_owned()), Some(l.trim().to_owned())),
                None => (Some(n.to_owned()), None),
            },
            None => (None, None),
        };
        let contact = match found {
            Some(c) => {
                // Fill what is empty; keep a new address as a further one.
                let mut patch = ContactPatch::default();
                if c.first_name.is_none() && c.last_name.is_none() && first.is_some() {
                    patch.first_name = Some(first);
                    patch.last_name = Some(last);
                }
                match (&c.email, &email_addr) {
                    (None, Some(e)) => patch.email = Some(Some(e.clone())),
                    (Some(cur), Some(e)) if cur != e && !c.other_emails.contains(e) => {
                        let mut l = c.other_emails.clone();
                        l.push(e.clone());
                        patch.other_emails = Some(l);
                    }
                    _ => {}
                }
                match (&c.phone, &phone_no) {
                    (None, Some(p)) => patch.phone = Some(Some(p.clone())),
                    (Some(cur), Some(p))
                        if phone_digits(cur) != phone_digits(p)
                            && !c
                                .other_phones
                                .iter()
                                .any(|o| phone_digits(o) == phone_digits(p)) =>
                    {
                        let mut l = c.other_phones.clone();
                        l.push(p.clone());
                        patch.other_phones = Some(l);
                    }
                    _ => {}
                }
                if c.other_emails.len() >= MAX_OTHER_ADDRESSES {
                    patch.other_emails = None;
                }
                if c.other_phones.len() >= MAX_OTHER_ADDRESSES {
                    patch.other_phones = None;
                }
                if c.merged_into.is_some() {
                    c
                } else {
                    self.update_contact(tenant_id, &c.id, patch).await?
                }
            }
            None => {
                self.create_contact(
                    tenant_id,
                    ContactPatch {
                        first_name: Some(first),
                        last_name: Some(last),
                        email: Some(email_addr),
                        phone: Some(phone_no),
                        ..ContactPatch::default()
                    },
                )
                .await?
            }
        };
        if let Some(v) = visitor_id {
            match self
                .attach_contact_session(tenant_id, &contact.id, widget_id, v, source)
                .await
            {
                Ok(_) | Err(StorageError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Some(contact))
    }

    async fn find_contact_by_address(
        &self,
        tenant_id: &str,
        email_addr: Option<&str>,
        phone_no: Option<&str>,
    ) -> Result<Option<Contact>> {
        if let Some(e) = email_addr {
            let sql = format!(
                "SELECT {CONTACT_COLS} FROM contacts WHERE tenant_id = $1 AND email = $2 \
                 AND merged_into IS NULL ORDER BY created_at, id LIMIT 1"
            );
            let row = sqlx::query(&sql)
                .bind(tenant_id)
                .bind(e)
                .fetch_optional(&self.pool)
                .await?;
            if let Some(r) = row {
                return contact_from_row(&r).map(Some);
            }
        }
        if let Some(p) = phone_no {
            let digits = phone_digits(p);
            // Candidates whose search text holds the digits, then an exact digits match.
            let sql = format!(
                "SELECT {CONTACT_COLS} FROM contacts WHERE tenant_id = $1 \
                 AND merged_into IS NULL AND search_text LIKE $2 ESCAPE '\\' \
                 ORDER BY created_at, id LIMIT 50"
            );
            let rows = sqlx::query(&sql)
                .bind(tenant_id)
                .bind(like_pattern(&digits))
                .fetch_all(&self.pool)
                .await?;
            for r in &rows {
                let c = contact_from_row(r)?;
                if c.phone.iter().any(|x| phone_digits(x) == digits) {
                    return Ok(Some(c));
                }
            }
        }
        Ok(None)
    }

    /// Merges `source_id` into `target_id` (both the tenant's, distinct, neither merged
    /// already) in one transaction: the source's sessions move to the target (and with them
    /// their messages, notes, callbacks and activity), the target's empty identity fields are
    /// filled from the source, the source's differing email and phone become further ones of
    /// the target, contacts merged into the source earlier now point at the target, and the
    /// source is marked merged (its row stays). The merge is recorded with the source as it
    /// was. Invalid when merging a contact into itself; Conflict when either was merged.
    pub async fn merge_contacts(
        &self,
        tenant_id: &str,
        target_id: &str,
        source_id: &str,
        reason: &str,
        user_id: Option<&str>,
    ) -> Result<(Contact, ContactMerge)> {
        if target_id == source_id {
            return Err(StorageError::Invalid("sourceContactId"));
        }
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_MERGE_REASON_CHARS {
            return Err(StorageError::Invalid("reason"));
        }
        let reason = bounded(reason, MAX_MERGE_REASON_CHARS, "reason")?;
        let mut tx = self.pool.begin().await?;
        let sql = format!("SELECT {CONTACT_COLS} FROM contacts WHERE id = $1 AND tenant_id = $2");
        let target = sqlx::query(&sql)
            .bind(target_id)
            .bind(tenant_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StorageError::NotFound)?;
        let mut target = contact_from_row(&target)?;
        let source = sqlx::query(&sql)
            .bind(source_id)
            .bind(tenant_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StorageError::NotFound)?;
        let source = contact_from_row(&source)?;
        if target.merged_into.is_some() || source.merged_into.is_some() {
            return Err(StorageError::Conflict("merged contact"));
        }
        // Identity: fill the target's gaps, keep every address.
        if target.first_name.is_none() && target.last_name.is_none() {
            target.first_name = source.first_name.clone();
            target.last_name = source.last_name.clone();
        }
        if target.company_name.is_none() {
            target.company_name = source.company_name.clone();
        }
        let mut emails: Vec<String> = source.email.iter().cloned().collect();
        emails.extend(source.other_emails.iter().cloned());
        for e in emails {
            if target.email.is_none() {
                target.email = Some(e);
            } else if target.email.as_ref() != Some(&e) && !target.other_emails.contains(&e) {
                target.other_emails.push(e);
            }
        }
        let mut phones: Vec<String> = source.phone.iter().cloned().collect();
        phones.extend(source.other_phones.iter().cloned());
        for p in phones {
            let d = phone_digits(&p);
            let known = target.phone.iter().any(|x| phone_digits(x) == d)
                || target.other_phones.iter().any(|x| phone_digits(x) == d);
            if target.phone.is_none() {
                target.phone = Some(p);
            } else if !known {
                target.other_phones.push(p);
            }
        }
        let now = now_ms();
        target.updated_at = now;
        let moved = sqlx::query(
            "UPDATE contact_sessions SET contact_id = $1 WHERE contact_id = $2 AND tenant_id = $3",
        )
        .bind(target_id)
        .bind(source_id)
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "UPDATE contacts SET first_name = $1, last_name = $2, email = $3, phone = $4, \
             company_name = $5, other_emails = $6, other_phones = $7, search_text = $8, \
             updated_at = $9 WHERE id = $10 AND tenant_id = $11",
        )
        .bind(&target.first_name)
        .bind(&target.last_name)
        .bind(&target.email)
        .bind(&target.phone)
        .bind(&target.company_name)
        .bind(to_json(&target.other_emails))
        .bind(to_json(&target.other_phones))
        .bind(search_text(&target))
        .bind(now)
        .bind(target_id)
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE contacts SET merged_into = $1, updated_at = $2 \
             WHERE tenant_id = $3 AND (id = $4 OR merged_into = $4)",
        )
        .bind(target_id)
        .bind(now)
        .bind(tenant_id)
        .bind(source_id)
        .execute(&mut *tx)
        .await?;
        let m = ContactMerge {
            id: new_id(),
            target_contact_id: target_id.to_owned(),
            source_contact_id: source_id.to_owned(),
            reason,
            source_snapshot: serde_json::to_value(&source).unwrap_or(serde_json::Value::Null),
            sessions_moved: i64::try_from(moved).unwrap_or(i64::MAX),
            merged_by_user_id: user_id.map(str::to_owned),
            created_at: now,
        };
        let sql = format!(
            "INSERT INTO contact_merges ({MERGE_COLS}, tenant_id) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        sqlx::query(&sql)
            .bind(&m.id)
            .bind(&m.target_contact_id)
            .bind(&m.source_contact_id)
            .bind(&m.reason)
            .bind(m.source_snapshot.to_string())
            .bind(m.sessions_moved)
            .bind(&m.merged_by_user_id)
            .bind(m.created_at)
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok((target, m))
    }

    /// Everything stored about the sessions of a contact, as `viewer_user_id` may see it
    /// (private notes of others are left out). Each kind at most
    /// [`MAX_CONTACT_ACTIVITY`] rows, the newest.
    pub async fn contact_activity(
        &self,
        tenant_id: &str,
        contact_id: &str,
        viewer_user_id: &str,
    ) -> Result<ContactActivity> {
        let sessions = self.list_contact_sessions(tenant_id, contact_id).await?;
        let lim = MAX_CONTACT_ACTIVITY;
        // From the contact's sessions to each table through its (widget, visitor) index: a
        // contact's few sessions drive the lookups, never a scan of the tenant's rows (CROSS
        // JOIN keeps SQLite from starting at the tenant's newest rows instead).
        let q = |cols: &str, table: &str, extra: &str, order: &str| {
            format!(
                "SELECT {} FROM contact_sessions s CROSS JOIN {table} t \
                 WHERE t.widget_id = s.widget_id AND t.visitor_id = s.visitor_id \
                 AND s.contact_id = $1 AND t.tenant_id = $2{extra} ORDER BY {order} LIMIT {lim}",
                prefixed(cols, "t")
            )
        };
        let rows = sqlx::query(&q(
            MESSAGE_COLS,
            "messages",
            "",
            "t.created_at DESC, t.id DESC",
        ))
        .bind(contact_id)
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await?;
        let messages = rows.iter().map(message_from_row).collect::<Result<_>>()?;
        let rows = sqlx::query(&q(
            NOTE_READ_COLS,
            "notes",
            " AND (t.visibility = 'team' OR t.author_user_id = $3)",
            "t.created_at DESC, t.id DESC",
        ))
        .bind(contact_id)
        .bind(tenant_id)
        .bind(viewer_user_id)
        .fetch_all(&self.pool)
        .await?;
        let notes = rows.iter().map(note_from_row).collect::<Result<_>>()?;
        let rows = sqlx::query(&q(
            CALLBACK_COLS,
            "callbacks",
            "",
            "t.created_at DESC, t.id DESC",
        ))
        .bind(contact_id)
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await?;
        let callbacks = rows.iter().map(callback_from_row).collect::<Result<_>>()?;
        let sql = format!(
            "SELECT {MERGE_COLS} FROM contact_merges WHERE target_contact_id = $1 \
             AND tenant_id = $2 ORDER BY created_at DESC, id DESC LIMIT {lim}"
        );
        let rows = sqlx::query(&sql)
            .bind(contact_id)
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await?;
        let merges = rows.iter().map(merge_from_row).collect::<Result<_>>()?;
        Ok(ContactActivity {
            sessions,
            messages,
            notes,
            callbacks,
            merges,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_normalised_and_checked() {
        assert_eq!(email(" Scott@Example.COM ").unwrap(), "scott@example.com");
        assert!(email("no-at-sign").is_err());
        assert!(email("a b@c").is_err());
        assert!(email("@c").is_err());
        assert_eq!(phone("+1 (555) 010-2030").unwrap(), "+1 (555) 010-2030");
        assert!(phone("12").is_err());
        assert!(phone("call me").is_err());
        assert_eq!(phone_digits("+1 (555) 010-2030"), "15550102030");
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("Sc%tt_\\"), "%sc\\%tt\\_\\\\%");
    }
}
