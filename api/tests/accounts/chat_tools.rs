//! Tools of a chat: canned replies (the API, the settings page, the chat page's list) and
//! files both ways (uploads from the widget and the dashboard, the type and size refusals,
//! downloads that only ever download), on SQLite and PostgreSQL.

use axum::http::StatusCode;
use serde_json::json;

use super::dashboard::{agent_of, page, say, widget};
use super::{backends, ctx, uniq, Ctx};
use crate::common::{Harness, Resp};

#[tokio::test]
async fn canned_replies_for_the_team() {
    for backend in backends().await {
        let name = backend.name;
        let c = ctx(&backend.store);
        let owner = c.sign_in(&uniq("canned-owner")).await;
        let stranger = c.sign_in(&uniq("canned-stranger")).await;
        let agent = agent_of(&c, &owner).await;
        let r = c
            .by(
                &agent,
                "POST",
                "/api/v1/canned-replies",
                Some(json!({"shortcut": "/Hours", "body": "We answer 9 to 5, Monday to Friday."})),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "[{name}] agents save replies too: {}",
            r.body
        );
        assert_eq!(r.body["shortcut"], "hours");
        let id = r.body["id"].as_str().unwrap().to_owned();
        // Bad input: 422 with the field; a taken shortcut: 409; nothing else stored.
        for (body, status, field) in [
            (
                json!({"shortcut": "two words", "body": "x"}),
                422,
                "shortcut",
            ),
            (json!({"shortcut": "ok", "body": "   "}), 422, "body"),
            (json!({"shortcut": "hours", "body": "again"}), 409, ""),
        ] {
            let r = c
                .by(&owner, "POST", "/api/v1/canned-replies", Some(body.clone()))
                .await;
            assert_eq!(r.status.as_u16(), status, "[{name}] {body}: {}", r.body);
            assert!(r.body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(field));
        }
        let r = c.by(&owner, "GET", "/api/v1/canned-replies", None).await;
        assert_eq!(
            r.body["data"].as_array().unwrap().len(),
            1,
            "[{name}] {}",
            r.body
        );
        let r = c
            .by(
                &owner,
                "PATCH",
                &format!("/api/v1/canned-replies/{id}"),
                Some(json!({"body": "9 to 6 now."})),
            )
            .await;
        assert_eq!(
            (r.status, r.body["body"].clone()),
            (StatusCode::OK, json!("9 to 6 now."))
        );
        // An agent changes their own replies, not the rest of the team's (403, unchanged).
        let r = c
            .by(
                &agent,
                "PATCH",
                &format!("/api/v1/canned-replies/{id}"),
                Some(json!({"body": "9 to 6 now."})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "[{name}] their own: {}", r.body);
        let r = c
            .by(
                &owner,
                "POST",
                "/api/v1/canned-replies",
                Some(json!({"shortcut": "refunds", "body": "Refunds take 5 days."})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "[{name}] {}", r.body);
        let owners = format!("/api/v1/canned-replies/{}", r.body["id"].as_str().unwrap());
        for (m, body) in [("PATCH", Some(json!({"body": "Never."}))), ("DELETE", None)] {
            let r = c.by(&agent, m, &owners, body).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "[{name}] agent {m}");
            assert_eq!(r.body["error"]["code"], "forbidden", "[{name}] {}", r.body);
        }
        let r = c.by(&owner, "GET", "/api/v1/canned-replies", None).await;
        assert!(r.body.to_string().contains("Refunds take 5 days."));
        let r = c.by(&owner, "DELETE", &owners, None).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        // Another tenant sees none and touches none.
        let r = c.by(&stranger, "GET", "/api/v1/canned-replies", None).await;
        assert_eq!(r.body["data"], json!([]));
        for (m, body) in [("PATCH", Some(json!({"body": "x"}))), ("DELETE", None)] {
            let r = c
                .by(&stranger, m, &format!("/api/v1/canned-replies/{id}"), body)
                .await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "[{name}] stranger {m}");
        }
        // The chat page offers it; the settings page lists it.
        let w = widget(&c, &owner, "Shop").await;
        c.store
            .add_message(
                owner.tenant(),
                &w,
                say("visitor-0101", "visitor", "When are you open?"),
            )
            .await
            .unwrap();
        let (_, html, _) = page(&c, Some(&owner), &format!("/inbox/{w}/visitor-0101")).await;
        assert!(
            html.contains("data-shortcut=\"hours\"") && html.contains("9 to 6 now."),
            "{html}"
        );
        let (st, html, _) = page(&c, Some(&owner), "/settings/canned").await;
        assert_eq!(st, StatusCode::OK);
        assert!(html.contains("/hours"));
        let (_, html, _) = page(&c, Some(&stranger), "/settings/canned").await;
        assert!(!html.contains("9 to 6"));
        let r = c
            .by(
                &owner,
                "DELETE",
                &format!("/api/v1/canned-replies/{id}"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        let r = c
            .by(
                &owner,
                "DELETE",
                &format!("/api/v1/canned-replies/{id}"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = c
            .by(&owner, "DELETE", "/api/v1/canned-replies/%00x", None)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "[{name}] a NUL in the id");
        // Presence: nobody has a dashboard socket open in a router test.
        let r = c.by(&owner, "GET", "/api/v1/users", None).await;
        assert!(
            r.body["data"]
                .as_array()
                .unwrap()
                .iter()
                .all(|u| u["presence"] == "offline"),
            "[{name}] {}",
            r.body
        );
        let (_, html, _) = page(&c, Some(&owner), "/settings/team").await;
        assert!(
            html.contains("data-live=\"agent:presence\"") && html.contains(">offline</span>"),
            "{html}"
        );
        backend.finish().await;
    }
}

/// A multipart body with one file part and text fields: (content type, bytes).
fn multipart(file: (&str, &str, &[u8]), fields: &[(&str, &str)]) -> (String, Vec<u8>) {
    let boundary = "RingsideB0undary";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    let (name, ct, data) = file;
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
             Content-Type: {ct}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A request with a raw body.
async fn raw(c: &Ctx, method: &str, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Resp {
    use tower::ServiceExt;
    let mut b = axum::http::Request::builder().method(method).uri(path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b.body(axum::body::Body::from(body)).unwrap();
    Resp::read(c.app().clone().oneshot(req).await.unwrap()).await
}

#[tokio::test]
async fn files_in_chats_both_ways_and_only_as_downloads() {
    for backend in backends().await {
        let name = backend.name;
        let c = ctx(&backend.store);
        let owner = c.sign_in(&uniq("files-owner")).await;
        let stranger = c.sign_in(&uniq("files-stranger")).await;
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
        let png: Vec<u8> = b"\x89PNG\r\n\x1a\n fake image bytes".to_vec();

        // The visitor sends a picture from the page.
        let (ct, body) = multipart(
            ("photo of 'it'.png", "image/png", &png),
            &[("visitorId", "visitor-0501")],
        );
        let up = format!("/api/widgets/{w}/attachments?key={key}");
        let r = raw(&c, "POST", &up, &[origin, ("content-type", &ct)], body).await;
        assert_eq!(r.status, StatusCode::CREATED, "[{name}] {}", r.body);
        assert_eq!(
            r.body["fileName"], "photo of it.png",
            "quotes are cut from names"
        );
        let vis_file = r.body["id"].as_str().unwrap().to_owned();
        // Refusals: a page type, a disguised type, no file, no visitor, another site, no key.
        for (file, fields, headers, status) in [
            (
                ("page.html", "text/html", &b"<script>alert(1)</script>"[..]),
                vec![("visitorId", "visitor-0501")],
                vec![origin],
                415u16,
            ),
            (
                ("x.png", "text/html", &png[..]),
                vec![("visitorId", "visitor-0501")],
                vec![origin],
                415,
            ),
            (
                ("x.svg", "image/svg+xml", &b"<svg/>"[..]),
                vec![("visitorId", "visitor-0501")],
                vec![origin],
                415,
            ),
            (("x.png", "image/png", &png[..]), vec![], vec![origin], 422),
            (
                ("x.png", "image/png", &png[..]),
                vec![("visitorId", "visitor-0501")],
                vec![("origin", "https://evil.example")],
                403,
            ),
        ] {
            let (ct, body) = multipart(file, &fields);
            let mut h = headers.clone();
            h.push(("content-type", &ct));
            let r = raw(&c, "POST", &up, &h, body).await;
            assert_eq!(r.status.as_u16(), status, "[{name}] {file:?}: {}", r.body);
        }
        let (ct, body) = multipart(
            ("x.png", "image/png", &png),
            &[("visitorId", "visitor-0501")],
        );
        let r = raw(
            &c,
            "POST",
            &format!("/api/widgets/{w}/attachments"),
            &[origin, ("content-type", &ct)],
            body,
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "[{name}] no widget key");
        // Too big: 413, nothing stored.
        let big = vec![b'a'; 10 * 1024 * 1024 + 1];
        let (ct, body) = multipart(
            ("big.txt", "text/plain", &big),
            &[("visitorId", "visitor-0501")],
        );
        let r = raw(&c, "POST", &up, &[origin, ("content-type", &ct)], body).await;
        assert_eq!(
            r.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "[{name}] {}",
            r.body
        );

        // The operator answers with a PDF from the dashboard (cookie and CSRF token).
        let pdf = b"%PDF-1.4 fake".to_vec();
        let path = format!("/api/v1/widgets/{w}/visitors/visitor-0501/attachments");
        let (ct, body) = multipart(("prices.pdf", "application/pdf", &pdf), &[]);
        let r = raw(
            &c,
            "POST",
            &path,
            &[("cookie", &owner.cookie), ("content-type", &ct)],
            body.clone(),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "[{name}] no CSRF token");
        let r = raw(
            &c,
            "POST",
            &path,
            &[
                ("cookie", &owner.cookie),
                ("x-csrf-token", &owner.csrf),
                ("content-type", &ct),
            ],
            body.clone(),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "[{name}] {}", r.body);
        let op_file = r.body["id"].as_str().unwrap().to_owned();
        let r = raw(
            &c,
            "POST",
            &path,
            &[
                ("cookie", &stranger.cookie),
                ("x-csrf-token", &stranger.csrf),
                ("content-type", &ct),
            ],
            body,
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "[{name}] another tenant's widget"
        );

        // Both are in the chat; downloads are attachments of the safe type, never rendered.
        let r = c
            .by(
                &owner,
                "GET",
                &format!("/api/v1/widgets/{w}/messages?visitorId=visitor-0501"),
                None,
            )
            .await;
        let bodies = r.body.to_string();
        assert!(
            bodies.contains("photo of it.png") && bodies.contains("prices.pdf"),
            "{bodies}"
        );
        for (file, ty) in [(&vis_file, "image/png"), (&op_file, "application/pdf")] {
            let r = c
                .send(
                    "GET",
                    &format!("/api/v1/widgets/{w}/attachments/{file}"),
                    &[("cookie", &owner.cookie)],
                    None,
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "[{name}]");
            assert_eq!(r.header("content-type"), Some(ty));
            assert!(r
                .header("content-disposition")
                .unwrap()
                .starts_with("attachment; filename=\""));
            assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
            assert!(r
                .header("content-security-policy")
                .unwrap()
                .contains("sandbox"));
        }
        let r = c
            .send(
                "GET",
                &format!("/api/v1/widgets/{w}/attachments/{op_file}"),
                &[("cookie", &owner.cookie)],
                None,
            )
            .await;
        assert_eq!(&r.raw[..], &pdf[..], "the bytes as sent");
        let r = c
            .send(
                "GET",
                &format!("/api/v1/widgets/{w}/attachments/{op_file}"),
                &[("cookie", &stranger.cookie)],
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        // The visitor gets their chat's files, with the links in the history; nobody else's.
        let hist = c
            .send(
                "GET",
                &format!("/api/widgets/{w}/messages?key={key}&visitorId=visitor-0501"),
                &[origin],
                None,
            )
            .await;
        let link = hist.body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|m| m["attachment"]["url"].as_str())
            .unwrap()
            .to_owned();
        let r = c
            .send("GET", &format!("{link}&key={key}"), &[origin], None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "[{name}] {link}");
        let r = c
            .send(
                "GET",
                &format!("/api/widgets/{w}/attachments/{op_file}?key={key}&visitorId=visitor-0999"),
                &[origin],
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "[{name}] another visitor");
        // The chat page links them as downloads.
        let (_, html, _) = page(&c, Some(&owner), &format!("/inbox/{w}/visitor-0501")).await;
        assert!(
            html.contains(&format!(
                "/api/v1/widgets/{w}/attachments/{op_file}\" download"
            )),
            "{html}"
        );
        backend.finish().await;
    }
}
