//! robots.txt (RFC 9309) and sitemaps (sitemaps.org), read without I/O.
//!
//! [`Robots`] keeps the group for our product token (else `*`): `Allow`/`Disallow` with `*`
//! and `$` patterns, the longest match winning and `Allow` winning a tie, plus the
//! non-standard `Crawl-delay` and the file's `Sitemap` lines. [`sitemap_locs`] reads the
//! `<loc>` addresses of a `urlset` or a `sitemapindex`.

/// The rules that apply to one crawler.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Robots {
    /// (allow, pattern) in file order.
    rules: Vec<(bool, String)>,
    /// Seconds to wait between requests, when the group says.
    pub crawl_delay: Option<f64>,
    /// `Sitemap:` addresses.
    pub sitemaps: Vec<String>,
    /// Nothing may be fetched (the file could not be read because the server failed).
    disallow_all: bool,
}

/// Longest robots.txt read; the rest is ignored (RFC 9309 asks for at least 500 KiB).
pub const MAX_ROBOTS_BYTES: usize = 512 * 1024;

impl Robots {
    /// Everything allowed (robots.txt missing: 4xx).
    pub fn allow_all() -> Robots {
        Robots::default()
    }

    /// Nothing allowed (robots.txt unreachable: 5xx or no answer).
    pub fn disallow_all() -> Robots {
        Robots {
            disallow_all: true,
            ..Robots::default()
        }
    }

    /// Parses a robots.txt for the crawler whose product token is `agent` (e.g. `Ringside`).
    pub fn parse(text: &str, agent: &str) -> Robots {
        let text = &text[..floor_char_boundary(text, MAX_ROBOTS_BYTES)];
        let agent = agent.to_ascii_lowercase();
        #[derive(Default)]
        struct Group {
            agents: Vec<String>,
            rules: Vec<(bool, String)>,
            delay: Option<f64>,
        }
        let mut groups: Vec<Group> = Vec::new();
        let mut sitemaps = Vec::new();
        let mut in_agents = false;
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let key = key.trim().to_ascii_lowercase();
            let value = value.trim();
            match key.as_str() {
                "user-agent" => {
                    if !in_agents || groups.is_empty() {
                        groups.push(Group::default());
                    }
                    in_agents = true;
                    if let Some(g) = groups.last_mut() {
                        g.agents.push(value.to_ascii_lowercase());
                    }
                }
                "allow" | "disallow" => {
                    in_agents = false;
                    if let Some(g) = groups.last_mut() {
                        // An empty Disallow allows everything: no rule.
                        if !value.is_empty() {
                            g.rules.push((key == "allow", value.to_owned()));
                        }
                    }
                }
                "crawl-delay" => {
                    in_agents = false;
                    if let (Some(g), Ok(d)) = (groups.last_mut(), value.parse::<f64>()) {
                        if d.is_finite() && d >= 0.0 {
                            g.delay = Some(d);
                        }
                    }
                }
                "sitemap" => sitemaps.push(value.to_owned()),
                _ => {}
            }
        }
        let mine: Vec<&Group> = groups
            .iter()
            .filter(|g| g.agents.iter().any(|a| a != "*" && *a == agent))
            .collect();
        let chosen: Vec<&Group> = if mine.is_empty() {
            groups
                .iter()
                .filter(|g| g.agents.iter().any(|a| a == "*"))
                .collect()
        } else {
            mine
        };
        Robots {
            rules: chosen
                .iter()
                .flat_map(|g| g.rules.iter().cloned())
                .collect(),
            crawl_delay: chosen.iter().find_map(|g| g.delay),
            sitemaps,
            disallow_all: false,
        }
    }

    /// Whether the path (with its query) may be fetched.
    pub fn allows(&self, path_and_query: &str) -> bool {
        if self.disallow_all {
            return false;
        }
        if path_and_query == "/robots.txt" {
            return true;
        }
        let mut best: Option<(usize, bool)> = None;
        for (allow, pattern) in &self.rules {
            if matches(pattern, path_and_query) {
                let len = pattern.len();
                best = match best {
                    Some((l, a)) if l > len || (l == len && a) => Some((l, a)),
                    _ => Some((len, *allow)),
                };
            }
        }
        best.is_none_or(|(_, allow)| allow)
    }
}

fn floor_char_boundary(s: &str, max: usize) -> usize {
    if s.len() <= max {
        return s.len();
    }
    let mut i = max;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A robots.txt path pattern (`*` any run, `$` at the end anchors) against a path.
fn matches(pattern: &str, path: &str) -> bool {
    let (pattern, anchored) = match pattern.strip_suffix('$') {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut pos = 0;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            if !path.starts_with(part) {
                return false;
            }
            pos = part.len();
            continue;
        }
        let last = i == parts.len() - 1;
        if last && anchored {
            return path.len() >= pos + part.len() && path.ends_with(part);
        }
        match path[pos..].find(part) {
            Some(k) => pos += k + part.len(),
            None => return false,
        }
    }
    !anchored || pos == path.len()
}

