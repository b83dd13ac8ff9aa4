//! Fuzzes the whole digest check a request goes through (`DigestGuard::check`): any datagram
//! that parses as a request, with any credentials, is checked twice against one account
//! (nonce-use table, Request-URI binding, throttle) without panicking, and never
//! authenticates: the fuzzer cannot know the account's password.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringside_sip::auth::{digest_uri_matches, Account, AccountLookup, DigestGuard, DigestOutcome};

struct One(Account);

impl AccountLookup for One {
    fn account(&self, username: &str) -> Option<Account> {
        (username == self.0.username).then(|| self.0.clone())
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(rsip::SipMessage::Request(req)) = ringside_sip::message::parse(data) else {
        return;
    };
    let account = One(Account {
        id: "e1".into(),
        tenant_id: "t1".into(),
        username: "1001".into(),
        realm: "ringside".into(),
        ha1_md5: "0123456789abcdef0123456789abcdef".into(),
        ha1_sha256: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".into(),
        algorithms: Vec::new(),
    });
    let mut guard = DigestGuard::new("ringside".into(), [7; 32], 30);
    let source = std::net::IpAddr::from([192, 0, 2, 1]);
    for (proxy, now) in [(false, 1_700_000_000), (true, 1_700_000_001)] {
        let out = guard.check(&req, proxy, now, source, &account);
        assert!(!matches!(out, DigestOutcome::Authenticated(_)), "{out:?}");
    }
    if let Ok(s) = std::str::from_utf8(data) {
        // Split near the middle, on a character boundary.
        let (a, b) = s.split_at(s.floor_char_boundary(s.len() / 2));
        let _ = digest_uri_matches(a, b);
    }
});
