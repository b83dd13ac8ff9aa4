//! Video between two browsers on the edge: a visitor and the console operator who took the
//! call. SIP legs stay audio-only, so video never reaches the relay: the edge forwards each
//! side's video RTP straight into the other side's peer connection (an SFU of two), rewriting
//! the SSRC and the payload type (each browser numbers its codecs itself), and carries the
//! receivers' feedback back to the sender: picture loss (PLI, or FIR, sent on as PLI) and
//! generic NACKs. Sequence numbers and timestamps pass through unchanged, so a NACK's
//! sequence numbers mean the same packets on both sides.
//!
//! Codecs: VP8 and H.264 (constrained baseline and baseline, packetization mode 1), with
//! `nack`, `nack pli` and `ccm fir` feedback. No transcoding: both browsers must share the
//! codec the sender picked (they do: every browser decodes VP8 and H.264).

use std::time::{Duration, Instant};

use rtc::interceptor::{Attribute, Packet as InterceptorPacket, TaggedPacket};
use rtc::peer_connection::configuration::media_engine::{
    MediaEngine as RtcMediaEngine, MIME_TYPE_H264, MIME_TYPE_VP8,
};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::{NackPair, TransportLayerNack};
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpReceiverId, RTCRtpSenderId};

use super::rtc_err;
use crate::MediaError;

/// A video codec the edge relays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    /// VP8 (RFC 7741).
    Vp8,
    /// H.264 constrained baseline, packetization mode 1 (RFC 6184).
    H264,
}

impl VideoCodec {
    /// The codec as registered: MIME type, fmtp, our payload type.
    pub(super) fn codec(self) -> RTCRtpCodecParameters {
        let (mime, fmtp, pt) = match self {
            VideoCodec::Vp8 => (MIME_TYPE_VP8, "", 96),
            VideoCodec::H264 => (
                MIME_TYPE_H264,
                "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
                102,
            ),
        };
        RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: mime.to_owned(),
                clock_rate: 90000,
                channels: 0,
                sdp_fmtp_line: fmtp.to_owned(),
                rtcp_feedback: feedback(),
            },
            payload_type: pt,
        }
    }
}

fn feedback() -> Vec<RTCPFeedback> {
    [("nack", ""), ("nack", "pli"), ("ccm", "fir")]
        .into_iter()
        .map(|(typ, parameter)| RTCPFeedback {
            typ: typ.to_owned(),
            parameter: parameter.to_owned(),
        })
        .collect()
}

/// Register the relayed video codecs (VP8 first, then H.264 constrained baseline and
/// baseline, both packetization mode 1).
pub(super) fn register(me: &mut RtcMediaEngine) -> Result<(), MediaError> {
    let mut baseline = VideoCodec::H264.codec();
    baseline.rtp_codec.sdp_fmtp_line =
        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f".to_owned();
    baseline.payload_type = 125;
    for c in [VideoCodec::Vp8.codec(), VideoCodec::H264.codec(), baseline] {
        me.register_codec(c, RtpCodecKind::Video).map_err(rtc_err)?;
    }
    Ok(())
}

/// Our outgoing video track towards one browser, sending as `codec` by default.
pub(super) fn track(
    owner: &str,
    ssrc: u32,
    codec: VideoCodec,
) -> rtc::media_stream::MediaStreamTrack {
    rtc::media_stream::MediaStreamTrack::new(
        owner.to_owned(),
        format!("{owner}-video"),
        owner.to_owned(),
        RtpCodecKind::Video,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec: codec.codec().rtp_codec,
            ..Default::default()
        }],
    )
}

/// Whether an SDP offer has a video section that is not rejected (port 0).
pub fn offers_video(sdp: &str) -> bool {
    sdp.lines().any(|l| {
        l.strip_prefix("m=video ")
            .and_then(|r| r.split(' ').next())
            .is_some_and(|port| port != "0")
    })
}

/// A negotiated codec: payload type, MIME type, fmtp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Negotiated {
    pub pt: u8,
    pub mime: String,
    pub fmtp: String,
}

/// The value of `key` in an fmtp line (`a=1;b=2`).
fn fmtp_param<'a>(fmtp: &'a str, key: &str) -> Option<&'a str> {
    fmtp.split(';').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        k.trim().eq_ignore_ascii_case(key).then(|| v.trim())
    })
}

