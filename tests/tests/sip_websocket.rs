//! SIP over WebSocket (RFC 7118) against a real `ringside serve`.
//!
//! - A browser softphone: SIP.js 0.21 (npm, loaded as ES modules from a test site) in headless
//!   Chromium registers as extension 1001 over secure WebSocket (the HTTP listener serving
//!   HTTPS with a throw-away certificate) and calls extension 1002, a baresip phone on UDP.
//!   SIP.js offers WebRTC media (ICE, DTLS-SRTP, Opus); Ringside answers it on its WebRTC edge
//!   and bridges it to baresip's PCMU. Both directions are judged as audio: baresip hears the
//!   browser's 1 kHz microphone, the page hears baresip's 400 Hz.
//! - The other way: baresip calls the softphone. Ringside's INVITE reaches SIP.js over its
//!   WebSocket without an offer (a browser takes no plain RTP), SIP.js offers WebRTC in its
//!   200 OK and gets the edge's answer in the ACK; both hear each other.
//! - The WebSocket itself, with a plain client: a page of a foreign origin is refused (403), a
//!   request without the `sip` subprotocol too (400), both counted; an allowed one carries SIP
//!   both ways (a REGISTER challenged 401, a malformed message answered 400 without closing).

mod calls_common;

use std::time::Duration;

use calls_common::tone_file;
use futures_util::{SinkExt, StreamExt};
use ringside_e2e::baresip::{recording, tone_of, wav_samples, Baresip, Link, Options};
use ringside_e2e::browser::Page;
use ringside_e2e::{eventually, Server, PW1, PW2};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// What baresip (1002) plays into the call; the browser plays 1 kHz.
const PHONE_TONE_HZ: u32 = 400;

/// A test site serving SIP.js's ES modules under `/sipjs/` and `page` at `/`; returns its port.
async fn softphone_site(page: String) -> u16 {
    let lib = ringside_e2e::workspace_root().join("target/sipjs/node_modules/sip.js/lib");
    assert!(
        lib.join("index.js").is_file(),
        "SIP.js is installed by tests/run.sh (npm install --prefix target/sipjs sip.js)"
    );
    let app = axum::Router::new()
        .route(
            "/",
            axum::routing::get(move || async move { axum::response::Html(page) }),
        )
        .route(
            "/sipjs/{*path}",
            axum::routing::get(
                move |axum::extract::Path(path): axum::extract::Path<String>| {
                    let lib = lib.clone();
                    async move {
                        if path.contains("..") {
                            return Err(axum::http::StatusCode::NOT_FOUND);
                        }
                        let body = std::fs::read(lib.join(&path))
                            .map_err(|_| axum::http::StatusCode::NOT_FOUND)?;
                        Ok(([("content-type", "text/javascript")], body))
                    }
                },
            ),
        );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    port
}

/// The softphone page: SIP.js registers `user` at the `ws:` or `wss:` URL in its query
/// (`?server=`) and exposes `window.phone` (state, `dial(uri)`, `hangUp()`, the remote
/// stream).
fn softphone_page(user: &str, password: &str) -> String {
    format!(
        r#"<!doctype html><html lang="en"><head><title>Softphone</title><link rel="icon" href="data:,"></head>
<body><h1>Softphone</h1><script type="module">
import {{ UserAgent, Registerer, Inviter }} from '/sipjs/index.js';
const phone = window.phone = {{ registration: 'new', call: 'idle', error: null, remote: null }};
try {{
  const media = {{
    constraints: {{ audio: {{ echoCancellation: false, noiseSuppression: false, autoGainControl: false }}, video: false }},
  }};
  const follow = (session) => {{
    phone.session = session;
    session.stateChange.addListener(s => {{
      phone.call = s;
      if (s === 'Established') {{
        // Chrome pulls a remote WebRTC track only while something plays it.
        phone.remote = session.sessionDescriptionHandler.remoteMediaStream;
        phone.audio = new Audio();
        phone.audio.srcObject = phone.remote;
        phone.audio.play();
      }}
    }});
  }};
  const ua = new UserAgent({{
    uri: UserAgent.makeURI('sip:{user}@127.0.0.1'),
    delegate: {{
      // Auto-answer.
      onInvite: (invitation) => {{
        phone.incoming = (phone.incoming || 0) + 1;
        follow(invitation);
        invitation.accept({{ sessionDescriptionHandlerOptions: media }});
      }},
    }},
    transportOptions: {{ server: new URLSearchParams(location.search).get('server') }},
    authorizationUsername: '{user}',
    authorizationPassword: '{password}',
    logLevel: 'warn',
    sessionDescriptionHandlerFactoryOptions: {{
      iceGatheringTimeout: 500,
      peerConnectionConfiguration: {{ iceServers: [] }},
    }},
  }});
  await ua.start();
  const registerer = new Registerer(ua);
  registerer.stateChange.addListener(s => phone.registration = s);
  await registerer.register();
  phone.dial = async (target) => {{
    const inviter = new Inviter(ua, UserAgent.makeURI(target), {{ sessionDescriptionHandlerOptions: media }});
    follow(inviter);
    await inviter.invite();
  }};
  // A re-INVITE holding (or resuming) the call; resolves with how it was answered.
  phone.hold = (on) => new Promise((resolve) => {{
    phone.session.invite({{
      requestDelegate: {{
        onAccept: () => resolve('accepted'),
        onReject: (r) => resolve('rejected ' + r.message.statusCode),
      }},
      sessionDescriptionHandlerOptions: {{ ...media, hold: on }},
    }}).catch((e) => resolve('failed ' + e));
  }});
  phone.hangUp = async () => {{ await phone.session.bye(); return true; }};
}} catch (e) {{ phone.error = String(e); }}
</script></body></html>"#
    )
}

