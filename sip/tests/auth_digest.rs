//! Digest authentication: known vectors, UAC→UAS round trips, nonce handling
//! and parser robustness.

use proptest::prelude::*;
use ringside_sip::auth::{
    challenge_headers, client_authorization, compute_response, ha1, parse_authorization,
    parse_challenge, pick_challenge, verify, Algorithm, AuthError, NonceCheck, NonceManager,
};

/// RFC 2617 §3.5 example (MD5, qop=auth).
#[test]
fn rfc2617_mufasa_authorization_header() {
    let value = r#"Digest username="Mufasa",
                 realm="testrealm@host.com",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 uri="/dir/index.html",
                 qop=auth,
                 nc=00000001,
                 cnonce="0a4f113b",
                 response="6629fae49393a05397450978507c4ef1",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
    let creds = parse_authorization(value).unwrap();
    assert_eq!(creds.username, "Mufasa");
    assert_eq!(creds.algorithm, Algorithm::Md5);
    assert_eq!(creds.qop.as_deref(), Some("auth"));
    assert_eq!(
        creds.opaque.as_deref(),
        Some("5ccc069c403ebaf9f0171e9517f40e41")
    );
    let h1 = ha1(
        Algorithm::Md5,
        "Mufasa",
        "testrealm@host.com",
        "Circle Of Life",
    );
    assert!(verify(&creds, "GET", &h1));
    assert!(!verify(&creds, "POST", &h1));
    let wrong = ha1(
        Algorithm::Md5,
        "Mufasa",
        "testrealm@host.com",
        "circle of life",
    );
    assert!(!verify(&creds, "GET", &wrong));
}

