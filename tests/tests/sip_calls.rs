//! SIP behaviour against real sipp peers through a real `ringside serve` process.

use ringside_e2e::{
    even_port, eventually, free_port, Scenario, Server, Sipp, UacFlow, UasFlow, PW1, PW2,
};
use serde_json::json;

struct Setup {
    srv: Server,
    token: String,
}

async fn setup() -> Setup {
    let srv = Server::start().await;
    let token = srv.with_phones().await;
    Setup { srv, token }
}

async fn register(srv: &Server, user: &str, pw: &str, port: u16, expect: u16) -> (bool, String) {
    srv.register(user, pw, port, expect, &[]).await
}

#[tokio::test]
async fn register_with_digest_challenge_and_wrong_password_refused() {
    let s = setup().await;
    let (ok, log) = register(&s.srv, "1002", PW2, free_port(), 200).await;
    assert!(ok, "register: {log}");
    assert!(log.contains("WWW-Authenticate: Digest"), "{log}");
    assert!(
        log.contains("algorithm=SHA-256"),
        "SHA-256 offered (RFC 8760): {log}"
    );
    assert_eq!(s.srv.metric("ringside_sip_registrations", "").await, 1.0);
    let (ok, log) = register(&s.srv, "1002", "wrong-password", free_port(), 403).await;
    assert!(ok, "wrong password gets 403: {log}");
    assert_eq!(s.srv.metric("ringside_sip_registrations", "").await, 1.0);
    // A second phone for the same extension adds a second contact.
    let (ok, log) = register(&s.srv, "1002", PW2, free_port(), 200).await;
    assert!(ok, "{log}");
    assert_eq!(
        s.srv.metric("ringside_sip_registrations", "").await,
        2.0,
        "two contacts"
    );
}

#[tokio::test]
async fn call_between_extensions_relays_rtp_both_ways() {
    let s = setup().await;
    let (uas, mut uas_child) = s.srv.callee(UasFlow::Answer, &[]).await;
    let (ok, log) = s.srv.caller(UacFlow::AnswerAndHangUp, &[]).run().await;
    assert!(ok, "caller: {log}\nserver: {}", s.srv.log_text());
    assert!(
        uas_child.wait().await.unwrap().success(),
        "callee: {}",
        uas.messages()
    );
    // The callee saw Ringside's address in the SDP, never the caller's media port.
    let forwarded = s
        .srv
        .metric("ringside_rtp_forwarded_packets_total", "")
        .await;
    assert!(
        forwarded >= 20.0,
        "RTP relayed both ways (pcap out + echo back): {forwarded}"
    );
    let call = s.srv.ended_call(&s.token).await;
    assert_eq!(call["status"], "ended");
    assert_eq!(call["hangupSide"], "caller");
    assert!(call["answeredAt"].is_i64());
    assert_eq!(call["legs"][0]["finalStatus"], 200, "caller leg answered");
    let legs = call["legs"].as_array().unwrap();
    assert_eq!(legs.len(), 2);
    assert_ne!(
        legs[0]["sipCallId"], legs[1]["sipCallId"],
        "each leg has its own Call-ID"
    );
    assert_eq!(s.srv.metric("ringside_calls_active", "").await, 0.0);
    eventually("relay freed", || async {
        s.srv.metric("ringside_media_relays_active", "").await == 0.0
    })
    .await;
}

#[tokio::test]
async fn cancel_before_answer_is_propagated() {
    let s = setup().await;
    let (uas, mut uas_child) = s.srv.callee(UasFlow::Cancelled, &[]).await;
    let (ok, log) = s.srv.caller(UacFlow::Cancel, &[]).run().await;
    assert!(ok, "caller: {log}\nserver: {}", s.srv.log_text());
    assert!(
        uas_child.wait().await.unwrap().success(),
        "callee: {}",
        uas.messages()
    );
    let call = s.srv.ended_call(&s.token).await;
    assert_eq!(call["endReason"], "cancelled");
    assert_eq!(call["legs"][0]["finalStatus"], 487);
    assert_eq!(call["hangupSide"], "caller");
}

#[tokio::test]
async fn bye_from_callee_ends_both_legs() {
    let s = setup().await;
    let (uas, mut uas_child) = s.srv.callee(UasFlow::HangUp, &[]).await;
    let (ok, log) = s.srv.caller(UacFlow::CalleeHangsUp, &[]).run().await;
    assert!(ok, "caller: {log}\nserver: {}", s.srv.log_text());
    assert!(
        uas_child.wait().await.unwrap().success(),
        "callee: {}",
        uas.messages()
    );
    let call = s.srv.ended_call(&s.token).await;
    assert_eq!(call["hangupSide"], "callee");
}

#[tokio::test]
async fn reinvite_hold_and_resume_pass_across() {
    let s = setup().await;
    let (uas, mut uas_child) = s.srv.callee(UasFlow::HoldResume, &[]).await;
    let (ok, log) = s.srv.caller(UacFlow::HoldResume, &[]).run().await;
    assert!(ok, "caller: {log}\nserver: {}", s.srv.log_text());
    assert!(
        uas_child.wait().await.unwrap().success(),
        "callee: {}",
        uas.messages()
    );
}

