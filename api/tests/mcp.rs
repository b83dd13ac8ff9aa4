//! `/mcp` through the whole router, on SQLite (and PostgreSQL when
//! `RINGSIDE_TEST_POSTGRES_URL` is set): the agent guide's three curl calls, the revisions
//! side by side (2026-07-28 stateless, 2025-11-25/06-18/03-26 with `initialize`), the
//! transport's refusals (auth, Origin, methods, malformed JSON-RPC, versions, sessions), and
//! the tools with their scope and tenant checks, their effects seen through the REST API.

mod common;

use common::{uniq, App, Harness};
use ringside_storage::{now_ms, NewMessage};
use serde_json::{json, Value};

/// What the guide's automation token holds.
const AUTOMATION: &[&str] = &[
    "mcp:read",
    "widgets:read",
    "widgets:write",
    "analytics:read",
    "messages:read",
    "messages:write",
    "calls:read",
    "webhooks:read",
    "webhooks:write",
];
/// A read-only token.
const READ: &[&str] = &[
    "mcp:read",
    "widgets:read",
    "analytics:read",
    "messages:read",
    "calls:read",
    "webhooks:read",
];
const STATELESS: &str = "2026-07-28";

async fn rpc(app: &App, token: &str, extra: &[(&str, &str)], body: Value) -> common::Resp {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("authorization", auth.as_str())];
    headers.extend_from_slice(extra);
    app.send("POST", "/mcp", &headers, Some(&body.to_string()))
        .await
}

/// A `tools/call` in the stateless revision; the result.
async fn tool(app: &App, token: &str, name: &str, args: Value) -> Value {
    let r = rpc(
        app,
        token,
        &[],
        json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {
            "name": name, "arguments": args,
            "_meta": {"io.modelcontextprotocol/protocolVersion": STATELESS,
                      "io.modelcontextprotocol/clientCapabilities": {}}}}),
    )
    .await;
    assert_eq!(r.status, 200, "{name}: {}", r.body);
    assert_eq!(r.body["result"]["resultType"], "complete", "{}", r.body);
    r.body["result"].clone()
}

fn text(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

/// The structured content of a successful result, checked against the tool's output schema
/// (required keys, top-level types) and equal to its JSON text block.
fn ok(result: &Value, schema: &Value) -> Value {
    assert_eq!(result["isError"], false, "{result}");
    let s = result["structuredContent"].clone();
    assert!(s.is_object(), "{result}");
    let from_text: Value = serde_json::from_str(&text(result)).unwrap();
    assert_eq!(from_text, s, "the text block is the same JSON");
    for r in schema["required"].as_array().unwrap() {
        assert!(s.get(r.as_str().unwrap()).is_some(), "{r} missing: {s}");
    }
    for (k, p) in schema["properties"].as_object().unwrap() {
        if let (Some(v), Some(t)) = (s.get(k), p["type"].as_str()) {
            let fits = match t {
                "array" => v.is_array(),
                "object" => v.is_object(),
                "string" => v.is_string(),
                "integer" => v.is_i64(),
                _ => true,
            };
            assert!(fits, "{k} is not {t}: {s}");
        }
    }
    s
}

#[tokio::test]
async fn the_guides_curl_calls() {
    for backend in common::backends("ringside-mcp-curl").await {
        let name = backend.name;
        let app = App::on(&backend.store);
        let token = app.token(&uniq("curl@mcp.example"), AUTOMATION).await;
        let (st, w) = app
            .json("POST", "/api/v1/widgets", &token, json!({"name": "Shop"}))
            .await;
        assert_eq!(st, 201, "{w}");
        // Initialize (2025-06-18), exactly as the guide sends it: no Accept header.
        let ct = [("content-type", "application/json")];
        let r = rpc(
            &app,
            &token,
            &ct,
            json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
                "protocolVersion":"2025-06-18","clientInfo":{"name":"agent","version":"1.0"}}}),
        )
        .await;
        assert_eq!(r.status, 200, "[{name}] {}", r.body);
        assert!(r
            .header("content-type")
            .unwrap()
            .starts_with("application/json"));
        assert_eq!(r.body["id"], 1);
        assert_eq!(r.body["result"]["protocolVersion"], "2025-06-18");
        assert_eq!(r.body["result"]["serverInfo"]["name"], "ringside");
        assert!(r.body["result"]["capabilities"]["tools"].is_object());
        assert!(r.header("mcp-session-id").is_some());
        // List tools with nothing before it.
        let r = rpc(
            &app,
            &token,
            &ct,
            json!({"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}),
        )
        .await;
        assert_eq!(r.status, 200, "[{name}] {}", r.body);
        let tools = r.body["result"]["tools"].as_array().unwrap();
        let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
        for n in [
            "ringside_list_widgets",
            "ringside_get_live_visitors",
            "ringside_get_widget_analytics",
            "ringside_get_campaign_report",
            "ringside_set_campaign_aliases",
            "ringside_get_visitor_activity",
            "ringside_get_visitor_messages",
            "ringside_send_visitor_message",
            "ringside_create_conversation_link",
            "ringside_get_waiting_calls",
            "ringside_get_call_history",
            "ringside_get_call_recordings",
            "ringside_get_account_usage",
            "ringside_get_install_snippet",
            "ringside_search_knowledge",
            "ringside_create_webhook",
            "ringside_list_contacts",
            "ringside_get_contact",
            "ringside_update_contact",
            "ringside_attach_visitor_session",
            "ringside_merge_contacts",
        ] {
            assert!(names.contains(&n), "[{name}] {n} listed");
        }
        for t in tools {
            assert_eq!(t["inputSchema"]["type"], "object", "{t}");
            assert!(t["annotations"]["readOnlyHint"].is_boolean(), "{t}");
        }
        // Call a tool.
        let r = rpc(
            &app,
            &token,
            &ct,
            json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{
                "name":"ringside_list_widgets","arguments":{}}}),
        )
        .await;
        assert_eq!(r.status, 200, "[{name}] {}", r.body);
        let listed = text(&r.body["result"]);
        assert!(listed.contains(w["id"].as_str().unwrap()), "{listed}");
        // No revision named: 2025-03-26, which has no structured content.
        assert!(r.body["result"].get("structuredContent").is_none());
        backend.finish().await;
    }
}

