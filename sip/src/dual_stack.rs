//! Dual stack: one process serving IPv4 and IPv6 peers on the same (`[::]`) sockets, with a
//! public address in each family.
//!
//! The transaction user writes Ringside's own address of one family (the primary) into what
//! it sends: the sent-by of its Via, its Contact (`sip:ringside@host`), and the `c=` and `o=`
//! lines of the SDP it anchors on the relay. [`DualStack::localize`] runs on every message the
//! transaction layer sends, where the destination is known, and writes the destination's
//! family's address in those three places instead, so an IPv4 phone is never told to reach
//! Ringside at an IPv6 address nor the reverse. It is deterministic in (message,
//! destination family): a CANCEL or ACK built from a localized INVITE matches it, and a
//! retransmission is the same bytes.
//!
//! Nothing else is touched: the peer's own Vias on responses, other Contacts (a REGISTER
//! response lists the phone's), and From/To/Request-URI domains, which name Ringside but
//! route nothing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rsip::headers::UntypedHeader;
use rsip::{Header, Headers, Request, Response, SipMessage};

/// Ringside's public address in each family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DualStack {
    /// The IPv4 address.
    pub v4: Ipv4Addr,
    /// The IPv6 address.
    pub v6: Ipv6Addr,
}

impl DualStack {
    /// `(wrong, right)`: the address to replace and its replacement, for a peer at `to`.
    fn swap(&self, to: IpAddr) -> (IpAddr, IpAddr) {
        let to = match to {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(to, IpAddr::V4),
            v4 => v4,
        };
        if to.is_ipv4() {
            (IpAddr::V6(self.v6), IpAddr::V4(self.v4))
        } else {
            (IpAddr::V4(self.v4), IpAddr::V6(self.v6))
        }
    }

    /// Writes the address of `to`'s family in Ringside's Via (a request's top one), its
    /// Contact and the SDP's connection and origin lines.
    pub fn localize(&self, msg: &mut SipMessage, to: IpAddr) {
        match msg {
            SipMessage::Request(r) => self.localize_request(r, to),
            SipMessage::Response(r) => self.localize_response(r, to),
        }
    }

    /// [`localize`](Self::localize) for a request (its top Via is Ringside's).
    pub fn localize_request(&self, r: &mut Request, to: IpAddr) {
        self.rewrite(&mut r.headers, &mut r.body, true, to);
    }

    /// [`localize`](Self::localize) for a response (its Vias are the peer's).
    pub fn localize_response(&self, r: &mut Response, to: IpAddr) {
        self.rewrite(&mut r.headers, &mut r.body, false, to);
    }

    fn rewrite(&self, headers: &mut Headers, body: &mut Vec<u8>, own_via: bool, to: IpAddr) {
        let (wrong, right) = self.swap(to);
        let (wrong_host, right_host) = (crate::uri::host(wrong), crate::uri::host(right));
        let mut first_via = own_via;
        for h in headers.iter_mut() {
            match h {
                Header::Via(v) if first_via => {
                    first_via = false;
                    if let Some(out) = via_sent_by(v.value(), &wrong_host, &right_host) {
                        *v = rsip::headers::Via::new(out);
                    }
                }
                Header::Via(_) => first_via = false,
                Header::Contact(c) => {
                    let from = format!("ringside@{wrong_host}");
                    if c.value().contains(&from) {
                        let out = c
                            .value()
                            .replacen(&from, &format!("ringside@{right_host}"), 1);
                        *c = rsip::headers::Contact::new(out);
                    }
                }
                _ => {}
            }
        }
        if let Some(sdp) = sdp_lines(body, wrong, right) {
            let ctype = crate::hdr::header_value(headers, "Content-Type").map(str::to_owned);
            *body = crate::hdr::with_body(headers, ctype.as_deref(), sdp.into_bytes());
        }
    }
}

/// A Via value with its sent-by host `wrong` written `right`; `None` when it is not `wrong`.
fn via_sent_by(via: &str, wrong: &str, right: &str) -> Option<String> {
    // "SIP/2.0/UDP host:port;params": the sent-by starts after the first space.
    let (proto, rest) = via.split_once(' ')?;
    let rest = rest.trim_start();
    let tail = rest.strip_prefix(wrong)?;
    // The whole host, not a prefix of a longer one ("127.0.0.1" in "127.0.0.10").
    if !(tail.is_empty() || tail.starts_with([':', ';', ' ', ','])) {
        return None;
    }
    Some(format!("{proto} {right}{tail}"))
}

