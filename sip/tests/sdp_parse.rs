//! SDP model: real-world offers (sipp, baresip, Chrome), hold detection,
//! rewriting for media anchoring, error cases and robustness.

use std::net::IpAddr;

use proptest::prelude::*;
use ringside_sip::sdp::{Direction, RtpMap, SdpError, SessionDescription};

const SIPP: &str = "v=0\r\n\
o=user1 53655765 2353687637 IN IP4 127.0.1.1\r\n\
s=-\r\n\
c=IN IP4 127.0.1.1\r\n\
t=0 0\r\n\
m=audio 6000 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n";

const BARESIP: &str = "v=0
o=- 2890844526 2890844527 IN IP4 192.168.1.10
s=-
c=IN IP4 192.168.1.10
t=0 0
a=tool:baresip 3.10.1
m=audio 10374 RTP/AVP 96 0 8 101
b=AS:96
a=rtpmap:96 opus/48000/2
a=fmtp:96 stereo=1;sprop-stereo=1
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=rtcp:10375 IN IP4 192.168.1.10
a=sendrecv
a=label:1
a=ptime:20
m=video 10376 RTP/AVP 100
a=rtpmap:100 H264/90000
a=fmtp:100 packetization-mode=1
";

const CHROME: &str = "v=0\r\n\
o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0\r\n\
a=extmap-allow-mixed\r\n\
a=msid-semantic: WMS 3b0c1c1a\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n\
c=IN IP4 0.0.0.0\r\n\
a=rtcp:9 IN IP4 0.0.0.0\r\n\
a=candidate:1467250027 1 udp 2122260223 192.168.0.196 46243 typ host generation 0 network-id 1\r\n\
a=candidate:435653019 1 tcp 1845501695 192.168.0.196 9 typ host tcptype active generation 0\r\n\
a=ice-ufrag:6HHH\r\n\
a=ice-pwd:Bc1vE3TCWGtVRuYIWJg3dhdc\r\n\
a=ice-options:trickle\r\n\
a=fingerprint:sha-256 49:66:12:17:0D:1C:91:AE:57:4C:C6:36:DD:D5:97:D2:7D:62:C9:9A:7F:B9:A3:F4:70:03:E7:43:91:73:23:5E\r\n\
a=setup:actpass\r\n\
a=mid:0\r\n\
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n\
a=sendrecv\r\n\
a=msid:3b0c1c1a 7ad4b8a1\r\n\
a=rtcp-mux\r\n\
a=rtpmap:111 opus/48000/2\r\n\
a=rtcp-fb:111 transport-cc\r\n\
a=fmtp:111 minptime=10;useinbandfec=1\r\n\
a=rtpmap:63 red/48000/2\r\n\
a=fmtp:63 111/111\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:13 CN/8000\r\n\
a=rtpmap:110 telephone-event/48000\r\n\
a=rtpmap:126 telephone-event/8000\r\n\
a=ssrc:1001 cname:xyz\r\n";

const HOLD_SENDONLY: &str = "v=0\r\n\
o=- 123 124 IN IP4 10.0.0.1\r\n\
s=-\r\n\
c=IN IP4 10.0.0.1\r\n\
t=0 0\r\n\
m=audio 4000 RTP/AVP 0 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=sendonly\r\n";

const HOLD_ZERO_ADDR: &str = "v=0\r\n\
o=- 123 125 IN IP4 10.0.0.1\r\n\
s=-\r\n\
c=IN IP4 0.0.0.0\r\n\
t=0 0\r\n\
m=audio 4000 RTP/AVP 0\r\n";

const HOLD_SESSION_INACTIVE: &str = "v=0\r\n\
o=- 123 126 IN IP6 ::1\r\n\
s=-\r\n\
t=0 0\r\n\
a=inactive\r\n\
m=audio 4000 RTP/AVP 8\r\n\
c=IN IP6 2001:db8::1\r\n";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn sipp_offer() {
    let sdp = SessionDescription::parse(SIPP).unwrap();
    assert_eq!(sdp.origin().username, "user1");
    assert_eq!(sdp.origin().session_version, 2353687637);
    assert_eq!(sdp.connection().unwrap().ip(), Some(ip("127.0.1.1")));
    let a = sdp.first_audio().unwrap();
    assert_eq!(a.addr, Some(ip("127.0.1.1")));
    assert_eq!(a.port, 6000);
    assert_eq!(a.payload_types, vec![0]);
    assert_eq!(
        a.rtpmap,
        vec![RtpMap {
            payload_type: 0,
            encoding: "PCMU".into(),
            clock_rate: 8000,
            channels: None
        }]
    );
    assert_eq!(a.direction, Direction::SendRecv);
    assert!(!sdp.is_hold());
    assert_eq!(sdp.to_string(), SIPP, "byte-exact round trip");
}

