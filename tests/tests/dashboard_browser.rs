//! The operator dashboard end to end, as an owner and a visitor use it: headless Chromium on
//! the pages `ringside serve` renders, the sign-in code mailed to a real SMTP server (aiosmtpd).
//!
//! The owner signs in, creates a widget on the widgets page, pastes its snippet into a site on
//! another origin and turns recording on; a visitor chats from that site and the owner answers
//! from the inbox (each sees the other typing; the chat is assigned and resolved there); the
//! handoff link and the `calls-waiting` `dashboardUrl` open the dashboard's pages; the visitor
//! calls, the dashboard rings, the owner answers in the browser and hears the visitor's
//! 1 kHz tone, hangs up, and plays the recording in the call history, where the tone is found
//! again. Every page is screenshotted (`target/screenshots/dashboard/`, also on a phone's
//! screen) and checked with axe-core: no serious or critical violations.

mod calls_common;

use calls_common::*;
use ringside_e2e::{sign_in_by_form, Server, SmtpSink};
use serde_json::{json, Value};

const SHOTS: &str = "dashboard";

/// The visitor's widget (in its shadow root): `js` runs with `root` bound.
fn in_widget(js: &str) -> String {
    format!(
        "(() => {{ const h = document.getElementById('ringside-widget'); \
         const root = h && (h.shadowRoot || h); if (!root) return null; {js} }})()"
    )
}

/// The dominant frequency of the first channel of the WAV at `url` (fetched by the page with
/// its cookie, decoded by Web Audio), and its level, over the loudest second.
const RECORDING_TONE_JS: &str = "(async (url) => {
  const r = await fetch(url, {credentials: 'same-origin', headers: {Range: 'bytes=0-'}});
  const buf = await r.arrayBuffer();
  const ctx = new OfflineAudioContext(1, 48000, 48000);
  const audio = await ctx.decodeAudioData(buf);
  let best = {freq: 0, power: 0, channel: -1, status: r.status};
  for (let c = 0; c < audio.numberOfChannels; c++) {
    const d = audio.getChannelData(c);
    // The loudest second of the channel.
    const n = audio.sampleRate;
    let at = 0, top = 0;
    for (let i = 0; i + n <= d.length; i += n / 4) {
      let e = 0; for (let j = i; j < i + n; j += 8) e += d[j] * d[j];
      if (e > top) { top = e; at = i; }
    }
    for (let f = 200; f <= 2000; f += 10) {
      // Goertzel at f over that second.
      const k = 2 * Math.cos(2 * Math.PI * f / audio.sampleRate);
      let s1 = 0, s2 = 0;
      for (let j = at; j < Math.min(at + n, d.length); j++) { const s0 = d[j] + k * s1 - s2; s2 = s1; s1 = s0; }
      const p = s1 * s1 + s2 * s2 - k * s1 * s2;
      if (p > best.power) best = {freq: f, power: p, channel: c, status: r.status};
    }
  }
  return best;
})";

