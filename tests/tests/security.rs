//! The security campaign's regression scenarios against a running `ringside serve` (issue 12):
//! sipp's own requests captured and replayed (INVITE to another number, REGISTER with another
//! Contact), call legs kept across restarts, call records closed after a kill, calls hung up
//! when the shutdown grace ends, a forged 200 OK that is no amplifier, and extension views
//! showing their registrations.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringside_e2e::{eventually, free_port, Server, UacFlow, UasFlow, PW2};
use serde_json::json;
use tokio::net::UdpSocket;

/// A carrier on loopback that answers every INVITE 486 (and takes the ACK); returns its port
/// and the Request-URIs of the INVITEs it saw (retransmissions included).
async fn busy_carrier() -> (u16, Arc<Mutex<Vec<String>>>) {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = sock.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let Some(uri) = text.strip_prefix("INVITE ") else {
                continue;
            };
            s2.lock()
                .unwrap()
                .push(uri.split(' ').next().unwrap_or("").to_string());
            let mut resp = String::from("SIP/2.0 486 Busy Here\r\n");
            for l in text.lines() {
                let lower = l.to_ascii_lowercase();
                if lower.starts_with("via:")
                    || lower.starts_with("from:")
                    || lower.starts_with("call-id:")
                    || lower.starts_with("cseq:")
                {
                    resp.push_str(l);
                    resp.push_str("\r\n");
                } else if lower.starts_with("to:") {
                    resp.push_str(l);
                    resp.push_str(";tag=carrier\r\n");
                }
            }
            resp.push_str("Content-Length: 0\r\n\r\n");
            let _ = sock.send_to(resp.as_bytes(), from).await;
        }
    });
    (port, seen)
}

/// The value of the first `name:` header line in sipp's message log that follows `after`.
fn logged_header(log: &str, after: &str, name: &str) -> String {
    let start = log.find(after).unwrap_or(0);
    log[start..]
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix(name)
                .and_then(|r| r.strip_prefix(':'))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no {name} in sipp's log:\n{log}"))
}

