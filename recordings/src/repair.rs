//! Repair of WAV files left by a crash, validation and reading.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::{frames_to_ms, RecordingError, Result};

/// Format and length of a valid WAV file, as reported by [`inspect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavInfo {
    /// Number of channels (2 for recordings).
    pub channels: u16,
    /// Sample rate, in Hz.
    pub sample_rate: u32,
    /// Bits per sample.
    pub bits: u16,
    /// Sample frames in the data chunk.
    pub frames: u64,
    /// Duration of the audio, in milliseconds (rounded down).
    pub duration_ms: u64,
}

/// What [`repair`] found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepairOutcome {
    /// Whether the file was changed (false: its header already matched the data on disk).
    pub repaired: bool,
    /// Bytes cut from the end (a trailing partial sample frame).
    pub truncated_bytes: u64,
    /// Sample frames in the file now.
    pub frames: u64,
    /// Duration of the audio now, in milliseconds (rounded down).
    pub duration_ms: u64,
    /// Size of the file now, in bytes.
    pub bytes: u64,
    /// Sample rate, in Hz.
    pub sample_rate: u32,
    /// Number of channels.
    pub channels: u16,
}

/// The layout of a RIFF/WAVE file, as far as repair needs it.
#[derive(Debug, Clone, Copy)]
struct Layout {
    file_len: u64,
    riff_size: u32,
    channels: u16,
    sample_rate: u32,
    block_align: u16,
    /// Offset of the first data byte (the data chunk's size field is 4 bytes before).
    data_start: u64,
    /// Data size declared in the data chunk header.
    data_declared: u32,
}

fn read_exact_or<R: Read>(r: &mut R, buf: &mut [u8], path: &Path) -> Result<()> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => RecordingError::Invalid {
            path: path.to_owned(),
            reason: "file ends inside the header",
        },
        _ => RecordingError::io(path, e),
    })
}