/// RFC 7616 §3.9.1 example (SHA-256 and MD5 responses for the same request).
#[test]
fn rfc7616_sha256_vector() {
    let nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
    let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
    let realm = "http-auth@example.org";
    let qop = Some(("00000001", cnonce, "auth"));
    let h1 = ha1(Algorithm::Sha256, "Mufasa", realm, "Circle of Life");
    assert_eq!(
        compute_response(Algorithm::Sha256, &h1, nonce, "GET", "/dir/index.html", qop),
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
    let h1 = ha1(Algorithm::Md5, "Mufasa", realm, "Circle of Life");
    assert_eq!(
        compute_response(Algorithm::Md5, &h1, nonce, "GET", "/dir/index.html", qop),
        "8ca523f5e9506fed4657c9700eebdbec"
    );

    let value = format!(
        "Digest username=\"Mufasa\", realm=\"{realm}\", uri=\"/dir/index.html\", \
         algorithm=SHA-256, nonce=\"{nonce}\", nc=00000001, cnonce=\"{cnonce}\", qop=auth, \
         response=\"753927FA0E85D155564E2E272A28D1802CA10DAF4496794697CF8DB5856CB6C1\", \
         opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
    );
    let creds = parse_authorization(&value).unwrap();
    assert_eq!(creds.algorithm, Algorithm::Sha256);
    let h1 = ha1(Algorithm::Sha256, "Mufasa", realm, "Circle of Life");
    assert!(verify(&creds, "GET", &h1), "uppercase hex accepted");
}

fn round_trip(alg_idx: usize, method: &str) {
    let nonces = NonceManager::new([42; 32], 300);
    let now = 1_700_000_000;
    let nonce = nonces.issue(now);
    let challenges = challenge_headers("ringside.example", &nonce, false);
    assert_eq!(challenges.len(), 2);
    let uri = "sip:bob@ringside.example;transport=tcp";
    let auth = client_authorization(
        &challenges[alg_idx],
        method,
        uri,
        "alice",
        "s3cr\"et",
        1,
        "abc,def",
    )
    .unwrap();
    let creds = parse_authorization(&auth).unwrap();
    let alg = creds.algorithm;
    assert_eq!(alg, [Algorithm::Sha256, Algorithm::Md5][alg_idx]);
    assert_eq!(creds.uri, uri);
    assert_eq!(creds.cnonce.as_deref(), Some("abc,def"));
    assert_eq!(creds.nc.as_deref(), Some("00000001"));
    assert_eq!(nonces.check(&creds.nonce, now + 10), NonceCheck::Valid);
    let good = ha1(alg, "alice", "ringside.example", "s3cr\"et");
    assert!(verify(&creds, method, &good));
    let bad = ha1(alg, "alice", "ringside.example", "secret");
    assert!(!verify(&creds, method, &bad));
    let other_alg = match alg {
        Algorithm::Md5 => Algorithm::Sha256,
        Algorithm::Sha256 => Algorithm::Md5,
    };
    let mismatched = ha1(other_alg, "alice", "ringside.example", "s3cr\"et");
    assert!(!verify(&creds, method, &mismatched));
}

#[test]
fn round_trip_sha256() {
    round_trip(0, "INVITE");
}

#[test]
fn round_trip_md5() {
    round_trip(1, "REGISTER");
}

#[test]
fn challenge_format_and_preference() {
    let c = challenge_headers("r\"x", "n1", true);
    assert_eq!(
        c[0],
        r#"Digest realm="r\"x", nonce="n1", algorithm=SHA-256, qop="auth", stale=true"#
    );
    assert!(c[1].contains("algorithm=MD5"));
    let parsed = parse_challenge(&c[0]).unwrap();
    assert_eq!(parsed.realm, "r\"x");
    assert!(parsed.stale && parsed.qop_auth);
    let best = pick_challenge([c[1].as_str(), "Digest realm=x", c[0].as_str()]).unwrap();
    assert_eq!(best.algorithm, Algorithm::Sha256);
}

#[test]
fn client_legacy_no_qop_and_opaque() {
    let ch = r#"Digest realm="carrier", nonce="abc", opaque="op""#;
    let auth = client_authorization(ch, "INVITE", "sip:1@carrier", "u", "p", 1, "cn").unwrap();
    assert!(!auth.contains("qop"));
    assert!(auth.contains(r#"opaque="op""#));
    let creds = parse_authorization(&auth).unwrap();
    assert!(creds.qop.is_none());
    assert!(verify(
        &creds,
        "INVITE",
        &ha1(Algorithm::Md5, "u", "carrier", "p")
    ));
}

#[test]
fn client_rejects_unsupported() {
    let e = client_authorization(
        r#"Digest realm="r", nonce="n", algorithm=SHA-512-256"#,
        "INVITE",
        "sip:x",
        "u",
        "p",
        1,
        "c",
    );
    assert_eq!(
        e,
        Err(AuthError::UnsupportedAlgorithm("SHA-512-256".into()))
    );
    let e = parse_challenge(r#"Digest realm="r", nonce="n", qop="auth-int""#);
    assert_eq!(e, Err(AuthError::UnsupportedQop("auth-int".into())));
    // qop list containing auth is fine
    assert!(
        parse_challenge(r#"Digest realm="r", nonce="n", qop="auth-int,auth""#)
            .unwrap()
            .qop_auth
    );
}

#[test]
fn nonce_stale_and_tampered() {
    let m = NonceManager::new([1; 32], 300);
    let n = m.issue(1000);
    assert_eq!(m.check(&n, 1000), NonceCheck::Valid);
    assert_eq!(m.check(&n, 1300), NonceCheck::Valid);
    assert_eq!(m.check(&n, 1301), NonceCheck::Stale);
    // flip one hex digit of the timestamp and of the tag
    for pos in [15, 40] {
        let mut bytes = n.clone().into_bytes();
        bytes[pos] = if bytes[pos] == b'0' { b'1' } else { b'0' };
        let t = String::from_utf8(bytes).unwrap();
        assert_eq!(m.check(&t, 1000), NonceCheck::Invalid);
    }
    let other = NonceManager::new([2; 32], 300);
    assert_eq!(other.check(&n, 1000), NonceCheck::Invalid);
    assert_eq!(m.check("", 1000), NonceCheck::Invalid);
    let random = NonceManager::with_random_secret(60);
    assert_eq!(random.check(&random.issue(5), 6), NonceCheck::Valid);
}

#[test]
fn authorization_errors() {
    assert_eq!(
        parse_authorization(r#"Digest username="a", realm="r""#),
        Err(AuthError::MissingParam("nonce"))
    );
    let base = r#"Digest username="a", realm="r", nonce="n", uri="u", response="x""#;
    assert!(parse_authorization(base).is_ok());
    assert_eq!(
        parse_authorization(&format!("{base}, qop=auth, cnonce=\"c\"")),
        Err(AuthError::MissingParam("nc"))
    );
    assert_eq!(
        parse_authorization(&format!("{base}, qop=auth, nc=1, cnonce=\"c\"")),
        Err(AuthError::InvalidNonceCount)
    );
    assert_eq!(
        parse_authorization(&format!("{base}, realm=\"again\"")),
        Err(AuthError::DuplicateParam("realm".into()))
    );
    assert!(matches!(
        parse_authorization(&format!("{base} junk")),
        Err(AuthError::Malformed { .. })
    ));
    assert_eq!(parse_authorization("Bearer xyz"), Err(AuthError::NotDigest));
}

proptest! {
    #[test]
    fn parse_authorization_never_panics(s in any::<String>()) {
        let _ = parse_authorization(&s);
        let _ = parse_challenge(&s);
    }

    #[test]
    fn parse_authorization_digest_prefixed_never_panics(
        s in r#"[a-z=", \\\r\n\t\u{e9}]{0,64}"#
    ) {
        let _ = parse_authorization(&format!("Digest {s}"));
        let _ = client_authorization(&format!("Digest {s}"), "INVITE", "sip:x", "u", "p", 1, "c");
    }

    #[test]
    fn round_trip_arbitrary_values(
        user in "[ -~]{1,20}", pass in "[ -~]{0,20}", cnonce in "[ -~]{1,20}", nc in any::<u32>()
    ) {
        let ch = &challenge_headers("realm", "nonce", false)[0];
        let auth = client_authorization(ch, "BYE", "sip:a@b", &user, &pass, nc, &cnonce).unwrap();
        let creds = parse_authorization(&auth).unwrap();
        prop_assert_eq!(&creds.username, &user);
        prop_assert!(verify(&creds, "BYE", &ha1(Algorithm::Sha256, &user, "realm", &pass)));
    }
}
