//! Minimal SDP model (RFC 8866, formerly RFC 4566) for media anchoring.
//!
//! A B2BUA rewrites each leg's SDP so that RTP flows through Ringside's own
//! ports, and reads the far end's address, port and codecs. This module keeps
//! every line of the description **in order** (so unknown attributes and
//! fields round-trip untouched) while giving structured access to the parts
//! that matter: the origin (`o=`), connection data (`c=`), media descriptions
//! (`m=`) and attributes (`a=`), with helpers for `rtpmap`, `fmtp` and the
//! stream direction.
//!
//! ```text
//!   SessionDescription
//!   ├── session lines   v= o= s= c= t= a= ...   (origin stored parsed)
//!   └── MediaSection*   m=audio 4000 RTP/AVP 0 8 101
//!                       ├── c= / b= / a=rtpmap:... / a=sendrecv ...
//! ```
//!
//! Parsing is strict about structure (first line must be `v=0`, an `o=` line
//! is required, `o=`/`c=`/`m=` must be well formed) and lenient about
//! whitespace (LF-only line endings, trailing blanks, empty lines). Output
//! always uses CRLF. Parsing never panics on arbitrary input.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use thiserror::Error;

mod crypto;
mod fields;

pub use crypto::{Crypto, CryptoError};
use fields::{
    attributes, connection_of, direction_of, parse_connection, parse_media, parse_origin,
    remove_attr, Line,
};
pub use fields::{
    Attribute, Connection, Direction, MediaInfo, MediaLine, MediaSection, Origin, RtpMap,
};

/// Errors returned by [`SessionDescription::parse`] and the mutating helpers.
/// Line numbers are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SdpError {
    /// The input is not valid UTF-8.
    #[error("SDP is not valid UTF-8")]
    NotUtf8,
    /// The first non-empty line is not `v=0`.
    #[error("SDP does not start with v=0")]
    MissingVersion,
    /// A line is not of the form `<letter>=<value>`.
    #[error("malformed SDP line {line}")]
    MalformedLine {
        /// 1-based line number.
        line: usize,
    },
    /// The `o=` line does not have six fields or a numeric version.
    #[error("malformed o= line {line}")]
    BadOrigin {
        /// 1-based line number.
        line: usize,
    },
    /// A `c=` line does not have three fields.
    #[error("malformed c= line {line}")]
    BadConnection {
        /// 1-based line number.
        line: usize,
    },
    /// An `m=` line lacks media/port/proto/format or has a non-numeric port.
    #[error("malformed m= line {line}")]
    BadMedia {
        /// 1-based line number.
        line: usize,
    },
    /// No `o=` line appears before the first media section.
    #[error("SDP has no o= line")]
    MissingOrigin,
    /// A media index passed to a helper is out of range.
    #[error("no media section with index {0}")]
    NoSuchMedia(usize),
}

/// A parsed SDP session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    session: Vec<Line>,
    media: Vec<MediaSection>,
}

impl SessionDescription {
    /// Parses SDP text (CRLF or LF line endings).
    pub fn parse(text: &str) -> Result<Self, SdpError> {
        let mut session = Vec::new();
        let mut media: Vec<MediaSection> = Vec::new();
        let mut seen_version = false;
        for (idx, raw) in text.split('\n').enumerate() {
            let line_no = idx + 1;
            let raw = raw.trim_end();
            if raw.is_empty() {
                continue;
            }
            let mut chars = raw.chars();
            let (Some(kind), Some('=')) = (chars.next(), chars.next()) else {
                return Err(SdpError::MalformedLine { line: line_no });
            };
            if !kind.is_ascii_lowercase() {
                return Err(SdpError::MalformedLine { line: line_no });
            }
            let value = &raw[2..];
            if !seen_version {
                if kind != 'v' || value.trim() != "0" {
                    return Err(SdpError::MissingVersion);
                }
                seen_version = true;
                session.push(Line::Other('v', "0".into()));
                continue;
            }
            let parsed = match kind {
                'm' => {
                    media.push(MediaSection {
                        media: parse_media(value, line_no)?,
                        lines: Vec::new(),
                    });
                    continue;
                }
                'o' if media.is_empty() => Line::Origin(parse_origin(value, line_no)?),
                'c' => Line::Connection(parse_connection(value, line_no)?),
                'a' => Line::Attribute(match value.split_once(':') {
                    Some((n, v)) => Attribute {
                        name: n.into(),
                        value: Some(v.into()),
                    },
                    None => Attribute {
                        name: value.into(),
                        value: None,
                    },
                }),
                k => Line::Other(k, value.into()),
            };
            match media.last_mut() {
                Some(m) => m.lines.push(parsed),
                None => session.push(parsed),
            }
        }
        if !seen_version {
            return Err(SdpError::MissingVersion);
        }
        if !session.iter().any(|l| matches!(l, Line::Origin(_))) {
            return Err(SdpError::MissingOrigin);
        }
        Ok(Self { session, media })
    }

