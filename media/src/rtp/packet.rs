//! RTP packets (RFC 3550 section 5.1): a zero-copy parser, a header writer and in-place header
//! rewriting for a relay.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |V=2|P|X|  CC   |M|     PT      |       sequence number         |
//! |                           timestamp                           |
//! |                             SSRC                              |
//! |                     CSRC list (CC x 32 bits)                  |
//! |      profile-defined        |           length (words)        |
//! |                     header extension ...                      |
//! ```
//!
//! Nothing here allocates: [`RtpPacket`] borrows the datagram and [`RtpHeader::write`] fills a
//! caller-provided buffer.

/// Length of the fixed RTP header in bytes.
pub const FIXED_HEADER_LEN: usize = 12;

/// Errors from parsing or writing RTP packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    /// The datagram is shorter than the header it announces.
    #[error("RTP packet truncated: need {needed} bytes, have {have}")]
    Truncated {
        /// Bytes the header requires.
        needed: usize,
        /// Bytes available.
        have: usize,
    },
    /// The version field is not 2.
    #[error("unsupported RTP version {0}")]
    BadVersion(u8),
    /// The padding count is zero or larger than the space after the header.
    #[error("invalid RTP padding length {0}")]
    BadPadding(u8),
    /// The output buffer is too small for the packet being written.
    #[error("output buffer too small: need {needed} bytes, have {have}")]
    BufferTooSmall {
        /// Bytes the packet requires.
        needed: usize,
        /// Bytes available.
        have: usize,
    },
    /// A header field cannot be encoded (payload type > 127, more than 15 CSRCs, extension not a
    /// multiple of 4 bytes or too long, or zero padding).
    #[error("header field out of range: {0}")]
    InvalidField(&'static str),
}

/// A parsed RTP packet borrowing the datagram it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    buf: &'a [u8],
    header_len: usize,
    padding_len: usize,
    extension: Option<(u16, &'a [u8])>,
}

impl<'a> RtpPacket<'a> {
    /// Parses and validates an RTP datagram without copying it.
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtpError> {
        check_fixed_header(buf)?;
        let cc = usize::from(buf[0] & 0x0F);
        let mut header_len = FIXED_HEADER_LEN + 4 * cc;
        if buf.len() < header_len {
            return Err(RtpError::Truncated {
                needed: header_len,
                have: buf.len(),
            });
        }
        let mut extension = None;
        if buf[0] & 0x10 != 0 {
            let ext_start = header_len + 4;
            if buf.len() < ext_start {
                return Err(RtpError::Truncated {
                    needed: ext_start,
                    have: buf.len(),
                });
            }
            let profile = u16::from_be_bytes([buf[header_len], buf[header_len + 1]]);
            let words = usize::from(u16::from_be_bytes([
                buf[header_len + 2],
                buf[header_len + 3],
            ]));
            header_len = ext_start + 4 * words;
            if buf.len() < header_len {
                return Err(RtpError::Truncated {
                    needed: header_len,
                    have: buf.len(),
                });
            }
            extension = Some((profile, &buf[ext_start..header_len]));
        }
        let mut padding_len = 0;
        if buf[0] & 0x20 != 0 {
            let count = buf[buf.len() - 1];
            if count == 0 || usize::from(count) > buf.len() - header_len {
                return Err(RtpError::BadPadding(count));
            }
            padding_len = usize::from(count);
        }
        Ok(Self {
            buf,
            header_len,
            padding_len,
            extension,
        })
    }

    /// The whole datagram.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Whether the padding bit is set.
    pub fn has_padding(&self) -> bool {
        self.buf[0] & 0x20 != 0
    }

    /// Number of padding bytes at the end of the packet (including the count byte).
    pub fn padding_len(&self) -> usize {
        self.padding_len
    }

    /// The marker bit.
    pub fn marker(&self) -> bool {
        self.buf[1] & 0x80 != 0
    }

    /// The 7-bit payload type.
    pub fn payload_type(&self) -> u8 {
        self.buf[1] & 0x7F
    }

    /// The 16-bit sequence number.
    pub fn sequence(&self) -> u16 {
        u16::from_be_bytes([self.buf[2], self.buf[3]])
    }

