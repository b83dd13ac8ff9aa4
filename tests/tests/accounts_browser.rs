//! Accounts end to end, as people use them: headless Chromium on the pages `ringside serve`
//! renders, sign-in codes mailed by lettre to a real SMTP server on loopback (aiosmtpd).
//!
//! An owner signs up with a code, creates a read-only token (it works) and revokes it (401 at
//! once), invites an agent; the agent opens the mailed link, signs in with their own code and
//! sees only what an agent may; the owner signs out everywhere. Every page is screenshotted to
//! `target/screenshots/accounts/` (the run's artifacts) and checked with axe-core: no serious
//! or critical violations.

use ringside_e2e::browser::{Browser, Page};
use ringside_e2e::{sign_in_by_form, Server, SmtpSink};
use serde_json::{json, Value};

const SHOTS: &str = "accounts";

/// `fetch` from the page, with its cookies; returns the status.
async fn page_fetch(p: &mut Page, method: &str, path: &str) -> u64 {
    let v = p
        .eval(&format!(
            "fetch({path}, {{method: {m}, credentials: 'same-origin'}}).then(r => r.status)",
            path = json!(path),
            m = json!(method)
        ))
        .await;
    v.as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_tokens_team_and_sign_out_in_a_browser() {
    let mail = SmtpSink::start().await;
    let smtp = format!("smtp+plain://127.0.0.1:{}", mail.port);
    let s = Server::start_with(&[
        ("RINGSIDE_SMTP_URL", &smtp),
        ("RINGSIDE_SMTP_FROM", "Ringside <no-reply@ringside.test>"),
    ])
    .await;
    assert!(
        !s.log_text().contains("no SMTP server is configured"),
        "{}",
        s.log_text()
    );
    let owner_email = "owner@shop.test";
    let agent_email = "agent@shop.test";

    // The owner: `/` sends a stranger to sign in; sign up with a mailed code.
    let owner = Browser::launch(&[]).await;
    let mut p = owner.open(&format!("{}/", s.http)).await;
    p.wait_true("location.pathname === '/login'", "/ redirects to /login")
        .await;
    p.look(SHOTS, "01-login").await;
    p.goto(&format!("{}/signup", s.http), "/signup").await;
    p.look(SHOTS, "02-signup").await;
    // By keyboard alone: Tab to the email field, type, Enter; the code field takes the focus;
    // type the mailed code, Enter.
    assert!(p.tab_to("email", 6).await, "Tab reaches the email field");
    p.type_text(owner_email).await;
    p.press("Enter").await;
    p.wait_true(
        "!document.getElementById('code-form').hidden && document.activeElement.id === 'code'",
        "Enter asks for a code and the code field has the focus",
    )
    .await;
    p.look(SHOTS, "03-signup-code").await;
    let code = mail.code(owner_email, 1).await;
    p.type_text(&code).await;
    p.press("Enter").await;
    p.wait_true(
        "location.pathname === '/' && document.querySelector('h1') && \
         document.querySelector('h1').textContent === 'Home'",
        "signed up by keyboard",
    )
    .await;
    let body = p.eval("document.body.innerText").await;
    assert!(body.as_str().unwrap().contains(owner_email), "{body}");
    p.look(SHOTS, "04-home").await;
    // No code ever reached the log: it went by mail.
    let code = mail.code(owner_email, 1).await;
    assert!(!s.log_text().contains(&code), "the code is not logged");

    // A read-only token: shown once, works; revoked: refused at once.
    p.goto(&format!("{}/settings/tokens", s.http), "/settings/tokens")
        .await;
    p.look(SHOTS, "05-tokens").await;
    p.fill("token-name", "Weekly report").await;
    p.click("form[data-kind=token] button[type=submit]").await;
    p.wait_true(
        "document.getElementById('new-token-value').textContent.startsWith('ringside_pat_')",
        "the new token is shown",
    )
    .await;
    p.look(SHOTS, "06-token-created").await;
    let token = p
        .eval("document.getElementById('new-token-value').textContent")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    let (st, _) = s.api("GET", "/api/v1/widgets", &token, None).await;
    assert_eq!(st, 200);
    let (st, _) = s
        .api(
            "POST",
            "/api/v1/widgets",
            &token,
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(st, 403, "read-only");
    p.goto(&format!("{}/settings/tokens", s.http), "/settings/tokens")
        .await;
    p.click("button[data-url^='/api/v1/tokens/']").await;
    p.wait_true(
        "!!document.querySelector('.badge.off') && !document.querySelector(\"button[data-url^='/api/v1/tokens/']\")",
        "the token shows as revoked",
    )
    .await;
    let (st, _) = s.api("GET", "/api/v1/widgets", &token, None).await;
    assert_eq!(st, 401, "a revoked token is refused at once");
    p.look(SHOTS, "07-token-revoked").await;

    // Invite an agent.
    p.goto(&format!("{}/settings/team", s.http), "/settings/team")
        .await;
    p.look(SHOTS, "08-team").await;
    p.fill("invite-email", agent_email).await;
    p.click("form[data-url='/api/v1/invites'] button[type=submit]")
        .await;
    p.wait_true(
        &format!("document.body.innerText.includes({})", json!(agent_email)),
        "the invitation is pending",
    )
    .await;
    p.look(SHOTS, "09-team-invited").await;
    let invite = mail.nth(agent_email, "invited you", 1).await;
    let link = invite
        .body
        .split_whitespace()
        .find(|w| w.contains("/login?invite="))
        .expect("the invitation has its link")
        .to_owned();
    assert!(link.starts_with(&s.http), "{link}");

    // The agent, in their own browser: the link, their own code, the agent's view.
    let agent = Browser::launch(&[]).await;
    let mut a = agent.open(&link).await;
    a.wait_true(
        &format!(
            "document.getElementById('email').value === {} && !document.getElementById('invite-note').hidden",
            json!(agent_email)
        ),
        "the invitation fills the email",
    )
    .await;
    a.look(SHOTS, "10-invited-login").await;
    sign_in_by_form(&mut a, SHOTS, &mail, agent_email, 1, "11-invited-code").await;
    assert!(a
        .eval("document.body.innerText")
        .await
        .as_str()
        .unwrap()
        .contains("agent"));
    a.look(SHOTS, "12-agent-home").await;
    assert_eq!(page_fetch(&mut a, "GET", "/api/v1/widgets").await, 200);
    assert_eq!(page_fetch(&mut a, "GET", "/api/v1/webhooks").await, 403);
    assert_eq!(page_fetch(&mut a, "GET", "/api/v1/invites").await, 403);
    a.goto(&format!("{}/settings/team", s.http), "/settings/team")
        .await;
    let (forms, selects) = (
        a.eval("document.querySelectorAll('form').length").await,
        a.eval("document.querySelectorAll('select').length").await,
    );
    assert_eq!(
        (forms, selects),
        (json!(0), json!(0)),
        "agents manage no one"
    );
    a.look(SHOTS, "13-agent-team").await;
    a.goto(&format!("{}/settings/tokens", s.http), "/settings/tokens")
        .await;
    let scopes: Value = a
        .eval("[...document.querySelectorAll('input[name=scopes]')].map(e => e.value)")
        .await;
    let scopes: Vec<&str> = scopes
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        !scopes.is_empty()
            && !scopes.iter().any(|s| s.starts_with("webhooks:")
                || s.starts_with("sip:")
                || *s == "widgets:write"),
        "{scopes:?}"
    );
    a.look(SHOTS, "14-agent-tokens").await;
    a.goto(&format!("{}/settings/usage", s.http), "/settings/usage")
        .await;
    a.look(SHOTS, "15-usage").await;
    // On a phone's screen nothing runs off the side.
    a.viewport(390, 844, true).await;
    a.goto(
        &format!("{}/settings/sessions", s.http),
        "/settings/sessions",
    )
    .await;
    a.wait_true(
        "document.documentElement.scrollWidth <= window.innerWidth + 1",
        "no sideways scrolling on a phone",
    )
    .await;
    a.look(SHOTS, "16-phone-sessions").await;

    // The owner gives the agent one widget on the team page; the agent then sees only it.
    let made = p
        .eval(
            "fetch('/api/v1/widgets', {method: 'POST', credentials: 'same-origin', headers: \
             {'Content-Type': 'application/json', 'X-CSRF-Token': \
             document.querySelector('meta[name=csrf-token]').content}, \
             body: JSON.stringify({name: 'Front shop'})}).then(r => r.status)",
        )
        .await;
    assert_eq!(made, json!(201));
    p.goto(&format!("{}/settings/team", s.http), "/settings/team")
        .await;
    p.click("details summary").await;
    p.click("input[name=scope][value=some]").await;
    p.click("input[name=widgetIds]").await;
    p.look(SHOTS, "18-team-agent-widgets").await;
    p.click("form[data-kind=widgets] button[type=submit]").await;
    p.wait_true(
        "document.readyState === 'complete' && !!document.querySelector('input[name=widgetIds][checked]')",
        "the agent now has the widget",
    )
    .await;
    p.look(SHOTS, "19-team-saved").await;
    assert_eq!(page_fetch(&mut a, "GET", "/api/v1/calls").await, 403);
    let seen = a
        .eval("fetch('/api/v1/widgets').then(r => r.json()).then(l => l.map(w => w.name))")
        .await;
    assert_eq!(seen, json!(["Front shop"]));

    // The owner signs out everywhere: back to the login page, the cookie is dead.
    p.goto(
        &format!("{}/settings/sessions", s.http),
        "/settings/sessions",
    )
    .await;
    p.look(SHOTS, "17-sessions").await;
    p.click("button[data-url='/api/v1/auth/sessions']").await;
    p.wait_true("location.pathname === '/login'", "signed out to /login")
        .await;
    assert_eq!(page_fetch(&mut p, "GET", "/api/v1/auth/session").await, 401);
    p.goto(&format!("{}/settings/tokens", s.http), "/login")
        .await;
    // The agent is still signed in: sign-out everywhere is per person.
    assert_eq!(page_fetch(&mut a, "GET", "/api/v1/auth/session").await, 200);
}

/// The SMTP client itself against a real server: `smtp://` sends in the clear when the server
/// offers no STARTTLS, connections are reused, and a connection the server dropped (here: the
/// server restarted) is replaced without losing the message.
#[tokio::test]
async fn smtp_mail_arrives_over_reused_and_replaced_connections() {
    use ringside_api::accounts::mail::{Mail, Mailer, SmtpMailer};
    let sink = SmtpSink::start().await;
    let mailer = SmtpMailer::new(
        &format!("smtp://127.0.0.1:{}", sink.port),
        "Ringside <no-reply@ringside.test>",
    )
    .unwrap();
    let mail = |i: u32| {
        Mail {
        to: format!("person{i}@mail.test"),
        subject: format!("Your Ringside sign-in code: 00000{i}"),
        text: format!("Your Ringside sign-in code is 00000{i}\nA line longer than seventy-six characters, so that a transfer encoding may wrap it somewhere.\n"),
    }
    };
    for i in 0..3 {
        mailer.send(&mail(i)).await.unwrap();
    }
    for i in 0..3 {
        let m = sink
            .nth(&format!("person{i}@mail.test"), "sign-in code", 1)
            .await;
        assert_eq!(
            m.header("From").as_deref(),
            Some("Ringside <no-reply@ringside.test>")
        );
        assert!(m.body.contains("wrap it somewhere."), "{}", m.body);
        // No STARTTLS offered: `smtp://` goes on in the clear (use smtps:// to insist).
        assert_eq!(m.header("X-Sink-Tls").as_deref(), Some("no"));
    }
    // A password is never sent where the server offers no STARTTLS.
    let with_password = SmtpMailer::new(
        &format!("smtp://mailer:secret@127.0.0.1:{}", sink.port),
        "Ringside <no-reply@ringside.test>",
    )
    .unwrap();
    let e = with_password.send(&mail(5)).await.unwrap_err();
    assert!(e.to_string().contains("STARTTLS"), "{e}");
    let port = sink.port;
    drop(sink);
    let sink = SmtpSink::start_on(port).await;
    mailer.send(&mail(7)).await.unwrap();
    sink.nth("person7@mail.test", "sign-in code", 1).await;
    drop(sink);
    // Nobody listening: a clear error, not a hang.
    let e = mailer.send(&mail(8)).await.unwrap_err();
    assert!(e.to_string().contains("smtp"), "{e}");
}

/// A certificate for `localhost` signed by a CA of our own (openssl): (CA PEM, cert, key).
fn private_ca(
    dir: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=Ringside test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "srv.key",
        "-out",
        "srv.csr",
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "srv.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-out",
        "srv.pem",
        "-extfile",
        "ext.cnf",
    ]);
    (dir.join("ca.pem"), dir.join("srv.pem"), dir.join("srv.key"))
}

