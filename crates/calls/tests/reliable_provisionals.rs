//! RFC 3262 (100rel, PRACK) on simulated time, both legs: a caller that requires 100rel gets
//! every provisional reliably (Require, RSeq), passed again at T1, 2T1 … until its PRACK,
//! which is answered 200 (a PRACK for nothing pending, 481) — and 504 when no PRACK comes
//! within 64*T1; a callee's reliable provisional is PRACKed once on its early dialog and its
//! retransmissions dropped, while a caller that did not ask for 100rel hears it unreliably;
//! an UPDATE on an early dialog (RFC 3311) is answered by Ringside itself.

mod common;

use std::time::Duration;

use common::*;
use ringside_calls::fake_media::MediaRequest;
use ringside_calls::Side;

const CALLER: &str = "127.0.0.1:6020";
const CALLEE: &str = "127.0.0.1:6021";

/// `msg` with `line` added after its start line.
fn with(msg: &str, line: &str) -> String {
    let (first, rest) = msg.split_once("\r\n").unwrap();
    format!("{first}\r\n{line}\r\n{rest}")
}

/// 1002 registered, and 1001 (requiring 100rel if `rel`) calling it: the INVITE 1002 got.
fn ringing(sim: &mut Sim, rel: bool) -> String {
    register_1002(sim, 6021);
    let to_caller = challenged_call(sim, 6020, |cseq, auth| {
        let m = invite("1001", "1002", 6020, cseq, auth);
        if rel {
            with(&m, "Require: 100rel")
        } else {
            m
        }
    });
    assert!(to_caller.iter().all(|m| status(m) == 100), "{to_caller:?}");
    let out = sim.take_to(CALLEE);
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(
        header(&out[0], "Supported").is_some_and(|s| s.contains("100rel")),
        "Ringside offers 100rel to the callee: {}",
        out[0]
    );
    out[0].clone()
}

fn rseq(msg: &str) -> u32 {
    header(msg, "RSeq").expect("RSeq").trim().parse().unwrap()
}

/// The caller's PRACK for provisional `resp` with `rack`.
fn prack(resp: &str, rack: &str) -> String {
    format!(
        "PRACK sip:ringside@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKprack{};rport\r\n\
         From: {}\r\nTo: {}\r\nCall-ID: call-6020\r\nCSeq: 3 PRACK\r\nRAck: {rack}\r\n\
         Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        rack.replace(' ', ""),
        header(resp, "From").unwrap(),
        header(resp, "To").unwrap()
    )
}

#[test]
fn a_caller_requiring_100rel_gets_reliable_provisionals_until_it_pracks() {
    let mut sim = Sim::new(Duration::from_secs(120));
    let inv = ringing(&mut sim, true);
    sim.input(CALLEE, &response_to(&inv, 180, "Ringing", "callee", None));
    let got = sim.take_to(CALLER);
    let ring = got.iter().find(|m| status(m) == 180).expect("180").clone();
    assert_eq!(header(&ring, "Require").map(str::trim), Some("100rel"));
    let n = rseq(&ring);
    // Not acknowledged: it goes again after T1 (500 ms), then 2T1, with the same RSeq.
    sim.advance(Duration::from_millis(1600));
    let again = sim.take_to(CALLER);
    assert_eq!(again.len(), 2, "{again:?}");
    assert!(again.iter().all(|m| status(m) == 180 && rseq(m) == n));

    // A PRACK for another RSeq matches nothing: 481, and the 180 keeps going.
    sim.input(CALLER, &prack(&ring, &format!("{} 2 INVITE", n + 5)));
    let r = sim.take_to(CALLER);
    assert!(r.iter().any(|m| status(m) == 481), "{r:?}");
    // The right one: 200, and no more retransmissions.
    sim.input(CALLER, &prack(&ring, &format!("{n} 2 INVITE")));
    let r = sim.take_to(CALLER);
    assert!(
        r.iter()
            .any(|m| status(m) == 200 && m.contains("CSeq: 3 PRACK")),
        "{r:?}"
    );
    sim.advance(Duration::from_secs(10));
    assert!(
        sim.take_to(CALLER).is_empty(),
        "nothing more after the PRACK"
    );

    // The callee answers: the caller gets its 200.
    sim.input(CALLEE, &response_to(&inv, 200, "OK", "callee", Some(40000)));
    let r = sim.take_to(CALLER);
    assert!(
        r.iter().any(|m| status(m) == 200 && m.contains("INVITE")),
        "{r:?}"
    );
}

