//! A hostile burst while honest phones work. sipp registers 1001 over and over and places
//! calls from 1001 to 1002 (sipp, answering) while, from other loopback addresses, a fuzzer
//! sends thousands of mutated SIP datagrams (valid messages with bytes flipped, lines cut,
//! duplicated or garbled, lengths lied about) and a client opens idle TCP connections to
//! the SIP and HTTP listeners, three times the per-address cap. The service holds: every
//! honest registration and call succeeds, malformed input is answered 400 (501 for a method
//! garbled into an unknown one) or dropped and counted, never a 500, connections over the cap are refused and the rest reaped, and once
//! the load stops, transactions drain and the server's memory and descriptors come back
//! near where they were before (memory within 10 %).

use std::time::Duration;

use ringside_e2e::{free_port, Scenario, Server, Sipp, UacFlow, PW1};
use tokio::net::UdpSocket;

const CALLS: u32 = 60;
const DATAGRAMS: usize = 10_000;
const IDLE_PER_LISTENER: usize = 150;
const CAP_PER_IP: usize = 50;

/// The server's resident memory, kB.
fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The server's open file descriptors.
/// Open descriptors other than the database's: the SQLite pool opens up to four connections
/// on demand (each holds the file, its WAL and its shared-memory index) and keeps them idle
/// for minutes, which is the pool's bound, not a leak of the burst.
fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| {
                    let target = std::fs::read_link(e.path()).unwrap_or_default();
                    let name = target.to_string_lossy();
                    !(name.ends_with(".db")
                        || name.ends_with(".db-wal")
                        || name.ends_with(".db-shm"))
                })
                .count()
        })
        .unwrap_or(0)
}

