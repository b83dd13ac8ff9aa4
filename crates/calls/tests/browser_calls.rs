//! Browser calls through the SIP core on simulated time: the visitor's leg is an edge
//! session's plain RTP side, the widget's extensions ring in parallel, the first answer wins,
//! a ring timeout plays the unavailable message before the call ends as missed, and a visitor
//! hanging up while it rings cancels every fork.

mod common;

use std::time::Duration;

use common::browser::*;
use common::*;
use ringside_calls::b2bua::{BrowserCall, BrowserSignal};
use ringside_calls::directory::DirectoryChange;
use ringside_calls::fake_media::MediaRequest;
use ringside_media::Side;

fn call(session: u64, extensions: &[&str], ring_timeout_s: u64) -> BrowserCall {
    BrowserCall {
        session,
        tenant_id: "t1".into(),
        widget_id: "w1".into(),
        visitor_id: "v_visitor1".into(),
        caller_name: "Ada \"the\" visitor".into(),
        extensions: extensions.iter().map(|s| s.to_string()).collect(),
        ring_extensions: true,
        pstn_numbers: vec![],
        pstn_trunk_id: None,
        accept_timeout: Duration::from_secs(10),
        console: false,
        ring_timeout: Duration::from_secs(ring_timeout_s),
        record: false,
        rtp: "127.0.0.1:39000".parse().unwrap(),
        opus_pt: 111,
        telephone_event_pt: Some(126),
    }
}

#[tokio::test]
async fn first_answer_wins_and_the_other_phone_is_cancelled() {
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1002(&mut sim, 6002);
    register_1002(&mut sim, 6012);
    sim.core.browser_call(sim.now, call(7, &["1002"], 20));
    sim.collect();
    let s = signals(&mut sim, 7);
    assert!(
        matches!(s[0], BrowserSignal::Media { port, .. } if port >= 42000),
        "{s:?}"
    );
    let a = sim.take_to("127.0.0.1:6002").remove(0);
    let b = sim.take_to("127.0.0.1:6012").remove(0);
    assert!(a.starts_with("INVITE sip:1002@"), "{a}");
    // The phones see the visitor's name; the offer carries Opus first plus what we transcode.
    assert!(
        header(&a, "From")
            .unwrap()
            .starts_with("\"Ada the visitor\" <sip:website@"),
        "{a}"
    );
    assert!(a.contains("opus/48000/2") && a.contains("PCMU/8000"), "{a}");
    assert!(
        !a.contains("127.0.0.1 39000"),
        "the edge's address is hidden: {a}"
    );
    assert_eq!(last_record(&sim).kind.as_str(), "webrtc");
    sim.input(
        "127.0.0.1:6012",
        &response_to(&b, 180, "Ringing", "fb", None),
    );
    sim.input(
        "127.0.0.1:6002",
        &response_to(&a, 200, "OK", "fa", Some(7002)),
    );
    assert!(sim
        .take_to("127.0.0.1:6002")
        .iter()
        .any(|m| m.starts_with("ACK ")));
    assert!(sim
        .take_to("127.0.0.1:6012")
        .iter()
        .any(|m| m.starts_with("CANCEL ")));
    let s = signals(&mut sim, 7);
    assert_eq!(s, vec![BrowserSignal::Ringing, BrowserSignal::Answered]);
    let rec = last_record(&sim);
    assert_eq!(rec.status.as_str(), "answered");
    assert_eq!(rec.from_uri, "webrtc:v_visitor1");
    assert_eq!(rec.to_uri, "widget:w1");
    // The edge measured the browser's round trip; another session's figure changes nothing.
    sim.core.browser_rtt(7, Duration::from_micros(35_250));
    sim.core.browser_rtt(99, Duration::from_millis(900));
    // The phone hangs up: the browser is told, the record ends.
    let bye = format!(
        "BYE sip:website@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6002;branch=z9hG4bKbye1\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        header(&response_to(&a, 200, "OK", "fa", None), "To").unwrap(),
        header(&a, "From").unwrap(),
        header(&a, "Call-ID").unwrap(),
    );
    sim.input("127.0.0.1:6002", &bye);
    assert!(sim
        .take_to("127.0.0.1:6002")
        .iter()
        .any(|m| status(m) == 200));
    assert_eq!(
        signals(&mut sim, 7),
        vec![BrowserSignal::Ended { reason: "hangup" }]
    );
    let rec = last_record(&sim);
    assert_eq!(
        (rec.status.as_str(), rec.hangup_side.map(|s| s.as_str())),
        ("ended", Some("callee"))
    );
    // The browser leg's quality carries the edge's RTT (the relay saw only loopback).
    let q = rec.legs[0].quality.as_ref().expect("browser leg quality");
    assert_eq!(q.rtt_us, Some(35_250), "{q:?}");
    assert_eq!(sim.core.active_calls(), 0);
}

