//! RTP load generator for the relay load benchmark (`benches/relay_load.sh`).
//!
//! Simulates N two-leg calls: every leg has its own UDP socket (so a relay's symmetric-RTP
//! latching sees one source per leg, as with real phones) sending 50 packets/s of 172-byte PCMU
//! RTP (12-byte header + 160-byte payload) to its relay port and receiving the other leg's
//! packets. The payload carries call, leg, sequence and a send timestamp, so the receiver measures
//! loss and the one-way latency added by the relay. `--threads T` (default 1) splits the calls over
//! T threads, each with mio (epoll) over its own sockets; each thread paces its sends on a
//! schedule spread evenly over each 20 ms (the threads interleaved) and issues them in ~1 ms
//! batches.
//!
//! Targets:
//! - `--mode ours --relay-bin PATH`: spawns `relay_server` and drives it over stdin/stdout;
//!   with `--fastpath` the relays use the kernel fast path (both legs PCMU, so the calls are
//!   plain passthroughs the engine hands to the kernel once steady, within the warm-up);
//!   with `--netns NS:IP:RELAY_IP,NS:IP:RELAY_IP` legs A and B are in two network namespaces
//!   behind veth pairs and the relay listens on every address (`benches/relay_netns_load.sh`);
//! - `--mode direct`: no relay, each leg sends straight to the other: the baseline whose host
//!   CPU (`host_busy_us`) the script subtracts to get what relaying costs, kernel work
//!   included;
//! - `--mode rtpengine --ng IP:PORT --pid PID`: allocates calls in a running rtpengine with ng
//!   `offer`/`answer` and sends to the ports from its rewritten SDPs.
//!
//! `--transcode` (with `--mode ours`): every relay is told leg A speaks PCMU (PT 0) and leg B
//! Opus (PT 111), so the relay transcodes both directions (G.711 decode + Opus encode at 8 kHz
//! one way, Opus decode + G.711 encode the other). Leg A sends PCMU, leg B Opus: 20 ms frames of
//! speech-like audio (`speech.rs`) at 8 kHz, encoded once before the run (default
//! `EncoderOptions`) and replayed in a loop, each leg from its own offset, so the generator does
//! no codec work. The relay re-encodes, so the payload carries no markers: per receiving leg,
//! loss is counted from the RTP sequence numbers of Ringside's output stream (one continuous
//! stream per leg): gaps in the extended sequence among the packets that arrive from the start
//! of the measured window on (its first packet is the base, so the stream start before the
//! window does not count); and delivery as packets received vs packets the other leg sent over
//! the whole run (the receive drain after the window catches the tail). Latency is estimated by
//! pairing the j-th packet a leg receives with the j-th packet the other leg sent (the relay
//! emits exactly one packet per input frame), valid only while nothing is lost.
//!
//! Only packets sent inside the measured window (after `--warmup` s, for `--duration` s) count;
//! after the window the generator stops sending and keeps receiving for 1 s. The relay process'
//! CPU (utime+stime from /proc/PID/stat) and RSS are read at the window edges. The last line is
//! `RESULT key=value ...` for the script.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};
use ringside_media::codec::frame::MAX_ENCODED_FRAME_BYTES;
use ringside_media::codec::{CodecKind, EncoderOptions, FrameEncoder};

#[path = "rtp_load_ng.rs"]
mod ng;
#[path = "rtp_load_shard.rs"]
mod shard;
#[path = "speech.rs"]
mod speech;

use ng::{s, sdp, Ben, Ng};
use shard::{Clock, Edge, Media, Outcome, Shard};

const MAGIC: u32 = 0x5249_4e47; // "RING"
const PKT_LEN: usize = 172;
const PTIME_NS: u64 = 20_000_000;
const HIST_BUCKETS: usize = 20_000; // 1 us buckets up to 20 ms
/// Sends per loop iteration before receiving again.
const MAX_BURST: usize = 256;
/// Slots later than this are skipped, not sent late.
const MAX_LAG_NS: u64 = 50_000_000;
/// `--transcode`: payload types of leg A (PCMU) and leg B (Opus).
const PT_A: u8 = 0;
const PT_B: u8 = 111;
/// `--transcode`: pre-encoded 20 ms frames per codec (10 s of audio), replayed in a loop.
const FRAMES: usize = 500;

