//! Crawling a small site served on loopback (HTML pages in two languages, a PDF, a sitemap,
//! a robots.txt, and pages that must be skipped) into a widget's knowledge, then twenty
//! questions with known answers: the extractive answerer must cite the right page for at
//! least eighteen (the figure is printed). Also: refreshes re-read only what changed, pages
//! gone from the sitemap are forgotten, and a crawl never reaches a private address unless
//! the lab setting allows it. SQLite and PostgreSQL.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use common::{backends, uniq, Harness};
use ringside_api::knowledge::crawl::{run_once, CrawlConfig, Crawler};
use ringside_api::outbound::FetchPolicy;
use ringside_api::AppState;
use ringside_storage::Store;
use serde_json::{json, Value};

/// The site's pages by path: (content type, body).
type Pages = Arc<Mutex<HashMap<String, (String, Vec<u8>)>>>;

fn html(lang: &str, title: &str, body: &str) -> (String, Vec<u8>) {
    (
        "text/html; charset=utf-8".into(),
        format!(
            "<!doctype html><html lang=\"{lang}\"><head><title>{title}</title>\
             <script>var tracking = 'refund policy';</script></head><body>\
             <nav><a href=\"/\">Home</a> <a href=\"/shipping.html\">Shipping</a></nav>\
             <main><h1>{title}</h1>{body}</main><footer>Casa Azul Ceramics, Porto</footer></body></html>"
        )
        .into_bytes(),
    )
}

