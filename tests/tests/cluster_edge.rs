//! A three-node cluster behind its SIP edge (issue 20): Ringside nodes on 127.0.0.2-4 sharing
//! one PostgreSQL database and NATS, taking SIP only from the edge
//! (`RINGSIDE_SIP_TRUSTED_PROXIES`), and Kamailio running `deploy/kamailio/kamailio.cfg` as
//! shipped on 127.0.0.10, its probes deciding which nodes get calls; phones on 127.0.0.1.
//!
//! - Phones (sipp) register through the edge, which adds a Path; each node learns the
//!   registration, and calls between the phones land on every node in turn, the callee
//!   reached back through the edge along the Path.
//! - A PBX's call reaches an extension through the edge: the node trusts the PBX by the
//!   address the edge names in `X-Ringside-Peer`, not by the edge's own.
//! - SIP sent to a node straight, not through the edge, is refused (403) and counted.
//! - Two baresip phones registered through the edge talk: each hears the other's tone.
//! - A node killed (SIGKILL) under a sipp load: only its calls fail, the edge takes it out,
//!   and it rejoins when restarted.
//! - PostgreSQL restarted under load: every call completes and is on record.
//! - Behind HAProxy (`deploy/haproxy/haproxy.cfg`): a visitor's chat and the operator's reply
//!   through the edge, across nodes, before and after the visitor's node dies.

use std::net::SocketAddr;
use std::time::Duration;

use ringside_e2e::baresip::{assert_heard, Baresip, Link, Options, CALLEE_TONE_HZ, TONE_HZ};
use ringside_e2e::kamailio::{edge, Kamailio};
use ringside_e2e::{
    even_port, eventually, free_port, Scenario, Server, Sipp, UacFlow, UasFlow, PW1, PW2,
};

/// The edge's address.
const EDGE_IP: &str = "127.0.0.10";

/// Three nodes on 127.0.0.2, .3 and .4 (ids `<prefix>-a`, `-b`, `-c`) on one fresh
/// PostgreSQL schema and the local NATS, trusting SIP from [`EDGE_IP`] (the edge) alone;
/// with each node's environment, to restart it as it was.
async fn three_nodes(
    prefix: &str,
    extra: &[(&str, &str)],
) -> Option<(
    ringside_storage::testing::PgSchema,
    Vec<Server>,
    Vec<Vec<(String, String)>>,
)> {
    let schema = ringside_e2e::postgres_schema().await?;
    assert!(
        tokio::net::TcpStream::connect("127.0.0.1:4222")
            .await
            .is_ok(),
        "NATS must listen on 127.0.0.1:4222 (the test command starts it)"
    );
    let (mut nodes, mut envs) = (Vec::new(), Vec::new());
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        let ip = format!("127.0.0.{}", i + 2);
        let env: Vec<(String, String)> = [
            ("RINGSIDE_DATABASE_URL", schema.url.clone()),
            ("RINGSIDE_NATS_URL", "nats://127.0.0.1:4222".into()),
            ("RINGSIDE_NODE_ID", format!("{prefix}-{name}")),
            ("RINGSIDE_SIP_ADDR", format!("{ip}:{}", free_port())),
            ("RINGSIDE_WEBRTC_ADDR", format!("{ip}:{}", free_port())),
            ("RINGSIDE_SIP_TRUSTED_PROXIES", EDGE_IP.into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .chain(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
        nodes.push(Server::start_with(&pairs(&env)).await);
        envs.push(env);
    }
    Some((schema, nodes, envs))
}

fn pairs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// The tests of this file each run a cluster: one at a time.
static ONE_CLUSTER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The sum of `name` over every node.
async fn total(nodes: &[Server], name: &str, labels: &str) -> f64 {
    let mut sum = 0.0;
    for n in nodes {
        sum += n.metric(name, labels).await;
    }
    sum
}

/// One SIP request sent over UDP from 127.0.0.1 straight to `to`; its final response's
/// status line.
async fn straight_to(to: SocketAddr, method: &str) -> String {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = sock.local_addr().unwrap();
    let msg = format!(
        "{method} sip:1002@{to} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-straight-{port};rport\r\n\
         From: <sip:1001@{to}>;tag=st{port}\r\n\
         To: <sip:1002@{to}>\r\n\
         Call-ID: straight-{port}@test\r\n\
         CSeq: 1 {method}\r\n\
         Contact: <sip:1001@{local}>\r\n\
         Max-Forwards: 70\r\n\
         X-Ringside-Peer: 127.0.0.5:5060;proto=udp\r\n\
         Content-Length: 0\r\n\r\n",
        port = local.port(),
    );
    sock.send_to(msg.as_bytes(), to).await.unwrap();
    let mut buf = vec![0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), sock.recv(&mut buf))
            .await
            .expect("a final response from the node")
            .unwrap();
        let line = String::from_utf8_lossy(&buf[..n])
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        if !line.starts_with("SIP/2.0 1") {
            return line;
        }
    }
}

