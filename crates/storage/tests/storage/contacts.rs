//! Contacts: create, search, patch, sessions, leads, merge, timeline data; every backend.

use ringside_storage::{
    new_id, now_ms, ContactPatch, NewCallback, NewMessage, NewWidget, StorageError, Visitor,
    VisitorEvent,
};

use super::each_backend;

fn some(v: &str) -> Option<Option<String>> {
    Some(Some(v.to_owned()))
}

fn visitor(tenant: &str, widget: &str, id: &str) -> Visitor {
    let now = now_ms();
    Visitor {
        widget_id: widget.into(),
        visitor_id: id.into(),
        tenant_id: tenant.into(),
        first_seen_at: now,
        last_seen_at: now,
        visit_count: 1,
        current_session_started_at: now,
        metadata: "{}".into(),
        ..Visitor::default()
    }
}

fn event(tenant: &str, widget: &str, visitor: &str, url: &str) -> VisitorEvent {
    VisitorEvent {
        id: new_id(),
        tenant_id: tenant.into(),
        widget_id: widget.into(),
        visitor_id: visitor.into(),
        kind: "page_view".into(),
        url: Some(url.into()),
        at: now_ms(),
        data: "{}".into(),
    }
}

#[tokio::test]
async fn create_search_patch_and_tenancy() {
    each_backend("contacts_crud", |ctx| async move {
        let store = ctx.store().await;
        let t = store.ensure_user("c@example.com").await.unwrap().tenant_id;
        let other = store.ensure_user("co@example.com").await.unwrap().tenant_id;
        let c = store
            .create_contact(
                &t,
                ContactPatch {
                    first_name: some("Scott"),
                    last_name: some("Tabor"),
                    email: some(" Scott@Example.com "),
                    phone: some("+1 (555) 010-2030"),
                    company_name: some("ABSG"),
                    ..ContactPatch::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(c.status, "lead");
        assert_eq!(c.email.as_deref(), Some("scott@example.com"));
        let c2 = store
            .create_contact(
                &t,
                ContactPatch {
                    first_name: some("Ana"),
                    email: some("ana@example.org"),
                    ..ContactPatch::default()
                },
            )
            .await
            .unwrap();
        // Search: names, full name, company, email, phone as digits; case-insensitive;
        // wildcards are literal.
        for (q, want) in [
            ("scott", vec![c.id.clone()]),
            ("SCOTT TABOR", vec![c.id.clone()]),
            ("absg", vec![c.id.clone()]),
            ("example", vec![c2.id.clone(), c.id.clone()]),
            ("5550102030", vec![c.id.clone()]),
            ("%", vec![]),
            ("nobody", vec![]),
        ] {
            let got: Vec<String> = store
                .list_contacts(&t, Some(q), 80)
                .await
                .unwrap()
                .into_iter()
                .map(|c| c.id)
                .collect();
            assert_eq!(got, want, "q={q}");
        }
        assert_eq!(store.list_contacts(&t, None, 1).await.unwrap().len(), 1);
        assert!(store
            .list_contacts(&other, None, 80)
            .await
            .unwrap()
            .is_empty());
        assert!(matches!(
            store.get_contact(&other, &c.id).await,
            Err(StorageError::NotFound)
        ));

        // Patch: set, clear, status; bad values change nothing.
        let p = store
            .update_contact(
                &t,
                &c.id,
                ContactPatch {
                    company_name: Some(None),
                    status: Some("Customer".into()),
                    other_emails: Some(vec!["s.tabor@work.example".into()]),
                    ..ContactPatch::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(p.company_name, None);
        assert_eq!(p.status, "customer");
        assert_eq!(p.first_name.as_deref(), Some("Scott"));
        for bad in [
            ContactPatch {
                status: Some("vip".into()),
                ..ContactPatch::default()
            },
            ContactPatch {
                email: some("not-an-email"),
                ..ContactPatch::default()
            },
            ContactPatch {
                phone: some("call me"),
                ..ContactPatch::default()
            },
            ContactPatch {
                first_name: some(&"x".repeat(101)),
                ..ContactPatch::default()
            },
        ] {
            assert!(matches!(
                store.update_contact(&t, &c.id, bad).await,
                Err(StorageError::Invalid(_))
            ));
        }
        assert_eq!(store.get_contact(&t, &c.id).await.unwrap(), p);
        assert!(matches!(
            store
                .update_contact(&other, &c.id, ContactPatch::default())
                .await,
            Err(StorageError::NotFound)
        ));
        // Searching by the further email finds it.
        assert_eq!(
            store
                .list_contacts(&t, Some("work.example"), 80)
                .await
                .unwrap()[0]
                .id,
            c.id
        );
    })
    .await;
}

#[tokio::test]
async fn sessions_leads_and_merge_keep_everything() {
    each_backend("contacts_merge", |ctx| async move {
        let store = ctx.store().await;
        let user = store.ensure_user("m2@example.com").await.unwrap();
        let t = user.tenant_id.clone();
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
        store
            .write_visitor_batch(
                &[
                    visitor(&t, &w.id, "v-a1"),
                    visitor(&t, &w.id, "v-a2"),
                    visitor(&t, &w.id, "v-b1"),
                ],
                &[
                    event(&t, &w.id, "v-a1", "https://s.example/a"),
                    event(&t, &w.id, "v-b1", "https://s.example/b"),
                ],
            )
            .await
            .unwrap();
        // A lead creates contact A and attaches v-a1; a later callback with the same email
        // from v-a2 finds A and attaches v-a2.
        let a = store
            .contact_for_lead(
                &t,
                &w.id,
                Some("v-a1"),
                Some("Scott Tabor"),
                Some("SCOTT@example.com"),
                None,
                "lead",
                true,
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (a.first_name.as_deref(), a.last_name.as_deref()),
            (Some("Scott"), Some("Tabor"))
        );
        let a2 = store
            .contact_for_lead(
                &t,
                &w.id,
                Some("v-a2"),
                None,
                Some("scott@example.com"),
                Some("555-0100"),
                "callback",
                true,
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(a2.id, a.id);
        assert_eq!(
            a2.phone.as_deref(),
            Some("555-0100"),
            "empty phone filled in"
        );
        // Nothing to identify: no contact.
        assert!(store
            .contact_for_lead(
                &t,
                &w.id,
                Some("v-x"),
                Some("Anon"),
                None,
                None,
                "lead",
                true
            )
            .await
            .unwrap()
            .is_none());
        // Contact B by the API, with v-b1 attached by hand.
        let b = store
            .create_contact(
                &t,
                ContactPatch {
                    email: some("stabor@absg.example"),
                    phone: some("+1 555 0199"),
                    company_name: some("ABSG"),
                    ..ContactPatch::default()
                },
            )
            .await
            .unwrap();
        store
            .attach_contact_session(&t, &b.id, &w.id, "v-b1", "api")
            .await
            .unwrap();
        // Idempotent for the same contact; a conflict for another.
        store
            .attach_contact_session(&t, &b.id, &w.id, "v-b1", "api")
            .await
            .unwrap();
        assert!(matches!(
            store
                .attach_contact_session(&t, &a.id, &w.id, "v-b1", "api")
                .await,
            Err(StorageError::Conflict(_))
        ));

        // Activity on every session.
        let msg = |v: &str, body: &str| NewMessage {
            visitor_id: v.into(),
            sender: "visitor".into(),
            body: body.into(),
            ..NewMessage::default()
        };
        for (v, body) in [
            ("v-a1", "a1 hello"),
            ("v-a2", "a2 hello"),
            ("v-b1", "b1 hello"),
        ] {
            store.add_message(&t, &w.id, msg(v, body)).await.unwrap();
        }
        store
            .add_note(&t, &w.id, "v-a1", &user.id, "note on a", "team")
            .await
            .unwrap();
        store
            .add_note(&t, &w.id, "v-b1", &user.id, "note on b", "private")
            .await
            .unwrap();
        store
            .add_callback(
                &t,
                &w.id,
                NewCallback {
                    visitor_id: Some("v-b1".into()),
                    kind: "callback".into(),
                    phone: Some("+1 555 0199".into()),
                    ..NewCallback::default()
                },
            )
            .await
            .unwrap();
        let before_a = store.contact_activity(&t, &a.id, &user.id).await.unwrap();
        let before_b = store.contact_activity(&t, &b.id, &user.id).await.unwrap();
        assert_eq!(before_a.sessions.len(), 2);
        assert_eq!(before_a.messages.len(), 2);
        assert_eq!(before_b.messages.len(), 1);
        assert_eq!(before_b.notes.len(), 1, "own private note");
        // Another user of the tenant does not see the private note.
        assert_eq!(
            store
                .contact_activity(&t, &b.id, "someone-else")
                .await
                .unwrap()
                .notes
                .len(),
            0
        );

        // Bad merges change nothing.
        assert!(matches!(
            store.merge_contacts(&t, &a.id, &a.id, "same", None).await,
            Err(StorageError::Invalid(_))
        ));
        assert!(matches!(
            store.merge_contacts(&t, &a.id, &b.id, "  ", None).await,
            Err(StorageError::Invalid(_))
        ));
        let other = store.ensure_user("m3@example.com").await.unwrap().tenant_id;
        assert!(matches!(
            store.merge_contacts(&other, &a.id, &b.id, "x", None).await,
            Err(StorageError::NotFound)
        ));
        assert_eq!(
            store.list_contact_sessions(&t, &b.id).await.unwrap().len(),
            1
        );

        // Merge B into A.
        let (merged, record) = store
            .merge_contacts(&t, &a.id, &b.id, "Same person", Some(&user.id))
            .await
            .unwrap();
        assert_eq!(record.sessions_moved, 1);
        assert_eq!(record.source_snapshot["email"], "stabor@absg.example");
        assert_eq!(merged.email.as_deref(), Some("scott@example.com"));
        assert_eq!(merged.other_emails, ["stabor@absg.example"]);
        assert_eq!(merged.phone.as_deref(), Some("555-0100"));
        assert_eq!(merged.other_phones, ["+1 555 0199"]);
        assert_eq!(merged.company_name.as_deref(), Some("ABSG"), "gap filled");
        let after = store.contact_activity(&t, &a.id, &user.id).await.unwrap();
        let sessions: Vec<&str> = after
            .sessions
            .iter()
            .map(|s| s.visitor_id.as_str())
            .collect();
        assert_eq!(sessions.len(), 3);
        for v in ["v-a1", "v-a2", "v-b1"] {
            assert!(sessions.contains(&v), "{v} kept");
        }
        let mut bodies: Vec<&str> = after.messages.iter().map(|m| m.body.as_str()).collect();
        bodies.sort_unstable();
        assert_eq!(bodies, ["a1 hello", "a2 hello", "b1 hello"]);
        let mut notes: Vec<&str> = after.notes.iter().map(|n| n.body.as_str()).collect();
        notes.sort_unstable();
        assert_eq!(notes, ["note on a", "note on b"]);
        assert_eq!(after.callbacks.len(), 1);
        assert_eq!(after.merges.len(), 1);
        assert_eq!(after.merges[0].reason, "Same person");
        // The source stays, marked; it is not listed and cannot be merged or edited again.
        let src = store.get_contact(&t, &b.id).await.unwrap();
        assert_eq!(src.merged_into.as_deref(), Some(a.id.as_str()));
        assert_eq!(src.email.as_deref(), Some("stabor@absg.example"));
        let listed: Vec<String> = store
            .list_contacts(&t, None, 80)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(listed, std::slice::from_ref(&a.id));
        assert!(matches!(
            store.merge_contacts(&t, &a.id, &b.id, "again", None).await,
            Err(StorageError::Conflict(_))
        ));
        assert!(matches!(
            store
                .update_contact(&t, &b.id, ContactPatch::default())
                .await,
            Err(StorageError::Conflict(_))
        ));
        // Searching by B's old address finds A.
        assert_eq!(
            store
                .list_contacts(&t, Some("absg.example"), 80)
                .await
                .unwrap()[0]
                .id,
            a.id
        );
        // A merge chain: C merged into... A merged into D moves everything again, and B
        // (merged into A) now points at D.
        let d = store
            .create_contact(
                &t,
                ContactPatch {
                    first_name: some("Dee"),
                    ..ContactPatch::default()
                },
            )
            .await
            .unwrap();
        store
            .merge_contacts(&t, &d.id, &a.id, "CRM duplicate", None)
            .await
            .unwrap();
        assert_eq!(
            store.list_contact_sessions(&t, &d.id).await.unwrap().len(),
            3
        );
        assert_eq!(
            store
                .get_contact(&t, &b.id)
                .await
                .unwrap()
                .merged_into
                .as_deref(),
            Some(d.id.as_str())
        );
        let dd = store.get_contact(&t, &d.id).await.unwrap();
        assert_eq!(
            dd.first_name.as_deref(),
            Some("Dee"),
            "target's fields kept"
        );
        assert_eq!(dd.email.as_deref(), Some("scott@example.com"));
        assert_eq!(dd.other_emails, ["stabor@absg.example"]);
    })
    .await;
}
