//! Blind transfer (RFC 3515 REFER with RFC 3420 sipfrag NOTIFYs) on simulated time: the
//! extension that answered transfers the caller to another extension; the new party rings
//! with Ringside's offer, and when it answers leg B moves to it and the referrer is told and
//! hung up. Refused: to a number the referrer may not dial, Replaces from a trunk's party, a
//! REFER from another address than its dialog's party; a failed transfer leaves the referrer
//! with the caller. From the caller's side, the extension that placed a call (or a PBX that
//! called in) hands the party it reached to another number in a call of Ringside's own.
//! Attended transfers: `attended_transfer.rs`.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::transfer::*;
use common::*;
use ringside_calls::fake_media::MediaRequest;
use ringside_calls::Side;

#[tokio::test]
async fn the_answering_extension_transfers_the_caller_to_another() {
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1003(&mut sim);
    let (inv, _ok) = established_call(&mut sim);
    sim.input("127.0.0.1:6002", &refer(&inv, 1, "sip:1003@127.0.0.1"));
    let to_referrer = sim.take_to("127.0.0.1:6002");
    assert!(
        to_referrer.iter().any(|m| status(m) == 202),
        "{to_referrer:?}"
    );
    let trying = to_referrer
        .iter()
        .find(|m| m.starts_with("NOTIFY "))
        .expect("a NOTIFY");
    assert_eq!(header(trying, "Event"), Some("refer"), "{trying}");
    assert!(trying.contains("message/sipfrag"), "{trying}");
    assert_eq!(sipfrag(trying), "SIP/2.0 100 Trying");
    sim.input(
        "127.0.0.1:6002",
        &response_to(trying, 200, "OK", "cb", None),
    );

    // 1003 rings with Ringside's offer (the caller's number in From) and answers.
    let new_inv = sim.take_to("127.0.0.1:6003").remove(0);
    assert!(new_inv.starts_with("INVITE sip:1003@"), "{new_inv}");
    assert!(
        header(&new_inv, "From").unwrap().contains("sip:1001@"),
        "{new_inv}"
    );
    assert!(
        new_inv.contains("m=audio ") && new_inv.contains("PCMU"),
        "{new_inv}"
    );
    assert!(
        sim.take_to("127.0.0.1:6001").is_empty(),
        "the caller hears nothing of it"
    );
    let before = sim.media.requests().len();
    let ok3 = response_to(&new_inv, 200, "OK", "c3", Some(7003))
        .replace("callee@127.0.0.1:6002", "callee@127.0.0.1:6003");
    sim.input("127.0.0.1:6003", &ok3);
    assert!(sim
        .take_to("127.0.0.1:6003")
        .iter()
        .any(|m| m.starts_with("ACK ")));
    // Leg B of the relay now points at 1003.
    let new_rtp: SocketAddr = "127.0.0.1:7003".parse().unwrap();
    let after = sim.media.requests()[before..].to_vec();
    assert!(
        after
            .iter()
            .any(|r| matches!(r, MediaRequest::Announce(_, Side::B, a) if *a == new_rtp)),
        "{after:?}"
    );
    // The referrer hears the outcome and is hung up.
    let to_referrer = sim.take_to("127.0.0.1:6002");
    let done = to_referrer
        .iter()
        .find(|m| m.starts_with("NOTIFY "))
        .expect("the final NOTIFY");
    assert_eq!(sipfrag(done), "SIP/2.0 200 OK");
    assert!(header(done, "Subscription-State")
        .unwrap()
        .starts_with("terminated"));
    let bye = to_referrer
        .iter()
        .find(|m| m.starts_with("BYE "))
        .expect("the referrer is hung up");
    sim.input("127.0.0.1:6002", &response_to(bye, 200, "OK", "cb", None));
    assert_eq!(sim.core.active_calls(), 1, "the caller talks to 1003");
    assert!(sim.take_to("127.0.0.1:6001").is_empty());
    // The old leg B's late requests do not touch the call.
    sim.input("127.0.0.1:6002", &refer(&inv, 2, "sip:1003@127.0.0.1"));
    assert!(sim
        .take_to("127.0.0.1:6002")
        .iter()
        .any(|m| status(m) == 481));
    assert_eq!(sim.core.active_calls(), 1);
}

