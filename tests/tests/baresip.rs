//! A real softphone against a real `ringside serve`: baresip (built on libre, an SIP stack
//! independent of Ringside's and of sipp's), run headless on loopback, registers as extension
//! 1002 and auto-answers a call that sipp places as 1001 through Ringside.
//!
//! What this proves, beyond the sipp-only tests in `sip_calls.rs`:
//! - a real phone gets through Ringside's digest challenge and is bound as a contact, and its
//!   un-REGISTER on shutdown removes the binding;
//! - the INVITE that Ringside sends to the registered contact is accepted and answered by that
//!   stack, and the 200 OK / ACK / BYE exchange completes the dialog on both legs;
//! - media goes through Ringside's relay both ways: each side sees only the relay in SDP,
//!   baresip's 1 kHz tone (its "microphone") is relayed towards sipp, and the RFC 4733 DTMF
//!   digit in sipp's pcap reaches baresip, which decodes it as '1';
//! - the call record ends up answered and then ended by the caller.
//!
//! With SRTP: two baresip phones over TLS, SDES-keyed and DTLS-keyed (each way), each hearing
//! the other's tone after decrypting it. Linphone, the second softphone: `linphone.rs`.
//!
//! Digest algorithm: the installed baresip 1.0.0 / libre 1.1.0 (Debian) only implements MD5.
//! It does not skip a challenge it cannot answer: as soon as *any* WWW-Authenticate in the 401
//! names another algorithm (SHA-256 first or second), it gives up with "Register: Function not
//! implemented". So its extension is set to MD5 alone (`digestAlgorithms`), while the server
//! keeps challenging every other account with SHA-256 and MD5.

use ringside_e2e::baresip::*;
use ringside_e2e::{even_port, eventually, free_port, Scenario, Server, Sipp, UacFlow, PW1, PW2};

/// RTP packets in sipp's `dtmf_2833_1.pcap` (telephone-events only, no audio). Everything the
/// relay forwards beyond these came from baresip.
const PCAP_PACKETS: f64 = 10.0;

/// The server's and the phone's logs, for failure messages.
fn logs(srv: &Server, phone: &Baresip) -> String {
    format!(
        "\n== baresip:\n{}\n== server:\n{}",
        phone.log_text(),
        srv.log_text()
    )
}

/// Challenge extension 1002 in MD5 alone (baresip 1.0 gives up on anything else).
async fn md5_only(srv: &Server, token: &str) {
    let body = srv
        .patch_extension(
            token,
            "1002",
            serde_json::json!({"digestAlgorithms": ["MD5"]}),
        )
        .await;
    assert_eq!(body["digestAlgorithms"], serde_json::json!(["MD5"]));
}

#[tokio::test]
async fn baresip_registers_and_answers_a_call_through_ringside() {
    let srv = Server::start().await;
    let token = srv.with_phones().await;
    // The phone's extension alone is challenged in MD5.
    md5_only(&srv, &token).await;

    // baresip registers as 1002, answering the digest challenge.
    let phone = Baresip::start(&srv, "1002", PW2);
    eventually("baresip registered as 1002", || async {
        srv.metric("ringside_sip_registrations", "").await == 1.0
    })
    .await;
    let log = phone.log_text();
    assert!(
        log.contains("SIP/2.0 401 Unauthorized") && log.contains("Authorization: Digest"),
        "baresip was challenged and answered with credentials{}",
        logs(&srv, &phone)
    );
    // Its challenge named MD5 alone; the server's own setting still has SHA-256 (sipp's 1001
    // below is challenged with both).
    let challenge = message(&log, "SIP/2.0 401", &["WWW-Authenticate"]).unwrap_or_default();
    assert!(
        challenge.contains("algorithm=MD5") && !challenge.contains("SHA-256"),
        "{challenge}{}",
        logs(&srv, &phone)
    );
    let invite = called_with_audio(&srv, &token, phone).await;
    assert!(invite.contains("Via: SIP/2.0/UDP"), "{invite}");
}

