//! DTMF telephone events (RFC 4733) and SIP INFO DTMF bodies.
//!
//! * [`DtmfReceiver`] turns the payloads of `telephone-event` RTP packets into one
//!   [`DtmfEvent`] per key press. It copes with the redundant end packets, retransmitted start
//!   packets, a lost start (the first packet seen is mid-event or even the end), a lost end
//!   (the event ends when the next event starts, or on timeout via
//!   [`DtmfReceiver::poll_timeout`] / [`DtmfReceiver::handle_timeout`]) and long events split
//!   into segments or with a wrapping duration field.
//! * [`DtmfSender`] produces the packet fields to send one digit: an update every packet
//!   interval and three redundant end packets.
//! * [`parse_dtmf_relay`] reads `application/dtmf-relay` and `application/dtmf` SIP INFO
//!   bodies.
//!
//! Everything is sans-IO: `now: Instant` comes in, packets, events and deadlines go out.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How long a started event may go without packets before it is reported as ended.
pub const DEFAULT_END_TIMEOUT: Duration = Duration::from_millis(300);
/// Duration reported by [`parse_dtmf_relay`] when the body carries none.
pub const DEFAULT_RELAY_DURATION_MS: u32 = 250;
/// Number of packets carrying the E bit sent at the end of each event.
pub const END_PACKETS: u32 = 3;
/// Volume field (−dBm0) used by [`DtmfSender`].
const SEND_VOLUME: u8 = 10;
/// How many already reported events are remembered to suppress late retransmissions.
const HISTORY: usize = 4;

/// Errors from DTMF handling.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DtmfError {
    /// The telephone-event payload is shorter than the 4-byte event block.
    #[error("telephone-event payload too short ({0} bytes)")]
    TooShort(usize),
    /// The event code is not a DTMF digit (0–15).
    #[error("unsupported telephone event {0}")]
    UnsupportedEvent(u8),
    /// The character is not one of `0-9 * # A-D`.
    #[error("not a DTMF digit: {0:?}")]
    InvalidDigit(char),
    /// The requested duration does not fit the 16-bit duration field.
    #[error("duration {0} ms does not fit one event")]
    DurationTooLong(u32),
    /// The sender is still sending the previous digit.
    #[error("a digit is still being sent")]
    Busy,
}

/// One detected key press.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfEvent {
    /// `'0'-'9'`, `'*'`, `'#'` or `'A'-'D'`.
    pub digit: char,
    /// Duration of the key press in milliseconds (as far as it was seen).
    pub duration_ms: u32,
    /// RTP timestamp of the event start.
    pub timestamp: u32,
}

/// Maps an RFC 4733 event code to its digit.
pub fn event_to_digit(event: u8) -> Option<char> {
    const DIGITS: &[u8; 16] = b"0123456789*#ABCD";
    DIGITS.get(usize::from(event)).map(|&b| char::from(b))
}

