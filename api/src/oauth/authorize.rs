//! `/oauth/authorize`: the authorization code flow's browser side, as plain HTML forms (no
//! script needed; a headless client can drive it with form posts).
//!
//! `GET` checks the request in the order RFC 6749 §4.1.2.1 asks: first the client and its
//! redirect URI (when either is wrong nothing is sent anywhere: the page says so), then
//! everything else (an error goes back to the redirect URI with `state`). A valid request is
//! carried through the forms as `req`, its parameters signed with the server's key and good
//! for [`REQUEST_TTL_MS`]: a form cannot change the client, redirect URI, challenge, scopes or
//! state on the way (a changed one is refused).
//!
//! A signed-in dashboard user goes straight to the consent page; anyone else signs in first
//! (`step=email` mails a code, `step=code` checks it and opens a dashboard session, then the
//! consent page). Consent (`step=consent`) needs the session cookie and its CSRF token in the
//! form; the user may untick scopes, never add any, and never beyond their role. The answer
//! is a 303 to the redirect URI with `code`, `state` and `iss` (RFC 9207).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use ringside_storage::{now_ms, NewOAuthCode, OAuthClient, SessionAuth, User};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{clients, issuer, mcp_resource, offered, scope_text, DEFAULT_SCOPES};
use crate::accounts::routes::{send_code, sign_in_with_code, ClientIp};
use crate::accounts::session::{csrf_ok, csrf_token, secure_cookies, set_cookie};
use crate::dashboard::page::{html, layout, signed_in};
use crate::extract::html_escape as esc;
use crate::{ApiError, AppState};

/// How long a started authorization may take (sign-in included).
pub(crate) const REQUEST_TTL_MS: i64 = 15 * 60 * 1000;
/// Largest form accepted.
const MAX_FORM: usize = 16 * 1024;

/// A checked authorization request, as the forms carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AuthzRequest {
    #[serde(rename = "c")]
    pub client_id: String,
    #[serde(rename = "r")]
    pub redirect_uri: String,
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(rename = "ch")]
    pub challenge: String,
    #[serde(rename = "sc")]
    pub scopes: Vec<String>,
    #[serde(rename = "rs")]
    pub resource: String,
    /// Expiry, unix ms.
    #[serde(rename = "e")]
    pub expires_at: i64,
}

fn mac(key: &[u8; 32]) -> Hmac<Sha256> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(b"ringside-oauth-request\n");
    m
}

/// `req`: the request's JSON in base64url, a dot, its MAC in hex.
pub(crate) fn seal(key: &[u8; 32], r: &AuthzRequest) -> String {
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(r).expect("serializable"));
    let mut m = mac(key);
    m.update(payload.as_bytes());
    format!("{payload}.{}", hex::encode(m.finalize().into_bytes()))
}

/// The request `sealed` carries, if its MAC is right and it has not expired at `now`.
pub(crate) fn open(key: &[u8; 32], sealed: &str, now: i64) -> Option<AuthzRequest> {
    let (payload, tag) = sealed.trim().split_once('.')?;
    let mut m = mac(key);
    m.update(payload.as_bytes());
    m.verify_slice(&hex::decode(tag).ok()?).ok()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let r: AuthzRequest = serde_json::from_slice(&bytes).ok()?;
    (now < r.expires_at).then_some(r)
}

/// Whether `c` is a PKCE code challenge (S256: 43 base64url characters; RFC 7636 allows the
/// unreserved set, 43 to 128).
fn challenge_ok(c: &str) -> bool {
    (43..=128).contains(&c.len())
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Query or form parameters; `None` when one of `single` appears twice (RFC 6749 §3.1).
fn params(raw: &[u8], single: &[&str]) -> Option<HashMap<String, Vec<String>>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw) {
        out.entry(k.into_owned()).or_default().push(v.into_owned());
    }
    if single
        .iter()
        .any(|k| out.get(*k).is_some_and(|l| l.len() > 1))
    {
        return None;
    }
    Some(out)
}

fn one<'a>(p: &'a HashMap<String, Vec<String>>, k: &str) -> Option<&'a str> {
    p.get(k)
        .and_then(|l| l.first())
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

