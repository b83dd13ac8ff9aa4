//! Media through a real `ringside serve`: transcoding between legs that share no codec, call
//! recording, and crash safety of recordings. sipp does the signalling; the media endpoints are
//! UDP sockets in this test that send a known tone and judge what arrives as audio.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringside_e2e::{free_port, uac_ack, uac_in_dialog, Scenario, Server, Sipp, UacFlow, PW1, PW2};
use ringside_media::codec::analysis::{dominant_frequency, rms_dbfs, tone};
use ringside_media::codec::frame::{CodecKind, FrameDecoder, FrameEncoder};
use ringside_media::codec::opus::EncoderOptions;
use ringside_media::rtp::packet::{RtpHeader, RtpPacket};
use tokio::net::UdpSocket;

/// The SDP media part of a callee that only speaks `codec`.
fn callee_media(codec: CodecKind, port: u16) -> String {
    match codec {
        CodecKind::Pcma => format!("m=audio {port} RTP/AVP 8\n      a=rtpmap:8 PCMA/8000"),
        CodecKind::Pcmu => format!("m=audio {port} RTP/AVP 0\n      a=rtpmap:0 PCMU/8000"),
        CodecKind::G722 => format!("m=audio {port} RTP/AVP 9\n      a=rtpmap:9 G722/8000"),
        CodecKind::Opus => format!(
            "m=audio {port} RTP/AVP 111\n      a=rtpmap:111 opus/48000/2\n      a=fmtp:111 minptime=10;useinbandfec=1"
        ),
    }
}

/// A caller (1001, PCMU only, media at `media_port`) that writes Ringside's media port into
/// `a_port.txt`, talks for `talk_ms`, then hangs up.
fn caller(srv: &Server, media_port: u16, talk_ms: u32) -> Sipp {
    caller_with(
        srv,
        media_port,
        &format!("  <pause milliseconds=\"{talk_ms}\"/>\n"),
        false,
    )
}

/// A caller as above that runs `middle` (sipp XML) between its ACK and its BYE; with
/// `telephone_event` its offer also carries telephone-event/8000 on payload type 101.
fn caller_with(srv: &Server, media_port: u16, middle: &str, telephone_event: bool) -> Sipp {
    // The BYE's CSeq follows any re-INVITEs in `middle`.
    let bye_cseq = 3
        + (middle.matches("INVITE [next_url]").count() + middle.matches("INFO [next_url]").count())
            as u32;
    let flow = format!(
        "  <recv response=\"180\" optional=\"true\"/>\n  <recv response=\"183\" optional=\"true\"/>\n  <recv response=\"200\" rrs=\"true\">\n    <action><ereg regexp=\"m=audio ([0-9]+)\" search_in=\"body\" check_it=\"true\" assign_to=\"dummy,aport\"/></action>\n  </recv>\n  <Reference variables=\"dummy\"/>\n  <nop><action><exec command=\"echo [$aport] > a_port.txt\"/></action></nop>\n{}{middle}{}  <recv response=\"200\"/>\n",
        uac_ack(2),
        uac_in_dialog("BYE", bye_cseq, None)
    );
    let mut sc = Scenario::uac("1001", true, UacFlow::CalleeHangsUp);
    // Keep the INVITE part of the template, replace the flow after it.
    // (The template's comment repeats the flow: cut at the last occurrence.)
    let cut = sc
        .xml
        .rfind("  <recv response=\"180\" optional=\"true\"/>")
        .unwrap();
    let end = sc.xml.rfind("</scenario>").unwrap();
    let te = if telephone_event { " 101" } else { "" };
    sc.xml = format!("{}{flow}{}", &sc.xml[..cut], &sc.xml[end..]).replace(
        "m=audio [media_port] RTP/AVP 0 101",
        &format!("m=audio {media_port} RTP/AVP 0{te}"),
    );
    if !telephone_event {
        sc.xml = sc
            .xml
            .replace("a=rtpmap:101 telephone-event/8000", "a=ptime:20");
    }
    assert!(
        sc.xml.contains(&format!("m=audio {media_port}")),
        "{}",
        sc.xml
    );
    let port = free_port().to_string();
    let media = ringside_e2e::even_port().to_string();
    Sipp::new(&sc, srv.sip)
        .args(&["-i", "127.0.0.1", "-p", &port, "-mp", &media])
        .args(&["-s", "1002", "-au", "1001", "-ap", PW1])
}

