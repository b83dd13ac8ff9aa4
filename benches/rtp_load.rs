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

#[path = "speech.rs"]
mod speech;

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

// ---------- rtpengine: ng protocol (bencode over UDP) ----------

#[derive(Debug, Clone)]
enum Ben {
    Int(i64),
    Str(Vec<u8>),
    List(Vec<Ben>),
    Dict(Vec<(Vec<u8>, Ben)>),
}

fn s(v: &str) -> Ben {
    Ben::Str(v.as_bytes().to_vec())
}

fn ben_encode(b: &Ben, out: &mut Vec<u8>) {
    match b {
        Ben::Int(i) => out.extend_from_slice(format!("i{i}e").as_bytes()),
        Ben::Str(v) => {
            out.extend_from_slice(format!("{}:", v.len()).as_bytes());
            out.extend_from_slice(v);
        }
        Ben::List(l) => {
            out.push(b'l');
            for x in l {
                ben_encode(x, out);
            }
            out.push(b'e');
        }
        Ben::Dict(d) => {
            let mut d = d.clone();
            d.sort_by(|a, b| a.0.cmp(&b.0));
            out.push(b'd');
            for (k, v) in &d {
                ben_encode(&Ben::Str(k.clone()), out);
                ben_encode(v, out);
            }
            out.push(b'e');
        }
    }
}

fn ben_decode(b: &[u8], pos: &mut usize) -> Option<Ben> {
    match *b.get(*pos)? {
        b'i' => {
            let end = *pos + b[*pos..].iter().position(|&c| c == b'e')?;
            let v = std::str::from_utf8(&b[*pos + 1..end]).ok()?.parse().ok()?;
            *pos = end + 1;
            Some(Ben::Int(v))
        }
        b'l' => {
            *pos += 1;
            let mut l = Vec::new();
            while *b.get(*pos)? != b'e' {
                l.push(ben_decode(b, pos)?);
            }
            *pos += 1;
            Some(Ben::List(l))
        }
        b'd' => {
            *pos += 1;
            let mut d = Vec::new();
            while *b.get(*pos)? != b'e' {
                let Ben::Str(k) = ben_decode(b, pos)? else {
                    return None;
                };
                let v = ben_decode(b, pos)?;
                d.push((k, v));
            }
            *pos += 1;
            Some(Ben::Dict(d))
        }
        b'0'..=b'9' => {
            let colon = *pos + b[*pos..].iter().position(|&c| c == b':')?;
            let len: usize = std::str::from_utf8(&b[*pos..colon]).ok()?.parse().ok()?;
            let start = colon + 1;
            let v = b.get(start..start + len)?.to_vec();
            *pos = start + len;
            Some(Ben::Str(v))
        }
        _ => None,
    }
}

fn dict_get<'a>(d: &'a Ben, key: &str) -> Option<&'a Ben> {
    match d {
        Ben::Dict(d) => d.iter().find(|(k, _)| k == key.as_bytes()).map(|x| &x.1),
        _ => None,
    }
}

struct Ng {
    sock: StdUdpSocket,
    server: SocketAddr,
    n: u64,
}

impl Ng {
    fn new(server: SocketAddr) -> Self {
        let sock = StdUdpSocket::bind("127.0.0.1:0").expect("ng socket");
        sock.set_read_timeout(Some(Duration::from_millis(500)))
            .expect("timeout");
        Ng { sock, server, n: 0 }
    }

    fn request(&mut self, msg: &Ben) -> Ben {
        self.n += 1;
        let cookie = format!("bench{}_{} ", std::process::id(), self.n);
        let mut out = cookie.as_bytes().to_vec();
        ben_encode(msg, &mut out);
        let mut buf = vec![0u8; 65536];
        for _ in 0..10 {
            self.sock.send_to(&out, self.server).expect("ng send");
            // Until the read timeout: then retransmit.
            while let Ok((len, _)) = self.sock.recv_from(&mut buf) {
                let r = &buf[..len];
                if !r.starts_with(cookie.as_bytes()) {
                    continue; // a late reply to an earlier retransmission
                }
                let mut pos = cookie.len();
                let d = ben_decode(r, &mut pos).expect("ng reply bencode");
                match dict_get(&d, "result") {
                    Some(Ben::Str(v)) if v == b"ok" => return d,
                    _ => panic!("ng error reply: {}", String::from_utf8_lossy(r)),
                }
            }
        }
        panic!("rtpengine does not answer on {}", self.server);
    }

