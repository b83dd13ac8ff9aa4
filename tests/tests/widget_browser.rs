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

/// A widget allowing pages on localhost (any port) and its install snippet: (id, tag).
async fn widget_with_snippet(server: &Server, token: &str) -> (String, String) {
    let http = reqwest::Client::new();
    let w: Value = http
        .post(format!("{}/api/v1/widgets", server.http))
        .bearer_auth(token)
        .json(&json!({"name": "Shop", "allowedDomains": ["localhost"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let widget = w["id"].as_str().unwrap().to_owned();
    let snippet: Value = http
        .get(format!(
            "{}/api/v1/widgets/{widget}/install-snippet",
            server.http
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (widget, snippet["snippet"].as_str().unwrap().to_owned())
}

/// The site's home page with the widget's bubble up and its socket open.
async fn open_widget(browser: &Browser, port: u16) -> ringside_e2e::browser::Page {
    let mut page = browser.open(&format!("http://localhost:{port}/")).await;
    page.viewport(1000, 800, false).await;
    page.eval_until(
        "(() => { const h = document.getElementById('ringside-widget');
           return !!(h && h.shadowRoot && h.shadowRoot.querySelector('.rs-bubble'))
             && window.Ringside.connected === true; })()",
        |v| v == &Value::Bool(true),
    )
    .await;
    page
}

/// Opens the chat and sends `text` from it.
async fn ask_in_widget(page: &mut ringside_e2e::browser::Page, text: &str) {
    page.eval(&format!(
        "(() => {{ const r = document.getElementById('ringside-widget').shadowRoot;
           if (!r.querySelector('.rs-open')) r.querySelector('.rs-bubble').click();
           r.querySelector('.rs-form input').value = {};
           r.querySelector('.rs-form').requestSubmit(); }})()",
        json!(text)
    ))
    .await;
}

/// A site whose home page carries `snippet` and whose `/shipping` page is what the widget's
/// knowledge is crawled from; returns the port.
async fn shop_site(snippet: String) -> u16 {
    let home = format!(
        "<!doctype html><html lang=\"en\"><head><title>Shop</title><link rel=\"icon\" href=\"data:,\"></head>\
         <body><h1>Shop</h1>{snippet}</body></html>"
    );
    let shipping =
        "<!doctype html><html lang=\"en\"><head><title>Shipping and delivery</title></head>\
         <body><main><h1>Shipping and delivery</h1><p>We ship to every country in the European \
         Union. Delivery to Spain takes three working days. Shipping is free on orders over 80 \
         euros.</p></main></body></html>";
    let app = axum::Router::new()
        .route(
            "/",
            axum::routing::get(move || async move { axum::response::Html(home) }),
        )
        .route(
            "/shipping",
            axum::routing::get(move || async move { axum::response::Html(shipping) }),
        );
    let l = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    port
}

/// The assistant in the widget: a page of the site is crawled into the widget's knowledge
/// (by the server's own crawler), the visitor asks in the chat, and the answer shows under
/// the question with a link to the page it came from; a question the site does not answer
/// gets a plain "don't know" offering a person.
#[tokio::test]
async fn the_widget_shows_the_assistants_answer_with_its_source() {
    let server = Server::start_with(&[("RINGSIDE_ALLOW_PRIVATE_FETCH", "true")]).await;
    let token = server.token(
        "owner@assistant-e2e.example",
        "widgets:read,widgets:write,messages:read",
    );
    let http = reqwest::Client::new();
    let api = |path: &str| format!("{}{path}", server.http);
    let (widget, tag) = widget_with_snippet(&server, &token).await;
    let port = shop_site(tag).await;
    let page_url = format!("http://localhost:{port}/shipping");
    let src: Value = http
        .post(api(&format!("/api/v1/widgets/{widget}/knowledge/sources")))
        .bearer_auth(&token)
        .json(&json!({"type": "url", "url": page_url}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(src["status"], "pending", "{src}");
    let one = api(&format!(
        "/api/v1/widgets/{widget}/knowledge/sources/{}",
        src["id"].as_str().unwrap()
    ));
    eventually("the page is crawled", || async {
        let s: Value = http
            .get(&one)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_ne!(s["status"], "failed", "{s}");
        s["status"] == "ready"
    })
    .await;

    let browser = Browser::launch(&[]).await;
    let mut page = open_widget(&browser, port).await;
    ask_in_widget(&mut page, "How long does delivery to Spain take?").await;
    let answer = page
        .eval_until(
            "(() => { const a = document.getElementById('ringside-widget').shadowRoot
               .querySelector('.rs-assistant'); return a ? a.firstChild.textContent : null; })()",
            Value::is_string,
        )
        .await;
    assert!(
        answer
            .as_str()
            .unwrap()
            .contains("Delivery to Spain takes three working days."),
        "{answer}"
    );
    let link = page
        .eval_until(
            "(() => { const a = document.getElementById('ringside-widget').shadowRoot
               .querySelector('.rs-assistant .rs-sources a');
               return a ? [a.textContent, a.getAttribute('href')] : null; })()",
            Value::is_array,
        )
        .await;
    assert_eq!(link, json!(["Shipping and delivery", page_url]));
    page.look("widget", "assistant-answer-with-source").await;
    // Shown once, though it came both in the HTTP answer and over the socket.
    assert_eq!(
        page.eval("document.getElementById('ringside-widget').shadowRoot.querySelectorAll('.rs-assistant').length")
            .await,
        1
    );
    ask_in_widget(&mut page, "What is your refund policy?").await;
    let second = page
        .eval_until(
            "(() => { const l = document.getElementById('ringside-widget').shadowRoot
               .querySelectorAll('.rs-assistant'); return l.length > 1 ? l[1].textContent : null; })()",
            Value::is_string,
        )
        .await;
    assert!(
        second.as_str().unwrap().starts_with("Sorry, I don't know"),
        "{second}"
    );
    page.screenshot("widget", "assistant-does-not-know").await;
    drop(browser);
}

