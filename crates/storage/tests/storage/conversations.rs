//! Conversations (the inbox): kept by stored messages, states, snoozes, unread counts,
//! filters and counts, on every backend.

use ringside_storage::{
    now_ms, AssignTo, ContactPatch, ConversationFilter, NewMessage, NewWidget, StorageError,
};

use super::each_backend;

fn msg(visitor: &str, sender: &str, body: &str) -> NewMessage {
    NewMessage {
        visitor_id: visitor.into(),
        conversation_id: String::new(),
        sender: sender.into(),
        author_user_id: None,
        body: body.into(),
    }
}

#[tokio::test]
async fn conversations_follow_messages() {
    each_backend("conversations", |ctx| async move {
        let store = ctx.store().await;
        let owner = store.ensure_user("c@example.com").await.unwrap();
        let t = owner.tenant_id.clone();
        let other = store.ensure_user("co@example.com").await.unwrap().tenant_id;
        let new_widget = |name: &str| NewWidget {
            name: name.into(),
            ..NewWidget::default()
        };
        let w = store.create_widget(&t, new_widget("Shop")).await.unwrap();
        let w2 = store.create_widget(&t, new_widget("Blog")).await.unwrap();
        let now = now_ms();

        // A visitor's first message opens the conversation, unread 1.
        store
            .add_message(&t, &w.id, msg("v1", "visitor", "Hello"))
            .await
            .unwrap();
        store
            .add_message(&t, &w.id, msg("v1", "visitor", "Anyone?"))
            .await
            .unwrap();
        let c = store.get_conversation(&t, &w.id, "v1", now).await.unwrap();
        assert_eq!(
            (c.state.as_str(), c.unread, c.message_count),
            ("open", 2, 2)
        );
        assert_eq!(
            (c.preview.as_str(), c.last_sender.as_str()),
            ("Anyone?", "visitor")
        );
        assert_eq!(c.widget_name, "Shop");
        assert!(c.assignee.is_none() && c.contact.is_none());
        // Another tenant sees nothing of it.
        assert!(matches!(
            store.get_conversation(&other, &w.id, "v1", now).await,
            Err(StorageError::NotFound)
        ));
        // A reply clears the unread count.
        store
            .add_message(&t, &w.id, msg("v1", "operator", "Yes, here"))
            .await
            .unwrap();
        let c = store.get_conversation(&t, &w.id, "v1", now).await.unwrap();
        assert_eq!((c.unread, c.message_count), (0, 3));
        // Long bodies are cut to the preview length, on characters.
        store
            .add_message(&t, &w2.id, msg("v2", "visitor", &"é".repeat(300)))
            .await
            .unwrap();
        let c2 = store.get_conversation(&t, &w2.id, "v2", now).await.unwrap();
        assert_eq!(c2.preview.chars().count(), 200);
        // Reading clears it too.
        let c2 = store
            .mark_conversation_read(&t, &w2.id, "v2", now)
            .await
            .unwrap();
        assert_eq!(c2.unread, 0);
        assert!(matches!(
            store
                .mark_conversation_read(&other, &w2.id, "v2", now)
                .await,
            Err(StorageError::NotFound)
        ));

        // Resolve; a visitor message reopens it.
        let r = store
            .set_conversation_state(&t, &w.id, "v1", "resolved", None, now)
            .await
            .unwrap();
        assert_eq!(r.state, "resolved");
        store
            .add_message(&t, &w.id, msg("v1", "visitor", "One more thing"))
            .await
            .unwrap();
        assert_eq!(
            store
                .get_conversation(&t, &w.id, "v1", now)
                .await
                .unwrap()
                .state,
            "open"
        );
        // A team message does not reopen a resolved chat.
        store
            .set_conversation_state(&t, &w.id, "v1", "resolved", None, now)
            .await
            .unwrap();
        store
            .add_message(&t, &w.id, msg("v1", "automation", "Bye"))
            .await
            .unwrap();
        assert_eq!(
            store
                .get_conversation(&t, &w.id, "v1", now)
                .await
                .unwrap()
                .state,
            "resolved"
        );

        // Snooze: needs a future time within 90 days; reads open once it has passed.
        for (state, until) in [
            ("snoozed", None),
            ("snoozed", Some(now - 1)),
            ("snoozed", Some(now + 91 * 24 * 3600 * 1000)),
            ("open", Some(now + 1000)),
            ("closed", None),
        ] {
            assert!(
                matches!(
                    store
                        .set_conversation_state(&t, &w2.id, "v2", state, until, now)
                        .await,
                    Err(StorageError::Invalid(_))
                ),
                "{state} {until:?}"
            );
        }
        let s = store
            .set_conversation_state(&t, &w2.id, "v2", "snoozed", Some(now + 60_000), now)
            .await
            .unwrap();
        assert_eq!(
            (s.state.as_str(), s.snoozed_until),
            ("snoozed", Some(now + 60_000))
        );
        let later = store
            .get_conversation(&t, &w2.id, "v2", now + 120_000)
            .await
            .unwrap();
        assert_eq!(later.state, "open");
        assert!(matches!(
            store
                .set_conversation_state(&other, &w2.id, "v2", "pending", None, now)
                .await,
            Err(StorageError::NotFound)
        ));

        // Assignee and contact show on the conversation.
        store
            .assign_conversation(
                &t,
                &w2.id,
                "v2",
                AssignTo {
                    user_id: Some(&owner.id),
                    by: &owner.id,
                    now,
                    expect: None,
                },
            )
            .await
            .unwrap();
        let contact = store
            .create_contact(
                &t,
                ContactPatch {
                    first_name: Some(Some("Ana".into())),
                    last_name: Some(Some("Silva".into())),
                    email: Some(Some("ana@example.org".into())),
                    ..ContactPatch::default()
                },
            )
            .await
            .unwrap();
        store
            .attach_contact_session(&t, &contact.id, &w2.id, "v2", "api")
            .await
            .unwrap();
        let c2 = store.get_conversation(&t, &w2.id, "v2", now).await.unwrap();
        assert_eq!(c2.assignee.as_ref().unwrap().email, "c@example.com");
        let k = c2.contact.unwrap();
        assert_eq!(
            (k.name.as_deref(), k.email.as_deref()),
            (Some("Ana Silva"), Some("ana@example.org"))
        );

        // Lists: by state, assignee, widget, restricted widgets, paging; counts.
        let f = |state: Option<&str>| ConversationFilter {
            state: state.map(str::to_owned),
            limit: 50,
            ..ConversationFilter::default()
        };
        let ids = |l: Vec<ringside_storage::Conversation>| {
            let mut v = l.into_iter().map(|c| c.visitor_id).collect::<Vec<_>>();
            v.sort();
            v
        };
        // v2 was snoozed until now + 60 s: still snoozed now.
        assert_eq!(
            ids(store.list_conversations(&t, &f(None), now).await.unwrap()),
            ["v1", "v2"]
        );
        assert_eq!(
            ids(store
                .list_conversations(&t, &f(Some("resolved")), now)
                .await
                .unwrap()),
            ["v1"]
        );
        assert_eq!(
            ids(store
                .list_conversations(&t, &f(Some("snoozed")), now)
                .await
                .unwrap()),
            ["v2"]
        );
        assert_eq!(
            ids(store
                .list_conversations(&t, &f(Some("open")), now + 120_000)
                .await
                .unwrap()),
            ["v2"]
        );
        let mine = ConversationFilter {
            assignee: Some(owner.id.clone()),
            ..f(None)
        };
        assert_eq!(
            ids(store.list_conversations(&t, &mine, now).await.unwrap()),
            ["v2"]
        );
        let free = ConversationFilter {
            unassigned: true,
            ..f(None)
        };
        assert_eq!(
            ids(store.list_conversations(&t, &free, now).await.unwrap()),
            ["v1"]
        );
        let one = ConversationFilter {
            widget_id: Some(w.id.clone()),
            ..f(None)
        };
        assert_eq!(
            ids(store.list_conversations(&t, &one, now).await.unwrap()),
            ["v1"]
        );
        let some = ConversationFilter {
            widgets: Some(vec![w2.id.clone()]),
            ..f(None)
        };
        assert_eq!(
            ids(store.list_conversations(&t, &some, now).await.unwrap()),
            ["v2"]
        );
        let none = ConversationFilter {
            widgets: Some(vec![]),
            ..f(None)
        };
        assert!(store
            .list_conversations(&t, &none, now)
            .await
            .unwrap()
            .is_empty());
        let first = store
            .list_conversations(
                &t,
                &ConversationFilter {
                    limit: 1,
                    ..f(None)
                },
                now,
            )
            .await
            .unwrap();
        let all = store.list_conversations(&t, &f(None), now).await.unwrap();
        assert_eq!(first[0], all[0], "newest activity first");
        assert!(all[0].last_message_at >= all[1].last_message_at);
        let cursor = first[0].last_message_at;
        let next = ConversationFilter {
            before: Some(cursor),
            ..f(None)
        };
        assert!(store
            .list_conversations(&t, &next, now)
            .await
            .unwrap()
            .iter()
            .all(|c| c.last_message_at < cursor));
        assert!(store
            .list_conversations(&other, &f(None), now)
            .await
            .unwrap()
            .is_empty());
        assert!(matches!(
            store.list_conversations(&t, &f(Some("closed")), now).await,
            Err(StorageError::Invalid("state"))
        ));

        let n = store
            .conversation_counts(&t, &owner.id, None, now)
            .await
            .unwrap();
        assert_eq!((n.open, n.pending, n.resolved, n.snoozed), (0, 0, 1, 1));
        assert_eq!(n.today, 2, "both chats had a message today");
        let n = store
            .conversation_counts(&t, &owner.id, None, now + 120_000)
            .await
            .unwrap();
        assert_eq!((n.open, n.snoozed, n.mine, n.unassigned), (1, 0, 1, 0));
        store
            .add_message(&t, &w2.id, msg("v2", "visitor", "ping"))
            .await
            .unwrap();
        let n = store
            .conversation_counts(&t, &owner.id, Some(std::slice::from_ref(&w2.id)), now)
            .await
            .unwrap();
        assert_eq!((n.open, n.unread, n.mine), (1, 1, 1));
        let n = store
            .conversation_counts(&t, &owner.id, Some(&[]), now)
            .await
            .unwrap();
        assert_eq!(n.open, 0);

        // Pending (waiting on the visitor): the visitor's answer reopens it; an automatic
        // answer leaves the unread count for a person to clear.
        store
            .set_conversation_state(&t, &w.id, "v1", "pending", None, now)
            .await
            .unwrap();
        store
            .add_message(&t, &w.id, msg("v1", "visitor", "Here it is"))
            .await
            .unwrap();
        store
            .add_message(
                &t,
                &w.id,
                msg("v1", "automation", "Thanks, someone will look"),
            )
            .await
            .unwrap();
        let c = store.get_conversation(&t, &w.id, "v1", now).await.unwrap();
        assert_eq!(
            (c.state.as_str(), c.unread),
            ("open", 2),
            "unread since the last operator reply"
        );
        let active = ConversationFilter {
            active: true,
            ..f(None)
        };
        assert_eq!(
            ids(store.list_conversations(&t, &active, now).await.unwrap()),
            ["v1", "v2"]
        );
    })
    .await;
}