async fn exchange(srv: &Server, sock: &UdpSocket, msg: &str) -> Vec<String> {
    sock.send_to(msg.as_bytes(), srv.sip).await.unwrap();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Ok(Ok((n, _))) =
        tokio::time::timeout(Duration::from_millis(700), sock.recv_from(&mut buf)).await
    {
        out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    out
}

fn status(m: &str) -> u16 {
    m.get(8..11).and_then(|c| c.parse().ok()).unwrap_or(0)
}

fn invite(to: &str, port: u16, call: &str, auth: &str) -> String {
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    format!(
        "INVITE sip:{to}@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bK{call};rport\r\nFrom: <sip:1001@127.0.0.1>;tag={call}\r\nTo: <sip:{to}@127.0.0.1>\r\nCall-ID: {call}\r\nCSeq: 2 INVITE\r\nContact: <sip:1001@127.0.0.1:1>\r\nProxy-Authorization: {auth}\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

#[tokio::test]
async fn a_sniffed_invite_replayed_to_another_number_never_reaches_the_carrier() {
    let srv = Server::start().await;
    let token = srv.with_phones().await;
    let (carrier_port, seen) = busy_carrier().await;
    let (st, body) = srv
        .api(
            "POST",
            "/api/v1/sip/trunks",
            &token,
            Some(json!({
                "name": "carrier",
                "outboundHost": "127.0.0.1",
                "outboundPort": carrier_port,
                "allowedDestinations": "+1NXXNXXXXXX"
            })),
        )
        .await;
    assert_eq!(st, 201, "{body}");
    // The honest call: 1001 authenticates and dials +14155550123; the carrier is busy.
    let sipp = srv.caller(UacFlow::Refused(486), &["-s", "+14155550123"]);
    let (ok, log) = sipp.run().await;
    assert!(ok, "{log}\nserver: {}", srv.log_text());
    let sniffed = logged_header(&log, "CSeq: 2 INVITE", "Proxy-Authorization");
    assert!(sniffed.contains("username=\"1001\""), "{sniffed}");
    eventually("the carrier saw the honest call", || async {
        !seen.lock().unwrap().is_empty()
    })
    .await;

    // An attacker on the same network (same source IP) replays it to another number...
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = srv.sip.port();
    let r = exchange(
        &srv,
        &sock,
        &invite("+14155550199", port, "replay1", &sniffed),
    )
    .await;
    assert!(
        r.iter().any(|m| status(m) == 403),
        "replay to another number refused: {r:?}"
    );
    // ... and to the same number: the nonce was used, so it is re-challenged as stale.
    let r = exchange(
        &srv,
        &sock,
        &invite("+14155550123", port, "replay2", &sniffed),
    )
    .await;
    assert!(
        r.iter()
            .any(|m| status(m) == 407 && m.contains("stale=true")),
        "replay of the same call re-challenged: {r:?}"
    );
    // From another address the nonce is not valid either.
    let other = UdpSocket::bind("127.0.0.5:0").await.unwrap();
    let r = exchange(
        &srv,
        &other,
        &invite("+14155550199", port, "replay3", &sniffed),
    )
    .await;
    assert!(r.iter().any(|m| status(m) == 407), "{r:?}");

    let uris = seen.lock().unwrap().clone();
    assert!(
        uris.iter().all(|u| u.starts_with("sip:+14155550123@")),
        "only the honest call reached the carrier: {uris:?}"
    );
    // The real phone is not locked out: it calls again at once.
    let sipp = srv.caller(UacFlow::Refused(486), &["-s", "+14155550123"]);
    let (ok, log) = sipp.run().await;
    assert!(ok, "{log}");
}

#[tokio::test]
async fn a_sniffed_register_replayed_with_another_contact_is_refused() {
    let srv = Server::start().await;
    let token = srv.with_phones().await;
    let port = free_port();
    let (ok, log) = srv.register("1002", PW2, port, 200, &[]).await;
    assert!(ok, "{log}");
    let sniffed = logged_header(&log, "CSeq: 2 REGISTER", "Authorization");
    let registrations = |srv: &Server, token: String| {
        let srv_http = srv.http.clone();
        async move {
            let list: serde_json::Value = reqwest::Client::new()
                .get(format!("{srv_http}/api/v1/sip/extensions"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            list.as_array()
                .unwrap()
                .iter()
                .find(|e| e["username"] == "1002")
                .unwrap()["registrations"]
                .clone()
        }
    };
    eventually("the registration is visible", || {
        let t = token.clone();
        let r = registrations(&srv, t);
        async move { r.await.as_array().is_some_and(|a| a.len() == 1) }
    })
    .await;
    let regs = registrations(&srv, token.clone()).await;
    assert_eq!(regs[0]["transport"], "udp", "{regs}");
    assert_eq!(regs[0]["userAgent"], "sipp", "{regs}");
    assert!(
        regs[0]["contact"]
            .as_str()
            .unwrap()
            .contains(&format!(":{port}")),
        "{regs}"
    );
    assert!(regs[0]["expiresAt"].as_i64().unwrap() > 0);

    // The captured Authorization with the attacker's Contact.
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let hijack = format!(
        "REGISTER sip:127.0.0.1:{sp} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:7777;branch=z9hG4bKhijack;rport\r\nFrom: <sip:1002@127.0.0.1>;tag=h1\r\nTo: <sip:1002@127.0.0.1>\r\nCall-ID: hijack\r\nCSeq: 9 REGISTER\r\nContact: <sip:1002@127.0.0.66:7777>\r\nExpires: 600\r\nAuthorization: {sniffed}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        sp = srv.sip.port()
    );
    let r = exchange(&srv, &sock, &hijack).await;
    assert!(
        r.iter()
            .any(|m| status(m) == 401 && m.contains("stale=true")),
        "{r:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let regs = registrations(&srv, token.clone()).await;
    assert_eq!(regs.as_array().unwrap().len(), 1, "{regs}");
    assert!(!regs.to_string().contains("127.0.0.66"), "{regs}");
    assert_eq!(srv.metric("ringside_sip_registrations", "").await, 1.0);
}

#[tokio::test]
async fn legs_are_kept_after_a_restart_and_calls_cut_by_a_kill_are_closed() {
    let mut srv = Server::start().await;
    let token = srv.with_phones().await;
    // A call answered and still up when the server is killed.
    let (_uas, mut uas_child) = srv.callee(UasFlow::Answer, &[]).await;
    let caller = srv.caller(UacFlow::AnswerAndHangUp, &[]);
    let mut caller_child = caller.spawn();
    let killed_id = answered_call(&srv, &token).await;
    srv.kill();
    let _ = caller_child.kill().await;
    let _ = uas_child.kill().await;
    let dir = srv.data_dir.clone();
    drop(srv);

    let srv = Server::start_in(dir, &[]).await;
    let (st, killed) = srv
        .api("GET", &format!("/api/v1/calls/{killed_id}"), &token, None)
        .await;
    assert_eq!(st, 200, "{killed}");
    assert_eq!(killed["status"], "ended", "{killed}");
    assert_eq!(killed["endReason"], "server_restart", "{killed}");
    assert!(killed["endedAt"].is_i64(), "{killed}");
    assert!(
        srv.log_text().contains("closed call records left open"),
        "{}",
        srv.log_text()
    );

    // The first call after the restart keeps its legs (per-process leg ids collided before).
    let (uas, mut uas_child) = srv.callee(UasFlow::Answer, &[]).await;
    let (ok, log) = srv.caller(UacFlow::AnswerAndHangUp, &[]).run().await;
    assert!(ok, "{log}\n{}", srv.log_text());
    assert!(
        uas_child.wait().await.unwrap().success(),
        "{}",
        uas.messages()
    );
    let call = srv.ended_call(&token).await;
    assert_ne!(call["id"], killed_id.as_str());
    let legs = call["legs"].as_array().unwrap();
    // The caller, and a callee leg per contact rung (the killed run's registration of the
    // old sipp callee was restored, so two).
    assert!(legs.len() >= 2, "{call}");
    assert!(
        legs.iter()
            .any(|l| l["finalStatus"] == 200 && l["role"] == "callee"),
        "{call}"
    );
    let ids: Vec<&str> = legs.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert!(
        ids.iter()
            .all(|id| id.len() == 36 && id.as_bytes()[14] == b'7'),
        "UUIDv7 leg ids: {ids:?}"
    );
    assert_eq!(
        srv.metric("ringside_call_record_write_failures_total", "")
            .await,
        0.0
    );
    assert!(
        !srv.log_text().contains("writing call records"),
        "{}",
        srv.log_text()
    );
}

#[tokio::test]
async fn calls_still_up_when_the_grace_period_ends_are_hung_up() {
    let mut srv = Server::start_with(&[("RINGSIDE_SHUTDOWN_GRACE_SECS", "1")]).await;
    let token = srv.with_phones().await;
    let (uas, mut uas_child) = srv.callee(UasFlow::Answer, &[]).await;
    // A caller that would stay on for a long time: it waits for the server's BYE.
    let caller = srv.caller(UacFlow::CalleeHangsUp, &[]);
    let mut caller_child = caller.spawn();
    let id = answered_call(&srv, &token).await;
    let _ = srv.terminate();
    // Both phones were sent BYE: both scenarios complete successfully.
    let st = tokio::time::timeout(Duration::from_secs(20), caller_child.wait())
        .await
        .expect("caller got its BYE")
        .unwrap();
    assert!(st.success(), "caller: {}", caller.messages());
    let st = tokio::time::timeout(Duration::from_secs(20), uas_child.wait())
        .await
        .expect("callee got its BYE")
        .unwrap();
    assert!(st.success(), "callee: {}", uas.messages());
    // The record says why.
    let dir = srv.data_dir.clone();
    drop(srv);
    let srv = Server::start_in(dir, &[]).await;
    let (_, call) = srv
        .api("GET", &format!("/api/v1/calls/{id}"), &token, None)
        .await;
    assert_eq!(call["endReason"], "server_shutdown", "{call}");
    assert_eq!(call["hangupSide"], "system", "{call}");
}

#[tokio::test]
async fn a_forged_200_ok_is_no_amplifier() {
    let srv = Server::start().await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = sock.local_addr().unwrap().port();
    let forged = |n: u32| {
        format!(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKforged{n}\r\nFrom: <sip:a@127.0.0.1>;tag=f{n}\r\nTo: <sip:b@127.0.0.1>;tag=t{n}\r\nCall-ID: forged{n}\r\nCSeq: 1 INVITE\r\nContact: <sip:b@127.0.0.1:{port}>\r\nContent-Length: 0\r\n\r\n"
        )
    };
    let sent = forged(0);
    sock.send_to(sent.as_bytes(), srv.sip).await.unwrap();
    // Listen past the BYE's retransmission schedule (T1 doubling: 0.5, 1, 2, 4 s...).
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Ok(Ok((n, _))) =
        tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf)).await
    {
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let bytes: usize = got.iter().map(String::len).sum();
    assert!(got.len() <= 2, "at most one ACK and one BYE: {got:?}");
    assert!(
        bytes <= 3 * sent.len(),
        "{bytes} bytes back for {} sent",
        sent.len()
    );
    // A flood of them is answered at most 20 times a second; the rest are dropped and counted.
    for n in 1..=200 {
        sock.send_to(forged(n).as_bytes(), srv.sip).await.unwrap();
    }
    let mut back = 0;
    while let Ok(Ok(_)) =
        tokio::time::timeout(Duration::from_millis(1500), sock.recv_from(&mut buf)).await
    {
        back += 1;
    }
    assert!(
        back <= 2 * 20 * 3,
        "{back} datagrams back for 200 forged responses"
    );
    eventually("the dropped ones are counted", || async {
        srv.metric("ringside_sip_stray_responses_dropped_total", "")
            .await
            > 0.0
    })
    .await;
}

/// A TCP connection to `to` from the local address `from`.
async fn connect_from(from: &str, to: std::net::SocketAddr) -> tokio::net::TcpStream {
    let s = tokio::net::TcpSocket::new_v4().unwrap();
    s.bind(format!("{from}:0").parse().unwrap()).unwrap();
    s.connect(to).await.unwrap()
}

/// Whether the server closed `s` (read gives end of file or an error) within `wait`.
async fn closed(s: &mut tokio::net::TcpStream, wait: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut b = [0u8; 256];
    loop {
        match tokio::time::timeout(wait, s.read(&mut b)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn idle_and_trickling_connections_cannot_take_the_server_down() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let srv = Server::start_with(&[
        ("RINGSIDE_HTTP_MAX_CONNECTIONS_PER_IP", "50"),
        ("RINGSIDE_HTTP_HEADER_TIMEOUT_SECS", "3"),
        ("RINGSIDE_SIP_TCP_MAX_CONNECTIONS_PER_IP", "50"),
        ("RINGSIDE_SIP_TCP_MESSAGE_TIMEOUT_SECS", "3"),
    ])
    .await;
    let http: std::net::SocketAddr = srv.http.trim_start_matches("http://").parse().unwrap();
    // An attacker at 127.0.0.1 opens 120 idle connections to each listener, and trickles a
    // 60 KB SIP header that never ends.
    let mut idle_http = Vec::new();
    let mut idle_sip = Vec::new();
    for _ in 0..120 {
        idle_http.push(connect_from("127.0.0.1", http).await);
        idle_sip.push(connect_from("127.0.0.1", srv.sip).await);
    }
    let mut trickle = connect_from("127.0.0.2", srv.sip).await;
    let head = format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.2:1;branch=z9hG4bKx\r\nX-Pad: {}",
        "a".repeat(60_000)
    );
    trickle.write_all(head.as_bytes()).await.unwrap();
    let mut http_trickle = connect_from("127.0.0.3", http).await;
    http_trickle
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: aaaa")
        .await
        .unwrap();

    // Over the per-address cap, connections are closed at once (end of file already there;
    // the others have nothing to read yet).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut refused = 0;
    for s in idle_http.iter().chain(idle_sip.iter()) {
        let mut b = [0u8; 16];
        if matches!(s.try_read(&mut b), Ok(0) | Err(_))
            && !matches!(s.try_read(&mut b), Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock)
        {
            refused += 1;
        }
    }
    assert_eq!(refused, 2 * 70, "70 over the cap of 50 on each listener");

    // Everyone else is served: health and the API over HTTP, SIP over UDP and over TCP.
    let client = reqwest::Client::builder()
        .local_address("127.0.0.7".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let r = client
        .get(format!("{}/healthz", srv.http))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let uport = udp.local_addr().unwrap().port();
    let options = |via: &str, call: &str| {
        format!(
            "OPTIONS sip:ringside@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/{via};branch=z9hG4bK{call}\r\nFrom: <sip:probe@127.0.0.1>;tag={call}\r\nTo: <sip:ringside@127.0.0.1>\r\nCall-ID: {call}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
    };
    let r = exchange(
        &srv,
        &udp,
        &options(&format!("UDP 127.0.0.1:{uport}"), "u1"),
    )
    .await;
    assert!(r.iter().any(|m| status(m) == 200), "{r:?}");
    let mut tcp = connect_from("127.0.0.8", srv.sip).await;
    tcp.write_all(options("TCP 127.0.0.8:1", "t1").as_bytes())
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
        .await
        .expect("an answer over TCP")
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("SIP/2.0 200"));

    // Idle and trickling connections are reaped once they miss the 3 s deadline.
    assert!(
        closed(&mut trickle, Duration::from_secs(10)).await,
        "trickle reaped"
    );
    assert!(
        closed(&mut http_trickle, Duration::from_secs(10)).await,
        "an HTTP request head that never ends is reaped"
    );
    let mut reaped = (0, 0);
    for s in idle_http.iter_mut() {
        if closed(s, Duration::from_secs(10)).await {
            reaped.0 += 1;
        }
    }
    for s in idle_sip.iter_mut() {
        if closed(s, Duration::from_secs(10)).await {
            reaped.1 += 1;
        }
    }
    assert_eq!(
        reaped,
        (120, 120),
        "every idle connection closed in the end"
    );
    let metrics = client
        .get(format!("{}/metrics", srv.http))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(-1.0)
    };
    assert_eq!(value("ringside_http_connections_refused_total"), 70.0);
    assert_eq!(value("ringside_sip_tcp_connections_refused_total"), 70.0);
    assert!(value("ringside_sip_tcp_connections_timed_out_total") >= 51.0);
    assert!(value("ringside_http_connections_timed_out_total") >= 50.0);
    // The answered TCP client idles too (its 3 s are up): nothing is left but this request's.
    assert!(value("ringside_sip_tcp_connections") <= 1.0);
    drop(tcp);
}

/// Waits until the newest call record is answered; returns its id.
async fn answered_call(srv: &Server, token: &str) -> String {
    eventually("the call is answered", || async {
        let (_, body) = srv.api("GET", "/api/v1/calls?limit=1", token, None).await;
        body[0]["status"] == "answered"
    })
    .await;
    let (_, body) = srv.api("GET", "/api/v1/calls?limit=1", token, None).await;
    body[0]["id"].as_str().unwrap().to_string()
}
