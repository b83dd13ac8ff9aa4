//! IPv6 on every SIP transport: a real `ringside serve` bound to `::1` alone (SIP over UDP,
//! TCP, TLS, and WebSocket on the HTTP listener; the media relay and the API too), with real
//! peers on `::1`:
//! - sipp registers and calls over UDP and TCP; the INVITE Ringside sends to the registered
//!   contact has an IPv6 Request-URI (`sip:1002@[::1]:port`), its Via and Contact say
//!   `[::1]`, the SDP `c=IN IP6 ::1`, and RTP is relayed both ways;
//! - two baresip phones (libre, another SIP stack) call each other across transports (UDP to
//!   TLS, TCP to UDP), dialling `sip:1002@[::1]:port` and each hears the other's tone;
//! - a WebSocket client registers over `ws://[::1]` and is called by a baresip phone on UDP;
//!   the test answers with plain RTP on `::1` and hears baresip's tone, and baresip hears the
//!   test's.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use ringside_e2e::baresip::*;
use ringside_e2e::tls::{tls_server_on, Pki};
use ringside_e2e::{
    dialling, even_port, eventually, free_port, Scenario, Server, Sipp, UacFlow, UasFlow, PW1, PW2,
};
use ringside_media::codec::Law;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// Environment putting every listener of a test server on `::1`.
fn on_ipv6() -> Vec<(String, String)> {
    vec![
        ("RINGSIDE_SIP_ADDR".into(), format!("[::1]:{}", free_port())),
        (
            "RINGSIDE_HTTP_ADDR".into(),
            format!("[::1]:{}", free_port()),
        ),
        (
            "RINGSIDE_WEBRTC_ADDR".into(),
            format!("[::1]:{}", free_port()),
        ),
    ]
}

async fn ipv6_server(extra: &[(&str, &str)]) -> Server {
    let env = on_ipv6();
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    all.extend_from_slice(extra);
    let srv = Server::start_with(&all).await;
    assert!(
        srv.sip.is_ipv6() && srv.http.contains("[::1]"),
        "{}",
        srv.http
    );
    srv
}

/// Challenge `ext` in MD5 alone (baresip 1.0 gives up on anything else).
async fn md5_only(srv: &Server, token: &str, ext: &str) {
    let body = srv
        .patch_extension(token, ext, serde_json::json!({"digestAlgorithms": ["MD5"]}))
        .await;
    assert_eq!(body["digestAlgorithms"], serde_json::json!(["MD5"]));
}

/// sipp 1001 calls sipp 1002 (`-t` `transport`), both on `::1`; checks what 1002 was sent.
async fn sipp_call(srv: &Server, transport: &str) {
    let t = ["-t", transport];
    let (uas, mut uas_child) = srv.callee(UasFlow::Answer, &t).await;
    let (ok, log) = srv.caller(UacFlow::AnswerAndHangUp, &t).run().await;
    assert!(
        ok,
        "caller over {transport}: {log}\nserver: {}",
        srv.log_text()
    );
    assert!(
        uas_child.wait().await.unwrap().success(),
        "callee over {transport}: {}",
        uas.messages()
    );
    let got = uas.messages();
    let invite = message(&got, "INVITE sip:1002@[::1]:", &["m=audio"])
        .unwrap_or_else(|| panic!("1002 got an INVITE to its IPv6 contact: {got}"));
    let via = format!(
        "Via: SIP/2.0/{} [::1]:{}",
        transport_name(transport),
        srv.sip.port()
    );
    assert!(invite.contains(&via), "{via} in {invite}");
    assert!(
        invite.contains(&format!("@[::1]:{}", srv.sip.port())),
        "Contact names Ringside's IPv6 address: {invite}"
    );
    let (ip, _) = sdp_audio(invite);
    assert_eq!(ip, "::1", "the relay's IPv6 address in SDP: {invite}");
    // The origin is Ringside's too (topology hiding, the leg's address family).
    assert!(
        invite
            .lines()
            .any(|l| l.trim().starts_with("o=ringside ") && l.trim().ends_with(" IN IP6 ::1")),
        "{invite}"
    );
}

