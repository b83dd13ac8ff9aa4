//! Call records, single and batched, on every backend.

use ringside_storage::{new_id, now_ms, CallLeg, CallRecord, StorageError};

use super::each_backend;

fn call(tenant_id: &str, started_at: i64, legs: usize) -> CallRecord {
    let id = new_id();
    CallRecord {
        id: id.clone(),
        tenant_id: tenant_id.to_owned(),
        kind: "sip".parse().unwrap(),
        from_uri: "sip:alice@example.com".to_owned(),
        to_uri: "sip:bob@example.com".to_owned(),
        status: "ringing".parse().unwrap(),
        started_at,
        answered_at: None,
        ended_at: None,
        end_reason: None,
        hangup_side: None,
        widget_id: None,
        visitor_id: None,
        answered_by: None,
        node_id: None,
        legs: (0..legs)
            .map(|i| CallLeg {
                id: new_id(),
                call_id: id.clone(),
                idx: i as i64,
                role: if i == 0 { "caller" } else { "callee" }.parse().unwrap(),
                sip_call_id: format!("{}@host", new_id()),
                local_tag: format!("tag{i}"),
                remote_tag: None,
                peer: "198.51.100.7:5060".to_owned(),
                started_at,
                answered_at: None,
                ended_at: None,
                final_status: None,
                quality: None,
            })
            .collect(),
    }
}

