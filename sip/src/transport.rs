//! Sans-IO transport helpers: SIP message framing on byte streams
//! (RFC 3261 §18.3) and keep-alive recognition (RFC 5626 §3.5.1 / §4.4.1).
//!
//! On stream transports (TCP, TLS) SIP messages are delimited by the empty
//! line ending the header section plus exactly `Content-Length` body bytes.
//! [`StreamFramer`] buffers whatever the socket delivered — one byte at a
//! time or many messages in one read — and yields whole [`Frame`]s:
//!
//! ```text
//!   socket bytes ─push()─► StreamFramer ─next_message()─┬─► Frame::Message(bytes) ─► message::parse
//!                                                       └─► Frame::Ping ─► driver writes "\r\n"
//! ```
//!
//! A double CRLF between messages is an RFC 5626 keep-alive ping and is
//! reported as [`Frame::Ping`] so the driver can answer with a single CRLF
//! pong; lone CRLFs between messages (pongs, RFC 3261 §7.5 padding) are
//! skipped. Any [`FrameError`] means the stream can no longer be resynchronised:
//! the driver should close the connection. The error is sticky.
//!
//! For datagram transports, [`is_keepalive`] recognises CRLF keep-alives so
//! they are not fed to the message parser.

use bytes::{Buf, Bytes, BytesMut};
use thiserror::Error;

/// Maximum size of a header section (start line + headers + empty line).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Default maximum size of a whole message (headers + body).
pub const DEFAULT_MAX_MESSAGE: usize = 256 * 1024;

const PING: &[u8] = b"\r\n\r\n";

/// Framing errors. All are fatal for the connection.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// No end of headers was found within the header size limit.
    #[error("header section exceeds {limit} bytes")]
    HeadersTooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The message has no `Content-Length` (or `l`) header, which is
    /// mandatory on stream transports.
    #[error("missing Content-Length on stream transport")]
    MissingContentLength,
    /// A `Content-Length` value is not a non-negative decimal integer.
    #[error("invalid Content-Length value")]
    InvalidContentLength,
    /// Several `Content-Length` headers disagree.
    #[error("conflicting Content-Length headers")]
    ConflictingContentLength,
    /// The message (headers + declared body) exceeds the size limit.
    #[error("message of {length} bytes exceeds limit of {limit}")]
    MessageTooLarge {
        /// Declared total length (headers + Content-Length).
        length: usize,
        /// The configured maximum message size.
        limit: usize,
    },
}

/// One unit produced by [`StreamFramer::next_message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete SIP message: header section and exactly `Content-Length`
    /// body bytes.
    Message(Bytes),
    /// An RFC 5626 double-CRLF keep-alive ping; answer with a single CRLF.
    Ping,
}

/// Header-section length and Content-Length of the message at the buffer head.
#[derive(Debug, Clone, Copy)]
struct Pending {
    header_len: usize,
    body_len: usize,
}

/// Incremental splitter of a SIP byte stream into messages.
#[derive(Debug)]
pub struct StreamFramer {
    buf: BytesMut,
    max_message: usize,
    /// How far the buffer has been searched for the end of headers.
    scanned: usize,
    pending: Option<Pending>,
    failed: Option<FrameError>,
}

impl Default for StreamFramer {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_MESSAGE)
    }
}

