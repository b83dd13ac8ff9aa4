//! The one clock of the call core: the driver reads it once per event and hands the same
//! reading to everything that event touches (transaction and call timers run on the monotonic
//! instant; call records, registrations and published events are stamped with the wall-clock
//! milliseconds of the same reading).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// One reading of the clock.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    /// Monotonic time, for timers.
    pub at: Instant,
    /// Wall-clock milliseconds since the Unix epoch, for records.
    pub unix_ms: i64,
}

/// Where time comes from.
pub trait Clock: std::fmt::Debug + Send + Sync + 'static {
    /// Read the clock.
    fn now(&self) -> Now;
}

/// The system's clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Now {
        Now {
            at: Instant::now(),
            unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
        }
    }
}
