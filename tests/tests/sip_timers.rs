//! Dialog behaviour of RFC 4028 and RFC 3261 14 against sipp through a real server. Session
//! timers: an INVITE asking for less than Ringside's 90 s floor is refused 422 with
//! `Min-SE: 90`, and a call whose caller agreed to refresh (refresher=uac) and never does is
//! hung up on both sides when the session runs out (the interval less a third: 60 s for 90 s),
//! its record ending `session_expired`. Glare: re-INVITEs crossing on a dialog get 491 and
//! the call carries on. A re-INVITE without SDP: the offer comes in the 2xx and the answer in
//! the ACK, across the bridge. Reliable provisionals (RFC 3262): a caller that requires
//! 100rel PRACKs Ringside's reliable 180, and a callee's reliable 180 is PRACKed by Ringside;
//! a callee's UPDATE on its early dialog (RFC 3311) is answered by Ringside. Session timers
//! towards a callee that leaves the refreshing to Ringside; blind transfer (RFC 3515 REFER)
//! from the callee to a third phone.

use std::time::{Duration, Instant};

use ringside_e2e::{
    even_port, free_port, uac_ack, uac_in_dialog, Scenario, Server, Sipp, UacFlow, UasFlow, PW1,
};

/// sipp as 1001 calling 1002 with `flow`, its INVITEs carrying `headers` (sipp XML lines).
fn timed_caller(srv: &Server, flow: UacFlow, headers: &str) -> Sipp {
    let mut sc = Scenario::uac("1001", true, flow);
    let anchor = "      Max-Forwards: 70\n      Content-Type: application/sdp";
    assert_eq!(sc.xml.matches(anchor).count(), 2, "{}", sc.xml);
    sc.xml = sc.xml.replace(anchor, &format!("{headers}{anchor}"));
    caller_sipp(srv, &sc)
}

