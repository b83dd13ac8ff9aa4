//! Helpers over rsip's message model: parsing with validation, serialization that keeps binary
//! bodies intact, identifier generation, response building, and allocation-free accessors for
//! the header fields the transaction layer and the B2BUA read on every message.
//!
//! rsip stores every header as text and parses typed forms on demand (allocating). The accessors
//! here ([`top_via`], [`top_branch`], [`call_id`], [`cseq`], [`from_tag`], [`to_tag`]) read the
//! raw header text and return borrowed slices instead.

use std::fmt::Write as _;

use bytes::Bytes;
use rand::distributions::Alphanumeric;
use rand::Rng;
use rsip::headers::{self, Header, UntypedHeader};
use rsip::message::HasHeaders;
use rsip::{Method, Request, Response, SipMessage, StatusCode};

/// The RFC 3261 branch magic cookie.
pub const BRANCH_MAGIC: &str = "z9hG4bK";

/// Longest excerpt of rsip's parser error kept in [`ParseError::Syntax`].
const MAX_ERROR_TEXT: usize = 160;

/// Why [`parse`] rejected a datagram or frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing but CRLFs (a keep-alive) or no bytes at all.
    #[error("empty message (keep-alive)")]
    Empty,
    /// rsip could not tokenize the start line or headers.
    #[error("malformed SIP message: {0}")]
    Syntax(String),
    /// A mandatory header (Via, From, To, Call-ID, CSeq) is absent.
    #[error("missing mandatory header {0}")]
    MissingHeader(&'static str),
    /// A mandatory header is present but unusable.
    #[error("invalid {0} header")]
    InvalidHeader(&'static str),
    /// A request whose CSeq method differs from its request method.
    #[error("CSeq method does not match the request method")]
    CSeqMethodMismatch,
    /// A response status code outside 100..=699.
    #[error("invalid status code {0}")]
    InvalidStatus(u16),
    /// Anything but SIP/2.0.
    #[error("unsupported SIP version")]
    UnsupportedVersion,
    /// The body is shorter than Content-Length announces.
    #[error("body is {actual} bytes but Content-Length is {declared}")]
    TruncatedBody {
        /// Value of Content-Length.
        declared: usize,
        /// Bytes actually present.
        actual: usize,
    },
}

/// Parse one SIP message (a UDP datagram or one framed TCP message).
///
/// Never panics. On top of rsip's tokenizer this skips leading CRLFs, unfolds folded header
/// lines, maps compact header names (`v`, `f`, `t`, `i`, `m`, `l`, `c`, `k`, `s`, `e`, `o`) to
/// their full variants, checks that Via, From, To, Call-ID and CSeq are present and readable
/// (requests whose CSeq method differs are rejected too), and truncates the body to
/// Content-Length. Callers answer a request that fails with anything but [`ParseError::Empty`]
/// with 400 when they can still identify it.
pub fn parse(bytes: &[u8]) -> Result<SipMessage, ParseError> {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .ok_or(ParseError::Empty)?;
    let bytes = &bytes[start..];
    let unfolded;
    let bytes = match unfold(bytes) {
        Some(v) => {
            unfolded = v;
            &unfolded[..]
        }
        None => bytes,
    };
    // rsip cannot tokenize an IPv6 reference as the Request-URI's host (crate::uri).
    let swapped;
    let mut v6 = None;
    let bytes = match crate::uri::request_line_ipv6(bytes) {
        Some(r) => {
            swapped = crate::uri::with_stand_in(bytes, &r);
            v6 = Some(String::from_utf8_lossy(&bytes[r]).into_owned());
            &swapped[..]
        }
        None => bytes,
    };
    let mut msg = SipMessage::try_from(bytes).map_err(|e| {
        let mut text = e.to_string();
        if text.len() > MAX_ERROR_TEXT {
            let mut cut = MAX_ERROR_TEXT;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        ParseError::Syntax(text)
    })?;
    if let (Some(reference), SipMessage::Request(req)) = (&v6, &mut msg) {
        crate::uri::restore(&mut req.uri, reference)
            .ok_or_else(|| ParseError::Syntax("unreadable Request-URI".into()))?;
    }
    expand_compact_headers(msg.headers_mut());
    validate(&msg)?;
    fix_body_length(&mut msg)?;
    Ok(msg)
}

/// Folded header lines (CRLF followed by SP/HT) joined into one; `None` if there are none.
fn unfold(bytes: &[u8]) -> Option<Vec<u8>> {
    let head_end = find(bytes, b"\r\n\r\n").unwrap_or(bytes.len());
    let head = &bytes[..head_end];
    let folded = |i: usize| head[i..].starts_with(b"\r\n ") || head[i..].starts_with(b"\r\n\t");
    if !(0..head.len()).any(folded) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < head.len() {
        if folded(i) {
            i += 2;
        } else {
            out.push(head[i]);
            i += 1;
        }
    }
    out.extend_from_slice(&bytes[head_end..]);
    Some(out)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn expand_compact_headers(headers: &mut rsip::Headers) {
    for h in headers.iter_mut() {
        let Header::Other(name, value) = h else {
            continue;
        };
        if name.len() != 1 {
            continue;
        }
        let v = std::mem::take(value);
        *h = match name.as_bytes()[0].to_ascii_lowercase() {
            b'v' => Header::Via(headers::Via::new(v)),
            b'f' => Header::From(headers::From::new(v)),
            b't' => Header::To(headers::To::new(v)),
            b'i' => Header::CallId(headers::CallId::new(v)),
            b'm' => Header::Contact(headers::Contact::new(v)),
            b'l' => Header::ContentLength(headers::ContentLength::new(v)),
            b'c' => Header::ContentType(headers::ContentType::new(v)),
            b'k' => Header::Supported(headers::Supported::new(v)),
            b's' => Header::Subject(headers::Subject::new(v)),
            b'e' => Header::ContentEncoding(headers::ContentEncoding::new(v)),
            b'o' => Header::Event(headers::Event::new(v)),
            // RFC 4028 compact form of Session-Expires.
            b'x' => Header::Other("Session-Expires".into(), v),
            _ => {
                *value = v;
                continue;
            }
        };
    }
}

fn validate(msg: &SipMessage) -> Result<(), ParseError> {
    if *msg.version() != rsip::Version::V2 {
        return Err(ParseError::UnsupportedVersion);
    }
    let via = first_value(msg, |h| match h {
        Header::Via(v) => Some(v.value()),
        _ => None,
    })
    .ok_or(ParseError::MissingHeader("Via"))?;
    if parse_via(via).is_none() {
        return Err(ParseError::InvalidHeader("Via"));
    }
    if from_header(msg).is_none() {
        return Err(ParseError::MissingHeader("From"));
    }
    if to_header(msg).is_none() {
        return Err(ParseError::MissingHeader("To"));
    }
    match call_id(msg) {
        None => return Err(ParseError::MissingHeader("Call-ID")),
        Some("") => return Err(ParseError::InvalidHeader("Call-ID")),
        Some(_) => {}
    }
    if !msg.headers().iter().any(|h| matches!(h, Header::CSeq(_))) {
        return Err(ParseError::MissingHeader("CSeq"));
    }
    let (_, method) = cseq(msg).ok_or(ParseError::InvalidHeader("CSeq"))?;
    match msg {
        SipMessage::Request(r) if r.method != method => Err(ParseError::CSeqMethodMismatch),
        SipMessage::Response(r) if !(100..=699).contains(&r.status_code.code()) => {
            Err(ParseError::InvalidStatus(r.status_code.code()))
        }
        _ => Ok(()),
    }
}

fn fix_body_length(msg: &mut SipMessage) -> Result<(), ParseError> {
    let declared = msg.headers().iter().find_map(|h| match h {
        Header::ContentLength(v) => Some(v.value().trim().parse::<usize>()),
        _ => None,
    });
    let declared = match declared {
        None => return Ok(()),
        Some(Ok(n)) => n,
        Some(Err(_)) => return Err(ParseError::InvalidHeader("Content-Length")),
    };
    let body = msg.body_mut();
    match body.len() {
        actual if actual < declared => Err(ParseError::TruncatedBody { declared, actual }),
        _ => {
            body.truncate(declared);
            Ok(())
        }
    }
}

/// Serialize a message for the wire. The body is appended byte for byte (rsip's `Display`
/// would lossily convert it to UTF-8). Content-Length is written as present in the headers.
pub fn serialize(msg: &SipMessage) -> Bytes {
    match msg {
        SipMessage::Request(r) => serialize_request(r),
        SipMessage::Response(r) => serialize_response(r),
    }
}

/// [`serialize`] for a bare request (no `SipMessage` wrapping needed).
pub fn serialize_request(req: &Request) -> Bytes {
    with_scratch(|text| {
        let _ = write!(text, "{} {} {}\r\n", req.method, req.uri, req.version);
        finish(text, &req.headers, &req.body)
    })
}

/// [`serialize`] for a bare response.
pub fn serialize_response(resp: &Response) -> Bytes {
    with_scratch(|text| {
        let _ = write!(text, "{} {}\r\n", resp.version, resp.status_code);
        finish(text, &resp.headers, &resp.body)
    })
}

/// Messages are formatted into one reused per-thread buffer and copied out at their exact
/// size: a transaction keeps its last message for up to 32 s (Timers J and L), and a
/// growing `String` would keep up to twice that size allocated per transaction.
fn with_scratch(f: impl FnOnce(&mut String) -> Bytes) -> Bytes {
    thread_local! {
        static SCRATCH: std::cell::RefCell<String> = std::cell::RefCell::new(String::with_capacity(2048));
    }
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut text) => {
            text.clear();
            let out = f(&mut text);
            if text.capacity() > 64 * 1024 {
                *text = String::with_capacity(2048);
            }
            out
        }
        // Not reentrant in practice (formatting a header does not serialize a message).
        Err(_) => f(&mut String::with_capacity(1024)),
    })
}

