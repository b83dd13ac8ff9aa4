//! Session timers (RFC 4028) against sipp through a real server: an INVITE asking for less
//! than Ringside's 90 s floor is refused 422 with `Min-SE: 90`, and a call whose caller agreed
//! to refresh (refresher=uac) and never does is hung up on both sides when the session runs
//! out (the interval less a third: 60 s for 90 s), its record ending `session_expired`.

use std::time::{Duration, Instant};

use ringside_e2e::{even_port, free_port, Scenario, Server, Sipp, UacFlow, UasFlow, PW1};

/// sipp as 1001 calling 1002 with `flow`, its INVITEs carrying `headers` (sipp XML lines).
fn timed_caller(srv: &Server, flow: UacFlow, headers: &str) -> Sipp {
    let mut sc = Scenario::uac("1001", true, flow);
    let anchor = "      Max-Forwards: 70\n      Content-Type: application/sdp";
    assert_eq!(sc.xml.matches(anchor).count(), 2, "{}", sc.xml);
    sc.xml = sc.xml.replace(anchor, &format!("{headers}{anchor}"));
    let (port, media) = (free_port().to_string(), even_port().to_string());
    Sipp::new(&sc, srv.sip)
        .args(&["-i", "127.0.0.1", "-p", &port, "-mp", &media])
        .args(&["-s", "1002", "-au", "1001", "-ap", PW1])
}

#[tokio::test]
async fn too_short_a_session_interval_is_refused_422() {
    let srv = Server::start().await;
    srv.with_phones().await;
    // 1002 is registered (an unregistered extension would be refused 480 first).
    let (_callee, mut callee_child) = srv.callee(UasFlow::Answer, &[]).await;
    let caller = timed_caller(
        &srv,
        UacFlow::Refused(422),
        "      Session-Expires: 30\n      Supported: timer\n",
    );
    let (ok, log) = caller.run().await;
    assert!(ok, "caller: {log}\nserver: {}", srv.log_text());
    assert!(log.contains("Min-SE: 90"), "{log}");
    let _ = callee_child.kill().await;
}

#[tokio::test]
async fn a_session_never_refreshed_is_hung_up_when_it_expires() {
    let srv = Server::start().await;
    let token = srv.with_phones().await;
    let (callee, mut callee_child) = srv.callee(UasFlow::Answer, &["-timeout", "150s"]).await;
    // sipp's whole-scenario timeout (30 s by default here) must outlast the session.
    let caller = timed_caller(
        &srv,
        UacFlow::CalleeHangsUp,
        "      Session-Expires: 90;refresher=uac\n      Supported: timer\n",
    )
    .args(&["-timeout", "150s"]);
    let started = Instant::now();
    let (ok, log) = caller.run().await;
    let took = started.elapsed();
    assert!(ok, "caller: {log}\nserver: {}", srv.log_text());
    assert!(
        log.contains("Session-Expires: 90;refresher=uac") && log.contains("Require: timer"),
        "the 200 announced the timer: {log}"
    );
    assert!(
        tokio::time::timeout(Duration::from_secs(30), callee_child.wait())
            .await
            .is_ok_and(|s| s.is_ok_and(|s| s.success())),
        "the callee got its BYE: {}",
        callee.messages()
    );
    // Hung up by the timer, not before it: 90 s less 30 s.
    assert!(took >= Duration::from_secs(58), "ended after {took:?}");
    let call = srv.ended_call(&token).await;
    assert_eq!(call["endReason"], "session_expired", "{call}");
    assert_eq!(call["hangupSide"], "system", "{call}");
}