#[tokio::test]
async fn ring_timeout_plays_the_unavailable_message_then_the_call_is_missed() {
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1002(&mut sim, 6002);
    sim.core.browser_call(sim.now, call(8, &["1002"], 5));
    sim.collect();
    let invite = sim.take_to("127.0.0.1:6002").remove(0);
    sim.input(
        "127.0.0.1:6002",
        &response_to(&invite, 180, "Ringing", "fa", None),
    );
    signals(&mut sim, 8);
    sim.advance(Duration::from_millis(4900));
    assert!(signals(&mut sim, 8).is_empty(), "still ringing");
    sim.advance(Duration::from_millis(200));
    assert!(sim
        .take_to("127.0.0.1:6002")
        .iter()
        .any(|m| m.starts_with("CANCEL ")));
    assert_eq!(signals(&mut sim, 8), vec![BrowserSignal::Unavailable]);
    assert_eq!(sim.core.active_calls(), 1, "the message is playing");
    // Towards the browser (leg A): ringback while it rang, then the message.
    let asked = sim.media.requests();
    let key = asked
        .iter()
        .find_map(|r| match r {
            MediaRequest::Created { key, .. } => Some(*key),
            _ => None,
        })
        .expect("a bridge");
    let ringback = asked
        .iter()
        .position(|r| *r == MediaRequest::Ringback(key, Side::A, true));
    let message = asked
        .iter()
        .position(|r| *r == MediaRequest::Unavailable(key, Side::A));
    assert!(
        matches!((ringback, message), (Some(a), Some(b)) if a < b),
        "{asked:?}"
    );
    // The shipped message is 5.6 s long.
    sim.advance(Duration::from_millis(5000));
    assert!(signals(&mut sim, 8).is_empty());
    sim.advance(Duration::from_millis(1000));
    assert_eq!(
        signals(&mut sim, 8),
        vec![BrowserSignal::Ended {
            reason: "no_answer"
        }]
    );
    let rec = last_record(&sim);
    assert_eq!(rec.status.as_str(), "missed");
    assert_eq!(rec.end_reason.map(|r| r.as_str()), Some("no_answer"));
    assert_eq!(sim.core.active_calls(), 0);
    assert_eq!(sim.media.live(), 0, "the call's media bridge was released");
}

#[tokio::test]
async fn nobody_to_ring_is_unavailable_at_once() {
    let mut sim = Sim::new(Duration::from_secs(30));
    // 1002 exists but has no registered phone; 2001 belongs to another tenant.
    sim.core
        .browser_call(sim.now, call(9, &["1002", "2001"], 20));
    sim.collect();
    assert!(sim.sent.is_empty(), "nothing rings: {:?}", sim.sent);
    let s = signals(&mut sim, 9);
    assert!(matches!(s[0], BrowserSignal::Media { .. }));
    assert_eq!(s[1], BrowserSignal::Unavailable);
    sim.advance(Duration::from_secs(6));
    assert_eq!(
        signals(&mut sim, 9),
        vec![BrowserSignal::Ended {
            reason: "unavailable"
        }]
    );
    let rec = last_record(&sim);
    assert_eq!(
        (rec.status.as_str(), rec.end_reason.map(|r| r.as_str())),
        ("missed", Some("unavailable"))
    );
}

