//! Cluster membership and the node of each call record.

use super::*;
use ringside_storage::{CallRecord, Join, NodeInfo, NODE_DEAD_AFTER_MS};

fn node(id: &str, instance: &str, at: i64) -> NodeInfo {
    NodeInfo {
        id: id.to_owned(),
        instance: instance.to_owned(),
        http_addr: "127.0.0.2:8080".to_owned(),
        sip_addr: "127.0.0.2:5060".to_owned(),
        webrtc_addr: "127.0.0.2:7882".to_owned(),
        version: "0.1.0".to_owned(),
        started_at: at,
        last_seen: at,
        stopped_at: None,
    }
}

#[tokio::test]
async fn nodes_join_heartbeat_and_leave_and_a_live_id_is_not_taken_twice() {
    each_backend("nodes_join", |ctx| async move {
        let a = ctx.store().await;
        let b = ctx.store().await;
        let t0 = now_ms();
        assert_eq!(
            a.join_node(&node("n1", "i1", t0), false).await.unwrap(),
            Join::Joined
        );
        assert_eq!(
            b.join_node(&node("n2", "j1", t0), false).await.unwrap(),
            Join::Joined
        );

        // A second process under a live node id is refused, and the row stays the first's.
        assert_eq!(
            b.join_node(&node("n1", "i2", t0 + 1_000), false)
                .await
                .unwrap(),
            Join::InUse { last_seen: t0 }
        );
        assert!(a.heartbeat_node("n1", "i1", t0 + 2_000).await.unwrap());
        let nodes = b.list_nodes().await.unwrap();
        assert_eq!(
            nodes.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(),
            ["n1", "n2"]
        );
        assert_eq!(nodes[0].instance, "i1");
        assert_eq!(nodes[0].last_seen, t0 + 2_000);
        assert!(nodes[0].alive(t0 + 2_000 + NODE_DEAD_AFTER_MS - 1));
        assert!(!nodes[0].alive(t0 + 2_000 + NODE_DEAD_AFTER_MS));

        // Once its heartbeat lapsed (killed), a new instance takes the id over; the old one
        // learns it from its next heartbeat.
        let later = t0 + 2_000 + NODE_DEAD_AFTER_MS;
        assert_eq!(
            b.join_node(&node("n1", "i2", later), false).await.unwrap(),
            Join::Joined
        );
        assert!(!a.heartbeat_node("n1", "i1", later + 1).await.unwrap());
        assert!(b.heartbeat_node("n1", "i2", later + 1).await.unwrap());

        // Taking over a live id (a single node's restart on SQLite) is allowed when asked.
        assert_eq!(
            a.join_node(&node("n1", "i3", later + 1), true)
                .await
                .unwrap(),
            Join::Joined
        );
        assert!(!b.heartbeat_node("n1", "i2", later + 2).await.unwrap());

        // A clean stop is dead at once, and the id free at once.
        b.leave_node("n2", "j1", later + 2).await.unwrap();
        let n2 = b.list_nodes().await.unwrap().remove(1);
        assert_eq!(n2.stopped_at, Some(later + 2));
        assert!(!n2.alive(later + 2));
        assert!(!b.heartbeat_node("n2", "j1", later + 3).await.unwrap());
        assert_eq!(
            b.join_node(&node("n2", "j2", later + 3), false)
                .await
                .unwrap(),
            Join::Joined
        );
        let n2 = b.list_nodes().await.unwrap().remove(1);
        assert_eq!((n2.instance.as_str(), n2.stopped_at), ("j2", None));
        assert!(n2.alive(later + 3));
    })
    .await;
}

fn open_call(tenant_id: &str, at: i64) -> CallRecord {
    let id = new_id();
    CallRecord {
        id: id.clone(),
        tenant_id: tenant_id.to_owned(),
        kind: "sip".parse().unwrap(),
        from_uri: "sip:alice@example.com".to_owned(),
        to_uri: "sip:bob@example.com".to_owned(),
        status: "ringing".parse().unwrap(),
        started_at: at,
        answered_at: None,
        ended_at: None,
        end_reason: None,
        hangup_side: None,
        widget_id: None,
        visitor_id: None,
        answered_by: None,
        node_id: None,
        legs: Vec::new(),
    }
}

