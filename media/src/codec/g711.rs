//! ITU-T G.711 µ-law (PCMU, RTP payload type 0) and A-law (PCMA, payload type 8).
//!
//! Decoding is a 256-entry table built at compile time from the reference expansion
//! (the classic Sun Microsystems `g711.c` algorithm, which is bit-exact with the ITU-T
//! tables). Encoding is branch-light bit arithmetic: the segment number comes from
//! `leading_zeros` instead of the reference's linear segment search, and the tests check it
//! against the reference search for all 65536 16-bit inputs.
//!
//! Linear samples are 16-bit two's complement; µ-law uses the top 14 bits and A-law the top
//! 13 bits, as in the reference code.

use super::CodecError;

/// Which G.711 companding law.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Law {
    /// µ-law (PCMU), used in North America and Japan; RTP static payload type 0.
    Mu,
    /// A-law (PCMA), used in Europe and most of the world; RTP static payload type 8.
    A,
}

impl Law {
    /// The RTP static payload type (RFC 3551): 0 for PCMU, 8 for PCMA.
    pub fn payload_type(self) -> u8 {
        match self {
            Law::Mu => 0,
            Law::A => 8,
        }
    }

    /// Compresses one linear sample.
    #[inline]
    pub fn encode_sample(self, x: i16) -> u8 {
        match self {
            Law::Mu => ulaw_encode(x),
            Law::A => alaw_encode(x),
        }
    }

    /// Expands one code to a linear sample.
    #[inline]
    pub fn decode_sample(self, c: u8) -> i16 {
        match self {
            Law::Mu => ULAW_DECODE[c as usize],
            Law::A => ALAW_DECODE[c as usize],
        }
    }

    /// Encodes `pcm` into the first `pcm.len()` bytes of `out`; returns the count written.
    ///
    /// Fails with [`CodecError::OutputTooSmall`] if `out` is shorter than `pcm`.
    pub fn encode(self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
        let out = check_len(pcm.len(), out)?;
        match self {
            Law::Mu => out
                .iter_mut()
                .zip(pcm)
                .for_each(|(o, &x)| *o = ulaw_encode(x)),
            Law::A => out
                .iter_mut()
                .zip(pcm)
                .for_each(|(o, &x)| *o = alaw_encode(x)),
        }
        Ok(pcm.len())
    }

    /// Decodes `codes` into the first `codes.len()` samples of `out`; returns the count written.
    ///
    /// Fails with [`CodecError::OutputTooSmall`] if `out` is shorter than `codes`.
    pub fn decode(self, codes: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        let out = check_len(codes.len(), out)?;
        let table = match self {
            Law::Mu => &ULAW_DECODE,
            Law::A => &ALAW_DECODE,
        };
        out.iter_mut()
            .zip(codes)
            .for_each(|(o, &c)| *o = table[c as usize]);
        Ok(codes.len())
    }

    /// The code that decodes to (near) silence: 0xFF for µ-law, 0xD5 for A-law.
    pub fn silence(self) -> u8 {
        match self {
            Law::Mu => 0xFF,
            Law::A => 0xD5,
        }
    }
}

fn check_len<T>(needed: usize, out: &mut [T]) -> Result<&mut [T], CodecError> {
    let got = out.len();
    out.get_mut(..needed)
        .ok_or(CodecError::OutputTooSmall { needed, got })
}

/// µ-law bias (0x84) in the 14-bit domain the encoder works in.
const ULAW_BIAS14: i32 = 0x84 >> 2;
/// µ-law clip level in the 14-bit domain.
const ULAW_CLIP14: i32 = 8159;

/// Compresses one 16-bit linear sample to µ-law.
#[inline]
pub fn ulaw_encode(x: i16) -> u8 {
    let mut pcm = i32::from(x) >> 2;
    let mask: u8 = if pcm < 0 {
        pcm = -pcm;
        0x7F
    } else {
        0xFF
    };
    // Clipping at 8159 plus the bias lands at most on 0x2000; folding that into 0x1FFF keeps
    // the reference result (segment 7, mantissa 15) without a special case.
    let pcm = (pcm.min(ULAW_CLIP14) + ULAW_BIAS14).min(0x1FFF) as u32;
    // pcm >= 33 here, so the highest set bit is at position 5..=12; segment = position - 5.
    let seg = (31 - pcm.leading_zeros()).saturating_sub(5);
    let code = (seg << 4) as u8 | ((pcm >> (seg + 1)) & 0xF) as u8;
    code ^ mask
}

