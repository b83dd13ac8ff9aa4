//! Attended transfer (REFER with Replaces, RFC 3891) on simulated time: 1002 holds the
//! caller, calls 1003 itself, then refers the caller to 1003 replacing that consultation call:
//! the two calls' relays are joined, 1002 leaves both, the caller is taken off hold, and a
//! hangup on either side ends both calls. Also: the call handed over may be one the referrer
//! received, may still ring (semi-attended), and the referrer may be the caller of the first
//! call. Replaces that name no call, another extension's call, or an answered call with
//! `early-only` are refused.

mod common;

use std::time::Duration;

use common::transfer::*;
use common::*;
use ringside_calls::fake_media::MediaRequest;
use ringside_calls::Side;

/// The consultation call: 1002 calls 1003 from its second line at 6012, 1003 (at 6003)
/// answers with tag `c3` and RTP at 7003, 1002 ACKs. Returns 1002's 200 (Ringside's tag in
/// its To).
fn consultation(sim: &mut Sim) -> String {
    authed_call(sim, "1002", "pw-1002-secret", "1003", 6012);
    let inv3 = sim.take_to("127.0.0.1:6003").remove(0);
    let ok3 = response_to(&inv3, 200, "OK", "c3", Some(7003))
        .replace("callee@127.0.0.1:6002", "callee@127.0.0.1:6003");
    sim.input("127.0.0.1:6003", &ok3);
    assert!(sim
        .take_to("127.0.0.1:6003")
        .iter()
        .any(|m| m.starts_with("ACK ")));
    let ok = sim
        .take_to("127.0.0.1:6012")
        .into_iter()
        .find(|m| status(m) == 200)
        .expect("1002's consultation call is answered");
    sim.input(
        "127.0.0.1:6012",
        &format!(
            "ACK sip:ringside@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6012;branch=z9hG4bKack6012;rport\r\n\
             From: {}\r\nTo: {}\r\nCall-ID: call-6012\r\nCSeq: 2 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            header(&ok, "From").unwrap(),
            header(&ok, "To").unwrap()
        ),
    );
    ok
}

/// The `Refer-To` URI of an attended transfer to 1003 replacing the consultation call whose
/// 200 to 1002 is `ok` (`extra` parameters appended to the escaped Replaces).
fn replacing(ok: &str, extra: &str) -> String {
    let ours = header(ok, "To").unwrap().split(";tag=").nth(1).unwrap();
    format!("sip:1003@127.0.0.1?Replaces=call-6012%3Bto-tag%3D{ours}%3Bfrom-tag%3Dc6012{extra}")
}

/// 1002 (at 6002, tag `cb`) puts the caller on hold: its re-INVITE on leg B goes to the
/// caller, who answers recvonly.
fn hold_caller(sim: &mut Sim, inv: &str) {
    let sdp = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
               m=audio 7002 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendonly\r\n";
    let reinvite = format!(
        "INVITE sip:ringside@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6002;branch=z9hG4bKhold1;rport\r\n\
         From: {};tag=cb\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 5 INVITE\r\nContact: <sip:callee@127.0.0.1:6002>\r\n\
         Max-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        header(inv, "To").unwrap(),
        header(inv, "From").unwrap(),
        header(inv, "Call-ID").unwrap(),
        sdp.len()
    );
    sim.input("127.0.0.1:6002", &reinvite);
    let to_caller = sim.take_to("127.0.0.1:6001").remove(0);
    assert!(
        to_caller.starts_with("INVITE ") && to_caller.contains("a=sendonly"),
        "{to_caller}"
    );
    let ok = response_to(&to_caller, 200, "OK", "ignored", Some(7001))
        .replace("PCMU/8000\r\n", "PCMU/8000\r\na=recvonly\r\n");
    sim.input("127.0.0.1:6001", &ok);
    assert!(sim
        .take_to("127.0.0.1:6001")
        .iter()
        .any(|m| m.starts_with("ACK ")));
    let to_1002 = sim.take_to("127.0.0.1:6002");
    let answer = to_1002
        .iter()
        .find(|m| status(m) == 200)
        .expect("1002's hold is answered");
    sim.input(
        "127.0.0.1:6002",
        &format!(
            "ACK sip:ringside@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6002;branch=z9hG4bKholdack;rport\r\n\
             From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 5 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            header(answer, "From").unwrap(),
            header(answer, "To").unwrap(),
            header(answer, "Call-ID").unwrap()
        ),
    );
}