/// The page's inbound and outbound RTP statistics (for failure messages).
const INBOUND_JS: &str = "(async () => {
  const pc = window.phone.session.sessionDescriptionHandler.peerConnection;
  const out = [pc.connectionState, pc.iceConnectionState];
  (await pc.getStats()).forEach(r => {
    if (r.type === 'inbound-rtp' || r.type === 'outbound-rtp') out.push(r.type + ' ' + (r.packetsReceived ?? r.packetsSent));
  });
  out.push(pc.remoteDescription && pc.remoteDescription.sdp);
  return out.join(' | ');
})()";

/// The page hears baresip's [`PHONE_TONE_HZ`] through the edge, loud enough.
async fn assert_page_hears(page: &mut Page, srv: &Server, phone: &Baresip) {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let heard = page
        .eval(
            &calls_common::REMOTE_TONE_JS
                .replace("window.Ringside.remoteStream", "window.phone.remote"),
        )
        .await;
    let f = heard["freq"].as_f64().unwrap_or(0.0);
    assert!(
        (f - f64::from(PHONE_TONE_HZ)).abs() < 15.0,
        "the page hears baresip's {PHONE_TONE_HZ} Hz: {heard}; page's RTP {}\n== baresip:\n{}\n== server:\n{}",
        page.eval(INBOUND_JS).await,
        phone.log_text(),
        srv.log_text()
    );
    assert!(heard["db"].as_f64().unwrap_or(-200.0) > -60.0, "{heard}");
}

/// What baresip heard (its decode-side recording, complete once it exited) is the browser's
/// 1 kHz microphone.
fn assert_baresip_heard_the_browser(phone: &Baresip) {
    let dec = recording(&phone.snd_dir(), "-dec.wav")
        .unwrap_or_else(|| panic!("baresip recorded what it heard\n{}", phone.log_text()));
    let samples = wav_samples(&dec);
    assert!(samples.len() >= 12_000, "{} samples heard", samples.len());
    // Skip the first half second (the answer, the jitter buffer filling).
    let (hz, peak) = tone_of(&samples[4000..]);
    assert!(
        (900.0..1100.0).contains(&hz),
        "baresip heard {hz:.0} Hz, not the browser's 1000 Hz ({})",
        dec.display()
    );
    assert!(peak >= 2000, "baresip heard it loud enough: peak {peak}");
}

/// Wait until the page's SIP.js registered (or failed).
async fn registered(page: &mut Page, srv: &Server) {
    let state = page
        .eval_until(
            "window.phone && (window.phone.error || window.phone.registration)",
            |v| v == "Registered" || v.as_str().is_some_and(|s| s.contains("Error")),
        )
        .await;
    assert_eq!(
        state,
        "Registered",
        "SIP.js registered; server log:\n{}",
        srv.log_text()
    );
}

/// Wait until 1001's registration is stored with `transport`.
async fn stored_over(srv: &Server, token: &str, transport: &str) {
    eventually(
        &format!("1001's registration is stored as a {transport} one"),
        || async {
            let (st, exts) = srv.api("GET", "/api/v1/sip/extensions", token, None).await;
            st == 200
                && exts.as_array().is_some_and(|a| {
                    a.iter().any(|e| {
                        e["username"] == "1001" && e["registrations"][0]["transport"] == transport
                    })
                })
        },
    )
    .await;
}

