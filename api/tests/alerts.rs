//! Alert rules (issue 19) through the router, on SQLite and PostgreSQL: created, listed, read,
//! changed and deleted by the user they belong to; the ntfy secret sealed at rest and never
//! shown, the push endpoint shown by its origin; every refusal (401, 403, 404 for another
//! user's or tenant's rule, 422 for each bad field, 400 for unknown fields).

mod common;

use axum::http::StatusCode;
use common::{assert_error, backends, uniq, Harness};
use ringside_storage::{NewInvite, Role};
use serde_json::{json, Value};

type Ctx = common::StateApp;

const RW: &[&str] = &["webhooks:read", "webhooks:write", "widgets:write"];

/// A browser's P-256 public key (65 bytes, base64url) and auth secret (16 bytes).
const P256DH: &str =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";

#[tokio::test]
async fn a_users_alert_rules_and_their_refusals() {
    for b in backends("ringside-alerts").await {
        let n = b.name;
        let c = Ctx::new(common::state(&b.store));
        let email = format!("{}@alerts.example", uniq("al"));
        let token = c.token(&email, RW).await;
        let reader = c.token(&email, &["webhooks:read"]).await;
        let (_, w) = c
            .json("POST", "/api/v1/widgets", &token, json!({"name": "Shop"}))
            .await;
        let widget = w["id"].as_str().unwrap().to_owned();

        // ntfy with a token: sealed, never shown.
        let (st, r) = c
            .json(
                "POST",
                "/api/v1/alert-rules",
                &token,
                json!({"name": "Calls on my phone", "events": ["call.requested", "call.missed", "call.requested"],
                       "widgetIds": [widget],
                       "channel": {"type": "ntfy", "topic": "acme-desk", "token": "tk_secret_123"},
                       "quietHours": {"from": "22:00", "to": "07:00", "timeZone": "Europe/Lisbon"}}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "[{n}] {r}");
        let id = r["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("alr_"));
        assert_eq!(r["events"], json!(["call.requested", "call.missed"]));
        assert_eq!(r["widgetIds"], json!([widget]));
        assert_eq!(
            r["channel"],
            json!({"type": "ntfy", "url": "https://ntfy.sh", "topic": "acme-desk", "hasSecret": true})
        );
        assert_eq!(r["groupSecs"], 60);
        assert_eq!(r["enabled"], true);
        assert_eq!(r["failing"], false);
        assert!(!r.to_string().contains("tk_secret_123"));
        let tenant = b.store.ensure_user(&email).await.unwrap();
        let stored = b
            .store
            .get_alert_rule(&tenant.tenant_id, &tenant.id, &id)
            .await
            .unwrap();
        let sealed = stored.secret_sealed.unwrap();
        assert!(
            sealed.starts_with("v1:") && !sealed.contains("tk_secret"),
            "sealed at rest"
        );

        // Web Push and email.
        let (st, r) = c
            .json(
                "POST",
                "/api/v1/alert-rules",
                &token,
                json!({"name": "Browser", "events": ["chat.message.created"],
                       "channel": {"type": "webpush", "subscription": {
                           "endpoint": "https://push.example.net/wpush/v2/gAAAAABk-capability-token",
                           "expirationTime": null, "keys": {"p256dh": P256DH, "auth": AUTH}}}}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "[{n}] {r}");
        assert_eq!(
            r["channel"],
            json!({"type": "webpush", "pushService": "https://push.example.net"})
        );
        assert_eq!(r["widgetIds"], Value::Null);
        assert!(!r.to_string().contains("capability-token"));
        let (st, r) = c
            .json(
                "POST",
                "/api/v1/alert-rules",
                &token,
                json!({"name": "Mail", "events": ["callback.submitted"], "groupSecs": 0,
                       "channel": {"type": "email", "address": " Ana@Example.com "}}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "[{n}] {r}");
        assert_eq!(r["channel"]["address"], "ana@example.com");
        let mail_id = r["id"].as_str().unwrap().to_owned();

        // Listed and read, with the read scope.
        let (st, list) = c
            .call("GET", "/api/v1/alert-rules", Some(&reader), None)
            .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(list["data"].as_array().unwrap().len(), 3, "{list}");
        let (st, one) = c
            .call(
                "GET",
                &format!("/api/v1/alert-rules/{id}"),
                Some(&reader),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(one["name"], "Calls on my phone");

        // Changed: the secret kept when the channel names none, removed when empty.
        let path = format!("/api/v1/alert-rules/{id}");
        let (st, r) = c
            .json(
                "PATCH",
                &path,
                &token,
                json!({"channel": {"type": "ntfy", "url": "https://ntfy.acme.example/", "topic": "desk2", "priority": 5},
                       "widgetIds": null, "quietHours": null, "enabled": false}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{r}");
        assert_eq!(
            r["channel"],
            json!({"type": "ntfy", "url": "https://ntfy.acme.example", "topic": "desk2", "priority": 5, "hasSecret": true})
        );
        assert_eq!(r["widgetIds"], Value::Null);
        assert_eq!(r["quietHours"], Value::Null);
        assert_eq!(r["enabled"], false);
        let (_, r) = c
            .json(
                "PATCH",
                &path,
                &token,
                json!({"channel": {"type": "ntfy", "topic": "desk2", "token": ""}}),
            )
            .await;
        assert_eq!(r["channel"]["hasSecret"], false, "{r}");
        let (_, r) = c
            .json(
                "PATCH",
                &path,
                &token,
                json!({"channel": {"type": "ntfy", "topic": "desk2", "username": "ana", "password": "pw"}}),
            )
            .await;
        assert_eq!(r["channel"]["hasSecret"], true, "{r}");

        // An event the rule covers queues an alert, listed in the rule's log (the ntfy rule is
        // off now: the email rule has no sender yet, so neither queues; switched back on and
        // covering every widget, the ntfy rule does).
        let (st, _) = c
            .json("PATCH", &path, &token, json!({"enabled": true}))
            .await;
        assert_eq!(st, StatusCode::OK);
        b.store
            .enqueue_webhook_event(
                &tenant.tenant_id,
                "call.requested",
                None,
                &json!({"callId": "call-1", "widgetId": widget}),
            )
            .await
            .unwrap();
        let (st, log) = c
            .call("GET", &format!("{path}/deliveries"), Some(&reader), None)
            .await;
        assert_eq!(st, StatusCode::OK, "{log}");
        assert_eq!(log["data"].as_array().unwrap().len(), 1, "[{n}] {log}");
        assert_eq!(log["data"][0]["eventType"], "call.requested");
        assert_eq!(log["data"][0]["eventCount"], 1);
        assert_eq!(log["data"][0]["status"], "pending");
        assert!(log["data"][0].get("payload").is_none());
        let (st, _) = c
            .call(
                "GET",
                &format!("{path}/deliveries?limit=0"),
                Some(&reader),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        b.store
            .enqueue_webhook_event(
                &tenant.tenant_id,
                "callback.submitted",
                Some(&widget),
                &json!({"callbackId": "cb-1"}),
            )
            .await
            .unwrap();
        let (st, log) = c
            .call(
                "GET",
                &format!("/api/v1/alert-rules/{mail_id}/deliveries"),
                Some(&reader),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(
            log["data"].as_array().unwrap().len(),
            1,
            "email alerts are queued: {log}"
        );
        assert_eq!(log["data"][0]["eventType"], "callback.submitted");

        // Refusals.
        for (m, p) in [
            ("GET", "/api/v1/alert-rules".to_owned()),
            ("POST", "/api/v1/alert-rules".to_owned()),
            ("GET", path.clone()),
            ("PATCH", path.clone()),
            ("DELETE", path.clone()),
        ] {
            let (st, body) = c.call(m, &p, None, Some("{}")).await;
            assert_eq!(st, StatusCode::UNAUTHORIZED, "{m} {p}");
            assert_error(&body, "unauthorized");
        }
        let (st, _) = c
            .json(
                "POST",
                "/api/v1/alert-rules",
                &reader,
                json!({"name": "x", "events": ["call.missed"], "channel": {"type": "email", "address": "a@b.example"}}),
            )
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        let (st, _) = c.call("DELETE", &path, Some(&reader), None).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        let other = c
            .token(&format!("{}@alerts.example", uniq("alo")), RW)
            .await;
        let (_, ow) = c
            .json("POST", "/api/v1/widgets", &other, json!({"name": "Theirs"}))
            .await;
        let (st, _) = c
            .call("GET", &format!("{path}/deliveries"), Some(&other), None)
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND, "another tenant's log");
        for (m, body) in [
            ("GET", None),
            ("PATCH", Some(json!({"name": "mine"}))),
            ("DELETE", None),
        ] {
            let r = match body {
                Some(b) => c.json(m, &path, &other, b).await,
                None => c.call(m, &path, Some(&other), None).await,
            };
            assert_eq!(r.0, StatusCode::NOT_FOUND, "another tenant: {m}");
        }
        // Another user of the same team: not theirs either.
        let (invite, secret) = b
            .store
            .create_invite(NewInvite {
                tenant_id: &tenant.tenant_id,
                invited_by: &tenant.id,
                email: &format!("{}@alerts.example", uniq("mate")),
                role: Role::Admin,
                now: ringside_storage::now_ms(),
                ttl_ms: 86_400_000,
            })
            .await
            .unwrap();
        let mate = b
            .store
            .accept_invite(&secret, &invite.email, ringside_storage::now_ms())
            .await
            .unwrap();
        assert_eq!(mate.tenant_id, tenant.tenant_id);
        let mate_token = b
            .store
            .create_token(
                &mate.id,
                "t",
                &RW.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            )
            .await
            .unwrap()
            .1;
        let (st, _) = c.call("GET", &path, Some(&mate_token), None).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "a teammate's rule");
        let (_, mine) = c
            .call("GET", "/api/v1/alert-rules", Some(&mate_token), None)
            .await;
        assert_eq!(mine["data"], json!([]));
        let ntfy = |extra: Value| {
            let mut b = json!({"name": "x", "events": ["call.missed"],
                               "channel": {"type": "ntfy", "topic": "t1"}});
            for (k, v) in extra.as_object().unwrap() {
                match k.strip_prefix("channel.") {
                    Some(field) => b["channel"][field] = v.clone(),
                    None => b[k] = v.clone(),
                }
            }
            b
        };
        for (body, field) in [
            (ntfy(json!({"name": ""})), "name"),
            (ntfy(json!({"events": []})), "events"),
            (ntfy(json!({"events": ["call.exploded"]})), "events"),
            (ntfy(json!({"widgetIds": [ow["id"]]})), "widgetIds"),
            (ntfy(json!({"widgetIds": []})), "widgetIds"),
            (ntfy(json!({"groupSecs": 3601})), "groupSecs"),
            (
                ntfy(json!({"quietHours": {"from": "25:00", "to": "07:00", "timeZone": "UTC"}})),
                "quietHours",
            ),
            (
                ntfy(
                    json!({"quietHours": {"from": "22:00", "to": "07:00", "timeZone": "Mars/Olympus"}}),
                ),
                "quietHours",
            ),
            (
                ntfy(json!({"channel.topic": "bad topic!"})),
                "channel.topic",
            ),
            (
                ntfy(json!({"channel.url": "ftp://ntfy.example"})),
                "channel.url",
            ),
            (
                ntfy(json!({"channel.url": "http://127.0.0.1:8080"})),
                "channel.url",
            ),
            (
                ntfy(json!({"channel.url": "http://169.254.169.254"})),
                "channel.url",
            ),
            (ntfy(json!({"channel.priority": 9})), "channel.priority"),
            (
                ntfy(json!({"channel.token": "t", "channel.username": "u"})),
                "channel.token",
            ),
            (
                ntfy(json!({"channel.username": "u:x", "channel.password": "p"})),
                "channel.token",
            ),
            (
                json!({"name": "x", "events": ["call.missed"], "channel": {"type": "email", "address": "not an address"}}),
                "channel.address",
            ),
            (
                json!({"name": "x", "events": ["call.missed"], "channel": {"type": "webpush", "subscription": {
                    "endpoint": "https://push.example.net/x", "keys": {"p256dh": "AAAA", "auth": AUTH}}}}),
                "channel.subscription.keys.p256dh",
            ),
            (
                json!({"name": "x", "events": ["call.missed"], "channel": {"type": "webpush", "subscription": {
                    "endpoint": "https://push.example.net/x", "keys": {"p256dh": P256DH, "auth": "AAAA"}}}}),
                "channel.subscription.keys.auth",
            ),
        ] {
            let (st, r) = c
                .json("POST", "/api/v1/alert-rules", &token, body.clone())
                .await;
            assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "[{n}] {body}: {r}");
            assert!(
                r["error"]["message"].as_str().unwrap().starts_with(field),
                "{field}: {r}"
            );
        }
        for body in [
            json!({"name": "x", "events": ["call.missed"], "channel": {"type": "pager", "number": "1"}}),
            json!({"name": "x", "events": ["call.missed"], "channel": {"type": "email", "address": "a@b.example", "cc": "c@d.example"}}),
            json!({"name": "x", "events": ["call.missed"], "channel": {"type": "email", "address": "a@b.example"}, "extra": 1}),
        ] {
            let (st, r) = c
                .json("POST", "/api/v1/alert-rules", &token, body.clone())
                .await;
            assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {r}");
        }
        // Deleted: gone.
        let (st, _) = c
            .call(
                "DELETE",
                &format!("/api/v1/alert-rules/{mail_id}"),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::NO_CONTENT);
        let (st, _) = c
            .call(
                "GET",
                &format!("/api/v1/alert-rules/{mail_id}"),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        b.finish().await;
    }
}
