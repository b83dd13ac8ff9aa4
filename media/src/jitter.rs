//! Adaptive jitter buffer (sans-IO).
//!
//! [`JitterBuffer`] takes RTP packets as plain fields (`seq`, `timestamp`, payload bytes) with
//! the arrival `now: Instant`, and hands out exactly one [`Pop`] per frame period when the
//! caller calls [`JitterBuffer::pop`]. It never reads a clock and never touches a socket.
//!
//! Playout is driven by the sequence number: frames come out in order, a gap that can no
//! longer be waited for becomes [`Pop::Lost`] (the decoder conceals it; an Opus decoder may use
//! in-band FEC from [`JitterBuffer::peek_next_after_gap`]), and an empty buffer is an underrun
//! ([`Pop::Empty`]).
//!
//! The playout delay adapts to the measured arrival deviation: every packet's transit time
//! (arrival minus media time) is compared with the fastest transit seen, and the target delay
//! follows the peak deviation — it jumps up at once on a burst and decays slowly. A deviation
//! above [`PROMPT_PEAK`] (100 ms) counts beyond that only once a second such spike, at least
//! [`PEAK_CONFIRM_GAP`] after the first, confirms it: one stall of the path (a peer or relay
//! busy for a moment, then a burst of held-up packets) is not jitter, and must not leave every
//! later frame late. The buffer grows by holding playout for a frame ([`Pop::Empty`]) and
//! shrinks by discarding one frame per [`SHRINK_INTERVAL_FRAMES`] frames, or one per frame
//! while it holds more than three frames above its target (catching up after a stall), all
//! clamped to `[min_delay, max_delay]`.
//!
//! Packets are copied into pooled slots; after warm-up `insert` and `pop` never allocate.

use std::time::{Duration, Instant};

/// A sequence jump larger than this (in packets) is treated as a possible source restart.
const RESYNC_SEQ_GAP: i64 = 1000;
/// Per-packet multiplicative decay of the peak delay deviation (half-life ≈ 700 packets).
const PEAK_DECAY: f64 = 0.999;
/// Per-packet upward drift of the fastest-transit reference, in seconds.
const BASE_DRIFT: f64 = 0.000_05;
/// Minimum number of frames between two shrink steps.
pub const SHRINK_INTERVAL_FRAMES: u32 = 25;
/// Delay deviation (seconds) the target follows at once; above it only once confirmed.
pub const PROMPT_PEAK: f64 = 0.1;
/// A spike confirms an earlier one only if it comes at least this long after it (packets of
/// one burst arrive together and are one event).
pub const PEAK_CONFIRM_GAP: Duration = Duration::from_millis(200);
/// ... and at most this long after it.
pub const PEAK_CONFIRM_WINDOW: Duration = Duration::from_secs(10);
/// Largest accepted `max_delay`.
pub const MAX_DELAY_LIMIT: Duration = Duration::from_secs(60);
/// Initial payload capacity of each pooled slot.
const SLOT_CAPACITY: usize = 256;

/// Jitter buffer configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// RTP clock rate of the stream in Hz (8000 for G.711, 48000 for Opus).
    pub clock_rate: u32,
    /// Duration of one frame, i.e. the period at which [`JitterBuffer::pop`] is called.
    pub frame_duration: Duration,
    /// Lowest playout delay the buffer will settle at.
    pub min_delay: Duration,
    /// Highest playout delay the buffer will grow to.
    pub max_delay: Duration,
    /// Number of pooled packet slots (the reorder/buffering window in packets).
    pub max_packets: usize,
}

impl Default for JitterConfig {
    fn default() -> Self {
        Self {
            clock_rate: 8000,
            frame_duration: Duration::from_millis(20),
            min_delay: Duration::from_millis(40),
            max_delay: Duration::from_millis(400),
            max_packets: 64,
        }
    }
}

