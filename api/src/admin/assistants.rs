//! A widget's assistant (the live-chat shape's `assistantId`): its name and tone, whether it
//! may use the AI provider and order/ticket lookups, when it hands a conversation to the
//! team, and whether it answers at all. A widget without one answers with the defaults (all
//! allowed, hand over on request and when nothing answers, at any hour).
//!
//! - `GET /api/v1/widgets/{id}/assistant` (`widgets:read`): 404 when the widget has none.
//! - `PUT /api/v1/widgets/{id}/assistant` (`widgets:write`) with `name`, `tone?`,
//!   `handover?` (`{onRequest, lowConfidence, duringHoursOnly}`), `useModel?`,
//!   `useLookups?`, `enabled?`, `sourceIds?` (the knowledge sources it answers from: its
//!   widget's, or other widgets' of the tenant, which shares a knowledge base between widgets;
//!   absent or null: all of its widget's, including later ones) and `integrationIds?` (the
//!   tenant's integrations it may look up with; absent or null: all): creates or replaces it
//!   (its id stays). An id that is not one of the tenant's sources or integrations is refused
//!   (422).
//! - `DELETE /api/v1/widgets/{id}/assistant` (`widgets:write`): 204, back to the defaults.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use ringside_storage::{Assistant, Handover};
use serde::Deserialize;

use crate::auth::{Scoped, WidgetsRead, WidgetsWrite};
use crate::extract::ApiJson;
use crate::openapi::{Auth, Body, DocRouter, Spec};
use crate::{ApiError, AppState};

pub(crate) fn routes() -> DocRouter {
    const T: &str = "Knowledge";
    let (r, w) = (Auth::Scope("widgets:read"), Auth::Scope("widgets:write"));
    DocRouter::new("/api/v1")
        .get(
            "/widgets/{id}/assistant",
            get,
            Spec::new(T, r, "The widget's assistant").returns::<Assistant>(),
        )
        .put(
            "/widgets/{id}/assistant",
            put,
            Spec::new(T, w, "Set the widget's assistant")
                .body(Body::Json(
                    "name, tone?, handover? {onRequest, lowConfidence, duringHoursOnly}, useModel?, useLookups?, enabled?, sourceIds?, integrationIds?",
                ))
                .takes::<AssistantBody>()
                .returns::<Assistant>()
                .also(&[(429, "Too many changes")]),
        )
        .delete(
            "/widgets/{id}/assistant",
            remove,
            Spec::new(T, w, "Remove the widget's assistant (back to the defaults)")
                .ok(204, "Removed")
                .content(""),
        )
}

/// An assistant to set.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssistantBody {
    /// 1-60 characters.
    #[schemars(example = &"Ana")]
    name: String,
    /// Tone of voice for model-written answers, at most 200 characters.
    #[serde(default)]
    #[schemars(example = &"warm and brief, with a touch of humour")]
    tone: Option<String>,
    /// When to hand over (default: on request and when nothing answers, at any hour).
    #[serde(default)]
    handover: Option<Handover>,
    /// May answers be written by the account's AI provider (default true).
    #[serde(default)]
    use_model: Option<bool>,
    /// May it look up orders and tickets (default true).
    #[serde(default)]
    use_lookups: Option<bool>,
    /// Does it answer at all (default true).
    #[serde(default)]
    enabled: Option<bool>,
    /// The knowledge sources it answers from: this widget's, and other widgets' of the account
    /// to share their knowledge (absent or null: all of this widget's, including sources added
    /// later; empty: none, so it answers from the company profile only).
    #[serde(default)]
    source_ids: Option<Vec<String>>,
    /// The tenant's integrations it may look up orders and tickets with (absent or null: all).
    #[serde(default)]
    integration_ids: Option<Vec<String>>,
}

/// Most ids a choice may list.
const MAX_CHOSEN: usize = 500;

/// `ids` without repeats, each one of `known`; the field's 422 otherwise.
fn chosen(
    ids: Option<Vec<String>>,
    known: &[&str],
    field: &'static str,
    reason: &'static str,
) -> Result<Option<Vec<String>>, ApiError> {
    let Some(ids) = ids else {
        return Ok(None);
    };
    if ids.len() > MAX_CHOSEN {
        return Err(invalid(field, "at most 500 ids"));
    }
    let mut out: Vec<String> = Vec::with_capacity(ids.len());
    for id in ids {
        if !known.contains(&id.as_str()) {
            return Err(invalid(field, reason));
        }
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(Some(out))
}

fn invalid(field: &'static str, reason: &'static str) -> ApiError {
    ApiError::InvalidField { field, reason }
}

async fn get(
    Scoped(ctx, _): Scoped<WidgetsRead>,
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Assistant>, ApiError> {
    let w = st.store.get_widget(&ctx.tenant_id, &id).await?;
    st.store
        .get_assistant(&ctx.tenant_id, &w.id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound)
}

async fn put(
    Scoped(ctx, _): Scoped<WidgetsWrite>,
    State(st): State<AppState>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<AssistantBody>,
) -> Result<Json<Assistant>, ApiError> {
    let w = st.store.get_widget(&ctx.tenant_id, &id).await?;
    let name = b.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 60 || name.chars().any(char::is_control) {
        return Err(invalid("name", "1-60 characters"));
    }
    let tone = b
        .tone
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    if tone
        .as_ref()
        .is_some_and(|t| t.chars().count() > 200 || t.chars().any(char::is_control))
    {
        return Err(invalid("tone", "at most 200 characters"));
    }
    let source_ids = match b.source_ids {
        None => None,
        ids => {
            let known = st.store.list_knowledge_source_refs(&ctx.tenant_id).await?;
            let known: Vec<&str> = known.iter().map(|s| s.id.as_str()).collect();
            chosen(
                ids,
                &known,
                "sourceIds",
                "ids of the account's knowledge sources",
            )?
        }
    };
    let integration_ids = match b.integration_ids {
        None => None,
        ids => {
            let known = st.store.list_integrations(&ctx.tenant_id).await?;
            let known: Vec<&str> = known.iter().map(|i| i.id.as_str()).collect();
            chosen(
                ids,
                &known,
                "integrationIds",
                "ids of the account's integrations",
            )?
        }
    };
    st.knowledge.take_write(&ctx.tenant_id)?;
    let a = st
        .store
        .put_assistant(&Assistant {
            id: String::new(),
            tenant_id: ctx.tenant_id.clone(),
            widget_id: w.id.clone(),
            name,
            tone,
            handover: b.handover.unwrap_or_default(),
            use_model: b.use_model.unwrap_or(true),
            use_lookups: b.use_lookups.unwrap_or(true),
            enabled: b.enabled.unwrap_or(true),
            source_ids,
            integration_ids,
            created_at: 0,
            updated_at: 0,
        })
        .await?;
    Ok(Json(a))
}

async fn remove(
    Scoped(ctx, _): Scoped<WidgetsWrite>,
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let w = st.store.get_widget(&ctx.tenant_id, &id).await?;
    st.store.delete_assistant(&ctx.tenant_id, &w.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
