//! Who leg B is told is calling: the From Ringside writes, P-Asserted-Identity and privacy
//! (RFC 3325, RFC 3323), and the redirection history a PBX or carrier sent (`Diversion`,
//! RFC 5806; `History-Info`, RFC 7044).
//!
//! Trust follows how the caller was admitted. A trusted trunk (by address or its own login)
//! asserts identities: its `P-Asserted-Identity` is kept, and so are its `Diversion` and
//! `History-Info`. A phone asserts nothing: whatever `P-Asserted-Identity` it sends is dropped
//! and Ringside asserts the extension it authenticated as, so a phone cannot present another
//! number to a carrier. A caller asking for privacy (`Privacy: id`, `user` or `header`) gets an
//! anonymous From everywhere; the asserted identity then goes only to trunks (inside the trust
//! domain, with the `Privacy` header so the carrier withholds it), never to phones.

use rsip::headers::Header;
use rsip::Request;

use ringside_sip::hdr;

/// The identity headers for leg B of one call.
#[derive(Debug, Clone, Default)]
pub(crate) struct CallerIdentity {
    /// `"Name" ` (with the trailing space) or empty.
    pub display: String,
    /// The user part of leg B's From.
    pub user: String,
    /// The identity Ringside asserts (a `P-Asserted-Identity` value).
    pub asserted: Option<String>,
    /// The caller's `Privacy` value when it asks to hide its identity.
    pub privacy: Option<String>,
    /// `Diversion` and `History-Info` lines from a trusted trunk, in order.
    pub history: Vec<(&'static str, String)>,
}

/// How the caller was admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Asserted<'a> {
    /// A trusted trunk: its own assertions stand.
    Trunk,
    /// An extension, authenticated as this username, with its display name.
    Extension(&'a str, &'a str),
}

