//! linphonec (liblinphone 5.1, Debian `linphone-cli`: a SIP and SRTP stack of its own,
//! independent of Ringside's, baresip's and sipp's) against a real `ringside serve`:
//! - baresip calls linphone over TLS with SRTP, each hearing the other's tone after decrypting
//!   it;
//! - linphone hands its caller to baresip by attended transfer (REFER with Replaces), and to a
//!   third linphone that is still ringing (semi-attended), the parties hearing each other.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use ringside_e2e::baresip::*;
use ringside_e2e::{even_port, eventually, free_port, Server, PW1, PW2};

/// A headless linphonec (liblinphone, Debian `linphone-cli`): registers over TLS, requires
/// SRTP, auto-answers, plays a WAV file as its microphone and records the call to another
/// (its `soundcard use files` mode, driven through stdin). Killed on drop.
struct Linphone {
    child: std::process::Child,
    dir: PathBuf,
}

impl Linphone {
    /// linphonec as `user` over TLS to `tls` (trusting `ca`), SRTP required, playing
    /// [`CALLEE_TONE_HZ`].
    fn start(
        srv: &Server,
        user: &str,
        password: &str,
        tls: std::net::SocketAddr,
        ca: &Path,
    ) -> Linphone {
        Self::start_on(srv, user, password, Some((tls, ca)), CALLEE_TONE_HZ)
    }

    /// linphonec as `user`, auto-answering, playing a `tone_hz` tone and recording what it
    /// hears: over TLS with SRTP required when `tls` is given, else over UDP to the server's
    /// SIP address with plain RTP.
    fn start_on(
        srv: &Server,
        user: &str,
        password: &str,
        tls: Option<(std::net::SocketAddr, &Path)>,
        tone_hz: u32,
    ) -> Linphone {
        Self::start_answering(srv, user, password, tls, tone_hz, true)
    }

    /// [`Linphone::start_on`]; with `auto_answer` false a call rings until the test sends
    /// `answer`.
    fn start_answering(
        srv: &Server,
        user: &str,
        password: &str,
        tls: Option<(std::net::SocketAddr, &Path)>,
        tone_hz: u32,
        auto_answer: bool,
    ) -> Linphone {
        let bin = which("linphonec")
            .unwrap_or_else(|| panic!("linphonec is not on PATH: apt-get install linphone-cli"));
        let dir = srv.data_dir.join(format!("linphone-{user}"));
        // Its databases live under $HOME; without that directory it never registers.
        std::fs::create_dir_all(dir.join(".local/share/linphone")).unwrap();
        write_tone_wav(&dir.join("tone.wav"), tone_hz, 30);
        let sip = match tls {
            Some((tls, ca)) => format!(
                "[sip]\nsip_port=-1\nsip_tcp_port=-1\nsip_tls_port={tls_port}\n\
                 media_encryption=srtp\nmedia_encryption_mandatory=1\n\
                 root_ca={ca}\nverify_server_certs=1\nverify_server_cn=0\ndefault_proxy=0\n\
                 [proxy_0]\nreg_proxy=<sip:{tls};transport=tls>\n",
                tls_port = free_port(),
                ca = ca.display(),
            ),
            None => format!(
                "[sip]\nsip_port={port}\nsip_tcp_port=-1\nsip_tls_port=-1\n\
                 media_encryption=none\ndefault_proxy=0\n\
                 [proxy_0]\nreg_proxy=<sip:{server};transport=udp>\n",
                port = free_port(),
                server = srv.sip,
            ),
        };
        let rc = format!(
            "{sip}reg_identity=sip:{user}@127.0.0.1\n\
             reg_expires=600\nreg_sendregister=1\n\
             [auth_info_0]\nusername={user}\npasswd={password}\nrealm=ringside\n\
             [rtp]\naudio_rtp_port={rtp}\n\
             [sound]\necho_cancellation=0\n\
             [misc]\nuuid=0\n",
            rtp = even_port(),
        );
        std::fs::write(dir.join("linphonerc"), rc).unwrap();
        let log = std::fs::File::create(dir.join("linphone.log")).unwrap();
        let mut cmd = Command::new(bin);
        if auto_answer {
            cmd.arg("-a");
        }
        let child = cmd
            .args(["-d", "5", "-c"])
            .arg(dir.join("linphonerc"))
            .env("HOME", &dir)
            .stdin(Stdio::piped())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn linphonec");
        let mut me = Linphone { child, dir };
        me.command("soundcard use files");
        me.command(&format!("play {}", me.dir.join("tone.wav").display()));
        me.command(&format!("record {}", me.dir.join("heard.wav").display()));
        me
    }

