//! baresip, a real softphone run headless on loopback (Debian `baresip-core`), and the audio
//! helpers its tests share: a tone file for its microphone, WAV reading, the dominant
//! frequency of what it recorded, and the SIP messages of its trace.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{even_port, eventually, free_port, Server};

/// Frequency of the tone baresip sends as its microphone.
pub const TONE_HZ: u32 = 1000;

/// A headless baresip process with its own config dir; killed on drop.
pub struct Baresip {
    pub child: Option<Child>,
    pub dir: PathBuf,
    pub log: PathBuf,
    /// The RTP port baresip puts in its SDP.
    pub rtp_port: u16,
}

/// How a baresip phone reaches Ringside.
pub enum Link {
    /// SIP over UDP to the server's SIP address.
    Udp,
    /// SIP over TCP to the server's SIP address.
    Tcp,
    /// SIP over UDP to `addr`, a proxy in front of the server (a cluster's edge).
    Via(std::net::SocketAddr),
    /// SIP over TLS to `addr`, trusting the CA certificate in `ca` (a PEM file).
    Tls {
        addr: std::net::SocketAddr,
        ca: PathBuf,
    },
}

/// What a phone does besides registering and auto-answering.
pub struct Options {
    /// The tone its microphone plays.
    pub tone_hz: u32,
    /// Its account's `mediaenc` (`srtp-mand`: SDES keys on `RTP/SAVP`, nothing else).
    pub mediaenc: Option<&'static str>,
    /// A URI it dials as soon as it starts.
    pub dial: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tone_hz: TONE_HZ,
            mediaenc: None,
            dial: None,
        }
    }
}

impl Baresip {
    /// Start baresip as `user` registering to `srv` over UDP on loopback. It auto-answers,
    /// offers only PCMU, plays a tone file as its microphone (module aufile) and records each
    /// call's audio into [`Baresip::snd_dir`] (module sndfile).
    pub fn start(srv: &Server, user: &str, password: &str) -> Baresip {
        Self::start_on(srv, user, password, &Link::Udp)
    }

    /// [`Baresip::start`], reaching Ringside over `link`.
    pub fn start_on(srv: &Server, user: &str, password: &str, link: &Link) -> Baresip {
        Self::start_with(srv, user, password, link, Options::default())
    }

