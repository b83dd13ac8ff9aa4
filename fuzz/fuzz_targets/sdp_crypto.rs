//! Fuzzes SDES `a=crypto` lines (RFC 4568): parsing never panics, a parsed line written back
//! parses to the same key, suite and tag, and the key survives base64 both ways.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringside_sip::sdp::{Crypto, SessionDescription};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = Crypto::parse(text) {
        let again = Crypto::parse(&c.to_string()).expect("what Ringside writes parses");
        assert_eq!(
            (again.tag, &again.suite, &again.key_salt),
            (c.tag, &c.suite, &c.key_salt)
        );
        assert_eq!(again.lifetime, c.lifetime);
    }
    // The same text as the attributes of an audio section.
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/SAVP 0\r\na=crypto:{text}\r\n"
    );
    if let Ok(s) = SessionDescription::parse(&sdp) {
        for m in s.media() {
            for a in m.attributes().filter(|a| a.name == "crypto") {
                let _ = a.value.as_deref().map(Crypto::parse);
            }
        }
    }
});
