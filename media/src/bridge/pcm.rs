//! The PCM paths: a decoded leg's jitter buffer and its playout on the tick, decoding a leg's
//! packets (with concealment) for transcoding and recording, re-encoding whole 20 ms frames for the other leg, telephone-events carried across a
//! transcoded call, and the 20 ms tick that plays sources into legs and writes the stereo
//! recording.

use std::time::Instant;

use crate::jitter::Pop;

use super::*;

impl CallMedia {
    /// Puts a packet of decoded leg `i` into its jitter buffer (created on the first one);
    /// the tick plays it out. False when the leg is decoded on arrival instead: its packets
    /// are not 20 ms long (the tick's period), or the buffer cannot be made.
    pub(super) fn buffer_for_decoding(
        &mut self,
        now: Instant,
        i: usize,
        seq: u16,
        ts: u32,
        payload: &[u8],
    ) -> bool {
        let leg = &mut self.legs[i];
        let Some(codec) = leg.codec else { return false };
        if leg.packet_timing == PacketTiming::Other {
            return false;
        }
        // The first two consecutive packets tell the packet length (later jumps are silence
        // suppression or a new talk spurt, not a new length).
        let probing = leg.packet_timing == PacketTiming::Unknown;
        if let Some((last_seq, last_ts)) = leg.jitter_last.filter(|_| probing) {
            if seq == last_seq.wrapping_add(1) {
                if ts.wrapping_sub(last_ts) == codec.kind.rtp_timestamp_increment() {
                    leg.packet_timing = PacketTiming::Frame20;
                } else {
                    // Not 20 ms packets: decode on arrival from now on (the one or two
                    // packets buffered so far are dropped).
                    leg.packet_timing = PacketTiming::Other;
                    leg.reset_jitter();
                    return false;
                }
            }
        }
        if leg.jitter.is_none() {
            let cfg = JitterConfig {
                clock_rate: codec.kind.rtp_clock_rate(),
                frame_duration: TICK,
                min_delay: JITTER_MIN_DELAY,
                max_delay: JITTER_MAX_DELAY,
                max_packets: JITTER_PACKETS,
            };
            match JitterBuffer::new(cfg) {
                Ok(jb) => leg.jitter = Some(jb),
                Err(_) => {
                    leg.packet_timing = PacketTiming::Other;
                    return false;
                }
            }
        }
        if let Some(jb) = &mut leg.jitter {
            jb.insert(now, seq, ts, payload);
        }
        if leg
            .jitter_last
            .is_none_or(|(s, _)| seq.wrapping_sub(s) < 0x8000)
        {
            leg.jitter_last = Some((seq, ts));
        }
        self.ensure_tick(now);
        true
    }

    /// One tick of decoded leg `i`'s playout: the next frame from its jitter buffer decoded,
    /// or a missing one concealed (with Opus in-band FEC from the frame after it when that is
    /// already here), then delivered like a packet decoded on arrival.
    pub(super) fn play_out(&mut self, at: Instant, i: usize) {
        if self.pcm.is_empty() {
            self.pcm = vec![0; MAX_PCM];
        }
        let pcm = &mut self.pcm;
        let leg = &mut self.legs[i];
        let (Some(jb), Some(codec)) = (leg.jitter.as_mut(), leg.codec) else {
            return;
        };
        if leg.decoder.is_none() {
            match FrameDecoder::new(codec.kind, BRIDGE_RATE) {
                Ok(d) => leg.decoder = Some(d),
                Err(_) => return,
            }
        }
        let Some(dec) = leg.decoder.as_mut() else {
            return;
        };
        // A frame that is missing (lost, or not here yet while the buffer grows its delay or
        // ran dry) is concealed, up to MAX_CONCEAL in a row: the other leg hears a steady
        // stream. Past that the talker has stopped sending (hold, silence suppression) and
        // nothing is sent.
        let conceal = leg.last_frame_len > 0 && leg.concealed_run < MAX_CONCEAL;
        let produced = match jb.pop(at) {
            Pop::Frame { payload, .. } => {
                leg.concealed_run = 0;
                dec.decode(payload, pcm).ok()
            }
            Pop::Lost { .. } if conceal => {
                leg.concealed_run += 1;
                let next = jb.peek_next_after_gap().map(|f| f.payload);
                let n = leg.last_frame_len.min(pcm.len());
                dec.conceal(n, next, &mut pcm[..n]).ok()
            }
            Pop::Empty if conceal => {
                leg.concealed_run += 1;
                let n = leg.last_frame_len.min(pcm.len());
                dec.conceal(n, None, &mut pcm[..n]).ok()
            }
            Pop::Lost { .. } | Pop::Empty => None,
        };
        let Some(n) = produced.filter(|n| *n > 0) else {
            return;
        };
        if leg.concealed_run == 0 {
            leg.last_frame_len = n;
        }
        self.deliver_pcm(i, n);
        if !self.is_passthrough() {
            self.encode_towards(at, 1 - i);
        }
    }

