//! The widget in a real browser: headless Chromium opens a page that carries the install
//! snippet (the one script tag), served from another origin than Ringside. The script loads
//! from a running `ringside serve`, tracks the visitor, builds the chat bubble, opens the
//! widget socket; a message typed into the widget is stored, an operator reply sent through
//! the API appears in the page, and a direct-navigate command moves the page.

use ringside_e2e::browser::{site, Browser};
use ringside_e2e::{eventually, Server};
use serde_json::{json, Value};

#[tokio::test]
async fn widget_script_chats_and_navigates_in_chromium() {
    let server = Server::start().await;
    let token = server.token(
        "owner@widget-e2e.example",
        "widgets:read,widgets:write,messages:read,messages:write,analytics:read",
    );
    let http = reqwest::Client::new();
    let api = |path: &str| format!("{}{path}", server.http);
    // The site's origin must be allowed; its port is known only once it listens, so the
    // widget is made first with a placeholder and patched.
    let w: Value = http
        .post(api("/api/v1/widgets"))
        .bearer_auth(&token)
        .json(&json!({"name": "Shop", "allowedDomains": ["localhost"], "greeting": "Hello from Ringside"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let widget = w["id"].as_str().unwrap().to_owned();
    let snippet: Value = http
        .get(api(&format!("/api/v1/widgets/{widget}/install-snippet")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tag = snippet["snippet"]
        .as_str()
        .or_else(|| snippet["html"].as_str())
        .unwrap_or_else(|| panic!("no snippet in {snippet}"))
        .to_owned();
    assert!(tag.contains("/widget.js"), "{tag}");
    let port = site(tag).await;
    let r = http
        .patch(api(&format!("/api/v1/widgets/{widget}")))
        .bearer_auth(&token)
        .json(&json!({"allowedDomains": [format!("localhost:{port}")]}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());

    let browser = Browser::launch(&[]).await;
    let mut page = browser.open(&format!("http://localhost:{port}/")).await;

    // The script ran: a visitor id, the bubble in the widget's shadow root, the socket open.
    let visitor = page
        .eval_until(
            "window.Ringside && window.Ringside.visitorId",
            Value::is_string,
        )
        .await;
    let visitor = visitor.as_str().unwrap_or_default().to_owned();
    assert!(
        visitor.starts_with("v_"),
        "widget script did not start: {visitor:?}"
    );
    page.eval_until(
        "(() => { const h = document.getElementById('ringside-widget');
           return !!(h && h.shadowRoot && h.shadowRoot.querySelector('.rs-bubble'))
             && window.Ringside.connected === true; })()",
        |v| v == &Value::Bool(true),
    )
    .await;
    let greeting = page
        .eval("document.getElementById('ringside-widget').shadowRoot.querySelector('.rs-operator').textContent")
        .await;
    assert_eq!(greeting, "Hello from Ringside");
    assert_eq!(page.eval("window.Ringside.connected").await, true);

    // Tracked: the live visitor with the page's URL and title.
    let live = api(&format!("/api/v1/widgets/{widget}/live-visitors"));
    eventually("the visitor is live", || async {
        let v: Value = http
            .get(&live)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["visitors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["visitorId"] == visitor.as_str() && x["pageTitle"] == "Home")
    })
    .await;

    // The visitor types a message into the widget.
    page.eval(
        "(() => { const r = document.getElementById('ringside-widget').shadowRoot;
           r.querySelector('.rs-bubble').click();
           r.querySelector('.rs-form input').value = 'Do you have a demo?';
           r.querySelector('.rs-form').requestSubmit(); })()",
    )
    .await;
    let msgs = api(&format!(
        "/api/v1/widgets/{widget}/messages?visitorId={visitor}"
    ));
    eventually("the visitor's message is stored", || async {
        let v: Value = http
            .get(&msgs)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["sender"] == "visitor" && m["body"] == "Do you have a demo?")
    })
    .await;

    // An operator reply through the API shows up in the page.
    let r = http
        .post(api(&format!("/api/v1/widgets/{widget}/messages")))
        .bearer_auth(&token)
        .json(&json!({"visitorId": visitor, "body": "Yes! Booking one now."}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let shown = page
        .eval_until(
            "(() => { const l = document.getElementById('ringside-widget').shadowRoot
               .querySelectorAll('.rs-operator'); return l[l.length - 1].textContent; })()",
            |v| v == "Yes! Booking one now.",
        )
        .await;
    assert_eq!(shown, "Yes! Booking one now.");

    // Direct-navigate moves the page to /pricing, which tracks itself there.
    let r = http
        .post(api(&format!(
            "/api/v1/widgets/{widget}/visitors/{visitor}/direct-navigate"
        )))
        .bearer_auth(&token)
        .json(&json!({"url": "/pricing", "title": "Pricing"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    eventually("the visitor is on /pricing", || async {
        let v: Value = http
            .get(&live)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["visitors"].as_array().unwrap().iter().any(|x| {
            x["visitorId"] == visitor.as_str()
                && x["currentUrl"] == format!("http://localhost:{port}/pricing").as_str()
        })
    })
    .await;
    assert_eq!(page.eval("location.pathname").await, "/pricing");
    drop(browser);
}
