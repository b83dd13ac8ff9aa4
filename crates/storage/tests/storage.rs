//! Storage suite: every test runs against SQLite (a fresh temp file) and,
//! when `RINGSIDE_TEST_POSTGRES_URL` is set (e.g.
//! `postgres://postgres@127.0.0.1:5432/test`), against PostgreSQL in a fresh
//! schema that is dropped afterwards.

use std::future::Future;

use ringside_storage::{
    new_id, now_ms, Backend, Binding, Credential, NewExtension, StorageError, Store, TOKEN_PREFIX,
};
use sqlx::{AnyConnection, Connection, Executor, Row};

#[path = "storage/accounts.rs"]
mod accounts;
#[path = "storage/alerts.rs"]
mod alerts;
#[path = "storage/calls.rs"]
mod calls;
#[path = "storage/contacts.rs"]
mod contacts;
#[path = "storage/conversations.rs"]
mod conversations;
#[path = "storage/messages.rs"]
mod messages;
#[path = "storage/nodes.rs"]
mod nodes;
#[path = "storage/recordings.rs"]
mod recordings;
#[path = "storage/sip.rs"]
mod sip;
#[path = "storage/visitors.rs"]
mod visitors;
#[path = "storage/webhooks.rs"]
mod webhooks;
#[path = "storage/widgets.rs"]
mod widgets;

const PG_ENV: &str = "RINGSIDE_TEST_POSTGRES_URL";

/// One database for one test: connect as many stores to it as needed.
#[derive(Clone)]
struct Ctx {
    url: String,
    backend: Backend,
}

impl Ctx {
    async fn store(&self) -> Store {
        let store = Store::connect(&self.url).await.expect("connect");
        assert_eq!(store.backend(), self.backend);
        store
    }
}

/// Runs `test` on SQLite, then on PostgreSQL when configured.
async fn each_backend<F, Fut>(name: &str, test: F)
where
    F: Fn(Ctx) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    // SQLite: a fresh file in the temp dir.
    let path = std::env::temp_dir().join(format!("ringside-test-{name}-{}.db", new_id()));
    let url = format!("sqlite://{}", path.display());
    let outcome = tokio::spawn(test(Ctx {
        url,
        backend: Backend::Sqlite,
    }))
    .await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }

    // PostgreSQL: a fresh schema, selected through the connection options.
    let Ok(base) = std::env::var(PG_ENV) else {
        eprintln!("{name}: PostgreSQL half skipped ({PG_ENV} not set)");
        return;
    };
    sqlx::any::install_default_drivers();
    let schema = format!("t_{}", new_id().replace('-', ""));
    let mut admin = AnyConnection::connect(&base)
        .await
        .expect("connect postgres");
    admin
        .execute(format!("CREATE SCHEMA {schema}").as_str())
        .await
        .expect("create schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    let outcome = tokio::spawn(test(Ctx {
        url,
        backend: Backend::Postgres,
    }))
    .await;
    admin
        .execute(format!("DROP SCHEMA {schema} CASCADE").as_str())
        .await
        .expect("drop schema");
    let _ = admin.close().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

fn hex(len: usize, c: char) -> String {
    std::iter::repeat_n(c, len).collect()
}

fn new_ext(username: &str) -> NewExtension {
    NewExtension {
        username: username.to_owned(),
        display_name: format!("Ext {username}"),
        realm: "ringside".to_owned(),
        ha1_md5: hex(32, 'a'),
        ha1_sha256: hex(64, 'b'),
        widget_ids: vec!["w1".to_owned()],
        ..Default::default()
    }
}

fn binding(extension_id: &str, contact: &str, expires_at: i64) -> Binding {
    Binding {
        extension_id: extension_id.to_owned(),
        contact_uri: contact.to_owned(),
        source_addr: "203.0.113.5:5060".to_owned(),
        transport: "udp".to_owned(),
        expires_at,
        call_id: new_id(),
        cseq: 1,
        user_agent: Some("TestPhone/1.0".to_owned()),
        updated_at: now_ms(),
        path: Vec::new(),
    }
}

