//! Media endpoints for end-to-end tests: UDP sockets that send a known tone as RTP and judge
//! what arrives as audio, sipp callees answering with such an endpoint's address, and
//! recording helpers.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringside_media::codec::analysis::{dominant_frequency, rms_dbfs, tone};
use ringside_media::codec::frame::{CodecKind, FrameDecoder, FrameEncoder};
use ringside_media::codec::opus::EncoderOptions;
use ringside_media::rtp::packet::{RtpHeader, RtpPacket};
use tokio::net::UdpSocket;

use crate::{free_port, Scenario, Server, Sipp, PW2};

/// The SDP media part of a callee that only speaks `codec`.
pub fn callee_media(codec: CodecKind, port: u16) -> String {
    match codec {
        CodecKind::Pcma => format!("m=audio {port} RTP/AVP 8\n      a=rtpmap:8 PCMA/8000"),
        CodecKind::Pcmu => format!("m=audio {port} RTP/AVP 0\n      a=rtpmap:0 PCMU/8000"),
        CodecKind::G722 => format!("m=audio {port} RTP/AVP 9\n      a=rtpmap:9 G722/8000"),
        CodecKind::Opus => format!(
            "m=audio {port} RTP/AVP 111\n      a=rtpmap:111 opus/48000/2\n      a=fmtp:111 minptime=10;useinbandfec=1"
        ),
    }
}

/// A callee (1002) answering with only `codec` at `media_port`, writing Ringside's media port
/// for it into `b_port.txt`, then waiting for the BYE.
pub async fn callee(
    srv: &Server,
    codec: CodecKind,
    media_port: u16,
) -> (Sipp, tokio::process::Child) {
    callee_with(srv, codec, media_port, &[], 0).await
}

/// A callee as above that also answers one re-INVITE per entry of `reinvites` with that SDP
/// direction (e.g. `recvonly` for a hold, `sendrecv` for the resume).
pub async fn callee_with(
    srv: &Server,
    codec: CodecKind,
    media_port: u16,
    reinvites: &[&str],
    answer_after_ms: u32,
) -> (Sipp, tokio::process::Child) {
    registered_callee(srv, codec, media_port, reinvites, answer_after_ms, &[]).await
}

/// 1002 registered from a fresh port, then its answering sipp (with `extra` arguments).
async fn registered_callee(
    srv: &Server,
    codec: CodecKind,
    media_port: u16,
    reinvites: &[&str],
    answer_after_ms: u32,
    extra: &[&str],
) -> (Sipp, tokio::process::Child) {
    let port = free_port();
    let (ok, log) = srv.register("1002", PW2, port, 200, &[]).await;
    assert!(ok, "1002 registers: {log}");
    let sc = answering_uas(
        "1002",
        &callee_media(codec, media_port),
        reinvites,
        answer_after_ms,
    );
    spawn_uas(srv, &sc, port, extra).await
}

/// Like [`callee_with`] (1002), for races: answers every INVITE at once with a 200 and no
/// 180; a CANCEL crossing its 200 (it lost to another phone) is answered 200 as a phone
/// would, and the ACK and BYE that follow end its call.
pub async fn racing_callee(srv: &Server, media_port: u16) -> (Sipp, tokio::process::Child) {
    let port = free_port();
    let (ok, log) = srv.register("1002", PW2, port, 200, &[]).await;
    assert!(ok, "1002 registers: {log}");
    let sc = answering_uas("1002", &callee_media(CodecKind::Pcmu, media_port), &[], 0);
    let ok_cancel = "  <recv request=\"CANCEL\" optional=\"true\" next=\"cancelled\"/>\n  <recv request=\"ACK\"/>\n";
    // No media-port note and no pause: the 200 leaves right behind the 180, so two such
    // phones' answers cross in flight.
    let start = sc.xml.find("  <nop><action><exec").expect("exec nop");
    let end = sc.xml[start..].find("</nop>\n").expect("nop end") + start + "</nop>\n".len();
    let mut xml = sc.xml.clone();
    xml.replace_range(start..end, "");
    let xml = xml.replacen("  <pause milliseconds=\"0\"/>\n", "", 1);
    // Its port is not written down either: the variable stays assigned but unused.
    let mut xml = xml.replacen(
        "<Reference variables=\"dummy2,",
        "<Reference variables=\"bport,dummy2,",
        1,
    );
    // No 180 either: without a provisional response Ringside may not CANCEL (RFC 3261
    // 9.1), so both phones' 200s always cross and the loser is ACKed and BYE'd.
    let ringing = xml.find("SIP/2.0 180 Ringing").expect("180");
    let send_start = xml[..ringing].rfind("<send>").expect("send");
    let send_end = xml[ringing..].find("</send>").expect("/send") + ringing + "</send>".len();
    xml.replace_range(send_start..send_end, "");
    let xml = xml.replacen("  <recv request=\"ACK\"/>\n", ok_cancel, 1).replace(
        "</scenario>",
        "  <label id=\"cancelled\"/>\n  <send>\n    <![CDATA[\n      SIP/2.0 200 OK\n      [last_Via:]\n      [last_From:]\n      [last_To:]\n      [last_Call-ID:]\n      [last_CSeq:]\n      Content-Length: 0\n\n    ]]>\n  </send>\n  <recv request=\"ACK\"/>\n  <recv request=\"BYE\"/>\n  <send>\n    <![CDATA[\n      SIP/2.0 200 OK\n      [last_Via:]\n      [last_From:]\n      [last_To:]\n      [last_Call-ID:]\n      [last_CSeq:]\n      Content-Length: 0\n\n    ]]>\n  </send>\n</scenario>",
    );
    spawn_uas(srv, &Scenario { xml }, port, &[]).await
}

