//! Kamailio (Debian's 5.6 with `kamailio-tls-modules`: an SIP stack and a TLS library,
//! OpenSSL, independent of Ringside's) as Ringside's SIP-over-TLS peer, both ways, with
//! certificates from one test CA (tests/kamailio/tls-peer.cfg):
//! - a PBX's call (sipp over UDP) that Kamailio relays to Ringside over TLS reaches extension
//!   1002 as a trusted trunk's call, and Ringside answers on Kamailio's connection;
//! - a call Ringside places to a trunk set to `tls` with the CA pinned goes over TLS to
//!   Kamailio, which verifies nothing of ours but presents a certificate Ringside verifies,
//!   and reaches the carrier (sipp over UDP) behind it.

use std::path::Path;
use std::time::Duration;

use ringside_e2e::kamailio::Kamailio;
use ringside_e2e::tls::{tls_server, Pki};
use ringside_e2e::{dialling, even_port, free_port, Scenario, Sipp, UacFlow, UasFlow};
use serde_json::json;

/// Kamailio on 127.0.0.3 (`udp` and `tls` ports) presenting `pair`, trusting `ca` for the
/// connections it opens to Ringside's `ringside_tls` port, relaying Ringside's calls to
/// `carrier` over UDP.
async fn kamailio(
    dir: &Path,
    (udp, tls): (u16, u16),
    ringside_tls: u16,
    carrier: u16,
    pair: &(String, String),
    ca: &Path,
) -> Kamailio {
    let (cert, key) = (dir.join("kamailio-cert.pem"), dir.join("kamailio-key.pem"));
    std::fs::write(&cert, &pair.0).unwrap();
    std::fs::write(&key, &pair.1).unwrap();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/kamailio");
    let tls_cfg = std::fs::read_to_string(format!("{root}/tls.cfg"))
        .unwrap()
        .replace("{{CERT}}", cert.to_str().unwrap())
        .replace("{{KEY}}", key.to_str().unwrap())
        .replace("{{CA}}", ca.to_str().unwrap());
    std::fs::write(dir.join("tls.cfg"), tls_cfg).unwrap();
    let cfg = std::fs::read_to_string(format!("{root}/tls-peer.cfg"))
        .unwrap()
        .replace("{{UDP_PORT}}", &udp.to_string())
        .replace("{{TLS_PORT}}", &tls.to_string())
        .replace("{{TLS_CFG}}", dir.join("tls.cfg").to_str().unwrap())
        .replace("{{CARRIER_PORT}}", &carrier.to_string())
        .replace("{{RINGSIDE_TLS_PORT}}", &ringside_tls.to_string());
    let cfg_path = dir.join("kamailio.cfg");
    std::fs::write(&cfg_path, cfg).unwrap();
    let k = Kamailio::start(&cfg_path, dir, &[]);
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.3", tls))
            .await
            .is_ok()
        {
            return k;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("kamailio did not start: {}", k.log_text());
}

#[tokio::test]
async fn kamailio_is_a_tls_peer_both_ways() {
    let pki = Pki::new("Ringside test CA");
    let (srv, tls, _, _) = tls_server(&pki.leaf(&["localhost", "127.0.0.1"], false)).await;
    let token = srv.with_phones().await;
    let dir = srv.data_dir.join("kamailio");
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, pki.ca_pem()).unwrap();
    let (kam_udp, kam_tls, carrier) = (free_port(), free_port(), free_port());
    let kam = kamailio(
        &dir,
        (kam_udp, kam_tls),
        tls.port(),
        carrier,
        &pki.leaf(&["localhost", "127.0.0.3"], false),
        &ca,
    )
    .await;
    let logs =
        |kam: &Kamailio| format!("\nkamailio: {}\nserver: {}", kam.log_text(), srv.log_text());

    // 1. PBX → Kamailio (UDP) → Ringside (TLS): Kamailio's address is a trusted trunk.
    let (st, body) = srv
        .api(
            "POST",
            "/api/v1/sip/trunks",
            &token,
            Some(json!({"name": "pbx via kamailio", "inboundCidrs": ["127.0.0.3/32"]})),
        )
        .await;
    assert_eq!(st, 201, "{body}");
    let (callee, mut callee_child) = srv.callee(UasFlow::Answer, &[]).await;
    let pbx = Sipp::new(
        &Scenario::uac("pbx", false, UacFlow::AnswerAndHangUp),
        format!("127.0.0.3:{kam_udp}").parse().unwrap(),
    )
    .args(&["-i", "127.0.0.1", "-p", &free_port().to_string()])
    .args(&["-mp", &even_port().to_string(), "-s", "1002"]);
    let (ok, log) = pbx.run().await;
    assert!(ok, "pbx: {log}{}", logs(&kam));
    assert!(
        tokio::time::timeout(Duration::from_secs(20), callee_child.wait())
            .await
            .is_ok_and(|s| s.is_ok_and(|s| s.success())),
        "1002: {}{}",
        callee.messages(),
        logs(&kam)
    );
    let call = srv.ended_call(&token).await;
    let caller = call["legs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["role"] == "caller")
        .cloned()
        .unwrap();
    assert!(
        caller["peer"].as_str().unwrap().starts_with("127.0.0.3:"),
        "the call came over Kamailio's TLS connection: {call:#}"
    );
    assert!(call["answeredAt"].is_i64(), "{call:#}");

    // 2. Ringside → Kamailio (TLS, its certificate verified against the pinned CA) → carrier.
    let (st, body) = srv
        .api(
            "POST",
            "/api/v1/sip/trunks",
            &token,
            Some(json!({
                "name": "carrier via kamailio",
                "outboundHost": "127.0.0.3",
                "outboundPort": kam_tls,
                "outboundTransport": "tls",
                "tlsCaPem": pki.ca_pem(),
                "allowedDestinations": "+1NXXNXXXXXX"
            })),
        )
        .await;
    assert_eq!(st, 201, "{body}");
    let uas = Sipp::new(&Scenario::uas("carrier", UasFlow::Answer), srv.sip).args(&[
        "-i",
        "127.0.0.1",
        "-p",
        &carrier.to_string(),
        "-mp",
        &even_port().to_string(),
        "-rtp_echo",
        "-m",
        "1",
    ]);
    let mut uas_child = uas.spawn();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let caller = dialling(&srv, "+14155550123", UacFlow::AnswerAndHangUp);
    let (ok, log) = caller.run().await;
    assert!(ok, "caller: {log}{}", logs(&kam));
    assert!(
        tokio::time::timeout(Duration::from_secs(20), uas_child.wait())
            .await
            .is_ok_and(|s| s.is_ok_and(|s| s.success())),
        "carrier: {}{}",
        uas.messages(),
        logs(&kam)
    );
    let carrier_log = uas.messages();
    assert!(
        carrier_log.contains("Via: SIP/2.0/TLS 127.0.0.1:"),
        "Ringside's Via (TLS) behind Kamailio's: {carrier_log}"
    );
    assert_eq!(
        srv.metric("ringside_sip_tls_failures_total", "").await,
        0.0,
        "no TLS handshake failed either way{}",
        logs(&kam)
    );
}
