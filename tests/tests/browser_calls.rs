//! Browser calls end to end: headless Chromium with a fake microphone playing a 1 kHz tone
//! opens a page carrying the widget snippet and presses "call" (`window.Ringside.call`). The
//! call goes over the widget socket (offer/answer), the WebRTC edge (ICE-lite, DTLS-SRTP, Opus)
//! and the SIP core to the extension assigned to the widget: a sipp phone answering in PCMU
//! whose media is a UDP endpoint in this test playing 400 Hz. Both directions are judged as
//! audio (the phone hears 1 kHz; the page's received stream peaks at 400 Hz), the stereo
//! recording holds the browser's tone left and the phone's right, a hold from the page plays
//! hold music to the phone until it resumes, and afterwards no session,
//! call task or relay is left (metrics).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ringside_e2e::browser::{site, Browser, Page};
use ringside_e2e::media::{
    assert_tone, callee_with, download, read_port, recordings_of, wav_channels, Endpoint,
};
use ringside_e2e::{eventually, Server};
use ringside_media::codec::analysis::dominant_frequency;
use ringside_media::codec::frame::CodecKind;
use serde_json::{json, Value};

/// A 1 kHz tone WAV for Chromium's fake microphone (48 kHz mono, amplitude 0.3, 20 s).
fn tone_file() -> PathBuf {
    // One file per test: tests run in parallel and each removes its own file at the end.
    let path = std::env::temp_dir().join(format!(
        "ringside-tone-{}-{}.wav",
        std::process::id(),
        rand_suffix()
    ));
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    for s in ringside_media::codec::analysis::tone(1000.0, 48000, 0.3, 48000 * 20) {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
    path
}

/// A suffix unique within the process.
fn rand_suffix() -> u64 {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Chromium with the fake microphone; loopback ICE candidates allowed, no mDNS hiding.
async fn chromium(tone: &std::path::Path) -> Browser {
    Browser::launch(&[
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        &format!("--use-file-for-fake-audio-capture={}", tone.display()),
        "--allow-loopback-in-peer-connection",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
        "--autoplay-policy=no-user-gesture-required",
    ])
    .await
}

/// A widget allowed on a test site embedding its snippet; returns (widget id, site port).
async fn widget_site(srv: &Server, token: &str) -> (String, u16) {
    let (st, w) = srv
        .api(
            "POST",
            "/api/v1/widgets",
            token,
            Some(json!({"name": "Shop", "allowedDomains": ["localhost"]})),
        )
        .await;
    assert_eq!(st, 201, "{w}");
    let widget = w["id"].as_str().unwrap().to_owned();
    let (_, snippet) = srv
        .api(
            "GET",
            &format!("/api/v1/widgets/{widget}/install-snippet"),
            token,
            None,
        )
        .await;
    let tag = snippet["snippet"].as_str().unwrap().to_owned();
    let port = site(tag).await;
    let (st, body) = srv
        .api(
            "PATCH",
            &format!("/api/v1/widgets/{widget}"),
            token,
            Some(json!({"allowedDomains": [format!("localhost:{port}")]})),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    (widget, port)
}

/// Assign extension `user` to `widget` (it becomes one of the widget's ring targets).
async fn assign(srv: &Server, token: &str, user: &str, widget: &str) {
    let (_, list) = srv.api("GET", "/api/v1/sip/extensions", token, None).await;
    let items = list["data"].as_array().or(list.as_array()).cloned();
    let ext = items
        .unwrap_or_default()
        .into_iter()
        .find(|e| e["username"] == user)
        .unwrap_or_else(|| panic!("no extension {user} in {list}"));
    let (st, body) = srv
        .api(
            "PATCH",
            &format!("/api/v1/sip/extensions/{}", ext["id"].as_str().unwrap()),
            token,
            Some(json!({"widgetIds": [widget]})),
        )
        .await;
    assert_eq!(st, 200, "{body}");
}

async fn open_widget(browser: &Browser, port: u16) -> Page {
    let mut page = browser.open(&format!("http://localhost:{port}/")).await;
    page.eval_until(
        "window.Ringside && window.Ringside.connected === true",
        |v| v == &Value::Bool(true),
    )
    .await;
    page
}

/// The dominant frequency and level of what the page receives, through Web Audio.
const REMOTE_TONE_JS: &str = "(async () => {
  const ctx = new AudioContext();
  await ctx.resume();
  const src = ctx.createMediaStreamSource(window.Ringside.remoteStream);
  const an = ctx.createAnalyser();
  an.fftSize = 8192;
  src.connect(an);
  await new Promise(r => setTimeout(r, 1500));
  const d = new Float32Array(an.frequencyBinCount);
  an.getFloatFrequencyData(d);
  let best = 1;
  for (let i = 2; i < d.length; i++) if (d[i] > d[best]) best = i;
  return { freq: best * ctx.sampleRate / an.fftSize, db: d[best] };
})()";

/// The console page in `browser`, connected as an operator of `widget` (available).
async fn console_for(srv: &Server, browser: &Browser, token: &str, widget: &str) -> Page {
    let mut console = browser.open(&format!("{}/console", srv.http)).await;
    console
        .eval_until("typeof RingsideConsole", |v| v == "object")
        .await;
    let r = console
        .eval(&format!(
            "RingsideConsole.connect({token:?}, [{widget:?}]).then(() => RingsideConsole.state, e => 'failed: ' + e)"
        ))
        .await;
    assert_eq!(r, "available", "the console went available");
    console
}

/// A trunk trusting the PBX at 127.0.0.2.
async fn pbx_trunk(srv: &Server, token: &str) {
    let (st, body) = srv
        .api(
            "POST",
            "/api/v1/sip/trunks",
            token,
            Some(json!({"name": "pbx", "inboundCidrs": ["127.0.0.2/32"]})),
        )
        .await;
    assert_eq!(st, 201, "{body}");
}

/// sipp as the trusted PBX (127.0.0.2) dialling `number`, waiting for Ringside's BYE; `extra`
/// sipp arguments (e.g. `-rtp_echo`).
fn pbx_dials(
    srv: &Server,
    number: &str,
    extra: &[&str],
) -> (ringside_e2e::Sipp, tokio::process::Child) {
    use ringside_e2e::{free_port, Scenario, Sipp, UacFlow};
    let (port, media) = (
        free_port().to_string(),
        ringside_e2e::even_port().to_string(),
    );
    let mut args = vec!["-i", "127.0.0.2", "-p", &port, "-mp", &media];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["-s", number]);
    let sipp = Sipp::new(
        &Scenario::uac("pbx", false, UacFlow::CalleeHangsUp),
        srv.sip,
    )
    .args(&args);
    let child = sipp.spawn();
    (sipp, child)
}