/// A callee (1002) answering with only `codec` at `media_port`, writing Ringside's media port
/// for it into `b_port.txt`, then waiting for the BYE.
async fn callee(srv: &Server, codec: CodecKind, media_port: u16) -> (Sipp, tokio::process::Child) {
    callee_with(srv, codec, media_port, &[], 0).await
}

/// A callee as above that also answers one re-INVITE per entry of `reinvites` with that SDP
/// direction (e.g. `recvonly` for a hold, `sendrecv` for the resume).
async fn callee_with(
    srv: &Server,
    codec: CodecKind,
    media_port: u16,
    reinvites: &[&str],
    answer_after_ms: u32,
) -> (Sipp, tokio::process::Child) {
    let port = free_port();
    let (ok, log) = srv.register("1002", PW2, port, 200, &[]).await;
    assert!(ok, "1002 registers: {log}");
    let ok_200 = format!(
        "  <nop><action><exec command=\"echo [$bport] > b_port.txt\"/></action></nop>\n  <send retrans=\"500\">\n    <![CDATA[\n      SIP/2.0 200 OK\n      [last_Via:]\n      [last_From:]\n      [last_To:];tag=[pid]uas[call_number]\n      [last_Call-ID:]\n      [last_CSeq:]\n      Contact: <sip:1002@[local_ip]:[local_port];transport=[transport]>\n      Content-Type: application/sdp\n      Content-Length: [len]\n\n      v=0\n      o=callee 1 1 IN IP[local_ip_type] [local_ip]\n      s=-\n      c=IN IP[media_ip_type] [media_ip]\n      t=0 0\n      {}\n      a=sendrecv\n\n    ]]>\n  </send>\n  <recv request=\"ACK\"/>\n@@REINVITES@@  <recv request=\"BYE\"/>\n  <send>\n    <![CDATA[\n      SIP/2.0 200 OK\n      [last_Via:]\n      [last_From:]\n      [last_To:]\n      [last_Call-ID:]\n      [last_CSeq:]\n      Content-Length: 0\n\n    ]]>\n  </send>\n",
        callee_media(codec, media_port)
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
            callee_media(codec, media_port)
        ));
    }
    let ok_200 = ok_200.replace("@@REINVITES@@", &re).replacen(
        "</nop>\n",
        &format!("</nop>\n  <pause milliseconds=\"{answer_after_ms}\"/>\n"),
        1,
    );
    let xml = include_str!("../sipp/uas.xml")
        .replace("{{FLOW}}", &ok_200)
        .replace("{{USER}}", "1002")
        .replace(
            "<ereg regexp=\"c=IN IP4",
            "<ereg regexp=\"m=audio ([0-9]+)\" search_in=\"body\" check_it=\"true\" assign_to=\"dummy2,bport\"/>\n      <ereg regexp=\"c=IN IP4",
        )
        .replace("<Reference variables=\"dummy,", "<Reference variables=\"dummy2,dummy,");
    let sipp =
        Sipp::new(&Scenario { xml }, srv.sip).args(&["-i", "127.0.0.1", "-p", &port.to_string()]);
    let child = sipp.spawn();
    tokio::time::sleep(Duration::from_millis(300)).await;
    (sipp, child)
}

