//! `/api/v1/webhooks` (scopes `webhooks:read` / `webhooks:write`): create, list, get, patch
//! and delete signed webhooks, rotate their secret, send a test event and read the delivery
//! log.
//!
//! The secret is in the answers of create and rotate-secret only. Deliveries are made by
//! [`crate::webhook_dispatch`] from the storage outbox.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use ringside_storage::{
    NewWebhook, Webhook, WebhookDelivery, WebhookPatch, MAX_WEBHOOK_WIDGETS, WEBHOOK_EVENTS,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::{Scoped, WebhooksRead, WebhooksWrite};
use crate::extract::ApiJson;
use crate::openapi::{Auth, Body, DocRouter, Spec};
use crate::{ApiError, AppState};

/// What the webhook handlers use of the application state.
#[derive(Clone)]
pub struct WebhooksState {
    store: ringside_storage::Store,
    fetch_policy: crate::outbound::FetchPolicy,
    usage: crate::usage::UsageGate,
}

impl axum::extract::FromRef<AppState> for WebhooksState {
    fn from_ref(st: &AppState) -> Self {
        WebhooksState {
            store: st.store.clone(),
            fetch_policy: st.fetch_policy,
            usage: axum::extract::FromRef::from_ref(st),
        }
    }
}

pub(crate) fn routes() -> DocRouter {
    const T: &str = "Webhooks";
    let (r, w) = (Auth::Scope("webhooks:read"), Auth::Scope("webhooks:write"));
    DocRouter::new("/api/v1")
        .get(
            "/webhooks",
            list_webhooks,
            Spec::new(T, r, "List webhooks (never the secret)").returns::<Vec<WebhookView>>(),
        )
        .post(
            "/webhooks",
            create_webhook,
            Spec::new(
                T,
                w,
                "Create a webhook; the answer shows its signing secret, once",
            )
            .body(Body::Json("name, url, events, widgetIds"))
            .takes::<CreateWebhook>()
            .ok(201, "The webhook with its secret")
            .returns::<WebhookView>(),
        )
        .get(
            "/webhooks/{id}",
            get_webhook,
            Spec::new(T, r, "One webhook").returns::<WebhookView>(),
        )
        .patch(
            "/webhooks/{id}",
            patch_webhook,
            Spec::new(
                T,
                w,
                "Change a webhook (name, url, events, widgetIds, enabled)",
            )
            .body(Body::Json("fields to change"))
            .takes::<PatchWebhook>()
            .returns::<WebhookView>(),
        )
        .delete(
            "/webhooks/{id}",
            delete_webhook,
            Spec::new(T, w, "Delete a webhook")
                .ok(204, "Deleted")
                .content(""),
        )
        .post(
            "/webhooks/{id}/rotate-secret",
            rotate_secret,
            Spec::new(T, w, "A new signing secret, shown once").returns::<WebhookView>(),
        )
        .post(
            "/webhooks/{id}/test",
            test_webhook,
            Spec::new(T, w, "Queue a webhook.test delivery")
                .ok(202, "Queued: its delivery id")
                .returns::<TestQueued>(),
        )
        .get(
            "/webhooks/{id}/deliveries",
            list_deliveries,
            Spec::new(T, r, "The delivery log, newest first")
                .query(&[("limit", "1-500")])
                .returns::<Vec<DeliveryView>>(),
        )
}

/// Body of `POST /api/v1/webhooks`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateWebhook {
    /// A name for people (1-120 characters).
    #[schemars(length(min = 1, max = 120), example = &"CRM")]
    name: String,
    /// Where events are POSTed, signed (a public https or http URL).
    #[schemars(
        length(max = 2048),
        extend("format" = "uri"),
        example = &"https://crm.example/hooks/ringside"
    )]
    url: String,
    /// The event types it receives.
    #[schemars(schema_with = "event_types")]
    events: Vec<String>,
    /// Only these widgets' events (none: every widget's).
    #[serde(default)]
    widget_ids: Vec<String>,
}

/// The schema of a list of event types: the types a webhook can receive.
fn event_types(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "minItems": 1,
        "items": {"type": "string", "enum": ringside_storage::WEBHOOK_EVENTS},
        "examples": [["call.missed", "chat.message.created"]],
    })
}

/// Body of `PATCH /api/v1/webhooks/{id}`: absent fields stay.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchWebhook {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    events: Option<Vec<String>>,
    #[serde(default)]
    widget_ids: Option<Vec<String>>,
    #[serde(default)]
    enabled: Option<bool>,
}

/// A webhook as the API shows it; `secret` only on create and rotate.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    id: String,
    name: String,
    url: String,
    events: Vec<String>,
    widget_ids: Vec<String>,
    enabled: bool,
    disabled_reason: Option<String>,
    created_at: i64,
    updated_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

