//! SIP dialogs (RFC 3261 §12): the state one side of a B2BUA leg keeps to send in-dialog requests.
//!
//! A [`Dialog`] holds Call-ID, local and remote tags, URIs, the remote target, the route set and
//! the local CSeq. It builds in-dialog requests (BYE, re-INVITE, INFO, UPDATE, OPTIONS), the ACK
//! for a 2xx, and CANCEL for a pending INVITE. It does no IO.

use rsip::headers::{self, Header, UntypedHeader};
use rsip::{Method, Request, Response};

use crate::hdr;
use crate::message::{new_branch, new_call_id, new_tag};
use crate::transaction::{Peer, TransportKind};

/// Ringside's own SIP address as it appears in Via and Contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAddr {
    /// Host or IP put into Via sent-by and Contact (the public IP).
    pub host: String,
    /// SIP port (UDP and TCP).
    pub port: u16,
    /// SIP over TLS port, when Ringside listens for TLS.
    pub tls_port: Option<u16>,
}

impl LocalAddr {
    /// A Via header for a new client transaction with a fresh branch.
    pub fn via(&self, transport: TransportKind) -> (Header, String) {
        let branch = new_branch();
        let h = Header::Via(headers::Via::new(format!(
            "SIP/2.0/{} {}:{};branch={branch};rport",
            transport.via_name(),
            self.host,
            self.port_of(transport)
        )));
        (h, branch)
    }

    /// The port Ringside listens on for `transport`.
    pub fn port_of(&self, transport: TransportKind) -> u16 {
        match (transport, self.tls_port) {
            (TransportKind::Tls, Some(p)) => p,
            _ => self.port,
        }
    }

    /// Our Contact header value.
    pub fn contact(&self, transport: TransportKind) -> String {
        let (host, port) = (&self.host, self.port_of(transport));
        match transport {
            TransportKind::Udp => format!("<sip:ringside@{host}:{port}>"),
            t => format!("<sip:ringside@{host}:{port};transport={}>", t.name()),
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

/// A name-addr header value without its tag parameter.
fn without_tag(v: &str) -> String {
    v.split(";tag=").next().unwrap_or(v).trim().to_string()
}

/// Every Record-Route value of a message, one per entry, in the order received.
fn record_route(h: &rsip::Headers) -> Vec<String> {
    hdr::all_values(h, "Record-Route")
        .iter()
        .flat_map(|v| hdr::split_list(v).into_iter().map(str::to_string))
        .collect()
}

impl Dialog {
    /// The UAS side of the dialog an INVITE creates (RFC 3261 §12.1.1), answered with our
    /// tag `local_tag`: the route set is the INVITE's Record-Route in order, the remote
    /// target its Contact (its From URI without one), and our CSeq starts at 0.
    pub fn uas(invite: &Request, local_tag: &str, peer: Peer) -> Dialog {
        let h = &invite.headers;
        let from = hdr::header_value(h, "From").unwrap_or_default();
        let to = hdr::header_value(h, "To").unwrap_or_default();
        Dialog {
            call_id: hdr::call_id(h).unwrap_or_default().to_string(),
            local_tag: local_tag.to_owned(),
            remote_tag: hdr::tag(h, "From").map(str::to_string),
            local_uri: without_tag(to),
            remote_uri: without_tag(from),
            remote_target: hdr::header_value(h, "Contact")
                .map(|c| hdr::uri_part(c).to_string())
                .unwrap_or_else(|| hdr::uri_part(from).to_string()),
            route_set: record_route(h),
            local_cseq: 0,
            peer,
        }
    }

    /// The UAC side of a dialog we are about to create with an INVITE to `target` (a fresh
    /// Call-ID and tag, no route set yet); [`Dialog::confirm`] completes it with the 2xx.
    pub fn uac(local_uri: String, remote_uri: String, target: String, peer: Peer) -> Dialog {
        Dialog {
            call_id: new_call_id(),
            local_tag: new_tag(),
            remote_tag: None,
            local_uri,
            remote_uri,
            remote_target: target,
            route_set: Vec::new(),
            local_cseq: 0,
            peer,
        }
    }

    /// Completes a UAC dialog with the 2xx to its INVITE (RFC 3261 §12.1.2): the remote tag
    /// from To, the remote target from Contact (kept without one), and the route set from
    /// Record-Route in reverse order.
    pub fn confirm(&mut self, ok: &Response) {
        let h = &ok.headers;
        self.remote_tag = hdr::tag(h, "To").map(str::to_string);
        if let Some(c) = hdr::header_value(h, "Contact") {
            self.remote_target = hdr::uri_part(c).to_string();
        }
        let mut rr = record_route(h);
        rr.reverse();
        self.route_set = rr;
    }

    /// The UAC dialog a 2xx establishes for an INVITE of ours we no longer track (a fork
    /// that answered too late, a stray retransmission), built from the response alone so it
    /// can be acknowledged and hung up. `None` without Call-ID, From, To or CSeq.
    pub fn from_2xx(ok: &Response, peer: Peer) -> Option<Dialog> {
        let h = &ok.headers;
        let (call_id, from, to, cseq) = (
            hdr::call_id(h)?,
            hdr::header_value(h, "From")?,
            hdr::header_value(h, "To")?,
            hdr::cseq_num(h)?,
        );
        let mut d = Dialog {
            call_id: call_id.to_string(),
            local_tag: hdr::param(from, "tag").unwrap_or_default().to_string(),
            remote_tag: None,
            local_uri: without_tag(from),
            remote_uri: without_tag(to),
            remote_target: hdr::uri_part(to).to_string(),
            route_set: Vec::new(),
            local_cseq: cseq,
            peer,
        };
        d.confirm(ok);
        Some(d)
    }

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
                tls_profile: 0,
            },
        }
    }

