//! SSRC, sequence and timestamp rewriting for bridging two call legs.
//!
//! When Ringside bridges leg A to leg B, the far side of B must see one continuous RTP stream even
//! if A's source changes mid-call (a re-INVITE to another device, a transfer, music on hold):
//! the incoming SSRC, sequence number and timestamp then jump. [`Rewriter`] maps every incoming
//! packet onto a fixed outgoing SSRC with per-source offsets. When the incoming SSRC changes (or
//! the sequence number jumps by more than RFC 3550's `MAX_DROPOUT`/`MAX_MISORDER` within one
//! source) the offsets are recomputed so the next outgoing sequence number follows the last one
//! sent and the timestamp advances by the wallclock time elapsed since the last packet.
//!
//! Within one source the offsets stay fixed, so reordering and loss are preserved exactly, and
//! 16/32-bit wraparound falls out of the wrapping arithmetic. Stragglers of the previous source
//! that arrive after the switch (not newer than its last packet) are mapped with that source's
//! old offsets instead of triggering another resync.

use std::time::Instant;

use super::packet::{rewrite_header, RtpError, RtpPacket};
use super::stats::{MAX_DROPOUT, MAX_MISORDER};

/// The rewritten header fields of one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rewritten {
    /// Outgoing SSRC.
    pub ssrc: u32,
    /// Outgoing sequence number.
    pub seq: u16,
    /// Outgoing timestamp.
    pub ts: u32,
    /// Whether this packet starts a new incoming source (a discontinuity the far side may want
    /// flagged with the marker bit).
    pub resynced: bool,
}

/// Maps an incoming RTP stream (possibly changing source) onto one continuous outgoing stream.
#[derive(Debug, Clone)]
pub struct Rewriter {
    out_ssrc: u32,
    clock_rate: u32,
    seq_offset: u16,
    ts_offset: u32,
    /// Incoming SSRC of the current source.
    source: Option<u32>,
    /// Highest incoming sequence number of the current source.
    in_max_seq: u16,
    /// Highest outgoing sequence number sent and its timestamp.
    last_out: (u16, u32),
    last_arrival: Option<Instant>,
    /// The previous source: (SSRC, sequence offset, timestamp offset, highest sequence).
    previous: Option<(u32, u16, u32, u16)>,
}

impl Rewriter {
    /// A rewriter emitting SSRC `out_ssrc` whose first packet gets sequence `initial_seq` and
    /// timestamp `initial_ts` (pick both at random, RFC 3550 section 5.1). `clock_rate` is the
    /// RTP clock in Hz, used to advance the timestamp across a source change.
    pub fn new(out_ssrc: u32, clock_rate: u32, initial_seq: u16, initial_ts: u32) -> Self {
        Self {
            out_ssrc,
            clock_rate: clock_rate.max(1),
            seq_offset: 0,
            ts_offset: 0,
            source: None,
            in_max_seq: 0,
            last_out: (initial_seq.wrapping_sub(1), initial_ts),
            last_arrival: None,
            previous: None,
        }
    }

    /// The outgoing SSRC.
    pub fn out_ssrc(&self) -> u32 {
        self.out_ssrc
    }

    /// The offsets packets of source `ssrc` get, when it is the current source: (sequence
    /// offset, timestamp offset, highest incoming sequence number so far).
    pub fn mapping(&self, ssrc: u32) -> Option<(u16, u32, u16)> {
        (self.source == Some(ssrc)).then_some((self.seq_offset, self.ts_offset, self.in_max_seq))
    }

    /// Packets of the current source were rewritten elsewhere with this mapping (the kernel
    /// fast path): the highest incoming sequence number is now `in_max_seq`, the last packet
    /// out was `last_out` (sequence, timestamp), sent at `at`.
    pub fn advance(&mut self, in_max_seq: u16, last_out: (u16, u32), at: Instant) {
        self.in_max_seq = in_max_seq;
        self.last_out = last_out;
        self.last_arrival = Some(at);
    }

    /// Emits SSRC `out_ssrc` from now on (sequence and timestamp go on).
    pub fn set_out_ssrc(&mut self, out_ssrc: u32) {
        self.out_ssrc = out_ssrc;
    }

    /// Changes the RTP clock rate (a re-negotiated codec) keeping SSRC and sequence continuity:
    /// the next packet is treated as a new source.
    pub fn set_clock_rate(&mut self, clock_rate: u32) {
        self.clock_rate = clock_rate.max(1);
        self.source = None;
        self.previous = None;
    }

    /// Whether `seq` from the current source is a jump large enough to count as a restart.
    fn is_jump(&self, seq: u16) -> bool {
        let udelta = seq.wrapping_sub(self.in_max_seq);
        (MAX_DROPOUT..=u16::MAX - MAX_MISORDER + 1).contains(&udelta)
    }