#[test]
fn baresip_offer_lf_only() {
    let sdp: SessionDescription = BARESIP.parse().unwrap();
    assert_eq!(sdp.media().len(), 2);
    let audio = &sdp.media()[0];
    assert_eq!(audio.media_line().proto, "RTP/AVP");
    assert_eq!(audio.payload_types(), vec![96, 0, 8, 101]);
    assert_eq!(audio.fmtp(96), Some("stereo=1;sprop-stereo=1"));
    assert_eq!(audio.fmtp(101), Some("0-15"));
    assert_eq!(audio.fmtp(0), None);
    assert_eq!(audio.attribute("ptime"), Some("20"));
    assert_eq!(audio.attribute("rtcp"), Some("10375 IN IP4 192.168.1.10"));
    let info = sdp.first_audio().unwrap();
    assert_eq!(info.rtpmap[0].channels, Some(2));
    assert_eq!(info.rtpmap[3].encoding, "telephone-event");
    assert_eq!(sdp.media()[1].media_line().media, "video");
    assert_eq!(sdp.direction(1), Direction::SendRecv);
    assert_eq!(
        sdp.session_attributes().next().unwrap().value.as_deref(),
        Some("baresip 3.10.1")
    );
    let out = sdp.to_string();
    assert_eq!(out, BARESIP.replace('\n', "\r\n"));
}

#[test]
fn chrome_offer_ice_dtls() {
    let mut sdp = SessionDescription::parse(CHROME).unwrap();
    assert_eq!(sdp.to_string(), CHROME);
    assert!(sdp.connection().is_none());
    let a = sdp.first_audio().unwrap();
    assert_eq!(a.addr, Some(ip("0.0.0.0")));
    assert_eq!(a.port, 9);
    assert_eq!(a.payload_types, vec![111, 63, 9, 0, 8, 13, 110, 126]);
    assert_eq!(a.rtpmap.len(), 8);
    assert!(!sdp.is_hold(), "ICE placeholder address is not a hold");
    let m = &sdp.media()[0];
    assert_eq!(m.media_line().proto, "UDP/TLS/RTP/SAVPF");
    assert!(m
        .attribute("fingerprint")
        .unwrap()
        .starts_with("sha-256 49:66"));
    assert_eq!(m.attribute("rtcp-mux"), Some(""));
    assert_eq!(m.fmtp(111), Some("minptime=10;useinbandfec=1"));

    assert_eq!(sdp.remove_attribute("candidate"), 2);
    assert_eq!(sdp.remove_attribute("rtcp"), 1);
    assert_eq!(sdp.remove_attribute("nonexistent"), 0);
    let out = sdp.to_string();
    assert!(!out.contains("a=candidate"));
    assert!(!out.contains("a=rtcp:"));
    assert!(out.contains("a=rtcp-mux\r\n"));
    assert!(out.contains("a=rtcp-fb:111 transport-cc\r\n"));
}

#[test]
fn hold_variants() {
    let s = SessionDescription::parse(HOLD_SENDONLY).unwrap();
    assert!(s.is_hold());
    assert_eq!(s.direction(0), Direction::SendOnly);
    assert_eq!(s.direction(0).reversed(), Direction::RecvOnly);

    let s = SessionDescription::parse(HOLD_ZERO_ADDR).unwrap();
    assert!(s.is_hold());
    assert_eq!(s.first_audio().unwrap().direction, Direction::SendRecv);

    let s = SessionDescription::parse(HOLD_SESSION_INACTIVE).unwrap();
    assert!(s.is_hold());
    assert_eq!(s.direction(0), Direction::Inactive);
    assert_eq!(s.first_audio().unwrap().addr, Some(ip("2001:db8::1")));

    let mut s = SessionDescription::parse(HOLD_SENDONLY).unwrap();
    s.set_direction(0, Direction::SendRecv).unwrap();
    assert!(!s.is_hold());
    assert!(s.to_string().ends_with("a=sendrecv\r\n"));
    assert!(!s.to_string().contains("sendonly"));
    assert_eq!(
        s.set_direction(5, Direction::Inactive),
        Err(SdpError::NoSuchMedia(5))
    );
}

#[test]
fn set_direction_appends_and_dedups() {
    let mut s = SessionDescription::parse(SIPP).unwrap();
    s.set_direction(0, Direction::Inactive).unwrap();
    assert!(s
        .to_string()
        .ends_with("a=rtpmap:0 PCMU/8000\r\na=inactive\r\n"));
    let dup = format!("{SIPP}a=sendonly\r\na=ptime:20\r\na=recvonly\r\n");
    let mut s = SessionDescription::parse(&dup).unwrap();
    s.set_direction(0, Direction::SendRecv).unwrap();
    let out = s.to_string();
    assert!(out.ends_with("a=rtpmap:0 PCMU/8000\r\na=sendrecv\r\na=ptime:20\r\n"));
}