    fn peer() -> Peer {
        Peer {
            addr: "127.0.0.1:5070".parse().unwrap(),
            transport: TransportKind::Udp,
            tls_profile: 0,
        }
    }

    fn parse_req(text: &str) -> Request {
        match crate::message::parse(text.replace('\n', "\r\n").as_bytes()).unwrap() {
            rsip::SipMessage::Request(r) => r,
            _ => unreachable!(),
        }
    }

    fn parse_resp(text: &str) -> Response {
        match crate::message::parse(text.replace('\n', "\r\n").as_bytes()).unwrap() {
            rsip::SipMessage::Response(r) => r,
            _ => unreachable!(),
        }
    }

    #[test]
    fn the_uas_dialog_of_an_invite() {
        let invite = parse_req(
            "INVITE sip:1002@192.0.2.1 SIP/2.0\n\
             Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\n\
             Record-Route: <sip:p1.example;lr>, <sip:p2.example;lr>\n\
             Record-Route: <sip:p3.example;lr>\n\
             From: \"Alice\" <sip:1001@192.0.2.1>;tag=ft\n\
             To: <sip:1002@192.0.2.1>\n\
             Call-ID: c9\n\
             CSeq: 4 INVITE\n\
             Contact: <sip:1001@127.0.0.1:5070;transport=udp>\n\
             Content-Length: 0\n\n",
        );
        let d = Dialog::uas(&invite, "ours", peer());
        assert_eq!(d.call_id, "c9");
        assert_eq!(
            (d.local_tag.as_str(), d.remote_tag.as_deref()),
            ("ours", Some("ft"))
        );
        assert_eq!(d.local_uri, "<sip:1002@192.0.2.1>");
        assert_eq!(d.remote_uri, "\"Alice\" <sip:1001@192.0.2.1>");
        assert_eq!(d.remote_target, "sip:1001@127.0.0.1:5070;transport=udp");
        assert_eq!(
            d.route_set,
            [
                "<sip:p1.example;lr>",
                "<sip:p2.example;lr>",
                "<sip:p3.example;lr>"
            ]
        );
        assert_eq!(d.local_cseq, 0);
        // Without a Contact, requests go to the From URI.
        let mut bare = invite.clone();
        bare.headers.retain(|h| !matches!(h, Header::Contact(_)));
        assert_eq!(
            Dialog::uas(&bare, "x", peer()).remote_target,
            "sip:1001@192.0.2.1"
        );
    }