    /// Parses SDP from raw bytes (e.g. a SIP body).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SdpError> {
        std::str::from_utf8(bytes)
            .map_err(|_| SdpError::NotUtf8)
            .and_then(Self::parse)
    }

    /// The `o=` line.
    pub fn origin(&self) -> &Origin {
        self.session
            .iter()
            .find_map(|l| match l {
                Line::Origin(o) => Some(o),
                _ => None,
            })
            .unwrap_or_else(|| unreachable!("parse guarantees an o= line"))
    }

    /// Mutable access to the `o=` line.
    pub fn origin_mut(&mut self) -> &mut Origin {
        self.session
            .iter_mut()
            .find_map(|l| match l {
                Line::Origin(o) => Some(o),
                _ => None,
            })
            .unwrap_or_else(|| unreachable!("parse guarantees an o= line"))
    }

    /// The session-level `c=` line, if any.
    pub fn connection(&self) -> Option<&Connection> {
        connection_of(&self.session)
    }

    /// Session-level attributes, in order.
    pub fn session_attributes(&self) -> impl Iterator<Item = &Attribute> {
        attributes(&self.session)
    }

    /// The media sections, in order.
    pub fn media(&self) -> &[MediaSection] {
        &self.media
    }

    /// Mutable access to one media section.
    pub fn media_mut(&mut self, idx: usize) -> Option<&mut MediaSection> {
        self.media.get_mut(idx)
    }

    /// Effective connection address for media `idx` (media-level `c=`, else
    /// session-level).
    pub fn media_addr(&self, idx: usize) -> Option<IpAddr> {
        let m = self.media.get(idx)?;
        m.connection().or(self.connection())?.ip()
    }

    /// Effective direction of media `idx`: media-level attribute, else
    /// session-level, else `sendrecv`. Out-of-range indices yield the
    /// session-level direction.
    pub fn direction(&self, media_idx: usize) -> Direction {
        self.media
            .get(media_idx)
            .and_then(MediaSection::direction)
            .or_else(|| direction_of(&self.session))
            .unwrap_or(Direction::SendRecv)
    }

    /// Sets the direction of media `idx`, replacing any media-level direction
    /// attribute in place (or appending one).
    pub fn set_direction(&mut self, media_idx: usize, dir: Direction) -> Result<(), SdpError> {
        let m = self
            .media
            .get_mut(media_idx)
            .ok_or(SdpError::NoSuchMedia(media_idx))?;
        let attr = Line::Attribute(Attribute {
            name: dir.as_str().into(),
            value: None,
        });
        let is_dir =
            |l: &Line| matches!(l, Line::Attribute(a) if Direction::from_attr(&a.name).is_some());
        match m.lines.iter().position(is_dir) {
            Some(pos) => {
                m.lines[pos] = attr;
                let mut i = pos + 1;
                while i < m.lines.len() {
                    if is_dir(&m.lines[i]) {
                        m.lines.remove(i);
                    } else {
                        i += 1;
                    }
                }
            }
            None => m.lines.push(attr),
        }
        Ok(())
    }

    /// Whether ICE attributes apply to media `idx`.
    fn uses_ice(&self, media_idx: usize) -> bool {
        self.session_attributes()
            .chain(
                self.media
                    .get(media_idx)
                    .into_iter()
                    .flat_map(MediaSection::attributes),
            )
            .any(|a| a.name == "ice-ufrag")
    }

    /// Summary of the first `m=audio` section.
    pub fn first_audio(&self) -> Option<MediaInfo> {
        let idx = self.media.iter().position(|m| m.media.media == "audio")?;
        let m = &self.media[idx];
        Some(MediaInfo {
            addr: self.media_addr(idx),
            port: m.media.port,
            payload_types: m.payload_types(),
            rtpmap: m.rtpmaps(),
            direction: self.direction(idx),
        })
    }

    /// Removes every attribute called `name` at session and media level
    /// (e.g. `rtcp`, `candidate`); returns how many were removed.
    pub fn remove_attribute(&mut self, name: &str) -> usize {
        let mut n = remove_attr(&mut self.session, name);
        for m in &mut self.media {
            n += m.remove_attribute(name);
        }
        n
    }

    /// Points all media at `addr`: sets the session-level `c=` (inserting one
    /// if missing) and every media-level `c=` to `addr`, sets the port of
    /// media `i` to `ports[i]` (rejected streams with port 0 and media beyond
    /// `ports.len()` keep their port), and bumps the `o=` session version.
    pub fn rewrite_connection(&mut self, addr: IpAddr, ports: &[u16]) {
        let conn = Connection::from_ip(addr);
        let mut has_session_c = false;
        for l in &mut self.session {
            if let Line::Connection(c) = l {
                *c = conn.clone();
                has_session_c = true;
            }
        }
        if !has_session_c {
            // c= goes after v o s i u e p and before b t r z k a.
            let pos = self
                .session
                .iter()
                .position(|l| match l {
                    Line::Attribute(_) => true,
                    Line::Other(k, _) => "btrzk".contains(*k),
                    _ => false,
                })
                .unwrap_or(self.session.len());
            self.session.insert(pos, Line::Connection(conn.clone()));
        }
        for (i, m) in self.media.iter_mut().enumerate() {
            for l in &mut m.lines {
                if let Line::Connection(c) = l {
                    *c = conn.clone();
                }
            }
            if let Some(&p) = ports.get(i) {
                if m.media.port != 0 {
                    m.media.port = p;
                }
            }
        }
        let o = self.origin_mut();
        o.session_version = o.session_version.wrapping_add(1);
    }

    /// True when the call is on hold: every active (non-zero port) stream is
    /// `sendonly`/`inactive` or has connection address `0.0.0.0`/`::`
    /// (RFC 2543-style hold). The unspecified address is *not* treated as hold
    /// when ICE is in use (`a=ice-ufrag` present), since ICE agents such as
    /// browsers use `c=IN IP4 0.0.0.0` as a placeholder (RFC 8839 §4.2.1).
    pub fn is_hold(&self) -> bool {
        let mut active = (0..self.media.len())
            .filter(|&i| self.media[i].media.port != 0)
            .peekable();
        if active.peek().is_none() {
            return false;
        }
        active.all(|i| {
            matches!(self.direction(i), Direction::SendOnly | Direction::Inactive)
                || (self.media_addr(i).is_some_and(|a| a.is_unspecified()) && !self.uses_ice(i))
        })
    }
}

impl FromStr for SessionDescription {
    type Err = SdpError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for SessionDescription {
    /// Serializes with CRLF line endings (use `to_string()`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.session {
            write!(f, "{l}\r\n")?;
        }
        for m in &self.media {
            let ml = &m.media;
            write!(f, "m={} {}", ml.media, ml.port)?;
            if let Some(n) = ml.port_count {
                write!(f, "/{n}")?;
            }
            write!(f, " {}", ml.proto)?;
            for fmt_ in &ml.formats {
                write!(f, " {fmt_}")?;
            }
            f.write_str("\r\n")?;
            for l in &m.lines {
                write!(f, "{l}\r\n")?;
            }
        }
        Ok(())
    }
}
