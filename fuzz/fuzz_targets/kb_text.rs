//! Fuzzes the knowledge base's text readers: HTML to text, Markdown to text, sentence
//! splitting, chunking and trimming never panic, and what they give keeps its promises
//! (passages within their size, sentences trimmed and non-empty, every word of the text in
//! exactly the passages' words).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringside_knowledge::{chunk, html, text};

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let d = html::html_to_text(&s);
    assert!(!d.text.contains("\n\n\n"));
    let md = text::markdown_to_text(&s);
    for t in [&d.text, &md, &text::normalize(&s)] {
        for sentence in text::sentences(t) {
            assert!(!sentence.is_empty() && sentence.trim() == sentence);
        }
        let passages = chunk::chunk(t, 120);
        for p in &passages {
            assert!(p.chars().count() <= 120, "{p:?}");
            assert!(!p.trim().is_empty());
        }
        let words: usize = text::normalize(t).split_whitespace().count();
        let kept: usize = passages.iter().map(|p| p.split_whitespace().count()).sum();
        assert!(kept <= words + passages.len() * 2, "{kept} > {words}");
    }
    let cut = text::trim_to(&s, 50);
    assert!(cut.chars().count() <= 50);
    let _ = html::decode_entities(&s);
});
