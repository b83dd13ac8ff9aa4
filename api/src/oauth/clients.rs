//! OAuth clients: dynamic registration (RFC 7591), Client ID Metadata Documents, and the
//! redirect URI rules both follow.
//!
//! Redirect URIs (OAuth 2.1 §7.5.1, RFC 8252 for native apps): `https` anywhere; `http` only to
//! a loopback host (an app on the user's own machine); a private-use scheme (`vscode:`,
//! `com.example.app:`) for a native app; never `javascript:`, `data:`, `file:` and the like,
//! never a fragment or credentials. A presented redirect URI must equal a registered one
//! exactly, except that the port of a loopback IP literal may differ (RFC 8252 §7.3: a native
//! app gets whatever port is free).
//!
//! A client whose `client_id` is an `https` URL is known by the JSON document at that URL (the
//! MCP authorization spec's Client ID Metadata Documents): Ringside fetches it under the
//! outbound-fetch policy (public addresses only, no redirects, 5 s, 64 KiB), checks that its
//! `client_id` is that URL, and caches it for [`DOCUMENT_TTL_MS`].

use std::net::IpAddr;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ringside_storage::{now_ms, ClientKind, NewOAuthClient, OAuthClient, StorageError};
use serde_json::Value;

use super::OAuthError;
use crate::accounts::routes::ClientIp;
use crate::AppState;

/// How long a fetched metadata document is trusted before it is read again.
pub(crate) const DOCUMENT_TTL_MS: i64 = 10 * 60 * 1000;
/// Largest metadata document read.
const MAX_DOCUMENT: usize = 64 * 1024;
/// Largest registration request.
pub(crate) const MAX_REGISTRATION: usize = 16 * 1024;

/// Schemes a native app may not use for its redirect URI.
const REFUSED_SCHEMES: &[&str] = &[
    "javascript",
    "data",
    "file",
    "vbscript",
    "about",
    "blob",
    "ftp",
    "ws",
    "wss",
    "mailto",
    "tel",
    "sms",
];

fn loopback_host(u: &url::Url) -> Option<bool> {
    // Some(true): an IP literal on loopback; Some(false): `localhost`; None: neither.
    match u.host()? {
        url::Host::Ipv4(ip) => ip.is_loopback().then_some(true),
        url::Host::Ipv6(ip) => ip.is_loopback().then_some(true),
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost").then_some(false),
    }
}

/// Whether `uri` may be registered as a redirect URI; the reason when not.
pub(crate) fn redirect_uri_ok(uri: &str) -> Result<(), &'static str> {
    if uri.is_empty()
        || uri.len() > 2000
        || uri.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err("a redirect URI must be 1 to 2000 characters without spaces");
    }
    let u = url::Url::parse(uri).map_err(|_| "a redirect URI must be an absolute URI")?;
    if u.fragment().is_some() {
        return Err("a redirect URI must not have a fragment");
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err("a redirect URI must not carry credentials");
    }
    match u.scheme() {
        "https" if u.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
        "https" => Err("an https redirect URI needs a host"),
        "http" if loopback_host(&u).is_some() => Ok(()),
        "http" => Err("http redirect URIs are allowed only to a loopback address (127.0.0.1, [::1], localhost); use https"),
        s if REFUSED_SCHEMES.contains(&s) => Err("this URI scheme cannot be a redirect URI"),
        _ => Ok(()),
    }
}

/// Whether `presented` matches one of `registered` (exactly, or a loopback IP literal with
/// another port).
pub(crate) fn redirect_matches(registered: &[String], presented: &str) -> bool {
    if registered.iter().any(|r| r == presented) {
        return true;
    }
    let Ok(p) = url::Url::parse(presented) else {
        return false;
    };
    if p.scheme() != "http" || loopback_host(&p) != Some(true) {
        return false;
    }
    registered.iter().any(|r| {
        let Ok(mut r) = url::Url::parse(r) else {
            return false;
        };
        if r.scheme() != "http" || loopback_host(&r) != Some(true) {
            return false;
        }
        if r.set_port(p.port()).is_err() {
            return false;
        }
        r.as_str() == p.as_str()
    })
}

/// Whether `client_id` names a metadata document (an `https` URL with a path), or, when
/// `lab` (private fetches allowed), an `http` URL too.
pub(crate) fn is_document_id(client_id: &str, lab: bool) -> bool {
    let Ok(u) = url::Url::parse(client_id) else {
        return false;
    };
    let scheme_ok = u.scheme() == "https" || (lab && u.scheme() == "http");
    scheme_ok
        && u.host_str().is_some()
        && u.path() != "/"
        && u.fragment().is_none()
        && u.username().is_empty()
        && u.password().is_none()
        && u.as_str() == client_id
}

