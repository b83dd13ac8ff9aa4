//! `/mcp` with the official MCP SDKs as clients, against the real server over loopback: the
//! TypeScript SDK (npm `@modelcontextprotocol/sdk`, which speaks the `initialize` revisions)
//! and the Python SDK (`mcp` on PyPI, which probes `server/discover` for the stateless
//! 2026-07-28 revision first). Each connects with a personal access token, lists the tools,
//! calls a read tool and a write tool, and gets a clear error for bad arguments; the write is
//! seen through the REST API. The clients are `tests/mcp/client.mjs` and `tests/mcp/client.py`
//! (installed by `tests/run.sh` under `target/mcp-ts` and `target/mcp-py`).
//!
//! Then both connect again with no token at all, as a remote connector does: the SDK meets the
//! 401, discovers the authorization server, registers, and sends the user to `/oauth/authorize`;
//! the test plays the user on those plain HTML forms (email, the code from the SMTP sink,
//! consent), hands the redirect back, and the SDK exchanges the code (PKCE), uses the tools,
//! and refreshes its token.

use std::process::Stdio;

use ringside_e2e::{workspace_root, Server, SmtpSink};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Runs one client; its one JSON line.
fn run(program: &str, args: &[&str]) -> Value {
    let out = std::process::Command::new(program)
        .args(args)
        .current_dir(workspace_root())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (tests/run.sh installs the MCP SDKs)"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// A widget named `name` for pages on `domain`, made with `token`: its JSON.
async fn widget_on(s: &Server, token: &str, name: &str, domain: &str) -> Value {
    let (st, w) = s
        .api(
            "POST",
            "/api/v1/widgets",
            token,
            Some(json!({"name": name, "allowedDomains": [domain]})),
        )
        .await;
    assert_eq!(st, 201, "{w}");
    w
}

fn check(who: &str, got: &Value, widget: &str) {
    eprintln!(
        "{who}: protocol {} session {}",
        got["protocol"], got["sessionId"]
    );
    let tools: Vec<&str> = got["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        tools.contains(&"ringside_list_widgets") && tools.len() >= 20,
        "{who}: {got}"
    );
    assert_eq!(got["listedError"], false, "{who}: {got}");
    assert_eq!(got["widgets"]["data"][0]["id"], widget, "{who}: {got}");
    assert_eq!(got["sentError"], false, "{who}: {got}");
    assert!(got["sent"]["id"].is_string(), "{who}: {got}");
    assert_eq!(got["badError"], true, "{who}: {got}");
    assert!(
        got["badText"].as_str().unwrap().contains("widgetId"),
        "{who}: the error names the field: {got}"
    );
}

#[tokio::test]
async fn official_sdk_clients_use_the_tools_with_a_token() {
    let s = Server::start().await;
    let email = "owner@mcp.test";
    let token = s.token(
        email,
        "mcp:read,widgets:read,widgets:write,messages:read,messages:write",
    );
    let w = widget_on(&s, &token, "Shop", "shop.example").await;
    let widget = w["id"].as_str().unwrap().to_owned();
    let url = format!("{}/mcp", s.http);
    // Node resolves the SDK's ES modules from the script's own directory: run a copy there.
    let ts = workspace_root().join("target/mcp-ts/client.mjs");
    std::fs::copy(workspace_root().join("tests/mcp/client.mjs"), &ts).expect("copy the client");
    let got = run(
        "node",
        &[ts.to_str().unwrap(), &url, &token, &widget, "visitor-sdk-1"],
    );
    check("typescript", &got, &widget);
    assert_eq!(got["server"]["name"], "ringside", "{got}");
    assert!(
        got["sessionId"].is_string(),
        "initialize handed out a session: {got}"
    );
    let py = workspace_root().join("target/mcp-py/bin/python");
    let script = workspace_root().join("tests/mcp/client.py");
    let got = run(
        py.to_str().unwrap(),
        &[
            script.to_str().unwrap(),
            &url,
            &token,
            &widget,
            "visitor-sdk-1",
        ],
    );
    check("python", &got, &widget);
    // Both messages reached the visitor's chat.
    let (_, msgs) = s
        .api(
            "GET",
            &format!("/api/v1/widgets/{widget}/messages?visitorId=visitor-sdk-1"),
            &token,
            None,
        )
        .await;
    let bodies: Vec<&str> = msgs["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["body"].as_str())
        .collect();
    assert_eq!(
        bodies,
        ["Hello from TypeScript", "Hello from Python"],
        "{msgs}"
    );
}

/// The value of the hidden input `name` on a page.
fn field(page: &str, name: &str) -> String {
    let key = format!("name=\"{name}\" value=\"");
    let at = page
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} on the page: {page}"));
    let rest = &page[at + key.len()..];
    rest[..rest.find('"').unwrap()].replace("&amp;", "&")
}

/// The person at the browser: opens the authorization URL, signs in with the `n`th code mailed
/// to `email`, allows every scope asked for, and returns where the browser is sent back.
async fn play_user(mail: &SmtpSink, email: &str, n: usize, authorize: &str) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http.get(authorize).send().await.unwrap();
    assert_eq!(page.status(), 200, "{authorize}");
    let page = page.text().await.unwrap();
    assert!(page.contains("Sign in to connect"), "{page}");
    let base = authorize.split("/oauth/").next().unwrap().to_owned();
    let post = |form: Vec<(&'static str, String)>, cookie: Option<String>| {
        let mut r = http.post(format!("{base}/oauth/authorize")).form(&form);
        if let Some(c) = cookie {
            r = r.header("cookie", c);
        }
        r.send()
    };
    let req = field(&page, "req");
    let r = post(
        vec![
            ("req", req.clone()),
            ("step", "email".into()),
            ("email", email.into()),
        ],
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let code = mail.code(email, n).await;
    let r = post(
        vec![
            ("req", req.clone()),
            ("step", "code".into()),
            ("email", email.into()),
            ("code", code),
        ],
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let consent = r.text().await.unwrap();
    assert!(consent.contains("Connect an app"), "{consent}");
    let mut form = vec![
        ("req", field(&consent, "req")),
        ("step", "consent".into()),
        ("csrf", field(&consent, "csrf")),
        ("decision", "allow".into()),
    ];
    for s in ["widgets:read", "messages:read", "messages:write"] {
        form.push(("scope", s.into()));
    }
    let r = post(form, Some(cookie)).await.unwrap();
    assert_eq!(r.status(), 303);
    r.headers()["location"].to_str().unwrap().to_owned()
}

/// Runs a client in OAuth mode, playing the user when it asks; its JSON line.
async fn run_oauth(mail: &SmtpSink, email: &str, n: usize, program: &str, args: &[&str]) -> Value {
    let mut script = Script::spawn(program, args);
    while let Some(line) = script.next().await {
        if let Some(url) = line.strip_prefix("AUTHORIZE ") {
            let back = play_user(mail, email, n, url).await;
            script.answer(&back).await;
        }
    }
    script.finish().await
}

/// A client script running: what it prints, line by line, and its standard input.
struct Script {
    what: String,
    child: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    stdin: tokio::process::ChildStdin,
    last: String,
}

impl Script {
    fn spawn(program: &str, args: &[&str]) -> Script {
        let mut child = tokio::process::Command::new(program)
            .args(args)
            .current_dir(workspace_root())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{program}: {e} (tests/run.sh installs the MCP SDKs)"));
        Script {
            what: format!("{program} {args:?}"),
            lines: BufReader::new(child.stdout.take().unwrap()).lines(),
            stdin: child.stdin.take().unwrap(),
            child,
            last: String::new(),
        }
    }

    /// The next line it prints (blank ones skipped); `None` when it has finished printing.
    async fn next(&mut self) -> Option<String> {
        while let Some(line) = self.lines.next_line().await.unwrap() {
            if !line.trim().is_empty() {
                self.last = line.clone();
                return Some(line);
            }
        }
        None
    }

    /// Writes `text` and a newline to its standard input.
    async fn answer(&mut self, text: &str) {
        self.stdin
            .write_all(format!("{text}\n").as_bytes())
            .await
            .unwrap();
        self.stdin.flush().await.unwrap();
    }

    /// Waits for it to succeed; its last line, as JSON.
    async fn finish(mut self) -> Value {
        while self.next().await.is_some() {}
        let status = self.child.wait().await.unwrap();
        let (what, last) = (self.what, self.last);
        assert!(status.success(), "{what}: {last}");
        serde_json::from_str(&last).unwrap_or_else(|e| panic!("{e}: {last}"))
    }
}

#[tokio::test]
async fn official_sdk_clients_connect_through_oauth() {
    let mail = SmtpSink::start().await;
    let smtp = format!("smtp+plain://127.0.0.1:{}", mail.port);
    let s = Server::start_with(&[("RINGSIDE_SMTP_URL", &smtp)]).await;
    let email = "owner@oauth.test";
    let token = s.token(email, "widgets:write,messages:read");
    let w = widget_on(&s, &token, "Shop", "shop.example").await;
    let widget = w["id"].as_str().unwrap().to_owned();
    let url = format!("{}/mcp", s.http);
    let ts = workspace_root().join("target/mcp-ts/client.mjs");
    std::fs::copy(workspace_root().join("tests/mcp/client.mjs"), &ts).expect("copy the client");
    let got = run_oauth(
        &mail,
        email,
        1,
        "node",
        &[
            ts.to_str().unwrap(),
            &url,
            "oauth",
            &widget,
            "visitor-oauth-1",
        ],
    )
    .await;
    check("typescript (oauth)", &got, &widget);
    assert_eq!(got["refreshed"], true, "the SDK refreshed its token: {got}");
    assert!(got["clientId"].is_string(), "registered dynamically: {got}");
    let py = workspace_root().join("target/mcp-py/bin/python");
    let script = workspace_root().join("tests/mcp/client.py");
    let got = run_oauth(
        &mail,
        email,
        2,
        py.to_str().unwrap(),
        &[
            script.to_str().unwrap(),
            &url,
            "oauth",
            &widget,
            "visitor-oauth-1",
        ],
    )
    .await;
    check("python (oauth)", &got, &widget);
    assert_eq!(got["refreshed"], true, "the SDK refreshed its token: {got}");
    // The writes are there through REST, and both apps are connected.
    let (_, msgs) = s
        .api(
            "GET",
            &format!("/api/v1/widgets/{widget}/messages?visitorId=visitor-oauth-1"),
            &token,
            None,
        )
        .await;
    let bodies: Vec<&str> = msgs["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["body"].as_str())
        .collect();
    assert_eq!(
        bodies,
        ["Hello from TypeScript", "Hello from Python"],
        "{msgs}"
    );
}

/// Runs a listening client: once it says `SUBSCRIBED`, a visitor arrives on the widget's site
/// and writes in the chat; the client's JSON line.
async fn run_listener(
    s: &Server,
    widget: &str,
    key: &str,
    visitor: &str,
    program: &str,
    args: &[&str],
) -> Value {
    let mut script = Script::spawn(program, args);
    let http = reqwest::Client::new();
    while let Some(line) = script.next().await {
        if line == "SUBSCRIBED" {
            let site = |path: String, body: Value| {
                http.post(format!("{}{path}", s.http))
                    .bearer_auth(key)
                    .header("origin", "https://shop.example")
                    .json(&body)
                    .send()
            };
            let r = site(
                format!("/api/widgets/{widget}/track"),
                json!({"visitorId": visitor, "sessionId": format!("{visitor}-s"),
                       "event": "page_view", "url": "https://shop.example/pricing",
                       "title": "Pricing"}),
            )
            .await
            .unwrap();
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
            let r = site(
                format!("/api/widgets/{widget}/chat"),
                json!({"sessionId": visitor, "message": "Do you ship to Norway?"}),
            )
            .await
            .unwrap();
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        }
    }
    script.finish().await
}

/// Live events: the TypeScript SDK subscribes in a 2025-11-25 session (resources/subscribe, the
/// session's GET stream), the Python SDK listens in 2026-07-28 (`subscriptions/listen`); each
/// hears a visitor arrive and a chat message as resource updates, and reads what changed.
#[tokio::test]
async fn official_sdk_clients_hear_live_events() {
    let s = Server::start().await;
    let token = s.token(
        "owner@live.test",
        "mcp:read,widgets:read,widgets:write,analytics:read,messages:read,calls:read",
    );
    let w = widget_on(&s, &token, "Shop", "shop.example").await;
    let widget = w["id"].as_str().unwrap().to_owned();
    let key = w["publicKey"].as_str().unwrap().to_owned();
    let url = format!("{}/mcp", s.http);
    let ts = workspace_root().join("target/mcp-ts/listen.mjs");
    std::fs::copy(workspace_root().join("tests/mcp/listen.mjs"), &ts).expect("copy the client");
    let got = run_listener(
        &s,
        &widget,
        &key,
        "visitor-live-ts",
        "node",
        &[ts.to_str().unwrap(), &url, &token],
    )
    .await;
    assert_eq!(got["capabilities"]["resources"]["subscribe"], true, "{got}");
    let updates = got["updates"].as_array().unwrap();
    let chat = format!("ringside://conversations/{widget}/visitor-live-ts");
    assert!(
        updates
            .iter()
            .any(|u| u["uri"] == "ringside://visitors/live"
                && u["event"]["type"] == "visitor:connected"
                && u["event"]["visitorId"] == "visitor-live-ts"),
        "{got}"
    );
    assert!(
        updates
            .iter()
            .any(|u| u["uri"] == chat.as_str() && u["event"]["type"] == "message:new"),
        "{got}"
    );
    let live = &got["visitors"]["widgets"][0];
    assert_eq!(live["widgetId"], widget.as_str(), "{got}");
    assert!(
        live["visitors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["visitorId"] == "visitor-live-ts"),
        "{got}"
    );
    assert!(
        got["messages"]
            .to_string()
            .contains("Do you ship to Norway?"),
        "{got}"
    );

    let py = workspace_root().join("target/mcp-py/bin/python");
    let script = workspace_root().join("tests/mcp/listen.py");
    let got = run_listener(
        &s,
        &widget,
        &key,
        "visitor-live-py",
        py.to_str().unwrap(),
        &[script.to_str().unwrap(), &url, &token],
    )
    .await;
    assert_eq!(
        got["honored"],
        json!([
            "ringside://visitors/live",
            "ringside://conversations",
            "ringside://calls/waiting"
        ]),
        "{got}"
    );
    let updates: Vec<&str> = got["updates"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(updates.contains(&"ringside://visitors/live"), "{got}");
    assert!(
        updates.contains(&format!("ringside://conversations/{widget}/visitor-live-py").as_str()),
        "{got}"
    );
    assert!(
        got["messages"]
            .to_string()
            .contains("Do you ship to Norway?"),
        "{got}"
    );
}

/// A real call rings to an MCP listener: a trusted PBX (sipp) dials a widget's queue number;
/// the Python SDK, listening (2026-07-28 `subscriptions/listen`) on `ringside://calls/waiting`,
/// hears it, and finds the call waiting both in the resource and through
/// `ringside_get_waiting_calls`.
#[tokio::test]
async fn a_pbx_call_rings_to_an_mcp_listener() {
    let s = Server::start().await;
    let token = s.token(
        "owner@ring.test",
        "mcp:read,widgets:read,widgets:write,messages:read,calls:read,sip:read,sip:write",
    );
    let w = widget_on(&s, &token, "Desk", "desk.example").await;
    let widget = w["id"].as_str().unwrap().to_owned();
    let (st, body) = s
        .api(
            "POST",
            "/api/v1/sip/trunks",
            &token,
            Some(json!({"name": "pbx", "inboundCidrs": ["127.0.0.2/32"]})),
        )
        .await;
    assert_eq!(st, 201, "{body}");
    let (st, body) = s
        .api(
            "PUT",
            &format!("/api/v1/widgets/{widget}/call-settings"),
            &token,
            Some(json!({"queueNumber": "702"})),
        )
        .await;
    assert_eq!(st, 200, "{body}");

    let url = format!("{}/mcp", s.http);
    let py = workspace_root().join("target/mcp-py/bin/python");
    let script = workspace_root().join("tests/mcp/listen.py");
    let mut listener = Script::spawn(
        py.to_str().unwrap(),
        &[script.to_str().unwrap(), &url, &token, "calls"],
    );
    let mut pbx = None;
    while let Some(line) = listener.next().await {
        if line == "SUBSCRIBED" {
            // The PBX dials the queue: the call waits there (hold music), nobody answers.
            use ringside_e2e::{even_port, free_port, Scenario, Sipp, UacFlow};
            let (port, media) = (free_port().to_string(), even_port().to_string());
            let sipp = Sipp::new(&Scenario::uac("pbx", false, UacFlow::CalleeHangsUp), s.sip)
                .args(&["-i", "127.0.0.2", "-p", &port, "-mp", &media, "-s", "702"]);
            let child = sipp.spawn();
            pbx = Some((sipp, child));
        }
    }
    let got = listener.finish().await;
    assert!(
        got["updates"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u == "ringside://calls/waiting"),
        "{got}"
    );
    for (what, calls) in [
        ("resource", &got["waiting"]["calls"]),
        ("tool", &got["tool"]["calls"]),
    ] {
        let call = calls
            .as_array()
            .and_then(|c| c.first())
            .unwrap_or_else(|| panic!("{what}: no waiting call: {got}\n{}", s.log_text()));
        assert_eq!(call["widgetId"], widget.as_str(), "{what}: {got}");
        assert_eq!(call["status"], "waiting", "{what}: {got}");
        assert!(
            call["from"].as_str().unwrap_or("").contains("pbx"),
            "{what}: {got}"
        );
    }
    assert_eq!(got["toolError"], false, "{got}");
    if let Some((_sipp, mut child)) = pbx {
        let _ = child.kill().await;
    }
}
