//! The digest guard shared by the registrar (401) and the B2BUA (407): checks credentials
//! against an [`AccountLookup`], issues RFC 8760 challenges (SHA-256 and MD5, in a configurable
//! order), refuses replays and throttles sources that keep failing.
//!
//! Replay protection (RFC 7616 §5.10, RFC 3261 §22.4):
//! - a nonce is bound to the IP address it was issued to (NAT-safe: ports are not bound), and
//!   lives [`DigestGuard::nonce_lifetime_secs`] (30 s by default);
//! - the credentials' `uri` must be the Request-URI and the response is computed over the
//!   request's method, so a captured INVITE cannot be sent to another number;
//! - with `qop=auth` the nonce count must grow strictly per nonce; a nonce answered without
//!   `qop` is good once;
//! - a reused nonce, or one issued to another address, is re-challenged with `stale=true`, so an
//!   honest client simply answers again.
//!
//! Throttling counts wrong credentials per (source IP, username), with a ceiling per source IP
//! across usernames: after `max_failures` failures for one username within `window_secs`, that
//! username is refused from that source with 403 without any check; after five times that many
//! over all usernames, the source is refused altogether. Correct credentials (even when refused
//! as a replay) never count, and a success clears that username's count for the source.

use std::collections::HashMap;
use std::net::IpAddr;

use rsip::headers::{self, Header, UntypedHeader};
use rsip::{Request, Response};

use super::{
    challenge_headers, parse_authorization, verify, Algorithm, Credentials, NonceCheck,
    NonceManager,
};
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
    /// The algorithms this account challenges with and answers in, in challenge order; empty
    /// for the server's (a phone that gives up on a challenge it cannot answer is set to MD5
    /// alone without weakening every other account).
    pub algorithms: Vec<Algorithm>,
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
    /// No (usable) credentials, a stale or reused nonce: send a challenge.
    Challenge {
        /// Whether to say `stale=true`: the credentials may be right but the nonce cannot be
        /// used (expired, already used, or issued to another address).
        stale: bool,
    },
    /// Credentials were given and are wrong (or for an unknown user), or right but for another
    /// Request-URI.
    Forbidden,
    /// The source failed too often recently; refused without checking.
    Throttled,
}

/// Failure counting per (source, username) and per source.
#[derive(Debug)]
struct Throttle {
    window_secs: u64,
    max_failures: u32,
    /// (Source, username) → (window start, failures in that window).
    per_user: HashMap<(IpAddr, String), (u64, u32)>,
    /// Source → (window start, failures in that window), over all usernames.
    per_source: HashMap<IpAddr, (u64, u32)>,
}

/// How many times `max_failures` one source may fail over all usernames.
const SOURCE_CEILING_FACTOR: u32 = 5;
/// Entries kept before lapsed ones are swept.
const SWEEP_AT: usize = 100_000;

fn over(entry: Option<&(u64, u32)>, now: u64, window: u64, limit: u32) -> bool {
    entry.is_some_and(|(start, n)| now.saturating_sub(*start) < window && *n >= limit)
}

fn bump<K: std::hash::Hash + Eq>(map: &mut HashMap<K, (u64, u32)>, key: K, now: u64, window: u64) {
    if map.len() > SWEEP_AT {
        map.retain(|_, (start, _)| now.saturating_sub(*start) < window);
    }
    let e = map.entry(key).or_insert((now, 0));
    if now.saturating_sub(e.0) >= window {
        *e = (now, 0);
    }
    e.1 += 1;
}

impl Throttle {
    fn source_blocked(&self, ip: IpAddr, now: u64) -> bool {
        over(
            self.per_source.get(&ip),
            now,
            self.window_secs,
            self.max_failures.saturating_mul(SOURCE_CEILING_FACTOR),
        )
    }

    fn user_blocked(&self, ip: IpAddr, user: &str, now: u64) -> bool {
        over(
            self.per_user.get(&(ip, user.to_owned())),
            now,
            self.window_secs,
            self.max_failures,
        )
    }