    /// The 32-bit media timestamp.
    pub fn timestamp(&self) -> u32 {
        u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]])
    }

    /// The synchronization source identifier.
    pub fn ssrc(&self) -> u32 {
        u32::from_be_bytes([self.buf[8], self.buf[9], self.buf[10], self.buf[11]])
    }

    /// Number of contributing sources.
    pub fn csrc_count(&self) -> usize {
        usize::from(self.buf[0] & 0x0F)
    }

    /// The contributing sources, in order.
    pub fn csrcs(&self) -> impl ExactSizeIterator<Item = u32> + 'a {
        let buf = self.buf;
        (0..self.csrc_count()).map(move |i| {
            let o = FIXED_HEADER_LEN + 4 * i;
            u32::from_be_bytes([buf[o], buf[o + 1], buf[o + 2], buf[o + 3]])
        })
    }

    /// The header extension as (profile-defined 16 bits, extension data), if present.
    pub fn extension(&self) -> Option<(u16, &'a [u8])> {
        self.extension
    }

    /// Total header length (fixed header, CSRCs and extension) in bytes.
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// The payload, without header or padding.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[self.header_len..self.buf.len() - self.padding_len]
    }

    /// A [`RtpHeader`] describing this packet, suitable for writing it again.
    pub fn header(&self) -> RtpHeader<'a> {
        RtpHeader {
            marker: self.marker(),
            payload_type: self.payload_type(),
            sequence: self.sequence(),
            timestamp: self.timestamp(),
            ssrc: self.ssrc(),
            csrcs: &self.buf[FIXED_HEADER_LEN..FIXED_HEADER_LEN + 4 * self.csrc_count()],
            extension: self.extension,
            padding: self.padding_len as u8,
        }
    }
}

/// Fields of an RTP header to write with [`RtpHeader::write`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RtpHeader<'a> {
    /// The marker bit.
    pub marker: bool,
    /// The payload type (0..=127).
    pub payload_type: u8,
    /// The sequence number.
    pub sequence: u16,
    /// The media timestamp.
    pub timestamp: u32,
    /// The synchronization source identifier.
    pub ssrc: u32,
    /// Contributing sources as raw big-endian bytes (a multiple of 4, at most 15 entries).
    pub csrcs: &'a [u8],
    /// Header extension as (profile-defined 16 bits, data); data must be a multiple of 4 bytes.
    pub extension: Option<(u16, &'a [u8])>,
    /// Padding bytes to append (0 for none; otherwise the last byte holds the count).
    pub padding: u8,
}

