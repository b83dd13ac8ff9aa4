//! Personal access tokens: `GET|POST /tokens`, `DELETE /tokens/{id}`. A token's scopes never
//! exceed what its creator's role allows; the secret is shown once.

use super::*;

/// A token as listed: never its secret.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenView {
    /// The token id (not secret).
    id: String,
    /// Its label.
    name: String,
    /// What it may do.
    #[schemars(example = ["mcp:read", "widgets:read"])]
    scopes: Vec<String>,
    /// The user who made it; it acts as them.
    user_id: String,
    /// Created, Unix milliseconds.
    created_at: i64,
    /// Last used (minute resolution), Unix milliseconds.
    last_used_at: Option<i64>,
    /// Revoked, Unix milliseconds; a revoked token is refused.
    revoked_at: Option<i64>,
    /// The secret (`ringside_pat_...`), only in the answer that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

/// Answer of `GET /api/v1/tokens`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TokenList {
    /// Oldest first.
    data: Vec<TokenView>,
}

pub(super) fn token_view(t: TokenInfo, secret: Option<String>) -> TokenView {
    TokenView {
        id: t.id,
        name: t.name,
        scopes: t.scopes,
        user_id: t.user_id,
        created_at: t.created_at,
        last_used_at: t.last_used_at,
        revoked_at: t.revoked_at,
        token: secret,
    }
}

pub(super) async fn list_tokens(
    State(st): State<AppState>,
    who: SignedIn,
) -> Result<Json<TokenList>, ApiError> {
    let all = st.store.list_tokens(&who.0.tenant_id).await?;
    let data: Vec<TokenView> = all
        .into_iter()
        .filter(|t| who.manages_tokens() || t.user_id == who.0.user_id)
        .map(|t| token_view(t, None))
        .collect();
    Ok(Json(TokenList { data }))
}

/// A token to make.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// Its label (1 to 100 characters).
    #[schemars(length(min = 1, max = 100), example = &"Weekly report")]
    name: String,
    /// What it may do (at most what the user's role allows).
    #[schemars(schema_with = "scope_list")]
    scopes: Vec<String>,
}

/// A list of scopes: those a token can carry.
pub(super) fn scope_list(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "minItems": 1,
        "items": {"type": "string", "enum": crate::auth::SCOPES},
        "examples": [["mcp:read", "widgets:read", "analytics:read"]],
    })
}

pub(super) async fn create_token(
    State(st): State<AppState>,
    SignedIn(auth): SignedIn,
    ApiJson(b): ApiJson<CreateToken>,
) -> Result<Response, ApiError> {
    if b.name.trim().is_empty() || b.name.chars().count() > 100 {
        return Err(ApiError::InvalidField {
            field: "name",
            reason: "1 to 100 characters",
        });
    }
    let mut scopes: Vec<String> = Vec::new();
    for s in &b.scopes {
        if !is_known_scope(s) {
            return Err(ApiError::InvalidField {
                field: "scopes",
                reason: "unknown scope",
            });
        }
        if !auth.role.allows(s) {
            return Err(ApiError::ScopeNotAllowed(s.clone()));
        }
        if !scopes.contains(s) {
            scopes.push(s.clone());
        }
    }
    if scopes.is_empty() {
        return Err(ApiError::InvalidField {
            field: "scopes",
            reason: "at least one scope",
        });
    }
    let (info, secret) = st
        .store
        .create_token(&auth.user_id, b.name.trim(), &scopes)
        .await?;
    Ok((StatusCode::CREATED, Json(token_view(info, Some(secret)))).into_response())
}

pub(super) async fn revoke_token(
    State(st): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !who.manages_tokens() {
        // Agents revoke their own tokens only; another's answers as missing.
        let mine = st
            .store
            .list_tokens(&who.0.tenant_id)
            .await?
            .into_iter()
            .any(|t| t.id == id && t.user_id == who.0.user_id);
        if !mine {
            return Err(ApiError::NotFound);
        }
    }
    st.store.revoke_token(&who.0.tenant_id, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