/// An OpenAI-compatible provider that streams its answer slowly (a chunk every 300 ms);
/// returns its base URL.
async fn slow_provider() -> String {
    async fn completions() -> axum::response::Response {
        use axum::response::IntoResponse;
        let parts = [
            "Delivery to Spain ",
            "takes three ",
            "working days, ",
            "door to door [S1].",
        ];
        let events = futures_util::stream::unfold(0usize, move |i| async move {
            if i > parts.len() {
                return None;
            }
            if i > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            }
            let data = if i < parts.len() {
                format!(
                    "data: {}\n\n",
                    json!({"choices": [{"delta": {"content": parts[i]}}]})
                )
            } else {
                format!(
                    "data: {}\n\ndata: [DONE]\n\n",
                    json!({"choices": [], "usage": {"prompt_tokens": 90, "completion_tokens": 20}})
                )
            };
            Some((Ok::<_, std::convert::Infallible>(data), i + 1))
        });
        (
            [("content-type", "text/event-stream")],
            axum::body::Body::from_stream(events),
        )
            .into_response()
    }
    let app = axum::Router::new().route("/v1/chat/completions", axum::routing::post(completions));
    let l = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}/v1", l.local_addr().unwrap().port());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    base
}

/// A model's answer streams into the widget: headless Chromium sees the text grow word by
/// word in one line, then the stored answer (with its source) takes the line's place.
#[tokio::test]
async fn the_widget_shows_a_models_answer_as_it_streams() {
    let server = Server::start_with(&[("RINGSIDE_ALLOW_PRIVATE_FETCH", "true")]).await;
    let token = server.token(
        "owner@stream-e2e.example",
        "widgets:read,widgets:write,messages:read",
    );
    let http = reqwest::Client::new();
    let api = |path: &str| format!("{}{path}", server.http);
    let (widget, tag) = widget_with_snippet(&server, &token).await;
    let r = http
        .post(api(&format!("/api/v1/widgets/{widget}/knowledge/sources")))
        .bearer_auth(&token)
        .json(&json!({"type": "text", "title": "Shipping",
                      "text": "We ship to every country in the European Union. Delivery to Spain takes three working days."}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let base = slow_provider().await;
    let r = http
        .put(api("/api/v1/account/ai-provider"))
        .bearer_auth(&token)
        .json(&json!({"baseUrl": base, "model": "stream-model"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let port = site(tag).await;

    let browser = Browser::launch(&[]).await;
    let mut page = open_widget(&browser, port).await;
    ask_in_widget(&mut page, "How long does delivery to Spain take?").await;
    // Part of the answer is on the page while the rest is still coming.
    let partial = page
        .eval_until(
            "(() => { const a = document.getElementById('ringside-widget').shadowRoot
               .querySelector('.rs-assistant.rs-streaming'); return a ? a.textContent : null; })()",
            Value::is_string,
        )
        .await;
    let partial = partial.as_str().unwrap().to_owned();
    let full = "Delivery to Spain takes three working days, door to door [S1].";
    assert!(
        full.starts_with(&partial) && partial.len() < full.len(),
        "{partial:?}"
    );
    page.screenshot("widget", "assistant-streaming").await;
    let done = page
        .eval_until(
            "(() => { const r = document.getElementById('ringside-widget').shadowRoot;
               const a = r.querySelectorAll('.rs-assistant');
               return a.length === 1 && !a[0].classList.contains('rs-streaming')
                 && a[0].querySelector('.rs-sources') ? a[0].firstChild.textContent : null; })()",
            Value::is_string,
        )
        .await;
    assert_eq!(done, full);
    page.look("widget", "assistant-streamed-answer").await;
    drop(browser);
}
