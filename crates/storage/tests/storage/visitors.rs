//! Visitors and their activity log, on every backend.

use ringside_storage::{new_id, NewWidget, Visitor, VisitorEvent};

use super::each_backend;

fn visitor(tenant: &str, widget: &str, id: &str, last_seen: i64) -> Visitor {
    Visitor {
        widget_id: widget.to_owned(),
        visitor_id: id.to_owned(),
        tenant_id: tenant.to_owned(),
        first_seen_at: 1_000,
        last_seen_at: last_seen,
        visit_count: 1,
        current_session_started_at: 1_000,
        current_url: Some("https://example.com/".into()),
        utm_source: Some("google".into()),
        is_bot: true,
        metadata: r#"{"plan":"pro"}"#.into(),
        ..Visitor::default()
    }
}

fn event(tenant: &str, widget: &str, id: &str, kind: &str, at: i64) -> VisitorEvent {
    VisitorEvent {
        id: new_id(),
        tenant_id: tenant.to_owned(),
        widget_id: widget.to_owned(),
        visitor_id: id.to_owned(),
        kind: kind.to_owned(),
        url: Some("https://example.com/".into()),
        at,
        data: "{}".into(),
    }
}

#[tokio::test]
async fn visitor_batches_upsert_list_and_isolate() {
    each_backend("visitors", |ctx| async move {
        let store = ctx.store().await;
        let a = store
            .ensure_user(&format!("{}@a.example", new_id()))
            .await
            .unwrap();
        let b = store
            .ensure_user(&format!("{}@b.example", new_id()))
            .await
            .unwrap();
        let wa = store
            .create_widget(
                &a.tenant_id,
                NewWidget {
                    name: "A".into(),
                    ..NewWidget::default()
                },
            )
            .await
            .unwrap();
        let wb = store
            .create_widget(
                &b.tenant_id,
                NewWidget {
                    name: "B".into(),
                    ..NewWidget::default()
                },
            )
            .await
            .unwrap();
        // One batch: 70 visitors (several multi-row chunks) and 250 events.
        let visitors: Vec<Visitor> = (0..70)
            .map(|i| visitor(&a.tenant_id, &wa.id, &format!("visitor-{i:03}"), 10_000 + i))
            .collect();
        let events: Vec<VisitorEvent> = (0..250)
            .map(|i| event(&a.tenant_id, &wa.id, "visitor-000", "click", 2_000 + i))
            .collect();
        store.write_visitor_batch(&visitors, &events).await.unwrap();
        store.write_visitor_batch(&[], &[]).await.unwrap();

        let live = store
            .list_live_visitors(&a.tenant_id, &wa.id, 10_050, 1000)
            .await
            .unwrap();
        assert_eq!(live.len(), 20);
        assert_eq!(live[0].visitor_id, "visitor-069");
        assert_eq!(live[0], visitors[69]);
        let got = store
            .find_visitor(&wa.id, "visitor-000")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, visitors[0]);
        assert!(store
            .find_visitor(&wa.id, "nobody-1")
            .await
            .unwrap()
            .is_none());

        // Upsert: a later snapshot replaces the row.
        let mut v = visitors[0].clone();
        v.last_seen_at = 50_000;
        v.visit_count = 2;
        v.previous_seen_at = Some(10_000);
        v.is_bot = false;
        v.utm_source = None;
        store.write_visitor_batch(&[v.clone()], &[]).await.unwrap();
        assert_eq!(
            store
                .find_visitor(&wa.id, "visitor-000")
                .await
                .unwrap()
                .unwrap(),
            v
        );

        let log = store
            .list_visitor_events(&a.tenant_id, &wa.id, "visitor-000", 1000)
            .await
            .unwrap();
        assert_eq!(log.len(), 250);
        assert_eq!(log[0].at, 2_249);
        assert_eq!(
            store
                .list_visitor_events(&a.tenant_id, &wa.id, "visitor-000", 5)
                .await
                .unwrap()
                .len(),
            5
        );

        // Tenant B sees nothing of A's widget; a snapshot claiming A's visitor for B is ignored.
        assert!(store
            .list_live_visitors(&b.tenant_id, &wa.id, 0, 1000)
            .await
            .unwrap()
            .is_empty());
        assert!(store
            .list_visitor_events(&b.tenant_id, &wa.id, "visitor-000", 1000)
            .await
            .unwrap()
            .is_empty());
        let mut hijack = v.clone();
        hijack.tenant_id = b.tenant_id.clone();
        hijack.visit_count = 99;
        store.write_visitor_batch(&[hijack], &[]).await.unwrap();
        assert_eq!(
            store
                .find_visitor(&wa.id, "visitor-000")
                .await
                .unwrap()
                .unwrap()
                .visit_count,
            2
        );
        assert!(store
            .list_live_visitors(&b.tenant_id, &wb.id, 0, 1000)
            .await
            .unwrap()
            .is_empty());

        // A failing batch (duplicate event id) writes nothing.
        let dup = event(&a.tenant_id, &wa.id, "visitor-new", "click", 1);
        let fresh = visitor(&a.tenant_id, &wa.id, "visitor-new", 60_000);
        assert!(store
            .write_visitor_batch(&[fresh], &[dup.clone(), dup])
            .await
            .is_err());
        assert!(store
            .find_visitor(&wa.id, "visitor-new")
            .await
            .unwrap()
            .is_none());
        store.close().await;
    })
    .await;
}

