//! Messages, callbacks and notes, on every backend.

use ringside_storage::{NewCallback, NewMessage, NewWidget, StorageError, VoiceNote};

use super::each_backend;

#[tokio::test]
async fn messages_callbacks_notes() {
    each_backend("messages", |ctx| async move {
        let store = ctx.store().await;
        let t = store.ensure_user("m@example.com").await.unwrap().tenant_id;
        let other = store.ensure_user("mo@example.com").await.unwrap().tenant_id;
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
        let msg = |visitor: &str, sender: &str, body: &str| NewMessage {
            visitor_id: visitor.into(),
            conversation_id: String::new(),
            sender: sender.into(),
            author_user_id: None,
            body: body.into(),
        };
        let m1 = store
            .add_message(&t, &w.id, msg("visitor-1", "visitor", " Hello\nthere "))
            .await
            .unwrap();
        assert_eq!(m1.body, "Hello\nthere");
        assert_eq!(m1.conversation_id, "visitor-1");
        store
            .add_message(&t, &w.id, msg("visitor-1", "operator", "Hi!"))
            .await
            .unwrap();
        store
            .add_message(&t, &w.id, msg("visitor-2", "visitor", "other"))
            .await
            .unwrap();
        for bad in [
            msg("visitor-1", "robot", "x"),
            msg("visitor-1", "visitor", "  "),
            msg("visitor-1", "visitor", &"x".repeat(4001)),
            msg("", "visitor", "x"),
        ] {
            assert!(matches!(
                store.add_message(&t, &w.id, bad).await,
                Err(StorageError::Invalid(_))
            ));
        }
        let list = store
            .list_messages(&t, &w.id, Some("visitor-1"), 100)
            .await
            .unwrap();
        assert_eq!(
            list.iter().map(|m| m.sender.as_str()).collect::<Vec<_>>(),
            ["visitor", "operator"]
        );
        assert_eq!(
            store
                .list_messages(&t, &w.id, None, 100)
                .await
                .unwrap()
                .len(),
            3
        );
        assert!(store
            .list_messages(&other, &w.id, None, 100)
            .await
            .unwrap()
            .is_empty());

        let mut fields = serde_json::Map::new();
        fields.insert("name".into(), "Ana".into());
        let cb = store
            .add_callback(
                &t,
                &w.id,
                NewCallback {
                    visitor_id: Some("visitor-1".into()),
                    kind: "callback".into(),
                    name: Some("Ana".into()),
                    phone: Some("+15550100".into()),
                    fields,
                    voice_note: Some(VoiceNote {
                        path: "voice-notes/x.webm".into(),
                        content_type: "audio/webm".into(),
                        bytes: 12,
                    }),
                    ..NewCallback::default()
                },
            )
            .await
            .unwrap();
        let got = store.get_callback(&t, &w.id, &cb.id).await.unwrap();
        assert_eq!(got, cb);
        assert_eq!(got.voice_note.unwrap().bytes, 12);
        assert!(matches!(
            store.get_callback(&other, &w.id, &cb.id).await,
            Err(StorageError::NotFound)
        ));
        assert_eq!(
            store
                .list_callbacks(&t, &w.id, Some("visitor-1"), 10)
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(store
            .list_callbacks(&t, &w.id, Some("visitor-2"), 10)
            .await
            .unwrap()
            .is_empty());
        assert!(store
            .add_callback(
                &t,
                &w.id,
                NewCallback {
                    kind: "spam".into(),
                    ..NewCallback::default()
                }
            )
            .await
            .is_err());

        store
            .add_note(&t, &w.id, "visitor-1", "user-a", "team note", "team")
            .await
            .unwrap();
        store
            .add_note(&t, &w.id, "visitor-1", "user-a", "mine", "private")
            .await
            .unwrap();
        assert!(store
            .add_note(&t, &w.id, "visitor-1", "user-a", "x", "public")
            .await
            .is_err());
        assert_eq!(
            store
                .list_notes(&t, &w.id, "visitor-1", "user-a")
                .await
                .unwrap()
                .len(),
            2
        );
        let seen_by_b = store
            .list_notes(&t, &w.id, "visitor-1", "user-b")
            .await
            .unwrap();
        assert_eq!(seen_by_b.len(), 1);
        assert_eq!(seen_by_b[0].body, "team note");
        assert!(store
            .list_notes(&other, &w.id, "visitor-1", "user-a")
            .await
            .unwrap()
            .is_empty());
    })
    .await;
}
