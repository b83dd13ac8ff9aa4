//! URLs people give the API (webhook receivers, avatar and logo images), checked with the
//! `url` crate (WHATWG URL parsing) instead of by splitting strings.

use url::Url;

/// `u` as an absolute `http`/`https` URL with a host and no credentials, at most 2048 bytes,
/// without whitespace, control characters or `"` (such URLs end up in HTML attributes and
/// JSON as they were given); `None` otherwise.
pub(crate) fn http_url(u: &str) -> Option<Url> {
    if u.len() > 2048
        || u.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"')
    {
        return None;
    }
    let url = Url::parse(u).ok()?;
    let ok = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some_and(|h| !h.is_empty())
        && url.username().is_empty()
        && url.password().is_none();
    ok.then_some(url)
}

/// The lowercase host of an absolute URL, or of `host/path` given without a scheme (as some
/// browsers and crawlers send referrers); `None` for an empty or unparsable one.
pub(crate) fn host_of(u: &str) -> Option<String> {
    let u = u.trim();
    if u.is_empty() {
        return None;
    }
    let parsed = Url::parse(u)
        .ok()
        .filter(|p| p.host_str().is_some())
        .or_else(|| Url::parse(&format!("http://{u}")).ok())?;
    let host = parsed.host_str()?.to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

/// The dashboard page of a visitor's chat, as webhook payloads link it.
pub(crate) fn chat_page(public_url: &str, widget_id: &str, visitor_id: &str) -> String {
    format!(
        "{}/inbox/{widget_id}/{visitor_id}",
        public_url.trim_end_matches('/')
    )
}

/// The dashboard page of a call.
pub(crate) fn call_page(public_url: &str, call_id: &str) -> String {
    format!("{}/calls/{call_id}", public_url.trim_end_matches('/'))
}

/// The path of an absolute URL (`/` when it has none or does not parse).
pub(crate) fn path_of(u: &str) -> String {
    Url::parse(u).map_or_else(|_| "/".to_owned(), |p| p.path().to_owned())
}

/// The query pairs of a page URL, decoded (`+` as space, `%XX`, invalid UTF-8 replaced); a
/// relative URL is taken against a placeholder origin.
pub(crate) fn query_pairs(u: &str) -> Vec<(String, String)> {
    let Ok(base) = Url::parse("https://page.invalid/") else {
        return Vec::new();
    };
    base.join(u).map_or_else(
        |_| Vec::new(),
        |p| {
            p.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_urls() {
        for ok in [
            "https://example.com/hook",
            "http://127.0.0.1:8080/x?y=1",
            "http://x",
            "https://[::1]:8443/a",
        ] {
            assert!(http_url(ok).is_some(), "{ok}");
        }
        for bad in [
            "",
            "example.com",
            "ftp://example.com",
            "https://",
            "https://a b",
            "https://user@evil",
            "https://u:p@evil",
            "javascript:alert(1)",
            "https://:443/",
            "https://example.com/\"onload",
        ] {
            assert!(http_url(bad).is_none(), "{bad}");
        }
        assert!(http_url(&format!("https://e.com/{}", "a".repeat(2048))).is_none());
    }

    #[test]
    fn hosts_paths_and_queries() {
        assert_eq!(
            host_of("https://www.Google.com/search?q=x").as_deref(),
            Some("www.google.com")
        );
        assert_eq!(
            host_of("http://user@host.example:8080/p").as_deref(),
            Some("host.example")
        );
        assert_eq!(
            host_of("news.example.org/a").as_deref(),
            Some("news.example.org")
        );
        assert_eq!(host_of(""), None);
        assert_eq!(path_of("https://s.example.com/pricing?x=1"), "/pricing");
        assert_eq!(path_of("https://s.example.com"), "/");
        assert_eq!(path_of("not a url"), "/");
        assert_eq!(
            query_pairs("/p?a=1+2&b=%C3%A9&c=%zz#frag"),
            vec![
                ("a".into(), "1 2".into()),
                ("b".into(), "é".into()),
                ("c".into(), "%zz".into())
            ]
        );
        assert!(query_pairs("https://example.com/").is_empty());
    }
}
