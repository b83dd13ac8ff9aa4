//! The browser leg's round-trip time, from RTCP (RFC 3550 §6.4.1): the peer connection's
//! sender-report interceptor sends our SRs; this interceptor sits closest to the wire, so it
//! sees each SR leave (and remembers when, by the middle 32 bits of its NTP time) and each
//! report block the browser sends back about our streams (LSR: which SR, DLSR: how long the
//! browser held it). RTT = arrival − SR departure − DLSR.
//!
//! The last measurement is kept in an atomic the session reads; nothing else changes: the
//! meter is a [`super::tap::Tap`]'s watch, every packet passes through untouched, both ways.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc::interceptor::{Packet, TaggedPacket};
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::reception_report::ReceptionReport;
use rtc::rtcp::sender_report::SenderReport;

/// Where the meter sits: before every built-in interceptor (closest to the wire), so the SRs
/// the sender-report interceptor emits pass it on their way out.
pub(super) const RTT_SLOT: usize = 100;

/// How many recent SRs are remembered (the browser answers the latest it got).
const REMEMBERED: usize = 8;

/// The last RTT measured, in microseconds; `u64::MAX` until one is.
#[derive(Debug, Clone)]
pub struct Rtt(Arc<AtomicU64>);

impl Default for Rtt {
    fn default() -> Self {
        Rtt(Arc::new(AtomicU64::new(u64::MAX)))
    }
}

impl Rtt {
    /// The last measurement.
    pub fn get(&self) -> Option<Duration> {
        match self.0.load(Ordering::Relaxed) {
            u64::MAX => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    fn set(&self, d: Duration) {
        self.0.store(
            d.as_micros().min(u128::from(u64::MAX - 1)) as u64,
            Ordering::Relaxed,
        );
    }
}

/// The meter (a [`super::tap::Tap`]'s watch). See the module docs.
pub(super) struct RttMeter {
    rtt: Rtt,
    /// Our SRs sent: (SSRC, middle 32 bits of the NTP time, when).
    sent: VecDeque<(u32, u32, Instant)>,
}

impl RttMeter {
    pub fn new(rtt: Rtt) -> Self {
        RttMeter {
            rtt,
            sent: VecDeque::with_capacity(REMEMBERED),
        }
    }

    fn sr_sent(&mut self, sr: &SenderReport, now: Instant) {
        if self.sent.len() == REMEMBERED {
            self.sent.pop_front();
        }
        self.sent
            .push_back((sr.ssrc, (sr.ntp_time >> 16) as u32, now));
    }

    fn report(&mut self, r: &ReceptionReport, now: Instant) {
        if r.last_sender_report == 0 {
            return;
        }
        let Some(&(_, _, at)) = self
            .sent
            .iter()
            .find(|(ssrc, mid, _)| *ssrc == r.ssrc && *mid == r.last_sender_report)
        else {
            return;
        };
        let held = Duration::from_micros(u64::from(r.delay) * 1_000_000 / 65_536);
        let elapsed = now.saturating_duration_since(at);
        // DLSR has 1/65536 s resolution: on a short path it may exceed the elapsed time by a
        // rounding step; more than that is a bogus report.
        match elapsed.checked_sub(held) {
            Some(rtt) => self.rtt.set(rtt),
            None if held - elapsed < Duration::from_micros(100) => self.rtt.set(Duration::ZERO),
            None => {}
        }
    }
}

impl super::tap::Watch for RttMeter {
    fn read(&mut self, msg: &mut TaggedPacket) {
        let Packet::Rtcp(packets) = &msg.message.packet else {
            return;
        };
        for p in packets {
            let any = p.as_any();
            let reports = if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
                &rr.reports
            } else if let Some(sr) = any.downcast_ref::<SenderReport>() {
                &sr.reports
            } else {
                continue;
            };
            for r in reports {
                self.report(r, msg.now);
            }
        }
    }

    fn write(&mut self, msg: &TaggedPacket) {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            for p in packets {
                if let Some(sr) = p.as_any().downcast_ref::<SenderReport>() {
                    self.sr_sent(sr, msg.now);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sr(ssrc: u32, ntp: u64) -> SenderReport {
        SenderReport {
            ssrc,
            ntp_time: ntp,
            ..Default::default()
        }
    }

    fn block(ssrc: u32, lsr: u32, dlsr: u32) -> ReceptionReport {
        ReceptionReport {
            ssrc,
            last_sender_report: lsr,
            delay: dlsr,
            ..Default::default()
        }
    }

    #[test]
    fn rtt_is_arrival_minus_departure_minus_hold() {
        let rtt = Rtt::default();
        let mut m = RttMeter::new(rtt.clone());
        let t0 = Instant::now();
        assert_eq!(rtt.get(), None);
        let ntp = 0x1234_5678_9abc_def0u64;
        m.sr_sent(&sr(7, ntp), t0);
        let lsr = (ntp >> 16) as u32;
        // Held 0.5 s (32768/65536), back 0.5 s + 40 ms after it left.
        m.report(&block(7, lsr, 32_768), t0 + Duration::from_millis(540));
        let got = rtt.get().unwrap();
        assert!(
            got.abs_diff(Duration::from_millis(40)) < Duration::from_micros(50),
            "{got:?}"
        );
    }

    #[test]
    fn reports_about_other_streams_or_unknown_srs_are_ignored() {
        let rtt = Rtt::default();
        let mut m = RttMeter::new(rtt.clone());
        let t0 = Instant::now();
        m.sr_sent(&sr(7, 1 << 32), t0);
        let later = t0 + Duration::from_millis(100);
        m.report(&block(8, 1 << 16, 0), later);
        m.report(&block(7, 99, 0), later);
        m.report(&block(7, 0, 0), later);
        assert_eq!(rtt.get(), None);
        // A DLSR far longer than the time since the SR left: bogus.
        m.report(&block(7, 1 << 16, 65_536), later);
        assert_eq!(rtt.get(), None);
        // Within a rounding step of zero (a loopback path): zero.
        m.report(&block(7, 1 << 16, 6_554), later);
        assert_eq!(rtt.get(), Some(Duration::ZERO));
    }

    #[test]
    fn only_the_latest_srs_are_remembered() {
        let rtt = Rtt::default();
        let mut m = RttMeter::new(rtt.clone());
        let t0 = Instant::now();
        for i in 0..(REMEMBERED as u64 + 2) {
            m.sr_sent(&sr(1, i << 16), t0);
        }
        m.report(&block(1, 0x0001, 0), t0);
        assert_eq!(rtt.get(), None, "the oldest SR was forgotten");
        m.report(
            &block(1, REMEMBERED as u32 + 1, 0),
            t0 + Duration::from_millis(3),
        );
        assert_eq!(rtt.get(), Some(Duration::from_millis(3)));
    }
}
