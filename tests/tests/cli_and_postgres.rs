//! The operator surface: token CLI (create, list, revoke), and `ringside serve` on PostgreSQL
//! keeping registrations across a restart.

use ringside_e2e::{free_port, Server, PW2};

#[tokio::test]
async fn tokens_are_listed_without_secrets_and_revoked_at_once() {
    let srv = Server::start().await;
    let token = srv.token("ops@example.com", "sip:read");
    let (st, _) = srv.api("GET", "/api/v1/sip/extensions", &token, None).await;
    assert_eq!(st, 200);
    let out = srv.cli(&["token", "list", "--email", "ops@example.com"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8(out.stdout).unwrap();
    assert!(!listed.contains(&token), "secrets are never listed");
    let entry: serde_json::Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
    assert_eq!(entry["scopes"], serde_json::json!(["sip:read"]));
    let id = entry["id"].as_str().unwrap();
    let out = srv.cli(&["token", "revoke", "--email", "ops@example.com", "--id", id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (st, body) = srv.api("GET", "/api/v1/sip/extensions", &token, None).await;
    assert_eq!(st, 401, "{body}");
    assert_eq!(body["error"]["code"], "unauthorized");
    // Bad input to the CLI is explained, not half-done.
    let out = srv.cli(&[
        "token",
        "create",
        "--email",
        "x@example.com",
        "--scopes",
        "sip:read,root",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown scope"));
}

#[tokio::test]
async fn serve_on_postgres_keeps_registrations_across_restart() {
    let Some(schema) = ringside_e2e::postgres_schema().await else {
        return;
    };
    let env = [("RINGSIDE_DATABASE_URL", schema.url.as_str())];
    let mut srv = Server::start_with(&env).await;
    srv.with_phones().await;
    let (ok, log) = srv.register("1002", PW2, free_port(), 200, &[]).await;
    assert!(ok, "{log}");
    assert_eq!(srv.metric("ringside_sip_registrations", "").await, 1.0);
    assert!(srv.log_text().contains("Postgres"), "{}", srv.log_text());
    assert!(srv.terminate().success());
    let dir = srv.data_dir.clone();
    drop(srv);
    let srv = Server::start_in(dir, &env).await;
    assert_eq!(srv.metric("ringside_sip_registrations", "").await, 1.0);
    drop(srv);
    schema.drop_schema().await.unwrap();
}

#[tokio::test]
async fn user_create_makes_an_owner_once_and_tokens_join_them() {
    let srv = Server::start().await;
    let create = || srv.cli(&["user", "create", "--email", " First@Example.com "]);
    let out = create();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let user: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(user["email"], "first@example.com");
    assert_eq!(user["role"], "owner");
    assert!(user["tenantId"].as_str().is_some_and(|t| !t.is_empty()));
    // Again: the same user, nothing new.
    let again: serde_json::Value = serde_json::from_slice(&create().stdout).unwrap();
    assert_eq!(again["id"], user["id"]);
    assert_eq!(again["tenantId"], user["tenantId"]);
    // A token made for that email is that user's, in that tenant.
    let token = srv.token("first@example.com", "widgets:read");
    let (st, _) = srv.api("GET", "/api/v1/widgets", &token, None).await;
    assert_eq!(st, 200);
    let out = srv.cli(&["token", "list", "--email", "first@example.com"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    // Bad input is explained and creates nothing.
    let out = srv.cli(&["user", "create", "--email", "not-an-email"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("email"));
    for args in [
        ["--email", "new@example.com", "--role", "agent"],
        ["--email", "new@example.com", "--role", "king"],
    ] {
        let out = srv.cli(&[&["user", "create"][..], &args[..]].concat());
        assert!(!out.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("owner"));
    }
    let out = srv.cli(&[
        "user",
        "create",
        "--email",
        "first@example.com",
        "--role",
        "agent",
    ]);
    assert!(!out.status.success(), "the last owner stays");
    let out = srv.cli(&[
        "user",
        "create",
        "--email",
        "first@example.com",
        "--role",
        "owner",
    ]);
    assert!(out.status.success());

    // No SMTP server: the code goes to the log with a warning, and signs that same user in.
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/api/v1/auth/email-code", srv.http))
        .json(&serde_json::json!({"email": "first@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let mut code = String::new();
    for _ in 0..100 {
        let log = srv.log_text();
        if let Some(i) = log.find("Your Ringside sign-in code is ") {
            code = log[i + 30..].chars().take(6).collect();
            assert!(log.contains("no SMTP server is configured"), "{log}");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(code.len(), 6, "the code is in the log:\n{}", srv.log_text());
    let r = http
        .post(format!("{}/api/v1/auth/session", srv.http))
        .json(&serde_json::json!({"email": "first@example.com", "code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && !cookie.contains("Secure"),
        "{cookie}"
    );
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["user"]["id"], user["id"]);
    assert_eq!(body["tenant"]["id"], user["tenantId"]);
}
