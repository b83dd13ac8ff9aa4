//! Dashboard sessions on the HTTP side: the cookie, the CSRF token and a small cache in
//! front of the session table.
//!
//! - The cookie `ringside_session` holds the session secret; it is `HttpOnly`,
//!   `SameSite=Lax`, `Path=/` and `Secure` unless the server's public URL is plain `http://`
//!   (a laptop on loopback).
//! - The CSRF token is an HMAC of the session id under the server's key: stateless, bound
//!   to one session, useless to anyone who cannot read a page of that session. Every
//!   cookie-authenticated request that changes state sends it as `X-CSRF-Token`; bearer-token
//!   requests need none (a browser never attaches a bearer token on its own).
//! - [`SessionCache`] keeps recently checked sessions for [`CACHE_TTL`], keyed by the
//!   secret's SHA-256, so a cookie-authenticated request costs a hash and a map lookup rather
//!   than a database query. Sign-out, revocation, role changes and removal in this process
//!   drop the user's entries at once; a change made by another process on the same database
//!   is seen within [`CACHE_TTL`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap, HeaderValue};
use hmac::{Hmac, Mac};
use ringside_storage::SessionAuth;
use sha2::{Digest, Sha256};

/// The session cookie's name on a server reached over plain `http://` (a laptop).
pub const COOKIE: &str = "ringside_session";
/// The session cookie's name over HTTPS: the `__Host-` prefix makes browsers refuse it unless
/// it is `Secure`, has `Path=/` and no `Domain`, so a sibling subdomain cannot plant one.
pub const SECURE_COOKIE: &str = "__Host-ringside_session";
/// The header cookie-authenticated writes carry the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a checked session is trusted without asking the database again.
pub const CACHE_TTL: Duration = Duration::from_secs(30);
/// Most sessions cached; a full cache is emptied (the next requests refill it).
const MAX_CACHED: usize = 100_000;

/// Whether cookies are `Secure` (and `__Host-`): unless the public URL is plain `http://`.
pub fn secure_cookies(public_url: &str) -> bool {
    !public_url
        .trim_start()
        .get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("http://"))
}

