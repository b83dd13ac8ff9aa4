//! PostgreSQL restarted under load. A private PostgreSQL cluster (initdb into a temporary
//! directory, its own port; the shared one on 5432 is left alone) backs `ringside serve`
//! while sipp places authenticated calls at a steady rate; in the middle the cluster is
//! stopped (fast shutdown: every connection cut) and started again a couple of seconds later.
//! Signalling holds, the API answers again once the database is back, and every call sipp
//! completed has its record, ended, none lost.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use ringside_e2e::{eventually, free_port, Server, UacFlow};

/// A PostgreSQL cluster of this test's own, run as the `postgres` user when we are root.
struct PrivatePg {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

impl PrivatePg {
    fn start() -> PrivatePg {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries (apt-get install postgresql)")
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|p| p.join("initdb").exists())
            .max()
            .expect("an initdb under /usr/lib/postgresql/*/bin");
        let dir = std::env::temp_dir().join(format!(
            "ringside-pg-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let pg = PrivatePg {
            bin,
            dir,
            port: free_port(),
        };
        if is_root() {
            let st = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&pg.dir)
                .status()
                .unwrap();
            assert!(st.success(), "chown the cluster directory");
        }
        pg.run(
            "initdb",
            &[
                "-D",
                &pg.data(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        pg.up();
        pg
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    /// Runs one of the cluster's programs (as `postgres` when we are root); panics on failure.
    fn run(&self, prog: &str, args: &[&str]) {
        let exe = self.bin.join(prog);
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd.args(args).output().expect("run a PostgreSQL program");
        assert!(
            out.status.success(),
            "{prog} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn up(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("postgres.log").display().to_string();
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-l", &log, "-w", "-o", &opts, "start"],
        );
    }

    /// Fast shutdown: every session is cut, as in a restart.
    fn down(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let exe = self.bin.join("pg_ctl");
        let data = self.data();
        let args = ["-D", data.as_str(), "-m", "immediate", "stop"];
        let _ = if is_root() {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&exe)
                .args(args)
                .output()
        } else {
            Command::new(&exe).args(args).output()
        };
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether this process runs as root (initdb refuses to; `runuser` drops to `postgres`).
fn is_root() -> bool {
    std::env::var("USER").map(|u| u == "root").unwrap_or(false)
        || Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

const CALLS: u32 = 100;

#[tokio::test]
async fn postgres_restarted_under_load_loses_no_call_record() {
    let pg = PrivatePg::start();
    let url = pg.url();
    let srv = Server::start_with(&[("RINGSIDE_DATABASE_URL", url.as_str())]).await;
    let token = srv.with_phones().await;

    // 1002 answers every call (a two-second conversation each, RTP echoed).
    let (_uas, mut uas_child) = srv.answering(CALLS).await;
    let calls = CALLS.to_string();

    // 1001 calls at 10 calls/s for ten seconds.
    let caller = srv.caller(
        UacFlow::AnswerAndHangUp,
        &["-r", "10", "-m", &calls, "-l", "40", "-timeout", "60s"],
    );
    let mut caller_child = caller.spawn();

    tokio::time::sleep(Duration::from_secs(3)).await;
    pg.down();
    // While the database is down the API says so, with a JSON error body.
    let (st, body) = srv.api("GET", "/api/v1/calls", &token, None).await;
    assert_eq!(st, 503, "{body}\n{}", srv.log_text());
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    pg.up();

    let caller_ok = tokio::time::timeout(Duration::from_secs(120), caller_child.wait())
        .await
        .expect("the caller finishes")
        .unwrap()
        .success();
    let _ = tokio::time::timeout(Duration::from_secs(30), uas_child.wait()).await;
    assert!(
        caller_ok,
        "every call completed: {}\nserver log:\n{}",
        caller.messages(),
        srv.log_text()
    );

    // Every call is on record and ended; nothing was dropped on the floor.
    eventually("every call recorded and ended", || {
        let (srv, token) = (&srv, &token);
        async move {
            let (st, list) = srv.api("GET", "/api/v1/calls?limit=200", token, None).await;
            st == 200
                && list.as_array().is_some_and(|l| {
                    l.len() == CALLS as usize && l.iter().all(|c| c["endedAt"].is_i64())
                })
        }
    })
    .await;
    let (_, list) = srv
        .api("GET", "/api/v1/calls?limit=200", &token, None)
        .await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "ended" && c["endReason"] == "hangup"),
        "{list}"
    );
    assert_eq!(
        srv.metric("ringside_call_record_write_failures_total", "")
            .await,
        0.0,
        "{}",
        srv.log_text()
    );
    assert!(!srv.log_text().contains("panicked"), "{}", srv.log_text());
}