#[tokio::test]
async fn baresip_registers_over_tls_and_is_called_on_its_tls_connection_with_audio() {
    let (srv, tls, ca, token) = ringside_e2e::tls::tls_phones().await;
    md5_only(&srv, &token).await;

    let phone = Baresip::start_on(&srv, "1002", PW2, &Link::Tls { addr: tls, ca });
    eventually("baresip registered as 1002 over TLS", || async {
        srv.metric("ringside_sip_registrations", "").await == 1.0
    })
    .await;
    let log = phone.log_text();
    assert!(
        message(&log, "REGISTER sip:", &["Via: SIP/2.0/TLS"]).is_some(),
        "baresip registered over TLS{}",
        logs(&srv, &phone)
    );
    // The call to it goes down the connection it registered on: no connection to the phone
    // is opened (it listens for TLS nowhere Ringside knows of).
    let invite = called_with_audio(&srv, &token, phone).await;
    assert!(
        invite.contains(&format!("Via: SIP/2.0/TLS 127.0.0.1:{}", tls.port())),
        "{invite}"
    );
    assert_eq!(
        srv.metric("ringside_sip_tls_failures_total", "").await,
        0.0,
        "no TLS connection was refused either way"
    );
}

/// sipp calls 1002 (`phone`, registered) as 1001 over UDP with an RFC 4733 digit; checks
/// the signalling, the media both ways, the call record, the un-REGISTER and the tone the
/// phone sent; returns the INVITE the phone got.
async fn called_with_audio(srv: &Server, token: &str, mut phone: Baresip) -> String {
    // sipp calls 1002 as 1001: baresip answers, sipp plays its pcap and hangs up.
    let sipp_media = even_port();
    let caller = Sipp::new(
        &Scenario::uac("1001", true, UacFlow::AnswerAndHangUp),
        srv.sip,
    )
    .args(&[
        "-i",
        "127.0.0.1",
        "-p",
        &free_port().to_string(),
        "-mp",
        &sipp_media.to_string(),
        "-s",
        "1002",
        "-au",
        "1001",
        "-ap",
        PW1,
    ]);
    let (ok, msgs) = caller.run().await;
    assert!(ok, "caller: {msgs}{}", logs(srv, &phone));

    // Signalling: the INVITE reached baresip, which answered; each side got the relay's
    // address in SDP, never the other phone's.
    let blog = phone.log_text();
    let invite = message(&blog, "INVITE sip:1002", &["m=audio"])
        .unwrap_or_else(|| panic!("baresip got an INVITE with SDP{}", logs(srv, &phone)));
    let invite_text = invite.to_owned();
    let (ip, relay_to_phone) = sdp_audio(invite);
    assert_eq!(ip, "127.0.0.1", "{invite}");
    assert_ne!(
        relay_to_phone, sipp_media,
        "baresip sees the relay: {invite}"
    );
    assert!(
        message(&blog, "SIP/2.0 200", &["INVITE", "m=audio"]).is_some(),
        "baresip answered with SDP{}",
        logs(srv, &phone)
    );
    let answer = message(&msgs, "SIP/2.0 200 OK", &["INVITE", "m=audio"])
        .unwrap_or_else(|| panic!("sipp got a 200 OK with SDP: {msgs}"));
    let (ip, relay_to_sipp) = sdp_audio(answer);
    assert_eq!(ip, "127.0.0.1", "{answer}");
    assert_ne!(
        relay_to_sipp, phone.rtp_port,
        "sipp sees the relay: {answer}"
    );

    // Media, sipp -> baresip: the DTMF digit in sipp's pcap came to baresip from the relay.
    eventually("baresip decoded the DTMF digit sipp sent", || async {
        phone.log_text().contains("received event: '1'")
    })
    .await;
    assert!(
        phone
            .log_text()
            .contains(&format!("receiving from 127.0.0.1:{relay_to_phone}")),
        "baresip's RTP came from the relay port it was offered{}",
        logs(srv, &phone)
    );
    // Media, baresip -> sipp: the relay forwarded far more than the pcap's packets, i.e.
    // baresip's audio (50 packets a second for the ~2.5 s the call lasts).
    let forwarded = srv.metric("ringside_rtp_forwarded_packets_total", "").await;
    assert!(
        forwarded >= PCAP_PACKETS + 50.0,
        "baresip's RTP relayed to sipp as well as sipp's to baresip: {forwarded} forwarded{}",
        logs(srv, &phone)
    );
    assert_eq!(
        srv.metric("ringside_rtp_dropped_foreign_total", "").await,
        0.0,
        "no packet from either phone was refused by the relay"
    );

    // The call record.
    let call = srv.ended_call(token).await;
    assert_eq!(call["status"], "ended", "{call:#}");
    assert_eq!(call["hangupSide"], "caller", "{call:#}");
    assert!(call["answeredAt"].is_i64(), "{call:#}");
    let legs = call["legs"].as_array().expect("legs");
    assert_eq!(legs.len(), 2, "{call:#}");
    let callee = legs
        .iter()
        .find(|l| l["role"] == "callee")
        .expect("callee leg");
    assert_eq!(callee["finalStatus"], 200, "{call:#}");
    assert!(callee["answeredAt"].is_i64(), "{call:#}");
    assert_eq!(srv.metric("ringside_calls_active", "").await, 0.0);
    eventually("relay freed", || async {
        srv.metric("ringside_media_relays_active", "").await == 0.0
    })
    .await;

    // baresip un-REGISTERs when asked to quit.
    phone.stop().await;
    eventually("baresip's binding removed", || async {
        srv.metric("ringside_sip_registrations", "").await == 0.0
    })
    .await;

    // What baresip sent (recorded before encoding; closed, so complete, now that it exited):
    // over a second of the tone. Its decode-side recording (`*-dec.wav`) stays empty: sipp's
    // pcap carries telephone-events only, no audio.
    let enc = recording(&phone.snd_dir(), "-enc.wav")
        .unwrap_or_else(|| panic!("sndfile recorded the call{}", logs(srv, &phone)));
    let samples = wav_samples(&enc);
    assert!(
        samples.len() >= 8000,
        "over a second of audio sent: {} samples in {}",
        samples.len(),
        enc.display()
    );
    let crossings = samples
        .windows(2)
        .filter(|w| (w[0] < 0) != (w[1] < 0))
        .count();
    let hz = crossings as f64 * 8000.0 / 2.0 / samples.len() as f64;
    assert!(
        (f64::from(TONE_HZ) * 0.9..f64::from(TONE_HZ) * 1.1).contains(&hz),
        "baresip sent its {TONE_HZ} Hz tone, measured {hz:.0} Hz in {}",
        enc.display()
    );
    let peak = samples.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
    assert!(peak >= 8000, "the tone is loud enough: peak {peak}");
    invite_text
}

