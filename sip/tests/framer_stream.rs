//! Stream framing: byte-wise feeding, batching, keep-alives, limits and
//! property tests over arbitrary chunking.

use bytes::Bytes;
use proptest::prelude::*;
use ringside_sip::transport::{
    is_keepalive, Frame, FrameError, StreamFramer, DEFAULT_MAX_MESSAGE, MAX_HEADER_BYTES,
};

const INVITE: &str = "INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n\
From: <sip:alice@example.com>;tag=1928301774\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: a84b4c76e66710\r\n\
CSeq: 314159 INVITE\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 19\r\n\
\r\n\
v=0\r\no=- 1 1 IN IP4";

const OPTIONS_COMPACT: &str = "OPTIONS sip:x@example.com SIP/2.0\r\n\
v: SIP/2.0/TCP h;branch=z9hG4bK1\r\n\
i: 1@h\r\n\
l: 0\r\n\
\r\n";

const RESPONSE_LOWER: &str = "SIP/2.0 200 OK\r\n\
content-length: 4\r\n\
\r\n\
abcd";

fn msg(s: &str) -> Frame {
    Frame::Message(Bytes::copy_from_slice(s.as_bytes()))
}

fn drain(f: &mut StreamFramer) -> Result<Vec<Frame>, FrameError> {
    let mut out = Vec::new();
    while let Some(fr) = f.next_message()? {
        out.push(fr);
    }
    Ok(out)
}

#[test]
fn many_messages_in_one_chunk() {
    let mut f = StreamFramer::default();
    let all = format!("{INVITE}{OPTIONS_COMPACT}\r\n\r\n{RESPONSE_LOWER}\r\n");
    f.push(all.as_bytes());
    assert_eq!(
        drain(&mut f).unwrap(),
        vec![
            msg(INVITE),
            msg(OPTIONS_COMPACT),
            Frame::Ping,
            msg(RESPONSE_LOWER)
        ]
    );
    // The trailing lone CRLF may still turn into a ping: it stays buffered.
    assert_eq!(f.buffered(), 2);
    f.push(b"\r\n");
    assert_eq!(f.next_message(), Ok(Some(Frame::Ping)));
    assert_eq!(f.buffered(), 0);
}

#[test]
fn byte_by_byte() {
    let all = format!("\r\n\r\n{INVITE}\r\n{RESPONSE_LOWER}{OPTIONS_COMPACT}");
    let mut f = StreamFramer::default();
    let mut got = Vec::new();
    for b in all.as_bytes() {
        f.push(&[*b]);
        got.extend(drain(&mut f).unwrap());
    }
    assert_eq!(
        got,
        vec![
            Frame::Ping,
            msg(INVITE),
            msg(RESPONSE_LOWER),
            msg(OPTIONS_COMPACT)
        ]
    );
}

#[test]
fn lf_only_headers() {
    let m = "SIP/2.0 180 Ringing\nContent-Length: 2\n\nhi";
    let mut f = StreamFramer::default();
    f.push(m.as_bytes());
    assert_eq!(f.next_message(), Ok(Some(msg(m))));
    assert_eq!(f.next_message(), Ok(None));
}

#[test]
fn missing_content_length_is_fatal_and_sticky() {
    let mut f = StreamFramer::default();
    f.push(b"OPTIONS sip:x SIP/2.0\r\nVia: x\r\n\r\n");
    assert_eq!(f.next_message(), Err(FrameError::MissingContentLength));
    f.push(OPTIONS_COMPACT.as_bytes());
    assert_eq!(f.next_message(), Err(FrameError::MissingContentLength));
}

