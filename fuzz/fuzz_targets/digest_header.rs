//! Fuzzes the digest header parsers and the UAC answer: no panics, and any
//! challenge Ringside can answer yields an `Authorization` value that parses
//! back and verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringside_sip::auth::{
    client_authorization, ha1, parse_authorization, parse_challenge, verify, NonceManager,
};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(creds) = parse_authorization(s) {
        let _ = verify(&creds, "INVITE", "00000000000000000000000000000000");
    }
    let nonces = NonceManager::new([9; 32], 300);
    let _ = nonces.check(s, 1_700_000_000);

    let Ok(challenge) = parse_challenge(s) else {
        return;
    };
    let uri = "sip:fuzz@example.com";
    let value = client_authorization(s, "INVITE", uri, "user\"x", "pass", 7, "c\\n")
        .expect("a parseable challenge must be answerable");
    let creds = parse_authorization(&value).expect("own Authorization value must parse");
    assert_eq!(creds.realm, challenge.realm);
    assert_eq!(creds.nonce, challenge.nonce);
    let h1 = ha1(creds.algorithm, "user\"x", &challenge.realm, "pass");
    assert!(verify(&creds, "INVITE", &h1), "own response must verify");
});
