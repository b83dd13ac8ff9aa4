//! Running the `ringside_*` tools of [`super::catalog`]. Each runs as a request to Ringside's
//! own `/api/v1` router, carrying the MCP caller's identity (see [`crate::auth::Delegated`]):
//! the same tenant, role, widget and scope checks as the REST API, and the same answers. A
//! refusal becomes a tool error written for a model to act on (what to change, which tool to
//! call).

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use ringside_storage::AuthContext;
use serde_json::{json, Map, Value};
use tower::ServiceExt;

use super::catalog::{Run, Tool};

/// A tool's outcome: its structured result, or an error text for the model.
pub(crate) type Outcome = Result<Value, String>;

/// Percent-encodes one path segment: everything but letters, digits, `-`, `_` and `~` (dots
/// too, so `..` stays a value and never a path step).
pub(crate) fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Undoes [`segment`] (any `%XX`; anything else as it is; invalid UTF-8 replaced).
pub(crate) fn unsegment(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the caller sees when a REST request of `tool` answered `status` with `body`.
fn refusal(tool: &Tool, args: &Map<String, Value>, status: StatusCode, body: &Value) -> String {
    let msg = body["error"]["message"].as_str().unwrap_or("").to_owned();
    match status {
        StatusCode::NOT_FOUND => {
            // Name the ids that may be wrong, and where good ones come from.
            let props = &tool.input["properties"];
            let given: Vec<&str> = [
                "callId",
                "contactId",
                "sourceContactId",
                "widgetId",
                "visitorId",
            ]
            .into_iter()
            .filter(|a| args.contains_key(*a) && props.get(*a).is_some())
            .collect();
            let mut hints: Vec<&str> = Vec::new();
            for a in &given {
                let h = match *a {
                    "callId" => "call ringside_get_call_history",
                    "contactId" | "sourceContactId" => "call ringside_list_contacts",
                    "widgetId" => "call ringside_list_widgets",
                    _ => "call ringside_get_live_visitors",
                };
                // A visitor is looked for within its widget: the widget's hint covers it.
                let covered = *a == "visitorId" && given.contains(&"widgetId");
                if !covered && !hints.contains(&h) {
                    hints.push(h);
                }
            }
            match given.as_slice() {
                [] => format!("not found for this account: {msg}"),
                [one] => format!("{one} not found for this account; {}", hints.join(", ")),
                [init @ .., last] => format!(
                    "{} or {last} not found for this account; {}",
                    init.join(", "),
                    hints.join(", ")
                ),
            }
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            "the answer is too large to return; ask for less (a smaller limit)".to_owned()
        }
        StatusCode::FORBIDDEN if msg.contains("scope") => format!(
            "{msg}: {} needs the `{}` scope (and `mcp:read`); ask the account owner for a token \
             or connection with it",
            tool.name, tool.scope
        ),
        StatusCode::FORBIDDEN => format!("refused: {msg}"),
        StatusCode::TOO_MANY_REQUESTS => format!("too many requests, try again later: {msg}"),
        s if s.is_client_error() => format!("invalid arguments: {msg}"),
        _ => format!("Ringside failed ({status}): {msg}; try again"),
    }
}

/// Sends one request to the REST router as `who`; the status and the body (at most `max`
/// bytes: a longer one reads as empty).
pub(crate) async fn rest_bytes(
    api: &Router,
    who: &AuthContext,
    method: &str,
    uri: &str,
    body: Option<&Value>,
    max: usize,
) -> (StatusCode, axum::body::Bytes) {
    let mut req = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET))
        .uri(uri)
        .header("content-type", "application/json");
    if let Some(ext) = req.extensions_mut() {
        ext.insert(crate::auth::Delegated(who.clone()));
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    let Ok(req) = req.body(body) else {
        return (StatusCode::BAD_REQUEST, axum::body::Bytes::new());
    };
    let Ok(resp) = api.clone().oneshot(req).await;
    let status = resp.status();
    match axum::body::to_bytes(resp.into_body(), max).await {
        Ok(bytes) => (status, bytes),
        // Larger than the caller takes: not an empty success.
        Err(_) => (StatusCode::PAYLOAD_TOO_LARGE, axum::body::Bytes::new()),
    }
}