/// xorshift64*: a fixed-seed generator, so a failing burst can be replayed exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A valid request of each kind towards the server, with this datagram's own ids.
fn template(kind: usize, n: usize, port: u16) -> String {
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.9\r\ns=-\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n";
    let (method, body) = match kind % 6 {
        0 => ("INVITE", sdp),
        1 => ("REGISTER", ""),
        2 => ("OPTIONS", ""),
        3 => ("BYE", ""),
        4 => ("CANCEL", ""),
        _ => ("ACK", ""),
    };
    let ruri = if method == "REGISTER" {
        "sip:127.0.0.1".to_owned()
    } else {
        format!("sip:+1415555{:04}@127.0.0.1", n % 10_000)
    };
    format!(
        "{method} {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.9:{port};branch=z9hG4bKm{n}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:1001@127.0.0.1>;tag=f{n}\r\nTo: <sip:1002@127.0.0.1>\r\n\
         Call-ID: mut{n}@127.0.0.9\r\nCSeq: 1 {method}\r\nContact: <sip:1001@127.0.0.9:{port}>\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// One mutation of `msg`.
fn mutate(rng: &mut Rng, msg: String) -> Vec<u8> {
    let mut b = msg.into_bytes();
    for _ in 0..1 + rng.below(3) {
        match rng.below(8) {
            // Flip a byte.
            0 => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            // Cut the message short.
            1 => {
                let keep = rng.below(b.len());
                b.truncate(keep.max(1));
            }
            // Delete a range.
            2 => {
                let i = rng.below(b.len());
                let j = (i + rng.below(40)).min(b.len());
                b.drain(i..j);
            }
            // Insert random bytes.
            3 => {
                let i = rng.below(b.len());
                let junk: Vec<u8> = (0..1 + rng.below(16)).map(|_| rng.next() as u8).collect();
                b.splice(i..i, junk);
            }
            // Duplicate a line.
            4 => {
                let text = String::from_utf8_lossy(&b).into_owned();
                let lines: Vec<&str> = text.split("\r\n").collect();
                let k = rng.below(lines.len());
                let mut out = lines.clone();
                out.insert(k, lines[k]);
                b = out.join("\r\n").into_bytes();
            }
            // Lie about the length.
            5 => {
                let text = String::from_utf8_lossy(&b).into_owned();
                let lie = ["999999", "-1", "0", "18446744073709551616", "x"][rng.below(5)];
                b = text
                    .replacen("Content-Length: ", &format!("Content-Length: {lie}"), 1)
                    .into_bytes();
            }
            // A huge header.
            6 => {
                let text = String::from_utf8_lossy(&b).into_owned();
                let pad = "a".repeat(1000 + rng.below(6000));
                b = text
                    .replacen("\r\n", &format!("\r\nX-Pad: {pad}\r\n"), 1)
                    .into_bytes();
            }
            // Drop a mandatory header.
            _ => {
                let text = String::from_utf8_lossy(&b).into_owned();
                let h = ["Via", "From", "To", "Call-ID", "CSeq"][rng.below(5)];
                b = text
                    .split("\r\n")
                    .filter(|l| !l.starts_with(h))
                    .collect::<Vec<_>>()
                    .join("\r\n")
                    .into_bytes();
            }
        }
    }
    b.truncate(8000);
    b
}

async fn connect_from(from: &str, to: std::net::SocketAddr) -> Option<tokio::net::TcpStream> {
    let s = tokio::net::TcpSocket::new_v4().ok()?;
    s.bind(format!("{from}:0").parse().unwrap()).ok()?;
    s.connect(to).await.ok()
}

#[tokio::test]
async fn the_service_holds_a_mutated_sip_and_slow_connection_burst() {
    let cap = CAP_PER_IP.to_string();
    let srv = Server::start_with(&[
        ("RINGSIDE_HTTP_MAX_CONNECTIONS_PER_IP", cap.as_str()),
        ("RINGSIDE_HTTP_HEADER_TIMEOUT_SECS", "3"),
        ("RINGSIDE_SIP_TCP_MAX_CONNECTIONS_PER_IP", cap.as_str()),
        ("RINGSIDE_SIP_TCP_MESSAGE_TIMEOUT_SECS", "3"),
        ("RINGSIDE_LOG", "info"),
    ])
    .await;
    let _token = srv.with_phones().await;
    let pid = srv.pid();

    // 1002 answers every call.
    let (_uas, mut uas_child) = srv.answering(CALLS + 10).await;

    // Warm up (lazily built state, allocator pools), then settle: the baseline.
    let (ok, log) = srv
        .caller(UacFlow::AnswerAndHangUp, &["-r", "10", "-m", "10"])
        .run()
        .await;
    assert!(ok, "warm-up calls: {log}");
    tokio::time::sleep(Duration::from_secs(8)).await;
    let (rss_before, fds_before) = (rss_kb(pid), fds(pid));

    // The honest load: calls at 10/s, and 1001 registering again and again.
    let calls = CALLS.to_string();
    let caller = srv.caller(
        UacFlow::AnswerAndHangUp,
        &["-r", "10", "-m", &calls, "-l", "30", "-timeout", "120s"],
    );
    let mut caller_child = caller.spawn();
    let reg_port = free_port();
    let registering = {
        let srv_sip = srv.sip;
        let reg = Sipp::new(&Scenario::register(600, 200), srv_sip).args(&[
            "-i",
            "127.0.0.1",
            "-p",
            &reg_port.to_string(),
            "-s",
            "1001",
            "-au",
            "1001",
            "-ap",
            PW1,
            "-m",
            "40",
            "-r",
            "5",
            "-timeout",
            "120s",
        ]);
        let child = reg.spawn();
        (reg, child)
    };

    // The attack: mutated datagrams from 127.0.0.9 at about 1,000/s, answers read and judged.
    let sock = UdpSocket::bind("127.0.0.9:0").await.unwrap();
    let sport = sock.local_addr().unwrap().port();
    let sock = std::sync::Arc::new(sock);
    let reader = {
        let sock = sock.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65_536];
            let mut statuses: Vec<u16> = Vec::new();
            while let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_secs(5), sock.recv(&mut buf)).await
            {
                let text = String::from_utf8_lossy(&buf[..n]);
                if let Some(code) = text
                    .strip_prefix("SIP/2.0 ")
                    .and_then(|r| r.get(..3))
                    .and_then(|c| c.parse().ok())
                {
                    statuses.push(code);
                }
            }
            statuses
        })
    };
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for n in 0..DATAGRAMS {
        let kind = rng.below(6);
        let msg = mutate(&mut rng, template(kind, n, sport));
        let _ = sock.send_to(&msg, srv.sip).await;
        if n % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // Slow connections from 127.0.0.10: three times the cap on each listener.
    let http: std::net::SocketAddr = srv.http.trim_start_matches("http://").parse().unwrap();
    let mut idle = Vec::new();
    for _ in 0..IDLE_PER_LISTENER {
        idle.extend(connect_from("127.0.0.10", http).await);
        idle.extend(connect_from("127.0.0.10", srv.sip).await);
    }

    // Every honest call and registration went through.
    let st = tokio::time::timeout(Duration::from_secs(180), caller_child.wait())
        .await
        .expect("the caller finishes")
        .unwrap();
    assert!(
        st.success(),
        "every call completed: {}\nserver log:\n{}",
        caller.messages(),
        srv.log_text()
    );
    let (reg, mut reg_child) = registering;
    let st = tokio::time::timeout(Duration::from_secs(180), reg_child.wait())
        .await
        .expect("the registrations finish")
        .unwrap();
    assert!(
        st.success(),
        "every registration succeeded: {}",
        reg.messages()
    );
    let _ = tokio::time::timeout(Duration::from_secs(30), uas_child.wait()).await;

    // Malformed input was answered 400 (or another client error) or dropped, and counted.
    let statuses = reader.await.unwrap();
    assert!(
        statuses.iter().all(|&s| s < 500 || s == 501 || s == 503),
        "server errors answered to mutated input: {:?}",
        statuses
            .iter()
            .filter(|&&s| s >= 500 && s != 501 && s != 503)
            .collect::<Vec<_>>()
    );
    let malformed = srv.metric("ringside_sip_malformed_total", "").await;
    assert!(malformed >= 100.0, "malformed counted: {malformed}");
    assert!(
        statuses.iter().filter(|&&s| s == 400).count() > 0,
        "some got 400: {statuses:?}"
    );

    // Over the cap: refused at once; the rest reaped after their 3 s.
    assert_eq!(
        srv.metric("ringside_http_connections_refused_total", "")
            .await,
        (IDLE_PER_LISTENER - CAP_PER_IP) as f64
    );
    assert_eq!(
        srv.metric("ringside_sip_tcp_connections_refused_total", "")
            .await,
        (IDLE_PER_LISTENER - CAP_PER_IP) as f64
    );
    drop(idle);

    // After the load: transactions drain, connections are gone, memory and descriptors come
    // back (transactions linger up to Timer H/L, 32 s).
    let mut last = (0.0, 0.0, 0.0, 0, 0);
    for _ in 0..90 {
        let tx = srv.metric("ringside_sip_server_transactions", "").await
            + srv.metric("ringside_sip_client_transactions", "").await;
        let conns = srv.metric("ringside_sip_tcp_connections", "").await;
        let calls = srv.metric("ringside_calls_active", "").await;
        last = (tx, conns, calls, rss_kb(pid), fds(pid));
        if tx == 0.0
            && conns == 0.0
            && calls == 0.0
            && last.3 * 10 <= rss_before * 11
            && last.4 <= fds_before + 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (tx, conns, calls, rss_after, fds_after) = last;
    eprintln!(
        "burst: {DATAGRAMS} mutated datagrams ({} answered, {malformed} counted malformed), \
         {CALLS} calls; RSS {rss_before} kB before, {rss_after} kB after; \
         descriptors {fds_before} before, {fds_after} after",
        statuses.len()
    );
    assert_eq!(tx, 0.0, "transactions drained");
    assert_eq!(conns, 0.0, "SIP TCP connections reaped");
    assert_eq!(calls, 0.0, "no call left up");
    assert!(
        rss_after * 10 <= rss_before * 11,
        "memory back within 10 %: {rss_before} kB before, {rss_after} kB after"
    );
    assert!(
        fds_after <= fds_before + 2,
        "descriptors back: {fds_before} before, {fds_after} after"
    );
    assert!(!srv.log_text().contains("panicked"), "{}", srv.log_text());
}