#[tokio::test]
async fn an_attended_transfer_joins_the_caller_and_the_consulted_party() {
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1003(&mut sim);
    let (inv, _) = established_call(&mut sim);
    hold_caller(&mut sim, &inv);
    let ok = consultation(&mut sim);
    assert_eq!(sim.core.active_calls(), 2);
    let before = sim.media.requests().len();

    sim.input("127.0.0.1:6002", &refer(&inv, 1, &replacing(&ok, "")));
    // 1002 hears it is done and is hung up on both of its calls.
    let to_referrer = transfer_done(sim.take_to("127.0.0.1:6002"));
    assert!(
        to_referrer.iter().any(|m| m.starts_with("BYE ")),
        "{to_referrer:?}"
    );
    let second_line = sim.take_to("127.0.0.1:6012");
    assert!(
        second_line
            .iter()
            .any(|m| m.starts_with("BYE ") && header(m, "Call-ID") == Some("call-6012")),
        "{second_line:?}"
    );
    // 1003 hears nothing of it; the relays are joined, each leg pinned to the other relay.
    assert!(sim.take_to("127.0.0.1:6003").is_empty());
    let after = sim.media.requests()[before..].to_vec();
    let pins = pins(&after);
    assert_eq!(pins.len(), 2, "{after:?}");
    assert_eq!((pins[0].1, pins[1].1), (Side::B, Side::A));
    assert_ne!(pins[0].0, pins[1].0, "two calls joined");
    assert!(after
        .iter()
        .any(|r| matches!(r, MediaRequest::Srtp(_, Side::B, None))));
    // The caller, held by 1002, is taken off hold by Ringside.
    let resume = taken_off_hold(&mut sim, 6001);
    assert_eq!(sim.core.active_calls(), 2);

    // The caller hangs up: the consulted party is hung up too, and 1002 hears nothing more.
    let bye = format!(
        "BYE sip:ringside@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bKbye1;rport\r\n\
         From: {}\r\nTo: {}\r\nCall-ID: call-6001\r\nCSeq: 9 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        header(&resume, "To").unwrap(),
        header(&resume, "From").unwrap(),
    );
    sim.input("127.0.0.1:6001", &bye);
    assert!(sim
        .take_to("127.0.0.1:6001")
        .iter()
        .any(|m| status(m) == 200));
    let to_1003 = sim.take_to("127.0.0.1:6003");
    assert!(to_1003.iter().any(|m| m.starts_with("BYE ")), "{to_1003:?}");
    assert!(sim.take_to("127.0.0.1:6002").is_empty());
    assert!(sim.take_to("127.0.0.1:6012").is_empty());
    assert_eq!(sim.core.active_calls(), 0);
}

#[tokio::test]
async fn replaces_naming_no_call_another_extensions_call_or_an_early_dialog_are_refused() {
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1003(&mut sim);
    let (inv, _) = established_call(&mut sim);
    let ok = consultation(&mut sim);
    let refused = |sim: &mut Sim, cseq: u32, target: &str| -> u16 {
        sim.input("127.0.0.1:6002", &refer(&inv, cseq, target));
        let r = sim.take_to("127.0.0.1:6002");
        assert!(!r.iter().any(|m| m.starts_with("NOTIFY ")), "{r:?}");
        r.iter().map(|m| status(m)).find(|c| *c >= 300).unwrap_or(0)
    };
    // No such call; a malformed Replaces; early-only for an answered call.
    assert_eq!(
        refused(
            &mut sim,
            1,
            "sip:1003@127.0.0.1?Replaces=nope%3Bto-tag%3D1%3Bfrom-tag%3D2"
        ),
        481
    );
    assert_eq!(
        refused(&mut sim, 2, "sip:1003@127.0.0.1?Replaces=x%3Bto-tag%3D1%3"),
        400
    );
    assert_eq!(refused(&mut sim, 3, &replacing(&ok, "%3Bearly-only")), 486);
    // A call 1003 placed (ringing 1002): not 1002's to hand over, whatever its tags.
    authed_call(&mut sim, "1003", "pw-1003-secret", "1002", 6013);
    let ringing = sim
        .take_to("127.0.0.1:6013")
        .into_iter()
        .find(|m| status(m) == 100 || status(m) == 180);
    let _ = ringing;
    let to_1002 = sim.take_to("127.0.0.1:6002").remove(0);
    assert!(to_1002.starts_with("INVITE "), "{to_1002}");
    // Ringside's tag for 1003's call is in the To of its responses; ask for them with a
    // 180 from 1002.
    sim.input(
        "127.0.0.1:6002",
        &response_to(&to_1002, 180, "Ringing", "r2", None),
    );
    let ringing = sim
        .take_to("127.0.0.1:6013")
        .into_iter()
        .find(|m| status(m) == 180)
        .expect("1003 hears ringing");
    let ours = header(&ringing, "To")
        .unwrap()
        .split(";tag=")
        .nth(1)
        .unwrap()
        .to_owned();
    let target =
        format!("sip:1003@127.0.0.1?Replaces=call-6013%3Bto-tag%3D{ours}%3Bfrom-tag%3Dc6013");
    assert_eq!(refused(&mut sim, 4, &target), 403);
    // Nothing was joined: both of 1002's calls and 1003's go on.
    assert_eq!(sim.core.active_calls(), 3);
}