/// The SDP in `body` with Ringside's `wrong` address written `right` in its `c=` and `o=`
/// lines; `None` when the body is not text or names `wrong` nowhere.
fn sdp_lines(body: &[u8], wrong: IpAddr, right: IpAddr) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    if !text.starts_with("v=0") {
        return None;
    }
    let line = |ip: IpAddr| {
        let c = crate::sdp::Connection::from_ip(ip);
        format!("{} {} {}", c.net_type, c.addr_type, c.address)
    };
    let (old, new) = (line(wrong), line(right));
    let mut changed = false;
    let mut out = String::with_capacity(text.len() + 16);
    for line in text.split_inclusive('\n') {
        let content = line.trim_end_matches(['\r', '\n']);
        let ending = &line[content.len()..];
        let replaced = match content.get(..2) {
            Some("c=" | "o=") if content.ends_with(&old) => {
                Some(format!("{}{new}", &content[..content.len() - old.len()]))
            }
            _ => None,
        };
        match replaced {
            Some(r) => {
                changed = true;
                out.push_str(&r);
                out.push_str(ending);
            }
            None => out.push_str(line),
        }
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack() -> DualStack {
        DualStack {
            v4: "192.0.2.10".parse().unwrap(),
            v6: "2001:db8::10".parse().unwrap(),
        }
    }

    const SDP4: &str = "v=0\r\no=ringside 1 1 IN IP4 192.0.2.10\r\ns=-\r\n\
                        c=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\n\
                        a=rtpmap:0 PCMU/8000\r\n";

    fn invite(sdp: &str) -> SipMessage {
        let text = format!(
            "INVITE sip:1002@[2001:db8::99]:5060 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKabc;rport\r\n\
             Via: SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bKold\r\n\
             From: <sip:1001@192.0.2.10>;tag=a\r\nTo: <sip:1002@192.0.2.10>\r\n\
             Call-ID: c1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n\
             Contact: <sip:ringside@192.0.2.10:5060>\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        );
        crate::message::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn a_message_to_an_ipv6_peer_names_ringsides_ipv6_address() {
        let mut msg = invite(SDP4);
        stack().localize(&mut msg, "2001:db8::99".parse().unwrap());
        let text = String::from_utf8(crate::message::serialize(&msg).to_vec()).unwrap();
        assert!(
            text.contains("Via: SIP/2.0/UDP [2001:db8::10]:5060;branch=z9hG4bKabc;rport"),
            "{text}"
        );
        assert!(
            text.contains("Via: SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bKold"),
            "only the top Via is Ringside's own: {text}"
        );
        assert!(
            text.contains("Contact: <sip:ringside@[2001:db8::10]:5060>"),
            "{text}"
        );
        assert!(text.contains("c=IN IP6 2001:db8::10\r\n"), "{text}");
        assert!(
            text.contains("o=ringside 1 1 IN IP6 2001:db8::10\r\n"),
            "{text}"
        );
        assert!(text.contains("From: <sip:1001@192.0.2.10>"), "{text}");
        // The body's length follows it.
        let SipMessage::Request(r) = &msg else {
            unreachable!()
        };
        assert!(
            text.contains(&format!("Content-Length: {}\r\n", r.body.len())),
            "{text}"
        );
        assert!(crate::message::parse(&crate::message::serialize(&msg)).is_ok());
    }

    #[test]
    fn a_message_to_a_peer_of_its_own_family_is_left_alone_and_mapped_peers_are_ipv4() {
        let msg = invite(SDP4);
        for to in ["192.0.2.99", "::ffff:192.0.2.99"] {
            let mut m = msg.clone();
            stack().localize(&mut m, to.parse().unwrap());
            assert_eq!(
                crate::message::serialize(&m),
                crate::message::serialize(&msg),
                "{to}"
            );
        }
        // And the reverse: an IPv6-written message to an IPv4 peer.
        let mut six = invite(
            &SDP4
                .replace("IN IP4 192.0.2.10", "IN IP6 2001:db8::10")
                .replace("IN IP4", "IN IP6"),
        );
        if let SipMessage::Request(r) = &mut six {
            for h in r.headers.iter_mut() {
                if let Header::Via(v) = h {
                    let s = v.value().replace("192.0.2.10:5060", "[2001:db8::10]:5060");
                    *v = rsip::headers::Via::new(s);
                }
                if let Header::Contact(_) = h {
                    *h = Header::Contact(rsip::headers::Contact::new(
                        "<sip:ringside@[2001:db8::10]:5060;transport=tcp>",
                    ));
                }
            }
        }
        stack().localize(&mut six, "192.0.2.99".parse().unwrap());
        let text = String::from_utf8(crate::message::serialize(&six).to_vec()).unwrap();
        assert!(
            text.contains("Via: SIP/2.0/UDP 192.0.2.10:5060;branch"),
            "{text}"
        );
        assert!(
            text.contains("<sip:ringside@192.0.2.10:5060;transport=tcp>"),
            "{text}"
        );
        assert!(text.contains("c=IN IP4 192.0.2.10\r\n"), "{text}");
    }

    #[test]
    fn a_responses_vias_and_other_contacts_are_the_peers() {
        let text = "SIP/2.0 200 OK\r\n\
             Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKx\r\n\
             From: <sip:1002@192.0.2.10>;tag=a\r\nTo: <sip:1002@192.0.2.10>;tag=b\r\n\
             Call-ID: r1\r\nCSeq: 2 REGISTER\r\n\
             Contact: <sip:1002@192.0.2.10:5062>;expires=60\r\nContent-Length: 0\r\n\r\n";
        let msg = crate::message::parse(text.as_bytes()).unwrap();
        let mut m = msg.clone();
        stack().localize(&mut m, "2001:db8::99".parse().unwrap());
        assert_eq!(
            crate::message::serialize(&m),
            crate::message::serialize(&msg)
        );
        assert_eq!(
            via_sent_by("SIP/2.0/UDP 192.0.2.100:5060", "192.0.2.10", "x"),
            None
        );
    }
}