#[test]
fn no_prack_within_64_t1_refuses_the_call_504_and_cancels_the_callee() {
    let mut sim = Sim::new(Duration::from_secs(120));
    let inv = ringing(&mut sim, true);
    sim.input(CALLEE, &response_to(&inv, 180, "Ringing", "callee", None));
    sim.take_to(CALLER);
    sim.advance(Duration::from_secs(33));
    let r = sim.take_to(CALLER);
    assert!(r.iter().any(|m| status(m) == 504), "{r:?}");
    let c = sim.take_to(CALLEE);
    assert!(c.iter().any(|m| m.starts_with("CANCEL ")), "{c:?}");
}

#[test]
fn a_callees_reliable_provisional_is_pracked_once_and_relayed_plainly() {
    let mut sim = Sim::new(Duration::from_secs(120));
    let inv = ringing(&mut sim, false);
    let ring = with(
        &response_to(&inv, 180, "Ringing", "callee", None),
        "Require: 100rel\r\nRSeq: 7",
    );
    sim.input(CALLEE, &ring);
    let out = sim.take_to(CALLEE);
    let prack = out
        .iter()
        .find(|m| m.starts_with("PRACK "))
        .unwrap_or_else(|| panic!("no PRACK: {out:?}"));
    // On the early dialog: to the Contact the 180 gave, with its tag, RAck naming it.
    assert!(
        prack.starts_with("PRACK sip:callee@127.0.0.1:6002 SIP/2.0"),
        "{prack}"
    );
    assert_eq!(header(prack, "RAck").map(str::trim), Some("7 1 INVITE"));
    assert!(
        header(prack, "To").unwrap().contains("tag=callee"),
        "{prack}"
    );
    assert!(header(prack, "CSeq").unwrap().contains("PRACK"));
    // The caller did not ask for 100rel: a plain 180.
    let r = sim.take_to(CALLER);
    let relayed = r.iter().find(|m| status(m) == 180).expect("180 relayed");
    assert!(header(relayed, "RSeq").is_none(), "{relayed}");
    // The same 180 again (the callee has not seen our PRACK yet): dropped, no second PRACK.
    sim.input(CALLEE, &ring);
    assert!(sim.take_to(CALLEE).iter().all(|m| !m.starts_with("PRACK ")));
    assert!(sim.take_to(CALLER).is_empty());
    // A new reliable provisional (RSeq 8) is PRACKed in turn.
    let progress = with(
        &response_to(&inv, 183, "Session Progress", "callee", None),
        "Require: 100rel\r\nRSeq: 8",
    );
    sim.input(CALLEE, &progress);
    let out = sim.take_to(CALLEE);
    let second = out.iter().find(|m| m.starts_with("PRACK ")).expect("PRACK");
    assert_eq!(header(second, "RAck").map(str::trim), Some("8 1 INVITE"));
    assert_ne!(
        header(second, "CSeq"),
        header(prack, "CSeq"),
        "CSeq moves on"
    );
}

#[test]
fn an_answer_waits_for_the_prack_of_a_provisional_with_sdp_and_a_late_prack_is_welcome() {
    let mut sim = Sim::new(Duration::from_secs(120));
    let inv = ringing(&mut sim, true);
    // Early media: the 183 carries SDP, so the 200 must wait for its PRACK.
    sim.input(
        CALLEE,
        &response_to(&inv, 183, "Session Progress", "callee", Some(40000)),
    );
    let got = sim.take_to(CALLER);
    let early = got.iter().find(|m| status(m) == 183).expect("183").clone();
    assert!(early.contains("m=audio"), "{early}");
    let n = rseq(&early);
    sim.input(CALLEE, &response_to(&inv, 200, "OK", "callee", Some(40000)));
    let r = sim.take_to(CALLER);
    assert!(r.iter().all(|m| status(m) != 200), "held: {r:?}");
    sim.input(CALLER, &prack(&early, &format!("{n} 2 INVITE")));
    let r = sim.take_to(CALLER);
    let codes: Vec<(u16, bool)> = r
        .iter()
        .map(|m| (status(m), m.contains("CSeq: 2 INVITE")))
        .collect();
    assert_eq!(
        codes,
        [(200, false), (200, true)],
        "PRACK's 200, then the answer: {r:?}"
    );

    // Without SDP, the answer does not wait; the caller's PRACK that comes after it still
    // gets 200 (the provisional was never acknowledged).
    let mut sim = Sim::new(Duration::from_secs(120));
    let inv = ringing(&mut sim, true);
    sim.input(CALLEE, &response_to(&inv, 180, "Ringing", "callee", None));
    let ring = sim
        .take_to(CALLER)
        .into_iter()
        .find(|m| status(m) == 180)
        .unwrap();
    sim.input(CALLEE, &response_to(&inv, 200, "OK", "callee", Some(40000)));
    assert!(sim.take_to(CALLER).iter().any(|m| status(m) == 200));
    sim.input(CALLER, &prack(&ring, &format!("{} 2 INVITE", rseq(&ring))));
    let r = sim.take_to(CALLER);
    assert!(
        r.iter().any(|m| status(m) == 200 && m.contains("PRACK")),
        "{r:?}"
    );
}