impl WebhookView {
    fn without_secret(w: Webhook) -> Self {
        WebhookView {
            id: w.id,
            name: w.name,
            url: w.url,
            events: w.events,
            widget_ids: w.widget_ids,
            enabled: w.enabled,
            disabled_reason: w.disabled_reason,
            created_at: w.created_at,
            updated_at: w.updated_at,
            secret: None,
        }
    }

    fn with_secret(w: Webhook) -> Self {
        let secret = w.secret.clone();
        WebhookView {
            secret: Some(secret),
            ..Self::without_secret(w)
        }
    }
}

/// One entry of the delivery log.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    id: String,
    webhook_id: String,
    #[serde(rename = "type")]
    event_type: String,
    status: &'static str,
    attempts: i64,
    next_attempt_at: Option<i64>,
    last_status_code: Option<i64>,
    last_error: Option<String>,
    created_at: i64,
    delivered_at: Option<i64>,
    data: serde_json::Value,
}

impl From<WebhookDelivery> for DeliveryView {
    fn from(d: WebhookDelivery) -> Self {
        let pending = d.status == ringside_storage::DeliveryStatus::Pending;
        DeliveryView {
            data: serde_json::from_str(&d.payload).unwrap_or(serde_json::Value::Null),
            id: d.id,
            webhook_id: d.webhook_id,
            event_type: d.event_type,
            status: d.status.as_str(),
            attempts: d.attempts,
            next_attempt_at: pending.then_some(d.next_attempt_at),
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            created_at: d.created_at,
            delivered_at: d.delivered_at,
        }
    }
}

/// Answer of `POST /api/v1/webhooks/{id}/test`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestQueued {
    delivery_id: String,
    status: &'static str,
}

/// Query of the delivery log.
#[derive(Debug, Deserialize)]
pub struct DeliveriesQuery {
    limit: Option<String>,
}

// ---------------------------------------------------------------- validation

fn invalid(field: &'static str, reason: &'static str) -> ApiError {
    ApiError::InvalidField { field, reason }
}

fn validate_name(n: &str) -> Result<(), ApiError> {
    if n.trim().is_empty() || n.chars().count() > 120 || n.chars().any(char::is_control) {
        return Err(invalid("name", "1-120 printable characters"));
    }
    Ok(())
}

/// An absolute http(s) URL with a host, no credentials, no spaces, at most 2048 bytes.
pub(crate) fn validate_url(u: &str) -> Result<(), ApiError> {
    match crate::http::urls::http_url(u) {
        Some(_) => Ok(()),
        None => Err(invalid("url", "must be an absolute http or https URL")),
    }
}

/// The outbound-fetch policy ([`crate::outbound`]): a receiver on the server's own network is
/// refused at once. A host that does not resolve yet is accepted (deliveries check again).
async fn validate_destination(st: &WebhooksState, u: &str) -> Result<(), ApiError> {
    use crate::outbound::Refusal;
    match st.fetch_policy.check(u).await {
        Ok(_) | Err(Refusal::NoAddress) => Ok(()),
        Err(Refusal::NotPublic) => Err(invalid(
            "url",
            "the receiver is not a public address (loopback, private, link-local and similar              networks are refused)",
        )),
        Err(Refusal::BadUrl(_)) => Err(invalid("url", "must be an absolute http or https URL")),
    }
}

fn validate_events(list: &[String]) -> Result<(), ApiError> {
    if list.is_empty() {
        return Err(invalid("events", "at least one event type"));
    }
    if !list.iter().all(|e| WEBHOOK_EVENTS.contains(&e.as_str())) {
        return Err(invalid(
            "events",
            "unknown event type: use visitor.connected, chat.message.created, call.requested, \
             call.delivery_started, call.delivery_failed, call.unavailable, call.answered, \
             call.ended, call.missed, callback.submitted, usage.updated or webhook.test",
        ));
    }
    Ok(())
}