#[tokio::test]
async fn visitor_hanging_up_while_ringing_cancels_every_fork() {
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1002(&mut sim, 6002);
    register_1002(&mut sim, 6012);
    sim.core.browser_call(sim.now, call(10, &["1002"], 20));
    sim.collect();
    let a = sim.take_to("127.0.0.1:6002").remove(0);
    let b = sim.take_to("127.0.0.1:6012").remove(0);
    sim.input(
        "127.0.0.1:6002",
        &response_to(&a, 180, "Ringing", "fa", None),
    );
    sim.input(
        "127.0.0.1:6012",
        &response_to(&b, 180, "Ringing", "fb", None),
    );
    sim.core.browser_hangup(sim.now, 10);
    sim.collect();
    assert!(sim
        .take_to("127.0.0.1:6002")
        .iter()
        .any(|m| m.starts_with("CANCEL ")));
    assert!(sim
        .take_to("127.0.0.1:6012")
        .iter()
        .any(|m| m.starts_with("CANCEL ")));
    let rec = last_record(&sim);
    assert_eq!(
        (rec.status.as_str(), rec.end_reason.map(|r| r.as_str())),
        ("missed", Some("cancelled"))
    );
    assert_eq!(sim.core.active_calls(), 0);
    // A phone answering after the visitor left is ACKed and hung up.
    sim.input(
        "127.0.0.1:6002",
        &response_to(&a, 200, "OK", "fa", Some(7002)),
    );
    let to_a = sim.take_to("127.0.0.1:6002");
    assert!(to_a.iter().any(|m| m.starts_with("ACK ")), "{to_a:?}");
    assert!(to_a.iter().any(|m| m.starts_with("BYE ")), "{to_a:?}");
    // A second hangup for the same session is harmless.
    sim.core.browser_hangup(sim.now, 10);
}

/// A browser call ringing extension 1002 (at 6002) and +15552234567 through the test trunk
/// (carrier at 127.0.0.1:5099); returns (session, record id, extension INVITE, carrier INVITE).
fn pstn_call(sim: &mut Sim, session: u64) -> (String, String, String) {
    register_1002(sim, 6002);
    let mut c = call(session, &["1002"], 60);
    c.pstn_numbers = vec!["+15552234567".into()];
    sim.core.browser_call(sim.now, c);
    sim.collect();
    let record = match &signals(sim, session)[0] {
        BrowserSignal::Media { call_id, .. } => call_id.clone(),
        s => panic!("{s:?}"),
    };
    let ext = sim.take_to("127.0.0.1:6002").remove(0);
    let carrier = sim.take_to("127.0.0.1:5099").remove(0);
    assert!(
        carrier.starts_with("INVITE sip:+15552234567@127.0.0.1:5099"),
        "{carrier}"
    );
    (record, ext, carrier)
}

fn dtmf(digit: char) -> ringside_media::MediaEvent {
    ringside_media::MediaEvent::Dtmf {
        side: ringside_media::Side::B,
        digit,
        duration_ms: 100,
    }
}