/// Challenge `ext` in MD5 alone: SIP.js and baresip 1.0 answer nothing else.
async fn md5_only(srv: &Server, token: &str, ext: &str) {
    let body = srv
        .patch_extension(token, ext, serde_json::json!({"digestAlgorithms": ["MD5"]}))
        .await;
    assert_eq!(body["digestAlgorithms"], serde_json::json!(["MD5"]));
}

#[tokio::test]
async fn sipjs_in_chromium_registers_over_wss_and_calls_baresip_and_each_hears_the_other() {
    let WssRig {
        srv,
        token,
        mut phone,
        origin,
        dir,
    } = wss_rig(&["127.0.0.1", "localhost"], &[]).await;
    let wss = format!("{}/sip", srv.http.replacen("https://", "wss://", 1));

    let tone = tone_file();
    let browser = chromium_tls(&tone).await;
    let mut page = browser.open(&format!("{origin}/?server={wss}")).await;
    registered(&mut page, &srv).await;
    assert_eq!(srv.metric("ringside_sip_ws_connections", "").await, 1.0);
    stored_over(&srv, &token, "wss").await;

    page.eval("window.phone.dial('sip:1002@127.0.0.1')").await;
    let state = page
        .eval_until("window.phone.call", |v| {
            v == "Established" || v == "Terminated"
        })
        .await;
    assert_eq!(
        state,
        "Established",
        "the call is up; error {:?}\n== baresip:\n{}\n== server:\n{}",
        page.eval("window.phone.error").await,
        phone.log_text(),
        srv.log_text()
    );
    assert_page_hears(&mut page, &srv, &phone).await;
    // The softphone holds and resumes with re-INVITEs carrying WebRTC SDP: both answered,
    // and the edge session carries on (the page hears baresip again).
    assert_eq!(page.eval("window.phone.hold(true)").await, "accepted");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(page.eval("window.phone.hold(false)").await, "accepted");
    assert_page_hears(&mut page, &srv, &phone).await;
    page.eval("window.phone.hangUp()").await;
    eventually("the call ended", || async {
        srv.metric("ringside_calls_active", "").await == 0.0
    })
    .await;
    phone.stop().await;
    assert_baresip_heard_the_browser(&phone);
    // No edge session is left once the call is over.
    eventually("the edge session closed", || async {
        srv.metric("ringside_webrtc_sessions", "").await == 0.0
    })
    .await;
    let _ = std::fs::remove_file(&tone);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn baresip_calls_a_sipjs_softphone_over_ws_which_answers_and_each_hears_the_other() {
    let site_port = softphone_site(softphone_page("1001", PW1)).await;
    let origin = format!("http://127.0.0.1:{site_port}");
    let srv = Server::start_with(&[("RINGSIDE_SIP_WS_ORIGINS", &origin)]).await;
    let token = srv.with_phones().await;
    md5_only(&srv, &token, "1001").await;
    md5_only(&srv, &token, "1002").await;
    let tone = tone_file();
    let browser = chromium_tls(&tone).await;
    let ws = format!("{}/sip", srv.http.replacen("http://", "ws://", 1));
    let mut page = browser.open(&format!("{origin}/?server={ws}")).await;
    registered(&mut page, &srv).await;
    stored_over(&srv, &token, "ws").await;

    // baresip dials the softphone: Ringside's INVITE reaches it over its WebSocket without an
    // offer; SIP.js offers WebRTC in its 200 OK and gets the edge's answer in the ACK.
    let mut phone = Baresip::start_with(
        &srv,
        "1002",
        PW2,
        &Link::Udp,
        Options {
            tone_hz: PHONE_TONE_HZ,
            dial: Some(format!("sip:1001@{}", srv.sip)),
            ..Options::default()
        },
    );
    let state = page
        .eval_until("window.phone.call", |v| {
            v == "Established" || v == "Terminated"
        })
        .await;
    assert_eq!(
        state,
        "Established",
        "the softphone answered\n== baresip:\n{}\n== server:\n{}",
        phone.log_text(),
        srv.log_text()
    );
    assert_eq!(page.eval("window.phone.incoming").await, 1);
    // SIP.js is Established as it sends its 200 OK, before Ringside has read it.
    eventually("the softphone's offer came in its answer", || async {
        srv.log_text()
            .contains("WebRTC media on the edge (offer in the answer)")
    })
    .await;
    assert_page_hears(&mut page, &srv, &phone).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // baresip hangs up as it exits.
    phone.stop().await;
    eventually("the call ended", || async {
        srv.metric("ringside_calls_active", "").await == 0.0
    })
    .await;
    assert_eq!(
        page.eval_until("window.phone.call", |v| v == "Terminated")
            .await,
        "Terminated"
    );
    assert_baresip_heard_the_browser(&phone);
    eventually("the edge session closed", || async {
        srv.metric("ringside_webrtc_sessions", "").await == 0.0
    })
    .await;
    let _ = std::fs::remove_file(&tone);
}

/// Chromium with the fake microphone playing `tone`, taking the test server's certificate.
async fn chromium_tls(tone: &std::path::Path) -> ringside_e2e::browser::Browser {
    ringside_e2e::browser::Browser::launch(&[
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        &format!("--use-file-for-fake-audio-capture={}", tone.display()),
        "--allow-loopback-in-peer-connection",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
        "--autoplay-policy=no-user-gesture-required",
        "--ignore-certificate-errors",
    ])
    .await
}

/// Open the SIP WebSocket with `origin` and `protocol` (if any); the upgrade's status and,
/// when it opened, the socket.
async fn open_ws(
    srv: &Server,
    origin: Option<&str>,
    protocol: Option<&str>,
) -> (
    u16,
    Option<
        tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
    >,
) {
    let url = format!("{}/sip", srv.http.replacen("http://", "ws://", 1));
    let mut req = url.into_client_request().unwrap();
    if let Some(o) = origin {
        req.headers_mut().insert("origin", o.parse().unwrap());
    }
    if let Some(p) = protocol {
        req.headers_mut()
            .insert("sec-websocket-protocol", p.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, resp)) => {
            assert_eq!(
                resp.headers()
                    .get("sec-websocket-protocol")
                    .and_then(|v| v.to_str().ok()),
                Some("sip"),
                "the server chose the sip subprotocol"
            );
            (resp.status().as_u16(), Some(ws))
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => (resp.status().as_u16(), None),
        Err(e) => panic!("websocket: {e}"),
    }
}

#[tokio::test]
async fn the_sip_websocket_refuses_foreign_pages_and_carries_sip_for_allowed_ones() {
    let srv = Server::start_with(&[("RINGSIDE_SIP_WS_ORIGINS", "https://phone.example.com")]).await;
    srv.with_phones().await;
    let refused = || async { srv.metric("ringside_sip_ws_refused_total", "").await };

    // A page of another site is refused before the upgrade, with a JSON error.
    let (st, ws) = open_ws(&srv, Some("https://evil.example.net"), Some("sip")).await;
    assert_eq!((st, ws.is_none()), (403, true));
    let resp = ringside_e2e::http_client()
        .get(format!("{}/sip", srv.http))
        .header("origin", "https://evil.example.net")
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("sec-websocket-protocol", "sip")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "origin_not_allowed", "{body}");
    // No `sip` subprotocol: refused too.
    let (st, _) = open_ws(&srv, Some("https://phone.example.com"), Some("chat")).await;
    assert_eq!(st, 400);
    assert_eq!(refused().await, 3.0);
    assert_eq!(srv.metric("ringside_sip_ws_connections", "").await, 0.0);

    // The listed origin, and Ringside's own, open it.
    let (st, own) = open_ws(&srv, Some(&srv.http), Some("sip")).await;
    assert_eq!(st, 101);
    drop(own);
    let (st, ws) = open_ws(&srv, Some("https://phone.example.com"), Some("sip")).await;
    assert_eq!(st, 101);
    let mut ws = ws.unwrap();
    // A REGISTER over it is challenged, on the same connection.
    let register = "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
        Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bKws1\r\n\
        Max-Forwards: 70\r\nTo: <sip:1001@127.0.0.1>\r\nFrom: <sip:1001@127.0.0.1>;tag=ws1\r\n\
        Call-ID: ws-register-1\r\nCSeq: 1 REGISTER\r\n\
        Contact: <sip:1001@df7jal23ls0d.invalid;transport=ws>;expires=300\r\n\
        Content-Length: 0\r\n\r\n";
    ws.send(Message::text(register)).await.unwrap();
    let reply = next_text(&mut ws).await;
    assert!(reply.starts_with("SIP/2.0 401"), "{reply}");
    assert!(reply.contains("WWW-Authenticate"), "{reply}");
    assert!(reply.contains("branch=z9hG4bKws1"), "{reply}");
    // A malformed request is answered 400 and the connection stays.
    let bad = "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/WS x.invalid;branch=z9hG4bKws2\r\n\
        To: <sip:127.0.0.1>\r\nFrom: <sip:1001@127.0.0.1>;tag=ws2\r\n\
        Call-ID: ws-bad\r\nCSeq: one OPTIONS\r\nContent-Length: 0\r\n\r\n";
    ws.send(Message::text(bad)).await.unwrap();
    let reply = next_text(&mut ws).await;
    assert!(reply.starts_with("SIP/2.0 400"), "{reply}");
    assert!(reply.contains("Call-ID: ws-bad"), "{reply}");
    ws.send(Message::text(register.replace("ws1", "ws3")))
        .await
        .unwrap();
    let reply = next_text(&mut ws).await;
    assert!(reply.starts_with("SIP/2.0 401"), "{reply}");
    eventually("one SIP WebSocket open", || async {
        srv.metric("ringside_sip_ws_connections", "").await == 1.0
    })
    .await;
    drop(ws);
    eventually("the closed connection left the table", || async {
        srv.metric("ringside_sip_ws_connections", "").await == 0.0
    })
    .await;
}