struct Opts {
    mode: String,
    calls: usize,
    warmup: f64,
    duration: f64,
    relay_bin: String,
    workers: usize,
    threads: usize,
    ng: SocketAddr,
    pid: u32,
    clk_tck: u64,
    transcode: bool,
    fastpath: bool,
    netns: Option<[LegNet; 2]>,
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        mode: "ours".into(),
        calls: 100,
        warmup: 3.0,
        duration: 10.0,
        relay_bin: "target/release/relay_server".into(),
        workers: 2,
        threads: 1,
        ng: "127.0.0.1:22222".parse().expect("addr"),
        pid: 0,
        clk_tck: 100,
        transcode: false,
        fastpath: false,
        netns: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--transcode" {
            o.transcode = true;
            i += 1;
            continue;
        }
        if args[i] == "--fastpath" {
            o.fastpath = true;
            i += 1;
            continue;
        }
        let v = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--mode" => o.mode = v,
            "--calls" => o.calls = v.parse().expect("--calls N"),
            "--warmup" => o.warmup = v.parse().expect("--warmup S"),
            "--duration" => o.duration = v.parse().expect("--duration S"),
            "--relay-bin" => o.relay_bin = v,
            "--workers" => o.workers = v.parse().expect("--workers N"),
            "--threads" => o.threads = v.parse().expect("--threads N"),
            "--ng" => o.ng = v.parse().expect("--ng IP:PORT"),
            "--pid" => o.pid = v.parse().expect("--pid PID"),
            "--clk-tck" => o.clk_tck = v.parse().expect("--clk-tck N"),
            "--netns" => {
                let (a, b) = v.split_once(',').expect("--netns A,B");
                o.netns = Some([LegNet::parse(a), LegNet::parse(b)]);
            }
            other => panic!("unknown option {other}"),
        }
        i += 2;
    }
    o
}

/// utime+stime of a process, in microseconds.
fn cpu_us(pid: &str, clk_tck: u64) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = s.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    ticks * 1_000_000 / clk_tck
}

/// Host CPU jiffies so far: (busy, total) from the `cpu` line of `/proc/stat` (idle and iowait
/// are not busy).
fn host_cpu() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> = s
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let total: u64 = v.iter().sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// Host-wide UDP receive errors so far (`/proc/net/snmp`: InErrors, RcvbufErrors).
fn udp_errors() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let mut rows = s.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(vals)) = (rows.next(), rows.next()) else {
        return (0, 0);
    };
    let get = |key: &str| {
        names
            .split_whitespace()
            .position(|n| n == key)
            .and_then(|i| vals.split_whitespace().nth(i))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (get("InErrors"), get("RcvbufErrors"))
}

/// utime+stime of each thread of a process, in microseconds, by thread id.
fn thread_cpu_us(pid: &str, clk_tck: u64) -> HashMap<String, u64> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return HashMap::new();
    };
    dir.flatten()
        .map(|e| {
            let tid = e.file_name().to_string_lossy().into_owned();
            let us = cpu_us(&format!("{pid}/task/{tid}"), clk_tck);
            (tid, us)
        })
        .collect()
}

fn rss_kb(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

// ---------- ours: relay_server over pipes ----------

/// `--netns NS:IP:RELAY_IP,NS:IP:RELAY_IP` (mode ours): legs A and B each in their own network
/// namespace, bound to IP there, sending to the relay at RELAY_IP (its address on that
/// network); the relay, in this namespace, listens on every address. Packets then cross veth
/// pairs as through a NIC, and the fast path sends them out of the other network's interface.
struct LegNet {
    ns: String,
    ip: Ipv4Addr,
    relay: Ipv4Addr,
}

impl LegNet {
    fn parse(v: &str) -> LegNet {
        let mut it = v.split(':');
        let mut next = || it.next().expect("--netns NS:IP:RELAY_IP,NS:IP:RELAY_IP");
        LegNet {
            ns: next().to_string(),
            ip: next().parse().expect("--netns: IP"),
            relay: next().parse().expect("--netns: RELAY_IP"),
        }
    }
}

/// Runs `f` on a thread in network namespace `ns` (a name under /run/netns); the sockets it
/// makes stay in that namespace.
#[allow(unsafe_code)]
fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    use std::os::fd::AsRawFd;
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = std::fs::File::open(format!("/run/netns/{ns}")).expect("--netns: namespace");
            // SAFETY: setns(2) with a namespace file descriptor held open; it moves this thread
            // only, which ends when `f` returns.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .expect("namespace thread")
    })
}

