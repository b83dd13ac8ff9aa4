//! Headless Firefox ESR in its own network namespace, driven over WebDriver BiDi.
//!
//! Firefox gathers no loopback ICE candidates, so a call from it to a server on 127.0.0.1
//! never connects. [`Netns::create`] makes a namespace joined to this one by a veth pair
//! (`10.213.N.1` here, `10.213.N.2` there, default route through us); the server under test
//! listens on the host side's address and Firefox runs inside, like a visitor on another
//! machine. Firefox's BiDi listener binds 127.0.0.1 of its namespace: [`Firefox::launch`]
//! connects to it from a thread that has entered that namespace (`setns` is per thread), and
//! the socket keeps working from any thread afterwards.
//!
//! Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN), `ip` and Debian's `firefox-esr`.

use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{client_async, WebSocketStream};

/// The Firefox binary: `RINGSIDE_FIREFOX`, else `firefox-esr` on the PATH.
pub fn firefox_bin() -> String {
    std::env::var("RINGSIDE_FIREFOX").unwrap_or_else(|_| "firefox-esr".into())
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("run ip (iproute2)");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace with a veth pair to this one; removed when dropped.
pub struct Netns {
    /// Namespace name (under /run/netns).
    pub name: String,
    host_link: String,
    /// This side's address (the server under test listens here).
    pub host_ip: std::net::Ipv4Addr,
    /// The namespace's address.
    pub inner_ip: std::net::Ipv4Addr,
}

impl Netns {
    /// A fresh namespace `rsff<pid-slot><n>` with 10.213.N.0/30 between it and us.
    pub fn create() -> Netns {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = (std::process::id() as u64 * 7 + N.fetch_add(1, Ordering::Relaxed)) % 250 + 1;
        let name = format!("rsff{n}");
        let host_link = format!("rsffh{n}");
        let inner_link = format!("rsffn{n}");
        // Leftovers of a killed run with the same number.
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        let _ = Command::new("ip")
            .args(["link", "del", &host_link])
            .output();
        let host_ip = std::net::Ipv4Addr::new(10, 213, n as u8, 1);
        let inner_ip = std::net::Ipv4Addr::new(10, 213, n as u8, 2);
        ip(&["netns", "add", &name]);
        let ns = Netns {
            name: name.clone(),
            host_link: host_link.clone(),
            host_ip,
            inner_ip,
        };
        ip(&[
            "link",
            "add",
            &host_link,
            "type",
            "veth",
            "peer",
            "name",
            &inner_link,
        ]);
        ip(&["link", "set", &inner_link, "netns", &name]);
        ip(&["addr", "add", &format!("{host_ip}/30"), "dev", &host_link]);
        ip(&["link", "set", &host_link, "up"]);
        let inside = |args: &[&str]| {
            let mut a = vec!["netns", "exec", name.as_str(), "ip"];
            a.extend_from_slice(args);
            ip(&a);
        };
        inside(&["addr", "add", &format!("{inner_ip}/30"), "dev", &inner_link]);
        inside(&["link", "set", &inner_link, "up"]);
        inside(&["link", "set", "lo", "up"]);
        inside(&["route", "add", "default", "via", &host_ip.to_string()]);
        ns
    }

    /// Connects to `127.0.0.1:port` inside the namespace.
    #[allow(unsafe_code)]
    fn connect_inside(&self, port: u16) -> std::io::Result<std::net::TcpStream> {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let f = std::fs::File::open(&path)?;
            // SAFETY: setns on a valid namespace fd; it changes only this (short-lived) thread.
            if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            std::net::TcpStream::connect(("127.0.0.1", port))
        })
        .join()
        .expect("namespace thread")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_link])
            .output();
    }
}

type Ws = WebSocketStream<tokio::net::TcpStream>;

/// A headless Firefox inside a [`Netns`], with one browsing context.
pub struct Firefox {
    child: Child,
    profile: PathBuf,
    ws: Ws,
    context: String,
    next_id: AtomicU64,
}

/// Preferences every test browser gets: fake media devices without a permission prompt,
/// autoplay allowed, real host candidates (no mDNS names), no background traffic.
const BASE_PREFS: &[(&str, &str)] = &[
    ("media.navigator.streams.fake", "true"),
    ("media.navigator.permission.disabled", "true"),
    ("media.autoplay.default", "0"),
    ("media.autoplay.blocking_policy", "0"),
    ("media.peerconnection.ice.obfuscate_host_addresses", "false"),
    ("browser.shell.checkDefaultBrowser", "false"),
    ("app.update.enabled", "false"),
    ("datareporting.policy.dataSubmissionEnabled", "false"),
    ("toolkit.telemetry.enabled", "false"),
    ("network.captive-portal-service.enabled", "false"),
    ("network.connectivity-service.enabled", "false"),
];

