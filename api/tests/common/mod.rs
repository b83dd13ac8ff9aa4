//! The harness shared by the router test binaries: storage backends (SQLite always,
//! PostgreSQL when `RINGSIDE_TEST_POSTGRES_URL` is set), the state with no-op collaborators
//! ([`ringside_api::testing`]), and requests through the router with JSON decoding. Each test binary
//! compiles this module on its own, so items some binaries leave unused allow dead code.

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use ringside_api::AppState;
use ringside_storage::Store;
use serde_json::Value;
use tower::ServiceExt;

#[allow(dead_code)]
pub const PUBLIC_URL: &str = "https://calls.example.net";

/// The application state with no-op collaborators ([`ringside_api::testing::state`]) at
/// [`PUBLIC_URL`]; override fields with struct update syntax.
#[allow(dead_code)]
pub fn state(store: &Store) -> AppState {
    ringside_api::testing::state(store, &format!("{PUBLIC_URL}/"))
}

/// The router over a store, for tests that need no other handle.
#[allow(dead_code)]
pub struct App {
    pub app: axum::Router,
    pub store: Store,
}

#[allow(dead_code)]
impl App {
    /// The router of `state`.
    pub fn with_state(state: AppState) -> App {
        App {
            store: state.store.clone(),
            app: ringside_api::router(state),
        }
    }

    /// The router of [`state`] on `store`.
    pub fn on(store: &Store) -> App {
        App::with_state(state(store))
    }
}

impl Harness for App {
    fn app(&self) -> &axum::Router {
        &self.app
    }
    fn store(&self) -> &Store {
        &self.store
    }
}

/// The router of a state with the state kept (tests that run its workers, read its bus or
/// build another router on the same storage).
#[allow(dead_code)]
pub struct StateApp {
    pub app: axum::Router,
    pub state: AppState,
}

#[allow(dead_code)]
impl StateApp {
    /// The router of `state`.
    pub fn new(state: AppState) -> StateApp {
        StateApp {
            app: ringside_api::router(state.clone()),
            state,
        }
    }
}

impl Harness for StateApp {
    fn app(&self) -> &axum::Router {
        &self.app
    }
    fn store(&self) -> &Store {
        &self.state.store
    }
}

/// One multipart part: (name, (file name, content type) for a file, data).
#[allow(dead_code)]
pub type Part<'a> = (&'a str, Option<(&'a str, &'a str)>, &'a [u8]);

/// A `multipart/form-data` body of `parts`: (content type, body).
#[allow(dead_code)]
pub fn multipart(parts: &[Part<'_>]) -> (String, Vec<u8>) {
    let boundary = "XyZb0undary42";
    let mut body = Vec::new();
    for (name, file, data) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file {
            Some((filename, ct)) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: {ct}\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// One storage backend under test.
pub struct Backend {
    pub name: &'static str,
    /// The URL the store was connected with.
    #[allow(dead_code)]
    pub url: String,
    pub store: Store,
    pub schema: Option<ringside_storage::testing::PgSchema>,
}

impl Backend {
    /// Close the store and drop the PostgreSQL schema (a panicking test leaves it behind).
    pub async fn finish(self) {
        self.store.close().await;
        if let Some(s) = self.schema {
            s.drop_schema().await.unwrap();
        }
    }
}

/// SQLite (a fresh `{prefix}-<random>.db` in the temp dir) always; PostgreSQL in a fresh
/// schema when `RINGSIDE_TEST_POSTGRES_URL` is set.
pub async fn backends(prefix: &str) -> Vec<Backend> {
    let path = std::env::temp_dir().join(format!("{prefix}-{}.db", rand::random::<u64>()));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let sqlite = Store::connect(&url).await.unwrap();
    let mut v = vec![Backend {
        name: "sqlite",
        url,
        store: sqlite,
        schema: None,
    }];
    match std::env::var("RINGSIDE_TEST_POSTGRES_URL") {
        Ok(url) => {
            let schema = ringside_storage::testing::PgSchema::create(&url)
                .await
                .expect("postgres reachable");
            let store = Store::connect(&schema.url).await.expect("postgres schema");
            v.push(Backend {
                name: "postgres",
                url: schema.url.clone(),
                store,
                schema: Some(schema),
            });
        }
        Err(_) => eprintln!("RINGSIDE_TEST_POSTGRES_URL unset: PostgreSQL half skipped"),
    }
    v
}

/// A response: status, headers and the body as JSON (`Null` when it is not JSON).
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    /// The body as sent (compressed when the response says so).
    #[allow(dead_code)]
    pub raw: axum::body::Bytes,
}

impl Resp {
    /// Reads a whole response: status, headers, the body as sent and as JSON (`Null` when
    /// it is not JSON).
    #[allow(dead_code)]
    pub async fn read(resp: axum::response::Response) -> Resp {
        let status = resp.status();
        let headers = resp.headers().clone();
        let raw = resp.into_body().collect().await.unwrap().to_bytes();
        Resp {
            status,
            headers,
            body: serde_json::from_slice(&raw).unwrap_or(Value::Null),
            raw,
        }
    }

    #[allow(dead_code)]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Requests through a test context's router, and tokens in its store.
#[allow(dead_code, async_fn_in_trait)]
pub trait Harness {
    fn app(&self) -> &axum::Router;
    fn store(&self) -> &Store;

    /// A token of the user `email` (created with its tenant if new) with `scopes`.
    async fn token(&self, email: &str, scopes: &[&str]) -> String {
        let u = self.store().ensure_user(email).await.unwrap();
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        self.store()
            .create_token(&u.id, "t", &scopes)
            .await
            .unwrap()
            .1
    }

    /// A request with extra headers and an optional JSON body.
    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Resp {
        let mut b = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = match body {
            Some(s) => b
                .header("content-type", "application/json")
                .body(Body::from(s.to_string()))
                .unwrap(),
            None => b.body(Body::empty()).unwrap(),
        };
        Resp::read(self.app().clone().oneshot(req).await.unwrap()).await
    }

    /// A request with an optional bearer token and JSON body.
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("authorization", a)])
            .unwrap_or_default();
        let r = self.send(method, path, &headers, body).await;
        (r.status, r.body)
    }

    /// A request with a bearer token and a JSON body.
    async fn json(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        self.call(method, path, Some(token), Some(&body.to_string()))
            .await
    }
}

/// `p` followed by a random number.
#[allow(dead_code)]
pub fn uniq(p: &str) -> String {
    format!("{p}{}", rand::random::<u32>())
}

/// The body is the stable JSON error with `code`.
#[allow(dead_code)]
pub fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
}