async fn read_port(dir: &Path, file: &str) -> u16 {
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
struct Endpoint {
    sock: Arc<UdpSocket>,
    received: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Endpoint {
    async fn bind() -> (Endpoint, u16) {
        let sock = loop {
            let p = ringside_e2e::even_port();
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

    fn talk(
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

    /// Everything received, decoded as `codec` at 8 kHz.
    fn decoded(&self, codec: CodecKind, pt: u8) -> Vec<i16> {
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

fn assert_tone(pcm: &[i16], freq: f64, what: &str) {
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

struct Call {
    srv: Server,
    token: String,
    a: Endpoint,
    b: Endpoint,
    caller: Sipp,
    callee: (Sipp, tokio::process::Child),
    a_to: SocketAddr,
    b_to: SocketAddr,
}

async fn start_call(extra: &[(&str, &str)], callee_codec: CodecKind, talk_ms: u32) -> Call {
    let mut env = vec![("RINGSIDE_RECORD_CALLS", "true")];
    env.extend_from_slice(extra);
    let srv = Server::start_with(&env).await;
    let token = srv.with_phones().await;
    let (a, a_port) = Endpoint::bind().await;
    let (b, b_port) = Endpoint::bind().await;
    let callee = callee(&srv, callee_codec, b_port).await;
    let caller = caller(&srv, a_port, talk_ms);
    Call {
        srv,
        token,
        a,
        b,
        caller,
        callee,
        a_to: "127.0.0.1:9".parse().unwrap(),
        b_to: "127.0.0.1:9".parse().unwrap(),
    }
}

impl Call {
    async fn ports(&mut self, caller: &tokio::process::Child) {
        let _ = caller;
        self.a_to = SocketAddr::from((
            [127, 0, 0, 1],
            read_port(self.caller.dir(), "a_port.txt").await,
        ));
        self.b_to = SocketAddr::from((
            [127, 0, 0, 1],
            read_port(self.callee.0.dir(), "b_port.txt").await,
        ));
    }
}

async fn recordings_of(srv: &Server, token: &str, call_id: &str) -> serde_json::Value {
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

async fn download(srv: &Server, token: &str, url: &str) -> Vec<u8> {
    let r = reqwest::Client::new()
        .get(format!("{}{url}", srv.http))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap().to_vec()
}

fn wav_channels(bytes: &[u8]) -> (u32, Vec<i16>, Vec<i16>) {
    let mut r = hound::WavReader::new(std::io::Cursor::new(bytes)).expect("a WAV file");
    let spec = r.spec();
    assert_eq!(spec.channels, 2, "stereo");
    let s: Vec<i16> = r.samples::<i16>().map(|x| x.unwrap()).collect();
    let left = s.iter().step_by(2).copied().collect();
    let right = s.iter().skip(1).step_by(2).copied().collect();
    (spec.sample_rate, left, right)
}

async fn transcoded_call(callee_codec: CodecKind, pt: u8) {
    let mut c = start_call(&[], callee_codec, 3000).await;
    let mut caller = c.caller.spawn();
    c.ports(&caller).await;
    let frames = 125; // 2.5 s
    let ta = c.a.talk(c.a_to, CodecKind::Pcmu, 0, 1000.0, frames);
    let tb = c.b.talk(c.b_to, callee_codec, pt, 400.0, frames);
    ta.await.unwrap();
    tb.await.unwrap();
    let st = caller.wait().await.unwrap();
    assert!(
        st.success(),
        "caller: {}\nserver: {}",
        c.caller.messages(),
        c.srv.log_text()
    );
    assert!(
        c.callee.1.wait().await.unwrap().success(),
        "callee: {}",
        c.callee.0.messages()
    );

    // The callee heard the caller's 1 kHz in its own codec; the caller heard 400 Hz in PCMU.
    assert_tone(
        &c.b.decoded(callee_codec, pt),
        1000.0,
        "callee hears caller",
    );
    assert_tone(
        &c.a.decoded(CodecKind::Pcmu, 0),
        400.0,
        "caller hears callee",
    );

    // The call's record has per-leg quality, and its recording holds each side on its channel.
    let call = c.srv.ended_call(&c.token).await;
    let legs = call["legs"].as_array().unwrap();
    let rx = legs[0]["quality"]["packetsReceived"].as_i64().unwrap_or(0);
    assert!(rx >= 100, "caller leg quality: {call}");
    let id = call["id"].as_str().unwrap();
    let mut list = serde_json::Value::Null;
    for _ in 0..50 {
        list = recordings_of(&c.srv, &c.token, id).await;
        if list[0]["status"] == "complete" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rec = &list[0];
    assert_eq!(rec["status"], "complete", "{list}");
    assert_eq!(rec["channels"], 2);
    let wav = download(&c.srv, &c.token, rec["downloadUrl"].as_str().unwrap()).await;
    let (rate, left, right) = wav_channels(&wav);
    assert_eq!(rate, 8000);
    // Find the 1.5 s where both talk: the middle of the recording.
    let mid = left.len() / 2;
    let (l, r) = (
        &left[mid - 6000..mid + 6000],
        &right[mid - 6000..mid + 6000],
    );
    assert!(
        (dominant_frequency(l, 8000) - 1000.0).abs() < 15.0,
        "left is the caller"
    );
    assert!(
        (dominant_frequency(r, 8000) - 400.0).abs() < 15.0,
        "right is the callee"
    );
    assert!(rms_dbfs(l) > -20.0 && rms_dbfs(r) > -20.0);
}

#[tokio::test]
async fn pcmu_caller_to_pcma_only_callee_is_transcoded_and_recorded() {
    transcoded_call(CodecKind::Pcma, 8).await;
}

#[tokio::test]
async fn pcmu_caller_to_opus_only_callee_is_transcoded_and_recorded() {
    transcoded_call(CodecKind::Opus, 111).await;
}

#[tokio::test]
async fn pcmu_caller_to_g722_only_callee_is_transcoded_and_recorded() {
    transcoded_call(CodecKind::G722, 9).await;
}

fn tool_reads(tool: &str, args: &[&str], path: &Path) -> Option<String> {
    let out = std::process::Command::new(tool)
        .args(args)
        .arg(path)
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "{tool} cannot read {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).to_string())
}

/// kill -9 in the middle of a recorded call: after a restart the WAV is readable (by sox and
/// ffprobe too) and holds the audio up to about a second before the kill.
#[tokio::test]
async fn recording_survives_kill_9() {
    let mut c = start_call(&[], CodecKind::Pcmu, 20_000).await;
    let mut caller = c.caller.spawn();
    c.ports(&caller).await;
    let ta = c.a.talk(c.a_to, CodecKind::Pcmu, 0, 1000.0, 200); // 4 s
    let tb = c.b.talk(c.b_to, CodecKind::Pcmu, 0, 400.0, 200);
    ta.await.unwrap();
    tb.await.unwrap();
    let data_dir: PathBuf = c.srv.data_dir.clone();
    c.srv.kill(); // SIGKILL: no chance to finish the file
    let _ = caller.kill().await;
    let _ = c.callee.1.kill().await;

    let srv = Server::start_in(data_dir.clone(), &[("RINGSIDE_RECORD_CALLS", "true")]).await;
    let (st, calls) = srv.api("GET", "/api/v1/calls", &c.token, None).await;
    assert_eq!(st, 200, "{calls}");
    let id = calls[0]["id"]
        .as_str()
        .expect("the call is stored")
        .to_string();
    let list = recordings_of(&srv, &c.token, &id).await;
    let rec = &list[0];
    assert_eq!(rec["status"], "repaired", "{list}");
    let dur = rec["durationMs"].as_i64().unwrap();
    assert!(
        dur >= 3000,
        "holds the audio up to ~1 s before the kill: {dur} ms"
    );
    let wav = download(&srv, &c.token, rec["downloadUrl"].as_str().unwrap()).await;
    let (_, left, right) = wav_channels(&wav);
    let mid = left.len() / 2;
    assert!((dominant_frequency(&left[mid - 4000..mid + 4000], 8000) - 1000.0).abs() < 15.0);
    assert!((dominant_frequency(&right[mid - 4000..mid + 4000], 8000) - 400.0).abs() < 15.0);
    // Outside tools read the repaired file.
    let file = std::fs::read_dir(data_dir.join("recordings"))
        .unwrap()
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "wav"))
        .expect("a recording file");
    if let Some(info) = tool_reads("sox", &["--i", "-D"], &file) {
        let secs: f64 = info.trim().parse().unwrap();
        assert!(secs >= 3.0, "sox duration {secs}");
    }
    if let Some(info) = tool_reads(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ],
        &file,
    ) {
        let secs: f64 = info.trim().parse().unwrap();
        assert!(secs >= 3.0, "ffprobe duration {secs}");
    }
}

/// RFC 4733 digits sent by sipp (the sip-tester pcaps for 1, 5 and 9; each ends with three
/// redundant end packets) are detected exactly once each.
#[tokio::test]
async fn rfc4733_digits_from_sipp_are_detected_once_each() {
    let srv = Server::start().await;
    let _token = srv.with_phones().await;
    let (_b, b_port) = Endpoint::bind().await;
    let (_a, a_port) = Endpoint::bind().await;
    let mut callee = callee(&srv, CodecKind::Pcmu, b_port).await;
    let mut middle = String::new();
    for d in ["1", "5", "9"] {
        middle.push_str(&format!(
            "  <nop><action><exec play_pcap_audio=\"/usr/share/sip-tester/dtmf_2833_{d}.pcap\"/></action></nop>\n  <pause milliseconds=\"700\"/>\n"
        ));
    }
    let caller = caller_with(&srv, a_port, &middle, true);
    let (ok, log) = caller.run().await;
    assert!(ok, "caller: {log}\nserver: {}", srv.log_text());
    assert!(
        callee.1.wait().await.unwrap().success(),
        "callee: {}",
        callee.0.messages()
    );
    assert_eq!(
        srv.metric("ringside_dtmf_rfc4733_digits_total", "").await,
        3.0,
        "three key presses, each reported once; log: {}",
        srv.log_text()
    );
    let log = srv.log_text();
    let digits: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("DTMF (RFC 4733)"))
        .filter_map(|l| l.split("digit=").nth(1)?.split_whitespace().next())
        .collect();
    assert_eq!(digits, vec!["1", "5", "9"], "{log}");
}

/// Caller puts the call on hold (re-INVITE sendonly): the callee hears Ringside's hold music
/// instead of the caller, and the caller again after the resume (re-INVITE sendrecv).
#[tokio::test]
async fn hold_plays_hold_music_to_the_other_side() {
    let srv = Server::start().await;
    let _token = srv.with_phones().await;
    let (a, a_port) = Endpoint::bind().await;
    let (b, b_port) = Endpoint::bind().await;
    let mut callee = callee_with(&srv, CodecKind::Pcmu, b_port, &["recvonly", "sendrecv"], 0).await;
    let sdp_port = |x: String| x.replace("m=audio [media_port]", &format!("m=audio {a_port}"));
    let middle = format!(
        "  <pause milliseconds=\"1500\"/>\n{}  <recv response=\"100\" optional=\"true\"/>\n  <recv response=\"200\"/>\n{}  <pause milliseconds=\"2000\"/>\n{}  <recv response=\"100\" optional=\"true\"/>\n  <recv response=\"200\"/>\n{}  <pause milliseconds=\"1500\"/>\n",
        sdp_port(uac_in_dialog("INVITE", 3, Some("sendonly"))),
        uac_ack(3),
        sdp_port(uac_in_dialog("INVITE", 4, Some("sendrecv"))),
        uac_ack(4),
    );
    let caller = caller_with(&srv, a_port, &middle, false);
    let mut child = caller.spawn();
    let a_to = SocketAddr::from(([127, 0, 0, 1], read_port(caller.dir(), "a_port.txt").await));
    let _b_to = read_port(callee.0.dir(), "b_port.txt").await;
    let talk = a.talk(a_to, CodecKind::Pcmu, 0, 1000.0, 250); // 5 s of 1 kHz
    talk.await.unwrap();
    assert!(
        child.wait().await.unwrap().success(),
        "caller: {}\nserver: {}",
        caller.messages(),
        srv.log_text()
    );
    assert!(
        callee.1.wait().await.unwrap().success(),
        "callee: {}",
        callee.0.messages()
    );
    // Classify what the callee heard, 100 ms at a time: the caller's tone or something else
    // audible (the hold music).
    let pcm = b.decoded(CodecKind::Pcmu, 0);
    let kinds: Vec<char> = pcm
        .chunks(800)
        .filter(|c| c.len() == 800)
        .map(|c| {
            if rms_dbfs(c) < -45.0 {
                '.'
            } else if (dominant_frequency(c, 8000) - 1000.0).abs() < 30.0 {
                'T'
            } else {
                'M'
            }
        })
        .collect();
    let seq: String = kinds.iter().collect();
    let first_m = seq
        .find('M')
        .unwrap_or_else(|| panic!("no hold music heard: {seq}"));
    let last_m = seq.rfind('M').unwrap();
    assert!(
        seq[..first_m].contains("TTTT"),
        "caller heard before the hold: {seq}"
    );
    assert!(last_m - first_m >= 12, "about 2 s of hold music: {seq}");
    let held = &seq[first_m..=last_m];
    assert!(
        !held.contains("TT"),
        "the caller's audio is not forwarded while held: {seq}"
    );
    assert!(
        seq[last_m..].contains("TTTT"),
        "caller heard again after the resume: {seq}"
    );
    drop(a);
}

/// With RINGSIDE_RINGBACK=us the callee's 180 becomes a 183 with Ringside's SDP and the caller
/// hears Ringside's US ringback (440+480 Hz) until the callee answers, then the callee.
#[tokio::test]
async fn generated_ringback_plays_to_the_caller_until_the_answer() {
    let srv = Server::start_with(&[("RINGSIDE_RINGBACK", "us")]).await;
    let _token = srv.with_phones().await;
    let (a, a_port) = Endpoint::bind().await;
    let (b, b_port) = Endpoint::bind().await;
    let mut callee = callee_with(&srv, CodecKind::Pcma, b_port, &[], 2000).await;
    let caller = caller_with(&srv, a_port, "  <pause milliseconds=\"2500\"/>\n", false);
    let mut child = caller.spawn();
    let b_to = SocketAddr::from((
        [127, 0, 0, 1],
        read_port(callee.0.dir(), "b_port.txt").await,
    ));
    // a_port.txt is written once the caller has the 200 OK.
    let _ = read_port(caller.dir(), "a_port.txt").await;
    b.talk(b_to, CodecKind::Pcma, 8, 400.0, 100).await.unwrap();
    assert!(
        child.wait().await.unwrap().success(),
        "caller: {}\nserver: {}",
        caller.messages(),
        srv.log_text()
    );
    assert!(
        callee.1.wait().await.unwrap().success(),
        "callee: {}",
        callee.0.messages()
    );
    assert!(
        caller.messages().contains("SIP/2.0 183"),
        "{}",
        caller.messages()
    );
    let pcm = a.decoded(CodecKind::Pcmu, 0);
    assert!(pcm.len() >= 8000 * 3, "{} samples", pcm.len());
    // Before the answer (~2 s): ringback, both 440 and 480 Hz present.
    let ring = &pcm[800..12_000];
    let f = dominant_frequency(ring, 8000);
    assert!(
        (430.0..=490.0).contains(&f),
        "ringback heard before the answer: {f} Hz"
    );
    assert!(rms_dbfs(ring) > -30.0, "ringback level {}", rms_dbfs(ring));
    // After it, the callee's 400 Hz (PCMA transcoded to the caller's PCMU).
    let tail = &pcm[pcm.len() - 8000..];
    let f = dominant_frequency(tail, 8000);
    assert!(
        (f - 400.0).abs() < 15.0,
        "callee heard after the answer: {f} Hz"
    );
}

/// DTMF as SIP INFO (application/dtmf-relay) from the caller is recognised (counted once per
/// INFO) and still reaches the callee, which answers it.
#[tokio::test]
async fn sip_info_dtmf_is_recognised_and_forwarded() {
    let srv = Server::start().await;
    let _token = srv.with_phones().await;
    let (_a, a_port) = Endpoint::bind().await;
    let (_b, b_port) = Endpoint::bind().await;
    let mut callee = callee_with(&srv, CodecKind::Pcmu, b_port, &["INFO", "INFO"], 0).await;
    let info = |cseq: u32, digit: &str| {
        format!(
            "  <send retrans=\"500\">\n    <![CDATA[\n      INFO [next_url] SIP/2.0\n      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport\n      From: \"Caller\" <sip:1001@[remote_ip]>;tag=[pid]uac[call_number]\n      To: <sip:[service]@[remote_ip]>[peer_tag_param]\n      Call-ID: [call_id]\n      CSeq: {cseq} INFO\n      Max-Forwards: 70\n      Content-Type: application/dtmf-relay\n      Content-Length: [len]\n\n      Signal={digit}\n      Duration=160\n\n    ]]>\n  </send>\n  <recv response=\"200\"/>\n"
        )
    };
    let middle = format!(
        "  <pause milliseconds=\"300\"/>\n{}{}",
        info(3, "7"),
        info(4, "#")
    );
    // The BYE follows the two INFOs.
    let caller = caller_with(&srv, a_port, &middle, false);
    let (ok, log) = caller.run().await;
    assert!(ok, "caller: {log}\nserver: {}", srv.log_text());
    assert!(
        callee.1.wait().await.unwrap().success(),
        "callee: {}",
        callee.0.messages()
    );
    assert_eq!(
        srv.metric("ringside_sip_info_dtmf_digits_total", "").await,
        2.0
    );
    let log = srv.log_text();
    let digits: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("DTMF (SIP INFO)"))
        .filter_map(|l| l.split("digit=").nth(1)?.split_whitespace().next())
        .collect();
    assert_eq!(digits, vec!["7", "#"], "{log}");
}
