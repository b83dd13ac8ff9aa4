//! Website widgets: the chat/call bubble a site owner embeds with one script tag.
//!
//! A widget belongs to a tenant. The public runtime knows it by its id and its
//! public key ([`WIDGET_KEY_PREFIX`] + 32 random characters), never by a
//! personal access token; [`Store::get_public_widget`] resolves that pair.
//! Allowed domains, the offline form and the lead form are stored as JSON text.

use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{Result, StorageError};
use crate::util::{bind_all, bounded, required, to_json, Param, SetList};
use crate::{new_id, now_ms, Store};

/// Prefix of every widget public key.
pub const WIDGET_KEY_PREFIX: &str = "wk_";
/// Number of random characters after [`WIDGET_KEY_PREFIX`].
const WIDGET_KEY_RANDOM_LEN: usize = 32;
/// Most allowed-domain entries per widget.
pub const MAX_ALLOWED_DOMAINS: usize = 100;
/// Most fields in one form.
pub const MAX_FORM_FIELDS: usize = 20;
/// The positions a widget bubble can take.
pub const WIDGET_POSITIONS: &[&str] = &["bottom-right", "bottom-left"];

/// One input of a widget form (offline form or lead form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FormField {
    /// Machine name, sent back with submissions (1..=64 chars).
    pub name: String,
    /// Label shown to the visitor (at most 120 chars).
    #[serde(default)]
    pub label: String,
    /// Input type: `text`, `email`, `tel` or `textarea`.
    #[serde(rename = "type", default = "default_field_type")]
    #[schemars(extend("enum" = ["text", "email", "tel", "textarea"]))]
    pub kind: String,
    /// Whether the visitor must fill it in.
    #[serde(default)]
    pub required: bool,
}

fn default_field_type() -> String {
    "text".to_owned()
}

/// The input types a [`FormField`] may have.
pub const FORM_FIELD_TYPES: &[&str] = &["text", "email", "tel", "textarea"];

/// What the widget shows when nobody can answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OfflineForm {
    /// Whether the form is offered at all.
    #[serde(default)]
    pub enabled: bool,
    /// Its fields.
    #[serde(default)]
    pub fields: Vec<FormField>,
    /// Message shown above the form (at most 500 chars).
    #[serde(default)]
    pub message: String,
}

/// The lead form assigned to a widget (needed by `POST /widget/lead`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LeadForm {
    /// Its fields.
    #[serde(default)]
    pub fields: Vec<FormField>,
    /// Prompt shown to the visitor (at most 500 chars).
    #[serde(default)]
    pub prompt: String,
}

/// A stored widget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Widget {
    /// Widget id (UUID, see [`crate::new_id`]).
    pub id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Name shown to operators and as the widget title (1..=120 chars).
    pub name: String,
    /// Public key the runtime presents with the id (`wk_` + 32 characters).
    pub public_key: String,
    /// Host patterns pages may embed the widget from; empty allows nothing.
    pub allowed_domains: Vec<String>,
    /// First message shown to the visitor.
    pub greeting: String,
    /// Name of the answering agent.
    pub agent_name: String,
    /// Title of the answering agent (e.g. "Support").
    pub agent_title: String,
    /// Placeholder of the message input.
    pub input_placeholder: String,
    /// Primary colour, `#RRGGBB`.
    pub primary_color: String,
    /// `bottom-right` or `bottom-left`.
    pub position: String,
    /// Agent avatar image URL.
    pub avatar_url: Option<String>,
    /// Logo image URL.
    pub logo_url: Option<String>,
    /// Offline form settings.
    pub offline_form: OfflineForm,
    /// Assigned lead form, if any.
    pub lead_form: Option<LeadForm>,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// Last modification time, unix ms.
    pub updated_at: i64,
}

