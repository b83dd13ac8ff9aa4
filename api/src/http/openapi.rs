//! The OpenAPI 3.1 document at `/openapi.json`, generated from the route registrations.
//!
//! Every endpoint is registered through a [`DocRouter`]: the same call that adds the handler
//! to the axum router records its operation (method, path, summary, the bearer scope or the
//! widget key it needs, query parameters, body, answers). [`document`] turns the recorded
//! operations into the document, so an endpoint cannot exist without being documented. Path
//! parameters come from the path itself; the error answers follow from how the endpoint is
//! authenticated (401/403 for bearer scopes, 401/403 origin for widget keys, 404 for paths
//! naming an object, 400/422 for bodies) and all share the stable error schema.

use axum::handler::Handler;
use axum::routing::{self, MethodRouter};
use axum::Router;
use serde_json::{json, Map, Value};

use crate::AppState;

/// How an endpoint is authorised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// A personal access token with this scope (`Authorization: Bearer`).
    Scope(&'static str),
    /// A widget's public key (`Authorization: Bearer wk_...` or `?key=`) and the page's
    /// Origin among the widget's allowed domains.
    WidgetKey,
    /// The widget id and key in the query or body (`clientId`, `widgetKey`) and the Origin.
    WidgetClient,
    /// A signed link (its query parameters).
    SignedLink,
    /// A signed-in dashboard session (cookie `ringside_session`, `X-CSRF-Token` on
    /// writes); the text says which roles may call it.
    Session(&'static str),
    /// None.
    Public,
}

/// A request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// None.
    None,
    /// A JSON object, described in words.
    Json(&'static str),
    /// Either JSON or `multipart/form-data` (with a file part).
    JsonOrMultipart(&'static str),
    /// A WAV file (`audio/wav`).
    Wav,
    /// `multipart/form-data` only (with a file part), its parts described in words.
    Multipart(&'static str),
    /// `application/x-www-form-urlencoded` (the OAuth endpoints), described in words.
    Form(&'static str),
}

/// Makes the JSON Schema of a Rust type (its `JsonSchema` impl), registering the types it
/// refers to with the generator: `#/components/schemas/<Type>`.
pub type SchemaFn = fn(&mut schemars::SchemaGenerator) -> schemars::Schema;

/// The settings every schema of the document is made with: JSON Schema 2020-12 (what
/// OpenAPI 3.1 uses), named types under `#/components/schemas/`, no boolean schemas.
pub fn schema_settings() -> schemars::generate::SchemaSettings {
    let mut s = schemars::generate::SchemaSettings::draft2020_12();
    s.definitions_path = "#/components/schemas/".into();
    s.meta_schema = None;
    // `true` (any JSON, e.g. a `serde_json::Value` field) as `{}`: code generators take
    // schema objects only.
    let mut no_bools = schemars::transform::ReplaceBoolSchemas::default();
    no_bools.skip_additional_properties = true;
    s.transforms.push(Box::new(no_bools));
    s
}

/// A list answer, `{"data": [...]}`.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct DataList<T> {
    /// The items.
    pub data: Vec<T>,
}

impl<T> From<Vec<T>> for DataList<T> {
    fn from(data: Vec<T>) -> Self {
        DataList { data }
    }
}

/// The shape of a JSON-RPC 2.0 response, as the MCP endpoint answers (the transport writes
/// them as JSON; this type documents them).
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct JsonRpcResponse {
    /// `2.0`.
    #[schemars(extend("const" = "2.0"))]
    pub jsonrpc: String,
    /// The request's id (null when it could not be read).
    #[schemars(with = "Option<JsonRpcId>")]
    pub id: Option<Value>,
    /// The method's result, on success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Map<String, Value>>,
    /// What went wrong, on failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JsonRpcErrorBody>,
}

/// What the MCP endpoint answers a POST with: one response, or an array of them for a batch
/// (revisions 2025-03-26 and before).
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum JsonRpcAnswer {
    /// The answer to one message.
    One(JsonRpcResponse),
    /// The answers to a batch, in order.
    Batch(Vec<JsonRpcResponse>),
}

/// A JSON-RPC id.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum JsonRpcId {
    /// A string id.
    Text(String),
    /// A number id.
    Number(i64),
}

/// A JSON-RPC error.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct JsonRpcErrorBody {
    /// JSON-RPC (-32700 parse error, -32600 invalid request, -32601 unknown method, -32602
    /// invalid params) or MCP error code.
    pub code: i64,
    /// What to change.
    pub message: String,
    /// More, when there is (e.g. the supported protocol revisions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// One documented operation.
#[derive(Debug, Clone)]
pub struct Spec {
    /// One line.
    pub summary: &'static str,
    /// Grouping in the document.
    pub tag: &'static str,
    /// What it needs.
    pub auth: Auth,
    /// Query parameters: (name, description).
    pub query: &'static [(&'static str, &'static str)],
    /// The body.
    pub body: Body,
    /// The success status.
    pub ok: u16,
    /// What the success answer holds.
    pub ok_desc: &'static str,
    /// The success content type (`application/json` unless said).
    pub ok_type: &'static str,
    /// Further answers the operation may give (status, what it means), beyond those its
    /// kind of authentication, body and path imply.
    pub also: &'static [(u16, &'static str)],
    /// The success answer's type, when it is documented by one.
    pub returns: Option<SchemaFn>,
    /// The JSON body's type, when it is documented by one.
    pub takes: Option<SchemaFn>,
}

