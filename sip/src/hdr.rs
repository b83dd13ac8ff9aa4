//! Small, allocation-light helpers for reading and building SIP messages on the B2BUA's path.
//!
//! rsip keeps headers as strings and parses typed forms on demand; these helpers read the few
//! fields the B2BUA needs straight from the header text.

use rsip::headers::{self, Header, UntypedHeader};
use rsip::{Method, Request, Response};

/// The first header value of a given kind, as text.
pub fn header_value<'a>(headers: &'a rsip::Headers, name: &str) -> Option<&'a str> {
    headers.iter().find_map(|h| {
        let v: &str = match (h, name) {
            (Header::Via(v), "Via") => v.value(),
            (Header::From(v), "From") => v.value(),
            (Header::To(v), "To") => v.value(),
            (Header::CallId(v), "Call-ID") => v.value(),
            (Header::Contact(v), "Contact") => v.value(),
            (Header::CSeq(v), "CSeq") => v.value(),
            (Header::ContentType(v), "Content-Type") => v.value(),
            (Header::Expires(v), "Expires") => v.value(),
            (Header::MaxForwards(v), "Max-Forwards") => v.value(),
            (Header::Authorization(v), "Authorization") => v.value(),
            (Header::ProxyAuthorization(v), "Proxy-Authorization") => v.value(),
            (Header::UserAgent(v), "User-Agent") => v.value(),
            (Header::Other(n, v), _) if n.eq_ignore_ascii_case(name) => v.as_str(),
            _ => return None,
        };
        Some(v)
    })
}

/// The value of `;name=value` in a header (outside its `<...>` part).
pub fn param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    let rest = match value.rfind('>') {
        Some(i) => &value[i + 1..],
        None => value,
    };
    rest.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The URI inside a name-addr (`"Bob" <sip:bob@x>;tag=1` → `sip:bob@x`) or an addr-spec.
pub fn uri_part(value: &str) -> &str {
    match (value.find('<'), value.find('>')) {
        (Some(s), Some(e)) if s < e => &value[s + 1..e],
        _ => value.split(';').next().unwrap_or(value).trim(),
    }
}

/// The user part of a SIP URI (`sip:1002@host;x` → `1002`).
pub fn uri_user(uri: &str) -> Option<&str> {
    let rest = uri
        .strip_prefix("sip:")
        .or_else(|| uri.strip_prefix("sips:"))
        .or_else(|| uri.strip_prefix("tel:"))?;
    let user = match rest.find('@') {
        Some(i) => &rest[..i],
        None if uri.starts_with("tel:") => rest.split(';').next()?,
        None => return None,
    };
    let user = user.split(';').next()?.split(':').next()?;
    (!user.is_empty()).then_some(user)
}

/// The tag parameter of the From or To header.
pub fn tag<'a>(headers: &'a rsip::Headers, name: &str) -> Option<&'a str> {
    header_value(headers, name).and_then(|v| param(v, "tag"))
}

/// Call-ID text.
pub fn call_id(headers: &rsip::Headers) -> Option<&str> {
    header_value(headers, "Call-ID").map(str::trim)
}

/// CSeq number.
pub fn cseq_num(headers: &rsip::Headers) -> Option<u32> {
    header_value(headers, "CSeq")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// All values of a header kind, in order (for Record-Route, Route, Contact lists).
pub fn all_values(headers: &rsip::Headers, name: &str) -> Vec<String> {
    headers
        .iter()
        .filter_map(|h| match (h, name) {
            (Header::RecordRoute(v), "Record-Route") => Some(v.value().to_string()),
            (Header::Contact(v), "Contact") => Some(v.value().to_string()),
            (Header::Other(n, v), _) if n.eq_ignore_ascii_case(name) => Some(v.clone()),
            _ => None,
        })
        .collect()
}

/// Split a header value holding a comma-separated list of name-addrs, respecting `<...>` and
/// quotes.
pub fn split_list(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0usize);
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth -= 1,
            ',' if !quoted && depth <= 0 => {
                out.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = value[start..].trim();
    if !last.is_empty() {
        out.push(last);
    }
    out
}

/// The SDP body of a message if its Content-Type says so.
pub fn sdp_body(headers: &rsip::Headers, body: &[u8]) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    let ct = header_value(headers, "Content-Type")?;
    if !ct
        .trim()
        .to_ascii_lowercase()
        .starts_with("application/sdp")
    {
        return None;
    }
    String::from_utf8(body.to_vec()).ok()
}

