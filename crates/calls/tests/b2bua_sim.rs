//! The SIP core driven on simulated time with hand-written phones: registration with digest,
//! the 407 challenge, forking to a registered contact, Timer A retransmissions towards the
//! callee, the ring timeout (480 to the caller, call record "no_answer") and toll-fraud refusals.
//! No sockets for SIP and no sleeping: `now` is advanced by the test.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringside_calls::core::{CoreConfig, CoreOutput, SipCore};
use ringside_calls::directory::{Directory, DirectoryHandle};
use ringside_calls::metrics::SipMetrics;
use ringside_media::MediaEngine;
use ringside_sip::auth::{client_authorization, ha1, Algorithm};
use ringside_sip::dialog::LocalAddr;
use ringside_sip::message::parse;
use ringside_sip::registrar::{BindingChange, RegistrarConfig};
use ringside_sip::transaction::{Config as TxConfig, Peer, TransportKind};
use ringside_storage::{Extension, Trunk};

const REALM: &str = "ringside";
const T0_MS: i64 = 1_795_305_600_000;

fn ext(id: &str, user: &str, pw: &str, tenant: &str) -> Extension {
    Extension {
        id: id.into(),
        tenant_id: tenant.into(),
        username: user.into(),
        display_name: user.into(),
        realm: REALM.into(),
        ha1_md5: ha1(Algorithm::Md5, user, REALM, pw),
        ha1_sha256: ha1(Algorithm::Sha256, user, REALM, pw),
        widget_ids: vec![],
        created_at: 0,
        updated_at: 0,
    }
}

fn trunk(tenant: &str, cidr: &str, out_port: u16) -> Trunk {
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
        outbound_username: None,
        outbound_password: None,
        allowed_destinations: Some("+1NXXNXXXXXX".into()),
        created_at: 0,
        updated_at: 0,
    }
}

struct Sim {
    core: SipCore,
    now: Instant,
    now_ms: i64,
    sent: Vec<(Peer, String)>,
    other: Vec<CoreOutput>,
}

fn peer(s: &str) -> Peer {
    Peer {
        addr: s.parse::<SocketAddr>().unwrap(),
        transport: TransportKind::Udp,
    }
}

impl Sim {
    fn new(ring_timeout: Duration) -> Sim {
        let dir = Directory::load(
            vec![
                ext("e1", "1001", "pw-1001-secret", "t1"),
                ext("e2", "1002", "pw-1002-secret", "t1"),
                ext("e3", "2001", "pw-2001-secret", "t2"),
            ],
            vec![trunk("t1", "10.9.9.9/32", 5099)],
        );
        let core = SipCore::new(
            CoreConfig {
                local: LocalAddr {
                    host: "127.0.0.1".into(),
                    port: 5060,
                },
                media_ip: "127.0.0.1".parse().unwrap(),
                realm: REALM.into(),
                nonce_secret: [7; 32],
                digest_algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
                ring_timeout,
                registrar: RegistrarConfig::default(),
                tx: TxConfig::default(),
            },
            DirectoryHandle::new(dir),
            Box::new(MediaEngine::new(
                "127.0.0.1".parse().unwrap(),
                42000..=42099,
            )),
            Arc::new(SipMetrics::default()),
        );
        Sim {
            core,
            now: Instant::now(),
            now_ms: T0_MS,
            sent: vec![],
            other: vec![],
        }
    }

    fn collect(&mut self) {
        while let Some(o) = self.core.poll_output() {
            match o {
                CoreOutput::Transmit { to, data } => self
                    .sent
                    .push((to, String::from_utf8(data.to_vec()).unwrap())),
                other => self.other.push(other),
            }
        }
    }

    fn input(&mut self, from: &str, text: &str) {
        let msg = parse(text.as_bytes()).expect("test message parses");
        self.core
            .handle_message(self.now, self.now_ms, msg, peer(from));
        self.collect();
    }

    fn advance(&mut self, d: Duration) {
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
    fn take_to(&mut self, to: &str) -> Vec<String> {
        let p = peer(to);
        let (mine, rest): (Vec<_>, Vec<_>) = self.sent.drain(..).partition(|(t, _)| *t == p);
        self.sent = rest;
        mine.into_iter().map(|(_, m)| m).collect()
    }
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with(&format!("{}:", name.to_ascii_lowercase()))
        })
        .map(|l| l[name.len() + 1..].trim())
}

fn status(msg: &str) -> u16 {
    msg.strip_prefix("SIP/2.0 ")
        .and_then(|r| r[..3].parse().ok())
        .unwrap_or(0)
}

