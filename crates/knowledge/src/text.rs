//! Plain-text helpers: whitespace normalising, sentence splitting, trimming to a length at a
//! word boundary, and Markdown to text.

/// Abbreviations after which a full stop does not end a sentence (lowercase, without the dot).
const ABBREVIATIONS: &[&str] = &[
    "e.g", "i.e", "mr", "mrs", "ms", "dr", "st", "etc", "vs", "no", "approx", "inc", "ltd", "co",
    "jr", "sr", "prof", "fig", "min", "max", "tel", "nr", "ca", "z.b", "bzw", "sra", "sr",
];

/// Collapses runs of spaces and tabs, trims every line and keeps at most one blank line in a
/// row (paragraph breaks survive); control characters other than newlines go.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines() {
        let mut l = String::with_capacity(line.len());
        let mut space = false;
        for c in line.chars() {
            if c.is_whitespace() || c.is_control() {
                space = !l.is_empty();
            } else {
                if space {
                    l.push(' ');
                    space = false;
                }
                l.push(c);
            }
        }
        if l.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(&l);
    }
    out
}

/// The sentences of `text`, trimmed, in order. A sentence ends at `.`, `!`, `?` or `…` (with
/// any closing quotes or brackets) followed by white space and then a capital, a digit, a
/// quote or an opening bracket; or at a line break (headings and list items stand alone). A
/// full stop after a known abbreviation ("e.g.", "Dr.") or a single letter does not end one.
pub fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        if c == '\n' {
            push_trimmed(&mut out, &text[start..at]);
            start = at + 1;
            i += 1;
            continue;
        }
        if matches!(c, '.' | '!' | '?' | '…' | '。' | '！' | '？') {
            // Closing quotes and brackets belong to this sentence.
            let mut j = i + 1;
            while j < chars.len() && matches!(chars[j].1, '"' | '\'' | '”' | '’' | ')' | ']' | '»')
            {
                j += 1;
            }
            let end = chars.get(j).map_or(text.len(), |&(b, _)| b);
            let next_ok = match chars.get(j) {
                None => true,
                Some(&(_, w)) if w.is_whitespace() => {
                    let next = chars[j..]
                        .iter()
                        .map(|&(_, c)| c)
                        .find(|c| !c.is_whitespace());
                    next.is_none_or(|n| {
                        n.is_uppercase()
                            || n.is_ascii_digit()
                            || matches!(n, '"' | '\'' | '“' | '‘' | '(' | '[' | '«' | '¿' | '¡')
                            || !n.is_alphabetic()
                    })
                }
                Some(_) => false,
            };
            if next_ok && !(c == '.' && abbreviation_before(text, at)) {
                push_trimmed(&mut out, &text[start..end]);
                start = end;
                i = j;
                continue;
            }
        }
        i += 1;
    }
    push_trimmed(&mut out, &text[start..]);
    out
}

fn push_trimmed<'a>(out: &mut Vec<&'a str>, s: &'a str) {
    let s = s.trim();
    if !s.is_empty() {
        out.push(s);
    }
}

