//! Browser calls end to end: headless Chromium with a fake microphone playing a 1 kHz tone
//! opens a page carrying the widget snippet and presses "call" (`window.Ringside.call`). The
//! call goes over the widget socket (offer/answer), the WebRTC edge (ICE-lite, DTLS-SRTP, Opus)
//! and the SIP core to the extension assigned to the widget: a sipp phone answering in PCMU
//! whose media is a UDP endpoint in this test playing 400 Hz. Both directions are judged as
//! audio (the phone hears 1 kHz; the page's received stream peaks at 400 Hz), the stereo
//! recording holds the browser's tone left and the phone's right, a hold from the page plays
//! hold music to the phone until it resumes, and afterwards no session,
//! call task or relay is left (metrics).

mod calls_common;

use std::net::SocketAddr;
use std::time::Duration;

use calls_common::*;
use ringside_e2e::media::{
    assert_tone, callee_with, download, read_port, recordings_of, wav_channels, Endpoint,
};
use ringside_e2e::{eventually, Server};
use ringside_media::codec::analysis::dominant_frequency;
use ringside_media::codec::frame::CodecKind;
use serde_json::{json, Value};

#[tokio::test]
async fn chromium_calls_the_widgets_extension_and_both_tones_are_recorded() {
    let srv = Server::start_with(&[("RINGSIDE_RECORD_CALLS", "true")]).await;
    let sip_token = srv.with_phones().await;
    let token = srv.token(
        "owner@example.com",
        "widgets:read,widgets:write,calls:read,sip:read",
    );
    let (widget, port) = widget_site(&srv, &token).await;
    assign(&srv, &sip_token, "1002", &widget).await;

    // The phone: registered 1002, answers after 1 s in PCMU with this test's endpoint.
    let (phone, phone_port) = Endpoint::bind().await;
    let (callee, mut callee_child) =
        callee_with(&srv, CodecKind::Pcmu, phone_port, &[], 1000).await;

    let tone = tone_file();
    let browser = chromium(&tone).await;
    let mut page = open_widget(&browser, port).await;
    page.eval(
        "window.Ringside.call({name: 'Ada', audio: {echoCancellation: false, noiseSuppression: false, autoGainControl: false}})",
    )
    .await;
    let state = page
        .eval_until("window.Ringside.callState", |v| {
            v == "answered" || v == "ended" || v == "unavailable"
        })
        .await;
    assert_eq!(
        state,
        "answered",
        "error: {:?}; log:\n{}",
        page.eval("JSON.stringify(window.Ringside.callError)").await,
        srv.log_text()
    );
    let call_id = page.eval("window.Ringside.callId").await;
    let call_id = call_id.as_str().expect("call id").to_owned();

    // The phone talks 400 Hz to Ringside's port for it for 4 s.
    let b_to = SocketAddr::from(([127, 0, 0, 1], read_port(callee.dir(), "b_port.txt").await));
    let talking = phone.talk(b_to, CodecKind::Pcmu, 0, 400.0, 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let heard = page.eval(REMOTE_TONE_JS).await;
    let f = heard["freq"].as_f64().unwrap_or(0.0);
    assert!((f - 400.0).abs() < 15.0, "the page hears {heard}");
    assert!(heard["db"].as_f64().unwrap_or(-200.0) > -60.0, "{heard}");
    talking.await.unwrap();
    // The visitor holds: the phone hears hold music instead of the browser's tone; resume
    // brings the tone back.
    let before = phone.received.lock().unwrap().len();
    page.eval("window.Ringside.hold()").await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let held = phone.received.lock().unwrap().len();
    page.eval("window.Ringside.resume()").await;
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let pcm = phone.decoded(CodecKind::Pcmu, 0);
    let on_hold = &pcm[(before + 25) * 160..held * 160];
    let f = dominant_frequency(on_hold, 8000);
    let level = ringside_media::codec::analysis::rms_dbfs(on_hold);
    assert!(
        (f - 1000.0).abs() > 50.0 && level > -45.0,
        "on hold: {f} Hz at {level} dBFS"
    );
    // The last second: well after the resume took effect, however loaded the machine.
    let resumed = &pcm[pcm.len().saturating_sub(8000).max(held * 160)..];
    assert!(
        (dominant_frequency(resumed, 8000) - 1000.0).abs() < 15.0,
        "the tone is back after resume: {} Hz at {} dBFS over {} samples (held at {held}, {} packets)",
        dominant_frequency(resumed, 8000),
        ringside_media::codec::analysis::rms_dbfs(resumed),
        resumed.len(),
        pcm.len() / 160
    );
    page.eval("window.Ringside.hangup()").await;
    page.eval_until("window.Ringside.callState", |v| v == "ended")
        .await;
    let _ = tokio::time::timeout(Duration::from_secs(10), callee_child.wait()).await;

    // The phone heard the browser's 1 kHz tone (before the hold).
    assert_tone(&pcm[..before * 160], 1000.0, "the phone");

    // The call record and its recording.
    let call = srv.ended_call(&token).await;
    assert_eq!(call["id"], call_id.as_str(), "{call}");
    assert_eq!(call["kind"], "webrtc", "{call}");
    assert_eq!(call["status"], "ended", "{call}");
    assert_eq!(call["hangupSide"], "caller", "{call}");
    assert_eq!(call["widgetId"], widget.as_str(), "{call}");
    assert_eq!(call["answeredBy"], "extension:1002", "{call}");
    let visitor = page.eval("window.Ringside.visitorId").await;
    assert_eq!(call["visitorId"], visitor, "{call}");
    let (st, mine) = srv
        .api(
            "GET",
            &format!(
                "/api/v1/widgets/{widget}/calls?visitorId={}",
                visitor.as_str().unwrap()
            ),
            &token,
            None,
        )
        .await;
    assert_eq!(st, 200, "{mine}");
    assert_eq!(mine[0]["id"], call_id.as_str(), "{mine}");
    // The browser leg and the phone leg carry their quality.
    let (_, one) = srv
        .api("GET", &format!("/api/v1/calls/{call_id}"), &token, None)
        .await;
    let legs = one["legs"].as_array().unwrap();
    assert!(legs.len() >= 2, "{one}");
    for l in legs.iter().filter(|l| l["answeredAt"].is_i64()) {
        assert!(
            l["quality"]["packetsReceived"].as_i64().unwrap_or(0) > 50,
            "{l}"
        );
    }
    // The browser leg's round trip, measured by the edge from Chromium's RTCP reports
    // (loopback: under a second; the figure itself is the machine's).
    let browser_leg = legs.iter().find(|l| l["role"] == "caller").unwrap();
    let rtt = browser_leg["quality"]["rttMs"].as_f64();
    assert!(
        rtt.is_some_and(|ms| (0.0..1000.0).contains(&ms)),
        "{browser_leg}"
    );
    eprintln!("browser leg RTT: {rtt:?} ms");
    let mut list = Value::Null;
    for _ in 0..50 {
        list = recordings_of(&srv, &token, &call_id).await;
        if list[0]["status"] == "complete" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rec = &list[0];
    assert_eq!(rec["status"], "complete", "{list}");
    let (_, one) = srv
        .api("GET", &format!("/api/v1/calls/{call_id}"), &token, None)
        .await;
    assert_eq!(one["recordings"][0]["id"], rec["id"], "{one}");
    assert_eq!(rec["channels"], 2);
    let wav = download(&srv, &token, rec["downloadUrl"].as_str().unwrap()).await;
    let (rate, left, right) = wav_channels(&wav);
    assert_eq!(rate, 8000);
    // Judge the middle of the call: the browser's tone left, the phone's right.
    let mid = |c: &[i16]| c[c.len() / 4..c.len() * 3 / 4].to_vec();
    let fl = dominant_frequency(&mid(&left), 8000);
    let fr = dominant_frequency(&mid(&right), 8000);
    assert!((fl - 1000.0).abs() < 15.0, "left (browser) {fl} Hz");
    assert!((fr - 400.0).abs() < 15.0, "right (phone) {fr} Hz");

    // Nothing is left behind.
    for (m, labels) in [
        ("ringside_webrtc_sessions", ""),
        ("ringside_browser_calls_active", ""),
        ("ringside_media_relays_active", ""),
    ] {
        let srv = &srv;
        eventually(m, || async move { srv.metric(m, labels).await == 0.0 }).await;
    }
    assert_eq!(srv.metric("ringside_webrtc_connected_total", "").await, 1.0);
    let _ = std::fs::remove_file(tone);
}

#[tokio::test]
async fn a_pstn_answerer_hears_the_accept_prompt_and_takes_the_call_with_1() {
    let srv = Server::start_with(&[("RINGSIDE_PSTN_ACCEPT_TIMEOUT_SECS", "20")]).await;
    let free = srv.metric("ringside_rtp_port_pairs_free", "").await;
    let token = srv.token(
        "owner@example.com",
        "widgets:read,widgets:write,calls:read,sip:read,sip:write",
    );
    let (widget, port) = widget_site(&srv, &token).await;
    let carrier_port = ringside_e2e::free_port();
    carrier_trunk(&srv, &token, carrier_port).await;
    call_settings(
        &srv,
        &token,
        &widget,
        json!({"pstnNumbers": ["+15552234567"], "ringExtensions": false}),
    )
    .await;
    let (phone, phone_port) = Endpoint::bind().await;
    let (sipp, mut sipp_child) =
        ringside_e2e::media::carrier(&srv, carrier_port, phone_port, 300).await;

    let tone = tone_file();
    let browser = chromium(&tone).await;
    let mut page = open_widget(&browser, port).await;
    page.eval(CALL_JS).await;
    // The carrier answered: it hears the accept prompt (speech), the visitor still waits.
    received(&phone, 100).await;
    let prompt = phone.decoded(CodecKind::Pcmu, 0);
    let level = ringside_media::codec::analysis::rms_dbfs(&prompt[800..]);
    assert!(level > -40.0, "the accept prompt is audible: {level} dBFS");
    let st_now = page.eval("window.Ringside.callState").await;
    assert!(
        st_now == "ringing" || st_now == "connecting",
        "{st_now} {}",
        srv.log_text()
    );
    // "1" on RFC 4733 takes the call.
    let b_to = SocketAddr::from(([127, 0, 0, 1], read_port(sipp.dir(), "b_port.txt").await));
    phone.press(b_to, 101, 1).await;
    let state = page
        .eval_until("window.Ringside.callState", |v| {
            v == "answered" || v == "ended"
        })
        .await;
    assert_eq!(state, "answered", "log:\n{}", srv.log_text());
    // Now the carrier's answerer and the visitor talk.
    let talking = phone.talk(b_to, CodecKind::Pcmu, 0, 400.0, 150);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let heard = page.eval(REMOTE_TONE_JS).await;
    assert!(
        (heard["freq"].as_f64().unwrap_or(0.0) - 400.0).abs() < 15.0,
        "the page hears {heard}"
    );
    talking.await.unwrap();
    page.eval("window.Ringside.hangup()").await;
    let _ = tokio::time::timeout(Duration::from_secs(10), sipp_child.wait()).await;
    let call = srv.ended_call(&token).await;
    assert_eq!(call["answeredBy"], "pstn:+15552234567", "{call}");
    assert_eq!(call["status"], "ended", "{call}");
    nothing_left(&srv, free).await;
    let _ = std::fs::remove_file(tone);
}

#[tokio::test]
async fn a_carrier_leg_that_never_presses_1_does_not_take_the_call() {
    let srv = Server::start_with(&[("RINGSIDE_PSTN_ACCEPT_TIMEOUT_SECS", "6")]).await;
    let free = srv.metric("ringside_rtp_port_pairs_free", "").await;
    let token = srv.token(
        "owner@example.com",
        "widgets:read,widgets:write,calls:read,sip:read,sip:write",
    );
    let (widget, port) = widget_site(&srv, &token).await;
    let carrier_port = ringside_e2e::free_port();
    carrier_trunk(&srv, &token, carrier_port).await;
    call_settings(
        &srv,
        &token,
        &widget,
        json!({"pstnNumbers": ["+15552234567"], "ringExtensions": false, "ringTimeoutSecs": 60}),
    )
    .await;
    let (phone, phone_port) = Endpoint::bind().await;
    let (_sipp, mut sipp_child) =
        ringside_e2e::media::carrier(&srv, carrier_port, phone_port, 300).await;
    let tone = tone_file();
    let browser = chromium(&tone).await;
    let mut page = open_widget(&browser, port).await;
    page.eval(CALL_JS).await;
    received(&phone, 50).await;
    // Nobody presses 1: the carrier leg is hung up (sipp gets its BYE and ends), and with
    // nobody else to ring the visitor hears the unavailable message.
    let exit = tokio::time::timeout(Duration::from_secs(20), sipp_child.wait()).await;
    assert!(
        exit.is_ok_and(|s| s.is_ok_and(|s| s.success())),
        "the carrier got a BYE"
    );
    let state = page
        .eval_until("window.Ringside.callState", |v| {
            v == "unavailable" || v == "ended"
        })
        .await;
    assert_eq!(state, "unavailable");
    let reason = page
        .eval_until(
            "window.Ringside.callState === 'ended' && window.Ringside.callEndReason",
            |v| v.is_string(),
        )
        .await;
    assert_eq!(reason, "unavailable");
    let call = srv.ended_call(&token).await;
    assert_eq!(call["status"], "missed", "{call}");
    assert_eq!(call["endReason"], "unavailable", "{call}");
    assert!(call["answeredBy"].is_null(), "{call}");
    let legs = call["legs"].as_array().unwrap();
    assert!(
        legs.iter()
            .any(|l| l["role"] == "callee" && l["finalStatus"] == 603),
        "the carrier leg is marked not accepted: {call}"
    );
    nothing_left(&srv, free).await;
    let _ = std::fs::remove_file(tone);
}

#[tokio::test]
async fn ring_timeout_plays_the_unavailable_message_and_a_hangup_while_ringing_leaks_nothing() {
    let srv = Server::start().await;
    let free = srv.metric("ringside_rtp_port_pairs_free", "").await;
    let sip_token = srv.with_phones().await;
    let token = srv.token(
        "owner@example.com",
        "widgets:read,widgets:write,calls:read,sip:read",
    );
    let (widget, port) = widget_site(&srv, &token).await;
    assign(&srv, &sip_token, "1002", &widget).await;
    call_settings(&srv, &token, &widget, json!({"ringTimeoutSecs": 5})).await;
    // The widget's own ringtone: a 1 kHz tone instead of the generated 440 + 480 Hz ringback.
    let ringtone_file = tone_file_of(1000.0);
    let r = reqwest::Client::new()
        .put(format!(
            "{}/api/v1/widgets/{widget}/prompts/ringtone",
            srv.http
        ))
        .bearer_auth(&token)
        .header("content-type", "audio/wav")
        .body(std::fs::read(&ringtone_file).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let _ = std::fs::remove_file(ringtone_file);
    // 1002 rings and never answers.
    let (phone, phone_port) = Endpoint::bind().await;
    let (_callee, mut callee_child) =
        callee_with(&srv, CodecKind::Pcmu, phone_port, &[], 600_000).await;
    let tone = tone_file();
    let browser = chromium(&tone).await;
    let mut page = open_widget(&browser, port).await;
    page.eval(CALL_JS).await;
    page.eval_until("window.Ringside.callState", |v| v == "ringing")
        .await;
    let heard = page.eval(REMOTE_TONE_JS).await;
    assert!(
        (heard["freq"].as_f64().unwrap_or(0.0) - 1000.0).abs() < 15.0,
        "the visitor hears the widget's ringtone: {heard}"
    );
    let state = page
        .eval_until("window.Ringside.callState", |v| {
            v == "unavailable" || v == "ended"
        })
        .await;
    assert_eq!(state, "unavailable", "log:\n{}", srv.log_text());
    // The page hears the message (speech-level audio from Ringside).
    let heard = page
        .eval(
            "(async () => { const ctx = new AudioContext(); await ctx.resume();
               const an = ctx.createAnalyser(); an.fftSize = 2048;
               ctx.createMediaStreamSource(window.Ringside.remoteStream).connect(an);
               let peak = 0; const d = new Float32Array(an.fftSize);
               for (let i = 0; i < 20; i++) { await new Promise(r => setTimeout(r, 50));
                 an.getFloatTimeDomainData(d); for (const x of d) peak = Math.max(peak, Math.abs(x)); }
               return peak; })()",
        )
        .await;
    assert!(heard.as_f64().unwrap_or(0.0) > 0.05, "peak {heard}");
    let reason = page
        .eval_until(
            "window.Ringside.callState === 'ended' && window.Ringside.callEndReason",
            |v| v.is_string(),
        )
        .await;
    assert_eq!(reason, "no_answer");
    let call = srv.ended_call(&token).await;
    assert_eq!(call["status"], "missed", "{call}");
    assert_eq!(call["endReason"], "no_answer", "{call}");
    nothing_left(&srv, free).await;
    let _ = callee_child.kill().await;
    drop(phone);

    // The visitor hangs up while it rings: the phone's leg is cancelled, nothing is left.
    let (phone, phone_port) = Endpoint::bind().await;
    let (_callee, mut callee_child) =
        callee_with(&srv, CodecKind::Pcmu, phone_port, &[], 600_000).await;
    page.eval(CALL_JS).await;
    page.eval_until("window.Ringside.callState", |v| v == "ringing")
        .await;
    page.eval("window.Ringside.hangup()").await;
    let call = srv.ended_call(&token).await;
    assert_eq!(call["endReason"], "cancelled", "{call}");
    assert_eq!(call["hangupSide"], "caller", "{call}");
    nothing_left(&srv, free).await;
    assert_eq!(srv.metric("ringside_browser_calls_total", "").await, 2.0);
    let _ = callee_child.kill().await;
    drop(phone);
    let _ = std::fs::remove_file(tone);
}

#[tokio::test]
async fn a_trusted_pbx_rings_the_visitors_channel_number_and_an_untrusted_one_is_refused() {
    use ringside_e2e::{free_port, Scenario, Sipp, UacFlow};
    let srv = Server::start().await;
    let free = srv.metric("ringside_rtp_port_pairs_free", "").await;
    let token = srv.token(
        "owner@example.com",
        "widgets:read,widgets:write,calls:read,sip:read,sip:write",
    );
    pbx_trunk(&srv, &token).await;
    let (widget, port) = widget_site(&srv, &token).await;
    let tone = tone_file();
    let browser = chromium(&tone).await;
    let mut page = open_widget(&browser, port).await;
    let channel = page
        .eval_until("window.Ringside.channelNumber", Value::is_string)
        .await;
    let channel = channel.as_str().unwrap().to_owned();
    assert_eq!(channel.len(), 6, "{channel}");
    // PBX integrators read it from the live visitors.
    let analytics = srv.token("owner@example.com", "analytics:read");
    let live = format!("/api/v1/widgets/{widget}/live-visitors");
    let (srv_ref, a_ref, live_ref, ch_ref) = (&srv, &analytics, &live, &channel);
    eventually("the live visitor shows its channel number", || async move {
        let (_, v) = srv_ref.api("GET", live_ref, a_ref, None).await;
        v["visitors"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["channelNumber"] == ch_ref.as_str()))
    })
    .await;

    // From an untrusted address the same INVITE is challenged and refused; the page never
    // rings.
    let untrusted =
        Sipp::new(&Scenario::uac("pbx", false, UacFlow::Refused(407)), srv.sip).args(&[
            "-i",
            "127.0.0.1",
            "-p",
            &free_port().to_string(),
            "-s",
            &channel,
        ]);
    let (ok, log) = untrusted.run().await;
    assert!(ok, "{log}");
    assert_eq!(page.eval("window.Ringside.callState").await, "idle");
    // A trusted call to a number nobody holds: 404.
    let nobody = Sipp::new(&Scenario::uac("pbx", false, UacFlow::Refused(404)), srv.sip).args(&[
        "-i",
        "127.0.0.2",
        "-p",
        &free_port().to_string(),
        "-s",
        "100000",
    ]);
    let (ok, log) = nobody.run().await;
    assert!(ok || channel == "100000", "{log}");

    // The trusted PBX: the page rings, the visitor answers, talks, hangs up.
    let (pbx, mut pbx_child) = pbx_dials(&srv, &channel, &[]);
    let state = page
        .eval_until("window.Ringside.callState", |v| v == "incoming")
        .await;
    assert_eq!(state, "incoming");
    let from = page.eval("window.Ringside.incomingCall.from").await;
    assert!(from.as_str().unwrap_or("").contains("pbx"), "{from}");
    page.eval(
        "window.Ringside.answer({audio: {echoCancellation: false, noiseSuppression: false, autoGainControl: false}})",
    )
    .await;
    let state = page
        .eval_until("window.Ringside.callState", |v| {
            v == "answered" || v == "ended"
        })
        .await;
    assert_eq!(
        state,
        "answered",
        "reason {:?} error {:?}",
        page.eval("window.Ringside.callEndReason").await,
        page.eval("JSON.stringify(window.Ringside.callError)").await
    );
    page.eval_until("window.Ringside.callMedia", |v| v == "connected")
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    page.eval("window.Ringside.hangup()").await;
    let exit = tokio::time::timeout(Duration::from_secs(15), pbx_child.wait()).await;
    assert!(
        exit.is_ok_and(|s| s.is_ok_and(|s| s.success())),
        "the PBX got its 200 and then the BYE: {}",
        pbx.messages()
    );
    let call = srv.ended_call(&token).await;
    let visitor = page.eval("window.Ringside.visitorId").await;
    assert_eq!(
        call["answeredBy"],
        format!("visitor:{}", visitor.as_str().unwrap()).as_str(),
        "{call}"
    );
    assert_eq!(call["visitorId"], visitor, "{call}");
    assert_eq!(call["hangupSide"], "callee", "{call}");
    let legs = call["legs"].as_array().unwrap();
    let v = legs
        .iter()
        .find(|l| l["role"] == "callee")
        .expect("the visitor's leg");
    assert!(
        v["quality"]["packetsReceived"].as_i64().unwrap_or(0) > 20,
        "{call}"
    );
    nothing_left(&srv, free).await;
    let _ = std::fs::remove_file(tone);
}

