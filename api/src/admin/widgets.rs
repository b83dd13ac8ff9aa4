//! `/api/v1/widgets` (scopes `widgets:read` / `widgets:write`): create, list, get and patch
//! widgets, and the install snippet.
//!
//! A widget carries its public key (`publicKey`, also as `widgetKey`): the runtime
//! ([`crate::widget_runtime`]) identifies a widget by id and key and checks the page's origin
//! against `allowedDomains` — host names, optionally with a leading `*.` (any subdomain, not
//! the apex itself) and an optional `:port`; no scheme, no path. Domains are stored lowercase.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use ringside_storage::{
    LeadForm, NewWidget, OfflineForm, Widget, WidgetPatch, FORM_FIELD_TYPES, MAX_ALLOWED_DOMAINS,
    MAX_FORM_FIELDS, WIDGET_POSITIONS,
};
use serde::{Deserialize, Serialize};

use crate::auth::{Scoped, WidgetsRead, WidgetsWrite};
use crate::extract::{html_escape, ApiJson};
use crate::openapi::{Auth, Body, DocRouter, Spec};
use crate::{ApiError, AppState};

/// What the widget handlers use of the application state.
#[derive(Clone)]
pub struct WidgetsState {
    store: ringside_storage::Store,
    public_url: std::sync::Arc<str>,
    widget_cache: std::sync::Arc<crate::widget_cache::WidgetCache>,
    usage: crate::usage::UsageGate,
}

impl axum::extract::FromRef<AppState> for WidgetsState {
    fn from_ref(st: &AppState) -> Self {
        WidgetsState {
            store: st.store.clone(),
            public_url: st.public_url.as_str().into(),
            widget_cache: st.widget_cache.clone(),
            usage: axum::extract::FromRef::from_ref(st),
        }
    }
}

pub(crate) fn routes() -> DocRouter {
    const T: &str = "Widgets";
    let (r, w) = (Auth::Scope("widgets:read"), Auth::Scope("widgets:write"));
    DocRouter::new("/api/v1")
        .get(
            "/widgets",
            list_widgets,
            Spec::new(T, r, "List widgets").returns::<Vec<WidgetView>>(),
        )
        .post(
            "/widgets",
            create_widget,
            Spec::new(T, w, "Create a widget; the answer carries its id and public key")
                .body(Body::Json("name, allowedDomains (*.example.com wildcards), greeting, colours, position, avatar, offline and lead forms"))
                .takes::<CreateWidget>()
                .ok(201, "The widget")
                .returns::<WidgetView>(),
        )
        .get(
            "/widgets/{id}",
            get_widget,
            Spec::new(T, r, "One widget").returns::<WidgetView>(),
        )
        .patch(
            "/widgets/{id}",
            patch_widget,
            Spec::new(T, w, "Change a widget (null clears optional fields)")
                .body(Body::Json("fields to change"))
                .takes::<PatchWidget>()
                .returns::<WidgetView>(),
        )
        .get(
            "/widgets/{id}/install-snippet",
            install_snippet,
            Spec::new(T, r, "The one script tag to paste into the site")
                .returns::<InstallSnippet>(),
        )
}

/// A new widget; everything but `name` has a default.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateWidget {
    /// What the dashboard calls it (1 to 100 characters).
    #[schemars(length(min = 1, max = 100), example = &"Shop")]
    name: String,
    /// Hosts whose pages may run it: `example.com`, `*.example.com` (subdomains), with an
    /// optional `:port`. Pages elsewhere are refused.
    #[serde(default)]
    #[schemars(example = ["shop.example", "*.shop.example"])]
    allowed_domains: Vec<String>,
    /// The first line the widget shows.
    #[serde(default)]
    #[schemars(example = &"Hi! How can we help you today?")]
    greeting: Option<String>,
    /// The operator name shown in the header.
    #[serde(default)]
    agent_name: Option<String>,
    /// The line under the operator name.
    #[serde(default)]
    agent_title: Option<String>,
    /// The chat input's placeholder.
    #[serde(default)]
    input_placeholder: Option<String>,
    /// `#RRGGBB`.
    #[serde(default)]
    #[schemars(regex(pattern = r"^#[0-9A-Fa-f]{6}$"), example = &"#3B82F6")]
    primary_color: Option<String>,
    /// Where the bubble sits.
    #[serde(default)]
    #[schemars(extend("enum" = ["bottom-right", "bottom-left", null]))]
    position: Option<String>,
    /// An https image URL.
    #[serde(default)]
    #[schemars(extend("format" = "uri"))]
    avatar_url: Option<String>,
    /// An https image URL.
    #[serde(default)]
    #[schemars(extend("format" = "uri"))]
    logo_url: Option<String>,
    /// What the widget offers when nobody can answer.
    #[serde(default)]
    offline_form: Option<OfflineForm>,
    /// The lead form.
    #[serde(default)]
    lead_form: Option<LeadForm>,
}