/// Maps a digit (case-insensitive for `A-D`) to its RFC 4733 event code.
pub fn digit_to_event(digit: char) -> Option<u8> {
    match digit.to_ascii_uppercase() {
        c @ '0'..='9' => Some(c as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        c @ 'A'..='D' => Some(c as u8 - b'A' + 12),
        _ => None,
    }
}

#[derive(Debug)]
struct Current {
    event: u8,
    /// Timestamp of the first segment (reported).
    start_ts: u32,
    /// Timestamp of the current segment.
    seg_ts: u32,
    /// Duration units accumulated by finished segments / field wraps.
    carried: u64,
    /// Latest duration field of the current segment.
    last_dur: u16,
    reported: bool,
    last_seen: Instant,
}

impl Current {
    fn total(&self) -> u64 {
        self.carried + u64::from(self.last_dur)
    }
}

/// Receives RFC 4733 telephone-event payloads; see the [module docs](self).
#[derive(Debug)]
pub struct DtmfReceiver {
    clock_rate: u32,
    end_timeout: Duration,
    current: Option<Current>,
    history: VecDeque<(u32, u8)>,
    events: VecDeque<DtmfEvent>,
}

impl DtmfReceiver {
    /// A receiver for a telephone-event stream at `clock_rate` Hz (usually 8000).
    pub fn new(clock_rate: u32) -> Self {
        Self {
            clock_rate: clock_rate.max(1),
            end_timeout: DEFAULT_END_TIMEOUT,
            current: None,
            history: VecDeque::with_capacity(HISTORY),
            events: VecDeque::new(),
        }
    }

    /// Changes how long an event may go silent before it is considered ended.
    pub fn with_end_timeout(mut self, timeout: Duration) -> Self {
        self.end_timeout = timeout;
        self
    }

    /// Handles one telephone-event packet (`payload` is the RTP payload).
    ///
    /// Only the first 4-byte event block is used. Non-DTMF events are rejected.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        timestamp: u32,
        marker: bool,
        payload: &[u8],
    ) -> Result<(), DtmfError> {
        let &[event, flags, d0, d1, ..] = payload else {
            return Err(DtmfError::TooShort(payload.len()));
        };
        if event > 15 {
            return Err(DtmfError::UnsupportedEvent(event));
        }
        let end = flags & 0x80 != 0;
        let duration = u16::from_be_bytes([d0, d1]);
        if self.history.contains(&(timestamp, event)) {
            return Ok(()); // retransmission of an event already reported
        }
        if let Some(cur) = &mut self.current {
            let older = (timestamp.wrapping_sub(cur.seg_ts) as i32) < 0;
            if cur.event == event && cur.seg_ts == timestamp {
                if !cur.reported {
                    if duration < cur.last_dur && cur.last_dur - duration > 0x8000 {
                        cur.carried += 0x1_0000; // duration field wrapped
                    }
                    if duration > cur.last_dur || cur.last_dur - duration > 0x8000 {
                        cur.last_dur = duration;
                    }
                    cur.last_seen = now;
                    if end {
                        self.finish();
                    }
                }
                return Ok(());
            }
            if older {
                return Ok(()); // stale packet of an earlier event
            }
            // The next segment starts where the previous one ended; allow for the last few
            // updates of the previous segment having been lost.
            let step = timestamp.wrapping_sub(cur.seg_ts);
            let continuation = cur.event == event
                && !marker
                && !cur.reported
                && step >= u32::from(cur.last_dur)
                && step <= u32::from(cur.last_dur) + self.clock_rate / 5;
            if continuation {
                // Long event: a new segment continues the same key press (RFC 4733 §2.5.1.3).
                cur.carried += u64::from(timestamp.wrapping_sub(cur.seg_ts));
                cur.seg_ts = timestamp;
                cur.last_dur = duration;
                cur.last_seen = now;
                if end {
                    self.finish();
                }
                return Ok(());
            }
            // A new event started: the previous one ended even if its end was lost.
            self.finish();
        }
        self.current = Some(Current {
            event,
            start_ts: timestamp,
            seg_ts: timestamp,
            carried: 0,
            last_dur: duration,
            reported: false,
            last_seen: now,
        });
        if end {
            self.finish();
        }
        Ok(())
    }

    /// When [`handle_timeout`](Self::handle_timeout) should be called next, if at all.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.current
            .as_ref()
            .filter(|c| !c.reported)
            .map(|c| c.last_seen + self.end_timeout)
    }

    /// Ends an event whose end packets were all lost once its timeout has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.poll_timeout().is_some_and(|at| now >= at) {
            self.finish();
        }
    }

    /// Next detected key press, if any.
    pub fn poll_event(&mut self) -> Option<DtmfEvent> {
        self.events.pop_front()
    }

    /// Reports the current event once and remembers it to suppress retransmissions.
    fn finish(&mut self) {
        let Some(cur) = &mut self.current else { return };
        if cur.reported {
            return;
        }
        cur.reported = true;
        let duration_ms = cur.total() * 1000 / u64::from(self.clock_rate);
        if let Some(digit) = event_to_digit(cur.event) {
            self.events.push_back(DtmfEvent {
                digit,
                duration_ms: u32::try_from(duration_ms).unwrap_or(u32::MAX),
                timestamp: cur.start_ts,
            });
        }
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back((cur.seg_ts, cur.event));
        if cur.seg_ts != cur.start_ts {
            if self.history.len() == HISTORY {
                self.history.pop_front();
            }
            self.history.push_back((cur.start_ts, cur.event));
        }
    }
}

/// Fields of one telephone-event packet to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfPacket {
    /// RTP timestamp (the event start; the same for every packet of the event).
    pub timestamp: u32,
    /// RTP marker bit (set on the first packet of the event only).
    pub marker: bool,
    /// Whether this is one of the end packets (E bit set).
    pub end: bool,
    /// Duration field, in timestamp units.
    pub duration: u16,
    /// The 4-byte RFC 4733 payload.
    pub payload: [u8; 4],
}