/// 1002 hands the caller over to a party that called *it*: 1003 calls 1002 (call-6013), 1002
/// answers, then REFERs the first caller replacing its dialog of 1003's call. The two calls
/// are joined on their B legs, 1002 leaves both, and a hangup on either side ends both.
#[tokio::test]
async fn an_attended_transfer_can_hand_over_to_a_call_the_referrer_received() {
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1003(&mut sim);
    let (inv, _) = established_call(&mut sim);
    authed_call(&mut sim, "1003", "pw-1003-secret", "1002", 6013);
    let inv_y = sim.take_to("127.0.0.1:6002").remove(0);
    assert!(inv_y.starts_with("INVITE "), "{inv_y}");
    sim.input(
        "127.0.0.1:6002",
        &response_to(&inv_y, 200, "OK", "y2", Some(7022)),
    );
    assert!(sim
        .take_to("127.0.0.1:6002")
        .iter()
        .any(|m| m.starts_with("ACK ")));
    let ok_y = sim
        .take_to("127.0.0.1:6013")
        .into_iter()
        .find(|m| status(m) == 200)
        .expect("1003's call is answered");
    let in_dialog = |method: &str, cseq: u32| {
        format!(
            "{method} sip:ringside@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6013;branch=z9hG4bK{method}{cseq};rport\r\n\
             From: {}\r\nTo: {}\r\nCall-ID: call-6013\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            header(&ok_y, "From").unwrap(),
            header(&ok_y, "To").unwrap()
        )
    };
    sim.input("127.0.0.1:6013", &in_dialog("ACK", 2));
    assert_eq!(sim.core.active_calls(), 2);
    // 1002 holds 1003 (its re-INVITE on its dialog of call Y goes on to 1003).
    let sdp = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
               m=audio 7022 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendonly\r\n";
    let hold = format!(
        "INVITE sip:ringside@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6002;branch=z9hG4bKholdy;rport\r\n\
         From: {};tag=y2\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 5 INVITE\r\nContact: <sip:callee@127.0.0.1:6002>\r\n\
         Max-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        header(&inv_y, "To").unwrap(),
        header(&inv_y, "From").unwrap(),
        header(&inv_y, "Call-ID").unwrap(),
        sdp.len()
    );
    sim.input("127.0.0.1:6002", &hold);
    let to_1003 = sim.take_to("127.0.0.1:6013").remove(0);
    assert!(
        to_1003.starts_with("INVITE ") && to_1003.contains("a=sendonly"),
        "{to_1003}"
    );
    let held = response_to(&to_1003, 200, "OK", "ignored", Some(7013))
        .replace("PCMU/8000\r\n", "PCMU/8000\r\na=recvonly\r\n");
    sim.input("127.0.0.1:6013", &held);
    assert!(sim
        .take_to("127.0.0.1:6013")
        .iter()
        .any(|m| m.starts_with("ACK ")));
    assert!(sim
        .take_to("127.0.0.1:6002")
        .iter()
        .any(|m| status(m) == 200));
    let before = sim.media.requests().len();

    // Replaces names 1002's dialog of call Y from Ringside's end: Ringside's tag (the From of
    // its INVITE to 1002) is the to-tag, 1002's the from-tag.
    let y_call_id = header(&inv_y, "Call-ID").unwrap().replace('@', "%40");
    let ours = header(&inv_y, "From")
        .unwrap()
        .split(";tag=")
        .nth(1)
        .unwrap()
        .to_owned();
    let target =
        format!("sip:1003@127.0.0.1?Replaces={y_call_id}%3Bto-tag%3D{ours}%3Bfrom-tag%3Dy2");
    sim.input("127.0.0.1:6002", &refer(&inv, 1, &target));
    let to_referrer = transfer_done(sim.take_to("127.0.0.1:6002"));
    // 1002 is hung up on both calls: call X's dialog and its dialog of call Y.
    let byes: Vec<_> = to_referrer
        .iter()
        .filter(|m| m.starts_with("BYE "))
        .map(|m| header(m, "Call-ID").unwrap().to_owned())
        .collect();
    assert_eq!(byes.len(), 2, "{to_referrer:?}");
    assert!(byes.contains(&header(&inv, "Call-ID").unwrap().to_owned()));
    assert!(byes.contains(&header(&inv_y, "Call-ID").unwrap().to_owned()));
    // The first caller hears nothing of it; 1003, held by 1002, is taken off hold by
    // Ringside; the relays are joined on their B legs.
    assert!(sim.take_to("127.0.0.1:6001").is_empty());
    taken_off_hold(&mut sim, 6013);
    let after = sim.media.requests()[before..].to_vec();
    let pins = pins(&after);
    assert_eq!(pins.len(), 2, "{after:?}");
    assert_eq!((pins[0].1, pins[1].1), (Side::B, Side::B));
    assert_ne!(pins[0].0, pins[1].0, "two calls joined");
    assert_eq!(sim.core.active_calls(), 2);

    // 1003 hangs up: the first caller is hung up too.
    sim.input("127.0.0.1:6013", &in_dialog("BYE", 3));
    assert!(sim
        .take_to("127.0.0.1:6013")
        .iter()
        .any(|m| status(m) == 200));
    let to_caller = sim.take_to("127.0.0.1:6001");
    assert!(
        to_caller.iter().any(|m| m.starts_with("BYE ")),
        "{to_caller:?}"
    );
    assert!(sim.take_to("127.0.0.1:6002").is_empty());
    assert_eq!(sim.core.active_calls(), 0);
}