/// Visits per day add up across flushes and stay with their widget's tenant.
#[tokio::test]
async fn visits_per_day_add_up_and_isolate() {
    use ringside_storage::VisitDay;
    each_backend("visit-days", |ctx| async move {
        let store = ctx.store().await;
        let a = store
            .ensure_user(&format!("{}@a.example", new_id()))
            .await
            .unwrap();
        let b = store
            .ensure_user(&format!("{}@b.example", new_id()))
            .await
            .unwrap();
        let w = store
            .create_widget(
                &a.tenant_id,
                NewWidget {
                    name: "A".into(),
                    ..NewWidget::default()
                },
            )
            .await
            .unwrap();
        const DAY: i64 = 86_400_000;
        let day = |d: i64, ms: i64, n: i64| VisitDay {
            widget_id: w.id.clone(),
            day: d * DAY + ms,
            visits: n,
        };
        let v = visitor(&a.tenant_id, &w.id, "visitor-1", 10 * DAY);
        store
            .write_activity(&[v], &[], &[day(10, 5, 2), day(9, 0, 1)])
            .await
            .unwrap();
        // Any time of the day counts on that day; nothing but visits is fine too.
        store
            .write_activity(&[], &[], &[day(10, DAY - 1, 3), day(11, 0, 0)])
            .await
            .unwrap();
        let got = store
            .visits_per_day(&a.tenant_id, &w.id, 9 * DAY + 7)
            .await
            .unwrap();
        assert_eq!(got, vec![(9 * DAY, 1), (10 * DAY, 5)]);
        let later = store
            .visits_per_day(&a.tenant_id, &w.id, 10 * DAY)
            .await
            .unwrap();
        assert_eq!(later, vec![(10 * DAY, 5)]);
        // Another tenant sees none of it.
        let other = store.visits_per_day(&b.tenant_id, &w.id, 0).await.unwrap();
        assert!(other.is_empty());
        // A failed batch adds nothing.
        let bad = visitor("", &w.id, "visitor-2", 10 * DAY);
        assert!(store
            .write_activity(&[bad], &[], &[day(10, 0, 100)])
            .await
            .is_err());
        assert_eq!(
            store.visits_per_day(&a.tenant_id, &w.id, 0).await.unwrap(),
            vec![(9 * DAY, 1), (10 * DAY, 5)]
        );
    })
    .await;
}