#[tokio::test]
async fn revisions_side_by_side_and_the_transports_refusals() {
    for backend in common::backends("ringside-mcp-rev").await {
        let name = backend.name;
        let app = App::on(&backend.store);
        let token = app.token(&uniq("rev@mcp.example"), READ).await;
        let meta = json!({"io.modelcontextprotocol/protocolVersion": STATELESS,
                          "io.modelcontextprotocol/clientCapabilities": {}});
        // Stateless: discover, then tools/list with per-request _meta.
        let r = rpc(
            &app,
            &token,
            &[],
            json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover",
                   "params": {"_meta": meta}}),
        )
        .await;
        assert_eq!(r.status, 200, "[{name}] {}", r.body);
        let res = &r.body["result"];
        assert_eq!(res["resultType"], "complete");
        assert_eq!(res["supportedVersions"][0], STATELESS);
        assert!(res["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("2025-03-26")));
        assert_eq!(
            res["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
            "ringside"
        );
        let r = rpc(
            &app,
            &token,
            &[("mcp-protocol-version", STATELESS)],
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"_meta": meta}}),
        )
        .await;
        assert_eq!(r.status, 200, "[{name}] {}", r.body);
        assert!(r.body["result"]["tools"][0]["outputSchema"].is_object());
        assert_eq!(r.body["result"]["cacheScope"], "private");
        assert_eq!(r.body["result"]["ttlMs"], 0);
        // Unsupported revision, header and _meta disagreeing, capabilities missing: 400.
        for (headers, params, code) in [
            (
                vec![],
                json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "2099-01-01",
                                 "io.modelcontextprotocol/clientCapabilities": {}}}),
                -32022,
            ),
            (
                vec![("mcp-protocol-version", "2025-06-18")],
                json!({"_meta": meta}),
                -32020,
            ),
            (
                vec![],
                json!({"_meta": {"io.modelcontextprotocol/protocolVersion": STATELESS}}),
                -32602,
            ),
            (
                vec![("mcp-protocol-version", "1999-12-31")],
                json!({}),
                -32022,
            ),
        ] {
            let r = rpc(
                &app,
                &token,
                &headers,
                json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": params}),
            )
            .await;
            assert_eq!(r.status, 400, "[{name}] {params}: {}", r.body);
            assert_eq!(r.body["error"]["code"], code, "[{name}] {}", r.body);
            assert_eq!(r.body["id"], 3);
        }
        // Legacy: initialize hands out a session; its revision holds for later requests.
        let r = rpc(
            &app,
            &token,
            &[("accept", "application/json, text/event-stream")],
            json!({"jsonrpc": "2.0", "id": 4, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"}}}),
        )
        .await;
        assert_eq!(r.status, 200, "[{name}]");
        assert_eq!(r.header("content-type"), Some("text/event-stream"));
        let sse = String::from_utf8_lossy(&r.raw).to_string();
        let data: Value =
            serde_json::from_str(sse.lines().find_map(|l| l.strip_prefix("data: ")).unwrap())
                .unwrap();
        assert_eq!(data["result"]["protocolVersion"], "2025-11-25", "{sse}");
        let session = r.header("mcp-session-id").unwrap().to_owned();
        let r = rpc(
            &app,
            &token,
            &[("content-type", "application/json")],
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        )
        .await;
        assert_eq!(r.status, 202, "[{name}] a notification is accepted");
        let r = rpc(
            &app,
            &token,
            &[("mcp-session-id", &session)],
            json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list"}),
        )
        .await;
        assert!(
            r.body["result"]["tools"][0]["outputSchema"].is_object(),
            "[{name}] 2025-11-25 from the session"
        );
        // A client that asks for a revision the server lacks gets the newest legacy one.
        let r = rpc(
            &app,
            &token,
            &[],
            json!({"jsonrpc": "2.0", "id": 6, "method": "initialize", "params": {
                "protocolVersion": "2030-01-01", "capabilities": {}}}),
        )
        .await;
        assert_eq!(r.body["result"]["protocolVersion"], "2025-11-25");
        // A session of another token, or forged: 404 (initialize again).
        let other = app.token(&uniq("other@mcp.example"), READ).await;
        for (tok, sid) in [
            (other.as_str(), session.as_str()),
            (
                token.as_str(),
                "2025-11-25.00000000000000000000000000000000",
            ),
        ] {
            let r = rpc(
                &app,
                tok,
                &[("mcp-session-id", sid)],
                json!({"jsonrpc": "2.0", "id": 7, "method": "ping"}),
            )
            .await;
            assert_eq!(r.status, 404, "[{name}] {sid}");
        }
        // Ping, unknown methods, malformed JSON-RPC, batches.
        let r = rpc(
            &app,
            &token,
            &[],
            json!({"jsonrpc": "2.0", "id": "p", "method": "ping"}),
        )
        .await;
        assert_eq!(
            (r.status.as_u16(), r.body["result"].clone()),
            (200, json!({}))
        );
        let r = rpc(
            &app,
            &token,
            &[],
            json!({"jsonrpc": "2.0", "id": 8, "method": "resources/nope"}),
        )
        .await;
        assert_eq!(r.body["error"]["code"], -32601, "[{name}]");
        for (body, code) in [
            ("{\"jsonrpc\": ", -32700),
            ("[]", -32600),
            ("{\"jsonrpc\": \"2.0\", \"id\": 1}", -32600),
            ("{\"id\": 1, \"method\": \"ping\"}", -32600),
            ("\"ping\"", -32600),
        ] {
            let auth = format!("Bearer {token}");
            let r = app
                .send("POST", "/mcp", &[("authorization", &auth)], Some(body))
                .await;
            assert_eq!(r.status, 400, "[{name}] {body}");
            assert_eq!(r.body["error"]["code"], code, "[{name}] {body}: {}", r.body);
        }
        let r = rpc(
            &app,
            &token,
            &[],
            json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"},
                   {"jsonrpc": "2.0", "method": "notifications/initialized"},
                   {"jsonrpc": "2.0", "id": 2, "method": "nope"}]),
        )
        .await;
        assert_eq!(r.status, 200);
        let answers = r.body.as_array().unwrap();
        assert_eq!(answers.len(), 2, "[{name}] no answer to a notification");
        assert_eq!(answers[1]["error"]["code"], -32601);
        // Batches: bounded, and only in 2025-03-26.
        let many: Vec<Value> = (0..17)
            .map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "ping"}))
            .collect();
        let r = rpc(&app, &token, &[], Value::Array(many)).await;
        assert_eq!(r.status, 400, "[{name}] {}", r.body);
        let r = rpc(
            &app,
            &token,
            &[("mcp-protocol-version", "2025-06-18")],
            json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}]),
        )
        .await;
        assert_eq!(
            r.status, 400,
            "[{name}] no batches in 2025-06-18: {}",
            r.body
        );
        // A missing Host with a loopback Origin: refused.
        let auth = format!("Bearer {token}");
        let r = app
            .send(
                "POST",
                "/mcp",
                &[("authorization", &auth), ("origin", "http://127.0.0.1:9")],
                Some(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string()),
            )
            .await;
        assert_eq!(r.status, 403, "[{name}]");
        // GET and DELETE: 405.
        for m in ["GET", "DELETE"] {
            let auth = format!("Bearer {token}");
            let r = app.send(m, "/mcp", &[("authorization", &auth)], None).await;
            assert_eq!(r.status, 405, "[{name}] {m}");
            assert_eq!(r.header("allow"), Some("POST"));
        }
        // Authentication, scope and Origin.
        let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string();
        let r = app.send("POST", "/mcp", &[], Some(&ping)).await;
        assert_eq!(r.status, 401, "[{name}]");
        let challenge = r.header("www-authenticate").unwrap();
        assert!(
            challenge.contains("resource_metadata=\"https://calls.example.net/.well-known/oauth-protected-resource/mcp\"")
                && challenge.contains("scope=\"mcp:read widgets:read"),
            "{challenge}"
        );
        let r = app
            .send(
                "POST",
                "/mcp",
                &[("authorization", "Bearer rs_pat_nope")],
                Some(&ping),
            )
            .await;
        assert_eq!(r.status, 401);
        assert!(r
            .header("www-authenticate")
            .unwrap()
            .contains("invalid_token"));
        let no_mcp = app
            .token(&uniq("nomcp@mcp.example"), &["widgets:read"])
            .await;
        let r = rpc(
            &app,
            &no_mcp,
            &[],
            json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        )
        .await;
        assert_eq!(r.status, 403, "[{name}]");
        assert!(r
            .header("www-authenticate")
            .unwrap()
            .contains("insufficient_scope"));
        for (origin, host, status) in [
            ("https://evil.example", "evil.example", 403),
            ("https://evil.example", "calls.example.net", 403),
            ("http://127.0.0.1:9", "calls.example.net", 403),
            ("http://127.0.0.1:9", "127.0.0.1:8", 403),
            ("http://evil.example:9", "evil.example:9", 403),
            ("http://127.0.0.1:9", "127.0.0.1:9", 200),
            ("http://localhost:9", "localhost:9", 200),
            ("http://[::1]:9", "[::1]:9", 200),
            ("http://[::1]:9", "[::1]:8", 403),
            ("", "calls.example.net", 403),
            ("https://calls.example.net", "calls.example.net", 200),
        ] {
            let r = rpc(
                &app,
                &token,
                &[("origin", origin), ("host", host)],
                json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
            )
            .await;
            assert_eq!(r.status, status, "[{name}] {origin} at {host}");
        }
        backend.finish().await;
    }
}