/// Invalid [`JitterConfig`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JitterError {
    /// The clock rate is zero.
    #[error("clock rate must be non-zero")]
    ZeroClockRate,
    /// The frame duration is shorter than one sample at the clock rate.
    #[error("frame duration must be at least one sample long")]
    InvalidFrameDuration,
    /// `min_delay` is larger than `max_delay`, or `max_delay` exceeds [`MAX_DELAY_LIMIT`].
    #[error("min_delay must not exceed max_delay, nor max_delay 60 s")]
    InvalidDelayRange,
    /// Fewer than two packet slots were configured.
    #[error("max_packets must be at least 2")]
    TooFewSlots,
}

/// What the decoder should do for the current frame period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pop<'a> {
    /// Decode this frame.
    Frame {
        /// RTP sequence number.
        seq: u16,
        /// RTP timestamp.
        timestamp: u32,
        /// Payload bytes (valid until the next call on the buffer).
        payload: &'a [u8],
    },
    /// The frame with this (estimated) timestamp is missing: conceal it (PLC or FEC).
    Lost {
        /// Estimated RTP timestamp of the missing frame.
        timestamp: u32,
    },
    /// Nothing to play: not started yet, underrun, or the buffer is growing its delay.
    Empty,
}

/// A buffered frame exposed without removing it (see [`JitterBuffer::peek_next_after_gap`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeekedFrame<'a> {
    /// RTP sequence number.
    pub seq: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// Payload bytes.
    pub payload: &'a [u8],
}

/// Counters and delay figures of a [`JitterBuffer`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct JitterStats {
    /// Packets handed to [`JitterBuffer::insert`].
    pub received: u64,
    /// Packets dropped because their playout point had passed (this includes copies of frames
    /// that were already played).
    pub late: u64,
    /// Packets dropped because the same sequence number was already buffered.
    pub duplicate: u64,
    /// Frames reported as [`Pop::Lost`] or skipped as missing.
    pub lost: u64,
    /// Frames dropped to shrink the delay, on overflow, or while resynchronising.
    pub discarded: u64,
    /// Pops that found the started buffer empty.
    pub underruns: u64,
    /// Pops held back on purpose to grow the delay.
    pub stretched: u64,
    /// Source restarts that reset the buffer.
    pub resyncs: u64,
    /// Playout delay of the most recent pop, relative to the fastest packet path.
    pub current_delay: Duration,
    /// Delay the buffer is steering towards.
    pub target_delay: Duration,
}

#[derive(Debug)]
struct Slot {
    occupied: bool,
    ext_seq: i64,
    ext_ts: i64,
    payload: Vec<u8>,
}

/// Adaptive jitter buffer; see the [module docs](self).
#[derive(Debug)]
pub struct JitterBuffer {
    cfg: JitterConfig,
    samples_per_frame: i64,
    frame_secs: f64,
    slots: Vec<Slot>,
    buffered: usize,
    epoch: Option<Instant>,
    highest: Option<i64>,
    last_ext_ts: i64,
    next_seq: i64,
    started: bool,
    start_at: Option<Instant>,
    base_transit: Option<f64>,
    peak: f64,
    /// A spike above [`PROMPT_PEAK`] waiting to be confirmed: (deviation, arrival) in seconds.
    pending_peak: Option<(f64, f64)>,
    target: f64,
    since_shrink: u32,
    pending_restart: Option<u16>,
    stats: JitterStats,
}

