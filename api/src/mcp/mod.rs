//! `/mcp`: the Model Context Protocol over Streamable HTTP, for AI agents (remote MCP clients
//! such as Claude connectors, scripts with a personal access token).
//!
//! One POST endpoint serves every revision a current client speaks, side by side (see
//! [`rpc`]): the stateless `2026-07-28` (each request names its revision in `_meta`;
//! `server/discover`), and the legacy `2025-11-25`, `2025-06-18` and `2025-03-26` with the
//! `initialize` handshake, `Mcp-Session-Id` and the `MCP-Protocol-Version` header. A bare
//! `tools/list` or `tools/call` with a bearer token and nothing else works too.
//!
//! - Authentication: `Authorization: Bearer` with a personal access token holding `mcp:read`,
//!   or an OAuth access token issued for this resource ([`crate::oauth`]) (401 with
//!   `WWW-Authenticate` pointing at the protected resource metadata otherwise; 403 naming the
//!   scope when it lacks it). Each tool
//!   then needs the scope of what it touches, checked by the REST handler it runs through.
//! - A request whose `Origin` is not this server's own is refused (403): no web page can
//!   drive the endpoint from a visitor's browser (DNS rebinding).
//! - Sessions hold nothing on the server: the `Mcp-Session-Id` handed out by `initialize` is
//!   the negotiated revision signed for the token (an unknown or forged one answers 404, as
//!   the transport says, and the client initializes again).
//! - Answers are JSON, or one Server-Sent Event when the client accepts `text/event-stream`.
//! - Live events ([`live`]): `subscriptions/listen` (2026-07-28) answers an event stream of
//!   resource updates; in earlier revisions `resources/subscribe` within a session, heard on
//!   the session's `GET /mcp` stream (the only state a session has, kept in memory, bounded,
//!   dropped after an hour unused). `GET` without a session and `DELETE` answer 405.

mod catalog;
mod live;
mod resources;
mod rpc;
mod schema;
mod stream;
mod tools;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use axum::Router;
use hmac::{Hmac, Mac};
use ringside_storage::{AuthContext, Credential};
use serde_json::{json, Map, Value};
use sha2::Sha256;

use crate::openapi::{Auth, Body, DocRouter, Spec};
use crate::AppState;
use rpc::{code, Incoming, Revision};

/// Largest POST body (a tool call's arguments are small).
const MAX_BODY: usize = 1 << 20;
/// Most messages in one batch (2025-03-26; later revisions have no batches).
const MAX_BATCH: usize = 16;
/// Most bytes of answers one batch collects; later ones answer an error asking to send them
/// alone (a recording read inline is up to ~22 MB of base64).
const MAX_BATCH_ANSWER: usize = 24 << 20;
/// The scope every MCP caller needs.
const MCP_SCOPE: &str = "mcp:read";
/// What the server tells a model about itself.
const INSTRUCTIONS: &str = "Ringside is a website calling and chat gateway. Start with \
    ringside_list_widgets: most tools take a widgetId from it. Tools that write (messages, \
    webhooks, contacts, aliases) need an automation token's write scopes.";

/// What the MCP handler needs: the application state, the REST router its tools run on, and
/// the live event streams and subscriptions ([`live`]).
#[derive(Clone)]
pub(crate) struct Mcp {
    st: AppState,
    api: Router,
    hub: Arc<live::Hub>,
}

