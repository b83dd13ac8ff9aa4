//! Tokens made by people, teams with roles and invitations, assignments and note authors,
//! agents given some widgets.

use super::*;

#[tokio::test]
async fn people_make_tokens_with_at_most_their_rights() {
    for backend in backends().await {
        let name = backend.name;
        let c = ctx(&backend.store);
        let owner = c.sign_in(&uniq("own")).await;
        // Tokens are managed from a session only.
        let tok = c
            .token(&uniq("bearer"), &["widgets:read", "webhooks:write"])
            .await;
        for (m, p) in [
            ("GET", "/api/v1/tokens"),
            ("POST", "/api/v1/tokens"),
            ("GET", "/api/v1/users"),
        ] {
            let (st, b) = c.call(m, p, Some(&tok), Some("{}")).await;
            assert_eq!(st, StatusCode::UNAUTHORIZED, "[{name}] {m} {p}");
            assert_error(&b, "unauthorized");
        }
        // Validation.
        for (body, status, code) in [
            (json!({"name": "r", "scopes": []}), 422, "invalid_field"),
            (
                json!({"name": "", "scopes": ["widgets:read"]}),
                422,
                "invalid_field",
            ),
            (
                json!({"name": "r", "scopes": ["root"]}),
                422,
                "invalid_field",
            ),
            (json!({"name": "r"}), 400, "invalid_body"),
        ] {
            let r = c.by(&owner, "POST", "/api/v1/tokens", Some(body)).await;
            assert_eq!(r.status.as_u16(), status, "[{name}] {}", r.body);
            assert_error(&r.body, code);
        }
        let r = c
            .as_browser(
                &owner,
                "POST",
                "/api/v1/tokens",
                Some(json!({"name": "r", "scopes": ["widgets:read"]})),
                false,
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "CSRF-less token creation");
        // A read-only token: shown once, works, is listed without its secret.
        let r = c
            .by(
                &owner,
                "POST",
                "/api/v1/tokens",
                Some(json!({"name": "Reporting", "scopes": ["widgets:read", "calls:read", "widgets:read"]})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "[{name}] {}", r.body);
        assert_eq!(r.body["scopes"], json!(["widgets:read", "calls:read"]));
        let secret = r.body["token"].as_str().unwrap().to_owned();
        let id = r.body["id"].as_str().unwrap().to_owned();
        let (st, _) = c.call("GET", "/api/v1/widgets", Some(&secret), None).await;
        assert_eq!(st, StatusCode::OK);
        let (st, _) = c
            .json("POST", "/api/v1/widgets", &secret, json!({"name": "x"}))
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        let r = c.by(&owner, "GET", "/api/v1/tokens", None).await;
        let listed = &r.body["data"][0];
        assert_eq!(listed["id"], id.as_str());
        assert!(listed.get("token").is_none(), "{listed}");
        assert!(!r.raw.windows(secret.len()).any(|w| w == secret.as_bytes()));
        // Revoked: refused at once.
        let r = c
            .by(&owner, "DELETE", &format!("/api/v1/tokens/{id}"), None)
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        let (st, b) = c.call("GET", "/api/v1/widgets", Some(&secret), None).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        assert_error(&b, "unauthorized");
        let r = c.by(&owner, "DELETE", "/api/v1/tokens/nope", None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        backend.finish().await;
    }
}

#[tokio::test]
async fn teams_invite_agents_who_see_only_what_agents_may() {
    for backend in backends().await {
        let name = backend.name;
        let c = ctx(&backend.store);
        let owner_email = uniq("boss");
        let owner = c.sign_in(&owner_email).await;
        let agent_email = uniq("agent");
        // Invitations: validation, then one with a link by mail.
        for (body, status, code) in [
            (
                json!({"email": "nope", "role": "agent"}),
                422,
                "invalid_field",
            ),
            (
                json!({"email": agent_email, "role": "king"}),
                422,
                "invalid_field",
            ),
            (json!({"email": agent_email}), 400, "invalid_body"),
        ] {
            let r = c.by(&owner, "POST", "/api/v1/invites", Some(body)).await;
            assert_eq!(r.status.as_u16(), status, "[{name}] {}", r.body);
            assert_error(&r.body, code);
        }
        let r = c
            .by(
                &owner,
                "POST",
                "/api/v1/invites",
                Some(json!({"email": agent_email, "role": "agent"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "[{name}] {}", r.body);
        let link = r.body["link"].as_str().unwrap().to_owned();
        let invite_id = r.body["id"].as_str().unwrap().to_owned();
        let mail = c.inbox.nth_to(&agent_email, "invited you", 1).await;
        assert!(mail.text.contains(&link), "{mail:?}");
        assert!(mail.subject.contains(&owner_email));
        let secret = link.split("invite=").nth(1).unwrap().to_owned();
        let r = c.by(&owner, "GET", "/api/v1/invites", None).await;
        assert_eq!(r.body["data"][0]["id"], invite_id.as_str());
        assert!(r.body["data"][0].get("link").is_none());
        // The link tells what it offers; a bad one is 404.
        let r = c
            .post("/api/v1/auth/invite", json!({"invite": secret}), None)
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body["email"], agent_email.as_str());
        assert_eq!(r.body["role"], "agent");
        assert_eq!(r.body["tenant"]["id"], owner.tenant());
        let r = c
            .post(
                "/api/v1/auth/invite",
                json!({"invite": "ringside_inv_nope"}),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        // The agent signs in with their own code and the invitation: joins the owner's tenant.
        let agent = c.sign_in_with(&agent_email, Some(&secret)).await;
        assert_eq!(agent.tenant(), owner.tenant());
        assert_eq!(agent.body["user"]["role"], "agent");
        // Used up.
        let r = c
            .post("/api/v1/auth/invite", json!({"invite": secret}), None)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        // What an agent may and may not do.
        let w = c
            .by(
                &owner,
                "POST",
                "/api/v1/widgets",
                Some(json!({"name": "Shop"})),
            )
            .await;
        assert_eq!(w.status, StatusCode::CREATED);
        let widget_id = w.body["id"].as_str().unwrap().to_owned();
        assert_eq!(
            c.by(&agent, "GET", "/api/v1/widgets", None).await.status,
            StatusCode::OK
        );
        assert_eq!(
            c.by(&agent, "GET", "/api/v1/users", None).await.status,
            StatusCode::OK
        );
        for (m, p, body) in [
            (
                "POST",
                "/api/v1/widgets".to_owned(),
                Some(json!({"name": "x"})),
            ),
            (
                "PATCH",
                format!("/api/v1/widgets/{widget_id}"),
                Some(json!({"name": "x"})),
            ),
            ("GET", "/api/v1/webhooks".to_owned(), None),
            ("GET", "/api/v1/sip/trunks".to_owned(), None),
            ("GET", "/api/v1/invites".to_owned(), None),
            (
                "POST",
                "/api/v1/invites".to_owned(),
                Some(json!({"email": "z@z.example", "role": "owner"})),
            ),
            (
                "PATCH",
                format!("/api/v1/users/{}", agent.user_id()),
                Some(json!({"role": "owner"})),
            ),
            ("DELETE", format!("/api/v1/users/{}", owner.user_id()), None),
            (
                "POST",
                "/api/v1/tokens".to_owned(),
                Some(json!({"name": "t", "scopes": ["webhooks:write"]})),
            ),
        ] {
            let r = c.by(&agent, m, &p, body).await;
            assert_eq!(
                r.status,
                StatusCode::FORBIDDEN,
                "[{name}] agent {m} {p}: {}",
                r.body
            );
            assert_error(&r.body, "forbidden");
        }
        // An agent's token holds agent scopes only.
        let r = c
            .by(
                &agent,
                "POST",
                "/api/v1/tokens",
                Some(json!({"name": "mine", "scopes": ["messages:write"]})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
        let agent_token_id = r.body["id"].as_str().unwrap().to_owned();
        // Agents list and revoke their own tokens only; owners see all.
        let owner_tok = c
            .by(
                &owner,
                "POST",
                "/api/v1/tokens",
                Some(json!({"name": "o", "scopes": ["sip:read"]})),
            )
            .await;
        let owner_tok_id = owner_tok.body["id"].as_str().unwrap();
        let r = c.by(&agent, "GET", "/api/v1/tokens", None).await;
        assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
        let r = c
            .by(
                &agent,
                "DELETE",
                &format!("/api/v1/tokens/{owner_tok_id}"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = c.by(&owner, "GET", "/api/v1/tokens", None).await;
        assert_eq!(r.body["data"].as_array().unwrap().len(), 2);
        // Agents answer calls; deleting recordings is not theirs to do.
        let r = c.by(&agent, "DELETE", "/api/v1/recordings/any", None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "[{name}] {}", r.body);
        // Role changes apply to a live session at once.
        let r = c
            .by(
                &owner,
                "PATCH",
                &format!("/api/v1/users/{}", agent.user_id()),
                Some(json!({"role": "admin"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["role"], "admin");
        assert_eq!(
            c.by(&agent, "GET", "/api/v1/webhooks", None).await.status,
            StatusCode::OK
        );
        // Admins do everything but users.
        let r = c.by(&agent, "GET", "/api/v1/invites", None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        // The last owner stays; bad roles and strangers' ids are refused.
        let r = c
            .by(
                &owner,
                "PATCH",
                &format!("/api/v1/users/{}", owner.user_id()),
                Some(json!({"role": "agent"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
        let r = c
            .by(
                &owner,
                "DELETE",
                &format!("/api/v1/users/{}", owner.user_id()),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        let r = c
            .by(
                &owner,
                "PATCH",
                &format!("/api/v1/users/{}", agent.user_id()),
                Some(json!({"role": "god"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        // Removal ends the agent's sessions and tokens at once.
        let r = c
            .by(
                &owner,
                "DELETE",
                &format!("/api/v1/users/{}", agent.user_id()),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert_eq!(
            c.by(&agent, "GET", "/api/v1/widgets", None).await.status,
            StatusCode::UNAUTHORIZED
        );
        let r = c.by(&owner, "GET", "/api/v1/tokens", None).await;
        assert!(r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["id"] != agent_token_id.as_str()));
        // A withdrawn invitation's link no longer signs anyone in.
        let late = uniq("late");
        let r = c
            .by(
                &owner,
                "POST",
                "/api/v1/invites",
                Some(json!({"email": late, "role": "admin"})),
            )
            .await;
        let (id, link) = (
            r.body["id"].as_str().unwrap().to_owned(),
            r.body["link"].as_str().unwrap().to_owned(),
        );
        let r = c
            .by(&owner, "DELETE", &format!("/api/v1/invites/{id}"), None)
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        let code = c.request_code(&late).await;
        let r = c
            .post(
                "/api/v1/auth/session",
                json!({"email": late, "code": code, "invite": link.split("invite=").nth(1).unwrap()}),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "[{name}] {}", r.body);
        assert!(c.store.find_user_by_email(&late).await.unwrap().is_none());
        backend.finish().await;
    }
}

#[tokio::test]
async fn chats_and_calls_are_assigned_and_notes_show_their_author() {
    for backend in backends().await {
        let name = backend.name;
        let c = ctx(&backend.store);
        let owner_email = uniq("assign-owner");
        let owner = c.sign_in(&owner_email).await;
        let r = c
            .by(
                &owner,
                "POST",
                "/api/v1/invites",
                Some(json!({"email": uniq("assign-agent"), "role": "agent"})),
            )
            .await;
        let agent_email = r.body["email"].as_str().unwrap().to_owned();
        let secret = r.body["link"]
            .as_str()
            .unwrap()
            .split("invite=")
            .nth(1)
            .unwrap()
            .to_owned();
        let agent = c.sign_in_with(&agent_email, Some(&secret)).await;
        let stranger = c.sign_in(&uniq("assign-stranger")).await;
        let w = c
            .by(
                &owner,
                "POST",
                "/api/v1/widgets",
                Some(json!({"name": "Desk"})),
            )
            .await
            .body["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let hook = c
            .by(
                &owner,
                "POST",
                "/api/v1/webhooks",
                Some(json!({"name": "team", "url": "https://example.com/team",
                            "events": ["conversation.assigned", "call.assigned"]})),
            )
            .await;
        assert_eq!(hook.status, StatusCode::CREATED, "{}", hook.body);
        let hook = hook.body["id"].as_str().unwrap().to_owned();
        let chat = format!("/api/v1/widgets/{w}/visitors/visitor-0001/assignee");
        // Nobody yet; the agent takes it.
        let r = c.by(&agent, "GET", &chat, None).await;
        assert_eq!(
            (r.status, &r.body["assignee"]),
            (StatusCode::OK, &Value::Null),
            "[{name}]"
        );
        let r = c
            .by(&agent, "PUT", &chat, Some(json!({"userId": "me"})))
            .await;
        assert_eq!(r.status, StatusCode::OK, "[{name}] {}", r.body);
        assert_eq!(r.body["assignee"]["email"], agent_email.as_str());
        assert_eq!(r.body["assignee"]["assignedBy"], agent.user_id());
        // The owner moves it to themself; the agent can no longer take it or give it away.
        let r = c
            .by(
                &owner,
                "PUT",
                &chat,
                Some(json!({"userId": owner.user_id()})),
            )
            .await;
        assert_eq!(r.body["assignee"]["email"], owner_email.as_str());
        for body in [
            json!({"userId": "me"}),
            json!({"userId": null}),
            json!({"userId": owner.user_id()}),
        ] {
            let r = c.by(&agent, "PUT", &chat, Some(body.clone())).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "[{name}] agent {body}");
            assert_error(&r.body, "forbidden");
        }
        // Back to the agent, listed as theirs; they let go of it.
        c.by(
            &owner,
            "PUT",
            &chat,
            Some(json!({"userId": agent.user_id()})),
        )
        .await;
        let r = c
            .by(
                &agent,
                "GET",
                &format!("/api/v1/widgets/{w}/assignments?userId=me"),
                None,
            )
            .await;
        assert_eq!(r.body["data"][0]["visitorId"], "visitor-0001", "{}", r.body);
        let r = c
            .by(
                &owner,
                "GET",
                &format!("/api/v1/widgets/{w}/assignments?userId=me"),
                None,
            )
            .await;
        assert_eq!(r.body["data"], json!([]));
        // A user id no user can have (a NUL, which PostgreSQL refuses in text): 422, not 500.
        let r = c
            .by(
                &owner,
                "GET",
                &format!("/api/v1/widgets/{w}/assignments?userId=%00x"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        let r = c
            .by(&agent, "PUT", &chat, Some(json!({"userId": null})))
            .await;
        assert_eq!(
            (r.status, &r.body["assignee"]),
            (StatusCode::OK, &Value::Null)
        );
        // Refusals: a stranger's user id, a stranger's widget, a bad visitor id, a bad body.
        let r = c
            .by(
                &owner,
                "PUT",
                &chat,
                Some(json!({"userId": stranger.user_id()})),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "[{name}] {}",
            r.body
        );
        assert_error(&r.body, "invalid_field");
        let r = c
            .by(&stranger, "PUT", &chat, Some(json!({"userId": "me"})))
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = c
            .by(
                &owner,
                "PUT",
                &format!("/api/v1/widgets/{w}/visitors/x/assignee"),
                Some(json!({"userId": "me"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        let r = c
            .by(&owner, "PUT", &chat, Some(json!({"user": "me"})))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        // Calls: assigned the same way, and the call shows its assignee.
        let call_id = ringside_storage::new_id();
        let now = ringside_storage::now_ms();
        c.store
            .insert_call(&ringside_storage::CallRecord {
                id: call_id.clone(),
                tenant_id: owner.tenant().to_owned(),
                kind: "sip".parse().unwrap(),
                from_uri: "sip:alice@example.com".into(),
                to_uri: "sip:desk@example.com".into(),
                status: "ended".parse().unwrap(),
                started_at: now,
                answered_at: Some(now),
                ended_at: Some(now + 1000),
                end_reason: None,
                hangup_side: None,
                widget_id: None,
                visitor_id: None,
                answered_by: None,
                node_id: None,
                legs: Vec::new(),
            })
            .await
            .unwrap();
        let call = format!("/api/v1/calls/{call_id}/assignee");
        let r = c
            .by(&agent, "PUT", &call, Some(json!({"userId": "me"})))
            .await;
        assert_eq!(r.status, StatusCode::OK, "[{name}] {}", r.body);
        let r = c
            .by(&owner, "GET", &format!("/api/v1/calls/{call_id}"), None)
            .await;
        assert_eq!(
            r.body["assignedTo"]["email"],
            agent_email.as_str(),
            "{}",
            r.body
        );
        let r = c.by(&owner, "GET", "/api/v1/calls", None).await;
        assert_eq!(r.body[0]["assignedTo"]["userId"], agent.user_id());
        let r = c
            .by(&stranger, "PUT", &call, Some(json!({"userId": "me"})))
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        // Every change was queued for the webhook, newest first: the call, then the chat's.
        let r = c
            .by(
                &owner,
                "GET",
                &format!("/api/v1/webhooks/{hook}/deliveries"),
                None,
            )
            .await;
        let log = r.body.as_array().unwrap().clone();
        assert_eq!(log[0]["type"], "call.assigned", "{}", r.body);
        assert_eq!(log[0]["data"]["callId"], call_id.as_str());
        assert_eq!(log[0]["data"]["assignee"]["email"], agent_email.as_str());
        let chats: Vec<&Value> = log
            .iter()
            .filter(|d| d["type"] == "conversation.assigned")
            .collect();
        assert_eq!(
            chats.len(),
            4,
            "taken, moved, moved back, let go: {}",
            r.body
        );
        assert_eq!(
            chats[0]["data"]["assignee"],
            Value::Null,
            "the last one cleared it"
        );
        assert_eq!(chats[0]["data"]["visitorId"], "visitor-0001");
        // Notes carry their author's email.
        let notes = format!("/api/v1/widgets/{w}/visitors/visitor-0001/notes");
        let r = c
            .by(
                &agent,
                "POST",
                &notes,
                Some(json!({"body": "Called back, wants a quote"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(r.body["authorEmail"], agent_email.as_str(), "{}", r.body);
        let r = c.by(&owner, "GET", &notes, None).await;
        assert_eq!(
            r.body["notes"][0]["authorEmail"],
            agent_email.as_str(),
            "{}",
            r.body
        );
        // Removing the agent clears their assignments; their notes stay, without an email.
        c.by(
            &owner,
            "DELETE",
            &format!("/api/v1/users/{}", agent.user_id()),
            None,
        )
        .await;
        let r = c
            .by(&owner, "GET", &format!("/api/v1/calls/{call_id}"), None)
            .await;
        assert_eq!(r.body["assignedTo"], Value::Null);
        let r = c.by(&owner, "GET", &notes, None).await;
        assert_eq!(r.body["notes"][0]["body"], "Called back, wants a quote");
        assert_eq!(r.body["notes"][0]["authorEmail"], Value::Null);
        backend.finish().await;
    }
}

#[tokio::test]
async fn an_agent_given_some_widgets_sees_only_those() {
    for backend in backends().await {
        let name = backend.name;
        let c = ctx(&backend.store);
        let owner = c.sign_in(&uniq("widgets-owner")).await;
        let stranger = c.sign_in(&uniq("widgets-stranger")).await;
        let mk = |b: &Browser, n: &str| {
            let b = b.clone();
            let n = n.to_owned();
            let c = &c;
            async move {
                c.by(&b, "POST", "/api/v1/widgets", Some(json!({"name": n})))
                    .await
                    .body["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            }
        };
        let (a, b) = (mk(&owner, "Shop A").await, mk(&owner, "Shop B").await);
        let theirs = mk(&stranger, "Elsewhere").await;
        let r = c
            .by(
                &owner,
                "POST",
                "/api/v1/invites",
                Some(json!({"email": uniq("widgets-agent"), "role": "agent"})),
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
        let agent = c.sign_in_with(&email, Some(&secret)).await;
        let path = format!("/api/v1/users/{}/widgets", agent.user_id());
        // Refusals: another tenant's widget, an agent doing it, an unknown user.
        let r = c
            .by(
                &owner,
                "PUT",
                &path,
                Some(json!({"widgetIds": [a, theirs]})),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "[{name}] {}",
            r.body
        );
        let r = c
            .by(&agent, "PUT", &path, Some(json!({"widgetIds": null})))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = c
            .by(
                &owner,
                "PUT",
                "/api/v1/users/nobody/widgets",
                Some(json!({"widgetIds": null})),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        // Everything at first; then only Shop A, at once for the live session.
        let listed = |r: &Resp| -> Vec<String> {
            r.body
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w["id"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            listed(&c.by(&agent, "GET", "/api/v1/widgets", None).await).len(),
            2
        );
        let r = c
            .by(&owner, "PUT", &path, Some(json!({"widgetIds": [a]})))
            .await;
        assert_eq!(r.status, StatusCode::OK, "[{name}] {}", r.body);
        assert_eq!(r.body["widgetIds"], json!([a]));
        let r = c.by(&owner, "GET", "/api/v1/users", None).await;
        let me = r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == email.as_str())
            .unwrap()
            .clone();
        assert_eq!(me["widgetIds"], json!([a]));
        assert_eq!(
            listed(&c.by(&agent, "GET", "/api/v1/widgets", None).await),
            vec![a.clone()]
        );
        let tok = c
            .by(
                &agent,
                "POST",
                "/api/v1/tokens",
                Some(
                    json!({"name": "t", "scopes": ["messages:read", "widgets:read", "calls:read"]}),
                ),
            )
            .await
            .body["token"]
            .as_str()
            .unwrap()
            .to_owned();
        for (p, want) in [
            (format!("/api/v1/widgets/{a}"), 200),
            (format!("/api/v1/widgets/{a}/messages"), 200),
            (format!("/api/v1/widgets/{b}"), 404),
            (format!("/api/v1/widgets/{b}/messages"), 404),
            (format!("/api/v1/widgets/{b}/calls"), 404),
            ("/api/v1/calls".to_owned(), 403),
            ("/api/v1/contacts".to_owned(), 403),
            ("/api/v1/recordings/x".to_owned(), 403),
            ("/api/v1/users".to_owned(), 200),
        ] {
            let r = c.by(&agent, "GET", &p, None).await;
            assert_eq!(
                r.status.as_u16(),
                want,
                "[{name}] session GET {p}: {}",
                r.body
            );
            if !p.ends_with("/users") {
                let (st, _) = c.call("GET", &p, Some(&tok), None).await;
                assert_eq!(st.as_u16(), want, "[{name}] token GET {p}");
            }
        }
        let home = c.as_browser(&agent, "GET", "/", None, false).await;
        let text = String::from_utf8_lossy(&home.raw).into_owned();
        assert!(
            text.contains("Shop A") && !text.contains("Shop B"),
            "{text}"
        );
        let team = String::from_utf8_lossy(
            &c.as_browser(&owner, "GET", "/settings/team", None, false)
                .await
                .raw,
        )
        .into_owned();
        assert!(
            team.contains(&format!("data-url=\"{path}\"")),
            "the owner can change it"
        );
        // Back to all.
        let r = c
            .by(&owner, "PUT", &path, Some(json!({"widgetIds": null})))
            .await;
        assert_eq!(r.body["widgetIds"], Value::Null);
        assert_eq!(
            c.by(&agent, "GET", &format!("/api/v1/widgets/{b}"), None)
                .await
                .status,
            StatusCode::OK
        );
        assert_eq!(
            c.by(&agent, "GET", "/api/v1/calls", None).await.status,
            StatusCode::OK
        );
        backend.finish().await;
    }
}