#[tokio::test]
async fn wrong_password_invite_is_refused() {
    let s = setup().await;
    let sipp = Sipp::new(
        &Scenario::uac("1001", true, UacFlow::Refused(403)),
        s.srv.sip,
    )
    .args(&[
        "-i",
        "127.0.0.1",
        "-p",
        &free_port().to_string(),
        "-s",
        "1002",
        "-au",
        "1001",
        "-ap",
        "not-the-password",
    ]);
    let (ok, log) = sipp.run().await;
    assert!(ok, "{log}");
    assert!(s.srv.metric("ringside_sip_auth_failures_total", "").await >= 1.0);
}

#[tokio::test]
async fn unregistered_and_unknown_destinations_are_refused() {
    let s = setup().await;
    for (dest, code) in [("1002", 480), ("7777", 404)] {
        let sipp = Sipp::new(
            &Scenario::uac("1001", true, UacFlow::Refused(code)),
            s.srv.sip,
        )
        .args(&[
            "-i",
            "127.0.0.1",
            "-p",
            &free_port().to_string(),
            "-s",
            dest,
            "-au",
            "1001",
            "-ap",
            PW1,
        ]);
        let (ok, log) = sipp.run().await;
        assert!(ok, "{dest} -> {code}: {log}");
    }
    // The call to the extension with no phone is in the history: missed, nobody available.
    let call = s.srv.ended_call(&s.token).await;
    assert_eq!(call["status"], "missed", "{call}");
    assert_eq!(call["endReason"], "unavailable");
    assert!(call["to"].as_str().unwrap_or("").contains("1002"), "{call}");
    assert_eq!(call["legs"][0]["finalStatus"], 480);
}

/// A UDP socket standing in for a carrier's trunk: counts whatever arrives.
async fn fake_carrier() -> (u16, tokio::task::JoinHandle<usize>) {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = sock.local_addr().unwrap().port();
    let h = tokio::spawn(async move {
        let mut n = 0;
        let mut buf = [0u8; 4096];
        while let Ok(Ok(_)) =
            tokio::time::timeout(std::time::Duration::from_secs(3), sock.recv_from(&mut buf)).await
        {
            n += 1;
        }
        n
    });
    (port, h)
}

#[tokio::test]
async fn untrusted_invite_to_a_number_is_refused_and_never_reaches_the_trunk() {
    let s = setup().await;
    let (carrier_port, carrier) = fake_carrier().await;
    let (st, body) = s
        .srv
        .api(
            "POST",
            "/api/v1/sip/trunks",
            &s.token,
            Some(json!({
                "name": "carrier",
                "inboundCidrs": ["127.0.0.2/32"],
                "outboundHost": "127.0.0.1",
                "outboundPort": carrier_port,
                "outboundTransport": "udp",
                "allowedDestinations": "+1NXXNXXXXXX"
            })),
        )
        .await;
    assert_eq!(st, 201, "{body}");
    // From an untrusted address without credentials: challenged (407), then bogus
    // credentials: 403.
    let sipp = Sipp::new(
        &Scenario::uac("stranger", true, UacFlow::Refused(403)),
        s.srv.sip,
    )
    .args(&[
        "-i",
        "127.0.0.1",
        "-p",
        &free_port().to_string(),
        "-s",
        "+14155550123",
        "-au",
        "stranger",
        "-ap",
        "whatever-pw",
    ]);
    let (ok, log) = sipp.run().await;
    assert!(ok, "{log}");
    // From the trusted trunk address to a number a trunk dials: the trunk is trusted only
    // towards its own tenant's extensions, so this is challenged (407) like any stranger's call,
    // and never sent back out to a trunk.
    let sipp = Sipp::new(
        &Scenario::uac("pbx", false, UacFlow::Refused(407)),
        s.srv.sip,
    )
    .args(&[
        "-i",
        "127.0.0.2",
        "-p",
        &free_port().to_string(),
        "-s",
        "+14155550123",
    ]);
    let (ok, log) = sipp.run().await;
    assert!(ok, "{log}");
    assert_eq!(
        carrier.await.unwrap(),
        0,
        "nothing was sent to the carrier trunk"
    );
}

#[tokio::test]
async fn trusted_trunk_reaches_a_registered_extension() {
    let s = setup().await;
    let (st, body) = s
        .srv
        .api(
            "POST",
            "/api/v1/sip/trunks",
            &s.token,
            Some(json!({"name": "pbx", "inboundCidrs": ["127.0.0.3"]})),
        )
        .await;
    assert_eq!(st, 201, "{body}");
    let (uas, mut uas_child) = s.srv.callee(UasFlow::Answer, &[]).await;
    let sipp = Sipp::new(
        &Scenario::uac("pbx", false, UacFlow::AnswerAndHangUp),
        s.srv.sip,
    )
    .args(&[
        "-i",
        "127.0.0.3",
        "-p",
        &free_port().to_string(),
        "-mp",
        &even_port().to_string(),
        "-s",
        "1002",
    ]);
    let (ok, log) = sipp.run().await;
    assert!(ok, "{log}\nserver: {}", s.srv.log_text());
    assert!(
        uas_child.wait().await.unwrap().success(),
        "callee: {}",
        uas.messages()
    );
}

#[tokio::test]
async fn registrations_survive_a_restart() {
    let s = setup().await;
    let port = free_port();
    let (ok, log) = register(&s.srv, "1002", PW2, port, 200).await;
    assert!(ok, "{log}");
    let Setup { mut srv, token: _ } = s;
    assert!(srv.terminate().success() || cfg!(not(unix)));
    let dir = srv.data_dir.clone();
    drop(srv);
    let srv = Server::start_in(dir, &[]).await;
    assert_eq!(srv.metric("ringside_sip_registrations", "").await, 1.0);
}