/// 1002's consultation call to 1003 (from its second line at 6012) rings: 1003 sent 180
/// (tag `c3`). Returns the 180 1002 got (Ringside's tag in its To) and the INVITE 1003 got.
fn ringing_consultation(sim: &mut Sim) -> (String, String) {
    authed_call(sim, "1002", "pw-1002-secret", "1003", 6012);
    let inv3 = sim.take_to("127.0.0.1:6003").remove(0);
    sim.input(
        "127.0.0.1:6003",
        &response_to(&inv3, 180, "Ringing", "c3", None)
            .replace("callee@127.0.0.1:6002", "callee@127.0.0.1:6003"),
    );
    let ringing = sim
        .take_to("127.0.0.1:6012")
        .into_iter()
        .find(|m| status(m) == 180)
        .expect("1002 hears 1003 ringing");
    (ringing, inv3)
}

/// Semi-attended transfer: 1002 holds the caller, calls 1003 and transfers while 1003 still
/// rings. Returns 1003's INVITE and Ringside's re-INVITE taking the caller off hold.
fn semi_attended(sim: &mut Sim) -> (String, String) {
    register_1003(sim);
    let (inv, _) = established_call(sim);
    hold_caller(sim, &inv);
    let (ringing, inv3) = ringing_consultation(sim);
    let before = sim.media.requests().len();
    sim.input("127.0.0.1:6002", &refer(&inv, 1, &replacing(&ringing, "")));
    let to_referrer = transfer_done(sim.take_to("127.0.0.1:6002"));
    assert!(
        to_referrer.iter().any(|m| m.starts_with("BYE ")),
        "{to_referrer:?}"
    );
    // 1002's consultation INVITE ends (487): it has left; 1003 rings on, undisturbed.
    let second_line = sim.take_to("127.0.0.1:6012");
    assert!(
        second_line
            .iter()
            .any(|m| status(m) == 487 && header(m, "Call-ID") == Some("call-6012")),
        "{second_line:?}"
    );
    assert!(
        !second_line.iter().any(|m| m.starts_with("BYE ")),
        "{second_line:?}"
    );
    assert!(sim.take_to("127.0.0.1:6003").is_empty());
    // The relays are joined: the caller hears the consultation call's leg (its ringing).
    let after = sim.media.requests()[before..].to_vec();
    let pins = pins(&after);
    assert_eq!(pins.len(), 2, "{after:?}");
    assert_eq!((pins[0].1, pins[1].1), (Side::B, Side::A));
    // The caller, held by 1002, is taken off hold.
    let resume = taken_off_hold(sim, 6001);
    assert_eq!(sim.core.active_calls(), 2);
    // 1002 cancelling its consultation call now (as phones do) changes nothing.
    let cancel = format!(
        "CANCEL sip:1003@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6012;branch={};rport\r\n\
         From: {}\r\nTo: <sip:1003@127.0.0.1:5060>\r\nCall-ID: call-6012\r\nCSeq: 2 CANCEL\r\n\
         Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        header(&ringing, "Via")
            .unwrap()
            .split("branch=")
            .nth(1)
            .unwrap()
            .split(';')
            .next()
            .unwrap(),
        header(&ringing, "From").unwrap(),
    );
    sim.input("127.0.0.1:6012", &cancel);
    sim.take_to("127.0.0.1:6012");
    assert!(sim.take_to("127.0.0.1:6003").is_empty());
    assert_eq!(sim.core.active_calls(), 2);
    (inv3, resume)
}

