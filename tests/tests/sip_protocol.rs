//! Protocol behaviour on the wire with raw sockets and sipp: OPTIONS, 405/501/481, malformed
//! input answered 400 or dropped and counted, TCP framing with several messages per segment,
//! calls over TCP, and graceful shutdown (503 to new INVITEs while an active call finishes).

use std::time::Duration;

use ringside_e2e::{Server, UacFlow, UasFlow};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

fn request(method: &str, port: u16, call: &str, extra: &str) -> String {
    format!(
        "{method} sip:ringside@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{call}{method};rport\r\nFrom: <sip:probe@127.0.0.1>;tag=p{call}\r\nTo: <sip:ringside@127.0.0.1>{extra}\r\nCall-ID: {call}\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

async fn udp_exchange(srv: &Server, sock: &UdpSocket, msg: &[u8]) -> Option<String> {
    sock.send_to(msg, srv.sip).await.unwrap();
    let mut buf = vec![0u8; 65536];
    match tokio::time::timeout(Duration::from_secs(2), sock.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        _ => None,
    }
}

#[tokio::test]
async fn options_unsupported_and_unknown_methods_and_stray_dialogs() {
    let srv = Server::start().await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = sock.local_addr().unwrap().port();
    let r = udp_exchange(&srv, &sock, request("OPTIONS", port, "o1", "").as_bytes())
        .await
        .unwrap();
    assert!(r.starts_with("SIP/2.0 200 "), "{r}");
    assert!(
        r.contains("Allow: INVITE, ACK, CANCEL, BYE, OPTIONS"),
        "{r}"
    );
    assert!(
        r.contains(&format!("rport={port}")),
        "RFC 3581 rport filled in: {r}"
    );
    let r = udp_exchange(&srv, &sock, request("MESSAGE", port, "m1", "").as_bytes())
        .await
        .unwrap();
    assert!(r.starts_with("SIP/2.0 405 "), "{r}");
    assert!(r.contains("Allow:"), "{r}");
    let r = udp_exchange(&srv, &sock, request("FROB", port, "f1", "").as_bytes())
        .await
        .unwrap();
    assert!(r.starts_with("SIP/2.0 501 "), "{r}");
    let r = udp_exchange(
        &srv,
        &sock,
        request("BYE", port, "b1", ";tag=nosuchdialog").as_bytes(),
    )
    .await
    .unwrap();
    assert!(r.starts_with("SIP/2.0 481 "), "{r}");
    assert_eq!(
        srv.metric(
            "ringside_sip_requests_total",
            "method=\"OPTIONS\",direction=\"in\""
        )
        .await,
        1.0
    );
    assert_eq!(
        srv.metric(
            "ringside_sip_responses_total",
            "code=\"481\",direction=\"out\""
        )
        .await,
        1.0
    );
}

#[tokio::test]
async fn malformed_requests_get_400_or_are_dropped_and_counted() {
    let srv = Server::start().await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = sock.local_addr().unwrap().port();
    let bad_cseq = request("INVITE", port, "x1", "").replace("CSeq: 1 INVITE", "CSeq: one INVITE");
    let r = udp_exchange(&srv, &sock, bad_cseq.as_bytes())
        .await
        .unwrap();
    assert!(r.starts_with("SIP/2.0 400 "), "{r}");
    assert!(r.contains("Call-ID: x1"), "{r}");
    let garbage = [0xffu8, 0x00, 0x13, 0x37, b'\r', b'\n'];
    assert!(
        udp_exchange(&srv, &sock, &garbage).await.is_none(),
        "garbage gets no answer"
    );
    let no_call_id = request("OPTIONS", port, "x2", "").replace("Call-ID: x2\r\n", "");
    assert!(udp_exchange(&srv, &sock, no_call_id.as_bytes())
        .await
        .is_none());
    assert_eq!(srv.metric("ringside_sip_malformed_total", "").await, 3.0);
    assert_eq!(
        srv.metric("ringside_sip_malformed_dropped_total", "").await,
        2.0
    );
    // The server is unharmed.
    let r = udp_exchange(&srv, &sock, request("OPTIONS", port, "o2", "").as_bytes())
        .await
        .unwrap();
    assert!(r.starts_with("SIP/2.0 200 "), "{r}");
}

#[tokio::test]
async fn tcp_frames_several_messages_per_segment_on_one_connection() {
    let srv = Server::start().await;
    let mut c = TcpStream::connect(srv.sip).await.unwrap();
    let port = c.local_addr().unwrap().port();
    let two = format!(
        "{}{}",
        request("OPTIONS", port, "t1", "").replace("SIP/2.0/UDP", "SIP/2.0/TCP"),
        request("OPTIONS", port, "t2", "").replace("SIP/2.0/UDP", "SIP/2.0/TCP")
    );
    // Split awkwardly: the first write ends inside a header.
    let (a, b) = two.split_at(40);
    c.write_all(a.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    c.write_all(b.as_bytes()).await.unwrap();
    let mut got = String::new();
    let mut buf = [0u8; 4096];
    while got.matches("SIP/2.0 200 ").count() < 2 {
        let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf))
            .await
            .expect("responses arrive")
            .unwrap();
        assert!(n > 0, "connection stayed open");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(
        got.contains("Call-ID: t1") && got.contains("Call-ID: t2"),
        "{got}"
    );
}

#[tokio::test]
async fn call_over_tcp_on_both_legs() {
    let srv = Server::start().await;
    srv.with_phones().await;
    let (uas, mut uas_child) = srv.callee(UasFlow::Answer, &["-t", "t1"]).await;
    let (ok, log) = srv
        .caller(UacFlow::AnswerAndHangUp, &["-t", "t1"])
        .run()
        .await;
    assert!(ok, "TCP caller: {log}\nserver: {}", srv.log_text());
    assert!(
        uas_child.wait().await.unwrap().success(),
        "TCP callee: {}",
        uas.messages()
    );
    assert!(
        uas.messages().contains("SIP/2.0/TCP"),
        "the callee leg ran over TCP"
    );
}

#[tokio::test]
async fn sigterm_refuses_new_calls_and_lets_active_calls_finish() {
    let mut srv = Server::start().await;
    srv.with_phones().await;
    let (uas, mut uas_child) = srv.callee(UasFlow::Answer, &[]).await;
    let uac = srv.caller(UacFlow::AnswerAndHangUp, &[]);
    let mut uac_child = uac.spawn();
    ringside_e2e::eventually("call answered", || async {
        srv.metric("ringside_calls_active", "").await == 1.0
    })
    .await;
    let pid = srv.pid();
    ringside_e2e::signal(pid, libc::SIGTERM);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A new INVITE while draining: 503.
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let p = sock.local_addr().unwrap().port();
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    let invite = request("INVITE", p, "drain1", "").replace(
        "Content-Length: 0\r\n\r\n",
        &format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        ),
    );
    sock.send_to(invite.as_bytes(), srv.sip).await.unwrap();
    let mut buf = vec![0u8; 65536];
    let mut got = String::new();
    while !got.contains("SIP/2.0 503") {
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
            .await
            .expect("a response")
            .unwrap();
        got = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(
            got.starts_with("SIP/2.0 100") || got.starts_with("SIP/2.0 503"),
            "{got}"
        );
    }
    // The active call finishes normally, then the server exits cleanly.
    assert!(
        uac_child.wait().await.unwrap().success(),
        "caller: {}",
        uac.messages()
    );
    assert!(
        uas_child.wait().await.unwrap().success(),
        "callee: {}",
        uas.messages()
    );
    let status = srv.wait_exit();
    assert!(
        status.success(),
        "clean exit: {status:?}\n{}",
        srv.log_text()
    );
}
