//! RTCP (RFC 3550 section 6): compound packet parsing and SR/RR/SDES/BYE builders.
//!
//! [`parse_compound`] walks a compound datagram and yields one [`RtcpPacket`] per sub-packet,
//! borrowing the datagram. Sender and receiver reports, SDES and BYE are decoded; any other
//! packet type (APP, XR, feedback, ...) is returned as [`RtcpPacket::Unknown`] so callers can
//! skip it. The RFC 3550 A.2 compound-validity rules (first packet SR or RR, padding only in the
//! last packet) are left to the caller; every sub-packet is still bounds-checked. Builders write into a caller-provided buffer and return the number of bytes written;
//! concatenating their outputs gives a compound packet.

/// Packet type of a sender report.
pub const PT_SR: u8 = 200;
/// Packet type of a receiver report.
pub const PT_RR: u8 = 201;
/// Packet type of source description.
pub const PT_SDES: u8 = 202;
/// Packet type of goodbye.
pub const PT_BYE: u8 = 203;
/// SDES item type of the canonical name.
pub const SDES_CNAME: u8 = 1;
/// Length of one report block in bytes.
pub const REPORT_BLOCK_LEN: usize = 24;

/// Errors from parsing or writing RTCP packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RtcpError {
    /// The data ends before the header or the announced length.
    #[error("RTCP packet truncated")]
    Truncated,
    /// The version field is not 2.
    #[error("unsupported RTCP version {0}")]
    BadVersion(u8),
    /// The padding count is zero or exceeds the packet body.
    #[error("invalid RTCP padding")]
    BadPadding,
    /// The body does not match the layout its packet type and count require.
    #[error("malformed RTCP packet of type {0}")]
    Malformed(u8),
    /// The output buffer is too small.
    #[error("output buffer too small: need {needed} bytes, have {have}")]
    BufferTooSmall {
        /// Bytes the packet requires.
        needed: usize,
        /// Bytes available.
        have: usize,
    },
    /// More than 31 report blocks, sources or chunks, or an SDES item over 255 bytes.
    #[error("too many entries or item too long for one RTCP packet")]
    TooLarge,
}

fn be32(b: &[u8], o: usize) -> u32 {
    u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

/// One reception report block (RFC 3550 section 6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: u32,
    /// Fraction of packets lost since the previous report, as a fixed-point /256 value.
    pub fraction_lost: u8,
    /// Cumulative packets lost (signed 24-bit; clamped when written).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub extended_highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR received from the source (0 if none).
    pub lsr: u32,
    /// Delay since that SR in 1/65536 s (0 if none).
    pub dlsr: u32,
}

impl ReportBlock {
    /// Decodes a block from exactly [`REPORT_BLOCK_LEN`] bytes.
    fn decode(b: &[u8]) -> Self {
        let raw = be32(b, 4) & 0x00FF_FFFF;
        // Sign-extend the 24-bit cumulative loss.
        let cumulative_lost = ((raw << 8) as i32) >> 8;
        Self {
            ssrc: be32(b, 0),
            fraction_lost: b[4],
            cumulative_lost,
            extended_highest_seq: be32(b, 8),
            jitter: be32(b, 12),
            lsr: be32(b, 16),
            dlsr: be32(b, 20),
        }
    }

    /// Encodes the block into exactly [`REPORT_BLOCK_LEN`] bytes.
    fn encode(&self, out: &mut [u8]) {
        let lost = self.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF) as u32 & 0x00FF_FFFF;
        out[0..4].copy_from_slice(&self.ssrc.to_be_bytes());
        out[4..8].copy_from_slice(&((u32::from(self.fraction_lost) << 24) | lost).to_be_bytes());
        out[8..12].copy_from_slice(&self.extended_highest_seq.to_be_bytes());
        out[12..16].copy_from_slice(&self.jitter.to_be_bytes());
        out[16..20].copy_from_slice(&self.lsr.to_be_bytes());
        out[20..24].copy_from_slice(&self.dlsr.to_be_bytes());
    }
}