/// A PSTN carrier on loopback `port` (the outbound trunk's host): answers the INVITE after
/// `answer_after_ms` in PCMU with telephone-event, media at `media_port`, writing Ringside's
/// media port into `b_port.txt`, then waits for the BYE.
pub async fn carrier(
    srv: &Server,
    port: u16,
    media_port: u16,
    answer_after_ms: u32,
) -> (Sipp, tokio::process::Child) {
    let media = format!(
        "m=audio {media_port} RTP/AVP 0 101\n      a=rtpmap:0 PCMU/8000\n      a=rtpmap:101 telephone-event/8000\n      a=fmtp:101 0-15"
    );
    let sc = answering_uas("carrier", &media, &[], answer_after_ms);
    spawn_uas(srv, &sc, port, &[]).await
}

/// Like [`callee_with`] (no re-INVITEs) for calls longer than sipp's default 30 s limit:
/// the callee gives up after `limit_secs`.
pub async fn long_callee(
    srv: &Server,
    codec: CodecKind,
    media_port: u16,
    answer_after_ms: u32,
    limit_secs: u32,
) -> (Sipp, tokio::process::Child) {
    let limit = format!("{limit_secs}s");
    registered_callee(
        srv,
        codec,
        media_port,
        &[],
        answer_after_ms,
        &["-timeout", &limit],
    )
    .await
}