#[tokio::test]
async fn connect_ping_and_migrations_are_idempotent() {
    each_backend("migrate", |ctx| async move {
        let store = ctx.store().await;
        store.ping().await.unwrap();
        match ctx.backend {
            Backend::Sqlite => {
                let mode: String = sqlx::query("PRAGMA journal_mode")
                    .fetch_one(store.pool())
                    .await
                    .unwrap()
                    .try_get(0)
                    .unwrap();
                assert_eq!(mode.to_lowercase(), "wal");
                let fk: i64 = sqlx::query("PRAGMA foreign_keys")
                    .fetch_one(store.pool())
                    .await
                    .unwrap()
                    .try_get(0)
                    .unwrap();
                assert_eq!(fk, 1);
            }
            Backend::Postgres => {
                let schema: String = sqlx::query("SELECT current_schema()::text AS s")
                    .fetch_one(store.pool())
                    .await
                    .unwrap()
                    .try_get("s")
                    .unwrap();
                assert!(schema.starts_with("t_"), "isolated schema, got {schema}");
            }
        }
        let user = store.ensure_user("keep@example.com").await.unwrap();
        // Running the migrations again, and connecting again, changes nothing.
        store.migrate().await.unwrap();
        store.migrate().await.unwrap();
        let again = ctx.store().await;
        again.ping().await.unwrap();
        assert_eq!(again.get_user(&user.id).await.unwrap(), user);
        let applied: i64 = sqlx::query("SELECT COUNT(*) AS n FROM _sqlx_migrations")
            .fetch_one(again.pool())
            .await
            .unwrap()
            .try_get("n")
            .unwrap();
        let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
            })
            .count();
        assert_eq!(
            applied, files as i64,
            "every migration applied exactly once"
        );
        again.close().await;
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn users_are_created_once() {
    each_backend("users", |ctx| async move {
        let store = ctx.store().await;
        let a = store.ensure_user("  Alice@Example.COM ").await.unwrap();
        assert_eq!(a.email, "alice@example.com");
        let a2 = store.ensure_user("alice@example.com").await.unwrap();
        assert_eq!(a, a2);
        let b = store.ensure_user("bob@example.com").await.unwrap();
        assert_ne!(a.tenant_id, b.tenant_id);
        assert_eq!(store.get_user(&b.id).await.unwrap(), b);
        assert_eq!(
            store.find_user_by_email("BOB@example.com").await.unwrap(),
            Some(b.clone())
        );
        assert_eq!(store.list_users(&a.tenant_id).await.unwrap(), vec![a]);
        assert!(matches!(
            store.get_user("nope").await,
            Err(StorageError::NotFound)
        ));
        for bad in ["", "   ", "no-at-sign", "@x", "x@"] {
            assert!(matches!(
                store.ensure_user(bad).await,
                Err(StorageError::Invalid(_))
            ));
        }
        // Concurrent first sign-ins of one email yield one user.
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let s = store.clone();
                tokio::spawn(async move { s.ensure_user("race@example.com").await.unwrap() })
            })
            .collect();
        let mut ids = Vec::new();
        for t in tasks {
            ids.push(t.await.unwrap().id);
        }
        ids.dedup();
        assert_eq!(ids.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn tokens_authenticate_and_revoke() {
    each_backend("tokens", |ctx| async move {
        let store = ctx.store().await;
        let user = store.ensure_user("tok@example.com").await.unwrap();
        let other = store.ensure_user("other@example.com").await.unwrap();
        let scopes = vec!["calls:read".to_owned(), "admin".to_owned()];
        let (info, plaintext) = store.create_token(&user.id, "ci", &scopes).await.unwrap();
        assert!(plaintext.starts_with(TOKEN_PREFIX));
        assert_eq!(plaintext.len(), TOKEN_PREFIX.len() + 40);
        assert_eq!(info.tenant_id, user.tenant_id);
        assert_eq!(info.scopes, scopes);

        let auth = store.authenticate_token(&plaintext).await.unwrap().unwrap();
        assert_eq!(auth.tenant_id, user.tenant_id);
        assert_eq!(auth.user_id, user.id);
        assert_eq!(auth.credential, Credential::Token(info.id.clone()));
        assert_eq!(auth.scopes, scopes);
        let listed = store.list_tokens(&user.tenant_id).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].last_used_at.is_some());
        assert!(store
            .list_tokens(&other.tenant_id)
            .await
            .unwrap()
            .is_empty());

        // Wrong or malformed tokens do not authenticate.
        let mut wrong = plaintext.clone();
        wrong.pop();
        wrong.push(if plaintext.ends_with('a') { 'b' } else { 'a' });
        assert!(store.authenticate_token(&wrong).await.unwrap().is_none());
        assert!(store.authenticate_token("").await.unwrap().is_none());
        assert!(store
            .authenticate_token("Bearer x")
            .await
            .unwrap()
            .is_none());

        // The plaintext (or its random part) is stored nowhere.
        let secret = &plaintext[TOKEN_PREFIX.len()..];
        let rows =
            sqlx::query("SELECT id, tenant_id, user_id, name, token_hash, scopes FROM tokens")
                .fetch_all(store.pool())
                .await
                .unwrap();
        assert_eq!(rows.len(), 1);
        for col in ["id", "tenant_id", "user_id", "name", "token_hash", "scopes"] {
            let v: String = rows[0].try_get(col).unwrap();
            assert!(!v.contains(secret), "column {col} holds the token");
        }
        let hash: String = rows[0].try_get("token_hash").unwrap();
        assert_eq!(hash.len(), 64);

        // Another tenant cannot revoke it; its owner can, idempotently.
        assert!(matches!(
            store.revoke_token(&other.tenant_id, &info.id).await,
            Err(StorageError::NotFound)
        ));
        assert!(store
            .authenticate_token(&plaintext)
            .await
            .unwrap()
            .is_some());
        store.revoke_token(&user.tenant_id, &info.id).await.unwrap();
        store.revoke_token(&user.tenant_id, &info.id).await.unwrap();
        assert!(store
            .authenticate_token(&plaintext)
            .await
            .unwrap()
            .is_none());
        let listed = store.list_tokens(&user.tenant_id).await.unwrap();
        assert!(listed[0].revoked_at.is_some());

        // Validation and unknown user.
        assert!(matches!(
            store.create_token(&user.id, " ", &[]).await,
            Err(StorageError::Invalid(_))
        ));
        assert!(matches!(
            store.create_token("missing", "x", &[]).await,
            Err(StorageError::NotFound)
        ));
    })
    .await;
}

#[tokio::test]
async fn sqlite_in_memory_works() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    let user = store.ensure_user("mem@example.com").await.unwrap();
    // Several concurrent users of the single connection see one database.
    let (a, b) = tokio::join!(store.get_user(&user.id), store.list_users(&user.tenant_id));
    assert_eq!(a.unwrap(), user);
    assert_eq!(b.unwrap().len(), 1);
    assert!(matches!(
        Store::connect("mysql://localhost/x").await,
        Err(StorageError::UnsupportedUrl)
    ));
}