/// Listen to the page's remote audio (`js`: [`REMOTE_TONE_JS`] or a variant) until `want` Hz
/// is the dominant tone, a few listens at most (media may start late while other tests load
/// the machine); returns the last reading.
async fn hear(page: &mut Page, js: &str, want: f64) -> Value {
    let mut heard = Value::Null;
    for _ in 0..8 {
        heard = page.eval(js).await;
        if (heard["freq"].as_f64().unwrap_or(0.0) - want).abs() < 15.0 {
            break;
        }
    }
    heard
}

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

/// A trunk towards a carrier on loopback `port`, dialling North American numbers.
async fn carrier_trunk(srv: &Server, token: &str, port: u16) {
    let (st, body) = srv
        .api(
            "POST",
            "/api/v1/sip/trunks",
            token,
            Some(json!({
                "name": "carrier",
                "inboundCidrs": [],
                "outboundHost": "127.0.0.1",
                "outboundPort": port,
                "outboundTransport": "udp",
                "allowedDestinations": "+1NXXNXXXXXX"
            })),
        )
        .await;
    assert_eq!(st, 201, "{body}");
}

async fn call_settings(srv: &Server, token: &str, widget: &str, settings: Value) {
    let (st, body) = srv
        .api(
            "PUT",
            &format!("/api/v1/widgets/{widget}/call-settings"),
            token,
            Some(settings),
        )
        .await;
    assert_eq!(st, 200, "{body}");
}

const CALL_JS: &str = "window.Ringside.call({name: 'Ada', audio: {echoCancellation: false, noiseSuppression: false, autoGainControl: false}})";

/// Poll until `ep` has received at least `n` packets (bounded).
async fn received(ep: &Endpoint, n: usize) {
    for _ in 0..200 {
        if ep.received.lock().unwrap().len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the endpoint got only {} packets",
        ep.received.lock().unwrap().len()
    );
}