impl JitterBuffer {
    /// Creates an empty buffer; all slots are allocated up front.
    pub fn new(cfg: JitterConfig) -> Result<Self, JitterError> {
        if cfg.clock_rate == 0 {
            return Err(JitterError::ZeroClockRate);
        }
        let samples_per_frame =
            (cfg.frame_duration.as_secs_f64() * f64::from(cfg.clock_rate)).round() as i64;
        if samples_per_frame < 1 {
            return Err(JitterError::InvalidFrameDuration);
        }
        if cfg.min_delay > cfg.max_delay || cfg.max_delay > MAX_DELAY_LIMIT {
            return Err(JitterError::InvalidDelayRange);
        }
        if cfg.max_packets < 2 {
            return Err(JitterError::TooFewSlots);
        }
        let slots = (0..cfg.max_packets)
            .map(|_| Slot {
                occupied: false,
                ext_seq: 0,
                ext_ts: 0,
                payload: Vec::with_capacity(SLOT_CAPACITY),
            })
            .collect();
        let target = cfg.min_delay.as_secs_f64();
        Ok(Self {
            cfg,
            samples_per_frame,
            frame_secs: cfg.frame_duration.as_secs_f64(),
            slots,
            buffered: 0,
            epoch: None,
            highest: None,
            last_ext_ts: 0,
            next_seq: 0,
            started: false,
            start_at: None,
            base_transit: None,
            peak: 0.0,
            pending_peak: None,
            target,
            since_shrink: 0,
            pending_restart: None,
            stats: JitterStats {
                target_delay: cfg.min_delay,
                ..JitterStats::default()
            },
        })
    }

    /// The configuration this buffer was built with.
    pub fn config(&self) -> &JitterConfig {
        &self.cfg
    }

    /// Counters and delay figures.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Playout delay of the most recent pop (same as `stats().current_delay`).
    pub fn current_delay(&self) -> Duration {
        self.stats.current_delay
    }

    /// Delay the buffer is currently steering towards.
    pub fn target_delay(&self) -> Duration {
        Duration::from_secs_f64(self.target)
    }

    /// Number of packets currently buffered.
    pub fn len(&self) -> usize {
        self.buffered
    }

    /// Whether no packet is buffered.
    pub fn is_empty(&self) -> bool {
        self.buffered == 0
    }

    /// Inserts a received packet (the payload is copied into a pooled slot).
    pub fn insert(&mut self, now: Instant, seq: u16, timestamp: u32, payload: &[u8]) {
        self.stats.received += 1;
        let epoch = *self.epoch.get_or_insert(now);
        let Some(high) = self.highest else {
            self.start_stream(now, epoch, seq, timestamp, payload);
            return;
        };
        let delta = i64::from(seq.wrapping_sub(high as u16) as i16);
        if delta.abs() > RESYNC_SEQ_GAP {
            // One stray packet is dropped; two consecutive ones mean the source restarted.
            if self.pending_restart == Some(seq.wrapping_sub(1)) {
                self.resync();
                self.start_stream(now, epoch, seq, timestamp, payload);
            } else {
                self.pending_restart = Some(seq);
                self.stats.discarded += 1;
            }
            return;
        }
        self.pending_restart = None;
        let ext_seq = high + delta;
        let ext_ts =
            self.last_ext_ts + i64::from(timestamp.wrapping_sub(self.last_ext_ts as u32) as i32);
        self.observe_transit(now, epoch, ext_ts);
        if ext_seq > high {
            self.highest = Some(ext_seq);
            self.last_ext_ts = ext_ts;
        }
        let cap = self.slots.len() as i64;
        if ext_seq < self.next_seq {
            if !self.started && self.highest.unwrap_or(ext_seq) - ext_seq < cap {
                self.next_seq = ext_seq;
            } else {
                self.stats.late += 1;
                return;
            }
        }
        if ext_seq >= self.next_seq + cap {
            self.advance_to(ext_seq - cap + 1);
        }
        let slot = &mut self.slots[ext_seq.rem_euclid(cap) as usize];
        if slot.occupied {
            self.stats.duplicate += 1;
            return;
        }
        slot.occupied = true;
        slot.ext_seq = ext_seq;
        slot.ext_ts = ext_ts;
        slot.payload.clear();
        slot.payload.extend_from_slice(payload);
        self.buffered += 1;
    }

