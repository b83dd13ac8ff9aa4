//! Alert rules and the alert outbox, on every backend: an event queues an alert for each
//! enabled rule covering it (event, widget, a channel with a sender), in the webhook event's
//! transaction; a burst gives one alert at once and one grouped alert for the rest of the
//! window (its count growing, the first ten events kept); other widgets', other events',
//! disabled and not-yet-sent channels' rules queue nothing; another user's rule's log is
//! NotFound.

use ringside_storage::{now_ms, AlertRule, NewWidget, StorageError, GROUPED_EVENTS_KEPT};
use serde_json::json;

use super::each_backend;

/// A rule of `user` on an ntfy topic (no secret), enabled.
pub(super) fn rule(
    tenant: &str,
    user: &str,
    name: &str,
    events: &[&str],
    widgets: Option<&[&str]>,
) -> AlertRule {
    AlertRule {
        id: String::new(),
        tenant_id: tenant.into(),
        user_id: user.into(),
        name: name.into(),
        events: events.iter().map(|s| s.to_string()).collect(),
        widget_ids: widgets.map(|w| w.iter().map(|s| s.to_string()).collect()),
        channel_type: "ntfy".into(),
        channel: json!({"url": "https://ntfy.sh", "topic": "t"}),
        secret_sealed: None,
        quiet: None,
        visitor_filter: None,
        group_secs: 60,
        enabled: true,
        failing: false,
        created_at: 0,
        updated_at: 0,
    }
}

#[tokio::test]
async fn events_queue_alerts_grouped_per_rule() {
    each_backend("alerts-queue", |ctx| async move {
        let store = ctx.store().await;
        let u = store.ensure_user("al@example.com").await.unwrap();
        let other = store.ensure_user("al-other@example.com").await.unwrap();
        let (t, uid) = (u.tenant_id.clone(), u.id.clone());
        let mk = |name: &str| NewWidget {
            name: name.into(),
            ..NewWidget::default()
        };
        let w1 = store.create_widget(&t, mk("One")).await.unwrap().id;
        let w2 = store.create_widget(&t, mk("Two")).await.unwrap().id;
        let calls = store
            .create_alert_rule(&rule(&t, &uid, "calls", &["call.requested"], Some(&[&w1])))
            .await
            .unwrap();
        let usage = store
            .create_alert_rule(&rule(&t, &uid, "usage", &["usage.updated"], None))
            .await
            .unwrap();
        let every = store
            .create_alert_rule(&AlertRule {
                group_secs: 0,
                ..rule(&t, &uid, "every", &["chat.message.created"], None)
            })
            .await
            .unwrap();
        let push = store
            .create_alert_rule(&AlertRule {
                channel_type: "webpush".into(),
                ..rule(&t, &uid, "push", &["call.answered"], None)
            })
            .await
            .unwrap();
        let off = store
            .create_alert_rule(&AlertRule {
                enabled: false,
                ..rule(&t, &uid, "off", &["call.requested"], None)
            })
            .await
            .unwrap();
        let log = |id: String| {
            let (store, t, uid) = (store.clone(), t.clone(), uid.clone());
            async move {
                store
                    .list_alert_deliveries(&t, &uid, &id, 500)
                    .await
                    .unwrap()
            }
        };

        // The first call of a burst: one alert, due at once. Call events name their widget
        // in the data (the call core queues them with no widget).
        let before = now_ms();
        store
            .enqueue_webhook_event(
                &t,
                "call.requested",
                None,
                &json!({"callId": "c0", "widgetId": w1}),
            )
            .await
            .unwrap();
        let d = log(calls.id.clone()).await;
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].event_count, 1);
        assert_eq!(d[0].status, "pending");
        assert!(d[0].due_at >= before && d[0].due_at <= now_ms());
        assert_eq!(d[0].widget_id.as_deref(), Some(w1.as_str()));
        let first_due = d[0].due_at;
        // Twenty more within the window: one grouped alert due when the window closes.
        for i in 1..=20 {
            store
                .enqueue_webhook_event(
                    &t,
                    "call.requested",
                    None,
                    &json!({"callId": format!("c{i}"), "widgetId": w1}),
                )
                .await
                .unwrap();
        }
        let d = log(calls.id.clone()).await;
        assert_eq!(d.len(), 2, "{d:?}");
        let grouped = &d[0];
        assert_eq!(grouped.event_count, 20);
        assert_eq!(grouped.due_at, first_due + 60_000);
        assert_eq!(grouped.next_attempt_at, grouped.due_at);
        let p: serde_json::Value = serde_json::from_str(&grouped.payload).unwrap();
        assert_eq!(p["count"], 20);
        let kept = p["events"].as_array().unwrap();
        assert_eq!(kept.len(), GROUPED_EVENTS_KEPT);
        assert_eq!(kept[0]["data"]["callId"], "c1");
        assert_eq!(kept[0]["type"], "call.requested");
        // Another widget's call, a disabled rule, a rule of other events: nothing.
        store
            .enqueue_webhook_event(&t, "call.requested", Some(&w2), &json!({"callId": "x"}))
            .await
            .unwrap();
        assert_eq!(log(calls.id.clone()).await.len(), 2);
        assert!(log(push.id.clone()).await.is_empty());
        assert!(log(off.id.clone()).await.is_empty());
        // An event of no widget reaches rules covering every widget.
        store
            .enqueue_webhook_event(
                &t,
                "usage.updated",
                None,
                &json!({"metric": "monthlyMessages"}),
            )
            .await
            .unwrap();
        assert_eq!(log(usage.id.clone()).await.len(), 1);
        // No grouping window: each event its own alert, each due at once.
        for i in 0..3 {
            store
                .enqueue_webhook_event(
                    &t,
                    "chat.message.created",
                    Some(&w2),
                    &json!({"n": i, "sender": "visitor"}),
                )
                .await
                .unwrap();
        }
        let d = log(every.id.clone()).await;
        assert_eq!(d.len(), 3);
        assert!(d.iter().all(|x| x.event_count == 1 && x.due_at <= now_ms()));
        // Another tenant's events never reach these rules; another user sees no log.
        store
            .enqueue_webhook_event(&other.tenant_id, "usage.updated", None, &json!({}))
            .await
            .unwrap();
        assert_eq!(log(usage.id.clone()).await.len(), 1);
        assert!(matches!(
            store
                .list_alert_deliveries(&t, &other.id, &usage.id, 10)
                .await,
            Err(StorageError::NotFound)
        ));
        // A deleted rule takes its alerts with it.
        store.delete_alert_rule(&t, &uid, &calls.id).await.unwrap();
        assert!(matches!(
            store.list_alert_deliveries(&t, &uid, &calls.id, 10).await,
            Err(StorageError::NotFound)
        ));
    })
    .await;
}