impl Firefox {
    /// Starts Firefox in `ns` with [`BASE_PREFS`] plus `prefs` (name, JavaScript literal).
    pub async fn launch(ns: &Netns, prefs: &[(&str, &str)]) -> Firefox {
        static N: AtomicU64 = AtomicU64::new(0);
        let profile = std::env::temp_dir().join(format!(
            "ringside-firefox-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&profile).unwrap();
        let user_js: String = BASE_PREFS
            .iter()
            .chain(prefs)
            .map(|(k, v)| format!("user_pref({k:?}, {v});\n"))
            .collect();
        std::fs::write(profile.join("user.js"), user_js).unwrap();
        let port = 9222;
        let log = std::fs::File::create(profile.with_extension("log")).unwrap();
        let child = {
            use std::os::unix::process::CommandExt;
            Command::new("ip")
                .args(["netns", "exec", &ns.name, &firefox_bin()])
                .args(["--headless", "--no-remote", "--profile"])
                .arg(&profile)
                .args(["--remote-debugging-port", &port.to_string(), "about:blank"])
                .env("MOZ_HEADLESS", "1")
                .stdout(Stdio::null())
                .stderr(log)
                .process_group(0)
                .spawn()
                .expect("spawn firefox-esr (apt-get install firefox-esr)")
        };
        let mut stream = None;
        for _ in 0..300 {
            if let Ok(s) = ns.connect_inside(port) {
                stream = Some(s);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let stream = stream.unwrap_or_else(|| {
            panic!(
                "firefox did not open WebDriver BiDi; its log:\n{}",
                std::fs::read_to_string(profile.with_extension("log")).unwrap_or_default()
            )
        });
        stream.set_nonblocking(true).unwrap();
        let stream = tokio::net::TcpStream::from_std(stream).unwrap();
        let (ws, _) = client_async(format!("ws://127.0.0.1:{port}/session"), stream)
            .await
            .expect("BiDi handshake");
        let mut ff = Firefox {
            child,
            profile,
            ws,
            context: String::new(),
            next_id: AtomicU64::new(1),
        };
        ff.command("session.new", json!({"capabilities": {}})).await;
        let tree = ff.command("browsingContext.getTree", json!({})).await;
        ff.context = tree["contexts"][0]["context"]
            .as_str()
            .expect("a browsing context")
            .to_owned();
        ff
    }

    /// Sends one BiDi command and waits for its result (events in between are skipped).
    pub async fn command(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let msg = json!({"id": id, "method": method, "params": params});
        self.ws
            .send(Message::Text(msg.to_string().into()))
            .await
            .expect("send to firefox");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let m = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("firefox answers {method} within 60 s"))
                .expect("BiDi socket open")
                .expect("BiDi frame");
            if let Message::Text(t) = m {
                let v: Value = serde_json::from_str(t.as_str()).expect("BiDi JSON");
                if v["id"] == id {
                    if v["type"] == "error" {
                        panic!("BiDi {method} failed: {v}");
                    }
                    return v["result"].clone();
                }
            }
        }
    }

    /// Loads `url` and waits for the load event.
    pub async fn open(&mut self, url: &str) {
        let context = self.context.clone();
        self.command(
            "browsingContext.navigate",
            json!({"context": context, "url": url, "wait": "complete"}),
        )
        .await;
    }

    /// Evaluates `expr` in the page (awaiting a promise) and returns its value as JSON;
    /// `Null` when it threw or is not serializable.
    pub async fn eval(&mut self, expr: &str) -> Value {
        let context = self.context.clone();
        let wrapped = format!("(async () => JSON.stringify(await ({expr})))()");
        let r = self
            .command(
                "script.evaluate",
                json!({
                    "expression": wrapped,
                    "target": {"context": context},
                    "awaitPromise": true,
                    "resultOwnership": "none",
                }),
            )
            .await;
        if r["type"] != "success" {
            return Value::Null;
        }
        r["result"]["value"]
            .as_str()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or(Value::Null)
    }

    /// Evaluates `expr` every 100 ms until `done` accepts its value (at most 30 s); returns
    /// the last value either way, for the caller to assert on.
    pub async fn eval_until(&mut self, expr: &str, done: impl Fn(&Value) -> bool) -> Value {
        let mut v = Value::Null;
        for _ in 0..300 {
            v = self.eval(expr).await;
            if done(&v) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        v
    }

    /// Records the page's remote audio (`window.Ringside.remoteStream`) for `ms` with
    /// MediaRecorder as Ogg Opus and returns it decoded: 48 kHz mono PCM. Headless Firefox
    /// has no audio output device, so an `AudioContext` never resumes there; MediaRecorder
    /// needs none. Empty when the page has no remote stream or recording failed.
    pub async fn record_remote(&mut self, ms: u64) -> Vec<i16> {
        let js = format!(
            "(async () => {{
  const rec = new MediaRecorder(window.Ringside.remoteStream, {{mimeType: 'audio/ogg;codecs=opus'}});
  const chunks = [];
  rec.ondataavailable = e => chunks.push(e.data);
  const stopped = new Promise(r => rec.onstop = r);
  rec.start();
  await new Promise(r => setTimeout(r, {ms}));
  rec.stop();
  await stopped;
  return Array.from(new Uint8Array(await new Blob(chunks).arrayBuffer()));
}})()"
        );
        let bytes: Vec<u8> = match self.eval(&js).await {
            Value::Array(a) => a
                .iter()
                .filter_map(|b| b.as_u64())
                .map(|b| b as u8)
                .collect(),
            _ => Vec::new(),
        };
        ogg_opus_pcm(&bytes)
    }

