//! A tenant's AI provider: the OpenAI-compatible chat-completions endpoint the assistant
//! writes answers with, retrieval-augmented from the widget's knowledge.
//!
//! - `GET /api/v1/account/ai-provider` (`widgets:read`): the provider (never its key:
//!   `hasApiKey` says whether one is stored); 404 when there is none.
//! - `PUT /api/v1/account/ai-provider` (`widgets:write`) with `kind` (`openai`, the default,
//!   for OpenAI, Ollama, vLLM, llama.cpp server...; or `azure`), `baseUrl`, `model`,
//!   `apiVersion?` (Azure), `apiKey?` (absent: the stored one is kept; empty: removed),
//!   `monthlyMessages?` and `monthlyTokens?` (the tenant's own allowance, 0 = only the
//!   deployment's limit), `enabled?`, `timeoutSecs?` (1-120, default 20: past it the visitor
//!   gets the knowledge base's answer). The key is sealed at rest ([`crate::http::sealed`]).
//! - `DELETE /api/v1/account/ai-provider` (`widgets:write`): 204; answers go back to the
//!   extractive assistant.
//! - `POST /api/v1/account/ai-provider/test` (`widgets:write`): asks the model for a one-word
//!   answer and reports `{ok, model, latencyMs, error?}` (nothing is counted).
//!
//! Changes and tests share the tenant's knowledge-base burst (429 `rate_limited` beyond it).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use ringside_storage::AiProvider;
use serde::{Deserialize, Serialize};

use crate::auth::{Scoped, WidgetsRead, WidgetsWrite};
use crate::extract::ApiJson;
use crate::openapi::{Auth, Body, DocRouter, Spec};
use crate::{ApiError, AppState};

/// The sealed key's purpose (its associated data).
pub(crate) const KEY_PURPOSE: &str = "ai-provider-key";

/// Seconds an answer may take when the provider does not say.
const DEFAULT_TIMEOUT_SECS: i64 = 20;
/// The longest an answer may be given.
const MAX_TIMEOUT_SECS: i64 = 120;

pub(crate) fn routes() -> DocRouter {
    const T: &str = "Account";
    let (r, w) = (Auth::Scope("widgets:read"), Auth::Scope("widgets:write"));
    DocRouter::new("/api/v1")
        .get(
            "/account/ai-provider",
            get,
            Spec::new(T, r, "The account's AI provider (its key is never shown)")
                .returns::<ProviderView>()
                .also(&[(404, "No provider is set")]),
        )
        .put(
            "/account/ai-provider",
            put,
            Spec::new(T, w, "Set the account's OpenAI-compatible AI provider")
                .body(Body::Json("kind?, baseUrl, model, apiVersion?, apiKey?, monthlyMessages?, monthlyTokens?, enabled?"))
                .takes::<ProviderBody>()
                .returns::<ProviderView>()
                .also(&[(429, "Too many changes")]),
        )
        .delete(
            "/account/ai-provider",
            remove,
            Spec::new(T, w, "Remove the account's AI provider")
                .ok(204, "Removed")
                .content("")
                .also(&[(404, "No provider is set")]),
        )
        .post(
            "/account/ai-provider/test",
            test,
            Spec::new(T, w, "Ask the provider for a one-word answer")
                .returns::<TestResult>()
                .also(&[(404, "No provider is set"), (429, "Too many tests")]),
        )
}

/// The provider as the API shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderView {
    /// `openai` or `azure`.
    kind: String,
    /// Base URL.
    base_url: String,
    /// Model (Azure: deployment).
    model: String,
    /// Azure's api-version.
    api_version: Option<String>,
    /// Whether an API key is stored.
    has_api_key: bool,
    /// The account's own monthly allowance of model answers (0: the deployment's limit only).
    monthly_messages: i64,
    /// Its own monthly allowance of tokens (0: likewise).
    monthly_tokens: i64,
    /// Whether answers use it.
    enabled: bool,
    /// Seconds an answer may take before the assistant answers without it.
    timeout_secs: i64,
    /// Unix ms.
    updated_at: i64,
}

