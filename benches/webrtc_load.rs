//! WebRTC load generator: `CALLS` browser-like calls (the Rust offerer of
//! `ringside_media::webrtc::client`) to a running Ringside over the widget socket, each sending
//! a 1 kHz Opus tone once answered; the SIP side (a sipp extension with `-rtp_echo`) sends the
//! audio back, so every packet crosses Opus→PCMU and PCMU→Opus transcoding twice.
//!
//! Per call it measures: `call.start` → `call.answer` (the edge's SDP answer),
//! `call.start` → `call.started` (the core has forked: the INVITE has left), `call.answered` →
//! the first echoed 1 kHz frame back at the client (answer to media flowing, one round trip;
//! counted from ICE+DTLS up when that comes after the answer, as sipp answers at once),
//! `call.start` → ICE+DTLS connected,
//! and the packets received in a steady window against those expected from their sequence
//! numbers (RFC 3550 A.3: highest - first + 1), i.e. loss.
//!
//!   webrtc_load <http base> <widget id> <widget key> <origin> <calls> <hold secs>
//!   webrtc_load echo <addr>      (the answering extension's RTP echo)
//!
//! Prints one line of results; `benches/webrtc_load.sh` drives it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use ringside_media::codec::analysis::{dominant_frequency, tone};
use ringside_media::codec::frame::{CodecKind, FrameDecoder, FrameEncoder};
use ringside_media::codec::opus::EncoderOptions;
use ringside_media::webrtc::client::ClientPeer;
use serde_json::{json, Value};
use tokio::net::UdpSocket;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Default, Clone)]
struct Outcome {
    answered: bool,
    answer_sdp_ms: Option<f64>,
    started_ms: Option<f64>,
    media_ms: Option<f64>,
    connected_ms: Option<f64>,
    /// Frames received after the answer before the first echoed tone frame, and when the
    /// first of them came (ms after answer/connect): tells a slow path from a silent one.
    frames_before_media: u32,
    first_frame_ms: Option<f64>,
    /// When the offer went (Unix ms, to line up with the server's log), when the call was
    /// answered (ms after the offer) and when the first tone frame was sent (ms after
    /// answer/connect).
    offer_unix_ms: u128,
    answered_ms: Option<f64>,
    first_sent_ms: Option<f64>,
    expected: u64,
    received: u64,
    error: Option<String>,
}

/// One second of the tone, Opus-encoded once (50 frames of 20 ms), sent in a loop.
fn tone_frames() -> Vec<Vec<u8>> {
    let mut enc = FrameEncoder::new(CodecKind::Opus, 8000, EncoderOptions::default()).unwrap();
    let pcm = tone(1000.0, 8000, 0.3, 8000);
    let mut out = [0u8; 1500];
    pcm.chunks(160)
        .map(|f| {
            let n = enc.encode(f, &mut out).unwrap();
            out[..n].to_vec()
        })
        .collect()
}