/// The `/mcp` routes; `api` is the `/api/v1` router (with its state) the tools call.
pub(crate) fn routes(api: Router) -> DocRouter {
    let spec = |summary| Spec::new("MCP", Auth::Scope(MCP_SCOPE), summary);
    let hub = Arc::new(live::Hub::default());
    let hub2 = hub.clone();
    DocRouter::new("")
        .post(
            "/mcp",
            move |State(st): State<AppState>, headers: HeaderMap, body: Bytes| {
                let mcp = Mcp {
                    st,
                    api: api.clone(),
                    hub: hub.clone(),
                };
                async move { mcp.post(&headers, &body).await }
            },
            spec(
                "Model Context Protocol (Streamable HTTP): JSON-RPC requests (initialize, \
                 tools/list, tools/call, resources/list, resources/read, server/discover, \
                 ping) for AI agents",
            )
            .body(Body::Json(
                "A JSON-RPC 2.0 message (or a batch): {jsonrpc, id, method, params}",
            ))
            .returns::<crate::openapi::JsonRpcAnswer>()
            .also(&[
                (202, "Only notifications or responses were sent: nothing to answer"),
                (
                    400,
                    "Not JSON, not JSON-RPC, or a protocol revision refused (the JSON-RPC error says which)",
                ),
                (403, "Another origin's page, or the token lacks mcp:read"),
                (404, "Mcp-Session-Id unknown or of another token: initialize again"),
            ]),
        )
        .get(
            "/mcp",
            move |State(st): State<AppState>, headers: HeaderMap| {
                let hub = hub2.clone();
                async move { stream::session_stream(st, hub, &headers).await }
            },
            spec(
                "A session's event stream (revisions before 2026-07-28): with Mcp-Session-Id and \
                 Accept: text/event-stream, notifications/resources/updated for the session's \
                 resources/subscribe; without a session 405",
            )
            .content("text/event-stream")
            .also(&[
                (404, "Mcp-Session-Id unknown or of another token: initialize again"),
                (405, "No session: there is no stream outside one"),
                (406, "The request does not accept text/event-stream"),
                (429, "Too many event streams open for this token"),
            ]),
        )
        .delete(
            "/mcp",
            not_allowed,
            spec("Sessions are not ended by the client (subscriptions lapse unused): 405")
                .ok(405, "Method Not Allowed")
                .returns::<crate::openapi::JsonRpcResponse>(),
        )
        .map_router(|r| r.layer(DefaultBodyLimit::max(MAX_BODY)))
}

/// `DELETE`, and `GET` without a session: the caller is checked as for a POST (401, 403),
/// then 405.
async fn not_allowed(State(st): State<AppState>, headers: HeaderMap) -> Response {
    if !origin_ok(&st, &headers) {
        return forbidden_origin();
    }
    if let Err(r) = caller(&st, &headers).await {
        return r;
    }
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, "POST")],
        axum::Json(rpc::error(
            None,
            code::INVALID_REQUEST,
            "Method Not Allowed: POST JSON-RPC messages to /mcp",
            None,
        )),
    )
        .into_response()
}

fn forbidden_origin() -> Response {
    json_response(
        StatusCode::FORBIDDEN,
        &rpc::error(
            None,
            code::INVALID_REQUEST,
            "Forbidden: this Origin may not use the endpoint",
            None,
        ),
    )
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The session id of revision `version` for credential `cred`.
fn session_id(key: &[u8; 32], version: &str, cred: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"ringside-mcp-session\n");
    mac.update(version.as_bytes());
    mac.update(b"\n");
    mac.update(cred.as_bytes());
    let sig = hex::encode(&mac.finalize().into_bytes()[..16]);
    format!("{version}.{sig}")
}

/// The revision a presented session id carries, if it is one of ours for `cred`.
fn session_version(key: &[u8; 32], presented: &str, cred: &str) -> Option<String> {
    let (version, _) = presented.split_once('.')?;
    if !rpc::LEGACY.contains(&version) {
        return None;
    }
    let want = session_id(key, version, cred);
    // Constant time enough: both are hex of a MAC.
    (want.len() == presented.len()
        && want
            .bytes()
            .zip(presented.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0)
        .then(|| version.to_owned())
}

fn credential_id(ctx: &AuthContext) -> &str {
    match &ctx.credential {
        Credential::Token(id) | Credential::Session(id) | Credential::OAuth(id) => id,
    }
}

/// `WWW-Authenticate` of a refusal (`error` as RFC 6750 names it).
fn challenge(st: &AppState, error: Option<&str>) -> HeaderValue {
    let base = st.public_url.trim_end_matches('/');
    // The scope to ask for: everything the tools use (MCP clients ask for the challenge's
    // scope); the person consenting may untick what they do not want to give.
    let scope = crate::oauth::OAUTH_SCOPES.join(" ");
    let mut v = format!(
        "Bearer realm=\"ringside\", resource_metadata=\"{base}/.well-known/oauth-protected-resource/mcp\", scope=\"{scope}\""
    );
    if let Some(e) = error {
        v.push_str(&format!(", error=\"{e}\""));
    }
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}

fn refuse(st: &AppState, status: StatusCode, error: Option<&str>, message: &str) -> Response {
    let mut r = json_response(
        status,
        &rpc::error(None, code::INVALID_REQUEST, message, None),
    );
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, challenge(st, error));
    r
}

