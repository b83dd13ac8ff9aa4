//! The visitor's chat mailed on request (`POST /api/widgets/{id}/transcript`).

use super::*;

/// A mailer that keeps what it is given.
#[derive(Default)]
struct Kept(std::sync::Mutex<Vec<ringside_api::accounts::mail::Mail>>);

impl ringside_api::accounts::mail::Mailer for Kept {
    fn send<'a>(
        &'a self,
        mail: &'a ringside_api::accounts::mail::Mail,
    ) -> ringside_api::accounts::mail::MailFuture<'a> {
        Box::pin(async move {
            self.0.lock().unwrap().push(mail.clone());
            Ok(())
        })
    }
    fn delivers(&self) -> bool {
        true
    }
}

/// `POST /api/widgets/{id}/transcript`: a visitor's chat mailed to them (their messages and
/// the team's, in order, nothing of other visitors); refusals: no key, another origin, a bad
/// email or visitor id, no chat yet (422), a fourth request in a row (429), no mail server
/// (503).
#[tokio::test]
async fn visitors_get_their_chat_by_email() {
    for backend in backends().await {
        let name = backend.name;
        let kept = Arc::new(Kept::default());
        let data_dir =
            std::env::temp_dir().join(format!("ringside-msg-data-{}", rand::random::<u64>()));
        let console = Arc::new(ringside_api::console::ConsoleOperators::default());
        let c = Ctx {
            app: router(AppState {
                data_dir: data_dir.clone(),
                console: console.clone(),
                accounts: Arc::new(ringside_api::accounts::Accounts::new(
                    Default::default(),
                    kept.clone(),
                )),
                ..common::state(&backend.store)
            }),
            store: backend.store.clone(),
            data_dir,
            console,
        };
        let s = c.setup("transcript").await;
        let bearer = format!("Bearer {}", s.key);
        let chat = format!("/api/widgets/{}/chat", s.widget);
        for (who, text) in [
            ("visitor-0001", "Do you ship to Porto?"),
            ("visitor-0002", "Other visitor"),
        ] {
            let r = c
                .send(
                    "POST",
                    &chat,
                    &[ORIGIN, ("authorization", &bearer)],
                    Some(&json!({"sessionId": who, "visitorId": who, "message": text}).to_string()),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "[{name}] {}", r.body);
        }
        let (st, _) = c
            .json(
                "POST",
                &format!("/api/v1/widgets/{}/messages", s.widget),
                &s.token,
                json!({"visitorId": "visitor-0001", "body": "Yes, in two days."}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED);
        let path = format!("/api/widgets/{}/transcript", s.widget);
        let ask =
            |visitor: &str, email: &str| json!({"visitorId": visitor, "email": email}).to_string();
        let r = c
            .send(
                "POST",
                &path,
                &[ORIGIN, ("authorization", &bearer)],
                Some(&ask("visitor-0001", " Ana@Porto.example ")),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "[{name}] {}", r.body);
        assert_eq!(r.body["messages"], 2);
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://example.com")
        );
        let mut sent = Vec::new();
        for _ in 0..200 {
            sent = kept.0.lock().unwrap().clone();
            if !sent.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].to, "ana@porto.example");
        assert_eq!(sent[0].subject, "Your chat with Site");
        let you = sent[0]
            .text
            .find("You: Do you ship to Porto?")
            .expect("the visitor's line");
        let team = sent[0]
            .text
            .find(": Yes, in two days.")
            .expect("the team's line");
        assert!(you < team, "in order: {}", sent[0].text);
        assert!(!sent[0].text.contains("Other visitor"));

        // Refusals.
        for (headers, body, status) in [
            (
                vec![ORIGIN],
                ask("visitor-0001", "a@b.example"),
                StatusCode::UNAUTHORIZED,
            ),
            (
                vec![
                    ("origin", "https://evil.example"),
                    ("authorization", bearer.as_str()),
                ],
                ask("visitor-0001", "a@b.example"),
                StatusCode::FORBIDDEN,
            ),
            (
                vec![ORIGIN, ("authorization", bearer.as_str())],
                ask("visitor-0001", "not an email"),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                vec![ORIGIN, ("authorization", bearer.as_str())],
                ask("v!", "a@b.example"),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                vec![ORIGIN, ("authorization", bearer.as_str())],
                ask("visitor-9999", "a@b.example"),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                vec![ORIGIN, ("authorization", bearer.as_str())],
                r#"{"visitorId": "visitor-0001"}"#.to_owned(),
                StatusCode::BAD_REQUEST,
            ),
        ] {
            let r = c.send("POST", &path, &headers, Some(&body)).await;
            assert_eq!(r.status, status, "[{name}] {body}: {}", r.body);
        }
        // Three in a row for a visitor, then 429 with Retry-After.
        for _ in 0..2 {
            let r = c
                .send(
                    "POST",
                    &path,
                    &[ORIGIN, ("authorization", &bearer)],
                    Some(&ask("visitor-0001", "ana@porto.example")),
                )
                .await;
            assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
        }
        let r = c
            .send(
                "POST",
                &path,
                &[ORIGIN, ("authorization", &bearer)],
                Some(&ask("visitor-0001", "ana@porto.example")),
            )
            .await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
        assert!(r.header("retry-after").is_some());

        // No mail server: 503, nothing lost.
        let plain = ctx(backend.store.clone());
        let r = plain
            .send(
                "POST",
                &path,
                &[ORIGIN, ("authorization", &bearer)],
                Some(&ask("visitor-0002", "x@y.example")),
            )
            .await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
        backend.finish().await;
    }
}
