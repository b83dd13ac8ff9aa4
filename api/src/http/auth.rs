//! Bearer personal access tokens and scope checks.
//!
//! Handlers take a [`Scoped<S>`] extractor: 401 without a valid token, 403 without scope `S`.
//! Both checks run before the body is read, so a caller without rights never learns whether
//! its body would have been valid.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use ringside_storage::AuthContext;

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

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(ApiError::Unauthorized)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        match state.store.authenticate_token(token).await? {
            Some(ctx) => Ok(Auth(ctx)),
            None => Err(ApiError::Unauthorized),
        }
    }
}