async fn validate_widgets(
    st: &WebhooksState,
    tenant_id: &str,
    ids: &[String],
) -> Result<(), ApiError> {
    if ids.len() > MAX_WEBHOOK_WIDGETS {
        return Err(invalid("widgetIds", "at most 100 widgets"));
    }
    for id in ids {
        match st.store.get_widget(tenant_id, id).await {
            Ok(_) => {}
            Err(ringside_storage::StorageError::NotFound) => {
                return Err(invalid("widgetIds", "must be ids of your widgets"))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- handlers

async fn list_webhooks(
    Scoped(ctx, _): Scoped<WebhooksRead>,
    State(st): State<WebhooksState>,
) -> Result<Json<Vec<WebhookView>>, ApiError> {
    let list = st.store.list_webhooks(&ctx.tenant_id).await?;
    Ok(Json(
        list.into_iter().map(WebhookView::without_secret).collect(),
    ))
}

async fn get_webhook(
    Scoped(ctx, _): Scoped<WebhooksRead>,
    State(st): State<WebhooksState>,
    Path(id): Path<String>,
) -> Result<Json<WebhookView>, ApiError> {
    let w = st.store.get_webhook(&ctx.tenant_id, &id).await?;
    Ok(Json(WebhookView::without_secret(w)))
}

async fn create_webhook(
    Scoped(ctx, _): Scoped<WebhooksWrite>,
    State(st): State<WebhooksState>,
    ApiJson(body): ApiJson<CreateWebhook>,
) -> Result<(StatusCode, Json<WebhookView>), ApiError> {
    validate_name(&body.name)?;
    validate_url(&body.url)?;
    validate_destination(&st, &body.url).await?;
    validate_events(&body.events)?;
    validate_widgets(&st, &ctx.tenant_id, &body.widget_ids).await?;
    crate::usage::enforce(&st.usage, &ctx.tenant_id, crate::usage::Metric::Webhooks).await?;
    let w = st
        .store
        .create_webhook(
            &ctx.tenant_id,
            NewWebhook {
                name: body.name.trim().to_owned(),
                url: body.url,
                events: body.events,
                widget_ids: body.widget_ids,
            },
        )
        .await?;
    crate::usage::counted(&st.usage, &ctx.tenant_id, crate::usage::Metric::Webhooks).await;
    Ok((StatusCode::CREATED, Json(WebhookView::with_secret(w))))
}

async fn patch_webhook(
    Scoped(ctx, _): Scoped<WebhooksWrite>,
    State(st): State<WebhooksState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PatchWebhook>,
) -> Result<Json<WebhookView>, ApiError> {
    // 404 before 422: another tenant's webhook reveals nothing about validation.
    st.store.get_webhook(&ctx.tenant_id, &id).await?;
    if let Some(n) = &body.name {
        validate_name(n)?;
    }
    if let Some(u) = &body.url {
        validate_url(u)?;
        validate_destination(&st, u).await?;
    }
    if let Some(e) = &body.events {
        validate_events(e)?;
    }
    if let Some(w) = &body.widget_ids {
        validate_widgets(&st, &ctx.tenant_id, w).await?;
    }
    let w = st
        .store
        .update_webhook(
            &ctx.tenant_id,
            &id,
            WebhookPatch {
                name: body.name.map(|n| n.trim().to_owned()),
                url: body.url,
                events: body.events,
                widget_ids: body.widget_ids,
                enabled: body.enabled,
            },
        )
        .await?;
    Ok(Json(WebhookView::without_secret(w)))
}

async fn delete_webhook(
    Scoped(ctx, _): Scoped<WebhooksWrite>,
    State(st): State<WebhooksState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    st.store.delete_webhook(&ctx.tenant_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn rotate_secret(
    Scoped(ctx, _): Scoped<WebhooksWrite>,
    State(st): State<WebhooksState>,
    Path(id): Path<String>,
) -> Result<Json<WebhookView>, ApiError> {
    let w = st.store.rotate_webhook_secret(&ctx.tenant_id, &id).await?;
    Ok(Json(WebhookView::with_secret(w)))
}

async fn test_webhook(
    Scoped(ctx, _): Scoped<WebhooksWrite>,
    State(st): State<WebhooksState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<TestQueued>), ApiError> {
    let data = json!({
        "webhookId": id,
        "message": "This is a test event from Ringside.",
    });
    let d = st
        .store
        .enqueue_webhook_test(&ctx.tenant_id, &id, &data)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(TestQueued {
            delivery_id: d.id,
            status: d.status.as_str(),
        }),
    ))
}

async fn list_deliveries(
    Scoped(ctx, _): Scoped<WebhooksRead>,
    State(st): State<WebhooksState>,
    Path(id): Path<String>,
    Query(q): Query<DeliveriesQuery>,
) -> Result<Json<Vec<DeliveryView>>, ApiError> {
    let limit = match q.limit.as_deref() {
        None => 100,
        Some(v) => v.parse::<i64>().unwrap_or(0),
    };
    if !(1..=500).contains(&limit) {
        return Err(invalid("limit", "must be 1-500"));
    }
    let list = st
        .store
        .list_webhook_deliveries(&ctx.tenant_id, &id, limit)
        .await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_and_event_validation() {
        assert!(validate_url("https://example.com/hook").is_ok());
        assert!(validate_url("http://127.0.0.1:8080/x?y=1").is_ok());
        for bad in [
            "",
            "example.com",
            "ftp://example.com",
            "https://",
            "https://a b",
            "https://user@evil",
            "javascript:alert(1)",
        ] {
            assert!(validate_url(bad).is_err(), "{bad}");
        }
        assert!(validate_events(&["call.missed".into()]).is_ok());
        assert!(validate_events(&[]).is_err());
        assert!(validate_events(&["call.missed".into(), "call.bogus".into()]).is_err());
    }
}