#[tokio::test]
async fn tools_act_within_tenant_and_scope() {
    for backend in common::backends("ringside-mcp-tools").await {
        let name = backend.name;
        let app = App::on(&backend.store);
        let email = uniq("tools@mcp.example");
        let auto = app.token(&email, AUTOMATION).await;
        let read = app.token(&email, READ).await;
        let stranger = app.token(&uniq("stranger@mcp.example"), AUTOMATION).await;
        let (_, w) = app
            .json(
                "POST",
                "/api/v1/widgets",
                &auto,
                json!({"name": "Shop", "allowedDomains": ["shop.example"]}),
            )
            .await;
        let wid = w["id"].as_str().unwrap().to_owned();
        let tenant = backend.store.ensure_user(&email).await.unwrap().tenant_id;
        // The visitor is on the site.
        let key = format!("Bearer {}", w["publicKey"].as_str().unwrap());
        let seen = app
            .send(
                "POST",
                &format!("/api/widgets/{wid}/track"),
                &[("origin", "https://shop.example"), ("authorization", &key)],
                Some(
                    &json!({"visitorId": "visitor-mcp-1", "event": "page_view",
                             "url": "https://shop.example/pricing?utm_source=news"})
                    .to_string(),
                ),
            )
            .await;
        assert_eq!(seen.status, 200, "[{name}] {}", seen.body);
        backend
            .store
            .add_message(
                &tenant,
                &wid,
                NewMessage {
                    visitor_id: "visitor-mcp-1".into(),
                    conversation_id: String::new(),
                    sender: "visitor".into(),
                    author_user_id: None,
                    body: "Do you ship to Lisbon?".into(),
                },
            )
            .await
            .unwrap();
        // The schemas tools/list shows, by name.
        let r = rpc(
            &app,
            &read,
            &[],
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {
                "_meta": {"io.modelcontextprotocol/protocolVersion": STATELESS,
                          "io.modelcontextprotocol/clientCapabilities": {}}}}),
        )
        .await;
        let schema = |n: &str| -> Value {
            r.body["result"]["tools"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["name"] == n)
                .unwrap()["outputSchema"]
                .clone()
        };
        // Reads.
        let s = ok(
            &tool(&app, &read, "ringside_list_widgets", json!({})).await,
            &schema("ringside_list_widgets"),
        );
        assert_eq!(s["data"][0]["id"], wid.as_str(), "[{name}]");
        let s = ok(
            &tool(
                &app,
                &read,
                "ringside_get_install_snippet",
                json!({"widgetId": wid}),
            )
            .await,
            &schema("ringside_get_install_snippet"),
        );
        assert!(s["snippet"].as_str().unwrap().contains("<script"), "{s}");
        // The knowledge base, as the assistant reads it.
        let (st, src) = app
            .json(
                "POST",
                &format!("/api/v1/widgets/{wid}/knowledge/sources"),
                &auto,
                json!({"type": "qa", "question": "Do you ship to Lisbon?",
                       "answer": "Yes: delivery to Lisbon takes two working days."}),
            )
            .await;
        assert_eq!(st, 201, "{src}");
        let s = ok(
            &tool(
                &app,
                &read,
                "ringside_search_knowledge",
                json!({"widgetId": wid, "q": "how long does delivery to Lisbon take"}),
            )
            .await,
            &schema("ringside_search_knowledge"),
        );
        assert_eq!(s["passages"][0]["sourceId"], src["id"], "{s}");
        assert!(s["answer"]["text"]
            .as_str()
            .unwrap()
            .contains("two working days"));
        let s = ok(
            &tool(
                &app,
                &read,
                "ringside_search_knowledge",
                json!({"widgetId": wid, "q": "refund policy"}),
            )
            .await,
            &schema("ringside_search_knowledge"),
        );
        assert_eq!(s["answer"], Value::Null, "{s}");
        let r = tool(
            &app,
            &stranger,
            "ringside_search_knowledge",
            json!({"widgetId": wid, "q": "Lisbon"}),
        )
        .await;
        assert_eq!(r["isError"], true, "another tenant: {r}");
        assert!(!r.to_string().contains("two working days"));
        let s = ok(
            &tool(
                &app,
                &read,
                "ringside_get_visitor_messages",
                json!({"widgetId": wid, "visitorId": "visitor-mcp-1"}),
            )
            .await,
            &schema("ringside_get_visitor_messages"),
        );
        assert_eq!(s["messages"][0]["body"], "Do you ship to Lisbon?");
        let live = ok(
            &tool(
                &app,
                &read,
                "ringside_get_live_visitors",
                json!({"widgetId": wid}),
            )
            .await,
            &schema("ringside_get_live_visitors"),
        );
        assert_eq!(live["visitors"][0]["visitorId"], "visitor-mcp-1", "{live}");
        assert_eq!(live["total"], 1, "{live}");
        // The REST list is bounded the same way.
        for (q, status) in [("limit=1", 200), ("limit=0", 422), ("limit=5001", 422)] {
            let (st, _) = app
                .call(
                    "GET",
                    &format!("/api/v1/widgets/{wid}/live-visitors?{q}"),
                    Some(&read),
                    None,
                )
                .await;
            assert_eq!(st.as_u16(), status, "[{name}] {q}");
        }
        for (tool_name, args) in [
            (
                "ringside_get_visitor_activity",
                json!({"widgetId": wid, "visitorId": "visitor-mcp-1"}),
            ),
            (
                "ringside_get_widget_analytics",
                json!({"widgetId": wid, "limit": 50}),
            ),
            ("ringside_get_campaign_report", json!({"widgetId": wid})),
            ("ringside_get_account_usage", json!({})),
            ("ringside_get_call_history", json!({})),
            (
                "ringside_get_call_history",
                json!({"widgetId": wid, "limit": 5}),
            ),
            ("ringside_get_waiting_calls", json!({})),
            ("ringside_list_contacts", json!({"q": "x"})),
        ] {
            ok(
                &tool(&app, &read, tool_name, args.clone()).await,
                &schema(tool_name),
            );
        }
        // A write with the read-only token: refused, naming the scope; nothing sent.
        let send = json!({"widgetId": wid, "visitorId": "visitor-mcp-1", "body": "Yes, we do."});
        let res = tool(&app, &read, "ringside_send_visitor_message", send.clone()).await;
        assert_eq!(res["isError"], true, "[{name}] {res}");
        assert!(text(&res).contains("messages:write"), "{res}");
        // With the automation token: sent, and the REST API sees it.
        let res = tool(&app, &auto, "ringside_send_visitor_message", send).await;
        ok(&res, &schema("ringside_send_visitor_message"));
        let (_, msgs) = app
            .call(
                "GET",
                &format!("/api/v1/widgets/{wid}/messages?visitorId=visitor-mcp-1"),
                Some(&auto),
                None,
            )
            .await;
        let bodies: Vec<&str> = msgs["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["body"].as_str().unwrap())
            .collect();
        assert_eq!(
            bodies,
            ["Do you ship to Lisbon?", "Yes, we do."],
            "[{name}]"
        );
        let link = ok(
            &tool(
                &app,
                &auto,
                "ringside_create_conversation_link",
                json!({"widgetId": wid, "visitorId": "visitor-mcp-1"}),
            )
            .await,
            &schema("ringside_create_conversation_link"),
        );
        assert!(link["expiresAt"].as_i64().unwrap() > now_ms());
        let hook = ok(
            &tool(
                &app,
                &auto,
                "ringside_create_webhook",
                json!({"name": "Agent inbox", "url": "https://hooks.example.com/r",
                       "events": ["visitor.connected", "call.missed"], "widgetIds": [wid]}),
            )
            .await,
            &schema("ringside_create_webhook"),
        );
        let (st, _) = app
            .call(
                "GET",
                &format!("/api/v1/webhooks/{}", hook["id"].as_str().unwrap()),
                Some(&auto),
                None,
            )
            .await;
        assert_eq!(st, 200, "[{name}] the webhook exists");
        let aliases = ok(
            &tool(
                &app,
                &auto,
                "ringside_set_campaign_aliases",
                json!({"widgetId": wid, "aliases": [
                    {"tagKey": "utm_campaign", "tagValue": "q3_bf", "alias": "Black Friday"}]}),
            )
            .await,
            &schema("ringside_set_campaign_aliases"),
        );
        assert_eq!(aliases["aliases"][0]["alias"], "Black Friday", "{aliases}");
        // Contacts: create through REST, update and merge through tools.
        let (_, a) = app
            .json(
                "POST",
                "/api/v1/contacts",
                &auto,
                json!({"firstName": "Ana", "email": "ana@x.example"}),
            )
            .await;
        let (_, b) = app
            .json(
                "POST",
                "/api/v1/contacts",
                &auto,
                json!({"firstName": "Ana", "email": "ana@work.example"}),
            )
            .await;
        let (a, b) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
        ok(
            &tool(
                &app,
                &auto,
                "ringside_update_contact",
                json!({"contactId": a, "lastName": "Silva", "status": "customer"}),
            )
            .await,
            &schema("ringside_update_contact"),
        );
        ok(
            &tool(
                &app,
                &auto,
                "ringside_attach_visitor_session",
                json!({"contactId": a, "widgetId": wid, "visitorId": "visitor-mcp-1"}),
            )
            .await,
            &schema("ringside_attach_visitor_session"),
        );
        ok(
            &tool(
                &app,
                &auto,
                "ringside_merge_contacts",
                json!({"contactId": a, "sourceContactId": b, "reason": "same person"}),
            )
            .await,
            &schema("ringside_merge_contacts"),
        );
        let got = ok(
            &tool(&app, &read, "ringside_get_contact", json!({"contactId": a})).await,
            &schema("ringside_get_contact"),
        );
        assert_eq!(got["lastName"], "Silva", "[{name}] {got}");
        assert!(got["otherEmails"].to_string().contains("ana@work.example"));
        // Another tenant: nothing of it, and an error that says what to do.
        let res = tool(
            &app,
            &stranger,
            "ringside_get_visitor_messages",
            json!({"widgetId": wid, "visitorId": "visitor-mcp-1"}),
        )
        .await;
        assert_eq!(res["isError"], true);
        assert!(
            text(&res).contains("not found for this account; call ringside_list_widgets"),
            "{res}"
        );
        assert!(!text(&res).contains("Lisbon"));
        let res = tool(
            &app,
            &stranger,
            "ringside_get_contact",
            json!({"contactId": a}),
        )
        .await;
        assert!(text(&res).contains("call ringside_list_contacts"), "{res}");
        let res = tool(&app, &stranger, "ringside_list_widgets", json!({})).await;
        assert_eq!(res["isError"], false, "[{name}] {res}");
        assert_eq!(
            res["structuredContent"]["data"],
            json!([]),
            "[{name}] {res}"
        );
        // Another tenant's ids inside a body, or as a call: not found, nothing changed.
        let (_, theirs) = app
            .json(
                "POST",
                "/api/v1/contacts",
                &stranger,
                json!({"firstName": "Eve", "email": "eve@x.example"}),
            )
            .await;
        let theirs = theirs["id"].as_str().unwrap();
        let (_, their_widget) = app
            .json(
                "POST",
                "/api/v1/widgets",
                &stranger,
                json!({"name": "Theirs"}),
            )
            .await;
        let their_widget = their_widget["id"].as_str().unwrap();
        for (t, args) in [
            (
                "ringside_merge_contacts",
                json!({"contactId": a, "sourceContactId": theirs, "reason": "steal"}),
            ),
            (
                "ringside_attach_visitor_session",
                json!({"contactId": a, "widgetId": their_widget, "visitorId": "visitor-mcp-1"}),
            ),
            (
                "ringside_get_call_recordings",
                json!({"callId": "call_not_mine"}),
            ),
        ] {
            let res = tool(&app, &auto, t, args.clone()).await;
            assert_eq!(res["isError"], true, "[{name}] {t} {args}: {res}");
            assert!(text(&res).contains("not found for this account"), "{res}");
        }
        let (_, eve) = app
            .call(
                "GET",
                &format!("/api/v1/contacts/{theirs}"),
                Some(&stranger),
                None,
            )
            .await;
        assert!(eve["mergedIntoContactId"].is_null(), "[{name}] {eve}");
        // Bad calls: an unknown tool, arguments failing the schema, a path-escaping id.
        let res = tool(&app, &read, "ringside_nope", json!({})).await;
        assert_eq!(res["isError"], true);
        assert!(text(&res).contains("ringside_list_widgets"), "{res}");
        for (args, says) in [
            (json!({}), "`widgetId` is required"),
            (json!({"widgetId": 7}), "`widgetId` must be a string"),
            (
                json!({"widgetId": wid, "limit": 0}),
                "`limit` must be at least 1",
            ),
            (
                json!({"widgetId": wid, "extra": 1}),
                "`extra` is not an argument",
            ),
        ] {
            let res = tool(&app, &read, "ringside_get_widget_analytics", args.clone()).await;
            assert_eq!(res["isError"], true, "{args}");
            assert!(text(&res).contains(says), "{args}: {res}");
        }
        // A widgetId that would reach another endpoint if it were pasted into the path.
        for escape in [
            format!("{wid}/live-visitors?"),
            "../../account/usage".to_owned(),
        ] {
            let res = tool(
                &app,
                &read,
                "ringside_get_install_snippet",
                json!({ "widgetId": escape }),
            )
            .await;
            assert_eq!(res["isError"], true, "[{name}] {escape}: {res}");
            assert!(text(&res).contains("widgetId not found"), "{res}");
        }
        backend.finish().await;
    }
}