impl Widget {
    /// Whether `key` is this widget's public key (constant-time comparison).
    pub fn key_matches(&self, key: &str) -> bool {
        let (a, b) = (self.public_key.as_bytes(), key.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// Input of [`Store::create_widget`]. [`Default`] gives the standard look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWidget {
    /// Name (1..=120 chars).
    pub name: String,
    /// Allowed host patterns.
    pub allowed_domains: Vec<String>,
    /// Greeting.
    pub greeting: String,
    /// Agent name.
    pub agent_name: String,
    /// Agent title.
    pub agent_title: String,
    /// Input placeholder.
    pub input_placeholder: String,
    /// `#RRGGBB`.
    pub primary_color: String,
    /// `bottom-right` or `bottom-left`.
    pub position: String,
    /// Avatar URL.
    pub avatar_url: Option<String>,
    /// Logo URL.
    pub logo_url: Option<String>,
    /// Offline form.
    pub offline_form: OfflineForm,
    /// Lead form.
    pub lead_form: Option<LeadForm>,
}

impl Default for NewWidget {
    fn default() -> Self {
        NewWidget {
            name: String::new(),
            allowed_domains: Vec::new(),
            greeting: "Hi! How can we help you today?".to_owned(),
            agent_name: String::new(),
            agent_title: String::new(),
            input_placeholder: "Type your message...".to_owned(),
            primary_color: "#3B82F6".to_owned(),
            position: "bottom-right".to_owned(),
            avatar_url: None,
            logo_url: None,
            offline_form: OfflineForm::default(),
            lead_form: None,
        }
    }
}

/// Changes for [`Store::update_widget`]; `None` leaves a field unchanged,
/// `Some(None)` clears a nullable one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WidgetPatch {
    /// New name.
    pub name: Option<String>,
    /// New allowed domains (replaces the list).
    pub allowed_domains: Option<Vec<String>>,
    /// New greeting.
    pub greeting: Option<String>,
    /// New agent name.
    pub agent_name: Option<String>,
    /// New agent title.
    pub agent_title: Option<String>,
    /// New input placeholder.
    pub input_placeholder: Option<String>,
    /// New primary colour.
    pub primary_color: Option<String>,
    /// New position.
    pub position: Option<String>,
    /// New or cleared avatar URL.
    pub avatar_url: Option<Option<String>>,
    /// New or cleared logo URL.
    pub logo_url: Option<Option<String>>,
    /// New offline form.
    pub offline_form: Option<OfflineForm>,
    /// New or cleared lead form.
    pub lead_form: Option<Option<LeadForm>>,
}

const WIDGET_COLS: &str = "id, tenant_id, name, public_key, allowed_domains, greeting, \
     agent_name, agent_title, input_placeholder, primary_color, position, avatar_url, logo_url, \
     offline_form, lead_form, created_at, updated_at";

fn widget_from_row(row: &AnyRow) -> Result<Widget> {
    let domains: String = row.try_get("allowed_domains")?;
    let offline: String = row.try_get("offline_form")?;
    let lead: Option<String> = row.try_get("lead_form")?;
    Ok(Widget {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        name: row.try_get("name")?,
        public_key: row.try_get("public_key")?,
        allowed_domains: serde_json::from_str(&domains)
            .map_err(|_| StorageError::Corrupt("allowed_domains"))?,
        greeting: row.try_get("greeting")?,
        agent_name: row.try_get("agent_name")?,
        agent_title: row.try_get("agent_title")?,
        input_placeholder: row.try_get("input_placeholder")?,
        primary_color: row.try_get("primary_color")?,
        position: row.try_get("position")?,
        avatar_url: row.try_get("avatar_url")?,
        logo_url: row.try_get("logo_url")?,
        offline_form: serde_json::from_str(&offline)
            .map_err(|_| StorageError::Corrupt("offline_form"))?,
        lead_form: lead
            .map(|l| serde_json::from_str(&l))
            .transpose()
            .map_err(|_| StorageError::Corrupt("lead_form"))?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// A fresh public widget key.
fn new_widget_key() -> String {
    let random: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(WIDGET_KEY_RANDOM_LEN)
        .map(char::from)
        .collect();
    format!("{WIDGET_KEY_PREFIX}{random}")
}

fn color(value: &str, what: &'static str) -> Result<String> {
    let ok = value.len() == 7
        && value.starts_with('#')
        && value[1..].bytes().all(|b| b.is_ascii_hexdigit());
    if ok {
        Ok(value.to_owned())
    } else {
        Err(StorageError::Invalid(what))
    }
}

fn position(value: &str) -> Result<String> {
    if WIDGET_POSITIONS.contains(&value) {
        Ok(value.to_owned())
    } else {
        Err(StorageError::Invalid("position"))
    }
}

fn domains(list: &[String]) -> Result<String> {
    let ok = list.len() <= MAX_ALLOWED_DOMAINS
        && list.iter().all(|d| {
            !d.is_empty()
                && d.len() <= 260
                && !d.chars().any(|c| c.is_whitespace() || c.is_control())
        });
    if ok {
        Ok(to_json(list))
    } else {
        Err(StorageError::Invalid("allowed_domains"))
    }
}

fn url(value: &Option<String>, what: &'static str) -> Result<Option<String>> {
    match value {
        None => Ok(None),
        Some(u) if u.len() <= 2048 && (u.starts_with("https://") || u.starts_with("http://")) => {
            Ok(Some(bounded(u, 2048, what)?))
        }
        Some(_) => Err(StorageError::Invalid(what)),
    }
}

fn fields(list: &[FormField], what: &'static str) -> Result<()> {
    let ok = list.len() <= MAX_FORM_FIELDS
        && list.iter().all(|f| {
            !f.name.is_empty()
                && f.name.len() <= 64
                && f.label.chars().count() <= 120
                && !f.label.chars().any(char::is_control)
                && FORM_FIELD_TYPES.contains(&f.kind.as_str())
        });
    if ok {
        Ok(())
    } else {
        Err(StorageError::Invalid(what))
    }
}

fn offline_json(form: &OfflineForm) -> Result<String> {
    fields(&form.fields, "offline_form")?;
    bounded(&form.message, 500, "offline_form")?;
    serde_json::to_string(form).map_err(|_| StorageError::Invalid("offline_form"))
}

fn lead_json(form: &Option<LeadForm>) -> Result<Option<String>> {
    match form {
        None => Ok(None),
        Some(f) => {
            fields(&f.fields, "lead_form")?;
            bounded(&f.prompt, 500, "lead_form")?;
            serde_json::to_string(f)
                .map(Some)
                .map_err(|_| StorageError::Invalid("lead_form"))
        }
    }
}

impl Store {
    /// Creates a widget in `tenant_id` with a fresh id and public key.
    /// [`StorageError::Invalid`] names a bad field; NotFound for an unknown tenant.
    pub async fn create_widget(&self, tenant_id: &str, new: NewWidget) -> Result<Widget> {
        let name = required(&new.name, 120, "name")?;
        let domains_json = domains(&new.allowed_domains)?;
        let greeting = bounded(&new.greeting, 500, "greeting")?;
        let agent_name = bounded(&new.agent_name, 120, "agent_name")?;
        let agent_title = bounded(&new.agent_title, 120, "agent_title")?;
        let input_placeholder = bounded(&new.input_placeholder, 120, "input_placeholder")?;
        let primary_color = color(&new.primary_color, "primary_color")?;
        let position = position(&new.position)?;
        let avatar_url = url(&new.avatar_url, "avatar_url")?;
        let logo_url = url(&new.logo_url, "logo_url")?;
        let offline = offline_json(&new.offline_form)?;
        let lead = lead_json(&new.lead_form)?;
        let now = now_ms();
        let w = Widget {
            id: new_id(),
            tenant_id: tenant_id.to_owned(),
            name,
            public_key: new_widget_key(),
            allowed_domains: new.allowed_domains,
            greeting,
            agent_name,
            agent_title,
            input_placeholder,
            primary_color,
            position,
            avatar_url,
            logo_url,
            offline_form: new.offline_form,
            lead_form: new.lead_form,
            created_at: now,
            updated_at: now,
        };
        sqlx::query(&format!(
            "INSERT INTO widgets ({WIDGET_COLS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
        ))
        .bind(&w.id)
        .bind(&w.tenant_id)
        .bind(&w.name)
        .bind(&w.public_key)
        .bind(domains_json)
        .bind(&w.greeting)
        .bind(&w.agent_name)
        .bind(&w.agent_title)
        .bind(&w.input_placeholder)
        .bind(&w.primary_color)
        .bind(&w.position)
        .bind(&w.avatar_url)
        .bind(&w.logo_url)
        .bind(offline)
        .bind(lead)
        .bind(w.created_at)
        .bind(w.updated_at)
        .execute(&self.pool)
        .await
        .map_err(|e| StorageError::from_write(e, "widget key already exists"))?;
        Ok(w)
    }

    /// Widgets of a tenant, oldest first.
    pub async fn list_widgets(&self, tenant_id: &str) -> Result<Vec<Widget>> {
        let sql = format!(
            "SELECT {WIDGET_COLS} FROM widgets WHERE tenant_id = $1 ORDER BY created_at, id"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(widget_from_row).collect()
    }

    /// One widget of a tenant; NotFound if missing or another tenant's.
    pub async fn get_widget(&self, tenant_id: &str, id: &str) -> Result<Widget> {
        let sql = format!("SELECT {WIDGET_COLS} FROM widgets WHERE id = $1 AND tenant_id = $2");
        let row = sqlx::query(&sql)
            .bind(id)
            .bind(tenant_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StorageError::NotFound)?;
        widget_from_row(&row)
    }

    /// The widget the public runtime names by `id` and `key`, whatever its tenant.
    ///
    /// NotFound when no widget has this id; `Ok(None)` when it exists but
    /// `key` is not its public key (compared in constant time).
    pub async fn get_public_widget(&self, id: &str, key: &str) -> Result<Option<Widget>> {
        let w = self.find_widget(id).await?;
        Ok(w.key_matches(key).then_some(w))
    }

    /// The widget with this id, whatever its tenant, without a key check: only
    /// for decisions that reveal nothing of it, such as answering a CORS
    /// preflight from its allowed domains. NotFound when there is none.
    pub async fn find_widget(&self, id: &str) -> Result<Widget> {
        let sql = format!("SELECT {WIDGET_COLS} FROM widgets WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StorageError::NotFound)?;
        widget_from_row(&row)
    }

    /// Applies `patch` to a widget of the tenant and returns the result.
    /// NotFound if missing or another tenant's; on an invalid field nothing
    /// is written. An empty patch only bumps `updated_at`.
    pub async fn update_widget(
        &self,
        tenant_id: &str,
        id: &str,
        patch: WidgetPatch,
    ) -> Result<Widget> {
        let mut set = SetList::default();
        set.set("updated_at", Param::Int(now_ms()));
        if let Some(v) = &patch.name {
            set.set("name", Param::Text(required(v, 120, "name")?));
        }
        if let Some(v) = &patch.allowed_domains {
            set.set("allowed_domains", Param::Text(domains(v)?));
        }
        for (col, value, max) in [
            ("greeting", &patch.greeting, 500),
            ("agent_name", &patch.agent_name, 120),
            ("agent_title", &patch.agent_title, 120),
            ("input_placeholder", &patch.input_placeholder, 120),
        ] {
            if let Some(v) = value {
                set.set(col, Param::Text(bounded(v, max, col_name(col))?));
            }
        }
        if let Some(v) = &patch.primary_color {
            set.set("primary_color", Param::Text(color(v, "primary_color")?));
        }
        if let Some(v) = &patch.position {
            set.set("position", Param::Text(position(v)?));
        }
        if let Some(v) = &patch.avatar_url {
            set.set("avatar_url", Param::OptText(url(v, "avatar_url")?));
        }
        if let Some(v) = &patch.logo_url {
            set.set("logo_url", Param::OptText(url(v, "logo_url")?));
        }
        if let Some(v) = &patch.offline_form {
            set.set("offline_form", Param::Text(offline_json(v)?));
        }
        if let Some(v) = &patch.lead_form {
            set.set("lead_form", Param::OptText(lead_json(v)?));
        }
        let (sql, params) = set.finish_scoped("widgets", id, tenant_id, WIDGET_COLS);
        let row = bind_all(sqlx::query(&sql), params)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StorageError::NotFound)?;
        widget_from_row(&row)
    }
}

/// The `&'static str` error name of a patched text column.
fn col_name(col: &str) -> &'static str {
    match col {
        "greeting" => "greeting",
        "agent_name" => "agent_name",
        "agent_title" => "agent_title",
        _ => "input_placeholder",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_random_and_compared_exactly() {
        let k = new_widget_key();
        assert!(k.starts_with(WIDGET_KEY_PREFIX));
        assert_eq!(k.len(), WIDGET_KEY_PREFIX.len() + WIDGET_KEY_RANDOM_LEN);
        assert_ne!(k, new_widget_key());
        let w = Widget {
            id: "w".into(),
            tenant_id: "t".into(),
            name: "n".into(),
            public_key: k.clone(),
            allowed_domains: vec![],
            greeting: String::new(),
            agent_name: String::new(),
            agent_title: String::new(),
            input_placeholder: String::new(),
            primary_color: "#000000".into(),
            position: "bottom-right".into(),
            avatar_url: None,
            logo_url: None,
            offline_form: OfflineForm::default(),
            lead_form: None,
            created_at: 0,
            updated_at: 0,
        };
        assert!(w.key_matches(&k));
        assert!(!w.key_matches(&k[..k.len() - 1]));
        assert!(!w.key_matches(&format!("{k}x")));
        assert!(!w.key_matches(""));
    }

    #[test]
    fn field_validators() {
        assert!(color("#A0b1C2", "c").is_ok());
        assert!(color("A0b1C2", "c").is_err());
        assert!(color("#A0b1C", "c").is_err());
        assert!(color("#G0b1C2", "c").is_err());
        assert!(position("bottom-left").is_ok());
        assert!(position("top").is_err());
        assert!(url(&Some("https://x.example/a.png".into()), "u").is_ok());
        assert!(url(&Some("javascript:alert(1)".into()), "u").is_err());
    }
}