fn view(p: AiProvider) -> ProviderView {
    ProviderView {
        kind: p.kind,
        base_url: p.base_url,
        model: p.model,
        api_version: p.api_version,
        has_api_key: p.api_key_sealed.is_some(),
        monthly_messages: p.monthly_messages,
        monthly_tokens: p.monthly_tokens,
        enabled: p.enabled,
        timeout_secs: p.timeout_secs,
        updated_at: p.updated_at,
    }
}

/// A provider to set.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProviderBody {
    /// `openai` (default) or `azure`.
    #[serde(default)]
    #[schemars(extend("enum" = ["openai", "azure"]))]
    kind: Option<String>,
    /// http(s) base URL, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1`.
    #[schemars(example = &"https://api.openai.com/v1")]
    base_url: String,
    /// Model name (Azure: the deployment), 1-200 characters.
    #[schemars(example = &"gpt-4o-mini")]
    model: String,
    /// Azure's api-version.
    #[serde(default)]
    api_version: Option<String>,
    /// The API key (absent: keep the stored one; empty: remove it). Write-only.
    #[serde(default)]
    api_key: Option<String>,
    /// Model answers a month the account allows itself (0: the deployment's limit only).
    #[serde(default)]
    monthly_messages: Option<i64>,
    /// Tokens a month likewise.
    #[serde(default)]
    monthly_tokens: Option<i64>,
    /// Whether answers use it (default true).
    #[serde(default)]
    enabled: Option<bool>,
    /// Seconds an answer may take in all (connection, first token, stream), 1-120 (default
    /// 20); past it the visitor gets the answer from the knowledge base instead.
    #[serde(default)]
    #[schemars(range(min = 1, max = 120))]
    timeout_secs: Option<i64>,
}

fn invalid(field: &'static str, reason: &'static str) -> ApiError {
    ApiError::InvalidField { field, reason }
}

async fn get(
    Scoped(ctx, _): Scoped<WidgetsRead>,
    State(st): State<AppState>,
) -> Result<Json<ProviderView>, ApiError> {
    let p = st
        .store
        .get_ai_provider(&ctx.tenant_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(view(p)))
}