/// Body of `PATCH /api/v1/widgets/{id}`: absent fields stay, `null` clears `avatarUrl`,
/// `logoUrl` and `leadForm`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchWidget {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    allowed_domains: Option<Vec<String>>,
    #[serde(default)]
    greeting: Option<String>,
    #[serde(default)]
    agent_name: Option<String>,
    #[serde(default)]
    agent_title: Option<String>,
    #[serde(default)]
    input_placeholder: Option<String>,
    #[serde(default)]
    primary_color: Option<String>,
    #[serde(default)]
    position: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    avatar_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    logo_url: Option<Option<String>>,
    #[serde(default)]
    offline_form: Option<OfflineForm>,
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    lead_form: Option<Option<LeadForm>>,
}

/// A widget as the API shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WidgetView {
    /// The widget id (`widgetId` everywhere else).
    id: String,
    /// Its name.
    name: String,
    /// The public key the site's snippet carries (`wk_...`; not a secret).
    #[schemars(example = &"wk_plqUXMLFS8iogTQ3bUVcBBXpKHtRuNiD")]
    public_key: String,
    /// The same key, under the name some clients use.
    widget_key: String,
    /// Hosts whose pages may run it.
    allowed_domains: Vec<String>,
    /// The first line the widget shows.
    greeting: String,
    /// The operator name shown in the header.
    agent_name: String,
    /// The line under the operator name.
    agent_title: String,
    /// The chat input's placeholder.
    input_placeholder: String,
    /// `#RRGGBB`.
    #[schemars(regex(pattern = r"^#[0-9A-Fa-f]{6}$"))]
    primary_color: String,
    /// Where the bubble sits.
    #[schemars(extend("enum" = ["bottom-right", "bottom-left"]))]
    position: String,
    /// An image URL, or null.
    avatar_url: Option<String>,
    /// An image URL, or null.
    logo_url: Option<String>,
    /// What the widget offers when nobody can answer.
    offline_form: OfflineForm,
    /// The lead form, or null.
    lead_form: Option<LeadForm>,
    /// Created, Unix milliseconds.
    created_at: i64,
    /// Last changed, Unix milliseconds.
    updated_at: i64,
}

impl From<Widget> for WidgetView {
    fn from(w: Widget) -> Self {
        WidgetView {
            id: w.id,
            name: w.name,
            widget_key: w.public_key.clone(),
            public_key: w.public_key,
            allowed_domains: w.allowed_domains,
            greeting: w.greeting,
            agent_name: w.agent_name,
            agent_title: w.agent_title,
            input_placeholder: w.input_placeholder,
            primary_color: w.primary_color,
            position: w.position,
            avatar_url: w.avatar_url,
            logo_url: w.logo_url,
            offline_form: w.offline_form,
            lead_form: w.lead_form,
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

/// Answer of `GET /api/v1/widgets/{id}/install-snippet`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstallSnippet {
    /// The `<script>` tag to paste before `</body>`.
    snippet: String,
    /// The widget.
    widget_id: String,
    /// Where the script is served.
    #[schemars(extend("format" = "uri"))]
    script_url: String,
}

// ---------------------------------------------------------------- host patterns

/// One entry of `allowedDomains`: `host`, `*.host`, either with an optional `:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostPattern {
    /// `*.host`: any subdomain of `host`, not `host` itself.
    pub wildcard: bool,
    /// Lowercase host name.
    pub host: String,
    /// Port the origin must use; `None` allows any.
    pub port: Option<u16>,
}

/// Whether `h` is a DNS host name (or dotted IPv4 address): labels of letters, digits and
/// inner hyphens, 1-63 characters each, at most 253 in all.
pub(crate) fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Splits `host[:port]`; `None` when the port is not 1-65535.
pub(crate) fn split_port(s: &str) -> Option<(&str, Option<u16>)> {
    match s.rsplit_once(':') {
        None => Some((s, None)),
        Some((h, p)) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some((h, Some(n))),
            _ => None,
        },
    }
}