/// Iterator over the report blocks of an SR or RR.
#[derive(Debug, Clone)]
pub struct ReportBlocks<'a>(std::slice::ChunksExact<'a, u8>);

impl Iterator for ReportBlocks<'_> {
    type Item = ReportBlock;
    fn next(&mut self) -> Option<ReportBlock> {
        self.0.next().map(ReportBlock::decode)
    }
}

/// Sender information of an SR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// 64-bit NTP wallclock time of the report.
    pub ntp: u64,
    /// RTP timestamp corresponding to `ntp`.
    pub rtp_timestamp: u32,
    /// Packets sent since the start of transmission.
    pub packet_count: u32,
    /// Payload octets sent since the start of transmission.
    pub octet_count: u32,
}

/// A decoded RTCP packet borrowing the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpPacket<'a> {
    /// Sender report.
    SenderReport {
        /// SSRC of the sender.
        ssrc: u32,
        /// Sender information.
        info: SenderInfo,
        /// Raw report blocks; iterate with [`RtcpPacket::report_blocks`].
        blocks: &'a [u8],
    },
    /// Receiver report.
    ReceiverReport {
        /// SSRC of the reporter.
        ssrc: u32,
        /// Raw report blocks; iterate with [`RtcpPacket::report_blocks`].
        blocks: &'a [u8],
    },
    /// Source description; iterate with [`RtcpPacket::sdes_chunks`].
    SourceDescription {
        /// Number of chunks.
        count: u8,
        /// Raw, validated chunk data.
        chunks: &'a [u8],
    },
    /// Goodbye.
    Goodbye {
        /// Raw list of leaving SSRCs; iterate with [`RtcpPacket::bye_sources`].
        sources: &'a [u8],
        /// Optional reason for leaving.
        reason: Option<&'a [u8]>,
    },
    /// Any other packet type, skipped safely.
    Unknown {
        /// The packet type.
        packet_type: u8,
        /// The 5-bit count/subtype field.
        count: u8,
        /// The body after the 4-byte header, without padding.
        body: &'a [u8],
    },
}

impl<'a> RtcpPacket<'a> {
    /// Report blocks of an SR or RR (empty for other types).
    pub fn report_blocks(&self) -> ReportBlocks<'a> {
        let blocks: &'a [u8] = match *self {
            RtcpPacket::SenderReport { blocks, .. } | RtcpPacket::ReceiverReport { blocks, .. } => {
                blocks
            }
            _ => &[],
        };
        ReportBlocks(blocks.chunks_exact(REPORT_BLOCK_LEN))
    }

    /// SDES chunks as (SSRC, CNAME if present) pairs (empty for other types).
    pub fn sdes_chunks(&self) -> SdesChunks<'a> {
        match *self {
            RtcpPacket::SourceDescription { count, chunks } => SdesChunks {
                data: chunks,
                left: count,
            },
            _ => SdesChunks { data: &[], left: 0 },
        }
    }

    /// SSRCs leaving in a BYE (empty for other types).
    pub fn bye_sources(&self) -> impl Iterator<Item = u32> + 'a {
        let s: &'a [u8] = match *self {
            RtcpPacket::Goodbye { sources, .. } => sources,
            _ => &[],
        };
        s.chunks_exact(4).map(|c| be32(c, 0))
    }
}

/// Iterator over SDES chunks yielding `(ssrc, cname)`.
#[derive(Debug, Clone)]
pub struct SdesChunks<'a> {
    data: &'a [u8],
    left: u8,
}

impl<'a> Iterator for SdesChunks<'a> {
    type Item = (u32, Option<&'a [u8]>);
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // The chunk was validated by `sdes_chunk_len` during parsing.
        let ssrc = be32(self.data, 0);
        let len = sdes_chunk_len(self.data)?;
        let mut cname = None;
        let mut o = 4;
        while self.data[o] != 0 {
            let n = usize::from(self.data[o + 1]);
            if self.data[o] == SDES_CNAME && cname.is_none() {
                cname = Some(&self.data[o + 2..o + 2 + n]);
            }
            o += 2 + n;
        }
        self.data = &self.data[len..];
        Some((ssrc, cname))
    }
}

