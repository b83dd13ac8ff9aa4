//! Per-stream receive statistics (RFC 3550 appendices A.1, A.3 and A.8) and round-trip time.
//!
//! [`ReceiverStats`] follows one remote source: sequence validation with probation and
//! wraparound (A.1), expected/lost/fraction-lost accounting (A.3) and interarrival jitter (A.8,
//! in timestamp units with arrival times converted to the stream's clock rate). It produces the
//! [`ReportBlock`] for our next SR/RR, including LSR/DLSR from the last SR the source sent.
//! [`rtt`] computes the round-trip time from a block the remote sent about our stream.
//!
//! Arrival times are passed in as [`Instant`]s; nothing here reads a clock.

use std::time::{Duration, Instant};

use super::ntp::{compact_to_duration, duration_to_compact, ntp_middle32};
use super::rtcp::ReportBlock;

/// Largest forward sequence jump still treated as in-order (A.1).
pub const MAX_DROPOUT: u16 = 3000;
/// Largest backward sequence jump treated as reordering rather than a restart (A.1).
pub const MAX_MISORDER: u16 = 100;
/// Sequential packets required before a source is considered valid (A.1).
pub const MIN_SEQUENTIAL: u16 = 2;
const RTP_SEQ_MOD: u32 = 1 << 16;

/// Receive statistics for one remote synchronization source.
#[derive(Debug, Clone)]
pub struct ReceiverStats {
    ssrc: u32,
    clock_rate: u32,
    started: bool,
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    probation: u16,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    /// Relative transit time of the previous packet, in timestamp units.
    transit: Option<u32>,
    /// Jitter estimate scaled by 16 (A.8 integer form).
    jitter_q4: u64,
    /// Arrival instant that maps to arrival timestamp 0.
    epoch: Option<Instant>,
    /// Middle 32 bits of the last SR's NTP time and when it arrived.
    last_sr: Option<(u32, Instant)>,
}

impl ReceiverStats {
    /// Statistics for source `ssrc` whose RTP clock runs at `clock_rate` Hz (e.g. 8000 for PCMU).
    pub fn new(ssrc: u32, clock_rate: u32) -> Self {
        Self {
            ssrc,
            clock_rate: clock_rate.max(1),
            started: false,
            max_seq: 0,
            cycles: 0,
            base_seq: 0,
            bad_seq: RTP_SEQ_MOD + 1,
            probation: MIN_SEQUENTIAL,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            transit: None,
            jitter_q4: 0,
            epoch: None,
            last_sr: None,
        }
    }

    /// The source these statistics describe.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// A.1 `init_seq`.
    fn init_seq(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = RTP_SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
    }

    /// A.1 `update_seq`: returns whether the packet counts as valid.
    fn update_seq(&mut self, seq: u16) -> bool {
        if !self.started {
            self.started = true;
            self.init_seq(seq);
            self.max_seq = seq.wrapping_sub(1);
            self.probation = MIN_SEQUENTIAL;
        }
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init_seq(seq);
                    self.received += 1;
                    return true;
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return false;
        } else if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(RTP_SEQ_MOD);
            }
            self.max_seq = seq;
        } else if u32::from(udelta) <= RTP_SEQ_MOD - u32::from(MAX_MISORDER) {
            if u32::from(seq) == self.bad_seq {
                // Two sequential packets after a big jump: the source restarted.
                self.init_seq(seq);
            } else {
                self.bad_seq = (u32::from(seq) + 1) & (RTP_SEQ_MOD - 1);
                return false;
            }
        }
        // Otherwise a duplicate or reordered packet: counted, max unchanged.
        self.received = self.received.wrapping_add(1);
        true
    }

    /// Records an RTP packet with sequence `seq` and timestamp `rtp_ts` arriving at `now`.
    ///
    /// Returns `false` while the source is on probation or when the packet is a suspected
    /// sequence jump (it is then not counted).
    pub fn receive(&mut self, seq: u16, rtp_ts: u32, now: Instant) -> bool {
        if !self.update_seq(seq) {
            return false;
        }
        let epoch = *self.epoch.get_or_insert(now);
        let arrival = self.to_ts_units(now.saturating_duration_since(epoch));
        let transit = arrival.wrapping_sub(rtp_ts);
        if let Some(prev) = self.transit {
            let d = u64::from((transit.wrapping_sub(prev) as i32).unsigned_abs());
            // J += (|D| - J) / 16, kept scaled by 16 (A.8).
            self.jitter_q4 = self.jitter_q4 + d - ((self.jitter_q4 + 8) >> 4);
        }
        self.transit = Some(transit);
        true
    }

    fn to_ts_units(&self, d: Duration) -> u32 {
        (d.as_nanos() * u128::from(self.clock_rate) / 1_000_000_000) as u32
    }

    /// Records a sender report from this source: its NTP time and when it arrived (for LSR/DLSR).
    pub fn on_sender_report(&mut self, ntp: u64, now: Instant) {
        self.last_sr = Some((ntp_middle32(ntp), now));
    }

    /// Extended highest sequence number received (cycles in the high 16 bits).
    pub fn extended_highest_seq(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    /// Packets expected since the base sequence number (A.3).
    pub fn expected(&self) -> u32 {
        if self.received == 0 && self.probation > 0 {
            return 0;
        }
        self.extended_highest_seq()
            .wrapping_sub(self.base_seq)
            .wrapping_add(1)
    }

    /// Valid packets received, including duplicates (A.1).
    pub fn received(&self) -> u32 {
        self.received
    }

    /// Cumulative packets lost (expected minus received; negative with duplicates).
    pub fn cumulative_lost(&self) -> i64 {
        i64::from(self.expected()) - i64::from(self.received)
    }

    /// Interarrival jitter estimate in timestamp units.
    pub fn jitter(&self) -> u32 {
        u32::try_from(self.jitter_q4 >> 4).unwrap_or(u32::MAX)
    }

    /// The jitter estimate in timestamp units, unrounded.
    pub fn jitter_exact(&self) -> f64 {
        self.jitter_q4 as f64 / 16.0
    }

    /// The highest sequence number received (its low 16 bits).
    pub fn max_seq(&self) -> u16 {
        self.max_seq
    }

    /// Whether the source is past its probation (A.1): its packets are counted.
    pub fn is_valid(&self) -> bool {
        self.started && self.probation == 0
    }

    /// Takes in what the kernel fast path counted for this source: `packets` more received,
    /// the highest sequence number now `max_seq` after `wraps` more wraps, and its jitter
    /// estimate. The next packet seen here starts a new transit reference (the kernel's arrival
    /// clock is not this one).
    pub fn absorb(&mut self, packets: u64, max_seq: u16, wraps: u32, jitter: f64) {
        self.received = self
            .received
            .wrapping_add(u32::try_from(packets).unwrap_or(u32::MAX));
        self.cycles = self.cycles.wrapping_add(wraps.wrapping_mul(RTP_SEQ_MOD));
        self.max_seq = max_seq;
        self.jitter_q4 = (jitter * 16.0).max(0.0) as u64;
        self.transit = None;
    }

    /// Builds the report block for the next SR/RR and starts a new reporting interval.
    pub fn report_block(&mut self, now: Instant) -> ReportBlock {
        let expected = self.expected();
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        self.expected_prior = expected;
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.received_prior = self.received;
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / i64::from(expected_interval)).min(255) as u8
        };
        let (lsr, dlsr) = match self.last_sr {
            Some((lsr, at)) => (lsr, duration_to_compact(now.saturating_duration_since(at))),
            None => (0, 0),
        };
        ReportBlock {
            ssrc: self.ssrc,
            fraction_lost,
            cumulative_lost: self.cumulative_lost().clamp(-0x80_0000, 0x7F_FFFF) as i32,
            extended_highest_seq: self.extended_highest_seq(),
            jitter: self.jitter(),
            lsr,
            dlsr,
        }
    }
}

