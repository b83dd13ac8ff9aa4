//! Email alerts: each alert's mail (missed calls, callbacks) through a mailer, and the daily
//! summaries on simulated days.

use super::*;

/// A mailer that keeps what it is given (the SMTP path itself is tested end to end against a
/// real SMTP server in `tests/tests/webhooks.rs`); fails while `down`.
#[derive(Default)]
struct Outbox {
    sent: Mutex<Vec<ringside_api::accounts::mail::Mail>>,
    down: std::sync::atomic::AtomicBool,
}

impl ringside_api::accounts::mail::Mailer for Outbox {
    fn send<'a>(
        &'a self,
        mail: &'a ringside_api::accounts::mail::Mail,
    ) -> ringside_api::accounts::mail::MailFuture<'a> {
        Box::pin(async move {
            if self.down.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(ringside_api::accounts::mail::MailError::Send(
                    "connection refused".into(),
                ));
            }
            self.sent.lock().unwrap().push(mail.clone());
            Ok(())
        })
    }
    fn delivers(&self) -> bool {
        true
    }
}

/// Email alerts: a missed call's summary (caller, time, the call's page) and a callback's
/// (what the visitor left), with the way to the rule's settings; an SMTP failure is retried
/// and then the rule is failing.
#[tokio::test]
async fn email_alerts_summarise_missed_calls_and_callbacks() {
    for b in backends("ringside-alert-mail").await {
        let n = b.name;
        let store = b.store.clone();
        let c = Ctx::new(ringside_api::AppState {
            fetch_policy: lab(),
            ..common::state(&store)
        });
        let outbox = Arc::new(Outbox::default());
        let mut config = AlertConfig::new(common::PUBLIC_URL, [7; 32], lab());
        config.dispatch.poll_interval = Duration::from_millis(20);
        config.dispatch.base_backoff = Duration::from_millis(10);
        config.dispatch.max_attempts = 2;
        config.mailer = Some(outbox.clone());
        let _sender = Running(AlertDispatcher::new(store.clone(), config).unwrap().spawn());
        let email = format!("{}@alerts.example", uniq("ml"));
        let token = c.token(&email, RW).await;
        let tenant = store.ensure_user(&email).await.unwrap().tenant_id;
        let (_, w) = c
            .json("POST", "/api/v1/widgets", &token, json!({"name": "Shop"}))
            .await;
        let shop = w["id"].as_str().unwrap().to_owned();
        let id = rule(
            &c,
            &token,
            json!({"name": "Missed and callbacks", "events": ["call.missed", "callback.submitted"],
                   "groupSecs": 0, "channel": {"type": "email", "address": "Desk@Shop.example"}}),
        )
        .await;
        store
            .enqueue_webhook_event(
                &tenant,
                "call.missed",
                None,
                &json!({"callId": "call-9", "widgetId": shop, "from": "+351 210 000 000",
                        "startedAt": 1_765_029_900_000_i64, "status": "missed"}),
            )
            .await
            .unwrap();
        store
            .enqueue_webhook_event(
                &tenant,
                "callback.submitted",
                Some(&shop),
                &json!({"widgetId": shop, "visitorId": "v7", "kind": "callback", "name": "Rui Costa",
                        "phone": "+351 910 000 000", "message": "After 6pm, please"}),
            )
            .await
            .unwrap();
        eventually("two mails", || outbox.sent.lock().unwrap().len() == 2).await;
        let sent = outbox.sent.lock().unwrap().clone();
        let missed = sent.iter().find(|m| m.subject.contains("Missed")).unwrap();
        assert_eq!(missed.to, "desk@shop.example", "[{n}]");
        assert_eq!(missed.subject, "Ringside: Missed call · Shop");
        let page = format!("{}/calls/call-9", common::PUBLIC_URL);
        for want in [
            "+351 210 000 000",
            "From: +351 210 000 000",
            "Started: 2025-12-06 14:05 UTC",
            &format!("Open in Ringside: {page}"),
            &format!("{}/settings/alerts", common::PUBLIC_URL),
            "Missed and callbacks",
        ] {
            assert!(missed.text.contains(want), "{want:?} in {}", missed.text);
        }
        let cb = sent
            .iter()
            .find(|m| m.subject.contains("Callback"))
            .unwrap();
        assert_eq!(cb.subject, "Ringside: Callback request · Shop");
        for want in [
            "Name: Rui Costa",
            "Phone: +351 910 000 000",
            "Message: After 6pm, please",
            &format!("Open in Ringside: {}/inbox/{shop}/v7", common::PUBLIC_URL),
        ] {
            assert!(cb.text.contains(want), "{want:?} in {}", cb.text);
        }
        // The SMTP server down: retried, then failed and the rule failing.
        outbox.down.store(true, std::sync::atomic::Ordering::SeqCst);
        c.call(
            "POST",
            &format!("/api/v1/alert-rules/{id}/test"),
            Some(&token),
            None,
        )
        .await;
        let mut entries = Vec::new();
        for _ in 0..500 {
            entries = log(&c, &token, &id).await;
            if entries[0]["status"] == "failed" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(entries[0]["status"], "failed", "[{n}] {entries:?}");
        assert_eq!(entries[0]["attempts"], 2);
        assert_eq!(entries[0]["lastError"], "smtp: connection refused");
        let (_, r) = c
            .call(
                "GET",
                &format!("/api/v1/alert-rules/{id}"),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(r["failing"], true);
        b.finish().await;
    }
}

/// Email rules with `digest`: their alerts are kept, never sent one by one, and mailed once a
/// day at the rule's time in its zone as one summary (counts, the latest lines, links); later
/// alerts wait for the next day's. Simulated time: the summary step is called with `now`.
#[tokio::test]
async fn daily_email_summaries() {
    for b in backends("ringside-alert-digest").await {
        let n = b.name;
        let store = b.store.clone();
        let c = Ctx::new(ringside_api::AppState {
            fetch_policy: lab(),
            ..common::state(&store)
        });
        let outbox = Arc::new(Outbox::default());
        let mut config = AlertConfig::new(common::PUBLIC_URL, [7; 32], lab());
        config.mailer = Some(outbox.clone());
        let sender = AlertDispatcher::new(store.clone(), config.clone()).unwrap();
        // Another node's sender on the same database, its timer at the same moment.
        let other_node = AlertDispatcher::new(store.clone(), config).unwrap();
        let email = format!("{}@alerts.example", uniq("dg"));
        let token = c.token(&email, RW).await;
        let tenant = store.ensure_user(&email).await.unwrap().tenant_id;
        let (st, r) = c
            .json(
                "POST",
                "/api/v1/alert-rules",
                &token,
                json!({"name": "Morning summary", "events": ["call.missed", "callback.submitted"],
                       "channel": {"type": "email", "address": "desk@shop.example", "digest": true,
                                   "digestAt": "08:30", "timeZone": "Europe/Lisbon"}}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{r}");
        assert_eq!(
            r["channel"],
            json!({"type": "email", "address": "desk@shop.example", "digest": true,
                   "digestAt": "08:30", "timeZone": "Europe/Lisbon"})
        );
        let id = r["id"].as_str().unwrap().to_owned();
        for bad in [
            json!({"type": "email", "address": "a@b.example", "digest": true, "digestAt": "25:00"}),
            json!({"type": "email", "address": "a@b.example", "digest": true, "timeZone": "Mars/Olympus"}),
        ] {
            let (st, _) = c
                .json(
                    "POST",
                    "/api/v1/alert-rules",
                    &token,
                    json!({"name": "x", "events": ["call.missed"], "channel": bad}),
                )
                .await;
            assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        }
        for (event, data) in [
            (
                "call.missed",
                json!({"callId": "c1", "from": "+351 210 000 001"}),
            ),
            (
                "call.missed",
                json!({"callId": "c2", "from": "+351 210 000 002"}),
            ),
            (
                "callback.submitted",
                json!({"kind": "callback", "name": "Rui", "phone": "+351 910 000 000"}),
            ),
        ] {
            store
                .enqueue_webhook_event(&tenant, event, None, &data)
                .await
                .unwrap();
        }
        // Kept: nothing to send one by one.
        let far = ringside_storage::now_ms() + 3_600_000;
        assert!(store
            .claim_due_alerts(far, 1_000, 50)
            .await
            .unwrap()
            .is_empty());
        // 2026-01-15 08:00 in Lisbon (UTC in winter): before 08:30, nothing.
        let day = 1_768_464_000_000_i64; // 2026-01-15 08:00 UTC
        assert_eq!(sender.run_digests(day).await.unwrap(), 0);
        assert!(outbox.sent.lock().unwrap().is_empty());
        // 08:31: the summary of the three.
        assert_eq!(
            sender.run_digests(day + 31 * 60_000).await.unwrap(),
            1,
            "[{n}]"
        );
        let sent = outbox.sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].to, "desk@shop.example");
        assert_eq!(sent[0].subject, "Ringside: your daily summary (3 alerts)");
        for want in [
            "2 missed calls",
            "1 × Callback request",
            "+351 210 000 002",
            "Rui (callback)",
            "Morning summary",
            "/settings/alerts",
        ] {
            assert!(sent[0].text.contains(want), "{want:?} in {}", sent[0].text);
        }
        // Later the same day: nothing more, even with a new alert kept.
        store
            .enqueue_webhook_event(
                &tenant,
                "call.missed",
                None,
                &json!({"callId": "c3", "from": "+351 210 000 003"}),
            )
            .await
            .unwrap();
        assert_eq!(sender.run_digests(day + 5 * 3_600_000).await.unwrap(), 0);
        // The next morning: the new one, mailed once though two nodes' timers fire together.
        let next = day + 86_400_000 + 31 * 60_000;
        let (one, two) = tokio::join!(sender.run_digests(next), other_node.run_digests(next));
        assert_eq!(one.unwrap() + two.unwrap(), 1, "[{n}]");
        assert_eq!(other_node.run_digests(next + 1).await.unwrap(), 0);
        let sent = outbox.sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 2);
        assert!(sent[1].subject.contains("(1 alert)") && sent[1].text.contains("+351 210 000 003"));
        // The log: the kept alerts delivered, and one row per summary.
        let entries = log(&c, &token, &id).await;
        let summaries: Vec<&Value> = entries
            .iter()
            .filter(|e| e["eventType"] == "alert.digest")
            .collect();
        assert_eq!(summaries.len(), 2, "{entries:?}");
        assert!(
            entries.iter().all(|e| e["status"] == "delivered"),
            "{entries:?}"
        );
        b.finish().await;
    }
}
