//! What the transfer tests share: REFERs and BYEs from the phones, the sipfrag of a NOTIFY,
//! and the checks every attended transfer makes.

use ringside_calls::fake_media::MediaRequest;
use ringside_calls::Side;

use super::*;

/// A REFER from the callee (at 6002, tag `cb`) on leg B to `target`.
pub fn refer(inv: &str, cseq: u32, target: &str) -> String {
    refer_from(6002, inv, cseq, target)
}

/// A REFER from the callee at `port` (tag `cb`) on leg B to `target`.
pub fn refer_from(port: u16, inv: &str, cseq: u32, target: &str) -> String {
    format!(
        "REFER sip:ringside@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKref{cseq};rport\r\n\
         From: {};tag=cb\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} REFER\r\n\
         Contact: <sip:callee@127.0.0.1:{port}>\r\nRefer-To: <{target}>\r\nReferred-By: <sip:1002@127.0.0.1>\r\n\
         Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        header(inv, "To").unwrap(),
        header(inv, "From").unwrap(),
        header(inv, "Call-ID").unwrap(),
    )
}

/// The referrer's BYE on leg B.
pub fn referrer_bye(inv: &str) -> String {
    format!(
        "BYE sip:ringside@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6002;branch=z9hG4bKbye9;rport\r\n\
         From: {};tag=cb\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 9 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        header(inv, "To").unwrap(),
        header(inv, "From").unwrap(),
        header(inv, "Call-ID").unwrap(),
    )
}

pub fn sipfrag(notify: &str) -> &str {
    notify.split("\r\n\r\n").nth(1).unwrap_or_default().trim()
}

/// The referrer's messages after its REFER of an attended transfer: 202, then a NOTIFY that
/// it is done (`SIP/2.0 200 OK`). Returns them.
pub fn transfer_done(to_referrer: Vec<String>) -> Vec<String> {
    assert!(
        to_referrer.iter().any(|m| status(m) == 202),
        "{to_referrer:?}"
    );
    let done = to_referrer
        .iter()
        .find(|m| m.starts_with("NOTIFY "))
        .expect("a NOTIFY");
    assert_eq!(sipfrag(done), "SIP/2.0 200 OK");
    to_referrer
}

/// The relay legs pinned (joined to another call's relay) among `requests`: (call, side).
pub fn pins(requests: &[MediaRequest]) -> Vec<(u64, Side)> {
    requests
        .iter()
        .filter_map(|r| match r {
            MediaRequest::Pin(k, side, _) => Some((*k, *side)),
            _ => None,
        })
        .collect()
}

/// The party at `port` (its call `call-<port>`), put on hold by the referrer, is taken off
/// hold by a re-INVITE of Ringside's, which it answers; returns that re-INVITE.
pub fn taken_off_hold(sim: &mut Sim, port: u16) -> String {
    let at = format!("127.0.0.1:{port}");
    let resume = sim.take_to(&at).remove(0);
    let call_id = format!("call-{port}");
    assert!(
        resume.starts_with("INVITE ") && header(&resume, "Call-ID") == Some(call_id.as_str()),
        "{resume}"
    );
    assert!(
        !resume.contains("a=sendonly") && !resume.contains("a=inactive"),
        "{resume}"
    );
    sim.input(
        &at,
        &response_to(&resume, 200, "OK", "ignored", Some(port + 1000)),
    );
    assert!(sim.take_to(&at).iter().any(|m| m.starts_with("ACK ")));
    resume
}
