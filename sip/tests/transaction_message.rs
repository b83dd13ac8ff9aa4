//! `message` helpers: parsing and validation, serialization, builders, accessors, and a
//! property test that `parse` never panics on arbitrary or mutated input.

use proptest::prelude::*;
use rsip::headers::{self, Header, UntypedHeader};
use rsip::prelude::HeadersExt;
use rsip::{Method, Request, Response, SipMessage, StatusCode};

use ringside_sip::message::*;

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
    assert_eq!(
        parse(no_via.as_bytes()),
        Err(ParseError::MissingHeader("Via"))
    );
    let no_cid = INVITE.replace("Call-ID: a84b4c76e66710\r\n", "");
    assert_eq!(
        parse(no_cid.as_bytes()),
        Err(ParseError::MissingHeader("Call-ID"))
    );
    let no_from = INVITE.replace(
        "From: \"Alice\" <sip:alice@example.com>;tag=1928301774\r\n",
        "",
    );
    assert_eq!(
        parse(no_from.as_bytes()),
        Err(ParseError::MissingHeader("From"))
    );
    let no_to = INVITE.replace("To: <sip:bob@example.com>\r\n", "");
    assert_eq!(
        parse(no_to.as_bytes()),
        Err(ParseError::MissingHeader("To"))
    );
    let no_cseq = INVITE.replace("CSeq: 314159 INVITE\r\n", "");
    assert_eq!(
        parse(no_cseq.as_bytes()),
        Err(ParseError::MissingHeader("CSeq"))
    );
    let bad_cseq = INVITE.replace("CSeq: 314159 INVITE", "CSeq: x INVITE");
    assert_eq!(
        parse(bad_cseq.as_bytes()),
        Err(ParseError::InvalidHeader("CSeq"))
    );
    let mismatch = INVITE.replace("CSeq: 314159 INVITE", "CSeq: 1 BYE");
    assert_eq!(
        parse(mismatch.as_bytes()),
        Err(ParseError::CSeqMethodMismatch)
    );
    let short = INVITE.replace("Content-Length: 4", "Content-Length: 10");
    assert_eq!(
        parse(short.as_bytes()),
        Err(ParseError::TruncatedBody {
            declared: 10,
            actual: 4
        })
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
    let SipMessage::Response(back) = back else {
        panic!()
    };
    assert_eq!(back.status_code.code(), 180);
    assert_eq!(top_branch(&back), Some("z9hG4bKabc"));
    assert_eq!(
        back.headers
            .iter()
            .filter(|h| matches!(h, Header::Via(_)))
            .count(),
        2
    );
    assert_eq!(cseq(&back), Some((314159, Method::Invite)));
    assert!(back
        .headers
        .iter()
        .any(|h| matches!(h, Header::Server(s) if s.value() == "Ringside")));
    // an existing tag is kept
    let again = make_response(&back_request(&resp), StatusCode::OK, Some("other"));
    assert_eq!(to_tag(&again), Some("xyz"));
}

fn back_request(resp: &Response) -> Request {
    let mut r = req(INVITE);
    r.headers.retain(|h| !matches!(h, Header::To(_)));
    r.headers.push(Header::To(headers::To::new(
        resp.to_header().unwrap().value(),
    )));
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
    assert_eq!(
        cancel
            .headers
            .iter()
            .filter(|h| matches!(h, Header::Via(_)))
            .count(),
        1
    );
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

    #[test]
    fn parse_never_panics_on_sip_like_text(
        text in "(INVITE|ACK|CANCEL|SIP/2\\.0|SIP/1\\.0) [ -~]{0,24}\r\n\
                 ((Via|v|CSeq|Call-ID|i|From|f|To|t|Content-Length|l|Route|X-a) ?:[ -~]{0,48}\r\n( [ -~]{0,8}\r\n)?){0,10}\
                 (\r\n)?[\\x00-\\xff]{0,24}"
    ) {
        if let Ok(msg) = parse(text.as_bytes()) {
            // Whatever parses carries the mandatory headers and serializes back into
            // something that parses again.
            prop_assert!(top_via(&msg).is_some());
            prop_assert!(call_id(&msg).is_some() && cseq(&msg).is_some());
            prop_assert!(parse(&serialize(&msg)).is_ok());
        }
    }
}
