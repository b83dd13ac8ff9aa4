//! The OAuth 2.1 authorization server that lets AI assistants connect to `/mcp` by URL alone
//! (a Claude custom connector, an IDE's MCP client): they discover it, register, send the user
//! here to sign in with an emailed code and consent, and get short-lived tokens for `/mcp`.
//!
//! - Discovery: `/.well-known/oauth-protected-resource/mcp` (RFC 9728; the resource is
//!   `RINGSIDE_PUBLIC_URL` + `/mcp`, also at the root path) names this server as the
//!   authorization server; `/.well-known/oauth-authorization-server` (RFC 8414) describes it.
//!   The public URL is the issuer.
//! - Clients: `/oauth/register` (RFC 7591) or a Client ID Metadata Document ([`clients`]).
//! - `/oauth/authorize` ([`authorize`]): the authorization code flow with PKCE (S256 only),
//!   the user signing in with an emailed code (or already signed in to the dashboard) and
//!   consenting on a plain HTML form. The token is bound to the resource (RFC 8707).
//! - `/oauth/token` and `/oauth/revoke` ([`token`]): codes for tokens, rotating refresh tokens
//!   (a replayed one revokes the grant), revocation (RFC 7009).
//!
//! Access tokens (`ringside_oat_…`, an hour) work on `/mcp` only: the REST API takes personal
//! access tokens and sessions, and refuses these with 401. People see and disconnect the apps
//! they connected under Settings → Connected apps.

mod authorize;
mod clients;
pub(crate) mod grants;
mod token;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::openapi::{Auth, Body, DocRouter, Spec};
use crate::{ApiError, AppState};

/// Scopes an OAuth client may ask for: what the MCP tools use.
pub(crate) const OAUTH_SCOPES: &[&str] = &[
    "mcp:read",
    "widgets:read",
    "analytics:read",
    "messages:read",
    "calls:read",
    "webhooks:read",
    "widgets:write",
    "messages:write",
    "webhooks:write",
];

/// What a client gets when it asks for no scope: read everything the tools read.
pub(crate) const DEFAULT_SCOPES: &[&str] = &[
    "mcp:read",
    "widgets:read",
    "analytics:read",
    "messages:read",
    "calls:read",
    "webhooks:read",
];

/// Whether a client may ask for `scope`.
pub(crate) fn offered(scope: &str) -> bool {
    OAUTH_SCOPES.contains(&scope)
}

/// What a scope lets an assistant do, for the consent page.
pub(crate) fn scope_text(scope: &str) -> &'static str {
    match scope {
        "mcp:read" => "Use Ringside's tools (required)",
        "widgets:read" => "See your widgets, their settings and install snippets",
        "analytics:read" => "See visitors, visits and campaign reports",
        "messages:read" => "Read chats and contacts",
        "calls:read" => "See calls, waiting calls and recordings",
        "webhooks:read" => "See your webhooks",
        "widgets:write" => "Change widgets (campaign aliases)",
        "messages:write" => "Send chat messages, make conversation links, edit contacts",
        "webhooks:write" => "Create webhooks",
        _ => "",
    }
}

/// The issuer: the public URL without a trailing slash.
pub(crate) fn issuer(st: &AppState) -> &str {
    st.public_url.trim_end_matches('/')
}

/// The protected resource: `/mcp` of the public URL.
pub(crate) fn mcp_resource(st: &AppState) -> String {
    format!("{}/mcp", issuer(st))
}

/// An OAuth error answer: `{"error", "error_description"}` (RFC 6749 §5.2, RFC 7591 §3.2.2).
#[derive(Debug)]
pub(crate) struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    retry_after: Option<u64>,
}

impl OAuthError {
    pub(crate) fn new(
        status: StatusCode,
        error: &'static str,
        description: impl Into<String>,
    ) -> OAuthError {
        OAuthError {
            status,
            error,
            description: description.into(),
            retry_after: None,
        }
    }

    /// 503 while the database is unreachable.
    pub(crate) fn unavailable() -> OAuthError {
        OAuthError {
            retry_after: Some(2),
            ..OAuthError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "Ringside cannot reach its database right now; retry shortly",
            )
        }
    }

    /// 429 from a rate limit (or whatever else the limiter answered).
    pub(crate) fn from_limit(e: ApiError) -> OAuthError {
        match e {
            ApiError::TooManyRequests { retry_after_secs } => OAuthError {
                retry_after: Some(retry_after_secs),
                ..OAuthError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "slow_down",
                    format!(
                        "too many requests from this address; retry after {retry_after_secs} s"
                    ),
                )
            },
            _ => OAuthError::unavailable(),
        }
    }
}