/// `count` leg sockets bound to `ip`, in namespace `ns` when given.
fn leg_sockets(count: usize, ip: Ipv4Addr, ns: Option<&str>) -> Vec<UdpSocket> {
    let make = || {
        (0..count)
            .map(|_| {
                let s = StdUdpSocket::bind((ip, 0)).expect("bind leg socket");
                s.set_nonblocking(true).expect("nonblocking");
                UdpSocket::from_std(s)
            })
            .collect()
    };
    match ns {
        Some(ns) => in_netns(ns, make),
        None => make(),
    }
}

struct RelayServer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl RelayServer {
    fn spawn(bin: &str, workers: usize, fastpath: bool, every_address: bool) -> Self {
        let mut child = Command::new(bin)
            .args(["--workers", &workers.to_string()])
            .args(fastpath.then_some("--fastpath"))
            .args(
                every_address
                    .then_some(["--bind", "0.0.0.0"])
                    .into_iter()
                    .flatten(),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn relay_server");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        RelayServer {
            child,
            stdin,
            stdout,
        }
    }

    fn send(&mut self, cmd: &str) {
        writeln!(self.stdin, "{cmd}").expect("relay_server stdin");
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.stdout.read_line(&mut l).expect("relay_server stdout");
        l.trim().to_string()
    }

    fn stats(&mut self) -> Vec<u64> {
        self.send("stats");
        self.stdin.flush().expect("flush");
        let l = self.line();
        l.split_whitespace()
            .skip(1)
            .map(|v| v.parse().unwrap_or(0))
            .collect()
    }
}

// ---------- the load ----------

/// `frames` payloads of 20 ms of speech at 8 kHz encoded as `kind` (default encoder options).
fn encode_speech(kind: CodecKind, frames: usize, seed: u64) -> Vec<Vec<u8>> {
    let pcm = speech::speech(8000, 160 * frames, seed);
    let mut enc = FrameEncoder::new(kind, 8000, EncoderOptions::default()).expect("encoder");
    let mut out = [0u8; MAX_ENCODED_FRAME_BYTES];
    pcm.chunks_exact(160)
        .map(|f| {
            let n = enc.encode(f, &mut out).expect("encode");
            out[..n].to_vec()
        })
        .collect()
}