/// The next text message on `ws` (SIP), skipping pings.
async fn next_text(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> String {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return t.to_string(),
            Ok(Some(Ok(Message::Binary(b)))) => return String::from_utf8_lossy(&b).into_owned(),
            Ok(Some(Ok(_))) => continue,
            other => panic!("no SIP message: {other:?}"),
        }
    }
}

/// A WebSocket phone is reached on its connection alone, which ends with the process: after a
/// restart its stored binding is not restored (the phone registers again on a new
/// connection), while a UDP phone's is.
#[tokio::test]
async fn after_a_restart_a_websocket_phones_binding_waits_for_its_next_register() {
    let mut srv = Server::start().await;
    srv.with_phones().await;
    let (ok, log) = srv
        .register("1002", PW2, ringside_e2e::free_port(), 200, &[])
        .await;
    assert!(ok, "1002 registers over UDP: {log}");
    let (st, ws) = open_ws(&srv, Some(&srv.http), Some("sip")).await;
    assert_eq!(st, 101);
    let mut ws = ws.unwrap();
    let register = |cseq: u32, auth: &str| {
        format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/WS restart.invalid;branch=z9hG4bKwsr{cseq}\r\n\
             Max-Forwards: 70\r\nTo: <sip:1001@127.0.0.1>\r\nFrom: <sip:1001@127.0.0.1>;tag=wsr\r\n\
             Call-ID: ws-restart\r\nCSeq: {cseq} REGISTER\r\n\
             Contact: <sip:1001@restart.invalid;transport=ws>;expires=600\r\n\
             {auth}Content-Length: 0\r\n\r\n"
        )
    };
    ws.send(Message::text(register(1, ""))).await.unwrap();
    let challenge = next_text(&mut ws).await;
    let value = challenge
        .lines()
        .find_map(|l| l.strip_prefix("WWW-Authenticate: "))
        .unwrap_or_else(|| panic!("a challenge: {challenge}"));
    let auth = ringside_sip::auth::client_authorization(
        value,
        "REGISTER",
        "sip:127.0.0.1",
        "1001",
        PW1,
        1,
        "a1b2c3d4",
    )
    .unwrap();
    ws.send(Message::text(register(
        2,
        &format!("Authorization: {auth}\r\n"),
    )))
    .await
    .unwrap();
    let ok = next_text(&mut ws).await;
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    assert_eq!(srv.metric("ringside_sip_registrations", "").await, 2.0);

    assert!(srv.terminate().success());
    drop(ws);
    let dir = srv.data_dir.clone();
    drop(srv);
    let srv = Server::start_in(dir, &[]).await;
    assert_eq!(
        srv.metric("ringside_sip_registrations", "").await,
        1.0,
        "the UDP phone's binding alone"
    );
    assert!(
        srv.log_text().contains("websocket_skipped=1"),
        "{}",
        srv.log_text()
    );
}

