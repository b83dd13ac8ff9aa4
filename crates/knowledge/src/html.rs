//! HTML to the text a visitor reads: a small tolerant scanner (no DOM), enough for pages
//! and uploaded documents. It keeps the `<title>`, the `<html lang>`, whether a robots meta
//! tag says `noindex`, the links, and the readable text with paragraph breaks at block
//! elements; scripts, styles, templates, SVG and the page furniture (`nav`, `footer`, `aside`,
//! forms) are left out. Malformed markup never fails: the worst case is some stray text.

use crate::text::normalize;

/// What a page says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HtmlDoc {
    /// The `<title>`, whitespace collapsed.
    pub title: Option<String>,
    /// `<html lang="...">`.
    pub lang: Option<String>,
    /// A robots meta tag asks not to index the page.
    pub noindex: bool,
    /// `href`s of `<a>` elements, as written.
    pub links: Vec<String>,
    /// The readable text (paragraphs separated by blank lines).
    pub text: String,
}

/// Elements whose content is never text.
const RAW: &[&str] = &[
    "script", "style", "template", "svg", "noscript", "iframe", "object", "canvas", "math",
];
/// Page furniture, left out with its content.
const FURNITURE: &[&str] = &["nav", "footer", "aside", "form", "select", "button"];
/// Elements that start a paragraph.
const PARAGRAPH: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "main",
    "header",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "table",
    "blockquote",
    "pre",
    "hr",
    "dl",
    "figure",
    "address",
    "details",
    "summary",
];
/// Elements that start a line.
const LINE: &[&str] = &["br", "li", "tr", "dt", "dd", "figcaption", "caption"];

/// Reads `html`.
pub fn html_to_text(html: &str) -> HtmlDoc {
    let mut doc = HtmlDoc::default();
    let mut out = String::with_capacity(html.len() / 2);
    let mut title: Option<String> = None;
    let mut in_title = false;
    let mut furniture = 0usize;
    let b = html.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'<' {
            let end = memchr(b'<', &b[i..]).map_or(b.len(), |k| i + k);
            // Inline white space (line breaks too) is one space; block elements break lines.
            let text = decode_entities(&html[i..end])
                .replace(|c: char| c.is_whitespace() && c != '\u{a0}', " ");
            if in_title {
                title.get_or_insert_with(String::new).push_str(&text);
            } else if furniture == 0 {
                out.push_str(&text);
            }
            i = end;
            continue;
        }
        // Comments, doctype, processing instructions.
        if html[i..].starts_with("<!--") {
            i = html[i + 4..].find("-->").map_or(b.len(), |k| i + 4 + k + 3);
            continue;
        }
        if matches!(b.get(i + 1), Some(b'!') | Some(b'?')) {
            i = memchr(b'>', &b[i..]).map_or(b.len(), |k| i + k + 1);
            continue;
        }
        let closing = b.get(i + 1) == Some(&b'/');
        let name_start = if closing { i + 2 } else { i + 1 };
        let name_end = (name_start..b.len())
            .find(|&k| !(b[k].is_ascii_alphanumeric() || b[k] == b'-' || b[k] == b':'))
            .unwrap_or(b.len());
        if name_end == name_start {
            // A lone '<' is text.
            if furniture == 0 && !in_title {
                out.push('<');
            }
            i += 1;
            continue;
        }
        let name = html[name_start..name_end].to_ascii_lowercase();
        let tag_end = tag_end(b, name_end);
        let attrs_end = if b.get(tag_end.wrapping_sub(1)) == Some(&b'>') {
            tag_end - 1
        } else {
            tag_end
        };
        let attrs = &html[name_end..attrs_end.max(name_end)];
        i = tag_end;
        let name = name.as_str();
        if closing {
            if name == "title" {
                in_title = false;
            } else if FURNITURE.contains(&name) {
                furniture = furniture.saturating_sub(1);
            }
            // A line element breaks the line where it starts, not again where it ends.
            if PARAGRAPH.contains(&name) {
                out.push_str("\n\n");
            } else if matches!(name, "td" | "th") {
                out.push(' ');
            }
            continue;
        }
        let self_closing = attrs.trim_end().ends_with('/');
        if RAW.contains(&name) {
            if !self_closing {
                i = skip_raw(html, i, name);
            }
            continue;
        }
        match name {
            "title" if !self_closing => in_title = true,
            "html" => {
                if let Some(l) = attr(attrs, "lang") {
                    doc.lang = Some(l);
                }
            }
            "meta" => {
                let robots = attr(attrs, "name").is_some_and(|n| {
                    n.eq_ignore_ascii_case("robots") || n.eq_ignore_ascii_case("ringside")
                });
                if robots
                    && attr(attrs, "content")
                        .is_some_and(|c| c.to_ascii_lowercase().contains("noindex"))
                {
                    doc.noindex = true;
                }
            }
            "a" => {
                if let Some(h) = attr(attrs, "href") {
                    if doc.links.len() < 10_000 {
                        doc.links.push(h);
                    }
                }
            }
            "img" if furniture == 0 => {
                if let Some(alt) = attr(attrs, "alt").filter(|a| !a.trim().is_empty()) {
                    out.push(' ');
                    out.push_str(&alt);
                    out.push(' ');
                }
            }
            _ => {}
        }
        if FURNITURE.contains(&name) && !self_closing {
            furniture += 1;
        }
        if PARAGRAPH.contains(&name) {
            out.push_str("\n\n");
        } else if LINE.contains(&name) {
            out.push('\n');
        } else if matches!(name, "td" | "th") {
            out.push(' ');
        }
    }
    doc.title = title
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|t| !t.is_empty());
    doc.text = normalize(&out);
    doc
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&c| c == needle)
}