    /// Port (and address) from the rewritten SDP of a reply.
    fn sdp_addr(reply: &Ben) -> SocketAddr {
        let Some(Ben::Str(sdp)) = dict_get(reply, "sdp") else {
            panic!("no sdp in ng reply");
        };
        let sdp = String::from_utf8_lossy(sdp);
        let mut ip = None;
        let mut port = None;
        for l in sdp.lines() {
            if let Some(c) = l.strip_prefix("c=IN IP4 ") {
                ip = Some(c.trim().to_string());
            }
            if let Some(m) = l.strip_prefix("m=audio ") {
                port = m
                    .split_whitespace()
                    .next()
                    .and_then(|p| p.parse::<u16>().ok());
            }
        }
        format!("{}:{}", ip.expect("c= line"), port.expect("m= line"))
            .parse()
            .expect("sdp address")
    }
}

fn sdp(port: u16, id: usize) -> String {
    format!(
        "v=0\r\no=- {id} 1 IN IP4 127.0.0.1\r\ns=bench\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"
    )
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

/// What one leg received of the relay's (transcoded) stream, from its RTP sequence numbers.
#[derive(Default, Clone)]
struct SeqTrack {
    /// Last sequence number seen and its extended value.
    last: Option<(u16, i64)>,
    /// Extended sequence of the first packet that arrived in the window, and the highest since.
    win_first: Option<i64>,
    win_max: i64,
    /// Packets that arrived from the window start on (after the relay: includes the drain).
    win_recv: u64,
    /// Arrivals at or below the highest sequence already seen (reordered or duplicated).
    win_old: u64,
    /// All packets received in the run.
    total: u64,
}

impl SeqTrack {
    fn add(&mut self, seq: u16, in_window: bool) {
        let ext = match self.last {
            None => i64::from(seq),
            Some((ls, le)) => le + i64::from(seq.wrapping_sub(ls) as i16),
        };
        if self.last.is_none_or(|(_, le)| ext > le) {
            self.last = Some((seq, ext));
        }
        self.total += 1;
        if !in_window {
            return;
        }
        match self.win_first {
            None => {
                self.win_first = Some(ext);
                self.win_max = ext;
            }
            Some(_) if ext > self.win_max => self.win_max = ext,
            Some(_) => self.win_old += 1,
        }
        self.win_recv += 1;
    }

    /// Sequence numbers missing between the first packet of the window and the highest seen.
    fn gaps(&self) -> u64 {
        match self.win_first {
            None => 0,
            Some(f) => (self.win_max - f + 1).max(0) as u64 - (self.win_recv - self.win_old),
        }
    }
}

struct Hist {
    buckets: Vec<u64>,
    over: Vec<u64>,
    n: u64,
}

impl Default for Hist {
    fn default() -> Self {
        Hist {
            buckets: vec![0; HIST_BUCKETS],
            over: Vec::new(),
            n: 0,
        }
    }
}

impl Hist {
    fn merge(&mut self, o: Hist) {
        for (a, b) in self.buckets.iter_mut().zip(o.buckets) {
            *a += b;
        }
        self.over.extend(o.over);
        self.n += o.n;
    }

    fn add(&mut self, us: u64) {
        self.n += 1;
        if (us as usize) < HIST_BUCKETS {
            self.buckets[us as usize] += 1;
        } else {
            self.over.push(us);
        }
    }

    fn quantile(&mut self, q: f64) -> u64 {
        if self.n == 0 {
            return 0;
        }
        let want = ((self.n as f64) * q).ceil().max(1.0) as u64;
        let mut acc = 0;
        for (i, c) in self.buckets.iter().enumerate() {
            acc += c;
            if acc >= want {
                return i as u64;
            }
        }
        self.over.sort_unstable();
        let idx = (want - acc - 1) as usize;
        self.over[idx.min(self.over.len() - 1)]
    }
}

/// The run's clock: nanoseconds since `t0` of the measured window's edges and of the end.
struct Clock {
    t0: Instant,
    win_start: u64,
    win_end: u64,
    stop_recv: u64,
}

/// What the legs send.
struct Media<'a> {
    transcode: bool,
    frames_a: &'a [Vec<u8>],
    frames_b: &'a [Vec<u8>],
}