/// The caller's BYE, in the dialog of Ringside's request `ours` to it.
fn caller_bye(ours: &str) -> String {
    format!(
        "BYE sip:ringside@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bKbye1;rport\r\n\
         From: {}\r\nTo: {}\r\nCall-ID: call-6001\r\nCSeq: 9 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        header(ours, "To").unwrap(),
        header(ours, "From").unwrap(),
    )
}

#[tokio::test]
async fn a_semi_attended_transfer_hands_the_caller_a_consultation_call_that_still_rings() {
    let mut sim = Sim::new(Duration::from_secs(30));
    let (inv3, _) = semi_attended(&mut sim);
    let before = sim.media.requests().len();
    // 1003 answers: Ringside ACKs it and tells 1002 nothing; the caller and 1003 talk.
    let ok3 = response_to(&inv3, 200, "OK", "c3", Some(7003))
        .replace("callee@127.0.0.1:6002", "callee@127.0.0.1:6003");
    sim.input("127.0.0.1:6003", &ok3);
    assert!(sim
        .take_to("127.0.0.1:6003")
        .iter()
        .any(|m| m.starts_with("ACK ")));
    assert!(sim.take_to("127.0.0.1:6012").is_empty());
    assert!(sim.take_to("127.0.0.1:6001").is_empty());
    assert_eq!(sim.core.active_calls(), 2);
    // The consultation call's leg towards the caller's relay stays in the join's PCMU.
    let after = sim.media.requests()[before..].to_vec();
    let last_a = after.iter().rev().find_map(|r| match r {
        MediaRequest::Codec(_, Side::A, c) => Some(*c),
        _ => None,
    });
    assert!(last_a.is_none_or(|c| c.payload_type == 0), "{after:?}");
    // 1003 hangs up: the caller is hung up too.
    let bye = format!(
        "BYE sip:ringside@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6003;branch=z9hG4bKbye3;rport\r\n\
         From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 9 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        header(&ok3, "To").unwrap(),
        header(&ok3, "From").unwrap(),
        header(&ok3, "Call-ID").unwrap(),
    );
    sim.input("127.0.0.1:6003", &bye);
    assert!(sim
        .take_to("127.0.0.1:6003")
        .iter()
        .any(|m| status(m) == 200));
    let to_caller = sim.take_to("127.0.0.1:6001");
    assert!(
        to_caller.iter().any(|m| m.starts_with("BYE ")),
        "{to_caller:?}"
    );
    assert!(sim.take_to("127.0.0.1:6012").is_empty());
    assert_eq!(sim.core.active_calls(), 0);
}

