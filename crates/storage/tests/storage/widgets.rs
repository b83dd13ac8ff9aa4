//! Widgets, on every backend.

use ringside_storage::{
    new_id, FormField, LeadForm, NewWidget, OfflineForm, StorageError, WidgetPatch,
    WIDGET_KEY_PREFIX,
};

use super::each_backend;

fn new_widget(name: &str) -> NewWidget {
    NewWidget {
        name: name.to_owned(),
        allowed_domains: vec!["example.com".into(), "*.example.org".into()],
        agent_name: "Ana".into(),
        offline_form: OfflineForm {
            enabled: true,
            fields: vec![FormField {
                name: "email".into(),
                label: "Email".into(),
                kind: "email".into(),
                required: true,
            }],
            message: "We are away".into(),
        },
        ..NewWidget::default()
    }
}

#[tokio::test]
async fn widgets_lifecycle_and_isolation() {
    each_backend("widgets", |ctx| async move {
        let store = ctx.store().await;
        let t = store.ensure_user("w@example.com").await.unwrap().tenant_id;
        let other = store.ensure_user("wo@example.com").await.unwrap().tenant_id;

        let w1 = store.create_widget(&t, new_widget("Site")).await.unwrap();
        assert!(w1.public_key.starts_with(WIDGET_KEY_PREFIX));
        assert_eq!(w1.public_key.len(), WIDGET_KEY_PREFIX.len() + 32);
        assert_eq!(w1.tenant_id, t);
        assert_eq!(w1.position, "bottom-right");
        assert_eq!(w1.primary_color, "#3B82F6");
        assert_eq!(w1.lead_form, None);
        assert_eq!(store.get_widget(&t, &w1.id).await.unwrap(), w1);
        let w2 = store.create_widget(&t, new_widget("Shop")).await.unwrap();
        assert_ne!(w1.public_key, w2.public_key);
        let foreign = store
            .create_widget(&other, new_widget("Else"))
            .await
            .unwrap();

        // Listing is per tenant, oldest first.
        let list = store.list_widgets(&t).await.unwrap();
        assert_eq!(
            list.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(),
            [w1.id.as_str(), w2.id.as_str()]
        );
        assert_eq!(
            store.list_widgets(&other).await.unwrap(),
            vec![foreign.clone()]
        );

        // Another tenant's widget is NotFound for get and update (and unchanged).
        assert!(matches!(
            store.get_widget(&t, &foreign.id).await,
            Err(StorageError::NotFound)
        ));
        let rename = WidgetPatch {
            name: Some("Stolen".into()),
            ..WidgetPatch::default()
        };
        assert!(matches!(
            store.update_widget(&t, &foreign.id, rename.clone()).await,
            Err(StorageError::NotFound)
        ));
        assert_eq!(
            store.get_widget(&other, &foreign.id).await.unwrap(),
            foreign
        );

        // Partial update: only the named fields change; nullable ones can be cleared.
        let w1b = store
            .update_widget(
                &t,
                &w1.id,
                WidgetPatch {
                    position: Some("bottom-left".into()),
                    logo_url: Some(Some("https://cdn.example.com/l.png".into())),
                    lead_form: Some(Some(LeadForm {
                        fields: vec![],
                        prompt: "Leave your email".into(),
                    })),
                    ..WidgetPatch::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(w1b.position, "bottom-left");
        assert_eq!(
            w1b.logo_url.as_deref(),
            Some("https://cdn.example.com/l.png")
        );
        assert_eq!(w1b.lead_form.as_ref().unwrap().prompt, "Leave your email");
        assert_eq!(
            (w1b.name.as_str(), &w1b.public_key),
            ("Site", &w1.public_key)
        );
        assert_eq!(w1b.allowed_domains, w1.allowed_domains);
        assert_eq!(w1b.offline_form, w1.offline_form);
        assert!(w1b.updated_at >= w1.updated_at);
        assert_eq!(store.get_widget(&t, &w1.id).await.unwrap(), w1b);
        let w1c = store
            .update_widget(
                &t,
                &w1.id,
                WidgetPatch {
                    logo_url: Some(None),
                    lead_form: Some(None),
                    allowed_domains: Some(vec![]),
                    ..WidgetPatch::default()
                },
            )
            .await
            .unwrap();
        assert_eq!((w1c.logo_url, w1c.lead_form), (None, None));
        assert!(w1c.allowed_domains.is_empty());

        // Invalid input writes nothing.
        for bad in [
            WidgetPatch {
                name: Some("  ".into()),
                ..WidgetPatch::default()
            },
            WidgetPatch {
                primary_color: Some("red".into()),
                ..WidgetPatch::default()
            },
            WidgetPatch {
                position: Some("top".into()),
                ..WidgetPatch::default()
            },
            WidgetPatch {
                avatar_url: Some(Some("ftp://x".into())),
                ..WidgetPatch::default()
            },
        ] {
            assert!(matches!(
                store.update_widget(&t, &w2.id, bad).await,
                Err(StorageError::Invalid(_))
            ));
        }
        assert_eq!(store.get_widget(&t, &w2.id).await.unwrap(), w2);
        assert!(matches!(
            store
                .create_widget(
                    &t,
                    NewWidget {
                        name: "x".repeat(121),
                        ..NewWidget::default()
                    }
                )
                .await,
            Err(StorageError::Invalid("name"))
        ));
        assert_eq!(store.list_widgets(&t).await.unwrap().len(), 2);

        // The public lookup: id + key, any tenant; wrong key is None, unknown id NotFound.
        assert_eq!(
            store
                .get_public_widget(&foreign.id, &foreign.public_key)
                .await
                .unwrap(),
            Some(foreign.clone())
        );
        assert_eq!(
            store
                .get_public_widget(&foreign.id, &w2.public_key)
                .await
                .unwrap(),
            None
        );
        assert!(matches!(
            store.get_public_widget(&new_id(), &w2.public_key).await,
            Err(StorageError::NotFound)
        ));

        // An unknown tenant cannot own widgets.
        assert!(matches!(
            store.create_widget(&new_id(), new_widget("Ghost")).await,
            Err(StorageError::NotFound)
        ));
    })
    .await;
}

#[tokio::test]
async fn widget_call_settings_defaults_validation_and_isolation() {
    use ringside_storage::CallSettings;
    each_backend("call_settings", |ctx| async move {
        let store = ctx.store().await;
        let t = store.ensure_user("cs@example.com").await.unwrap().tenant_id;
        let other = store
            .ensure_user("cs-o@example.com")
            .await
            .unwrap()
            .tenant_id;
        let w = store.create_widget(&t, new_widget("Shop")).await.unwrap();
        let w2 = store.create_widget(&t, new_widget("Blog")).await.unwrap();
        assert_eq!(
            store.get_call_settings(&t, &w.id).await.unwrap(),
            CallSettings::default()
        );
        let s = CallSettings {
            ring_timeout_secs: 20,
            record: true,
            ring_extensions: true,
            pstn_numbers: vec!["+15551234567".into()],
            pstn_trunk_id: Some("trunk1".into()),
            queue_number: Some("700".into()),
            video: true,
        };
        store.put_call_settings(&t, &w.id, &s).await.unwrap();
        assert_eq!(store.get_call_settings(&t, &w.id).await.unwrap(), s);
        let (id, found) = store
            .widget_for_queue_number(&t, "700")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((id.as_str(), &found), (w.id.as_str(), &s));
        assert!(store
            .widget_for_queue_number(&other, "700")
            .await
            .unwrap()
            .is_none());
        // Another widget may not take the same queue number; bad values change nothing.
        assert!(matches!(
            store.put_call_settings(&t, &w2.id, &s).await,
            Err(StorageError::Conflict(_))
        ));
        for bad in [
            CallSettings {
                ring_timeout_secs: 2,
                ..s.clone()
            },
            CallSettings {
                pstn_numbers: vec!["5551234".into()],
                ..s.clone()
            },
            CallSettings {
                pstn_numbers: vec!["+15551234567".into(), "+15551234567".into()],
                ..s.clone()
            },
            CallSettings {
                queue_number: Some("7a".into()),
                ..s.clone()
            },
        ] {
            assert!(matches!(
                store.put_call_settings(&t, &w.id, &bad).await,
                Err(StorageError::Invalid(_))
            ));
        }
        assert_eq!(store.get_call_settings(&t, &w.id).await.unwrap(), s);
        // Another tenant sees nothing and changes nothing.
        assert!(matches!(
            store.get_call_settings(&other, &w.id).await,
            Err(StorageError::NotFound)
        ));
        assert!(matches!(
            store
                .put_call_settings(&other, &w.id, &CallSettings::default())
                .await,
            Err(StorageError::NotFound)
        ));
    })
    .await;
}