    #[test]
    fn a_uac_dialog_is_confirmed_by_its_2xx() {
        let mut d = Dialog::uac(
            "<sip:ringside@192.0.2.1>".into(),
            "<sip:1002@192.0.2.1>".into(),
            "sip:1002@127.0.0.1:5070".into(),
            peer(),
        );
        assert!(d.remote_tag.is_none() && d.route_set.is_empty());
        assert_eq!(d.local_tag.len(), 12);
        let ok = parse_resp(&format!(
            "SIP/2.0 200 OK\n\
             Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK2\n\
             Record-Route: <sip:p1.example;lr>, <sip:p2.example;lr>\n\
             From: <sip:ringside@192.0.2.1>;tag={}\n\
             To: <sip:1002@192.0.2.1>;tag=rt\n\
             Call-ID: {}\n\
             CSeq: 1 INVITE\n\
             Contact: <sip:1002@127.0.0.1:5071>\n\
             Content-Length: 0\n\n",
            d.local_tag, d.call_id
        ));
        d.confirm(&ok);
        assert_eq!(d.remote_tag.as_deref(), Some("rt"));
        assert_eq!(d.remote_target, "sip:1002@127.0.0.1:5071");
        assert_eq!(d.route_set, ["<sip:p2.example;lr>", "<sip:p1.example;lr>"]);

        // The same 2xx alone rebuilds the dialog (for a fork we no longer track).
        let again = Dialog::from_2xx(&ok, peer()).unwrap();
        assert_eq!(again.local_tag, d.local_tag);
        assert_eq!(again.local_uri, "<sip:ringside@192.0.2.1>");
        assert_eq!(again.remote_uri, "<sip:1002@192.0.2.1>");
        assert_eq!(again.route_set, d.route_set);
        assert_eq!(again.local_cseq, 1);
        let mut broken = ok.clone();
        broken.headers.retain(|h| !matches!(h, Header::CallId(_)));
        assert!(Dialog::from_2xx(&broken, peer()).is_none());
    }

    #[test]
    fn in_dialog_requests_carry_tags_route_and_next_cseq() {
        let local = LocalAddr {
            host: "192.0.2.1".into(),
            port: 5060,
            tls_port: None,
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

    #[test]
    fn requests_over_tls_name_the_tls_port_in_via_and_contact() {
        let local = LocalAddr {
            host: "192.0.2.1".into(),
            port: 5060,
            tls_port: Some(5061),
        };
        let mut d = dialog();
        d.peer.transport = TransportKind::Tls;
        let text = d.request(&local, Method::Invite, None).unwrap().to_string();
        assert!(text.contains("Via: SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bK"));
        assert!(text.contains("Contact: <sip:ringside@192.0.2.1:5061;transport=tls>"));
        assert_eq!(
            local.contact(TransportKind::Udp),
            "<sip:ringside@192.0.2.1:5060>"
        );
        assert_eq!(
            local.contact(TransportKind::Tcp),
            "<sip:ringside@192.0.2.1:5060;transport=tcp>"
        );
        // Without a TLS listener, nothing names a port Ringside does not listen on.
        let plain = LocalAddr {
            tls_port: None,
            ..local
        };
        assert_eq!(plain.port_of(TransportKind::Tls), 5060);
        for t in [TransportKind::Udp, TransportKind::Tcp, TransportKind::Tls] {
            assert_eq!(TransportKind::from_name(t.name()), t);
            assert_eq!(TransportKind::from_name(t.via_name()), t);
        }
        assert_eq!(TransportKind::from_name("sctp"), TransportKind::Udp);
    }
}
