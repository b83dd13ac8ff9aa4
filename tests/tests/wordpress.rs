//! The WordPress plugin (`integrations/wordpress`, issue 19): WordPress' own security and
//! translation rules checked over its source (`tests/wordpress_check.py`, with `php -l`), and
//! the plugin at work in a real WordPress: Debian's `wordpress` package (6.1) on PHP's built-in
//! server with the local MariaDB, installed and the plugin activated from wp-admin in headless
//! Chromium; the administrator runs the setup with the code Ringside mails (to a loopback SMTP
//! server), which creates the site's widget; the public page carries the snippet and its widget
//! chats; the wp-admin operator panel shows the live visitor and answers the chat, and the
//! visitor's page shows the answer. The token the setup stored never reaches a browser. An
//! editor uses the panel but is refused the setup; after a disconnect (the snippet leaves the
//! page) a Ringside agent's account is refused as the site's account (its token may not manage
//! widgets). The panel's other work (callbacks with voice notes, notes, lead status, sending a
//! visitor to a page, analytics, answering a call in the dashboard, call history) and the
//! plugin's deactivation and deletion are in `wordpress/panel.rs`.

mod calls_common;
#[path = "wordpress/panel.rs"]
mod panel;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use calls_common::*;
use ringside_e2e::browser::{Browser, Page};
use ringside_e2e::{Server, SmtpSink};
use serde_json::json;

const SHOTS: &str = "wordpress";

#[test]
fn the_plugin_follows_wordpress_rules() {
    let out = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/wordpress_check.py"))
        .output()
        .expect("python3 tests/wordpress_check.py");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.trim_end().ends_with("wordpress_findings: 0"), "{text}");
}

/// A WordPress site on PHP's built-in server with a database of its own (dropped at the end).
struct WordPress {
    php: std::process::Child,
    dir: PathBuf,
    db: String,
    url: String,
}