fn site_pages(base: &str) -> HashMap<String, (String, Vec<u8>)> {
    let mut p = HashMap::new();
    p.insert("/".into(), html("en", "Casa Azul Ceramics", "<p>We are a family workshop in Porto, founded in 1987 by Maria and João Azul. Every piece is shaped and painted by hand using traditional Portuguese techniques.</p><p>Visit our shop at Rua das Flores 120, open Tuesday to Saturday.</p>"));
    p.insert("/shipping.html".into(), html("en", "Shipping", "<p>Every order is packed by hand in our Porto workshop and leaves within two working days. We ship to every country in the European Union, as well as the United Kingdom, Switzerland and Norway.</p><p>Delivery to Portugal takes one to two working days; Spain three days; the rest of Europe five to seven working days.</p><p>Shipping is free on orders over 80 euros; below that a flat rate of 9 euros applies. Every parcel is insured and tracked, and you receive the tracking number by email.</p>"));
    p.insert("/returns.html".into(), html("en", "Returns and exchanges", "<p>You may return any undamaged item within 30 days of delivery. Write to us first so we can send you a return label.</p><p>Custom orders and workshop tickets cannot be returned.</p><p>Items that arrive broken are replaced free of charge: send us a photo of the damage within 48 hours.</p>"));
    p.insert("/care.html".into(), html("en", "Caring for your ceramics", "<p>All our tableware is glazed with lead-free glazes and is food safe. Plates, bowls and mugs are dishwasher safe, but washing by hand keeps the painted colours bright for longer.</p><p>Do not put pieces with a gold rim in the microwave.</p><p>Tiles can be cleaned with warm water and mild soap; avoid acid cleaners, which dull the glaze.</p>"));
    p.insert("/workshops.html".into(), html("en", "Painting workshops", "<p>Learn to paint azulejo tiles in our studio. Workshops run every Saturday from 10:00 to 13:00 and cost 45 euros per person, materials included.</p><p>Groups are limited to eight people. Book online at least two days ahead. Children from 10 years old are welcome with an adult.</p>"));
    p.insert("/custom-orders.html".into(), html("en", "Custom orders", "<p>We paint custom tiles for kitchens, house numbers and name plates. Send us your design or an idea and we will reply with a sketch and a quote within five working days.</p><p>Custom orders take four to six weeks to make, and a 50% deposit is asked when you approve the sketch.</p>"));
    p.insert("/pt/envios.html".into(), html("pt", "Envios", "<p>Enviamos para todos os países da União Europeia.</p><p>As entregas em Portugal continental demoram um a dois dias úteis.</p>"));
    p.insert("/gift-cards.pdf".into(), ("application/pdf".into(), ringside_knowledge::pdf::testing::one_page_pdf(
        "Gift cards\nGift cards are available from 25 to 500 euros.\nThey are valid for two years from the date of purchase and can be used online and in our shop.\nA gift card cannot be exchanged for cash.",
    )));
    // Pages the crawl must skip.
    p.insert(
        "/private.html".into(),
        html("en", "Staff", "<p>The staff discount code is STAFF-40.</p>"),
    );
    p.insert("/draft.html".into(), ("text/html".into(), b"<html><head><meta name=\"robots\" content=\"noindex\"><title>Draft</title></head><body><p>Our draft refund policy: money back in 90 days.</p></body></html>".to_vec()));
    p.insert(
        "/huge.html".into(),
        (
            "text/html".into(),
            format!("<p>{}</p>", "bulk words ".repeat(10_000)).into_bytes(),
        ),
    );
    p.insert(
        "/logo.png".into(),
        ("image/png".into(), vec![0x89, b'P', b'N', b'G', 0, 0, 0, 0]),
    );
    p.insert("/robots.txt".into(), ("text/plain".into(), format!("User-agent: *\nDisallow: /private.html\nCrawl-delay: 0.01\nSitemap: {base}/sitemap.xml\n").into_bytes()));
    let urls: String = [
        "/",
        "/shipping.html",
        "/returns.html",
        "/care.html",
        "/workshops.html",
        "/custom-orders.html",
        "/pt/envios.html",
        "/gift-cards.pdf",
        "/private.html",
        "/draft.html",
        "/huge.html",
        "/logo.png",
        "/moved.html",
        "/missing.html",
        "/slow.html",
    ]
    .iter()
    .map(|u| format!("<url><loc>{base}{u}</loc></url>"))
    .collect();
    p.insert("/sitemap.xml".into(), ("application/xml".into(), format!("<?xml version=\"1.0\"?><urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">{urls}</urlset>").into_bytes()));
    p
}

async fn serve(State(pages): State<Pages>, Path(path): Path<String>) -> Response {
    let path = format!("/{path}");
    if path == "/slow.html" {
        tokio::time::sleep(Duration::from_secs(3)).await;
        return (StatusCode::OK, "<p>late</p>").into_response();
    }
    if path == "/moved.html" {
        return (
            StatusCode::FOUND,
            [(header::LOCATION, "http://other.example/landing")],
        )
            .into_response();
    }
    match pages.lock().unwrap().get(&path) {
        Some((ct, body)) => ([(header::CONTENT_TYPE, ct.clone())], body.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn start_site() -> (String, Pages) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let pages: Pages = Arc::new(Mutex::new(site_pages(&base)));
    let app = axum::Router::new()
        .route(
            "/",
            axum::routing::get({
                let pages = pages.clone();
                move || serve(State(pages), Path(String::new()))
            }),
        )
        .route("/{*path}", axum::routing::get(serve))
        .with_state(pages.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, pages)
}

type Ctx = common::StateApp;

fn ctx(store: &Store, allow_private: bool) -> Ctx {
    let state = AppState {
        fetch_policy: FetchPolicy { allow_private },
        crawler: Arc::new(Crawler::new(CrawlConfig {
            max_page_bytes: 64 * 1024,
            timeout: Duration::from_secs(1),
            ..CrawlConfig::default()
        })),
        ..common::state(store)
    };
    Ctx::new(state)
}

/// (question, the page path its answer is on)
const QUESTIONS: [(&str, &str); 20] = [
    ("Do you ship to Switzerland?", "/shipping.html"),
    ("How much does shipping cost?", "/shipping.html"),
    ("Is my parcel tracked?", "/shipping.html"),
    ("Can I return an item I bought?", "/returns.html"),
    ("What happens if my order arrives broken?", "/returns.html"),
    ("Are your mugs dishwasher safe?", "/care.html"),
    (
        "Can I put a plate with a gold rim in the microwave?",
        "/care.html",
    ),
    ("Is the glaze lead free?", "/care.html"),
    ("How should I clean my tiles?", "/care.html"),
    ("When are the painting workshops?", "/workshops.html"),
    (
        "How much does a workshop cost per person?",
        "/workshops.html",
    ),
    ("Can children join a workshop?", "/workshops.html"),
    (
        "Can you make a custom house number tile?",
        "/custom-orders.html",
    ),
    ("How long do custom orders take?", "/custom-orders.html"),
    ("Do you ask for a deposit?", "/custom-orders.html"),
    ("When was Casa Azul founded?", "/"),
    ("Who founded Casa Azul?", "/"),
    ("How long is a gift card valid?", "/gift-cards.pdf"),
    ("Can a gift card be exchanged for cash?", "/gift-cards.pdf"),
    (
        "Quanto tempo demoram as entregas em Portugal?",
        "/pt/envios.html",
    ),
];

async fn ask(c: &Ctx, widget: &str, key: &str, q: &str) -> Value {
    let r = c
        .send(
            "POST",
            "/widget/ask",
            &[],
            Some(
                &json!({"clientId": widget, "widgetKey": key, "message": q,
                         "sessionId": "crawl-visitor", "domain": "127.0.0.1"})
                .to_string(),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

#[tokio::test]
async fn a_crawled_site_answers_twenty_questions_from_the_right_pages() {
    let (base, pages) = start_site().await;
    for b in backends("ringside-kb-crawl").await {
        let n = b.name;
        let c = ctx(&b.store, true);
        let token = c
            .token(
                &format!("{}@crawl.example", uniq("crawl")),
                &["widgets:read", "widgets:write"],
            )
            .await;
        let (st, w) = c
            .json(
                "POST",
                "/api/v1/widgets",
                &token,
                json!({"name": "Casa Azul", "allowedDomains": ["127.0.0.1"]}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED);
        let (widget, key) = (
            w["id"].as_str().unwrap().to_owned(),
            w["publicKey"].as_str().unwrap().to_owned(),
        );
        let sources = format!("/api/v1/widgets/{widget}/knowledge/sources");
        let (st, src) = c
            .json(
                "POST",
                &sources,
                &token,
                json!({"type": "sitemap", "url": format!("{base}/sitemap.xml")}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{src}");
        assert_eq!(src["status"], "pending");
        let crawled = run_once(&c.state)
            .await
            .unwrap()
            .expect("the source was waiting");
        assert_eq!(crawled.status, "ready", "[{n}] {crawled:?}");
        assert_eq!(crawled.pages, 8, "[{n}] {crawled:?}");
        assert_eq!(crawled.reason.as_deref(), Some("7 pages skipped"));
        assert!(
            run_once(&c.state).await.unwrap().is_none(),
            "nothing else waits"
        );

        // What became of each page.
        let (st, detail) = c
            .call(
                "GET",
                &format!("{sources}/{}", src["id"].as_str().unwrap()),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        let by_path: HashMap<String, (String, Option<String>)> = detail["pagesDetail"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["url"]
                        .as_str()
                        .unwrap()
                        .trim_start_matches(&base)
                        .to_owned(),
                    (
                        p["status"].as_str().unwrap().to_owned(),
                        p["reason"].as_str().map(str::to_owned),
                    ),
                )
            })
            .collect();
        let skipped = |path: &str| by_path.get(path).map(|(s, r)| (s.as_str(), r.as_deref()));
        assert_eq!(
            skipped("/private.html"),
            Some(("skipped", Some("robots"))),
            "{detail}"
        );
        assert_eq!(skipped("/draft.html"), Some(("skipped", Some("noindex"))));
        assert_eq!(skipped("/huge.html"), Some(("skipped", Some("too_large"))));
        assert_eq!(skipped("/logo.png"), Some(("skipped", Some("not_text"))));
        assert_eq!(
            skipped("/moved.html"),
            Some(("skipped", Some("off_site_redirect")))
        );
        assert_eq!(
            skipped("/missing.html"),
            Some(("skipped", Some("http_404")))
        );
        assert_eq!(skipped("/slow.html"), Some(("skipped", Some("timeout"))));
        assert_eq!(skipped("/gift-cards.pdf"), Some(("indexed", None)));
        assert_eq!(skipped("/pt/envios.html"), Some(("indexed", None)));

        // Twenty questions.
        let mut right = 0;
        for (q, page) in QUESTIONS {
            let a = ask(&c, &widget, &key, q).await;
            let cited = a["sources"][0]["url"]
                .as_str()
                .unwrap_or("")
                .trim_start_matches(&base)
                .to_owned();
            let cited = if cited.is_empty() && a["sources"][0]["url"].is_string() {
                "/".to_owned()
            } else {
                cited
            };
            if cited == page {
                right += 1;
            } else {
                eprintln!("[{n}] {q} -> {cited:?} (wanted {page}): {}", a["answer"]);
            }
        }
        println!("[{n}] kb_extractive_correct: {right}/20");
        assert!(
            right >= 18,
            "[{n}] only {right}/20 questions cited the right page"
        );
        // The answers quote the pages.
        let a = ask(&c, &widget, &key, "How long is a gift card valid?").await;
        assert!(a["answer"].as_str().unwrap().contains("two years"), "{a}");
        // What the crawl skipped never answers: robots.txt, noindex, scripts.
        for q in [
            "What is the staff discount code?",
            "What is your refund policy?",
        ] {
            let a = ask(&c, &widget, &key, q).await;
            assert_eq!(a["answered"], false, "[{n}] {q}: {a}");
            assert_eq!(a["sources"], json!([]));
            assert!(!a.to_string().contains("STAFF-40") && !a.to_string().contains("90 days"));
        }

        // A refresh re-reads the site: unchanged pages say so, a changed one is indexed
        // anew, one gone from the sitemap is forgotten.
        {
            let mut p = pages.lock().unwrap();
            p.insert(
                "/workshops.html".into(),
                html(
                    "en",
                    "Painting workshops",
                    "<p>Workshops now run every Sunday from 15:00 to 18:00.</p>",
                ),
            );
            let (ct, xml) = p["/sitemap.xml"].clone();
            let xml = String::from_utf8(xml)
                .unwrap()
                .replace(&format!("<url><loc>{base}/care.html</loc></url>"), "");
            p.insert("/sitemap.xml".into(), (ct, xml.into_bytes()));
        }
        let (st, r) = c
            .call(
                "POST",
                &format!("{sources}/{}/refresh", src["id"].as_str().unwrap()),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::ACCEPTED, "{r}");
        assert_eq!(r["status"], "pending");
        let (st, _) = c
            .call(
                "POST",
                &format!("{sources}/{}/refresh", src["id"].as_str().unwrap()),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::CONFLICT, "a crawl is waiting already");
        let again = run_once(&c.state).await.unwrap().unwrap();
        assert_eq!(again.status, "ready");
        assert_eq!(again.version, 2);
        let (_, detail) = c
            .call(
                "GET",
                &format!("{sources}/{}", src["id"].as_str().unwrap()),
                Some(&token),
                None,
            )
            .await;
        let status_of = |path: &str| {
            detail["pagesDetail"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["url"] == format!("{base}{path}"))
                .map(|p| p["status"].as_str().unwrap().to_owned())
        };
        assert_eq!(status_of("/workshops.html").as_deref(), Some("indexed"));
        assert_eq!(status_of("/shipping.html").as_deref(), Some("unchanged"));
        assert_eq!(
            status_of("/care.html"),
            None,
            "gone from the sitemap: forgotten"
        );
        let a = ask(&c, &widget, &key, "When are the painting workshops?").await;
        assert!(a["answer"].as_str().unwrap().contains("Sunday"), "{a}");
        let a = ask(&c, &widget, &key, "Are your mugs dishwasher safe?").await;
        assert_eq!(
            a["answered"], false,
            "the care page left the knowledge: {a}"
        );

        // A single page by URL.
        let (st, one) = c
            .json(
                "POST",
                &sources,
                &token,
                json!({"type": "url", "url": format!("{base}/returns.html")}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED);
        let done = run_once(&c.state).await.unwrap().unwrap();
        assert_eq!(done.id, one["id"].as_str().unwrap());
        assert_eq!((done.status.as_str(), done.pages), ("ready", 1));
        b.finish().await;
        // Put the site back for the next backend.
        *pages.lock().unwrap() = site_pages(&base);
    }
}

#[tokio::test]
async fn a_crawl_never_reaches_a_private_address_without_the_lab_setting() {
    let (base, _pages) = start_site().await;
    for b in backends("ringside-kb-ssrf").await {
        let c = ctx(&b.store, false);
        let token = c
            .token(
                &format!("{}@crawl.example", uniq("ssrf")),
                &["widgets:read", "widgets:write"],
            )
            .await;
        let (_, w) = c
            .json(
                "POST",
                "/api/v1/widgets",
                &token,
                json!({"name": "Lab", "allowedDomains": ["127.0.0.1", "localhost"]}),
            )
            .await;
        let sources = format!(
            "/api/v1/widgets/{}/knowledge/sources",
            w["id"].as_str().unwrap()
        );
        // An address that is plainly private is refused at once.
        let (st, r) = c
            .json(
                "POST",
                &sources,
                &token,
                json!({"type": "url", "url": format!("{base}/shipping.html")}),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
        assert!(
            r["error"]["message"]
                .as_str()
                .unwrap()
                .contains("not public"),
            "{r}"
        );
        // A name that resolves to one is refused when the crawl looks it up.
        let url = base.replace("127.0.0.1", "localhost") + "/sitemap.xml";
        let (st, src) = c
            .json(
                "POST",
                &sources,
                &token,
                json!({"type": "sitemap", "url": url}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{src}");
        let done = run_once(&c.state).await.unwrap().unwrap();
        assert_eq!(done.status, "failed", "{done:?}");
        assert_eq!(
            done.reason.as_deref(),
            Some("sitemap: not_public"),
            "{done:?}"
        );
        assert_eq!(done.passages, 0);
        b.finish().await;
    }
}