/// STARTTLS and implicit TLS against servers with a private CA's certificate: mail goes
/// encrypted when the CA is trusted; without it the certificate is refused and nothing is
/// sent in the clear instead.
#[tokio::test]
async fn smtp_over_starttls_and_implicit_tls_checks_the_certificate() {
    use ringside_api::accounts::mail::{Mail, Mailer, SmtpMailer};
    let dir = std::env::temp_dir().join(format!("ringside-smtp-tls-{}", std::process::id()));
    let (ca, cert, key) = private_ca(&dir);
    let ca_pem = std::fs::read(&ca).unwrap();
    let mail = Mail {
        to: "tls@mail.test".into(),
        subject: "Your Ringside sign-in code: 123456".into(),
        text: "Your Ringside sign-in code is 123456\n".into(),
    };
    for (implicit, scheme) in [(false, "smtp"), (true, "smtps")] {
        let sink = SmtpSink::start_tls(&cert, &key, implicit).await;
        let url = format!("{scheme}://localhost:{}", sink.port);
        // Untrusted: refused, nothing delivered.
        let plain = SmtpMailer::new(&url, "a@ringside.test").unwrap();
        let e = plain.send(&mail).await.unwrap_err();
        assert!(
            e.to_string().to_lowercase().contains("certificate")
                || e.to_string().contains("invalid peer"),
            "{scheme}: {e}"
        );
        assert!(
            sink.messages().is_empty(),
            "{scheme}: nothing sent in the clear"
        );
        // Trusted through the extra CA: delivered, encrypted.
        let trusting = SmtpMailer::with_roots(&url, "a@ringside.test", Some(&ca_pem)).unwrap();
        trusting
            .send(&mail)
            .await
            .unwrap_or_else(|e| panic!("{scheme}: {e}"));
        let m = sink.nth("tls@mail.test", "sign-in code", 1).await;
        assert_eq!(m.header("X-Sink-Tls").as_deref(), Some("yes"), "{scheme}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Connecting an AI assistant as its user sees it: the app registers, the browser opens
/// `/oauth/authorize`, the person signs in with a mailed code and allows it on the consent page
/// (plain forms), lands back on the app with a code that the app exchanges (PKCE), and the app
/// shows under Settings → Connected apps until it is disconnected. Screenshots under
/// `target/screenshots/accounts/oauth-*`, axe-core on each page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_an_ai_app_in_a_browser() {
    let mail = SmtpSink::start().await;
    let smtp = format!("smtp+plain://127.0.0.1:{}", mail.port);
    let s = Server::start_with(&[("RINGSIDE_SMTP_URL", &smtp)]).await;
    // The app's own callback page, on loopback.
    let app = axum::Router::new().route(
        "/callback",
        axum::routing::get(|| async {
            axum::response::Html(
                "<!doctype html><html lang=\"en\"><head><title>Agent</title></head>\
                 <body><main><h1>Connected</h1></main></body></html>",
            )
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cb = format!(
        "http://127.0.0.1:{}/callback",
        l.local_addr().unwrap().port()
    );
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    let http = reqwest::Client::new();
    let reg: Value = http
        .post(format!("{}/oauth/register", s.http))
        .json(&json!({"client_name": "Claude (test)", "redirect_uris": [cb]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = reg["client_id"].as_str().unwrap().to_owned();
    // RFC 7636 appendix B.
    let (verifier, challenge) = (
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    );
    let authorize = format!(
        "{}/oauth/authorize?response_type=code&client_id={client_id}&redirect_uri={}\
         &code_challenge={challenge}&code_challenge_method=S256&state=s1\
         &scope=mcp%3Aread%20widgets%3Aread%20messages%3Aread%20messages%3Awrite",
        s.http,
        cb.replace(':', "%3A").replace('/', "%2F"),
    );
    let email = "owner@agent.test";
    let b = Browser::launch(&[]).await;
    // A new tab's URL cannot carry a query (the DevTools endpoint takes it as its own).
    let mut p = b.open("about:blank").await;
    p.goto(&authorize, "/oauth/authorize").await;
    p.wait_true(
        "!!document.getElementById('oauth-email')",
        "the sign-in form",
    )
    .await;
    p.look(SHOTS, "oauth-01-sign-in").await;
    p.fill("oauth-email", email).await;
    p.click("form button[type=submit]").await;
    p.wait_true("!!document.getElementById('oauth-code')", "the code form")
        .await;
    p.look(SHOTS, "oauth-02-code").await;
    let code = mail.code(email, 1).await;
    p.fill("oauth-code", &code).await;
    p.click("form button[type=submit]").await;
    p.wait_true(
        "document.querySelector('h1') && document.querySelector('h1').textContent === 'Connect an app'",
        "the consent page",
    )
    .await;
    let text = p.eval("document.body.innerText").await;
    let text = text.as_str().unwrap();
    assert!(
        text.contains("Claude (test)")
            && text.contains(email)
            && text.contains("Send chat messages"),
        "{text}"
    );
    p.look(SHOTS, "oauth-03-consent").await;
    p.click("button[value=allow]").await;
    p.wait_true(
        "location.pathname === '/callback' && location.search.includes('code=')",
        "back at the app with a code",
    )
    .await;
    let search = p.eval("location.search").await;
    let q: std::collections::HashMap<String, String> =
        reqwest::Url::parse(&format!("http://x/{}", search.as_str().unwrap()))
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect();
    assert_eq!(q["state"], "s1");
    assert_eq!(q["iss"], s.http);
    let tokens: Value = http
        .post(format!("{}/oauth/token", s.http))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", q["code"].as_str()),
            ("redirect_uri", cb.as_str()),
            ("client_id", client_id.as_str()),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let mcp = |token: String| {
        let http = http.clone();
        let url = format!("{}/mcp", s.http);
        async move {
            http.post(url)
                .bearer_auth(token)
                .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(mcp(access.clone()).await, 200);
    // Connected apps: listed, then disconnected; the token stops working.
    p.goto(&format!("{}/settings/apps", s.http), "/settings/apps")
        .await;
    let text = p.eval("document.body.innerText").await;
    assert!(text.as_str().unwrap().contains("Claude (test)"), "{text}");
    p.look(SHOTS, "oauth-04-connected-apps").await;
    p.click("button[aria-label='Disconnect Claude (test)']")
        .await;
    p.wait_true(
        "document.body.innerText.includes('No app connected yet.')",
        "the app is gone from the list",
    )
    .await;
    p.look(SHOTS, "oauth-05-disconnected").await;
    assert_eq!(mcp(access).await, 401);
}
