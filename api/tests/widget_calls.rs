//! A widget's calls through the router: `/api/v1/widgets/{id}/calls` (by visitor),
//! `/calls-waiting` (ringing browser calls with dashboard links), and one call with who
//! answered and its recordings; scopes, tenant isolation and bad input. On SQLite, and on
//! PostgreSQL when `RINGSIDE_TEST_POSTGRES_URL` is set.

mod common;

use common::{assert_error, backends, App, Harness};
use ringside_storage::{new_id, now_ms, CallLeg, CallRecord};
use serde_json::json;

fn browser_call(tenant: &str, widget: &str, visitor: &str, status: &str, at: i64) -> CallRecord {
    let id = new_id();
    CallRecord {
        id: id.clone(),
        tenant_id: tenant.into(),
        kind: "webrtc".parse().unwrap(),
        from_uri: format!("webrtc:{visitor}"),
        to_uri: format!("widget:{widget}"),
        status: status.parse().unwrap(),
        started_at: at,
        answered_at: (status == "ended").then_some(at + 1000),
        ended_at: (status == "ended").then_some(at + 61_000),
        end_reason: (status == "ended").then_some(ringside_domain::EndReason::Hangup),
        hangup_side: (status == "ended").then_some(ringside_domain::HangupSide::Caller),
        widget_id: Some(widget.into()),
        visitor_id: Some(visitor.into()),
        answered_by: (status == "ended").then(|| "extension:1002".into()),
        node_id: None,
        legs: vec![CallLeg {
            id: new_id(),
            call_id: id,
            idx: 0,
            role: "caller".parse().unwrap(),
            sip_call_id: "webrtc-1".into(),
            local_tag: "t".into(),
            remote_tag: None,
            peer: "127.0.0.1:40000".into(),
            started_at: at,
            answered_at: None,
            ended_at: None,
            final_status: None,
            quality: None,
        }],
    }
}

#[tokio::test]
async fn widget_calls_waiting_calls_and_one_call() {
    for b in backends("ringside-widget-calls").await {
        let app = App::on(&b.store);
        let owner = app
            .token("owner@calls.example", &["widgets:write", "calls:read"])
            .await;
        let (st, w) = app
            .json("POST", "/api/v1/widgets", &owner, json!({"name": "Shop"}))
            .await;
        assert_eq!(st, 201, "{w}");
        let widget = w["id"].as_str().unwrap().to_owned();
        let tenant = b
            .store
            .ensure_user("owner@calls.example")
            .await
            .unwrap()
            .tenant_id;
        let t0 = now_ms();
        let ended = browser_call(&tenant, &widget, "v_alice1", "ended", t0 - 120_000);
        let ringing = browser_call(&tenant, &widget, "v_bobby1", "ringing", t0 - 5_000);
        b.store
            .insert_calls_batch(&[ended.clone(), ringing.clone()])
            .await
            .unwrap();

        let (st, list) = app
            .call(
                "GET",
                &format!("/api/v1/widgets/{widget}/calls"),
                Some(&owner),
                None,
            )
            .await;
        assert_eq!(st, 200, "{}: {list}", b.name);
        assert_eq!(list.as_array().unwrap().len(), 2);
        assert_eq!(list[0]["id"], ringing.id.as_str(), "newest first");
        let (st, mine) = app
            .call(
                "GET",
                &format!("/api/v1/widgets/{widget}/calls?visitorId=v_alice1"),
                Some(&owner),
                None,
            )
            .await;
        assert_eq!(st, 200);
        assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");
        let c = &mine[0];
        assert_eq!(c["visitorId"], "v_alice1");
        assert_eq!(c["widgetId"], widget.as_str());
        assert_eq!(c["answeredBy"], "extension:1002");
        assert_eq!(c["durationMs"], 60_000);
        assert_eq!(c["endReason"], "hangup");

        let (st, waiting) = app
            .call(
                "GET",
                &format!("/api/v1/widgets/{widget}/calls-waiting"),
                Some(&owner),
                None,
            )
            .await;
        assert_eq!(st, 200);
        assert_eq!(waiting.as_array().unwrap().len(), 1, "{waiting}");
        assert_eq!(waiting[0]["id"], ringing.id.as_str());
        assert_eq!(
            waiting[0]["dashboardUrl"],
            format!("https://calls.example.net/console/calls/{}", ringing.id).as_str()
        );

        let (st, one) = app
            .call(
                "GET",
                &format!("/api/v1/calls/{}", ended.id),
                Some(&owner),
                None,
            )
            .await;
        assert_eq!(st, 200);
        assert_eq!(one["recordings"], json!([]));
        assert_eq!(one["legs"][0]["role"], "caller");

        // Refusals: bad visitor id, another tenant's widget, missing scope, no token.
        let (st, body) = app
            .call(
                "GET",
                &format!("/api/v1/widgets/{widget}/calls?visitorId=x"),
                Some(&owner),
                None,
            )
            .await;
        assert_eq!(st, 422, "{body}");
        assert_error(&body, "invalid_field");
        let stranger = app.token("s@other.example", &["calls:read"]).await;
        for path in ["calls", "calls-waiting"] {
            let (st, body) = app
                .call(
                    "GET",
                    &format!("/api/v1/widgets/{widget}/{path}"),
                    Some(&stranger),
                    None,
                )
                .await;
            assert_eq!(st, 404, "{path}: {body}");
        }
        let writer = app.token("owner@calls.example", &["widgets:read"]).await;
        let (st, _) = app
            .call(
                "GET",
                &format!("/api/v1/widgets/{widget}/calls"),
                Some(&writer),
                None,
            )
            .await;
        assert_eq!(st, 403);
        let (st, _) = app
            .call(
                "GET",
                &format!("/api/v1/widgets/{widget}/calls-waiting"),
                None,
                None,
            )
            .await;
        assert_eq!(st, 401);
        b.finish().await;
    }
}

