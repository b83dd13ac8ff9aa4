//! The inbox's conversations API (states, unread counts, views, webhooks) with its refusal
//! matrix, and the dashboard pages as a signed-in browser gets them: rendered for the team,
//! escaped, under a strict CSP, 404 for another tenant's or a withheld widget's things, and
//! the links Ringside hands out (`dashboardUrl`, handoff links) leading to them; business
//! hours, the widget's history and offline leads. Saved replies and files: `chat_tools.rs`.

use axum::http::StatusCode;
use ringside_storage::{new_id, now_ms, CallLeg, CallRecord, NewMessage};
use serde_json::{json, Value};

use super::{backends, ctx, uniq, Browser, Ctx};
use crate::common::{assert_error, Harness, Resp};

pub(super) fn say(visitor: &str, sender: &str, body: &str) -> NewMessage {
    NewMessage {
        visitor_id: visitor.into(),
        conversation_id: String::new(),
        sender: sender.into(),
        author_user_id: None,
        body: body.into(),
    }
}

/// A widget made by `who`; its id.
pub(super) async fn widget(c: &Ctx, who: &Browser, name: &str) -> String {
    let r = c
        .by(
            who,
            "POST",
            "/api/v1/widgets",
            Some(json!({ "name": name })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

/// An agent of `owner`'s team, signed in.
pub(super) async fn agent_of(c: &Ctx, owner: &Browser) -> Browser {
    let r = c
        .by(
            owner,
            "POST",
            "/api/v1/invites",
            Some(json!({"email": uniq("dash-agent"), "role": "agent"})),
        )
        .await;
    let email = r.body["email"].as_str().unwrap().to_owned();
    let secret = r.body["link"]
        .as_str()
        .unwrap()
        .split("invite=")
        .nth(1)
        .unwrap()
        .to_owned();
    c.sign_in_with(&email, Some(&secret)).await
}

pub(super) fn visitors(r: &Resp) -> Vec<String> {
    let mut v: Vec<String> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["visitorId"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn conversations_by_state_with_the_refusal_matrix() {
    for backend in backends().await {
        let name = backend.name;
        let c = ctx(&backend.store);
        let owner = c.sign_in(&uniq("conv-owner")).await;
        let stranger = c.sign_in(&uniq("conv-stranger")).await;
        let w1 = widget(&c, &owner, "Shop").await;
        let w2 = widget(&c, &owner, "Blog").await;
        let t = owner.tenant().to_owned();
        c.store
            .add_message(&t, &w1, say("visitor-0001", "visitor", "Hi"))
            .await
            .unwrap();
        c.store
            .add_message(&t, &w2, say("visitor-0002", "visitor", "Hello"))
            .await
            .unwrap();
        let hook = c
            .by(
                &owner,
                "POST",
                "/api/v1/webhooks",
                Some(
                    json!({"name": "states", "url": "https://example.com/states",
                            "events": ["conversation.state_changed"]}),
                ),
            )
            .await;
        assert_eq!(hook.status, StatusCode::CREATED, "[{name}] {}", hook.body);

        let r = c.by(&owner, "GET", "/api/v1/conversations", None).await;
        assert_eq!(r.status, StatusCode::OK, "[{name}] {}", r.body);
        assert_eq!(visitors(&r), ["visitor-0001", "visitor-0002"]);
        assert_eq!(r.body["counts"]["open"], 2);
        assert_eq!(r.body["counts"]["unread"], 2);
        assert_eq!(r.body["counts"]["unassigned"], 2);
        assert_eq!(r.body["nextBefore"], Value::Null);
        assert_eq!(r.body["nextCursor"], Value::Null);
        assert_eq!(r.body["data"][0]["state"], "open");
        // Page by page, one chat each: the cursor goes on after the last one.
        let mut paged = Vec::new();
        let mut q = "limit=1".to_owned();
        for _ in 0..3 {
            let r = c
                .by(&owner, "GET", &format!("/api/v1/conversations?{q}"), None)
                .await;
            assert_eq!(r.status, StatusCode::OK, "[{name}] {}", r.body);
            paged.extend(visitors(&r));
            match r.body["nextCursor"].as_str() {
                Some(next) => q = format!("limit=1&cursor={next}"),
                None => break,
            }
        }
        paged.sort();
        assert_eq!(paged, ["visitor-0001", "visitor-0002"], "[{name}]");

        // Resolve one: the views and counts follow; the webhook is queued.
        let one = format!("/api/v1/widgets/{w1}/visitors/visitor-0001/conversation");
        let r = c
            .by(&owner, "PATCH", &one, Some(json!({"state": "resolved"})))
            .await;
        assert_eq!(r.status, StatusCode::OK, "[{name}] {}", r.body);
        assert_eq!(r.body["state"], "resolved");
        let r = c
            .by(&owner, "GET", "/api/v1/conversations?state=resolved", None)
            .await;
        assert_eq!(visitors(&r), ["visitor-0001"]);
        assert_eq!(
            (
                r.body["counts"]["open"].clone(),
                r.body["counts"]["resolved"].clone()
            ),
            (json!(1), json!(1))
        );
        let r = c
            .by(
                &owner,
                "GET",
                &format!("/api/v1/conversations?widgetId={w2}"),
                None,
            )
            .await;
        assert_eq!(visitors(&r), ["visitor-0002"]);
        let hook_id = hook.body["id"].as_str().unwrap();
        let d = c
            .by(
                &owner,
                "GET",
                &format!("/api/v1/webhooks/{hook_id}/deliveries"),
                None,
            )
            .await;
        assert!(
            d.body.to_string().contains(&format!(
                "{}/inbox/{w1}/visitor-0001",
                crate::common::PUBLIC_URL
            )),
            "[{name}] the payload links the chat page: {}",
            d.body
        );
        assert!(
            d.body.to_string().contains("conversation.state_changed"),
            "[{name}] {}",
            d.body
        );

        // Snooze for an hour; read clears the unread count; the conversation reads back.
        let until = now_ms() + 3_600_000;
        let r = c
            .by(
                &owner,
                "PATCH",
                &one,
                Some(json!({"state": "snoozed", "snoozedUntil": until})),
            )
            .await;
        assert_eq!(
            (r.status, r.body["snoozedUntil"].clone()),
            (StatusCode::OK, json!(until))
        );
        let r = c.by(&owner, "POST", &format!("{one}/read"), None).await;
        assert_eq!(
            (r.status, r.body["unread"].clone()),
            (StatusCode::OK, json!(0))
        );
        let r = c.by(&owner, "GET", &one, None).await;
        assert_eq!(r.body["state"], "snoozed", "[{name}] {}", r.body);
        // Assigned to me: the "mine" view.
        c.by(
            &owner,
            "PUT",
            &format!("/api/v1/widgets/{w2}/visitors/visitor-0002/assignee"),
            Some(json!({"userId": "me"})),
        )
        .await;
        let r = c
            .by(&owner, "GET", "/api/v1/conversations?assignee=me", None)
            .await;
        assert_eq!(visitors(&r), ["visitor-0002"]);
        assert_eq!(r.body["counts"]["mine"], 1);
        let r = c
            .by(&owner, "GET", "/api/v1/conversations?assignee=none", None)
            .await;
        assert_eq!(visitors(&r), ["visitor-0001"]);

        // Bad input: 422 with the field, nothing changed.
        for (body, field) in [
            (json!({"state": "closed"}), "state"),
            (json!({"state": "snoozed"}), "snoozedUntil"),
            (
                json!({"state": "snoozed", "snoozedUntil": 5}),
                "snoozedUntil",
            ),
            (
                json!({"state": "open", "snoozedUntil": until}),
                "snoozedUntil",
            ),
        ] {
            let r = c.by(&owner, "PATCH", &one, Some(body.clone())).await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "[{name}] {body}"
            );
            assert_error(&r.body, "invalid_field");
            let msg = r.body["error"]["message"].as_str().unwrap();
            assert!(msg.starts_with(field), "[{name}] {msg}");
        }
        let r = c
            .by(
                &owner,
                "PATCH",
                &one,
                Some(json!({"state": "open", "x": 1})),
            )
            .await;
        assert!(
            r.status.is_client_error(),
            "[{name}] unknown field {}",
            r.status
        );
        for q in [
            "state=closed",
            "assignee=%00x",
            "widgetId=%00",
            "limit=0",
            "limit=201",
            "before=x",
            "cursor=x",
            "cursor=1~w~%00",
            "bogus=1",
        ] {
            let r = c
                .by(&owner, "GET", &format!("/api/v1/conversations?{q}"), None)
                .await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "[{name}] {q}");
        }
        let r = c.by(&owner, "GET", &one, None).await;
        assert_eq!(r.body["state"], "snoozed", "[{name}] unchanged");
        let r = c
            .by(
                &owner,
                "GET",
                "/api/v1/widgets/x/visitors/bad/conversation",
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        let r = c
            .by(
                &owner,
                "GET",
                &format!("/api/v1/widgets/{w1}/visitors/visitor-9999/conversation"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "[{name}] never chatted");

        // No credentials: 401. Another tenant: 404 and an empty inbox.
        let r = c.send("GET", "/api/v1/conversations", &[], None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        for (method, path, body) in [
            ("GET", one.clone(), None),
            ("PATCH", one.clone(), Some(json!({"state": "open"}))),
            ("POST", format!("{one}/read"), None),
            ("GET", format!("/api/v1/conversations?widgetId={w1}"), None),
        ] {
            let r = c.by(&stranger, method, &path, body).await;
            assert_eq!(
                r.status,
                StatusCode::NOT_FOUND,
                "[{name}] stranger {method} {path}"
            );
        }
        let r = c.by(&stranger, "GET", "/api/v1/conversations", None).await;
        assert_eq!(
            (
                r.body["data"].as_array().unwrap().len(),
                r.body["counts"]["open"].clone()
            ),
            (0, json!(0))
        );
        // Without the CSRF token a session may not change anything.
        let r = c
            .as_browser(&owner, "PATCH", &one, Some(json!({"state": "open"})), false)
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_error(&r.body, "csrf_failed");

        // A read-only token reads but may not change states.
        let tok = c
            .by(
                &owner,
                "POST",
                "/api/v1/tokens",
                Some(json!({"name": "ro", "scopes": ["messages:read"]})),
            )
            .await;
        let bearer = format!("Bearer {}", tok.body["token"].as_str().unwrap());
        let r = c
            .send(
                "GET",
                "/api/v1/conversations",
                &[("authorization", &bearer)],
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let r = c
            .send(
                "PATCH",
                &one,
                &[("authorization", &bearer)],
                Some(r#"{"state":"open"}"#),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "[{name}] {}", r.body);

        // An agent given only the blog sees only its chats (not a 403: the inbox filters).
        let agent = agent_of(&c, &owner).await;
        let r = c
            .by(
                &owner,
                "PUT",
                &format!("/api/v1/users/{}/widgets", agent.user_id()),
                Some(json!({"widgetIds": [w2]})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "[{name}] {}", r.body);
        let r = c
            .by(&agent, "GET", "/api/v1/conversations?state=open", None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "[{name}] {}", r.body);
        assert_eq!(visitors(&r), ["visitor-0002"]);
        let r = c
            .by(
                &agent,
                "GET",
                &format!("/api/v1/conversations?widgetId={w1}"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = c.by(&agent, "GET", &one, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        backend.finish().await;
    }
}

pub(super) async fn page(c: &Ctx, who: Option<&Browser>, path: &str) -> (StatusCode, String, Resp) {
    let r = match who {
        Some(b) => {
            c.send("GET", path, &[("cookie", b.cookie.as_str())], None)
                .await
        }
        None => c.send("GET", path, &[], None).await,
    };
    let text = String::from_utf8_lossy(&r.raw).into_owned();
    (r.status, text, r)
}

#[tokio::test]
async fn dashboard_pages_for_the_team_and_nobody_else() {
    for backend in backends().await {
        let name = backend.name;
        let c = ctx(&backend.store);
        let owner = c.sign_in(&uniq("dash-owner")).await;
        let stranger = c.sign_in(&uniq("dash-stranger")).await;
        let r = c
            .by(
                &owner,
                "POST",
                "/api/v1/widgets",
                Some(json!({"name": "Front <desk>", "allowedDomains": ["www.example.com"]})),
            )
            .await;
        let w = r.body["id"].as_str().unwrap().to_owned();
        let key = format!("Bearer {}", r.body["publicKey"].as_str().unwrap());
        let t = owner.tenant().to_owned();
        // The visitor is on the site (the handoff link needs a known visitor).
        let seen = c
            .send(
                "POST",
                &format!("/api/widgets/{w}/track"),
                &[
                    ("origin", "https://www.example.com"),
                    ("authorization", &key),
                ],
                Some(
                    &json!({"visitorId": "visitor-0042", "event": "page_view",
                             "url": "https://www.example.com/pricing", "title": "Pricing"})
                    .to_string(),
                ),
            )
            .await;
        assert_eq!(seen.status, StatusCode::OK, "[{name}] {}", seen.body);
        // Stored, with the visit counted on today's bar of the analytics chart.
        c.presence.flush().await.unwrap();
        c.store
            .add_message(
                &t,
                &w,
                say(
                    "visitor-0042",
                    "visitor",
                    "<img src=x onerror=alert(1)> need help",
                ),
            )
            .await
            .unwrap();
        let call_id = new_id();
        c.store
            .insert_call(&CallRecord {
                id: call_id.clone(),
                tenant_id: t.clone(),
                kind: "webrtc".parse().unwrap(),
                from_uri: "webrtc:visitor-0042".into(),
                to_uri: format!("widget:{w}"),
                status: "ringing".parse().unwrap(),
                started_at: now_ms(),
                answered_at: None,
                ended_at: None,
                end_reason: None,
                hangup_side: None,
                widget_id: Some(w.clone()),
                visitor_id: Some("visitor-0042".into()),
                answered_by: None,
                node_id: None,
                legs: vec![CallLeg {
                    id: new_id(),
                    call_id: call_id.clone(),
                    idx: 0,
                    role: "caller".parse().unwrap(),
                    sip_call_id: "webrtc-1".into(),
                    local_tag: "t".into(),
                    remote_tag: None,
                    peer: "127.0.0.1:40000".into(),
                    started_at: now_ms(),
                    answered_at: None,
                    ended_at: None,
                    final_status: None,
                    quality: None,
                }],
            })
            .await
            .unwrap();
        let chat = format!("/inbox/{w}/visitor-0042");
        let pages = [
            "/".to_owned(),
            "/inbox".to_owned(),
            "/inbox?view=resolved".to_owned(),
            chat.clone(),
            "/calls".to_owned(),
            format!("/calls/{call_id}"),
            "/widgets".to_owned(),
            format!("/widgets/{w}"),
            "/contacts".to_owned(),
            "/contacts?q=ana".to_owned(),
            format!("/analytics?widget={w}"),
            "/analytics".to_owned(),
            "/settings".to_owned(),
            "/settings/webhooks".to_owned(),
            "/settings/sip".to_owned(),
        ];
        // Signed out: every page sends to the sign-in page.
        for p in &pages {
            let (st, _, r) = page(&c, None, p).await;
            assert_eq!(st, StatusCode::SEE_OTHER, "[{name}] {p}");
            assert_eq!(r.header("location"), Some("/login"), "[{name}] {p}");
        }
        // Signed in: rendered, with the strict CSP; nothing the visitor typed runs.
        for p in &pages {
            let (st, html, r) = page(&c, Some(&owner), p).await;
            assert_eq!(st, StatusCode::OK, "[{name}] {p}: {html}");
            assert!(r.header("content-type").unwrap().starts_with("text/html"));
            let csp = r.header("content-security-policy").unwrap();
            assert!(
                csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
                "{csp}"
            );
            assert!(html.contains("/assets/dashboard.js"), "[{name}] {p}");
            assert!(!html.contains("<img src=x"), "[{name}] {p} unescaped");
            assert!(
                !html.contains("Front <desk>"),
                "[{name}] {p} unescaped widget name"
            );
        }
        let (_, html, _) = page(&c, Some(&owner), &chat).await;
        assert!(
            html.contains("&lt;img src=x onerror=alert(1)&gt; need help"),
            "{html}"
        );
        assert!(
            html.contains("On the site now") && html.contains("Pricing"),
            "the live page"
        );
        assert!(
            html.contains(&format!("/api/v1/widgets/{w}/messages")),
            "reply form"
        );
        let (_, html, _) = page(&c, Some(&owner), "/inbox").await;
        assert!(html.contains(&chat) && html.contains("1 unread"), "{html}");
        let (_, html, _) = page(&c, Some(&owner), &format!("/analytics?widget={w}")).await;
        assert!(
            html.contains("1 in all"),
            "[{name}] the visit on the chart: {html}"
        );
        let (_, html, _) = page(&c, Some(&owner), "/").await;
        assert!(
            html.contains(&format!("/calls/{call_id}")),
            "the waiting call on the home page"
        );
        let (_, html, _) = page(&c, Some(&owner), &format!("/calls/{call_id}")).await;
        assert!(
            html.contains(&format!("data-answer=\"{call_id}\"")),
            "answer buttons"
        );
        let (_, html, _) = page(&c, Some(&owner), &format!("/widgets/{w}")).await;
        assert!(
            html.contains("data-widget-key=&quot;wk_"),
            "install snippet"
        );
        assert!(html.contains("Save call settings") && html.contains("/prompts/holdMusic/audio"));

        // The links Ringside hands out open those pages.
        let r = c
            .by(
                &owner,
                "GET",
                &format!("/api/v1/widgets/{w}/calls-waiting"),
                None,
            )
            .await;
        let url = r.body[0]["dashboardUrl"].as_str().unwrap().to_owned();
        let path = url.trim_start_matches(crate::common::PUBLIC_URL).to_owned();
        let (st, _, r) = page(&c, Some(&owner), &path).await;
        assert_eq!(st, StatusCode::SEE_OTHER);
        assert_eq!(
            r.header("location"),
            Some(format!("/calls/{call_id}").as_str())
        );
        let link = c
            .by(
                &owner,
                "POST",
                &format!("/api/v1/widgets/{w}/visitors/visitor-0042/conversation-link"),
                Some(json!({})),
            )
            .await;
        assert_eq!(link.status, StatusCode::CREATED, "[{name}] {}", link.body);
        let path = link.body["url"]
            .as_str()
            .unwrap()
            .trim_start_matches(crate::common::PUBLIC_URL)
            .to_owned();
        let (st, _, r) = page(&c, Some(&owner), &path).await;
        assert_eq!(
            st,
            StatusCode::SEE_OTHER,
            "[{name}] the team's member goes to the inbox"
        );
        assert_eq!(r.header("location"), Some(chat.as_str()));
        let (st, html, _) = page(&c, None, &path).await;
        assert_eq!(
            st,
            StatusCode::OK,
            "[{name}] anyone with the link still sees the chat"
        );
        assert!(html.contains("need help"));
        let (st, html, _) = page(&c, Some(&stranger), &path).await;
        assert_eq!(
            st,
            StatusCode::OK,
            "[{name}] another tenant's user: the signed view only"
        );
        assert!(!html.contains("dashboard.js"));

        // Another tenant: 404 pages, nothing of the owner's shown.
        for p in [
            &chat,
            &format!("/calls/{call_id}"),
            &format!("/widgets/{w}"),
        ] {
            let (st, html, _) = page(&c, Some(&stranger), p).await;
            assert_eq!(st, StatusCode::NOT_FOUND, "[{name}] stranger {p}");
            assert!(
                !html.contains("need help") && !html.contains("Front"),
                "[{name}] {p}"
            );
        }
        let (_, html, _) = page(&c, Some(&stranger), "/inbox").await;
        assert!(!html.contains("visitor-0042") && html.contains("No conversation here."));
        let (_, html, _) = page(&c, Some(&stranger), "/calls").await;
        assert!(!html.contains(&call_id));

        // An agent: read-only widget pages; given another widget only, the chat is not theirs.
        let agent = agent_of(&c, &owner).await;
        let (st, html, _) = page(&c, Some(&agent), &format!("/widgets/{w}")).await;
        assert_eq!(st, StatusCode::OK);
        assert!(
            html.contains("Owners and admins change widgets") && !html.contains("Save appearance")
        );
        let (_, html, _) = page(&c, Some(&agent), "/widgets").await;
        assert!(!html.contains("Create widget"));
        let other = widget(&c, &owner, "Other").await;
        c.by(
            &owner,
            "PUT",
            &format!("/api/v1/users/{}/widgets", agent.user_id()),
            Some(json!({"widgetIds": [other]})),
        )
        .await;
        for p in [
            &chat,
            &format!("/calls/{call_id}"),
            &format!("/widgets/{w}"),
        ] {
            let (st, _, _) = page(&c, Some(&agent), p).await;
            assert_eq!(st, StatusCode::NOT_FOUND, "[{name}] withheld {p}");
        }
        let (_, html, _) = page(&c, Some(&agent), "/inbox").await;
        assert!(!html.contains("visitor-0042"));
        let (st, _, _) = page(&c, Some(&owner), "/calls/no-such-call").await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        backend.finish().await;
    }
}

/// Monday = 0 .. Sunday = 6, of the UTC day `days` after today.
fn utc_weekday_in(days: i64) -> usize {
    let day = now_ms().div_euclid(86_400_000) + days;
    // 1 Jan 1970 was a Thursday.
    usize::try_from((day + 3).rem_euclid(7)).unwrap()
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

#[tokio::test]
async fn hours_history_offline_leads_and_settings_pages() {
    for backend in backends().await {
        let name = backend.name;
        let c = ctx(&backend.store);
        let owner = c.sign_in(&uniq("hours-owner")).await;
        let stranger = c.sign_in(&uniq("hours-stranger")).await;
        let agent = agent_of(&c, &owner).await;
        let r = c
            .by(
                &owner,
                "POST",
                "/api/v1/widgets",
                Some(json!({"name": "Shop", "allowedDomains": ["www.example.com"]})),
            )
            .await;
        let w = r.body["id"].as_str().unwrap().to_owned();
        let key = r.body["publicKey"].as_str().unwrap().to_owned();
        let origin = ("origin", "https://www.example.com");
        let hours = format!("/api/v1/widgets/{w}/hours");

        // Hours: bad input refused with the field, nothing stored; the owner sets them.
        for (body, field) in [
            (
                json!({"enabled": true, "timeZone": "Mars/Olympus", "intervals": [{"day": "mon", "open": "09:00", "close": "17:00"}]}),
                "timeZone",
            ),
            (
                json!({"enabled": true, "timeZone": "UTC", "intervals": [{"day": "mon", "open": "17:00", "close": "09:00"}]}),
                "intervals",
            ),
            (
                json!({"enabled": true, "timeZone": "UTC", "intervals": []}),
                "intervals",
            ),
            (
                json!({"enabled": true, "timeZone": "UTC", "intervals": [{"day": "funday", "open": "09:00", "close": "17:00"}]}),
                "intervals",
            ),
        ] {
            let r = c.by(&owner, "PUT", &hours, Some(body.clone())).await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "[{name}] {body}"
            );
            assert!(
                r.body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .starts_with(field),
                "[{name}] {}",
                r.body
            );
        }
        let r = c.by(&owner, "GET", &hours, None).await;
        assert_eq!(
            (r.status, r.body["enabled"].clone()),
            (StatusCode::OK, json!(false)),
            "[{name}] {}",
            r.body
        );
        assert_eq!(
            r.body["availability"]["reason"], "no_operator",
            "[{name}] nobody in the dashboard here"
        );
        // Open only tomorrow (UTC) from 09:00: closed now, back tomorrow 09:00.
        let tomorrow = DAY_NAMES[utc_weekday_in(1)];
        let set = json!({"enabled": true, "timeZone": "UTC",
                         "intervals": [{"day": tomorrow, "open": "09:00", "close": "17:00"}]});
        let r = c.by(&agent, "PUT", &hours, Some(set.clone())).await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "[{name}] agents do not change widgets"
        );
        let r = c.by(&stranger, "PUT", &hours, Some(set.clone())).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = c.by(&owner, "PUT", &hours, Some(set.clone())).await;
        assert_eq!(r.status, StatusCode::OK, "[{name}] {}", r.body);
        let back = (now_ms().div_euclid(86_400_000) + 1) * 86_400_000 + 9 * 3_600_000;
        let cfg = c
            .send(
                "GET",
                &format!("/api/widgets/{w}/config?key={key}"),
                &[origin],
                None,
            )
            .await;
        let a = &cfg.body["config"]["availability"];
        assert_eq!(
            (
                a["online"].clone(),
                a["reason"].clone(),
                a["backAt"].clone()
            ),
            (json!(false), json!("outside_hours"), json!(back)),
            "[{name}] {}",
            cfg.body
        );
        assert_eq!(cfg.body["config"]["calls"]["video"], false);

        // Outside hours the offline form takes a lead without a lead form; it reaches the inbox.
        let lead = |extra: Value| {
            let mut b = json!({"clientId": w, "widgetKey": key, "domain": "www.example.com",
                               "visitorId": "visitor-0777", "name": "Ana",
                               "message": "Call me about pricing"});
            for (k, v) in extra.as_object().unwrap() {
                b[k] = v.clone();
            }
            b.to_string()
        };
        let r = c
            .send("POST", "/widget/lead", &[origin], Some(&lead(json!({}))))
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "[{name}] no way back: {}",
            r.body
        );
        let r = c
            .send(
                "POST",
                "/widget/lead",
                &[origin],
                Some(&lead(json!({"email": "ana@example.org"}))),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "[{name}] {}", r.body);
        let r = c
            .by(&owner, "GET", "/api/v1/conversations?state=open", None)
            .await;
        assert_eq!(visitors(&r), ["visitor-0777"], "[{name}] {}", r.body);
        let preview = r.body["data"][0]["preview"].as_str().unwrap();
        assert!(
            preview.contains("Left their details") && preview.contains("ana@example.org"),
            "{preview}"
        );
        assert_eq!(r.body["data"][0]["contact"]["email"], "ana@example.org");
        // The contact's page, for the team only.
        let contact = r.body["data"][0]["contact"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (st, html, _) = page(&c, Some(&owner), &format!("/contacts/{contact}")).await;
        assert_eq!(st, StatusCode::OK, "[{name}] {html}");
        assert!(
            html.contains("ana@example.org") && html.contains(&format!("/inbox/{w}/visitor-0777")),
            "{html}"
        );
        let (_, html, _) = page(&c, Some(&owner), "/contacts?q=ana").await;
        assert!(
            html.contains(&format!("/contacts/{contact}")),
            "search finds her"
        );
        // The merge picker offers the tenant's other matches, never the contact itself or
        // another tenant's.
        let named = |first: &str, email: &str| ringside_storage::ContactPatch {
            first_name: Some(Some(first.into())),
            email: Some(Some(email.into())),
            ..Default::default()
        };
        let dup = c
            .store
            .create_contact(owner.tenant(), named("Ana", "ana.work@example.org"))
            .await
            .unwrap();
        let theirs = c
            .store
            .create_contact(stranger.tenant(), named("Ana", "ana.other@example.org"))
            .await
            .unwrap();
        let (st, html, _) = page(&c, Some(&owner), &format!("/contacts/{contact}?dup=ana")).await;
        assert_eq!(st, StatusCode::OK, "[{name}]");
        assert!(
            html.contains(&format!("name=\"sourceContactId\" value=\"{}\"", dup.id)),
            "[{name}] the duplicate offered: {html}"
        );
        assert!(
            !html.contains(&format!("value=\"{contact}\"")),
            "[{name}] not itself"
        );
        assert!(!html.contains(&theirs.id), "[{name}] nor another tenant's");
        let (_, html, _) = page(&c, Some(&owner), &format!("/contacts/{contact}?dup=nobody")).await;
        assert!(html.contains("No other contact matches."), "[{name}]");
        let (st, html, _) = page(&c, Some(&stranger), &format!("/contacts/{contact}")).await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        assert!(!html.contains("ana@example.org"));
        let (_, html, _) = page(&c, Some(&stranger), "/contacts?q=ana").await;
        assert!(!html.contains("ana@example.org"));

        // The visitor's page gets its chat back: its own, nobody else's, nothing internal.
        c.store
            .add_message(
                owner.tenant(),
                &w,
                say("visitor-0777", "operator", "Hi Ana!"),
            )
            .await
            .unwrap();
        c.store
            .add_message(
                owner.tenant(),
                &w,
                say("visitor-0888", "visitor", "not yours"),
            )
            .await
            .unwrap();
        c.by(
            &owner,
            "POST",
            &format!("/api/v1/widgets/{w}/visitors/visitor-0777/notes"),
            Some(json!({"body": "internal only"})),
        )
        .await;
        let hist = format!("/api/widgets/{w}/messages?key={key}&visitorId=visitor-0777");
        let r = c.send("GET", &hist, &[origin], None).await;
        assert_eq!(r.status, StatusCode::OK, "[{name}] {}", r.body);
        let bodies: Vec<&str> = r.body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["body"].as_str().unwrap())
            .collect();
        assert_eq!(
            bodies,
            ["Hi Ana!"],
            "the lead stays a lead, not a chat line"
        );
        let text = r.body.to_string();
        assert!(
            !text.contains("not yours")
                && !text.contains("internal only")
                && !text.contains("authorUserId")
        );
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://www.example.com")
        );
        for (path, headers, want) in [
            (
                format!("/api/widgets/{w}/messages?visitorId=visitor-0777"),
                vec![origin],
                401u16,
            ),
            (
                format!("/api/widgets/{w}/messages?key=wk_wrong&visitorId=visitor-0777"),
                vec![origin],
                401,
            ),
            (hist.clone(), vec![("origin", "https://evil.example")], 403),
            (
                format!("/api/widgets/{w}/messages?key={key}&visitorId=bad%20id"),
                vec![origin],
                422,
            ),
            (
                format!("/api/widgets/{w}/messages?key={key}"),
                vec![origin],
                422,
            ),
        ] {
            let r = c.send("GET", &path, &headers, None).await;
            assert_eq!(r.status.as_u16(), want, "[{name}] {path} {}", r.body);
        }

        // The settings pages: the team's webhooks and SIP, for owners; agents are told no.
        let hook = c
            .by(&owner, "POST", "/api/v1/webhooks",
                Some(json!({"name": "crm", "url": "https://example.com/hook", "events": ["callback.submitted"]})))
            .await;
        let hook_id = hook.body["id"].as_str().unwrap().to_owned();
        for p in [
            "/settings/webhooks",
            "/settings/sip",
            &format!("/settings/webhooks/{hook_id}"),
        ] {
            let (st, html, _) = page(&c, Some(&owner), p).await;
            assert_eq!(st, StatusCode::OK, "[{name}] {p}: {html}");
            assert!(html.contains("<form"), "[{name}] {p} has its forms");
            let (st, html, _) = page(&c, Some(&agent), p).await;
            assert!(
                st == StatusCode::OK || st == StatusCode::NOT_FOUND,
                "[{name}] agent {p}: {st}"
            );
            assert!(
                !html.contains("data-url=\"/api/v1/webhooks\"")
                    && !html.contains("https://example.com/hook"),
                "[{name}] agent {p}"
            );
        }
        let (_, html, _) = page(&c, Some(&owner), "/settings/webhooks").await;
        assert!(
            html.contains("https://example.com/hook")
                && !html.contains(hook.body["secret"].as_str().unwrap())
        );
        let (st, _, _) = page(
            &c,
            Some(&stranger),
            &format!("/settings/webhooks/{hook_id}"),
        )
        .await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        let (_, html, _) = page(&c, Some(&owner), &format!("/widgets/{w}")).await;
        assert!(
            html.contains("Save hours") && html.contains("Closed now"),
            "{html}"
        );
        backend.finish().await;
    }
}