/// Build a request from parts; Content-Length is set from the body.
pub fn build_request(
    method: Method,
    uri: &str,
    mut headers: Vec<Header>,
    body: Option<(&str, Vec<u8>)>,
) -> Option<Request> {
    let uri = crate::uri::parse(uri)?;
    let body = match body {
        Some((ctype, b)) => {
            headers.push(Header::ContentType(headers::ContentType::new(ctype)));
            b
        }
        None => Vec::new(),
    };
    headers.push(Header::ContentLength(headers::ContentLength::new(
        body.len().to_string(),
    )));
    Some(Request {
        method,
        uri,
        version: rsip::Version::V2,
        headers: headers.into(),
        body,
    })
}

/// Replace (or add) a response's body and its Content-Type / Content-Length.
pub fn set_body(resp: &mut Response, ctype: Option<&str>, body: Vec<u8>) {
    resp.body = with_body(&mut resp.headers, ctype, body);
}

/// [`set_body`] for a request (an ACK carrying an answer).
pub fn set_request_body(req: &mut Request, ctype: Option<&str>, body: Vec<u8>) {
    req.body = with_body(&mut req.headers, ctype, body);
}

/// Sets Content-Type (when given) and Content-Length for `body`, and returns the body.
pub(crate) fn with_body(h: &mut rsip::Headers, ctype: Option<&str>, body: Vec<u8>) -> Vec<u8> {
    h.retain(|h| !matches!(h, Header::ContentType(_) | Header::ContentLength(_)));
    if let Some(ct) = ctype {
        h.push(Header::ContentType(headers::ContentType::new(ct)));
    }
    h.push(Header::ContentLength(headers::ContentLength::new(
        body.len().to_string(),
    )));
    body
}

/// RFC 3581: record where a request really came from in its top Via (`received`, `rport`), so
/// responses carry it back.
pub fn stamp_via(req: &mut Request, src: std::net::SocketAddr) {
    let Some(via) = req.headers.iter_mut().find_map(|h| match h {
        Header::Via(v) => Some(v),
        _ => None,
    }) else {
        return;
    };
    let value = via.value();
    let mut parts = value.split(';');
    let head = parts.next().unwrap_or_default().trim_end();
    let sent_by_host = head
        .split_whitespace()
        .nth(1)
        .map(|hp| {
            if let Some(rest) = hp.strip_prefix('[') {
                rest.split(']').next().unwrap_or(rest)
            } else {
                hp.split(':').next().unwrap_or(hp)
            }
        })
        .unwrap_or_default();
    let ip = src.ip().to_string();
    let mut out = String::with_capacity(value.len() + 40);
    out.push_str(head);
    let mut has_received = false;
    for p in parts {
        let p = p.trim();
        let key = p.split('=').next().unwrap_or(p).trim();
        if key.eq_ignore_ascii_case("rport") {
            out.push_str(&format!(";rport={}", src.port()));
        } else if key.eq_ignore_ascii_case("received") {
            has_received = true;
            out.push_str(&format!(";received={ip}"));
        } else {
            out.push(';');
            out.push_str(p);
        }
    }
    if !has_received && sent_by_host != ip {
        out.push_str(&format!(";received={ip}"));
    }
    *via = headers::Via::new(out);
}

/// Known request methods (anything else is answered 501).
pub const KNOWN_METHODS: [&str; 14] = [
    "ACK",
    "BYE",
    "CANCEL",
    "INFO",
    "INVITE",
    "MESSAGE",
    "NOTIFY",
    "OPTIONS",
    "PRACK",
    "PUBLISH",
    "REFER",
    "REGISTER",
    "SUBSCRIBE",
    "UPDATE",
];

