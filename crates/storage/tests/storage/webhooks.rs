//! Webhooks and the delivery outbox, on every backend.

use ringside_storage::{
    now_ms, DeliveryStatus, NewWebhook, NewWidget, StorageError, WebhookPatch,
    WEBHOOK_SECRET_PREFIX,
};
use serde_json::json;

use super::each_backend;

fn hook(name: &str, events: &[&str], widgets: &[&str]) -> NewWebhook {
    NewWebhook {
        name: name.to_owned(),
        url: "http://127.0.0.1:9/hook".to_owned(),
        events: events.iter().map(|s| s.to_string()).collect(),
        widget_ids: widgets.iter().map(|s| s.to_string()).collect(),
    }
}

#[tokio::test]
async fn webhooks_crud_rotate_and_isolation() {
    each_backend("webhooks-crud", |ctx| async move {
        let store = ctx.store().await;
        let t = store.ensure_user("h@example.com").await.unwrap().tenant_id;
        let other = store.ensure_user("ho@example.com").await.unwrap().tenant_id;
        let w = store
            .create_widget(
                &t,
                NewWidget {
                    name: "W".into(),
                    ..NewWidget::default()
                },
            )
            .await
            .unwrap();
        let ow = store
            .create_widget(
                &other,
                NewWidget {
                    name: "O".into(),
                    ..NewWidget::default()
                },
            )
            .await
            .unwrap();

        let h = store
            .create_webhook(&t, hook("Inbox", &["call.missed", "call.missed"], &[&w.id]))
            .await
            .unwrap();
        assert!(h.secret.starts_with(WEBHOOK_SECRET_PREFIX));
        assert!(h.enabled && h.disabled_reason.is_none());
        assert_eq!(h.events, ["call.missed"]);
        assert_eq!(h.widget_ids, vec![w.id.clone()]);
        assert_eq!(store.get_webhook(&t, &h.id).await.unwrap(), h);
        assert_eq!(store.list_webhooks(&t).await.unwrap(), vec![h.clone()]);

        // Validation; another tenant's widget is not accepted.
        for (bad, field) in [
            (hook("", &["call.missed"], &[]), "name"),
            (hook("x", &[], &[]), "events"),
            (hook("x", &["nope"], &[]), "events"),
            (hook("x", &["call.missed"], &[&ow.id]), "widget_ids"),
            (
                NewWebhook {
                    url: "ftp://x".into(),
                    ..hook("x", &["call.missed"], &[])
                },
                "url",
            ),
        ] {
            match store.create_webhook(&t, bad).await {
                Err(StorageError::Invalid(f)) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }

        // Other tenant sees nothing.
        assert!(store.list_webhooks(&other).await.unwrap().is_empty());
        for r in [
            store.get_webhook(&other, &h.id).await.err(),
            store.rotate_webhook_secret(&other, &h.id).await.err(),
            store
                .update_webhook(&other, &h.id, WebhookPatch::default())
                .await
                .err(),
            store.list_webhook_deliveries(&other, &h.id, 10).await.err(),
            store
                .enqueue_webhook_test(&other, &h.id, &json!({}))
                .await
                .err(),
            store.delete_webhook(&other, &h.id).await.err(),
        ] {
            assert!(matches!(r, Some(StorageError::NotFound)), "{r:?}");
        }

        // Patch, disable and re-enable, rotate.
        let p = store
            .update_webhook(
                &t,
                &h.id,
                WebhookPatch {
                    name: Some("Renamed".into()),
                    events: Some(vec!["call.ended".into(), "usage.updated".into()]),
                    widget_ids: Some(vec![]),
                    enabled: Some(false),
                    ..WebhookPatch::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(p.name, "Renamed");
        assert_eq!(p.events, ["call.ended", "usage.updated"]);
        assert!(p.widget_ids.is_empty());
        assert!(!p.enabled && p.disabled_reason.is_some());
        assert_eq!(p.url, h.url);
        let p = store
            .update_webhook(
                &t,
                &h.id,
                WebhookPatch {
                    enabled: Some(true),
                    ..WebhookPatch::default()
                },
            )
            .await
            .unwrap();
        assert!(p.enabled && p.disabled_reason.is_none());
        let r = store.rotate_webhook_secret(&t, &h.id).await.unwrap();
        assert_ne!(r.secret, h.secret);
        assert!(r.secret.starts_with(WEBHOOK_SECRET_PREFIX));

        store
            .enqueue_webhook_test(&t, &h.id, &json!({"x": 1}))
            .await
            .unwrap();
        store.delete_webhook(&t, &h.id).await.unwrap();
        assert!(matches!(
            store.get_webhook(&t, &h.id).await,
            Err(StorageError::NotFound)
        ));
        assert!(store
            .claim_due_webhook_deliveries(now_ms(), 1000, 10)
            .await
            .unwrap()
            .is_empty());
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn outbox_fan_out_claim_retry_and_give_up() {
    each_backend("webhooks-outbox", |ctx| async move {
        let store = ctx.store().await;
        let t = store.ensure_user("o@example.com").await.unwrap().tenant_id;
        let other = store.ensure_user("oo@example.com").await.unwrap().tenant_id;
        let w1 = store
            .create_widget(
                &t,
                NewWidget {
                    name: "W1".into(),
                    ..NewWidget::default()
                },
            )
            .await
            .unwrap();
        let w2 = store
            .create_widget(
                &t,
                NewWidget {
                    name: "W2".into(),
                    ..NewWidget::default()
                },
            )
            .await
            .unwrap();
        let all = store
            .create_webhook(&t, hook("all", &["call.missed", "usage.updated"], &[]))
            .await
            .unwrap();
        let only1 = store
            .create_webhook(&t, hook("w1", &["call.missed"], &[&w1.id]))
            .await
            .unwrap();
        let other_event = store
            .create_webhook(&t, hook("ended", &["call.ended"], &[]))
            .await
            .unwrap();
        let off = store
            .create_webhook(&t, hook("off", &["call.missed"], &[]))
            .await
            .unwrap();
        store
            .update_webhook(
                &t,
                &off.id,
                WebhookPatch {
                    enabled: Some(false),
                    ..WebhookPatch::default()
                },
            )
            .await
            .unwrap();
        store
            .create_webhook(&other, hook("theirs", &["call.missed"], &[]))
            .await
            .unwrap();

        let data = json!({"callId": "c1"});
        let d1 = store
            .enqueue_webhook_event(&t, "call.missed", Some(&w1.id), &data)
            .await
            .unwrap();
        let mut targets: Vec<&str> = d1.iter().map(|d| d.webhook_id.as_str()).collect();
        targets.sort();
        let mut want = vec![all.id.as_str(), only1.id.as_str()];
        want.sort();
        assert_eq!(targets, want);
        let d2 = store
            .enqueue_webhook_event(&t, "call.missed", Some(&w2.id), &data)
            .await
            .unwrap();
        assert_eq!(d2.len(), 1);
        assert_eq!(d2[0].webhook_id, all.id);
        let d3 = store
            .enqueue_webhook_event(&t, "usage.updated", None, &json!({}))
            .await
            .unwrap();
        assert_eq!(d3.len(), 1);
        assert!(store
            .enqueue_webhook_event(&t, "call.answered", None, &data)
            .await
            .unwrap()
            .is_empty());
        assert!(matches!(
            store.enqueue_webhook_event(&t, "bogus", None, &data).await,
            Err(StorageError::Invalid(_))
        ));
        assert!(other_event.enabled);

        // Claim: all four are due; a second claim within the lease gets none.
        let now = now_ms() + 1;
        let claimed = store
            .claim_due_webhook_deliveries(now, 60_000, 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 4);
        let first = claimed.iter().find(|c| c.delivery.id == d1[0].id).unwrap();
        assert_eq!(first.delivery.payload, data.to_string());
        assert_eq!(first.url, "http://127.0.0.1:9/hook");
        assert!(first.secret.starts_with(WEBHOOK_SECRET_PREFIX));
        assert!(store
            .claim_due_webhook_deliveries(now, 60_000, 10)
            .await
            .unwrap()
            .is_empty());
        let limited = store
            .claim_due_webhook_deliveries(now + 60_000, 1000, 2)
            .await
            .unwrap();
        assert_eq!(limited.len(), 2);

        // Outcomes, each under its claim's lease (the latest claim of each delivery).
        let lease_of = |id: &str| {
            limited
                .iter()
                .chain(claimed.iter())
                .find(|c| c.delivery.id == id)
                .unwrap()
                .lease
        };
        let first_claim = |id: &str| claimed.iter().find(|c| c.delivery.id == id).unwrap().lease;
        // The first claim of a delivery claimed again after its lease ran out (its worker
        // stalled): that worker's outcome is not recorded; the second claim's is.
        let taken_over = &limited[0].delivery.id;
        assert_ne!(first_claim(taken_over), lease_of(taken_over));
        assert!(!store
            .mark_webhook_delivered(taken_over, first_claim(taken_over), 200)
            .await
            .unwrap());
        assert!(store
            .mark_webhook_delivered(&d1[0].id, lease_of(&d1[0].id), 200)
            .await
            .unwrap());
        assert!(store
            .retry_webhook_delivery(
                &d1[1].id,
                lease_of(&d1[1].id),
                now + 5_000,
                Some(500),
                "HTTP 500"
            )
            .await
            .unwrap());
        assert!(store
            .give_up_webhook_delivery(
                &d2[0].id,
                lease_of(&d2[0].id),
                DeliveryStatus::Abandoned,
                Some(410),
                "gone"
            )
            .await
            .unwrap());
        assert!(store
            .give_up_webhook_delivery(
                &d3[0].id,
                lease_of(&d3[0].id),
                DeliveryStatus::Failed,
                None,
                "timeout"
            )
            .await
            .unwrap());
        assert!(store
            .give_up_webhook_delivery(&d3[0].id, 1, DeliveryStatus::Pending, None, "x")
            .await
            .is_err());
        // A late outcome of an attempt already recorded changes nothing.
        assert!(!store
            .mark_webhook_delivered(&d1[0].id, lease_of(&d1[0].id), 202)
            .await
            .unwrap());
        assert!(!store
            .retry_webhook_delivery(&d1[1].id, lease_of(&d1[1].id), now + 9_000, None, "late")
            .await
            .unwrap());
        let got = store.get_webhook_delivery(&t, &d1[0].id).await.unwrap();
        assert_eq!(got.status, DeliveryStatus::Delivered);
        assert_eq!((got.attempts, got.last_status_code), (1, Some(200)));
        assert!(got.delivered_at.is_some());
        let got = store.get_webhook_delivery(&t, &d1[1].id).await.unwrap();
        assert_eq!(got.status, DeliveryStatus::Pending);
        assert_eq!((got.attempts, got.next_attempt_at), (1, now + 5_000));
        assert_eq!(got.last_error.as_deref(), Some("HTTP 500"));
        assert_eq!(
            store
                .get_webhook_delivery(&t, &d2[0].id)
                .await
                .unwrap()
                .status,
            DeliveryStatus::Abandoned
        );
        assert_eq!(
            store
                .get_webhook_delivery(&t, &d3[0].id)
                .await
                .unwrap()
                .status,
            DeliveryStatus::Failed
        );
        assert!(matches!(
            store.get_webhook_delivery(&other, &d1[0].id).await,
            Err(StorageError::NotFound)
        ));

        // The retried one is due again at its time, with the same id.
        assert!(store
            .claim_due_webhook_deliveries(now + 4_999, 1000, 10)
            .await
            .unwrap()
            .is_empty());
        let again = store
            .claim_due_webhook_deliveries(now + 5_000, 1000, 10)
            .await
            .unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].delivery.id, d1[1].id);

        // A disabled webhook's pending deliveries wait.
        store
            .disable_webhook(&again[0].delivery.webhook_id, "receiver answered 410 Gone")
            .await
            .unwrap();
        let wh = store
            .get_webhook(&t, &again[0].delivery.webhook_id)
            .await
            .unwrap();
        assert!(!wh.enabled);
        assert_eq!(
            wh.disabled_reason.as_deref(),
            Some("receiver answered 410 Gone")
        );
        assert!(store
            .claim_due_webhook_deliveries(now + 100_000, 1000, 10)
            .await
            .unwrap()
            .is_empty());

        // Delivery log, newest first.
        let log = store
            .list_webhook_deliveries(&t, &all.id, 100)
            .await
            .unwrap();
        assert_eq!(log.len(), 3);
        assert!(log.windows(2).all(|p| p[0].created_at >= p[1].created_at));
        store.close().await;
    })
    .await;
}
