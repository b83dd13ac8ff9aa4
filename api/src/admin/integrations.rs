//! A tenant's integrations: the order-status and helpdesk APIs the assistant may query for a
//! visitor (see [`crate::lookup`] for when it does).
//!
//! - `GET /api/v1/integrations` (`widgets:read`), `GET /api/v1/integrations/{id}`: never the
//!   secrets (`hasAuthHeader`, `hasHmacSecret` say whether they are set).
//! - `POST /api/v1/integrations` (`widgets:write`) → 201, `PUT /api/v1/integrations/{id}`
//!   (the auth header and the secret left out are kept, empty ones removed), `DELETE /api/v1/integrations/{id}`
//!   (204). Body: `kind` (`order` or `ticket`), `name`, `method` (`GET`, the default, or
//!   `POST` with `{"reference", "email"|"postcode"}` as JSON), `urlTemplate` (http(s), with
//!   `{reference}` and `{email}` or `{postcode}`, percent-encoded when filled), a
//!   `referencePattern` (a regular expression, e.g. `ORD-\d{4}-\d{17}`), `verifier` (`email` or
//!   `postcode`), `matchField` (a field of the answer that must equal the verifier; required
//!   when the URL does not carry it), `fieldMap` (`[{path, label}]`, 1-10: the only fields the
//!   visitor is told), `authHeaderName` + `authHeaderValue` and `hmacSecret` (sealed at rest),
//!   `enabled`.
//! - `GET /api/v1/widgets/{id}/conversations/{conversationId}/lookups` (`messages:read`):
//!   every lookup of the conversation, and every refusal to look up, with its outcome.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use ringside_knowledge::lookup::{compile_pattern, fill_template, Verifier};
use ringside_storage::{FieldMap, Integration, Lookup, StorageError};
use serde::{Deserialize, Serialize};

use crate::auth::{MessagesRead, Scoped, WidgetsRead, WidgetsWrite};
use crate::extract::ApiJson;
use crate::lookup::{AUTH_PURPOSE, HMAC_PURPOSE};
use crate::openapi::{Auth, Body, DataList, DocRouter, Spec};
use crate::{ApiError, AppState};

pub(crate) fn routes() -> DocRouter {
    const T: &str = "Knowledge";
    let (r, w) = (Auth::Scope("widgets:read"), Auth::Scope("widgets:write"));
    DocRouter::new("/api/v1")
        .get(
            "/integrations",
            list,
            Spec::new(T, r, "The account's order and ticket integrations")
                .returns::<DataList<IntegrationView>>(),
        )
        .post(
            "/integrations",
            create,
            Spec::new(T, w, "Add an order-status or helpdesk integration")
                .body(Body::Json("kind, name, method?, urlTemplate, referencePattern, verifier, matchField?, fieldMap, authHeaderName?, authHeaderValue?, hmacSecret?, enabled?"))
                .takes::<IntegrationBody>()
                .ok(201, "The integration")
                .returns::<IntegrationView>()
                .also(&[(429, "Too many changes")]),
        )
        .get(
            "/integrations/{id}",
            get_one,
            Spec::new(T, r, "One integration").returns::<IntegrationView>(),
        )
        .put(
            "/integrations/{id}",
            replace,
            Spec::new(T, w, "Change an integration (secrets left out are kept)")
                .body(Body::Json("as for POST"))
                .takes::<IntegrationBody>()
                .returns::<IntegrationView>()
                .also(&[(429, "Too many changes")]),
        )
        .delete(
            "/integrations/{id}",
            remove,
            Spec::new(T, w, "Delete an integration").ok(204, "Deleted").content(""),
        )
        .get(
            "/widgets/{id}/conversations/{conversation_id}/lookups",
            lookups,
            Spec::new(
                "Conversations",
                Auth::Scope("messages:read"),
                "The order and ticket lookups of a conversation (and refusals to look up)",
            )
            .returns::<DataList<Lookup>>(),
        )
}

/// An integration as the API shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationView {
    /// Id.
    id: String,
    /// `order` or `ticket`.
    kind: String,
    /// Name.
    name: String,
    /// `GET` or `POST`.
    method: String,
    /// URL template.
    url_template: String,
    /// The reference's pattern.
    reference_pattern: String,
    /// `email` or `postcode`.
    verifier: String,
    /// The answer's field that must equal the verifier.
    match_field: Option<String>,
    /// The fields the visitor is told.
    field_map: Vec<FieldMap>,
    /// The auth header's name.
    auth_header_name: Option<String>,
    /// Whether an auth header value is stored.
    has_auth_header: bool,
    /// Whether a signing secret is stored.
    has_hmac_secret: bool,
    /// Whether the assistant uses it.
    enabled: bool,
    /// Unix ms.
    created_at: i64,
    /// Unix ms.
    updated_at: i64,
}

