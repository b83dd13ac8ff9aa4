//! End-to-end test harness: runs the real `ringside` binary and real SIP peers (sipp, baresip)
//! on loopback.
//!
//! The binary is taken from `RINGSIDE_BIN`, else `target/debug/ringside` (the test command
//! builds it first). Each [`Server`] gets its own data dir, ports and RTP range.

pub mod baresip;
pub mod browser;
pub mod firefox;
pub mod haproxy;
pub mod kamailio;
pub mod mail;
pub mod media;
pub mod postgres;
pub mod tls;

pub use mail::{sign_in_by_form, Received, SmtpSink};

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

/// Sends `sig` (e.g. `libc::SIGTERM`) to process `pid`. Signals go through libc, never the
/// `kill` program: Debian 12's procps-ng 4.0.2 reads `kill -KILL -<pgid>` as `kill -1` and
/// signals every process it may (this test run, the shell that started it, all of it).
#[allow(unsafe_code)]
pub fn signal(pid: u32, sig: i32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    if pid > 0 {
        // SAFETY: kill(2) with a positive pid signals that one process; no memory involved.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Sends `sig` to the process group led by `pid`, only if `pid` does lead its own group
/// (else to `pid` alone), so that a mistaken id can never widen the blast.
#[allow(unsafe_code)]
pub fn signal_group(pid: u32, sig: i32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    if pid <= 1 {
        return;
    }
    // SAFETY: getpgid/killpg take plain integers; killpg with a group id above 1 signals
    // only that group.
    unsafe {
        if libc::getpgid(pid) == pid {
            libc::killpg(pid, sig);
        } else {
            libc::kill(pid, sig);
        }
    }
}

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Path of the ringside binary under test.
pub fn ringside_bin() -> PathBuf {
    if let Ok(p) = std::env::var("RINGSIDE_BIN") {
        return p.into();
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/ringside");
    assert!(
        p.exists(),
        "{} is missing: run `cargo build -p ringside` first (the README's test command does)",
        p.display()
    );
    p
}

/// Ports handed out by [`free_port`] and [`even_port`]: below the kernel's ephemeral range
/// (32768-60999 here), so no socket bound to port 0 — a client connection, a resolver, another
/// test's listener — can take one between our check and the bind by its real user (the
/// free-port race that made the suite flaky). Each test process walks its own slice of the
/// range from a counter, so parallel tests in one process never get the same port either.
const PORT_LO: u16 = 12000;
const PORT_HI: u16 = 29999;
static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

/// Ports in steps of four: the three after each are never handed out, so a peer that binds
/// more than one (baresip's TLS on port + 1; sipp's `-mp` takes RTP and RTCP for audio and
/// for video, port .. port + 3) finds them free.
fn next_candidate() -> u16 {
    let slots = u32::from(PORT_HI - PORT_LO) / 4;
    let base = (std::process::id() % 8) * (slots / 8);
    let n = u32::from(NEXT_PORT.fetch_add(1, Ordering::Relaxed));
    PORT_LO + 4 * ((base + n) % slots) as u16
}

/// A local port free for both UDP and TCP (see [`PORT_LO`]).
pub fn free_port() -> u16 {
    loop {
        let p = next_candidate();
        if TcpListener::bind(("127.0.0.1", p)).is_ok()
            && UdpSocket::bind(("127.0.0.1", p)).is_ok()
            && UdpSocket::bind(("127.0.0.1", p + 1)).is_ok()
        {
            return p;
        }
    }
}

/// A free even port with the next three free too (RTP + RTCP, audio and video).
pub fn even_port() -> u16 {
    loop {
        let p = next_candidate();
        let all: Vec<_> = (p..p + 4)
            .map(|q| UdpSocket::bind(("127.0.0.1", q)))
            .collect();
        if all.iter().all(Result::is_ok) {
            return p;
        }
    }
}

/// An HTTP client for a test server: it also takes the throw-away certificate of a server
/// started with `RINGSIDE_HTTP_TLS` (nothing else is ever fetched with it).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("reqwest client")
}

/// Password of test extension 1001.
pub const PW1: &str = "secret-1001-pw";
/// Password of test extension 1002.
pub const PW2: &str = "secret-1002-pw";

static NEXT_RTP: AtomicU16 = AtomicU16::new(0);

/// A running ringside process.
pub struct Server {
    child: Child,
    /// Data directory.
    pub data_dir: PathBuf,
    /// HTTP base URL.
    pub http: String,
    /// SIP address.
    pub sip: SocketAddr,
    env: Vec<(String, String)>,
    /// Where the server's log goes.
    pub log: PathBuf,
}

impl Server {
    /// Start on fresh ports with a fresh SQLite database.
    pub async fn start() -> Server {
        Self::start_with(&[]).await
    }

    /// Start with extra environment variables.
    pub async fn start_with(extra: &[(&str, &str)]) -> Server {
        let data_dir = std::env::temp_dir().join(format!(
            "ringside-e2e-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&data_dir).unwrap();
        Self::start_in(data_dir, extra).await
    }

    /// Start (or restart) on an existing data dir.
    pub async fn start_in(data_dir: PathBuf, extra: &[(&str, &str)]) -> Server {
        let http_port = free_port();
        let sip_port = free_port();
        let slot = NEXT_RTP.fetch_add(1, Ordering::Relaxed) % 60;
        let rtp_lo = 31000 + (std::process::id() % 8) as u16 * 4000 % 20000 + slot * 200;
        let mut env: Vec<(String, String)> = vec![
            ("RINGSIDE_DATA_DIR".into(), data_dir.display().to_string()),
            (
                "RINGSIDE_HTTP_ADDR".into(),
                format!("127.0.0.1:{http_port}"),
            ),
            ("RINGSIDE_SIP_ADDR".into(), format!("127.0.0.1:{sip_port}")),
            (
                "RINGSIDE_WEBRTC_ADDR".into(),
                format!("127.0.0.1:{}", free_port()),
            ),
            (
                "RINGSIDE_RTP_PORTS".into(),
                format!("{}-{}", rtp_lo, rtp_lo + 199),
            ),
            ("RINGSIDE_LOG".into(), "info,ringside_calls=debug".into()),
            // sipp answers only the first challenge and only knows MD5.
            (
                "RINGSIDE_SIP_DIGEST_ALGORITHMS".into(),
                "MD5,SHA-256".into(),
            ),
        ];
        for (k, v) in extra {
            env.retain(|(ek, _)| ek != k);
            env.push((k.to_string(), v.to_string()));
        }
        let log = data_dir.join("server.log");
        let child = Command::new(ringside_bin())
            .arg("serve")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn ringside");
        // The address actually served (a test may bind another, e.g. a veth's).
        let http_addr = env
            .iter()
            .find(|(k, _)| k == "RINGSIDE_HTTP_ADDR")
            .map(|(_, v)| v.replace("0.0.0.0:", "127.0.0.1:"))
            .unwrap_or_else(|| format!("127.0.0.1:{http_port}"));
        let https = env
            .iter()
            .any(|(k, v)| k == "RINGSIDE_HTTP_TLS" && v == "true");
        let s = Server {
            child,
            data_dir,
            http: format!("{}://{http_addr}", if https { "https" } else { "http" }),
            sip: env
                .iter()
                .find(|(k, _)| k == "RINGSIDE_SIP_ADDR")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or_else(|| format!("127.0.0.1:{sip_port}").parse().unwrap()),
            env,
            log,
        };
        s.wait_healthy().await;
        s
    }

    async fn wait_healthy(&self) {
        let client = http_client();
        for _ in 0..300 {
            if let Ok(r) = client.get(format!("{}/healthz", self.http)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("ringside did not become healthy; log:\n{}", self.log_text());
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Run a `ringside` CLI command against this server's configuration.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(ringside_bin())
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("run ringside")
    }

    /// `ringside token create` against this server's database.
    pub fn token(&self, email: &str, scopes: &str) -> String {
        let out = Command::new(ringside_bin())
            .args(["token", "create", "--email", email, "--scopes", scopes])
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("run token create");
        assert!(
            out.status.success(),
            "token create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let t = String::from_utf8(out.stdout).unwrap();
        assert_eq!(t.lines().count(), 1, "token alone on stdout");
        t.trim().to_string()
    }

    /// Send a request with a bearer token and a JSON body; returns status and JSON.
    pub async fn api(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let client = http_client();
        let mut req = client
            .request(method.parse().unwrap(), format!("{}{}", self.http, path))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("http");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    /// Value of a metric line (sum over label sets that contain `labels`).
    pub async fn metric(&self, name: &str, labels: &str) -> f64 {
        let text = http_client()
            .get(format!("{}/metrics", self.http))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| {
                l.split(['{', ' ']).next() == Some(name)
                    && (labels.is_empty() || l.contains(labels))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// POST a trunk (must succeed): the trunk as the API shows it.
    pub async fn create_trunk(&self, token: &str, trunk: serde_json::Value) -> serde_json::Value {
        let (st, body) = self
            .api("POST", "/api/v1/sip/trunks", token, Some(trunk))
            .await;
        assert_eq!(st, 201, "{body}");
        body
    }

    /// Creates extension `username` with `password` (201 expected).
    pub async fn create_extension(&self, token: &str, username: &str, password: &str) {
        let (st, body) = self
            .api(
                "POST",
                "/api/v1/sip/extensions",
                token,
                Some(serde_json::json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(st, 201, "{body}");
    }

    /// PATCH extension `user` with `change` (must succeed): the extension as the API shows it
    /// after.
    pub async fn patch_extension(
        &self,
        token: &str,
        user: &str,
        change: serde_json::Value,
    ) -> serde_json::Value {
        let (_, list) = self.api("GET", "/api/v1/sip/extensions", token, None).await;
        let id = list
            .as_array()
            .and_then(|l| l.iter().find(|e| e["username"] == user))
            .and_then(|e| e["id"].as_str())
            .unwrap_or_else(|| panic!("extension {user}: {list}"))
            .to_owned();
        let path = format!("/api/v1/sip/extensions/{id}");
        let (st, body) = self.api("PATCH", &path, token, Some(change)).await;
        assert_eq!(st, 200, "{body}");
        body
    }

    /// Create extensions 1001 and 1002 (passwords [`PW1`], [`PW2`]); returns a token with
    /// sip:read, sip:write and calls:read.
    pub async fn with_phones(&self) -> String {
        let token = self.token("owner@example.com", "sip:read,sip:write,calls:read");
        for (u, p) in [("1001", PW1), ("1002", PW2)] {
            let (st, body) = self
                .api(
                    "POST",
                    "/api/v1/sip/extensions",
                    &token,
                    Some(serde_json::json!({"username": u, "password": p, "displayName": format!("Ext {u}")})),
                )
                .await;
            assert_eq!(st, 201, "{body}");
            assert!(body.get("password").is_none());
        }
        token
    }

    /// The latest call record once it has ended (bounded wait).
    pub async fn ended_call(&self, token: &str) -> serde_json::Value {
        for _ in 0..100 {
            let (st, body) = self.api("GET", "/api/v1/calls?limit=1", token, None).await;
            if st == 200 && body[0]["endedAt"].is_i64() {
                return body[0].clone();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no ended call record; server log:\n{}", self.log_text());
    }

    /// The loopback address of the server's SIP family: what its test phones bind.
    pub fn local_ip(&self) -> &'static str {
        if self.sip.is_ipv6() {
            "::1"
        } else {
            "127.0.0.1"
        }
    }

    /// Register `user` with sipp from local `port` (extra sipp `args`, e.g. `-t t1`),
    /// expecting `expect`.
    pub async fn register(
        &self,
        user: &str,
        pw: &str,
        port: u16,
        expect: u16,
        args: &[&str],
    ) -> (bool, String) {
        Sipp::new(&Scenario::register(600, expect), self.sip)
            .args(&[
                "-i",
                self.local_ip(),
                "-p",
                &port.to_string(),
                "-s",
                user,
                "-au",
                user,
                "-ap",
                pw,
            ])
            .args(args)
            .run()
            .await
    }

    /// A sipp callee registered as 1002 from a fresh port (extra sipp `args`, e.g. `-t t1`),
    /// then running `flow` on that port with RTP echo. Returns the sipp run and its process.
    pub async fn callee(&self, flow: UasFlow, args: &[&str]) -> (Sipp, tokio::process::Child) {
        self.registered_uas(flow, args, args).await
    }

    /// 1002 (sipp, registered from a fresh port) answering `calls` calls with RTP echo, for
    /// tests that place many.
    pub async fn answering(&self, calls: u32) -> (Sipp, tokio::process::Child) {
        self.registered_uas(UasFlow::Answer, &[], &["-m", &calls.to_string()])
            .await
    }

    async fn registered_uas(
        &self,
        flow: UasFlow,
        register_args: &[&str],
        uas_args: &[&str],
    ) -> (Sipp, tokio::process::Child) {
        let port = free_port();
        let (ok, log) = self.register("1002", PW2, port, 200, register_args).await;
        assert!(ok, "1002 registers: {log}");
        let port = port.to_string();
        let media = even_port().to_string();
        let sipp = Sipp::new(&Scenario::uas("1002", flow), self.sip)
            .args(&[
                "-i",
                self.local_ip(),
                "-p",
                &port,
                "-mp",
                &media,
                "-rtp_echo",
            ])
            .args(uas_args);
        let child = sipp.spawn();
        tokio::time::sleep(Duration::from_millis(300)).await;
        (sipp, child)
    }

    /// A sipp caller, 1001 authenticating, calling 1002 (extra sipp `args`, e.g. `-t t1`).
    pub fn caller(&self, flow: UacFlow, args: &[&str]) -> Sipp {
        let port = free_port().to_string();
        let media = even_port().to_string();
        Sipp::new(&Scenario::uac("1001", true, flow), self.sip)
            .args(&["-i", self.local_ip(), "-p", &port, "-mp", &media])
            .args(&["-s", "1002", "-au", "1001", "-ap", PW1])
            .args(args)
    }

    /// Send SIGTERM and wait for exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        signal(self.child.id(), libc::SIGTERM);
        self.child.wait().unwrap()
    }

    /// The value of environment variable `key` it was started with.
    pub fn env_value(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait for the process to exit by itself.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        self.child.wait().unwrap()
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn rand_suffix() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    static N: AtomicU16 = AtomicU16::new(0);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{t:x}{}", N.fetch_add(1, Ordering::Relaxed))
}

/// A sipp scenario built from the templates in tests/sipp/.
pub struct Scenario {
    /// The XML text.
    pub xml: String,
}

const AUTH_PART: &str = r#"  <recv response="407" auth="true"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      From: "Caller" <sip:{{FROM}}@[remote_ip]>;tag=[pid]uac[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: "Caller" <sip:{{FROM}}@[remote_ip]>;tag=[pid]uac[call_number]
      To: <sip:[service]@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 2 INVITE
      Contact: <sip:{{FROM}}@[local_ip]:[local_port];transport=[transport]>
      [authentication]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=caller 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=sendrecv

    ]]>
  </send>
  <recv response="100" optional="true"/>
"#;

/// An in-dialog request from the caller (`CSEQ`, `METHOD`, optional SDP direction).
pub fn uac_in_dialog(method: &str, cseq: u32, direction: Option<&str>) -> String {
    let (ctype, body) = match direction {
        Some(d) => (
            "Content-Type: application/sdp\n      ",
            format!(
                "\n      v=0\n      o=caller 1 {cseq} IN IP[local_ip_type] [local_ip]\n      s=-\n      c=IN IP[media_ip_type] [media_ip]\n      t=0 0\n      m=audio [media_port] RTP/AVP 0 101\n      a=rtpmap:0 PCMU/8000\n      a=rtpmap:101 telephone-event/8000\n      a={d}\n"
            ),
        ),
        None => ("", String::new()),
    };
    format!(
        r#"  <send retrans="500">
    <![CDATA[
      {method} [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      [routes]
      From: "Caller" <sip:{{{{FROM}}}}@[remote_ip]>;tag=[pid]uac[call_number]
      To: <sip:[service]@[remote_ip]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} {method}
      Contact: <sip:{{{{FROM}}}}@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      {ctype}Content-Length: [len]
{body}
    ]]>
  </send>
"#
    )
}

pub fn uac_ack(cseq: u32) -> String {
    format!(
        r#"  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      [routes]
      From: "Caller" <sip:{{{{FROM}}}}@[remote_ip]>;tag=[pid]uac[call_number]
      To: <sip:[service]@[remote_ip]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
"#
    )
}

const UAC_ANSWERED: &str = r#"  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rrs="true">
    <action>
      <ereg regexp="c=IN IP[46] ([0-9a-fA-F.:]+)" search_in="body" check_it="true" assign_to="dummy,cip"/>
    </action>
  </recv>
  <Reference variables="dummy,cip"/>
"#;

/// What the caller does after sending its INVITE.
pub enum UacFlow {
    /// Answered; sends RTP (a pcap), then hangs up.
    AnswerAndHangUp,
    /// Expect a final failure with this code (ACKed).
    Refused(u16),
    /// Cancel after 180.
    Cancel,
    /// Answered; the callee hangs up.
    CalleeHangsUp,
    /// Answered; hold with re-INVITE sendonly, resume with sendrecv, then hang up.
    HoldResume,
}

impl Scenario {
    /// The caller scenario; `from` is the caller's user, `auth` whether to answer a 407.
    pub fn uac(from: &str, auth: bool, flow: UacFlow) -> Scenario {
        let c = if auth { 2 } else { 1 };
        let flow_xml = match flow {
            UacFlow::AnswerAndHangUp => format!(
                "{UAC_ANSWERED}{}  <nop><action><exec play_pcap_audio=\"/usr/share/sip-tester/dtmf_2833_1.pcap\"/></action></nop>\n  <pause milliseconds=\"2500\"/>\n{}  <recv response=\"200\"/>\n",
                uac_ack(c),
                uac_in_dialog("BYE", c + 1, None)
            ),
            UacFlow::Refused(code) => format!(
                "  <recv response=\"180\" optional=\"true\"/>\n  <recv response=\"{code}\"/>\n  <send>\n    <![CDATA[\n      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0\n      [last_Via:]\n      From: \"Caller\" <sip:{{{{FROM}}}}@[remote_ip]>;tag=[pid]uac[call_number]\n      [last_To:]\n      Call-ID: [call_id]\n      CSeq: {c} ACK\n      Max-Forwards: 70\n      Content-Length: 0\n\n    ]]>\n  </send>\n"
            ),
            UacFlow::Cancel => format!(
                "  <recv response=\"180\"/>\n  <send>\n    <![CDATA[\n      CANCEL sip:[service]@[remote_ip]:[remote_port] SIP/2.0\n      [last_Via:]\n      From: \"Caller\" <sip:{{{{FROM}}}}@[remote_ip]>;tag=[pid]uac[call_number]\n      To: <sip:[service]@[remote_ip]>\n      Call-ID: [call_id]\n      CSeq: {c} CANCEL\n      Max-Forwards: 70\n      Content-Length: 0\n\n    ]]>\n  </send>\n  <recv response=\"200\"/>\n  <recv response=\"487\"/>\n  <send>\n    <![CDATA[\n      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0\n      [last_Via:]\n      From: \"Caller\" <sip:{{{{FROM}}}}@[remote_ip]>;tag=[pid]uac[call_number]\n      [last_To:]\n      Call-ID: [call_id]\n      CSeq: {c} ACK\n      Max-Forwards: 70\n      Content-Length: 0\n\n    ]]>\n  </send>\n"
            ),
            UacFlow::CalleeHangsUp => format!(
                "{UAC_ANSWERED}{}  <recv request=\"BYE\"/>\n  <send>\n    <![CDATA[\n      SIP/2.0 200 OK\n      [last_Via:]\n      [last_From:]\n      [last_To:]\n      [last_Call-ID:]\n      [last_CSeq:]\n      Content-Length: 0\n\n    ]]>\n  </send>\n",
                uac_ack(c)
            ),
            UacFlow::HoldResume => format!(
                "{UAC_ANSWERED}{}{}  <recv response=\"100\" optional=\"true\"/>\n  <recv response=\"200\">\n    <action><ereg regexp=\"a=recvonly\" search_in=\"body\" check_it=\"true\" assign_to=\"held\"/></action>\n  </recv>\n  <Reference variables=\"held\"/>\n{}{}  <recv response=\"100\" optional=\"true\"/>\n  <recv response=\"200\">\n    <action><ereg regexp=\"a=sendrecv\" search_in=\"body\" check_it=\"true\" assign_to=\"resumed\"/></action>\n  </recv>\n  <Reference variables=\"resumed\"/>\n{}{}  <recv response=\"200\"/>\n",
                uac_ack(c),
                uac_in_dialog("INVITE", c + 1, Some("sendonly")),
                uac_ack(c + 1),
                uac_in_dialog("INVITE", c + 2, Some("sendrecv")),
                uac_ack(c + 2),
                uac_in_dialog("BYE", c + 3, None),
            ),
        };
        let base = include_str!("sipp/uac.xml");
        let xml = base
            .replace("{{AUTH_PART}}", if auth { AUTH_PART } else { "" })
            .replace("{{FLOW}}", &flow_xml)
            .replace("{{FROM}}", from);
        Scenario { xml }
    }

    /// The callee scenario for `user`.
    pub fn uas(user: &str, flow: UasFlow) -> Scenario {
        let ok = |dir: &str| {
            format!(
                "  <send retrans=\"500\">\n    <![CDATA[\n      SIP/2.0 200 OK\n      [last_Via:]\n      [last_From:]\n      [last_To:];tag=[pid]uas[call_number]\n      [last_Call-ID:]\n      [last_CSeq:]\n      [last_Record-Route:]\n      Contact: <sip:{{{{USER}}}}@[local_ip]:[local_port];transport=[transport]>\n      Content-Type: application/sdp\n      Content-Length: [len]\n\n      v=0\n      o=callee 1 1 IN IP[local_ip_type] [local_ip]\n      s=-\n      c=IN IP[media_ip_type] [media_ip]\n      t=0 0\n      m=audio [media_port] RTP/AVP 0 101\n      a=rtpmap:0 PCMU/8000\n      a=rtpmap:101 telephone-event/8000\n      a={dir}\n\n    ]]>\n  </send>\n"
            )
        };
        let ok_plain = "  <send>\n    <![CDATA[\n      SIP/2.0 200 OK\n      [last_Via:]\n      [last_From:]\n      [last_To:]\n      [last_Call-ID:]\n      [last_CSeq:]\n      Content-Length: 0\n\n    ]]>\n  </send>\n";
        let flow_xml = match flow {
            UasFlow::Answer => format!(
                "{}  <recv request=\"ACK\"/>\n  <recv request=\"BYE\"/>\n{ok_plain}",
                ok("sendrecv")
            ),
            UasFlow::Cancelled => format!(
                "  <recv request=\"CANCEL\"/>\n{ok_plain}  <send>\n    <![CDATA[\n      SIP/2.0 487 Request Terminated\n      Via:[$inv_via]\n      From:[$rfrom]\n      To:[$lto];tag=[pid]uas[call_number]\n      Call-ID: [call_id]\n      CSeq:[$inv_cseq]\n      Content-Length: 0\n\n    ]]>\n  </send>\n  <recv request=\"ACK\"/>\n"
            ),
            UasFlow::HangUp => format!(
                "{}  <recv request=\"ACK\"/>\n  <pause milliseconds=\"1000\"/>\n  <send retrans=\"500\">\n    <![CDATA[\n      BYE [next_url] SIP/2.0\n      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n      From:[$lto];tag=[pid]uas[call_number]\n      To:[$rfrom]\n      Call-ID: [call_id]\n      CSeq: 1 BYE\n      Max-Forwards: 70\n      Content-Length: 0\n\n    ]]>\n  </send>\n  <recv response=\"200\"/>\n",
                ok("sendrecv")
            ),
            UasFlow::HoldResume => format!(
                "{}  <recv request=\"ACK\"/>\n  <recv request=\"INVITE\">\n    <action><ereg regexp=\"a=sendonly\" search_in=\"body\" check_it=\"true\" assign_to=\"held\"/></action>\n  </recv>\n  <Reference variables=\"held\"/>\n{}  <recv request=\"ACK\"/>\n  <recv request=\"INVITE\">\n    <action><ereg regexp=\"a=sendrecv\" search_in=\"body\" check_it=\"true\" assign_to=\"resumed\"/></action>\n  </recv>\n  <Reference variables=\"resumed\"/>\n{}  <recv request=\"ACK\"/>\n  <recv request=\"BYE\"/>\n{ok_plain}",
                ok("sendrecv"),
                ok("recvonly").replace("[last_To:];tag=[pid]uas[call_number]", "[last_To:]"),
                ok("sendrecv").replace("[last_To:];tag=[pid]uas[call_number]", "[last_To:]"),
            ),
        };
        let xml = include_str!("sipp/uas.xml")
            .replace("{{FLOW}}", &flow_xml)
            .replace("{{USER}}", user);
        Scenario { xml }
    }

    /// The REGISTER scenario expecting `final_code`.
    pub fn register(expires: u32, final_code: u16) -> Scenario {
        Scenario {
            xml: include_str!("sipp/register.xml")
                .replace("{{EXPIRES}}", &expires.to_string())
                .replace("{{FINAL}}", &final_code.to_string()),
        }
    }
}

/// What the callee does.
pub enum UasFlow {
    /// Answer, echo RTP, wait for BYE.
    Answer,
    /// Ring, then get cancelled.
    Cancelled,
    /// Answer, then hang up.
    HangUp,
    /// Answer, accept hold and resume re-INVITEs, wait for BYE.
    HoldResume,
}

/// A sipp run.
pub struct Sipp {
    args: Vec<String>,
    scenario: String,
    dir: PathBuf,
}

impl Sipp {
    /// sipp against `target` with the scenario, one call.
    pub fn new(sc: &Scenario, target: SocketAddr) -> Sipp {
        let dir = std::env::temp_dir().join(format!("ringside-sipp-{}", rand_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("scenario.xml");
        std::fs::write(&path, &sc.xml).unwrap();
        Sipp {
            args: vec![
                target.to_string(),
                "-sf".into(),
                path.display().to_string(),
                "-m".into(),
                "1".into(),
                "-timeout".into(),
                "30s".into(),
                "-timeout_error".into(),
                "-nostdin".into(),
                "-trace_err".into(),
                "-trace_msg".into(),
                "-max_recv_loops".into(),
                "1000".into(),
            ],
            scenario: path.display().to_string(),
            dir,
        }
    }

    /// Add arguments.
    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.into());
        self
    }

    /// Add arguments.
    pub fn args(mut self, a: &[&str]) -> Self {
        self.args.extend(a.iter().map(|s| s.to_string()));
        self
    }

    /// Start sipp in the background.
    pub fn spawn(&self) -> tokio::process::Child {
        // sipp's digest uri is `sip:host:port` unless `-auth_uri` says otherwise, and Ringside
        // binds the digest to the Request-URI: give it the INVITE's Request-URI.
        let xml = std::fs::read_to_string(&self.scenario).unwrap_or_default();
        let mut args = self.args.clone();
        if xml.contains("[authentication]")
            && xml.contains("INVITE sip:[service]@[remote_ip]:[remote_port]")
        {
            let service = args
                .iter()
                .rposition(|a| a == "-s")
                .and_then(|i| args.get(i + 1))
                .map_or("service", String::as_str);
            let uri = format!("{service}@{}", args[0]);
            args.extend(["-auth_uri".to_string(), uri]);
        }
        tokio::process::Command::new("sipp")
            .args(&args)
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("sipp is installed (apt-get install sip-tester)")
    }

    /// Run to completion; returns whether sipp reported success, plus its message log.
    pub async fn run(&self) -> (bool, String) {
        let st = self.spawn().wait().await.unwrap();
        (st.success(), self.messages())
    }

    /// The directory sipp runs in (files its `exec` actions write land here).
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The messages sipp logged.
    pub fn messages(&self) -> String {
        let mut s = String::new();
        for e in std::fs::read_dir(&self.dir).unwrap().flatten() {
            let n = e.file_name().to_string_lossy().to_string();
            if n.ends_with("_messages.log") || n.ends_with("_errors.log") {
                s.push_str(&format!("== {n}\n"));
                s.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
        let _ = &self.scenario;
        s
    }
}

/// A fresh schema on the PostgreSQL of `RINGSIDE_TEST_POSTGRES_URL` (the test command sets
/// it); `None`, saying so, when it is unset. Drop it with `drop_schema` when done.
pub async fn postgres_schema() -> Option<ringside_storage::testing::PgSchema> {
    let Ok(base) = std::env::var("RINGSIDE_TEST_POSTGRES_URL") else {
        eprintln!("RINGSIDE_TEST_POSTGRES_URL unset: the PostgreSQL run is skipped");
        return None;
    };
    Some(
        ringside_storage::testing::PgSchema::create(&base)
            .await
            .expect("a schema on the test PostgreSQL"),
    )
}

/// sipp as 1001 (answering the challenge with [`PW1`]) dialling `number`, expecting `flow`.
pub fn dialling(srv: &Server, number: &str, flow: UacFlow) -> Sipp {
    Sipp::new(&Scenario::uac("1001", true, flow), srv.sip)
        .args(&["-i", srv.local_ip(), "-p", &free_port().to_string()])
        .args(&["-s", number, "-au", "1001", "-ap", PW1])
}

/// Wait until `f` returns true, polling; panics with `what` after a generous bound.
pub async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never happened: {what}");
}
