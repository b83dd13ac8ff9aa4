//! Simulated phones around a `SipCore`: messages in, transmissions out, `now` advanced by hand.

#![allow(dead_code)]

pub mod browser;
pub mod transfer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringside_calls::core::{CoreConfig, CoreOutput, SipCore};
use ringside_calls::directory::{Directory, DirectoryChange};
use ringside_calls::fake_media::FakeMedia;
use ringside_calls::metrics::SipMetrics;
use ringside_domain::DigestHa1;
use ringside_sip::auth::{client_authorization, Algorithm};
use ringside_sip::dialog::LocalAddr;
use ringside_sip::message::parse;
use ringside_sip::registrar::RegistrarConfig;
use ringside_sip::transaction::{Config as TxConfig, Peer, TransportKind};
use ringside_storage::{Extension, Trunk};

pub const REALM: &str = "ringside";
pub const T0_MS: i64 = 1_795_305_600_000;

/// An extension stored the way the API stores it (HA1 values from ringside-domain, checked
/// by the SIP guard of ringside-sip: the two must agree).
pub fn ext(id: &str, user: &str, pw: &str, tenant: &str) -> Extension {
    let ha1 = DigestHa1::new(user, REALM, pw);
    Extension {
        id: id.into(),
        tenant_id: tenant.into(),
        username: user.into(),
        display_name: user.into(),
        realm: REALM.into(),
        ha1_md5: ha1.md5,
        ha1_sha256: ha1.sha256,
        widget_ids: vec![],
        digest_algorithms: Vec::new(),
        srtp: None,
        session_timer_secs: None,
        srtp_passthrough: false,
        created_at: 0,
        updated_at: 0,
    }
}

pub fn trunk(tenant: &str, cidr: &str, out_port: u16, creds: Option<(&str, &str)>) -> Trunk {
    Trunk {
        id: "trunk1".into(),
        tenant_id: tenant.into(),
        name: "carrier".into(),
        inbound_cidrs: vec![cidr.into()],
        inbound_username: None,
        inbound_realm: None,
        inbound_ha1_md5: None,
        inbound_ha1_sha256: None,
        outbound_host: Some("127.0.0.1".into()),
        outbound_port: Some(out_port),
        outbound_transport: Some("udp".into()),
        outbound_username: creds.map(|c| c.0.to_string()),
        outbound_password: creds.map(|c| c.1.to_string()),
        allowed_destinations: Some("+1NXXNXXXXXX".into()),
        digest_algorithms: Vec::new(),
        srtp: None,
        session_timer_secs: None,
        srtp_passthrough: false,
        tls_ca_pem: None,
        tls_client_cert_pem: None,
        tls_client_key_pem: None,
        created_at: 0,
        updated_at: 0,
    }
}

/// A core configuration on loopback: SIP port `port`, realm [`REALM`], digest challenges in
/// `algorithms` order, no recording or generated ringback, default timers.
pub fn loopback_config(
    port: u16,
    ring_timeout: Duration,
    algorithms: Vec<Algorithm>,
) -> CoreConfig {
    CoreConfig {
        local: LocalAddr {
            host: "127.0.0.1".into(),
            port,
            tls_port: None,
        },
        media_ip: "127.0.0.1".parse().unwrap(),
        realm: REALM.into(),
        nonce_secret: [7; 32],
        digest_algorithms: algorithms,
        ring_timeout,
        record_calls: false,
        ringback: false,
        registrar: RegistrarConfig::default(),
        trusted_proxies: Vec::new(),
        tx: TxConfig::default(),
    }
}

/// `core`'s driver on real sockets: an ephemeral loopback port, default TCP caps, no media
/// events, a bus of its own, the system clock.
pub async fn start_driver(
    core: SipCore,
    store: ringside_storage::Store,
    metrics: Arc<SipMetrics>,
    overload: ringside_calls::overload::Overload,
) -> ringside_calls::driver::SipServer {
    let clock = Arc::new(ringside_calls::clock::SystemClock);
    start_driver_with_clock(core, store, metrics, overload, clock).await
}