#[tokio::test]
async fn a_referrer_that_hangs_up_at_once_still_transfers_and_a_failed_transfer_ends_the_call() {
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1003(&mut sim);
    let (inv, ok) = established_call(&mut sim);
    sim.input("127.0.0.1:6002", &refer(&inv, 1, "sip:1003@127.0.0.1"));
    sim.take_to("127.0.0.1:6002");
    // The referrer's BYE right after the 202: answered, and the call goes on.
    sim.input("127.0.0.1:6002", &referrer_bye(&inv));
    assert!(sim
        .take_to("127.0.0.1:6002")
        .iter()
        .any(|m| status(m) == 200));
    assert!(
        !sim.take_to("127.0.0.1:6001")
            .iter()
            .any(|m| m.starts_with("BYE ")),
        "the caller stays"
    );
    assert_eq!(sim.core.active_calls(), 1);
    // 1003 is busy: with the referrer gone, the caller is hung up.
    let new_inv = sim.take_to("127.0.0.1:6003").remove(0);
    sim.input(
        "127.0.0.1:6003",
        &response_to(&new_inv, 486, "Busy Here", "c3", None),
    );
    let to_caller = sim.take_to("127.0.0.1:6001");
    assert!(
        to_caller.iter().any(|m| m.starts_with("BYE ")),
        "{to_caller:?}"
    );
    assert_eq!(sim.core.active_calls(), 0);
    let _ = ok;
}

#[tokio::test]
async fn a_failed_transfer_leaves_the_referrer_with_the_caller() {
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1003(&mut sim);
    let (inv, _) = established_call(&mut sim);
    sim.input("127.0.0.1:6002", &refer(&inv, 1, "sip:1003@127.0.0.1"));
    sim.take_to("127.0.0.1:6002");
    let new_inv = sim.take_to("127.0.0.1:6003").remove(0);
    sim.input(
        "127.0.0.1:6003",
        &response_to(&new_inv, 486, "Busy Here", "c3", None),
    );
    let to_referrer = sim.take_to("127.0.0.1:6002");
    let done = to_referrer
        .iter()
        .find(|m| m.starts_with("NOTIFY "))
        .expect("the final NOTIFY");
    assert_eq!(sipfrag(done), "SIP/2.0 486 Busy Here");
    assert!(!to_referrer.iter().any(|m| m.starts_with("BYE ")));
    assert_eq!(sim.core.active_calls(), 1, "the call goes on");
}