/// For a request the parser rejected: a `400 Bad Request` (or `501 Not Implemented` for an
/// unknown method) built from its raw Via/From/To/Call-ID/CSeq lines, when those can be found.
/// `None` means the message can only be dropped (a response, an ACK, or no usable headers).
pub fn raw_error_response(data: &[u8]) -> Option<bytes::Bytes> {
    let text = std::str::from_utf8(data).ok()?;
    let mut lines = text.split("\r\n").flat_map(|l| l.split('\n'));
    let request_line = lines.next()?;
    let mut rl = request_line.split(' ');
    let method = rl.next()?;
    let (_uri, version) = (rl.next()?, rl.next()?);
    if !version.trim().eq_ignore_ascii_case("SIP/2.0")
        || method.is_empty()
        || !method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
        || method == "ACK"
    {
        return None;
    }
    let (code, reason) = if KNOWN_METHODS.contains(&method) {
        (400, "Bad Request")
    } else {
        (501, "Not Implemented")
    };
    let (mut vias, mut from, mut to, mut call_id, mut cseq) = (Vec::new(), None, None, None, None);
    for line in lines {
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "via" | "v" => vias.push(value),
            "from" | "f" => from = Some(value),
            "to" | "t" => to = Some(value),
            "call-id" | "i" => call_id = Some(value),
            "cseq" => cseq = Some(value),
            _ => {}
        }
    }
    let (from, to, call_id, cseq) = (from?, to?, call_id?, cseq?);
    if vias.is_empty()
        || [from, to, call_id, cseq]
            .iter()
            .any(|v| v.contains(['\r', '\n']))
    {
        return None;
    }
    let mut out = format!("SIP/2.0 {code} {reason}\r\n");
    for v in vias {
        out.push_str(&format!("Via: {v}\r\n"));
    }
    let to = if param(to, "tag").is_some() {
        to.to_string()
    } else {
        format!("{to};tag={}", crate::message::new_tag())
    };
    out.push_str(&format!(
        "From: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq}\r\nServer: Ringside\r\nContent-Length: 0\r\n\r\n"
    ));
    Some(bytes::Bytes::from(out))
}

/// Values of every header called `name` (`Supported`, `Require`, `Allow`, `Session-Expires`,
/// `Min-SE`: lists of tokens), comma-separated values split and trimmed.
pub fn values<'a>(headers: &'a rsip::Headers, name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter_map(|h| match (h, name) {
            (Header::Supported(v), "Supported") => Some(v.value()),
            (Header::Require(v), "Require") => Some(v.value()),
            (Header::Allow(v), "Allow") => Some(v.value()),
            (Header::Other(n, v), _) if n.eq_ignore_ascii_case(name) => Some(v.as_str()),
            _ => None,
        })
        .flat_map(split_list)
        .filter(|v| !v.is_empty())
        .collect()
}

/// The SIP extensions (option tags) Ringside implements as a UAS.
pub const SUPPORTED: &[&str] = &["timer", "100rel"];

/// The option tags of the request's `Require` that Ringside does not implement (RFC 3261
/// 8.2.2.3: a non-empty list is answered 420 Bad Extension with them in `Unsupported`).
pub fn unsupported_required(headers: &rsip::Headers) -> Vec<String> {
    values(headers, "Require")
        .into_iter()
        .filter(|t| !SUPPORTED.iter().any(|s| s.eq_ignore_ascii_case(t)))
        .map(str::to_owned)
        .collect()
}

/// `RAck: rseq cseq method` (RFC 3262 §7.2): the reliable provisional a PRACK acknowledges.
pub fn rack(headers: &rsip::Headers) -> Option<(u32, u32, String)> {
    let v = header_value(headers, "RAck")?;
    let mut it = v.split_whitespace();
    let out = (
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.to_ascii_uppercase(),
    );
    it.next().is_none().then_some(out)
}

/// `RSeq` (RFC 3262 §7.1): the number of a reliable provisional response.
pub fn rseq(headers: &rsip::Headers) -> Option<u32> {
    header_value(headers, "RSeq")?.trim().parse().ok()
}

/// The host of a raw request's Request-URI (`sip:`/`sips:` URIs; an IPv6 reference without
/// its brackets), read from the start line alone: the name a new TLS connection for the
/// request is verified against (RFC 5922 §7.2). `None` for a response or another scheme.
pub fn request_uri_host(data: &[u8]) -> Option<&str> {
    let end = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let line = std::str::from_utf8(&data[..end]).ok()?.trim_end();
    let mut parts = line.split(' ');
    let (_method, uri, version) = (parts.next()?, parts.next()?, parts.next()?);
    if version != "SIP/2.0" || parts.next().is_some() {
        return None;
    }
    let rest = uri
        .strip_prefix("sips:")
        .or_else(|| uri.strip_prefix("sip:"))?;
    let hostport = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let hostport = hostport.split([';', '?']).next()?;
    let host = match hostport.strip_prefix('[') {
        Some(v6) => v6.split_once(']')?.0,
        None => hostport.split(':').next()?,
    };
    (!host.is_empty()).then_some(host)
}