#[test]
fn rewrite_connection_for_anchoring() {
    let mut s = SessionDescription::parse(BARESIP).unwrap();
    s.remove_attribute("rtcp");
    s.rewrite_connection(ip("203.0.113.5"), &[30000, 30002]);
    assert_eq!(s.origin().session_version, 2890844528);
    assert_eq!(s.connection().unwrap().address, "203.0.113.5");
    assert_eq!(s.media()[0].media_line().port, 30000);
    assert_eq!(s.media()[1].media_line().port, 30002);
    assert_eq!(s.first_audio().unwrap().addr, Some(ip("203.0.113.5")));

    // Chrome: no session c=, media c= present; IPv6; rejected stream keeps 0.
    let with_rejected = format!("{CHROME}m=video 0 UDP/TLS/RTP/SAVPF 96\r\n");
    let mut s = SessionDescription::parse(&with_rejected).unwrap();
    s.rewrite_connection(ip("2001:db8::5"), &[40000, 40002]);
    let out = s.to_string();
    assert!(out.contains("s=-\r\nc=IN IP6 2001:db8::5\r\nt=0 0\r\n"));
    assert!(out.contains("m=audio 40000 UDP/TLS/RTP/SAVPF"));
    assert!(out.contains("m=video 0 UDP/TLS/RTP/SAVPF 96"));
    assert!(!out.contains("c=IN IP4"));
    assert_eq!(s.origin().session_version, 3);
    assert_eq!(s.media_addr(0), Some(ip("2001:db8::5")));

    // Fewer ports than media: the rest keep theirs.
    let mut s = SessionDescription::parse(BARESIP).unwrap();
    s.rewrite_connection(ip("10.1.1.1"), &[5000]);
    assert_eq!(s.media()[1].media_line().port, 10376);
}

#[test]
fn lenient_whitespace_and_misc() {
    let text = "\nv=0  \r\no=- 1 1 IN IP4 h.example \n\ns=x\r\nm=audio 5004/2 RTP/AVP 0 \r\nc=IN IP4 224.2.1.1/127\r\n\r\n";
    let s = SessionDescription::parse(text).unwrap();
    let m = s.media()[0].media_line();
    assert_eq!((m.port, m.port_count), (5004, Some(2)));
    assert_eq!(s.media_addr(0), Some(ip("224.2.1.1")));
    assert_eq!(s.origin().address, "h.example");
    assert_eq!(
        s.to_string(),
        "v=0\r\no=- 1 1 IN IP4 h.example\r\ns=x\r\nm=audio 5004/2 RTP/AVP 0\r\nc=IN IP4 224.2.1.1/127\r\n"
    );
    let mut s2 = s.clone();
    s2.media_mut(0).unwrap().push_attribute("ptime", Some("30"));
    assert_eq!(s2.media()[0].attribute("ptime"), Some("30"));
    assert!(SessionDescription::from_bytes(SIPP.as_bytes()).is_ok());
    assert_eq!(
        SessionDescription::from_bytes(b"v=0\r\n\xff"),
        Err(SdpError::NotUtf8)
    );
}

#[test]
fn rejects_garbage() {
    use SdpError::*;
    let cases: &[(&str, SdpError)] = &[
        ("", MissingVersion),
        ("hello world", MalformedLine { line: 1 }),
        ("o=- 1 1 IN IP4 x\r\nv=0\r\n", MissingVersion),
        ("v=1\r\no=- 1 1 IN IP4 x\r\n", MissingVersion),
        ("v=0\r\ns=-\r\n", MissingOrigin),
        ("v=0\r\no=- 1 IN IP4 x\r\n", BadOrigin { line: 2 }),
        ("v=0\r\no=- 1 x IN IP4 x\r\n", BadOrigin { line: 2 }),
        (
            "v=0\r\no=- 1 1 IN IP4 x\r\nc=IN IP4\r\n",
            BadConnection { line: 3 },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 x\r\nm=audio\r\n",
            BadMedia { line: 3 },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 x\r\nm=audio 99999 RTP/AVP 0\r\n",
            BadMedia { line: 3 },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 x\r\nm=audio 5 RTP/AVP\r\n",
            BadMedia { line: 3 },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 x\r\nm=audio 5/x RTP/AVP 0\r\n",
            BadMedia { line: 3 },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 x\r\nnot a line\r\n",
            MalformedLine { line: 3 },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 x\r\nA=b\r\n",
            MalformedLine { line: 3 },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 x\r\né=b\r\n",
            MalformedLine { line: 3 },
        ),
    ];
    for (text, err) in cases {
        assert_eq!(
            SessionDescription::parse(text).as_ref(),
            Err(err),
            "{text:?}"
        );
    }
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(s in any::<String>()) {
        let _ = SessionDescription::parse(&s);
    }

    #[test]
    fn sdp_like_text_never_panics_and_round_trips(
        lines in proptest::collection::vec(r"[vocmat]=[a-zA-Z0-9 /:.\-]{0,30}", 0..12)
    ) {
        let text = format!("v=0\r\no=- 1 1 IN IP4 x\r\n{}", lines.join("\r\n"));
        if let Ok(mut sdp) = SessionDescription::parse(&text) {
            let again = SessionDescription::parse(&sdp.to_string()).unwrap();
            prop_assert_eq!(&again, &sdp);
            let _ = sdp.first_audio();
            let _ = sdp.is_hold();
            let _ = sdp.direction(0);
            sdp.rewrite_connection(ip("192.0.2.1"), &[1000, 0, 2000]);
            let _ = sdp.set_direction(0, Direction::SendOnly);
            prop_assert!(SessionDescription::parse(&sdp.to_string()).is_ok());
        }
    }
}
