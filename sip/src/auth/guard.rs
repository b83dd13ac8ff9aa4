//! The digest guard shared by the registrar (401) and the B2BUA (407): checks credentials
//! against an [`AccountLookup`], issues RFC 8760 challenges (SHA-256 and MD5, in a configurable
//! order), and throttles sources that keep failing (brute force and toll-fraud scanners): after
//! `max_failures` bad credentials within `window_secs`, a source IP is refused with 403 without
//! any check until its window lapses.

use std::collections::HashMap;
use std::net::IpAddr;

use rsip::headers::{self, Header, UntypedHeader};
use rsip::{Request, Response};

use super::{challenge_headers, parse_authorization, verify, Algorithm, NonceCheck, NonceManager};
use crate::message::make_response;

/// What the digest guard needs to know of an account.
#[derive(Debug, Clone)]
pub struct Account {
    /// Storage id of the extension or trunk.
    pub id: String,
    /// Tenant owning it.
    pub tenant_id: String,
    /// Digest username.
    pub username: String,
    /// Realm the HA1 values were computed for.
    pub realm: String,
    /// HA1 with MD5.
    pub ha1_md5: String,
    /// HA1 with SHA-256.
    pub ha1_sha256: String,
}

/// Finds accounts by digest username.
pub trait AccountLookup {
    /// The account with this digest username, if any.
    fn account(&self, username: &str) -> Option<Account>;
}

/// Result of checking a request's digest credentials.
#[derive(Debug)]
pub enum DigestOutcome {
    /// Credentials are valid for this account.
    Authenticated(Account),
    /// No (usable) credentials, or a stale nonce: send a challenge.
    Challenge {
        /// Whether the nonce was genuine but expired (`stale=true`).
        stale: bool,
    },
    /// Credentials were given and are wrong (or for an unknown user).
    Forbidden,
    /// The source failed too often recently; refused without checking.
    Throttled,
}

/// Per-source failure counting.
#[derive(Debug)]
struct Throttle {
    window_secs: u64,
    max_failures: u32,
    /// Source → (window start, failures in that window).
    entries: HashMap<IpAddr, (u64, u32)>,
}

impl Throttle {
    fn blocked(&self, ip: IpAddr, now: u64) -> bool {
        self.entries.get(&ip).is_some_and(|(start, n)| {
            now.saturating_sub(*start) < self.window_secs && *n >= self.max_failures
        })
    }

    fn fail(&mut self, ip: IpAddr, now: u64) {
        if self.entries.len() > 100_000 {
            let w = self.window_secs;
            self.entries
                .retain(|_, (start, _)| now.saturating_sub(*start) < w);
        }
        let e = self.entries.entry(ip).or_insert((now, 0));
        if now.saturating_sub(e.0) >= self.window_secs {
            *e = (now, 0);
        }
        e.1 += 1;
    }
}

/// Checks digest credentials and issues challenges, for REGISTER (401) and INVITE (407).
#[derive(Debug)]
pub struct DigestGuard {
    nonces: NonceManager,
    realm: String,
    algorithms: Vec<Algorithm>,
    throttle: Throttle,
}

impl DigestGuard {
    /// A guard issuing nonces signed with `secret`, valid for `nonce_lifetime_secs`.
    pub fn new(realm: String, secret: [u8; 32], nonce_lifetime_secs: u64) -> Self {
        DigestGuard {
            nonces: NonceManager::new(secret, nonce_lifetime_secs),
            realm,
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
            throttle: Throttle {
                window_secs: 60,
                max_failures: 10,
                entries: HashMap::new(),
            },
        }
    }

    /// Refuse a source after `max_failures` bad credentials within `window_secs`.
    pub fn with_throttle(mut self, max_failures: u32, window_secs: u64) -> Self {
        self.throttle.max_failures = max_failures.max(1);
        self.throttle.window_secs = window_secs;
        self
    }

    /// Offer (and accept) only these algorithms, challenging in this order. RFC 8760 prefers
    /// SHA-256 first; some clients (sipp, older phones) only read the first challenge, so the
    /// order is a setting.
    pub fn with_algorithms(mut self, algorithms: Vec<Algorithm>) -> Self {
        if !algorithms.is_empty() {
            self.algorithms = algorithms;
        }
        self
    }

    /// The realm challenges carry.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// Check the `Authorization` (or `Proxy-Authorization` when `proxy`) header of `req`, sent
    /// from `source`. Wrong credentials count against the source.
    pub fn check(
        &mut self,
        req: &Request,
        proxy: bool,
        now_secs: u64,
        source: IpAddr,
        lookup: &impl AccountLookup,
    ) -> DigestOutcome {
        if self.throttle.blocked(source, now_secs) {
            return DigestOutcome::Throttled;
        }
        let outcome = self.verify_request(req, proxy, now_secs, lookup);
        if matches!(outcome, DigestOutcome::Forbidden) {
            self.throttle.fail(source, now_secs);
        }
        outcome
    }

    fn verify_request(
        &self,
        req: &Request,
        proxy: bool,
        now_secs: u64,
        lookup: &impl AccountLookup,
    ) -> DigestOutcome {
        let name = if proxy {
            "Proxy-Authorization"
        } else {
            "Authorization"
        };
        let values = req.headers.iter().filter_map(|h| match (h, proxy) {
            (Header::Authorization(v), false) => Some(v.value()),
            (Header::ProxyAuthorization(v), true) => Some(v.value()),
            (Header::Other(n, v), _) if n.eq_ignore_ascii_case(name) => Some(v.as_str()),
            _ => None,
        });
        let mut stale = false;
        let mut any = false;
        for value in values {
            let Ok(creds) = parse_authorization(value) else {
                continue;
            };
            if creds.realm != self.realm {
                continue;
            }
            any = true;
            match self.nonces.check(&creds.nonce, now_secs) {
                NonceCheck::Valid => {}
                NonceCheck::Stale => {
                    stale = true;
                    continue;
                }
                NonceCheck::Invalid => continue,
            }
            if !self.algorithms.contains(&creds.algorithm) {
                continue;
            }
            let Some(account) = lookup.account(&creds.username) else {
                return DigestOutcome::Forbidden;
            };
            let ha1 = match creds.algorithm {
                Algorithm::Md5 => &account.ha1_md5,
                Algorithm::Sha256 => &account.ha1_sha256,
            };
            if account.realm == self.realm && verify(&creds, req.method.to_string().as_str(), ha1) {
                return DigestOutcome::Authenticated(account);
            }
            return DigestOutcome::Forbidden;
        }
        if any && !stale {
            // Credentials for our realm whose nonce we never issued: challenge again.
            return DigestOutcome::Challenge { stale: false };
        }
        DigestOutcome::Challenge { stale }
    }

    /// A 401 (`proxy == false`) or 407 response challenging `req`.
    pub fn challenge(&self, req: &Request, proxy: bool, stale: bool, now_secs: u64) -> Response {
        let code = if proxy { 407 } else { 401 };
        let mut resp = make_response(req, code.into(), Some(&crate::message::new_tag()));
        let nonce = self.nonces.issue(now_secs);
        let all = challenge_headers(&self.realm, &nonce, stale);
        let ordered = self.algorithms.iter().filter_map(|alg| {
            let tag = format!("algorithm={},", alg.name());
            all.iter().find(|v| v.contains(&tag)).cloned()
        });
        for v in ordered {
            resp.headers.push(if proxy {
                Header::ProxyAuthenticate(headers::ProxyAuthenticate::new(v))
            } else {
                Header::WwwAuthenticate(headers::WwwAuthenticate::new(v))
            });
        }
        resp
    }
}
