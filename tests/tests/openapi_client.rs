//! The OpenAPI document as a client generator sees it: openapi-python-client (PyPI; installed
//! by `tests/run.sh` under `target/openapi-py`) generates a typed Python client from the
//! running server's `/openapi.json`, and that client creates a widget and reads it back
//! (`tests/openapi/widget_roundtrip.py`): the request and answer types it uses were derived
//! from the Rust types, so their field names, required fields and formats are the server's.

use ringside_e2e::{workspace_root, Server};

#[tokio::test]
async fn a_generated_client_creates_a_widget_and_reads_it_back() {
    let s = Server::start().await;
    let token = s.token("gen@client.test", "widgets:read,widgets:write");
    let doc = reqwest::get(format!("{}/openapi.json", s.http))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let path = s.data_dir.join("openapi.json");
    std::fs::write(&path, &doc).unwrap();
    let out = s.data_dir.join("generated");
    std::fs::create_dir_all(&out).unwrap();
    let generator = workspace_root().join("target/openapi-py/bin/openapi-python-client");
    let gen = std::process::Command::new(&generator)
        .arg("generate")
        .arg("--path")
        .arg(&path)
        .arg("--output-path")
        .arg(out.join("ringside_client"))
        .args(["--meta", "none", "--overwrite"])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (tests/run.sh installs it)", generator.display()));
    assert!(
        out.join("ringside_client/api/widgets/post_widgets.py")
            .exists(),
        "generated: {}\n{}",
        String::from_utf8_lossy(&gen.stdout),
        String::from_utf8_lossy(&gen.stderr)
    );
    let py = workspace_root().join("target/openapi-py/bin/python");
    let run = std::process::Command::new(&py)
        .arg(workspace_root().join("tests/openapi/widget_roundtrip.py"))
        .arg(&out)
        .arg(&s.http)
        .arg(&token)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let got: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(got["name"], "Generated", "{got}");
    assert_eq!(got["allowedDomains"], serde_json::json!(["gen.example"]));
    assert_eq!(got["primaryColor"], "#112233");
    assert_eq!(got["position"], "bottom-right");
    assert_eq!(got["offlineEnabled"], false);
    assert!(got["publicKey"].as_str().unwrap().starts_with("wk_"));
    // The same widget through REST.
    let (st, w) = s
        .api(
            "GET",
            &format!("/api/v1/widgets/{}", got["id"].as_str().unwrap()),
            &token,
            None,
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(w["name"], "Generated");
}
