//! SIP over TLS through a real `ringside serve`, with certificates made for each test by a
//! throw-away CA (rcgen):
//! - Ringside serves TLS on `RINGSIDE_SIP_TLS_ADDR` with the certificate of `RINGSIDE_TLS_CERT`
//!   and `RINGSIDE_TLS_KEY`, answers requests on the connection (Via `TLS`), takes renewed
//!   files without a restart, and counts a peer that does not speak TLS;
//! - a trunk set to `tls` is dialled over TLS (a TLS front, rustls, before a sipp UAS on TCP):
//!   verified against the trunk's pinned CA, and refused — logged, counted, the caller told at
//!   once — when the carrier's certificate comes from another CA or has expired.

use std::net::SocketAddr;

use ringside_e2e::tls::{acceptor, client, tls_server, Pki};
use ringside_e2e::{dialling, eventually, free_port, Scenario, Server, Sipp, UacFlow, UasFlow};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

async fn connect(addr: SocketAddr, ca_pem: &str) -> Tls {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    client(ca_pem).connect(name, tcp).await.unwrap()
}

/// The certificate the server presented on `s`.
fn presented(s: &Tls) -> Vec<u8> {
    s.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

fn der(pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}

/// Send an OPTIONS on `s` and read its response.
async fn options(s: &mut Tls, n: u32) -> String {
    let local = s.get_ref().0.local_addr().unwrap();
    let req = format!(
        "OPTIONS sip:ringside@localhost SIP/2.0\r\n\
         Via: SIP/2.0/TLS {local};branch=z9hG4bK-tls-{n}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:probe@localhost>;tag=p{n}\r\n\
         To: <sip:ringside@localhost>\r\n\
         Call-ID: tls-probe-{n}@localhost\r\n\
         CSeq: {n} OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the connection closed before a response");
        buf.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8(buf).unwrap()
}

#[tokio::test]
async fn sip_over_tls_is_served_and_a_renewed_certificate_is_taken_without_a_restart() {
    let pki = Pki::new("Ringside test CA");
    let first = pki.leaf(&["localhost", "127.0.0.1"], false);
    let (srv, tls, cert, key) = tls_server(&first).await;

    let mut s = connect(tls, &pki.ca_pem()).await;
    assert_eq!(presented(&s), der(&first.0));
    let resp = options(&mut s, 1).await;
    assert!(resp.starts_with("SIP/2.0 200"), "{resp}");
    assert!(resp.contains("Via: SIP/2.0/TLS"), "{resp}");

    // The certificate is renewed on disk (key first, then the certificate, as a renewal
    // script may do): new connections get the new one, the open connection goes on.
    let second = pki.leaf(&["localhost", "127.0.0.1"], false);
    std::fs::write(&key, &second.1).unwrap();
    std::fs::write(&cert, &second.0).unwrap();
    let want = der(&second.0);
    eventually("new connections get the renewed certificate", || async {
        presented(&connect(tls, &pki.ca_pem()).await) == want
    })
    .await;
    let resp = options(&mut s, 2).await;
    assert!(resp.starts_with("SIP/2.0 200"), "{resp}");
    assert!(
        srv.log_text().contains("TLS certificate reloaded"),
        "{}",
        srv.log_text()
    );

    // Plain SIP to the TLS port: no handshake, refused and counted.
    let mut plain = TcpStream::connect(tls).await.unwrap();
    plain
        .write_all(b"OPTIONS sip:ringside@localhost SIP/2.0\r\nContent-Length: 0\r\n\r\n")
        .await
        .unwrap();
    let mut sink = Vec::new();
    let _ = plain.read_to_end(&mut sink).await;
    assert!(
        !String::from_utf8_lossy(&sink).contains("SIP/2.0"),
        "no SIP answer without TLS"
    );
    eventually("the failed handshake is counted", || async {
        srv.metric("ringside_sip_tls_failures_total", "direction=\"in\"")
            .await
            >= 1.0
    })
    .await;
}

/// A carrier's TLS front on a fresh port: it presents `pair` and passes each connection on to
/// `backend` over TCP (where a sipp UAS listens).
async fn tls_front(pair: &(String, String), backend: u16) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = acceptor(pair);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut back = TcpStream::connect(("127.0.0.1", backend)).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut back).await;
            });
        }
    });
    port
}

/// TLS connections Ringside opened that were refused.
async fn refused_out(srv: &Server) -> f64 {
    srv.metric("ringside_sip_tls_failures_total", "direction=\"out\"")
        .await
}

