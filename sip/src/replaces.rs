//! The `Replaces` header (RFC 3891) and where attended transfer carries it: as an escaped
//! header of the `Refer-To` URI (RFC 3515 §2.1, RFC 5589 §7), e.g.
//!
//! ```text
//! Refer-To: <sip:1003@pbx.example.com?Replaces=a84b4c76e66710%40pc33.example.com%3Bto-tag%3D1928301774%3Bfrom-tag%3Da73kszlfl>
//! ```
//!
//! The dialog it names is `call-id` with the two tags; `early-only` asks that only an early
//! dialog be replaced. Parsing is strict about what it needs (a Call-ID and both tags, each
//! once) and lenient about the rest (unknown parameters, case of parameter names).

use thiserror::Error;

/// A parsed `Replaces` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaces {
    /// Call-ID of the dialog to replace.
    pub call_id: String,
    /// The `to-tag` parameter.
    pub to_tag: String,
    /// The `from-tag` parameter.
    pub from_tag: String,
    /// `early-only`: replace the dialog only while it is early.
    pub early_only: bool,
}

/// Why a `Replaces` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReplacesError {
    /// No Call-ID before the first `;`.
    #[error("Replaces has no Call-ID")]
    NoCallId,
    /// A tag is missing or empty.
    #[error("Replaces lacks its {0}")]
    MissingTag(&'static str),
    /// A parameter appears twice.
    #[error("Replaces repeats {0}")]
    Repeated(&'static str),
    /// Bad `%` escaping (in a `Refer-To` URI header).
    #[error("bad %-escape in the Refer-To URI")]
    BadEscape,
    /// Characters no Call-ID or tag may hold (whitespace, controls, quotes, `<>`).
    #[error("Replaces holds characters a Call-ID or tag cannot")]
    BadChar,
}

fn token_ok(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'<' | b'>' | b';' | b','))
}

impl Replaces {
    /// Parse a header value: `call-id;to-tag=..;from-tag=..[;early-only]`.
    pub fn parse(value: &str) -> Result<Replaces, ReplacesError> {
        let mut parts = value.trim().split(';');
        let call_id = parts.next().unwrap_or_default().trim();
        if call_id.is_empty() {
            return Err(ReplacesError::NoCallId);
        }
        if !token_ok(call_id) {
            return Err(ReplacesError::BadChar);
        }
        let (mut to_tag, mut from_tag, mut early_only) = (None, None, false);
        for p in parts {
            let (name, v) = match p.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim())),
                None => (p.trim(), None),
            };
            let slot = if name.eq_ignore_ascii_case("to-tag") {
                Some((&mut to_tag, "to-tag"))
            } else if name.eq_ignore_ascii_case("from-tag") {
                Some((&mut from_tag, "from-tag"))
            } else {
                if name.eq_ignore_ascii_case("early-only") {
                    early_only = true;
                }
                None
            };
            if let Some((slot, what)) = slot {
                if slot.is_some() {
                    return Err(ReplacesError::Repeated(what));
                }
                let v = v.unwrap_or_default();
                if v.is_empty() {
                    return Err(ReplacesError::MissingTag(what));
                }
                if !token_ok(v) {
                    return Err(ReplacesError::BadChar);
                }
                *slot = Some(v.to_owned());
            }
        }
        Ok(Replaces {
            call_id: call_id.to_owned(),
            to_tag: to_tag.ok_or(ReplacesError::MissingTag("to-tag"))?,
            from_tag: from_tag.ok_or(ReplacesError::MissingTag("from-tag"))?,
            early_only,
        })
    }

    /// The `Replaces` carried in a `Refer-To` value (name-addr or bare URI), if any: the URI's
    /// `?Replaces=` header, %-unescaped and parsed.
    pub fn from_refer_to(refer_to: &str) -> Option<Result<Replaces, ReplacesError>> {
        let uri = match (refer_to.find('<'), refer_to.rfind('>')) {
            (Some(a), Some(b)) if a < b => &refer_to[a + 1..b],
            _ => refer_to.trim(),
        };
        let (_, headers) = uri.split_once('?')?;
        let value = headers.split('&').find_map(|h| {
            let (name, v) = h.split_once('=')?;
            name.eq_ignore_ascii_case("replaces").then_some(v)
        })?;
        Some(unescape(value).and_then(|v| Replaces::parse(&v)))
    }

    /// Whether this names the dialog with Call-ID `call_id` whose tags are `ours` and
    /// `theirs`, in either order: which of the two is `to-tag` depends on who wrote it.
    pub fn names(&self, call_id: &str, ours: &str, theirs: &str) -> bool {
        self.call_id == call_id
            && ((self.to_tag == ours && self.from_tag == theirs)
                || (self.to_tag == theirs && self.from_tag == ours))
    }
}