impl RtpHeader<'_> {
    /// Bytes the header (without payload and padding) occupies.
    pub fn header_len(&self) -> usize {
        FIXED_HEADER_LEN + self.csrcs.len() + self.extension.map_or(0, |(_, d)| 4 + d.len())
    }

    /// Writes the header, `payload` and padding into `out`, returning the packet length.
    pub fn write(&self, payload: &[u8], out: &mut [u8]) -> Result<usize, RtpError> {
        if self.payload_type > 127 {
            return Err(RtpError::InvalidField("payload type"));
        }
        if self.csrcs.len() & 3 != 0 || self.csrcs.len() > 60 {
            return Err(RtpError::InvalidField("CSRC list"));
        }
        if let Some((_, data)) = self.extension {
            if data.len() & 3 != 0 || data.len() / 4 > usize::from(u16::MAX) {
                return Err(RtpError::InvalidField("extension length"));
            }
        }
        let header_len = self.header_len();
        let total = header_len + payload.len() + usize::from(self.padding);
        if out.len() < total {
            return Err(RtpError::BufferTooSmall {
                needed: total,
                have: out.len(),
            });
        }
        out[0] = 0x80
            | if self.padding > 0 { 0x20 } else { 0 }
            | if self.extension.is_some() { 0x10 } else { 0 }
            | (self.csrcs.len() / 4) as u8;
        out[1] = if self.marker { 0x80 } else { 0 } | self.payload_type;
        out[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        out[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        let mut o = FIXED_HEADER_LEN;
        out[o..o + self.csrcs.len()].copy_from_slice(self.csrcs);
        o += self.csrcs.len();
        if let Some((profile, data)) = self.extension {
            out[o..o + 2].copy_from_slice(&profile.to_be_bytes());
            out[o + 2..o + 4].copy_from_slice(&((data.len() / 4) as u16).to_be_bytes());
            out[o + 4..o + 4 + data.len()].copy_from_slice(data);
            o += 4 + data.len();
        }
        out[o..o + payload.len()].copy_from_slice(payload);
        o += payload.len();
        if self.padding > 0 {
            let p = usize::from(self.padding);
            out[o..o + p - 1].fill(0);
            out[o + p - 1] = self.padding;
            o += p;
        }
        Ok(o)
    }
}

/// The fixed 12-byte header is present and says RTP version 2.
fn check_fixed_header(buf: &[u8]) -> Result<(), RtpError> {
    if buf.len() < FIXED_HEADER_LEN {
        return Err(RtpError::Truncated {
            needed: FIXED_HEADER_LEN,
            have: buf.len(),
        });
    }
    let version = buf[0] >> 6;
    if version != 2 {
        return Err(RtpError::BadVersion(version));
    }
    Ok(())
}

/// Rewrites SSRC, sequence number and timestamp of the RTP packet in `buf` in place (for a
/// relay bridging two legs). Only the fixed header is touched.
pub fn rewrite_header(buf: &mut [u8], ssrc: u32, seq: u16, ts: u32) -> Result<(), RtpError> {
    check_fixed_header(buf)?;
    buf[2..4].copy_from_slice(&seq.to_be_bytes());
    buf[4..8].copy_from_slice(&ts.to_be_bytes());
    buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PCMU packet as captured from a desk phone: PT 0, seq 0x1234, ts 0xA0, 4 bytes payload.
    const PCMU: [u8; 16] = [
        0x80, 0x00, 0x12, 0x34, 0x00, 0x00, 0x00, 0xA0, 0xDE, 0xAD, 0xBE, 0xEF, 0xFF, 0xFE, 0x7F,
        0x7E,
    ];

    #[test]
    fn parses_pcmu() {
        let p = RtpPacket::parse(&PCMU).unwrap();
        assert_eq!(p.payload_type(), 0);
        assert!(!p.marker());
        assert_eq!(p.sequence(), 0x1234);
        assert_eq!(p.timestamp(), 0xA0);
        assert_eq!(p.ssrc(), 0xDEAD_BEEF);
        assert_eq!(p.csrc_count(), 0);
        assert_eq!(p.extension(), None);
        assert_eq!(p.payload(), &[0xFF, 0xFE, 0x7F, 0x7E]);
    }

    #[test]
    fn parses_csrc_extension_padding_marker() {
        let pkt = [
            0xB1, 0xE0, 0x00, 0x01, 0, 0, 0, 2, 0, 0, 0, 3, // V=2 P X CC=1, M, PT 96
            0x11, 0x22, 0x33, 0x44, // CSRC
            0xBE, 0xDE, 0x00, 0x01, 0x10, 0xAA, 0x00, 0x00, // one-byte ext, 1 word
            0x01, 0x02, 0x03, // payload
            0x00, 0x00, 0x03, // padding 3
        ];
        let p = RtpPacket::parse(&pkt).unwrap();
        assert!(p.marker());
        assert!(p.has_padding());
        assert_eq!(p.payload_type(), 96);
        assert_eq!(p.csrcs().collect::<Vec<_>>(), vec![0x1122_3344]);
        assert_eq!(p.extension(), Some((0xBEDE, &[0x10, 0xAA, 0, 0][..])));
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.padding_len(), 3);
        assert_eq!(p.payload(), &[1, 2, 3]);
        let mut out = [0u8; 64];
        let n = p.header().write(p.payload(), &mut out).unwrap();
        assert_eq!(&out[..n], &pkt[..]);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(matches!(
            RtpPacket::parse(&PCMU[..11]),
            Err(RtpError::Truncated { .. })
        ));
        let mut v1 = PCMU;
        v1[0] = 0x40;
        assert_eq!(RtpPacket::parse(&v1), Err(RtpError::BadVersion(1)));
        let mut cc = PCMU;
        cc[0] = 0x82; // two CSRCs need 20 bytes
        assert!(matches!(
            RtpPacket::parse(&cc),
            Err(RtpError::Truncated { needed: 20, .. })
        ));
        let mut pad = PCMU;
        pad[0] = 0xA0;
        pad[15] = 5; // only 4 bytes after the header
        assert_eq!(RtpPacket::parse(&pad), Err(RtpError::BadPadding(5)));
        pad[15] = 0;
        assert_eq!(RtpPacket::parse(&pad), Err(RtpError::BadPadding(0)));
        let mut ext = PCMU;
        ext[0] = 0x90;
        ext[14] = 0;
        ext[15] = 1; // extension of one word runs past the end
        assert!(matches!(
            RtpPacket::parse(&ext),
            Err(RtpError::Truncated { needed: 20, .. })
        ));
    }

    #[test]
    fn writer_checks_fields_and_buffer() {
        let mut out = [0u8; 13];
        let h = RtpHeader {
            payload_type: 0,
            ..Default::default()
        };
        assert!(matches!(
            h.write(&[1, 2], &mut out),
            Err(RtpError::BufferTooSmall { needed: 14, .. })
        ));
        let bad = RtpHeader {
            payload_type: 128,
            ..h
        };
        assert!(bad.write(&[], &mut out).is_err());
        let bad = RtpHeader {
            extension: Some((1, &[1, 2, 3])),
            ..h
        };
        assert!(bad.write(&[], &mut out).is_err());
        let bad = RtpHeader {
            csrcs: &[0; 5],
            ..h
        };
        assert!(bad.write(&[], &mut out).is_err());
    }

    #[test]
    fn rewrites_in_place() {
        let mut pkt = PCMU;
        rewrite_header(&mut pkt, 0x0102_0304, 7, 0x0A0B_0C0D).unwrap();
        let p = RtpPacket::parse(&pkt).unwrap();
        assert_eq!(
            (p.ssrc(), p.sequence(), p.timestamp()),
            (0x0102_0304, 7, 0x0A0B_0C0D)
        );
        assert_eq!(p.payload(), &PCMU[12..]);
        assert!(rewrite_header(&mut [0x80; 4], 1, 1, 1).is_err());
        assert_eq!(
            rewrite_header(&mut [0u8; 12], 1, 1, 1),
            Err(RtpError::BadVersion(0))
        );
    }
}
