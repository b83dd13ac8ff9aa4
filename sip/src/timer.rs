//! Session timers (RFC 4028): the `Session-Expires` and `Min-SE` headers, the `timer` option
//! tag, and the arithmetic of when a refresh is due and when a session without one is over.
//! Pure functions over header text; the B2BUA keeps the state (which leg, which deadline).

use crate::hdr::values;

/// The smallest session interval Ringside accepts (RFC 4028 recommends 90 s as the floor).
pub const MIN_SE: u32 = 90;
/// The interval Ringside asks for when a caller proposes none but supports timers.
pub const DEFAULT_SE: u32 = 1800;
/// Longest interval accepted (a day): anything longer is capped.
pub const MAX_SE: u32 = 86_400;

/// Who refreshes the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresher {
    /// The dialog's UAC (the caller, for the caller's leg).
    Uac,
    /// The dialog's UAS (Ringside, for the caller's leg).
    Uas,
}

impl Refresher {
    fn name(self) -> &'static str {
        match self {
            Refresher::Uac => "uac",
            Refresher::Uas => "uas",
        }
    }
}

/// A `Session-Expires` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionExpires {
    /// The session interval, seconds.
    pub secs: u32,
    /// Who refreshes, when named.
    pub refresher: Option<Refresher>,
}

impl SessionExpires {
    /// Parses `1800;refresher=uac` (delta-seconds, then parameters; unknown ones ignored).
    /// `None` for anything else.
    pub fn parse(v: &str) -> Option<SessionExpires> {
        let mut parts = v.split(';');
        let secs = parts.next()?.trim();
        if secs.is_empty() || secs.len() > 10 || !secs.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let secs: u32 = secs.parse().ok()?;
        let mut refresher = None;
        for p in parts {
            let (k, val) = p.split_once('=').unwrap_or((p, ""));
            if k.trim().eq_ignore_ascii_case("refresher") {
                refresher = match val.trim().to_ascii_lowercase().as_str() {
                    "uac" => Some(Refresher::Uac),
                    "uas" => Some(Refresher::Uas),
                    _ => return None,
                };
            }
        }
        Some(SessionExpires { secs, refresher })
    }

    /// The header value (`1800;refresher=uac`).
    pub fn value(&self) -> String {
        match self.refresher {
            Some(r) => format!("{};refresher={}", self.secs, r.name()),
            None => self.secs.to_string(),
        }
    }

    /// When the refresher should refresh: half the interval (RFC 4028 section 10).
    pub fn refresh_after_secs(&self) -> u32 {
        (self.secs / 2).max(1)
    }

    /// When the side that does not refresh gives up on a session without a refresh: the
    /// interval less a third of it or 32 s, whichever is less (RFC 4028 section 10).
    pub fn expire_after_secs(&self) -> u32 {
        self.secs - (self.secs / 3).min(32)
    }
}

/// Whether the message lists `timer` in `Supported` (or `Require`).
pub fn supports_timer(headers: &rsip::Headers) -> bool {
    values(headers, "Supported")
        .into_iter()
        .chain(values(headers, "Require"))
        .any(|t| t.eq_ignore_ascii_case("timer"))
}

/// What the request's session-timer headers ask: absent (`None`), or the parsed
/// `Session-Expires` (`Some(Err(()))` when it cannot be read).
pub fn session_expires(headers: &rsip::Headers) -> Option<Result<SessionExpires, ()>> {
    let v = values(headers, "Session-Expires");
    let first = v.first()?;
    // A comma split cuts nothing of a well-formed value: it has no commas.
    Some(SessionExpires::parse(first).ok_or(()))
}

/// The request's `Min-SE`, when present and readable.
pub fn min_se(headers: &rsip::Headers) -> Option<u32> {
    let v = values(headers, "Min-SE");
    let first = v.first()?;
    let secs = first.split(';').next()?.trim();
    (secs.len() <= 10 && !secs.is_empty() && secs.bytes().all(|b| b.is_ascii_digit()))
        .then(|| secs.parse().ok())
        .flatten()
}