    /// One linphonec command line on its stdin.
    fn command(&mut self, line: &str) {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("linphone.log")).unwrap_or_default()
    }

    /// Quit (unregisters), bounded.
    async fn stop(&mut self) {
        use std::io::Write;
        if let Some(stdin) = self.child.stdin.as_mut() {
            let _ = writeln!(stdin, "quit");
            let _ = stdin.flush();
        }
        for _ in 0..100 {
            if self.child.try_wait().unwrap().is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = self.child.kill();
    }
}

impl Drop for Linphone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sample rate in a WAV file's fmt chunk.
fn wav_rate(path: &Path) -> u32 {
    let b = std::fs::read(path).unwrap();
    let at = b
        .windows(4)
        .position(|w| w == b"fmt ")
        .expect("a fmt chunk");
    u32::from_le_bytes(b[at + 12..at + 16].try_into().unwrap())
}

#[tokio::test]
async fn baresip_calls_linphone_over_tls_with_srtp_and_each_hears_the_other() {
    let (srv, tls, ca, token) = ringside_e2e::tls::tls_phones().await;
    // baresip 1.0 answers MD5 only; linphone answers SHA-256 (the server's first).
    srv.patch_extension(
        &token,
        "1001",
        serde_json::json!({"digestAlgorithms": ["MD5"]}),
    )
    .await;
    srv.patch_extension(&token, "1002", serde_json::json!({"srtp": "required"}))
        .await;

    let mut callee = Linphone::start(&srv, "1002", PW2, tls, &ca);
    for _ in 0..200 {
        if srv.metric("ringside_sip_registrations", "").await == 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        srv.metric("ringside_sip_registrations", "").await,
        1.0,
        "linphone registered as 1002 over TLS\n== linphone:\n{}\n== server:\n{}",
        callee.log_text(),
        srv.log_text()
    );
    let link = Link::Tls {
        addr: tls,
        ca: ca.clone(),
    };
    let opts = Options {
        tone_hz: TONE_HZ,
        mediaenc: Some("srtp-mand"),
        dial: Some(format!("sip:1002@{tls};transport=tls")),
    };
    let mut caller = Baresip::start_with(&srv, "1001", PW1, &link, opts);
    converse(&srv, &mut caller).await;
    callee.stop().await;
    let both = || {
        format!(
            "\n== baresip:\n{}\n== linphone:\n{}\n== server:\n{}",
            caller.log_text(),
            callee.log_text(),
            srv.log_text()
        )
    };
    // linphone was offered SRTP (its leg requires it) and turned AEAD_AES_128_GCM down for
    // an HMAC-SHA1 suite: each leg keeps the suite its own phone chose.
    let llog = callee.log_text();
    let offer = message(&llog, "INVITE sip:1002", &["a=crypto:"])
        .unwrap_or_else(|| panic!("linphone was offered SRTP{}", both()));
    assert!(offer.contains("RTP/SAVP"), "{offer}");
    let failures = srv.metric("ringside_srtp_auth_failures_total", "").await;
    let forwarded = srv.metric("ringside_rtp_forwarded_packets_total", "").await;
    assert!(
        failures <= 2.0,
        "{failures} failures, {forwarded} forwarded{}",
        both()
    );
    // Each heard the other's tone.
    let dec = recording(&caller.snd_dir(), "-dec.wav")
        .unwrap_or_else(|| panic!("baresip recorded what it heard{}", both()));
    let (hz, peak) = tone_of(&wav_samples(&dec)[4000..]);
    let want = f64::from(CALLEE_TONE_HZ);
    assert!(
        (want * 0.9..want * 1.1).contains(&hz) && peak >= 4000,
        "baresip heard {hz:.0} Hz (peak {peak}){}",
        both()
    );
    let heard = callee.dir.join("heard.wav");
    let rate = wav_rate(&heard);
    let samples = wav_samples(&heard);
    assert!(
        samples.len() as u32 >= rate,
        "linphone recorded {} samples at {rate} Hz{}",
        samples.len(),
        both()
    );
    let skip = (rate / 2) as usize;
    let crossings = samples[skip..]
        .windows(2)
        .filter(|w| (w[0] < 0) != (w[1] < 0))
        .count();
    let hz = crossings as f64 * f64::from(rate) / 2.0 / (samples.len() - skip) as f64;
    let want = f64::from(TONE_HZ);
    assert!(
        (want * 0.9..want * 1.1).contains(&hz),
        "linphone heard {hz:.0} Hz{}",
        both()
    );
}