/// The index just past the `>` closing a tag whose name ends at `from` (quotes respected).
fn tag_end(b: &[u8], from: usize) -> usize {
    let mut quote = None;
    let mut k = from;
    while k < b.len() {
        match (quote, b[k]) {
            (None, b'"') | (None, b'\'') => quote = Some(b[k]),
            (Some(q), c) if c == q => quote = None,
            (None, b'>') => return k + 1,
            _ => {}
        }
        k += 1;
    }
    b.len()
}

/// Skips a raw element's content: the index just past its `</name ...>`.
fn skip_raw(html: &str, from: usize, name: &str) -> usize {
    let lower = html[from..].to_ascii_lowercase();
    let close = format!("</{name}");
    match lower.find(&close) {
        Some(k) => tag_end(html.as_bytes(), from + k + close.len()),
        None => html.len(),
    }
}

/// The value of attribute `name` in a tag's attribute text, entities decoded.
fn attr(attrs: &str, name: &str) -> Option<String> {
    let b = attrs.as_bytes();
    let mut k = 0;
    while k < b.len() {
        while k < b.len() && (b[k].is_ascii_whitespace() || b[k] == b'/') {
            k += 1;
        }
        let start = k;
        while k < b.len() && !b[k].is_ascii_whitespace() && b[k] != b'=' && b[k] != b'/' {
            k += 1;
        }
        let key = &attrs[start..k];
        while k < b.len() && b[k].is_ascii_whitespace() {
            k += 1;
        }
        let mut value = None;
        if k < b.len() && b[k] == b'=' {
            k += 1;
            while k < b.len() && b[k].is_ascii_whitespace() {
                k += 1;
            }
            if k < b.len() && (b[k] == b'"' || b[k] == b'\'') {
                let q = b[k];
                let vs = k + 1;
                let ve = (vs..b.len()).find(|&j| b[j] == q).unwrap_or(b.len());
                value = Some(&attrs[vs..ve]);
                k = (ve + 1).min(b.len());
            } else {
                let vs = k;
                while k < b.len() && !b[k].is_ascii_whitespace() {
                    k += 1;
                }
                value = Some(&attrs[vs..k]);
            }
        }
        if key.eq_ignore_ascii_case(name) {
            return Some(decode_entities(value.unwrap_or("")));
        }
        if k == start {
            k += 1;
        }
    }
    None
}

