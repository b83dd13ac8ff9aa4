//! Console operators end to end: an operator on Ringside's console page (its own headless
//! Chromium, 400 Hz fake microphone) answers a visitor's call and each hears the other; a
//! visitor and an operator with fake cameras (solid red and blue Y4M clips) see each other's
//! colour in VP8 and in H.264 through the edge's video relay; an operator picks up a PBX call
//! waiting in a widget's queue and hears its own tone echoed back by the PBX. Afterwards
//! nothing is left (metrics).

mod calls_common;

use std::time::Duration;

use calls_common::*;
use ringside_e2e::Server;
use serde_json::{json, Value};

#[tokio::test]
async fn a_console_operator_answers_a_visitors_call_in_the_browser() {
    let srv = Server::start().await;
    let free = srv.metric("ringside_rtp_port_pairs_free", "").await;
    let token = srv.token(
        "owner@example.com",
        "widgets:read,widgets:write,calls:read,calls:write",
    );
    let (widget, port) = widget_site(&srv, &token).await;
    // The operator: its own browser with a 400 Hz microphone, on Ringside's console page.
    let op_tone = tone_file_of(400.0);
    let op_browser = chromium(&op_tone).await;
    let mut console = console_for(&srv, &op_browser, &token, &widget).await;
    // The visitor (1 kHz microphone) calls; nobody else would take it.
    let tone = tone_file();
    let browser = chromium(&tone).await;
    let mut page = open_widget(&browser, port).await;
    page.eval(CALL_JS).await;
    let offered = console
        .eval_until(
            "Object.keys(RingsideConsole.offers)[0] || null",
            Value::is_string,
        )
        .await;
    let st_now = page.eval("window.Ringside.callState").await;
    assert!(
        st_now == "ringing" || st_now == "connecting",
        "{st_now} {}",
        srv.log_text()
    );
    console
        .eval(&format!(
            "RingsideConsole.answer({offered}, {{audio: {{echoCancellation: false, noiseSuppression: false, autoGainControl: false}}}}).then(() => 1)"
        ))
        .await;
    let state = console
        .eval_until("RingsideConsole.state", |v| {
            v == "on call" || v == "available"
        })
        .await;
    assert_eq!(
        state,
        "on call",
        "error {:?}",
        console.eval("JSON.stringify(RingsideConsole.error)").await
    );
    let state = page
        .eval_until("window.Ringside.callState", |v| {
            v == "answered" || v == "ended"
        })
        .await;
    assert_eq!(state, "answered");
    console
        .eval_until("RingsideConsole.media", |v| v == "connected")
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Each hears the other's microphone.
    let heard = hear(&mut page, REMOTE_TONE_JS, 400.0).await;
    assert!(
        (heard["freq"].as_f64().unwrap_or(0.0) - 400.0).abs() < 15.0,
        "the visitor hears {heard}"
    );
    let at_console = REMOTE_TONE_JS.replace(
        "window.Ringside.remoteStream",
        "RingsideConsole.remoteStream",
    );
    let heard = hear(&mut console, &at_console, 1000.0).await;
    assert!(
        (heard["freq"].as_f64().unwrap_or(0.0) - 1000.0).abs() < 15.0,
        "the operator hears {heard}"
    );
    // The operator hangs up: the visitor's call ends.
    console.eval("RingsideConsole.hangup()").await;
    let reason = page
        .eval_until(
            "window.Ringside.callState === 'ended' && window.Ringside.callEndReason",
            Value::is_string,
        )
        .await;
    assert_eq!(reason, "hangup");
    let call = srv.ended_call(&token).await;
    let answered_by = call["answeredBy"].as_str().unwrap_or_default().to_owned();
    assert!(answered_by.starts_with("console:"), "{call}");
    assert_eq!(call["hangupSide"], "callee", "{call}");
    nothing_left(&srv, free).await;
    let _ = std::fs::remove_file(tone);
    let _ = std::fs::remove_file(op_tone);
}