fn register(user: &str, port: u16, cseq: u32, auth: Option<&str>) -> String {
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    format!(
        "REGISTER sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKreg{cseq}{port};rport\r\nFrom: <sip:{user}@127.0.0.1>;tag=r{port}\r\nTo: <sip:{user}@127.0.0.1>\r\nCall-ID: reg-{port}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}@127.0.0.1:{port}>\r\nExpires: 600\r\n{auth}Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

fn invite(from_user: &str, to: &str, port: u16, cseq: u32, auth: Option<&str>) -> String {
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
fn ack(to: &str, port: u16, cseq: u32, resp: &str) -> String {
    format!(
        "ACK sip:{to}@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKinv{cseq}{port};rport\r\nFrom: {}\r\nTo: {}\r\nCall-ID: call-{port}\r\nCSeq: {cseq} ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        header(resp, "From").unwrap(),
        header(resp, "To").unwrap()
    )
}

/// Answer a challenge found in `resp` for `method uri` as `user`.
fn answer(resp: &str, proxy: bool, method: &str, uri: &str, user: &str, pw: &str) -> String {
    let name = if proxy {
        "Proxy-Authenticate"
    } else {
        "WWW-Authenticate"
    };
    let challenge = header(resp, name).expect("challenge present");
    client_authorization(challenge, method, uri, user, pw, 1, "abcdef").unwrap()
}

fn register_1002(sim: &mut Sim, port: u16) {
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

#[tokio::test]
async fn register_then_call_rings_contact_retransmits_and_times_out_with_480() {
    let mut sim = Sim::new(Duration::from_secs(20));
    register_1002(&mut sim, 6002);
    assert!(sim
        .other
        .iter()
        .any(|o| matches!(o, CoreOutput::Binding(BindingChange::Upsert(b)) if b.contact == "sip:1002@127.0.0.1:6002")));

    // The caller is challenged first.
    sim.input("127.0.0.1:6001", &invite("1001", "1002", 6001, 1, None));
    let r = sim.take_to("127.0.0.1:6001");
    assert_eq!(
        r.iter().map(|m| status(m)).collect::<Vec<_>>(),
        vec![100, 407]
    );
    assert!(
        sim.take_to("127.0.0.1:6002").is_empty(),
        "nothing reaches the callee unauthenticated"
    );
    sim.input("127.0.0.1:6001", &ack("1002", 6001, 1, &r[1]));
    let a = answer(
        &r[1],
        true,
        "INVITE",
        "sip:1002@127.0.0.1:5060",
        "1001",
        "pw-1001-secret",
    );
    sim.input("127.0.0.1:6001", &invite("1001", "1002", 6001, 2, Some(&a)));
    assert_eq!(
        sim.take_to("127.0.0.1:6001")
            .iter()
            .map(|m| status(m))
            .collect::<Vec<_>>(),
        vec![100]
    );

    // Leg B: a new dialog towards the registered contact, media anchored on our relay.
    let out = sim.take_to("127.0.0.1:6002");
    assert_eq!(out.len(), 1);
    let inv = &out[0];
    assert!(
        inv.starts_with("INVITE sip:1002@127.0.0.1:6002 SIP/2.0"),
        "{inv}"
    );
    assert_ne!(
        header(inv, "Call-ID"),
        Some("call-6001"),
        "own Call-ID per leg"
    );
    assert!(
        !inv.contains("m=audio 7001"),
        "caller's media port is not exposed"
    );
    let port: u16 = inv
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|r| r.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (42000..=42099).contains(&port),
        "anchored on Ringside: {port}"
    );

    // Unanswered on lossy UDP: Timer A retransmits at 0.5 s, 1 s, 2 s ... (callee silent).
    sim.advance(Duration::from_millis(499));
    assert!(sim.take_to("127.0.0.1:6002").is_empty());
    sim.advance(Duration::from_millis(2));
    assert_eq!(
        sim.take_to("127.0.0.1:6002").len(),
        1,
        "first retransmission at T1"
    );
    sim.advance(Duration::from_millis(1000));
    assert_eq!(sim.take_to("127.0.0.1:6002").len(), 1, "second after 2*T1");

    // The callee rings but never answers: at the ring timeout the caller gets 480.
    let ringing = format!(
        "SIP/2.0 180 Ringing\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=callee1\r\nCall-ID: {}\r\nCSeq: 1 INVITE\r\nContact: <sip:1002@127.0.0.1:6002>\r\nContent-Length: 0\r\n\r\n",
        header(inv, "Via").unwrap(),
        header(inv, "From").unwrap(),
        header(inv, "To").unwrap(),
        header(inv, "Call-ID").unwrap()
    );
    sim.input("127.0.0.1:6002", &ringing);
    let r = sim.take_to("127.0.0.1:6001");
    assert_eq!(
        r.iter().map(|m| status(m)).collect::<Vec<_>>(),
        vec![180],
        "ringing relayed"
    );
    sim.advance(Duration::from_secs(20));
    let r = sim.take_to("127.0.0.1:6001");
    assert!(r.iter().any(|m| status(m) == 480), "{r:?}");
    let to_callee = sim.take_to("127.0.0.1:6002");
    assert!(
        to_callee.iter().any(|m| m.starts_with("CANCEL ")),
        "callee cancelled: {to_callee:?}"
    );
    let ended = sim.other.iter().rev().find_map(|o| match o {
        CoreOutput::UpdateCall(c) => Some(c.clone()),
        _ => None,
    });
    let ended = ended.expect("call record updated");
    assert_eq!(ended.end_reason.as_deref(), Some("no_answer"));
    assert_eq!(ended.status, "missed");
    assert_eq!(sim.core.active_calls(), 0);
}

#[tokio::test]
async fn refusals_never_reach_a_trunk_or_another_tenant() {
    let mut sim = Sim::new(Duration::from_secs(20));
    register_1002(&mut sim, 6102);
    // A trusted trunk may reach extensions but never dial back out.
    sim.input(
        "10.9.9.9:5060",
        &invite("pbx", "+14155550123", 5060, 1, None),
    );
    let r = sim.take_to("10.9.9.9:5060");
    assert!(r.iter().any(|m| status(m) == 404), "{r:?}");
    assert!(
        sim.take_to("127.0.0.1:5099").is_empty(),
        "nothing sent to the carrier"
    );

    // An extension of another tenant cannot reach 1002.
    sim.input("127.0.0.1:6201", &invite("2001", "1002", 6201, 1, None));
    let r = sim.take_to("127.0.0.1:6201");
    let a = answer(
        &r[1],
        true,
        "INVITE",
        "sip:1002@127.0.0.1:5060",
        "2001",
        "pw-2001-secret",
    );
    sim.input("127.0.0.1:6201", &invite("2001", "1002", 6201, 2, Some(&a)));
    let r = sim.take_to("127.0.0.1:6201");
    assert!(r.iter().any(|m| status(m) == 404), "{r:?}");
    assert!(sim.take_to("127.0.0.1:6102").is_empty());

    // An extension dialling a number its tenant's trunk does not allow: 404, nothing sent.
    sim.input("127.0.0.1:6001", &invite("1001", "+900555", 6001, 1, None));
    let r = sim.take_to("127.0.0.1:6001");
    let a = answer(
        &r[1],
        true,
        "INVITE",
        "sip:+900555@127.0.0.1:5060",
        "1001",
        "pw-1001-secret",
    );
    sim.input(
        "127.0.0.1:6001",
        &invite("1001", "+900555", 6001, 2, Some(&a)),
    );
    assert!(sim
        .take_to("127.0.0.1:6001")
        .iter()
        .any(|m| status(m) == 404));
    assert!(sim.take_to("127.0.0.1:5099").is_empty());

    // Allowed number from an authenticated extension: out through the trunk.
    sim.input(
        "127.0.0.1:6003",
        &invite("1001", "+14155550123", 6003, 1, None),
    );
    let r = sim.take_to("127.0.0.1:6003");
    let a = answer(
        &r[1],
        true,
        "INVITE",
        "sip:+14155550123@127.0.0.1:5060",
        "1001",
        "pw-1001-secret",
    );
    sim.input(
        "127.0.0.1:6003",
        &invite("1001", "+14155550123", 6003, 2, Some(&a)),
    );
    let out = sim.take_to("127.0.0.1:5099");
    assert_eq!(out.len(), 1);
    assert!(
        out[0].starts_with("INVITE sip:+14155550123@127.0.0.1:5099 SIP/2.0"),
        "{}",
        out[0]
    );

    // Draining: new INVITEs get 503.
    sim.core.start_draining();
    sim.input("127.0.0.1:6004", &invite("1001", "1002", 6004, 1, None));
    assert!(sim
        .take_to("127.0.0.1:6004")
        .iter()
        .any(|m| status(m) == 503));
}