/// `s` with character references decoded (numeric ones and the common named ones; an
/// unknown or malformed one stays as written).
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find('&') {
        out.push_str(&rest[..p]);
        rest = &rest[p..];
        let end = rest[1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
            .map(|k| k + 1);
        let (name, len) = match end {
            Some(e) if rest[e..].starts_with(';') => (&rest[1..e], e + 1),
            Some(e) => (&rest[1..e], e),
            None => (&rest[1..], rest.len()),
        };
        let decoded = if let Some(num) = name.strip_prefix('#') {
            let n = match num.strip_prefix(['x', 'X']) {
                Some(h) => u32::from_str_radix(h, 16).ok(),
                None => num.parse().ok(),
            };
            n.and_then(char::from_u32)
                .filter(|c| *c != '\0')
                .map(String::from)
        } else {
            named(name).map(String::from)
        };
        match decoded {
            Some(d) if len > 1 => {
                out.push_str(&d);
                rest = &rest[len..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn named(n: &str) -> Option<&'static str> {
    Some(match n {
        "amp" | "AMP" => "&",
        "lt" | "LT" => "<",
        "gt" | "GT" => ">",
        "quot" | "QUOT" => "\"",
        "apos" => "'",
        "nbsp" => "\u{a0}",
        "rsquo" => "’",
        "lsquo" => "‘",
        "ldquo" => "“",
        "rdquo" => "”",
        "ndash" => "–",
        "mdash" => "—",
        "hellip" => "…",
        "euro" => "€",
        "pound" => "£",
        "copy" => "©",
        "reg" => "®",
        "trade" => "™",
        "deg" => "°",
        "middot" => "·",
        "bull" => "•",
        "times" => "×",
        "eacute" => "é",
        "egrave" => "è",
        "aacute" => "á",
        "agrave" => "à",
        "atilde" => "ã",
        "ccedil" => "ç",
        "otilde" => "õ",
        "oacute" => "ó",
        "uacute" => "ú",
        "iacute" => "í",
        "ntilde" => "ñ",
        "uuml" => "ü",
        "ouml" => "ö",
        "auml" => "ä",
        "szlig" => "ß",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_title_lang_text_and_links_without_furniture_or_scripts() {
        let d = html_to_text(
            r#"<!DOCTYPE html><html lang="pt-PT"><head><title> Envios &amp; entregas </title>
            <style>p { color: red }</style><script>var x = "<p>not text</p>";</script>
            <meta name="description" content="x"></head>
            <body><nav><a href="/">Home</a> <a href="/shipping">Shipping</a></nav>
            <main><h1>Shipping</h1><p>We ship to <b>Portugal</b>&nbsp;in 2 days.<br>Free above 50&euro;.</p>
            <ul><li>Fast</li><li>Cheap</li></ul><img src="x.png" alt="A van">
            <a href='/returns?x=1&amp;y=2'>Returns</a><!-- hidden <p>comment</p> --></main>
            <footer>© Shop</footer></body></html>"#,
        );
        assert_eq!(d.title.as_deref(), Some("Envios & entregas"));
        assert_eq!(d.lang.as_deref(), Some("pt-PT"));
        assert!(!d.noindex);
        assert_eq!(d.links, vec!["/", "/shipping", "/returns?x=1&y=2"]);
        assert_eq!(
            d.text,
            "Shipping\n\nWe ship to Portugal in 2 days.\nFree above 50€.\n\nFast\nCheap\n\nA van Returns"
        );
    }

    #[test]
    fn robots_noindex_and_malformed_markup() {
        let d = html_to_text(r#"<meta name="robots" content="NOINDEX, follow"><p>x"#);
        assert!(d.noindex);
        assert_eq!(d.text, "x");
        // Unclosed tags, stray brackets, a script that never ends: no panic, text kept.
        let d = html_to_text("a < b and c > d <p class=\"x>y\">z</p><script>never");
        assert_eq!(d.text, "a < b and c > d\n\nz");
        let d = html_to_text("<");
        assert_eq!(d.text, "<");
        let d = html_to_text("<a href=x");
        assert_eq!(d.links, vec!["x"]);
    }

    #[test]
    fn entities() {
        assert_eq!(
            decode_entities("a &amp; b &#233; &#xE9; &bogus; & &;"),
            "a & b é é &bogus; & &;"
        );
        assert_eq!(decode_entities("&#0; &#x110000;"), "&#0; &#x110000;");
    }
}
