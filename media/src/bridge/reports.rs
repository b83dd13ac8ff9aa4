//! RTCP, terminated per leg: the peer's reports feed [`LegQuality`] (loss, jitter, round-trip
//! time), and each leg gets Ringside's own SR (or RR when nothing was sent yet) with an SDES
//! CNAME every few seconds.

use std::net::SocketAddr;
use std::time::Instant;

use super::{idx, CallMedia, Channel, Dropped, Transmit};
use crate::latch::Verdict;
use crate::rtp::rtcp::{self, parse_compound, RtcpPacket, SenderInfo};
use crate::rtp::stats::rtt;
use crate::Side;

/// Quality of one leg as measured by Ringside and as reported by the peer.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LegQuality {
    /// RTP packets received from the peer.
    pub packets_received: u64,
    /// Packets the peer sent that never arrived (RFC 3550 cumulative loss).
    pub packets_lost: i64,
    /// Interarrival jitter of the peer's stream, milliseconds.
    pub jitter_ms: f64,
    /// RTP packets sent to the peer.
    pub packets_sent: u64,
    /// Round-trip time from the peer's last report about our stream, milliseconds.
    pub rtt_ms: Option<f64>,
    /// Loss fraction (0..1) the peer last reported for our stream.
    pub remote_fraction_lost: Option<f64>,
    /// Jitter the peer last reported for our stream, milliseconds.
    pub remote_jitter_ms: Option<f64>,
    /// Datagrams dropped because they came from a stranger.
    pub dropped_foreign: u64,
}

impl LegQuality {
    /// Loss as a fraction of the packets expected from the peer.
    pub fn loss_fraction(&self) -> f64 {
        let expected = self.packets_received as i64 + self.packets_lost;
        if expected <= 0 {
            0.0
        } else {
            (self.packets_lost.max(0) as f64) / expected as f64
        }
    }
}

impl CallMedia {
    /// Quality figures of `side` so far.
    pub fn quality(&self, side: Side) -> LegQuality {
        let leg = &self.legs[idx(side)];
        let (received, lost, jitter_ms) = match &leg.rx {
            Some(rx) => {
                let clock = leg.codec.map_or(8000, |c| c.kind.rtp_clock_rate());
                (
                    leg.rtp_in,
                    rx.cumulative_lost(),
                    f64::from(rx.jitter()) * 1000.0 / f64::from(clock),
                )
            }
            None => (0, 0, 0.0),
        };
        LegQuality {
            packets_received: received,
            packets_lost: lost,
            jitter_ms,
            packets_sent: leg.sent_packets,
            rtt_ms: leg.rtt.map(|d| d.as_secs_f64() * 1000.0),
            remote_fraction_lost: leg.remote_fraction_lost,
            remote_jitter_ms: leg.remote_jitter_ms,
            dropped_foreign: leg.dropped_foreign,
        }
    }

    /// Handles an RTCP datagram from `side`'s peer. RTCP is terminated here (not forwarded).
    pub fn handle_rtcp(
        &mut self,
        now: Instant,
        side: Side,
        src: SocketAddr,
        data: &[u8],
    ) -> Result<(), Dropped> {
        if crate::dtls::is_dtls(data) {
            if self.legs[idx(side)].dtls.is_some() {
                self.dtls_in(now, side, Channel::Rtcp, src, data);
                return Ok(());
            }
            if self.hold_early_dtls(side, Channel::Rtcp, src, data) {
                return Err(Dropped::AwaitingKeys);
            }
        }
        let now_ntp = self.ntp(now);
        let leg = &mut self.legs[idx(side)];
        let plain;
        let data = match leg.srtp.as_mut() {
            Some(_) if !super::is_rtp_version_2(data) => return Err(Dropped::Malformed),
            Some(s) => match s.unprotect_rtcp(data) {
                Some(p) => {
                    plain = p;
                    &plain[..]
                }
                None => {
                    leg.dropped_srtp += 1;
                    return Err(Dropped::Srtp);
                }
            },
            None if leg.srtp_expected => return Err(Dropped::AwaitingKeys),
            None => data,
        };
        if leg.rtcp_latch.receive(src) == Verdict::Drop {
            leg.dropped_foreign += 1;
            return Err(Dropped::Foreign);
        }
        let our_ssrc = leg.out_ssrc();
        let clock = f64::from(leg.codec.map_or(8000, |c| c.kind.rtp_clock_rate()));
        let mut any = false;
        for pkt in parse_compound(data) {
            let Ok(pkt) = pkt else {
                return Err(Dropped::Malformed);
            };
            any = true;
            if let RtcpPacket::SenderReport { ssrc, info, .. } = pkt {
                if let Some(rx) = leg.rx.as_mut().filter(|rx| rx.ssrc() == ssrc) {
                    rx.on_sender_report(info.ntp, now);
                }
            }
            for block in pkt.report_blocks() {
                if block.ssrc != our_ssrc {
                    continue;
                }
                if let Some(d) = rtt(&block, now_ntp) {
                    leg.rtt = Some(d);
                }
                leg.remote_fraction_lost = Some(f64::from(block.fraction_lost) / 256.0);
                leg.remote_jitter_ms = Some(f64::from(block.jitter) * 1000.0 / clock);
            }
        }
        if any {
            Ok(())
        } else {
            Err(Dropped::Malformed)
        }
    }

    pub(super) fn send_report(&mut self, now: Instant, i: usize) {
        let ntp = self.ntp(now);
        let Some(to) = self.legs[i].rtcp_latch.destination() else {
            return;
        };
        let leg = &mut self.legs[i];
        let ssrc = leg.out_ssrc();
        let block = leg.rx.as_mut().map(|rx| rx.report_block(now));
        let blocks: &[rtcp::ReportBlock] = match &block {
            Some(b) => std::slice::from_ref(b),
            None => &[],
        };
        let mut data = self.pool.pop().unwrap_or_default();
        data.resize(256, 0);
        let first = if leg.sent_packets > 0 {
            let info = SenderInfo {
                ntp,
                rtp_timestamp: leg.last_sent_ts,
                packet_count: leg.sent_packets as u32,
                octet_count: leg.sent_octets as u32,
            };
            rtcp::write_sr(ssrc, &info, blocks, &mut data)
        } else {
            rtcp::write_rr(ssrc, blocks, &mut data)
        };
        let Ok(n) = first else { return };
        let Ok(m) = rtcp::write_sdes_cname(ssrc, &self.cname, &mut data[n..]) else {
            return;
        };
        data.truncate(n + m);
        self.transmits.push_back(Transmit {
            side: if i == 0 { Side::A } else { Side::B },
            channel: Channel::Rtcp,
            to,
            data,
        });
    }
}
