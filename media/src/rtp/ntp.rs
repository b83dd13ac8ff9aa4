//! NTP timestamp helpers (RFC 3550 section 4).
//!
//! RTCP carries wallclock time as a 64-bit NTP timestamp: seconds since 1900-01-01 in the high
//! 32 bits and a binary fraction of a second in the low 32 bits. Report blocks echo the middle
//! 32 bits ("compact" NTP, 16.16 fixed point) for round-trip computation.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds between the NTP epoch (1900-01-01) and the Unix epoch (1970-01-01).
pub const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// Converts a duration since the Unix epoch into a 64-bit NTP timestamp.
///
/// The seconds field wraps modulo 2^32 (NTP era rollover in 2036), as on the wire.
pub fn ntp_from_unix(since_unix: Duration) -> u64 {
    let secs = since_unix.as_secs().wrapping_add(NTP_UNIX_OFFSET) & 0xFFFF_FFFF;
    let frac = (u64::from(since_unix.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// Converts a [`SystemTime`] (supplied by the caller) into a 64-bit NTP timestamp.
///
/// Times before the Unix epoch map to the epoch itself.
pub fn ntp_from_system_time(t: SystemTime) -> u64 {
    ntp_from_unix(t.duration_since(UNIX_EPOCH).unwrap_or_default())
}

/// Converts a 64-bit NTP timestamp back into a duration since the Unix epoch, assuming NTP era 0
/// (returns `None` for timestamps before 1970).
pub fn ntp_to_unix(ntp: u64) -> Option<Duration> {
    let secs = (ntp >> 32).checked_sub(NTP_UNIX_OFFSET)?;
    let nanos = ((ntp & 0xFFFF_FFFF) * 1_000_000_000) >> 32;
    Some(Duration::new(secs, nanos as u32))
}

/// The middle 32 bits of a 64-bit NTP timestamp (16.16 fixed-point seconds), as used in the
/// LSR field of report blocks.
pub fn ntp_middle32(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// Converts a compact (16.16) NTP interval into a [`Duration`].
pub fn compact_to_duration(compact: u32) -> Duration {
    let nanos = (u64::from(compact) * 1_000_000_000) >> 16;
    Duration::from_nanos(nanos)
}

/// Converts a [`Duration`] into a compact (16.16) NTP interval, saturating at the maximum.
pub fn duration_to_compact(d: Duration) -> u32 {
    let v = (d.as_nanos() << 16) / 1_000_000_000;
    u32::try_from(v).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_epoch_maps_to_offset() {
        assert_eq!(ntp_from_unix(Duration::ZERO), NTP_UNIX_OFFSET << 32);
    }

    #[test]
    fn half_second_fraction() {
        let ntp = ntp_from_unix(Duration::from_millis(1_500));
        assert_eq!(ntp >> 32, NTP_UNIX_OFFSET + 1);
        assert_eq!(ntp & 0xFFFF_FFFF, 0x8000_0000);
        assert_eq!(
            ntp_middle32(ntp),
            (((NTP_UNIX_OFFSET + 1) as u32) << 16) | 0x8000
        );
    }

    #[test]
    fn round_trip_within_a_nanosecond() {
        let d = Duration::new(1_700_000_000, 123_456_789);
        let back = ntp_to_unix(ntp_from_unix(d)).unwrap();
        let diff = d.abs_diff(back);
        assert!(diff <= Duration::from_nanos(1), "{diff:?}");
        assert_eq!(ntp_to_unix(0), None);
    }

    #[test]
    fn system_time_matches_unix() {
        let t = UNIX_EPOCH + Duration::from_secs(42);
        assert_eq!(
            ntp_from_system_time(t),
            ntp_from_unix(Duration::from_secs(42))
        );
    }

    #[test]
    fn compact_conversions() {
        assert_eq!(duration_to_compact(Duration::from_secs(1)), 0x1_0000);
        assert_eq!(compact_to_duration(0x8000), Duration::from_millis(500));
        assert_eq!(duration_to_compact(Duration::from_secs(1 << 20)), u32::MAX);
    }
}