/// The payload type `dst` uses for the codec `src` sends as `pt`: the same MIME type with the
/// same fmtp, else (H.264) the same packetization mode, else the same MIME type.
pub(super) fn map_payload_type(src: &[Negotiated], dst: &[Negotiated], pt: u8) -> Option<u8> {
    let from = src.iter().find(|c| c.pt == pt)?;
    let same_mime = |c: &&Negotiated| c.mime.eq_ignore_ascii_case(&from.mime);
    let mode = |c: &Negotiated| {
        fmtp_param(&c.fmtp, "packetization-mode")
            .unwrap_or("0")
            .to_owned()
    };
    dst.iter()
        .filter(same_mime)
        .find(|c| c.fmtp == from.fmtp)
        .or_else(|| dst.iter().filter(same_mime).find(|c| mode(c) == mode(from)))
        .or_else(|| {
            // Packetization mode 0 and 1 are not interchangeable for H.264.
            (!from.mime.eq_ignore_ascii_case(MIME_TYPE_H264))
                .then(|| dst.iter().find(same_mime))
                .flatten()
        })
        .map(|c| c.pt)
}

/// The picture-loss requests a sender is spared: one per this interval at most.
const KEYFRAME_INTERVAL: Duration = Duration::from_millis(300);

/// The video side of one session.
#[derive(Debug)]
pub(super) struct Video {
    /// Our track towards the browser.
    pub sender: RTCRtpSenderId,
    pub ssrc: u32,
    /// The browser's video (once its track opened): receiver and SSRC.
    pub receiver: Option<(RTCRtpReceiverId, String, u32)>,
    /// The codecs negotiated with this browser.
    pub codecs: Vec<Negotiated>,
    /// The session (slot, id) our browser's video goes to, and its payload types for ours.
    pub peer: Option<Peer>,
    last_keyframe_request: Option<Instant>,
}

/// Where one side's video is forwarded.
#[derive(Debug, Clone)]
pub(super) struct Peer {
    pub slot: usize,
    pub id: u64,
    /// Our browser's payload type → the peer browser's.
    pub payload_types: Vec<(u8, u8)>,
}

impl Video {
    pub fn new(sender: RTCRtpSenderId, ssrc: u32, codecs: Vec<Negotiated>) -> Video {
        Video {
            sender,
            ssrc,
            receiver: None,
            codecs,
            peer: None,
            last_keyframe_request: None,
        }
    }

    /// The peer's payload type for a packet our browser sent as `pt`.
    pub fn forward_payload_type(&self, pt: u8) -> Option<u8> {
        let peer = self.peer.as_ref()?;
        peer.payload_types
            .iter()
            .find(|(from, _)| *from == pt)
            .map(|(_, to)| *to)
    }

    /// A picture loss indication asking our browser for a keyframe, unless one was asked for
    /// within [`KEYFRAME_INTERVAL`].
    pub fn keyframe_request(&mut self, now: Instant) -> Option<PictureLossIndication> {
        let (_, _, media_ssrc) = self.receiver.as_ref()?;
        if self
            .last_keyframe_request
            .is_some_and(|t| now.saturating_duration_since(t) < KEYFRAME_INTERVAL)
        {
            return None;
        }
        self.last_keyframe_request = Some(now);
        Some(PictureLossIndication {
            sender_ssrc: self.ssrc,
            media_ssrc: *media_ssrc,
        })
    }

    /// A NACK for our browser's video, for the sequence numbers a peer's NACK names.
    pub fn nack(&self, nacks: Vec<NackPair>) -> Option<TransportLayerNack> {
        let (_, _, media_ssrc) = self.receiver.as_ref()?;
        Some(TransportLayerNack {
            sender_ssrc: self.ssrc,
            media_ssrc: *media_ssrc,
            nacks,
        })
    }
}

/// The watch (of a [`super::tap::Tap`]) that lets a browser's video feedback (PLI, FIR, NACK)
/// through to the edge.
/// The `rtc` interceptor chain ends inbound RTCP before the application unless a packet is
/// marked for it; this marks compound packets carrying feedback and passes everything else on
/// untouched (the report interceptors still see every packet first: it sits application-most).
pub(super) struct FeedbackToApp;

/// Where [`FeedbackToApp`] sits in the chain: after every built-in slot.
pub(super) const FEEDBACK_SLOT: usize = 20_000;

fn is_feedback(p: &dyn rtc::rtcp::Packet) -> bool {
    let any = p.as_any();
    any.is::<PictureLossIndication>()
        || any.is::<FullIntraRequest>()
        || any.is::<TransportLayerNack>()
}

impl super::tap::Watch for FeedbackToApp {
    fn read(&mut self, msg: &mut TaggedPacket) {
        if let InterceptorPacket::Rtcp(packets) = &msg.message.packet {
            if packets.iter().any(|p| is_feedback(p.as_ref())) {
                msg.message.add(Attribute::DeliverToApplication);
            }
        }
    }
}