#[tokio::test]
async fn a_pstn_answerer_takes_the_call_only_after_pressing_1() {
    let mut sim = Sim::new(Duration::from_secs(30));
    let (record, ext, carrier) = pstn_call(&mut sim, 20);
    let key = sim.core.call_key(&record).unwrap();
    sim.input(
        "127.0.0.1:6002",
        &response_to(&ext, 180, "Ringing", "fe", None),
    );
    signals(&mut sim, 20);
    sim.input(
        "127.0.0.1:5099",
        &response_to(&carrier, 200, "OK", "cr", Some(7100)),
    );
    assert!(sim
        .take_to("127.0.0.1:5099")
        .iter()
        .any(|m| m.starts_with("ACK ")));
    // Answering is not accepting: the visitor still waits, the extension still rings.
    assert!(signals(&mut sim, 20).is_empty());
    assert!(sim.take_to("127.0.0.1:6002").is_empty());
    assert_eq!(last_record(&sim).status.as_str(), "ringing");
    // Other digits do nothing; "1" takes the call.
    sim.core.media_event(sim.now, key, dtmf('5'));
    sim.collect();
    assert!(signals(&mut sim, 20).is_empty());
    sim.core.media_event(sim.now, key, dtmf('1'));
    sim.collect();
    assert_eq!(signals(&mut sim, 20), vec![BrowserSignal::Answered]);
    assert!(sim
        .take_to("127.0.0.1:6002")
        .iter()
        .any(|m| m.starts_with("CANCEL ")));
    let rec = last_record(&sim);
    assert_eq!(rec.status.as_str(), "answered");
    assert_eq!(rec.answered_by.as_deref(), Some("pstn:+15552234567"));
}

#[tokio::test]
async fn a_pstn_answerer_who_never_presses_1_is_hung_up_and_the_others_ring_on() {
    let mut sim = Sim::new(Duration::from_secs(30));
    let (_record, ext, carrier) = pstn_call(&mut sim, 21);
    sim.input(
        "127.0.0.1:6002",
        &response_to(&ext, 180, "Ringing", "fe", None),
    );
    sim.input(
        "127.0.0.1:5099",
        &response_to(&carrier, 200, "OK", "cr", Some(7100)),
    );
    sim.take_to("127.0.0.1:5099");
    signals(&mut sim, 21);
    // The accept timeout (10 s) passes without a 1.
    sim.advance(Duration::from_millis(9900));
    assert!(sim
        .take_to("127.0.0.1:5099")
        .iter()
        .all(|m| !m.starts_with("BYE ")));
    sim.advance(Duration::from_millis(200));
    assert!(
        sim.take_to("127.0.0.1:5099")
            .iter()
            .any(|m| m.starts_with("BYE ")),
        "the carrier leg is hung up"
    );
    assert!(
        signals(&mut sim, 21).is_empty(),
        "the visitor keeps waiting"
    );
    let rec = last_record(&sim);
    let pstn = rec
        .legs
        .iter()
        .find(|l| l.peer == "127.0.0.1:5099")
        .unwrap();
    assert_eq!(pstn.final_status, Some(603));
    // The extension still rings and answers.
    sim.input(
        "127.0.0.1:6002",
        &response_to(&ext, 200, "OK", "fe", Some(7002)),
    );
    assert_eq!(signals(&mut sim, 21), vec![BrowserSignal::Answered]);
    assert_eq!(
        last_record(&sim).answered_by.as_deref(),
        Some("extension:1002")
    );
}