/// sipp running `sc` as 1001 calling 1002.
fn caller_sipp(srv: &Server, sc: &Scenario) -> Sipp {
    let (port, media) = (free_port().to_string(), even_port().to_string());
    Sipp::new(sc, srv.sip)
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

/// sipp as 1002, registered, answering one call and then running `after_ack` (sipp XML)
/// between the caller's ACK and its BYE.
async fn scripted_callee(srv: &Server, after_ack: &str) -> (Sipp, tokio::process::Child) {
    let mut uas = Scenario::uas("1002", UasFlow::Answer);
    let tail = "  <recv request=\"ACK\"/>\n  <recv request=\"BYE\"/>\n";
    assert!(uas.xml.contains(tail), "{}", uas.xml);
    uas.xml = uas.xml.replace(
        tail,
        &format!("  <recv request=\"ACK\"/>\n{after_ack}  <recv request=\"BYE\"/>\n"),
    );
    registered_callee(srv, &uas).await
}

/// sipp as 1002, registered, running `uas`.
async fn registered_callee(srv: &Server, uas: &Scenario) -> (Sipp, tokio::process::Child) {
    registered_callee_with(srv, uas, &[]).await
}

/// [`registered_callee`] with more sipp arguments.
async fn registered_callee_with(
    srv: &Server,
    uas: &Scenario,
    args: &[&str],
) -> (Sipp, tokio::process::Child) {
    let port = free_port();
    let (ok, log) = srv
        .register("1002", ringside_e2e::PW2, port, 200, &[])
        .await;
    assert!(ok, "1002 registers: {log}");
    let callee = Sipp::new(uas, srv.sip)
        .args(&[
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-mp",
            &even_port().to_string(),
        ])
        .args(args);
    let child = callee.spawn();
    tokio::time::sleep(Duration::from_millis(300)).await;
    (callee, child)
}

/// sipp as 1001 calling 1002, running `flow` (sipp XML) once it has ACKed the answer.
fn scripted_caller(srv: &Server, flow: &str) -> Sipp {
    let mut uac = Scenario::uac("1001", true, UacFlow::CalleeHangsUp);
    let from = uac.xml.rfind("  <recv request=\"BYE\"/>").unwrap();
    let end = uac.xml.rfind("</scenario>").unwrap();
    uac.xml = format!(
        "{}{}{}",
        &uac.xml[..from],
        flow.replace("{{FROM}}", "1001"),
        &uac.xml[end..]
    );
    caller_sipp(srv, &uac)
}

/// Runs `caller` to its end; both phones must finish their scenarios and the call end as a
/// hang-up. The caller's log, and the callee (for its messages).
async fn both_finish(
    srv: &Server,
    token: &str,
    caller: Sipp,
    callee: (Sipp, tokio::process::Child),
) -> (String, Sipp) {
    let (log, callee) = both_run(srv, caller, callee).await;
    let call = srv.ended_call(token).await;
    assert_eq!(call["endReason"], "hangup", "{call}");
    (log, callee)
}

/// Runs `caller` to its end; both phones must finish their scenarios. The caller's log, and
/// the callee.
async fn both_run(
    srv: &Server,
    caller: Sipp,
    (callee, mut callee_child): (Sipp, tokio::process::Child),
) -> (String, Sipp) {
    let (ok, log) = caller.run().await;
    assert!(
        ok,
        "caller: {log}\ncallee: {}\nserver: {}",
        callee.messages(),
        srv.log_text()
    );
    assert!(
        tokio::time::timeout(Duration::from_secs(30), callee_child.wait())
            .await
            .is_ok_and(|s| s.is_ok_and(|s| s.success())),
        "callee: {}",
        callee.messages()
    );
    (log, callee)
}

/// Glare (RFC 3261 14.2) between two real sipp phones: the callee puts the call on hold; the
/// caller, holding the forwarded re-INVITE unanswered, sends its own re-INVITE, which crosses
/// it and is answered 491; the caller then answers the hold, the callee's re-INVITE completes,
/// and the call hangs up normally.
#[tokio::test]
async fn crossing_reinvites_get_491_and_the_call_carries_on() {
    let srv = Server::start().await;
    let token = srv.with_phones().await;
    // The callee re-INVITEs (hold) and ACKs the 200.
    let callee = scripted_callee(&srv, "  <pause milliseconds=\"500\"/>\n  <send retrans=\"500\">\n    <![CDATA[\n      INVITE [next_url] SIP/2.0\n      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n      From:[$lto];tag=[pid]uas[call_number]\n      To:[$rfrom]\n      Call-ID: [call_id]\n      CSeq: 1 INVITE\n      Contact: <sip:1002@[local_ip]:[local_port];transport=[transport]>\n      Max-Forwards: 70\n      Content-Type: application/sdp\n      Content-Length: [len]\n\n      v=0\n      o=callee 1 2 IN IP[local_ip_type] [local_ip]\n      s=-\n      c=IN IP[media_ip_type] [media_ip]\n      t=0 0\n      m=audio [media_port] RTP/AVP 0\n      a=rtpmap:0 PCMU/8000\n      a=sendonly\n\n    ]]>\n  </send>\n  <recv response=\"100\" optional=\"true\"/>\n  <recv response=\"200\"/>\n  <send>\n    <![CDATA[\n      ACK [next_url] SIP/2.0\n      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n      From:[$lto];tag=[pid]uas[call_number]\n      To:[$rfrom]\n      Call-ID: [call_id]\n      CSeq: 1 ACK\n      Max-Forwards: 70\n      Content-Length: 0\n\n    ]]>\n  </send>\n").await;
    // The caller takes the forwarded hold without answering, sends its own re-INVITE (491),
    // ACKs that, answers the hold, then hangs up.
    let flow = format!(
        "  <recv request=\"INVITE\">\n    <action>\n      <ereg regexp=\".*\" search_in=\"hdr\" header=\"Via:\" assign_to=\"fvia\"/>\n      <ereg regexp=\".*\" search_in=\"hdr\" header=\"From:\" assign_to=\"ffrom\"/>\n      <ereg regexp=\".*\" search_in=\"hdr\" header=\"To:\" assign_to=\"fto\"/>\n      <ereg regexp=\".*\" search_in=\"hdr\" header=\"CSeq:\" assign_to=\"fcseq\"/>\n    </action>\n  </recv>\n{}  <recv response=\"100\" optional=\"true\"/>\n  <recv response=\"491\"/>\n  <send>\n    <![CDATA[\n      ACK [next_url] SIP/2.0\n      [last_Via:]\n      [last_From:]\n      [last_To:]\n      Call-ID: [call_id]\n      CSeq: 3 ACK\n      Max-Forwards: 70\n      Content-Length: 0\n\n    ]]>\n  </send>\n  <send>\n    <![CDATA[\n      SIP/2.0 200 OK\n      Via:[$fvia]\n      From:[$ffrom]\n      To:[$fto]\n      Call-ID: [call_id]\n      CSeq:[$fcseq]\n      Contact: <sip:1001@[local_ip]:[local_port];transport=[transport]>\n      Content-Type: application/sdp\n      Content-Length: [len]\n\n      v=0\n      o=caller 1 2 IN IP[local_ip_type] [local_ip]\n      s=-\n      c=IN IP[media_ip_type] [media_ip]\n      t=0 0\n      m=audio [media_port] RTP/AVP 0\n      a=rtpmap:0 PCMU/8000\n      a=recvonly\n\n    ]]>\n  </send>\n  <recv request=\"ACK\"/>\n{}  <recv response=\"200\"/>\n",
        uac_in_dialog("INVITE", 3, Some("sendonly")),
        uac_in_dialog("BYE", 4, None)
    );
    let (log, _) = both_finish(&srv, &token, scripted_caller(&srv, &flow), callee).await;
    assert!(log.contains("SIP/2.0 491"), "{log}");
    assert_eq!(srv.metric("ringside_sip_glare_total", "").await, 1.0);
}

/// A re-INVITE without SDP (RFC 3261 14.1) between two sipp phones: the caller's bare
/// re-INVITE reaches the callee, whose 2xx offers; the caller gets that offer (anchored on
/// Ringside) in its 200 and answers in its ACK, and the callee's ACK carries the answer.
#[tokio::test]
async fn a_reinvite_without_sdp_is_answered_in_the_ack() {
    let srv = Server::start().await;
    let token = srv.with_phones().await;
    // The callee offers in its 200 and checks the ACK brings an answer.
    let callee = scripted_callee(&srv, "  <recv request=\"INVITE\"/>\n  <send retrans=\"500\">\n    <![CDATA[\n      SIP/2.0 200 OK\n      [last_Via:]\n      [last_From:]\n      [last_To:]\n      [last_Call-ID:]\n      [last_CSeq:]\n      Contact: <sip:1002@[local_ip]:[local_port];transport=[transport]>\n      Content-Type: application/sdp\n      Content-Length: [len]\n\n      v=0\n      o=callee 1 2 IN IP[local_ip_type] [local_ip]\n      s=-\n      c=IN IP[media_ip_type] [media_ip]\n      t=0 0\n      m=audio [media_port] RTP/AVP 0\n      a=rtpmap:0 PCMU/8000\n      a=sendrecv\n\n    ]]>\n  </send>\n  <recv request=\"ACK\">\n    <action><ereg regexp=\"m=audio\" search_in=\"body\" check_it=\"true\" assign_to=\"answered\"/></action>\n  </recv>\n  <Reference variables=\"answered\"/>\n").await;
    let answer_ack = uac_ack(3).replace(
        "Content-Length: 0\n",
        "Content-Type: application/sdp\n      Content-Length: [len]\n\n      v=0\n      o=caller 1 2 IN IP4 [local_ip]\n      s=-\n      c=IN IP4 [media_ip]\n      t=0 0\n      m=audio [media_port] RTP/AVP 0\n      a=rtpmap:0 PCMU/8000\n      a=sendrecv\n",
    );
    let flow = format!(
        "{}  <recv response=\"100\" optional=\"true\"/>\n  <recv response=\"200\">\n    <action><ereg regexp=\"m=audio\" search_in=\"body\" check_it=\"true\" assign_to=\"offered\"/></action>\n  </recv>\n  <Reference variables=\"offered\"/>\n{answer_ack}{}  <recv response=\"200\"/>\n",
        uac_in_dialog("INVITE", 3, None),
        uac_in_dialog("BYE", 4, None)
    );
    both_finish(&srv, &token, scripted_caller(&srv, &flow), callee).await;
}

/// RFC 3262 towards the caller: sipp requires 100rel, gets the 180 with `Require: 100rel` and
/// an `RSeq`, PRACKs it (200), and only then is answered (the callee waits a second).
#[tokio::test]
async fn a_caller_requiring_100rel_pracks_the_reliable_ringing() {
    let srv = Server::start().await;
    let token = srv.with_phones().await;
    let mut uas = Scenario::uas("1002", UasFlow::Answer);
    let answer = answer_at(&uas);
    uas.xml
        .insert_str(answer, "  <pause milliseconds=\"1000\"/>\n");
    let callee = registered_callee(&srv, &uas).await;
    let mut sc = Scenario::uac("1001", true, UacFlow::AnswerAndHangUp);
    let anchor = "      Max-Forwards: 70\n      Content-Type: application/sdp";
    assert_eq!(sc.xml.matches(anchor).count(), 2, "{}", sc.xml);
    sc.xml = sc
        .xml
        .replace(anchor, &format!("      Require: 100rel\n{anchor}"));
    let ringing = "  <recv response=\"180\" optional=\"true\"/>\n  <recv response=\"183\" optional=\"true\"/>\n";
    assert!(sc.xml.contains(ringing), "{}", sc.xml);
    sc.xml = sc.xml.replace(ringing, PRACK_THE_180);
    // The BYE comes after the PRACK (CSeq 3).
    sc.xml = sc.xml.replace("CSeq: 3 BYE", "CSeq: 4 BYE");
    let (log, _) = both_finish(&srv, &token, caller_sipp(&srv, &sc), callee).await;
    assert!(
        log.contains("Require: 100rel") && log.contains("RSeq:"),
        "{log}"
    );
    assert!(log.contains("CSeq: 3 PRACK"), "{log}");
}

/// Where the callee's 200 for the INVITE starts in `uas` (past the header comment, which
/// repeats the flow).
fn answer_at(uas: &Scenario) -> usize {
    let body = uas.xml.find("<scenario").unwrap();
    body + uas.xml[body..].find("  <send retrans=\"500\">").unwrap()
}

/// The caller's part of a reliable 180: take its RSeq and PRACK it (the INVITE was CSeq 2).
const PRACK_THE_180: &str = r#"  <recv response="180" rrs="true">
    <action><ereg regexp="([0-9]+)" search_in="hdr" header="RSeq:" check_it="true" assign_to="rseqall,rseq"/></action>
  </recv>
  <Reference variables="rseqall"/>
  <send retrans="500">
    <![CDATA[
      PRACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: "Caller" <sip:1001@[remote_ip]>;tag=[pid]uac[call_number]
      To: <sip:[service]@[remote_ip]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 3 PRACK
      RAck: [$rseq] 2 INVITE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
"#;

/// RFC 3262 towards the callee: sipp's 180 requires 100rel (RSeq 1); Ringside PRACKs it
/// (`RAck: 1 1 INVITE`) before the callee answers, and the call goes on as usual.
#[tokio::test]
async fn a_callees_reliable_ringing_is_pracked() {
    let srv = Server::start().await;
    let token = srv.with_phones().await;
    let uas = reliable_callee("180 Ringing", CALLEE_PRACKED_THEN_ANSWERS);
    let callee = registered_callee(&srv, &uas).await;
    let caller = caller_sipp(&srv, &Scenario::uac("1001", true, UacFlow::AnswerAndHangUp));
    both_finish(&srv, &token, caller, callee).await;
}

/// sipp as 1002 sending its provisional as `status` reliably (`Require: 100rel`, RSeq 1),
/// then running `flow` where it would answer.
fn reliable_callee(status: &str, flow: &str) -> Scenario {
    let mut uas = Scenario::uas("1002", UasFlow::Answer);
    let ring = "      SIP/2.0 180 Ringing\n      [last_Via:]";
    assert!(uas.xml.contains(ring), "{}", uas.xml);
    uas.xml = uas.xml.replace(
        ring,
        &format!("      SIP/2.0 {status}\n      Require: 100rel\n      RSeq: 1\n      [last_Via:]"),
    );
    let answer = answer_at(&uas);
    let end = uas.xml[answer..].find("  </send>\n").unwrap() + answer + "  </send>\n".len();
    uas.xml.replace_range(answer..end, flow);
    uas
}

/// The callee's part: the PRACK for RSeq 1 of INVITE 1, its 200, then the INVITE's 200
/// (built from the INVITE's headers, as the last message is now the PRACK).
const CALLEE_PRACKED_THEN_ANSWERS: &str = r#"  <recv request="PRACK">
    <action><ereg regexp="^ *1 1 INVITE" search_in="hdr" header="RAck:" check_it="true" assign_to="rack"/></action>
  </recv>
  <Reference variables="rack"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      Via:[$inv_via]
      From:[$rfrom]
      To:[$lto];tag=[pid]uas[call_number]
      Call-ID: [call_id]
      CSeq:[$inv_cseq]
      Contact: <sip:1002@[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=callee 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=sendrecv

    ]]>
  </send>
"#;

/// RFC 3311 against sipp: the callee's reliable 183 with early media is PRACKed, then the
/// callee moves its media with an UPDATE on the early dialog, which Ringside answers itself
/// (200 with SDP) before the callee answers the call.
#[tokio::test]
async fn an_early_update_from_the_callee_is_answered() {
    let srv = Server::start().await;
    let token = srv.with_phones().await;
    let update = CALLEE_PRACKED_THEN_ANSWERS.replacen("  <send retrans=\"500\">", EARLY_UPDATE, 1);
    let mut uas = reliable_callee("183 Session Progress", &update);
    // The 183 carries the early media's SDP.
    let early_end = "      Contact: <sip:1002@[local_ip]:[local_port];transport=[transport]>\n      Content-Length: 0\n";
    assert!(uas.xml.contains(early_end), "{}", uas.xml);
    uas.xml = uas.xml.replacen(
        early_end,
        "      Contact: <sip:1002@[local_ip]:[local_port];transport=[transport]>\n      Content-Type: application/sdp\n      Content-Length: [len]\n\n      v=0\n      o=callee 1 1 IN IP[local_ip_type] [local_ip]\n      s=-\n      c=IN IP[media_ip_type] [media_ip]\n      t=0 0\n      m=audio [media_port] RTP/AVP 0\n      a=rtpmap:0 PCMU/8000\n",
        1,
    );
    let callee = registered_callee(&srv, &uas).await;
    let caller = caller_sipp(&srv, &Scenario::uac("1001", true, UacFlow::AnswerAndHangUp));
    both_finish(&srv, &token, caller, callee).await;
}

/// The callee's UPDATE on its early dialog (moving its media), and Ringside's 200 with SDP;
/// then what follows in [`CALLEE_PRACKED_THEN_ANSWERS`] (the INVITE's 200).
const EARLY_UPDATE: &str = r#"  <send retrans="500">
    <![CDATA[
      UPDATE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From:[$lto];tag=[pid]uas[call_number]
      To:[$rfrom]
      Call-ID: [call_id]
      CSeq: 1 UPDATE
      Contact: <sip:1002@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=callee 1 2 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port+2] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]>
  </send>
  <recv response="200">
    <action><ereg regexp="m=audio" search_in="body" check_it="true" assign_to="upd_answer"/></action>
  </recv>
  <Reference variables="upd_answer"/>
  <send retrans="500">"#;

/// A session timer towards the callee (RFC 4028, Ringside as UAC): 1002 has
/// `sessionTimerSecs: 90`, so Ringside's INVITE asks for it; sipp, answering, leaves the
/// refreshing to Ringside, which sends an UPDATE with the session's terms at half the interval
/// (45 s); answered, the call carries on until the caller hangs up.
#[tokio::test]
async fn ringside_refreshes_a_callee_that_leaves_it_the_refreshing() {
    let srv = Server::start().await;
    let token = srv.with_phones().await;
    let body = srv
        .patch_extension(&token, "1002", serde_json::json!({"sessionTimerSecs": 90}))
        .await;
    assert_eq!(body["sessionTimerSecs"], 90, "{body}");

    // The callee's 200 agrees (refresher=uac: Ringside) and allows UPDATE; after the ACK it
    // waits for the refresh and answers it with the same terms.
    let mut uas = Scenario::uas("1002", UasFlow::Answer);
    let sdp_at = uas.xml.find("      Content-Type: application/sdp").unwrap();
    uas.xml.insert_str(
        sdp_at,
        "      Session-Expires: 90;refresher=uac\n      Require: timer\n      Allow: INVITE, ACK, BYE, CANCEL, UPDATE\n",
    );
    let tail = "  <recv request=\"ACK\"/>\n  <recv request=\"BYE\"/>\n";
    let refresh = "  <recv request=\"ACK\"/>\n  <recv request=\"UPDATE\"/>\n  <send>\n    <![CDATA[\n      SIP/2.0 200 OK\n      [last_Via:]\n      [last_From:]\n      [last_To:]\n      [last_Call-ID:]\n      [last_CSeq:]\n      Session-Expires: 90;refresher=uac\n      Require: timer\n      Content-Length: 0\n\n    ]]>\n  </send>\n  <recv request=\"BYE\"/>\n";
    assert!(uas.xml.contains(tail), "{}", uas.xml);
    uas.xml = uas.xml.replace(tail, refresh);
    let callee = registered_callee_with(&srv, &uas, &["-timeout", "150s"]).await;

    // The caller stays 50 s (past the refresh), then hangs up.
    let bye = ringside_e2e::uac_in_dialog("BYE", 3, None);
    let caller = scripted_caller(
        &srv,
        &format!("  <pause milliseconds=\"50000\"/>\n{bye}  <recv response=\"200\"/>\n"),
    )
    .args(&["-timeout", "150s"]);
    let (_, callee) = both_finish(&srv, &token, caller, callee).await;
    let msgs = callee.messages();
    let invite = msgs.split("INVITE sip:").nth(1).unwrap_or_default();
    assert!(
        invite.contains("Session-Expires: 90") && invite.contains("Min-SE: 90"),
        "Ringside asked for the interval: {invite}"
    );
    let update = msgs
        .split("UPDATE sip:")
        .nth(1)
        .unwrap_or_else(|| panic!("a refresh reached the callee: {msgs}"));
    assert!(
        update.contains("Session-Expires: 90;refresher=uac"),
        "{update}"
    );
    let call = srv.ended_call(&token).await;
    assert_eq!(call["hangupSide"], "caller", "{call}");
}

/// Blind transfer between real sipp phones (RFC 3515): 1002 answers 1001's call, then REFERs
/// it to 1003; Ringside answers 202, NOTIFYs `100 Trying`, rings 1003 (sipp, answering), then
/// NOTIFYs `200 OK` and hangs 1002 up; 1001, still in its call, hangs up on 1003.
#[tokio::test]
async fn a_callee_transfers_the_caller_to_another_phone() {
    let srv = Server::start().await;
    let token = srv.with_phones().await;
    srv.create_extension(&token, "1003", "pw-1003-secret").await;
    // 1003: registered, answers one call and waits for the BYE.
    let port3 = free_port();
    let (ok, log) = srv
        .register("1003", "pw-1003-secret", port3, 200, &[])
        .await;
    assert!(ok, "1003 registers: {log}");
    let target = Sipp::new(&Scenario::uas("1003", UasFlow::Answer), srv.sip).args(&[
        "-i",
        "127.0.0.1",
        "-p",
        &port3.to_string(),
        "-mp",
        &even_port().to_string(),
    ]);
    let mut target_child = target.spawn();
    // 1002: answers, then transfers the call with REFER and follows its progress.
    let refer = "  <pause milliseconds=\"500\"/>\n  <send retrans=\"500\">\n    <![CDATA[\n      REFER [next_url] SIP/2.0\n      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n      From:[$lto];tag=[pid]uas[call_number]\n      To:[$rfrom]\n      Call-ID: [call_id]\n      CSeq: 1 REFER\n      Contact: <sip:1002@[local_ip]:[local_port]>\n      Refer-To: <sip:1003@[remote_ip]>\n      Referred-By: <sip:1002@[remote_ip]>\n      Max-Forwards: 70\n      Content-Length: 0\n\n    ]]>\n  </send>\n  <recv response=\"202\"/>\n  <recv request=\"NOTIFY\"/>\n  <send>\n    <![CDATA[\n      SIP/2.0 200 OK\n      [last_Via:]\n      [last_From:]\n      [last_To:]\n      [last_Call-ID:]\n      [last_CSeq:]\n      Content-Length: 0\n\n    ]]>\n  </send>\n  <recv request=\"NOTIFY\"/>\n  <send>\n    <![CDATA[\n      SIP/2.0 200 OK\n      [last_Via:]\n      [last_From:]\n      [last_To:]\n      [last_Call-ID:]\n      [last_CSeq:]\n      Content-Length: 0\n\n    ]]>\n  </send>\n";
    let callee = scripted_callee(&srv, refer).await;
    let bye = uac_in_dialog("BYE", 3, None);
    let caller = scripted_caller(
        &srv,
        &format!("  <pause milliseconds=\"4000\"/>\n{bye}  <recv response=\"200\"/>\n"),
    );
    let (_, callee) = both_finish(&srv, &token, caller, callee).await;
    assert!(
        tokio::time::timeout(Duration::from_secs(30), target_child.wait())
            .await
            .is_ok_and(|s| s.is_ok_and(|s| s.success())),
        "1003 answered and got the caller's BYE: {}",
        target.messages()
    );
    // The referrer's NOTIFYs: 100 Trying while its subscription is active, then 200 OK as it
    // ends.
    let referrer = callee.messages();
    let notifies: Vec<&str> = referrer.split("NOTIFY sip:").skip(1).collect();
    assert_eq!(notifies.len(), 2, "{referrer}");
    assert!(
        notifies[0].contains("Subscription-State: active")
            && notifies[0].contains("SIP/2.0 100 Trying"),
        "{}",
        notifies[0]
    );
    assert!(
        notifies[1].contains("Subscription-State: terminated")
            && notifies[1].contains("SIP/2.0 200 OK"),
        "{}",
        notifies[1]
    );
    assert!(
        referrer.contains("BYE sip:"),
        "1002 was hung up: {referrer}"
    );
    let to_target = target.messages();
    assert!(to_target.contains("INVITE sip:1003@"), "{to_target}");
    let call = srv.ended_call(&token).await;
    assert!(
        call["answeredBy"]
            .as_str()
            .is_some_and(|a| a.ends_with("1003")),
        "the call ended with 1003: {call}"
    );
}

/// A 200 OK with `direction` SDP to the request sipp just received (an in-dialog re-INVITE).
fn ok_with_sdp(user: &str, direction: &str) -> String {
    format!(
        "  <send>\n    <![CDATA[\n      SIP/2.0 200 OK\n      [last_Via:]\n      [last_From:]\n      \
         [last_To:]\n      [last_Call-ID:]\n      [last_CSeq:]\n      \
         Contact: <sip:{user}@[local_ip]:[local_port];transport=[transport]>\n      \
         Content-Type: application/sdp\n      Content-Length: [len]\n\n      v=0\n      \
         o={user} 1 2 IN IP[local_ip_type] [local_ip]\n      s=-\n      \
         c=IN IP[media_ip_type] [media_ip]\n      t=0 0\n      m=audio [media_port] RTP/AVP 0\n      \
         a=rtpmap:0 PCMU/8000\n      a={direction}\n\n    ]]>\n  </send>\n"
    )
}

/// A bodiless 200 OK to the request sipp just received.
const OK_PLAIN: &str = "  <send>\n    <![CDATA[\n      SIP/2.0 200 OK\n      [last_Via:]\n      \
    [last_From:]\n      [last_To:]\n      [last_Call-ID:]\n      [last_CSeq:]\n      \
    Content-Length: 0\n\n    ]]>\n  </send>\n";

/// The extension that placed a call blind-transfers the party it reached (REFER on its own
/// dialog) to a phone that is busy: it hears `486` in the final NOTIFY and gets its call back
/// — Ringside re-INVITEs it with the first call's relay, it answers, and it talks on and hangs
/// up as usual; the transferee was never hung up.
#[tokio::test]
async fn a_caller_side_transfer_to_a_busy_phone_gives_the_referrer_its_call_back() {
    let srv = Server::start().await;
    let token = srv.with_phones().await;
    srv.create_extension(&token, "1003", "pw-1003-secret").await;
    // 1003: registered and busy.
    let port3 = free_port();
    let (ok, log) = srv
        .register("1003", "pw-1003-secret", port3, 200, &[])
        .await;
    assert!(ok, "1003 registers: {log}");
    let busy = Scenario {
        xml: "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<scenario name=\"busy\">\n  \
              <recv request=\"INVITE\"/>\n  <send>\n    <![CDATA[\n      SIP/2.0 486 Busy Here\n      \
              [last_Via:]\n      [last_From:]\n      [last_To:];tag=[pid]busy\n      [last_Call-ID:]\n      \
              [last_CSeq:]\n      Content-Length: 0\n\n    ]]>\n  </send>\n  \
              <recv request=\"ACK\"/>\n</scenario>\n"
            .into(),
    };
    let target = Sipp::new(&busy, srv.sip).args(&["-i", "127.0.0.1", "-p", &port3.to_string()]);
    let mut target_child = target.spawn();
    // 1002 answers and waits for the BYE, never disturbed.
    let callee = scripted_callee(&srv, "").await;
    // 1001 refers 1002 to 1003, hears 100 then 486, takes its call back, talks, hangs up.
    let refer = uac_in_dialog("REFER", 3, None).replace(
        "      Max-Forwards: 70\n",
        "      Refer-To: <sip:1003@[remote_ip]>\n      Max-Forwards: 70\n",
    );
    let flow = format!(
        "  <pause milliseconds=\"500\"/>\n{refer}  <recv response=\"202\"/>\n  \
         <recv request=\"NOTIFY\"/>\n{OK_PLAIN}  <recv request=\"NOTIFY\"/>\n{OK_PLAIN}  \
         <recv request=\"INVITE\"/>\n{}  <recv request=\"ACK\"/>\n  \
         <pause milliseconds=\"1500\"/>\n{}  <recv response=\"200\"/>\n",
        ok_with_sdp("1001", "sendrecv"),
        uac_in_dialog("BYE", 4, None)
    );
    let (log, callee) = both_run(&srv, scripted_caller(&srv, &flow), callee).await;
    assert!(
        tokio::time::timeout(Duration::from_secs(30), target_child.wait())
            .await
            .is_ok_and(|s| s.is_ok_and(|s| s.success())),
        "1003 was rung and said busy: {}",
        target.messages()
    );
    let notifies: Vec<&str> = log.split("NOTIFY sip:").skip(1).collect();
    assert!(
        notifies.len() >= 2 && notifies[1].contains("SIP/2.0 486 Busy Here"),
        "{log}"
    );
    // The re-INVITE Ringside sent the referrer offered its relay.
    let reinvite = ringside_e2e::baresip::message(&log, "INVITE sip:1001@", &["o=ringside"])
        .unwrap_or_else(|| panic!("a re-INVITE to the referrer: {log}"));
    assert!(reinvite.contains("c=IN IP4 127.0.0.1"), "{reinvite}");
    assert!(reinvite.contains("a=sendrecv"), "{reinvite}");
    // 1002 got the BYE of the referrer's hang-up only, never one of its own before.
    let to_callee = callee.messages();
    assert_eq!(to_callee.matches("BYE sip:").count(), 1, "{to_callee}");
    // Two records: the transfer's own call (the transferee calling 1003, busy) and the first
    // call, answered by 1002 and hung up by its caller.
    ringside_e2e::eventually("both calls ended", || async {
        srv.metric("ringside_calls_active", "").await == 0.0
    })
    .await;
    let (st, calls) = srv.api("GET", "/api/v1/calls?limit=5", &token, None).await;
    assert_eq!(st, 200, "{calls}");
    let calls = calls.as_array().expect("calls");
    assert_eq!(calls.len(), 2, "{calls:?}");
    let first = calls
        .iter()
        .find(|c| {
            c["answeredBy"]
                .as_str()
                .is_some_and(|a| a.ends_with("1002"))
        })
        .unwrap_or_else(|| panic!("the first call: {calls:?}"));
    assert_eq!(first["hangupSide"], "caller", "{first}");
    assert_eq!(first["endReason"], "hangup", "{first}");
    assert!(
        calls.iter().any(|c| c["endReason"] == "busy"),
        "the transfer's call: {calls:?}"
    );
}
