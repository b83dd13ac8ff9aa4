//! rtp_load's generator threads: each owns some calls' leg sockets, paces their sends and
//! measures what comes back (loss, latency; `--transcode`: sequence gaps), and the figures are
//! merged when the run ends.

use super::*;
/// What one leg received of the relay's (transcoded) stream, from its RTP sequence numbers.
#[derive(Default, Clone)]
pub struct SeqTrack {
    /// Last sequence number seen and its extended value.
    pub last: Option<(u16, i64)>,
    /// Extended sequence of the first packet that arrived in the window, and the highest since.
    pub win_first: Option<i64>,
    pub win_max: i64,
    /// Packets that arrived from the window start on (after the relay: includes the drain).
    pub win_recv: u64,
    /// Arrivals at or below the highest sequence already seen (reordered or duplicated).
    pub win_old: u64,
    /// All packets received in the run.
    pub total: u64,
}

impl SeqTrack {
    pub fn add(&mut self, seq: u16, in_window: bool) {
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
    pub fn gaps(&self) -> u64 {
        match self.win_first {
            None => 0,
            Some(f) => (self.win_max - f + 1).max(0) as u64 - (self.win_recv - self.win_old),
        }
    }
}

pub struct Hist {
    pub buckets: Vec<u64>,
    pub over: Vec<u64>,
    pub n: u64,
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
    pub fn merge(&mut self, o: Hist) {
        for (a, b) in self.buckets.iter_mut().zip(o.buckets) {
            *a += b;
        }
        self.over.extend(o.over);
        self.n += o.n;
    }

    pub fn add(&mut self, us: u64) {
        self.n += 1;
        if (us as usize) < HIST_BUCKETS {
            self.buckets[us as usize] += 1;
        } else {
            self.over.push(us);
        }
    }

    pub fn quantile(&mut self, q: f64) -> u64 {
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
pub struct Clock {
    pub t0: Instant,
    pub win_start: u64,
    pub win_end: u64,
    pub stop_recv: u64,
}

/// What the legs send.
pub struct Media<'a> {
    pub transcode: bool,
    pub frames_a: &'a [Vec<u8>],
    pub frames_b: &'a [Vec<u8>],
}

/// What is read at an edge of the measured window.
pub struct Edge {
    pub relay_us: u64,
    pub gen_us: u64,
    pub host: (u64, u64),
    pub threads: HashMap<String, u64>,
    pub stats: Vec<u64>,
    pub rss_kb: u64,
}

impl Edge {
    pub fn read(
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
pub struct Shard {
    pub socks: Vec<UdpSocket>,
    pub legs: Vec<usize>,
}

/// What one generator thread counted.
#[derive(Default)]
pub struct Outcome {
    pub sent_win: u64,
    pub sent_total: u64,
    pub send_err: u64,
    /// Send slots dropped because the thread lagged more than MAX_LAG_NS.
    pub skipped: u64,
    /// Sends issued more than 2 ms after their slot: the generator lagged.
    pub late_sends: u64,
    pub max_lag_ns: u64,
    pub recv_win: u64,
    pub recv_total: u64,
    pub recv_bad: u64,
    pub wrong_pt: u64,
    /// `--transcode`: sequence gaps in the window, and what the other leg sent but never came.
    pub seq_gaps: u64,
    pub undelivered: u64,
    pub calls_with_loss: usize,
    /// `--transcode`: packets received over the whole run.
    pub delivered: u64,
    pub hist: Hist,
}

impl Outcome {
    pub fn merge(&mut self, o: Outcome) {
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
    pub fn run(
        mut self,
        thread: usize,
        threads: usize,
        clock: &Clock,
        media: &Media<'_>,
    ) -> Outcome {
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