#[tokio::test]
async fn calls_name_their_node_and_a_restarting_node_closes_only_its_own() {
    each_backend("nodes_calls", |ctx| async move {
        let a = ctx.store().await.with_node_id("node-a");
        let b = ctx.store().await.with_node_id("node-b");
        let plain = ctx.store().await;
        let t = a.ensure_user("nodes@example.com").await.unwrap().tenant_id;
        let at = now_ms();
        let on_a = open_call(&t, at);
        let on_b = open_call(&t, at);
        let legacy = open_call(&t, at);
        a.insert_calls_batch(std::slice::from_ref(&on_a))
            .await
            .unwrap();
        b.update_calls_batch(std::slice::from_ref(&on_b))
            .await
            .unwrap();
        plain.insert_call(&legacy).await.unwrap();
        let node_of = |id: &str| {
            let (store, t, id) = (plain.clone(), t.clone(), id.to_owned());
            async move { store.get_call(&t, &id).await.unwrap().node_id }
        };
        assert_eq!(node_of(&on_a.id).await.as_deref(), Some("node-a"));
        assert_eq!(node_of(&on_b.id).await.as_deref(), Some("node-b"));
        assert_eq!(node_of(&legacy.id).await, None);

        // A later write, from any node, keeps the node that first stored the call.
        let mut answered = on_a.clone();
        answered.status = "answered".parse().unwrap();
        answered.answered_at = Some(at + 5);
        b.update_calls_batch(std::slice::from_ref(&answered))
            .await
            .unwrap();
        assert_eq!(node_of(&on_a.id).await.as_deref(), Some("node-a"));
        let listed = plain.list_calls(&t, 10).await.unwrap();
        assert_eq!(listed.len(), 3);
        assert!(listed
            .iter()
            .any(|c| c.node_id.as_deref() == Some("node-b")));

        // Node a restarts: its open call and the one of no node are closed, node b's is live.
        assert_eq!(
            a.close_open_calls(ringside_domain::EndReason::ServerRestart, at + 10)
                .await
                .unwrap(),
            2
        );
        let c = plain.get_call(&t, &on_a.id).await.unwrap();
        assert_eq!((c.status.as_str(), c.ended_at), ("ended", Some(at + 10)));
        assert_eq!(
            plain.get_call(&t, &legacy.id).await.unwrap().ended_at,
            Some(at + 10)
        );
        let c = plain.get_call(&t, &on_b.id).await.unwrap();
        assert_eq!((c.status.as_str(), c.ended_at), ("ringing", None));

        // Node b goes silent and never comes back: a live node closes its open calls, and
        // only those (node a's new call is live).
        let on_a2 = open_call(&t, at + 20);
        a.insert_call(&on_a2).await.unwrap();
        assert_eq!(
            a.join_node(&node("node-a", "ia", at + 100), false)
                .await
                .unwrap(),
            Join::Joined
        );
        assert_eq!(
            b.join_node(&node("node-b", "ib", at), false).await.unwrap(),
            Join::Joined
        );
        let reason = ringside_domain::EndReason::ServerRestart;
        assert_eq!(
            a.close_calls_of_gone_nodes(reason, at + 200, at - 1)
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            a.close_calls_of_gone_nodes(reason, at + 200, at + 50)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            a.close_calls_of_gone_nodes(reason, at + 201, at + 50)
                .await
                .unwrap(),
            0
        );
        let c = plain.get_call(&t, &on_b.id).await.unwrap();
        assert_eq!(
            (c.status.as_str(), c.ended_at, c.end_reason),
            ("missed", Some(at + 200), Some(reason))
        );
        assert_eq!(plain.get_call(&t, &on_a2.id).await.unwrap().ended_at, None);
        // A node never judges itself gone (its own heartbeat may just be late).
        assert_eq!(
            a.close_calls_of_gone_nodes(reason, at + 250, at + 10_000)
                .await
                .unwrap(),
            0
        );
        // A clean stop counts as gone too.
        let on_a3 = open_call(&t, at + 30);
        a.insert_call(&on_a3).await.unwrap();
        a.leave_node("node-a", "ia", at + 300).await.unwrap();
        assert_eq!(
            b.close_calls_of_gone_nodes(reason, at + 400, at + 50)
                .await
                .unwrap(),
            2
        );
    })
    .await;
}

