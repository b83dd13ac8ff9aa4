//! Overload control on real sockets: with the core's inbound queue over its limit, new
//! requests are refused at the transport with 503 and Retry-After, while a dialog's requests
//! still reach the core; under the limit nothing is refused.

mod common;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::{ask, loopback_config, start_driver};
use ringside_calls::core::SipCore;
use ringside_calls::directory::Directory;
use ringside_calls::driver::SipServer;
use ringside_calls::metrics::SipMetrics;
use ringside_calls::overload::Overload;
use ringside_media::MediaEngine;
use ringside_sip::auth::Algorithm;
use ringside_storage::Store;
use tokio::net::UdpSocket;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

async fn server(overload: Overload) -> (SipServer, Arc<SipMetrics>) {
    let metrics = Arc::new(SipMetrics::default());
    let core = SipCore::new(
        loopback_config(0, Duration::from_secs(30), vec![Algorithm::Md5]),
        Directory::default(),
        Box::new(MediaEngine::new(LOCALHOST, 43_000..=43_099)),
        metrics.clone(),
    );
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let sip = start_driver(core, store, metrics.clone(), overload).await;
    (sip, metrics)
}

fn request(method: &str, call_id: &str, to_tag: Option<&str>, port: u16) -> String {
    let tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    format!(
        "{method} sip:1002@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{call_id}\r\n\
         From: <sip:1001@127.0.0.1>;tag=caller\r\n\
         To: <sip:1002@127.0.0.1>{tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 {method}\r\n\
         Contact: <sip:1001@127.0.0.1:{port}>\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

#[tokio::test]
async fn over_the_limit_new_requests_get_503_with_retry_after_and_dialogs_still_reach_the_core() {
    let (sip, metrics) = server(Overload {
        queue_depth: 0,
        retry_after_secs: 3,
    })
    .await;
    let phone = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
    let port = phone.local_addr().unwrap().port();
    for (method, call_id) in [
        ("INVITE", "ov-1"),
        ("OPTIONS", "ov-2"),
        ("REGISTER", "ov-3"),
    ] {
        let r = ask(
            &phone,
            sip.local_addr,
            &request(method, call_id, None, port),
        )
        .await;
        assert!(r.starts_with("SIP/2.0 503 "), "{method}: {r}");
        assert!(r.contains("Retry-After: 3\r\n"), "{method}: {r}");
        assert!(
            r.contains(&format!("Call-ID: {call_id}\r\n")),
            "{method}: {r}"
        );
        assert!(
            r.contains(&format!("CSeq: 1 {method}\r\n")),
            "{method}: {r}"
        );
    }
    assert_eq!(metrics.overload_rejected.load(Ordering::Relaxed), 3);
    // A BYE inside a dialog goes to the core, which knows no such dialog: 481.
    let r = ask(
        &phone,
        sip.local_addr,
        &request("BYE", "ov-4", Some("callee"), port),
    )
    .await;
    assert!(r.starts_with("SIP/2.0 481 "), "{r}");
    assert_eq!(metrics.overload_rejected.load(Ordering::Relaxed), 3);
}

#[tokio::test]
async fn under_the_limit_nothing_is_refused() {
    let (sip, metrics) = server(Overload::default()).await;
    let phone = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
    let port = phone.local_addr().unwrap().port();
    let r = ask(
        &phone,
        sip.local_addr,
        &request("OPTIONS", "ok-1", None, port),
    )
    .await;
    assert!(r.starts_with("SIP/2.0 200 "), "{r}");
    // An INVITE from a stranger is challenged by the core as always.
    let r = ask(
        &phone,
        sip.local_addr,
        &request("INVITE", "ok-2", None, port),
    )
    .await;
    assert!(
        r.starts_with("SIP/2.0 407 ") || r.starts_with("SIP/2.0 100 "),
        "{r}"
    );
    assert_eq!(metrics.overload_rejected.load(Ordering::Relaxed), 0);
}
