//! The realtime sockets over a real server and a real WebSocket client
//! ([`ringside_api::realtime`]): the tenant socket's authentication (timeout, bad token,
//! missing scope), tenant isolation and per-scope filtering of conversation, message and
//! visitor events; the widget socket's key and origin checks and its pushes (operator
//! replies, direct-navigate). On SQLite, and on PostgreSQL when `RINGSIDE_TEST_POSTGRES_URL`
//! is set.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use ringside_api::realtime::Bus;
use ringside_api::{router, AppState};
use ringside_storage::Store;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const ORIGIN: &str = "https://example.com";
/// Nothing here waits for a socket longer than this; the auth timeout is much shorter.
const PATIENCE: Duration = Duration::from_secs(20);

struct Server {
    addr: SocketAddr,
    http: reqwest::Client,
    store: Store,
    /// The team's presence, as the sockets leave it.
    console: Arc<ringside_api::console::ConsoleOperators>,
}

async fn serve(store: &Store) -> Server {
    let console = Arc::new(ringside_api::console::ConsoleOperators::default());
    let app = router(AppState {
        bus: Arc::new(Bus::new(Duration::from_millis(300))),
        console: console.clone(),
        ..common::state(store)
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    Server {
        addr,
        http: reqwest::Client::new(),
        store: store.clone(),
        console,
    }
}

struct Tenant {
    email: String,
    token: String,
    widget: String,
    key: String,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn token(&self, email: &str, scopes: &[&str]) -> String {
        let u = self.store.ensure_user(email).await.unwrap();
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        self.store
            .create_token(&u.id, "t", &scopes)
            .await
            .unwrap()
            .1
    }

    async fn tenant(&self, prefix: &str) -> Tenant {
        let email = format!("{}@rt.example", common::uniq(prefix));
        let token = self
            .token(
                &email,
                &[
                    "messages:read",
                    "messages:write",
                    "analytics:read",
                    "widgets:write",
                ],
            )
            .await;
        let w: Value = self
            .http
            .post(self.url("/api/v1/widgets"))
            .bearer_auth(&token)
            .json(&json!({"name": "Site", "allowedDomains": ["example.com"]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Tenant {
            email,
            token,
            widget: w["id"].as_str().unwrap().into(),
            key: w["publicKey"].as_str().unwrap().into(),
        }
    }

    async fn track(&self, t: &Tenant, visitor: &str, url: &str) {
        let r = self
            .http
            .post(self.url(&format!("/api/widgets/{}/track", t.widget)))
            .bearer_auth(&t.key)
            .header("origin", ORIGIN)
            .json(&json!({"visitorId": visitor, "event": "page_view", "url": url}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    async fn chat(&self, t: &Tenant, visitor: &str, text: &str) {
        let r = self
            .http
            .post(self.url(&format!("/api/widgets/{}/chat?key={}", t.widget, t.key)))
            .header("origin", ORIGIN)
            .json(&json!({"sessionId": visitor, "message": text}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }

    async fn reply(&self, t: &Tenant, visitor: &str, text: &str) {
        let r = self
            .http
            .post(self.url(&format!("/api/v1/widgets/{}/messages", t.widget)))
            .bearer_auth(&t.token)
            .json(&json!({"visitorId": visitor, "body": text}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }

    async fn ws(&self, path: &str, origin: Option<&str>) -> Result<Ws, u16> {
        let mut req = format!("ws://{}{path}", self.addr)
            .into_client_request()
            .unwrap();
        if let Some(o) = origin {
            req.headers_mut().insert("origin", o.parse().unwrap());
        }
        match connect_async(req).await {
            Ok((ws, _)) => Ok(ws),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
            Err(e) => panic!("connect: {e}"),
        }
    }

    async fn dashboard(&self, token: &str) -> Ws {
        let mut ws = self.ws("/api/ws/tenant", None).await.unwrap();
        ws.send(Message::Text(
            json!({"type": "auth", "token": token}).to_string().into(),
        ))
        .await
        .unwrap();
        let ok = next_json(&mut ws).await;
        assert_eq!(ok["type"], "auth:ok", "{ok}");
        ws
    }
}

/// The next text frame as JSON (pings and the team's presence are skipped); panics on close
/// or silence.
async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let v = next_frame(ws).await;
        if v["type"] != "agent:presence" {
            return v;
        }
    }
}

/// The next text frame as JSON, whatever it is (pings are skipped).
async fn next_frame(ws: &mut Ws) -> Value {
    loop {
        let m = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("a frame")
            .expect("socket open")
            .expect("frame ok");
        match m {
            Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Frames until the socket closes: the close code.
async fn closed_with(ws: &mut Ws) -> u16 {
    loop {
        match tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("closes")
        {
            Some(Ok(Message::Close(Some(f)))) => return f.code.into(),
            Some(Ok(Message::Close(None))) | None => return 1005,
            Some(Ok(_)) => continue,
            Some(Err(_)) => return 1006,
        }
    }
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn tenant_socket_authenticates_isolates_and_filters() {
    for backend in common::backends("ringside-realtime").await {
        let name = backend.name;
        let s = serve(&backend.store).await;
        let t = s.tenant("rt").await;
        let other = s.tenant("rt-o").await;

        // Silence past the auth timeout closes the socket (4001).
        let mut ws = s.ws("/api/ws/tenant", None).await.unwrap();
        let e = next_json(&mut ws).await;
        assert_eq!(e["error"]["code"], "unauthorized", "[{name}]");
        assert_eq!(closed_with(&mut ws).await, 4001);
        // A bad token, or a first message that is not auth: 4001.
        for first in [
            json!({"type": "auth", "token": "rs_pat_nope"}),
            json!({"type": "ping"}),
        ] {
            let mut ws = s.ws("/api/ws/tenant", None).await.unwrap();
            ws.send(Message::Text(first.to_string().into()))
                .await
                .unwrap();
            assert_eq!(closed_with(&mut ws).await, 4001, "{first}");
        }
        // A token without any dashboard scope: 4003.
        let widgets_only = s.token(&t.email, &["widgets:read"]).await;
        let mut ws = s.ws("/api/ws/tenant", None).await.unwrap();
        ws.send(Message::Text(
            json!({"type": "auth", "token": widgets_only})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
        assert_eq!(closed_with(&mut ws).await, 4003);

        let mut full = s.dashboard(&t.token).await;
        let analytics_only = s.token(&t.email, &["analytics:read"]).await;
        let mut analytics = s.dashboard(&analytics_only).await;
        let mut foreign = s.dashboard(&other.token).await;
        // Ping/pong.
        full.send(Message::Text(r#"{"type":"ping"}"#.into()))
            .await
            .unwrap();
        assert_eq!(next_json(&mut full).await["type"], "pong");

        s.track(&t, "visitor-rt-1", "https://example.com/pricing")
            .await;
        s.chat(&t, "visitor-rt-1", "Do you ship to Canada?").await;
        s.reply(&t, "visitor-rt-1", "We do!").await;
        let r = s
            .http
            .post(s.url(&format!(
                "/api/widgets/{}/callbacks?key={}",
                t.widget, t.key
            )))
            .header("origin", ORIGIN)
            .json(&json!({"visitorId": "visitor-rt-1", "name": "Ana", "email": "ana@example.com"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        // A marker: the last event of the sequence.
        s.track(&t, "visitor-rt-1", "https://example.com/checkout")
            .await;

        let mut got = Vec::new();
        for _ in 0..9 {
            got.push(next_json(&mut full).await);
        }
        assert_eq!(
            types(&got),
            [
                "visitor:connected",
                "visitor:page",
                "conversation:new",
                "message:new",
                "conversation:updated",
                "message:new",
                "conversation:qualified",
                "conversation:updated",
                "visitor:page",
            ],
            "[{name}] {got:?}"
        );
        // The callback shows in the inbox as the chat's latest activity.
        assert!(got[7]["data"]["callbackId"].is_string(), "{}", got[7]);
        assert_eq!(got[0]["data"]["visitorId"], "visitor-rt-1");
        assert_eq!(got[2]["data"]["id"], "visitor-rt-1");
        assert_eq!(got[3]["data"]["body"], "Do you ship to Canada?");
        assert_eq!(got[3]["data"]["sender"], "visitor");
        assert_eq!(got[5]["data"]["sender"], "operator");
        assert_eq!(got[6]["data"]["contact_data"]["email"], "ana@example.com");
        assert!(got[6]["data"]["contactId"].is_string());
        assert!(got.iter().all(|e| e["at"].is_i64()));

        // analytics:read only: the visitor events and nothing of the conversation.
        let mut a = Vec::new();
        for _ in 0..3 {
            a.push(next_json(&mut analytics).await);
        }
        assert_eq!(
            types(&a),
            ["visitor:connected", "visitor:page", "visitor:page"]
        );
        assert_eq!(a[2]["data"]["url"], "https://example.com/checkout");

        // The other tenant saw none of it: its first event is its own.
        s.track(&other, "visitor-rt-9", "https://example.com/")
            .await;
        let first = next_json(&mut foreign).await;
        assert_eq!(first["type"], "visitor:connected");
        assert_eq!(first["data"]["visitorId"], "visitor-rt-9", "[{name}]");
        backend.finish().await;
    }
}

#[tokio::test]
async fn widget_socket_pushes_replies_and_navigation() {
    for backend in common::backends("ringside-realtime-widget").await {
        let name = backend.name;
        let s = serve(&backend.store).await;
        let t = s.tenant("rw").await;
        s.track(&t, "visitor-rw-1", "https://example.com/").await;
        let path = |key: &str, visitor: &str| {
            format!("/api/widgets/{}/ws?key={key}&visitorId={visitor}", t.widget)
        };
        // Refusals at the upgrade: wrong key, foreign origin, bad visitor id.
        assert_eq!(
            s.ws(&path("wk_wrong", "visitor-rw-1"), Some(ORIGIN))
                .await
                .err(),
            Some(401)
        );
        assert_eq!(
            s.ws(&path(&t.key, "visitor-rw-1"), Some("https://evil.example"))
                .await
                .err(),
            Some(403)
        );
        assert_eq!(
            s.ws(&path(&t.key, "x"), Some(ORIGIN)).await.err(),
            Some(422)
        );

        let mut ws = s
            .ws(&path(&t.key, "visitor-rw-1"), Some(ORIGIN))
            .await
            .unwrap();
        let ready = next_json(&mut ws).await;
        assert_eq!(ready["type"], "ready", "[{name}] {ready}");
        // The visitor's own message is not echoed; the operator's reply is pushed.
        s.chat(&t, "visitor-rw-1", "hello").await;
        s.reply(&t, "visitor-rw-2", "for someone else").await;
        s.reply(&t, "visitor-rw-1", "Hi, how can I help?").await;
        let m = next_json(&mut ws).await;
        assert_eq!(m["type"], "message", "[{name}] {m}");
        assert_eq!(m["data"]["body"], "Hi, how can I help?");
        assert_eq!(m["data"]["sender"], "operator");
        // Direct-navigate arrives on the socket at once, and not again with a heartbeat.
        let r = s
            .http
            .post(s.url(&format!(
                "/api/v1/widgets/{}/visitors/visitor-rw-1/direct-navigate",
                t.widget
            )))
            .bearer_auth(&t.token)
            .json(&json!({"url": "/pricing", "title": "Pricing"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let n = next_json(&mut ws).await;
        assert_eq!(n["type"], "navigate", "[{name}] {n}");
        assert_eq!(n["url"], "/pricing");
        let hb: Value = s
            .http
            .post(s.url(&format!("/api/widgets/{}/track", t.widget)))
            .bearer_auth(&t.key)
            .header("origin", ORIGIN)
            .json(&json!({"visitorId": "visitor-rw-1", "event": "heartbeat"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(hb["commands"], json!([]));
        backend.finish().await;
    }
}

#[tokio::test]
async fn revoking_a_token_closes_its_sockets_within_seconds() {
    for backend in common::backends("ringside-realtime-revoke").await {
        let name = backend.name;
        let s = serve(&backend.store).await;
        let t = s.tenant("revoke").await;
        let mut dash = s.dashboard(&t.token).await;
        let console_token = s.token(&t.email, &["calls:write"]).await;
        let mut console = s.ws("/api/ws/console", None).await.unwrap();
        console
            .send(Message::Text(
                json!({"type": "auth", "token": console_token})
                    .to_string()
                    .into(),
            ))
            .await
            .unwrap();
        assert_eq!(next_json(&mut console).await["type"], "auth:ok");
        // Another token of the tenant stays open.
        let other = s.token(&t.email, &["messages:read"]).await;
        let mut kept = s.dashboard(&other).await;
        for tok in [&t.token, &console_token] {
            let ctx = s.store.authenticate_token(tok).await.unwrap().unwrap();
            let ringside_storage::Credential::Token(id) = &ctx.credential else {
                unreachable!("a token authenticates as a token")
            };
            s.store.revoke_token(&ctx.tenant_id, id).await.unwrap();
        }
        assert_eq!(closed_with(&mut dash).await, 4001, "[{name}] dashboard");
        assert_eq!(closed_with(&mut console).await, 4001, "[{name}] console");
        kept.send(Message::Text(json!({"type": "ping"}).to_string().into()))
            .await
            .unwrap();
        assert_eq!(next_json(&mut kept).await["type"], "pong", "[{name}]");
        backend.finish().await;
    }
}

/// The dashboard socket with a session cookie: `{type: "auth"}` without a token is enough from
/// a page of this server; another site's page gets nothing; signing out closes the socket.
#[tokio::test]
async fn a_session_cookie_opens_the_dashboard_socket_from_our_pages_only() {
    for backend in common::backends("ringside-realtime-session").await {
        let name = backend.name;
        let s = serve(&backend.store).await;
        let t = s.tenant("sess").await;
        let user = s.store.find_user_by_email(&t.email).await.unwrap().unwrap();
        let (_, secret) = s
            .store
            .create_session(ringside_storage::NewSession {
                user_id: &user.id,
                now: ringside_storage::now_ms(),
                lifetime_ms: 3_600_000,
                user_agent: None,
                ip: None,
            })
            .await
            .unwrap();
        let cookie = format!("__Host-ringside_session={secret}");
        let open = |origin: &'static str| {
            let mut req = format!("ws://{}/api/ws/tenant", s.addr)
                .into_client_request()
                .unwrap();
            req.headers_mut().insert("origin", origin.parse().unwrap());
            req.headers_mut().insert("cookie", cookie.parse().unwrap());
            async move { connect_async(req).await.unwrap().0 }
        };
        let auth = json!({"type": "auth"}).to_string();
        // Another site's page: the cookie is not taken.
        let mut evil = open("https://evil.example").await;
        evil.send(Message::Text(auth.clone().into())).await.unwrap();
        assert_eq!(
            closed_with(&mut evil).await,
            4001,
            "[{name}] foreign origin"
        );
        // Our page: signed in with the user's rights.
        let mut ws = open(common::PUBLIC_URL).await;
        ws.send(Message::Text(auth.clone().into())).await.unwrap();
        let ok = next_json(&mut ws).await;
        assert_eq!(ok["type"], "auth:ok", "[{name}] {ok}");
        assert_eq!(ok["userId"], user.id.as_str());
        s.reply(&t, "visitor-77", "hello").await;
        let ev = next_json(&mut ws).await;
        assert_eq!(ev["type"], "conversation:new", "[{name}] {ev}");
        // The console page sends an empty token: the cookie signs it in.
        let mut req = format!("ws://{}/api/ws/console", s.addr)
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("origin", common::PUBLIC_URL.parse().unwrap());
        req.headers_mut().insert("cookie", cookie.parse().unwrap());
        let mut console = connect_async(req).await.unwrap().0;
        console
            .send(Message::Text(
                json!({"type": "auth", "token": ""}).to_string().into(),
            ))
            .await
            .unwrap();
        let ok = next_json(&mut console).await;
        assert_eq!(ok["type"], "auth:ok", "[{name}] console {ok}");
        // Signing out closes it.
        let me: Value = s
            .http
            .get(s.url("/api/v1/auth/session"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let r = s
            .http
            .delete(s.url("/api/v1/auth/session"))
            .header("cookie", &cookie)
            .header("x-csrf-token", me["csrfToken"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        assert_eq!(closed_with(&mut ws).await, 4001, "[{name}] signed out");
        backend.finish().await;
    }
}

/// An agent given some widgets hears only their events on the dashboard socket.
#[tokio::test]
async fn an_agent_given_some_widgets_hears_only_theirs() {
    for backend in common::backends("ringside-realtime-agent").await {
        let name = backend.name;
        let s = serve(&backend.store).await;
        let t = s.tenant("agentw").await;
        let other = s.tenant("agentw").await;
        let owner = s.store.find_user_by_email(&t.email).await.unwrap().unwrap();
        // A second widget of the same tenant, seen through the first tenant's token.
        let w2: Value = s
            .http
            .post(s.url("/api/v1/widgets"))
            .bearer_auth(&t.token)
            .json(&json!({"name": "Second", "allowedDomains": ["example.com"]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let second = Tenant {
            widget: w2["id"].as_str().unwrap().into(),
            key: w2["publicKey"].as_str().unwrap().into(),
            email: t.email.clone(),
            token: t.token.clone(),
        };
        let agent_email = format!("{}@rt.example", common::uniq("agent"));
        let (_, secret) = s
            .store
            .create_invite(ringside_storage::NewInvite {
                tenant_id: &owner.tenant_id,
                invited_by: &owner.id,
                email: &agent_email,
                role: ringside_storage::Role::Agent,
                now: ringside_storage::now_ms(),
                ttl_ms: 3_600_000,
            })
            .await
            .unwrap();
        let agent = s
            .store
            .accept_invite(&secret, &agent_email, ringside_storage::now_ms())
            .await
            .unwrap();
        s.store
            .set_user_widgets(
                &owner.tenant_id,
                &agent.id,
                Some(std::slice::from_ref(&t.widget)),
            )
            .await
            .unwrap();
        let token = s.token(&agent_email, &["messages:read"]).await;
        let mut ws = s.dashboard(&token).await;
        // The second widget's chat comes first, then the agent's widget's: only the latter
        // arrives.
        s.reply(&second, "visitor-201", "not yours").await;
        s.reply(&other, "visitor-202", "another tenant").await;
        s.reply(&t, "visitor-203", "yours").await;
        let ev = next_json(&mut ws).await;
        assert_eq!(ev["type"], "conversation:new", "[{name}] {ev}");
        assert_eq!(ev["data"]["widgetId"], t.widget.as_str(), "[{name}] {ev}");
        backend.finish().await;
    }
}

#[tokio::test]
async fn typing_goes_both_ways_for_the_right_visitor_only() {
    for backend in common::backends("ringside-realtime-typing").await {
        let name = backend.name;
        let s = serve(&backend.store).await;
        let t = s.tenant("rt").await;
        s.track(&t, "visitor-rt-1", "https://example.com/").await;
        let path = |visitor: &str| {
            format!(
                "/api/widgets/{}/ws?key={}&visitorId={visitor}",
                t.widget, t.key
            )
        };
        let mut page = s.ws(&path("visitor-rt-1"), Some(ORIGIN)).await.unwrap();
        let mut other = s.ws(&path("visitor-rt-2"), Some(ORIGIN)).await.unwrap();
        assert_eq!(next_json(&mut page).await["type"], "ready");
        assert_eq!(next_json(&mut other).await["type"], "ready");
        let mut dash = s.dashboard(&t.token).await;
        // The visitor types: the dashboard hears it; a flood is cut to the burst allowance.
        for _ in 0..10 {
            page.send(Message::Text(r#"{"type":"typing","typing":true}"#.into()))
                .await
                .unwrap();
        }
        let e = next_json(&mut dash).await;
        assert_eq!(e["type"], "visitor:typing", "[{name}] {e}");
        assert_eq!(
            (
                e["data"]["visitorId"].as_str(),
                e["data"]["typing"].as_bool()
            ),
            (Some("visitor-rt-1"), Some(true))
        );
        // The page's own messages come in order after its typing: count what got through.
        s.chat(&t, "visitor-rt-1", "done").await;
        let mut relayed = 1;
        loop {
            let e = next_json(&mut dash).await;
            if e["type"] != "visitor:typing" {
                break;
            }
            relayed += 1;
        }
        assert!(
            relayed <= 4,
            "[{name}] {relayed} of 10 typing signals relayed"
        );
        // The team types: that visitor's page hears it, the other visitor's does not.
        dash.send(Message::Text(
            json!({"type": "typing", "widgetId": t.widget, "visitorId": "visitor-rt-1",
                   "typing": true})
            .to_string()
            .into(),
        ))
        .await
        .unwrap();
        let e = next_json(&mut page).await;
        assert_eq!(e, json!({"type": "typing", "typing": true}), "[{name}]");
        s.reply(&t, "visitor-rt-2", "ping").await;
        let m = next_json(&mut other).await;
        assert_eq!(
            m["type"], "message",
            "[{name}] the other page saw no typing: {m}"
        );
        backend.finish().await;
    }
}

#[tokio::test]
async fn presence_follows_the_dashboard_and_console_sockets() {
    use ringside_domain::console::AgentStatus;
    for backend in common::backends("ringside-realtime-presence").await {
        let name = backend.name;
        let s = serve(&backend.store).await;
        let t = s.tenant("rp").await;
        let user = backend.store.ensure_user(&t.email).await.unwrap();
        let tenant = user.tenant_id.clone();
        let phone = s
            .token(&t.email, &["calls:read", "calls:write", "messages:read"])
            .await;
        let status = || s.console.status(&tenant, &user.id);
        assert_eq!(status(), AgentStatus::Offline, "[{name}]");
        // A dashboard page: away, and its own socket hears it.
        let mut dash = s.dashboard(&t.token).await;
        let e = next_frame(&mut dash).await;
        assert_eq!(
            (e["type"].as_str(), e["data"]["status"].as_str()),
            (Some("agent:presence"), Some("away")),
            "[{name}] {e}"
        );
        assert_eq!(status(), AgentStatus::Away);
        // The console (Available for calls): online; calls are offered.
        let mut console = s.ws("/api/ws/console", None).await.unwrap();
        console
            .send(Message::Text(
                json!({"type": "auth", "token": phone}).to_string().into(),
            ))
            .await
            .unwrap();
        assert_eq!(next_json(&mut console).await["type"], "auth:ok");
        let e = next_frame(&mut dash).await;
        assert_eq!(e["data"]["status"], "online", "[{name}] {e}");
        assert_eq!(status(), AgentStatus::Online);
        assert!(s.console.available(&tenant, &t.widget));
        // Unticked: away again, no calls offered; the page closed: offline.
        drop(console);
        let e = next_frame(&mut dash).await;
        assert_eq!(e["data"]["status"], "away", "[{name}] {e}");
        assert!(!s.console.available(&tenant, &t.widget));
        drop(dash);
        for _ in 0..100 {
            if status() == AgentStatus::Offline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(status(), AgentStatus::Offline, "[{name}]");
        backend.finish().await;
    }
}
