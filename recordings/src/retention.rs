//! Retention: which recordings have outlived their retention period. Pure functions of
//! unix-millisecond timestamps; the caller deletes what they select.

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// The cutoff for a retention of `retention_days` at `now_ms`: recordings that ended strictly
/// before it are expired. `None` when `retention_days` is 0, meaning "keep forever".
pub fn cutoff_ms(retention_days: u32, now_ms: i64) -> Option<i64> {
    if retention_days == 0 {
        return None;
    }
    Some(now_ms.saturating_sub(i64::from(retention_days).saturating_mul(DAY_MS)))
}

/// Whether a recording that ended at `ended_at_ms` (unix ms; `None` while still recording) is
/// expired under a retention of `retention_days` (0: keep forever) at `now_ms`. A recording
/// still in progress never expires; one that ended exactly `retention_days` days ago is kept.
pub fn is_expired(ended_at_ms: Option<i64>, retention_days: u32, now_ms: i64) -> bool {
    match (ended_at_ms, cutoff_ms(retention_days, now_ms)) {
        (Some(ended), Some(cutoff)) => ended < cutoff,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_rules() {
        let now = 1_800_000_000_000;
        assert!(!is_expired(None, 30, now));
        assert!(!is_expired(Some(0), 0, now));
        assert!(is_expired(Some(now - 31 * DAY_MS), 30, now));
        assert!(!is_expired(Some(now - 30 * DAY_MS), 30, now));
        assert!(is_expired(Some(now - 30 * DAY_MS - 1), 30, now));
        assert!(!is_expired(Some(now), 1, now));
        assert_eq!(cutoff_ms(1, now), Some(now - DAY_MS));
        assert_eq!(cutoff_ms(0, now), None);
        assert_eq!(cutoff_ms(u32::MAX, i64::MIN + 5), Some(i64::MIN));
    }
}
