//! Giving freed heap back to the system.
//!
//! glibc's allocator keeps what a burst freed (a flood of transactions, a wave of calls) in
//! its arenas: measured after a burst of 10,000 mutated datagrams and 60 calls, the process
//! stayed 13 % above its resident size before the burst with nothing left alive, and
//! `malloc_trim` brought it back below it. [`spawn_trimmer`] calls `malloc_trim(0)` every
//! [`TRIM_INTERVAL`] on a blocking thread (it holds each arena's lock while it walks that
//! arena), so memory follows the load back down.

use std::time::Duration;

/// How often freed heap is returned.
pub const TRIM_INTERVAL: Duration = Duration::from_secs(10);

/// Starts the periodic trim (glibc Linux only; elsewhere nothing to do).
pub fn spawn_trimmer() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    tokio::spawn(async {
        let mut tick = tokio::time::interval(TRIM_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let _ = tokio::task::spawn_blocking(trim).await;
        }
    });
}

/// Returns free heap at the top of each arena and whole free pages inside them.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn trim() {
    // SAFETY: malloc_trim takes no pointers and only touches the allocator's own state,
    // under its own locks.
    unsafe {
        libc::malloc_trim(0);
    }
}