#[tokio::test]
async fn transfers_that_could_be_toll_fraud_or_are_not_supported_are_refused() {
    // To a PSTN number no trunk lets 1002 dial: refused, nothing rings.
    let mut sim = Sim::new(Duration::from_secs(30));
    let (inv, _) = established_call(&mut sim);
    sim.input(
        "127.0.0.1:6002",
        &refer(&inv, 1, "sip:+447700900123@127.0.0.1"),
    );
    let r = sim.take_to("127.0.0.1:6002");
    assert!(r.iter().any(|m| status(m) == 403), "{r:?}");
    assert!(!r.iter().any(|m| m.starts_with("NOTIFY ")), "{r:?}");
    // To another tenant's extension: refused the same way.
    sim.input("127.0.0.1:6002", &refer(&inv, 2, "sip:2001@127.0.0.1"));
    assert!(sim
        .take_to("127.0.0.1:6002")
        .iter()
        .any(|m| status(m) == 403));
    assert_eq!(sim.core.active_calls(), 1);
    // The carrier's party of a call 1001 placed cannot redirect it (a PSTN number
    // transferring the call back out would dial at the tenant's cost).
    let mut sim = Sim::new(Duration::from_secs(30));
    authed_call(&mut sim, "1001", "pw-1001-secret", "+14155550123", 6001);
    let inv = sim.take_to("127.0.0.1:5099").remove(0);
    sim.input(
        "127.0.0.1:5099",
        &response_to(&inv, 200, "OK", "cb", Some(7099)),
    );
    let ok = sim
        .take_to("127.0.0.1:6001")
        .into_iter()
        .find(|m| status(m) == 200)
        .expect("answered");
    sim.input("127.0.0.1:6001", &from_caller(&ok, "ACK", 2, "", None));
    sim.take_to("127.0.0.1:5099");
    sim.input(
        "127.0.0.1:5099",
        &refer_from(5099, &inv, 1, "sip:+14155550100@127.0.0.1"),
    );
    let r = sim.take_to("127.0.0.1:5099");
    assert!(r.iter().any(|m| status(m) == 403), "{r:?}");
    assert_eq!(sim.core.active_calls(), 1);
    // Nor replace a call: a trunk's party owns none.
    sim.input(
        "127.0.0.1:5099",
        &refer_from(
            5099,
            &inv,
            2,
            "sip:1002@127.0.0.1?Replaces=x%3Bto-tag%3D1%3Bfrom-tag%3D2",
        ),
    );
    let r = sim.take_to("127.0.0.1:5099");
    assert!(r.iter().any(|m| status(m) == 403), "{r:?}");
    // But it may hand the caller to one of the tenant's extensions (what the trunk could
    // call itself).
    register_1003(&mut sim);
    sim.input(
        "127.0.0.1:5099",
        &refer_from(5099, &inv, 3, "sip:1003@127.0.0.1"),
    );
    let r = sim.take_to("127.0.0.1:5099");
    assert!(r.iter().any(|m| status(m) == 202), "{r:?}");
    assert!(sim
        .take_to("127.0.0.1:6003")
        .iter()
        .any(|m| m.starts_with("INVITE sip:1003@")));

    // From the caller's side: a Replaces naming no call is 481, and a blind transfer goes
    // only where the caller could dial.
    let mut sim = Sim::new(Duration::from_secs(30));
    let (_, ok) = established_call(&mut sim);
    let replaces = "Refer-To: <sip:1003@127.0.0.1?Replaces=x%3Bto-tag%3D1%3Bfrom-tag%3D2>\r\n";
    sim.input(
        "127.0.0.1:6001",
        &from_caller(&ok, "REFER", 3, replaces, None),
    );
    assert!(sim
        .take_to("127.0.0.1:6001")
        .iter()
        .any(|m| status(m) == 481));
    let pstn = "Refer-To: <sip:+447700900123@127.0.0.1>\r\n";
    sim.input("127.0.0.1:6001", &from_caller(&ok, "REFER", 4, pstn, None));
    assert!(sim
        .take_to("127.0.0.1:6001")
        .iter()
        .any(|m| status(m) == 403));
    assert_eq!(sim.core.active_calls(), 1);
}

/// A REFER naming a dialog comes from that dialog's party or is refused: whoever learnt the
/// Call-ID and tags (an eavesdropper, another phone) cannot move the call.
#[tokio::test]
async fn a_refer_from_another_address_than_the_dialogs_party_is_refused() {
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1003(&mut sim);
    let (inv, ok) = established_call(&mut sim);
    // Leg B's dialog, from a stranger's address.
    sim.input("127.0.0.66:6002", &refer(&inv, 1, "sip:1003@127.0.0.1"));
    let r = sim.take_to("127.0.0.66:6002");
    assert!(r.iter().any(|m| status(m) == 403), "{r:?}");
    // The caller's dialog, likewise.
    let by_caller = from_caller(&ok, "REFER", 3, "Refer-To: <sip:1003@127.0.0.1>\r\n", None);
    sim.input("127.0.0.66:6001", &by_caller);
    let r = sim.take_to("127.0.0.66:6001");
    assert!(r.iter().any(|m| status(m) == 403), "{r:?}");
    // Nothing was rung, nobody was told anything, the call goes on.
    assert!(sim.take_to("127.0.0.1:6003").is_empty());
    assert!(sim.take_to("127.0.0.1:6001").is_empty());
    assert!(sim.take_to("127.0.0.1:6002").is_empty());
    assert_eq!(sim.core.active_calls(), 1);
    // The party itself, from another port of its address (a reopened TCP or TLS
    // connection), is heard.
    sim.input("127.0.0.1:6102", &refer(&inv, 2, "sip:1003@127.0.0.1"));
    let r = sim.take_to("127.0.0.1:6102");
    assert!(r.iter().any(|m| status(m) == 202), "{r:?}");
    assert!(sim
        .take_to("127.0.0.1:6003")
        .iter()
        .any(|m| m.starts_with("INVITE sip:1003@")));
}

