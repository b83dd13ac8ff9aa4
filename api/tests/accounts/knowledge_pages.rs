//! The assistant's dashboard pages as a signed-in browser gets them: a widget's knowledge
//! page, a crawled source's page and the assistant settings, for the team and nobody else.

use axum::http::StatusCode;
use serde_json::json;

use super::dashboard::{agent_of, widget};
use super::{backends, ctx, uniq};
use crate::common::{Harness, Resp};

/// The assistant's pages: a widget's knowledge page (its sources escaped, the forms for the
/// team's owners and admins only, a question tried on the page answered with its source), a
/// crawled source's page, and the assistant settings page (the provider's key never in it);
/// 404 for another tenant's widget or source, sign-in for strangers.
#[tokio::test]
async fn knowledge_pages_for_the_team_and_nobody_else() {
    for backend in backends().await {
        let name = backend.name;
        let c = ctx(&backend.store);
        let owner = c.sign_in(&uniq("kb-owner")).await;
        let stranger = c.sign_in(&uniq("kb-stranger")).await;
        let w = widget(&c, &owner, "Shop").await;
        let sources = format!("/api/v1/widgets/{w}/knowledge/sources");
        for body in [
            json!({"type": "qa", "question": "<script>alert(1)</script> Do you deliver?", "answer": "Delivery to Spain takes three working days."}),
            json!({"type": "text", "title": "Returns", "text": "Returns are accepted within thirty days."}),
        ] {
            let r = c.by(&owner, "POST", &sources, Some(body)).await;
            assert_eq!(r.status, StatusCode::CREATED, "[{name}] {}", r.body);
        }
        let r = c
            .by(
                &owner,
                "PUT",
                "/api/v1/account/ai-provider",
                Some(json!({"baseUrl": "https://api.openai.example/v1", "model": "gpt-4o-mini", "apiKey": "sk-never-shown"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let text = |r: &Resp| String::from_utf8_lossy(&r.raw).into_owned();
        let page = format!("/widgets/{w}/knowledge");
        let r = c.as_browser(&owner, "GET", &page, None, false).await;
        assert_eq!(r.status, StatusCode::OK, "[{name}]");
        let t = text(&r);
        assert!(t.contains("&lt;script&gt;alert(1)&lt;/script&gt; Do you deliver?"));
        assert!(!t.contains("<script>alert"));
        assert!(t.contains(&format!("data-url=\"{sources}\"")), "add forms");
        assert!(t.contains("2 sources, 2 passages."), "{t}");
        assert!(t.contains("Answers are written by <strong>gpt-4o-mini</strong>"));
        // Another widget's sources are offered to this widget's assistant, named as such.
        let w2 = widget(&c, &owner, "Second site").await;
        let r = c
            .by(
                &owner,
                "POST",
                &format!("/api/v1/widgets/{w2}/knowledge/sources"),
                Some(json!({"type": "qa", "question": "Gift cards?", "answer": "Yes, from 10 euros."})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let t = text(&c.as_browser(&owner, "GET", &page, None, false).await);
        assert!(t.contains("Gift cards? (from Second site)"), "{t}");
        // A question tried on the page.
        let r = c
            .as_browser(
                &owner,
                "GET",
                &format!("{page}?q=How+long+does+delivery+to+Spain+take%3F"),
                None,
                false,
            )
            .await;
        let t = text(&r);
        assert!(
            t.contains("<p class=\"answer\">Delivery to Spain takes three working days.</p>"),
            "{t}"
        );
        // The widget's page links here; the settings page holds the provider without its key.
        let r = c
            .as_browser(&owner, "GET", &format!("/widgets/{w}"), None, false)
            .await;
        assert!(text(&r).contains(&format!("href=\"/widgets/{w}/knowledge\"")));
        let r = c
            .as_browser(&owner, "GET", "/settings/assistant", None, false)
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let t = text(&r);
        assert!(
            t.contains("value=\"https://api.openai.example/v1\"")
                && t.contains("An API key is stored.")
        );
        assert!(!t.contains("sk-never-shown"));
        assert!(t.contains("data-url=\"/api/v1/integrations\""));
        // An agent sees the sources, not the forms.
        let agent = agent_of(&c, &owner).await;
        let r = c.as_browser(&agent, "GET", &page, None, false).await;
        assert_eq!(r.status, StatusCode::OK);
        let t = text(&r);
        assert!(t.contains("Returns") && !t.contains(&format!("data-url=\"{sources}\"")));
        assert!(!t.contains("data-method=\"DELETE\" data-url=\"/api/v1/widgets/"));
        let t = text(
            &c.as_browser(&agent, "GET", "/settings/assistant", None, false)
                .await,
        );
        assert!(!t.contains("data-url=\"/api/v1/integrations\"") && t.contains(" disabled"));
        // Another tenant: not found; signed out: to sign in.
        let listed = c.by(&owner, "GET", &sources, None).await;
        let src = listed.body["data"][0]["id"].as_str().unwrap().to_owned();
        for p in [page.clone(), format!("{page}/{src}")] {
            let r = c.as_browser(&stranger, "GET", &p, None, false).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "[{name}] {p}");
            assert!(!text(&r).contains("Do you deliver"));
            let r = c.send("GET", &p, &[], None).await;
            assert_eq!(r.status, StatusCode::SEE_OTHER, "{p}");
        }
        let r = c
            .as_browser(&owner, "GET", &format!("{page}/nope"), None, false)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let t = text(
            &c.as_browser(&stranger, "GET", "/settings/assistant", None, false)
                .await,
        );
        assert!(!t.contains("api.openai.example") && t.contains("No provider"));
        backend.finish().await;
    }
}