#[tokio::test]
async fn submissions_hours_and_live_phones() {
    use ringside_storage::{Binding, BusinessHours, NewExtension, OpenInterval};
    each_backend("hours", |ctx| async move {
        let store = ctx.store().await;
        let owner = store.ensure_user("h@example.com").await.unwrap();
        let t = owner.tenant_id.clone();
        let other = store.ensure_user("ho@example.com").await.unwrap().tenant_id;
        let w = store
            .create_widget(
                &t,
                NewWidget {
                    name: "Shop".into(),
                    ..NewWidget::default()
                },
            )
            .await
            .unwrap();
        let now = now_ms();

        // A submission opens (or reopens) the chat without being a message.
        store
            .conversation_saw_submission(
                &t,
                &w.id,
                "v-sub",
                "[Left their details] Email: a@b.c",
                now,
            )
            .await
            .unwrap();
        let c = store
            .get_conversation(&t, &w.id, "v-sub", now)
            .await
            .unwrap();
        assert_eq!(
            (c.state.as_str(), c.unread, c.message_count),
            ("open", 1, 0)
        );
        assert!(c.preview.starts_with("[Left their details]"));
        store
            .set_conversation_state(&t, &w.id, "v-sub", "resolved", None, now)
            .await
            .unwrap();
        store
            .conversation_saw_submission(&t, &w.id, "v-sub", "[Asked to be called back]", now + 1)
            .await
            .unwrap();
        let c = store
            .get_conversation(&t, &w.id, "v-sub", now)
            .await
            .unwrap();
        assert_eq!((c.state.as_str(), c.unread), ("open", 2));
        assert!(store
            .list_messages(&t, &w.id, Some("v-sub"), 10)
            .await
            .unwrap()
            .is_empty());

        // Business hours: none at first; validated; another tenant's widget is not found.
        assert_eq!(
            store.get_business_hours(&t, &w.id).await.unwrap(),
            BusinessHours::default()
        );
        let h = BusinessHours {
            enabled: true,
            time_zone: "Europe/Lisbon".into(),
            intervals: vec![OpenInterval {
                day: "mon".into(),
                open: "09:00".into(),
                close: "17:30".into(),
            }],
        };
        store.put_business_hours(&t, &w.id, &h).await.unwrap();
        assert_eq!(store.get_business_hours(&t, &w.id).await.unwrap(), h);
        assert_eq!(store.widget_business_hours(&w.id).await.unwrap(), h);
        let bad = BusinessHours {
            intervals: vec![],
            ..h.clone()
        };
        assert!(matches!(
            store.put_business_hours(&t, &w.id, &bad).await,
            Err(StorageError::Invalid(_))
        ));
        assert_eq!(
            store.get_business_hours(&t, &w.id).await.unwrap(),
            h,
            "unchanged"
        );
        assert!(matches!(
            store.put_business_hours(&other, &w.id, &h).await,
            Err(StorageError::NotFound)
        ));
        assert!(matches!(
            store.get_business_hours(&other, &w.id).await,
            Err(StorageError::NotFound)
        ));

        // A phone of an extension ringing for the widget, registered until `now + 60 s`.
        assert!(!store.widget_has_live_phone(&t, &w.id, now).await.unwrap());
        let ext = store
            .create_extension(
                &t,
                NewExtension {
                    username: format!("hours{}", rand::random::<u32>()),
                    display_name: "Desk".into(),
                    realm: "ringside".into(),
                    ha1_md5: "0".repeat(32),
                    ha1_sha256: "0".repeat(64),
                    widget_ids: vec![w.id.clone()],
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        store
            .upsert_binding(&Binding {
                extension_id: ext.id.clone(),
                contact_uri: "sip:desk@127.0.0.1:5070".into(),
                source_addr: "127.0.0.1:5070".into(),
                transport: "udp".into(),
                expires_at: now + 60_000,
                call_id: "reg-1".into(),
                cseq: 1,
                user_agent: None,
                updated_at: now,
                path: Vec::new(),
            })
            .await
            .unwrap();
        assert!(store.widget_has_live_phone(&t, &w.id, now).await.unwrap());
        assert!(
            !store
                .widget_has_live_phone(&t, &w.id, now + 61_000)
                .await
                .unwrap(),
            "expired"
        );
        assert!(!store
            .widget_has_live_phone(&other, &w.id, now)
            .await
            .unwrap());
        let w2 = store
            .create_widget(
                &t,
                NewWidget {
                    name: "Blog".into(),
                    ..NewWidget::default()
                },
            )
            .await
            .unwrap();
        assert!(
            !store.widget_has_live_phone(&t, &w2.id, now).await.unwrap(),
            "not its widget"
        );
    })
    .await;
}

#[tokio::test]
async fn canned_replies_per_tenant() {
    each_backend("canned", |ctx| async move {
        let store = ctx.store().await;
        let t = store.ensure_user("cr@example.com").await.unwrap().tenant_id;
        let other = store
            .ensure_user("cro@example.com")
            .await
            .unwrap()
            .tenant_id;
        let a = store
            .create_canned_reply(&t, "/Hours", "9 to 5", None)
            .await
            .unwrap();
        assert_eq!(a.shortcut, "hours");
        assert!(matches!(
            store.create_canned_reply(&t, "hours", "again", None).await,
            Err(StorageError::Conflict(_))
        ));
        // Another tenant may use the same shortcut, and sees only its own.
        store
            .create_canned_reply(&other, "hours", "theirs", None)
            .await
            .unwrap();
        assert_eq!(store.list_canned_replies(&t).await.unwrap().len(), 1);
        let b = store
            .create_canned_reply(&t, "ship", "We ship worldwide", None)
            .await
            .unwrap();
        assert!(matches!(
            store
                .update_canned_reply(&t, &b.id, Some("hours"), None)
                .await,
            Err(StorageError::Conflict(_))
        ));
        let b2 = store
            .update_canned_reply(&t, &b.id, None, Some("Everywhere"))
            .await
            .unwrap();
        assert_eq!(
            (b2.shortcut.as_str(), b2.body.as_str()),
            ("ship", "Everywhere")
        );
        assert!(matches!(
            store
                .update_canned_reply(&other, &b.id, None, Some("x"))
                .await,
            Err(StorageError::NotFound)
        ));
        assert!(matches!(
            store.delete_canned_reply(&other, &a.id).await,
            Err(StorageError::NotFound)
        ));
        store.delete_canned_reply(&t, &a.id).await.unwrap();
        let names: Vec<String> = store
            .list_canned_replies(&t)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.shortcut)
            .collect();
        assert_eq!(names, ["ship"]);
    })
    .await;
}

/// Paging by key walks every chat once, even when many share their last message's
/// millisecond (and a visitor id across widgets).
#[tokio::test]
async fn paging_by_key_skips_nothing_on_ties() {
    use ringside_storage::ConversationKey;
    each_backend("conversation-paging", |ctx| async move {
        let store = ctx.store().await;
        let t = store
            .ensure_user("paging@example.com")
            .await
            .unwrap()
            .tenant_id;
        let mut widgets = Vec::new();
        for name in ["Shop", "Blog"] {
            let w = NewWidget {
                name: name.into(),
                ..NewWidget::default()
            };
            widgets.push(store.create_widget(&t, w).await.unwrap().id);
        }
        let mut all = Vec::new();
        for w in &widgets {
            for i in 0..7 {
                let v = format!("visitor-{i}");
                store
                    .add_message(&t, w, msg(&v, "visitor", "Hi"))
                    .await
                    .unwrap();
                all.push((w.clone(), v));
            }
        }
        // Every chat's last message in the same millisecond but one, later.
        sqlx::query("UPDATE conversations SET last_message_at = 5000 WHERE tenant_id = $1")
            .bind(&t)
            .execute(store.pool())
            .await
            .unwrap();
        sqlx::query(
            "UPDATE conversations SET last_message_at = 6000 WHERE tenant_id = $1 \
             AND visitor_id = 'visitor-3' AND widget_id = $2",
        )
        .bind(&t)
        .bind(&widgets[1])
        .execute(store.pool())
        .await
        .unwrap();
        let mut seen = Vec::new();
        let mut after: Option<ConversationKey> = None;
        for _ in 0..20 {
            let page = store
                .list_conversations(
                    &t,
                    &ConversationFilter {
                        limit: 3,
                        after: after.clone(),
                        ..ConversationFilter::default()
                    },
                    now_ms(),
                )
                .await
                .unwrap();
            if page.is_empty() {
                break;
            }
            after = page.last().map(ConversationKey::of);
            seen.extend(page.into_iter().map(|c| (c.widget_id, c.visitor_id)));
        }
        assert_eq!(seen.len(), all.len(), "{seen:?}");
        assert_eq!(seen[0], (widgets[1].clone(), "visitor-3".to_owned()));
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        all.sort();
        assert_eq!(sorted, all, "each chat once");
    })
    .await;
}

/// The inbox counts read the assignee kept on the conversation: set by an assignment made
/// before the first message, changed and cleared with it, cleared when the user is removed.
#[tokio::test]
async fn counts_follow_the_assignee_on_the_conversation() {
    use ringside_storage::{NewInvite, Role};
    each_backend("conversation-assignee", |ctx| async move {
        let store = ctx.store().await;
        let owner = store.ensure_user("boss@assignee.example").await.unwrap();
        let t = owner.tenant_id.clone();
        let now = now_ms();
        let (_, secret) = store
            .create_invite(NewInvite {
                tenant_id: &t,
                invited_by: &owner.id,
                email: "agent@assignee.example",
                role: Role::Agent,
                now,
                ttl_ms: 86_400_000,
            })
            .await
            .unwrap();
        let agent = store
            .accept_invite(&secret, "agent@assignee.example", now + 1)
            .await
            .unwrap();
        let w = store
            .create_widget(
                &t,
                NewWidget {
                    name: "Shop".into(),
                    ..NewWidget::default()
                },
            )
            .await
            .unwrap();
        // Assigned before the visitor wrote anything.
        store
            .assign_conversation(
                &t,
                &w.id,
                "v1",
                AssignTo {
                    user_id: Some(&agent.id),
                    by: &owner.id,
                    now,
                    expect: None,
                },
            )
            .await
            .unwrap();
        for v in ["v1", "v2"] {
            store
                .add_message(&t, &w.id, msg(v, "visitor", "Hi"))
                .await
                .unwrap();
        }
        let c = store
            .conversation_counts(&t, &agent.id, None, now_ms())
            .await
            .unwrap();
        assert_eq!((c.open, c.mine, c.unassigned), (2, 1, 1));
        let mine = ConversationFilter {
            assignee: Some(agent.id.clone()),
            active: true,
            limit: 10,
            ..ConversationFilter::default()
        };
        let listed = store.list_conversations(&t, &mine, now_ms()).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].visitor_id, "v1");
        // Moved to the owner, then cleared.
        store
            .assign_conversation(
                &t,
                &w.id,
                "v1",
                AssignTo {
                    user_id: Some(&owner.id),
                    by: &owner.id,
                    now,
                    expect: None,
                },
            )
            .await
            .unwrap();
        let c = store
            .conversation_counts(&t, &owner.id, None, now_ms())
            .await
            .unwrap();
        assert_eq!((c.mine, c.unassigned), (1, 1));
        store
            .assign_conversation(
                &t,
                &w.id,
                "v2",
                AssignTo {
                    user_id: Some(&agent.id),
                    by: &owner.id,
                    now,
                    expect: None,
                },
            )
            .await
            .unwrap();
        let c = store
            .conversation_counts(&t, &agent.id, None, now_ms())
            .await
            .unwrap();
        assert_eq!((c.mine, c.unassigned), (1, 0));
        // The agent leaves: their chat is nobody's again.
        store.remove_user(&t, &agent.id).await.unwrap();
        let c = store
            .conversation_counts(&t, &owner.id, None, now_ms())
            .await
            .unwrap();
        assert_eq!((c.mine, c.unassigned), (1, 1));
        let free = ConversationFilter {
            unassigned: true,
            active: true,
            limit: 10,
            ..ConversationFilter::default()
        };
        let listed = store.list_conversations(&t, &free, now_ms()).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].visitor_id, "v2");
        assert!(listed[0].assignee.is_none());
    })
    .await;
}