impl Spec {
    /// A GET-like operation answering 200 JSON.
    pub const fn new(tag: &'static str, auth: Auth, summary: &'static str) -> Spec {
        Spec {
            summary,
            tag,
            auth,
            query: &[],
            body: Body::None,
            ok: 200,
            ok_desc: "OK",
            ok_type: "application/json",
            also: &[],
            returns: None,
            takes: None,
        }
    }

    /// The success answer is a `T` (its schema is derived from the type).
    pub fn returns<T: schemars::JsonSchema>(mut self) -> Spec {
        self.returns = Some(|g| g.subschema_for::<T>());
        self
    }

    /// The JSON body is a `T` (its schema is derived from the type).
    pub fn takes<T: schemars::JsonSchema>(mut self) -> Spec {
        self.takes = Some(|g| g.subschema_for::<T>());
        self
    }

    /// With further answers: (status, what it means).
    pub const fn also(mut self, answers: &'static [(u16, &'static str)]) -> Spec {
        self.also = answers;
        self
    }

    /// With query parameters.
    pub const fn query(mut self, q: &'static [(&'static str, &'static str)]) -> Spec {
        self.query = q;
        self
    }

    /// With a body.
    pub const fn body(mut self, b: Body) -> Spec {
        self.body = b;
        self
    }

    /// Answers `status` with `desc`.
    pub const fn ok(mut self, status: u16, desc: &'static str) -> Spec {
        self.ok = status;
        self.ok_desc = desc;
        self
    }

    /// Answers with content type `t`.
    pub const fn content(mut self, t: &'static str) -> Spec {
        self.ok_type = t;
        self
    }
}

/// One recorded operation.
#[derive(Debug, Clone)]
pub struct Op {
    /// `get`, `post`, ...
    pub method: &'static str,
    /// The full path, OpenAPI style (`/api/v1/widgets/{id}`).
    pub path: String,
    /// Its description.
    pub spec: Spec,
}

/// An axum router that records what it routes.
pub struct DocRouter {
    prefix: &'static str,
    router: Router<AppState>,
    ops: Vec<Op>,
}

