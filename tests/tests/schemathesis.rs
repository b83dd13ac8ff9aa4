//! schemathesis (PyPI; `tests/run.sh` installs it) against the server's own `/openapi.json`,
//! with a token holding every scope, on SQLite and on PostgreSQL: no request it generates,
//! valid or not, gets a 5xx, and every answer has the status codes, content type and body
//! schema the document declares (`response_schema_conformance`: the typed answers, derived
//! from the Rust types, are validated against their schemas). A bounded run (`RINGSIDE_SCHEMATHESIS_EXAMPLES` examples per
//! operation, default 12, fixed seed); the long form is the same with a larger count, e.g.
//! `RINGSIDE_SCHEMATHESIS_EXAMPLES=500 cargo test -p ringside-e2e --test schemathesis`.

use ringside_e2e::Server;
use serde_json::json;

/// The checks every answer must pass.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
     response_schema_conformance";

#[tokio::test]
async fn schemathesis_finds_nothing_on_sqlite() {
    run(&[]).await;
}

#[tokio::test]
async fn schemathesis_finds_nothing_on_postgres() {
    let Some(schema) = ringside_e2e::postgres_schema().await else {
        return;
    };
    run(&[("RINGSIDE_DATABASE_URL", schema.url.as_str())]).await;
    schema.drop_schema().await.unwrap();
}

async fn run(env: &[(&str, &str)]) {
    let srv = Server::start_with(env).await;
    let token = srv.token(
        "schemathesis@example.com",
        &ringside_api::auth::SCOPES.join(","),
    );
    // Real objects for the generated requests to reach (else nearly every `{id}` is a 404):
    // path ids are drawn from them most of the time, generated the rest.
    let mut ids = Vec::new();
    for (path, body) in [
        (
            "/api/v1/widgets",
            json!({"name": "st", "allowedDomains": ["example.com"]}),
        ),
        (
            "/api/v1/webhooks",
            json!({"name": "st", "url": "https://example.com/hook", "events": ["call.missed"]}),
        ),
        (
            "/api/v1/contacts",
            json!({"firstName": "St", "email": "st@example.com"}),
        ),
        (
            "/api/v1/sip/extensions",
            json!({"username": "2001", "password": "st-password-2001"}),
        ),
        (
            "/api/v1/sip/trunks",
            json!({"name": "st", "inboundCidrs": ["192.0.2.0/24"]}),
        ),
    ] {
        let (st, made) = srv.api("POST", path, &token, Some(body)).await;
        assert_eq!(st, 201, "{path}: {made}");
        ids.push(made["id"].as_str().expect("an id").to_owned());
    }
    let config = srv.data_dir.join("schemathesis.toml");
    std::fs::write(
        &config,
        format!(
            "[dictionaries.ids]\nvalues = {ids:?}\n[dictionaries.widgets]\nvalues = [{:?}]\n\
             [parameters]\n\"path.id\" = {{ dictionary = \"ids\", probability = 0.8 }}\n\
             \"path.widget_id\" = {{ dictionary = \"widgets\", probability = 0.8 }}\n",
            ids[0]
        ),
    )
    .unwrap();
    let examples = std::env::var("RINGSIDE_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "12".into());
    let report = srv.data_dir.join("schemathesis.xml");
    let out = tokio::process::Command::new(
        std::env::var("RINGSIDE_SCHEMATHESIS").unwrap_or_else(|_| "schemathesis".into()),
    )
    .arg("--config-file")
    .arg(&config)
    .arg("run")
    .arg(format!("{}/openapi.json", srv.http))
    .args(["--header", &format!("Authorization: Bearer {token}")])
    .args(["--checks", CHECKS])
    .args(["--max-examples", &examples])
    .args(["--seed", "1", "--workers", "1", "--no-color"])
    .args([
        "--generation-database",
        "none",
        "--suppress-health-check",
        "all",
    ])
    .args(["--request-timeout", "30", "--report", "junit"])
    .arg("--report-junit-path")
    .arg(&report)
    .env("PYTHONPATH", env!("CARGO_MANIFEST_DIR"))
    .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks")
    .output()
    .await
    .expect("run schemathesis (pip install schemathesis)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{stdout}\n{}\nserver log (tail):\n{}",
        String::from_utf8_lossy(&out.stderr),
        tail(&srv.log_text(), 80)
    );
    eprintln!("{stdout}");
    // It really tested: operations ran and passed.
    assert!(stdout.contains("passed"), "{stdout}");
    let log = srv.log_text();
    assert!(!log.contains("panicked"), "the server panicked:\n{log}");
}

fn tail(s: &str, lines: usize) -> String {
    let all: Vec<&str> = s.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