    fn fail(&mut self, ip: IpAddr, user: &str, now: u64) {
        let w = self.window_secs;
        bump(&mut self.per_user, (ip, user.to_owned()), now, w);
        bump(&mut self.per_source, ip, now, w);
    }

    fn succeed(&mut self, ip: IpAddr, user: &str) {
        self.per_user.remove(&(ip, user.to_owned()));
    }
}

/// What a used nonce has been used for.
#[derive(Debug, Clone, Copy)]
struct NonceUse {
    /// When the entry may be dropped (the nonce is stale by then anyway).
    expires: u64,
    /// Highest nonce count accepted (0 when answered without `qop`).
    nc: u32,
}

/// Nonces that authenticated a request, keyed by their HMAC (the part a client cannot forge).
#[derive(Debug, Default)]
struct NonceUses {
    map: HashMap<u128, NonceUse>,
}

impl NonceUses {
    fn key(nonce: &str) -> Option<u128> {
        // hex(ts: 8 bytes) || hex(salt: 8 bytes) || hex(tag: 32 bytes): 16 bytes of the tag
        // identify the nonce (salt and timestamp are in its input).
        u128::from_str_radix(nonce.get(32..64)?, 16).ok()
    }

    /// Record a use of `nonce` with nonce count `nc` (`None`: no `qop`); false when that is a
    /// replay (count not above the last one, or a second use of a no-`qop` nonce).
    fn admit(&mut self, nonce: &str, nc: Option<u32>, now: u64, expires: u64) -> bool {
        let Some(key) = Self::key(nonce) else {
            return false;
        };
        if self.map.len() > SWEEP_AT {
            self.map.retain(|_, u| u.expires >= now);
        }
        match (self.map.get_mut(&key), nc) {
            (Some(_), None) => false,
            (Some(u), Some(n)) => {
                if u.nc == 0 || n <= u.nc {
                    // A no-qop use is final; counts must grow strictly.
                    return false;
                }
                u.nc = n;
                true
            }
            (None, n) => {
                self.map.insert(
                    key,
                    NonceUse {
                        expires,
                        nc: n.unwrap_or(0),
                    },
                );
                true
            }
        }
    }

    fn sweep(&mut self, now: u64) {
        self.map.retain(|_, u| u.expires >= now);
    }
}

/// The address bytes a nonce is bound to (IPv4-mapped IPv6 counted as IPv4).
fn binding(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.octets().to_vec(),
            None => v6.octets().to_vec(),
        },
    }
}

