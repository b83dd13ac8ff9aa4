//! `/oauth/token` (codes and refresh tokens for tokens) and `/oauth/revoke` (RFC 7009).
//!
//! Parameters come as `application/x-www-form-urlencoded`, each at most once. Confidential
//! clients authenticate with HTTP Basic or `client_secret` in the body; public clients name
//! themselves with `client_id`. A code is checked against everything its authorization
//! request fixed: the client, the exact redirect URI, the PKCE verifier (S256) and the
//! resource. Answers carry `Cache-Control: no-store`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use ringside_storage::{now_ms, Exchange, IssuedTokens, OAuthClient, Revocation, TokenLifetimes};
use sha2::{Digest, Sha256};

use super::{cors, mcp_resource, no_store, offered, OAuthError};
use crate::accounts::routes::ClientIp;
use crate::AppState;

/// Largest token request.
const MAX_FORM: usize = 8 * 1024;

fn bad(error: &'static str, why: impl Into<String>) -> OAuthError {
    OAuthError::new(StatusCode::BAD_REQUEST, error, why)
}

fn invalid_client(why: &str) -> OAuthError {
    OAuthError::new(StatusCode::UNAUTHORIZED, "invalid_client", why)
}

/// The form's parameters; each at most once.
fn form(headers: &HeaderMap, body: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    let ty = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ty
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(bad(
            "invalid_request",
            "send the parameters as application/x-www-form-urlencoded",
        ));
    }
    if body.len() > MAX_FORM {
        return Err(bad("invalid_request", "the request is larger than 8 KiB"));
    }
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if out.insert(k.to_string(), v.into_owned()).is_some() {
            return Err(bad(
                "invalid_request",
                format!("the parameter {k} appears more than once"),
            ));
        }
    }
    Ok(out)
}

fn get<'a>(p: &'a HashMap<String, String>, k: &str) -> Option<&'a str> {
    p.get(k).map(String::as_str).filter(|v| !v.is_empty())
}

/// Parameter `k`, which the request must have.
fn required<'a>(p: &'a HashMap<String, String>, k: &str) -> Result<&'a str, OAuthError> {
    get(p, k).ok_or_else(|| bad("invalid_request", format!("{k} is required")))
}

/// The form of a token or revocation request, after the client address's rate limit.
fn limited_form(
    st: &AppState,
    ip: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<HashMap<String, String>, OAuthError> {
    st.accounts
        .limit_oauth_token(ip)
        .map_err(OAuthError::from_limit)?;
    form(headers, body)
}

/// The client making the request, authenticated (RFC 6749 §2.3).
async fn client(
    st: &AppState,
    headers: &HeaderMap,
    p: &HashMap<String, String>,
) -> Result<OAuthClient, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .map(|b64| {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| invalid_client("the Basic credentials cannot be read"))?;
            let (id, secret) = raw
                .split_once(':')
                .ok_or_else(|| invalid_client("the Basic credentials cannot be read"))?;
            let dec = |s: &str| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            Ok::<_, OAuthError>((dec(id), dec(secret)))
        })
        .transpose()?;
    let (id, secret) = match (&basic, get(p, "client_id")) {
        (Some((id, _)), Some(body_id)) if id != body_id => {
            return Err(invalid_client(
                "client_id differs between the Basic credentials and the body",
            ))
        }
        (Some((id, secret)), _) => (id.clone(), Some(secret.clone())),
        (None, Some(id)) => (id.to_owned(), get(p, "client_secret").map(str::to_owned)),
        (None, None) => return Err(invalid_client("client_id is required")),
    };
    let Some(c) = st.store.oauth_client(&id).await? else {
        return Err(invalid_client(
            "the client is unknown: register it at /oauth/register",
        ));
    };
    if c.confidential() {
        let ok = match &secret {
            Some(s) => st.store.oauth_client_secret_ok(&c.id, s).await?,
            None => false,
        };
        if !ok {
            return Err(invalid_client("the client secret is missing or wrong"));
        }
    }
    Ok(c)
}

/// Whether `verifier` is a PKCE code verifier whose S256 challenge is `challenge`.
pub(crate) fn pkce_ok(verifier: &str, challenge: &str) -> bool {
    let shaped = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    shaped
        && base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.as_bytes()))
            == challenge
}

fn lifetimes(st: &AppState) -> TokenLifetimes {
    let ms = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    TokenLifetimes {
        access_ms: ms(st.accounts.config.oauth_access_ttl),
        refresh_ms: ms(st.accounts.config.oauth_refresh_ttl),
    }
}