#[tokio::test]
async fn calls_insert_update_get_list() {
    each_backend("calls", |ctx| async move {
        let store = ctx.store().await;
        let t = store
            .ensure_user("calls@example.com")
            .await
            .unwrap()
            .tenant_id;
        let other = store.ensure_user("o@example.com").await.unwrap().tenant_id;
        let base = now_ms();

        let mut c1 = call(&t, base, 2);
        store.insert_call(&c1).await.unwrap();
        assert_eq!(store.get_call(&t, &c1.id).await.unwrap(), c1);
        assert!(matches!(
            store.get_call(&other, &c1.id).await,
            Err(StorageError::NotFound)
        ));

        // Conflict on a duplicate id leaves the stored call intact.
        let mut dup = call(&t, base + 5, 1);
        dup.id = c1.id.clone();
        dup.legs[0].call_id = c1.id.clone();
        assert!(matches!(
            store.insert_call(&dup).await,
            Err(StorageError::Conflict(_))
        ));
        assert_eq!(store.get_call(&t, &c1.id).await.unwrap(), c1);

        // Update: answer, then end; add a third leg.
        c1.status = "answered".parse().unwrap();
        c1.answered_at = Some(base + 1000);
        c1.legs[1].remote_tag = Some("rt".to_owned());
        c1.legs[1].answered_at = Some(base + 1000);
        c1.legs[1].final_status = Some(200);
        store.update_call(&c1).await.unwrap();
        c1.status = "ended".parse().unwrap();
        c1.ended_at = Some(base + 5000);
        c1.end_reason = Some("hangup".parse().unwrap());
        c1.hangup_side = Some("callee".parse().unwrap());
        let mut leg = call(&t, base, 1).legs.remove(0);
        leg.call_id = String::new(); // filled in from the record
        leg.idx = 2;
        c1.legs.push(leg);
        store.update_call(&c1).await.unwrap();
        let got = store.get_call(&t, &c1.id).await.unwrap();
        c1.legs[2].call_id = c1.id.clone();
        assert_eq!(got, c1);

        // Another tenant cannot update it.
        let mut foreign = c1.clone();
        foreign.tenant_id = other.clone();
        foreign.status = "failed".parse().unwrap();
        assert!(matches!(
            store.update_call(&foreign).await,
            Err(StorageError::NotFound)
        ));
        assert_eq!(store.get_call(&t, &c1.id).await.unwrap(), c1);
        let mut mismatched = call(&t, base, 1);
        mismatched.legs[0].call_id = "someone-else".to_owned();
        assert!(matches!(
            store.insert_call(&mismatched).await,
            Err(StorageError::Invalid(_))
        ));

        // Batch of 500 calls (1,000 legs) in one transaction.
        let batch: Vec<CallRecord> = (0..500).map(|i| call(&t, base + 10 + i, 2)).collect();
        store.insert_calls_batch(&batch).await.unwrap();
        let listed = store.list_calls(&t, 1000).await.unwrap();
        assert_eq!(listed.len(), 501);
        assert_eq!(listed[0], batch[499], "newest first, with legs");
        assert_eq!(listed[500], c1);
        assert!(listed
            .windows(2)
            .all(|w| w[0].started_at >= w[1].started_at));
        assert!(listed[..500].iter().all(|c| c.legs.len() == 2));
        let top = store.list_calls(&t, 3).await.unwrap();
        assert_eq!(top, listed[..3].to_vec());
        assert!(store.list_calls(&other, 10).await.unwrap().is_empty());
        assert!(store.list_calls(&t, 0).await.unwrap().is_empty());

        // A batch containing one existing id writes nothing at all.
        let mut bad: Vec<CallRecord> = (0..10).map(|i| call(&t, base + 10_000 + i, 1)).collect();
        bad.push(batch[0].clone());
        assert!(matches!(
            store.insert_calls_batch(&bad).await,
            Err(StorageError::Conflict(_))
        ));
        assert_eq!(store.list_calls(&t, 1000).await.unwrap(), listed);

        // Batch update: several snapshots of one call (last wins), plus a
        // call not yet stored (inserted).
        let mut updates: Vec<CallRecord> = batch[..100].to_vec();
        for c in &mut updates {
            c.status = "answered".parse().unwrap();
            c.answered_at = Some(c.started_at + 100);
            c.legs[1].final_status = Some(200);
        }
        let mut last = updates[0].clone();
        last.status = "ended".parse().unwrap();
        last.ended_at = Some(last.started_at + 900);
        last.legs[1].ended_at = Some(last.started_at + 900);
        updates.push(last.clone());
        let fresh = call(&t, base + 20_000, 2);
        updates.push(fresh.clone());
        store.update_calls_batch(&updates).await.unwrap();
        assert_eq!(store.get_call(&t, &last.id).await.unwrap(), last);
        assert_eq!(store.get_call(&t, &fresh.id).await.unwrap(), fresh);
        assert_eq!(
            store.get_call(&t, &updates[50].id).await.unwrap(),
            updates[50]
        );
        assert_eq!(store.list_calls(&t, 1000).await.unwrap().len(), 502);

        // A batch update naming another tenant's call leaves it untouched.
        let mut hijack = c1.clone();
        hijack.tenant_id = other.clone();
        hijack.status = "failed".parse().unwrap();
        store.update_calls_batch(&[hijack]).await.unwrap();
        assert_eq!(store.get_call(&t, &c1.id).await.unwrap(), c1);
        assert!(store.list_calls(&other, 10).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn widget_calls_by_visitor_and_waiting() {
    each_backend("widget_calls", |ctx| async move {
        let store = ctx.store().await;
        let t = store
            .ensure_user("wcalls@example.com")
            .await
            .unwrap()
            .tenant_id;
        let other = store.ensure_user("wo@example.com").await.unwrap().tenant_id;
        let base = now_ms();
        let browser = |visitor: &str, started: i64, status: &str| {
            let mut c = call(&t, started, 2);
            c.kind = "webrtc".parse().unwrap();
            c.widget_id = Some("w1".into());
            c.visitor_id = Some(visitor.into());
            c.status = status.parse().unwrap();
            c
        };
        let mut a = browser("v_alice1", base - 3000, "ended");
        a.answered_at = Some(base - 2500);
        a.ended_at = Some(base - 1000);
        a.answered_by = Some("extension:1002".into());
        let b = browser("v_bobby1", base - 2000, "ringing");
        let stale = browser("v_bobby1", base - 3_600_000, "ringing");
        let mut elsewhere = call(&t, base, 2);
        elsewhere.widget_id = Some("w2".into());
        store
            .insert_calls_batch(&[a.clone(), b.clone(), stale.clone(), elsewhere])
            .await
            .unwrap();
        let f = ringside_storage::WidgetCallFilter::default();
        let all = store.list_widget_calls(&t, "w1", f, 50).await.unwrap();
        assert_eq!(
            all.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            [b.id.as_str(), a.id.as_str(), stale.id.as_str()],
            "newest first, only w1"
        );
        assert_eq!(all[1], a, "columns round-trip, legs loaded");
        let alice = ringside_storage::WidgetCallFilter {
            visitor_id: Some("v_alice1"),
            ..f
        };
        let mine = store.list_widget_calls(&t, "w1", alice, 50).await.unwrap();
        assert_eq!(mine, vec![a.clone()]);
        let waiting = ringside_storage::WidgetCallFilter {
            waiting: true,
            since_ms: base - 600_000,
            ..f
        };
        let w = store
            .list_widget_calls(&t, "w1", waiting, 50)
            .await
            .unwrap();
        assert_eq!(
            w.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            [b.id.as_str()]
        );
        assert!(store
            .list_widget_calls(&other, "w1", f, 50)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            store.list_widget_calls(&t, "w1", f, 1).await.unwrap().len(),
            1
        );
        // An update keeps the widget columns.
        let mut b2 = b.clone();
        b2.status = "missed".parse().unwrap();
        b2.ended_at = Some(base);
        store.update_calls_batch(&[b2.clone()]).await.unwrap();
        assert_eq!(store.get_call(&t, &b.id).await.unwrap(), b2);
        assert!(store
            .list_widget_calls(&t, "w1", waiting, 50)
            .await
            .unwrap()
            .is_empty());
    })
    .await;
}

#[tokio::test]
async fn open_calls_left_by_a_dead_server_are_closed_at_start() {
    each_backend("calls_restart", |ctx| async move {
        let store = ctx.store().await;
        let t = store
            .ensure_user("restart@example.com")
            .await
            .unwrap()
            .tenant_id;
        let base = now_ms();
        let mut answered = call(&t, base, 2);
        answered.status = "answered".parse().unwrap();
        answered.answered_at = Some(base + 10);
        answered.legs[0].answered_at = Some(base + 10);
        let ringing = call(&t, base, 2);
        let mut done = call(&t, base, 1);
        done.status = "ended".parse().unwrap();
        done.ended_at = Some(base + 20);
        done.legs[0].ended_at = Some(base + 20);
        done.end_reason = Some("hangup".parse().unwrap());
        store
            .insert_calls_batch(&[answered.clone(), ringing.clone(), done.clone()])
            .await
            .unwrap();

        let at = base + 1_000;
        assert_eq!(
            store
                .close_open_calls(ringside_domain::EndReason::ServerRestart, at)
                .await
                .unwrap(),
            2
        );
        let a = store.get_call(&t, &answered.id).await.unwrap();
        assert_eq!(
            (
                a.status.as_str(),
                a.ended_at,
                a.end_reason.map(|r| r.as_str())
            ),
            ("ended", Some(at), Some("server_restart"))
        );
        assert_eq!(a.hangup_side.map(|s| s.as_str()), Some("system"));
        assert!(a.legs.iter().all(|l| l.ended_at == Some(at)), "{a:?}");
        let r = store.get_call(&t, &ringing.id).await.unwrap();
        assert_eq!((r.status.as_str(), r.ended_at), ("missed", Some(at)));
        // A call that had ended is untouched.
        assert_eq!(store.get_call(&t, &done.id).await.unwrap(), done);
        assert_eq!(
            store
                .close_open_calls(ringside_domain::EndReason::ServerRestart, at + 1)
                .await
                .unwrap(),
            0
        );
    })
    .await;
}

#[tokio::test]
async fn a_stored_status_no_value_has_is_reported_corrupt_and_nothing_else_changes() {
    each_backend("calls_corrupt", |ctx| async move {
        let store = ctx.store().await;
        let t = store
            .ensure_user("corrupt@example.com")
            .await
            .unwrap()
            .tenant_id;
        let good = call(&t, now_ms(), 2);
        let bad = call(&t, now_ms() + 1, 1);
        store.insert_call(&good).await.unwrap();
        store.insert_call(&bad).await.unwrap();
        // Written by something other than Ringside's call core.
        sqlx::query("UPDATE calls SET status = 'on_the_moon' WHERE id = $1")
            .bind(&bad.id)
            .execute(store.pool())
            .await
            .unwrap();
        assert!(matches!(
            store.get_call(&t, &bad.id).await,
            Err(StorageError::Corrupt("status"))
        ));
        assert_eq!(store.get_call(&t, &good.id).await.unwrap(), good);
    })
    .await;
}
