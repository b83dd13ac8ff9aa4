//! JSON-RPC 2.0 as MCP carries it, without I/O: parsing a POSTed body into messages, telling
//! which protocol revision a request speaks, and the error objects.
//!
//! Revisions served side by side:
//! - `2026-07-28`, stateless: no `initialize`; every request names its revision and the
//!   client's capabilities in `params._meta` (`io.modelcontextprotocol/protocolVersion`,
//!   `io.modelcontextprotocol/clientCapabilities`), and `server/discover` tells what the server
//!   supports. An unsupported revision there is HTTP 400 with error -32022.
//! - `2025-11-25`, `2025-06-18`, `2025-03-26` (and `2024-11-05`): the `initialize` handshake,
//!   then the revision in the `MCP-Protocol-Version` header (or the session, or `2025-03-26`
//!   when neither says).
//!
//! A request that names no revision at all (the guide's bare curl `tools/list`) is served as
//! a legacy one.

use serde_json::{json, Map, Value};

/// The stateless revision.
pub const STATELESS: &str = "2026-07-28";
/// The revisions with the `initialize` handshake, newest first.
pub const LEGACY: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];
/// The revision assumed when a legacy request names none (as the transport spec says).
pub const LEGACY_DEFAULT: &str = "2025-03-26";
/// `_meta` key of a request's revision (stateless).
pub const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// `_meta` key of the client's capabilities (stateless).
pub const META_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// `_meta` key of the server's name and version in stateless results.
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// Every revision served, newest first.
pub fn supported() -> Vec<&'static str> {
    let mut v = vec![STATELESS];
    v.extend_from_slice(LEGACY);
    v
}

/// JSON-RPC and MCP error codes.
pub mod code {
    /// The body is not JSON.
    pub const PARSE: i64 = -32700;
    /// Not a JSON-RPC request.
    pub const INVALID_REQUEST: i64 = -32600;
    /// No such method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Bad parameters.
    pub const INVALID_PARAMS: i64 = -32602;
    /// The server failed.
    pub const INTERNAL: i64 = -32603;
    /// `MCP-Protocol-Version` and `_meta` disagree.
    pub const HEADER_MISMATCH: i64 = -32020;
    /// A revision the server does not speak.
    pub const UNSUPPORTED_VERSION: i64 = -32022;
}

/// A JSON-RPC error response (`id` null when the request's could not be read).
pub fn error(id: Option<&Value>, code: i64, message: &str, data: Option<Value>) -> Value {
    let mut e = json!({"code": code, "message": message});
    if let Some(d) = data {
        e["data"] = d;
    }
    json!({"jsonrpc": "2.0", "id": id.cloned().unwrap_or(Value::Null), "error": e})
}

/// A JSON-RPC success response.
pub fn result(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// One JSON-RPC message from the client.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A request: an answer is owed.
    Request {
        /// Its id (a string or a number).
        id: Value,
        /// The method.
        method: String,
        /// Its parameters (an empty object when absent).
        params: Map<String, Value>,
    },
    /// A notification (no id): nothing is answered.
    Notification {
        /// The method.
        method: String,
    },
    /// A response to something the server asked (the server asks nothing: ignored).
    Response,
    /// Not a valid message: answered with this error.
    Invalid(Value),
}

/// A POSTed body: one message, or a batch (an array, 2025-03-26).
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// One message.
    One(Incoming),
    /// A batch.
    Batch(Vec<Incoming>),
}

/// Reads a POSTed body; `Err` is the error response for a body that is not JSON or an empty
/// batch.
pub fn parse(bytes: &[u8]) -> Result<Body, Value> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| error(None, code::PARSE, &format!("Parse error: {e}"), None))?;
    match v {
        Value::Array(items) if items.is_empty() => Err(error(
            None,
            code::INVALID_REQUEST,
            "Invalid Request: an empty batch",
            None,
        )),
        Value::Array(items) => Ok(Body::Batch(items.into_iter().map(message).collect())),
        other => Ok(Body::One(message(other))),
    }
}

/// One message of a body.
pub fn message(v: Value) -> Incoming {
    let Value::Object(mut o) = v else {
        return Incoming::Invalid(error(
            None,
            code::INVALID_REQUEST,
            "Invalid Request: a message is a JSON object",
            None,
        ));
    };
    let id = o.remove("id");
    let id_ok = matches!(&id, None | Some(Value::String(_) | Value::Number(_)));
    if o.get("jsonrpc").and_then(Value::as_str) != Some("2.0") || !id_ok {
        return Incoming::Invalid(error(
            id.as_ref().filter(|_| id_ok),
            code::INVALID_REQUEST,
            "Invalid Request: jsonrpc must be \"2.0\" and id a string or a number",
            None,
        ));
    }
    let method = match o.remove("method") {
        Some(Value::String(m)) => m,
        Some(_) => {
            return Incoming::Invalid(error(
                id.as_ref(),
                code::INVALID_REQUEST,
                "Invalid Request: method must be a string",
                None,
            ))
        }
        None if o.contains_key("result") || o.contains_key("error") => return Incoming::Response,
        None => {
            return Incoming::Invalid(error(
                id.as_ref(),
                code::INVALID_REQUEST,
                "Invalid Request: no method",
                None,
            ))
        }
    };
    let params = match o.remove("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p,
        Some(_) => {
            return match id {
                Some(id) => Incoming::Invalid(error(
                    Some(&id),
                    code::INVALID_PARAMS,
                    "Invalid params: params must be an object",
                    None,
                )),
                None => Incoming::Notification { method },
            }
        }
    };
    match id {
        Some(id) => Incoming::Request { id, method, params },
        None => Incoming::Notification { method },
    }
}

