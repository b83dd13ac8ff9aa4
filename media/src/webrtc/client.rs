//! A WebRTC offerer in Rust, the browser's side of a call: for tests of the edge and as the
//! load generator of the WebRTC benchmarks. Sans-IO like the edge: datagrams and time in,
//! datagrams, RTP and state out; the caller owns the socket.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::event::{RTCPeerConnectionEvent, RTCTrackEvent};
use rtc::peer_connection::message::{RTCMessage, TaggedRTCMessage};
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::{NackPair, TransportLayerNack};
use rtc::rtp::header::Header;
use rtc::rtp::packet::Packet;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpReceiverId, RTCRtpSenderId};
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};

use super::video::{self, VideoCodec};
use super::{add_host_candidates, audio_engine, opus_codec, rtc_err};
use crate::MediaError;

/// One RTP packet the client received (decrypted).
#[derive(Debug, Clone)]
pub struct Received {
    /// Payload type.
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// Whether it came on the video track.
    pub video: bool,
    /// The RTP marker bit.
    pub marker: bool,
    /// The payload (an Opus frame, or a piece of a video frame).
    pub payload: Bytes,
}

/// The client's video track: what it sends and what it was asked.
#[derive(Debug)]
struct ClientVideo {
    sender: RTCRtpSenderId,
    ssrc: u32,
    codec: VideoCodec,
    /// The edge's video towards us: receiver, track id, SSRC.
    receiver: Option<(RTCRtpReceiverId, String, u32)>,
    keyframe_requests: u32,
    nacked: Vec<u16>,
}

/// A browser-like WebRTC peer that offers one Opus audio track (and a video track).
pub struct ClientPeer {
    pc: RTCPeerConnection,
    sender: RTCRtpSenderId,
    ssrc: u32,
    video: Option<ClientVideo>,
    rtt: super::Rtt,
    local: SocketAddr,
    connected: bool,
    failed: bool,
}

impl std::fmt::Debug for ClientPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientPeer")
            .field("local", &self.local)
            .field("connected", &self.connected)
            .finish()
    }
}

impl ClientPeer {
    /// A peer whose socket is bound at `local`; returns it and its SDP offer (host candidate
    /// included, gathering complete).
    pub fn offer(now: Instant, local: SocketAddr) -> Result<(ClientPeer, String), MediaError> {
        Self::offer_with_video(now, local, None)
    }

