//! A small User-Agent and landing-URL parser for visitor tracking: browser and OS families,
//! device class, an obvious-bot flag, and the campaign parameters of a page URL.

/// What a User-Agent header tells about the visitor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UaInfo {
    /// `Edge`, `Opera`, `Samsung Internet`, `Firefox`, `Chrome`, `Safari`, `Internet Explorer`,
    /// or `None` when unknown.
    pub browser: Option<&'static str>,
    /// `Windows`, `iOS`, `Android`, `ChromeOS`, `macOS`, `Linux`, or `None`.
    pub os: Option<&'static str>,
    /// `desktop`, `mobile`, `tablet` or `bot`.
    pub device: &'static str,
    /// Whether the agent is obviously a bot, crawler, headless browser or HTTP library.
    pub is_bot: bool,
}

const BOT_MARKERS: &[&str] = &[
    "bot",
    "crawler",
    "spider",
    "slurp",
    "headless",
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "go-http-client",
    "facebookexternalhit",
    "lighthouse",
    "phantomjs",
];

/// Parses a User-Agent header.
pub fn parse_user_agent(ua: &str) -> UaInfo {
    let lower = ua.to_ascii_lowercase();
    let is_bot = ua.trim().is_empty() || BOT_MARKERS.iter().any(|m| lower.contains(m));
    let has = |s: &str| ua.contains(s);
    let browser = if has("Edg/") || has("Edge/") || has("EdgA/") || has("EdgiOS/") {
        Some("Edge")
    } else if has("OPR/") || has("Opera") {
        Some("Opera")
    } else if has("SamsungBrowser/") {
        Some("Samsung Internet")
    } else if has("Firefox/") || has("FxiOS/") {
        Some("Firefox")
    } else if has("CriOS/") || has("Chrome/") || has("Chromium/") {
        Some("Chrome")
    } else if has("Safari/") && has("Version/") {
        Some("Safari")
    } else if has("MSIE ") || has("Trident/") {
        Some("Internet Explorer")
    } else {
        None
    };
    let os = if has("Windows") {
        Some("Windows")
    } else if has("iPhone") || has("iPad") || has("iPod") {
        Some("iOS")
    } else if has("Android") {
        Some("Android")
    } else if has("CrOS") {
        Some("ChromeOS")
    } else if has("Macintosh") || has("Mac OS X") {
        Some("macOS")
    } else if has("Linux") {
        Some("Linux")
    } else {
        None
    };
    let device = if is_bot {
        "bot"
    } else if has("iPad") || has("Tablet") || (has("Android") && !has("Mobile")) {
        "tablet"
    } else if has("Mobi") || has("iPhone") || has("iPod") || has("Android") {
        "mobile"
    } else {
        "desktop"
    };
    UaInfo {
        browser,
        os,
        device,
        is_bot,
    }
}

/// Campaign parameters of a page URL.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Campaign {
    /// `utm_source`.
    pub utm_source: Option<String>,
    /// `utm_medium`.
    pub utm_medium: Option<String>,
    /// `utm_campaign`.
    pub utm_campaign: Option<String>,
    /// `utm_term`.
    pub utm_term: Option<String>,
    /// `utm_content`.
    pub utm_content: Option<String>,
    /// Google Ads click id.
    pub gclid: Option<String>,
    /// Facebook click id.
    pub fbclid: Option<String>,
}

impl Campaign {
    /// Whether the URL carried none of the parameters.
    pub fn is_empty(&self) -> bool {
        *self == Campaign::default()
    }
}

/// The campaign parameters in `url`'s query (the fragment is ignored); values are decoded,
/// trimmed, capped at 200 characters, and empty ones dropped.
pub fn parse_campaign(url: &str) -> Campaign {
    let mut c = Campaign::default();
    for (k, v) in crate::http::urls::query_pairs(url) {
        let slot = match k.to_ascii_lowercase().as_str() {
            "utm_source" => &mut c.utm_source,
            "utm_medium" => &mut c.utm_medium,
            "utm_campaign" => &mut c.utm_campaign,
            "utm_term" => &mut c.utm_term,
            "utm_content" => &mut c.utm_content,
            "gclid" => &mut c.gclid,
            "fbclid" => &mut c.fbclid,
            _ => continue,
        };
        let v: String = v
            .trim()
            .chars()
            .filter(|ch| !ch.is_control())
            .take(200)
            .collect();
        if !v.is_empty() && slot.is_none() {
            *slot = Some(v);
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_and_systems() {
        let chrome_win = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                          (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
        let i = parse_user_agent(chrome_win);
        assert_eq!(
            (i.browser, i.os, i.device, i.is_bot),
            (Some("Chrome"), Some("Windows"), "desktop", false)
        );
        let edge = format!("{chrome_win} Edg/120.0.0.0");
        assert_eq!(parse_user_agent(&edge).browser, Some("Edge"));
        let safari_ios =
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 \
                          (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        let i = parse_user_agent(safari_ios);
        assert_eq!(
            (i.browser, i.os, i.device),
            (Some("Safari"), Some("iOS"), "mobile")
        );
        let ff_linux = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";
        let i = parse_user_agent(ff_linux);
        assert_eq!(
            (i.browser, i.os, i.device),
            (Some("Firefox"), Some("Linux"), "desktop")
        );
        let safari_mac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 \
                          (KHTML, like Gecko) Version/17.1 Safari/605.1.15";
        let i = parse_user_agent(safari_mac);
        assert_eq!((i.browser, i.os), (Some("Safari"), Some("macOS")));
        let android_phone = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 \
                             (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36";
        let i = parse_user_agent(android_phone);
        assert_eq!(
            (i.browser, i.os, i.device),
            (Some("Chrome"), Some("Android"), "mobile")
        );
        let android_tab = "Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 \
                           (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
        assert_eq!(parse_user_agent(android_tab).device, "tablet");
        let ipad = "Mozilla/5.0 (iPad; CPU OS 16_0 like Mac OS X) AppleWebKit/605.1.15 \
                    (KHTML, like Gecko) Version/16.0 Mobile/15E148 Safari/604.1";
        assert_eq!(parse_user_agent(ipad).device, "tablet");
        for bot in [
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "curl/8.4.0",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120.0.0.0",
            "",
        ] {
            let i = parse_user_agent(bot);
            assert!(i.is_bot && i.device == "bot", "{bot}");
        }
    }

    #[test]
    fn campaign_parameters() {
        let c = parse_campaign(
            "https://shop.example.com/p?utm_source=google&utm_medium=cpc&utm_campaign=spring%20demo\
             &utm_term=a+b&utm_content=x&gclid=abc123&fbclid=&other=1#frag",
        );
        assert_eq!(c.utm_source.as_deref(), Some("google"));
        assert_eq!(c.utm_medium.as_deref(), Some("cpc"));
        assert_eq!(c.utm_campaign.as_deref(), Some("spring demo"));
        assert_eq!(c.utm_term.as_deref(), Some("a b"));
        assert_eq!(c.utm_content.as_deref(), Some("x"));
        assert_eq!(c.gclid.as_deref(), Some("abc123"));
        assert_eq!(c.fbclid, None);
        assert!(parse_campaign("https://example.com/").is_empty());
        assert_eq!(
            parse_campaign("https://e.com/?utm_source=%zz")
                .utm_source
                .as_deref(),
            Some("%zz")
        );
        assert_eq!(
            parse_campaign("https://e.com/?fbclid=F%").fbclid.as_deref(),
            Some("F%")
        );
    }
}