macro_rules! method {
    ($name:ident, $m:literal) => {
        #[doc = concat!("Routes `", $m, " path` to `handler`, documented by `spec`.")]
        pub fn $name<H, T>(self, path: &'static str, handler: H, spec: Spec) -> Self
        where
            H: Handler<T, AppState>,
            T: 'static,
        {
            self.route(path, routing::$name(handler), &[($m, spec)])
        }
    };
}

impl DocRouter {
    /// Routes whose paths will be nested under `prefix` (`""` at the root).
    pub fn new(prefix: &'static str) -> DocRouter {
        DocRouter {
            prefix,
            router: Router::new(),
            ops: Vec::new(),
        }
    }

    method!(get, "get");
    method!(post, "post");
    method!(patch, "patch");
    method!(put, "put");
    method!(delete, "delete");

    /// Routes a prepared method router (several methods, or layers on it) with the spec of
    /// each method it handles.
    pub fn route(
        mut self,
        path: &'static str,
        mr: MethodRouter<AppState>,
        specs: &[(&'static str, Spec)],
    ) -> Self {
        self.router = self.router.route(path, mr);
        for (method, spec) in specs {
            self.ops.push(Op {
                method,
                path: format!("{}{path}", self.prefix),
                spec: spec.clone(),
            });
        }
        self
    }

    /// An undocumented CORS preflight handler on an already documented path.
    pub fn preflight<H, T>(mut self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.router = self.router.route(path, routing::options(handler));
        self
    }

    /// Wraps the routes with a layer (e.g. a rate limiter), like `Router::route_layer`.
    pub fn map_router(mut self, f: impl FnOnce(Router<AppState>) -> Router<AppState>) -> Self {
        self.router = f(self.router);
        self
    }

    /// Adds another's routes and operations.
    pub fn merge(mut self, other: DocRouter) -> Self {
        self.router = self.router.merge(other.router);
        self.ops.extend(other.ops);
        self
    }

    /// The router and the operations.
    pub fn into_parts(self) -> (Router<AppState>, Vec<Op>) {
        (self.router, self.ops)
    }
}

/// Routes already documented (a [`DocRouter`]'s, from [`DocRouter::into_parts`]) mounted again
/// under `prefix` on their own, for in-process requests (the MCP tools call `/api/v1`
/// through this): nothing is reachable here that the document does not show.
pub(crate) fn remount(prefix: &str, documented: Router<AppState>) -> Router<AppState> {
    Router::new().nest(prefix, documented)
}

fn error_response(desc: &str) -> Value {
    json!({"description": desc, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

/// The OpenAPI 3.1 document for `ops`.
pub fn document(ops: &[Op], server_url: &str) -> Value {
    let mut paths: Map<String, Value> = Map::new();
    let mut types = schema_settings().into_generator();
    for op in ops {
        let mut params: Vec<Value> = Vec::new();
        for seg in op.path.split('/') {
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                params.push(json!({"name": name, "in": "path", "required": true,
                                   "schema": {"type": "string"}}));
            }
        }
        for (name, desc) in op.spec.query {
            params.push(json!({"name": name, "in": "query", "required": false,
                               "description": desc, "schema": {"type": "string"}}));
        }
        let mut responses = Map::new();
        let ok = if op.spec.ok_type == "application/json" {
            // Untyped answers say nothing of their shape rather than something wrong.
            let schema = op
                .spec
                .returns
                .map_or_else(|| json!({}), |f| f(&mut types).to_value());
            json!({"description": op.spec.ok_desc,
                   "content": {"application/json": {"schema": schema}}})
        } else if op.spec.ok_type.is_empty() {
            json!({"description": op.spec.ok_desc})
        } else {
            json!({"description": op.spec.ok_desc, "content": {op.spec.ok_type: {}}})
        };
        responses.insert(op.spec.ok.to_string(), ok);
        let mut o = json!({
            "summary": op.spec.summary,
            "operationId": operation_id(op),
            "tags": [op.spec.tag],
            "parameters": params,
        });
        match op.spec.auth {
            Auth::Scope(scope) => {
                o["security"] = json!([{"bearer": [scope]}, {"session": []}]);
                o["x-required-scope"] = json!(scope);
                responses.insert(
                    "401".into(),
                    error_response("No valid bearer token or session cookie"),
                );
                responses.insert(
                    "403".into(),
                    error_response(&format!(
                        "The token lacks the scope {scope}, the user's role does not allow it, \
                         or a cookie-authenticated write lacks X-CSRF-Token"
                    )),
                );
            }
            Auth::Session(who) => {
                o["security"] = json!([{"session": []}]);
                o["x-roles"] = json!(who);
                responses.insert("401".into(), error_response("Not signed in"));
                responses.insert(
                    "403".into(),
                    error_response(&format!("Only for {who}; or a write without X-CSRF-Token")),
                );
            }
            Auth::WidgetKey => {
                o["security"] = json!([{"widgetKey": []}]);
                responses.insert("401".into(), error_response("Missing or wrong widget key"));
                responses.insert(
                    "403".into(),
                    error_response("The page's Origin is not among the widget's allowed domains"),
                );
                responses.insert("429".into(), error_response("Abuse or usage limit"));
            }
            Auth::WidgetClient => {
                o["security"] = json!([]);
                responses.insert("401".into(), error_response("Missing or wrong widget key"));
                responses.insert("404".into(), error_response("No such widget"));
                responses.insert(
                    "403".into(),
                    error_response("The page's Origin is not among the widget's allowed domains"),
                );
                responses.insert("429".into(), error_response("Abuse or usage limit"));
            }
            Auth::SignedLink => {
                o["security"] = json!([]);
                responses.insert(
                    "403".into(),
                    error_response("The link's signature is wrong"),
                );
                responses.insert("410".into(), error_response("The link has expired"));
                responses.insert(
                    "429".into(),
                    error_response("Too many replies through links"),
                );
            }
            Auth::Public => {
                o["security"] = json!([]);
            }
        }
        if op.spec.auth != Auth::Public {
            responses.insert(
                "503".into(),
                error_response("The database is unreachable for now; retry after Retry-After"),
            );
        }
        if op.path.contains('{') {
            responses.insert(
                "404".into(),
                error_response("Not found, or another tenant's"),
            );
        }
        match op.spec.body {
            Body::None => {}
            Body::Json(desc) => {
                let schema = op
                    .spec
                    .takes
                    .map_or_else(|| json!({"type": "object"}), |f| f(&mut types).to_value());
                o["requestBody"] = json!({"required": true, "description": desc,
                    "content": {"application/json": {"schema": schema}}});
            }
            Body::JsonOrMultipart(desc) => {
                o["requestBody"] = json!({"required": true, "description": desc, "content": {
                    "application/json": {"schema": {"type": "object"}},
                    "multipart/form-data": {"schema": {"type": "object"}}}});
            }
            Body::Multipart(desc) => {
                o["requestBody"] = json!({"required": true, "description": desc, "content": {
                    "multipart/form-data": {"schema": {"type": "object",
                        "properties": {"file": {"type": "string", "contentMediaType": "application/octet-stream"}},
                        "required": ["file"]}}}});
            }
            Body::Form(desc) => {
                o["requestBody"] = json!({"required": true, "description": desc, "content": {
                    "application/x-www-form-urlencoded": {"schema": {"type": "object",
                        "additionalProperties": {"type": "string"}}}}});
            }
            Body::Wav => {
                o["requestBody"] = json!({"required": true, "description": "A WAV file",
                    "content": {"audio/wav": {"schema": {"type": "string", "contentMediaType": "audio/wav"}}}});
            }
        }
        if op.spec.body != Body::None {
            responses.insert(
                "400".into(),
                error_response("The body is not valid JSON of the expected shape"),
            );
            responses.insert(
                "422".into(),
                error_response("A field is invalid (the error names it)"),
            );
        }
        if !op.spec.query.is_empty() || op.path.contains('{') {
            responses
                .entry("400")
                .or_insert_with(|| error_response("A path or query parameter cannot be parsed"));
            responses.entry("422").or_insert_with(|| {
                error_response("A parameter is out of range (the error names it)")
            });
        }
        if op.path.ends_with("/ws") || op.path.contains("/ws/") {
            responses.insert(
                "400".into(),
                error_response("Not a WebSocket upgrade request"),
            );
        }
        for (status, desc) in op.spec.also {
            let r = if *status >= 400 {
                error_response(desc)
            } else {
                json!({ "description": desc })
            };
            responses.insert(status.to_string(), r);
        }
        if op.spec.tag == "OAuth" {
            // RFC 6749 error bodies; the browser pages answer HTML.
            let html = op.spec.ok_type == "text/html";
            for (status, r) in responses.iter_mut() {
                if status.starts_with('4') || status.starts_with('5') {
                    r["content"] = if html {
                        json!({"text/html": {}})
                    } else {
                        json!({"application/json": {"schema":
                            {"$ref": "#/components/schemas/OAuthError"}}})
                    };
                }
            }
        }
        if op.spec.tag == "MCP" {
            // JSON-RPC: errors are JSON-RPC error responses, not the REST error body.
            for (status, r) in responses.iter_mut() {
                if status.starts_with('4') || status.starts_with('5') {
                    r["content"] = json!({"application/json": {"schema":
                        {"$ref": "#/components/schemas/JsonRpcError"}}});
                }
            }
        }
        o["responses"] = Value::Object(responses);
        let entry = paths
            .entry(op.path.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[op.method] = o;
    }
    let mut schemas = types.take_definitions(true);
    let fixed = json!({
        "JsonRpcError": {"type": "object", "required": ["jsonrpc", "error"], "properties": {
            "jsonrpc": {"const": "2.0"},
            "id": {"type": ["string", "integer", "null"]},
            "error": {"type": "object", "required": ["code", "message"], "properties": {
                "code": {"type": "integer", "description": "JSON-RPC or MCP error code"},
                "message": {"type": "string"},
                "data": {}}}}},
        "OAuthError": {"type": "object", "required": ["error"], "properties": {
            "error": {"type": "string", "description": "RFC 6749 error code"},
            "error_description": {"type": "string"}}},
        "Error": {"type": "object", "required": ["error"], "properties": {
            "error": {"type": "object", "required": ["code", "message"], "properties": {
                "code": {"type": "string", "description": "Stable machine-readable code"},
                "message": {"type": "string"}}}}},
    });
    if let Value::Object(m) = fixed {
        schemas.extend(m);
    }
    let mut scopes = Map::new();
    for s in crate::auth::SCOPES {
        scopes.insert((*s).into(), json!(format!("The {s} scope")));
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Ringside API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Ringside: self-hosted website calling gateway. /api/v1 uses personal \
                access tokens (`Authorization: Bearer ...`) with per-endpoint scopes; the public \
                widget runtime uses the widget's public key and the page's Origin. Errors are \
                always `{\"error\": {\"code\", \"message\"}}`.",
            "license": {"name": "AGPL-3.0-or-later"},
        },
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "A personal access token; each operation names the scope it needs (x-required-scope).",
                           "x-scopes": scopes},
                "session": {"type": "apiKey", "in": "cookie", "name": "ringside_session",
                            "description": "A dashboard session from POST /api/v1/auth/session; \
                                requests that change state also send its csrfToken as X-CSRF-Token. \
                                A session has every scope its user's role allows."},
                "widgetKey": {"type": "http", "scheme": "bearer",
                              "description": "A widget's public key (wk_...), also accepted as ?key="},
            },
            "schemas": schemas,
        },
    })
}

fn operation_id(op: &Op) -> String {
    let mut id = String::from(op.method);
    for seg in op
        .path
        .split('/')
        .filter(|s| !s.is_empty() && *s != "api" && *s != "v1")
    {
        let seg = seg.trim_start_matches('{').trim_end_matches('}');
        // Each segment (and each word in it) starts upper case: getWidgetsIdAnalytics.
        let mut up = true;
        for c in seg.chars() {
            if c.is_ascii_alphanumeric() {
                if up {
                    id.extend(c.to_uppercase());
                } else {
                    id.push(c);
                }
                up = false;
            } else {
                up = true;
            }
        }
    }
    id
}