/// OAuth codes: of two concurrent exchanges of one code exactly one gets tokens, and the
/// other, a replay, revokes them; expired codes and tokens are purged.
#[tokio::test]
async fn oauth_codes_race_and_purge() {
    use ringside_storage::{ClientKind, Exchange, NewOAuthClient, NewOAuthCode, TokenLifetimes};
    each_backend("oauth", |ctx| async move {
        let store = ctx.store().await;
        let user = store.ensure_user("oauth@example.com").await.unwrap();
        let uris = vec!["https://app.example/cb".to_owned()];
        let (client, secret) = store
            .register_oauth_client(NewOAuthClient {
                kind: ClientKind::Registered,
                id: None,
                name: "App",
                client_uri: None,
                redirect_uris: &uris,
                auth_method: "none",
                now: 1,
            })
            .await
            .unwrap();
        assert!(secret.is_none());
        let scopes = vec!["mcp:read".to_owned()];
        let ttl = TokenLifetimes {
            access_ms: 1_000,
            refresh_ms: 100_000,
        };
        let code = store
            .create_oauth_code(NewOAuthCode {
                client_id: &client.id,
                user_id: &user.id,
                redirect_uri: &uris[0],
                challenge: "c",
                scopes: &scopes,
                resource: "https://r.example/mcp",
                now: 100,
                ttl_ms: 60_000,
            })
            .await
            .unwrap();
        let (a, b) = tokio::join!(
            store.exchange_oauth_code(&code, 200, ttl, |_| Ok::<(), ()>(())),
            store.exchange_oauth_code(&code, 200, ttl, |_| Ok::<(), ()>(())),
        );
        let outcomes = [a.unwrap(), b.unwrap()];
        let issued: Vec<_> = outcomes
            .iter()
            .filter_map(|o| match o {
                Exchange::Issued(t) => Some(t.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(issued.len(), 1, "{outcomes:?}");
        assert!(outcomes.contains(&Exchange::Replayed), "{outcomes:?}");
        // The replay revoked what the winner got.
        assert!(store
            .authenticate_oauth_token(&issued[0].access_token, 300)
            .await
            .unwrap()
            .is_none());
        assert!(store
            .list_oauth_grants(&user.tenant_id, None)
            .await
            .unwrap()
            .is_empty());
        // A fresh grant; its access token expires, and the purge takes what has expired.
        let code = store
            .create_oauth_code(NewOAuthCode {
                client_id: &client.id,
                user_id: &user.id,
                redirect_uri: &uris[0],
                challenge: "c",
                scopes: &scopes,
                resource: "https://r.example/mcp",
                now: 1_000,
                ttl_ms: 60_000,
            })
            .await
            .unwrap();
        let Exchange::Issued(t) = store
            .exchange_oauth_code(&code, 1_000, ttl, |_| Ok::<(), ()>(()))
            .await
            .unwrap()
        else {
            panic!("no tokens");
        };
        let (auth, resource) = store
            .authenticate_oauth_token(&t.access_token, 1_500)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(auth.user_id, user.id);
        assert_eq!(resource, "https://r.example/mcp");
        assert!(store
            .authenticate_oauth_token(&t.access_token, 2_000)
            .await
            .unwrap()
            .is_none());
        // Both codes and the access token have expired by 62 000; the refresh token has not.
        // A client registered and never used goes after its time; one with a grant stays.
        let (idle, _) = store
            .register_oauth_client(NewOAuthClient {
                kind: ClientKind::Registered,
                id: None,
                name: "Idle",
                client_uri: None,
                redirect_uris: &uris,
                auth_method: "none",
                now: 1,
            })
            .await
            .unwrap();
        assert_eq!(store.purge_oauth(62_000, 0).await.unwrap(), 3);
        assert_eq!(store.purge_oauth(62_000, 10).await.unwrap(), 1);
        assert!(store.oauth_client(&idle.id).await.unwrap().is_none());
        assert!(store.oauth_client(&client.id).await.unwrap().is_some());
        assert!(matches!(
            store
                .refresh_oauth_grant(&t.refresh_token, &client.id, 62_000, ttl)
                .await
                .unwrap(),
            Exchange::Issued(_)
        ));
    })
    .await;
}