#[tokio::test]
async fn sip_info_1_accepts_and_an_extension_answering_first_hangs_up_the_prompted_leg() {
    // SIP INFO "1" from the carrier accepts.
    let mut sim = Sim::new(Duration::from_secs(30));
    let (_record, _ext, carrier) = pstn_call(&mut sim, 22);
    let ok = response_to(&carrier, 200, "OK", "cr", Some(7100));
    sim.input("127.0.0.1:5099", &ok);
    sim.take_to("127.0.0.1:5099");
    let body = "Signal=1\r\nDuration=160\r\n";
    let info = format!(
        "INFO sip:website@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKinfo1\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 2 INFO\r\nMax-Forwards: 70\r\nContent-Type: application/dtmf-relay\r\nContent-Length: {}\r\n\r\n{body}",
        header(&ok, "To").unwrap(),
        header(&carrier, "From").unwrap(),
        header(&carrier, "Call-ID").unwrap(),
        body.len()
    );
    sim.input("127.0.0.1:5099", &info);
    assert!(sim
        .take_to("127.0.0.1:5099")
        .iter()
        .any(|m| status(m) == 200));
    assert_eq!(signals(&mut sim, 22), vec![BrowserSignal::Answered]);

    // The extension answers while the carrier's answerer is still at the prompt.
    let mut sim = Sim::new(Duration::from_secs(30));
    let (_record, ext, carrier) = pstn_call(&mut sim, 23);
    sim.input(
        "127.0.0.1:5099",
        &response_to(&carrier, 200, "OK", "cr", Some(7100)),
    );
    sim.take_to("127.0.0.1:5099");
    sim.input(
        "127.0.0.1:6002",
        &response_to(&ext, 200, "OK", "fe", Some(7002)),
    );
    assert_eq!(signals(&mut sim, 23), vec![BrowserSignal::Answered]);
    assert!(
        sim.take_to("127.0.0.1:5099")
            .iter()
            .any(|m| m.starts_with("BYE ")),
        "the prompted carrier leg is hung up"
    );
    assert_eq!(
        last_record(&sim).answered_by.as_deref(),
        Some("extension:1002")
    );
    // A late "1" from the hung-up leg changes nothing.
    let key = sim.core.call_key(&last_record(&sim).id).unwrap();
    sim.core.media_event(sim.now, key, dtmf('1'));
    sim.collect();
    assert!(signals(&mut sim, 23).is_empty());
}

#[tokio::test]
async fn a_trusted_pbx_call_to_a_channel_number_rings_the_visitor_who_accepts_or_declines() {
    const PBX: &str = "10.9.9.9:5070";
    let mut sim = Sim::new(Duration::from_secs(30));
    sim.core.set_channels(std::sync::Arc::new(OneVisitor));
    sim.input(PBX, &invite("pbx", "555123", 5070, 1, None));
    let to_pbx = sim.take_to(PBX);
    assert!(to_pbx.iter().any(|m| status(m) == 180), "{to_pbx:?}");
    let r = rings(&mut sim);
    assert_eq!(r.len(), 1);
    assert!(r[0].ringing);
    assert_eq!(r[0].visitor_id, "v_visitor1");
    // Another visitor cannot take it; the rung one accepts.
    let answer = |visitor: &str, session: u64| ringside_calls::b2bua::BrowserAnswer {
        call_id: r[0].call_id.clone(),
        session,
        tenant_id: "t1".into(),
        widget_id: "w1".into(),
        visitor_id: visitor.into(),
        rtp: "127.0.0.1:39100".parse().unwrap(),
        opus_pt: 111,
        telephone_event_pt: None,
    };
    sim.core.browser_accept(sim.now, answer("v_someone", 40));
    sim.collect();
    assert_eq!(
        signals(&mut sim, 40),
        vec![BrowserSignal::Ended { reason: "gone" }]
    );
    sim.core.browser_accept(sim.now, answer("v_visitor1", 41));
    sim.collect();
    let to_pbx = sim.take_to(PBX);
    let ok = to_pbx
        .iter()
        .find(|m| status(m) == 200)
        .expect("200 to the PBX");
    assert!(ok.contains("m=audio") && ok.contains("PCMU"), "{ok}");
    let s = signals(&mut sim, 41);
    assert!(matches!(s[0], BrowserSignal::Media { .. }), "{s:?}");
    assert_eq!(s[1], BrowserSignal::Answered);
    assert_eq!(rings(&mut sim)[0].reason, "answered");
    let rec = last_record(&sim);
    assert_eq!(rec.answered_by.as_deref(), Some("visitor:v_visitor1"));
    assert_eq!(rec.visitor_id.as_deref(), Some("v_visitor1"));
    // The visitor hangs up: BYE to the PBX.
    sim.core.browser_hangup(sim.now, 41);
    sim.collect();
    assert!(sim.take_to(PBX).iter().any(|m| m.starts_with("BYE ")));
    assert_eq!(sim.core.active_calls(), 0);

    // A second call is declined: 603; a third rings out: 480 and the page is told.
    sim.input(
        PBX,
        &invite("pbx", "555123", 5070, 3, None).replace("call-5070", "call-b"),
    );
    sim.take_to(PBX);
    let r = rings(&mut sim);
    sim.core
        .browser_decline(sim.now, &r[0].call_id, &visitor_target());
    sim.collect();
    assert!(sim.take_to(PBX).iter().any(|m| status(m) == 603));
    assert_eq!(rings(&mut sim)[0].reason, "declined");
    sim.input(
        PBX,
        &invite("pbx", "555123", 5070, 5, None).replace("call-5070", "call-c"),
    );
    sim.take_to(PBX);
    rings(&mut sim);
    sim.advance(Duration::from_secs(31));
    assert!(sim.take_to(PBX).iter().any(|m| status(m) == 480));
    let stopped = rings(&mut sim);
    assert_eq!(stopped[0].reason, "no_answer");
    assert!(!stopped[0].ringing);
    // Numbers nobody holds are not found.
    sim.input(
        PBX,
        &invite("pbx", "999999", 5070, 7, None).replace("call-5070", "call-d"),
    );
    assert!(sim.take_to(PBX).iter().any(|m| status(m) == 404));
}