fn finish(text: &mut String, headers: &rsip::Headers, body: &[u8]) -> Bytes {
    for h in headers.iter() {
        let _ = write!(text, "{h}\r\n");
    }
    text.push_str("\r\n");
    let mut out = Vec::with_capacity(text.len() + body.len());
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(body);
    Bytes::from(out)
}

fn random_token(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// A fresh RFC 3261 Via branch: `z9hG4bK` followed by 16 random alphanumerics.
pub fn new_branch() -> String {
    let mut s = String::with_capacity(BRANCH_MAGIC.len() + 16);
    s.push_str(BRANCH_MAGIC);
    s.push_str(&random_token(16));
    s
}

/// A fresh From/To tag (12 random alphanumerics).
pub fn new_tag() -> String {
    random_token(12)
}

/// A fresh Call-ID (24 random alphanumerics, no host part).
pub fn new_call_id() -> String {
    random_token(24)
}

/// Build a response to `req`: copies every Via (in order), From, To (adding `;tag=` when
/// `to_tag` is given and To has no tag yet), Call-ID and CSeq, then appends
/// `Content-Length: 0` and `Server: Ringside`. Record-Route, Contact and bodies are the TU's
/// business.
pub fn make_response(req: &Request, code: StatusCode, to_tag: Option<&str>) -> Response {
    // rsip names the codes it does not know "Other": 202 is RFC 3515's (and RFC 6665's).
    let code = match code {
        StatusCode::Other(202, _) => StatusCode::Other(202, "Accepted".into()),
        c => c,
    };
    let mut out: Vec<Header> = Vec::with_capacity(8);
    for h in req.headers.iter() {
        match h {
            Header::Via(_) | Header::From(_) | Header::CallId(_) | Header::CSeq(_) => {
                out.push(h.clone())
            }
            Header::To(to) => match to_tag {
                Some(tag) if header_param(to.value(), "tag").is_none() => out.push(Header::To(
                    headers::To::new(format!("{};tag={tag}", to.value().trim_end())),
                )),
                _ => out.push(h.clone()),
            },
            _ => {}
        }
    }
    out.push(Header::ContentLength(headers::ContentLength::new("0")));
    out.push(Header::Server(headers::Server::new("Ringside")));
    Response {
        status_code: code,
        version: rsip::Version::V2,
        headers: out.into(),
        body: Vec::new(),
    }
}

/// Build the CANCEL for a client INVITE (RFC 3261 §9.1): same Request-URI, top Via (so the
/// same branch), From, To, Call-ID, CSeq number and Route headers; `Max-Forwards: 70`.
///
/// The TU must only send it after a provisional response arrived for the INVITE.
pub fn make_cancel(invite: &Request) -> Request {
    derived_request(invite, Method::Cancel, None)
}

/// Build the ACK for a non-2xx final response (RFC 3261 §17.1.1.3): Request-URI, top Via,
/// From, Call-ID, CSeq number and Route headers of the INVITE, To of the response.
///
/// The INVITE client transaction sends this itself; the TU never needs to.
pub fn make_non2xx_ack(invite: &Request, response: &Response) -> Request {
    derived_request(invite, Method::Ack, to_header(response))
}

fn derived_request(invite: &Request, method: Method, to: Option<&str>) -> Request {
    let mut out: Vec<Header> = Vec::with_capacity(9);
    if let Some(via) = first_value(invite, |h| match h {
        Header::Via(v) => Some(v.value()),
        _ => None,
    }) {
        out.push(Header::Via(headers::Via::new(first_element(via).trim())));
    }
    for h in invite.headers.iter() {
        match h {
            Header::From(_) | Header::CallId(_) | Header::Route(_) => out.push(h.clone()),
            Header::To(v) => out.push(Header::To(headers::To::new(to.unwrap_or(v.value())))),
            Header::CSeq(_) => {
                let seq = cseq(invite).map(|(n, _)| n).unwrap_or(1);
                out.push(Header::CSeq(headers::CSeq::new(format!("{seq} {method}"))));
            }
            _ => {}
        }
    }
    out.push(Header::MaxForwards(headers::MaxForwards::new("70")));
    out.push(Header::ContentLength(headers::ContentLength::new("0")));
    Request {
        method,
        uri: invite.uri.clone(),
        version: rsip::Version::V2,
        headers: out.into(),
        body: Vec::new(),
    }
}

/// The top Via's interesting parts, borrowed from the header text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViaInfo<'a> {
    /// Transport token (`UDP`, `TCP`, `TLS`, `WS`, ...).
    pub transport: &'a str,
    /// `host[:port]` as written.
    pub sent_by: &'a str,
    /// The branch parameter, if any.
    pub branch: Option<&'a str>,
}