/// What a UAS (Ringside, to a caller) settles on for an INVITE: `Err(min)` to refuse with
/// 422 and `Min-SE: min`; `Ok(None)` for no session timer (none asked, the caller cannot
/// take part and cannot be refreshed); `Ok(Some(se))` with the interval and refresher to
/// answer with. `can_refresh`: whether Ringside can refresh the caller itself (it allows
/// UPDATE).
pub fn negotiate_uas(
    headers: &rsip::Headers,
    can_refresh: bool,
) -> Result<Option<SessionExpires>, u32> {
    negotiate_uas_for(headers, can_refresh, None)
}

/// [`negotiate_uas`] for a caller whose account asks for `preferred` seconds: a longer
/// interval the caller proposes is shortened to it (never below the floor, RFC 4028 section
/// 9), a caller that proposes none gets it, and a caller without timer support gets a timer
/// Ringside refreshes when it can (so a phone that vanished is noticed).
pub fn negotiate_uas_for(
    headers: &rsip::Headers,
    can_refresh: bool,
    preferred: Option<u32>,
) -> Result<Option<SessionExpires>, u32> {
    let asked = match session_expires(headers) {
        Some(Ok(se)) => Some(se),
        // An unreadable Session-Expires is ignored rather than fatal (RFC 4028 leaves it to
        // the UAS; the call can go on without a timer).
        Some(Err(())) => None,
        None => None,
    };
    let supported = supports_timer(headers);
    if let Some(se) = asked {
        // 422 only to a caller that knows what it means; for one that does not (a proxy
        // added the header), the interval is raised instead (RFC 4028 sections 8.1 and 9).
        if se.secs < MIN_SE && supported {
            return Err(MIN_SE.max(min_se(headers).unwrap_or(0)));
        }
    }
    if asked.is_none() && !supported && preferred.is_none() {
        return Ok(None);
    }
    let floor = MIN_SE.max(min_se(headers).unwrap_or(0));
    let secs = match (asked, preferred) {
        (Some(s), Some(p)) => s.secs.min(p),
        (Some(s), None) => s.secs,
        (None, p) => p.unwrap_or(DEFAULT_SE),
    }
    .clamp(floor, MAX_SE.max(floor));
    let refresher = if supported {
        asked.and_then(|s| s.refresher).unwrap_or(Refresher::Uac)
    } else if can_refresh {
        Refresher::Uas
    } else {
        return Ok(None);
    };
    Ok(Some(SessionExpires {
        secs,
        refresher: Some(refresher),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hdr::{allows, unsupported_required};

    fn headers(lines: &[&str]) -> rsip::Headers {
        let text = format!(
            "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n{}Content-Length: 0\r\n\r\n",
            lines.iter().map(|l| format!("{l}\r\n")).collect::<String>()
        );
        match crate::message::parse(text.as_bytes()).unwrap() {
            rsip::SipMessage::Request(r) => r.headers,
            _ => unreachable!(),
        }
    }

    #[test]
    fn values_parse_and_print() {
        let se = SessionExpires::parse("1800;refresher=uac").unwrap();
        assert_eq!(se.secs, 1800);
        assert_eq!(se.refresher, Some(Refresher::Uac));
        assert_eq!(se.value(), "1800;refresher=uac");
        assert_eq!(SessionExpires::parse(" 90 ").unwrap().refresher, None);
        assert_eq!(
            SessionExpires::parse("600;x=1;REFRESHER=UAS")
                .unwrap()
                .refresher,
            Some(Refresher::Uas)
        );
        for bad in ["", "abc", "-1", "1800;refresher=me", "99999999999", "1e3"] {
            assert!(SessionExpires::parse(bad).is_none(), "{bad}");
        }
        // Refresh at half; give up a third (at most 32 s) before the end.
        let se = SessionExpires::parse("1800").unwrap();
        assert_eq!(
            (se.refresh_after_secs(), se.expire_after_secs()),
            (900, 1768)
        );
        let se = SessionExpires::parse("90").unwrap();
        assert_eq!((se.refresh_after_secs(), se.expire_after_secs()), (45, 60));
    }

    #[test]
    fn headers_are_read_in_long_and_compact_form() {
        let h = headers(&["x: 300;refresher=uas", "k: 100rel, timer", "Min-SE: 120"]);
        assert_eq!(
            session_expires(&h),
            Some(Ok(SessionExpires {
                secs: 300,
                refresher: Some(Refresher::Uas)
            }))
        );
        assert!(supports_timer(&h));
        assert_eq!(min_se(&h), Some(120));
        let h = headers(&["Allow: INVITE, ACK, BYE, UPDATE"]);
        assert!(allows(&h, "update") && !allows(&h, "REFER"));
        assert!(!supports_timer(&h));
        assert_eq!(session_expires(&h), None);
        let h = headers(&["Require: timer, 100rel", "Require: x-foo"]);
        assert_eq!(unsupported_required(&h), ["x-foo"]);
        assert!(unsupported_required(&headers(&["Require: Timer"])).is_empty());
    }

    #[test]
    fn a_uas_settles_the_interval_and_the_refresher() {
        // Too small: 422 with our floor (or the caller's higher Min-SE).
        assert_eq!(
            negotiate_uas(&headers(&["Session-Expires: 60", "Supported: timer"]), true),
            Err(90)
        );
        assert_eq!(
            negotiate_uas(
                &headers(&["Session-Expires: 60", "Min-SE: 120", "Supported: timer"]),
                true
            ),
            Err(120)
        );
        // ... but a caller that does not support timers gets the floor instead.
        let se = negotiate_uas(&headers(&["Session-Expires: 60"]), true)
            .unwrap()
            .unwrap();
        assert_eq!((se.secs, se.refresher), (90, Some(Refresher::Uas)));
        // The caller supports timers: it refreshes unless it asked us to.
        let se = negotiate_uas(
            &headers(&["Session-Expires: 600", "Supported: timer"]),
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!((se.secs, se.refresher), (600, Some(Refresher::Uac)));
        let se = negotiate_uas(
            &headers(&["Session-Expires: 600;refresher=uas", "Supported: timer"]),
            true,
        )
        .unwrap()
        .unwrap();
        assert_eq!(se.refresher, Some(Refresher::Uas));
        // Supported but no interval asked: ours.
        let se = negotiate_uas(&headers(&["Supported: timer"]), false)
            .unwrap()
            .unwrap();
        assert_eq!(se.secs, DEFAULT_SE);
        // A proxy asked for a timer the caller does not support: Ringside refreshes when it
        // can, else no timer.
        let h = headers(&["Session-Expires: 300"]);
        assert_eq!(
            negotiate_uas(&h, true).unwrap().unwrap().refresher,
            Some(Refresher::Uas)
        );
        assert_eq!(negotiate_uas(&h, false), Ok(None));
        // Nothing asked, nothing supported: no timer.
        assert_eq!(negotiate_uas(&headers(&[]), true), Ok(None));
        // The caller's account asks for 300 s: a longer proposal is shortened to it, none
        // proposed gets it, and without timer support Ringside refreshes (if it can).
        let long = headers(&["Session-Expires: 1800", "Supported: timer"]);
        let se = negotiate_uas_for(&long, true, Some(300)).unwrap().unwrap();
        assert_eq!((se.secs, se.refresher), (300, Some(Refresher::Uac)));
        let se = negotiate_uas_for(&headers(&[]), true, Some(300))
            .unwrap()
            .unwrap();
        assert_eq!((se.secs, se.refresher), (300, Some(Refresher::Uas)));
        assert_eq!(negotiate_uas_for(&headers(&[]), false, Some(300)), Ok(None));
        // Never below the caller's Min-SE.
        let h = headers(&["Session-Expires: 1800", "Min-SE: 600", "Supported: timer"]);
        let se = negotiate_uas_for(&h, true, Some(300)).unwrap().unwrap();
        assert_eq!(se.secs, 600);
        // Huge intervals are capped; unreadable ones ignored.
        let se = negotiate_uas(
            &headers(&["Session-Expires: 999999", "Supported: timer"]),
            true,
        )
        .unwrap()
        .unwrap();
        assert_eq!(se.secs, MAX_SE);
        assert_eq!(
            negotiate_uas(
                &headers(&["Session-Expires: soon", "Supported: timer"]),
                true
            )
            .unwrap()
            .unwrap()
            .secs,
            DEFAULT_SE
        );
    }
}