/// Every value of header `name` in `headers` (any case), in order.
fn all(headers: &rsip::Headers, name: &str) -> Vec<String> {
    headers
        .iter()
        .filter_map(|h| {
            let line = h.to_string();
            let (n, v) = line.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
        .collect()
}

/// Whether a `Privacy` value hides the caller's identity (RFC 3323 §4.2, RFC 3325 §9.3).
fn hides(privacy: &str) -> bool {
    privacy.split(';').any(|t| {
        matches!(
            t.trim().to_ascii_lowercase().as_str(),
            "id" | "user" | "header"
        )
    })
}

impl CallerIdentity {
    /// The identity of the caller of `req`, admitted as `how`, for Ringside's `host`.
    pub(crate) fn of(req: &Request, how: Asserted<'_>, host: &str) -> Self {
        let from_v = hdr::header_value(&req.headers, "From").unwrap_or_default();
        let user = hdr::uri_user(hdr::uri_part(from_v))
            .unwrap_or("anonymous")
            .to_string();
        let display = from_v
            .split('<')
            .next()
            .map(str::trim)
            .filter(|s| s.starts_with('"'))
            .map(|s| format!("{s} "))
            .unwrap_or_default();
        let privacy = all(&req.headers, "Privacy").into_iter().find(|p| hides(p));
        let (asserted, history) = match how {
            Asserted::Trunk => {
                let pai = all(&req.headers, "P-Asserted-Identity").into_iter().next();
                let mut history: Vec<(&'static str, String)> = Vec::new();
                for (name, canon) in [("Diversion", "Diversion"), ("History-Info", "History-Info")]
                {
                    history.extend(all(&req.headers, name).into_iter().map(|v| (canon, v)));
                }
                (pai, history)
            }
            Asserted::Extension(account, name) => {
                let name = ringside_domain::DisplayName::sanitize(name).quoted();
                (Some(format!("{name}<sip:{account}@{host}>")), Vec::new())
            }
        };
        CallerIdentity {
            display,
            user,
            asserted,
            privacy,
            history,
        }
    }

    /// A caller known only by name (a browser): no assertion, no history.
    pub(crate) fn plain(display: String, user: &str) -> Self {
        CallerIdentity {
            display,
            user: user.to_owned(),
            ..Default::default()
        }
    }

    /// The From of leg B: anonymous (RFC 3323) when the caller asked for privacy.
    pub(crate) fn leg_b_from(&self, host: &str) -> String {
        if self.privacy.is_some() {
            return "\"Anonymous\" <sip:anonymous@anonymous.invalid>".to_string();
        }
        format!("{}<sip:{}@{host}>", self.display, self.user)
    }

    /// Adds the identity headers to leg B's INVITE, to a trunk (`trusted`) or a phone.
    pub(crate) fn add_to(&self, invite: &mut Request, trusted: bool) {
        let push = |invite: &mut Request, name: &str, value: &str| {
            invite
                .headers
                .push(Header::Other(name.into(), value.to_string()));
        };
        match (&self.asserted, &self.privacy) {
            (Some(pai), Some(privacy)) if trusted => {
                push(invite, "P-Asserted-Identity", pai);
                push(invite, "Privacy", privacy);
            }
            (Some(pai), None) => push(invite, "P-Asserted-Identity", pai),
            _ => {}
        }
        for (name, value) in &self.history {
            push(invite, name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(extra: &str) -> Request {
        let text = format!(
            "INVITE sip:1002@ringside SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
             From: \"Ana\" <sip:1001@pbx.example>;tag=1\r\nTo: <sip:1002@ringside>\r\nCall-ID: x\r\n\
             CSeq: 1 INVITE\r\n{extra}Content-Length: 0\r\n\r\n"
        );
        match ringside_sip::message::parse(text.as_bytes()).unwrap() {
            rsip::SipMessage::Request(r) => r,
            _ => unreachable!(),
        }
    }

    fn headers(id: &CallerIdentity, trusted: bool) -> String {
        let mut r = req("");
        id.add_to(&mut r, trusted);
        r.to_string()
    }

    #[test]
    fn a_trunk_keeps_its_assertion_and_history_a_phone_cannot_assert() {
        let extra = "P-Asserted-Identity: <sip:+15551230000@carrier.example>\r\n\
                     Diversion: <sip:+15559990000@carrier.example>;reason=no-answer\r\n\
                     History-Info: <sip:a@b>;index=1\r\n";
        let trunk = CallerIdentity::of(&req(extra), Asserted::Trunk, "ringside.example");
        let to_phone = headers(&trunk, false);
        assert!(
            to_phone.contains("P-Asserted-Identity: <sip:+15551230000@carrier.example>"),
            "{to_phone}"
        );
        assert!(
            to_phone.contains("Diversion: <sip:+15559990000@carrier.example>;reason=no-answer"),
            "{to_phone}"
        );
        assert!(
            to_phone.contains("History-Info: <sip:a@b>;index=1"),
            "{to_phone}"
        );
        assert_eq!(
            trunk.leg_b_from("ringside.example"),
            "\"Ana\" <sip:1001@ringside.example>"
        );

        // The same headers from a phone: its assertion and history are dropped, Ringside
        // asserts the account it authenticated.
        let phone = CallerIdentity::of(
            &req(extra),
            Asserted::Extension("1001", "Front desk"),
            "ringside.example",
        );
        let to_trunk = headers(&phone, true);
        assert!(
            to_trunk.contains("P-Asserted-Identity: \"Front desk\" <sip:1001@ringside.example>"),
            "the extension's own name, not the From's: {to_trunk}"
        );
        assert!(
            !to_trunk.contains("+15551230000") && !to_trunk.contains("Diversion"),
            "{to_trunk}"
        );
    }

    #[test]
    fn privacy_hides_the_caller_from_phones_and_goes_to_trunks_with_the_assertion() {
        let id = CallerIdentity::of(
            &req("P-Asserted-Identity: <sip:+15551230000@carrier.example>\r\nPrivacy: id\r\n"),
            Asserted::Trunk,
            "ringside.example",
        );
        assert_eq!(
            id.leg_b_from("ringside.example"),
            "\"Anonymous\" <sip:anonymous@anonymous.invalid>"
        );
        let to_phone = headers(&id, false);
        assert!(
            !to_phone.contains("P-Asserted-Identity") && !to_phone.contains("+1555"),
            "{to_phone}"
        );
        let to_trunk = headers(&id, true);
        assert!(to_trunk.contains("P-Asserted-Identity: <sip:+15551230000@carrier.example>"));
        assert!(to_trunk.contains("Privacy: id"), "{to_trunk}");
        // `Privacy: none` hides nothing.
        let open = CallerIdentity::of(
            &req("Privacy: none\r\n"),
            Asserted::Extension("1001", "Ana"),
            "h",
        );
        assert!(open.privacy.is_none());
        assert_eq!(open.leg_b_from("h"), "\"Ana\" <sip:1001@h>");
    }
}