/// How a request is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revision {
    /// The stateless revision (results carry `resultType`).
    Stateless,
    /// A legacy revision.
    Legacy(String),
}

impl Revision {
    /// Whether tools carry `outputSchema` and results `structuredContent` (2025-06-18 on).
    pub fn structured(&self) -> bool {
        !matches!(self, Revision::Legacy(v) if v == "2025-03-26" || v == "2024-11-05")
    }
}

/// Why a request cannot be served: the HTTP status and the error response.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// 400.
    pub status: u16,
    /// The JSON-RPC error.
    pub body: Value,
}

/// The revision request `(id, method, params)` speaks, given the `MCP-Protocol-Version`
/// header and the revision of the legacy session it came in (if any).
pub fn revision(
    id: &Value,
    method: &str,
    params: &Map<String, Value>,
    header: Option<&str>,
    session: Option<&str>,
) -> Result<Revision, Refusal> {
    let refuse = |code, message: &str, data| Refusal {
        status: 400,
        body: error(Some(id), code, message, data),
    };
    let meta = params.get("_meta").and_then(Value::as_object);
    let in_meta = meta.and_then(|m| m.get(META_VERSION));
    if let Some(v) = in_meta {
        let Some(v) = v.as_str() else {
            return Err(refuse(
                code::INVALID_PARAMS,
                "Invalid params: _meta protocolVersion must be a string",
                None,
            ));
        };
        if header.is_some_and(|h| h != v) {
            return Err(refuse(
                code::HEADER_MISMATCH,
                "The MCP-Protocol-Version header and the request's _meta protocolVersion differ",
                Some(json!({"header": header, "meta": v})),
            ));
        }
        if method != "initialize" {
            if v == STATELESS {
                if meta
                    .and_then(|m| m.get(META_CAPABILITIES))
                    .is_none_or(|c| !c.is_object())
                {
                    return Err(refuse(
                        code::INVALID_PARAMS,
                        "Invalid params: request requires clientCapabilities in request _meta",
                        None,
                    ));
                }
                return Ok(Revision::Stateless);
            }
            if !LEGACY.contains(&v) {
                return Err(refuse(
                    code::UNSUPPORTED_VERSION,
                    "Unsupported protocol version",
                    Some(json!({"requested": v, "supported": supported()})),
                ));
            }
        }
    }
    // The handshake, or a request in a legacy revision (named in `_meta`, the header or the
    // session, in that order).
    let version = in_meta
        .and_then(Value::as_str)
        .filter(|_| method != "initialize")
        .or(header)
        .or(session)
        .unwrap_or(LEGACY_DEFAULT);
    if method != "initialize" {
        if version == STATELESS {
            // The stateless revision without its `_meta`.
            return Err(refuse(
                code::INVALID_PARAMS,
                "Invalid params: request requires protocolVersion in request _meta",
                None,
            ));
        }
        if !LEGACY.contains(&version) {
            return Err(refuse(
                code::UNSUPPORTED_VERSION,
                "Unsupported protocol version",
                Some(json!({"requested": version, "supported": supported()})),
            ));
        }
    }
    Ok(Revision::Legacy(version.to_owned()))
}