/// [`start_driver`] reading `clock`.
pub async fn start_driver_with_clock(
    core: SipCore,
    store: ringside_storage::Store,
    metrics: Arc<SipMetrics>,
    overload: ringside_calls::overload::Overload,
    clock: Arc<dyn ringside_calls::clock::Clock>,
) -> ringside_calls::driver::SipServer {
    ringside_calls::driver::start(
        ringside_calls::driver::Listen {
            bind: "127.0.0.1:0".parse().unwrap(),
            tls: None,
            dns: Vec::new(),
            tcp: (
                ringside_domain::limits::ConnLimits::sip_default(1024),
                Arc::default(),
            ),
            overload,
            clock,
            public_url: Some("http://ringside.test".into()),
        },
        core,
        store,
        metrics,
        None,
        Arc::default(),
    )
    .await
    .unwrap()
}

/// Send `msg` from `phone` to the server at `to` and wait for the answer (a 30 s guard
/// against a hang, not a speed limit).
pub async fn ask(phone: &tokio::net::UdpSocket, to: SocketAddr, msg: &str) -> String {
    phone.send_to(msg.as_bytes(), to).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let (n, _) = tokio::time::timeout(Duration::from_secs(30), phone.recv_from(&mut buf))
        .await
        .expect("an answer")
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

pub struct Sim {
    pub core: SipCore,
    /// What the core asked of its media bridges.
    pub media: FakeMedia,
    pub now: Instant,
    pub now_ms: i64,
    pub sent: Vec<(Peer, String)>,
    pub other: Vec<CoreOutput>,
    pub metrics: Arc<SipMetrics>,
}

pub fn peer(s: &str) -> Peer {
    Peer {
        addr: s.parse::<SocketAddr>().unwrap(),
        transport: TransportKind::Udp,
        tls_profile: 0,
    }
}

impl Sim {
    pub fn new(ring_timeout: Duration) -> Sim {
        Self::build(ring_timeout, None)
    }

    pub fn with_trunk_credentials(ring_timeout: Duration, user: &str, pw: &str) -> Sim {
        Self::build(ring_timeout, Some((user, pw)))
    }

    /// A core behind SIP edge proxies `proxies` (`RINGSIDE_SIP_TRUSTED_PROXIES`).
    pub fn behind_edge(ring_timeout: Duration, proxies: &[&str]) -> Sim {
        Self::build_with(ring_timeout, None, proxies)
    }

    fn build(ring_timeout: Duration, creds: Option<(&str, &str)>) -> Sim {
        Self::build_with(ring_timeout, creds, &[])
    }

    fn build_with(ring_timeout: Duration, creds: Option<(&str, &str)>, proxies: &[&str]) -> Sim {
        let dir = Directory::load(
            vec![
                ext("e1", "1001", "pw-1001-secret", "t1"),
                ext("e2", "1002", "pw-1002-secret", "t1"),
                ext("e3", "2001", "pw-2001-secret", "t2"),
            ],
            vec![trunk("t1", "10.9.9.9/32", 5099, creds)],
        );
        let metrics = Arc::new(SipMetrics::default());
        // No sockets: the bridges only log what the core asks of them.
        let media = FakeMedia::new(42000..=42099);
        let mut cfg = loopback_config(5060, ring_timeout, vec![Algorithm::Sha256, Algorithm::Md5]);
        cfg.trusted_proxies = proxies
            .iter()
            .map(|p| ringside_domain::net::TrustedNet::stored(p).unwrap())
            .collect();
        let core = SipCore::new(cfg, dir, Box::new(media.clone()), metrics.clone());
        Sim {
            metrics,
            core,
            media,
            now: Instant::now(),
            now_ms: T0_MS,
            sent: vec![],
            other: vec![],
        }
    }

    /// Change the core's directory as the API does (a command between events).
    pub fn change(&mut self, change: DirectoryChange) {
        self.core.change_directory(change);
    }

    /// Requests refused with 403 so far.
    pub fn core_metrics_auth_failures(&self) -> u64 {
        self.metrics
            .auth_failures
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn collect(&mut self) {
        while let Some(o) = self.core.poll_output() {
            match o {
                CoreOutput::Transmit { to, data } => self
                    .sent
                    .push((to, String::from_utf8(data.to_vec()).unwrap())),
                other => self.other.push(other),
            }
        }
    }

    pub fn input(&mut self, from: &str, text: &str) {
        let msg = parse(text.as_bytes()).expect("test message parses");
        self.core
            .handle_message(self.now, self.now_ms, msg, peer(from));
        self.collect();
    }

    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = self.core.poll_timeout().filter(|t| *t <= end) {
            self.now_ms += (t.max(self.now) - self.now).as_millis() as i64;
            self.now = t.max(self.now);
            self.core.handle_timeout(self.now, self.now_ms);
            self.collect();
        }
        self.now_ms += (end - self.now).as_millis() as i64;
        self.now = end;
    }

    /// Messages sent to `to` since the last take.
    pub fn take_to(&mut self, to: &str) -> Vec<String> {
        let p = peer(to);
        let (mine, rest): (Vec<_>, Vec<_>) = self.sent.drain(..).partition(|(t, _)| *t == p);
        self.sent = rest;
        mine.into_iter().map(|(_, m)| m).collect()
    }
}

pub fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with(&format!("{}:", name.to_ascii_lowercase()))
        })
        .map(|l| l[name.len() + 1..].trim())
}