#[tokio::test]
async fn a_visitor_belongs_to_the_node_that_wrote_them_last() {
    each_backend("nodes_visitors", |ctx| async move {
        let a = ctx.store().await.with_node_id("node-a");
        let b = ctx.store().await.with_node_id("node-b");
        let t = a
            .ensure_user("visitors@example.com")
            .await
            .unwrap()
            .tenant_id;
        let other = a.ensure_user("other@example.com").await.unwrap().tenant_id;
        let w = a
            .create_widget(
                &t,
                ringside_storage::NewWidget {
                    name: "Site".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let v = |at| ringside_storage::Visitor {
            widget_id: w.id.clone(),
            visitor_id: "visitor-n1".into(),
            tenant_id: t.clone(),
            first_seen_at: at,
            last_seen_at: at,
            visit_count: 1,
            current_session_started_at: at,
            metadata: "{}".into(),
            ..Default::default()
        };
        assert_eq!(a.visitor_node(&t, &w.id, "visitor-n1").await.unwrap(), None);
        a.write_visitor_batch(&[v(1_000)], &[]).await.unwrap();
        assert_eq!(
            b.visitor_node(&t, &w.id, "visitor-n1").await.unwrap(),
            Some((Some("node-a".into()), 1_000))
        );
        b.write_visitor_batch(&[v(2_000)], &[]).await.unwrap();
        assert_eq!(
            a.visitor_node(&t, &w.id, "visitor-n1").await.unwrap(),
            Some((Some("node-b".into()), 2_000))
        );
        // Another tenant learns nothing.
        assert_eq!(
            a.visitor_node(&other, &w.id, "visitor-n1").await.unwrap(),
            None
        );
    })
    .await;
}

#[tokio::test]
async fn each_node_repairs_and_expires_only_the_recordings_on_its_disk() {
    use super::recordings::{call, new_rec};
    each_backend("nodes_recordings", |ctx| async move {
        let a = ctx.store().await.with_node_id("node-a");
        let b = ctx.store().await.with_node_id("node-b");
        let t = a
            .ensure_user("rec-nodes@example.com")
            .await
            .unwrap()
            .tenant_id;
        let at = now_ms() - 10 * 86_400_000;
        let on_a = a
            .insert_recording(&t, &new_rec(&call(&a, &t, at).await, at))
            .await
            .unwrap();
        let on_b = b
            .insert_recording(&t, &new_rec(&call(&b, &t, at).await, at))
            .await
            .unwrap();
        let ids =
            |v: Vec<ringside_storage::Recording>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
        // Node a restarting repairs its own recording, not node b's (still being written).
        assert_eq!(
            ids(a.list_recordings_in_progress().await.unwrap()),
            vec![on_a.id.clone()]
        );
        assert_eq!(
            ids(b.list_recordings_in_progress().await.unwrap()),
            vec![on_b.id.clone()]
        );
        for (s, r) in [(&a, &on_a), (&b, &on_b)] {
            s.finish_recording(&t, &r.id, 1_000, 44, at + 1_000)
                .await
                .unwrap();
        }
        let before = now_ms();
        assert_eq!(
            ids(a.list_expired_recordings(before, 10).await.unwrap()),
            vec![on_a.id.clone()]
        );
        assert_eq!(
            ids(b.list_expired_recordings(before, 10).await.unwrap()),
            [on_b.id]
        );
    })
    .await;
}

#[tokio::test]
async fn a_long_crawl_renews_its_claim_and_a_lost_claim_is_told() {
    each_backend("nodes_crawl_claim", |ctx| async move {
        let a = ctx.store().await.with_node_id("node-a");
        let b = ctx.store().await.with_node_id("node-b");
        let t = a
            .ensure_user("crawl-nodes@example.com")
            .await
            .unwrap()
            .tenant_id;
        let w = a
            .create_widget(
                &t,
                ringside_storage::NewWidget {
                    name: "Site".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let new = ringside_storage::NewKnowledgeSource {
            kind: "url".into(),
            url: Some("https://example.com/".into()),
            ..Default::default()
        };
        a.create_knowledge_source(&t, &w.id, new, "pending")
            .await
            .unwrap();
        let src = a.claim_knowledge_source().await.unwrap().unwrap();
        assert!(
            b.claim_knowledge_source().await.unwrap().is_none(),
            "claimed once"
        );
        let renewed = src.updated_at + 1;
        assert!(a
            .renew_knowledge_claim(&src.id, src.updated_at, renewed)
            .await
            .unwrap());
        // A stale claim (another worker's, or this one's before its last renewal) is refused.
        assert!(!b
            .renew_knowledge_claim(&src.id, src.updated_at, renewed + 1)
            .await
            .unwrap());
        assert!(a
            .renew_knowledge_claim(&src.id, renewed, renewed + 2)
            .await
            .unwrap());
    })
    .await;
}

#[tokio::test]
async fn shared_secrets_are_made_once_for_every_node_and_rotate() {
    each_backend("nodes_secrets", |ctx| async move {
        let a = ctx.store().await.with_node_id("node-a");
        let b = ctx.store().await.with_node_id("node-b");
        // Two nodes starting together: one value wins, both get it.
        let (x, y) = tokio::join!(
            a.shared_secret("link-secret", || "aaaa".into()),
            b.shared_secret("link-secret", || "bbbb".into())
        );
        let (x, y) = (x.unwrap(), y.unwrap());
        assert_eq!(x, y);
        assert!(x == "aaaa" || x == "bbbb", "{x}");
        // Later callers get it and make nothing.
        let again = b
            .shared_secret("link-secret", || panic!("not made twice"))
            .await
            .unwrap();
        assert_eq!(again, x);
        a.rotate_secret("link-secret", "cccc").await.unwrap();
        assert_eq!(
            b.shared_secret("link-secret", || "dddd".into())
                .await
                .unwrap(),
            "cccc"
        );
        // Rotating a secret never made makes it.
        b.rotate_secret("vapid-key", "eeee").await.unwrap();
        assert_eq!(
            a.shared_secret("vapid-key", || "ffff".into())
                .await
                .unwrap(),
            "eeee"
        );
        // A forgotten one is made again.
        assert!(a.forget_secret("vapid-key").await.unwrap());
        assert!(!a.forget_secret("vapid-key").await.unwrap());
        assert_eq!(
            b.shared_secret("vapid-key", || "gggg".into())
                .await
                .unwrap(),
            "gggg"
        );
    })
    .await;
}

/// What `ringside secret reseal` goes through: every sealed value, each with its tenant, and a
/// value replaced only while it is still the one read (a new secret entered meanwhile wins).
#[tokio::test]
async fn sealed_values_are_listed_and_replaced_only_while_unchanged() {
    use ringside_storage::{AiProvider, AlertRule, Integration, SealedColumn};
    each_backend("nodes_sealed", |ctx| async move {
        let store = ctx.store().await;
        let u = store.ensure_user("sealed@example.com").await.unwrap();
        let t = u.tenant_id.clone();
        store
            .put_ai_provider(&AiProvider {
                tenant_id: t.clone(),
                kind: "openai".into(),
                base_url: "http://127.0.0.1:9/v1".into(),
                model: "m".into(),
                api_version: None,
                api_key_sealed: Some("v1:ai".into()),
                monthly_messages: 0,
                monthly_tokens: 0,
                enabled: true,
                timeout_secs: 10,
                updated_at: 0,
            })
            .await
            .unwrap();
        let integration = store
            .save_integration(&Integration {
                id: String::new(),
                tenant_id: t.clone(),
                kind: "order".into(),
                name: "orders".into(),
                method: "GET".into(),
                url_template: "http://127.0.0.1:9/o/{reference}".into(),
                reference_pattern: "^[0-9]+$".into(),
                verifier: "email".into(),
                match_field: None,
                field_map: vec![],
                auth_header_name: Some("Authorization".into()),
                auth_header_sealed: Some("v1:auth".into()),
                hmac_secret_sealed: None,
                enabled: true,
                created_at: 0,
                updated_at: 0,
            })
            .await
            .unwrap();
        let rule = store
            .create_alert_rule(&AlertRule {
                secret_sealed: Some("v1:alert".into()),
                ..super::alerts::rule(&t, &u.id, "r", &["call.requested"], None)
            })
            .await
            .unwrap();
        store
            .shared_secret("vapid-key", || "v1:vapid".into())
            .await
            .unwrap();
        // Unsealed shared values are not listed.
        store
            .shared_secret("cluster-id", || "abcd".into())
            .await
            .unwrap();

        let mut all = Vec::new();
        for c in SealedColumn::ALL {
            all.extend(store.sealed_values(c).await.unwrap());
        }
        let seen: Vec<_> = all
            .iter()
            .map(|v| {
                (
                    v.column,
                    v.key.as_str(),
                    v.tenant_id.as_str(),
                    v.sealed.as_str(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                (SealedColumn::AiProviderKey, t.as_str(), t.as_str(), "v1:ai"),
                (
                    SealedColumn::IntegrationAuthHeader,
                    integration.id.as_str(),
                    t.as_str(),
                    "v1:auth"
                ),
                (
                    SealedColumn::AlertChannelSecret,
                    rule.id.as_str(),
                    t.as_str(),
                    "v1:alert"
                ),
                (SealedColumn::VapidKey, "vapid-key", "", "v1:vapid"),
            ]
        );
        for v in &all {
            assert!(store
                .replace_sealed(v, &format!("{}-new", v.sealed))
                .await
                .unwrap());
            // Read before the change: no longer the stored value, so left alone.
            assert!(!store.replace_sealed(v, "v1:stale").await.unwrap());
        }
        let ai = store.get_ai_provider(&t).await.unwrap().unwrap();
        assert_eq!(ai.api_key_sealed.as_deref(), Some("v1:ai-new"));
        let i = store.get_integration(&t, &integration.id).await.unwrap();
        assert_eq!(i.auth_header_sealed.as_deref(), Some("v1:auth-new"));
        assert_eq!(i.hmac_secret_sealed, None, "an empty column stays empty");
        let r = store.get_alert_rule(&t, &u.id, &rule.id).await.unwrap();
        assert_eq!(r.secret_sealed.as_deref(), Some("v1:alert-new"));
        assert_eq!(
            store
                .shared_secret("vapid-key", || unreachable!())
                .await
                .unwrap(),
            "v1:vapid-new"
        );
        assert_eq!(
            store
                .shared_secret("cluster-id", || unreachable!())
                .await
                .unwrap(),
            "abcd"
        );
    })
    .await;
}