/// Whether the request's `Origin`, if any, may use the endpoint: this server's own (its public
/// URL), or a page served from the loopback address the request itself came to (`Origin`
/// naming the same loopback host and port as `Host`). A rebinding page has its own domain in
/// both headers, so it is refused either way.
fn origin_ok(st: &AppState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let own = url::Url::parse(&st.public_url)
        .ok()
        .map(|u| u.origin().ascii_serialization());
    if own.as_deref() == Some(origin) {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let Ok(o) = url::Url::parse(origin) else {
        return false;
    };
    let loopback = match o.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    let authority = match (o.host_str(), o.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        _ => return false,
    };
    loopback && host.is_some_and(|h| h.eq_ignore_ascii_case(&authority))
}

/// The bearer token a request carries.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Who `token` acts for: a personal access token, or an OAuth access token issued for this
/// resource.
async fn lookup(
    st: &AppState,
    token: &str,
) -> Result<Option<AuthContext>, ringside_storage::StorageError> {
    if token.starts_with(ringside_storage::ACCESS_TOKEN_PREFIX) {
        // An OAuth access token works only for the resource it was issued for.
        let own = crate::oauth::mcp_resource(st);
        st.store
            .authenticate_oauth_token(token, ringside_storage::now_ms())
            .await
            .map(|found| found.filter(|(_, r)| *r == own).map(|(ctx, _)| ctx))
    } else {
        st.store.authenticate_token(token).await
    }
}

async fn caller(st: &AppState, headers: &HeaderMap) -> Result<AuthContext, Response> {
    let Some(token) = bearer(headers) else {
        return Err(refuse(
            st,
            StatusCode::UNAUTHORIZED,
            None,
            "Unauthorized: send Authorization: Bearer with a Ringside token holding mcp:read",
        ));
    };
    let ctx = match lookup(st, token).await {
        Ok(Some(ctx)) => ctx,
        Ok(None) => {
            return Err(refuse(
                st,
                StatusCode::UNAUTHORIZED,
                Some("invalid_token"),
                "Unauthorized: the token is unknown, revoked or expired",
            ))
        }
        Err(e) => {
            tracing::error!(error = %e, "mcp: authenticating a token");
            return Err(json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &rpc::error(
                    None,
                    code::INTERNAL,
                    "Ringside is unavailable; try again",
                    None,
                ),
            ));
        }
    };
    if !ctx.scopes.iter().any(|s| s == MCP_SCOPE) {
        return Err(refuse(
            st,
            StatusCode::FORBIDDEN,
            Some("insufficient_scope"),
            "Forbidden: this token lacks the mcp:read scope",
        ));
    }
    Ok(ctx)
}

