//! Kamailio (Debian's 5.6) run by the tests: a process group of its own, logging to a file,
//! killed on drop; and the SIP edge of a cluster, `deploy/kamailio/kamailio.cfg` as shipped,
//! in front of Ringside nodes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A Kamailio process and its children (its own process group); killed on drop.
pub struct Kamailio {
    child: Child,
    /// Its log (stderr).
    pub log: PathBuf,
}

impl Kamailio {
    /// Start `/usr/sbin/kamailio -DD -E -f cfg` with `args` (`-A NAME=value` defines), its
    /// run and working directory `dir`, logging to `dir/kamailio.log`.
    pub fn start(cfg: &Path, dir: &Path, args: &[String]) -> Kamailio {
        let bin = Path::new("/usr/sbin/kamailio");
        assert!(
            bin.exists(),
            "kamailio is not installed (apt-get install kamailio kamailio-tls-modules)"
        );
        let log = dir.join("kamailio.log");
        use std::os::unix::process::CommandExt;
        let child = Command::new(bin)
            .process_group(0)
            // Foreground, log to stderr, run dir and working dir of its own.
            .args(["-DD", "-E", "-f"])
            .arg(cfg)
            .args(args)
            .arg("-Y")
            .arg(dir)
            .arg("-w")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn kamailio");
        Kamailio { child, log }
    }

    /// Its log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        // The main process and the workers it forked.
        crate::signal_group(self.child.id(), libc::SIGKILL);
        let _ = self.child.wait();
    }
}

/// The cluster's SIP edge: `deploy/kamailio/kamailio.cfg` listening on `addr` (UDP),
/// dispatching to `nodes` (round-robin when `round_robin`, else the shipped hash over
/// Call-ID), its node list and control socket in `dir`, `defines` added (`NO_ANTIFLOOD`,
/// `PHONE_KA_S=2`). Returns once every node answered a probe (bounded).
pub async fn edge(
    dir: &Path,
    addr: SocketAddr,
    nodes: &[SocketAddr],
    round_robin: bool,
    defines: &[&str],
) -> Kamailio {
    std::fs::create_dir_all(dir).unwrap();
    let list = dir.join("dispatcher.list");
    let mut text = String::new();
    for (i, n) in nodes.iter().enumerate() {
        text.push_str(&format!("1 sip:{n};transport=udp 9 0 duid=node-{i}\n"));
    }
    std::fs::write(&list, text).unwrap();
    let cfg = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/kamailio/kamailio.cfg"
    ));
    let mut args = vec![
        format!("EDGE_IP={}", addr.ip()),
        format!("EDGE_PORT={}", addr.port()),
        format!("DS_LIST_FILE=\"{}\"", list.display()),
        format!("CTL_SOCKET=\"unix:{}\"", dir.join("ctl.sock").display()),
    ];
    if round_robin {
        args.push("DS_ALG=4".into());
    }
    args.extend(defines.iter().map(|d| d.to_string()));
    let args: Vec<String> = args.into_iter().flat_map(|a| ["-A".into(), a]).collect();
    let k = Kamailio::start(cfg, dir, &args);
    for _ in 0..200 {
        if k.log_text().matches("Ringside node UP").count() >= nodes.len() {
            return k;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the edge never saw every node answer its probes: {}",
        k.log_text()
    );
}