#[tokio::test]
async fn a_referrer_that_hangs_up_at_once_hands_the_caller_over() {
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1003(&mut sim);
    let (inv, _) = established_call(&mut sim);
    sim.input("127.0.0.1:6002", &refer(&inv, 1, "sip:1003@127.0.0.1"));
    sim.take_to("127.0.0.1:6002");
    sim.input("127.0.0.1:6002", &referrer_bye(&inv));
    sim.take_to("127.0.0.1:6002");
    let new_inv = sim.take_to("127.0.0.1:6003").remove(0);
    sim.input(
        "127.0.0.1:6003",
        &response_to(&new_inv, 200, "OK", "c3", Some(7003)),
    );
    assert!(
        sim.take_to("127.0.0.1:6002").is_empty(),
        "nothing more to the referrer that left"
    );
    assert!(sim.take_to("127.0.0.1:6001").is_empty());
    assert_eq!(sim.core.active_calls(), 1, "the caller talks to 1003");
}

#[tokio::test]
async fn a_transfer_nobody_answers_gives_up_after_the_ring_timeout() {
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1003(&mut sim);
    let (inv, _) = established_call(&mut sim);
    sim.input("127.0.0.1:6002", &refer(&inv, 1, "sip:1003@127.0.0.1"));
    let r = sim.take_to("127.0.0.1:6002");
    let trying = r.iter().find(|m| m.starts_with("NOTIFY ")).unwrap();
    sim.input(
        "127.0.0.1:6002",
        &response_to(trying, 200, "OK", "cb", None),
    );
    let new_inv = sim.take_to("127.0.0.1:6003").remove(0);
    sim.input(
        "127.0.0.1:6003",
        &response_to(&new_inv, 180, "Ringing", "c3", None),
    );
    sim.advance(Duration::from_secs(29));
    let early = sim.take_to("127.0.0.1:6002");
    assert!(early.is_empty(), "still ringing: {early:?}");
    sim.advance(Duration::from_secs(2));
    assert!(
        sim.take_to("127.0.0.1:6003")
            .iter()
            .any(|m| m.starts_with("CANCEL ")),
        "the new party stops ringing"
    );
    let to_referrer = sim.take_to("127.0.0.1:6002");
    let done = to_referrer
        .iter()
        .find(|m| m.starts_with("NOTIFY "))
        .expect("the final NOTIFY");
    assert_eq!(sipfrag(done), "SIP/2.0 408 Request Timeout");
    assert_eq!(sim.core.active_calls(), 1, "the referrer keeps the caller");
}

/// The `a=crypto` keys (base64) of a message.
fn crypto_keys(msg: &str) -> Vec<String> {
    msg.lines()
        .filter_map(|l| l.split("inline:").nth(1))
        .map(|k| k.trim().to_string())
        .collect()
}