impl Mcp {
    async fn post(&self, headers: &HeaderMap, body: &[u8]) -> Response {
        if !origin_ok(&self.st, headers) {
            return forbidden_origin();
        }
        let who = match caller(&self.st, headers).await {
            Ok(w) => w,
            Err(r) => return r,
        };
        let parsed = match rpc::parse(body) {
            Ok(p) => p,
            Err(e) => return json_response(StatusCode::BAD_REQUEST, &e),
        };
        let header_version = headers
            .get("mcp-protocol-version")
            .and_then(|v| v.to_str().ok());
        let session = match headers.get("mcp-session-id") {
            None => None,
            Some(v) => {
                match v.to_str().ok().and_then(|s| {
                    self.st
                        .link_secret
                        .keys()
                        .find_map(|k| session_version(k, s, credential_id(&who)))
                }) {
                    Some(version) => Some(version),
                    None => {
                        return json_response(
                            StatusCode::NOT_FOUND,
                            &rpc::error(
                                None,
                                code::INVALID_REQUEST,
                                "Session not found: initialize again",
                                None,
                            ),
                        )
                    }
                }
            }
        };
        let session_raw = headers.get("mcp-session-id").and_then(|v| v.to_str().ok());
        if let rpc::Body::One(Incoming::Request { id, method, params }) = &parsed {
            if method == "subscriptions/listen" {
                let rev = rpc::revision(id, method, params, header_version, session.as_deref());
                return self.listen(headers, who, id, params, rev);
            }
        }
        let ctx = Ctx {
            mcp: self,
            who: &who,
            header: header_version,
            session: session.as_deref(),
            session_id: session_raw.filter(|_| session.is_some()),
        };
        let (answers, status, new_session) = match parsed {
            rpc::Body::One(m) => match ctx.handle(m).await {
                Handled::None => (None, StatusCode::ACCEPTED, None),
                Handled::Answer(v, s) => (Some(v), StatusCode::OK, s),
                Handled::Refused(status, v) => (Some(v), status, None),
            },
            rpc::Body::Batch(list) => {
                // Batches are of 2025-03-26 only, and bounded.
                let revision = header_version.or(session.as_deref());
                if revision.is_some_and(|v| v != "2025-03-26" && v != "2024-11-05") {
                    return json_response(
                        StatusCode::BAD_REQUEST,
                        &rpc::error(
                            None,
                            code::INVALID_REQUEST,
                            "Invalid Request: this protocol revision has no batches; send one message per request",
                            None,
                        ),
                    );
                }
                if list.len() > MAX_BATCH {
                    return json_response(
                        StatusCode::BAD_REQUEST,
                        &rpc::error(
                            None,
                            code::INVALID_REQUEST,
                            &format!("Invalid Request: at most {MAX_BATCH} messages in a batch"),
                            None,
                        ),
                    );
                }
                let mut out = Vec::new();
                let mut new_session = None;
                let mut size = 0;
                for m in list {
                    let answer = match ctx.handle(m).await {
                        Handled::None => continue,
                        Handled::Answer(v, s) => {
                            new_session = new_session.or(s);
                            v
                        }
                        Handled::Refused(_, v) => v,
                    };
                    size += answer.to_string().len();
                    if size > MAX_BATCH_ANSWER {
                        out.push(rpc::error(
                            answer.get("id"),
                            code::INTERNAL,
                            "The batch's answers are too large: send this request alone",
                            None,
                        ));
                    } else {
                        out.push(answer);
                    }
                }
                if out.is_empty() {
                    (None, StatusCode::ACCEPTED, None)
                } else {
                    (Some(Value::Array(out)), StatusCode::OK, new_session)
                }
            }
        };
        let Some(answer) = answers else {
            return StatusCode::ACCEPTED.into_response();
        };
        let sse = headers
            .get(header::ACCEPT)
            .and_then(|a| a.to_str().ok())
            .is_some_and(|a| a.contains("text/event-stream"))
            && status == StatusCode::OK;
        let mut resp = if sse {
            (
                status,
                [
                    (header::CONTENT_TYPE, "text/event-stream"),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                format!("event: message\ndata: {answer}\n\n"),
            )
                .into_response()
        } else {
            json_response(status, &answer)
        };
        if let Some(s) = new_session.and_then(|s| HeaderValue::from_str(&s).ok()) {
            resp.headers_mut().insert("mcp-session-id", s);
        }
        resp
    }
}

/// What became of one message.
enum Handled {
    /// A notification or a response: nothing to answer.
    None,
    /// The answer, and a new session id (after `initialize`).
    Answer(Value, Option<String>),
    /// Refused before it ran (HTTP status for a lone message).
    Refused(StatusCode, Value),
}

/// One POST's caller and transport facts.
struct Ctx<'a> {
    mcp: &'a Mcp,
    who: &'a AuthContext,
    header: Option<&'a str>,
    /// The session's revision.
    session: Option<&'a str>,
    /// The session's id, as sent (checked).
    session_id: Option<&'a str>,
}

/// Methods whose stateless results carry caching directives.
const CACHEABLE: &[&str] = &[
    "tools/list",
    "resources/list",
    "resources/templates/list",
    "resources/read",
];

fn server_info() -> Value {
    json!({"name": "ringside", "title": "Ringside", "version": env!("CARGO_PKG_VERSION")})
}

fn capabilities() -> Value {
    json!({"tools": {"listChanged": false}, "resources": {"subscribe": true, "listChanged": false}})
}