#[tokio::test]
async fn a_pbx_call_to_the_widget_queue_number_waits_until_an_extension_picks_up() {
    let srv = Server::start().await;
    let sip_token = srv.with_phones().await;
    let token = srv.token(
        "owner@example.com",
        "widgets:read,widgets:write,calls:read,sip:read,sip:write",
    );
    pbx_trunk(&srv, &token).await;
    let (widget, _port) = widget_site(&srv, &token).await;
    assign(&srv, &sip_token, "1002", &widget).await;
    call_settings(&srv, &token, &widget, json!({"queueNumber": "700"})).await;
    // 1002 picks up after 3 s.
    let (phone, phone_port) = Endpoint::bind().await;
    let (_callee, mut callee_child) =
        callee_with(&srv, CodecKind::Pcmu, phone_port, &[], 3000).await;
    let (_pbx, mut pbx_child) = pbx_dials(&srv, "700", &[]);
    // Meanwhile it is a waiting call of the widget.
    let waiting_path = format!("/api/v1/widgets/{widget}/calls-waiting");
    let (srv_ref, token_ref, path_ref) = (&srv, &token, &waiting_path);
    eventually("the queue call is waiting", || async move {
        let (_, w) = srv_ref.api("GET", path_ref, token_ref, None).await;
        w.as_array()
            .is_some_and(|a| a.iter().any(|c| c["status"] == "waiting"))
    })
    .await;
    // The extension picks up: the call is answered and no longer waiting.
    eventually("the queue call is answered", || async move {
        let (_, calls) = srv_ref
            .api("GET", "/api/v1/calls?limit=1", token_ref, None)
            .await;
        calls[0]["status"] == "answered"
    })
    .await;
    let (_, calls) = srv.api("GET", "/api/v1/calls?limit=1", &token, None).await;
    assert_eq!(calls[0]["answeredBy"], "extension:1002", "{calls}");
    assert_eq!(calls[0]["widgetId"], widget.as_str(), "{calls}");
    let (_, w) = srv.api("GET", &waiting_path, &token, None).await;
    assert_eq!(w, json!([]), "no longer waiting");
    let _ = callee_child.kill().await;
    let _ = pbx_child.kill().await;
    drop(phone);
}

