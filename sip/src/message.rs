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
    let mut text = String::with_capacity(768);
    let _ = write!(text, "{} {} {}\r\n", req.method, req.uri, req.version);
    finish(text, &req.headers, &req.body)
}

/// [`serialize`] for a bare response.
pub fn serialize_response(resp: &Response) -> Bytes {
    let mut text = String::with_capacity(512);
    let _ = write!(text, "{} {}\r\n", resp.version, resp.status_code);
    finish(text, &resp.headers, &resp.body)
}

fn finish(mut text: String, headers: &rsip::Headers, body: &[u8]) -> Bytes {
    for h in headers.iter() {
        let _ = write!(text, "{h}\r\n");
    }
    text.push_str("\r\n");
    let mut out = text.into_bytes();
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
    let mut out: Vec<Header> = Vec::with_capacity(8);
    for h in req.headers.iter() {
        match h {
            Header::Via(_) | Header::From(_) | Header::CallId(_) | Header::CSeq(_) => {
                out.push(h.clone())
            }
            Header::To(to) => match to_tag {
                Some(tag) if header_param(to.value(), "tag").is_none() => {
                    out.push(Header::To(headers::To::new(format!(
                        "{};tag={tag}",
                        to.value().trim_end()
                    ))))
                }
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
    use super::*;
    use proptest::prelude::*;

    const INVITE: &str = "INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc;rport, SIP/2.0/UDP proxy.example\r\n\
Via: SIP/2.0/TCP 10.0.0.2\r\n\
Max-Forwards: 70\r\n\
From: \"Alice\" <sip:alice@example.com>;tag=1928301774\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: a84b4c76e66710\r\n\
CSeq: 314159 INVITE\r\n\
Route: <sip:proxy.example;lr>\r\n\
Contact: <sip:alice@10.0.0.1>\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\n";

    fn req(text: &str) -> Request {
        match parse(text.as_bytes()).expect("parses") {
            SipMessage::Request(r) => r,
            SipMessage::Response(_) => panic!("expected a request"),
        }
    }

    #[test]
    fn parses_and_reads_fields() {
        let r = req(INVITE);
        let via = top_via(&r).unwrap();
        assert_eq!(via.transport, "UDP");
        assert_eq!(via.sent_by, "10.0.0.1:5060");
        assert_eq!(top_branch(&r), Some("z9hG4bKabc"));
        assert_eq!(call_id(&r), Some("a84b4c76e66710"));
        assert_eq!(cseq(&r), Some((314159, Method::Invite)));
        assert_eq!(from_tag(&r), Some("1928301774"));
        assert_eq!(to_tag(&r), None);
        assert_eq!(r.body, b"v=0\n");
    }

    #[test]
    fn leading_crlf_compact_headers_and_folding() {
        let text = "\r\n\r\nOPTIONS sip:x@y SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
f: <sip:a@b>;tag=9\r\nt: <sip:x@y>\r\ni: cid\r\nCSeq: 1\r\n  OPTIONS\r\nl: 0\r\n\r\n";
        let r = req(text);
        assert_eq!(top_branch(&r), Some("z9hG4bK1"));
        assert_eq!(from_tag(&r), Some("9"));
        assert_eq!(call_id(&r), Some("cid"));
        assert_eq!(cseq(&r), Some((1, Method::Options)));
    }

    #[test]
    fn rejects_missing_and_bad_headers() {
        assert_eq!(parse(b"\r\n\r\n"), Err(ParseError::Empty));
        assert!(matches!(parse(b"garbage"), Err(ParseError::Syntax(_))));
        let no_via = INVITE.replace("Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc;rport, SIP/2.0/UDP proxy.example\r\nVia: SIP/2.0/TCP 10.0.0.2\r\n", "");
        assert_eq!(parse(no_via.as_bytes()), Err(ParseError::MissingHeader("Via")));
        let no_cid = INVITE.replace("Call-ID: a84b4c76e66710\r\n", "");
        assert_eq!(parse(no_cid.as_bytes()), Err(ParseError::MissingHeader("Call-ID")));
        let no_from = INVITE.replace("From: \"Alice\" <sip:alice@example.com>;tag=1928301774\r\n", "");
        assert_eq!(parse(no_from.as_bytes()), Err(ParseError::MissingHeader("From")));
        let no_to = INVITE.replace("To: <sip:bob@example.com>\r\n", "");
        assert_eq!(parse(no_to.as_bytes()), Err(ParseError::MissingHeader("To")));
        let no_cseq = INVITE.replace("CSeq: 314159 INVITE\r\n", "");
        assert_eq!(parse(no_cseq.as_bytes()), Err(ParseError::MissingHeader("CSeq")));
        let bad_cseq = INVITE.replace("CSeq: 314159 INVITE", "CSeq: x INVITE");
        assert_eq!(parse(bad_cseq.as_bytes()), Err(ParseError::InvalidHeader("CSeq")));
        let mismatch = INVITE.replace("CSeq: 314159 INVITE", "CSeq: 1 BYE");
        assert_eq!(parse(mismatch.as_bytes()), Err(ParseError::CSeqMethodMismatch));
        let short = INVITE.replace("Content-Length: 4", "Content-Length: 10");
        assert_eq!(
            parse(short.as_bytes()),
            Err(ParseError::TruncatedBody { declared: 10, actual: 4 })
        );
        let long = INVITE.replace("Content-Length: 4", "Content-Length: 2");
        assert_eq!(req(&long).body, b"v=");
    }

    #[test]
    fn response_roundtrip_and_make_response() {
        let r = req(INVITE);
        let resp = make_response(&r, StatusCode::Ringing, Some("xyz"));
        assert_eq!(to_tag(&resp), Some("xyz"));
        let bytes = serialize(&SipMessage::Response(resp.clone()));
        let back = parse(&bytes).unwrap();
        let SipMessage::Response(back) = back else { panic!() };
        assert_eq!(back.status_code.code(), 180);
        assert_eq!(top_branch(&back), Some("z9hG4bKabc"));
        assert_eq!(back.headers.iter().filter(|h| matches!(h, Header::Via(_))).count(), 2);
        assert_eq!(cseq(&back), Some((314159, Method::Invite)));
        assert!(back.headers.iter().any(|h| matches!(h, Header::Server(s) if s.value() == "Ringside")));
        // an existing tag is kept
        let again = make_response(&back_request(&resp), StatusCode::OK, Some("other"));
        assert_eq!(to_tag(&again), Some("xyz"));
    }

    fn back_request(resp: &Response) -> Request {
        let mut r = req(INVITE);
        r.headers.retain(|h| !matches!(h, Header::To(_)));
        r.headers.push(Header::To(headers::To::new(to_header(resp).unwrap())));
        r
    }

    #[test]
    fn binary_body_survives_serialization() {
        let mut r = req(INVITE);
        r.body = vec![0xff, 0x00, 0xfe, 0x80];
        let bytes = serialize_request(&r);
        assert!(bytes.ends_with(&[0xff, 0x00, 0xfe, 0x80]));
        let back = parse(&bytes).unwrap();
        assert_eq!(back.body(), &vec![0xff, 0x00, 0xfe, 0x80]);
    }

    #[test]
    fn cancel_and_ack_builders() {
        let r = req(INVITE);
        let cancel = make_cancel(&r);
        assert_eq!(cancel.method, Method::Cancel);
        assert_eq!(cancel.uri, r.uri);
        assert_eq!(top_branch(&cancel), Some("z9hG4bKabc"));
        assert_eq!(cseq(&cancel), Some((314159, Method::Cancel)));
        assert_eq!(cancel.headers.iter().filter(|h| matches!(h, Header::Via(_))).count(), 1);
        assert!(cancel.headers.iter().any(|h| matches!(h, Header::Route(_))));
        let resp = make_response(&r, StatusCode::BusyHere, Some("t1"));
        let ack = make_non2xx_ack(&r, &resp);
        assert_eq!(ack.method, Method::Ack);
        assert_eq!(to_tag(&ack), Some("t1"));
        assert_eq!(cseq(&ack), Some((314159, Method::Ack)));
        assert!(parse(&serialize_request(&ack)).is_ok());
    }

    #[test]
    fn identifiers() {
        let b = new_branch();
        assert!(b.starts_with(BRANCH_MAGIC) && b.len() == 23);
        assert_ne!(new_branch(), b);
        assert_eq!(new_tag().len(), 12);
        assert_eq!(new_call_id().len(), 24);
    }

    #[test]
    fn header_param_forms() {
        assert_eq!(header_param("<sip:a@b;tag=no>;tag=yes", "tag"), Some("yes"));
        assert_eq!(header_param("sip:a@b;tag=x", "tag"), Some("x"));
        assert_eq!(header_param("<sip:a@b;tag=no>", "tag"), None);
        assert_eq!(header_param("\"a;tag=q\" <sip:a@b>", "tag"), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn parse_never_panics_on_mutated_messages(
            cut in 0usize..INVITE.len(),
            pos in 0usize..INVITE.len(),
            byte in any::<u8>(),
        ) {
            let mut v = INVITE.as_bytes().to_vec();
            v[pos] = byte;
            let _ = parse(&v);
            let _ = parse(&v[..cut]);
        }
    }
}
