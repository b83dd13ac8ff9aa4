//! Media through a real `ringside serve`: transcoding between legs that share no codec, call
//! recording, and crash safety of recordings. sipp does the signalling; the media endpoints are
//! UDP sockets in this test that send a known tone and judge what arrives as audio.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ringside_e2e::media::{
    assert_tone, callee, callee_with, download, read_port, recordings_of, wav_channels, Endpoint,
};
use ringside_e2e::{
    eventually, free_port, uac_ack, uac_in_dialog, Scenario, Server, Sipp, UacFlow, PW1,
};
use ringside_media::codec::analysis::{dominant_frequency, rms_dbfs};
use ringside_media::codec::frame::CodecKind;
use ringside_media::rtp::packet::RtpPacket;

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
    caller_sipp(srv, &caller_scenario(media_port, middle, telephone_event))
}

/// sipp running `sc` as 1001 calling 1002.
fn caller_sipp(srv: &Server, sc: &Scenario) -> Sipp {
    let port = free_port().to_string();
    let media = ringside_e2e::even_port().to_string();
    Sipp::new(sc, srv.sip)
        .args(&["-i", "127.0.0.1", "-p", &port, "-mp", &media])
        .args(&["-s", "1002", "-au", "1001", "-ap", PW1])
}

/// The scenario of [`caller_with`].
fn caller_scenario(media_port: u16, middle: &str, telephone_event: bool) -> Scenario {
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
    sc
}

