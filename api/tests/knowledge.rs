//! The knowledge base over HTTP, on SQLite and PostgreSQL: sources (text, Q/A pairs,
//! uploads), search, the company profile, `/widget/ask` answering from them with sources
//! (and saying plainly when it does not know), tenant isolation, the index following the
//! database after a restart, and the refusals of every endpoint.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{assert_error, backends, multipart, uniq, Harness, Part, Resp};
use ringside_api::AppState;
use ringside_storage::Store;
use serde_json::{json, Value};
use tower::ServiceExt;

type Ctx = common::StateApp;

fn ctx(store: &Store) -> Ctx {
    ctx_with(common::state(store))
}

fn ctx_with(state: AppState) -> Ctx {
    Ctx::new(state)
}

const RW: &[&str] = &["widgets:read", "widgets:write"];

struct Site {
    token: String,
    widget: String,
    key: String,
    tenant: String,
    email: String,
}

impl Ctx {
    async fn site(&self, prefix: &str, domains: &[&str]) -> Site {
        let email = format!("{}@kb.example", uniq(prefix));
        let token = self.token(&email, RW).await;
        let tenant = self.store().ensure_user(&email).await.unwrap().tenant_id;
        let (st, w) = self
            .json(
                "POST",
                "/api/v1/widgets",
                &token,
                json!({"name": "Casa Azul", "allowedDomains": domains}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{w}");
        Site {
            token,
            widget: w["id"].as_str().unwrap().to_owned(),
            key: w["publicKey"].as_str().unwrap().to_owned(),
            tenant,
            email,
        }
    }

    async fn add(&self, s: &Site, body: Value) -> (StatusCode, Value) {
        self.json(
            "POST",
            &format!("/api/v1/widgets/{}/knowledge/sources", s.widget),
            &s.token,
            body,
        )
        .await
    }

    async fn ask(&self, s: &Site, message: &str, session: &str) -> Value {
        let r = self
            .send(
                "POST",
                "/widget/ask",
                &[],
                Some(
                    &json!({"clientId": s.widget, "widgetKey": s.key, "message": message,
                            "sessionId": session, "domain": "shop.example"})
                    .to_string(),
                ),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body
    }

    async fn upload(&self, s: &Site, parts: &[Part<'_>]) -> Resp {
        let (ct, body) = multipart(parts);
        let req = Request::builder()
            .method("POST")
            .uri(format!("/api/v1/widgets/{}/knowledge/sources", s.widget))
            .header("authorization", format!("Bearer {}", s.token))
            .header("content-type", ct)
            .body(Body::from(body))
            .unwrap();
        Resp::read(self.app.clone().oneshot(req).await.unwrap()).await
    }
}

const SHIPPING: &str = "Shipping\n\nOrders leave our workshop in Porto every weekday. We ship to \
    every country in the European Union. Delivery to Portugal and Spain takes two working days; \
    other EU countries take four to six days. Shipping is free on orders above 60 euros.";

#[tokio::test]
async fn sources_answers_profile_and_deletion() {
    for b in backends("ringside-kb").await {
        let n = b.name;
        let c = ctx(&b.store);
        let s = c.site("kb", &["shop.example"]).await;
        let (st, shipping) = c
            .add(
                &s,
                json!({"type": "text", "title": "Shipping", "text": SHIPPING}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "[{n}] {shipping}");
        assert_eq!(shipping["status"], "ready");
        assert_eq!(shipping["kind"], "text");
        assert!(shipping["passages"].as_i64().unwrap() >= 1, "{shipping}");
        assert_eq!(shipping["version"], 1);
        let (st, qa) = c
            .add(
                &s,
                json!({"type": "qa", "question": "Do you offer gift wrapping?",
                       "answer": "Yes: add gift wrapping at checkout for 3 euros per item."}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "[{n}] {qa}");
        assert_eq!(qa["status"], "ready");
        assert_eq!(qa["passages"], 1);

        let (st, list) = c
            .call(
                "GET",
                &format!("/api/v1/widgets/{}/knowledge/sources", s.widget),
                Some(&s.token),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        let data = list["data"].as_array().unwrap();
        assert_eq!(data.len(), 2);
        assert_eq!(data[0]["id"], shipping["id"]);
        assert!(data[0].get("body").is_none(), "the text is not listed");

        // The answer quotes the sentence that holds it, and names its source.
        let a = c
            .ask(&s, "How long does delivery to Spain take?", "kb-session-1")
            .await;
        assert_eq!(a["usedAi"], false);
        assert_eq!(a["answered"], true);
        assert_eq!(a["humanOffered"], false);
        assert!(
            a["answer"]
                .as_str()
                .unwrap()
                .contains("Delivery to Portugal and Spain takes two working days"),
            "[{n}] {a}"
        );
        assert_eq!(a["sources"][0]["title"], "Shipping");
        assert!(a["sources"][0]["snippet"]
            .as_str()
            .unwrap()
            .contains("Spain"));
        // A Q/A pair answers whole.
        let a = c
            .ask(&s, "can you gift wrap my order?", "kb-session-1")
            .await;
        assert_eq!(
            a["answer"],
            "Yes: add gift wrapping at checkout for 3 euros per item."
        );
        assert_eq!(
            a["sources"],
            json!([{"title": "Do you offer gift wrapping?", "url": null,
                    "snippet": "Yes: add gift wrapping at checkout for 3 euros per item."}])
        );
        // Nothing on refunds: it says so and offers a person, with no sources.
        let a = c
            .ask(&s, "What is your refund policy?", "kb-session-2")
            .await;
        assert_eq!(a["answered"], false, "[{n}] {a}");
        assert_eq!(a["humanOffered"], true);
        assert_eq!(a["sources"], json!([]));
        let text = a["answer"].as_str().unwrap();
        assert!(text.contains("don't know"), "{text}");
        // Nobody is at the console: the visitor is asked for a way back.
        assert!(text.contains("email or phone"), "{text}");
        assert_eq!(a["leadCapture"]["required"], true);
        // A greeting is a greeting.
        let a = c.ask(&s, "hi", "kb-session-3").await;
        assert!(a["answer"].as_str().unwrap().starts_with("Hello"), "{a}");
        assert_eq!(a["sources"], json!([]));

        // The conversation keeps the question and what the visitor was told.
        let msgs = b
            .store
            .list_messages(&s.tenant, &s.widget, Some("kb-session-1"), 50)
            .await
            .unwrap();
        let senders: Vec<&str> = msgs.iter().map(|m| m.sender.as_str()).collect();
        assert_eq!(senders, ["visitor", "assistant", "visitor", "assistant"]);
        assert!(msgs[1].body.contains("two working days"));

        // Search shows the passages and the answer it would give.
        let (st, found) = c
            .call(
                "GET",
                &format!(
                    "/api/v1/widgets/{}/knowledge/search?q=delivery%20to%20Spain&limit=3",
                    s.widget
                ),
                Some(&s.token),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{found}");
        assert_eq!(found["passages"][0]["title"], "Shipping");
        assert!(found["passages"][0]["score"].as_f64().unwrap() > 0.0);
        assert!(found["answer"]["text"].as_str().unwrap().contains("Spain"));

        // The company profile answers what the knowledge does not.
        let a = c
            .ask(&s, "What are your opening hours?", "kb-session-4")
            .await;
        assert_eq!(a["answered"], false, "no profile yet: {a}");
        let (st, p) = c
            .json(
                "PUT",
                &format!("/api/v1/widgets/{}/knowledge/profile", s.widget),
                &s.token,
                json!({"name": "Casa Azul Ceramics", "hours": "Monday to Saturday, 10:00-19:00",
                       "phone": "+351 220 000 000", "email": "ola@casa-azul.example",
                       "address": "Rua das Flores 12, Porto", "website": "https://casa-azul.example",
                       "description": "We make hand painted ceramics in Porto."}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{p}");
        let a = c
            .ask(&s, "What are your opening hours?", "kb-session-4")
            .await;
        assert_eq!(a["answered"], true, "{a}");
        assert_eq!(
            a["answer"],
            "Our opening hours: Monday to Saturday, 10:00-19:00."
        );
        assert_eq!(a["sources"][0]["title"], "Casa Azul Ceramics");
        assert_eq!(a["sources"][0]["url"], "https://casa-azul.example");
        let a = c.ask(&s, "what's your phone number?", "kb-session-4").await;
        assert!(
            a["answer"].as_str().unwrap().contains("+351 220 000 000"),
            "{a}"
        );
        let a = c.ask(&s, "Where are you located?", "kb-session-4").await;
        assert!(
            a["answer"].as_str().unwrap().contains("Rua das Flores 12"),
            "{a}"
        );
        let (st, p) = c
            .call(
                "GET",
                &format!("/api/v1/widgets/{}/knowledge/profile", s.widget),
                Some(&s.token),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(p["hours"], "Monday to Saturday, 10:00-19:00");

        // Deleting a source takes it out of answers at once.
        let (st, _) = c
            .call(
                "DELETE",
                &format!(
                    "/api/v1/widgets/{}/knowledge/sources/{}",
                    s.widget,
                    shipping["id"].as_str().unwrap()
                ),
                Some(&s.token),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::NO_CONTENT);
        let a = c
            .ask(&s, "How long does delivery to Spain take?", "kb-session-5")
            .await;
        assert_eq!(a["answered"], false, "{a}");
        assert_eq!(a["sources"], json!([]));
        b.finish().await;
    }
}

#[tokio::test]
async fn a_tenant_never_reads_another_tenants_knowledge() {
    for b in backends("ringside-kb-iso").await {
        let c = ctx(&b.store);
        let mine = c.site("iso-a", &["shop.example"]).await;
        let theirs = c.site("iso-b", &["shop.example"]).await;
        let (st, _) = c
            .add(
                &theirs,
                json!({"type": "qa", "question": "What is the secret discount code?",
                       "answer": "The code is TENANT-B-ONLY."}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED);
        let a = c
            .ask(&mine, "What is the secret discount code?", "iso-1")
            .await;
        assert_eq!(a["answered"], false, "{a}");
        assert!(!a.to_string().contains("TENANT-B-ONLY"));
        let (st, found) = c
            .call(
                "GET",
                &format!(
                    "/api/v1/widgets/{}/knowledge/search?q=secret%20discount%20code",
                    mine.widget
                ),
                Some(&mine.token),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(found["passages"], json!([]));
        assert_eq!(found["answer"], Value::Null);
        // Their widget, my token: 404 on every knowledge path.
        for (m, path) in [
            (
                "GET",
                format!("/api/v1/widgets/{}/knowledge/sources", theirs.widget),
            ),
            (
                "GET",
                format!("/api/v1/widgets/{}/knowledge/search?q=code", theirs.widget),
            ),
            (
                "GET",
                format!("/api/v1/widgets/{}/knowledge/profile", theirs.widget),
            ),
        ] {
            let (st, body) = c.call(m, &path, Some(&mine.token), None).await;
            assert_eq!(st, StatusCode::NOT_FOUND, "{path}: {body}");
            assert_error(&body, "not_found");
        }
        let (st, _) = c
            .add(
                &Site {
                    token: mine.token.clone(),
                    widget: theirs.widget.clone(),
                    key: String::new(),
                    tenant: mine.tenant.clone(),
                    email: mine.email.clone(),
                },
                json!({"type": "text", "text": "sneaky"}),
            )
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        b.finish().await;
    }
}

#[tokio::test]
async fn uploads_of_markdown_html_text_and_pdf() {
    for b in backends("ringside-kb-up").await {
        let n = b.name;
        let c = ctx(&b.store);
        let s = c.site("up", &["shop.example"]).await;
        let pdf = ringside_knowledge::pdf::testing::one_page_pdf(
            "Gift cards\nGift cards are valid for two years from the date of purchase.",
        );
        let cases: [(&str, &str, &[u8], &str); 4] = [
            ("care.md", "text/markdown", b"# Caring for ceramics\n\nOur **mugs** are dishwasher safe. Hand painted plates should be washed by hand.", "dishwasher"),
            ("workshops.html", "text/html", b"<html lang=\"en\"><title>Pottery workshops</title><body><nav>Home</nav><p>Our pottery workshops run every Saturday morning and cost 45 euros per person.</p></body></html>", "Saturday"),
            ("wholesale.txt", "text/plain", b"Wholesale\n\nShops can buy wholesale from a minimum order of 300 euros.", "wholesale"),
            ("gift-cards.pdf", "application/pdf", &pdf, "two years"),
        ];
        for (file, ct, data, _) in &cases {
            let r = c
                .upload(
                    &s,
                    &[("file", Some((file, ct)), data), ("lang", None, b"en")],
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "[{n}] {file}: {}", r.body);
            assert_eq!(r.body["status"], "ready", "[{n}] {file}: {}", r.body);
            assert_eq!(r.body["kind"], "file");
            assert_eq!(r.body["fileName"], *file);
        }
        let questions = [
            ("Are the mugs dishwasher safe?", "dishwasher"),
            ("When are the pottery workshops?", "Saturday"),
            ("what is the minimum order for wholesale?", "300 euros"),
            ("How long are gift cards valid?", "two years"),
        ];
        for (q, want) in questions {
            let a = c.ask(&s, q, "up-1").await;
            assert!(
                a["answer"].as_str().unwrap().contains(want),
                "[{n}] {q}: {a}"
            );
        }
        let a = c.ask(&s, "When are the pottery workshops?", "up-1").await;
        assert_eq!(
            a["sources"][0]["title"], "Pottery workshops",
            "the page's own title"
        );

        // Unreadable documents fail with a reason; nothing else changes.
        let r = c
            .upload(
                &s,
                &[(
                    "file",
                    Some(("broken.pdf", "application/pdf")),
                    b"%PDF-1.4 garbage",
                )],
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
        assert_eq!(r.body["status"], "failed");
        assert_eq!(r.body["reason"], "unreadable_pdf");
        let r = c
            .upload(
                &s,
                &[("file", Some(("blob.txt", "text/plain")), b"ab\0\0cd")],
            )
            .await;
        assert_eq!(r.body["status"], "failed");
        assert_eq!(r.body["reason"], "binary");
        let r = c
            .upload(
                &s,
                &[("file", Some(("empty.md", "text/markdown")), b"   \n")],
            )
            .await;
        assert_eq!(r.body["status"], "failed");
        assert_eq!(r.body["reason"], "no_text");
        // Not a document type: 415, nothing stored.
        let r = c
            .upload(&s, &[("file", Some(("song.mp3", "audio/mpeg")), b"ID3")])
            .await;
        assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", r.body);
        assert_error(&r.body, "unsupported_media_type");
        // No file part: 422.
        let r = c.upload(&s, &[("title", None, b"x")]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        // Over 10 MiB: 413.
        let big = vec![b'a'; 10 * 1024 * 1024 + 10];
        let r = c
            .upload(&s, &[("file", Some(("big.txt", "text/plain")), &big)])
            .await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
        let (_, list) = c
            .call(
                "GET",
                &format!("/api/v1/widgets/{}/knowledge/sources", s.widget),
                Some(&s.token),
                None,
            )
            .await;
        assert_eq!(list["data"].as_array().unwrap().len(), 7, "{list}");
        // The working documents still answer.
        let a = c.ask(&s, "Are the mugs dishwasher safe?", "up-2").await;
        assert_eq!(a["answered"], true);
        b.finish().await;
    }
}

#[tokio::test]
async fn refusals_of_the_knowledge_endpoints() {
    for b in backends("ringside-kb-ref").await {
        let n = b.name;
        let c = ctx(&b.store);
        let s = c.site("ref", &["shop.example", "*.shop.example"]).await;
        let sources = format!("/api/v1/widgets/{}/knowledge/sources", s.widget);
        let search = format!("/api/v1/widgets/{}/knowledge/search?q=x", s.widget);
        let profile = format!("/api/v1/widgets/{}/knowledge/profile", s.widget);
        let (st, src) = c
            .add(&s, json!({"type": "text", "text": "Alpha words."}))
            .await;
        assert_eq!(st, StatusCode::CREATED);
        assert_eq!(src["title"], "Alpha words.", "the first line is the title");
        let one = format!("{sources}/{}", src["id"].as_str().unwrap());

        // 401 without a token, on every endpoint.
        for (m, p) in [
            ("GET", sources.as_str()),
            ("POST", sources.as_str()),
            ("GET", one.as_str()),
            ("DELETE", one.as_str()),
            ("POST", &format!("{one}/refresh")),
            ("GET", search.as_str()),
            ("GET", profile.as_str()),
            ("PUT", profile.as_str()),
        ] {
            let (st, body) = c.call(m, p, None, Some("{}")).await;
            assert_eq!(st, StatusCode::UNAUTHORIZED, "[{n}] {m} {p}: {body}");
            assert_error(&body, "unauthorized");
        }
        // 403: reading needs widgets:read, changing widgets:write.
        let reader = c.token(&s.email, &["widgets:read"]).await;
        let other = c
            .token(&format!("{}@kb.example", uniq("nos")), &["calls:read"])
            .await;
        let (st, body) = c
            .json(
                "POST",
                &sources,
                &reader,
                json!({"type": "text", "text": "x"}),
            )
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{body}");
        assert_error(&body, "forbidden");
        for (m, p) in [("DELETE", one.as_str()), ("PUT", profile.as_str())] {
            let (st, _) = c.call(m, p, Some(&reader), Some("{}")).await;
            assert_eq!(st, StatusCode::FORBIDDEN, "{m} {p}");
        }
        let (st, _) = c.call("GET", &search, Some(&other), None).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        let (st, _) = c.call("GET", &search, Some(&reader), None).await;
        assert_eq!(st, StatusCode::OK);

        // 404: unknown source or widget.
        let (st, body) = c
            .call("GET", &format!("{sources}/nope"), Some(&s.token), None)
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        assert_error(&body, "not_found");
        let (st, _) = c
            .call("DELETE", &format!("{sources}/nope"), Some(&s.token), None)
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        let (st, _) = c
            .call(
                "GET",
                "/api/v1/widgets/nope/knowledge/sources",
                Some(&s.token),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND);

        // 422 for bad fields, nothing stored.
        for (body, field) in [
            (json!({"type": "video"}), "type"),
            (json!({"type": "text"}), "text"),
            (json!({"type": "text", "text": "   "}), "text"),
            (json!({"type": "text", "text": "x", "lang": "tlh"}), "lang"),
            (json!({"type": "qa", "question": "q?"}), "answer"),
            (
                json!({"type": "qa", "question": "q".repeat(501), "answer": "a"}),
                "question",
            ),
            (json!({"type": "url"}), "url"),
            (json!({"type": "url", "url": "ftp://shop.example/x"}), "url"),
            (
                json!({"type": "url", "url": "https://evil.example/page"}),
                "url",
            ),
            (
                json!({"type": "sitemap", "url": "https://shop.example.evil.example/sitemap.xml"}),
                "url",
            ),
        ] {
            let (st, r) = c.json("POST", &sources, &s.token, body.clone()).await;
            assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "[{n}] {body}: {r}");
            assert_error(&r, "invalid_field");
            assert!(
                r["error"]["message"].as_str().unwrap().starts_with(field),
                "{r}"
            );
        }
        // A subdomain the widget allows is fine.
        let (st, r) = c
            .json(
                "POST",
                &sources,
                &s.token,
                json!({"type": "url", "url": "https://help.shop.example/faq"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{r}");
        assert_eq!(r["status"], "pending");
        // Unknown fields and broken JSON: 400; another content type: 415.
        let (st, r) = c
            .json(
                "POST",
                &sources,
                &s.token,
                json!({"type": "text", "text": "x", "extra": 1}),
            )
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{r}");
        let r = c
            .send(
                "POST",
                &sources,
                &[
                    ("authorization", &format!("Bearer {}", s.token)),
                    ("content-type", "text/plain"),
                ],
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        for (q, _) in [("", 0), (&"x".repeat(1001), 0)] {
            let (st, _) = c
                .call(
                    "GET",
                    &format!("/api/v1/widgets/{}/knowledge/search?q={q}", s.widget),
                    Some(&s.token),
                    None,
                )
                .await;
            assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        }
        let (st, _) = c
            .call(
                "GET",
                &format!("/api/v1/widgets/{}/knowledge/search?q=x&limit=0", s.widget),
                Some(&s.token),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        for (body, field) in [
            (json!({"email": "not an email"}), "email"),
            (json!({"website": "javascript:alert(1)"}), "website"),
            (json!({"hours": "h".repeat(1001)}), "hours"),
        ] {
            let (st, r) = c.json("PUT", &profile, &s.token, body).await;
            assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
            assert!(r["error"]["message"].as_str().unwrap().starts_with(field));
        }
        // 409: refreshing a text source, or a crawl already waiting.
        let (st, r) = c
            .call("POST", &format!("{one}/refresh"), Some(&s.token), None)
            .await;
        assert_eq!(st, StatusCode::CONFLICT, "{r}");
        // 429: the tenant's burst of changes, then of searches.
        let mut limited = None;
        for i in 0..40 {
            let (st, r) = c
                .json(
                    "POST",
                    &sources,
                    &s.token,
                    json!({"type": "qa", "question": format!("q{i}?"), "answer": "a"}),
                )
                .await;
            if st == StatusCode::TOO_MANY_REQUESTS {
                assert_error(&r, "rate_limited");
                limited = Some(i);
                break;
            }
            assert_eq!(st, StatusCode::CREATED, "{r}");
        }
        assert!(limited.is_some_and(|i| i >= 20), "{limited:?}");
        let mut limited = false;
        for _ in 0..80 {
            let r = c
                .send(
                    "GET",
                    &search,
                    &[("authorization", &format!("Bearer {}", s.token))],
                    None,
                )
                .await;
            if r.status == StatusCode::TOO_MANY_REQUESTS {
                assert!(r.header("retry-after").is_some());
                limited = true;
                break;
            }
        }
        assert!(limited, "searches are limited");
        b.finish().await;
    }
}

#[tokio::test]
async fn the_index_follows_the_database_across_restarts() {
    for b in backends("ringside-kb-sync").await {
        let dir = std::env::temp_dir().join(format!("ringside-kb-index-{}", rand::random::<u64>()));
        let first = AppState {
            knowledge: std::sync::Arc::new(ringside_api::knowledge::Knowledge::open(&dir).unwrap()),
            ..common::state(&b.store)
        };
        let c = ctx_with(first);
        let s = c.site("sync", &["shop.example"]).await;
        let (_, keep) = c
            .add(&s, json!({"type": "qa", "question": "Do you sell vases?", "answer": "Yes, blue ones."}))
            .await;
        let (_, gone) = c
            .add(
                &s,
                json!({"type": "qa", "question": "Do you sell lamps?", "answer": "Yes, red ones."}),
            )
            .await;
        drop(c);
        // Between runs: one source deleted in the database behind the index's back, a new
        // index directory elsewhere (another node).
        b.store
            .delete_knowledge_source(&s.tenant, &s.widget, gone["id"].as_str().unwrap())
            .await
            .unwrap();
        let reopened = ringside_api::knowledge::Knowledge::open(&dir).unwrap();
        let r = reopened.sync(&b.store).await.unwrap();
        assert_eq!(
            (r.indexed, r.removed),
            (0, 1),
            "only the deleted one changes"
        );
        let other_dir = dir.with_extension("node2");
        let fresh = ringside_api::knowledge::Knowledge::open(&other_dir).unwrap();
        let r = fresh.sync(&b.store).await.unwrap();
        assert_eq!((r.indexed, r.removed), (1, 0));
        for k in [reopened, fresh] {
            let c = ctx_with(AppState {
                knowledge: std::sync::Arc::new(k),
                ..common::state(&b.store)
            });
            let a = c.ask(&s, "do you sell vases", "sync-1").await;
            assert_eq!(a["answer"], "Yes, blue ones.", "{a}");
            let a = c.ask(&s, "do you sell lamps", "sync-1").await;
            assert_eq!(a["answered"], false, "{a}");
        }
        assert_eq!(keep["status"], "ready");
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_dir_all(&other_dir);
        b.finish().await;
    }
}

#[tokio::test]
async fn the_assistant_answers_in_chat_until_a_person_takes_over() {
    for b in backends("ringside-kb-chat").await {
        let n = b.name;
        let c = ctx(&b.store);
        let s = c.site("chat", &["shop.example"]).await;
        let chat = format!("/api/widgets/{}/chat?key={}", s.widget, s.key);
        let origin = ("origin", "https://shop.example");
        let say =
            |text: &str, session: &str| json!({"sessionId": session, "message": text}).to_string();
        // No knowledge: the team answers, the assistant stays out.
        let r = c
            .send(
                "POST",
                &chat,
                &[origin],
                Some(&say("Do you ship to Spain?", "chat-visitor-1")),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "[{n}] {}", r.body);
        assert!(r.body.get("message").is_none(), "{}", r.body);
        assert!(r.body.get("reply").is_none());

        let (st, _) = c
            .add(
                &s,
                json!({"type": "text", "title": "Shipping", "text": SHIPPING}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED);
        let mut events = c.state.bus.subscribe(&s.tenant);
        let r = c
            .send(
                "POST",
                &chat,
                &[origin],
                Some(&say("Do you ship to Spain?", "chat-visitor-2")),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let text = r.body["message"].as_str().unwrap();
        assert!(text.contains("European Union"), "[{n}] {}", r.body);
        assert_eq!(r.body["reply"]["body"], text);
        assert_eq!(r.body["reply"]["answered"], true);
        assert_eq!(r.body["reply"]["sources"][0]["title"], "Shipping");
        assert_eq!(
            r.body["metadata"],
            json!({"model": "extractive", "tokens": 0})
        );
        let reply_id = r.body["reply"]["id"].as_str().unwrap().to_owned();
        // The page's socket gets the same message (same id) as any other reply.
        let mut seen = false;
        while let Ok(e) = events.try_recv() {
            if e.kind == "message:new" && e.data["sender"] == "assistant" {
                assert_eq!(e.data["id"], reply_id.as_str());
                seen = true;
            }
        }
        assert!(seen, "[{n}] the assistant's message was published");

        // Nothing answers: it says so once, offers a person, and the inbox hears of it.
        let r = c
            .send(
                "POST",
                &chat,
                &[origin],
                Some(&say("What is your refund policy?", "chat-visitor-2")),
            )
            .await;
        assert_eq!(r.body["reply"]["answered"], false, "{}", r.body);
        assert_eq!(r.body["reply"]["humanOffered"], true);
        let mut qualified = None;
        while let Ok(e) = events.try_recv() {
            if e.kind == "conversation:qualified" {
                qualified = Some(e.data.clone());
            }
        }
        let q = qualified.expect("conversation:qualified");
        assert_eq!(q["reason"], "not_found");
        assert_eq!(q["visitorId"], "chat-visitor-2");
        let r = c
            .send(
                "POST",
                &chat,
                &[origin],
                Some(&say(
                    "and what about refunds for sale items?",
                    "chat-visitor-2",
                )),
            )
            .await;
        assert!(
            r.body.get("reply").is_none(),
            "not said twice in a row: {}",
            r.body
        );
        // Asking for a person hands over.
        let r = c
            .send(
                "POST",
                &chat,
                &[origin],
                Some(&say("Can I talk to a human?", "chat-visitor-2")),
            )
            .await;
        assert_eq!(r.body["reply"]["humanOffered"], true, "{}", r.body);

        // An operator writes: from then on the assistant stays out of this conversation.
        let (st, body) = c
            .json(
                "POST",
                &format!("/api/v1/widgets/{}/messages", s.widget),
                &c.token(&s.email, &["messages:write"]).await,
                json!({"visitorId": "chat-visitor-2", "body": "Hi, Ana here. How can I help?"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{body}");
        let r = c
            .send(
                "POST",
                &chat,
                &[origin],
                Some(&say("Do you ship to Spain?", "chat-visitor-2")),
            )
            .await;
        assert!(r.body.get("reply").is_none(), "{}", r.body);
        // Another visitor still gets answers.
        let r = c
            .send(
                "POST",
                &chat,
                &[origin],
                Some(&say("Do you ship to Spain?", "chat-visitor-3")),
            )
            .await;
        assert!(r.body["reply"]["answered"] == true, "{}", r.body);
        let history = c
            .send(
                "GET",
                &format!(
                    "/api/widgets/{}/messages?key={}&visitorId=chat-visitor-2",
                    s.widget, s.key
                ),
                &[origin],
                None,
            )
            .await;
        let senders: Vec<&str> = history.body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["sender"].as_str().unwrap())
            .collect();
        assert_eq!(
            senders,
            [
                "visitor",
                "assistant",
                "visitor",
                "assistant",
                "visitor",
                "visitor",
                "assistant",
                "operator",
                "visitor"
            ],
            "[{n}]"
        );
        b.finish().await;
    }
}
