//! Alerts in the dashboard: `/settings/alerts` as a signed-in browser gets it, and the alert
//! endpoints for a session of any role (an agent makes and sees only their own rules, over
//! only the widgets they were given), while an agent's token still needs the scopes it cannot
//! hold.

use axum::http::StatusCode;
use serde_json::json;

use super::dashboard::{agent_of, widget};
use super::{backends, ctx};
use crate::common::{Harness, Resp};

#[tokio::test]
async fn agents_keep_their_own_alerts_in_the_dashboard() {
    for backend in backends().await {
        let name = backend.name;
        let c = ctx(&backend.store);
        let owner = c.sign_in(&super::uniq("al-owner")).await;
        let shop = widget(&c, &owner, "Shop").await;
        let blog = widget(&c, &owner, "Blog <b>").await;
        let agent = agent_of(&c, &owner).await;
        let r = c
            .by(
                &owner,
                "PUT",
                &format!("/api/v1/users/{}/widgets", agent.user_id()),
                Some(json!({"widgetIds": [blog]})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "[{name}] {}", r.body);
        let text = |r: &Resp| String::from_utf8_lossy(&r.raw).into_owned();

        // The page, empty, with its form (the agent's widgets only).
        let page = c.by(&agent, "GET", "/settings/alerts", None).await;
        assert_eq!(page.status, StatusCode::OK);
        let html = text(&page);
        assert!(html.contains("No alert yet"), "{html}");
        assert!(html.contains("data-kind=\"alert\""));
        // The browser form carries the server's VAPID public key (65 bytes, base64url).
        let key = html
            .split("data-kind=\"push\" data-key=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_default();
        assert_eq!(key.len(), 87, "{html}");
        assert!(key.starts_with('B'));
        assert!(!html.contains(&shop), "a widget the agent does not see");

        // A rule made through the session (as the page's form does), on their widget.
        let body = json!({"name": "My <phone>", "events": ["call.requested", "chat.message.created"],
                          "widgetIds": [blog], "groupSecs": 30,
                          "channel": {"type": "ntfy", "url": "https://ntfy.sh", "topic": "agent-desk", "token": "tk_agent"},
                          "quietHours": {"from": "22:00", "to": "07:00", "timeZone": "Europe/Lisbon"},
                          "visitorFilter": {"pageContains": "/pricing"}});
        let r = c
            .by(&agent, "POST", "/api/v1/alert-rules", Some(body))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "[{name}] {}", r.body);
        let id = r.body["id"].as_str().unwrap().to_owned();
        assert_eq!(r.body["visitorFilter"], json!({"pageContains": "/pricing"}));
        // Not the shop.
        let r = c
            .by(
                &agent,
                "POST",
                "/api/v1/alert-rules",
                Some(
                    json!({"name": "x", "events": ["call.missed"], "widgetIds": [shop],
                            "channel": {"type": "ntfy", "topic": "x"}}),
                ),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        // Without the CSRF token a session cannot change anything.
        let r = c
            .as_browser(
                &agent,
                "DELETE",
                &format!("/api/v1/alert-rules/{id}"),
                None,
                false,
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);

        let html = text(&c.by(&agent, "GET", "/settings/alerts", None).await);
        assert!(html.contains("My &lt;phone&gt;"), "escaped: {html}");
        assert!(html.contains("agent-desk"));
        assert!(html.contains("Blog &lt;b&gt;"));
        assert!(html.contains("quiet 22:00–07:00 (Europe/Lisbon)"));
        assert!(!html.contains("tk_agent"), "the token is never shown");
        assert!(html.contains(&format!("/api/v1/alert-rules/{id}/test")));
        assert!(html.contains("No alert sent yet"));
        // The test button's endpoint, then the log on the page.
        let r = c
            .by(
                &agent,
                "POST",
                &format!("/api/v1/alert-rules/{id}/test"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
        let html = text(&c.by(&agent, "GET", "/settings/alerts", None).await);
        assert!(html.contains(">Test<"), "{html}");
        assert!(html.contains("badge\">pending"));

        // The owner neither sees nor reaches the agent's rule; their page has none.
        let html = text(&c.by(&owner, "GET", "/settings/alerts", None).await);
        assert!(!html.contains("agent-desk"));
        let r = c
            .by(&owner, "GET", &format!("/api/v1/alert-rules/{id}"), None)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        // Strangers are sent to sign in.
        let r = c.call("GET", "/settings/alerts", None, None).await;
        assert_ne!(r.0, StatusCode::OK);
        // Off, then deleted, from the page's buttons' endpoints.
        let r = c
            .by(
                &agent,
                "PATCH",
                &format!("/api/v1/alert-rules/{id}"),
                Some(json!({"enabled": false})),
            )
            .await;
        assert_eq!(r.body["enabled"], false);
        let html = text(&c.by(&agent, "GET", "/settings/alerts", None).await);
        assert!(html.contains("badge off\">off") && html.contains(">Turn on<"));
        let r = c
            .by(&agent, "DELETE", &format!("/api/v1/alert-rules/{id}"), None)
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        backend.finish().await;
    }
}