/// A caller as [`caller_with`] whose INVITEs carry no SDP (a delayed offer): it takes
/// Ringside's offer from the 200 and answers PCMA (payload type 8) at `media_port` in its ACK.
fn late_offer_caller(srv: &Server, media_port: u16, talk_ms: u32) -> Sipp {
    let mut sc = caller_scenario(
        media_port,
        &format!("  <pause milliseconds=\"{talk_ms}\"/>\n"),
        false,
    );
    let mut xml = std::mem::take(&mut sc.xml);
    // Every INVITE loses its body.
    let mut out = String::new();
    while let Some(i) = xml.find("Content-Type: application/sdp") {
        let is_invite = xml[..i]
            .rfind("<send")
            .is_some_and(|s| xml[s..i].contains(" INVITE\n"));
        let end = xml[i..].find("]]>").map_or(xml.len(), |e| i + e);
        out.push_str(&xml[..i]);
        if is_invite {
            out.push_str("Content-Length: 0\n\n    ");
        } else {
            out.push_str(&xml[i..end]);
        }
        xml = xml[end..].to_string();
    }
    out.push_str(&xml);
    // The ACK answers Ringside's offer.
    let plain_ack = uac_ack(2);
    assert!(out.contains(&plain_ack), "{out}");
    let answer = format!(
        "Content-Type: application/sdp\n      Content-Length: [len]\n\n      v=0\n      o=caller 1 1 IN IP4 [local_ip]\n      s=-\n      c=IN IP4 [media_ip]\n      t=0 0\n      m=audio {media_port} RTP/AVP 8\n      a=rtpmap:8 PCMA/8000\n      a=sendrecv\n"
    );
    let ack = plain_ack.replace("Content-Length: 0\n", &answer);
    sc.xml = out.replace(&plain_ack, &ack);
    assert!(!sc.xml.contains("RTP/AVP 0\n"), "no offer left: {}", sc.xml);
    caller_sipp(srv, &sc)
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

/// A caller's delayed offer (RFC 3261 13.2.1) through a real server: its INVITE has no SDP,
/// the callee rings with Ringside's offer and answers PCMU; the caller's 200 carries
/// Ringside's offer and the caller answers PCMA in its ACK. Both hear each other: 1 kHz from
/// the caller in PCMA reaches the callee as PCMU, 400 Hz the other way.
#[tokio::test]
async fn a_delayed_offer_is_answered_in_the_ack_and_bridged() {
    let srv = Server::start().await;
    let _token = srv.with_phones().await;
    let (a, a_port) = Endpoint::bind().await;
    let (b, b_port) = Endpoint::bind().await;
    let mut callee = callee(&srv, CodecKind::Pcmu, b_port).await;
    let caller = late_offer_caller(&srv, a_port, 3000);
    let mut child = caller.spawn();
    let a_to = SocketAddr::from(([127, 0, 0, 1], read_port(caller.dir(), "a_port.txt").await));
    let b_to = SocketAddr::from((
        [127, 0, 0, 1],
        read_port(callee.0.dir(), "b_port.txt").await,
    ));
    let frames = 125;
    let ta = a.talk(a_to, CodecKind::Pcma, 8, 1000.0, frames);
    let tb = b.talk(b_to, CodecKind::Pcmu, 0, 400.0, frames);
    ta.await.unwrap();
    tb.await.unwrap();
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
        caller.messages().contains("INVITE sip:1002") && !caller.messages().contains("SIP/2.0 488"),
        "{}",
        caller.messages()
    );
    assert_tone(
        &b.decoded(CodecKind::Pcmu, 0),
        1000.0,
        "callee hears caller",
    );
    assert_tone(&a.decoded(CodecKind::Pcma, 8), 400.0, "caller hears callee");
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
/// ffprobe too) and holds the audio up to about a second before the kill; the call record is
/// closed. On SQLite and on PostgreSQL.
#[tokio::test]
async fn recording_survives_kill_9() {
    recording_survives_kill_9_on(&[]).await;
}

#[tokio::test]
async fn recording_survives_kill_9_on_postgres() {
    let Some(schema) = ringside_e2e::postgres_schema().await else {
        return;
    };
    recording_survives_kill_9_on(&[("RINGSIDE_DATABASE_URL", schema.url.as_str())]).await;
    schema.drop_schema().await.unwrap();
}

async fn recording_survives_kill_9_on(env: &[(&str, &str)]) {
    let mut c = start_call(env, CodecKind::Pcmu, 20_000).await;
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

    let env = [env, &[("RINGSIDE_RECORD_CALLS", "true")][..]].concat();
    let srv = Server::start_in(data_dir.clone(), &env).await;
    let (st, calls) = srv.api("GET", "/api/v1/calls", &c.token, None).await;
    assert_eq!(st, 200, "{calls}");
    assert_eq!(calls[0]["status"], "ended", "{calls}");
    assert_eq!(calls[0]["endReason"], "server_restart", "{calls}");
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

/// The caller's part of a call put on hold: `talk_ms`, a re-INVITE sendonly (hold), `held_ms`,
/// a re-INVITE sendrecv (resume) offering media at `a_port`, `after_ms`.
fn hold_and_resume(a_port: u16, talk_ms: u32, held_ms: u32, after_ms: u32) -> String {
    let sdp_port = |x: String| x.replace("m=audio [media_port]", &format!("m=audio {a_port}"));
    let answered = "  <recv response=\"100\" optional=\"true\"/>\n  <recv response=\"200\"/>\n";
    format!(
        "  <pause milliseconds=\"{talk_ms}\"/>\n{}{answered}{}  <pause milliseconds=\"{held_ms}\"/>\n{}{answered}{}  <pause milliseconds=\"{after_ms}\"/>\n",
        sdp_port(uac_in_dialog("INVITE", 3, Some("sendonly"))),
        uac_ack(3),
        sdp_port(uac_in_dialog("INVITE", 4, Some("sendrecv"))),
        uac_ack(4),
    )
}

/// What a side heard, 100 ms at a time: `.` silence, `T` the tone at `freq`, `M` anything else
/// audible (hold music).
fn heard(pcm: &[i16], freq: f64) -> String {
    pcm.chunks(800)
        .filter(|c| c.len() == 800)
        .map(|c| {
            if rms_dbfs(c) < -45.0 {
                '.'
            } else if (dominant_frequency(c, 8000) - freq).abs() < 30.0 {
                'T'
            } else {
                'M'
            }
        })
        .collect()
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
    let middle = hold_and_resume(a_port, 1500, 2000, 1500);
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
    let seq = heard(&pcm, 1000.0);
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

/// Both sides talk through Ringside with the kernel fast path `mode` (`auto`: on, as the test
/// command runs as root; `off`): the caller holds (re-INVITE sendonly) and resumes.
/// - Each side hears the other (the callee Ringside's hold music while held), over one stream
///   per side with no duplicate and no gap in its sequence numbers.
/// - The call record counts every packet each side sent, whether the kernel or userspace
///   forwarded it.
/// - A stranger's packets to the caller's media port are dropped and counted.
/// - With the fast path, the call is in the kernel before the hold, back in userspace for the
///   hold music, in the kernel again after the resume, and no rule is left once it ends.
async fn relayed_call_with_the_fast_path(mode: &str) {
    let srv = Server::start_with(&[("RINGSIDE_MEDIA_FASTPATH", mode)]).await;
    let fast = srv.metric("ringside_media_fastpath_enabled", "").await == 1.0;
    if mode == "off" {
        assert!(!fast);
    } else if std::env::var_os("RINGSIDE_REQUIRE_FASTPATH").is_some() {
        assert!(
            fast,
            "the fast path is on in the test command: {}",
            srv.log_text()
        );
    }
    let token = srv.with_phones().await;
    let (a, a_port) = Endpoint::bind().await;
    let (b, b_port) = Endpoint::bind().await;
    let mut callee = callee_with(&srv, CodecKind::Pcmu, b_port, &["recvonly", "sendrecv"], 0).await;
    let middle = hold_and_resume(a_port, 3000, 2500, 3500);
    let caller = caller_with(&srv, a_port, &middle, false);
    let mut child = caller.spawn();
    let a_to = SocketAddr::from(([127, 0, 0, 1], read_port(caller.dir(), "a_port.txt").await));
    let b_to = SocketAddr::from((
        [127, 0, 0, 1],
        read_port(callee.0.dir(), "b_port.txt").await,
    ));
    // 8 s each way, within the 9 s of the call.
    let frames = 400;
    let ta = a.talk(a_to, CodecKind::Pcmu, 0, 1000.0, frames);
    let tb = b.talk(b_to, CodecKind::Pcmu, 0, 600.0, frames);
    // Before the hold: steady, so in the kernel. A stranger sends to the caller's port.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    if fast {
        assert_eq!(srv.metric("ringside_media_fastpath_calls", "").await, 1.0);
        assert_eq!(srv.metric("ringside_media_fastpath_rules", "").await, 4.0);
    }
    let foreign = srv.metric("ringside_rtp_dropped_foreign_total", "").await;
    let stranger = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for k in 0..5u16 {
        let mut p = vec![0x80, 0, 0, k as u8, 0, 0, 0, 0, 0x12, 0x34, 0, 0];
        p.extend_from_slice(&[0xff; 160]);
        stranger.send_to(&p, a_to).await.unwrap();
    }
    eventually("the stranger's packets dropped and counted", || async {
        srv.metric("ringside_rtp_dropped_foreign_total", "").await >= foreign + 5.0
    })
    .await;
    if fast {
        assert!(
            srv.metric(
                "ringside_media_fastpath_punted_total",
                "{reason=\"source\"}"
            )
            .await
                >= 5.0
        );
        assert_eq!(
            srv.metric("ringside_media_fastpath_calls", "").await,
            1.0,
            "a stranger does not take the call out of the kernel"
        );
    }
    ta.await.unwrap();
    tb.await.unwrap();
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

    // What the callee heard, 100 ms at a time: the caller's tone (T), the hold music (M).
    let pcm = b.decoded(CodecKind::Pcmu, 0);
    let seq = heard(&pcm, 1000.0);
    let first_m = seq
        .find('M')
        .unwrap_or_else(|| panic!("no hold music: {seq}"));
    let last_m = seq.rfind('M').unwrap();
    assert!(
        seq[..first_m].contains(&"T".repeat(20)),
        "before the hold: {seq}"
    );
    assert!(last_m - first_m >= 15, "the hold music: {seq}");
    assert!(
        seq[last_m..].contains(&"T".repeat(20)),
        "after the resume: {seq}"
    );
    assert_tone(
        &a.decoded(CodecKind::Pcmu, 0),
        600.0,
        "the caller hears the callee",
    );
    // One stream each: within each SSRC, every sequence number once and none missing.
    for (who, e) in [("callee", &b), ("caller", &a)] {
        let packets = e.received.lock().unwrap().clone();
        let mut gaps = 0;
        let mut seen = std::collections::HashSet::new();
        for w in packets.windows(2) {
            let (p, q) = (
                RtpPacket::parse(&w[0]).unwrap(),
                RtpPacket::parse(&w[1]).unwrap(),
            );
            assert!(seen.insert((q.ssrc(), q.sequence())), "{who}: a duplicate");
            if p.ssrc() == q.ssrc() && q.sequence() != p.sequence().wrapping_add(1) {
                gaps += 1;
            }
        }
        assert_eq!(gaps, 0, "{who}: a gap in its stream");
    }

    // The record counts every packet each side sent (the first ones until the source is
    // validated, RFC 3550 A.1, are not).
    let call = srv.ended_call(&token).await;
    let legs = call["legs"].as_array().unwrap();
    for (i, leg) in legs.iter().enumerate().take(2) {
        let rx = leg["quality"]["packetsReceived"].as_i64().unwrap_or(0);
        assert!(
            (frames as i64 - 2..=frames as i64).contains(&rx),
            "leg {i} received {rx} of {frames}: {call}"
        );
        assert_eq!(leg["quality"]["packetsLost"], 0, "{call}");
    }
    if fast {
        assert!(
            srv.metric("ringside_media_fastpath_offloads_total", "")
                .await
                >= 2.0
        );
        assert!(
            srv.metric("ringside_media_fastpath_reclaims_total", "")
                .await
                >= 1.0
        );
        assert!(
            srv.metric("ringside_media_fastpath_packets_total", "")
                .await
                >= 300.0
        );
        eventually("no rule left once the call ended", || async {
            srv.metric("ringside_media_fastpath_rules", "").await == 0.0
                && srv.metric("ringside_media_fastpath_calls", "").await == 0.0
        })
        .await;
    } else {
        assert_eq!(
            srv.metric("ringside_media_fastpath_packets_total", "")
                .await,
            0.0
        );
    }
}

#[tokio::test]
async fn a_relayed_call_goes_through_the_kernel_fast_path_and_back_for_hold() {
    relayed_call_with_the_fast_path("auto").await;
}

#[tokio::test]
async fn the_same_call_without_the_fast_path() {
    relayed_call_with_the_fast_path("off").await;
}
