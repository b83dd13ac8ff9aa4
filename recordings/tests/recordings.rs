//! Writer, crash recovery, repair and external-tool checks for recordings.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use ringside_recordings::{inspect, read_stereo, repair, RecordingError, RecordingWriter};

const RATE: u32 = 8000;
/// 20 ms blocks at 8 kHz.
const BLOCK: usize = 160;

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A fresh path in a per-test temp directory (removed by [`Tmp`]'s drop).
struct Tmp(PathBuf);

impl Tmp {
    fn new(name: &str) -> Tmp {
        let dir = std::env::temp_dir().join(format!(
            "ringside-rec-{name}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        Tmp(dir)
    }
    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Sample `i` of the left channel: a 440 Hz tone.
fn left(i: usize) -> i16 {
    ((i as f64 * 440.0 * std::f64::consts::TAU / RATE as f64).sin() * 9000.0) as i16
}

/// Sample `i` of the right channel: a 1000 Hz tone, different amplitude.
fn right(i: usize) -> i16 {
    ((i as f64 * 1000.0 * std::f64::consts::TAU / RATE as f64).sin() * 5000.0) as i16
}

/// Writes frames `from..to` in blocks of at most [`BLOCK`].
fn write_range(w: &mut RecordingWriter, from: usize, to: usize) {
    let mut l = Vec::with_capacity(BLOCK);
    let mut r = Vec::with_capacity(BLOCK);
    let mut i = from;
    while i < to {
        let n = BLOCK.min(to - i);
        l.clear();
        r.clear();
        l.extend((i..i + n).map(left));
        r.extend((i..i + n).map(right));
        w.write_frame(&l, &r).unwrap();
        i += n;
    }
}

/// Interleaved little-endian PCM bytes of frames `from..to`.
fn pcm_bytes(from: usize, to: usize) -> Vec<u8> {
    (from..to)
        .flat_map(|i| {
            let mut b = [0u8; 4];
            b[..2].copy_from_slice(&left(i).to_le_bytes());
            b[2..].copy_from_slice(&right(i).to_le_bytes());
            b
        })
        .collect()
}

fn assert_samples(path: &Path, frames: usize) {
    let (l, r) = read_stereo(path).unwrap();
    assert_eq!(l.len(), frames);
    assert_eq!(r.len(), frames);
    for i in 0..frames {
        assert_eq!(l[i], left(i), "left sample {i}");
        assert_eq!(r[i], right(i), "right sample {i}");
    }
}

/// Duration in seconds as reported by `sox --i -D`, or None if sox is absent.
fn sox_duration(path: &Path) -> Option<f64> {
    let out = match Command::new("sox").arg("--i").arg("-D").arg(path).output() {
        Ok(o) => o,
        Err(_) => {
            eprintln!("note: sox not installed, sox check skipped");
            return None;
        }
    };
    assert!(
        out.status.success(),
        "sox rejected {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).trim().parse().unwrap())
}

/// Duration in seconds as reported by ffprobe, or None if ffprobe is absent.
fn ffprobe_duration(path: &Path) -> Option<f64> {
    let out = match Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "default=noprint_wrappers=1:nokey=1",
        ])
        .arg(path)
        .output()
    {
        Ok(o) => o,
        Err(_) => {
            eprintln!("note: ffprobe not installed, ffprobe check skipped");
            return None;
        }
    };
    assert!(
        out.status.success(),
        "ffprobe rejected {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).trim().parse().unwrap())
}

/// sox and ffprobe (when installed) accept the file and agree with `expected_s` within 1 s.
fn assert_tools_accept(path: &Path, expected_s: f64) {
    for (tool, d) in [
        ("sox", sox_duration(path)),
        ("ffprobe", ffprobe_duration(path)),
    ] {
        if let Some(d) = d {
            assert!(
                (d - expected_s).abs() <= 1.0,
                "{tool} says {d} s, expected {expected_s} s"
            );
        }
    }
}

#[test]
fn writes_and_reads_back_exact_samples() {
    let tmp = Tmp::new("roundtrip");
    let path = tmp.path("a/b/rec.wav");
    let mut w = RecordingWriter::create(&path, RATE).unwrap();
    assert_eq!(w.sample_rate(), RATE);
    let frames = 3 * RATE as usize + 37;
    write_range(&mut w, 0, frames);
    assert_eq!(w.frames(), frames as u64);
    // Empty blocks are fine; mismatched ones are refused and write nothing.
    w.write_frame(&[], &[]).unwrap();
    assert!(matches!(
        w.write_frame(&[1, 2], &[1]),
        Err(RecordingError::ChannelMismatch { left: 2, right: 1 })
    ));
    let s = w.finish().unwrap();
    assert_eq!(s.frames, frames as u64);
    assert_eq!(s.duration_ms, 3004);
    assert_eq!(s.bytes, 44 + 4 * frames as u64);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), s.bytes);

    let info = inspect(&path).unwrap();
    assert_eq!(
        (info.channels, info.sample_rate, info.bits, info.frames),
        (2, RATE, 16, frames as u64)
    );
    assert_eq!(info.duration_ms, 3004);
    assert_samples(&path, frames);

    // A clean file is left byte-for-byte unchanged.
    let before = std::fs::read(&path).unwrap();
    let out = repair(&path).unwrap();
    assert!(!out.repaired);
    assert_eq!(out.frames, frames as u64);
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_tools_accept(&path, frames as f64 / RATE as f64);
}

#[test]
fn zero_sample_rate_is_refused() {
    let tmp = Tmp::new("rate");
    assert!(matches!(
        RecordingWriter::create(tmp.path("x.wav"), 0),
        Err(RecordingError::InvalidSampleRate(0))
    ));
}

#[test]
fn crash_mid_write_is_readable_and_repairable() {
    let tmp = Tmp::new("crash");
    let path = tmp.path("live.wav");
    let mut w =
        RecordingWriter::create_with_flush_interval(&path, RATE, Duration::from_millis(500))
            .unwrap();
    // 2.3 s: the header was last updated at 2.0 s; the rest is still buffered.
    let written = 2 * RATE as usize + 3 * RATE as usize / 10;
    write_range(&mut w, 0, written);
    // What a kill -9 now would leave on disk.
    let crashed = tmp.path("crashed.wav");
    std::fs::copy(&path, &crashed).unwrap();
    let flushed = 2 * RATE as usize;

    // As left: valid, holding the audio up to the last header update.
    let info = inspect(&crashed).unwrap();
    assert_eq!(info.frames, flushed as u64);
    assert_samples(&crashed, flushed);
    assert_tools_accept(&crashed, written as f64 / RATE as f64);

    // Data that reached the disk after the header update, plus half a frame: repair
    // counts the whole frames and cuts the rest.
    let mut bytes = std::fs::read(&crashed).unwrap();
    bytes.extend(pcm_bytes(flushed, written));
    bytes.extend([0x11, 0x22, 0x33]);
    std::fs::write(&crashed, &bytes).unwrap();
    let out = repair(&crashed).unwrap();
    assert!(out.repaired);
    assert_eq!(out.truncated_bytes, 3);
    assert_eq!(out.frames, written as u64);
    assert_eq!(out.duration_ms, 2300);
    assert_eq!(out.bytes, 44 + 4 * written as u64);
    assert_eq!((out.sample_rate, out.channels), (RATE, 2));
    assert_eq!(inspect(&crashed).unwrap().frames, written as u64);
    assert_samples(&crashed, written);
    assert_tools_accept(&crashed, written as f64 / RATE as f64);

    // Idempotent.
    let again = repair(&crashed).unwrap();
    assert!(!again.repaired);
    assert_eq!(again.frames, written as u64);

    // The live writer is unaffected and finishes normally.
    write_range(&mut w, written, written + 100);
    assert_eq!(w.finish().unwrap().frames, written as u64 + 100);
    assert_samples(&path, written + 100);
}

#[test]
fn repair_fixes_zeroed_and_oversized_headers() {
    let tmp = Tmp::new("headers");
    let path = tmp.path("rec.wav");
    let frames = RATE as usize + 123;
    let mut w = RecordingWriter::create(&path, RATE).unwrap();
    write_range(&mut w, 0, frames);
    w.finish().unwrap();
    let good = std::fs::read(&path).unwrap();

    // Sizes as written at creation (before any header update): zero.
    let mut zeroed = good.clone();
    zeroed[4..8].copy_from_slice(&36u32.to_le_bytes());
    zeroed[40..44].copy_from_slice(&0u32.to_le_bytes());
    std::fs::write(&path, &zeroed).unwrap();
    assert_eq!(inspect(&path).unwrap().frames, 0);
    let out = repair(&path).unwrap();
    assert!(out.repaired);
    assert_eq!(out.frames, frames as u64);
    assert_eq!(std::fs::read(&path).unwrap(), good);

    // Streaming-style "unknown" sizes, larger than the file: inspect refuses, repair fixes.
    let mut huge = good.clone();
    huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    huge[40..44].copy_from_slice(&(u32::MAX - 36).to_le_bytes());
    huge.push(7);
    std::fs::write(&path, &huge).unwrap();
    assert!(matches!(
        inspect(&path),
        Err(RecordingError::Invalid { .. })
    ));
    let out = repair(&path).unwrap();
    assert_eq!((out.frames, out.truncated_bytes), (frames as u64, 1));
    assert_eq!(std::fs::read(&path).unwrap(), good);
    assert_tools_accept(&path, frames as f64 / RATE as f64);

    // Header-only file left by a crash right after creation.
    let empty = tmp.path("empty.wav");
    let w = RecordingWriter::create(&empty, RATE).unwrap();
    std::fs::copy(&empty, tmp.path("copy.wav")).unwrap();
    drop(w);
    let out = repair(tmp.path("copy.wav")).unwrap();
    assert_eq!((out.repaired, out.frames, out.bytes), (false, 0, 44));
    assert_eq!(inspect(tmp.path("copy.wav")).unwrap().frames, 0);

    // Not a WAV file at all.
    std::fs::write(&path, b"hello, world").unwrap();
    assert!(matches!(repair(&path), Err(RecordingError::Invalid { .. })));
    assert!(matches!(
        repair(tmp.path("missing.wav")),
        Err(RecordingError::Io { .. })
    ));
}

const CHILD_ENV: &str = "RINGSIDE_RECORDINGS_CRASH_CHILD";

/// Child side of [`killed_writer_leaves_a_readable_file`]: writes 3.3 s, announces it, waits
/// to be killed. Does nothing when run on its own.
#[test]
#[ignore = "run by killed_writer_leaves_a_readable_file as a child process"]
fn crash_child_writer() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let path = PathBuf::from(path);
    let mut w = RecordingWriter::create(&path, RATE).unwrap();
    write_range(&mut w, 0, 33 * RATE as usize / 10);
    std::fs::write(path.with_extension("ready"), b"1").unwrap();
    // Wait for SIGKILL; give up eventually so an orphan never lingers.
    std::thread::sleep(Duration::from_secs(120));
    std::process::exit(3);
}

#[test]
fn killed_writer_leaves_a_readable_file() {
    let tmp = Tmp::new("kill");
    let path = tmp.path("killed.wav");
    std::fs::create_dir_all(&tmp.0).unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["crash_child_writer", "--exact", "--ignored", "--nocapture"])
        .env(CHILD_ENV, &path)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ready = path.with_extension("ready");
    let mut waited = 0;
    while !ready.exists() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("child exited early: {status}");
        }
        assert!(waited < 6000, "child never got ready");
        std::thread::sleep(Duration::from_millis(10));
        waited += 1;
    }
    child.kill().unwrap(); // SIGKILL: no destructor, no finalize.
    child.wait().unwrap();

    let written = 33 * RATE as usize / 10;
    // Readable as left, with the audio up to the last header update (every 0.5 s).
    let info = inspect(&path).unwrap();
    assert!(
        info.frames as usize + RATE as usize >= written && info.frames as usize <= written,
        "{info:?}"
    );
    assert_tools_accept(&path, written as f64 / RATE as f64);
    let out = repair(&path).unwrap();
    assert!(out.frames as usize + RATE as usize >= written && out.frames as usize <= written);
    assert_samples(&path, out.frames as usize);
    assert_tools_accept(&path, written as f64 / RATE as f64);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Repair never panics on arbitrary bytes; when it succeeds, a second pass is a no-op.
    #[test]
    fn repair_never_panics(
        prefix in prop::sample::select(vec![0usize, 1, 2]),
        body in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let tmp = Tmp::new("prop");
        std::fs::create_dir_all(&tmp.0).unwrap();
        let path = tmp.path("x.wav");
        let mut bytes = match prefix {
            // A plausible header, so the fuzzing reaches the chunk walk and the size fixing.
            1 => {
                let mut h = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x01\0\x02\0\x40\x1f\0\0\0\x7d\0\0\x04\0\x10\0data".to_vec();
                h.extend_from_slice(&[0xff, 0xff, 0xff, 0x7f]);
                h
            }
            2 => b"RIFF\xff\xff\xff\xffWAVE".to_vec(),
            _ => Vec::new(),
        };
        bytes.extend(body);
        std::fs::write(&path, &bytes).unwrap();
        if let Ok(first) = repair(&path) {
            let second = repair(&path).unwrap();
            prop_assert!(!second.repaired);
            prop_assert_eq!(second.frames, first.frames);
            let _ = inspect(&path);
        }
    }
}