#[tokio::test]
async fn the_new_party_of_a_transfer_gets_srtp_keys_of_its_own() {
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1003(&mut sim);
    let (inv, _) = established_call(&mut sim);
    let to_referrer = crypto_keys(&inv);
    assert_eq!(
        to_referrer.len(),
        3,
        "1002 was offered keys (optional policy): {inv}"
    );
    sim.input("127.0.0.1:6002", &refer(&inv, 1, "sip:1003@127.0.0.1"));
    sim.take_to("127.0.0.1:6002");
    let new_inv = sim.take_to("127.0.0.1:6003").remove(0);
    let to_target = crypto_keys(&new_inv);
    assert_eq!(to_target.len(), 3, "{new_inv}");
    assert!(
        to_target.iter().all(|k| !to_referrer.contains(k)),
        "fresh keys for the new party: {new_inv}"
    );
    // 1003 answers with a key on the 80-bit suite: leg B's media takes it.
    let key = "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";
    let ok = response_to(&new_inv, 200, "OK", "c3", Some(7003));
    let (head, sdp) = ok.split_once("\r\n\r\n").unwrap();
    let sdp = format!("{sdp}a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:{key}\r\n");
    let head: Vec<&str> = head
        .lines()
        .filter(|l| !l.starts_with("Content-Length"))
        .collect();
    let ok = format!(
        "{}\r\nContent-Length: {}\r\n\r\n{sdp}",
        head.join("\r\n"),
        sdp.len()
    );
    let before = sim.media.requests().len();
    sim.input("127.0.0.1:6003", &ok);
    let keyed = sim.media.requests()[before..]
        .iter()
        .find_map(|r| match r {
            MediaRequest::Srtp(_, Side::B, Some(k)) => Some(k.clone()),
            _ => None,
        })
        .expect("leg B keyed for the new party");
    let line = format!("2 AES_CM_128_HMAC_SHA1_80 inline:{key}");
    let theirs = ringside_sip::sdp::Crypto::parse(&line).unwrap().key_salt;
    assert_eq!(keyed.remote, theirs);
    assert_eq!(sim.core.active_calls(), 1);
}

/// 1001 called 1002 (answered); 1001 REFERs 1002 to 1003 from its own (the caller's) side:
/// 202, NOTIFY 100, and 1003 rings in a call of Ringside's own joined to the first. Returns
/// the INVITE 1002 got (for its dialog) and the INVITE 1003 got.
fn refer_from_caller(sim: &mut Sim) -> (String, String) {
    let (inv, _, inv3) = refer_from_caller_ok(sim);
    (inv, inv3)
}

/// [`refer_from_caller`], also returning the referrer's 200 (for requests in its dialog).
fn refer_from_caller_ok(sim: &mut Sim) -> (String, String, String) {
    register_1003(sim);
    let (inv, ok) = established_call(sim);
    let before = sim.media.requests().len();
    let refer = from_caller(&ok, "REFER", 3, "Refer-To: <sip:1003@127.0.0.1>\r\n", None);
    sim.input("127.0.0.1:6001", &refer);
    let to_referrer = sim.take_to("127.0.0.1:6001");
    assert!(
        to_referrer.iter().any(|m| status(m) == 202),
        "{to_referrer:?}"
    );
    let trying = to_referrer
        .iter()
        .find(|m| m.starts_with("NOTIFY "))
        .expect("a NOTIFY");
    assert_eq!(sipfrag(trying), "SIP/2.0 100 Trying");
    assert_eq!(header(trying, "Call-ID"), Some("call-6001"));
    let inv3 = sim.take_to("127.0.0.1:6003").remove(0);
    assert!(inv3.starts_with("INVITE sip:1003@"), "{inv3}");
    assert_ne!(header(&inv3, "Call-ID"), header(&ok, "Call-ID"));
    // The transferee hears nothing of it yet; the first call's leg A is joined to the new
    // call's.
    assert!(sim.take_to("127.0.0.1:6002").is_empty());
    let after = sim.media.requests()[before..].to_vec();
    let pins = pins(&after);
    assert_eq!(pins.len(), 2, "{after:?}");
    assert_eq!((pins[0].1, pins[1].1), (Side::A, Side::A));
    assert_ne!(pins[0].0, pins[1].0);
    assert_eq!(sim.core.active_calls(), 2);
    (inv, ok, inv3)
}