#[tokio::test]
async fn two_phones_answering_at_once_leave_one_call_and_nothing_leaked() {
    let srv = Server::start().await;
    let free = srv.metric("ringside_rtp_port_pairs_free", "").await;
    let sip_token = srv.with_phones().await;
    let token = srv.token(
        "owner@example.com",
        "widgets:read,widgets:write,calls:read,sip:read",
    );
    let (widget, port) = widget_site(&srv, &token).await;
    assign(&srv, &sip_token, "1002", &widget).await;
    // Two phones registered as 1002 both answer the moment they ring.
    let (phone_a, port_a) = Endpoint::bind().await;
    let (phone_b, port_b) = Endpoint::bind().await;
    let (sipp_a, mut a_child) = ringside_e2e::media::racing_callee(&srv, port_a).await;
    let (sipp_b, mut b_child) = ringside_e2e::media::racing_callee(&srv, port_b).await;
    let tone = tone_file();
    let browser = chromium(&tone).await;
    let mut page = open_widget(&browser, port).await;
    page.eval(CALL_JS).await;
    let state = page
        .eval_until("window.Ringside.callState", |v| {
            v == "answered" || v == "ended"
        })
        .await;
    assert_eq!(state, "answered", "{}", srv.log_text());
    // Every message each phone saw (sipp's message trace).
    fn trace(dir: &std::path::Path) -> String {
        std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
                    .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    }
    let byed = |dir: &std::path::Path| trace(dir).contains("CSeq: 2 BYE");
    let (dir_a, dir_b) = (sipp_a.dir().to_path_buf(), sipp_b.dir().to_path_buf());
    // Both phones answered (no 180, so nothing could be cancelled) and both were ACKed; the
    // loser is hung up at once while the call goes on with the winner.
    let (da, db) = (&dir_a, &dir_b);
    eventually("the losing phone is hung up", || async move {
        byed(da) || byed(db)
    })
    .await;
    for d in [&dir_a, &dir_b] {
        let t = trace(d);
        assert!(
            t.contains("SIP/2.0 200 OK") && t.contains("CSeq: 1 ACK"),
            "{t}"
        );
    }
    assert!(!(byed(&dir_a) && byed(&dir_b)), "one phone keeps the call");
    assert_eq!(page.eval("window.Ringside.callState").await, "answered");
    // The visitor hangs up: the winner gets its BYE too.
    page.eval("window.Ringside.hangup()").await;
    eventually("the winning phone is hung up", || async move {
        byed(da) && byed(db)
    })
    .await;
    let call = srv.ended_call(&token).await;
    assert_eq!(call["answeredBy"], "extension:1002", "{call}");
    assert_eq!(call["status"], "ended", "{call}");
    // No leg, relay, port, edge session or call task is left behind.
    nothing_left(&srv, free).await;
    let _ = a_child.kill().await;
    let _ = b_child.kill().await;
    drop((phone_a, phone_b));
    let _ = std::fs::remove_file(tone);
}
