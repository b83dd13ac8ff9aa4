//! `/mcp` with the official MCP SDKs as clients, against the real server over loopback: the
//! TypeScript SDK (npm `@modelcontextprotocol/sdk`, which speaks the `initialize` revisions)
//! and the Python SDK (`mcp` on PyPI, which probes `server/discover` for the stateless
//! 2026-07-28 revision first). Each connects with a personal access token, lists the tools,
//! calls a read tool and a write tool, and gets a clear error for bad arguments; the write is
//! seen through the REST API. The clients are `tests/mcp/client.mjs` and `tests/mcp/client.py`
//! (installed by `tests/run.sh` under `target/mcp-ts` and `target/mcp-py`).

use ringside_e2e::{workspace_root, Server};
use serde_json::{json, Value};

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
    let (st, w) = s
        .api(
            "POST",
            "/api/v1/widgets",
            &token,
            Some(json!({"name": "Shop", "allowedDomains": ["shop.example"]})),
        )
        .await;
    assert_eq!(st, 201, "{w}");
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