/// Whether the word just before byte `dot` is an abbreviation or a single letter ("J. Smith").
fn abbreviation_before(text: &str, dot: usize) -> bool {
    let before = &text[..dot];
    let word = before
        .rsplit(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("");
    if word.is_empty() {
        return false;
    }
    let lower = word.to_lowercase();
    if lower.chars().count() == 1 && lower.chars().all(char::is_alphabetic) {
        return true;
    }
    ABBREVIATIONS.contains(&lower.as_str())
}

/// `s` percent-encoded for a URL path segment or query value: unreserved characters
/// (RFC 3986: letters, digits, `-._~`) kept, every other byte as `%XX`.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `s` cut to at most `max` characters at a word boundary, with `…` when cut.
pub fn trim_to(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let cut: String = s.chars().take(max.saturating_sub(1)).collect();
    let cut = match cut.rfind(char::is_whitespace) {
        Some(i) if i > max / 2 => &cut[..i],
        _ => cut.as_str(),
    };
    format!(
        "{}…",
        cut.trim_end_matches(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == ':')
    )
}

/// Markdown as plain text: headings, emphasis, code fences, links (`[text](url)` → text),
/// images, block quotes and list markers are reduced to their words; paragraphs stay apart.
pub fn markdown_to_text(md: &str) -> String {
    let mut out = String::with_capacity(md.len());
    let mut in_fence = false;
    for line in md.lines() {
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            in_fence = !in_fence;
            out.push('\n');
            continue;
        }
        if in_fence {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        // Setext underlines and horizontal rules.
        if !t.is_empty() && t.chars().all(|c| matches!(c, '=' | '-' | '*' | '_' | ' ')) {
            out.push('\n');
            continue;
        }
        let mut t = t.trim_start_matches('#').trim_start();
        while let Some(rest) = t.strip_prefix('>') {
            t = rest.trim_start();
        }
        for marker in ["- ", "* ", "+ "] {
            if let Some(rest) = t.strip_prefix(marker) {
                t = rest;
            }
        }
        if let Some(p) = t.find(". ") {
            if p > 0 && p <= 3 && t[..p].bytes().all(|b| b.is_ascii_digit()) {
                t = &t[p + 2..];
            }
        }
        out.push_str(&inline_markdown(t));
        out.push('\n');
    }
    normalize(&out)
}

/// Inline Markdown to text: links and images keep their text, emphasis and code marks go.
fn inline_markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let b: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        // [text](url) and ![alt](url)
        if c == '[' || (c == '!' && b.get(i + 1) == Some(&'[')) {
            let open = if c == '!' { i + 1 } else { i };
            if let Some(close) = (open + 1..b.len()).find(|&k| b[k] == ']') {
                if b.get(close + 1) == Some(&'(') {
                    if let Some(end) = (close + 2..b.len()).find(|&k| b[k] == ')') {
                        out.extend(&b[open + 1..close]);
                        i = end + 1;
                        continue;
                    }
                }
            }
        }
        if matches!(c, '*' | '`') || (c == '_' && (i == 0 || !b[i - 1].is_alphanumeric())) {
            i += 1;
            continue;
        }
        if c == '_' && b.get(i + 1).is_none_or(|n| !n.is_alphanumeric()) {
            i += 1;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_split_at_ends_not_at_abbreviations_or_decimals() {
        let s = sentences(
            "We ship to Portugal. Delivery takes 3.5 days, e.g. to Lisbon! Ask Dr. Silva? \
             \"Sure.\" Then 42 more.\nA heading\nprice: 10 EUR",
        );
        assert_eq!(
            s,
            vec![
                "We ship to Portugal.",
                "Delivery takes 3.5 days, e.g. to Lisbon!",
                "Ask Dr. Silva?",
                "\"Sure.\"",
                "Then 42 more.",
                "A heading",
                "price: 10 EUR",
            ]
        );
        assert!(sentences("   ").is_empty());
        assert_eq!(sentences("no end"), vec!["no end"]);
    }

    #[test]
    fn normalize_keeps_paragraphs_and_drops_runs_of_space() {
        assert_eq!(
            normalize("  a \t b\n\n\n\n c\u{7}d \r\n e  "),
            "a b\n\nc d\ne"
        );
    }

    #[test]
    fn trim_to_cuts_at_a_word() {
        assert_eq!(trim_to("short", 10), "short");
        let t = trim_to("one two three four five six", 15);
        assert_eq!(t, "one two three…");
        assert!(t.chars().count() <= 15);
    }

    #[test]
    fn markdown_keeps_words() {
        let t = markdown_to_text(
            "# Shipping\n\nWe ship **worldwide**, see [rates](https://x/r).\n\n- fast\n- cheap\n\n```\ncode here\n```\n> quoted _text_\n\n1. first",
        );
        assert_eq!(
            t,
            "Shipping\n\nWe ship worldwide, see rates.\n\nfast\ncheap\n\ncode here\n\nquoted text\n\nfirst"
        );
    }
}