#[tokio::test]
async fn a_tls_trunk_is_dialled_with_its_pinned_ca_and_refused_when_the_certificate_does_not_verify(
) {
    let ours = Pki::new("Ringside test CA");
    let (srv, _tls, _, _) = tls_server(&ours.leaf(&["localhost"], false)).await;
    let token = srv.with_phones().await;

    // The carrier: a sipp UAS on TCP behind a TLS front with a certificate for `localhost`
    // from the carrier's own CA.
    let carrier = Pki::new("Carrier CA");
    let uas_port = free_port();
    let uas = Sipp::new(&Scenario::uas("carrier", UasFlow::Answer), srv.sip).args(&[
        "-t",
        "t1",
        "-i",
        "127.0.0.1",
        "-p",
        &uas_port.to_string(),
        "-mp",
        &ringside_e2e::even_port().to_string(),
        "-rtp_echo",
        "-m",
        "1",
    ]);
    let mut uas_child = uas.spawn();
    let front = tls_front(&carrier.leaf(&["localhost"], false), uas_port).await;
    let (st, trunk) = srv
        .api(
            "POST",
            "/api/v1/sip/trunks",
            &token,
            Some(json!({
                "name": "carrier",
                "outboundHost": "localhost",
                "outboundPort": front,
                "outboundTransport": "tls",
                "tlsCaPem": carrier.ca_pem(),
                "allowedDestinations": "+1NXXNXXXXXX"
            })),
        )
        .await;
    assert_eq!(st, 201, "{trunk}");
    assert_eq!(trunk["outboundTransport"], "tls");
    assert_eq!(trunk["hasTlsClientKey"], false);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    // 1001 dials a US number: over TLS to the carrier, answered, hung up.
    let (ok, log) = dialling(&srv, "+14155550123", UacFlow::AnswerAndHangUp)
        .run()
        .await;
    assert!(ok, "caller: {log}\nserver: {}", srv.log_text());
    let status = uas_child.wait().await.unwrap();
    let carrier_log = uas.messages();
    assert!(status.success(), "carrier: {carrier_log}");
    assert!(
        carrier_log.contains("INVITE sip:+14155550123@localhost:")
            && carrier_log
                .to_ascii_lowercase()
                .contains(";transport=tls sip/2.0")
            && carrier_log.contains("Via: SIP/2.0/TLS"),
        "the carrier got the INVITE over TLS: {carrier_log}"
    );

    // The trunk now pins another CA: the carrier's certificate does not verify. The call is
    // refused at once (not after a timer), logged and counted, and nothing reaches the carrier.
    let stranger = Pki::new("Some other CA");
    let id = trunk["id"].as_str().unwrap();
    let (st, body) = srv
        .api(
            "PATCH",
            &format!("/api/v1/sip/trunks/{id}"),
            &token,
            Some(json!({"tlsCaPem": stranger.ca_pem()})),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    let (ok, log) = dialling(&srv, "+14155550123", UacFlow::Refused(408))
        .run()
        .await;
    assert!(ok, "caller: {log}\nserver: {}", srv.log_text());
    // (`localhost` may have an IPv6 address too: each address refused counts.)
    let refused = refused_out(&srv).await;
    assert!(refused >= 1.0, "{refused}");
    assert!(
        srv.log_text().contains("SIP over TLS: connection refused"),
        "{}",
        srv.log_text()
    );

    // The carrier's CA again, but its certificate has expired: refused the same way.
    let expired_front = tls_front(&carrier.leaf(&["localhost"], true), uas_port).await;
    let (st, body) = srv
        .api(
            "PATCH",
            &format!("/api/v1/sip/trunks/{id}"),
            &token,
            Some(json!({"tlsCaPem": carrier.ca_pem(), "outboundPort": expired_front})),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    let (ok, log) = dialling(&srv, "+14155550123", UacFlow::Refused(408))
        .run()
        .await;
    assert!(ok, "caller: {log}\nserver: {}", srv.log_text());
    assert!(refused_out(&srv).await > refused);
    assert!(
        srv.log_text().to_ascii_lowercase().contains("expired"),
        "the log says why: {}",
        srv.log_text()
    );

    // Bad TLS material is refused by the API with the field named, and nothing changes.
    let (st, body) = srv
        .api(
            "PATCH",
            &format!("/api/v1/sip/trunks/{id}"),
            &token,
            Some(json!({"tlsCaPem": "not a certificate"})),
        )
        .await;
    assert_eq!(st, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_field", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("tlsCaPem: no PEM certificate")),
        "{body}"
    );
    let (st, body) = srv
        .api(
            "PATCH",
            &format!("/api/v1/sip/trunks/{id}"),
            &token,
            Some(json!({"tlsClientCertPem": carrier.ca_pem()})),
        )
        .await;
    assert_eq!(st, 422, "a certificate without its key: {body}");
    let (_, now) = srv
        .api("GET", &format!("/api/v1/sip/trunks/{id}"), &token, None)
        .await;
    assert_eq!(now["tlsCaPem"], json!(carrier.ca_pem()));
}