impl std::fmt::Display for Replaces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{};to-tag={};from-tag={}",
            self.call_id, self.to_tag, self.from_tag
        )?;
        if self.early_only {
            f.write_str(";early-only")?;
        }
        Ok(())
    }
}

/// `%XX` unescaping of a URI header value.
fn unescape(s: &str) -> Result<String, ReplacesError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3).ok_or(ReplacesError::BadEscape)?;
            let hex = std::str::from_utf8(hex).map_err(|_| ReplacesError::BadEscape)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| ReplacesError::BadEscape)?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ReplacesError::BadEscape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_3891_example_parses() {
        let r = Replaces::parse("98732@sip.example.com;from-tag=r33th4x0r;to-tag=ff87ff").unwrap();
        assert_eq!(r.call_id, "98732@sip.example.com");
        assert_eq!(
            (r.to_tag.as_str(), r.from_tag.as_str()),
            ("ff87ff", "r33th4x0r")
        );
        assert!(!r.early_only);
        let early = Replaces::parse("a;to-tag=1;from-tag=2;early-only").unwrap();
        assert!(early.early_only);
        // Written back, it reads the same.
        for r in [r, early] {
            assert_eq!(Replaces::parse(&r.to_string()).unwrap(), r);
        }
    }

    #[test]
    fn a_refer_to_uri_carries_it_escaped() {
        let rt = "<sip:1003@pbx.example.com?Replaces=a84b%40pc33.example.com%3Bto-tag%3D1928%3Bfrom-tag%3Da73k>";
        let r = Replaces::from_refer_to(rt).unwrap().unwrap();
        assert_eq!(r.call_id, "a84b@pc33.example.com");
        assert!(r.names("a84b@pc33.example.com", "a73k", "1928"));
        assert!(r.names("a84b@pc33.example.com", "1928", "a73k"));
        assert!(!r.names("a84b@pc33.example.com", "1928", "other"));
        assert!(!r.names("x", "1928", "a73k"));
        // Other URI headers around it; a bare URI.
        let rt = "sip:1003@h?Subject=x&replaces=c%3Bfrom-tag%3D1%3Bto-tag%3D2";
        assert_eq!(Replaces::from_refer_to(rt).unwrap().unwrap().call_id, "c");
        // No Replaces: a blind transfer.
        assert!(Replaces::from_refer_to("<sip:1003@pbx.example.com>").is_none());
        assert!(Replaces::from_refer_to("<sip:1003@h?Subject=hi>").is_none());
    }

    #[test]
    fn what_it_needs_is_required_and_bad_input_is_refused() {
        use ReplacesError::*;
        for (v, e) in [
            ("", NoCallId),
            (";to-tag=1;from-tag=2", NoCallId),
            ("c;to-tag=1", MissingTag("from-tag")),
            ("c;from-tag=2", MissingTag("to-tag")),
            ("c;to-tag=;from-tag=2", MissingTag("to-tag")),
            ("c;to-tag=1;to-tag=3;from-tag=2", Repeated("to-tag")),
            ("c d;to-tag=1;from-tag=2", BadChar),
            ("c;to-tag=<1>;from-tag=2", BadChar),
        ] {
            assert_eq!(Replaces::parse(v), Err(e), "{v:?}");
        }
        for rt in [
            "<sip:a@h?Replaces=c%3",
            "<sip:a@h?Replaces=c%ZZ>",
            "<sip:a@h?Replaces=%FF%FE>",
        ] {
            assert!(Replaces::from_refer_to(rt).unwrap().is_err(), "{rt}");
        }
    }
}
