//! HAProxy (Debian's 2.6) as a cluster's HTTP edge, running `deploy/haproxy/haproxy.cfg` as
//! shipped in front of Ringside nodes: a process of its own, logging to a file, killed on
//! drop.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running HAProxy; killed on drop.
pub struct Haproxy {
    child: Child,
    log: std::path::PathBuf,
    /// Its base URL (`http://ip:port`).
    pub url: String,
}

impl Haproxy {
    /// Its log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The shipped HTTP edge on `bind`, in front of the three nodes at `nodes` (HTTP
/// addresses), its admin socket and log in `dir`. Returns once it answers its own health
/// check with every node up (bounded).
pub async fn http_edge(dir: &Path, bind: SocketAddr, nodes: &[SocketAddr; 3]) -> Haproxy {
    let bin = Path::new("/usr/sbin/haproxy");
    assert!(
        bin.exists(),
        "haproxy is not installed (apt-get install haproxy)"
    );
    std::fs::create_dir_all(dir).unwrap();
    let cfg = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/haproxy/haproxy.cfg"
    ));
    let log = dir.join("haproxy.log");
    let stats = SocketAddr::new(bind.ip(), crate::free_port());
    let child = Command::new(bin)
        .arg("-db")
        .arg("-f")
        .arg(cfg)
        .env("RS_HTTP_BIND", bind.to_string())
        .env("RS_STATS_BIND", stats.to_string())
        .env("RS_ADMIN_SOCK", dir.join("admin.sock"))
        .env("RS_NODE_A", nodes[0].to_string())
        .env("RS_NODE_B", nodes[1].to_string())
        .env("RS_NODE_C", nodes[2].to_string())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn haproxy");
    let edge = Haproxy {
        child,
        log,
        url: format!("http://{bind}"),
    };
    let client = crate::http_client();
    for _ in 0..200 {
        let up = client
            .get(format!("http://{stats}/metrics"))
            .send()
            .await
            .ok()
            .map(|r| r.text());
        if let Some(text) = up {
            let text = text.await.unwrap_or_default();
            let ups = text
                .lines()
                .filter(|l| l.starts_with("haproxy_server_status{proxy=\"visitor\""))
                .filter(|l| l.contains("state=\"UP\"") && l.ends_with(" 1"))
                .count();
            if ups == 3 {
                return edge;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("HAProxy never saw the three nodes up: {}", edge.log_text());
}