fn main() {
    let o = parse_opts();
    let n = o.calls;
    let legs = 2 * n;

    // Leg sockets: leg 2c is call c's A side, 2c+1 its B side.
    let socks: Vec<UdpSocket> = match &o.netns {
        None => leg_sockets(legs, Ipv4Addr::LOCALHOST, None),
        Some([a, b]) => {
            assert_eq!(o.mode, "ours", "--netns needs --mode ours");
            let mut a = leg_sockets(n, a.ip, Some(&a.ns)).into_iter();
            let mut b = leg_sockets(n, b.ip, Some(&b.ns)).into_iter();
            (0..n)
                .flat_map(|_| [a.next(), b.next()])
                .map(|s| s.expect("a socket per leg"))
                .collect()
        }
    };
    let local: Vec<SocketAddr> = socks
        .iter()
        .map(|s| s.local_addr().expect("addr"))
        .collect();

    // Allocate the calls and learn where each leg sends.
    let mut server = None;
    assert!(
        !o.transcode || o.mode == "ours",
        "--transcode needs --mode ours"
    );
    // Pre-encoded media for --transcode (the generator does no codec work while running).
    let (frames_a, frames_b) = if o.transcode {
        (
            encode_speech(CodecKind::Pcmu, FRAMES, 1),
            encode_speech(CodecKind::Opus, FRAMES, 2),
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let relay_pid: String;
    let rss_base: u64;
    let mut dest: Vec<SocketAddr> = Vec::with_capacity(legs);
    let setup_start = Instant::now();
    let udp_err_start = udp_errors();
    if o.mode == "ours" {
        let mut srv = RelayServer::spawn(&o.relay_bin, o.workers, o.fastpath, o.netns.is_some());
        relay_pid = srv.child.id().to_string();
        srv.send("rss");
        srv.stdin.flush().expect("flush");
        rss_base = srv
            .line()
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if o.transcode {
            srv.send(&format!("codecs pcmu {PT_A} opus {PT_B}"));
        } else if o.fastpath {
            // Plain passthrough with known codecs: what the engine hands to the kernel.
            srv.send("codecs pcmu 0 pcmu 0");
        }
        srv.send(&format!("create {n}"));
        srv.stdin.flush().expect("flush");
        for _ in 0..n {
            let l = srv.line();
            let mut it = l
                .split_whitespace()
                .map(|p| p.parse::<u16>().expect("port"));
            let (a, b) = (it.next().expect("a port"), it.next().expect("b port"));
            let (to_a, to_b) = match &o.netns {
                Some([na, nb]) => (na.relay, nb.relay),
                None => (Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST),
            };
            dest.push(SocketAddr::from((to_a, a)));
            dest.push(SocketAddr::from((to_b, b)));
        }
        let ok = srv.line();
        assert!(ok.starts_with("ok"), "relay_server: {ok}");
        for c in 0..n {
            srv.send(&format!(
                "announce {c} {} {}",
                local[2 * c],
                local[2 * c + 1]
            ));
        }
        srv.send("sync");
        srv.stdin.flush().expect("flush");
        let ok = srv.line();
        assert_eq!(ok, "ok");
        server = Some(srv);
    } else if o.mode == "direct" {
        relay_pid = "0".into();
        rss_base = 0;
        for c in 0..n {
            dest.push(local[2 * c + 1]);
            dest.push(local[2 * c]);
        }
    } else {
        relay_pid = o.pid.to_string();
        rss_base = rss_kb(&relay_pid);
        let mut ng = Ng::new(o.ng);
        dest.resize(legs, SocketAddr::from(([0, 0, 0, 0], 0)));
        for c in 0..n {
            let call_id = format!("bench-{}-{c}", std::process::id());
            let offer = Ben::Dict(vec![
                (b"command".to_vec(), s("offer")),
                (b"call-id".to_vec(), s(&call_id)),
                (b"from-tag".to_vec(), s(&format!("a{c}"))),
                (b"sdp".to_vec(), s(&sdp(local[2 * c].port(), c))),
                (b"ICE".to_vec(), s("remove")),
            ]);
            // The offer's rewritten SDP goes to leg B: B sends there.
            dest[2 * c + 1] = Ng::sdp_addr(&ng.request(&offer));
            let answer = Ben::Dict(vec![
                (b"command".to_vec(), s("answer")),
                (b"call-id".to_vec(), s(&call_id)),
                (b"from-tag".to_vec(), s(&format!("a{c}"))),
                (b"to-tag".to_vec(), s(&format!("b{c}"))),
                (b"sdp".to_vec(), s(&sdp(local[2 * c + 1].port(), c))),
                (b"ICE".to_vec(), s("remove")),
            ]);
            dest[2 * c] = Ng::sdp_addr(&ng.request(&answer));
        }
    }
    let setup_secs = setup_start.elapsed().as_secs_f64();

    // Connected sockets: cheaper sends (no per-packet route lookup) and the kernel then only
    // delivers packets coming from the relay port this leg talks to.
    for (sock, d) in socks.iter().zip(&dest) {
        sock.connect(*d).expect("connect leg socket");
    }

    // The calls are split over `--threads` generator threads (call c to thread c % T), each
    // with its own sockets, poll and pacing; the main thread reads the window's edges (CPU, RSS,
    // the relay's counters).
    let threads = o.threads.clamp(1, n.max(1));
    let mut shards: Vec<Shard> = (0..threads).map(|_| Shard::default()).collect();
    for (k, sock) in socks.into_iter().enumerate() {
        let sh = &mut shards[(k / 2) % threads];
        sh.socks.push(sock);
        sh.legs.push(k);
    }
    let t0 = Instant::now();
    let ns = |d: f64| (d * 1e9) as u64;
    let clock = Clock {
        t0,
        win_start: ns(o.warmup),
        win_end: ns(o.warmup + o.duration),
        stop_recv: ns(o.warmup + o.duration) + 1_000_000_000,
    };
    let media = Media {
        transcode: o.transcode,
        frames_a: &frames_a,
        frames_b: &frames_b,
    };
    let gen_pid = std::process::id().to_string();
    let until = |at: u64| {
        let d = Duration::from_nanos(at).saturating_sub(t0.elapsed());
        std::thread::sleep(d);
    };
    let (outcomes, edges) = std::thread::scope(|s| {
        let handles: Vec<_> = shards
            .into_iter()
            .enumerate()
            .map(|(t, sh)| {
                let (clock, media) = (&clock, &media);
                s.spawn(move || sh.run(t, threads, clock, media))
            })
            .collect();
        until(clock.win_start);
        let start = Edge::read(&relay_pid, &gen_pid, o.clk_tck, server.as_mut());
        until(clock.win_end);
        let end = Edge::read(&relay_pid, &gen_pid, o.clk_tck, server.as_mut());
        let outcomes: Vec<Outcome> = handles
            .into_iter()
            .map(|h| h.join().expect("generator thread"))
            .collect();
        (outcomes, (start, end))
    });
    let (start, end) = edges;
    let mut total = Outcome::default();
    for x in outcomes {
        total.merge(x);
    }
    let Outcome {
        sent_win,
        sent_total,
        send_err,
        skipped,
        late_sends,
        max_lag_ns,
        recv_win,
        recv_total,
        recv_bad,
        wrong_pt,
        seq_gaps,
        undelivered,
        calls_with_loss,
        delivered,
        mut hist,
    } = total;
    let (cpu_start, cpu_end) = ((start.relay_us, start.gen_us), (end.relay_us, end.gen_us));
    let (host_start, host_end) = (start.host, end.host);
    let (threads_start, threads_end) = (start.threads, end.threads);
    let (stats_start, stats_end) = (start.stats, end.stats);
    let rss_window = end.rss_kb;

    let relay_cpu_us = cpu_end.0.saturating_sub(cpu_start.0);
    // The busiest relay thread (a media worker at 100 % is saturated whatever the total says).
    let relay_thread_max_us = threads_end
        .iter()
        .map(|(tid, us)| us.saturating_sub(*threads_start.get(tid).unwrap_or(&0)))
        .max()
        .unwrap_or(0);
    let gen_cpu_us = cpu_end.1.saturating_sub(cpu_start.1);
    let lost = sent_win.saturating_sub(recv_win);
    let delivered_pct = if o.transcode {
        100.0 * delivered as f64 / sent_total.max(1) as f64
    } else {
        100.0 * recv_win as f64 / sent_win.max(1) as f64
    };
    let relay_fwd = if stats_end.len() >= 3 && stats_start.len() >= 3 {
        format!(
            "{} generated(window) {} foreign={} no_dest={} send_full={} transcoding={}",
            stats_end[0] - stats_start[0],
            stats_end.get(6).unwrap_or(&0) - stats_start.get(6).unwrap_or(&0),
            stats_end[1],
            stats_end[2],
            stats_end.get(7).unwrap_or(&0),
            stats_end.get(5).unwrap_or(&0),
        )
    } else {
        "n/a".into()
    };
    let mut summary: HashMap<&str, String> = HashMap::new();
    summary.insert("p50", hist.quantile(0.50).to_string());
    summary.insert("p99", hist.quantile(0.99).to_string());
    summary.insert("p999", hist.quantile(0.999).to_string());
    summary.insert("max", hist.quantile(1.0).to_string());
    eprintln!(
        "{} calls={n}: setup {setup_secs:.2}s; window sent {sent_win} recv {recv_win} lost {lost} \
         ({calls_with_loss} calls with loss); total sent {sent_total} recv {recv_total} bad {recv_bad} \
         send_err {send_err}; transcode: seq gaps {seq_gaps} undelivered {undelivered} \
         wrong pt {wrong_pt}; relay stats forwarded(window) {relay_fwd}; late sends {late_sends} \
         skipped slots {skipped} max lag {:.1} ms",
        o.mode,
        max_lag_ns as f64 / 1e6
    );
    let udp_err = udp_errors();
    let udp_err = (udp_err.0 - udp_err_start.0, udp_err.1 - udp_err_start.1);
    // The relays' own view of the legs -> relay hop (RFC 3550 loss from the generator's
    // sequence numbers), over the whole run. Their snapshots are at most a second old and the
    // drain above lasted a second.
    let mut relay_in = (0u64, 0u64, 0u64);
    if let Some(srv) = server.as_mut() {
        srv.send("quality");
        srv.stdin.flush().expect("flush");
        let v: Vec<u64> = srv
            .line()
            .split_whitespace()
            .skip(1)
            .map(|v| v.parse().unwrap_or(0))
            .collect();
        if v.len() == 3 {
            relay_in = (v[0], v[1], v[2]);
        }
    }
    eprintln!(
        "host UDP InErrors {} RcvbufErrors {} during the run; relays received {} lost {} on the \
         legs -> relay hop ({} legs with loss)",
        udp_err.0, udp_err.1, relay_in.0, relay_in.1, relay_in.2
    );
    // --transcode: the relay conceals short input gaps (so they leave no hole in its output
    // sequence), hence count the input hop (relay's view) plus the output hop (our sequence gaps),
    // or what never arrived, whichever is more.
    let lost = if o.transcode {
        (seq_gaps + relay_in.1).max(undelivered)
    } else {
        lost
    };
    if let Some(mut srv) = server.take() {
        srv.send("quit");
        let _ = srv.stdin.flush();
        let _ = srv.child.wait();
    }
    let per_pkt = if recv_win > 0 {
        relay_cpu_us as f64 / recv_win as f64
    } else {
        0.0
    };
    println!(
        "RESULT mode={}{} calls={n} sent={sent_win} received={recv_win} lost={lost} loss_pct={:.4} \
         calls_with_loss={calls_with_loss} p50_us={} p99_us={} p999_us={} max_us={} \
         relay_cpu_pct={:.1} cpu_us_per_pkt={per_pkt:.2} gen_cpu_pct={:.1} rss_base_kb={rss_base} \
         rss_kb={rss_window} rss_per_call_kb={:.1} late_sends={late_sends} skipped={skipped} \
         offered_pps={} achieved_pps={:.0} seq_gaps={seq_gaps} undelivered={undelivered} \
         delivered_pct={delivered_pct:.3} relay_cpu_pct_per_call={:.3} udp_inerrors={} \
         udp_rcvbuf_errors={} relay_in_received={} relay_in_lost={} host_busy_pct={:.1} \
         relay_thread_max_pct={:.1} host_busy_us={} offloaded={}",
        o.mode,
        if o.transcode {
            "+transcode"
        } else if o.fastpath {
            "+fastpath"
        } else {
            ""
        },
        100.0 * lost as f64 / sent_win.max(1) as f64,
        summary["p50"],
        summary["p99"],
        summary["p999"],
        summary["max"],
        relay_cpu_us as f64 / 1e4 / o.duration,
        gen_cpu_us as f64 / 1e4 / o.duration,
        rss_window.saturating_sub(rss_base) as f64 / n as f64,
        legs as u64 * 1_000_000_000 / PTIME_NS,
        sent_win as f64 / o.duration,
        relay_cpu_us as f64 / 1e4 / o.duration / n as f64,
        udp_err.0,
        udp_err.1,
        relay_in.0,
        relay_in.1,
        // % of one core, all CPUs together (2 CPUs: 200 % when saturated).
        100.0 * std::thread::available_parallelism().map_or(1, |n| n.get()) as f64
            * (host_end.0 - host_start.0) as f64
            / (host_end.1 - host_start.1).max(1) as f64,
        relay_thread_max_us as f64 / 1e4 / o.duration,
        (host_end.0 - host_start.0) * 1_000_000 / o.clk_tck,
        stats_end.get(8).copied().unwrap_or(0),
    );
}