async fn put(
    Scoped(ctx, _): Scoped<WidgetsWrite>,
    State(st): State<AppState>,
    ApiJson(b): ApiJson<ProviderBody>,
) -> Result<Json<ProviderView>, ApiError> {
    st.knowledge.take_write(&ctx.tenant_id)?;
    let kind = b.kind.unwrap_or_else(|| "openai".into());
    if !ringside_storage::AI_PROVIDER_KINDS.contains(&kind.as_str()) {
        return Err(invalid("kind", "openai or azure"));
    }
    let base_url = b.base_url.trim().to_owned();
    if base_url.len() > 500 {
        return Err(invalid(
            "baseUrl",
            "an http or https URL of at most 500 characters",
        ));
    }
    st.fetch_policy
        .check_syntax(&base_url)
        .map_err(|e| match e {
            crate::outbound::Refusal::NotPublic => invalid(
                "baseUrl",
                "the address is not public (RINGSIDE_ALLOW_PRIVATE_FETCH allows a model on a private network or loopback)",
            ),
            _ => invalid("baseUrl", "an http or https URL"),
        })?;
    let model = b.model.trim().to_owned();
    if model.is_empty() || model.chars().count() > 200 || model.chars().any(char::is_control) {
        return Err(invalid("model", "1-200 characters"));
    }
    let api_version = b
        .api_version
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    if api_version.as_ref().is_some_and(|v| v.len() > 40) {
        return Err(invalid("apiVersion", "at most 40 characters"));
    }
    let allowance = |v: Option<i64>, field| match v {
        None => Ok(0),
        Some(n) if n >= 0 => Ok(n),
        Some(_) => Err(invalid(field, "0 (no allowance of its own) or more")),
    };
    let monthly_messages = allowance(b.monthly_messages, "monthlyMessages")?;
    let monthly_tokens = allowance(b.monthly_tokens, "monthlyTokens")?;
    let timeout_secs = b.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS);
    if !(1..=MAX_TIMEOUT_SECS).contains(&timeout_secs) {
        return Err(invalid("timeoutSecs", "1-120 seconds"));
    }
    let existing = st.store.get_ai_provider(&ctx.tenant_id).await?;
    let sealer = st.link_secret.sealer();
    let api_key_sealed = match b.api_key.as_deref().map(str::trim) {
        None => existing.and_then(|e| e.api_key_sealed),
        Some("") => None,
        Some(k) if k.len() > 1000 || k.chars().any(char::is_control) => {
            return Err(invalid("apiKey", "at most 1000 characters"))
        }
        Some(k) => Some(sealer.seal(&ctx.tenant_id, KEY_PURPOSE, k)),
    };
    let p = AiProvider {
        tenant_id: ctx.tenant_id.clone(),
        kind,
        base_url,
        model,
        api_version,
        api_key_sealed,
        monthly_messages,
        monthly_tokens,
        enabled: b.enabled.unwrap_or(true),
        timeout_secs,
        updated_at: 0,
    };
    st.store.put_ai_provider(&p).await?;
    let stored = st
        .store
        .get_ai_provider(&ctx.tenant_id)
        .await?
        .ok_or(ApiError::Internal)?;
    Ok(Json(view(stored)))
}

async fn remove(
    Scoped(ctx, _): Scoped<WidgetsWrite>,
    State(st): State<AppState>,
) -> Result<StatusCode, ApiError> {
    st.store.delete_ai_provider(&ctx.tenant_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What a test of the provider found.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestResult {
    /// Whether it answered.
    ok: bool,
    /// The model asked.
    model: String,
    /// How long the answer took.
    latency_ms: u64,
    /// Why it did not answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

async fn test(
    Scoped(ctx, _): Scoped<WidgetsWrite>,
    State(st): State<AppState>,
) -> Result<Json<TestResult>, ApiError> {
    let stored = st
        .store
        .get_ai_provider(&ctx.tenant_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    st.knowledge.take_write(&ctx.tenant_id)?;
    let model = stored.model.clone();
    let p = match opened(&st.link_secret, stored) {
        Ok(p) => p,
        Err(e) => {
            return Ok(Json(TestResult {
                ok: false,
                model,
                latency_ms: 0,
                error: Some(e.to_string()),
            }))
        }
    };
    let started = std::time::Instant::now();
    let msgs = [ringside_knowledge::rag::ChatMessage {
        role: "user",
        content: "Answer with the single word OK.".into(),
    }];
    let r = crate::ai::complete(st.fetch_policy, &p, &msgs, |_| {}).await;
    Ok(Json(TestResult {
        ok: r.is_ok(),
        model,
        latency_ms: started.elapsed().as_millis() as u64,
        error: r.err().map(|e| e.to_string()),
    }))
}

/// The stored provider with its key opened.
pub(crate) fn opened(
    link_secret: &crate::http::sealed::LinkSecret,
    p: AiProvider,
) -> Result<crate::ai::Provider, crate::http::sealed::Unsealable> {
    let api_key = match &p.api_key_sealed {
        Some(s) => Some(link_secret.sealer().open(&p.tenant_id, KEY_PURPOSE, s)?),
        None => None,
    };
    Ok(crate::ai::Provider {
        kind: p.kind,
        base_url: p.base_url,
        model: p.model,
        api_version: p.api_version,
        api_key,
        timeout: std::time::Duration::from_secs(p.timeout_secs.clamp(1, MAX_TIMEOUT_SECS) as u64),
    })
}
