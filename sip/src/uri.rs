//! SIP URIs whose host is an IPv6 reference (`sip:1001@[2001:db8::1]:5060`).
//!
//! rsip 0.4's URI tokenizer splits host and port at the first `:`, so it reads neither an
//! IPv6 reference with a port nor one without (the host becomes `[` and the rest an invalid
//! port). rsip holds a host that is not an IP address as `Host::Domain`, printed verbatim, so
//! Ringside parses such a URI with a colon-free stand-in for the reference and then puts the
//! reference, brackets included, back as the host: the URI prints exactly as written and the
//! rest of the stack (which reads URIs as text) sees `[2001:db8::1]` where RFC 3261's grammar
//! puts it.

use std::net::Ipv6Addr;
use std::ops::Range;

use rsip::host_with_port::{Domain, Host};

/// What an IPv6 reference is replaced with while rsip tokenizes: no `:`, `.`, `;`, `@` or
/// space, so it reads as one host name.
const STAND_IN: &str = "ringside-ipv6-reference";

/// `ip` as a URI or Via host writes it: an IPv6 address in brackets (`[2001:db8::1]`).
pub fn host(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        v4 => v4.to_string(),
    }
}

/// Parse a SIP URI, an IPv6 reference as host included. `None` if rsip cannot read it.
pub fn parse(text: &str) -> Option<rsip::Uri> {
    match ipv6_reference(text) {
        None => rsip::Uri::try_from(text).ok(),
        Some(r) => {
            let swapped = format!("{}{STAND_IN}{}", &text[..r.start], &text[r.end..]);
            let mut uri = rsip::Uri::try_from(swapped.as_str()).ok()?;
            restore(&mut uri, &text[r])?;
            Some(uri)
        }
    }
}

/// The byte range of the IPv6 reference (`[` to `]` inclusive) that is the host of the URI
/// `text`: after the scheme and the userinfo, and holding a valid IPv6 address.
pub fn ipv6_reference(text: &str) -> Option<Range<usize>> {
    let after_user = text.find('@').map_or(0, |i| i + 1);
    let host = &text[after_user..];
    let host = host.trim_start_matches(|c: char| c != '[' && c != ';' && c != '?');
    if !host.starts_with('[') {
        return None;
    }
    let start = text.len() - host.len();
    let end = start + host.find(']')? + 1;
    text[start + 1..end - 1].parse::<Ipv6Addr>().ok()?;
    Some(start..end)
}

/// The IPv6 reference of a request's Request-URI, found in the start line of `bytes` (a
/// response's start line has none): its byte range within `bytes`.
pub(crate) fn request_line_ipv6(bytes: &[u8]) -> Option<Range<usize>> {
    let line_end = bytes.iter().position(|&b| b == b'\n')?;
    let line = std::str::from_utf8(&bytes[..line_end]).ok()?;
    if line.starts_with("SIP/") {
        return None;
    }
    let uri_start = line.find(' ')? + 1;
    let uri_len = line[uri_start..].find(' ')?;
    let r = ipv6_reference(&line[uri_start..uri_start + uri_len])?;
    Some(uri_start + r.start..uri_start + r.end)
}

/// `bytes` with the Request-URI's IPv6 reference at `r` replaced by the stand-in.
pub(crate) fn with_stand_in(bytes: &[u8], r: &Range<usize>) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..r.start]);
    out.extend_from_slice(STAND_IN.as_bytes());
    out.extend_from_slice(&bytes[r.end..]);
    out
}

/// Put `reference` back as the host of a URI parsed with the stand-in; `None` if its host is
/// not the stand-in (the reference was not the host after all).
pub(crate) fn restore(uri: &mut rsip::Uri, reference: &str) -> Option<()> {
    match &uri.host_with_port.host {
        Host::Domain(d) if d.to_string() == STAND_IN => {
            uri.host_with_port.host = Host::Domain(Domain::from(reference.to_string()));
            Some(())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_references_parse_and_print_as_written() {
        for text in [
            "sip:1001@[2001:db8::1]:5062;transport=tcp",
            "sip:[::1]:5060",
            "sip:[::1]",
            "sips:alice@[fe80::1:2]:5061;lr",
            "sip:1001@[::ffff:192.0.2.1]",
        ] {
            let uri = parse(text).unwrap_or_else(|| panic!("{text} parses"));
            // rsip writes the transport parameter's value in capitals.
            assert!(uri.to_string().eq_ignore_ascii_case(text), "{uri} {text}");
        }
        let uri = parse("sip:1001@[2001:db8::1]:5062;transport=tcp").unwrap();
        assert_eq!(uri.user(), Some("1001"));
        assert_eq!(uri.host_with_port.port.map(u16::from), Some(5062));
        assert_eq!(uri.host_with_port.host.to_string(), "[2001:db8::1]");
        // Not IPv6 references: an IPv4 host, a bracketed non-address, brackets in the user.
        assert_eq!(
            parse("sip:1001@192.0.2.1:5060").unwrap().to_string(),
            "sip:1001@192.0.2.1:5060"
        );
        assert_eq!(ipv6_reference("sip:1001@[not-an-address]"), None);
        assert_eq!(ipv6_reference("sip:1001@example.com;x=[::1]"), None);
        assert_eq!(ipv6_reference("sip:1001@[::1"), None);
    }

    #[test]
    fn the_request_line_reference_is_found_and_responses_have_none() {
        let req = b"INVITE sip:1001@[::1]:5060 SIP/2.0\r\nVia: x\r\n\r\n";
        let r = request_line_ipv6(req).unwrap();
        assert_eq!(&req[r.clone()], b"[::1]");
        let swapped = with_stand_in(req, &r);
        assert!(swapped.starts_with(b"INVITE sip:1001@ringside-ipv6-reference:5060 SIP/2.0\r\n"));
        assert_eq!(
            request_line_ipv6(b"SIP/2.0 200 OK\r\nContact: <sip:[::1]>\r\n\r\n"),
            None
        );
        assert_eq!(request_line_ipv6(b"INVITE sip:1001@[::1]:5060"), None);
    }
}