impl StreamFramer {
    /// Creates a framer accepting messages of at most `max_message` bytes
    /// (headers are additionally capped at [`MAX_HEADER_BYTES`]).
    pub fn new(max_message: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            max_message,
            scanned: 0,
            pending: None,
            failed: None,
        }
    }

    /// The configured maximum message size.
    pub fn max_message(&self) -> usize {
        self.max_message
    }

    /// Number of bytes buffered but not yet returned.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, data: &[u8]) {
        if self.failed.is_none() {
            self.buf.extend_from_slice(data);
        }
    }

    /// Returns the next complete frame, `Ok(None)` if more data is needed, or
    /// an error after which the connection should be closed (the same error is
    /// returned on every later call).
    pub fn next_message(&mut self) -> Result<Option<Frame>, FrameError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let res = self.advance();
        if let Err(e) = &res {
            self.failed = Some(e.clone());
            self.buf.clear();
        }
        res
    }

    fn advance(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.pending.is_none() {
            // Between messages: keep-alives and stray line breaks.
            loop {
                if self.buf.starts_with(PING) {
                    self.buf.advance(PING.len());
                    return Ok(Some(Frame::Ping));
                }
                match self.buf.first() {
                    None => return Ok(None),
                    Some(b'\r' | b'\n') => {
                        if self.buf.len() < PING.len() && PING.starts_with(&self.buf) {
                            return Ok(None); // could still become a ping
                        }
                        let n = if self.buf.starts_with(b"\r\n") { 2 } else { 1 };
                        self.buf.advance(n);
                    }
                    Some(_) => break,
                }
            }
            let header_limit = MAX_HEADER_BYTES.min(self.max_message);
            let Some(header_len) = self.find_header_end() else {
                if self.buf.len() > header_limit {
                    return Err(FrameError::HeadersTooLarge {
                        limit: header_limit,
                    });
                }
                return Ok(None);
            };
            if header_len > header_limit {
                return Err(FrameError::HeadersTooLarge {
                    limit: header_limit,
                });
            }
            let body_len = content_length(&self.buf[..header_len])?;
            let length = header_len.saturating_add(body_len);
            if length > self.max_message {
                return Err(FrameError::MessageTooLarge {
                    length,
                    limit: self.max_message,
                });
            }
            self.pending = Some(Pending {
                header_len,
                body_len,
            });
        }
        let Some(p) = self.pending else {
            return Ok(None);
        };
        let total = p.header_len + p.body_len;
        if self.buf.len() < total {
            return Ok(None);
        }
        self.pending = None;
        self.scanned = 0;
        Ok(Some(Frame::Message(self.buf.split_to(total).freeze())))
    }

    /// Finds the end of the header section (an empty line, CRLF or bare LF)
    /// and returns its length including that empty line. Resumes where the
    /// previous search stopped so byte-wise feeding stays linear.
    fn find_header_end(&mut self) -> Option<usize> {
        let b = &self.buf[..];
        let mut i = self.scanned;
        while i < b.len() {
            if b[i] == b'\n' {
                match (b.get(i + 1), b.get(i + 2)) {
                    (Some(b'\n'), _) => return Some(i + 2),
                    (Some(b'\r'), Some(b'\n')) => return Some(i + 3),
                    (None, _) | (Some(b'\r'), None) => break,
                    _ => {}
                }
            }
            i += 1;
        }
        self.scanned = i;
        None
    }
}

/// Extracts the Content-Length from a header section (start line skipped,
/// folded lines joined, `l` compact form and any letter case accepted).
fn content_length(headers: &[u8]) -> Result<usize, FrameError> {
    let mut found: Option<usize> = None;
    let mut lines = headers
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .skip(1)
        .peekable();
    while let Some(line) = lines.next() {
        if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            continue; // continuation of some other header
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = line[..colon].trim_ascii();
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        let mut value = line[colon + 1..].trim_ascii().to_vec();
        while let Some(cont) =
            lines.next_if(|l| l.first().is_some_and(|&b| b == b' ' || b == b'\t'))
        {
            value.extend_from_slice(cont.trim_ascii());
        }
        if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
            return Err(FrameError::InvalidContentLength);
        }
        // Saturates on absurd values, which then fail the size check.
        let n = value.iter().fold(0usize, |acc, &d| {
            acc.saturating_mul(10).saturating_add(usize::from(d - b'0'))
        });
        match found {
            Some(prev) if prev != n => return Err(FrameError::ConflictingContentLength),
            _ => found = Some(n),
        }
    }
    found.ok_or(FrameError::MissingContentLength)
}

/// True if a datagram is a keep-alive (non-empty and nothing but CR, LF,
/// spaces, tabs or NULs — e.g. `"\r\n\r\n"` or `"\r\n"`) rather than a SIP
/// message.
pub fn is_keepalive(datagram: &[u8]) -> bool {
    !datagram.is_empty()
        && datagram
            .iter()
            .all(|b| matches!(b, b'\r' | b'\n' | b' ' | b'\t' | 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_forms() {
        let h = b"INVITE sip:l:5 SIP/2.0\r\nL : 12\r\n\r\n";
        assert_eq!(content_length(h), Ok(12));
        let h = b"X sip:x SIP/2.0\r\nContent-Length:\r\n  7\r\n\r\n";
        assert_eq!(content_length(h), Ok(7));
        let h = b"X sip:x SIP/2.0\r\ncontent-length: 1\r\nl: 2\r\n\r\n";
        assert_eq!(content_length(h), Err(FrameError::ConflictingContentLength));
        let h = b"X sip:x SIP/2.0\r\nContent-Length: -1\r\n\r\n";
        assert_eq!(content_length(h), Err(FrameError::InvalidContentLength));
        let h = b"X sip:x SIP/2.0\r\nContent-Type: a\r\n\r\n";
        assert_eq!(content_length(h), Err(FrameError::MissingContentLength));
    }

    #[test]
    fn keepalive_datagrams() {
        assert!(is_keepalive(b"\r\n\r\n"));
        assert!(is_keepalive(b"\r\n"));
        assert!(is_keepalive(b"\0\0\0\0"));
        assert!(!is_keepalive(b""));
        assert!(!is_keepalive(b"OPTIONS sip:x SIP/2.0\r\n"));
    }
}