fn transport_name(sipp_flag: &str) -> &'static str {
    match sipp_flag {
        "t1" => "TCP",
        _ => "UDP",
    }
}

#[tokio::test]
async fn sipp_registers_and_calls_over_ipv6_udp_and_tcp_with_rtp_relayed() {
    let srv = ipv6_server(&[]).await;
    let token = srv.with_phones().await;
    sipp_call(&srv, "u1").await;
    sipp_call(&srv, "t1").await;
    let forwarded = srv.metric("ringside_rtp_forwarded_packets_total", "").await;
    assert!(
        forwarded >= 40.0,
        "RTP relayed both ways on both calls: {forwarded}"
    );
    assert_eq!(
        srv.metric("ringside_rtp_dropped_foreign_total", "").await,
        0.0
    );
    // The calls are on record, the API answering on [::1] too.
    let (st, calls) = srv.api("GET", "/api/v1/calls?limit=10", &token, None).await;
    assert_eq!(st, 200, "{calls}");
    let calls = calls.as_array().expect("calls");
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls.iter().all(|c| c["status"] == "ended"), "{calls:?}");
    eventually("relays freed", || async {
        srv.metric("ringside_media_relays_active", "").await == 0.0
    })
    .await;
}

/// 1001 on `from` dials 1002 on `to` at `dial`; three seconds of audio each way; each
/// phone heard the other's tone and was sent IPv6 SDP.
async fn baresip_call(srv: &Server, from: Link, to: Link, dial: String) {
    let opts = |tone_hz, dial| Options {
        tone_hz,
        mediaenc: None,
        dial,
    };
    let mut callee = Baresip::start_with(srv, "1002", PW2, &to, opts(400, None));
    eventually("1002 registered", || async {
        srv.metric("ringside_sip_registrations", "").await == 1.0
    })
    .await;
    let before = srv.metric("ringside_rtp_forwarded_packets_total", "").await;
    let mut caller = Baresip::start_with(srv, "1001", PW1, &from, opts(TONE_HZ, Some(dial)));
    eventually("the call is answered", || async {
        srv.metric("ringside_calls_active", "").await == 1.0
            && caller.log_text().contains("Call established")
    })
    .await;
    eventually("audio relayed both ways", || async {
        srv.metric("ringside_rtp_forwarded_packets_total", "").await >= before + 300.0
    })
    .await;
    caller.stop().await;
    eventually("the call ended", || async {
        srv.metric("ringside_calls_active", "").await == 0.0
    })
    .await;
    callee.stop().await;
    eventually("both bindings removed", || async {
        srv.metric("ringside_sip_registrations", "").await == 0.0
    })
    .await;
    let (clog, elog) = (caller.log_text(), callee.log_text());
    let ctx = || {
        format!(
            "\n== caller:\n{clog}\n== callee:\n{elog}\n== server:\n{}",
            srv.log_text()
        )
    };
    for (log, start) in [(&elog, "INVITE sip:1002"), (&clog, "SIP/2.0 200")] {
        let msg = message(log, start, &["m=audio", "@[::1]:"])
            .unwrap_or_else(|| panic!("{start} with SDP{}", ctx()));
        let (ip, _) = sdp_audio(msg);
        assert_eq!(ip, "::1", "the relay on IPv6: {msg}");
    }
    assert_heard(&caller, 400, "1001", &ctx);
    assert_heard(&callee, TONE_HZ, "1002", &ctx);
}