/// Nothing of a call is left: sessions, call tasks, relays, ports.
async fn nothing_left(srv: &Server, free_ports: f64) {
    for (m, want) in [
        ("ringside_webrtc_sessions", 0.0),
        ("ringside_browser_calls_active", 0.0),
        ("ringside_media_relays_active", 0.0),
        ("ringside_calls_active", 0.0),
        ("ringside_rtp_port_pairs_free", free_ports),
    ] {
        eventually(m, || async move { srv.metric(m, "").await == want }).await;
    }
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

/// A tone WAV of `freq` for a fake microphone.
fn tone_file_of(freq: f64) -> PathBuf {
    let path =
        std::env::temp_dir().join(format!("ringside-tone-{}-{freq}.wav", std::process::id()));
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    for s in ringside_media::codec::analysis::tone(freq, 48000, 0.3, 48000 * 20) {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
    path
}

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

/// A Y4M clip of one solid colour (Y, Cb, Cr; full range) for Chromium's fake camera:
/// 320x240 at 30 frames/s, one second, looped by Chromium.
fn colour_clip(name: &str, yuv: (u8, u8, u8)) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "ringside-{name}-{}-{}.y4m",
        std::process::id(),
        rand_suffix()
    ));
    let (w, h) = (320usize, 240usize);
    let mut out = format!("YUV4MPEG2 W{w} H{h} F30:1 Ip A1:1 C420jpeg\n").into_bytes();
    for _ in 0..30 {
        out.extend_from_slice(b"FRAME\n");
        out.extend(std::iter::repeat_n(yuv.0, w * h));
        out.extend(std::iter::repeat_n(yuv.1, w * h / 4));
        out.extend(std::iter::repeat_n(yuv.2, w * h / 4));
    }
    std::fs::write(&path, out).unwrap();
    path
}

/// Chromium with a fake microphone (`tone`) and a fake camera (`clip`).
async fn chromium_with_camera(tone: &std::path::Path, clip: &std::path::Path) -> Browser {
    Browser::launch(&[
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        &format!("--use-file-for-fake-audio-capture={}", tone.display()),
        &format!("--use-file-for-fake-video-capture={}", clip.display()),
        "--allow-loopback-in-peer-connection",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
        "--autoplay-policy=no-user-gesture-required",
    ])
    .await
}

/// What the page shows of the remote video: its size, mean colour over the frame, frames
/// decoded and the codec (from the page's WebRTC stats). STREAM and STATS name the page's
/// remote stream and its stats function.
const REMOTE_VIDEO_JS: &str = "(async (stream, stats) => {
  const tracks = stream ? stream.getVideoTracks() : [];
  if (!tracks.length) return { error: 'no remote video track' };
  const v = document.createElement('video');
  v.muted = true;
  v.srcObject = new MediaStream(tracks);
  await v.play();
  for (let i = 0; i < 50 && !v.videoWidth; i++) await new Promise(r => setTimeout(r, 100));
  await new Promise(r => setTimeout(r, 500));
  const c = document.createElement('canvas');
  c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext('2d');
  g.drawImage(v, 0, 0);
  const d = g.getImageData(0, 0, c.width || 1, c.height || 1).data;
  let r = 0, gr = 0, b = 0, n = 0;
  for (let i = 0; i < d.length; i += 4 * 7) { r += d[i]; gr += d[i + 1]; b += d[i + 2]; n++; }
  const all = await stats();
  const inb = all.find(s => s.type === 'inbound-rtp' && s.kind === 'video') || {};
  const codec = all.find(s => s.id === inb.codecId) || {};
  return { w: v.videoWidth, h: v.videoHeight, r: r / n, g: gr / n, b: b / n,
           frames: inb.framesDecoded || 0, codec: codec.mimeType || '' };
})(STREAM, STATS)";

/// Whether `seen` (from [`REMOTE_VIDEO_JS`]) is frames of one colour: the channel `main`
/// (0 red, 1 green, 2 blue) bright, the other two dark.
fn shows_colour(seen: &Value, main: usize) -> bool {
    let c = [&seen["r"], &seen["g"], &seen["b"]].map(|v| v.as_f64().unwrap_or(-1.0));
    seen["w"].as_u64().unwrap_or(0) > 0
        && seen["frames"].as_u64().unwrap_or(0) > 0
        && (0..3).all(|i| if i == main { c[i] > 150.0 } else { c[i] < 90.0 })
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