    /// Decodes (and conceals up to) the packet into `self.pcm`; appends to the recording
    /// buffer and, when transcoding, to the other leg's encode buffer.
    pub(super) fn decode_into_pcm(
        &mut self,
        i: usize,
        seq: u16,
        header_len: usize,
        payload_end: usize,
        buf: &[u8],
    ) {
        if self.pcm.is_empty() {
            self.pcm = vec![0; MAX_PCM];
        }
        let leg = &mut self.legs[i];
        let Some(codec) = leg.codec else { return };
        if leg.decoder.is_none() {
            match FrameDecoder::new(codec.kind, BRIDGE_RATE) {
                Ok(d) => leg.decoder = Some(d),
                Err(_) => return,
            }
        }
        let payload = &buf[header_len..payload_end];
        let gap = match leg.last_decoded_seq {
            Some(last) => {
                let d = seq.wrapping_sub(last);
                if d == 0 || d >= 0x8000 {
                    return; // duplicate or late: already concealed
                }
                d - 1
            }
            None => 0,
        };
        leg.last_decoded_seq = Some(seq);
        let Some(dec) = leg.decoder.as_mut() else {
            return;
        };
        let mut produced = 0usize;
        if gap > 0 && gap <= MAX_CONCEAL && leg.last_frame_len > 0 {
            for k in 0..gap {
                let next = if k + 1 == gap { Some(payload) } else { None };
                let end = (produced + leg.last_frame_len).min(MAX_PCM);
                match dec.conceal(end - produced, next, &mut self.pcm[produced..end]) {
                    Ok(n) => produced += n,
                    Err(_) => break,
                }
            }
        }
        match dec.decode(payload, &mut self.pcm[produced..]) {
            Ok(n) => {
                leg.last_frame_len = n;
                produced += n;
            }
            Err(_) => return,
        }
        self.deliver_pcm(i, produced);
    }

    /// Leg `i`'s freshly decoded `self.pcm[..produced]`: to the recording buffer and, when
    /// transcoding, to the other leg's encode buffer (unless a player feeds that leg).
    fn deliver_pcm(&mut self, i: usize, produced: usize) {
        let transcoding = !self.is_passthrough();
        let recording = self.recorder.is_some();
        let o = 1 - i;
        let leg = &mut self.legs[i];
        let pcm = &self.pcm[..produced];
        if recording {
            leg.rec.extend(pcm.iter().copied());
            if leg.rec.len() > REC_MAX {
                let excess = leg.rec.len() - REC_MAX;
                leg.rec.drain(..excess);
            }
        }
        if transcoding && self.legs[o].player.is_none() {
            let out = &mut self.legs[o].tx_pcm;
            out.extend_from_slice(pcm);
            if out.len() > REC_MAX {
                let excess = out.len() - REC_MAX;
                out.drain(..excess);
            }
        }
    }

