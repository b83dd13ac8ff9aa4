//! Names people type that end up in SIP messages or the directory: checked once, here, by
//! the API that accepts them and the call core that uses them.

use std::fmt;
use std::net::IpAddr;

/// Why a name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    /// Not a host name or IP address.
    Host,
    /// Not a SIP user name.
    User,
    /// Not a display name.
    Display,
}

impl NameError {
    /// What a valid value looks like (the API's error text).
    pub fn reason(self) -> &'static str {
        match self {
            NameError::Host => "a host name or IP address",
            NameError::User => "1-32 characters of letters, digits and . _ - +",
            NameError::Display => "at most 64 printable characters",
        }
    }
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for NameError {}

/// Whether `h` is a DNS host name (or dotted IPv4 address): labels of letters, digits and
/// inner hyphens, 1-63 characters each, at most 253 in all.
pub fn is_dns_name(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Where a trunk sends calls: a DNS name, an IPv4 address, or an IPv6 address (bare or in
/// brackets).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SipHost(String);

impl SipHost {
    /// Check a host as written.
    pub fn parse(s: &str) -> Result<SipHost, NameError> {
        let literal = s
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(s);
        if is_dns_name(s) || literal.parse::<IpAddr>().is_ok() {
            Ok(SipHost(s.to_string()))
        } else {
            Err(NameError::Host)
        }
    }

    /// The host as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A SIP user name for an extension or a trunk's digest credentials: 1-32 letters, digits
/// and `. _ - +` (nothing that needs escaping in a URI or a digest header).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SipUser(String);

impl SipUser {
    /// Check a user name.
    pub fn parse(s: &str) -> Result<SipUser, NameError> {
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b));
        if ok {
            Ok(SipUser(s.to_string()))
        } else {
            Err(NameError::User)
        }
    }

    /// The user name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A name shown to the phones that ring (the From display name).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct DisplayName(String);

impl DisplayName {
    /// A name given through the API: at most 64 bytes, no control characters.
    pub fn parse(s: &str) -> Result<DisplayName, NameError> {
        if s.len() > 64 || s.chars().any(char::is_control) {
            Err(NameError::Display)
        } else {
            Ok(DisplayName(s.to_string()))
        }
    }

    /// A name a website visitor typed: quotes, backslashes and line breaks dropped, cut to
    /// 60 characters (never refused: the call goes on without a name instead).
    pub fn sanitize(s: &str) -> DisplayName {
        DisplayName(
            s.chars()
                .filter(|c| !matches!(c, '"' | '\\') && !c.is_control())
                .take(60)
                .collect(),
        )
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// As the display-name part of a From header: `"name" `, or nothing when empty. Quotes
    /// and backslashes are escaped (RFC 3261 quoted-pair), control characters dropped.
    pub fn quoted(&self) -> String {
        if self.0.is_empty() {
            return String::new();
        }
        let mut out = String::with_capacity(self.0.len() + 3);
        out.push('"');
        for c in self.0.chars().filter(|c| !c.is_control()) {
            if matches!(c, '"' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push_str("\" ");
        out
    }
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        for ok in [
            "sip.example.com",
            "192.0.2.10",
            "::1",
            "[2001:db8::1]",
            "pbx-1",
        ] {
            assert!(SipHost::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-x.example",
            "a..b",
            "host name",
            "a:b",
            "[x]",
            "evil\r\nVia",
        ] {
            assert_eq!(SipHost::parse(bad), Err(NameError::Host), "{bad:?}");
        }
        assert!(!is_dns_name(&"a".repeat(254)));
        assert!(!is_dns_name(&format!("{}.com", "a".repeat(64))));
    }

    #[test]
    fn users() {
        assert!(SipUser::parse("alice.smith+1").is_ok());
        for bad in ["", "a b", "a@b", "a:b", &"x".repeat(33)] {
            assert_eq!(SipUser::parse(bad), Err(NameError::User), "{bad:?}");
        }
    }

    #[test]
    fn display_names() {
        assert!(DisplayName::parse("Front desk").is_ok());
        assert_eq!(DisplayName::parse("a\nb"), Err(NameError::Display));
        assert_eq!(DisplayName::parse(&"x".repeat(65)), Err(NameError::Display));
        let typed = DisplayName::sanitize("Ann \"the\" \\Visitor\r\nVia: x");
        assert_eq!(typed.as_str(), "Ann the VisitorVia: x");
        assert_eq!(typed.quoted(), "\"Ann the VisitorVia: x\" ");
        assert_eq!(
            DisplayName::sanitize(&"é".repeat(80))
                .as_str()
                .chars()
                .count(),
            60
        );
        assert_eq!(DisplayName::sanitize("\"\"").quoted(), "");
        assert_eq!(
            DisplayName::parse("Say \"hi\"").unwrap().quoted(),
            "\"Say \\\"hi\\\"\" "
        );
    }
}