async fn one_call(
    i: usize,
    ws_url: String,
    origin: String,
    hold: Duration,
    frames: Arc<Vec<Vec<u8>>>,
) -> Outcome {
    let mut o = Outcome::default();
    let mut req = match ws_url.as_str().into_client_request() {
        Ok(r) => r,
        Err(e) => {
            o.error = Some(e.to_string());
            return o;
        }
    };
    req.headers_mut()
        .insert("Origin", origin.parse().expect("origin header"));
    let (mut ws, _) = match tokio_tungstenite::connect_async(req).await {
        Ok(x) => x,
        Err(e) => {
            o.error = Some(format!("ws {i}: {e}"));
            return o;
        }
    };
    let _ready = ws.next().await;
    // The socket is read by a task of its own: polled beside the RTP socket and the 20 ms
    // tick, every poll of the WebSocket stream zero-fills tungstenite's 128 KiB read buffer
    // (snapview/tungstenite-rs#547), which took a third of the generator's CPU and starved
    // the server under test on a 2-core machine.
    let (mut ws, mut ws_read) = ws.split();
    let (ws_in_tx, mut ws_in) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(m) = ws_read.next().await {
            if ws_in_tx.send(m).is_err() {
                break;
            }
        }
    });
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = udp.local_addr().unwrap();
    let (mut peer, offer) = ClientPeer::offer(Instant::now(), local).unwrap();
    let t0 = Instant::now();
    o.offer_unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let start = json!({"type": "call.start", "sdp": offer, "name": format!("load {i}")});
    if ws
        .send(Message::Text(start.to_string().into()))
        .await
        .is_err()
    {
        o.error = Some("ws send".into());
        return o;
    }
    let mut buf = vec![0u8; 2048];
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut answered_at: Option<Instant> = None;
    let mut connected_at: Option<Instant> = None;
    let mut seq: u16 = 0;
    let mut decoder = FrameDecoder::new(CodecKind::Opus, 8000).unwrap();
    let mut pcm = vec![0i16; 5760];
    let mut window: Option<(Instant, Instant)> = None;
    let mut first_seq: Option<u64> = None;
    let mut last_seq: Option<u64> = None;
    let deadline = Instant::now() + hold + Duration::from_secs(30);
    loop {
        let wake = peer
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
        tokio::select! {
            m = ws_in.recv() => {
                let Some(Ok(Message::Text(t))) = m else { o.error = Some("ws closed".into()); break };
                let v: Value = serde_json::from_str(t.as_str()).unwrap_or(Value::Null);
                let ms = t0.elapsed().as_secs_f64() * 1000.0;
                match v["type"].as_str() {
                    Some("call.answer") => {
                        o.answer_sdp_ms = Some(ms);
                        if let Err(e) = peer.set_answer(Instant::now(), v["sdp"].as_str().unwrap_or("")) {
                            o.error = Some(e.to_string());
                            break;
                        }
                    }
                    Some("call.started") => o.started_ms = Some(ms),
                    Some("call.answered") => {
                        o.answered = true;
                        o.answered_ms = Some(ms);
                        let now = Instant::now();
                        answered_at = Some(now);
                        window = Some((now + Duration::from_secs(3), now + Duration::from_secs(3) + hold));
                    }
                    Some("call.ended") | Some("call.error") => {
                        if !o.answered || window.is_some_and(|(_, e)| Instant::now() < e) {
                            o.error = Some(format!("ended early: {v}"));
                        }
                        break;
                    }
                    _ => {}
                }
            }
            r = udp.recv_from(&mut buf) => {
                if let Ok((n, from)) = r {
                    peer.handle_datagram(Instant::now(), from, &buf[..n]);
                }
            }
            _ = tick.tick() => {
                if answered_at.is_some() && peer.is_connected() {
                    if let (None, Some(from)) = (o.first_sent_ms, media_from(answered_at, connected_at)) {
                        o.first_sent_ms = Some(from.elapsed().as_secs_f64() * 1000.0);
                    }
                    let f = &frames[usize::from(seq) % frames.len()];
                    peer.send_rtp(Instant::now(), seq, u32::from(seq) * 960, f);
                    seq = seq.wrapping_add(1);
                }
            }
            _ = tokio::time::sleep_until(wake.into()) => peer.handle_timeout(Instant::now()),
        }
        let now = Instant::now();
        if o.connected_ms.is_none() && peer.is_connected() {
            o.connected_ms = Some(t0.elapsed().as_secs_f64() * 1000.0);
            connected_at = Some(now);
        }
        let media_from = media_from(answered_at, connected_at);
        while let Some(r) = peer.poll_rtp() {
            if let Some((ws_start, ws_end)) = window {
                if now >= ws_start && now < ws_end {
                    // RFC 3550 A.3: expected = highest - first sequence + 1 in the window.
                    let ext = match last_seq {
                        None => u64::from(r.sequence) + (1 << 16),
                        Some(l) => {
                            let cycle = l & !0xffff;
                            let cand = cycle | u64::from(r.sequence);
                            if cand + 0x8000 < l {
                                cand + (1 << 16)
                            } else if cand > l + 0x8000 {
                                cand - (1 << 16)
                            } else {
                                cand
                            }
                        }
                    };
                    first_seq.get_or_insert(ext);
                    last_seq = Some(last_seq.map_or(ext, |l: u64| l.max(ext)));
                    o.received += 1;
                }
            }
            if let (Some(at), None) = (media_from, o.media_ms) {
                o.frames_before_media += 1;
                o.first_frame_ms
                    .get_or_insert(at.elapsed().as_secs_f64() * 1000.0);
                if let Ok(k) = decoder.decode(&r.payload, &mut pcm) {
                    if i == 0 && std::env::var_os("WEBRTC_LOAD_DEBUG").is_some() {
                        eprintln!(
                            "{:.1} ms seq {} f {:.0} rms {:.1}",
                            at.elapsed().as_secs_f64() * 1000.0,
                            r.sequence,
                            dominant_frequency(&pcm[..k], 8000),
                            ringside_media::codec::analysis::rms_dbfs(&pcm[..k])
                        );
                    }
                    if (dominant_frequency(&pcm[..k], 8000) - 1000.0).abs() < 30.0 {
                        o.media_ms = Some(at.elapsed().as_secs_f64() * 1000.0);
                    }
                }
            }
        }
        while let Some((to, data)) = peer.poll_transmit() {
            let _ = udp.send_to(&data, to).await;
        }
        if window.is_some_and(|(_, e)| now >= e) || now >= deadline {
            break;
        }
    }
    if window.is_some() {
        o.expected = match (first_seq, last_seq) {
            (Some(f), Some(l)) => l - f + 1,
            // Nothing arrived in the window: all of it was lost.
            _ => hold.as_millis() as u64 / 20,
        };
    }
    let _ = ws
        .send(Message::Text(r#"{"type":"call.hangup"}"#.into()))
        .await;
    peer.close();
    while let Some((to, data)) = peer.poll_transmit() {
        let _ = udp.send_to(&data, to).await;
    }
    o
}

/// Where answer-to-media time counts from: the answer, or ICE+DTLS being up if that comes
/// later (a SIP peer answering at once beats the handshake).
fn media_from(answered: Option<Instant>, connected: Option<Instant>) -> Option<Instant> {
    Some(answered?.max(connected?))
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// `webrtc_load echo <addr>`: the answering extension's media, every RTP datagram sent back
/// where it came from, on one socket with a 4 MiB receive buffer (so the echo is not where
/// packets are lost). Runs until killed.
fn echo(addr: &str) -> ! {
    let addr: std::net::SocketAddr = addr.parse().expect("echo address");
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        None,
    )
    .expect("socket");
    let _ = sock.set_recv_buffer_size(4 << 20);
    let _ = sock.set_send_buffer_size(4 << 20);
    sock.bind(&addr.into()).expect("bind echo");
    let sock: std::net::UdpSocket = sock.into();
    let mut buf = [0u8; 2048];
    loop {
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            let _ = sock.send_to(&buf[..n], from);
        }
    }
}