/// What is read at an edge of the measured window.
struct Edge {
    relay_us: u64,
    gen_us: u64,
    host: (u64, u64),
    threads: HashMap<String, u64>,
    stats: Vec<u64>,
    rss_kb: u64,
}

impl Edge {
    fn read(
        relay_pid: &str,
        gen_pid: &str,
        clk_tck: u64,
        server: Option<&mut RelayServer>,
    ) -> Self {
        Edge {
            relay_us: cpu_us(relay_pid, clk_tck),
            gen_us: cpu_us(gen_pid, clk_tck),
            host: host_cpu(),
            threads: thread_cpu_us(relay_pid, clk_tck),
            stats: server.map(RelayServer::stats).unwrap_or_default(),
            rss_kb: rss_kb(relay_pid),
        }
    }
}

/// One generator thread's calls: its legs' sockets (a call's two legs side by side: local legs
/// 2i and 2i+1) and their global leg numbers (which the payload carries).
#[derive(Default)]
struct Shard {
    socks: Vec<UdpSocket>,
    legs: Vec<usize>,
}

/// What one generator thread counted.
#[derive(Default)]
struct Outcome {
    sent_win: u64,
    sent_total: u64,
    send_err: u64,
    /// Send slots dropped because the thread lagged more than MAX_LAG_NS.
    skipped: u64,
    /// Sends issued more than 2 ms after their slot: the generator lagged.
    late_sends: u64,
    max_lag_ns: u64,
    recv_win: u64,
    recv_total: u64,
    recv_bad: u64,
    wrong_pt: u64,
    /// `--transcode`: sequence gaps in the window, and what the other leg sent but never came.
    seq_gaps: u64,
    undelivered: u64,
    calls_with_loss: usize,
    /// `--transcode`: packets received over the whole run.
    delivered: u64,
    hist: Hist,
}

impl Outcome {
    fn merge(&mut self, o: Outcome) {
        self.sent_win += o.sent_win;
        self.sent_total += o.sent_total;
        self.send_err += o.send_err;
        self.skipped += o.skipped;
        self.late_sends += o.late_sends;
        self.max_lag_ns = self.max_lag_ns.max(o.max_lag_ns);
        self.recv_win += o.recv_win;
        self.recv_total += o.recv_total;
        self.recv_bad += o.recv_bad;
        self.wrong_pt += o.wrong_pt;
        self.seq_gaps += o.seq_gaps;
        self.undelivered += o.undelivered;
        self.calls_with_loss += o.calls_with_loss;
        self.delivered += o.delivered;
        self.hist.merge(o.hist);
    }
}

