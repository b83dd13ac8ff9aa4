//! A WebRTC offerer in Rust, the browser's side of a call: for tests of the edge and as the
//! load generator of the WebRTC benchmarks. Sans-IO like the edge: datagrams and time in,
//! datagrams, RTP and state out; the caller owns the socket.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::event::RTCPeerConnectionEvent;
use rtc::peer_connection::message::{RTCMessage, TaggedRTCMessage};
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtp::header::Header;
use rtc::rtp::packet::Packet;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::RTCRtpSenderId;
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};

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
    /// The payload (an Opus frame).
    pub payload: Bytes,
}

/// A browser-like WebRTC peer that offers one Opus audio track.
pub struct ClientPeer {
    pc: RTCPeerConnection,
    sender: RTCRtpSenderId,
    ssrc: u32,
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
        let (me, registry) = audio_engine()?;
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

    /// The next datagram to send: (destination, bytes).
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, BytesMut)> {
        self.pc
            .poll_write()
            .map(|m| (m.transport.peer_addr, m.message))
    }

    /// The next RTP packet received.
    pub fn poll_rtp(&mut self) -> Option<Received> {
        while let Some(TaggedRTCMessage { message, .. }) = self.pc.poll_read() {
            if let RTCMessage::RtpPacket(_, p) = message {
                return Some(Received {
                    payload_type: p.header.payload_type,
                    sequence: p.header.sequence_number,
                    timestamp: p.header.timestamp,
                    payload: p.payload,
                });
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
