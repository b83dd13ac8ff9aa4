//! Typed SDP fields and media sections: the `o=`, `c=`, `m=` and `a=`
//! lines, the direction attribute, `rtpmap` entries, and [`MediaSection`],
//! which keeps a media description's lines in their original order.
//!
//! Each `parse_*` helper takes the text after `x=` and the 1-based line number
//! used in errors; none of them index or slice at non-ASCII positions, so they
//! cannot panic on arbitrary input.

use std::fmt;
use std::net::IpAddr;

use super::SdpError;

/// The `o=` line: `<username> <sess-id> <sess-version> <nettype> <addrtype> <address>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Originator's user name (`-` if none).
    pub username: String,
    /// Session id (kept textual; some UAs exceed 64 bits).
    pub session_id: String,
    /// Session version, bumped on every modification.
    pub session_version: u64,
    /// Network type, normally `IN`.
    pub net_type: String,
    /// Address type, `IP4` or `IP6`.
    pub addr_type: String,
    /// Unicast address or host name of the originator.
    pub address: String,
}

/// A `c=` line: `<nettype> <addrtype> <connection-address>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Network type, normally `IN`.
    pub net_type: String,
    /// Address type, `IP4` or `IP6`.
    pub addr_type: String,
    /// Connection address as written (may carry `/ttl` for multicast).
    pub address: String,
}

impl Connection {
    /// A connection line for `addr` with the matching address type.
    pub fn from_ip(addr: IpAddr) -> Self {
        let addr_type = if addr.is_ipv4() { "IP4" } else { "IP6" };
        Self {
            net_type: "IN".into(),
            addr_type: addr_type.into(),
            address: addr.to_string(),
        }
    }

    /// The address as an IP, ignoring any `/ttl` suffix; `None` for FQDNs.
    pub fn ip(&self) -> Option<IpAddr> {
        self.address.split('/').next()?.parse().ok()
    }
}

/// An `a=` line: `a=<name>` or `a=<name>:<value>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Attribute name (e.g. `rtpmap`, `sendonly`).
    pub name: String,
    /// Value after the first `:`, if any.
    pub value: Option<String>,
}

/// Media direction attribute (RFC 8866 §6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `a=sendrecv` (the default).
    SendRecv,
    /// `a=sendonly` — typically a hold.
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

impl Direction {
    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// Parses an attribute name; `None` if it is not a direction.
    pub fn from_attr(name: &str) -> Option<Self> {
        match name {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }

    /// The direction an answerer uses for this offer (sendonly ↔ recvonly).
    pub fn reversed(self) -> Self {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }
}

/// The `m=` line: `<media> <port>[/<count>] <proto> <fmt> ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaLine {
    /// Media type: `audio`, `video`, `application`, ...
    pub media: String,
    /// Transport port (0 = rejected/disabled stream).
    pub port: u16,
    /// Optional number of ports (`/<count>`).
    pub port_count: Option<u16>,
    /// Transport protocol, e.g. `RTP/AVP`, `UDP/TLS/RTP/SAVPF`.
    pub proto: String,
    /// Formats (RTP payload types for RTP protos), as written.
    pub formats: Vec<String>,
}

/// An `a=rtpmap:<pt> <encoding>/<clock>[/<channels>]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    /// RTP payload type.
    pub payload_type: u8,
    /// Encoding name as written (e.g. `opus`, `PCMU`, `telephone-event`).
    pub encoding: String,
    /// Clock rate in Hz.
    pub clock_rate: u32,
    /// Channel count, if given.
    pub channels: Option<u16>,
}

/// Summary of an audio stream, see [`SessionDescription::first_audio`](super::SessionDescription::first_audio).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaInfo {
    /// Effective connection address (media-level `c=` else session-level).
    pub addr: Option<IpAddr>,
    /// RTP port.
    pub port: u16,
    /// Numeric payload types from the `m=` line, in preference order.
    pub payload_types: Vec<u8>,
    /// Parsed `a=rtpmap` lines.
    pub rtpmap: Vec<RtpMap>,
    /// Effective direction.
    pub direction: Direction,
}

/// One line of SDP, in its original position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Line {
    Origin(Origin),
    Connection(Connection),
    Attribute(Attribute),
    Other(char, String),
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Line::Origin(o) => write!(
                f,
                "o={} {} {} {} {} {}",
                o.username, o.session_id, o.session_version, o.net_type, o.addr_type, o.address
            ),
            Line::Connection(c) => write!(f, "c={} {} {}", c.net_type, c.addr_type, c.address),
            Line::Attribute(Attribute { name, value: None }) => write!(f, "a={name}"),
            Line::Attribute(Attribute {
                name,
                value: Some(v),
            }) => write!(f, "a={name}:{v}"),
            Line::Other(k, v) => write!(f, "{k}={v}"),
        }
    }
}

pub(super) fn attributes(lines: &[Line]) -> impl Iterator<Item = &Attribute> {
    lines.iter().filter_map(|l| match l {
        Line::Attribute(a) => Some(a),
        _ => None,
    })
}

pub(super) fn direction_of(lines: &[Line]) -> Option<Direction> {
    attributes(lines).find_map(|a| Direction::from_attr(&a.name))
}

pub(super) fn connection_of(lines: &[Line]) -> Option<&Connection> {
    lines.iter().find_map(|l| match l {
        Line::Connection(c) => Some(c),
        _ => None,
    })
}

/// A media description: its `m=` line and the lines that follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSection {
    pub(super) media: MediaLine,
    pub(super) lines: Vec<Line>,
}

impl MediaSection {
    /// The parsed `m=` line.
    pub fn media_line(&self) -> &MediaLine {
        &self.media
    }

