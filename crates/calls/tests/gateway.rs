//! The browser-call gateway on real sockets: a browser-like WebRTC peer (the media crate's
//! Rust offerer) calls through [`Gateway`] into a running SIP core and its WebRTC edge, on
//! loopback. Nobody is there to answer, so the tenant's "unavailable" prompt plays; it is a
//! 1 kHz tone here, and the tone is what must arrive at the browser.

mod common;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{loopback_config, start_driver};
use ringside_calls::core::SipCore;
use ringside_calls::directory::Directory;
use ringside_calls::gateway::{BrowserCallStats, Gateway};
use ringside_calls::media::AnchoredMedia;
use ringside_calls::metrics::SipMetrics;
use ringside_domain::browser::{
    BrowserCallError, BrowserCallHandle, BrowserCallRequest, BrowserCalls, CallSignal,
};
use ringside_domain::prompts::{PromptKind, PromptStore};
use ringside_media::codec::analysis::{dominant_frequency, rms_dbfs, tone};
use ringside_media::codec::frame::{CodecKind, FrameDecoder};
use ringside_media::player::{AssetRegistry, Assets};
use ringside_media::webrtc::client::ClientPeer;
use ringside_media::webrtc::{WebRtcConfig, WebRtcEdge};
use ringside_media::MediaEngine;
use ringside_sip::auth::Algorithm;
use ringside_storage::{NewWidget, Store};
use tokio::net::UdpSocket;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