/// Kamailio as shipped in front of `nodes` (round-robin or the shipped hash, `defines`
/// added), extensions 1001 and 1002 known to every node, and 1002 registered through the
/// edge from a fresh port (every node holding the registration): the edge, its address, a
/// token (sip and calls scopes) and 1002's port.
async fn behind_edge(
    nodes: &[Server],
    round_robin: bool,
    defines: &[&str],
) -> (Kamailio, SocketAddr, String, u16) {
    let dir = nodes[0].data_dir.join("edge");
    // The edge on an address of its own: the phones are on 127.0.0.1.
    let edge_addr: SocketAddr = format!("{EDGE_IP}:{}", free_port()).parse().unwrap();
    let sips: Vec<SocketAddr> = nodes.iter().map(|n| n.sip).collect();
    let kam = edge(&dir, edge_addr, &sips, round_robin, defines).await;
    let token = nodes[0].with_phones().await;
    eventually("every node knows both extensions", || async {
        total(nodes, "ringside_sip_extensions", "").await == 6.0
    })
    .await;
    let phone = free_port();
    let (ok, log) = Sipp::new(&Scenario::register(600, 200), edge_addr)
        .args(&["-i", "127.0.0.1", "-p", &phone.to_string()])
        .args(&["-s", "1002", "-au", "1002", "-ap", PW2])
        .run()
        .await;
    assert!(
        ok,
        "1002 registers through the edge: {log}{}",
        logs(&kam, nodes)
    );
    eventually("every node holds 1002's registration", || async {
        total(nodes, "ringside_sip_registrations", "").await == 3.0
    })
    .await;
    (kam, edge_addr, token, phone)
}

/// 1001 (sipp, authenticating) calling 1002 through the edge at `edge`, with `args`.
fn calling_1002(edge: SocketAddr, args: &[&str]) -> Sipp {
    Sipp::new(&Scenario::uac("1001", true, UacFlow::AnswerAndHangUp), edge)
        .args(&["-i", "127.0.0.1", "-p", &free_port().to_string()])
        .args(&["-mp", &even_port().to_string()])
        .args(&["-s", "1002", "-au", "1001", "-ap", PW1])
        .args(args)
}

/// 1002 (sipp) on `port`, answering every call the edge at `edge` brings with RTP echo,
/// until killed.
fn answering_phone(edge: SocketAddr, port: u16) -> Sipp {
    Sipp::new(&Scenario::uas("1002", UasFlow::Answer), edge).args(&[
        "-i",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-mp",
        &even_port().to_string(),
        "-rtp_echo",
        "-m",
        "1000",
    ])
}

fn logs(edge: &Kamailio, nodes: &[Server]) -> String {
    let mut s = format!("\nedge: {}", edge.log_text());
    for n in nodes {
        s.push_str(&format!("\nnode {}: {}", n.sip, n.log_text()));
    }
    s
}