#[tokio::test]
async fn a_visitor_and_a_console_operator_see_each_other_on_video_in_vp8_and_h264() {
    let srv = Server::start().await;
    let free = srv.metric("ringside_rtp_port_pairs_free", "").await;
    let token = srv.token(
        "owner@example.com",
        "widgets:read,widgets:write,calls:read,calls:write",
    );
    let (widget, port) = widget_site(&srv, &token).await;
    // The operator's camera is blue, the visitor's red (BT.601 full range).
    let (op_tone, op_clip) = (tone_file_of(400.0), colour_clip("blue", (29, 255, 107)));
    let op_browser = chromium_with_camera(&op_tone, &op_clip).await;
    let mut console = console_for(&srv, &op_browser, &token, &widget).await;
    let (tone, clip) = (tone_file(), colour_clip("red", (76, 85, 255)));
    let browser = chromium_with_camera(&tone, &clip).await;
    let mut page = open_widget(&browser, port).await;
    let at_visitor = REMOTE_VIDEO_JS
        .replace("STREAM", "window.Ringside.remoteStream")
        .replace("STATS", "window.Ringside.stats");
    let at_operator = REMOTE_VIDEO_JS
        .replace("STREAM", "RingsideConsole.remoteStream")
        .replace("STATS", "RingsideConsole.stats");
    for codec in ["VP8", "H264"] {
        page.eval(&format!(
            "window.Ringside.call({{name: 'Ada', video: true, videoCodec: '{codec}'}}).then(() => 1)"
        ))
        .await;
        let offered = console
            .eval_until(
                "Object.keys(RingsideConsole.offers)[0] || null",
                Value::is_string,
            )
            .await;
        console
            .eval(&format!(
                "RingsideConsole.answer({offered}, {{video: true, videoCodec: '{codec}'}}).then(() => 1)"
            ))
            .await;
        let state = page
            .eval_until("window.Ringside.callState", |v| {
                v == "answered" || v == "ended"
            })
            .await;
        assert_eq!(state, "answered", "{codec}: {}", srv.log_text());
        console
            .eval_until("RingsideConsole.media", |v| v == "connected")
            .await;
        // Each side sees the other's camera, in the codec both preferred.
        let mut seen = Value::Null;
        for _ in 0..30 {
            seen = page.eval(&at_visitor).await;
            if shows_colour(&seen, 2) {
                break;
            }
        }
        assert!(shows_colour(&seen, 2), "{codec}: the visitor sees {seen}");
        eprintln!("{codec}: the visitor sees {seen}");
        assert_eq!(seen["codec"], format!("video/{codec}"), "{seen}");
        let mut seen = Value::Null;
        for _ in 0..30 {
            seen = console.eval(&at_operator).await;
            if shows_colour(&seen, 0) {
                break;
            }
        }
        assert!(shows_colour(&seen, 0), "{codec}: the operator sees {seen}");
        eprintln!("{codec}: the operator sees {seen}");
        assert_eq!(seen["codec"], format!("video/{codec}"), "{seen}");
        // The audio is still there alongside: the visitor hears the operator's 400 Hz.
        let heard = hear(&mut page, REMOTE_TONE_JS, 400.0).await;
        assert!(
            (heard["freq"].as_f64().unwrap_or(0.0) - 400.0).abs() < 15.0,
            "{codec}: the visitor hears {heard}"
        );
        console.eval("RingsideConsole.hangup()").await;
        let reason = page
            .eval_until(
                "window.Ringside.callState === 'ended' && window.Ringside.callEndReason",
                Value::is_string,
            )
            .await;
        assert_eq!(reason, "hangup");
        assert_eq!(
            page.eval("window.Ringside.remoteVideo === null").await,
            true,
            "the widget's video element goes with the call"
        );
        console
            .eval_until("RingsideConsole.state", |v| v == "available")
            .await;
    }
    assert!(
        srv.metric("ringside_webrtc_video_forwarded_total", "")
            .await
            > 100.0
    );
    assert!(srv.metric("ringside_webrtc_video_feedback_total", "").await >= 2.0);
    nothing_left(&srv, free).await;
    for f in [tone, clip, op_tone, op_clip] {
        let _ = std::fs::remove_file(f);
    }
}