    /// [`Baresip::start_on`] with `opts`.
    pub fn start_with(
        srv: &Server,
        user: &str,
        password: &str,
        link: &Link,
        opts: Options,
    ) -> Baresip {
        let bin = which("baresip").unwrap_or_else(|| {
            panic!("baresip is not on PATH: install it (apt-get install baresip-core)")
        });
        let dir = srv.data_dir.join(format!("baresip-{user}"));
        let snd = dir.join("snd");
        std::fs::create_dir_all(&snd).unwrap();
        let tone = dir.join("tone.wav");
        write_tone_wav(&tone, opts.tone_hz, 30);

        let sip_port = free_port();
        let rtp_port = even_port();
        // Modules: g711 (PCMU), aufile (file as audio source), sndfile (call recordings) and
        // account (reads `accounts`; without it no UA is created). No player module is loaded,
        // so nothing is played (baresip 1.0's aufile is a source only; the player line is for
        // newer versions, whose aufile can also play to a file).
        let (registrar, cafile) = match link {
            Link::Udp => (format!("{};transport=udp", srv.sip), String::new()),
            Link::Tcp => (format!("{};transport=tcp", srv.sip), String::new()),
            Link::Via(addr) => (format!("{addr};transport=udp"), String::new()),
            Link::Tls { addr, ca } => (
                format!("{addr};transport=tls"),
                format!("sip_cafile\t\t{}\n", ca.display()),
            ),
        };
        let config = format!(
            "{cafile}poll_method\t\tepoll\n\
             sip_listen\t\t{listen}\n\
             net_interface\t\t{ip}\n\
             net_prefer_ipv6\t\t{v6}\n\
             rtp_ports\t\t{rtp_port}-{rtcp_port}\n\
             audio_source\t\taufile,{tone}\n\
             audio_player\t\taufile,/dev/null\n\
             audio_alert\t\taufile,/dev/null\n\
             snd_path\t\t{snd}\n\
             module_path\t\t/usr/lib/baresip/modules\n\
             module\t\t\tg711.so\n\
             module\t\t\taufile.so\n\
             module\t\t\tsndfile.so\n\
             module\t\t\tsrtp.so\n\
             module\t\t\tdtls_srtp.so\n\
             module_app\t\taccount.so\n\
             module_app\t\tmenu.so\n",
            rtcp_port = rtp_port + 1,
            ip = srv.local_ip(),
            listen = std::net::SocketAddr::new(srv.local_ip().parse().unwrap(), sip_port),
            v6 = if srv.sip.is_ipv6() { "yes" } else { "no" },
            tone = tone.display(),
            snd = snd.display(),
        );
        std::fs::write(dir.join("config"), config).unwrap();
        std::fs::write(
            dir.join("accounts"),
            format!(
                "<sip:{user}@{registrar}>;auth_pass={password};regint=600;\
                 answermode=auto;audio_codecs=PCMU/8000/1{}\n",
                opts.mediaenc
                    .map(|m| format!(";mediaenc={m}"))
                    .unwrap_or_default()
            ),
        )
        .unwrap();

        let log = dir.join("baresip.log");
        let out = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(bin);
        // -s: SIP trace into the log. -t: a backstop so that it never outlives a test
        // process that was itself killed.
        cmd.args(["-s", "-t", "120", "-f"]).arg(&dir);
        if let Some(uri) = &opts.dial {
            cmd.arg("-e").arg(format!("/dial {uri}"));
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("spawn baresip");
        Baresip {
            child: Some(child),
            dir,
            log,
            rtp_port,
        }
    }

    /// Where sndfile writes `*-enc.wav` (what the phone sent) and `*-dec.wav` (what it heard).
    pub fn snd_dir(&self) -> PathBuf {
        self.dir.join("snd")
    }

    /// baresip's output so far, SIP trace included.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM (baresip un-REGISTERs, then exits) and wait, bounded, for the exit.
    pub async fn stop(&mut self) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        crate::signal(child.id(), libc::SIGTERM);
        for _ in 0..100 {
            if child.try_wait().unwrap().is_some() {
                self.child = None;
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("baresip did not exit on SIGTERM; log:\n{}", self.log_text());
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `name` found on `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Write `secs` seconds of a half-scale sine at `hz` as 8 kHz mono 16-bit PCM WAV.
pub fn write_tone_wav(path: &Path, hz: u32, secs: u32) {
    const RATE: u32 = 8000;
    let n = RATE * secs;
    let mut b = Vec::with_capacity(44 + 2 * n as usize);
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + 2 * n).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes()); // PCM
    b.extend_from_slice(&1u16.to_le_bytes()); // mono
    b.extend_from_slice(&RATE.to_le_bytes());
    b.extend_from_slice(&(2 * RATE).to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&(2 * n).to_le_bytes());
    for i in 0..n {
        let t = f64::from(i) / f64::from(RATE);
        let s = (16384.0 * (2.0 * std::f64::consts::PI * f64::from(hz) * t).sin()) as i16;
        b.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, b).unwrap();
}

/// The samples of a 16-bit mono PCM WAV file (its data chunk).
pub fn wav_samples(path: &Path) -> Vec<i16> {
    let b = std::fs::read(path).unwrap();
    assert!(
        b.len() >= 12 && &b[0..4] == b"RIFF" && &b[8..12] == b"WAVE",
        "{} is a WAV file",
        path.display()
    );
    let mut i = 12;
    while i + 8 <= b.len() {
        let len = u32::from_le_bytes(b[i + 4..i + 8].try_into().unwrap()) as usize;
        if &b[i..i + 4] == b"data" {
            let end = (i + 8).saturating_add(len).min(b.len());
            return b[i + 8..end]
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect();
        }
        i += 8 + len + (len & 1);
    }
    panic!("{}: no data chunk", path.display());
}

/// The sndfile recording whose name ends in `suffix` (`-enc.wav` or `-dec.wav`).
pub fn recording(dir: &Path, suffix: &str) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(suffix))
}

/// The first message in a sipp or baresip log that starts with `start` and contains all of
/// `needles`: from `start` up to the next message separator (sipp's dashed line, or the escape
/// sequence that colours baresip's trace).
pub fn message<'a>(log: &'a str, start: &str, needles: &[&str]) -> Option<&'a str> {
    log.match_indices(start)
        .map(|(i, _)| {
            let rest = &log[i..];
            let end = ["\n-----", "\x1b["]
                .iter()
                .filter_map(|sep| rest.find(sep))
                .min()
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .find(|m| needles.iter().all(|n| m.contains(n)))
}

/// `(connection address, audio port)` from the SDP in `msg`.
pub fn sdp_audio(msg: &str) -> (String, u16) {
    let line = |prefix: &str| {
        msg.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in:\n{msg}"))
            .to_string()
    };
    let port = line("m=audio ")
        .split(' ')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("bad m=audio in:\n{msg}"));
    let addr = msg
        .lines()
        .map(str::trim)
        .find_map(|l| {
            l.strip_prefix("c=IN IP4 ")
                .or_else(|| l.strip_prefix("c=IN IP6 "))
        })
        .unwrap_or_else(|| panic!("no c= line in:\n{msg}"))
        .to_string();
    (addr, port)
}

/// The tone the called phone plays in the two-phone calls (the caller plays [`TONE_HZ`]).
pub const CALLEE_TONE_HZ: u32 = 400;

/// The call `caller` placed is answered; three seconds of audio flow each way (50 packets a
/// second per direction); `caller` hangs up (and exits) and the call ends.
pub async fn converse(srv: &Server, caller: &mut Baresip) {
    eventually("the call is answered", || async {
        srv.metric("ringside_calls_active", "").await == 1.0
            && caller.log_text().contains("Call established")
    })
    .await;
    eventually("audio relayed both ways", || async {
        srv.metric("ringside_rtp_forwarded_packets_total", "").await >= 300.0
    })
    .await;
    caller.stop().await;
    eventually("the call ended", || async {
        srv.metric("ringside_calls_active", "").await == 0.0
    })
    .await;
}

/// Audio as audio: `phone` (called `name` in failures) recorded hearing `hears` Hz, loud
/// (peak at least 4000), for over a second; the first half second (jitter buffer fill, the
/// other side's answer) is skipped. `ctx` adds logs to a failure.
pub fn assert_heard(phone: &Baresip, hears: u32, name: &str, ctx: &dyn Fn() -> String) {
    let dec = recording(&phone.snd_dir(), "-dec.wav")
        .unwrap_or_else(|| panic!("{name} recorded what it heard{}", ctx()));
    let samples = wav_samples(&dec);
    assert!(
        samples.len() >= 8000,
        "{name}: {} samples heard{}",
        samples.len(),
        ctx()
    );
    let (hz, peak) = tone_of(&samples[4000..]);
    let want = f64::from(hears);
    assert!(
        (want * 0.9..want * 1.1).contains(&hz) && peak >= 4000,
        "{name} heard {hz:.0} Hz (peak {peak}), not {hears} Hz ({}){}",
        dec.display(),
        ctx()
    );
}

/// The dominant frequency of `samples` (8 kHz) by zero crossings, and their peak.
pub fn tone_of(samples: &[i16]) -> (f64, u16) {
    let crossings = samples
        .windows(2)
        .filter(|w| (w[0] < 0) != (w[1] < 0))
        .count();
    let hz = crossings as f64 * 8000.0 / 2.0 / samples.len().max(1) as f64;
    (
        hz,
        samples.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0),
    )
}