/// The client `client_id` names: a registered one, or one known by its metadata document
/// (fetched, or refreshed when older than [`DOCUMENT_TTL_MS`]). The error text is for the
/// person at the browser.
pub(crate) async fn find(st: &AppState, client_id: &str) -> Result<OAuthClient, String> {
    let lab = st.fetch_policy.allow_private;
    let known = st
        .store
        .oauth_client(client_id)
        .await
        .map_err(|_| "Ringside cannot reach its database right now; try again".to_owned())?;
    if !is_document_id(client_id, lab) {
        return known.ok_or_else(|| {
            "This app is not registered with this Ringside server (unknown client_id). \
             Remove the connector and add it again."
                .to_owned()
        });
    }
    if let Some(c) = &known {
        if now_ms() - c.fetched_at < DOCUMENT_TTL_MS {
            return Ok(c.clone());
        }
    }
    let doc = fetch_document(st, client_id).await?;
    let uris: Vec<String> = doc.redirect_uris;
    let (client, _) = st
        .store
        .register_oauth_client(NewOAuthClient {
            kind: ClientKind::Document,
            id: Some(client_id),
            name: &doc.name,
            client_uri: doc.client_uri.as_deref(),
            redirect_uris: &uris,
            auth_method: "none",
            now: now_ms(),
        })
        .await
        .map_err(|e| format!("the client's metadata document cannot be used: {e}"))?;
    Ok(client)
}

struct Document {
    name: String,
    client_uri: Option<String>,
    redirect_uris: Vec<String>,
}

async fn fetch_document(st: &AppState, url: &str) -> Result<Document, String> {
    let refuse = |why: &str| format!("The app's client metadata document at {url} {why}.");
    st.fetch_policy
        .check(url)
        .await
        .map_err(|e| refuse(&format!("cannot be fetched ({e})")))?;
    let client = st
        .fetch_policy
        .client(Duration::from_secs(5), "Ringside OAuth")
        .map_err(|_| refuse("cannot be fetched"))?;
    let resp = client
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|_| refuse("cannot be fetched"))?;
    if !resp.status().is_success() {
        return Err(refuse(&format!("answered HTTP {}", resp.status().as_u16())));
    }
    let body = crate::outbound::read_limited(resp, MAX_DOCUMENT)
        .await
        .map_err(|e| match e {
            crate::outbound::BodyError::TooLarge(_) => refuse("is larger than 64 KiB"),
            crate::outbound::BodyError::Broken => refuse("broke off"),
        })?;
    let v: Value = serde_json::from_slice(&body).map_err(|_| refuse("is not JSON"))?;
    parse_document(&v, url).map_err(refuse)
}

/// Reads a metadata document fetched from `url`.
fn parse_document(v: &Value, url: &str) -> Result<Document, &'static str> {
    if v["client_id"].as_str() != Some(url) {
        return Err("does not name itself as client_id");
    }
    let method = v["token_endpoint_auth_method"].as_str().unwrap_or("none");
    if method != "none" {
        return Err("asks for a token endpoint authentication Ringside does not offer (only none)");
    }
    let uris: Vec<String> = v["redirect_uris"]
        .as_array()
        .ok_or("has no redirect_uris")?
        .iter()
        .map(|u| {
            u.as_str()
                .map(str::to_owned)
                .ok_or("has a redirect URI that is not a string")
        })
        .collect::<Result<_, _>>()?;
    if uris.is_empty() || uris.len() > 20 {
        return Err("must list 1 to 20 redirect_uris");
    }
    for u in &uris {
        redirect_uri_ok(u).map_err(|_| "lists a redirect URI Ringside does not accept")?;
    }
    let host = url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    let name = v["client_name"]
        .as_str()
        .map(|s| s.trim().chars().take(200).collect::<String>())
        .filter(|s| !s.is_empty())
        .unwrap_or(host);
    let client_uri = v["client_uri"]
        .as_str()
        .filter(|u| crate::http::urls::http_url(u).is_some())
        .map(str::to_owned);
    Ok(Document {
        name,
        client_uri,
        redirect_uris: uris,
    })
}

fn invalid(error: &'static str, why: impl Into<String>) -> OAuthError {
    OAuthError::new(StatusCode::BAD_REQUEST, error, why)
}