/// Days since 1 January 1970, UTC.
fn chrono_days() -> i64 {
    let ms = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    ms.div_euclid(86_400_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_runs_chats_and_calls_from_the_dashboard() {
    let mail = SmtpSink::start().await;
    let smtp = format!("smtp+plain://127.0.0.1:{}", mail.port);
    let s = Server::start_with(&[
        ("RINGSIDE_SMTP_URL", &smtp),
        ("RINGSIDE_SMTP_FROM", "Ringside <no-reply@ringside.test>"),
    ])
    .await;
    let email = "owner@desk.test";

    // The owner signs in, in a browser whose microphone plays 400 Hz.
    let op_tone = tone_file_of(400.0);
    let owner = chromium(&op_tone).await;
    let mut p = owner.open(&format!("{}/login", s.http)).await;
    p.viewport(1280, 900, false).await;
    sign_in_by_form(&mut p, SHOTS, &mail, email, 1, "00-sign-in").await;
    p.look(SHOTS, "01-home-empty").await;

    // A widget, made on the widgets page.
    p.goto(&format!("{}/widgets", s.http), "/widgets").await;
    p.look(SHOTS, "02-widgets").await;
    p.fill("w-name", "Front desk").await;
    p.fill("w-domains", "localhost").await;
    p.click("form[data-kind=new-widget] button[type=submit]")
        .await;
    p.wait_true(
        "location.pathname.startsWith('/widgets/') && !!document.getElementById('snippet')",
        "the new widget's page",
    )
    .await;
    let widget = p
        .eval("location.pathname.split('/')[2]")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    let snippet = p
        .eval("document.getElementById('snippet').textContent")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        snippet.contains(&widget) && snippet.contains("wk_"),
        "{snippet}"
    );
    p.look(SHOTS, "03-widget").await;
    // The snippet goes on a site of another origin; the widget is allowed there and records.
    let port = ringside_e2e::browser::site(snippet).await;
    p.fill("w-domains", &format!("localhost:{port}")).await;
    p.click("form[data-method=PATCH] button[type=submit]").await;
    p.wait_true(
        "document.getElementById('status').textContent === 'Saved.'",
        "appearance saved",
    )
    .await;
    p.eval("document.querySelector('input[name=record]').checked = true")
        .await;
    p.click("form[data-url$='/call-settings'] button[type=submit]")
        .await;
    p.wait_true(
        "document.getElementById('status').textContent === 'Saved.'",
        "call settings saved",
    )
    .await;
    let token = s.token(email, "widgets:read,calls:read,messages:read");
    let (_, cs) = s
        .api(
            "GET",
            &format!("/api/v1/widgets/{widget}/call-settings"),
            &token,
            None,
        )
        .await;
    assert_eq!(cs["record"], true, "{cs}");

    // The visitor (1 kHz microphone) writes from the site.
    let tone = tone_file();
    let visitor = chromium(&tone).await;
    let mut v = open_widget(&visitor, port).await;
    let visitor_id = v
        .eval("window.Ringside.visitorId")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    p.goto(&format!("{}/inbox", s.http), "/inbox").await;
    p.wait_true("RingsideDashboard.connected === true", "the inbox is live")
        .await;
    let sent = v
        .eval(&in_widget(
            "root.querySelector('.rs-bubble').click(); const i = root.querySelector('.rs-form input'); \
             i.value = 'Do you ship to Lisbon?'; i.dispatchEvent(new Event('input')); \
             root.querySelector('.rs-form button').click(); return true;",
        ))
        .await;
    assert_eq!(sent, json!(true));
    v.look(SHOTS, "04a-widget-chat").await;
    // The inbox shows it live (no reload), unread.
    p.wait_true(
        &format!(
            "!!document.querySelector('#inbox-list a[href=\"/inbox/{widget}/{visitor_id}\"]') && \
             document.getElementById('inbox-list').innerText.includes('1 unread')"
        ),
        "the chat arrives in the inbox",
    )
    .await;
    p.look(SHOTS, "04-inbox").await;
    p.click(&format!("a[href=\"/inbox/{widget}/{visitor_id}\"]"))
        .await;
    p.wait_true(
        "location.pathname.startsWith('/inbox/') && !!document.getElementById('reply')",
        "the chat page",
    )
    .await;
    p.wait_true("RingsideDashboard.connected === true", "the page is live")
        .await;
    // The visitor types: the owner sees it.
    v.eval(&in_widget(
        "const i = root.querySelector('.rs-form input'); i.value = 'Also'; \
         i.dispatchEvent(new Event('input')); return true;",
    ))
    .await;
    let shown = p
        .eval_until(
            "document.getElementById('typing').textContent.includes('typing')",
            |v| v == &json!(true),
        )
        .await;
    assert_eq!(
        shown,
        json!(true),
        "the visitor typing is shown; events seen: {}",
        p.eval("JSON.stringify(RingsideDashboard.seen)").await
    );
    // The owner types: the visitor sees it; then replies.
    p.fill("reply", "Yes, in two days.").await;
    v.wait_true(
        "window.Ringside.operatorTyping === true",
        "the team typing is shown",
    )
    .await;
    p.look(SHOTS, "05-chat").await;
    p.click("form[data-kind=reply] button[type=submit]").await;
    v.wait_true(
        &in_widget(
            "return root.querySelector('.rs-list').innerText.includes('Yes, in two days.');",
        ),
        "the visitor gets the reply",
    )
    .await;
    p.wait_true(
        "document.querySelector('ol.chat').innerText.includes('Yes, in two days.')",
        "the reply shows in the chat",
    )
    .await;
    // Files both ways: the owner sends a text file from the chat page, the visitor a picture
    // from the widget; each side gets a download link.
    p.eval(
        "(() => { const dt = new DataTransfer(); \
         dt.items.add(new File(['Opening hours: 9 to 17'], 'hours.txt', {type: 'text/plain'})); \
         document.getElementById('attach').files = dt.files; return true; })()",
    )
    .await;
    p.click("form[data-kind=attach] button[type=submit]").await;
    v.wait_true(
        &in_widget(
            "return [...root.querySelectorAll('.rs-list a')].some(a => a.textContent === 'Download') && \
             root.querySelector('.rs-list').innerText.includes('hours.txt');",
        ),
        "the visitor gets the file",
    )
    .await;
    v.eval(&in_widget(
        "const i = root.querySelector('input[type=file]'); const dt = new DataTransfer(); \
         dt.items.add(new File([new Uint8Array([137, 80, 78, 71])], 'photo.png', {type: 'image/png'})); \
         i.files = dt.files; i.dispatchEvent(new Event('change')); return true;",
    ))
    .await;
    p.wait_true(
        "[...document.querySelectorAll('ol.chat a')].some(a => a.textContent === 'Download photo.png')",
        "the owner gets the visitor's file",
    )
    .await;
    let fetched = p
        .eval(
            "(async () => { const a = [...document.querySelectorAll('ol.chat a')].find(a => a.textContent === 'Download hours.txt'); \
             const r = await fetch(a.href, {credentials: 'same-origin'}); \
             return [r.status, r.headers.get('content-disposition'), await r.text()]; })()",
        )
        .await;
    assert_eq!(fetched[0], 200, "{fetched}");
    assert!(
        fetched[1].as_str().unwrap_or("").starts_with("attachment;")
            && fetched[2] == "Opening hours: 9 to 17",
        "{fetched}"
    );

    // Assigned to me, then resolved.
    let me = p
        .eval("[...document.querySelectorAll('#assignee option')].find(o => o.textContent.includes('(me)')).value")
        .await;
    p.eval(&format!(
        "(() => {{ const s = document.getElementById('assignee'); s.value = {me}; \
         s.dispatchEvent(new Event('change', {{bubbles: true}})); return true; }})()"
    ))
    .await;
    let conv_url = format!("/api/v1/widgets/{widget}/visitors/{visitor_id}/conversation");
    let mut conv = Value::Null;
    for _ in 0..100 {
        conv = s.api("GET", &conv_url, &token, None).await.1;
        if conv["assignee"]["email"] == email {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        conv["assignee"]["email"], email,
        "assigned from the page: {conv}"
    );
    p.wait_true(
        "document.readyState === 'complete' && !!document.getElementById('assignee') && \
         !document.getElementById('assignee').disabled && \
         document.getElementById('assignee').selectedOptions[0].textContent.includes('(me)')",
        "the page shows it assigned to me",
    )
    .await;
    p.click("button[data-body*=resolved]").await;
    p.wait_true(
        "document.getElementById('conv-state').innerText.includes('resolved')",
        "resolved",
    )
    .await;
    p.look(SHOTS, "06-chat-resolved").await;
    let (_, conv) = s.api("GET", &conv_url, &token, None).await;
    assert_eq!(conv["state"], "resolved", "{conv}");
    assert_eq!(conv["assignee"]["email"], email, "{conv}");
    assert_eq!(conv["unread"], 0, "{conv}");
    // On a phone's screen.
    p.viewport(390, 844, true).await;
    p.look(SHOTS, "07-chat-phone").await;
    p.goto(&format!("{}/inbox?view=resolved", s.http), "/inbox")
        .await;
    p.look(SHOTS, "08-inbox-phone").await;
    p.viewport(1280, 900, false).await;

    // The handoff link opens the chat page for the team.
    p.goto(
        &format!("{}/inbox/{widget}/{visitor_id}", s.http),
        &format!("/inbox/{widget}/{visitor_id}"),
    )
    .await;
    p.click("form[data-kind=link] button[type=submit]").await;
    p.wait_true(
        "!document.getElementById('link-out').hidden",
        "a handoff link is made",
    )
    .await;
    let link = p
        .eval("document.getElementById('link-out').textContent")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    p.goto(&link, &format!("/inbox/{widget}/{visitor_id}"))
        .await;

    // The visitor calls; the dashboard rings; dashboardUrl opens the call's page.
    p.goto(&format!("{}/calls", s.http), "/calls").await;
    p.wait_true(
        "RingsideConsole.state === 'available'",
        "available for calls",
    )
    .await;
    v.eval(CALL_JS).await;
    p.wait_true(
        "!document.getElementById('ringing').hidden && Object.keys(RingsideConsole.offers).length === 1",
        "the dashboard rings",
    )
    .await;
    p.look(SHOTS, "09-ringing").await;
    let (_, waiting) = s
        .api(
            "GET",
            &format!("/api/v1/widgets/{widget}/calls-waiting"),
            &token,
            None,
        )
        .await;
    let url = waiting[0]["dashboardUrl"].as_str().unwrap().to_owned();
    let call_id = waiting[0]["id"].as_str().unwrap().to_owned();
    p.goto(&url, &format!("/calls/{call_id}")).await;
    p.wait_true(
        &format!("!!document.querySelector('main button[data-answer=\"{call_id}\"]')"),
        "the call's page offers to answer",
    )
    .await;
    p.look(SHOTS, "10-call-waiting").await;
    p.click(&format!("main button[data-answer=\"{call_id}\"]"))
        .await;
    p.wait_true("RingsideConsole.state === 'on call'", "answered")
        .await;
    v.wait_true(
        "window.Ringside.callState === 'answered'",
        "the visitor is connected",
    )
    .await;
    p.wait_true("RingsideConsole.media === 'connected'", "media connected")
        .await;
    let at_console = REMOTE_TONE_JS.replace(
        "window.Ringside.remoteStream",
        "RingsideConsole.remoteStream",
    );
    let heard = hear(&mut p, &at_console, 1000.0).await;
    assert!(
        (heard["freq"].as_f64().unwrap_or(0.0) - 1000.0).abs() < 15.0,
        "the owner hears the visitor's tone: {heard}"
    );
    let heard = hear(&mut v, REMOTE_TONE_JS, 400.0).await;
    assert!(
        (heard["freq"].as_f64().unwrap_or(0.0) - 400.0).abs() < 15.0,
        "the visitor hears the owner: {heard}"
    );
    p.look(SHOTS, "11-on-call").await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    p.click("#call-hangup").await;
    v.wait_true(
        "window.Ringside.callState === 'ended'",
        "the call ends for the visitor",
    )
    .await;
    let call = s.ended_call(&token).await;
    assert_eq!(call["id"], call_id.as_str(), "{call}");
    assert!(
        call["answeredBy"]
            .as_str()
            .unwrap_or("")
            .starts_with("console:"),
        "{call}"
    );

    // The call history: the call, its legs, its recording; play it and find the tone.
    p.goto(&format!("{}/calls", s.http), "/calls").await;
    p.wait_true(
        &format!("!!document.querySelector('#call-history a[href=\"/calls/{call_id}\"]')"),
        "the call is in the history",
    )
    .await;
    p.look(SHOTS, "12-calls").await;
    let mut rec_url = Value::Null;
    for _ in 0..50 {
        p.goto(
            &format!("{}/calls/{call_id}", s.http),
            &format!("/calls/{call_id}"),
        )
        .await;
        rec_url = p
            .eval("(document.querySelector('ol.recordings audio') || {}).src || null")
            .await;
        if rec_url.is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let rec_url = rec_url
        .as_str()
        .expect("a recording on the call's page")
        .to_owned();
    let playing = p
        .eval(
            "(async () => { const a = document.querySelector('ol.recordings audio'); a.muted = true; \
             await a.play(); await new Promise(r => setTimeout(r, 500)); \
             return {t: a.currentTime, d: a.duration, err: a.error && a.error.code}; })()",
        )
        .await;
    assert!(
        playing["t"].as_f64().unwrap_or(0.0) > 0.0 && playing["d"].as_f64().unwrap_or(0.0) > 1.0,
        "the recording plays in the page: {playing}"
    );
    let found = p
        .eval(&format!("({RECORDING_TONE_JS})({})", json!(rec_url)))
        .await;
    assert_eq!(found["status"], 206, "ranged download: {found}");
    let f = found["freq"].as_f64().unwrap_or(0.0);
    assert!(
        (f - 1000.0).abs() <= 20.0 || (f - 400.0).abs() <= 20.0,
        "the recording holds the call's tones: {found}"
    );
    p.look(SHOTS, "13-call").await;

    // The visitor reloads the page: the chat so far is back (from the server, not the tab).
    v.goto(&format!("http://localhost:{port}/"), "/").await;
    v.wait_true(
        &in_widget(
            "return window.Ringside.historyLoaded === true && \
             root.querySelector('.rs-list').innerText.includes('Do you ship to Lisbon?') && \
             root.querySelector('.rs-list').innerText.includes('Yes, in two days.');",
        ),
        "the visitor sees the chat again after a reload",
    )
    .await;
    v.eval(&in_widget(
        "root.querySelector('.rs-bubble').click(); return true;",
    ))
    .await;
    v.look(SHOTS, "15-widget-history").await;

    // Business hours: open only tomorrow. The widget offers the offline form and says when
    // the team is back; the lead arrives in the inbox.
    p.goto(
        &format!("{}/widgets/{widget}", s.http),
        &format!("/widgets/{widget}"),
    )
    .await;
    let tomorrow = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        [usize::try_from((chrono_days() + 1 + 3).rem_euclid(7)).unwrap()];
    p.eval(&format!(
        "(() => {{ const f = document.querySelector('form[data-kind=hours]'); \
         f.querySelector('input[name=enabled]').checked = true; \
         document.getElementById('h-tz').value = 'UTC'; \
         f.querySelectorAll('[data-day]').forEach(r => r.querySelector('[data-open]').checked = \
         r.getAttribute('data-day') === {tomorrow:?}); return true; }})()"
    ))
    .await;
    p.click("form[data-kind=hours] button[type=submit]").await;
    p.wait_true(
        "document.getElementById('status').textContent === 'Saved.'",
        "hours saved",
    )
    .await;
    p.goto(
        &format!("{}/widgets/{widget}", s.http),
        &format!("/widgets/{widget}"),
    )
    .await;
    p.wait_true(
        "document.body.innerText.includes('Closed now')",
        "the widget page says it is closed",
    )
    .await;
    p.look(SHOTS, "16-widget-hours").await;
    let late = chromium(&tone).await;
    let mut l = open_widget(&late, port).await;
    l.wait_true(
        "window.Ringside.offline === 'outside_hours'",
        "the widget is offline outside hours",
    )
    .await;
    l.eval(&in_widget(
        "root.querySelector('.rs-bubble').click(); \
         root.getElementById('rs-f-name').value = 'Rui'; \
         root.getElementById('rs-f-email').value = 'rui@example.org'; \
         root.getElementById('rs-f-message').value = 'Please call me tomorrow'; return true;",
    ))
    .await;
    let said = l
        .eval(&in_widget(
            "return root.querySelector('.rs-sheet p').textContent;",
        ))
        .await;
    assert!(
        said.as_str().unwrap_or("").contains("We are back"),
        "the widget says when the team is back: {said}"
    );
    l.look(SHOTS, "17-widget-offline").await;
    l.eval(&in_widget(
        "root.querySelector('.rs-sheet button[type=submit]').click(); return true;",
    ))
    .await;
    l.wait_true("window.Ringside.leadSent === true", "the lead is sent")
        .await;
    p.goto(&format!("{}/inbox", s.http), "/inbox").await;
    p.wait_true(
        "document.getElementById('inbox-list').innerText.includes('rui@example.org')",
        "the lead is in the inbox",
    )
    .await;
    p.look(SHOTS, "18-inbox-lead").await;

    // Contacts (the lead is one), analytics and the settings pages, as people see them.
    p.goto(&format!("{}/contacts?q=rui", s.http), "/contacts")
        .await;
    p.wait_true(
        "!!document.querySelector('main a[href^=\"/contacts/\"]')",
        "the lead's contact is found",
    )
    .await;
    p.look(SHOTS, "19-contacts").await;
    p.click("main a[href^=\"/contacts/\"]").await;
    p.wait_true(
        "location.pathname.startsWith('/contacts/') && document.body.innerText.includes('rui@example.org')",
        "the contact's page",
    )
    .await;
    p.look(SHOTS, "20-contact").await;
    // A duplicate (the same person by another email) found with the merge picker and merged.
    let writer = s.token(email, "messages:read,messages:write");
    let (st, dup) = s
        .api(
            "POST",
            "/api/v1/contacts",
            &writer,
            Some(json!({"firstName": "Rui", "lastName": "Work", "email": "rui.work@example.org"})),
        )
        .await;
    assert_eq!(st, 201, "{dup}");
    p.fill("dup-q", "rui.work").await;
    p.click("form[role=search] button[type=submit]").await;
    p.wait_true(
        "!!document.querySelector('input[name=sourceContactId]')",
        "the duplicate is offered",
    )
    .await;
    p.click("input[name=sourceContactId]").await;
    p.fill("merge-why", "Same person, work email").await;
    p.look(SHOTS, "20b-contact-merge").await;
    p.click("form[data-kind=merge] button[type=submit]").await;
    p.wait_true(
        "document.body.innerText.includes('rui.work@example.org') && !document.querySelector('input[name=sourceContactId]')",
        "merged: the duplicate's email is kept here",
    )
    .await;
    let (_, gone) = s
        .api(
            "GET",
            &format!("/api/v1/contacts/{}", dup["id"].as_str().unwrap()),
            &writer,
            None,
        )
        .await;
    assert!(gone["mergedIntoContactId"].is_string(), "{gone}");
    p.goto(
        &format!("{}/analytics?widget={widget}", s.http),
        "/analytics",
    )
    .await;
    p.wait_true("!!document.querySelector('svg.chart')", "the visits chart")
        .await;
    p.look(SHOTS, "21-analytics").await;
    for (path, shot) in [
        ("/settings", "22-settings"),
        ("/settings/webhooks", "23-webhooks"),
        ("/settings/sip", "24-sip"),
        ("/settings/team", "25-team"),
        ("/settings/tokens", "26-tokens"),
        ("/settings/usage", "27-usage"),
    ] {
        p.goto(&format!("{}{path}", s.http), path).await;
        p.look(SHOTS, shot).await;
    }
    // A webhook made on its page: its secret is shown once; its page has the delivery log.
    p.goto(
        &format!("{}/settings/webhooks", s.http),
        "/settings/webhooks",
    )
    .await;
    p.eval(
        "(() => { const f = document.querySelector('form[data-url=\"/api/v1/webhooks\"]'); \
         f.querySelector('[name=name]').value = 'CRM'; \
         f.querySelector('[name=url]').value = 'https://crm.example.com/hook'; \
         f.querySelector('input[name=events]').checked = true; return true; })()",
    )
    .await;
    p.click("form[data-url=\"/api/v1/webhooks\"] button[type=submit]")
        .await;
    p.wait_true(
        "[...document.querySelectorAll('.secret')].some(e => e.textContent.startsWith('whsec_'))",
        "the new webhook's secret is shown once",
    )
    .await;
    p.look(SHOTS, "28-webhook-created").await;

    // Nothing went wrong in any page along the way: no console error, no exception, no
    // failed load, no CSP refusal.
    for (who, page) in [
        ("owner", &mut p),
        ("visitor", &mut v),
        ("late visitor", &mut l),
    ] {
        page.eval("1").await;
        let errors = page.take_errors();
        assert!(
            errors.is_empty(),
            "{who}'s pages reported errors: {errors:#?}"
        );
    }
    p.goto(&format!("{}/", s.http), "/").await;
    p.look(SHOTS, "14-home").await;
    let _ = std::fs::remove_file(tone);
    let _ = std::fs::remove_file(op_tone);
}

/// An agent (who answers calls but manages nothing) sets an alert on their phone from
/// `/settings/alerts`: the form's ntfy topic and quiet hours (the time zone filled in as the
/// browser's), a test alert sent with the button reaches a loopback ntfy server, and the page
/// then shows it delivered. Screenshotted on a desktop and a phone, checked with axe-core.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_sets_an_alert_on_their_phone() {
    use std::sync::{Arc, Mutex};
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let app = {
        let got = got.clone();
        axum::Router::new().route(
            "/",
            axum::routing::post(move |body: axum::body::Bytes| {
                let got = got.clone();
                async move {
                    got.lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap_or_default());
                    "{}"
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ntfy = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mail = SmtpSink::start().await;
    let smtp = format!("smtp+plain://127.0.0.1:{}", mail.port);
    let s = Server::start_with(&[
        ("RINGSIDE_SMTP_URL", &smtp),
        ("RINGSIDE_SMTP_FROM", "Ringside <no-reply@ringside.test>"),
        ("RINGSIDE_ALLOW_PRIVATE_FETCH", "true"),
    ])
    .await;
    // The owner's team has an agent (invited and accepted), who signs in.
    let owner = s.token("boss@desk.test", "widgets:write");
    let (st, _) = s
        .api(
            "POST",
            "/api/v1/widgets",
            &owner,
            Some(json!({"name": "Front desk"})),
        )
        .await;
    assert_eq!(st, 201);
    let store =
        ringside_storage::Store::connect(&format!("sqlite://{}/ringside.db", s.data_dir.display()))
            .await
            .unwrap();
    let boss = store.ensure_user("boss@desk.test").await.unwrap();
    let now = ringside_storage::now_ms();
    let (invite, secret) = store
        .create_invite(ringside_storage::NewInvite {
            tenant_id: &boss.tenant_id,
            invited_by: &boss.id,
            email: "agent@desk.test",
            role: ringside_storage::Role::Agent,
            now,
            ttl_ms: 3_600_000,
        })
        .await
        .unwrap();
    let agent = store
        .accept_invite(&secret, &invite.email, now)
        .await
        .unwrap();
    assert_eq!(agent.role, ringside_storage::Role::Agent);
    store.close().await;
    let browser = ringside_e2e::browser::Browser::launch(&[]).await;
    let mut p = browser.open(&format!("{}/login", s.http)).await;
    p.viewport(1280, 900, false).await;
    sign_in_by_form(&mut p, "alerts", &mail, "agent@desk.test", 1, "00-sign-in").await;
    p.goto(&format!("{}/settings/alerts", s.http), "/settings/alerts")
        .await;
    p.wait_true(
        "!!document.getElementById('al-tz') && document.getElementById('al-tz').value.length > 0",
        "the time zone filled in",
    )
    .await;
    p.look("alerts", "01-empty").await;
    p.fill("al-name", "My phone").await;
    p.fill("al-url", &ntfy).await;
    p.fill("al-topic", "desk-agent-7f3k").await;
    p.fill("al-from", "22:00").await;
    p.fill("al-to", "07:00").await;
    p.fill("al-tz", "UTC").await;
    p.click("form[data-kind=alert] button[type=submit]").await;
    p.wait_true(
        "[...document.querySelectorAll('td')].some(td => td.textContent.includes('desk-agent-7f3k'))",
        "the new alert listed",
    )
    .await;
    p.wait_true(
        "document.body.textContent.includes('quiet 22:00–07:00 (UTC)')",
        "quiet hours shown",
    )
    .await;
    // Clicked again if nothing came (a click landing on the table the page was just
    // replacing with its refreshed copy reaches no handler).
    for _ in 0..3 {
        p.click("button[aria-label='Send test alert of My phone']")
            .await;
        for _ in 0..80 {
            if !got.lock().unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        if !got.lock().unwrap().is_empty() {
            break;
        }
    }
    ringside_e2e::eventually("the test alert at the ntfy server", || {
        let n = got.lock().unwrap().len();
        async move { n >= 1 }
    })
    .await;
    let m = got.lock().unwrap()[0].clone();
    assert_eq!(m["topic"], "desk-agent-7f3k");
    assert_eq!(m["title"], "Ringside test alert");
    // The page shows it delivered (re-read until the sender has recorded it).
    p.eval_until(
        "(async () => { const r = await fetch('/settings/alerts'); const t = await r.text(); \
          return t.includes('badge on\">delivered'); })()",
        |v| v == &json!(true),
    )
    .await;
    p.goto(&format!("{}/settings/alerts", s.http), "/settings/alerts")
        .await;
    p.wait_true(
        "document.body.textContent.includes('delivered')",
        "the log shows the test delivered",
    )
    .await;
    p.look("alerts", "02-delivered").await;
    p.viewport(390, 844, true).await;
    p.look("alerts", "03-phone").await;
    let errors = p.take_errors();
    assert!(errors.is_empty(), "the page reported errors: {errors:#?}");
}