/// The redirect URI with `pairs` added to its query.
fn back_to(redirect_uri: &str, pairs: &[(&str, &str)]) -> String {
    let mut u = match url::Url::parse(redirect_uri) {
        Ok(u) => u,
        Err(_) => return redirect_uri.to_owned(),
    };
    {
        let mut q = u.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    u.to_string()
}

fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Sends the browser back to the client with an error (RFC 6749 §4.1.2.1).
fn error_back(st: &AppState, r: &AuthzRequest, error: &str, description: &str) -> Response {
    let mut pairs = vec![("error", error), ("error_description", description)];
    if let Some(s) = &r.state {
        pairs.push(("state", s));
    }
    let iss = issuer(st).to_owned();
    pairs.push(("iss", &iss));
    see_other(&back_to(&r.redirect_uri, &pairs))
}

/// A page of the flow. `redirect_to` (the client's redirect URI) is allowed as a form
/// target: after the consent form the browser follows the 303 there, and browsers hold
/// redirects after a form post to the page's `form-action` too.
fn page(status: StatusCode, title: &str, main: &str, redirect_to: Option<&str>) -> Response {
    let mut r = html(status, layout(title, None, true, "", main));
    let target = redirect_to
        .and_then(|u| url::Url::parse(u).ok())
        .map(|u| match u.scheme() {
            "http" | "https" => u.origin().ascii_serialization(),
            s => format!("{s}:"),
        })
        .unwrap_or_default();
    let csp = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self' {target}"
    );
    if let Ok(v) = HeaderValue::from_str(csp.trim_end()) {
        r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    r.headers_mut()
        .insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // `same-origin`, not `no-referrer`: with the latter browsers send `Origin: null` on the
    // forms' posts, and the posts are checked for this server's own origin. Nothing leaves
    // for another site either way.
    r.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    r
}

fn error_page(status: StatusCode, message: &str) -> Response {
    page(
        status,
        "Cannot connect this app",
        &format!(
            "<div class=\"alert error\" role=\"alert\">{}</div>\
             <p>Nothing was shared. Go back to the app and connect again.</p>",
            esc(message)
        ),
        None,
    )
}

fn hidden(req: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"req\" value=\"{}\">",
        esc(req)
    )
}

fn alert(message: Option<&str>) -> String {
    message
        .map(|m| format!("<div class=\"alert error\" role=\"alert\">{}</div>", esc(m)))
        .unwrap_or_default()
}

fn who_asks(client: &OAuthClient, redirect_uri: &str) -> String {
    let dest = url::Url::parse(redirect_uri)
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(str::to_owned)
                .or(Some(u.scheme().to_owned()))
        })
        .unwrap_or_default();
    format!(
        "<p><strong>{}</strong> wants to connect to your Ringside account. \
         It will be answered at <code>{}</code>.</p>",
        esc(&client.name),
        esc(&dest)
    )
}

fn email_page(
    status: StatusCode,
    client: &OAuthClient,
    r: &AuthzRequest,
    req: &str,
    message: Option<&str>,
) -> Response {
    let main = format!(
        "{}{}<form method=\"post\" action=\"/oauth/authorize\" class=\"card\">{}\
         <input type=\"hidden\" name=\"step\" value=\"email\">\
         <label for=\"oauth-email\">Sign in to Ringside: your email address</label>\
         <input id=\"oauth-email\" name=\"email\" type=\"email\" autocomplete=\"email\" required>\
         <p class=\"hint\">We mail you a 6-digit code. No password.</p>\
         <div class=\"actions\"><button type=\"submit\">Email me a code</button></div></form>",
        alert(message),
        who_asks(client, &r.redirect_uri),
        hidden(req)
    );
    page(status, "Sign in to connect", &main, None)
}

fn code_page(
    status: StatusCode,
    client: &OAuthClient,
    r: &AuthzRequest,
    req: &str,
    email: &str,
    message: Option<&str>,
) -> Response {
    let main = format!(
        "{}{}<form method=\"post\" action=\"/oauth/authorize\" class=\"card\">{}\
         <input type=\"hidden\" name=\"step\" value=\"code\">\
         <input type=\"hidden\" name=\"email\" value=\"{e}\">\
         <label for=\"oauth-code\">Code sent to {e}</label>\
         <input id=\"oauth-code\" name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" \
         pattern=\"[0-9]{{6}}\" maxlength=\"6\" required>\
         <div class=\"actions\"><button type=\"submit\">Sign in</button></div></form>",
        alert(message),
        who_asks(client, &r.redirect_uri),
        hidden(req),
        e = esc(email),
    );
    page(status, "Enter your code", &main, None)
}

