//! Fuzzes what comes back from a language model: the server-sent-event parser fed the same
//! bytes whole and in two pieces gives the same events, and citations are in range and
//! distinct; the prompt built from hostile text keeps every source in its own block.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringside_knowledge::rag::{cited, messages, SseParser};
use ringside_knowledge::{Hit, Lang, PassageKind};

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |b| *b as usize) % (data.len() + 1);
    let mut whole = SseParser::default();
    let mut a = whole.push(data);
    a.extend(whole.finish());
    let mut parts = SseParser::default();
    let mut b = parts.push(&data[..split]);
    b.extend(parts.push(&data[split..]));
    b.extend(parts.finish());
    assert_eq!(a, b);

    let s = String::from_utf8_lossy(data);
    let c = cited(&s, 5);
    assert!(c.iter().all(|&i| i < 5));
    let mut d = c.clone();
    d.dedup();
    assert_eq!(c.len(), d.len());

    let hit = Hit {
        passage_id: "p".into(),
        source_id: "s".into(),
        kind: PassageKind::Text,
        title: s.to_string(),
        url: Some(s.to_string()),
        body: s.to_string(),
        lang: Lang::En,
        score: 1.0,
    };
    let m = messages(&s, Some(&s), &[hit.clone(), hit], &[], &s);
    assert_eq!(m[1].content.matches("</source>").count(), 2);
    assert_eq!(m[1].content.matches("<source ").count(), 2);
});