    /// Mutable access to the `m=` line.
    pub fn media_line_mut(&mut self) -> &mut MediaLine {
        &mut self.media
    }

    /// The media-level `c=` line, if any.
    pub fn connection(&self) -> Option<&Connection> {
        connection_of(&self.lines)
    }

    /// All media-level attributes, in order.
    pub fn attributes(&self) -> impl Iterator<Item = &Attribute> {
        attributes(&self.lines)
    }

    /// The value of the first attribute called `name` (`Some("")` for flags).
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes()
            .find(|a| a.name == name)
            .map(|a| a.value.as_deref().unwrap_or(""))
    }

    /// Appends an attribute to this section.
    pub fn push_attribute(&mut self, name: &str, value: Option<&str>) {
        self.lines.push(Line::Attribute(Attribute {
            name: name.into(),
            value: value.map(Into::into),
        }));
    }

    /// Removes every attribute called `name`; returns how many were removed.
    pub fn remove_attribute(&mut self, name: &str) -> usize {
        remove_attr(&mut self.lines, name)
    }

    /// The media-level direction attribute, if present.
    pub fn direction(&self) -> Option<Direction> {
        direction_of(&self.lines)
    }

    /// Parsed `a=rtpmap` lines; malformed ones are skipped.
    pub fn rtpmaps(&self) -> Vec<RtpMap> {
        self.attributes()
            .filter(|a| a.name == "rtpmap")
            .filter_map(|a| parse_rtpmap(a.value.as_deref()?))
            .collect()
    }

    /// The `a=fmtp` parameters for payload type `pt`.
    pub fn fmtp(&self, pt: u8) -> Option<&str> {
        self.attributes()
            .filter(|a| a.name == "fmtp")
            .find_map(|a| {
                let (p, params) = a.value.as_deref()?.split_once(' ')?;
                (p.parse::<u8>().ok()? == pt).then_some(params.trim())
            })
    }

    /// Replaces the formats of this section: the `m=` line lists exactly `formats` in order and
    /// the `rtpmap`, `fmtp` and `rtcp-fb` attributes of every other format are removed. Each
    /// entry is `(payload type, rtpmap value after the type, fmtp parameters)`, e.g.
    /// `(0, Some("PCMU/8000"), None)`.
    pub fn set_formats(&mut self, formats: &[(u8, Option<String>, Option<String>)]) {
        self.media.formats = formats.iter().map(|(pt, _, _)| pt.to_string()).collect();
        self.lines.retain(|l| {
            !matches!(l, Line::Attribute(a) if a.name == "rtpmap" || a.name == "fmtp" || a.name == "rtcp-fb")
        });
        for (pt, rtpmap, fmtp) in formats {
            if let Some(r) = rtpmap {
                self.push_attribute("rtpmap", Some(&format!("{pt} {r}")));
            }
            if let Some(f) = fmtp {
                self.push_attribute("fmtp", Some(&format!("{pt} {f}")));
            }
        }
    }

    /// Numeric formats of the `m=` line (RTP payload types).
    pub fn payload_types(&self) -> Vec<u8> {
        self.media
            .formats
            .iter()
            .filter_map(|f| f.parse().ok())
            .collect()
    }
}

pub(super) fn remove_attr(lines: &mut Vec<Line>, name: &str) -> usize {
    let before = lines.len();
    lines.retain(|l| !matches!(l, Line::Attribute(a) if a.name == name));
    before - lines.len()
}

pub(super) fn parse_rtpmap(v: &str) -> Option<RtpMap> {
    let (pt, rest) = v.trim().split_once(' ')?;
    let mut parts = rest.trim().split('/');
    let encoding = parts.next()?.to_string();
    let clock_rate = parts.next()?.trim().parse().ok()?;
    let channels = match parts.next() {
        Some(c) => Some(c.trim().parse().ok()?),
        None => None,
    };
    Some(RtpMap {
        payload_type: pt.parse().ok()?,
        encoding,
        clock_rate,
        channels,
    })
}

pub(super) fn parse_origin(v: &str, line: usize) -> Result<Origin, SdpError> {
    let f: Vec<&str> = v.split_ascii_whitespace().collect();
    let [username, session_id, version, net_type, addr_type, address] = f[..] else {
        return Err(SdpError::BadOrigin { line });
    };
    Ok(Origin {
        username: username.into(),
        session_id: session_id.into(),
        session_version: version.parse().map_err(|_| SdpError::BadOrigin { line })?,
        net_type: net_type.into(),
        addr_type: addr_type.into(),
        address: address.into(),
    })
}

pub(super) fn parse_connection(v: &str, line: usize) -> Result<Connection, SdpError> {
    let f: Vec<&str> = v.split_ascii_whitespace().collect();
    let [net_type, addr_type, address] = f[..] else {
        return Err(SdpError::BadConnection { line });
    };
    Ok(Connection {
        net_type: net_type.into(),
        addr_type: addr_type.into(),
        address: address.into(),
    })
}

pub(super) fn parse_media(v: &str, line: usize) -> Result<MediaLine, SdpError> {
    let bad = SdpError::BadMedia { line };
    let mut f = v.split_ascii_whitespace();
    let (Some(media), Some(port), Some(proto)) = (f.next(), f.next(), f.next()) else {
        return Err(bad);
    };
    let formats: Vec<String> = f.map(Into::into).collect();
    if formats.is_empty() {
        return Err(bad);
    }
    let (port, port_count) = match port.split_once('/') {
        Some((p, n)) => (p, Some(n.parse().map_err(|_| bad.clone())?)),
        None => (port, None),
    };
    Ok(MediaLine {
        media: media.into(),
        port: port.parse().map_err(|_| bad)?,
        port_count,
        proto: proto.into(),
        formats,
    })
}
