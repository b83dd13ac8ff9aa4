//! Call recording metadata, on every backend.

use ringside_storage::{
    new_id, now_ms, CallRecord, NewRecording, RecordingStatus, StorageError, Store,
};

use super::each_backend;

pub(crate) async fn call(store: &Store, tenant_id: &str, started_at: i64) -> String {
    let id = new_id();
    store
        .insert_call(&CallRecord {
            id: id.clone(),
            tenant_id: tenant_id.to_owned(),
            kind: "sip".parse().unwrap(),
            from_uri: "sip:alice@example.com".to_owned(),
            to_uri: "sip:bob@example.com".to_owned(),
            status: "answered".parse().unwrap(),
            started_at,
            answered_at: Some(started_at),
            ended_at: None,
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
    id
}

pub(crate) fn new_rec(call_id: &str, started_at: i64) -> NewRecording {
    let id = new_id();
    NewRecording {
        path: format!("recordings/{id}.wav"),
        id,
        call_id: call_id.to_owned(),
        sample_rate: 48_000,
        channels: 2,
        started_at,
    }
}

#[tokio::test]
async fn recordings_lifecycle_and_isolation() {
    each_backend("recordings", |ctx| async move {
        let store = ctx.store().await;
        let t = store
            .ensure_user("rec@example.com")
            .await
            .unwrap()
            .tenant_id;
        let other = store.ensure_user("o@example.com").await.unwrap().tenant_id;
        let base = now_ms();
        let c = call(&store, &t, base).await;
        let empty_call = call(&store, &t, base).await;
        let foreign_call = call(&store, &other, base).await;

        // Insert: status recording, zero duration and size.
        let r1 = store
            .insert_recording(&t, &new_rec(&c, base + 10))
            .await
            .unwrap();
        assert_eq!(r1.status, RecordingStatus::Recording);
        assert_eq!((r1.duration_ms, r1.bytes, r1.ended_at), (0, 0, None));
        assert_eq!(
            (r1.format.as_str(), r1.sample_rate, r1.channels),
            ("wav", 48_000, 2)
        );
        assert_eq!(r1.tenant_id, t);
        assert_eq!(store.get_recording(&t, &r1.id).await.unwrap(), r1);
        let r2 = store
            .insert_recording(&t, &new_rec(&c, base + 20))
            .await
            .unwrap();

        // Another tenant's call, an unknown call: NotFound, nothing written.
        for (tenant, call_id) in [(&t, &foreign_call), (&other, &c), (&t, &new_id())] {
            assert!(matches!(
                store
                    .insert_recording(tenant, &new_rec(call_id, base))
                    .await,
                Err(StorageError::NotFound)
            ));
        }
        // Duplicate id or path: Conflict.
        let mut dup = new_rec(&c, base);
        dup.id = r1.id.clone();
        assert!(matches!(
            store.insert_recording(&t, &dup).await,
            Err(StorageError::Conflict(_))
        ));
        let mut dup = new_rec(&c, base);
        dup.path = r1.path.clone();
        assert!(matches!(
            store.insert_recording(&t, &dup).await,
            Err(StorageError::Conflict(_))
        ));
        // Validation.
        for bad in [
            NewRecording {
                path: "/abs.wav".into(),
                ..new_rec(&c, base)
            },
            NewRecording {
                path: "a/../../b.wav".into(),
                ..new_rec(&c, base)
            },
            NewRecording {
                sample_rate: 0,
                ..new_rec(&c, base)
            },
            NewRecording {
                channels: 0,
                ..new_rec(&c, base)
            },
            NewRecording {
                id: String::new(),
                ..new_rec(&c, base)
            },
        ] {
            assert!(matches!(
                store.insert_recording(&t, &bad).await,
                Err(StorageError::Invalid(_))
            ));
        }

        // List per call, oldest first; tenant-checked.
        assert_eq!(
            store.list_call_recordings(&t, &c).await.unwrap(),
            vec![r1.clone(), r2.clone()]
        );
        assert!(store
            .list_call_recordings(&t, &empty_call)
            .await
            .unwrap()
            .is_empty());
        assert!(matches!(
            store.list_call_recordings(&other, &c).await,
            Err(StorageError::NotFound)
        ));
        assert!(matches!(
            store.get_recording(&other, &r1.id).await,
            Err(StorageError::NotFound)
        ));

        // Both are in progress (of all tenants).
        let ids: Vec<String> = store
            .list_recordings_in_progress()
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, vec![r1.id.clone(), r2.id.clone()]);

        // Finish one, repair the other; another tenant cannot.
        assert!(matches!(
            store.finish_recording(&other, &r1.id, 1, 1, base).await,
            Err(StorageError::NotFound)
        ));
        assert!(matches!(
            store.finish_recording(&t, &r1.id, -1, 1, base).await,
            Err(StorageError::Invalid(_))
        ));
        let f1 = store
            .finish_recording(&t, &r1.id, 61_500, 11_808_044, base + 1000)
            .await
            .unwrap();
        assert_eq!(f1.status, RecordingStatus::Complete);
        assert_eq!(
            (f1.duration_ms, f1.bytes, f1.ended_at),
            (61_500, 11_808_044, Some(base + 1000))
        );
        assert_eq!(store.get_recording(&t, &r1.id).await.unwrap(), f1);
        let f2 = store
            .mark_recording_repaired(&t, &r2.id, 2_000, 384_044, base + 5000)
            .await
            .unwrap();
        assert_eq!(f2.status, RecordingStatus::Repaired);
        assert_eq!(f2.created_at, r2.created_at);
        assert!(store
            .list_recordings_in_progress()
            .await
            .unwrap()
            .is_empty());

        // Expiry: strictly before the cutoff, oldest end first, limited.
        assert!(store
            .list_expired_recordings(base + 1000, 10)
            .await
            .unwrap()
            .is_empty());
        let exp = store
            .list_expired_recordings(base + 1001, 10)
            .await
            .unwrap();
        assert_eq!(exp, vec![f1.clone()]);
        let exp = store
            .list_expired_recordings(base + 10_000, 10)
            .await
            .unwrap();
        assert_eq!(exp, vec![f1.clone(), f2.clone()]);
        assert_eq!(
            store
                .list_expired_recordings(base + 10_000, 1)
                .await
                .unwrap(),
            vec![f1.clone()]
        );
        assert!(store
            .list_expired_recordings(base + 10_000, 0)
            .await
            .unwrap()
            .is_empty());
        // In-progress recordings never expire.
        let r3 = store
            .insert_recording(&t, &new_rec(&c, base - 100_000))
            .await
            .unwrap();
        assert_eq!(
            store
                .list_expired_recordings(i64::MAX, 10)
                .await
                .unwrap()
                .len(),
            2
        );

        // Delete: tenant-checked, then gone.
        assert!(!store.delete_recording(&other, &r1.id).await.unwrap());
        assert!(store.delete_recording(&t, &r1.id).await.unwrap());
        assert!(!store.delete_recording(&t, &r1.id).await.unwrap());
        assert!(matches!(
            store.get_recording(&t, &r1.id).await,
            Err(StorageError::NotFound)
        ));
        assert_eq!(
            store.list_call_recordings(&t, &c).await.unwrap(),
            vec![r3, f2]
        );
    })
    .await;
}