#[test]
fn invalid_and_conflicting_lengths() {
    let mut f = StreamFramer::default();
    f.push(b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 1x\r\n\r\n");
    assert_eq!(f.next_message(), Err(FrameError::InvalidContentLength));
    let mut f = StreamFramer::default();
    f.push(b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 1\r\nl: 3\r\n\r\n");
    assert_eq!(f.next_message(), Err(FrameError::ConflictingContentLength));
    let mut f = StreamFramer::default();
    f.push(b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 3\r\nL: 3\r\n\r\nabc");
    assert!(matches!(f.next_message(), Ok(Some(Frame::Message(_)))));
}

#[test]
fn oversized_headers() {
    let mut f = StreamFramer::new(1 << 20);
    f.push(b"INVITE sip:x SIP/2.0\r\n");
    let filler = format!("X-Pad: {}\r\n", "a".repeat(1000));
    for _ in 0..70 {
        f.push(filler.as_bytes());
    }
    assert_eq!(
        f.next_message(),
        Err(FrameError::HeadersTooLarge {
            limit: MAX_HEADER_BYTES
        })
    );
}

#[test]
fn oversized_body() {
    let mut f = StreamFramer::new(1000);
    f.push(b"MESSAGE sip:x SIP/2.0\r\nContent-Length: 5000\r\n\r\n");
    assert!(matches!(
        f.next_message(),
        Err(FrameError::MessageTooLarge { limit: 1000, .. })
    ));
    let mut f = StreamFramer::default();
    f.push(b"MESSAGE sip:x SIP/2.0\r\nl: 99999999999999999999999999\r\n\r\n");
    assert!(matches!(
        f.next_message(),
        Err(FrameError::MessageTooLarge {
            limit: DEFAULT_MAX_MESSAGE,
            ..
        })
    ));
}

#[test]
fn udp_keepalive() {
    assert!(is_keepalive(b"\r\n\r\n"));
    assert!(is_keepalive(b"\r\n"));
    assert!(!is_keepalive(INVITE.as_bytes()));
}

fn message_strategy() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            Just("INVITE sip:a@b SIP/2.0"),
            Just("SIP/2.0 200 OK"),
            Just("BYE sip:l:5060 SIP/2.0")
        ],
        prop_oneof![Just("Content-Length"), Just("l"), Just("CONTENT-length")],
        "[ -~\r\n]{0,40}",
        proptest::bool::ANY,
    )
        .prop_map(|(start, cl_name, body, ping)| {
            let ping = if ping { "\r\n\r\n" } else { "" };
            format!(
                "{ping}{start}\r\nCall-ID: x\r\n{cl_name}: {}\r\n\r\n{body}",
                body.len()
            )
        })
}

proptest! {
    #[test]
    fn arbitrary_chunking_yields_exact_messages(
        msgs in proptest::collection::vec(message_strategy(), 0..6),
        cuts in proptest::collection::vec(0usize..2000, 0..20),
    ) {
        let stream: String = msgs.concat();
        let bytes = stream.as_bytes();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.push(0);
        cuts.push(bytes.len());
        cuts.sort_unstable();
        let mut f = StreamFramer::default();
        let mut got = Vec::new();
        for w in cuts.windows(2) {
            f.push(&bytes[w[0]..w[1]]);
            got.extend(drain(&mut f).unwrap());
        }
        let mut expected = Vec::new();
        for m in &msgs {
            match m.strip_prefix("\r\n\r\n") {
                Some(rest) => {
                    expected.push(Frame::Ping);
                    expected.push(msg(rest));
                }
                None => expected.push(msg(m)),
            }
        }
        prop_assert_eq!(got, expected);
        prop_assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn arbitrary_bytes_chunking_is_irrelevant(
        data in proptest::collection::vec(
            prop_oneof![Just(b'\r'), Just(b'\n'), Just(b':'), Just(b'l'), Just(b'1'), any::<u8>()],
            0..600,
        ),
        chunk in 1usize..40,
        max in 0usize..4096,
    ) {
        let run = |chunks: Vec<&[u8]>| {
            let mut f = StreamFramer::new(max);
            let mut frames = Vec::new();
            for c in chunks {
                f.push(c);
                loop {
                    match f.next_message() {
                        Ok(Some(fr)) => frames.push(fr),
                        Ok(None) => break,
                        Err(e) => return (frames, Some(e)),
                    }
                }
            }
            (frames, None)
        };
        let whole = run(vec![&data[..]]);
        let chunked = run(data.chunks(chunk).collect());
        prop_assert_eq!(whole, chunked);
        let _ = is_keepalive(&data);
    }
}