    /// Re-sends a telephone-event from leg `i` on the other leg's generated stream: the event
    /// start maps to that stream's current timestamp (the same for every packet of the event)
    /// and the duration is rescaled from `in_rate` to `out_rate`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn regenerate_event(
        &mut self,
        now: Instant,
        i: usize,
        ts: u32,
        marker: bool,
        mut event: [u8; 4],
        in_rate: u32,
        out_pt: u8,
        out_rate: u32,
    ) {
        let o = 1 - i;
        let gen_ts = self.legs[o].gen_transcode.1;
        let out_ts = match self.legs[i].dtmf_out {
            Some((in_ts, out_ts)) if in_ts == ts => out_ts,
            _ => {
                self.legs[i].dtmf_out = Some((ts, gen_ts));
                gen_ts
            }
        };
        let dur = u64::from(u16::from_be_bytes([event[2], event[3]]));
        let scaled = (dur * u64::from(out_rate) / u64::from(in_rate.max(1))).min(0xFFFF) as u16;
        event[2..4].copy_from_slice(&scaled.to_be_bytes());
        let leg = &mut self.legs[o];
        if leg.rtp_latch.destination().is_none() {
            return;
        }
        let gseq = leg.gen_transcode.0;
        leg.gen_transcode.0 = gseq.wrapping_add(1);
        self.queue_generated(
            now,
            o,
            GEN_TRANSCODE,
            (gseq, out_ts),
            marker,
            out_pt,
            &event,
        );
    }

    /// Encodes whole frames waiting in leg `o`'s buffer and queues them.
    pub(super) fn encode_towards(&mut self, now: Instant, o: usize) {
        while self.legs[o].tx_pcm.len() >= FRAME {
            let mut frame = self.take_frame();
            frame.copy_from_slice(&self.legs[o].tx_pcm[..FRAME]);
            self.legs[o].tx_pcm.drain(..FRAME);
            self.send_generated(now, o, &frame, GEN_TRANSCODE);
            self.frame = frame;
        }
    }

    /// The frame scratch buffer (allocated on first use), to be put back into `self.frame`.
    pub(super) fn take_frame(&mut self) -> Vec<i16> {
        let mut frame = std::mem::take(&mut self.frame);
        frame.resize(FRAME, 0);
        frame
    }

    /// Encodes one PCM frame for leg `o` and queues the RTP packet.
    pub(super) fn send_generated(&mut self, now: Instant, o: usize, pcm: &[i16], generator: u32) {
        let leg = &mut self.legs[o];
        let Some(codec) = leg.codec else { return };
        if leg.rtp_latch.destination().is_none() {
            return;
        }
        if leg.encoder.is_none() {
            match FrameEncoder::new(codec.kind, BRIDGE_RATE, self.encoder_options) {
                Ok(e) => leg.encoder = Some(e),
                Err(_) => return,
            }
        }
        let Some(enc) = leg.encoder.as_mut() else {
            return;
        };
        if self.encoded.is_empty() {
            self.encoded = vec![0; 1500];
        }
        let Ok(n) = enc.encode(pcm, &mut self.encoded) else {
            return;
        };
        let inc = enc.rtp_timestamp_increment();
        let gen = if generator == GEN_PLAYER {
            &mut leg.gen_player
        } else {
            &mut leg.gen_transcode
        };
        let (gseq, gts) = *gen;
        *gen = (gseq.wrapping_add(1), gts.wrapping_add(inc));
        let encoded = std::mem::take(&mut self.encoded);
        self.queue_generated(
            now,
            o,
            generator,
            (gseq, gts),
            false,
            codec.payload_type,
            &encoded[..n],
        );
        self.encoded = encoded;
    }

    /// Queues an RTP packet Ringside made for leg `o`: `payload` at (`seq`, `ts`) of the
    /// generated stream `generator`, mapped by the leg's rewriter onto its one outgoing
    /// stream (a marker where that stream resynchronised), and counted for its RTCP reports.
    #[allow(clippy::too_many_arguments)]
    fn queue_generated(
        &mut self,
        now: Instant,
        o: usize,
        generator: u32,
        (seq, ts): (u16, u32),
        marker: bool,
        payload_type: u8,
        payload: &[u8],
    ) {
        let leg = &mut self.legs[o];
        let (Some(to), Some(rw)) = (leg.rtp_latch.destination(), leg.rewriter.as_mut()) else {
            return;
        };
        let r = rw.rewrite(generator, seq, ts, now);
        let header = RtpHeader {
            marker: marker || r.resynced,
            payload_type,
            sequence: r.seq,
            timestamp: r.ts,
            ssrc: r.ssrc,
            csrcs: &[],
            extension: None,
            padding: 0,
        };
        let mut data = self.pool.pop().unwrap_or_default();
        data.resize(12 + payload.len(), 0);
        let Ok(len) = header.write(payload, &mut data) else {
            return;
        };
        data.truncate(len);
        leg.next_rtcp.get_or_insert(now + RTCP_INTERVAL);
        leg.sent_packets += 1;
        leg.sent_octets += payload.len() as u64;
        leg.last_sent_ts = r.ts;
        let side = if o == 0 { Side::A } else { Side::B };
        self.transmits.push_back(Transmit {
            side,
            channel: Channel::Rtp,
            to,
            data,
        });
    }

    pub(super) fn tick(&mut self, at: Instant) {
        for i in 0..2 {
            self.play_out(at, i);
        }
        for i in 0..2 {
            let Some(mut player) = self.legs[i].player.take() else {
                continue;
            };
            let mut frame = self.take_frame();
            let n = player.fill(&mut frame);
            frame[n..].fill(0);
            if n > 0 {
                self.send_generated(at, i, &frame, GEN_PLAYER);
            }
            self.frame = frame;
            if player.is_finished() || n < FRAME {
                self.events.push_back(MediaEvent::PlaybackFinished {
                    side: if i == 0 { Side::A } else { Side::B },
                });
            } else {
                self.legs[i].player = Some(player);
            }
        }
        if let Some(rec) = &mut self.recorder {
            let mut lr = [[0i16; FRAME]; 2];
            for (leg, out) in self.legs.iter_mut().zip(lr.iter_mut()) {
                if !leg.rec_primed && leg.rec.len() >= REC_PREBUFFER {
                    leg.rec_primed = true;
                }
                if leg.rec_primed {
                    let n = leg.rec.len().min(FRAME);
                    for (o, s) in out.iter_mut().zip(leg.rec.drain(..n)) {
                        *o = s;
                    }
                    if n < FRAME {
                        // Underrun: this leg went silent or late; prebuffer again.
                        leg.rec_primed = false;
                    }
                }
            }
            rec.write(&lr[0], &lr[1]);
        }
        let active = self.recorder.is_some()
            || self
                .legs
                .iter()
                .any(|l| l.player.is_some() || l.jitter.is_some());
        self.next_tick = active.then_some(at + TICK);
    }
}
