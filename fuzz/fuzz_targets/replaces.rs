//! Fuzzes the `Replaces` header (RFC 3891) and its escaped form in a `Refer-To` URI: parsing
//! never panics, and what parses is written back to text that parses to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringside_sip::replaces::Replaces;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(r) = Replaces::parse(text) {
        let again = Replaces::parse(&r.to_string()).expect("what Ringside writes parses");
        assert_eq!(again, r);
        assert!(r.names(&r.call_id, &r.to_tag, &r.from_tag));
    }
    if let Some(Ok(r)) = Replaces::from_refer_to(text) {
        assert!(!r.call_id.is_empty() && !r.to_tag.is_empty() && !r.from_tag.is_empty());
    }
    let _ = Replaces::from_refer_to(&format!("<sip:1003@example.com?Replaces={text}>"));
});