    /// Called once per frame period: what to hand to the decoder now.
    pub fn pop(&mut self, now: Instant) -> Pop<'_> {
        self.since_shrink = self.since_shrink.saturating_add(1);
        let Some((head_seq, head_ts)) = self.head() else {
            if self.started {
                self.stats.underruns += 1;
            }
            return Pop::Empty;
        };
        let gap = head_seq - self.next_seq;
        let est_ts = head_ts - gap * self.samples_per_frame;
        let actual = self.delay_of(now, est_ts);
        if !self.started {
            // Start once the first frame has waited the target delay (measured against the
            // fastest path, so a late first packet does not inflate the delay for good).
            let waited = actual + self.frame_secs / 4.0 >= self.target;
            if !waited && self.start_at.is_none_or(|at| now < at) {
                return Pop::Empty;
            }
            self.started = true;
            // The first frame sets the playout point; shrinking counts from there.
            self.since_shrink = 0;
        }
        self.stats.current_delay =
            Duration::try_from_secs_f64(actual.max(0.0)).unwrap_or(Duration::MAX);
        if gap > 0 {
            let head_delay = actual - gap as f64 * self.frame_secs;
            if head_delay > self.target + self.frame_secs {
                // The frames after the gap are overdue themselves: skip the gap at once.
                self.stats.lost += gap as u64;
                self.next_seq = head_seq;
            } else if actual + self.frame_secs / 4.0 < self.target {
                self.stats.stretched += 1;
                return Pop::Empty;
            } else {
                self.stats.lost += 1;
                self.next_seq += 1;
                return Pop::Lost {
                    timestamp: est_ts as u32,
                };
            }
        } else if actual + self.frame_secs / 4.0 < self.target {
            self.stats.stretched += 1;
            return Pop::Empty;
        } else if actual > self.target + 1.5 * self.frame_secs
            && self.since_shrink >= shrink_interval(actual - self.target, self.frame_secs)
            && self.slot_at(self.next_seq + 1).is_some()
        {
            let idx = self.slot_at(self.next_seq).expect("head is buffered");
            self.slots[idx].occupied = false;
            self.buffered -= 1;
            self.next_seq += 1;
            self.since_shrink = 0;
            self.stats.discarded += 1;
        }
        let idx = self.slot_at(self.next_seq).expect("head is buffered");
        self.next_seq += 1;
        self.buffered -= 1;
        let slot = &mut self.slots[idx];
        slot.occupied = false;
        Pop::Frame {
            seq: slot.ext_seq as u16,
            timestamp: slot.ext_ts as u32,
            payload: &slot.payload,
        }
    }

    /// The buffered frame that will be played next, if it is already here.
    ///
    /// Call it right after [`Pop::Lost`]: the packet following the gap may carry in-band FEC
    /// (Opus LBRR) for the lost frame.
    pub fn peek_next_after_gap(&self) -> Option<PeekedFrame<'_>> {
        let slot = &self.slots[self.slot_at(self.next_seq)?];
        Some(PeekedFrame {
            seq: slot.ext_seq as u16,
            timestamp: slot.ext_ts as u32,
            payload: &slot.payload,
        })
    }

    /// Starts (or restarts) the stream at this packet.
    fn start_stream(&mut self, now: Instant, epoch: Instant, seq: u16, ts: u32, payload: &[u8]) {
        let ext_seq = i64::from(seq);
        let ext_ts = i64::from(ts);
        self.highest = Some(ext_seq);
        self.last_ext_ts = ext_ts;
        self.next_seq = ext_seq;
        self.observe_transit(now, epoch, ext_ts);
        self.start_at = now.checked_add(self.cfg.max_delay);
        let cap = self.slots.len() as i64;
        let slot = &mut self.slots[ext_seq.rem_euclid(cap) as usize];
        slot.occupied = true;
        slot.ext_seq = ext_seq;
        slot.ext_ts = ext_ts;
        slot.payload.clear();
        slot.payload.extend_from_slice(payload);
        self.buffered = 1;
    }

    /// Forgets the old source after a restart; the delay estimate is kept.
    fn resync(&mut self) {
        for slot in &mut self.slots {
            if slot.occupied {
                slot.occupied = false;
                self.stats.discarded += 1;
            }
        }
        self.buffered = 0;
        self.highest = None;
        self.started = false;
        self.start_at = None;
        self.base_transit = None;
        self.pending_restart = None;
        self.stats.resyncs += 1;
    }

    /// Drops every slot below `seq` (buffer overflow) and moves the playout point there.
    fn advance_to(&mut self, seq: i64) {
        for s in self.next_seq..seq {
            if let Some(idx) = self.slot_at(s) {
                self.slots[idx].occupied = false;
                self.buffered -= 1;
                self.stats.discarded += 1;
            }
        }
        self.next_seq = seq;
    }

    /// Updates the fastest-transit reference and the peak deviation with one arrival.
    fn observe_transit(&mut self, now: Instant, epoch: Instant, ext_ts: i64) {
        let arrival = now.saturating_duration_since(epoch).as_secs_f64();
        let transit = arrival - ext_ts as f64 / f64::from(self.cfg.clock_rate);
        let mut base = match self.base_transit {
            None => transit,
            Some(b) => (b + BASE_DRIFT).min(transit),
        };
        let mut deviation = transit - base;
        let rebase_limit = (2.0 * self.cfg.max_delay.as_secs_f64()).max(1.0);
        if deviation > rebase_limit {
            // Timestamp jumped backwards (or the path changed for good): start over.
            base = transit;
            deviation = 0.0;
        }
        self.base_transit = Some(base);
        let believed = if deviation <= PROMPT_PEAK {
            deviation
        } else {
            let gap = PEAK_CONFIRM_GAP.as_secs_f64();
            let window = PEAK_CONFIRM_WINDOW.as_secs_f64();
            match self.pending_peak {
                // A second spike, a separate event: both were real; the smaller is believed.
                Some((v, at)) if (gap..=window).contains(&(arrival - at)) => {
                    self.pending_peak = Some((deviation, arrival));
                    deviation.min(v)
                }
                // The same burst: one event.
                Some((v, at)) if arrival - at < gap => {
                    self.pending_peak = Some((v.max(deviation), at));
                    PROMPT_PEAK
                }
                _ => {
                    self.pending_peak = Some((deviation, arrival));
                    PROMPT_PEAK
                }
            }
        };
        self.peak = if believed > self.peak {
            believed
        } else {
            self.peak * PEAK_DECAY
        };
        let min = self.cfg.min_delay.as_secs_f64();
        let max = self.cfg.max_delay.as_secs_f64();
        self.target = (self.peak + self.frame_secs / 2.0).clamp(min, max);
        self.stats.target_delay = Duration::from_secs_f64(self.target);
    }

    /// Playout delay if the frame with extended timestamp `ext_ts` is played at `now`.
    fn delay_of(&self, now: Instant, ext_ts: i64) -> f64 {
        let (Some(epoch), Some(base)) = (self.epoch, self.base_transit) else {
            return 0.0;
        };
        let t = now.saturating_duration_since(epoch).as_secs_f64();
        t - (ext_ts as f64 / f64::from(self.cfg.clock_rate) + base)
    }

    /// Slot index holding extended sequence number `seq`, if buffered.
    fn slot_at(&self, seq: i64) -> Option<usize> {
        let idx = seq.rem_euclid(self.slots.len() as i64) as usize;
        let slot = &self.slots[idx];
        (slot.occupied && slot.ext_seq == seq).then_some(idx)
    }

    /// Earliest buffered packet at or after the playout point: `(ext_seq, ext_ts)`.
    fn head(&self) -> Option<(i64, i64)> {
        if self.buffered == 0 {
            return None;
        }
        let high = self.highest?;
        (self.next_seq..=high)
            .find_map(|s| self.slot_at(s))
            .map(|idx| (self.slots[idx].ext_seq, self.slots[idx].ext_ts))
    }
}

/// Frames between two shrink steps with the delay `excess` seconds above the target: one
/// per frame (double speed) while more than three frames too many are held.
fn shrink_interval(excess: f64, frame_secs: f64) -> u32 {
    if excess > 3.0 * frame_secs {
        1
    } else {
        SHRINK_INTERVAL_FRAMES
    }
}