/// Length of the SDES chunk at the start of `d` (including END and alignment), if well formed.
fn sdes_chunk_len(d: &[u8]) -> Option<usize> {
    let mut o = 4;
    loop {
        match *d.get(o)? {
            0 => {
                let end = (o + 1).div_ceil(4) * 4;
                return (end <= d.len()).then_some(end);
            }
            _ => o += 2 + usize::from(*d.get(o + 1)?),
        }
    }
}

/// Iterator over the packets of a compound RTCP datagram; stops after the first error.
#[derive(Debug, Clone)]
pub struct Compound<'a> {
    rest: &'a [u8],
}

/// Parses a compound RTCP datagram lazily.
pub fn parse_compound(buf: &[u8]) -> Compound<'_> {
    Compound { rest: buf }
}

impl<'a> Iterator for Compound<'a> {
    type Item = Result<RtcpPacket<'a>, RtcpError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let r = parse_one(self.rest);
        match r {
            Ok((pkt, used)) => {
                self.rest = &self.rest[used..];
                Some(Ok(pkt))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// Parses the first packet of `buf`, returning it and the bytes it occupies.
fn parse_one(buf: &[u8]) -> Result<(RtcpPacket<'_>, usize), RtcpError> {
    if buf.len() < 4 {
        return Err(RtcpError::Truncated);
    }
    let version = buf[0] >> 6;
    if version != 2 {
        return Err(RtcpError::BadVersion(version));
    }
    let count = buf[0] & 0x1F;
    let pt = buf[1];
    let total = 4 * (usize::from(u16::from_be_bytes([buf[2], buf[3]])) + 1);
    if buf.len() < total {
        return Err(RtcpError::Truncated);
    }
    let mut body = &buf[4..total];
    if buf[0] & 0x20 != 0 {
        let pad = usize::from(*body.last().ok_or(RtcpError::BadPadding)?);
        if pad == 0 || pad > body.len() {
            return Err(RtcpError::BadPadding);
        }
        body = &body[..body.len() - pad];
    }
    let malformed = RtcpError::Malformed(pt);
    let blocks_len = usize::from(count) * REPORT_BLOCK_LEN;
    let pkt = match pt {
        PT_SR => {
            if body.len() < 24 + blocks_len {
                return Err(malformed);
            }
            let info = SenderInfo {
                ntp: (u64::from(be32(body, 4)) << 32) | u64::from(be32(body, 8)),
                rtp_timestamp: be32(body, 12),
                packet_count: be32(body, 16),
                octet_count: be32(body, 20),
            };
            RtcpPacket::SenderReport {
                ssrc: be32(body, 0),
                info,
                blocks: &body[24..24 + blocks_len],
            }
        }
        PT_RR => {
            if body.len() < 4 + blocks_len {
                return Err(malformed);
            }
            RtcpPacket::ReceiverReport {
                ssrc: be32(body, 0),
                blocks: &body[4..4 + blocks_len],
            }
        }
        PT_SDES => {
            let mut o = 0;
            for _ in 0..count {
                o += sdes_chunk_len(&body[o..]).ok_or(malformed)?;
            }
            RtcpPacket::SourceDescription {
                count,
                chunks: &body[..o],
            }
        }
        PT_BYE => {
            let n = 4 * usize::from(count);
            if body.len() < n {
                return Err(malformed);
            }
            let reason = match body.get(n) {
                Some(&len) => {
                    let end = n + 1 + usize::from(len);
                    Some(body.get(n + 1..end).ok_or(malformed)?)
                }
                None => None,
            };
            RtcpPacket::Goodbye {
                sources: &body[..n],
                reason,
            }
        }
        _ => RtcpPacket::Unknown {
            packet_type: pt,
            count,
            body,
        },
    };
    Ok((pkt, total))
}

/// Writes a 4-byte common header for a body of `body_len` bytes (a multiple of 4).
fn header(out: &mut [u8], count: usize, pt: u8, body_len: usize) {
    out[0] = 0x80 | count as u8;
    out[1] = pt;
    out[2..4].copy_from_slice(&((body_len / 4) as u16).to_be_bytes());
}

fn check(out: &[u8], needed: usize) -> Result<(), RtcpError> {
    if out.len() < needed {
        return Err(RtcpError::BufferTooSmall {
            needed,
            have: out.len(),
        });
    }
    Ok(())
}

/// Writes a sender report with up to 31 report blocks; returns the bytes written.
pub fn write_sr(
    ssrc: u32,
    info: &SenderInfo,
    blocks: &[ReportBlock],
    out: &mut [u8],
) -> Result<usize, RtcpError> {
    if blocks.len() > 31 {
        return Err(RtcpError::TooLarge);
    }
    let total = 28 + REPORT_BLOCK_LEN * blocks.len();
    check(out, total)?;
    header(out, blocks.len(), PT_SR, total - 4);
    out[4..8].copy_from_slice(&ssrc.to_be_bytes());
    out[8..16].copy_from_slice(&info.ntp.to_be_bytes());
    out[16..20].copy_from_slice(&info.rtp_timestamp.to_be_bytes());
    out[20..24].copy_from_slice(&info.packet_count.to_be_bytes());
    out[24..28].copy_from_slice(&info.octet_count.to_be_bytes());
    for (b, chunk) in blocks
        .iter()
        .zip(out[28..total].chunks_exact_mut(REPORT_BLOCK_LEN))
    {
        b.encode(chunk);
    }
    Ok(total)
}

/// Writes a receiver report with up to 31 report blocks; returns the bytes written.
pub fn write_rr(ssrc: u32, blocks: &[ReportBlock], out: &mut [u8]) -> Result<usize, RtcpError> {
    if blocks.len() > 31 {
        return Err(RtcpError::TooLarge);
    }
    let total = 8 + REPORT_BLOCK_LEN * blocks.len();
    check(out, total)?;
    header(out, blocks.len(), PT_RR, total - 4);
    out[4..8].copy_from_slice(&ssrc.to_be_bytes());
    for (b, chunk) in blocks
        .iter()
        .zip(out[8..total].chunks_exact_mut(REPORT_BLOCK_LEN))
    {
        b.encode(chunk);
    }
    Ok(total)
}

/// Writes an SDES packet with one chunk carrying a CNAME; returns the bytes written.
pub fn write_sdes_cname(ssrc: u32, cname: &[u8], out: &mut [u8]) -> Result<usize, RtcpError> {
    if cname.len() > 255 {
        return Err(RtcpError::TooLarge);
    }
    // SSRC, type, length, text, END, then zero padding to a word boundary.
    let total = 4 + (4 + 2 + cname.len() + 1).div_ceil(4) * 4;
    check(out, total)?;
    header(out, 1, PT_SDES, total - 4);
    out[4..8].copy_from_slice(&ssrc.to_be_bytes());
    out[8] = SDES_CNAME;
    out[9] = cname.len() as u8;
    out[10..10 + cname.len()].copy_from_slice(cname);
    out[10 + cname.len()..total].fill(0);
    Ok(total)
}

/// Writes a BYE for up to 31 sources with an optional reason; returns the bytes written.
pub fn write_bye(
    sources: &[u32],
    reason: Option<&[u8]>,
    out: &mut [u8],
) -> Result<usize, RtcpError> {
    if sources.len() > 31 || reason.is_some_and(|r| r.len() > 255) {
        return Err(RtcpError::TooLarge);
    }
    let reason_len = reason.map_or(0, |r| (1 + r.len()).div_ceil(4) * 4);
    let total = 4 + 4 * sources.len() + reason_len;
    check(out, total)?;
    header(out, sources.len(), PT_BYE, total - 4);
    for (s, chunk) in sources.iter().zip(out[4..].chunks_exact_mut(4)) {
        chunk.copy_from_slice(&s.to_be_bytes());
    }
    if let Some(r) = reason {
        let o = 4 + 4 * sources.len();
        out[o] = r.len() as u8;
        out[o + 1..o + 1 + r.len()].copy_from_slice(r);
        out[o + 1 + r.len()..total].fill(0);
    }
    Ok(total)
}
