//! Who is calling: bearer personal access tokens, dashboard session cookies, and scope checks.
//!
//! Handlers take a [`Scoped<S>`] extractor: 401 without a valid token or session, 403 without
//! scope `S`. Both checks run before the body is read, so a caller without rights never
//! learns whether its body would have been valid.
//!
//! A request with an `Authorization` header is judged by its token alone. Without one, the
//! session cookie is used: the session has every scope its user's role allows, and a request
//! that changes state (any method but GET, HEAD, OPTIONS) must carry the session's CSRF token
//! in `X-CSRF-Token` (403 `csrf_failed` otherwise). [`SignedIn`] is for what only a person in
//! the dashboard may do (their sessions, tokens, the team): bearer tokens are not taken there.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use ringside_storage::{AuthContext, Role, SessionAuth};

use crate::accounts::session;
use crate::{ApiError, AppState};

/// Every scope a token can carry.
pub const SCOPES: &[&str] = &[
    "widgets:read",
    "analytics:read",
    "messages:read",
    "calls:read",
    "mcp:read",
    "webhooks:read",
    "widgets:write",
    "messages:write",
    "webhooks:write",
    "calls:write",
    "sip:read",
    "sip:write",
];

/// Whether `s` is a known scope.
pub fn is_known_scope(s: &str) -> bool {
    SCOPES.contains(&s)
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Auth(pub AuthContext);

impl Auth {
    /// Fail with 403 unless the token has `scope`.
    pub fn require(&self, scope: &'static str) -> Result<&AuthContext, ApiError> {
        if self.0.scopes.iter().any(|s| s == scope) {
            Ok(&self.0)
        } else {
            Err(ApiError::MissingScope(scope))
        }
    }
}

/// A scope, as a type (for [`Scoped`]).
pub trait Scope: Send + Sync + 'static {
    /// The scope's name.
    const NAME: &'static str;
}

macro_rules! scopes {
    ($($ty:ident => $name:literal),* $(,)?) => {
        $(
            #[doc = concat!("The `", $name, "` scope.")]
            #[derive(Debug)]
            pub struct $ty;
            impl Scope for $ty {
                const NAME: &'static str = $name;
            }
        )*
    };
}

scopes! {
    SipRead => "sip:read",
    SipWrite => "sip:write",
    CallsRead => "calls:read",
    CallsWrite => "calls:write",
    WidgetsRead => "widgets:read",
    WidgetsWrite => "widgets:write",
    WebhooksRead => "webhooks:read",
    WebhooksWrite => "webhooks:write",
    MessagesRead => "messages:read",
    MessagesWrite => "messages:write",
    AnalyticsRead => "analytics:read",
}

/// An authenticated caller holding scope `S`.
#[derive(Debug)]
pub struct Scoped<S: Scope>(pub AuthContext, pub std::marker::PhantomData<S>);

impl<S: Scope> FromRequestParts<AppState> for Scoped<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let auth = Auth::from_request_parts(parts, state).await?;
        auth.require(S::NAME)?;
        Ok(Scoped(auth.0, std::marker::PhantomData))
    }
}

/// A caller already authenticated by Ringside itself (the MCP endpoint running a tool through
/// the REST handlers): set as a request extension, which no client can send.
#[derive(Debug, Clone)]
pub struct Delegated(pub(crate) AuthContext);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(Delegated(ctx)) = parts.extensions.get::<Delegated>() {
            crate::accounts::within_widgets(ctx, full_path(parts))?;
            return Ok(Auth(ctx.clone()));
        }
        let Some(header) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
            let signed_in = SignedIn::from_request_parts(parts, state).await?;
            let ctx = crate::accounts::session_context(&signed_in.0);
            crate::accounts::within_widgets(&ctx, full_path(parts))?;
            return Ok(Auth(ctx));
        };
        let header = header.to_str().map_err(|_| ApiError::Unauthorized)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        match state.store.authenticate_token(token).await? {
            Some(ctx) => {
                crate::accounts::within_widgets(&ctx, full_path(parts))?;
                Ok(Auth(ctx))
            }
            None => Err(ApiError::Unauthorized),
        }
    }
}

/// The request's path as the client sent it (before `/api/v1` was stripped by nesting).
fn full_path(parts: &Parts) -> &str {
    parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map_or(parts.uri.path(), |u| u.0.path())
}

/// A person signed in to the dashboard through the session cookie (not a bearer token), with
/// the CSRF token checked on writes.
#[derive(Debug, Clone)]
pub struct SignedIn(pub SessionAuth);

impl SignedIn {
    /// Fail with 403 unless the user is an owner (who manages the team).
    pub fn require_owner(&self) -> Result<&SessionAuth, ApiError> {
        if self.0.role.manages_users() {
            Ok(&self.0)
        } else {
            Err(ApiError::RoleForbidden("the tenant's owners"))
        }
    }

    /// Whether the user sees and manages everyone's tokens (owners and admins).
    pub fn manages_tokens(&self) -> bool {
        matches!(self.0.role, Role::Owner | Role::Admin)
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let secure = session::secure_cookies(&state.public_url);
        let secret =
            session::cookie_secret(&parts.headers, secure).ok_or(ApiError::SignInRequired)?;
        let auth = state
            .accounts
            .session(&state.store, secret)
            .await?
            .ok_or(ApiError::SignInRequired)?;
        if !parts.method.is_safe() {
            let presented = parts
                .headers
                .get(session::CSRF_HEADER)
                .and_then(|v| v.to_str().ok());
            if !state
                .link_secret
                .keys()
                .any(|k| session::csrf_ok(k, &auth.session_id, presented))
            {
                return Err(ApiError::CsrfFailed);
            }
        }
        Ok(SignedIn(auth))
    }
}