fn consent_page(
    st: &AppState,
    client: &OAuthClient,
    r: &AuthzRequest,
    req: &str,
    auth: &SessionAuth,
    user: &User,
) -> Response {
    let mut boxes = String::new();
    let mut refused = Vec::new();
    for s in &r.scopes {
        if !auth.role.allows(s) {
            refused.push(s.as_str());
            continue;
        }
        let (attrs, name) = if s == "mcp:read" {
            (" checked disabled", "")
        } else {
            (" checked", " name=\"scope\"")
        };
        boxes.push_str(&format!(
            "<label><input type=\"checkbox\"{name} value=\"{v}\"{attrs}> {t} <code>{v}</code></label><br>",
            v = esc(s),
            t = esc(scope_text(s)),
        ));
    }
    let not_yours = if refused.is_empty() {
        String::new()
    } else {
        format!(
            "<p class=\"hint\">Not available to your role ({}): {}</p>",
            auth.role.as_str(),
            esc(&refused.join(", "))
        )
    };
    let home = client
        .client_uri
        .as_deref()
        .map(|u| {
            format!(
                "<p class=\"hint\">The app's site: <a href=\"{0}\" rel=\"noopener noreferrer\">{0}</a></p>",
                esc(u)
            )
        })
        .unwrap_or_default();
    let main = format!(
        "{}{home}<p>Signed in as <strong>{}</strong>.</p>\
         <form method=\"post\" action=\"/oauth/authorize\" class=\"card\">{}\
         <input type=\"hidden\" name=\"step\" value=\"consent\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <fieldset><legend>Allow {} to</legend>{boxes}</fieldset>{not_yours}\
         <p class=\"hint\">You can disconnect it at any time under Settings → Connected apps.</p>\
         <div class=\"actions\"><button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button> \
         <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button></div></form>",
        who_asks(client, &r.redirect_uri),
        esc(&user.email),
        hidden(req),
        csrf_token(&st.link_secret, &auth.session_id),
        esc(&client.name),
    );
    page(
        StatusCode::OK,
        "Connect an app",
        &main,
        Some(&r.redirect_uri),
    )
}

/// Checks an authorization request's parameters once the client and redirect URI are known.
/// The error and its description, to send back to the client.
fn check_request(
    st: &AppState,
    p: &HashMap<String, Vec<String>>,
) -> Result<(String, Vec<String>, String), (&'static str, String)> {
    match one(p, "response_type") {
        Some("code") => {}
        None => return Err(("invalid_request", "response_type=code is required".into())),
        Some(_) => {
            return Err((
                "unsupported_response_type",
                "only response_type=code is supported".into(),
            ))
        }
    }
    let challenge = one(p, "code_challenge").unwrap_or("");
    if !challenge_ok(challenge) {
        return Err((
            "invalid_request",
            "code_challenge is required (PKCE with S256, RFC 7636)".into(),
        ));
    }
    if one(p, "code_challenge_method") != Some("S256") {
        return Err((
            "invalid_request",
            "code_challenge_method must be S256 (plain is not accepted)".into(),
        ));
    }
    let own = mcp_resource(st);
    let resource = match one(p, "resource") {
        None => own,
        Some(r) if r.trim_end_matches('/') == own => own,
        Some(r) => {
            return Err((
                "invalid_target",
                format!("resource {r} is not served here; the resource is {own}"),
            ))
        }
    };
    let mut scopes: Vec<String> = Vec::new();
    for s in one(p, "scope")
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
    {
        if !offered(s) {
            return Err((
                "invalid_scope",
                format!(
                    "scope {s} is not offered; ask for: {}",
                    super::OAUTH_SCOPES.join(" ")
                ),
            ));
        }
        if !scopes.iter().any(|x| x == s) {
            scopes.push(s.to_owned());
        }
    }
    if scopes.is_empty() {
        scopes = DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect();
    }
    if !scopes.iter().any(|s| s == "mcp:read") {
        scopes.insert(0, "mcp:read".into());
    }
    Ok((challenge.to_owned(), scopes, resource))
}

const SINGLE: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "code_challenge",
    "code_challenge_method",
    "state",
    "scope",
    "resource",
];

/// Whether the request's `Origin`, when it has one, is this server's public origin.
fn same_origin(st: &AppState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let own = url::Url::parse(&st.public_url)
        .ok()
        .map(|u| u.origin().ascii_serialization());
    origin.to_str().ok() == own.as_deref()
}