/// Round-trip time from a report block the remote sent about our stream, received when our
/// wallclock read `now_ntp` (64-bit NTP): `A - LSR - DLSR` (RFC 3550 section 6.4.1).
///
/// Returns `None` if the block carries no LSR or the result would be negative (clock skew).
pub fn rtt(block: &ReportBlock, now_ntp: u64) -> Option<Duration> {
    if block.lsr == 0 {
        return None;
    }
    let a = ntp_middle32(now_ntp);
    let elapsed = a.wrapping_sub(block.lsr);
    // A negative or absurdly large value means skew or a stale report.
    if elapsed >= 0x8000_0000 || elapsed < block.dlsr {
        return None;
    }
    Some(compact_to_duration(elapsed - block.dlsr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probation_needs_two_sequential_packets() {
        let t = Instant::now();
        let mut s = ReceiverStats::new(1, 8000);
        assert!(!s.receive(10, 0, t));
        assert_eq!(s.expected(), 0);
        assert!(s.receive(11, 160, t));
        assert_eq!((s.expected(), s.received()), (1, 1));
        assert_eq!(s.extended_highest_seq(), 11);
    }

    #[test]
    fn probation_restarts_on_gap() {
        let t = Instant::now();
        let mut s = ReceiverStats::new(1, 8000);
        assert!(!s.receive(10, 0, t));
        assert!(!s.receive(20, 0, t));
        assert!(s.receive(21, 0, t));
        assert_eq!(s.extended_highest_seq(), 21);
    }

    #[test]
    fn restart_after_big_jump_needs_two_packets() {
        let t = Instant::now();
        let mut s = ReceiverStats::new(1, 8000);
        for seq in 0..5 {
            s.receive(seq, 0, t);
        }
        assert!(!s.receive(40_000, 0, t));
        assert!(s.receive(40_001, 0, t));
        // Statistics restart from the new base.
        assert_eq!((s.expected(), s.received()), (1, 1));
        assert_eq!(s.extended_highest_seq(), 40_001);
    }

    #[test]
    fn dlsr_counts_from_sr_arrival() {
        let t = Instant::now();
        let mut s = ReceiverStats::new(7, 8000);
        s.receive(1, 0, t);
        s.receive(2, 160, t);
        s.on_sender_report(0x1234_5678_9ABC_DEF0, t);
        let b = s.report_block(t + Duration::from_millis(250));
        assert_eq!(b.lsr, 0x5678_9ABC);
        assert_eq!(b.dlsr, 0x4000);
        assert_eq!(b.ssrc, 7);
    }

    #[test]
    fn rtt_rejects_missing_or_negative() {
        let b = ReportBlock::default();
        assert_eq!(rtt(&b, 1 << 40), None);
        let b = ReportBlock {
            lsr: 0x0001_0000,
            dlsr: 0x0002_0000,
            ..Default::default()
        };
        assert_eq!(rtt(&b, 0x0002_0000u64 << 16), None);
    }
}
