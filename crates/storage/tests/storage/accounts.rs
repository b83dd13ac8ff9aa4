//! Accounts: sign-in codes, sessions and roles; every backend.

use ringside_storage::{
    now_ms, AssignTo, CodeCheck, NewInvite, NewSession, NewWidget, Role, StorageError, Store,
    INVITE_PREFIX, MAX_CODE_ATTEMPTS, MAX_WRONG_PER_DAY, SESSION_PREFIX,
};

use super::each_backend;

const TEN_MIN: i64 = 10 * 60_000;
const DAY: i64 = 24 * 3_600_000;

/// A code that is not `code`.
fn other(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

#[tokio::test]
async fn a_code_signs_in_once_within_its_time() {
    each_backend("codes_once", |ctx| async move {
        let store = ctx.store().await;
        let t = now_ms();
        let code = store
            .create_email_code(" Ana@Example.COM ", t, TEN_MIN)
            .await
            .unwrap();
        assert_eq!(code.len(), 6);
        // The email is normalised the same way on both sides.
        assert_eq!(
            store
                .verify_email_code("ana@example.com", &code, t + 1_000)
                .await
                .unwrap(),
            CodeCheck::Verified
        );
        // Used up.
        assert_eq!(
            store
                .verify_email_code("ana@example.com", &code, t + 2_000)
                .await
                .unwrap(),
            CodeCheck::NoCode
        );
        // Expired: checked at its expiry.
        let code = store
            .create_email_code("ana@example.com", t, TEN_MIN)
            .await
            .unwrap();
        assert_eq!(
            store
                .verify_email_code("ana@example.com", &code, t + TEN_MIN)
                .await
                .unwrap(),
            CodeCheck::Expired
        );
        // Nothing was ever asked for this one.
        assert_eq!(
            store
                .verify_email_code("bob@example.com", "123456", t)
                .await
                .unwrap(),
            CodeCheck::NoCode
        );
        assert!(matches!(
            store.create_email_code("not-an-email", t, TEN_MIN).await,
            Err(StorageError::Invalid("email"))
        ));
    })
    .await;
}

#[tokio::test]
async fn wrong_tries_are_counted_and_kill_the_code() {
    each_backend("codes_tries", |ctx| async move {
        let store = ctx.store().await;
        let t = now_ms();
        let code = store
            .create_email_code("eve@example.com", t, TEN_MIN)
            .await
            .unwrap();
        let wrong = other(&code);
        for left in (0..MAX_CODE_ATTEMPTS).rev() {
            assert_eq!(
                store
                    .verify_email_code("eve@example.com", &wrong, t)
                    .await
                    .unwrap(),
                CodeCheck::Wrong { tries_left: left }
            );
        }
        // Dead now, even for the right code.
        assert_eq!(
            store
                .verify_email_code("eve@example.com", &code, t)
                .await
                .unwrap(),
            CodeCheck::TooManyTries
        );
        // Garbage counts as a try too, on a fresh code.
        let code = store
            .create_email_code("eve@example.com", t, TEN_MIN)
            .await
            .unwrap();
        assert_eq!(
            store
                .verify_email_code("eve@example.com", "12ab56", t)
                .await
                .unwrap(),
            CodeCheck::Wrong {
                tries_left: MAX_CODE_ATTEMPTS - 1
            }
        );
        assert_eq!(
            store
                .verify_email_code("eve@example.com", &code, t)
                .await
                .unwrap(),
            CodeCheck::Verified
        );
    })
    .await;
}

#[tokio::test]
async fn a_new_code_retires_the_old_one_and_two_stores_count_together() {
    each_backend("codes_new", |ctx| async move {
        let a = ctx.store().await;
        let b = ctx.store().await;
        let t = now_ms();
        let first = a
            .create_email_code("kim@example.com", t, TEN_MIN)
            .await
            .unwrap();
        let second = b
            .create_email_code("kim@example.com", t + 1, TEN_MIN)
            .await
            .unwrap();
        if first != second {
            // The first code no longer signs in (it counts as a wrong try on the second).
            assert!(matches!(
                a.verify_email_code("kim@example.com", &first, t + 2)
                    .await
                    .unwrap(),
                CodeCheck::Wrong { .. }
            ));
        }
        // Two servers on one database: only one of two concurrent right tries signs in.
        let (x, y) = tokio::join!(
            a.verify_email_code("kim@example.com", &second, t + 3),
            b.verify_email_code("kim@example.com", &second, t + 3)
        );
        let verified = [x.unwrap(), y.unwrap()]
            .iter()
            .filter(|c| **c == CodeCheck::Verified)
            .count();
        assert_eq!(verified, 1);
        // Expired codes are purged.
        a.create_email_code("old@example.com", t - 2 * TEN_MIN, TEN_MIN)
            .await
            .unwrap();
        assert!(a.purge_email_codes(t).await.unwrap() >= 1);
        assert_eq!(
            a.verify_email_code("old@example.com", "000000", t)
                .await
                .unwrap(),
            CodeCheck::NoCode
        );
    })
    .await;
}

#[tokio::test]
async fn sessions_live_until_revoked_idle_or_expired() {
    each_backend("sessions", |ctx| async move {
        let store = ctx.store().await;
        let user = store.ensure_user("owner@sessions.example").await.unwrap();
        assert_eq!(user.role, Role::Owner);
        let t = now_ms();
        let new = |now| NewSession {
            user_id: &user.id,
            now,
            lifetime_ms: 30 * DAY,
            user_agent: Some("Mozilla/5.0 test"),
            ip: Some("127.0.0.1"),
        };
        let (info, secret) = store.create_session(new(t)).await.unwrap();
        assert!(secret.starts_with(SESSION_PREFIX));
        assert!(!secret.contains(&info.id));
        let idle = DAY;
        let auth = store
            .authenticate_session(&secret, t + 1_000, idle)
            .await
            .unwrap()
            .expect("live session");
        assert_eq!(
            (
                auth.user_id.as_str(),
                auth.tenant_id.as_str(),
                auth.role,
                auth.session_id.as_str()
            ),
            (
                user.id.as_str(),
                user.tenant_id.as_str(),
                Role::Owner,
                info.id.as_str()
            )
        );
        // Use keeps it alive past the idle limit; a day unused ends it.
        assert!(store
            .authenticate_session(&secret, t + idle - 1, idle)
            .await
            .unwrap()
            .is_some());
        assert!(store
            .authenticate_session(&secret, t + 2 * idle - 2, idle)
            .await
            .unwrap()
            .is_some());
        assert!(store
            .authenticate_session(&secret, t + 3 * idle, idle)
            .await
            .unwrap()
            .is_none());
        // Absolute expiry, however busy.
        let (_, busy) = store.create_session(new(t)).await.unwrap();
        assert!(store
            .authenticate_session(&busy, t + 30 * DAY, 60 * DAY)
            .await
            .unwrap()
            .is_none());
        // Unknown and malformed secrets.
        assert!(store
            .authenticate_session("ringside_ses_nope", t, idle)
            .await
            .unwrap()
            .is_none());
        assert!(store
            .authenticate_session(&secret.replace(SESSION_PREFIX, "ringside_pat_"), t, idle)
            .await
            .unwrap()
            .is_none());
        // Listing and signing out everywhere.
        let (a, sa) = store.create_session(new(t + 5)).await.unwrap();
        let (_, sb) = store.create_session(new(t + 6)).await.unwrap();
        let listed = store.list_sessions(&user.id, t + 10).await.unwrap();
        assert!(listed.len() >= 3, "{listed:?}");
        assert_eq!(listed[0].user_agent.as_deref(), Some("Mozilla/5.0 test"));
        store.revoke_session(&user.id, &a.id, t + 20).await.unwrap();
        assert!(store
            .authenticate_session(&sa, t + 21, idle)
            .await
            .unwrap()
            .is_none());
        assert!(store
            .authenticate_session(&sb, t + 21, idle)
            .await
            .unwrap()
            .is_some());
        // Another user cannot revoke it.
        let stranger = store
            .ensure_user("stranger@sessions.example")
            .await
            .unwrap();
        let (b, _) = store
            .create_session(NewSession {
                user_id: &stranger.id,
                ..new(t)
            })
            .await
            .unwrap();
        assert!(matches!(
            store.revoke_session(&user.id, &b.id, t + 22).await,
            Err(StorageError::NotFound)
        ));
        assert!(store.revoke_all_sessions(&user.id, t + 30).await.unwrap() >= 2);
        assert!(store
            .authenticate_session(&sb, t + 31, idle)
            .await
            .unwrap()
            .is_none());
        assert!(store
            .list_sessions(&user.id, t + 31)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            store
                .list_sessions(&stranger.id, t + 31)
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(matches!(
            store
                .create_session(NewSession {
                    user_id: "no-such-user",
                    ..new(t)
                })
                .await,
            Err(StorageError::NotFound)
        ));
        // Ended sessions go after their time; one still running stays.
        let (_, long) = store
            .create_session(NewSession {
                lifetime_ms: 60 * DAY,
                ..new(t)
            })
            .await
            .unwrap();
        assert!(
            store
                .purge_sessions_and_invites(t + 31 * DAY)
                .await
                .unwrap()
                >= 3
        );
        let left = store.list_sessions(&user.id, t + 50).await.unwrap();
        assert_eq!(left.len(), 1, "{left:?}");
        assert_eq!(left[0].expires_at, t + 60 * DAY);
        assert!(store
            .authenticate_session(&long, t + 60, idle)
            .await
            .unwrap()
            .is_some());
    })
    .await;
}

#[tokio::test]
async fn roles_change_and_a_tenant_keeps_an_owner() {
    each_backend("roles", |ctx| async move {
        let store = ctx.store().await;
        let owner = store.ensure_user("boss@roles.example").await.unwrap();
        let t = now_ms();
        let (_, secret) = store
            .create_session(NewSession {
                user_id: &owner.id,
                now: t,
                lifetime_ms: DAY,
                user_agent: None,
                ip: None,
            })
            .await
            .unwrap();
        // The last owner cannot be demoted.
        assert!(matches!(
            store
                .set_user_role(&owner.tenant_id, &owner.id, Role::Agent)
                .await,
            Err(StorageError::Conflict(_))
        ));
        // Another tenant cannot touch this user.
        let other = store.ensure_user("other@roles.example").await.unwrap();
        assert!(matches!(
            store
                .set_user_role(&other.tenant_id, &owner.id, Role::Agent)
                .await,
            Err(StorageError::NotFound)
        ));
        store
            .set_user_role(&owner.tenant_id, &owner.id, Role::Owner)
            .await
            .unwrap();
        let auth = store
            .authenticate_session(&secret, t + 1, DAY)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(auth.role, Role::Owner);
        assert_eq!(store.get_user(&owner.id).await.unwrap().role, Role::Owner);
    })
    .await;
}

#[tokio::test]
async fn invites_are_accepted_once_by_their_email() {
    each_backend("invites", |ctx| async move {
        let store = ctx.store().await;
        let owner = store.ensure_user("boss@invites.example").await.unwrap();
        let t = now_ms();
        let invite = |email: &'static str, role| NewInvite {
            tenant_id: &owner.tenant_id,
            invited_by: &owner.id,
            email,
            role,
            now: t,
            ttl_ms: DAY,
        };
        let (inv, secret) = store
            .create_invite(invite(" Agent@Invites.Example ", Role::Agent))
            .await
            .unwrap();
        assert!(secret.starts_with(INVITE_PREFIX));
        assert_eq!(inv.email, "agent@invites.example");
        assert!(inv.is_pending(t));
        assert_eq!(
            store.list_invites(&owner.tenant_id, t).await.unwrap(),
            vec![inv.clone()]
        );
        assert_eq!(
            store.invite_by_secret(&secret).await.unwrap(),
            Some(inv.clone())
        );
        // Only the invited email accepts it.
        assert!(matches!(
            store
                .accept_invite(&secret, "someone@else.example", t + 1)
                .await,
            Err(StorageError::NotFound)
        ));
        let agent = store
            .accept_invite(&secret, "agent@invites.example", t + 1)
            .await
            .unwrap();
        assert_eq!(
            (agent.tenant_id.as_str(), agent.role),
            (owner.tenant_id.as_str(), Role::Agent)
        );
        // Once.
        assert!(matches!(
            store
                .accept_invite(&secret, "agent@invites.example", t + 2)
                .await,
            Err(StorageError::NotFound)
        ));
        assert!(store
            .list_invites(&owner.tenant_id, t + 2)
            .await
            .unwrap()
            .is_empty());
        // A member cannot be invited again; a user of another tenant cannot join.
        assert!(matches!(
            store
                .create_invite(invite("agent@invites.example", Role::Admin))
                .await,
            Err(StorageError::Conflict(_))
        ));
        let outsider = store
            .ensure_user("outsider@elsewhere.example")
            .await
            .unwrap();
        let (_, s2) = store
            .create_invite(invite("outsider@elsewhere.example", Role::Admin))
            .await
            .unwrap();
        assert!(matches!(
            store.accept_invite(&s2, &outsider.email, t + 3).await,
            Err(StorageError::Conflict(_))
        ));
        assert_eq!(
            store.get_user(&outsider.id).await.unwrap().tenant_id,
            outsider.tenant_id
        );
        // Expired and withdrawn links do nothing; a new invite replaces a pending one.
        let (_, s3) = store
            .create_invite(invite("late@invites.example", Role::Agent))
            .await
            .unwrap();
        assert!(matches!(
            store
                .accept_invite(&s3, "late@invites.example", t + DAY)
                .await,
            Err(StorageError::NotFound)
        ));
        let (old, s4) = store
            .create_invite(invite("w@invites.example", Role::Agent))
            .await
            .unwrap();
        let (new, s5) = store
            .create_invite(invite("w@invites.example", Role::Admin))
            .await
            .unwrap();
        assert!(matches!(
            store.accept_invite(&s4, "w@invites.example", t + 1).await,
            Err(StorageError::NotFound)
        ));
        assert!(matches!(
            store.revoke_invite(&owner.tenant_id, &old.id, t + 1).await,
            Err(StorageError::NotFound)
        ));
        let other = store.ensure_user("x@other.example").await.unwrap();
        assert!(matches!(
            store.revoke_invite(&other.tenant_id, &new.id, t + 1).await,
            Err(StorageError::NotFound)
        ));
        store
            .revoke_invite(&owner.tenant_id, &new.id, t + 1)
            .await
            .unwrap();
        assert!(matches!(
            store.accept_invite(&s5, "w@invites.example", t + 2).await,
            Err(StorageError::NotFound)
        ));
        assert!(store
            .invite_by_secret("ringside_inv_bad")
            .await
            .unwrap()
            .is_none());
        assert!(store
            .find_user_by_email("w@invites.example")
            .await
            .unwrap()
            .is_none());
    })
    .await;
}

#[tokio::test]
async fn removing_users_and_demoting_owners_keeps_one_owner_and_cuts_tokens() {
    each_backend("members", |ctx| async move {
        let store = ctx.store().await;
        let a = store.ensure_user("a@members.example").await.unwrap();
        let t = now_ms();
        let mut owners = vec![a.clone()];
        for email in ["b@members.example", "c@members.example"] {
            let (_, s) = store
                .create_invite(NewInvite {
                    tenant_id: &a.tenant_id,
                    invited_by: &a.id,
                    email,
                    role: Role::Owner,
                    now: t,
                    ttl_ms: DAY,
                })
                .await
                .unwrap();
            owners.push(store.accept_invite(&s, email, t).await.unwrap());
        }
        // Three owners demote each other at once: one always stays.
        let (x, y, z) = tokio::join!(
            store.set_user_role(&a.tenant_id, &owners[0].id, Role::Agent),
            store.set_user_role(&a.tenant_id, &owners[1].id, Role::Agent),
            store.set_user_role(&a.tenant_id, &owners[2].id, Role::Admin),
        );
        let won = [x, y, z].iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 2);
        let left: Vec<_> = store
            .list_users(&a.tenant_id)
            .await
            .unwrap()
            .into_iter()
            .filter(|u| u.role == Role::Owner)
            .collect();
        assert_eq!(left.len(), 1);
        let owner = left[0].clone();
        assert!(matches!(
            store.remove_user(&a.tenant_id, &owner.id).await,
            Err(StorageError::Conflict(_))
        ));
        // An agent's token loses the scopes agents may not hold; removal ends it.
        let agent = owners.iter().find(|u| u.id != owner.id).unwrap().clone();
        store
            .set_user_role(&a.tenant_id, &agent.id, Role::Agent)
            .await
            .unwrap();
        let scopes: Vec<String> = [
            "messages:read",
            "webhooks:write",
            "sip:write",
            "calls:write",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (_, tok) = store.create_token(&agent.id, "t", &scopes).await.unwrap();
        let auth = store.authenticate_token(&tok).await.unwrap().unwrap();
        assert_eq!(auth.role, Role::Agent);
        assert_eq!(auth.scopes, vec!["messages:read", "calls:write"]);
        let other = store.ensure_user("z@other-members.example").await.unwrap();
        assert!(matches!(
            store.remove_user(&other.tenant_id, &agent.id).await,
            Err(StorageError::NotFound)
        ));
        store.remove_user(&a.tenant_id, &agent.id).await.unwrap();
        assert!(store.authenticate_token(&tok).await.unwrap().is_none());
        assert!(matches!(
            store.get_user(&agent.id).await,
            Err(StorageError::NotFound)
        ));
    })
    .await;
}

#[tokio::test]
async fn wrong_codes_are_capped_per_email_per_day_across_new_codes() {
    each_backend("codes_daily", |ctx| async move {
        let store = ctx.store().await;
        let t = now_ms();
        let email = "target@daily.example";
        let mut wrong = 0;
        // Ask for code after code, guessing on each: the day's cap stops it.
        while wrong < MAX_WRONG_PER_DAY {
            let code = store.create_email_code(email, t, TEN_MIN).await.unwrap();
            let guess = other(&code);
            for _ in 0..MAX_CODE_ATTEMPTS.min(MAX_WRONG_PER_DAY - wrong) {
                assert!(matches!(
                    store.verify_email_code(email, &guess, t + 1).await.unwrap(),
                    CodeCheck::Wrong { .. }
                ));
                wrong += 1;
            }
        }
        let code = store
            .create_email_code(email, t + 2, TEN_MIN)
            .await
            .unwrap();
        assert_eq!(
            store.verify_email_code(email, &code, t + 3).await.unwrap(),
            CodeCheck::LockedForToday,
            "even the right code waits for the day to pass"
        );
        // A day after those codes were made, the right code works again.
        let later = t + 24 * 3_600_000 + 10;
        let code = store
            .create_email_code(email, later, TEN_MIN)
            .await
            .unwrap();
        assert_eq!(
            store
                .verify_email_code(email, &code, later + 1)
                .await
                .unwrap(),
            CodeCheck::Verified
        );
        // Another email was never affected.
        let code = store
            .create_email_code("bystander@daily.example", t, TEN_MIN)
            .await
            .unwrap();
        assert_eq!(
            store
                .verify_email_code("bystander@daily.example", &code, t + 5)
                .await
                .unwrap(),
            CodeCheck::Verified
        );
    })
    .await;
}

#[tokio::test]
async fn invites_race_into_one_and_die_with_their_senders_ownership() {
    each_backend("invites_race", |ctx| async move {
        let store = ctx.store().await;
        let owner = store.ensure_user("boss@race.example").await.unwrap();
        let t = now_ms();
        let inv = |role| NewInvite {
            tenant_id: &owner.tenant_id,
            invited_by: &owner.id,
            email: "twice@race.example",
            role,
            now: t,
            ttl_ms: DAY,
        };
        let (a, b) = tokio::join!(
            store.create_invite(inv(Role::Agent)),
            store.create_invite(inv(Role::Owner))
        );
        let made = [a.is_ok(), b.is_ok()].iter().filter(|x| **x).count();
        assert!(made >= 1);
        assert_eq!(
            store.list_invites(&owner.tenant_id, t).await.unwrap().len(),
            1
        );
        // An owner's invitation stops working when they stop being an owner.
        let (_, s) = store
            .create_invite(NewInvite {
                email: "co@race.example",
                ..inv(Role::Owner)
            })
            .await
            .unwrap();
        let co = store
            .accept_invite(&s, "co@race.example", t + 1)
            .await
            .unwrap();
        let (_, pending) = store
            .create_invite(NewInvite {
                invited_by: &co.id,
                email: "late@race.example",
                ..inv(Role::Owner)
            })
            .await
            .unwrap();
        store
            .set_user_role(&owner.tenant_id, &co.id, Role::Agent)
            .await
            .unwrap();
        assert!(matches!(
            store
                .accept_invite(&pending, "late@race.example", t + 2)
                .await,
            Err(StorageError::NotFound)
        ));
        assert!(store
            .find_user_by_email("late@race.example")
            .await
            .unwrap()
            .is_none());
    })
    .await;
}

#[tokio::test]
async fn an_invite_is_accepted_on_a_one_connection_database() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let owner = store.ensure_user("boss@memory.example").await.unwrap();
    let (_, s) = store
        .create_invite(NewInvite {
            tenant_id: &owner.tenant_id,
            invited_by: &owner.id,
            email: "new@memory.example",
            role: Role::Agent,
            now: now_ms(),
            ttl_ms: DAY,
        })
        .await
        .unwrap();
    let u = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        store.accept_invite(&s, "new@memory.example", now_ms()),
    )
    .await
    .expect("no wait on our own connection")
    .unwrap();
    assert_eq!(u.tenant_id, owner.tenant_id);
}

