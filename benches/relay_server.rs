//! Ringside's RTP relay (`ringside_media::MediaEngine`) as a standalone process, for the RTP relay
//! load benchmark (`benches/relay_load.sh`, driven by the `rtp_load` binary).
//!
//! Line commands on stdin, replies on stdout:
//!
//! ```text
//! rss                        -> rss_kb <VmRSS in kB>
//! create <n>                 -> n lines "<a_port> <b_port>", then "ok <n>"
//! announce <i> <addrA> <addrB>  (no reply) announce both legs of relay i
//! sync                       -> ok
//! stats                      -> stats <forwarded> <dropped_foreign> <dropped_no_destination> <active> <rss_kb>
//! quit | EOF                 -> exit
//! ```
//!
//! Options: `--workers N` (media worker threads, default 2), `--bind IP` (default 127.0.0.1),
//! `--ports LO-HI` (default 20000-31999).

use std::io::{BufRead, BufWriter, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;

use ringside_media::{MediaEngine, Side};

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let mut workers = 2usize;
    let mut bind: IpAddr = [127, 0, 0, 1].into();
    let mut ports = (20000u16, 31999u16);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let val = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--workers" => workers = val.parse().expect("--workers N"),
            "--bind" => bind = val.parse().expect("--bind IP"),
            "--ports" => {
                let (lo, hi) = val.split_once('-').expect("--ports LO-HI");
                ports = (lo.parse().expect("port"), hi.parse().expect("port"));
            }
            other => panic!("unknown option {other}"),
        }
        i += 2;
    }
    // The relays run on the engine's own media worker threads; no async runtime is needed.
    let engine = MediaEngine::new(bind, ports.0..=ports.1).with_workers(workers);
    let mut relays = Vec::new();
    let stdin = std::io::stdin();
    let mut out = BufWriter::new(std::io::stdout());
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["rss"] => writeln!(out, "rss_kb {}", rss_kb()).expect("stdout"),
            ["create", n] => {
                let n: usize = n.parse().expect("create N");
                for _ in 0..n {
                    let r = engine.create_relay().expect("create relay");
                    writeln!(out, "{} {}", r.port(Side::A), r.port(Side::B)).expect("stdout");
                    relays.push(r);
                }
                writeln!(out, "ok {n}").expect("stdout");
            }
            ["announce", idx, a, b] => {
                let idx: usize = idx.parse().expect("relay index");
                let a: SocketAddr = a.parse().expect("addr A");
                let b: SocketAddr = b.parse().expect("addr B");
                relays[idx].announce(Side::A, a);
                relays[idx].announce(Side::B, b);
            }
            ["sync"] => writeln!(out, "ok").expect("stdout"),
            ["stats"] => {
                let s = engine.stats();
                writeln!(
                    out,
                    "stats {} {} {} {} {}",
                    s.forwarded.load(Ordering::Relaxed),
                    s.dropped_foreign.load(Ordering::Relaxed),
                    s.dropped_no_destination.load(Ordering::Relaxed),
                    s.active.load(Ordering::Relaxed),
                    rss_kb()
                )
                .expect("stdout");
            }
            ["quit"] => break,
            [] => {}
            _ => writeln!(out, "error unknown command").expect("stdout"),
        }
        out.flush().expect("stdout");
    }
    drop(relays);
}