impl Ctx<'_> {
    async fn handle(&self, m: Incoming) -> Handled {
        let (id, method, params) = match m {
            Incoming::Notification { .. } | Incoming::Response => return Handled::None,
            Incoming::Invalid(e) => return Handled::Refused(StatusCode::BAD_REQUEST, e),
            Incoming::Request { id, method, params } => (id, method, params),
        };
        let rev = match rpc::revision(&id, &method, &params, self.header, self.session) {
            Ok(r) => r,
            Err(r) => {
                return Handled::Refused(
                    StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST),
                    r.body,
                )
            }
        };
        let mut new_session = None;
        let outcome: Result<Value, Value> = match method.as_str() {
            "initialize" => {
                let version = rpc::negotiate(params.get("protocolVersion").and_then(Value::as_str));
                new_session = Some(session_id(
                    &self.mcp.st.link_secret,
                    version,
                    credential_id(self.who),
                ));
                Ok(json!({
                    "protocolVersion": version,
                    "capabilities": capabilities(),
                    "serverInfo": server_info(),
                    "instructions": INSTRUCTIONS,
                }))
            }
            "ping" => Ok(json!({})),
            "server/discover" => Ok(json!({
                "supportedVersions": rpc::supported(),
                "capabilities": capabilities(),
                "instructions": INSTRUCTIONS,
                "ttlMs": 0,
                "cacheScope": "private",
            })),
            "tools/list" => {
                let structured = rev.structured();
                Ok(json!({
                    "tools": catalog::all()
                        .iter()
                        .map(|t| catalog::describe(t, structured))
                        .collect::<Vec<_>>()
                }))
            }
            "tools/call" => Ok(self.call_tool(&rev, &params).await),
            "resources/templates/list" => {
                let mut t = resources::templates();
                if let Some(list) = t["resourceTemplates"].as_array_mut() {
                    list.push(live::template());
                }
                Ok(t)
            }
            "resources/list" => resources::list(self, &id).await.map(|mut r| {
                if let Some(list) = r["resources"].as_array_mut() {
                    let mut all = live::listed();
                    all.append(list);
                    *list = all;
                }
                r
            }),
            "resources/read" => {
                let uri = params.get("uri").and_then(Value::as_str);
                match uri {
                    Some(u) => match live::read(self, &id, u).await {
                        Some(r) => r,
                        None => resources::read(self, &id, uri).await,
                    },
                    None => resources::read(self, &id, uri).await,
                }
            }
            "resources/subscribe" | "resources/unsubscribe" => {
                self.subscribe(&id, &method, &params)
            }
            other => Err(rpc::error(
                Some(&id),
                code::METHOD_NOT_FOUND,
                &format!(
                    "Method not found: {other} (this server offers initialize, ping, \
                     server/discover, tools/list, tools/call, resources/list, \
                     resources/templates/list, resources/read, resources/subscribe, \
                     resources/unsubscribe and, in 2026-07-28, subscriptions/listen)"
                ),
                None,
            )),
        };
        match outcome {
            Ok(mut result) => {
                if rev == Revision::Stateless {
                    result["resultType"] = json!("complete");
                    if CACHEABLE.contains(&method.as_str()) {
                        // Caching directives (required in 2026-07-28): what a list shows
                        // depends on the token and changes with every call: private, stale.
                        result["ttlMs"] = json!(0);
                        result["cacheScope"] = json!("private");
                    }
                    let meta = result
                        .as_object_mut()
                        .map(|o| o.entry("_meta").or_insert_with(|| json!({})));
                    if let Some(m) = meta {
                        m[rpc::META_SERVER_INFO] = server_info();
                    }
                }
                Handled::Answer(rpc::result(&id, result), new_session)
            }
            Err(e) => Handled::Answer(e, None),
        }
    }

    /// `tools/call`: a tool result, an error result (`isError`) for a bad call.
    async fn call_tool(&self, rev: &Revision, params: &Map<String, Value>) -> Value {
        let error =
            |text: String| json!({"content": [{"type": "text", "text": text}], "isError": true});
        let Some(name) = params.get("name").and_then(Value::as_str) else {
            return error("Invalid params: name (the tool's name) is required".into());
        };
        let all = catalog::all();
        let Some(tool) = all.iter().find(|t| t.name == name) else {
            return error(format!(
                "Unknown tool {name:?}; the tools are: {}",
                all.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
            ));
        };
        let args = match params.get("arguments") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(a) => a.clone(),
        };
        if let Err(why) = schema::validate(&tool.input, &args) {
            return error(format!("Invalid arguments for {name}: {why}"));
        }
        let Value::Object(args) = args else {
            return error(format!(
                "Invalid arguments for {name}: an object is expected"
            ));
        };
        match tools::call(&self.mcp.api, self.who, tool, args).await {
            Ok(v) => {
                let mut r = json!({
                    "content": [{"type": "text", "text": v.to_string()}],
                    "isError": false,
                });
                if rev.structured() {
                    r["structuredContent"] = v;
                }
                r
            }
            Err(text) => error(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_bound_to_the_token() {
        let key = [7u8; 32];
        let s = session_id(&key, "2025-06-18", "tok-1");
        assert!(s.starts_with("2025-06-18."));
        assert_eq!(
            session_version(&key, &s, "tok-1").as_deref(),
            Some("2025-06-18")
        );
        assert_eq!(session_version(&key, &s, "tok-2"), None, "another token");
        assert_eq!(
            session_version(&[8u8; 32], &s, "tok-1"),
            None,
            "another key"
        );
        let forged = s.replacen("2025-06-18", "2025-11-25", 1);
        assert_eq!(session_version(&key, &forged, "tok-1"), None);
        assert_eq!(session_version(&key, "nonsense", "tok-1"), None);
    }
}