#[tokio::test]
async fn a_console_operator_picks_up_a_pbx_call_waiting_in_the_widget_queue() {
    let srv = Server::start().await;
    let free = srv.metric("ringside_rtp_port_pairs_free", "").await;
    let token = srv.token(
        "owner@example.com",
        "widgets:read,widgets:write,calls:read,calls:write,sip:read,sip:write",
    );
    pbx_trunk(&srv, &token).await;
    let (widget, _port) = widget_site(&srv, &token).await;
    call_settings(&srv, &token, &widget, json!({"queueNumber": "701"})).await;
    // The operator (400 Hz microphone) is on the console for the widget.
    let op_tone = tone_file_of(400.0);
    let op_browser = chromium(&op_tone).await;
    let mut console = console_for(&srv, &op_browser, &token, &widget).await;
    // The PBX dials the queue number and echoes whatever audio it gets.
    let (_pbx, mut pbx_child) = pbx_dials(&srv, "701", &["-rtp_echo"]);
    let offered = console
        .eval_until(
            "Object.keys(RingsideConsole.offers)[0] || null",
            Value::is_string,
        )
        .await;
    let offer = console
        .eval(&format!("RingsideConsole.offers[{offered}]"))
        .await;
    assert_eq!(offer["widgetId"], widget.as_str(), "{offer}");
    assert!(
        offer["from"].as_str().unwrap_or("").contains("pbx"),
        "{offer}"
    );
    let (_, calls) = srv.api("GET", "/api/v1/calls?limit=1", &token, None).await;
    assert_eq!(calls[0]["status"], "waiting", "{calls}");
    console
        .eval(&format!(
            "RingsideConsole.answer({offered}, {{audio: {{echoCancellation: false, noiseSuppression: false, autoGainControl: false}}}}).then(() => 1)"
        ))
        .await;
    let state = console
        .eval_until("RingsideConsole.state", |v| {
            v == "on call" || v == "available"
        })
        .await;
    assert_eq!(state, "on call", "{}", srv.log_text());
    console
        .eval_until("RingsideConsole.media", |v| v == "connected")
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // The operator hears its own tone back through the PBX: media flows both ways over the
    // queue call's SIP leg (Opus in the console, the PBX's PCMU).
    let at_console = REMOTE_TONE_JS.replace(
        "window.Ringside.remoteStream",
        "RingsideConsole.remoteStream",
    );
    let heard = hear(&mut console, &at_console, 400.0).await;
    assert!(
        (heard["freq"].as_f64().unwrap_or(0.0) - 400.0).abs() < 15.0,
        "the operator hears {heard}"
    );
    let (_, calls) = srv.api("GET", "/api/v1/calls?limit=1", &token, None).await;
    assert_eq!(calls[0]["status"], "answered", "{calls}");
    assert!(
        calls[0]["answeredBy"]
            .as_str()
            .unwrap_or("")
            .starts_with("console:"),
        "{calls}"
    );
    let (_, w) = srv
        .api(
            "GET",
            &format!("/api/v1/widgets/{widget}/calls-waiting"),
            &token,
            None,
        )
        .await;
    assert_eq!(w, json!([]), "no longer waiting");
    // The operator hangs up: the PBX gets the BYE and its scenario ends well.
    console.eval("RingsideConsole.hangup()").await;
    let st = tokio::time::timeout(Duration::from_secs(20), pbx_child.wait())
        .await
        .expect("the PBX's call ends")
        .unwrap();
    assert!(st.success(), "sipp: {st:?}");
    nothing_left(&srv, free).await;
    let _ = std::fs::remove_file(op_tone);
}