    /// Maps one incoming packet's header fields arriving at `now` to outgoing ones.
    pub fn rewrite(&mut self, ssrc: u32, seq: u16, ts: u32, now: Instant) -> Rewritten {
        if let Some((prev_ssrc, seq_offset, ts_offset, max_seq)) = self.previous {
            let behind = max_seq.wrapping_sub(seq);
            if prev_ssrc == ssrc && self.source != Some(ssrc) && behind < MAX_MISORDER {
                return Rewritten {
                    ssrc: self.out_ssrc,
                    seq: seq.wrapping_add(seq_offset),
                    ts: ts.wrapping_add(ts_offset),
                    resynced: false,
                };
            }
        }
        let resync = self.source != Some(ssrc) || self.is_jump(seq);
        if resync {
            let out_seq = self.last_out.0.wrapping_add(1);
            let out_ts = match self.last_arrival {
                None => self.last_out.1,
                Some(prev) => {
                    let elapsed = now.saturating_duration_since(prev);
                    let units = elapsed.as_nanos() * u128::from(self.clock_rate) / 1_000_000_000;
                    self.last_out.1.wrapping_add((units as u32).max(1))
                }
            };
            if let Some(source) = self.source {
                self.previous = Some((source, self.seq_offset, self.ts_offset, self.in_max_seq));
            }
            self.seq_offset = out_seq.wrapping_sub(seq);
            self.ts_offset = out_ts.wrapping_sub(ts);
            self.source = Some(ssrc);
            self.in_max_seq = seq;
        }
        let out_seq = seq.wrapping_add(self.seq_offset);
        let out_ts = ts.wrapping_add(self.ts_offset);
        let newer = resync || seq.wrapping_sub(self.in_max_seq) < 0x8000;
        if newer {
            self.in_max_seq = seq;
            self.last_out = (out_seq, out_ts);
            self.last_arrival = Some(now);
        }
        Rewritten {
            ssrc: self.out_ssrc,
            seq: out_seq,
            ts: out_ts,
            resynced: resync,
        }
    }

    /// Parses the RTP packet in `buf`, rewrites its SSRC, sequence and timestamp in place and
    /// sets the marker bit on the first packet after a source change.
    pub fn rewrite_packet(&mut self, buf: &mut [u8], now: Instant) -> Result<Rewritten, RtpError> {
        let (ssrc, seq, ts) = {
            let p = RtpPacket::parse(buf)?;
            (p.ssrc(), p.sequence(), p.timestamp())
        };
        let r = self.rewrite(ssrc, seq, ts, now);
        rewrite_header(buf, r.ssrc, r.seq, r.ts)?;
        if r.resynced {
            buf[1] |= 0x80;
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn first_packet_uses_initial_values() {
        let t = Instant::now();
        let mut r = Rewriter::new(99, 8000, 500, 1_000);
        let a = r.rewrite(1, 40_000, 7_777, t);
        assert_eq!((a.ssrc, a.seq, a.ts, a.resynced), (99, 500, 1_000, true));
        let b = r.rewrite(1, 40_001, 7_937, t + Duration::from_millis(20));
        assert_eq!((b.seq, b.ts, b.resynced), (501, 1_160, false));
    }

    #[test]
    fn reordering_and_loss_preserved_within_source() {
        let t = Instant::now();
        let mut r = Rewriter::new(5, 8000, 0, 0);
        r.rewrite(1, 100, 0, t);
        assert_eq!(r.rewrite(1, 103, 480, t).seq, 3);
        let late = r.rewrite(1, 102, 320, t);
        assert_eq!((late.seq, late.ts, late.resynced), (2, 320, false));
        // The late packet does not move the reference forward.
        assert_eq!(r.rewrite(1, 104, 640, t).seq, 4);
    }

    #[test]
    fn sequence_jump_within_source_resyncs() {
        let t = Instant::now();
        let mut r = Rewriter::new(5, 8000, 10, 0);
        r.rewrite(1, 100, 0, t);
        let j = r.rewrite(1, 30_000, 9_999_999, t + Duration::from_millis(20));
        assert_eq!((j.seq, j.ts, j.resynced), (11, 160, true));
    }

    #[test]
    fn stragglers_of_the_previous_source_keep_old_offsets() {
        let t = Instant::now();
        let mut r = Rewriter::new(5, 8000, 0, 0);
        r.rewrite(1, 100, 1_000, t);
        r.rewrite(1, 102, 1_320, t); // 101 still in flight
        let b = r.rewrite(2, 7, 50, t + Duration::from_millis(20));
        assert_eq!((b.seq, b.resynced), (3, true));
        let late = r.rewrite(1, 101, 1_160, t + Duration::from_millis(25));
        assert_eq!((late.seq, late.ts, late.resynced), (1, 160, false));
        // The current source is unaffected.
        let c = r.rewrite(2, 8, 210, t + Duration::from_millis(40));
        assert_eq!((c.seq, c.ts, c.resynced), (4, b.ts + 160, false));
    }
}