#[tokio::test]
async fn widget_call_settings_through_the_api() {
    for b in backends("ringside-call-settings").await {
        let app = App::on(&b.store);
        let owner = app
            .token("owner@cs.example", &["widgets:read", "widgets:write"])
            .await;
        let (_, w) = app
            .json("POST", "/api/v1/widgets", &owner, json!({"name": "Shop"}))
            .await;
        let widget = w["id"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/widgets/{widget}/call-settings");
        let (st, d) = app.call("GET", &path, Some(&owner), None).await;
        assert_eq!(st, 200, "{}: {d}", b.name);
        assert_eq!(
            d,
            json!({"ringTimeoutSecs": 30, "record": false, "ringExtensions": true,
                   "pstnNumbers": [], "pstnTrunkId": null, "queueNumber": null,
                   "video": false})
        );
        let good = json!({"ringTimeoutSecs": 15, "record": true, "pstnNumbers": ["+15551230000"],
                          "queueNumber": "700"});
        let (st, s) = app.json("PUT", &path, &owner, good.clone()).await;
        assert_eq!(st, 200, "{s}");
        let (_, s) = app.call("GET", &path, Some(&owner), None).await;
        assert_eq!(s["ringTimeoutSecs"], 15);
        assert_eq!(s["pstnNumbers"], json!(["+15551230000"]));
        // Bad input: a 4xx with the stable error, and nothing changes.
        for (bad, status, code) in [
            (json!({"ringTimeoutSecs": 1}), 422, "invalid_field"),
            (json!({"pstnNumbers": ["0800 123"]}), 422, "invalid_field"),
            (json!({"pstnTrunkId": "nope"}), 422, "invalid_field"),
            (json!({"queueNumber": "x1"}), 422, "invalid_field"),
            (json!({"ringTimeoutSecs": "soon"}), 400, "invalid_body"),
            (json!({"bogus": true}), 400, "invalid_body"),
        ] {
            let (st, body) = app.json("PUT", &path, &owner, bad.clone()).await;
            assert_eq!(st.as_u16(), status, "{bad}: {body}");
            assert_error(&body, code);
        }
        let (_, after) = app.call("GET", &path, Some(&owner), None).await;
        assert_eq!(after, s, "a refused change keeps the settings");
        // Another widget of the tenant cannot take the same queue number.
        let (_, w2) = app
            .json("POST", "/api/v1/widgets", &owner, json!({"name": "Blog"}))
            .await;
        let (st, body) = app
            .json(
                "PUT",
                &format!(
                    "/api/v1/widgets/{}/call-settings",
                    w2["id"].as_str().unwrap()
                ),
                &owner,
                json!({"queueNumber": "700"}),
            )
            .await;
        assert_eq!(st, 409, "{body}");
        // Scopes and tenants.
        let reader = app.token("owner@cs.example", &["widgets:read"]).await;
        let (st, _) = app.json("PUT", &path, &reader, good.clone()).await;
        assert_eq!(st, 403);
        let stranger = app
            .token("s@cs-other.example", &["widgets:read", "widgets:write"])
            .await;
        let (st, _) = app.call("GET", &path, Some(&stranger), None).await;
        assert_eq!(st, 404);
        let (st, _) = app.json("PUT", &path, &stranger, good).await;
        assert_eq!(st, 404);
        b.finish().await;
    }
}