#[tokio::test]
async fn the_caller_transfers_the_party_it_called_to_another_extension() {
    let mut sim = Sim::new(Duration::from_secs(30));
    let (inv, inv3) = refer_from_caller(&mut sim);
    let ok3 = response_to(&inv3, 200, "OK", "c3", Some(7003))
        .replace("callee@127.0.0.1:6002", "callee@127.0.0.1:6003");
    sim.input("127.0.0.1:6003", &ok3);
    assert!(sim
        .take_to("127.0.0.1:6003")
        .iter()
        .any(|m| m.starts_with("ACK ")));
    // The referrer hears it went through and is hung up; the transferee is undisturbed.
    let to_referrer = sim.take_to("127.0.0.1:6001");
    let done = to_referrer
        .iter()
        .find(|m| m.starts_with("NOTIFY "))
        .expect("a NOTIFY");
    assert_eq!(sipfrag(done), "SIP/2.0 200 OK");
    assert!(
        to_referrer.iter().any(|m| m.starts_with("BYE ")),
        "{to_referrer:?}"
    );
    assert!(sim.take_to("127.0.0.1:6002").is_empty());
    assert_eq!(sim.core.active_calls(), 2);
    // The new call's record: the transferee calling, 1003 answering.
    let rec = sim
        .other
        .iter()
        .rev()
        .find_map(|o| match o {
            ringside_calls::core::CoreOutput::UpdateCall(c) if c.answered_by.is_some() => {
                Some(c.clone())
            }
            _ => None,
        })
        .expect("a record");
    assert_eq!(rec.answered_by.as_deref(), Some("extension:1003"));
    // Its first leg is the transferee's (1002's dialog of the first call).
    assert_eq!(
        Some(rec.legs[0].sip_call_id.as_str()),
        header(&inv, "Call-ID")
    );
    // 1003 hangs up: the transferee is hung up too.
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
    let to_transferee = sim.take_to("127.0.0.1:6002");
    assert!(
        to_transferee.iter().any(|m| m.starts_with("BYE ")),
        "{to_transferee:?}"
    );
    assert_eq!(sim.core.active_calls(), 0);
}