fn le16(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Walks the chunks up to the data chunk, reading the fmt chunk on the way.
fn layout(file: &mut File, path: &Path) -> Result<Layout> {
    let invalid = |reason| RecordingError::Invalid {
        path: path.to_owned(),
        reason,
    };
    let file_len = file
        .metadata()
        .map_err(|e| RecordingError::io(path, e))?
        .len();
    file.seek(SeekFrom::Start(0))
        .map_err(|e| RecordingError::io(path, e))?;
    let mut head = [0u8; 12];
    read_exact_or(file, &mut head, path)?;
    if &head[0..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return Err(invalid("not a RIFF/WAVE file"));
    }
    let riff_size = le32(&head[4..8]);
    let mut pos: u64 = 12;
    let mut fmt: Option<(u16, u32, u16)> = None;
    loop {
        if pos + 8 > file_len {
            return Err(invalid("no data chunk"));
        }
        file.seek(SeekFrom::Start(pos))
            .map_err(|e| RecordingError::io(path, e))?;
        let mut ch = [0u8; 8];
        read_exact_or(file, &mut ch, path)?;
        let size = le32(&ch[4..8]);
        let body = pos + 8;
        match &ch[0..4] {
            b"fmt " => {
                if size < 16 || body + 16 > file_len {
                    return Err(invalid("fmt chunk too short"));
                }
                let mut f = [0u8; 16];
                read_exact_or(file, &mut f, path)?;
                let channels = le16(&f[2..4]);
                let sample_rate = le32(&f[4..8]);
                let block_align = le16(&f[12..14]);
                let bits = le16(&f[14..16]);
                let computed = u32::from(channels) * u32::from(bits).div_ceil(8);
                let block_align = if block_align != 0 {
                    block_align
                } else {
                    u16::try_from(computed).unwrap_or(0)
                };
                if channels == 0 || sample_rate == 0 || block_align == 0 {
                    return Err(invalid("fmt chunk has zero channels, rate or block size"));
                }
                fmt = Some((channels, sample_rate, block_align));
            }
            b"data" => {
                let (channels, sample_rate, block_align) =
                    fmt.ok_or_else(|| invalid("data chunk before fmt chunk"))?;
                return Ok(Layout {
                    file_len,
                    riff_size,
                    channels,
                    sample_rate,
                    block_align,
                    data_start: body,
                    data_declared: size,
                });
            }
            _ => {}
        }
        // Chunks are padded to an even size.
        pos = body + u64::from(size) + u64::from(size & 1);
    }
}

/// Makes the RIFF and data chunk sizes of a WAV file left by a crash match the bytes actually
/// on disk, cutting a trailing partial sample frame. The data chunk is taken to run to the end
/// of the file (a recording's data chunk is always last).
///
/// A file whose header already matches (RIFF size equal to the file size, data chunk within
/// the file) is left untouched and reported with `repaired: false`; repairing twice changes
/// nothing the second time. Fails with [`RecordingError::Invalid`] for files that are not
/// RIFF/WAVE or have no fmt or data chunk header; never panics on arbitrary input.
pub fn repair(path: impl AsRef<Path>) -> Result<RepairOutcome> {
    let path = path.as_ref();
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| RecordingError::io(path, e))?;
    let l = layout(&mut file, path)?;
    let align = u64::from(l.block_align);
    let avail = l.file_len - l.data_start;
    let declared = u64::from(l.data_declared);
    let clean = u64::from(l.riff_size) + 8 == l.file_len && declared <= avail;
    if clean {
        let frames = declared / align;
        return Ok(RepairOutcome {
            repaired: false,
            truncated_bytes: 0,
            frames,
            duration_ms: frames_to_ms(frames, l.sample_rate),
            bytes: l.file_len,
            sample_rate: l.sample_rate,
            channels: l.channels,
        });
    }
    // Largest whole number of frames that is on disk and fits the 32-bit sizes.
    let max_data = u64::from(u32::MAX).saturating_sub(l.data_start - 8);
    let data = avail.min(max_data) / align * align;
    let new_len = l.data_start + data;
    let riff = u32::try_from(new_len - 8).map_err(|_| RecordingError::Invalid {
        path: path.to_owned(),
        reason: "file too large for RIFF",
    })?;
    let data32 = u32::try_from(data).unwrap_or(u32::MAX);
    let io = |e| RecordingError::io(path, e);
    if new_len < l.file_len {
        file.set_len(new_len).map_err(io)?;
    }
    file.seek(SeekFrom::Start(4)).map_err(io)?;
    file.write_all(&riff.to_le_bytes()).map_err(io)?;
    file.seek(SeekFrom::Start(l.data_start - 4)).map_err(io)?;
    file.write_all(&data32.to_le_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    let frames = data / align;
    let outcome = RepairOutcome {
        repaired: true,
        truncated_bytes: l.file_len - new_len,
        frames,
        duration_ms: frames_to_ms(frames, l.sample_rate),
        bytes: new_len,
        sample_rate: l.sample_rate,
        channels: l.channels,
    };
    tracing::info!(path = %path.display(), ?outcome, "repaired WAV header");
    Ok(outcome)
}

/// Validates a WAV file with hound and reports its format and length. Fails when the data
/// chunk claims more bytes than the file holds (run [`repair`] first).
pub fn inspect(path: impl AsRef<Path>) -> Result<WavInfo> {
    let path = path.as_ref();
    let mut file = File::open(path).map_err(|e| RecordingError::io(path, e))?;
    let l = layout(&mut file, path)?;
    if u64::from(l.data_declared) > l.file_len - l.data_start {
        return Err(RecordingError::Invalid {
            path: path.to_owned(),
            reason: "data chunk extends past the end of the file",
        });
    }
    let reader = hound::WavReader::open(path).map_err(|e| RecordingError::wav(path, e))?;
    let spec = reader.spec();
    let frames = u64::from(reader.duration());
    Ok(WavInfo {
        channels: spec.channels,
        sample_rate: spec.sample_rate,
        bits: spec.bits_per_sample,
        frames,
        duration_ms: frames_to_ms(frames, spec.sample_rate),
    })
}

/// Reads a 16-bit stereo WAV file into its (left, right) channels. Meant for tests and
/// tools: it holds the whole recording in memory.
pub fn read_stereo(path: impl AsRef<Path>) -> Result<(Vec<i16>, Vec<i16>)> {
    let path = path.as_ref();
    let mut reader = hound::WavReader::open(path).map_err(|e| RecordingError::wav(path, e))?;
    let spec = reader.spec();
    if spec.channels != 2
        || spec.bits_per_sample != 16
        || spec.sample_format != hound::SampleFormat::Int
    {
        return Err(RecordingError::Invalid {
            path: path.to_owned(),
            reason: "not 16-bit integer stereo",
        });
    }
    let frames = reader.duration() as usize;
    let (mut left, mut right) = (Vec::with_capacity(frames), Vec::with_capacity(frames));
    for (i, s) in reader.samples::<i16>().enumerate() {
        let s = s.map_err(|e| RecordingError::wav(path, e))?;
        if i % 2 == 0 {
            left.push(s);
        } else {
            right.push(s);
        }
    }
    Ok((left, right))
}
