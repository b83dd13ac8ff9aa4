//! The edge driver: the one thread that owns the shared UDP port, every session's loopback
//! socket and peer connection, and their timers (a `mio` poll). It demultiplexes datagrams to
//! sessions, moves RTP between browsers and relays, relays video between linked sessions, and
//! turns connection state changes into [`EdgeEvent`]s.

use super::*;

pub(super) const SHARED: Token = Token(0);
pub(super) const WAKER: Token = Token(usize::MAX);

pub(super) struct Session {
    pub(super) id: u64,
    pub(super) pc: RTCPeerConnection,
    pub(super) ufrag: String,
    pub(super) sender: RTCRtpSenderId,
    pub(super) ssrc: u32,
    pub(super) loopback: UdpSocket,
    pub(super) relay: Option<SocketAddr>,
    pub(super) events: mpsc::UnboundedSender<EdgeEvent>,
    /// The video side, when the browser offered video.
    pub(super) video: Option<video::Video>,
    pub(super) connected: bool,
    pub(super) failed: bool,
    /// Until connected: when the session gives up waiting for the browser.
    pub(super) deadline: Instant,
    pub(super) armed: Option<Instant>,
}

pub(super) struct Driver {
    poll: Poll,
    sock: UdpSocket,
    local: SocketAddr,
    commands: std_mpsc::Receiver<Cmd>,
    stats: Arc<EdgeStats>,
    sessions: Vec<Option<Box<Session>>>,
    free: Vec<usize>,
    demux: Demux,
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    buf: Vec<u8>,
    /// Video work for other sessions than the one being driven.
    fwd: VecDeque<Fwd>,
}

/// Video crossing from one session to its peer: (peer slot, peer id, what).
enum Fwd {
    /// A packet of the source browser's video, payload type already the peer's.
    Rtp(usize, u64, rtc::rtp::packet::Packet),
    /// The peer's browser should send a keyframe.
    Keyframe(usize, u64),
    /// The peer's browser should resend these packets.
    Nack(usize, u64, Vec<NackPair>),
}

impl Driver {
    pub(super) fn new(
        poll: Poll,
        sock: UdpSocket,
        local: SocketAddr,
        commands: std_mpsc::Receiver<Cmd>,
        stats: Arc<EdgeStats>,
    ) -> Driver {
        Driver {
            poll,
            sock,
            local,
            commands,
            stats,
            sessions: Vec::new(),
            free: Vec::new(),
            demux: Demux::default(),
            timers: BinaryHeap::new(),
            buf: vec![0; 2048],
            fwd: VecDeque::new(),
        }
    }

