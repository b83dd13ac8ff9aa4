//! Alert rules and the alert outbox, on every backend: an event queues an alert for each
//! enabled rule covering it (event, widget, a channel with a sender), in the webhook event's
//! transaction; a burst gives one alert at once and one grouped alert for the rest of the
//! window (its count growing, the first ten events kept); other widgets', other events',
//! disabled and not-yet-sent channels' rules queue nothing; another user's rule's log is
//! NotFound.

use ringside_storage::{now_ms, AlertRule, NewWidget, StorageError, GROUPED_EVENTS_KEPT};
use serde_json::json;

use super::each_backend;

fn rule(
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
                ..rule(&t, &uid, "push", &["call.requested"], None)
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
        // Another widget's call, a disabled rule, a channel not sent yet: nothing.
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
                .enqueue_webhook_event(&t, "chat.message.created", Some(&w2), &json!({"n": i}))
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