impl From<ringside_storage::StorageError> for OAuthError {
    fn from(e: ringside_storage::StorageError) -> Self {
        tracing::warn!(error = %e, "oauth: storage");
        OAuthError::unavailable()
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            Json(json!({"error": self.error, "error_description": self.description})),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"ringside\""),
            );
        }
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        cors(no_store(r))
    }
}

/// `Cache-Control: no-store` (token and registration answers, RFC 6749 §5.1).
pub(crate) fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

/// Lets browser-based MCP clients read the answer (metadata, registration, tokens carry no
/// cookie and need none).
pub(crate) fn cors(mut r: Response) -> Response {
    r.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    r
}

async fn preflight() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type, mcp-protocol-version"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    r
}

/// Protected resource metadata (RFC 9728).
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct ResourceMetadata {
    /// The protected resource: `RINGSIDE_PUBLIC_URL` + `/mcp`.
    #[schemars(extend("format" = "uri"))]
    resource: String,
    /// The issuer that grants tokens for it (this server).
    authorization_servers: Vec<String>,
    /// Scopes a token for it may carry.
    scopes_supported: &'static [&'static str],
    /// How to send the token: `header` (`Authorization: Bearer`).
    bearer_methods_supported: &'static [&'static str],
    /// `Ringside`.
    resource_name: &'static str,
    /// The API's OpenAPI document.
    resource_documentation: String,
}

/// Authorization server metadata (RFC 8414).
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct ServerMetadata {
    /// `RINGSIDE_PUBLIC_URL`.
    issuer: String,
    /// The sign-in and consent page.
    authorization_endpoint: String,
    /// Codes and refresh tokens for tokens.
    token_endpoint: String,
    /// Dynamic client registration (RFC 7591).
    registration_endpoint: String,
    /// Token revocation (RFC 7009).
    revocation_endpoint: String,
    /// Scopes clients may ask for.
    scopes_supported: &'static [&'static str],
    /// `code`.
    response_types_supported: &'static [&'static str],
    /// `query`.
    response_modes_supported: &'static [&'static str],
    /// `authorization_code`, `refresh_token`.
    grant_types_supported: &'static [&'static str],
    /// `S256` only.
    code_challenge_methods_supported: &'static [&'static str],
    /// `none`, `client_secret_post`, `client_secret_basic`.
    token_endpoint_auth_methods_supported: &'static [&'static str],
    /// The same, for revocation.
    revocation_endpoint_auth_methods_supported: &'static [&'static str],
    /// An HTTPS URL whose JSON document describes the client may be its client_id.
    client_id_metadata_document_supported: bool,
    /// Redirects carry `iss` (RFC 9207).
    authorization_response_iss_parameter_supported: bool,
    /// The API's OpenAPI document.
    service_documentation: String,
}

const CLIENT_AUTH: &[&str] = &["none", "client_secret_post", "client_secret_basic"];

async fn resource_metadata(State(st): State<AppState>) -> Response {
    cors(
        Json(ResourceMetadata {
            resource: mcp_resource(&st),
            authorization_servers: vec![issuer(&st).to_owned()],
            scopes_supported: OAUTH_SCOPES,
            bearer_methods_supported: &["header"],
            resource_name: "Ringside",
            resource_documentation: format!("{}/openapi.json", issuer(&st)),
        })
        .into_response(),
    )
}

async fn server_metadata(State(st): State<AppState>) -> Response {
    let base = issuer(&st);
    cors(
        Json(ServerMetadata {
            authorization_endpoint: format!("{base}/oauth/authorize"),
            token_endpoint: format!("{base}/oauth/token"),
            registration_endpoint: format!("{base}/oauth/register"),
            revocation_endpoint: format!("{base}/oauth/revoke"),
            scopes_supported: OAUTH_SCOPES,
            response_types_supported: &["code"],
            response_modes_supported: &["query"],
            grant_types_supported: &["authorization_code", "refresh_token"],
            code_challenge_methods_supported: &["S256"],
            token_endpoint_auth_methods_supported: CLIENT_AUTH,
            revocation_endpoint_auth_methods_supported: CLIENT_AUTH,
            client_id_metadata_document_supported: true,
            authorization_response_iss_parameter_supported: true,
            service_documentation: format!("{base}/openapi.json"),
            issuer: base.to_owned(),
        })
        .into_response(),
    )
}