/// `GET /oauth/authorize`.
pub(crate) async fn start(
    State(st): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let Some(p) = params(uri.query().unwrap_or("").as_bytes(), SINGLE) else {
        return Ok(error_page(
            StatusCode::BAD_REQUEST,
            "The request repeats a parameter.",
        ));
    };
    let Some(client_id) = one(&p, "client_id") else {
        return Ok(error_page(
            StatusCode::BAD_REQUEST,
            "The request does not say which app is asking (client_id).",
        ));
    };
    let client = match clients::find(&st, client_id).await {
        Ok(c) => c,
        Err(why) => return Ok(error_page(StatusCode::BAD_REQUEST, &why)),
    };
    let redirect_uri = match one(&p, "redirect_uri") {
        Some(u) => u.to_owned(),
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        None => {
            return Ok(error_page(
                StatusCode::BAD_REQUEST,
                "The request does not say where to answer (redirect_uri).",
            ))
        }
    };
    if !clients::redirect_matches(&client.redirect_uris, &redirect_uri) {
        return Ok(error_page(
            StatusCode::BAD_REQUEST,
            "The app asked to be answered at an address it did not register (redirect_uri).",
        ));
    }
    let mut r = AuthzRequest {
        client_id: client.id.clone(),
        redirect_uri,
        state: one(&p, "state").map(str::to_owned),
        challenge: String::new(),
        scopes: Vec::new(),
        resource: String::new(),
        expires_at: now_ms() + REQUEST_TTL_MS,
    };
    match check_request(&st, &p) {
        Ok((challenge, scopes, resource)) => {
            r.challenge = challenge;
            r.scopes = scopes;
            r.resource = resource;
        }
        Err((error, description)) => return Ok(error_back(&st, &r, error, &description)),
    }
    let req = seal(&st.link_secret, &r);
    Ok(match signed_in(&st, &headers).await? {
        Some((auth, user)) => consent_page(&st, &client, &r, &req, &auth, &user),
        None => email_page(StatusCode::OK, &client, &r, &req, None),
    })
}

