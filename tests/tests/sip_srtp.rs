//! SRTP policy on a trusted trunk, against sipp through a real `ringside serve`: a PBX whose
//! trunk requires SRTP is refused 488 when it offers plain RTP; offering SDES keys it gets
//! Ringside's own key for its leg while the (optional) extension's leg is keyed, or not, on
//! its own; plain RTP it then sends on its encrypted leg is dropped and counted, never relayed.

use ringside_e2e::{even_port, free_port, Scenario, Server, Sipp, UacFlow, UasFlow};
use serde_json::json;

/// The PBX's key (RFC 4568's example key): it must never reach the callee.
const PBX_KEY: &str = "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";

/// The PBX's INVITE with an SRTP offer: `RTP/SAVP` and one `a=crypto` line.
fn srtp_offer(mut sc: Scenario) -> Scenario {
    let first = sc.xml.find("RTP/AVP 0 101").expect("the INVITE's m= line");
    sc.xml.replace_range(first..first + 13, "RTP/SAVP 0 101");
    let at = sc.xml.find("a=sendrecv").expect("the INVITE's direction");
    sc.xml.insert_str(
        at,
        &format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{PBX_KEY}\n      "),
    );
    sc
}

fn pbx_call(srv: &Server, sc: &Scenario) -> Sipp {
    Sipp::new(sc, srv.sip).args(&[
        "-i",
        "127.0.0.3",
        "-p",
        &free_port().to_string(),
        "-mp",
        &even_port().to_string(),
        "-s",
        "1002",
    ])
}

#[tokio::test]
async fn a_trunk_that_requires_srtp_refuses_plain_offers_and_keys_each_leg_on_its_own() {
    let srv = Server::start().await;
    let token = srv.with_phones().await;
    let trunk = srv
        .create_trunk(
            &token,
            json!({"name": "pbx", "inboundCidrs": ["127.0.0.3"], "srtp": "required"}),
        )
        .await;
    assert_eq!(trunk["srtp"], "required", "{trunk}");

    // 1. Plain RTP offered: 488, and the extension's phone never rings.
    let (uas, mut uas_child) = srv.callee(UasFlow::Answer, &[]).await;
    let (ok, log) = pbx_call(&srv, &Scenario::uac("pbx", false, UacFlow::Refused(488)))
        .run()
        .await;
    assert!(ok, "{log}\nserver: {}", srv.log_text());
    let _ = uas_child.start_kill();
    let _ = uas_child.wait().await;
    assert!(
        !uas.messages().contains("INVITE sip:"),
        "nothing rang: {}",
        uas.messages()
    );

    // 2. SRTP offered: answered with keys; the callee (sipp, plain) gets Ringside's offer.
    let (uas, mut uas_child) = srv.callee(UasFlow::Answer, &[]).await;
    let sc = srtp_offer(Scenario::uac("pbx", false, UacFlow::AnswerAndHangUp));
    let (ok, log) = pbx_call(&srv, &sc).run().await;
    assert!(ok, "{log}\nserver: {}", srv.log_text());
    assert!(
        uas_child.wait().await.unwrap().success(),
        "{}",
        uas.messages()
    );
    let answer = log
        .split("SIP/2.0 200 OK")
        .skip(1)
        .find(|m| m.contains("m=audio"))
        .unwrap_or_else(|| panic!("a 200 with SDP: {log}"));
    assert!(
        answer.contains("RTP/SAVP"),
        "the PBX's profile kept: {answer}"
    );
    let line = answer
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("a=crypto:"))
        .unwrap_or_else(|| panic!("Ringside's key in the answer: {answer}"));
    assert!(
        line.starts_with("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"),
        "{line}"
    );
    assert!(
        !line.contains(PBX_KEY),
        "Ringside's own key, not an echo: {line}"
    );
    let to_callee = uas.messages();
    let invite = to_callee
        .split("INVITE sip:")
        .nth(1)
        .unwrap_or_else(|| panic!("the callee was called: {to_callee}"));
    assert!(
        !invite.contains(PBX_KEY),
        "the PBX's key never reaches the callee: {invite}"
    );
    assert!(
        invite.contains("RTP/AVP") && invite.contains("a=crypto:"),
        "an optional extension gets keys on RTP/AVP (best effort): {invite}"
    );

    // The PBX then sent sipp's pcap, plain RTP, on its encrypted leg: all dropped as
    // unauthenticated (the callee, answering plain, is unencrypted and heard none of it).
    let failures = srv.metric("ringside_srtp_auth_failures_total", "").await;
    assert!(
        failures >= 10.0,
        "sipp's 10 RTP packets dropped: {failures}"
    );
    assert_eq!(
        srv.metric("ringside_rtp_forwarded_packets_total", "").await,
        0.0,
        "no plain packet from the encrypted leg relayed"
    );
}
