//! Caller identity across Ringside (RFC 3325 P-Asserted-Identity, RFC 3323 privacy, RFC 5806
//! Diversion, RFC 7044 History-Info), against sipp through a real `ringside serve`: a trusted
//! PBX's assertion and redirection history reach the phone it calls; a phone's own assertion
//! is replaced by the extension it authenticated as (it cannot show a carrier another
//! number), and its request for privacy makes the carrier's From anonymous while the
//! assertion goes along with `Privacy: id`.

use ringside_e2e::{even_port, free_port, Scenario, Server, Sipp, UacFlow, UasFlow, PW1};
use serde_json::json;

/// `sc` with `headers` (sipp XML lines) in each of its INVITEs.
fn with_headers(mut sc: Scenario, headers: &str) -> Scenario {
    let anchor = "      Max-Forwards: 70\n      Content-Type: application/sdp";
    assert!(sc.xml.contains(anchor), "{}", sc.xml);
    sc.xml = sc.xml.replace(anchor, &format!("{headers}{anchor}"));
    sc
}

/// The first INVITE in a sipp message log, up to its body.
fn invite(log: &str) -> &str {
    let at = log
        .find("INVITE sip:")
        .unwrap_or_else(|| panic!("an INVITE: {log}"));
    let rest = &log[at..];
    &rest[..rest
        .find("\n\n")
        .or_else(|| rest.find("\r\n\r\n"))
        .unwrap_or(rest.len())]
}

#[tokio::test]
async fn a_trusted_pbx_asserts_its_caller_and_the_phone_sees_the_redirection() {
    let srv = Server::start().await;
    let token = srv.with_phones().await;
    srv.create_trunk(
        &token,
        json!({"name": "pbx", "inboundCidrs": ["127.0.0.3"]}),
    )
    .await;
    let (uas, mut uas_child) = srv.callee(UasFlow::Answer, &[]).await;
    let sc = with_headers(
        Scenario::uac("pbx", false, UacFlow::AnswerAndHangUp),
        "      P-Asserted-Identity: \"Reception\" <sip:+15551230000@pbx.example>\n      \
         Diversion: <sip:+15559990000@pbx.example>;reason=no-answer;counter=1\n      \
         History-Info: <sip:+15559990000@pbx.example>;index=1\n",
    );
    let (ok, log) = Sipp::new(&sc, srv.sip)
        .args(&["-i", "127.0.0.3", "-p", &free_port().to_string()])
        .args(&["-mp", &even_port().to_string(), "-s", "1002"])
        .run()
        .await;
    assert!(ok, "{log}\nserver: {}", srv.log_text());
    assert!(
        uas_child.wait().await.unwrap().success(),
        "{}",
        uas.messages()
    );
    let got = uas.messages();
    let inv = invite(&got);
    for want in [
        "P-Asserted-Identity: \"Reception\" <sip:+15551230000@pbx.example>",
        "Diversion: <sip:+15559990000@pbx.example>;reason=no-answer;counter=1",
        "History-Info: <sip:+15559990000@pbx.example>;index=1",
    ] {
        assert!(inv.contains(want), "{want} reached the phone: {inv}");
    }
}

#[tokio::test]
async fn a_phone_cannot_assert_another_number_and_its_privacy_reaches_the_carrier() {
    let srv = Server::start().await;
    let token = srv.with_phones().await;
    let carrier_port = free_port();
    let carrier = Sipp::new(&Scenario::uas("carrier", UasFlow::Answer), srv.sip).args(&[
        "-i",
        "127.0.0.1",
        "-p",
        &carrier_port.to_string(),
        "-mp",
        &even_port().to_string(),
        "-m",
        "1",
    ]);
    let mut carrier_child = carrier.spawn();
    let carrier_trunk = json!({
        "name": "carrier",
        "outboundHost": "127.0.0.1",
        "outboundPort": carrier_port,
        "allowedDestinations": "+1NXXNXXXXXX"
    });
    srv.create_trunk(&token, carrier_trunk).await;
    let sc = with_headers(
        Scenario::uac("1001", true, UacFlow::AnswerAndHangUp),
        "      P-Asserted-Identity: <sip:+19995550000@evil.example>\n      Privacy: id\n      \
         Diversion: <sip:+19995550001@evil.example>;reason=unconditional\n",
    );
    let (ok, log) = Sipp::new(&sc, srv.sip)
        .args(&["-i", "127.0.0.1", "-p", &free_port().to_string()])
        .args(&["-mp", &even_port().to_string()])
        .args(&["-s", "+14155550123", "-au", "1001", "-ap", PW1])
        .run()
        .await;
    assert!(ok, "{log}\nserver: {}", srv.log_text());
    assert!(
        carrier_child.wait().await.unwrap().success(),
        "{}",
        carrier.messages()
    );
    let got = carrier.messages();
    let inv = invite(&got);
    assert!(
        !inv.contains("+1999") && !inv.contains("evil.example"),
        "the phone's own assertion and history are dropped: {inv}"
    );
    let pai = inv
        .lines()
        .find(|l| l.trim_start().starts_with("P-Asserted-Identity:"))
        .unwrap_or_else(|| panic!("an asserted identity: {inv}"));
    assert!(
        pai.contains("<sip:1001@"),
        "Ringside asserts the extension that authenticated: {pai}"
    );
    assert!(inv.contains("Privacy: id"), "{inv}");
    assert!(
        inv.contains("From: \"Anonymous\" <sip:anonymous@anonymous.invalid>"),
        "the carrier's From is anonymous: {inv}"
    );
}