/// The sender's side: one claim takes what is due (oldest first) and hides it for the lease,
/// a second claim meanwhile gets nothing; outcomes are recorded together (delivered, retried
/// later, failed: the rule failing; suppressed: not failing), a delivery clears `failing`; a
/// test alert is due at once; the call writer learns which events rules want.
#[tokio::test]
async fn alerts_are_claimed_once_and_their_outcomes_recorded() {
    use ringside_storage::AlertOutcome;
    each_backend("alerts-claim", |ctx| async move {
        let store = ctx.store().await;
        let u = store.ensure_user("claim@example.com").await.unwrap();
        let (t, uid) = (u.tenant_id.clone(), u.id.clone());
        let mut r = rule(&t, &uid, "all", &["usage.updated", "call.missed"], None);
        r.group_secs = 0;
        let r = store.create_alert_rule(&r).await.unwrap();
        let mut push = rule(&t, &uid, "push", &["call.answered"], None);
        push.channel_type = "webpush".into();
        push.enabled = false;
        store.create_alert_rule(&push).await.unwrap();
        let mut wanted = store.alerted_events(&t).await.unwrap();
        wanted.sort();
        assert_eq!(
            wanted,
            ["call.missed", "usage.updated"],
            "a disabled rule's events are not wanted"
        );
        for i in 0..4 {
            store
                .enqueue_webhook_event(&t, "usage.updated", None, &json!({"n": i}))
                .await
                .unwrap();
        }
        let now = now_ms();
        let due = store.claim_due_alerts(now, 30_000, 3).await.unwrap();
        assert_eq!(due.len(), 3);
        assert!(due
            .iter()
            .all(|d| d.rule.id == r.id && d.rule.name == "all"));
        let first: serde_json::Value = serde_json::from_str(&due[0].delivery.payload).unwrap();
        assert_eq!(first["events"][0]["data"]["n"], 0, "oldest first");
        let rest = store.claim_due_alerts(now, 30_000, 10).await.unwrap();
        assert_eq!(rest.len(), 1, "the claimed three are hidden");
        assert!(store
            .claim_due_alerts(now, 30_000, 10)
            .await
            .unwrap()
            .is_empty());
        // After the lease, an unrecorded attempt is due again.
        let again = store
            .claim_due_alerts(now + 30_001, 30_000, 10)
            .await
            .unwrap();
        assert_eq!(again.len(), 4);

        let id = |i: usize| due[i].delivery.id.clone();
        store
            .record_alert_outcomes(&[
                AlertOutcome::Delivered {
                    id: id(0),
                    rule_id: r.id.clone(),
                    status_code: Some(200),
                },
                AlertOutcome::Retry {
                    id: id(1),
                    at: now + 5_000,
                    status_code: Some(503),
                    error: "busy".into(),
                },
                AlertOutcome::Ended {
                    id: id(2),
                    rule_id: r.id.clone(),
                    failed: false,
                    status_code: None,
                    reason: "quiet hours".into(),
                },
            ])
            .await
            .unwrap();
        assert!(!store.get_alert_rule(&t, &uid, &r.id).await.unwrap().failing);
        store
            .record_alert_outcomes(&[AlertOutcome::Ended {
                id: rest[0].delivery.id.clone(),
                rule_id: r.id.clone(),
                failed: true,
                status_code: Some(500),
                reason: "gave up".into(),
            }])
            .await
            .unwrap();
        assert!(store.get_alert_rule(&t, &uid, &r.id).await.unwrap().failing);
        let log = store
            .list_alert_deliveries(&t, &uid, &r.id, 10)
            .await
            .unwrap();
        let by_id = |i: &str| log.iter().find(|d| d.id == i).unwrap().clone();
        let d = by_id(&id(0));
        assert_eq!(
            (d.status.as_str(), d.attempts, d.last_status_code),
            ("delivered", 1, Some(200))
        );
        assert!(d.delivered_at.is_some());
        let d = by_id(&id(1));
        assert_eq!(
            (d.status.as_str(), d.attempts, d.next_attempt_at),
            ("pending", 1, now + 5_000)
        );
        assert_eq!(d.last_error.as_deref(), Some("busy"));
        let d = by_id(&id(2));
        assert_eq!((d.status.as_str(), d.attempts), ("suppressed", 0));
        let d = by_id(&rest[0].delivery.id);
        assert_eq!((d.status.as_str(), d.attempts), ("failed", 1));
        // The retry is due at its time, not before.
        assert!(store
            .claim_due_alerts(now + 4_999, 1_000, 10)
            .await
            .unwrap()
            .is_empty());
        let retry = store
            .claim_due_alerts(now + 5_000, 1_000, 10)
            .await
            .unwrap();
        assert_eq!(retry.len(), 1);
        assert_eq!(retry[0].delivery.id, id(1));
        assert_eq!(retry[0].delivery.attempts, 1);
        store
            .record_alert_outcomes(&[AlertOutcome::Delivered {
                id: id(1),
                rule_id: r.id.clone(),
                status_code: Some(200),
            }])
            .await
            .unwrap();
        assert!(
            !store.get_alert_rule(&t, &uid, &r.id).await.unwrap().failing,
            "cleared"
        );
        // One batch records many deliveries at once (by status code); `failing` follows each
        // rule's latest outcome in the batch.
        for i in 10..13 {
            store
                .enqueue_webhook_event(&t, "usage.updated", None, &json!({"n": i}))
                .await
                .unwrap();
        }
        let more = store.claim_due_alerts(now_ms(), 30_000, 10).await.unwrap();
        assert_eq!(more.len(), 3);
        let delivered = |i: usize, code: i64| AlertOutcome::Delivered {
            id: more[i].delivery.id.clone(),
            rule_id: r.id.clone(),
            status_code: Some(code),
        };
        let gave_up = |i: usize| AlertOutcome::Ended {
            id: more[i].delivery.id.clone(),
            rule_id: r.id.clone(),
            failed: true,
            status_code: Some(500),
            reason: "gave up".into(),
        };
        store
            .record_alert_outcomes(&[delivered(0, 200), gave_up(1)])
            .await
            .unwrap();
        assert!(
            store.get_alert_rule(&t, &uid, &r.id).await.unwrap().failing,
            "failed after the delivery in the same batch"
        );
        store
            .record_alert_outcomes(&[gave_up(1), delivered(2, 202)])
            .await
            .unwrap();
        assert!(
            !store.get_alert_rule(&t, &uid, &r.id).await.unwrap().failing,
            "delivered after the failure in the same batch"
        );
        let log = store
            .list_alert_deliveries(&t, &uid, &r.id, 20)
            .await
            .unwrap();
        let code = |i: usize| {
            let d = log.iter().find(|d| d.id == more[i].delivery.id).unwrap();
            (d.status.clone(), d.last_status_code)
        };
        assert_eq!(code(0), ("delivered".to_owned(), Some(200)));
        assert_eq!(code(2), ("delivered".to_owned(), Some(202)));

        // A test alert: due now whatever the rule's events; another user's rule NotFound.
        let test = store
            .queue_test_alert(&t, &uid, &r.id, &json!({"message": "hi"}))
            .await
            .unwrap();
        assert_eq!(test.event_type, ringside_storage::TEST_ALERT);
        let due = store.claim_due_alerts(now_ms(), 1_000, 10).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].delivery.id, test.id);
        let other = store.ensure_user("claim-other@example.com").await.unwrap();
        assert!(matches!(
            store
                .queue_test_alert(&other.tenant_id, &other.id, &r.id, &json!({}))
                .await,
            Err(StorageError::NotFound)
        ));
        // A deleted rule's alerts go with it.
        store
            .enqueue_webhook_event(&t, "call.missed", None, &json!({}))
            .await
            .unwrap();
        store.delete_alert_rule(&t, &uid, &r.id).await.unwrap();
        assert!(store
            .claim_due_alerts(now_ms() + 60_000, 1_000, 10)
            .await
            .unwrap()
            .is_empty());
    })
    .await;
}