/// What a browser's RTCP asks of the video it receives from us (its sender's SSRC `ours`).
#[derive(Debug, Default, PartialEq)]
pub(super) struct Feedback {
    pub keyframe: bool,
    pub nacks: Vec<NackPair>,
}

/// Read the feedback about our video (`ours`) out of a browser's RTCP packets.
pub(super) fn feedback_for(packets: &[Box<dyn rtc::rtcp::Packet>], ours: u32) -> Feedback {
    let mut f = Feedback::default();
    for p in packets {
        let any = p.as_any();
        if let Some(pli) = any.downcast_ref::<PictureLossIndication>() {
            f.keyframe |= pli.media_ssrc == ours;
        } else if let Some(fir) = any.downcast_ref::<FullIntraRequest>() {
            f.keyframe |= fir.media_ssrc == ours || fir.fir.iter().any(|e| e.ssrc == ours);
        } else if let Some(nack) = any.downcast_ref::<TransportLayerNack>() {
            if nack.media_ssrc == ours {
                f.nacks.extend(nack.nacks.iter().cloned());
            }
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::rtcp::payload_feedbacks::full_intra_request::FirEntry;

    fn n(pt: u8, mime: &str, fmtp: &str) -> Negotiated {
        Negotiated {
            pt,
            mime: mime.to_owned(),
            fmtp: fmtp.to_owned(),
        }
    }

    const CB: &str = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f";
    const B: &str = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f";
    const B0: &str = "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f";

    #[test]
    fn payload_types_map_by_codec_not_number() {
        let visitor = [n(96, "video/VP8", ""), n(109, "video/H264", CB)];
        let operator = [n(100, "video/VP8", ""), n(96, "video/H264", CB)];
        assert_eq!(map_payload_type(&visitor, &operator, 96), Some(100));
        assert_eq!(map_payload_type(&visitor, &operator, 109), Some(96));
        // Unknown on the sending side: not forwarded.
        assert_eq!(map_payload_type(&visitor, &operator, 35), None);
    }

    #[test]
    fn h264_falls_back_to_the_same_packetization_mode_only() {
        let src = [n(102, "video/H264", CB)];
        assert_eq!(
            map_payload_type(&src, &[n(125, "video/H264", B)], 102),
            Some(125)
        );
        assert_eq!(
            map_payload_type(&src, &[n(127, "video/H264", B0)], 102),
            None
        );
        assert_eq!(map_payload_type(&src, &[n(96, "video/VP8", "")], 102), None);
    }

    #[test]
    fn offers_video_needs_a_live_video_section() {
        assert!(offers_video(
            "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
        ));
        assert!(!offers_video("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"));
        assert!(!offers_video("v=0\r\nm=video 0 UDP/TLS/RTP/SAVPF 96\r\n"));
    }

    #[test]
    fn feedback_about_our_stream_only() {
        let ours = 7;
        let packets: Vec<Box<dyn rtc::rtcp::Packet>> = vec![
            Box::new(PictureLossIndication {
                sender_ssrc: 1,
                media_ssrc: 8,
            }),
            Box::new(TransportLayerNack {
                sender_ssrc: 1,
                media_ssrc: ours,
                nacks: vec![NackPair {
                    packet_id: 10,
                    lost_packets: 0b101,
                }],
            }),
        ];
        let f = feedback_for(&packets, ours);
        assert!(!f.keyframe);
        assert_eq!(f.nacks.len(), 1);
        assert_eq!(f.nacks[0].packet_id, 10);
        let fir: Vec<Box<dyn rtc::rtcp::Packet>> = vec![Box::new(FullIntraRequest {
            sender_ssrc: 1,
            media_ssrc: 0,
            fir: vec![FirEntry {
                ssrc: ours,
                sequence_number: 1,
            }],
        })];
        assert!(feedback_for(&fir, ours).keyframe);
    }

    #[test]
    fn keyframe_requests_are_spaced() {
        let mut v = Video::new(RTCRtpSenderId::default(), 5, Vec::new());
        let t = Instant::now();
        // No browser video yet: nothing to ask.
        assert!(v.keyframe_request(t).is_none());
        v.receiver = Some((RTCRtpReceiverId::default(), "t".into(), 9));
        let pli = v.keyframe_request(t).expect("first request");
        assert_eq!((pli.sender_ssrc, pli.media_ssrc), (5, 9));
        assert!(v.keyframe_request(t + Duration::from_millis(100)).is_none());
        assert!(v.keyframe_request(t + KEYFRAME_INTERVAL).is_some());
    }
}