impl HostPattern {
    /// Parses an `allowedDomains` entry (case-insensitive); `None` when it is not one.
    pub(crate) fn parse(s: &str) -> Option<HostPattern> {
        let s = s.trim().to_ascii_lowercase();
        let (wildcard, rest) = match s.strip_prefix("*.") {
            Some(r) => (true, r),
            None => (false, s.as_str()),
        };
        let (host, port) = split_port(rest)?;
        valid_host(host).then(|| HostPattern {
            wildcard,
            host: host.to_owned(),
            port,
        })
    }

    /// The canonical text form.
    pub(crate) fn to_text(&self) -> String {
        let mut s = String::new();
        if self.wildcard {
            s.push_str("*.");
        }
        s.push_str(&self.host);
        if let Some(p) = self.port {
            s.push(':');
            s.push_str(&p.to_string());
        }
        s
    }

    /// Whether a page on `host` (lowercase) and `port` (explicit or the scheme's default;
    /// `None` when unknown) matches.
    pub(crate) fn matches(&self, host: &str, port: Option<u16>) -> bool {
        if let Some(p) = self.port {
            if port != Some(p) {
                return false;
            }
        }
        if self.wildcard {
            host.len() > self.host.len() + 1
                && host.ends_with(self.host.as_str())
                && host.as_bytes()[host.len() - self.host.len() - 1] == b'.'
        } else {
            host == self.host
        }
    }
}

// ---------------------------------------------------------------- validation

fn invalid(field: &'static str, reason: &'static str) -> ApiError {
    ApiError::InvalidField { field, reason }
}

fn validate_name(n: &str) -> Result<(), ApiError> {
    let len = n.chars().count();
    if n.trim().is_empty() || len > 120 || n.chars().any(char::is_control) {
        return Err(invalid("name", "1-120 printable characters"));
    }
    Ok(())
}

fn validate_text(v: &str, max: usize, field: &'static str) -> Result<(), ApiError> {
    if v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(invalid(field, "too long, or contains control characters"));
    }
    Ok(())
}

fn validate_domains(list: &[String]) -> Result<Vec<String>, ApiError> {
    if list.len() > MAX_ALLOWED_DOMAINS {
        return Err(invalid("allowedDomains", "at most 100 entries"));
    }
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for d in list {
        let p = HostPattern::parse(d).ok_or(invalid(
            "allowedDomains",
            "each entry must be a host name, optionally with a leading *. and a :port, \
             without scheme or path",
        ))?;
        let text = p.to_text();
        if !out.contains(&text) {
            out.push(text);
        }
    }
    Ok(out)
}

fn validate_color(c: &str) -> Result<(), ApiError> {
    let ok = c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit());
    if ok {
        Ok(())
    } else {
        Err(invalid("primaryColor", "must be #RRGGBB"))
    }
}

fn validate_position(p: &str) -> Result<(), ApiError> {
    if WIDGET_POSITIONS.contains(&p) {
        Ok(())
    } else {
        Err(invalid("position", "must be bottom-right or bottom-left"))
    }
}

fn validate_url(u: &str, field: &'static str) -> Result<(), ApiError> {
    match crate::http::urls::http_url(u) {
        Some(_) => Ok(()),
        None => Err(invalid(field, "must be an http(s) URL")),
    }
}

fn validate_fields(
    fields: &[ringside_storage::FormField],
    field: &'static str,
) -> Result<(), ApiError> {
    if fields.len() > MAX_FORM_FIELDS {
        return Err(invalid(field, "at most 20 fields"));
    }
    for f in fields {
        let name_ok = !f.name.is_empty()
            && f.name.len() <= 64
            && f.name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b));
        if !name_ok {
            return Err(invalid(
                field,
                "field names are 1-64 letters, digits, _ and -",
            ));
        }
        if !FORM_FIELD_TYPES.contains(&f.kind.as_str()) {
            return Err(invalid(
                field,
                "field type must be text, email, tel or textarea",
            ));
        }
        validate_text(&f.label, 120, field)?;
    }
    Ok(())
}