#[tokio::test]
async fn a_semi_attended_transfer_nobody_answers_or_the_caller_abandons_ends_both_calls() {
    // 1003 is busy: the caller is hung up.
    let mut sim = Sim::new(Duration::from_secs(30));
    let (inv3, _) = semi_attended(&mut sim);
    let busy = response_to(&inv3, 486, "Busy Here", "c3", None)
        .replace("callee@127.0.0.1:6002", "callee@127.0.0.1:6003");
    sim.input("127.0.0.1:6003", &busy);
    let to_caller = sim.take_to("127.0.0.1:6001");
    assert!(
        to_caller.iter().any(|m| m.starts_with("BYE ")),
        "{to_caller:?}"
    );
    assert!(sim.take_to("127.0.0.1:6012").is_empty());
    assert_eq!(sim.core.active_calls(), 0);

    // The caller hangs up while 1003 rings: 1003's ringing is cancelled.
    let mut sim = Sim::new(Duration::from_secs(30));
    let (_, resume) = semi_attended(&mut sim);
    sim.input("127.0.0.1:6001", &caller_bye(&resume));
    assert!(sim
        .take_to("127.0.0.1:6001")
        .iter()
        .any(|m| status(m) == 200));
    let to_1003 = sim.take_to("127.0.0.1:6003");
    assert!(
        to_1003.iter().any(|m| m.starts_with("CANCEL ")),
        "{to_1003:?}"
    );
    assert_eq!(sim.core.active_calls(), 0);
}

/// Attended transfer from the caller's side: 1001 calls 1002 (answered), calls 1003 from a
/// second line (6011, answered), then REFERs on its first call replacing its call to 1003.
/// 1002 and 1003 are joined (both calls' A legs face each other) and 1001 leaves both.
#[tokio::test]
async fn the_caller_hands_the_party_it_called_to_another_call_of_its_own() {
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1003(&mut sim);
    let (inv, ok) = established_call(&mut sim);
    authed_call(&mut sim, "1001", "pw-1001-secret", "1003", 6011);
    let inv3 = sim.take_to("127.0.0.1:6003").remove(0);
    let ok3 = response_to(&inv3, 200, "OK", "c3", Some(7003))
        .replace("callee@127.0.0.1:6002", "callee@127.0.0.1:6003");
    sim.input("127.0.0.1:6003", &ok3);
    sim.take_to("127.0.0.1:6003");
    let ok_y = sim
        .take_to("127.0.0.1:6011")
        .into_iter()
        .find(|m| status(m) == 200)
        .expect("1001's second call is answered");
    sim.input(
        "127.0.0.1:6011",
        &format!(
            "ACK sip:ringside@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6011;branch=z9hG4bKack6011;rport\r\n\
             From: {}\r\nTo: {}\r\nCall-ID: call-6011\r\nCSeq: 2 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            header(&ok_y, "From").unwrap(),
            header(&ok_y, "To").unwrap()
        ),
    );
    assert_eq!(sim.core.active_calls(), 2);
    let before = sim.media.requests().len();
    let ours = header(&ok_y, "To")
        .unwrap()
        .split(";tag=")
        .nth(1)
        .unwrap()
        .to_owned();
    let refer_to = format!(
        "Refer-To: <sip:1003@127.0.0.1?Replaces=call-6011%3Bto-tag%3D{ours}%3Bfrom-tag%3Dc6011>\r\n"
    );
    sim.input(
        "127.0.0.1:6001",
        &from_caller(&ok, "REFER", 3, &refer_to, None),
    );
    let to_referrer = transfer_done(sim.take_to("127.0.0.1:6001"));
    assert!(
        to_referrer
            .iter()
            .any(|m| m.starts_with("BYE ") && header(m, "Call-ID") == Some("call-6001")),
        "{to_referrer:?}"
    );
    assert!(sim
        .take_to("127.0.0.1:6011")
        .iter()
        .any(|m| m.starts_with("BYE ") && header(m, "Call-ID") == Some("call-6011")));
    // Neither called party hears of it; the calls are joined on their A legs.
    assert!(sim.take_to("127.0.0.1:6002").is_empty());
    assert!(sim.take_to("127.0.0.1:6003").is_empty());
    let after = sim.media.requests()[before..].to_vec();
    let pins = pins(&after);
    assert_eq!(pins.len(), 2, "{after:?}");
    assert_eq!((pins[0].1, pins[1].1), (Side::A, Side::A));
    assert_ne!(pins[0].0, pins[1].0);
    assert_eq!(sim.core.active_calls(), 2);
    // 1002 hangs up: 1003 is hung up too.
    sim.input("127.0.0.1:6002", &referrer_bye(&inv));
    assert!(sim
        .take_to("127.0.0.1:6002")
        .iter()
        .any(|m| status(m) == 200));
    assert!(sim
        .take_to("127.0.0.1:6003")
        .iter()
        .any(|m| m.starts_with("BYE ")));
    assert_eq!(sim.core.active_calls(), 0);
}