#[tokio::test]
async fn a_trusted_pbx_call_to_a_queue_number_waits_with_music_until_an_extension_answers() {
    const PBX: &str = "10.9.9.9:5070";
    let mut sim = Sim::new(Duration::from_secs(30));
    let mut e = ext("e2", "1002", "pw-1002-secret", "t1");
    e.widget_ids = vec!["w1".into()];
    sim.change(DirectoryChange::ExtensionUpserted(e));
    sim.change(queue_number(Some("700")));
    register_1002(&mut sim, 6002);
    sim.input(PBX, &invite("pbx", "700", 5070, 1, None));
    let to_pbx = sim.take_to(PBX);
    let early = to_pbx
        .iter()
        .find(|m| status(m) == 183)
        .expect("183 early media");
    assert!(early.contains("m=audio"), "{early}");
    let rec = last_record(&sim);
    assert_eq!(rec.status.as_str(), "waiting");
    assert_eq!(rec.widget_id.as_deref(), Some("w1"));
    let inv = sim.take_to("127.0.0.1:6002").remove(0);
    assert!(inv.starts_with("INVITE sip:1002@"), "{inv}");
    sim.input(
        "127.0.0.1:6002",
        &response_to(&inv, 200, "OK", "fe", Some(7002)),
    );
    let ok = sim
        .take_to(PBX)
        .into_iter()
        .find(|m| status(m) == 200)
        .expect("200 to the PBX");
    // The final answer repeats the early SDP.
    let body = |m: &str| m.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    assert_eq!(body(&ok), body(early));
    let rec = last_record(&sim);
    assert_eq!(rec.status.as_str(), "answered");
    assert_eq!(rec.answered_by.as_deref(), Some("extension:1002"));
    // An untrusted caller to the queue number is challenged.
    sim.input("127.0.0.1:5999", &invite("someone", "700", 5999, 1, None));
    assert!(sim
        .take_to("127.0.0.1:5999")
        .iter()
        .any(|m| status(m) == 407));
    // Clearing the queue number makes it unknown.
    sim.change(queue_number(None));
    sim.input(
        PBX,
        &invite("pbx", "700", 5070, 3, None).replace("call-5070", "call-q2"),
    );
    assert!(sim.take_to(PBX).iter().any(|m| status(m) == 404));
}