/// `POST /oauth/authorize`: the forms.
pub(crate) async fn submit(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    // The forms are posted from this server's own pages: a cross-site post (signing a
    // browser in to someone else's account, say) is refused, and so is `Origin: null` (a
    // page that hides where it is).
    if !same_origin(&st, &headers) {
        return Ok(error_page(
            StatusCode::FORBIDDEN,
            "This form can only be sent from Ringside's own page.",
        ));
    }
    let form = if body.len() > MAX_FORM {
        None
    } else {
        params(&body, &["req", "step", "email", "code", "csrf", "decision"])
    };
    let Some(form) = form else {
        return Ok(error_page(
            StatusCode::BAD_REQUEST,
            "The form was not understood.",
        ));
    };
    let sealed = one(&form, "req").unwrap_or("");
    let Some(r) = st
        .link_secret
        .keys()
        .find_map(|k| open(k, sealed, now_ms()))
    else {
        return Ok(error_page(
            StatusCode::BAD_REQUEST,
            "This connection request was changed, or it is older than 15 minutes.",
        ));
    };
    let client = match clients::find(&st, &r.client_id).await {
        Ok(c) => c,
        Err(why) => return Ok(error_page(StatusCode::BAD_REQUEST, &why)),
    };
    let email = one(&form, "email").unwrap_or("").trim().to_owned();
    match one(&form, "step") {
        Some("email") => match send_code(&st, ip, &email).await {
            Ok(_) => Ok(code_page(StatusCode::OK, &client, &r, sealed, &email, None)),
            Err(ApiError::InvalidField { .. }) => Ok(email_page(
                StatusCode::OK,
                &client,
                &r,
                sealed,
                Some("That is not an email address."),
            )),
            Err(e @ ApiError::TooManyRequests { .. }) => Ok(email_page(
                StatusCode::TOO_MANY_REQUESTS,
                &client,
                &r,
                sealed,
                Some(&format!("{e}.")),
            )),
            Err(e) => Err(e),
        },
        Some("code") => {
            let code = one(&form, "code").unwrap_or("");
            match sign_in_with_code(&st, ip, &headers, &email, code, None).await {
                Ok((user, info, secret)) => {
                    let auth = st
                        .accounts
                        .session(&st.store, &secret)
                        .await?
                        .ok_or(ApiError::Unavailable)?;
                    debug_assert_eq!(auth.session_id, info.id);
                    let mut resp = consent_page(&st, &client, &r, sealed, &auth, &user);
                    resp.headers_mut().insert(
                        header::SET_COOKIE,
                        set_cookie(
                            &secret,
                            st.accounts.config.session_lifetime,
                            secure_cookies(&st.public_url),
                        ),
                    );
                    Ok(resp)
                }
                Err(ApiError::InvalidCode(why)) => Ok(code_page(
                    StatusCode::OK,
                    &client,
                    &r,
                    sealed,
                    &email,
                    Some(&why),
                )),
                Err(ApiError::InvalidField { .. }) => Ok(code_page(
                    StatusCode::OK,
                    &client,
                    &r,
                    sealed,
                    &email,
                    Some("Enter the 6-digit code from the mail."),
                )),
                Err(e @ ApiError::TooManyRequests { .. }) => Ok(code_page(
                    StatusCode::TOO_MANY_REQUESTS,
                    &client,
                    &r,
                    sealed,
                    &email,
                    Some(&format!("{e}.")),
                )),
                Err(e) => Err(e),
            }
        }
        Some("consent") => {
            let Some((auth, user)) = signed_in(&st, &headers).await? else {
                return Ok(email_page(
                    StatusCode::FORBIDDEN,
                    &client,
                    &r,
                    sealed,
                    Some("Your sign-in has ended. Sign in again to connect the app."),
                ));
            };
            if !st
                .link_secret
                .keys()
                .any(|k| csrf_ok(k, &auth.session_id, one(&form, "csrf")))
            {
                return Ok(error_page(
                    StatusCode::FORBIDDEN,
                    "The consent form did not come from your signed-in session.",
                ));
            }
            if one(&form, "decision") != Some("allow") {
                return Ok(error_back(
                    &st,
                    &r,
                    "access_denied",
                    "the user did not allow the connection",
                ));
            }
            let ticked: Vec<&String> = form
                .get("scope")
                .map(|v| v.iter().collect())
                .unwrap_or_default();
            let scopes: Vec<String> = r
                .scopes
                .iter()
                .filter(|s| auth.role.allows(s))
                .filter(|s| *s == "mcp:read" || ticked.contains(s))
                .cloned()
                .collect();
            let code = st
                .store
                .create_oauth_code(NewOAuthCode {
                    client_id: &client.id,
                    user_id: &user.id,
                    redirect_uri: &r.redirect_uri,
                    challenge: &r.challenge,
                    scopes: &scopes,
                    resource: &r.resource,
                    now: now_ms(),
                    ttl_ms: i64::try_from(st.accounts.config.oauth_code_ttl.as_millis())
                        .unwrap_or(i64::MAX),
                })
                .await?;
            let mut pairs = vec![("code", code.as_str())];
            if let Some(s) = &r.state {
                pairs.push(("state", s));
            }
            let iss = issuer(&st).to_owned();
            pairs.push(("iss", &iss));
            Ok(see_other(&back_to(&r.redirect_uri, &pairs)))
        }
        _ => Ok(error_page(
            StatusCode::BAD_REQUEST,
            "The form was not understood.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> AuthzRequest {
        AuthzRequest {
            client_id: "c".into(),
            redirect_uri: "https://app.example/cb".into(),
            state: Some("xyz".into()),
            challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            scopes: vec!["mcp:read".into()],
            resource: "https://r.example/mcp".into(),
            expires_at: 1_000,
        }
    }

    #[test]
    fn sealed_requests_resist_changes_and_age() {
        let key = [7u8; 32];
        let s = seal(&key, &req());
        assert_eq!(open(&key, &s, 999), Some(req()));
        assert_eq!(open(&key, &s, 1_000), None, "expired");
        assert_eq!(open(&[8u8; 32], &s, 0), None, "another key");
        let mut other = req();
        other.redirect_uri = "https://evil.example/cb".into();
        let forged = seal(&[8u8; 32], &other);
        let (payload, _) = forged.split_once('.').unwrap();
        let (_, tag) = s.split_once('.').unwrap();
        assert_eq!(
            open(&key, &format!("{payload}.{tag}"), 0),
            None,
            "swapped payload"
        );
        assert_eq!(open(&key, "garbage", 0), None);
        assert_eq!(open(&key, "a.zz", 0), None);
    }

    #[test]
    fn repeated_parameters_are_refused() {
        assert!(params(b"client_id=a&client_id=b", SINGLE).is_none());
        let p = params(b"scope=a&x=1&x=2", SINGLE).unwrap();
        assert_eq!(p["x"].len(), 2);
        assert_eq!(one(&p, "scope"), Some("a"));
    }

    #[test]
    fn challenges_are_checked_for_shape() {
        assert!(challenge_ok("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
        assert!(!challenge_ok("short"));
        assert!(!challenge_ok(&"a".repeat(129)));
        assert!(!challenge_ok(&format!("{}+/", "a".repeat(43))));
    }

    #[test]
    fn answers_keep_the_redirect_uris_query() {
        assert_eq!(
            back_to(
                "https://app.example/cb?x=1",
                &[("code", "a b"), ("state", "s&t")]
            ),
            "https://app.example/cb?x=1&code=a+b&state=s%26t"
        );
    }
}
