//! Codec negotiation across the two legs of a call.
//!
//! A B2BUA sees two offer/answer exchanges. The offer from one side (say the caller) goes to
//! the other side **extended** with every codec Ringside can transcode to that the offer
//! lacks ([`extend_offer`]), so a callee that only speaks PCMA or Opus can still answer. The
//! codec of the **answer** decides: [`answered_codec`] reads it, [`choose_for_offerer`] picks
//! the offerer's codec — the same one when the offer has it (passthrough), otherwise the
//! offerer's most preferred codec Ringside can transcode — and [`restrict_answer`] rewrites the
//! answer returned to the offerer so it names only that codec (and telephone-event, when the
//! offer had it), with the offerer's own payload types.

use ringside_media::codec::frame::CodecKind;
use ringside_media::LegCodec;
use ringside_sip::sdp::{MediaSection, SessionDescription};

/// Codecs Ringside can transcode between, in the order it adds them to an offer. G.722 comes
/// last so an extended offer still prefers the codecs Ringside added before it.
const TRANSCODABLE: [CodecKind; 4] = [
    CodecKind::Pcmu,
    CodecKind::Pcma,
    CodecKind::Opus,
    CodecKind::G722,
];

/// One format of an audio `m=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    /// Payload type.
    pub pt: u8,
    /// `rtpmap` value after the payload type (e.g. `PCMU/8000`), if known.
    pub rtpmap: Option<String>,
    /// `fmtp` parameters.
    pub fmtp: Option<String>,
    /// The codec, when Ringside supports it.
    pub kind: Option<CodecKind>,
    /// The clock rate, when this is telephone-event.
    pub telephone_event: Option<u32>,
}

fn audio(sdp: &SessionDescription) -> Option<usize> {
    sdp.media()
        .iter()
        .position(|m| m.media_line().media == "audio" && m.media_line().port != 0)
}

fn static_rtpmap(pt: u8) -> Option<&'static str> {
    match pt {
        0 => Some("PCMU/8000"),
        8 => Some("PCMA/8000"),
        9 => Some("G722/8000"),
        18 => Some("G729/8000"),
        _ => None,
    }
}

/// The formats of a media section, in preference order.
pub fn formats(m: &MediaSection) -> Vec<Format> {
    let maps = m.rtpmaps();
    m.payload_types()
        .into_iter()
        .map(|pt| {
            let rtpmap = maps
                .iter()
                .find(|r| r.payload_type == pt)
                .map(|r| match r.channels {
                    Some(c) => format!("{}/{}/{}", r.encoding, r.clock_rate, c),
                    None => format!("{}/{}", r.encoding, r.clock_rate),
                })
                .or_else(|| static_rtpmap(pt).map(str::to_string));
            let (mut kind, mut te) = (None, None);
            if let Some(r) = &rtpmap {
                let mut parts = r.split('/');
                let name = parts.next().unwrap_or_default();
                let clock: u32 = parts.next().and_then(|c| c.parse().ok()).unwrap_or(0);
                let channels: u16 = parts.next().and_then(|c| c.parse().ok()).unwrap_or(1);
                if name.eq_ignore_ascii_case("telephone-event") {
                    te = Some(clock);
                } else {
                    kind = CodecKind::from_rtpmap(name, clock, channels);
                }
            }
            Format {
                pt,
                rtpmap,
                fmtp: m.fmtp(pt).map(str::to_string),
                kind,
                telephone_event: te,
            }
        })
        .collect()
}

/// The audio formats of an SDP, if it has an active audio stream.
pub fn audio_formats(sdp: &SessionDescription) -> Option<Vec<Format>> {
    audio(sdp).map(|i| formats(&sdp.media()[i]))
}