impl Shard {
    /// Sends this thread's legs' packets on a schedule spread evenly over each 20 ms (offset by
    /// the thread's share of one send interval, so threads interleave) and receives what comes
    /// back, until the end of the drain after the window.
    fn run(mut self, thread: usize, threads: usize, clock: &Clock, media: &Media<'_>) -> Outcome {
        let legs = self.socks.len();
        let mut out = Outcome::default();
        let mut poll = Poll::new().expect("poll");
        for (k, sock) in self.socks.iter_mut().enumerate() {
            poll.registry()
                .register(sock, Token(k), Interest::READABLE)
                .expect("register");
        }
        let mut events = Events::with_capacity(4096);
        let (win_start, win_end) = (clock.win_start, clock.win_end);
        let interval = PTIME_NS as f64 / legs.max(1) as f64; // between two sends of this thread
        let phase = interval * thread as f64 / threads as f64;
        let slot_of = |i: u64| (phase + i as f64 * interval) as u64;
        let mut next_send: u64 = 0; // this thread's send counter
        let mut seq = vec![0u32; legs];
        let ssrc: Vec<u32> = self.legs.iter().map(|&g| 0x1000_0000 + g as u32).collect();
        let mut pkt = [0xffu8; PKT_LEN];
        let mut rbuf = [0u8; 2048];
        let mut tpkt = [0u8; 12 + MAX_ENCODED_FRAME_BYTES];
        // --transcode: per leg, the send times of its packets (for the latency estimate) and
        // what it received.
        let per_leg = if media.transcode { legs } else { 0 };
        let mut send_times: Vec<Vec<u64>> = vec![Vec::new(); per_leg];
        let mut tracks: Vec<SeqTrack> = vec![SeqTrack::default(); per_leg];
        let mut sent_win_leg = vec![0u64; legs];
        let mut recv_win_leg = vec![0u64; legs];
        let elapsed = || clock.t0.elapsed().as_nanos() as u64;

        loop {
            let now = elapsed();
            if now >= clock.stop_recv {
                break;
            }
            // Send everything due.
            let mut burst = 0;
            if now < win_end {
                loop {
                    let slot = slot_of(next_send);
                    if slot > now || slot >= win_end || burst == MAX_BURST {
                        break;
                    }
                    if now - slot > MAX_LAG_NS {
                        // The generator did not get the CPU in time: skip the missed slots
                        // rather than bursting them out (the achieved rate then falls below the
                        // offered one, and the step does not count as held).
                        let resume = ((now as f64 - phase) / interval).ceil() as u64;
                        out.skipped += resume - next_send;
                        next_send = resume;
                        continue;
                    }
                    burst += 1;
                    let k = (next_send % legs as u64) as usize;
                    next_send += 1;
                    let lag = now - slot;
                    out.max_lag_ns = out.max_lag_ns.max(lag);
                    if lag > 2_000_000 {
                        out.late_sends += 1;
                    }
                    let send_ns = elapsed();
                    let sq = seq[k];
                    seq[k] = sq.wrapping_add(1);
                    let res = if media.transcode {
                        // Leg A (even k) PCMU, leg B Opus (RTP clock 48 kHz: 960 per 20 ms).
                        let (frames, pt, step) = if k.is_multiple_of(2) {
                            (media.frames_a, PT_A, 160)
                        } else {
                            (media.frames_b, PT_B, 960)
                        };
                        let call = self.legs[k] / 2;
                        let payload = &frames[(sq as usize + call * 37) % frames.len()];
                        tpkt[0] = 0x80;
                        tpkt[1] = pt;
                        tpkt[2..4].copy_from_slice(&(sq as u16).to_be_bytes());
                        tpkt[4..8].copy_from_slice(&sq.wrapping_mul(step).to_be_bytes());
                        tpkt[8..12].copy_from_slice(&ssrc[k].to_be_bytes());
                        tpkt[12..12 + payload.len()].copy_from_slice(payload);
                        self.socks[k].send(&tpkt[..12 + payload.len()])
                    } else {
                        pkt[0] = 0x80;
                        pkt[1] = 0; // PCMU
                        pkt[2..4].copy_from_slice(&(sq as u16).to_be_bytes());
                        pkt[4..8].copy_from_slice(&sq.wrapping_mul(160).to_be_bytes());
                        pkt[8..12].copy_from_slice(&ssrc[k].to_be_bytes());
                        pkt[12..16].copy_from_slice(&MAGIC.to_be_bytes());
                        pkt[16..20].copy_from_slice(&(self.legs[k] as u32).to_be_bytes());
                        pkt[20..24].copy_from_slice(&sq.to_be_bytes());
                        pkt[24..32].copy_from_slice(&send_ns.to_be_bytes());
                        self.socks[k].send(&pkt)
                    };
                    match res {
                        Ok(_) => {
                            if media.transcode {
                                send_times[k].push(send_ns);
                            }
                            out.sent_total += 1;
                            if send_ns >= win_start && send_ns < win_end {
                                out.sent_win += 1;
                                sent_win_leg[k] += 1;
                            }
                        }
                        Err(_) => out.send_err += 1,
                    }
                }
            }
            // Wait for packets until the next send is due (mio rounds up to whole milliseconds).
            let now = elapsed();
            let wait = if burst == MAX_BURST {
                0
            } else if now < win_end {
                slot_of(next_send).saturating_sub(now).min(1_000_000)
            } else {
                10_000_000
            };
            poll.poll(&mut events, Some(Duration::from_nanos(wait)))
                .expect("poll");
            for ev in events.iter() {
                let k = ev.token().0;
                loop {
                    match self.socks[k].recv(&mut rbuf) {
                        Ok(len) => {
                            let rnow = elapsed();
                            out.recv_total += 1;
                            let p = &rbuf[..len];
                            if media.transcode {
                                // Leg A gets PCMU, leg B Opus; anything else is not the relay's
                                // transcoded RTP.
                                let want = if k % 2 == 0 { PT_A } else { PT_B };
                                if len < 12 || p[0] >> 6 != 2 || p[1] & 0x7f != want {
                                    out.wrong_pt += 1;
                                    if out.wrong_pt <= 3 {
                                        eprintln!(
                                            "unexpected packet on leg {}: {len} bytes, first {:02x?}",
                                            self.legs[k],
                                            &p[..len.min(16)]
                                        );
                                    }
                                    continue;
                                }
                                let seq = u16::from_be_bytes([p[2], p[3]]);
                                let t = &mut tracks[k];
                                // Pair with the j-th packet the other leg sent (latency estimate).
                                let j = t.total as usize;
                                t.add(seq, rnow >= win_start);
                                if let Some(&sent_at) = send_times[k ^ 1].get(j) {
                                    if sent_at >= win_start && sent_at < win_end {
                                        out.recv_win += 1;
                                        recv_win_leg[k ^ 1] += 1;
                                        out.hist.add(rnow.saturating_sub(sent_at) / 1000);
                                    }
                                }
                                continue;
                            }
                            let from_leg = if len == PKT_LEN && p[12..16] == MAGIC.to_be_bytes() {
                                u32::from_be_bytes(p[16..20].try_into().expect("4 bytes")) as usize
                            } else {
                                usize::MAX
                            };
                            if from_leg ^ 1 != self.legs[k] {
                                // Not our RTP, or delivered to the wrong leg.
                                out.recv_bad += 1;
                                if out.recv_bad <= 3 {
                                    eprintln!(
                                        "unexpected packet on leg {}: {len} bytes, first {:02x?}",
                                        self.legs[k],
                                        &p[..len.min(32)]
                                    );
                                }
                                continue;
                            }
                            let send_ns =
                                u64::from_be_bytes(p[24..32].try_into().expect("8 bytes"));
                            if send_ns >= win_start && send_ns < win_end {
                                out.recv_win += 1;
                                recv_win_leg[k ^ 1] += 1;
                                out.hist.add(rnow.saturating_sub(send_ns) / 1000);
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(_) => break,
                    }
                }
            }
        }

        // --transcode: loss from sequence gaps in the window plus whatever was never delivered
        // (sent over the whole run by the other leg, not received by this one).
        if media.transcode {
            out.seq_gaps = tracks.iter().map(SeqTrack::gaps).sum();
            out.undelivered = (0..legs)
                .map(|k| (send_times[k ^ 1].len() as u64).saturating_sub(tracks[k].total))
                .sum();
            out.delivered = tracks.iter().map(|t| t.total).sum();
        }
        out.calls_with_loss = (0..legs / 2)
            .filter(|&c| {
                (0..2).any(|s| {
                    let k = 2 * c + s;
                    if media.transcode {
                        tracks[k].gaps() > 0 || tracks[k].total < send_times[k ^ 1].len() as u64
                    } else {
                        recv_win_leg[k] < sent_win_leg[k]
                    }
                })
            })
            .count();
        out
    }
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