fn first_value<'a, M, F>(msg: &'a M, pick: F) -> Option<&'a str>
where
    M: HasHeaders + ?Sized,
    F: Fn(&'a Header) -> Option<&'a str>,
{
    msg.headers().iter().find_map(pick)
}

/// The first element of a comma-separated header value (commas inside quotes ignored).
fn first_element(value: &str) -> &str {
    let mut quoted = false;
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => return &value[..i],
            _ => {}
        }
    }
    value
}

fn parse_via(value: &str) -> Option<ViaInfo<'_>> {
    let value = first_element(value).trim();
    let (proto, rest) = value.split_once(|c: char| c.is_ascii_whitespace())?;
    let mut parts = proto.split('/');
    let (name, _version, transport) = (parts.next()?, parts.next()?, parts.next()?);
    if !name.trim().eq_ignore_ascii_case("SIP") || transport.trim().is_empty() {
        return None;
    }
    let rest = rest.trim_start();
    let (sent_by, params) = match rest.find(';') {
        Some(i) => (rest[..i].trim(), &rest[i..]),
        None => (rest.trim(), ""),
    };
    if sent_by.is_empty() || sent_by.contains(char::is_whitespace) {
        return None;
    }
    Some(ViaInfo {
        transport: transport.trim(),
        sent_by,
        branch: param_in(params, "branch"),
    })
}