/// Adds to the offer's audio stream every transcodable codec (and telephone-event/8000) it
/// lacks, on free payload types. Offers without any codec Ringside supports are left alone
/// (their media can only pass through).
pub fn extend_offer(sdp: &mut SessionDescription) {
    let Some(i) = audio(sdp) else { return };
    let mut fmts = formats(&sdp.media()[i]);
    if !fmts.iter().any(|f| f.kind.is_some()) {
        return;
    }
    let mut free = (96u8..=127)
        .filter(|pt| !fmts.iter().any(|f| f.pt == *pt))
        .collect::<Vec<_>>();
    free.reverse();
    for kind in TRANSCODABLE {
        if fmts.iter().any(|f| f.kind == Some(kind)) {
            continue;
        }
        let pt = match kind.static_payload_type() {
            Some(pt) if !fmts.iter().any(|f| f.pt == pt) => pt,
            _ => match free.pop() {
                Some(pt) => pt,
                None => continue,
            },
        };
        fmts.push(Format {
            pt,
            rtpmap: Some(rtpmap_of(kind)),
            fmtp: kind.default_fmtp().map(str::to_string),
            kind: Some(kind),
            telephone_event: None,
        });
    }
    if !fmts.iter().any(|f| f.telephone_event == Some(8000)) {
        if let Some(pt) = free.pop() {
            fmts.push(Format {
                pt,
                rtpmap: Some("telephone-event/8000".into()),
                fmtp: Some("0-16".into()),
                kind: None,
                telephone_event: Some(8000),
            });
        }
    }
    set(sdp, i, &fmts);
}

fn rtpmap_of(kind: CodecKind) -> String {
    match kind.rtpmap_channels() {
        1 => format!("{}/{}", kind.encoding_name(), kind.rtp_clock_rate()),
        c => format!("{}/{}/{}", kind.encoding_name(), kind.rtp_clock_rate(), c),
    }
}

fn set(sdp: &mut SessionDescription, i: usize, fmts: &[Format]) {
    let list: Vec<(u8, Option<String>, Option<String>)> = fmts
        .iter()
        .map(|f| (f.pt, f.rtpmap.clone(), f.fmtp.clone()))
        .collect();
    if let Some(m) = sdp.media_mut(i) {
        m.set_formats(&list);
    }
}

fn leg_codec(audio: &Format, fmts: &[Format]) -> Option<LegCodec> {
    let kind = audio.kind?;
    let mut lc = LegCodec::new(kind, audio.pt);
    // Prefer telephone-event at the codec's clock, else at 8 kHz, else any.
    let te = fmts
        .iter()
        .filter_map(|f| f.telephone_event.map(|r| (f.pt, r)))
        .min_by_key(|(_, r)| {
            if *r == kind.rtp_clock_rate() {
                0
            } else if *r == 8000 {
                1
            } else {
                2
            }
        });
    if let Some((pt, rate)) = te {
        lc = lc.with_telephone_event(pt, rate);
    }
    Some(lc)
}

/// The codec an answer settled on: its first supported audio format.
pub fn answered_codec(answer: &SessionDescription) -> Option<LegCodec> {
    let fmts = audio_formats(answer)?;
    let first = fmts.iter().find(|f| f.telephone_event.is_none())?;
    leg_codec(first, &fmts)
}

/// The offerer's codec once the other side answered with `answered`: the same codec when the
/// offer has it (passthrough), else the offer's first codec Ringside can transcode.
pub fn choose_for_offerer(offer: &SessionDescription, answered: CodecKind) -> Option<LegCodec> {
    let fmts = audio_formats(offer)?;
    let pick = fmts
        .iter()
        .find(|f| f.kind == Some(answered))
        .or_else(|| fmts.iter().find(|f| f.kind.is_some()))?;
    leg_codec(pick, &fmts)
}

/// The offer's most preferred codec Ringside supports (for an answer Ringside gives itself,
/// e.g. early media with generated ringback).
pub fn preferred(offer: &SessionDescription) -> Option<LegCodec> {
    let fmts = audio_formats(offer)?;
    let pick = fmts.iter().find(|f| f.kind.is_some())?;
    leg_codec(pick, &fmts)
}

