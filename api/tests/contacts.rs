//! Router tests for contacts (`/api/v1/contacts`, [`ringside_api::contacts`]): leads filed
//! from callbacks, search, identity edits, visitor sessions, the unified timeline and merges
//! that keep everything; refusals (401, 403, cross-tenant 404, 400/422/409 with nothing
//! changed) — on SQLite, and on PostgreSQL when `RINGSIDE_TEST_POSTGRES_URL` is set.

mod common;

use axum::http::StatusCode;
use common::{assert_error, uniq, Harness};
use serde_json::{json, Value};

const ORIGIN: (&str, &str) = ("origin", "https://example.com");
const READ: &[&str] = &["messages:read"];
const ALL: &[&str] = &[
    "messages:read",
    "messages:write",
    "widgets:write",
    "widgets:read",
];

/// The test context: the router and its store.
type Ctx = common::App;

struct Tenant {
    token: String,
    widget: String,
    key: String,
}

impl Ctx {
    async fn tenant(&self, prefix: &str) -> Tenant {
        let token = self
            .token(&format!("{}@c.example", uniq(prefix)), ALL)
            .await;
        let (st, w) = self
            .json(
                "POST",
                "/api/v1/widgets",
                &token,
                json!({"name": "Site", "allowedDomains": ["example.com"]}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{w}");
        Tenant {
            token,
            widget: w["id"].as_str().unwrap().into(),
            key: w["publicKey"].as_str().unwrap().into(),
        }
    }

    /// A page view from `visitor` (so the presence knows it).
    async fn visit(&self, t: &Tenant, visitor: &str) {
        let auth = format!("Bearer {}", t.key);
        let body = json!({"visitorId": visitor, "event": "page_view",
                          "url": "https://example.com/pricing", "title": "Pricing"});
        let r = self
            .send(
                "POST",
                &format!("/api/widgets/{}/track", t.widget),
                &[ORIGIN, ("authorization", &auth)],
                Some(&body.to_string()),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }

    /// A public callback request (JSON).
    async fn callback(&self, t: &Tenant, body: Value) -> Value {
        let r = self
            .send(
                "POST",
                &format!("/api/widgets/{}/callbacks?key={}", t.widget, t.key),
                &[ORIGIN],
                Some(&body.to_string()),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body
    }

    async fn contacts(&self, t: &Tenant, q: &str) -> Vec<Value> {
        let (st, b) = self
            .call("GET", &format!("/api/v1/contacts{q}"), Some(&t.token), None)
            .await;
        assert_eq!(st, StatusCode::OK, "{b}");
        b["contacts"].as_array().unwrap().clone()
    }

    async fn contact(&self, t: &Tenant, id: &str) -> Value {
        let (st, b) = self
            .call(
                "GET",
                &format!("/api/v1/contacts/{id}"),
                Some(&t.token),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{b}");
        b
    }
}

fn types(timeline: &Value, kind: &str) -> Vec<Value> {
    timeline
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == kind)
        .cloned()
        .collect()
}

#[tokio::test]
async fn leads_timeline_and_merge_keep_everything() {
    for backend in common::backends("ringside-contacts").await {
        let name = backend.name;
        let c = Ctx::on(&backend.store);
        let t = c.tenant("ct").await;
        for v in ["vis-a1", "vis-a2", "vis-b1"] {
            c.visit(&t, v).await;
        }
        // A callback from vis-a1 creates a contact; one from vis-a2 with the same email files
        // under it too.
        c.callback(
            &t,
            json!({"name": "Scott Tabor", "email": "Scott@Example.com", "phone": "+1 555 0100",
                   "message": "Call me about pricing", "visitorId": "vis-a1"}),
        )
        .await;
        c.callback(
            &t,
            json!({"email": "scott@example.com", "message": "Still waiting", "visitorId": "vis-a2"}),
        )
        .await;
        let list = c.contacts(&t, "?q=scott").await;
        assert_eq!(list.len(), 1, "[{name}] {list:?}");
        let a = list[0]["id"].as_str().unwrap().to_owned();
        assert_eq!(list[0]["name"], "Scott Tabor");
        assert_eq!(list[0]["email"], "scott@example.com");
        assert_eq!(list[0]["status"], "lead");

        // A second contact made by hand, with vis-b1 attached.
        let (st, b) = c
            .json(
                "POST",
                "/api/v1/contacts",
                &t.token,
                json!({"firstName": "S.", "lastName": "Tabor", "email": "stabor@absg.example",
                       "companyName": "ABSG"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "[{name}] {b}");
        let b = b["id"].as_str().unwrap().to_owned();
        let (st, s) = c
            .json(
                "POST",
                &format!("/api/v1/contacts/{b}/visitor-sessions"),
                &t.token,
                json!({"widgetId": t.widget, "visitorId": "vis-b1"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "[{name}] {s}");
        assert_eq!(s["contactId"], b.as_str());
        // vis-b1 on contact A is a conflict: it belongs to B.
        let (st, e) = c
            .json(
                "POST",
                &format!("/api/v1/contacts/{a}/visitor-sessions"),
                &t.token,
                json!({"widgetId": t.widget, "visitorId": "vis-b1"}),
            )
            .await;
        assert_eq!(st, StatusCode::CONFLICT, "[{name}] {e}");
        assert_error(&e, "conflict");
        // A visitor never seen is 404.
        let (st, _) = c
            .json(
                "POST",
                &format!("/api/v1/contacts/{a}/visitor-sessions"),
                &t.token,
                json!({"widgetId": t.widget, "visitorId": "vis-never"}),
            )
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND);

        // Messages and notes on every session.
        for (v, body) in [
            ("vis-a1", "a1 says hi"),
            ("vis-a2", "a2 says hi"),
            ("vis-b1", "b1 says hi"),
        ] {
            let (st, m) = c
                .json(
                    "POST",
                    &format!("/api/v1/widgets/{}/messages", t.widget),
                    &t.token,
                    json!({"visitorId": v, "body": body}),
                )
                .await;
            assert_eq!(st, StatusCode::CREATED, "{m}");
            let (st, n) = c
                .json(
                    "POST",
                    &format!("/api/v1/widgets/{}/visitors/{v}/notes", t.widget),
                    &t.token,
                    json!({"body": format!("note {v}"), "visibility": "team"}),
                )
                .await;
            assert_eq!(st, StatusCode::CREATED, "{n}");
        }
        c.callback(
            &t,
            json!({"phone": "+44 20 7946 0000", "visitorId": "vis-b1", "name": "S Tabor"}),
        )
        .await;

        let ca = c.contact(&t, &a).await;
        assert_eq!(ca["sessions"].as_array().unwrap().len(), 2, "[{name}] {ca}");
        assert_eq!(types(&ca["timeline"], "callback").len(), 2);
        assert_eq!(types(&ca["timeline"], "message").len(), 2);
        assert_eq!(types(&ca["timeline"], "visit").len(), 2);
        let act = types(&ca["timeline"], "activity");
        assert_eq!(act.len(), 2, "one page view per session");
        assert_eq!(act[0]["url"], "https://example.com/pricing");
        let cb = c.contact(&t, &b).await;
        assert_eq!(cb["sessions"].as_array().unwrap().len(), 1);
        // Newest first.
        let ats: Vec<i64> = ca["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["at"].as_i64().unwrap())
            .collect();
        assert!(ats.windows(2).all(|w| w[0] >= w[1]), "{ats:?}");

        // Merge B into A: everything of both is on A afterwards.
        let (st, m) = c
            .json(
                "POST",
                &format!("/api/v1/contacts/{a}/merge"),
                &t.token,
                json!({"sourceContactId": b, "reason": "Same email and phone"}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "[{name}] {m}");
        assert_eq!(m["merge"]["sessionsMoved"], 1);
        assert_eq!(m["contact"]["otherEmails"], json!(["stabor@absg.example"]));
        assert_eq!(m["contact"]["otherPhones"], json!(["+44 20 7946 0000"]));
        assert_eq!(m["contact"]["companyName"], "ABSG");
        let ca = c.contact(&t, &a).await;
        let mut visitors: Vec<&str> = ca["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["visitorId"].as_str().unwrap())
            .collect();
        visitors.sort_unstable();
        assert_eq!(visitors, ["vis-a1", "vis-a2", "vis-b1"], "[{name}]");
        let mut bodies: Vec<String> = types(&ca["timeline"], "message")
            .iter()
            .map(|m| m["body"].as_str().unwrap().to_owned())
            .collect();
        bodies.sort();
        assert_eq!(bodies, ["a1 says hi", "a2 says hi", "b1 says hi"]);
        assert_eq!(types(&ca["timeline"], "note").len(), 3);
        assert_eq!(types(&ca["timeline"], "visit").len(), 3);
        assert_eq!(types(&ca["timeline"], "activity").len(), 3);
        assert_eq!(types(&ca["timeline"], "callback").len(), 3);
        let merges = types(&ca["timeline"], "merge");
        assert_eq!(merges.len(), 1);
        assert_eq!(merges[0]["reason"], "Same email and phone");
        assert_eq!(merges[0]["source"]["email"], "stabor@absg.example");
        // The source is kept, marked, and no longer listed.
        let cb = c.contact(&t, &b).await;
        assert_eq!(cb["mergedIntoContactId"], a.as_str());
        assert_eq!(cb["email"], "stabor@absg.example");
        let all: Vec<Value> = c.contacts(&t, "").await;
        assert_eq!(all.len(), 1);
        assert_eq!(all[0]["id"], a.as_str());
        // Search by B's old email or phone digits finds A.
        assert_eq!(c.contacts(&t, "?q=absg.example").await[0]["id"], a.as_str());
        assert_eq!(c.contacts(&t, "?q=2079460000").await[0]["id"], a.as_str());
        // Merging or editing the merged one is refused; nothing changes.
        let (st, e) = c
            .json(
                "POST",
                &format!("/api/v1/contacts/{a}/merge"),
                &t.token,
                json!({"sourceContactId": b, "reason": "again"}),
            )
            .await;
        assert_eq!(st, StatusCode::CONFLICT, "{e}");
        let (st, _) = c
            .json(
                "PATCH",
                &format!("/api/v1/contacts/{b}"),
                &t.token,
                json!({"firstName": "X"}),
            )
            .await;
        assert_eq!(st, StatusCode::CONFLICT);
        assert_eq!(c.contact(&t, &b).await["firstName"], "S.");

        // PATCH identity fields; null clears.
        let (st, p) = c
            .json(
                "PATCH",
                &format!("/api/v1/contacts/{a}"),
                &t.token,
                json!({"firstName": "Scott", "lastName": "Tabor", "companyName": null,
                       "status": "qualified"}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{p}");
        assert_eq!(p["companyName"], Value::Null);
        assert_eq!(p["status"], "qualified");
        assert_eq!(p["email"], "scott@example.com");
        backend.finish().await;
    }
}

#[tokio::test]
async fn refusals_change_nothing() {
    for backend in common::backends("ringside-contacts-refusals").await {
        let name = backend.name;
        let c = Ctx::on(&backend.store);
        let t = c.tenant("cr").await;
        let other = c.tenant("co").await;
        c.visit(&t, "vis-one1").await;
        c.visit(&other, "vis-other").await;
        let (_, mine) = c
            .json(
                "POST",
                "/api/v1/contacts",
                &t.token,
                json!({"email": "mine@example.com", "firstName": "Mine"}),
            )
            .await;
        let mine = mine["id"].as_str().unwrap().to_owned();
        let (_, theirs) = c
            .json(
                "POST",
                "/api/v1/contacts",
                &other.token,
                json!({"email": "theirs@example.com"}),
            )
            .await;
        let theirs = theirs["id"].as_str().unwrap().to_owned();
        let read_only = c.token(&format!("{}@c.example", uniq("ro")), READ).await;
        let no_scope = c
            .token(&format!("{}@c.example", uniq("ns")), &["widgets:read"])
            .await;
        let one = format!("/api/v1/contacts/{mine}");
        let sessions = format!("{one}/visitor-sessions");
        let merge = format!("{one}/merge");
        let endpoints: Vec<(&str, &str, Option<Value>, bool)> = vec![
            ("GET", "/api/v1/contacts", None, false),
            (
                "POST",
                "/api/v1/contacts",
                Some(json!({"email": "x@example.com"})),
                true,
            ),
            ("GET", &one, None, false),
            ("PATCH", &one, Some(json!({"firstName": "Y"})), true),
            (
                "POST",
                &sessions,
                Some(json!({"widgetId": t.widget, "visitorId": "vis-one1"})),
                true,
            ),
            (
                "POST",
                &merge,
                Some(json!({"sourceContactId": theirs, "reason": "r"})),
                true,
            ),
        ];
        for (method, path, body, write) in &endpoints {
            let body = body.as_ref().map(Value::to_string);
            let (st, e) = c.call(method, path, None, body.as_deref()).await;
            assert_eq!(st, StatusCode::UNAUTHORIZED, "[{name}] {method} {path}");
            assert_error(&e, "unauthorized");
            let (st, e) = c.call(method, path, Some(&no_scope), body.as_deref()).await;
            assert_eq!(st, StatusCode::FORBIDDEN, "[{name}] {method} {path}");
            assert_error(&e, "forbidden");
            if *write {
                let (st, _) = c
                    .call(method, path, Some(&read_only), body.as_deref())
                    .await;
                assert_eq!(st, StatusCode::FORBIDDEN, "[{name}] {method} {path}");
            }
        }
        // Another tenant's contact: 404 on every endpoint naming it, from the other side.
        for (method, path, body) in [
            ("GET", one.clone(), None),
            ("PATCH", one.clone(), Some(json!({"firstName": "Hijack"}))),
            (
                "POST",
                sessions.clone(),
                Some(json!({"widgetId": other.widget, "visitorId": "vis-other"})),
            ),
            (
                "POST",
                merge.clone(),
                Some(json!({"sourceContactId": theirs, "reason": "r"})),
            ),
        ] {
            let body = body.map(|b| b.to_string());
            let (st, e) = c
                .call(method, &path, Some(&other.token), body.as_deref())
                .await;
            assert_eq!(st, StatusCode::NOT_FOUND, "[{name}] {method} {path} {e}");
            assert_error(&e, "not_found");
        }
        // Another tenant's widget in the body, or their contact as merge source: 404.
        let (st, _) = c
            .json(
                "POST",
                &sessions,
                &t.token,
                json!({"widgetId": other.widget, "visitorId": "vis-other"}),
            )
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        let (st, _) = c
            .json(
                "POST",
                &merge,
                &t.token,
                json!({"sourceContactId": theirs, "reason": "r"}),
            )
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        assert!(c
            .contacts(&other, "")
            .await
            .iter()
            .any(|x| x["id"] == theirs.as_str()));
        // Their search never shows mine.
        assert!(c.contacts(&other, "?q=mine").await.is_empty());

        // Bad bodies: 400 for malformed or unknown fields, 422 for bad values.
        for (method, path, body, code) in [
            ("POST", "/api/v1/contacts", "{", "invalid_body"),
            (
                "POST",
                "/api/v1/contacts",
                r#"{"nickname":"x"}"#,
                "invalid_body",
            ),
            (
                "POST",
                "/api/v1/contacts",
                r#"{"companyName":"Only"}"#,
                "invalid_field",
            ),
            (
                "POST",
                "/api/v1/contacts",
                r#"{"email":"nope"}"#,
                "invalid_field",
            ),
            (
                "PATCH",
                one.as_str(),
                r#"{"status":"vip"}"#,
                "invalid_field",
            ),
            (
                "PATCH",
                one.as_str(),
                r#"{"phone":"call me"}"#,
                "invalid_field",
            ),
            ("PATCH", one.as_str(), r#"{"email":42}"#, "invalid_body"),
            (
                "POST",
                sessions.as_str(),
                r#"{"widgetId":"w"}"#,
                "invalid_body",
            ),
            (
                "POST",
                merge.as_str(),
                &format!(r#"{{"sourceContactId":"{mine}","reason":"self"}}"#),
                "invalid_field",
            ),
            (
                "POST",
                merge.as_str(),
                r#"{"sourceContactId":"x","reason":" "}"#,
                "invalid_field",
            ),
        ] {
            let (st, e) = c.call(method, path, Some(&t.token), Some(body)).await;
            let want = if code == "invalid_body" {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            assert_eq!(st, want, "[{name}] {method} {path} {body}: {e}");
            assert_error(&e, code);
        }
        for q in ["?limit=0", "?limit=501", "?limit=x"] {
            let (st, e) = c
                .call("GET", &format!("/api/v1/contacts{q}"), Some(&t.token), None)
                .await;
            assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{q}");
            assert_error(&e, "invalid_field");
        }
        // Nothing changed.
        let m = c.contact(&t, &mine).await;
        assert_eq!(m["firstName"], "Mine");
        assert_eq!(m["status"], "lead");
        assert!(m["sessions"].as_array().unwrap().is_empty());
        assert_eq!(c.contacts(&t, "").await.len(), 1);
        backend.finish().await;
    }
}