/// Whether the message's `Allow` lists `method`.
pub fn allows(headers: &rsip::Headers, method: &str) -> bool {
    values(headers, "Allow")
        .into_iter()
        .any(|m| m.eq_ignore_ascii_case(method))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_params_uris_and_users() {
        let v = "\"Bob\" <sip:1002@10.0.0.1:5070;transport=udp>;tag=abc;expires=60";
        assert_eq!(param(v, "tag"), Some("abc"));
        assert_eq!(
            param(v, "transport"),
            None,
            "URI params are not header params"
        );
        assert_eq!(uri_part(v), "sip:1002@10.0.0.1:5070;transport=udp");
        assert_eq!(uri_user(uri_part(v)), Some("1002"));
        assert_eq!(
            uri_user("sip:+14155550123;phone-context=x@h"),
            Some("+14155550123")
        );
        assert_eq!(uri_user("tel:+14155550123"), Some("+14155550123"));
        assert_eq!(uri_user("sip:host.example"), None);
        assert_eq!(uri_part("sip:a@b;tag=1"), "sip:a@b");
    }

    #[test]
    fn raw_errors_for_unparsable_requests() {
        let bad = b"FOO sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4:5060;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: c\r\nCSeq: 1 FOO\r\nContent-Length: 0\r\n\r\n";
        let r = String::from_utf8(raw_error_response(bad).unwrap().to_vec()).unwrap();
        assert!(r.starts_with("SIP/2.0 501 Not Implemented\r\n"), "{r}");
        assert!(r.contains("Via: SIP/2.0/UDP 1.2.3.4:5060;branch=z9hG4bKx\r\n"));
        assert!(r.contains("To: <sip:x@y>;tag="));
        let garbled = b"INVITE sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: c\r\nCSeq: one INVITE\r\n\r\n";
        let r = String::from_utf8(raw_error_response(garbled).unwrap().to_vec()).unwrap();
        assert!(r.starts_with("SIP/2.0 400 Bad Request"));
        assert!(raw_error_response(b"SIP/2.0 200 OK\r\n\r\n").is_none());
        assert!(raw_error_response(b"\x00\x01garbage").is_none());
        assert!(raw_error_response(b"INVITE sip:x@y SIP/2.0\r\nFrom: a\r\n\r\n").is_none());
    }

    #[test]
    fn via_is_stamped_with_received_and_rport() {
        let mut r = Request::try_from(
            "OPTIONS sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa;rport\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        stamp_via(&mut r, "198.51.100.7:31000".parse().unwrap());
        let v = header_value(&r.headers, "Via").unwrap();
        assert_eq!(
            v,
            "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa;rport=31000;received=198.51.100.7"
        );
    }

    #[test]
    fn splits_lists() {
        assert_eq!(
            split_list("<sip:a@b;lr>, \"x,y\" <sip:c@d>,sip:e@f"),
            vec!["<sip:a@b;lr>", "\"x,y\" <sip:c@d>", "sip:e@f"]
        );
    }

    #[test]
    fn rack_rseq_and_the_request_uri_host_are_read_and_garbage_is_none() {
        let h = |lines: &[&str]| {
            let mut hs = rsip::Headers::default();
            for l in lines {
                let (n, v) = l.split_once(": ").unwrap();
                hs.push(rsip::Header::Other(n.into(), v.into()));
            }
            hs
        };
        assert_eq!(
            rack(&h(&["RAck: 776656 1 invite"])),
            Some((776_656, 1, "INVITE".into()))
        );
        assert_eq!(rack(&h(&["RAck: x 1 INVITE"])), None);
        assert_eq!(rack(&h(&["RAck: 1 1 INVITE extra"])), None);
        assert_eq!(rack(&h(&["RAck: 1 1"])), None);
        assert_eq!(rseq(&h(&["RSeq: 42 "])), Some(42));
        assert_eq!(rseq(&h(&["RSeq: -1"])), None);
        fn host(s: &str) -> Option<&str> {
            request_uri_host(s.as_bytes())
        }
        assert_eq!(
            host("INVITE sip:+1555@sip.carrier.example:5061;transport=tls SIP/2.0\r\nVia: x"),
            Some("sip.carrier.example")
        );
        assert_eq!(
            host("OPTIONS sips:pbx.example SIP/2.0"),
            Some("pbx.example")
        );
        assert_eq!(host("BYE sip:1002@[::1]:5061 SIP/2.0"), Some("::1"));
        assert_eq!(host("BYE sip:a@b@c.example SIP/2.0"), Some("c.example"));
        assert_eq!(host("SIP/2.0 200 OK"), None);
        assert_eq!(host("INVITE tel:+1555 SIP/2.0"), None);
        assert_eq!(host("INVITE sip:@ SIP/2.0"), None);
        assert_eq!(host("INVITE sip:[::1 SIP/2.0"), None);
        assert_eq!(host("garbage"), None);
    }
}