async fn spawn_uas(
    srv: &Server,
    sc: &Scenario,
    port: u16,
    extra: &[&str],
) -> (Sipp, tokio::process::Child) {
    let sipp = Sipp::new(sc, srv.sip)
        .args(&["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(extra);
    let child = sipp.spawn();
    tokio::time::sleep(Duration::from_millis(300)).await;
    (sipp, child)
}

/// A sipp UAS (`user`) answering with the SDP media part `media` after `answer_after_ms`,
/// writing Ringside's media port into `b_port.txt`, answering one re-INVITE per entry of
/// `reinvites` (SDP direction, or `INFO`), then waiting for the BYE.
fn answering_uas(user: &str, media: &str, reinvites: &[&str], answer_after_ms: u32) -> Scenario {
    let ok_200 = format!(
        "  <nop><action><exec command=\"echo [$bport] > b_port.txt\"/></action></nop>\n  <send retrans=\"500\">\n    <![CDATA[\n      SIP/2.0 200 OK\n      [last_Via:]\n      [last_From:]\n      [last_To:];tag=[pid]uas[call_number]\n      [last_Call-ID:]\n      [last_CSeq:]\n      Contact: <sip:1002@[local_ip]:[local_port];transport=[transport]>\n      Content-Type: application/sdp\n      Content-Length: [len]\n\n      v=0\n      o=callee 1 1 IN IP[local_ip_type] [local_ip]\n      s=-\n      c=IN IP[media_ip_type] [media_ip]\n      t=0 0\n      {}\n      a=sendrecv\n\n    ]]>\n  </send>\n  <recv request=\"ACK\"/>\n@@REINVITES@@  <recv request=\"BYE\"/>\n  <send>\n    <![CDATA[\n      SIP/2.0 200 OK\n      [last_Via:]\n      [last_From:]\n      [last_To:]\n      [last_Call-ID:]\n      [last_CSeq:]\n      Content-Length: 0\n\n    ]]>\n  </send>\n",
        media
    );
    let mut re = String::new();
    for (i, dir) in reinvites.iter().enumerate() {
        if *dir == "INFO" {
            re.push_str("  <recv request=\"INFO\"/>\n  <send>\n    <![CDATA[\n      SIP/2.0 200 OK\n      [last_Via:]\n      [last_From:]\n      [last_To:]\n      [last_Call-ID:]\n      [last_CSeq:]\n      Content-Length: 0\n\n    ]]>\n  </send>\n");
            continue;
        }
        re.push_str(&format!(
            "  <recv request=\"INVITE\"/>\n  <send retrans=\"500\">\n    <![CDATA[\n      SIP/2.0 200 OK\n      [last_Via:]\n      [last_From:]\n      [last_To:]\n      [last_Call-ID:]\n      [last_CSeq:]\n      Contact: <sip:1002@[local_ip]:[local_port];transport=[transport]>\n      Content-Type: application/sdp\n      Content-Length: [len]\n\n      v=0\n      o=callee 1 {} IN IP[local_ip_type] [local_ip]\n      s=-\n      c=IN IP[media_ip_type] [media_ip]\n      t=0 0\n      {}\n      a={dir}\n\n    ]]>\n  </send>\n  <recv request=\"ACK\"/>\n",
            i + 2,
            media
        ));
    }
    let ok_200 = ok_200.replace("@@REINVITES@@", &re).replacen(
        "</nop>\n",
        &format!("</nop>\n  <pause milliseconds=\"{answer_after_ms}\"/>\n"),
        1,
    );
    let xml = include_str!("sipp/uas.xml")
        .replace("{{FLOW}}", &ok_200)
        .replace("{{USER}}", user)
        .replace(
            "<ereg regexp=\"c=IN IP[46]",
            "<ereg regexp=\"m=audio ([0-9]+)\" search_in=\"body\" check_it=\"true\" assign_to=\"dummy2,bport\"/>\n      <ereg regexp=\"c=IN IP[46]",
        )
        .replace("<Reference variables=\"dummy,", "<Reference variables=\"dummy2,dummy,");
    assert!(
        xml.contains("assign_to=\"dummy2,bport\""),
        "uas.xml's c= check moved: {xml}"
    );
    Scenario { xml }
}

pub async fn read_port(dir: &Path, file: &str) -> u16 {
    for _ in 0..200 {
        if let Ok(s) = std::fs::read_to_string(dir.join(file)) {
            if let Ok(p) = s.trim().parse() {
                return p;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("sipp never wrote {file}");
}

/// One media endpoint: sends a tone encoded as `codec` (payload type `pt`) to `to` every
/// 20 ms for `frames` frames and keeps every RTP payload it receives.
pub struct Endpoint {
    pub sock: Arc<UdpSocket>,
    pub received: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Endpoint {
    pub async fn bind() -> (Endpoint, u16) {
        let sock = loop {
            let p = crate::even_port();
            if let Ok(s) = UdpSocket::bind(("127.0.0.1", p)).await {
                break s;
            }
        };
        let port = sock.local_addr().unwrap().port();
        let sock = Arc::new(sock);
        let received = Arc::new(Mutex::new(Vec::new()));
        let (s, r) = (sock.clone(), received.clone());
        tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            while let Ok((n, _)) = s.recv_from(&mut buf).await {
                if let Ok(p) = RtpPacket::parse(&buf[..n]) {
                    if p.payload_type() < 72 || p.payload_type() > 76 {
                        r.lock().unwrap().push(buf[..n].to_vec());
                    }
                }
            }
        });
        (Endpoint { sock, received }, port)
    }

    pub fn talk(
        &self,
        to: SocketAddr,
        codec: CodecKind,
        pt: u8,
        freq: f64,
        frames: usize,
    ) -> tokio::task::JoinHandle<()> {
        let sock = self.sock.clone();
        tokio::spawn(async move {
            let mut enc = FrameEncoder::new(codec, 8000, EncoderOptions::default()).unwrap();
            let pcm = tone(freq, 8000, 0.3, 160 * frames);
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            let mut payload = [0u8; 1500];
            let mut out = [0u8; 1500];
            for (k, frame) in pcm.chunks(160).enumerate() {
                tick.tick().await;
                let n = enc.encode(frame, &mut payload).unwrap();
                let h = RtpHeader {
                    marker: k == 0,
                    payload_type: pt,
                    sequence: k as u16,
                    timestamp: (k as u32) * enc.rtp_timestamp_increment(),
                    ssrc: 0x1234_0000 + u32::from(pt),
                    csrcs: &[],
                    extension: None,
                    padding: 0,
                };
                let len = h.write(&payload[..n], &mut out).unwrap();
                let _ = sock.send_to(&out[..len], to).await;
            }
        })
    }

    /// Press `digit` (0-9) as RFC 4733 telephone-events on payload type `pt` towards `to`:
    /// 5 packets 20 ms apart with growing duration, then 3 end packets.
    pub async fn press(&self, to: SocketAddr, pt: u8, digit: u8) {
        let mut out = [0u8; 64];
        let ts = 0x4000_0000u32;
        for k in 0..8u16 {
            let end = k >= 5;
            let duration = 160 * (k.min(5) + 1);
            let payload = [
                digit,
                if end { 0x80 | 10 } else { 10 },
                (duration >> 8) as u8,
                duration as u8,
            ];
            let h = RtpHeader {
                marker: k == 0,
                payload_type: pt,
                sequence: 40_000 + k,
                timestamp: ts,
                ssrc: 0x4733_0001,
                csrcs: &[],
                extension: None,
                padding: 0,
            };
            let len = h.write(&payload, &mut out).unwrap();
            let _ = self.sock.send_to(&out[..len], to).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Everything received, decoded as `codec` at 8 kHz.
    pub fn decoded(&self, codec: CodecKind, pt: u8) -> Vec<i16> {
        let mut dec = FrameDecoder::new(codec, 8000).unwrap();
        let mut pcm = Vec::new();
        let mut buf = vec![0i16; 5760];
        for p in self.received.lock().unwrap().iter() {
            let rtp = RtpPacket::parse(p).unwrap();
            assert_eq!(rtp.payload_type(), pt, "the leg's negotiated payload type");
            let n = dec.decode(rtp.payload(), &mut buf).unwrap();
            pcm.extend_from_slice(&buf[..n]);
        }
        pcm
    }
}

pub fn assert_tone(pcm: &[i16], freq: f64, what: &str) {
    assert!(
        pcm.len() >= 8000,
        "{what}: only {} samples arrived",
        pcm.len()
    );
    // Skip the first 200 ms (codec and jitter start-up).
    let body = &pcm[1600..];
    let f = dominant_frequency(body, 8000);
    let level = rms_dbfs(body);
    assert!(
        (f - freq).abs() < 15.0,
        "{what}: dominant {f} Hz, expected {freq}"
    );
    // Sent at -13.5 dBFS RMS (amplitude 0.3); allow codec and gap losses.
    assert!(level > -20.0 && level < -10.0, "{what}: level {level} dBFS");
}

pub async fn recordings_of(srv: &Server, token: &str, call_id: &str) -> serde_json::Value {
    let (st, body) = srv
        .api(
            "GET",
            &format!("/api/v1/calls/{call_id}/recordings"),
            token,
            None,
        )
        .await;
    assert_eq!(st, 200, "{body}");
    body
}

pub async fn download(srv: &Server, token: &str, url: &str) -> Vec<u8> {
    let r = reqwest::Client::new()
        .get(format!("{}{url}", srv.http))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap().to_vec()
}

pub fn wav_channels(bytes: &[u8]) -> (u32, Vec<i16>, Vec<i16>) {
    let mut r = hound::WavReader::new(std::io::Cursor::new(bytes)).expect("a WAV file");
    let spec = r.spec();
    assert_eq!(spec.channels, 2, "stereo");
    let s: Vec<i16> = r.samples::<i16>().map(|x| x.unwrap()).collect();
    let left = s.iter().step_by(2).copied().collect();
    let right = s.iter().skip(1).step_by(2).copied().collect();
    (spec.sample_rate, left, right)
}
