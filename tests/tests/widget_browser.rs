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

/// The knowledge base built from the dashboard, as an owner does it in Chromium: a page of
/// the site added by its address (the crawl's progress shows on its own, the page's crawl
/// status on the source's page), a question and answer, a Markdown document uploaded; a
/// question tried on the page is answered with its source; the company profile saved; the
/// assistant given a name and only the document to answer from (what the API then shows); on
/// the assistant settings page an AI provider is saved and tested and an order integration
/// added (its field map read from `path = Label` lines). Every page is screenshotted
/// (`target/screenshots/knowledge/`, also on a phone) and checked with axe-core.
#[tokio::test]
async fn an_owner_builds_the_knowledge_base_from_the_dashboard() {
    const SHOTS: &str = "knowledge";
    let mail = ringside_e2e::SmtpSink::start().await;
    let smtp = format!("smtp+plain://127.0.0.1:{}", mail.port);
    let server = Server::start_with(&[
        ("RINGSIDE_ALLOW_PRIVATE_FETCH", "true"),
        ("RINGSIDE_SMTP_URL", &smtp),
        ("RINGSIDE_SMTP_FROM", "Ringside <no-reply@ringside.test>"),
    ])
    .await;
    let email = "owner@kb-dashboard.test";
    let browser = Browser::launch(&[]).await;
    let mut p = browser.open(&format!("{}/login", server.http)).await;
    p.viewport(1280, 900, false).await;
    ringside_e2e::sign_in_by_form(&mut p, SHOTS, &mail, email, 1, "00-sign-in").await;
    let token = server.token(email, "widgets:read,widgets:write,messages:read");
    let (widget, tag) = widget_with_snippet(&server, &token).await;
    let port = shop_site(tag).await;
    let page_url = format!("http://localhost:{port}/shipping");
    let kb = format!("{}/widgets/{widget}/knowledge", server.http);

    // From the widget's page to its knowledge.
    p.goto(
        &format!("{}/widgets/{widget}", server.http),
        &format!("/widgets/{widget}"),
    )
    .await;
    p.click(&format!("a[href='/widgets/{widget}/knowledge']"))
        .await;
    p.wait_true(
        "!!document.getElementById('kb-sources')",
        "the knowledge page",
    )
    .await;
    p.look(SHOTS, "01-knowledge-empty").await;

    // A page of the site by its address: waiting, then ready, without reloading the page.
    p.fill("kb-url", &page_url).await;
    p.click("#kb-url ~ .actions button[type=submit]").await;
    p.wait_true(
        "document.querySelector('#kb-sources tbody').textContent.includes('Shipping and delivery') \
         && document.querySelector('#kb-sources tbody').textContent.includes('ready')",
        "the page is crawled and its row says so",
    )
    .await;
    // A question and its answer, and a Markdown document.
    p.fill("kb-q", "Do you deliver on Saturdays?").await;
    p.fill("kb-a", "Yes: Saturday deliveries cost 5 euros more.")
        .await;
    p.click("#kb-a ~ .actions button[type=submit]").await;
    p.wait_true(
        "document.querySelector('#kb-sources tbody').textContent.includes('Do you deliver on Saturdays?')",
        "the Q/A pair is listed",
    )
    .await;
    let attached = p
        .eval(
            "(() => { const dt = new DataTransfer(); \
             dt.items.add(new File(['# Gift wrapping\\n\\nGift wrapping is available for 3 euros on every order.\\n'], \
             'gifts.md', {type: 'text/markdown'})); \
             document.getElementById('kb-file').files = dt.files; return document.getElementById('kb-file').files.length; })()",
        )
        .await;
    assert_eq!(attached, json!(1));
    p.click("form[data-kind=attach] button[type=submit]").await;
    p.wait_true(
        "document.querySelector('#kb-sources tbody').textContent.includes('gifts.md') \
         && document.querySelectorAll('#kb-sources tbody tr').length === 3",
        "the document is listed",
    )
    .await;
    let rows = p
        .eval("[...document.querySelectorAll('#kb-sources tbody tr')].map(r => r.children[2].textContent)")
        .await;
    assert_eq!(rows, json!(["ready", "ready", "ready"]), "{rows}");
    p.look(SHOTS, "02-knowledge-sources").await;

    // A question tried on the page: the answer, its source linked, the passages read.
    p.fill("kb-try", "How long does delivery to Spain take?")
        .await;
    p.click("#kb-try ~ button[type=submit]").await;
    p.wait_true(
        "!!document.getElementById('kb-answer')",
        "the answer to the question tried",
    )
    .await;
    let answer = p
        .eval("document.querySelector('#kb-answer .answer').textContent")
        .await;
    assert!(
        answer
            .as_str()
            .unwrap()
            .contains("Delivery to Spain takes three working days."),
        "{answer}"
    );
    let link = p
        .eval("(() => { const a = document.querySelector('#kb-answer ul a'); return a ? [a.textContent, a.getAttribute('href')] : null; })()")
        .await;
    assert_eq!(link, json!(["Shipping and delivery", page_url]));
    p.eval("document.getElementById('kb-try-h').scrollIntoView()")
        .await;
    p.look(SHOTS, "03-knowledge-try").await;

    // The company profile.
    p.fill("kb-p-hours", "Monday to Friday, 9:00-18:00").await;
    p.fill("kb-p-phone", "+351 21 000 0000").await;
    p.click("#kb-p-web ~ .actions button[type=submit]").await;
    p.wait_true(
        "document.getElementById('status').textContent === 'Saved.'",
        "profile saved",
    )
    .await;
    let (_, profile) = server
        .api(
            "GET",
            &format!("/api/v1/widgets/{widget}/knowledge/profile"),
            &token,
            None,
        )
        .await;
    assert_eq!(
        profile["hours"], "Monday to Friday, 9:00-18:00",
        "{profile}"
    );
    assert_eq!(profile["phone"], "+351 21 000 0000");

    // The assistant: named, answering from the document only.
    p.fill("as-name", "Ana").await;
    p.fill("as-tone", "warm and brief").await;
    p.eval(
        "(() => { const f = document.querySelector('fieldset[data-choice=sourceIds]'); \
         f.querySelector('input[value=chosen]').checked = true; \
         const box = [...f.querySelectorAll('label')].find(l => l.textContent.includes('gifts.md')); \
         box.querySelector('input').checked = true; return true; })()",
    )
    .await;
    p.click("form[data-kind=assistant] button[type=submit]")
        .await;
    p.wait_true(
        "document.readyState === 'complete' && document.querySelector('#kb-as-h + p').textContent.startsWith('Ana answers')",
        "the assistant is saved and the page says so",
    )
    .await;
    let (_, sources) = server
        .api(
            "GET",
            &format!("/api/v1/widgets/{widget}/knowledge/sources"),
            &token,
            None,
        )
        .await;
    let doc_id = sources["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "file")
        .unwrap_or_else(|| panic!("no document in {sources}"))["id"]
        .clone();
    let (_, a) = server
        .api(
            "GET",
            &format!("/api/v1/widgets/{widget}/assistant"),
            &token,
            None,
        )
        .await;
    assert_eq!(a["name"], "Ana", "{a}");
    assert_eq!(a["tone"], "warm and brief");
    assert_eq!(a["sourceIds"], json!([doc_id]));
    assert_eq!(a["integrationIds"], Value::Null, "every integration");
    p.eval("document.getElementById('kb-as-h').scrollIntoView()")
        .await;
    p.look(SHOTS, "04-knowledge-assistant").await;

    // The crawled page's source: the page it met.
    let url_id = sources["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "url")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    p.goto(
        &format!("{kb}/{url_id}"),
        &format!("/widgets/{widget}/knowledge/{url_id}"),
    )
    .await;
    let page_row = p
        .eval("document.querySelector('tbody tr').textContent")
        .await;
    assert!(
        page_row.as_str().unwrap().contains(&page_url)
            && page_row.as_str().unwrap().contains("indexed"),
        "{page_row}"
    );
    p.look(SHOTS, "05-knowledge-source").await;

    // The assistant settings: a provider saved and tested, an integration added.
    let provider = slow_provider().await;
    p.goto(
        &format!("{}/settings/assistant", server.http),
        "/settings/assistant",
    )
    .await;
    p.look(SHOTS, "06-assistant-settings-empty").await;
    p.fill("ai-url", &provider).await;
    p.fill("ai-model", "local-model").await;
    p.fill("ai-key", "sk-dashboard-1").await;
    p.fill("ai-timeout", "5").await;
    p.click("form[data-kind=provider] button[type=submit]")
        .await;
    p.wait_true(
        "document.readyState === 'complete' && !!document.querySelector('button[data-report]')",
        "the provider is saved (its test button shows)",
    )
    .await;
    let (_, prov) = server
        .api("GET", "/api/v1/account/ai-provider", &token, None)
        .await;
    assert_eq!(prov["model"], "local-model", "{prov}");
    assert_eq!(prov["hasApiKey"], true);
    assert_eq!(prov["timeoutSecs"], 5);
    assert!(
        !p.eval("document.documentElement.outerHTML")
            .await
            .as_str()
            .unwrap()
            .contains("sk-dashboard-1"),
        "the key is never shown"
    );
    p.click("button[data-report]").await;
    p.wait_true(
        "document.getElementById('status').textContent.startsWith('It answered in')",
        "the provider test answers",
    )
    .await;
    p.fill("in-name", "Shop orders").await;
    p.fill(
        "in-url",
        "https://orders.shop.example/api/orders/{reference}?email={email}",
    )
    .await;
    p.fill("in-pattern", r"ORD-\d{4}").await;
    p.fill("in-match", "customer.email").await;
    p.fill(
        "in-map",
        "status = Status\ndelivery.eta = Expected delivery",
    )
    .await;
    p.click("form[data-kind=integration] button[type=submit]")
        .await;
    p.wait_true(
        "document.readyState === 'complete' && document.querySelector('#int-h ~ .table-wrap tbody').textContent.includes('Shop orders')",
        "the integration is listed",
    )
    .await;
    let (_, ints) = server
        .api("GET", "/api/v1/integrations", &token, None)
        .await;
    assert_eq!(
        ints["data"][0]["fieldMap"],
        json!([{"path": "status", "label": "Status"}, {"path": "delivery.eta", "label": "Expected delivery"}]),
        "{ints}"
    );
    assert_eq!(ints["data"][0]["matchField"], "customer.email");
    assert_eq!(ints["data"][0]["hasAuthHeader"], false);
    p.look(SHOTS, "07-assistant-settings").await;

    // On a phone.
    p.viewport(390, 844, true).await;
    p.goto(&kb, &format!("/widgets/{widget}/knowledge")).await;
    p.look(SHOTS, "08-knowledge-phone").await;
    p.goto(
        &format!("{}/settings/assistant", server.http),
        "/settings/assistant",
    )
    .await;
    p.look(SHOTS, "09-assistant-settings-phone").await;
    p.eval("1").await;
    let errors = p.take_errors();
    assert!(errors.is_empty(), "the pages reported errors: {errors:#?}");
    drop(browser);
}