fn view(i: Integration) -> IntegrationView {
    IntegrationView {
        has_auth_header: i.auth_header_sealed.is_some(),
        has_hmac_secret: i.hmac_secret_sealed.is_some(),
        id: i.id,
        kind: i.kind,
        name: i.name,
        method: i.method,
        url_template: i.url_template,
        reference_pattern: i.reference_pattern,
        verifier: i.verifier,
        match_field: i.match_field,
        field_map: i.field_map,
        auth_header_name: i.auth_header_name,
        enabled: i.enabled,
        created_at: i.created_at,
        updated_at: i.updated_at,
    }
}

/// An integration to save.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IntegrationBody {
    /// `order` or `ticket`.
    #[schemars(extend("enum" = ["order", "ticket"]))]
    kind: String,
    /// 1-80 characters.
    name: String,
    /// `GET` (default) or `POST`.
    #[serde(default)]
    #[schemars(extend("enum" = ["GET", "POST"]))]
    method: Option<String>,
    /// http(s) URL with `{reference}` and `{email}` or `{postcode}`.
    #[schemars(example = &"https://shop.example/api/orders/{reference}?email={email}")]
    url_template: String,
    /// Regular expression of a reference, at most 200 characters.
    #[schemars(example = &"ORD-\\d{4}-\\d{17}")]
    reference_pattern: String,
    /// `email` or `postcode`.
    #[schemars(extend("enum" = ["email", "postcode"]))]
    verifier: String,
    /// Dotted path of the answer's field that must equal the verifier.
    #[serde(default)]
    match_field: Option<String>,
    /// 1-10 `{path, label}`.
    field_map: Vec<FieldMap>,
    /// An auth header's name (`Authorization`, `X-Api-Key`).
    #[serde(default)]
    auth_header_name: Option<String>,
    /// Its value (write-only; left out: kept; empty: removed).
    #[serde(default)]
    auth_header_value: Option<String>,
    /// HMAC-SHA256 signing secret (write-only; likewise).
    #[serde(default)]
    hmac_secret: Option<String>,
    /// Default true.
    #[serde(default)]
    enabled: Option<bool>,
}

fn invalid(field: &'static str, reason: &'static str) -> ApiError {
    ApiError::InvalidField { field, reason }
}

fn path_ok(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 100
        && p.split('.').all(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
}

fn text_ok(s: &str, max: usize) -> bool {
    let t = s.trim();
    !t.is_empty() && t.chars().count() <= max && !t.chars().any(char::is_control)
}

/// The checked integration (secrets sealed; `old` keeps what is left out).
fn checked(
    st: &AppState,
    tenant: &str,
    id: String,
    b: IntegrationBody,
    old: Option<&Integration>,
) -> Result<Integration, ApiError> {
    if !ringside_storage::INTEGRATION_KINDS.contains(&b.kind.as_str()) {
        return Err(invalid("kind", "order or ticket"));
    }
    if !text_ok(&b.name, 80) {
        return Err(invalid("name", "1-80 characters"));
    }
    let method = b
        .method
        .unwrap_or_else(|| "GET".into())
        .to_ascii_uppercase();
    if !matches!(method.as_str(), "GET" | "POST") {
        return Err(invalid("method", "GET or POST"));
    }
    let verifier = Verifier::parse(&b.verifier).ok_or(invalid("verifier", "email or postcode"))?;
    if compile_pattern(&b.reference_pattern).is_none() {
        return Err(invalid(
            "referencePattern",
            "a regular expression of at most 200 characters",
        ));
    }
    let tpl = b.url_template.trim().to_owned();
    // A GET carries the reference in its URL; a POST carries it in its body.
    if tpl.len() > 1000 || (method == "GET" && !tpl.contains("{reference}")) {
        return Err(invalid("urlTemplate", "an http(s) URL with {reference}"));
    }
    let sample = fill_template(&tpl, "REF123", verifier, "a@b.example");
    st.fetch_policy.check_syntax(&sample).map_err(|e| match e {
        crate::outbound::Refusal::NotPublic => invalid(
            "urlTemplate",
            "the address is not public (RINGSIDE_ALLOW_PRIVATE_FETCH allows it in a lab)",
        ),
        _ => invalid("urlTemplate", "an http(s) URL with {reference}"),
    })?;
    let match_field = b
        .match_field
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty());
    if let Some(m) = &match_field {
        if !path_ok(m) {
            return Err(invalid(
                "matchField",
                "a dotted path of letters, digits, _ and -",
            ));
        }
    }
    let carries = method == "POST" || tpl.contains(&format!("{{{}}}", verifier.as_str()));
    if !carries && match_field.is_none() {
        return Err(invalid(
            "matchField",
            "required when the URL does not carry the email or postcode: the answer must be checked against it",
        ));
    }
    if b.field_map.is_empty()
        || b.field_map.len() > 10
        || b.field_map
            .iter()
            .any(|f| !path_ok(&f.path) || !text_ok(&f.label, 60))
    {
        return Err(invalid(
            "fieldMap",
            "1-10 {path, label}: dotted paths, labels of 1-60 characters",
        ));
    }
    // Left out, the header (name and value) is kept, like the secrets.
    let header_name = match b.auth_header_name {
        Some(h) => Some(h.trim().to_owned()).filter(|h| !h.is_empty()),
        None => old.and_then(|o| o.auth_header_name.clone()),
    };
    if let Some(h) = &header_name {
        let token = h.len() <= 64
            && h.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
        let reserved = [
            "host",
            "content-length",
            "content-type",
            "transfer-encoding",
            "connection",
            "x-ringside-signature",
        ]
        .contains(&h.to_ascii_lowercase().as_str());
        if !token || reserved {
            return Err(invalid(
                "authHeaderName",
                "a header name (not Host, Content-* or X-Ringside-Signature)",
            ));
        }
    }
    let sealer = st.link_secret.sealer();
    let seal =
        |v: Option<String>, keep: Option<&String>, purpose: &str, field: &'static str| match v
            .as_deref()
            .map(str::trim)
        {
            None => Ok(keep.cloned()),
            Some("") => Ok(None),
            Some(s) if s.len() > 2000 || s.chars().any(char::is_control) => {
                Err(invalid(field, "at most 2000 characters"))
            }
            Some(s) => Ok(Some(sealer.seal(tenant, purpose, s))),
        };
    let auth_header_sealed = seal(
        b.auth_header_value,
        old.and_then(|o| o.auth_header_sealed.as_ref()),
        AUTH_PURPOSE,
        "authHeaderValue",
    )?;
    if auth_header_sealed.is_some() && header_name.is_none() {
        return Err(invalid("authHeaderName", "required with authHeaderValue"));
    }
    let hmac_secret_sealed = seal(
        b.hmac_secret,
        old.and_then(|o| o.hmac_secret_sealed.as_ref()),
        HMAC_PURPOSE,
        "hmacSecret",
    )?;
    Ok(Integration {
        id,
        tenant_id: tenant.to_owned(),
        kind: b.kind,
        name: b.name.trim().to_owned(),
        method,
        url_template: tpl,
        reference_pattern: b.reference_pattern,
        verifier: verifier.as_str().into(),
        match_field,
        field_map: b.field_map,
        auth_header_name: header_name,
        auth_header_sealed,
        hmac_secret_sealed,
        enabled: b.enabled.unwrap_or(true),
        created_at: 0,
        updated_at: 0,
    })
}

