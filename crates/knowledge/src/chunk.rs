//! Text to passages: paragraphs packed up to a size, long paragraphs cut at sentence ends,
//! overlong sentences at word boundaries. A passage is what search finds and what an answer
//! quotes from, so it is kept to a few sentences around one subject.

use crate::text::{normalize, sentences};

/// A passage's usual upper size, in characters.
pub const PASSAGE_CHARS: usize = 800;
/// Most passages one source gives (a bigger document is cut off, and says so).
pub const MAX_PASSAGES_PER_SOURCE: usize = 5_000;

/// `text` (any line structure) as passages of at most `max` characters each; empty text gives
/// none. Paragraphs (blank-line separated) stay whole where they fit.
pub fn chunk(text: &str, max: usize) -> Vec<String> {
    let max = max.max(80);
    let text = normalize(text);
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    for para in text.split("\n\n") {
        let para = para.trim();
        if para.is_empty() {
            continue;
        }
        let len = para.chars().count();
        if len > max {
            flush(&mut out, &mut cur);
            split_long(para, max, &mut out);
            continue;
        }
        if !cur.is_empty() && cur.chars().count() + 2 + len > max {
            flush(&mut out, &mut cur);
        }
        if !cur.is_empty() {
            cur.push_str("\n\n");
        }
        cur.push_str(para);
        if out.len() >= MAX_PASSAGES_PER_SOURCE {
            break;
        }
    }
    flush(&mut out, &mut cur);
    out.truncate(MAX_PASSAGES_PER_SOURCE);
    out
}

fn flush(out: &mut Vec<String>, cur: &mut String) {
    if !cur.trim().is_empty() {
        out.push(std::mem::take(cur));
    }
    cur.clear();
}

/// A paragraph longer than `max`: sentences packed up to `max`; a sentence longer than that
/// cut at spaces.
fn split_long(para: &str, max: usize, out: &mut Vec<String>) {
    let mut cur = String::new();
    for s in sentences(para) {
        let len = s.chars().count();
        if len > max {
            flush(out, &mut cur);
            let mut piece = String::new();
            for word in s.split_whitespace() {
                if !piece.is_empty() && piece.chars().count() + 1 + word.chars().count() > max {
                    out.push(std::mem::take(&mut piece));
                }
                if !piece.is_empty() {
                    piece.push(' ');
                }
                // A "word" longer than a passage (a data blob) is cut as it stands.
                if word.chars().count() > max {
                    let w: String = word.chars().take(max).collect();
                    piece.push_str(&w);
                } else {
                    piece.push_str(word);
                }
            }
            if !piece.is_empty() {
                out.push(piece);
            }
            continue;
        }
        if !cur.is_empty() && cur.chars().count() + 1 + len > max {
            flush(out, &mut cur);
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(s);
    }
    flush(out, &mut cur);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_paragraphs_pack_together_and_long_ones_split_at_sentences() {
        let text =
            "Alpha one.\n\nBeta two.\n\n".to_owned() + &"Gamma sentence number here. ".repeat(10);
        let c = chunk(&text, 100);
        assert_eq!(c[0], "Alpha one.\n\nBeta two.");
        assert!(c.len() >= 3, "{c:?}");
        for p in &c {
            assert!(p.chars().count() <= 100, "{p}");
        }
        assert!(c[1].starts_with("Gamma") && c[1].ends_with("here."));
        // Nothing lost: every sentence of the input is in exactly one passage.
        let joined = c.join(" ");
        assert_eq!(joined.matches("Gamma").count(), 10);
    }

    #[test]
    fn an_overlong_sentence_is_cut_at_words() {
        let text = "word ".repeat(100);
        let c = chunk(&text, 80);
        assert!(c.iter().all(|p| p.chars().count() <= 80));
        assert_eq!(c.join(" ").split_whitespace().count(), 100);
        let blob = "x".repeat(500);
        let c = chunk(&blob, 100);
        assert!(c.iter().all(|p| p.chars().count() <= 100));
    }

    #[test]
    fn empty_text_gives_nothing() {
        assert!(chunk("", 800).is_empty());
        assert!(chunk(" \n\n \t", 800).is_empty());
    }
}