    pub(super) fn run(mut self) {
        let mut events = Events::with_capacity(256);
        loop {
            let timeout = self
                .timers
                .peek()
                .map(|Reverse((t, _))| t.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    warn!(error = %e, "webrtc edge poll failed");
                    return;
                }
            }
            for ev in events.iter() {
                match ev.token() {
                    WAKER => {
                        if !self.commands() {
                            return;
                        }
                    }
                    SHARED => self.read_shared(),
                    Token(t) => self.read_loopback(t - 1),
                }
            }
            self.run_timers();
        }
    }

    /// Handle queued commands; false once the edge is gone.
    fn commands(&mut self) -> bool {
        loop {
            match self.commands.try_recv() {
                Ok(Cmd::Add(mut s)) => {
                    let slot = self.free.pop().unwrap_or_else(|| {
                        self.sessions.push(None);
                        self.sessions.len() - 1
                    });
                    if let Err(e) = self.poll.registry().register(
                        &mut s.loopback,
                        Token(slot + 1),
                        Interest::READABLE,
                    ) {
                        warn!(error = %e, "cannot poll a webrtc session socket");
                        let _ = s.events.send(EdgeEvent::Failed);
                        self.stats.sessions.fetch_sub(1, Ordering::Relaxed);
                        self.free.push(slot);
                        continue;
                    }
                    self.demux.add(&s.ufrag, slot);
                    self.sessions[slot] = Some(s);
                    self.drive(slot, Instant::now());
                }
                Ok(Cmd::Connect(id, relay)) => {
                    if let Some(slot) = self.slot_of(id) {
                        let s = self.sessions[slot].as_mut().expect("session");
                        s.relay = Some(relay);
                        // Latch the relay's RTCP socket (one up) on our socket: an empty RR.
                        let mut rr = [0x80u8, 201, 0, 1, 0, 0, 0, 0];
                        rr[4..].copy_from_slice(&s.ssrc.to_be_bytes());
                        let rtcp = SocketAddr::new(relay.ip(), relay.port().wrapping_add(1));
                        let _ = s.loopback.send_to(&rr, rtcp);
                    }
                }
                Ok(Cmd::Candidate(id, c)) => {
                    if let Some(slot) = self.slot_of(id) {
                        let s = self.sessions[slot].as_mut().expect("session");
                        if let Err(e) = s.pc.add_remote_candidate(c) {
                            debug!(error = %e, "browser candidate not used");
                        }
                        self.drive(slot, Instant::now());
                    }
                }
                Ok(Cmd::Close(id)) => {
                    if let Some(slot) = self.slot_of(id) {
                        self.close(slot);
                    }
                }
                Ok(Cmd::LinkVideo(a, b)) => {
                    if let (Some(a), Some(b)) = (self.slot_of(a), self.slot_of(b)) {
                        self.link_video(a, b);
                    }
                }
                Err(std_mpsc::TryRecvError::Empty) => return true,
                Err(std_mpsc::TryRecvError::Disconnected) => {
                    for slot in 0..self.sessions.len() {
                        self.close(slot);
                    }
                    return false;
                }
            }
        }
    }

    fn slot_of(&self, id: u64) -> Option<usize> {
        self.sessions
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.id == id))
    }

    fn close(&mut self, slot: usize) {
        let Some(mut s) = self.sessions.get_mut(slot).and_then(Option::take) else {
            return;
        };
        let _ = s.pc.close();
        // Flush the DTLS close_notify.
        while let Some(m) = s.pc.poll_write() {
            let _ = self.sock.send_to(&m.message, m.transport.peer_addr);
        }
        let _ = self.poll.registry().deregister(&mut s.loopback);
        if let Some(p) = s.video.as_ref().and_then(|v| v.peer.as_ref()) {
            if let Some(v) = self.video_of(p.slot, p.id) {
                v.peer = None;
            }
        }
        self.demux.remove(slot);
        self.free.push(slot);
        self.stats.sessions.fetch_sub(1, Ordering::Relaxed);
    }

    fn read_shared(&mut self) {
        loop {
            let (n, from) = match self.sock.recv_from(&mut self.buf) {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => continue,
            };
            let now = Instant::now();
            let Some(slot) = self.demux.route(&self.buf[..n], from) else {
                self.stats.dropped_unknown.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let Some(s) = self.sessions[slot].as_mut() else {
                continue;
            };
            let msg = TaggedBytesMut {
                now,
                transport: TransportContext {
                    local_addr: self.local,
                    peer_addr: from,
                    ecn: None,
                    transport_protocol: TransportProtocol::UDP,
                },
                message: BytesMut::from(&self.buf[..n]),
            };
            if let Err(e) = s.pc.handle_read(msg) {
                debug!(error = %e, "webrtc datagram rejected");
            }
            self.drive(slot, now);
        }
    }

    /// Plain RTP from the relay: into the browser's SRTP stream.
    fn read_loopback(&mut self, slot: usize) {
        loop {
            let Some(s) = self.sessions.get_mut(slot).and_then(Option::as_mut) else {
                return;
            };
            let (n, from) = match s.loopback.recv_from(&mut self.buf) {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => continue,
            };
            let b = &self.buf[..n];
            // Only the relay's RTP (not its RTCP: reports are per leg, ours to the browser
            // come from the peer connection's interceptors).
            if s.relay.map(|r| r.ip()) != Some(from.ip()) || n < 12 || (200..=206).contains(&b[1]) {
                continue;
            }
            if !s.connected {
                continue;
            }
            let Ok(mut pkt) = rtc::rtp::packet::Packet::unmarshal(&mut &b[..]) else {
                continue;
            };
            pkt.header.ssrc = s.ssrc;
            pkt.header.extension = false;
            pkt.header.extensions.clear();
            let now = Instant::now();
            if let Some(mut sender) = s.pc.rtp_sender(s.sender) {
                if sender.write_rtp(now, pkt).is_ok() {
                    self.stats.rtp_out.fetch_add(1, Ordering::Relaxed);
                }
            }
            self.drive(slot, now);
        }
    }

    fn run_timers(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((t, slot))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            let Some(s) = self.sessions.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            if s.armed != Some(t) {
                continue;
            }
            s.armed = None;
            if !s.connected && !s.failed && now >= s.deadline {
                self.fail(slot);
                continue;
            }
            let _ = s.pc.handle_timeout(now);
            self.drive(slot, now);
        }
    }

    fn fail(&mut self, slot: usize) {
        if let Some(s) = self.sessions.get_mut(slot).and_then(Option::as_mut) {
            if !s.failed {
                s.failed = true;
                self.stats.failed_total.fetch_add(1, Ordering::Relaxed);
                let _ = s.events.send(EdgeEvent::Failed);
            }
        }
    }

    /// Drain everything the peer connection of `slot` has for us (and what that gives its
    /// video peer), then re-arm the timers.
    fn drive(&mut self, slot: usize, now: Instant) {
        self.drive_one(slot, now);
        self.forward(now);
    }

    /// Deliver queued video work to the sessions it is for, driving each.
    fn forward(&mut self, now: Instant) {
        while let Some(f) = self.fwd.pop_front() {
            let (to, id) = match &f {
                Fwd::Rtp(to, id, _) | Fwd::Keyframe(to, id) | Fwd::Nack(to, id, _) => (*to, *id),
            };
            let Some(s) = self.sessions.get_mut(to).and_then(Option::as_mut) else {
                continue;
            };
            if s.id != id || !s.connected {
                continue;
            }
            let Some(v) = s.video.as_mut() else {
                continue;
            };
            match f {
                Fwd::Rtp(_, _, mut pkt) => {
                    pkt.header.ssrc = v.ssrc;
                    pkt.header.extension = false;
                    pkt.header.extensions.clear();
                    let sender = v.sender;
                    if let Some(mut tx) = s.pc.rtp_sender(sender) {
                        if tx.write_rtp(now, pkt).is_ok() {
                            self.stats.video_forwarded.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Fwd::Keyframe(..) => {
                    if let (Some(pli), Some(rx)) =
                        (v.keyframe_request(now), v.receiver.as_ref().map(|r| r.0))
                    {
                        if let Some(mut r) = s.pc.rtp_receiver(rx) {
                            if r.write_rtcp(now, vec![Box::new(pli)]).is_ok() {
                                self.stats.video_feedback.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
                Fwd::Nack(_, _, nacks) => {
                    if let (Some(nack), Some(rx)) =
                        (v.nack(nacks), v.receiver.as_ref().map(|r| r.0))
                    {
                        if let Some(mut r) = s.pc.rtp_receiver(rx) {
                            if r.write_rtcp(now, vec![Box::new(nack)]).is_ok() {
                                self.stats.video_feedback.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
            }
            self.drive_one(to, now);
        }
    }

    /// The video side of the session at `slot`, if it is still session `id`.
    fn video_of(&mut self, slot: usize, id: u64) -> Option<&mut video::Video> {
        self.sessions
            .get_mut(slot)
            .and_then(Option::as_mut)
            .filter(|s| s.id == id)
            .and_then(|s| s.video.as_mut())
    }

    /// Relay video between the browsers of `a` and `b`, and ask both for a keyframe.
    fn link_video(&mut self, a: usize, b: usize) {
        let side = |d: &Driver, slot: usize| {
            d.sessions[slot]
                .as_ref()
                .and_then(|s| s.video.as_ref().map(|v| (s.id, v.codecs.clone())))
        };
        let (Some((ia, ca)), Some((ib, cb))) = (side(self, a), side(self, b)) else {
            return;
        };
        let map = |from: &[video::Negotiated], to: &[video::Negotiated]| {
            from.iter()
                .filter_map(|c| video::map_payload_type(from, to, c.pt).map(|p| (c.pt, p)))
                .collect::<Vec<_>>()
        };
        let (ab, ba) = (map(&ca, &cb), map(&cb, &ca));
        if let Some(v) = self.video_of(a, ia) {
            v.peer = Some(video::Peer {
                slot: b,
                id: ib,
                payload_types: ab,
            });
        }
        if let Some(v) = self.video_of(b, ib) {
            v.peer = Some(video::Peer {
                slot: a,
                id: ia,
                payload_types: ba,
            });
        }
        debug!(a = ia, b = ib, "video relayed between two browsers");
        self.fwd.push_back(Fwd::Keyframe(a, ia));
        self.fwd.push_back(Fwd::Keyframe(b, ib));
        self.forward(Instant::now());
    }

    /// Drain everything the peer connection of `slot` has for us, then re-arm its timer.
    fn drive_one(&mut self, slot: usize, now: Instant) {
        let Some(s) = self.sessions.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let mut failed = false;
        loop {
            let mut progressed = false;
            while let Some(m) = s.pc.poll_write() {
                progressed = true;
                let _ = self.sock.send_to(&m.message, m.transport.peer_addr);
            }
            while let Some(ev) = s.pc.poll_event() {
                progressed = true;
                if let RTCPeerConnectionEvent::OnTrack(RTCTrackEvent::OnOpen(init)) = &ev {
                    if let Some(v) = s.video.as_mut() {
                        let kind =
                            s.pc.rtp_receiver(init.receiver_id)
                                .map(|r| r.track().kind());
                        if kind == Some(RtpCodecKind::Video) {
                            v.receiver = Some((init.receiver_id, init.track_id.clone(), init.ssrc));
                        }
                    }
                }
                if let RTCPeerConnectionEvent::OnConnectionStateChangeEvent(state) = ev {
                    debug!(session = s.id, %state, "webrtc connection state");
                    match state {
                        RTCPeerConnectionState::Connected if !s.connected => {
                            s.connected = true;
                            self.stats.connected_total.fetch_add(1, Ordering::Relaxed);
                            let _ = s.events.send(EdgeEvent::Connected);
                            // Now that this browser can receive, its peer's next frame must
                            // be a keyframe.
                            if let Some(p) = s.video.as_ref().and_then(|v| v.peer.as_ref()) {
                                self.fwd.push_back(Fwd::Keyframe(p.slot, p.id));
                            }
                        }
                        // `Disconnected` is transient (a few consent checks missed, as
                        // Firefox's 5 s spacing does): the call goes on; only `Failed`
                        // (consent lapsed for ICE_FAILED_AFTER, RFC 7675) or `Closed` ends it.
                        RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed => {
                            failed = true
                        }
                        _ => {}
                    }
                }
            }
            while let Some(TaggedRTCMessage { message, .. }) = s.pc.poll_read() {
                progressed = true;
                match message {
                    RTCMessage::RtpPacket(track, mut pkt) => {
                        let video = s
                            .video
                            .as_mut()
                            .filter(|v| v.receiver.as_ref().is_some_and(|(_, t, _)| *t == track));
                        if let Some(v) = video {
                            // The browser's video: to its peer browser, if any.
                            if let Some(ssrc) = v.receiver.as_mut().map(|r| &mut r.2) {
                                *ssrc = pkt.header.ssrc;
                            }
                            if let (Some(pt), Some(p)) =
                                (v.forward_payload_type(pkt.header.payload_type), &v.peer)
                            {
                                pkt.header.payload_type = pt;
                                self.fwd.push_back(Fwd::Rtp(p.slot, p.id, pkt));
                            }
                        } else if let (Some(relay), Ok(raw)) = (s.relay, pkt.marshal()) {
                            if s.loopback.send_to(&raw, relay).is_ok() {
                                self.stats.rtp_in.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    RTCMessage::RtcpPacket(_, packets) => {
                        // Feedback about the video we send this browser: for its source.
                        let Some(v) = s.video.as_ref() else { continue };
                        let Some(p) = v.peer.as_ref() else { continue };
                        let f = video::feedback_for(&packets, v.ssrc);
                        if f.keyframe {
                            self.fwd.push_back(Fwd::Keyframe(p.slot, p.id));
                        }
                        if !f.nacks.is_empty() {
                            self.fwd.push_back(Fwd::Nack(p.slot, p.id, f.nacks));
                        }
                    }
                    _ => {}
                }
            }
            if !progressed {
                break;
            }
        }
        let mut next = s.pc.poll_timeout();
        if !s.connected {
            next = Some(next.map_or(s.deadline, |t| t.min(s.deadline)));
        }
        if let Some(t) = next {
            let t = t.max(now);
            if s.armed != Some(t) {
                s.armed = Some(t);
                self.timers.push(Reverse((t, slot)));
            }
        }
        if failed {
            self.fail(slot);
        }
    }
}