#[tokio::test]
async fn baresip_phones_call_each_other_over_ipv6_udp_to_tls_and_tcp_to_udp_and_hear_each_other() {
    let pki = Pki::new("Ringside test CA");
    let env = on_ipv6();
    let extra: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (srv, tls, _, _) =
        tls_server_on(&pki.leaf(&["localhost", "::1"], false), "::1", &extra).await;
    let token = srv.with_phones().await;
    md5_only(&srv, &token, "1001").await;
    md5_only(&srv, &token, "1002").await;
    let ca = srv.data_dir.join("ca.pem");
    std::fs::write(&ca, pki.ca_pem()).unwrap();
    let sip = srv.sip;

    // UDP to TLS: the callee is reached on its TLS connection.
    let tls_link = Link::Tls {
        addr: tls,
        ca: ca.clone(),
    };
    baresip_call(&srv, Link::Udp, tls_link, format!("sip:1002@{sip}")).await;
    // TCP to UDP.
    baresip_call(
        &srv,
        Link::Tcp,
        Link::Udp,
        format!("sip:1002@{sip};transport=tcp"),
    )
    .await;
    assert_eq!(
        srv.metric("ringside_rtp_dropped_foreign_total", "").await,
        0.0
    );
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_recv(ws: &mut Ws, what: &str) -> String {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .unwrap_or_else(|_| panic!("no {what} on the WebSocket"))
            .expect("socket open")
            .expect("frame");
        if let Message::Text(t) = m {
            let t = t.to_string();
            if t.starts_with(what) {
                return t;
            }
        }
    }
}

/// The value of header `name` in a SIP message.
fn header<'a>(msg: &'a str, name: &str) -> &'a str {
    msg.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .unwrap_or_else(|| panic!("no {name} in {msg}"))
}