#[tokio::test]
async fn a_console_operator_picks_up_a_call_waiting_in_a_widgets_queue() {
    const PBX: &str = "10.9.9.9:5070";
    let mut sim = Sim::new(Duration::from_secs(30));
    let mut e = ext("e2", "1002", "pw-1002-secret", "t1");
    e.widget_ids = vec!["w1".into()];
    sim.change(DirectoryChange::ExtensionUpserted(e));
    sim.change(queue_number(Some("700")));
    register_1002(&mut sim, 6002);
    sim.input(PBX, &invite("pbx", "700", 5070, 1, None));
    let early = sim
        .take_to(PBX)
        .into_iter()
        .find(|m| status(m) == 183)
        .expect("183 early media");
    let inv = sim.take_to("127.0.0.1:6002").remove(0);
    sim.input(
        "127.0.0.1:6002",
        &response_to(&inv, 180, "Ringing", "fe", None),
    );
    let _ = sim.take_to(PBX);
    // The waiting call is offered to the widget's console operators as well.
    let offered = rings(&mut sim);
    assert_eq!(offered.len(), 1, "{offered:?}");
    let o = &offered[0];
    assert!(
        o.console && o.ringing && o.widget_id == "w1" && o.visitor_id.is_empty(),
        "{o:?}"
    );
    assert!(o.from.contains("pbx"), "{o:?}");
    let op = |session: u64, tenant: &str| ringside_calls::b2bua::BrowserAnswer {
        call_id: o.call_id.clone(),
        session,
        tenant_id: tenant.into(),
        widget_id: "w1".into(),
        visitor_id: "user-9".into(),
        rtp: "127.0.0.1:39300".parse().unwrap(),
        opus_pt: 111,
        telephone_event_pt: None,
    };
    // Another tenant's operator cannot take it.
    sim.core.console_accept(sim.now, op(60, "t2"));
    sim.collect();
    assert_eq!(
        signals(&mut sim, 60),
        vec![BrowserSignal::Ended { reason: "gone" }]
    );
    sim.core.console_accept(sim.now, op(61, "t1"));
    sim.collect();
    // The PBX gets its final answer, the early SDP again; the extension stops ringing.
    let ok = sim
        .take_to(PBX)
        .into_iter()
        .find(|m| status(m) == 200)
        .expect("200 to the PBX");
    let body = |m: &str| m.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    assert_eq!(body(&ok), body(&early));
    assert!(sim
        .take_to("127.0.0.1:6002")
        .iter()
        .any(|m| m.starts_with("CANCEL ")));
    let s = signals(&mut sim, 61);
    assert!(
        matches!(s[0], BrowserSignal::Media { .. }) && s[1] == BrowserSignal::Answered,
        "{s:?}"
    );
    assert_eq!(s.len(), 2, "no video peer for a SIP caller: {s:?}");
    let stopped = rings(&mut sim);
    assert!(
        stopped
            .iter()
            .any(|r| r.console && !r.ringing && r.reason == "answered"),
        "{stopped:?}"
    );
    let rec = last_record(&sim);
    assert_eq!(rec.status.as_str(), "answered");
    assert_eq!(rec.answered_by.as_deref(), Some("console:user-9"));
    // The PBX hangs up: the operator's call ends.
    let bye = format!(
        "BYE sip:700@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 10.9.9.9:5070;branch=z9hG4bKqbye\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        header(&ok, "From").unwrap(),
        header(&ok, "To").unwrap(),
        header(&ok, "Call-ID").unwrap(),
    );
    sim.input(PBX, &bye);
    assert!(sim.take_to(PBX).iter().any(|m| status(m) == 200));
    assert_eq!(
        signals(&mut sim, 61),
        vec![BrowserSignal::Ended { reason: "hangup" }]
    );
    assert_eq!(sim.core.active_calls(), 0);
}

