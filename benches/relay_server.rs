//! Ringside's RTP relay (`ringside_media::MediaEngine`) as a standalone process, for the RTP relay
//! load benchmark (`benches/relay_load.sh`, driven by the `rtp_load` binary).
//!
//! Line commands on stdin, replies on stdout:
//!
//! ```text
//! rss                        -> rss_kb <VmRSS in kB>
//! create <n>                 -> n lines "<a_port> <b_port>", then "ok <n>"
//! announce <i> <addrA> <addrB>  (no reply) announce both legs of relay i
//! codecs <kindA> <ptA> <kindB> <ptB>  (no reply) codecs for the legs of relays created from now on
//!                                      (kind: pcmu | pcma | opus); legs with different codecs are
//!                                      transcoded. `codecs none` (the default): no codec set, pure
//!                                      passthrough as before.
//! codec <i> <A|B> <kind> <pt>  (no reply) set one leg's codec of relay i
//! quality                    -> quality <received> <lost> <legs_with_loss>: RTP the relays received
//!                               from the legs and RFC 3550 loss on that hop (summed over all
//!                               relays' latest one-second quality snapshots)
//! sync                       -> ok
//! stats                      -> stats <forwarded> <dropped_foreign> <dropped_no_destination>
//!                                     <active> <rss_kb> <transcoding> <generated>
//!                                     <dropped_send_full> <offloaded> <kernel_forwarded>
//!                               (forwarded counts the kernel fast path's packets too)
//! quit | EOF                 -> exit
//! ```
//!
//! Options: `--workers N` (media worker threads, default 2), `--bind IP` (default 127.0.0.1),
//! `--ports LO-HI` (default 20000-31999), `--fastpath` (the kernel fast path: steady
//! passthrough calls forwarded by the eBPF program; exits if it cannot start).

use std::io::{BufRead, BufWriter, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;

use ringside_benches::rss_kb;
use ringside_media::codec::CodecKind;
use ringside_media::{LegCodec, MediaEngine, Side};

fn leg_codec(kind: &str, pt: &str) -> LegCodec {
    let kind = match kind.to_ascii_lowercase().as_str() {
        "pcmu" => CodecKind::Pcmu,
        "pcma" => CodecKind::Pcma,
        "opus" => CodecKind::Opus,
        other => panic!("unknown codec {other} (pcmu | pcma | opus)"),
    };
    LegCodec::new(kind, pt.parse().expect("payload type"))
}

fn side(s: &str) -> Side {
    match s {
        "A" | "a" => Side::A,
        "B" | "b" => Side::B,
        other => panic!("unknown side {other} (A | B)"),
    }
}

fn main() {
    let mut workers = 2usize;
    let mut bind: IpAddr = [127, 0, 0, 1].into();
    let mut ports = (20000u16, 31999u16);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    let mut fastpath = false;
    while i < args.len() {
        if args[i] == "--fastpath" {
            fastpath = true;
            i += 1;
            continue;
        }
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
    let mut engine = MediaEngine::new(bind, ports.0..=ports.1).with_workers(workers);
    if fastpath {
        match ringside_media::fastpath::FastPath::start(bind) {
            Ok(f) => {
                eprintln!("relay_server: fast path on ({})", f.interfaces().join(", "));
                engine = engine.with_fast_path(std::sync::Arc::new(f));
            }
            Err(e) => {
                eprintln!("relay_server: --fastpath, but it cannot start: {e}");
                std::process::exit(2);
            }
        }
    }
    let mut relays = Vec::new();
    let mut codecs: Option<(LegCodec, LegCodec)> = None;
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
                    if let Some((a, b)) = codecs {
                        r.set_codec(Side::A, a);
                        r.set_codec(Side::B, b);
                    }
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
            ["codecs", "none"] => codecs = None,
            ["codecs", ka, pa, kb, pb] => codecs = Some((leg_codec(ka, pa), leg_codec(kb, pb))),
            ["codec", idx, sd, kind, pt] => {
                let idx: usize = idx.parse().expect("relay index");
                relays[idx].set_codec(side(sd), leg_codec(kind, pt));
            }
            ["quality"] => {
                let (mut recv, mut lost, mut legs) = (0u64, 0i64, 0usize);
                for q in relays.iter().flat_map(|r| r.quality()) {
                    recv += q.packets_received;
                    lost += q.packets_lost.max(0);
                    legs += usize::from(q.packets_lost > 0);
                }
                writeln!(out, "quality {recv} {lost} {legs}").expect("stdout");
            }
            ["sync"] => writeln!(out, "ok").expect("stdout"),
            ["stats"] => {
                let s = engine.stats();
                let kernel = engine.fast_path().map_or(0, |f| f.totals().forwarded);
                writeln!(
                    out,
                    "stats {} {} {} {} {} {} {} {} {} {}",
                    s.forwarded.load(Ordering::Relaxed) + kernel,
                    s.dropped_foreign.load(Ordering::Relaxed),
                    s.dropped_no_destination.load(Ordering::Relaxed),
                    s.active.load(Ordering::Relaxed),
                    rss_kb(),
                    s.transcoding.load(Ordering::Relaxed),
                    s.generated.load(Ordering::Relaxed),
                    s.dropped_send_full.load(Ordering::Relaxed),
                    s.offloaded.load(Ordering::Relaxed),
                    kernel
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
