//! A Firefox ESR visitor holds a call for a minute, audio judged both ways throughout.
//!
//! Firefox sends its ICE consent checks about every 5 s (Chromium about every 2.5 s) and
//! offers no loopback candidates, so it runs in a network namespace of its own
//! ([`ringside_e2e::firefox`]): Ringside's HTTP and WebRTC addresses are on the host side of
//! a veth pair, the site embedding the widget too. The phone is a sipp extension on loopback
//! whose media is this test's UDP endpoint: it plays 400 Hz, which the page must hear at the
//! start, the middle and the end of the minute; the phone must hear Firefox's fake
//! microphone (a 1 kHz sine) over the whole minute. Ringside must not hang up: the visitor
//! does, after 60 s, and the record says so.

mod calls_common;

use std::net::SocketAddr;
use std::time::Duration;

use calls_common::{assign, widget_site_on};
use ringside_e2e::firefox::{Firefox, Netns};
use ringside_e2e::media::{long_callee, read_port, Endpoint};
use ringside_e2e::{free_port, Server};
use ringside_media::codec::analysis::{dominant_frequency, rms_dbfs};
use ringside_media::codec::frame::CodecKind;
use serde_json::Value;

const CALL_SECS: u64 = 60;

#[tokio::test]
async fn firefox_esr_holds_a_minute_long_call_with_audio_both_ways() {
    let ns = Netns::create();
    let host = ns.host_ip;
    let http = format!("{host}:{}", free_port());
    let rtc = format!("{host}:{}", free_port());
    let srv = Server::start_with(&[
        ("RINGSIDE_HTTP_ADDR", http.as_str()),
        ("RINGSIDE_WEBRTC_ADDR", rtc.as_str()),
    ])
    .await;
    let sip_token = srv.with_phones().await;
    let token = srv.token(
        "owner@example.com",
        "widgets:read,widgets:write,calls:read,sip:read",
    );

    // The widget, allowed on a site served on the veth address.
    let host_name = host.to_string();
    let (widget, site_port) = widget_site_on(&srv, &token, host, &host_name).await;
    assign(&srv, &sip_token, "1002", &widget).await;

    let (phone, phone_port) = Endpoint::bind().await;
    let (callee, mut callee_child) = long_callee(
        &srv,
        CodecKind::Pcmu,
        phone_port,
        1000,
        CALL_SECS as u32 + 60,
    )
    .await;

    // getUserMedia needs a secure context: the veth address is declared one.
    let allow = format!("{:?}", host.to_string());
    let mut ff = Firefox::launch(&ns, &[("dom.securecontext.allowlist", allow.as_str())]).await;
    ff.open(&format!("http://{host}:{site_port}/")).await;
    let connected = ff
        .eval_until(
            "window.Ringside && window.Ringside.connected === true",
            |v| v == &Value::Bool(true),
        )
        .await;
    assert_eq!(
        connected,
        Value::Bool(true),
        "the widget connects; firefox log:\n{}",
        ff.log_text()
    );
    // Keep the answer's SDP for the failure report.
    ff.eval("(() => { const o = RTCPeerConnection.prototype.setRemoteDescription; RTCPeerConnection.prototype.setRemoteDescription = function (d) { window.__answer = d && d.sdp; return o.apply(this, arguments); }; return true; })()").await;
    ff.eval("window.Ringside.call({name: 'Fox'})").await;
    let state = ff
        .eval_until("window.Ringside.callState", |v| {
            v == "answered" || v == "ended" || v == "unavailable"
        })
        .await;
    assert_eq!(
        state,
        "answered",
        "error: {:?}; server log:\n{}",
        ff.eval("window.Ringside.callError").await,
        srv.log_text()
    );
    let call_id = ff.eval("window.Ringside.callId").await;
    let call_id = call_id.as_str().expect("call id").to_owned();

    // The phone talks 400 Hz for the whole minute (and a little more).
    let b_to = SocketAddr::from(([127, 0, 0, 1], read_port(callee.dir(), "b_port.txt").await));
    let frames = (CALL_SECS as usize + 5) * 50;
    let talking = phone.talk(b_to, CodecKind::Pcmu, 0, 400.0, frames);
    let started = tokio::time::Instant::now();
    let mut readings = Vec::new();
    for at in [3, CALL_SECS / 2, CALL_SECS - 5] {
        tokio::time::sleep_until(started + Duration::from_secs(at)).await;
        let state = ff.eval("window.Ringside.callState").await;
        if state != "answered" {
            let ice = ice_report(&ff.eval("window.Ringside.stats()").await);
            panic!(
                "the call is {state} after {at} s; ICE:\n{ice}\nthe answer: {}\nserver log:\n{}",
                ff.eval("window.__answer").await,
                srv.log_text()
            );
        }
        // Headless Firefox has no audio output, so no AudioContext: what the page receives
        // is recorded (MediaRecorder, Ogg Opus) and judged here.
        let pcm = ff.record_remote(2000).await;
        let (f, db) = if pcm.len() >= 48_000 {
            let tail = &pcm[pcm.len() / 4..];
            (dominant_frequency(tail, 48_000), rms_dbfs(tail))
        } else {
            (0.0, -200.0)
        };
        readings.push((at, pcm.len(), f, db));
    }
    for (at, n, f, db) in &readings {
        assert!(
            (f - 400.0).abs() < 15.0 && *db > -40.0,
            "after {at} s the page hears {f} Hz at {db} dBFS in {n} samples \
             (all readings: {readings:?})"
        );
    }
    tokio::time::sleep_until(started + Duration::from_secs(CALL_SECS)).await;
    assert_eq!(ff.eval("window.Ringside.callState").await, "answered");

    // What the phone heard: Firefox's tone in every 10 s stretch of the minute.
    let pcm = phone.decoded(CodecKind::Pcmu, 0);
    assert!(
        pcm.len() >= 8000 * (CALL_SECS as usize - 5),
        "the phone got {} s of audio",
        pcm.len() / 8000
    );
    for (k, part) in pcm.chunks(8000 * 10).enumerate() {
        if part.len() < 8000 * 2 {
            continue;
        }
        let (f, db) = (dominant_frequency(part, 8000), rms_dbfs(part));
        assert!(
            (f - 1000.0).abs() < 15.0 && db > -45.0,
            "seconds {}..{}: the phone hears {f} Hz at {db} dBFS",
            k * 10,
            k * 10 + part.len() / 8000
        );
    }

    ff.eval("window.Ringside.hangup()").await;
    ff.eval_until("window.Ringside.callState", |v| v == "ended")
        .await;
    talking.abort();
    let _ = tokio::time::timeout(Duration::from_secs(10), callee_child.wait()).await;
    let call = srv.ended_call(&token).await;
    assert_eq!(call["id"], call_id.as_str(), "{call}");
    assert_eq!(call["status"], "ended", "{call}");
    assert_eq!(call["endReason"], "hangup", "{call}");
    assert_eq!(call["hangupSide"], "caller", "{call}");
    assert!(
        call["durationMs"].as_i64().unwrap_or(0) >= CALL_SECS as i64 * 1000,
        "{call}"
    );
    assert_eq!(srv.metric("ringside_webrtc_connected_total", "").await, 1.0);
    drop(ff);
}

/// The ICE part of the page's `getStats()`: candidates and candidate pairs, one per line.
fn ice_report(stats: &Value) -> String {
    stats
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|s| {
                    let t = s["type"].as_str().unwrap_or("");
                    t.contains("candidate") || t == "transport"
                })
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}
