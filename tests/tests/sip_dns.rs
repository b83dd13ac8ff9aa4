//! A trunk named by a host name, resolved through a real DNS server on loopback (dnslib's zone
//! server, from PyPI) as RFC 3263 says: the trunk has no transport and no port, so Ringside
//! asks NAPTR (which points at `_sip._udp`), then SRV (two targets: priority 10 on a port
//! where nothing answers, priority 20 where a sipp UAS does), then A. The call goes to the
//! first target, gets no answer, and fails over to the second, which answers; the
//! Request-URI keeps the trunk's domain. The live target also has an AAAA record, which an
//! IPv4 SIP socket cannot use: it is not among the addresses tried.

use std::process::{Child, Command, Stdio};

use ringside_e2e::{dialling, eventually, free_port, Scenario, Server, Sipp, UacFlow, UasFlow};
use serde_json::json;

/// dnslib's zone server on `port`, serving `zone`; killed on drop.
struct Dns(Child);

impl Drop for Dns {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn dns_server(dir: &std::path::Path, port: u16, zone: &str) -> Dns {
    let file = dir.join("carrier.zone");
    std::fs::write(&file, zone).unwrap();
    let child = Command::new("python3")
        .args([
            "-m",
            "dnslib.zoneresolver",
            "--address",
            "127.0.0.1",
            "--port",
        ])
        .arg(port.to_string())
        .arg("--zone")
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 -m dnslib.zoneresolver (pip install dnslib)");
    Dns(child)
}

#[tokio::test]
async fn a_trunk_named_by_srv_records_fails_over_to_its_second_target() {
    let dns_port = free_port();
    let (dead, live) = (free_port(), free_port());
    let zone = format!(
        "$TTL 60\n\
         carrier.test. 60 IN NAPTR 10 10 \"S\" \"SIP+D2U\" \"\" _sip._udp.carrier.test.\n\
         _sip._udp.carrier.test. 60 IN SRV 10 50 {dead} dead.carrier.test.\n\
         _sip._udp.carrier.test. 60 IN SRV 20 50 {live} live.carrier.test.\n\
         dead.carrier.test. 60 IN A 127.0.0.1\n\
         live.carrier.test. 60 IN A 127.0.0.1\n\
         live.carrier.test. 60 IN AAAA ::1\n"
    );
    let dir = std::env::temp_dir().join(format!("ringside-dns-{}-{dns_port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _dns = dns_server(&dir, dns_port, &zone);
    let srv = Server::start_with(&[
        ("RINGSIDE_DNS_SERVERS", &format!("127.0.0.1:{dns_port}")),
        // The dead target's INVITE times out after 64*T1 = 6.4 s.
        ("RINGSIDE_SIP_TIMER_T1_MS", "100"),
    ])
    .await;
    let token = srv.with_phones().await;

    // The carrier's second target: a sipp UAS answering one call.
    let uas = Sipp::new(&Scenario::uas("carrier", UasFlow::Answer), srv.sip).args(&[
        "-i",
        "127.0.0.1",
        "-p",
        &live.to_string(),
        "-mp",
        &ringside_e2e::even_port().to_string(),
        "-rtp_echo",
        "-m",
        "1",
        "-timeout",
        "60s",
    ]);
    let mut uas_child = uas.spawn();
    let (st, trunk) = srv
        .api(
            "POST",
            "/api/v1/sip/trunks",
            &token,
            Some(json!({
                "name": "carrier",
                "outboundHost": "carrier.test",
                "allowedDestinations": "+1NXXNXXXXXX"
            })),
        )
        .await;
    assert_eq!(st, 201, "{trunk}");
    eventually(
        "the trunk's host resolved through NAPTR and SRV",
        || async { srv.log_text().contains("outbound trunk host resolved") },
    )
    .await;

    let caller =
        dialling(&srv, "+14155550123", UacFlow::AnswerAndHangUp).args(&["-timeout", "60s"]);
    let (ok, log) = caller.run().await;
    assert!(ok, "caller: {log}\nserver: {}", srv.log_text());
    let status = uas_child.wait().await.unwrap();
    let carrier = uas.messages();
    assert!(status.success(), "carrier: {carrier}");
    assert!(
        carrier.contains("INVITE sip:+14155550123@carrier.test SIP/2.0"),
        "the Request-URI keeps the trunk's domain: {carrier}"
    );
    let server_log = srv.log_text();
    assert!(
        server_log.contains("trunk address failed; trying the next")
            && server_log.contains(&format!("127.0.0.1:{dead}"))
            && server_log.contains(&format!("127.0.0.1:{live}")),
        "{server_log}"
    );
    assert!(
        !server_log.contains("[::1]"),
        "the AAAA record's address is not tried from an IPv4 socket: {server_log}"
    );
    // The call record names the address that answered.
    let call = srv.ended_call(&token).await;
    let callee = call["legs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["role"] == "callee")
        .cloned()
        .unwrap();
    assert_eq!(callee["peer"], format!("127.0.0.1:{live}"), "{call:#}");
    assert_eq!(callee["finalStatus"], 200, "{call:#}");
}