/// A Ringside serving HTTPS (and so WSS) with a certificate for `names` from a throw-away
/// CA, plus `extra` environment; the softphone's site, whose origin it allows; extensions
/// 1001 and 1002 challenged in MD5 (SIP.js, baresip 1.0); and baresip registered as 1002
/// playing [`PHONE_TONE_HZ`].
struct WssRig {
    srv: Server,
    token: String,
    phone: Baresip,
    origin: String,
    /// The certificate's directory (removed at the end of the test).
    dir: std::path::PathBuf,
}

async fn wss_rig(names: &[&str], extra: &[(&str, &str)]) -> WssRig {
    let site_port = softphone_site(softphone_page("1001", PW1)).await;
    let pki = ringside_e2e::tls::Pki::new("Ringside WSS test CA");
    let (cert, key) = pki.leaf(names, false);
    let dir = std::env::temp_dir().join(format!(
        "ringside-wss-{}-{}",
        std::process::id(),
        calls_common::rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert).unwrap();
    std::fs::write(&key_path, key).unwrap();
    let origin = format!("http://127.0.0.1:{site_port}");
    let mut env = vec![
        ("RINGSIDE_HTTP_TLS", "true"),
        ("RINGSIDE_TLS_CERT", cert_path.to_str().unwrap()),
        ("RINGSIDE_TLS_KEY", key_path.to_str().unwrap()),
        ("RINGSIDE_SIP_WS_ORIGINS", origin.as_str()),
    ];
    env.extend_from_slice(extra);
    let srv = Server::start_with(&env).await;
    assert!(srv.http.starts_with("https://"), "{}", srv.http);
    let token = srv.with_phones().await;
    md5_only(&srv, &token, "1001").await;
    md5_only(&srv, &token, "1002").await;
    let phone = Baresip::start_with(
        &srv,
        "1002",
        PW2,
        &Link::Udp,
        Options {
            tone_hz: PHONE_TONE_HZ,
            ..Options::default()
        },
    );
    eventually("baresip registered", || async {
        srv.metric("ringside_sip_registrations", "").await >= 1.0
    })
    .await;
    WssRig {
        srv,
        token,
        phone,
        origin,
        dir,
    }
}

/// The browser softphone over IPv6: SIP.js in Chromium registers over `wss://[::1]` (the HTTP
/// listener on `::1` serving HTTPS), its WebRTC media meets the edge on `[::1]`, and it calls
/// baresip registered over UDP on `::1`; each hears the other.
#[tokio::test]
async fn sipjs_registers_over_wss_on_ipv6_and_calls_baresip_and_each_hears_the_other() {
    let free = ringside_e2e::free_port;
    let (sip, http, webrtc) = (
        format!("[::1]:{}", free()),
        format!("[::1]:{}", free()),
        format!("[::1]:{}", free()),
    );
    let on_ipv6 = [
        ("RINGSIDE_SIP_ADDR", sip.as_str()),
        ("RINGSIDE_HTTP_ADDR", http.as_str()),
        ("RINGSIDE_WEBRTC_ADDR", webrtc.as_str()),
    ];
    let WssRig {
        srv,
        token,
        mut phone,
        origin,
        dir,
    } = wss_rig(&["::1", "localhost"], &on_ipv6).await;
    assert!(srv.http.starts_with("https://[::1]:"), "{}", srv.http);
    let wss = format!("{}/sip", srv.http.replacen("https://", "wss://", 1));
    let tone = tone_file();
    let browser = chromium_tls(&tone).await;
    let mut page = browser.open(&format!("{origin}/?server={wss}")).await;
    registered(&mut page, &srv).await;
    stored_over(&srv, &token, "wss").await;
    page.eval(&format!("window.phone.dial('sip:1002@{}')", srv.sip))
        .await;
    let state = page
        .eval_until("window.phone.call", |v| {
            v == "Established" || v == "Terminated"
        })
        .await;
    assert_eq!(
        state,
        "Established",
        "the call is up; error {:?}\n== baresip:\n{}\n== server:\n{}",
        page.eval("window.phone.error").await,
        phone.log_text(),
        srv.log_text()
    );
    assert_page_hears(&mut page, &srv, &phone).await;
    // The browser's media reached the edge over IPv6: the edge's candidate is `::1`.
    let remote = page.eval(INBOUND_JS).await.to_string();
    assert!(
        remote.contains(" ::1 ") && remote.contains("typ host"),
        "{remote}"
    );
    page.eval("window.phone.hangUp()").await;
    eventually("the call ended", || async {
        srv.metric("ringside_calls_active", "").await == 0.0
    })
    .await;
    phone.stop().await;
    assert_baresip_heard_the_browser(&phone);
    let _ = std::fs::remove_file(&tone);
    let _ = std::fs::remove_dir_all(&dir);
}
