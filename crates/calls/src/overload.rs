//! Overload control at the transport: when the core's inbound queue is deep, requests that
//! start new work (a call, a registration, an OPTIONS ping) are refused at once with
//! `503 Service Unavailable` and `Retry-After` (RFC 3261 21.5.4), statelessly, before they cost
//! the core anything. Responses and requests inside a dialog (and ACK and CANCEL, which
//! belong to a transaction already started) still reach the core, so the calls in progress
//! keep working and the queue drains. The decision is a pure function of the message and the
//! queue depth.

use bytes::Bytes;
use ringside_sip::message::{self, make_response, new_tag};
use rsip::headers::{self, Header, UntypedHeader};
use rsip::{Method, SipMessage};

/// When the driver starts refusing new work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overload {
    /// Messages waiting for the core above which new work is refused. At 2,000 calls/s the
    /// core takes about 20,000 messages a second, so the default is under a second of
    /// backlog.
    pub queue_depth: usize,
    /// Seconds callers are asked to wait (`Retry-After`).
    pub retry_after_secs: u32,
}

impl Default for Overload {
    fn default() -> Self {
        Overload {
            queue_depth: 16_384,
            retry_after_secs: 5,
        }
    }
}

/// Whether `msg` starts new work: a request outside any dialog (no To tag) other than ACK
/// and CANCEL.
pub fn starts_new_work(msg: &SipMessage) -> bool {
    match msg {
        SipMessage::Request(r) => {
            !matches!(r.method, Method::Ack | Method::Cancel) && message::to_tag(r).is_none()
        }
        SipMessage::Response(_) => false,
    }
}

impl Overload {
    /// The refusal for `msg` with `depth` messages waiting, if it is to be refused.
    pub fn refusal(&self, msg: &SipMessage, depth: usize) -> Option<Bytes> {
        if depth < self.queue_depth || !starts_new_work(msg) {
            return None;
        }
        let SipMessage::Request(req) = msg else {
            return None;
        };
        let mut resp = make_response(req, 503.into(), Some(&new_tag()));
        resp.headers
            .push(Header::RetryAfter(headers::RetryAfter::new(
                self.retry_after_secs.to_string(),
            )));
        Some(message::serialize_response(&resp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(text: &str) -> SipMessage {
        message::parse(text.replace('\n', "\r\n").as_bytes()).unwrap()
    }

    fn request(method: &str, to_tag: Option<&str>) -> SipMessage {
        let tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
        msg(&format!(
            "{method} sip:1002@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-{method}\nFrom: <sip:1001@127.0.0.1>;tag=a\nTo: <sip:1002@127.0.0.1>{tag}\nCall-ID: c1\nCSeq: 1 {method}\nMax-Forwards: 70\nContent-Length: 0\n\n"
        ))
    }

    #[test]
    fn new_work_is_what_starts_outside_a_dialog() {
        for m in ["INVITE", "REGISTER", "OPTIONS", "MESSAGE", "SUBSCRIBE"] {
            assert!(starts_new_work(&request(m, None)), "{m}");
            assert!(!starts_new_work(&request(m, Some("b"))), "{m} in a dialog");
        }
        for m in ["ACK", "CANCEL"] {
            assert!(!starts_new_work(&request(m, None)), "{m}");
        }
        assert!(!starts_new_work(&request("BYE", Some("b"))));
        let resp = msg("SIP/2.0 200 OK\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-x\nFrom: <sip:a@b>;tag=a\nTo: <sip:c@d>;tag=b\nCall-ID: c2\nCSeq: 1 INVITE\nContent-Length: 0\n\n");
        assert!(!starts_new_work(&resp));
    }

    #[test]
    fn refused_only_over_the_depth_with_503_and_retry_after() {
        let o = Overload {
            queue_depth: 100,
            retry_after_secs: 7,
        };
        let invite = request("INVITE", None);
        assert!(o.refusal(&invite, 99).is_none());
        let r = o.refusal(&invite, 100).expect("refused");
        let text = std::str::from_utf8(&r).unwrap();
        assert!(text.starts_with("SIP/2.0 503 "), "{text}");
        assert!(text.contains("Retry-After: 7\r\n"), "{text}");
        assert!(text.contains("Call-ID: c1\r\n"), "{text}");
        assert!(text.contains("branch=z9hG4bK-INVITE"), "{text}");
        // A dialog's BYE still goes to the core, however deep the queue.
        assert!(o.refusal(&request("BYE", Some("b")), 1_000_000).is_none());
    }
}
