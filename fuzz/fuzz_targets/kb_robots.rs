//! Fuzzes robots.txt rules and sitemap reading: no panic, and a rule set read from the input
//! answers every path; sitemap addresses are bounded and trimmed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringside_knowledge::robots::{is_sitemap_index, sitemap_locs, Robots};

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let r = Robots::parse(&s, "ringside");
    let prefix: String = s.chars().take(40).collect();
    for path in ["/", "/a", "/a/b?c=d", "/robots.txt", &prefix] {
        let _ = r.allows(path);
    }
    assert!(r.allows("/robots.txt"));
    let locs = sitemap_locs(&s, 10);
    assert!(locs.len() <= 10);
    for l in &locs {
        assert!(!l.is_empty() && l.trim() == l);
    }
    let _ = is_sitemap_index(&s);
});
