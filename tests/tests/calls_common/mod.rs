//! What the browser-call end-to-end tests share: Chromium with fake devices (tone WAVs, colour
//! Y4M clips), a widget on a test site, the console page, a trusted PBX, listening to a page's
//! remote audio and video, and the no-leak check through the metrics.
#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use ringside_e2e::browser::{site_on, Browser, Page};
use ringside_e2e::media::Endpoint;
use ringside_e2e::{eventually, Server};
use serde_json::{json, Value};

/// A 1 kHz tone WAV for Chromium's fake microphone (48 kHz mono, amplitude 0.3, 20 s).
pub fn tone_file() -> PathBuf {
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
pub fn rand_suffix() -> u64 {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Chromium with the fake microphone; loopback ICE candidates allowed, no mDNS hiding.
pub async fn chromium(tone: &std::path::Path) -> Browser {
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
pub async fn widget_site(srv: &Server, token: &str) -> (String, u16) {
    widget_site_on(srv, token, Ipv4Addr::LOCALHOST, "localhost").await
}

/// [`widget_site`] with the site listening on `ip`, allowed as `host`.
pub async fn widget_site_on(srv: &Server, token: &str, ip: Ipv4Addr, host: &str) -> (String, u16) {
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
    let port = site_on(ip, tag).await;
    let (st, body) = srv
        .api(
            "PATCH",
            &format!("/api/v1/widgets/{widget}"),
            token,
            Some(json!({"allowedDomains": [format!("{host}:{port}")]})),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    (widget, port)
}

/// Assign extension `user` to `widget` (it becomes one of the widget's ring targets).
pub async fn assign(srv: &Server, token: &str, user: &str, widget: &str) {
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

pub async fn open_widget(browser: &Browser, port: u16) -> Page {
    let mut page = browser.open(&format!("http://localhost:{port}/")).await;
    page.eval_until(
        "window.Ringside && window.Ringside.connected === true",
        |v| v == &Value::Bool(true),
    )
    .await;
    page
}

/// The dominant frequency and level of what the page receives, through Web Audio.
pub const REMOTE_TONE_JS: &str = "(async () => {
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
pub async fn console_for(srv: &Server, browser: &Browser, token: &str, widget: &str) -> Page {
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
pub async fn pbx_trunk(srv: &Server, token: &str) {
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
pub fn pbx_dials(
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
pub async fn hear(page: &mut Page, js: &str, want: f64) -> Value {
    let mut heard = Value::Null;
    for _ in 0..8 {
        heard = page.eval(js).await;
        if (heard["freq"].as_f64().unwrap_or(0.0) - want).abs() < 15.0 {
            break;
        }
    }
    heard
}

/// A trunk towards a carrier on loopback `port`, dialling North American numbers.
pub async fn carrier_trunk(srv: &Server, token: &str, port: u16) {
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

pub async fn call_settings(srv: &Server, token: &str, widget: &str, settings: Value) {
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

pub const CALL_JS: &str = "window.Ringside.call({name: 'Ada', audio: {echoCancellation: false, noiseSuppression: false, autoGainControl: false}})";

/// Poll until `ep` has received at least `n` packets (bounded).
pub async fn received(ep: &Endpoint, n: usize) {
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
pub async fn nothing_left(srv: &Server, free_ports: f64) {
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

/// A tone WAV of `freq` for a fake microphone.
pub fn tone_file_of(freq: f64) -> PathBuf {
    // One file per call: tests run in parallel and each removes its own files at the end (a
    // shared name let one test delete another's microphone mid-call: silence).
    let path = std::env::temp_dir().join(format!(
        "ringside-tone-{}-{freq}-{}.wav",
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
    for s in ringside_media::codec::analysis::tone(freq, 48000, 0.3, 48000 * 20) {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
    path
}

/// A Y4M clip of one solid colour (Y, Cb, Cr; full range) for Chromium's fake camera:
/// 320x240 at 30 frames/s, one second, looped by Chromium.
pub fn colour_clip(name: &str, yuv: (u8, u8, u8)) -> PathBuf {
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
pub async fn chromium_with_camera(tone: &std::path::Path, clip: &std::path::Path) -> Browser {
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
pub const REMOTE_VIDEO_JS: &str = "(async (stream, stats) => {
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
pub fn shows_colour(seen: &Value, main: usize) -> bool {
    let c = [&seen["r"], &seen["g"], &seen["b"]].map(|v| v.as_f64().unwrap_or(-1.0));
    seen["w"].as_u64().unwrap_or(0) > 0
        && seen["frames"].as_u64().unwrap_or(0) > 0
        && (0..3).all(|i| if i == main { c[i] > 150.0 } else { c[i] < 90.0 })
}