fn validate_offline(f: &OfflineForm) -> Result<(), ApiError> {
    validate_fields(&f.fields, "offlineForm")?;
    validate_text(&f.message, 500, "offlineForm")
}

fn validate_lead(f: &LeadForm) -> Result<(), ApiError> {
    validate_fields(&f.fields, "leadForm")?;
    validate_text(&f.prompt, 500, "leadForm")
}

// ---------------------------------------------------------------- handlers

async fn list_widgets(
    Scoped(ctx, _): Scoped<WidgetsRead>,
    State(st): State<WidgetsState>,
) -> Result<Json<Vec<WidgetView>>, ApiError> {
    let mut list = st.store.list_widgets(&ctx.tenant_id).await?;
    if let Some(mine) = &ctx.widgets {
        list.retain(|w| mine.contains(&w.id));
    }
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

async fn get_widget(
    Scoped(ctx, _): Scoped<WidgetsRead>,
    State(st): State<WidgetsState>,
    Path(id): Path<String>,
) -> Result<Json<WidgetView>, ApiError> {
    Ok(Json(st.store.get_widget(&ctx.tenant_id, &id).await?.into()))
}

async fn create_widget(
    Scoped(ctx, _): Scoped<WidgetsWrite>,
    State(st): State<WidgetsState>,
    ApiJson(body): ApiJson<CreateWidget>,
) -> Result<(StatusCode, Json<WidgetView>), ApiError> {
    validate_name(&body.name)?;
    let allowed_domains = validate_domains(&body.allowed_domains)?;
    let mut new = NewWidget {
        name: body.name.trim().to_owned(),
        allowed_domains,
        ..NewWidget::default()
    };
    for (value, slot, max, field) in [
        (body.greeting, &mut new.greeting, 500, "greeting"),
        (body.agent_name, &mut new.agent_name, 120, "agentName"),
        (body.agent_title, &mut new.agent_title, 120, "agentTitle"),
        (
            body.input_placeholder,
            &mut new.input_placeholder,
            120,
            "inputPlaceholder",
        ),
    ] {
        if let Some(v) = value {
            validate_text(&v, max, field)?;
            *slot = v;
        }
    }
    if let Some(c) = body.primary_color {
        validate_color(&c)?;
        new.primary_color = c;
    }
    if let Some(p) = body.position {
        validate_position(&p)?;
        new.position = p;
    }
    if let Some(u) = &body.avatar_url {
        validate_url(u, "avatarUrl")?;
    }
    if let Some(u) = &body.logo_url {
        validate_url(u, "logoUrl")?;
    }
    new.avatar_url = body.avatar_url;
    new.logo_url = body.logo_url;
    if let Some(f) = body.offline_form {
        validate_offline(&f)?;
        new.offline_form = f;
    }
    if let Some(f) = &body.lead_form {
        validate_lead(f)?;
    }
    new.lead_form = body.lead_form;
    crate::usage::enforce(&st.usage, &ctx.tenant_id, crate::usage::Metric::Widgets).await?;
    let w = st.store.create_widget(&ctx.tenant_id, new).await?;
    crate::usage::counted(&st.usage, &ctx.tenant_id, crate::usage::Metric::Widgets).await;
    Ok((StatusCode::CREATED, Json(w.into())))
}

async fn patch_widget(
    Scoped(ctx, _): Scoped<WidgetsWrite>,
    State(st): State<WidgetsState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PatchWidget>,
) -> Result<Json<WidgetView>, ApiError> {
    if let Some(n) = &body.name {
        validate_name(n)?;
    }
    let allowed_domains = body
        .allowed_domains
        .as_deref()
        .map(validate_domains)
        .transpose()?;
    for (value, max, field) in [
        (&body.greeting, 500, "greeting"),
        (&body.agent_name, 120, "agentName"),
        (&body.agent_title, 120, "agentTitle"),
        (&body.input_placeholder, 120, "inputPlaceholder"),
    ] {
        if let Some(v) = value {
            validate_text(v, max, field)?;
        }
    }
    if let Some(c) = &body.primary_color {
        validate_color(c)?;
    }
    if let Some(p) = &body.position {
        validate_position(p)?;
    }
    if let Some(Some(u)) = &body.avatar_url {
        validate_url(u, "avatarUrl")?;
    }
    if let Some(Some(u)) = &body.logo_url {
        validate_url(u, "logoUrl")?;
    }
    if let Some(f) = &body.offline_form {
        validate_offline(f)?;
    }
    if let Some(Some(f)) = &body.lead_form {
        validate_lead(f)?;
    }
    let w = st
        .store
        .update_widget(
            &ctx.tenant_id,
            &id,
            WidgetPatch {
                name: body.name.map(|n| n.trim().to_owned()),
                allowed_domains,
                greeting: body.greeting,
                agent_name: body.agent_name,
                agent_title: body.agent_title,
                input_placeholder: body.input_placeholder,
                primary_color: body.primary_color,
                position: body.position,
                avatar_url: body.avatar_url,
                logo_url: body.logo_url,
                offline_form: body.offline_form,
                lead_form: body.lead_form,
            },
        )
        .await?;
    // The public runtime sees the change at once (origins, forms, look).
    st.widget_cache.invalidate(&w.id);
    Ok(Json(w.into()))
}

async fn install_snippet(
    Scoped(ctx, _): Scoped<WidgetsRead>,
    State(st): State<WidgetsState>,
    Path(id): Path<String>,
) -> Result<Json<InstallSnippet>, ApiError> {
    let w = st.store.get_widget(&ctx.tenant_id, &id).await?;
    let script_url = format!("{}/widget.js", st.public_url.trim_end_matches('/'));
    let snippet = format!(
        "<script src=\"{}\" data-widget-id=\"{}\" data-widget-key=\"{}\" async></script>",
        html_escape(&script_url),
        html_escape(&w.id),
        html_escape(&w.public_key)
    );
    Ok(Json(InstallSnippet {
        snippet,
        widget_id: w.id,
        script_url,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns_parse_and_normalise() {
        let p = HostPattern::parse("*.Example.COM").unwrap();
        assert!(p.wildcard && p.host == "example.com" && p.port.is_none());
        assert_eq!(p.to_text(), "*.example.com");
        assert_eq!(
            HostPattern::parse("shop.example.com:8443").unwrap().port,
            Some(8443)
        );
        assert!(HostPattern::parse("localhost").is_some());
        assert!(HostPattern::parse("127.0.0.1:3000").is_some());
        for bad in [
            "",
            "https://example.com",
            "example.com/path",
            "*",
            "*.",
            "a.*.example.com",
            "exa mple.com",
            "-x.example.com",
            "example.com:0",
            "example.com:99999",
            "example.com:",
            "example..com",
            "user@example.com",
        ] {
            assert!(HostPattern::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn host_patterns_match() {
        let wild = HostPattern::parse("*.example.com").unwrap();
        assert!(wild.matches("www.example.com", Some(443)));
        assert!(wild.matches("a.b.example.com", None));
        assert!(!wild.matches("example.com", Some(443)));
        assert!(!wild.matches("badexample.com", Some(443)));
        assert!(!wild.matches("example.com.evil.net", Some(443)));
        let exact = HostPattern::parse("example.com").unwrap();
        assert!(exact.matches("example.com", Some(80)));
        assert!(!exact.matches("www.example.com", Some(80)));
        let ported = HostPattern::parse("localhost:3000").unwrap();
        assert!(ported.matches("localhost", Some(3000)));
        assert!(!ported.matches("localhost", Some(3001)));
        assert!(!ported.matches("localhost", None));
    }

    #[test]
    fn urls_and_colours() {
        assert!(validate_url("https://cdn.example.com/a.png", "u").is_ok());
        assert!(validate_url("http://x", "u").is_ok());
        for bad in [
            "javascript:alert(1)",
            "https://",
            "ftp://x/y",
            "https://a b",
            "https://u@evil",
        ] {
            assert!(validate_url(bad, "u").is_err(), "{bad}");
        }
        assert!(validate_color("#00ff00").is_ok());
        assert!(validate_color("#00ff0").is_err());
        assert!(validate_color("00ff00").is_err());
    }
}