    /// Like [`Self::offer`], with a video track sending `video` (only that codec offered).
    pub fn offer_with_video(
        now: Instant,
        local: SocketAddr,
        video: Option<VideoCodec>,
    ) -> Result<(ClientPeer, String), MediaError> {
        let rtt = super::Rtt::default();
        let (mut me, registry) = audio_engine(&rtt)?;
        if let Some(codec) = video {
            me.register_codec(codec.codec(), RtpCodecKind::Video)
                .map_err(rtc_err)?;
        }
        let mut pc = RTCPeerConnectionBuilder::new()
            .with_media_engine(me)
            .with_interceptor_registry(registry)
            .build(now)
            .map_err(rtc_err)?;
        let ssrc: u32 = rand::random();
        let sender = pc
            .add_track(MediaStreamTrack::new(
                "client".to_owned(),
                "client-audio".to_owned(),
                "Client".to_owned(),
                RtpCodecKind::Audio,
                vec![RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        ssrc: Some(ssrc),
                        ..Default::default()
                    },
                    codec: opus_codec(),
                    ..Default::default()
                }],
            ))
            .map_err(rtc_err)?;
        let video = match video {
            Some(codec) => {
                let vssrc: u32 = rand::random();
                let sender = pc
                    .add_track(video::track("client", vssrc, codec))
                    .map_err(rtc_err)?;
                Some(ClientVideo {
                    sender,
                    ssrc: vssrc,
                    codec,
                    receiver: None,
                    keyframe_requests: 0,
                    nacked: Vec::new(),
                })
            }
            None => None,
        };
        let offer = pc.create_offer(None).map_err(rtc_err)?;
        pc.set_local_description(now, offer).map_err(rtc_err)?;
        add_host_candidates(&mut pc, [local])?;
        let sdp = pc
            .local_description()
            .map(|d| d.sdp)
            .ok_or_else(|| rtc_err("no local description"))?;
        Ok((
            ClientPeer {
                pc,
                sender,
                ssrc,
                video,
                rtt,
                local,
                connected: false,
                failed: false,
            },
            sdp,
        ))
    }

    /// The answer from the edge.
    pub fn set_answer(&mut self, now: Instant, sdp: &str) -> Result<(), MediaError> {
        let a = RTCSessionDescription::answer(sdp.to_owned()).map_err(rtc_err)?;
        self.pc.set_remote_description(now, a).map_err(rtc_err)
    }

    /// A datagram arrived on the client's socket from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        let _ = self.pc.handle_read(TaggedBytesMut {
            now,
            transport: TransportContext {
                local_addr: self.local,
                peer_addr: from,
                ecn: None,
                transport_protocol: TransportProtocol::UDP,
            },
            message: BytesMut::from(data),
        });
        self.events();
    }

    /// Send one Opus frame.
    pub fn send_rtp(&mut self, now: Instant, sequence: u16, timestamp: u32, payload: &[u8]) {
        let pkt = Packet {
            header: Header {
                version: 2,
                payload_type: 111,
                sequence_number: sequence,
                timestamp,
                ssrc: self.ssrc,
                ..Default::default()
            },
            payload: Bytes::copy_from_slice(payload),
        };
        if let Some(mut s) = self.pc.rtp_sender(self.sender) {
            let _ = s.write_rtp(now, pkt);
        }
    }

    /// Send one video RTP packet (payload type: the offered codec's).
    pub fn send_video(
        &mut self,
        now: Instant,
        sequence: u16,
        timestamp: u32,
        marker: bool,
        payload: &[u8],
    ) {
        let Some(v) = self.video.as_ref() else {
            return;
        };
        let pkt = Packet {
            header: Header {
                version: 2,
                marker,
                payload_type: v.codec.codec().payload_type,
                sequence_number: sequence,
                timestamp,
                ssrc: v.ssrc,
                ..Default::default()
            },
            payload: Bytes::copy_from_slice(payload),
        };
        if let Some(mut s) = self.pc.rtp_sender(v.sender) {
            let _ = s.write_rtp(now, pkt);
        }
    }

    /// Ask the sender of the video we receive for a keyframe (PLI) and to resend `nacked`.
    pub fn send_video_feedback(&mut self, now: Instant, nacked: &[u16]) {
        let Some((rx, _, media_ssrc)) = self.video.as_ref().and_then(|v| v.receiver.clone()) else {
            return;
        };
        let mut packets: Vec<Box<dyn rtc::rtcp::Packet>> = vec![Box::new(PictureLossIndication {
            sender_ssrc: self.ssrc,
            media_ssrc,
        })];
        if !nacked.is_empty() {
            packets.push(Box::new(TransportLayerNack {
                sender_ssrc: self.ssrc,
                media_ssrc,
                nacks: nacked
                    .iter()
                    .map(|&packet_id| NackPair {
                        packet_id,
                        lost_packets: 0,
                    })
                    .collect(),
            }));
        }
        if let Some(mut r) = self.pc.rtp_receiver(rx) {
            let _ = r.write_rtcp(now, packets);
        }
    }

    /// Keyframe requests (PLI/FIR) received for our video, and the sequence numbers NACKed.
    pub fn video_feedback(&self) -> (u32, Vec<u16>) {
        self.video
            .as_ref()
            .map_or((0, Vec::new()), |v| (v.keyframe_requests, v.nacked.clone()))
    }

    /// The next datagram to send: (destination, bytes).
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, BytesMut)> {
        self.pc
            .poll_write()
            .map(|m| (m.transport.peer_addr, m.message))
    }

    /// The next RTP packet received.
    pub fn poll_rtp(&mut self) -> Option<Received> {
        while let Some(TaggedRTCMessage { message, .. }) = self.pc.poll_read() {
            match message {
                RTCMessage::RtpPacket(track, p) => {
                    let video = self.video.as_mut().is_some_and(|v| {
                        let hit = v.receiver.as_ref().is_some_and(|(_, t, _)| *t == track);
                        if let Some(r) = v.receiver.as_mut().filter(|_| hit) {
                            r.2 = p.header.ssrc;
                        }
                        hit
                    });
                    return Some(Received {
                        payload_type: p.header.payload_type,
                        sequence: p.header.sequence_number,
                        timestamp: p.header.timestamp,
                        video,
                        marker: p.header.marker,
                        payload: p.payload,
                    });
                }
                RTCMessage::RtcpPacket(_, packets) => {
                    if let Some(v) = self.video.as_mut() {
                        let f = video::feedback_for(&packets, v.ssrc);
                        v.keyframe_requests += u32::from(f.keyframe);
                        v.nacked
                            .extend(f.nacks.iter().flat_map(|n| n.packet_list()));
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// The next protocol deadline.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.pc.poll_timeout()
    }

    /// A deadline passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        let _ = self.pc.handle_timeout(now);
        self.events();
    }

    /// The round-trip time to the edge, once measured from its RTCP reports.
    pub fn rtt(&self) -> Option<std::time::Duration> {
        self.rtt.get()
    }

    /// ICE and DTLS are up.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// The connection failed or closed.
    pub fn is_failed(&self) -> bool {
        self.failed
    }

    fn events(&mut self) {
        while let Some(ev) = self.pc.poll_event() {
            if let RTCPeerConnectionEvent::OnTrack(RTCTrackEvent::OnOpen(init)) = &ev {
                if let Some(v) = self.video.as_mut() {
                    let kind = self
                        .pc
                        .rtp_receiver(init.receiver_id)
                        .map(|r| r.track().kind());
                    if kind == Some(RtpCodecKind::Video) {
                        v.receiver = Some((init.receiver_id, init.track_id.clone(), init.ssrc));
                    }
                }
            }
            if let RTCPeerConnectionEvent::OnConnectionStateChangeEvent(s) = ev {
                match s {
                    RTCPeerConnectionState::Connected => self.connected = true,
                    RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed => {
                        self.failed = true
                    }
                    _ => {}
                }
            }
        }
    }

    /// Close the connection (DTLS close_notify queued for [`Self::poll_transmit`]).
    pub fn close(&mut self) {
        let _ = self.pc.close();
    }
}
