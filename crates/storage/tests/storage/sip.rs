//! Extensions, trunks and registrations, on every backend.

use ringside_storage::{now_ms, ExtensionPatch, NewTrunk, StorageError, TrunkPatch};

use super::{binding, each_backend, hex, new_ext};

#[tokio::test]
async fn extensions_crud_isolation_and_conflict() {
    each_backend("extensions", |ctx| async move {
        let store = ctx.store().await;
        let a = store.ensure_user("a@example.com").await.unwrap().tenant_id;
        let b = store.ensure_user("b@example.com").await.unwrap().tenant_id;

        let mut input = new_ext("1001");
        input.ha1_md5 = hex(32, 'A');
        let ext = store.create_extension(&a, input).await.unwrap();
        assert_eq!(ext.ha1_md5, hex(32, 'a'), "HA1 is stored lowercase");
        assert_eq!(store.get_extension(&a, &ext.id).await.unwrap(), ext);
        assert_eq!(store.list_extensions(&a).await.unwrap(), vec![ext.clone()]);
        assert_eq!(
            store.find_extension_by_username("1001").await.unwrap(),
            Some(ext.clone())
        );

        // Duplicate username, even from another tenant: Conflict, and the
        // existing row is intact.
        assert!(matches!(
            store.create_extension(&b, new_ext("1001")).await,
            Err(StorageError::Conflict(_))
        ));
        assert!(matches!(
            store.create_extension(&a, new_ext("1001")).await,
            Err(StorageError::Conflict(_))
        ));
        assert_eq!(store.get_extension(&a, &ext.id).await.unwrap(), ext);
        assert_eq!(store.all_extensions().await.unwrap(), vec![ext.clone()]);

        // Validation.
        let mut bad = new_ext("bad user");
        assert!(matches!(
            store.create_extension(&a, bad.clone()).await,
            Err(StorageError::Invalid(_))
        ));
        bad.username = "ok".to_owned();
        bad.ha1_md5 = "zz".to_owned();
        assert!(matches!(
            store.create_extension(&a, bad).await,
            Err(StorageError::Invalid(_))
        ));
        assert!(matches!(
            store
                .create_extension("no-such-tenant", new_ext("x1"))
                .await,
            Err(StorageError::NotFound)
        ));

        // Tenant B cannot see, change or delete tenant A's extension.
        assert!(matches!(
            store.get_extension(&b, &ext.id).await,
            Err(StorageError::NotFound)
        ));
        let patch = ExtensionPatch {
            display_name: Some("hijack".to_owned()),
            ..Default::default()
        };
        assert!(matches!(
            store.update_extension(&b, &ext.id, patch).await,
            Err(StorageError::NotFound)
        ));
        assert!(matches!(
            store.delete_extension(&b, &ext.id).await,
            Err(StorageError::NotFound)
        ));
        assert!(store.list_extensions(&b).await.unwrap().is_empty());
        assert_eq!(store.get_extension(&a, &ext.id).await.unwrap(), ext);

        // Update.
        let patch = ExtensionPatch {
            display_name: Some("Front desk".to_owned()),
            widget_ids: Some(vec!["w2".to_owned(), "w3".to_owned()]),
            credentials: Some(("other".to_owned(), hex(32, 'c'), hex(64, 'd'))),
            digest_algorithms: Some(vec!["md5".to_owned()]),
            srtp: Some(Some("Required".to_owned())),
            session_timer_secs: Some(Some(600)),
            srtp_passthrough: Some(true),
        };
        assert!(!ext.srtp_passthrough, "off unless asked for");
        let updated = store.update_extension(&a, &ext.id, patch).await.unwrap();
        assert!(updated.srtp_passthrough);
        let stored = store.get_extension(&a, &ext.id).await.unwrap();
        assert!(stored.srtp_passthrough, "stored");
        assert_eq!(
            updated.srtp.as_deref(),
            Some("required"),
            "stored lowercase"
        );
        assert_eq!(updated.session_timer_secs, Some(600));
        let short = ExtensionPatch {
            session_timer_secs: Some(Some(30)),
            ..Default::default()
        };
        assert!(matches!(
            store.update_extension(&a, &ext.id, short).await,
            Err(StorageError::Invalid(_))
        ));
        let bad = ExtensionPatch {
            srtp: Some(Some("sometimes".to_owned())),
            ..Default::default()
        };
        assert!(matches!(
            store.update_extension(&a, &ext.id, bad).await,
            Err(StorageError::Invalid(_))
        ));
        assert_eq!(
            updated.digest_algorithms,
            vec!["MD5"],
            "spelled canonically"
        );
        assert_eq!(updated.display_name, "Front desk");
        assert_eq!(updated.widget_ids, vec!["w2", "w3"]);
        assert_eq!(updated.realm, "other");
        assert_eq!(updated.ha1_md5, hex(32, 'c'));
        assert_eq!(updated.ha1_sha256, hex(64, 'd'));
        assert_eq!(updated.username, "1001");
        assert_eq!(updated.created_at, ext.created_at);
        assert_eq!(store.get_extension(&a, &ext.id).await.unwrap(), updated);
        let unchanged = store
            .update_extension(&a, &ext.id, ExtensionPatch::default())
            .await
            .unwrap();
        assert_eq!(unchanged.widget_ids, updated.widget_ids);
        assert_eq!(unchanged.digest_algorithms, vec!["MD5"]);
        // Digest algorithms: MD5 and SHA-256 only, no repeats; empty goes back to the
        // server's (nothing stored).
        for bad in [vec!["SHA-512"], vec!["MD5", "md5"], vec![""]] {
            let patch = ExtensionPatch {
                digest_algorithms: Some(bad.iter().map(|s| s.to_string()).collect()),
                ..Default::default()
            };
            assert!(
                matches!(
                    store.update_extension(&a, &ext.id, patch).await,
                    Err(StorageError::Invalid(_))
                ),
                "{bad:?}"
            );
        }
        let both = ExtensionPatch {
            digest_algorithms: Some(vec!["SHA-256".into(), "MD5".into()]),
            ..Default::default()
        };
        let e = store.update_extension(&a, &ext.id, both).await.unwrap();
        assert_eq!(e.digest_algorithms, vec!["SHA-256", "MD5"]);
        let reset = ExtensionPatch {
            digest_algorithms: Some(vec![]),
            ..Default::default()
        };
        let e = store.update_extension(&a, &ext.id, reset).await.unwrap();
        assert!(e.digest_algorithms.is_empty());
        assert_eq!(store.get_extension(&a, &ext.id).await.unwrap(), e);

        // Delete, with its registrations.
        store
            .upsert_binding(&binding(&ext.id, "sip:1001@10.0.0.1", now_ms() + 60_000))
            .await
            .unwrap();
        store.delete_extension(&a, &ext.id).await.unwrap();
        assert!(matches!(
            store.get_extension(&a, &ext.id).await,
            Err(StorageError::NotFound)
        ));
        assert!(store.live_bindings(now_ms()).await.unwrap().is_empty());
        assert!(matches!(
            store.delete_extension(&a, &ext.id).await,
            Err(StorageError::NotFound)
        ));
        // The username is free again.
        store.create_extension(&b, new_ext("1001")).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn trunks_crud_and_patch_clears_fields() {
    each_backend("trunks", |ctx| async move {
        let store = ctx.store().await;
        let a = store.ensure_user("a@example.com").await.unwrap().tenant_id;
        let b = store.ensure_user("b@example.com").await.unwrap().tenant_id;
        let new = NewTrunk {
            name: "carrier".to_owned(),
            inbound_cidrs: vec!["192.0.2.0/24".to_owned(), "2001:db8::1".to_owned()],
            inbound_username: Some("trunk1".to_owned()),
            inbound_realm: Some("ringside".to_owned()),
            inbound_ha1_md5: Some(hex(32, 'e')),
            inbound_ha1_sha256: Some(hex(64, 'f')),
            outbound_host: Some("sip.carrier.example".to_owned()),
            outbound_port: Some(5061),
            outbound_transport: Some("TLS".to_owned()),
            outbound_username: Some("acct".to_owned()),
            outbound_password: Some("s3cret".to_owned()),
            allowed_destinations: Some("+1*".to_owned()),
            digest_algorithms: vec!["md5".to_owned()],
            srtp: Some("off".to_owned()),
            session_timer_secs: Some(1800),
            srtp_passthrough: true,
            tls_ca_pem: Some(
                "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into(),
            ),
            tls_client_cert_pem: None,
            tls_client_key_pem: Some(
                "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n".into(),
            ),
        };
        let trunk = store.create_trunk(&a, new.clone()).await.unwrap();
        assert_eq!(trunk.srtp.as_deref(), Some("off"));
        assert_eq!(trunk.session_timer_secs, Some(1800));
        assert!(trunk.srtp_passthrough);
        let mut bad = new.clone();
        bad.srtp = Some("maybe".to_owned());
        bad.inbound_username = Some("trunk-bad".to_owned());
        assert!(matches!(
            store.create_trunk(&a, bad).await,
            Err(StorageError::Invalid(_))
        ));
        assert_eq!(trunk.tls_ca_pem, new.tls_ca_pem);
        assert_eq!(trunk.tls_client_key_pem, new.tls_client_key_pem);
        assert_eq!(trunk.outbound_transport.as_deref(), Some("tls"));
        assert_eq!(trunk.digest_algorithms, vec!["MD5"]);
        assert_eq!(trunk.outbound_port, Some(5061));
        assert_eq!(store.get_trunk(&a, &trunk.id).await.unwrap(), trunk);
        assert_eq!(store.list_trunks(&a).await.unwrap(), vec![trunk.clone()]);
        assert_eq!(store.all_trunks().await.unwrap(), vec![trunk.clone()]);

        // Inbound username is unique when set; unset ones never collide.
        assert!(matches!(
            store.create_trunk(&b, new.clone()).await,
            Err(StorageError::Conflict(_))
        ));
        let plain = NewTrunk {
            name: "pbx".to_owned(),
            ..Default::default()
        };
        let t2 = store.create_trunk(&a, plain.clone()).await.unwrap();
        let t3 = store.create_trunk(&b, plain).await.unwrap();
        assert_eq!(t2.inbound_username, None);
        assert_eq!(store.get_trunk(&a, &trunk.id).await.unwrap(), trunk);
        let taken = TrunkPatch {
            inbound_username: Some(Some("trunk1".to_owned())),
            ..Default::default()
        };
        assert!(matches!(
            store.update_trunk(&b, &t3.id, taken).await,
            Err(StorageError::Conflict(_))
        ));

        // Validation.
        let bad = NewTrunk {
            name: "x".to_owned(),
            inbound_cidrs: vec!["10.0.0.0/99".to_owned()],
            ..Default::default()
        };
        assert!(matches!(
            store.create_trunk(&a, bad).await,
            Err(StorageError::Invalid(_))
        ));
        let not_pem = NewTrunk {
            name: "x".to_owned(),
            tls_ca_pem: Some("not a certificate".to_owned()),
            ..Default::default()
        };
        assert!(matches!(
            store.create_trunk(&a, not_pem).await,
            Err(StorageError::Invalid(_))
        ));

        // PATCH: set some, clear some, leave the rest.
        let patch = TrunkPatch {
            name: Some("carrier-2".to_owned()),
            outbound_password: Some(None),
            outbound_port: Some(None),
            allowed_destinations: Some(Some("+44*".to_owned())),
            inbound_cidrs: Some(vec![]),
            digest_algorithms: Some(vec![]),
            tls_client_key_pem: Some(None),
            srtp: Some(None),
            session_timer_secs: Some(None),
            srtp_passthrough: Some(false),
            ..Default::default()
        };
        let updated = store.update_trunk(&a, &trunk.id, patch).await.unwrap();
        assert!(!updated.srtp_passthrough);
        assert_eq!(updated.tls_client_key_pem, None);
        assert_eq!(updated.srtp, None, "back to the default");
        assert_eq!(updated.session_timer_secs, None);
        assert_eq!(updated.tls_ca_pem, trunk.tls_ca_pem, "left as it was");
        assert!(updated.digest_algorithms.is_empty(), "back to the server's");
        assert_eq!(updated.name, "carrier-2");
        assert_eq!(updated.outbound_password, None);
        assert_eq!(updated.outbound_port, None);
        assert_eq!(updated.allowed_destinations.as_deref(), Some("+44*"));
        assert!(updated.inbound_cidrs.is_empty());
        assert_eq!(updated.outbound_host, trunk.outbound_host);
        assert_eq!(updated.inbound_username, trunk.inbound_username);
        assert_eq!(store.get_trunk(&a, &trunk.id).await.unwrap(), updated);

        // Tenant isolation.
        assert!(matches!(
            store.get_trunk(&b, &trunk.id).await,
            Err(StorageError::NotFound)
        ));
        assert!(matches!(
            store
                .update_trunk(&b, &trunk.id, TrunkPatch::default())
                .await,
            Err(StorageError::NotFound)
        ));
        assert!(matches!(
            store.delete_trunk(&b, &trunk.id).await,
            Err(StorageError::NotFound)
        ));
        store.delete_trunk(&a, &trunk.id).await.unwrap();
        assert!(matches!(
            store.get_trunk(&a, &trunk.id).await,
            Err(StorageError::NotFound)
        ));
        assert_eq!(store.list_trunks(&a).await.unwrap(), vec![t2]);
    })
    .await;
}

#[tokio::test]
async fn bindings_upsert_expire_purge_and_survive_reconnect() {
    each_backend("bindings", |ctx| async move {
        let store = ctx.store().await;
        let t = store
            .ensure_user("reg@example.com")
            .await
            .unwrap()
            .tenant_id;
        let e1 = store.create_extension(&t, new_ext("2001")).await.unwrap();
        let e2 = store.create_extension(&t, new_ext("2002")).await.unwrap();
        let now = now_ms();

        let mut b1 = binding(&e1.id, "sip:2001@10.0.0.1:5060", now + 60_000);
        store.upsert_binding(&b1).await.unwrap();
        b1.cseq = 2;
        b1.expires_at = now + 120_000;
        b1.user_agent = None;
        store.upsert_binding(&b1).await.unwrap();
        // A registration through an edge proxy keeps its Path, in order.
        let mut b2 = binding(&e1.id, "sip:2001@10.0.0.2:5060", now + 30_000);
        b2.path = vec![
            "<sip:10.9.0.1:5060;lr;received=sip:198.51.100.7:5062>".into(),
            "<sip:10.9.0.2;lr>".into(),
        ];
        let b3 = binding(&e2.id, "sip:2002@10.0.0.3:5060", now - 1);
        store.upsert_binding(&b2).await.unwrap();
        store.upsert_binding(&b3).await.unwrap();
        assert!(matches!(
            store
                .upsert_binding(&binding("missing", "sip:x@y", now + 1000))
                .await,
            Err(StorageError::NotFound)
        ));

        let live = store.live_bindings(now).await.unwrap();
        assert_eq!(live, vec![b1.clone(), b2.clone()]);
        assert_eq!(
            store.extension_bindings(&e1.id, now).await.unwrap().len(),
            2
        );

        // A second store on the same database sees the same bindings.
        let reopened = ctx.store().await;
        assert_eq!(reopened.live_bindings(now).await.unwrap(), live);

        // Expiry and purge.
        assert_eq!(
            store.live_bindings(now + 60_000).await.unwrap(),
            vec![b1.clone()]
        );
        assert_eq!(store.purge_expired_bindings(now).await.unwrap(), 1);
        assert_eq!(store.purge_expired_bindings(now).await.unwrap(), 0);
        assert_eq!(store.purge_expired_bindings(now + 30_000).await.unwrap(), 1);
        assert_eq!(reopened.live_bindings(now).await.unwrap(), vec![b1.clone()]);

        // A copy that lapsed on one node, refreshed since through another, is kept; the
        // lapsed one is removed.
        assert!(!store
            .remove_lapsed_binding(&e1.id, &b1.contact_uri, now + 60_000)
            .await
            .unwrap());
        assert_eq!(reopened.live_bindings(now).await.unwrap(), vec![b1.clone()]);
        assert!(store
            .remove_lapsed_binding(&e1.id, &b1.contact_uri, now + 120_000)
            .await
            .unwrap());
        store.upsert_binding(&b1).await.unwrap();
        assert!(store.remove_binding(&e1.id, &b1.contact_uri).await.unwrap());
        assert!(!store.remove_binding(&e1.id, &b1.contact_uri).await.unwrap());
        store.upsert_binding(&b1).await.unwrap();
        store.upsert_binding(&b2).await.unwrap();
        assert_eq!(store.remove_bindings(&e1.id).await.unwrap(), 2);
        assert!(store.live_bindings(now).await.unwrap().is_empty());
    })
    .await;
}