/// Whether the digest-uri names the same resource as the Request-URI: the same text, or the
/// same scheme, user, host and port (parameters and headers aside; a missing port is 5060, or
/// 5061 for `sips`).
pub fn digest_uri_matches(digest_uri: &str, request_uri: &str) -> bool {
    let (a, b) = (digest_uri.trim(), request_uri.trim());
    if a == b {
        return true;
    }
    match (uri_key(a), uri_key(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// (scheme, user, host, port) of a SIP URI, scheme and host lowercased.
fn uri_key(uri: &str) -> Option<(String, String, String, u16)> {
    let (scheme, rest) = uri.split_once(':')?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "sip" && scheme != "sips" {
        return (scheme == "tel").then(|| {
            let num = rest.split(';').next().unwrap_or(rest);
            (scheme, num.to_string(), String::new(), 0)
        });
    }
    let (user, hostport) = match rest.find('@') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => ("", rest),
    };
    let user = user.split(':').next().unwrap_or(user);
    let hostport = hostport.split([';', '?']).next().unwrap_or(hostport);
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let end = v6.find(']')?;
        let port = v6[end + 1..].strip_prefix(':');
        (&v6[..end], port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let default = if scheme == "sips" { 5061 } else { 5060 };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => default,
    };
    Some((scheme, user.to_string(), host.to_ascii_lowercase(), port))
}

/// Checks digest credentials and issues challenges, for REGISTER (401) and INVITE (407).
#[derive(Debug)]
pub struct DigestGuard {
    nonces: NonceManager,
    uses: NonceUses,
    last_sweep: u64,
    realm: String,
    algorithms: Vec<Algorithm>,
    throttle: Throttle,
}

/// What checking one credentials header found.
enum Verdict {
    /// Valid: this account, having used this nonce with this count.
    Valid(Account),
    /// Try the next header; `stale` when the nonce is the problem.
    Skip { stale: bool },
    /// Wrong credentials (counted against the source).
    Wrong,
    /// Right credentials for another Request-URI or method (not counted).
    Misdirected,
}

impl DigestGuard {
    /// A guard issuing nonces signed with `secret`, valid for `nonce_lifetime_secs`.
    pub fn new(realm: String, secret: [u8; 32], nonce_lifetime_secs: u64) -> Self {
        DigestGuard {
            nonces: NonceManager::new(secret, nonce_lifetime_secs),
            uses: NonceUses::default(),
            last_sweep: 0,
            realm,
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
            throttle: Throttle {
                window_secs: 60,
                max_failures: 10,
                per_user: HashMap::new(),
                per_source: HashMap::new(),
            },
        }
    }

    /// Refuse a (source, username) after `max_failures` bad credentials within `window_secs`
    /// (and a source after five times that many over all usernames).
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

    /// How long a nonce may be answered.
    pub fn nonce_lifetime_secs(&self) -> u64 {
        self.nonces.lifetime_secs()
    }

    /// Nonces remembered as used (for metrics and memory checks).
    pub fn used_nonces(&self) -> usize {
        self.uses.map.len()
    }

    /// Check the `Authorization` (or `Proxy-Authorization` when `proxy`) header of `req`, sent
    /// from `source`. Wrong credentials count against (source, username).
    pub fn check(
        &mut self,
        req: &Request,
        proxy: bool,
        now_secs: u64,
        source: IpAddr,
        lookup: &impl AccountLookup,
    ) -> DigestOutcome {
        if now_secs.saturating_sub(self.last_sweep) >= self.nonces.lifetime_secs().max(1) {
            self.uses.sweep(now_secs);
            self.last_sweep = now_secs;
        }
        if self.throttle.source_blocked(source, now_secs) {
            return DigestOutcome::Throttled;
        }
        let mut stale = false;
        for creds in credentials(req, proxy) {
            if creds.realm != self.realm {
                continue;
            }
            if self
                .throttle
                .user_blocked(source, &creds.username, now_secs)
            {
                return DigestOutcome::Throttled;
            }
            match self.verify_one(req, &creds, now_secs, source, lookup) {
                Verdict::Valid(account) => {
                    self.throttle.succeed(source, &creds.username);
                    return DigestOutcome::Authenticated(account);
                }
                Verdict::Skip { stale: s } => stale |= s,
                Verdict::Wrong => {
                    self.throttle.fail(source, &creds.username, now_secs);
                    return DigestOutcome::Forbidden;
                }
                Verdict::Misdirected => return DigestOutcome::Forbidden,
            }
        }
        DigestOutcome::Challenge { stale }
    }

    fn verify_one(
        &mut self,
        req: &Request,
        creds: &Credentials,
        now_secs: u64,
        source: IpAddr,
        lookup: &impl AccountLookup,
    ) -> Verdict {
        let nonce = self
            .nonces
            .check_for(&creds.nonce, now_secs, &binding(source));
        let account = lookup.account(&creds.username);
        if !self
            .algorithms_of(account.as_ref())
            .contains(&creds.algorithm)
        {
            return Verdict::Skip { stale: false };
        }
        let Some(account) = account else {
            return match nonce {
                NonceCheck::Valid => Verdict::Wrong,
                _ => Verdict::Skip { stale: false },
            };
        };
        let ha1 = match creds.algorithm {
            Algorithm::Md5 => &account.ha1_md5,
            Algorithm::Sha256 => &account.ha1_sha256,
        };
        let method = req.method.to_string();
        let right = account.realm == self.realm && verify(creds, &method, ha1);
        match nonce {
            NonceCheck::Valid => {}
            // An expired nonce, or one issued to another address (a client that moved, or a
            // replay from elsewhere): re-challenge, saying stale when the password was right.
            NonceCheck::Stale | NonceCheck::Invalid => return Verdict::Skip { stale: right },
        }
        if !right {
            return Verdict::Wrong;
        }
        if !digest_uri_matches(&creds.uri, &req.uri.to_string()) {
            return Verdict::Misdirected;
        }
        let nc = match &creds.nc {
            Some(nc) => match u32::from_str_radix(nc, 16) {
                Ok(n) if n > 0 => Some(n),
                _ => return Verdict::Skip { stale: true },
            },
            None => None,
        };
        let issued = creds
            .nonce
            .get(..16)
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .unwrap_or(now_secs);
        let expires = issued.saturating_add(self.nonces.lifetime_secs());
        if !self.uses.admit(&creds.nonce, nc, now_secs, expires) {
            return Verdict::Skip { stale: true };
        }
        Verdict::Valid(account)
    }

    /// The algorithms `account` is challenged with and may answer in: its own, else the
    /// server's.
    fn algorithms_of<'a>(&'a self, account: Option<&'a Account>) -> &'a [Algorithm] {
        match account {
            Some(a) if !a.algorithms.is_empty() => &a.algorithms,
            _ => &self.algorithms,
        }
    }

    /// A 401 (`proxy == false`) or 407 response challenging `req` from `source`. The account
    /// the request names (the To user of a REGISTER, the From user otherwise) decides the
    /// algorithms when it has its own.
    pub fn challenge(
        &self,
        req: &Request,
        proxy: bool,
        stale: bool,
        now_secs: u64,
        source: IpAddr,
        lookup: &impl AccountLookup,
    ) -> Response {
        let code = if proxy { 407 } else { 401 };
        let mut resp = make_response(req, code.into(), Some(&crate::message::new_tag()));
        let nonce = self.nonces.issue_for(now_secs, &binding(source));
        let all = challenge_headers(&self.realm, &nonce, stale);
        let named = if req.method == rsip::Method::Register {
            "To"
        } else {
            "From"
        };
        let account = crate::hdr::header_value(&req.headers, named)
            .map(crate::hdr::uri_part)
            .and_then(crate::hdr::uri_user)
            .and_then(|u| lookup.account(u));
        let ordered = self
            .algorithms_of(account.as_ref())
            .iter()
            .filter_map(|alg| {
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

/// The parsable digest credentials of `req`'s `Authorization` (or `Proxy-Authorization`).
fn credentials(req: &Request, proxy: bool) -> Vec<Credentials> {
    let name = if proxy {
        "Proxy-Authorization"
    } else {
        "Authorization"
    };
    req.headers
        .iter()
        .filter_map(|h| match (h, proxy) {
            (Header::Authorization(v), false) => Some(v.value()),
            (Header::ProxyAuthorization(v), true) => Some(v.value()),
            (Header::Other(n, v), _) if n.eq_ignore_ascii_case(name) => Some(v.as_str()),
            _ => None,
        })
        .filter_map(|v| parse_authorization(v).ok())
        .collect()
}

/// Whether `req` carries digest credentials (`Proxy-Authorization` when `proxy`) for `realm`.
pub fn has_credentials(req: &Request, proxy: bool, realm: &str) -> bool {
    credentials(req, proxy).iter().any(|c| c.realm == realm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{client_authorization, ha1};

    struct Accounts(Vec<Account>);

    impl AccountLookup for Accounts {
        fn account(&self, username: &str) -> Option<Account> {
            self.0.iter().find(|a| a.username == username).cloned()
        }
    }

    fn account(user: &str, algorithms: Vec<Algorithm>) -> Account {
        Account {
            id: format!("id-{user}"),
            tenant_id: "t".into(),
            username: user.into(),
            realm: "ringside".into(),
            ha1_md5: ha1(Algorithm::Md5, user, "ringside", "secret-pw"),
            ha1_sha256: ha1(Algorithm::Sha256, user, "ringside", "secret-pw"),
            algorithms,
        }
    }

    fn register(user: &str, auth: Option<&str>) -> Request {
        let mut text = format!(
            "REGISTER sip:ringside SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK{user}\r\n\
             From: <sip:{user}@ringside>;tag=1\r\nTo: <sip:{user}@ringside>\r\n\
             Call-ID: c-{user}\r\nCSeq: 1 REGISTER\r\nContact: <sip:{user}@192.0.2.1>\r\n"
        );
        if let Some(a) = auth {
            text.push_str(&format!("Authorization: {a}\r\n"));
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        match crate::message::parse(text.as_bytes()).unwrap() {
            rsip::SipMessage::Request(r) => r,
            _ => unreachable!(),
        }
    }

    fn challenges(r: &Response) -> Vec<String> {
        r.headers
            .iter()
            .filter_map(|h| match h {
                Header::WwwAuthenticate(v) => Some(v.value().to_owned()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn an_account_may_have_its_own_algorithms() {
        let accounts = Accounts(vec![
            account("old-phone", vec![Algorithm::Md5]),
            account("modern", vec![]),
            account("strict", vec![Algorithm::Sha256]),
        ]);
        let mut guard = DigestGuard::new("ringside".into(), [9; 32], 30);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let algs = |r: &Response| -> Vec<String> {
            challenges(r)
                .iter()
                .map(|c| parse_challenge_alg(c))
                .collect()
        };
        // The server's order for an account without its own, and for unknown users (so the
        // challenge says nothing of whether a username exists).
        for user in ["modern", "nobody"] {
            let r = guard.challenge(&register(user, None), false, false, 100, ip, &accounts);
            assert_eq!(algs(&r), ["SHA-256", "MD5"], "{user}");
        }
        let r = guard.challenge(
            &register("old-phone", None),
            false,
            false,
            100,
            ip,
            &accounts,
        );
        assert_eq!(algs(&r), ["MD5"]);
        let r = guard.challenge(&register("strict", None), false, false, 100, ip, &accounts);
        assert_eq!(algs(&r), ["SHA-256"]);

        // The MD5-only phone answers its MD5 challenge and is in.
        let md5 = &challenges(&guard.challenge(
            &register("old-phone", None),
            false,
            false,
            100,
            ip,
            &accounts,
        ))[0];
        let a = client_authorization(
            md5,
            "REGISTER",
            "sip:ringside",
            "old-phone",
            "secret-pw",
            1,
            "c1",
        )
        .unwrap();
        assert!(matches!(
            guard.check(&register("old-phone", Some(&a)), false, 100, ip, &accounts),
            DigestOutcome::Authenticated(acct) if acct.username == "old-phone"
        ));
        // An account held to SHA-256 is not let in by an MD5 answer, even a right one: it is
        // challenged again (in SHA-256).
        let server_md5 = challenges(&guard.challenge(
            &register("modern", None),
            false,
            false,
            101,
            ip,
            &accounts,
        ))
        .into_iter()
        .find(|c| c.contains("MD5"))
        .unwrap();
        let a = client_authorization(
            &server_md5,
            "REGISTER",
            "sip:ringside",
            "strict",
            "secret-pw",
            1,
            "c2",
        )
        .unwrap();
        assert!(matches!(
            guard.check(&register("strict", Some(&a)), false, 101, ip, &accounts),
            DigestOutcome::Challenge { .. }
        ));
        // ... and SHA-256 works.
        let sha = &challenges(&guard.challenge(
            &register("strict", None),
            false,
            false,
            102,
            ip,
            &accounts,
        ))[0];
        let a = client_authorization(
            sha,
            "REGISTER",
            "sip:ringside",
            "strict",
            "secret-pw",
            1,
            "c3",
        )
        .unwrap();
        assert!(matches!(
            guard.check(&register("strict", Some(&a)), false, 102, ip, &accounts),
            DigestOutcome::Authenticated(_)
        ));
        // An account of the server's choice answers either.
        let a = client_authorization(
            &server_md5,
            "REGISTER",
            "sip:ringside",
            "modern",
            "secret-pw",
            1,
            "c4",
        )
        .unwrap();
        assert!(matches!(
            guard.check(&register("modern", Some(&a)), false, 101, ip, &accounts),
            DigestOutcome::Authenticated(_)
        ));
    }

    fn parse_challenge_alg(c: &str) -> String {
        crate::auth::parse_challenge(c)
            .unwrap()
            .algorithm
            .name()
            .to_owned()
    }

    #[test]
    fn digest_uri_comparison() {
        let yes = [
            ("sip:1002@127.0.0.1:5060", "sip:1002@127.0.0.1:5060"),
            ("sip:1002@127.0.0.1", "sip:1002@127.0.0.1:5060"),
            ("sip:1002@Example.COM;transport=udp", "sip:1002@example.com"),
            ("sips:1002@h", "sips:1002@h:5061"),
            ("sip:1002@[::1]:5070", "sip:1002@[::1]:5070;transport=tcp"),
            ("sip:127.0.0.1:5060", "sip:127.0.0.1"),
            ("tel:+14155550123", "tel:+14155550123;phone-context=x"),
        ];
        for (a, b) in yes {
            assert!(digest_uri_matches(a, b), "{a} vs {b}");
        }
        let no = [
            ("sip:1002@127.0.0.1:5060", "sip:+14155550123@127.0.0.1:5060"),
            ("sip:1002@127.0.0.1:5060", "sip:1002@127.0.0.1:5070"),
            ("sip:1002@127.0.0.1", "sips:1002@127.0.0.1"),
            ("sip:1002@a", "sip:1002@b"),
            ("sip:1002@a", "garbage"),
            ("sip:1002@[::1", "sip:1002@[::1]"),
        ];
        for (a, b) in no {
            assert!(!digest_uri_matches(a, b), "{a} vs {b}");
        }
    }

    #[test]
    fn nonce_counts_must_grow_and_no_qop_nonces_are_single_use() {
        let m = NonceManager::new([3; 32], 30);
        let mut uses = NonceUses::default();
        let n = m.issue(100);
        assert!(uses.admit(&n, Some(1), 100, 130));
        assert!(!uses.admit(&n, Some(1), 100, 130), "same count again");
        assert!(uses.admit(&n, Some(3), 101, 130), "counts may skip");
        assert!(!uses.admit(&n, Some(2), 101, 130), "never backwards");
        assert!(!uses.admit(&n, None, 101, 130), "qop dropped");
        let n2 = m.issue(101);
        assert!(uses.admit(&n2, None, 101, 131));
        assert!(!uses.admit(&n2, None, 101, 131), "single use");
        assert!(!uses.admit(&n2, Some(5), 101, 131), "no-qop use is final");
        assert!(!uses.admit("short", Some(1), 101, 131));
        uses.sweep(131);
        assert_eq!(uses.map.len(), 1, "the first nonce lapsed at 130");
        uses.sweep(132);
        assert!(uses.map.is_empty());
    }

    #[test]
    fn nonces_are_bound_to_the_address() {
        let m = NonceManager::new([3; 32], 30);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let n = m.issue_for(10, &binding(a));
        assert_eq!(m.check_for(&n, 11, &binding(a)), NonceCheck::Valid);
        assert_eq!(m.check_for(&n, 11, &binding(mapped)), NonceCheck::Valid);
        assert_eq!(m.check_for(&n, 11, &binding(b)), NonceCheck::Invalid);
        assert_eq!(m.check(&n, 11), NonceCheck::Invalid);
    }
}