struct Rig {
    gateway: Gateway,
    stats: Arc<BrowserCallStats>,
    tenant: String,
    widget_id: String,
    dir: PathBuf,
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A mono 16-bit WAV file of `pcm` at `rate`.
fn wav(pcm: &[i16], rate: u32) -> Vec<u8> {
    let data = (pcm.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + data as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data.to_le_bytes());
    for s in pcm {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

/// A SIP core, its driver and a WebRTC edge on loopback, with one widget of a tenant
/// whose "unavailable" prompt is two seconds of a 1 kHz tone.
async fn rig() -> Rig {
    let dir = std::env::temp_dir().join(format!(
        "ringside-gateway-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::connect(&format!("sqlite://{}?mode=rwc", dir.join("db").display()))
        .await
        .unwrap();
    let tenant = store
        .ensure_user("owner@example.com")
        .await
        .unwrap()
        .tenant_id;
    let widget = store
        .create_widget(
            &tenant,
            NewWidget {
                name: "site".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let prompts = Arc::new(AssetRegistry::new(
        dir.join("prompts"),
        Arc::new(Assets::new()),
    ));
    // Uploaded the way the API does it, through the prompt-store port.
    PromptStore::set(
        &*prompts,
        &tenant,
        PromptKind::Unavailable,
        &wav(&tone(1000.0, 8000, 0.3, 16_000), 8000),
    )
    .unwrap();
    let media = MediaEngine::new(LOCALHOST, 42_000..=42_999);
    let metrics = Arc::new(SipMetrics::default());
    let core = SipCore::new(
        loopback_config(0, Duration::from_secs(30), vec![Algorithm::Md5]),
        Directory::default(),
        Box::new(AnchoredMedia::new(media, prompts, None)),
        metrics.clone(),
    );
    let sip = start_driver(core, store.clone(), metrics, Default::default()).await;
    let edge = WebRtcEdge::start(
        WebRtcConfig {
            bind: SocketAddr::new(LOCALHOST, 0),
            candidate_ips: vec![LOCALHOST],
            connect_timeout: Duration::from_secs(20),
            relay_ip: LOCALHOST,
        },
        Vec::new(),
    )
    .unwrap();
    let stats = Arc::new(BrowserCallStats::default());
    Rig {
        gateway: Gateway {
            edge,
            sip,
            relay_ip: LOCALHOST,
            accept_timeout: Duration::from_secs(10),
            store,
            console: Arc::default(),
            ice_servers: Vec::new(),
            turn_credentials: None,
            stats: stats.clone(),
        },
        stats,
        tenant,
        widget_id: widget.id,
        dir,
    }
}

fn request(rig: &Rig, offer: String) -> BrowserCallRequest {
    BrowserCallRequest {
        tenant_id: rig.tenant.clone(),
        widget_id: rig.widget_id.clone(),
        visitor_id: "v1".into(),
        caller_name: "Ann \"Visitor\"".into(),
        offer,
    }
}

/// What the browser saw of a call.
#[derive(Debug, Default)]
struct Seen {
    signals: Vec<CallSignal>,
    /// Decoded audio (8 kHz) received while connected.
    audio: Vec<i16>,
}

/// Drive the browser peer until the call ends, or until `hang_up_after` decoded samples
/// have arrived (then the page hangs up). A bound of 60 s guards against a hang; it is not
/// a speed limit.
async fn browse(
    mut peer: ClientPeer,
    udp: UdpSocket,
    mut call: BrowserCallHandle,
    hang_up_after: Option<usize>,
) -> Seen {
    peer.set_answer(Instant::now(), &call.answer).unwrap();
    let mut seen = Seen::default();
    let mut decoder = FrameDecoder::new(CodecKind::Opus, 8000).unwrap();
    let mut pcm = vec![0i16; 5760];
    let mut buf = vec![0u8; 2048];
    let guard = Instant::now() + Duration::from_secs(60);
    let mut hung_up = false;
    while Instant::now() < guard {
        while let Some((to, data)) = peer.poll_transmit() {
            let _ = udp.send_to(&data, to).await;
        }
        let wake = peer
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + Duration::from_millis(50));
        tokio::select! {
            s = call.signals.recv() => match s {
                Some(s) => {
                    let end = matches!(s, CallSignal::Ended(_));
                    seen.signals.push(s);
                    if end {
                        break;
                    }
                }
                None => break,
            },
            r = udp.recv_from(&mut buf) => {
                if let Ok((n, from)) = r {
                    peer.handle_datagram(Instant::now(), from, &buf[..n]);
                }
            }
            _ = tokio::time::sleep_until(wake.into()) => peer.handle_timeout(Instant::now()),
        }
        while let Some(r) = peer.poll_rtp() {
            if !r.video {
                if let Ok(n) = decoder.decode(&r.payload, &mut pcm) {
                    seen.audio.extend_from_slice(&pcm[..n]);
                }
            }
        }
        if !hung_up && hang_up_after.is_some_and(|n| seen.audio.len() >= n) {
            call.control.hangup();
            hung_up = true;
        }
    }
    seen
}

async fn offer() -> (ClientPeer, UdpSocket, String) {
    let udp = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
    let (peer, offer) = ClientPeer::offer(Instant::now(), udp.local_addr().unwrap()).unwrap();
    (peer, udp, offer)
}

/// The calls task of the gateway ends with the call: the counter of running call tasks
/// comes back to zero (polled: the task finishes just after the page's last signal).
async fn settles(stats: &BrowserCallStats) -> bool {
    for _ in 0..500 {
        if stats.active.load(Ordering::Relaxed) == 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test]
async fn a_browser_call_nobody_answers_hears_the_unavailable_prompt_then_ends() {
    let rig = rig().await;
    let (peer, udp, offer) = offer().await;
    let call = rig.gateway.start(request(&rig, offer)).await.unwrap();
    assert!(
        call.answer.starts_with("v=0"),
        "an SDP answer: {}",
        call.answer
    );
    let seen = browse(peer, udp, call, None).await;

    assert!(
        matches!(seen.signals.first(), Some(CallSignal::Started(id)) if id.starts_with("call_")),
        "the call's record id first: {:?}",
        seen.signals
    );
    assert!(
        seen.signals.contains(&CallSignal::Unavailable),
        "{:?}",
        seen.signals
    );
    assert_eq!(
        seen.signals.last(),
        Some(&CallSignal::Ended("unavailable".into())),
        "{:?}",
        seen.signals
    );
    // The prompt is the 1 kHz tone: it arrived as the tone, at its level.
    let loud: Vec<i16> = seen
        .audio
        .chunks(160)
        .filter(|f| rms_dbfs(f) > -30.0)
        .flatten()
        .copied()
        .collect();
    assert!(
        loud.len() >= 8000,
        "at least one second of the prompt arrived ({} samples of {})",
        loud.len(),
        seen.audio.len()
    );
    let f = dominant_frequency(&loud, 8000);
    assert!((f - 1000.0).abs() < 20.0, "dominant frequency {f} Hz");
    let level = rms_dbfs(&loud);
    eprintln!(
        "prompt at the browser: {} of {} samples loud, {f:.0} Hz, {level:.1} dBFS; {:?}",
        loud.len(),
        seen.audio.len(),
        seen.signals
    );
    assert!(
        (-16.0..=-7.0).contains(&level),
        "level {level:.1} dBFS (sent at -13.5 dBFS)"
    );
    assert_eq!(rig.stats.started.load(Ordering::Relaxed), 1);
    assert!(settles(&rig.stats).await, "the call task ended");
}

#[tokio::test]
async fn the_page_hanging_up_ends_the_call_and_its_task() {
    let rig = rig().await;
    let (peer, udp, offer) = offer().await;
    let call = rig.gateway.start(request(&rig, offer)).await.unwrap();
    let seen = browse(peer, udp, call, Some(1600)).await;
    assert_eq!(
        seen.signals.last(),
        Some(&CallSignal::Ended("hangup".into())),
        "{:?}",
        seen.signals
    );
    assert!(settles(&rig.stats).await, "the call task ended");
    assert_eq!(
        rig.gateway.sip.active_calls().await,
        0,
        "the core forgot the call"
    );
}

#[tokio::test]
async fn a_bad_offer_or_an_unknown_widget_is_refused_and_starts_nothing() {
    let rig = rig().await;
    let refused = rig
        .gateway
        .start(request(&rig, "not sdp".into()))
        .await
        .err()
        .expect("refused");
    assert!(
        matches!(refused, BrowserCallError::BadOffer(_)),
        "{refused:?}"
    );

    let (_peer, _udp, offer) = offer().await;
    let mut req = request(&rig, offer);
    req.widget_id = "w_unknown".into();
    let refused = rig.gateway.start(req).await.err().expect("refused");
    assert!(
        matches!(refused, BrowserCallError::Unavailable),
        "{refused:?}"
    );
    assert_eq!(rig.stats.started.load(Ordering::Relaxed), 0);
    assert_eq!(rig.gateway.sip.active_calls().await, 0);
}
