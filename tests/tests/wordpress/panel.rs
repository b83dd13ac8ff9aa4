//! The wp-admin operator panel at work beyond chat (issue 19): a visitor leaves a callback
//! with a recorded voice note (the browser's fake microphone plays 440 Hz) and the panel
//! plays it back through the plugin's relay (decoded in the page: the tone is there); an
//! internal note; a lead's status changed; the visitor sent to one of the site's pages;
//! analytics; a visitor's call answered in the Ringside dashboard through the panel's signed
//! link (a person not signed in to Ringside signs in from that link and comes back to the
//! visitor); the call in the panel's history. Then the plugin is deactivated (the snippet
//! leaves the site) and deleted from wp-admin (its uninstall removes every option it stored).

use super::*;

/// The callback's voice note as the panel plays it: fetched through the plugin's relay,
/// decoded, its dominant frequency (rising zero crossings after the first 0.3 s) and level.
const VOICE_NOTE_JS: &str = "(async () => {
  const a = document.querySelector('#ringside-callbacks audio');
  if (!a) return null;
  const r = await fetch(a.src, {credentials: 'same-origin'});
  const type = r.headers.get('content-type');
  const buf = await r.arrayBuffer();
  const ctx = new OfflineAudioContext(1, 48000, 48000);
  const audio = await ctx.decodeAudioData(buf);
  const d = audio.getChannelData(0);
  const from = Math.floor(audio.sampleRate * 0.3);
  let n = 0, sum = 0;
  for (let i = from + 1; i < d.length; i++) { if (d[i - 1] < 0 && d[i] >= 0) n++; sum += d[i] * d[i]; }
  const secs = (d.length - from) / audio.sampleRate;
  return {status: r.status, type, bytes: buf.byteLength, secs, freq: n / secs,
          rms: Math.sqrt(sum / Math.max(1, d.length - from))};
})()";

/// `window.open` replaced so the panel's answer link is read instead of opening a window
/// the test cannot reach; the test then opens that link itself.
const CATCH_OPEN_JS: &str = "window.__opened = null; window.open = function () { \
    const w = {close() {}, opener: null}; \
    Object.defineProperty(w, 'location', {set(u) { window.__opened = String(u); }}); \
    return w; }; true";