#[tokio::main]
async fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() == 3 && a[1] == "echo" {
        echo(&a[2]);
    }
    if a.len() < 7 {
        eprintln!(
            "usage: webrtc_load <http base> <widget id> <widget key> <origin> <calls> <hold secs>"
        );
        std::process::exit(2);
    }
    let (base, widget, key, origin) = (&a[1], &a[2], &a[3], a[4].clone());
    let calls: usize = a[5].parse().unwrap();
    let hold = Duration::from_secs(a[6].parse().unwrap());
    let frames = Arc::new(tone_frames());
    let mut tasks = Vec::new();
    for i in 0..calls {
        let url = format!(
            "{}/api/widgets/{widget}/ws?key={key}&visitorId=v_load{i:06}",
            base.replacen("http", "ws", 1)
        );
        tasks.push(tokio::spawn(one_call(
            i,
            url,
            origin.clone(),
            // Every call holds until the last one has been answered for `hold`.
            hold + Duration::from_millis((calls - i) as u64 * 25),
            frames.clone(),
        )));
        // 40 new calls per second: DTLS handshakes are not all at once.
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap_or_else(|e| Outcome {
            error: Some(e.to_string()),
            ..Default::default()
        }));
    }
    let answered = out.iter().filter(|o| o.answered).count();
    let errors: Vec<&String> = out.iter().filter_map(|o| o.error.as_ref()).collect();
    let (exp, rec): (u64, u64) = out.iter().fold((0, 0), |(e, r), o| {
        (e + o.expected, r + o.received.min(o.expected))
    });
    let loss = if exp > 0 {
        100.0 * (exp - rec) as f64 / exp as f64
    } else {
        100.0
    };
    let mut sdp: Vec<f64> = out.iter().filter_map(|o| o.answer_sdp_ms).collect();
    let mut started: Vec<f64> = out.iter().filter_map(|o| o.started_ms).collect();
    let mut media: Vec<f64> = out.iter().filter_map(|o| o.media_ms).collect();
    let mut connected: Vec<f64> = out.iter().filter_map(|o| o.connected_ms).collect();
    let worst = out
        .iter()
        .filter(|o| o.expected > 0)
        .map(|o| 100.0 * (o.expected - o.received.min(o.expected)) as f64 / o.expected as f64)
        .fold(0.0, f64::max);
    println!(
        "calls {calls} answered {answered} errors {} loss_pct {loss:.3} worst_call_loss_pct {worst:.2} \
         offer_to_answer_sdp_ms p50 {:.2} p99 {:.2} offer_to_invite_ms p50 {:.2} p99 {:.2} \
         offer_to_connected_ms p50 {:.1} p99 {:.1} answer_to_media_ms p50 {:.1} p99 {:.1}",
        errors.len(),
        pct(&mut sdp, 0.5),
        pct(&mut sdp, 0.99),
        pct(&mut started, 0.5),
        pct(&mut started, 0.99),
        pct(&mut connected, 0.5),
        pct(&mut connected, 0.99),
        pct(&mut media, 0.5),
        pct(&mut media, 0.99),
    );
    for e in errors.iter().take(3) {
        eprintln!("error: {e}");
    }
    // The slow starters, for finding out why.
    let mut slow: Vec<(usize, &Outcome)> = out
        .iter()
        .enumerate()
        .filter(|(_, o)| o.media_ms.is_some_and(|m| m > 500.0))
        .collect();
    slow.sort_by(|a, b| b.1.media_ms.partial_cmp(&a.1.media_ms).unwrap());
    for (i, o) in slow.iter().take(5) {
        eprintln!(
            "slow call {i}: offer at {} (Unix ms), answered {:?} ms and connected {:?} ms after it, \
             first tone frame sent {:?} ms and first media {:?} ms after answer/connect; \
             {} frames came before it, the first at {:?} ms",
            o.offer_unix_ms, o.answered_ms, o.connected_ms, o.first_sent_ms, o.media_ms,
            o.frames_before_media, o.first_frame_ms
        );
    }
}