/// The session secret the request's cookies carry, if any: under [`SECURE_COOKIE`] when
/// `secure`, else under [`COOKIE`].
pub fn cookie_secret(headers: &HeaderMap, secure: bool) -> Option<&str> {
    let name = if secure { SECURE_COOKIE } else { COOKIE };
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// `Set-Cookie` for a new session of `max_age`.
pub fn set_cookie(secret: &str, max_age: Duration, secure: bool) -> HeaderValue {
    let (name, attr) = if secure {
        (SECURE_COOKIE, "; Secure")
    } else {
        (COOKIE, "")
    };
    HeaderValue::from_str(&format!(
        "{name}={secret}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{attr}",
        max_age.as_secs()
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("ringside_session=; Max-Age=0"))
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(secure: bool) -> HeaderValue {
    HeaderValue::from_static(if secure {
        "__Host-ringside_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure"
    } else {
        "ringside_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
    })
}

/// The CSRF token of session `session_id` under `key`.
pub fn csrf_token(key: &[u8; 32], session_id: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"ringside-csrf\n");
    mac.update(session_id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `presented` is the CSRF token of `session_id` (constant time).
pub fn csrf_ok(key: &[u8; 32], session_id: &str, presented: Option<&str>) -> bool {
    let Some(presented) = presented else {
        return false;
    };
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"ringside-csrf\n");
    mac.update(session_id.as_bytes());
    match hex::decode(presented.trim()) {
        Ok(bytes) => mac.verify_slice(&bytes).is_ok(),
        Err(_) => false,
    }
}

#[derive(Debug, Clone)]
struct Cached {
    auth: SessionAuth,
    checked: Instant,
}

/// Recently checked sessions (see the module docs).
///
/// A request that read a session from the database just before a sign-out, role change or
/// removal must not put the stale answer back after the change dropped it: every drop bumps
/// an epoch, and [`SessionCache::put`] stores nothing when the epoch moved since the caller's
/// [`SessionCache::epoch`] (taken before its database read).
#[derive(Debug, Default)]
pub struct SessionCache {
    map: Mutex<(HashMap<[u8; 32], Cached>, u64)>,
    /// In a cluster: what is forgotten here is forgotten on the other nodes too.
    cluster: std::sync::OnceLock<std::sync::Arc<crate::realtime::Bus>>,
}

/// The bus event telling the other nodes to forget sessions (`{"sessionId"}` or
/// `{"userId"}`).
pub const FORGET_EVENT: &str = "accounts:forget";

/// The cache key of a secret.
pub fn cache_key(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

impl SessionCache {
    /// The session cached under `key`, when it was checked less than [`CACHE_TTL`] before
    /// `now`.
    pub fn get(&self, key: &[u8; 32], now: Instant) -> Option<SessionAuth> {
        let guard = self.map.lock().unwrap_or_else(|e| e.into_inner());
        guard
            .0
            .get(key)
            .filter(|c| now.saturating_duration_since(c.checked) < CACHE_TTL)
            .map(|c| c.auth.clone())
    }

    /// The current epoch: take it before reading a session from the database.
    pub fn epoch(&self) -> u64 {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).1
    }

    /// Remembers a session just checked against the database, unless something was dropped
    /// since `epoch` (then the answer may be stale).
    pub fn put(&self, key: [u8; 32], auth: SessionAuth, now: Instant, epoch: u64) {
        let mut guard = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if guard.1 != epoch {
            return;
        }
        let map = &mut guard.0;
        if map.len() >= MAX_CACHED {
            map.retain(|_, c| now.saturating_duration_since(c.checked) < CACHE_TTL);
            if map.len() >= MAX_CACHED {
                map.clear();
            }
        }
        map.insert(key, Cached { auth, checked: now });
    }

    /// Joins the cache to the other nodes of a cluster: each forgetting is sent to them
    /// ([`FORGET_EVENT`]), which apply it with [`SessionCache::forget_from_peer`].
    pub fn set_cluster(&self, bus: std::sync::Arc<crate::realtime::Bus>) {
        let _ = self.cluster.set(bus);
    }

    /// Forgets one session, here and on the other nodes.
    pub fn forget_session(&self, session_id: &str) {
        self.forget(|c| c.auth.session_id != session_id);
        self.tell_peers(serde_json::json!({"sessionId": session_id}));
    }

    /// Forgets every session of a user (signed out everywhere, role changed, removed), here
    /// and on the other nodes.
    pub fn forget_user(&self, user_id: &str) {
        self.forget(|c| c.auth.user_id != user_id);
        self.tell_peers(serde_json::json!({"userId": user_id}));
    }

    /// Applies another node's [`FORGET_EVENT`] here (and nowhere else).
    pub fn forget_from_peer(&self, data: &serde_json::Value) {
        if let Some(id) = data["sessionId"].as_str() {
            self.forget(|c| c.auth.session_id != id);
        } else if let Some(id) = data["userId"].as_str() {
            self.forget(|c| c.auth.user_id != id);
        }
    }

    fn forget(&self, keep: impl FnMut(&Cached) -> bool) {
        let mut keep = keep;
        let mut guard = self.map.lock().unwrap_or_else(|e| e.into_inner());
        guard.1 += 1;
        guard.0.retain(|_, c| keep(c));
    }

    fn tell_peers(&self, data: serde_json::Value) {
        if let Some(bus) = self.cluster.get() {
            bus.broadcast_nodes(|| {
                crate::realtime::Event::new(
                    FORGET_EVENT,
                    crate::realtime::Audience::Tenant("nodes"),
                    None,
                    None,
                    data,
                    0,
                )
            });
        }
    }

    /// How many sessions are cached.
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).0.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringside_storage::Role;

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; b=2"));
        assert_eq!(cookie_secret(&h, false), None);
        h.append(
            header::COOKIE,
            HeaderValue::from_static("x=y; ringside_session=ringside_ses_abc ; z=1"),
        );
        assert_eq!(cookie_secret(&h, false), Some("ringside_ses_abc"));
        // Over HTTPS only the __Host- cookie counts (a plain one may have been planted).
        assert_eq!(cookie_secret(&h, true), None);
        h.append(
            header::COOKIE,
            HeaderValue::from_static("__Host-ringside_session=ringside_ses_def"),
        );
        assert_eq!(cookie_secret(&h, true), Some("ringside_ses_def"));
        let c = set_cookie("s", Duration::from_secs(60), true);
        assert_eq!(
            c.to_str().unwrap(),
            "__Host-ringside_session=s; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure"
        );
        assert!(secure_cookies("https://x.example"));
        assert!(!secure_cookies("HTTP://127.0.0.1:8080"));
        assert!(!clear_cookie(false).to_str().unwrap().contains("Secure"));
    }

    #[test]
    fn csrf_tokens_bind_a_session_and_a_key() {
        let k1 = [1u8; 32];
        let k2 = [2u8; 32];
        let t = csrf_token(&k1, "s1");
        assert!(csrf_ok(&k1, "s1", Some(&t)));
        assert!(!csrf_ok(&k1, "s2", Some(&t)));
        assert!(!csrf_ok(&k2, "s1", Some(&t)));
        assert!(!csrf_ok(&k1, "s1", None));
        assert!(!csrf_ok(&k1, "s1", Some("zz")));
        assert!(!csrf_ok(&k1, "s1", Some(&t[..10])));
    }

    #[test]
    fn the_cache_expires_and_forgets() {
        let c = SessionCache::default();
        let t0 = Instant::now();
        let auth = |s: &str, u: &str| SessionAuth {
            session_id: s.into(),
            user_id: u.into(),
            tenant_id: "t".into(),
            role: Role::Agent,
            widgets: None,
        };
        let (k1, k2) = (cache_key("a"), cache_key("b"));
        // A read that began before a drop does not come back.
        let before = c.epoch();
        c.forget_user("u9");
        c.put(k1, auth("s1", "u1"), t0, before);
        assert!(c.get(&k1, t0).is_none());
        c.put(k1, auth("s1", "u1"), t0, c.epoch());
        c.put(k2, auth("s2", "u2"), t0, c.epoch());
        assert_eq!(c.get(&k1, t0).unwrap().session_id, "s1");
        assert!(c.get(&k1, t0 + CACHE_TTL).is_none());
        c.forget_user("u1");
        assert!(c.get(&k1, t0).is_none());
        c.forget_session("s2");
        assert!(c.is_empty());
    }

    #[test]
    fn in_a_cluster_what_one_node_forgets_every_node_forgets() {
        #[derive(Debug, Default)]
        struct Peers(Mutex<Vec<serde_json::Value>>);
        impl ringside_domain::bus::Remote for Peers {
            fn node_id(&self) -> &str {
                "a"
            }
            fn publish(&self, _: &str, _: &std::sync::Arc<crate::realtime::Event>) {}
            fn interest(&self, _: &str, _: bool) {}
            fn send_to_node(&self, _: &str, _: &str, _: &std::sync::Arc<crate::realtime::Event>) {}
            fn broadcast(&self, e: &std::sync::Arc<crate::realtime::Event>) {
                assert_eq!(e.kind, FORGET_EVENT);
                self.0.lock().unwrap().push(e.data.clone());
            }
        }
        let bus = std::sync::Arc::new(crate::realtime::Bus::default());
        let peers = std::sync::Arc::new(Peers::default());
        bus.set_remote(peers.clone());
        let here = SessionCache::default();
        here.set_cluster(bus);
        here.forget_session("s1");
        here.forget_user("u2");
        let sent = peers.0.lock().unwrap().clone();
        assert_eq!(
            sent,
            [
                serde_json::json!({"sessionId": "s1"}),
                serde_json::json!({"userId": "u2"})
            ]
        );
        // The other node applies them (and sends nothing on).
        let there = SessionCache::default();
        let t0 = Instant::now();
        let auth = |s: &str, u: &str| SessionAuth {
            session_id: s.into(),
            user_id: u.into(),
            tenant_id: "t".into(),
            role: Role::Agent,
            widgets: None,
        };
        there.put(cache_key("a"), auth("s1", "u1"), t0, there.epoch());
        there.put(cache_key("b"), auth("s3", "u2"), t0, there.epoch());
        there.put(cache_key("c"), auth("s4", "u4"), t0, there.epoch());
        for d in &sent {
            there.forget_from_peer(d);
        }
        assert_eq!(there.len(), 1);
        assert!(there.get(&cache_key("c"), t0).is_some());
    }
}