pub fn status(msg: &str) -> u16 {
    msg.strip_prefix("SIP/2.0 ")
        .and_then(|r| r[..3].parse().ok())
        .unwrap_or(0)
}

pub fn register(user: &str, port: u16, cseq: u32, auth: Option<&str>) -> String {
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    format!(
        "REGISTER sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKreg{cseq}{port};rport\r\nFrom: <sip:{user}@127.0.0.1>;tag=r{port}\r\nTo: <sip:{user}@127.0.0.1>\r\nCall-ID: reg-{port}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}@127.0.0.1:{port}>\r\nExpires: 600\r\n{auth}Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

pub fn invite(from_user: &str, to: &str, port: u16, cseq: u32, auth: Option<&str>) -> String {
    let sdp = format!("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n", port + 1000);
    let auth = auth
        .map(|a| format!("Proxy-Authorization: {a}\r\n"))
        .unwrap_or_default();
    format!(
        "INVITE sip:{to}@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKinv{cseq}{port};rport\r\nFrom: <sip:{from_user}@127.0.0.1>;tag=c{port}\r\nTo: <sip:{to}@127.0.0.1>\r\nCall-ID: call-{port}\r\nCSeq: {cseq} INVITE\r\nContact: <sip:{from_user}@127.0.0.1:{port}>\r\n{auth}Max-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

/// The ACK for a non-2xx final response to `invite(.., port, cseq, ..)`.
pub fn ack(to: &str, port: u16, cseq: u32, resp: &str) -> String {
    format!(
        "ACK sip:{to}@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKinv{cseq}{port};rport\r\nFrom: {}\r\nTo: {}\r\nCall-ID: call-{port}\r\nCSeq: {cseq} ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        header(resp, "From").unwrap(),
        header(resp, "To").unwrap()
    )
}

/// Answer a challenge found in `resp` for `method uri` as `user`.
pub fn answer(resp: &str, proxy: bool, method: &str, uri: &str, user: &str, pw: &str) -> String {
    let name = if proxy {
        "Proxy-Authenticate"
    } else {
        "WWW-Authenticate"
    };
    let challenge = header(resp, name).expect("challenge present");
    client_authorization(challenge, method, uri, user, pw, 1, "abcdef").unwrap()
}

pub fn register_1002(sim: &mut Sim, port: u16) {
    sim.input(
        &format!("127.0.0.1:{port}"),
        &register("1002", port, 1, None),
    );
    let r = sim.take_to(&format!("127.0.0.1:{port}"));
    assert_eq!(status(&r[0]), 401, "{r:?}");
    let a = answer(
        &r[0],
        false,
        "REGISTER",
        "sip:127.0.0.1:5060",
        "1002",
        "pw-1002-secret",
    );
    sim.input(
        &format!("127.0.0.1:{port}"),
        &register("1002", port, 2, Some(&a)),
    );
    let r = sim.take_to(&format!("127.0.0.1:{port}"));
    assert_eq!(status(&r[0]), 200, "{r:?}");
    assert!(
        r[0].contains(&format!("<sip:1002@127.0.0.1:{port}>;expires=600")),
        "{}",
        r[0]
    );
}

/// A response to a request we captured, as a phone would send it.
pub fn response_to(
    req: &str,
    code: u16,
    reason: &str,
    to_tag: &str,
    sdp_port: Option<u16>,
) -> String {
    let mut out = format!("SIP/2.0 {code} {reason}\r\n");
    for l in req.lines().filter(|l| l.starts_with("Via:")) {
        out.push_str(l);
        out.push_str("\r\n");
    }
    let to = header(req, "To").unwrap();
    let to = if to.contains(";tag=") {
        to.to_string()
    } else {
        format!("{to};tag={to_tag}")
    };
    out.push_str(&format!(
        "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\nContact: <sip:callee@127.0.0.1:6002>\r\n",
        header(req, "From").unwrap(),
        header(req, "Call-ID").unwrap(),
        header(req, "CSeq").unwrap(),
    ));
    match sdp_port {
        Some(p) => {
            let sdp = format!("v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {p} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n");
            out.push_str(&format!(
                "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
                sdp.len()
            ));
        }
        None => out.push_str("Content-Length: 0\r\n\r\n"),
    }
    out
}

/// 1001 at local `port` calls 1002, answering the 407: `invite(cseq, credentials)` builds
/// each INVITE (the second with the credentials). What the caller received after the
/// authenticated INVITE.
pub fn challenged_call(
    sim: &mut Sim,
    port: u16,
    invite: impl Fn(u32, Option<&str>) -> String,
) -> Vec<String> {
    let from = format!("127.0.0.1:{port}");
    sim.input(&from, &invite(1, None));
    let r = sim.take_to(&from);
    let challenge = r.iter().find(|m| status(m) == 407).expect("407").clone();
    sim.input(&from, &ack("1002", port, 1, &challenge));
    let a = answer(
        &challenge,
        true,
        "INVITE",
        "sip:1002@127.0.0.1:5060",
        "1001",
        "pw-1001-secret",
    );
    sim.input(&from, &invite(2, Some(&a)));
    sim.take_to(&from)
}

/// Place an authenticated call from `user` at local `port` to `to`; returns what the caller
/// received after the authenticated INVITE.
pub fn authed_call(sim: &mut Sim, user: &str, pw: &str, to: &str, port: u16) -> Vec<String> {
    let from = format!("127.0.0.1:{port}");
    sim.input(&from, &invite(user, to, port, 1, None));
    let r = sim.take_to(&from);
    let challenge = r.iter().find(|m| status(m) == 407).expect("407").clone();
    sim.input(&from, &ack(to, port, 1, &challenge));
    let a = answer(
        &challenge,
        true,
        "INVITE",
        &format!("sip:{to}@127.0.0.1:5060"),
        user,
        pw,
    );
    sim.input(&from, &invite(user, to, port, 2, Some(&a)));
    sim.take_to(&from)
}

/// A REGISTER from `from` (port `port`) as `user` with password `pw`, answering the challenge:
/// the final status (403 when refused before any challenge). `cseq` counts on.
pub fn register_attempt(
    sim: &mut Sim,
    from: &str,
    port: u16,
    cseq: &mut u32,
    user: &str,
    pw: &str,
) -> u16 {
    sim.input(from, &register(user, port, *cseq, None));
    let challenge = sim.take_to(from).remove(0);
    *cseq += 1;
    if status(&challenge) != 401 {
        return status(&challenge);
    }
    let a = answer(
        &challenge,
        false,
        "REGISTER",
        "sip:127.0.0.1:5060",
        user,
        pw,
    );
    sim.input(from, &register(user, port, *cseq, Some(&a)));
    *cseq += 1;
    status(&sim.take_to(from).remove(0))
}

/// A request from the caller (1001 at 6001, Call-ID `call-6001`) in the dialog of `ok` (the
/// 200 it got): `method` with `cseq`, `extra` header lines, and `sdp` as its body.
pub fn from_caller(ok: &str, method: &str, cseq: u32, extra: &str, sdp: Option<&str>) -> String {
    let body = match sdp {
        Some(s) => format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{s}",
            s.len()
        ),
        None => "Content-Length: 0\r\n\r\n".into(),
    };
    format!(
        "{method} sip:ringside@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bK{method}{cseq};rport\r\nFrom: {}\r\nTo: {}\r\nCall-ID: call-6001\r\nCSeq: {cseq} {method}\r\nContact: <sip:1001@127.0.0.1:6001>\r\n{extra}Max-Forwards: 70\r\n{body}",
        header(ok, "From").unwrap(),
        header(ok, "To").unwrap()
    )
}

/// The callee (at 6002, tag `cb`) answers `inv` with PCMU at 7002 and the caller ACKs: the
/// caller's 200.
pub fn answer_and_ack(sim: &mut Sim, inv: &str) -> String {
    answer_and_ack_with(sim, inv, "")
}

/// [`answer_and_ack`] with `extra` header lines in the callee's 200.
pub fn answer_and_ack_with(sim: &mut Sim, inv: &str, extra: &str) -> String {
    let ok = response_to(inv, 200, "OK", "cb", Some(7002)).replacen(
        "Contact:",
        &format!("{extra}Contact:"),
        1,
    );
    sim.input("127.0.0.1:6002", &ok);
    sim.take_to("127.0.0.1:6002");
    let ok = sim
        .take_to("127.0.0.1:6001")
        .into_iter()
        .find(|m| status(m) == 200)
        .expect("the caller's 200");
    sim.input("127.0.0.1:6001", &from_caller(&ok, "ACK", 2, "", None));
    ok
}

/// A call from 1001 (at 6001) to a registered 1002 (at 6002), answered and ACKed: leg B's
/// INVITE and the caller's 200.
pub fn established_call(sim: &mut Sim) -> (String, String) {
    register_1002(sim, 6002);
    authed_call(sim, "1001", "pw-1001-secret", "1002", 6001);
    let inv = sim.take_to("127.0.0.1:6002").remove(0);
    let ok = answer_and_ack(sim, &inv);
    (inv, ok)
}

/// 1003 of tenant t1, registered at 6003.
pub fn register_1003(sim: &mut Sim) {
    sim.change(DirectoryChange::ExtensionUpserted(ext(
        "e4",
        "1003",
        "pw-1003-secret",
        "t1",
    )));
    let from = "127.0.0.1:6003";
    sim.input(from, &register("1003", 6003, 1, None));
    let r = sim.take_to(from);
    let a = answer(
        &r[0],
        false,
        "REGISTER",
        "sip:127.0.0.1:5060",
        "1003",
        "pw-1003-secret",
    );
    sim.input(from, &register("1003", 6003, 2, Some(&a)));
    assert_eq!(status(&sim.take_to(from)[0]), 200);
}