#[tokio::test]
async fn a_websocket_phone_on_ipv6_registers_and_is_called_by_baresip_and_each_hears_the_other() {
    let srv = ipv6_server(&[]).await;
    let token = srv.with_phones().await;
    md5_only(&srv, &token, "1001").await;

    // 1002 registers over ws://[::1]:port/sip.
    let url = format!("{}/sip", srv.http.replacen("http://", "ws://", 1));
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("sec-websocket-protocol", "sip".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.expect("ws");
    let domain = format!("[::1]:{}", srv.sip.port());
    let register = |cseq: u32, auth: Option<String>| {
        format!(
            "REGISTER sip:{domain} SIP/2.0\r\n\
             Via: SIP/2.0/WS v6phone.invalid;branch=z9hG4bK-v6reg{cseq}\r\n\
             From: <sip:1002@{domain}>;tag=v6\r\nTo: <sip:1002@{domain}>\r\n\
             Call-ID: v6-ws-reg\r\nCSeq: {cseq} REGISTER\r\nMax-Forwards: 70\r\n\
             Contact: <sip:1002@v6phone.invalid;transport=ws>;expires=600\r\n\
             {}Content-Length: 0\r\n\r\n",
            auth.map(|a| format!("Authorization: {a}\r\n"))
                .unwrap_or_default()
        )
    };
    ws.send(Message::text(register(1, None))).await.unwrap();
    let challenge = ws_recv(&mut ws, "SIP/2.0 401").await;
    let auth = ringside_sip::auth::client_authorization(
        header(&challenge, "WWW-Authenticate"),
        "REGISTER",
        &format!("sip:{domain}"),
        "1002",
        PW2,
        1,
        "0a4f113b",
    )
    .expect("a challenge the client can answer");
    ws.send(Message::text(register(2, Some(auth))))
        .await
        .unwrap();
    let ok = ws_recv(&mut ws, "SIP/2.0 200").await;
    assert!(ok.contains("v6phone.invalid"), "{ok}");

    // The test is 1002's media: plain RTP on ::1.
    let rtp = tokio::net::UdpSocket::bind("[::1]:0").await.unwrap();
    let rtp_port = rtp.local_addr().unwrap().port();

    // baresip 1001 on UDP dials 1002.
    let sip = srv.sip;
    let mut caller = Baresip::start_with(
        &srv,
        "1001",
        PW1,
        &Link::Udp,
        Options {
            tone_hz: TONE_HZ,
            mediaenc: None,
            dial: Some(format!("sip:1002@{sip}")),
        },
    );
    let invite = ws_recv(&mut ws, "INVITE ").await;
    let log = caller.log.clone();
    let ctx = || {
        format!(
            "\n== INVITE:\n{invite}\n== baresip:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    };
    assert!(
        header(&invite, "Via").starts_with("SIP/2.0/WS [::1]:"),
        "sent over the WebSocket from Ringside's IPv6 address{}",
        ctx()
    );
    // A WebSocket phone gets a delayed offer (a browser phone offers its own WebRTC media):
    // this one offers PCMU on the test's socket in its 200 OK and takes the answer from the
    // ACK.
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\n\
         m=audio {rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    );
    let copy = |name: &str| format!("{name}: {}\r\n", header(&invite, name));
    let answer = format!(
        "SIP/2.0 200 OK\r\n{}{}{};tag=v6callee\r\n{}{}\
         Contact: <sip:1002@v6phone.invalid;transport=ws>\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        copy("Via"),
        copy("From"),
        copy("To").trim_end(),
        copy("Call-ID"),
        copy("CSeq"),
        sdp.len()
    );
    ws.send(Message::text(answer)).await.unwrap();
    let ack = ws_recv(&mut ws, "ACK ").await;
    let (ip, relay_port) = sdp_audio(&ack);
    assert_eq!(ip, "::1", "the relay on IPv6: {ack}{}", ctx());
    let relay = SocketAddr::new("::1".parse().unwrap(), relay_port);

    // Three seconds of a 400 Hz tone to the relay while baresip's tone comes in.
    let mut heard = Vec::new();
    let mut buf = [0u8; 2048];
    let (mut seq, mut ts) = (0u16, 0u32);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for _ in 0..150 {
        tick.tick().await;
        let payload: Vec<u8> = (0..160)
            .map(|i| {
                let t = f64::from(ts + i) / 8000.0;
                let s = (t * 400.0 * std::f64::consts::TAU).sin() * 12000.0;
                Law::Mu.encode_sample(s as i16)
            })
            .collect();
        let mut pkt = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78];
        pkt[2..4].copy_from_slice(&seq.to_be_bytes());
        pkt[4..8].copy_from_slice(&ts.to_be_bytes());
        pkt.extend_from_slice(&payload);
        rtp.send_to(&pkt, relay).await.unwrap();
        (seq, ts) = (seq.wrapping_add(1), ts.wrapping_add(160));
        while let Ok((n, from)) = rtp.try_recv_from(&mut buf) {
            assert_eq!(from, relay, "media from the relay only");
            if n > 12 && buf[1] & 0x7f == 0 {
                heard.extend(buf[12..n].iter().map(|b| Law::Mu.decode_sample(*b)));
            }
        }
    }
    caller.stop().await;
    let bye = ws_recv(&mut ws, "BYE ").await;
    let ok = format!(
        "SIP/2.0 200 OK\r\n{}{}{}{}{}Content-Length: 0\r\n\r\n",
        format_args!("Via: {}\r\n", header(&bye, "Via")),
        format_args!("From: {}\r\n", header(&bye, "From")),
        format_args!("To: {}\r\n", header(&bye, "To")),
        format_args!("Call-ID: {}\r\n", header(&bye, "Call-ID")),
        format_args!("CSeq: {}\r\n", header(&bye, "CSeq")),
    );
    ws.send(Message::text(ok)).await.unwrap();
    eventually("the call ended", || async {
        srv.metric("ringside_calls_active", "").await == 0.0
    })
    .await;

    assert!(
        heard.len() >= 8000,
        "{} samples heard{}",
        heard.len(),
        ctx()
    );
    let (hz, peak) = tone_of(&heard[heard.len() / 2..]);
    let want = f64::from(TONE_HZ);
    assert!(
        (want * 0.9..want * 1.1).contains(&hz),
        "the WebSocket phone heard {hz:.0} Hz, not {TONE_HZ}{}",
        ctx()
    );
    assert!(peak >= 4000, "loud enough: peak {peak}");
    assert_heard(&caller, 400, "1001", &|| ctx());
}

#[tokio::test]
async fn a_trunk_on_ipv6_is_dialled_and_a_trusted_ipv6_pbx_reaches_an_extension() {
    let srv = ipv6_server(&[]).await;
    let token = srv.with_phones().await;
    // The carrier: sipp on [::1], configured by its address literal.
    let carrier_port = free_port();
    let carrier = Sipp::new(&Scenario::uas("carrier", UasFlow::Answer), srv.sip).args(&[
        "-i",
        "::1",
        "-p",
        &carrier_port.to_string(),
        "-mp",
        &even_port().to_string(),
        "-m",
        "1",
    ]);
    let mut carrier_child = carrier.spawn();
    let trunk = srv
        .create_trunk(
            &token,
            serde_json::json!({
                "name": "carrier",
                "outboundHost": "::1",
                "outboundPort": carrier_port,
                "allowedDestinations": "+1NXXNXXXXXX"
            }),
        )
        .await;
    assert_eq!(trunk["outboundHost"], "::1", "{trunk}");
    let (ok, log) = dialling(&srv, "+14155550123", UacFlow::AnswerAndHangUp)
        .args(&["-mp", &even_port().to_string()])
        .run()
        .await;
    assert!(ok, "{log}\nserver: {}", srv.log_text());
    assert!(
        carrier_child.wait().await.unwrap().success(),
        "{}",
        carrier.messages()
    );
    let got = carrier.messages();
    let invite = message(&got, "INVITE sip:+14155550123@[::1]:", &["m=audio"])
        .unwrap_or_else(|| panic!("the carrier got an INVITE to its IPv6 address: {got}"));
    assert_eq!(sdp_audio(invite).0, "::1", "{invite}");

    // A PBX trusted by its IPv6 network calls 1002 without credentials.
    srv.create_trunk(
        &token,
        serde_json::json!({"name": "pbx", "inboundCidrs": ["::1/128"]}),
    )
    .await;
    let (uas, mut uas_child) = srv.callee(UasFlow::Answer, &[]).await;
    let (ok, log) = Sipp::new(
        &Scenario::uac("pbx", false, UacFlow::AnswerAndHangUp),
        srv.sip,
    )
    .args(&["-i", "::1", "-p", &free_port().to_string()])
    .args(&["-mp", &even_port().to_string(), "-s", "1002"])
    .run()
    .await;
    assert!(ok, "{log}\nserver: {}", srv.log_text());
    assert!(
        uas_child.wait().await.unwrap().success(),
        "callee: {}",
        uas.messages()
    );
}

/// Bound to the IPv6 wildcard (`[::]`, a dual-stack socket on Linux) with an IPv4 public
/// address, Ringside serves IPv4 phones: their addresses arrive IPv4-mapped and are taken as
/// the IPv4 addresses they are.
#[tokio::test]
async fn on_the_ipv6_wildcard_ipv4_phones_register_and_call() {
    let port = free_port();
    let sip = format!("[::]:{port}");
    let mut srv = Server::start_with(&[
        ("RINGSIDE_SIP_ADDR", &sip),
        ("RINGSIDE_PUBLIC_IP", "127.0.0.1"),
    ])
    .await;
    // The phones reach it on IPv4 loopback.
    srv.sip = format!("127.0.0.1:{port}").parse().unwrap();
    let token = srv.with_phones().await;
    let (uas, mut uas_child) = srv.callee(UasFlow::Answer, &[]).await;
    let (ok, log) = srv.caller(UacFlow::AnswerAndHangUp, &[]).run().await;
    assert!(ok, "caller: {log}\nserver: {}", srv.log_text());
    assert!(
        uas_child.wait().await.unwrap().success(),
        "callee: {}",
        uas.messages()
    );
    // What the phones were told of their own addresses is IPv4.
    assert!(!log.contains("::ffff:"), "{log}");
    let got = uas.messages();
    assert!(!got.contains("::ffff:"), "{got}");
    let invite = message(&got, "INVITE sip:1002@127.0.0.1:", &["m=audio"])
        .unwrap_or_else(|| panic!("1002 got an INVITE to its IPv4 contact: {got}"));
    assert!(
        !invite.contains("::ffff:"),
        "no IPv4-mapped address: {invite}"
    );
    assert_eq!(sdp_audio(invite).0, "127.0.0.1", "{invite}");
    let forwarded = srv.metric("ringside_rtp_forwarded_packets_total", "").await;
    assert!(forwarded >= 20.0, "RTP relayed both ways: {forwarded}");
    assert_eq!(
        srv.metric("ringside_rtp_dropped_foreign_total", "").await,
        0.0
    );
    // The stored binding and the call's legs name IPv4 peers.
    let (st, exts) = srv.api("GET", "/api/v1/sip/extensions", &token, None).await;
    assert_eq!(st, 200, "{exts}");
    assert!(!exts.to_string().contains("::ffff:"), "{exts}");
    let call = srv.ended_call(&token).await;
    assert!(!call.to_string().contains("::ffff:"), "{call}");
}

/// Dual stack: Ringside on `[::]` with a public address per family (unset: both loopbacks).
/// An IPv6 phone registers over `::1`, an IPv4 phone calls it over `127.0.0.1`: each is told
/// Ringside's address of its own family (Via, Contact, SDP), and each hears the other's tone
/// through the one relay. Both ways round: IPv6 first (the default on `[::]`) and IPv4 first
/// (`RINGSIDE_PUBLIC_IP=127.0.0.1,::1`), so each phone's messages were rewritten once.
#[tokio::test]
async fn on_the_dual_stack_wildcard_an_ipv4_phone_and_an_ipv6_phone_call_each_other() {
    dual_stack_call(None).await;
    dual_stack_call(Some("127.0.0.1,::1")).await;
}

async fn dual_stack_call(public_ips: Option<&str>) {
    let port = free_port();
    let sip = format!("[::]:{port}");
    let mut env = vec![("RINGSIDE_SIP_ADDR", sip.as_str())];
    env.extend(public_ips.map(|ips| ("RINGSIDE_PUBLIC_IP", ips)));
    let mut srv = Server::start_with(&env).await;
    srv.sip = format!("[::1]:{port}").parse().unwrap();
    let token = srv.with_phones().await;
    md5_only(&srv, &token, "1001").await;
    md5_only(&srv, &token, "1002").await;
    let opts = |tone_hz, dial| Options {
        tone_hz,
        mediaenc: None,
        dial,
    };
    let mut callee = Baresip::start_with(&srv, "1002", PW2, &Link::Udp, opts(400, None));
    eventually("1002 registered over IPv6", || async {
        srv.metric("ringside_sip_registrations", "").await == 1.0
    })
    .await;
    srv.sip = format!("127.0.0.1:{port}").parse().unwrap();
    let dial = format!("sip:1002@127.0.0.1:{port}");
    let mut caller = Baresip::start_with(&srv, "1001", PW1, &Link::Udp, opts(TONE_HZ, Some(dial)));
    converse(&srv, &mut caller).await;
    callee.stop().await;
    let (clog, elog) = (caller.log_text(), callee.log_text());
    let ctx = || {
        format!(
            "\n== caller:\n{clog}\n== callee:\n{elog}\n== server:\n{}",
            srv.log_text()
        )
    };
    // The IPv6 phone: the INVITE came over IPv6 and names Ringside's IPv6 address.
    let invite = message(&elog, "INVITE sip:1002", &["m=audio"])
        .unwrap_or_else(|| panic!("1002's INVITE{}", ctx()));
    assert_eq!(sdp_audio(invite).0, "::1", "{invite}");
    assert!(
        header(invite, "Via").contains(&format!("[::1]:{port}")),
        "{invite}"
    );
    assert!(
        header(invite, "Contact").contains(&format!("ringside@[::1]:{port}")),
        "{invite}"
    );
    // The IPv4 phone: Ringside's answer names its IPv4 address.
    let ok = message(&clog, "SIP/2.0 200", &["m=audio"])
        .unwrap_or_else(|| panic!("1001's 200 with SDP{}", ctx()));
    assert_eq!(sdp_audio(ok).0, "127.0.0.1", "{ok}");
    assert!(
        header(ok, "Contact").contains(&format!("ringside@127.0.0.1:{port}")),
        "{ok}"
    );
    for msg in [invite, ok] {
        assert!(!msg.contains("::ffff:"), "no IPv4-mapped address: {msg}");
    }
    assert_heard(&caller, 400, "1001", &ctx);
    assert_heard(&callee, TONE_HZ, "1002", &ctx);
    assert_eq!(
        srv.metric("ringside_rtp_dropped_foreign_total", "").await,
        0.0
    );
}