/// A screenshot of `p` as its person sees it: its tab in front (a tab behind others has no
/// size to capture).
async fn shot(p: &mut Page, name: &str) {
    p.call("Page.bringToFront", json!({})).await;
    p.screenshot(SHOTS, name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_panel_does_an_operators_work_and_uninstall_cleans_up() {
    let mail = SmtpSink::start().await;
    let smtp = format!("smtp+plain://127.0.0.1:{}", mail.port);
    let srv = Server::start_with(&[
        ("RINGSIDE_SMTP_URL", &smtp),
        ("RINGSIDE_SMTP_FROM", "Ringside <no-reply@ringside.test>"),
        ("RINGSIDE_LOG", "info,ringside_api::live=debug"),
    ])
    .await;
    let wp = WordPress::start("Adm1n-pass-2026").await;
    let tone = tone_file_of(440.0);
    let browser = chromium(&tone).await;

    // The site connected as the setup does (the other test runs the setup's pages): the
    // owner's token and a widget for the site, stored by the plugin's own code.
    let token = srv.token(
        "owner@shop.test",
        "widgets:read,widgets:write,messages:read,messages:write,calls:read,analytics:read",
    );
    let (st, w) = srv
        .api(
            "POST",
            "/api/v1/widgets",
            &token,
            Some(json!({"name": "Shop", "allowedDomains": ["localhost"]})),
        )
        .await;
    assert_eq!(st, 201, "{w}");
    let widget = w["id"].as_str().unwrap().to_owned();
    let done = wp.php(&format!(
        "require_once ABSPATH . 'wp-admin/includes/plugin.php'; \
         update_option('permalink_structure', '/%postname%/'); flush_rewrite_rules(); \
         $r = activate_plugin('ringside/ringside.php'); \
         update_option(Ringside_Options::SERVER, '{server}'); \
         update_option(Ringside_Options::ACCOUNT, 'owner@shop.test'); \
         update_option(Ringside_Options::WIDGET_ID, '{widget}'); \
         update_option(Ringside_Options::WIDGET_KEY, '{key}'); \
         update_option(Ringside_Options::SCRIPT_URL, '{server}/widget.js'); \
         Ringside_Options::set_token('{token}'); echo is_wp_error($r) ? 'error' : 'ok';",
        server = srv.http,
        key = w["publicKey"].as_str().unwrap(),
    ));
    assert!(done.ends_with("ok"), "{done}");
    // A lead from earlier, for the panel's status list.
    let (st, contact) = srv
        .api(
            "POST",
            "/api/v1/contacts",
            &token,
            Some(json!({"firstName": "Rui", "email": "rui@porto.test"})),
        )
        .await;
    assert_eq!(st, 201, "{contact}");
    let contact_id = contact["id"].as_str().unwrap().to_owned();

    // The visitor leaves a callback with a voice note recorded in the widget.
    let mut v = browser.open(&format!("{}/", wp.url)).await;
    v.wait_true(
        "!!window.Ringside && !!window.Ringside.visitorId",
        "the widget runs on the public page",
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
    v.eval(&in_widget(
        "root.querySelector('.rs-bubble').click(); \
         root.querySelector('.rs-cb:not(.rs-mail)').click(); return true;",
    ))
    .await;
    v.wait_true(
        &in_widget("return !!root.querySelector('.rs-sheet button.rs-alt');"),
        "the callback form with its voice note button",
    )
    .await;
    v.eval(&in_widget(
        "const f = root.querySelector('.rs-sheet'); f.elements.name.value = 'Rui'; \
         f.elements.phone.value = '+351 912 345 678'; \
         f.elements.message.value = 'About the delivery to Porto'; \
         f.querySelector('button.rs-alt').click(); return true;",
    ))
    .await;
    v.wait_true(
        &in_widget("return root.querySelector('.rs-sheet button.rs-alt').textContent === 'Stop recording';"),
        "recording",
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    v.eval(&in_widget(
        "root.querySelector('.rs-sheet button.rs-alt').click(); return true;",
    ))
    .await;
    v.wait_true(
        &in_widget("return root.querySelector('.rs-sheet').innerText.includes('Voice note:');"),
        "the voice note recorded",
    )
    .await;
    shot(&mut v, "10-callback-form").await;
    v.eval(&in_widget(
        "root.querySelector('.rs-sheet button[type=submit]').click(); return true;",
    ))
    .await;
    v.wait_true(
        &in_widget(
            "return root.querySelector('.rs-list').innerText.includes('we will call you back');",
        ),
        "the callback sent",
    )
    .await;

    // The panel: the callback with its voice note, played through the plugin.
    let mut a = wp_login(&browser, &wp, "admin", "Adm1n-pass-2026").await;
    a.goto(
        &format!("{}/wp-admin/admin.php?page=ringside", wp.url),
        "/wp-admin/admin.php",
    )
    .await;
    a.wait_true(
        "document.querySelector('#ringside-callbacks').innerText.includes('+351 912 345 678') && \
         !!document.querySelector('#ringside-callbacks audio')",
        "the callback and its voice note in the panel",
    )
    .await;
    let note = a.eval(VOICE_NOTE_JS).await;
    assert_eq!(note["status"], 200, "{note}");
    assert!(
        note["type"].as_str().unwrap_or("").starts_with("audio/"),
        "{note}"
    );
    assert!(note["secs"].as_f64().unwrap_or(0.0) >= 1.5, "{note}");
    assert!(
        (note["freq"].as_f64().unwrap_or(0.0) - 440.0).abs() < 20.0,
        "the voice note carries the visitor's 440 Hz: {note}"
    );
    assert!(note["rms"].as_f64().unwrap_or(0.0) > 0.01, "{note}");

    // The lead's status, changed in the panel.
    a.wait_true(
        "!!document.querySelector('#ringside-contacts select')",
        "the contacts with their status",
    )
    .await;
    let picked = a
        .eval(
            "(() => { const li = [...document.querySelectorAll('#ringside-contacts li')]\
             .find(l => l.innerText.includes('rui@porto.test')); \
             const s = li && li.querySelector('select'); if (!s) return false; s.value = 'customer'; \
             s.dispatchEvent(new Event('change')); return true; })()",
        )
        .await;
    assert_eq!(picked, json!(true), "the lead in the panel's contacts");
    a.wait_true(
        "document.querySelector('.ringside-status').textContent === 'Saved.'",
        "the status saved",
    )
    .await;
    let (_, c) = srv
        .api(
            "GET",
            &format!("/api/v1/contacts/{contact_id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(c["status"], "customer", "{c}");

    // The visitor's chat: an internal note (never shown to the visitor).
    a.wait_true(
        "!!document.querySelector('#ringside-visitors .ringside-list button')",
        "the live visitor in the panel",
    )
    .await;
    a.click("#ringside-visitors .ringside-list button").await;
    a.wait_true(
        "!!document.getElementById('ringside-note-text')",
        "the chat",
    )
    .await;
    a.fill("ringside-note-text", "Wants delivery to Porto by Friday")
        .await;
    a.click("#ringside-note-text + button[type=submit]").await;
    a.wait_true(
        "document.querySelector('.ringside-notes').innerText.includes('Wants delivery to Porto by Friday')",
        "the note in the panel",
    )
    .await;
    let (_, notes) = srv
        .api(
            "GET",
            &format!("/api/v1/widgets/{widget}/visitors/{visitor_id}/notes"),
            &token,
            None,
        )
        .await;
    assert!(
        notes
            .to_string()
            .contains("Wants delivery to Porto by Friday"),
        "{notes}"
    );

    // The site's pages as the widget saw them: the visitor is sent to one of them.
    let sample = wp.php("echo get_page_link(2);");
    let sample_path = sample.trim_start_matches(&wp.url).to_owned();
    v.goto(&sample, &sample_path).await;
    v.wait_true(
        "!!window.Ringside && !!window.Ringside.visitorId",
        "the widget on the sample page",
    )
    .await;
    v.goto(&format!("{}/", wp.url), "/").await;
    v.wait_true(
        "!!window.Ringside && !!window.Ringside.visitorId",
        "the widget back on the home page",
    )
    .await;
    a.goto(
        &format!("{}/wp-admin/admin.php?page=ringside", wp.url),
        "/wp-admin/admin.php",
    )
    .await;
    let shown = a
        .eval_until(
            "document.querySelector('#ringside-pages').innerText + ' | ' + \
             document.querySelector('#ringside-analytics').innerText",
            |t| {
                t.as_str()
                    .is_some_and(|t| t.contains("Sample Page") && t.contains("Visitors: 1"))
            },
        )
        .await;
    assert!(
        shown
            .as_str()
            .is_some_and(|t| t.contains("Sample Page") && t.contains("Visitors: 1")),
        "the site's pages and the analytics in the panel: {shown}"
    );
    a.wait_true(
        "!!document.querySelector('#ringside-visitors .ringside-list button')",
        "the live visitor in the panel",
    )
    .await;
    a.click("#ringside-visitors .ringside-list button").await;
    a.wait_true(
        "!!document.getElementById('ringside-note-text')",
        "the chat",
    )
    .await;
    let sent = a
        .eval(
            "const li = [...document.querySelectorAll('#ringside-pages li')].find(l => l.innerText.includes('Sample Page')); \
             li.querySelector('button').click(); true",
        )
        .await;
    assert_eq!(sent, json!(true));
    // The visitor is looking at the page (a page in a background tab sends no heartbeats,
    // which carry the command when its chat is not open).
    v.call("Page.bringToFront", json!({})).await;
    let at = v
        .eval_until("location.href", |h| {
            h.as_str().is_some_and(|h| h.ends_with(&sample_path))
        })
        .await;
    if !at.as_str().is_some_and(|h| h.ends_with(&sample_path)) {
        // The widget sockets' opening, closing and commands are logged (debug).
        eprintln!("ringside's log: {}", srv.log_text());
    }
    assert!(
        at.as_str().is_some_and(|h| h.ends_with(&sample_path)),
        "the visitor is on the page the panel sent them to: {at}; the panel says {}; the page {}",
        a.eval("document.querySelector('.ringside-status').textContent")
            .await,
        v.eval("JSON.stringify({connected: window.Ringside.connected, hidden: document.hidden})")
            .await,
    );
    v.wait_true(
        "!!window.Ringside && !!window.Ringside.visitorId",
        "the widget runs there",
    )
    .await;
    shot(&mut a, "11-panel-work").await;

    // A call: the owner is signed in to Ringside in this browser; the visitor calls; the
    // panel shows the waiting call and its answer link opens the owner's dashboard on that
    // visitor, where the call is answered.
    let mut o = browser.open(&format!("{}/login", srv.http)).await;
    ringside_e2e::sign_in_by_form(
        &mut o,
        SHOTS,
        &mail,
        "owner@shop.test",
        1,
        "12-owner-sign-in",
    )
    .await;
    o.wait_true(
        "window.RingsideConsole && RingsideConsole.state === 'available'",
        "the owner's dashboard takes calls",
    )
    .await;
    v.eval(CALL_JS).await;
    a.eval(CATCH_OPEN_JS).await;
    a.wait_true(
        "!!document.querySelector('#ringside-calls button.button-primary')",
        "the waiting call in the panel",
    )
    .await;
    shot(&mut a, "13-call-waiting").await;
    a.click("#ringside-calls button.button-primary").await;
    let link = a
        .eval_until("window.__opened", |x| x.is_string())
        .await
        .as_str()
        .expect("the panel opens the answer link")
        .to_owned();
    assert!(
        link.starts_with(&format!("{}/console/conversation?", srv.http)),
        "{link}"
    );
    o.goto(&link, &format!("/inbox/{widget}/{visitor_id}"))
        .await;
    o.wait_true(
        "!document.getElementById('ringing').hidden && !!document.querySelector('#ringing button[data-answer]')",
        "the dashboard rings on the visitor's page",
    )
    .await;
    shot(&mut o, "14-dashboard-rings").await;
    o.click("#ringing button[data-answer]").await;
    o.wait_true("RingsideConsole.state === 'on call'", "answered")
        .await;
    v.wait_true(
        "window.Ringside.callState === 'answered'",
        "the visitor is connected",
    )
    .await;
    o.wait_true("RingsideConsole.media === 'connected'", "media connected")
        .await;
    let at_console = REMOTE_TONE_JS.replace(
        "window.Ringside.remoteStream",
        "RingsideConsole.remoteStream",
    );
    let heard = hear(&mut o, &at_console, 440.0).await;
    assert!(
        (heard["freq"].as_f64().unwrap_or(0.0) - 440.0).abs() < 15.0,
        "the owner hears the visitor: {heard}"
    );
    o.click("#call-hangup").await;
    v.wait_true(
        "window.Ringside.callState === 'ended'",
        "the call ends for the visitor",
    )
    .await;
    a.goto(
        &format!("{}/wp-admin/admin.php?page=ringside", wp.url),
        "/wp-admin/admin.php",
    )
    .await;
    a.wait_true(
        "document.querySelector('#ringside-history .ringside-list') !== null && \
         document.querySelector('#ringside-history').innerText.includes('ended')",
        "the call in the panel's history",
    )
    .await;
    shot(&mut a, "15-history").await;

    // Someone not signed in to Ringside opens the same kind of link: the conversation, and
    // signing in from it comes back to the visitor's page in the dashboard.
    let fresh = Browser::launch(&[]).await;
    let mut n = fresh.open("about:blank").await;
    n.goto(&link, "/console/conversation").await;
    let offered = n
        .eval_until("!!document.getElementById('sign-in')", |x| {
            x == &json!(true)
        })
        .await;
    assert_eq!(
        offered,
        json!(true),
        "the link's page offers to sign in: {}",
        n.eval("location.href + ' ' + document.body.innerText")
            .await
    );
    shot(&mut n, "16-link-signed-out").await;
    n.click("#sign-in").await;
    n.wait_true(
        "location.pathname === '/login' && document.readyState === 'complete' && \
         !!document.getElementById('email')",
        "the sign-in page",
    )
    .await;
    n.fill("email", "owner@shop.test").await;
    n.click("#email-form button[type=submit]").await;
    n.wait_true(
        "!document.getElementById('code-form').hidden",
        "the code form",
    )
    .await;
    let code = mail.code("owner@shop.test", 2).await;
    n.fill("code", &code).await;
    n.click("#code-form button[type=submit]").await;
    n.wait_true(
        &format!("location.pathname === '/inbox/{widget}/{visitor_id}'"),
        "back at the visitor, in the dashboard",
    )
    .await;
    shot(&mut n, "17-link-signed-in").await;

    // Deactivated: the snippet leaves the site. Deleted: nothing of the plugin is left.
    a.goto(
        &format!("{}/wp-admin/plugins.php", wp.url),
        "/wp-admin/plugins.php",
    )
    .await;
    a.click("a[aria-label='Deactivate Ringside']").await;
    a.wait_true(
        "!!document.querySelector('a[aria-label=\"Delete Ringside\"]')",
        "the plugin deactivated",
    )
    .await;
    v.eval("location.reload(); true").await;
    v.wait_true(
        "document.readyState === 'complete' && !document.querySelector('script[data-widget-id]') && !window.Ringside",
        "no snippet on the public page",
    )
    .await;
    let before = wp.php("echo get_option('ringside_token') ? 'stored' : 'none';");
    assert_eq!(before, "stored", "the token is kept while only deactivated");
    a.eval("window.confirm = () => true; true").await;
    a.click("a[aria-label='Delete Ringside']").await;
    // WordPress asks on a page of its own (or in a dialog, once its script has loaded).
    let step = a
        .eval_until(
            "document.readyState === 'complete' && \
             (document.querySelector('form input[type=submit][value^=\"Yes, delete\"]') ? 'confirm' : \
              document.body.innerText.includes('successfully deleted') ? 'deleted' : null)",
            |x| x.is_string(),
        )
        .await;
    if step == "confirm" {
        a.click("form input[type=submit][value^=\"Yes, delete\"]")
            .await;
    }
    a.wait_true(
        "document.readyState === 'complete' && location.pathname === '/wp-admin/plugins.php' && \
         !document.querySelector('tr[data-plugin=\"ringside/ringside.php\"]')",
        "the plugin deleted",
    )
    .await;
    shot(&mut a, "18-deleted").await;
    assert!(
        !wp.dir.join("wp-content/plugins/ringside").exists(),
        "the plugin's files are gone"
    );
    let left = mariadb(&format!(
        "SELECT option_name FROM `{}`.wp_options WHERE option_name LIKE 'ringside%' \
         OR option_name LIKE '\\_transient%ringside%'",
        wp.db
    ));
    assert!(left.status.success(), "{left:?}");
    assert_eq!(
        String::from_utf8_lossy(&left.stdout).trim(),
        "",
        "options left after uninstall"
    );
    let log = wp.debug_log();
    assert!(
        !log.contains("PHP Fatal") && !log.contains("plugins/ringside"),
        "PHP reported errors in the plugin: {log}"
    );
    let _ = std::fs::remove_file(tone);
}