#[tokio::test]
async fn phones_behind_the_edge_reach_each_other_on_every_node() {
    let _one = ONE_CLUSTER.lock().await;
    let Some((schema, nodes, _)) = three_nodes("edge", &[]).await else {
        return;
    };
    // Round-robin: consecutive requests go to the next node, so calls land on each. 1002
    // registers through the edge; every node learns the registration and its Path.
    let (kam, edge_addr, token, phone) = behind_edge(&nodes, true, &[]).await;
    // baresip 1.0 answers MD5 challenges alone.
    for ext in ["1001", "1002"] {
        nodes[0]
            .patch_extension(
                &token,
                ext,
                serde_json::json!({"digestAlgorithms": ["MD5"]}),
            )
            .await;
    }
    // Straight to a node, not through the edge: refused, whatever X-Ringside-Peer says.
    for method in ["INVITE", "REGISTER", "OPTIONS"] {
        let line = straight_to(nodes[1].sip, method).await;
        assert!(line.starts_with("SIP/2.0 403"), "{method}: {line}");
    }
    assert_eq!(
        nodes[1]
            .metric("ringside_sip_untrusted_source_total", "")
            .await,
        3.0
    );

    // Six calls from 1001 to 1002, one at a time, through the edge. (1002 runs until killed:
    // the edge's NAT keep-alives, OPTIONS sipp cannot answer, count as calls of its own.)
    let calls = 6;
    let callee = answering_phone(edge_addr, phone);
    let mut callee_child = callee.spawn();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let caller = calling_1002(edge_addr, &["-m", &calls.to_string(), "-l", "1"]);
    let (ok, log) = caller.run().await;
    assert!(ok, "1001's calls: {log}{}", logs(&kam, &nodes));
    eventually("1002 answered every call and its hang-up", || async {
        callee.messages().matches("\nBYE sip:").count() == calls
    })
    .await;
    callee_child.kill().await.unwrap();
    // The callee was reached through the edge (Record-Route), never straight from a node,
    // and the edge keeps its NAT binding open with OPTIONS.
    let callee_log = callee.messages();
    assert!(
        callee_log.contains(&format!("Record-Route: <sip:{edge_addr};lr>")),
        "{callee_log}"
    );
    assert_eq!(
        callee_log.matches("\nINVITE sip:").count(),
        calls,
        "{callee_log}"
    );
    assert!(
        callee_log.contains(&format!("OPTIONS sip:127.0.0.1:{phone} SIP/2.0")),
        "the edge's keep-alive reached the phone: {callee_log}"
    );
    let mut held_by = std::collections::BTreeMap::<String, u32>::new();
    for _ in 0..100 {
        let (st, body) = nodes[2]
            .api("GET", "/api/v1/calls?limit=20", &token, None)
            .await;
        assert_eq!(st, 200, "{body}");
        let list = body.as_array().unwrap();
        if list.len() == calls && list.iter().all(|c| c["endedAt"].is_i64()) {
            for c in list {
                assert_eq!(c["answeredBy"], "extension:1002", "{c}");
                *held_by
                    .entry(c["node"].as_str().unwrap().to_owned())
                    .or_default() += 1;
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        held_by.keys().collect::<Vec<_>>(),
        ["edge-a", "edge-b", "edge-c"],
        "the calls landed on every node: {held_by:?}{}",
        logs(&kam, &nodes)
    );

    // A PBX on 127.0.0.5, a trunk trusting that address: its call through the edge is the
    // trunk's (no credentials asked), by the address the edge names.
    let (st, body) = nodes[0]
        .api(
            "POST",
            "/api/v1/sip/trunks",
            &token,
            Some(serde_json::json!({"name": "pbx behind the edge", "inboundCidrs": ["127.0.0.5/32"]})),
        )
        .await;
    assert_eq!(st, 201, "{body}");
    eventually("every node knows the trunk", || async {
        total(&nodes, "ringside_sip_trunks", "").await == 3.0
    })
    .await;
    let callee = answering_phone(edge_addr, phone);
    let mut callee_child = callee.spawn();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pbx = Sipp::new(
        &Scenario::uac("pbx", false, UacFlow::AnswerAndHangUp),
        edge_addr,
    )
    .args(&["-i", "127.0.0.5", "-p", &free_port().to_string()])
    .args(&["-mp", &even_port().to_string(), "-s", "1002"]);
    let (ok, log) = pbx.run().await;
    assert!(ok, "pbx: {log}{}", logs(&kam, &nodes));
    eventually("1002 answered the PBX's call and its hang-up", || async {
        callee.messages().contains("\nBYE sip:")
    })
    .await;
    callee_child.kill().await.unwrap();
    // The same PBX call from 127.0.0.6, an address no trunk trusts, is challenged.
    let stranger = Sipp::new(
        &Scenario::uac("pbx", false, UacFlow::Refused(407)),
        edge_addr,
    )
    .args(&["-i", "127.0.0.6", "-p", &free_port().to_string()])
    .args(&["-mp", &even_port().to_string(), "-s", "1002"]);
    let (ok, log) = stranger.run().await;
    assert!(ok, "an untrusted caller is challenged: {log}");

    // Two baresip phones through the edge: the caller's tone reaches the callee and back.
    let link = Link::Via(edge_addr);
    let callee = Baresip::start_with(
        &nodes[0],
        "1002",
        PW2,
        &link,
        Options {
            tone_hz: CALLEE_TONE_HZ,
            ..Options::default()
        },
    );
    eventually("baresip 1002 registered", || async {
        callee.log_text().contains("SIP/2.0 200 OK")
    })
    .await;
    let forwarded = total(&nodes, "ringside_rtp_forwarded_packets_total", "").await;
    let mut caller = Baresip::start_with(
        &nodes[0],
        "1001",
        PW1,
        &link,
        Options {
            dial: Some(format!("sip:1002@{edge_addr}")),
            ..Options::default()
        },
    );
    eventually("the call is answered", || async {
        total(&nodes, "ringside_calls_active", "").await == 1.0
            && caller.log_text().contains("Call established")
    })
    .await;
    eventually("audio relayed both ways", || async {
        total(&nodes, "ringside_rtp_forwarded_packets_total", "").await >= forwarded + 300.0
    })
    .await;
    caller.stop().await;
    eventually("the call ended", || async {
        total(&nodes, "ringside_calls_active", "").await == 0.0
    })
    .await;
    let ctx = || {
        format!(
            "\ncaller: {}\ncallee: {}",
            caller.log_text(),
            callee.log_text()
        )
    };
    assert_heard(&callee, TONE_HZ, "1002", &ctx);
    assert_heard(&caller, CALLEE_TONE_HZ, "1001", &ctx);
    drop((callee, caller, kam, nodes));
    schema.drop_schema().await.unwrap();
}

/// The Call-IDs sipp names in its error log (the calls it gave up on).
fn failed_call_ids(sipp: &Sipp) -> std::collections::BTreeSet<String> {
    let text = sipp.messages();
    let mut ids = std::collections::BTreeSet::new();
    for part in text.split("Call-Id '").skip(1) {
        if let Some(id) = part.split('\'').next() {
            ids.insert(id.to_owned());
        }
    }
    ids
}

#[tokio::test]
async fn a_node_killed_under_load_takes_no_call_of_the_others_down_and_rejoins() {
    let _one = ONE_CLUSTER.lock().await;
    let Some((schema, mut nodes, envs)) = three_nodes("kill", &[]).await else {
        return;
    };
    // The edge as shipped (calls spread by a hash of their Call-ID), without its flood
    // limits: every sipp phone here is 127.0.0.1.
    let (kam, edge_addr, token, phone) = behind_edge(&nodes, false, &["NO_ANTIFLOOD"]).await;

    // 1001 calls 1002 at 5 calls/s for ten seconds (each call talks 2.5 s); node c is
    // killed (SIGKILL) three seconds in.
    let calls = 50;
    let callee = answering_phone(edge_addr, phone);
    let mut callee_child = callee.spawn();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let caller = calling_1002(
        edge_addr,
        &[
            "-r",
            "5",
            "-m",
            &calls.to_string(),
            "-l",
            "40",
            "-timeout",
            "90s",
        ],
    );
    let mut caller_child = caller.spawn();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let held_by_c = nodes[2].metric("ringside_calls_active", "").await;
    let c_dir = nodes[2].data_dir.clone();
    nodes[2].kill();
    let killed = std::time::Instant::now();
    // The edge's probes take the node out of the set.
    let mut detected = None;
    for _ in 0..200 {
        if kam.log_text().contains("Ringside node DOWN") {
            detected = Some(killed.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let detected = detected
        .unwrap_or_else(|| panic!("the edge never took the dead node out: {}", kam.log_text()));
    println!(
        "dead node out of the edge's set after: {:.2} s",
        detected.as_secs_f64()
    );

    let _ = tokio::time::timeout(Duration::from_secs(120), caller_child.wait())
        .await
        .expect("the caller finishes");
    let failed = failed_call_ids(&caller);
    let survivors = &nodes[..2];

    // Every call of the other two nodes went through; only calls node c held failed.
    let (st, list) = survivors[0]
        .api("GET", "/api/v1/calls?limit=200", &token, None)
        .await;
    assert_eq!(st, 200, "{list}");
    let list = list.as_array().unwrap().clone();
    let node_of = |sip_call_id: &str| {
        list.iter().find_map(|c| {
            c["legs"]
                .as_array()?
                .iter()
                .any(|l| l["role"] == "caller" && l["sipCallId"] == sip_call_id)
                .then(|| c["node"].as_str().unwrap_or_default().to_owned())
        })
    };
    for id in &failed {
        let node = node_of(id);
        assert!(
            node.as_deref().is_none_or(|n| n == "kill-c"),
            "call {id} failed on {node:?}, not the killed node{}",
            logs(&kam, survivors)
        );
    }
    eventually("the other nodes' calls have all ended", || {
        let (srv, token) = (&survivors[0], &token);
        async move {
            let (_, l) = srv.api("GET", "/api/v1/calls?limit=200", token, None).await;
            l.as_array().is_some_and(|l| {
                l.iter()
                    .filter(|c| c["node"] != "kill-c")
                    .all(|c| c["endedAt"].is_i64())
            })
        }
    })
    .await;
    let (_, list) = survivors[0]
        .api("GET", "/api/v1/calls?limit=200", &token, None)
        .await;
    let list = list.as_array().unwrap().clone();
    let node_of = |sip_call_id: &str| {
        list.iter().find_map(|c| {
            c["legs"]
                .as_array()?
                .iter()
                .any(|l| l["role"] == "caller" && l["sipCallId"] == sip_call_id)
                .then(|| c["node"].as_str().unwrap_or_default().to_owned())
        })
    };
    let on_others: Vec<_> = list.iter().filter(|c| c["node"] != "kill-c").collect();
    assert!(
        on_others
            .iter()
            .all(|c| c["status"] == "ended" && c["answeredBy"] == "extension:1002"),
        "{on_others:#?}"
    );
    // Calls failed at most as many as node c held, plus the one or two it took in the
    // instant before its death; every other call was answered and ended.
    assert!(
        failed.len() as f64 <= held_by_c + 2.0,
        "{} calls failed, node c held {held_by_c}: {failed:?}",
        failed.len()
    );
    // Every call is accounted for: on record with a live node, or with node c (done
    // before the kill, or failed with it), or failed before node c could store it.
    let on_c = list.iter().filter(|c| c["node"] == "kill-c").count();
    let unrecorded = failed.iter().filter(|id| node_of(id).is_none()).count();
    assert_eq!(on_others.len() + on_c + unrecorded, calls, "{failed:?}");
    callee_child.kill().await.unwrap();
    println!(
        "calls: {calls}, failed with the killed node: {}, held by it at the kill: {held_by_c}",
        failed.len()
    );

    // Node c restarts under its id and address; the edge's probes take it back.
    let ups = kam.log_text().matches("Ringside node UP").count();
    nodes[2] = Server::start_in(c_dir, &pairs(&envs[2])).await;
    eventually("the edge takes node c back", || async {
        kam.log_text().matches("Ringside node UP").count() > ups
    })
    .await;
    let out = nodes[0].cli(&["nodes"]);
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed
            .lines()
            .any(|l| l.contains("\"kill-c\"") && l.contains("\"alive\":true")),
        "{listed}"
    );
    drop((kam, nodes));
    schema.drop_schema().await.unwrap();
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const ORIGIN: &str = "https://example.com";

/// A WebSocket to `base` (an `http://` URL) at `path`, from [`ORIGIN`].
async fn ws_at(base: &str, path: &str) -> Ws {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("{}{path}", base.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    req.headers_mut().insert("origin", ORIGIN.parse().unwrap());
    tokio_tungstenite::connect_async(req).await.unwrap().0
}

/// The next text frame of `ws` whose type is `kind` (others are skipped), bounded.
async fn next_of(ws: &mut Ws, kind: &str) -> serde_json::Value {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let m = tokio::time::timeout_at(deadline, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no {kind} frame"))
            .expect("socket open")
            .expect("frame");
        if let Message::Text(t) = m {
            let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
            if v["type"] == kind {
                return v;
            }
        }
    }
}

/// The node that answers `GET /healthz` through `edge` (with `query`).
async fn answering_node(edge: &str, query: &str) -> Option<String> {
    let r = ringside_e2e::http_client()
        .get(format!("{edge}/healthz{query}"))
        .send()
        .await
        .ok()?;
    let v: serde_json::Value = r.json().await.ok()?;
    v["node"].as_str().map(str::to_owned)
}

/// The dashboard's socket through `edge`, signed in with `token`.
async fn dashboard(edge: &str, token: &str) -> Ws {
    use futures_util::SinkExt;
    let mut dash = ws_at(edge, "/api/ws/tenant").await;
    dash.send(tokio_tungstenite::tungstenite::Message::Text(
        serde_json::json!({"type": "auth", "token": token})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    next_of(&mut dash, "auth:ok").await;
    dash
}

/// The visitor writes `text` through `edge`, naming themselves in the query as the widget
/// does.
async fn visitor_says(edge: &str, widget: &str, key: &str, visitor: &str, text: &str) {
    let r = ringside_e2e::http_client()
        .post(format!(
            "{edge}/api/widgets/{widget}/chat?key={key}&visitorId={visitor}"
        ))
        .header("origin", ORIGIN)
        .json(&serde_json::json!({"sessionId": visitor, "visitorId": visitor, "message": text}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

/// The operator answers `visitor` through `edge`.
async fn operator_says(edge: &str, token: &str, widget: &str, visitor: &str, text: &str) {
    let r = ringside_e2e::http_client()
        .post(format!("{edge}/api/v1/widgets/{widget}/messages"))
        .bearer_auth(token)
        .json(&serde_json::json!({"visitorId": visitor, "body": text}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn visitors_and_dashboards_behind_haproxy_survive_the_loss_of_a_node() {
    let _one = ONE_CLUSTER.lock().await;
    let Some((schema, mut nodes, _)) =
        three_nodes("http", &[("RINGSIDE_TRUST_FORWARDED_FOR", "true")]).await
    else {
        return;
    };
    let https: Vec<SocketAddr> = nodes
        .iter()
        .map(|n| n.http.trim_start_matches("http://").parse().unwrap())
        .collect();
    let bind: SocketAddr = format!("{EDGE_IP}:{}", free_port()).parse().unwrap();
    let haproxy = ringside_e2e::haproxy::http_edge(
        &nodes[0].data_dir.join("haproxy"),
        bind,
        &[https[0], https[1], https[2]],
    )
    .await;
    let edge = haproxy.url.clone();
    let token = nodes[0].token(
        "edge@example.com",
        "messages:read,messages:write,analytics:read,widgets:write",
    );
    let r = ringside_e2e::http_client()
        .post(format!("{edge}/api/v1/widgets"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "Site", "allowedDomains": ["example.com"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let w: serde_json::Value = r.json().await.unwrap();
    let (widget, key) = (
        w["id"].as_str().unwrap().to_owned(),
        w["publicKey"].as_str().unwrap().to_owned(),
    );

    // Requests without a visitor are spread over the nodes.
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..12 {
        seen.insert(answering_node(&edge, "").await.unwrap());
    }
    assert!(seen.len() >= 2, "one node took every request: {seen:?}");
    // A visitor's requests all reach one node.
    let visitor = "visitor-behind-haproxy";
    let q = format!("?visitorId={visitor}");
    let holder = answering_node(&edge, &q).await.unwrap();
    for _ in 0..5 {
        assert_eq!(answering_node(&edge, &q).await.unwrap(), holder);
    }

    // The visitor's page socket and a dashboard, both through the edge; the chat and the
    // reply cross whichever nodes hold them.
    let page_path = format!("/api/widgets/{widget}/ws?key={key}&visitorId={visitor}");
    let mut page = ws_at(&edge, &page_path).await;
    next_of(&mut page, "ready").await;
    let mut dash = dashboard(&edge, &token).await;
    visitor_says(&edge, &widget, &key, visitor, "Hello through the edge").await;
    let m = next_of(&mut dash, "message:new").await;
    assert_eq!(m["data"]["body"], "Hello through the edge", "{m}");
    operator_says(&edge, &token, &widget, visitor, "Hi, welcome").await;
    let m = next_of(&mut page, "message").await;
    assert_eq!(m["data"]["body"], "Hi, welcome", "{m}");

    // The node holding the visitor dies (SIGKILL): the edge's checks take it out, the
    // visitor's requests go to another node, and the page's socket reconnects there.
    let dead = nodes
        .iter()
        .position(|n| n.env_value("RINGSIDE_NODE_ID") == Some(holder.as_str()))
        .unwrap();
    nodes[dead].kill();
    let killed = std::time::Instant::now();
    let mut moved = None;
    for _ in 0..200 {
        match answering_node(&edge, &q).await {
            Some(n) if n != holder => {
                moved = Some((n, killed.elapsed()));
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let (new_holder, after) =
        moved.unwrap_or_else(|| panic!("the visitor never moved: {}", haproxy.log_text()));
    println!(
        "visitor moved from {holder} to {new_holder} after: {:.2} s",
        after.as_secs_f64()
    );
    let mut page = ws_at(&edge, &page_path).await;
    next_of(&mut page, "ready").await;
    let mut dash = dashboard(&edge, &token).await;
    visitor_says(&edge, &widget, &key, visitor, "Still there?").await;
    let m = next_of(&mut dash, "message:new").await;
    assert_eq!(m["data"]["body"], "Still there?", "{m}");
    operator_says(&edge, &token, &widget, visitor, "Yes, still here").await;
    let m = next_of(&mut page, "message").await;
    assert_eq!(m["data"]["body"], "Yes, still here", "{m}");
    // Nothing said before the loss was lost: the history holds all four messages.
    let r = ringside_e2e::http_client()
        .get(format!(
            "{edge}/api/widgets/{widget}/messages?key={key}&visitorId={visitor}"
        ))
        .header("origin", ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let history = r.text().await.unwrap();
    for said in [
        "Hello through the edge",
        "Hi, welcome",
        "Still there?",
        "Yes, still here",
    ] {
        assert!(history.contains(said), "{said}: {history}");
    }
    // The edge's own health: up while any node is.
    let r = ringside_e2e::http_client()
        .get(format!("{edge}/edge/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    drop((haproxy, nodes));
    schema.drop_schema().await.unwrap();
}

#[tokio::test]
async fn postgres_restarted_under_load_the_nodes_reconnect_and_lose_no_call() {
    let _one = ONE_CLUSTER.lock().await;
    // A PostgreSQL of this test's own, to stop and start.
    let pg = ringside_e2e::postgres::PrivatePg::start();
    let url = pg.url();
    let Some((schema, nodes, _)) =
        three_nodes("pgr", &[("RINGSIDE_DATABASE_URL", url.as_str())]).await
    else {
        return;
    };
    let (kam, edge_addr, token, phone) = behind_edge(&nodes, false, &["NO_ANTIFLOOD"]).await;

    // 60 calls at 5 calls/s through the edge; the database stops (every connection cut)
    // three seconds in and comes back two seconds later.
    let calls = 60;
    let callee = answering_phone(edge_addr, phone);
    let mut callee_child = callee.spawn();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let caller = calling_1002(
        edge_addr,
        &[
            "-r",
            "5",
            "-m",
            &calls.to_string(),
            "-l",
            "40",
            "-timeout",
            "90s",
        ],
    );
    let mut caller_child = caller.spawn();
    tokio::time::sleep(Duration::from_secs(3)).await;
    pg.down();
    tokio::time::sleep(Duration::from_secs(2)).await;
    pg.up();
    let ok = tokio::time::timeout(Duration::from_secs(120), caller_child.wait())
        .await
        .expect("the caller finishes")
        .unwrap()
        .success();
    assert!(
        ok,
        "every call completed: {}{}",
        caller.messages(),
        logs(&kam, &nodes)
    );
    callee_child.kill().await.unwrap();

    // Every call is on record and ended, whichever node held it; nothing lost.
    eventually("every call recorded and ended", || {
        let (srv, token) = (&nodes[1], &token);
        async move {
            let (st, l) = srv.api("GET", "/api/v1/calls?limit=200", token, None).await;
            st == 200
                && l.as_array()
                    .is_some_and(|l| l.len() == calls && l.iter().all(|c| c["endedAt"].is_i64()))
        }
    })
    .await;
    let (_, list) = nodes[2]
        .api("GET", "/api/v1/calls?limit=200", &token, None)
        .await;
    let list = list.as_array().unwrap();
    assert!(
        list.iter()
            .all(|c| c["status"] == "ended" && c["endReason"] == "hangup"),
        "{list:#?}"
    );
    let held: std::collections::BTreeSet<&str> =
        list.iter().filter_map(|c| c["node"].as_str()).collect();
    assert!(held.len() >= 2, "the calls were spread: {held:?}");
    assert_eq!(
        total(&nodes, "ringside_call_record_write_failures_total", "").await,
        0.0
    );
    // Every node is back in the cluster (heartbeats written again).
    eventually("every node alive again", || async {
        let out = nodes[0].cli(&["nodes"]);
        let listed = String::from_utf8_lossy(&out.stdout).to_string();
        listed.matches("\"alive\":true").count() == 3
    })
    .await;
    drop((kam, nodes));
    schema.drop_schema().await.unwrap();
    drop(pg);
}