/// The OAuth routes (at the root: the discovery paths are fixed by the RFCs).
pub(crate) fn routes() -> DocRouter {
    const T: &str = "OAuth";
    let meta = |s| Spec::new(T, Auth::Public, s);
    let form = |s| {
        Spec::new(T, Auth::Public, s).body(Body::Form(
            "application/x-www-form-urlencoded parameters as RFC 6749 names them",
        ))
    };
    DocRouter::new("")
        .get(
            "/.well-known/oauth-protected-resource/mcp",
            resource_metadata,
            meta("Protected resource metadata of /mcp (RFC 9728)").returns::<ResourceMetadata>(),
        )
        .get(
            "/.well-known/oauth-protected-resource",
            resource_metadata,
            meta("Protected resource metadata of /mcp, at the root path (RFC 9728)")
                .returns::<ResourceMetadata>(),
        )
        .get(
            "/.well-known/oauth-authorization-server",
            server_metadata,
            meta("Authorization server metadata (RFC 8414)").returns::<ServerMetadata>(),
        )
        .post(
            "/oauth/register",
            clients::register,
            Spec::new(
                T,
                Auth::Public,
                "Register an OAuth client (RFC 7591): redirect_uris (https, http to loopback, \
                 or an app's own scheme), client_name, token_endpoint_auth_method (none, \
                 client_secret_post, client_secret_basic)",
            )
            .body(Body::Json("Client metadata (RFC 7591)"))
            .ok(201, "The client: client_id (and client_secret when confidential)")
            .returns::<clients::Registered>()
            .also(&[
                (400, "invalid_redirect_uri or invalid_client_metadata"),
                (429, "Too many registrations from this address"),
                (503, "The database is unreachable for now"),
            ]),
        )
        .get(
            "/oauth/authorize",
            authorize::start,
            Spec::new(
                T,
                Auth::Public,
                "Start an authorization (code flow with PKCE S256): the sign-in or consent \
                 page; errors after the client and redirect URI are known go back to the client",
            )
            .query(&[
                ("response_type", "code"),
                ("client_id", "The client"),
                ("redirect_uri", "One of the client's redirect URIs"),
                ("code_challenge", "PKCE S256 challenge"),
                ("code_challenge_method", "S256"),
                ("state", "Opaque, returned to the client"),
                ("scope", "Space-separated scopes (default: read)"),
                ("resource", "The resource: this server's /mcp (RFC 8707)"),
            ])
            .content("text/html")
            .also(&[
                (303, "To the client's redirect URI with an error"),
                (400, "Unknown client or redirect URI (an HTML page: nothing is sent back)"),
            ]),
        )
        .post(
            "/oauth/authorize",
            authorize::submit,
            Spec::new(
                T,
                Auth::Public,
                "The sign-in and consent forms (step=email, code, consent)",
            )
            .body(Body::Form("req (the signed request), step, email, code, csrf, decision, scope"))
            .content("text/html")
            .also(&[
                (303, "Consent given or refused: back to the client's redirect URI"),
                (400, "The request was altered or expired (an HTML page)"),
                (403, "Consent without a session or with a wrong form token (an HTML page)"),
                (429, "Too many codes or sign-in tries (an HTML page)"),
                (503, "The database is unreachable for now (an HTML page)"),
            ]),
        )
        .post(
            "/oauth/token",
            token::token,
            form("Exchange a code (grant_type=authorization_code, code, redirect_uri, \
                  client_id, code_verifier, resource) or a refresh token \
                  (grant_type=refresh_token, refresh_token, client_id) for tokens")
                .returns::<token::TokenAnswer>()
                .also(&[
                (400, "invalid_request, invalid_grant, invalid_target, invalid_scope or unsupported_grant_type"),
                (401, "invalid_client: the client is unknown or its secret is wrong"),
                (429, "Too many token requests from this address"),
                (503, "The database is unreachable for now"),
            ]),
        )
        .post(
            "/oauth/revoke",
            token::revoke,
            form("Revoke an access or refresh token (RFC 7009; a refresh token ends its grant)")
                .ok(200, "Revoked, or the token was not valid: an empty answer")
                .content("")
                .also(&[
                    (400, "invalid_request: no token, or the token is another client's"),
                    (401, "invalid_client: the client is unknown or its secret is wrong"),
                    (429, "Too many requests from this address"),
                    (503, "The database is unreachable for now"),
                ]),
        )
        .preflight("/.well-known/oauth-protected-resource/mcp", preflight)
        .preflight("/.well-known/oauth-protected-resource", preflight)
        .preflight("/.well-known/oauth-authorization-server", preflight)
        .preflight("/oauth/register", preflight)
        .preflight("/oauth/token", preflight)
        .preflight("/oauth/revoke", preflight)
}