/// `;name=value` among `params` (a string starting at the first `;`).
fn param_in<'a>(params: &'a str, name: &str) -> Option<&'a str> {
    params.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// A header parameter of a name-addr / addr-spec header value (From, To, Contact), read after
/// the closing `>` if there is one.
pub fn header_param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    let rest = match value.rfind('>') {
        Some(i) => &value[i + 1..],
        None => match value.find(';') {
            Some(i) => &value[i..],
            None => "",
        },
    };
    param_in(rest, name)
}

/// The top Via: first element of the first Via header.
pub fn top_via<M: HasHeaders + ?Sized>(msg: &M) -> Option<ViaInfo<'_>> {
    let v = first_value(msg, |h| match h {
        Header::Via(v) => Some(v.value()),
        _ => None,
    })?;
    parse_via(v)
}

/// Branch parameter of the top Via.
pub fn top_branch<M: HasHeaders + ?Sized>(msg: &M) -> Option<&str> {
    top_via(msg)?.branch
}

/// Call-ID text, trimmed.
pub fn call_id<M: HasHeaders + ?Sized>(msg: &M) -> Option<&str> {
    first_value(msg, |h| match h {
        Header::CallId(v) => Some(v.value().trim()),
        _ => None,
    })
}

/// CSeq number and method.
pub fn cseq<M: HasHeaders + ?Sized>(msg: &M) -> Option<(u32, Method)> {
    let v = first_value(msg, |h| match h {
        Header::CSeq(v) => Some(v.value()),
        _ => None,
    })?;
    let mut it = v.split_ascii_whitespace();
    let num = it.next()?.parse().ok()?;
    let method = it.next()?.parse().ok()?;
    it.next().is_none().then_some((num, method))
}