/// Two nodes (one PostgreSQL, NATS): the visitor's call is held by node a, the operator's
/// console page is served by node b. Node a rings node b's console, the answer goes to node a
/// (whose WebRTC address the operator's browser then reaches straight), and each hears the
/// other.
#[tokio::test]
async fn a_console_on_another_node_answers_a_visitors_call() {
    let Some(schema) = ringside_e2e::postgres_schema().await else {
        return;
    };
    let db = ("RINGSIDE_DATABASE_URL", schema.url.as_str());
    let nats = ("RINGSIDE_NATS_URL", "nats://127.0.0.1:4222");
    let a = Server::start_with(&[db, nats, ("RINGSIDE_NODE_ID", "console-a")]).await;
    let b = Server::start_with(&[db, nats, ("RINGSIDE_NODE_ID", "console-b")]).await;
    let free = a.metric("ringside_rtp_port_pairs_free", "").await;
    let token = a.token(
        "owner@example.com",
        "widgets:read,widgets:write,calls:read,calls:write",
    );
    // The widget's site loads its script from node a: the visitor's socket and call are
    // node a's.
    let (widget, port) = widget_site(&a, &token).await;
    let op_tone = tone_file_of(400.0);
    let op_browser = chromium(&op_tone).await;
    let mut console = console_for(&b, &op_browser, &token, &widget).await;
    let tone = tone_file();
    let browser = chromium(&tone).await;
    let mut page = open_widget(&browser, port).await;
    page.eval(CALL_JS).await;
    let offered = console
        .eval_until(
            "Object.keys(RingsideConsole.offers)[0] || null",
            Value::is_string,
        )
        .await;
    console
        .eval(&format!(
            "RingsideConsole.answer({offered}, {{audio: {{echoCancellation: false, noiseSuppression: false, autoGainControl: false}}}}).then(() => 1)"
        ))
        .await;
    let state = console
        .eval_until("RingsideConsole.state", |v| {
            v == "on call" || v == "available"
        })
        .await;
    assert_eq!(
        state,
        "on call",
        "error {:?}\nnode a: {}\nnode b: {}",
        console.eval("JSON.stringify(RingsideConsole.error)").await,
        a.log_text(),
        b.log_text()
    );
    let state = page
        .eval_until("window.Ringside.callState", |v| {
            v == "answered" || v == "ended"
        })
        .await;
    assert_eq!(state, "answered");
    console
        .eval_until("RingsideConsole.media", |v| v == "connected")
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let heard = hear(&mut page, REMOTE_TONE_JS, 400.0).await;
    assert!(
        (heard["freq"].as_f64().unwrap_or(0.0) - 400.0).abs() < 15.0,
        "the visitor hears {heard}"
    );
    let at_console = REMOTE_TONE_JS.replace(
        "window.Ringside.remoteStream",
        "RingsideConsole.remoteStream",
    );
    let heard = hear(&mut console, &at_console, 1000.0).await;
    assert!(
        (heard["freq"].as_f64().unwrap_or(0.0) - 1000.0).abs() < 15.0,
        "the operator hears {heard}"
    );
    // Node a held the call and its media: node b has no WebRTC session of its own.
    assert_eq!(a.metric("ringside_webrtc_sessions", "").await, 2.0);
    assert_eq!(b.metric("ringside_webrtc_sessions", "").await, 0.0);
    // The operator hangs up through node b: the visitor's call on node a ends.
    console.eval("RingsideConsole.hangup()").await;
    let reason = page
        .eval_until(
            "window.Ringside.callState === 'ended' && window.Ringside.callEndReason",
            Value::is_string,
        )
        .await;
    assert_eq!(reason, "hangup");
    let call = b.ended_call(&token).await;
    assert_eq!(call["node"], "console-a", "{call}");
    assert!(
        call["answeredBy"]
            .as_str()
            .unwrap_or_default()
            .starts_with("console:"),
        "{call}"
    );
    assert_eq!(call["hangupSide"], "callee", "{call}");
    nothing_left(&a, free).await;
    drop((console, page, op_browser, browser));
    let _ = std::fs::remove_file(tone);
    let _ = std::fs::remove_file(op_tone);
    drop((a, b));
    schema.drop_schema().await.unwrap();
}
