//! SIP dialogs (RFC 3261 §12): the state one side of a B2BUA leg keeps to send in-dialog requests.
//!
//! A [`Dialog`] holds Call-ID, local and remote tags, URIs, the remote target, the route set and
//! the local CSeq. It builds in-dialog requests (BYE, re-INVITE, INFO, UPDATE, OPTIONS), the ACK
//! for a 2xx, and CANCEL for a pending INVITE. It does no IO.

use rsip::headers::{self, Header, UntypedHeader};
use rsip::{Method, Request};

use crate::hdr;
use crate::message::new_branch;
use crate::transaction::{Peer, TransportKind};

/// Ringside's own SIP address as it appears in Via and Contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAddr {
    /// Host or IP put into Via sent-by and Contact (the public IP).
    pub host: String,
    /// SIP port.
    pub port: u16,
}

impl LocalAddr {
    /// A Via header for a new client transaction with a fresh branch.
    pub fn via(&self, transport: TransportKind) -> (Header, String) {
        let branch = new_branch();
        let t = match transport {
            TransportKind::Udp => "UDP",
            TransportKind::Tcp => "TCP",
        };
        let h = Header::Via(headers::Via::new(format!(
            "SIP/2.0/{t} {}:{};branch={branch};rport",
            self.host, self.port
        )));
        (h, branch)
    }

    /// Our Contact header value.
    pub fn contact(&self, transport: TransportKind) -> String {
        match transport {
            TransportKind::Udp => format!("<sip:ringside@{}:{}>", self.host, self.port),
            TransportKind::Tcp => {
                format!("<sip:ringside@{}:{};transport=tcp>", self.host, self.port)
            }
        }
    }
}

/// One side's view of a dialog.
#[derive(Debug, Clone)]
pub struct Dialog {
    /// Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag (None until a UAC leg gets a tagged response).
    pub remote_tag: Option<String>,
    /// Our URI as a name-addr without tag (`"Alice" <sip:1001@host>`).
    pub local_uri: String,
    /// The peer's URI as a name-addr without tag.
    pub remote_uri: String,
    /// Request-URI for in-dialog requests (the peer's Contact).
    pub remote_target: String,
    /// Route set (Record-Route values in the order requests carry them).
    pub route_set: Vec<String>,
    /// Last CSeq we used.
    pub local_cseq: u32,
    /// Where requests go.
    pub peer: Peer,
}

impl Dialog {
    fn base_headers(&self, local: &LocalAddr, method: &Method, cseq: u32) -> (Vec<Header>, String) {
        let (via, branch) = local.via(self.peer.transport);
        let mut h = Vec::with_capacity(10);
        h.push(via);
        for r in &self.route_set {
            h.push(Header::Route(headers::Route::new(r.clone())));
        }
        h.push(Header::MaxForwards(headers::MaxForwards::new("70")));
        h.push(Header::From(headers::From::new(format!(
            "{};tag={}",
            self.local_uri, self.local_tag
        ))));
        h.push(Header::To(headers::To::new(match &self.remote_tag {
            Some(t) => format!("{};tag={t}", self.remote_uri),
            None => self.remote_uri.clone(),
        })));
        h.push(Header::CallId(headers::CallId::new(self.call_id.clone())));
        h.push(Header::CSeq(headers::CSeq::new(format!("{cseq} {method}"))));
        (h, branch)
    }

    /// A new in-dialog request (CSeq incremented). Returns the request and its branch.
    pub fn request(
        &mut self,
        local: &LocalAddr,
        method: Method,
        body: Option<(&str, Vec<u8>)>,
    ) -> Option<Request> {
        self.local_cseq += 1;
        let (mut h, _) = self.base_headers(local, &method, self.local_cseq);
        if matches!(method, Method::Invite | Method::Update) {
            h.push(Header::Contact(headers::Contact::new(
                local.contact(self.peer.transport),
            )));
        }
        hdr::build_request(method, &self.remote_target, h, body)
    }

    /// The ACK for a 2xx to the INVITE with CSeq `cseq` (a new transaction-less request).
    pub fn ack(&self, local: &LocalAddr, cseq: u32) -> Option<Request> {
        let (h, _) = self.base_headers(local, &Method::Ack, cseq);
        hdr::build_request(Method::Ack, &self.remote_target, h, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dialog() -> Dialog {
        Dialog {
            call_id: "c1".into(),
            local_tag: "lt".into(),
            remote_tag: Some("rt".into()),
            local_uri: "<sip:1001@ringside>".into(),
            remote_uri: "<sip:1002@ringside>".into(),
            remote_target: "sip:1002@127.0.0.1:5070".into(),
            route_set: vec!["<sip:proxy.example;lr>".into()],
            local_cseq: 7,
            peer: Peer {
                addr: "127.0.0.1:5070".parse().unwrap(),
                transport: TransportKind::Udp,
            },
        }
    }

    #[test]
    fn in_dialog_requests_carry_tags_route_and_next_cseq() {
        let local = LocalAddr {
            host: "192.0.2.1".into(),
            port: 5060,
        };
        let mut d = dialog();
        let bye = d.request(&local, Method::Bye, None).unwrap();
        let text = bye.to_string();
        assert!(
            text.starts_with("BYE sip:1002@127.0.0.1:5070 SIP/2.0\r\n"),
            "{text}"
        );
        assert!(text.contains("CSeq: 8 BYE"));
        assert!(text.contains("From: <sip:1001@ringside>;tag=lt"));
        assert!(text.contains("To: <sip:1002@ringside>;tag=rt"));
        assert!(text.contains("Route: <sip:proxy.example;lr>"));
        assert!(text.contains("Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK"));
        let ack = d.ack(&local, 8).unwrap();
        assert!(ack.to_string().contains("CSeq: 8 ACK"));
        assert_eq!(d.local_cseq, 8, "ACK does not use a new CSeq");
    }
}