/// The revision a legacy `initialize` settles on: the client's when served, else the newest.
pub fn negotiate(asked: Option<&str>) -> &'static str {
    asked
        .and_then(|a| LEGACY.iter().find(|v| **v == a))
        .copied()
        .unwrap_or(LEGACY[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(v: Value) -> (Value, String, Map<String, Value>) {
        match message(v) {
            Incoming::Request { id, method, params } => (id, method, params),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bodies_and_messages() {
        assert_eq!(parse(b"{").unwrap_err()["error"]["code"], code::PARSE);
        assert_eq!(
            parse(b"[]").unwrap_err()["error"]["code"],
            code::INVALID_REQUEST
        );
        let Body::One(Incoming::Invalid(e)) =
            parse(br#"{"jsonrpc":"1.0","id":1,"method":"x"}"#).unwrap()
        else {
            panic!()
        };
        assert_eq!(e["error"]["code"], code::INVALID_REQUEST);
        assert_eq!(e["id"], 1);
        let Body::One(Incoming::Invalid(e)) =
            parse(br#"{"jsonrpc":"2.0","id":{"x":1},"method":"x"}"#).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            e["id"],
            Value::Null,
            "an id of the wrong type is not echoed"
        );
        assert_eq!(
            parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap(),
            Body::One(Incoming::Notification {
                method: "notifications/initialized".into()
            })
        );
        assert_eq!(
            parse(br#"{"jsonrpc":"2.0","id":5,"result":{}}"#).unwrap(),
            Body::One(Incoming::Response)
        );
        let Body::Batch(b) = parse(br#"[{"jsonrpc":"2.0","id":1,"method":"ping"},7]"#).unwrap()
        else {
            panic!()
        };
        assert!(matches!(b[0], Incoming::Request { .. }));
        assert!(matches!(b[1], Incoming::Invalid(_)));
        let (_, _, p) = req(json!({"jsonrpc": "2.0", "id": "a", "method": "tools/list"}));
        assert!(p.is_empty());
        let Incoming::Invalid(e) =
            message(json!({"jsonrpc": "2.0", "id": 2, "method": "x", "params": [1]}))
        else {
            panic!()
        };
        assert_eq!(e["error"]["code"], code::INVALID_PARAMS);
    }

    #[test]
    fn revisions_side_by_side() {
        let stateless = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {
            "_meta": {META_VERSION: STATELESS, META_CAPABILITIES: {}}}});
        let (id, m, p) = req(stateless);
        assert_eq!(revision(&id, &m, &p, None, None), Ok(Revision::Stateless));
        assert_eq!(
            revision(&id, &m, &p, Some(STATELESS), None),
            Ok(Revision::Stateless)
        );
        let e = revision(&id, &m, &p, Some("2025-06-18"), None).unwrap_err();
        assert_eq!(e.body["error"]["code"], code::HEADER_MISMATCH);
        // Bare curl: no revision anywhere.
        let (id, m, p) = req(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
        assert_eq!(
            revision(&id, &m, &p, None, None),
            Ok(Revision::Legacy("2025-03-26".into()))
        );
        assert_eq!(
            revision(&id, &m, &p, Some("2025-06-18"), Some("2025-11-25")),
            Ok(Revision::Legacy("2025-06-18".into()))
        );
        assert_eq!(
            revision(&id, &m, &p, None, Some("2025-11-25")),
            Ok(Revision::Legacy("2025-11-25".into()))
        );
        let e = revision(&id, &m, &p, Some("1999-01-01"), None).unwrap_err();
        assert_eq!(
            (e.status, e.body["error"]["code"].clone()),
            (400, json!(-32022))
        );
        let e = revision(&id, &m, &p, Some(STATELESS), None).unwrap_err();
        assert_eq!(e.body["error"]["code"], code::INVALID_PARAMS);
        // An unknown revision in `_meta`; the stateless one without capabilities.
        let (id, m, p) = req(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list",
            "params": {"_meta": {META_VERSION: "2030-01-01", META_CAPABILITIES: {}}}}));
        let e = revision(&id, &m, &p, None, None).unwrap_err();
        assert_eq!(e.body["error"]["code"], code::UNSUPPORTED_VERSION);
        assert_eq!(e.body["error"]["data"]["supported"][0], STATELESS);
        let (id, m, p) = req(json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list",
            "params": {"_meta": {META_VERSION: STATELESS}}}));
        let e = revision(&id, &m, &p, None, None).unwrap_err();
        assert_eq!(e.body["error"]["code"], code::INVALID_PARAMS);
        // initialize is the legacy handshake whatever it names.
        let (id, m, p) = req(json!({"jsonrpc": "2.0", "id": 5, "method": "initialize",
            "params": {"protocolVersion": "2030-01-01"}}));
        assert!(matches!(
            revision(&id, &m, &p, None, None),
            Ok(Revision::Legacy(_))
        ));
        // A legacy revision named in `_meta` counts (over the session's).
        let (id, m, p) = req(json!({"jsonrpc": "2.0", "id": 6, "method": "tools/list",
            "params": {"_meta": {META_VERSION: "2025-06-18"}}}));
        assert_eq!(
            revision(&id, &m, &p, None, Some("2025-03-26")),
            Ok(Revision::Legacy("2025-06-18".into()))
        );
        assert_eq!(negotiate(Some("2030-01-01")), "2025-11-25");
        assert_eq!(negotiate(Some("2025-06-18")), "2025-06-18");
        assert_eq!(negotiate(None), "2025-11-25");
        assert!(!Revision::Legacy("2025-03-26".into()).structured());
        assert!(Revision::Legacy("2025-06-18".into()).structured());
        assert!(Revision::Stateless.structured());
    }
}