#[tokio::test]
async fn an_agents_change_of_assignment_never_overwrites_one_made_meanwhile() {
    each_backend("assign_race", |ctx| async move {
        let store = ctx.store().await;
        let owner = store.ensure_user("boss@assign.example").await.unwrap();
        let w = store
            .create_widget(
                &owner.tenant_id,
                NewWidget {
                    name: "W".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let (_, s) = store
            .create_invite(NewInvite {
                tenant_id: &owner.tenant_id,
                invited_by: &owner.id,
                email: "agent@assign.example",
                role: Role::Agent,
                now: now_ms(),
                ttl_ms: DAY,
            })
            .await
            .unwrap();
        let agent = store
            .accept_invite(&s, "agent@assign.example", now_ms())
            .await
            .unwrap();
        let to = |user, expect| AssignTo {
            user_id: user,
            by: &agent.id,
            now: now_ms(),
            expect,
        };
        // The agent saw it free and takes it.
        store
            .assign_conversation(
                &owner.tenant_id,
                &w.id,
                "visitor-1",
                to(Some(&agent.id), Some(None)),
            )
            .await
            .unwrap();
        // Meanwhile the owner gave it to themself: the agent's release, made against the old
        // state, must not undo that, nor a second take.
        store
            .assign_conversation(
                &owner.tenant_id,
                &w.id,
                "visitor-1",
                to(Some(&owner.id), None),
            )
            .await
            .unwrap();
        for change in [
            to(None, Some(Some(&agent.id))),
            to(Some(&agent.id), Some(None)),
            to(Some(&agent.id), Some(Some(&agent.id))),
        ] {
            assert!(matches!(
                store
                    .assign_conversation(&owner.tenant_id, &w.id, "visitor-1", change)
                    .await,
                Err(StorageError::Conflict(_))
            ));
        }
        let now = store
            .conversation_assignee(&owner.tenant_id, &w.id, "visitor-1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(now.user_id, owner.id);
    })
    .await;
}
