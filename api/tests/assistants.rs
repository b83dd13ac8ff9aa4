//! A widget's assistant (the live-chat shape's `assistantId`), on SQLite and PostgreSQL: set,
//! shown in the widget config, checked on the chat, its name in the greeting, its handover
//! rules (on request, on low confidence, during opening hours only), switched off; and the
//! refusals of its endpoints.

mod common;

use axum::http::StatusCode;
use common::{assert_error, backends, uniq, Harness};
use serde_json::{json, Value};

type Ctx = common::StateApp;

const ORIGIN: (&str, &str) = ("origin", "https://shop.example");

/// The widget's public config.
async fn config(c: &Ctx, widget: &str, key: &str) -> Value {
    let url = format!("/api/widgets/{widget}/config?key={key}");
    c.send("GET", &url, &[ORIGIN], None).await.body
}

#[tokio::test]
async fn the_widgets_assistant_answers_by_its_rules() {
    for b in backends("ringside-asst").await {
        let n = b.name;
        let c = Ctx::new(common::state(&b.store));
        let email = format!("{}@as.example", uniq("as"));
        let token = c.token(&email, &["widgets:read", "widgets:write"]).await;
        let tenant = b.store.ensure_user(&email).await.unwrap().tenant_id;
        let (_, w) = c
            .json(
                "POST",
                "/api/v1/widgets",
                &token,
                json!({"name": "Casa Azul", "allowedDomains": ["shop.example"]}),
            )
            .await;
        let (widget, key) = (
            w["id"].as_str().unwrap().to_owned(),
            w["publicKey"].as_str().unwrap().to_owned(),
        );
        let path = format!("/api/v1/widgets/{widget}/assistant");
        let (st, _) = c.call("GET", &path, Some(&token), None).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "none yet");
        let (st, _) = c
            .json("POST", &format!("/api/v1/widgets/{widget}/knowledge/sources"), &token,
                  json!({"type": "text", "title": "Shipping", "text": "Delivery to Spain takes three working days."}))
            .await;
        assert_eq!(st, StatusCode::CREATED);
        let (st, a) = c
            .json(
                "PUT",
                &path,
                &token,
                json!({"name": "Ana", "tone": "warm and brief"}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "[{n}] {a}");
        let id = a["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("asst_"), "{a}");
        assert_eq!(
            a["handover"],
            json!({"onRequest": true, "lowConfidence": true, "duringHoursOnly": false})
        );
        let (_, again) = c.json("PUT", &path, &token, json!({"name": "Ana"})).await;
        assert_eq!(again["id"], id.as_str(), "the id stays");

        // The widget config names it; the chat takes it and refuses another.
        assert_eq!(
            config(&c, &widget, &key).await["config"]["assistantId"],
            id.as_str()
        );
        let chat = format!("/api/widgets/{widget}/chat?key={key}");
        let say = |session: &str, text: &str, assistant: &str| {
            json!({"sessionId": session, "message": text, "assistantId": assistant}).to_string()
        };
        let r = c
            .send(
                "POST",
                &chat,
                &[ORIGIN],
                Some(&say("as-visitor-1", "hi", "asst-other")),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert_error(&r.body, "invalid_body");
        let r = c
            .send(
                "POST",
                &chat,
                &[ORIGIN],
                Some(&say("as-visitor-1", "hi", &id)),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(
            r.body["message"]
                .as_str()
                .unwrap()
                .starts_with("Hello! I'm Ana."),
            "{}",
            r.body
        );
        let r = c
            .send(
                "POST",
                &chat,
                &[ORIGIN],
                Some(&say(
                    "as-visitor-1",
                    "How long does delivery to Spain take?",
                    &id,
                )),
            )
            .await;
        assert!(
            r.body["message"]
                .as_str()
                .unwrap()
                .contains("three working days"),
            "{}",
            r.body
        );

        // No handover on request, none on low confidence: it just says it does not know, and
        // the inbox is not alerted.
        let (st, _) = c
            .json("PUT", &path, &token, json!({"name": "Ana", "handover": {"onRequest": false, "lowConfidence": false, "duringHoursOnly": false}}))
            .await;
        assert_eq!(st, StatusCode::OK);
        let mut events = c.state.bus.subscribe(&tenant);
        for q in ["Can I talk to a human?", "What is your refund policy?"] {
            let r = c
                .send("POST", &chat, &[ORIGIN], Some(&say("as-visitor-2", q, &id)))
                .await;
            assert_eq!(
                r.body["message"], "Sorry, I don't know the answer to that.",
                "[{n}] {q}: {}",
                r.body
            );
            assert_eq!(r.body["reply"]["humanOffered"], false);
        }
        let qualified = |events: &mut tokio::sync::broadcast::Receiver<
            std::sync::Arc<ringside_api::realtime::Event>,
        >| {
            let mut n = 0;
            while let Ok(e) = events.try_recv() {
                if e.kind == "conversation:qualified" {
                    n += 1;
                }
            }
            n
        };
        assert_eq!(qualified(&mut events), 0);
        // Hand over only during opening hours: nobody is at the console, so the visitor is
        // offered a message or callback and the inbox is not alerted.
        let (st, _) = c
            .json("PUT", &path, &token, json!({"name": "Ana", "handover": {"onRequest": true, "lowConfidence": true, "duringHoursOnly": true}}))
            .await;
        assert_eq!(st, StatusCode::OK);
        let r = c
            .send(
                "POST",
                &chat,
                &[ORIGIN],
                Some(&say("as-visitor-3", "Can I talk to a human?", &id)),
            )
            .await;
        assert_eq!(r.body["reply"]["humanOffered"], true, "{}", r.body);
        assert!(r.body["message"]
            .as_str()
            .unwrap()
            .contains("isn't available right now"));
        assert_eq!(qualified(&mut events), 0);
        // Any hour: the same request goes to the inbox.
        let (st, _) = c.json("PUT", &path, &token, json!({"name": "Ana"})).await;
        assert_eq!(st, StatusCode::OK);
        let _ = c
            .send(
                "POST",
                &chat,
                &[ORIGIN],
                Some(&say("as-visitor-4", "Can I talk to a human?", &id)),
            )
            .await;
        assert_eq!(qualified(&mut events), 1);

        // Switched off: the chat is the team's alone, and the config names no assistant.
        let (st, _) = c
            .json(
                "PUT",
                &path,
                &token,
                json!({"name": "Ana", "enabled": false}),
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(
            config(&c, &widget, &key).await["config"]["assistantId"],
            Value::Null
        );
        let r = c
            .send("POST", &chat, &[ORIGIN], Some(&json!({"sessionId": "as-visitor-5", "message": "How long does delivery to Spain take?"}).to_string()))
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.get("reply").is_none(), "{}", r.body);
        let (st, _) = c.call("DELETE", &path, Some(&token), None).await;
        assert_eq!(st, StatusCode::NO_CONTENT);
        let (st, _) = c.call("DELETE", &path, Some(&token), None).await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        // Back to the defaults: answers again.
        let r = c
            .send("POST", &chat, &[ORIGIN], Some(&json!({"sessionId": "as-visitor-6", "message": "How long does delivery to Spain take?"}).to_string()))
            .await;
        assert!(r.body["reply"]["answered"] == true, "{}", r.body);
        b.finish().await;
    }
}

/// An assistant given some of the widget's sources answers from those only (none: from
/// nothing, so it says it does not know), and one given no integration never starts a lookup
/// (the lookup log stays empty) while one given the order integration asks for its numbers.
#[tokio::test]
async fn an_assistant_uses_only_the_sources_and_integrations_it_is_given() {
    for b in backends("ringside-asst-pick").await {
        let n = b.name;
        let c = Ctx::new(common::state(&b.store));
        let email = format!("{}@as.example", uniq("asp"));
        let token = c
            .token(&email, &["widgets:read", "widgets:write", "messages:read"])
            .await;
        let (_, w) = c
            .json(
                "POST",
                "/api/v1/widgets",
                &token,
                json!({"name": "Casa Azul", "allowedDomains": ["shop.example"]}),
            )
            .await;
        let (widget, key) = (
            w["id"].as_str().unwrap().to_owned(),
            w["publicKey"].as_str().unwrap().to_owned(),
        );
        let sources = format!("/api/v1/widgets/{widget}/knowledge/sources");
        let mut ids = Vec::new();
        for body in [
            json!({"type": "text", "title": "Shipping", "text": "Delivery to Spain takes three working days."}),
            json!({"type": "text", "title": "Returns", "text": "Returns are accepted within thirty days of delivery."}),
        ] {
            let (st, s) = c.json("POST", &sources, &token, body).await;
            assert_eq!(st, StatusCode::CREATED, "{s}");
            ids.push(s["id"].as_str().unwrap().to_owned());
        }
        let (st, order) = c
            .json(
                "POST",
                "/api/v1/integrations",
                &token,
                json!({"kind": "order", "name": "Shop orders",
                       "urlTemplate": "https://orders.shop.example/api/orders/{reference}?email={email}",
                       "referencePattern": r"ORD-\d{4}", "verifier": "email",
                       "fieldMap": [{"path": "status", "label": "Status"}]}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "[{n}] {order}");
        let order_id = order["id"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/widgets/{widget}/assistant");
        let (st, a) = c
            .json(
                "PUT",
                &path,
                &token,
                json!({"name": "Ana", "sourceIds": [ids[0]], "integrationIds": []}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "[{n}] {a}");
        assert_eq!(a["sourceIds"], json!([ids[0]]));
        assert_eq!(a["integrationIds"], json!([]));
        let (_, got) = c.call("GET", &path, Some(&token), None).await;
        assert_eq!(got["sourceIds"], json!([ids[0]]));

        let ask = |q: &str| {
            json!({"clientId": widget, "widgetKey": key, "message": q,
                   "sessionId": "pick-visitor-0000000001", "domain": "shop.example"})
            .to_string()
        };
        let answer = |r: &common::Resp| r.body["answer"].as_str().unwrap_or_default().to_owned();
        let r = c
            .send(
                "POST",
                "/widget/ask",
                &[],
                Some(&ask("How long does delivery to Spain take?")),
            )
            .await;
        assert!(
            answer(&r).contains("three working days"),
            "[{n}] {}",
            r.body
        );
        let r = c
            .send(
                "POST",
                "/widget/ask",
                &[],
                Some(&ask("How many days do I have for returns?")),
            )
            .await;
        assert!(
            answer(&r).starts_with("Sorry, I don't know"),
            "[{n}] {}",
            r.body
        );
        assert_eq!(r.body["sources"], json!([]));
        // The chat: an order question with no integration given is not looked up.
        let chat = format!("/api/widgets/{widget}/chat?key={key}");
        let say = |text: &str| {
            json!({"sessionId": "pick-visitor-0000000002", "message": text}).to_string()
        };
        let r = c
            .send(
                "POST",
                &chat,
                &[ORIGIN],
                Some(&say("Where is my order ORD-1234?")),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(
            !r.body["message"]
                .as_str()
                .unwrap()
                .starts_with("To look up"),
            "{}",
            r.body
        );
        let conversation = r.body["conversationId"].as_str().unwrap().to_owned();
        let lookups = format!("/api/v1/widgets/{widget}/conversations/{conversation}/lookups");
        let (st, log) = c.call("GET", &lookups, Some(&token), None).await;
        assert_eq!(st, StatusCode::OK, "{log}");
        assert_eq!(log["data"], json!([]), "{log}");

        // Given the order integration and the returns page only.
        let (st, a) = c
            .json(
                "PUT",
                &path,
                &token,
                json!({"name": "Ana", "sourceIds": [ids[1], ids[1]], "integrationIds": [order_id]}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{a}");
        assert_eq!(a["sourceIds"], json!([ids[1]]), "repeats dropped");
        let r = c
            .send(
                "POST",
                &chat,
                &[ORIGIN],
                Some(&say("Where is my order ORD-1234?")),
            )
            .await;
        assert!(
            r.body["message"]
                .as_str()
                .unwrap()
                .starts_with("To look up your order"),
            "{}",
            r.body
        );
        let (_, log) = c.call("GET", &lookups, Some(&token), None).await;
        assert_eq!(log["data"].as_array().unwrap().len(), 1, "{log}");
        let r = c
            .send(
                "POST",
                "/widget/ask",
                &[],
                Some(&ask("How long does delivery to Spain take?")),
            )
            .await;
        assert!(answer(&r).starts_with("Sorry, I don't know"), "{}", r.body);
        let r = c
            .send(
                "POST",
                "/widget/ask",
                &[],
                Some(&ask("How many days do I have for returns?")),
            )
            .await;
        assert!(answer(&r).contains("thirty days"), "{}", r.body);
        // No source at all: it knows nothing from the knowledge base.
        let (st, _) = c
            .json(
                "PUT",
                &path,
                &token,
                json!({"name": "Ana", "sourceIds": []}),
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        let r = c
            .send(
                "POST",
                "/widget/ask",
                &[],
                Some(&ask("How many days do I have for returns?")),
            )
            .await;
        assert!(answer(&r).starts_with("Sorry, I don't know"), "{}", r.body);
        // A deleted source simply drops out of the choice.
        let (st, _) = c
            .json(
                "PUT",
                &path,
                &token,
                json!({"name": "Ana", "sourceIds": [ids[0]]}),
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        let (st, _) = c
            .call(
                "DELETE",
                &format!("{sources}/{}", ids[0]),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::NO_CONTENT);
        let r = c
            .send(
                "POST",
                "/widget/ask",
                &[],
                Some(&ask("How long does delivery to Spain take?")),
            )
            .await;
        assert!(answer(&r).starts_with("Sorry, I don't know"), "{}", r.body);
        // Null again: every source, including ones added later.
        let (st, _) = c
            .json(
                "PUT",
                &path,
                &token,
                json!({"name": "Ana", "sourceIds": null}),
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        let r = c
            .send(
                "POST",
                "/widget/ask",
                &[],
                Some(&ask("How many days do I have for returns?")),
            )
            .await;
        assert!(answer(&r).contains("thirty days"), "{}", r.body);
        // Another widget's source is shared when chosen: its knowledge answers here too.
        let (_, w2) = c
            .json("POST", "/api/v1/widgets", &token, json!({"name": "Other"}))
            .await;
        let (st, other) = c
            .json(
                "POST",
                &format!(
                    "/api/v1/widgets/{}/knowledge/sources",
                    w2["id"].as_str().unwrap()
                ),
                &token,
                json!({"type": "qa", "question": "Are you open on Sundays?", "answer": "No, we rest on Sundays."}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{other}");
        let r = c
            .send(
                "POST",
                "/widget/ask",
                &[],
                Some(&ask("Are you open on Sundays?")),
            )
            .await;
        assert!(
            answer(&r).starts_with("Sorry, I don't know"),
            "not shared yet: {}",
            r.body
        );
        let (st, a) = c
            .json(
                "PUT",
                &path,
                &token,
                json!({"name": "Ana", "sourceIds": [ids[1], other["id"]]}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{a}");
        let r = c
            .send(
                "POST",
                "/widget/ask",
                &[],
                Some(&ask("Are you open on Sundays?")),
            )
            .await;
        assert!(
            answer(&r).contains("we rest on Sundays"),
            "[{n}] {}",
            r.body
        );
        // The chat answers from shared knowledge alone too.
        let r = c
            .send(
                "POST",
                &chat,
                &[ORIGIN],
                Some(&say("Are you open on Sundays?")),
            )
            .await;
        assert!(
            r.body["message"]
                .as_str()
                .unwrap()
                .contains("we rest on Sundays"),
            "{}",
            r.body
        );
        // Another account's source never.
        let stranger = c
            .token(
                &format!("{}@as.example", uniq("asp-other")),
                &["widgets:read", "widgets:write"],
            )
            .await;
        let (_, sw) = c
            .json(
                "POST",
                "/api/v1/widgets",
                &stranger,
                json!({"name": "Theirs"}),
            )
            .await;
        let (st, theirs) = c
            .json(
                "POST",
                &format!(
                    "/api/v1/widgets/{}/knowledge/sources",
                    sw["id"].as_str().unwrap()
                ),
                &stranger,
                json!({"type": "qa", "question": "Secret?", "answer": "Their secret."}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{theirs}");
        let (st, r) = c
            .json(
                "PUT",
                &path,
                &token,
                json!({"name": "Ana", "sourceIds": [theirs["id"]]}),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
        assert!(r["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("sourceIds"));
        b.finish().await;
    }
}

#[tokio::test]
async fn refusals_of_the_assistant_endpoints() {
    for b in backends("ringside-asst-ref").await {
        let c = Ctx::new(common::state(&b.store));
        let email = format!("{}@as.example", uniq("asr"));
        let token = c.token(&email, &["widgets:read", "widgets:write"]).await;
        let reader = c.token(&email, &["widgets:read"]).await;
        let (_, w) = c
            .json("POST", "/api/v1/widgets", &token, json!({"name": "W"}))
            .await;
        let path = format!("/api/v1/widgets/{}/assistant", w["id"].as_str().unwrap());
        for m in ["GET", "PUT", "DELETE"] {
            let (st, body) = c.call(m, &path, None, Some("{}")).await;
            assert_eq!(st, StatusCode::UNAUTHORIZED, "{m}");
            assert_error(&body, "unauthorized");
        }
        let (st, _) = c.json("PUT", &path, &reader, json!({"name": "A"})).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        let (st, _) = c
            .json(
                "PUT",
                "/api/v1/widgets/nope/assistant",
                &token,
                json!({"name": "A"}),
            )
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        let other = c
            .token(
                &format!("{}@as.example", uniq("aso")),
                &["widgets:read", "widgets:write"],
            )
            .await;
        let (st, _) = c.json("PUT", &path, &other, json!({"name": "A"})).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "another tenant's widget");
        for (body, field) in [
            (json!({"name": ""}), "name"),
            (json!({"name": "x".repeat(61)}), "name"),
            (json!({"name": "A", "tone": "t".repeat(201)}), "tone"),
            (
                json!({"name": "A", "sourceIds": ["ks_not_here"]}),
                "sourceIds",
            ),
            (
                json!({"name": "A", "integrationIds": ["int_not_here"]}),
                "integrationIds",
            ),
            (
                json!({"name": "A", "sourceIds": vec!["x"; 501]}),
                "sourceIds",
            ),
        ] {
            let (st, r) = c.json("PUT", &path, &token, body).await;
            assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
            assert!(
                r["error"]["message"].as_str().unwrap().starts_with(field),
                "{r}"
            );
        }
        let (st, _) = c
            .json("PUT", &path, &token, json!({"name": "A", "extra": 1}))
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
        let mut limited = false;
        for _ in 0..40 {
            let (st, r) = c.json("PUT", &path, &token, json!({"name": "A"})).await;
            if st == StatusCode::TOO_MANY_REQUESTS {
                assert_error(&r, "rate_limited");
                limited = true;
                break;
            }
            assert_eq!(st, StatusCode::OK, "{r}");
        }
        assert!(limited);
        b.finish().await;
    }
}