/// `POST /oauth/register`: RFC 7591 dynamic client registration (open: any client may
/// register; what it may do is decided by the user's consent). Public clients
/// (`token_endpoint_auth_method: none`, the default) and confidential ones (a secret).
pub(crate) async fn register(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    body: Bytes,
) -> Result<Response, OAuthError> {
    limit(&st, ip)?;
    if body.len() > MAX_REGISTRATION {
        return Err(invalid(
            "invalid_client_metadata",
            "the registration request is larger than 16 KiB",
        ));
    }
    let v: Value = serde_json::from_slice(&body).map_err(|_| {
        invalid(
            "invalid_client_metadata",
            "the body must be a JSON object of client metadata (RFC 7591)",
        )
    })?;
    let Some(obj) = v.as_object() else {
        return Err(invalid(
            "invalid_client_metadata",
            "the body must be a JSON object of client metadata (RFC 7591)",
        ));
    };
    let uris: Vec<String> = match obj.get("redirect_uris").and_then(Value::as_array) {
        Some(a) if !a.is_empty() && a.len() <= 20 => a
            .iter()
            .map(|u| u.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| invalid("invalid_redirect_uri", "redirect_uris must be strings"))?,
        _ => {
            return Err(invalid(
                "invalid_redirect_uri",
                "redirect_uris must list 1 to 20 redirect URIs",
            ))
        }
    };
    for u in &uris {
        redirect_uri_ok(u).map_err(|why| invalid("invalid_redirect_uri", format!("{u}: {why}")))?;
    }
    let method = match obj.get("token_endpoint_auth_method") {
        None | Some(Value::Null) => "none",
        Some(m) => m.as_str().unwrap_or("?"),
    };
    if !matches!(
        method,
        "none" | "client_secret_post" | "client_secret_basic"
    ) {
        return Err(invalid(
            "invalid_client_metadata",
            "token_endpoint_auth_method must be none, client_secret_post or client_secret_basic",
        ));
    }
    let list = |key: &str| -> Result<Option<Vec<String>>, OAuthError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| x.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(|| {
                    invalid("invalid_client_metadata", format!("{key} must be strings"))
                }),
            Some(_) => Err(invalid(
                "invalid_client_metadata",
                format!("{key} must be a list"),
            )),
        }
    };
    let grants = list("grant_types")?
        .unwrap_or_else(|| vec!["authorization_code".into(), "refresh_token".into()]);
    if grants.is_empty()
        || grants
            .iter()
            .any(|g| g != "authorization_code" && g != "refresh_token")
    {
        return Err(invalid(
            "invalid_client_metadata",
            "grant_types may hold only authorization_code and refresh_token",
        ));
    }
    let responses = list("response_types")?.unwrap_or_else(|| vec!["code".into()]);
    if responses.iter().any(|r| r != "code") {
        return Err(invalid(
            "invalid_client_metadata",
            "response_types may hold only code",
        ));
    }
    if let Some(scope) = obj.get("scope").filter(|s| !s.is_null()) {
        let ok = scope
            .as_str()
            .is_some_and(|s| s.split(' ').filter(|x| !x.is_empty()).all(super::offered));
        if !ok {
            return Err(invalid(
                "invalid_client_metadata",
                format!("scope may hold only: {}", super::OAUTH_SCOPES.join(" ")),
            ));
        }
    }
    let text = |key: &str| obj.get(key).and_then(Value::as_str).map(str::trim);
    let client_uri = text("client_uri").filter(|u| crate::http::urls::http_url(u).is_some());
    let host = uris
        .first()
        .and_then(|u| url::Url::parse(u).ok())
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "an MCP client".into());
    let name: String = text("client_name")
        .filter(|n| !n.is_empty())
        .map_or(host, |n| n.chars().take(200).collect());
    let now = now_ms();
    let (client, secret) = st
        .store
        .register_oauth_client(NewOAuthClient {
            kind: ClientKind::Registered,
            id: None,
            name: &name,
            client_uri,
            redirect_uris: &uris,
            auth_method: method,
            now,
        })
        .await
        .map_err(|e| match e {
            StorageError::Invalid(what) => invalid(
                "invalid_client_metadata",
                format!("{what} is not acceptable"),
            ),
            _ => OAuthError::unavailable(),
        })?;
    let out = Registered {
        client_id: client.id,
        client_id_issued_at: now / 1000,
        client_name: client.name,
        redirect_uris: client.redirect_uris,
        grant_types: grants,
        response_types: &["code"],
        token_endpoint_auth_method: client.auth_method,
        client_uri: client.client_uri,
        scope: text("scope").map(str::to_owned),
        client_secret_expires_at: secret.as_ref().map(|_| 0),
        client_secret: secret,
    };
    Ok(super::no_store(
        (StatusCode::CREATED, Json(out)).into_response(),
    ))
}