/// Sends one request to the REST router as `who`; the status and the body as JSON.
pub(crate) async fn rest(
    api: &Router,
    who: &AuthContext,
    method: &str,
    uri: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let (status, bytes) = rest_bytes(api, who, method, uri, body, 16 << 20).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The structured form of a REST answer: an object as it is, a list as `{key: [...]}`.
fn structured(v: Value, key: &str) -> Value {
    match v {
        Value::Object(_) => v,
        Value::Null => json!({}),
        other => json!({ key: other }),
    }
}

/// The list key of `t`'s output (`data` unless it says otherwise).
fn list_key(t: &Tool) -> &str {
    t.output["required"]
        .as_array()
        .and_then(|r| r.first())
        .and_then(Value::as_str)
        .filter(|k| t.output["properties"][*k]["type"] == "array")
        .unwrap_or("data")
}

fn query_string(pairs: &[(&str, String)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        q.append_pair(k, v);
    }
    let s = q.finish();
    if s.is_empty() {
        s
    } else {
        format!("?{s}")
    }
}

fn arg_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Runs `t` with (already validated) `args` as `who`.
pub(crate) async fn call(
    api: &Router,
    who: &AuthContext,
    t: &Tool,
    args: Map<String, Value>,
) -> Outcome {
    match t.run {
        Run::Rest {
            method,
            path,
            query,
            defaults,
        } => {
            let mut path = path.to_owned();
            let mut body = args.clone();
            for (k, v) in &args {
                let key = format!("{{{k}}}");
                if path.contains(&key) {
                    path = path.replace(&key, &segment(&arg_text(v)));
                    body.remove(k);
                }
            }
            let pairs: Vec<(&str, String)> = query
                .iter()
                .filter_map(|q| {
                    let given = args.get(*q).map(arg_text);
                    let default = defaults
                        .iter()
                        .find(|(k, _)| k == q)
                        .map(|(_, v)| (*v).to_owned());
                    given.or(default).map(|v| (*q, v))
                })
                .collect();
            for q in query {
                body.remove(*q);
            }
            let uri = format!("{path}{}", query_string(&pairs));
            let send = (method != "GET").then_some(Value::Object(body));
            let (status, v) = rest(api, who, method, &uri, send.as_ref()).await;
            if status.is_success() {
                let mut out = structured(v, list_key(t));
                if t.name == "ringside_get_call_recordings" {
                    // Each readable as an MCP resource (resources/read).
                    for r in out["data"].as_array_mut().into_iter().flatten() {
                        if let Some(id) = r["id"].as_str().map(str::to_owned) {
                            r["resourceUri"] = json!(super::resources::uri(&id));
                        }
                    }
                }
                Ok(out)
            } else {
                Err(refusal(t, &args, status, &v))
            }
        }
        Run::CallHistory => {
            let limit = args.get("limit").map(arg_text);
            let uri = match args.get("widgetId") {
                Some(w) => {
                    let mut pairs = Vec::new();
                    if let Some(v) = args.get("visitorId") {
                        pairs.push(("visitorId", arg_text(v)));
                    }
                    if let Some(l) = &limit {
                        pairs.push(("limit", l.clone()));
                    }
                    format!(
                        "/api/v1/widgets/{}/calls{}",
                        segment(&arg_text(w)),
                        query_string(&pairs)
                    )
                }
                None if args.contains_key("visitorId") => {
                    return Err("visitorId needs widgetId too; call ringside_list_widgets".into())
                }
                None => format!(
                    "/api/v1/calls{}",
                    query_string(&limit.map(|l| vec![("limit", l)]).unwrap_or_default())
                ),
            };
            let (status, v) = rest(api, who, "GET", &uri, None).await;
            if status.is_success() {
                Ok(structured(v, "calls"))
            } else {
                Err(refusal(t, &args, status, &v))
            }
        }
        Run::WaitingCalls => {
            let widgets: Vec<String> = match args.get("widgetId") {
                Some(w) => vec![arg_text(w)],
                None => {
                    let (status, v) = rest(api, who, "GET", "/api/v1/widgets", None).await;
                    if !status.is_success() {
                        return Err(refusal(t, &args, status, &v));
                    }
                    v.as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|w| w["id"].as_str().map(str::to_owned))
                        .collect()
                }
            };
            let mut calls = Vec::new();
            for w in &widgets {
                let uri = format!("/api/v1/widgets/{}/calls-waiting", segment(w));
                let (status, v) = rest(api, who, "GET", &uri, None).await;
                if !status.is_success() {
                    if args.contains_key("widgetId") {
                        return Err(refusal(t, &args, status, &v));
                    }
                    // A widget this user may not answer: skipped.
                    continue;
                }
                for mut c in v.as_array().cloned().unwrap_or_default() {
                    if let Some(visitor) = c["visitorId"].as_str().map(str::to_owned) {
                        let uri = format!(
                            "/api/v1/widgets/{}/visitors/{}/conversation-link",
                            segment(w),
                            segment(&visitor)
                        );
                        let (st, link) = rest(api, who, "POST", &uri, None).await;
                        if st.is_success() {
                            c["actionUrl"] = link["url"].clone();
                            c["actionUrlExpiresAt"] = link["expiresAt"].clone();
                        }
                    }
                    calls.push(c);
                }
            }
            Ok(json!({"calls": calls, "widgetsScanned": widgets.len()}))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_cannot_escape() {
        assert_eq!(
            segment("../../auth/session"),
            "%2E%2E%2F%2E%2E%2Fauth%2Fsession"
        );
        assert_eq!(segment("w-1_a.b~"), "w-1_a%2Eb~");
        assert_eq!(segment("a b?c#"), "a%20b%3Fc%23");
        assert_eq!(query_string(&[("q", "a&b".into())]), "?q=a%26b");
        assert_eq!(query_string(&[]), "");
    }
}