fn storage(e: StorageError) -> ApiError {
    match e {
        StorageError::Invalid("integrations") => {
            invalid("kind", "an account keeps at most 20 integrations")
        }
        other => other.into(),
    }
}

async fn list(
    Scoped(ctx, _): Scoped<WidgetsRead>,
    State(st): State<AppState>,
) -> Result<Json<DataList<IntegrationView>>, ApiError> {
    let all = st.store.list_integrations(&ctx.tenant_id).await?;
    Ok(Json(all.into_iter().map(view).collect::<Vec<_>>().into()))
}

async fn get_one(
    Scoped(ctx, _): Scoped<WidgetsRead>,
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<IntegrationView>, ApiError> {
    Ok(Json(view(
        st.store.get_integration(&ctx.tenant_id, &id).await?,
    )))
}

async fn create(
    Scoped(ctx, _): Scoped<WidgetsWrite>,
    State(st): State<AppState>,
    ApiJson(b): ApiJson<IntegrationBody>,
) -> Result<(StatusCode, Json<IntegrationView>), ApiError> {
    let i = checked(&st, &ctx.tenant_id, String::new(), b, None)?;
    st.knowledge.take_write(&ctx.tenant_id)?;
    let saved = st.store.save_integration(&i).await.map_err(storage)?;
    Ok((StatusCode::CREATED, Json(view(saved))))
}

async fn replace(
    Scoped(ctx, _): Scoped<WidgetsWrite>,
    State(st): State<AppState>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<IntegrationBody>,
) -> Result<Json<IntegrationView>, ApiError> {
    let old = st.store.get_integration(&ctx.tenant_id, &id).await?;
    let i = checked(&st, &ctx.tenant_id, id, b, Some(&old))?;
    st.knowledge.take_write(&ctx.tenant_id)?;
    Ok(Json(view(
        st.store.save_integration(&i).await.map_err(storage)?,
    )))
}

async fn remove(
    Scoped(ctx, _): Scoped<WidgetsWrite>,
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    st.store.delete_integration(&ctx.tenant_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn lookups(
    Scoped(ctx, _): Scoped<MessagesRead>,
    State(st): State<AppState>,
    Path((id, conversation)): Path<(String, String)>,
) -> Result<Json<DataList<Lookup>>, ApiError> {
    let w = st.store.get_widget(&ctx.tenant_id, &id).await?;
    let list = st
        .store
        .list_lookups(&ctx.tenant_id, &w.id, &conversation)
        .await?;
    Ok(Json(list.into()))
}