/// A registered client (RFC 7591 section 3.2.1).
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct Registered {
    /// The client's id.
    client_id: String,
    /// Unix seconds.
    client_id_issued_at: i64,
    /// The name the consent page shows.
    client_name: String,
    /// Redirect URIs, matched exactly.
    redirect_uris: Vec<String>,
    /// `authorization_code` and `refresh_token`.
    grant_types: Vec<String>,
    /// `code`.
    response_types: &'static [&'static str],
    /// `none` (a public client with PKCE), `client_secret_post` or `client_secret_basic`.
    #[schemars(extend("enum" = ["none", "client_secret_post", "client_secret_basic"]))]
    token_endpoint_auth_method: String,
    /// The client's home page.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_uri: Option<String>,
    /// The scope asked for at registration.
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    /// A confidential client's secret (shown once).
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
    /// `0`: the secret does not expire.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret_expires_at: Option<i64>,
}

fn limit(st: &AppState, ip: Option<IpAddr>) -> Result<(), OAuthError> {
    st.accounts
        .limit_oauth_register(ip)
        .map_err(OAuthError::from_limit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redirect_uris_follow_the_rules() {
        for ok in [
            "https://claude.ai/api/mcp/auth_callback",
            "http://127.0.0.1:33418/callback",
            "http://[::1]/cb",
            "http://localhost:6274/oauth/callback",
            "vscode://vscode.github-authentication/did-authenticate",
            "com.example.app:/oauth2redirect",
        ] {
            assert_eq!(redirect_uri_ok(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://example.com/cb",
            "http://10.0.0.1/cb",
            "https://example.com/cb#frag",
            "https://user:pw@example.com/cb",
            "javascript:alert(1)",
            "data:text/html,hi",
            "file:///etc/passwd",
            "/relative",
            "",
            "https://exa mple.com/",
        ] {
            assert!(redirect_uri_ok(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_ports_may_differ_nothing_else_may() {
        let reg = vec![
            "http://127.0.0.1:1000/callback".to_owned(),
            "https://app.example/cb".to_owned(),
        ];
        assert!(redirect_matches(&reg, "http://127.0.0.1:1000/callback"));
        assert!(redirect_matches(&reg, "http://127.0.0.1:5555/callback"));
        assert!(redirect_matches(&reg, "http://127.0.0.1/callback"));
        assert!(!redirect_matches(&reg, "http://127.0.0.1:5555/other"));
        assert!(!redirect_matches(
            &reg,
            "http://127.0.0.1:5555/callback?x=1"
        ));
        assert!(!redirect_matches(&reg, "https://app.example/cb/"));
        assert!(!redirect_matches(&reg, "https://app.example:444/cb"));
        assert!(!redirect_matches(&reg, "https://evil.example/cb"));
        // `localhost` is a name, not a literal: exact only.
        let named = vec!["http://localhost:1000/cb".to_owned()];
        assert!(!redirect_matches(&named, "http://localhost:2000/cb"));
    }

    #[test]
    fn document_ids_are_https_urls_with_a_path() {
        assert!(is_document_id(
            "https://app.example/oauth/client.json",
            false
        ));
        assert!(!is_document_id("https://app.example/", false));
        assert!(!is_document_id("http://app.example/client.json", false));
        assert!(is_document_id("http://127.0.0.1:9/client.json", true));
        assert!(!is_document_id("5f0c7c1e-uuid", false));
        assert!(!is_document_id("https://app.example/a/../b", false));
    }

    #[test]
    fn documents_must_name_themselves() {
        let url = "https://app.example/client.json";
        let good = json!({"client_id": url, "client_name": "App",
                          "redirect_uris": ["https://app.example/cb"]});
        let d = parse_document(&good, url).unwrap();
        assert_eq!(d.name, "App");
        let mut other = good.clone();
        other["client_id"] = json!("https://evil.example/client.json");
        assert!(parse_document(&other, url).is_err());
        let mut secret = good.clone();
        secret["token_endpoint_auth_method"] = json!("client_secret_basic");
        assert!(parse_document(&secret, url).is_err());
        let mut bad_uri = good;
        bad_uri["redirect_uris"] = json!(["javascript:alert(1)"]);
        assert!(parse_document(&bad_uri, url).is_err());
    }
}