/// Attended transfer between real phones (RFC 5589 §7): linphone 1001 calls linphone 1002,
/// which answers, holds 1001 (`pause 1`), calls baresip 1003, then transfers 1001 to 1003
/// (`transfer 1 --to-call 2`: a REFER on its call with 1001 whose `Refer-To` carries
/// `Replaces` naming its call to 1003). Ringside joins the two calls, hangs 1002 up on both
/// and takes 1001 off hold; 1001 and 1003 then hear each other's tones, and 1001's hangup
/// ends 1003's call too.
#[tokio::test]
async fn linphone_hands_its_caller_over_to_baresip_by_attended_transfer() {
    const A_HZ: u32 = 1000;
    const B_HZ: u32 = 700;
    const C_HZ: u32 = 400;
    let srv = Server::start().await;
    let token = srv.with_phones().await;
    srv.create_extension(&token, "1003", "pw-1003-secret").await;
    // baresip answers MD5 alone.
    srv.patch_extension(
        &token,
        "1003",
        serde_json::json!({"digestAlgorithms": ["MD5"]}),
    )
    .await;
    let mut a = Linphone::start_on(&srv, "1001", PW1, None, A_HZ);
    let mut b = Linphone::start_on(&srv, "1002", PW2, None, B_HZ);
    let mut c = Baresip::start_with(
        &srv,
        "1003",
        "pw-1003-secret",
        &Link::Udp,
        Options {
            tone_hz: C_HZ,
            ..Options::default()
        },
    );
    eventually("the three phones registered", || async {
        srv.metric("ringside_sip_registrations", "").await >= 3.0
    })
    .await;
    let all = |a: &Linphone, b: &Linphone, c: &Baresip| {
        format!(
            "\n== 1001 (linphone):\n{}\n== 1002 (linphone):\n{}\n== 1003:\n{}\n== server:\n{}",
            a.log_text(),
            b.log_text(),
            c.log_text(),
            srv.log_text()
        )
    };
    // 1002 holds 1001 and consults 1003.
    call_and_hold(&srv, &mut a, &mut b).await;
    b.command(&format!("call sip:1003@{}", srv.sip));
    eventually("1003 answered 1002's consultation call", || async {
        srv.metric("ringside_calls_active", "").await == 2.0
            && c.log_text().contains("Call established")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    b.command("transfer 1 --to-call 2");
    eventually("Ringside joined the calls", || async {
        srv.log_text().contains("attended transfer")
    })
    .await;
    // 1001 and 1003 talk for three seconds, then 1001 hangs up.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert_eq!(
        srv.metric("ringside_calls_active", "").await,
        2.0,
        "both calls go on, joined{}",
        all(&a, &b, &c)
    );
    a.command("terminate");
    eventually("1001's hangup ended both calls", || async {
        srv.metric("ringside_calls_active", "").await == 0.0
    })
    .await;
    c.stop().await;
    a.stop().await;
    let b_log = b.log_text();
    b.stop().await;
    assert!(
        b_log.contains("REFER sip:") && b_log.contains("Replaces="),
        "linphone sent a REFER with Replaces:\n{b_log}"
    );
    // What each heard last (before the hangup): the other's tone.
    let heard = a.dir.join("heard.wav");
    let rate = wav_rate(&heard);
    let samples = wav_samples(&heard);
    let (hz, peak) = last_tone(&samples, rate);
    assert!(
        (f64::from(C_HZ) * 0.9..f64::from(C_HZ) * 1.1).contains(&hz) && peak >= 2000,
        "1001 last heard {hz:.0} Hz (peak {peak}), not 1003's {C_HZ} Hz ({}){}",
        heard.display(),
        all(&a, &b, &c)
    );
    let dec = recording(&c.snd_dir(), "-dec.wav")
        .unwrap_or_else(|| panic!("1003 recorded what it heard{}", all(&a, &b, &c)));
    let (hz, peak) = last_tone(&wav_samples(&dec), 8000);
    assert!(
        (f64::from(A_HZ) * 0.9..f64::from(A_HZ) * 1.1).contains(&hz) && peak >= 2000,
        "1003 last heard {hz:.0} Hz (peak {peak}), not 1001's {A_HZ} Hz ({})",
        dec.display()
    );
}

/// Semi-attended transfer between real phones: as above, but 1002 transfers while its
/// consultation call to linphone 1003 still rings (liblinphone's REFER names the early
/// dialog). 1001 is handed the ringing call; when 1003 answers, 1001 and 1003 hear each
/// other's tones, and 1001's hangup ends both calls.
#[tokio::test]
async fn linphone_transfers_its_caller_to_a_third_linphone_that_is_still_ringing() {
    const A_HZ: u32 = 1000;
    const B_HZ: u32 = 700;
    const C_HZ: u32 = 400;
    let srv = Server::start().await;
    let token = srv.with_phones().await;
    srv.create_extension(&token, "1003", "pw-1003-secret").await;
    let mut a = Linphone::start_on(&srv, "1001", PW1, None, A_HZ);
    let mut b = Linphone::start_on(&srv, "1002", PW2, None, B_HZ);
    let mut c = Linphone::start_answering(&srv, "1003", "pw-1003-secret", None, C_HZ, false);
    eventually("the three phones registered", || async {
        srv.metric("ringside_sip_registrations", "").await >= 3.0
    })
    .await;
    let all = |a: &Linphone, b: &Linphone, c: &Linphone| {
        format!(
            "\n== 1001:\n{}\n== 1002:\n{}\n== 1003:\n{}\n== server:\n{}",
            a.log_text(),
            b.log_text(),
            c.log_text(),
            srv.log_text()
        )
    };
    call_and_hold(&srv, &mut a, &mut b).await;
    b.command(&format!("call sip:1003@{}", srv.sip));
    eventually("1003 rings", || async {
        c.log_text().contains("Incoming call ringing")
            && b.log_text().contains("to LinphoneCallOutgoingRinging")
    })
    .await;
    b.command("transfer 1 --to-call 2");
    eventually("Ringside handed the ringing call over", || async {
        srv.log_text().contains("semi-attended transfer")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    c.command("answer");
    eventually("1003 answered", || async {
        c.log_text().contains("connected")
    })
    .await;
    // 1001 and 1003 talk for three seconds, then 1001 hangs up.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert_eq!(
        srv.metric("ringside_calls_active", "").await,
        2.0,
        "both calls go on, joined{}",
        all(&a, &b, &c)
    );
    a.command("terminate");
    eventually("1001's hangup ended both calls", || async {
        srv.metric("ringside_calls_active", "").await == 0.0
    })
    .await;
    let logs = all(&a, &b, &c);
    c.stop().await;
    a.stop().await;
    b.stop().await;
    assert!(
        logs.contains("Replaces="),
        "linphone sent a REFER with Replaces{logs}"
    );
    for (phone, hears, name) in [(&a, C_HZ, "1001"), (&c, A_HZ, "1003")] {
        let heard = phone.dir.join("heard.wav");
        let rate = wav_rate(&heard);
        let (hz, peak) = last_tone(&wav_samples(&heard), rate);
        let want = f64::from(hears);
        assert!(
            (want * 0.9..want * 1.1).contains(&hz) && peak >= 2000,
            "{name} last heard {hz:.0} Hz (peak {peak}), not {hears} Hz{logs}"
        );
    }
}

/// Linphone `a` (1001) calls linphone `b` (1002), which answers and then holds it.
async fn call_and_hold(srv: &Server, a: &mut Linphone, b: &mut Linphone) {
    a.command(&format!("call sip:1002@{}", srv.sip));
    eventually("1002 answered 1001", || async {
        srv.metric("ringside_calls_active", "").await == 1.0 && b.log_text().contains("connected")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    b.command("pause 1");
    eventually("linphone held 1001", || async {
        b.log_text().contains("paused")
    })
    .await;
}

/// The dominant frequency (zero crossings) and peak of the second-to-last second and a half
/// of `samples` at `rate` Hz (the last quarter second, around the hangup, left out).
fn last_tone(samples: &[i16], rate: u32) -> (f64, u16) {
    let (len, tail) = ((rate * 3 / 2) as usize, (rate / 4) as usize);
    assert!(
        samples.len() >= len + tail,
        "{} samples at {rate} Hz",
        samples.len()
    );
    let w = &samples[samples.len() - len - tail..samples.len() - tail];
    let crossings = w.windows(2).filter(|p| (p[0] < 0) != (p[1] < 0)).count();
    (
        crossings as f64 * f64::from(rate) / 2.0 / w.len() as f64,
        w.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0),
    )
}