/// Compresses one 16-bit linear sample to A-law.
#[inline]
pub fn alaw_encode(x: i16) -> u8 {
    let pcm = i32::from(x) >> 3;
    let (mask, mag): (u8, u32) = if pcm >= 0 {
        (0xD5, pcm as u32)
    } else {
        (0x55, (-pcm - 1) as u32)
    };
    // mag < 4096 always (13-bit input), so no clipping is needed.
    let seg = (32 - (mag | 0xF).leading_zeros()).saturating_sub(5);
    let shift = if seg < 2 { 1 } else { seg };
    let code = (seg << 4) as u8 | ((mag >> shift) & 0xF) as u8;
    code ^ mask
}

/// Expands one µ-law code (reference algorithm; [`Law::decode_sample`] uses the table).
pub const fn ulaw_expand(c: u8) -> i16 {
    let u = !c;
    let mut t = (((u & 0x0F) as i32) << 3) + 0x84;
    t <<= ((u & 0x70) >> 4) as i32;
    (if u & 0x80 != 0 { 0x84 - t } else { t - 0x84 }) as i16
}

/// Expands one A-law code (reference algorithm; [`Law::decode_sample`] uses the table).
pub const fn alaw_expand(c: u8) -> i16 {
    let a = c ^ 0x55;
    let mut t = ((a & 0x0F) as i32) << 4;
    let seg = ((a & 0x70) >> 4) as i32;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

const fn build_table(alaw: bool) -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if alaw {
            alaw_expand(i as u8)
        } else {
            ulaw_expand(i as u8)
        };
        i += 1;
    }
    t
}

/// µ-law code → linear sample.
pub static ULAW_DECODE: [i16; 256] = build_table(false);
/// A-law code → linear sample.
pub static ALAW_DECODE: [i16; 256] = build_table(true);

#[cfg(test)]
mod tests {
    use super::*;

    /// Sun `g711.c` `linear2ulaw`, with its linear segment search.
    fn ref_ulaw(x: i16) -> u8 {
        const SEG_UEND: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
        let mut pcm = i32::from(x) >> 2;
        let mask = if pcm < 0 {
            pcm = -pcm;
            0x7F
        } else {
            0xFF
        };
        pcm = pcm.min(ULAW_CLIP14) + ULAW_BIAS14;
        let seg = SEG_UEND.iter().position(|&e| pcm <= e).unwrap_or(8) as i32;
        if seg >= 8 {
            return 0x7F ^ mask;
        }
        (((seg << 4) | ((pcm >> (seg + 1)) & 0xF)) as u8) ^ mask
    }

    /// Sun `g711.c` `linear2alaw`.
    fn ref_alaw(x: i16) -> u8 {
        const SEG_AEND: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
        let mut pcm = i32::from(x) >> 3;
        let mask = if pcm >= 0 {
            0xD5
        } else {
            pcm = -pcm - 1;
            0x55
        };
        let seg = SEG_AEND.iter().position(|&e| pcm <= e).unwrap_or(8) as i32;
        if seg >= 8 {
            return 0x7F ^ mask;
        }
        let mut a = seg << 4;
        a |= if seg < 2 {
            (pcm >> 1) & 0xF
        } else {
            (pcm >> seg) & 0xF
        };
        (a as u8) ^ mask
    }

    #[test]
    fn fast_encoders_match_reference_for_all_inputs() {
        for x in i16::MIN..=i16::MAX {
            assert_eq!(ulaw_encode(x), ref_ulaw(x), "ulaw {x}");
            assert_eq!(alaw_encode(x), ref_alaw(x), "alaw {x}");
        }
    }
}