/// Rewrites the answer returned to the offerer so its audio stream names only `chosen` (and
/// its telephone-event), using the offer's rtpmap and fmtp for those payload types.
pub fn restrict_answer(
    answer: &mut SessionDescription,
    offer: &SessionDescription,
    chosen: &LegCodec,
) {
    let (Some(i), Some(offered)) = (audio(answer), audio_formats(offer)) else {
        return;
    };
    let mut keep: Vec<Format> = offered
        .iter()
        .filter(|f| f.pt == chosen.payload_type)
        .cloned()
        .collect();
    if let Some(te) = chosen.telephone_event {
        keep.extend(offered.iter().filter(|f| f.pt == te).cloned());
    }
    if keep.is_empty() {
        return;
    }
    set(answer, i, &keep);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdp(m: &str, attrs: &str) -> SessionDescription {
        SessionDescription::parse(&format!(
            "v=0\r\no=a 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP {m}\r\n{attrs}a=sendrecv\r\n"
        ))
        .unwrap()
    }

    #[test]
    fn extends_a_pcmu_offer_with_pcma_opus_g722_and_telephone_event() {
        let mut o = sdp(
            "0 101",
            "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
        );
        extend_offer(&mut o);
        let f = audio_formats(&o).unwrap();
        let kinds: Vec<_> = f.iter().filter_map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            vec![
                CodecKind::Pcmu,
                CodecKind::Pcma,
                CodecKind::Opus,
                CodecKind::G722
            ]
        );
        let g722 = f.iter().find(|f| f.kind == Some(CodecKind::G722)).unwrap();
        assert_eq!((g722.pt, g722.rtpmap.as_deref()), (9, Some("G722/8000")));
        let opus = f.iter().find(|f| f.kind == Some(CodecKind::Opus)).unwrap();
        assert!((96..=127).contains(&opus.pt) && opus.pt != 101);
        assert_eq!(opus.rtpmap.as_deref(), Some("opus/48000/2"));
        assert_eq!(f.iter().filter(|f| f.telephone_event.is_some()).count(), 1);
        let text = o.to_string();
        assert!(text.contains("m=audio 4000 RTP/AVP 0 101 8 "), "{text}");
        assert!(text.contains("a=sendrecv"));
    }

    #[test]
    fn g722_offers_are_recognised_and_extended() {
        // Static payload type 9 without an rtpmap line means G722/8000.
        let mut o = sdp("9", "");
        assert_eq!(audio_formats(&o).unwrap()[0].kind, Some(CodecKind::G722));
        extend_offer(&mut o);
        let kinds: Vec<_> = audio_formats(&o)
            .unwrap()
            .iter()
            .filter_map(|f| f.kind)
            .collect();
        assert_eq!(
            kinds,
            vec![
                CodecKind::G722,
                CodecKind::Pcmu,
                CodecKind::Pcma,
                CodecKind::Opus
            ]
        );
        // A G.722 offerer answered in PCMU keeps G.722 (transcoded).
        let pcmu = sdp("0", "a=rtpmap:0 PCMU/8000\r\n");
        let b = answered_codec(&pcmu).unwrap();
        let a = choose_for_offerer(&sdp("9", ""), b.kind).unwrap();
        assert_eq!((a.kind, a.payload_type), (CodecKind::G722, 9));
    }

    #[test]
    fn unknown_only_offers_are_untouched() {
        let mut o = sdp("18", "a=rtpmap:18 G729/8000\r\n");
        let before = o.to_string();
        extend_offer(&mut o);
        assert_eq!(o.to_string(), before);
    }

    #[test]
    fn answer_codec_decides_passthrough_or_transcoding() {
        let offer = sdp("0 8 101", "a=rtpmap:101 telephone-event/8000\r\n");
        let pcma = sdp(
            "8 101",
            "a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
        );
        let b = answered_codec(&pcma).unwrap();
        assert_eq!(
            (b.kind, b.payload_type, b.telephone_event),
            (CodecKind::Pcma, 8, Some(101))
        );
        // The offer has PCMA too: passthrough.
        assert_eq!(
            choose_for_offerer(&offer, b.kind).unwrap().kind,
            CodecKind::Pcma
        );
        // A PCMU-only offer against an Opus answer: transcode, the offerer keeps PCMU.
        let pcmu_only = sdp("0", "");
        let opus = sdp(
            "111",
            "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 useinbandfec=1\r\n",
        );
        let b = answered_codec(&opus).unwrap();
        assert_eq!(b.kind, CodecKind::Opus);
        let a = choose_for_offerer(&pcmu_only, b.kind).unwrap();
        assert_eq!((a.kind, a.payload_type), (CodecKind::Pcmu, 0));
        // The answer sent back to the offerer names only PCMU.
        let mut back = opus.clone();
        restrict_answer(&mut back, &pcmu_only, &a);
        let text = back.to_string();
        assert!(text.contains("m=audio 4000 RTP/AVP 0\r\n"), "{text}");
        assert!(!text.contains("opus"));
    }
}