#[tokio::test]
async fn a_caller_side_transfer_that_fails_gives_the_referrer_its_call_back() {
    // 1003 is busy: the referrer hears 486 and gets its call back (Ringside's re-INVITE
    // re-offers it the first call's relay); the transferee hears hold music meanwhile.
    let mut sim = Sim::new(Duration::from_secs(30));
    let (inv, inv3) = refer_from_caller(&mut sim);
    let before = sim.media.requests().len();
    let busy = response_to(&inv3, 486, "Busy Here", "c3", None)
        .replace("callee@127.0.0.1:6002", "callee@127.0.0.1:6003");
    sim.input("127.0.0.1:6003", &busy);
    let to_referrer = sim.take_to("127.0.0.1:6001");
    let over = to_referrer
        .iter()
        .find(|m| m.starts_with("NOTIFY "))
        .expect("a NOTIFY");
    assert_eq!(sipfrag(over), "SIP/2.0 486 Busy Here");
    assert!(
        !to_referrer.iter().any(|m| m.starts_with("BYE ")),
        "{to_referrer:?}"
    );
    let reinvite = to_referrer
        .iter()
        .find(|m| m.starts_with("INVITE "))
        .unwrap_or_else(|| panic!("a re-INVITE to the referrer: {to_referrer:?}"));
    assert_eq!(header(reinvite, "Call-ID"), Some("call-6001"), "{reinvite}");
    assert!(reinvite.contains("m=audio "), "{reinvite}");
    assert!(
        sim.take_to("127.0.0.1:6002").is_empty(),
        "the transferee stays"
    );
    assert_eq!(sim.core.active_calls(), 1, "the first call goes on");
    let after = sim.media.requests()[before..].to_vec();
    assert!(
        after
            .iter()
            .any(|r| matches!(r, MediaRequest::HoldMusic(_, Side::B, true))),
        "{after:?}"
    );
    // The referrer takes it (off hold): ACKed, its media announced, the music stops.
    let before = sim.media.requests().len();
    sim.input(
        "127.0.0.1:6001",
        &response_to(reinvite, 200, "OK", "x", Some(7001)),
    );
    assert!(sim
        .take_to("127.0.0.1:6001")
        .iter()
        .any(|m| m.starts_with("ACK ")));
    let referrer_rtp: SocketAddr = "127.0.0.1:7001".parse().unwrap();
    let after = sim.media.requests()[before..].to_vec();
    assert!(
        after
            .iter()
            .any(|r| matches!(r, MediaRequest::Announce(_, Side::A, a) if *a == referrer_rtp)),
        "{after:?}"
    );
    assert!(
        after
            .iter()
            .any(|r| matches!(r, MediaRequest::HoldMusic(_, Side::B, false))),
        "{after:?}"
    );
    // And the call ends as any other: the transferee hangs up.
    sim.input("127.0.0.1:6002", &referrer_bye(&inv));
    assert!(sim
        .take_to("127.0.0.1:6001")
        .iter()
        .any(|m| m.starts_with("BYE ")));
    assert_eq!(sim.core.active_calls(), 0);

    // The referrer takes its call back with a re-INVITE of its own that crosses Ringside's:
    // its offer gets 491 while Ringside's is pending, Ringside's gets 491 from the phone and
    // goes again after a random pause under 2 s; nobody is hung up.
    let mut sim = Sim::new(Duration::from_secs(30));
    let (_, ok, inv3) = refer_from_caller_ok(&mut sim);
    sim.input(
        "127.0.0.1:6003",
        &response_to(&inv3, 486, "Busy Here", "c3", None)
            .replace("callee@127.0.0.1:6002", "callee@127.0.0.1:6003"),
    );
    let reinvite = sim
        .take_to("127.0.0.1:6001")
        .into_iter()
        .find(|m| m.starts_with("INVITE "))
        .expect("a re-INVITE");
    let own = "v=0\r\no=- 3 3 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
               m=audio 7001 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n";
    sim.input(
        "127.0.0.1:6001",
        &from_caller(&ok, "INVITE", 5, "", Some(own)),
    );
    assert!(
        sim.take_to("127.0.0.1:6001")
            .iter()
            .any(|m| status(m) == 491),
        "the referrer's crossing offer gets 491"
    );
    assert!(
        sim.take_to("127.0.0.1:6002").is_empty(),
        "nothing reaches the transferee"
    );
    sim.input(
        "127.0.0.1:6001",
        &response_to(&reinvite, 491, "Request Pending", "x", None),
    );
    let after = sim.take_to("127.0.0.1:6001");
    assert!(!after.iter().any(|m| m.starts_with("BYE ")), "{after:?}");
    sim.advance(Duration::from_millis(2100));
    let again = sim.take_to("127.0.0.1:6001");
    let retry = again
        .iter()
        .find(|m| m.starts_with("INVITE "))
        .unwrap_or_else(|| panic!("Ringside's re-INVITE again: {again:?}"));
    assert_ne!(header(retry, "CSeq"), header(&reinvite, "CSeq"));
    sim.input(
        "127.0.0.1:6001",
        &response_to(retry, 200, "OK", "x", Some(7001)),
    );
    assert!(sim
        .take_to("127.0.0.1:6001")
        .iter()
        .any(|m| m.starts_with("ACK ")));
    assert_eq!(sim.core.active_calls(), 1);

    // A referrer that refuses its call back: both are hung up.
    let mut sim = Sim::new(Duration::from_secs(30));
    let (_, inv3) = refer_from_caller(&mut sim);
    sim.input(
        "127.0.0.1:6003",
        &response_to(&inv3, 486, "Busy Here", "c3", None)
            .replace("callee@127.0.0.1:6002", "callee@127.0.0.1:6003"),
    );
    let reinvite = sim
        .take_to("127.0.0.1:6001")
        .into_iter()
        .find(|m| m.starts_with("INVITE "))
        .expect("a re-INVITE");
    sim.input(
        "127.0.0.1:6001",
        &response_to(&reinvite, 488, "Not Acceptable Here", "x", None),
    );
    assert!(sim
        .take_to("127.0.0.1:6002")
        .iter()
        .any(|m| m.starts_with("BYE ")));
    assert!(sim
        .take_to("127.0.0.1:6001")
        .iter()
        .any(|m| m.starts_with("BYE ")));
    assert_eq!(sim.core.active_calls(), 0);
}