#[tokio::test]
async fn a_console_operator_takes_a_visitors_call_and_late_operators_find_it_gone() {
    let mut sim = Sim::new(Duration::from_secs(30));
    let mut c = call(50, &[], 20);
    c.console = true;
    sim.core.browser_call(sim.now, c);
    sim.collect();
    let s = signals(&mut sim, 50);
    assert_eq!(
        s.len(),
        1,
        "no unavailable message while operators are online: {s:?}"
    );
    let offered = rings(&mut sim);
    assert!(offered[0].console && offered[0].ringing, "{offered:?}");
    let op = |session: u64| ringside_calls::b2bua::BrowserAnswer {
        call_id: offered[0].call_id.clone(),
        session,
        tenant_id: "t1".into(),
        widget_id: String::new(),
        visitor_id: "user-7".into(),
        rtp: "127.0.0.1:39200".parse().unwrap(),
        opus_pt: 111,
        telephone_event_pt: None,
    };
    sim.core.console_accept(sim.now, op(51));
    sim.collect();
    assert_eq!(signals(&mut sim, 50), vec![BrowserSignal::Answered]);
    let s = signals(&mut sim, 51);
    assert!(
        matches!(s[0], BrowserSignal::Media { .. }) && s[1] == BrowserSignal::Answered,
        "{s:?}"
    );
    // Two browsers on the call: the operator's session relays video with the visitor's.
    assert_eq!(s[2], BrowserSignal::Video { peer: 50 }, "{s:?}");
    let stopped = rings(&mut sim);
    assert!(stopped[0].console && !stopped[0].ringing && stopped[0].reason == "answered");
    assert_eq!(
        last_record(&sim).answered_by.as_deref(),
        Some("console:user-7")
    );
    // A second operator is too late.
    sim.core.console_accept(sim.now, op(52));
    sim.collect();
    assert_eq!(
        signals(&mut sim, 52),
        vec![BrowserSignal::Ended { reason: "gone" }]
    );
    // The operator hangs up: the visitor is told.
    sim.core.browser_hangup(sim.now, 51);
    sim.collect();
    assert_eq!(
        signals(&mut sim, 50),
        vec![BrowserSignal::Ended { reason: "hangup" }]
    );
    assert_eq!(sim.core.active_calls(), 0);

    // Nobody takes it in time: the offer stops and the visitor hears the message.
    let mut c = call(60, &[], 5);
    c.console = true;
    sim.core.browser_call(sim.now, c);
    sim.collect();
    rings(&mut sim);
    signals(&mut sim, 60);
    sim.advance(Duration::from_secs(6));
    assert_eq!(signals(&mut sim, 60), vec![BrowserSignal::Unavailable]);
    sim.advance(Duration::from_secs(6));
    let stopped = rings(&mut sim);
    assert!(
        stopped.iter().any(|r| r.console && !r.ringing),
        "{stopped:?}"
    );
}

#[tokio::test]
async fn a_browser_whose_media_fails_is_recorded_as_a_media_failure_not_a_hangup() {
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1002(&mut sim, 6002);
    sim.core.browser_call(sim.now, call(8, &["1002"], 20));
    sim.collect();
    let a = sim.take_to("127.0.0.1:6002").remove(0);
    sim.input(
        "127.0.0.1:6002",
        &response_to(&a, 200, "OK", "fa", Some(7002)),
    );
    assert_eq!(last_record(&sim).status.as_str(), "answered");
    // ICE consent lapsed: the phone is hung up, the record says why.
    sim.core.browser_media_failed(sim.now, 8);
    sim.collect();
    assert!(sim
        .take_to("127.0.0.1:6002")
        .iter()
        .any(|m| m.starts_with("BYE ")));
    let rec = last_record(&sim);
    assert_eq!(
        (
            rec.status.as_str(),
            rec.end_reason.map(|r| r.as_str()),
            rec.hangup_side.map(|s| s.as_str())
        ),
        ("ended", Some("media_failed"), Some("system"))
    );
    assert_eq!(sim.core.active_calls(), 0);
}