/// An in-dialog request from the callee (tag `callee`) on leg B's early dialog.
fn from_callee(inv: &str, method: &str, cseq: u32, sdp: Option<&str>) -> String {
    let body = match sdp {
        Some(s) => format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{s}",
            s.len()
        ),
        None => "Content-Length: 0\r\n\r\n".into(),
    };
    format!(
        "{method} sip:ringside@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLEE};branch=z9hG4bKe{method}{cseq};rport\r\n\
         From: <sip:1002@127.0.0.1>;tag=callee\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\n\
         Contact: <sip:callee@127.0.0.1:6002>\r\nMax-Forwards: 70\r\n{body}",
        header(inv, "From").unwrap(),
        header(inv, "Call-ID").unwrap(),
    )
}

/// RFC 3311 on the early dialog: after its reliable 183 (PRACKed), the callee moves its early
/// media with an UPDATE; Ringside answers it itself with its own address for that leg and
/// points the relay at the new one, and the caller hears nothing of it. The caller's UPDATE
/// without SDP (a refresh) is answered 200.
#[test]
fn an_update_on_the_early_dialog_is_answered_by_ringside() {
    let mut sim = Sim::new(Duration::from_secs(120));
    let inv = ringing(&mut sim, false);
    let early = with(
        &response_to(&inv, 183, "Session Progress", "callee", Some(40000)),
        "Require: 100rel\r\nRSeq: 1",
    );
    sim.input(CALLEE, &early);
    let out = sim.take_to(CALLEE);
    assert!(out.iter().any(|m| m.starts_with("PRACK ")), "{out:?}");
    let relayed = sim.take_to(CALLER);
    assert!(relayed.iter().any(|m| status(m) == 183), "{relayed:?}");
    let before = sim.media.requests().len();
    let moved = "v=0\r\no=- 2 3 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40010 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    sim.input(CALLEE, &from_callee(&inv, "UPDATE", 2, Some(moved)));
    let r = sim.take_to(CALLEE);
    let ok = r
        .iter()
        .find(|m| status(m) == 200 && m.contains("CSeq: 2 UPDATE"))
        .unwrap_or_else(|| panic!("{r:?}"));
    assert!(
        ok.contains("m=audio ") && !ok.contains("m=audio 40010"),
        "Ringside's own address: {ok}"
    );
    let asked = sim.media.requests()[before..].to_vec();
    let to: std::net::SocketAddr = "127.0.0.1:40010".parse().unwrap();
    assert!(
        asked
            .iter()
            .any(|q| matches!(q, MediaRequest::Announce(_, Side::B, a) if *a == to)),
        "{asked:?}"
    );
    assert!(
        sim.take_to(CALLER).is_empty(),
        "the caller hears nothing of it"
    );
    // The caller's refresh on its early dialog.
    let ring = relayed.iter().find(|m| status(m) == 183).unwrap();
    let refresh = format!(
        "UPDATE sip:ringside@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKaupd;rport\r\n\
         From: {}\r\nTo: {}\r\nCall-ID: call-6020\r\nCSeq: 3 UPDATE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        header(ring, "From").unwrap(),
        header(ring, "To").unwrap()
    );
    sim.input(CALLER, &refresh);
    let r = sim.take_to(CALLER);
    assert!(
        r.iter()
            .any(|m| status(m) == 200 && m.contains("CSeq: 3 UPDATE")),
        "{r:?}"
    );
    // The callee answers: the call goes on as usual.
    sim.input(CALLEE, &response_to(&inv, 200, "OK", "callee", Some(40010)));
    assert!(sim.take_to(CALLER).iter().any(|m| status(m) == 200));
}