/// A token response (RFC 6749 section 5.1).
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct TokenAnswer {
    /// The access token, for `Authorization: Bearer` on `/mcp` only.
    access_token: String,
    /// `Bearer`.
    #[schemars(extend("enum" = ["Bearer"]))]
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: i64,
    /// The refresh token; each use answers a new one (the old one then stops working).
    refresh_token: String,
    /// The scopes granted, space-separated.
    #[schemars(example = &"mcp:read widgets:read")]
    scope: String,
}

fn issued(t: IssuedTokens) -> Response {
    cors(no_store(
        Json(TokenAnswer {
            access_token: t.access_token,
            token_type: "Bearer",
            expires_in: t.expires_in_secs,
            refresh_token: t.refresh_token,
            scope: t.scopes.join(" "),
        })
        .into_response(),
    ))
}

/// `POST /oauth/token`.
pub(crate) async fn token(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let p = limited_form(&st, ip, &headers, &body)?;
    let grant_type = required(&p, "grant_type")?.to_owned();
    let c = client(&st, &headers, &p).await?;
    let own = mcp_resource(&st);
    let resource = get(&p, "resource").map(|r| r.trim_end_matches('/').to_owned());
    if let Some(r) = &resource {
        if *r != own {
            return Err(bad(
                "invalid_target",
                format!("resource {r} is not served here; tokens are for {own}"),
            ));
        }
    }
    let now = now_ms();
    match grant_type.as_str() {
        "authorization_code" => {
            let code = required(&p, "code")?;
            let redirect_uri = required(&p, "redirect_uri")?;
            let verifier = get(&p, "code_verifier").ok_or_else(|| {
                bad(
                    "invalid_request",
                    "code_verifier is required (PKCE, RFC 7636)",
                )
            })?;
            let outcome = st
                .store
                .exchange_oauth_code(code, now, lifetimes(&st), |stored| {
                    if stored.client_id != c.id {
                        return Err(("invalid_grant", "the code was issued to another client"));
                    }
                    if stored.redirect_uri != redirect_uri {
                        return Err((
                            "invalid_grant",
                            "redirect_uri differs from the authorization request's",
                        ));
                    }
                    if !pkce_ok(verifier, &stored.challenge) {
                        return Err((
                            "invalid_grant",
                            "code_verifier does not match the code_challenge",
                        ));
                    }
                    if resource.as_ref().is_some_and(|r| *r != stored.resource) {
                        return Err((
                            "invalid_target",
                            "resource differs from the authorization request's",
                        ));
                    }
                    Ok(())
                })
                .await?;
            match outcome {
                Exchange::Issued(t) => Ok(issued(t)),
                Exchange::Unknown => Err(bad(
                    "invalid_grant",
                    "the code is unknown, used or expired: authorize again",
                )),
                Exchange::Replayed => Err(bad(
                    "invalid_grant",
                    "the code was already used; the tokens it gave are revoked: authorize again",
                )),
                Exchange::Refused((error, why)) => Err(bad(error, why)),
            }
        }
        "refresh_token" => {
            let refresh = required(&p, "refresh_token")?;
            if let Some(s) = get(&p, "scope") {
                if let Some(x) = s.split(' ').find(|x| !x.is_empty() && !offered(x)) {
                    return Err(bad("invalid_scope", format!("scope {x} is not offered")));
                }
            }
            match st
                .store
                .refresh_oauth_grant(refresh, &c.id, now, lifetimes(&st))
                .await?
            {
                Exchange::Issued(t) => Ok(issued(t)),
                Exchange::Unknown => Err(bad(
                    "invalid_grant",
                    "the refresh token is unknown, expired or revoked: authorize again",
                )),
                Exchange::Replayed => Err(bad(
                    "invalid_grant",
                    "the refresh token was already used, so the connection is revoked: authorize again",
                )),
                Exchange::Refused(()) => Err(bad(
                    "invalid_grant",
                    "the refresh token was issued to another client",
                )),
            }
        }
        other => Err(bad(
            "unsupported_grant_type",
            format!("grant_type {other} is not supported (authorization_code, refresh_token)"),
        )),
    }
}

/// `POST /oauth/revoke` (RFC 7009): 200 whether or not the token was valid.
pub(crate) async fn revoke(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let p = limited_form(&st, ip, &headers, &body)?;
    let token = required(&p, "token")?.to_owned();
    let c = client(&st, &headers, &p).await?;
    match st.store.revoke_oauth_token(&token, &c.id, now_ms()).await? {
        Revocation::Done => Ok(cors(no_store(StatusCode::OK.into_response()))),
        Revocation::OtherClient => Err(bad(
            "invalid_request",
            "the token was issued to another client",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_as_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_ok(verifier, challenge));
        assert!(!pkce_ok(challenge, challenge));
        assert!(!pkce_ok("short", challenge));
        assert!(!pkce_ok(&format!("{verifier}x"), challenge));
    }
}