/// Whether a sitemap document is an index of sitemaps (else a list of pages).
pub fn is_sitemap_index(xml: &str) -> bool {
    xml.contains("<sitemapindex") || xml.contains(":sitemapindex")
}

/// The `<loc>` addresses of a sitemap (pages) or sitemap index (sitemaps), in order, at most
/// `max`, entities decoded, empty ones left out.
pub fn sitemap_locs(xml: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = xml;
    while out.len() < max {
        // `<loc>` or a namespaced `<sm:loc>`.
        let Some(open) = find_tag(rest, "loc") else {
            break;
        };
        rest = &rest[open..];
        let Some(end) = rest.find("</") else {
            break;
        };
        let value = crate::html::decode_entities(rest[..end].trim());
        let value = value
            .trim()
            .trim_start_matches("<![CDATA[")
            .trim_end_matches("]]>")
            .trim()
            .to_owned();
        if !value.is_empty() {
            out.push(value);
        }
        rest = &rest[end + 2..];
    }
    out
}

/// The index just past the opening tag `<name>` or `<prefix:name>` in `s`.
fn find_tag(s: &str, name: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(k) = s[from..].find('<') {
        let at = from + k + 1;
        let close = s[at..].find('>').map(|e| at + e)?;
        let tag = s[at..close].trim();
        let local = tag.rsplit(':').next().unwrap_or(tag);
        if local.eq_ignore_ascii_case(name) {
            return Some(close + 1);
        }
        from = at;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# comment
User-agent: *
Disallow: /private/
Allow: /private/open$
Crawl-delay: 1

User-agent: OtherBot
Disallow: /

User-agent: ringside
User-agent: another
Disallow: /cart
Disallow: /*.pdf$
Allow: /cart/help
Crawl-delay: 0.5
Sitemap: https://shop.example/sitemap.xml
";

    #[test]
    fn our_group_wins_over_the_star_group() {
        let r = Robots::parse(FILE, "Ringside");
        assert!(r.allows("/"));
        assert!(r.allows("/private/x"), "the * group does not apply to us");
        assert!(!r.allows("/cart"));
        assert!(!r.allows("/cart/checkout?x=1"));
        assert!(r.allows("/cart/help"), "longer allow wins");
        assert!(!r.allows("/docs/a.pdf"));
        assert!(r.allows("/docs/a.pdf?x"));
        assert_eq!(r.crawl_delay, Some(0.5));
        assert_eq!(r.sitemaps, vec!["https://shop.example/sitemap.xml"]);
        let star = Robots::parse(FILE, "SomethingElse");
        assert!(!star.allows("/private/x"));
        assert!(star.allows("/private/open"));
        assert!(!star.allows("/private/open/more"));
        assert_eq!(star.crawl_delay, Some(1.0));
    }

    #[test]
    fn missing_and_unreachable_files() {
        assert!(Robots::allow_all().allows("/anything"));
        assert!(!Robots::disallow_all().allows("/anything"));
        assert!(Robots::parse("garbage\n\u{0}\nDisallow /x", "Ringside").allows("/x"));
        assert!(!Robots::parse("User-agent: *\nDisallow: /", "Ringside").allows("/x"));
        assert!(Robots::parse("User-agent: *\nDisallow:", "Ringside").allows("/x"));
    }

    #[test]
    fn sitemaps_and_indexes() {
        let xml = r#"<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
          <url><loc> https://shop.example/a </loc><lastmod>2026-01-01</lastmod></url>
          <url><loc>https://shop.example/b?x=1&amp;y=2</loc></url>
          <url><loc><![CDATA[https://shop.example/c]]></loc></url><url><loc></loc></url></urlset>"#;
        assert!(!is_sitemap_index(xml));
        assert_eq!(
            sitemap_locs(xml, 10),
            vec![
                "https://shop.example/a",
                "https://shop.example/b?x=1&y=2",
                "https://shop.example/c"
            ]
        );
        assert_eq!(sitemap_locs(xml, 1).len(), 1);
        let idx = r#"<sm:sitemapindex xmlns:sm="x"><sm:sitemap><sm:loc>https://shop.example/s1.xml</sm:loc></sm:sitemap></sm:sitemapindex>"#;
        assert!(is_sitemap_index(idx));
        assert_eq!(sitemap_locs(idx, 10), vec!["https://shop.example/s1.xml"]);
        assert!(sitemap_locs("<loc>unterminated", 10).is_empty());
        assert!(sitemap_locs("<<<>>>", 10).is_empty());
    }
}