fn from_header<M: HasHeaders + ?Sized>(msg: &M) -> Option<&str> {
    first_value(msg, |h| match h {
        Header::From(v) => Some(v.value()),
        _ => None,
    })
}

fn to_header<M: HasHeaders + ?Sized>(msg: &M) -> Option<&str> {
    first_value(msg, |h| match h {
        Header::To(v) => Some(v.value()),
        _ => None,
    })
}

/// Tag parameter of From.
pub fn from_tag<M: HasHeaders + ?Sized>(msg: &M) -> Option<&str> {
    header_param(from_header(msg)?, "tag").filter(|t| !t.is_empty())
}

/// Tag parameter of To.
pub fn to_tag<M: HasHeaders + ?Sized>(msg: &M) -> Option<&str> {
    header_param(to_header(msg)?, "tag").filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    //! Private helpers; the public API is tested in `tests/transaction_message.rs`.
    use super::*;

    #[test]
    fn unfolds_continuation_lines_in_the_head_only() {
        let msg = b"A: 1\r\n 2\r\nB:\t3\r\n\t4\r\n\r\nbody\r\n x";
        let out = unfold(msg).unwrap();
        assert_eq!(out, b"A: 1 2\r\nB:\t3\t4\r\n\r\nbody\r\n x");
        assert!(unfold(b"A: 1\r\n\r\n\r\n x").is_none());
    }

    #[test]
    fn via_parsing() {
        let v = parse_via("SIP/2.0/UDP  [2001:db8::1]:5060 ;branch=z9hG4bK1;rport, SIP/2.0/TCP b")
            .unwrap();
        assert_eq!(
            (v.transport, v.sent_by, v.branch),
            ("UDP", "[2001:db8::1]:5060", Some("z9hG4bK1"))
        );
        assert_eq!(parse_via("SIP/2.0/TLS host").unwrap().branch, None);
        assert!(parse_via("garbage").is_none());
        assert!(parse_via("HTTP/1.1/TCP host").is_none());
        assert!(parse_via("SIP/2.0/UDP ;branch=x").is_none());
        assert_eq!(first_element("\"a,b\" <sip:x>, c"), "\"a,b\" <sip:x>");
    }

    #[test]
    fn a_request_uri_with_an_ipv6_host_parses_and_serializes_as_sent() {
        let text = "INVITE sip:1002@[2001:db8::7]:5062 SIP/2.0\r\n\
            Via: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK-v6;rport\r\n\
            From: <sip:1001@[2001:db8::1]>;tag=a\r\nTo: <sip:1002@[2001:db8::7]>\r\n\
            Call-ID: v6@x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
        let SipMessage::Request(req) = parse(text.as_bytes()).unwrap() else {
            panic!("a request");
        };
        assert_eq!(req.uri.to_string(), "sip:1002@[2001:db8::7]:5062");
        assert_eq!(&serialize_request(&req)[..], text.as_bytes());
        assert_eq!(top_via(&req).unwrap().sent_by, "[2001:db8::1]:5060");
        // A bracketed host that is no IPv6 address is still refused.
        let bad = text.replacen("[2001:db8::7]:5062", "[2001:zz::7]:5062", 1);
        assert!(matches!(parse(bad.as_bytes()), Err(ParseError::Syntax(_))));
    }

    #[test]
    fn compact_forms_expand() {
        let mut h: rsip::Headers = vec![
            Header::Other("v".into(), "SIP/2.0/UDP h".into()),
            Header::Other("X-Custom".into(), "1".into()),
            Header::Other("q".into(), "2".into()),
        ]
        .into();
        expand_compact_headers(&mut h);
        let v: Vec<_> = h.into_iter().collect();
        assert!(matches!(&v[0], Header::Via(x) if x.value() == "SIP/2.0/UDP h"));
        assert_eq!(v[1], Header::Other("X-Custom".into(), "1".into()));
        assert_eq!(v[2], Header::Other("q".into(), "2".into()));
    }
}