    /// Firefox's own log so far (stderr).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.profile.with_extension("log")).unwrap_or_default()
    }
}

impl Drop for Firefox {
    fn drop(&mut self) {
        // The whole process group: Firefox's content and socket processes too.
        crate::signal_group(self.child.id(), libc::SIGKILL);
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
        let _ = std::fs::remove_file(self.profile.with_extension("log"));
    }
}

/// The Opus packets of an Ogg stream (RFC 3533 pages, RFC 7845 mapping), identification and
/// comment headers left out. Stops at the first malformed page.
pub fn ogg_opus_packets(mut data: &[u8]) -> Vec<Vec<u8>> {
    let mut packets = Vec::new();
    let mut partial: Vec<u8> = Vec::new();
    while data.len() >= 27 && &data[..4] == b"OggS" {
        let segments = data[26] as usize;
        let Some(table) = data.get(27..27 + segments) else {
            break;
        };
        let body_len: usize = table.iter().map(|&l| l as usize).sum();
        let Some(body) = data.get(27 + segments..27 + segments + body_len) else {
            break;
        };
        let mut at = 0;
        for &lace in table {
            partial.extend_from_slice(&body[at..at + lace as usize]);
            at += lace as usize;
            if lace < 255 {
                let packet = std::mem::take(&mut partial);
                if !packet.starts_with(b"OpusHead") && !packet.starts_with(b"OpusTags") {
                    packets.push(packet);
                }
            }
        }
        data = &data[27 + segments + body_len..];
    }
    packets
}

/// An Ogg Opus stream decoded to 48 kHz mono PCM (see [`ogg_opus_packets`]).
pub fn ogg_opus_pcm(data: &[u8]) -> Vec<i16> {
    let mut decoder = ringside_media::codec::opus::OpusDecoder::new(48_000).expect("opus decoder");
    let mut frame = vec![0i16; decoder.max_frame_samples()];
    let mut pcm = Vec::new();
    for packet in ogg_opus_packets(data) {
        if let Ok(n) = decoder.decode(&packet, &mut frame) {
            pcm.extend_from_slice(&frame[..n]);
        }
    }
    pcm
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringside_media::codec::analysis::dominant_frequency;
    use ringside_media::codec::opus::{EncoderOptions, OpusEncoder};

    /// One Ogg page holding `packets` (checksum left zero: the reader does not check it).
    fn page(packets: &[&[u8]], continued_last: bool) -> Vec<u8> {
        let mut table = Vec::new();
        let mut body = Vec::new();
        for (i, p) in packets.iter().enumerate() {
            let mut left = p.len();
            while left >= 255 {
                table.push(255);
                left -= 255;
            }
            if !(continued_last && i == packets.len() - 1) {
                table.push(left as u8);
            }
            body.extend_from_slice(p);
        }
        let mut out = b"OggS".to_vec();
        out.extend_from_slice(&[0; 22]);
        out.push(table.len() as u8);
        out.extend_from_slice(&table);
        out.extend_from_slice(&body);
        out
    }

    #[test]
    fn ogg_opus_round_trip_keeps_the_tone() {
        let mut enc = OpusEncoder::new(48_000, EncoderOptions::default()).unwrap();
        let n = enc.frame_samples();
        let mut packets = Vec::new();
        for f in 0..50 {
            let pcm: Vec<i16> = (0..n)
                .map(|i| {
                    let t = (f * n + i) as f64 / 48_000.0;
                    (8000.0 * (2.0 * std::f64::consts::PI * 400.0 * t).sin()) as i16
                })
                .collect();
            let mut buf = vec![0u8; 1500];
            let len = enc.encode(&pcm, &mut buf).unwrap();
            packets.push(buf[..len].to_vec());
        }
        let mut ogg = page(&[b"OpusHead\x01\x01"], false);
        ogg.extend(page(&[b"OpusTags"], false));
        let refs: Vec<&[u8]> = packets.iter().map(|p| p.as_slice()).collect();
        for chunk in refs.chunks(10) {
            ogg.extend(page(chunk, false));
        }
        // A packet over 255 bytes crossing a page boundary.
        let big = vec![0xfc_u8; 600];
        ogg.extend(page(&[&big[..510]], true));
        ogg.extend(page(&[&big[510..]], false));
        let got = ogg_opus_packets(&ogg);
        assert_eq!(got.len(), 51);
        assert_eq!(got[..50], packets[..]);
        assert_eq!(got[50], big);
        let pcm = ogg_opus_pcm(&ogg);
        assert!(pcm.len() >= 48_000 * 9 / 10, "{} samples", pcm.len());
        let f = dominant_frequency(&pcm[9600..48_000], 48_000);
        assert!((f - 400.0).abs() < 10.0, "{f} Hz");
    }
}