impl Drop for WordPress {
    fn drop(&mut self) {
        let _ = self.php.kill();
        let _ = self.php.wait();
        let _ = mariadb(&format!("DROP DATABASE IF EXISTS `{}`", self.db));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn mariadb(sql: &str) -> std::process::Output {
    Command::new("mariadb")
        .args(["-uroot", "-e", sql])
        .output()
        .expect("the mariadb client")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl WordPress {
    /// Debian's WordPress copied into a fresh directory, with its own database and the plugin
    /// in wp-content/plugins/ringside, served on localhost; installed (admin / the password).
    async fn start(password: &str) -> WordPress {
        let n: u32 = rand_u32();
        let dir = std::env::temp_dir().join(format!("ringside-wp-{n}"));
        let ok = Command::new("cp")
            .args(["-r", "/usr/share/wordpress"])
            .arg(&dir)
            .status()
            .expect("cp");
        assert!(
            ok.success(),
            "Debian's wordpress package is installed (tests/run.sh)"
        );
        let _ = std::fs::remove_file(dir.join(".htaccess"));
        let db = format!("wp_ringside_{n}");
        let made = mariadb(&format!(
            "CREATE DATABASE `{db}`; CREATE USER IF NOT EXISTS 'ringside_wp'@'localhost' \
             IDENTIFIED BY 'wp-test-pass'; ALTER USER 'ringside_wp'@'localhost' \
             IDENTIFIED BY 'wp-test-pass'; GRANT ALL ON `{db}`.* TO 'ringside_wp'@'localhost';"
        ));
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        let salt = |k: &str| format!("define( '{k}', '{k}-{n}-{}' );\n", rand_u32());
        let config = format!(
            "<?php\ndefine( 'DB_NAME', '{db}' );\ndefine( 'DB_USER', 'ringside_wp' );\n\
             define( 'DB_PASSWORD', 'wp-test-pass' );\ndefine( 'DB_HOST', 'localhost' );\n\
             define( 'DB_CHARSET', 'utf8mb4' );\ndefine( 'DB_COLLATE', '' );\n{}{}{}{}{}{}{}{}\
             $table_prefix = 'wp_';\ndefine( 'WP_DEBUG', true );\ndefine( 'WP_DEBUG_LOG', true );\n\
             define( 'WP_DEBUG_DISPLAY', false );\n\
             // No calls to wordpress.org from the test machine; the Ringside server is on 127.0.0.1.\n\
             define( 'WP_HTTP_BLOCK_EXTERNAL', true );\ndefine( 'WP_ACCESSIBLE_HOSTS', '127.0.0.1' );\n\
             define( 'AUTOMATIC_UPDATER_DISABLED', true );\ndefine( 'DISABLE_WP_CRON', true );\n\
             if ( ! defined( 'ABSPATH' ) ) {{ define( 'ABSPATH', __DIR__ . '/' ); }}\n\
             require_once ABSPATH . 'wp-settings.php';\n",
            salt("AUTH_KEY"),
            salt("SECURE_AUTH_KEY"),
            salt("LOGGED_IN_KEY"),
            salt("NONCE_KEY"),
            salt("AUTH_SALT"),
            salt("SECURE_AUTH_SALT"),
            salt("LOGGED_IN_SALT"),
            salt("NONCE_SALT"),
        );
        std::fs::write(dir.join("wp-config.php"), config).unwrap();
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../integrations/wordpress"),
            &dir.join("wp-content/plugins/ringside"),
        );
        let port = free_port();
        let php = Command::new("php")
            .args(["-S", &format!("localhost:{port}"), "-t"])
            .arg(&dir)
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("php -S");
        let url = format!("http://localhost:{port}");
        let http = reqwest::Client::new();
        let mut up = false;
        for _ in 0..100 {
            if http
                .get(format!("{url}/wp-admin/install.php"))
                .send()
                .await
                .is_ok()
            {
                up = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(up, "php -S answers");
        let installed = http
            .post(format!("{url}/wp-admin/install.php?step=2"))
            .form(&[
                ("weblog_title", "Shop"),
                ("user_name", "admin"),
                ("admin_password", password),
                ("admin_password2", password),
                ("pw_weak", "1"),
                ("admin_email", "admin@shop.test"),
                ("blog_public", "0"),
                ("language", ""),
            ])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            installed.contains("Success!"),
            "WordPress installed: {installed}"
        );
        WordPress { php, dir, db, url }
    }

    /// Runs `code` in this site's WordPress (wp-load.php, as a request to its host would);
    /// returns what it printed.
    fn php(&self, code: &str) -> String {
        let out = Command::new("php")
            .arg("-r")
            .arg(format!(
                "$_SERVER['HTTP_HOST'] = '{host}'; require '{dir}/wp-load.php'; {code}",
                host = self.url.trim_start_matches("http://"),
                dir = self.dir.display()
            ))
            .output()
            .unwrap();
        assert!(out.status.success(), "php: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn debug_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("wp-content/debug.log")).unwrap_or_default()
    }
}

/// A page of `browser` signed in to the site's wp-admin as `user`.
async fn wp_login(browser: &Browser, wp: &WordPress, user: &str, password: &str) -> Page {
    let mut p = browser.open(&format!("{}/wp-login.php", wp.url)).await;
    p.viewport(1280, 900, false).await;
    p.wait_true(
        "!!document.getElementById('user_login')",
        "the WordPress login",
    )
    .await;
    p.fill("user_login", user).await;
    p.fill("user_pass", password).await;
    p.click("#wp-submit").await;
    p.wait_true(
        "location.pathname.startsWith('/wp-admin')",
        "signed in to wp-admin",
    )
    .await;
    p
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish() as u32
}

fn copy_dir(from: &Path, to: &Path) {
    let ok = Command::new("cp")
        .arg("-r")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(ok.success());
}

/// The visitor's widget (in its shadow root): `js` runs with `root` bound.
fn in_widget(js: &str) -> String {
    format!(
        "(() => {{ const h = document.getElementById('ringside-widget'); \
         const root = h && (h.shadowRoot || h); if (!root) return null; {js} }})()"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wordpress_site_runs_ringside() {
    let mail = SmtpSink::start().await;
    let smtp = format!("smtp+plain://127.0.0.1:{}", mail.port);
    let srv = Server::start_with(&[
        ("RINGSIDE_SMTP_URL", &smtp),
        ("RINGSIDE_SMTP_FROM", "Ringside <no-reply@ringside.test>"),
    ])
    .await;
    let wp = WordPress::start("Adm1n-pass-2026").await;
    let tone = tone_file_of(440.0);
    let browser = chromium(&tone).await;

    // The administrator signs in to wp-admin and activates the plugin.
    let mut a = wp_login(&browser, &wp, "admin", "Adm1n-pass-2026").await;
    a.goto(
        &format!("{}/wp-admin/plugins.php", wp.url),
        "/wp-admin/plugins.php",
    )
    .await;
    a.click("a[aria-label='Activate Ringside']").await;
    a.wait_true(
        "!!document.querySelector('a[aria-label=\"Deactivate Ringside\"]')",
        "the plugin is active",
    )
    .await;

    // Setup by email code: a widget for the site is made.
    a.goto(
        &format!("{}/wp-admin/admin.php?page=ringside-setup", wp.url),
        "/wp-admin/admin.php",
    )
    .await;
    a.wait_true(
        "!!document.getElementById('ringside-server')",
        "the setup page",
    )
    .await;
    a.screenshot(SHOTS, "01-setup").await;
    a.fill("ringside-server", &srv.http).await;
    a.fill("ringside-email", "owner@shop.test").await;
    a.click("#ringside-email-form [type=submit]").await;
    a.wait_true(
        "!!document.getElementById('ringside-code')",
        "the code form",
    )
    .await;
    let code = mail.code("owner@shop.test", 1).await;
    a.fill("ringside-code", &code).await;
    a.screenshot(SHOTS, "02-code").await;
    a.click("#ringside-code-form [type=submit]").await;
    a.wait_true(
        "!!document.getElementById('ringside-widget-id')",
        "connected",
    )
    .await;
    a.screenshot(SHOTS, "03-connected").await;
    let widget = a
        .eval("document.getElementById('ringside-widget-id').textContent")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    // The widget is the account's, for the site's domain.
    let owner = srv.token("owner@shop.test", "widgets:read");
    let (st, w) = srv
        .api("GET", &format!("/api/v1/widgets/{widget}"), &owner, None)
        .await;
    assert_eq!(st, 200, "{w}");
    assert_eq!(w["allowedDomains"], json!(["localhost"]));
    // A token for the panel, stored sealed: not in any page wp-admin sent.
    let html = a.eval("document.documentElement.outerHTML").await;
    assert!(
        !html.as_str().unwrap().contains("ringside_pat_"),
        "no token in the page"
    );

    // The public page carries the snippet; a visitor chats through it.
    let mut v = browser.open(&format!("{}/", wp.url)).await;
    v.wait_true(
        &format!(
            "!!document.querySelector('script[data-widget-id=\"{widget}\"][src=\"{}/widget.js\"]')",
            srv.http
        ),
        "the snippet on the public page",
    )
    .await;
    v.wait_true(
        "!!window.Ringside && !!window.Ringside.visitorId",
        "the widget runs",
    )
    .await;
    let visitor_id = v
        .eval("window.Ringside.visitorId")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    v.wait_true(
        &in_widget("return !!root.querySelector('.rs-bubble');"),
        "the widget's button",
    )
    .await;
    let sent = v
        .eval(&in_widget(
            "root.querySelector('.rs-bubble').click(); const i = root.querySelector('.rs-form input'); \
             i.value = 'Do you ship to Porto?'; i.dispatchEvent(new Event('input')); \
             root.querySelector('.rs-form button').click(); return true;",
        ))
        .await;
    assert_eq!(sent, json!(true));
    v.screenshot(SHOTS, "04-public-page").await;

    // The operator panel in wp-admin: the live visitor, their chat, a reply.
    a.goto(
        &format!("{}/wp-admin/admin.php?page=ringside", wp.url),
        "/wp-admin/admin.php",
    )
    .await;
    let seen = a
        .eval_until(
            "document.querySelector('#ringside-visitors .ringside-list button') !== null",
            |v| v == &json!(true),
        )
        .await;
    assert_eq!(
        seen,
        json!(true),
        "the live visitor in the panel; the panel shows: {}",
        a.eval("document.querySelector('.ringside-panel').innerText")
            .await
    );
    a.click("#ringside-visitors .ringside-list button").await;
    a.wait_true(
        "document.querySelector('#ringside-chat .ringside-messages') && \
         document.querySelector('#ringside-chat .ringside-messages').innerText.includes('Do you ship to Porto?')",
        "the visitor's message in the panel",
    )
    .await;
    a.fill("ringside-reply-text", "Yes, in two days.").await;
    a.click("#ringside-chat .ringside-reply button[type=submit]")
        .await;
    v.wait_true(
        &in_widget(
            "return root.querySelector('.rs-list').innerText.includes('Yes, in two days.');",
        ),
        "the visitor gets the panel's reply",
    )
    .await;
    a.wait_true(
        "document.querySelector('#ringside-chat .ringside-messages').innerText.includes('Yes, in two days.')",
        "the reply in the panel",
    )
    .await;
    a.screenshot(SHOTS, "05-panel").await;
    // The visitor asks for a copy of the chat by email: it arrives, both sides in it.
    v.eval(&in_widget(
        "root.querySelector('.rs-mail').click(); return true;",
    ))
    .await;
    v.wait_true(
        &in_widget("return !!root.querySelector('.rs-sheet input[name=email]');"),
        "the transcript form",
    )
    .await;
    v.eval(&in_widget(
        "const s = root.querySelector('.rs-sheet input[name=email]').closest('form'); \
         s.elements.email.value = 'visitor@porto.test'; \
         s.querySelector('button[type=submit]').click(); return true;",
    ))
    .await;
    v.wait_true(
        &in_widget("return root.querySelector('.rs-list').innerText.includes('on its way to visitor@porto.test');"),
        "the widget says the copy is on its way",
    )
    .await;
    let copy = mail.nth("visitor@porto.test", "Your chat with", 1).await;
    assert_eq!(
        copy.header("Subject").as_deref(),
        Some("Your chat with Shop")
    );
    assert!(
        copy.body.contains("You: Do you ship to Porto?")
            && copy.body.contains(": Yes, in two days."),
        "{}",
        copy.body
    );
    let panel_html = a.eval("document.documentElement.outerHTML").await;
    let panel_html = panel_html.as_str().unwrap();
    assert!(
        !panel_html.contains("ringside_pat_") && !panel_html.contains("Bearer"),
        "no token in the panel"
    );
    assert!(
        panel_html.contains(&visitor_id),
        "the panel names the visitor"
    );
    // The setup's handlers refuse a request without the form's nonce (as a forged link would
    // send it), even from the signed-in administrator's browser.
    let forged = a
        .eval(&format!(
            "fetch('{}/wp-admin/admin-post.php', {{method: 'POST', credentials: 'same-origin', \
             headers: {{'Content-Type': 'application/x-www-form-urlencoded'}}, \
             body: 'action=ringside_disconnect'}}).then(r => r.status)",
            wp.url
        ))
        .await;
    assert_eq!(forged, json!(403), "disconnect without a nonce");
    a.goto(
        &format!("{}/wp-admin/admin.php?page=ringside-setup", wp.url),
        "/wp-admin/admin.php",
    )
    .await;
    a.wait_true(
        "!!document.getElementById('ringside-widget-id')",
        "still connected",
    )
    .await;
    // A request without the REST nonce is refused.
    let refused = reqwest::Client::new()
        .get(format!("{}/?rest_route=/ringside/v1/live-visitors", wp.url))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    // An editor uses the panel but cannot reach the setup.
    let made = wp.php(
        "$id = wp_insert_user(array('user_login' => 'editor', 'user_pass' => 'Ed1tor-pass-2026', \
         'user_email' => 'editor@shop.test', 'role' => 'editor')); echo is_wp_error($id) ? 'error' : 'ok';",
    );
    assert!(made.ends_with("ok"), "{made}");
    let editor_browser = ringside_e2e::browser::Browser::launch(&[]).await;
    let mut e = wp_login(&editor_browser, &wp, "editor", "Ed1tor-pass-2026").await;
    e.goto(
        &format!("{}/wp-admin/admin.php?page=ringside", wp.url),
        "/wp-admin/admin.php",
    )
    .await;
    e.wait_true(
        "document.querySelector('#ringside-visitors .ringside-list button') !== null",
        "the editor's panel shows the live visitor",
    )
    .await;
    e.goto(
        &format!("{}/wp-admin/admin.php?page=ringside-setup", wp.url),
        "/wp-admin/admin.php",
    )
    .await;
    e.wait_true(
        "document.body.innerText.includes('not allowed') && !document.getElementById('ringside-server')",
        "the setup refused to an editor",
    )
    .await;
    e.screenshot(SHOTS, "06-editor-refused").await;

    // A Ringside agent's account cannot set the site up: its token may not manage widgets.
    let store = ringside_storage::Store::connect(&format!(
        "sqlite://{}/ringside.db",
        srv.data_dir.display()
    ))
    .await
    .unwrap();
    let owner_user = store.ensure_user("owner@shop.test").await.unwrap();
    let now = ringside_storage::now_ms();
    let (invite, secret) = store
        .create_invite(ringside_storage::NewInvite {
            tenant_id: &owner_user.tenant_id,
            invited_by: &owner_user.id,
            email: "agent@shop.test",
            role: ringside_storage::Role::Agent,
            now,
            ttl_ms: 3_600_000,
        })
        .await
        .unwrap();
    store
        .accept_invite(&secret, &invite.email, now)
        .await
        .unwrap();
    store.close().await;
    a.click("input.delete[type=submit]").await;
    a.wait_true(
        "document.body.innerText.includes('Disconnected.') && !document.getElementById('ringside-widget-id')",
        "disconnected",
    )
    .await;
    let gone = v.eval("location.reload(); true").await;
    assert_eq!(gone, json!(true));
    v.wait_true(
        "document.readyState === 'complete' && !document.querySelector('script[data-widget-id]')",
        "the snippet gone from the public page",
    )
    .await;
    a.fill("ringside-server", &srv.http).await;
    a.fill("ringside-email", "agent@shop.test").await;
    a.click("#ringside-email-form [type=submit]").await;
    a.wait_true(
        "!!document.getElementById('ringside-code')",
        "the agent's code form",
    )
    .await;
    let code = mail.code("agent@shop.test", 1).await;
    a.fill("ringside-code", &code).await;
    a.click("#ringside-code-form [type=submit]").await;
    a.wait_true(
        "!!document.querySelector('.notice-error') && !document.getElementById('ringside-widget-id')",
        "the agent's setup refused",
    )
    .await;
    a.screenshot(SHOTS, "07-agent-refused").await;

    let log = wp.debug_log();
    assert!(
        !log.contains("PHP Fatal") && !log.contains("plugins/ringside"),
        "PHP reported errors in the plugin: {log}"
    );
    let _ = std::fs::remove_file(tone);
}