#[tokio::test]
async fn a_caller_side_transfer_the_transferee_abandons_tells_the_referrer_and_ends() {
    // The transferee hangs up while 1003 rings: the ringing is cancelled, the referrer told
    // and hung up (nobody is left for it).
    let mut sim = Sim::new(Duration::from_secs(30));
    let (inv, inv3) = refer_from_caller(&mut sim);
    sim.input(
        "127.0.0.1:6003",
        &response_to(&inv3, 180, "Ringing", "c3", None)
            .replace("callee@127.0.0.1:6002", "callee@127.0.0.1:6003"),
    );
    sim.take_to("127.0.0.1:6001");
    sim.input("127.0.0.1:6002", &referrer_bye(&inv));
    assert!(sim
        .take_to("127.0.0.1:6002")
        .iter()
        .any(|m| status(m) == 200));
    assert!(sim
        .take_to("127.0.0.1:6003")
        .iter()
        .any(|m| m.starts_with("CANCEL ")));
    let to_referrer = sim.take_to("127.0.0.1:6001");
    let over = to_referrer
        .iter()
        .find(|m| m.starts_with("NOTIFY "))
        .unwrap_or_else(|| panic!("a NOTIFY: {to_referrer:?}"));
    assert_eq!(sipfrag(over), "SIP/2.0 487 Request Terminated");
    assert!(to_referrer.iter().any(|m| m.starts_with("BYE ")));
    assert_eq!(sim.core.active_calls(), 0);
}

/// A trusted PBX calls extension 1002 and, once answered, transfers it from its own (the
/// caller's) side: to another of the tenant's extensions it goes through, to a PSTN number it
/// is refused (a trunk's call never goes back out through a trunk).
#[tokio::test]
async fn a_pbx_that_called_in_transfers_the_extension_it_reached_but_never_back_out() {
    const PBX: &str = "10.9.9.9:5070";
    let mut sim = Sim::new(Duration::from_secs(30));
    register_1002(&mut sim, 6002);
    register_1003(&mut sim);
    sim.input(PBX, &invite("pbx", "1002", 5070, 1, None));
    let inv = sim.take_to("127.0.0.1:6002").remove(0);
    sim.input(
        "127.0.0.1:6002",
        &response_to(&inv, 200, "OK", "cb", Some(7002)),
    );
    sim.take_to("127.0.0.1:6002");
    let ok = sim
        .take_to(PBX)
        .into_iter()
        .find(|m| status(m) == 200)
        .expect("the PBX's call is answered");
    let in_dialog = |method: &str, cseq: u32, extra: &str| {
        format!(
            "{method} sip:1002@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 10.9.9.9:5070;branch=z9hG4bKpbx{cseq}\r\n\
             From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\nContact: <sip:pbx@10.9.9.9:5070>\r\n\
             {extra}Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            header(&ok, "From").unwrap(),
            header(&ok, "To").unwrap(),
            header(&ok, "Call-ID").unwrap(),
        )
    };
    sim.input(PBX, &in_dialog("ACK", 1, ""));
    sim.input(
        PBX,
        &in_dialog("REFER", 2, "Refer-To: <sip:+447700900123@127.0.0.1>\r\n"),
    );
    let r = sim.take_to(PBX);
    assert!(r.iter().any(|m| status(m) == 403), "{r:?}");
    assert!(sim.take_to("127.0.0.1:5099").is_empty());
    sim.input(
        PBX,
        &in_dialog("REFER", 3, "Refer-To: <sip:1003@127.0.0.1>\r\n"),
    );
    let r = sim.take_to(PBX);
    assert!(r.iter().any(|m| status(m) == 202), "{r:?}");
    let trying = r
        .iter()
        .find(|m| m.starts_with("NOTIFY "))
        .expect("a NOTIFY");
    assert_eq!(sipfrag(trying), "SIP/2.0 100 Trying");
    assert!(sim
        .take_to("127.0.0.1:6003")
        .iter()
        .any(|m| m.starts_with("INVITE sip:1003@")));
    assert_eq!(sim.core.active_calls(), 2);
}