#[derive(Debug)]
struct Sending {
    event: u8,
    timestamp: u32,
    total: u16,
    sent_dur: u16,
    ends_sent: u32,
    first: bool,
    next_at: Instant,
}

/// Produces the packets for sending digits as telephone events; see the [module docs](self).
#[derive(Debug)]
pub struct DtmfSender {
    clock_rate: u32,
    interval: Duration,
    sending: Option<Sending>,
}

impl DtmfSender {
    /// A sender at `clock_rate` Hz sending one packet every `interval` (usually 20 ms).
    pub fn new(clock_rate: u32, interval: Duration) -> Self {
        Self {
            clock_rate: clock_rate.max(1),
            interval: interval.max(Duration::from_millis(1)),
            sending: None,
        }
    }

    /// Starts sending `digit` for `duration_ms`, stamped with RTP timestamp `timestamp`.
    pub fn start(
        &mut self,
        now: Instant,
        digit: char,
        duration_ms: u32,
        timestamp: u32,
    ) -> Result<(), DtmfError> {
        if self.sending.is_some() {
            return Err(DtmfError::Busy);
        }
        let event = digit_to_event(digit).ok_or(DtmfError::InvalidDigit(digit))?;
        let units = u64::from(duration_ms) * u64::from(self.clock_rate) / 1000;
        let total = u16::try_from(units).map_err(|_| DtmfError::DurationTooLong(duration_ms))?;
        self.sending = Some(Sending {
            event,
            timestamp,
            total: total.max(1),
            sent_dur: 0,
            ends_sent: 0,
            first: true,
            next_at: now,
        });
        Ok(())
    }

    /// Whether a digit is still being sent.
    pub fn is_busy(&self) -> bool {
        self.sending.is_some()
    }

    /// When the next packet is due, if a digit is being sent.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.sending.as_ref().map(|s| s.next_at)
    }

    /// The next packet to send if it is due at `now`.
    pub fn poll_packet(&mut self, now: Instant) -> Option<DtmfPacket> {
        let step = u64::from(self.clock_rate) * self.interval.as_micros() as u64 / 1_000_000;
        let s = self.sending.as_mut()?;
        if now < s.next_at {
            return None;
        }
        s.next_at += self.interval;
        let end = s.sent_dur >= s.total;
        if end {
            s.ends_sent += 1;
        } else {
            let next = u64::from(s.sent_dur) + step.max(1);
            s.sent_dur = u16::try_from(next.min(u64::from(s.total))).unwrap_or(s.total);
        }
        let marker = std::mem::take(&mut s.first);
        let [d0, d1] = s.sent_dur.to_be_bytes();
        let flags = if end { 0x80 } else { 0 } | SEND_VOLUME;
        let packet = DtmfPacket {
            timestamp: s.timestamp,
            marker,
            end,
            duration: s.sent_dur,
            payload: [s.event, flags, d0, d1],
        };
        if s.ends_sent >= END_PACKETS {
            self.sending = None;
        }
        Some(packet)
    }
}

/// Parses a SIP INFO DTMF body.
///
/// Accepts `application/dtmf-relay` (`Signal=5\r\nDuration=160`, keys case-insensitive,
/// whitespace tolerated, `Signal` either the digit or its event number 0–15) and
/// `application/dtmf` (just `5`). Without a `Duration`,
/// [`DEFAULT_RELAY_DURATION_MS`] is returned.
pub fn parse_dtmf_relay(body: &str) -> Option<(char, u32)> {
    let body = body.trim();
    if !body.contains('=') {
        return parse_signal(body).map(|d| (d, DEFAULT_RELAY_DURATION_MS));
    }
    let mut digit = None;
    let mut duration = DEFAULT_RELAY_DURATION_MS;
    for line in body.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        match key.trim().to_ascii_lowercase().as_str() {
            "signal" => digit = Some(parse_signal(value)?),
            "duration" => duration = value.parse().ok()?,
            _ => {}
        }
    }
    digit.map(|d| (d, duration))
}

/// A digit character or an event number.
fn parse_signal(value: &str) -> Option<char> {
    let mut chars = value.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        return digit_to_event(c).and_then(event_to_digit);
    }
    value.parse::<u8>().ok().and_then(event_to_digit)
}