/// The `a=crypto` lines of a message.
fn crypto_lines(msg: &str) -> Vec<String> {
    msg.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("a=crypto:"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn two_baresip_phones_call_each_other_over_tls_with_srtp_and_hear_each_other() {
    let (srv, tls, ca, token) = ringside_e2e::tls::tls_phones().await;
    // Both phones are baresip 1.0 (MD5 only). 1002 requires SRTP; 1001 keeps the default
    // (`optional`: SRTP because its phone insists on it).
    md5_only(&srv, &token).await;
    let e1 = srv
        .patch_extension(
            &token,
            "1001",
            serde_json::json!({"digestAlgorithms": ["MD5"]}),
        )
        .await;
    assert_eq!(e1["srtp"], "optional", "{e1}");
    let e2 = srv
        .patch_extension(&token, "1002", serde_json::json!({"srtp": "required"}))
        .await;
    assert_eq!(e2["srtp"], "required", "{e2}");
    let (st, bad) = srv
        .api(
            "POST",
            "/api/v1/sip/extensions",
            &token,
            Some(serde_json::json!({"username": "1003", "password": "long-enough-1", "srtp": "sometimes"})),
        )
        .await;
    assert_eq!(st, 400, "an unknown SRTP policy is refused: {bad}");
    assert_eq!(bad["error"]["code"], "invalid_body", "{bad}");
    assert!(
        bad.to_string().contains("srtp"),
        "the error names the field: {bad}"
    );

    let call = srtp_call(&srv, tls, &ca).await;
    let both = || call.both(&srv);
    let (k_offer, k_callee, k_answer, k_caller) = call.keys(&srv);
    for k in &k_offer {
        assert!(
            !k_callee.contains(k) && !k_answer.contains(k),
            "1001's key never reaches 1002"
        );
    }
    for k in &k_answer {
        assert!(!k_caller.contains(k), "1002's key never reaches 1001");
    }
    call.check_media(&srv).await;
    assert_eq!(
        srv.metric("ringside_srtp_passthrough_packets_total", "")
            .await,
        0.0,
        "re-keyed per leg: nothing passed on as it came{}",
        both()
    );
}

/// Two baresip phones over TLS whose extensions allow SRTP passthrough: each is given the
/// other's key (the caller's key is offered to the callee first, the callee's is the caller's
/// answer), Ringside sends the encrypted packets on as they came, and each phone hears the
/// other's tone through its own SRTP stack.
#[tokio::test]
async fn with_srtp_passthrough_two_baresip_phones_get_each_others_keys_and_hear_each_other() {
    let (srv, tls, ca, token) = ringside_e2e::tls::tls_phones().await;
    md5_only(&srv, &token).await;
    // Both phones are baresip 1.0 (MD5 only) insisting on `RTP/SAVP`.
    for ext in ["1001", "1002"] {
        let e = srv
            .patch_extension(
                &token,
                ext,
                serde_json::json!({
                    "srtpPassthrough": true,
                    "srtp": "required",
                    "digestAlgorithms": ["MD5"],
                }),
            )
            .await;
        assert_eq!(e["srtpPassthrough"], true, "{e}");
    }
    let call = srtp_call(&srv, tls, &ca).await;
    let both = || call.both(&srv);
    let (k_offer, k_callee, k_answer, k_caller) = call.keys(&srv);
    assert!(
        k_offer.iter().any(|k| k_callee.first() == Some(k)),
        "1001's key is offered to 1002 first{}",
        both()
    );
    assert!(
        k_answer.iter().any(|k| k_caller.contains(k)),
        "1002's key is 1001's answer{}",
        both()
    );
    call.check_media(&srv).await;
    let passed = srv
        .metric("ringside_srtp_passthrough_packets_total", "")
        .await;
    assert!(
        passed >= 200.0,
        "{passed} packets passed on as they came{}",
        both()
    );
}

/// A finished call between 1001 and 1002 (baresip, `srtp-mand`, over TLS), with both logs.
struct SrtpCall {
    caller: Baresip,
    callee: Baresip,
    clog: String,
    elog: String,
}

/// 1002 registers and 1001 calls it, both phones insisting on SRTP (SDES) over TLS; they talk
/// (each sends its tone) and hang up.
async fn srtp_call(srv: &Server, tls: std::net::SocketAddr, ca: &std::path::Path) -> SrtpCall {
    let link = || Link::Tls {
        addr: tls,
        ca: ca.to_path_buf(),
    };
    let srtp = |tone_hz, dial| Options {
        tone_hz,
        mediaenc: Some("srtp-mand"),
        dial,
    };
    let mut callee = Baresip::start_with(srv, "1002", PW2, &link(), srtp(CALLEE_TONE_HZ, None));
    eventually("1002 registered over TLS", || async {
        srv.metric("ringside_sip_registrations", "").await == 1.0
    })
    .await;
    let dial = format!("sip:1002@{tls};transport=tls");
    let mut caller = Baresip::start_with(srv, "1001", PW1, &link(), srtp(TONE_HZ, Some(dial)));
    converse(srv, &mut caller).await;
    callee.stop().await;
    let (clog, elog) = (caller.log_text(), callee.log_text());
    SrtpCall {
        caller,
        callee,
        clog,
        elog,
    }
}

impl SrtpCall {
    fn both(&self, srv: &Server) -> String {
        format!(
            "\n== caller:\n{}\n== callee:\n{}\n== server:\n{}",
            self.clog,
            self.elog,
            srv.log_text()
        )
    }

    /// The keys (`inline:` values) of 1001's offer, of the offer 1002 got, of 1002's answer
    /// and of the answer 1001 got, in their SDP's order.
    fn keys(&self, srv: &Server) -> (Vec<String>, Vec<String>, Vec<String>, Vec<String>) {
        let (clog, elog) = (&self.clog, &self.elog);
        let offer = message(clog, "INVITE sip:1002", &["a=crypto:"])
            .unwrap_or_else(|| panic!("1001 offered SRTP{}", self.both(srv)));
        let to_callee = message(elog, "INVITE sip:1002", &["a=crypto:"])
            .unwrap_or_else(|| panic!("1002 was offered SRTP{}", self.both(srv)));
        assert!(
            to_callee.contains("RTP/SAVP"),
            "1002 insists on SRTP: {to_callee}"
        );
        let answered = message(elog, "SIP/2.0 200", &["a=crypto:"])
            .unwrap_or_else(|| panic!("1002 answered with keys{}", self.both(srv)));
        let to_caller = message(clog, "SIP/2.0 200", &["a=crypto:"])
            .unwrap_or_else(|| panic!("1001's answer has keys{}", self.both(srv)));
        let keys = |m: &str| {
            crypto_lines(m)
                .into_iter()
                .map(|l| l.split("inline:").nth(1).unwrap_or_default().to_owned())
                .collect::<Vec<_>>()
        };
        (
            keys(offer),
            keys(to_callee),
            keys(answered),
            keys(to_caller),
        )
    }

    /// Nothing forged came, few packets came before their keys, and each phone heard the
    /// other's tone, decrypted by its own SRTP stack.
    async fn check_media(&self, srv: &Server) {
        let both = || self.both(srv);
        // libre opens each RTCP port with an unprotected RTCP APP "PINGPONG" packet: dropped
        // as unauthenticated (at most one per leg). Every RTP packet authenticated: the tones
        // below were decrypted by each phone's own SRTP stack.
        let failures = srv.metric("ringside_srtp_auth_failures_total", "").await;
        assert!(
            failures <= 2.0,
            "{failures} SRTP authentication failures{}",
            both()
        );
        // 1002 may start sending before Ringside has its answer (and so its key): those first
        // packets are dropped, never relayed unauthenticated (counted apart).
        let early = srv.metric("ringside_srtp_awaiting_keys_total", "").await;
        assert!(
            early < 50.0,
            "{early} packets dropped awaiting keys{}",
            both()
        );
        assert_heard(&self.caller, CALLEE_TONE_HZ, "1001", &both);
        assert_heard(&self.callee, TONE_HZ, "1002", &both);
    }
}

/// DTLS-SRTP on a plain SIP leg (RFC 5763/5764): baresip's `dtls_srtp` offers
/// `UDP/TLS/RTP/SAVPF` with its certificate's fingerprint and `a=setup:actpass`, no ICE, and
/// runs a handshake on its RTP port and another on its RTCP port. Ringside answers with its own
/// fingerprint and `a=setup:passive`, completes both handshakes on the leg's relay ports and
/// keys the leg from them; the other phone's leg stays plain RTP, and each phone hears the
/// other's tone.
#[tokio::test]
async fn a_baresip_phone_offering_dtls_srtp_is_keyed_by_a_handshake_and_both_phones_hear_each_other(
) {
    let srv = Server::start().await;
    let token = srv.with_phones().await;
    md5_only(&srv, &token).await;
    srv.patch_extension(
        &token,
        "1001",
        serde_json::json!({"digestAlgorithms": ["MD5"]}),
    )
    .await;
    let plain = Options {
        tone_hz: CALLEE_TONE_HZ,
        mediaenc: None,
        dial: None,
    };
    let mut callee = Baresip::start_with(&srv, "1002", PW2, &Link::Udp, plain);
    eventually("1002 registered", || async {
        srv.metric("ringside_sip_registrations", "").await == 1.0
    })
    .await;
    let opts = Options {
        tone_hz: TONE_HZ,
        mediaenc: Some("dtls_srtp"),
        dial: Some(format!("sip:1002@{}", srv.sip)),
    };
    let mut caller = Baresip::start_with(&srv, "1001", PW1, &Link::Udp, opts);
    converse(&srv, &mut caller).await;
    callee.stop().await;
    let (clog, elog) = (caller.log_text(), callee.log_text());
    let both = || {
        format!(
            "\n== caller:\n{clog}\n== callee:\n{elog}\n== server:\n{}",
            srv.log_text()
        )
    };
    // Signalling: the caller offered DTLS-SRTP and was answered in kind, passive, with a
    // fingerprint that is not its own; the callee saw plain RTP and no fingerprint at all.
    let offer = message(&clog, "INVITE sip:1002", &["UDP/TLS/RTP/SAVP"])
        .unwrap_or_else(|| panic!("1001 offered DTLS-SRTP{}", both()));
    let answer = message(&clog, "SIP/2.0 200", &["a=fingerprint:"])
        .unwrap_or_else(|| panic!("1001 was answered with a fingerprint{}", both()));
    let fingerprint = |m: &str| {
        m.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix("a=fingerprint:"))
            .map(|f| f.to_ascii_lowercase())
    };
    assert!(answer.contains("UDP/TLS/RTP/SAVPF"), "{answer}");
    assert!(answer.contains("a=setup:passive"), "{answer}");
    assert_ne!(fingerprint(offer), fingerprint(answer));
    let to_callee = message(&elog, "INVITE sip:1002", &["m=audio"])
        .unwrap_or_else(|| panic!("1002 was called{}", both()));
    assert!(
        to_callee.contains("RTP/AVP") && !to_callee.contains("fingerprint"),
        "1002's leg is plain: {to_callee}"
    );
    // baresip's own account of it: both components' handshakes completed and its check of
    // Ringside's certificate against the fingerprint in the answer passed.
    for component in ["audio/RTP", "audio/RTCP"] {
        assert!(
            clog.contains(&format!("DTLS-SRTP complete ({component})")),
            "baresip completed DTLS-SRTP on {component}{}",
            both()
        );
    }
    assert!(
        clog.contains("verified sha-256 fingerprint OK"),
        "{}",
        both()
    );
    // Both of the caller's media components shook hands; nothing failed authentication.
    let handshakes = srv.metric("ringside_dtls_srtp_handshakes_total", "").await;
    assert_eq!(handshakes, 2.0, "DTLS handshakes{}", both());
    let failures = srv.metric("ringside_srtp_auth_failures_total", "").await;
    assert!(failures <= 2.0, "{failures} SRTP failures{}", both());

    // Audio as audio: each phone heard the other's tone; the caller's decrypted by its own
    // DTLS-keyed SRTP stack.
    assert_heard(&caller, CALLEE_TONE_HZ, "1001", &both);
    assert_heard(&callee, TONE_HZ, "1002", &both);
}

/// A phone that keys media by DTLS-SRTP alone: its extension's `srtp` is `dtls`, so Ringside
/// itself offers it `UDP/TLS/RTP/SAVP` with its fingerprint and `a=setup:actpass` when a plain
/// phone calls it; baresip (`dtls_srtp`) answers, the handshakes run on its leg's relay ports,
/// and each phone hears the other's tone.
#[tokio::test]
async fn ringside_offers_dtls_srtp_to_a_dtls_extension_and_both_phones_hear_each_other() {
    let srv = Server::start().await;
    let token = srv.with_phones().await;
    md5_only(&srv, &token).await;
    let e2 = srv
        .patch_extension(&token, "1002", serde_json::json!({"srtp": "dtls"}))
        .await;
    assert_eq!(e2["srtp"], "dtls", "{e2}");
    srv.patch_extension(
        &token,
        "1001",
        serde_json::json!({"digestAlgorithms": ["MD5"]}),
    )
    .await;
    let dtls = Options {
        tone_hz: CALLEE_TONE_HZ,
        mediaenc: Some("dtls_srtp"),
        dial: None,
    };
    let mut callee = Baresip::start_with(&srv, "1002", PW2, &Link::Udp, dtls);
    eventually("1002 registered", || async {
        srv.metric("ringside_sip_registrations", "").await == 1.0
    })
    .await;
    let plain = Options {
        tone_hz: TONE_HZ,
        mediaenc: None,
        dial: Some(format!("sip:1002@{}", srv.sip)),
    };
    let mut caller = Baresip::start_with(&srv, "1001", PW1, &Link::Udp, plain);
    converse(&srv, &mut caller).await;
    callee.stop().await;
    let (clog, elog) = (caller.log_text(), callee.log_text());
    let both = || {
        format!(
            "\n== caller:\n{clog}\n== callee:\n{elog}\n== server:\n{}",
            srv.log_text()
        )
    };
    // Signalling: 1002 was offered DTLS-SRTP (actpass, Ringside's fingerprint) and answered
    // in kind; 1001's leg stayed plain.
    let offer = message(&elog, "INVITE sip:1002", &["m=audio"])
        .unwrap_or_else(|| panic!("1002 was called{}", both()));
    assert!(offer.contains("UDP/TLS/RTP/SAVP "), "{offer}");
    assert!(offer.contains("a=setup:actpass"), "{offer}");
    assert!(offer.contains("a=fingerprint:"), "{offer}");
    assert!(!offer.contains("a=crypto"), "{offer}");
    let answer = message(&elog, "SIP/2.0 200", &["a=fingerprint:"])
        .unwrap_or_else(|| panic!("1002 answered with its fingerprint{}", both()));
    assert!(
        answer.contains("a=setup:active") || answer.contains("a=setup:passive"),
        "{answer}"
    );
    let to_caller = message(&clog, "SIP/2.0 200", &["m=audio"])
        .unwrap_or_else(|| panic!("1001 was answered{}", both()));
    assert!(
        to_caller.contains("RTP/AVP") && !to_caller.contains("fingerprint"),
        "1001's leg is plain: {to_caller}"
    );
    for component in ["audio/RTP", "audio/RTCP"] {
        assert!(
            elog.contains(&format!("DTLS-SRTP complete ({component})")),
            "baresip completed DTLS-SRTP on {component}{}",
            both()
        );
    }
    assert!(
        elog.contains("verified sha-256 fingerprint OK"),
        "{}",
        both()
    );
    let handshakes = srv.metric("ringside_dtls_srtp_handshakes_total", "").await;
    assert_eq!(handshakes, 2.0, "DTLS handshakes{}", both());
    let failures = srv.metric("ringside_srtp_auth_failures_total", "").await;
    assert!(failures <= 2.0, "{failures} SRTP failures{}", both());
    assert_heard(&caller, CALLEE_TONE_HZ, "1001", &both);
    assert_heard(&callee, TONE_HZ, "1002", &both);
}
